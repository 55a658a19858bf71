/* tests/comm/test_comm_async.c - the comm layer's faster paths under real
 * mpirun (1, 2 and 3 ranks by scripts/run-tests): non-blocking allreduce
 * with several requests in flight, completed by polling and by waiting in
 * any order; sums in place on node-shared arenas and staged through shared
 * memory for private buffers. All must give the sums of the plain call. */
#include <stdio.h>
#include <stdlib.h>

#include "comm/comm.h"
#include "tests/cu.h"

static comm_ctx *C;

/* Buffer k of rank r: values (r+1) * (i % 5 + k); the sum over p ranks is
 * p(p+1)/2 * (i % 5 + k), exact in float for these magnitudes. */
static void fill(float *b, size_t n, size_t k)
{
    int r = comm_rank(C);
    for (size_t i = 0; i < n; i++) b[i] = (float)((r + 1) * (int)(i % 5 + k));
}

static size_t mismatches(const float *b, size_t n, size_t k)
{
    int p = comm_size(C);
    float s = (float)(p * (p + 1) / 2);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (b[i] != s * (float)(i % 5 + k)) bad++;
    return bad;
}

static void test_many_in_flight(void)
{
    enum { NB = 5 };
    const size_t n[NB] = {1, 1000, 65537, 7, 300001};
    float *b[NB];
    int req[NB];
    for (size_t k = 0; k < NB; k++) {
        b[k] = malloc(n[k] * sizeof(float));
        CU_ASSERT_FATAL(b[k] != NULL);
        fill(b[k], n[k], k);
        CU_ASSERT_EQUAL(comm_iallreduce_sum(C, b[k], n[k], &req[k]), 0);
        if (comm_size(C) == 1) CU_ASSERT_EQUAL(req[k], -1);
    }
    /* Poll the first two to completion, then wait for the rest from the
     * last one back: completion order is free. */
    for (size_t k = 0; k < 2; k++) {
        int done = 0;
        for (long spins = 0; !done && spins < 100000000L; spins++)
            CU_ASSERT_EQUAL_FATAL(comm_test(C, req[k], &done), 0);
        CU_ASSERT_EQUAL(done, 1);
    }
    for (size_t k = NB; k-- > 2;) CU_ASSERT_EQUAL(comm_wait(C, req[k]), 0);
    for (size_t k = 0; k < NB; k++) {
        CU_ASSERT_EQUAL(mismatches(b[k], n[k], k), 0);
        free(b[k]);
    }
}

static void test_slots_are_reused(void)
{
    /* More requests over time than there are slots, never more at once. */
    float v[3];
    for (int round = 0; round < 3 * COMM_MAX_REQUESTS; round++) {
        int req;
        fill(v, 3, (size_t)round);
        CU_ASSERT_EQUAL_FATAL(comm_iallreduce_sum(C, v, 3, &req), 0);
        CU_ASSERT_EQUAL_FATAL(comm_wait(C, req), 0);
        CU_ASSERT_EQUAL(mismatches(v, 3, (size_t)round), 0);
    }
}

static void test_done_request(void)
{
    int done = 0;
    CU_ASSERT_EQUAL(comm_test(C, -1, &done), 0);
    CU_ASSERT_EQUAL(done, 1);
    CU_ASSERT_EQUAL(comm_wait(C, -1), 0);
    CU_ASSERT_NOT_EQUAL(comm_wait(C, COMM_MAX_REQUESTS), 0);
}

/* comm_allreduce_sum on ranges of a shared arena (in place, no copies)
 * and on private buffers of various sizes (staged or MPI): the same sums,
 * and on the shared arena every rank's copy holds them. */
static void test_shared_arena(void)
{
    const size_t n = 100003;
    float *a = comm_alloc_shared(C, n);
    if (comm_size(C) == 1) {
        CU_ASSERT_PTR_NULL(a);
        return;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT(comm_is_shared(C, a, n));
    CU_ASSERT(comm_is_shared(C, a + 10, n - 10));
    CU_ASSERT(!comm_is_shared(C, a + 10, n));
    fill(a, n, 3);
    /* two ranges at odd offsets and lengths, then the rest */
    CU_ASSERT_EQUAL(comm_allreduce_sum(C, a + 5, 7), 0);
    CU_ASSERT_EQUAL(comm_allreduce_sum(C, a + 12, 50001), 0);
    CU_ASSERT_EQUAL(comm_allreduce_sum(C, a + 50013, n - 50013), 0);
    int p = comm_size(C), r = comm_rank(C);
    float s = (float)(p * (p + 1) / 2);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = (i >= 5 ? s : (float)(r + 1)) * (float)(i % 5 + 3);
        if (a[i] != want) bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_private_sizes(void)
{
    const size_t n[] = {4095, 4096, 12345, 4097, 200000};
    for (size_t k = 0; k < sizeof n / sizeof n[0]; k++) {
        float *b = malloc(n[k] * sizeof *b);
        CU_ASSERT_FATAL(b != NULL);
        fill(b, n[k], k);
        CU_ASSERT_EQUAL(comm_allreduce_sum(C, b, n[k]), 0);
        CU_ASSERT_EQUAL(mismatches(b, n[k], k), 0);
        free(b);
    }
}

static const cu_test tests[] = {
    {"shared_arena", test_shared_arena},
    {"private_sizes", test_private_sizes},
    {"many_in_flight", test_many_in_flight},
    {"slots_are_reused", test_slots_are_reused},
    {"done_request", test_done_request},
    {NULL, NULL}};
static const cu_suite suites[] = {{"comm_async", tests}, {NULL, NULL}};

int main(int argc, char **argv)
{
    C = comm_init(&argc, &argv);
    if (!C) return 1;
    if (comm_rank(C) != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    int rc = cu_main("comm_async", suites);
    rc = comm_agree(C, rc, NULL);
    comm_finalize(C);
    return rc;
}

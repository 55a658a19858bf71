/* tests/comm/test_comm.c - the comm layer under real mpirun (run with 1,
 * 2 and 3 ranks by scripts/run-tests). Every rank runs every test; only
 * rank 0's report is printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm.h"
#include "tests/cu.h"

static comm_ctx *C;

static void test_allreduce_sum(void)
{
    /* An odd count that is not a multiple of anything convenient. */
    const size_t n = 1000003;
    float *b = malloc(n * sizeof *b);
    CU_ASSERT_FATAL(b != NULL);
    int r = comm_rank(C), p = comm_size(C);
    for (size_t i = 0; i < n; i++) b[i] = (float)((r + 1) * (int)(i % 7));
    CU_ASSERT_EQUAL(comm_allreduce_sum(C, b, n), 0);
    /* sum over ranks of (r+1) = p(p+1)/2 */
    float k = (float)(p * (p + 1) / 2);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (b[i] != k * (float)(i % 7)) bad++;
    CU_ASSERT_EQUAL(bad, 0);
    free(b);
}

static void test_allreduce_double_and_max(void)
{
    double d[3] = {1.5, (double)comm_rank(C), -2.0};
    CU_ASSERT_EQUAL(comm_allreduce_sum_d(C, d, 3), 0);
    int p = comm_size(C);
    CU_ASSERT_DOUBLE_EQUAL(d[0], 1.5 * p, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(d[1], p * (p - 1) / 2.0, 1e-12);
    int64_t m[2] = {comm_rank(C), -comm_rank(C)};
    CU_ASSERT_EQUAL(comm_allreduce_max_i64(C, m, 2), 0);
    CU_ASSERT_EQUAL(m[0], p - 1);
    CU_ASSERT_EQUAL(m[1], 0);
}

static void test_bcast(void)
{
    char buf[64];
    memset(buf, comm_rank(C) == 0 ? 'a' : 'z', sizeof buf);
    CU_ASSERT_EQUAL(comm_bcast_bytes(C, buf, sizeof buf, 0), 0);
    for (size_t i = 0; i < sizeof buf; i++) CU_ASSERT_EQUAL(buf[i], 'a');
}

/* Rank r sends r + 1 fixed-size words, then 3r bytes of value r (rank 0
 * sends none); root 0 gets them in rank order, the root being any rank
 * for the fixed-size gather. */
static void test_gather(void)
{
    int p = comm_size(C), r = comm_rank(C);
    uint64_t word = (uint64_t)r + 1, words[64];
    for (int root = 0; root < p; root++) {
        memset(words, 0, sizeof words);
        CU_ASSERT_EQUAL(comm_gather_bytes(C, &word, sizeof word, words, root), 0);
        if (r == root)
            for (int k = 0; k < p; k++) CU_ASSERT_EQUAL(words[k], (uint64_t)k + 1);
    }
    size_t counts[64], total = 0;
    for (int k = 0; k < p; k++) total += counts[k] = 3 * (size_t)k;
    unsigned char mine[3 * 64], all[3 * 64 * 64];
    memset(mine, r, sizeof mine);
    memset(all, 0xff, sizeof all);
    CU_ASSERT_EQUAL(comm_gatherv_bytes(C, mine, counts[r], all, counts, 0), 0);
    if (r == 0) {
        size_t off = 0;
        for (int k = 0; k < p; k++)
            for (size_t i = 0; i < counts[k]; i++) CU_ASSERT_EQUAL(all[off++], k);
        CU_ASSERT_EQUAL(all[total], 0xff); /* nothing past the end */
    }
}

static void test_agree(void)
{
    int bad = -2;
    CU_ASSERT_EQUAL(comm_agree(C, 0, &bad), 0);
    CU_ASSERT_EQUAL(bad, -1);
    int p = comm_size(C), r = comm_rank(C);
    /* the last rank fails with 3, and (if there are >2 ranks) rank 1 with 2 */
    int st = r == p - 1 ? 3 : (r == 1 ? 2 : 0);
    CU_ASSERT_EQUAL(comm_agree(C, st, &bad), 3);
    CU_ASSERT_EQUAL(bad, p == 1 ? 0 : 1);
}

static void test_layout(void)
{
    CU_ASSERT(comm_size(C) >= 1);
    CU_ASSERT(comm_rank(C) < comm_size(C));
    CU_ASSERT(comm_local_rank(C) < comm_local_size(C));
    CU_ASSERT(comm_nodes(C) >= 1);
    CU_ASSERT(comm_local_size(C) <= comm_size(C));
    CU_ASSERT(strlen(comm_host(C)) > 0);
}

static const cu_test tests[] = {
    {"allreduce_sum", test_allreduce_sum},
    {"allreduce_double_and_max", test_allreduce_double_and_max},
    {"bcast", test_bcast},
    {"gather and gatherv", test_gather},
    {"agree", test_agree},
    {"layout", test_layout},
    {NULL, NULL}};
static const cu_suite suites[] = {{"comm", tests}, {NULL, NULL}};

int main(int argc, char **argv)
{
    C = comm_init(&argc, &argv);
    if (!C) return 1;
    if (comm_rank(C) != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    int rc = cu_main("comm", suites);
    /* All ranks must agree on the outcome before leaving. */
    rc = comm_agree(C, rc, NULL);
    comm_finalize(C);
    return rc;
}

/* tests/comm/test_debug_collectives.c - AXON_DEBUG_COLLECTIVES: with the
 * fingerprint exchange on, matching collectives of every kind give the
 * same results as without it (run with 1, 2 and 3 ranks by
 * scripts/run-tests). Run as `test_debug_collectives mismatch` (by
 * tests/faults/test_stall.sh) it makes rank 0 broadcast while the others
 * sum: the job must end at once, exit 1, with one message naming both
 * fingerprints, instead of deadlocking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "tests/cu.h"

static comm_ctx *C;

static void test_matching(void)
{
    int r = comm_rank(C), p = comm_size(C);
    float f[5] = {1, 2, 3, 4, (float)r};
    CU_ASSERT_EQUAL(comm_allreduce_sum(C, f, 5), 0);
    CU_ASSERT_EQUAL(f[0], (float)p);
    CU_ASSERT_EQUAL(f[4], (float)(p * (p - 1) / 2));
    double d = 0.5;
    CU_ASSERT_EQUAL(comm_allreduce_sum_d(C, &d, 1), 0);
    CU_ASSERT_EQUAL(d, 0.5 * p);
    char b[16] = "";
    if (r == 0) strcpy(b, "from rank 0");
    CU_ASSERT_EQUAL(comm_bcast_bytes(C, b, sizeof b, 0), 0);
    CU_ASSERT_STRING_EQUAL(b, "from rank 0");
    int all[8] = {0};
    CU_ASSERT_EQUAL(comm_gather_bytes(C, &r, sizeof r, all, 0), 0);
    if (r == 0)
        for (int j = 0; j < p && j < 8; j++) CU_ASSERT_EQUAL(all[j], j);
    CU_ASSERT_EQUAL(comm_barrier(C), 0);
    int req;
    float g[3] = {1, 1, 1};
    CU_ASSERT_EQUAL(comm_iallreduce_sum(C, g, 3, &req), 0);
    CU_ASSERT_EQUAL(comm_wait(C, req), 0);
    CU_ASSERT_EQUAL(g[2], (float)p);
    int first = 7;
    CU_ASSERT_EQUAL(comm_agree(C, r == p - 1 && p > 1 ? 3 : 0, &first), p > 1 ? 3 : 0);
    CU_ASSERT_EQUAL(first, p > 1 ? p - 1 : -1);
}

static const cu_test tests[] = {{"matching collectives", test_matching},
                                {NULL, NULL}};
static const cu_suite suites[] = {{"debug collectives", tests}, {NULL, NULL}};

int main(int argc, char **argv)
{
    setenv("AXON_DEBUG_COLLECTIVES", "1", 1); /* read by comm_init */
    C = comm_init(&argc, &argv);
    if (!C) return 1;
    if (argc > 1 && !strcmp(argv[1], "mismatch")) {
        char b[8] = "";
        float f[3] = {0, 0, 0};
        if (comm_rank(C) == 0)
            comm_bcast_bytes(C, b, sizeof b, 0);
        else
            comm_allreduce_sum(C, f, 3);
        comm_finalize(C);
        return 0; /* not reached with more than one rank */
    }
    if (comm_rank(C) != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    int rc = cu_main("debug collectives", suites);
    rc = comm_agree(C, rc, NULL);
    comm_finalize(C);
    return rc;
}

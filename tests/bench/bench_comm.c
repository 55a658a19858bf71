/* tests/bench/bench_comm.c - allreduce of a gradient-sized buffer: raw
 * MPI_Allreduce against the comm layer's comm_allreduce_sum, on a private
 * buffer and on a node-shared arena (when the job is on one node),
 * interleaved.
 *
 *   mpirun -np P bench_comm COUNT [REPS]
 *
 * Every repetition times both on the same buffer of COUNT floats, in
 * alternating order, each after a barrier; a call's time is the slowest
 * rank's. Rank 0 prints one JSON object with the medians, the spread and
 * the bus bandwidth 2(p-1)/p * bytes / time (the bytes each rank must send
 * and receive in an optimal allreduce, per second).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "comm/comm.h"
#include "nn/check.h"
#include "tests/bench/bench.h"

/* The q-quantile (0..1) of v[0..n), sorting v. */
static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Seconds of one in-place sum on the slowest rank. kind 0: MPI_Allreduce,
 * 1: comm_allreduce_sum on a private buffer, 2: the same on the buffer in
 * a node-shared arena (what the trainer's gradient arena uses). */
static double time_one(comm_ctx *c, int kind, float *buf, size_t count)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    int rc = kind == 0 ? MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT,
                                       MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS
                       : comm_allreduce_sum(c, buf, count);
    t = MPI_Wtime() - t;
    NN_CHECK(rc == 0, "allreduce failed");
    double worst = 0;
    MPI_Allreduce(&t, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return worst;
}

int main(int argc, char **argv)
{
    comm_ctx *c = comm_init(&argc, &argv);
    if (!c) return 1;
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 235146;
    size_t reps = argc > 2 ? strtoul(argv[2], NULL, 10) : 200;
    if (count == 0 || count > (size_t)1 << 30 || reps == 0) {
        fprintf(stderr, "usage: bench_comm COUNT [REPS]\n");
        comm_finalize(c);
        return 2;
    }
    float *priv = nn_xalloc_floats(count); /* zeros: sums stay 0 */
    float *shared = comm_alloc_shared(c, count);
    float *buf[3] = {priv, priv, shared ? shared : priv};
    int kinds = shared ? 3 : 2;
    double *t[3];
    for (int k = 0; k < 3; k++) t[k] = nn_xcalloc(reps, sizeof(double));
    for (int w = 0; w < 10; w++) time_one(c, w % kinds, buf[w % kinds], count);
    for (size_t r = 0; r < reps; r++)
        for (int k = 0; k < kinds; k++) {
            int kind = (int)((r + (size_t)k) % (size_t)kinds); /* rotate the order */
            t[kind][r] = time_one(c, kind, buf[kind], count);
        }
    int p = comm_size(c);
    double bytes = (double)count * sizeof(float);
    double factor = p > 1 ? 2.0 * (p - 1) / p : 1.0;
    if (comm_rank(c) == 0) {
        const char *name[3] = {"mpi", "comm", "comm_shared"};
        printf("{\"ranks\": %d, \"count\": %zu, \"bytes\": %.0f, \"reps\": %zu", p,
               count, bytes, reps);
        for (int k = 0; k < kinds; k++) {
            double med = quantile(t[k], reps, 0.5);
            double p10 = quantile(t[k], reps, 0.1), p90 = quantile(t[k], reps, 0.9);
            printf(", \"%s_us\": %.2f, \"%s_p10_us\": %.2f, \"%s_p90_us\": %.2f, "
                   "\"%s_busbw_gbs\": %.3f",
                   name[k], 1e6 * med, name[k], 1e6 * p10, name[k], 1e6 * p90,
                   name[k], factor * bytes / med / 1e9);
        }
        printf("}\n");
    }
    for (int k = 0; k < 3; k++) free(t[k]);
    free(priv);
    comm_finalize(c);
    return 0;
}

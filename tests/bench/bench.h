/* tests/bench/bench.h - what the benchmark programs share: a monotonic
 * clock, medians, and memcpy's rate (the memory-speed yardstick). */
#ifndef TESTS_BENCH_H
#define TESTS_BENCH_H

#include <stddef.h> /* size_t */
#include <stdlib.h> /* qsort, free */
#include <string.h> /* memcpy, memset */
#include <time.h>   /* clock_gettime */

#include "nn/check.h" /* nn_xmalloc, nn_xcalloc */

/* Seconds from a monotonic clock. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0, n), sorting v; 0 for n = 0. */
static inline double bench_median(double *v, size_t n)
{
    if (n == 0) return 0.0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Bytes copied per second by memcpy between two buffers of `bytes`
 * (each byte read once and written once), median of `reps` copies. */
static inline double bench_memcpy_gbs(size_t bytes, size_t reps)
{
    char *a = nn_xmalloc(bytes), *b = nn_xmalloc(bytes);
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    double *t = nn_xcalloc(reps, sizeof *t);
    for (size_t r = 0; r < reps; r++) {
        double s = bench_now();
        memcpy(r % 2 ? a : b, r % 2 ? b : a, bytes);
        t[r] = bench_now() - s;
    }
    double med = bench_median(t, reps);
    free(t), free(a), free(b);
    return (double)bytes / med / 1e9;
}

#endif

/* tests/nn/test_rng.c - generators: reference values, determinism,
 * distribution moments, shuffles, counter hashes, FNV-1a. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/rng.h"
#include "tests/cu.h"

/* Reference outputs of xoshiro256** from state {1,2,3,4} and of
 * splitmix64 from 0 (computed independently from the published
 * algorithms). */
static void test_reference_values(void)
{
    nn_rng r = {{1, 2, 3, 4}};
    CU_ASSERT_EQUAL(nn_rng_next(&r), 11520ULL);
    CU_ASSERT_EQUAL(nn_rng_next(&r), 0ULL);
    CU_ASSERT_EQUAL(nn_rng_next(&r), 1509978240ULL);
    CU_ASSERT_EQUAL(nn_rng_next(&r), 1215971899390074240ULL);
    nn_rng_seed(&r, 0);
    CU_ASSERT_EQUAL(r.s[0], 0xe220a8397b1dcdafULL);
    CU_ASSERT_EQUAL(r.s[1], 0x6e789e6aa1b965f4ULL);
}

static void test_determinism(void)
{
    nn_rng a, b, c;
    nn_rng_seed(&a, 42);
    nn_rng_seed(&b, 42);
    nn_rng_seed(&c, 43);
    int same = 1, differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = nn_rng_next(&a), y = nn_rng_next(&b), z = nn_rng_next(&c);
        same &= x == y;
        differ += x != z;
    }
    CU_ASSERT(same);
    CU_ASSERT(differ > 990);
    /* Normals too: state is all there is (no cached second value). */
    nn_rng_seed(&a, 7);
    nn_rng_seed(&b, 7);
    nn_rng_normal(&a);
    nn_rng_normal(&b);
    nn_rng saved = a;
    double n1 = nn_rng_normal(&a);
    double n2 = nn_rng_normal(&saved);
    CU_ASSERT_EQUAL(n1, n2);
    CU_ASSERT_EQUAL(nn_rng_normal(&b), n1);
}

static void test_uniform_moments(void)
{
    nn_rng r;
    nn_rng_seed(&r, 1);
    const size_t n = 1000000;
    double sum = 0, sq = 0, lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double u = nn_rng_uniform(&r);
        sum += u;
        sq += u * u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    /* sd of the mean = sqrt(1/12/n) ~ 2.9e-4: 5 sd ~ 1.5e-3. */
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.5, 1.5e-3);
    CU_ASSERT_DOUBLE_EQUAL(var, 1.0 / 12.0, 1e-3);
    CU_ASSERT(lo >= 0.0 && lo < 1e-4);
    CU_ASSERT(hi < 1.0 && hi > 1 - 1e-4);
}

static void test_normal_moments(void)
{
    nn_rng r;
    nn_rng_seed(&r, 2);
    const size_t n = 1000000;
    double sum = 0, sq = 0, q = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double v = nn_rng_normal(&r);
        bad += !isfinite(v);
        sum += v;
        sq += v * v;
        q += v * v * v * v;
    }
    CU_ASSERT_EQUAL(bad, 0);
    double mean = sum / n, var = sq / n - mean * mean;
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.0, 5e-3);
    CU_ASSERT_DOUBLE_EQUAL(var, 1.0, 1e-2);
    CU_ASSERT_DOUBLE_EQUAL(q / n, 3.0, 0.05); /* kurtosis of a normal */
}

static void test_below_uniform(void)
{
    nn_rng r;
    nn_rng_seed(&r, 3);
    size_t bins[10] = {0};
    const size_t n = 200000;
    int in_range = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = nn_rng_below(&r, 10);
        in_range &= v < 10;
        if (v < 10) bins[v]++;
    }
    CU_ASSERT(in_range);
    double chi2 = 0, e = n / 10.0;
    for (int i = 0; i < 10; i++) chi2 += (bins[i] - e) * (bins[i] - e) / e;
    CU_ASSERT(chi2 < 30.0); /* 9 dof: P(chi2 > 30) < 0.001 */
    CU_ASSERT_EQUAL(nn_rng_below(&r, 1), 0);
}

static void test_shuffle_permutation(void)
{
    const size_t n = 1000;
    size_t *idx = nn_xmalloc(n * sizeof *idx), *idx2 = nn_xmalloc(n * sizeof *idx2);
    char *seen = calloc(n, 1);
    for (size_t i = 0; i < n; i++) idx[i] = idx2[i] = i;
    nn_rng a, b;
    nn_rng_seed(&a, 9);
    nn_rng_seed(&b, 9);
    nn_rng_shuffle(&a, idx, n);
    nn_rng_shuffle(&b, idx2, n);
    size_t fixed = 0;
    int perm = 1;
    for (size_t i = 0; i < n; i++) {
        perm &= idx[i] < n && !seen[idx[i]];
        if (idx[i] < n) seen[idx[i]] = 1;
        fixed += idx[i] == i;
    }
    CU_ASSERT(perm);
    CU_ASSERT(fixed < 10); /* expected ~1 fixed point */
    CU_ASSERT(memcmp(idx, idx2, n * sizeof *idx) == 0);
    /* Every position gets every value equally often over many shuffles
     * of 4 items: 24 permutations, each ~1/24. */
    size_t counts[4][4] = {{0}};
    for (int t = 0; t < 24000; t++) {
        size_t v[4] = {0, 1, 2, 3};
        nn_rng_shuffle(&a, v, 4);
        for (int i = 0; i < 4; i++) counts[i][v[i]]++;
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            CU_ASSERT(counts[i][j] > 5600 && counts[i][j] < 6400);
    free(idx);
    free(idx2);
    free(seen);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_hash_counters(void)
{
    const size_t na = 1000, nb = 10;
    uint64_t *h = nn_xmalloc(na * nb * sizeof *h);
    double sum = 0;
    for (size_t a = 0; a < na; a++)
        for (size_t b = 0; b < nb; b++) {
            h[a * nb + b] = nn_hash64(5, a, b);
            sum += nn_hash_uniform(5, a, b);
        }
    qsort(h, na * nb, sizeof *h, cmp_u64);
    size_t dup = 0;
    for (size_t i = 1; i < na * nb; i++) dup += h[i] == h[i - 1];
    CU_ASSERT_EQUAL(dup, 0);
    CU_ASSERT_DOUBLE_EQUAL(sum / (na * nb), 0.5, 0.01);
    CU_ASSERT(nn_hash64(5, 1, 2) != nn_hash64(5, 2, 1));
    CU_ASSERT(nn_hash64(5, 1, 2) != nn_hash64(6, 1, 2));
    CU_ASSERT_EQUAL(nn_hash64(5, 1, 2), nn_hash64(5, 1, 2));
    /* Avalanche: flipping one counter bit flips ~half the output bits. */
    double flips = 0;
    for (uint64_t a = 0; a < 1000; a++)
        flips += __builtin_popcountll(nn_hash64(0, a, 0) ^ nn_hash64(0, a ^ 1, 0));
    CU_ASSERT_DOUBLE_EQUAL(flips / 1000, 32.0, 1.5);
    free(h);
}

static void test_fnv1a(void)
{
    CU_ASSERT_EQUAL(nn_fnv1a("", 0, NN_FNV_INIT), NN_FNV_INIT);
    CU_ASSERT_EQUAL(nn_fnv1a("a", 1, NN_FNV_INIT), 0xaf63dc4c8601ec8cULL);
    CU_ASSERT_EQUAL(nn_fnv1a("foobar", 6, NN_FNV_INIT), 0x85944171f73967e8ULL);
    /* Chaining = hashing the concatenation. */
    CU_ASSERT_EQUAL(nn_fnv1a("bar", 3, nn_fnv1a("foo", 3, NN_FNV_INIT)),
                    0x85944171f73967e8ULL);
}

static const cu_test rng_tests[] = {
    {"reference values", test_reference_values},
    {"determinism", test_determinism},
    {"uniform moments", test_uniform_moments},
    {"normal moments", test_normal_moments},
    {"below is uniform", test_below_uniform},
    {"shuffle is a permutation", test_shuffle_permutation},
    {"hash differs across counters", test_hash_counters},
    {"fnv1a", test_fnv1a},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"rng", rng_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_rng", suites);
}

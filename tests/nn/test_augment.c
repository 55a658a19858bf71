/* tests/nn/test_augment.c - random crop and flip of image rows: the
 * in-place result against an out-of-place reference built from the
 * definition (pad, cut, mirror), every output a shift-and-mirror of its
 * input, the draws covering every offset and flipping about half the rows,
 * and the result independent of how the rows are split (ranks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/augment.h"
#include "nn/check.h"
#include "tests/cu.h"

enum { C = 2, H = 5, W = 6, D = C * H * W };

/* Rows whose values are distinct and non-zero (so a shift is visible). */
static float *rows(size_t n)
{
    float *x = nn_xalloc_floats(n * D);
    for (size_t i = 0; i < n * D; i++) x[i] = 1.0f + (float)i;
    return x;
}

/* out = in padded by P zeros, cut at (oy, ox), mirrored if flip. */
static void reference(const float *in, float *out, size_t P, long dy, long dx,
                      int flip)
{
    size_t PH = H + 2 * P, PW = W + 2 * P;
    float *pad = calloc(C * PH * PW, sizeof *pad);
    CU_ASSERT_FATAL(pad != NULL);
    for (size_t c = 0; c < C; c++)
        for (size_t h = 0; h < H; h++)
            for (size_t w = 0; w < W; w++)
                pad[(c * PH + h + P) * PW + w + P] = in[(c * H + h) * W + w];
    size_t oy = (size_t)(dy + (long)P), ox = (size_t)(dx + (long)P);
    for (size_t c = 0; c < C; c++)
        for (size_t h = 0; h < H; h++)
            for (size_t w = 0; w < W; w++) {
                size_t sw = flip ? W - 1 - w : w;
                out[(c * H + h) * W + w] = pad[(c * PH + h + oy) * PW + sw + ox];
            }
    free(pad);
}

static void test_matches_reference(void)
{
    size_t n = 200;
    nn_augment a = {2, 1};
    float *x = rows(n), *want = nn_xalloc_floats(D);
    float *orig = rows(n);
    uint64_t *ids = nn_xcalloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = 1000 + 7 * i;
    nn_augment_rows(&a, x, n, nn_shape_3d(C, H, W), ids, 42, 3);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        long dy, dx;
        int flip;
        nn_augment_draw(&a, 42, 3, ids[i], &dy, &dx, &flip);
        reference(orig + i * D, want, a.crop_pad, dy, dx, flip);
        bad += memcmp(want, x + i * D, D * sizeof *want) != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
    free(orig);
    free(want);
    free(ids);
}

/* Without the draws: every output row is the reference of exactly one
 * (shift, flip) of its input with |shift| <= P. */
static void test_each_row_is_a_shift(void)
{
    size_t n = 64, P = 2;
    nn_augment a = {P, 1};
    float *x = rows(n), *orig = rows(n), *want = nn_xalloc_floats(D);
    uint64_t *ids = nn_xcalloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = i;
    nn_augment_rows(&a, x, n, nn_shape_3d(C, H, W), ids, 9, 0);
    for (size_t i = 0; i < n; i++) {
        int matches = 0;
        for (long dy = -(long)P; dy <= (long)P; dy++)
            for (long dx = -(long)P; dx <= (long)P; dx++)
                for (int f = 0; f < 2; f++) {
                    reference(orig + i * D, want, P, dy, dx, f);
                    matches += memcmp(want, x + i * D, D * sizeof *want) == 0;
                }
        CU_ASSERT_EQUAL(matches, 1);
    }
    free(x);
    free(orig);
    free(want);
    free(ids);
}

/* Over many ids every offset occurs and about half the rows flip; a new
 * epoch redraws; the same key draws the same. */
static void test_draws(void)
{
    nn_augment a = {3, 1};
    size_t seen[7][7] = {{0}}, flips = 0, n = 20000, same_next_epoch = 0;
    for (uint64_t id = 0; id < n; id++) {
        long dy, dx, dy2, dx2, dy3, dx3;
        int f, f2, f3;
        nn_augment_draw(&a, 5, 1, id, &dy, &dx, &f);
        CU_ASSERT_FATAL(dy >= -3 && dy <= 3 && dx >= -3 && dx <= 3);
        seen[dy + 3][dx + 3]++;
        flips += (size_t)f;
        nn_augment_draw(&a, 5, 1, id, &dy2, &dx2, &f2);
        CU_ASSERT(dy == dy2 && dx == dx2 && f == f2);
        nn_augment_draw(&a, 5, 2, id, &dy3, &dx3, &f3);
        same_next_epoch += dy == dy3 && dx == dx3 && f == f3;
    }
    /* each of the 49 offsets expects n/49 = 408 draws */
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++) CU_ASSERT(seen[i][j] > 300 && seen[i][j] < 520);
    CU_ASSERT(flips > n / 2 - 400 && flips < n / 2 + 400);
    CU_ASSERT(same_next_epoch < n / 50); /* chance: 1/98 */
    nn_augment off = {3, 0};
    long dy, dx;
    int f;
    nn_augment_draw(&off, 5, 1, 17, &dy, &dx, &f);
    CU_ASSERT_EQUAL(f, 0);
}

/* Rows split over "ranks" in any way give the same rows as one call. */
static void test_split_invariance(void)
{
    size_t n = 40;
    nn_augment a = {2, 1};
    float *whole = rows(n), *parts = rows(n);
    uint64_t *ids = nn_xcalloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = 500 + (i * 13) % 97;
    nn_shape s = nn_shape_3d(C, H, W);
    nn_augment_rows(&a, whole, n, s, ids, 8, 4);
    nn_augment_rows(&a, parts, 7, s, ids, 8, 4);
    nn_augment_rows(&a, parts + 7 * D, 20, s, ids + 7, 8, 4);
    nn_augment_rows(&a, parts + 27 * D, n - 27, s, ids + 27, 8, 4);
    CU_ASSERT(memcmp(whole, parts, n * D * sizeof *whole) == 0);
    free(whole);
    free(parts);
    free(ids);
}

static void test_off_is_identity_and_checks(void)
{
    nn_augment off = {0, 0};
    float *x = rows(3), *orig = rows(3);
    uint64_t ids[3] = {1, 2, 3};
    nn_augment_rows(&off, x, 3, nn_shape_3d(C, H, W), ids, 1, 1);
    CU_ASSERT(memcmp(x, orig, 3 * D * sizeof *x) == 0);
    CU_ASSERT(!nn_augment_active(&off));
    nn_error err = {0, ""};
    CU_ASSERT_EQUAL(nn_augment_check(&off, nn_shape_1d(7), &err), 0);
    nn_augment flip = {0, 1};
    CU_ASSERT_EQUAL(nn_augment_check(&flip, nn_shape_1d(784), &err),
                    NN_EXIT_USAGE);
    CU_ASSERT(strstr(err.msg, "[784]") != NULL);
    nn_augment big = {3, 0};
    CU_ASSERT_EQUAL(nn_augment_check(&big, nn_shape_3d(1, 5, 28), &err),
                    NN_EXIT_USAGE);
    CU_ASSERT(strstr(err.msg, "crop_pad 3") != NULL);
    nn_augment ok = {4, 1};
    CU_ASSERT_EQUAL(nn_augment_check(&ok, nn_shape_3d(1, 28, 28), &err), 0);
    free(x);
    free(orig);
}

static const cu_test tests[] = {
    {"in place matches the definition", test_matches_reference},
    {"each row is one shift and mirror", test_each_row_is_a_shift},
    {"draws", test_draws},
    {"independent of the row split", test_split_invariance},
    {"off is the identity; shape checks", test_off_is_identity_and_checks},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"augment", tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("test_augment", suites);
}

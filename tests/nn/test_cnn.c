/* tests/nn/test_cnn.c - convolutional layers: conv2d, maxpool2d,
 * avgpool2d, flatten, dropout, batchnorm.
 *
 * Forward values are checked against independent references written here
 * (a direct 7-loop convolution, hand-computed pooling, batch statistics in
 * double); gradients against central differences (nn_gradcheck_layer).
 */
#include <math.h>   /* fabs, sqrt */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* free */
#include <string.h> /* memset, strstr */

#include "nn/check.h"
#include "nn/gradcheck.h"
#include "nn/im2col.h"
#include "nn/init.h"
#include "nn/layer.h"
#include "nn/model.h"
#include "nn/rng.h"
#include "nn/spec.h"
#include "tests/cu.h"

/* ---- helpers ----------------------------------------------------------- */

/* A spec of `type` named `name` with NULL-terminated key, value pairs. */
static void spec_make(nn_spec *s, const char *type, const char *name,
                      const char *const *kv)
{
    nn_error err;
    memset(s, 0, sizeof *s);
    s->type = nn_xstrdup(type);
    s->name = nn_xstrdup(name);
    s->file = "test.yaml";
    s->line = 7;
    for (size_t i = 0; kv && kv[i]; i += 2)
        CU_ASSERT_EQUAL_FATAL(nn_spec_add(s, kv[i], kv[i + 1], 8, &err), 0);
}

/* Make, init (seeded) and reserve a stand-alone layer; 0 or the error. */
static int layer_make(nn_layer *l, const char *type, const char *const *kv,
                      nn_shape in, size_t rows, nn_error *err)
{
    nn_spec s;
    spec_make(&s, type, "L1", kv);
    int rc = nn_layer_make(l, &s, in, err);
    nn_spec_free(&s);
    if (rc) return rc;
    nn_rng rng;
    nn_rng_seed(&rng, 42);
    if (l->ops->init)
        l->ops->init(l, &rng);
    else
        memset(l->param, 0, l->n_params * sizeof(float));
    nn_layer_reserve(l, rows);
    return 0;
}

/* n distinct values, spaced 0.05 apart, in shuffled order: maxima are
 * unique and stay so under perturbations much smaller than 0.025. */
static float *distinct_floats(size_t n, uint64_t seed)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    size_t *idx = nn_xmalloc(n * sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    nn_rng_shuffle(&rng, idx, n);
    float *v = nn_xalloc_floats(n);
    for (size_t i = 0; i < n; i++) v[i] = 0.05f * (float)idx[i] - 1.0f;
    free(idx);
    return v;
}

static void report(const char *what, const nn_gradcheck_result *res)
{
    if (!res->pass)
        fprintf(stderr, "\n  %s: %zu/%zu failed, worst %.3g, first %s\n", what,
                res->failed, res->checked, res->worst_abs, res->where);
}

/* ---- pooling: exact values --------------------------------------------- */

static const float pool_in[16] = {9, 3, 5, 3, 10, 32, 2, 2,
                                  1, 3, 21, 9, 2, 6, 11, 7};

static void pool_exact(const char *type, const float *want)
{
    static const char *const kv[] = {"size", "2", "stride", "2", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, type, kv, nn_shape_3d(1, 4, 4), 2, &err), 0);
    CU_ASSERT_TRUE(nn_shape_eq(l.out, nn_shape_3d(1, 2, 2)));
    /* two rows: the case itself and its negation */
    float x[32], y[8];
    for (int i = 0; i < 16; i++) x[i] = pool_in[i], x[16 + i] = -pool_in[i];
    nn_pass pass = {0, 0, 0, NULL};
    l.ops->forward(&l, x, y, 2, &pass);
    for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(y[i], want[i], 1e-6);
    nn_layer_free(&l);
}

static void test_maxpool_exact(void)
{
    static const float want[4] = {32, 5, 6, 21};
    pool_exact("maxpool2d", want);
}

static void test_avgpool_exact(void)
{
    static const float want[4] = {13.5f, 3, 3, 12};
    pool_exact("avgpool2d", want);
}

/* Negated input: max of -x is -(min of x); checks the second row too. */
static void test_maxpool_second_row(void)
{
    static const char *const kv[] = {"size", "2", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "maxpool2d", kv, nn_shape_3d(1, 4, 4), 2, &err), 0);
    float x[32], y[8], dy[8] = {0, 0, 0, 0, 1, 2, 3, 4}, dx[32];
    for (int i = 0; i < 16; i++) x[i] = pool_in[i], x[16 + i] = -pool_in[i];
    nn_pass pass = {0, 0, 0, NULL};
    l.ops->forward(&l, x, y, 2, &pass);
    static const float want[4] = {-3, -2, -1, -7};
    for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(y[4 + i], want[i], 1e-6);
    /* backward routes dy to the argmin of x: positions 1, 6, 8, 15 */
    l.ops->backward(&l, x, y, dy, dx, 2);
    for (int i = 0; i < 16; i++) CU_ASSERT_EQUAL(dx[i], 0.0f);
    float want_dx[16] = {0};
    want_dx[1] = 1, want_dx[6] = 2, want_dx[8] = 3, want_dx[15] = 4;
    for (int i = 0; i < 16; i++) CU_ASSERT_EQUAL(dx[16 + i], want_dx[i]);
    nn_layer_free(&l);
}

/* A NaN anywhere in a window makes that output NaN (divergence must not
 * be hidden by a max); the other windows are unaffected. */
static void test_maxpool_nan(void)
{
    static const char *const kv[] = {"size", "2", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "maxpool2d", kv, nn_shape_3d(1, 4, 4), 1, &err), 0);
    float x[16], y[4];
    for (int i = 0; i < 16; i++) x[i] = pool_in[i];
    x[0] = NAN; /* first in its window, followed by larger values */
    x[11] = NAN; /* last in its window */
    nn_pass pass = {0, 0, 0, NULL};
    l.ops->forward(&l, x, y, 1, &pass);
    CU_ASSERT_TRUE(isnan(y[0]));
    CU_ASSERT_EQUAL(y[1], 5.0f);
    CU_ASSERT_EQUAL(y[2], 6.0f);
    CU_ASSERT_TRUE(isnan(y[3]));
    nn_layer_free(&l);
}

/* Ties: the gradient goes to the first maximal input of each window, on
 * the 2x2 kernel (size 2) and the general one (size 2x3). */
static void maxpool_ties(const char *size, size_t W)
{
    const char *kv[] = {"size", size, NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "maxpool2d", kv, nn_shape_3d(1, 2, W), 1, &err), 0);
    /* one window per row pair: [1 5 5 ...; 5 5 5 ...] then equal values */
    float x[12] = {0}, y[2], dy[2] = {1, 2}, dx[12];
    for (size_t i = 0; i < 2 * W; i++) x[i] = 5;
    x[0] = 1;
    nn_pass pass = {0, 0, 0, NULL};
    l.ops->forward(&l, x, y, 1, &pass);
    size_t ow = nn_shape_size(l.out);
    CU_ASSERT_EQUAL(y[0], 5.0f);
    l.ops->backward(&l, x, y, dy, dx, 1);
    float want[12] = {0};
    want[1] = 1;                    /* first 5 of window 0, not x[0] = 1 */
    if (ow == 2) want[W / 2] = 2;   /* first of window 1 */
    for (size_t i = 0; i < 2 * W; i++) CU_ASSERT_EQUAL(dx[i], want[i]);
    nn_layer_free(&l);
}

static void test_maxpool_ties(void)
{
    maxpool_ties("2", 4);   /* [1,2,4] -> [1,1,2] */
    maxpool_ties("2,3", 6); /* [1,2,6] -> [1,1,2] */
}

/* The 2x2 kernel, four outputs at a time and one at a time (rows of 9
 * outputs), against a reference: values on a coarse grid so that windows
 * hold ties, one NaN; y, and where backward routes each dy. */
static void test_maxpool_wide_rows(void)
{
    static const char *const kv[] = {"size", "2", NULL};
    nn_layer l;
    nn_error err;
    nn_shape in = nn_shape_3d(3, 4, 19); /* OW = 9, one column left over */
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "maxpool2d", kv, in, 2, &err), 0);
    size_t nin = 2 * nn_shape_size(in), nout = 2 * nn_shape_size(l.out);
    float *x = cu_rand_floats(nin, 21, -2, 2), *y = nn_xalloc_floats(nout);
    float *dy = cu_rand_floats(nout, 22, -1, 1), *dx = nn_xalloc_floats(nin);
    for (size_t i = 0; i < nin; i++) x[i] = roundf(x[i]); /* ties */
    x[19 + 4] = NAN; /* second row of window (0, 2) of sample 0 */
    nn_pass pass = {1, 0, 0, NULL};
    l.ops->forward(&l, x, y, 2, &pass);
    l.ops->backward(&l, x, y, dy, dx, 2);
    float *want = calloc(nin, sizeof *want);
    size_t o = 0, bad = 0;
    for (size_t q = 0; q < 2 * 3; q++) /* planes */
        for (size_t oh = 0; oh < 2; oh++)
            for (size_t ow = 0; ow < 9; ow++, o++) {
                size_t at = q * 4 * 19 + 2 * oh * 19 + 2 * ow, best = at;
                int nan = 0;
                for (size_t r = 0; r < 2; r++)
                    for (size_t s = 0; s < 2; s++) {
                        size_t i = at + r * 19 + s;
                        nan |= isnan(x[i]);
                        if (x[i] > x[best]) best = i;
                    }
                if (nan ? !isnan(y[o]) : y[o] != x[best]) bad++;
                if (!nan) want[best] += dy[o];
            }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_TRUE(isnan(y[2]));
    /* where the NaN window's dy goes is not specified */
    for (size_t i = 0; i < nin; i++)
        if (i != 4 && i != 5 && i != 23 && i != 24 && dx[i] != want[i]) bad++;
    CU_ASSERT_EQUAL(bad, 0);
    free(x), free(y), free(dy), free(dx), free(want);
    nn_layer_free(&l);
}

/* Overlapping windows (size 3, stride 1) against a direct reference. */
static void test_pool_overlap(void)
{
    static const char *const kv[] = {"size", "3,2", "stride", "1", NULL};
    nn_layer mx, av;
    nn_error err;
    nn_shape in = nn_shape_3d(2, 5, 4);
    CU_ASSERT_EQUAL_FATAL(layer_make(&mx, "maxpool2d", kv, in, 2, &err), 0);
    CU_ASSERT_EQUAL_FATAL(layer_make(&av, "avgpool2d", kv, in, 2, &err), 0);
    CU_ASSERT_TRUE_FATAL(nn_shape_eq(mx.out, nn_shape_3d(2, 3, 3)));
    float *x = cu_rand_floats(2 * 40, 3, -1, 1);
    float ym[36], ya[36];
    nn_pass pass = {0, 0, 0, NULL};
    mx.ops->forward(&mx, x, ym, 2, &pass);
    av.ops->forward(&av, x, ya, 2, &pass);
    size_t o = 0;
    for (size_t i = 0; i < 2; i++)
        for (size_t c = 0; c < 2; c++)
            for (size_t oh = 0; oh < 3; oh++)
                for (size_t ow = 0; ow < 3; ow++, o++) {
                    double best = -1e30, sum = 0;
                    for (size_t r = 0; r < 3; r++)
                        for (size_t s = 0; s < 2; s++) {
                            double v = x[i * 40 + (c * 5 + oh + r) * 4 + ow + s];
                            if (v > best) best = v;
                            sum += v;
                        }
                    CU_ASSERT_DOUBLE_EQUAL(ym[o], best, 1e-6);
                    CU_ASSERT_DOUBLE_EQUAL(ya[o], sum / 6, 1e-6);
                }
    free(x);
    nn_layer_free(&mx);
    nn_layer_free(&av);
}

/* ---- conv2d against a direct reference ---------------------------------- */

typedef struct conv_cfg {
    size_t C, H, W, M, R, S, sh, sw, ph, pw, n;
    int bias;
} conv_cfg;

static const conv_cfg conv_cfgs[] = {
    {1, 5, 7, 2, 3, 3, 1, 1, 0, 0, 3, 1},
    {3, 5, 7, 4, 3, 2, 2, 1, 1, 1, 3, 1},
    {3, 6, 6, 4, 5, 5, 1, 1, 2, 2, 2, 1},
    {1, 7, 5, 2, 2, 3, 2, 2, 1, 0, 3, 1},
    {3, 8, 9, 2, 3, 3, 2, 2, 2, 2, 2, 0},
    {3, 4, 4, 4, 1, 1, 1, 1, 0, 0, 4, 1},
    {1, 3, 3, 2, 5, 5, 1, 1, 1, 1, 2, 1}, /* kernel = padded input */
    {2, 6, 5, 4, 3, 4, 1, 2, 2, 1, 3, 1},
    {2, 5, 6, 3, 3, 2, 1, 1, 1, 2, 2, 1}, /* stride 1, uneven padding */
    {2, 6, 11, 13, 3, 3, 1, 1, 1, 1, 2, 1}, /* filters span 3 blocks of 6 */
    {1, 4, 20, 7, 3, 4, 1, 1, 1, 1, 2, 1},  /* 19 columns: 3 blocks of 8 */
};
#define N_CONV_CFGS (sizeof conv_cfgs / sizeof conv_cfgs[0])

/* Build the spec keys of a config (strides/paddings as lists when they
 * differ, so both spellings are exercised). */
static int conv_make_algo(nn_layer *l, const conv_cfg *c, size_t rows,
                          const char *algo, nn_error *err)
{
    char k[32], st[32], pd[32], m[16];
    snprintf(m, sizeof m, "%zu", c->M);
    snprintf(k, sizeof k, "%zu,%zu", c->R, c->S);
    snprintf(st, sizeof st, "%zu,%zu", c->sh, c->sw);
    snprintf(pd, sizeof pd, "%zu,%zu", c->ph, c->pw);
    if (c->R == c->S) snprintf(k, sizeof k, "%zu", c->R);
    if (c->sh == c->sw) snprintf(st, sizeof st, "%zu", c->sh);
    if (c->ph == c->pw) snprintf(pd, sizeof pd, "%zu", c->ph);
    const char *kv[] = {"filters", m, "kernel", k, "stride", st, "padding", pd,
                        "bias", c->bias ? "true" : "false", "algorithm", algo,
                        NULL};
    return layer_make(l, "conv2d", kv, nn_shape_3d(c->C, c->H, c->W), rows,
                      err);
}

/* The algorithms a config can run with: im2col always, direct at stride 1
 * (NULL-terminated). */
static const char *const *conv_algos(const conv_cfg *c)
{
    static const char *const both[] = {"im2col", "direct", NULL};
    static const char *const gemm[] = {"im2col", NULL};
    return c->sh == 1 && c->sw == 1 ? both : gemm;
}


/* y[n, M, OH, OW] by the definition, in double. */
static void conv_reference(const conv_cfg *c, const float *x, const float *w,
                           const float *b, size_t OH, size_t OW, double *y)
{
    size_t K = c->C * c->R * c->S;
    for (size_t i = 0; i < c->n; i++)
        for (size_t m = 0; m < c->M; m++)
            for (size_t oh = 0; oh < OH; oh++)
                for (size_t ow = 0; ow < OW; ow++) {
                    double acc = b ? b[m] : 0.0;
                    for (size_t ch = 0; ch < c->C; ch++)
                        for (size_t r = 0; r < c->R; r++)
                            for (size_t s = 0; s < c->S; s++) {
                                long ih = (long)(oh * c->sh + r) - (long)c->ph;
                                long iw = (long)(ow * c->sw + s) - (long)c->pw;
                                if (ih < 0 || iw < 0 || ih >= (long)c->H ||
                                    iw >= (long)c->W)
                                    continue;
                                acc += (double)w[m * K + (ch * c->R + r) * c->S + s] *
                                       x[((i * c->C + ch) * c->H + (size_t)ih) * c->W +
                                         (size_t)iw];
                            }
                    *y++ = acc;
                }
}

/* Forward of config c by algorithm `algo` agrees with the reference to
 * 1e-5 relative. */
static void conv_forward_case(const conv_cfg *c, const char *algo)
{
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(conv_make_algo(&l, c, c->n, algo, &err), 0);
    size_t OH = (c->H + 2 * c->ph - c->R) / c->sh + 1;
    size_t OW = (c->W + 2 * c->pw - c->S) / c->sw + 1;
    CU_ASSERT_TRUE_FATAL(nn_shape_eq(l.out, nn_shape_3d(c->M, OH, OW)));
    size_t K = c->C * c->R * c->S;
    CU_ASSERT_EQUAL(l.n_params, c->M * K + (c->bias ? c->M : 0));
    /* random bias, so the bias path is checked too */
    if (c->bias) {
        float *b = nn_layer_tensor(&l, 1);
        for (size_t m = 0; m < c->M; m++) b[m] = 0.1f * (float)m - 0.15f;
    }
    size_t nin = c->n * c->C * c->H * c->W, nout = c->n * c->M * OH * OW;
    float *x = cu_rand_floats(nin, 11 + c->C, -1, 1);
    float *y = nn_xalloc_floats(nout);
    double *ref = nn_xmalloc(nout * sizeof *ref);
    nn_pass pass = {0, 0, 0, NULL};
    l.ops->forward(&l, x, y, c->n, &pass);
    conv_reference(c, x, nn_layer_tensor(&l, 0),
                   c->bias ? nn_layer_tensor(&l, 1) : NULL, OH, OW, ref);
    double scale = 0;
    for (size_t i = 0; i < nout; i++)
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    size_t bad = 0;
    for (size_t i = 0; i < nout; i++)
        if (fabs(y[i] - ref[i]) > 1e-5 * (scale > 1 ? scale : 1)) bad++;
    CU_ASSERT_TRUE(scale > 0.1); /* not vacuous */
    CU_ASSERT_EQUAL(bad, 0);
    if (bad)
        fprintf(stderr, "\n  conv %s C%zu %zux%zu M%zu k%zux%zu: %zu bad\n",
                algo, c->C, c->H, c->W, c->M, c->R, c->S, bad);
    free(x);
    free(y);
    free(ref);
    nn_layer_free(&l);
}

static void test_conv_forward_reference(void)
{
    for (size_t i = 0; i < N_CONV_CFGS; i++)
        for (const char *const *a = conv_algos(&conv_cfgs[i]); *a; a++)
            conv_forward_case(&conv_cfgs[i], *a);
}

/* Larger inputs, so a batch spans several GEMM chunks (and one-sample
 * chunks), including a final partial chunk; the first one's columns are
 * kept from forward for backward (chunks of 11 samples, 12 rows), the
 * others' are too large to keep, so backward recomputes them. */
static const conv_cfg big_cfgs[] = {
    {2, 32, 32, 4, 3, 3, 1, 1, 1, 1, 12, 1},
    {3, 64, 64, 4, 3, 3, 1, 1, 1, 1, 10, 1},
    {16, 64, 64, 8, 3, 3, 1, 1, 1, 1, 2, 1},
    {16, 64, 64, 8, 3, 3, 1, 1, 1, 1, 5, 1},
};
#define N_BIG_CFGS (sizeof big_cfgs / sizeof big_cfgs[0])

static void test_conv_forward_chunks(void)
{
    for (size_t i = 0; i < N_BIG_CFGS; i++)
        for (const char *const *a = conv_algos(&big_cfgs[i]); *a; a++)
            conv_forward_case(&big_cfgs[i], *a);
}

static void test_conv_gradcheck(void)
{
    /* conv2d is linear in x and in the parameters: central differences are
     * exact up to rounding for any step, so a large step keeps rounding
     * small. */
    nn_gradcheck_opts o = {0.05, 1e-2, 1e-3, 0};
    nn_pass pass = {1, 0, 0, NULL};
    for (size_t i = 0; i < N_CONV_CFGS; i++)
        for (const char *const *a = conv_algos(&conv_cfgs[i]); *a; a++) {
            const conv_cfg *c = &conv_cfgs[i];
            nn_layer l;
            nn_error err;
            CU_ASSERT_EQUAL_FATAL(conv_make_algo(&l, c, c->n, *a, &err), 0);
            float *x = cu_rand_floats(c->n * c->C * c->H * c->W, 5 + i, -1, 1);
            nn_gradcheck_result res;
            CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, c->n, &pass, &o, 9 + i, &res));
            CU_ASSERT_TRUE(res.checked >= l.n_params);
            report(*a, &res);
            free(x);
            nn_layer_free(&l);
        }
}

/* Multi-chunk backward: sampled entries of layers whose batch spans
 * chunks (columns kept from forward, and recomputed); the gradient must
 * accumulate over all chunks. */
static void test_conv_gradcheck_chunks(void)
{
    static const conv_cfg cs[] = {
        {2, 32, 32, 4, 3, 3, 1, 1, 1, 1, 12, 1}, /* columns kept */
        {3, 64, 64, 4, 3, 3, 2, 1, 1, 0, 10, 1},
        {16, 64, 64, 8, 3, 3, 1, 1, 1, 1, 5, 1},
    };
    nn_gradcheck_opts o = {0.05, 1e-2, 2e-3, 30};
    nn_pass pass = {1, 0, 0, NULL};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        const conv_cfg *c = &cs[i];
        nn_layer l;
        nn_error err;
        CU_ASSERT_EQUAL_FATAL(conv_make_algo(&l, c, c->n, "im2col", &err), 0);
        float *x = cu_rand_floats(c->n * c->C * c->H * c->W, 77, -1, 1);
        nn_gradcheck_result res;
        CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, c->n, &pass, &o, 5, &res));
        report("conv2d chunks", &res);
        free(x);
        nn_layer_free(&l);
    }
}

/* A layer reserved for more rows than a batch has (the model's last,
 * partial batch) and one batch after another of different sizes. */
static void test_conv_partial_batches(void)
{
    const conv_cfg *c = &conv_cfgs[2];
    for (const char *const *a = conv_algos(c); *a; a++) {
        nn_layer l;
        nn_error err;
        CU_ASSERT_EQUAL_FATAL(conv_make_algo(&l, c, 40, *a, &err), 0);
        nn_gradcheck_opts o = {0.05, 1e-2, 1e-3, 20};
        nn_pass pass = {1, 0, 0, NULL};
        size_t sizes[3] = {40, 17, 1};
        for (size_t k = 0; k < 3; k++) {
            float *x = cu_rand_floats(sizes[k] * nn_shape_size(l.in), k, -1, 1);
            nn_gradcheck_result res;
            CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, sizes[k], &pass, &o, k, &res));
            report("conv2d partial", &res);
            free(x);
        }
        nn_layer_free(&l);
    }
}

/* Gradients accumulate (+=) across backward calls, by both algorithms. */
static void conv_grad_accumulates(const conv_cfg *c, const char *algo)
{
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(conv_make_algo(&l, c, c->n, algo, &err), 0);
    size_t nin = c->n * nn_shape_size(l.in), nout = c->n * nn_shape_size(l.out);
    float *x = cu_rand_floats(nin, 1, -1, 1), *dy = cu_rand_floats(nout, 2, -1, 1);
    float *y = nn_xalloc_floats(nout);
    float *g1 = nn_xalloc_floats(l.n_params);
    nn_pass pass = {1, 0, 0, NULL};
    memset(l.grad, 0, l.n_params * sizeof(float));
    l.ops->forward(&l, x, y, c->n, &pass);
    l.ops->backward(&l, x, y, dy, NULL, c->n);
    memcpy(g1, l.grad, l.n_params * sizeof(float));
    l.ops->backward(&l, x, y, dy, NULL, c->n);
    for (size_t i = 0; i < l.n_params; i++)
        CU_ASSERT_DOUBLE_EQUAL(l.grad[i], 2 * g1[i], 1e-5 * (1 + fabs(g1[i])));
    free(x), free(dy), free(y), free(g1);
    nn_layer_free(&l);
}

static void test_conv_grad_accumulates(void)
{
    conv_grad_accumulates(&conv_cfgs[1], "im2col");
    conv_grad_accumulates(&conv_cfgs[2], "direct");
}

static void test_conv_init(void)
{
    static const char *const he[] = {"filters", "64", "kernel", "5", NULL};
    static const char *const zeros[] = {"filters", "4", "kernel", "3", "init",
                                        "zeros", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "conv2d", he, nn_shape_3d(3, 8, 8), 1, &err), 0);
    size_t nw = 64 * 75;
    const float *w = nn_layer_tensor(&l, 0), *b = nn_layer_tensor(&l, 1);
    double ss = 0;
    for (size_t i = 0; i < nw; i++) ss += (double)w[i] * w[i];
    /* He normal: std sqrt(2 / fan_in), fan_in = C*R*S = 75 */
    CU_ASSERT_DOUBLE_EQUAL(sqrt(ss / nw), sqrt(2.0 / 75), 0.05 * sqrt(2.0 / 75));
    for (size_t m = 0; m < 64; m++) CU_ASSERT_EQUAL(b[m], 0.0f);
    CU_ASSERT_EQUAL(l.views[0].flags, NN_PARAM_DECAY);
    CU_ASSERT_EQUAL(l.views[1].flags, 0u);
    nn_layer_free(&l);
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "conv2d", zeros, nn_shape_3d(2, 4, 4), 1, &err), 0);
    for (size_t i = 0; i < l.n_params; i++) CU_ASSERT_EQUAL(l.param[i], 0.0f);
    nn_layer_free(&l);
}

/* ---- gradient checks of the other layers ------------------------------- */

static void test_pool_gradcheck(void)
{
    static const char *const k2[] = {"size", "2", NULL};
    static const char *const k3[] = {"size", "3,2", "stride", "2,1", NULL};
    const char *const *keys[] = {k2, k3};
    const char *types[] = {"maxpool2d", "avgpool2d"};
    nn_gradcheck_opts o = {1e-2, 1e-2, 1e-3, 0};
    nn_pass pass = {1, 0, 0, NULL};
    nn_shape in = nn_shape_3d(2, 7, 11); /* 2x2: rows of 5, 4 + 1 */
    size_t n = 3;
    float *x = distinct_floats(n * nn_shape_size(in), 4);
    for (size_t t = 0; t < 2; t++)
        for (size_t k = 0; k < 2; k++) {
            nn_layer l;
            nn_error err;
            CU_ASSERT_EQUAL_FATAL(layer_make(&l, types[t], keys[k], in, n, &err), 0);
            nn_gradcheck_result res;
            CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, n, &pass, &o, 3, &res));
            CU_ASSERT_EQUAL(res.checked, n * nn_shape_size(in));
            report(types[t], &res);
            nn_layer_free(&l);
        }
    free(x);
}

static void test_flatten(void)
{
    nn_layer l;
    nn_error err;
    nn_shape in = nn_shape_3d(2, 3, 4);
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "flatten", NULL, in, 2, &err), 0);
    CU_ASSERT_TRUE(nn_shape_eq(l.out, nn_shape_1d(24)));
    CU_ASSERT_EQUAL(l.n_params, 0);
    float *x = cu_rand_floats(48, 8, -1, 1), y[48];
    nn_pass pass = {0, 0, 0, NULL};
    l.ops->forward(&l, x, y, 2, &pass);
    CU_ASSERT_EQUAL(memcmp(x, y, sizeof y), 0);
    nn_gradcheck_opts o = {1e-2, 1e-2, 1e-3, 0};
    nn_gradcheck_result res;
    CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, 2, &pass, &o, 1, &res));
    report("flatten", &res);
    free(x);
    nn_layer_free(&l);
}

/* ---- dropout ------------------------------------------------------------ */

static void test_dropout_eval_identity(void)
{
    static const char *const kv[] = {"rate", "0.5", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "dropout", kv, nn_shape_1d(50), 4, &err), 0);
    float *x = cu_rand_floats(200, 1, -1, 1), *dy = cu_rand_floats(200, 2, -1, 1);
    float y[200], dx[200];
    nn_pass pass = {0, 7, 3, NULL};
    l.ops->forward(&l, x, y, 4, &pass);
    CU_ASSERT_EQUAL(memcmp(x, y, sizeof y), 0);
    l.ops->backward(&l, x, y, dy, dx, 4);
    CU_ASSERT_EQUAL(memcmp(dy, dx, sizeof dx), 0);
    free(x), free(dy);
    nn_layer_free(&l);
}

static void test_dropout_training(void)
{
    static const char *const kv[] = {"rate", "0.3", NULL};
    size_t n = 8, w = 1000;
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "dropout", kv, nn_shape_1d(w), n, &err), 0);
    float *x = cu_rand_floats(n * w, 1, 0.5f, 1.5f); /* never zero */
    float *y = nn_xalloc_floats(n * w), *dx = nn_xalloc_floats(n * w);
    float *dy = cu_rand_floats(n * w, 2, -1, 1);
    uint64_t ids[8] = {100, 3, 57, 8, 9, 1000, 12, 4};
    nn_pass pass = {1, 123, 5, ids};
    l.ops->forward(&l, x, y, n, &pass);
    l.ops->backward(&l, x, y, dy, dx, n);
    size_t dropped = 0, bad = 0;
    float scale = 1.0f / 0.7f;
    for (size_t k = 0; k < n * w; k++) {
        if (y[k] == 0.0f) {
            dropped++;
            bad += dx[k] != 0.0f;
        } else {
            bad += fabsf(y[k] - x[k] * scale) > 1e-6f * fabsf(y[k]);
            bad += fabsf(dx[k] - dy[k] * scale) > 1e-6f * (1 + fabsf(dx[k]));
        }
    }
    double frac = (double)dropped / (double)(n * w);
    /* 8000 Bernoulli(0.3): sd 0.005; allow 5 sd */
    CU_ASSERT_DOUBLE_EQUAL(frac, 0.3, 0.025);
    CU_ASSERT_EQUAL(bad, 0);
    free(x), free(y), free(dx), free(dy);
    nn_layer_free(&l);
}

/* Same (seed, step, id) -> same mask, whatever the row position; another
 * step gives another mask; ids == NULL means ids = row index. */
static void test_dropout_counter_based(void)
{
    static const char *const kv[] = {"rate", "0.5", NULL};
    size_t w = 64;
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "dropout", kv, nn_shape_1d(w), 3, &err), 0);
    float x[3 * 64], a[3 * 64], b[3 * 64], c[3 * 64];
    for (size_t k = 0; k < 3 * w; k++) x[k] = 1.0f;
    uint64_t ids_a[3] = {5, 9, 2}, ids_b[3] = {2, 5, 9}, ids_0[3] = {0, 1, 2};
    nn_pass pa = {1, 77, 10, ids_a}, pb = {1, 77, 10, ids_b};
    l.ops->forward(&l, x, a, 3, &pa);
    l.ops->forward(&l, x, b, 3, &pb);
    /* id 5: row 0 in a, row 1 in b; id 9: row 1 / row 2; id 2: row 2 / 0 */
    CU_ASSERT_EQUAL(memcmp(a, b + w, w * sizeof *a), 0);
    CU_ASSERT_EQUAL(memcmp(a + w, b + 2 * w, w * sizeof *a), 0);
    CU_ASSERT_EQUAL(memcmp(a + 2 * w, b, w * sizeof *a), 0);
    /* rows of different ids differ (64 fair coins agree w.p. 2^-64) */
    CU_ASSERT_NOT_EQUAL(memcmp(a, a + w, w * sizeof *a), 0);
    nn_pass pc = {1, 77, 11, ids_a};
    l.ops->forward(&l, x, c, 3, &pc);
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0);
    nn_pass pn = {1, 77, 10, NULL}, p0 = {1, 77, 10, ids_0};
    l.ops->forward(&l, x, a, 3, &pn);
    l.ops->forward(&l, x, b, 3, &p0);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    nn_layer_free(&l);
}

/* Two dropout layers of one model (different names) draw different masks
 * for the same (seed, step, id). */
static void test_dropout_layers_independent(void)
{
    static const char *const kv[] = {"rate", "0.5", NULL};
    nn_layer l[2];
    const char *names[2] = {"drop_a", "drop_b"};
    float x[64], y[2][64];
    for (size_t k = 0; k < 64; k++) x[k] = 1.0f;
    uint64_t ids[1] = {17};
    nn_pass pass = {1, 5, 3, ids};
    for (size_t i = 0; i < 2; i++) {
        nn_spec s;
        nn_error err;
        spec_make(&s, "dropout", names[i], kv);
        CU_ASSERT_EQUAL_FATAL(nn_layer_make(&l[i], &s, nn_shape_1d(64), &err), 0);
        nn_spec_free(&s);
        nn_layer_reserve(&l[i], 1);
        l[i].ops->forward(&l[i], x, y[i], 1, &pass);
    }
    CU_ASSERT_NOT_EQUAL(memcmp(y[0], y[1], sizeof y[0]), 0);
    nn_layer_free(&l[0]);
    nn_layer_free(&l[1]);
}

static void test_dropout_gradcheck(void)
{
    static const char *const kv[] = {"rate", "0.4", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "dropout", kv, nn_shape_3d(2, 3, 3), 4, &err), 0);
    uint64_t ids[4] = {40, 41, 7, 3};
    nn_pass pass = {1, 99, 2, ids};
    float *x = cu_rand_floats(4 * 18, 6, -1, 1);
    nn_gradcheck_opts o = {1e-2, 1e-2, 1e-3, 0};
    nn_gradcheck_result res;
    CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, 4, &pass, &o, 2, &res));
    report("dropout", &res);
    free(x);
    nn_layer_free(&l);
}

static void test_dropout_bad_rate(void)
{
    static const char *const kv[] = {"rate", "1", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL(layer_make(&l, "dropout", kv, nn_shape_1d(4), 1, &err),
                    NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rate"));
}

/* ---- batchnorm ---------------------------------------------------------- */

/* x[n, C, HW] with channel c ~ 2c + (c+1) * U(-1, 1) (distinct moments). */
static float *bn_input(size_t n, size_t C, size_t HW, uint64_t seed)
{
    float *x = cu_rand_floats(n * C * HW, seed, -1, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < C; c++)
            for (size_t q = 0; q < HW; q++) {
                float *v = &x[(i * C + c) * HW + q];
                *v = 2.0f * (float)c + (float)(c + 1) * *v;
            }
    return x;
}

/* Mean and biased variance of channel c of v[n, C, HW], in double. */
static void channel_moments(const float *v, size_t n, size_t C, size_t HW,
                            size_t c, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t q = 0; q < HW; q++) s += v[(i * C + c) * HW + q];
    *mean = s / (double)(n * HW);
    for (size_t i = 0; i < n; i++)
        for (size_t q = 0; q < HW; q++) {
            double d = v[(i * C + c) * HW + q] - *mean;
            ss += d * d;
        }
    *var = ss / (double)(n * HW);
}

static void bn_training_case(nn_shape in, size_t n)
{
    static const char *const kv[] = {"momentum", "0.2", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "batchnorm", kv, in, n, &err), 0);
    size_t C = in.dim[0], HW = nn_shape_size(in) / C;
    CU_ASSERT_EQUAL(l.n_views, 4);
    CU_ASSERT_EQUAL(l.views[2].flags, NN_PARAM_BUFFER);
    CU_ASSERT_EQUAL(l.views[3].flags, NN_PARAM_BUFFER);
    float *x = bn_input(n, C, HW, 21);
    float *y = nn_xalloc_floats(n * C * HW);
    nn_pass pass = {1, 0, 0, NULL};
    l.ops->forward(&l, x, y, n, &pass);
    const float *rmean = nn_layer_tensor(&l, 2), *rvar = nn_layer_tensor(&l, 3);
    double cnt = (double)(n * HW);
    for (size_t c = 0; c < C; c++) {
        double ym, yv, xm, xv;
        channel_moments(y, n, C, HW, c, &ym, &yv);
        channel_moments(x, n, C, HW, c, &xm, &xv);
        CU_ASSERT_DOUBLE_EQUAL(ym, 0.0, 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(yv, xv / (xv + 1e-5), 1e-4);
        /* running = 0.8 * init + 0.2 * batch (unbiased variance) */
        CU_ASSERT_DOUBLE_EQUAL(rmean[c], 0.2 * xm, 1e-5 * (1 + fabs(xm)));
        CU_ASSERT_DOUBLE_EQUAL(rvar[c], 0.8 + 0.2 * xv * cnt / (cnt - 1),
                               1e-5 * (1 + xv));
    }
    free(x), free(y);
    nn_layer_free(&l);
}

static void test_bn_training_stats(void)
{
    bn_training_case(nn_shape_3d(3, 4, 5), 6);
    bn_training_case(nn_shape_1d(7), 16);
}

/* Many training steps on one batch: running stats converge to the batch's. */
static void test_bn_running_converges(void)
{
    nn_layer l;
    nn_error err;
    size_t n = 5, C = 2, HW = 9;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "batchnorm", NULL, nn_shape_3d(C, 3, 3), n, &err), 0);
    float *x = bn_input(n, C, HW, 5), *y = nn_xalloc_floats(n * C * HW);
    nn_pass pass = {1, 0, 0, NULL};
    const float *rmean = nn_layer_tensor(&l, 2), *rvar = nn_layer_tensor(&l, 3);
    double prev = 1e30;
    for (int it = 0; it < 200; it++) {
        l.ops->forward(&l, x, y, n, &pass);
        double m, v;
        channel_moments(x, n, C, HW, 1, &m, &v);
        double dist = fabs(rmean[1] - m);
        CU_ASSERT_TRUE(dist <= prev); /* monotone toward the batch mean */
        prev = dist;
    }
    for (size_t c = 0; c < C; c++) {
        double m, v, cnt = (double)(n * HW);
        channel_moments(x, n, C, HW, c, &m, &v);
        CU_ASSERT_DOUBLE_EQUAL(rmean[c], m, 1e-4 * (1 + fabs(m)));
        CU_ASSERT_DOUBLE_EQUAL(rvar[c], v * cnt / (cnt - 1), 1e-4 * (1 + v));
    }
    free(x), free(y);
    nn_layer_free(&l);
}

/* Eval mode uses the running statistics and leaves them unchanged. */
static void test_bn_eval(void)
{
    nn_layer l;
    nn_error err;
    size_t n = 3, C = 2, HW = 4;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "batchnorm", NULL, nn_shape_3d(C, 2, 2), n, &err), 0);
    float *g = nn_layer_tensor(&l, 0), *b = nn_layer_tensor(&l, 1);
    float *rm = nn_layer_tensor(&l, 2), *rv = nn_layer_tensor(&l, 3);
    g[0] = 2, g[1] = -0.5f, b[0] = 0.25f, b[1] = 1;
    rm[0] = 0.5f, rm[1] = -3, rv[0] = 4, rv[1] = 0.25f;
    float *x = bn_input(n, C, HW, 8), y[24];
    nn_pass pass = {0, 0, 0, NULL};
    l.ops->forward(&l, x, y, n, &pass);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < C; c++)
            for (size_t q = 0; q < HW; q++) {
                size_t k = (i * C + c) * HW + q;
                double want = g[c] * (x[k] - rm[c]) / sqrt(rv[c] + 1e-5) + b[c];
                CU_ASSERT_DOUBLE_EQUAL(y[k], want, 1e-5 * (1 + fabs(want)));
            }
    CU_ASSERT_EQUAL(rm[0], 0.5f);
    CU_ASSERT_EQUAL(rv[1], 0.25f);
    nn_gradcheck_opts o = {1e-2, 1e-2, 1e-3, 0};
    nn_gradcheck_result res;
    CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, n, &pass, &o, 4, &res));
    report("batchnorm eval", &res);
    free(x);
    nn_layer_free(&l);
}

static void bn_gradcheck_case(nn_shape in, size_t n)
{
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "batchnorm", NULL, in, n, &err), 0);
    /* non-trivial gamma and beta */
    float *g = nn_layer_tensor(&l, 0), *b = nn_layer_tensor(&l, 1);
    for (size_t c = 0; c < in.dim[0]; c++)
        g[c] = 0.5f + 0.3f * (float)c, b[c] = 0.1f * (float)c - 0.2f;
    size_t C = in.dim[0], HW = nn_shape_size(in) / C;
    float *x = bn_input(n, C, HW, 13);
    nn_pass pass = {1, 0, 0, NULL};
    nn_gradcheck_opts o = {1e-3, 2e-2, 2e-3, 0};
    nn_gradcheck_result res;
    CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, n, &pass, &o, 6, &res));
    CU_ASSERT_TRUE(res.checked >= n * C * HW + 2 * C);
    report("batchnorm", &res);
    free(x);
    nn_layer_free(&l);
}

static void test_bn_gradcheck(void)
{
    bn_gradcheck_case(nn_shape_3d(3, 3, 2), 4);
    bn_gradcheck_case(nn_shape_1d(5), 6);
}

/* ---- shape errors ------------------------------------------------------- */

/* Expect NN_EXIT_USAGE naming the layer and containing every `want`. */
static void expect_usage(const char *type, const char *const *kv, nn_shape in,
                         const char *const *want)
{
    nn_layer l;
    nn_error err;
    memset(&err, 0, sizeof err);
    int rc = layer_make(&l, type, kv, in, 1, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
    if (rc == 0) {
        nn_layer_free(&l);
        return;
    }
    CU_ASSERT_EQUAL(err.code, NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'L1'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "test.yaml:"));
    for (size_t i = 0; want[i]; i++) {
        int found = strstr(err.msg, want[i]) != NULL;
        CU_ASSERT_TRUE(found);
        if (!found) fprintf(stderr, "\n  '%s' not in: %s\n", want[i], err.msg);
    }
}

static void test_shape_errors(void)
{
    static const char *const k5[] = {"filters", "2", "kernel", "5", NULL};
    static const char *const w1[] = {"[5, 5]", "[1, 3, 3]", NULL};
    expect_usage("conv2d", k5, nn_shape_3d(1, 3, 3), w1);
    static const char *const k53[] = {"filters", "2", "kernel", "3,5",
                                      "padding", "1,0", NULL};
    static const char *const w2[] = {"[3, 5]", "[2, 4, 4]", NULL};
    expect_usage("conv2d", k53, nn_shape_3d(2, 4, 4), w2);
    static const char *const w3[] = {"[784]", "3-d", NULL};
    expect_usage("conv2d", k5, nn_shape_1d(784), w3);
    static const char *const kd[] = {"filters", "2", "kernel", "3", "stride",
                                     "2", "algorithm", "direct", NULL};
    static const char *const wd[] = {"algorithm", "stride 1", "[2, 2]", NULL};
    expect_usage("conv2d", kd, nn_shape_3d(1, 8, 8), wd);
    static const char *const ka[] = {"filters", "2", "kernel", "3",
                                     "algorithm", "fft", NULL};
    static const char *const wa[] = {"algorithm", "fft", NULL};
    expect_usage("conv2d", ka, nn_shape_3d(1, 8, 8), wa);
    static const char *const p3[] = {"size", "3", NULL};
    static const char *const w4[] = {"[3, 3]", "[2, 2, 5]", NULL};
    expect_usage("maxpool2d", p3, nn_shape_3d(2, 2, 5), w4);
    static const char *const w4b[] = {"[3, 3]", "[2, 5, 2]", NULL};
    expect_usage("avgpool2d", p3, nn_shape_3d(2, 5, 2), w4b);
    static const char *const w5[] = {"[10]", NULL};
    expect_usage("maxpool2d", p3, nn_shape_1d(10), w5);
    static const char *const w6[] = {"[4, 5]", NULL};
    expect_usage("batchnorm", NULL, nn_shape_2d(4, 5), w6);
    /* missing required keys and typos are usage errors too */
    static const char *const nof[] = {"kernel", "3", NULL};
    static const char *const w7[] = {"filters", NULL};
    expect_usage("conv2d", nof, nn_shape_3d(1, 5, 5), w7);
    static const char *const typo[] = {"filters", "2", "kernel", "3",
                                       "strides", "2", NULL};
    static const char *const w8[] = {"strides", NULL};
    expect_usage("conv2d", typo, nn_shape_3d(1, 5, 5), w8);
    static const char *const zero[] = {"filters", "2", "kernel", "0", NULL};
    static const char *const w9[] = {"kernel", NULL};
    expect_usage("conv2d", zero, nn_shape_3d(1, 5, 5), w9);
}

/* The padded input may exactly fit the kernel: 3x3 + padding 1 vs 5x5. */
static void test_kernel_fits_padding(void)
{
    static const char *const kv[] = {"filters", "2", "kernel", "5",
                                     "padding", "1", NULL};
    nn_layer l;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(layer_make(&l, "conv2d", kv, nn_shape_3d(1, 3, 3), 1, &err), 0);
    CU_ASSERT_TRUE(nn_shape_eq(l.out, nn_shape_3d(2, 1, 1)));
    nn_layer_free(&l);
}

/* ---- a LeNet through the model ------------------------------------------ */

static void test_lenet_model(void)
{
    static const char *const layers[][12] = {
        {"conv2d", "filters", "6", "kernel", "5", "padding", "2", NULL},
        {"relu", NULL},
        {"maxpool2d", "size", "2", NULL},
        {"conv2d", "filters", "16", "kernel", "5", NULL},
        {"relu", NULL},
        {"maxpool2d", "size", "2", NULL},
        {"flatten", NULL},
        {"dense", "units", "120", "init", "he", NULL},
        {"batchnorm", NULL},
        {"relu", NULL},
        {"dropout", "rate", "0.25", NULL},
        {"dense", "units", "84", "init", "he", NULL},
        {"relu", NULL},
        {"dense", "units", "10", NULL},
    };
    enum { NL = sizeof layers / sizeof layers[0] };
    nn_spec specs[NL];
    for (size_t i = 0; i < NL; i++) {
        memset(&specs[i], 0, sizeof specs[i]);
        specs[i].type = nn_xstrdup(layers[i][0]);
        specs[i].line = (int)i + 1;
        specs[i].file = "lenet.yaml";
        nn_error err;
        for (size_t k = 1; layers[i][k]; k += 2)
            CU_ASSERT_EQUAL_FATAL(nn_spec_add(&specs[i], layers[i][k],
                                              layers[i][k + 1], 1, &err), 0);
    }
    nn_model *m = NULL;
    nn_error err;
    int rc = nn_model_create(&m, specs, NL, nn_shape_3d(1, 28, 28), &err);
    for (size_t i = 0; i < NL; i++) nn_spec_free(&specs[i]);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(nn_shape_eq(m->layers[2].out, nn_shape_3d(6, 14, 14)));
    CU_ASSERT_TRUE(nn_shape_eq(m->layers[5].out, nn_shape_3d(16, 5, 5)));
    CU_ASSERT_TRUE(nn_shape_eq(nn_model_out_shape(m), nn_shape_1d(10)));
    /* LeNet-5 (padded first conv): 61706 parameters, + 4*120 batchnorm */
    CU_ASSERT_EQUAL(m->n_params, 61706 + 4 * 120);
    nn_model_init(m, 1);
    size_t n = 5;
    nn_model_reserve(m, n);
    float *x = cu_rand_floats(n * 784, 3, 0, 1);
    uint64_t ids[5] = {1, 2, 3, 4, 5};
    nn_pass pass = {1, 1, 0, ids};
    const float *y = nn_model_forward(m, x, n, &pass);
    int finite = 1;
    for (size_t i = 0; i < n * 10; i++) finite &= isfinite(y[i]) != 0;
    CU_ASSERT_TRUE(finite);
    float dout[50];
    for (size_t i = 0; i < 50; i++) dout[i] = 0.01f * (float)(i % 7);
    nn_model_zero_grad(m);
    nn_model_backward(m, x, dout, n);
    /* the first conv's weights received a gradient */
    double g = 0;
    for (size_t i = 0; i < 150; i++) g += fabs(m->layers[0].grad[i]);
    CU_ASSERT_TRUE(g > 0 && isfinite(g));
    free(x);
    nn_model_destroy(m);
}

static const cu_test pool_tests[] = {
    {"maxpool exact 4x4", test_maxpool_exact},
    {"avgpool exact 4x4", test_avgpool_exact},
    {"maxpool ties go to the first", test_maxpool_ties},
    {"maxpool 2x2, wide rows, ties and NaN", test_maxpool_wide_rows},
    {"maxpool second row and backward", test_maxpool_second_row},
    {"maxpool NaN propagates", test_maxpool_nan},
    {"overlapping windows", test_pool_overlap},
    {"pool gradcheck", test_pool_gradcheck},
    {NULL, NULL},
};

/* ---- im2col and col2im on their own ------------------------------------ */

/* col2im against its definition, the scatter of every cols entry to the
 * input position it was read from, and the adjoint identity
 * <im2col(x), c> = <x, col2im(c)>, for two samples side by side (ld = 2P),
 * each in a buffer of exactly the size nn_col2im documents, so that the
 * sanitizer build catches any read outside it. The geometries include
 * every stride-1 case of the vector kernel (rows of 1 to 20 columns,
 * kernels wider than a vector, padding up to S - 1) and the general walk
 * (strides > 1, P < S). */
static void col2im_case(size_t C, size_t H, size_t W, size_t R, size_t S,
                        size_t st, size_t ph, size_t pw)
{
    nn_im2col_geom g = {.C = C, .H = H, .W = W, .R = R, .S = S, .sh = st,
                        .sw = st, .ph = ph, .pw = pw};
    nn_im2col_shape(&g);
    nn_im2col_alloc(&g);
    size_t P = g.P, K = g.K, ld = 2 * P, in = C * H * W;
    for (size_t smp = 0; smp < 2; smp++) {
        size_t n = smp * P + (K - 1) * ld + P + NN_IM2COL_SLACK;
        float *cols = cu_rand_floats(n, 7 + smp, -1, 1);
        float *x = cu_rand_floats(in, 9, -1, 1), *dx = nn_xalloc_floats(in);
        float *xc = nn_xalloc_floats(K * ld + NN_IM2COL_SLACK);
        double *ref = nn_xcalloc(in, sizeof *ref);
        const float *c0 = cols + smp * P;
        nn_col2im(&g, c0, ld, dx);
        nn_im2col(&g, x, xc, ld);
        double lhs = 0, rhs = 0;
        for (size_t k = 0; k < K; k++)
            for (size_t oh = 0; oh < g.OH; oh++)
                for (size_t ow = 0; ow < g.OW; ow++) {
                    size_t c = k / (R * S), r = k / S % R, s = k % S;
                    long ih = (long)(oh * st + r) - (long)ph;
                    long iw = (long)(ow * st + s) - (long)pw;
                    double v = c0[k * ld + oh * g.OW + ow];
                    lhs += v * xc[k * ld + oh * g.OW + ow];
                    if (ih < 0 || iw < 0 || ih >= (long)H || iw >= (long)W)
                        continue;
                    ref[(c * H + (size_t)ih) * W + (size_t)iw] += v;
                }
        size_t bad = 0;
        for (size_t i = 0; i < in; i++) {
            rhs += (double)x[i] * dx[i];
            if (fabs(dx[i] - ref[i]) > 1e-5 * (1 + fabs(ref[i]))) bad++;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_DOUBLE_EQUAL(lhs, rhs, 1e-4 * (1 + fabs(lhs)));
        if (bad)
            fprintf(stderr,
                    "\n  col2im C%zu %zux%zu k%zux%zu st%zu pad%zu,%zu: "
                    "%zu bad\n", C, H, W, R, S, st, ph, pw, bad);
        free(cols), free(x), free(dx), free(xc), free(ref);
    }
    nn_im2col_free(&g);
}

static void test_col2im(void)
{
    for (size_t W = 1; W <= 20; W++)
        for (size_t S = 1; S <= 3; S += 2)
            for (size_t pw = 0; pw < S; pw++)
                if (S <= W + 2 * pw) col2im_case(2, 4, W, 2, S, 1, pw > 0, pw);
    col2im_case(6, 14, 14, 5, 5, 1, 0, 0);   /* LeNet's conv 2 */
    col2im_case(1, 28, 28, 5, 5, 1, 2, 2);   /* LeNet's conv 1 */
    col2im_case(2, 3, 12, 3, 11, 1, 0, 0);   /* kernel wider than a vector */
    col2im_case(1, 5, 5, 5, 5, 1, 0, 0);     /* P = 1 < S: general walk */
    col2im_case(3, 9, 10, 3, 3, 2, 1, 1);    /* stride 2 */
    col2im_case(2, 7, 9, 3, 4, 3, 2, 0);
}

static const cu_test conv_tests[] = {
    {"forward vs reference", test_conv_forward_reference},
    {"forward across chunks", test_conv_forward_chunks},
    {"gradcheck", test_conv_gradcheck},
    {"gradcheck across chunks", test_conv_gradcheck_chunks},
    {"partial batches", test_conv_partial_batches},
    {"gradients accumulate", test_conv_grad_accumulates},
    {"init", test_conv_init},
    {"kernel fits padded input", test_kernel_fits_padding},
    {"col2im: definition, adjoint, bounds", test_col2im},
    {NULL, NULL},
};

static const cu_test misc_tests[] = {
    {"flatten", test_flatten},
    {"dropout eval identity", test_dropout_eval_identity},
    {"dropout training", test_dropout_training},
    {"dropout counter-based mask", test_dropout_counter_based},
    {"dropout layers independent", test_dropout_layers_independent},
    {"dropout gradcheck", test_dropout_gradcheck},
    {"dropout rate 1 rejected", test_dropout_bad_rate},
    {"batchnorm training stats", test_bn_training_stats},
    {"batchnorm running converges", test_bn_running_converges},
    {"batchnorm eval", test_bn_eval},
    {"batchnorm gradcheck", test_bn_gradcheck},
    {NULL, NULL},
};

static const cu_test model_tests[] = {
    {"shape errors", test_shape_errors},
    {"lenet model", test_lenet_model},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"pool", pool_tests},
    {"conv2d", conv_tests},
    {"dropout/batchnorm/flatten", misc_tests},
    {"shapes and model", model_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_cnn", suites);
}

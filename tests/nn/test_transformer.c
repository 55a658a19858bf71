/* tests/nn/test_transformer.c - the layers of a small GPT: layernorm, gelu,
 * position_embedding, attention. Finite-difference checks of every
 * parameter and the input on sequences [T=5, C=8] of several rows, values
 * against hand-computed ones, causality, stability and config errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/gradcheck.h"
#include "nn/layer.h"
#include "nn/model.h"
#include "tests/cu.h"

#define T_ 5
#define C_ 8

/* Make a stand-alone layer; every parameter uniform in [-0.5, 0.5) from
 * seed (so gains and biases differ from their defaults and matter).
 * Returns 0, or the create error (printed when `quiet` is 0). */
static int make(nn_layer *l, const char *type, const char *const *kv,
                nn_shape in, uint64_t seed, int quiet)
{
    int rc = cu_layer_make(l, type, kv, in, quiet);
    if (rc) return rc;
    float *r = cu_rand_floats(l->n_params, seed, -0.5, 0.5);
    memcpy(l->param, r, l->n_params * sizeof *r);
    free(r);
    return 0;
}

/* Gradcheck every parameter and input entry of `type` on n rows of `in`. */
static int gradcheck(const char *type, const char *const *kv, nn_shape in,
                     size_t n)
{
    nn_layer l;
    if (make(&l, type, kv, in, 21, 0) != 0) return 0;
    size_t w = nn_shape_size(in);
    float *x = cu_rand_floats(n * w, 22, -2.0, 2.0);
    nn_gradcheck_result res;
    int ok = nn_gradcheck_layer(&l, x, n, NULL, NULL, 23, &res);
    if (!ok)
        fprintf(stderr, "\n%s: %zu/%zu failed, first %s\n", type, res.failed,
                res.checked, res.where);
    ok = ok && res.checked == l.n_params + n * w;
    free(x);
    nn_layer_free(&l);
    return ok;
}

static void test_layernorm_grad(void)
{
    static const char *const eps[] = {"eps", "1e-3", NULL};
    CU_ASSERT(gradcheck("layernorm", NULL, nn_shape_2d(T_, C_), 3));
    CU_ASSERT(gradcheck("layernorm", eps, nn_shape_1d(C_), 4));
}

/* Row [2, 4] = [1 2 3 4 | -3 0 0 3]. Group 1: mean 2.5, var 1.25, so
 * xhat = (-1.5, -0.5, 0.5, 1.5) / sqrt(1.25 + 1e-5)
 *      = (-1.341635, -0.447212, 0.447212, 1.341635); y = g xhat + b with
 * g = (1, 2, 0.5, -1), b = (0, 1, 0, 0.5). Group 2: mean 0, var 4.5,
 * xhat = (-3, 0, 0, 3) / sqrt(4.5 + 1e-5) = (-1.414212, 0, 0, 1.414212). */
static void test_layernorm_values(void)
{
    nn_layer l;
    CU_ASSERT_FATAL(make(&l, "layernorm", NULL, nn_shape_2d(2, 4), 1, 0) == 0);
    l.ops->init(&l, NULL);
    for (int j = 0; j < 4; j++) CU_ASSERT_EQUAL(l.param[j], 1.0f); /* gain */
    for (int j = 4; j < 8; j++) CU_ASSERT_EQUAL(l.param[j], 0.0f); /* bias */
    const float g[4] = {1, 2, 0.5f, -1}, b[4] = {0, 1, 0, 0.5f};
    memcpy(l.param, g, sizeof g);
    memcpy(l.param + 4, b, sizeof b);
    const float x[8] = {1, 2, 3, 4, -3, 0, 0, 3};
    const double want[8] = {-1.341635,       -0.447212 * 2 + 1, 0.447212 * 0.5,
                            -1.341635 + 0.5, -1.414212,         1.0,
                            0.0,             -1.414212 + 0.5};
    float y[8];
    nn_layer_reserve(&l, 1);
    l.ops->forward(&l, x, y, 1, NULL);
    for (int j = 0; j < 8; j++) CU_ASSERT_DOUBLE_EQUAL(y[j], want[j], 2e-6);
    /* A constant group has no spread: xhat = 0 and y = b, not NaN. */
    const float flat[8] = {7, 7, 7, 7, 1e6f, 1e6f, 1e6f, 1e6f};
    l.ops->forward(&l, flat, y, 1, NULL);
    for (int j = 0; j < 8; j++) CU_ASSERT_DOUBLE_EQUAL(y[j], b[j % 4], 1e-6);
    nn_layer_free(&l);
}

static void test_gelu_grad(void)
{
    CU_ASSERT(gradcheck("gelu", NULL, nn_shape_2d(T_, C_), 3));
    CU_ASSERT(gradcheck("gelu", NULL, nn_shape_2d(3, 3), 3)); /* 27 values */
}

/* The vector kernel against the formula in double on a sweep of 1001
 * points over [-12, 12], a count that ends in a partial vector: relative
 * error within 3e-6 (for x < 0 the float rounding of u alone moves
 * exp(-2u) by about |2u| ulps, 1e-6 at x = -4), absolute 1e-12 where y
 * is tiny. The reference is x / (1 + exp(-2u)), which equals
 * x/2 (1 + tanh u) but keeps its relative accuracy where 1 + tanh u
 * cancels (x < -5). */
static void test_gelu_sweep(void)
{
    enum { K = 1001 };
    nn_layer l;
    CU_ASSERT_FATAL(make(&l, "gelu", NULL, nn_shape_1d(K), 1, 0) == 0);
    float *x = nn_xalloc_floats(K), *y = nn_xalloc_floats(K);
    for (int i = 0; i < K; i++) x[i] = -12.0f + 24.0f * (float)i / (K - 1);
    l.ops->forward(&l, x, y, 1, NULL);
    size_t bad = 0;
    for (int i = 0; i < K; i++) {
        double v = x[i], s = sqrt(2.0 / 3.14159265358979323846);
        double want = v / (1.0 + exp(-2.0 * s * (v + 0.044715 * v * v * v)));
        bad += !(fabs(y[i] - want) <= 3e-6 * fabs(want) + 1e-12);
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
    free(y);
    nn_layer_free(&l);
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) worked out in double:
 * x = 1: u = 0.797885 * 1.044715 = 0.833562, tanh u = 0.682384, y = 0.841192. */
static void test_gelu_values(void)
{
    nn_layer l;
    CU_ASSERT_FATAL(make(&l, "gelu", NULL, nn_shape_1d(8), 1, 0) == 0);
    const float x[8] = {1, -1, 2, -3, 0.5f, 0, 10, -10};
    const double want[8] = {0.841192, -0.158808, 1.954598, -0.003637,
                            0.345714, 0.0,       10.0,     0.0};
    float y[8];
    l.ops->forward(&l, x, y, 1, NULL);
    for (int j = 0; j < 8; j++) CU_ASSERT_DOUBLE_EQUAL(y[j], want[j], 2e-6);
    nn_layer_free(&l);
}

static void test_position_embedding(void)
{
    CU_ASSERT(gradcheck("position_embedding", NULL, nn_shape_2d(T_, C_), 3));
    nn_layer l;
    CU_ASSERT_FATAL(make(&l, "position_embedding", NULL, nn_shape_2d(2, 3), 4,
                         0) == 0);
    CU_ASSERT_EQUAL(l.n_params, 6);
    const float x[12] = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6};
    float y[12];
    l.ops->forward(&l, x, y, 2, NULL);
    for (int i = 0; i < 12; i++)
        CU_ASSERT_EQUAL(y[i], x[i] + l.param[i % 6]); /* the same table */
    nn_layer_free(&l);
    /* It needs a sequence: a flat vector is a config error. */
    CU_ASSERT_EQUAL(make(&l, "position_embedding", NULL, nn_shape_1d(8), 4, 1),
                    NN_EXIT_USAGE);
}

static void test_attention_grad(void)
{
    static const char *const two[] = {"heads", "2", NULL};
    static const char *const one[] = {"heads", "1", NULL};
    static const char *const hs3[] = {"heads", "3", "head_size", "3", NULL};
    static const char *const nob[] = {"heads", "4", "bias", "false", NULL};
    CU_ASSERT(gradcheck("attention", two, nn_shape_2d(T_, C_), 3));
    CU_ASSERT(gradcheck("attention", one, nn_shape_2d(T_, C_), 2));
    CU_ASSERT(gradcheck("attention", hs3, nn_shape_2d(T_, C_), 2));
    CU_ASSERT(gradcheck("attention", nob, nn_shape_2d(T_, C_), 2));
    CU_ASSERT(gradcheck("attention", two, nn_shape_2d(1, 4), 3)); /* T = 1 */
}

static void test_attention_params(void)
{
    static const char *const hs3[] = {"heads", "3", "head_size", "3", NULL};
    static const char *const nob[] = {"heads", "2", "bias", "false", NULL};
    nn_layer l;
    CU_ASSERT_FATAL(make(&l, "attention", hs3, nn_shape_2d(T_, C_), 1, 0) == 0);
    CU_ASSERT_EQUAL(l.n_views, 4);
    CU_ASSERT_EQUAL(l.views[0].count, 27 * 8); /* Wqkv [3*9, 8] */
    CU_ASSERT_EQUAL(l.views[0].flags, NN_PARAM_DECAY);
    CU_ASSERT_EQUAL(l.views[1].count, 27);
    CU_ASSERT_EQUAL(l.views[2].count, 8 * 9); /* Wo [8, 9] */
    CU_ASSERT_EQUAL(l.views[3].count, 8);
    CU_ASSERT(nn_shape_eq(l.out, l.in));
    nn_layer_free(&l);
    CU_ASSERT_FATAL(make(&l, "attention", nob, nn_shape_2d(T_, C_), 1, 0) == 0);
    CU_ASSERT_EQUAL(l.n_views, 2);
    CU_ASSERT_EQUAL(l.n_params, 3 * 8 * 8 + 8 * 8);
    nn_layer_free(&l);
}

static void test_attention_config_errors(void)
{
    static const char *const three[] = {"heads", "3", NULL};
    static const char *const zero[] = {"heads", "0", NULL};
    static const char *const two[] = {"heads", "2", NULL};
    nn_layer l;
    /* 3 heads do not divide C = 8 without head_size. */
    CU_ASSERT_EQUAL(make(&l, "attention", three, nn_shape_2d(T_, C_), 1, 1),
                    NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(make(&l, "attention", zero, nn_shape_2d(T_, C_), 1, 1),
                    NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(make(&l, "attention", NULL, nn_shape_2d(T_, C_), 1, 1),
                    NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(make(&l, "attention", two, nn_shape_1d(C_), 1, 1),
                    NN_EXIT_USAGE);
}

/* Changing step t of a row changes no output of that row before t, and no
 * output of another row; it does change step t and the later steps. */
static void test_attention_causal(void)
{
    static const char *const two[] = {"heads", "2", NULL};
    enum { N = 3, W = T_ * C_ };
    nn_layer l;
    CU_ASSERT_FATAL(make(&l, "attention", two, nn_shape_2d(T_, C_), 5, 0) == 0);
    nn_layer_reserve(&l, N);
    float *x = cu_rand_floats(N * W, 6, -1.0, 1.0);
    float y0[N * W], y1[N * W];
    l.ops->forward(&l, x, y0, N, NULL);
    for (size_t t = 0; t < T_; t++) {
        float saved[C_];
        float *step = x + W + t * C_; /* row 1, step t */
        memcpy(saved, step, sizeof saved);
        for (size_t c = 0; c < C_; c++) step[c] += 0.5f * (float)(c % 3) - 0.4f;
        l.ops->forward(&l, x, y1, N, NULL);
        memcpy(step, saved, sizeof saved);
        for (size_t i = 0; i < N * W; i++) {
            size_t row = i / W, s = (i % W) / C_;
            if (row != 1 || s < t) CU_ASSERT_EQUAL(y1[i], y0[i]);
        }
        for (size_t s = t; s < T_; s++) {
            double d = 0;
            for (size_t c = 0; c < C_; c++)
                d += fabs(y1[W + s * C_ + c] - y0[W + s * C_ + c]);
            CU_ASSERT(d > 1e-3); /* step s >= t does see step t */
        }
    }
    free(x);
    nn_layer_free(&l);
}

/* Scores of 1e4 and more: a softmax without the max subtracted overflows
 * expf; this one gives finite outputs and gradients. */
static void test_attention_large_scores(void)
{
    static const char *const two[] = {"heads", "2", NULL};
    enum { N = 2, W = T_ * C_ };
    nn_layer l;
    CU_ASSERT_FATAL(make(&l, "attention", two, nn_shape_2d(T_, C_), 7, 0) == 0);
    nn_layer_reserve(&l, N);
    float *x = cu_rand_floats(N * W, 8, -300.0, 300.0);
    float y[N * W], dy[N * W], dx[N * W];
    for (size_t i = 0; i < N * W; i++) dy[i] = 1.0f;
    l.ops->forward(&l, x, y, N, NULL);
    l.ops->backward(&l, x, y, dy, dx, N);
    size_t bad = 0;
    for (size_t i = 0; i < N * W; i++) bad += !isfinite(y[i]) + !isfinite(dx[i]);
    for (size_t i = 0; i < l.n_params; i++) bad += !isfinite(l.grad[i]);
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
    nn_layer_free(&l);
}

/* backward ADDS parameter gradients (twice = 2x once), and dx = NULL
 * leaves them the same. */
static void test_attention_accumulates(void)
{
    static const char *const two[] = {"heads", "2", NULL};
    enum { N = 2, W = T_ * C_ };
    nn_layer l;
    CU_ASSERT_FATAL(make(&l, "attention", two, nn_shape_2d(T_, C_), 9, 0) == 0);
    nn_layer_reserve(&l, N);
    float *x = cu_rand_floats(N * W, 10, -1.0, 1.0);
    float *dy = cu_rand_floats(N * W, 11, -1.0, 1.0);
    float y[N * W], dx[N * W];
    float *once = nn_xalloc_floats(l.n_params);
    l.ops->forward(&l, x, y, N, NULL);
    l.ops->backward(&l, x, y, dy, dx, N);
    memcpy(once, l.grad, l.n_params * sizeof *once);
    l.ops->backward(&l, x, y, dy, NULL, N);
    size_t off = 0, zero = 0;
    for (size_t i = 0; i < l.n_params; i++) {
        off += fabsf(l.grad[i] - 2.0f * once[i]) > 1e-5f * (1 + fabsf(once[i]));
        zero += once[i] == 0.0f;
    }
    CU_ASSERT_EQUAL(off, 0);
    CU_ASSERT_EQUAL(zero, 0);
    free(once);
    free(dy);
    free(x);
    nn_layer_free(&l);
}

/* A pre-norm block's layers as one model over [T, C]: shapes chain, the
 * model's shared scratch is large enough (ASan watches) and every layer
 * gets a gradient. */
static void test_block_in_model(void)
{
    static const char *const heads[] = {"heads", "2", NULL};
    static const char *const td[] = {"units", "16", "time_distributed", "true",
                                     NULL};
    nn_spec specs[6];
    cu_spec_make(&specs[0], NULL, "position_embedding", NULL);
    cu_spec_make(&specs[1], NULL, "layernorm", NULL);
    cu_spec_make(&specs[2], NULL, "attention", heads);
    cu_spec_make(&specs[3], NULL, "layernorm", NULL);
    cu_spec_make(&specs[4], NULL, "dense", td);
    cu_spec_make(&specs[5], NULL, "gelu", NULL);
    nn_model *m = NULL;
    nn_error err = {0, ""};
    int rc = nn_model_create(&m, specs, 6, nn_shape_2d(T_, C_), &err);
    for (int i = 0; i < 6; i++) nn_spec_free(&specs[i]);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT(nn_shape_eq(nn_model_out_shape(m), nn_shape_2d(T_, 16)));
    enum { N = 4 };
    nn_model_init(m, 3);
    nn_model_reserve(m, N);
    float *x = cu_rand_floats(N * T_ * C_, 12, -1.0, 1.0);
    float *dy = cu_rand_floats(N * T_ * 16, 13, -1.0, 1.0);
    float *dx = nn_xalloc_floats(N * T_ * C_);
    nn_model_zero_grad(m);
    nn_model_forward(m, x, N, NULL);
    nn_model_backward_input(m, x, dy, N, dx);
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        double s = 0;
        for (size_t j = 0; j < l->n_params; j++) s += fabs(l->grad[j]);
        CU_ASSERT(l->n_params == 0 || (isfinite(s) && s > 0));
    }
    double s = 0;
    for (size_t i = 0; i < N * T_ * C_; i++) s += fabs(dx[i]);
    CU_ASSERT(isfinite(s) && s > 0);
    free(x);
    free(dy);
    free(dx);
    nn_model_destroy(m);
}

static const cu_test layer_tests[] = {
    {"layernorm gradients", test_layernorm_grad},
    {"layernorm values", test_layernorm_values},
    {"gelu gradients", test_gelu_grad},
    {"gelu values", test_gelu_values},
    {"gelu against the formula in double", test_gelu_sweep},
    {"position_embedding", test_position_embedding},
    {"attention gradients", test_attention_grad},
    {"attention parameters", test_attention_params},
    {"attention config errors", test_attention_config_errors},
    {"attention is causal", test_attention_causal},
    {"attention with large scores", test_attention_large_scores},
    {"attention backward accumulates", test_attention_accumulates},
    {"a transformer block in a model", test_block_in_model},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"transformer layers", layer_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_transformer", suites);
}

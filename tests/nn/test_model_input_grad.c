/* tests/nn/test_model_input_grad.c - the gradient of a whole model with
 * respect to its INPUT (nn_model_backward_input), which a GAN's generator
 * step backpropagates through the discriminator: checked against central
 * differences of L = sum(r * model(x)) for fixed random r, through dense,
 * conv and frozen layers; plus the leaky_relu layer's gradient check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/gradcheck.h"
#include "nn/model.h"
#include "tests/cu.h"

/* ---- helpers ---- */

typedef struct layer_def {
    const char *type;
    const char *kv[9]; /* key, value pairs, NULL-terminated */
} layer_def;

static int model_from(nn_model **m, const layer_def *defs, size_t n,
                      nn_shape in)
{
    nn_spec *s = nn_xcalloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].type = nn_xstrdup(defs[i].type);
        s[i].file = "net.yaml";
        s[i].line = (int)(i + 1);
        for (int k = 0; defs[i].kv[k]; k += 2)
            CU_ASSERT_FATAL(nn_spec_add(&s[i], defs[i].kv[k], defs[i].kv[k + 1],
                                        s[i].line, NULL) == 0);
    }
    nn_error err = {0, ""};
    int rc = nn_model_create(m, s, n, in, &err);
    if (rc) fprintf(stderr, "model_from: %s\n", err.msg);
    for (size_t i = 0; i < n; i++) nn_spec_free(&s[i]);
    free(s);
    return rc;
}

/* L(x) = sum_i r_i y_i(x), accumulated in double. */
static double objective(nn_model *m, const float *x, size_t n, const float *r)
{
    const float *y = nn_model_forward(m, x, n, NULL);
    size_t w = nn_shape_size(nn_model_out_shape(m));
    double L = 0;
    for (size_t i = 0; i < n * w; i++) L += (double)r[i] * y[i];
    return L;
}

/* Compare backward_input's dx with (L(x+h) - L(x-h)) / 2h at every input
 * element; returns the number of mismatches (|a-n| > atol + rtol*scale). */
static size_t check_input_grad(nn_model *m, size_t n, uint64_t seed,
                               float fudge, double *worst)
{
    size_t in = nn_shape_size(m->in);
    size_t out = nn_shape_size(nn_model_out_shape(m));
    nn_model_reserve(m, n);
    float *x = cu_rand_floats(n * in, seed, -1.0, 1.0);
    float *r = cu_rand_floats(n * out, seed + 1, -1.0, 1.0);
    float *dx = nn_xalloc_floats(n * in);
    /* dx is written, not added: garbage in it must not matter */
    for (size_t i = 0; i < n * in; i++) dx[i] = NAN;
    nn_model_zero_grad(m);
    nn_model_forward(m, x, n, NULL);
    nn_model_backward_input(m, x, r, n, dx);
    for (size_t i = 0; i < n * in; i++) dx[i] *= fudge; /* 1 but in one test */
    const double h = 1e-2, atol = 2e-3, rtol = 2e-2;
    size_t bad = 0;
    *worst = 0;
    for (size_t i = 0; i < n * in; i++) {
        float keep = x[i];
        x[i] = keep + (float)h;
        double up = objective(m, x, n, r);
        x[i] = keep - (float)h;
        double down = objective(m, x, n, r);
        x[i] = keep;
        double num = (up - down) / (2 * h), a = dx[i];
        double d = fabs(a - num);
        if (!(d <= *worst)) *worst = d;
        if (!(d <= atol + rtol * fmax(fabs(a), fabs(num)))) bad++;
    }
    free(x);
    free(r);
    free(dx);
    return bad;
}

/* ---- tests ---- */

static const layer_def mlp[] = {
    {"dense", {"units", "7", NULL}},
    {"leaky_relu", {"slope", "0.2", NULL}},
    {"dense", {"units", "5", NULL}},
    {"tanh", {NULL}},
    {"dense", {"units", "1", NULL}},
};

static void test_dense_input_grad(void)
{
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, mlp, 5, nn_shape_1d(6)) == 0);
    nn_model_init(m, 3);
    double worst;
    size_t bad = check_input_grad(m, 4, 11, 1.0f, &worst);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(worst < 1e-3);
    if (bad) fprintf(stderr, "dense: %zu mismatches, worst %g\n", bad, worst);
    nn_model_destroy(m);
}

/* Shaped input through conv2d and flatten: dx has the input's layout. */
static void test_conv_input_grad(void)
{
    static const layer_def conv[] = {
        {"conv2d", {"filters", "2", "kernel", "3", "padding", "1", NULL}},
        {"tanh", {NULL}}, /* smooth: a step of h never crosses a kink */
        {"flatten", {NULL}},
        {"dense", {"units", "3", NULL}},
    };
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, conv, 4, nn_shape_3d(1, 5, 5)) == 0);
    nn_model_init(m, 5);
    double worst;
    size_t bad = check_input_grad(m, 2, 21, 1.0f, &worst);
    CU_ASSERT_EQUAL(bad, 0);
    if (bad) fprintf(stderr, "conv: %zu mismatches, worst %g\n", bad, worst);
    nn_model_destroy(m);
}

/* A frozen first layer is skipped by nn_model_backward but not by
 * backward_input (the input gradient passes through it); the trainable
 * layers' parameter gradients are the same either way, bit for bit. */
static void test_frozen_and_param_grads(void)
{
    static const layer_def frozen[] = {
        {"dense", {"units", "7", "trainable", "false", NULL}},
        {"leaky_relu", {NULL}},
        {"dense", {"units", "5", NULL}},
        {"tanh", {NULL}},
        {"dense", {"units", "1", NULL}},
    };
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, frozen, 5, nn_shape_1d(6)) == 0);
    nn_model_init(m, 3);
    double worst;
    CU_ASSERT_EQUAL(check_input_grad(m, 3, 31, 1.0f, &worst), 0);

    size_t n = 3, P = m->n_params;
    float *x = cu_rand_floats(n * 6, 41, -1.0, 1.0);
    float *r = cu_rand_floats(n, 42, -1.0, 1.0);
    float *dx = nn_xalloc_floats(n * 6);
    float *g1 = nn_xalloc_floats(P);
    nn_model_zero_grad(m);
    nn_model_forward(m, x, n, NULL);
    nn_model_backward(m, x, r, n);
    memcpy(g1, m->grads, P * sizeof *g1);
    nn_model_zero_grad(m);
    nn_model_forward(m, x, n, NULL);
    nn_model_backward_input(m, x, r, n, dx);
    size_t first = m->layers[0].n_params; /* the frozen layer's block */
    CU_ASSERT(first > 0 && first < P);
    CU_ASSERT(memcmp(g1 + first, m->grads + first, (P - first) * sizeof *g1) == 0);
    free(x);
    free(r);
    free(dx);
    free(g1);
    nn_model_destroy(m);
}

/* The check must be able to fail: a dx 10% off is caught. */
static void test_check_can_fail(void)
{
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, mlp, 5, nn_shape_1d(6)) == 0);
    nn_model_init(m, 3);
    double worst;
    CU_ASSERT(check_input_grad(m, 4, 11, 1.1f, &worst) > 0);
    nn_model_destroy(m);
}

/* dx is linear in dout: doubling dout doubles dx exactly (a power of two
 * scales every float product exactly). */
static void test_linear_in_dout(void)
{
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, mlp, 5, nn_shape_1d(6)) == 0);
    nn_model_init(m, 3);
    size_t n = 2, in = 6;
    nn_model_reserve(m, n);
    float *x = cu_rand_floats(n * in, 51, -1.0, 1.0);
    float *r = cu_rand_floats(n, 52, -1.0, 1.0);
    float *r2 = nn_xalloc_floats(n);
    float *dx = nn_xalloc_floats(n * in), *dx2 = nn_xalloc_floats(n * in);
    for (size_t i = 0; i < n; i++) r2[i] = 2 * r[i];
    nn_model_forward(m, x, n, NULL);
    nn_model_backward_input(m, x, r, n, dx);
    nn_model_forward(m, x, n, NULL);
    nn_model_backward_input(m, x, r2, n, dx2);
    size_t diff = 0, nonzero = 0;
    for (size_t i = 0; i < n * in; i++) {
        diff += dx2[i] != 2 * dx[i];
        nonzero += dx[i] != 0;
    }
    CU_ASSERT_EQUAL(diff, 0);
    CU_ASSERT(nonzero > 0);
    free(x);
    free(r);
    free(r2);
    free(dx);
    free(dx2);
    nn_model_destroy(m);
}

/* ---- leaky_relu ---- */

static int make_leaky(nn_layer *l, const char *slope, nn_error *err)
{
    nn_spec s;
    memset(&s, 0, sizeof s);
    s.type = nn_xstrdup("leaky_relu");
    s.name = nn_xstrdup("lr");
    s.file = "test.yaml";
    s.line = 1;
    if (slope) CU_ASSERT_FATAL(nn_spec_add(&s, "slope", slope, 2, NULL) == 0);
    int rc = nn_layer_make(l, &s, nn_shape_1d(10), err);
    nn_spec_free(&s);
    return rc;
}

static void test_leaky_relu(void)
{
    nn_layer l;
    nn_error err = {0, ""};
    CU_ASSERT_FATAL(make_leaky(&l, NULL, &err) == 0);
    nn_layer_reserve(&l, 3);
    float x[30], y[30];
    for (size_t i = 0; i < 30; i++) x[i] = (float)i / 4.0f - 3.6f;
    l.ops->forward(&l, x, y, 3, NULL);
    for (size_t i = 0; i < 30; i++)
        CU_ASSERT_EQUAL(y[i], x[i] > 0 ? x[i] : 0.2f * x[i]); /* default */
    /* inputs kept away from the kink at 0 */
    float *xg = cu_rand_floats(30, 7, -2.0, 2.0);
    for (size_t i = 0; i < 30; i++)
        if (fabsf(xg[i]) < 0.05f) xg[i] = 0.5f;
    nn_gradcheck_result res;
    nn_pass pass = {0, 0, 0, NULL};
    CU_ASSERT(nn_gradcheck_layer(&l, xg, 3, &pass, NULL, 9, &res));
    CU_ASSERT(res.checked > 0);
    nn_layer_free(&l);

    CU_ASSERT_FATAL(make_leaky(&l, "0", &err) == 0); /* plain relu */
    nn_layer_reserve(&l, 3);
    CU_ASSERT(nn_gradcheck_layer(&l, xg, 3, &pass, NULL, 9, &res));
    l.ops->forward(&l, x, y, 3, NULL);
    for (size_t i = 0; i < 30; i++) CU_ASSERT_EQUAL(y[i], x[i] > 0 ? x[i] : 0.0f);
    nn_layer_free(&l);
    free(xg);

    CU_ASSERT_EQUAL(make_leaky(&l, "1", &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "slope"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "test.yaml:2"));
    CU_ASSERT_EQUAL(make_leaky(&l, "-0.1", &err), NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(make_leaky(&l, "steep", &err), NN_EXIT_USAGE);
}

static const cu_test input_tests[] = {
    {"dense model: dx against differences", test_dense_input_grad},
    {"conv model: dx against differences", test_conv_input_grad},
    {"frozen layer: dx through it, same param grads", test_frozen_and_param_grads},
    {"a wrong dx fails the check", test_check_can_fail},
    {"dx is linear in dout", test_linear_in_dout},
    {NULL, NULL},
};

static const cu_test leaky_tests[] = {
    {"values, gradcheck, slope range", test_leaky_relu},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"model input gradient", input_tests},
    {"leaky_relu", leaky_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_model_input_grad", suites);
}

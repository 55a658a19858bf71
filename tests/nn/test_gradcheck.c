/* tests/nn/test_gradcheck.c - finite-difference checks of every core
 * layer and loss, proof that the checker can fail, and loss values
 * against direct formulas. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/gradcheck.h"
#include "nn/layer.h"
#include "nn/loss.h"
#include "tests/cu.h"

/* Make a layer, fill its params from seed, and random inputs x whose
 * magnitude is at least `away` (keeps relu away from its kink). */
static int make_layer(nn_layer *l, const char *type, const char *const *kv,
                      nn_shape in, uint64_t seed)
{
    nn_spec s;
    nn_error err = {0, ""};
    cu_spec_make(&s, "t", type, kv);
    int rc = nn_layer_make(l, &s, in, &err);
    nn_spec_free(&s);
    if (rc) {
        fprintf(stderr, "make_layer: %s\n", err.msg);
        return rc;
    }
    nn_rng r;
    nn_rng_seed(&r, seed);
    if (l->ops->init) l->ops->init(l, &r);
    /* Non-zero biases too, so they matter to the check. */
    for (size_t v = 1; v < l->n_views; v++) {
        float *t = nn_layer_tensor(l, v);
        for (size_t i = 0; i < l->views[v].count; i++)
            t[i] = (float)(nn_rng_uniform(&r) - 0.5);
    }
    return 0;
}

static float *random_input(size_t count, uint64_t seed, double scale,
                           double away)
{
    float *x = nn_xalloc_floats(count);
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (size_t i = 0; i < count; i++) {
        double u = (2.0 * nn_rng_uniform(&r) - 1.0) * scale;
        if (fabs(u) < away) u = u < 0 ? u - away : u + away;
        x[i] = (float)u;
    }
    return x;
}

/* Gradcheck a layer kind on shape `in` with n rows; returns pass. */
static int check_layer(const char *type, const char *const *kv, nn_shape in,
                       size_t n, double away, size_t *checked)
{
    nn_layer l;
    if (make_layer(&l, type, kv, in, 11) != 0) return 0;
    float *x = random_input(n * nn_shape_size(in), 12, 2.0, away);
    nn_gradcheck_result res;
    nn_pass pass = {1, 1, 0, NULL};
    int ok = nn_gradcheck_layer(&l, x, n, &pass, NULL, 13, &res);
    if (!ok)
        fprintf(stderr, "\n%s: %zu/%zu failed, first %s\n", type, res.failed,
                res.checked, res.where);
    if (checked) *checked = res.checked;
    free(x);
    nn_layer_free(&l);
    return ok;
}

static void test_dense(void)
{
    static const char *const k3[] = {"units", "2", NULL};
    static const char *const k5nb[] = {"units", "5", "bias", "false", NULL};
    static const char *const k6he[] = {"units", "6", "init", "he", NULL};
    static const char *const k1[] = {"units", "1", NULL};
    size_t checked = 0;
    CU_ASSERT(check_layer("dense", k3, nn_shape_1d(3), 4, 0, &checked));
    CU_ASSERT_EQUAL(checked, 2 * 3 + 2 + 4 * 3); /* W, b, x: all entries */
    CU_ASSERT(check_layer("dense", k5nb, nn_shape_1d(7), 3, 0, &checked));
    CU_ASSERT_EQUAL(checked, 5 * 7 + 3 * 7);
    /* Any input shape is flat to a dense layer. */
    CU_ASSERT(check_layer("dense", k6he, nn_shape_3d(2, 3, 4), 2, 0, &checked));
    CU_ASSERT_EQUAL(checked, 6 * 24 + 6 + 2 * 24);
    CU_ASSERT(check_layer("dense", k1, nn_shape_1d(1), 1, 0, NULL));
    CU_ASSERT(check_layer("dense", k1, nn_shape_1d(16), 9, 0, NULL));
}

static void test_dense_no_bias_params(void)
{
    static const char *const kv[] = {"units", "4", "bias", "false", NULL};
    nn_layer l;
    CU_ASSERT_FATAL(make_layer(&l, "dense", kv, nn_shape_1d(3), 1) == 0);
    CU_ASSERT_EQUAL(l.n_views, 1);
    CU_ASSERT_EQUAL(l.n_params, 12);
    CU_ASSERT_EQUAL(l.views[0].flags, NN_PARAM_DECAY);
    nn_layer_free(&l);
}

static void test_activations(void)
{
    /* relu inputs stay >= 0.05 from 0, well beyond h = 1e-3. */
    CU_ASSERT(check_layer("relu", NULL, nn_shape_1d(10), 5, 0.05, NULL));
    CU_ASSERT(check_layer("sigmoid", NULL, nn_shape_1d(10), 5, 0, NULL));
    CU_ASSERT(check_layer("tanh", NULL, nn_shape_2d(3, 4), 3, 0, NULL));
    CU_ASSERT(check_layer("softmax", NULL, nn_shape_1d(7), 4, 0, NULL));
    CU_ASSERT(check_layer("softmax", NULL, nn_shape_2d(3, 5), 2, 0, NULL));
}

static void test_softmax_last_dim(void)
{
    nn_layer l;
    CU_ASSERT_FATAL(make_layer(&l, "softmax", NULL, nn_shape_2d(3, 4), 1) == 0);
    float *x = random_input(2 * 12, 5, 50.0, 0); /* large logits */
    float y[24];
    nn_layer_reserve(&l, 2);
    l.ops->forward(&l, x, y, 2, NULL);
    for (int g = 0; g < 6; g++) {
        double s = 0;
        for (int j = 0; j < 4; j++) s += y[g * 4 + j];
        CU_ASSERT_DOUBLE_EQUAL(s, 1.0, 1e-6);
    }
    free(x);
    nn_layer_free(&l);
}

/* backward ADDS parameter gradients: two backwards give twice one. */
static void test_dense_accumulates(void)
{
    static const char *const kv[] = {"units", "3", NULL};
    nn_layer l;
    CU_ASSERT_FATAL(make_layer(&l, "dense", kv, nn_shape_1d(4), 3) == 0);
    nn_layer_reserve(&l, 2);
    float *x = random_input(2 * 4, 4, 1.0, 0);
    float y[6], dy[6] = {1, -2, 0.5f, 3, 0.25f, -1}, dx[8];
    l.ops->forward(&l, x, y, 2, NULL);
    l.ops->backward(&l, x, y, dy, dx, 2);
    float once[15];
    CU_ASSERT_FATAL(l.n_params == 15);
    memcpy(once, l.grad, sizeof once);
    l.ops->backward(&l, x, y, dy, NULL, 2); /* dx may be NULL */
    size_t nonzero = 0;
    for (int i = 0; i < 15; i++) {
        CU_ASSERT_DOUBLE_EQUAL(l.grad[i], 2.0f * once[i], 1e-6);
        nonzero += once[i] != 0.0f;
    }
    CU_ASSERT(nonzero == 15);
    /* bias gradient = column sums of dy */
    CU_ASSERT_DOUBLE_EQUAL(once[12], 1 + 3, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(once[14], 0.5 - 1, 1e-6);
    free(x);
    nn_layer_free(&l);
}

/* A dense layer whose backward is 10% too large: the checker must say no. */
static void wrong_backward(nn_layer *l, const float *x, const float *y,
                           const float *dy, float *dx, size_t n)
{
    nn_layer_find("dense")->backward(l, x, y, dy, dx, n);
    for (size_t i = 0; i < l->n_params; i++) l->grad[i] *= 1.1f;
    if (dx)
        for (size_t i = 0; i < n * nn_shape_size(l->in); i++) dx[i] *= 1.1f;
}

static void test_checker_fails_on_wrong_backward(void)
{
    static const char *const kv[] = {"units", "3", NULL};
    nn_layer l;
    CU_ASSERT_FATAL(make_layer(&l, "dense", kv, nn_shape_1d(4), 3) == 0);
    nn_layer_ops fake = *l.ops;
    fake.backward = wrong_backward;
    l.ops = &fake;
    float *x = random_input(5 * 4, 4, 1.0, 0);
    nn_gradcheck_result res;
    CU_ASSERT_FALSE(nn_gradcheck_layer(&l, x, 5, NULL, NULL, 1, &res));
    CU_ASSERT_FALSE(res.pass);
    CU_ASSERT(res.failed > res.checked / 2);
    CU_ASSERT(res.where[0] != '\0');
    /* The same layer with the real backward passes. */
    l.ops = nn_layer_find("dense");
    CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, 5, NULL, NULL, 1, &res));
    CU_ASSERT_EQUAL(res.failed, 0);
    free(x);
    nn_layer_free(&l);
}

static void test_max_checks(void)
{
    static const char *const kv[] = {"units", "50", NULL};
    nn_layer l;
    CU_ASSERT_FATAL(make_layer(&l, "dense", kv, nn_shape_1d(40), 3) == 0);
    float *x = random_input(3 * 40, 4, 1.0, 0);
    nn_gradcheck_opts o = {0, 0, 0, 10};
    nn_gradcheck_result res;
    CU_ASSERT(nn_gradcheck_layer(&l, x, 3, NULL, &o, 1, &res));
    CU_ASSERT_EQUAL(res.checked, 30); /* weight, bias, input: 10 each */
    free(x);
    nn_layer_free(&l);
}

/* ---- losses ---- */

static void fill(float *v, size_t n, uint64_t seed, double lo, double hi)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * nn_rng_uniform(&r));
}

static int check_loss(const char *name, const float *pred, const float *t,
                      size_t n, size_t dim)
{
    const nn_loss_ops *loss = nn_loss_find(name);
    if (!loss) return 0;
    nn_gradcheck_result res;
    int ok = nn_gradcheck_loss(loss, pred, t, n, dim, NULL, &res);
    if (!ok)
        fprintf(stderr, "\n%s: %zu/%zu failed, first %s\n", name, res.failed,
                res.checked, res.where);
    return ok && res.checked == n * dim;
}

static void test_loss_mse(void)
{
    float p[4 * 3], t[4 * 3];
    fill(p, 12, 1, -2, 2);
    fill(t, 12, 2, -2, 2);
    CU_ASSERT(check_loss("mse", p, t, 4, 3));
    CU_ASSERT(check_loss("mse", p, t, 12, 1));
}

static void test_loss_cross_entropy(void)
{
    float p[5 * 4];
    fill(p, 20, 3, -3, 3);
    float t[5] = {0, 3, NN_LABEL_NONE, 1, 2};
    CU_ASSERT(check_loss("cross_entropy", p, t, 5, 4));
}

static void test_loss_bce(void)
{
    float p[3 * 4], t[3 * 4];
    fill(p, 12, 4, -4, 4);
    fill(t, 12, 5, 0, 1); /* soft targets */
    t[0] = 0;
    t[1] = 1;
    CU_ASSERT(check_loss("bce", p, t, 3, 4));
}

/* mse with a gradient 10% too large: the loss checker must say no. */
static void wrong_mse(const float *pred, const float *target, size_t n,
                      size_t dim, float scale, float *dpred, nn_loss_stats *st)
{
    nn_loss_find("mse")->eval(pred, target, n, dim, scale, dpred, st);
    if (dpred)
        for (size_t i = 0; i < n * dim; i++) dpred[i] *= 1.1f;
}

static void test_loss_checker_fails(void)
{
    nn_loss_ops fake = *nn_loss_find("mse");
    fake.eval = wrong_mse;
    float p[6], t[6];
    fill(p, 6, 6, -2, 2);
    fill(t, 6, 7, -2, 2);
    nn_gradcheck_result res;
    CU_ASSERT_FALSE(nn_gradcheck_loss(&fake, p, t, 2, 3, NULL, &res));
    CU_ASSERT(res.failed > 0);
}

/* ---- loss values against direct formulas ---- */

static void test_ce_values(void)
{
    const nn_loss_ops *ce = nn_loss_find("cross_entropy");
    CU_ASSERT_FATAL(ce != NULL);
    CU_ASSERT(ce->classifier);
    CU_ASSERT_EQUAL(ce->target_width(10), 1);
    float z[3 * 3] = {1, 2, 3, 0, 0, 0, 1000, -1000, 0};
    float t[3] = {2, NN_LABEL_NONE, 0};
    float dz[9];
    for (int j = 0; j < 9; j++) dz[j] = 7.0f; /* must all be written */
    nn_loss_stats st;
    ce->eval(z, t, 3, 3, 0.5f, dz, &st);
    double l0 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
    CU_ASSERT_DOUBLE_EQUAL(st.sum, l0 + 0.0, 1e-5); /* row 3: ~0, finite */
    CU_ASSERT_EQUAL(st.counted, 2);
    CU_ASSERT_EQUAL(st.correct, 2);
    double s = exp(1.0) + exp(2.0) + exp(3.0);
    CU_ASSERT_DOUBLE_EQUAL(dz[0], 0.5 * exp(1.0) / s, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dz[2], 0.5 * (exp(3.0) / s - 1.0), 1e-6);
    for (int j = 3; j < 6; j++) CU_ASSERT_EQUAL(dz[j], 0.0f); /* skipped */
    for (int j = 6; j < 9; j++) CU_ASSERT(isfinite(dz[j]));
    /* A wrong argmax is not counted correct; huge logit against the label
     * gives a finite, large loss. */
    float z2[3] = {1000, -1000, 0}, t2[1] = {1};
    ce->eval(z2, t2, 1, 3, 1.0f, NULL, &st);
    CU_ASSERT_EQUAL(st.correct, 0);
    CU_ASSERT_DOUBLE_EQUAL(st.sum, 2000.0, 1e-2);
}

static void test_bce_values(void)
{
    const nn_loss_ops *bce = nn_loss_find("bce");
    CU_ASSERT_FATAL(bce != NULL);
    float z[4] = {0.5f, -1.5f, 200.0f, -200.0f}, t[4] = {1, 0, 0, 0};
    nn_loss_stats st;
    bce->eval(z, t, 1, 4, 1.0f, NULL, &st);
    double s0 = 1 / (1 + exp(-0.5)), s1 = 1 / (1 + exp(1.5));
    double want = (-log(s0) - log(1 - s1) + 200.0 + 0.0) / 4.0;
    CU_ASSERT_DOUBLE_EQUAL(st.sum, want, 1e-4);
    CU_ASSERT_EQUAL(st.correct, 0); /* element 3 wrong: (200 > 0) vs t=0 */
    z[2] = -3;
    bce->eval(z, t, 1, 4, 1.0f, NULL, &st);
    CU_ASSERT_EQUAL(st.correct, 1);
}

static void test_mse_values(void)
{
    const nn_loss_ops *mse = nn_loss_find("mse");
    CU_ASSERT_FATAL(mse != NULL);
    CU_ASSERT_FALSE(mse->classifier);
    CU_ASSERT_EQUAL(mse->target_width(3), 3);
    float p[4] = {1, 2, 3, 4}, t[4] = {0, 0, 3, 2}, d[4];
    nn_loss_stats st;
    mse->eval(p, t, 2, 2, 0.25f, d, &st);
    CU_ASSERT_DOUBLE_EQUAL(st.sum, (1 + 4) / 2.0 + (0 + 4) / 2.0, 1e-9);
    CU_ASSERT_EQUAL(st.counted, 2);
    CU_ASSERT_DOUBLE_EQUAL(d[1], 0.25 * 2 * 2 / 2.0, 1e-7);
    CU_ASSERT(nn_loss_find("nope") == NULL);
}

static void test_softmax_rows(void)
{
    float z[6] = {1000, 1001, 1002, -5, 0, 5};
    nn_softmax_rows(z, z, 2, 3); /* aliasing allowed */
    double s = exp(0.0) + exp(1.0) + exp(2.0);
    CU_ASSERT_DOUBLE_EQUAL(z[2], exp(2.0) / s, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(z[0] + z[1] + z[2], 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(z[3] + z[4] + z[5], 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(z[5], exp(5.0) / (exp(-5.0) + 1 + exp(5.0)), 1e-6);
}

static const cu_test layer_tests[] = {
    {"dense shapes, with and without bias", test_dense},
    {"dense without bias has one tensor", test_dense_no_bias_params},
    {"dense backward accumulates", test_dense_accumulates},
    {"relu sigmoid tanh softmax", test_activations},
    {"softmax over the last dimension", test_softmax_last_dim},
    {"checker fails on a wrong backward", test_checker_fails_on_wrong_backward},
    {"max_checks samples entries", test_max_checks},
    {NULL, NULL},
};

static const cu_test loss_tests[] = {
    {"mse", test_loss_mse},
    {"cross_entropy with an unlabelled row", test_loss_cross_entropy},
    {"bce with soft targets", test_loss_bce},
    {"checker fails on a wrong loss gradient", test_loss_checker_fails},
    {"cross_entropy values, stability, counts", test_ce_values},
    {"bce values and stability", test_bce_values},
    {"mse values", test_mse_values},
    {"softmax rows", test_softmax_rows},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"layer gradients", layer_tests},
    {"losses", loss_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_gradcheck", suites);
}

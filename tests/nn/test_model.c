/* tests/nn/test_model.c - the model: shape inference, parameter counts,
 * arena layout, errors that name the config line, determinism, init
 * statistics, whole-model gradients, and a small MLP that learns.
 * Also the spec getters and the core error/check helpers. */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/error.h"
#include "nn/init.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "tests/cu.h"

#define PI 3.14159265358979323846

/* ---- helpers ---- */

typedef struct layer_def {
    const char *type;
    const char *kv[9]; /* key, value pairs, NULL-terminated */
} layer_def;

/* Specs from defs, as the config reader would make them: layer i's
 * `type:` on line 10*(i+1), its keys on the following lines. */
static nn_spec *specs_make(const layer_def *defs, size_t n)
{
    nn_spec *s = nn_xcalloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].type = nn_xstrdup(defs[i].type);
        s[i].file = "net.yaml";
        s[i].line = (int)(10 * (i + 1));
        for (int k = 0; defs[i].kv[k]; k += 2)
            CU_ASSERT_FATAL(nn_spec_add(&s[i], defs[i].kv[k], defs[i].kv[k + 1],
                                        s[i].line + 1 + k / 2, NULL) == 0);
    }
    return s;
}

static void specs_free(nn_spec *s, size_t n)
{
    for (size_t i = 0; i < n; i++) nn_spec_free(&s[i]);
    free(s);
}

static int model_from(nn_model **m, const layer_def *defs, size_t n,
                      nn_shape in, nn_error *err)
{
    nn_spec *s = specs_make(defs, n);
    int rc = nn_model_create(m, s, n, in, err);
    specs_free(s, n);
    return rc;
}

static const layer_def mlp[] = {
    {"dense", {"units", "256", "init", "he", NULL}},
    {"relu", {NULL}},
    {"dense", {"units", "128", "init", "he", NULL}},
    {"relu", {NULL}},
    {"dense", {"units", "10", NULL}},
};
#define N_MLP (sizeof mlp / sizeof mlp[0])

/* ---- shapes and layout ---- */

static void test_mlp_shapes_and_counts(void)
{
    nn_model *m = NULL;
    nn_error err = {0, ""};
    CU_ASSERT_FATAL(model_from(&m, mlp, N_MLP, nn_shape_1d(784), &err) == 0);
    CU_ASSERT_EQUAL(m->n_layers, 5);
    CU_ASSERT_EQUAL(m->n_params, 235146);
    CU_ASSERT_EQUAL(m->n_params, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    CU_ASSERT(nn_shape_eq(m->layers[0].out, nn_shape_1d(256)));
    CU_ASSERT(nn_shape_eq(m->layers[1].in, nn_shape_1d(256)));
    CU_ASSERT(nn_shape_eq(m->layers[3].out, nn_shape_1d(128)));
    CU_ASSERT(nn_shape_eq(nn_model_out_shape(m), nn_shape_1d(10)));
    CU_ASSERT_STRING_EQUAL(m->layers[0].name, "dense_1");
    CU_ASSERT_STRING_EQUAL(m->layers[3].name, "relu_2");
    CU_ASSERT_EQUAL(nn_model_find_layer(m, "dense_3"), 4);
    CU_ASSERT_EQUAL(nn_model_find_layer(m, "dense_9"), -1);
    char buf[64];
    CU_ASSERT_STRING_EQUAL(nn_shape_str(nn_shape_3d(6, 28, 28), buf, sizeof buf),
                           "[6, 28, 28]");
    nn_model_destroy(m);
}

static void test_arena_layout(void)
{
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, mlp, N_MLP, nn_shape_1d(784), NULL) == 0);
    CU_ASSERT_EQUAL_FATAL(m->n_segs, 6);
    size_t end = 0;
    for (size_t k = 0; k < m->n_segs; k++) {
        CU_ASSERT_EQUAL(m->segs[k].offset, end); /* no gaps, arena order */
        CU_ASSERT_EQUAL(m->segs[k].flags, k % 2 == 0 ? NN_PARAM_DECAY : 0u);
        CU_ASSERT(m->segs[k].trainable);
        end += m->segs[k].count;
    }
    CU_ASSERT_EQUAL(end, m->n_params);
    size_t k = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        CU_ASSERT(l->grad - m->grads == l->param - m->params);
        for (size_t v = 0; v < l->n_views; v++, k++) {
            CU_ASSERT(nn_layer_tensor(l, v) == m->params + m->segs[k].offset);
            CU_ASSERT(nn_layer_grad_tensor(l, v) == m->grads + m->segs[k].offset);
            CU_ASSERT_EQUAL(l->views[v].count, m->segs[k].count);
        }
    }
    CU_ASSERT_EQUAL(k, m->n_segs);
    CU_ASSERT(((uintptr_t)m->params & 63) == 0);
    CU_ASSERT(((uintptr_t)m->grads & 63) == 0);
    nn_model_destroy(m);
}

/* ---- errors ---- */

static void expect_error(const layer_def *defs, size_t n, const char *const *parts)
{
    nn_model *m = (nn_model *)1;
    nn_error err = {0, ""};
    int rc = model_from(&m, defs, n, nn_shape_1d(4), &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(err.code, NN_EXIT_USAGE);
    CU_ASSERT(m == NULL);
    for (int i = 0; parts[i]; i++) {
        int found = strstr(err.msg, parts[i]) != NULL;
        if (!found) fprintf(stderr, "\nmissing '%s' in: %s\n", parts[i], err.msg);
        CU_ASSERT(found);
    }
}

static void test_unknown_type(void)
{
    static const layer_def d[] = {{"dense", {"units", "3", NULL}}, {"conv3d", {NULL}}};
    static const char *const parts[] = {"net.yaml:20:", "conv3d", "dense", "relu", NULL};
    expect_error(d, 2, parts);
}

static void test_unknown_key(void)
{
    static const layer_def d[] = {
        {"relu", {NULL}},
        {"dense", {"units", "3", "activation", "relu", NULL}},
    };
    /* keys of layer 2: units on line 21, activation on line 22 */
    static const char *const parts[] = {"net.yaml:22:", "layer 'dense_1' (dense)",
                                        "unknown key 'activation'", NULL};
    expect_error(d, 2, parts);
}

static void test_bad_values(void)
{
    static const layer_def missing[] = {{"dense", {NULL}}};
    static const char *const p1[] = {"net.yaml:10:", "units", "missing", NULL};
    expect_error(missing, 1, p1);
    static const layer_def junk[] = {{"dense", {"units", "12x", NULL}}};
    static const char *const p2[] = {"net.yaml:11:", "units", "'12x'", NULL};
    expect_error(junk, 1, p2);
    static const layer_def neg[] = {{"dense", {"units", "-3", NULL}}};
    static const char *const p3[] = {"units", "'-3'", NULL};
    expect_error(neg, 1, p3);
    static const layer_def zero[] = {{"dense", {"units", "0", NULL}}};
    static const char *const p4[] = {"units", "out of range", NULL};
    expect_error(zero, 1, p4);
    static const layer_def init[] = {{"dense", {"units", "2", "init", "glorot", NULL}}};
    static const char *const p5[] = {"init", "'glorot'", "xavier, he, zeros, normal", NULL};
    expect_error(init, 1, p5);
    static const layer_def bias[] = {{"dense", {"units", "2", "bias", "maybe", NULL}}};
    static const char *const p6[] = {"bias", "'maybe'", NULL};
    expect_error(bias, 1, p6);
}

static void test_duplicate_names_and_empty(void)
{
    nn_spec *s = specs_make(mlp, 2);
    s[0].name = nn_xstrdup("a");
    s[1].name = nn_xstrdup("a");
    nn_model *m = NULL;
    nn_error err = {0, ""};
    CU_ASSERT_EQUAL(nn_model_create(&m, s, 2, nn_shape_1d(3), &err), NN_EXIT_USAGE);
    CU_ASSERT(strstr(err.msg, "duplicate") != NULL);
    specs_free(s, 2);
    CU_ASSERT_EQUAL(nn_model_create(&m, NULL, 0, nn_shape_1d(3), &err), NN_EXIT_USAGE);
}

/* ---- determinism and init ---- */

static void test_forward_deterministic(void)
{
    nn_model *a = NULL, *b = NULL, *c = NULL;
    CU_ASSERT_FATAL(model_from(&a, mlp, N_MLP, nn_shape_1d(784), NULL) == 0);
    CU_ASSERT_FATAL(model_from(&b, mlp, N_MLP, nn_shape_1d(784), NULL) == 0);
    CU_ASSERT_FATAL(model_from(&c, mlp, N_MLP, nn_shape_1d(784), NULL) == 0);
    nn_model_init(a, 5);
    nn_model_init(b, 5);
    nn_model_init(c, 6);
    CU_ASSERT(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a->params, c->params, a->n_params * sizeof(float)) != 0);
    const size_t n = 16;
    float *x = nn_xalloc_floats(n * 784);
    nn_rng r;
    nn_rng_seed(&r, 3);
    for (size_t i = 0; i < n * 784; i++) x[i] = (float)nn_rng_uniform(&r);
    nn_model_reserve(a, n);
    nn_model_reserve(b, 2 * n);
    const float *ya = nn_model_forward(a, x, n, NULL);
    const float *yb = nn_model_forward(b, x, n, NULL);
    CU_ASSERT(memcmp(ya, yb, n * 10 * sizeof(float)) == 0);
    float first = ya[0];
    for (size_t i = 0; i < n * 10; i++) CU_ASSERT_FATAL(isfinite(ya[i]));
    ya = nn_model_forward(a, x, n, NULL); /* forward again: same answer */
    CU_ASSERT_EQUAL(ya[0], first);
    CU_ASSERT_EQUAL(nn_model_hash(a), nn_model_hash(c));
    nn_model_destroy(a);
    nn_model_destroy(b);
    nn_model_destroy(c);
    free(x);
}

static void test_hash_architecture(void)
{
    layer_def d[N_MLP];
    memcpy(d, mlp, sizeof d);
    nn_model *a = NULL, *b = NULL, *c = NULL;
    CU_ASSERT_FATAL(model_from(&a, d, N_MLP, nn_shape_1d(784), NULL) == 0);
    d[2].kv[1] = "129";
    CU_ASSERT_FATAL(model_from(&b, d, N_MLP, nn_shape_1d(784), NULL) == 0);
    CU_ASSERT_FATAL(model_from(&c, mlp, N_MLP, nn_shape_1d(785), NULL) == 0);
    CU_ASSERT(nn_model_hash(a) != nn_model_hash(b));
    CU_ASSERT(nn_model_hash(a) != nn_model_hash(c));
    nn_model_destroy(a);
    nn_model_destroy(b);
    nn_model_destroy(c);
}

static void moments(const float *w, size_t n, double *mean, double *var,
                    double *maxabs)
{
    double s = 0, q = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        s += w[i];
        q += (double)w[i] * w[i];
        if (fabs(w[i]) > mx) mx = fabs(w[i]);
    }
    *mean = s / n;
    *var = q / n - *mean * *mean;
    *maxabs = mx;
}

static void test_init_statistics(void)
{
    const size_t fi = 1000, fo = 800, n = fi * fo;
    float *w = nn_xalloc_floats(n);
    nn_rng r;
    double mean, var, mx;
    nn_rng_seed(&r, 1);
    nn_init_fill(w, n, fi, fo, NN_INIT_HE, &r);
    moments(w, n, &mean, &var, &mx);
    CU_ASSERT(fabs(var / (2.0 / fi) - 1) < 0.01);
    CU_ASSERT(fabs(mean) < 1e-4);
    nn_init_fill(w, n, fi, fo, NN_INIT_XAVIER, &r);
    moments(w, n, &mean, &var, &mx);
    CU_ASSERT(fabs(var / (2.0 / (fi + fo)) - 1) < 0.01);
    CU_ASSERT(mx <= sqrt(6.0 / (fi + fo)));
    CU_ASSERT(mx > 0.99 * sqrt(6.0 / (fi + fo)));
    nn_init_fill(w, n, fi, fo, NN_INIT_NORMAL, &r);
    moments(w, n, &mean, &var, &mx);
    CU_ASSERT(fabs(sqrt(var) / 0.02 - 1) < 0.01);
    nn_init_fill(w, n, fi, fo, NN_INIT_ZEROS, &r);
    moments(w, n, &mean, &var, &mx);
    CU_ASSERT_EQUAL(mx, 0.0);
    free(w);

    /* Through the model: He weights by key, zero biases. */
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, mlp, N_MLP, nn_shape_1d(784), NULL) == 0);
    nn_model_init(m, 9);
    moments(m->params + m->segs[0].offset, m->segs[0].count, &mean, &var, &mx);
    CU_ASSERT(fabs(var / (2.0 / 784) - 1) < 0.03);
    moments(m->params + m->segs[1].offset, m->segs[1].count, &mean, &var, &mx);
    CU_ASSERT_EQUAL(mx, 0.0);
    moments(m->params + m->segs[4].offset, m->segs[4].count, &mean, &var, &mx);
    CU_ASSERT(mx <= sqrt(6.0 / 138) && mx > 0.8 * sqrt(6.0 / 138)); /* xavier */
    nn_model_destroy(m);
}

/* ---- whole-model gradients ---- */

static double model_loss(nn_model *m, const float *x, const float *t, size_t n)
{
    nn_loss_stats st;
    const float *p = nn_model_forward(m, x, n, NULL);
    nn_loss_find("cross_entropy")->eval(p, t, n, 3, 1.0f, NULL, &st);
    return st.sum;
}

/* Backward through dense/relu/dense/tanh/dense with the ping-pong buffers
 * against central differences; a frozen first layer gets no gradient. */
static void test_model_backward(void)
{
    static const layer_def d[] = {
        {"dense", {"units", "6", "init", "he", NULL}},
        {"relu", {NULL}},
        {"dense", {"units", "5", NULL}},
        {"tanh", {NULL}},
        {"dense", {"units", "3", NULL}},
    };
    for (int frozen = 0; frozen < 2; frozen++) {
        nn_spec *s = specs_make(d, 5);
        if (frozen) nn_spec_add(&s[0], "trainable", "false", 99, NULL);
        nn_model *m = NULL;
        CU_ASSERT_FATAL(nn_model_create(&m, s, 5, nn_shape_1d(4), NULL) == 0);
        specs_free(s, 5);
        CU_ASSERT_EQUAL(m->segs[0].trainable, !frozen);
        nn_model_init(m, 21);
        const size_t n = 7;
        float x[7 * 4], t[7], dout[7 * 3];
        nn_rng r;
        nn_rng_seed(&r, 22);
        for (size_t i = 0; i < n * 4; i++) x[i] = (float)(2 * nn_rng_uniform(&r) - 1);
        for (size_t i = 0; i < n; i++) t[i] = (float)nn_rng_below(&r, 3);
        nn_model_reserve(m, n);
        nn_model_zero_grad(m);
        nn_loss_stats st;
        const float *p = nn_model_forward(m, x, n, NULL);
        nn_loss_find("cross_entropy")->eval(p, t, n, 3, 1.0f, dout, &st);
        nn_model_backward(m, x, dout, n);
        size_t bad = 0, checked = 0, nonzero = 0;
        for (size_t i = 0; i < m->n_params; i++) {
            float saved = m->params[i];
            m->params[i] = saved + 1e-3f;
            double fp = model_loss(m, x, t, n);
            m->params[i] = saved - 1e-3f;
            double fm = model_loss(m, x, t, n);
            m->params[i] = saved;
            double num = (fp - fm) / (2e-3);
            double a = m->grads[i];
            int in_frozen = frozen && i < m->layers[0].n_params;
            if (in_frozen) {
                bad += a != 0.0;
                continue;
            }
            checked++;
            nonzero += fabs(a) > 1e-4;
            if (fabs(a - num) > 2e-3 + 2e-2 * fabs(num)) bad++;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT(nonzero > checked / 2);
        nn_model_destroy(m);
    }
}

/* ---- learning ---- */

/* Two interleaved spirals, class k = 0/1, with small noise. */
static void spiral(float *x, float *t, size_t n, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        int k = (int)(i % 2);
        double u = nn_rng_uniform(&r);
        double rad = 0.1 + 0.9 * u, ang = 3.0 * PI * u + k * PI;
        x[2 * i] = (float)(rad * cos(ang) + 0.02 * nn_rng_normal(&r));
        x[2 * i + 1] = (float)(rad * sin(ang) + 0.02 * nn_rng_normal(&r));
        t[i] = (float)k;
    }
}

static void test_mlp_learns_spiral(void)
{
    static const layer_def d[] = {
        {"dense", {"units", "64", NULL}},
        {"tanh", {NULL}},
        {"dense", {"units", "64", NULL}},
        {"tanh", {NULL}},
        {"dense", {"units", "2", NULL}},
    };
    enum { NT = 512, NV = 400, B = 64 };
    float *x = nn_xalloc_floats(NT * 2), t[NT];
    float *xv = nn_xalloc_floats(NV * 2), tv[NV];
    spiral(x, t, NT, 1);
    spiral(xv, tv, NV, 2); /* held out: other draws of the same spirals */
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, d, 5, nn_shape_1d(2), NULL) == 0);
    nn_model_init(m, 3);
    nn_model_reserve(m, NV);
    nn_optim_cfg cfg = {NN_OPT_ADAM, 0, 0, 0, 0, 0.9f, 0.999f, 1e-8f, 0};
    nn_optim *o = nn_optim_create(&cfg, m->n_params, m->segs, m->n_segs);
    const nn_loss_ops *ce = nn_loss_find("cross_entropy");
    float dout[B * 2];
    nn_loss_stats st;
    for (int epoch = 0; epoch < 300; epoch++)
        for (size_t b0 = 0; b0 < NT; b0 += B) {
            nn_model_zero_grad(m);
            const float *p = nn_model_forward(m, x + 2 * b0, B, NULL);
            ce->eval(p, t + b0, B, 2, 1.0f / B, dout, &st);
            nn_model_backward(m, x + 2 * b0, dout, B);
            nn_optim_step(o, m->params, m->grads, 0.01f);
        }
    const float *p = nn_model_forward(m, xv, NV, NULL);
    ce->eval(p, tv, NV, 2, 1.0f, NULL, &st);
    double acc = (double)st.correct / NV;
    if (acc < 0.97) fprintf(stderr, "\nspiral held-out accuracy %.3f\n", acc);
    CU_ASSERT(acc >= 0.97);
    CU_ASSERT(st.sum / NV < 0.15);
    nn_optim_destroy(o);
    nn_model_destroy(m);
    free(x);
    free(xv);
}

static void test_summary(void)
{
    nn_model *m = NULL;
    CU_ASSERT_FATAL(model_from(&m, mlp, N_MLP, nn_shape_1d(784), NULL) == 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_FATAL(f != NULL);
    nn_model_summary(m, f);
    fclose(f);
    CU_ASSERT(strstr(text, "235146") != NULL);
    CU_ASSERT(strstr(text, "dense_2") != NULL);
    CU_ASSERT(strstr(text, "[128]") != NULL);
    CU_ASSERT(strstr(text, "200960") != NULL); /* first layer's count */
    free(text);
    nn_model_destroy(m);
}

/* ---- spec getters ---- */

static void spec_with(nn_spec *s, const char *key, const char *value)
{
    memset(s, 0, sizeof *s);
    s->type = nn_xstrdup("kind");
    s->name = nn_xstrdup("L");
    s->file = "f.yaml";
    s->line = 3;
    CU_ASSERT_FATAL(nn_spec_add(s, key, value, 4, NULL) == 0);
}

static void test_spec_sizes_and_floats(void)
{
    nn_spec s;
    nn_error err = {0, ""};
    size_t v, vs[3];
    double f;
    spec_with(&s, "k", " 12 ");
    CU_ASSERT_EQUAL(nn_spec_size(&s, "k", 1, 0, 0, 100, &v, &err), 0);
    CU_ASSERT_EQUAL(v, 12);
    CU_ASSERT_EQUAL(nn_spec_size(&s, "k", 1, 0, 13, 100, &v, &err), NN_EXIT_USAGE);
    CU_ASSERT_STRING_EQUAL(err.msg, "f.yaml:4: layer 'L' (kind): k: 12 is out of range [13, 100]");
    CU_ASSERT_EQUAL(nn_spec_size(&s, "absent", 0, 7, 0, 100, &v, &err), 0);
    CU_ASSERT_EQUAL(v, 7);
    CU_ASSERT_EQUAL(nn_spec_size(&s, "absent", 1, 7, 0, 100, &v, &err), NN_EXIT_USAGE);
    CU_ASSERT(strstr(err.msg, "f.yaml:3:") == err.msg); /* the layer's line */
    nn_spec_free(&s);
    static const char *const bad_sizes[] = {"", "1.5", "0x10", "3 4", "+3",
                                            "99999999999999999999999", NULL};
    for (int i = 0; bad_sizes[i]; i++) {
        spec_with(&s, "k", bad_sizes[i]);
        CU_ASSERT_EQUAL(nn_spec_size(&s, "k", 1, 0, 0, (size_t)-1, &v, &err), NN_EXIT_USAGE);
        nn_spec_free(&s);
    }
    spec_with(&s, "k", "2.5e-1");
    CU_ASSERT_EQUAL(nn_spec_float(&s, "k", 1, 0, 0, 1, &f, &err), 0);
    CU_ASSERT_EQUAL(f, 0.25);
    CU_ASSERT_EQUAL(nn_spec_float(&s, "k", 1, 0, 0.5, 1, &f, &err), NN_EXIT_USAGE);
    nn_spec_free(&s);
    static const char *const bad_floats[] = {"", "1.5x", "nan", "inf", "1e999", NULL};
    for (int i = 0; bad_floats[i]; i++) {
        spec_with(&s, "k", bad_floats[i]);
        CU_ASSERT_EQUAL(nn_spec_float(&s, "k", 1, 0, -1e300, 1e300, &f, &err), NN_EXIT_USAGE);
        nn_spec_free(&s);
    }
    spec_with(&s, "k", "5");
    CU_ASSERT_EQUAL(nn_spec_sizes(&s, "k", 1, 0, 1, 9, 2, vs, &err), 0);
    CU_ASSERT(vs[0] == 5 && vs[1] == 5);
    nn_spec_free(&s);
    spec_with(&s, "k", "3, 4,5");
    CU_ASSERT_EQUAL(nn_spec_sizes(&s, "k", 1, 0, 1, 9, 3, vs, &err), 0);
    CU_ASSERT(vs[0] == 3 && vs[1] == 4 && vs[2] == 5);
    CU_ASSERT_EQUAL(nn_spec_sizes(&s, "k", 1, 0, 1, 9, 2, vs, &err), NN_EXIT_USAGE);
    nn_spec_free(&s);
    spec_with(&s, "k", "3,");
    CU_ASSERT_EQUAL(nn_spec_sizes(&s, "k", 1, 0, 1, 9, 2, vs, &err), NN_EXIT_USAGE);
    nn_spec_free(&s);
}

static void test_spec_bool_enum_unused(void)
{
    nn_spec s;
    nn_error err = {0, ""};
    int b, e;
    const char *str;
    static const char *const names[] = {"a", "bb", NULL};
    spec_with(&s, "k", "false");
    CU_ASSERT_EQUAL(nn_spec_bool(&s, "k", 1, 1, &b, &err), 0);
    CU_ASSERT_EQUAL(b, 0);
    CU_ASSERT_EQUAL(nn_spec_enum(&s, "k", names, 0, &e, &err), NN_EXIT_USAGE);
    CU_ASSERT(strstr(err.msg, "a, bb") != NULL);
    CU_ASSERT_EQUAL(nn_spec_enum(&s, "none", names, 1, &e, &err), 0);
    CU_ASSERT_EQUAL(e, 1);
    CU_ASSERT_EQUAL(nn_spec_enum(&s, "none", names, -1, &e, &err), NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(nn_spec_str(&s, "k", 1, NULL, &str, &err), 0);
    CU_ASSERT_STRING_EQUAL(str, "false");
    CU_ASSERT_EQUAL(nn_spec_check_unused(&s, &err), 0);
    /* duplicates are refused; the copy forgets what was read */
    CU_ASSERT_EQUAL(nn_spec_add(&s, "k", "true", 9, &err), NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(nn_spec_add(&s, "extra", "1", 9, &err), 0);
    CU_ASSERT_EQUAL(nn_spec_check_unused(&s, &err), NN_EXIT_USAGE);
    CU_ASSERT_STRING_EQUAL(err.msg, "f.yaml:9: layer 'L' (kind): unknown key 'extra'");
    nn_spec c;
    nn_spec_copy(&c, &s);
    CU_ASSERT_EQUAL(c.n, 2);
    CU_ASSERT_EQUAL(c.kv[0].used, 0);
    CU_ASSERT(c.kv[0].key != s.kv[0].key);
    nn_spec_free(&c);
    nn_spec_free(&s);
    spec_with(&s, "k", "yes please");
    CU_ASSERT_EQUAL(nn_spec_bool(&s, "k", 1, 1, &b, &err), NN_EXIT_USAGE);
    nn_spec_free(&s);
}

/* ---- error and check helpers ---- */

static jmp_buf fatal_jump;
static char fatal_msg[256];
static int fatal_line;

static void catch_fatal(const char *file, int line, const char *msg)
{
    (void)file;
    fatal_line = line;
    snprintf(fatal_msg, sizeof fatal_msg, "%s", msg);
    longjmp(fatal_jump, 1);
}

static void test_check_and_error(void)
{
    nn_set_fatal_hook(catch_fatal);
    volatile int reached = 0;
    volatile int expect_line = 0;
    if (setjmp(fatal_jump) == 0) {
        expect_line = __LINE__ + 1;
        NN_CHECK(1 + 1 == 3, "arithmetic is broken: %d", 42);
        reached = 1;
    }
    nn_set_fatal_hook(NULL);
    CU_ASSERT_FALSE(reached);
    CU_ASSERT_STRING_EQUAL(fatal_msg, "arithmetic is broken: 42");
    CU_ASSERT_EQUAL(fatal_line, expect_line);

    nn_error err;
    CU_ASSERT_EQUAL(nn_error_set(&err, NN_EXIT_DATA, "bad %s", "row"), NN_EXIT_DATA);
    nn_error_prefix(&err, "%s:%d: ", "d.csv", 7);
    CU_ASSERT_STRING_EQUAL(err.msg, "d.csv:7: bad row");
    CU_ASSERT_EQUAL(err.code, NN_EXIT_DATA);
    nn_error_clear(&err);
    CU_ASSERT_EQUAL(err.code, 0);
    CU_ASSERT_STRING_EQUAL(err.msg, "");
    CU_ASSERT_EQUAL(nn_error_set(NULL, 2, "ignored"), 2);

    float *a = nn_xalloc_floats(1000);
    CU_ASSERT(((uintptr_t)a & 63) == 0);
    size_t zeros = 0;
    for (int i = 0; i < 1000; i++) zeros += a[i] == 0.0f;
    CU_ASSERT_EQUAL(zeros, 1000);
    free(a);
}

static const cu_test model_tests[] = {
    {"784-256-128-10 shapes and 235146 params", test_mlp_shapes_and_counts},
    {"arena layout", test_arena_layout},
    {"unknown layer type names the line", test_unknown_type},
    {"unknown key names the line", test_unknown_key},
    {"bad values", test_bad_values},
    {"duplicate names, no layers", test_duplicate_names_and_empty},
    {"forward deterministic for a seed", test_forward_deterministic},
    {"hash follows the architecture", test_hash_architecture},
    {"init statistics", test_init_statistics},
    {"model backward vs differences, frozen layer", test_model_backward},
    {"MLP learns two spirals (held out)", test_mlp_learns_spiral},
    {"summary", test_summary},
    {NULL, NULL},
};

static const cu_test spec_tests[] = {
    {"sizes and floats parse strictly", test_spec_sizes_and_floats},
    {"bool, enum, str, unused keys, copy", test_spec_bool_enum_unused},
    {"check hook and error helpers", test_check_and_error},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"model", model_tests},
    {"spec and core", spec_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_model", suites);
}

/* tests/nn/test_optim.c - every optimizer against a hand-written double
 * reference (PyTorch's update rules) over several steps on a tiny arena,
 * decay only on decayed segments, frozen and buffer segments untouched;
 * and every update path (SGD plain, L2, L1, momentum, Nesterov, Adam,
 * AdamW) against a scalar float loop in the same operation order, value
 * for value, on an arena long enough for the vectorised blocks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/optim.h"
#include "nn/rng.h"
#include "tests/cu.h"

/* Arena of 10: weight [0,4) decayed, bias [4,6) not, frozen weight [6,8),
 * running-stat buffer [8,10). */
#define N 10
static const nn_segment segs[] = {
    {0, 4, NN_PARAM_DECAY, 1},
    {4, 2, 0, 1},
    {6, 2, NN_PARAM_DECAY, 0},
    {8, 2, NN_PARAM_BUFFER, 1},
};
#define NSEG (sizeof segs / sizeof segs[0])
#define STEPS 6

static void start_params(float *w)
{
    for (int i = 0; i < N; i++) w[i] = (float)(0.9 * sin(1.7 * i + 0.3) + (i % 3 == 0 ? -0.2 : 0.1));
}

static void grads_for_step(float *g, int t)
{
    nn_rng r;
    nn_rng_seed(&r, 100 + (uint64_t)t);
    for (int i = 0; i < N; i++) g[i] = (float)(2.0 * nn_rng_uniform(&r) - 1.0);
}

static int seg_of(int i)
{
    for (size_t k = 0; k < NSEG; k++)
        if ((size_t)i >= segs[k].offset && (size_t)i < segs[k].offset + segs[k].count)
            return (int)k;
    return -1;
}

/* The reference: per element, in double, straight from the definitions. */
static void reference(const nn_optim_cfg *c, float lr, double *w)
{
    double m[N] = {0}, v[N] = {0};
    float g32[N];
    for (int t = 1; t <= STEPS; t++) {
        grads_for_step(g32, t);
        for (int i = 0; i < N; i++) {
            const nn_segment *s = &segs[seg_of(i)];
            if (!s->trainable || (s->flags & NN_PARAM_BUFFER)) continue;
            int dec = c->decay_all || (s->flags & NN_PARAM_DECAY);
            double wd = dec ? c->weight_decay : 0, l1 = dec ? c->l1 : 0;
            double sgn = w[i] > 0 ? 1 : (w[i] < 0 ? -1 : 0);
            double g = g32[i] + l1 * sgn;
            if (c->kind != NN_OPT_ADAMW) g += wd * w[i];
            if (c->kind == NN_OPT_SGD) {
                if (c->momentum != 0) {
                    m[i] = (t == 1) ? g : c->momentum * m[i] + g;
                    g = c->nesterov ? g + c->momentum * m[i] : m[i];
                }
                w[i] -= lr * g;
                continue;
            }
            if (c->kind == NN_OPT_ADAMW) w[i] *= 1.0 - lr * wd;
            m[i] = c->beta1 * m[i] + (1 - c->beta1) * g;
            v[i] = c->beta2 * v[i] + (1 - c->beta2) * g * g;
            double mh = m[i] / (1 - pow(c->beta1, t));
            double vh = v[i] / (1 - pow(c->beta2, t));
            w[i] -= lr * mh / (sqrt(vh) + c->eps);
        }
    }
}

/* Run the optimizer STEPS times; compare with the reference. Returns the
 * largest relative error; w_out gets the final params. */
static double run_and_compare(const nn_optim_cfg *c, float lr, float *w_out)
{
    float w[N], g[N], w0[N];
    double ref[N];
    start_params(w);
    memcpy(w0, w, sizeof w);
    for (int i = 0; i < N; i++) ref[i] = w[i];
    nn_optim *o = nn_optim_create(c, N, segs, NSEG);
    for (int t = 1; t <= STEPS; t++) {
        grads_for_step(g, t);
        nn_optim_step(o, w, g, lr);
    }
    CU_ASSERT_EQUAL(o->t, STEPS);
    reference(c, lr, ref);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double e = fabs(w[i] - ref[i]) / (fabs(ref[i]) + 1e-3);
        if (e > worst) worst = e;
    }
    /* Frozen and buffer segments: bit-for-bit unchanged. */
    CU_ASSERT(memcmp(w + 6, w0 + 6, 4 * sizeof(float)) == 0);
    /* The update moved every trainable entry. */
    for (int i = 0; i < 6; i++) CU_ASSERT(w[i] != w0[i]);
    if (w_out) memcpy(w_out, w, sizeof w);
    nn_optim_destroy(o);
    return worst;
}

static nn_optim_cfg sgd_cfg(void)
{
    nn_optim_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = NN_OPT_SGD;
    return c;
}

static nn_optim_cfg adam_cfg(nn_opt_kind k)
{
    nn_optim_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = k;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    return c;
}

static void test_sgd_one_step_by_hand(void)
{
    nn_optim_cfg c = sgd_cfg();
    float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.25f};
    nn_optim *o = nn_optim_create(&c, 2, NULL, 0);
    CU_ASSERT_EQUAL(o->n_slots, 0);
    nn_optim_step(o, w, g, 0.1f);
    CU_ASSERT_DOUBLE_EQUAL(w[0], 0.95, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(w[1], -2.025, 1e-7);
    nn_optim_destroy(o);
}

static void test_sgd(void)
{
    nn_optim_cfg c = sgd_cfg();
    CU_ASSERT(run_and_compare(&c, 0.1f, NULL) < 1e-5);
}

static void test_momentum(void)
{
    nn_optim_cfg c = sgd_cfg();
    c.momentum = 0.9f;
    float a[N], b[N];
    CU_ASSERT(run_and_compare(&c, 0.05f, a) < 1e-5);
    c.nesterov = 1;
    CU_ASSERT(run_and_compare(&c, 0.05f, b) < 1e-5);
    CU_ASSERT(fabsf(a[0] - b[0]) > 1e-3); /* the two rules differ */
}

static void test_nesterov_with_decay(void)
{
    nn_optim_cfg c = sgd_cfg();
    c.momentum = 0.8f;
    c.nesterov = 1;
    c.weight_decay = 0.1f;
    CU_ASSERT(run_and_compare(&c, 0.05f, NULL) < 1e-5);
}

static void test_adam(void)
{
    nn_optim_cfg c = adam_cfg(NN_OPT_ADAM);
    CU_ASSERT(run_and_compare(&c, 0.01f, NULL) < 1e-5);
    c.weight_decay = 0.05f; /* L2 inside the gradient */
    CU_ASSERT(run_and_compare(&c, 0.01f, NULL) < 1e-5);
    nn_optim *o = nn_optim_create(&c, N, segs, NSEG);
    CU_ASSERT_EQUAL(o->n_slots, 2);
    nn_optim_destroy(o);
}

static void test_adamw(void)
{
    nn_optim_cfg c = adam_cfg(NN_OPT_ADAMW);
    c.weight_decay = 0.5f;
    float a[N], b[N];
    CU_ASSERT(run_and_compare(&c, 0.01f, a) < 1e-5);
    c.kind = NN_OPT_ADAM; /* coupled decay gives a different answer */
    CU_ASSERT(run_and_compare(&c, 0.01f, b) < 1e-5);
    CU_ASSERT(fabsf(a[0] - b[0]) > 1e-4);
}

static void test_l1(void)
{
    nn_optim_cfg c = sgd_cfg();
    c.l1 = 0.3f;
    CU_ASSERT(run_and_compare(&c, 0.1f, NULL) < 1e-5);
    nn_optim_cfg a = adam_cfg(NN_OPT_ADAM);
    a.l1 = 0.3f;
    CU_ASSERT(run_and_compare(&a, 0.01f, NULL) < 1e-5);
}

/* Decay reaches the weight segment only, unless decay_all. */
static void test_decay_skips_bias(void)
{
    float w[N], g[N] = {0};
    nn_optim_cfg c = sgd_cfg();
    c.weight_decay = 0.5f;
    start_params(w);
    float w0[N];
    memcpy(w0, w, sizeof w);
    nn_optim *o = nn_optim_create(&c, N, segs, NSEG);
    nn_optim_step(o, w, g, 0.1f); /* zero gradient: only decay moves w */
    for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(w[i], w0[i] * 0.95f, 1e-7);
    CU_ASSERT(memcmp(w + 4, w0 + 4, 6 * sizeof(float)) == 0);
    nn_optim_destroy(o);
    c.decay_all = 1;
    o = nn_optim_create(&c, N, segs, NSEG);
    nn_optim_step(o, w0, g, 0.1f);
    CU_ASSERT_DOUBLE_EQUAL(w0[4], w[4] * 0.95f, 1e-7);
    CU_ASSERT_EQUAL(w0[6], w[6]); /* frozen still untouched */
    CU_ASSERT_EQUAL(w0[8], w[8]); /* buffers never decay */
    nn_optim_destroy(o);
    c.decay_all = 0;
    CU_ASSERT(run_and_compare(&c, 0.1f, NULL) < 1e-5);
    c.decay_all = 1;
    CU_ASSERT(run_and_compare(&c, 0.1f, NULL) < 1e-5);
}

static void test_frozen_bitwise(void)
{
    nn_optim_cfg cfgs[3] = {sgd_cfg(), adam_cfg(NN_OPT_ADAM), adam_cfg(NN_OPT_ADAMW)};
    cfgs[0].momentum = 0.9f;
    for (int k = 0; k < 3; k++) {
        cfgs[k].weight_decay = 0.1f;
        cfgs[k].l1 = 0.01f;
        cfgs[k].decay_all = 1;
        float w[N], w0[N], g[N];
        start_params(w);
        memcpy(w0, w, sizeof w);
        nn_optim *o = nn_optim_create(&cfgs[k], N, segs, NSEG);
        for (int t = 1; t <= STEPS; t++) {
            grads_for_step(g, t);
            nn_optim_step(o, w, g, 0.1f);
        }
        CU_ASSERT(memcmp(w + 6, w0 + 6, 4 * sizeof(float)) == 0);
        for (size_t s = 0; s < o->n_slots; s++)
            for (int i = 6; i < N; i++) CU_ASSERT_EQUAL(o->state[s * N + i], 0.0f);
        nn_optim_destroy(o);
    }
}

/* A longer arena: segments of odd lengths at offsets that are not
 * multiples of 8, so every kernel runs its blocks and its tail. */
#define NL 1000
static const nn_segment long_segs[] = {
    {0, 517, NN_PARAM_DECAY, 1},   {517, 13, 0, 1},
    {530, 301, NN_PARAM_DECAY, 0}, {831, 7, NN_PARAM_BUFFER, 1},
    {838, 162, NN_PARAM_DECAY, 1},
};
#define NLSEG (sizeof long_segs / sizeof long_segs[0])

/* Weights and gradients in [-1, 1) with exact zeros among them (every 11th
 * weight, every 7th gradient), where sign(w) and an L1 step matter. */
static void long_data(float *v, size_t n, uint64_t seed, size_t zero_every)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        v[i] = i % zero_every == 3 ? 0.0f : (float)(2.0 * nn_rng_uniform(&r) - 1.0);
}

/* One step of the update on one segment, a scalar float loop written from
 * the definitions at the top of nn/optim.c, in the same order. */
static void scalar_step(const nn_optim_cfg *c, float lr, float step_size,
                        float inv_bc2, int dec, float *w, const float *g,
                        float *m, float *s, size_t n)
{
    float wd = dec ? c->weight_decay : 0.0f, l1 = dec ? c->l1 : 0.0f;
    float decoupled = c->kind == NN_OPT_ADAMW ? lr * wd : 0.0f;
    if (c->kind == NN_OPT_ADAMW) wd = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float sgn = w[i] > 0.0f ? 1.0f : (w[i] < 0.0f ? -1.0f : 0.0f);
        float gi = g[i] + wd * w[i] + l1 * sgn;
        if (c->kind == NN_OPT_SGD) {
            if (c->momentum == 0.0f) {
                w[i] -= lr * gi;
                continue;
            }
            m[i] = c->momentum * m[i] + gi;
            w[i] -= lr * (c->nesterov ? gi + c->momentum * m[i] : m[i]);
            continue;
        }
        float wi = w[i] - decoupled * w[i];
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * gi;
        s[i] = c->beta2 * s[i] + (1.0f - c->beta2) * gi * gi;
        w[i] = wi - step_size * m[i] / (sqrtf(s[i]) * inv_bc2 + c->eps);
    }
}

/* 5 steps of nn_optim_step and of the scalar loop from the same start;
 * every parameter and state value must be equal (== : the vector code may
 * differ from it only in the sign of a zero). Returns the number of
 * trainable parameters the update moved, to show it did something. */
static size_t check_against_scalar(const nn_optim_cfg *c)
{
    static float w[NL], ref[NL], g[NL], m[NL], s[NL];
    long_data(w, NL, 7, 11);
    memcpy(ref, w, sizeof w);
    memset(m, 0, sizeof m);
    memset(s, 0, sizeof s);
    nn_optim *o = nn_optim_create(c, NL, long_segs, NLSEG);
    for (uint64_t t = 1; t <= 5; t++) {
        float lr = 0.05f / (float)t;
        long_data(g, NL, 100 + t, 7);
        nn_optim_step(o, w, g, lr);
        float step_size = lr, inv_bc2 = 1.0f;
        if (c->kind != NN_OPT_SGD) { /* as nn_optim_step computes them */
            step_size = (float)(lr / (1.0 - pow(c->beta1, (double)t)));
            inv_bc2 = (float)(1.0 / sqrt(1.0 - pow(c->beta2, (double)t)));
        }
        for (size_t k = 0; k < NLSEG; k++) {
            const nn_segment *sg = &long_segs[k];
            if (!sg->trainable || (sg->flags & NN_PARAM_BUFFER)) continue;
            size_t a = sg->offset;
            scalar_step(c, lr, step_size, inv_bc2,
                        c->decay_all || (sg->flags & NN_PARAM_DECAY), ref + a,
                        g + a, m + a, s + a, sg->count);
        }
    }
    size_t bad = 0, moved = 0;
    float w0[NL];
    long_data(w0, NL, 7, 11);
    for (size_t i = 0; i < NL; i++) {
        bad += w[i] != ref[i];
        moved += w[i] != w0[i];
        if (o->n_slots > 0) bad += o->state[i] != m[i];
        if (o->n_slots > 1) bad += o->state[NL + i] != s[i];
    }
    CU_ASSERT_EQUAL(bad, 0);
    if (bad)
        fprintf(stderr, "kind %d momentum %g nesterov %d wd %g l1 %g: %zu values differ\n",
                (int)c->kind, c->momentum, c->nesterov, c->weight_decay, c->l1, bad);
    nn_optim_destroy(o);
    return moved;
}

static void test_every_path_against_scalar(void)
{
    /* The regularisers: none, L2, L1, both; then decay on every segment. */
    static const float reg[][3] = {{0, 0, 0}, {0.1f, 0, 0}, {0, 0.01f, 0},
                                   {0.1f, 0.01f, 0}, {0.1f, 0.01f, 1}};
    size_t trainable = 517 + 13 + 162;
    for (size_t r = 0; r < sizeof reg / sizeof reg[0]; r++) {
        for (int mode = 0; mode < 3; mode++) { /* plain, momentum, Nesterov */
            nn_optim_cfg c = sgd_cfg();
            c.momentum = mode ? 0.9f : 0.0f;
            c.nesterov = mode == 2;
            c.weight_decay = reg[r][0];
            c.l1 = reg[r][1];
            c.decay_all = (int)reg[r][2];
            /* zero weights with no gradient stay put without a regulariser */
            CU_ASSERT(check_against_scalar(&c) + 100 > trainable);
        }
        for (int k = NN_OPT_ADAM; k <= NN_OPT_ADAMW; k++) {
            nn_optim_cfg c = adam_cfg((nn_opt_kind)k);
            c.weight_decay = reg[r][0];
            c.l1 = reg[r][1];
            c.decay_all = (int)reg[r][2];
            CU_ASSERT(check_against_scalar(&c) + 100 > trainable);
        }
    }
}

static void test_kind_names(void)
{
    CU_ASSERT_EQUAL(nn_optim_kind_parse("sgd"), NN_OPT_SGD);
    CU_ASSERT_EQUAL(nn_optim_kind_parse("adam"), NN_OPT_ADAM);
    CU_ASSERT_EQUAL(nn_optim_kind_parse("adamw"), NN_OPT_ADAMW);
    CU_ASSERT_EQUAL(nn_optim_kind_parse("rmsprop"), -1);
    CU_ASSERT_STRING_EQUAL(nn_optim_kind_name(NN_OPT_ADAMW), "adamw");
}

static const cu_test tests[] = {
    {"sgd one step by hand", test_sgd_one_step_by_hand},
    {"sgd", test_sgd},
    {"momentum and nesterov", test_momentum},
    {"nesterov with weight decay", test_nesterov_with_decay},
    {"adam (with and without L2)", test_adam},
    {"adamw decoupled", test_adamw},
    {"l1", test_l1},
    {"decay skips bias unless decay_all", test_decay_skips_bias},
    {"frozen and buffer segments bit-for-bit", test_frozen_bitwise},
    {"every update path against a scalar loop", test_every_path_against_scalar},
    {"kind names", test_kind_names},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"optim", tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_optim", suites);
}

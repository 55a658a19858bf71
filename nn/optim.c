/* nn/optim.c - SGD (momentum, Nesterov), Adam, AdamW over the flat arena
 * (see nn/optim.h). Conventions follow PyTorch:
 *   g'  = g + wd*w (L2; SGD and Adam only) + l1*sign(w)
 *   SGD:      v = mu*v + g';  w -= lr * (nesterov ? g' + mu*v : v)
 *             (no momentum: w -= lr*g')
 *   Adam:     m = b1*m + (1-b1) g';  s = b2*s + (1-b2) g'^2;
 *             w -= lr * (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + eps)
 *   AdamW:    w -= lr*wd*w first (decoupled), then the Adam step on g'.
 * Decay and L1 apply to NN_PARAM_DECAY segments unless decay_all; frozen
 * and NN_PARAM_BUFFER segments are not touched at all. Each segment is
 * updated in one pass. */
#include "nn/optim.h"

#include <math.h>   /* sqrtf, copysignf, pow */
#include <stdlib.h> /* free */
#include <string.h> /* strcmp */

#include "nn/check.h"
#include "nn/simd.h" /* NN_VW, NN_KERNEL */

/* Hyper-parameters of one segment's update. */
typedef struct seg_hp {
    float lr, wd, l1;
} seg_hp;

/* Every update below is one pass over its arrays in blocks of NN_VW: gcc
 * vectorises a fixed-length inner loop at -O2 where it leaves a loop of
 * unknown length scalar (the tail of fewer than NN_VW runs the same
 * element function). Decay and L1 take a second copy of each loop, chosen
 * per segment, so the common case (no regulariser) does not compute
 * g + 0*w + 0*sign(w). The operations and their order are those of the
 * scalar definitions at the top of this file, with no contraction into
 * FMA (-std=c11 keeps -ffp-contract=off), so the results are bitwise
 * those of a scalar loop in every build. sqrtf vectorises because this
 * file is compiled with -fno-math-errno (sqrtf of a negative number need
 * not set errno; the value is the same). */

/* 1 or -1, and 0 with the sign of w for w = +-0 (for NaN: +-1, where
 * the update is NaN anyway through wd*w). Written without a branch, which
 * keeps gcc -O2 from vectorising, and without integer arithmetic, which AVX
 * has not at 256 bits; (w > 0) - (w < 0) would give +0 for -0, which
 * changes no value but the sign of a zero gradient. */
static inline float sign_of(float w)
{
    return copysignf((float)(w != 0.0f), w);
}

/* g' = g + wd*w + l1*sign(w): the gradient with L2 and L1. */
static inline float regularised(float g, float w, seg_hp hp)
{
    return g + hp.wd * w + hp.l1 * sign_of(w);
}

/* SGD without momentum: w -= lr * g'. */
static inline void sgd_elem(float *restrict w, const float *restrict g,
                            size_t i, seg_hp hp, int reg)
{
    float gi = reg ? regularised(g[i], w[i], hp) : g[i];
    w[i] -= hp.lr * gi;
}

NN_KERNEL static void sgd_plain(float *restrict w, const float *restrict g,
                                size_t n, seg_hp hp)
{
    size_t i = 0;
    int reg = hp.wd != 0.0f || hp.l1 != 0.0f;
    if (reg) {
        for (; i + NN_VW <= n; i += NN_VW)
            for (size_t j = 0; j < NN_VW; j++) sgd_elem(w, g, i + j, hp, 1);
    } else {
        for (; i + NN_VW <= n; i += NN_VW)
            for (size_t j = 0; j < NN_VW; j++) sgd_elem(w, g, i + j, hp, 0);
    }
    for (; i < n; i++) sgd_elem(w, g, i, hp, reg);
}

/* v = mu*v + g';  w -= lr * (nesterov ? g' + mu*v : v). */
static inline void momentum_elem(float *restrict w, const float *restrict g,
                                 float *restrict v, size_t i, seg_hp hp,
                                 float mu, int nesterov, int reg)
{
    float gi = reg ? regularised(g[i], w[i], hp) : g[i];
    float vi = mu * v[i] + gi;
    v[i] = vi;
    w[i] -= hp.lr * (nesterov ? gi + mu * vi : vi);
}

/* The four loops: Nesterov or not, regularised or not. */
#define MOMENTUM_BLOCKS(nesterov, reg)                                       \
    for (; i + NN_VW <= n; i += NN_VW)                                       \
        for (size_t j = 0; j < NN_VW; j++)                                   \
            momentum_elem(w, g, v, i + j, hp, mu, nesterov, reg)

NN_KERNEL static void sgd_momentum(float *restrict w, const float *restrict g,
                                   float *restrict v, size_t n, seg_hp hp,
                                   float mu, int nesterov)
{
    size_t i = 0;
    int reg = hp.wd != 0.0f || hp.l1 != 0.0f;
    if (nesterov && reg) MOMENTUM_BLOCKS(1, 1);
    else if (nesterov) MOMENTUM_BLOCKS(1, 0);
    else if (reg) MOMENTUM_BLOCKS(0, 1);
    else MOMENTUM_BLOCKS(0, 0);
    for (; i < n; i++) momentum_elem(w, g, v, i, hp, mu, nesterov, reg);
}
#undef MOMENTUM_BLOCKS

/* Adam's constants for one step: step_size = lr / (1 - b1^t), inv_bc2 =
 * 1/sqrt(1-b2^t); decoupled = lr*wd for AdamW (0 otherwise, when hp.wd
 * carries L2). */
typedef struct adam_hp {
    float b1, b2, eps, step_size, inv_bc2, decoupled;
} adam_hp;

static inline void adam_elem(float *restrict w, const float *restrict g,
                             float *restrict m, float *restrict s, size_t i,
                             seg_hp hp, adam_hp a, int reg)
{
    float wi = w[i];
    float gi = reg ? regularised(g[i], wi, hp) : g[i];
    if (reg) wi -= a.decoupled * wi;
    float mi = a.b1 * m[i] + (1.0f - a.b1) * gi;
    float si = a.b2 * s[i] + (1.0f - a.b2) * gi * gi;
    m[i] = mi;
    s[i] = si;
    w[i] = wi - a.step_size * mi / (sqrtf(si) * a.inv_bc2 + a.eps);
}

NN_KERNEL static void adam(float *restrict w, const float *restrict g,
                           float *restrict m, float *restrict s, size_t n,
                           seg_hp hp, adam_hp a)
{
    size_t i = 0;
    int reg = hp.wd != 0.0f || hp.l1 != 0.0f || a.decoupled != 0.0f;
    if (reg) {
        for (; i + NN_VW <= n; i += NN_VW)
            for (size_t j = 0; j < NN_VW; j++) adam_elem(w, g, m, s, i + j, hp, a, 1);
    } else {
        for (; i + NN_VW <= n; i += NN_VW)
            for (size_t j = 0; j < NN_VW; j++) adam_elem(w, g, m, s, i + j, hp, a, 0);
    }
    for (; i < n; i++) adam_elem(w, g, m, s, i, hp, a, reg);
}

nn_optim *nn_optim_create(const nn_optim_cfg *cfg, size_t n_params,
                          const nn_segment *segs, size_t n_segs)
{
    NN_CHECK(cfg->kind == NN_OPT_SGD || cfg->kind == NN_OPT_ADAM ||
                 cfg->kind == NN_OPT_ADAMW,
             "optim: unknown kind %d", (int)cfg->kind);
    if (cfg->kind != NN_OPT_SGD)
        NN_CHECK(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f && cfg->beta2 >= 0.0f &&
                     cfg->beta2 < 1.0f && cfg->eps > 0.0f,
                 "optim: Adam needs beta1, beta2 in [0,1) and eps > 0");
    for (size_t k = 0; k < n_segs; k++)
        NN_CHECK(segs[k].offset + segs[k].count <= n_params,
                 "optim: segment %zu beyond the %zu parameters", k, n_params);
    nn_optim *o = nn_xcalloc(1, sizeof *o);
    o->cfg = *cfg;
    o->n = n_params;
    o->n_slots = cfg->kind == NN_OPT_SGD ? (cfg->momentum != 0.0f ? 1 : 0) : 2;
    o->state = o->n_slots ? nn_xalloc_floats(o->n_slots * n_params) : NULL;
    o->segs = segs;
    o->n_segs = n_segs;
    return o;
}

void nn_optim_destroy(nn_optim *o)
{
    if (!o) return;
    free(o->state);
    free(o);
}

static void step_segment(nn_optim *o, const nn_segment *sg, float *params,
                         const float *grads, float lr, float step_size,
                         float inv_bc2)
{
    const nn_optim_cfg *c = &o->cfg;
    int decays = c->decay_all || (sg->flags & NN_PARAM_DECAY);
    seg_hp hp = {lr, decays ? c->weight_decay : 0.0f, decays ? c->l1 : 0.0f};
    float *w = params + sg->offset;
    const float *g = grads + sg->offset;
    size_t n = sg->count;
    if (c->kind == NN_OPT_SGD) {
        if (o->n_slots == 0)
            sgd_plain(w, g, n, hp);
        else
            sgd_momentum(w, g, o->state + sg->offset, n, hp, c->momentum,
                         c->nesterov);
        return;
    }
    adam_hp a = {c->beta1, c->beta2, c->eps, step_size, inv_bc2, 0.0f};
    if (c->kind == NN_OPT_ADAMW) {
        a.decoupled = lr * hp.wd;
        hp.wd = 0.0f;
    }
    adam(w, g, o->state + sg->offset, o->state + o->n + sg->offset, n, hp, a);
}

void nn_optim_step(nn_optim *o, float *params, const float *grads, float lr)
{
    o->t++;
    float step_size = lr, inv_bc2 = 1.0f;
    if (o->cfg.kind != NN_OPT_SGD) {
        /* Bias corrections in double: 1 - b^t loses digits in float. */
        double t = (double)o->t;
        step_size = (float)(lr / (1.0 - pow(o->cfg.beta1, t)));
        inv_bc2 = (float)(1.0 / sqrt(1.0 - pow(o->cfg.beta2, t)));
    }
    if (o->n_segs == 0) { /* no segments: the whole arena, decayed */
        nn_segment all = {0, o->n, NN_PARAM_DECAY, 1};
        step_segment(o, &all, params, grads, lr, step_size, inv_bc2);
        return;
    }
    for (size_t k = 0; k < o->n_segs; k++) {
        const nn_segment *sg = &o->segs[k];
        if (!sg->trainable || (sg->flags & NN_PARAM_BUFFER)) continue;
        step_segment(o, sg, params, grads, lr, step_size, inv_bc2);
    }
}

const char *nn_optim_kind_name(nn_opt_kind k)
{
    switch (k) {
    case NN_OPT_SGD: return "sgd";
    case NN_OPT_ADAM: return "adam";
    case NN_OPT_ADAMW: return "adamw";
    }
    return "?";
}

int nn_optim_kind_parse(const char *s)
{
    if (!s) return -1;
    if (strcmp(s, "sgd") == 0) return NN_OPT_SGD;
    if (strcmp(s, "adam") == 0) return NN_OPT_ADAM;
    if (strcmp(s, "adamw") == 0) return NN_OPT_ADAMW;
    return -1;
}

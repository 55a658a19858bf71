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

#include <math.h>   /* sqrtf, pow */
#include <stdlib.h> /* free */
#include <string.h> /* strcmp */

#include "nn/check.h"

/* Hyper-parameters of one segment's update. */
typedef struct seg_hp {
    float lr, wd, l1;
} seg_hp;

static inline float sign_of(float w)
{
    return (float)((w > 0.0f) - (w < 0.0f));
}

static void sgd_plain(float *restrict w, const float *restrict g, size_t n,
                      seg_hp hp)
{
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + hp.wd * w[i] + hp.l1 * sign_of(w[i]);
        w[i] -= hp.lr * gi;
    }
}

/* v = mu*v + g;  w -= lr * (nesterov ? g + mu*v : v), for segments with
 * no decay and no L1 (g' = g). One pass over w, g, v in blocks of 8: gcc
 * vectorises the fixed-length inner loop at -O2 but leaves a loop of
 * unknown length scalar. */
static void sgd_momentum_plain(float *restrict w, const float *restrict g,
                               float *restrict v, size_t n, float lr, float mu,
                               int nesterov)
{
    size_t i = 0;
    if (nesterov) {
        for (; i + 8 <= n; i += 8)
            for (size_t j = 0; j < 8; j++) {
                float vi = mu * v[i + j] + g[i + j];
                v[i + j] = vi;
                w[i + j] -= lr * (g[i + j] + mu * vi);
            }
    } else {
        for (; i + 8 <= n; i += 8)
            for (size_t j = 0; j < 8; j++) {
                float vi = mu * v[i + j] + g[i + j];
                v[i + j] = vi;
                w[i + j] -= lr * vi;
            }
    }
    for (; i < n; i++) {
        float vi = mu * v[i] + g[i];
        v[i] = vi;
        w[i] -= lr * (nesterov ? g[i] + mu * vi : vi);
    }
}

static void sgd_momentum(float *restrict w, const float *restrict g,
                         float *restrict v, size_t n, seg_hp hp, float mu,
                         int nesterov)
{
    if (hp.wd == 0.0f && hp.l1 == 0.0f) {
        sgd_momentum_plain(w, g, v, n, hp.lr, mu, nesterov);
        return;
    }
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + hp.wd * w[i] + hp.l1 * sign_of(w[i]);
            float vi = mu * v[i] + gi;
            v[i] = vi;
            w[i] -= hp.lr * (gi + mu * vi);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + hp.wd * w[i] + hp.l1 * sign_of(w[i]);
            float vi = mu * v[i] + gi;
            v[i] = vi;
            w[i] -= hp.lr * vi;
        }
    }
}

/* Adam moments m, s; step_size = lr / (1 - b1^t), inv_bc2 = 1/sqrt(1-b2^t);
 * decoupled = lr*wd for AdamW (0 otherwise, when hp.wd carries L2). */
static void adam(float *restrict w, const float *restrict g, float *restrict m,
                 float *restrict s, size_t n, seg_hp hp, float b1, float b2,
                 float eps, float step_size, float inv_bc2, float decoupled)
{
    for (size_t i = 0; i < n; i++) {
        float wi = w[i];
        float gi = g[i] + hp.wd * wi + hp.l1 * sign_of(wi);
        wi -= decoupled * wi;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float si = b2 * s[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        s[i] = si;
        w[i] = wi - step_size * mi / (sqrtf(si) * inv_bc2 + eps);
    }
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
    float decoupled = 0.0f;
    if (c->kind == NN_OPT_ADAMW) {
        decoupled = lr * hp.wd;
        hp.wd = 0.0f;
    }
    adam(w, g, o->state + sg->offset, o->state + o->n + sg->offset, n, hp,
         c->beta1, c->beta2, c->eps, step_size, inv_bc2, decoupled);
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

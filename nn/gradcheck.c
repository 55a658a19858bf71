/* nn/gradcheck.c - central-difference gradient checks (see
 * nn/gradcheck.h). Test-time code: it allocates freely. */
#include "nn/gradcheck.h"

#include <math.h>   /* fabs */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, memset */

#include "nn/check.h"

/* Fields left 0 take the defaults. */
static nn_gradcheck_opts resolve(const nn_gradcheck_opts *o)
{
    nn_gradcheck_opts r = {1e-3, 2e-2, 1e-3, 0};
    if (!o) return r;
    if (o->h > 0) r.h = o->h;
    if (o->rtol > 0) r.rtol = o->rtol;
    if (o->atol > 0) r.atol = o->atol;
    r.max_checks = o->max_checks;
    return r;
}

static void result_start(nn_gradcheck_result *res)
{
    memset(res, 0, sizeof *res);
    res->pass = 1;
}

/* Record one comparison of analytic `a` with numeric `num`. */
static void compare(nn_gradcheck_result *res, const nn_gradcheck_opts *o,
                    double a, double num, const char *tensor, size_t idx)
{
    double diff = fabs(a - num);
    double mag = fabs(a) > fabs(num) ? fabs(a) : fabs(num);
    res->checked++;
    if (diff > res->worst_abs || diff != diff) res->worst_abs = diff;
    if (diff <= o->atol + o->rtol * mag) return; /* NaN falls through */
    if (res->failed++ == 0)
        snprintf(res->where, sizeof res->where,
                 "%s[%zu]: analytic %.6g, numeric %.6g", tensor, idx, a, num);
    res->pass = 0;
}

/* Which entries of a tensor of `count` to check: all, or max_checks spread
 * by a seeded generator. Returns how many indices were written to idx. */
static size_t pick(size_t count, size_t max_checks, nn_rng *rng, size_t *idx)
{
    if (max_checks == 0 || max_checks >= count) {
        for (size_t i = 0; i < count; i++) idx[i] = i;
        return count;
    }
    for (size_t i = 0; i < max_checks; i++)
        idx[i] = (size_t)nn_rng_below(rng, (uint64_t)count);
    return max_checks;
}

/* What a probe runs: a layer (forward into y) or, when m is set, a model. */
typedef struct probe_ctx {
    nn_layer *l;
    nn_model *m;
    const float *x; /* [n, in] */
    float *y;       /* layer only: [n, out] */
    const float *r; /* [n, out] */
    size_t n;
    const nn_pass *pass;
} probe_ctx;

/* L = sum(y * r) in double after a forward of x. */
static double probe(const probe_ctx *c)
{
    const float *y = c->y;
    size_t total;
    if (c->m) {
        y = nn_model_forward(c->m, c->x, c->n, c->pass);
        total = c->n * nn_shape_size(nn_model_out_shape(c->m));
    } else {
        c->l->ops->forward(c->l, c->x, c->y, c->n, c->pass);
        total = c->n * nn_shape_size(c->l->out);
    }
    double s = 0.0;
    for (size_t i = 0; i < total; i++) s += (double)y[i] * c->r[i];
    return s;
}

/* Numeric dL/dv at *v (a parameter or an entry of x) by central
 * differences, with the step the float actually took (v+h and v-h are
 * rounded). *v is restored. */
static double numeric(const probe_ctx *c, float *v, double h)
{
    float saved = *v;
    float hi = (float)(saved + h), lo = (float)(saved - h);
    *v = hi;
    double fp = probe(c);
    *v = lo;
    double fm = probe(c);
    *v = saved;
    return (fp - fm) / ((double)hi - (double)lo);
}

int nn_gradcheck_layer(nn_layer *l, const float *x, size_t n,
                       const nn_pass *pass, const nn_gradcheck_opts *opts,
                       uint64_t seed, nn_gradcheck_result *res)
{
    nn_gradcheck_opts o = resolve(opts);
    result_start(res);
    if (l->rows_cap < n || !l->ws) nn_layer_reserve(l, n);
    size_t in_w = nn_shape_size(l->in), out_w = nn_shape_size(l->out);
    size_t biggest = n * in_w > l->n_params ? n * in_w : l->n_params;
    float *xc = nn_xalloc_floats(n * in_w);
    float *y = nn_xalloc_floats(n * out_w);
    float *r = nn_xalloc_floats(n * out_w);
    float *dx = nn_xalloc_floats(n * in_w);
    float *ga = nn_xalloc_floats(l->n_params);
    size_t *idx = nn_xmalloc((biggest ? biggest : 1) * sizeof *idx);
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    memcpy(xc, x, n * in_w * sizeof *xc);
    for (size_t i = 0; i < n * out_w; i++)
        r[i] = (float)(2.0 * nn_rng_uniform(&rng) - 1.0);

    /* Analytic: one forward, one backward with dy = r. */
    memset(l->grad, 0, l->n_params * sizeof *l->grad);
    l->ops->forward(l, xc, y, n, pass);
    l->ops->backward(l, xc, y, r, dx, n);
    memcpy(ga, l->grad, l->n_params * sizeof *ga);
    probe_ctx pc = {l, NULL, xc, y, r, n, pass};

    for (size_t v = 0; v < l->n_views; v++) {
        const nn_param_view *pv = &l->views[v];
        if (pv->flags & NN_PARAM_BUFFER) continue; /* not trained */
        size_t k = pick(pv->count, o.max_checks, &rng, idx);
        for (size_t j = 0; j < k; j++) {
            size_t at = pv->offset + idx[j];
            double num = numeric(&pc, &l->param[at], o.h);
            compare(res, &o, ga[at], num, pv->name, idx[j]);
        }
    }
    size_t k = pick(n * in_w, o.max_checks, &rng, idx);
    for (size_t j = 0; j < k; j++) {
        double num = numeric(&pc, &xc[idx[j]], o.h);
        compare(res, &o, dx[idx[j]], num, "input", idx[j]);
    }
    free(xc);
    free(y);
    free(r);
    free(dx);
    free(ga);
    free(idx);
    return res->pass;
}

int nn_gradcheck_model(nn_model *m, const float *x, size_t n,
                       const nn_pass *pass, const nn_gradcheck_opts *opts,
                       int check_input, uint64_t seed,
                       nn_gradcheck_result *res)
{
    nn_gradcheck_opts o = resolve(opts);
    result_start(res);
    nn_model_reserve(m, n);
    size_t in_w = nn_shape_size(m->in);
    size_t out_w = nn_shape_size(nn_model_out_shape(m));
    size_t biggest = n * in_w > m->n_params ? n * in_w : m->n_params;
    float *xc = nn_xalloc_floats(n * in_w);
    float *r = nn_xalloc_floats(n * out_w);
    float *dx = nn_xalloc_floats(n * in_w);
    float *ga = nn_xalloc_floats(m->n_params);
    size_t *idx = nn_xmalloc((biggest ? biggest : 1) * sizeof *idx);
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    memcpy(xc, x, n * in_w * sizeof *xc);
    for (size_t i = 0; i < n * out_w; i++)
        r[i] = (float)(2.0 * nn_rng_uniform(&rng) - 1.0);

    nn_model_zero_grad(m);
    nn_model_forward(m, xc, n, pass);
    nn_model_backward_input(m, xc, r, n, dx);
    memcpy(ga, m->grads, m->n_params * sizeof *ga);
    probe_ctx pc = {NULL, m, xc, NULL, r, n, pass};

    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        size_t base = (size_t)(l->param - m->params);
        for (size_t v = 0; v < l->n_views; v++) {
            const nn_param_view *pv = &l->views[v];
            if (pv->flags & NN_PARAM_BUFFER) continue; /* not trained */
            char what[128];
            snprintf(what, sizeof what, "%s.%s", l->name, pv->name);
            size_t k = pick(pv->count, o.max_checks, &rng, idx);
            for (size_t j = 0; j < k; j++) {
                size_t at = base + pv->offset + idx[j];
                double num = numeric(&pc, &m->params[at], o.h);
                compare(res, &o, ga[at], num, what, idx[j]);
            }
        }
    }
    size_t k = check_input ? pick(n * in_w, o.max_checks, &rng, idx) : 0;
    for (size_t j = 0; j < k; j++) {
        double num = numeric(&pc, &xc[idx[j]], o.h);
        compare(res, &o, dx[idx[j]], num, "input", idx[j]);
    }
    free(xc);
    free(r);
    free(dx);
    free(ga);
    free(idx);
    return res->pass;
}

int nn_gradcheck_loss(const nn_loss_ops *loss, const float *pred,
                      const float *target, size_t n, size_t dim,
                      const nn_gradcheck_opts *opts, nn_gradcheck_result *res)
{
    nn_gradcheck_opts o = resolve(opts);
    result_start(res);
    /* A scale other than 1 checks that the gradient is scaled and the sum
     * is not: L = scale * sum of per-sample losses. */
    float scale = 1.0f / (float)(n ? n : 1);
    size_t total = n * dim;
    float *p = nn_xalloc_floats(total);
    float *dp = nn_xalloc_floats(total);
    size_t *idx = nn_xmalloc((total ? total : 1) * sizeof *idx);
    nn_loss_stats st;
    nn_rng rng;
    nn_rng_seed(&rng, 0x6c6f7373); /* only used to sample entries */
    memcpy(p, pred, total * sizeof *p);
    loss->eval(p, target, n, dim, scale, dp, &st);
    size_t k = pick(total, o.max_checks, &rng, idx);
    for (size_t j = 0; j < k; j++) {
        float *v = &p[idx[j]];
        float saved = *v;
        float hi = (float)(saved + o.h), lo = (float)(saved - o.h);
        *v = hi;
        loss->eval(p, target, n, dim, scale, NULL, &st);
        double fp = st.sum * scale;
        *v = lo;
        loss->eval(p, target, n, dim, scale, NULL, &st);
        double fm = st.sum * scale;
        *v = saved;
        compare(res, &o, dp[idx[j]], (fp - fm) / ((double)hi - (double)lo),
                "pred", idx[j]);
    }
    free(p);
    free(dp);
    free(idx);
    return res->pass;
}

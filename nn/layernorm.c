/* nn/layernorm.c - layer normalisation over the last dimension (YAML type
 * `layernorm`), as in GPT-2's pre-norm blocks.
 *
 * Key: eps (1e-5, in [1e-12, 1]). Any input shape; each group of the last
 * dimension's C values (a step of a sequence [T, C], or the whole vector
 * [C]) is normalised on its own:
 *   mu = mean(x), var = mean((x - mu)^2), r = 1 / sqrt(var + eps),
 *   xhat = (x - mu) r,  y = g * xhat + b.
 * Parameters: gain g[C] (initialised to 1), then bias b[C] (0); neither
 * is decayed. Output shape = input shape.
 * Backward recomputes mu and r from x (two passes over C floats per group,
 * cheaper than keeping them per row), so the layer keeps no state:
 *   dg += dy xhat,  db += dy,
 *   dx = r (dy g - mean(dy g) - xhat mean(dy g xhat)).
 */
#include <math.h>   /* sqrtf */
#include <stdlib.h> /* free */

#include "nn/check.h" /* nn_xmalloc */
#include "nn/layers.h"

typedef struct ln_priv {
    size_t C;
    float eps;
} ln_priv;

static int ln_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    double eps;
    int rc = nn_spec_float(spec, "eps", 0, 1e-5, 1e-12, 1.0, &eps, err);
    if (rc) return rc;
    ln_priv *p = nn_xmalloc(sizeof *p);
    p->C = l->in.dim[l->in.ndim - 1];
    p->eps = (float)eps;
    l->priv = p;
    l->out = l->in;
    nn_layer_add_param(l, "gain", p->C, 0);
    nn_layer_add_param(l, "bias", p->C, 0);
    return 0;
}

static void ln_init(nn_layer *l, nn_rng *rng)
{
    (void)rng;
    const ln_priv *p = l->priv;
    float *g = nn_layer_tensor(l, 0), *b = nn_layer_tensor(l, 1);
    for (size_t j = 0; j < p->C; j++) {
        g[j] = 1.0f;
        b[j] = 0.0f;
    }
}

/* Mean of x[C] into *mu and 1/sqrt(var + eps) into *r (two-pass variance:
 * no cancellation when |mu| is large against the spread). */
static void ln_stats(const float *x, size_t C, float eps, float *mu, float *r)
{
    float s = 0.0f;
    for (size_t j = 0; j < C; j++) s += x[j];
    float m = s / (float)C, v = 0.0f;
    for (size_t j = 0; j < C; j++) v += (x[j] - m) * (x[j] - m);
    *mu = m;
    *r = 1.0f / sqrtf(v / (float)C + eps);
}

/* x, y [groups, C]. */
static void ln_forward(nn_layer *l, const float *x, float *y, size_t n,
                       const nn_pass *pass)
{
    (void)pass;
    const ln_priv *p = l->priv;
    size_t C = p->C, groups = n * (nn_shape_size(l->in) / C);
    const float *g = nn_layer_tensor(l, 0), *b = nn_layer_tensor(l, 1);
    for (size_t k = 0; k < groups; k++) {
        const float *xr = x + k * C;
        float *yr = y + k * C, mu, r;
        ln_stats(xr, C, p->eps, &mu, &r);
        for (size_t j = 0; j < C; j++) yr[j] = (xr[j] - mu) * r * g[j] + b[j];
    }
}

static void ln_backward(nn_layer *l, const float *x, const float *y,
                        const float *dy, float *dx, size_t n)
{
    (void)y;
    const ln_priv *p = l->priv;
    size_t C = p->C, groups = n * (nn_shape_size(l->in) / C);
    const float *g = nn_layer_tensor(l, 0);
    float *dg = nn_layer_grad_tensor(l, 0), *db = nn_layer_grad_tensor(l, 1);
    for (size_t k = 0; k < groups; k++) {
        const float *xr = x + k * C, *dyr = dy + k * C;
        float mu, r, m1 = 0.0f, m2 = 0.0f;
        ln_stats(xr, C, p->eps, &mu, &r);
        for (size_t j = 0; j < C; j++) {
            float xh = (xr[j] - mu) * r, d = dyr[j] * g[j];
            dg[j] += dyr[j] * xh;
            db[j] += dyr[j];
            m1 += d;
            m2 += d * xh;
        }
        if (!dx) continue;
        m1 /= (float)C;
        m2 /= (float)C;
        float *dxr = dx + k * C;
        for (size_t j = 0; j < C; j++)
            dxr[j] = r * (dyr[j] * g[j] - m1 - (xr[j] - mu) * r * m2);
    }
}

static void ln_destroy(nn_layer *l)
{
    free(l->priv);
    l->priv = NULL;
}

static void ln_attrs(const nn_layer *l, nn_layer_attrs *a)
{
    a->eps = ((const ln_priv *)l->priv)->eps;
}

const nn_layer_ops nn_layernorm_ops = {
    .type = "layernorm",
    .create = ln_create,
    .init = ln_init,
    .reserve = NULL,
    .forward = ln_forward,
    .backward = ln_backward,
    .destroy = ln_destroy,
    .attrs = ln_attrs,
};

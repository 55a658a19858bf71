/* nn/dense.c - fully connected layer: y = x W^T + b.
 *
 * YAML keys: units (required), init: xavier|he|zeros|normal (xavier),
 * bias: true|false (true), time_distributed: true|false (false). Any input
 * shape is taken as a flat vector of in = nn_shape_size(l->in) features;
 * the output shape is [units]. With time_distributed (input of 2 or more
 * dims, e.g. a sequence [T, F]) the layer applies to every step of the
 * last dimension alone: in = F, the output is [T, units], and a batch of n
 * rows is computed as n*T rows of F.
 * Parameters: weight W[out, in] row-major (decayed), then bias b[out].
 */
#include <limits.h> /* INT_MAX */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy */

#include <cblas.h>

#include "nn/check.h"
#include "nn/init.h"
#include "nn/layers.h"

typedef struct dense_priv {
    size_t in, out;
    size_t steps; /* rows per sample: 1, or T when time_distributed */
    int bias;
    nn_init_kind init;
} dense_priv;

static int dense_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    size_t units;
    int bias, init, td;
    int rc = nn_spec_size(spec, "units", 1, 0, 1, (size_t)INT_MAX, &units, err);
    if (rc == 0) rc = nn_spec_enum(spec, "init", nn_init_names, NN_INIT_XAVIER,
                                   &init, err);
    if (rc == 0) rc = nn_spec_bool(spec, "bias", 0, 1, &bias, err);
    if (rc == 0) rc = nn_spec_bool(spec, "time_distributed", 0, 0, &td, err);
    if (rc) return rc;
    char shape[64];
    if (td && l->in.ndim < 2)
        return nn_spec_error(spec, "time_distributed", err, "needs an input "
                             "of 2 or more dims such as [T, F], got %s",
                             nn_shape_str(l->in, shape, sizeof shape));
    size_t in = td ? l->in.dim[l->in.ndim - 1] : nn_shape_size(l->in);
    if (in > (size_t)INT_MAX)
        return nn_spec_error(spec, NULL, err, "input of %zu features is too "
                             "large for BLAS", in);
    dense_priv *p = nn_xmalloc(sizeof *p);
    p->in = in;
    p->out = units;
    p->steps = nn_shape_size(l->in) / in;
    p->bias = bias;
    p->init = (nn_init_kind)init;
    l->priv = p;
    l->out = nn_shape_1d(units);
    if (td) {
        l->out = l->in;
        l->out.dim[l->in.ndim - 1] = units;
    }
    nn_layer_add_param(l, "weight", units * in, NN_PARAM_DECAY);
    if (bias) nn_layer_add_param(l, "bias", units, 0);
    return 0;
}

static void dense_init(nn_layer *l, nn_rng *rng)
{
    const dense_priv *p = l->priv;
    nn_init_fill(nn_layer_tensor(l, 0), p->out * p->in, p->in, p->out, p->init,
                 rng);
    if (p->bias) memset(nn_layer_tensor(l, 1), 0, p->out * sizeof(float));
}

/* x[n, in], y[n, out]: y = b (broadcast over rows), then y += x W^T. */
static void dense_forward(nn_layer *l, const float *x, float *y, size_t n,
                          const nn_pass *pass)
{
    (void)pass;
    const dense_priv *p = l->priv;
    const float *w = l->param;
    NN_CHECK(n <= (size_t)INT_MAX / p->steps, "dense: %zu rows exceed BLAS int",
             n);
    n *= p->steps;
    float beta = 0.0f;
    if (p->bias) {
        const float *b = l->param + l->views[1].offset;
        for (size_t i = 0; i < n; i++)
            memcpy(y + i * p->out, b, p->out * sizeof(float));
        beta = 1.0f;
    }
    if (n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)p->out,
                (int)p->in, 1.0f, x, (int)p->in, w, (int)p->in, beta, y,
                (int)p->out);
}

/* acc[0, len) += row[0, len), in blocks of 8 that gcc vectorises at -O2
 * (a loop of unknown length stays scalar). Rows are added one after the
 * other, so each sum keeps its order. */
static void add_row(float *restrict acc, const float *restrict row, size_t len)
{
    size_t j = 0;
    for (; j + 8 <= len; j += 8)
        for (size_t k = 0; k < 8; k++) acc[j + k] += row[j + k];
    for (; j < len; j++) acc[j] += row[j];
}

/* dW[out, in] += dy^T x;  db[out] += column sums of dy;  dx = dy W. */
static void dense_backward(nn_layer *l, const float *x, const float *y,
                           const float *dy, float *dx, size_t n)
{
    (void)y;
    const dense_priv *p = l->priv;
    if (n == 0) return;
    NN_CHECK(n <= (size_t)INT_MAX / p->steps, "dense: %zu rows exceed BLAS int",
             n);
    n *= p->steps;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p->out,
                (int)p->in, (int)n, 1.0f, dy, (int)p->out, x, (int)p->in, 1.0f,
                l->grad, (int)p->in);
    if (p->bias) {
        float *db = l->grad + l->views[1].offset;
        for (size_t i = 0; i < n; i++) add_row(db, dy + i * p->out, p->out);
    }
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n,
                    (int)p->in, (int)p->out, 1.0f, dy, (int)p->out, l->param,
                    (int)p->in, 0.0f, dx, (int)p->in);
}

static void dense_destroy(nn_layer *l)
{
    free(l->priv);
    l->priv = NULL;
}

const nn_layer_ops nn_dense_ops = {
    .type = "dense",
    .create = dense_create,
    .init = dense_init,
    .reserve = NULL,
    .forward = dense_forward,
    .backward = dense_backward,
    .destroy = dense_destroy,
};

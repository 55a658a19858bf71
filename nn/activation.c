/* nn/activation.c - parameter-free element-wise and softmax layers:
 * relu, leaky_relu, sigmoid, tanh, softmax. Output shape = input shape;
 * no keys but leaky_relu's `slope`.
 *
 * Backward passes use the saved output y where it determines the
 * derivative (sigmoid' = y(1-y), tanh' = 1-y^2), so x is not re-read.
 */
#include <math.h>   /* expf, tanhf */
#include <stdlib.h> /* free */

#include "nn/check.h" /* nn_xmalloc */
#include "nn/layers.h"

static int same_shape_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    (void)spec;
    (void)err;
    l->out = l->in;
    return 0;
}

static size_t width(const nn_layer *l)
{
    return nn_shape_size(l->in);
}

/* ---- relu: y = max(x, 0); dx = dy where x > 0 (y > 0), else 0. ----
 * The loops run in blocks of 8 with restrict pointers: at -O2 gcc
 * vectorises a fixed-length inner loop (compare + mask, no branch) but
 * leaves a loop of unknown length scalar, with a data-dependent branch
 * that mispredicts on about half the elements. NaN maps to 0 either way
 * (NaN > 0 is false). */

static void relu_rows(const float *restrict x, float *restrict y, size_t total)
{
    size_t i = 0;
    for (; i + 8 <= total; i += 8)
        for (size_t j = 0; j < 8; j++)
            y[i + j] = x[i + j] > 0.0f ? x[i + j] : 0.0f;
    for (; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_forward(nn_layer *l, const float *x, float *y, size_t n,
                         const nn_pass *pass)
{
    (void)pass;
    relu_rows(x, y, n * width(l));
}

static void relu_mask(const float *restrict y, const float *restrict dy,
                      float *restrict dx, size_t total)
{
    size_t i = 0;
    /* dy is read unconditionally, so the select needs no branch. */
    for (; i + 8 <= total; i += 8)
        for (size_t j = 0; j < 8; j++) {
            float d = dy[i + j];
            dx[i + j] = y[i + j] > 0.0f ? d : 0.0f;
        }
    for (; i < total; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static void relu_backward(nn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, size_t n)
{
    (void)x;
    if (!dx) return;
    relu_mask(y, dy, dx, n * width(l));
}

const nn_layer_ops nn_relu_ops = {
    .type = "relu",
    .create = same_shape_create,
    .forward = relu_forward,
    .backward = relu_backward,
};

/* ---- sigmoid: y = 1 / (1 + e^-x), evaluated so exp never overflows. ---- */

static float sigmoidf(float v)
{
    if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
    float e = expf(v); /* v < 0: e in (0, 1) */
    return e / (1.0f + e);
}

static void sigmoid_forward(nn_layer *l, const float *x, float *y, size_t n,
                            const nn_pass *pass)
{
    (void)pass;
    size_t total = n * width(l);
    for (size_t i = 0; i < total; i++) y[i] = sigmoidf(x[i]);
}

static void sigmoid_backward(nn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, size_t n)
{
    (void)x;
    if (!dx) return;
    size_t total = n * width(l);
    for (size_t i = 0; i < total; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

const nn_layer_ops nn_sigmoid_ops = {
    .type = "sigmoid",
    .create = same_shape_create,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};

/* ---- tanh: y = tanh(x); dx = dy (1 - y^2). ---- */

static void tanh_forward(nn_layer *l, const float *x, float *y, size_t n,
                         const nn_pass *pass)
{
    (void)pass;
    size_t total = n * width(l);
    for (size_t i = 0; i < total; i++) y[i] = tanhf(x[i]);
}

static void tanh_backward(nn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, size_t n)
{
    (void)x;
    if (!dx) return;
    size_t total = n * width(l);
    for (size_t i = 0; i < total; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

const nn_layer_ops nn_tanh_ops = {
    .type = "tanh",
    .create = same_shape_create,
    .forward = tanh_forward,
    .backward = tanh_backward,
};

/* ---- leaky_relu: y = x for x > 0, else slope * x (key `slope`, default
 * 0.2, in [0, 1)); dx = dy or slope * dy by the sign of x. Keeping a
 * gradient for negative inputs is what a GAN's discriminator needs to pass
 * a useful signal back to the generator. ---- */

static int leaky_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    double slope;
    int rc = nn_spec_float(spec, "slope", 0, 0.2, 0.0, 1.0, &slope, err);
    if (rc != 0) return rc;
    if (slope >= 1.0)
        return nn_spec_error(spec, "slope", err, "%g must be below 1", slope);
    float *p = nn_xmalloc(sizeof *p);
    *p = (float)slope;
    l->priv = p;
    l->out = l->in;
    return 0;
}

static void leaky_forward(nn_layer *l, const float *x, float *y, size_t n,
                          const nn_pass *pass)
{
    (void)pass;
    float a = *(const float *)l->priv;
    size_t total = n * width(l);
    for (size_t i = 0; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : a * x[i];
}

static void leaky_backward(nn_layer *l, const float *x, const float *y,
                           const float *dy, float *dx, size_t n)
{
    (void)y;
    if (!dx) return;
    float a = *(const float *)l->priv;
    size_t total = n * width(l);
    for (size_t i = 0; i < total; i++) dx[i] = x[i] > 0.0f ? dy[i] : a * dy[i];
}

static void leaky_destroy(nn_layer *l)
{
    free(l->priv);
    l->priv = NULL;
}

static void leaky_attrs(const nn_layer *l, nn_layer_attrs *a)
{
    a->slope = *(const float *)l->priv;
}

const nn_layer_ops nn_leaky_relu_ops = {
    .type = "leaky_relu",
    .create = leaky_create,
    .forward = leaky_forward,
    .backward = leaky_backward,
    .destroy = leaky_destroy,
    .attrs = leaky_attrs,
};

/* ---- softmax over the LAST dimension of the sample shape (the whole
 * vector for 1-D shapes): each group of `last` values sums to 1. ---- */

static size_t last_dim(const nn_layer *l)
{
    return l->in.dim[l->in.ndim - 1];
}

static void softmax_forward(nn_layer *l, const float *x, float *y, size_t n,
                            const nn_pass *pass)
{
    (void)pass;
    size_t d = last_dim(l);
    size_t groups = n * (width(l) / d);
    for (size_t g = 0; g < groups; g++) {
        const float *xr = x + g * d;
        float *yr = y + g * d;
        float mx = xr[0];
        for (size_t j = 1; j < d; j++) mx = xr[j] > mx ? xr[j] : mx;
        float sum = 0.0f;
        for (size_t j = 0; j < d; j++) {
            yr[j] = expf(xr[j] - mx); /* <= 1: no overflow */
            sum += yr[j];
        }
        float inv = 1.0f / sum; /* sum >= 1 (the max term is 1) */
        for (size_t j = 0; j < d; j++) yr[j] *= inv;
    }
}

/* Jacobian-vector product: dx_j = y_j (dy_j - sum_k dy_k y_k). */
static void softmax_backward(nn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, size_t n)
{
    (void)x;
    if (!dx) return;
    size_t d = last_dim(l);
    size_t groups = n * (width(l) / d);
    for (size_t g = 0; g < groups; g++) {
        const float *yr = y + g * d, *dyr = dy + g * d;
        float *dxr = dx + g * d;
        float dot = 0.0f;
        for (size_t j = 0; j < d; j++) dot += dyr[j] * yr[j];
        for (size_t j = 0; j < d; j++) dxr[j] = yr[j] * (dyr[j] - dot);
    }
}

const nn_layer_ops nn_softmax_ops = {
    .type = "softmax",
    .create = same_shape_create,
    .forward = softmax_forward,
    .backward = softmax_backward,
};

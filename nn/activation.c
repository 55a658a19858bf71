/* nn/activation.c - parameter-free element-wise and softmax layers:
 * relu, sigmoid, tanh, softmax. Output shape = input shape; no keys.
 *
 * Backward passes use the saved output y where it determines the
 * derivative (sigmoid' = y(1-y), tanh' = 1-y^2), so x is not re-read.
 */
#include <math.h> /* expf, tanhf */

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

/* ---- relu: y = max(x, 0); dx = dy where x > 0 (y > 0), else 0. ---- */

static void relu_forward(nn_layer *l, const float *x, float *y, size_t n,
                         const nn_pass *pass)
{
    (void)pass;
    size_t total = n * width(l);
    for (size_t i = 0; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_backward(nn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, size_t n)
{
    (void)x;
    if (!dx) return;
    size_t total = n * width(l);
    for (size_t i = 0; i < total; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
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

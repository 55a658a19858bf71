/* nn/gelu.c - the GELU activation in GPT-2's tanh form (YAML type `gelu`,
 * no keys; output shape = input shape):
 *   y = x/2 (1 + tanh(u)),  u = s (x + a x^3),  s = sqrt(2/pi), a = 0.044715,
 *   dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) s (1 + 3 a x^2).
 * tanhf saturates to +-1 for large |u|, so neither direction overflows:
 * y -> x for x >> 0 and y -> -0 for x << 0. Backward reads x (the
 * derivative is not a function of y alone).
 */
#include <math.h> /* tanhf */

#include "nn/layers.h"

#define GELU_S 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

static int gelu_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    (void)spec;
    (void)err;
    l->out = l->in;
    return 0;
}

static void gelu_forward(nn_layer *l, const float *x, float *y, size_t n,
                         const nn_pass *pass)
{
    (void)pass;
    size_t total = n * nn_shape_size(l->in);
    for (size_t i = 0; i < total; i++) {
        float v = x[i];
        float t = tanhf(GELU_S * (v + GELU_A * v * v * v));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

static void gelu_backward(nn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, size_t n)
{
    (void)y;
    if (!dx) return;
    size_t total = n * nn_shape_size(l->in);
    for (size_t i = 0; i < total; i++) {
        float v = x[i];
        float t = tanhf(GELU_S * (v + GELU_A * v * v * v));
        float du = GELU_S * (1.0f + 3.0f * GELU_A * v * v);
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
}

const nn_layer_ops nn_gelu_ops = {
    .type = "gelu",
    .create = gelu_create,
    .forward = gelu_forward,
    .backward = gelu_backward,
};

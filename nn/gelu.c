/* nn/gelu.c - the GELU activation in GPT-2's tanh form (YAML type `gelu`,
 * no keys; output shape = input shape):
 *   y = x/2 (1 + tanh(u)),  u = s (x + a x^3),  s = sqrt(2/pi), a = 0.044715.
 * Since (1 + tanh u)/2 = sigmoid(2u), this is computed as
 *   y = x g,  g = sigmoid(2u),  dy/dx = g + 2 x g (1 - g) s (1 + 3 a x^2),
 * with sigmoid(z) = 1/(1+e) for z >= 0 and e/(1+e) below, e = exp(-|z|)
 * in (0, 1]: no overflow in either direction (y -> x for x >> 0, y -> 0
 * for x << 0). Backward reads x (dy/dx is not a function of y alone).
 *
 * Speed: with glibc's tanhf (which goes through expm1f) the gelu was 45%
 * of a training step of a 2-block character GPT, and still 29% with one
 * expf per element, 6% now (perf, 150 steps of one rank; the GPT of
 * configs/char_gpt.yaml). So the kernels run NN_VW lanes at a time with
 * exp_neg, a vector exp for arguments <= 0 (Cody-Waite range
 * reduction to |r| <= ln2/2, Cephes' degree-6 polynomial, 2^n built in
 * the exponent bits; relative error below 1e-7 on [-87, 0], measured
 * against double exp). The last partial vector is computed in a padded
 * copy by the same code, so every element gets the same result wherever
 * it sits.
 */
#include <string.h> /* memcpy */

#include "nn/layers.h"
#include "nn/simd.h"

#define GELU_S 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

/* g = sigmoid(2u) and du/dx of one vector of x. */
static inline void gate(const nn_vf *x, nn_vf *g, nn_vf *du)
{
    nn_vf v = *x;
    nn_vf z = 2.0f * GELU_S * (v + GELU_A * v * v * v);
    nn_vf mabs = -(nn_vf)((nn_vi)z & 0x7fffffff); /* -|z| */
    nn_vf e, r;
    nn_exp_neg(&mabs, &e);
    r = 1.0f / (1.0f + e);
    *g = NN_SELECT(z >= 0.0f, r, e * r);
    *du = GELU_S * (1.0f + 3.0f * GELU_A * v * v);
}

/* y[i] = x[i] g(x[i]) for i < total. */
NN_KERNEL static void gelu_rows(const float *restrict x, float *restrict y,
                                size_t total)
{
    nn_vf v, g, du;
    size_t i = 0;
    for (; i + NN_VW <= total; i += NN_VW) {
        v = NN_LOAD(x + i);
        gate(&v, &g, &du);
        NN_STORE(y + i, v * g);
    }
    if (i == total) return;
    float pad[NN_VW] = {0};
    memcpy(pad, x + i, (total - i) * sizeof *pad);
    v = NN_LOAD(pad);
    gate(&v, &g, &du);
    v *= g;
    nn_store_lanes(y + i, &v, total - i);
}

/* *d *= dy/dx at x, lane by lane. */
static inline void slope(const nn_vf *x, nn_vf *d)
{
    nn_vf v = *x, g, du;
    gate(&v, &g, &du);
    *d *= g + 2.0f * v * g * (1.0f - g) * du;
}

/* dx[i] = dy[i] dy/dx(x[i]) for i < total. */
NN_KERNEL static void gelu_grad_rows(const float *restrict x,
                                     const float *restrict dy,
                                     float *restrict dx, size_t total)
{
    nn_vf v, d;
    size_t i = 0;
    for (; i + NN_VW <= total; i += NN_VW) {
        v = NN_LOAD(x + i);
        d = NN_LOAD(dy + i);
        slope(&v, &d);
        NN_STORE(dx + i, d);
    }
    if (i == total) return;
    float px[NN_VW] = {0}, pd[NN_VW] = {0};
    memcpy(px, x + i, (total - i) * sizeof *px);
    memcpy(pd, dy + i, (total - i) * sizeof *pd);
    v = NN_LOAD(px);
    d = NN_LOAD(pd);
    slope(&v, &d);
    nn_store_lanes(dx + i, &d, total - i);
}

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
    gelu_rows(x, y, n * nn_shape_size(l->in));
}

static void gelu_backward(nn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, size_t n)
{
    (void)y;
    if (dx) gelu_grad_rows(x, dy, dx, n * nn_shape_size(l->in));
}

const nn_layer_ops nn_gelu_ops = {
    .type = "gelu",
    .create = gelu_create,
    .forward = gelu_forward,
    .backward = gelu_backward,
};

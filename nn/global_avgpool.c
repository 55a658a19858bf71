/* nn/global_avgpool.c - the mean of each channel: [C, H, W] -> [C]
 * (YAML type `global_avgpool`, no keys, no parameters). The usual head of
 * a ResNet: the last convolution's maps, averaged, feed a dense layer.
 *     y[c] = (1/HW) sum_{h,w} x[c, h, w],   dx[c, h, w] = dy[c] / HW.
 */
#include "nn/layers.h"

static int gap_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    char in[64];
    if (l->in.ndim != 3)
        return nn_spec_error(spec, NULL, err,
                             "needs a 3-d input [C, H, W], got %s",
                             nn_shape_str(l->in, in, sizeof in));
    l->out = nn_shape_1d(l->in.dim[0]);
    return 0;
}

/* y[n, C] = channel means of x[n, C, H*W]. */
static void gap_forward(nn_layer *l, const float *x, float *y, size_t n,
                        const nn_pass *pass)
{
    (void)pass;
    size_t C = l->in.dim[0], HW = l->in.dim[1] * l->in.dim[2];
    float inv = 1.0f / (float)HW;
    for (size_t i = 0; i < n * C; i++) {
        const float *xc = x + i * HW;
        float s = 0.0f;
        for (size_t k = 0; k < HW; k++) s += xc[k];
        y[i] = s * inv;
    }
}

static void gap_backward(nn_layer *l, const float *x, const float *y,
                         const float *dy, float *dx, size_t n)
{
    (void)x, (void)y;
    if (!dx) return;
    size_t C = l->in.dim[0], HW = l->in.dim[1] * l->in.dim[2];
    float inv = 1.0f / (float)HW;
    for (size_t i = 0; i < n * C; i++) {
        float g = dy[i] * inv;
        for (size_t k = 0; k < HW; k++) dx[i * HW + k] = g;
    }
}

const nn_layer_ops nn_global_avgpool_ops = {
    .type = "global_avgpool",
    .create = gap_create,
    .forward = gap_forward,
    .backward = gap_backward,
};

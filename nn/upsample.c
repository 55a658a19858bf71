/* nn/upsample.c - nearest-neighbour upsampling of [C, H, W] by an integer
 * factor s (YAML type `upsample`, key `scale`, default 2): [C, sH, sW].
 * With a following convolution it is the generator's way up in a
 * convolutional GAN (a "resize-convolution", free of the checkerboard
 * pattern strided transposed convolutions leave).
 *     y[c, h, w] = x[c, h / s, w / s]        (integer division)
 *     dx[c, h, w] = sum over the s x s block of dy it was copied to.
 */
#include "nn/layers.h"

#define UPSAMPLE_MAX_SCALE 64

static int up_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    size_t s;
    int rc = nn_spec_size(spec, "scale", 0, 2, 1, UPSAMPLE_MAX_SCALE, &s, err);
    if (rc) return rc;
    char in[64];
    if (l->in.ndim != 3)
        return nn_spec_error(spec, NULL, err,
                             "needs a 3-d input [C, H, W], got %s",
                             nn_shape_str(l->in, in, sizeof in));
    if (l->in.dim[1] > ((size_t)1 << 24) || l->in.dim[2] > ((size_t)1 << 24))
        return nn_spec_error(spec, NULL, err, "input %s is too large",
                             nn_shape_str(l->in, in, sizeof in));
    l->out = nn_shape_3d(l->in.dim[0], l->in.dim[1] * s, l->in.dim[2] * s);
    return 0;
}

/* y[n*C, sH, sW] from x[n*C, H, W]. */
static void up_forward(nn_layer *l, const float *x, float *y, size_t n,
                       const nn_pass *pass)
{
    (void)pass;
    size_t H = l->in.dim[1], W = l->in.dim[2];
    size_t s = l->out.dim[1] / H, OW = W * s;
    for (size_t p = 0; p < n * l->in.dim[0]; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * H * W * s * s;
        for (size_t h = 0; h < H * s; h++)
            for (size_t w = 0; w < OW; w++)
                yp[h * OW + w] = xp[(h / s) * W + w / s];
    }
}

static void up_backward(nn_layer *l, const float *x, const float *y,
                        const float *dy, float *dx, size_t n)
{
    (void)x, (void)y;
    if (!dx) return;
    size_t H = l->in.dim[1], W = l->in.dim[2];
    size_t s = l->out.dim[1] / H, OW = W * s;
    for (size_t p = 0; p < n * l->in.dim[0]; p++) {
        const float *dyp = dy + p * H * W * s * s;
        float *dxp = dx + p * H * W;
        for (size_t k = 0; k < H * W; k++) dxp[k] = 0.0f;
        for (size_t h = 0; h < H * s; h++)
            for (size_t w = 0; w < OW; w++)
                dxp[(h / s) * W + w / s] += dyp[h * OW + w];
    }
}

const nn_layer_ops nn_upsample_ops = {
    .type = "upsample",
    .create = up_create,
    .forward = up_forward,
    .backward = up_backward,
};

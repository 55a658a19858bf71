/* nn/flatten.c - reshape any per-sample shape to a vector.
 *
 * [C, H, W] (or any shape) -> [C*H*W]. The row-major layout of a sample is
 * already its flattened order, so forward and backward are plain copies.
 * No parameters, no scratch.
 */
#include <string.h> /* memcpy */

#include "nn/layer.h"

static int flatten_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    char in[64];
    if (nn_shape_size(l->in) == 0)
        return nn_spec_error(spec, NULL, err, "empty input %s",
                             nn_shape_str(l->in, in, sizeof in));
    l->out = nn_shape_1d(nn_shape_size(l->in));
    return 0;
}

static void flatten_forward(nn_layer *l, const float *x, float *y, size_t n,
                            const nn_pass *pass)
{
    (void)pass;
    if (x != y) memcpy(y, x, n * nn_shape_size(l->in) * sizeof *y);
}

static void flatten_backward(nn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, size_t n)
{
    (void)x, (void)y;
    if (dx && dx != dy) memcpy(dx, dy, n * nn_shape_size(l->in) * sizeof *dx);
}

const nn_layer_ops nn_flatten_ops = {
    .type = "flatten",
    .create = flatten_create,
    .init = NULL,
    .reserve = NULL,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .destroy = NULL,
};

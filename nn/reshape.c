/* nn/reshape.c - give a sample another shape of the same size: YAML types
 * `reshape` and `flatten` ([C, H, W] or any shape -> [C*H*W], no keys).
 *
 * Key: shape (required), a list of 1 to NN_MAX_DIMS positive sizes, e.g.
 * `shape: [28, 28]` to read a [1, 28, 28] image as 28 steps of 28 values.
 * Their product must equal the input's size. Row-major order is kept, so
 * forward and backward are plain copies. No parameters, no scratch.
 */
#include <errno.h>  /* errno */
#include <stdlib.h> /* strtoull */
#include <string.h> /* memcpy */

#include "nn/layers.h"

/* "28,28" (a YAML flow list as nn_spec stores it) or "784" into *out.
 * Returns 0, or -1 if an item is not a positive integer or there are too
 * many, or the product overflows. */
static int parse_shape(const char *text, nn_shape *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    for (;;) {
        while (*p == ' ') p++;
        if (*p < '0' || *p > '9' || out->ndim == NN_MAX_DIMS) return -1;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || v == 0 || v > (unsigned long long)1 << 40) return -1;
        out->dim[out->ndim++] = (size_t)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == '\0') break;
        if (*p++ != ',') return -1;
    }
    /* each dim <= 2^40 and at most 4 dims: check the product stays sane */
    size_t n = 1;
    for (size_t i = 0; i < out->ndim; i++) {
        if (n > ((size_t)1 << 40) / out->dim[i]) return -1;
        n *= out->dim[i];
    }
    return 0;
}

static int reshape_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    const char *text;
    char in[64], want[64];
    int rc = nn_spec_str(spec, "shape", 1, NULL, &text, err);
    if (rc) return rc;
    nn_shape s;
    if (parse_shape(text, &s))
        return nn_spec_error(spec, "shape", err,
                             "'%s' is not a list of 1 to %d positive sizes",
                             text, NN_MAX_DIMS);
    if (nn_shape_size(s) != nn_shape_size(l->in))
        return nn_spec_error(spec, "shape", err,
                             "%s holds %zu values, but the input %s holds %zu",
                             nn_shape_str(s, want, sizeof want),
                             nn_shape_size(s),
                             nn_shape_str(l->in, in, sizeof in),
                             nn_shape_size(l->in));
    l->out = s;
    return 0;
}

static int flatten_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    char in[64];
    if (nn_shape_size(l->in) == 0)
        return nn_spec_error(spec, NULL, err, "empty input %s",
                             nn_shape_str(l->in, in, sizeof in));
    l->out = nn_shape_1d(nn_shape_size(l->in));
    return 0;
}

static void reshape_forward(nn_layer *l, const float *x, float *y, size_t n,
                            const nn_pass *pass)
{
    (void)pass;
    if (x != y) memcpy(y, x, n * nn_shape_size(l->in) * sizeof *y);
}

static void reshape_backward(nn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, size_t n)
{
    (void)x, (void)y;
    if (dx && dx != dy) memcpy(dx, dy, n * nn_shape_size(l->in) * sizeof *dx);
}

const nn_layer_ops nn_reshape_ops = {
    .type = "reshape",
    .create = reshape_create,
    .init = NULL,
    .reserve = NULL,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .destroy = NULL,
};

const nn_layer_ops nn_flatten_ops = {
    .type = "flatten",
    .create = flatten_create,
    .init = NULL,
    .reserve = NULL,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .destroy = NULL,
};

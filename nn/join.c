/* nn/join.c - layers that join several inputs (named with `inputs:`):
 * YAML types `add` and `concat`. No keys, no parameters, no scratch.
 *
 * add:    y = x_0 + x_1 + ... + x_{k-1}, all of one shape (the residual
 *         connection); dx_j = dy for every j.
 * concat: the inputs side by side along the channel axis of [C, H, W]
 *         (or the features of [F], or of every step of [T, F]); the other
 *         axes must agree. A sample is row-major, so the output is, for
 *         each index o of the axes before the joined one (none for [C, H,
 *         W] and [F], the steps of [T, F]), input 0's block of ins[0][a] *
 *         inner values, then input 1's, ...; dx_j is its block of dy.
 * Both take 2 to NN_MAX_INPUTS inputs.
 */
#include <string.h> /* memcpy */

#include "nn/layers.h"

static int need_two(nn_layer *l, nn_spec *spec, nn_error *err)
{
    if (l->n_in >= 2) return 0;
    return nn_spec_error(spec, NULL, err,
                         "joins 2 to %d inputs, got %zu (list them with "
                         "`inputs: [a, b]`)", NN_MAX_INPUTS, l->n_in);
}

static int add_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    int rc = need_two(l, spec, err);
    if (rc) return rc;
    char a[64], b[64];
    for (size_t j = 1; j < l->n_in; j++)
        if (!nn_shape_eq(l->ins[j], l->ins[0]))
            return nn_spec_error(spec, "inputs", err,
                                 "add needs inputs of one shape: input 1 is "
                                 "%s, input %zu is %s",
                                 nn_shape_str(l->ins[0], a, sizeof a), j + 1,
                                 nn_shape_str(l->ins[j], b, sizeof b));
    l->out = l->in;
    return 0;
}

/* y[n, D] = sum_j x[j][n, D]. */
static void add_forward(nn_layer *l, const float *const *x, float *y,
                        size_t n)
{
    size_t count = n * nn_shape_size(l->out);
    memcpy(y, x[0], count * sizeof *y);
    for (size_t j = 1; j < l->n_in; j++)
        for (size_t i = 0; i < count; i++) y[i] += x[j][i];
}

static void add_backward_input(nn_layer *l, size_t j, const float *dy,
                               float *dx, size_t n)
{
    (void)j;
    memcpy(dx, dy, n * nn_shape_size(l->out) * sizeof *dx);
}

/* The joined axis: 0 for [F] and [C, H, W], 1 (features) for [T, F]. */
static size_t concat_axis(nn_shape s)
{
    return s.ndim == 2 ? 1 : 0;
}

static int concat_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    int rc = need_two(l, spec, err);
    if (rc) return rc;
    nn_shape out = l->in;
    size_t ax = concat_axis(out);
    char a[64], b[64];
    for (size_t j = 1; j < l->n_in; j++) {
        nn_shape s = l->ins[j];
        int ok = s.ndim == out.ndim;
        for (size_t d = 0; ok && d < s.ndim; d++)
            ok = d == ax || s.dim[d] == out.dim[d];
        if (!ok)
            return nn_spec_error(spec, "inputs", err,
                                 "concat joins along axis %zu and needs the "
                                 "other axes equal: input 1 is %s, input %zu "
                                 "is %s", ax,
                                 nn_shape_str(l->ins[0], a, sizeof a), j + 1,
                                 nn_shape_str(s, b, sizeof b));
        out.dim[ax] += s.dim[ax];
    }
    l->out = out;
    return 0;
}

/* Values per row of input j in one block (the joined axis and after),
 * and blocks per row (the axes before). */
static size_t block(nn_shape s, size_t *outer)
{
    size_t ax = concat_axis(s), inner = 1;
    *outer = 1;
    for (size_t d = 0; d < s.ndim; d++) {
        if (d < ax) *outer *= s.dim[d];
        else inner *= s.dim[d];
    }
    return inner;
}

/* y[n, out] = the inputs' blocks side by side (see the top). */
static void concat_forward(nn_layer *l, const float *const *x, float *y,
                           size_t n)
{
    size_t outer, out_w = nn_shape_size(l->out), at = 0;
    for (size_t j = 0; j < l->n_in; j++) {
        size_t bw = block(l->ins[j], &outer), in_w = outer * bw;
        for (size_t r = 0; r < n; r++)
            for (size_t o = 0; o < outer; o++)
                memcpy(y + r * out_w + o * (out_w / outer) + at,
                       x[j] + r * in_w + o * bw, bw * sizeof *y);
        at += bw;
    }
}

/* dx_j[n, ins[j]] = input j's blocks of dy. */
static void concat_backward_input(nn_layer *l, size_t j, const float *dy,
                                  float *dx, size_t n)
{
    size_t outer, out_w = nn_shape_size(l->out), at = 0;
    for (size_t k = 0; k < j; k++) at += block(l->ins[k], &outer);
    size_t bw = block(l->ins[j], &outer), in_w = outer * bw;
    for (size_t r = 0; r < n; r++)
        for (size_t o = 0; o < outer; o++)
            memcpy(dx + r * in_w + o * bw,
                   dy + r * out_w + o * (out_w / outer) + at, bw * sizeof *dx);
}

const nn_layer_ops nn_add_ops = {
    .type = "add",
    .create = add_create,
    .forward_join = add_forward,
    .backward_input = add_backward_input,
};

const nn_layer_ops nn_concat_ops = {
    .type = "concat",
    .create = concat_create,
    .forward_join = concat_forward,
    .backward_input = concat_backward_input,
};

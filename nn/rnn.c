/* nn/rnn.c - Elman recurrent layer: h_t = tanh(x_t Wx^T + b + h_{t-1} Wh^T).
 *
 * YAML type `rnn`; keys, parameters, padding and stateful mode as in
 * nn/recurrent.h (one gate block, G = 1). Backward, with a = the
 * pre-activation: da = dh_t * (1 - h_t^2); da reaches Wx, b, x through the
 * input projection and Wh, h_{t-1} through the recurrent one.
 */
#include <math.h> /* tanhf */

#include "nn/layers.h"
#include "nn/recurrent.h"

static void rnn_cell_forward(const nn_rec_fwd *a, size_t H)
{
    for (size_t j = 0; j < H; j++) {
        float h = tanhf(a->gate[j] + a->rh[j]);
        a->gate[j] = h;
        a->h1[j] = h;
    }
}

static void rnn_cell_backward(const nn_rec_bwd *a, size_t H)
{
    for (size_t j = 0; j < H; j++) {
        float h = a->h1[j];
        float da = a->dh[j] * (1.0f - h * h);
        a->dgate[j] = da;
        a->drh[j] = da;
        a->dh[j] = 0.0f; /* h_{t-1} reaches h_t only through Wh */
    }
}

static const nn_rec_cell rnn_cell = {
    .gates = 1,
    .cell_state = 0,
    .aux = 0,
    .recurrent_bias = 0,
    .init_bias = NULL,
    .forward = rnn_cell_forward,
    .backward = rnn_cell_backward,
};

static int rnn_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    return nn_recurrent_create(l, spec, &rnn_cell, err);
}

const nn_layer_ops nn_rnn_ops = {
    .type = "rnn",
    .create = rnn_create,
    .init = nn_recurrent_init,
    .reserve = nn_recurrent_reserve,
    .forward = nn_recurrent_forward,
    .backward = nn_recurrent_backward,
    .destroy = nn_recurrent_destroy,
    .attrs = nn_recurrent_attrs,
};

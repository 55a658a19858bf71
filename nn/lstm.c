/* nn/lstm.c - long short-term memory layer (YAML type `lstm`).
 *
 * Gate blocks in the order i, f, g, o (G = 4), a = x Wx^T + b + h Wh^T:
 *     i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
 *     c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t).
 * The forget-gate bias starts at 1 (the others at 0), so that memory is
 * kept by default early in training. Keys, parameters, padding and
 * stateful mode as in nn/recurrent.h; both h and c are carried.
 * Backward, with dh = dL/dh_t and dc = dL/dc_t from later steps:
 *     dc_t' = dc + dh * o * (1 - tanh(c_t)^2)
 *     da_i = dc_t' g i(1-i)   da_f = dc_t' c_{t-1} f(1-f)
 *     da_g = dc_t' i (1-g^2)  da_o = dh tanh(c_t) o(1-o)
 *     dL/dc_{t-1} = dc_t' f   (dL/dh_{t-1} comes through Wh only).
 */
#include <math.h> /* tanhf */

#include "nn/layers.h"
#include "nn/recurrent.h"

static void lstm_cell_forward(const nn_rec_fwd *a, size_t H)
{
    float *gi = a->gate, *gf = gi + H, *gg = gf + H, *go = gg + H;
    const float *ri = a->rh, *rf = ri + H, *rg = rf + H, *ro = rg + H;
    for (size_t j = 0; j < H; j++) {
        float i = nn_rec_sigmoid(gi[j] + ri[j]);
        float f = nn_rec_sigmoid(gf[j] + rf[j]);
        float g = tanhf(gg[j] + rg[j]);
        float o = nn_rec_sigmoid(go[j] + ro[j]);
        float c = f * a->c0[j] + i * g;
        float tc = tanhf(c);
        gi[j] = i;
        gf[j] = f;
        gg[j] = g;
        go[j] = o;
        a->c1[j] = c;
        a->aux[j] = tc;
        a->h1[j] = o * tc;
    }
}

static void lstm_cell_backward(const nn_rec_bwd *a, size_t H)
{
    const float *gi = a->gate, *gf = gi + H, *gg = gf + H, *go = gg + H;
    float *di = a->dgate, *df = di + H, *dg = df + H, *dO = dg + H;
    for (size_t j = 0; j < H; j++) {
        float i = gi[j], f = gf[j], g = gg[j], o = go[j], tc = a->aux[j];
        float dh = a->dh[j];
        float dct = a->dc[j] + dh * o * (1.0f - tc * tc);
        di[j] = dct * g * i * (1.0f - i);
        df[j] = dct * a->c0[j] * f * (1.0f - f);
        dg[j] = dct * i * (1.0f - g * g);
        dO[j] = dh * tc * o * (1.0f - o);
        a->dc[j] = dct * f;
        a->dh[j] = 0.0f;
    }
    for (size_t j = 0; j < 4 * H; j++) a->drh[j] = a->dgate[j];
}

/* Forget-gate bias 1. */
static void lstm_init_bias(float *b, size_t H)
{
    for (size_t j = H; j < 2 * H; j++) b[j] = 1.0f;
}

static const nn_rec_cell lstm_cell = {
    .gates = 4,
    .cell_state = 1,
    .aux = 1, /* tanh(c_t) */
    .recurrent_bias = 0,
    .init_bias = lstm_init_bias,
    .forward = lstm_cell_forward,
    .backward = lstm_cell_backward,
};

static int lstm_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    return nn_recurrent_create(l, spec, &lstm_cell, err);
}

const nn_layer_ops nn_lstm_ops = {
    .type = "lstm",
    .create = lstm_create,
    .init = nn_recurrent_init,
    .reserve = nn_recurrent_reserve,
    .forward = nn_recurrent_forward,
    .backward = nn_recurrent_backward,
    .destroy = nn_recurrent_destroy,
    .attrs = nn_recurrent_attrs,
};

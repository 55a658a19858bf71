/* nn/gru.c - gated recurrent unit layer (YAML type `gru`).
 *
 * Gate blocks r, z, n (G = 3); p = x Wx^T + b, q = h_{t-1} Wh^T:
 *     r = sigmoid(p_r + q_r)   z = sigmoid(p_z + q_z)
 *     n = tanh(p_n + r * (q_n + bh))
 *     h_t = (1 - z) * n + z * h_{t-1}
 * (the cuDNN / PyTorch variant: the reset gate scales the recurrent
 * projection, so every step needs one [n, H] x Wh^T product; bh is the
 * extra `recurrent_bias` [H] of the candidate, which r scales). Keys,
 * parameters, padding and stateful mode as in nn/recurrent.h.
 * Backward, with dh = dL/dh_t and u = q_n + bh (kept from forward):
 *     dz = dh (h_{t-1} - n)   dn = dh (1 - z)   da_n = dn (1 - n^2)
 *     dp = [dz_r, dz_z, da_n] with dz_r = da_n u r(1-r), dz_z = dz z(1-z)
 *     dq = [dz_r, dz_z, da_n r],  dbh += da_n r,  dL/dh_{t-1} = dh z + dq Wh.
 */
#include <math.h> /* tanhf */

#include "nn/layers.h"
#include "nn/recurrent.h"

static void gru_cell_forward(const nn_rec_fwd *a, size_t H)
{
    float *gr = a->gate, *gz = gr + H, *gn = gz + H;
    const float *qr = a->rh, *qz = qr + H, *qn = qz + H;
    for (size_t j = 0; j < H; j++) {
        float r = nn_rec_sigmoid(gr[j] + qr[j]);
        float z = nn_rec_sigmoid(gz[j] + qz[j]);
        float u = qn[j] + a->bh[j];
        float n = tanhf(gn[j] + r * u);
        gr[j] = r;
        gz[j] = z;
        gn[j] = n;
        a->aux[j] = u;
        a->h1[j] = n + z * (a->h0[j] - n);
    }
}

static void gru_cell_backward(const nn_rec_bwd *a, size_t H)
{
    const float *gr = a->gate, *gz = gr + H, *gn = gz + H;
    float *pr = a->dgate, *pz = pr + H, *pn = pz + H;
    float *qr = a->drh, *qz = qr + H, *qn = qz + H;
    for (size_t j = 0; j < H; j++) {
        float r = gr[j], z = gz[j], n = gn[j], u = a->aux[j], dh = a->dh[j];
        float dz = dh * (a->h0[j] - n);
        float dan = dh * (1.0f - z) * (1.0f - n * n);
        float dar = dan * u * r * (1.0f - r);
        float daz = dz * z * (1.0f - z);
        pr[j] = qr[j] = dar;
        pz[j] = qz[j] = daz;
        pn[j] = dan;
        qn[j] = dan * r;
        a->dbh[j] += dan * r;
        a->dh[j] = dh * z; /* the direct path z * h_{t-1} */
    }
}

static const nn_rec_cell gru_cell = {
    .gates = 3,
    .cell_state = 0,
    .aux = 1, /* u = q_n + bh */
    .recurrent_bias = 1,
    .init_bias = NULL,
    .forward = gru_cell_forward,
    .backward = gru_cell_backward,
};

static int gru_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    return nn_recurrent_create(l, spec, &gru_cell, err);
}

const nn_layer_ops nn_gru_ops = {
    .type = "gru",
    .create = gru_create,
    .init = nn_recurrent_init,
    .reserve = nn_recurrent_reserve,
    .forward = nn_recurrent_forward,
    .backward = nn_recurrent_backward,
    .destroy = nn_recurrent_destroy,
    .attrs = nn_recurrent_attrs,
};

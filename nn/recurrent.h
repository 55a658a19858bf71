/* nn/recurrent.h - what the recurrent layers (rnn, lstm, gru) share, and
 * how a caller feeds them sequences.
 *
 * Layout: a sequence sample has shape [T, F], stored time-major within its
 * row (T consecutive F-vectors). A recurrent layer maps it to [T, H]
 * (`sequences: true`, the hidden state after every step) or to [H]
 * (`sequences: false`, the state after the last valid step).
 * YAML keys: hidden (required), sequences (true), init (xavier: applies to
 * both weight matrices), stateful (false).
 *
 * Parameters, G = gate blocks of H (rnn 1; lstm 4: i, f, g, o; gru 3:
 * r, z, n), in arena order:
 *   weight            Wx[G*H, F]  (decayed)  - input projection
 *   recurrent_weight  Wh[G*H, H]  (decayed)  - recurrent projection
 *   bias              b[G*H]                 - added to the input projection
 *   recurrent_bias    bh[H]       (gru only) - inside the reset gate
 * Forward: P = X[n*T, F] Wx^T + b for all steps at once (one sgemm); then
 * per step t a [n, H] x Wh^T sgemm and the cell's element-wise update.
 * Backward is backpropagation through time over the whole sequence.
 *
 * VARIABLE LENGTHS (padding convention). A row holds a sequence of length
 * L <= T in its first L steps; steps L..T-1 are padding. The per-row
 * lengths are given to the layers with nn_recurrent_set_lengths (a whole
 * model: nn_recurrent_model_set_lengths) before the forward; they stay in
 * force until set again. No lengths (the default, or after setting NULL)
 * means every row has the full length T. nn_recurrent_lengths derives the
 * lengths from a padded input batch, e.g. token ids padded with
 * NN_LABEL_NONE (which the embedding layer maps to zero vectors).
 * Padded steps contribute nothing: the state is carried unchanged through
 * them (so the "last" state is the state after step L-1, the initial state
 * when L = 0), outputs there are zero, dy there is ignored, dx there is
 * zero and no parameter gradient comes from them. Input values at padded
 * steps are never used but must be finite (they meet zeros in the
 * weight-gradient product).
 * A sequence loss over a time-distributed output [T, V] is computed by
 * viewing [n, T*V] as [n*T, V] with targets [n*T] that are NN_LABEL_NONE at
 * padded steps (see nn/loss.h).
 *
 * STATEFUL mode (`stateful: true`, truncated BPTT over long streams): each
 * forward starts row i from the final state of row i in the previous
 * forward (zeros after create, reserve growth keeps old rows) instead of
 * from zeros, and the backward treats that initial state as a constant:
 * gradients are cut at the chunk edge. So row i of a chunk must continue
 * row i of the previous chunk, and the caller resets with
 * nn_recurrent_reset_state / nn_recurrent_model_reset_state at the start
 * of every new set of streams (each epoch, and before and after an
 * evaluation, whose forwards also carry state).
 */
#ifndef NN_RECURRENT_H
#define NN_RECURRENT_H

#include <math.h>   /* expf */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint32_t */
#include "nn/layer.h"
#include "nn/model.h"

/* ---- for callers (trainer, tools, tests) ---- */

/* 1 if l is an rnn, lstm or gru layer. */
int nn_recurrent_is(const nn_layer *l);

/* Lengths of the next batches' rows for layer l: lengths[0..n) each <= T
 * (copied; checked: a longer one is a fatal NN_CHECK), or NULL for full
 * length. Every later forward must then have exactly n rows (a fatal
 * NN_CHECK otherwise) until the lengths are set again; a backward uses the
 * lengths of its forward. No-op on a non-recurrent layer. */
void nn_recurrent_set_lengths(nn_layer *l, const uint32_t *lengths, size_t n);
/* The same for every recurrent layer of a model. */
void nn_recurrent_model_set_lengths(nn_model *m, const uint32_t *lengths,
                                    size_t n);

/* Stateful layers: forget the carried state (the next forward starts every
 * row from zeros). No-op on other layers. */
void nn_recurrent_reset_state(nn_layer *l);
void nn_recurrent_model_reset_state(nn_model *m);

/* The carried state of the stateful layers as rows, e.g. to checkpoint
 * it: width = floats per row over every stateful layer of m, in layer
 * order (h, then c for an lstm), 0 when there is none. get writes
 * out[n, width] from rows [0, n); set loads rows [0, n) from in[n, width].
 * n must not exceed the rows reserved (a fatal NN_CHECK). */
size_t nn_recurrent_model_state_width(const nn_model *m);
void nn_recurrent_model_get_state(const nn_model *m, size_t n, float *out);
void nn_recurrent_model_set_state(nn_model *m, size_t n, const float *in);

/* lengths[i] = number of steps of row i of x[n, T*F] before its first
 * padding step, a step whose first feature equals `pad` (or is NaN when pad
 * is NaN). Steps after the first padding step count as padding too. */
void nn_recurrent_lengths(const float *x, size_t n, size_t T, size_t F,
                          float pad, uint32_t *lengths);

/* ---- for the layer files nn/rnn.c, nn/lstm.c, nn/gru.c ---- */

/* One row, one step of the forward. Vectors are [H] unless noted. */
typedef struct nn_rec_fwd {
    float *gate;         /* [G*H] in: x Wx^T + b; out: gate activations */
    const float *rh;     /* [G*H] h0 Wh^T */
    const float *bh;     /* recurrent bias (gru), else NULL */
    const float *h0, *c0;/* previous state (c0 NULL without cell state) */
    float *h1, *c1;      /* new state */
    float *aux;          /* per-step stash kept for backward, or NULL */
} nn_rec_fwd;

/* One row, one step of the backward, given what its forward stored. */
typedef struct nn_rec_bwd {
    const float *gate, *aux, *bh;
    const float *h0, *c0, *h1, *c1;
    float *dh;    /* in: dL/dh1; out: the part of dL/dh0 that bypasses Wh */
    float *dc;    /* in: dL/dc1; out: dL/dc0 (NULL without cell state) */
    float *dgate; /* [G*H] out: dL/d(x Wx^T + b) */
    float *drh;   /* [G*H] out: dL/d(h0 Wh^T) */
    float *dbh;   /* += dL/dbh (gru), else NULL */
} nn_rec_bwd;

/* A cell kind: its sizes and its per-row step kernels. */
typedef struct nn_rec_cell {
    size_t gates;        /* G */
    int cell_state;      /* carries c besides h (lstm) */
    int aux;             /* stores an [H] vector per step */
    int recurrent_bias;  /* has bh[H] (gru) */
    void (*init_bias)(float *b, size_t H); /* b[G*H] after zeroing, or NULL */
    void (*forward)(const nn_rec_fwd *a, size_t H);
    void (*backward)(const nn_rec_bwd *a, size_t H);
} nn_rec_cell;

/* create(): read the common keys, check the input is [T, F], declare the
 * parameters, set l->out, l->ws_per_row and l->priv. */
int nn_recurrent_create(nn_layer *l, nn_spec *spec, const nn_rec_cell *cell,
                        nn_error *err);
/* The remaining ops, the same for every cell kind. */
void nn_recurrent_init(nn_layer *l, nn_rng *rng);
void nn_recurrent_reserve(nn_layer *l, size_t rows);
void nn_recurrent_forward(nn_layer *l, const float *x, float *y, size_t n,
                          const nn_pass *pass);
void nn_recurrent_backward(nn_layer *l, const float *x, const float *y,
                           const float *dy, float *dx, size_t n);
void nn_recurrent_destroy(nn_layer *l);
void nn_recurrent_attrs(const nn_layer *l, nn_layer_attrs *a);

/* Element-wise helpers for the cells. */
static inline float nn_rec_sigmoid(float a)
{
    /* Written so that expf never overflows for large |a|. */
    if (a >= 0.0f) return 1.0f / (1.0f + expf(-a));
    float e = expf(a);
    return e / (1.0f + e);
}

#endif

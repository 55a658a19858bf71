/* nn/model.h - a graph of layers over one parameter arena.
 *
 * Layers are listed in a topological order: each layer reads the outputs
 * of earlier layers (by default the previous layer's, or the model input
 * for the first; a spec key `inputs: [name, ...]` names them, `input`
 * being the model input), and the last layer's output is the model's.
 * A chain - every layer reading the previous one - is the common case.
 *
 * Memory is planned first, then allocated: create() infers every layer's
 * shape from the input shape, sums the parameter counts and allocates the
 * param and grad arenas once. reserve(rows) sizes the activations, the
 * gradient buffers and the shared scratch for batches of up to `rows`
 * rows; forward/backward then allocate nothing.
 *
 * Backward: a layer output read by several layers (fan-out) receives the
 * SUM of their input gradients. Layers keep WRITING their dx: the model
 * hands the first one (in backward order) the tensor's gradient buffer and
 * each later one a scratch buffer that it then adds in. Gradient buffers
 * are shared between tensors whose gradients are never alive at the same
 * time, so a chain uses two, as a ping-pong.
 */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <stdio.h>  /* FILE */
#include "nn/layer.h"

/* A contiguous run of the arenas sharing one treatment by the optimizer. */
typedef struct nn_segment {
    size_t offset, count;
    unsigned flags;   /* NN_PARAM_* of the tensor */
    int trainable;    /* 0: frozen layer */
} nn_segment;

/* Called by nn_model_backward right after layer `layer`'s backward has
 * run (its parameter gradients are final for this pass), in backward order
 * (last layer first); layers that need no backward (no trainable
 * parameter at or above them) are skipped.
 * Used to start the gradient allreduce of a bucket while backward goes on. */
typedef void (*nn_backward_hook)(void *ctx, size_t layer);

/* Where layer i reads from. Tensor ids: 0 is the model input, t >= 1
 * the output of layer t - 1. */
typedef struct nn_node {
    size_t n_in;
    size_t in[NN_MAX_INPUTS];
    int given; /* inputs other than the previous layer's (hashed, shown) */
} nn_node;

typedef struct nn_model {
    size_t n_layers;
    nn_layer *layers;
    nn_node *nodes;   /* [n_layers] */
    nn_shape in;
    size_t n_params;
    float *params;    /* the parameter arena */
    float *grads;     /* the gradient arena, same layout */
    size_t n_segs;
    nn_segment *segs; /* one per parameter tensor, in arena order */
    size_t rows_cap;
    float **acts;     /* acts[i] = output of layer i, [rows_cap, out_i] */
    /* Gradient plan: tensor t's gradient lives in gbuf[tslot[t]] (t in
     * 1 .. n_layers - 1; the last output's is the caller's dout, the
     * input's the caller's dx). */
    size_t n_gbufs;
    size_t *gbuf_w;   /* [n_gbufs] floats per row */
    float **gbuf;     /* [n_gbufs] [rows_cap, gbuf_w] */
    size_t *tslot;    /* [n_layers + 1] */
    float *gacc;      /* [rows_cap, gacc_w]: later fan-out gradients */
    size_t gacc_w;
    unsigned char *gready; /* [n_layers + 1] per backward: gradient begun */
    unsigned char *run;    /* [n_layers] per backward: layer runs */
    float *ws;        /* shared scratch */
    size_t ws_cap;
    nn_backward_hook hook; /* NULL: none */
    void *hook_ctx;
    int grads_borrowed;    /* grads is the caller's (nn_model_use_grad_arena) */
} nn_model;

/* Build a model from layer specs (copied) for samples of shape `in`.
 * Reads each spec's optional `inputs` (names of earlier layers, or
 * `input`). Errors - an unknown, later or own name in `inputs`, shapes a
 * layer cannot take, an output no later layer reads - name the layer, the
 * config line and the shapes; they return NN_EXIT_USAGE. */
int nn_model_create(nn_model **out, const nn_spec *specs, size_t n_specs,
                    nn_shape in, nn_error *err);
void nn_model_destroy(nn_model *m);

/* Fill parameters from a generator seeded with `seed` (layer by layer). */
void nn_model_init(nn_model *m, uint64_t seed);

/* Make room for batches of up to `rows` rows (no-op if already enough). */
void nn_model_reserve(nn_model *m, size_t rows);

/* Forward x[n, in] through every layer; returns the output [n, out]
 * (owned by the model, valid until the next forward). n <= rows_cap. */
const float *nn_model_forward(nn_model *m, const float *x, size_t n,
                              const nn_pass *pass);

/* Backpropagate dout[n, out] for the last forward of x; ADDS parameter
 * gradients into the grad arena. Only layers with a trainable parameter
 * at or above them run; the model input's gradient is not computed. */
void nn_model_backward(nn_model *m, const float *x, const float *dout,
                       size_t n);

/* The same, through every layer (frozen ones too), and WRITE the gradient
 * with respect to the model's input into dx[n, in]: what a network feeding
 * this one (a GAN's generator below its discriminator) backpropagates.
 * Parameter gradients are still ADDED into the grad arena; a caller that
 * only wants dx zeroes or ignores them. */
void nn_model_backward_input(nn_model *m, const float *x, const float *dout,
                             size_t n, float *dx);

/* Move the gradient arena to buf (n_params floats, e.g. memory shared
 * with other processes) with its current contents, re-pointing every
 * layer's gradient view; the model's own arena is freed. The model never
 * frees buf: the caller keeps it alive as long as the model uses it.
 * buf == NULL moves the gradients back into a new arena of the model's
 * own. Outside a training step only (allocates). */
void nn_model_use_grad_arena(nn_model *m, float *buf);

/* Install (fn != NULL) or remove (fn == NULL) the backward hook. */
void nn_model_set_backward_hook(nn_model *m, nn_backward_hook fn, void *ctx);

void nn_model_zero_grad(nn_model *m);
nn_shape nn_model_out_shape(const nn_model *m);
/* Index of the layer with this name, or -1. */
long nn_model_find_layer(const nn_model *m, const char *name);

/* Rows of the first layer's table if it is an `embedding` (its inputs are
 * token ids in [0, that)); 0 if the first layer takes other values. */
size_t nn_model_token_vocab(const nn_model *m);

/* Hash of the architecture: types, names, shapes and parameter counts,
 * and the inputs of layers that do not read the previous layer (so a
 * chain hashes as it did before layers could name their inputs, and old
 * checkpoints still load). */
uint64_t nn_model_hash(const nn_model *m);

/* Print "layer  type  output shape  params  inputs" table and the
 * totals. */
void nn_model_summary(const nn_model *m, FILE *f);

#endif

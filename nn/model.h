/* nn/model.h - an ordered stack of layers over one parameter arena.
 *
 * Memory is planned first, then allocated: create() infers every layer's
 * shape from the input shape, sums the parameter counts and allocates the
 * param and grad arenas once. reserve(rows) sizes the activations, the two
 * ping-pong gradient buffers and the shared scratch for batches of up to
 * `rows` rows; forward/backward then allocate nothing.
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
 * (last layer first); layers below the first trainable one are skipped.
 * Used to start the gradient allreduce of a bucket while backward goes on. */
typedef void (*nn_backward_hook)(void *ctx, size_t layer);

typedef struct nn_model {
    size_t n_layers;
    nn_layer *layers;
    nn_shape in;
    size_t n_params;
    float *params;    /* the parameter arena */
    float *grads;     /* the gradient arena, same layout */
    size_t n_segs;
    nn_segment *segs; /* one per parameter tensor, in arena order */
    size_t rows_cap;
    float **acts;     /* acts[i] = output of layer i, [rows_cap, out_i] */
    float *dbuf[2];   /* gradient ping-pong, [rows_cap, max width] */
    float *ws;        /* shared scratch */
    size_t ws_cap;
    nn_backward_hook hook; /* NULL: none */
    void *hook_ctx;
    int grads_borrowed;    /* grads is the caller's (nn_model_use_grad_arena) */
} nn_model;

/* Build a model from layer specs (copied) for samples of shape `in`.
 * Errors name the layer, the config line and the shapes. */
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
 * gradients into the grad arena. The first layer's input gradient is not
 * computed. */
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

/* Hash of the architecture: types, names, shapes and parameter counts. */
uint64_t nn_model_hash(const nn_model *m);

/* Print "layer  type  output shape  params" table and the totals. */
void nn_model_summary(const nn_model *m, FILE *f);

#endif

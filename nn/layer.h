/* nn/layer.h - a layer is a table of operations plus its views.
 *
 * Each layer kind lives in one file of nn/ and exports one
 * `const nn_layer_ops nn_<kind>_ops`; nn/registry.c maps the YAML `type:`
 * name to it. Adding a layer = one file + one registry line + its tests.
 *
 * Data layout: a batch is `n` rows, each row one sample stored contiguously
 * in the layer's shape order (C,H,W for images, T,F for sequences, F for
 * vectors), so a batch is a row-major [n, nn_shape_size(shape)] matrix.
 *
 * Parameters: during create a layer declares its tensors with
 * nn_layer_add_param (counts only). The model then lays every layer's
 * tensors out in ONE parameter arena and ONE gradient arena of the same
 * layout and points l->param / l->grad at the layer's block; a tensor's
 * floats are l->param + view.offset. Layers never allocate parameters.
 */
#ifndef NN_LAYER_H
#define NN_LAYER_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */
#include "nn/error.h"
#include "nn/rng.h"
#include "nn/spec.h"

#define NN_MAX_DIMS 4

/* Per-sample shape (the batch dimension is never part of it). */
typedef struct nn_shape {
    size_t ndim;
    size_t dim[NN_MAX_DIMS];
} nn_shape;

nn_shape nn_shape_1d(size_t a);
nn_shape nn_shape_2d(size_t a, size_t b);
nn_shape nn_shape_3d(size_t a, size_t b, size_t c);
size_t nn_shape_size(nn_shape s);
int nn_shape_eq(nn_shape a, nn_shape b);
/* "[6, 28, 28]" into buf; returns buf. */
char *nn_shape_str(nn_shape s, char *buf, size_t cap);

/* Parameter tensor flags. */
#define NN_PARAM_DECAY 1u  /* weight decay applies (weights, not biases/norms) */
#define NN_PARAM_BUFFER 2u /* state kept and saved but not trained (running stats) */

#define NN_MAX_PARAM_VIEWS 4
/* Most inputs one layer can name (`inputs:`). */
#define NN_MAX_INPUTS 8

typedef struct nn_param_view {
    const char *name; /* "weight", "bias", ... (static string) */
    size_t offset;    /* floats from l->param */
    size_t count;
    unsigned flags;
} nn_param_view;

/* How a forward pass runs. */
typedef struct nn_pass {
    int training;       /* 1: dropout active, batchnorm uses batch statistics */
    uint64_t seed;      /* run seed, for counter-based randomness */
    uint64_t step;      /* global optimizer step */
    const uint64_t *ids;/* global sample id of each row (n entries), or NULL */
} nn_pass;

typedef struct nn_layer nn_layer;

/* The settings a layer's create read that its shapes do not show, for
 * tools that write the layer in another form (export/). Zero where a
 * field does not apply. */
typedef struct nn_layer_attrs {
    size_t kernel[2], stride[2], pad[2]; /* conv2d, pools: rows, columns;
                                            pad on each side */
    double eps;         /* batchnorm, layernorm */
    double slope;       /* leaky_relu */
    int sequences;      /* rnn, lstm, gru: output every step */
    int stateful;       /* rnn, lstm, gru: state carried across forwards */
} nn_layer_attrs;

typedef struct nn_layer_ops {
    const char *type; /* YAML name */
    /* l->in, l->name, l->spec are set. Read keys from spec, validate them
     * against l->in, set l->out, declare params (nn_layer_add_param), set
     * l->ws_per_row / l->ws_fixed (scratch floats) and l->priv.
     * Errors name the layer and the shapes; return NN_EXIT_USAGE.
     * On failure l->priv may be left set: the caller then calls destroy.
     * Strings read from spec are borrowed: the spec is freed after create. */
    int (*create)(nn_layer *l, nn_spec *spec, nn_error *err);
    /* Optional: fill this layer's parameters (default: zeros). */
    void (*init)(nn_layer *l, nn_rng *rng);
    /* Optional: (re)allocate private per-row state for up to `rows` rows.
     * Called outside the training step only. */
    void (*reserve)(nn_layer *l, size_t rows);
    /* y[n, out] = f(x[n, in]). May use l->ws. Allocates nothing. */
    void (*forward)(nn_layer *l, const float *x, float *y, size_t n,
                    const nn_pass *pass);
    /* Given x, y of the last forward and dy[n, out]: ACCUMULATE parameter
     * gradients into l->grad (+=) and, if dx != NULL, WRITE dx[n, in]. */
    void (*backward)(nn_layer *l, const float *x, const float *y,
                     const float *dy, float *dx, size_t n);
    /* Optional: free l->priv. */
    void (*destroy)(nn_layer *l);
    /* Join layers only (add, concat), which take l->n_in inputs of shapes
     * l->ins[] and have no parameters; the model calls these instead of
     * forward/backward when they are set. forward_join: y[n, out] =
     * f(x[0][n, ins[0]], ..., x[n_in-1]). backward_input: WRITE the
     * gradient dx[n, ins[j]] of input j given dy[n, out]. */
    void (*forward_join)(nn_layer *l, const float *const *x, float *y,
                         size_t n);
    void (*backward_input)(nn_layer *l, size_t j, const float *dy, float *dx,
                           size_t n);
    /* Optional: fill a (zeroed by the caller) with the layer's settings;
     * layers whose shapes say everything leave it unset. */
    void (*attrs)(const nn_layer *l, nn_layer_attrs *a);
} nn_layer_ops;

struct nn_layer {
    const nn_layer_ops *ops;
    char name[64];
    nn_shape in, out;              /* in = ins[0] */
    size_t n_in;                   /* inputs: 1 unless a join layer */
    nn_shape ins[NN_MAX_INPUTS];   /* their shapes */
    int trainable;                 /* 0: frozen (no update, no allreduce) */
    size_t n_params;               /* sum of the views' counts */
    size_t n_views;
    nn_param_view views[NN_MAX_PARAM_VIEWS];
    float *param;                  /* view into the model's param arena */
    float *grad;                   /* view into the model's grad arena */
    size_t ws_per_row, ws_fixed;   /* scratch floats this layer needs */
    float *ws;                     /* shared scratch, set by the model */
    size_t rows_cap;               /* rows reserved so far */
    void *priv;                    /* kind-specific state */
};

/* Declare a parameter tensor of `count` floats; returns its view index. */
size_t nn_layer_add_param(nn_layer *l, const char *name, size_t count,
                          unsigned flags);
/* Pointer to tensor `i` of the layer (params or grads). */
float *nn_layer_tensor(const nn_layer *l, size_t i);
float *nn_layer_grad_tensor(const nn_layer *l, size_t i);

/* Registry: the ops for a YAML type name, or NULL. */
const nn_layer_ops *nn_layer_find(const char *type);
/* Comma-separated list of known types, for error messages. */
const char *nn_layer_types(void);

/* Set up l from spec for input shape `in`: find the ops, read the common
 * key `trainable` (default true), call create, reject unread keys and empty
 * output shapes. Allocates no parameters (l->param = l->grad = NULL).
 * Used by nn_model_create and nn_layer_make. Returns 0 or NN_EXIT_USAGE
 * (nothing left to free on failure). */
int nn_layer_setup(nn_layer *l, nn_spec *spec, nn_shape in, nn_error *err);
/* The same for a layer fed by n_in (1..NN_MAX_INPUTS) inputs of shapes
 * ins[]; more than one only for a join layer (an error otherwise). */
int nn_layer_setup_inputs(nn_layer *l, nn_spec *spec, const nn_shape *ins,
                          size_t n_in, nn_error *err);

/* Create one stand-alone layer (own param/grad buffers, zero-filled) - for
 * tests and tools. Returns 0 or an error. Free with nn_layer_free. */
int nn_layer_make(nn_layer *l, nn_spec *spec, nn_shape in, nn_error *err);
/* Stand-alone layers only: give l its own scratch for `rows` rows and call
 * ops->reserve (no-op if enough is reserved). */
void nn_layer_reserve(nn_layer *l, size_t rows);
void nn_layer_free(nn_layer *l);

#endif

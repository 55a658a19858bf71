/* nn/optim.h - optimizers: one loop over the flat arenas.
 *
 * The optimizer state (momentum, or Adam's two moments) is one block laid
 * out like the parameter arena (per slot), so checkpoints save it as is.
 * Segments say which runs of the arena are frozen (skipped) and which take
 * weight decay (by default weights only, not biases or norm parameters).
 */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */
#include "nn/model.h"

typedef enum { NN_OPT_SGD = 0, NN_OPT_ADAM = 1, NN_OPT_ADAMW = 2 } nn_opt_kind;

typedef struct nn_optim_cfg {
    nn_opt_kind kind;
    float momentum;     /* SGD */
    int nesterov;       /* SGD */
    float weight_decay; /* SGD/Adam: L2 added to the gradient; AdamW: decoupled */
    float l1;           /* L1 penalty coefficient, added as l1*sign(w) */
    float beta1, beta2, eps; /* Adam */
    int decay_all;      /* 1: decay biases and norms too */
} nn_optim_cfg;

typedef struct nn_optim {
    nn_optim_cfg cfg;
    size_t n;          /* parameters */
    size_t n_slots;    /* state arrays: 0, 1 (momentum) or 2 (Adam) */
    float *state;      /* n_slots * n floats: slot k at state + k*n */
    uint64_t t;        /* steps taken */
    const nn_segment *segs;
    size_t n_segs;
} nn_optim;

/* Segments are borrowed (normally model->segs). */
nn_optim *nn_optim_create(const nn_optim_cfg *cfg, size_t n_params,
                          const nn_segment *segs, size_t n_segs);
void nn_optim_destroy(nn_optim *o);
/* One update of params from grads with learning rate lr. */
void nn_optim_step(nn_optim *o, float *params, const float *grads, float lr);
const char *nn_optim_kind_name(nn_opt_kind k);
/* Parse "sgd" / "adam" / "adamw"; -1 if unknown. */
int nn_optim_kind_parse(const char *s);

#endif

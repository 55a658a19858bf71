/* nn/memplan.h - how much memory a model will need, known before it is
 * allocated, so that a config that cannot fit is refused with a message
 * naming what is large instead of failing in malloc (exit 1, the whole job
 * aborted) or being killed by the kernel's OOM killer.
 *
 * The estimate counts what nn_model_create and nn_model_reserve allocate
 * (parameters, gradients, activations of every layer, backward buffers,
 * scratch) plus the optimizer's per-parameter slots; sums are in double so
 * that no product of user sizes wraps.
 */
#ifndef NN_MEMPLAN_H
#define NN_MEMPLAN_H

#include <stddef.h> /* size_t */
#include "nn/error.h"
#include "nn/model.h"

typedef struct nn_mem_plan {
    double param_bytes; /* parameters, gradients, optimizer slots */
    double act_bytes;   /* activations, backward buffers, scratch */
    double total;
    char largest[192];  /* the largest single part, described */
} nn_mem_plan;

/* The plan of model m for batches of `rows` rows with `slots` optimizer
 * floats per parameter. */
void nn_mem_plan_model(const nn_model *m, size_t rows, size_t slots,
                       nn_mem_plan *p);

/* Bytes of physical memory of this machine (0 if unknown). */
double nn_mem_physical(void);

/* Refuse a plan that cannot fit: `ranks` processes of this plan share the
 * machine. Returns 0 when ranks * p->total <= avail (or avail is 0,
 * unknown), else NN_EXIT_USAGE "the run needs about X GB per rank (Y GB
 * for N ranks on this machine, which has Z GB): LARGEST; HINT". */
int nn_mem_check(const nn_mem_plan *p, size_t ranks, double avail,
                 const char *hint, nn_error *err);

/* Before nn_model_create allocates: parameters and gradients of the layers
 * set up so far (sum of l->n_params) against avail bytes; names the
 * largest layer. */
int nn_mem_check_params(const nn_layer *layers, size_t n, double avail,
                        nn_error *err);

#endif

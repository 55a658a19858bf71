/* trainer/gradsync.h - averaging the gradient arena across ranks.
 *
 * Only trainable parameters travel: frozen layers and buffers (running
 * statistics) are left out, as contiguous ranges of the arena planned
 * once. The loss was already scaled by 1/(global batch rows), so a SUM
 * across ranks yields the global-batch mean gradient.
 */
#ifndef TRAINER_GRADSYNC_H
#define TRAINER_GRADSYNC_H

#include <stddef.h>

#include "comm/comm.h"
#include "nn/model.h"

typedef struct tr_range {
    size_t offset, count;
} tr_range;

typedef struct tr_gradsync {
    size_t n_ranges;
    tr_range *ranges;   /* merged trainable runs of the arena */
    size_t count;       /* floats synchronised per step */
} tr_gradsync;

/* Plan the ranges for model m. */
void tr_gradsync_plan(tr_gradsync *g, const nn_model *m);
void tr_gradsync_free(tr_gradsync *g);

/* Sum the trainable gradients of m across ranks, in place. Collective;
 * 0 or non-zero on an MPI failure. */
int tr_gradsync_run(tr_gradsync *g, comm_ctx *c, nn_model *m);

#endif

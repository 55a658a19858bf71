/* trainer/gradsync.h - averaging the gradient arena across ranks.
 *
 * Only trainable parameters travel: frozen layers and buffers (running
 * statistics) are left out, as contiguous ranges of the arena planned
 * once. The loss was already scaled by 1/(global batch rows), so a SUM
 * across ranks yields the global-batch mean gradient.
 *
 * Overlap with backward: the trainable ranges are cut into buckets at
 * layer boundaries, in backward order (last layer first), each at least
 * TR_BUCKET_FLOATS floats unless the model ends first. Between
 * tr_gradsync_begin and tr_gradsync_run, a backward hook on the model
 * starts a bucket's non-blocking allreduce as soon as backward has
 * finished the bucket's lowest layer, and polls the ones in flight after
 * every later layer; tr_gradsync_run starts whatever is left, always in
 * the same bucket order on every rank, and waits for all. Without begin,
 * tr_gradsync_run is one blocking allreduce per range.
 *
 * A step:  zero_grad; forward; loss; tr_gradsync_begin; backward;
 *          tr_gradsync_run; optimizer.
 */
#ifndef TRAINER_GRADSYNC_H
#define TRAINER_GRADSYNC_H

#include <stddef.h>

#include "comm/comm.h"
#include "nn/model.h"

/* Smallest bucket, in floats (128 KiB): below this a message costs more
 * in latency than its overlap can win. */
#define TR_BUCKET_FLOATS ((size_t)1 << 15)

typedef struct tr_range {
    size_t offset, count;
} tr_range;

typedef struct tr_bucket {
    size_t offset, count; /* a contiguous run of the gradient arena */
    size_t ready;         /* complete once backward of this layer has run */
    int req;              /* comm request while in flight, -1 otherwise */
} tr_bucket;

typedef struct tr_gradsync {
    size_t n_ranges;
    tr_range *ranges;     /* merged trainable runs of the arena */
    size_t count;         /* floats synchronised per step */
    size_t n_buckets;
    tr_bucket *buckets;   /* in launch order: last layers first */
    /* state of the step in progress (between begin and run) */
    int armed;            /* begin called */
    int failed;           /* an MPI call in the hook failed */
    size_t next;          /* first bucket not yet started */
    size_t polled;        /* buckets before this one are known complete */
    comm_ctx *comm;       /* borrowed, set by begin */
    nn_model *model;      /* borrowed, set by begin */
} tr_gradsync;

/* Plan the ranges and buckets for model m. */
void tr_gradsync_plan(tr_gradsync *g, const nn_model *m);
void tr_gradsync_free(tr_gradsync *g);

/* Arm the overlap for this step: installs a backward hook on m that
 * starts buckets as their layers finish. Call after the forward pass,
 * before nn_model_backward. Nothing collective happens here. */
void tr_gradsync_begin(tr_gradsync *g, comm_ctx *c, nn_model *m);

/* Sum the trainable gradients of m across ranks, in place: finish the
 * buckets begin armed (starting those backward did not reach) and remove
 * the hook, or, without begin, one blocking allreduce per range.
 * Collective; 0 or non-zero on an MPI failure. */
int tr_gradsync_run(tr_gradsync *g, comm_ctx *c, nn_model *m);

#endif

/* trainer/gradsync.h - averaging the gradient arena across ranks.
 *
 * Only trainable parameters travel: frozen layers and buffers (running
 * statistics) are left out, as contiguous ranges of the arena planned
 * once. The loss was already scaled by 1/(global batch rows), so a SUM
 * across ranks yields the global-batch mean gradient.
 *
 * Three ways to sum, chosen once per run (collectively, at the first
 * tr_gradsync_begin or tr_gradsync_run):
 *  - shared: when the whole job is on one node, the model's gradient
 *    arena moves into node-shared memory (comm_alloc_shared) and each
 *    range is summed in place there after backward: no messages, no copies
 *    (about 3x faster than MPI_Allreduce for the MLP's 0.94 MB);
 *  - overlap: across nodes, the ranges are cut into buckets at layer
 *    boundaries in backward order (last layer first), each of at least
 *    TR_BUCKET_FLOATS floats unless the model ends first; a backward hook
 *    installed by tr_gradsync_begin starts a bucket's MPI_Iallreduce as
 *    soon as backward has finished the bucket's lowest layer and polls the
 *    ones in flight after every later layer; tr_gradsync_run starts what is
 *    left, in the same bucket order on every rank, and waits for all;
 *  - blocking: one MPI_Allreduce per range after backward (what run does
 *    when begin was never called and the arena is not shared).
 * The sums are the same in every mode, up to float summation order.
 *
 * And one that fixes the order (training.deterministic, docs/
 * DETERMINISM.md):
 *  - tree: the global batch is cut into M micro-shards (a power of two,
 *    io_shard_micro); the objective runs one pass per micro-shard this
 *    rank owns and hands each one's gradient (with its metric sums and
 *    the buffers its forward left) to tr_gradsync_leaf, which folds them
 *    into a binary tree as they come (pairwise: leaf 2i + leaf 2i+1, then
 *    those pairs, ...). Rank r of p owns micro-shards [r*M/p, (r+1)*M/p),
 *    an aligned subtree, so its partial sum is a node of the one tree over
 *    all M leaves; tr_gradsync_tree_run adds the p partials in the same
 *    tree (rank 2i + rank 2i+1, ...): in place in node-shared memory
 *    (comm_tree_sum) when the job is on one node, else gathered to rank 0
 *    and the root broadcast. Every float addition of the sum is thus the
 *    same on every rank count that divides M (IEEE addition is
 *    commutative, so only the tree's shape matters): the bits do not
 *    depend on the rank count. MPI_Allreduce is not used (its order is
 *    unspecified).
 *
 * A step, on every rank:
 *   zero_grad; forward; loss; tr_gradsync_begin; backward; tr_gradsync_run;
 *   optimizer.
 * begin must be called once per step by every rank or by none (a rank
 * with no rows calls it too), right before the backward pass that
 * completes the gradients (with gradient accumulation: the last
 * micro-batch's), never earlier: the hook sends what backward produced.
 */
#ifndef TRAINER_GRADSYNC_H
#define TRAINER_GRADSYNC_H

#include <stddef.h>

#include "comm/comm.h"
#include "nn/clip.h"
#include "nn/model.h"

/* Smallest bucket, in floats (128 KiB): below this a message costs more
 * in latency than its overlap can win. */
#define TR_BUCKET_FLOATS ((size_t)1 << 15)

typedef enum tr_sync_mode {
    TR_SYNC_AUTO = 0,  /* shared if the job is on one node, else overlap */
    TR_SYNC_BLOCKING,
    TR_SYNC_OVERLAP,
    TR_SYNC_SHARED,    /* falls back to blocking where not possible */
    TR_SYNC_TREE       /* the fixed tree (see the top); also on one rank */
} tr_sync_mode;

/* Figures (doubles) a leaf of the tree may carry. */
#define TR_TREE_SUMS 24
/* Depth of the tree's stack: fewer than 2^TR_TREE_LEVELS leaves per rank. */
#define TR_TREE_LEVELS 16

/* The fixed tree's state during a step (TR_SYNC_TREE). A payload is the
 * synced ranges' gradients, then every buffer segment (running
 * statistics), then n_sums doubles (kept apart, in sums). */
typedef struct tr_tree {
    size_t n_bufs;        /* merged buffer runs of the arena */
    nn_span *bufs;         /* (tr_range) */
    size_t buf_count;     /* floats in them */
    float *start;         /* [buf_count] the buffers at the step's start */
    size_t width;         /* floats per payload: count + buf_count */
    size_t n_sums;        /* figures per leaf (this step) */
    size_t depth;         /* partial sums on the stack */
    size_t slots;         /* room in f: log2(leaves per rank) + 1 */
    unsigned level[TR_TREE_LEVELS]; /* leaves below each: 2^level */
    float *f;             /* [slots][width] the stack of partial sums */
    float *shared;        /* slot 0 in node-shared memory, or NULL */
    double sums[TR_TREE_LEVELS][TR_TREE_SUMS];
    size_t leaves;        /* leaves folded this step */
    size_t want;          /* leaves this step has on this rank */
    size_t total;         /* leaves over all ranks (after the run) */
} tr_tree;

/* A merged trainable run of the gradient arena. */
typedef nn_span tr_range;

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
    tr_sync_mode mode;    /* asked for (plan: AUTO) */
    tr_sync_mode active;  /* in use; decided at the first begin or run */
    int decided;
    float *arena;         /* the shared arena this plan allocated, or NULL */
    /* state of the step in progress (between begin and run) */
    int armed;            /* begin installed the hook */
    int failed;           /* an MPI call in the hook failed */
    size_t next;          /* first bucket not yet started */
    size_t polled;        /* buckets before this one are known complete */
    comm_ctx *comm;       /* borrowed, set by begin */
    nn_model *model;      /* borrowed, set by begin */
    tr_tree tree;         /* TR_SYNC_TREE only */
} tr_gradsync;

/* Plan the ranges and buckets for model m (mode AUTO). */
void tr_gradsync_plan(tr_gradsync *g, const nn_model *m);
/* Free the plan. A gradient arena already moved into shared memory stays
 * there (it lives until comm_finalize; a new plan finds it again). */
void tr_gradsync_free(tr_gradsync *g);

/* Ask for a mode (benchmarks; AUTO is the default): decided again, for
 * all ranks alike, at the next begin or run, which may move the gradient
 * arena in or out of shared memory. Call it on every rank, between
 * steps. */
void tr_gradsync_set_mode(tr_gradsync *g, tr_sync_mode mode);

/* Before the backward pass that completes this step's gradients; see the
 * top. Collective the first time (it may allocate the shared arena);
 * otherwise nothing collective happens here. */
void tr_gradsync_begin(tr_gradsync *g, comm_ctx *c, nn_model *m);

/* Sum the trainable gradients of m across ranks, in place, by the active
 * mode; removes the hook begin installed. Collective; 0 or non-zero on an
 * MPI failure. */
int tr_gradsync_run(tr_gradsync *g, comm_ctx *c, nn_model *m);

/* ---- the fixed tree (TR_SYNC_TREE) ---------------------------------- */

/* At a step's start, before the first pass: zero m's gradients, set
 * aside its buffers, empty the tree for n_leaves leaves on this rank (a
 * power of two, < 2^TR_TREE_LEVELS), each carrying n_sums (<=
 * TR_TREE_SUMS) figures. */
void tr_gradsync_tree_begin(tr_gradsync *g, comm_ctx *c, nn_model *m,
                            size_t n_leaves, size_t n_sums);
/* After one micro-shard's pass (or none, for a micro-shard without rows
 * here): fold m's gradients, buffers and sums[0, n_sums) into the tree as
 * the next leaf, then zero the gradients and sums and put the buffers
 * back as they were at the step's start. */
void tr_gradsync_leaf(tr_gradsync *g, nn_model *m, double *sums);
/* This rank's partial figures (the sum of its leaves) into out[0, n_sums). */
void tr_gradsync_tree_local(const tr_gradsync *g, double *out);
/* After the planned leaves (M/p, a power of two) on every rank: the
 * tree's root over all ranks into m's synced gradients, and into
 * sums[0, n) the fixed-tree sum of every rank's sums[0, n) (n <=
 * TR_TREE_SUMS; the caller passes its partial figures,
 * tr_gradsync_tree_local, plus anything of its own). Collective; 0 or
 * non-zero on an MPI failure. */
int tr_gradsync_tree_run(tr_gradsync *g, comm_ctx *c, nn_model *m,
                         double *sums, size_t n);
/* After tr_gradsync_tree_run: m's buffers become the mean of the M
 * micro-shards' (a power of two: the scaling is exact). */
void tr_gradsync_tree_buffers(tr_gradsync *g, nn_model *m);
/* The fixed tree over p (a power of two) vectors all[p][k], in place:
 * all[0] becomes ((all[0] + all[1]) + (all[2] + all[3])) + ... */
void tr_tree_fold_d(double *all, size_t k, size_t p);

#endif

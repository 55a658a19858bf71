/* trainer/run.h - one training run: the loop and its extension points.
 *
 * The loop (trainer/loop.c) is the same for every kind of training. It
 * owns the epochs, the sampler (which rows each step uses), the learning
 * rate schedule, signals, divergence detection, metrics, early stopping,
 * checkpoints and resume. What differs between kinds of training is an
 * OBJECTIVE (trainer/objective.h): it builds its parameter GROUPS (a model
 * with its optimizer, gradient sync and learning-rate scale) and runs one
 * step's forward/backward phases, ending each phase with tr_group_update,
 * the only path by which parameters change.
 *
 * One step, as the loop drives it:
 *   sampler -> this rank's rows of the global batch gathered into r->batch
 *   objective->step: per phase: zero grads, forward/backward (micro-batches
 *       of training.accumulate, or one pass per micro-shard in
 *       deterministic mode), tr_group_update: allreduce the gradients,
 *       sum the phase's metric figures across ranks (with the stop flag),
 *       stop every rank alike on a non-finite loss, clip, optimizer step,
 *       average buffers
 *   loop: metrics, progress, checkpoint, stop on signal or max_steps.
 */
#ifndef TRAINER_RUN_H
#define TRAINER_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "io/ckpt.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "trainer/gradsync.h"
#include "trainer/session.h"

#define TR_STOP (-1)       /* a signal asked every rank to stop */
#define TR_MAX_GROUPS 4
#define TR_MAX_SUMS 16
#define TR_MAX_VIEWS 12
#define TR_GROUP_NAME 24

struct tr_objective_ops;
struct tr_sampler_ops;

/* A parameter group: one model, its optimizer and gradient sync, a
 * learning rate of training.lr's schedule times lr_scale. Checkpoint
 * sections "<name>/hash", "<name>/optim", "<name>/params", "<name>/state". */
typedef struct tr_group {
    char name[TR_GROUP_NAME];
    nn_model *model;   /* owned */
    nn_optim *optim;   /* owned */
    tr_gradsync sync;
    double lr_scale;
    float *held;       /* tr_group_hold: the buffers set aside */
    size_t n_held;
} tr_group;

/* This rank's rows of the current step, gathered from the training set. */
typedef struct tr_batch {
    size_t n;          /* rows here */
    size_t global;     /* rows in the global batch (all ranks) */
    float *x, *y;      /* [n, x_width], [n, y_width] */
    size_t *local;     /* local row indices into the training shard */
    uint64_t *ids;     /* global row ids (seed dropout, noise, ...) */
    size_t cap;        /* rows the buffers hold */
    size_t *plan;      /* packed data: rows of a step queued ahead */
    size_t ahead;      /* packed data: the next step of the epoch to queue */
    /* Deterministic mode: the rows ordered by micro-shard; this rank's
     * micro-shard k (global shard0 + k) is rows [shard_at[k],
     * shard_at[k+1]). n_shards = 0 otherwise. */
    size_t shard0, n_shards;
    size_t *shard_at;  /* [n_shards + 1], then as many of scratch */
    size_t *tmp_local; /* [cap] scratch of the ordering */
    uint64_t *tmp_ids;
    float *tmp_x, *tmp_y; /* [cap] rows, the ordering's other buffers */
} tr_batch;

/* A figure people see, from the named sums of a step, window or epoch:
 * sums[num] / sums[den] * scale (den < 0: sums[num] * scale). */
typedef struct tr_view {
    const char *label;    /* progress and epoch lines; NULL: JSON only */
    const char *key;      /* JSON key of the training figure; NULL: none */
    const char *eval_key; /* evaluation: JSON "val_<key>" and the test
                             line's "<key>"; NULL: not evaluated */
    int num, den;
    double scale;
    const char *fmt;      /* printf format of the value, e.g. "%.4f" */
} tr_view;

/* What an objective reports: the sums it adds each step, and views. */
typedef struct tr_metrics {
    size_t n_sums;
    const char *sums[TR_MAX_SUMS];
    size_t n_views;
    tr_view views[TR_MAX_VIEWS];
    int count;            /* the sum counting scored rows (evaluation) */
} tr_metrics;

/* The sampler's state: which rows each step of an epoch uses. */
typedef struct tr_sampler {
    const struct tr_sampler_ops *ops;
    float *carried;       /* stream: this rank's carried state to restore
                             when the resumed epoch starts, or NULL */
} tr_sampler;

typedef struct tr_run {
    tr_session *s;                  /* command context and data (borrowed) */
    const struct tr_objective_ops *obj_ops;
    void *obj;                      /* the objective's state */
    size_t n_groups;
    tr_group *groups[TR_MAX_GROUPS];
    tr_sampler sampler;
    tr_batch batch;
    nn_schedule sched;
    tr_metrics metrics;
    double step_sums[TR_MAX_SUMS];  /* this step's global sums */
    /* position */
    uint64_t epoch, step_in_epoch, global_step;
    /* early stopping */
    double best_metric;
    uint64_t best_epoch, bad_epochs;
    float **best;                   /* per group: params of the best epoch */
    int stop;                       /* a signal reached some rank */
    int finished;                   /* every epoch done, or stopped early */
    char *resumed_from;             /* the checkpoint resumed (or NULL) */
    double t0;
    FILE *metrics_file;
} tr_run;

/* ---- groups (trainer/group.c) ---------------------------------------- */

/* A new group owning model m: rank 0's parameters broadcast to every rank,
 * an optimizer of the config's kind, a gradient-sync plan. Collective. */
tr_group *tr_group_add(tr_run *r, const char *name, nn_model *m,
                       double lr_scale);
/* Learning rate of g's next update (a pure function of the step). */
double tr_group_lr(const tr_run *r, const tr_group *g);
/* The one update path, at the end of a phase that backpropagated into g:
 * sums the gradients across ranks; sums v[0, n) across ranks in place
 * together with the stop flag; if the first n_loss of them do not add up
 * to a finite loss, every rank stops here (NN_EXIT_DIVERGED, no update,
 * rank 0 names the ranks whose own loss was not finite); else clips
 * (training.clip_norm), steps the optimizer, averages buffers (running
 * statistics) across ranks. Collective; 0 or an exit code. */
int tr_group_update(tr_run *r, tr_group *g, double *v, size_t n,
                    size_t n_loss);
/* Re-plan g's gradient sync (after layers were unfrozen), keeping the
 * run's mode. */
void tr_group_plan(tr_run *r, tr_group *g);
/* A phase's start: zero g's gradients (deterministic mode: also set its
 * buffers aside and empty the tree for this step's micro-shards, whose
 * figures are v[0, n)). */
void tr_group_begin(tr_run *r, tr_group *g, size_t n);
/* After each pass of tr_passes (deterministic mode: its micro-shard's
 * gradients, buffers and figures v[] become a leaf of the fixed tree, and
 * are reset for the next one; otherwise nothing: passes accumulate). */
void tr_group_pass_done(tr_run *r, tr_group *g, double *v);
/* Arm the gradient sync of g right before the backward pass that
 * completes this step's gradients (tr_gradsync_begin). */
void tr_group_arm(tr_run *r, tr_group *g);
void tr_group_free(tr_group *g);
/* Set aside (restore = 0) or put back (1) g's buffers (running statistics):
 * a phase that runs g's forward in training mode without training g (one
 * network of a GAN while the other trains) leaves g bit-identical. */
void tr_group_hold(tr_group *g, int restore);
/* Learning-rate multiplier for a group: lr / training.lr, or 1 if lr == 0. */
double tr_lr_scale(const tr_run *r, double lr);

/* ---- metrics (trainer/metrics.c) ------------------------------------- */

/* Name a sum the objective adds each step; returns its index. */
int tr_metrics_sum(tr_metrics *m, const char *name);
void tr_metrics_view(tr_metrics *m, tr_view v);
double tr_view_value(const tr_view *v, const double *sums);
/* The evaluation view early_stopping.monitor names ("val_loss" ->
 * eval_key "loss"), or NULL. */
const tr_view *tr_metrics_find_eval(const tr_metrics *m, const char *monitor);

int tr_metrics_open(tr_run *r, int append);
/* Close the metrics file: NN_EXIT_DATA (err set) when a record could not
 * be written or the close failed, so the run's exit says so. */
int tr_metrics_close(tr_run *r);
/* The progress line; `sums` over the window since the last one. */
void tr_report_progress(tr_run *r, size_t step, size_t steps,
                        const double *sums, double sps, double eta);
/* The epoch line and JSON record; val NULL: no validation. */
void tr_report_epoch(tr_run *r, const double *sums, const double *val,
                     double sps, double dt);
/* "<split>: loss ...  accuracy ... (N samples)" and its JSON record. */
void tr_report_final(tr_run *r, const char *split, const double *sums);
/* The figure `monitor` names in evaluation sums `val`. */
double tr_monitor_value(const tr_run *r, const double *val);

/* ---- checkpoints (trainer/checkpoint.c) ------------------------------ */

/* Save to <dir>/step-N.ckpt (name == NULL; moves last.ckpt, prunes) or
 * to <dir>/<name> (e.g. "best.ckpt"). No-op without checkpoint.dir.
 * Collective. */
int tr_save(tr_run *r, const char *name);
/* Load every group, the position, the early-stopping record and the
 * sampler's state from path (resume) and check that nothing in the file
 * is left unread. Collective. */
int tr_resume(tr_run *r, const char *path);
/* After a resume: the best epoch's parameters from best.ckpt in
 * checkpoint.dir, or beside the resumed checkpoint (then copied into
 * checkpoint.dir). Collective. */
int tr_load_best(tr_run *r);

/* ---- the checkpoint directory (trainer/ckpt_dir.c) ------------------- */

/* Resolve --resume: "auto" -> <dir>/last.ckpt if present (NULL if none). */
const char *tr_resolve_resume(tr_run *r, const char *arg, char *buf,
                              size_t cap);
/* Rank 0, after <dir>/<name> was written: point last.ckpt at it, then
 * keep only the newest `keep` step files (0: all). 0 or NN_EXIT_DATA. */
int tr_ckpt_dir_commit(const char *dir, const char *name, size_t keep,
                       nn_error *err);
/* Rank 0: where best.ckpt is (checkpoint.dir, else beside the resumed
 * checkpoint) into path; 0, or NN_EXIT_DATA naming both places. */
int tr_best_path(tr_run *r, char *path, size_t cap);
/* The run's records every checkpoint carries (config, overrides, input
 * shape, normalisation, vocabulary), added to c (borrowed from s). */
void tr_ckpt_add_meta(const tr_session *s, io_ckpt *c, const uint64_t *shape,
                      size_t shape_len);

/* ---- the loop (trainer/loop.c) --------------------------------------- */

/* Reserve r->batch for `rows` rows. */
void tr_batch_reserve(tr_run *r, size_t rows);
/* Rows per forward/backward pass for n local rows: n split into
 * training.accumulate passes (at least 1). */
size_t tr_pass_rows(const tr_run *r, size_t n);
/* Passes of this step over r->batch (>= 1): training.accumulate chunks,
 * or (deterministic mode) one per micro-shard this rank owns; pass k
 * covers rows [*a, *b), which may be empty (skip its forward, but still
 * call tr_group_pass_done). */
size_t tr_passes(const tr_run *r);
void tr_pass_range(const tr_run *r, size_t k, size_t *a, size_t *b);
/* Gather step `step`'s rows of the current epoch into r->batch (packed
 * data: from the prefetch window, after queueing the steps ahead). 0, or
 * NN_EXIT_DATA with r->s->err set and r->batch.n = 0 (a read failed). */
int tr_gather(tr_run *r, size_t step);
/* Set up a run of objective `ops` (NULL: the config's) with its groups
 * built, without training (tr_train, lstsq's checkpoint, bench_step).
 * Collective. */
int tr_run_create(tr_run *r, tr_session *s,
                  const struct tr_objective_ops *ops);
/* `axon train` with objective `ops` (NULL: the one the config names):
 * resume or init_from, the epochs, the test figures, the last checkpoint.
 * Collective; 0 or an exit code (TR_STOP never escapes: a signal ends in
 * a checkpoint and NN_EXIT_OTHER). */
int tr_train(tr_session *s, const struct tr_objective_ops *ops);
void tr_run_free(tr_run *r);

#endif

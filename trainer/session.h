/* trainer/session.h - one run of the axon command on one rank: the wiring
 * of config (io), data shards (io), model and optimizer (nn) and the MPI
 * context (comm). Every fallible set-up step returns a status and fills
 * s->err; tr_agree turns per-rank statuses into one collective decision so
 * no rank is ever left waiting in a collective after another failed.
 */
#ifndef TRAINER_SESSION_H
#define TRAINER_SESSION_H

#include <stdint.h>
#include <stdio.h>

#include "comm/comm.h"
#include "io/ckpt.h"
#include "io/config.h"
#include "io/dataset.h"
#include "io/shard.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "trainer/gradsync.h"

typedef struct tr_options {
    const char *command;   /* "train", "eval", "lstsq" */
    const char *config;    /* path */
    char **sets;           /* --set KEY=VALUE, n_sets of them */
    size_t n_sets;
    const char *resume;    /* --resume PATH|auto, or NULL */
    const char *checkpoint;/* --checkpoint PATH (eval, predict) */
    const char *input;     /* predict: the file of inputs */
    const char *out;       /* predict, sample: --out FILE (default stdout) */
    const char *prompt;    /* sample: text to start from */
    size_t length;         /* sample: characters to generate (200) */
    double temperature;    /* sample: softmax temperature (1.0) */
    uint64_t sample_seed;  /* sample: generator seed (1) */
    int quiet;
} tr_options;

/* Running sums of a metric over rows, summed across ranks on demand.
 * loss_sum, correct and count cover the rows the loss scores (for a
 * classifier: the labelled ones). Semi-supervised training adds the
 * pseudo-label term: its unweighted loss over the pseudo-labelled rows,
 * their number, and the number of unlabelled rows seen. */
typedef struct tr_stats {
    double loss_sum;
    double correct;
    double count;
    double pseudo_sum, pseudo_count, unlabelled;
} tr_stats;

typedef struct tr_session {
    comm_ctx *comm;
    int rank, size;
    const tr_options *opt;
    nn_error err;
    io_config cfg;
    const nn_loss_ops *loss;
    /* A classification loss over an output [T, V] scores each of the T
     * steps: the loss sees n*T rows of width V (loss_steps = T,
     * loss_dim = V); otherwise loss_steps = 1 and loss_dim = output size. */
    size_t loss_steps, loss_dim;
    char *vocab;                /* text data: id -> byte, saved in checkpoints */
    size_t vocab_len;
    io_dataset train, test;     /* this rank's shards (test may be empty) */
    io_dataset val;             /* data.val: a separate validation file */
    int have_test, have_val;
    double *norm_mean;          /* standardize: per-feature mean and std */
    double *norm_std;           /* (NULL when not standardizing) */
    io_shard shard;             /* train/val split and epoch order */
    nn_model *model;
    nn_optim *optim;
    tr_gradsync sync;           /* which gradients travel */
    struct tr_gan *gan;         /* a GAN run (trainer/gan.h): its two
                                   networks; model, optim, sync unused */
    nn_schedule sched;          /* learning rate as a function of the step */
    float *best;                /* early stopping: params of the best epoch */
    float *stream_state;        /* a resume in stream mode: this rank's
                                   streams' carried state, loaded into the
                                   model when the resumed epoch starts */
    /* step buffers, sized outside the step */
    size_t cap;                 /* rows of bx/by/local/ids */
    size_t model_cap;           /* rows of the model's activations, dout */
    float *bx, *by, *dout;
    size_t *local;
    uint64_t *ids;
    /* position */
    uint64_t epoch, step_in_epoch, global_step;
    double best_metric;
    uint64_t best_epoch, bad_epochs;
    double t0;
    FILE *metrics;
} tr_session;

/* Collective: if any rank's status is non-zero, the lowest failing rank
 * prints its s->err message; every rank returns the worst status. */
int tr_agree(tr_session *s, int status);

/* Rank 0 prints (printf-style) when not quiet; other ranks never do. */
void tr_say(const tr_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Load the config (rank 0 reads, broadcasts the text, all parse). */
int tr_load_config(tr_session *s);
/* Load this rank's shards of the train (and test) data and normalise. */
int tr_load_data(tr_session *s);
/* Collective: every rank runs the same binary (hash of the executable),
 * the same config (text and --set overrides) and data of the same size;
 * otherwise one message naming the first differing rank, exit code 2. */
int tr_check_agreement(tr_session *s);
/* Build model and optimizer; rank 0 initialises, params broadcast. */
int tr_build_model(tr_session *s);
/* Set loss_steps / loss_dim from the model's output and the loss. */
void tr_loss_layout(tr_session *s);
/* Make the step buffers hold `rows` rows of a batch and the model's
 * activations `model_rows` rows of a (micro-)batch; evaluation runs in
 * chunks of at least 64 rows. */
void tr_reserve(tr_session *s, size_t rows, size_t model_rows);
/* Training steps (trainer/train.c), shared with tests/bench/bench_step.c:
 * this rank's rows of step `step` of the current epoch copied into s->bx,
 * s->by (ids in s->ids); returns their number, *global the global batch's.
 * Buffers must be reserved for the epoch's largest step. */
size_t tr_gather_step(tr_session *s, size_t step, size_t *global);
/* Rows per forward/backward pass for n local rows: n split into
 * training.accumulate passes (at least 1). */
size_t tr_pass_rows(const tr_session *s, size_t n);
void tr_session_free(tr_session *s);
/* Average m's buffers (batchnorm running statistics: each rank normalised
 * its own rows) across ranks, so every rank holds the same parameters.
 * Collective; a no-op for models without buffers. */
int tr_average_buffers(tr_session *s, nn_model *m);

/* Evaluate the model on local rows `rows[0..n)` of dataset d (eval mode),
 * summed across ranks into *out. Collective. */
int tr_evaluate(tr_session *s, const io_dataset *d, const size_t *rows,
                size_t n, tr_stats *out);
/* Validation (collective): the data.val file if given, else the
 * held-out rows of the training file; out->count == 0 if there is none. */
int tr_validate(tr_session *s, tr_stats *out);
/* The same over every local row of d. */
int tr_evaluate_all(tr_session *s, const io_dataset *d, tr_stats *out);

/* Checkpoints (trainer/checkpoint.c). */
/* Save to <dir>/step-N.ckpt (name == NULL; moves last.ckpt, prunes) or
 * to <dir>/<name> (e.g. "best.ckpt"). No-op without checkpoint.dir. */
int tr_save_checkpoint(tr_session *s, const char *name);
/* After a resume: the best epoch's parameters from <dir>/best.ckpt. */
int tr_load_best(tr_session *s);
/* The records every checkpoint of this run carries (trainer/meta.h): the
 * model's input shape `in`, normalisation, vocabulary, --set overrides. */
struct tr_meta;
void tr_run_meta(const tr_session *s, struct tr_meta *meta, nn_shape in);
int tr_load_checkpoint(tr_session *s, const char *path, int resume);
/* Resolve "auto" to <dir>/last.ckpt if present (NULL if none). */
const char *tr_resolve_resume(tr_session *s, const char *arg, char *buf,
                              size_t cap);
/* For runs that assemble their own io_ckpt (a GAN, trainer/gan.c): */
/* Fill c's config text, world size, position and early-stopping record
 * from s (pointers borrowed from s). */
void tr_ckpt_position(const tr_session *s, io_ckpt *c);
/* Collective: c is written exactly as tr_save_checkpoint writes the model:
 * name NULL = the next step file, last.ckpt moved, pruned; a failure warns
 * unless stop_on_error. Every rank deflates a share of c's arenas, which
 * must therefore be the same on every rank; the rest of c is read on rank
 * 0 only. No-op without checkpoint.dir. */
int tr_write_checkpoint(tr_session *s, const io_ckpt *c, const char *name);
/* Collective: rank 0's c position and early-stopping record into every
 * rank's s. 0 or NN_EXIT_OTHER. */
int tr_ckpt_restore_position(tr_session *s, const io_ckpt *c);

/* Fine-tuning (trainer/finetune.c): copy layers from model.init_from, and
 * at the start of each epoch let frozen layers train from unfreeze_epoch. */
int tr_init_from(tr_session *s);
void tr_unfreeze(tr_session *s);

/* Semi-supervised training (trainer/semisup.c). */
/* The training loss of rows [0, rows) of a micro-batch: pred[rows,
 * loss_dim] (the model's output as the loss views it), target as the
 * loss takes it; dpred gets scale * d(loss)/d(pred). The configured loss
 * scores the labelled rows; with training.pseudo_label_threshold > 0 the
 * pseudo-label term (tr_pseudo_labels) is added for the unlabelled ones.
 * Adds this call's (local) figures to *acc. */
void tr_train_loss(const tr_session *s, const float *pred, const float *target,
                   size_t rows, float scale, float *dpred, tr_stats *acc);
/* The pseudo-label term, pure: for each row i with target[i] ==
 * NN_LABEL_NONE, p = softmax(pred[i]); if max_k p_k >= threshold, the
 * row's label is c = argmax p (held constant) and its term is
 * weight * CE(pred[i], c), so dpred[i] = weight * scale * (p - onehot(c));
 * rows below the threshold get dpred[i] = 0. Labelled rows are not
 * touched. acc gets unlabelled += rows without a label, pseudo_count +=
 * rows pseudo-labelled, pseudo_sum += their unweighted CE. threshold in
 * (0, 1); dpred may be NULL. */
void tr_pseudo_labels(const float *pred, const float *target, size_t n,
                      size_t dim, double threshold, float weight, float scale,
                      float *dpred, tr_stats *acc);
/* Start-up check (after tr_loss_layout): pseudo-labels need one class
 * per sample, not a sequence. 0 or NN_EXIT_USAGE with s->err set. */
int tr_semisup_check(tr_session *s);

int tr_cmd_train(tr_session *s);
int tr_cmd_eval(tr_session *s);
int tr_cmd_lstsq(tr_session *s);
/* predict and sample run their own set-up from the checkpoint (no
 * config, no data). sample dispatches on what the checkpoint holds: a GAN
 * (an image grid, tr_sample_gan) or a character model (text,
 * tr_sample_text). */
int tr_cmd_predict(tr_session *s);
int tr_cmd_sample(tr_session *s);

#endif

/* trainer/session.h - what every command of one process needs: its
 * options, the MPI context, the config, the data (this rank's shards) and,
 * for eval, predict and sample, the model. A training run adds its own
 * state on top (trainer/run.h). Every fallible set-up step returns a
 * status and fills s->err; tr_agree turns per-rank statuses into one
 * collective decision so no rank is ever left waiting in a collective
 * after another failed.
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
#include "nn/augment.h"
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
    const char *args[3];   /* pack: CONFIG or FILES */
    size_t n_args;
    const char *verify;    /* pack --verify DIR */
    uint64_t shard_size;   /* pack --shard-size BYTES (0: 64 MiB) */
    size_t episodes;       /* play: episodes to run (10) */
    int render;            /* play: draw every step as text */
    const char *format;    /* export: --format onnx|axm */
    int softmax;           /* export: --softmax */
    int int8;              /* export: --int8 (axm) */
    size_t calib_rows;     /* export: --calibrate N training rows (1000) */
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
    /* the command */
    comm_ctx *comm;
    int rank, size;
    const tr_options *opt;
    nn_error err;
    io_config cfg;
    /* the data */
    io_dataset train, test;     /* this rank's shards (test may be empty) */
    io_dataset val;             /* data.val: a separate validation file */
    int have_test, have_val;
    double *norm_mean;          /* standardize: per-feature mean and std */
    double *norm_std;           /* (NULL when not standardizing) */
    char *vocab;                /* text data: id -> byte, saved in checkpoints */
    size_t vocab_len;
    io_shard shard;             /* train/val split and epoch order */
    /* the model and how the loss reads its output */
    nn_model *model;            /* eval, predict, sample; a training run's
                                   objective takes it over */
    const nn_loss_ops *loss;
    /* A classification loss over an output [T, V] scores each of the T
     * steps: the loss sees n*T rows of width V (loss_steps = T,
     * loss_dim = V); otherwise loss_steps = 1 and loss_dim = output size. */
    size_t loss_steps, loss_dim;
} tr_session;

/* Collective: if any rank's status is non-zero, the lowest failing rank
 * prints its s->err message; every rank returns the worst status. */
int tr_agree(tr_session *s, int status);

/* Rank 0 prints (printf-style) when not quiet; other ranks never do. */
void tr_say(const tr_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Load the config (rank 0 reads, broadcasts the text, all parse). */
int tr_load_config(tr_session *s);
/* The data.augment settings of d (nn/augment.h). */
nn_augment tr_augment_of(const io_data_cfg *d);
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
void tr_session_free(tr_session *s);
/* training.deterministic on a rank count it supports (a power of two
 * dividing training.micro_shards): 1, with this rank's micro-shards
 * [*first, *first + *count); else 0. */
int tr_det_shards(const tr_session *s, size_t *first, size_t *count);
/* Deterministic mode: mine[count][k] holds this rank's sums per
 * micro-shard; out[k] gets their sum over all micro-shards of all ranks in
 * the fixed tree (tr_tree_fold_d), on every rank. Collective; 0 or
 * NN_EXIT_OTHER. */
int tr_det_sum(tr_session *s, const double *mine, size_t k, double *out);
/* Loss and accuracy sums of model m over local rows rows[0..n) of d
 * (eval mode), summed across ranks: out = {loss_sum, correct, count}.
 * Collective. */
int tr_evaluate(tr_session *s, nn_model *m, const io_dataset *d,
                const size_t *rows, size_t n, double out[3]);
/* The same over every local row of d. */
int tr_evaluate_all(tr_session *s, nn_model *m, const io_dataset *d,
                    double out[3]);
/* Local rows of the validation set (data.val, or the held-out rows of the
 * training file): *d the dataset, rows[0, *n) (malloc'ed, caller frees). */
size_t *tr_val_rows(tr_session *s, const io_dataset **d, size_t *n);

/* Fine-tuning (trainer/finetune.c): copy layers of model m from
 * model.init_from. Collective. */
int tr_init_from(tr_session *s, nn_model *m);
/* From model.unfreeze_epoch on (epoch 0-based), frozen layers of m
 * train; returns how many layers changed. */
size_t tr_unfreeze(tr_session *s, nn_model *m, uint64_t epoch);

/* The records of a checkpoint that describe the model for use without
 * the training data: its config (with the stored overrides applied). */
int tr_ckpt_config(io_ckpt *c, const char *path, io_config *cfg,
                   nn_error *err);
/* The checkpoint's group `group` ("model") built from specs on the stored
 * input shape, checked against the stored hash, with its parameters. */
int tr_ckpt_model(io_ckpt *c, const char *path, const char *group,
                  const nn_spec *specs, size_t n_specs, nn_model **out,
                  nn_error *err);
/* Group `group`'s parameters from c into m, checked against m's
 * architecture hash and size. 0, or NN_EXIT_DATA. */
int tr_ckpt_params(io_ckpt *c, const char *path, const char *group,
                   nn_model *m, nn_error *err);
/* The stored input shape. 0, or NN_EXIT_DATA. */
int tr_ckpt_shape(io_ckpt *c, const char *path, nn_shape *out, nn_error *err);

int tr_cmd_train(tr_session *s);
int tr_cmd_eval(tr_session *s);
int tr_cmd_lstsq(tr_session *s);
/* predict and sample run their own set-up from the checkpoint (no
 * config, no data). sample dispatches on what the checkpoint holds: a GAN
 * (an image grid, tr_sample_gan) or a character model (text,
 * tr_sample_text). */
int tr_cmd_predict(tr_session *s);
int tr_cmd_sample(tr_session *s);
/* pack (trainer/pack.c): data files into packed datasets (io/packed.h),
 * or --verify a packed dataset's CRCs; on rank 0. */
int tr_cmd_pack(tr_session *s);
/* export (trainer/export.c): the checkpoint's model as --format F. */
int tr_cmd_export(tr_session *s);

#endif

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

/* Running sums of a metric over rows, summed across ranks on demand. */
typedef struct tr_stats {
    double loss_sum;
    double correct;
    double count;
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
    nn_schedule sched;          /* learning rate as a function of the step */
    float *best;                /* early stopping: params of the best epoch */
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
/* Build model and optimizer; rank 0 initialises, params broadcast. */
int tr_build_model(tr_session *s);
/* Set loss_steps / loss_dim from the model's output and the loss. */
void tr_loss_layout(tr_session *s);
/* Make the step buffers hold `rows` rows of a batch and the model's
 * activations `model_rows` rows of a (micro-)batch; evaluation runs in
 * chunks of at least 64 rows. */
void tr_reserve(tr_session *s, size_t rows, size_t model_rows);
void tr_session_free(tr_session *s);

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
int tr_load_checkpoint(tr_session *s, const char *path, int resume);
/* Resolve "auto" to <dir>/last.ckpt if present (NULL if none). */
const char *tr_resolve_resume(tr_session *s, const char *arg, char *buf,
                              size_t cap);

/* Fine-tuning (trainer/finetune.c): copy layers from model.init_from, and
 * at the start of each epoch let frozen layers train from unfreeze_epoch. */
int tr_init_from(tr_session *s);
void tr_unfreeze(tr_session *s);

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

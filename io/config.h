/* io/config.h - the YAML config file, read strictly into specs.
 *
 * Every key is declared in a table (type, bounds, default, required); an
 * unknown key, a wrong type, a value out of range or a missing required key
 * is an error "file:line: key: problem" with code NN_EXIT_USAGE. Layer
 * entries become nn_spec lists that the layers themselves validate.
 * Overrides "a.b.c=value" (the CLI's --set) are applied to the parsed tree
 * before validation, so they are checked exactly like the file.
 */
#ifndef IO_CONFIG_H
#define IO_CONFIG_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */
#include "nn/error.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "nn/spec.h"

/* ---- the schema ------------------------------------------------------- */

/* How a key's value is read and stored (at `offset` in its struct). */
typedef enum {
    IO_STR,       /* char *, non-empty */
    IO_ENUM,      /* char *, one of names */
    IO_OPTKIND,   /* nn_opt_kind, index into names */
    IO_SCHEDKIND, /* nn_schedule_kind, index into names */
    IO_SIZE,      /* size_t, decimal digits */
    IO_U64,       /* uint64_t, decimal digits */
    IO_LONG,      /* long, optional '-' then digits */
    IO_DBL,       /* double, finite */
    IO_FLT,       /* float, finite as a float */
    IO_BOOL,      /* int: true/yes = 1, false/no = 0 */
    IO_LAYERS     /* a sequence of maps -> the io_layers at offset */
} io_key_type;

/* IO_LIST: an IO_STR that may also be written as a list of values, stored
 * joined with ',' ("[fc1, fc2]" -> "fc1,fc2"). */
enum { IO_REQ = 1, IO_LO_OPEN = 2, IO_HI_OPEN = 4, IO_LIST = 8 };

/* One config key ("section.name"). Numbers must lie in [lo, hi] (ends
 * open by flag); `def` is the default written as it would be in the file
 * (parsed by the same code), NULL for none (strings stay NULL, numbers 0).
 * Every string and layer list stored is owned by the config. */
typedef struct io_key {
    const char *key;
    io_key_type type;
    size_t offset;
    double lo, hi;
    unsigned flags;
    const char *def;
    const char *const *names; /* IO_ENUM, IO_OPTKIND, IO_SCHEDKIND */
} io_key;

struct io_config;

/* A schema fragment: keys that code outside io/ owns (an objective,
 * trainer/objective.h), with their cross-checks, declared next to that
 * code. Its keys are read exactly like the core keys (unknown keys,
 * types, ranges, defaults, --set) into a struct of `size` bytes that the
 * config owns (io_config_values); a key marked IO_REQ is required when the
 * fragment's section is in the config. `check`, if any, is the owner's to
 * call once it knows the fragment applies (io/config.c does not). */
typedef struct io_schema {
    const char *owner;     /* e.g. "gan" */
    const char *section;   /* a top-level section only this fragment has
                              (its presence names the owner), or NULL */
    const io_key *keys;    /* offsets into the fragment's struct */
    size_t n_keys;
    size_t size;
    int (*check)(const struct io_config *cfg, const void *values,
                 nn_error *err);
    /* 1: the owner makes its own training data (reinforcement learning):
     * with the section present, the data section, loss and
     * training.batch_size are not required and not checked here (the
     * owner's check refuses what it does not use). */
    int own_data;
} io_schema;

/* Most fragments one parse takes. */
#define IO_MAX_SCHEMAS 16

typedef struct io_data_cfg {
    char *format;        /* "idx", "csv", "text" or "packed" */
    char *train;         /* idx: images file; csv: the table */
    char *train_labels;  /* idx only */
    char *test;          /* optional */
    char *test_labels;   /* idx only */
    double val_fraction; /* held out of `train` by a seeded hash, [0, 0.9] */
    char *normalize;     /* "none", "scale" (x * scale), "standardize" */
    double scale;        /* for "scale"; default 1/255 */
    long target_column;  /* csv: column index of the target, -1 = last */
    size_t targets;      /* csv: number of target columns from target_column */
    size_t skip_rows;    /* csv: lines to skip before the header */
    int header;          /* csv: first (unskipped) line is a header */
    size_t limit;        /* use only the first `limit` rows of train (0 = all) */
    char *val;           /* optional separate validation file (images for
                            idx); excludes val_fraction > 0 */
    char *val_labels;    /* idx only: required with val */
    size_t seq_len;      /* text only (required there): steps T per window */
    char *sampler;       /* data.sampler: the order of training rows
                            (trainer/sampler.h), NULL: stratified, or
                            stream with data.stream; "stream" sets stream */
    int stream;          /* text only: windows in stream order for
                            truncated BPTT (io/shard.h STREAM ORDER); every
                            rank loads all training windows; needs
                            val_fraction 0 and accumulate 1 */
    char *target;        /* "labels" (default) or "input": the targets are
                            the (normalised) inputs themselves, as for an
                            autoencoder; then no labels are read at all */
    size_t labelled;     /* keep the labels of only this many training rows,
                            chosen by a seeded hash of the row id; the others
                            become unlabelled (0 = all keep theirs) */
    /* data.augment (nn/augment.h), training rows of image data only:
     * random crop after zero-padding by crop_pad, horizontal flip with
     * probability 1/2 */
    size_t augment_crop_pad;
    int augment_hflip;
    /* data.format packed (io/packed.h): bytes of prefetched rows per
     * rank (the window of upcoming batches, at least two of them) */
    size_t window;
} io_data_cfg;

typedef struct io_train_cfg {
    size_t epochs;
    size_t batch_size;   /* GLOBAL batch, split over ranks */
    uint64_t seed;
    double lr;
    size_t max_steps;    /* stop after this many steps (0 = no limit) */
    /* Learning-rate schedule (nn/schedule.h). A "step" here is one
     * optimizer update (= `accumulate` micro-batches); the *_epochs
     * variants are converted with the run's steps per epoch, and at most
     * one of each pair is non-zero. Keys a schedule does not use are
     * refused by the parser, so unused fields hold their defaults. */
    nn_schedule_kind schedule; /* default constant */
    size_t warmup_steps;       /* linear warmup, 0 = none */
    size_t warmup_epochs;
    double warmup_start_lr;    /* lr at the first warmup step, default 0 */
    size_t step_size;          /* step: updates between decays */
    size_t step_size_epochs;
    double gamma;              /* step, exponential: factor in (0, 1], 0.1 */
    size_t decay_steps;        /* exponential: updates per factor gamma */
    size_t decay_epochs;
    double min_lr;             /* cosine: final rate, default 0 */
    size_t lr_reference_batch; /* linear scaling: lr * batch_size / this;
                                  0 = off */
    size_t accumulate;         /* micro-batches per update, >= 1, default 1;
                                  batch_size stays the whole update's batch */
    double clip_norm;          /* clip the global gradient norm, 0 = off */
    /* Seconds a rank may wait in one collective before the job ends with
     * exit 5 (a stalled rank); 0 = never (comm_set_timeout). */
    double collective_timeout;
    /* Deterministic mode (docs/DETERMINISM.md): the same bits on every
     * supported rank count. The global batch is cut into micro_shards
     * (a power of two) parts whose gradients are summed in one fixed
     * binary tree (trainer/gradsync.h, TR_SYNC_TREE). */
    int deterministic;             /* default false */
    size_t micro_shards;           /* power of two, default 8 */
} io_train_cfg;

/* Early stopping on a validation metric, checked once per epoch. */
typedef struct io_early_stop_cfg {
    int enabled;         /* the early_stopping section is present (even
                            empty), unless it says enabled: false */
    char *monitor;       /* "val_loss" (lower is better, default) or
                            "val_accuracy" (higher is better) */
    size_t patience;     /* epochs without improvement before stopping, 5 */
    double min_delta;    /* an improvement must exceed this, default 0 */
} io_early_stop_cfg;

typedef struct io_ckpt_cfg {
    char *dir;           /* NULL: no checkpoints */
    size_t every_steps;  /* 0 = off */
    size_t every_epochs; /* 0 = off; the end of training always writes */
    size_t keep_last;    /* 0 = keep all */
    int stop_on_error;   /* 1: a failed write stops training */
} io_ckpt_cfg;

typedef struct io_log_cfg {
    char *metrics;       /* JSON-lines file, NULL = none */
    size_t print_every;  /* steps between progress lines, 0 = per epoch */
} io_log_cfg;

/* A parsed layer list: what nn_model_create takes. */
typedef struct io_layers {
    size_t n;
    nn_spec *specs;
} io_layers;

/* A key (or a top-level section) the file or an override set, and where
 * (io_config_where). */
typedef struct io_config_given {
    char *key;           /* the schema's key, e.g. "training.lr", or a
                            section name, e.g. "gan" */
    int line;            /* its line in the file (0 for an override) */
    char *origin;        /* "--set KEY" for an override, else NULL */
} io_config_given;

typedef struct io_config {
    char *path;          /* as given */
    char *text;          /* the file's bytes (NUL-terminated) */
    size_t text_len;
    /* model.layers; `model_layers` is the same two fields as an io_layers,
     * so the parser fills every layer list alike */
    union {
        struct {
            size_t n_layers;
            nn_spec *layers;
        };
        io_layers model_layers;
    };
    char *init_from;     /* model.init_from: checkpoint to fine-tune from */
    char *init_layers;   /* model.init_layers: "a,b" (NULL = every layer whose
                            name the checkpoint's model also has) */
    size_t unfreeze_epoch; /* model.unfreeze_epoch: from this (1-based) epoch
                              on, layers with trainable: false train too
                              (0 = stay frozen) */
    char *loss;          /* "mse", "cross_entropy", ... */
    nn_optim_cfg optim;
    io_data_cfg data;
    io_train_cfg train;
    io_early_stop_cfg early_stop;
    io_ckpt_cfg ckpt;
    io_log_cfg log;
    char *objective;     /* `objective:` the kind of training
                            (trainer/objective.h); NULL: inferred */
    size_t n_given;      /* the keys the file and the overrides set */
    io_config_given *given;
    /* the values of the schema fragments given to io_config_parse, in
     * their order (io_config_values) */
    size_t n_ext;
    const struct io_schema *ext_schema[IO_MAX_SCHEMAS];
    void *ext[IO_MAX_SCHEMAS];
} io_config;

/* Where key `key` (or top-level section) was set: "FILE:LINE" (or
 * "--set KEY") into buf, and 1; 0 (buf untouched) when neither the file
 * nor an override set it. Lets the code that owns a key (an objective)
 * name it in its own checks. */
int io_config_where(const io_config *cfg, const char *key, char *buf,
                    size_t cap);

/* NN_EXIT_USAGE with "WHERE: key: <message>", WHERE where the key was set,
 * else where its section was, else the file. */
int io_config_error(const io_config *cfg, const char *key, nn_error *err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The values of fragment `sc` (its struct), or NULL when the parse was not
 * given sc. */
const void *io_config_values(const io_config *cfg, const io_schema *sc);

/* Parse `text` (len bytes) as the config named `path`, applying overrides
 * ("training.epochs=3"), with the core keys and those of the fragments
 * schemas[] (NULL-terminated; NULL for none). On error fills err
 * (file:line: key: problem, or "--set key: ..." for an override) and
 * leaves *cfg empty (all zero), so io_config_free on it is harmless but
 * not needed. */
int io_config_parse(io_config *cfg, const char *path, const char *text,
                    size_t len, char *const *overrides, size_t n_overrides,
                    const io_schema *const *schemas, nn_error *err);

/* Optimizer steps of the whole run, training.epochs * steps_per_epoch,
 * saturating at UINT64_MAX instead of wrapping (a wrapped count of 0 made
 * a cosine schedule "end" before it began). */
uint64_t io_run_steps(const io_train_cfg *t, uint64_t steps_per_epoch);

/* The learning-rate schedule of t for a run with `steps_per_epoch`
 * optimizer updates per epoch and `total_steps` updates in all (where a
 * cosine ends): *_epochs keys become steps, the linear scaling rule (if
 * lr_reference_batch) scales lr by batch_size / lr_reference_batch.
 * Validate the result with nn_schedule_check: e.g. a warmup as long as
 * the whole run cannot be caught before the run's length is known. */
nn_schedule io_train_schedule(const io_train_cfg *t, uint64_t steps_per_epoch,
                              uint64_t total_steps);

/* Longest config file read: far beyond any real config, small enough that
 * /dev/zero-like input cannot exhaust memory. */
#define IO_CONFIG_MAX_BYTES ((size_t)16 << 20)

/* Read a whole config file into a NUL-terminated buffer (code
 * NN_EXIT_USAGE when it cannot be read, message names the path and
 * strerror). It must be a regular file (a FIFO, a device or a directory is
 * refused without blocking) of at most IO_CONFIG_MAX_BYTES (io/file.h). */
int io_read_file(const char *path, char **out, size_t *len, nn_error *err);

/* Free every string and layer spec of cfg and zero it (twice is fine). */
void io_config_free(io_config *cfg);

#endif

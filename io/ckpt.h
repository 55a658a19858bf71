/* io/ckpt.h - checkpoints: header + zlib-deflated arenas, crash-safe.
 *
 * Written by rank 0 only. The file is written to "<path>.tmp.<pid>",
 * flushed, fsynced, renamed over <path>, then the directory is fsynced, so
 * <path> is always either the previous complete checkpoint or the new one.
 * The format is specified byte by byte in docs/CHECKPOINT.md.
 */
#ifndef IO_CKPT_H
#define IO_CKPT_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */
#include "nn/error.h"

#define IO_CKPT_MAGIC "AXONCKPT"   /* 8 bytes */
#define IO_CKPT_VERSION 1u
#define IO_CKPT_MAX_RNG 8

typedef struct io_ckpt {
    uint64_t model_hash;    /* nn_model_hash of the architecture */
    char *config;           /* the config text the run used (owned) */
    size_t config_len;
    uint32_t world_size;    /* ranks of the writing run (informational) */
    uint64_t epoch;         /* epoch in progress (0-based) */
    uint64_t step_in_epoch; /* steps of `epoch` already done */
    uint64_t global_step;   /* optimizer steps done in total */
    uint32_t optim_kind;    /* nn_opt_kind */
    uint64_t optim_t;       /* the optimizer's step counter */
    uint32_t n_rng;         /* generator states saved */
    uint64_t rng[IO_CKPT_MAX_RNG][4];
    double best_metric;     /* early stopping: best monitored value */
    uint64_t best_epoch;
    uint64_t bad_epochs;    /* epochs without improvement */
    char *extra;            /* opaque bytes (e.g. a vocabulary), owned */
    size_t extra_len;
    size_t n_params;
    float *params;          /* parameter arena (owned after read) */
    size_t n_state;
    float *state;           /* optimizer state (owned after read) */
} io_ckpt;

/* Write atomically (see above). Compression level 1 (fast). On failure the
 * file under `path` is untouched, the temporary is removed, and err names
 * the path and strerror (NN_EXIT_DATA). Borrows every pointer in c. */
int io_ckpt_write(const char *path, const io_ckpt *c, nn_error *err);

/* Read and fully validate (magic, version, sizes against the file length,
 * CRC32 of every section) before returning anything. On failure nothing is
 * allocated and err names the file and the cause (NN_EXIT_DATA). */
int io_ckpt_read(const char *path, io_ckpt *c, nn_error *err);

/* Free what io_ckpt_read allocated. */
void io_ckpt_free(io_ckpt *c);

/* File size in bytes of the last successful write in this process, 0
 * before the first (for reporting ratio and throughput). */
size_t io_ckpt_last_bytes(void);

#endif

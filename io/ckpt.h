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
#include <stdint.h> /* uint8_t, uint32_t, uint64_t */
#include "nn/error.h"

#define IO_CKPT_MAGIC "AXONCKPT"   /* 8 bytes */
#define IO_CKPT_VERSION 2u /* reads 1 and 2 */
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
 * the path and strerror (NN_EXIT_DATA). Borrows every pointer in c.
 * Same as io_ckpt_write_parts with one part holding every segment. */
int io_ckpt_write(const char *path, const io_ckpt *c, nn_error *err);

/* The payload (the arenas as little-endian floats) is cut into segments of
 * IO_CKPT_SEGMENT bytes (the last may be shorter; an empty payload is one
 * empty segment); in each, the bytes are grouped by significance (all
 * lowest bytes, ..., all highest), and each is deflated from a fresh state
 * and ended on a byte boundary. Segments can therefore be compressed in parallel (by different
 * ranks, which hold identical arenas) and concatenated: behind one zlib
 * header and the combined Adler-32 they are a single ordinary zlib stream,
 * and the file is the same bytes however the segments were shared out. */
#define IO_CKPT_SEGMENT ((size_t)1 << 16)

/* Deflated segments [first, first + count) of a payload. */
typedef struct io_ckpt_part {
    uint8_t *data;    /* raw deflate data (owned) */
    size_t len;       /* its bytes */
    uint64_t raw_len; /* payload bytes it encodes */
    uint32_t crc;     /* CRC-32 of those bytes */
    uint32_t adler;   /* Adler-32 of those bytes */
} io_ckpt_part;

/* Segments in c's payload (at least 1). */
size_t io_ckpt_segments(const io_ckpt *c);

/* Deflate segments [first, first + count) of c's payload into *part
 * (count may be 0: an empty part). Aborts through NN_CHECK on a range
 * outside the payload or when zlib runs out of memory. */
void io_ckpt_deflate(const io_ckpt *c, size_t first, size_t count,
                     io_ckpt_part *part);
void io_ckpt_part_free(io_ckpt_part *part);

/* io_ckpt_write with the payload already deflated: parts[0, n_parts) must
 * cover every segment of c, in order (checked: their raw bytes must add up
 * to the arenas'). c's arenas are not read. */
int io_ckpt_write_parts(const char *path, const io_ckpt *c,
                        const io_ckpt_part *parts, size_t n_parts,
                        nn_error *err);

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

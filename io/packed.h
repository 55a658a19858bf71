/* io/packed.h - packed datasets: a directory of binary shards and an index
 * (docs/DATA.md has the layout byte by byte), written by `axon pack` and
 * read row by row by data.format packed, so a rank holds only the rows of
 * its upcoming batches, never its whole shard of the file.
 *
 * A packed dataset is one split (training, test or validation rows) of
 * `total` rows. Row i holds x (x_width values of x_type, per-sample shape
 * x_shape) and y (y_width values of y_type; 0 when the targets are the
 * inputs). The values are those the source file stores (pixels 0..255,
 * token ids, CSV numbers): normalisation stays a training-time operation,
 * applied as rows are read (io_packed_tf). Shard k holds the consecutive
 * rows [first_k, first_k + rows_k): a 64-byte header, then the x block
 * [rows_k, x_width] and the y block [rows_k, y_width], little-endian.
 *
 * Reading: every header and the index are checked when the dataset is
 * opened (every rank reads the index and all shard headers, nothing else);
 * a row is read with pread when asked for, either directly (io_packed_rows)
 * or ahead of time by a prefetch thread that keeps a bounded window of
 * upcoming batches (io_packed_prefetch, io_packed_next). The payload CRCs
 * are checked by io_packed_verify (`axon pack --verify`), which reads
 * everything. Every failure is NN_EXIT_DATA naming the file.
 */
#ifndef IO_PACKED_H
#define IO_PACKED_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint32_t, uint64_t */

#include "nn/error.h"
#include "nn/layer.h" /* nn_shape */

#define IO_PACKED_VERSION 1
#define IO_PACKED_HEADER 64          /* bytes of a shard header */
#define IO_PACKED_INDEX "index"      /* the index's file name in the dir */
#define IO_PACKED_MAX_SHARDS 1000000 /* shard-000000.bin .. shard-999999.bin */
#define IO_PACKED_MAX_WIDTH ((size_t)1 << 30) /* values per row, x or y */

/* Element types (the header's bytes; 0 = no values). */
typedef enum {
    IO_PK_NONE = 0,
    IO_PK_U8 = 1,    /* unsigned byte: IDX pixels and labels */
    IO_PK_F32 = 2,   /* IEEE float32: CSV values */
    IO_PK_TOKEN = 3, /* unsigned 16-bit token id: text */
} io_pk_type;

/* What every shard and the index agree on. */
typedef struct io_packed_meta {
    io_pk_type x_type, y_type;
    nn_shape x_shape;          /* per sample */
    size_t x_width, y_width;   /* values per row */
    size_t total;              /* rows in the dataset */
    char vocab[256];           /* text: byte of token id i; vocab_len 0 else */
    size_t vocab_len;
} io_packed_meta;

/* Bytes of one value of type t (0 for IO_PK_NONE). */
size_t io_pk_size(io_pk_type t);

/* ---- writing (axon pack) -------------------------------------------- */

typedef struct io_pack_writer io_pack_writer;

/* Start writing dataset `m` (m->total rows) into directory `dir` (created
 * if missing) in shards of about `shard_bytes` bytes of rows (at least one
 * row each). Rows are then given in order with io_pack_add; io_pack_finish
 * writes the last shard and the index (temp file, fsync, rename: a
 * dataset without its index is incomplete). NN_EXIT_DATA naming the path
 * when a file cannot be written. */
int io_pack_begin(io_pack_writer **w, const char *dir,
                  const io_packed_meta *m, size_t shard_bytes, nn_error *err);
/* Rows x[n, x_width] and y[n, y_width] (y ignored when y_width is 0), as
 * floats, each value stored as the meta's type: a value the type cannot
 * hold exactly (a fraction, or out of range, for U8 and TOKEN) is
 * NN_EXIT_DATA naming `source` and the row (first row of this call is
 * global row `row0`). */
int io_pack_add(io_pack_writer *w, const float *x, const float *y, size_t n,
                const char *source, size_t row0, nn_error *err);
/* Finish (the rows given must be m->total) and free w; with err == NULL
 * only frees (after a failure). Returns 0 or NN_EXIT_DATA. */
int io_pack_finish(io_pack_writer *w, nn_error *err);

/* ---- reading --------------------------------------------------------- */

typedef struct io_packed io_packed;

/* How rows become the floats the model sees, in this order: x converted
 * to float; x *= scale (scale != 0: data.normalize scale); x = (x - mean)
 * / std per column (mean != NULL: standardize, io_standardize); y = the
 * normalised x when y_is_x (data.target input), else y converted; y =
 * NN_LABEL_NONE where hide[local row] (data.labelled). The arrays are
 * borrowed and must outlive the reads. The same arithmetic as for data
 * held in memory, so both give the same bits. */
typedef struct io_packed_tf {
    float scale;
    const double *mean, *std;
    int y_is_x;
    const unsigned char *hide;
} io_packed_tf;

/* Open the packed dataset in `dir` and check the index and every shard's
 * header against each other and the files' sizes; rows [lo, hi) of it are
 * "local rows" 0.. (the rank's shard; hi <= total, checked by the caller
 * against p->meta via io_packed_meta_of). The prefetch window holds at
 * most `window` bytes of converted rows (at least two batches). */
int io_packed_open(io_packed **p, const char *dir, size_t window,
                   nn_error *err);
void io_packed_close(io_packed *p);
const io_packed_meta *io_packed_meta_of(const io_packed *p);
/* Set the local rows (global ids lo.. ) and the transform; call before
 * any read. */
void io_packed_setup(io_packed *p, size_t lo, const io_packed_tf *tf);

/* Keep the stored targets of global rows [lo, hi) in memory when they
 * take at most a quarter of the window (labels: one byte a row), so a
 * batch needs one read per row instead of two. Reads them once. */
int io_packed_keep_targets(io_packed *p, size_t lo, size_t hi,
                           nn_error *err);

/* Local rows local[0, n) into x[n, x_width] and y[n, y_width] (either may
 * be NULL: not read), transformed. Synchronous; any thread state is left
 * alone. Consecutive rows are read with one pread. */
int io_packed_rows(io_packed *p, const size_t *local, size_t n, float *x,
                   float *y, nn_error *err);
/* Queue the rows of an upcoming batch for the prefetch thread (started on
 * the first call). Returns 1 (nothing queued) when the window is full. */
int io_packed_prefetch(io_packed *p, const size_t *local, size_t n);
/* The next batch: when it is the oldest queued one (the same rows), waits
 * for the thread and copies it out; otherwise the queue is dropped and the
 * rows are read directly. Same contract as io_packed_rows. */
int io_packed_next(io_packed *p, const size_t *local, size_t n, float *x,
                   float *y, nn_error *err);
/* Slots of the window for batches of up to `rows` rows (a larger batch
 * queued later drops the queue to make new slots: reserve the largest
 * first). Starts the thread. */
void io_packed_reserve(io_packed *p, size_t rows);
/* Drop every queued batch (waits for the one being read). */
void io_packed_cancel(io_packed *p);
/* Bytes read from the shards so far (payload and headers). */
uint64_t io_packed_bytes_read(const io_packed *p);

/* Read every shard whole and check its payload CRC against its header and
 * the index (after the checks of io_packed_open). Returns 0 or
 * NN_EXIT_DATA naming the file. *rows gets the dataset's row count. */
int io_packed_verify(const char *dir, size_t *rows, nn_error *err);

#endif

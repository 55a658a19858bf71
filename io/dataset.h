/* io/dataset.h - datasets: IDX (MNIST format), numeric CSV and plain text
 * (character windows), gzip or plain, of which each rank loads only its
 * contiguous shard of rows; and packed datasets (io/packed.h), whose rows
 * stay on disk and are read when a batch needs them.
 *
 * Samples become float rows x[i] (shape x_shape) with targets y[i]
 * (y_width floats: a class index for IDX labels, chosen columns for CSV).
 * Every header field is validated against the data actually present; a
 * truncated file, a bad magic or mismatched counts is an NN_EXIT_DATA error
 * naming the file.
 */
#ifndef IO_DATASET_H
#define IO_DATASET_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */
#include "io/config.h"
#include "io/packed.h"
#include "nn/layer.h"

typedef struct io_dataset {
    char *name;        /* path of the (image) file, for messages */
    size_t total;      /* rows in the whole file (after data.limit) */
    size_t lo, hi;     /* this rank holds global rows [lo, hi) */
    nn_shape x_shape;  /* per sample: [C,H,W] for IDX images, [F] for CSV */
    size_t x_width;    /* nn_shape_size(x_shape) */
    size_t y_width;
    float *x;          /* [(hi-lo), x_width] */
    float *y;          /* [(hi-lo), y_width]; y == x (the same memory,
                          y_width == x_width) when data.target is input, so
                          normalising x normalises the targets alike */
    char *vocab;       /* text: byte of token id i at vocab[i]; else NULL */
    size_t vocab_len;
    /* data.format packed: x and y are NULL and the rows are read on
     * demand (io_dataset_rows) from pk, normalised on the way as pk_tf
     * says; pk_norm (mean, std) and pk_hide are what pk_tf points to */
    io_packed *pk;
    io_packed_tf pk_tf;
    double *pk_norm;
    unsigned char *pk_hide;
} io_dataset;

typedef enum { IO_SPLIT_TRAIN = 0, IO_SPLIT_TEST = 1 } io_split;

/* A data format (data.format): its loader of one split's shard, and for
 * `axon predict` its reader of a file of model inputs, rows of the model's
 * input shape `in` (malloc'ed into *x; NULL: the format has none). */
typedef struct io_format_ops {
    const char *name;
    int (*load)(io_dataset *d, const io_data_cfg *cfg, io_split split,
                size_t part, size_t parts, nn_error *err);
    int (*inputs)(const char *path, const io_data_cfg *cfg, nn_shape in,
                  float **x, size_t *rows, nn_error *err);
} io_format_ops;

/* The format called `name`, or NULL. */
const io_format_ops *io_format_find(const char *name);

/* Load shard `part` of `parts` of the split: rows [total*part/parts,
 * total*(part+1)/parts). Applies no normalisation. With data.target
 * input no labels file is opened (IDX) and every CSV column is a
 * feature; y then aliases x (see above). */
int io_dataset_load(io_dataset *d, const io_data_cfg *cfg, io_split split,
                    size_t part, size_t parts, nn_error *err);
void io_dataset_free(io_dataset *d);

/* Shard `part` of `parts` of `total` rows: [total*part/parts,
 * total*(part+1)/parts); monotone in part, so the shards tile [0, total). */
void io_dataset_part(size_t total, size_t part, size_t parts, size_t *lo,
                     size_t *hi);

/* ROWS ON DEMAND. Every reader of a dataset's rows goes through these, so
 * that a packed dataset (d->pk) behaves as one held in memory: the same
 * rows give the same floats. */

/* Local rows rows[0, n) (indices into [0, hi - lo)) into x[n, x_width]
 * and y[n, y_width]; either may be NULL (not read). Synchronous. 0, or
 * NN_EXIT_DATA naming the file (packed data only). */
int io_dataset_rows(const io_dataset *d, const size_t *rows, size_t n,
                    float *x, float *y, nn_error *err);
/* Packed data: queue the rows of an upcoming batch for the prefetch
 * thread; 1 when the window is full (nothing queued) or d is in memory. */
int io_dataset_prefetch(const io_dataset *d, const size_t *rows, size_t n);
/* The next batch, as io_dataset_rows: from the prefetch window when these
 * rows are the oldest queued (else the queue is dropped). */
int io_dataset_next(const io_dataset *d, const size_t *rows, size_t n,
                    float *x, float *y, nn_error *err);
/* Packed data: make the window's slots for batches of up to `rows` rows
 * (the epoch's largest), so no later batch makes the queue start over. */
void io_dataset_reserve(const io_dataset *d, size_t rows);
/* Drop the queued batches (a new epoch's order). */
void io_dataset_cancel(const io_dataset *d);

enum { IO_SCAN_X = 1, IO_SCAN_Y = 2 };
/* Call fn(view, ctx) over all local rows of d: for data in memory once
 * with d itself; for packed data with in-memory views of consecutive
 * chunks of rows (view->lo, view->hi their global bounds, view->name
 * d's), reading x and/or y as `what` says (the other is NULL). Stops at
 * the first non-zero return and returns it (or a read error, in err). */
int io_dataset_scan(const io_dataset *d, unsigned what,
                    int (*fn)(const io_dataset *view, void *ctx), void *ctx,
                    nn_error *err);

/* data.format packed (io/dataset_packed.c): the loader and predict's
 * reader of a packed directory of inputs. */
int io_packed_load(io_dataset *d, const io_data_cfg *cfg, io_split split,
                   size_t part, size_t parts, nn_error *err);
int io_packed_inputs(const char *path, const io_data_cfg *cfg, nn_shape in,
                     float **x, size_t *rows, nn_error *err);

/* A dataset that meets a model must have its samples' shape: d's samples
 * must be x_shape with y_width targets each (the training file's, or the
 * model's input; y_width (size_t)-1 skips the target check). `against`
 * names what the shape comes from, for the message. Returns 0, or
 * NN_EXIT_DATA "FILE: samples of SHAPE with N target(s), but AGAINST has
 * SHAPE with M" so no reader of d ever walks rows of the wrong width. */
int io_dataset_check_shape(const io_dataset *d, nn_shape x_shape,
                           size_t y_width, const char *against,
                           nn_error *err);

/* Inputs x[rows, width] that feed token ids to an embedding of `vocab`
 * rows: every value, rounded to the nearest integer as the layer does,
 * must be an id in [0, vocab) or padding (NN_LABEL_NONE). Returns 0, or NN_EXIT_DATA naming `name`, the row
 * (first_row + local row), the column and the value. */
int io_check_token_ids(const char *name, const float *x, size_t rows,
                       size_t width, size_t first_row, size_t vocab,
                       nn_error *err);
/* The same over this shard's inputs (d->x), naming d->name. */
int io_dataset_check_ids(const io_dataset *d, size_t vocab, nn_error *err);

/* Lower-level readers, also used by predict and the tests.
 * IDX: `rows` [lo, hi) of an idx3 (images, u8) or idx1 (labels, u8) file;
 * hi == (size_t)-1 means to the end. *total gets the file's count. */
int io_idx_read(const char *path, size_t lo, size_t hi, size_t *total,
                nn_shape *shape, float **out, nn_error *err);
/* CSV: all numeric rows after skip_rows (+ header); out[rows, cols]. */
int io_csv_read(const char *path, size_t skip_rows, int header,
                size_t *rows, size_t *cols, float **out, nn_error *err);

/* Text (data.format: text), a character-level language-model dataset.
 * Tokens are bytes (a multi-byte UTF-8 character is several tokens). The
 * vocabulary is the sorted set of distinct bytes of the WHOLE training
 * file (whatever the shard or data.limit), so every rank derives the same
 * ids; token id i stands for byte vocab[i]. With T = data.seq_len, a file
 * of L bytes holds (L - 1) / T windows (a shorter tail is dropped); window
 * i is x = ids of bytes [i*T, i*T+T) (x_shape [T]) and y = ids of bytes
 * [i*T+1, i*T+T+1) (y_width T), as floats. A test or validation file is
 * encoded with the TRAINING vocabulary: a byte outside it is an error
 * naming the file, line, column and the byte (no <unk> token: a model
 * cannot have learned anything about a byte it never saw).
 * Errors (NN_EXIT_DATA): an empty file, a file shorter than T + 1 bytes,
 * the unknown byte above; unreadable files as io_gz (NN_EXIT_DATA). */

/* vocab[0..*len) = sorted distinct bytes of text[0..n); vocab has room
 * for 256. */
void io_text_vocab(const char *text, size_t n, char *vocab, size_t *len);
/* ids[k] = id of text[k] in vocab[0..vocab_len) (sorted, as above) for
 * k < n. A byte outside the vocabulary is an NN_EXIT_DATA error
 * "NAME:LINE:COL: character ..." (lines and columns 1-based, in bytes). */
int io_text_encode(const char *name, const char *text, size_t n,
                   const char *vocab, size_t vocab_len, float *ids,
                   nn_error *err);
/* The shard of windows of cfg->train (split TRAIN) or cfg->test (TEST),
 * with d->vocab set from cfg->train. Called by io_dataset_load. */
int io_text_load(io_dataset *d, const io_data_cfg *cfg, io_split split,
                 size_t part, size_t parts, nn_error *err);

/* Normalisation. Feature moments over local rows rows[0, n) of this
 * shard (all rows when rows is NULL): sum and sum of squares per column of
 * x, in double, to be summed across ranks by the caller. Packed data are
 * read in one streaming pass, in the same order (the same sums). 0, or a
 * read error (packed data). */
int io_dataset_moments(const io_dataset *d, const size_t *rows, size_t n,
                       double *sum, double *sumsq, nn_error *err);
/* x[rows, w] = (x - mean) / std per column (std < 1e-12 treated as 1):
 * the one standardisation, for loaded data and for predict's inputs. */
void io_standardize(float *x, size_t rows, size_t w, const double *mean,
                    const double *std);
/* io_standardize over every row of d (packed data: as rows are read;
 * mean and std are copied). */
void io_dataset_standardize(io_dataset *d, const double *mean,
                            const double *std);
void io_dataset_scale(io_dataset *d, float scale);

/* data.labelled: which training rows keep their labels. Of the rows
 * train_ids[0..n_train) (global ids; the validation rows excluded), the
 * `keep` whose hash nn_hash64(seed ^ salt, id, 0) is smallest (ties: the
 * earlier in train_ids) keep theirs: kept[i] = 1 for them, 0 for the
 * others. The choice depends only on (seed, ids, keep), never on the
 * shard, so it is the same for any rank count; a larger keep picks a
 * superset. keep >= n_train keeps all. */
void io_labelled_pick(const size_t *train_ids, size_t n_train, size_t keep,
                      uint64_t seed, unsigned char *kept);
/* Set all y_width targets of each row train_ids[i] with kept[i] == 0 that
 * this shard holds to NN_LABEL_NONE. Returns how many rows that was. */
size_t io_dataset_hide_labels(io_dataset *d, const size_t *train_ids,
                              size_t n_train, const unsigned char *kept);

#endif

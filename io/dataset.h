/* io/dataset.h - datasets: IDX (MNIST format) and numeric CSV, gzip or
 * plain, of which each rank loads only its contiguous shard of rows.
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
#include "io/config.h"
#include "nn/layer.h"

typedef struct io_dataset {
    char *name;        /* path of the (image) file, for messages */
    size_t total;      /* rows in the whole file (after data.limit) */
    size_t lo, hi;     /* this rank holds global rows [lo, hi) */
    nn_shape x_shape;  /* per sample: [C,H,W] for IDX images, [F] for CSV */
    size_t x_width;    /* nn_shape_size(x_shape) */
    size_t y_width;
    float *x;          /* [(hi-lo), x_width] */
    float *y;          /* [(hi-lo), y_width] */
} io_dataset;

typedef enum { IO_SPLIT_TRAIN = 0, IO_SPLIT_TEST = 1 } io_split;

/* Load shard `part` of `parts` of the split: rows [total*part/parts,
 * total*(part+1)/parts). Applies no normalisation. */
int io_dataset_load(io_dataset *d, const io_data_cfg *cfg, io_split split,
                    size_t part, size_t parts, nn_error *err);
void io_dataset_free(io_dataset *d);

/* Lower-level readers, also used by predict and the tests.
 * IDX: `rows` [lo, hi) of an idx3 (images, u8) or idx1 (labels, u8) file;
 * hi == (size_t)-1 means to the end. *total gets the file's count. */
int io_idx_read(const char *path, size_t lo, size_t hi, size_t *total,
                nn_shape *shape, float **out, nn_error *err);
/* CSV: all numeric rows after skip_rows (+ header); out[rows, cols]. */
int io_csv_read(const char *path, size_t skip_rows, int header,
                size_t *rows, size_t *cols, float **out, nn_error *err);

/* Normalisation. Feature moments over this shard (sum and sum of squares
 * per column of x, in double), to be summed across ranks by the caller. */
void io_dataset_moments(const io_dataset *d, double *sum, double *sumsq);
/* x = (x - mean) / std per column (std < 1e-12 treated as 1). */
void io_dataset_standardize(io_dataset *d, const double *mean,
                            const double *std);
void io_dataset_scale(io_dataset *d, float scale);

#endif

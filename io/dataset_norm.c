/* io/dataset_norm.c - feature moments and normalisation of a loaded shard
 * (see io/dataset.h). */
#include "io/dataset.h"

#include <stdlib.h> /* free */
#include <string.h> /* memset, memcpy */

#include "nn/check.h"

/* Packed data: rows per read of the streaming pass. */
#define MOMENT_CHUNK 4096

/* Overwrites sum[x_width] and sumsq[x_width] with the per-column sums of
 * x and x^2 over the shard's local rows rows[0, n) (all of them when rows
 * is NULL), accumulated in double so that summing across ranks and
 * dividing by the global count gives the mean and E[x^2]. */
static void add_moments(const float *x, size_t n, size_t w, double *sum,
                        double *sumsq)
{
    for (size_t i = 0; i < n; i++, x += w)
        for (size_t j = 0; j < w; j++) {
            double v = x[j];
            sum[j] += v;
            sumsq[j] += v * v;
        }
}

int io_dataset_moments(const io_dataset *d, const size_t *rows, size_t n,
                       double *sum, double *sumsq, nn_error *err)
{
    size_t w = d->x_width;
    if (!rows) n = d->hi - d->lo;
    memset(sum, 0, w * sizeof *sum);
    memset(sumsq, 0, w * sizeof *sumsq);
    if (!d->pk) {
        for (size_t i = 0; i < n; i++)
            add_moments(d->x + (rows ? rows[i] : i) * w, 1, w, sum, sumsq);
        return 0;
    }
    /* one pass over the rows, in the same order: the same sums */
    size_t c = n < MOMENT_CHUNK ? n : MOMENT_CHUNK;
    float *x = nn_xalloc_floats(nn_mul_size(c ? c : 1, w ? w : 1));
    size_t *ids = nn_xcalloc(c ? c : 1, sizeof *ids);
    int st = 0;
    for (size_t at = 0; at < n && !st; at += c) {
        size_t k = n - at < c ? n - at : c;
        for (size_t i = 0; i < k; i++) ids[i] = rows ? rows[at + i] : at + i;
        st = io_packed_rows(d->pk, ids, k, x, NULL, err);
        if (!st) add_moments(x, k, w, sum, sumsq);
    }
    free(x), free(ids);
    return st;
}

/* A (near-)constant column has std ~ 0: dividing would blow it up, so it
 * is only centred. */
void io_standardize(float *x, size_t rows, size_t w, const double *mean,
                    const double *std)
{
    for (size_t i = 0; i < rows; i++, x += w)
        for (size_t j = 0; j < w; j++) {
            double s = std[j] < 1e-12 ? 1.0 : std[j];
            x[j] = (float)(((double)x[j] - mean[j]) / s);
        }
}

void io_dataset_standardize(io_dataset *d, const double *mean,
                            const double *std)
{
    if (d->pk) { /* applied as rows are read */
        size_t w = d->x_width;
        free(d->pk_norm);
        d->pk_norm = nn_xcalloc(2 * w + 1, sizeof *d->pk_norm);
        memcpy(d->pk_norm, mean, w * sizeof *mean);
        memcpy(d->pk_norm + w, std, w * sizeof *std);
        d->pk_tf.mean = d->pk_norm;
        d->pk_tf.std = d->pk_norm + w;
        io_packed_setup(d->pk, d->lo, &d->pk_tf);
        return;
    }
    io_standardize(d->x, d->hi - d->lo, d->x_width, mean, std);
}

void io_dataset_scale(io_dataset *d, float scale)
{
    if (d->pk) {
        d->pk_tf.scale = scale;
        io_packed_setup(d->pk, d->lo, &d->pk_tf);
        return;
    }
    size_t n = (d->hi - d->lo) * d->x_width;
    for (size_t i = 0; i < n; i++) d->x[i] *= scale;
}

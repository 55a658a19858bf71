/* io/dataset_norm.c - feature moments and normalisation of a loaded shard
 * (see io/dataset.h). */
#include "io/dataset.h"

#include <string.h> /* memset */

/* Overwrites sum[x_width] and sumsq[x_width] with the per-column sums of
 * x and x^2 over the shard's local rows rows[0, n) (all of them when rows
 * is NULL), accumulated in double so that summing across ranks and
 * dividing by the global count gives the mean and E[x^2]. */
void io_dataset_moments(const io_dataset *d, const size_t *rows, size_t n,
                        double *sum, double *sumsq)
{
    size_t w = d->x_width;
    if (!rows) n = d->hi - d->lo;
    memset(sum, 0, w * sizeof *sum);
    memset(sumsq, 0, w * sizeof *sumsq);
    for (size_t i = 0; i < n; i++) {
        const float *x = d->x + (rows ? rows[i] : i) * w;
        for (size_t j = 0; j < w; j++) {
            double v = x[j];
            sum[j] += v;
            sumsq[j] += v * v;
        }
    }
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
    io_standardize(d->x, d->hi - d->lo, d->x_width, mean, std);
}

void io_dataset_scale(io_dataset *d, float scale)
{
    size_t n = (d->hi - d->lo) * d->x_width;
    for (size_t i = 0; i < n; i++) d->x[i] *= scale;
}

/* io/dataset_norm.c - feature moments and normalisation of a loaded shard
 * (see io/dataset.h). */
#include "io/dataset.h"

#include <string.h> /* memset */

/* Overwrites sum[x_width] and sumsq[x_width] with this shard's per-column
 * sums of x and x^2, accumulated in double so that summing across ranks
 * and dividing by the global count gives the mean and E[x^2]. */
void io_dataset_moments(const io_dataset *d, double *sum, double *sumsq)
{
    size_t n = d->hi - d->lo, w = d->x_width;
    memset(sum, 0, w * sizeof *sum);
    memset(sumsq, 0, w * sizeof *sumsq);
    for (size_t i = 0; i < n; i++) {
        const float *x = d->x + i * w;
        for (size_t j = 0; j < w; j++) {
            double v = x[j];
            sum[j] += v;
            sumsq[j] += v * v;
        }
    }
}

/* A (near-)constant column has std ~ 0: dividing would blow it up, so it
 * is only centred. */
void io_dataset_standardize(io_dataset *d, const double *mean,
                            const double *std)
{
    size_t n = d->hi - d->lo, w = d->x_width;
    for (size_t i = 0; i < n; i++) {
        float *x = d->x + i * w;
        for (size_t j = 0; j < w; j++) {
            double s = std[j] < 1e-12 ? 1.0 : std[j];
            x[j] = (float)(((double)x[j] - mean[j]) / s);
        }
    }
}

void io_dataset_scale(io_dataset *d, float scale)
{
    size_t n = (d->hi - d->lo) * d->x_width;
    for (size_t i = 0; i < n; i++) d->x[i] *= scale;
}

/* io/dataset_rows.c - reading a dataset's rows, whether it holds them in
 * memory or reads them on demand from a packed directory (see "ROWS ON
 * DEMAND" in io/dataset.h). */
#include "io/dataset.h"

#include <stdlib.h> /* free */
#include <string.h> /* memcpy */

#include "nn/check.h"

/* Rows per chunk of a scan of packed data: a few MB of floats. */
#define SCAN_BYTES ((size_t)4 << 20)

int io_dataset_rows(const io_dataset *d, const size_t *rows, size_t n,
                    float *x, float *y, nn_error *err)
{
    if (d->pk) return io_packed_rows(d->pk, rows, n, x, y, err);
    size_t xw = d->x_width, yw = d->y_width;
    for (size_t k = 0; k < n; k++) {
        if (x) memcpy(x + k * xw, d->x + rows[k] * xw, xw * sizeof(float));
        if (y) memcpy(y + k * yw, d->y + rows[k] * yw, yw * sizeof(float));
    }
    return 0;
}

int io_dataset_prefetch(const io_dataset *d, const size_t *rows, size_t n)
{
    return d->pk ? io_packed_prefetch(d->pk, rows, n) : 1;
}

int io_dataset_next(const io_dataset *d, const size_t *rows, size_t n,
                    float *x, float *y, nn_error *err)
{
    if (d->pk) return io_packed_next(d->pk, rows, n, x, y, err);
    return io_dataset_rows(d, rows, n, x, y, err);
}

void io_dataset_reserve(const io_dataset *d, size_t rows)
{
    if (d->pk) io_packed_reserve(d->pk, rows);
}

void io_dataset_cancel(const io_dataset *d)
{
    if (d->pk) io_packed_cancel(d->pk);
}

int io_dataset_scan(const io_dataset *d, unsigned what,
                    int (*fn)(const io_dataset *view, void *ctx), void *ctx,
                    nn_error *err)
{
    if (!d->pk) return fn(d, ctx);
    size_t n = d->hi - d->lo, xw = d->x_width, yw = d->y_width;
    size_t row = ((what & IO_SCAN_X) ? xw : 0) + ((what & IO_SCAN_Y) ? yw : 0);
    size_t chunk = SCAN_BYTES / (row ? row * sizeof(float) : 1);
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n ? n : 1;
    size_t *rows = nn_xcalloc(chunk, sizeof *rows);
    io_dataset v = *d;
    v.pk = NULL;
    v.x = (what & IO_SCAN_X) ? nn_xalloc_floats(nn_mul_size(chunk, xw) + 1) : NULL;
    v.y = (what & IO_SCAN_Y) ? nn_xalloc_floats(nn_mul_size(chunk, yw) + 1) : NULL;
    int st = 0;
    for (size_t at = 0; at < n && !st; at += chunk) {
        size_t k = n - at < chunk ? n - at : chunk;
        for (size_t i = 0; i < k; i++) rows[i] = at + i;
        st = io_packed_rows(d->pk, rows, k, v.x, v.y, err);
        v.lo = d->lo + at;
        v.hi = v.lo + k;
        if (!st) st = fn(&v, ctx);
    }
    free(v.x), free(v.y), free(rows);
    return st;
}

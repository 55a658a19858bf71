/* nn/im2col.c - see im2col.h.
 *
 * Stride 1, the common case, has its own paths with no edge logic per
 * row: im2col copies each input plane into a zero-bordered plane (g->pad)
 * when there is padding, so that every cols row is OH plain copies of OW
 * inputs; col2im computes each input row directly, NN_VW columns at a
 * time, as the sum of the R*S cols runs that read it (each loaded whole,
 * its lanes outside the run masked off), so that no output is read back
 * and added to more than once. Other strides take the general walk.
 */
#include "nn/im2col.h"

#include <stdlib.h> /* free */
#include <string.h> /* memset */

#include "nn/check.h" /* nn_xalloc_floats, nn_xcalloc */

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t ceil_div(size_t a, size_t b)
{
    return (a + b - 1) / b;
}

void nn_im2col_shape(nn_im2col_geom *g)
{
    g->OH = (g->H + 2 * g->ph - g->R) / g->sh + 1;
    g->OW = (g->W + 2 * g->pw - g->S) / g->sw + 1;
    g->P = g->OH * g->OW;
    g->K = g->C * g->R * g->S;
    g->pad = NULL;
    g->lanes = NULL;
}

void nn_im2col_alloc(nn_im2col_geom *g)
{
    if (g->sh != 1 || g->sw != 1) return;
    if (g->ph || g->pw)
        g->pad = nn_xcalloc((g->H + 2 * g->ph) * (g->W + 2 * g->pw),
                            sizeof *g->pad);
    if (g->P < g->S) return; /* col2im takes the general walk */
    g->lanes = nn_xcalloc(g->OW + 2 * NN_VW, sizeof *g->lanes);
    for (size_t i = 0; i < g->OW; i++) g->lanes[NN_VW + i] = -1;
}

void nn_im2col_free(nn_im2col_geom *g)
{
    free(g->pad);
    free(g->lanes);
    g->pad = NULL;
    g->lanes = NULL;
}

/* Output positions o in [0, out_len) whose input position
 * o*stride + off - pad lies in [0, in_len): the range [*lo, *hi). */
static void valid_range(size_t out_len, size_t in_len, size_t stride,
                        size_t pad, size_t off, size_t *lo, size_t *hi)
{
    size_t a = off >= pad ? 0 : ceil_div(pad - off, stride);
    size_t b = off >= in_len + pad ? 0 : ceil_div(in_len + pad - off, stride);
    b = min_size(b, out_len);
    *lo = min_size(a, b);
    *hi = b;
}

/* out[0, OW) = in[(ow - lo)*sw] for ow in [lo, hi), zero elsewhere. */
static void fill_row(float *out, const float *in, size_t OW, size_t lo,
                     size_t hi, size_t sw)
{
    for (size_t ow = 0; ow < lo; ow++) out[ow] = 0.0f;
    if (sw == 1)
        nn_copy_run(out + lo, in, hi - lo);
    else
        for (size_t ow = lo; ow < hi; ow++) out[ow] = in[(ow - lo) * sw];
    for (size_t ow = hi; ow < OW; ow++) out[ow] = 0.0f;
}

/* Stride 1: the rows of plane c of x[C, H, W] as a plane with its zero
 * padding, so that window (oh, r) starts at row oh + r, column s: the
 * input itself (pitch W) when there is no padding, else g->pad (pitch Wp)
 * with the channel copied into its interior. */
static const float *padded_plane(const nn_im2col_geom *g, const float *x,
                                 size_t c, size_t *pitch)
{
    const float *plane = x + c * g->H * g->W;
    *pitch = g->W;
    if (!g->pad) return plane;
    *pitch = g->W + 2 * g->pw;
    for (size_t h = 0; h < g->H; h++)
        nn_copy_run(g->pad + (h + g->ph) * *pitch + g->pw, plane + h * g->W,
                    g->W);
    return g->pad;
}

/* im2col for stride 1: every cols row (c, r, s) is OH runs of OW inputs,
 * run oh starting at padded row oh + r, column s. Measured 2.5x faster
 * than the general walk on LeNet's layers, whose short rows (10 and 28)
 * made per-run bookkeeping the main cost. */
static void im2col_s1(const nn_im2col_geom *g, const float *x, float *cols,
                      size_t ld)
{
    for (size_t c = 0; c < g->C; c++) {
        size_t pitch;
        const float *plane = padded_plane(g, x, c, &pitch);
        for (size_t r = 0; r < g->R; r++)
            for (size_t s = 0; s < g->S; s++) {
                float *row = cols + ((c * g->R + r) * g->S + s) * ld;
                const float *src = plane + r * pitch + s;
                for (size_t oh = 0; oh < g->OH; oh++)
                    nn_copy_run(row + oh * g->OW, src + oh * pitch, g->OW);
            }
    }
}

void nn_im2col(const nn_im2col_geom *g, const float *x, float *cols, size_t ld)
{
    if (g->sh == 1 && g->sw == 1) {
        im2col_s1(g, x, cols, ld);
        return;
    }
    for (size_t c = 0; c < g->C; c++) {
        const float *xc = x + c * g->H * g->W;
        for (size_t r = 0; r < g->R; r++) {
            size_t oh_lo, oh_hi;
            valid_range(g->OH, g->H, g->sh, g->ph, r, &oh_lo, &oh_hi);
            for (size_t s = 0; s < g->S; s++) {
                float *row = cols + ((c * g->R + r) * g->S + s) * ld;
                size_t lo, hi;
                valid_range(g->OW, g->W, g->sw, g->pw, s, &lo, &hi);
                /* rows [oh_lo, h1) hold data; no valid column: none */
                size_t h1 = lo < hi ? oh_hi : oh_lo;
                for (size_t q = 0; q < oh_lo * g->OW; q++) row[q] = 0.0f;
                for (size_t oh = oh_lo; oh < h1; oh++)
                    /* iw = ow*sw + s - pw >= 0 for ow >= lo */
                    fill_row(row + oh * g->OW,
                             xc + (oh * g->sh + r - g->ph) * g->W +
                                 (lo * g->sw + s - g->pw),
                             g->OW, lo, hi, g->sw);
                for (size_t q = h1 * g->OW; q < g->P; q++) row[q] = 0.0f;
            }
        }
    }
}

/* col2im for stride 1. Input row h is padded row t = h + ph, read by
 * kernel row r at output row oh = t - r; its columns [8b, 8b + 8) are, at
 * kernel column s, positions [o, o + 8) of that cols run, o = pw + 8b - s,
 * of which those in [0, OW) count (the mask lanes + NN_VW + o). Loads
 * stay inside the buffer: o < 0 only for s > 0, i.e. after row 0, and
 * then by at most S - 1 <= P floats; past the end of the last row they
 * read at most 7 - pw floats (the slack). Taken when P >= S. */
NN_KERNEL static void col2im_s1(const nn_im2col_geom *g, const float *cols,
                                size_t ld, float *dx)
{
    size_t R = g->R, S = g->S, OW = g->OW, W = g->W;
    size_t nbw = ceil_div(W, NN_VW);
    /* from (r, oh) to (r + 1, oh - 1) in cols */
    ptrdiff_t step = (ptrdiff_t)(S * ld) - (ptrdiff_t)OW;
    for (size_t c = 0; c < g->C; c++)
        for (size_t h = 0; h < g->H; h++) {
            size_t t = h + g->ph;
            size_t r_lo = t + 1 > g->OH ? t + 1 - g->OH : 0;
            size_t r_hi = min_size(t + 1, R); /* r in [r_lo, r_hi) */
            float *out = dx + (c * g->H + h) * W;
            for (size_t b = 0; b < nbw; b++) {
                nn_vf a0 = (nn_vf){0}, a1 = (nn_vf){0};
                for (size_t s = 0; s < S; s++) {
                    ptrdiff_t o =
                        (ptrdiff_t)(g->pw + b * NN_VW) - (ptrdiff_t)s;
                    if (o <= -NN_VW || o >= (ptrdiff_t)OW) continue;
                    nn_vi m = NN_LOADI(g->lanes + NN_VW + o);
                    /* offset of run (r, oh = t - r), from r = r_lo */
                    ptrdiff_t at = (ptrdiff_t)((c * R * S + s) * ld + t * OW) +
                                   o + (ptrdiff_t)r_lo * step;
                    size_t r = r_lo;
                    for (; r + 2 <= r_hi; r += 2, at += 2 * step) {
                        a0 += (nn_vf)((nn_vi)NN_LOAD(cols + at) & m);
                        a1 += (nn_vf)((nn_vi)NN_LOAD(cols + at + step) & m);
                    }
                    if (r < r_hi) a0 += (nn_vf)((nn_vi)NN_LOAD(cols + at) & m);
                }
                nn_vf a = a0 + a1;
                nn_store_lanes(out + b * NN_VW, &a,
                               min_size(W - b * NN_VW, NN_VW));
            }
        }
}

static void add_run(float *restrict dst, const float *restrict src, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (size_t j = 0; j < 8; j++) dst[i + j] += src[i + j];
    for (; i < len; i++) dst[i] += src[i];
}

void nn_col2im(const nn_im2col_geom *g, const float *cols, size_t ld,
               float *dx)
{
    if (g->lanes) {
        col2im_s1(g, cols, ld, dx);
        return;
    }
    memset(dx, 0, g->C * g->H * g->W * sizeof *dx);
    for (size_t c = 0; c < g->C; c++) {
        float *dc = dx + c * g->H * g->W;
        for (size_t r = 0; r < g->R; r++) {
            size_t oh_lo, oh_hi;
            valid_range(g->OH, g->H, g->sh, g->ph, r, &oh_lo, &oh_hi);
            for (size_t s = 0; s < g->S; s++) {
                const float *row = cols + ((c * g->R + r) * g->S + s) * ld;
                size_t lo, hi;
                valid_range(g->OW, g->W, g->sw, g->pw, s, &lo, &hi);
                for (size_t oh = oh_lo; oh < oh_hi && lo < hi; oh++) {
                    const float *src = row + oh * g->OW;
                    float *dst = dc + (oh * g->sh + r - g->ph) * g->W +
                                 (lo * g->sw + s - g->pw);
                    if (g->sw == 1)
                        add_run(dst, src + lo, hi - lo);
                    else
                        for (size_t ow = lo; ow < hi; ow++)
                            dst[(ow - lo) * g->sw] += src[ow];
                }
            }
        }
    }
}

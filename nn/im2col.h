/* nn/im2col.h - the column transforms of a 2-d convolution: im2col lays
 * out every input window of one sample as a column, so that the
 * convolution becomes one matrix product, and col2im is its adjoint (the
 * input gradient from the columns' gradient).
 *
 * For an input x[C, H, W], kernel R x S, stride (sh, sw) and zero padding
 * (ph, pw) on each side:
 *     cols[(c*R + r)*S + s, oh*OW + ow] = x[c, oh*sh + r - ph, ow*sw + s - pw]
 * or 0 where that position is in the padding; cols is [K, P] with
 * K = C*R*S and P = OH*OW, stored with a row stride ld >= P (so that a
 * batch of samples can sit side by side, sample i at column i*P).
 */
#ifndef NN_IM2COL_H
#define NN_IM2COL_H

#include <stddef.h> /* size_t */

#include "nn/simd.h" /* NN_VW */

/* Floats that must be readable after the last column block passed to
 * nn_col2im: its stride-1 kernel loads whole vectors and masks off the
 * lanes past a row. */
#define NN_IM2COL_SLACK NN_VW

typedef struct nn_im2col_geom {
    size_t C, H, W;   /* input */
    size_t R, S;      /* kernel rows and columns */
    size_t sh, sw;    /* stride */
    size_t ph, pw;    /* zero padding on each side */
    size_t OH, OW, P; /* output rows and columns, P = OH*OW */
    size_t K;         /* C*R*S, the rows of cols */
    float *pad;       /* stride 1 with padding: a [Hp, Wp] plane whose
                       * zero border is never written */
    int *lanes;       /* stride 1 and P >= S: OW + 2*NN_VW ints, -1 at
                       * [NN_VW, NN_VW + OW), 0 elsewhere: the lane masks
                       * of col2im's vector kernel */
} nn_im2col_geom;

/* Fill OH, OW, P and K from the other sizes, with no scratch yet.
 * Requires R <= H + 2*ph, S <= W + 2*pw and strides >= 1. */
void nn_im2col_shape(nn_im2col_geom *g);

/* Allocate the scratch nn_im2col and nn_col2im use (aborts when out of
 * memory); nn_im2col_free releases it. */
void nn_im2col_alloc(nn_im2col_geom *g);
void nn_im2col_free(nn_im2col_geom *g);

/* cols[K, P] (row stride ld) = the windows of one sample x[C, H, W]. Uses
 * g->pad. */
void nn_im2col(const nn_im2col_geom *g, const float *x, float *cols,
               size_t ld);

/* dx[C, H, W] = the adjoint of nn_im2col applied to cols[K, P] (row
 * stride ld): every input position gets the sum of the cols entries that
 * read it. Overwrites dx. The NN_IM2COL_SLACK floats after the end of
 * row K-1 (at cols + (K-1)*ld + P) must be readable; they do not affect
 * the result. */
void nn_col2im(const nn_im2col_geom *g, const float *cols, size_t ld,
               float *dx);

#endif

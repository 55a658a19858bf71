/* nn/conv_direct.h - stride-1 convolution computed directly, without
 * im2col, for layers with few inputs per output (C*R*S small, e.g. the
 * first layer of an image model, where im2col's 25x expansion and a GEMM
 * with a 25-long inner dimension cost more than the arithmetic).
 *
 * The kernels work on one sample in padded layouts the caller fills:
 *   xp[C, Hp, Wq]   the input with its zero padding, rows of Wq floats;
 *                   columns past the padded width are zero
 *   w[Mp, K]        the weights, K = C*R*S, rows M..Mp-1 zero
 *   dyp[Mp, OH, Wb] output gradients, Wb = nb*VW, zero past OW and in
 *                   rows M..Mp-1
 * Outputs are computed VW columns at a time for MB filters at once, the
 * MB x VW accumulators held in vector registers; each input vector loaded
 * serves MB filters. The arithmetic (a multiply, then an add, in a fixed
 * order) is the same in every build, so results do not depend on the
 * instruction set the kernels were compiled for.
 */
#ifndef NN_CONV_DIRECT_H
#define NN_CONV_DIRECT_H

#include <stddef.h> /* size_t */

#include "nn/simd.h" /* NN_VW */

#define NN_CONV_VW NN_VW /* output columns per vector */
#define NN_CONV_MB 6 /* filters per register block */

typedef struct nn_conv_direct {
    size_t C, R, S; /* input channels, kernel rows and columns */
    size_t M, Mp;   /* filters; rounded up to a multiple of NN_CONV_MB */
    size_t OH, OW;  /* output rows and columns */
    size_t nb;      /* ceil(OW / NN_CONV_VW) column blocks, rounded up to
                     * even (forward computes two at a time) */
    size_t Hp, Wq;  /* padded input rows (H + 2*ph) and row length,
                     * Wq = nb*VW + S - 1 >= W + 2*pw */
} nn_conv_direct;

/* Geometry for an input [C, H, W] with zero padding (ph, pw), M filters of
 * R x S, stride 1. */
nn_conv_direct nn_conv_direct_geom(size_t C, size_t H, size_t W, size_t M,
                                   size_t R, size_t S, size_t ph, size_t pw);

/* 1 if the kernels have a vector build for this CPU (x86 with AVX); without
 * one they are correct but slower than im2col + GEMM. */
int nn_conv_direct_fast(void);

/* y[M, OH, OW] = b + w * xp (b[Mp], rows past M zero). */
void nn_conv_direct_forward(const nn_conv_direct *g, const float *xp,
                            const float *w, const float *b, float *y);

/* dw[M, K] += dyp (x) xp: the weight gradient of one sample. */
void nn_conv_direct_dweight(const nn_conv_direct *g, const float *xp,
                            const float *dyp, float *dw);

/* dxp[C, Hp, Wq] += the input gradient of one sample, padding included
 * (the caller keeps the interior). */
void nn_conv_direct_dinput(const nn_conv_direct *g, const float *dyp,
                           const float *w, float *dxp);

#endif

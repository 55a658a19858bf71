/* nn/simd.h - the vector vocabulary of the hand-written kernels
 * (nn/conv_direct.c, nn/im2col.c, nn/gelu.c, nn/attention.c): GCC vector
 * extensions of NN_VW lanes, which gcc and clang compile to one AVX
 * register or a pair of SSE ones, and the attribute that builds a kernel
 * for both (the loader picks one per CPU); a copy for short rows; a lane
 * select and exp for arguments <= 0. The same operations run in the same
 * order in every build, so results do not depend on the instruction set.
 */
#ifndef NN_SIMD_H
#define NN_SIMD_H

#include <stddef.h> /* size_t */
#include <string.h> /* memcpy */

#define NN_VW 8 /* lanes per vector */

#if defined(__GNUC__) && defined(__x86_64__)
/* Build the function for AVX and for the baseline. Mark only static
 * functions, called from the same file: clang 14 resolves a target_clones
 * function only for callers that see its definition. */
#define NN_KERNEL __attribute__((target_clones("avx", "default")))
#else
#define NN_KERNEL
#endif

typedef float nn_vf __attribute__((vector_size(NN_VW * sizeof(float))));
typedef int nn_vi __attribute__((vector_size(NN_VW * sizeof(int))));
/* The same, for loads and stores at any 4-byte-aligned address. */
typedef float nn_vfu
    __attribute__((vector_size(NN_VW * sizeof(float)), aligned(4), may_alias));
typedef int nn_viu
    __attribute__((vector_size(NN_VW * sizeof(int)), aligned(4), may_alias));

#define NN_LOAD(p) (*(const nn_vfu *)(p))
#define NN_STORE(p, v) (*(nn_vfu *)(p) = (v))
#define NN_LOADI(p) (*(const nn_viu *)(p))

/* dst[0, n) = the first n lanes of v, n <= NN_VW. (Vectors pass by address:
 * as values they would change the calling convention between builds.) */
static inline void nn_store_lanes(float *dst, const nn_vf *v, size_t n)
{
    if (n == NN_VW) {
        NN_STORE(dst, *v);
        return;
    }
    float t[NN_VW];
    memcpy(t, v, sizeof t);
    for (size_t j = 0; j < n; j++) dst[j] = t[j];
}

/* dst[0, len) = src[0, len), for short rows (tens of floats): blocks of 8
 * with restrict let the compiler emit vector moves at -O2, where a loop of
 * unknown length stays scalar. "+ 0.0f" (exact for every float but -0,
 * which becomes +0) keeps the compiler from turning the loop back into a
 * memmove call per row, which costs more than the copy. */
static inline void nn_copy_run(float *restrict dst, const float *restrict src,
                               size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (size_t j = 0; j < 8; j++) dst[i + j] = src[i + j] + 0.0f;
    for (; i < len; i++) dst[i] = src[i] + 0.0f;
}

/* Sum of v's lanes, in lane order. */
static inline float nn_lane_sum(const nn_vf *v)
{
    float t[NN_VW], s = 0.0f;
    memcpy(t, v, sizeof t);
    for (int j = 0; j < NN_VW; j++) s += t[j];
    return s;
}

typedef unsigned nn_vu __attribute__((vector_size(NN_VW * sizeof(unsigned))));

/* mask ? a : b, lane by lane (mask: a comparison, lanes all ones or 0). */
#define NN_SELECT(mask, a, b)                                                \
    (nn_vf)(((nn_vi)(a) & (mask)) | ((nn_vi)(b) & ~(mask)))

/* *out = exp(*x) lane by lane, for x <= 0 (softmax and sigmoid terms):
 * Cody-Waite reduction to |r| <= ln2/2, Cephes' degree-6 polynomial, 2^n
 * built in the exponent bits. Relative error below 1e-7 on [-87, 0]
 * (measured against double exp); x < -87 gives exp(-87), about 1.6e-38
 * (the bottom of the normal range) instead of a subnormal or 0; NaN gives
 * NaN. Each lane's result depends on that lane only. */
static inline void nn_exp_neg(const nn_vf *x, nn_vf *out)
{
    const nn_vf zero = {0}, lo = zero - 87.0f;
    nn_vf v = NN_SELECT(*x < lo, lo, *x);
    /* n = round(v / ln2): v <= 0, so truncating v log2(e) - 1/2 rounds. */
    nn_vi n = __builtin_convertvector(v * 1.44269504088896341f - 0.5f, nn_vi);
    nn_vf fn = __builtin_convertvector(n, nn_vf);
    nn_vf r = v - fn * 0.693359375f; /* ln2 in two parts: r is exact */
    r = r - fn * -2.12194440e-4f;
    nn_vf p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    nn_vu bits = (nn_vu)(n + 127) << 23; /* 2^n, n in [-126, 0] */
    *out = p * (nn_vf)bits;
}

#endif

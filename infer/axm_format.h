/* infer/axm_format.h - the constants of the .axm model file, shared by
 * its writer (export/axm.c) and its reader (infer/infer.c). The layout,
 * byte by byte, is in docs/DEPLOY.md; in short, all little-endian:
 *
 *   header   "AXM1", u32 version, u32 flags, u32 n_ops, u32 in_ndim,
 *            u32 in_dim[4]                                   (36 bytes)
 *   n_ops op records, each
 *            u32 kind, u32 n_in, u32 in[n_in],
 *            u32 n_attr, u32 attr[n_attr],
 *            u32 n_blob, then per blob: u32 type, u32 count, its count
 *            values (f32: 4 bytes each; i8: 1 byte each, zero-padded to a
 *            multiple of 4 bytes)
 *   trailer  u32 CRC-32 (IEEE, zlib's) of every byte before it
 *
 * Tensor ids: 0 is the model input, k >= 1 the output of op k - 1; an op
 * reads only earlier tensors, and the last op's output is the model's.
 */
#ifndef INFER_AXM_FORMAT_H
#define INFER_AXM_FORMAT_H

#define AXM_MAGIC "AXM1"
#define AXM_VERSION 1u
#define AXM_HEADER_BYTES 36u
#define AXM_FLAG_INT8 1u /* dense and conv weights are int8 */

/* Op kinds; attributes (u32) and blobs per kind, C = channels or features
 * of the input, W = floats per input row:
 *   SCALE        -                         f32 s[1]          y = x s
 *   STANDARDIZE  -                         f32 mean[W], f32 std[W]
 *                                                            y = (x - mean) / std
 *   DENSE        units, per_step, quant    float: f32 w[units*K], f32 b[units|0]
 *                                          quant: i8 w[units*K], f32 wscale[units],
 *                                                 f32 b[units|0], f32 xq[2]
 *   CONV         filters, kh, kw, sh, sw, ph, pw, quant   as DENSE, K = C*kh*kw
 *   MAXPOOL, AVGPOOL  kh, kw, sh, sw       -
 *   GAP          -                         -                 [C,H,W] -> [C]
 *   AFFINE       -                         f32 a[C], f32 b[C] y = a x + b per channel
 *   RELU, SIGMOID, TANH, SOFTMAX (last axis)   -
 *   LEAKY        -                         f32 slope[1]
 *   RESHAPE      ndim, dims[ndim]          -
 *   ADD, CONCAT  -  (2..8 inputs)          -
 * quant: xq = {scale, zero point} of the int8 input, wscale the weights'
 * per-output-channel scale: y = b + xscale wscale[o] sum (xq - zp) w. */
enum {
    AXM_SCALE = 1,
    AXM_STANDARDIZE,
    AXM_DENSE,
    AXM_CONV,
    AXM_MAXPOOL,
    AXM_AVGPOOL,
    AXM_GAP,
    AXM_AFFINE,
    AXM_RELU,
    AXM_LEAKY,
    AXM_SIGMOID,
    AXM_TANH,
    AXM_SOFTMAX,
    AXM_RESHAPE,
    AXM_ADD,
    AXM_CONCAT,
    AXM_KIND_END
};

enum { AXM_F32 = 1, AXM_I8 = 2 };

/* Limits the reader enforces (a file beyond them is refused). */
#define AXM_MAX_OPS 4096u
#define AXM_MAX_INPUTS 8u
#define AXM_MAX_ATTRS 16u
#define AXM_MAX_BLOBS 4u
#define AXM_MAX_DIM ((unsigned)1 << 24)
#define AXM_MAX_ROW ((size_t)1 << 22)   /* values per row of any tensor */
#define AXM_MAX_BLOB ((size_t)1 << 28)  /* values in one blob */
#define AXM_MAX_MEMORY ((size_t)1 << 30) /* bytes of buffers at load */

#endif

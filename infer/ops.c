/* infer/ops.c - each op of an .axm model: its check at load (attributes,
 * blobs and shapes, every size bounded and every product checked) and its
 * kernel, over raw rows, allocating nothing.
 *
 * Dense and convolution are dot products of contiguous runs: a dense row
 * y[o] = b[o] + W[o, :] . x; a convolution gathers each output position's
 * receptive field into scratch (im2col, cols[K][P] with K = C*kh*kw, P
 * output positions), then y[m, :] = b[m] + sum_k W[m, k] cols[k, :] as K
 * runs of y[m, :] += W[m, k] cols[k, :] over contiguous positions (the
 * compiler vectorises them: each element is its own sum). Dense dot
 * products run in 8 independent lanes, vectorised the same way without
 * reassociating anything it was not told to.
 * int8 (TFLite's post-training scheme): the input row is quantised with
 * the op's calibrated scale s and zero point z, q = clamp(round(x / s) + z,
 * -128, 127) (padding is z, the quantised 0); the weights are int8 with a
 * scale per output channel; sum (q - z) w is accumulated in int32 as
 * sum q w - z sum w, and y = b + s wscale[o] acc.
 */
#include <math.h>   /* expf, tanhf, lrintf, isfinite */
#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vsnprintf */
#include <stdlib.h> /* malloc */
#include <string.h> /* memcpy */

#include "infer/infer_impl.h"

size_t axi_shape_size(const axi_shape *s)
{
    size_t n = 1;
    for (size_t i = 0; i < s->ndim; i++) n *= s->dim[i];
    return n;
}

const axi_shape *axi_tensor_shape(const axi_model *m, size_t t)
{
    return t == 0 ? &m->in : &m->ops[t - 1].out;
}

/* ---- checks ---- */

typedef struct chk {
    axi_model *m;
    axi_op *op;
    char *msg;
    size_t cap;
} chk;

static int bad(const chk *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad(const chk *c, const char *fmt, ...)
{
    if (c->msg && c->cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, c->cap, fmt, ap);
        va_end(ap);
    }
    return AXI_ERR_FORMAT;
}

/* a * b, or 0 if it exceeds lim. */
static size_t mul_lim(size_t a, size_t b, size_t lim)
{
    if (a && b > lim / a) return 0;
    return a * b;
}

/* a * b, or 0 if it exceeds AXM_MAX_ROW (no row of values may). */
static size_t mul(size_t a, size_t b)
{
    return mul_lim(a, b, AXM_MAX_ROW);
}

static int counts(const chk *c, size_t n_in_lo, size_t n_in_hi, size_t attrs,
                  size_t blobs)
{
    const axi_op *op = c->op;
    if (op->n_in < n_in_lo || op->n_in > n_in_hi)
        return bad(c, "kind %u takes %zu to %zu inputs, has %zu", op->kind,
                   n_in_lo, n_in_hi, op->n_in);
    if (op->n_attr != attrs)
        return bad(c, "kind %u has %zu attributes, expected %zu", op->kind,
                   op->n_attr, attrs);
    if (op->n_blob != blobs)
        return bad(c, "kind %u has %zu blobs, expected %zu", op->kind,
                   op->n_blob, blobs);
    return 0;
}

/* blob k of type `type` holding `count` values (or, alt_zero, none). */
static int blob(const chk *c, size_t k, int type, size_t count, int alt_zero)
{
    const axi_blob *b = &c->op->blob[k];
    if (b->type != type || (b->count != count && !(alt_zero && b->count == 0)) ||
        count == 0)
        return bad(c, "blob %zu: %zu values of type %d, expected %zu of type "
                   "%d", k, b->count, b->type, count, type);
    return 0;
}

static const float *fblob(const axi_op *op, size_t k)
{
    return (const float *)op->blob[k].data;
}

static int is01(uint32_t v)
{
    return v <= 1;
}

/* dense and conv weights: float (w, b) or int8 (w, wscale, b, xq) for
 * `outs` outputs of K inputs each. */
static int check_weights(const chk *c, size_t outs, size_t K, int quant)
{
    axi_op *op = c->op;
    size_t wc = mul_lim(outs, K, AXM_MAX_BLOB);
    if (!wc) return bad(c, "%zu x %zu weights are too many", outs, K);
    int st;
    if (!quant) {
        if (op->n_blob != 2) return bad(c, "a float op has 2 blobs, not %zu", op->n_blob);
        if ((st = blob(c, 0, AXM_F32, wc, 0)) || (st = blob(c, 1, AXM_F32, outs, 1)))
            return st;
        return 0;
    }
    if (op->n_blob != 4) return bad(c, "an int8 op has 4 blobs, not %zu", op->n_blob);
    if ((st = blob(c, 0, AXM_I8, wc, 0)) || (st = blob(c, 1, AXM_F32, outs, 0)) ||
        (st = blob(c, 2, AXM_F32, outs, 1)) || (st = blob(c, 3, AXM_F32, 2, 0)))
        return st;
    const float *xq = fblob(op, 3);
    if (!(xq[0] > 0) || !isfinite(xq[0]) || !(xq[1] >= -128 && xq[1] <= 127) ||
        xq[1] != (float)(int)xq[1])
        return bad(c, "input quantisation scale %g, zero point %g", xq[0], xq[1]);
    op->wsum = malloc(outs * sizeof *op->wsum);
    if (!op->wsum) return bad(c, "out of memory");
    const signed char *w = op->blob[0].data;
    for (size_t o = 0; o < outs; o++) {
        int32_t s = 0;
        for (size_t k = 0; k < K; k++) s += w[o * K + k];
        op->wsum[o] = s;
    }
    op->qscratch = K;
    return 0;
}

static int check_dense(const chk *c, const axi_shape *s)
{
    axi_op *op = c->op;
    uint32_t units = op->attr[0], per_step = op->attr[1], quant = op->attr[2];
    if (units < 1 || units > AXM_MAX_DIM || !is01(per_step) || !is01(quant))
        return bad(c, "dense: units %u, per_step %u, quant %u", units,
                   per_step, quant);
    if (per_step && s->ndim < 2) return bad(c, "dense per step needs 2+ dims");
    size_t K = per_step ? s->dim[s->ndim - 1] : axi_shape_size(s);
    int st = check_weights(c, units, K, (int)quant);
    if (st) return st;
    op->out = per_step ? *s : (axi_shape){1, {units, 0, 0, 0}};
    op->out.dim[op->out.ndim - 1] = units;
    return 0;
}

static int check_conv(const chk *c, const axi_shape *s)
{
    axi_op *op = c->op;
    const uint32_t *a = op->attr;
    if (s->ndim != 3) return bad(c, "conv needs a [C, H, W] input");
    for (size_t k = 0; k < 7; k++)
        if (a[k] > AXM_MAX_DIM || (k < 5 && a[k] == 0))
            return bad(c, "conv: attribute %zu is %u", k, a[k]);
    if (!is01(a[7])) return bad(c, "conv: quant %u", a[7]);
    size_t C = s->dim[0], H = s->dim[1] + 2 * (size_t)a[5],
           W = s->dim[2] + 2 * (size_t)a[6];
    if (H < a[1] || W < a[2]) return bad(c, "conv: kernel larger than input");
    size_t OH = (H - a[1]) / a[3] + 1, OW = (W - a[2]) / a[4] + 1;
    size_t K = mul(mul(C, a[1]), a[2]), P = mul(OH, OW);
    if (!K || !P || !mul(P, K) || !mul(P, a[0]))
        return bad(c, "conv: sizes too large");
    int st = check_weights(c, a[0], K, (int)a[7]);
    if (st) return st;
    op->out = (axi_shape){3, {a[0], OH, OW, 0}};
    op->scratch = P * K; /* the columns */
    if (a[7]) {
        op->qscratch = P * K;
        op->scratch += P; /* and the int32 sums of one output channel */
    }
    return 0;
}

static int check_pool(const chk *c, const axi_shape *s)
{
    axi_op *op = c->op;
    const uint32_t *a = op->attr;
    if (s->ndim != 3) return bad(c, "pool needs a [C, H, W] input");
    if (a[0] < 1 || a[1] < 1 || a[2] < 1 || a[3] < 1 || a[0] > s->dim[1] ||
        a[1] > s->dim[2] || a[2] > AXM_MAX_DIM || a[3] > AXM_MAX_DIM)
        return bad(c, "pool: window %ux%u stride %ux%u on %zux%zu", a[0],
                   a[1], a[2], a[3], s->dim[1], s->dim[2]);
    op->out = (axi_shape){3, {s->dim[0], (s->dim[1] - a[0]) / a[2] + 1,
                              (s->dim[2] - a[1]) / a[3] + 1, 0}};
    return 0;
}

static int check_reshape(const chk *c, const axi_shape *s)
{
    axi_op *op = c->op;
    if (op->n_attr < 2 || op->attr[0] < 1 || op->attr[0] > 4 ||
        op->n_attr != 1 + (size_t)op->attr[0])
        return bad(c, "reshape: bad dims");
    axi_shape o = {op->attr[0], {0}};
    for (size_t i = 0; i < o.ndim; i++) {
        o.dim[i] = op->attr[1 + i];
        if (o.dim[i] < 1 || o.dim[i] > AXM_MAX_DIM) return bad(c, "reshape: bad dim");
    }
    if (!mul(mul(o.dim[0], o.ndim > 1 ? o.dim[1] : 1),
             mul(o.ndim > 2 ? o.dim[2] : 1, o.ndim > 3 ? o.dim[3] : 1)) ||
        axi_shape_size(&o) != axi_shape_size(s))
        return bad(c, "reshape: %zu values into another count", axi_shape_size(s));
    op->out = o;
    return 0;
}

static int check_join(const chk *c, const axi_shape *s)
{
    axi_op *op = c->op;
    axi_shape o = *s;
    size_t ax = s->ndim == 2 ? 1 : 0;
    for (size_t k = 1; k < op->n_in; k++) {
        const axi_shape *t = axi_tensor_shape(c->m, op->in[k]);
        int same = t->ndim == s->ndim;
        for (size_t d = 0; same && d < s->ndim; d++)
            same = t->dim[d] == s->dim[d] ||
                   (op->kind == AXM_CONCAT && d == ax);
        if (!same) return bad(c, "join: input %zu has another shape", k);
        if (op->kind == AXM_CONCAT) o.dim[ax] += t->dim[ax];
    }
    if (o.dim[ax] > AXM_MAX_DIM || axi_shape_size(&o) > AXM_MAX_ROW)
        return bad(c, "concat: too large");
    op->out = o;
    return 0;
}

static int check_kind(const chk *c, const axi_shape *s)
{
    axi_op *op = c->op;
    size_t w = axi_shape_size(s);
    int st;
    op->out = *s;
    switch (op->kind) {
    case AXM_SCALE:
        return counts(c, 1, 1, 0, 1) || blob(c, 0, AXM_F32, 1, 0) ? AXI_ERR_FORMAT : 0;
    case AXM_STANDARDIZE:
        if ((st = counts(c, 1, 1, 0, 2))) return st;
        return blob(c, 0, AXM_F32, w, 0) || blob(c, 1, AXM_F32, w, 0) ? AXI_ERR_FORMAT : 0;
    case AXM_DENSE:
        return counts(c, 1, 1, 3, op->n_blob) ? AXI_ERR_FORMAT : check_dense(c, s);
    case AXM_CONV:
        return counts(c, 1, 1, 8, op->n_blob) ? AXI_ERR_FORMAT : check_conv(c, s);
    case AXM_MAXPOOL:
    case AXM_AVGPOOL:
        return counts(c, 1, 1, 4, 0) ? AXI_ERR_FORMAT : check_pool(c, s);
    case AXM_GAP:
        if ((st = counts(c, 1, 1, 0, 0))) return st;
        if (s->ndim != 3) return bad(c, "global average pool needs [C, H, W]");
        op->out = (axi_shape){1, {s->dim[0], 0, 0, 0}};
        return 0;
    case AXM_AFFINE:
        if ((st = counts(c, 1, 1, 0, 2))) return st;
        if (s->ndim != 1 && s->ndim != 3) return bad(c, "affine needs [F] or [C, H, W]");
        return blob(c, 0, AXM_F32, s->dim[0], 0) || blob(c, 1, AXM_F32, s->dim[0], 0)
                   ? AXI_ERR_FORMAT : 0;
    case AXM_LEAKY:
        return counts(c, 1, 1, 0, 1) || blob(c, 0, AXM_F32, 1, 0) ? AXI_ERR_FORMAT : 0;
    case AXM_RESHAPE:
        return counts(c, 1, 1, op->n_attr, 0) ? AXI_ERR_FORMAT : check_reshape(c, s);
    case AXM_ADD:
    case AXM_CONCAT:
        return counts(c, 2, AXM_MAX_INPUTS, 0, 0) ? AXI_ERR_FORMAT : check_join(c, s);
    default: /* RELU, SIGMOID, TANH, SOFTMAX */
        return counts(c, 1, 1, 0, 0);
    }
}

int axi_op_check(axi_model *m, size_t i, char *msg, size_t cap)
{
    chk c = {m, &m->ops[i], msg, cap};
    const axi_shape *s = axi_tensor_shape(m, m->ops[i].in[0]);
    int st = check_kind(&c, s);
    if (st) return st;
    m->ops[i].out_size = axi_shape_size(&m->ops[i].out);
    if (m->ops[i].out_size > AXM_MAX_ROW) return bad(&c, "output too large");
    return 0;
}

/* ---- kernels ---- */

/* On x86-64 with gcc the hot loops are also compiled for AVX2 and the
 * loader of the program picks the variant the CPU has (an ifunc); the
 * arithmetic is the same in both (no fused multiply-add), so are the
 * results. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define AXI_HOT __attribute__((target_clones("avx2", "default")))
#else
#define AXI_HOT
#endif


AXI_HOT static float dot(const float *a, const float *b, size_t n)
{
    float l[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t j = 0; j < 8; j++) l[j] += a[i + j] * b[i + j];
    float s = 0.0f;
    for (; i < n; i++) s += a[i] * b[i];
    return s + ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* y[0, n) += a x[0, n): each element on its own, so it vectorises. */
static void axpy(float a, const float *restrict x, float *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* y[0, n) = sum_k w[k] cols[k, 0..n) for K rows of cols (row stride n),
 * four rows at a time so each pass over y does four products. */
AXI_HOT static void conv_rows(const float *w, const float *cols, size_t K,
                              float *restrict y, size_t n)
{
    for (size_t p = 0; p < n; p++) y[p] = 0.0f;
    size_t k = 0;
    for (; k + 4 <= K; k += 4) {
        const float *restrict c0 = cols + k * n, *restrict c1 = c0 + n;
        const float *restrict c2 = c1 + n, *restrict c3 = c2 + n;
        float w0 = w[k], w1 = w[k + 1], w2 = w[k + 2], w3 = w[k + 3];
        for (size_t p = 0; p < n; p++)
            y[p] += (w0 * c0[p] + w1 * c1[p]) + (w2 * c2[p] + w3 * c3[p]);
    }
    for (; k < K; k++) axpy(w[k], cols + k * n, y, n);
}

AXI_HOT static void axpy_i8(int a, const signed char *restrict x, int32_t *restrict y,
                    size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] += a * (int32_t)x[i];
}

static int32_t dot_i8(const signed char *a, const signed char *b, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

static signed char quantise(float x, float inv_scale, int zp)
{
    float v = x * inv_scale;
    long q = isfinite(v) ? lrintf(v > 1e6f ? 1e6f : v < -1e6f ? -1e6f : v) + zp : zp;
    return (signed char)(q < -128 ? -128 : q > 127 ? 127 : q);
}

/* outs outputs over `rows` rows of K values (x) or of K int8 values. */
static void affine_rows(const axi_op *op, const float *x, float *y,
                        size_t rows, size_t K, size_t outs,
                        signed char *q)
{
    const float *b = op->blob[op->n_blob == 2 ? 1 : 2].count
                         ? fblob(op, op->n_blob == 2 ? 1 : 2) : NULL;
    if (op->n_blob == 2) {
        const float *w = fblob(op, 0);
        for (size_t r = 0; r < rows; r++)
            for (size_t o = 0; o < outs; o++)
                y[r * outs + o] = (b ? b[o] : 0.0f) + dot(w + o * K, x + r * K, K);
        return;
    }
    const signed char *w = op->blob[0].data;
    const float *ws = fblob(op, 1), *xq = fblob(op, 3);
    float inv = 1.0f / xq[0];
    int zp = (int)xq[1];
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < K; k++) q[k] = quantise(x[r * K + k], inv, zp);
        for (size_t o = 0; o < outs; o++) {
            int32_t acc = dot_i8(w + o * K, q, K) - zp * op->wsum[o];
            y[r * outs + o] = (b ? b[o] : 0.0f) + xq[0] * ws[o] * (float)acc;
        }
    }
}

static void run_dense(axi_model *m, const axi_op *op, const float *x,
                      float *y, size_t n)
{
    const axi_shape *s = axi_tensor_shape(m, op->in[0]);
    size_t K = op->attr[1] ? s->dim[s->ndim - 1] : axi_shape_size(s);
    size_t rows = n * (axi_shape_size(s) / K);
    affine_rows(op, x, y, rows, K, op->attr[0], m->qscratch);
}

/* One sample's receptive fields into cols[K][P] (K = C*kh*kw rows, one
 * per kernel tap, P = OH*OW output positions; outside the input: 0). */
static void im2col(const axi_op *op, const axi_shape *s, const float *x,
                   float *cols)
{
    const uint32_t *a = op->attr;
    size_t C = s->dim[0], H = s->dim[1], W = s->dim[2];
    size_t OH = op->out.dim[1], OW = op->out.dim[2], P = OH * OW, k = 0;
    for (size_t c = 0; c < C; c++)
        for (size_t r = 0; r < a[1]; r++)
            for (size_t t = 0; t < a[2]; t++, k++)
                for (size_t oh = 0; oh < OH; oh++) {
                    float *dst = cols + k * P + oh * OW;
                    long h = (long)(oh * a[3] + r) - (long)a[5];
                    if (h < 0 || h >= (long)H) {
                        for (size_t ow = 0; ow < OW; ow++) dst[ow] = 0.0f;
                        continue;
                    }
                    const float *src = x + (c * H + (size_t)h) * W;
                    for (size_t ow = 0; ow < OW; ow++) {
                        long w = (long)(ow * a[4] + t) - (long)a[6];
                        dst[ow] = w >= 0 && w < (long)W ? src[w] : 0.0f;
                    }
                }
}

static void run_conv(axi_model *m, const axi_op *op, const float *x, float *y,
                     size_t n)
{
    const axi_shape *s = axi_tensor_shape(m, op->in[0]);
    size_t M = op->attr[0], P = op->out.dim[1] * op->out.dim[2];
    size_t K = s->dim[0] * op->attr[1] * op->attr[2], in = axi_shape_size(s);
    int quant = op->attr[7] != 0;
    const float *b = op->blob[quant ? 2 : 1].count ? fblob(op, quant ? 2 : 1) : NULL;
    for (size_t i = 0; i < n; i++) {
        float *yi = y + i * M * P;
        if (!quant) {
            const float *w = fblob(op, 0), *cols = m->scratch;
            im2col(op, s, x + i * in, m->scratch);
            for (size_t o = 0; o < M; o++) {
                float *yo = yi + o * P, bo = b ? b[o] : 0.0f;
                conv_rows(w + o * K, cols, K, yo, P);
                for (size_t p = 0; p < P; p++) yo[p] += bo;
            }
            continue;
        }
        const float *ws = fblob(op, 1), *xq = fblob(op, 3);
        const signed char *w = op->blob[0].data;
        int zp = (int)xq[1];
        int32_t *acc = (int32_t *)(void *)(m->scratch + P * K); /* [P] */
        float inv = 1.0f / xq[0];
        im2col(op, s, x + i * in, m->scratch);
        for (size_t j = 0; j < P * K; j++)
            m->qscratch[j] = quantise(m->scratch[j], inv, zp); /* 0 -> zp */
        for (size_t o = 0; o < M; o++) {
            for (size_t p = 0; p < P; p++) acc[p] = -zp * op->wsum[o];
            for (size_t k = 0; k < K; k++)
                axpy_i8(w[o * K + k], m->qscratch + k * P, acc, P);
            float sc = xq[0] * ws[o], bo = b ? b[o] : 0.0f;
            for (size_t p = 0; p < P; p++) yi[o * P + p] = bo + sc * (float)acc[p];
        }
    }
}

static void run_pool(axi_model *m, const axi_op *op, const float *x, float *y,
                     size_t n)
{
    const axi_shape *s = axi_tensor_shape(m, op->in[0]);
    const uint32_t *a = op->attr;
    size_t C = s->dim[0], H = s->dim[1], W = s->dim[2];
    size_t OH = op->out.dim[1], OW = op->out.dim[2];
    int max = op->kind == AXM_MAXPOOL;
    for (size_t i = 0; i < n * C; i++) {
        const float *xc = x + i * H * W;
        for (size_t oh = 0; oh < OH; oh++)
            for (size_t ow = 0; ow < OW; ow++) {
                const float *win = xc + oh * a[2] * W + ow * a[3];
                float acc = max ? win[0] : 0.0f;
                int nan = 0; /* a NaN in a max window gives NaN, as in axon */
                for (size_t r = 0; r < a[0]; r++)
                    for (size_t t = 0; t < a[1]; t++) {
                        float v = win[r * W + t];
                        nan |= v != v;
                        acc = max ? (v > acc ? v : acc) : acc + v;
                    }
                y[(i * OH + oh) * OW + ow] =
                    !max ? acc / (float)(a[0] * a[1]) : nan ? NAN : acc;
            }
    }
}

static void run_softmax(const axi_op *op, const float *x, float *y, size_t n)
{
    size_t last = op->out.dim[op->out.ndim - 1];
    size_t groups = n * op->out_size / last;
    for (size_t g = 0; g < groups; g++) {
        const float *xg = x + g * last;
        float *yg = y + g * last, mx = xg[0], sum = 0.0f;
        for (size_t j = 1; j < last; j++) mx = xg[j] > mx ? xg[j] : mx;
        for (size_t j = 0; j < last; j++) sum += yg[j] = expf(xg[j] - mx);
        for (size_t j = 0; j < last; j++) yg[j] /= sum;
    }
}

static void run_concat(axi_model *m, const axi_op *op, float *y, size_t n)
{
    size_t ax = op->out.ndim == 2 ? 1 : 0;
    size_t outer = ax ? op->out.dim[0] : 1, o = 0;
    for (size_t i = 0; i < n * outer; i++)
        for (size_t k = 0; k < op->n_in; k++) {
            size_t block = axi_shape_size(axi_tensor_shape(m, op->in[k])) / outer;
            memcpy(y + o, m->ptr[op->in[k]] + i * block, block * sizeof *y);
            o += block;
        }
}

/* Element-wise and per-channel ops over `total` values. */
static void run_simple(axi_model *m, const axi_op *op, const float *x,
                       float *y, size_t n)
{
    size_t total = n * op->out_size;
    const axi_shape *s = axi_tensor_shape(m, op->in[0]);
    switch (op->kind) {
    case AXM_SCALE: {
        float k = fblob(op, 0)[0];
        for (size_t i = 0; i < total; i++) y[i] = x[i] * k;
        break;
    }
    case AXM_STANDARDIZE: {
        const float *mu = fblob(op, 0), *sd = fblob(op, 1);
        for (size_t i = 0; i < total; i++)
            y[i] = (x[i] - mu[i % op->out_size]) / sd[i % op->out_size];
        break;
    }
    case AXM_AFFINE: {
        const float *a = fblob(op, 0), *b = fblob(op, 1);
        size_t C = s->dim[0], inner = op->out_size / C;
        for (size_t i = 0; i < total; i++) {
            size_t c = i / inner % C;
            y[i] = a[c] * x[i] + b[c];
        }
        break;
    }
    case AXM_GAP: {
        size_t hw = s->dim[1] * s->dim[2];
        float inv = 1.0f / (float)hw; /* as nn/global_avgpool.c */
        for (size_t i = 0; i < total; i++) {
            float acc = 0.0f;
            for (size_t q = 0; q < hw; q++) acc += x[i * hw + q];
            y[i] = acc * inv;
        }
        break;
    }
    case AXM_RELU:
        for (size_t i = 0; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case AXM_LEAKY: {
        float k = fblob(op, 0)[0];
        for (size_t i = 0; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : k * x[i];
        break;
    }
    case AXM_SIGMOID:
        for (size_t i = 0; i < total; i++) {
            float e = expf(-fabsf(x[i]));
            y[i] = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        }
        break;
    case AXM_TANH:
        for (size_t i = 0; i < total; i++) y[i] = tanhf(x[i]);
        break;
    case AXM_ADD:
        memcpy(y, x, total * sizeof *y);
        for (size_t k = 1; k < op->n_in; k++)
            for (size_t i = 0; i < total; i++) y[i] += m->ptr[op->in[k]][i];
        break;
    default:
        break;
    }
}

void axi_op_run(axi_model *m, size_t i, size_t n)
{
    axi_op *op = &m->ops[i];
    const float *x = m->ptr[op->in[0]];
    switch (op->kind) {
    case AXM_DENSE: run_dense(m, op, x, op->buf, n); break;
    case AXM_CONV: run_conv(m, op, x, op->buf, n); break;
    case AXM_MAXPOOL:
    case AXM_AVGPOOL: run_pool(m, op, x, op->buf, n); break;
    case AXM_SOFTMAX: run_softmax(op, x, op->buf, n); break;
    case AXM_CONCAT: run_concat(m, op, op->buf, n); break;
    default: run_simple(m, op, x, op->buf, n); break;
    }
}

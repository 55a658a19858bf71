/* nn/conv2d.c - 2-d convolution (cross-correlation, as in PyTorch) by
 * im2col + SGEMM.
 *
 * Shapes: x[n, C, H, W], weight Wt[M, K] with K = C*R*S, bias b[M],
 * y[n, M, OH, OW], where
 *     y[i,m,oh,ow] = b[m] + sum_{c,r,s} Wt[m, (c*R + r)*S + s]
 *                              * x[i, c, oh*sh - ph + r, ow*sw - pw + s]
 * and input positions outside [0,H) x [0,W) read as zero (the padding).
 *     OH = (H + 2*ph - R)/sh + 1,  OW = (W + 2*pw - S)/sw + 1,  P = OH*OW.
 *
 * Batching: rows are processed in chunks of g samples (g fixed at create so
 * that a chunk's scratch stays near CONV_WS_BUDGET floats). For a chunk,
 * im2col writes cols[K, g*P] (sample s owns columns [s*P, (s+1)*P)), one
 * SGEMM gives Yt[M, g*P] = Wt * cols, and Yt is scattered back to
 * y[i, m, :] with the bias added. Folding the chunk into the GEMM's wide
 * dimension turns g small products into one large, well-blocked one.
 * Backward, per chunk, gathers dYt[M, g*P] from dy and computes
 *     dWt += dYt * cols^T        (SGEMM, beta = 1: accumulates)
 *     db  += row sums of dYt
 *     dcols = Wt^T * dYt         (SGEMM), col2im -> dx
 * A chunk of one sample skips the scatter and the gather: the GEMMs read
 * and write the rows of y and dy in place.
 *
 * Memory: the model's shared scratch l->ws holds one chunk's cols (or
 * dcols) then its Yt/dYt: ws_fixed = g*(K + M)*P floats. Backward needs
 * the forward's cols again; when a whole batch of them is small
 * (rows*K*P <= CONV_CACHE_MAX floats, decided in reserve) they are kept in
 * a per-layer cache, chunk after chunk, and backward skips the second
 * im2col; otherwise backward recomputes them into the scratch.
 *
 * Stride 1 (the common case) has its own im2col/col2im: with padding, each
 * input plane is first copied into a zero-bordered plane (p->pad), so every
 * cols row is OH plain copies of OW inputs with no edge logic.
 *
 * Layers with few inputs per output (K small, stride 1) skip im2col and
 * GEMM altogether: nn/conv_direct.c computes them sample by sample from
 * padded copies of the input and output gradient (key "algorithm": auto
 * chooses, "im2col" or "direct" forces one).
 */
#include <cblas.h>  /* cblas_sgemm */
#include <limits.h> /* INT_MAX */
#include <stdlib.h> /* free */
#include <string.h> /* memset, memcpy */

#include "nn/check.h"
#include "nn/conv_direct.h"
#include "nn/init.h"
#include "nn/layer.h"

/* Target size of one chunk's scratch, in floats (1 MiB: within a core's
 * L2). Throughput on LeNet layers is flat from 128 KiB to 4 MiB. */
#define CONV_WS_BUDGET ((size_t)1 << 18)
/* Largest column cache per layer, in floats (1 MiB, a core's L2). With
 * the stride-1 im2col, recomputing the columns is cheap, and a cache that
 * spills to L3 costs more than it saves once two ranks share it: LeNet's
 * conv 2 at 64 rows (a 3.8 MB cache) took 2.80-3.07 ms per 2-rank step
 * recomputing, 3.38-3.48 ms cached, the same either way at 1 rank. */
#define CONV_CACHE_MAX ((size_t)1 << 18)
/* Largest C*R*S for which "algorithm: auto" takes the direct kernels of
 * nn/conv_direct.c (stride 1, on a CPU they have a vector build for).
 * Measured on LeNet-5 at batch 64: the first layer (K = 25) runs 2.5x
 * faster direct than by im2col + GEMM; the second (K = 150) the same
 * either way. */
#define CONV_DIRECT_MAX_K 32
/* Upper bound on samples per chunk. */
#define CONV_MAX_CHUNK 64
/* Largest accepted filter count, kernel, stride and padding. */
#define CONV_MAX_DIM ((size_t)1 << 16)

typedef struct conv_priv {
    size_t C, H, W;    /* input */
    size_t M, R, S;    /* filters, kernel rows, kernel columns */
    size_t sh, sw;     /* stride */
    size_t ph, pw;     /* zero padding on each side */
    size_t OH, OW, P;  /* output spatial size, P = OH*OW */
    size_t K;          /* C*R*S: one column of cols */
    size_t chunk;      /* samples per GEMM */
    int has_bias;
    nn_init_kind init;
    int direct;        /* computed by nn/conv_direct.c, not im2col */
    nn_conv_direct dg; /* its geometry */
    float *xp, *dxp;   /* direct: one sample's padded input and gradient */
    float *dyp;        /* direct: one sample's padded output gradient */
    float *wp, *bp;    /* direct: weights [Mp, K] and bias [Mp], padded */
    float *pad;        /* stride 1 with padding: [Hp, Wp] plane, zero border */
    float *dpad;       /* and its gradient, [Hp, Wp] (same allocation) */
    float *cache;      /* [cache_rows * K * P] cols of the last forward */
    size_t cache_rows; /* rows the cache can hold, 0 = no cache */
    size_t cached;     /* rows whose cols the last forward left in it */
} conv_priv;

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t ceil_div(size_t a, size_t b)
{
    return (a + b - 1) / b;
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

/* dst[0, len) = src[0, len) and dst[0, len) += src[0, len). Rows are
 * short (tens of floats): blocks of 8 with restrict let the compiler emit
 * vector moves at -O2, where a loop of unknown length stays scalar. In the
 * copy, "+ 0.0f" (exact for every float but -0, which becomes +0) keeps the
 * compiler from turning the loop back into a memmove call per row, which
 * costs more than the copy. */
static inline void copy_run(float *restrict dst, const float *restrict src,
                     size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (size_t j = 0; j < 8; j++) dst[i + j] = src[i + j] + 0.0f;
    for (; i < len; i++) dst[i] = src[i] + 0.0f;
}

static inline void add_run(float *restrict dst, const float *restrict src,
                    size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (size_t j = 0; j < 8; j++) dst[i + j] += src[i + j];
    for (; i < len; i++) dst[i] += src[i];
}

/* Sum of v[0, len) in 8 interleaved float lanes (vectorisable, fixed
 * order), combined in double. */
static double sum_run(const float *v, size_t len)
{
    float lane[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (size_t j = 0; j < 8; j++) lane[j] += v[i + j];
    double s = 0.0;
    for (; i < len; i++) s += v[i];
    for (size_t j = 0; j < 8; j++) s += lane[j];
    return s;
}

/* out[0, OW) = in[(ow - lo)*sw] for ow in [lo, hi), zero elsewhere. */
static void fill_row(float *out, const float *in, size_t OW, size_t lo,
                     size_t hi, size_t sw)
{
    for (size_t ow = 0; ow < lo; ow++) out[ow] = 0.0f;
    if (sw == 1)
        copy_run(out + lo, in, hi - lo);
    else
        for (size_t ow = lo; ow < hi; ow++) out[ow] = in[(ow - lo) * sw];
    for (size_t ow = hi; ow < OW; ow++) out[ow] = 0.0f;
}

/* Stride 1: the rows of plane c of x[C, H, W] as a plane with its zero
 * padding, so that window (oh, r) starts at row oh + r, column s: the
 * input itself (pitch W) when there is no padding, else p->pad (pitch Wp)
 * with the channel copied into its interior. */
static const float *padded_plane(const conv_priv *p, const float *x,
                                 size_t c, size_t *pitch)
{
    const float *plane = x + c * p->H * p->W;
    *pitch = p->W;
    if (!p->pad) return plane;
    *pitch = p->W + 2 * p->pw;
    for (size_t h = 0; h < p->H; h++)
        copy_run(p->pad + (h + p->ph) * *pitch + p->pw, plane + h * p->W,
                 p->W);
    return p->pad;
}

/* im2col for stride 1: every cols row (c, r, s) is OH runs of OW inputs,
 * run oh starting at padded row oh + r, column s. No edge logic per run:
 * measured 2.5x faster than the general walk on LeNet's layers, whose
 * short rows (10 and 28) made per-run bookkeeping the main cost. */
static void im2col_s1(const conv_priv *p, const float *x, float *cols,
                      size_t ld)
{
    for (size_t c = 0; c < p->C; c++) {
        size_t pitch;
        const float *plane = padded_plane(p, x, c, &pitch);
        for (size_t r = 0; r < p->R; r++)
            for (size_t s = 0; s < p->S; s++) {
                float *row = cols + ((c * p->R + r) * p->S + s) * ld;
                const float *src = plane + r * pitch + s;
                for (size_t oh = 0; oh < p->OH; oh++)
                    copy_run(row + oh * p->OW, src + oh * pitch, p->OW);
            }
    }
}

/* One sample x[C, H, W] into cols[K, P] (row stride ld):
 * cols[(c*R + r)*S + s, oh*OW + ow] = x[c, oh*sh + r - ph, ow*sw + s - pw]
 * or 0 in the padding. */
static void im2col(const conv_priv *p, const float *x, float *cols, size_t ld)
{
    if (p->sh == 1 && p->sw == 1) {
        im2col_s1(p, x, cols, ld);
        return;
    }
    for (size_t c = 0; c < p->C; c++) {
        const float *xc = x + c * p->H * p->W;
        for (size_t r = 0; r < p->R; r++) {
            size_t oh_lo, oh_hi;
            valid_range(p->OH, p->H, p->sh, p->ph, r, &oh_lo, &oh_hi);
            for (size_t s = 0; s < p->S; s++) {
                float *row = cols + ((c * p->R + r) * p->S + s) * ld;
                size_t lo, hi;
                valid_range(p->OW, p->W, p->sw, p->pw, s, &lo, &hi);
                /* rows [oh_lo, h1) hold data; no valid column: none */
                size_t h1 = lo < hi ? oh_hi : oh_lo;
                for (size_t q = 0; q < oh_lo * p->OW; q++) row[q] = 0.0f;
                for (size_t oh = oh_lo; oh < h1; oh++)
                    /* iw = ow*sw + s - pw >= 0 for ow >= lo */
                    fill_row(row + oh * p->OW,
                             xc + (oh * p->sh + r - p->ph) * p->W +
                                 (lo * p->sw + s - p->pw),
                             p->OW, lo, hi, p->sw);
                for (size_t q = h1 * p->OW; q < p->P; q++) row[q] = 0.0f;
            }
        }
    }
}

/* col2im for stride 1, the adjoint of im2col_s1: runs are added into the
 * plane (into p->dpad, whose interior then goes to dx, with padding). */
static void col2im_s1(const conv_priv *p, const float *cols, size_t ld,
                      float *dx)
{
    size_t pitch = p->dpad ? p->W + 2 * p->pw : p->W;
    for (size_t c = 0; c < p->C; c++) {
        float *dc = dx + c * p->H * p->W, *plane = dc;
        if (p->dpad) {
            plane = p->dpad;
            memset(plane, 0, (p->H + 2 * p->ph) * pitch * sizeof *plane);
        }
        for (size_t r = 0; r < p->R; r++)
            for (size_t s = 0; s < p->S; s++) {
                const float *row = cols + ((c * p->R + r) * p->S + s) * ld;
                float *dst = plane + r * pitch + s;
                for (size_t oh = 0; oh < p->OH; oh++)
                    add_run(dst + oh * pitch, row + oh * p->OW, p->OW);
            }
        if (p->dpad)
            for (size_t h = 0; h < p->H; h++)
                add_run(dc + h * p->W, plane + (h + p->ph) * pitch + p->pw,
                        p->W);
    }
}

/* The adjoint of im2col: dx[c, ih, iw] += every cols entry that read it.
 * Padding entries are dropped. dx[C, H, W] must be initialised. */
static void col2im(const conv_priv *p, const float *cols, size_t ld,
                   float *dx)
{
    if (p->sh == 1 && p->sw == 1) {
        col2im_s1(p, cols, ld, dx);
        return;
    }
    for (size_t c = 0; c < p->C; c++) {
        float *dc = dx + c * p->H * p->W;
        for (size_t r = 0; r < p->R; r++) {
            size_t oh_lo, oh_hi;
            valid_range(p->OH, p->H, p->sh, p->ph, r, &oh_lo, &oh_hi);
            for (size_t s = 0; s < p->S; s++) {
                const float *row = cols + ((c * p->R + r) * p->S + s) * ld;
                size_t lo, hi;
                valid_range(p->OW, p->W, p->sw, p->pw, s, &lo, &hi);
                for (size_t oh = oh_lo; oh < oh_hi && lo < hi; oh++) {
                    const float *src = row + oh * p->OW;
                    float *dst = dc + (oh * p->sh + r - p->ph) * p->W +
                                 (lo * p->sw + s - p->pw);
                    if (p->sw == 1)
                        add_run(dst, src + lo, hi - lo);
                    else
                        for (size_t ow = lo; ow < hi; ow++)
                            dst[(ow - lo) * p->sw] += src[ow];
                }
            }
        }
    }
}

static const char *const conv_algo_names[] = {"auto", "im2col", "direct",
                                              NULL};
enum { ALGO_AUTO, ALGO_IM2COL, ALGO_DIRECT };

/* Read the keys; fill the geometry of p and *algo. */
static int conv_read_keys(nn_spec *spec, conv_priv *p, int *algo,
                          nn_error *err)
{
    size_t k[2], st[2], pd[2];
    int rc, bias, init;
    if ((rc = nn_spec_size(spec, "filters", 1, 0, 1, CONV_MAX_DIM, &p->M,
                           err)) != 0 ||
        (rc = nn_spec_sizes(spec, "kernel", 1, 0, 1, CONV_MAX_DIM, 2, k,
                            err)) != 0 ||
        (rc = nn_spec_sizes(spec, "stride", 0, 1, 1, CONV_MAX_DIM, 2, st,
                            err)) != 0 ||
        (rc = nn_spec_sizes(spec, "padding", 0, 0, 0, CONV_MAX_DIM, 2, pd,
                            err)) != 0 ||
        (rc = nn_spec_bool(spec, "bias", 0, 1, &bias, err)) != 0 ||
        (rc = nn_spec_enum(spec, "init", nn_init_names, NN_INIT_HE, &init,
                           err)) != 0 ||
        (rc = nn_spec_enum(spec, "algorithm", conv_algo_names, ALGO_AUTO,
                           algo, err)) != 0)
        return rc;
    p->R = k[0], p->S = k[1];
    p->sh = st[0], p->sw = st[1];
    p->ph = pd[0], p->pw = pd[1];
    p->has_bias = bias;
    p->init = (nn_init_kind)init;
    return 0;
}

/* Validate the input shape against the kernel; fill the output geometry. */
static int conv_check_shape(nn_layer *l, nn_spec *spec, conv_priv *p,
                            nn_error *err)
{
    char in[64];
    nn_shape_str(l->in, in, sizeof in);
    if (l->in.ndim != 3 || nn_shape_size(l->in) == 0)
        return nn_spec_error(spec, NULL, err,
                             "needs a non-empty 3-d input [C, H, W], got %s",
                             in);
    p->C = l->in.dim[0], p->H = l->in.dim[1], p->W = l->in.dim[2];
    if (p->R > p->H + 2 * p->ph || p->S > p->W + 2 * p->pw)
        return nn_spec_error(
            spec, "kernel", err,
            "kernel [%zu, %zu] is larger than the input %s padded by "
            "[%zu, %zu] (padded [%zu, %zu])",
            p->R, p->S, in, p->ph, p->pw, p->H + 2 * p->ph, p->W + 2 * p->pw);
    p->OH = (p->H + 2 * p->ph - p->R) / p->sh + 1;
    p->OW = (p->W + 2 * p->pw - p->S) / p->sw + 1;
    p->P = p->OH * p->OW;
    p->K = p->C * p->R * p->S;
    return 0;
}

/* The direct path's scratch, zeroed: borders, padding lanes and padding
 * filters stay zero, since only interiors are ever written. */
static void direct_alloc(conv_priv *p)
{
    const nn_conv_direct *g = &p->dg;
    size_t xs = g->C * g->Hp * g->Wq, ds = g->Mp * g->OH * g->nb * NN_CONV_VW;
    p->xp = nn_xcalloc(2 * xs + ds + g->Mp * p->K + g->Mp, sizeof(float));
    p->dxp = p->xp + xs;
    p->dyp = p->dxp + xs;
    p->wp = p->dyp + ds;
    p->bp = p->wp + g->Mp * p->K;
}

static int conv_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    conv_priv g;
    memset(&g, 0, sizeof g);
    int rc, algo;
    if ((rc = conv_read_keys(spec, &g, &algo, err)) != 0) return rc;
    if ((rc = conv_check_shape(l, spec, &g, err)) != 0) return rc;
    int stride1 = g.sh == 1 && g.sw == 1;
    if (algo == ALGO_DIRECT && !stride1)
        return nn_spec_error(spec, "algorithm", err,
                             "direct needs stride 1, got [%zu, %zu]", g.sh,
                             g.sw);
    g.direct = algo == ALGO_DIRECT ||
               (algo == ALGO_AUTO && stride1 && g.K <= CONV_DIRECT_MAX_K &&
                nn_conv_direct_fast());
    size_t per_sample = (g.K + g.M) * g.P;
    g.chunk = CONV_WS_BUDGET / per_sample;
    if (g.chunk < 1) g.chunk = 1;
    if (g.chunk > CONV_MAX_CHUNK) g.chunk = CONV_MAX_CHUNK;
    /* BLAS takes int dimensions. */
    if (g.K > INT_MAX || g.M > INT_MAX || g.P > INT_MAX / g.chunk)
        return nn_spec_error(spec, NULL, err,
                             "too large for BLAS: K = %zu, P = %zu", g.K, g.P);

    l->out = nn_shape_3d(g.M, g.OH, g.OW);
    nn_layer_add_param(l, "weight", g.M * g.K, NN_PARAM_DECAY);
    if (g.has_bias) nn_layer_add_param(l, "bias", g.M, 0);
    l->ws_per_row = 0;
    l->ws_fixed = g.direct ? 0 : g.chunk * per_sample;
    if (g.direct) {
        g.dg = nn_conv_direct_geom(g.C, g.H, g.W, g.M, g.R, g.S, g.ph, g.pw);
        direct_alloc(&g);
    } else if (stride1 && (g.ph || g.pw)) { /* border stays zero */
        size_t plane = (g.H + 2 * g.ph) * (g.W + 2 * g.pw);
        g.pad = nn_xcalloc(2 * plane, sizeof *g.pad);
        g.dpad = g.pad + plane;
    }
    conv_priv *p = nn_xmalloc(sizeof *p);
    *p = g; /* no cache until reserve */
    l->priv = p;
    return 0;
}

static void conv_init(nn_layer *l, nn_rng *rng)
{
    const conv_priv *p = l->priv;
    nn_init_fill(nn_layer_tensor(l, 0), p->M * p->K, p->K,
                 p->M * p->R * p->S, p->init, rng);
    if (p->has_bias) memset(nn_layer_tensor(l, 1), 0, p->M * sizeof(float));
}

/* y rows [i0, i0+gn) from Yt[M, ld] (ld = gn*P), adding the bias. */
static void conv_scatter(const conv_priv *p, const float *yt, size_t ld,
                         const float *bias, float *y, size_t gn)
{
    for (size_t s = 0; s < gn; s++)
        for (size_t m = 0; m < p->M; m++) {
            const float *src = yt + m * ld + s * p->P;
            float *dst = y + (s * p->M + m) * p->P;
            float b = bias ? bias[m] : 0.0f;
            for (size_t q = 0; q < p->P; q++) dst[q] = src[q] + b;
        }
}

/* Keep the forward's cols for backward when a batch of them fits the cap
 * (per-row state: sized here, outside the training step). */
static void conv_reserve(nn_layer *l, size_t rows)
{
    conv_priv *p = l->priv;
    size_t per_row = p->K * p->P;
    if (p->direct || rows <= p->cache_rows) return;
    free(p->cache);
    p->cache = NULL;
    p->cache_rows = p->cached = 0;
    if (per_row > CONV_CACHE_MAX / rows) return; /* recompute instead */
    p->cache = nn_xalloc_floats(rows * per_row);
    p->cache_rows = rows;
}

/* ---- the direct path (nn/conv_direct.c), one sample at a time --------- */

/* Sample x[C, H, W] into the interior of p->xp. */
static void direct_input(const conv_priv *p, const float *x)
{
    const nn_conv_direct *g = &p->dg;
    for (size_t c = 0; c < p->C; c++)
        for (size_t h = 0; h < p->H; h++)
            copy_run(p->xp + (c * g->Hp + h + p->ph) * g->Wq + p->pw,
                     x + (c * p->H + h) * p->W, p->W);
}

/* The layer's weights and bias into p->wp, p->bp (padding rows stay 0). */
static void direct_weights(nn_layer *l)
{
    conv_priv *p = l->priv;
    memcpy(p->wp, nn_layer_tensor(l, 0), p->M * p->K * sizeof(float));
    if (p->has_bias)
        memcpy(p->bp, nn_layer_tensor(l, 1), p->M * sizeof(float));
}

static void direct_forward(nn_layer *l, const float *x, float *y, size_t n)
{
    conv_priv *p = l->priv;
    size_t in_size = p->C * p->H * p->W, out_size = p->M * p->P;
    direct_weights(l);
    for (size_t i = 0; i < n; i++) {
        direct_input(p, x + i * in_size);
        nn_conv_direct_forward(&p->dg, p->xp, p->wp, p->bp, y + i * out_size);
    }
}

/* Gradients of one sample: dW += dy (x) x, db += row sums of dy, and (if
 * dx) dx = the input gradient. */
static void direct_backward_one(nn_layer *l, const float *x, const float *dy,
                                float *dx)
{
    conv_priv *p = l->priv;
    const nn_conv_direct *g = &p->dg;
    size_t Wb = g->nb * NN_CONV_VW;
    if (p->has_bias) {
        float *db = nn_layer_grad_tensor(l, 1);
        for (size_t m = 0; m < p->M; m++)
            db[m] += (float)sum_run(dy + m * p->P, p->P);
    }
    for (size_t q = 0; q < p->M * p->OH; q++) /* rows of OW into rows of Wb */
        copy_run(p->dyp + q * Wb, dy + q * p->OW, p->OW);
    direct_input(p, x);
    nn_conv_direct_dweight(g, p->xp, p->dyp, nn_layer_grad_tensor(l, 0));
    if (!dx) return;
    memset(p->dxp, 0, p->C * g->Hp * g->Wq * sizeof *p->dxp);
    nn_conv_direct_dinput(g, p->dyp, p->wp, p->dxp);
    for (size_t c = 0; c < p->C; c++)
        for (size_t h = 0; h < p->H; h++)
            copy_run(dx + (c * p->H + h) * p->W,
                     p->dxp + (c * g->Hp + h + p->ph) * g->Wq + p->pw, p->W);
}

static void direct_backward(nn_layer *l, const float *x, const float *dy,
                            float *dx, size_t n)
{
    const conv_priv *p = l->priv;
    size_t in_size = p->C * p->H * p->W, out_size = p->M * p->P;
    if (dx) direct_weights(l);
    for (size_t i = 0; i < n; i++)
        direct_backward_one(l, x + i * in_size, dy + i * out_size,
                            dx ? dx + i * in_size : NULL);
}

/* ---- im2col + GEMM ------------------------------------------------------ */

static void conv_forward(nn_layer *l, const float *x, float *y, size_t n,
                         const nn_pass *pass)
{
    (void)pass;
    conv_priv *p = l->priv;
    if (p->direct) {
        direct_forward(l, x, y, n);
        return;
    }
    const float *wt = nn_layer_tensor(l, 0);
    const float *bias = p->has_bias ? nn_layer_tensor(l, 1) : NULL;
    size_t in_size = p->C * p->H * p->W, out_size = p->M * p->P;
    float *yt = l->ws + p->chunk * p->K * p->P;
    int keep = n <= p->cache_rows;
    NN_CHECK(l->ws != NULL, "%s: conv2d scratch not reserved", l->name);
    for (size_t i0 = 0; i0 < n; i0 += p->chunk) {
        size_t gn = min_size(p->chunk, n - i0), ld = gn * p->P;
        float *cols = keep ? p->cache + i0 * p->K * p->P : l->ws;
        for (size_t s = 0; s < gn; s++)
            im2col(p, x + (i0 + s) * in_size, cols + s * p->P, ld);
        float *dst = gn == 1 ? y + i0 * out_size : yt;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p->M,
                    (int)ld, (int)p->K, 1.0f, wt, (int)p->K, cols, (int)ld,
                    0.0f, dst, (int)ld);
        if (gn == 1)
            conv_scatter(p, dst, ld, bias, dst, 1); /* in place: adds bias */
        else
            conv_scatter(p, yt, ld, bias, y + i0 * out_size, gn);
    }
    p->cached = keep ? n : 0;
}

/* dYt[M, ld] from rows [i0, i0+gn) of dy (the inverse of the scatter). */
static void conv_gather(const conv_priv *p, const float *dy, size_t gn,
                        float *dyt, size_t ld)
{
    for (size_t s = 0; s < gn; s++)
        for (size_t m = 0; m < p->M; m++)
            copy_run(dyt + m * ld + s * p->P, dy + (s * p->M + m) * p->P,
                     p->P);
}

/* Gradients of one chunk of gn rows from dyt[M, ld] and its cols[K, ld]:
 * accumulates dW and db; if dx != NULL, writes dx[gn, C*H*W] through
 * dcols[K, ld] (which may be the cols buffer: cols is read first). */
static void conv_backward_chunk(nn_layer *l, const float *dyt,
                                const float *cols, float *dcols, size_t gn,
                                float *dx)
{
    const conv_priv *p = l->priv;
    size_t ld = gn * p->P;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->M,
                (int)p->K, (int)ld, 1.0f, dyt, (int)ld, cols, (int)ld, 1.0f,
                nn_layer_grad_tensor(l, 0), (int)p->K);
    if (p->has_bias) {
        float *db = nn_layer_grad_tensor(l, 1);
        for (size_t m = 0; m < p->M; m++)
            db[m] += (float)sum_run(dyt + m * ld, ld);
    }
    if (!dx) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p->K, (int)ld,
                (int)p->M, 1.0f, nn_layer_tensor(l, 0), (int)p->K, dyt,
                (int)ld, 0.0f, dcols, (int)ld);
    size_t in_size = p->C * p->H * p->W;
    memset(dx, 0, gn * in_size * sizeof *dx);
    for (size_t s = 0; s < gn; s++)
        col2im(p, dcols + s * p->P, ld, dx + s * in_size);
}

static void conv_backward(nn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, size_t n)
{
    (void)y;
    const conv_priv *p = l->priv;
    if (p->direct) {
        direct_backward(l, x, dy, dx, n);
        return;
    }
    size_t in_size = p->C * p->H * p->W, out_size = p->M * p->P;
    float *buf = l->ws, *dyt = l->ws + p->chunk * p->K * p->P;
    int kept = p->cached == n;
    NN_CHECK(l->ws != NULL, "%s: conv2d scratch not reserved", l->name);
    for (size_t i0 = 0; i0 < n; i0 += p->chunk) {
        size_t gn = min_size(p->chunk, n - i0), ld = gn * p->P;
        const float *cols = buf;
        if (kept)
            cols = p->cache + i0 * p->K * p->P;
        else
            for (size_t s = 0; s < gn; s++)
                im2col(p, x + (i0 + s) * in_size, buf + s * p->P, ld);
        const float *d = dy + i0 * out_size;
        if (gn > 1) {
            conv_gather(p, d, gn, dyt, ld);
            d = dyt;
        }
        conv_backward_chunk(l, d, cols, buf, gn, dx ? dx + i0 * in_size : NULL);
    }
}

static void conv_destroy(nn_layer *l)
{
    conv_priv *p = l->priv;
    if (p) free(p->cache), free(p->pad), free(p->xp);
    free(p);
    l->priv = NULL;
}

const nn_layer_ops nn_conv2d_ops = {
    .type = "conv2d",
    .create = conv_create,
    .init = conv_init,
    .reserve = conv_reserve,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
};

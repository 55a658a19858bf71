/* nn/attention.c - multi-head causal self-attention (YAML type
 * `attention`), GPT-2's attention block without its dropout.
 *
 * Keys: heads (required), head_size (default C / heads, which must then
 * divide C), bias: true|false (true), init: xavier|he|zeros|normal
 * (xavier; fans per Q, K, V block C -> D, and D -> C for the output).
 * Input and output are sequences [T, C]. With H heads of size hs, D = H hs:
 *   qkv[T, 3D] = x Wqkv^T + bqkv          (fused projection; columns
 *                                           [0,D) Q, [D,2D) K, [2D,3D) V,
 *                                           head h at h*hs within each)
 *   per head: S = Q_h K_h^T / sqrt(hs),  P = softmax over s <= t of S[t, s]
 *             (causal: step t sees steps 0..t only; P[t, s > t] = 0),
 *             ctx[:, h*hs, +hs] = P V_h
 *   y[T, C] = ctx Wo^T + bo.
 * Parameters, in arena order: qkv_weight Wqkv[3D, C] (decayed), qkv_bias
 * [3D], proj_weight Wo[C, D] (decayed), proj_bias [C] (no biases with
 * bias: false).
 *
 * The softmax subtracts each row's maximum before the exponential (every
 * term <= 1, the sum >= 1: no overflow, no division by a vanishing sum),
 * which runs NN_VW lanes at a time (nn_exp_neg in nn/simd.h).
 *
 * MEMORY. Kept per row from forward to backward (private, sized by
 * reserve): qkv [T, 3D], ctx [T, D] (for dWo) and the softmax row
 * statistics [H, T, 2] (max and 1/sum). NO [T, T] matrix is kept: backward
 * recomputes S = Q K^T for one (row, head) at a time and rebuilds
 * P = exp(S - max) / sum exactly as forward did (same operations, same
 * floats), in the shared scratch. So the T x T memory is 2 T^2 floats of
 * scratch for the whole model, not n H T^2 floats per attention layer;
 * the price is one extra QK^T product per head in backward. Scratch per
 * row: dctx [T, D] and dqkv [T, 3D].
 *
 * BLAS: the two projections run as one sgemm over all n*T steps; per
 * (row, head) QK^T, PV and their four backward products are sgemms with
 * leading dimension 3D reading Q, K, V in place. QK^T is computed for the
 * full T x T square and the upper triangle is ignored: one sgemm call
 * beats T short dot-product calls at the sizes used (T <= a few hundred),
 * though it does twice the needed multiplications.
 */
#include <limits.h> /* INT_MAX */
#include <math.h>   /* sqrt */
#include <stdint.h> /* SIZE_MAX */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, memset */

#include <cblas.h>

#include "nn/check.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/simd.h"

typedef struct attn_priv {
    size_t T, C, H, hs, D;
    int bias;
    size_t v_wqkv, v_bqkv, v_wo, v_bo; /* view indices (biases if bias) */
    nn_init_kind init;
    float scale;       /* 1 / sqrt(hs) */
    size_t rows;       /* rows the buffers below hold */
    float *qkv;        /* [rows][T][3D] */
    float *ctx;        /* [rows][T][D] */
    float *stat;       /* [rows][H][T][2]: row max, 1 / row sum */
} attn_priv;

/* a * b * c without overflow, else SIZE_MAX. */
static size_t mul3(size_t a, size_t b, size_t c)
{
    if (b && a > SIZE_MAX / b) return SIZE_MAX;
    if (c && a * b > SIZE_MAX / c) return SIZE_MAX;
    return a * b * c;
}

static int attn_keys(nn_layer *l, nn_spec *spec, attn_priv *p, nn_error *err)
{
    int init;
    int rc = nn_spec_size(spec, "heads", 1, 0, 1, (size_t)INT_MAX, &p->H, err);
    if (rc == 0)
        rc = nn_spec_size(spec, "head_size", 0, 0, 1, (size_t)INT_MAX, &p->hs,
                          err);
    if (rc == 0) rc = nn_spec_bool(spec, "bias", 0, 1, &p->bias, err);
    if (rc == 0) rc = nn_spec_enum(spec, "init", nn_init_names, NN_INIT_XAVIER,
                                   &init, err);
    if (rc) return rc;
    p->init = (nn_init_kind)init;
    char b[64];
    if (l->in.ndim != 2)
        return nn_spec_error(spec, NULL, err, "needs a sequence input [T, C], "
                             "got %s", nn_shape_str(l->in, b, sizeof b));
    p->T = l->in.dim[0];
    p->C = l->in.dim[1];
    if (p->hs == 0) {
        if (p->C % p->H)
            return nn_spec_error(spec, "heads", err, "%zu heads do not divide "
                                 "the %zu input features (set head_size)",
                                 p->H, p->C);
        p->hs = p->C / p->H;
    }
    /* BLAS sizes and leading dimensions are ints: the largest are 3D, C
     * and T; the scratch holds 2 T^2 floats. */
    p->D = p->H * p->hs;
    if (p->hs > (size_t)INT_MAX / 3 / p->H || p->C > (size_t)INT_MAX ||
        p->T > (size_t)INT_MAX || mul3(2, p->T, p->T) == SIZE_MAX ||
        mul3(p->T, 4 * p->D + 2 * p->H, 1) == SIZE_MAX)
        return nn_spec_error(spec, NULL, err, "input %s with %zu heads of %zu "
                             "is too large", nn_shape_str(l->in, b, sizeof b),
                             p->H, p->hs);
    return 0;
}

static int attn_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    attn_priv *p = nn_xcalloc(1, sizeof *p);
    l->priv = p;
    int rc = attn_keys(l, spec, p, err);
    if (rc) return rc;
    size_t C = p->C, D = p->D;
    p->scale = (float)(1.0 / sqrt((double)p->hs));
    p->v_wqkv = nn_layer_add_param(l, "qkv_weight", 3 * D * C, NN_PARAM_DECAY);
    if (p->bias) p->v_bqkv = nn_layer_add_param(l, "qkv_bias", 3 * D, 0);
    p->v_wo = nn_layer_add_param(l, "proj_weight", C * D, NN_PARAM_DECAY);
    if (p->bias) p->v_bo = nn_layer_add_param(l, "proj_bias", C, 0);
    l->out = l->in;
    l->ws_per_row = p->T * 4 * D;
    l->ws_fixed = 2 * p->T * p->T;
    return 0;
}

static void attn_init(nn_layer *l, nn_rng *rng)
{
    const attn_priv *p = l->priv;
    size_t C = p->C, D = p->D;
    nn_init_fill(nn_layer_tensor(l, p->v_wqkv), 3 * D * C, C, D, p->init, rng);
    nn_init_fill(nn_layer_tensor(l, p->v_wo), C * D, D, C, p->init, rng);
    if (!p->bias) return;
    memset(nn_layer_tensor(l, p->v_bqkv), 0, 3 * D * sizeof(float));
    memset(nn_layer_tensor(l, p->v_bo), 0, C * sizeof(float));
}

static void attn_reserve(nn_layer *l, size_t rows)
{
    attn_priv *p = l->priv;
    if (rows <= p->rows) return;
    size_t T = p->T;
    NN_CHECK(mul3(rows, T, 3 * p->D) != SIZE_MAX &&
             mul3(rows, p->H * T, 2) != SIZE_MAX,
             "%s: %zu rows overflow the buffers", l->name, rows);
    free(p->qkv);
    free(p->ctx);
    free(p->stat);
    p->qkv = nn_xalloc_floats(rows * T * 3 * p->D);
    p->ctx = nn_xalloc_floats(rows * T * p->D);
    p->stat = nn_xalloc_floats(rows * p->H * T * 2);
    p->rows = rows;
}

static void attn_destroy(nn_layer *l)
{
    attn_priv *p = l->priv;
    if (!p) return;
    free(p->qkv);
    free(p->ctx);
    free(p->stat);
    free(p);
    l->priv = NULL;
}

/* out[m, N] = in[m, K] W[N, K]^T (+ b[N] broadcast over rows when b). */
static void project(const float *in, const float *w, const float *b,
                    float *out, size_t m, size_t N, size_t K)
{
    if (b)
        for (size_t i = 0; i < m; i++) memcpy(out + i * N, b, N * sizeof *b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)N,
                (int)K, 1.0f, in, (int)K, w, (int)K, b ? 1.0f : 0.0f, out,
                (int)N);
}

/* dW[N, K] += dout^T in; db[N] += column sums of dout (if db); and, if
 * din, din[m, K] = dout W. dout is [m, N]. */
static void project_back(const float *in, const float *w, const float *dout,
                         float *dw, float *db, float *din, size_t m, size_t N,
                         size_t K)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K,
                (int)m, 1.0f, dout, (int)N, in, (int)K, 1.0f, dw, (int)K);
    if (db)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < N; j++) db[j] += dout[i * N + j];
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)K,
                    (int)N, 1.0f, dout, (int)N, w, (int)K, 0.0f, din, (int)K);
}

/* S[T, T] = scale Q K^T for one row and head (q, k at their columns of
 * qkv, leading dimension 3D); only s <= t is used. */
static void scores(const attn_priv *p, const float *q, const float *k,
                   float *S)
{
    int T = (int)p->T;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, (int)p->hs,
                p->scale, q, (int)(3 * p->D), k, (int)(3 * p->D), 0.0f, S, T);
}

/* r[s] = exp(r[s] - mx) for s < len (every r[s] <= mx), NN_VW lanes at a
 * time with nn_exp_neg; the last partial vector in a copy padded with mx,
 * so a value's result does not depend on where it sits in the row. */
NN_KERNEL static void exp_shifted(float *restrict r, size_t len, float mx)
{
    nn_vf v, e;
    size_t s = 0;
    for (; s + NN_VW <= len; s += NN_VW) {
        v = NN_LOAD(r + s) - mx;
        nn_exp_neg(&v, &e);
        NN_STORE(r + s, e);
    }
    if (s == len) return;
    float pad[NN_VW];
    for (size_t j = 0; j < NN_VW; j++) pad[j] = s + j < len ? r[s + j] : mx;
    v = NN_LOAD(pad) - mx;
    nn_exp_neg(&v, &e);
    nn_store_lanes(r + s, &e, len - s);
}

/* Forward's softmax, S -> P in place: row t over s <= t, P[t, s] =
 * exp(S - max) / sum, 0 above the diagonal; st[t] = {max, 1/sum} kept for
 * backward. Each exponential is taken once, then scaled by 1/sum. */
static void softmax_rows(size_t T, float *S, float *st)
{
    for (size_t t = 0; t < T; t++) {
        float *r = S + t * T, mx = r[0], sum = 0.0f;
        for (size_t s = 1; s <= t; s++) mx = r[s] > mx ? r[s] : mx;
        exp_shifted(r, t + 1, mx); /* every term <= 1: no overflow */
        for (size_t s = 0; s <= t; s++) sum += r[s];
        float inv = 1.0f / sum; /* sum >= 1: the max's term is 1 */
        for (size_t s = 0; s <= t; s++) r[s] *= inv;
        for (size_t s = t + 1; s < T; s++) r[s] = 0.0f;
        st[2 * t] = mx;
        st[2 * t + 1] = inv;
    }
}

/* Backward's softmax: S -> P in place from forward's row stats, by the
 * same float operations as softmax_rows (exp_shifted, then times 1/sum),
 * so P is bit for bit forward's. */
static void softmax_apply(size_t T, float *S, const float *st)
{
    for (size_t t = 0; t < T; t++) {
        float *r = S + t * T, mx = st[2 * t], inv = st[2 * t + 1];
        exp_shifted(r, t + 1, mx);
        for (size_t s = 0; s <= t; s++) r[s] *= inv;
        for (size_t s = t + 1; s < T; s++) r[s] = 0.0f;
    }
}

/* x[n, T, C] -> y[n, T, C]; keeps qkv, ctx and stats for backward. */
static void attn_forward(nn_layer *l, const float *x, float *y, size_t n,
                         const nn_pass *pass)
{
    (void)pass;
    attn_priv *p = l->priv;
    size_t T = p->T, C = p->C, D = p->D, hs = p->hs;
    NN_CHECK(n <= p->rows, "%s: forward of %zu rows, %zu reserved", l->name, n,
             p->rows);
    NN_CHECK(n <= (size_t)INT_MAX / T, "%s: %zu rows exceed BLAS int", l->name,
             n);
    if (n == 0) return;
    const float *bq = p->bias ? nn_layer_tensor(l, p->v_bqkv) : NULL;
    const float *bo = p->bias ? nn_layer_tensor(l, p->v_bo) : NULL;
    project(x, nn_layer_tensor(l, p->v_wqkv), bq, p->qkv, n * T, 3 * D, C);
    float *S = l->ws;
    for (size_t i = 0; i < n; i++)
        for (size_t h = 0; h < p->H; h++) {
            const float *q = p->qkv + i * T * 3 * D + h * hs;
            scores(p, q, q + D, S);
            float *st = p->stat + (i * p->H + h) * T * 2;
            softmax_rows(T, S, st);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T,
                        (int)hs, (int)T, 1.0f, S, (int)T, q + 2 * D,
                        (int)(3 * D), 0.0f, p->ctx + i * T * D + h * hs,
                        (int)D);
        }
    project(p->ctx, nn_layer_tensor(l, p->v_wo), bo, y, n * T, C, D);
}

/* One row and head: given dctx (ld D), write dq, dk, dv (ld 3D).
 * P is rebuilt in S; dP/dS live in G. dS = P (dP - rowsum(P dP)). */
static void head_backward(const attn_priv *p, const float *q, const float *st,
                          const float *dctx, float *dq, float *S, float *G)
{
    int T = (int)p->T, hs = (int)p->hs, ld = (int)(3 * p->D), D = (int)p->D;
    const float *k = q + p->D, *v = q + 2 * p->D;
    float *dk = dq + p->D, *dv = dq + 2 * p->D;
    scores(p, q, k, S);
    softmax_apply(p->T, S, st);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, S, T,
                dctx, D, 0.0f, dv, ld);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dctx,
                D, v, ld, 0.0f, G, T);
    for (size_t t = 0; t < p->T; t++) {
        const float *pr = S + t * p->T;
        float *gr = G + t * p->T, dot = 0.0f;
        for (size_t s = 0; s <= t; s++) dot += pr[s] * gr[s];
        for (size_t s = 0; s <= t; s++) gr[s] = pr[s] * (gr[s] - dot);
        for (size_t s = t + 1; s < p->T; s++) gr[s] = 0.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, p->scale,
                G, T, k, ld, 0.0f, dq, ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, p->scale,
                G, T, q, ld, 0.0f, dk, ld);
}

static void attn_backward(nn_layer *l, const float *x, const float *y,
                          const float *dy, float *dx, size_t n)
{
    (void)y;
    attn_priv *p = l->priv;
    size_t T = p->T, C = p->C, D = p->D, hs = p->hs;
    NN_CHECK(n <= p->rows && n <= (size_t)INT_MAX / T,
             "%s: backward of %zu rows, %zu reserved", l->name, n, p->rows);
    if (n == 0) return;
    float *S = l->ws, *G = S + T * T, *dctx = G + T * T;
    float *dqkv = dctx + n * T * D;
    project_back(p->ctx, nn_layer_tensor(l, p->v_wo), dy,
                 nn_layer_grad_tensor(l, p->v_wo),
                 p->bias ? nn_layer_grad_tensor(l, p->v_bo) : NULL, dctx,
                 n * T, C, D);
    for (size_t i = 0; i < n; i++)
        for (size_t h = 0; h < p->H; h++) {
            size_t at = i * T * 3 * D + h * hs;
            head_backward(p, p->qkv + at, p->stat + (i * p->H + h) * T * 2,
                          dctx + i * T * D + h * hs, dqkv + at, S, G);
        }
    project_back(x, nn_layer_tensor(l, p->v_wqkv), dqkv,
                 nn_layer_grad_tensor(l, p->v_wqkv),
                 p->bias ? nn_layer_grad_tensor(l, p->v_bqkv) : NULL, dx,
                 n * T, 3 * D, C);
}

const nn_layer_ops nn_attention_ops = {
    .type = "attention",
    .create = attn_create,
    .init = attn_init,
    .reserve = attn_reserve,
    .forward = attn_forward,
    .backward = attn_backward,
    .destroy = attn_destroy,
};

/* export/axm.c - a model as the inference library's .axm file
 * (infer/axm_format.h; byte layout in docs/DEPLOY.md): weights only, in
 * the model's topological order, with the input normalisation as the
 * first op. Dropout is the identity in inference mode and writes nothing;
 * batchnorm is folded into a per-channel y = a x + b with a and b
 * computed exactly as nn/batchnorm.c computes them in inference mode.
 *
 * int8 (TFLite's post-training scheme): each dense and conv2d weight row
 * (output channel) o gets the symmetric scale max|W[o,:]| / 127 and int8
 * values round(W / scale) in [-127, 127]; each dense and conv2d input gets
 * an asymmetric int8 scale and zero point from the range [min, max] (0
 * always included) its values took over the calibration rows.
 */
#include <math.h>   /* fabsf, lrint, sqrt */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, strcmp */
#include <zlib.h>   /* crc32 */

#include "export/export.h"
#include "infer/axm_format.h"
#include "nn/check.h"

typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
} wbuf;

static void put(wbuf *b, const void *data, size_t n)
{
    if (n == 0) return;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = nn_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u32(wbuf *b, size_t v)
{
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(b, c, 4);
}

/* A blob of floats (little-endian, as the machines axon builds on). */
static void put_f32(wbuf *b, const float *v, size_t n)
{
    put_u32(b, AXM_F32);
    put_u32(b, n);
    put(b, v, n * sizeof *v);
}

static void put_i8(wbuf *b, const signed char *v, size_t n)
{
    static const unsigned char zero[3] = {0};
    put_u32(b, AXM_I8);
    put_u32(b, n);
    put(b, v, n);
    put(b, zero, (4 - n % 4) % 4);
}

/* kind, inputs, attributes, blob count (the blobs follow). */
static void put_op(wbuf *b, unsigned kind, const size_t *in, size_t n_in,
                   const size_t *attr, size_t n_attr, size_t n_blob)
{
    put_u32(b, kind);
    put_u32(b, n_in);
    for (size_t k = 0; k < n_in; k++) put_u32(b, in[k]);
    put_u32(b, n_attr);
    for (size_t k = 0; k < n_attr; k++) put_u32(b, attr[k]);
    put_u32(b, n_blob);
}

/* The writer's state: the buffer, the op count, each model tensor's id in
 * the file, and the calibrated input range of each layer (int8). */
typedef struct axw {
    wbuf b;
    size_t n_ops;
    size_t *tid;          /* [n_layers + 1] */
    const float *range;   /* [n_layers][2] min, max; NULL: float */
} axw;

/* Weights W[outs, K] and bias b[outs] (NULL: none) of a dense or conv. */
static void put_weights(axw *w, const float *W, const float *bias,
                        size_t outs, size_t K, size_t layer)
{
    if (!w->range) {
        put_f32(&w->b, W, outs * K);
        put_f32(&w->b, bias, bias ? outs : 0);
        return;
    }
    signed char *q = nn_xmalloc(outs * K + 1);
    float *scale = nn_xalloc_floats(outs);
    for (size_t o = 0; o < outs; o++) {
        float amax = 0.0f;
        for (size_t k = 0; k < K; k++)
            if (fabsf(W[o * K + k]) > amax) amax = fabsf(W[o * K + k]);
        scale[o] = amax > 0.0f ? amax / 127.0f : 1.0f;
        for (size_t k = 0; k < K; k++) {
            long v = lrint(W[o * K + k] / scale[o]);
            q[o * K + k] = (signed char)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
    double lo = fmin(w->range[2 * layer], 0.0), hi = fmax(w->range[2 * layer + 1], 0.0);
    double s = hi > lo ? (hi - lo) / 255.0 : 1.0;
    long zp = lrint(-128.0 - lo / s);
    float xq[2] = {(float)s, (float)(zp < -128 ? -128 : zp > 127 ? 127 : zp)};
    put_i8(&w->b, q, outs * K);
    put_f32(&w->b, scale, outs);
    put_f32(&w->b, bias, bias ? outs : 0);
    put_f32(&w->b, xq, 2);
    free(q);
    free(scale);
}

static void put_batchnorm(axw *w, const nn_layer *l, size_t in)
{
    nn_layer_attrs a = {0};
    l->ops->attrs(l, &a);
    size_t C = l->in.dim[0];
    float *af = nn_xalloc_floats(2 * C), *bf = af + C;
    const float *gamma = nn_layer_tensor(l, 0), *beta = nn_layer_tensor(l, 1);
    const float *mean = nn_layer_tensor(l, 2), *var = nn_layer_tensor(l, 3);
    for (size_t c = 0; c < C; c++) {
        double invstd = 1.0 / sqrt((double)var[c] + a.eps);
        double k = gamma[c] * invstd;
        af[c] = (float)k;
        bf[c] = (float)(beta[c] - k * (double)mean[c]);
    }
    put_op(&w->b, AXM_AFFINE, &in, 1, NULL, 0, 2);
    put_f32(&w->b, af, C);
    put_f32(&w->b, bf, C);
    free(af);
}

/* Layer i as ops (or none); 0, or NN_EXIT_USAGE naming it. */
static int put_layer(axw *w, const nn_model *m, size_t i, nn_error *err)
{
    const nn_layer *l = &m->layers[i];
    const char *t = l->ops->type;
    size_t in[NN_MAX_INPUTS], q = w->range != NULL;
    for (size_t k = 0; k < m->nodes[i].n_in; k++) in[k] = w->tid[m->nodes[i].in[k]];
    nn_layer_attrs a = {0};
    if (l->ops->attrs) l->ops->attrs(l, &a);
    const float *bias = l->n_views > 1 ? nn_layer_tensor(l, 1) : NULL;
    if (!strcmp(t, "dropout")) {
        w->tid[i + 1] = in[0];
        return 0;
    }
    if (!strcmp(t, "dense")) {
        size_t units = l->out.dim[l->out.ndim - 1], per_step = l->out.ndim > 1;
        size_t at[3] = {units, per_step, q};
        put_op(&w->b, AXM_DENSE, in, 1, at, 3, q ? 4 : 2);
        put_weights(w, nn_layer_tensor(l, 0), bias, units,
                    l->views[0].count / units, i);
    } else if (!strcmp(t, "conv2d")) {
        size_t M = l->out.dim[0];
        size_t at[8] = {M, a.kernel[0], a.kernel[1], a.stride[0], a.stride[1],
                        a.pad[0], a.pad[1], q};
        put_op(&w->b, AXM_CONV, in, 1, at, 8, q ? 4 : 2);
        put_weights(w, nn_layer_tensor(l, 0), bias, M, l->views[0].count / M, i);
    } else if (!strcmp(t, "maxpool2d") || !strcmp(t, "avgpool2d")) {
        size_t at[4] = {a.kernel[0], a.kernel[1], a.stride[0], a.stride[1]};
        put_op(&w->b, t[0] == 'm' ? AXM_MAXPOOL : AXM_AVGPOOL, in, 1, at, 4, 0);
    } else if (!strcmp(t, "batchnorm")) {
        put_batchnorm(w, l, in[0]);
    } else if (!strcmp(t, "leaky_relu")) {
        float s = (float)a.slope;
        put_op(&w->b, AXM_LEAKY, in, 1, NULL, 0, 1);
        put_f32(&w->b, &s, 1);
    } else if (!strcmp(t, "reshape") || !strcmp(t, "flatten")) {
        size_t at[1 + NN_MAX_DIMS] = {l->out.ndim};
        for (size_t d = 0; d < l->out.ndim; d++) at[1 + d] = l->out.dim[d];
        put_op(&w->b, AXM_RESHAPE, in, 1, at, 1 + l->out.ndim, 0);
    } else {
        static const struct { const char *type; unsigned kind; } plain[] = {
            {"global_avgpool", AXM_GAP}, {"relu", AXM_RELU},
            {"sigmoid", AXM_SIGMOID}, {"tanh", AXM_TANH},
            {"softmax", AXM_SOFTMAX}, {"add", AXM_ADD}, {"concat", AXM_CONCAT}};
        size_t k = 0, n = sizeof plain / sizeof *plain;
        while (k < n && strcmp(plain[k].type, t)) k++;
        if (k == n)
            return nn_error_set(err, NN_EXIT_USAGE,
                                "layer '%s' (%s): the inference library has "
                                "no such layer (export it with --format onnx)",
                                l->name, t);
        put_op(&w->b, plain[k].kind, in, m->nodes[i].n_in, NULL, 0, 0);
    }
    w->tid[i + 1] = ++w->n_ops;
    return 0;
}

static void put_header(wbuf *b, const nn_model *m, int int8)
{
    put(b, AXM_MAGIC, 4);
    put_u32(b, AXM_VERSION);
    put_u32(b, int8 ? AXM_FLAG_INT8 : 0);
    put_u32(b, 0); /* op count, filled in at the end */
    put_u32(b, m->in.ndim);
    for (size_t i = 0; i < 4; i++) put_u32(b, i < m->in.ndim ? m->in.dim[i] : 0);
}

static void put_norm(axw *w, const nn_model *m, const ex_norm *norm)
{
    if (!norm || norm->kind == EX_NORM_NONE) return;
    size_t in = 0, n = nn_shape_size(m->in);
    if (norm->kind == EX_NORM_SCALE) {
        put_op(&w->b, AXM_SCALE, &in, 1, NULL, 0, 1);
        put_f32(&w->b, &norm->scale, 1);
    } else {
        float *v = nn_xalloc_floats(2 * n);
        for (size_t j = 0; j < n; j++) {
            v[j] = (float)norm->mean[j];
            v[n + j] = (float)(norm->std[j] < 1e-12 ? 1.0 : norm->std[j]);
        }
        put_op(&w->b, AXM_STANDARDIZE, &in, 1, NULL, 0, 2);
        put_f32(&w->b, v, n);
        put_f32(&w->b, v + n, n);
        free(v);
    }
    w->tid[0] = ++w->n_ops;
}

int ex_axm_write(const nn_model *m, const ex_norm *norm, int softmax,
                 const float *range, const char *path, nn_error *err)
{
    axw w = {.range = range};
    w.tid = nn_xcalloc(m->n_layers + 1, sizeof *w.tid);
    put_header(&w.b, m, range != NULL);
    put_norm(&w, m, norm);
    int st = 0;
    for (size_t i = 0; i < m->n_layers && !st; i++) st = put_layer(&w, m, i, err);
    if (!st && softmax) {
        put_op(&w.b, AXM_SOFTMAX, &w.tid[m->n_layers], 1, NULL, 0, 0);
        w.n_ops++;
    }
    if (!st && w.n_ops == 0) { /* a model of dropouts alone */
        size_t at[1 + NN_MAX_DIMS] = {m->in.ndim};
        for (size_t d = 0; d < m->in.ndim; d++) at[1 + d] = m->in.dim[d];
        put_op(&w.b, AXM_RESHAPE, &w.tid[m->n_layers], 1, at, 1 + m->in.ndim, 0);
        w.n_ops++;
    }
    if (!st && w.n_ops > AXM_MAX_OPS)
        st = nn_error_set(err, NN_EXIT_USAGE, "%s: %zu ops, more than the "
                          "inference library's %u", path, w.n_ops, AXM_MAX_OPS);
    if (!st) {
        for (size_t k = 0; k < 4; k++) w.b.p[12 + k] = (unsigned char)(w.n_ops >> (8 * k));
        put_u32(&w.b, crc32(0L, w.b.p, (uInt)w.b.len));
        st = ex_write_file(path, w.b.p, w.b.len, err);
    }
    free(w.b.p);
    free(w.tid);
    return st;
}

void ex_calibrate(nn_model *m, const float *x, size_t rows, float *range)
{
    size_t xw = nn_shape_size(m->in), chunk = 64;
    for (size_t i = 0; i < m->n_layers; i++) {
        range[2 * i] = 0.0f;
        range[2 * i + 1] = 0.0f;
    }
    nn_pass pass = {.training = 0};
    nn_model_reserve(m, chunk);
    for (size_t at = 0; at < rows; at += chunk) {
        size_t n = rows - at < chunk ? rows - at : chunk;
        nn_model_forward(m, x + at * xw, n, &pass);
        for (size_t i = 0; i < m->n_layers; i++) {
            size_t t = m->nodes[i].in[0];
            const float *v = t == 0 ? x + at * xw : m->acts[t - 1];
            size_t count = n * nn_shape_size(t == 0 ? m->in : m->layers[t - 1].out);
            for (size_t k = 0; k < count; k++) {
                if (v[k] < range[2 * i]) range[2 * i] = v[k];
                if (v[k] > range[2 * i + 1]) range[2 * i + 1] = v[k];
            }
        }
    }
}

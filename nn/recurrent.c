/* nn/recurrent.c - the driver shared by rnn, lstm and gru (see
 * nn/recurrent.h): parameters, buffers, the input projection, the time loop
 * with masking, backpropagation through time, lengths and carried state.
 *
 * Private buffers, per row, sized in reserve:
 *   gates [T][G*H]   input projection, then each step's gate activations
 *   h     [T+1][H]   slot 0 = initial state, slot t+1 = state after step t
 *   c     [T+1][H]   the same for the cell state (lstm only)
 *   aux   [T][H]     a vector per step the cell keeps for backward
 *   carry_h, carry_c [H]  stateful: the final state, for the next forward
 * Scratch in l->ws, per row: dgates [T][G*H], rh / drh [G*H], dh [H],
 * dc [H]. Rows are [rows][T+1][H], so one sgemm reads the step-t states of
 * all rows with leading dimension (T+1)*H, and slots 1..L of a row are the
 * contiguous [L, H] output of its valid steps.
 *
 * Masking: a row of length L runs the cell at steps t < L only; at t >= L
 * its state is copied forward (h_{t+1} = h_t). Backward mirrors it: at a
 * padded step dL/dh_t = dL/dh_{t+1} (the copy), the step's gate gradients
 * are zero, and dy there is ignored (the output there is a constant 0).
 */
#include "nn/recurrent.h"

#include <limits.h> /* INT_MAX */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, memset */

#include <cblas.h>

#include "nn/check.h"
#include "nn/init.h"

enum { V_WX = 0, V_WH = 1, V_B = 2, V_BH = 3 };

typedef struct rec_priv {
    const nn_rec_cell *cell;
    size_t T, F, H, G;
    int sequences, stateful;
    nn_init_kind init;
    size_t rows;                /* rows the buffers below hold */
    float *gates, *h, *c, *aux; /* see the file comment */
    float *carry_h, *carry_c;   /* [rows][H], stateful only */
    uint32_t *len;              /* [rows] lengths of the last forward */
    uint32_t max_len;           /* longest row of the last forward */
    uint32_t *given;            /* lengths from nn_recurrent_set_lengths */
    size_t n_given;             /* rows given; 0 = every row full length */
    size_t given_cap;
} rec_priv;

int nn_recurrent_create(nn_layer *l, nn_spec *spec, const nn_rec_cell *cell,
                        nn_error *err)
{
    size_t hidden;
    int seq, stateful, init;
    int rc = nn_spec_size(spec, "hidden", 1, 0, 1, (size_t)INT_MAX, &hidden,
                          err);
    if (rc == 0) rc = nn_spec_bool(spec, "sequences", 0, 1, &seq, err);
    if (rc == 0) rc = nn_spec_bool(spec, "stateful", 0, 0, &stateful, err);
    if (rc == 0) rc = nn_spec_enum(spec, "init", nn_init_names, NN_INIT_XAVIER,
                                   &init, err);
    if (rc) return rc;
    char b[64];
    if (l->in.ndim != 2)
        return nn_spec_error(spec, NULL, err,
                             "needs a sequence input [T, F], got %s (token "
                             "ids [T] go through an embedding layer first)",
                             nn_shape_str(l->in, b, sizeof b));
    size_t T = l->in.dim[0], F = l->in.dim[1], G = cell->gates;
    /* BLAS sizes and leading dimensions are ints; the largest are
     * (T+1)*H, T*G*H and F. */
    if (F > (size_t)INT_MAX || T >= (size_t)INT_MAX ||
        hidden > (size_t)INT_MAX / G / (T + 1))
        return nn_spec_error(spec, NULL, err, "input %s with hidden %zu is "
                             "too large for BLAS",
                             nn_shape_str(l->in, b, sizeof b), hidden);
    rec_priv *p = nn_xcalloc(1, sizeof *p);
    p->cell = cell;
    p->T = T;
    p->F = F;
    p->H = hidden;
    p->G = G;
    p->sequences = seq;
    p->stateful = stateful;
    p->init = (nn_init_kind)init;
    l->priv = p;
    l->out = seq ? nn_shape_2d(T, hidden) : nn_shape_1d(hidden);
    nn_layer_add_param(l, "weight", G * hidden * F, NN_PARAM_DECAY);
    nn_layer_add_param(l, "recurrent_weight", G * hidden * hidden,
                       NN_PARAM_DECAY);
    nn_layer_add_param(l, "bias", G * hidden, 0);
    if (cell->recurrent_bias) nn_layer_add_param(l, "recurrent_bias", hidden, 0);
    l->ws_per_row = T * G * hidden + G * hidden + 2 * hidden;
    return 0;
}

void nn_recurrent_init(nn_layer *l, nn_rng *rng)
{
    const rec_priv *p = l->priv;
    size_t GH = p->G * p->H;
    /* Fans per gate block: F -> H and H -> H. */
    nn_init_fill(nn_layer_tensor(l, V_WX), GH * p->F, p->F, p->H, p->init, rng);
    nn_init_fill(nn_layer_tensor(l, V_WH), GH * p->H, p->H, p->H, p->init, rng);
    float *b = nn_layer_tensor(l, V_B);
    memset(b, 0, GH * sizeof *b);
    if (p->cell->init_bias) p->cell->init_bias(b, p->H);
    if (p->cell->recurrent_bias)
        memset(nn_layer_tensor(l, V_BH), 0, p->H * sizeof(float));
}

/* A zeroed [new_count] buffer holding the old [old_count] values. */
static float *grow_keep(float *old, size_t old_count, size_t new_count)
{
    float *p = nn_xalloc_floats(new_count);
    if (old) memcpy(p, old, old_count * sizeof *p);
    free(old);
    return p;
}

void nn_recurrent_reserve(nn_layer *l, size_t rows)
{
    rec_priv *p = l->priv;
    if (rows <= p->rows) return;
    size_t T = p->T, H = p->H;
    free(p->gates);
    free(p->h);
    free(p->c);
    free(p->aux);
    free(p->len);
    p->gates = nn_xalloc_floats(rows * T * p->G * H);
    p->h = nn_xalloc_floats(rows * (T + 1) * H);
    p->c = p->cell->cell_state ? nn_xalloc_floats(rows * (T + 1) * H) : NULL;
    p->aux = p->cell->aux ? nn_xalloc_floats(rows * T * H) : NULL;
    p->len = nn_xcalloc(rows, sizeof *p->len);
    if (p->stateful) {
        p->carry_h = grow_keep(p->carry_h, p->rows * H, rows * H);
        if (p->cell->cell_state)
            p->carry_c = grow_keep(p->carry_c, p->rows * H, rows * H);
    }
    p->rows = rows;
}

void nn_recurrent_attrs(const nn_layer *l, nn_layer_attrs *a)
{
    const rec_priv *p = l->priv;
    a->sequences = p->sequences;
    a->stateful = p->stateful;
}

void nn_recurrent_destroy(nn_layer *l)
{
    rec_priv *p = l->priv;
    if (!p) return;
    free(p->gates);
    free(p->h);
    free(p->c);
    free(p->aux);
    free(p->len);
    free(p->carry_h);
    free(p->carry_c);
    free(p->given);
    free(p);
    l->priv = NULL;
}

/* ---- forward ---- */

/* The lengths this forward uses: the given ones, or T for every row. */
static void take_lengths(nn_layer *l, size_t n)
{
    rec_priv *p = l->priv;
    NN_CHECK(p->n_given == 0 || p->n_given == n,
             "%s: lengths were set for %zu rows, forward of %zu rows", l->name,
             p->n_given, n);
    p->max_len = 0;
    for (size_t i = 0; i < n; i++) {
        p->len[i] = p->n_given ? p->given[i] : (uint32_t)p->T;
        if (p->len[i] > p->max_len) p->max_len = p->len[i];
    }
}

/* gates[n*T, G*H] = b (broadcast over rows) + X[n*T, F] Wx^T. */
static void input_projection(nn_layer *l, const float *x, size_t n)
{
    const rec_priv *p = l->priv;
    size_t rows = n * p->T, GH = p->G * p->H;
    const float *b = nn_layer_tensor(l, V_B);
    for (size_t r = 0; r < rows; r++)
        memcpy(p->gates + r * GH, b, GH * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)GH,
                (int)p->F, 1.0f, x, (int)p->F, nn_layer_tensor(l, V_WX),
                (int)p->F, 1.0f, p->gates, (int)GH);
}

/* Slot 0 of every row: the carried state (stateful) or zeros. */
static void initial_state(rec_priv *p, size_t n)
{
    size_t H = p->H, ld = (p->T + 1) * H;
    for (size_t i = 0; i < n; i++) {
        float *h = p->h + i * ld, *c = p->c ? p->c + i * ld : NULL;
        if (p->stateful) {
            memcpy(h, p->carry_h + i * H, H * sizeof *h);
            if (c) memcpy(c, p->carry_c + i * H, H * sizeof *c);
        } else {
            memset(h, 0, H * sizeof *h);
            if (c) memset(c, 0, H * sizeof *c);
        }
    }
}

/* Step t of all n rows: rh[n, G*H] = h_t Wh^T, then the cell update of the
 * rows inside their sequence; the others copy their state forward. */
static void forward_step(nn_layer *l, size_t n, size_t t, float *rh)
{
    const rec_priv *p = l->priv;
    const nn_rec_cell *cell = p->cell;
    size_t T = p->T, H = p->H, GH = p->G * H, ld = (T + 1) * H;
    const float *bh = cell->recurrent_bias ? nn_layer_tensor(l, V_BH) : NULL;
    if (t < p->max_len)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)GH,
                    (int)H, 1.0f, p->h + t * H, (int)ld,
                    nn_layer_tensor(l, V_WH), (int)H, 0.0f, rh, (int)GH);
    for (size_t i = 0; i < n; i++) {
        float *h0 = p->h + i * ld + t * H;
        float *c0 = p->c ? p->c + i * ld + t * H : NULL;
        if (t >= p->len[i]) {
            memcpy(h0 + H, h0, H * sizeof *h0);
            if (c0) memcpy(c0 + H, c0, H * sizeof *c0);
            continue;
        }
        nn_rec_fwd a = {
            .gate = p->gates + (i * T + t) * GH,
            .rh = rh + i * GH,
            .bh = bh,
            .h0 = h0,
            .c0 = c0,
            .h1 = h0 + H,
            .c1 = c0 ? c0 + H : NULL,
            .aux = p->aux ? p->aux + (i * T + t) * H : NULL,
        };
        cell->forward(&a, H);
    }
}

/* y: [n, T, H] (zeros at padded steps) or [n, H] (state after step T-1,
 * which the copying made the state after the last valid step). */
static void write_output(const rec_priv *p, float *y, size_t n)
{
    size_t T = p->T, H = p->H, ld = (T + 1) * H;
    for (size_t i = 0; i < n; i++) {
        const float *h = p->h + i * ld;
        if (!p->sequences) {
            memcpy(y + i * H, h + T * H, H * sizeof *y);
            continue;
        }
        float *yi = y + i * T * H;
        size_t L = p->len[i];
        memcpy(yi, h + H, L * H * sizeof *yi);
        memset(yi + L * H, 0, (T - L) * H * sizeof *yi);
    }
}

/* Stateful: keep every row's final state for the next forward. */
static void save_state(rec_priv *p, size_t n)
{
    size_t T = p->T, H = p->H, ld = (T + 1) * H;
    for (size_t i = 0; i < n; i++) {
        memcpy(p->carry_h + i * H, p->h + i * ld + T * H, H * sizeof(float));
        if (p->c)
            memcpy(p->carry_c + i * H, p->c + i * ld + T * H,
                   H * sizeof(float));
    }
}

void nn_recurrent_forward(nn_layer *l, const float *x, float *y, size_t n,
                          const nn_pass *pass)
{
    (void)pass;
    rec_priv *p = l->priv;
    NN_CHECK(n <= p->rows && l->ws != NULL,
             "%s: forward of %zu rows, %zu reserved", l->name, n, p->rows);
    NN_CHECK(n <= (size_t)INT_MAX / p->T,
             "%s: %zu rows of %zu steps exceed BLAS int", l->name, n, p->T);
    if (n == 0) return;
    take_lengths(l, n);
    input_projection(l, x, n);
    initial_state(p, n);
    for (size_t t = 0; t < p->T; t++) forward_step(l, n, t, l->ws);
    write_output(p, y, n);
    if (p->stateful) save_state(p, n);
}

/* ---- backward ---- */

/* dh += dy of step t for the rows inside their sequence (sequences). */
static void add_step_dy(const rec_priv *p, const float *dy, size_t n,
                        size_t t, float *dh)
{
    size_t T = p->T, H = p->H;
    for (size_t i = 0; i < n; i++) {
        if (t >= p->len[i]) continue;
        const float *d = dy + (i * T + t) * H;
        float *g = dh + i * H;
        for (size_t j = 0; j < H; j++) g[j] += d[j];
    }
}

/* Step t backward for all rows. In: dh = dL/dh_{t+1}, dc = dL/dc_{t+1}.
 * Out: dh = dL/dh_t, dc = dL/dc_t, dgates row t = dL/d(x Wx^T + b);
 * dWh, dbh accumulated. drh is scratch [n, G*H]. */
static void backward_step(nn_layer *l, size_t n, size_t t, float *dgates,
                          float *drh, float *dh, float *dc)
{
    const rec_priv *p = l->priv;
    const nn_rec_cell *cell = p->cell;
    size_t T = p->T, H = p->H, GH = p->G * H, ld = (T + 1) * H;
    const float *bh = cell->recurrent_bias ? nn_layer_tensor(l, V_BH) : NULL;
    float *dbh = cell->recurrent_bias ? nn_layer_grad_tensor(l, V_BH) : NULL;
    for (size_t i = 0; i < n; i++) {
        float *dg = dgates + (i * T + t) * GH, *dr = drh + i * GH;
        if (t >= p->len[i]) { /* the copy passes dh, dc through as they are */
            memset(dg, 0, GH * sizeof *dg);
            memset(dr, 0, GH * sizeof *dr);
            continue;
        }
        const float *h0 = p->h + i * ld + t * H;
        const float *c0 = p->c ? p->c + i * ld + t * H : NULL;
        nn_rec_bwd a = {
            .gate = p->gates + (i * T + t) * GH,
            .aux = p->aux ? p->aux + (i * T + t) * H : NULL,
            .bh = bh,
            .h0 = h0,
            .c0 = c0,
            .h1 = h0 + H,
            .c1 = c0 ? c0 + H : NULL,
            .dh = dh + i * H,
            .dc = c0 ? dc + i * H : NULL,
            .dgate = dg,
            .drh = dr,
            .dbh = dbh,
        };
        cell->backward(&a, H);
    }
    if (t >= p->max_len) return; /* drh is all zeros */
    /* rh = h_t Wh^T:  dWh[GH, H] += drh^T h_t;  dh_t[n, H] += drh Wh. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)GH, (int)H,
                (int)n, 1.0f, drh, (int)GH, p->h + t * H, (int)ld, 1.0f,
                nn_layer_grad_tensor(l, V_WH), (int)H);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)H,
                (int)GH, 1.0f, drh, (int)GH, nn_layer_tensor(l, V_WH), (int)H,
                1.0f, dh, (int)H);
}

/* Over all n*T rows at once: dWx[GH, F] += dG^T X, db += column sums of
 * dG, and dx = dG Wx if wanted. */
static void input_gradients(nn_layer *l, const float *x, const float *dg,
                            float *dx, size_t n)
{
    const rec_priv *p = l->priv;
    size_t rows = n * p->T, GH = p->G * p->H;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)GH, (int)p->F,
                (int)rows, 1.0f, dg, (int)GH, x, (int)p->F, 1.0f,
                nn_layer_grad_tensor(l, V_WX), (int)p->F);
    float *db = nn_layer_grad_tensor(l, V_B);
    for (size_t r = 0; r < rows; r++) {
        const float *g = dg + r * GH;
        for (size_t j = 0; j < GH; j++) db[j] += g[j];
    }
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows,
                    (int)p->F, (int)GH, 1.0f, dg, (int)GH,
                    nn_layer_tensor(l, V_WX), (int)p->F, 0.0f, dx, (int)p->F);
}

void nn_recurrent_backward(nn_layer *l, const float *x, const float *y,
                           const float *dy, float *dx, size_t n)
{
    (void)y;
    const rec_priv *p = l->priv;
    NN_CHECK(n <= p->rows && l->ws != NULL,
             "%s: backward of %zu rows, %zu reserved", l->name, n, p->rows);
    if (n == 0) return;
    size_t T = p->T, H = p->H, GH = p->G * H;
    float *dgates = l->ws, *drh = dgates + n * T * GH;
    float *dh = drh + n * GH, *dc = dh + n * H;
    /* Gradient at the final state: dy itself ([H] output) or nothing yet
     * (each step's dy is added as the loop reaches it). */
    if (p->sequences)
        memset(dh, 0, n * H * sizeof *dh);
    else
        memcpy(dh, dy, n * H * sizeof *dh);
    memset(dc, 0, n * H * sizeof *dc);
    for (size_t t = T; t-- > 0;) {
        if (p->sequences) add_step_dy(p, dy, n, t, dh);
        backward_step(l, n, t, dgates, drh, dh, dc);
    }
    /* dh now holds dL/d(initial state): a constant, so it goes nowhere
     * (this is where a stateful layer cuts the gradient). */
    input_gradients(l, x, dgates, dx, n);
}

/* ---- lengths and state ---- */

int nn_recurrent_is(const nn_layer *l)
{
    return l && l->ops && l->ops->forward == nn_recurrent_forward;
}

void nn_recurrent_set_lengths(nn_layer *l, const uint32_t *lengths, size_t n)
{
    if (!nn_recurrent_is(l)) return;
    rec_priv *p = l->priv;
    p->n_given = 0;
    if (!lengths || n == 0) return;
    if (n > p->given_cap) {
        p->given = nn_xrealloc(p->given, n * sizeof *p->given);
        p->given_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        NN_CHECK(lengths[i] <= p->T, "%s: row %zu has length %lu > %zu steps",
                 l->name, i, (unsigned long)lengths[i], p->T);
        p->given[i] = lengths[i];
    }
    p->n_given = n;
}

void nn_recurrent_model_set_lengths(nn_model *m, const uint32_t *lengths,
                                    size_t n)
{
    for (size_t i = 0; i < m->n_layers; i++)
        nn_recurrent_set_lengths(&m->layers[i], lengths, n);
}

void nn_recurrent_reset_state(nn_layer *l)
{
    if (!nn_recurrent_is(l)) return;
    rec_priv *p = l->priv;
    if (p->carry_h) memset(p->carry_h, 0, p->rows * p->H * sizeof(float));
    if (p->carry_c) memset(p->carry_c, 0, p->rows * p->H * sizeof(float));
}

void nn_recurrent_model_reset_state(nn_model *m)
{
    for (size_t i = 0; i < m->n_layers; i++)
        nn_recurrent_reset_state(&m->layers[i]);
}

/* The carried state arrays of layer l (h, then c) and their number:
 * 0 unless l is a stateful recurrent layer. */
static size_t carried(const nn_layer *l, float **carry)
{
    if (!nn_recurrent_is(l)) return 0;
    const rec_priv *p = l->priv;
    if (!p->stateful) return 0;
    carry[0] = p->carry_h;
    carry[1] = p->carry_c;
    return p->cell->cell_state ? 2 : 1;
}

size_t nn_recurrent_model_state_width(const nn_model *m)
{
    size_t width = 0;
    float *carry[2];
    for (size_t k = 0; k < m->n_layers; k++) {
        const nn_layer *l = &m->layers[k];
        size_t na = carried(l, carry);
        if (na) width += na * ((const rec_priv *)l->priv)->H;
    }
    return width;
}

/* Rows [0, n) of every stateful layer's carried state to (to_layers = 0)
 * or from buf[n, width]. */
static void copy_state(const nn_model *m, size_t n, float *buf,
                       int to_layers)
{
    size_t width = nn_recurrent_model_state_width(m), off = 0;
    float *carry[2];
    for (size_t k = 0; k < m->n_layers; k++) {
        const nn_layer *l = &m->layers[k];
        size_t na = carried(l, carry);
        if (!na) continue;
        const rec_priv *p = l->priv;
        NN_CHECK(n <= p->rows, "%s: carried state of %zu rows, %zu reserved",
                 l->name, n, p->rows);
        for (size_t j = 0; j < na; j++, off += p->H)
            for (size_t i = 0; i < n; i++) {
                float *row = carry[j] + i * p->H, *b = buf + i * width + off;
                memcpy(to_layers ? row : b, to_layers ? b : row,
                       p->H * sizeof(float));
            }
    }
}

void nn_recurrent_model_get_state(const nn_model *m, size_t n, float *out)
{
    copy_state(m, n, out, 0);
}

void nn_recurrent_model_set_state(nn_model *m, size_t n, const float *in)
{
    copy_state(m, n, (float *)in, 1);
}

void nn_recurrent_lengths(const float *x, size_t n, size_t T, size_t F,
                          float pad, uint32_t *lengths)
{
    NN_CHECK(T <= UINT32_MAX, "sequence of %zu steps: lengths overflow", T);
    int pad_nan = isnan(pad);
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * T * F;
        size_t t = 0;
        while (t < T && !(pad_nan ? isnan(row[t * F]) : row[t * F] == pad)) t++;
        lengths[i] = (uint32_t)t;
    }
}

/* tests/nn/test_rnn.c - recurrent layers (rnn, lstm, gru), embedding,
 * time-distributed dense, sequence losses and gradient clipping.
 *
 * Forward values are checked against a plain double-precision reference
 * written here from the formulas; gradients against finite differences
 * through time, with and without padding; a padded batch against its
 * sequences run one by one; stateful chunks against one long sequence;
 * and an LSTM must learn to recall the first token of a sequence. */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/clip.h"
#include "nn/gradcheck.h"
#include "nn/layer.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/recurrent.h"
#include "tests/cu.h"

static const char *const kinds[] = {"rnn", "lstm", "gru"};
#define N_KINDS 3

/* ---- helpers ---- */

/* Make a layer and fill its parameters from `seed`; bias tensors get
 * random values too, so that they matter to the checks. */
static int make_layer(nn_layer *l, const char *type, const char *const *kv,
                      nn_shape in, uint64_t seed)
{
    nn_spec s;
    nn_error err = {0, ""};
    cu_spec_make(&s, "t", type, kv);
    int rc = nn_layer_make(l, &s, in, &err);
    nn_spec_free(&s);
    if (rc) {
        fprintf(stderr, "make_layer: %s\n", err.msg);
        return rc;
    }
    nn_rng r;
    nn_rng_seed(&r, seed);
    if (l->ops->init) l->ops->init(l, &r);
    for (size_t v = 0; v < l->n_views; v++) {
        if (strstr(l->views[v].name, "bias") == NULL) continue;
        float *t = nn_layer_tensor(l, v);
        for (size_t i = 0; i < l->views[v].count; i++)
            t[i] = (float)(nn_rng_uniform(&r) - 0.5);
    }
    return 0;
}

/* Make a recurrent layer of `kind` with `hidden` units over [T, F]. */
static int make_rec(nn_layer *l, const char *kind, size_t T, size_t F,
                    size_t hidden, int sequences, int stateful, uint64_t seed)
{
    char h[32];
    snprintf(h, sizeof h, "%zu", hidden);
    const char *kv[] = {"hidden", h, "sequences", sequences ? "true" : "false",
                        "stateful", stateful ? "true" : "false", NULL};
    return make_layer(l, kind, kv, nn_shape_2d(T, F), seed);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

static int all_zero(const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != 0.0f) return 0;
    return 1;
}

/* ---- a double-precision reference of the three cells ---- */

static double sig(double a)
{
    return 1.0 / (1.0 + exp(-a));
}

/* out[j] = sum_k W[j, k] v[k] for W[rows, cols]. */
static void matvec(const float *W, const double *v, size_t rows, size_t cols,
                   double *out)
{
    for (size_t j = 0; j < rows; j++) {
        double s = 0.0;
        for (size_t k = 0; k < cols; k++) s += (double)W[j * cols + k] * v[k];
        out[j] = s;
    }
}

/* Run one row x[T, F] of length L through layer l's parameters from zero
 * state; hs[t*H..] = state after step t (t < L); last = state after L. */
static void reference(const nn_layer *l, const char *kind, const float *x,
                      size_t T, size_t F, size_t H, size_t L, double *hs,
                      double *last)
{
    (void)T;
    size_t G = strcmp(kind, "rnn") == 0 ? 1 : strcmp(kind, "lstm") == 0 ? 4 : 3;
    const float *Wx = nn_layer_tensor(l, 0), *Wh = nn_layer_tensor(l, 1);
    const float *b = nn_layer_tensor(l, 2);
    const float *bh = G == 3 ? nn_layer_tensor(l, 3) : NULL;
    double h[64] = {0}, c[64] = {0}, p[256], q[256], xv[64];
    CU_ASSERT_FATAL(H <= 64 && F <= 64 && G * H <= 256);
    for (size_t t = 0; t < L; t++) {
        for (size_t k = 0; k < F; k++) xv[k] = x[t * F + k];
        matvec(Wx, xv, G * H, F, p);
        matvec(Wh, h, G * H, H, q);
        for (size_t j = 0; j < G * H; j++) p[j] += b[j];
        for (size_t j = 0; j < H; j++) {
            if (G == 1) {
                h[j] = tanh(p[j] + q[j]);
            } else if (G == 4) {
                double i = sig(p[j] + q[j]), f = sig(p[H + j] + q[H + j]);
                double g = tanh(p[2 * H + j] + q[2 * H + j]);
                double o = sig(p[3 * H + j] + q[3 * H + j]);
                c[j] = f * c[j] + i * g;
                q[3 * H + j] = o * tanh(c[j]); /* new h, stored aside */
            } else {
                double r = sig(p[j] + q[j]), z = sig(p[H + j] + q[H + j]);
                double n = tanh(p[2 * H + j] + r * (q[2 * H + j] + bh[j]));
                q[2 * H + j] = (1 - z) * n + z * h[j]; /* new h, aside */
            }
        }
        /* lstm and gru read the old h in every unit above: update after */
        if (G == 4)
            for (size_t j = 0; j < H; j++) h[j] = q[3 * H + j];
        if (G == 3)
            for (size_t j = 0; j < H; j++) h[j] = q[2 * H + j];
        for (size_t j = 0; j < H; j++) hs[t * H + j] = h[j];
    }
    for (size_t j = 0; j < H; j++) last[j] = h[j];
}

/* Forward values of every kind against the reference, full length and
 * padded, sequences true and false. */
static void test_forward_reference(void)
{
    enum { T = 5, F = 3, H = 4, N = 3 };
    const uint32_t lens[N] = {5, 2, 0};
    for (int k = 0; k < N_KINDS; k++)
        for (int seq = 0; seq < 2; seq++)
            for (int masked = 0; masked < 2; masked++) {
                nn_layer l;
                CU_ASSERT_FATAL(make_rec(&l, kinds[k], T, F, H, seq, 0, 7) == 0);
                nn_layer_reserve(&l, N);
                float *x = cu_rand_floats(N * T * F, 8, -1.5, 1.5);
                float y[N * T * H];
                nn_recurrent_set_lengths(&l, masked ? lens : NULL, N);
                l.ops->forward(&l, x, y, N, NULL);
                double worst = 0.0;
                for (size_t i = 0; i < N; i++) {
                    size_t L = masked ? lens[i] : T;
                    double hs[T * H], last[H];
                    reference(&l, kinds[k], x + i * T * F, T, F, H, L, hs,
                              last);
                    for (size_t t = 0; seq && t < T; t++)
                        for (size_t j = 0; j < H; j++) {
                            double want = t < L ? hs[t * H + j] : 0.0;
                            double d = fabs(y[(i * T + t) * H + j] - want);
                            if (d > worst) worst = d;
                            if (t >= L) CU_ASSERT(y[(i * T + t) * H + j] == 0.0f);
                        }
                    for (size_t j = 0; !seq && j < H; j++) {
                        double d = fabs(y[i * H + j] - last[j]);
                        if (d > worst) worst = d;
                    }
                }
                if (worst > 1e-5)
                    fprintf(stderr, "\n%s seq=%d masked=%d: off by %g\n",
                            kinds[k], seq, masked, worst);
                CU_ASSERT(worst <= 1e-5);
                free(x);
                nn_layer_free(&l);
            }
}

/* ---- gradient checks through time ---- */

/* Gradcheck `kind` over [T, F] with N rows, optionally with lengths. */
static int check_rec(const char *kind, size_t T, int seq, const uint32_t *lens,
                     size_t *checked)
{
    enum { F = 2, H = 3, N = 3 };
    nn_layer l;
    if (make_rec(&l, kind, T, F, H, seq, 0, 21 + T) != 0) return 0;
    nn_layer_reserve(&l, N);
    nn_recurrent_set_lengths(&l, lens, N);
    float *x = cu_rand_floats(N * T * F, 22 + T, -1.0, 1.0);
    nn_gradcheck_result res;
    int ok = nn_gradcheck_layer(&l, x, N, NULL, NULL, 23, &res);
    if (!ok)
        fprintf(stderr, "\n%s T=%zu seq=%d masked=%d: %zu/%zu failed, %s\n",
                kind, T, seq, lens != NULL, res.failed, res.checked, res.where);
    *checked = res.checked;
    size_t want = l.n_params + N * T * F;
    free(x);
    nn_layer_free(&l);
    return ok && *checked == want;
}

static void gradcheck_kind(const char *kind)
{
    static const size_t lengths[] = {1, 3, 7};
    for (size_t a = 0; a < 3; a++) {
        size_t T = lengths[a];
        /* Full, half, empty rows (T = 1: full, empty, full). */
        uint32_t lens[3] = {(uint32_t)T, (uint32_t)(T / 2), 0};
        if (T == 1) lens[2] = 1;
        for (int seq = 0; seq < 2; seq++) {
            size_t checked = 0;
            CU_ASSERT(check_rec(kind, T, seq, NULL, &checked));
            CU_ASSERT(checked > 0);
            CU_ASSERT(check_rec(kind, T, seq, lens, &checked));
        }
    }
}

static void test_gradcheck_rnn(void)
{
    gradcheck_kind("rnn");
}

static void test_gradcheck_lstm(void)
{
    gradcheck_kind("lstm");
}

static void test_gradcheck_gru(void)
{
    gradcheck_kind("gru");
}

/* An LSTM whose backward drops the recurrent path (dh_{t-1}) must fail
 * the check for T > 1 although every single step is right. */
static void truncated_backward(nn_layer *l, const float *x, const float *y,
                               const float *dy, float *dx, size_t n)
{
    /* Backward with Wh = 0 loses the paths from h_t back to h_{t-1}. */
    float *wh = nn_layer_tensor(l, 1);
    size_t cnt = l->views[1].count;
    float *saved = nn_xalloc_floats(cnt);
    memcpy(saved, wh, cnt * sizeof *wh);
    memset(wh, 0, cnt * sizeof *wh);
    nn_recurrent_backward(l, x, y, dy, dx, n);
    memcpy(wh, saved, cnt * sizeof *wh);
    free(saved);
}

static void test_checker_sees_missing_bptt(void)
{
    nn_layer l;
    CU_ASSERT_FATAL(make_rec(&l, "lstm", 4, 2, 3, 1, 0, 5) == 0);
    nn_layer_ops fake = *l.ops;
    fake.backward = truncated_backward;
    l.ops = &fake;
    float *x = cu_rand_floats(2 * 4 * 2, 6, -1.0, 1.0);
    nn_gradcheck_result res;
    CU_ASSERT_FALSE(nn_gradcheck_layer(&l, x, 2, NULL, NULL, 1, &res));
    CU_ASSERT(res.failed > 0);
    l.ops = nn_layer_find("lstm");
    CU_ASSERT(nn_gradcheck_layer(&l, x, 2, NULL, NULL, 1, &res));
    free(x);
    nn_layer_free(&l);
}

/* ---- a padded batch = its sequences one by one ---- */

static void padded_vs_single(const char *kind, int seq)
{
    enum { T = 6, F = 3, H = 4, N = 4 };
    const uint32_t lens[N] = {6, 3, 1, 0};
    nn_layer big;
    CU_ASSERT_FATAL(make_rec(&big, kind, T, F, H, seq, 0, 31) == 0);
    nn_layer_reserve(&big, N);
    size_t out_w = nn_shape_size(big.out);
    float *x = cu_rand_floats(N * T * F, 32, -1.0, 1.0);
    float *dy = cu_rand_floats(N * out_w, 33, -1.0, 1.0); /* padded steps too */
    float *y = nn_xalloc_floats(N * out_w), *dx = nn_xalloc_floats(N * T * F);
    nn_recurrent_set_lengths(&big, lens, N);
    memset(big.grad, 0, big.n_params * sizeof(float));
    big.ops->forward(&big, x, y, N, NULL);
    big.ops->backward(&big, x, y, dy, dx, N);

    float *gsum = nn_xalloc_floats(big.n_params);
    double worst_y = 0, worst_dx = 0;
    for (size_t i = 0; i < N; i++) {
        size_t L = lens[i];
        const float *yi = y + i * out_w;
        if (L == 0) { /* nothing ran: zero output, zero dx */
            CU_ASSERT(all_zero(yi, out_w));
            CU_ASSERT(all_zero(dx + i * T * F, T * F));
            continue;
        }
        nn_layer one;
        CU_ASSERT_FATAL(make_rec(&one, kind, L, F, H, seq, 0, 99) == 0);
        CU_ASSERT_FATAL(one.n_params == big.n_params);
        memcpy(one.param, big.param, big.n_params * sizeof(float));
        memset(one.grad, 0, one.n_params * sizeof(float));
        nn_layer_reserve(&one, 1);
        size_t w1 = nn_shape_size(one.out);
        float y1[T * H], dx1[T * F], dy1[T * H];
        /* dy of the valid steps (sequences) or of the final state. */
        memcpy(dy1, dy + i * out_w, w1 * sizeof(float));
        one.ops->forward(&one, x + i * T * F, y1, 1, NULL);
        one.ops->backward(&one, x + i * T * F, y1, dy1, dx1, 1);
        double d = max_abs_diff(yi, y1, w1);
        if (d > worst_y) worst_y = d;
        if (seq) CU_ASSERT(all_zero(yi + L * H, (T - L) * H));
        d = max_abs_diff(dx + i * T * F, dx1, L * F);
        if (d > worst_dx) worst_dx = d;
        CU_ASSERT(all_zero(dx + i * T * F + L * F, (T - L) * F));
        for (size_t k = 0; k < big.n_params; k++) gsum[k] += one.grad[k];
        nn_layer_free(&one);
    }
    double worst_g = max_abs_diff(big.grad, gsum, big.n_params);
    if (worst_y > 1e-5 || worst_dx > 1e-5 || worst_g > 1e-4)
        fprintf(stderr, "\n%s seq=%d: y %g dx %g grad %g\n", kind, seq,
                worst_y, worst_dx, worst_g);
    CU_ASSERT(worst_y <= 1e-5);
    CU_ASSERT(worst_dx <= 1e-5);
    CU_ASSERT(worst_g <= 1e-4);
    CU_ASSERT(!all_zero(gsum, big.n_params));
    free(gsum);
    free(x);
    free(dy);
    free(y);
    free(dx);
    nn_layer_free(&big);
}

static void test_padded_batch_equals_single(void)
{
    for (int k = 0; k < N_KINDS; k++) {
        padded_vs_single(kinds[k], 1);
        padded_vs_single(kinds[k], 0);
    }
}

static void test_lengths_from_padding(void)
{
    /* 3 rows of T = 4 steps of F = 2; padding marked in feature 0. */
    const float P = NN_LABEL_NONE;
    const float x[3 * 8] = {1, P, 2, 2, 3, 3, 4, 4,  /* full: 4 */
                            5, 5, P, 0, 7, 7, P, 0,  /* first pad at 1 */
                            P, 1, 2, 2, 3, 3, 4, 4}; /* empty */
    uint32_t lens[3] = {9, 9, 9};
    nn_recurrent_lengths(x, 3, 4, 2, NN_LABEL_NONE, lens);
    CU_ASSERT_EQUAL(lens[0], 4);
    CU_ASSERT_EQUAL(lens[1], 1);
    CU_ASSERT_EQUAL(lens[2], 0);
    float xn[4] = {1, 2, NAN, 3};
    nn_recurrent_lengths(xn, 1, 4, 1, NAN, lens);
    CU_ASSERT_EQUAL(lens[0], 2);
}

/* Lengths set for n rows are enforced: a forward of other n is fatal. */
static jmp_buf fatal_jump;
static char fatal_msg[256];

static void catch_fatal(const char *file, int line, const char *msg)
{
    (void)file;
    (void)line;
    snprintf(fatal_msg, sizeof fatal_msg, "%s", msg);
    longjmp(fatal_jump, 1);
}

static void test_lengths_checked(void)
{
    nn_layer l;
    CU_ASSERT_FATAL(make_rec(&l, "gru", 3, 2, 2, 1, 0, 1) == 0);
    nn_layer_reserve(&l, 4);
    float x[4 * 6] = {0}, y[4 * 6];
    const uint32_t lens[2] = {3, 1}, bad[1] = {4};
    nn_recurrent_set_lengths(&l, lens, 2);
    volatile int reached = 0;
    nn_set_fatal_hook(catch_fatal);
    if (setjmp(fatal_jump) == 0) {
        l.ops->forward(&l, x, y, 4, NULL);
        reached = 1;
    }
    CU_ASSERT_FALSE(reached);
    CU_ASSERT(strstr(fatal_msg, "lengths were set for 2 rows") != NULL);
    reached = 0;
    if (setjmp(fatal_jump) == 0) {
        nn_recurrent_set_lengths(&l, bad, 1);
        reached = 1;
    }
    nn_set_fatal_hook(NULL);
    CU_ASSERT_FALSE(reached);
    CU_ASSERT(strstr(fatal_msg, "length 4 > 3 steps") != NULL);
    nn_recurrent_set_lengths(&l, NULL, 0); /* back to full length */
    l.ops->forward(&l, x, y, 4, NULL);
    nn_layer_free(&l);
}

/* ---- stateful: chunks continue each other ---- */

static void stateful_kind(const char *kind)
{
    enum { T = 3, F = 2, H = 3, N = 2 };
    nn_layer whole, part;
    CU_ASSERT_FATAL(make_rec(&whole, kind, 2 * T, F, H, 1, 0, 41) == 0);
    CU_ASSERT_FATAL(make_rec(&part, kind, T, F, H, 1, 1, 42) == 0);
    memcpy(part.param, whole.param, whole.n_params * sizeof(float));
    nn_layer_reserve(&whole, N);
    nn_layer_reserve(&part, N);
    float *x = cu_rand_floats(N * 2 * T * F, 43, -1.0, 1.0);
    float c1[N * T * F], c2[N * T * F];
    for (size_t i = 0; i < N; i++) { /* split each row into its halves */
        memcpy(c1 + i * T * F, x + i * 2 * T * F, T * F * sizeof(float));
        memcpy(c2 + i * T * F, x + (i * 2 + 1) * T * F, T * F * sizeof(float));
    }
    float yw[N * 2 * T * H], y1[N * T * H], y2[N * T * H];
    whole.ops->forward(&whole, x, yw, N, NULL);
    part.ops->forward(&part, c1, y1, N, NULL);
    part.ops->forward(&part, c2, y2, N, NULL);
    double d = 0.0;
    for (size_t i = 0; i < N; i++) {
        const float *w = yw + i * 2 * T * H;
        double a = max_abs_diff(w, y1 + i * T * H, T * H);
        double b = max_abs_diff(w + T * H, y2 + i * T * H, T * H);
        if (a > d) d = a;
        if (b > d) d = b;
    }
    CU_ASSERT(d <= 1e-6);
    /* The second chunk really depended on the first. */
    float fresh[N * T * H];
    nn_recurrent_reset_state(&part);
    part.ops->forward(&part, c2, fresh, N, NULL);
    CU_ASSERT(max_abs_diff(fresh, y2, N * T * H) > 1e-3);
    /* After a reset the first chunk gives its first-chunk values again. */
    nn_recurrent_reset_state(&part);
    part.ops->forward(&part, c1, fresh, N, NULL);
    CU_ASSERT(max_abs_diff(fresh, y1, N * T * H) == 0.0);
    free(x);
    nn_layer_free(&whole);
    nn_layer_free(&part);
}

static void test_stateful_carries_state(void)
{
    for (int k = 0; k < N_KINDS; k++) stateful_kind(kinds[k]);
}

/* A padded row of a stateful layer carries its last valid state. */
static void test_stateful_with_lengths(void)
{
    enum { T = 3, F = 2, H = 3 };
    nn_layer part, whole;
    CU_ASSERT_FATAL(make_rec(&part, "lstm", T, F, H, 0, 1, 3) == 0);
    CU_ASSERT_FATAL(make_rec(&whole, "lstm", 2 * T, F, H, 0, 0, 4) == 0);
    memcpy(whole.param, part.param, part.n_params * sizeof(float));
    nn_layer_reserve(&part, 1);
    nn_layer_reserve(&whole, 1);
    float *x = cu_rand_floats(2 * T * F, 5, -1.0, 1.0);
    /* chunk 1 has 2 valid steps, chunk 2 all 3: the whole sequence is
     * steps 0, 1, 3, 4, 5 - compare with a 5-step layer. */
    const uint32_t two[1] = {2};
    float y[H], yw[H], packed[5 * F];
    nn_recurrent_set_lengths(&part, two, 1);
    part.ops->forward(&part, x, y, 1, NULL);
    nn_recurrent_set_lengths(&part, NULL, 0);
    part.ops->forward(&part, x + T * F, y, 1, NULL);
    memcpy(packed, x, 2 * F * sizeof(float));
    memcpy(packed + 2 * F, x + T * F, T * F * sizeof(float));
    const uint32_t five[1] = {5};
    nn_recurrent_set_lengths(&whole, five, 1);
    float xw[2 * T * F] = {0};
    memcpy(xw, packed, 5 * F * sizeof(float));
    whole.ops->forward(&whole, xw, yw, 1, NULL);
    CU_ASSERT(max_abs_diff(y, yw, H) <= 1e-6);
    free(x);
    nn_layer_free(&part);
    nn_layer_free(&whole);
}

/* L = sum(y * r) over a forward of chunk c2 after chunk c1. */
static double chunk_probe(nn_layer *l, const float *c1, const float *c2,
                          const float *r, float *y, size_t n, float *v,
                          float v1, float v2)
{
    size_t w = n * nn_shape_size(l->out);
    nn_recurrent_reset_state(l);
    *v = v1;
    l->ops->forward(l, c1, y, n, NULL);
    *v = v2;
    l->ops->forward(l, c2, y, n, NULL);
    double s = 0.0;
    for (size_t i = 0; i < w; i++) s += (double)y[i] * r[i];
    return s;
}

/* The backward of a chunk is the gradient with its initial state held
 * constant (truncated BPTT): checked by differences that perturb a value
 * only during the second chunk. */
static void test_stateful_gradient_cut(void)
{
    enum { T = 3, F = 2, H = 3, N = 2 };
    for (int k = 0; k < N_KINDS; k++) {
        nn_layer l;
        CU_ASSERT_FATAL(make_rec(&l, kinds[k], T, F, H, 1, 1, 51) == 0);
        nn_layer_reserve(&l, N);
        float *c1 = cu_rand_floats(N * T * F, 52, -1.0, 1.0);
        float *c2 = cu_rand_floats(N * T * F, 53, -1.0, 1.0);
        float *r = cu_rand_floats(N * T * H, 54, -1.0, 1.0);
        float y[N * T * H], dx[N * T * F];
        memset(l.grad, 0, l.n_params * sizeof(float));
        nn_recurrent_reset_state(&l);
        l.ops->forward(&l, c1, y, N, NULL);
        l.ops->forward(&l, c2, y, N, NULL);
        l.ops->backward(&l, c2, y, r, dx, N);
        size_t failed = 0, checked = 0;
        for (size_t p = 0; p < l.n_params + N * T * F; p++) {
            int is_x = p >= l.n_params;
            float *v = is_x ? &c2[p - l.n_params] : &l.param[p];
            float s = *v, hi = s + 1e-3f, lo = s - 1e-3f;
            /* The value is s during chunk 1 and s +- h during chunk 2
             * (chunk 1 does not read c2, so inputs need no care). */
            double fp = chunk_probe(&l, c1, c2, r, y, N, v, s, hi);
            double fm = chunk_probe(&l, c1, c2, r, y, N, v, s, lo);
            *v = s;
            double num = (fp - fm) / ((double)hi - (double)lo);
            double a = is_x ? dx[p - l.n_params] : l.grad[p];
            checked++;
            if (fabs(a - num) > 1e-3 + 2e-2 * fmax(fabs(a), fabs(num))) {
                if (failed++ == 0)
                    fprintf(stderr, "\n%s cut: entry %zu analytic %g numeric %g\n",
                            kinds[k], p, a, num);
            }
        }
        CU_ASSERT_EQUAL(failed, 0);
        CU_ASSERT_EQUAL(checked, l.n_params + N * T * F);
        free(c1);
        free(c2);
        free(r);
        nn_layer_free(&l);
    }
}

/* ---- embedding ---- */

static void test_embedding_values(void)
{
    static const char *const kv[] = {"vocab", "5", "dim", "3", NULL};
    nn_layer l;
    CU_ASSERT_FATAL(make_layer(&l, "embedding", kv, nn_shape_1d(4), 1) == 0);
    CU_ASSERT(nn_shape_eq(l.out, nn_shape_2d(4, 3)));
    CU_ASSERT_EQUAL(l.n_params, 15);
    CU_ASSERT(!all_zero(l.param, 15));
    nn_layer_reserve(&l, 2);
    const float x[8] = {0, 4, NN_LABEL_NONE, 2, 3, 3, 1, NN_LABEL_NONE};
    float y[24], dx[8], dy[24];
    for (int i = 0; i < 8; i++) dx[i] = 5;
    for (int i = 0; i < 24; i++) dy[i] = (float)(i + 1);
    l.ops->forward(&l, x, y, 2, NULL);
    for (int k = 0; k < 8; k++) {
        if (x[k] == NN_LABEL_NONE) {
            CU_ASSERT(all_zero(y + 3 * k, 3));
            continue;
        }
        CU_ASSERT(memcmp(y + 3 * k, l.param + 3 * (size_t)x[k],
                         3 * sizeof(float)) == 0);
    }
    memset(l.grad, 0, 15 * sizeof(float));
    l.ops->backward(&l, x, y, dy, dx, 2);
    CU_ASSERT(all_zero(dx, 8));
    /* id 3 is read at steps 4 and 5: its gradient row is their sum. */
    for (int j = 0; j < 3; j++) {
        CU_ASSERT_EQUAL(l.grad[3 * 3 + j], dy[12 + j] + dy[15 + j]);
        CU_ASSERT_EQUAL(l.grad[0 * 3 + j], dy[0 + j]);
    }
    nn_layer_free(&l);
}

static void test_embedding_gradcheck(void)
{
    static const char *const kv[] = {"vocab", "6", "dim", "4", "init",
                                     "normal", NULL};
    nn_layer l;
    CU_ASSERT_FATAL(make_layer(&l, "embedding", kv, nn_shape_1d(5), 2) == 0);
    const float x[3 * 5] = {0, 1, 2, 3, 5, 5, 5, NN_LABEL_NONE, 1, 0,
                            NN_LABEL_NONE, 4, 4, 2, NN_LABEL_NONE};
    nn_gradcheck_result res;
    CU_ASSERT(nn_gradcheck_layer(&l, x, 3, NULL, NULL, 3, &res));
    CU_ASSERT_EQUAL(res.checked, 6 * 4 + 3 * 5); /* weights and ids */
    nn_layer_free(&l);
}

static void test_embedding_bad_id_is_fatal(void)
{
    static const char *const kv[] = {"vocab", "3", "dim", "2", NULL};
    nn_layer l;
    CU_ASSERT_FATAL(make_layer(&l, "embedding", kv, nn_shape_1d(2), 1) == 0);
    nn_layer_reserve(&l, 1);
    const float bad[3][2] = {{0, 3}, {-2, 0}, {NAN, 1}};
    float y[4];
    for (int b = 0; b < 3; b++) {
        volatile int reached = 0;
        fatal_msg[0] = '\0';
        nn_set_fatal_hook(catch_fatal);
        if (setjmp(fatal_jump) == 0) {
            l.ops->forward(&l, bad[b], y, 1, NULL);
            reached = 1;
        }
        nn_set_fatal_hook(NULL);
        CU_ASSERT_FALSE(reached);
        CU_ASSERT(strstr(fatal_msg, "outside [0, 3)") != NULL);
    }
    nn_layer_free(&l);
}

/* ---- layer set-up errors ---- */

static int setup_fails(const char *type, const char *const *kv, nn_shape in,
                       const char *want)
{
    nn_spec s;
    nn_error err = {0, ""};
    nn_layer l;
    cu_spec_make(&s, "t", type, kv);
    int rc = nn_layer_setup(&l, &s, in, &err);
    nn_spec_free(&s);
    if (rc == 0) {
        l.ops->destroy(&l);
        return 0;
    }
    if (!strstr(err.msg, want)) fprintf(stderr, "\nmessage: %s\n", err.msg);
    return rc == NN_EXIT_USAGE && strstr(err.msg, want) != NULL;
}

static void test_setup_errors(void)
{
    static const char *const h4[] = {"hidden", "4", NULL};
    static const char *const none[] = {NULL};
    static const char *const typo[] = {"hidden", "4", "sequence", "true", NULL};
    static const char *const dim[] = {"vocab", "10", NULL};
    static const char *const td[] = {"units", "3", "time_distributed", "true",
                                     NULL};
    CU_ASSERT(setup_fails("lstm", h4, nn_shape_1d(8), "[T, F]"));
    CU_ASSERT(setup_fails("gru", none, nn_shape_2d(3, 2), "hidden"));
    CU_ASSERT(setup_fails("rnn", typo, nn_shape_2d(3, 2), "sequence"));
    CU_ASSERT(setup_fails("embedding", dim, nn_shape_1d(8), "dim"));
    CU_ASSERT(setup_fails("dense", td, nn_shape_1d(8), "time_distributed"));
    /* Shapes and parameter counts. */
    nn_layer l;
    CU_ASSERT_FATAL(make_rec(&l, "gru", 5, 3, 4, 0, 0, 1) == 0);
    CU_ASSERT(nn_shape_eq(l.out, nn_shape_1d(4)));
    CU_ASSERT_EQUAL(l.n_params, 12 * 3 + 12 * 4 + 12 + 4);
    nn_layer_free(&l);
    CU_ASSERT_FATAL(make_rec(&l, "lstm", 5, 3, 4, 1, 0, 1) == 0);
    CU_ASSERT(nn_shape_eq(l.out, nn_shape_2d(5, 4)));
    CU_ASSERT_EQUAL(l.n_params, 16 * 3 + 16 * 4 + 16);
    CU_ASSERT_EQUAL(l.views[1].flags, NN_PARAM_DECAY);
    CU_ASSERT_EQUAL(l.views[2].flags, 0);
    nn_rng r;
    nn_rng_seed(&r, 1);
    l.ops->init(&l, &r); /* forget-gate bias starts at 1, the rest at 0 */
    const float *b = nn_layer_tensor(&l, 2);
    CU_ASSERT(b[0] == 0.0f && b[4] == 1.0f && b[7] == 1.0f && b[8] == 0.0f);
    nn_layer_free(&l);
}

/* ---- time-distributed dense and the sequence loss ---- */

static void test_time_distributed_dense(void)
{
    enum { T = 4, F = 3, U = 2, N = 3 };
    static const char *const kv[] = {"units", "2", "time_distributed", "true",
                                     NULL};
    static const char *const flat[] = {"units", "2", NULL};
    nn_layer td, d;
    CU_ASSERT_FATAL(make_layer(&td, "dense", kv, nn_shape_2d(T, F), 1) == 0);
    CU_ASSERT(nn_shape_eq(td.out, nn_shape_2d(T, U)));
    CU_ASSERT_EQUAL(td.n_params, U * F + U);
    CU_ASSERT_FATAL(make_layer(&d, "dense", flat, nn_shape_1d(F), 2) == 0);
    memcpy(d.param, td.param, td.n_params * sizeof(float));
    nn_layer_reserve(&td, N);
    nn_layer_reserve(&d, N * T);
    float *x = cu_rand_floats(N * T * F, 3, -1.0, 1.0);
    float ytd[N * T * U], yd[N * T * U];
    td.ops->forward(&td, x, ytd, N, NULL);
    d.ops->forward(&d, x, yd, N * T, NULL); /* every step as its own row */
    CU_ASSERT(max_abs_diff(ytd, yd, N * T * U) == 0.0);
    nn_gradcheck_result res;
    CU_ASSERT(nn_gradcheck_layer(&td, x, N, NULL, NULL, 4, &res));
    CU_ASSERT_EQUAL(res.checked, td.n_params + N * T * F);
    free(x);
    nn_layer_free(&td);
    nn_layer_free(&d);
}

typedef struct layer_def {
    const char *type;
    const char *kv[9];
} layer_def;

static nn_model *model_from(const layer_def *defs, size_t n, nn_shape in)
{
    nn_spec *s = nn_xcalloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].type = nn_xstrdup(defs[i].type);
        s[i].file = "net.yaml";
        s[i].line = (int)(10 * (i + 1));
        for (int k = 0; defs[i].kv[k]; k += 2)
            CU_ASSERT_FATAL(nn_spec_add(&s[i], defs[i].kv[k], defs[i].kv[k + 1],
                                        s[i].line + 1 + k / 2, NULL) == 0);
    }
    nn_model *m = NULL;
    nn_error err = {0, ""};
    int rc = nn_model_create(&m, s, n, in, &err);
    if (rc) fprintf(stderr, "\nmodel: %s\n", err.msg);
    for (size_t i = 0; i < n; i++) nn_spec_free(&s[i]);
    free(s);
    return m;
}

/* Loss of a sequence model, per valid step: the [n, T*V] output viewed as
 * [n*T, V] rows with targets [n*T] (NN_LABEL_NONE at padded steps). */
static double seq_loss(nn_model *m, const float *x, const float *tgt, size_t n,
                       size_t T, size_t V, float scale, float *dout,
                       nn_loss_stats *st)
{
    const nn_loss_ops *ce = nn_loss_find("cross_entropy");
    const float *y = nn_model_forward(m, x, n, NULL);
    ce->eval(y, tgt, n * T, V, scale, dout, st);
    return st->sum * scale;
}

static void test_sequence_loss(void)
{
    enum { T = 5, V = 5, N = 3 };
    static const layer_def defs[] = {
        {"embedding", {"vocab", "5", "dim", "4", NULL}},
        {"lstm", {"hidden", "5", NULL}},
        {"dense", {"units", "5", "time_distributed", "true", NULL}},
    };
    nn_model *m = model_from(defs, 3, nn_shape_1d(T));
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT(nn_shape_eq(nn_model_out_shape(m), nn_shape_2d(T, V)));
    nn_model_init(m, 5);
    nn_model_reserve(m, N);
    const float P = NN_LABEL_NONE;
    float x[N * T] = {1, 2, 3, 4, 0, 2, 2, 1, P, P, 4, P, P, P, P};
    const float tgt[N * T] = {2, 3, 4, 0, 1, 2, 1, 0, P, P, 3, P, P, P, P};
    uint32_t lens[N];
    nn_recurrent_lengths(x, N, T, 1, NN_LABEL_NONE, lens);
    CU_ASSERT(lens[0] == 5 && lens[1] == 3 && lens[2] == 1);
    nn_recurrent_model_set_lengths(m, lens, N);
    float dout[N * T * V];
    nn_loss_stats st;
    float scale = 1.0f / 9.0f; /* mean over the 9 valid steps */
    nn_model_zero_grad(m);
    double L0 = seq_loss(m, x, tgt, N, T, V, scale, dout, &st);
    CU_ASSERT_EQUAL(st.counted, 9);
    CU_ASSERT(L0 > 0.5 && L0 < 5.0); /* about log 5 at the start */
    nn_model_backward(m, x, dout, N);
    float *g = nn_xalloc_floats(m->n_params);
    memcpy(g, m->grads, m->n_params * sizeof(float));
    /* Every parameter against central differences of the loss. */
    size_t failed = 0;
    for (size_t k = 0; k < m->n_params; k++) {
        float s = m->params[k], hi = s + 1e-2f, lo = s - 1e-2f;
        m->params[k] = hi;
        double fp = seq_loss(m, x, tgt, N, T, V, scale, NULL, &st);
        m->params[k] = lo;
        double fm = seq_loss(m, x, tgt, N, T, V, scale, NULL, &st);
        m->params[k] = s;
        double num = (fp - fm) / ((double)hi - (double)lo);
        if (fabs(g[k] - num) > 2e-4 + 2e-2 * fmax(fabs(g[k]), fabs(num))) {
            if (failed++ == 0)
                fprintf(stderr, "\nparam %zu: analytic %g numeric %g\n", k,
                        g[k], num);
        }
    }
    CU_ASSERT_EQUAL(failed, 0);
    /* Padded steps do not matter: other tokens there change nothing. */
    x[8] = 3;
    x[9] = 1;
    x[12] = 0;
    nn_model_zero_grad(m);
    double L1 = seq_loss(m, x, tgt, N, T, V, scale, dout, &st);
    nn_model_backward(m, x, dout, N);
    CU_ASSERT(L1 == L0);
    CU_ASSERT(max_abs_diff(g, m->grads, m->n_params) == 0.0);
    nn_recurrent_model_set_lengths(m, NULL, 0);
    free(g);
    nn_model_destroy(m);
}

/* ---- clipping ---- */

static void test_clip(void)
{
    float g[2] = {3, 4};
    CU_ASSERT_DOUBLE_EQUAL(nn_clip_global_norm(g, 2, 10.0f), 5.0, 1e-6);
    CU_ASSERT(g[0] == 3.0f && g[1] == 4.0f); /* below: untouched */
    CU_ASSERT_DOUBLE_EQUAL(nn_clip_global_norm(g, 2, 1.0f), 5.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(g[0], 0.6, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(g[1], 0.8, 1e-7);

    enum { N = 100003 };
    float *v = cu_rand_floats(N, 9, -3.0, 3.0);
    float *orig = nn_xalloc_floats(N);
    memcpy(orig, v, N * sizeof *v);
    double ss = 0.0;
    for (size_t i = 0; i < N; i++) ss += (double)v[i] * v[i];
    double want = sqrt(ss);
    float norm = nn_clip_global_norm(v, N, 0.0f); /* measure only */
    CU_ASSERT_DOUBLE_EQUAL(norm, want, want * 1e-6);
    CU_ASSERT(memcmp(v, orig, N * sizeof *v) == 0);
    CU_ASSERT(nn_clip_global_norm(v, N, (float)want * 2) == norm);
    CU_ASSERT(memcmp(v, orig, N * sizeof *v) == 0);
    float got = nn_clip_global_norm(v, N, 2.5f);
    CU_ASSERT_DOUBLE_EQUAL(got, want, want * 1e-6);
    double after = 0.0;
    for (size_t i = 0; i < N; i++) after += (double)v[i] * v[i];
    CU_ASSERT_DOUBLE_EQUAL(sqrt(after), 2.5, 1e-5);
    for (size_t i = 0; i < N; i += 997) /* same direction */
        CU_ASSERT_DOUBLE_EQUAL(v[i], orig[i] * 2.5 / want, 1e-6);
    /* A NaN norm is reported, nothing is scaled. */
    v[5] = NAN;
    memcpy(orig, v, N * sizeof *v);
    CU_ASSERT(isnan(nn_clip_global_norm(v, N, 1.0f)));
    CU_ASSERT(v[0] == orig[0] && v[N - 1] == orig[N - 1]);
    CU_ASSERT(nn_clip_global_norm(v, 0, 1.0f) == 0.0f);
    free(v);
    free(orig);
}

/* ---- an LSTM learns to recall the first token ---- */

/* Rows of T token ids: the first of K kinds, then distractors, padded
 * with NN_LABEL_NONE after a random length in [2, T]; the target is the
 * first token, to be given after the last valid step. */
static void recall_batch(nn_rng *r, float *x, float *t, size_t n, size_t T,
                         size_t K)
{
    for (size_t i = 0; i < n; i++) {
        size_t L = 2 + (size_t)nn_rng_below(r, T - 1);
        for (size_t s = 0; s < T; s++)
            x[i * T + s] = s < L ? (float)nn_rng_below(r, K) : NN_LABEL_NONE;
        t[i] = x[i * T];
    }
}

static void test_lstm_learns_recall(void)
{
    enum { T = 8, K = 4, B = 32, NV = 256, STEPS = 300 };
    static const layer_def defs[] = {
        {"embedding", {"vocab", "4", "dim", "8", NULL}},
        {"lstm", {"hidden", "16", "sequences", "false", NULL}},
        {"dense", {"units", "4", NULL}},
    };
    nn_model *m = model_from(defs, 3, nn_shape_1d(T));
    CU_ASSERT_FATAL(m != NULL);
    nn_model_init(m, 11);
    nn_model_reserve(m, NV);
    nn_optim_cfg cfg = {NN_OPT_ADAM, 0, 0, 0, 0, 0.9f, 0.999f, 1e-8f, 0};
    nn_optim *o = nn_optim_create(&cfg, m->n_params, m->segs, m->n_segs);
    const nn_loss_ops *ce = nn_loss_find("cross_entropy");
    float x[NV * T], t[NV], dout[B * K];
    uint32_t lens[NV];
    nn_loss_stats st;
    nn_rng r;
    nn_rng_seed(&r, 12);
    for (int step = 0; step < STEPS; step++) {
        recall_batch(&r, x, t, B, T, K);
        nn_recurrent_lengths(x, B, T, 1, NN_LABEL_NONE, lens);
        nn_recurrent_model_set_lengths(m, lens, B);
        nn_model_zero_grad(m);
        const float *y = nn_model_forward(m, x, B, NULL);
        ce->eval(y, t, B, K, 1.0f / B, dout, &st);
        nn_model_backward(m, x, dout, B);
        nn_clip_global_norm(m->grads, m->n_params, 5.0f);
        nn_optim_step(o, m->params, m->grads, 0.01f);
    }
    nn_rng_seed(&r, 13); /* held out: fresh sequences */
    recall_batch(&r, x, t, NV, T, K);
    nn_recurrent_lengths(x, NV, T, 1, NN_LABEL_NONE, lens);
    nn_recurrent_model_set_lengths(m, lens, NV);
    const float *y = nn_model_forward(m, x, NV, NULL);
    ce->eval(y, t, NV, K, 1.0f, NULL, &st);
    double acc = (double)st.correct / NV;
    if (acc < 0.95) fprintf(stderr, "\nrecall held-out accuracy %.3f\n", acc);
    CU_ASSERT(acc >= 0.95);
    nn_optim_destroy(o);
    nn_model_destroy(m);
}

/* Delayed copy: at every step t >= D the target is the token of step
 * t - D; the first D steps and the padded ones have no target. */
static void copy_batch(nn_rng *r, float *x, float *t, size_t n, size_t T,
                       size_t K, size_t D)
{
    for (size_t i = 0; i < n; i++) {
        size_t L = D + 1 + (size_t)nn_rng_below(r, T - D);
        for (size_t s = 0; s < T; s++) {
            x[i * T + s] = s < L ? (float)nn_rng_below(r, K) : NN_LABEL_NONE;
            t[i * T + s] = s < L && s >= D ? x[i * T + s - D] : NN_LABEL_NONE;
        }
    }
}

/* The same learning through a sequence output: lstm (sequences) and a
 * time-distributed dense, the loss over [n*T, V] rows. */
static void test_lstm_learns_delayed_copy(void)
{
    enum { T = 10, K = 4, D = 2, B = 32, NV = 128, STEPS = 300 };
    static const layer_def defs[] = {
        {"embedding", {"vocab", "4", "dim", "8", NULL}},
        {"lstm", {"hidden", "32", NULL}},
        {"dense", {"units", "4", "time_distributed", "true", NULL}},
    };
    nn_model *m = model_from(defs, 3, nn_shape_1d(T));
    CU_ASSERT_FATAL(m != NULL);
    nn_model_init(m, 21);
    nn_model_reserve(m, NV);
    nn_optim_cfg cfg = {NN_OPT_ADAM, 0, 0, 0, 0, 0.9f, 0.999f, 1e-8f, 0};
    nn_optim *o = nn_optim_create(&cfg, m->n_params, m->segs, m->n_segs);
    const nn_loss_ops *ce = nn_loss_find("cross_entropy");
    float x[NV * T], t[NV * T], dout[B * T * K];
    uint32_t lens[NV];
    nn_loss_stats st;
    nn_rng r;
    nn_rng_seed(&r, 22);
    for (int step = 0; step < STEPS; step++) {
        copy_batch(&r, x, t, B, T, K, D);
        nn_recurrent_lengths(x, B, T, 1, NN_LABEL_NONE, lens);
        nn_recurrent_model_set_lengths(m, lens, B);
        nn_model_zero_grad(m);
        const float *y = nn_model_forward(m, x, B, NULL);
        ce->eval(y, t, B * T, K, 1.0f, NULL, &st); /* count the steps */
        ce->eval(y, t, B * T, K, 1.0f / (float)st.counted, dout, &st);
        nn_model_backward(m, x, dout, B);
        nn_clip_global_norm(m->grads, m->n_params, 5.0f);
        nn_optim_step(o, m->params, m->grads, 0.01f);
    }
    nn_rng_seed(&r, 23);
    copy_batch(&r, x, t, NV, T, K, D);
    nn_recurrent_lengths(x, NV, T, 1, NN_LABEL_NONE, lens);
    nn_recurrent_model_set_lengths(m, lens, NV);
    const float *y = nn_model_forward(m, x, NV, NULL);
    ce->eval(y, t, NV * T, K, 1.0f, NULL, &st);
    double acc = (double)st.correct / (double)st.counted;
    if (acc < 0.95)
        fprintf(stderr, "\ndelayed copy held-out accuracy %.3f over %zu steps\n",
                acc, st.counted);
    CU_ASSERT(acc >= 0.95);
    nn_optim_destroy(o);
    nn_model_destroy(m);
}

/* The carried state of a model's stateful layers as rows (what a
 * checkpoint keeps): width counts h of the gru and h, c of the lstm, not
 * the stateless rnn or the activation; loading the rows saved after a first
 * chunk into a reset model makes the second chunk give the same outputs
 * as if it had followed the first. */
static void test_model_state_rows(void)
{
    enum { T = 3, F = 2, N = 3 };
    static const layer_def defs[] = {
        {"lstm", {"hidden", "4", "stateful", "true", NULL}},
        {"tanh", {NULL}},
        {"rnn", {"hidden", "3", "stateful", "false", NULL}},
        {"gru", {"hidden", "5", "stateful", "true", NULL}},
    };
    nn_model *m = model_from(defs, 4, nn_shape_2d(T, F));
    CU_ASSERT_FATAL(m != NULL);
    size_t width = nn_recurrent_model_state_width(m), out = N * T * 5;
    CU_ASSERT_EQUAL(width, 2 * 4 + 5);
    nn_model_init(m, 5);
    nn_model_reserve(m, N);
    float *c1 = cu_rand_floats(N * T * F, 6, -1, 1);
    float *c2 = cu_rand_floats(N * T * F, 7, -1, 1);
    float *y2 = nn_xalloc_floats(out), *y = nn_xalloc_floats(out);
    float *rows = nn_xalloc_floats(N * width), *back = nn_xalloc_floats(N * width);
    nn_pass pass = {0, 0, 0, NULL};
    nn_model_forward(m, c1, N, &pass);
    nn_recurrent_model_get_state(m, N, rows);
    CU_ASSERT(!all_zero(rows, N * width));
    memcpy(y2, nn_model_forward(m, c2, N, &pass), out * sizeof(float));
    nn_recurrent_model_reset_state(m);
    memcpy(y, nn_model_forward(m, c2, N, &pass), out * sizeof(float));
    CU_ASSERT(max_abs_diff(y, y2, out) > 1e-3); /* the state matters */
    nn_recurrent_model_reset_state(m);
    nn_recurrent_model_set_state(m, N, rows);
    nn_recurrent_model_get_state(m, N, back);
    CU_ASSERT(max_abs_diff(rows, back, N * width) == 0.0);
    memcpy(y, nn_model_forward(m, c2, N, &pass), out * sizeof(float));
    CU_ASSERT(max_abs_diff(y, y2, out) == 0.0);
    free(c1), free(c2), free(y2), free(y), free(rows), free(back);
    nn_model_destroy(m);
}

static const cu_test rec_tests[] = {
    {"forward against a double reference", test_forward_reference},
    {"rnn gradients through time", test_gradcheck_rnn},
    {"lstm gradients through time", test_gradcheck_lstm},
    {"gru gradients through time", test_gradcheck_gru},
    {"checker sees a missing time path", test_checker_sees_missing_bptt},
    {"padded batch = sequences one by one", test_padded_batch_equals_single},
    {"lengths from padded input", test_lengths_from_padding},
    {"lengths are checked", test_lengths_checked},
    {"stateful chunks = one sequence", test_stateful_carries_state},
    {"stateful with padded chunk", test_stateful_with_lengths},
    {"stateful gradient is cut at the chunk", test_stateful_gradient_cut},
    {"stateful model's state as rows", test_model_state_rows},
    {"set-up errors, shapes, counts", test_setup_errors},
    {NULL, NULL},
};

static const cu_test other_tests[] = {
    {"embedding values and scatter", test_embedding_values},
    {"embedding gradcheck", test_embedding_gradcheck},
    {"embedding bad id is fatal", test_embedding_bad_id_is_fatal},
    {"time-distributed dense", test_time_distributed_dense},
    {"sequence loss over [n*T, V]", test_sequence_loss},
    {"global-norm clipping", test_clip},
    {NULL, NULL},
};

static const cu_test learn_tests[] = {
    {"lstm learns to recall the first token", test_lstm_learns_recall},
    {"lstm learns a delayed copy per step", test_lstm_learns_delayed_copy},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"recurrent layers", rec_tests},
    {"embedding, time-distributed, loss, clip", other_tests},
    {"learning", learn_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_rnn", suites);
}

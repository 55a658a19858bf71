/* nn/loss.c - mse, cross_entropy (softmax fused), bce (sigmoid fused)
 * (see nn/loss.h). Sums are kept in double; per-row work in float. */
#include "nn/loss.h"

#include <math.h>   /* expf, logf, log1pf, fabsf */
#include <string.h> /* strcmp, memset */

#include "nn/check.h"

static size_t width_one(size_t dim)
{
    (void)dim;
    return 1;
}

static size_t width_dim(size_t dim)
{
    return dim;
}

static void stats_reset(nn_loss_stats *st)
{
    if (!st) return;
    st->sum = 0.0;
    st->counted = 0;
    st->correct = 0;
}

/* Mean squared error: per-sample L = (1/dim) sum_j (p_j - t_j)^2,
 * dL/dp_j = 2 (p_j - t_j) / dim. */
static void mse_eval(const float *pred, const float *target, size_t n,
                     size_t dim, float scale, float *dpred, nn_loss_stats *st)
{
    double total = 0.0;
    float g = 2.0f * scale / (float)dim;
    for (size_t i = 0; i < n; i++) {
        const float *p = pred + i * dim, *t = target + i * dim;
        double row = 0.0;
        for (size_t j = 0; j < dim; j++) {
            float e = p[j] - t[j];
            row += (double)e * e;
            if (dpred) dpred[i * dim + j] = g * e;
        }
        total += row / (double)dim;
    }
    stats_reset(st);
    if (st) {
        st->sum = total;
        st->counted = n;
    }
}

/* Index of the first largest value of v[0..d). */
static size_t argmax(const float *v, size_t d)
{
    size_t best = 0;
    for (size_t j = 1; j < d; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* Cross entropy on logits z with label c: L = logsumexp(z) - z_c, computed
 * as log(sum exp(z - max)) - (z_c - max) so no exp overflows;
 * dL/dz = softmax(z) - onehot(c). */
static void ce_eval(const float *pred, const float *target, size_t n,
                    size_t dim, float scale, float *dpred, nn_loss_stats *st)
{
    stats_reset(st);
    double total = 0.0;
    size_t counted = 0, correct = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = pred + i * dim;
        float *dz = dpred ? dpred + i * dim : NULL;
        float label = target[i];
        if (label == NN_LABEL_NONE) {
            if (dz) memset(dz, 0, dim * sizeof *dz);
            continue;
        }
        NN_CHECK(label >= 0.0f && label < (float)dim && label == (float)(size_t)label,
                 "cross_entropy: label %g outside [0, %zu)", (double)label, dim);
        size_t c = (size_t)label;
        size_t am = argmax(z, dim);
        float mx = z[am], zc = z[c]; /* read before dz is written */
        float sum = 0.0f;
        if (dz) { /* keep the exponentials in dz: one expf per entry */
            for (size_t j = 0; j < dim; j++) sum += dz[j] = expf(z[j] - mx);
            float inv = scale / sum;
            for (size_t j = 0; j < dim; j++) dz[j] *= inv;
            dz[c] -= scale;
        } else {
            for (size_t j = 0; j < dim; j++) sum += expf(z[j] - mx);
        }
        total += (double)logf(sum) - (double)(zc - mx);
        counted++;
        correct += am == c;
    }
    if (st) {
        st->sum = total;
        st->counted = counted;
        st->correct = correct;
    }
}

/* Binary cross entropy on logits z with targets t in [0,1], per element
 * max(z,0) - z t + log(1 + e^-|z|) (= -t log s - (1-t) log(1-s) with
 * s = sigmoid(z), never taking the log of 0); per-sample L is the mean over
 * dim; dL/dz = (s - t) / dim. A row is correct when every (z > 0) agrees
 * with (t >= 0.5). */
static void bce_eval(const float *pred, const float *target, size_t n,
                     size_t dim, float scale, float *dpred, nn_loss_stats *st)
{
    stats_reset(st);
    double total = 0.0;
    size_t correct = 0;
    float g = scale / (float)dim;
    for (size_t i = 0; i < n; i++) {
        const float *z = pred + i * dim, *t = target + i * dim;
        double row = 0.0;
        int ok = 1;
        for (size_t j = 0; j < dim; j++) {
            float zj = z[j], tj = t[j];
            float e = expf(-fabsf(zj)); /* in (0, 1] */
            row += (double)((zj > 0.0f ? zj : 0.0f) - zj * tj + log1pf(e));
            ok &= (zj > 0.0f) == (tj >= 0.5f);
            if (dpred) {
                float s = zj >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
                dpred[i * dim + j] = g * (s - tj);
            }
        }
        total += row / (double)dim;
        correct += (size_t)ok;
    }
    if (st) {
        st->sum = total;
        st->counted = n;
        st->correct = correct;
    }
}

static const nn_loss_ops mse_ops = {"mse", 0, width_dim, mse_eval};
static const nn_loss_ops ce_ops = {"cross_entropy", 1, width_one, ce_eval};
static const nn_loss_ops bce_ops = {"bce", 0, width_dim, bce_eval};

static const nn_loss_ops *const losses[] = {&mse_ops, &ce_ops, &bce_ops};

const nn_loss_ops *nn_loss_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof losses / sizeof losses[0]; i++)
        if (strcmp(losses[i]->name, name) == 0) return losses[i];
    return NULL;
}

const char *nn_loss_names(void)
{
    return "mse, cross_entropy, bce";
}

void nn_softmax_rows(const float *logits, float *probs, size_t n, size_t dim)
{
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * dim;
        float *p = probs + i * dim;
        float mx = z[argmax(z, dim)];
        float sum = 0.0f;
        for (size_t j = 0; j < dim; j++) {
            p[j] = expf(z[j] - mx); /* reads z[j] before writing p[j]: alias-safe */
            sum += p[j];
        }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < dim; j++) p[j] *= inv;
    }
}

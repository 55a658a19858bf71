/* nn/batchnorm.c - batch normalisation, per channel of [C, H, W] inputs
 * (statistics over n*H*W values) or per feature of [F] inputs (over n).
 *
 * With channel c's values x (N = n*H*W of them):
 *     training: mu = mean(x), var = mean((x - mu)^2)  (biased, as used
 *               for normalising), and the running estimates move as
 *               running = (1 - momentum)*running + momentum*batch, with the
 *               UNBIASED var * N/(N-1) for running_var (PyTorch convention);
 *     eval:     mu = running_mean, var = running_var;
 *     y = gamma * xhat + beta,  xhat = (x - mu) / sqrt(var + eps).
 * Parameters: gamma (init 1), beta (init 0), no weight decay; running_mean
 * (init 0) and running_var (init 1) are NN_PARAM_BUFFER tensors: saved in
 * checkpoints, skipped by the optimizer, their gradients stay zero.
 *
 * Backward, training mode (mu and var depend on x), with g = dy:
 *     dbeta  += sum g,  dgamma += sum g*xhat,
 *     dx = gamma/sqrt(var + eps) * (g - sum(g)/N - xhat * sum(g*xhat)/N);
 * eval mode (constant statistics): dx = gamma/sqrt(var + eps) * g.
 *
 * Data-parallel training: each rank normalises over its LOCAL rows only
 * (no cross-rank synchronisation inside the step), so the forward depends
 * on how a batch is split. The running statistics drift apart per rank;
 * the trainer averages them across ranks (it, not this layer, does that)
 * so that evaluation and checkpoints see one set.
 */
#include <math.h>   /* sqrt */
#include <stdlib.h> /* free */
#include <string.h> /* memset */

#include "nn/check.h"
#include "nn/layer.h"

enum { BN_GAMMA = 0, BN_BETA = 1, BN_RMEAN = 2, BN_RVAR = 3 };

typedef struct bn_priv {
    size_t C, HW;     /* channels and values per channel per row */
    double momentum, eps;
    double *mean;     /* [C] statistics used by the last forward */
    double *invstd;   /* [C] 1/sqrt(var + eps) of the last forward */
    double *acc;      /* [2C] scratch sums for backward */
    int trained;      /* last forward used batch statistics */
} bn_priv;

static int bn_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    double momentum, eps;
    int rc;
    if ((rc = nn_spec_float(spec, "momentum", 0, 0.1, 0.0, 1.0, &momentum,
                            err)) != 0 ||
        (rc = nn_spec_float(spec, "eps", 0, 1e-5, 0.0, 1.0, &eps, err)) != 0)
        return rc;
    char in[64];
    nn_shape_str(l->in, in, sizeof in);
    if ((l->in.ndim != 1 && l->in.ndim != 3) || nn_shape_size(l->in) == 0)
        return nn_spec_error(spec, NULL, err,
                             "needs a non-empty input [F] or [C, H, W], got %s",
                             in);
    bn_priv *p = nn_xcalloc(1, sizeof *p);
    p->C = l->in.dim[0];
    p->HW = l->in.ndim == 3 ? l->in.dim[1] * l->in.dim[2] : 1;
    p->momentum = momentum;
    p->eps = eps;
    p->mean = nn_xcalloc(p->C, sizeof *p->mean);
    p->invstd = nn_xcalloc(p->C, sizeof *p->invstd);
    p->acc = nn_xcalloc(2 * p->C, sizeof *p->acc);
    l->out = l->in;
    nn_layer_add_param(l, "gamma", p->C, 0);
    nn_layer_add_param(l, "beta", p->C, 0);
    nn_layer_add_param(l, "running_mean", p->C, NN_PARAM_BUFFER);
    nn_layer_add_param(l, "running_var", p->C, NN_PARAM_BUFFER);
    l->priv = p;
    return 0;
}

static void bn_init(nn_layer *l, nn_rng *rng)
{
    (void)rng;
    const bn_priv *p = l->priv;
    float *gamma = nn_layer_tensor(l, BN_GAMMA);
    float *rvar = nn_layer_tensor(l, BN_RVAR);
    memset(nn_layer_tensor(l, BN_BETA), 0, p->C * sizeof(float));
    memset(nn_layer_tensor(l, BN_RMEAN), 0, p->C * sizeof(float));
    for (size_t c = 0; c < p->C; c++) gamma[c] = rvar[c] = 1.0f;
}

/* Batch mean and biased variance per channel of x[n, C, HW] (two passes,
 * in double) into p->mean and p->invstd; updates the running estimates. */
static void bn_batch_stats(nn_layer *l, const float *x, size_t n)
{
    bn_priv *p = l->priv;
    double count = (double)(n * p->HW);
    double *sq = p->acc;
    memset(p->mean, 0, p->C * sizeof *p->mean);
    memset(sq, 0, p->C * sizeof *sq);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < p->C; c++) {
            const float *v = x + (i * p->C + c) * p->HW;
            double s = 0.0;
            for (size_t q = 0; q < p->HW; q++) s += v[q];
            p->mean[c] += s;
        }
    for (size_t c = 0; c < p->C; c++) p->mean[c] /= count;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < p->C; c++) {
            const float *v = x + (i * p->C + c) * p->HW;
            double s = 0.0;
            for (size_t q = 0; q < p->HW; q++) {
                double d = v[q] - p->mean[c];
                s += d * d;
            }
            sq[c] += s;
        }
    float *rmean = nn_layer_tensor(l, BN_RMEAN);
    float *rvar = nn_layer_tensor(l, BN_RVAR);
    double m = p->momentum;
    for (size_t c = 0; c < p->C; c++) {
        double var = sq[c] / count;
        double unbiased = count > 1.0 ? sq[c] / (count - 1.0) : var;
        p->invstd[c] = 1.0 / sqrt(var + p->eps);
        rmean[c] = (float)((1.0 - m) * rmean[c] + m * p->mean[c]);
        rvar[c] = (float)((1.0 - m) * rvar[c] + m * unbiased);
    }
}

/* Eval mode: the running estimates as the statistics. */
static void bn_running_stats(nn_layer *l)
{
    bn_priv *p = l->priv;
    const float *rmean = nn_layer_tensor(l, BN_RMEAN);
    const float *rvar = nn_layer_tensor(l, BN_RVAR);
    for (size_t c = 0; c < p->C; c++) {
        p->mean[c] = rmean[c];
        p->invstd[c] = 1.0 / sqrt((double)rvar[c] + p->eps);
    }
}

static void bn_forward(nn_layer *l, const float *x, float *y, size_t n,
                       const nn_pass *pass)
{
    bn_priv *p = l->priv;
    p->trained = pass && pass->training;
    if (n == 0) return; /* no statistics from an empty batch */
    if (p->trained)
        bn_batch_stats(l, x, n);
    else
        bn_running_stats(l);
    const float *gamma = nn_layer_tensor(l, BN_GAMMA);
    const float *beta = nn_layer_tensor(l, BN_BETA);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < p->C; c++) {
            /* y = a*x + b with a = gamma*invstd, b = beta - a*mean */
            double a = gamma[c] * p->invstd[c];
            float af = (float)a, bf = (float)(beta[c] - a * p->mean[c]);
            size_t off = (i * p->C + c) * p->HW;
            for (size_t q = 0; q < p->HW; q++) y[off + q] = af * x[off + q] + bf;
        }
}

static void bn_backward(nn_layer *l, const float *x, const float *y,
                        const float *dy, float *dx, size_t n)
{
    (void)y;
    bn_priv *p = l->priv;
    double *sg = p->acc, *sgx = p->acc + p->C; /* sum g, sum g*xhat */
    memset(p->acc, 0, 2 * p->C * sizeof *p->acc);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < p->C; c++) {
            size_t off = (i * p->C + c) * p->HW;
            double s = 0.0, sx = 0.0;
            for (size_t q = 0; q < p->HW; q++) {
                double xhat = (x[off + q] - p->mean[c]) * p->invstd[c];
                s += dy[off + q];
                sx += dy[off + q] * xhat;
            }
            sg[c] += s;
            sgx[c] += sx;
        }
    float *dgamma = nn_layer_grad_tensor(l, BN_GAMMA);
    float *dbeta = nn_layer_grad_tensor(l, BN_BETA);
    for (size_t c = 0; c < p->C; c++) {
        dgamma[c] += (float)sgx[c];
        dbeta[c] += (float)sg[c];
    }
    if (!dx) return;
    const float *gamma = nn_layer_tensor(l, BN_GAMMA);
    double count = (double)(n * p->HW);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < p->C; c++) {
            size_t off = (i * p->C + c) * p->HW;
            double a = gamma[c] * p->invstd[c];
            double mg = p->trained ? sg[c] / count : 0.0;
            double mgx = p->trained ? sgx[c] / count : 0.0;
            for (size_t q = 0; q < p->HW; q++) {
                double xhat = (x[off + q] - p->mean[c]) * p->invstd[c];
                dx[off + q] = (float)(a * (dy[off + q] - mg - xhat * mgx));
            }
        }
}

static void bn_destroy(nn_layer *l)
{
    bn_priv *p = l->priv;
    if (p) {
        free(p->mean);
        free(p->invstd);
        free(p->acc);
    }
    free(p);
    l->priv = NULL;
}

static void bn_attrs(const nn_layer *l, nn_layer_attrs *a)
{
    a->eps = ((const bn_priv *)l->priv)->eps;
}

const nn_layer_ops nn_batchnorm_ops = {
    .type = "batchnorm",
    .create = bn_create,
    .init = bn_init,
    .reserve = NULL,
    .forward = bn_forward,
    .backward = bn_backward,
    .destroy = bn_destroy,
    .attrs = bn_attrs,
};

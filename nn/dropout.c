/* nn/dropout.c - inverted dropout with a counter-based mask.
 *
 * Training mode: unit j of row i is kept when
 *     u = nn_hash_uniform(pass->seed ^ key, pass->step, id_i * width + j)
 * satisfies u >= rate, and a kept unit is scaled by 1/(1 - rate), so the
 * expected output equals the input and eval mode is the identity.
 * id_i is the row's global sample id (pass->ids[i]), or the row index i when
 * pass->ids is NULL. The mask therefore depends on (seed, step, sample,
 * unit) only - not on which rank, or which row of a batch, holds the sample
 * - which is what makes a data-parallel run match a one-rank run.
 * key = DROPOUT_SALT ^ FNV-1a(layer name), so two dropout layers of one
 * model draw independent masks.
 *
 * The mask of the last forward (one byte per unit, per-row state sized by
 * reserve) is kept for backward: dx = dy * mask / (1 - rate).
 */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, strlen */

#include "nn/check.h"
#include "nn/layer.h"
#include "nn/rng.h"

#define DROPOUT_SALT 0x64726f706f75742aULL /* "dropout*" */

typedef struct dropout_priv {
    double rate;
    float scale;         /* 1 / (1 - rate) */
    uint64_t key;
    unsigned char *mask; /* [cap, width]: 1 = kept */
    size_t cap;
    int trained;         /* last forward was in training mode */
} dropout_priv;

static int dropout_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    double rate;
    int rc = nn_spec_float(spec, "rate", 0, 0.5, 0.0, 1.0, &rate, err);
    if (rc != 0) return rc;
    if (rate >= 1.0)
        return nn_spec_error(spec, "rate", err, "%g must be below 1", rate);
    l->out = l->in;
    dropout_priv *p = nn_xcalloc(1, sizeof *p);
    p->rate = rate;
    p->scale = (float)(1.0 / (1.0 - rate));
    p->key = DROPOUT_SALT ^ nn_fnv1a(l->name, strlen(l->name), NN_FNV_INIT);
    l->priv = p;
    return 0;
}

static void dropout_reserve(nn_layer *l, size_t rows)
{
    dropout_priv *p = l->priv;
    if (rows <= p->cap) return;
    free(p->mask);
    p->mask = nn_xcalloc(rows, nn_shape_size(l->in));
    p->cap = rows;
}

static void dropout_forward(nn_layer *l, const float *x, float *y, size_t n,
                            const nn_pass *pass)
{
    dropout_priv *p = l->priv;
    size_t width = nn_shape_size(l->in);
    p->trained = pass && pass->training;
    if (!p->trained) {
        if (x != y) memcpy(y, x, n * width * sizeof *y);
        return;
    }
    NN_CHECK(n <= p->cap, "%s: %zu rows but only %zu reserved", l->name, n,
             p->cap);
    uint64_t seed = pass->seed ^ p->key;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = pass->ids ? pass->ids[i] : (uint64_t)i;
        unsigned char *m = p->mask + i * width;
        for (size_t j = 0; j < width; j++) {
            double u = nn_hash_uniform(seed, pass->step, id * width + j);
            m[j] = u >= p->rate;
            y[i * width + j] = m[j] ? x[i * width + j] * p->scale : 0.0f;
        }
    }
}

static void dropout_backward(nn_layer *l, const float *x, const float *y,
                             const float *dy, float *dx, size_t n)
{
    (void)x, (void)y;
    const dropout_priv *p = l->priv;
    size_t count = n * nn_shape_size(l->in);
    if (!dx) return;
    if (!p->trained) {
        if (dx != dy) memcpy(dx, dy, count * sizeof *dx);
        return;
    }
    for (size_t k = 0; k < count; k++)
        dx[k] = p->mask[k] ? dy[k] * p->scale : 0.0f;
}

static void dropout_destroy(nn_layer *l)
{
    dropout_priv *p = l->priv;
    if (p) free(p->mask);
    free(p);
    l->priv = NULL;
}

const nn_layer_ops nn_dropout_ops = {
    .type = "dropout",
    .create = dropout_create,
    .init = NULL,
    .reserve = dropout_reserve,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
};

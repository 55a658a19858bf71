/* nn/embedding.c - token ids to learned vectors (YAML type `embedding`).
 *
 * Keys: vocab (required, <= 2^24 so every id is exact as a float), dim
 * (required), init: xavier|he|zeros|normal (xavier, fans vocab -> dim).
 * Input: token ids stored as floats; any input shape is taken as a flat
 * sequence of T = nn_shape_size(l->in) ids. Output [T, dim]: step t is row
 * id_t of the weight W[vocab, dim] (decayed).
 * An id is rounded to the nearest integer. NN_LABEL_NONE (-1) is padding:
 * a zero vector that receives no gradient. Any other id outside
 * [0, vocab) is a broken invariant (the data loader validates ids): a
 * fatal NN_CHECK. Backward scatters dy into the rows of dW; ids are not
 * differentiable, so dx (if asked for) is zeros.
 */
#include <limits.h> /* INT_MAX */
#include <math.h>   /* floorf, isfinite */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, memset */

#include "nn/check.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/loss.h"

#define EMBED_MAX_VOCAB ((size_t)1 << 24)

typedef struct embed_priv {
    size_t T, vocab, dim;
    nn_init_kind init;
} embed_priv;

static int embed_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    size_t vocab, dim;
    int init;
    int rc = nn_spec_size(spec, "vocab", 1, 0, 1, EMBED_MAX_VOCAB, &vocab, err);
    if (rc == 0)
        rc = nn_spec_size(spec, "dim", 1, 0, 1, (size_t)INT_MAX, &dim, err);
    if (rc == 0) rc = nn_spec_enum(spec, "init", nn_init_names, NN_INIT_XAVIER,
                                   &init, err);
    if (rc) return rc;
    embed_priv *p = nn_xmalloc(sizeof *p);
    p->T = nn_shape_size(l->in);
    p->vocab = vocab;
    p->dim = dim;
    p->init = (nn_init_kind)init;
    l->priv = p;
    l->out = nn_shape_2d(p->T, dim);
    nn_layer_add_param(l, "weight", vocab * dim, NN_PARAM_DECAY);
    return 0;
}

static void embed_init(nn_layer *l, nn_rng *rng)
{
    const embed_priv *p = l->priv;
    nn_init_fill(l->param, p->vocab * p->dim, p->vocab, p->dim, p->init, rng);
}

/* Row of W for the id v, or -1 for padding. */
static long token_row(const nn_layer *l, float v)
{
    const embed_priv *p = l->priv;
    float r = floorf(v + 0.5f);
    if (r == NN_LABEL_NONE) return -1;
    NN_CHECK(isfinite(v) && r >= 0.0f && r < (float)p->vocab,
             "%s: token id %g outside [0, %zu) and not padding (%g)", l->name,
             (double)v, p->vocab, (double)NN_LABEL_NONE);
    return (long)r;
}

/* x[n, T] ids -> y[n, T, dim]. */
static void embed_forward(nn_layer *l, const float *x, float *y, size_t n,
                          const nn_pass *pass)
{
    (void)pass;
    const embed_priv *p = l->priv;
    size_t D = p->dim;
    for (size_t k = 0; k < n * p->T; k++) {
        long row = token_row(l, x[k]);
        if (row < 0)
            memset(y + k * D, 0, D * sizeof *y);
        else
            memcpy(y + k * D, l->param + (size_t)row * D, D * sizeof *y);
    }
}

/* dW[id] += dy of every step reading row id; dx = 0. */
static void embed_backward(nn_layer *l, const float *x, const float *y,
                           const float *dy, float *dx, size_t n)
{
    (void)y;
    const embed_priv *p = l->priv;
    size_t D = p->dim;
    for (size_t k = 0; k < n * p->T; k++) {
        long row = token_row(l, x[k]);
        if (row < 0) continue;
        float *g = l->grad + (size_t)row * D;
        const float *d = dy + k * D;
        for (size_t j = 0; j < D; j++) g[j] += d[j];
    }
    if (dx) memset(dx, 0, n * p->T * sizeof *dx);
}

static void embed_destroy(nn_layer *l)
{
    free(l->priv);
    l->priv = NULL;
}

const nn_layer_ops nn_embedding_ops = {
    .type = "embedding",
    .create = embed_create,
    .init = embed_init,
    .reserve = NULL,
    .forward = embed_forward,
    .backward = embed_backward,
    .destroy = embed_destroy,
};

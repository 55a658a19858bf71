/* nn/position_embedding.c - a learned vector per sequence position, added
 * to the input (YAML type `position_embedding`), as GPT-2's wpe.
 *
 * Key: init: xavier|he|zeros|normal (normal: N(0, 0.02^2), GPT-2's).
 * Input a sequence [T, C] (e.g. an embedding layer's output); output
 * [T, C]: y[t] = x[t] + P[t] for every row. Parameter: weight P[T, C],
 * decayed like the token embedding's table. Backward: dP += the sum of dy
 * over rows, dx = dy. No state, no scratch.
 */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy */

#include "nn/check.h"
#include "nn/init.h"
#include "nn/layers.h"

typedef struct pos_priv {
    size_t T, C;
    nn_init_kind init;
} pos_priv;

static int pos_create(nn_layer *l, nn_spec *spec, nn_error *err)
{
    int init;
    int rc = nn_spec_enum(spec, "init", nn_init_names, NN_INIT_NORMAL, &init,
                          err);
    if (rc) return rc;
    char b[64];
    if (l->in.ndim != 2)
        return nn_spec_error(spec, NULL, err, "needs a sequence input [T, C], "
                             "got %s (token ids [T] go through an embedding "
                             "layer first)", nn_shape_str(l->in, b, sizeof b));
    pos_priv *p = nn_xmalloc(sizeof *p);
    p->T = l->in.dim[0];
    p->C = l->in.dim[1];
    p->init = (nn_init_kind)init;
    l->priv = p;
    l->out = l->in;
    nn_layer_add_param(l, "weight", p->T * p->C, NN_PARAM_DECAY);
    return 0;
}

static void pos_init(nn_layer *l, nn_rng *rng)
{
    const pos_priv *p = l->priv;
    nn_init_fill(l->param, p->T * p->C, p->T, p->C, p->init, rng);
}

/* x, y [n, T*C]: y = x + P, P broadcast over rows. */
static void pos_forward(nn_layer *l, const float *x, float *y, size_t n,
                        const nn_pass *pass)
{
    (void)pass;
    const pos_priv *p = l->priv;
    size_t w = p->T * p->C;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w; j++) y[i * w + j] = x[i * w + j] + l->param[j];
}

static void pos_backward(nn_layer *l, const float *x, const float *y,
                         const float *dy, float *dx, size_t n)
{
    (void)x;
    (void)y;
    const pos_priv *p = l->priv;
    size_t w = p->T * p->C;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w; j++) l->grad[j] += dy[i * w + j];
    if (dx) memcpy(dx, dy, n * w * sizeof *dx);
}

static void pos_destroy(nn_layer *l)
{
    free(l->priv);
    l->priv = NULL;
}

const nn_layer_ops nn_position_embedding_ops = {
    .type = "position_embedding",
    .create = pos_create,
    .init = pos_init,
    .reserve = NULL,
    .forward = pos_forward,
    .backward = pos_backward,
    .destroy = pos_destroy,
};

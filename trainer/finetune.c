/* trainer/finetune.c - starting from another run's weights.
 *
 * model.init_from names a checkpoint; model.init_layers the layers to copy
 * (default: every layer whose name both models have). The source model is
 * rebuilt from the config text and input shape stored in that checkpoint,
 * so layers are matched by name, not by position, and a layer whose type
 * or tensor sizes differ is an error naming it. Rank 0 does the copying;
 * the parameters are then broadcast. Layers with `trainable: false` stay
 * frozen until model.unfreeze_epoch (if set).
 */
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"
#include "nn/check.h"
#include "trainer/objective.h"
#include "trainer/session.h"

/* Is `name` in the comma-separated list? */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* Copy layer `src` into `dst` (same type, same tensor sizes). */
static int copy_layer(tr_session *s, const nn_layer *src, nn_layer *dst)
{
    int same = !strcmp(src->ops->type, dst->ops->type) &&
               src->n_views == dst->n_views;
    for (size_t v = 0; same && v < src->n_views; v++)
        same = src->views[v].count == dst->views[v].count;
    if (!same) {
        char a[64], b[64];
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: model.init_from: layer '%s' does not match: "
                            "checkpoint has %s %s -> %s (%zu parameters), the "
                            "config %s %s -> %s (%zu parameters)",
                            s->opt->config, dst->name, src->ops->type,
                            nn_shape_str(src->in, a, sizeof a),
                            nn_shape_str(src->out, b, sizeof b), src->n_params,
                            dst->ops->type, nn_shape_str(dst->in, a, sizeof a),
                            nn_shape_str(dst->out, b, sizeof b), dst->n_params);
    }
    memcpy(dst->param, src->param, src->n_params * sizeof(float));
    return 0;
}

/* Rank 0: load the source checkpoint and copy the chosen layers. */
static int copy_from(tr_session *s, nn_model *m, size_t *copied)
{
    const char *path = s->cfg.init_from, *list = s->cfg.init_layers;
    io_ckpt c = {0};
    io_config src_cfg = {0};
    nn_model *src = NULL;
    int st = io_ckpt_read(path, &c, &s->err);
    if (st) return st;
    st = tr_ckpt_config(&c, path, &src_cfg, &s->err);
    if (!st && !src_cfg.model_layers.n)
        st = nn_error_set(&s->err, NN_EXIT_USAGE,
                          "%s: model.init_from: %s is a checkpoint of "
                          "objective %s; fine-tuning starts from a model "
                          "trained with a model.layers config",
                          s->opt->config, path, tr_objective_of(&src_cfg));
    if (!st) st = tr_ckpt_model(&c, path, "model", src_cfg.layers,
                                src_cfg.n_layers, &src, &s->err);
    for (size_t i = 0; !st && i < m->n_layers; i++) {
        nn_layer *dst = &m->layers[i];
        long j = nn_model_find_layer(src, dst->name);
        if (!dst->n_params || (list && !listed(list, dst->name))) continue;
        if (j < 0) {
            if (list)
                st = nn_error_set(&s->err, NN_EXIT_USAGE,
                                  "%s: model.init_layers: '%s' is not a layer "
                                  "of %s",
                                  s->opt->config, dst->name, path);
            continue;
        }
        if (!(st = copy_layer(s, &src->layers[j], dst))) (*copied)++;
    }
    /* every listed name must be a layer of this model */
    for (const char *p = list; !st && p && *p;) {
        const char *e = strchr(p, ',');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
        if (nn_model_find_layer(m, name) < 0)
            st = nn_error_set(&s->err, NN_EXIT_USAGE,
                              "%s: model.init_layers: '%s' is not a layer of "
                              "this model",
                              s->opt->config, name);
        p = e ? e + 1 : NULL;
    }
    if (!st && *copied == 0)
        st = nn_error_set(&s->err, NN_EXIT_USAGE,
                          "%s: model.init_from: no layer of %s matches by name",
                          s->opt->config, path);
    if (src) nn_model_destroy(src);
    io_config_free(&src_cfg);
    io_ckpt_free(&c);
    return st;
}

int tr_init_from(tr_session *s, nn_model *m)
{
    if (!s->cfg.init_from) return 0;
    size_t copied = 0;
    int st = s->rank == 0 ? copy_from(s, m, &copied) : 0;
    if ((st = tr_agree(s, st))) return st;
    if (comm_bcast_bytes(s->comm, m->params, m->n_params * sizeof(float), 0))
        return NN_EXIT_OTHER;
    tr_say(s, "initialised %zu layer(s) from %s\n", copied, s->cfg.init_from);
    return 0;
}

size_t tr_unfreeze(tr_session *s, nn_model *m, uint64_t epoch)
{
    size_t e = s->cfg.unfreeze_epoch, n = 0;
    if (!e || epoch + 1 < e) return 0;
    for (size_t i = 0; i < m->n_layers; i++)
        if (!m->layers[i].trainable) {
            m->layers[i].trainable = 1;
            n++;
        }
    if (n)
        for (size_t i = 0; i < m->n_segs; i++) m->segs[i].trainable = 1;
    return n;
}

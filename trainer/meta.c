/* trainer/meta.c - the checkpoint sections that describe a run's model
 * for use without its training data (docs/CHECKPOINT.md):
 *   "config"       the config text the run read
 *   "overrides"    its --set KEY=VALUE strings, each NUL-terminated
 *   "input_shape"  u64 ndim, then ndim u64 dims (the model's input)
 *   "norm_mean", "norm_std"  f64 per input feature (standardize)
 *   "vocab"        text data: the byte of token id i at offset i
 * The host is little-endian (io/ckpt.c's encoders check the layout of
 * everything they write; these records are stored with memcpy). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "trainer/objective.h"
#include "trainer/run.h"

void tr_ckpt_add_meta(const tr_session *s, io_ckpt *c, const uint64_t *shape,
                      size_t shape_len)
{
    io_ckpt_add(c, "config", s->cfg.text, s->cfg.text_len, 0);
    io_ckpt_add(c, "input_shape", shape, shape_len, 0);
    if (s->norm_mean) {
        size_t w = s->train.x_width * sizeof(double);
        io_ckpt_add(c, "norm_mean", s->norm_mean, w, 0);
        io_ckpt_add(c, "norm_std", s->norm_std, w, 0);
    }
    if (s->vocab) io_ckpt_add(c, "vocab", s->vocab, s->vocab_len, 0);
}

int tr_ckpt_shape(io_ckpt *c, const char *path, nn_shape *s, nn_error *err)
{
    io_ckpt_section *sec = io_ckpt_find(c, "input_shape");
    uint64_t v[1 + NN_MAX_DIMS];
    size_t n = sec ? sec->len : 0;
    int ok = sec && n >= 8 && n <= sizeof v && n % 8 == 0;
    if (ok) {
        memcpy(v, sec->data, n);
        ok = v[0] >= 1 && v[0] <= NN_MAX_DIMS && n == (1 + v[0]) * 8;
    }
    for (size_t i = 0; ok && i < v[0]; i++) ok = v[1 + i] > 0;
    if (!ok)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: section 'input_shape': %s", path,
                            sec ? "malformed" : "missing from the checkpoint");
    memset(s, 0, sizeof *s);
    s->ndim = (size_t)v[0];
    for (size_t i = 0; i < s->ndim; i++) s->dim[i] = (size_t)v[1 + i];
    return 0;
}

int tr_ckpt_config(io_ckpt *c, const char *path, io_config *cfg, nn_error *err)
{
    char label[4096];
    const void *text;
    size_t tlen = 0, n = 0;
    memset(cfg, 0, sizeof *cfg);
    int st = io_ckpt_need(c, path, "config", SIZE_MAX, &text, &tlen, err);
    if (st) return st;
    snprintf(label, sizeof label, "%s (stored config)", path);
    /* split the NUL-terminated override strings */
    char *buf = NULL, **sets = NULL;
    io_ckpt_section *o = io_ckpt_find(c, "overrides");
    if (o && o->len && ((const char *)o->data)[o->len - 1] == '\0') {
        buf = nn_xmalloc(o->len);
        memcpy(buf, o->data, o->len);
        for (size_t i = 0; i < o->len; i++) n += buf[i] == '\0';
        sets = nn_xcalloc(n, sizeof *sets);
        for (size_t i = 0, k = 0; k < n; i += strlen(buf + i) + 1)
            sets[k++] = buf + i;
    }
    char *z = nn_xmalloc(tlen + 1);
    memcpy(z, text, tlen);
    z[tlen] = '\0';
    st = tr_config_parse(cfg, label, z, tlen, sets, n, err);
    free(z);
    free(sets);
    free(buf);
    return st;
}

int tr_ckpt_params(io_ckpt *c, const char *path, const char *group,
                   nn_model *m, nn_error *err)
{
    char name[IO_CKPT_NAME_MAX + 1];
    const void *hash, *params;
    uint64_t h;
    snprintf(name, sizeof name, "%s/hash", group);
    int st = io_ckpt_need(c, path, name, sizeof h, &hash, NULL, err);
    if (st) return st;
    memcpy(&h, hash, sizeof h);
    if (h != nn_model_hash(m))
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: checkpoint is for a different model "
                            "(architecture hash %016llx; this config has %zu "
                            "parameters, %016llx)",
                            path, (unsigned long long)h, m->n_params,
                            (unsigned long long)nn_model_hash(m));
    snprintf(name, sizeof name, "%s/params", group);
    st = io_ckpt_need(c, path, name, m->n_params * sizeof(float), &params,
                      NULL, err);
    if (!st) memcpy(m->params, params, m->n_params * sizeof(float));
    return st;
}

int tr_ckpt_model(io_ckpt *c, const char *path, const char *group,
                  const nn_spec *specs, size_t n_specs, nn_model **out,
                  nn_error *err)
{
    nn_shape in;
    nn_model *m = NULL;
    *out = NULL;
    int st = tr_ckpt_shape(c, path, &in, err);
    if (!st) st = nn_model_create(&m, specs, n_specs, in, err);
    if (!st) st = tr_ckpt_params(c, path, group, m, err);
    if (st) {
        if (m) nn_model_destroy(m);
        return st;
    }
    *out = m;
    return 0;
}

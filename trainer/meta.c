/* trainer/meta.c - see meta.h. The host is little-endian (checked once at
 * start-up by the checkpoint code's explicit encoders); values are stored
 * with memcpy. */
#include "trainer/meta.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "nn/check.h"

static void append(tr_meta *m, const void *p, size_t n)
{
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2 + 64;
        m->buf = nn_xrealloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

void tr_meta_put(tr_meta *m, const char *tag, const void *val, size_t len)
{
    uint32_t tl = (uint32_t)strlen(tag);
    uint64_t vl = len;
    append(m, &tl, sizeof tl);
    append(m, tag, tl);
    append(m, &vl, sizeof vl);
    if (len) append(m, val, len);
}

int tr_meta_get(const char *buf, size_t len, const char *tag,
                const void **val, size_t *vlen)
{
    size_t at = 0, want = strlen(tag);
    while (at + 4 <= len) {
        uint32_t tl;
        uint64_t vl;
        memcpy(&tl, buf + at, 4);
        at += 4;
        if (tl > len - at || 8 > len - at - tl) return 0;
        const char *t = buf + at;
        at += tl;
        memcpy(&vl, buf + at, 8);
        at += 8;
        if (vl > len - at) return 0;
        if (tl == want && !memcmp(t, tag, tl)) {
            *val = buf + at;
            *vlen = (size_t)vl;
            return 1;
        }
        at += (size_t)vl;
    }
    return 0;
}

void tr_meta_free(tr_meta *m)
{
    free(m->buf);
    m->buf = NULL;
    m->len = m->cap = 0;
}

void tr_meta_put_shape(tr_meta *m, nn_shape s)
{
    uint64_t v[1 + NN_MAX_DIMS] = {s.ndim};
    for (size_t i = 0; i < s.ndim; i++) v[1 + i] = s.dim[i];
    tr_meta_put(m, "input_shape", v, (1 + s.ndim) * sizeof *v);
}

int tr_meta_get_shape(const char *buf, size_t len, nn_shape *s)
{
    const void *p;
    size_t n;
    uint64_t v[1 + NN_MAX_DIMS];
    if (!tr_meta_get(buf, len, "input_shape", &p, &n) || n < 8 ||
        n > sizeof v || n % 8)
        return 1;
    memcpy(v, p, n);
    if (v[0] < 1 || v[0] > NN_MAX_DIMS || n != (1 + v[0]) * 8) return 1;
    memset(s, 0, sizeof *s);
    s->ndim = (size_t)v[0];
    for (size_t i = 0; i < s->ndim; i++) {
        if (!v[1 + i]) return 1;
        s->dim[i] = (size_t)v[1 + i];
    }
    return 0;
}

void tr_meta_put_overrides(tr_meta *m, char *const *sets, size_t n)
{
    tr_meta tmp = {0};
    for (size_t i = 0; i < n; i++) append(&tmp, sets[i], strlen(sets[i]) + 1);
    if (n) tr_meta_put(m, "overrides", tmp.buf, tmp.len);
    tr_meta_free(&tmp);
}

int tr_ckpt_config(const io_ckpt *c, const char *path, io_config *cfg,
                   nn_error *err)
{
    char label[4096];
    const void *v = NULL;
    size_t len = 0, n = 0;
    snprintf(label, sizeof label, "%s (stored config)", path);
    /* split the NUL-terminated override strings (copied: the list must
     * outlive nothing but this call) */
    char *buf = NULL, **sets = NULL;
    if (tr_meta_get(c->extra, c->extra_len, "overrides", &v, &len) && len &&
        ((const char *)v)[len - 1] == '\0') {
        buf = nn_xmalloc(len);
        memcpy(buf, v, len);
        for (size_t i = 0; i < len; i++) n += buf[i] == '\0';
        sets = nn_xcalloc(n, sizeof *sets);
        for (size_t i = 0, k = 0; k < n; i += strlen(buf + i) + 1)
            sets[k++] = buf + i;
    }
    int st = io_config_parse(cfg, label, c->config, c->config_len, sets, n, err);
    free(sets);
    free(buf);
    return st;
}

int tr_ckpt_model(const io_ckpt *c, const char *path, const nn_spec *specs,
                  size_t n_specs, nn_model **out, nn_error *err)
{
    nn_shape in;
    nn_model *m = NULL;
    *out = NULL;
    if (tr_meta_get_shape(c->extra, c->extra_len, &in))
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: checkpoint lacks its input shape", path);
    int st = nn_model_create(&m, specs, n_specs, in, err);
    if (st) return st;
    if (nn_model_hash(m) != c->model_hash || m->n_params != c->n_params) {
        nn_model_destroy(m);
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: parameters do not match the stored model",
                            path);
    }
    memcpy(m->params, c->params, c->n_params * sizeof(float));
    *out = m;
    return 0;
}

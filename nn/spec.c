/* nn/spec.c - typed, strictly parsed getters over a layer's key/value
 * pairs (see nn/spec.h). */
#include "nn/spec.h"

#include <errno.h>  /* errno, ERANGE */
#include <math.h>   /* isfinite */
#include <stdint.h> /* SIZE_MAX */
#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vsnprintf */
#include <stdlib.h> /* strtoull, strtod, free */
#include <string.h> /* strcmp, strlen */

#include "nn/check.h"

static nn_spec_kv *find(nn_spec *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0) return &s->kv[i];
    return NULL;
}

static const nn_spec_kv *find_const(const nn_spec *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0) return &s->kv[i];
    return NULL;
}

int nn_spec_add(nn_spec *s, const char *key, const char *value, int line,
                nn_error *err)
{
    if (find(s, key))
        return nn_spec_error(s, key, err, "duplicate key (line %d)", line);
    if (s->n >= NN_SPEC_MAX_KEYS)
        return nn_spec_error(s, NULL, err, "too many keys (at most %d)",
                             NN_SPEC_MAX_KEYS);
    nn_spec_kv *kv = &s->kv[s->n++];
    kv->key = nn_xstrdup(key);
    kv->value = nn_xstrdup(value ? value : "");
    kv->line = line;
    kv->used = 0;
    return 0;
}

void nn_spec_free(nn_spec *s)
{
    if (!s) return;
    free(s->type);
    free(s->name);
    for (size_t i = 0; i < s->n; i++) {
        free(s->kv[i].key);
        free(s->kv[i].value);
    }
    s->type = s->name = NULL;
    s->n = 0;
}

void nn_spec_copy(nn_spec *dst, const nn_spec *src)
{
    dst->type = src->type ? nn_xstrdup(src->type) : NULL;
    dst->name = src->name ? nn_xstrdup(src->name) : NULL;
    dst->file = src->file;
    dst->line = src->line;
    dst->n = src->n;
    for (size_t i = 0; i < src->n; i++) {
        dst->kv[i].key = nn_xstrdup(src->kv[i].key);
        dst->kv[i].value = nn_xstrdup(src->kv[i].value);
        dst->kv[i].line = src->kv[i].line;
        dst->kv[i].used = 0;
    }
}

int nn_spec_error(const nn_spec *s, const char *key, nn_error *err,
                  const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const nn_spec_kv *kv = key ? find_const(s, key) : NULL;
    int line = kv && kv->line > 0 ? kv->line : s->line;
    const char *file = s->file ? s->file : "<layers>";
    const char *name = s->name ? s->name : "?";
    const char *type = s->type ? s->type : "?";
    if (key)
        return nn_error_set(err, NN_EXIT_USAGE, "%s:%d: layer '%s' (%s): %s: %s",
                            file, line, name, type, key, what);
    return nn_error_set(err, NN_EXIT_USAGE, "%s:%d: layer '%s' (%s): %s", file,
                        line, name, type, what);
}

/* Look a key up for a getter: marks it used. Returns 1 if present,
 * 0 if absent and optional, or an error if absent and required. */
static int lookup(nn_spec *s, const char *key, int required, nn_spec_kv **kv,
                  nn_error *err, int *rc)
{
    *rc = 0;
    *kv = find(s, key);
    if (*kv) {
        (*kv)->used = 1;
        return 1;
    }
    if (required) *rc = nn_spec_error(s, key, err, "required key is missing");
    return 0;
}

/* Strict unsigned decimal: optional surrounding blanks, digits only, no
 * sign, whole token consumed, no overflow. */
static int parse_size(const char *str, size_t *out)
{
    while (*str == ' ' || *str == '\t') str++;
    if (*str < '0' || *str > '9') return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(str, &end, 10);
    if (errno == ERANGE || end == str) return -1;
    while (*end == ' ' || *end == '\t') end++;
    if (*end != '\0') return -1;
    if (v > (unsigned long long)SIZE_MAX) return -1;
    *out = (size_t)v;
    return 0;
}

static int check_size(nn_spec *s, const char *key, const char *value,
                      size_t lo, size_t hi, size_t *out, nn_error *err)
{
    size_t v;
    if (parse_size(value, &v) != 0)
        return nn_spec_error(s, key, err,
                             "'%s' is not a non-negative integer", value);
    if (v < lo || v > hi)
        return nn_spec_error(s, key, err, "%zu is out of range [%zu, %zu]", v,
                             lo, hi);
    *out = v;
    return 0;
}

int nn_spec_size(nn_spec *s, const char *key, int required, size_t def,
                 size_t lo, size_t hi, size_t *out, nn_error *err)
{
    nn_spec_kv *kv;
    int rc;
    if (!lookup(s, key, required, &kv, err, &rc)) {
        if (rc == 0) *out = def;
        return rc;
    }
    return check_size(s, key, kv->value, lo, hi, out, err);
}

int nn_spec_float(nn_spec *s, const char *key, int required, double def,
                  double lo, double hi, double *out, nn_error *err)
{
    nn_spec_kv *kv;
    int rc;
    if (!lookup(s, key, required, &kv, err, &rc)) {
        if (rc == 0) *out = def;
        return rc;
    }
    const char *str = kv->value;
    errno = 0;
    char *end = NULL;
    double v = strtod(str, &end);
    if (end == str || errno == ERANGE || !isfinite(v))
        return nn_spec_error(s, key, err, "'%s' is not a finite number", str);
    while (*end == ' ' || *end == '\t') end++;
    if (*end != '\0')
        return nn_spec_error(s, key, err, "'%s' is not a number", str);
    if (!(v >= lo && v <= hi))
        return nn_spec_error(s, key, err, "%g is out of range [%g, %g]", v, lo,
                             hi);
    *out = v;
    return 0;
}

int nn_spec_bool(nn_spec *s, const char *key, int required, int def,
                 int *out, nn_error *err)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "on", "1"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "off", "0"};
    nn_spec_kv *kv;
    int rc;
    if (!lookup(s, key, required, &kv, err, &rc)) {
        if (rc == 0) *out = def;
        return rc;
    }
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(kv->value, yes[i]) == 0) return *out = 1, 0;
        if (strcmp(kv->value, no[i]) == 0) return *out = 0, 0;
    }
    return nn_spec_error(s, key, err, "'%s' is not true or false", kv->value);
}

int nn_spec_str(nn_spec *s, const char *key, int required, const char *def,
                const char **out, nn_error *err)
{
    nn_spec_kv *kv;
    int rc;
    if (!lookup(s, key, required, &kv, err, &rc)) {
        if (rc == 0) *out = def;
        return rc;
    }
    *out = kv->value;
    return 0;
}

int nn_spec_sizes(nn_spec *s, const char *key, int required, size_t def,
                  size_t lo, size_t hi, size_t n, size_t *out, nn_error *err)
{
    nn_spec_kv *kv;
    int rc;
    if (!lookup(s, key, required, &kv, err, &rc)) {
        if (rc == 0)
            for (size_t i = 0; i < n; i++) out[i] = def;
        return rc;
    }
    const char *v = kv->value;
    if (!strchr(v, ',')) { /* one value for every dimension */
        size_t x;
        if ((rc = check_size(s, key, v, lo, hi, &x, err)) != 0) return rc;
        for (size_t i = 0; i < n; i++) out[i] = x;
        return 0;
    }
    char item[64];
    size_t count = 0;
    for (const char *p = v;; count++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (count >= n)
            return nn_spec_error(s, key, err, "'%s' has more than %zu values",
                                 v, n);
        if (len >= sizeof item)
            return nn_spec_error(s, key, err, "'%s': item too long", v);
        memcpy(item, p, len);
        item[len] = '\0';
        if ((rc = check_size(s, key, item, lo, hi, &out[count], err)) != 0)
            return rc;
        if (!comma) break;
        p = comma + 1;
    }
    if (count + 1 != n)
        return nn_spec_error(s, key, err, "'%s' needs 1 or %zu values", v, n);
    return 0;
}

int nn_spec_enum(nn_spec *s, const char *key, const char *const *names,
                 int def, int *out, nn_error *err)
{
    nn_spec_kv *kv;
    int rc;
    if (!lookup(s, key, def < 0, &kv, err, &rc)) {
        if (rc == 0) *out = def;
        return rc;
    }
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; names[i]; i++) {
        if (strcmp(kv->value, names[i]) == 0) return *out = i, 0;
        int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                         names[i]);
        if (w > 0 && (size_t)w < sizeof list - len) len += (size_t)w;
    }
    return nn_spec_error(s, key, err, "'%s' is not one of: %s", kv->value,
                         list);
}

int nn_spec_check_unused(const nn_spec *s, nn_error *err)
{
    for (size_t i = 0; i < s->n; i++) {
        const nn_spec_kv *kv = &s->kv[i];
        /* `type` and `name` are carried in the struct itself, should the
         * reader also have stored them as keys. */
        if (kv->used || strcmp(kv->key, "type") == 0 ||
            strcmp(kv->key, "name") == 0)
            continue;
        return nn_error_set(err, NN_EXIT_USAGE,
                            "%s:%d: layer '%s' (%s): unknown key '%s'",
                            s->file ? s->file : "<layers>",
                            kv->line > 0 ? kv->line : s->line,
                            s->name ? s->name : "?", s->type ? s->type : "?",
                            kv->key);
    }
    return 0;
}

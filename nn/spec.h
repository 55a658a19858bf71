/* nn/spec.h - what a person wrote for one layer, as typed key/value pairs.
 *
 * nn/ knows nothing of YAML: io/config turns each `- type: ...` entry of
 * the layer list into an nn_spec (strings plus the line each came from).
 * A layer's create function reads its keys with the getters below, which
 * mark them used; nn_spec_check_unused then reports any key nobody read, so
 * a typo is an error naming the line, never silently ignored.
 * A YAML flow list such as `kernel: [5, 5]` arrives as the value "5,5".
 */
#ifndef NN_SPEC_H
#define NN_SPEC_H

#include <stddef.h> /* size_t */
#include "nn/error.h"

#define NN_SPEC_MAX_KEYS 32

typedef struct nn_spec_kv {
    char *key;
    char *value;
    int line; /* 1-based line in `file`, 0 if unknown */
    int used;
} nn_spec_kv;

typedef struct nn_spec {
    char *type;         /* registry name, e.g. "dense" */
    char *name;         /* user's layer name, or generated "dense_1" */
    const char *file;   /* config path, borrowed, for messages */
    int line;           /* line of the `type:` key */
    size_t n;
    nn_spec_kv kv[NN_SPEC_MAX_KEYS];
} nn_spec;

/* Add a key (copied). Returns 0, or NN_EXIT_USAGE if full or duplicate. */
int nn_spec_add(nn_spec *s, const char *key, const char *value, int line,
                nn_error *err);
void nn_spec_free(nn_spec *s);
/* Deep copy (used=0 everywhere). */
void nn_spec_copy(nn_spec *dst, const nn_spec *src);

/* Getters: if the key is absent, store `def` and return 0 when !required,
 * else fail. Values are range-checked [lo, hi]. On failure fill err with
 * "file:line: layer 'name' (type): key: problem" and return NN_EXIT_USAGE. */
int nn_spec_size(nn_spec *s, const char *key, int required, size_t def,
                 size_t lo, size_t hi, size_t *out, nn_error *err);
int nn_spec_float(nn_spec *s, const char *key, int required, double def,
                  double lo, double hi, double *out, nn_error *err);
int nn_spec_bool(nn_spec *s, const char *key, int required, int def,
                 int *out, nn_error *err);
/* String value, borrowed from the spec; *out = def if absent and optional. */
int nn_spec_str(nn_spec *s, const char *key, int required, const char *def,
                const char **out, nn_error *err);
/* One value or a list of exactly `n` sizes ("5" -> 5,5 when n == 2). */
int nn_spec_sizes(nn_spec *s, const char *key, int required, size_t def,
                  size_t lo, size_t hi, size_t n, size_t *out, nn_error *err);
/* One of the given names (NULL-terminated list); *out = its index. */
int nn_spec_enum(nn_spec *s, const char *key, const char *const *names,
                 int def, int *out, nn_error *err);

/* Fail on the first key no getter read. */
int nn_spec_check_unused(const nn_spec *s, nn_error *err);

/* Format an error located at this spec (and key's line if found). */
int nn_spec_error(const nn_spec *s, const char *key, nn_error *err,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif

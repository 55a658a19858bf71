/* tests/fuzz/fuzz_config.c - libFuzzer harness for io_config_parse
 * (io/config.c, io/yaml.c, libyaml, nn_spec_add).
 *
 * Input: the YAML text up to the first NUL byte; after it, up to 16
 * NUL-separated "--set" overrides ("a.b=v"). The text is handed over
 * with its exact length and no terminator, so ASan sees any over-read.
 * A successful parse must have filled the fields every config has (loss,
 * data.format) and named every layer of model.layers, and every count
 * must be within the bounds that keep products of two counts in 64 bits
 * (batch size, micro-batches: 2^24; epochs, steps, rows: 10^12). The
 * parse also carries a schema fragment (io_schema) of the shape an
 * objective declares - a number, a string and a layer list under a
 * section of its own - so fragment keys are stored, checked and freed
 * under the same hostile input.
 */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t */
#include <stdlib.h> /* abort, malloc, free */
#include <string.h> /* memchr, memcpy */

#include "io/config.h"

#define MAX_OVERRIDES 16

typedef struct extra {
    size_t n;
    char *name;
    io_layers layers;
} extra;

static const io_key extra_keys[] = {
    {"extra.n", IO_SIZE, offsetof(extra, n), 1, 1000, 0, "3", NULL},
    {"extra.name", IO_STR, offsetof(extra, name), 0, 0, IO_LIST, NULL, NULL},
    {"extra.layers", IO_LAYERS, offsetof(extra, layers), 0, 0, 0, NULL, NULL},
};
static const io_schema extra_schema = {"extra", "extra", extra_keys, 3,
                                       sizeof(extra), NULL, 0};
static const io_schema *const schemas[] = {&extra_schema, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Split the bytes after the text into NUL-terminated overrides, copied
 * into `buf` (size rest_n + 1); returns how many. */
static size_t split_overrides(const uint8_t *rest, size_t rest_n, char *buf,
                              char **ov)
{
    size_t n = 0, i = 0;
    memcpy(buf, rest, rest_n);
    buf[rest_n] = '\0';
    while (i <= rest_n && n < MAX_OVERRIDES) {
        ov[n++] = buf + i;
        const char *nul = memchr(buf + i, '\0', rest_n + 1 - i);
        i = (size_t)(nul - buf) + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t text_n = nul ? (size_t)(nul - data) : size;
    char *text = malloc(text_n ? text_n : 1); /* exact size, no NUL */
    if (!text) abort();
    if (text_n) memcpy(text, data, text_n);
    char *ov[MAX_OVERRIDES];
    char *ov_buf = NULL;
    size_t n_ov = 0;
    if (nul) {
        size_t rest_n = size - text_n - 1;
        ov_buf = malloc(rest_n + 1);
        if (!ov_buf) abort();
        n_ov = split_overrides(nul + 1, rest_n, ov_buf, ov);
    }
    io_config cfg;
    nn_error err;
    int rc = io_config_parse(&cfg, "fuzz.yaml", text, text_n, ov, n_ov,
                             schemas, &err);
    if (rc != 0) {
        if (err.code == 0 || cfg.path != NULL || cfg.layers != NULL) abort();
    } else {
        if (!cfg.loss || !cfg.data.format || !cfg.path) abort();
        if (cfg.n_layers && !cfg.layers) abort();
        for (size_t i = 0; i < cfg.n_layers; i++)
            if (!cfg.layers[i].type || !cfg.layers[i].name) abort();
        if (cfg.text_len != text_n || cfg.text[text_n] != '\0') abort();
        const io_train_cfg *t = &cfg.train;
        if (t->batch_size > ((size_t)1 << 24) || t->accumulate > ((size_t)1 << 24) ||
            t->epochs > 1000000000000u || t->max_steps > 1000000000000u ||
            cfg.data.limit > 1000000000000u)
            abort();
        if (!(t->collective_timeout >= 0 && t->collective_timeout <= 1e6)) abort();
        const extra *x = io_config_values(&cfg, &extra_schema);
        if (!x || x->n < 1 || x->n > 1000 || (x->name && !x->name[0])) abort();
        for (size_t i = 0; i < x->layers.n; i++)
            if (!x->layers.specs[i].type || !x->layers.specs[i].name) abort();
    }
    io_config_free(&cfg);
    io_config_free(&cfg); /* twice is fine, says the header */
    free(ov_buf);
    free(text);
    return 0;
}

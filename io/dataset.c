/* io/dataset.c - loading one rank's shard of a dataset (see io/dataset.h).
 *
 * IDX: images and labels are two files whose counts must agree (with
 * data.target input there is no labels file: y aliases x); only the
 * shard's rows are read. CSV: the table is parsed whole (rows are lines, so
 * a shard cannot be found without reading), then the shard's rows are
 * split into features x and target columns y.
 */
#include "io/dataset.h"

#include <math.h>   /* floorf, isfinite */
#include <stdint.h> /* SIZE_MAX */
#include <stdlib.h> /* free */
#include <string.h> /* strcmp, memcpy */

#include "nn/check.h"
#include "nn/loss.h" /* NN_LABEL_NONE */
#include "nn/rng.h"  /* nn_hash64 */

void io_dataset_part(size_t total, size_t part, size_t parts, size_t *lo,
                     size_t *hi)
{
    NN_CHECK(parts >= 1 && part < parts, "bad shard %zu of %zu", part,
             parts);
    NN_CHECK(total <= SIZE_MAX / parts, "shard bounds overflow");
    *lo = total * part / parts;
    *hi = total * (part + 1) / parts;
}

static size_t apply_limit(size_t count, size_t limit, io_split split)
{
    return split == IO_SPLIT_TRAIN && limit > 0 && limit < count ? limit
                                                                 : count;
}

static int require(const char *path, const char *key, nn_error *err)
{
    if (path && *path) return NN_OK;
    return nn_error_set(err, NN_EXIT_USAGE, "data.%s: not set", key);
}

/* data.target input: the inputs are their own targets (no labels read). */
static int target_is_input(const io_data_cfg *cfg)
{
    return cfg->target && strcmp(cfg->target, "input") == 0;
}

/* Make the targets the inputs themselves: y aliases x (io_dataset_free
 * frees it once). */
static void targets_from_inputs(io_dataset *d)
{
    d->y = d->x;
    d->y_width = d->x_width;
}

static int load_idx(io_dataset *d, const io_data_cfg *cfg, io_split split,
                    size_t part, size_t parts, nn_error *err)
{
    int test = split == IO_SPLIT_TEST, input = target_is_input(cfg);
    const char *images = test ? cfg->test : cfg->train;
    const char *labels = test ? cfg->test_labels : cfg->train_labels;
    size_t n_img = 0, n_lab = 0;
    nn_shape lab_shape = nn_shape_1d(1);
    float *lab = NULL;
    int rc = require(images, test ? "test" : "train", err);
    if (!rc && !input)
        rc = require(labels, test ? "test_labels" : "train_labels", err);
    /* Headers first (zero rows read): the counts decide the shard. */
    if (!rc) rc = io_idx_read(images, 0, 0, &n_img, &d->x_shape, &d->x, err);
    if (!rc && !input)
        rc = io_idx_read(labels, 0, 0, &n_lab, &lab_shape, &lab, err);
    free(d->x);
    free(lab);
    d->x = NULL;
    if (rc) return rc;
    if (!input && n_img != n_lab)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: images %zu, labels %zu in %s", images,
                            n_img, n_lab, labels);
    if (!input && nn_shape_size(lab_shape) != 1)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: labels must be one byte per sample",
                            labels);
    d->total = apply_limit(n_img, cfg->limit, split);
    io_dataset_part(d->total, part, parts, &d->lo, &d->hi);
    rc = io_idx_read(images, d->lo, d->hi, &n_img, &d->x_shape, &d->x, err);
    if (!rc && !input)
        rc = io_idx_read(labels, d->lo, d->hi, &n_lab, &lab_shape, &d->y,
                         err);
    d->x_width = nn_shape_size(d->x_shape);
    d->y_width = 1;
    if (!rc && input) targets_from_inputs(d);
    return rc;
}

/* First target column for a table of `cols` columns. */
static int target_start(const io_data_cfg *cfg, const char *path, size_t cols,
                        size_t *start, nn_error *err)
{
    size_t k = cfg->targets;
    if (k < 1 || k >= cols)
        return nn_error_set(err, NN_EXIT_USAGE,
                            "%s: data.targets %zu must be in 1..%zu for %zu "
                            "columns", path, k, cols > 1 ? cols - 1 : 0, cols);
    if (cfg->target_column == -1) {
        *start = cols - k;
        return NN_OK;
    }
    if (cfg->target_column < 0 || (size_t)cfg->target_column > cols - k)
        return nn_error_set(err, NN_EXIT_USAGE,
                            "%s: data.target_column %ld with %zu targets "
                            "does not fit %zu columns", path,
                            cfg->target_column, k, cols);
    *start = (size_t)cfg->target_column;
    return NN_OK;
}

static int load_csv(io_dataset *d, const io_data_cfg *cfg, io_split split,
                    size_t part, size_t parts, nn_error *err)
{
    const char *path = split == IO_SPLIT_TEST ? cfg->test : cfg->train;
    size_t rows = 0, cols = 0, t0 = 0;
    float *all = NULL;
    int input = target_is_input(cfg);
    int rc = require(path, split == IO_SPLIT_TEST ? "test" : "train", err);
    if (!rc) rc = io_csv_read(path, cfg->skip_rows, cfg->header, &rows,
                              &cols, &all, err);
    /* data.target input: every column is a feature (no target columns) */
    if (!rc && input) t0 = cols;
    if (!rc && !input) rc = target_start(cfg, path, cols, &t0, err);
    if (rc) goto done;
    d->total = apply_limit(rows, cfg->limit, split);
    io_dataset_part(d->total, part, parts, &d->lo, &d->hi);
    d->y_width = input ? 0 : cfg->targets;
    d->x_width = cols - d->y_width;
    d->x_shape = nn_shape_1d(d->x_width);
    size_t n = d->hi - d->lo;
    d->x = nn_xcalloc(n ? n * d->x_width : 1, sizeof(float));
    d->y = nn_xcalloc(n ? n * d->y_width : 1, sizeof(float));
    /* Row r: columns [0, t0) and [t0 + targets, cols) are features, in
     * order; [t0, t0 + targets) are the targets. */
    for (size_t i = 0; i < n; i++) {
        const float *src = all + (d->lo + i) * cols;
        float *x = d->x + i * d->x_width;
        memcpy(x, src, t0 * sizeof(float));
        memcpy(x + t0, src + t0 + d->y_width,
               (cols - t0 - d->y_width) * sizeof(float));
        memcpy(d->y + i * d->y_width, src + t0, d->y_width * sizeof(float));
    }
    if (input) {
        free(d->y);
        targets_from_inputs(d);
    }
done:
    free(all);
    return rc;
}

/* predict: an IDX file must have the model's sample shape (the shape it
 * was trained on), not merely as many values. */
static int idx_inputs(const char *path, const io_data_cfg *cfg, nn_shape in,
                      float **x, size_t *rows, nn_error *err)
{
    nn_shape shape;
    char have[64], want[64];
    (void)cfg;
    int st = io_idx_read(path, 0, (size_t)-1, rows, &shape, x, err);
    if (st || nn_shape_eq(shape, in)) return st;
    free(*x);
    *x = NULL;
    return nn_error_set(err, NN_EXIT_DATA,
                        "%s: samples of shape %s (%zu values); the model "
                        "takes %s (%zu)", path,
                        nn_shape_str(shape, have, sizeof have),
                        nn_shape_size(shape), nn_shape_str(in, want, sizeof want),
                        nn_shape_size(in));
}

/* predict: a CSV table of the features alone, or with the configured
 * target columns (dropped); for a text model, token ids. */
static int csv_inputs(const char *path, const io_data_cfg *cfg, nn_shape in,
                      float **x, size_t *rows, nn_error *err)
{
    float *tab = NULL;
    size_t cols = 0, xw = nn_shape_size(in), k = cfg->targets;
    int st = io_csv_read(path, cfg->skip_rows, cfg->header, rows, &cols, &tab,
                         err);
    if (st) return st;
    if (cols == xw) {
        *x = tab;
        return 0;
    }
    if (cols != xw + k) {
        free(tab);
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: %zu columns; the model takes %zu features "
                            "(or %zu columns with the %zu target column(s))",
                            path, cols, xw, xw + k, k);
    }
    size_t t0 = cfg->target_column < 0 ? cols - k : (size_t)cfg->target_column;
    *x = nn_xalloc_floats(nn_mul_size(*rows, xw) + 1);
    for (size_t i = 0; i < *rows; i++)
        for (size_t j = 0, o = 0; j < cols; j++)
            if (j < t0 || j >= t0 + k) (*x)[i * xw + o++] = tab[i * cols + j];
    free(tab);
    return 0;
}

/* The data formats: a new one is its loader (and, for predict, its input
 * reader) plus one line here. */
static const io_format_ops formats[] = {
    {"idx", load_idx, idx_inputs},
    {"csv", load_csv, csv_inputs},
    /* io/text.c; predict reads token ids as CSV columns */
    {"text", io_text_load, csv_inputs},
    /* io/dataset_packed.c: rows read on demand from `axon pack` shards */
    {"packed", io_packed_load, io_packed_inputs},
};

const io_format_ops *io_format_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof formats / sizeof *formats; i++)
        if (!strcmp(formats[i].name, name)) return &formats[i];
    return NULL;
}

int io_dataset_load(io_dataset *d, const io_data_cfg *cfg, io_split split,
                    size_t part, size_t parts, nn_error *err)
{
    memset(d, 0, sizeof *d);
    const char *path = split == IO_SPLIT_TEST ? cfg->test : cfg->train;
    const io_format_ops *f = io_format_find(cfg->format);
    int rc = f ? f->load(d, cfg, split, part, parts, err)
               : nn_error_set(err, NN_EXIT_USAGE,
                              "data.format: unknown format '%s' (idx, csv, "
                              "text, packed)", cfg->format ? cfg->format : "");
    if (rc) {
        io_dataset_free(d);
        return rc;
    }
    d->name = nn_xstrdup(path);
    return NN_OK;
}

void io_dataset_free(io_dataset *d)
{
    if (!d) return;
    free(d->name);
    if (d->y != d->x) free(d->y); /* data.target input: y aliases x */
    free(d->x);
    free(d->vocab);
    io_packed_close(d->pk);
    free(d->pk_norm);
    free(d->pk_hide);
    memset(d, 0, sizeof *d);
}

int io_dataset_check_shape(const io_dataset *d, nn_shape x_shape,
                           size_t y_width, const char *against,
                           nn_error *err)
{
    int y_ok = y_width == (size_t)-1 || d->y_width == y_width;
    if (nn_shape_eq(d->x_shape, x_shape) && y_ok) return NN_OK;
    char have[64], want[64];
    nn_shape_str(d->x_shape, have, sizeof have);
    nn_shape_str(x_shape, want, sizeof want);
    if (!y_ok)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: samples of %s with %zu target value(s), "
                            "but %s has %s with %zu; every file must have "
                            "the same sample shape and targets",
                            d->name, have, d->y_width, against, want,
                            y_width);
    return nn_error_set(err, NN_EXIT_DATA,
                        "%s: samples of shape %s (%zu values), but %s has "
                        "%s (%zu values); every file must have the same "
                        "sample shape", d->name, have, d->x_width, against,
                        want, nn_shape_size(x_shape));
}

int io_check_token_ids(const char *name, const float *x, size_t rows,
                       size_t width, size_t first_row, size_t vocab,
                       nn_error *err)
{
    for (size_t k = 0; k < rows * width; k++) {
        float v = x[k], r = floorf(v + 0.5f); /* as the layer rounds */
        if (r == NN_LABEL_NONE) continue;
        if (isfinite(v) && r >= 0 && r < (float)vocab) continue;
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: row %zu, value %zu: %g is not a token id "
                            "of the embedding's vocabulary [0, %zu): the "
                            "first layer is an embedding, so every input "
                            "must be an id (or %g for padding); give the "
                            "embedding a larger vocab or feed it ids", name,
                            first_row + k / width, k % width + 1, (double)v,
                            vocab, (double)NN_LABEL_NONE);
    }
    return NN_OK;
}

typedef struct ids_ctx {
    size_t vocab;
    nn_error *err;
} ids_ctx;

static int check_ids_view(const io_dataset *v, void *ctx)
{
    const ids_ctx *c = ctx;
    return io_check_token_ids(v->name, v->x, v->hi - v->lo, v->x_width,
                              v->lo, c->vocab, c->err);
}

int io_dataset_check_ids(const io_dataset *d, size_t vocab, nn_error *err)
{
    ids_ctx c = {vocab, err};
    return io_dataset_scan(d, IO_SCAN_X, check_ids_view, &c, err);
}

/* Domain separator: the labelled subset and the validation split draw
 * unrelated bits from the same user seed. */
#define LABELLED_SALT 0x6c6162656c6c6564ULL /* "labelled" */

typedef struct ranked_id {
    uint64_t hash;
    size_t pos; /* index into train_ids */
} ranked_id;

static int cmp_ranked(const void *pa, const void *pb)
{
    const ranked_id *a = pa, *b = pb;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

void io_labelled_pick(const size_t *train_ids, size_t n_train, size_t keep,
                      uint64_t seed, unsigned char *kept)
{
    if (keep >= n_train) {
        memset(kept, 1, n_train);
        return;
    }
    /* Rank every training id by its hash; the first `keep` stay labelled.
     * (hash, position) pairs are distinct, so the order is total. */
    ranked_id *r = nn_xcalloc(n_train, sizeof *r);
    for (size_t i = 0; i < n_train; i++) {
        r[i].pos = i;
        r[i].hash = nn_hash64(seed ^ LABELLED_SALT, (uint64_t)train_ids[i], 0);
    }
    qsort(r, n_train, sizeof *r, cmp_ranked);
    memset(kept, 0, n_train);
    for (size_t i = 0; i < keep; i++) kept[r[i].pos] = 1;
    free(r);
}

size_t io_dataset_hide_labels(io_dataset *d, const size_t *train_ids,
                              size_t n_train, const unsigned char *kept)
{
    NN_CHECK(d->pk ? !d->pk_tf.y_is_x : d->y != d->x,
             "hide_labels: the targets are the inputs");
    if (d->pk && !d->pk_hide) { /* packed: marked, applied as rows are read */
        d->pk_hide = nn_xcalloc(d->hi - d->lo + 1, 1);
        d->pk_tf.hide = d->pk_hide;
        io_packed_setup(d->pk, d->lo, &d->pk_tf);
    }
    size_t hidden = 0;
    for (size_t i = 0; i < n_train; i++) {
        size_t id = train_ids[i];
        if (kept[i] || id < d->lo || id >= d->hi) continue;
        hidden++;
        if (d->pk) {
            d->pk_hide[id - d->lo] = 1;
            continue;
        }
        float *y = d->y + (id - d->lo) * d->y_width;
        for (size_t j = 0; j < d->y_width; j++) y[j] = NN_LABEL_NONE;
    }
    return hidden;
}

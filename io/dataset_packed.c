/* io/dataset_packed.c - data.format packed: a directory written by `axon
 * pack` (io/packed.h), of which a rank reads only the rows its batches
 * use, when they are used. The split, shards, limit and targets behave
 * as for the format the data came from: the rank's shard is the same rows
 * [lo, hi) an in-memory format would load, so every sampler gives the
 * same batches. data.window bounds the memory of the prefetched rows. */
#include "io/dataset.h"

#include <stdlib.h> /* free */
#include <string.h> /* strcmp, memcpy */

#include "nn/check.h"

int io_packed_load(io_dataset *d, const io_data_cfg *cfg, io_split split,
                   size_t part, size_t parts, nn_error *err)
{
    const char *dir = split == IO_SPLIT_TEST ? cfg->test : cfg->train;
    int input = cfg->target && !strcmp(cfg->target, "input");
    if (!dir || !*dir)
        return nn_error_set(err, NN_EXIT_USAGE, "data.%s: not set",
                            split == IO_SPLIT_TEST ? "test" : "train");
    int st = io_packed_open(&d->pk, dir, cfg->window, err);
    if (st) return st;
    const io_packed_meta *m = io_packed_meta_of(d->pk);
    if (!input && !m->y_width)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: packed without targets (data.target input "
                            "when packed); train it with data.target input",
                            dir);
    if (m->x_type == IO_PK_TOKEN && cfg->normalize &&
        strcmp(cfg->normalize, "none"))
        return nn_error_set(err, NN_EXIT_USAGE,
                            "%s: data.normalize must be none: the inputs "
                            "are token ids", dir);
    d->total = m->total;
    if (split == IO_SPLIT_TRAIN && cfg->limit > 0 && cfg->limit < d->total)
        d->total = cfg->limit;
    io_dataset_part(d->total, part, parts, &d->lo, &d->hi);
    d->x_shape = m->x_shape;
    d->x_width = m->x_width;
    d->y_width = input ? m->x_width : m->y_width;
    if (m->vocab_len) {
        d->vocab = nn_xmalloc(m->vocab_len);
        memcpy(d->vocab, m->vocab, m->vocab_len);
        d->vocab_len = m->vocab_len;
    }
    d->pk_tf.y_is_x = input;
    io_packed_setup(d->pk, d->lo, &d->pk_tf);
    return input ? 0 : io_packed_keep_targets(d->pk, d->lo, d->hi, err);
}

int io_packed_inputs(const char *path, const io_data_cfg *cfg, nn_shape in,
                     float **x, size_t *rows, nn_error *err)
{
    io_packed *p;
    char have[64], want[64];
    (void)cfg;
    int st = io_packed_open(&p, path, 0, err);
    if (st) return st;
    const io_packed_meta *m = io_packed_meta_of(p);
    if (!nn_shape_eq(m->x_shape, in)) {
        st = nn_error_set(err, NN_EXIT_DATA,
                          "%s: samples of shape %s; the model takes %s", path,
                          nn_shape_str(m->x_shape, have, sizeof have),
                          nn_shape_str(in, want, sizeof want));
    } else {
        size_t n = m->total, *ids = nn_xcalloc(n + 1, sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = i;
        io_packed_tf none = {0};
        io_packed_setup(p, 0, &none);
        *x = nn_xalloc_floats(nn_mul_size(n, m->x_width) + 1);
        *rows = n;
        st = io_packed_rows(p, ids, n, *x, NULL, err);
        free(ids);
        if (st) free(*x), *x = NULL;
    }
    io_packed_close(p);
    return st;
}

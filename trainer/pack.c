/* trainer/pack.c - `axon pack`: a config's data files (its training, test
 * and validation files) or the given files into packed datasets
 * (io/packed.h, docs/DATA.md), and `axon pack --verify DIR`.
 *
 * The rows are read through the data formats' own loaders, so a packed
 * dataset holds exactly the rows, shapes and targets training on the
 * files would see, before normalisation (a training-time choice). IDX
 * files are read a part at a time (PACK_PART_BYTES of floats), so files
 * larger than memory can be packed; CSV and text files are parsed whole,
 * as training parses them. Runs on rank 0; the other ranks wait. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/dataset.h"
#include "io/packed.h"
#include "nn/check.h"
#include "trainer/objective.h"
#include "trainer/session.h"

#define PACK_PART_BYTES ((size_t)256 << 20)

static const char *type_name(io_pk_type t)
{
    return t == IO_PK_U8 ? "u8" : t == IO_PK_F32 ? "f32"
           : t == IO_PK_TOKEN ? "token id (u16)" : "none";
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

/* How many parts to read `split` in: IDX images by their size, the other
 * formats whole. */
static int parts_of(const io_data_cfg *c, io_split split, size_t *parts,
                    nn_error *err)
{
    *parts = 1;
    if (strcmp(c->format, "idx")) return 0;
    size_t n = 0;
    nn_shape shape;
    float *none = NULL;
    int st = io_idx_read(split == IO_SPLIT_TEST ? c->test : c->train, 0, 0,
                         &n, &shape, &none, err);
    free(none);
    if (st) return st;
    size_t bytes = nn_mul_size(nn_shape_size(shape) + 1, sizeof(float));
    size_t per = PACK_PART_BYTES / bytes ? PACK_PART_BYTES / bytes : 1;
    *parts = n / per + 1;
    return 0;
}

/* The packed layout of a loaded part: element types by source format. */
static io_packed_meta meta_of(const io_data_cfg *c, const io_dataset *d)
{
    io_packed_meta m = {0};
    int idx = !strcmp(c->format, "idx"), text = !strcmp(c->format, "text");
    int input = c->target && !strcmp(c->target, "input");
    m.x_type = idx ? IO_PK_U8 : text ? IO_PK_TOKEN : IO_PK_F32;
    m.y_type = input ? IO_PK_NONE : m.x_type;
    m.x_shape = d->x_shape;
    m.x_width = d->x_width;
    m.y_width = input ? 0 : d->y_width;
    m.total = d->total;
    m.vocab_len = d->vocab_len;
    if (d->vocab_len) memcpy(m.vocab, d->vocab, d->vocab_len);
    return m;
}

/* Pack one split of c into dir. */
static int pack_split(tr_session *s, const io_data_cfg *cfg, io_split split,
                      const char *dir, size_t shard_bytes)
{
    io_data_cfg c = *cfg;
    c.limit = 0; /* data.limit is a training-time choice */
    size_t parts = 1;
    io_pack_writer *w = NULL;
    io_packed_meta m = {0};
    int st = parts_of(&c, split, &parts, &s->err);
    for (size_t k = 0; k < parts && !st; k++) {
        io_dataset d;
        st = io_dataset_load(&d, &c, split, k, parts, &s->err);
        if (st) break;
        if (k == 0) {
            m = meta_of(&c, &d);
            st = io_pack_begin(&w, dir, &m, shard_bytes, &s->err);
        }
        if (!st)
            st = io_pack_add(w, d.x, m.y_width ? d.y : NULL, d.hi - d.lo,
                             d.name, d.lo, &s->err);
        io_dataset_free(&d);
    }
    if (w) {
        int fst = io_pack_finish(w, st ? NULL : &s->err);
        if (!st) st = fst;
    }
    if (st) return st;
    char shape[64];
    tr_say(s, "%s: %zu rows of %s %s", dir, m.total,
           nn_shape_str(m.x_shape, shape, sizeof shape), type_name(m.x_type));
    if (m.y_width)
        tr_say(s, " with %zu %s target%s", m.y_width, type_name(m.y_type),
               m.y_width == 1 ? "" : "s");
    tr_say(s, "%s\n", m.vocab_len ? " and its vocabulary" : "");
    return 0;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = nn_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A config's data: DIR/train, and DIR/test and DIR/val when it has them. */
static int pack_config(tr_session *s, const char *path, size_t shard_bytes)
{
    char *text = NULL;
    size_t len = 0;
    io_config cfg;
    int st = io_read_file(path, &text, &len, &s->err);
    if (!st)
        st = tr_config_parse(&cfg, path, text, len, s->opt->sets,
                             s->opt->n_sets, &s->err);
    free(text);
    if (st) return st;
    const io_data_cfg *d = &cfg.data;
    if (!strcmp(d->format, "packed")) {
        io_config_free(&cfg);
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: data.format is packed already", path);
    }
    const char *names[3] = {"train", "test", "val"};
    for (int i = 0; i < 3 && !st; i++) {
        io_data_cfg c = *d;
        if (i == 1 && !d->test) continue;
        if (i == 2 && !d->val) continue;
        if (i == 2) c.test = d->val, c.test_labels = d->val_labels;
        char *dir = join(s->opt->out, names[i]);
        st = pack_split(s, &c, i ? IO_SPLIT_TEST : IO_SPLIT_TRAIN, dir,
                        shard_bytes);
        free(dir);
    }
    if (!st)
        tr_say(s, "train on it with data: {format: packed, train: %s/train%s%s"
                  "%s%s} and the config's other data keys (normalize, "
                  "val_fraction, ...)\n", s->opt->out,
               d->test ? ", test: " : "", d->test ? s->opt->out : "",
               d->test ? "/test" : "", d->val ? ", val: .../val" : "");
    io_config_free(&cfg);
    return st;
}

/* Files: IDX images [labels], or one CSV table (the data section's
 * defaults: a header line, the last column the target). */
static int pack_files(tr_session *s, size_t shard_bytes)
{
    const tr_options *o = s->opt;
    io_data_cfg c = {0};
    int csv = ends_with(o->args[0], ".csv") || ends_with(o->args[0], ".csv.gz");
    if (o->n_args > (csv ? 1u : 2u))
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "pack: give IDX images [labels], one CSV file, "
                            "or a config (text needs a config: data.seq_len)");
    c.format = csv ? "csv" : "idx";
    c.train = (char *)o->args[0];
    c.train_labels = o->n_args > 1 ? (char *)o->args[1] : NULL;
    c.target = !csv && o->n_args == 1 ? "input" : "labels";
    c.normalize = "none";
    c.targets = 1;
    c.target_column = -1;
    c.header = 1;
    return pack_split(s, &c, IO_SPLIT_TRAIN, o->out, shard_bytes);
}

/* DIR itself, or its train, test and val datasets (pack_config's). */
static int verify(tr_session *s, const char *dir)
{
    char *index = join(dir, IO_PACKED_INDEX);
    int whole = access(index, F_OK) == 0;
    free(index);
    const char *names[3] = {"train", "test", "val"};
    int st = 0;
    for (int i = 0; i < (whole ? 1 : 3) && !st; i++) {
        char *d = whole ? nn_xstrdup(dir) : join(dir, names[i]);
        char *ix = join(d, IO_PACKED_INDEX);
        size_t rows = 0;
        /* without DIR/index, DIR/train must be a packed dataset */
        if (whole || i == 0 || access(ix, F_OK) == 0) {
            st = io_packed_verify(d, &rows, &s->err);
            if (!st)
                tr_say(s, "%s: %zu rows, every shard's CRC matches\n", d,
                       rows);
        }
        free(ix), free(d);
    }
    return st;
}

int tr_cmd_pack(tr_session *s)
{
    const tr_options *o = s->opt;
    int st = 0;
    if (s->rank == 0) {
        size_t shard = o->shard_size ? (size_t)o->shard_size : (size_t)64 << 20;
        if (o->verify) st = verify(s, o->verify);
        else if (ends_with(o->args[0], ".yaml") || ends_with(o->args[0], ".yml"))
            st = pack_config(s, o->args[0], shard);
        else st = pack_files(s, shard);
    }
    return tr_agree(s, st);
}

/* trainer/session.c - set-up shared by every command (see session.h). */
#include "trainer/session.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/rng.h"
#include "trainer/gradsync.h"
#include "trainer/objective.h"
#include "trainer/objective.h"
#include "trainer/sampler.h"
#include "trainer/semisup.h"

int tr_agree(tr_session *s, int status)
{
    int first = -1;
    int worst = comm_agree(s->comm, status, &first);
    if (worst && first == s->rank) {
        if (s->size > 1 && s->rank != 0)
            fprintf(stderr, "axon: error: [rank %d] %s\n", s->rank,
                    s->err.msg);
        else
            fprintf(stderr, "axon: error: %s\n", s->err.msg);
        fflush(stderr);
    }
    return worst;
}

void tr_say(const tr_session *s, const char *fmt, ...)
{
    if (s->rank != 0 || s->opt->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

int tr_load_config(tr_session *s)
{
    /* Rank 0 reads the file once; every rank parses the same bytes, so the
     * ranks cannot run different configs even without a shared disk. */
    char *text = NULL;
    size_t len = 0;
    int st = 0;
    if (s->rank == 0)
        st = io_read_file(s->opt->config, &text, &len, &s->err);
    if ((st = tr_agree(s, st))) return st;
    uint64_t n = len;
    if (comm_bcast_bytes(s->comm, &n, sizeof n, 0)) return NN_EXIT_OTHER;
    if (s->rank != 0) text = nn_xcalloc(n + 1, 1);
    if (comm_bcast_bytes(s->comm, text, n, 0)) return NN_EXIT_OTHER;
    st = tr_config_parse(&s->cfg, s->opt->config, text, n, s->opt->sets,
                         s->opt->n_sets, &s->err);
    free(text);
    if (!st) {
        /* no loss: an objective that makes its own data (io_schema) */
        s->loss = s->cfg.loss ? nn_loss_find(s->cfg.loss) : NULL;
        if (!s->loss && s->cfg.loss)
            st = nn_error_set(&s->err, NN_EXIT_USAGE, "%s: loss: unknown '%s'",
                              s->opt->config, s->cfg.loss);
    }
    return tr_agree(s, st);
}

int tr_det_shards(const tr_session *s, size_t *first, size_t *count)
{
    size_t m = s->cfg.train.micro_shards, p = (size_t)s->size;
    if (!s->cfg.train.deterministic || (p & (p - 1)) || p > m) return 0;
    *count = m / p;
    *first = (size_t)s->rank * *count;
    return 1;
}

int tr_det_sum(tr_session *s, const double *mine, size_t k, double *out)
{
    size_t first, count, m = s->cfg.train.micro_shards;
    NN_CHECK(tr_det_shards(s, &first, &count), "tr_det_sum outside its mode");
    double *all = s->rank == 0 ? nn_xcalloc(nn_mul_size(m, k), sizeof *all)
                               : NULL;
    int bad = comm_gather_bytes(s->comm, mine, count * k * sizeof *mine, all, 0);
    if (!bad && all) {
        tr_tree_fold_d(all, k, m);
        memcpy(out, all, k * sizeof *out);
    }
    free(all);
    bad = bad || comm_bcast_bytes(s->comm, out, k * sizeof *out, 0);
    return bad ? NN_EXIT_OTHER : 0;
}

/* The moments (sums, sums of squares, count) of this rank's training rows
 * rows[0, n) into m[2w + 1], summed across ranks: in the fixed tree over
 * the micro-shards in deterministic mode, else by one allreduce. */
static int sum_moments(tr_session *s, const size_t *rows, size_t n, double *m)
{
    size_t w = s->train.x_width, first, count;
    if (!tr_det_shards(s, &first, &count)) {
        /* packed data: one streaming pass over this rank's training rows */
        int st = tr_agree(s, io_dataset_moments(&s->train, rows, n, m, m + w,
                                                &s->err));
        m[2 * w] = (double)n;
        if (st) return st;
        return comm_allreduce_sum_d(s->comm, m, 2 * w + 1) ? NN_EXIT_OTHER : 0;
    }
    size_t k = 2 * w + 1, *sel = nn_xcalloc(n + 1, sizeof *sel);
    double *mine = nn_xcalloc(nn_mul_size(count, k), sizeof *mine);
    int st = 0;
    for (size_t j = 0; j < count && !st; j++) {
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            if (io_shard_micro(s->train.total, s->cfg.train.micro_shards,
                               s->train.lo + rows[i]) == first + j)
                sel[c++] = rows[i];
        st = io_dataset_moments(&s->train, sel, c, mine + j * k,
                                mine + j * k + w, &s->err);
        mine[j * k + 2 * w] = (double)c;
    }
    if (!(st = tr_agree(s, st))) st = tr_det_sum(s, mine, k, m);
    free(mine), free(sel);
    return st;
}

/* Per-column mean and std of the TRAINING rows (validation rows excluded),
 * summed across ranks, then applied to train and test. */
static int standardize(tr_session *s)
{
    size_t w = s->train.x_width, n = 0;
    double *m = nn_xcalloc(2 * w + 1, sizeof *m);
    double *q = m + w, *cnt = m + 2 * w;
    size_t *rows = nn_xcalloc(s->shard.n_train + 1, sizeof *rows);
    for (size_t i = 0; i < s->shard.n_train; i++) {
        size_t id = s->shard.train[i];
        if (id >= s->train.lo && id < s->train.hi) rows[n++] = id - s->train.lo;
    }
    int st = sum_moments(s, rows, n, m);
    free(rows);
    if (st) {
        free(m);
        return st;
    }
    double k = *cnt > 0 ? *cnt : 1;
    for (size_t j = 0; j < w; j++) {
        m[j] /= k;
        double var = q[j] / k - m[j] * m[j];
        q[j] = sqrt(var > 0 ? var : 0);
    }
    io_dataset_standardize(&s->train, m, q);
    if (s->have_test) io_dataset_standardize(&s->test, m, q);
    if (s->have_val) io_dataset_standardize(&s->val, m, q);
    /* Kept for checkpoints, so predict can normalise new inputs alike. */
    s->norm_mean = m;
    s->norm_std = q;
    return 0;
}

/* data.labelled: only that many training rows keep their labels (the
 * same rows for any rank count, io_labelled_pick); validation and test
 * rows keep theirs. Without pseudo-labels nothing reads the other rows,
 * so the epochs run over the labelled rows alone: a batch is then B
 * labelled rows, as if the file held only those (the batch-mean scaling
 * would otherwise divide each step's one or two labelled rows by B). */
static int keep_labels(tr_session *s)
{
    io_shard *sh = &s->shard;
    size_t keep = s->cfg.data.labelled, n = sh->n_train;
    if (keep > n) /* n is global: every rank decides alike */
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: data.labelled %zu exceeds the %zu training "
                            "rows", s->opt->config, keep, n);
    unsigned char *kept = nn_xcalloc(n, 1);
    io_labelled_pick(sh->train, n, keep, s->cfg.train.seed, kept);
    io_dataset_hide_labels(&s->train, sh->train, n, kept);
    int pseudo = tr_semisup_cfg_of(&s->cfg)->pseudo_label_threshold > 0;
    if (!pseudo) { /* train[] stays ascending; perm is redrawn per epoch */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (kept[i]) sh->train[k++] = sh->train[i];
        sh->n_train = k;
    }
    free(kept);
    tr_say(s, "data: %zu of %zu training rows keep their labels "
              "(data.labelled); %s\n", keep, n,
           pseudo ? "the others are pseudo-labelled when confident"
                  : "training uses those alone");
    return 0;
}

nn_augment tr_augment_of(const io_data_cfg *d)
{
    return (nn_augment){.crop_pad = d->augment_crop_pad,
                        .hflip = d->augment_hflip};
}

/* data.augment needs image rows [C, H, W] that a crop fits. */
static int check_augment(tr_session *s)
{
    nn_augment a = tr_augment_of(&s->cfg.data);
    if (!nn_augment_active(&a) || !nn_augment_check(&a, s->train.x_shape, &s->err))
        return 0;
    nn_error_prefix(&s->err, "%s: data.augment: %s: ", s->opt->config,
                    s->train.name);
    return NN_EXIT_USAGE;
}

int tr_load_data(tr_session *s)
{
    const io_data_cfg *d = &s->cfg.data;
    size_t r = (size_t)s->rank, p = (size_t)s->size;
    /* An objective that makes its own data (reinforcement learning) brings
     * its own sampler and reads no files; only `axon train` runs it. */
    const tr_objective_ops *obj = tr_objective_find(tr_objective_of(&s->cfg));
    if (obj && obj->sampler)
        return tr_agree(s, strcmp(s->opt->command, "train")
                               ? nn_error_set(&s->err, NN_EXIT_USAGE,
                                              "%s: objective %s makes its own "
                                              "data: train it with `axon "
                                              "train`, run a checkpoint with "
                                              "`axon play --checkpoint PATH`",
                                              s->opt->config, obj->name)
                               : 0);
    /* Stream order (io/shard.h) gives a rank fixed streams spread over the
     * whole text, so every rank holds every training window (the text is
     * read whole anyway, for its vocabulary). */
    const tr_sampler_ops *sampler;
    int st = tr_agree(s, tr_sampler_pick(s, &sampler));
    if (st) return st;
    st = sampler->whole_data
                 ? io_dataset_load(&s->train, d, IO_SPLIT_TRAIN, 0, 1, &s->err)
                 : io_dataset_load(&s->train, d, IO_SPLIT_TRAIN, r, p, &s->err);
    s->have_test = d->test != NULL;
    s->have_val = d->val != NULL;
    if (!st && s->have_test)
        st = io_dataset_load(&s->test, d, IO_SPLIT_TEST, r, p, &s->err);
    if (!st && s->have_val) {
        /* A validation file is read like a test file. */
        io_data_cfg v = *d;
        v.test = d->val;
        v.test_labels = d->val_labels;
        st = io_dataset_load(&s->val, &v, IO_SPLIT_TEST, r, p, &s->err);
    }
    /* Every file meets the same model: the training file's sample shape. */
    if (!st && s->have_test)
        st = io_dataset_check_shape(&s->test, s->train.x_shape,
                                    s->train.y_width, s->train.name, &s->err);
    if (!st && s->have_val)
        st = io_dataset_check_shape(&s->val, s->train.x_shape,
                                    s->train.y_width, s->train.name, &s->err);
    if (!st) st = check_augment(s);
    if ((st = tr_agree(s, st))) return st;
    if (s->train.vocab) { /* text: the ids' meaning, kept in checkpoints */
        s->vocab_len = s->train.vocab_len;
        s->vocab = nn_xmalloc(s->vocab_len);
        memcpy(s->vocab, s->train.vocab, s->vocab_len);
        tr_say(s, "data: text vocabulary of %zu characters\n", s->vocab_len);
    }
    io_shard_plan(&s->shard, s->train.total, s->train.lo, s->train.hi,
                  s->cfg.train.seed, d->val_fraction);
    if (s->shard.n_train == 0) {
        st = nn_error_set(&s->err, NN_EXIT_DATA,
                          "%s: no training rows left after the validation split",
                          s->train.name);
        return tr_agree(s, st);
    }
    if (!strcmp(d->normalize, "scale")) {
        io_dataset_scale(&s->train, (float)d->scale);
        if (s->have_test) io_dataset_scale(&s->test, (float)d->scale);
        if (s->have_val) io_dataset_scale(&s->val, (float)d->scale);
    } else if (!strcmp(d->normalize, "standardize")) {
        if ((st = standardize(s))) return st;
    }
    /* after standardize: its moments use every training row's inputs */
    return d->labelled ? tr_agree(s, keep_labels(s)) : 0;
}

/* How the loss views the model's output (see loss_steps in session.h). */
void tr_loss_layout(tr_session *s)
{
    nn_shape out = nn_model_out_shape(s->model);
    s->loss_steps = 1;
    s->loss_dim = nn_shape_size(out);
    if (s->loss->classifier && out.ndim >= 2) {
        s->loss_dim = out.dim[out.ndim - 1];
        s->loss_steps = nn_shape_size(out) / s->loss_dim;
    }
}

/* bce compares probabilities: every target must lie in [0, 1]. (d: a
 * view of the rows in memory, io_dataset_scan.) */
static int check_unit_targets(const io_dataset *d, void *ctx)
{
    tr_session *s = ctx;
    for (size_t i = 0; i < (d->hi - d->lo) * d->y_width; i++)
        if (!(d->y[i] >= 0 && d->y[i] <= 1))
            return nn_error_set(&s->err, NN_EXIT_DATA,
                                "%s: row %zu: target %g is outside [0, 1], "
                                "which loss bce needs (for pixels: "
                                "data.normalize scale with the default "
                                "1/255)", d->name, d->lo + i / d->y_width,
                                (double)d->y[i]);
    return 0;
}

/* Every label a class index of the model's outputs (d: a view in
 * memory, io_dataset_scan). */
static int check_classes(const io_dataset *d, void *ctx)
{
    tr_session *s = ctx;
    size_t classes = s->loss_dim;
    for (size_t i = 0; i < (d->hi - d->lo) * d->y_width; i++) {
        float y = d->y[i];
        if (y == NN_LABEL_NONE) continue;
        if (!(y >= 0) || y >= (float)classes || y != floorf(y))
            return nn_error_set(&s->err, NN_EXIT_DATA,
                                "%s: row %zu: label %g is not a class index "
                                "of the model's %zu outputs",
                                d->name, d->lo + i / d->y_width, (double)y,
                                classes);
    }
    return 0;
}

/* Classification targets must be valid class indices of the model's
 * output (or NN_LABEL_NONE for unlabelled rows and padded steps); bce
 * targets must be probabilities. Checked once at start-up rather than
 * trusted in the loss (packed data: one pass over the targets alone). */
static int check_labels(tr_session *s, const io_dataset *d)
{
    size_t want = s->loss->classifier ? s->loss_steps
                                      : s->loss->target_width(s->loss_dim);
    if (d->y_width != want)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: %zu target value(s) per sample, but loss "
                            "'%s' on the model's output %s needs %zu",
                            d->name, d->y_width, s->loss->name,
                            s->loss->classifier ? "steps" : "width", want);
    if (s->loss->classifier)
        return io_dataset_scan(d, IO_SCAN_Y, check_classes, s, &s->err);
    if (strcmp(s->loss->name, "bce")) return 0;
    return io_dataset_scan(d, IO_SCAN_Y, check_unit_targets, s, &s->err);
}

/* Text data feeds token ids to a first `embedding` layer, which must have
 * a row for every character of the vocabulary. */
static int check_tokens(tr_session *s)
{
    const nn_layer *l = &s->model->layers[0];
    size_t rows = nn_model_token_vocab(s->model);
    if (!rows) return 0;
    if (s->vocab && rows < s->vocab_len)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "layer '%s': vocab %zu is smaller than the %zu "
                            "characters of %s",
                            l->name, rows, s->vocab_len, s->train.name);
    /* Any other data feeding an embedding: every input must be an id. */
    int st = io_dataset_check_ids(&s->train, rows, &s->err);
    if (!st && s->have_test) st = io_dataset_check_ids(&s->test, rows, &s->err);
    if (!st && s->have_val) st = io_dataset_check_ids(&s->val, rows, &s->err);
    return st;
}

int tr_build_model(tr_session *s)
{
    const char *obj = tr_objective_of(&s->cfg);
    if (strcmp(obj, "supervised") && strcmp(s->opt->command, "train"))
        return tr_agree(s, nn_error_set(
            &s->err, NN_EXIT_USAGE,
            "%s: an objective %s config is trained with `axon train`; `axon "
            "%s` does not apply (it runs one supervised model; sample a "
            "trained GAN with `axon sample --checkpoint PATH --out grid.png`)",
            s->opt->config, obj, s->opt->command));
    int st = nn_model_create(&s->model, s->cfg.layers, s->cfg.n_layers,
                             s->train.x_shape, &s->err);
    if (!st) {
        tr_loss_layout(s);
        st = check_labels(s, &s->train);
        if (!st && s->have_test) st = check_labels(s, &s->test);
        if (!st && s->have_val) st = check_labels(s, &s->val);
        if (!st) st = check_tokens(s);
    }
    /* name the config once: layer errors already start with it */
    if (st && strncmp(s->err.msg, s->opt->config, strlen(s->opt->config)))
        nn_error_prefix(&s->err, "%s: ", s->opt->config);
    if ((st = tr_agree(s, st))) return st;
    /* Initialise on rank 0 (broadcast by whoever trains it). */
    if (s->rank == 0) nn_model_init(s->model, s->cfg.train.seed);
    return 0;
}

/* FNV-1a of this process's executable (0 if it cannot be read). */
static uint64_t binary_hash(void)
{
    FILE *f = fopen("/proc/self/exe", "rb");
    if (!f) return 0;
    uint64_t h = NN_FNV_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = nn_fnv1a(buf, n, h);
    fclose(f);
    return h;
}

static uint64_t data_hash(const io_dataset *d, uint64_t h)
{
    uint64_t v[4] = {d->total, d->x_width, d->y_width, d->x_shape.ndim};
    return nn_fnv1a(v, sizeof v, h);
}

int tr_check_agreement(tr_session *s)
{
    /* config: the text rank 0 broadcast plus this rank's own --set list */
    uint64_t cfg = nn_fnv1a(s->cfg.text, s->cfg.text_len, NN_FNV_INIT);
    for (size_t i = 0; i < s->opt->n_sets; i++)
        cfg = nn_fnv1a(s->opt->sets[i], strlen(s->opt->sets[i]) + 1, cfg);
    uint64_t data = data_hash(&s->train, NN_FNV_INIT);
    if (s->have_test) data = data_hash(&s->test, data);
    if (s->have_val) data = data_hash(&s->val, data);
    uint64_t mine[3] = {binary_hash(), cfg, data}, ref[3];
    memcpy(ref, mine, sizeof ref);
    if (comm_bcast_bytes(s->comm, ref, sizeof ref, 0)) return NN_EXIT_OTHER;
    static const char *const what[3] = {
        "axon binary", "config (file or --set overrides)",
        "data (row counts or sample shapes)"};
    int st = 0;
    for (int i = 0; i < 3 && !st; i++)
        if (mine[i] != ref[i])
            st = nn_error_set(&s->err, NN_EXIT_USAGE,
                              "ranks disagree: rank %d's %s differs from "
                              "rank 0's (%016llx vs %016llx); all ranks must "
                              "run the same binary, config and data",
                              s->rank, what[i], (unsigned long long)mine[i],
                              (unsigned long long)ref[i]);
    return tr_agree(s, st);
}

void tr_session_free(tr_session *s)
{
    if (s->model) nn_model_destroy(s->model);
    io_shard_free(&s->shard);
    free(s->norm_mean); /* norm_std lives in the same block */
    free(s->vocab);
    io_dataset_free(&s->train);
    io_dataset_free(&s->test);
    io_dataset_free(&s->val);
    io_config_free(&s->cfg);
}

/* trainer/session.c - set-up shared by every command (see session.h). */
#include "trainer/session.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"

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
    st = io_config_parse(&s->cfg, s->opt->config, text, n,
                         s->opt->sets, s->opt->n_sets, &s->err);
    free(text);
    if (!st) {
        s->loss = nn_loss_find(s->cfg.loss);
        if (!s->loss)
            st = nn_error_set(&s->err, NN_EXIT_USAGE, "%s: loss: unknown '%s'",
                              s->opt->config, s->cfg.loss);
    }
    return tr_agree(s, st);
}

/* Per-column mean and std of the TRAINING rows (validation rows excluded),
 * summed across ranks, then applied to train and test. */
static int standardize(tr_session *s)
{
    size_t w = s->train.x_width;
    double *m = nn_xcalloc(2 * w + 1, sizeof *m);
    double *q = m + w, *cnt = m + 2 * w;
    for (size_t i = 0; i < s->shard.n_train; i++) {
        size_t id = s->shard.train[i];
        if (id < s->train.lo || id >= s->train.hi) continue;
        const float *x = s->train.x + (id - s->train.lo) * w;
        for (size_t j = 0; j < w; j++) {
            m[j] += x[j];
            q[j] += (double)x[j] * x[j];
        }
        *cnt += 1;
    }
    if (comm_allreduce_sum_d(s->comm, m, 2 * w + 1)) {
        free(m);
        return NN_EXIT_OTHER;
    }
    double n = *cnt > 0 ? *cnt : 1;
    for (size_t j = 0; j < w; j++) {
        m[j] /= n;
        double var = q[j] / n - m[j] * m[j];
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

int tr_load_data(tr_session *s)
{
    const io_data_cfg *d = &s->cfg.data;
    size_t r = (size_t)s->rank, p = (size_t)s->size;
    int st = io_dataset_load(&s->train, d, IO_SPLIT_TRAIN, r, p, &s->err);
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
    if ((st = tr_agree(s, st))) return st;
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
    return 0;
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

/* Classification targets must be valid class indices of the model's
 * output (or NN_LABEL_NONE for unlabelled rows and padded steps); checked
 * once at start-up rather than trusted in the loss. */
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
    if (!s->loss->classifier) return 0;
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

int tr_build_model(tr_session *s)
{
    int st = nn_model_create(&s->model, s->cfg.layers, s->cfg.n_layers,
                             s->train.x_shape, &s->err);
    if (!st) {
        tr_loss_layout(s);
        st = check_labels(s, &s->train);
        if (!st && s->have_test) st = check_labels(s, &s->test);
        if (!st && s->have_val) st = check_labels(s, &s->val);
    }
    if (st) nn_error_prefix(&s->err, "%s: ", s->opt->config);
    if ((st = tr_agree(s, st))) return st;
    /* Initialise on rank 0 and broadcast: one source of truth. */
    if (s->rank == 0) nn_model_init(s->model, s->cfg.train.seed);
    if (comm_bcast_bytes(s->comm, s->model->params,
                         s->model->n_params * sizeof(float), 0))
        return NN_EXIT_OTHER;
    s->optim = nn_optim_create(&s->cfg.optim, s->model->n_params,
                               s->model->segs, s->model->n_segs);
    tr_gradsync_plan(&s->sync, s->model);
    return 0;
}

void tr_reserve(tr_session *s, size_t rows, size_t model_rows)
{
    if (model_rows < 64) model_rows = 64;
    if (rows < model_rows) rows = model_rows;
    size_t xw = s->train.x_width, yw = s->train.y_width;
    if (rows > s->cap) {
        free(s->bx);
        free(s->by);
        free(s->local);
        free(s->ids);
        s->bx = nn_xalloc_floats(rows * xw);
        s->by = nn_xalloc_floats(rows * yw);
        s->local = nn_xcalloc(rows, sizeof *s->local);
        s->ids = nn_xcalloc(rows, sizeof *s->ids);
        s->cap = rows;
    }
    if (model_rows > s->model_cap) {
        free(s->dout);
        s->dout = nn_xalloc_floats(model_rows *
                                   nn_shape_size(nn_model_out_shape(s->model)));
        nn_model_reserve(s->model, model_rows);
        s->model_cap = model_rows;
    }
}

void tr_session_free(tr_session *s)
{
    free(s->bx);
    free(s->by);
    free(s->dout);
    free(s->local);
    free(s->ids);
    if (s->optim) nn_optim_destroy(s->optim);
    tr_gradsync_free(&s->sync);
    if (s->model) nn_model_destroy(s->model);
    io_shard_free(&s->shard);
    free(s->norm_mean); /* norm_std lives in the same block */
    free(s->vocab);
    free(s->best);
    io_dataset_free(&s->train);
    io_dataset_free(&s->test);
    io_dataset_free(&s->val);
    io_config_free(&s->cfg);
    if (s->metrics) fclose(s->metrics);
}

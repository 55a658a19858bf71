/* trainer/lstsq.c - `axon lstsq`: linear least squares in closed form,
 * data-parallel. Each rank accumulates the normal equations over the
 * training rows it holds; the sums are added across ranks and every rank
 * solves the same small system. The model must be one dense layer with
 * loss mse; its parameters are set to the solution and evaluated. */
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/lstsq.h"
#include "trainer/run.h"

static int check_linear(tr_session *s)
{
    nn_model *m = s->model;
    if (m->n_layers != 1 || strcmp(m->layers[0].ops->type, "dense") ||
        m->layers[0].n_views != 2 || strcmp(s->loss->name, "mse"))
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: lstsq needs a model of exactly one dense "
                            "layer (with bias) and loss mse",
                            s->opt->config);
    return 0;
}

int tr_cmd_lstsq(tr_session *s)
{
    int st = tr_agree(s, check_linear(s));
    if (st) return st;
    const io_dataset *d = &s->train;
    size_t dim = d->x_width, k = d->y_width, m = dim + 1;
    double *A = nn_xcalloc(m * m + m * k, sizeof *A), *c = A + m * m;
    float *x = nn_xalloc_floats(dim + k + 1), *y = x + dim;
    for (size_t i = 0; i < s->shard.n_train && !st; i++) {
        size_t id = s->shard.train[i];
        if (id < d->lo || id >= d->hi) continue;
        size_t r = id - d->lo; /* one row at a time, in memory or packed */
        st = io_dataset_rows(d, &r, 1, x, y, &s->err);
        if (!st) nn_lstsq_accumulate(x, y, 1, dim, k, A, c);
    }
    free(x);
    double *b = nn_xcalloc(m * k, sizeof *b);
    if ((st = tr_agree(s, st))) {
        free(A), free(b);
        return st;
    }
    if (comm_allreduce_sum_d(s->comm, A, m * m + m * k))
        st = NN_EXIT_OTHER;
    if (!st) st = tr_agree(s, nn_lstsq_solve(A, c, m, k, b, &s->err));
    if (!st) {
        /* b is [m, k]: row j < dim holds feature j's weights, row dim the
         * intercepts; dense stores W[k, dim] and bias[k]. */
        nn_layer *l = &s->model->layers[0];
        float *w = nn_layer_tensor(l, 0), *bias = nn_layer_tensor(l, 1);
        for (size_t o = 0; o < k; o++) {
            for (size_t j = 0; j < dim; j++) w[o * dim + j] = (float)b[j * k + o];
            bias[o] = (float)b[dim * k + o];
        }
        tr_say(s, "closed form:");
        for (size_t o = 0; o < k; o++) {
            tr_say(s, "%s y%zu =", o ? ";" : "", o + 1);
            for (size_t j = 0; j < dim; j++)
                tr_say(s, " %s%.6g*x%zu", j ? "+ " : "", b[j * k + o], j + 1);
            tr_say(s, " + %.6g", b[dim * k + o]);
        }
        tr_say(s, "\n");
        nn_model_reserve(s->model, 256);
        size_t *rows = nn_xcalloc(s->shard.n_train + 1, sizeof *rows), n = 0;
        for (size_t i = 0; i < s->shard.n_train; i++) {
            size_t id = s->shard.train[i];
            if (id >= d->lo && id < d->hi) rows[n++] = id - d->lo;
        }
        double t[3];
        st = tr_evaluate(s, s->model, d, rows, n, t);
        free(rows);
        if (!st) tr_say(s, "train mse %.6g (%.0f rows)\n", t[0] / t[2], t[2]);
        if (!st && s->have_test &&
            !(st = tr_evaluate_all(s, s->model, &s->test, t)))
            tr_say(s, "test mse %.6g (%.0f rows)\n", t[0] / t[2], t[2]);
    }
    if (!st && s->cfg.ckpt.dir) { /* the solution as a run's checkpoint */
        tr_run r;
        st = tr_run_create(&r, s, NULL);
        if (!st) st = tr_save(&r, NULL);
        tr_run_free(&r);
    }
    free(A);
    free(b);
    return st;
}

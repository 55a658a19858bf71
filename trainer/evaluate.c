/* trainer/evaluate.c - loss and accuracy over held-out rows, with every
 * row counted exactly once however the ranks divide the data: each rank
 * evaluates the rows it holds and the sums are added across ranks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/recurrent.h"
#include "trainer/session.h"

int tr_evaluate(tr_session *s, nn_model *m, const io_dataset *d,
                const size_t *rows, size_t n, double out[3])
{
    nn_pass pass = {.training = 0, .seed = s->cfg.train.seed};
    size_t chunk = m->rows_cap; /* as many rows per pass as reserved */
    size_t xw = d->x_width, yw = d->y_width;
    NN_CHECK(chunk > 0, "evaluate before nn_model_reserve");
    float *bx = nn_xalloc_floats(nn_mul_size(chunk, xw) + 1);
    float *by = nn_xalloc_floats(nn_mul_size(chunk, yw) + 1);
    /* Training's streams keep their carried state across an evaluation
     * (it is set aside here and put back at the end), so that a
     * checkpoint taken after one still holds it. */
    size_t width = nn_recurrent_model_state_width(m), keep = m->rows_cap;
    float *kept = width ? nn_xalloc_floats(keep * width) : NULL;
    if (kept) nn_recurrent_model_get_state(m, keep, kept);
    out[0] = out[1] = out[2] = 0;
    int rd = 0;
    for (size_t at = 0; at < n; at += chunk) {
        size_t k = n - at < chunk ? n - at : chunk;
        /* packed data: a read error scores no more rows, then every rank
         * stops (agreed below) */
        if ((rd = io_dataset_rows(d, rows + at, k, bx, by, &s->err))) break;
        /* Held-out windows are scored independently, each from a zero
         * state: stateful layers would otherwise carry state between
         * unrelated chunks (and out of training's streams). */
        nn_recurrent_model_reset_state(m);
        const float *y = nn_model_forward(m, bx, k, &pass);
        nn_loss_stats st = {0};
        s->loss->eval(y, by, k * s->loss_steps, s->loss_dim, 1.0f, NULL, &st);
        out[0] += st.sum;
        out[1] += (double)st.correct;
        out[2] += (double)st.counted;
    }
    nn_recurrent_model_reset_state(m);
    if (kept) nn_recurrent_model_set_state(m, keep, kept);
    free(kept), free(bx), free(by);
    if ((rd = tr_agree(s, rd))) return rd;
    return comm_allreduce_sum_d(s->comm, out, 3) ? NN_EXIT_OTHER : 0;
}

int tr_evaluate_all(tr_session *s, nn_model *m, const io_dataset *d,
                    double out[3])
{
    size_t n = d->hi - d->lo;
    size_t *rows = nn_xcalloc(n ? n : 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) rows[i] = i;
    int st = tr_evaluate(s, m, d, rows, n, out);
    free(rows);
    return st;
}

size_t *tr_val_rows(tr_session *s, const io_dataset **d, size_t *n)
{
    *n = 0;
    if (s->have_val) {
        *d = &s->val;
        size_t k = s->val.hi - s->val.lo;
        size_t *rows = nn_xcalloc(k ? k : 1, sizeof *rows);
        for (size_t i = 0; i < k; i++) rows[i] = i;
        *n = k;
        return rows;
    }
    *d = &s->train;
    if (!s->shard.n_val) return NULL;
    /* the held-out ids this rank holds, as local rows */
    size_t *rows = nn_xcalloc(s->shard.n_val + 1, sizeof *rows);
    for (size_t i = 0; i < s->shard.n_val; i++) {
        size_t id = s->shard.val[i];
        if (id >= s->train.lo && id < s->train.hi) rows[(*n)++] = id - s->train.lo;
    }
    return rows;
}

int tr_cmd_eval(tr_session *s)
{
    const char *path = s->opt->checkpoint;
    io_ckpt c = {0};
    int st = s->rank == 0 ? io_ckpt_read(path, &c, &s->err) : 0;
    if (!st && s->rank == 0)
        st = tr_ckpt_params(&c, path, "model", s->model, &s->err);
    io_ckpt_free(&c);
    if ((st = tr_agree(s, st))) return st;
    if (comm_bcast_bytes(s->comm, s->model->params,
                         s->model->n_params * sizeof(float), 0))
        return NN_EXIT_OTHER;
    nn_model_reserve(s->model, 256);
    const io_dataset *d = s->have_test ? &s->test : &s->train;
    double t[3];
    if ((st = tr_evaluate_all(s, s->model, d, t))) return st;
    tr_say(s, "%s: %.0f samples  loss %.6g", d->name, t[2],
           t[2] > 0 ? t[0] / t[2] : NAN);
    if (s->loss->classifier && t[2] > 0)
        tr_say(s, "  accuracy %.2f%%", 100 * t[1] / t[2]);
    tr_say(s, "\n");
    return 0;
}

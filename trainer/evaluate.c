/* trainer/evaluate.c - loss and accuracy over held-out rows, with every
 * row counted exactly once however the ranks divide the data: each rank
 * evaluates the rows it holds and the sums are added across ranks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/recurrent.h"
#include "trainer/session.h"

/* Loss, correct and counted sums of m over local rows rows[0, n) of d
 * added into out[3], forward in chunks of `chunk` rows (bx, by hold a
 * chunk). 0, or a read error of packed data (err set; no more rows). */
static int eval_rows(tr_session *s, nn_model *m, const io_dataset *d,
                     const size_t *rows, size_t n, size_t chunk, float *bx,
                     float *by, double out[3])
{
    nn_pass pass = {.training = 0, .seed = s->cfg.train.seed};
    for (size_t at = 0; at < n; at += chunk) {
        size_t k = n - at < chunk ? n - at : chunk;
        int rd = io_dataset_rows(d, rows + at, k, bx, by, &s->err);
        if (rd) return rd;
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
    return 0;
}

/* Rows per pass of the deterministic evaluation: the same on every rank
 * count (every objective reserves at least 64). */
#define DET_CHUNK 64

/* training.deterministic: the sums of each of this rank's micro-shards of
 * d's rows (io_shard_micro's blocks of d's file) into mine[count][3], in
 * chunks of DET_CHUNK; tr_det_sum then adds them in the fixed tree of the
 * gradients, so the figures do not depend on the rank count either. */
static int eval_det(tr_session *s, nn_model *m, const io_dataset *d,
                    const size_t *rows, size_t n, float *bx, float *by,
                    double *mine)
{
    size_t first = 0, count = 0;
    tr_det_shards(s, &first, &count);
    size_t *sel = nn_xcalloc(n + 1, sizeof *sel);
    int rd = 0;
    for (size_t j = 0; j < count && !rd; j++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (io_shard_micro(d->total, s->cfg.train.micro_shards,
                               d->lo + rows[i]) == first + j)
                sel[k++] = rows[i];
        rd = eval_rows(s, m, d, sel, k, DET_CHUNK, bx, by, mine + 3 * j);
    }
    free(sel);
    return rd;
}

int tr_evaluate(tr_session *s, nn_model *m, const io_dataset *d,
                const size_t *rows, size_t n, double out[3])
{
    size_t chunk = m->rows_cap, first, count; /* chunk: rows reserved */
    /* deterministic where training is (elsewhere, e.g. `axon eval` on
     * another rank count: the plain sum) */
    int det = tr_det_shards(s, &first, &count);
    NN_CHECK(chunk >= (det ? DET_CHUNK : 1), "evaluate before nn_model_reserve");
    float *bx = nn_xalloc_floats(nn_mul_size(chunk, d->x_width) + 1);
    float *by = nn_xalloc_floats(nn_mul_size(chunk, d->y_width) + 1);
    double *mine = det ? nn_xcalloc(3 * count, sizeof *mine) : NULL;
    /* Training's streams keep their carried state across an evaluation
     * (it is set aside here and put back at the end), so that a
     * checkpoint taken after one still holds it. */
    size_t width = nn_recurrent_model_state_width(m), keep = m->rows_cap;
    float *kept = width ? nn_xalloc_floats(keep * width) : NULL;
    if (kept) nn_recurrent_model_get_state(m, keep, kept);
    out[0] = out[1] = out[2] = 0;
    /* packed data: a read error scores no more rows, then every rank
     * stops (agreed below) */
    int rd = det ? eval_det(s, m, d, rows, n, bx, by, mine)
                 : eval_rows(s, m, d, rows, n, chunk, bx, by, out);
    nn_recurrent_model_reset_state(m);
    if (kept) nn_recurrent_model_set_state(m, keep, kept);
    free(kept), free(bx), free(by);
    if (!(rd = tr_agree(s, rd)) && det) rd = tr_det_sum(s, mine, 3, out);
    free(mine);
    if (rd || det) return rd;
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

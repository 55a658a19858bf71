/* trainer/evaluate.c - loss and accuracy over held-out rows, with every
 * row counted exactly once however the ranks divide the data: each rank
 * evaluates the rows it holds and the sums are added across ranks. */
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/recurrent.h"
#include "trainer/session.h"

/* Copy rows `rows[0..n)` of d into the step buffers. */
static void gather(tr_session *s, const io_dataset *d, const size_t *rows,
                   size_t n)
{
    size_t xw = d->x_width, yw = d->y_width;
    for (size_t k = 0; k < n; k++) {
        memcpy(s->bx + k * xw, d->x + rows[k] * xw, xw * sizeof(float));
        memcpy(s->by + k * yw, d->y + rows[k] * yw, yw * sizeof(float));
    }
}

int tr_evaluate(tr_session *s, const io_dataset *d, const size_t *rows,
                size_t n, tr_stats *out)
{
    nn_pass pass = {.training = 0, .seed = s->cfg.train.seed};
    double sums[3] = {0, 0, 0};
    size_t chunk = s->model_cap;
    NN_CHECK(chunk > 0, "evaluate before tr_reserve");
    /* Training's streams keep their carried state across an evaluation
     * (it is set aside here and put back at the end), so that a
     * checkpoint taken after one still holds it. */
    size_t width = nn_recurrent_model_state_width(s->model);
    float *kept = width ? nn_xalloc_floats(chunk * width) : NULL;
    if (kept) nn_recurrent_model_get_state(s->model, chunk, kept);
    for (size_t at = 0; at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        gather(s, d, rows + at, m);
        /* Held-out windows are scored independently, each from a zero
         * state: stateful layers would otherwise carry state between
         * unrelated chunks (and out of training's streams). */
        nn_recurrent_model_reset_state(s->model);
        const float *y = nn_model_forward(s->model, s->bx, m, &pass);
        nn_loss_stats st = {0};
        s->loss->eval(y, s->by, m * s->loss_steps, s->loss_dim, 1.0f, NULL,
                      &st);
        sums[0] += st.sum;
        sums[1] += (double)st.correct;
        sums[2] += (double)st.counted;
    }
    nn_recurrent_model_reset_state(s->model);
    if (kept) nn_recurrent_model_set_state(s->model, chunk, kept);
    free(kept);
    if (comm_allreduce_sum_d(s->comm, sums, 3)) return NN_EXIT_OTHER;
    out->loss_sum = sums[0];
    out->correct = sums[1];
    out->count = sums[2];
    return 0;
}

int tr_evaluate_all(tr_session *s, const io_dataset *d, tr_stats *out)
{
    size_t n = d->hi - d->lo;
    size_t *rows = nn_xcalloc(n ? n : 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) rows[i] = i;
    int st = tr_evaluate(s, d, rows, n, out);
    free(rows);
    return st;
}

int tr_validate(tr_session *s, tr_stats *out)
{
    memset(out, 0, sizeof *out);
    if (s->have_val) return tr_evaluate_all(s, &s->val, out);
    if (!s->shard.n_val) return 0;
    /* the held-out ids this rank holds, as local rows */
    size_t *rows = nn_xcalloc(s->shard.n_val + 1, sizeof *rows), n = 0;
    for (size_t i = 0; i < s->shard.n_val; i++) {
        size_t id = s->shard.val[i];
        if (id >= s->train.lo && id < s->train.hi) rows[n++] = id - s->train.lo;
    }
    int st = tr_evaluate(s, &s->train, rows, n, out);
    free(rows);
    return st;
}

/* trainer/train.c - the data-parallel training loop.
 *
 * One step: gather this rank's rows of the global batch, forward, loss
 * scaled by 1/(global batch rows), backward into the gradient arena,
 * allreduce-sum of the arena (= the global-batch mean gradient), the same
 * optimizer update on every rank. Metrics are summed across ranks, so what
 * rank 0 prints is the whole batch's loss, not its own shard's.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/earlystop.h"
#include "nn/recurrent.h"
#include "trainer/gan.h"
#include "trainer/report.h"
#include "trainer/session.h"

/* Learning rate of the next update (a pure function of the step, so a
 * resumed run continues the schedule where it stopped). */
static double current_lr(const tr_session *s)
{
    return nn_schedule_lr(&s->sched, s->global_step);
}

/* data.stream (truncated BPTT, io/shard.h STREAM ORDER): steps per epoch
 * are S = n_train / B, and this rank's rows are its fixed streams. */
static size_t epoch_steps(const tr_session *s)
{
    size_t B = s->cfg.train.batch_size;
    return s->cfg.data.stream ? io_shard_stream_steps(&s->shard, B)
                              : io_shard_steps(&s->shard, B);
}

/* This rank's rows of step `step` (see io_shard_batch). */
static size_t step_rows(tr_session *s, size_t step, size_t *global)
{
    size_t B = s->cfg.train.batch_size;
    if (!s->cfg.data.stream)
        return io_shard_batch(&s->shard, B, step, s->local, s->ids, global);
    return io_shard_stream_batch(&s->shard, B, step, (size_t)s->rank,
                                 (size_t)s->size, s->local, s->ids, global);
}

size_t tr_gather_step(tr_session *s, size_t step, size_t *global)
{
    size_t n = step_rows(s, step, global);
    size_t xw = s->train.x_width, yw = s->train.y_width;
    for (size_t k = 0; k < n; k++) {
        memcpy(s->bx + k * xw, s->train.x + s->local[k] * xw,
               xw * sizeof(float));
        memcpy(s->by + k * yw, s->train.y + s->local[k] * yw,
               yw * sizeof(float));
    }
    return n;
}

size_t tr_pass_rows(const tr_session *s, size_t n)
{
    size_t acc = s->cfg.train.accumulate ? s->cfg.train.accumulate : 1;
    return n ? (n + acc - 1) / acc : 1;
}

static void stats_add(tr_stats *a, const tr_stats *b)
{
    a->loss_sum += b->loss_sum;
    a->correct += b->correct;
    a->count += b->count;
    a->pseudo_sum += b->pseudo_sum;
    a->pseudo_count += b->pseudo_count;
    a->unlabelled += b->unlabelled;
}

/* Set by SIGINT/SIGTERM/SIGUSR1; acted on collectively at a step's end. */
static volatile sig_atomic_t g_stop_signal;

static void on_signal(int sig)
{
    g_stop_signal = sig;
}

static void install_signals(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* Testing hook: AXON_INJECT_NAN=STEP:RANK makes RANK's loss gradient NaN
 * at global step STEP (1-based), to exercise divergence handling. */
static int inject_nan(const tr_session *s)
{
    const char *e = getenv("AXON_INJECT_NAN");
    unsigned long long step;
    int rank;
    return e && sscanf(e, "%llu:%d", &step, &rank) == 2 &&
           step == s->global_step + 1 && rank == s->rank;
}

/* After a non-finite global loss: name every rank whose own loss was not
 * finite (collective; every rank calls it at the same step). */
static int diverged(tr_session *s, int local_bad, double loss)
{
    double *bad = nn_xcalloc((size_t)s->size, sizeof *bad);
    bad[s->rank] = local_bad;
    comm_allreduce_sum_d(s->comm, bad, (size_t)s->size);
    char list[256] = "";
    size_t len = 0;
    for (int r = 0; r < s->size && len + 16 < sizeof list; r++)
        if (bad[r] > 0)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%d",
                                    len ? ", " : "", r);
    free(bad);
    nn_error_set(&s->err, NN_EXIT_DIVERGED,
                 "training diverged at step %llu (epoch %llu): loss is %g "
                 "on rank(s) %s; no update was applied",
                 (unsigned long long)s->global_step + 1,
                 (unsigned long long)s->epoch + 1, loss,
                 len ? list : "(none alone; the sum overflowed)");
    /* Every rank knows; only rank 0 reports it. */
    if (s->rank == 0) fprintf(stderr, "axon: error: %s\n", s->err.msg);
    return NN_EXIT_DIVERGED;
}

/* One optimizer step over global batch `step` of the current epoch.
 * *st gets this step's global (all-rank) loss statistics. Returns 0,
 * TR_STOP when a signal asked every rank to stop after this step, or an
 * error code (the same on every rank). */
#define TR_STOP (-1)
/* Forward and backward over local rows [a, b) of the gathered batch,
 * adding to the gradient arena; the loss is scaled for `global` rows. */
static void micro_batch(tr_session *s, size_t a, size_t b, size_t global,
                        tr_stats *acc)
{
    size_t n = b - a, t = s->loss_steps;
    size_t xw = s->train.x_width, yw = s->train.y_width;
    nn_pass pass = {.training = 1, .seed = s->cfg.train.seed,
                    .step = s->global_step, .ids = s->ids + a};
    const float *y = nn_model_forward(s->model, s->bx + a * xw, n, &pass);
    tr_stats ls = {0};
    tr_train_loss(s, y, s->by + a * yw, n * t, 1.0f / (float)(global * t),
                  s->dout, &ls);
    if (inject_nan(s)) {
        ls.loss_sum = NAN;
        s->dout[0] = NAN;
    }
    nn_model_backward(s->model, s->bx + a * xw, s->dout, n);
    stats_add(acc, &ls);
}

/* Clip the global norm of the synchronised gradients (identical on every
 * rank, since it runs after the allreduce). */
static void clip_gradients(tr_session *s)
{
    double max = s->cfg.train.clip_norm, sq = 0;
    if (max <= 0) return;
    const tr_gradsync *g = &s->sync;
    for (size_t r = 0; r < g->n_ranges; r++) {
        const float *p = s->model->grads + g->ranges[r].offset;
        for (size_t i = 0; i < g->ranges[r].count; i++) sq += (double)p[i] * p[i];
    }
    double norm = sqrt(sq);
    if (!(norm > max) || !isfinite(norm)) return;
    float k = (float)(max / norm);
    for (size_t r = 0; r < g->n_ranges; r++) {
        float *p = s->model->grads + g->ranges[r].offset;
        for (size_t i = 0; i < g->ranges[r].count; i++) p[i] *= k;
    }
}

/* One optimizer step over global batch `step` of the current epoch, in
 * `training.accumulate` micro-batches. *st gets this step's global
 * (all-rank) loss statistics. Returns 0, TR_STOP when a signal asked every
 * rank to stop after this step, or an error code (the same on every rank). */
static int train_step(tr_session *s, size_t step, tr_stats *st)
{
    size_t global = 0;
    size_t n = tr_gather_step(s, step, &global);
    nn_model_zero_grad(s->model);
    tr_stats ls = {0};
    size_t chunk = tr_pass_rows(s, n);
    /* Buckets of the gradient may start their allreduce during the last
     * micro-batch's backward (every rank calls begin once per step). */
    for (size_t a = 0; a < n; a += chunk) {
        if (a + chunk >= n) tr_gradsync_begin(&s->sync, s->comm, s->model);
        micro_batch(s, a, a + chunk < n ? a + chunk : n, global, &ls);
    }
    if (n == 0) tr_gradsync_begin(&s->sync, s->comm, s->model);
    /* One small allreduce carries the loss statistics and the stop flag. */
    double sums[7] = {ls.loss_sum, ls.correct, ls.count, ls.pseudo_sum,
                      ls.pseudo_count, ls.unlabelled,
                      g_stop_signal ? 1.0 : 0.0};
    if (tr_gradsync_run(&s->sync, s->comm, s->model) ||
        comm_allreduce_sum_d(s->comm, sums, 7))
        return nn_error_set(&s->err, NN_EXIT_OTHER, "allreduce failed");
    *st = (tr_stats){.loss_sum = sums[0], .correct = sums[1],
                     .count = sums[2], .pseudo_sum = sums[3],
                     .pseudo_count = sums[4], .unlabelled = sums[5]};
    /* Every rank sees the same summed loss, so all stop at the same step,
     * before the update, leaving the parameters as they were. */
    double loss = sums[0] + sums[3];
    if (!isfinite(loss))
        return diverged(s, !isfinite(ls.loss_sum + ls.pseudo_sum), loss);
    clip_gradients(s);
    nn_optim_step(s->optim, s->model->params, s->model->grads,
                  (float)current_lr(s));
    if (tr_average_buffers(s, s->model)) return NN_EXIT_OTHER;
    s->global_step++;
    return sums[6] > 0 ? TR_STOP : 0;
}

static void startup_banner(tr_session *s, size_t steps)
{
    if (s->rank == 0 && !s->opt->quiet) nn_model_summary(s->model, stdout);
    tr_say(s, "data: %zu training rows, %zu validation rows%s; global batch "
              "%zu = %zu steps/epoch\n",
           s->shard.n_train, s->have_val ? s->val.total : s->shard.n_val,
           s->have_test ? ", test set present" : "", s->cfg.train.batch_size,
           steps);
}

/* Early stopping, once per epoch after validation: remember the best
 * epoch's parameters (in memory, and as best.ckpt), count epochs without
 * an improvement larger than min_delta, and ask to stop after `patience`
 * of them. Identical on every rank (the metrics are global). */
static int early_stopping(tr_session *s, const tr_stats *val, int *stop)
{
    const io_early_stop_cfg *e = &s->cfg.early_stop;
    *stop = 0;
    if (!e->enabled) return 0;
    int acc = !strcmp(e->monitor, "val_accuracy");
    nn_early_stop es = {.higher_is_better = acc, .patience = e->patience,
                        .min_delta = e->min_delta, .best = s->best_metric,
                        .best_epoch = s->best_epoch,
                        .bad_epochs = s->bad_epochs};
    nn_es_verdict v = nn_early_stop_update(
        &es, s->epoch + 1, acc ? tr_accuracy(s, val) : tr_mean_loss(val));
    s->best_metric = es.best;
    s->best_epoch = es.best_epoch;
    s->bad_epochs = es.bad_epochs;
    if (v == NN_ES_IMPROVED) {
        if (!s->best) s->best = nn_xalloc_floats(s->model->n_params);
        memcpy(s->best, s->model->params, s->model->n_params * sizeof(float));
        return tr_save_checkpoint(s, "best.ckpt");
    }
    if (v == NN_ES_STOP) {
        *stop = 1;
        tr_say(s, "early stopping after epoch %llu: no %s improvement for "
                  "%llu epochs; best %.6g at epoch %llu\n",
               (unsigned long long)s->epoch + 1, e->monitor,
               (unsigned long long)s->bad_epochs, s->best_metric,
               (unsigned long long)s->best_epoch);
    }
    return 0;
}

/* Train for the configured epochs from the current position. */
static int run_epochs(tr_session *s)
{
    const io_train_cfg *tc = &s->cfg.train;
    size_t steps = epoch_steps(s);
    int st = 0;
    startup_banner(s, steps);
    if (s->best_epoch && !s->best && (st = tr_load_best(s))) return st;
    for (; s->epoch < tc->epochs && !st; s->epoch++, s->step_in_epoch = 0) {
        io_shard_epoch(&s->shard, s->epoch, tc->batch_size);
        tr_unfreeze(s);
        /* Stateful layers start every epoch from zeros; a resumed one,
         * mid-way, from the state the checkpoint carried (below). */
        nn_recurrent_model_reset_state(s->model);
        size_t rows = s->cfg.data.stream
                          ? io_shard_stream_batch(&s->shard, tc->batch_size, 0,
                                                  (size_t)s->rank,
                                                  (size_t)s->size, NULL, NULL,
                                                  NULL)
                          : io_shard_max_rows(&s->shard, tc->batch_size);
        /* activations are needed for one micro-batch at a time */
        tr_reserve(s, rows, tr_pass_rows(s, rows));
        if (s->stream_state) {
            nn_recurrent_model_set_state(s->model, rows, s->stream_state);
            free(s->stream_state);
            s->stream_state = NULL;
        }
        tr_stats ep = {0}, win = {0};
        double te = comm_wtime(), tw = te, rows_w = 0, rows_e = 0;
        size_t first = s->step_in_epoch;
        for (size_t k = first; k < steps; k++) {
            tr_stats one = {0};
            comm_set_step(s->comm, s->global_step + 1); /* for timeouts */
            st = train_step(s, k, &one);
            if (st == NN_EXIT_DIVERGED) break; /* decided collectively */
            if (st == TR_STOP) {
                s->step_in_epoch = k + 1;
                break;
            }
            if ((st = tr_agree(s, st))) break;
            s->step_in_epoch = k + 1;
            stats_add(&ep, &one);
            stats_add(&win, &one);
            size_t g = tc->batch_size * (k + 1) <= s->shard.n_train
                           ? tc->batch_size
                           : s->shard.n_train - tc->batch_size * k;
            rows_w += (double)g;
            rows_e += (double)g;
            size_t pe = s->cfg.log.print_every;
            if (pe && (k + 1) % pe == 0) {
                double now = comm_wtime();
                double left = (double)(steps - k - 1) +
                              (double)steps * (double)(tc->epochs - s->epoch - 1);
                double per_step = (now - te) / (double)(k + 1 - first);
                tr_progress(s, s->epoch + 1, tc->epochs, k + 1, steps, &win,
                            rows_w / (now - tw), left * per_step);
                memset(&win, 0, sizeof win);
                rows_w = 0;
                tw = now;
            }
            if (s->cfg.ckpt.every_steps &&
                s->global_step % s->cfg.ckpt.every_steps == 0 &&
                (st = tr_save_checkpoint(s, NULL)))
                break;
            if (tc->max_steps && s->global_step >= tc->max_steps) break;
        }
        if (st || s->step_in_epoch < steps) break; /* error, stop, max_steps */
        double dt = comm_wtime() - te;
        tr_epoch_report r = {.epoch = s->epoch + 1, .step = s->global_step,
                             .lr = current_lr(s), .train = ep,
                             .samples_per_sec = rows_e / dt,
                             .elapsed = comm_wtime() - s->t0};
        if ((st = tr_validate(s, &r.val))) break;
        char vbuf[96] = "";
        if (r.val.count > 0) {
            double va = tr_accuracy(s, &r.val);
            snprintf(vbuf, sizeof vbuf, "  val loss %.4f", tr_mean_loss(&r.val));
            if (va >= 0)
                snprintf(vbuf + strlen(vbuf), sizeof vbuf - strlen(vbuf),
                         "  val acc %.2f%%", 100 * va);
        }
        double ta = tr_accuracy(s, &ep);
        char tbuf[32] = "";
        if (ta >= 0) snprintf(tbuf, sizeof tbuf, "  acc %.2f%%", 100 * ta);
        /* Long runs of tiny epochs (linear regression) print ~50 lines. */
        uint64_t every = tc->epochs > 100 ? tc->epochs / 50 : 1;
        if (r.epoch % every == 0 || r.epoch == 1)
        tr_say(s, "epoch %llu/%llu done: loss %.4f%s%s  %.0f samples/s  %.1fs\n",
               (unsigned long long)r.epoch, (unsigned long long)tc->epochs,
               tr_mean_loss(&ep), tbuf, vbuf, r.samples_per_sec, dt);
        tr_metrics_epoch(s, &r);
        int early = 0;
        if ((st = early_stopping(s, &r.val, &early))) break;
        int stop = early || (tc->max_steps && s->global_step >= tc->max_steps);
        int last = s->epoch + 1 == tc->epochs || stop;
        if (!last && s->cfg.ckpt.every_epochs &&
            (s->epoch + 1) % s->cfg.ckpt.every_epochs == 0) {
            /* The epoch is complete: save the position as the next one's
             * start, so a resume does not repeat it. */
            s->epoch++;
            s->step_in_epoch = 0;
            st = tr_save_checkpoint(s, NULL);
            s->epoch--;
            if (st) break;
        }
        if (stop) { /* early stopping, or max_steps at the epoch's end */
            s->epoch++;
            s->step_in_epoch = 0;
            break;
        }
    }
    return st;
}

static int final_report(tr_session *s)
{
    tr_stats t = {0};
    const io_dataset *d = s->have_test ? &s->test : NULL;
    if (!d) return 0;
    int st = tr_evaluate_all(s, d, &t);
    if (st) return st;
    double acc = tr_accuracy(s, &t);
    if (acc >= 0)
        tr_say(s, "test: loss %.4f  accuracy %.2f%% (%.0f samples)\n",
               tr_mean_loss(&t), 100 * acc, t.count);
    else
        tr_say(s, "test: loss %.6g (%.0f samples)\n", tr_mean_loss(&t),
               t.count);
    tr_metrics_final(s, "test", &t);
    return 0;
}

/* For a single linear unit, print the learned line/plane. */
static void print_linear(tr_session *s)
{
    nn_model *m = s->model;
    if (m->n_layers != 1 || strcmp(m->layers[0].ops->type, "dense") ||
        nn_shape_size(m->layers[0].out) != 1 || m->layers[0].n_views != 2)
        return;
    const nn_layer *l = &m->layers[0];
    size_t d = nn_shape_size(l->in);
    const float *w = nn_layer_tensor(l, 0), *b = nn_layer_tensor(l, 1);
    tr_say(s, "learned: y =");
    for (size_t j = 0; j < d; j++)
        tr_say(s, " %s%.6g*x%zu", j ? "+ " : "", (double)w[j], j + 1);
    tr_say(s, " + %.6g\n", (double)b[0]);
}

/* Checks that need the data's size: the schedule over the whole run and
 * early stopping's need for validation rows. */
static int prepare(tr_session *s)
{
    const io_train_cfg *tc = &s->cfg.train;
    uint64_t steps = epoch_steps(s);
    if (steps == 0) /* stream mode only: a plain epoch has >= 1 step */
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: data.stream needs at least "
                            "training.batch_size (%zu) windows, the text has "
                            "%zu", s->opt->config, tc->batch_size,
                            s->shard.n_train);
    /* The schedule spans the configured epochs; max_steps only stops the
     * run early, so an interrupted run follows the same schedule. */
    uint64_t total = io_run_steps(tc, steps); /* saturating */
    s->sched = io_train_schedule(tc, steps, total);
    /* Evaluation needs buffers even when a resumed run has no epoch left. */
    tr_reserve(s, 64, 64);
    if (nn_schedule_check(&s->sched, &s->err)) {
        nn_error_prefix(&s->err, "%s: training: ", s->opt->config);
        return NN_EXIT_USAGE;
    }
    if (s->cfg.early_stop.enabled && !s->shard.n_val && !s->have_val)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: early_stopping needs validation data "
                            "(data.val_fraction or data.val)",
                            s->opt->config);
    return 0;
}

int tr_cmd_train(tr_session *s)
{
    if (s->gan) return tr_gan_train(s);
    int st = 0;
    int resumed = 0;
    if (s->opt->resume) {
        char buf[4096];
        const char *path = tr_resolve_resume(s, s->opt->resume, buf, sizeof buf);
        if (path) {
            if ((st = tr_load_checkpoint(s, path, 1))) return st;
            resumed = 1;
            tr_say(s, "resumed from %s at epoch %llu step %llu (global step "
                      "%llu)\n",
                   path, (unsigned long long)s->epoch + 1,
                   (unsigned long long)s->step_in_epoch,
                   (unsigned long long)s->global_step);
        } else {
            tr_say(s, "no checkpoint to resume from; starting fresh\n");
        }
    }
    if (!resumed && (st = tr_init_from(s))) return st;
    if ((st = tr_agree(s, prepare(s)))) return st;
    if ((st = tr_agree(s, tr_metrics_open(s, resumed)))) return st;
    s->t0 = comm_wtime();
    install_signals(1);
    st = run_epochs(s);
    install_signals(0);
    if (st == TR_STOP) {
        /* A signal (e.g. SLURM's SIGTERM before the time limit): keep the
         * work done so far and leave so the job can be resumed. */
        if (s->cfg.ckpt.dir && (st = tr_save_checkpoint(s, NULL))) return st;
        if (s->rank == 0)
            fprintf(stderr, "axon: stopping on signal after step %llu: %s\n",
                    (unsigned long long)s->global_step,
                    s->cfg.ckpt.dir ? "checkpoint saved; resume with "
                                      "--resume auto"
                                    : "no checkpoint.dir, nothing saved");
        return NN_EXIT_OTHER;
    }
    if (st) return st;
    if (s->best) {
        /* The final evaluation and checkpoint use the best epoch's weights. */
        memcpy(s->model->params, s->best, s->model->n_params * sizeof(float));
        tr_say(s, "restored the weights of epoch %llu (best %s %.6g)\n",
               (unsigned long long)s->best_epoch, s->cfg.early_stop.monitor,
               s->best_metric);
    }
    print_linear(s);
    if ((st = final_report(s))) return st;
    if (s->cfg.ckpt.dir && (st = tr_save_checkpoint(s, NULL))) return st;
    tr_say(s, "done: %llu steps in %.1fs\n", (unsigned long long)s->global_step,
           comm_wtime() - s->t0);
    return 0;
}

int tr_cmd_eval(tr_session *s)
{
    int st = tr_load_checkpoint(s, s->opt->checkpoint, 0);
    if (st) return st;
    tr_reserve(s, 256, 256);
    const io_dataset *d = s->have_test ? &s->test : &s->train;
    tr_stats t = {0};
    if ((st = tr_evaluate_all(s, d, &t))) return st;
    double acc = tr_accuracy(s, &t);
    tr_say(s, "%s: %.0f samples  loss %.6g", d->name, t.count, tr_mean_loss(&t));
    if (acc >= 0) tr_say(s, "  accuracy %.2f%%", 100 * acc);
    tr_say(s, "\n");
    return 0;
}

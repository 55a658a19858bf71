/* trainer/loop.c - the one training loop, for every objective (see
 * trainer/run.h): epochs, sampler, schedule, signals, metrics, early
 * stopping, checkpoints and resume. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/augment.h"
#include "nn/check.h"
#include "nn/earlystop.h"
#include "nn/memplan.h"
#include "nn/recurrent.h"
#include "trainer/objective.h"
#include "trainer/sampler.h"

/* Set by SIGINT/SIGTERM/SIGUSR1; acted on collectively at a step's end
 * (it travels with every phase's figures, tr_group_update). */
volatile sig_atomic_t tr_stop_signal;

static void on_signal(int sig)
{
    tr_stop_signal = sig;
}

static void install_signals(int on)
{
    if (on) tr_stop_signal = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

void tr_batch_reserve(tr_run *r, size_t rows)
{
    tr_batch *b = &r->batch;
    if (rows < 1) rows = 1;
    if (rows <= b->cap) return;
    size_t xw = r->s->train.x_width, yw = r->s->train.y_width;
    free(b->x), free(b->y), free(b->local), free(b->ids), free(b->plan);
    free(b->tmp_local), free(b->tmp_ids), free(b->tmp_x), free(b->tmp_y);
    b->x = nn_xalloc_floats(nn_mul_size(rows, xw ? xw : 1));
    b->y = nn_xalloc_floats(nn_mul_size(rows, yw ? yw : 1));
    b->local = nn_xcalloc(rows, sizeof *b->local);
    b->ids = nn_xcalloc(rows, sizeof *b->ids);
    b->plan = nn_xcalloc(rows, sizeof *b->plan);
    b->tmp_local = nn_xcalloc(rows, sizeof *b->tmp_local);
    b->tmp_ids = nn_xcalloc(rows, sizeof *b->tmp_ids);
    /* deterministic mode: the rows reordered by micro-shard */
    b->tmp_x = b->n_shards ? nn_xalloc_floats(nn_mul_size(rows, xw ? xw : 1))
                           : NULL;
    b->tmp_y = b->n_shards ? nn_xalloc_floats(nn_mul_size(rows, yw ? yw : 1))
                           : NULL;
    b->cap = rows;
}

size_t tr_pass_rows(const tr_run *r, size_t n)
{
    size_t acc = r->s->cfg.train.accumulate ? r->s->cfg.train.accumulate : 1;
    return n ? n / acc + (n % acc != 0) : 1;
}

size_t tr_passes(const tr_run *r)
{
    size_t n = r->batch.n, chunk = tr_pass_rows(r, n);
    if (r->batch.n_shards) return r->batch.n_shards;
    return n ? n / chunk + (n % chunk != 0) : 1;
}

void tr_pass_range(const tr_run *r, size_t k, size_t *a, size_t *b)
{
    const tr_batch *bt = &r->batch;
    if (bt->n_shards) {
        *a = bt->shard_at[k];
        *b = bt->shard_at[k + 1];
        return;
    }
    size_t chunk = tr_pass_rows(r, bt->n);
    *a = k * chunk < bt->n ? k * chunk : bt->n;
    *b = *a + chunk < bt->n ? *a + chunk : bt->n;
}

/* Deterministic mode: order the step's rows (read in the sampler's order)
 * by micro-shard, stably, so each keeps the epoch order inside, and note
 * where each one starts. */
static void order_by_shard(tr_run *r)
{
    tr_batch *b = &r->batch;
    size_t xw = r->s->train.x_width, yw = r->s->train.y_width;
    size_t m = r->s->cfg.train.micro_shards, ns = b->n_shards;
    memset(b->shard_at, 0, (ns + 1) * sizeof *b->shard_at);
    for (size_t k = 0; k < b->n; k++) {
        size_t j = r->sampler.ops->micro_shard(r, m, b->ids[k]) - b->shard0;
        NN_CHECK(j < ns, "row %llu outside this rank's micro-shards",
                 (unsigned long long)b->ids[k]);
        b->shard_at[j + 1]++;
        b->tmp_local[k] = j; /* its shard, for the pass below */
    }
    for (size_t j = 0; j < ns; j++) b->shard_at[j + 1] += b->shard_at[j];
    size_t *at = b->shard_at + ns + 1; /* cursors: the second half */
    memcpy(at, b->shard_at, (ns + 1) * sizeof *at);
    for (size_t k = 0; k < b->n; k++) b->tmp_ids[at[b->tmp_local[k]]++] = k;
    /* tmp_ids now lists the rows in shard order: apply it */
    for (size_t k = 0; k < b->n; k++) {
        size_t i = (size_t)b->tmp_ids[k];
        memcpy(b->tmp_x + k * xw, b->x + i * xw, xw * sizeof(float));
        memcpy(b->tmp_y + k * yw, b->y + i * yw, yw * sizeof(float));
    }
    float *t = b->x;
    b->x = b->tmp_x, b->tmp_x = t;
    t = b->y;
    b->y = b->tmp_y, b->tmp_y = t;
    for (size_t k = 0; k < b->n; k++) b->tmp_local[k] = b->local[b->tmp_ids[k]];
    for (size_t k = 0; k < b->n; k++) b->tmp_ids[k] = b->ids[b->tmp_ids[k]];
    memcpy(b->local, b->tmp_local, b->n * sizeof *b->local);
    memcpy(b->ids, b->tmp_ids, b->n * sizeof *b->ids);
}

/* Data read on demand (packed): queue the rows of this epoch's steps from
 * `step` on, as far as the prefetch window has room. The sampler is a
 * pure function of (epoch, step), so the rows asked for ahead are the
 * rows the steps will use. */
static void prefetch(tr_run *r, size_t step)
{
    tr_batch *b = &r->batch;
    const io_dataset *d = &r->s->train;
    if (!d->pk) return;
    size_t steps = r->sampler.ops->steps(r);
    if (b->ahead < step) b->ahead = step;
    for (; b->ahead < steps; b->ahead++) {
        size_t n = r->sampler.ops->batch(r, b->ahead, b->plan, NULL, NULL);
        if (io_dataset_prefetch(d, b->plan, n)) break; /* window full */
    }
}

int tr_gather(tr_run *r, size_t step)
{
    tr_batch *b = &r->batch;
    const io_dataset *d = &r->s->train;
    prefetch(r, step);
    b->n = r->sampler.ops->batch(r, step, b->local, b->ids, &b->global);
    int st = io_dataset_next(d, b->local, b->n, b->x, b->y, &r->s->err);
    if (st) /* a read error: this rank's step runs on no rows, then stops */
        b->n = 0;
    if (b->n_shards) order_by_shard(r);
    if (st) return st;
    /* data.augment: keyed by (seed, epoch, row id), so every rank count
     * sees the same batches (checked against the shape at load time) */
    nn_augment a = tr_augment_of(&r->s->cfg.data);
    if (nn_augment_active(&a))
        nn_augment_rows(&a, b->x, b->n, d->x_shape, b->ids,
                        r->s->cfg.train.seed, r->epoch);
    return 0;
}

/* Room for the current epoch's largest step (batch and objective). */
static void reserve_epoch(tr_run *r)
{
    size_t rows = r->sampler.ops->max_rows(r);
    tr_batch_reserve(r, rows);
    io_dataset_reserve(&r->s->train, rows); /* packed: the window's slots */
    r->obj_ops->reserve(r, r->obj, tr_pass_rows(r, rows));
}

/* Validation sums (collective); *have = 0 if the run has none. */
static int validate(tr_run *r, double *val, int *have)
{
    *have = 0;
    memset(val, 0, TR_MAX_SUMS * sizeof *val);
    if (!r->obj_ops->evaluate) return 0;
    const io_dataset *d;
    size_t n;
    size_t *rows = tr_val_rows(r->s, &d, &n);
    int st = 0;
    if (rows) {
        st = r->obj_ops->evaluate(r, r->obj, d, rows, n, val);
        *have = !st && val[r->metrics.count] > 0;
    }
    free(rows);
    return st;
}

/* Early stopping, once per epoch after validation: remember the best
 * epoch's parameters (in memory, and as best.ckpt), count epochs without
 * an improvement larger than min_delta, and ask to stop after `patience`
 * of them. Identical on every rank (the figures are global). */
static int early_stopping(tr_run *r, const double *val, int *stop)
{
    const io_early_stop_cfg *e = &r->s->cfg.early_stop;
    *stop = 0;
    if (!e->enabled) return 0;
    nn_early_stop es = {.higher_is_better = !strcmp(e->monitor, "val_accuracy"),
                        .patience = e->patience, .min_delta = e->min_delta,
                        .best = r->best_metric, .best_epoch = r->best_epoch,
                        .bad_epochs = r->bad_epochs};
    nn_es_verdict v = nn_early_stop_update(&es, r->epoch + 1,
                                           tr_monitor_value(r, val));
    r->best_metric = es.best;
    r->best_epoch = es.best_epoch;
    r->bad_epochs = es.bad_epochs;
    if (v == NN_ES_IMPROVED) {
        if (!r->best) r->best = nn_xcalloc(TR_MAX_GROUPS, sizeof *r->best);
        for (size_t g = 0; g < r->n_groups; g++) {
            nn_model *m = r->groups[g]->model;
            if (!r->best[g]) r->best[g] = nn_xalloc_floats(m->n_params + 1);
            memcpy(r->best[g], m->params, m->n_params * sizeof(float));
        }
        return tr_save(r, "best.ckpt");
    }
    if (v == NN_ES_STOP) {
        *stop = 1;
        tr_say(r->s, "early stopping after epoch %llu: no %s improvement for "
                     "%llu epochs; best %.6g at epoch %llu\n",
               (unsigned long long)r->epoch + 1, e->monitor,
               (unsigned long long)r->bad_epochs, r->best_metric,
               (unsigned long long)r->best_epoch);
    }
    return 0;
}

/* At an epoch's start: frozen layers that train from now on, stateful
 * layers from zeros (a resumed stream epoch: from the carried state). */
static void begin_epoch(tr_run *r)
{
    for (size_t g = 0; g < r->n_groups; g++) {
        tr_group *gr = r->groups[g];
        size_t n = tr_unfreeze(r->s, gr->model, r->epoch);
        if (n) {
            tr_group_plan(r, gr);
            tr_say(r->s, "epoch %llu: %zu frozen layer(s) now train\n",
                   (unsigned long long)r->epoch + 1, n);
        }
        nn_recurrent_model_reset_state(gr->model);
    }
    r->sampler.ops->epoch(r, r->epoch);
    io_dataset_cancel(&r->s->train); /* a new order: nothing queued holds */
    r->batch.ahead = 0;
    reserve_epoch(r);
    if (r->sampler.ops->begin_epoch) r->sampler.ops->begin_epoch(r);
}

static void add_sums(double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

/* The steps of the current epoch from r->step_in_epoch; *done = 1 when
 * the epoch completed. */
static int run_steps(tr_run *r, size_t steps, double *ep, double *sps,
                     int *done)
{
    const io_train_cfg *tc = &r->s->cfg.train;
    size_t ns = r->metrics.n_sums, first = r->step_in_epoch;
    double win[TR_MAX_SUMS] = {0}, te = comm_wtime(), tw = te;
    double rows_w = 0, rows_e = 0;
    int st = 0;
    *done = 0;
    for (size_t k = first; k < steps; k++) {
        comm_set_step(r->s->comm, r->global_step + 1); /* for timeouts */
        /* a rank that could not read its rows still takes part in the
         * step's collectives (with none), then every rank stops */
        int gst = tr_gather(r, k);
        memset(r->step_sums, 0, sizeof r->step_sums);
        st = r->obj_ops->step(r, r->obj);
        if (st == NN_EXIT_DIVERGED) return st; /* decided collectively */
        if (!st) st = gst;
        if ((st = tr_agree(r->s, st))) return st;
        r->global_step++;
        r->step_in_epoch = k + 1;
        add_sums(ep, r->step_sums, ns);
        add_sums(win, r->step_sums, ns);
        rows_w += (double)r->batch.global;
        rows_e += (double)r->batch.global;
        if (r->stop) return TR_STOP;
        size_t pe = r->s->cfg.log.print_every;
        if (pe && (k + 1) % pe == 0) {
            double now = comm_wtime();
            double left = (double)(steps - k - 1) +
                          (double)steps * (double)(tc->epochs - r->epoch - 1);
            double per_step = (now - te) / (double)(k + 1 - first);
            tr_report_progress(r, k + 1, steps, win, rows_w / (now - tw),
                               left * per_step);
            memset(win, 0, sizeof win);
            rows_w = 0;
            tw = now;
        }
        if (r->s->cfg.ckpt.every_steps &&
            r->global_step % r->s->cfg.ckpt.every_steps == 0 &&
            (st = tr_save(r, NULL)))
            return st;
        if (tc->max_steps && r->global_step >= tc->max_steps) break;
    }
    *sps = rows_e / (comm_wtime() - te);
    *done = r->step_in_epoch == steps;
    return 0;
}

/* After a complete epoch: validation, report, early stopping, the epoch
 * checkpoint. *stop = 1 when training ends here. */
static int end_epoch(tr_run *r, const double *ep, double sps, double dt,
                     int *stop)
{
    const io_train_cfg *tc = &r->s->cfg.train;
    double val[TR_MAX_SUMS];
    int have = 0, early = 0, st;
    if ((st = validate(r, val, &have))) return st;
    tr_report_epoch(r, ep, have ? val : NULL, sps, dt);
    if ((st = early_stopping(r, val, &early))) return st;
    r->finished = early || r->epoch + 1 == tc->epochs;
    *stop = early || (tc->max_steps && r->global_step >= tc->max_steps);
    int last = r->epoch + 1 == tc->epochs || *stop;
    size_t every = r->s->cfg.ckpt.every_epochs;
    if (!last && every && (r->epoch + 1) % every == 0) {
        /* The epoch is complete: save the position as the next one's
         * start, so a resume does not repeat it. */
        r->epoch++;
        r->step_in_epoch = 0;
        st = tr_save(r, NULL);
        r->epoch--;
    }
    return st;
}

static int run_epochs(tr_run *r)
{
    const io_train_cfg *tc = &r->s->cfg.train;
    size_t steps = r->sampler.ops->steps(r);
    int st = 0;
    if (r->best_epoch && !r->best && (st = tr_load_best(r))) return st;
    r->finished = r->epoch >= tc->epochs;
    for (; r->epoch < tc->epochs; r->epoch++, r->step_in_epoch = 0) {
        if (tc->max_steps && r->global_step >= tc->max_steps) break;
        begin_epoch(r);
        double ep[TR_MAX_SUMS] = {0}, sps = 0, te = comm_wtime();
        int done = 0, stop = 0;
        if ((st = run_steps(r, steps, ep, &sps, &done))) return st;
        if (!done) break; /* max_steps within the epoch */
        if ((st = end_epoch(r, ep, sps, comm_wtime() - te, &stop))) return st;
        if (stop) { /* early stopping, or max_steps at the epoch's end */
            r->epoch++;
            r->step_in_epoch = 0;
            break;
        }
    }
    return st;
}

static void banner(tr_run *r, size_t steps)
{
    tr_session *s = r->s;
    for (size_t g = 0; g < r->n_groups && s->rank == 0 && !s->opt->quiet; g++) {
        if (r->n_groups > 1) printf("%s:\n", r->groups[g]->name);
        nn_model_summary(r->groups[g]->model, stdout);
    }
    if (r->obj_ops->sampler) return; /* no dataset: the objective says */
    double vtot = s->have_val ? (double)s->val.total : (double)s->shard.n_val;
    tr_say(s, "data: %zu training rows, %.0f validation rows%s; global batch "
              "%zu = %zu steps/epoch\n",
           s->shard.n_train, vtot, s->have_test ? ", test set present" : "",
           s->cfg.train.batch_size, steps);
}

/* Checks that need the data's size: the schedule over the whole run and
 * early stopping's need for validation figures. */
static int prepare(tr_run *r, size_t steps)
{
    tr_session *s = r->s;
    const io_train_cfg *tc = &s->cfg.train;
    if (steps == 0) /* stream mode only: a plain epoch has >= 1 step */
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: data.stream needs at least "
                            "training.batch_size (%zu) windows, the text has "
                            "%zu", s->opt->config, tc->batch_size,
                            s->shard.n_train);
    /* The schedule spans the configured epochs; max_steps only stops the
     * run early, so an interrupted run follows the same schedule. */
    r->sched = io_train_schedule(tc, steps, io_run_steps(tc, steps));
    if (nn_schedule_check(&r->sched, &s->err)) {
        nn_error_prefix(&s->err, "%s: training: ", s->opt->config);
        return NN_EXIT_USAGE;
    }
    int has_val = s->shard.n_val || s->have_val;
    if (s->cfg.early_stop.enabled &&
        (!has_val || !tr_metrics_find_eval(&r->metrics, s->cfg.early_stop.monitor)))
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: early_stopping needs validation %s",
                            s->opt->config,
                            has_val ? "figures, which this kind of training "
                                      "does not compute"
                                    : "data (data.val_fraction or data.val)");
    return 0;
}

/* Collective: refuse a run whose groups cannot fit the machine for one
 * pass of the configured batch (nn/memplan.h), naming what is large,
 * before their activations are allocated. */
static int check_memory(tr_run *r)
{
    tr_session *s = r->s;
    if (!r->sampler.ops->steps(r)) return 0; /* too few rows: prepare says */
    size_t rows = tr_pass_rows(r, r->sampler.ops->max_rows(r));
    if (rows < 64) rows = 64; /* what every objective reserves at least */
    nn_mem_plan all = {0}, p;
    double big = -1;
    for (size_t g = 0; g < r->n_groups; g++) {
        nn_mem_plan_model(r->groups[g]->model, rows,
                          r->groups[g]->optim->n_slots, &p);
        all.param_bytes += p.param_bytes;
        all.act_bytes += p.act_bytes;
        all.total += p.total;
        if (p.total > big) {
            big = p.total;
            memcpy(all.largest, p.largest, sizeof all.largest);
        }
    }
    int st = nn_mem_check(&all, (size_t)comm_local_size(s->comm),
                          nn_mem_physical(),
                          "lower training.batch_size, raise "
                          "training.accumulate, or shrink that layer",
                          &s->err);
    if (st) nn_error_prefix(&s->err, "%s: ", s->opt->config);
    return tr_agree(s, st);
}

/* training.deterministic: what the mode needs of the rank count, the
 * sampler and the objective (the same verdict on every rank); then this
 * rank's micro-shards. */
static int setup_deterministic(tr_run *r)
{
    tr_session *s = r->s;
    size_t m = s->cfg.train.micro_shards, p = (size_t)s->size;
    if (!s->cfg.train.deterministic) return 0;
    char where[4200] = "", counts[96] = "";
    io_config_where(&s->cfg, "training.deterministic", where, sizeof where);
    for (size_t q = 1, n = 0; q <= m && n + 8 < sizeof counts; q *= 2)
        n += (size_t)snprintf(counts + n, sizeof counts - n, "%s%zu",
                              q == 1 ? "" : q == m ? " or " : ", ", q);
    if ((p & (p - 1)) || p > m)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: training.deterministic: %zu ranks do not "
                            "divide the %zu micro-shards (training."
                            "micro_shards) into equal power-of-two blocks, "
                            "which the fixed summation tree needs; run on %s "
                            "ranks", where, p, m, counts);
    if (!r->sampler.ops->micro_shard)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: training.deterministic: the %s sampler "
                            "cannot cut its batches into micro-shards (its "
                            "rows carry state from step to step and must "
                            "reach the model in one pass)", where,
                            r->sampler.ops->name);
    if (!r->obj_ops->deterministic)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: training.deterministic: objective %s does "
                            "not run its passes per micro-shard", where,
                            r->obj_ops->name);
    tr_batch *b = &r->batch;
    b->n_shards = m / p;
    b->shard0 = (size_t)s->rank * b->n_shards;
    b->shard_at = nn_xcalloc(2 * (b->n_shards + 1), sizeof *b->shard_at);
    return 0;
}

int tr_run_create(tr_run *r, tr_session *s, const tr_objective_ops *ops)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->obj_ops = ops;
    int st = ops ? 0 : tr_agree(s, tr_objective_pick(s, &r->obj_ops));
    if (st) return st;
    /* an objective that makes its own data brings its sampler */
    r->sampler.ops = r->obj_ops->sampler ? r->obj_ops->sampler
                                         : tr_sampler_of(&s->cfg.data);
    if (!st) st = tr_agree(s, setup_deterministic(r));
    if (st) return st;
    st = r->obj_ops->create(r, &r->obj); /* agreed by the objective */
    if (!st) st = check_memory(r);
    if (st) return st;
    /* Evaluation runs in chunks of at least 64 rows, even when a resumed
     * run has no epoch left. */
    r->obj_ops->reserve(r, r->obj, 64);
    return 0;
}

void tr_run_free(tr_run *r)
{
    if (r->obj_ops && r->obj) r->obj_ops->destroy(r->obj);
    for (size_t g = 0; g < r->n_groups; g++) {
        if (r->best) free(r->best[g]);
        tr_group_free(r->groups[g]);
    }
    free(r->best);
    free(r->batch.x), free(r->batch.y), free(r->batch.local), free(r->batch.ids);
    free(r->batch.plan);
    free(r->batch.tmp_local), free(r->batch.tmp_ids), free(r->batch.shard_at);
    free(r->batch.tmp_x), free(r->batch.tmp_y);
    free(r->sampler.carried);
    free(r->resumed_from);
    if (r->metrics_file) fclose(r->metrics_file);
    memset(r, 0, sizeof *r);
}

/* Resume if asked; else model.init_from if given. *resumed set. */
static int start(tr_run *r, int *resumed)
{
    tr_session *s = r->s;
    *resumed = 0;
    if (s->opt->resume) {
        char buf[4096];
        const char *path = tr_resolve_resume(r, s->opt->resume, buf, sizeof buf);
        if (path) {
            int st = tr_resume(r, path);
            if (st) return st;
            *resumed = 1;
            r->resumed_from = nn_xstrdup(path);
            tr_say(s, "resumed from %s at epoch %llu step %llu (global step "
                      "%llu)\n",
                   path, (unsigned long long)r->epoch + 1,
                   (unsigned long long)r->step_in_epoch,
                   (unsigned long long)r->global_step);
            return 0;
        }
        tr_say(s, "no checkpoint to resume from; starting fresh\n");
    }
    return s->cfg.init_from ? tr_init_from(s, r->groups[0]->model) : 0;
}

/* The end of a run: the best epoch's weights (when training is over: all
 * epochs done or stopped early; a run stopped by max_steps keeps its own,
 * so that a resume continues it exactly, and best.ckpt holds the best),
 * the objective's own summary, the test figures, the final checkpoint. */
static int finish(tr_run *r)
{
    tr_session *s = r->s;
    int st;
    if (r->best && !r->finished)
        tr_say(s, "stopped by training.max_steps: the best epoch's weights "
                  "(epoch %llu) are in best.ckpt\n",
               (unsigned long long)r->best_epoch);
    if (r->best && r->finished) {
        for (size_t g = 0; g < r->n_groups; g++)
            memcpy(r->groups[g]->model->params, r->best[g],
                   r->groups[g]->model->n_params * sizeof(float));
        tr_say(s, "restored the weights of epoch %llu (best %s %.6g)\n",
               (unsigned long long)r->best_epoch, s->cfg.early_stop.monitor,
               r->best_metric);
    }
    if (r->obj_ops->finish) r->obj_ops->finish(r, r->obj);
    if (s->have_test && r->obj_ops->evaluate) {
        double t[TR_MAX_SUMS] = {0};
        size_t n = s->test.hi - s->test.lo;
        size_t *rows = nn_xcalloc(n ? n : 1, sizeof *rows);
        for (size_t i = 0; i < n; i++) rows[i] = i;
        st = r->obj_ops->evaluate(r, r->obj, &s->test, rows, n, t);
        free(rows);
        if (st) return st;
        tr_report_final(r, "test", t);
    }
    if (s->cfg.ckpt.dir && (st = tr_save(r, NULL))) return st;
    tr_say(s, "done: %llu steps in %.1fs\n", (unsigned long long)r->global_step,
           comm_wtime() - r->t0);
    return 0;
}

int tr_cmd_train(tr_session *s)
{
    return tr_train(s, NULL);
}

int tr_train(tr_session *s, const tr_objective_ops *ops)
{
    tr_run r;
    int st = tr_run_create(&r, s, ops), resumed = 0;
    size_t steps = 0;
    if (!st) st = start(&r, &resumed);
    if (!st) {
        steps = r.sampler.ops->steps(&r);
        st = tr_agree(s, prepare(&r, steps));
    }
    if (!st) st = tr_agree(s, tr_metrics_open(&r, resumed));
    if (!st) {
        r.t0 = comm_wtime();
        banner(&r, steps);
        install_signals(1);
        st = run_epochs(&r);
        install_signals(0);
    }
    if (st == TR_STOP) {
        /* A signal (e.g. SLURM's SIGTERM before the time limit): keep the
         * work done so far and leave so the job can be resumed. */
        const char *dir = s->cfg.ckpt.dir;
        st = dir ? tr_save(&r, NULL) : 0;
        if (!st && s->rank == 0)
            fprintf(stderr, "axon: stopping on signal after step %llu: %s\n",
                    (unsigned long long)r.global_step,
                    dir ? "checkpoint saved; resume with --resume auto"
                        : "no checkpoint.dir, nothing saved");
        if (!st) st = NN_EXIT_OTHER;
    } else if (!st) {
        st = finish(&r);
    }
    /* a metrics file that lost records makes an otherwise good run exit 3 */
    int mst = tr_metrics_close(&r);
    if (mst && s->rank == 0) fprintf(stderr, "axon: error: %s\n", s->err.msg);
    if (!st) st = mst;
    tr_run_free(&r);
    return st;
}

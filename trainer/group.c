/* trainer/group.c - parameter groups and the one update path (see
 * trainer/run.h). Every objective's every phase changes parameters
 * through tr_group_update, so gradient sync, the finite check, clipping,
 * the optimizer step and buffer averaging behave alike for all of them. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/clip.h"
#include "trainer/run.h"

/* Set by SIGINT/SIGTERM/SIGUSR1 (trainer/loop.c); travels with the
 * metrics of every phase so all ranks stop after the same step. */
extern volatile sig_atomic_t tr_stop_signal;

tr_group *tr_group_add(tr_run *r, const char *name, nn_model *m,
                       double lr_scale)
{
    tr_session *s = r->s;
    NN_CHECK(r->n_groups < TR_MAX_GROUPS, "too many parameter groups");
    tr_group *g = nn_xcalloc(1, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->model = m;
    g->lr_scale = lr_scale;
    r->groups[r->n_groups++] = g;
    /* One source of truth: rank 0's parameters. */
    if (comm_bcast_bytes(s->comm, m->params, m->n_params * sizeof(float), 0))
        nn_error_set(&s->err, NN_EXIT_OTHER, "broadcast failed");
    g->optim = nn_optim_create(&s->cfg.optim, m->n_params, m->segs, m->n_segs);
    tr_group_plan(r, g);
    return g;
}

void tr_group_plan(tr_run *r, tr_group *g)
{
    tr_gradsync_free(&g->sync);
    tr_gradsync_plan(&g->sync, g->model);
    if (r->s->cfg.train.deterministic)
        tr_gradsync_set_mode(&g->sync, TR_SYNC_TREE);
}

static int tree(const tr_group *g)
{
    return g->sync.mode == TR_SYNC_TREE;
}

void tr_group_begin(tr_run *r, tr_group *g, size_t n)
{
    if (tree(g))
        tr_gradsync_tree_begin(&g->sync, r->s->comm, g->model,
                               r->batch.n_shards, n);
    else nn_model_zero_grad(g->model);
}

void tr_group_pass_done(tr_run *r, tr_group *g, double *v)
{
    (void)r;
    if (tree(g)) tr_gradsync_leaf(&g->sync, g->model, v);
}

double tr_lr_scale(const tr_run *r, double lr)
{
    return lr > 0 ? lr / r->s->cfg.train.lr : 1.0;
}

double tr_group_lr(const tr_run *r, const tr_group *g)
{
    return nn_schedule_lr(&r->sched, r->global_step) * g->lr_scale;
}

void tr_group_arm(tr_run *r, tr_group *g)
{
    tr_gradsync_begin(&g->sync, r->s->comm, g->model);
}

void tr_group_hold(tr_group *g, int restore)
{
    nn_model *m = g->model;
    if (!g->held) {
        for (size_t i = 0; i < m->n_segs; i++)
            if (m->segs[i].flags & NN_PARAM_BUFFER) g->n_held += m->segs[i].count;
        g->held = nn_xalloc_floats(g->n_held + 1);
    }
    for (size_t i = 0, at = 0; g->n_held && i < m->n_segs; i++) {
        const nn_segment *sg = &m->segs[i];
        if (!(sg->flags & NN_PARAM_BUFFER)) continue;
        float *p = m->params + sg->offset;
        if (restore) memcpy(p, g->held + at, sg->count * sizeof *p);
        else memcpy(g->held + at, p, sg->count * sizeof *p);
        at += sg->count;
    }
}

void tr_group_free(tr_group *g)
{
    if (!g) return;
    free(g->held);
    if (g->optim) nn_optim_destroy(g->optim);
    tr_gradsync_free(&g->sync);
    if (g->model) nn_model_destroy(g->model);
    free(g);
}

/* After a non-finite global loss: name every rank whose own loss was not
 * finite (collective; every rank calls it at the same step). */
static int diverged(tr_run *r, const tr_group *g, int local_bad, double loss)
{
    tr_session *s = r->s;
    double *bad = nn_xcalloc((size_t)s->size, sizeof *bad);
    bad[s->rank] = local_bad;
    comm_allreduce_sum_d(s->comm, bad, (size_t)s->size);
    char list[256] = "";
    size_t len = 0;
    for (int k = 0; k < s->size && len + 16 < sizeof list; k++)
        if (bad[k] > 0)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%d",
                                    len ? ", " : "", k);
    free(bad);
    nn_error_set(&s->err, NN_EXIT_DIVERGED,
                 "training diverged at step %llu (epoch %llu): the %s loss "
                 "is %g on rank(s) %s; no update was applied",
                 (unsigned long long)r->global_step + 1,
                 (unsigned long long)r->epoch + 1, g->name, loss,
                 len ? list : "(none alone; the sum overflowed)");
    /* Every rank knows; only rank 0 reports it. */
    if (s->rank == 0) fprintf(stderr, "axon: error: %s\n", s->err.msg);
    return NN_EXIT_DIVERGED;
}

/* Average the model's buffers (batchnorm running statistics: each rank
 * normalised its own rows) across ranks. */
static int average_buffers(tr_run *r, nn_model *m)
{
    tr_session *s = r->s;
    float k = 1.0f / (float)s->size;
    for (size_t i = 0; s->size > 1 && i < m->n_segs; i++) {
        const nn_segment *sg = &m->segs[i];
        if (!(sg->flags & NN_PARAM_BUFFER)) continue;
        float *p = m->params + sg->offset;
        if (comm_allreduce_sum(s->comm, p, sg->count))
            return nn_error_set(&s->err, NN_EXIT_OTHER, "allreduce failed");
        for (size_t j = 0; j < sg->count; j++) p[j] *= k;
    }
    return 0;
}

/* Sum the gradients and all[0, n] (figures and stop flag) across ranks:
 * by the active sync mode and one small allreduce, or all of it in the
 * fixed tree (deterministic mode; buffers included). Collective. */
static int sum_all(tr_run *r, tr_group *g, double *all, size_t n)
{
    tr_session *s = r->s;
    int bad = tree(g) ? tr_gradsync_tree_run(&g->sync, s->comm, g->model,
                                             all, n + 1)
                      : tr_gradsync_run(&g->sync, s->comm, g->model) ||
                            comm_allreduce_sum_d(s->comm, all, n + 1);
    return bad ? nn_error_set(&s->err, NN_EXIT_OTHER, "allreduce failed") : 0;
}

int tr_group_update(tr_run *r, tr_group *g, double *v, size_t n,
                    size_t n_loss)
{
    tr_session *s = r->s;
    NN_CHECK(n < TR_MAX_SUMS, "tr_group_update: %zu figures", n);
    double local_loss = 0, all[TR_MAX_SUMS + 1];
    /* deterministic: the figures were folded with each micro-shard */
    if (tree(g)) tr_gradsync_tree_local(&g->sync, v);
    for (size_t i = 0; i < n_loss; i++) local_loss += v[i];
    memcpy(all, v, n * sizeof *v);
    all[n] = tr_stop_signal ? 1.0 : 0.0;
    if (sum_all(r, g, all, n)) return NN_EXIT_OTHER;
    memcpy(v, all, n * sizeof *v);
    if (all[n] > 0) r->stop = 1;
    /* Every rank sees the same summed loss, so all stop at the same step,
     * before the update, leaving the parameters as they were. */
    double loss = 0;
    for (size_t i = 0; i < n_loss; i++) loss += v[i];
    if (!isfinite(loss)) return diverged(r, g, !isfinite(local_loss), loss);
    double clip = s->cfg.train.clip_norm;
    if (clip > 0)
        nn_clip_spans(g->model->grads, g->sync.ranges, g->sync.n_ranges, clip);
    nn_optim_step(g->optim, g->model->params, g->model->grads,
                  (float)tr_group_lr(r, g));
    if (!tree(g)) return average_buffers(r, g->model);
    tr_gradsync_tree_buffers(&g->sync, g->model);
    return 0;
}

/* trainer/obj_supervised.c - the supervised objective: one model, the
 * configured loss against the targets (labels for classification, values
 * for regression, the inputs themselves for an autoencoder), plus the
 * pseudo-label term for unlabelled rows (trainer/semisup.h) when
 * training.pseudo_label_threshold > 0.
 *
 * One step: this rank's rows in training.accumulate passes (deterministic
 * mode: one per micro-shard, each a leaf of the fixed tree), each forward,
 * loss scaled by 1/(global batch rows x steps), backward adding into the
 * gradient arena; then tr_group_update (the global-batch mean gradient).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "trainer/objective.h"
#include "trainer/semisup.h"

/* Sums, in the order tr_group_update checks: the first two are losses. */
enum { S_LOSS, S_PSEUDO, S_CORRECT, S_COUNT, S_PSEUDO_N, S_UNLAB, S_N };

typedef struct sup {
    tr_group *g;
    float *dout;       /* [cap, output size] */
    size_t cap;
} sup;

#define OFF(m) offsetof(tr_semisup_cfg, m)
static const io_key keys[] = {
    {"training.pseudo_label_threshold", IO_DBL, OFF(pseudo_label_threshold),
     0, 1, IO_HI_OPEN, "0", NULL},
    {"training.pseudo_label_weight", IO_DBL, OFF(pseudo_label_weight), 0,
     HUGE_VAL, IO_LO_OPEN, "1", NULL},
};

/* One model; data.labelled and pseudo-labels work on class labels, so
 * they need loss cross_entropy. (A pseudo_label_weight with the threshold
 * at 0 is allowed: it does nothing, and an A/B run then needs one --set
 * only.) */
static int check(const io_config *cfg, const void *values, nn_error *err)
{
    const tr_semisup_cfg *c = values;
    if (!cfg->model_layers.n)
        return io_config_error(cfg, "model.layers", err,
                               "required key is missing");
    if (!strcmp(cfg->loss, "cross_entropy")) return 0;
    const char *key = cfg->data.labelled ? "data.labelled"
                      : c->pseudo_label_threshold > 0
                          ? "training.pseudo_label_threshold"
                          : NULL;
    return key ? io_config_error(cfg, key, err, "needs class labels (loss "
                                 "cross_entropy), not loss %s", cfg->loss)
               : 0;
}

const io_schema tr_supervised_schema = {
    "supervised", NULL, keys, sizeof keys / sizeof *keys,
    sizeof(tr_semisup_cfg), check, 0};

const tr_semisup_cfg *tr_semisup_cfg_of(const io_config *cfg)
{
    static const tr_semisup_cfg off = {0, 1};
    const tr_semisup_cfg *c = io_config_values(cfg, &tr_supervised_schema);
    return c ? c : &off;
}

static int pseudo(const tr_session *s)
{
    return tr_semisup_cfg_of(&s->cfg)->pseudo_label_threshold > 0;
}

static void declare_metrics(tr_run *r)
{
    tr_metrics *m = &r->metrics;
    const tr_session *s = r->s;
    static const char *const names[S_N] = {"loss", "pseudo_loss", "correct",
                                           "count", "pseudo_count",
                                           "unlabelled"};
    for (int i = 0; i < S_N; i++) tr_metrics_sum(m, names[i]);
    m->count = S_COUNT;
    int cls = s->loss->classifier;
    tr_metrics_view(m, (tr_view){"loss", "train_loss", "loss", S_LOSS, S_COUNT,
                                 1, cls ? "%.4f" : "%.6g"});
    if (cls)
        tr_metrics_view(m, (tr_view){"acc", "train_accuracy", "accuracy",
                                     S_CORRECT, S_COUNT, 100, "%.2f%%"});
    if (!pseudo(s)) return;
    tr_metrics_view(m, (tr_view){NULL, "train_sup_loss", NULL, S_LOSS, S_COUNT,
                                 1, "%.4f"});
    tr_metrics_view(m, (tr_view){NULL, "train_pseudo_loss", NULL, S_PSEUDO,
                                 S_PSEUDO_N, 1, "%.4f"});
    tr_metrics_view(m, (tr_view){"pseudo", "pseudo_labelled", NULL, S_PSEUDO_N,
                                 -1, 1, "%.0f"});
    tr_metrics_view(m, (tr_view){NULL, "unlabelled", NULL, S_UNLAB, -1, 1,
                                 "%.0f"});
}

static int create(tr_run *r, void **obj)
{
    tr_session *s = r->s;
    int st = 0;
    if (!s->model) st = tr_build_model(s); /* lstsq built it already */
    if (!st) st = tr_agree(s, tr_semisup_check(s));
    if (st) return st;
    sup *o = nn_xcalloc(1, sizeof *o);
    *obj = o;
    o->g = tr_group_add(r, "model", s->model, 1.0);
    s->model = NULL; /* the group owns it now */
    declare_metrics(r);
    return 0;
}

static void destroy(void *obj)
{
    sup *o = obj;
    free(o->dout);
    free(o);
}

static void reserve(tr_run *r, void *obj, size_t rows)
{
    sup *o = obj;
    (void)r;
    if (rows < 64) rows = 64; /* evaluation runs in chunks of 64 or more */
    if (rows <= o->cap) return;
    nn_model *m = o->g->model;
    free(o->dout);
    o->dout = nn_xalloc_floats(nn_mul_size(rows, nn_shape_size(nn_model_out_shape(m))));
    nn_model_reserve(m, rows);
    o->cap = rows;
}

/* Testing hook: AXON_INJECT_NAN=STEP:RANK makes RANK's loss gradient NaN
 * at global step STEP (1-based), to exercise divergence handling. */
static int inject_nan(const tr_run *r)
{
    const char *e = getenv("AXON_INJECT_NAN");
    unsigned long long step;
    int rank;
    return e && sscanf(e, "%llu:%d", &step, &rank) == 2 &&
           step == r->global_step + 1 && rank == r->s->rank;
}

/* Forward and backward over local rows [a, b) of the batch, adding to
 * the gradient arena; the loss is scaled for the global batch. */
static void pass(tr_run *r, sup *o, size_t a, size_t b, double *v)
{
    const tr_session *s = r->s;
    const tr_batch *bt = &r->batch;
    size_t n = b - a, t = s->loss_steps;
    size_t xw = s->train.x_width, yw = s->train.y_width;
    nn_pass p = {.training = 1, .seed = s->cfg.train.seed,
                 .step = r->global_step, .ids = bt->ids + a};
    const float *y = nn_model_forward(o->g->model, bt->x + a * xw, n, &p);
    tr_stats ls = {0};
    tr_train_loss(s, y, bt->y + a * yw, n * t, 1.0f / (float)(bt->global * t),
                  o->dout, &ls);
    if (inject_nan(r)) {
        ls.loss_sum = NAN;
        o->dout[0] = NAN;
    }
    nn_model_backward(o->g->model, bt->x + a * xw, o->dout, n);
    v[S_LOSS] += ls.loss_sum;
    v[S_PSEUDO] += ls.pseudo_sum;
    v[S_CORRECT] += ls.correct;
    v[S_COUNT] += ls.count;
    v[S_PSEUDO_N] += ls.pseudo_count;
    v[S_UNLAB] += ls.unlabelled;
}

static int step(tr_run *r, void *obj)
{
    sup *o = obj;
    size_t np = tr_passes(r);
    double v[S_N] = {0};
    tr_group_begin(r, o->g, S_N);
    /* Buckets of the gradient may start their allreduce during the last
     * pass's backward (every rank arms once per step, even without rows). */
    for (size_t k = 0; k < np; k++) {
        size_t a, b;
        tr_pass_range(r, k, &a, &b);
        if (k + 1 == np) tr_group_arm(r, o->g);
        if (a < b) pass(r, o, a, b, v);
        tr_group_pass_done(r, o->g, v);
    }
    int st = tr_group_update(r, o->g, v, S_N, 2);
    memcpy(r->step_sums, v, sizeof v);
    return st;
}

static int evaluate(tr_run *r, void *obj, const io_dataset *d,
                    const size_t *rows, size_t n, double *sums)
{
    sup *o = obj;
    double t[3];
    int st = tr_evaluate(r->s, o->g->model, d, rows, n, t);
    sums[S_LOSS] = t[0];
    sums[S_CORRECT] = t[1];
    sums[S_COUNT] = t[2];
    return st;
}

static nn_shape input_shape(tr_run *r, void *obj)
{
    (void)r;
    return ((sup *)obj)->g->model->in;
}

/* For a single linear unit, print the learned line/plane. */
static void finish(tr_run *r, void *obj)
{
    nn_model *m = ((sup *)obj)->g->model;
    if (m->n_layers != 1 || strcmp(m->layers[0].ops->type, "dense") ||
        nn_shape_size(m->layers[0].out) != 1 || m->layers[0].n_views != 2)
        return;
    const nn_layer *l = &m->layers[0];
    size_t d = nn_shape_size(l->in);
    const float *w = nn_layer_tensor(l, 0), *b = nn_layer_tensor(l, 1);
    tr_say(r->s, "learned: y =");
    for (size_t j = 0; j < d; j++)
        tr_say(r->s, " %s%.6g*x%zu", j ? "+ " : "", (double)w[j], j + 1);
    tr_say(r->s, " + %.6g\n", (double)b[0]);
}

const tr_objective_ops tr_obj_supervised = {
    .name = "supervised",
    .schema = &tr_supervised_schema,
    .deterministic = 1,
    .create = create,
    .destroy = destroy,
    .reserve = reserve,
    .step = step,
    .evaluate = evaluate,
    .input_shape = input_shape,
    .finish = finish,
};

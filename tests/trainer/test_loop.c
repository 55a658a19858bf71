/* tests/trainer/test_loop.c - the one training loop (trainer/loop.c) with
 * a tiny objective that exists only here, in one process (comm/single):
 * a new objective is one ops table, and the loop gives it everything
 * else - epochs, schedule, checkpoints, exact resume, stopping on a
 * signal with a checkpoint, and the checks of a checkpoint's sections.
 *
 * The objective fits a line y = w x + b by least squares with its own
 * loss arithmetic (not nn/loss.c), through the config's one dense layer.
 * What it learns is judged on held-out points. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"
#include "nn/check.h"
#include "tests/cu.h"
#include "trainer/objective.h"

/* ---- the objective ------------------------------------------------------ */

enum { S_SQ, S_N, S_COUNT_ };

typedef struct line {
    tr_group *g;
    float *dout;
    size_t cap;
} line;

static long raise_at; /* global step (1-based) at which to send SIGTERM */

static int create(tr_run *r, void **obj)
{
    int st = tr_build_model(r->s);
    if (st) return st;
    line *o = nn_xcalloc(1, sizeof *o);
    *obj = o;
    o->g = tr_group_add(r, "line", r->s->model, 1.0);
    r->s->model = NULL;
    tr_metrics_sum(&r->metrics, "sq");
    tr_metrics_sum(&r->metrics, "n");
    r->metrics.count = S_N;
    tr_metrics_view(&r->metrics,
                    (tr_view){"mse", "train_mse", "mse", S_SQ, S_N, 1, "%.6f"});
    return 0;
}

static void destroy(void *obj)
{
    free(((line *)obj)->dout);
    free(obj);
}

static void reserve(tr_run *r, void *obj, size_t rows)
{
    line *o = obj;
    (void)r;
    if (rows <= o->cap) return;
    free(o->dout);
    o->dout = nn_xalloc_floats(rows);
    nn_model_reserve(o->g->model, rows);
    o->cap = rows;
}

static int step(tr_run *r, void *obj)
{
    line *o = obj;
    const tr_batch *b = &r->batch;
    nn_pass p = {.training = 1, .seed = 1, .step = r->global_step};
    double v[2] = {0, (double)b->n};
    nn_model_zero_grad(o->g->model);
    tr_group_arm(r, o->g);
    if (b->n) {
        const float *y = nn_model_forward(o->g->model, b->x, b->n, &p);
        for (size_t i = 0; i < b->n; i++) {
            double e = (double)y[i] - b->y[i];
            v[0] += e * e;
            o->dout[i] = (float)(2 * e / (double)b->global);
        }
        nn_model_backward(o->g->model, b->x, o->dout, b->n);
    }
    if (raise_at && (long)r->global_step + 1 == raise_at) raise(SIGTERM);
    int st = tr_group_update(r, o->g, v, 2, 1);
    r->step_sums[S_SQ] = v[0];
    r->step_sums[S_N] = v[1];
    return st;
}

static int evaluate(tr_run *r, void *obj, const io_dataset *d,
                    const size_t *rows, size_t n, double *sums)
{
    line *o = obj;
    nn_pass p = {.training = 0};
    sums[S_SQ] = sums[S_N] = 0;
    for (size_t i = 0; i < n; i++) {
        const float *y = nn_model_forward(o->g->model, d->x + rows[i] * d->x_width, 1,
                                          &p);
        double e = (double)y[0] - d->y[rows[i] * d->y_width];
        sums[S_SQ] += e * e;
        sums[S_N] += 1;
    }
    (void)r;
    return 0;
}

static nn_shape input_shape(tr_run *r, void *obj)
{
    (void)r;
    return ((line *)obj)->g->model->in;
}

static const tr_objective_ops tiny = {
    .name = "line",
    .create = create,
    .destroy = destroy,
    .reserve = reserve,
    .step = step,
    .evaluate = evaluate,
    .input_shape = input_shape,
};

/* ---- set-up ------------------------------------------------------------- */

static comm_ctx *comm;

/* y = 2.5 x - 1 on x = (i + 0.5) / n, shifted by `off` (held-out points
 * lie between the training points). */
static void write_data(const char *name, size_t n, double off)
{
    FILE *f = fopen(cu_tmp_path(name), "w");
    fprintf(f, "x,y\n");
    for (size_t i = 0; i < n; i++) {
        double x = ((double)i + 0.5 + off) / (double)n;
        fprintf(f, "%.9g,%.9g\n", x, 2.5 * x - 1);
    }
    fclose(f);
}

static const char *config(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", cu_tmp_path("line.yaml"));
    FILE *f = fopen(path, "w");
    fprintf(f,
            "model:\n  layers:\n    - {type: dense, units: 1, init: zeros}\n"
            "loss: mse\n"
            "optimizer: {type: sgd, momentum: 0.9}\n"
            "data: {format: csv, train: %s, test: %s}\n"
            "training: {epochs: 30, batch_size: 16, lr: 0.05, seed: 7}\n"
            "checkpoint: {dir: %s, every_epochs: 1}\n"
            "logging: {print_every: 0}\n",
            cu_tmp_path("train.csv"), cu_tmp_path("test.csv"),
            cu_tmp_path("ck"));
    fclose(f);
    return path;
}

/* One `axon train` of the tiny objective with --set overrides (NULL-
 * terminated) into checkpoint dir `dir`; --resume auto when resume. */
static int train(const char *dir, const char *resume, const char *const *sets,
                 char *err, size_t cap)
{
    static char *list[8];
    static char dirset[4200];
    size_t n = 0;
    snprintf(dirset, sizeof dirset, "checkpoint.dir=%s", cu_tmp_path(dir));
    list[n++] = dirset;
    for (; sets && *sets && n < 7; sets++) list[n++] = (char *)*sets;
    tr_options o = {.command = "train", .config = config(), .sets = list,
                    .n_sets = n, .resume = resume, .quiet = 1};
    tr_session s = {.comm = comm, .rank = 0, .size = 1, .opt = &o};
    int st = tr_load_config(&s);
    if (!st) st = tr_load_data(&s);
    if (!st) st = tr_train(&s, &tiny);
    if (err) snprintf(err, cap, "%s", s.err.msg);
    tr_session_free(&s);
    return st;
}

/* The named section of <dir>/<file> (malloc'ed copy), or NULL. */
static void *section(const char *dir, const char *file, const char *name,
                     size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", cu_tmp_path(dir), file);
    io_ckpt c;
    if (io_ckpt_read(path, &c, NULL)) return NULL;
    io_ckpt_section *sec = io_ckpt_find(&c, name);
    void *out = NULL;
    if (sec) {
        out = nn_xmalloc(sec->len + 1);
        if (sec->len) memcpy(out, sec->data, sec->len);
        *len = sec->len;
    }
    io_ckpt_free(&c);
    return out;
}

static int same_section(const char *a, const char *b, const char *name)
{
    size_t la = 0, lb = 0;
    void *x = section(a, "last.ckpt", name, &la);
    void *y = section(b, "last.ckpt", name, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x), free(y);
    return same;
}

/* ---- tests -------------------------------------------------------------- */

/* Learns the line: mean squared error on 50 held-out points. */
static void test_learns(void)
{
    CU_ASSERT_EQUAL_FATAL(train("full", NULL, NULL, NULL, 0), 0);
    size_t len = 0;
    float *wb = section("full", "last.ckpt", "line/params", &len);
    CU_ASSERT_FATAL(wb && len == 2 * sizeof(float));
    double mse = 0;
    for (int i = 0; i < 50; i++) {
        double x = (i + 0.25) / 50, e = wb[0] * x + wb[1] - (2.5 * x - 1);
        mse += e * e / 50;
    }
    if (!(mse < 1e-3)) fprintf(stderr, "held-out mse %g (w %g b %g)\n", mse,
                               (double)wb[0], (double)wb[1]);
    CU_ASSERT(mse < 1e-3);
    free(wb);
    char *obj = section("full", "last.ckpt", "objective", &len);
    CU_ASSERT(obj && len == 4 && !memcmp(obj, "line", 4));
    free(obj);
}

/* Stopped by max_steps, then resumed: the same bits as uninterrupted. */
static void test_resume_exact(void)
{
    static const char *const stop[] = {"training.max_steps=190", NULL};
    CU_ASSERT_EQUAL_FATAL(train("part", NULL, stop, NULL, 0), 0);
    CU_ASSERT_FALSE(same_section("full", "part", "line/params"));
    CU_ASSERT_EQUAL_FATAL(train("part", "auto", NULL, NULL, 0), 0);
    CU_ASSERT(same_section("full", "part", "line/params"));
    CU_ASSERT(same_section("full", "part", "line/state"));
    CU_ASSERT(same_section("full", "part", "run"));
    size_t len = 0;
    void *st = section("full", "last.ckpt", "line/state", &len);
    CU_ASSERT(st && len == 2 * sizeof(float)); /* momentum: not vacuous */
    free(st);
}

/* SIGTERM mid-epoch: a checkpoint at that step, exit 1; the resumed run
 * ends with the same bits as the uninterrupted one. */
static void test_signal(void)
{
    raise_at = 201;
    int st = train("sig", NULL, NULL, NULL, 0);
    raise_at = 0;
    CU_ASSERT_EQUAL(st, NN_EXIT_OTHER);
    size_t len = 0;
    uint64_t *run = section("sig", "last.ckpt", "run", &len);
    CU_ASSERT_FATAL(run && len == 32);
    CU_ASSERT_EQUAL(run[2], 201); /* the step that saw the signal is done */
    CU_ASSERT(run[1] > 0);       /* mid-epoch (13 steps per epoch) */
    free(run);
    CU_ASSERT_EQUAL_FATAL(train("sig", "auto", NULL, NULL, 0), 0);
    CU_ASSERT(same_section("full", "sig", "line/params"));
    CU_ASSERT(same_section("full", "sig", "line/state"));
}

/* A copy of full/last.ckpt with section `drop` left out, section `add`
 * added (4 bytes), or `resize` given one byte less; written as
 * <dir>/bad.ckpt. */
static const char *doctored(const char *drop, const char *add,
                            const char *resize)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/last.ckpt", cu_tmp_path("full"));
    io_ckpt c, out = {0};
    CU_ASSERT_FATAL(io_ckpt_read(path, &c, NULL) == 0);
    for (size_t k = 0; k < c.n; k++) {
        io_ckpt_section *s = &c.sec[k];
        if (drop && !strcmp(s->name, drop)) continue;
        size_t len = resize && !strcmp(s->name, resize) ? s->len - 4 : s->len;
        io_ckpt_add(&out, s->name, s->data, len, s->payload);
    }
    static const uint32_t four = 4;
    if (add) io_ckpt_add(&out, add, &four, sizeof four, 0);
    static char bad[4096];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", cu_tmp_path("full"));
    CU_ASSERT_FATAL(io_ckpt_write(bad, &out, NULL) == 0);
    io_ckpt_free(&c);
    return bad;
}

static void expect_refused(const char *path, const char *words)
{
    char err[1200] = "";
    int st = train("refused", path, NULL, err, sizeof err);
    CU_ASSERT_EQUAL(st, NN_EXIT_DATA);
    if (!strstr(err, words) || !strstr(err, "bad.ckpt"))
        fprintf(stderr, "message: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, words));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad.ckpt"));
}

static void test_bad_sections(void)
{
    expect_refused(doctored("run", NULL, NULL), "section 'run': missing");
    expect_refused(doctored(NULL, "line/masks", NULL), "section 'line/masks'");
    expect_refused(doctored(NULL, NULL, "line/params"),
                   "section 'line/params': 4 bytes, expected 8");
    expect_refused(doctored("objective", NULL, NULL),
                   "'supervised' training, this config's is 'line'");
}

static const cu_test loop_tests[] = {
    {"a test-only objective learns a line (held-out mse)", test_learns},
    {"max_steps + resume = uninterrupted, bit for bit", test_resume_exact},
    {"SIGTERM mid-epoch: checkpoint, exit 1, exact resume", test_signal},
    {"missing, unknown and wrong-size sections are refused", test_bad_sections},
    {NULL, NULL}};

static const cu_suite suites[] = {{"loop", loop_tests}, {NULL, NULL}};

int main(void)
{
    comm = comm_init(NULL, NULL);
    write_data("train.csv", 200, 0);
    write_data("test.csv", 50, 0.5);
    int st = cu_main("trainer_test_loop", suites);
    comm_finalize(comm);
    return st;
}

/* tests/bench/bench_step.c - one training step taken apart, on the
 * trainer's own set-up code, for scripts/bench.
 *
 *   mpirun -np P bench_step CONFIG [--set KEY=VALUE]... [--steps N]
 *       [--warmup W] [--sync MODES] [--block K] [--ckpt DIR] [--ckpt-every K]
 *
 * MODES: comma-separated gradient sync modes of trainer/gradsync.h
 * (blocking, overlap, shared, auto; default auto), timed in alternating
 * blocks of K steps so that every mode sees the same machine.
 *
 * Sets up the run exactly as `axon train` does (tr_run_create: config,
 * data, the supervised objective's model group), then runs the step of
 * trainer/obj_supervised.c (with its training.accumulate passes, without
 * clipping) with a clock around
 * each phase: data gather, forward + loss, backward (with the overlapped
 * bucket starts and polls inside it), exposed allreduce (the gradient sum
 * left after backward, plus the small loss-statistics allreduce),
 * optimizer. Throughput is given two ways: from the median step
 * ("samples_s", robust to other load on the machine) and as the median
 * over windows of 25 steps of rows / window time ("samples_s_wall").
 * It first checks that one step in each mode gives the parameters the
 * blocking mode gives, from the same state (exit 1 if not).
 * Rank 0 prints one JSON object: per phase the median over the
 * timed steps of the slowest rank, steps per second, peak resident memory
 * (VmHWM, largest rank) and the bytes the run needs.
 *
 * With --ckpt DIR, checkpoints are then written into DIR with
 * tr_save, as training writes them: the median time the ranks
 * stand still, sizes, write speed, and the delay a save adds to a block of
 * 2K steps (interleaved blocks without / with a save). The last file is
 * read back and compared with the state it was taken from.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/ckpt.h"
#include "nn/check.h"
#include "tests/bench/bench.h"
#include "trainer/objective.h"
#include "trainer/sampler.h"

/* Steps per throughput window (samples_s_wall). */
#define WINDOW 25

enum { PH_GATHER, PH_FORWARD, PH_BACKWARD, PH_SYNC, PH_OPTIM, PH_STEP, PH_N };
static const char *ph_name[PH_N] = {"gather", "forward", "backward",
                                    "allreduce", "optimizer", "step"};

typedef struct bench_opts {
    size_t steps, warmup, ckpt_every;
    size_t block;         /* steps per block when alternating sync modes */
    int n_modes;
    tr_sync_mode modes[4];
    const char *ckpt_dir;
} bench_opts;

/* Peak resident set of this process in bytes (VmHWM), 0 if unknown. */
static size_t vm_hwm(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %zu kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

/* The loss gradient of the timed steps, [rows, output size]. */
static float *g_dout;
static size_t g_dout_rows;

/* The step of trainer/obj_supervised.c, with t[PH_*] set to each phase's
 * seconds. */
static int timed_step(tr_run *r, size_t step, double *t)
{
    tr_session *s = r->s;
    tr_group *g = r->groups[0];
    double t0 = comm_wtime();
    tr_gather(r, step);
    size_t n = r->batch.n, global = r->batch.global;
    size_t xw = s->train.x_width, yw = s->train.y_width;
    nn_model_zero_grad(g->model);
    double t1 = comm_wtime(), fwd = 0;
    nn_loss_stats ls = {0};
    /* training.accumulate passes over the local rows, as the objective:
     * buckets may start their allreduce during the last pass only. */
    size_t chunk = tr_pass_rows(r, n);
    if (n == 0) tr_group_arm(r, g);
    for (size_t a = 0; a < n; a += chunk) {
        size_t m = a + chunk < n ? chunk : n - a;
        if (a + chunk >= n) tr_group_arm(r, g);
        double ta = comm_wtime();
        nn_pass pass = {.training = 1, .seed = s->cfg.train.seed,
                        .step = r->global_step, .ids = r->batch.ids + a};
        const float *y = nn_model_forward(g->model, r->batch.x + a * xw, m,
                                          &pass);
        size_t ts = s->loss_steps;
        nn_loss_stats part = {0};
        s->loss->eval(y, r->batch.y + a * yw, m * ts, s->loss_dim,
                      1.0f / (float)(global * ts), g_dout, &part);
        ls.sum += part.sum, ls.correct += part.correct, ls.counted += part.counted;
        fwd += comm_wtime() - ta;
        nn_model_backward(g->model, r->batch.x + a * xw, g_dout, m);
    }
    double t3 = comm_wtime();
    double sums[4] = {ls.sum, (double)ls.correct, (double)ls.counted, 0.0};
    if (tr_gradsync_run(&g->sync, s->comm, g->model) ||
        comm_allreduce_sum_d(s->comm, sums, 4))
        return 1;
    double t4 = comm_wtime();
    nn_optim_step(g->optim, g->model->params, g->model->grads,
                  (float)s->cfg.train.lr);
    r->global_step++;
    double t5 = comm_wtime();
    t[PH_GATHER] = t1 - t0;
    t[PH_FORWARD] = fwd;
    t[PH_BACKWARD] = t3 - t1 - fwd;
    t[PH_SYNC] = t4 - t3;
    t[PH_OPTIM] = t5 - t4;
    t[PH_STEP] = t5 - t0;
    return 0;
}

/* Runs `count` steps from *pos (wrapping epochs); if out != NULL stores
 * each step's phase times, maxed over ranks, in out[k*PH_N + phase]. */
static int run_steps(tr_run *r, size_t count,
                     size_t *pos, double *out)
{
    tr_session *s = r->s;
    size_t per_epoch = r->sampler.ops->steps(r);
    for (size_t k = 0; k < count; k++, (*pos)++) {
        if (*pos % per_epoch == 0) { /* as trainer/loop.c */
            r->sampler.ops->epoch(r, *pos / per_epoch);
            size_t rows = r->sampler.ops->max_rows(r);
            tr_batch_reserve(r, rows);
            r->obj_ops->reserve(r, r->obj, tr_pass_rows(r, rows));
            size_t need = tr_pass_rows(r, rows);
            if (need > g_dout_rows) {
                free(g_dout);
                g_dout = nn_xalloc_floats(nn_mul_size(
                    need, nn_shape_size(nn_model_out_shape(r->groups[0]->model))));
                g_dout_rows = need;
            }
        }
        double t[PH_N];
        if (timed_step(r, *pos % per_epoch, t)) return 1;
        if (out) memcpy(out + k * PH_N, t, sizeof t);
    }
    /* The slowest rank sets the pace of every step: max over ranks, in
     * integer nanoseconds. */
    if (out && comm_size(s->comm) > 1) {
        int64_t *ns = nn_xcalloc(count * PH_N, sizeof *ns);
        for (size_t i = 0; i < count * PH_N; i++) ns[i] = (int64_t)(1e9 * out[i]);
        int bad = comm_allreduce_max_i64(s->comm, ns, count * PH_N);
        for (size_t i = 0; i < count * PH_N; i++) out[i] = 1e-9 * (double)ns[i];
        free(ns);
        if (bad) return 1;
    }
    return 0;
}

static const char *mode_name[] = {"auto", "blocking", "overlap", "shared"};

/* One step from the same state and batch in mode `mode`, then blocking;
 * returns the largest |difference| of the resulting parameters (0 with
 * two ranks: a sum of two is the same in any order), or -1 on an MPI
 * failure. The state is left as after the blocking step. */
static double check_mode(tr_run *r, size_t *pos,
                         tr_sync_mode mode)
{
    tr_group *g = r->groups[0];
    nn_model *m = g->model;
    size_t np = m->n_params, ns = g->optim->n_slots * g->optim->n;
    float *p0 = nn_xalloc_floats(np), *p1 = nn_xalloc_floats(np);
    float *s0 = nn_xalloc_floats(ns ? ns : 1);
    memcpy(p0, m->params, np * sizeof(float));
    if (ns) memcpy(s0, g->optim->state, ns * sizeof(float));
    uint64_t t0 = g->optim->t, g0 = r->global_step;
    size_t at = *pos;
    double worst = 0;
    tr_gradsync_set_mode(&g->sync, mode);
    int bad = run_steps(r, 1, pos, NULL);
    memcpy(p1, m->params, np * sizeof(float));
    memcpy(m->params, p0, np * sizeof(float));
    if (ns) memcpy(g->optim->state, s0, ns * sizeof(float));
    g->optim->t = t0, r->global_step = g0, *pos = at;
    tr_gradsync_set_mode(&g->sync, TR_SYNC_BLOCKING);
    bad |= run_steps(r, 1, pos, NULL);
    for (size_t i = 0; i < np; i++) {
        double d = fabs((double)m->params[i] - (double)p1[i]);
        if (!(d <= worst)) worst = d; /* NaN wins */
    }
    free(p0), free(p1), free(s0);
    return bad ? -1.0 : worst;
}

/* Bytes the run needs: arenas, optimizer state, activations and step
 * buffers as the model plans them, and the data shards. */
static double needed_bytes(const tr_run *r)
{
    const tr_session *s = r->s;
    const nn_model *m = r->groups[0]->model;
    double f = (double)m->n_params * (2.0 + (double)r->groups[0]->optim->n_slots);
    double width = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        width += (double)nn_shape_size(m->layers[i].out);
    double rows = (double)m->rows_cap, maxw = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        if ((double)nn_shape_size(m->layers[i].out) > maxw)
            maxw = (double)nn_shape_size(m->layers[i].out);
    f += rows * width + 2.0 * rows * maxw + (double)m->ws_cap;
    f += (double)r->batch.cap * (double)(s->train.x_width + s->train.y_width +
                                   nn_shape_size(nn_model_out_shape(m)));
    f += (double)(s->train.hi - s->train.lo) *
         (double)(s->train.x_width + s->train.y_width);
    if (s->have_test)
        f += (double)(s->test.hi - s->test.lo) *
             (double)(s->test.x_width + s->test.y_width);
    return 4.0 * f;
}

/* After the last save: last.ckpt read back equals the parameters it was
 * taken from (kept in ref). 1 if identical. */
static int verify_last(tr_run *r, const float *ref)
{
    tr_session *s = r->s;
    io_ckpt c = {0};
    char path[4096];
    size_t bytes = r->groups[0]->model->n_params * sizeof(float);
    snprintf(path, sizeof path, "%s/last.ckpt", s->cfg.ckpt.dir);
    io_ckpt_section *p = NULL;
    int ok = io_ckpt_read(path, &c, &s->err) == 0 &&
             (p = io_ckpt_find(&c, "model/params")) && p->len == bytes &&
             !memcmp(p->data, ref, bytes);
    io_ckpt_free(&c);
    return ok;
}

/* Checkpoint costs of tr_save, the trainer's own save (every
 * rank deflates a share, rank 0 gathers, writes, fsyncs; all learn the
 * verdict); prints JSON fields (rank 0). Blocks of 2K steps, alternately
 * without and with a save after the first K, each timed barrier to
 * barrier: the difference is the delay the save costs training; the save
 * call alone is the time the ranks stand still. */
static int bench_ckpt(tr_run *r, bench_opts *b, size_t *pos)
{
    tr_session *s = r->s;
    tr_group *g = r->groups[0];
    enum { ROUNDS = 7 };
    free(s->cfg.ckpt.dir);
    s->cfg.ckpt.dir = nn_xstrdup(b->ckpt_dir);
    s->cfg.ckpt.keep_last = 2;
    double blocks[2][ROUNDS], stall[ROUNDS];
    size_t K = b->ckpt_every;
    int bad = 0;
    for (int i = 0; i < 2 * ROUNDS && !bad; i++) {
        int save = i % 2;
        comm_barrier(s->comm);
        double t = comm_wtime();
        bad |= run_steps(r, K, pos, NULL);
        double t1 = comm_wtime();
        if (save) bad |= tr_save(r, NULL);
        if (save) stall[i / 2] = comm_wtime() - t1;
        bad |= run_steps(r, K, pos, NULL);
        comm_barrier(s->comm);
        blocks[save][i / 2] = comm_wtime() - t;
    }
    double raw = 4.0 * ((double)g->model->n_params +
                        (double)(g->optim->n_slots * g->optim->n));
    float *ref = nn_xalloc_floats(g->model->n_params);
    memcpy(ref, g->model->params, g->model->n_params * sizeof(float));
    if (!bad) bad |= tr_save(r, NULL);
    double comp = (double)io_ckpt_last_bytes();
    int ok = s->rank != 0 || verify_last(r, ref);
    free(ref);
    if (bad) return 1;
    /* The delay: median over rounds of the block with a save minus the
     * block without of the same round (paired: drift cancels). */
    double none = bench_median(blocks[0], ROUNDS), d[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) d[i] = blocks[1][i] - blocks[0][i];
    double delay = bench_median(d, ROUNDS), st = bench_median(stall, ROUNDS);
    if (s->rank == 0)
        printf(",\n  \"ckpt\": {\"raw_bytes\": %.0f, \"file_bytes\": %.0f, "
               "\"ratio\": %.4f, \"stall_ms\": %.3f, \"write_mbs\": %.1f, "
               "\"block_steps\": %zu, \"block_ms\": %.3f, "
               "\"delay_ms\": %.3f, \"verified\": %s}",
               raw, comp, comp / raw, 1e3 * st, raw / st / 1e6, 2 * K,
               1e3 * none, 1e3 * delay, ok ? "true" : "false");
    return 0;
}

/* "blocking,shared" into b->modes; 0 or -1 on a bad name. */
static int parse_modes(const char *list, bench_opts *b)
{
    b->n_modes = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < 4 && strcmp(t, mode_name[k])) k++;
        if (k == 4 || b->n_modes == 4) return -1;
        b->modes[b->n_modes++] = (tr_sync_mode)k;
    }
    return b->n_modes ? 0 : -1;
}

static int parse(int argc, char **argv, tr_options *o, bench_opts *b)
{
    static char *sets[64];
    o->command = "train";
    o->sets = sets;
    o->quiet = 1;
    *b = (bench_opts){.steps = 300, .warmup = 30, .ckpt_every = 100,
                      .n_modes = 1, .modes = {TR_SYNC_AUTO}, .block = 50};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--set") && v && o->n_sets < 63) sets[o->n_sets++] = argv[++i];
        else if (!strcmp(a, "--steps") && v) b->steps = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--warmup") && v) b->warmup = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--block") && v) b->block = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--sync") && v) {
            if (parse_modes(argv[++i], b)) return 2;
        } else if (!strcmp(a, "--ckpt") && v) b->ckpt_dir = argv[++i];
        else if (!strcmp(a, "--ckpt-every") && v) b->ckpt_every = strtoul(argv[++i], NULL, 10);
        else if (a[0] != '-' && !o->config) o->config = a;
        else return 2;
    }
    return o->config && b->steps > 0 && b->block > 0 && b->ckpt_every > 0 ? 0 : 2;
}

/* Rank 0: JSON of one sync mode's timed steps t[steps * PH_N]. */
static void report(const tr_run *r, tr_sync_mode mode, const double *t,
                   size_t steps, int first)
{
    const tr_session *s = r->s;
    double *col = nn_xcalloc(steps, sizeof *col), total = 0;
    printf("%s    {\"sync\": \"%s\", \"active\": \"%s\", \"steps\": %zu",
           first ? "" : ",\n", mode_name[mode], mode_name[r->groups[0]->sync.active],
           steps);
    for (int p = 0; p < PH_N; p++) {
        for (size_t k = 0; k < steps; k++) col[k] = t[k * PH_N + p];
        printf(", \"%s_us\": %.2f", ph_name[p], 1e6 * bench_median(col, steps));
    }
    for (size_t k = 0; k < steps; k++) col[k] = t[k * PH_N + PH_STEP];
    for (size_t k = 0; k < steps; k++) total += col[k];
    /* Windows of WINDOW consecutive steps (the last one may be short):
     * throughput by the clock, median over windows. */
    double B = (double)s->cfg.train.batch_size, *win = nn_xcalloc(steps, sizeof *win);
    size_t n_win = 0;
    for (size_t k = 0; k < steps; k += WINDOW) {
        size_t len = steps - k < WINDOW ? steps - k : WINDOW;
        double sum = 0;
        for (size_t j = k; j < k + len; j++) sum += col[j];
        win[n_win++] = B * (double)len / sum;
    }
    double wall = bench_median(win, n_win);
    free(win);
    double med = bench_median(col, steps); /* sorts col */
    printf(", \"step_p90_us\": %.1f, \"step_max_us\": %.1f, "
           "\"samples_s\": %.1f, \"samples_s_wall\": %.1f, "
           "\"samples_s_mean\": %.1f}",
           1e6 * col[steps * 9 / 10], 1e6 * col[steps - 1], B / med, wall,
           B * (double)steps / total);
    free(col);
}

/* The timed steps: blocks of b->block steps, alternating between the
 * sync modes asked for, so all see the same machine; then one report per
 * mode (its active mode as decided by gradsync). */
static int timed_runs(tr_run *r, bench_opts *b, size_t *pos)
{
    tr_session *s = r->s;
    tr_gradsync *sync = &r->groups[0]->sync;
    double *t[4];
    size_t done[4] = {0, 0, 0, 0};
    int st = 0, n = b->n_modes;
    for (int m = 0; m < n; m++) t[m] = nn_xcalloc(b->steps * PH_N, sizeof(double));
    for (size_t k = 0; !st && done[n - 1] < b->steps; k++) {
        int m = (int)(k % (size_t)n);
        size_t len = b->steps - done[m] < b->block ? b->steps - done[m] : b->block;
        tr_gradsync_set_mode(sync, b->modes[m]);
        st = run_steps(r, len, pos, t[m] + done[m] * PH_N);
        done[m] += len;
    }
    if (!st && s->rank == 0) printf("  \"runs\": [\n");
    for (int m = 0; m < n && !st; m++) {
        /* one step to learn the active mode, outside the timings */
        tr_gradsync_set_mode(sync, b->modes[m]);
        st = run_steps(r, 1, pos, NULL);
        if (!st && s->rank == 0) report(r, b->modes[m], t[m], b->steps, m == 0);
    }
    if (!st && s->rank == 0) printf("\n  ]");
    for (int m = 0; m < n; m++) free(t[m]);
    return st;
}

static int bench(tr_session *s, bench_opts *b)
{
    int st;
    tr_run run, *r = &run;
    if ((st = tr_load_config(s)) || (st = tr_load_data(s)) ||
        (st = tr_run_create(r, s, NULL)))
        return st;
    tr_group *g = r->groups[0];
    size_t pos = 0;
    if (run_steps(r, b->warmup, &pos, NULL)) return 1;
    if (s->rank == 0)
        printf("{\n  \"ranks\": %d, \"batch\": %zu, \"blas_threads\": %d, "
               "\"n_params\": %zu, \"buckets\": %zu,\n",
               s->size, s->cfg.train.batch_size, openblas_get_num_threads(),
               g->model->n_params, g->sync.n_buckets);
    for (int k = TR_SYNC_OVERLAP; k <= TR_SYNC_SHARED; k++) {
        double diff = check_mode(r, &pos, (tr_sync_mode)k);
        if (s->rank == 0)
            printf("  \"%s_max_diff\": %g,\n", mode_name[k], diff);
        if (diff < 0 || diff > 1e-6)
            return nn_error_set(&s->err, NN_EXIT_OTHER, "gradient sync '%s' "
                                "differs from blocking by %g", mode_name[k],
                                diff);
    }
    if (timed_runs(r, b, &pos)) return 1;
    tr_gradsync_set_mode(&g->sync, TR_SYNC_AUTO);
    if (b->ckpt_dir && bench_ckpt(r, b, &pos)) return 1;
    int64_t hwm = (int64_t)vm_hwm();
    if (comm_allreduce_max_i64(s->comm, &hwm, 1)) return 1;
    if (s->rank == 0)
        printf(",\n  \"vmhwm_bytes\": %lld, \"needed_bytes\": %.0f\n}\n",
               (long long)hwm, needed_bytes(r));
    tr_run_free(r);
    return 0;
}

int main(int argc, char **argv)
{
    comm_ctx *c = comm_init(&argc, &argv);
    if (!c) return 1;
    tr_options o = {0};
    bench_opts b;
    if (parse(argc, argv, &o, &b)) {
        if (comm_rank(c) == 0)
            fprintf(stderr, "usage: bench_step CONFIG [--set K=V]... [--steps N] "
                            "[--warmup W] [--sync blocking,overlap,shared,auto] [--block K] [--ckpt DIR] "
                            "[--ckpt-every K]\n");
        comm_finalize(c);
        return 2;
    }
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    if (!env || !*env) {
        long t = sysconf(_SC_NPROCESSORS_ONLN) / comm_local_size(c);
        openblas_set_num_threads(t < 1 ? 1 : (int)t);
    }
    tr_session s = {.comm = c, .rank = comm_rank(c), .size = comm_size(c),
                    .opt = &o};
    int st = bench(&s, &b);
    if (st && s.err.msg[0]) fprintf(stderr, "bench_step: %s\n", s.err.msg);
    tr_session_free(&s);
    comm_finalize(c);
    return st;
}

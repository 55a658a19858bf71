/* tests/bench/bench_optim.c - the optimizer's update against the memory
 * bandwidth bound, for scripts/bench (a diagnostic, not a test).
 *
 *   bench_optim [PARAMS] [--quick]
 *
 * For every update path (SGD plain, L2, L1; momentum; Nesterov; Adam;
 * AdamW) it times nn_optim_step over one decayed segment of PARAMS floats
 * (default 16M: 64 MB per array, beyond any cache here, where the time is
 * the memory's) and prints one JSON object with, per path:
 *   - us_per_mparam: microseconds per million parameters (median step);
 *   - bytes_per_param: what the step must move, reads + writes (SGD 12: w,
 *     g in, w out; momentum 20: + v in and out; Adam 28: + m, s);
 *   - frac_of_bound: the time of those bytes at memcpy's rate over the
 *     time taken (1 = memory speed). memcpy_gbs counts bytes copied, each
 *     read once and written once, so its traffic is twice that.
 * And the price of subnormals: a momentum step whose velocities are all
 * subnormal (as they become for weights whose input is always zero), with
 * IEEE arithmetic and with flush-to-zero (nn/fpu.h), against normal ones.
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/fpu.h"
#include "nn/optim.h"
#include "tests/bench/bench.h"

typedef struct path {
    const char *name;
    nn_opt_kind kind;
    float momentum;
    int nesterov;
    float wd, l1;
} path;

static const path paths[] = {
    {"sgd", NN_OPT_SGD, 0, 0, 0, 0},
    {"sgd_l2", NN_OPT_SGD, 0, 0, 1e-4f, 0},
    {"sgd_l1", NN_OPT_SGD, 0, 0, 0, 1e-5f},
    {"momentum", NN_OPT_SGD, 0.9f, 0, 0, 0},
    {"momentum_l2", NN_OPT_SGD, 0.9f, 0, 1e-4f, 0},
    {"nesterov", NN_OPT_SGD, 0.9f, 1, 0, 0},
    {"nesterov_l2_l1", NN_OPT_SGD, 0.9f, 1, 1e-4f, 1e-5f},
    {"adam", NN_OPT_ADAM, 0, 0, 0, 0},
    {"adam_l2", NN_OPT_ADAM, 0, 0, 1e-4f, 0},
    {"adamw", NN_OPT_ADAMW, 0, 0, 1e-2f, 0},
    {"adamw_l1", NN_OPT_ADAMW, 0, 0, 1e-2f, 1e-5f},
};

static nn_optim_cfg cfg_of(const path *p)
{
    nn_optim_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = p->kind;
    c.momentum = p->momentum;
    c.nesterov = p->nesterov;
    c.weight_decay = p->wd;
    c.l1 = p->l1;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    return c;
}

/* Median seconds of one step over n parameters. If vel is not 0, the
 * velocities are set to vel before each timed step (the gradient is 0, so
 * the step only scales them, as for a weight that never sees input). */
static double time_step(const path *p, float *w, float *g, size_t n,
                        size_t reps, float vel)
{
    nn_optim_cfg c = cfg_of(p);
    nn_segment seg = {0, n, NN_PARAM_DECAY, 1};
    nn_optim *o = nn_optim_create(&c, n, &seg, 1);
    double *t = nn_xcalloc(reps, sizeof *t);
    for (size_t r = 0; r < reps + 2; r++) {
        if (vel != 0.0f)
            for (size_t i = 0; i < n; i++) o->state[i] = vel;
        double s = bench_now();
        nn_optim_step(o, w, g, 1e-6f);
        if (r >= 2) t[r - 2] = bench_now() - s; /* 2 warm-ups */
    }
    double med = bench_median(t, reps);
    free(t);
    nn_optim_destroy(o);
    return med;
}

static double bytes_per_param(const path *p)
{
    if (p->kind != NN_OPT_SGD) return 28;
    return p->momentum != 0.0f ? 20 : 12;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[argc - 1], "--quick");
    size_t n = argc > 1 && argv[1][0] != '-' ? strtoul(argv[1], NULL, 10)
                                             : (size_t)16 << 20;
    if (n < 1024 || n > ((size_t)1 << 30)) {
        fprintf(stderr, "usage: bench_optim [PARAMS in 1024..2^30] [--quick]\n");
        return 2;
    }
    size_t reps = quick ? 3 : 15;
    float *w = nn_xalloc_floats(n), *g = nn_xalloc_floats(n);
    for (size_t i = 0; i < n; i++) {
        w[i] = (float)(i % 13) * 0.01f - 0.06f;
        g[i] = (float)(i % 7) * 0.001f - 0.003f;
    }
    /* memcpy timed before each path, in the same machine state: the
     * median of those is the rate every path is judged against. */
    enum { n_paths = sizeof paths / sizeof *paths };
    double t[n_paths], copies[n_paths];
    for (size_t k = 0; k < n_paths; k++) {
        copies[k] = bench_memcpy_gbs(n * sizeof(float), reps);
        t[k] = time_step(&paths[k], w, g, n, reps, 0.0f);
    }
    double copy = bench_median(copies, n_paths);
    printf("{\n  \"params\": %zu,\n  \"memcpy_gbs\": %.2f,\n  \"paths\": [\n", n, copy);
    for (size_t k = 0; k < n_paths; k++) {
        const path *p = &paths[k];
        double bytes = bytes_per_param(p) * (double)n;
        double bound = bytes / (2.0 * copy * 1e9);
        printf("    {\"path\": \"%s\", \"us_per_mparam\": %.1f, \"bytes_per_param\": %.0f, "
               "\"gbs\": %.2f, \"bound_us_per_mparam\": %.1f, \"frac_of_bound\": %.3f}%s\n",
               p->name, 1e6 * t[k] / ((double)n / 1e6), bytes_per_param(p),
               bytes / t[k] / 1e9, 1e6 * bound / ((double)n / 1e6), bound / t[k],
               k + 1 < n_paths ? "," : "");
    }
    /* Subnormal velocities, g = 0: IEEE arithmetic, then flushed. */
    memset(g, 0, n * sizeof *g);
    const path *mom = &paths[3];
    double normal = time_step(mom, w, g, n, reps, 1e-3f);
    double ieee = time_step(mom, w, g, n, reps, FLT_MIN / 64);
    int flushing = nn_fpu_flush_subnormals(1);
    double flushed = time_step(mom, w, g, n, reps, FLT_MIN / 64);
    nn_fpu_flush_subnormals(0);
    printf("  ],\n  \"subnormal_momentum\": {\"normal_us_per_mparam\": %.1f, "
           "\"subnormal_us_per_mparam\": %.1f, \"flushed_us_per_mparam\": %.1f, "
           "\"flush_available\": %d}\n}\n",
           1e6 * normal / ((double)n / 1e6), 1e6 * ieee / ((double)n / 1e6),
           1e6 * flushed / ((double)n / 1e6), flushing);
    free(w), free(g);
    return 0;
}

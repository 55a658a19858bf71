/* tests/bench/bench_kernels.c - the machine's single-core limits at a
 * model's own step shapes, for scripts/bench.
 *
 *   bench_kernels CONFIG ROWS [C,H,W] [--quick]
 *
 * Builds the model of CONFIG (input shape C,H,W, default 1,28,28) and
 * prints one JSON object:
 *   - sgemm_1024_gflops: 1024^3 SGEMM;
 *   - per dense layer, the time of each SGEMM a training step of ROWS rows
 *     makes, called exactly as nn/dense.c calls it (forward NT beta=1,
 *     dW TN beta=1, dx NN beta=0, no dx for the first trainable layer);
 *     their sum is the GEMM-only time of a step, ROWS / sum the GEMM-only
 *     ceiling in samples/s (meaningful when every parameter layer is dense);
 *   - flops_per_sample: multiply-adds x 2 of forward + backward of every
 *     dense and conv2d layer (forward, dW, and dx except for the first);
 *   - memcpy_gbs: bytes copied per second, 64 MiB buffers (beyond L3);
 *   - bytes the model needs: parameters, gradients and momentum.
 * Each time is the median of repeated timings of a batch of calls. BLAS
 * runs on 1 thread unless OPENBLAS_NUM_THREADS says otherwise.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/config.h"
#include "nn/check.h"
#include "nn/model.h"
#include "tests/bench/bench.h"

/* One SGEMM call as the layers make it (row-major). */
typedef struct gemm {
    const char *what;
    int ta, tb;       /* transpose A, B */
    int m, n, k;
    float beta;
} gemm;

/* Median seconds of one call of g: `reps` timings of `inner` calls each. */
static double time_gemm(const gemm *g, size_t reps, double budget)
{
    size_t lda = g->ta ? (size_t)g->m : (size_t)g->k;
    size_t ldb = g->tb ? (size_t)g->k : (size_t)g->n;
    size_t asz = (size_t)g->m * g->k, bsz = (size_t)g->k * g->n;
    float *a = nn_xalloc_floats(asz), *b = nn_xalloc_floats(bsz);
    float *c = nn_xalloc_floats((size_t)g->m * g->n);
    for (size_t i = 0; i < asz; i++) a[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < bsz; i++) b[i] = (float)(i % 5) * 0.01f;
    double flops = 2.0 * g->m * g->n * g->k;
    size_t inner = (size_t)(2e-4 / (flops / 50e9)) + 1; /* ~0.2 ms a batch */
    double *t = nn_xcalloc(reps, sizeof *t), t0 = bench_now();
    size_t done = 0;
    for (size_t r = 0; r < reps + 3; r++) {
        double s = bench_now();
        for (size_t i = 0; i < inner; i++)
            cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
                        g->tb ? CblasTrans : CblasNoTrans, g->m, g->n, g->k,
                        1.0f, a, (int)lda, b, (int)ldb, g->beta, c, g->n);
        if (r >= 3) t[done++] = (bench_now() - s) / (double)inner; /* 3 warm-ups */
        if (done >= 5 && bench_now() - t0 > budget) break;
    }
    double med = bench_median(t, done);
    free(t), free(a), free(b), free(c);
    return med;
}

static int load_model(const char *path, nn_shape in, nn_model **m,
                      nn_optim_cfg *opt)
{
    io_config cfg;
    nn_error err = {0};
    char *text = NULL;
    size_t len = 0;
    int st = io_read_file(path, &text, &len, &err);
    if (!st) st = io_config_parse(&cfg, path, text, len, NULL, 0, NULL, &err);
    free(text);
    if (st) {
        fprintf(stderr, "bench_kernels: %s\n", err.msg);
        return st;
    }
    st = nn_model_create(m, cfg.layers, cfg.n_layers, in, &err);
    if (st) fprintf(stderr, "bench_kernels: %s\n", err.msg);
    *opt = cfg.optim;
    io_config_free(&cfg);
    return st;
}

/* 2 x multiply-adds of one sample's forward + backward through layer l. */
static double layer_flops(const nn_layer *l, int first)
{
    double in = (double)nn_shape_size(l->in), out = (double)nn_shape_size(l->out);
    double passes = first ? 2.0 : 3.0; /* forward, dW, dx */
    if (!strcmp(l->ops->type, "dense")) return passes * 2.0 * in * out;
    if (!strcmp(l->ops->type, "conv2d")) {
        /* weight [M, K]: each output position costs K multiply-adds */
        double k = (double)l->views[0].count / (double)l->out.dim[0];
        return passes * 2.0 * out * k;
    }
    return 0.0;
}

static nn_shape parse_shape(const char *s)
{
    size_t d[3] = {0, 0, 0};
    if (sscanf(s, "%zu,%zu,%zu", &d[0], &d[1], &d[2]) == 3)
        return nn_shape_3d(d[0], d[1], d[2]);
    if (sscanf(s, "%zu", &d[0]) == 1) return nn_shape_1d(d[0]);
    return nn_shape_3d(1, 28, 28);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_kernels CONFIG ROWS [C,H,W] [--quick]\n");
        return 2;
    }
    int quick = !strcmp(argv[argc - 1], "--quick");
    int rows = atoi(argv[2]);
    nn_shape in = argc > 3 && argv[3][0] != '-' ? parse_shape(argv[3])
                                                : nn_shape_3d(1, 28, 28);
    if (rows < 1) return 2;
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    if (!env || !*env) openblas_set_num_threads(1);
    nn_model *m = NULL;
    nn_optim_cfg opt;
    if (load_model(argv[1], in, &m, &opt)) return 2;
    size_t reps = quick ? 15 : 200;
    double budget = quick ? 0.05 : 0.6;

    gemm big = {"1024", 0, 0, 1024, 1024, 1024, 0.0f};
    double t_big = time_gemm(&big, quick ? 3 : 15, budget);
    printf("{\n  \"blas_threads\": %d,\n", openblas_get_num_threads());
    printf("  \"sgemm_1024_gflops\": %.2f,\n", 2e-9 * 1024.0 * 1024 * 1024 / t_big);
    printf("  \"gemms\": [\n");
    double step = 0.0, step_flops = 0.0, fps = 0.0;
    int first = 1, all_dense = 1, printed = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        if (!l->n_params) continue;
        fps += layer_flops(l, first);
        if (strcmp(l->ops->type, "dense")) {
            all_dense = 0;
            first = 0;
            continue;
        }
        int fin = (int)nn_shape_size(l->in), fout = (int)nn_shape_size(l->out);
        gemm g[3] = {{"forward", 0, 1, rows, fout, fin, 1.0f},
                     {"dW", 1, 0, fout, fin, rows, 1.0f},
                     {"dx", 0, 0, rows, fin, fout, 0.0f}};
        for (int k = 0; k < (first ? 2 : 3); k++) {
            double t = time_gemm(&g[k], reps, budget);
            double f = 2.0 * g[k].m * g[k].n * g[k].k;
            step += t;
            step_flops += f;
            printf("%s    {\"layer\": \"%s\", \"gemm\": \"%s\", \"m\": %d, "
                   "\"n\": %d, \"k\": %d, \"us\": %.3f, \"gflops\": %.2f}",
                   printed++ ? ",\n" : "", l->name, g[k].what, g[k].m, g[k].n,
                   g[k].k, 1e6 * t, 1e-9 * f / t);
        }
        first = 0;
    }
    printf("\n  ],\n");
    size_t slots = opt.kind == NN_OPT_SGD ? (opt.momentum != 0.0f) : 2;
    printf("  \"rows\": %d,\n  \"n_params\": %zu,\n", rows, m->n_params);
    printf("  \"arena_bytes\": %zu,\n", (2 + slots) * m->n_params * sizeof(float));
    printf("  \"flops_per_sample\": %.0f,\n", fps);
    printf("  \"all_dense\": %s,\n", all_dense ? "true" : "false");
    if (step > 0) {
        printf("  \"gemm_step_us\": %.3f,\n", 1e6 * step);
        printf("  \"gemm_shapes_gflops\": %.2f,\n", 1e-9 * step_flops / step);
        printf("  \"gemm_ceiling_samples_s\": %.0f,\n", rows / step);
    }
    printf("  \"memcpy_gbs\": %.2f\n}\n", bench_memcpy_gbs((size_t)64 << 20, quick ? 3 : 9));
    nn_model_destroy(m);
    return 0;
}

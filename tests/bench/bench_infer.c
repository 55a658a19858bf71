/* tests/bench/bench_infer.c - batch-1 latency of one model three ways
 * apart from ONNX Runtime (tests/onnx/run.js measures that): axon's own
 * forward (nn_model_forward, the code `axon predict` runs, one BLAS
 * thread) and the inference library (axi_run) on the float and, if
 * given, the int8 .axm file, interleaved image by image so every way
 * sees the same machine.
 *
 *   bench_infer CKPT MODEL.axm [MODEL_INT8.axm] IMAGES.idx [REPEAT]
 *
 * Prints the median microseconds per image of each, and checks that the
 * float library's outputs equal axon's to 1e-4 (exit 1 if not).
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infer/axon_infer.h"
#include "io/ckpt.h"
#include "io/dataset.h"
#include "trainer/session.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static nn_model *load_model(const char *path, io_config *cfg)
{
    io_ckpt c = {0};
    nn_error err = {0};
    nn_model *m = NULL;
    if (io_ckpt_read(path, &c, &err) || tr_ckpt_config(&c, path, cfg, &err) ||
        tr_ckpt_model(&c, path, "model", cfg->layers, cfg->n_layers, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    io_ckpt_free(&c);
    return m;
}

static axi_model *load_axm(const char *path)
{
    axi_model *a = NULL;
    char msg[256];
    if (axi_load_file(path, 1, &a, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
        exit(1);
    }
    return a;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_infer CKPT MODEL.axm [INT8.axm] IMAGES.idx [REPEAT]\n");
        return 2;
    }
    int q = argc >= 5 && strstr(argv[3], ".axm") != NULL;
    const char *images = argv[3 + q];
    size_t repeat = argc > 4 + q ? strtoul(argv[4 + q], NULL, 10) : 2000;
    openblas_set_num_threads(1);
    io_config cfg;
    memset(&cfg, 0, sizeof cfg);
    nn_model *m = load_model(argv[1], &cfg);
    axi_model *a = load_axm(argv[2]), *aq = q ? load_axm(argv[3]) : NULL;
    size_t rows = 0, w = nn_shape_size(m->in), out = axi_output_size(a);
    nn_shape shape;
    float *x = NULL;
    nn_error err = {0};
    if (io_idx_read(images, 0, 256, &rows, &shape, &x, &err) || rows == 0 ||
        nn_shape_size(shape) != w) {
        fprintf(stderr, "%s: %s\n", images, err.msg);
        return 1;
    }
    if (rows > 256) rows = 256; /* the rows read; rows was the file's count */
    float *xn = malloc(rows * w * sizeof *xn), *y = malloc(out * sizeof *y);
    float scale = !strcmp(cfg.data.normalize, "scale") ? (float)cfg.data.scale : 1.0f;
    for (size_t i = 0; i < rows * w; i++) xn[i] = x[i] * scale;
    nn_model_reserve(m, 1);
    nn_pass pass = {.training = 0};
    double *t = malloc(3 * repeat * sizeof *t), worst = 0;
    for (size_t k = 0; k < repeat; k++) {
        size_t r = k % rows;
        double t0 = now_us();
        const float *ya = nn_model_forward(m, xn + r * w, 1, &pass);
        double t1 = now_us();
        axi_run(a, x + r * w, 1, y);
        double t2 = now_us();
        for (size_t j = 0; j < out; j++)
            worst = fmax(worst, fabs((double)y[j] - ya[j]) / fmax(1.0, fabs(ya[j])));
        t[k] = t1 - t0;
        t[repeat + k] = t2 - t1;
        if (aq) {
            double t3 = now_us();
            axi_run(aq, x + r * w, 1, y);
            t[2 * repeat + k] = now_us() - t3;
        }
    }
    for (int i = 0; i < 3; i++) qsort(t + i * repeat, repeat, sizeof *t, cmp);
    printf("batch-1 median over %zu images: axon forward %.1f us, libaxon_infer "
           "%.1f us", repeat, t[repeat / 2], t[repeat + repeat / 2]);
    if (aq) printf(", libaxon_infer int8 %.1f us", t[2 * repeat + repeat / 2]);
    printf("; library vs axon max difference %.2g\n", worst);
    axi_free(a);
    axi_free(aq);
    nn_model_destroy(m);
    free(x);
    free(xn);
    free(y);
    free(t);
    return worst <= 1e-4 ? 0 : 1;
}

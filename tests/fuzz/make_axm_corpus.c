/* tests/fuzz/make_axm_corpus.c - seeds for fuzz_axm: small .axm files of
 * every op kind (float and int8), written by export/axm.c from models
 * built here, each prefixed with the harness's mode byte (1: repair the
 * checksum after mutating). Run by make_corpus.sh.
 *
 *   make_axm_corpus DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "nn/check.h"
#include "nn/model.h"

typedef struct def {
    const char *name, *type;
    const char *kv[9];
} def;

static int seed(const char *dir, const char *file, const def *d, size_t n,
                nn_shape in, const ex_norm *norm, int int8, int softmax)
{
    nn_spec s[16];
    memset(s, 0, sizeof s);
    for (size_t i = 0; i < n; i++) {
        s[i].type = nn_xstrdup(d[i].type);
        s[i].name = d[i].name ? nn_xstrdup(d[i].name) : NULL;
        s[i].file = "seed.yaml";
        s[i].line = (int)i + 1;
        for (int k = 0; d[i].kv[k]; k += 2)
            nn_spec_add(&s[i], d[i].kv[k], d[i].kv[k + 1], s[i].line, NULL);
    }
    nn_model *m = NULL;
    nn_error err = {0};
    int st = nn_model_create(&m, s, n, in, &err);
    for (size_t i = 0; i < n; i++) nn_spec_free(&s[i]);
    if (st) {
        fprintf(stderr, "%s: %s\n", file, err.msg);
        return 1;
    }
    nn_model_init(m, 1);
    size_t w = nn_shape_size(in);
    float *x = nn_xalloc_floats(4 * w), range[32];
    for (size_t i = 0; i < 4 * w; i++) x[i] = (float)((i * 7) % 11) / 11.0f;
    if (int8) ex_calibrate(m, x, 4, range);
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(tmp, sizeof tmp, "%s.raw", path);
    st = ex_axm_write(m, norm, softmax, int8 ? range : NULL, tmp, &err);
    if (!st) {
        FILE *f = fopen(tmp, "rb"), *g = fopen(path, "wb");
        unsigned char buf[65536];
        size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
        fputc(1, g);
        fwrite(buf, 1, len, g);
        fclose(f);
        fclose(g);
        remove(tmp);
    } else {
        fprintf(stderr, "%s: %s\n", file, err.msg);
    }
    free(x);
    nn_model_destroy(m);
    return st;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    const char *dir = argv[1];
    def mlp[] = {{NULL, "dense", {"units", "4", NULL}}, {NULL, "relu", {NULL}},
                 {NULL, "dropout", {"rate", "0.5", NULL}},
                 {NULL, "dense", {"units", "3", "bias", "false", NULL}},
                 {NULL, "sigmoid", {NULL}}};
    def cnn[] = {{NULL, "conv2d", {"filters", "2", "kernel", "3", "padding", "1", NULL}},
                 {NULL, "batchnorm", {NULL}}, {NULL, "leaky_relu", {NULL}},
                 {NULL, "maxpool2d", {"size", "2", NULL}},
                 {NULL, "conv2d", {"filters", "2", "kernel", "2", "stride", "2", NULL}},
                 {NULL, "avgpool2d", {"size", "1", NULL}}, {NULL, "flatten", {NULL}},
                 {NULL, "dense", {"units", "3", NULL}}, {NULL, "tanh", {NULL}},
                 {NULL, "softmax", {NULL}}};
    def graph[] = {{"a", "conv2d", {"filters", "2", "kernel", "1", NULL}},
                   {"b", "conv2d", {"filters", "2", "kernel", "1", "inputs", "input", NULL}},
                   {"s", "add", {"inputs", "a,b", NULL}},
                   {"c", "concat", {"inputs", "s,a", NULL}},
                   {"g", "global_avgpool", {NULL}},
                   {"r", "reshape", {"shape", "2,2", NULL}},
                   {"o", "dense", {"units", "2", "time_distributed", "true", NULL}}};
    double mean[4] = {0.5, 0.1, 0.2, 0.3}, std[4] = {1, 2, 0, 0.5};
    ex_norm scale = {EX_NORM_SCALE, 0.5f, NULL, NULL};
    ex_norm stdz = {EX_NORM_STANDARDIZE, 0, mean, std};
    int st = seed(dir, "mlp", mlp, 5, nn_shape_1d(4), &stdz, 0, 0) |
             seed(dir, "mlp-int8", mlp, 5, nn_shape_1d(4), &stdz, 1, 1) |
             seed(dir, "cnn", cnn, 10, nn_shape_3d(1, 6, 6), &scale, 0, 0) |
             seed(dir, "cnn-int8", cnn, 10, nn_shape_3d(1, 6, 6), &scale, 1, 0) |
             seed(dir, "graph", graph, 7, nn_shape_3d(1, 3, 3), NULL, 0, 1) |
             seed(dir, "graph-int8", graph, 7, nn_shape_3d(1, 3, 3), NULL, 1, 0);
    return st ? 1 : 0;
}

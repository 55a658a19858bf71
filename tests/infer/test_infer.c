/* tests/infer/test_infer.c - the inference library (infer/) against the
 * models it was exported from: for chains and graphs of every layer kind
 * it has, axon's own forward (nn_model_forward, inference mode) and
 * axi_run on the .axm file export/axm.c wrote agree to float rounding;
 * int8 files stay close and are smaller; larger batches than max_batch
 * run in chunks; two models run in two threads at once; a layer the
 * library lacks is refused at export; and the loader survives every
 * truncation and (checksum repaired) every single-byte change of a file,
 * each returning a status and a message or a valid model, never crashing.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "export/export.h"
#include "infer/axon_infer.h"
#include "nn/check.h"
#include "nn/model.h"
#include "tests/cu.h"

typedef struct def {
    const char *name;
    const char *type;
    const char *kv[13];
} def;

static nn_model *build(const def *d, size_t n, nn_shape in)
{
    nn_spec *s = nn_xcalloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].type = nn_xstrdup(d[i].type);
        s[i].name = d[i].name ? nn_xstrdup(d[i].name) : NULL;
        s[i].file = "net.yaml";
        s[i].line = (int)(10 * (i + 1));
        for (int k = 0; d[i].kv[k]; k += 2)
            CU_ASSERT_FATAL(nn_spec_add(&s[i], d[i].kv[k], d[i].kv[k + 1],
                                        s[i].line + 1 + k / 2, NULL) == 0);
    }
    nn_model *m = NULL;
    nn_error err = {0};
    int rc = nn_model_create(&m, s, n, in, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_FATAL(rc == 0);
    for (size_t i = 0; i < n; i++) nn_spec_free(&s[i]);
    free(s);
    nn_model_init(m, 7);
    /* batchnorm: running statistics away from 0 and 1 */
    for (size_t i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        if (strcmp(l->ops->type, "batchnorm")) continue;
        size_t C = l->views[0].count;
        float *r = cu_rand_floats(4 * C, 11 + i, 0.2, 1.5);
        for (size_t k = 0; k < 4; k++)
            memcpy(nn_layer_tensor(l, k), r + k * C, C * sizeof *r);
        free(r);
    }
    return m;
}

static char tmp_path[64];

static const char *tmp_file(void)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/axon-infer-%ld.axm", (long)getpid());
    return tmp_path;
}

/* Write m (float, or int8 calibrated on x) and load it for max_batch. */
static axi_model *roundtrip(nn_model *m, const ex_norm *norm, const float *x,
                            size_t rows, int int8, size_t max_batch, long *bytes)
{
    nn_error err = {0};
    float *range = NULL;
    if (int8) {
        range = nn_xalloc_floats(2 * m->n_layers);
        ex_calibrate(m, x, rows, range);
    }
    int rc = ex_axm_write(m, norm, 0, range, tmp_file(), &err);
    free(range);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_FATAL(rc == 0);
    FILE *f = fopen(tmp_file(), "rb");
    fseek(f, 0, SEEK_END);
    if (bytes) *bytes = ftell(f);
    fclose(f);
    axi_model *a = NULL;
    char msg[256];
    rc = axi_load_file(tmp_file(), max_batch, &a, msg, sizeof msg);
    if (rc) fprintf(stderr, "%s\n", msg);
    CU_ASSERT_FATAL(rc == 0);
    unlink(tmp_file());
    return a;
}

/* Largest |library - axon| relative to max(1, |axon|) over n rows. */
static double compare(nn_model *m, axi_model *a, const float *x, size_t n)
{
    nn_pass pass = {.training = 0};
    nn_model_reserve(m, n);
    const float *want = nn_model_forward(m, x, n, &pass);
    size_t out = nn_shape_size(nn_model_out_shape(m));
    CU_ASSERT_FATAL(axi_output_size(a) == out);
    float *got = nn_xalloc_floats(n * out);
    CU_ASSERT_FATAL(axi_run(a, x, n, got) == 0);
    double worst = 0.0;
    for (size_t i = 0; i < n * out; i++) {
        double d = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (!(d <= worst)) worst = d;
    }
    free(got);
    return worst;
}

static void check_model(const char *what, const def *d, size_t nd, nn_shape in)
{
    nn_model *m = build(d, nd, in);
    size_t n = 5, w = nn_shape_size(in);
    float *x = cu_rand_floats(n * w, 3, -1.0, 1.0);
    axi_model *a = roundtrip(m, NULL, x, n, 0, 2, NULL);
    double worst = compare(m, a, x, n);
    if (!(worst < 1e-5)) fprintf(stderr, "%s: difference %g\n", what, worst);
    CU_ASSERT(worst < 1e-5);
    axi_free(a);
    free(x);
    nn_model_destroy(m);
}

static void test_mlp(void)
{
    def d[] = {{NULL, "dense", {"units", "16", NULL}},
               {NULL, "relu", {NULL}},
               {NULL, "dropout", {"rate", "0.5", NULL}},
               {NULL, "dense", {"units", "7", "bias", "false", NULL}},
               {NULL, "sigmoid", {NULL}}};
    check_model("mlp", d, 5, nn_shape_3d(1, 4, 5));
}

static void test_cnn(void)
{
    def d[] = {{NULL, "conv2d", {"filters", "4", "kernel", "3", "padding", "1", NULL}},
               {NULL, "batchnorm", {NULL}},
               {NULL, "leaky_relu", {"slope", "0.1", NULL}},
               {NULL, "maxpool2d", {"size", "2", NULL}},
               {NULL, "conv2d", {"filters", "5", "kernel", "3,2", "stride", "2,1",
                                 "bias", "false", NULL}},
               {NULL, "avgpool2d", {"size", "2", "stride", "1", NULL}},
               {NULL, "flatten", {NULL}},
               {NULL, "dense", {"units", "6", NULL}},
               {NULL, "batchnorm", {NULL}},
               {NULL, "tanh", {NULL}},
               {NULL, "softmax", {NULL}}};
    check_model("cnn", d, 11, nn_shape_3d(2, 12, 11));
}

static void test_graph(void)
{
    def d[] = {{"a", "conv2d", {"filters", "3", "kernel", "3", "padding", "1", NULL}},
               {"b", "conv2d", {"filters", "3", "kernel", "1", "inputs", "input", NULL}},
               {"s", "add", {"inputs", "a,b", NULL}},
               {"c", "concat", {"inputs", "s,a", NULL}},
               {"g", "global_avgpool", {NULL}},
               {"r", "reshape", {"shape", "2,3", NULL}},
               {"o", "dense", {"units", "4", "time_distributed", "true", NULL}}};
    check_model("graph", d, 7, nn_shape_3d(2, 6, 6));
}

static void test_normalisation_and_chunks(void)
{
    def d[] = {{NULL, "dense", {"units", "8", NULL}}, {NULL, "relu", {NULL}},
               {NULL, "dense", {"units", "3", NULL}}};
    nn_model *m = build(d, 3, nn_shape_1d(6));
    double mean[6] = {1, 2, 3, -1, 0, 5}, std[6] = {1, 2, 0.5, 1e-13, 3, 1};
    ex_norm norm = {EX_NORM_STANDARDIZE, 0, mean, std};
    size_t n = 9;
    float *x = cu_rand_floats(n * 6, 5, -4.0, 4.0), *xn = nn_xalloc_floats(n * 6);
    for (size_t i = 0; i < n * 6; i++) {
        double s = std[i % 6] < 1e-12 ? 1.0 : std[i % 6];
        xn[i] = (float)((x[i] - mean[i % 6]) / s);
    }
    axi_model *a1 = roundtrip(m, &norm, NULL, 0, 0, 1, NULL);
    axi_model *a4 = roundtrip(m, &norm, NULL, 0, 0, 4, NULL);
    float y1[27], y4[27];
    CU_ASSERT(axi_run(a1, x, n, y1) == 0);
    CU_ASSERT(axi_run(a4, x, n, y4) == 0);
    CU_ASSERT(memcmp(y1, y4, sizeof y1) == 0);
    nn_pass pass = {.training = 0};
    nn_model_reserve(m, n);
    const float *want = nn_model_forward(m, xn, n, &pass);
    for (size_t i = 0; i < 27; i++)
        CU_ASSERT(fabsf(y1[i] - want[i]) <= 1e-5f * fmaxf(1.0f, fabsf(want[i])));
    size_t dims[4];
    CU_ASSERT(axi_input_shape(a1, dims) == 1 && dims[0] == 6);
    CU_ASSERT(axi_output_shape(a1, dims) == 1 && dims[0] == 3);
    CU_ASSERT(axi_run(a1, NULL, 1, y1) == AXI_ERR_ARG);
    axi_free(a1);
    axi_free(a4);
    free(x);
    free(xn);
    nn_model_destroy(m);
}

/* int8: outputs within a few percent of the output range, the class of
 * most rows unchanged, and a file under half the float one's size. */
static void test_int8(void)
{
    def d[] = {{NULL, "conv2d", {"filters", "8", "kernel", "3", NULL}},
               {NULL, "relu", {NULL}},
               {NULL, "dense", {"units", "32", NULL}},
               {NULL, "relu", {NULL}},
               {NULL, "dense", {"units", "10", NULL}}};
    nn_model *m = build(d, 5, nn_shape_3d(1, 10, 10));
    size_t n = 64;
    float *x = cu_rand_floats(n * 100, 9, 0.0, 1.0);
    long fbytes = 0, qbytes = 0;
    axi_model *af = roundtrip(m, NULL, x, n, 0, 8, &fbytes);
    axi_model *aq = roundtrip(m, NULL, x, n, 1, 8, &qbytes);
    CU_ASSERT(axi_is_int8(aq) && !axi_is_int8(af));
    CU_ASSERT(2 * qbytes <= fbytes);
    float *yf = nn_xalloc_floats(n * 10), *yq = nn_xalloc_floats(n * 10);
    CU_ASSERT(axi_run(af, x, n, yf) == 0);
    CU_ASSERT(axi_run(aq, x, n, yq) == 0);
    float lo = yf[0], hi = yf[0], worst = 0;
    size_t same = 0;
    for (size_t i = 0; i < n * 10; i++) {
        lo = fminf(lo, yf[i]), hi = fmaxf(hi, yf[i]);
        worst = fmaxf(worst, fabsf(yf[i] - yq[i]));
    }
    for (size_t r = 0; r < n; r++) {
        size_t bf = 0, bq = 0;
        for (size_t j = 1; j < 10; j++) {
            if (yf[r * 10 + j] > yf[r * 10 + bf]) bf = j;
            if (yq[r * 10 + j] > yq[r * 10 + bq]) bq = j;
        }
        same += bf == bq;
    }
    CU_ASSERT(worst < 0.05f * (hi - lo));
    CU_ASSERT(same >= n * 9 / 10);
    axi_free(af);
    axi_free(aq);
    free(yf);
    free(yq);
    free(x);
    nn_model_destroy(m);
}

typedef struct job {
    axi_model *a;
    const float *x;
    float y[4 * 3];
} job;

static void *run_job(void *p)
{
    job *j = p;
    for (int k = 0; k < 200; k++) axi_run(j->a, j->x, 4, j->y);
    return NULL;
}

static void test_threads(void)
{
    def d[] = {{NULL, "dense", {"units", "32", NULL}}, {NULL, "tanh", {NULL}},
               {NULL, "dense", {"units", "3", NULL}}};
    nn_model *m = build(d, 3, nn_shape_1d(20));
    float *x = cu_rand_floats(4 * 20, 1, -1.0, 1.0);
    job j[2] = {{roundtrip(m, NULL, NULL, 0, 0, 4, NULL), x, {0}},
                {roundtrip(m, NULL, NULL, 0, 0, 4, NULL), x, {0}}};
    pthread_t t[2];
    for (int k = 0; k < 2; k++) CU_ASSERT(pthread_create(&t[k], NULL, run_job, &j[k]) == 0);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    CU_ASSERT(memcmp(j[0].y, j[1].y, sizeof j[0].y) == 0);
    CU_ASSERT(compare(m, j[0].a, x, 4) < 1e-5);
    axi_free(j[0].a);
    axi_free(j[1].a);
    free(x);
    nn_model_destroy(m);
}

static void test_refused(void)
{
    def d[] = {{"seq", "lstm", {"hidden", "4", NULL}}};
    nn_model *m = build(d, 1, nn_shape_2d(3, 2));
    nn_error err = {0};
    CU_ASSERT(ex_axm_write(m, NULL, 0, NULL, tmp_file(), &err) == NN_EXIT_USAGE);
    CU_ASSERT(strstr(err.msg, "layer 'seq' (lstm)") != NULL);
    CU_ASSERT(access(tmp_file(), F_OK) != 0);
    nn_model_destroy(m);
}

/* A valid file's bytes, its length in *len. */
static unsigned char *sample_file(size_t *len)
{
    def d[] = {{"a", "conv2d", {"filters", "2", "kernel", "2", NULL}},
               {NULL, "batchnorm", {NULL}},
               {"b", "maxpool2d", {"size", "2", NULL}},
               {"c", "conv2d", {"filters", "2", "kernel", "1", "inputs", "a", NULL}},
               {"p", "maxpool2d", {"size", "2", NULL}},
               {"s", "add", {"inputs", "b,p", NULL}},
               {NULL, "dense", {"units", "3", NULL}}};
    nn_model *m = build(d, 7, nn_shape_3d(1, 5, 5));
    float *x = cu_rand_floats(4 * 25, 2, 0.0, 1.0), *range = nn_xalloc_floats(14);
    ex_calibrate(m, x, 4, range);
    nn_error err = {0};
    ex_norm norm = {EX_NORM_SCALE, 0.5f, NULL, NULL};
    CU_ASSERT_FATAL(ex_axm_write(m, &norm, 1, range, tmp_file(), &err) == 0);
    FILE *f = fopen(tmp_file(), "rb");
    unsigned char *buf = nn_xmalloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    unlink(tmp_file());
    free(x);
    free(range);
    nn_model_destroy(m);
    return buf;
}

/* Load buf; on success run it once (every buffer touched). */
static int try_load(const unsigned char *buf, size_t len)
{
    axi_model *a = NULL;
    char msg[256] = "";
    int rc = axi_load_buffer(buf, len, 3, &a, msg, sizeof msg);
    if (rc) {
        CU_ASSERT(a == NULL && msg[0] != '\0');
        return rc;
    }
    size_t in = axi_input_size(a), out = axi_output_size(a);
    float *x = nn_xcalloc(3 * in + 1, sizeof *x), *y = nn_xcalloc(3 * out + 1, sizeof *y);
    CU_ASSERT(axi_run(a, x, 3, y) == 0);
    free(x);
    free(y);
    axi_free(a);
    return 0;
}

static void fix_crc(unsigned char *b, size_t len)
{
    uLong c = crc32(0L, b, (uInt)(len - 4));
    for (int k = 0; k < 4; k++) b[len - 4 + k] = (unsigned char)(c >> (8 * k));
}

static void test_hostile_files(void)
{
    size_t len;
    unsigned char *good = sample_file(&len), *b = nn_xmalloc(len);
    CU_ASSERT(try_load(good, len) == 0);
    for (size_t cut = 0; cut < len; cut++)
        CU_ASSERT(try_load(good, cut) == AXI_ERR_FORMAT);
    memcpy(b, good, len);
    b[len / 2] ^= 0x10;
    CU_ASSERT(try_load(b, len) == AXI_ERR_FORMAT); /* the checksum */
    static const unsigned char flips[] = {0x01, 0x80, 0xFF};
    size_t loaded = 0;
    for (size_t i = 0; i + 4 < len; i++)
        for (size_t k = 0; k < sizeof flips; k++) {
            memcpy(b, good, len);
            b[i] ^= flips[k];
            fix_crc(b, len);
            loaded += try_load(b, len) == 0;
        }
    /* float payload changes load; structure changes mostly do not */
    CU_ASSERT(loaded > 0 && loaded < 3 * (len - 4));
    axi_model *a = NULL;
    char msg[256];
    CU_ASSERT(axi_load_file("/nonexistent/model.axm", 1, &a, msg, sizeof msg) == AXI_ERR_IO);
    CU_ASSERT(axi_load_buffer(good, len, 0, &a, msg, sizeof msg) == AXI_ERR_ARG);
    CU_ASSERT(try_load((const unsigned char *)"AXM1 not a model at all, really", 32) == AXI_ERR_FORMAT);
    free(good);
    free(b);
}

static const cu_test infer_tests[] = {
    {"mlp equals axon", test_mlp},
    {"cnn equals axon", test_cnn},
    {"graph equals axon", test_graph},
    {"normalisation and chunked batches", test_normalisation_and_chunks},
    {"int8 close and smaller", test_int8},
    {"two models in two threads", test_threads},
    {"a layer the library lacks is refused", test_refused},
    {"truncated and altered files", test_hostile_files},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"infer", infer_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("test_infer", suites);
}

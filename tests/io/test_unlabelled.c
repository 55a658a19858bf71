/* tests/io/test_unlabelled.c - learning without (all) labels, the io
 * side: data.target input (no labels read, the targets are the inputs
 * themselves, normalised with them), data.labelled (exactly N training
 * rows keep their labels, the same rows for any rank count) and the
 * config keys' checks. */
#include "io/dataset.h"

#include <stdarg.h> /* va_list */
#include <stdio.h>  /* fopen, snprintf */
#include <stdlib.h> /* free, malloc */
#include <string.h> /* memset, strstr */

#include "io/shard.h"
#include "nn/loss.h" /* NN_LABEL_NONE */
#include "tests/cu.h"

/* ---- fixtures ---------------------------------------------------------- */

static unsigned char pix(size_t i, size_t j)
{
    return (unsigned char)((i * 41 + j * 7 + 3) % 256);
}

/* An idx3 file of n images h x w, byte j of image i = pix(i, j). */
static void write_images(const char *path, unsigned n, unsigned h, unsigned w)
{
    size_t k = 0, sz = (size_t)n * h * w;
    unsigned char *b = malloc(16 + sz);
    unsigned hdr[4] = {0x00000803, n, h, w};
    for (int i = 0; i < 4; i++)
        for (int s = 24; s >= 0; s -= 8) b[k++] = (unsigned char)(hdr[i] >> s);
    for (size_t t = 0; t < sz; t++) b[k++] = pix(t / (h * w), t % (h * w));
    cu_write_bytes(path, b, k, 0);
    free(b);
}

/* An idx1 labels file: label i = i % 10. */
static void write_labels(const char *path, unsigned n)
{
    unsigned char *b = malloc(8 + n);
    unsigned hdr[2] = {0x00000801, n};
    size_t k = 0;
    for (int i = 0; i < 2; i++)
        for (int s = 24; s >= 0; s -= 8) b[k++] = (unsigned char)(hdr[i] >> s);
    for (unsigned i = 0; i < n; i++) b[k++] = (unsigned char)(i % 10);
    cu_write_bytes(path, b, k, 0);
    free(b);
}

static io_data_cfg base_cfg(const char *format, const char *train)
{
    io_data_cfg c;
    memset(&c, 0, sizeof c);
    c.format = (char *)format;
    c.train = (char *)train;
    c.test = (char *)train;
    c.target_column = -1;
    c.targets = 1;
    return c;
}

/* ---- data.target input ------------------------------------------------- */

static void test_idx_target_input(void)
{
    const char *img = cu_tmp_path("ae-img");
    write_images(img, 9, 2, 3);
    io_data_cfg cfg = base_cfg("idx", img);
    cfg.target = "input";
    /* No labels file is opened: a path that does not exist is no error. */
    cfg.train_labels = (char *)cu_tmp_path("does-not-exist");
    cfg.test_labels = cfg.train_labels;
    for (int split = 0; split < 2; split++) {
        for (size_t part = 0; part < 2; part++) {
            io_dataset d;
            nn_error err;
            int rc = io_dataset_load(&d, &cfg, (io_split)split, part, 2, &err);
            CU_ASSERT_EQUAL_FATAL(rc, 0);
            CU_ASSERT_EQUAL(d.total, 9);
            CU_ASSERT_EQUAL(d.x_width, 6);
            CU_ASSERT_EQUAL(d.y_width, 6);
            CU_ASSERT_PTR_EQUAL(d.y, d.x);
            size_t bad = 0;
            for (size_t i = d.lo; i < d.hi; i++)
                for (size_t j = 0; j < 6; j++)
                    bad += d.y[(i - d.lo) * 6 + j] != (float)pix(i, j);
            CU_ASSERT_EQUAL(bad, 0);
            /* normalising the inputs normalises the targets alike */
            io_dataset_scale(&d, 0.5f);
            for (size_t i = d.lo; i < d.hi; i++)
                for (size_t j = 0; j < 6; j++)
                    bad += d.y[(i - d.lo) * 6 + j] != 0.5f * (float)pix(i, j);
            CU_ASSERT_EQUAL(bad, 0);
            io_dataset_free(&d); /* once: y is not freed separately */
            CU_ASSERT_PTR_NULL(d.x);
            CU_ASSERT_PTR_NULL(d.y);
        }
    }
    /* target labels (the default) still needs the labels file */
    cfg.target = "labels";
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err),
                    NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "does-not-exist"));
}

static void test_csv_target_input(void)
{
    const char *path = cu_tmp_path("ae.csv");
    const char *text = "a,b,c\n1,2,3\n4,5,6\n7,8,9\n";
    cu_write_bytes(path, text, strlen(text), 0);
    io_data_cfg cfg = base_cfg("csv", path);
    cfg.header = 1;
    cfg.target = "input";
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err),
                          0);
    /* every column is a feature, and the features are the targets */
    CU_ASSERT_EQUAL(d.x_width, 3);
    CU_ASSERT_EQUAL(d.y_width, 3);
    CU_ASSERT_PTR_EQUAL(d.y, d.x);
    for (size_t k = 0; k < 9; k++) CU_ASSERT_EQUAL(d.x[k], (float)(k + 1));
    io_dataset_free(&d);
}

/* ---- data.labelled ----------------------------------------------------- */

/* Labels file i % 10 over n rows, a val split, then keep `keep` labels on
 * each shard of `parts`; mark[id] = 1 where row id (a training row) kept
 * its label, 0 where it lost it, 2 for a validation row (checked to be
 * untouched). Returns the number of labelled training rows. */
static size_t labelled_rows(const char *img, const char *lab, size_t n,
                            size_t parts, size_t keep, uint64_t seed,
                            char *mark)
{
    io_data_cfg cfg = base_cfg("idx", img);
    cfg.train_labels = (char *)lab;
    size_t kept = 0, hidden = 0;
    for (size_t part = 0; part < parts; part++) {
        io_dataset d;
        io_shard sh;
        nn_error err;
        CU_ASSERT_EQUAL_FATAL(
            io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, part, parts, &err), 0);
        io_shard_plan(&sh, d.total, d.lo, d.hi, seed, 0.2);
        unsigned char *pick = malloc(sh.n_train + 1);
        io_labelled_pick(sh.train, sh.n_train, keep, seed, pick);
        size_t picked = 0;
        for (size_t i = 0; i < sh.n_train; i++) picked += pick[i];
        CU_ASSERT_EQUAL(picked, keep < sh.n_train ? keep : sh.n_train);
        hidden += io_dataset_hide_labels(&d, sh.train, sh.n_train, pick);
        free(pick);
        for (size_t id = d.lo; id < d.hi; id++) {
            float y = d.y[id - d.lo];
            if (io_shard_is_val(seed, id, 0.2)) {
                CU_ASSERT_EQUAL(y, (float)(id % 10));
                mark[id] = 2;
            } else if (y == NN_LABEL_NONE) {
                mark[id] = 0;
            } else {
                CU_ASSERT_EQUAL(y, (float)(id % 10));
                mark[id] = 1;
                kept++;
            }
        }
        io_shard_free(&sh);
        io_dataset_free(&d);
    }
    /* what each shard reported hiding is what was hidden */
    size_t lost = 0;
    for (size_t id = 0; id < n; id++) lost += mark[id] == 0;
    CU_ASSERT_EQUAL(hidden, lost);
    return kept;
}

static void test_keep_labels(void)
{
    enum { N = 500 };
    const char *img = cu_tmp_path("sl-img"), *lab = cu_tmp_path("sl-lab");
    write_images(img, N, 1, 2);
    write_labels(lab, N);
    io_shard sh;
    io_shard_plan(&sh, N, 0, N, 7, 0.2);
    size_t n_train = sh.n_train;
    io_shard_free(&sh);
    CU_ASSERT_FATAL(n_train > 300 && n_train < N);

    char one[N], other[N];
    CU_ASSERT_EQUAL(labelled_rows(img, lab, N, 1, 40, 7, one), 40);
    /* the same rows whatever the rank count */
    for (size_t parts = 2; parts <= 4; parts++) {
        CU_ASSERT_EQUAL(labelled_rows(img, lab, N, parts, 40, 7, other), 40);
        CU_ASSERT_EQUAL(memcmp(one, other, N), 0);
    }
    /* spread over the file, not the first 40 training rows */
    size_t last = 0;
    for (size_t id = 0; id < N; id++)
        if (one[id] == 1) last = id;
    CU_ASSERT(last > N / 2);
    /* another seed picks other rows (and another validation split) */
    CU_ASSERT_EQUAL(labelled_rows(img, lab, N, 1, 40, 8, other), 40);
    CU_ASSERT_NOT_EQUAL(memcmp(one, other, N), 0);
    /* a larger N keeps a superset: the order of the hash is fixed */
    CU_ASSERT_EQUAL(labelled_rows(img, lab, N, 3, 100, 7, other), 100);
    size_t lost = 0;
    for (size_t id = 0; id < N; id++) lost += one[id] == 1 && other[id] != 1;
    CU_ASSERT_EQUAL(lost, 0);
    /* keep >= the training rows: nothing changes */
    CU_ASSERT_EQUAL(labelled_rows(img, lab, N, 2, n_train, 7, other), n_train);
    CU_ASSERT_EQUAL(labelled_rows(img, lab, N, 2, N, 7, other), n_train);
    CU_ASSERT_EQUAL(labelled_rows(img, lab, N, 2, 0, 7, other), 0);
}

/* ---- config keys ------------------------------------------------------- */

static const char *ae_yaml =
    "model:\n"
    "  layers:\n"
    "    - {type: dense, units: 4}\n"
    "loss: mse\n"
    "data:\n"
    "  format: idx\n"
    "  target: input\n"
    "  train: a.idx\n"
    "  test: b.idx\n"
    "training: {epochs: 1, batch_size: 2, lr: 0.1}\n";

static const char *cls_yaml =
    "model:\n"
    "  layers:\n"
    "    - {type: dense, units: 4}\n"
    "loss: cross_entropy\n"
    "data:\n"
    "  format: idx\n"
    "  train: a.idx\n"
    "  train_labels: a.lab\n"
    "training: {epochs: 1, batch_size: 2, lr: 0.1}\n";

/* Parse `yaml` with the overrides; expect success (want == NULL) or a
 * usage error whose message contains `want`. */
static void parse(const char *yaml, const char *want, int n_sets, ...)
{
    char *sets[8];
    va_list ap;
    va_start(ap, n_sets);
    for (int i = 0; i < n_sets; i++) sets[i] = va_arg(ap, char *);
    va_end(ap);
    io_config cfg;
    nn_error err;
    int rc = io_config_parse(&cfg, "t.yaml", yaml, strlen(yaml), sets,
                             (size_t)n_sets, NULL, &err);
    if (!want) {
        CU_ASSERT_EQUAL(rc, 0);
        if (rc) fprintf(stderr, "\n  unexpected error: %s\n", err.msg);
        io_config_free(&cfg);
        return;
    }
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    if (rc == 0 || !strstr(err.msg, want))
        fprintf(stderr, "\n  message was: %s (wanted '%s')\n",
                rc ? err.msg : "(none)", want);
    if (!rc) io_config_free(&cfg);
}

static void test_config_target(void)
{
    io_config cfg;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_config_parse(&cfg, "t.yaml", ae_yaml,
                                          strlen(ae_yaml), NULL, 0, NULL,
                                          &err), 0);
    CU_ASSERT_STRING_EQUAL(cfg.data.target, "input");
    CU_ASSERT_PTR_NULL(cfg.data.train_labels);
    io_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(io_config_parse(&cfg, "t.yaml", cls_yaml,
                                          strlen(cls_yaml), NULL, 0, NULL,
                                          &err), 0);
    CU_ASSERT_STRING_EQUAL(cfg.data.target, "labels");
    CU_ASSERT_EQUAL(cfg.data.labelled, 0);
    io_config_free(&cfg);

    parse(ae_yaml, NULL, 1, "loss=bce");
    parse(ae_yaml, "--set data.target: data.target: 'inputs' is not one of: "
                   "labels, input", 1, "data.target=inputs");
    parse(ae_yaml, "data.train_labels: not read with data.target input", 1,
          "data.train_labels=a.lab");
    parse(ae_yaml, "data.test_labels: not read with data.target input", 1,
          "data.test_labels=b.lab");
    parse(ae_yaml, "loss: cross_entropy needs class labels", 1,
          "loss=cross_entropy");
    /* what data.labelled needs of the loss: tests/trainer/test_schema.c */
    parse(ae_yaml, "data.targets: not read with data.target input", 2,
          "data.format=csv", "data.targets=2");
    parse(ae_yaml, NULL, 1, "data.format=csv");
    /* without target input the labels are required again */
    parse(ae_yaml, "data.train_labels: required", 1, "data.target=labels");
}

static const cu_test target_tests[] = {
    {"idx: no labels read, y is x", test_idx_target_input},
    {"csv: every column a feature", test_csv_target_input},
    {NULL, NULL}};
static const cu_test labelled_tests[] = {
    {"exactly N, any rank count", test_keep_labels},
    {NULL, NULL}};
static const cu_test config_tests[] = {
    {"data.target", test_config_target},
    {NULL, NULL}};
static const cu_suite suites[] = {{"target input", target_tests},
                                  {"labelled", labelled_tests},
                                  {"config", config_tests},
                                  {NULL, NULL}};

int main(void)
{
    return cu_main("io_test_unlabelled", suites);
}

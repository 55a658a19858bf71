/* tests/fuzz/fuzz_dataset.c - libFuzzer harness for a training and a test
 * file that meet one model: io_dataset_load of both splits (io/dataset.c,
 * io/idx.c, io/csv.c) and io_dataset_check_shape.
 *
 * Input: byte 0 = options (bit 0: 0 CSV, 1 IDX; bits 1-2: CSV targets - 1;
 * bit 3: both files gzip-wrapped), byte 1 = L, then L bytes of the training
 * file and the rest the test file. IDX files are read with data.target
 * input (no labels file). When the shape check accepts the pair, the test
 * rows are used the way the trainer uses them - copied into rows of the
 * training width and standardised with the training file's per-column
 * moments - so an acceptance of a wider or narrower test file is a heap
 * overflow under ASan. A rejection must be NN_EXIT_DATA and the shapes or
 * target widths must really differ.
 */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* abort, free */
#include <string.h> /* memcpy */

#include "io/dataset.h"
#include "nn/check.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char test_path[64];

static void unlink_test(void) { unlink(test_path); }

/* The test file goes to a second scratch path beside fuzz_file.h's one. */
static const char *write_test(int gz, const uint8_t *p, size_t n)
{
    if (!test_path[0]) {
        snprintf(test_path, sizeof test_path, "/dev/shm/axon-fuzz-test-%ld",
                 (long)getpid());
        atexit(unlink_test);
    }
    if (!gz) {
        fuzz_write_raw(test_path, p, n);
        return test_path;
    }
    size_t gz_n = 0;
    uint8_t *b = fuzz_gzip(p, n, &gz_n);
    fuzz_write_raw(test_path, b, gz_n);
    free(b);
    return test_path;
}

/* What the trainer does with accepted test rows (evaluate's gather,
 * standardize): every access sized by the TRAINING file's widths. */
static void use_like_trainer(const io_dataset *tr, io_dataset *te)
{
    size_t n = te->hi - te->lo, xw = tr->x_width, yw = tr->y_width;
    float *bx = nn_xalloc_floats(xw ? xw : 1), *by = nn_xalloc_floats(yw ? yw : 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(bx, te->x + i * te->x_width, xw * sizeof(float));
        memcpy(by, te->y + i * te->y_width, yw * sizeof(float));
    }
    double *m = nn_xcalloc(2 * xw + 1, sizeof *m);
    for (size_t j = 0; j < xw; j++) m[xw + j] = 1;
    io_dataset_standardize(te, m, m + xw);
    free(m);
    free(bx);
    free(by);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || (size_t)data[1] > size - 2) return 0;
    int idx = data[0] & 1, gz = (data[0] >> 3) & 1;
    size_t len = data[1];
    const char *train = fuzz_write("dataset", gz ? FUZZ_GZIP : FUZZ_PLAIN, 0,
                                   data + 2, len);
    const char *test = write_test(gz, data + 2 + len, size - 2 - len);
    io_data_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.format = idx ? "idx" : "csv";
    cfg.train = (char *)train;
    cfg.test = (char *)test;
    cfg.target = idx ? "input" : "labels";
    cfg.targets = 1 + ((data[0] >> 1) & 3u);
    cfg.target_column = -1;
    cfg.header = 0;
    cfg.normalize = "none";
    io_dataset tr, te;
    nn_error err;
    if (io_dataset_load(&tr, &cfg, IO_SPLIT_TRAIN, 0, 1, &err) != 0) return 0;
    if (io_dataset_load(&te, &cfg, IO_SPLIT_TEST, 0, 1, &err) != 0) {
        io_dataset_free(&tr);
        return 0;
    }
    int rc = io_dataset_check_shape(&te, tr.x_shape, tr.y_width, tr.name, &err);
    int same = nn_shape_eq(te.x_shape, tr.x_shape) && te.y_width == tr.y_width;
    if (rc == 0 && !same) abort();
    if (rc != 0 && (same || err.code != NN_EXIT_DATA)) abort();
    if (rc == 0) use_like_trainer(&tr, &te);
    io_dataset_free(&te);
    io_dataset_free(&tr);
    return 0;
}

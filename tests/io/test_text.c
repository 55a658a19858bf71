/* tests/io/test_text.c - data.format text: the byte vocabulary, the
 * windows and their shards, the encoding of test files with the training
 * vocabulary, the errors, and the config keys that go with the format.
 * Files are synthetic (plain and gzip) with contents whose ids are known,
 * plus the GPL-3 text the char_lstm config trains on, checked by decoding. */
#include "io/dataset.h"

#include <stdio.h>  /* fopen, snprintf */
#include <stdlib.h> /* free, malloc */
#include <string.h> /* strstr, strlen, memcmp */
#include <unistd.h> /* access */

#include "io/config.h"
#include "tests/cu.h"

#define GPL3 "/usr/share/common-licenses/GPL-3"

/* ---- fixtures ---------------------------------------------------------- */

static const char *write_file(const char *name, const char *text, int gz)
{
    const char *p = cu_tmp_path(name);
    cu_write_bytes(p, text, strlen(text), gz);
    return p;
}

static io_data_cfg text_cfg(const char *train, size_t T)
{
    io_data_cfg c;
    memset(&c, 0, sizeof c);
    c.format = "text";
    c.train = (char *)train;
    c.seq_len = T;
    return c;
}

/* ---- vocabulary and encoding -------------------------------------------- */

static void test_vocab_sorted_distinct(void)
{
    char v[256];
    size_t n = 99;
    io_text_vocab("banana\n", 7, v, &n);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(memcmp(v, "\nabn", 4), 0);
    /* bytes >= 0x80 sort as unsigned, after ASCII ("é" is c3 a9) */
    io_text_vocab("\xc3\xa9t\xc3\xa9", 5, v, &n);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(memcmp(v, "t\xa9\xc3", 3), 0);
    /* every byte value, NUL included, in reverse order */
    char all[256];
    for (int b = 0; b < 256; b++) all[b] = (char)(255 - b);
    io_text_vocab(all, 256, v, &n);
    CU_ASSERT_EQUAL(n, 256);
    for (int b = 0; b < 256; b++) CU_ASSERT_EQUAL((unsigned char)v[b], b);
}

static void test_encode(void)
{
    const char *vocab = "\nabn";
    float ids[7];
    nn_error err;
    CU_ASSERT_EQUAL(io_text_encode("t", "banana\n", 7, vocab, 4, ids, &err), 0);
    const float want[7] = {2, 1, 3, 1, 3, 1, 0};
    CU_ASSERT_EQUAL(memcmp(ids, want, sizeof want), 0);
    /* 'z' at line 2, column 3 */
    int rc = io_text_encode("in.txt", "ab\nabz", 6, vocab, 4, ids, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "in.txt:2:3:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'z'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "4 characters"));
    /* a byte that is not printable is shown in hex */
    rc = io_text_encode("in.txt", "a\tb", 3, vocab, 4, ids, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "in.txt:1:2:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "byte 0x09"));
}

/* ---- windows and shards ------------------------------------------------- */

/* "abcdefghij": ids are letter - 'a'; T = 3 gives (10 - 1) / 3 = 3
 * windows, and the last byte 'j' is only ever a target. */
static void check_abc_windows(const io_dataset *d)
{
    CU_ASSERT_EQUAL(d->total, 3);
    CU_ASSERT_TRUE(nn_shape_eq(d->x_shape, nn_shape_1d(3)));
    CU_ASSERT_EQUAL(d->x_width, 3);
    CU_ASSERT_EQUAL(d->y_width, 3);
    CU_ASSERT_EQUAL(d->vocab_len, 10);
    CU_ASSERT_EQUAL(memcmp(d->vocab, "abcdefghij", 10), 0);
    for (size_t i = 0; i < d->hi - d->lo; i++)
        for (size_t t = 0; t < 3; t++) {
            size_t w = d->lo + i;
            CU_ASSERT_EQUAL(d->x[i * 3 + t], (float)(w * 3 + t));
            CU_ASSERT_EQUAL(d->y[i * 3 + t], (float)(w * 3 + t + 1));
        }
}

static void test_windows_plain_and_gzip(void)
{
    for (int gz = 0; gz < 2; gz++) {
        const char *p = write_file(gz ? "abc.txt.gz" : "abc.txt", "abcdefghij",
                                   gz);
        io_data_cfg c = text_cfg(p, 3);
        io_dataset d;
        nn_error err;
        CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 0, 1,
                                              &err), 0);
        CU_ASSERT_EQUAL(d.lo, 0);
        CU_ASSERT_EQUAL(d.hi, 3);
        CU_ASSERT_STRING_EQUAL(d.name, p);
        check_abc_windows(&d);
        io_dataset_free(&d);
        CU_ASSERT_PTR_NULL(d.vocab);
    }
}

/* Any split into parts tiles the windows; each part holds its own windows
 * and the vocabulary of the whole file (the first part alone has no 'j'
 * in its inputs, yet its ids are the same). */
static void test_shards(void)
{
    const char *p = write_file("shard.txt", "abcdefghij", 0);
    io_data_cfg c = text_cfg(p, 3);
    for (size_t parts = 1; parts <= 4; parts++) {
        size_t next = 0;
        for (size_t part = 0; part < parts; part++) {
            io_dataset d;
            nn_error err;
            CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, part,
                                                  parts, &err), 0);
            CU_ASSERT_EQUAL(d.lo, next);
            CU_ASSERT_TRUE(d.hi >= d.lo);
            next = d.hi;
            check_abc_windows(&d);
            io_dataset_free(&d);
        }
        CU_ASSERT_EQUAL(next, 3);
    }
}

static void test_limit(void)
{
    const char *p = write_file("limit.txt", "abcdefghij", 0);
    io_data_cfg c = text_cfg(p, 2); /* (10 - 1) / 2 = 4 windows */
    c.limit = 2;
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 0, 1, &err), 0);
    CU_ASSERT_EQUAL(d.total, 2);
    CU_ASSERT_EQUAL(d.hi, 2);
    CU_ASSERT_EQUAL(d.vocab_len, 10); /* still from the whole file */
    CU_ASSERT_EQUAL(d.x[3], 3.0f);    /* window 1 starts at 'd' */
    io_dataset_free(&d);
}

/* ---- test files ---------------------------------------------------------- */

/* The test file is encoded with the TRAINING vocabulary: "dda" are ids
 * 3, 3, 0 of "abcd", although "da" alone would number them 1, 0. */
static void test_test_file_uses_training_vocab(void)
{
    const char *tr = write_file("tr.txt", "abcdabcd", 0);
    const char *te = write_file("te.txt", "ddadda", 0);
    io_data_cfg c = text_cfg(tr, 2);
    c.test = (char *)te;
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &c, IO_SPLIT_TEST, 0, 1, &err), 0);
    CU_ASSERT_EQUAL(d.total, 2); /* (6 - 1) / 2 */
    CU_ASSERT_EQUAL(d.vocab_len, 4);
    const float x[4] = {3, 3, 0, 3}, y[4] = {3, 0, 3, 3};
    CU_ASSERT_EQUAL(memcmp(d.x, x, sizeof x), 0);
    CU_ASSERT_EQUAL(memcmp(d.y, y, sizeof y), 0);
    CU_ASSERT_STRING_EQUAL(d.name, te);
    io_dataset_free(&d);
    /* data.limit applies to the training split only */
    c.limit = 1;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &c, IO_SPLIT_TEST, 0, 1, &err), 0);
    CU_ASSERT_EQUAL(d.total, 2);
    io_dataset_free(&d);
}

static void test_test_file_unknown_char(void)
{
    const char *tr = write_file("tr2.txt", "abcd\nabcd\n", 0);
    const char *te = write_file("te2.txt", "abab\nabcd\nabXd\n", 0);
    io_data_cfg c = text_cfg(tr, 2);
    c.test = (char *)te;
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL(io_dataset_load(&d, &c, IO_SPLIT_TEST, 0, 1, &err),
                    NN_EXIT_DATA);
    char want[600];
    snprintf(want, sizeof want, "%s:3:3:", te);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'X'"));
    CU_ASSERT_PTR_NULL(d.x);
    /* a byte that is not printable is shown in hex */
    te = write_file("te3.txt", "ab\tab", 0);
    c.test = (char *)te;
    CU_ASSERT_EQUAL(io_dataset_load(&d, &c, IO_SPLIT_TEST, 0, 1, &err),
                    NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "te3.txt:1:3:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "byte 0x09"));
}

/* ---- errors -------------------------------------------------------------- */

static void test_errors(void)
{
    io_dataset d;
    nn_error err;
    const char *empty = write_file("empty.txt", "", 0);
    io_data_cfg c = text_cfg(empty, 4);
    CU_ASSERT_EQUAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 0, 1, &err),
                    NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, empty));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "empty text file"));
    /* an empty gzip stream too */
    c.train = (char *)write_file("empty.txt.gz", "", 1);
    CU_ASSERT_EQUAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 0, 1, &err),
                    NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "empty text file"));
    /* T + 1 characters are the least: 4 is too short for T = 4 ... */
    c.train = (char *)write_file("short.txt", "abcd", 0);
    CU_ASSERT_EQUAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 0, 1, &err),
                    NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "4 characters"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "data.seq_len 4"));
    /* ... and 5 give one window */
    c.train = (char *)write_file("five.txt", "abcde", 0);
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 0, 1, &err), 0);
    CU_ASSERT_EQUAL(d.total, 1);
    CU_ASSERT_EQUAL(d.y[3], 4.0f);
    io_dataset_free(&d);
    /* a short test file is an error naming it */
    c.test = (char *)write_file("shorttest.txt", "ab", 0);
    CU_ASSERT_EQUAL(io_dataset_load(&d, &c, IO_SPLIT_TEST, 0, 1, &err),
                    NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "shorttest.txt"));
    /* a missing file */
    c.train = (char *)cu_tmp_path("no-such.txt");
    CU_ASSERT_EQUAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 0, 1, &err),
                    NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such.txt"));
    /* no seq_len (a caller that skipped the config check) */
    c.train = (char *)write_file("ok.txt", "abcdefgh", 0);
    c.seq_len = 0;
    CU_ASSERT_EQUAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 0, 1, &err),
                    NN_EXIT_USAGE);
}

/* ---- the config keys ----------------------------------------------------- */

static int parse(const char *data, nn_error *err)
{
    char text[1024];
    snprintf(text, sizeof text,
             "model:\n  layers:\n    - {type: dense, units: 2}\n"
             "loss: cross_entropy\n"
             "data:\n%s"
             "training: {epochs: 1, batch_size: 4, lr: 0.1}\n", data);
    io_config cfg;
    int rc = io_config_parse(&cfg, "t.yaml", text, strlen(text), NULL, 0,
                             NULL, err);
    if (rc == 0) {
        CU_ASSERT_STRING_EQUAL(cfg.data.format, "text");
        CU_ASSERT_EQUAL(cfg.data.seq_len, 16);
        CU_ASSERT_STRING_EQUAL(cfg.data.normalize, "none");
    }
    io_config_free(&cfg);
    return rc;
}

static void test_config(void)
{
    nn_error err;
    CU_ASSERT_EQUAL(parse("  format: text\n  train: a.txt\n  seq_len: 16\n",
                          &err), 0);
    CU_ASSERT_EQUAL(parse("  format: text\n  train: a.txt\n  seq_len: 16\n"
                          "  normalize: none\n", &err), 0);
    CU_ASSERT_EQUAL(parse("  format: text\n  train: a.txt\n", &err),
                    NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "data.seq_len: required"));
    CU_ASSERT_EQUAL(parse("  format: text\n  train: a.txt\n  seq_len: 0\n",
                          &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t.yaml:8: data.seq_len"));
    CU_ASSERT_EQUAL(parse("  format: csv\n  train: a.csv\n  seq_len: 16\n",
                          &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t.yaml:8: data.seq_len: not used "
                                           "with data.format csv"));
    CU_ASSERT_EQUAL(parse("  format: text\n  train: a.txt\n  seq_len: 16\n"
                          "  normalize: scale\n", &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t.yaml:9: data.normalize"));
    CU_ASSERT_EQUAL(parse("  format: text\n  train: a.txt\n  seq_len: 16\n"
                          "  targets: 2\n", &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "data.targets: not used"));
    CU_ASSERT_EQUAL(parse("  format: text\n  train: a.txt\n  seq_len: 16\n"
                          "  train_labels: b\n", &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "data.train_labels: not used"));
}

/* ---- the real text --------------------------------------------------------- */

/* The text char_lstm trains on: decoding the windows through the
 * vocabulary gives back the file's bytes. */
static void test_gpl3(void)
{
    if (access(GPL3, R_OK) != 0) {
        fprintf(stderr, "skipped: %s not present\n", GPL3);
        return;
    }
    FILE *f = fopen(GPL3, "rb");
    CU_ASSERT_FATAL(f != NULL);
    static char bytes[1 << 20];
    size_t len = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    CU_ASSERT_FATAL(len > 1000 && len < sizeof bytes);
    int seen[256] = {0};
    size_t distinct = 0;
    for (size_t k = 0; k < len; k++)
        if (!seen[(unsigned char)bytes[k]]++) distinct++;
    io_data_cfg c = text_cfg(GPL3, 64);
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &c, IO_SPLIT_TRAIN, 1, 2, &err), 0);
    CU_ASSERT_EQUAL(d.total, (len - 1) / 64);
    CU_ASSERT_EQUAL(d.vocab_len, distinct);
    size_t bad = 0;
    for (size_t i = 0; i < d.hi - d.lo; i++)
        for (size_t t = 0; t < 64; t++) {
            size_t at = (d.lo + i) * 64 + t;
            bad += d.vocab[(size_t)d.x[i * 64 + t]] != bytes[at];
            bad += d.vocab[(size_t)d.y[i * 64 + t]] != bytes[at + 1];
        }
    CU_ASSERT_EQUAL(bad, 0);
    io_dataset_free(&d);
}

static const cu_test vocab_tests[] = {
    {"sorted distinct bytes", test_vocab_sorted_distinct},
    {"encode and unknown characters", test_encode},
    {NULL, NULL}};
static const cu_test window_tests[] = {
    {"windows, plain and gzip", test_windows_plain_and_gzip},
    {"shards tile the windows", test_shards},
    {"data.limit", test_limit},
    {"GPL-3 decodes back", test_gpl3},
    {NULL, NULL}};
static const cu_test test_file_tests[] = {
    {"training vocabulary", test_test_file_uses_training_vocab},
    {"unknown character", test_test_file_unknown_char},
    {NULL, NULL}};
static const cu_test error_tests[] = {
    {"empty, short, missing", test_errors},
    {"config keys", test_config},
    {NULL, NULL}};
static const cu_suite suites[] = {{"vocabulary", vocab_tests},
                                  {"windows", window_tests},
                                  {"test files", test_file_tests},
                                  {"errors", error_tests},
                                  {NULL, NULL}};

int main(void)
{
    return cu_main("io_test_text", suites);
}

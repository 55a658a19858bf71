/* tests/io/test_dataset.c - IDX and CSV readers, shard loading and
 * normalisation, on synthetic files with known contents (plain and gzip)
 * and on the real data sets installed on this machine. */
#include "io/dataset.h"

#include <errno.h>  /* ENOENT */
#include <math.h>   /* fabs, sqrt */
#include <stdio.h>  /* fopen, snprintf */
#include <stdlib.h> /* free */
#include <string.h> /* strstr, strerror */
#include <unistd.h> /* access */

#include "nn/loss.h" /* NN_LABEL_NONE */
#include "tests/cu.h"

#define FASHION "/usr/share/datasets/fashion-mnist/"
#define SKDATA "/usr/lib/python3/dist-packages/sklearn/datasets/data/"

/* ---- fixtures ---------------------------------------------------------- */

static void write_text(const char *path, const char *text, int gz)
{
    cu_write_bytes(path, text, strlen(text), gz);
}

static size_t put_be32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}

/* The value of byte j of sample i in the synthetic files. */
static unsigned char pix(size_t i, size_t j)
{
    return (unsigned char)((i * 37 + j * 11 + 5) % 256);
}

/* An IDX file of `n` samples: type byte `type`, dims after the count in
 * dims[0..nd), `data_n` of the n*prod(dims) data bytes actually written. */
static void write_idx_raw(const char *path, unsigned type, unsigned count,
                          const unsigned *dims, size_t nd, size_t data_n,
                          int gz)
{
    unsigned char *b = malloc(4 * (nd + 2) + data_n + 1);
    size_t k = 0, sample = 1;
    b[k++] = 0;
    b[k++] = 0;
    b[k++] = (unsigned char)type;
    b[k++] = (unsigned char)(nd + 1);
    k += put_be32(b + k, count);
    for (size_t i = 0; i < nd; i++) {
        k += put_be32(b + k, dims[i]);
        sample *= dims[i];
    }
    for (size_t t = 0; t < data_n; t++) b[k++] = pix(t / sample, t % sample);
    cu_write_bytes(path, b, k, gz);
    free(b);
}

/* Images n x h x w and matching labels (label i = (i*3) % 10). */
static void write_images(const char *path, unsigned n, unsigned h,
                         unsigned w, int gz)
{
    unsigned dims[2] = {h, w};
    write_idx_raw(path, 0x08, n, dims, 2, (size_t)n * h * w, gz);
}

static void write_labels(const char *path, unsigned n, int gz)
{
    unsigned char *b = malloc(8 + n);
    put_be32(b, 0x00000801);
    put_be32(b + 4, n);
    for (unsigned i = 0; i < n; i++) b[8 + i] = (unsigned char)((i * 3) % 10);
    cu_write_bytes(path, b, 8 + n, gz);
    free(b);
}

/* Assert that err is an NN_EXIT_DATA error naming path and containing
 * `what`. */
static void expect_data_error(int rc, const nn_error *err, const char *path,
                              const char *what)
{
    CU_ASSERT_EQUAL(rc, NN_EXIT_DATA);
    CU_ASSERT_EQUAL(err->code, NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err->msg, what));
    if (!strstr(err->msg, what) || !strstr(err->msg, path))
        fprintf(stderr, "\n  message was: %s (wanted '%s')\n", err->msg,
                what);
}

static int idx_read(const char *path, size_t lo, size_t hi, size_t *total,
                    nn_shape *shape, float **out, nn_error *err)
{
    nn_error_clear(err);
    return io_idx_read(path, lo, hi, total, shape, out, err);
}

/* ---- IDX reading ------------------------------------------------------- */

static void check_images(const float *x, size_t lo, size_t hi, size_t w)
{
    size_t bad = 0;
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < w; j++)
            bad += x[(i - lo) * w + j] != (float)pix(i, j);
    CU_ASSERT_EQUAL(bad, 0);
}

static void idx_whole(int gz)
{
    const char *p = cu_tmp_path(gz ? "whole.idx.gz" : "whole.idx");
    write_images(p, 7, 3, 4, gz);
    size_t total = 0;
    nn_shape s;
    float *x = NULL;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(idx_read(p, 0, (size_t)-1, &total, &s, &x, &err),
                          0);
    CU_ASSERT_EQUAL(total, 7);
    CU_ASSERT_TRUE(nn_shape_eq(s, nn_shape_3d(1, 3, 4)));
    check_images(x, 0, 7, 12);
    free(x);
}

static void test_idx_whole_plain(void) { idx_whole(0); }
static void test_idx_whole_gzip(void) { idx_whole(1); }

static void test_idx_rows(void)
{
    for (int gz = 0; gz < 2; gz++) {
        const char *p = cu_tmp_path(gz ? "rows.idx.gz" : "rows.idx");
        write_images(p, 50, 5, 3, gz);
        size_t ranges[][2] = {{0, 1}, {2, 5}, {17, 50}, {49, 50}, {10, 10}};
        for (size_t r = 0; r < 5; r++) {
            size_t total = 0, lo = ranges[r][0], hi = ranges[r][1];
            nn_shape s;
            float *x = NULL;
            nn_error err;
            CU_ASSERT_EQUAL_FATAL(idx_read(p, lo, hi, &total, &s, &x, &err),
                                  0);
            CU_ASSERT_EQUAL(total, 50);
            CU_ASSERT_PTR_NOT_NULL(x);
            check_images(x, lo, hi, 15);
            free(x);
        }
    }
}

static void test_idx_labels_and_dims(void)
{
    const char *p = cu_tmp_path("labels.idx");
    write_labels(p, 23, 0);
    size_t total = 0;
    nn_shape s;
    float *y = NULL;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(idx_read(p, 4, 9, &total, &s, &y, &err), 0);
    CU_ASSERT_EQUAL(total, 23);
    CU_ASSERT_TRUE(nn_shape_eq(s, nn_shape_1d(1)));
    for (size_t i = 4; i < 9; i++)
        CU_ASSERT_EQUAL(y[i - 4], (float)((i * 3) % 10));
    free(y);

    /* 2 dims -> [F]; 4 dims -> [C, H, W]. */
    unsigned d2[1] = {6}, d4[3] = {2, 3, 4};
    p = cu_tmp_path("vec.idx");
    write_idx_raw(p, 0x08, 5, d2, 1, 30, 0);
    CU_ASSERT_EQUAL_FATAL(idx_read(p, 0, (size_t)-1, &total, &s, &y, &err),
                          0);
    CU_ASSERT_TRUE(nn_shape_eq(s, nn_shape_1d(6)));
    check_images(y, 0, 5, 6);
    free(y);
    p = cu_tmp_path("chw.idx.gz");
    write_idx_raw(p, 0x08, 3, d4, 3, 72, 1);
    CU_ASSERT_EQUAL_FATAL(idx_read(p, 1, 3, &total, &s, &y, &err), 0);
    CU_ASSERT_TRUE(nn_shape_eq(s, nn_shape_3d(2, 3, 4)));
    check_images(y, 1, 3, 24);
    free(y);
}

/* ---- IDX errors -------------------------------------------------------- */

static void expect_idx_error(const char *path, size_t lo, size_t hi,
                             const char *what)
{
    size_t total = 0;
    nn_shape s;
    float *x = (float *)&total; /* must be reset to NULL on failure */
    nn_error err;
    int rc = idx_read(path, lo, hi, &total, &s, &x, &err);
    expect_data_error(rc, &err, path, what);
    CU_ASSERT_PTR_NULL(x);
    if (rc == 0) free(x);
}

static void test_idx_bad_header(void)
{
    unsigned char b[16];
    put_be32(b, 0x12340803);
    put_be32(b + 4, 1);
    put_be32(b + 8, 1);
    put_be32(b + 12, 1);
    const char *p = cu_tmp_path("magic.idx");
    cu_write_bytes(p, b, 16, 0);
    expect_idx_error(p, 0, (size_t)-1, "bad magic 0x12340803");

    unsigned dims[2] = {2, 2};
    p = cu_tmp_path("float.idx");
    write_idx_raw(p, 0x0D, 3, dims, 2, 12 * 4, 0);
    expect_idx_error(p, 0, (size_t)-1, "element type 0x0d");

    unsigned zero[2] = {4, 0};
    p = cu_tmp_path("zero.idx");
    write_idx_raw(p, 0x08, 3, zero, 2, 0, 0);
    expect_idx_error(p, 0, (size_t)-1, "dimension 2 is 0");
    p = cu_tmp_path("zero-count.idx.gz");
    write_idx_raw(p, 0x08, 0, dims, 2, 0, 1);
    expect_idx_error(p, 0, (size_t)-1, "dimension 0 is 0");

    /* Dimension counts 0 and 5. */
    put_be32(b, 0x00000800);
    p = cu_tmp_path("nodims.idx");
    cu_write_bytes(p, b, 4, 0);
    expect_idx_error(p, 0, (size_t)-1, "dimension count 0");
    put_be32(b, 0x00000805);
    p = cu_tmp_path("fivedims.idx");
    cu_write_bytes(p, b, 16, 0);
    expect_idx_error(p, 0, (size_t)-1, "dimension count 5");

    /* Header cut short. */
    p = cu_tmp_path("short-header.idx");
    cu_write_bytes(p, "\0\0\x08\x03\0\0", 6, 0);
    expect_idx_error(p, 0, (size_t)-1,
                     "truncated: expected 12 bytes of IDX dimensions, got 2");

    /* Dimensions whose product overflows 64 bits. */
    unsigned big[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    p = cu_tmp_path("overflow.idx");
    write_idx_raw(p, 0x08, 2, big, 3, 0, 0);
    expect_idx_error(p, 0, (size_t)-1, "overflows");
}

/* A header claiming 4 billion 28x28 images in a file of a few bytes must
 * fail cleanly: an allocation of the declared size (13 TB of floats)
 * would abort the process through nn_xmalloc, and ASan would flag it. */
static void test_idx_huge_count(void)
{
    unsigned dims[2] = {28, 28};
    const char *p = cu_tmp_path("huge.idx");
    write_idx_raw(p, 0x08, 0xffffffffu, dims, 2, 100, 0);
    expect_idx_error(p, 0, (size_t)-1, "truncated: expected");
    expect_idx_error(p, 0, 1, "truncated: expected");
    p = cu_tmp_path("huge.idx.gz");
    write_idx_raw(p, 0x08, 0xffffffffu, dims, 2, 100, 1);
    expect_idx_error(p, 0, (size_t)-1, "truncated: expected 3367254359280 "
                                       "bytes of data for samples "
                                       "[0, 4294967295), got 100");
    expect_idx_error(p, 5, 6, "got 0");
}

static void test_idx_truncated(void)
{
    /* Plain: 10 images of 8 bytes declared, 75 data bytes present. */
    unsigned dims[2] = {2, 4};
    const char *p = cu_tmp_path("cut.idx");
    write_idx_raw(p, 0x08, 10, dims, 2, 75, 0);
    expect_idx_error(p, 0, 2, "truncated: expected 96 bytes of header and "
                              "10 samples x 8 bytes, got 91");
    /* Trailing bytes beyond the declared samples. */
    p = cu_tmp_path("long.idx");
    write_idx_raw(p, 0x08, 9, dims, 2, 75, 0);
    expect_idx_error(p, 0, 2, "3 bytes after the 9 samples");

    /* Gzip cut in the middle of the compressed stream: the first rows are
     * readable, reading through the cut is "truncated". */
    const char *full = cu_tmp_path("full.idx.gz");
    write_images(full, 2000, 16, 16, 1);
    FILE *f = fopen(full, "rb");
    CU_ASSERT_FATAL(f != NULL);
    static unsigned char comp[1 << 20];
    size_t n = fread(comp, 1, sizeof comp, f);
    fclose(f);
    CU_ASSERT_FATAL(n > 1000 && n < sizeof comp);
    p = cu_tmp_path("cut.idx.gz");
    cu_write_bytes(p, comp, n / 2, 0);
    size_t total = 0;
    nn_shape s;
    float *x = NULL;
    nn_error err;
    CU_ASSERT_EQUAL(idx_read(p, 0, 3, &total, &s, &x, &err), 0);
    check_images(x, 0, 3, 256);
    free(x);
    expect_idx_error(p, 0, (size_t)-1,
                     "truncated: expected 512000 bytes of data for samples "
                     "[0, 2000), got ");
    expect_idx_error(p, 1990, 2000, "truncated");
    /* A gzip file cut inside its header. */
    p = cu_tmp_path("cut-header.idx.gz");
    cu_write_bytes(p, comp, 5, 0);
    expect_idx_error(p, 0, (size_t)-1, "truncated: expected 4 bytes of IDX "
                                       "magic, got 0");
}

/* Gzip streams whose end is not what the header says: the trailer (CRC32
 * and length, the last 8 bytes) cut off or damaged, and rows past the
 * declared count. Reading the first rows succeeds; the reader of the last
 * rows sees the problem. */
static void test_idx_gzip_trailer(void)
{
    const char *full = cu_tmp_path("trailer.idx.gz");
    write_images(full, 40, 4, 4, 1);
    static unsigned char comp[1 << 16];
    FILE *f = fopen(full, "rb");
    CU_ASSERT_FATAL(f != NULL);
    size_t n = fread(comp, 1, sizeof comp, f);
    fclose(f);
    CU_ASSERT_FATAL(n > 16 && n < sizeof comp);
    size_t total = 0;
    nn_shape s;
    float *x = NULL;
    nn_error err;
    for (size_t cut = 1; cut <= 8; cut++) {
        const char *p = cu_tmp_path("no-trailer.idx.gz");
        cu_write_bytes(p, comp, n - cut, 0);
        CU_ASSERT_EQUAL(idx_read(p, 0, 3, &total, &s, &x, &err), 0);
        free(x);
        x = NULL;
        expect_idx_error(p, 0, (size_t)-1, "without its trailer");
        expect_idx_error(p, 30, 40, "without its trailer");
    }
    /* a flipped CRC byte, then a flipped length byte */
    for (size_t k = 8; k >= 1; k -= 4) {
        const char *p = cu_tmp_path("bad-crc.idx.gz");
        comp[n - k] ^= 0x5a;
        cu_write_bytes(p, comp, n, 0);
        comp[n - k] ^= 0x5a;
        expect_idx_error(p, 0, (size_t)-1, "corrupt gzip data");
    }
    /* 41 images of data under a header declaring 40 */
    unsigned dims[2] = {4, 4};
    const char *p = cu_tmp_path("rows-past.idx.gz");
    write_idx_raw(p, 0x08, 40, dims, 2, 41 * 16, 1);
    expect_idx_error(p, 0, (size_t)-1, "data past the end of the 40 samples");
    expect_idx_error(p, 39, 40, "data past the end");
    CU_ASSERT_EQUAL(idx_read(p, 0, 39, &total, &s, &x, &err), 0);
    free(x);
}

static void test_idx_missing_and_range(void)
{
    const char *p = cu_tmp_path("does-not-exist.idx");
    expect_idx_error(p, 0, (size_t)-1, strerror(ENOENT));
    expect_idx_error(cu_tmpdir(), 0, (size_t)-1, "not a regular file");
    p = cu_tmp_path("range.idx");
    write_images(p, 5, 2, 2, 0);
    expect_idx_error(p, 3, 6, "rows [3, 6) requested, file has 5");
    expect_idx_error(p, 4, 3, "rows [4, 3) requested");
}

/* ---- io_dataset_load: IDX ---------------------------------------------- */

static io_data_cfg idx_cfg(const char *img, const char *lab)
{
    io_data_cfg c;
    memset(&c, 0, sizeof c);
    c.format = "idx";
    c.train = (char *)img;
    c.train_labels = (char *)lab;
    c.test = (char *)img;
    c.test_labels = (char *)lab;
    c.target_column = -1;
    c.targets = 1;
    return c;
}

/* Load every part of `parts` and check that the shards tile [0, total) and
 * hold exactly the rows of a 1-part load. */
static void check_concat(const io_data_cfg *cfg, io_split split,
                         const io_dataset *whole)
{
    for (size_t parts = 1; parts <= 4; parts++) {
        size_t next = 0, bad = 0;
        for (size_t part = 0; part < parts; part++) {
            io_dataset d;
            nn_error err;
            CU_ASSERT_EQUAL_FATAL(
                io_dataset_load(&d, cfg, split, part, parts, &err), 0);
            CU_ASSERT_EQUAL(d.total, whole->total);
            CU_ASSERT_EQUAL(d.lo, next);
            CU_ASSERT_EQUAL(d.lo, whole->total * part / parts);
            CU_ASSERT_EQUAL(d.x_width, whole->x_width);
            CU_ASSERT_EQUAL(d.y_width, whole->y_width);
            size_t n = d.hi - d.lo;
            bad += memcmp(d.x, whole->x + d.lo * d.x_width,
                          n * d.x_width * sizeof(float)) != 0;
            bad += memcmp(d.y, whole->y + d.lo * d.y_width,
                          n * d.y_width * sizeof(float)) != 0;
            next = d.hi;
            io_dataset_free(&d);
        }
        CU_ASSERT_EQUAL(next, whole->total);
        CU_ASSERT_EQUAL(bad, 0);
    }
}

static void test_load_idx(void)
{
    for (int gz = 0; gz < 2; gz++) {
        const char *img = cu_tmp_path(gz ? "ds-img.gz" : "ds-img");
        const char *lab = cu_tmp_path(gz ? "ds-lab.gz" : "ds-lab");
        write_images(img, 11, 2, 3, gz);
        write_labels(lab, 11, gz);
        io_data_cfg cfg = idx_cfg(img, lab);
        io_dataset d;
        nn_error err;
        CU_ASSERT_EQUAL_FATAL(
            io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err), 0);
        CU_ASSERT_EQUAL(d.total, 11);
        CU_ASSERT_EQUAL(d.lo, 0);
        CU_ASSERT_EQUAL(d.hi, 11);
        CU_ASSERT_TRUE(nn_shape_eq(d.x_shape, nn_shape_3d(1, 2, 3)));
        CU_ASSERT_EQUAL(d.x_width, 6);
        CU_ASSERT_EQUAL(d.y_width, 1);
        CU_ASSERT_STRING_EQUAL(d.name, img);
        check_images(d.x, 0, 11, 6);
        for (size_t i = 0; i < 11; i++)
            CU_ASSERT_EQUAL(d.y[i], (float)((i * 3) % 10));
        check_concat(&cfg, IO_SPLIT_TRAIN, &d);
        io_dataset_free(&d);

        /* limit caps the training split only. */
        cfg.limit = 7;
        CU_ASSERT_EQUAL_FATAL(
            io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 1, 2, &err), 0);
        CU_ASSERT_EQUAL(d.total, 7);
        CU_ASSERT_EQUAL(d.lo, 3);
        CU_ASSERT_EQUAL(d.hi, 7);
        check_images(d.x, 3, 7, 6);
        io_dataset_free(&d);
        CU_ASSERT_EQUAL_FATAL(
            io_dataset_load(&d, &cfg, IO_SPLIT_TEST, 1, 2, &err), 0);
        CU_ASSERT_EQUAL(d.total, 11);
        io_dataset_free(&d);
    }
}

static void test_load_idx_errors(void)
{
    const char *img = cu_tmp_path("mm-img");
    const char *lab = cu_tmp_path("mm-lab");
    write_images(img, 12, 2, 2, 0);
    write_labels(lab, 13, 1);
    io_data_cfg cfg = idx_cfg(img, lab);
    io_dataset d;
    nn_error err;
    int rc = io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err);
    expect_data_error(rc, &err, img, "images 12, labels 13");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, lab));
    CU_ASSERT_PTR_NULL(d.x);

    /* A labels file with more than one byte per sample. */
    write_images(lab, 12, 1, 2, 0);
    rc = io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err);
    expect_data_error(rc, &err, lab, "one byte per sample");

    const char *missing = cu_tmp_path("no-labels");
    cfg.train_labels = (char *)missing;
    rc = io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err);
    expect_data_error(rc, &err, missing, strerror(ENOENT));

    /* The data of a shard are missing although the header is fine. */
    const char *cut = cu_tmp_path("shard-cut.gz");
    write_labels(lab, 12, 0);
    unsigned dims[2] = {2, 2};
    write_idx_raw(cut, 0x08, 12, dims, 2, 30, 1);
    cfg.train = (char *)cut;
    cfg.train_labels = (char *)lab;
    CU_ASSERT_EQUAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 2, &err), 0);
    io_dataset_free(&d);
    rc = io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 1, 2, &err);
    expect_data_error(rc, &err, cut, "truncated");

    cfg.test = NULL;
    rc = io_dataset_load(&d, &cfg, IO_SPLIT_TEST, 0, 1, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "data.test"));
    cfg.format = "parquet";
    rc = io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
}

/* ---- CSV --------------------------------------------------------------- */

static int csv_read(const char *path, size_t skip, int header, size_t *rows,
                    size_t *cols, float **out, nn_error *err)
{
    nn_error_clear(err);
    return io_csv_read(path, skip, header, rows, cols, out, err);
}

static void test_csv_values(void)
{
    for (int gz = 0; gz < 2; gz++) {
        const char *p = cu_tmp_path(gz ? "v.csv.gz" : "v.csv");
        write_text(p, "1,2.5,-3\n4e2, 5 ,0.125\n-0,7,8", gz);
        size_t rows = 0, cols = 0;
        float *v = NULL;
        nn_error err;
        CU_ASSERT_EQUAL_FATAL(csv_read(p, 0, 0, &rows, &cols, &v, &err), 0);
        CU_ASSERT_EQUAL(rows, 3);
        CU_ASSERT_EQUAL(cols, 3);
        const float want[9] = {1, 2.5f, -3, 400, 5, 0.125f, 0, 7, 8};
        for (size_t i = 0; i < 9; i++) CU_ASSERT_EQUAL(v[i], want[i]);
        free(v);
    }
}

static void test_csv_header_skip_crlf(void)
{
    const char *p = cu_tmp_path("h.csv");
    write_text(p,
               "# produced by a tool\r\n"
               "count,2\r\n"
               "\"a, the first\",b,\"c \"\"q\"\"\"\r\n"
               "1,2,3\r\n"
               "4,5,6\r\n"
               "\r\n"
               "\n",
               0);
    size_t rows = 0, cols = 0;
    float *v = NULL;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(csv_read(p, 2, 1, &rows, &cols, &v, &err), 0);
    CU_ASSERT_EQUAL(rows, 2);
    CU_ASSERT_EQUAL(cols, 3);
    for (size_t i = 0; i < 6; i++) CU_ASSERT_EQUAL(v[i], (float)(i + 1));
    free(v);
    /* A UTF-8 byte-order mark before the header is not part of it. */
    p = cu_tmp_path("bom.csv");
    write_text(p, "\xEF\xBB\xBF" "1.5,2\n3,4\n", 0);
    CU_ASSERT_EQUAL_FATAL(csv_read(p, 0, 0, &rows, &cols, &v, &err), 0);
    CU_ASSERT_EQUAL(rows, 2);
    CU_ASSERT_EQUAL(v[0], 1.5f);
    free(v);
    p = cu_tmp_path("h.csv");
    /* Without skipping, the comment line is the header (1 column) and the
     * count line a ragged row. */
    int rc = csv_read(p, 0, 1, &rows, &cols, &v, &err);
    expect_data_error(rc, &err, p, ":2: 2 columns, expected 1");
}

static void expect_csv_error(const char *name, const char *text,
                             size_t skip, int header, const char *what)
{
    const char *p = cu_tmp_path(name);
    write_text(p, text, 0);
    size_t rows = 0, cols = 0;
    float *v = (float *)&rows;
    nn_error err;
    int rc = csv_read(p, skip, header, &rows, &cols, &v, &err);
    expect_data_error(rc, &err, p, what);
    CU_ASSERT_PTR_NULL(v);
    if (rc == 0) free(v);
}

static void test_csv_errors(void)
{
    char want[600];
    snprintf(want, sizeof want, "%s:3: column 2: not a number: 'abc'",
             cu_tmp_path("nan.csv"));
    expect_csv_error("nan.csv", "x,y,z\n1,2,3\n4,abc,6\n", 0, 1, want);
    expect_csv_error("empty-cell.csv", "1,2\n3,\n", 0, 0,
                     ":2: column 2: not a number: ''");
    expect_csv_error("partial.csv", "1,2x\n", 0, 0,
                     ":1: column 2: not a number: '2x'");
    expect_csv_error("inf.csv", "1,inf\n", 0, 0, "not a number: 'inf'");
    expect_csv_error("nanv.csv", "nan,1\n", 0, 0, "column 1: not a number");
    expect_csv_error("big.csv", "1e39,1\n", 0, 0, "out of float range");
    expect_csv_error("quoted.csv", "\"1\",2\n", 0, 0, "not a number: '\"1\"'");
    expect_csv_error("ragged.csv", "1,2,3\n4,5\n", 0, 0,
                     ":2: 2 columns, expected 3");
    expect_csv_error("ragged-h.csv", "a,b\n1,2,3\n", 0, 1,
                     ":2: 3 columns, expected 2");
    expect_csv_error("empty.csv", "", 0, 0, "empty file");
    expect_csv_error("blank.csv", "\n \r\n", 0, 0, "empty file");
    expect_csv_error("header-only.csv", "a,b\n\n", 0, 1, "no data rows");
    expect_csv_error("skipped.csv", "1,2\n3,4\n", 5, 0, "no data rows");
    expect_csv_error("gap.csv", "1,2\n\n3,4\n", 0, 0,
                     ":2: blank line inside the data");
    expect_csv_error("quote.csv", "\"a,b\n1\n", 0, 1, "unterminated quote");
    /* A gzip CSV cut in the middle of its stream. */
    static char big[20000];
    size_t k = 0;
    for (int r = 0; k + 32 < sizeof big; r++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%d,%d.5,%d\n", r,
                              r * 7 % 13, r % 5);
    const char *full = cu_tmp_path("full.csv.gz");
    write_text(full, big, 1);
    FILE *f = fopen(full, "rb");
    CU_ASSERT_FATAL(f != NULL);
    unsigned char comp[sizeof big];
    size_t n = fread(comp, 1, sizeof comp, f);
    fclose(f);
    CU_ASSERT_FATAL(n > 100);
    const char *p = cu_tmp_path("cut.csv.gz");
    cu_write_bytes(p, comp, n / 2, 0);
    size_t rows, cols;
    float *v = (float *)&rows;
    nn_error err;
    expect_data_error(csv_read(p, 0, 0, &rows, &cols, &v, &err), &err, p,
                      "truncated");
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(csv_read(full, 0, 0, &rows, &cols, &v, &err), 0);
    CU_ASSERT_EQUAL(cols, 3);
    free(v);

    p = cu_tmp_path("absent.csv");
    expect_data_error(csv_read(p, 0, 0, &rows, &cols, &v, &err), &err, p,
                      strerror(ENOENT));
}

static io_data_cfg csv_cfg(const char *path, long target, size_t targets)
{
    io_data_cfg c;
    memset(&c, 0, sizeof c);
    c.format = "csv";
    c.train = (char *)path;
    c.target_column = target;
    c.targets = targets;
    return c;
}

/* Table of 9 rows x 5 columns, cell (r, c) = 10 r + c. */
static const char *table_csv(void)
{
    static char text[512];
    size_t k = 0;
    k += (size_t)snprintf(text + k, sizeof text - k, "c0,c1,c2,c3,c4\n");
    for (int r = 0; r < 9; r++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%d,%d,%d,%d,%d\n",
                              10 * r, 10 * r + 1, 10 * r + 2, 10 * r + 3,
                              10 * r + 4);
    return text;
}

static void test_load_csv_targets(void)
{
    const char *p = cu_tmp_path("table.csv.gz");
    write_text(p, table_csv(), 1);
    /* target_column 1, 2 targets: x = c0,c3,c4; y = c1,c2. */
    io_data_cfg cfg = csv_cfg(p, 1, 2);
    cfg.header = 1;
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 1, 3,
                                          &err), 0);
    CU_ASSERT_EQUAL(d.total, 9);
    CU_ASSERT_EQUAL(d.lo, 3);
    CU_ASSERT_EQUAL(d.hi, 6);
    CU_ASSERT_EQUAL(d.x_width, 3);
    CU_ASSERT_EQUAL(d.y_width, 2);
    CU_ASSERT_TRUE(nn_shape_eq(d.x_shape, nn_shape_1d(3)));
    for (size_t i = 0; i < 3; i++) {
        float r = (float)(10 * (i + 3));
        CU_ASSERT_EQUAL(d.x[3 * i + 0], r + 0);
        CU_ASSERT_EQUAL(d.x[3 * i + 1], r + 3);
        CU_ASSERT_EQUAL(d.x[3 * i + 2], r + 4);
        CU_ASSERT_EQUAL(d.y[2 * i + 0], r + 1);
        CU_ASSERT_EQUAL(d.y[2 * i + 1], r + 2);
    }
    io_dataset_free(&d);

    /* -1: the last column is the target; shards tile the table. */
    cfg = csv_cfg(p, -1, 1);
    cfg.header = 1;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1,
                                          &err), 0);
    CU_ASSERT_EQUAL(d.x_width, 4);
    for (size_t i = 0; i < 9; i++) {
        CU_ASSERT_EQUAL(d.y[i], (float)(10 * i + 4));
        CU_ASSERT_EQUAL(d.x[4 * i + 3], (float)(10 * i + 3));
    }
    check_concat(&cfg, IO_SPLIT_TRAIN, &d);
    io_dataset_free(&d);

    /* -1 with 2 targets: the last two columns. */
    cfg = csv_cfg(p, -1, 2);
    cfg.header = 1;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 2, 3,
                                          &err), 0);
    CU_ASSERT_EQUAL(d.x_width, 3);
    CU_ASSERT_EQUAL(d.y_width, 2);
    for (size_t i = 0; i < 3; i++) {
        float r = (float)(10 * (i + 6));
        CU_ASSERT_EQUAL(d.x[3 * i + 2], r + 2);
        CU_ASSERT_EQUAL(d.y[2 * i + 0], r + 3);
        CU_ASSERT_EQUAL(d.y[2 * i + 1], r + 4);
    }
    io_dataset_free(&d);

    /* Targets that do not fit the table. */
    cfg = csv_cfg(p, 4, 2);
    cfg.header = 1;
    CU_ASSERT_EQUAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err),
                    NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "target_column"));
    cfg = csv_cfg(p, 0, 5);
    cfg.header = 1;
    CU_ASSERT_EQUAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err),
                    NN_EXIT_USAGE);
    /* A malformed table is a data error from the loader too. */
    cfg = csv_cfg(p, -1, 1);
    cfg.header = 0;
    int rc = io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err);
    expect_data_error(rc, &err, p, ":1: column 1: not a number: 'c0'");
}

/* ---- normalisation ----------------------------------------------------- */

static void test_normalize(void)
{
    const char *p = cu_tmp_path("norm.csv");
    write_text(p, "1,5,2,0\n3,5,4,1\n8,5,-6,0\n", 0);
    io_data_cfg cfg = csv_cfg(p, -1, 1);
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1,
                                          &err), 0);
    double sum[3], sq[3], mean[3], sd[3];
    io_dataset_moments(&d, NULL, 0, sum, sq, &err);
    const double ws[3] = {12, 15, 0}, wq[3] = {74, 75, 56};
    for (int j = 0; j < 3; j++) {
        CU_ASSERT_DOUBLE_EQUAL(sum[j], ws[j], 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(sq[j], wq[j], 1e-12);
        mean[j] = sum[j] / 3;
        sd[j] = sqrt(fmax(sq[j] / 3 - mean[j] * mean[j], 0));
    }
    io_dataset_standardize(&d, mean, sd);
    io_dataset_moments(&d, NULL, 0, sum, sq, &err);
    /* Columns 0 and 2: mean 0, variance 1. Column 1 is constant (std 0):
     * only centred. */
    for (int j = 0; j < 3; j++) CU_ASSERT_DOUBLE_EQUAL(sum[j], 0, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(sq[0] / 3, 1, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(sq[1], 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(sq[2] / 3, 1, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(d.x[0], (1 - 4) / sd[0], 1e-6);
    io_dataset_scale(&d, 2.0f);
    CU_ASSERT_DOUBLE_EQUAL(d.x[0], 2 * (1 - 4) / sd[0], 1e-5);
    CU_ASSERT_EQUAL(d.y[1], 1.0f); /* targets untouched */
    io_dataset_free(&d);
}

/* ---- real data sets ---------------------------------------------------- */

static int have(const char *path)
{
    if (access(path, R_OK) == 0) return 1;
    fprintf(stderr, "\n  SKIPPED: %s not present\n", path);
    return 0;
}

static void test_sklearn_csv(void)
{
    const char *iris = SKDATA "iris.csv";
    const char *boston = SKDATA "boston_house_prices.csv";
    io_dataset d;
    nn_error err;
    if (have(iris)) {
        /* The count line "150,4,setosa,..." has 5 fields: it serves as the
         * header. */
        io_data_cfg cfg = csv_cfg(iris, -1, 1);
        cfg.header = 1;
        CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1,
                                              &err), 0);
        CU_ASSERT_EQUAL(d.total, 150);
        CU_ASSERT_EQUAL(d.x_width, 4);
        CU_ASSERT_EQUAL(d.y_width, 1);
        CU_ASSERT_EQUAL(d.x[0], 5.1f);
        CU_ASSERT_EQUAL(d.x[3], 0.2f);
        CU_ASSERT_EQUAL(d.x[149 * 4 + 0], 5.9f);
        CU_ASSERT_EQUAL(d.x[149 * 4 + 3], 1.8f);
        size_t count[3] = {0, 0, 0}, other = 0;
        for (size_t i = 0; i < 150; i++) {
            float y = d.y[i];
            if (y == 0 || y == 1 || y == 2) count[(int)y]++;
            else other++;
        }
        CU_ASSERT_EQUAL(other, 0);
        CU_ASSERT(count[0] == 50 && count[1] == 50 && count[2] == 50);
        io_dataset_free(&d);
    }
    if (have(boston)) {
        io_data_cfg cfg = csv_cfg(boston, -1, 1);
        cfg.header = 1;
        cfg.skip_rows = 1;
        CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1,
                                              &err), 0);
        CU_ASSERT_EQUAL(d.total, 506);
        CU_ASSERT_EQUAL(d.x_width, 13);
        CU_ASSERT_EQUAL(d.y_width, 1);
        CU_ASSERT_EQUAL(d.x[0], 0.00632f);
        CU_ASSERT_EQUAL(d.x[12], 4.98f);
        CU_ASSERT_EQUAL(d.y[0], 24.0f);
        io_dataset_free(&d);
        /* Without skip_rows the count line is the header and the quoted
         * names line a non-numeric row. */
        cfg.skip_rows = 0;
        int rc = io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &err);
        expect_data_error(rc, &err, boston,
                          ":2: column 1: not a number: '\"CRIM\"'");
    }
}

static void check_fashion_labels(const io_dataset *d)
{
    size_t bad = 0, seen[10] = {0};
    for (size_t i = 0; i < d->hi - d->lo; i++) {
        float y = d->y[i];
        if (y >= 0 && y <= 9 && y == (float)(int)y) seen[(int)y]++;
        else bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    for (int c = 0; c < 10; c++) CU_ASSERT(seen[c] > 0);
}

/* Rows [a, b) of two datasets (global ids) are identical. */
static int same_rows(const io_dataset *p, const io_dataset *q, size_t a,
                     size_t b)
{
    for (size_t i = a; i < b; i++) {
        size_t w = p->x_width;
        if (memcmp(p->x + (i - p->lo) * w, q->x + (i - q->lo) * w,
                   w * sizeof(float)) != 0 ||
            p->y[i - p->lo] != q->y[i - q->lo])
            return 0;
    }
    return 1;
}

static void test_fashion_mnist(void)
{
    const char *tr = FASHION "train-images-idx3-ubyte.gz";
    const char *trl = FASHION "train-labels-idx1-ubyte.gz";
    const char *te = FASHION "t10k-images-idx3-ubyte.gz";
    const char *tel = FASHION "t10k-labels-idx1-ubyte.gz";
    if (!have(tr) || !have(trl) || !have(te) || !have(tel)) return;
    io_dataset whole, half[2], d;
    nn_error err;
    io_data_cfg cfg = idx_cfg(tr, trl);
    cfg.test = (char *)te;
    cfg.test_labels = (char *)tel;
    /* Train: the last of 4 shards. */
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 3, 4,
                                          &err), 0);
    CU_ASSERT_EQUAL(d.total, 60000);
    CU_ASSERT_EQUAL(d.lo, 45000);
    CU_ASSERT_EQUAL(d.hi, 60000);
    CU_ASSERT_TRUE(nn_shape_eq(d.x_shape, nn_shape_3d(1, 28, 28)));
    CU_ASSERT_EQUAL(d.x_width, 784);
    check_fashion_labels(&d);
    float mx = 0;
    for (size_t i = 0; i < 15000 * 784; i++) mx = d.x[i] > mx ? d.x[i] : mx;
    CU_ASSERT_EQUAL(mx, 255.0f);
    io_dataset_free(&d);

    /* Test split: the halves of a 2-part load are the 1-part rows. */
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&whole, &cfg, IO_SPLIT_TEST, 0, 1,
                                          &err), 0);
    CU_ASSERT_EQUAL(whole.total, 10000);
    check_fashion_labels(&whole);
    for (size_t part = 0; part < 2; part++)
        CU_ASSERT_EQUAL_FATAL(io_dataset_load(&half[part], &cfg,
                                              IO_SPLIT_TEST, part, 2, &err),
                              0);
    CU_ASSERT_EQUAL(half[0].hi, 5000);
    CU_ASSERT_EQUAL(half[1].lo, 5000);
    CU_ASSERT_EQUAL(half[1].hi, 10000);
    CU_ASSERT_TRUE(same_rows(&whole, &half[0], 0, 5));
    CU_ASSERT_TRUE(same_rows(&whole, &half[0], 4995, 5000));
    CU_ASSERT_TRUE(same_rows(&whole, &half[1], 5000, 5005));
    CU_ASSERT_TRUE(same_rows(&whole, &half[1], 9995, 10000));
    /* The comparison can fail: distinct rows differ. */
    CU_ASSERT_NOT_EQUAL(memcmp(whole.x, whole.x + 5000 * 784,
                               784 * sizeof(float)), 0);
    io_dataset_free(&half[0]);
    io_dataset_free(&half[1]);
    io_dataset_free(&whole);
}

/* A file meeting the model: the same sample shape and target width as the
 * training file, else an error naming the file and both shapes. */
static void test_check_shape(void)
{
    const char *p = cu_tmp_path("shape.csv");
    write_text(p, table_csv(), 0);
    io_data_cfg cfg = csv_cfg(p, -1, 1);
    cfg.header = 1;
    io_dataset d;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1,
                                          &err), 0);
    CU_ASSERT_EQUAL(io_dataset_check_shape(&d, nn_shape_1d(4), 1, "t", &err),
                    0);
    CU_ASSERT_EQUAL(io_dataset_check_shape(&d, nn_shape_1d(4), (size_t)-1,
                                           "t", &err), 0);
    /* wider, narrower, same width in another shape, other targets */
    expect_data_error(io_dataset_check_shape(&d, nn_shape_1d(5), 1, "train.csv",
                                             &err), &err, p,
                      "samples of shape [4] (4 values), but train.csv has "
                      "[5] (5 values)");
    expect_data_error(io_dataset_check_shape(&d, nn_shape_1d(3), 1, "t", &err),
                      &err, p, "but t has [3]");
    expect_data_error(io_dataset_check_shape(&d, nn_shape_2d(2, 2), 1, "t",
                                             &err), &err, p, "[2, 2]");
    expect_data_error(io_dataset_check_shape(&d, nn_shape_1d(4), 2, "t", &err),
                      &err, p, "with 1 target value(s), but t has [4] with 2");
    io_dataset_free(&d);
}

/* Token ids for an embedding: rounded as the layer rounds, in [0, vocab)
 * or padding; anything else names the row (global) and value (1-based). */
static void test_check_token_ids(void)
{
    float ok[6] = {0, 1.2f, 15, NN_LABEL_NONE, 14.6f, 3};
    nn_error err;
    CU_ASSERT_EQUAL(io_check_token_ids("f", ok, 2, 3, 0, 16, &err), 0);
    float bad[][2] = {{0, 16}, {0, -2}, {0, NAN}, {0, INFINITY}, {0, 15.5f}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CU_ASSERT_EQUAL(io_check_token_ids("ids.csv", bad[i], 1, 2, 7, 16,
                                           &err), NN_EXIT_DATA);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ids.csv: row 7, value 2: "));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "vocabulary [0, 16)"));
    }
}

static const cu_test idx_tests[] = {
    {"whole file, plain", test_idx_whole_plain},
    {"whole file, gzip", test_idx_whole_gzip},
    {"row ranges", test_idx_rows},
    {"labels and other dims", test_idx_labels_and_dims},
    {"bad headers", test_idx_bad_header},
    {"huge count, tiny file", test_idx_huge_count},
    {"truncated plain and gzip", test_idx_truncated},
    {"gzip trailer, rows past the count", test_idx_gzip_trailer},
    {"missing file, bad range", test_idx_missing_and_range},
    {NULL, NULL}};
static const cu_test load_tests[] = {
    {"idx shards concatenate", test_load_idx},
    {"idx load errors", test_load_idx_errors},
    {"csv targets and shards", test_load_csv_targets},
    {"shape of a file meeting the model", test_check_shape},
    {"token ids for an embedding", test_check_token_ids},
    {"normalisation", test_normalize},
    {NULL, NULL}};
static const cu_test csv_tests[] = {
    {"values", test_csv_values},
    {"header, skip_rows, CRLF", test_csv_header_skip_crlf},
    {"errors", test_csv_errors},
    {NULL, NULL}};
static const cu_test real_tests[] = {
    {"sklearn iris and boston", test_sklearn_csv},
    {"fashion-mnist", test_fashion_mnist},
    {NULL, NULL}};
static const cu_suite suites[] = {{"idx", idx_tests},
                                  {"csv", csv_tests},
                                  {"load", load_tests},
                                  {"real data", real_tests},
                                  {NULL, NULL}};

int main(void)
{
    return cu_main("io_test_dataset", suites);
}

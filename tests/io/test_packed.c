/* tests/io/test_packed.c - the packed format (io/packed.c): rows written
 * and read back bit for bit in any order, across shard edges, through the
 * prefetch window and directly; the transforms equal those of data held
 * in memory; and damaged directories (a flipped byte, a truncated or
 * missing shard, an index that disagrees, a newer version) refused with
 * NN_EXIT_DATA naming the file. */
#include "io/dataset.h"
#include "io/packed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nn/loss.h" /* NN_LABEL_NONE */
#include "tests/cu.h"

#define ROWS 23
#define XW 6 /* [1, 2, 3] */

static float xval(size_t i, size_t j) { return (float)((i * 7 + j * 13) % 256); }
static float yval(size_t i) { return (float)(i % 10); }

/* A u8 dataset of ROWS rows in `dir`, shards of `per` rows. */
static void write_u8(const char *dir, size_t per)
{
    io_packed_meta m = {.x_type = IO_PK_U8, .y_type = IO_PK_U8,
                        .x_shape = nn_shape_3d(1, 2, 3), .x_width = XW,
                        .y_width = 1, .total = ROWS};
    io_pack_writer *w;
    nn_error err;
    float x[ROWS * XW], y[ROWS];
    for (size_t i = 0; i < ROWS; i++) {
        y[i] = yval(i);
        for (size_t j = 0; j < XW; j++) x[i * XW + j] = xval(i, j);
    }
    CU_ASSERT_EQUAL_FATAL(io_pack_begin(&w, dir, &m, per * (XW + 1), &err), 0);
    /* in two calls, the second crossing shard edges */
    CU_ASSERT_EQUAL_FATAL(io_pack_add(w, x, y, 5, "src", 0, &err), 0);
    CU_ASSERT_EQUAL_FATAL(io_pack_add(w, x + 5 * XW, y + 5, ROWS - 5, "src", 5,
                                      &err), 0);
    CU_ASSERT_EQUAL_FATAL(io_pack_finish(w, &err), 0);
}

static int rows_match(const float *x, const float *y, const size_t *ids,
                      size_t n, float scale)
{
    for (size_t k = 0; k < n; k++) {
        if (y && y[k] != yval(ids[k])) return 0;
        for (size_t j = 0; x && j < XW; j++)
            if (x[k * XW + j] != xval(ids[k], j) * scale) return 0;
    }
    return 1;
}

static void test_roundtrip(void)
{
    const char *dir = cu_tmp_path("rt");
    write_u8(dir, 4); /* 6 shards, the last of 3 rows */
    io_packed *p;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_packed_open(&p, dir, 1 << 20, &err), 0);
    const io_packed_meta *m = io_packed_meta_of(p);
    CU_ASSERT_EQUAL(m->total, ROWS);
    CU_ASSERT_EQUAL(m->x_width, XW);
    CU_ASSERT(nn_shape_eq(m->x_shape, nn_shape_3d(1, 2, 3)));
    io_packed_tf tf = {0};
    io_packed_setup(p, 0, &tf);
    size_t ids[] = {22, 0, 3, 4, 5, 6, 7, 8, 19, 20, 21, 1};
    float x[12 * XW], y[12];
    CU_ASSERT_EQUAL(io_packed_rows(p, ids, 12, x, y, &err), 0);
    CU_ASSERT(rows_match(x, y, ids, 12, 1));
    /* y alone, x alone */
    memset(x, 0, sizeof x);
    CU_ASSERT_EQUAL(io_packed_rows(p, ids, 12, NULL, y, &err), 0);
    CU_ASSERT(rows_match(NULL, y, ids, 12, 1));
    CU_ASSERT_EQUAL(io_packed_rows(p, ids, 12, x, NULL, &err), 0);
    CU_ASSERT(rows_match(x, NULL, ids, 12, 1));
    /* local rows of a rank holding [10, 23): local 0 is global 10 */
    io_packed_setup(p, 10, &tf);
    size_t loc[] = {0, 12}, glob[] = {10, 22};
    CU_ASSERT_EQUAL(io_packed_rows(p, loc, 2, x, y, &err), 0);
    CU_ASSERT(rows_match(x, y, glob, 2, 1));
    io_packed_close(p);
    size_t rows = 0;
    CU_ASSERT_EQUAL(io_packed_verify(dir, &rows, &err), 0);
    CU_ASSERT_EQUAL(rows, ROWS);
}

/* Batches queued ahead come back in order, the same as direct reads; a
 * batch other than the queued one drops the queue and is still right. */
static void test_prefetch(void)
{
    const char *dir = cu_tmp_path("pf");
    write_u8(dir, 5);
    io_packed *p;
    nn_error err;
    /* a window of about 3 batches of 4 rows */
    CU_ASSERT_EQUAL_FATAL(io_packed_open(&p, dir, 3 * 4 * (XW + 1) * 4 + 96,
                                         &err), 0);
    io_packed_tf tf = {.scale = 0.5f};
    io_packed_setup(p, 0, &tf);
    size_t b[6][4];
    for (size_t s = 0; s < 6; s++)
        for (size_t k = 0; k < 4; k++) b[s][k] = (s * 5 + k * 3) % ROWS;
    size_t queued = 0, fulls = 0;
    float x[4 * XW], y[4];
    for (size_t s = 0; s < 6; s++) {
        while (queued < 6 && !io_packed_prefetch(p, b[queued], 4)) queued++;
        fulls += queued < 6;
        CU_ASSERT_EQUAL(io_packed_next(p, b[s], 4, x, y, &err), 0);
        CU_ASSERT(rows_match(x, y, b[s], 4, 0.5f));
    }
    CU_ASSERT(fulls > 0); /* the window was bounded */
    /* queue two, then ask for another batch: a direct read */
    CU_ASSERT_EQUAL(io_packed_prefetch(p, b[0], 4), 0);
    CU_ASSERT_EQUAL(io_packed_prefetch(p, b[1], 4), 0);
    CU_ASSERT_EQUAL(io_packed_next(p, b[2], 4, x, y, &err), 0);
    CU_ASSERT(rows_match(x, y, b[2], 4, 0.5f));
    CU_ASSERT_EQUAL(io_packed_next(p, b[0], 4, x, y, &err), 0);
    CU_ASSERT(rows_match(x, y, b[0], 4, 0.5f));
    io_packed_close(p);
}

/* A CSV loaded in memory and its packed copy give the same floats, raw
 * and standardised, and the same moments. */
static void test_same_as_memory(void)
{
    const char *csv = cu_tmp_path("m.csv"), *dir = cu_tmp_path("mp");
    const char *text = "a,b,c,t\n1.5,2,-3,0\n4,5.25,6,1\n-7,8,9.125,2\n"
                       "10,-11,12,0\n0.1,0.2,0.3,1\n";
    cu_write_bytes(csv, text, strlen(text), 0);
    io_data_cfg cfg = {.format = "csv", .train = (char *)csv, .targets = 1,
                       .target_column = -1, .header = 1, .target = "labels",
                       .normalize = "standardize", .window = 1 << 20};
    io_dataset mem, pk;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&mem, &cfg, IO_SPLIT_TRAIN, 1, 2, &err), 0);
    io_packed_meta m = {.x_type = IO_PK_F32, .y_type = IO_PK_F32,
                        .x_shape = nn_shape_1d(3), .x_width = 3, .y_width = 1,
                        .total = 5};
    io_dataset all;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&all, &cfg, IO_SPLIT_TRAIN, 0, 1, &err), 0);
    io_pack_writer *w;
    CU_ASSERT_EQUAL_FATAL(io_pack_begin(&w, dir, &m, 30, &err), 0);
    CU_ASSERT_EQUAL_FATAL(io_pack_add(w, all.x, all.y, 5, csv, 0, &err), 0);
    CU_ASSERT_EQUAL_FATAL(io_pack_finish(w, &err), 0);
    io_dataset_free(&all);
    io_data_cfg pc = cfg;
    pc.format = "packed";
    pc.train = (char *)dir;
    CU_ASSERT_EQUAL_FATAL(io_dataset_load(&pk, &pc, IO_SPLIT_TRAIN, 1, 2, &err), 0);
    CU_ASSERT_EQUAL(pk.lo, mem.lo);
    CU_ASSERT_EQUAL(pk.hi, mem.hi);
    CU_ASSERT(pk.x == NULL && pk.pk != NULL);
    size_t n = mem.hi - mem.lo, rows[8];
    for (size_t i = 0; i < n; i++) rows[i] = n - 1 - i;
    double s1[3], q1[3], s2[3], q2[3];
    CU_ASSERT_EQUAL(io_dataset_moments(&mem, rows, n, s1, q1, &err), 0);
    CU_ASSERT_EQUAL(io_dataset_moments(&pk, rows, n, s2, q2, &err), 0);
    CU_ASSERT(!memcmp(s1, s2, sizeof s1) && !memcmp(q1, q2, sizeof q1));
    double mean[3] = {1, 2, 3}, sd[3] = {2, 0, 4};
    io_dataset_standardize(&mem, mean, sd);
    io_dataset_standardize(&pk, mean, sd);
    float xa[8 * 3], ya[8], xb[8 * 3], yb[8];
    CU_ASSERT_EQUAL(io_dataset_rows(&mem, rows, n, xa, ya, &err), 0);
    CU_ASSERT_EQUAL(io_dataset_rows(&pk, rows, n, xb, yb, &err), 0);
    CU_ASSERT(!memcmp(xa, xb, n * 3 * sizeof(float)));
    CU_ASSERT(!memcmp(ya, yb, n * sizeof(float)));
    io_dataset_free(&mem);
    io_dataset_free(&pk);
}

/* Token ids and the vocabulary; values a type cannot hold are refused. */
static void test_types(void)
{
    const char *dir = cu_tmp_path("tok");
    io_packed_meta m = {.x_type = IO_PK_TOKEN, .y_type = IO_PK_TOKEN,
                        .x_shape = nn_shape_1d(2), .x_width = 2, .y_width = 2,
                        .total = 2, .vocab_len = 3};
    memcpy(m.vocab, "abc", 3);
    float x[4] = {0, 1, 2, 65535}, y[4] = {1, 2, 0, 1};
    io_pack_writer *w;
    nn_error err;
    CU_ASSERT_EQUAL_FATAL(io_pack_begin(&w, dir, &m, 1 << 20, &err), 0);
    CU_ASSERT_EQUAL_FATAL(io_pack_add(w, x, y, 2, "t", 0, &err), 0);
    CU_ASSERT_EQUAL_FATAL(io_pack_finish(w, &err), 0);
    io_packed *p;
    CU_ASSERT_EQUAL_FATAL(io_packed_open(&p, dir, 1 << 20, &err), 0);
    CU_ASSERT_EQUAL(io_packed_meta_of(p)->vocab_len, 3);
    CU_ASSERT(!memcmp(io_packed_meta_of(p)->vocab, "abc", 3));
    size_t ids[2] = {1, 0};
    float gx[4], gy[4];
    io_packed_tf tf = {0};
    io_packed_setup(p, 0, &tf);
    CU_ASSERT_EQUAL(io_packed_rows(p, ids, 2, gx, gy, &err), 0);
    CU_ASSERT(gx[0] == 2 && gx[1] == 65535 && gx[2] == 0 && gx[3] == 1);
    CU_ASSERT(gy[0] == 0 && gy[1] == 1 && gy[2] == 1 && gy[3] == 2);
    io_packed_close(p);
    m.x_type = m.y_type = IO_PK_U8;
    m.vocab_len = 0;
    float bad[4] = {1, 2.5f, 3, 4};
    CU_ASSERT_EQUAL_FATAL(io_pack_begin(&w, cu_tmp_path("u8bad"), &m, 64, &err), 0);
    CU_ASSERT_EQUAL(io_pack_add(w, bad, y, 2, "src.idx", 7, &err), NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "src.idx: row 7"));
    io_pack_finish(w, NULL);
}

/* ---- damaged directories ---------------------------------------------- */

static void patch(const char *path, long off, const void *b, size_t n)
{
    FILE *f = fopen(path, "r+b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, off, SEEK_SET);
    fwrite(b, 1, n, f);
    fclose(f);
}

static void put32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Set a shard's header field (u32 at off) and repair the header CRC. */
static void patch_header(const char *path, long off, uint32_t v)
{
    unsigned char h[64];
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL_FATAL(fread(h, 1, 64, f), 64);
    fclose(f);
    put32le(h + off, v);
    put32le(h + 60, (uint32_t)crc32(0, h, 60));
    patch(path, 0, h, 64);
}

/* open (and verify, when `verify`) must fail with NN_EXIT_DATA naming
 * `file` and saying `what`. */
static void expect_bad(const char *dir, int verify, const char *file,
                       const char *what)
{
    nn_error err = {0};
    io_packed *p = NULL;
    size_t rows;
    int st = verify ? io_packed_verify(dir, &rows, &err)
                    : io_packed_open(&p, dir, 1 << 20, &err);
    CU_ASSERT_EQUAL(st, NN_EXIT_DATA);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, file));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, what));
    if (!strstr(err.msg, file) || !strstr(err.msg, what))
        printf("\n  message: %s\n", err.msg);
}

static const char *fresh(const char *name, char *shard, size_t cap)
{
    const char *dir = cu_tmp_path(name);
    write_u8(dir, 4);
    snprintf(shard, cap, "%s/shard-000001.bin", dir);
    return dir;
}

static void test_damaged(void)
{
    char sh[512], ix[512];
    /* a flipped payload byte: only a full read finds it */
    const char *dir = fresh("flip", sh, sizeof sh);
    unsigned char b = 0xff;
    patch(sh, 64 + 3, &b, 1);
    nn_error err;
    io_packed *p;
    CU_ASSERT_EQUAL(io_packed_open(&p, dir, 1 << 20, &err), 0);
    io_packed_close(p);
    expect_bad(dir, 1, sh, "CRC");
    /* a flipped header byte */
    dir = fresh("fliph", sh, sizeof sh);
    patch(sh, 50, &b, 1);
    expect_bad(dir, 0, sh, "header CRC");
    /* truncated */
    dir = fresh("trunc", sh, sizeof sh);
    CU_ASSERT_EQUAL(truncate(sh, 64 + 10), 0);
    expect_bad(dir, 0, sh, "truncated");
    /* missing */
    dir = fresh("missing", sh, sizeof sh);
    CU_ASSERT_EQUAL(unlink(sh), 0);
    expect_bad(dir, 0, sh, "cannot open");
    /* a shard of another dataset: rows disagree with the index */
    dir = fresh("disagree", sh, sizeof sh);
    char other[512];
    snprintf(other, sizeof other, "%s/shard-000001.bin", dir);
    patch_header(sh, 48, 3); /* row count 3 instead of 4, CRC repaired */
    snprintf(ix, sizeof ix, "%s/index", dir);
    expect_bad(dir, 0, sh, "row count disagrees");
    /* a newer version: shard, then index */
    dir = fresh("newer", sh, sizeof sh);
    patch_header(sh, 8, IO_PACKED_VERSION + 1);
    expect_bad(dir, 0, sh, "version 2");
    dir = fresh("newerix", sh, sizeof sh);
    snprintf(ix, sizeof ix, "%s/index", dir);
    unsigned char v[4];
    put32le(v, IO_PACKED_VERSION + 1);
    patch(ix, 8, v, 4);
    expect_bad(dir, 0, ix, "version 2");
    /* a damaged index */
    dir = fresh("ixflip", sh, sizeof sh);
    snprintf(ix, sizeof ix, "%s/index", dir);
    patch(ix, 60, &b, 1);
    expect_bad(dir, 0, ix, "index CRC");
    (void)other;
}

static const cu_test rw_tests[] = {
    {"round trip across shards", test_roundtrip},
    {"prefetch window", test_prefetch},
    {"same floats as in memory", test_same_as_memory},
    {"token ids, f32, refused values", test_types},
    {NULL, NULL}};
static const cu_test bad_tests[] = {{"damaged directories", test_damaged},
                                    {NULL, NULL}};
static const cu_suite suites[] = {{"packed", rw_tests},
                                  {"damaged", bad_tests},
                                  {NULL, NULL}};

int main(void)
{
    return cu_main("io_test_packed", suites);
}

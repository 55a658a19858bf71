/* tests/io/test_ckpt.c - checkpoints (io/ckpt.c): bit-exact round trip of
 * every field, the byte layout of docs/CHECKPOINT.md, detection of
 * truncation / flipped bytes / bad magic / future versions / impossible
 * counts, and crash-safe overwrite (a failed write keeps the old file).
 * Also prints (not asserted) compression ratio and throughput. */
#include <dirent.h>    /* opendir, readdir */
#include <errno.h>     /* EFBIG */
#include <signal.h>    /* signal, SIGXFSZ */
#include <stdint.h>    /* uint8_t, uint64_t */
#include <stdio.h>     /* FILE, snprintf, printf */
#include <stdlib.h>    /* malloc, free, getenv */
#include <string.h>    /* memcmp, memcpy, strstr, strerror */
#include <sys/resource.h> /* setrlimit, RLIMIT_FSIZE */
#include <sys/stat.h>  /* stat, mkdir */
#include <sys/wait.h>  /* waitpid */
#include <time.h>      /* clock_gettime */
#include <unistd.h>    /* fork, _exit */
#include <zlib.h>      /* crc32, for hand-made headers */

#include "io/ckpt.h"
#include "nn/rng.h"
#include "tests/cu.h"

#define BIG_PARAMS 235146u /* the size of a small MLP, e.g. 784-300-10 */

/* Byte offsets of docs/CHECKPOINT.md, restated here so that the test checks
 * the document and not just the writer against its own reader. */
enum {
    OFF_VERSION = 8, OFF_HLEN = 12, OFF_HASH = 16, OFF_WORLD = 24,
    OFF_OPTIM_KIND = 28, OFF_EPOCH = 32, OFF_STEP_IN_EPOCH = 40,
    OFF_GLOBAL_STEP = 48, OFF_OPTIM_T = 56, OFF_BEST_METRIC = 64,
    OFF_BEST_EPOCH = 72, OFF_BAD_EPOCHS = 80, OFF_N_PARAMS = 88,
    OFF_N_STATE = 96, OFF_CONFIG_LEN = 104, OFF_EXTRA_LEN = 112,
    OFF_N_RNG = 120, OFF_SHUFFLE = 124, OFF_RNG = 128
};

/* ---- helpers ------------------------------------------------------------ */

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void set_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void set_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* cu_tmpdir()/name into buf. */
static const char *tpath(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", cu_tmpdir(), name);
    return buf;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        fclose(f);
        return NULL;
    }
    *len = (size_t)st.st_size;
    uint8_t *b = malloc(*len ? *len : 1);
    if (b && fread(b, 1, *len, f) != *len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static int spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(b, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static char *xdup(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* A checkpoint with every field set from `seed`: params ~ normal(0, 0.05)
 * plus special values (-0, NaN with payload, inf, subnormal), `slots`
 * optimizer-state slots of n_params each (a stretch of them zero), config
 * text, an extra blob containing every byte value, n_rng generator states.
 * Free with io_ckpt_free. */
static void make_ckpt(io_ckpt *c, uint64_t seed, size_t n_params, size_t slots,
                      uint32_t n_rng)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    memset(c, 0, sizeof *c);
    c->model_hash = nn_rng_next(&r);
    c->world_size = 4;
    c->epoch = 7 + seed;
    c->step_in_epoch = 123;
    c->global_step = (1ull << 40) + seed;
    c->optim_kind = 1;
    c->optim_t = (1ull << 33) + 5;
    c->best_metric = 0.1234567890123 + (double)seed;
    c->best_epoch = 5;
    c->bad_epochs = 2;
    c->n_rng = n_rng;
    for (uint32_t i = 0; i < n_rng; i++)
        for (int w = 0; w < 4; w++) c->rng[i][w] = nn_rng_next(&r);
    char cfg[256];
    int n = snprintf(cfg, sizeof cfg,
                     "model:\n  - {type: dense, units: 300}\nseed: %llu\n",
                     (unsigned long long)seed);
    c->config = xdup(cfg, (size_t)n);
    c->config_len = (size_t)n;
    c->extra_len = 300;
    c->extra = malloc(c->extra_len);
    for (size_t i = 0; i < c->extra_len; i++)
        c->extra[i] = (char)(uint8_t)(i * 7 + seed);
    c->n_params = n_params;
    c->params = malloc((n_params ? n_params : 1) * sizeof(float));
    for (size_t i = 0; i < n_params; i++)
        c->params[i] = (float)(0.05 * nn_rng_normal(&r));
    if (n_params >= 8) {
        uint32_t nan_bits = 0x7fc01234u;
        memcpy(&c->params[1], &nan_bits, 4);
        c->params[2] = -0.0f;
        c->params[3] = 1.0f / 0.0f;
        c->params[4] = 1e-42f; /* subnormal */
    }
    c->n_state = slots * n_params;
    c->state = malloc((c->n_state ? c->n_state : 1) * sizeof(float));
    for (size_t i = 0; i < c->n_state; i++) {
        double g = 1e-3 * nn_rng_normal(&r);
        c->state[i] = (float)(i < n_params ? g : g * g); /* Adam m, then v */
    }
    /* zeros, as a frozen layer's state: the writer deflates their low
     * byte planes, where it stores the random ones */
    for (size_t i = n_params / 4; i < n_params / 2 && i < c->n_state; i++)
        c->state[i] = 0.0f;
}

static void assert_same(const io_ckpt *a, const io_ckpt *b)
{
    CU_ASSERT_EQUAL(a->model_hash, b->model_hash);
    CU_ASSERT_EQUAL(a->world_size, b->world_size);
    CU_ASSERT_EQUAL(a->epoch, b->epoch);
    CU_ASSERT_EQUAL(a->step_in_epoch, b->step_in_epoch);
    CU_ASSERT_EQUAL(a->global_step, b->global_step);
    CU_ASSERT_EQUAL(a->optim_kind, b->optim_kind);
    CU_ASSERT_EQUAL(a->optim_t, b->optim_t);
    CU_ASSERT_EQUAL(memcmp(&a->best_metric, &b->best_metric, sizeof(double)), 0);
    CU_ASSERT_EQUAL(a->best_epoch, b->best_epoch);
    CU_ASSERT_EQUAL(a->bad_epochs, b->bad_epochs);
    CU_ASSERT_EQUAL_FATAL(a->n_rng, b->n_rng);
    CU_ASSERT_EQUAL(memcmp(a->rng, b->rng, a->n_rng * sizeof a->rng[0]), 0);
    CU_ASSERT_EQUAL_FATAL(a->config_len, b->config_len);
    if (a->config_len)
        CU_ASSERT_EQUAL(memcmp(a->config, b->config, a->config_len), 0);
    CU_ASSERT_EQUAL_FATAL(a->extra_len, b->extra_len);
    if (a->extra_len)
        CU_ASSERT_EQUAL(memcmp(a->extra, b->extra, a->extra_len), 0);
    CU_ASSERT_EQUAL_FATAL(a->n_params, b->n_params);
    CU_ASSERT_EQUAL_FATAL(a->n_state, b->n_state);
    if (a->n_params)
        CU_ASSERT_EQUAL(memcmp(a->params, b->params, a->n_params * 4), 0);
    if (a->n_state)
        CU_ASSERT_EQUAL(memcmp(a->state, b->state, a->n_state * 4), 0);
}

static int is_zeroed(const io_ckpt *c)
{
    io_ckpt z;
    memset(&z, 0, sizeof z);
    return memcmp(c, &z, sizeof z) == 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Read `path`, expecting failure: returns 1 when the read failed cleanly
 * (NN_EXIT_DATA, nothing left allocated, message starting with the path
 * and containing `word`). Prints the message otherwise. */
static int read_fails(const char *path, const char *word)
{
    io_ckpt c;
    nn_error err = {0, ""};
    int rc = io_ckpt_read(path, &c, &err);
    int ok = rc == NN_EXIT_DATA && err.code == NN_EXIT_DATA && is_zeroed(&c) &&
             starts_with(err.msg, path) && strstr(err.msg, word) != NULL;
    if (!ok)
        printf("\n  read of %s: rc %d, want '%s', got '%s'\n", path, rc, word,
               err.msg);
    if (rc == NN_OK) io_ckpt_free(&c);
    return ok;
}

/* Bytes covered by the header CRC: prefix, fields, config, extra. */
static size_t header_crc_span(const uint8_t *b)
{
    return 16 + le32(b + OFF_HLEN) + (size_t)le64(b + OFF_CONFIG_LEN) +
           (size_t)le64(b + OFF_EXTRA_LEN);
}

/* Recompute the header CRC after a hand edit (lengths still the real
 * ones), so that only the edited field is wrong. */
static void fix_header_crc(uint8_t *b, size_t span)
{
    set_le32(b + span, (uint32_t)crc32(0, b, (uInt)span));
}

/* ---- round trips -------------------------------------------------------- */

static void test_roundtrip_big(void)
{
    char path[512];
    tpath(path, sizeof path, "big.ckpt");
    io_ckpt a, b;
    nn_error err = {0, ""};
    make_ckpt(&a, 1, BIG_PARAMS, 2, 3);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(io_ckpt_last_bytes(), (size_t)st.st_size);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_same(&a, &b);
    CU_ASSERT_EQUAL(b.config[b.config_len], '\0');
    /* AXON_CKPT_SAMPLE=file keeps a copy for the Python reader of
     * docs/CHECKPOINT.md. */
    const char *keep = getenv("AXON_CKPT_SAMPLE");
    if (keep && *keep) CU_ASSERT_EQUAL(io_ckpt_write(keep, &a, &err), NN_OK);
    io_ckpt_free(&a);
    io_ckpt_free(&b);
    CU_ASSERT(is_zeroed(&b));
}

static void test_roundtrip_empty(void)
{
    char path[512];
    tpath(path, sizeof path, "empty.ckpt");
    io_ckpt a, b;
    nn_error err = {0, ""};
    memset(&a, 0, sizeof a);
    a.epoch = 3;
    a.best_metric = -1.0 / 0.0;
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_same(&a, &b);
    CU_ASSERT_PTR_NOT_NULL(b.config); /* always a NUL-terminated string */
    CU_ASSERT_PTR_NULL(b.params);
    CU_ASSERT_PTR_NULL(b.state);
    CU_ASSERT_PTR_NULL(b.extra);
    io_ckpt_free(&b);
}

/* Every rng slot used, odd sizes (not a multiple of the 64 KiB chunk), a
 * state arena larger than the params. */
static void test_roundtrip_max_rng(void)
{
    char path[512];
    tpath(path, sizeof path, "rng.ckpt");
    io_ckpt a, b;
    nn_error err = {0, ""};
    make_ckpt(&a, 2, 16385, 3, IO_CKPT_MAX_RNG);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_same(&a, &b);
    io_ckpt_free(&a);
    io_ckpt_free(&b);
}

/* The payload deflated in parts (as ranks share it out: 2 and 3 parts, and
 * more parts than segments, so some are empty) gives the very bytes of the
 * one-part write, and reads back. */
static void test_parts_same_bytes(void)
{
    char path[512], ppath[512];
    tpath(path, sizeof path, "whole.ckpt");
    tpath(ppath, sizeof ppath, "parts.ckpt");
    io_ckpt a, b;
    nn_error err = {0, ""};
    make_ckpt(&a, 4, BIG_PARAMS, 2, 1);
    size_t nseg = io_ckpt_segments(&a), whole_len, len;
    CU_ASSERT_TRUE_FATAL(nseg > 3); /* params and state span segments */
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    uint8_t *whole = slurp(path, &whole_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(whole);
    const size_t splits[] = {2, 3, 16};
    for (size_t t = 0; t < sizeof splits / sizeof splits[0]; t++) {
        size_t p = splits[t];
        io_ckpt_part parts[16];
        for (size_t k = 0; k < p; k++)
            io_ckpt_deflate(&a, nseg * k / p, nseg * (k + 1) / p - nseg * k / p,
                            &parts[k]);
        CU_ASSERT_EQUAL_FATAL(io_ckpt_write_parts(ppath, &a, parts, p, &err), NN_OK);
        uint8_t *got = slurp(ppath, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_TRUE(len == whole_len && memcmp(got, whole, len) == 0);
        free(got);
        CU_ASSERT_EQUAL_FATAL(io_ckpt_read(ppath, &b, &err), NN_OK);
        assert_same(&a, &b);
        io_ckpt_free(&b);
        for (size_t k = 0; k < p; k++) io_ckpt_part_free(&parts[k]);
    }
    free(whole);
    io_ckpt_free(&a);
}

/* The bytes on disk are where docs/CHECKPOINT.md says they are. */
static void test_layout_matches_doc(void)
{
    char path[512];
    tpath(path, sizeof path, "layout.ckpt");
    io_ckpt a;
    nn_error err = {0, ""};
    make_ckpt(&a, 3, 10000, 2, 2); /* 120 kB: two shuffle runs */
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    size_t len;
    uint8_t *b = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(memcmp(b, "AXONCKPT", 8), 0);
    CU_ASSERT_EQUAL(le32(b + OFF_VERSION), 2);
    CU_ASSERT_EQUAL(le32(b + OFF_HLEN), 112 + 32 * 2);
    CU_ASSERT_EQUAL(le64(b + OFF_HASH), a.model_hash);
    CU_ASSERT_EQUAL(le32(b + OFF_WORLD), a.world_size);
    CU_ASSERT_EQUAL(le32(b + OFF_OPTIM_KIND), a.optim_kind);
    CU_ASSERT_EQUAL(le64(b + OFF_EPOCH), a.epoch);
    CU_ASSERT_EQUAL(le64(b + OFF_STEP_IN_EPOCH), a.step_in_epoch);
    CU_ASSERT_EQUAL(le64(b + OFF_GLOBAL_STEP), a.global_step);
    CU_ASSERT_EQUAL(le64(b + OFF_OPTIM_T), a.optim_t);
    uint64_t bm;
    memcpy(&bm, &a.best_metric, 8);
    CU_ASSERT_EQUAL(le64(b + OFF_BEST_METRIC), bm);
    CU_ASSERT_EQUAL(le64(b + OFF_BEST_EPOCH), a.best_epoch);
    CU_ASSERT_EQUAL(le64(b + OFF_BAD_EPOCHS), a.bad_epochs);
    CU_ASSERT_EQUAL(le64(b + OFF_N_PARAMS), a.n_params);
    CU_ASSERT_EQUAL(le64(b + OFF_N_STATE), a.n_state);
    CU_ASSERT_EQUAL(le64(b + OFF_CONFIG_LEN), a.config_len);
    CU_ASSERT_EQUAL(le64(b + OFF_EXTRA_LEN), a.extra_len);
    CU_ASSERT_EQUAL(le32(b + OFF_N_RNG), 2);
    CU_ASSERT_EQUAL(le32(b + OFF_SHUFFLE), 65536);
    CU_ASSERT_EQUAL(le64(b + OFF_RNG + 32 + 24), a.rng[1][3]);
    size_t o = 16 + 112 + 64;
    CU_ASSERT_EQUAL(memcmp(b + o, a.config, a.config_len), 0);
    o += a.config_len;
    CU_ASSERT_EQUAL(memcmp(b + o, a.extra, a.extra_len), 0);
    o += a.extra_len;
    CU_ASSERT_EQUAL(le32(b + o), (uint32_t)crc32(0, b, (uInt)o));
    o += 4;
    uint64_t comp = le64(b + o), raw = le64(b + o + 8);
    CU_ASSERT_EQUAL(raw, 4 * (a.n_params + a.n_state));
    CU_ASSERT_EQUAL_FATAL(o + 16 + comp + 4, len);
    /* The payload is a plain zlib stream of little-endian float32, the
     * bytes of every 65536-byte run grouped by significance. */
    uint8_t *out = malloc(raw);
    uLongf outlen = (uLongf)raw;
    CU_ASSERT_EQUAL_FATAL(uncompress(out, &outlen, b + o + 16, (uLong)comp), Z_OK);
    CU_ASSERT_EQUAL(outlen, raw);
    CU_ASSERT_EQUAL(le32(b + len - 4), (uint32_t)crc32(0, out, (uInt)raw));
    size_t bad = 0;
    for (size_t run = 0; run < raw; run += 65536) {
        size_t n = (raw - run < 65536 ? raw - run : 65536) / 4;
        for (size_t j = 0; j < n; j++) {
            size_t i = run / 4 + j;
            const float *f = i < a.n_params ? &a.params[i] : &a.state[i - a.n_params];
            uint32_t bits, got = 0;
            memcpy(&bits, f, 4);
            for (int k = 0; k < 4; k++) got |= (uint32_t)out[run + k * n + j] << (8 * k);
            bad += got != bits;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(out);
    free(b);
    io_ckpt_free(&a);
}

/* A version-1 file (no shuffling; offset 124 reserved, 0), as axon wrote
 * before version 2, still reads: made here from a version-2 file by
 * unshuffling and recompressing its payload. */
static void test_reads_version1(void)
{
    char path[512];
    io_ckpt a, b;
    nn_error err = {0, ""};
    make_ckpt(&a, 5, 30000, 1, 1); /* 240 kB: four runs, the last short */
    tpath(path, sizeof path, "v1.ckpt");
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    size_t len;
    uint8_t *f = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t o = header_crc_span(f) + 4; /* the payload lengths */
    uint64_t raw = le64(f + o + 8);
    uint8_t *plain = malloc(raw), *v1 = malloc(o + 16 + 2 * raw + 64);
    uLongf n = (uLongf)raw, comp = (uLongf)(2 * raw + 48);
    uint8_t *shuf = malloc(raw);
    CU_ASSERT_EQUAL_FATAL(uncompress(shuf, &n, f + o + 16, (uLong)le64(f + o)), Z_OK);
    for (size_t run = 0; run < raw; run += 65536) {
        size_t m = (raw - run < 65536 ? raw - run : 65536) / 4;
        for (size_t j = 0; j < m; j++)
            for (size_t k = 0; k < 4; k++)
                plain[run + 4 * j + k] = shuf[run + k * m + j];
    }
    memcpy(v1, f, o);
    set_le32(v1 + OFF_VERSION, 1);
    set_le32(v1 + OFF_SHUFFLE, 0);
    fix_header_crc(v1, o - 4);
    CU_ASSERT_EQUAL_FATAL(compress2(v1 + o + 16, &comp, plain, (uLong)raw, 6), Z_OK);
    set_le64(v1 + o, comp);
    set_le64(v1 + o + 8, raw);
    set_le32(v1 + o + 16 + comp, (uint32_t)crc32(0, plain, (uInt)raw));
    CU_ASSERT_EQUAL_FATAL(spit(path, v1, o + 16 + comp + 4), 0);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_same(&a, &b);
    io_ckpt_free(&b);
    /* and an impossible run length in a version-2 header is refused */
    set_le32(f + OFF_SHUFFLE, 6);
    fix_header_crc(f, o - 4);
    CU_ASSERT_EQUAL_FATAL(spit(path, f, len), 0);
    CU_ASSERT(read_fails(path, "byte-shuffle"));
    free(f), free(plain), free(v1), free(shuf);
    io_ckpt_free(&a);
}

static void test_overwrite_replaces(void)
{
    char path[512];
    tpath(path, sizeof path, "over.ckpt");
    io_ckpt a, b, r;
    nn_error err = {0, ""};
    make_ckpt(&a, 4, BIG_PARAMS, 2, 3);
    make_ckpt(&b, 5, 777, 1, 1);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &b, &err), NN_OK);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(io_ckpt_last_bytes(), (size_t)st.st_size);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &r, &err), NN_OK);
    assert_same(&b, &r);
    io_ckpt_free(&a);
    io_ckpt_free(&b);
    io_ckpt_free(&r);
}

/* ---- corruption --------------------------------------------------------- */

/* Write a checkpoint, return its bytes. */
static uint8_t *written(const char *path, uint64_t seed, size_t n_params,
                        size_t slots, size_t *len)
{
    io_ckpt a;
    nn_error err = {0, ""};
    make_ckpt(&a, seed, n_params, slots, 2);
    int rc = io_ckpt_write(path, &a, &err);
    io_ckpt_free(&a);
    return rc == NN_OK ? slurp(path, len) : NULL;
}

/* Truncate at `off` and expect a clean "truncated" failure (an empty file
 * is simply not a checkpoint). */
static int truncated_fails(const char *path, const uint8_t *b, size_t off)
{
    if (spit(path, b, off) != 0) return 0;
    return read_fails(path, off == 0 ? "bad magic" : "truncated");
}

static void test_truncate_small_every_offset(void)
{
    char src[512], path[512];
    size_t len = 0, bad = 0;
    uint8_t *b = written(tpath(src, sizeof src, "tsmall.ckpt"), 6, 40, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    tpath(path, sizeof path, "tsmall.cut");
    for (size_t off = 0; off < len; off++) bad += !truncated_fails(path, b, off);
    CU_ASSERT_EQUAL(bad, 0);
    free(b);
}

static void test_truncate_big_spread(void)
{
    char src[512], path[512];
    size_t len = 0, bad = 0;
    uint8_t *b = written(tpath(src, sizeof src, "tbig.ckpt"), 7, BIG_PARAMS, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    tpath(path, sizeof path, "tbig.cut");
    for (size_t k = 0; k < 50; k++) bad += !truncated_fails(path, b, k * (len / 50));
    size_t tail[] = {len - 1, len - 4, len - 5, len / 2 + 1};
    for (size_t k = 0; k < sizeof tail / sizeof tail[0]; k++)
        bad += !truncated_fails(path, b, tail[k]);
    CU_ASSERT_EQUAL(bad, 0);
    free(b);
}

/* One flipped-byte experiment over the bytes of a good checkpoint. */
typedef struct flip_run {
    const char *path;     /* where the damaged copy is written */
    uint8_t *b;           /* the good file */
    size_t len;
    size_t stream_begin;  /* [begin, end): the zlib stream */
    size_t stream_end;
    const io_ckpt *orig;  /* what the good file holds */
    size_t benign;        /* flips of bits deflate ignores (see below) */
    size_t bad;           /* flips that were missed or misreported */
} flip_run;

static int same_content(const io_ckpt *a, const io_ckpt *b)
{
    return a->n_params == b->n_params && a->n_state == b->n_state &&
           memcmp(a->params, b->params, 4 * a->n_params) == 0 &&
           memcmp(a->state, b->state, 4 * a->n_state) == 0;
}

/* Flip byte `pos` with `mask`; the read must fail naming the cause: magic,
 * version, or (anywhere else) "corrupt". The one exception: a deflate
 * stream has a few bits no decoder reads (the padding after a stored
 * block's 3-bit header, the bits after the final end-of-block code); a flip
 * there changes nothing, so a read that succeeds with bit-identical
 * contents is counted as benign, not as a miss. */
static void flip_check(flip_run *f, size_t pos, uint8_t mask)
{
    f->b[pos] ^= mask;
    int w = spit(f->path, f->b, f->len);
    f->b[pos] ^= mask;
    if (w != 0) {
        f->bad++;
        return;
    }
    const char *word = pos < 8 ? "bad magic" : pos < 12 ? "version" : "corrupt";
    io_ckpt c;
    nn_error err = {0, ""};
    if (io_ckpt_read(f->path, &c, &err) == NN_OK) {
        int in_stream = pos >= f->stream_begin && pos < f->stream_end;
        if (in_stream && same_content(&c, f->orig)) {
            f->benign++;
        } else {
            f->bad++;
            printf("\n  byte %zu ^ 0x%02x went undetected", pos, mask);
        }
        io_ckpt_free(&c);
        return;
    }
    if (!read_fails(f->path, word)) {
        f->bad++;
        printf("  (byte %zu of %zu ^ 0x%02x)\n", pos, f->len, mask);
    }
}

static flip_run flip_setup(const char *path, uint8_t *b, size_t len,
                           const io_ckpt *orig)
{
    flip_run f = {path, b, len, 0, 0, orig, 0, 0};
    f.stream_begin = header_crc_span(b) + 4 + 16;
    f.stream_end = len - 4;
    return f;
}

static void test_flip_small_every_byte(void)
{
    char src[512], path[512];
    size_t len = 0;
    io_ckpt orig;
    make_ckpt(&orig, 8, 40, 2, 2);
    uint8_t *b = written(tpath(src, sizeof src, "fsmall.ckpt"), 8, 40, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    flip_run f = flip_setup(tpath(path, sizeof path, "fsmall.bad"), b, len, &orig);
    for (size_t pos = 0; pos < len; pos++) {
        flip_check(&f, pos, 0x01);
        flip_check(&f, pos, 0x80);
    }
    CU_ASSERT_EQUAL(f.bad, 0);
    CU_ASSERT(f.benign <= 2);
    free(b);
    io_ckpt_free(&orig);
}

static void test_flip_big_header_and_payload(void)
{
    char src[512], path[512];
    size_t len = 0;
    io_ckpt orig;
    make_ckpt(&orig, 9, BIG_PARAMS, 2, 2);
    uint8_t *b = written(tpath(src, sizeof src, "fbig.ckpt"), 9, BIG_PARAMS, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    flip_run f = flip_setup(tpath(path, sizeof path, "fbig.bad"), b, len, &orig);
    for (size_t pos = 0; pos < f.stream_begin; pos++) /* header, lengths */
        flip_check(&f, pos, 0x10);
    size_t span = f.stream_end - f.stream_begin;
    for (size_t k = 0; k < 100; k++) /* spread over the compressed stream */
        flip_check(&f, f.stream_begin + k * (span / 100), 0x04);
    for (size_t pos = len - 8; pos < len; pos++) /* adler32, payload CRC */
        flip_check(&f, pos, 0x01);
    CU_ASSERT_EQUAL(f.bad, 0);
    CU_ASSERT(f.benign <= 2);
    free(b);
    io_ckpt_free(&orig);
}

static void test_trailing_garbage(void)
{
    char src[512], path[512];
    size_t len = 0;
    uint8_t *b = written(tpath(src, sizeof src, "trail.ckpt"), 10, 100, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    uint8_t *g = calloc(len + 100, 1);
    memcpy(g, b, len);
    tpath(path, sizeof path, "trail.bad");
    CU_ASSERT_EQUAL(spit(path, g, len + 1), 0);
    CU_ASSERT(read_fails(path, "1 bytes of trailing garbage"));
    CU_ASSERT_EQUAL(spit(path, g, len + 100), 0);
    CU_ASSERT(read_fails(path, "100 bytes of trailing garbage"));
    free(g);
    free(b);
}

static void test_bad_magic_and_missing(void)
{
    char src[512], path[512];
    size_t len = 0;
    uint8_t *b = written(tpath(src, sizeof src, "magic.ckpt"), 11, 10, 0, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    tpath(path, sizeof path, "magic.bad");
    b[7] = 'X';
    CU_ASSERT_EQUAL(spit(path, b, len), 0);
    CU_ASSERT(read_fails(path, "not an axon checkpoint (bad magic)"));
    CU_ASSERT_EQUAL(spit(path, (const uint8_t *)"hello\n", 6), 0);
    CU_ASSERT(read_fails(path, "not an axon checkpoint (bad magic)"));
    tpath(path, sizeof path, "no-such.ckpt");
    CU_ASSERT(read_fails(path, "No such file or directory"));
    CU_ASSERT(read_fails(cu_tmpdir(), "not a regular file (a directory)"));
    free(b);
}

static void test_future_version(void)
{
    char src[512], path[512];
    size_t len = 0;
    uint8_t *b = written(tpath(src, sizeof src, "ver.ckpt"), 12, 10, 1, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    set_le32(b + OFF_VERSION, 3);
    fix_header_crc(b, header_crc_span(b));
    tpath(path, sizeof path, "ver.bad");
    CU_ASSERT_EQUAL(spit(path, b, len), 0);
    CU_ASSERT(read_fails(path, ": written by a newer axon: format version 3, "
                               "this build reads up to 2"));
    free(b);
}

/* Hand-made headers with a valid CRC but absurd counts must fail on the
 * size checks, before any allocation (nn_xalloc_floats would abort or
 * touch every byte of an allocation that size). */
static void test_huge_counts(void)
{
    char src[512], path[512];
    size_t len = 0;
    uint8_t *orig = written(tpath(src, sizeof src, "huge.ckpt"), 13, 50, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
    uint8_t *b = malloc(len);
    size_t span = header_crc_span(orig), lens = span + 4;
    tpath(path, sizeof path, "huge.bad");
    struct {
        uint64_t n_params, n_state, raw; /* raw 0: keep the real one */
        const char *word;
    } cases[] = {
        {1ull << 60, 100, 0, "payload length does not match"},
        {1ull << 60, 0, 1ull << 62, "exceeds what its compressed size"},
        {1ull << 33, 0, 1ull << 35, "exceeds what its compressed size"},
        {1ull << 62, 0, 0, "impossibly large"},
        {1ull << 61, 1ull << 61, 0, "impossibly large"},
        {~0ull, ~0ull, ~0ull, "impossibly large"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(b, orig, len);
        set_le64(b + OFF_N_PARAMS, cases[k].n_params);
        set_le64(b + OFF_N_STATE, cases[k].n_state);
        if (cases[k].raw) set_le64(b + lens + 8, cases[k].raw);
        fix_header_crc(b, span);
        CU_ASSERT_EQUAL(spit(path, b, len), 0);
        CU_ASSERT(read_fails(path, cases[k].word));
    }
    /* Huge config / extra / compressed lengths: checked against the file
     * size (the CRC is never reached). */
    uint64_t huge[] = {1ull << 60, ~0ull, len};
    for (size_t k = 0; k < 3; k++) {
        memcpy(b, orig, len);
        set_le64(b + OFF_CONFIG_LEN, huge[k]);
        CU_ASSERT_EQUAL(spit(path, b, len), 0);
        CU_ASSERT(read_fails(path, "truncated or corrupt"));
        memcpy(b, orig, len);
        set_le64(b + OFF_EXTRA_LEN, huge[k]);
        CU_ASSERT_EQUAL(spit(path, b, len), 0);
        CU_ASSERT(read_fails(path, "truncated or corrupt"));
        memcpy(b, orig, len);
        set_le64(b + lens, huge[k]);
        CU_ASSERT_EQUAL(spit(path, b, len), 0);
        CU_ASSERT(read_fails(path, "truncated or corrupt"));
    }
    memcpy(b, orig, len);
    set_le32(b + OFF_HLEN, 0xffffffffu);
    CU_ASSERT_EQUAL(spit(path, b, len), 0);
    CU_ASSERT(read_fails(path, "header length 4294967295 is impossible"));
    free(b);
    free(orig);
}

/* ---- failed writes keep the previous checkpoint ------------------------- */

/* Number of "<anything>.tmp.<pid>" files left in dir. */
static int temporaries_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void test_write_missing_dir(void)
{
    char path[512];
    tpath(path, sizeof path, "no-such-dir/x.ckpt");
    io_ckpt a;
    nn_error err = {0, ""};
    make_ckpt(&a, 14, 10, 1, 1);
    CU_ASSERT_EQUAL(io_ckpt_write(path, &a, &err), NN_EXIT_DATA);
    CU_ASSERT_EQUAL(err.code, NN_EXIT_DATA);
    CU_ASSERT(starts_with(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ": cannot write checkpoint: No such "
                                           "file or directory"));
    io_ckpt_free(&a);
}

/* The target is a directory: everything succeeds up to the rename. */
static void test_write_rename_fails(void)
{
    char dir[512], path[600];
    tpath(dir, sizeof dir, "rn");
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/target", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
    io_ckpt a;
    nn_error err = {0, ""};
    make_ckpt(&a, 15, 1000, 1, 1);
    CU_ASSERT_EQUAL(io_ckpt_write(path, &a, &err), NN_EXIT_DATA);
    CU_ASSERT(starts_with(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, strerror(EISDIR)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rename"));
    CU_ASSERT_EQUAL(temporaries_in(dir), 0);
    struct stat st;
    CU_ASSERT(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    io_ckpt_free(&a);
}

/* Child: overwrite `path` under a 64 KiB file-size limit, so write() fails
 * with EFBIG mid-payload. Exit 0 iff the write reported exactly that. */
static void efbig_child(const char *path)
{
    io_ckpt b;
    nn_error err = {0, ""};
    make_ckpt(&b, 17, BIG_PARAMS, 2, 3);
    struct rlimit rl = {64 * 1024, 64 * 1024};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
    int rc = io_ckpt_write(path, &b, &err);
    int ok = rc == NN_EXIT_DATA && starts_with(err.msg, path) &&
             strstr(err.msg, ": cannot write checkpoint: ") &&
             strstr(err.msg, strerror(EFBIG));
    if (!ok) fprintf(stderr, "child: rc %d: %s\n", rc, err.msg);
    _exit(ok ? 0 : 1); /* _exit: skip cu's atexit removal of the tmpdir */
}

static void test_write_failure_keeps_old(void)
{
    char dir[512], path[600];
    tpath(dir, sizeof dir, "efbig");
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/last.ckpt", dir);
    io_ckpt a, r;
    nn_error err = {0, ""};
    make_ckpt(&a, 16, BIG_PARAMS, 2, 3);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    size_t len0 = 0, len1 = 0;
    uint8_t *before = slurp(path, &len0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    CU_ASSERT_FATAL(len0 > 64 * 1024); /* so the limit bites mid-write */
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) efbig_child(path);
    int status = 0;
    CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    uint8_t *after = slurp(path, &len1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(after);
    CU_ASSERT(len0 == len1 && memcmp(before, after, len0) == 0);
    CU_ASSERT_EQUAL(temporaries_in(dir), 0);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &r, &err), NN_OK);
    assert_same(&a, &r);
    io_ckpt_free(&a);
    io_ckpt_free(&r);
    free(before);
    free(after);
}

/* ---- throughput (printed, not asserted) --------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best-of-5 write (incl. fsync + rename + dir fsync) and read. */
static void bench_one(const char *label, size_t slots)
{
    char path[512];
    tpath(path, sizeof path, "bench.ckpt");
    io_ckpt a, r;
    nn_error err = {0, ""};
    make_ckpt(&a, 18, BIG_PARAMS, slots, 3);
    double tw = 1e9, tr = 1e9;
    for (int k = 0; k < 5; k++) {
        double t0 = now_s();
        CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
        double t1 = now_s();
        CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &r, &err), NN_OK);
        double t2 = now_s();
        io_ckpt_free(&r);
        if (t1 - t0 < tw) tw = t1 - t0;
        if (t2 - t1 < tr) tr = t2 - t1;
    }
    double raw = 4.0 * (double)(a.n_params + a.n_state);
    double file = (double)io_ckpt_last_bytes();
    printf("\n  %s: raw %.2f MB -> file %.2f MB (ratio %.3f), "
           "write %.0f MB/s (%.1f ms), read %.0f MB/s (%.1f ms)  ",
           label, raw / 1e6, file / 1e6, raw / file, raw / 1e6 / tw, tw * 1e3,
           raw / 1e6 / tr, tr * 1e3);
    io_ckpt_free(&a);
}

static void test_bench(void)
{
    bench_one("235146 params ~N(0,0.05)", 0);
    bench_one("235146 params + 2 Adam slots", 2);
}

static const cu_test roundtrip_tests[] = {
    {"every field bit-exact, 235146 params + 2 slots", test_roundtrip_big},
    {"empty arenas, no config, no rng", test_roundtrip_empty},
    {"8 rng states, odd sizes", test_roundtrip_max_rng},
    {"payload deflated in parts: same bytes", test_parts_same_bytes},
    {"byte layout matches docs/CHECKPOINT.md", test_layout_matches_doc},
    {"version 1 files still read", test_reads_version1},
    {"overwrite replaces the old checkpoint", test_overwrite_replaces},
    {NULL, NULL}};

static const cu_test corrupt_tests[] = {
    {"truncation at every offset (small)", test_truncate_small_every_offset},
    {"truncation at spread offsets (big)", test_truncate_big_spread},
    {"one flipped byte anywhere (small)", test_flip_small_every_byte},
    {"flipped bytes in header and payload (big)", test_flip_big_header_and_payload},
    {"trailing garbage", test_trailing_garbage},
    {"bad magic, missing file, directory", test_bad_magic_and_missing},
    {"future version", test_future_version},
    {"huge counts fail before allocating", test_huge_counts},
    {NULL, NULL}};

static const cu_test write_fail_tests[] = {
    {"missing directory", test_write_missing_dir},
    {"rename onto a directory", test_write_rename_fails},
    {"EFBIG mid-write keeps the old file", test_write_failure_keeps_old},
    {NULL, NULL}};

static const cu_test bench_tests[] = {
    {"compression ratio and throughput", test_bench},
    {NULL, NULL}};

static const cu_suite suites[] = {
    {"ckpt round trip", roundtrip_tests},
    {"ckpt corruption", corrupt_tests},
    {"ckpt failed writes", write_fail_tests},
    {"ckpt throughput", bench_tests},
    {NULL, NULL}};

int main(void)
{
    return cu_main("io_test_ckpt", suites);
}

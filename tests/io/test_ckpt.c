/* tests/io/test_ckpt.c - checkpoints (io/ckpt.c): bit-exact round trip of
 * every section, the version-3 byte layout (restated here from the format
 * description, so the writer is checked against the document and not just
 * against its own reader), versions 1 and 2 made by hand and read into
 * their sections, io_ckpt_need / io_ckpt_unused, detection of truncation /
 * flipped bytes / bad magic / future versions / impossible counts / bad
 * section tables, and crash-safe overwrite (a failed write keeps the old
 * file). Also prints (not asserted) compression ratio and throughput. */
#include <dirent.h>    /* opendir, readdir */
#include <errno.h>     /* EFBIG */
#include <signal.h>    /* signal, kill, SIGXFSZ, SIGKILL */
#include <stdint.h>    /* uint8_t, uint64_t, SIZE_MAX */
#include <stdio.h>     /* FILE, snprintf, printf */
#include <stdlib.h>    /* malloc, free, getenv */
#include <string.h>    /* memcmp, memcpy, strstr, strerror */
#include <sys/resource.h> /* setrlimit, RLIMIT_FSIZE */
#include <sys/stat.h>  /* stat, mkdir, mkfifo */
#include <sys/wait.h>  /* waitpid */
#include <time.h>      /* clock_gettime, nanosleep */
#include <unistd.h>    /* fork, _exit */
#include <zlib.h>      /* crc32, compress2, uncompress: hand-made files */

#include "io/ckpt.h"
#include "nn/rng.h"
#include "tests/cu.h"

#define BIG_PARAMS 235146u /* the size of a small MLP, e.g. 784-300-10 */
#define RUN_BYTES 65536u   /* the writer's byte-shuffle run */

/* Version 3 (restated from io/ckpt.c): prefix = magic[8], u32 version,
 * u32 header length; header = u32 n_sections, u32 shuffle, then per
 * section u32 name length, name, u32 flags (bit 0: payload), u64 length;
 * then the inline sections' bytes in table order; u32 CRC32 of all of
 * that; u64 comp_len, u64 raw_len, the zlib stream, u32 CRC32 of the raw
 * (shuffled) payload bytes. */
enum { V3_N = 16, V3_SHUFFLE = 20, V3_TABLE = 24 };

/* Versions 1 and 2: byte offsets of the fixed header fields. */
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

/* The bytes of every `run`-byte run of in[0, n) grouped by significance
 * (run 0: a copy). n and run are multiples of 4. */
static void shuffle_bytes(const uint8_t *in, size_t n, size_t run, uint8_t *out)
{
    if (!run) {
        memcpy(out, in, n);
        return;
    }
    for (size_t s = 0; s < n; s += run) {
        size_t m = (n - s < run ? n - s : run) / 4;
        for (size_t j = 0; j < m; j++)
            for (size_t k = 0; k < 4; k++) out[s + k * m + j] = in[s + 4 * j + k];
    }
}

/* ---- checkpoints to write ----------------------------------------------- */

/* The sections of a run, in storage that outlives the write. */
typedef struct fixture {
    io_ckpt c;
    char config[256];
    uint64_t run[4];   /* epoch, step_in_epoch, global_step, world_size */
    uint8_t early[24]; /* f64 best, u64 best_epoch, u64 bad_epochs */
    uint64_t hash, optim[2];
    uint8_t record[300]; /* every byte value */
    uint64_t rng[8][4];
    float *params, *state;
    size_t n_params, n_state;
} fixture;

/* A checkpoint built from `seed`: "config" (text), "run", the payload
 * section "model/params" ~ normal(0, 0.05) plus special values (-0, NaN
 * with payload, inf, subnormal), "early_stop", "model/hash",
 * "model/optim", the payload section "model/state" (`slots` x n_params, a
 * stretch of it zero), "vocab" (every byte value) and "rng" (n_rng x 32
 * bytes, possibly none). Payload and inline sections alternate, so table
 * order matters. Free with fixture_free. */
static void make_ckpt(fixture *f, uint64_t seed, size_t n_params, size_t slots,
                      uint32_t n_rng)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    memset(f, 0, sizeof *f);
    int n = snprintf(f->config, sizeof f->config,
                     "model:\n  - {type: dense, units: 300}\nseed: %llu\n",
                     (unsigned long long)seed);
    f->run[0] = 7 + seed, f->run[1] = 123, f->run[2] = (1ull << 40) + seed;
    f->run[3] = 4;
    double best = 0.1234567890123 + (double)seed;
    uint64_t be = 5, bad = 2;
    memcpy(f->early, &best, 8);
    memcpy(f->early + 8, &be, 8);
    memcpy(f->early + 16, &bad, 8);
    f->hash = nn_rng_next(&r);
    f->optim[0] = 1, f->optim[1] = (1ull << 33) + 5;
    for (size_t i = 0; i < sizeof f->record; i++)
        f->record[i] = (uint8_t)(i * 7 + seed);
    for (uint32_t i = 0; i < n_rng; i++)
        for (int w = 0; w < 4; w++) f->rng[i][w] = nn_rng_next(&r);
    f->n_params = n_params;
    f->params = malloc((n_params ? n_params : 1) * sizeof(float));
    for (size_t i = 0; i < n_params; i++)
        f->params[i] = (float)(0.05 * nn_rng_normal(&r));
    if (n_params >= 8) {
        uint32_t nan_bits = 0x7fc01234u;
        memcpy(&f->params[1], &nan_bits, 4);
        f->params[2] = -0.0f;
        f->params[3] = 1.0f / 0.0f;
        f->params[4] = 1e-42f; /* subnormal */
    }
    f->n_state = slots * n_params;
    f->state = malloc((f->n_state ? f->n_state : 1) * sizeof(float));
    for (size_t i = 0; i < f->n_state; i++) {
        double g = 1e-3 * nn_rng_normal(&r);
        f->state[i] = (float)(i < n_params ? g : g * g); /* Adam m, then v */
    }
    /* zeros, as a frozen layer's state: the writer deflates their low
     * byte planes, where it stores the random ones */
    for (size_t i = n_params / 4; i < n_params / 2 && i < f->n_state; i++)
        f->state[i] = 0.0f;
    io_ckpt *c = &f->c;
    io_ckpt_add(c, "config", f->config, (size_t)n, 0);
    io_ckpt_add(c, "run", f->run, sizeof f->run, 0);
    io_ckpt_add(c, "model/params", f->params, 4 * n_params, 1);
    io_ckpt_add(c, "early_stop", f->early, sizeof f->early, 0);
    io_ckpt_add(c, "model/hash", &f->hash, 8, 0);
    io_ckpt_add(c, "model/optim", f->optim, 16, 0);
    io_ckpt_add(c, "model/state", f->state, 4 * f->n_state, 1);
    io_ckpt_add(c, "vocab", f->record, sizeof f->record, 0);
    io_ckpt_add(c, "rng", f->rng, 32 * (size_t)n_rng, 0);
}

static void fixture_free(fixture *f)
{
    io_ckpt_free(&f->c);
    free(f->params);
    free(f->state);
    f->params = f->state = NULL;
}

/* Whether b holds a's sections: names, kinds, lengths, bytes, in order. */
static int same_sections(const io_ckpt *a, const io_ckpt *b)
{
    if (a->n != b->n) return 0;
    for (size_t k = 0; k < a->n; k++) {
        const io_ckpt_section *x = &a->sec[k], *y = &b->sec[k];
        if (strcmp(x->name, y->name) || x->len != y->len ||
            x->payload != y->payload ||
            (x->len && (!y->data || memcmp(x->data, y->data, x->len))))
            return 0;
    }
    return 1;
}

/* b, just read, holds a's sections (asserted one by one, so a failure
 * names the field). */
static void assert_same(const io_ckpt *a, const io_ckpt *b)
{
    CU_ASSERT_EQUAL(b->version, IO_CKPT_VERSION);
    CU_ASSERT_EQUAL(b->owned, 1);
    CU_ASSERT_EQUAL_FATAL(a->n, b->n);
    for (size_t k = 0; k < a->n; k++) {
        const io_ckpt_section *x = &a->sec[k], *y = &b->sec[k];
        CU_ASSERT_STRING_EQUAL(x->name, y->name);
        CU_ASSERT_EQUAL(x->payload, y->payload);
        CU_ASSERT_EQUAL(y->used, 0);
        CU_ASSERT_EQUAL_FATAL(x->len, y->len);
        if (x->len) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(y->data);
            CU_ASSERT_EQUAL(memcmp(x->data, y->data, x->len), 0);
        } else {
            CU_ASSERT_PTR_NULL(y->data);
        }
    }
    CU_ASSERT_TRUE(same_sections(a, b));
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

/* Write bytes to path and expect read_fails(path, word). */
static int bytes_fail(const char *path, const uint8_t *b, size_t len,
                      const char *word)
{
    return spit(path, b, len) == 0 && read_fails(path, word);
}

/* ---- version 3 by hand -------------------------------------------------- */

/* A section table entry as it goes into a hand-made file: anything may be
 * wrong with it. */
typedef struct entry {
    const char *name; /* name_len bytes */
    uint32_t name_len;
    uint32_t flags;   /* bit 0: payload */
    uint64_t len;     /* declared; data holds as many bytes */
    const void *data;
} entry;

static entry entry_of(const io_ckpt_section *s)
{
    entry e = {s->name, (uint32_t)strlen(s->name), s->payload ? 1u : 0u,
               s->len, s->data};
    return e;
}

/* A version-3 file made from the description above: e[0, n) (n_declared
 * written as the count), the payload sections' bytes shuffled in runs of
 * `run` bytes and deflated by compress2 (any zlib stream is valid). *crc_end
 * receives the offset of the header CRC. */
static uint8_t *v3_file(const entry *e, size_t n, uint32_t n_declared,
                        uint32_t run, size_t *len, size_t *crc_end)
{
    size_t hlen = 8, inl = 0, raw = 0;
    for (size_t k = 0; k < n; k++) {
        hlen += 16 + e[k].name_len;
        if (e[k].flags & 1) raw += (size_t)e[k].len;
        else inl += (size_t)e[k].len;
    }
    uint8_t *plain = malloc(raw + 1), *shuf = malloc(raw + 1);
    uLongf comp = compressBound((uLong)raw);
    uint8_t *b = malloc(16 + hlen + inl + 4 + 16 + comp + 4);
    memcpy(b, "AXONCKPT", 8);
    set_le32(b + 8, 3);
    set_le32(b + 12, (uint32_t)hlen);
    set_le32(b + V3_N, n_declared);
    set_le32(b + V3_SHUFFLE, run);
    size_t o = V3_TABLE, p = 0;
    for (size_t k = 0; k < n; k++) {
        set_le32(b + o, e[k].name_len);
        memcpy(b + o + 4, e[k].name, e[k].name_len);
        o += 4 + e[k].name_len;
        set_le32(b + o, e[k].flags);
        set_le64(b + o + 4, e[k].len);
        o += 12;
    }
    for (size_t k = 0; k < n; k++) {
        if (e[k].flags & 1) {
            if (e[k].len) memcpy(plain + p, e[k].data, (size_t)e[k].len);
            p += (size_t)e[k].len;
        } else {
            if (e[k].len) memcpy(b + o, e[k].data, (size_t)e[k].len);
            o += (size_t)e[k].len;
        }
    }
    *crc_end = o;
    set_le32(b + o, (uint32_t)crc32(0, b, (uInt)o));
    o += 4;
    shuffle_bytes(plain, raw, raw % 4 ? 0 : run, shuf);
    if (compress2(b + o + 16, &comp, shuf, (uLong)raw, 6) != Z_OK) abort();
    set_le64(b + o, comp);
    set_le64(b + o + 8, raw);
    o += 16 + comp;
    set_le32(b + o, (uint32_t)crc32(0, shuf, (uInt)raw));
    *len = o + 4;
    free(plain);
    free(shuf);
    return b;
}

/* v3_file of c's sections, in order. */
static uint8_t *v3_file_of(const io_ckpt *c, uint32_t run, size_t *len,
                           size_t *crc_end)
{
    entry e[IO_CKPT_MAX_SECTIONS];
    for (size_t k = 0; k < c->n; k++) e[k] = entry_of(&c->sec[k]);
    return v3_file(e, c->n, (uint32_t)c->n, run, len, crc_end);
}

/* Offset of table entry k of a version-3 file. */
static size_t v3_entry(const uint8_t *b, size_t k)
{
    size_t o = V3_TABLE;
    while (k--) o += 16 + le32(b + o);
    return o;
}

/* Offset of the header CRC of a version-3 file (prefix + table + inline
 * sections, as the table declares them). */
static size_t v3_crc_span(const uint8_t *b)
{
    size_t o = V3_TABLE, inl = 0, n = le32(b + V3_N);
    for (size_t k = 0; k < n; k++) {
        size_t nl = le32(b + o);
        if (!(le32(b + o + 4 + nl) & 1)) inl += (size_t)le64(b + o + 8 + nl);
        o += 16 + nl;
    }
    return 16 + le32(b + 12) + inl;
}

/* Recompute the header CRC after a hand edit (lengths still the real
 * ones), so that only the edited field is wrong. */
static void fix_header_crc(uint8_t *b, size_t span)
{
    set_le32(b + span, (uint32_t)crc32(0, b, (uInt)span));
}

/* ---- versions 1 and 2 by hand ------------------------------------------- */

typedef struct legacy {
    uint32_t version, shuffle, world, optim_kind, n_rng;
    uint64_t hash, epoch, step, gstep, optim_t, best_epoch, bad;
    double best;
    uint64_t rng[8][4];
    const char *config;
    const uint8_t *extra; /* records: u32 tag length, tag, u64 length, value */
    size_t extra_len;
    const float *params, *state;
    size_t n_params, n_state;
} legacy;

/* Append a record of the version-1/2 extra blob at b + *at. */
static void put_record(uint8_t *b, size_t *at, const char *tag,
                       const void *v, size_t n)
{
    size_t tl = strlen(tag);
    set_le32(b + *at, (uint32_t)tl);
    memcpy(b + *at + 4, tag, tl);
    set_le64(b + *at + 4 + tl, n);
    if (n) memcpy(b + *at + 12 + tl, v, n);
    *at += 12 + tl + n;
}

/* The bytes of a version-1 or -2 file, laid out as axon wrote them: the
 * fixed fields, rng states, config, extra, header CRC, payload lengths,
 * the zlib stream of params then state (shuffled in runs of l->shuffle
 * bytes in version 2), payload CRC. */
static uint8_t *legacy_file(const legacy *l, size_t *len)
{
    size_t cl = strlen(l->config), hlen = 112 + 32 * (size_t)l->n_rng;
    size_t raw = 4 * (l->n_params + l->n_state);
    uLongf comp = compressBound((uLong)raw);
    uint8_t *plain = malloc(raw + 1), *shuf = malloc(raw + 1);
    uint8_t *b = calloc(16 + hlen + cl + l->extra_len + 20 + comp + 4, 1);
    memcpy(b, "AXONCKPT", 8);
    set_le32(b + OFF_VERSION, l->version);
    set_le32(b + OFF_HLEN, (uint32_t)hlen);
    set_le64(b + OFF_HASH, l->hash);
    set_le32(b + OFF_WORLD, l->world);
    set_le32(b + OFF_OPTIM_KIND, l->optim_kind);
    set_le64(b + OFF_EPOCH, l->epoch);
    set_le64(b + OFF_STEP_IN_EPOCH, l->step);
    set_le64(b + OFF_GLOBAL_STEP, l->gstep);
    set_le64(b + OFF_OPTIM_T, l->optim_t);
    uint64_t bits;
    memcpy(&bits, &l->best, 8);
    set_le64(b + OFF_BEST_METRIC, bits);
    set_le64(b + OFF_BEST_EPOCH, l->best_epoch);
    set_le64(b + OFF_BAD_EPOCHS, l->bad);
    set_le64(b + OFF_N_PARAMS, l->n_params);
    set_le64(b + OFF_N_STATE, l->n_state);
    set_le64(b + OFF_CONFIG_LEN, cl);
    set_le64(b + OFF_EXTRA_LEN, l->extra_len);
    set_le32(b + OFF_N_RNG, l->n_rng);
    set_le32(b + OFF_SHUFFLE, l->version >= 2 ? l->shuffle : 0);
    for (uint32_t i = 0; i < l->n_rng; i++)
        for (int w = 0; w < 4; w++)
            set_le64(b + OFF_RNG + 32 * i + 8 * (size_t)w, l->rng[i][w]);
    size_t o = 16 + hlen;
    memcpy(b + o, l->config, cl);
    o += cl;
    if (l->extra_len) memcpy(b + o, l->extra, l->extra_len);
    o += l->extra_len;
    set_le32(b + o, (uint32_t)crc32(0, b, (uInt)o));
    o += 4;
    for (size_t i = 0; i < l->n_params + l->n_state; i++) {
        const float *f = i < l->n_params ? &l->params[i]
                                         : &l->state[i - l->n_params];
        uint32_t u;
        memcpy(&u, f, 4);
        set_le32(plain + 4 * i, u);
    }
    shuffle_bytes(plain, raw, l->version >= 2 ? l->shuffle : 0, shuf);
    if (compress2(b + o + 16, &comp, shuf, (uLong)raw, 6) != Z_OK) abort();
    set_le64(b + o, comp);
    set_le64(b + o + 8, raw);
    o += 16 + comp;
    set_le32(b + o, (uint32_t)crc32(0, shuf, (uInt)raw));
    *len = o + 4;
    free(plain);
    free(shuf);
    return b;
}

/* Bytes covered by the header CRC of a version-1/2 file. */
static size_t legacy_crc_span(const uint8_t *b)
{
    return 16 + le32(b + OFF_HLEN) + (size_t)le64(b + OFF_CONFIG_LEN) +
           (size_t)le64(b + OFF_EXTRA_LEN);
}

/* A legacy description filled from fixture f (which it borrows). */
static legacy legacy_of(const fixture *f, uint32_t version, uint32_t shuffle,
                        uint32_t n_rng)
{
    legacy l;
    memset(&l, 0, sizeof l);
    l.version = version, l.shuffle = shuffle, l.n_rng = n_rng;
    l.world = (uint32_t)f->run[3], l.optim_kind = (uint32_t)f->optim[0];
    l.hash = f->hash, l.epoch = f->run[0], l.step = f->run[1];
    l.gstep = f->run[2], l.optim_t = f->optim[1];
    memcpy(&l.best, f->early, 8);
    memcpy(&l.best_epoch, f->early + 8, 8);
    memcpy(&l.bad, f->early + 16, 8);
    for (uint32_t i = 0; i < n_rng; i++)
        for (int w = 0; w < 4; w++) l.rng[i][w] = f->rng[i][w];
    l.config = f->config;
    l.params = f->params, l.n_params = f->n_params;
    l.state = f->state, l.n_state = f->n_state;
    return l;
}

/* c, read from a file made from l, holds the sections io/ckpt.c
 * documents for versions 1 and 2, then one per record (tags[k], value
 * vals[k] of lens[k] bytes). */
static void assert_legacy(const legacy *l, const io_ckpt *c, size_t n_rec,
                          const char *const *tags, const void *const *vals,
                          const size_t *lens)
{
    static const char *const names[] = {
        "config", "run", "early_stop", "model/hash", "model/optim",
        "model/params", "model/state"};
    CU_ASSERT_EQUAL(c->version, l->version);
    CU_ASSERT_EQUAL_FATAL(c->n, 7 + n_rec);
    for (size_t k = 0; k < 7; k++) {
        CU_ASSERT_STRING_EQUAL(c->sec[k].name, names[k]);
        CU_ASSERT_EQUAL(c->sec[k].payload, k == 5 || k == 6);
    }
    const io_ckpt_section *s = c->sec;
    CU_ASSERT_EQUAL_FATAL(s[0].len, strlen(l->config));
    CU_ASSERT_EQUAL(memcmp(s[0].data, l->config, s[0].len), 0);
    CU_ASSERT_EQUAL_FATAL(s[1].len, 32);
    const uint8_t *run = s[1].data;
    CU_ASSERT_EQUAL(le64(run), l->epoch);
    CU_ASSERT_EQUAL(le64(run + 8), l->step);
    CU_ASSERT_EQUAL(le64(run + 16), l->gstep);
    CU_ASSERT_EQUAL(le64(run + 24), l->world);
    CU_ASSERT_EQUAL_FATAL(s[2].len, 24);
    const uint8_t *es = s[2].data;
    uint64_t bits;
    memcpy(&bits, &l->best, 8);
    CU_ASSERT_EQUAL(le64(es), bits);
    CU_ASSERT_EQUAL(le64(es + 8), l->best_epoch);
    CU_ASSERT_EQUAL(le64(es + 16), l->bad);
    CU_ASSERT_EQUAL_FATAL(s[3].len, 8);
    CU_ASSERT_EQUAL(le64(s[3].data), l->hash);
    CU_ASSERT_EQUAL_FATAL(s[4].len, 16);
    CU_ASSERT_EQUAL(le64(s[4].data), l->optim_kind);
    CU_ASSERT_EQUAL(le64((const uint8_t *)s[4].data + 8), l->optim_t);
    CU_ASSERT_EQUAL_FATAL(s[5].len, 4 * l->n_params);
    CU_ASSERT_EQUAL_FATAL(s[6].len, 4 * l->n_state);
    if (l->n_params)
        CU_ASSERT_EQUAL(memcmp(s[5].data, l->params, 4 * l->n_params), 0);
    if (l->n_state)
        CU_ASSERT_EQUAL(memcmp(s[6].data, l->state, 4 * l->n_state), 0);
    for (size_t k = 0; k < n_rec; k++) {
        const io_ckpt_section *r = &c->sec[7 + k];
        CU_ASSERT_STRING_EQUAL(r->name, tags[k]);
        CU_ASSERT_EQUAL(r->payload, 0);
        CU_ASSERT_EQUAL_FATAL(r->len, lens[k]);
        if (lens[k]) CU_ASSERT_EQUAL(memcmp(r->data, vals[k], lens[k]), 0);
    }
}

/* ---- round trips -------------------------------------------------------- */

static void test_roundtrip_big(void)
{
    char path[512];
    tpath(path, sizeof path, "big.ckpt");
    fixture a;
    io_ckpt b;
    nn_error err = {0, ""};
    make_ckpt(&a, 1, BIG_PARAMS, 2, 3);
    CU_ASSERT_EQUAL(io_ckpt_payload_bytes(&a.c), 4 * 3 * (size_t)BIG_PARAMS);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a.c, &err), NN_OK);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(io_ckpt_last_bytes(), (size_t)st.st_size);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_same(&a.c, &b);
    /* AXON_CKPT_SAMPLE=file keeps a copy for the Python reader of
     * docs/CHECKPOINT.md. */
    const char *keep = getenv("AXON_CKPT_SAMPLE");
    if (keep && *keep) CU_ASSERT_EQUAL(io_ckpt_write(keep, &a.c, &err), NN_OK);
    fixture_free(&a);
    io_ckpt_free(&b);
    CU_ASSERT(is_zeroed(&b));
}

/* No sections at all; and sections that are all empty (an empty inline
 * section, empty payload sections). */
static void test_roundtrip_empty(void)
{
    char path[512];
    tpath(path, sizeof path, "empty.ckpt");
    io_ckpt a, b;
    nn_error err = {0, ""};
    memset(&a, 0, sizeof a);
    CU_ASSERT_EQUAL(io_ckpt_payload_bytes(&a), 0);
    CU_ASSERT_EQUAL(io_ckpt_segments(&a), 1);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_same(&a, &b);
    CU_ASSERT_EQUAL(b.n, 0);
    io_ckpt_free(&b);
    io_ckpt_add(&a, "config", "", 0, 0);
    io_ckpt_add(&a, "model/params", NULL, 0, 1);
    io_ckpt_add(&a, "model/state", NULL, 0, 1);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_same(&a, &b);
    io_ckpt_free(&b);
    io_ckpt_free(&a);
    CU_ASSERT(is_zeroed(&a));
}

/* The most sections, with the longest names (the largest header), odd
 * sizes (not a multiple of the 64 KiB segment), payload sections of 1
 * float and of none between them. */
static void test_roundtrip_max_sections(void)
{
    char path[512];
    tpath(path, sizeof path, "max.ckpt");
    static char names[IO_CKPT_MAX_SECTIONS][IO_CKPT_NAME_MAX + 1];
    static uint8_t bytes[IO_CKPT_MAX_SECTIONS][40];
    float *f = cu_rand_floats(16385 * 3, 2, -1, 1);
    io_ckpt a, b;
    nn_error err = {0, ""};
    memset(&a, 0, sizeof a);
    for (size_t k = 0; k < IO_CKPT_MAX_SECTIONS; k++) {
        /* "NN/" then 60 of one letter: distinct, printable, 63 bytes */
        memset(names[k], 'a' + (int)(k % 26), IO_CKPT_NAME_MAX);
        names[k][0] = (char)('0' + k / 10), names[k][1] = (char)('0' + k % 10);
        names[k][2] = '/';
        names[k][IO_CKPT_NAME_MAX] = '\0';
        for (size_t i = 0; i < sizeof bytes[k]; i++)
            bytes[k][i] = (uint8_t)(k * 31 + i);
        if (k == 10) io_ckpt_add(&a, names[k], f, 4 * 16385, 1);
        else if (k == 11) io_ckpt_add(&a, names[k], f + 16385, 4, 1);
        else if (k == 12) io_ckpt_add(&a, names[k], NULL, 0, 1);
        else if (k == 40) io_ckpt_add(&a, names[k], f + 16386, 4 * 32769, 1);
        else io_ckpt_add(&a, names[k], bytes[k], k % sizeof bytes[k], 0);
    }
    CU_ASSERT_EQUAL(strlen(a.sec[63].name), IO_CKPT_NAME_MAX);
    CU_ASSERT_EQUAL(io_ckpt_segments(&a), (4 * 49155 + 65535) / 65536);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_same(&a, &b);
    io_ckpt_free(&b);
    io_ckpt_free(&a);
    free(f);
}

/* The payload deflated in parts (as ranks share it out: 2 and 3 parts, and
 * more parts than segments, so some are empty) gives the very bytes of the
 * one-part write, and reads back. */
static void test_parts_same_bytes(void)
{
    char path[512], ppath[512];
    tpath(path, sizeof path, "whole.ckpt");
    tpath(ppath, sizeof ppath, "parts.ckpt");
    fixture a;
    io_ckpt b;
    nn_error err = {0, ""};
    make_ckpt(&a, 4, BIG_PARAMS, 2, 1);
    size_t nseg = io_ckpt_segments(&a.c), whole_len, len;
    CU_ASSERT_TRUE_FATAL(nseg > 3); /* params and state span segments */
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a.c, &err), NN_OK);
    uint8_t *whole = slurp(path, &whole_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(whole);
    const size_t splits[] = {2, 3, 16};
    for (size_t t = 0; t < sizeof splits / sizeof splits[0]; t++) {
        size_t p = splits[t];
        io_ckpt_part parts[16];
        for (size_t k = 0; k < p; k++)
            io_ckpt_deflate(&a.c, nseg * k / p,
                            nseg * (k + 1) / p - nseg * k / p, &parts[k]);
        CU_ASSERT_EQUAL_FATAL(io_ckpt_write_parts(ppath, &a.c, parts, p, &err),
                              NN_OK);
        uint8_t *got = slurp(ppath, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_TRUE(len == whole_len && memcmp(got, whole, len) == 0);
        free(got);
        CU_ASSERT_EQUAL_FATAL(io_ckpt_read(ppath, &b, &err), NN_OK);
        assert_same(&a.c, &b);
        io_ckpt_free(&b);
        for (size_t k = 0; k < p; k++) io_ckpt_part_free(&parts[k]);
    }
    free(whole);
    fixture_free(&a);
}

/* The bytes on disk are where the version-3 description says they are. */
static void test_layout_matches_doc(void)
{
    char path[512];
    tpath(path, sizeof path, "layout.ckpt");
    fixture a;
    nn_error err = {0, ""};
    make_ckpt(&a, 3, 10000, 2, 2); /* 120 kB: two shuffle runs */
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a.c, &err), NN_OK);
    size_t len;
    uint8_t *b = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    /* prefix */
    CU_ASSERT_EQUAL(memcmp(b, "AXONCKPT", 8), 0);
    CU_ASSERT_EQUAL(le32(b + 8), 3);
    size_t hlen = 8;
    for (size_t k = 0; k < a.c.n; k++) hlen += 16 + strlen(a.c.sec[k].name);
    CU_ASSERT_EQUAL_FATAL(le32(b + 12), hlen);
    /* section table */
    CU_ASSERT_EQUAL_FATAL(le32(b + V3_N), a.c.n);
    CU_ASSERT_EQUAL(le32(b + V3_SHUFFLE), RUN_BYTES);
    size_t o = V3_TABLE;
    for (size_t k = 0; k < a.c.n; k++) {
        const io_ckpt_section *s = &a.c.sec[k];
        size_t nl = strlen(s->name);
        CU_ASSERT_EQUAL_FATAL(le32(b + o), nl);
        CU_ASSERT_EQUAL(memcmp(b + o + 4, s->name, nl), 0);
        CU_ASSERT_EQUAL(le32(b + o + 4 + nl), s->payload ? 1u : 0u);
        CU_ASSERT_EQUAL(le64(b + o + 8 + nl), s->len);
        o += 16 + nl;
    }
    CU_ASSERT_EQUAL_FATAL(o, 16 + hlen);
    /* inline sections in table order, payload sections skipped */
    for (size_t k = 0; k < a.c.n; k++) {
        const io_ckpt_section *s = &a.c.sec[k];
        if (s->payload) continue;
        CU_ASSERT_FATAL(o + s->len <= len);
        if (s->len) CU_ASSERT_EQUAL(memcmp(b + o, s->data, s->len), 0);
        o += s->len;
    }
    CU_ASSERT_EQUAL(o, v3_crc_span(b));
    CU_ASSERT_EQUAL(le32(b + o), (uint32_t)crc32(0, b, (uInt)o));
    /* and all of that is what the hand-made file of the same sections
     * holds, byte for byte */
    size_t hand_len, hand_crc;
    uint8_t *hand = v3_file_of(&a.c, RUN_BYTES, &hand_len, &hand_crc);
    CU_ASSERT_EQUAL(hand_crc, o);
    CU_ASSERT_EQUAL(memcmp(hand, b, o + 4), 0);
    o += 4;
    uint64_t comp = le64(b + o), raw = le64(b + o + 8);
    CU_ASSERT_EQUAL(raw, 4 * (a.n_params + a.n_state));
    CU_ASSERT_EQUAL(raw, io_ckpt_payload_bytes(&a.c));
    CU_ASSERT_EQUAL_FATAL(o + 16 + comp + 4, len);
    /* The payload is a plain zlib stream of little-endian float32 (the
     * payload sections in table order), the bytes of every 65536-byte run
     * grouped by significance. */
    uint8_t *out = malloc(raw);
    uLongf outlen = (uLongf)raw;
    CU_ASSERT_EQUAL_FATAL(uncompress(out, &outlen, b + o + 16, (uLong)comp), Z_OK);
    CU_ASSERT_EQUAL(outlen, raw);
    CU_ASSERT_EQUAL(le32(b + len - 4), (uint32_t)crc32(0, out, (uInt)raw));
    size_t bad = 0;
    for (size_t run = 0; run < raw; run += RUN_BYTES) {
        size_t n = (raw - run < RUN_BYTES ? raw - run : RUN_BYTES) / 4;
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
    /* the hand-made file's payload inflates to the same bytes */
    uint8_t *hout = malloc(raw);
    uLongf houtlen = (uLongf)raw;
    CU_ASSERT_EQUAL_FATAL(uncompress(hout, &houtlen, hand + o + 16,
                                     (uLong)le64(hand + o)), Z_OK);
    CU_ASSERT(houtlen == raw && memcmp(hout, out, raw) == 0);
    free(hout);
    free(out);
    free(hand);
    free(b);
    fixture_free(&a);
}

/* Any valid version-3 file reads, not only the writer's: compress2's
 * stream, byte-shuffle runs of 64 KiB, 4 KiB or none. */
static void test_reads_hand_made_v3(void)
{
    char path[512];
    tpath(path, sizeof path, "hand.ckpt");
    fixture a;
    io_ckpt b;
    nn_error err = {0, ""};
    make_ckpt(&a, 19, 30000, 1, 2);
    const uint32_t runs[] = {RUN_BYTES, 4096, 0, 4};
    for (size_t t = 0; t < sizeof runs / sizeof runs[0]; t++) {
        size_t len, span;
        uint8_t *f = v3_file_of(&a.c, runs[t], &len, &span);
        CU_ASSERT_EQUAL_FATAL(spit(path, f, len), 0);
        CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
        assert_same(&a.c, &b);
        io_ckpt_free(&b);
        free(f);
    }
    fixture_free(&a);
}

/* A version-1 file (no shuffling; offset 124 reserved, 0), as axon wrote
 * before version 2, made here byte by byte: it reads into the sections of
 * a one-model run. */
static void test_reads_version1(void)
{
    char path[512];
    fixture a;
    io_ckpt b;
    nn_error err = {0, ""};
    make_ckpt(&a, 5, 30000, 1, 1); /* 240 kB: four runs, the last short */
    legacy l = legacy_of(&a, 1, RUN_BYTES /* ignored: v1 */, 1);
    tpath(path, sizeof path, "v1.ckpt");
    size_t len;
    uint8_t *f = legacy_file(&l, &len);
    CU_ASSERT_EQUAL(le32(f + OFF_SHUFFLE), 0);
    CU_ASSERT_EQUAL_FATAL(spit(path, f, len), 0);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_legacy(&l, &b, 0, NULL, NULL, NULL);
    io_ckpt_free(&b);
    /* a non-zero reserved field is ignored in version 1 */
    set_le32(f + OFF_SHUFFLE, 6);
    fix_header_crc(f, legacy_crc_span(f));
    CU_ASSERT_EQUAL_FATAL(spit(path, f, len), 0);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_legacy(&l, &b, 0, NULL, NULL, NULL);
    io_ckpt_free(&b);
    free(f);
    fixture_free(&a);
}

/* A version-2 file (shuffled in 64 KiB runs, extra records) made byte by
 * byte reads into the documented sections, one per record after them;
 * impossible run lengths, rng counts and records are refused. */
static void test_reads_version2(void)
{
    char path[512];
    fixture a;
    io_ckpt b;
    nn_error err = {0, ""};
    make_ckpt(&a, 20, 30000, 2, 0); /* 360 kB: six runs, the last short */
    legacy l = legacy_of(&a, 2, RUN_BYTES, 3);
    uint64_t shape[3] = {2, 28, 28};
    const char *tags[] = {"input_shape", "vocab", "empty"};
    const void *vals[] = {shape, a.record, ""};
    const size_t lens[] = {sizeof shape, sizeof a.record, 0};
    uint8_t extra[512];
    size_t elen = 0;
    for (size_t k = 0; k < 3; k++) put_record(extra, &elen, tags[k], vals[k], lens[k]);
    l.extra = extra, l.extra_len = elen;
    tpath(path, sizeof path, "v2.ckpt");
    size_t len;
    uint8_t *f = legacy_file(&l, &len);
    CU_ASSERT_EQUAL(le32(f + OFF_VERSION), 2);
    CU_ASSERT_EQUAL(le32(f + OFF_SHUFFLE), RUN_BYTES);
    CU_ASSERT_EQUAL_FATAL(spit(path, f, len), 0);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_legacy(&l, &b, 3, tags, vals, lens);
    /* and a file written from those sections reads back the same */
    char p3[512];
    io_ckpt w, r;
    memset(&w, 0, sizeof w);
    for (size_t k = 0; k < b.n; k++)
        io_ckpt_add(&w, b.sec[k].name, b.sec[k].data, b.sec[k].len,
                    b.sec[k].payload);
    tpath(p3, sizeof p3, "v2-to-v3.ckpt");
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(p3, &w, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(p3, &r, &err), NN_OK);
    assert_same(&w, &r);
    io_ckpt_free(&r);
    io_ckpt_free(&w);
    io_ckpt_free(&b);
    free(f);
    /* the same data unshuffled (shuffle 0) is also a valid version 2 */
    l.shuffle = 0;
    f = legacy_file(&l, &len);
    CU_ASSERT_EQUAL_FATAL(spit(path, f, len), 0);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &b, &err), NN_OK);
    assert_legacy(&l, &b, 3, tags, vals, lens);
    io_ckpt_free(&b);
    free(f);
    /* an impossible run length is refused */
    l.shuffle = RUN_BYTES;
    f = legacy_file(&l, &len);
    size_t span = legacy_crc_span(f);
    set_le32(f + OFF_SHUFFLE, 6);
    fix_header_crc(f, span);
    CU_ASSERT(bytes_fail(path, f, len, "byte-shuffle"));
    set_le32(f + OFF_SHUFFLE, (128u << 20));
    fix_header_crc(f, span);
    CU_ASSERT(bytes_fail(path, f, len, "byte-shuffle"));
    set_le32(f + OFF_SHUFFLE, RUN_BYTES);
    /* an rng count that is not the header length's */
    set_le32(f + OFF_N_RNG, 2);
    fix_header_crc(f, span);
    CU_ASSERT(bytes_fail(path, f, len, "rng count"));
    free(f);
    /* records: a tag of length 0, a tag repeating a section's name, a tag
     * holding a NUL, a value longer than the blob */
    elen = 0;
    put_record(extra, &elen, "", "x", 1);
    l.extra_len = elen;
    f = legacy_file(&l, &len);
    CU_ASSERT(bytes_fail(path, f, len, "extra records"));
    free(f);
    elen = 0;
    put_record(extra, &elen, "config", "x", 1);
    l.extra_len = elen;
    f = legacy_file(&l, &len);
    CU_ASSERT(bytes_fail(path, f, len, "section 'config': bad or repeated name"));
    free(f);
    elen = 0;
    put_record(extra, &elen, "vo\tab", "x", 1);
    memcpy(extra + 4, "vo\0ab", 5); /* a NUL inside the tag */
    l.extra_len = elen;
    f = legacy_file(&l, &len);
    CU_ASSERT(bytes_fail(path, f, len, "extra records"));
    free(f);
    elen = 0;
    put_record(extra, &elen, "vocab", "xyz", 3);
    set_le64(extra + 4 + 5, 4);
    l.extra_len = elen;
    f = legacy_file(&l, &len);
    CU_ASSERT(bytes_fail(path, f, len, "extra records"));
    free(f);
    fixture_free(&a);
}

static void test_overwrite_replaces(void)
{
    char path[512];
    tpath(path, sizeof path, "over.ckpt");
    fixture a, b;
    io_ckpt r;
    nn_error err = {0, ""};
    make_ckpt(&a, 4, BIG_PARAMS, 2, 3);
    make_ckpt(&b, 5, 777, 1, 1);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a.c, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &b.c, &err), NN_OK);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(io_ckpt_last_bytes(), (size_t)st.st_size);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &r, &err), NN_OK);
    assert_same(&b.c, &r);
    fixture_free(&a);
    fixture_free(&b);
    io_ckpt_free(&r);
}

/* ---- sections by name --------------------------------------------------- */

static void test_need_and_unused(void)
{
    char path[512];
    tpath(path, sizeof path, "need.ckpt");
    fixture a;
    io_ckpt c;
    nn_error err = {0, ""};
    make_ckpt(&a, 21, 100, 1, 1);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a.c, &err), NN_OK);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &c, &err), NN_OK);
    const void *v = NULL;
    size_t got = 0;
    /* missing */
    CU_ASSERT_EQUAL(io_ckpt_need(&c, path, "model/nope", 8, &v, &got, &err),
                    NN_EXIT_DATA);
    CU_ASSERT_EQUAL(err.code, NN_EXIT_DATA);
    CU_ASSERT(starts_with(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "section 'model/nope'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "missing"));
    CU_ASSERT_PTR_NULL(io_ckpt_find(&c, "model/nope"));
    /* the wrong size: not returned, not marked used */
    err = (nn_error){0, ""};
    CU_ASSERT_EQUAL(io_ckpt_need(&c, path, "run", 31, &v, NULL, &err),
                    NN_EXIT_DATA);
    CU_ASSERT(starts_with(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "section 'run': 32 bytes, expected 31"));
    /* the right size, any size */
    CU_ASSERT_EQUAL(io_ckpt_need(&c, path, "run", 32, &v, NULL, &err), NN_OK);
    CU_ASSERT_TRUE(v && memcmp(v, a.run, 32) == 0);
    CU_ASSERT_EQUAL(io_ckpt_need(&c, path, "config", SIZE_MAX, &v, &got, &err),
                    NN_OK);
    CU_ASSERT_EQUAL(got, strlen(a.config));
    CU_ASSERT_TRUE(v && memcmp(v, a.config, got) == 0);
    CU_ASSERT_EQUAL(io_ckpt_need(&c, path, "model/params", 400, &v, &got, &err),
                    NN_OK);
    CU_ASSERT_EQUAL(got, 400);
    CU_ASSERT_TRUE(v && memcmp(v, a.params, 400) == 0);
    /* every section but "vocab" asked for: it is named */
    const char *others[] = {"early_stop", "model/hash", "model/optim",
                            "model/state", "rng"};
    for (size_t k = 0; k < sizeof others / sizeof *others; k++)
        CU_ASSERT_PTR_NOT_NULL(io_ckpt_find(&c, others[k]));
    err = (nn_error){0, ""};
    CU_ASSERT_EQUAL(io_ckpt_unused(&c, path, &err), NN_EXIT_DATA);
    CU_ASSERT_EQUAL(err.code, NN_EXIT_DATA);
    CU_ASSERT(starts_with(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "section 'vocab'"));
    io_ckpt_section *s = io_ckpt_find(&c, "vocab");
    CU_ASSERT_TRUE_FATAL(s && s->used && !s->payload);
    CU_ASSERT_EQUAL(s->len, sizeof a.record);
    err = (nn_error){0, ""};
    CU_ASSERT_EQUAL(io_ckpt_unused(&c, path, &err), NN_OK);
    CU_ASSERT_EQUAL(err.code, 0);
    io_ckpt_free(&c);
    /* a fresh read has every section unused; the first is named */
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &c, &err), NN_OK);
    CU_ASSERT_EQUAL(io_ckpt_unused(&c, path, &err), NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "section 'config'"));
    io_ckpt_free(&c);
    fixture_free(&a);
}

/* ---- corruption --------------------------------------------------------- */

/* Write a checkpoint, return its bytes. */
static uint8_t *written(const char *path, uint64_t seed, size_t n_params,
                        size_t slots, size_t *len)
{
    fixture a;
    nn_error err = {0, ""};
    make_ckpt(&a, seed, n_params, slots, 2);
    int rc = io_ckpt_write(path, &a.c, &err);
    fixture_free(&a);
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

/* Flip byte `pos` with `mask`; the read must fail naming the cause: magic,
 * a newer version, or (anywhere else) "corrupt" - an older version number
 * makes the rest of the file a wrong version-1/2 header, which is corrupt.
 * The one exception: a deflate stream has a few bits no decoder reads (the
 * padding after a stored block's 3-bit header, the bits after the final
 * end-of-block code); a flip there changes nothing, so a read that
 * succeeds with bit-identical contents is counted as benign, not as a
 * miss. */
static void flip_check(flip_run *f, size_t pos, uint8_t mask)
{
    f->b[pos] ^= mask;
    uint32_t version = le32(f->b + 8);
    int w = spit(f->path, f->b, f->len);
    f->b[pos] ^= mask;
    if (w != 0) {
        f->bad++;
        return;
    }
    const char *word = pos < 8                               ? "bad magic"
                       : pos < 12 && version > IO_CKPT_VERSION ? "newer axon"
                                                               : "corrupt";
    io_ckpt c;
    nn_error err = {0, ""};
    if (io_ckpt_read(f->path, &c, &err) == NN_OK) {
        int in_stream = pos >= f->stream_begin && pos < f->stream_end;
        if (in_stream && same_sections(f->orig, &c)) {
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
    f.stream_begin = v3_crc_span(b) + 4 + 16;
    f.stream_end = len - 4;
    return f;
}

static void test_flip_small_every_byte(void)
{
    char src[512], path[512];
    size_t len = 0;
    fixture orig;
    make_ckpt(&orig, 8, 40, 2, 2);
    uint8_t *b = written(tpath(src, sizeof src, "fsmall.ckpt"), 8, 40, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    flip_run f = flip_setup(tpath(path, sizeof path, "fsmall.bad"), b, len,
                            &orig.c);
    for (size_t pos = 0; pos < len; pos++) {
        flip_check(&f, pos, 0x01);
        flip_check(&f, pos, 0x80);
    }
    CU_ASSERT_EQUAL(f.bad, 0);
    CU_ASSERT(f.benign <= 2);
    free(b);
    fixture_free(&orig);
}

static void test_flip_big_header_and_payload(void)
{
    char src[512], path[512];
    size_t len = 0;
    fixture orig;
    make_ckpt(&orig, 9, BIG_PARAMS, 2, 2);
    uint8_t *b = written(tpath(src, sizeof src, "fbig.ckpt"), 9, BIG_PARAMS, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    flip_run f = flip_setup(tpath(path, sizeof path, "fbig.bad"), b, len,
                            &orig.c);
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
    fixture_free(&orig);
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
    CU_ASSERT(bytes_fail(path, g, len + 1, "1 bytes of trailing garbage"));
    CU_ASSERT(bytes_fail(path, g, len + 100, "100 bytes of trailing garbage"));
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
    CU_ASSERT(bytes_fail(path, b, len, "not an axon checkpoint (bad magic)"));
    CU_ASSERT(bytes_fail(path, (const uint8_t *)"hello\n", 6,
                         "not an axon checkpoint (bad magic)"));
    tpath(path, sizeof path, "no-such.ckpt");
    CU_ASSERT(read_fails(path, "No such file or directory"));
    CU_ASSERT(read_fails(cu_tmpdir(), "not a regular file (a directory)"));
    free(b);
}

/* A FIFO is refused at once (opened without blocking for a writer, then
 * found not to be a regular file). The read runs in a child, so a reader
 * that blocks fails the test after 10 s instead of hanging it. */
static void test_fifo(void)
{
    char path[512];
    tpath(path, sizeof path, "fifo.ckpt");
    CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) _exit(read_fails(path, "not a regular file") ? 0 : 1);
    int status = 0, waited = 0;
    pid_t got = 0;
    struct timespec ms10 = {0, 10 * 1000 * 1000};
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && waited < 1000) {
        nanosleep(&ms10, NULL);
        waited++;
    }
    if (got == 0) {
        printf("\n  the read of a FIFO blocked\n");
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CU_ASSERT_EQUAL(got, pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(path);
}

static void test_future_version(void)
{
    char src[512], path[512];
    size_t len = 0;
    uint8_t *b = written(tpath(src, sizeof src, "ver.ckpt"), 12, 10, 1, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    size_t span = v3_crc_span(b);
    tpath(path, sizeof path, "ver.bad");
    set_le32(b + 8, 4);
    fix_header_crc(b, span);
    CU_ASSERT(bytes_fail(path, b, len, ": written by a newer axon: format "
                                       "version 4, this build reads up to 3"));
    set_le32(b + 8, 0xffffffffu);
    fix_header_crc(b, span);
    CU_ASSERT(bytes_fail(path, b, len, "format version 4294967295, this "
                                       "build reads up to 3"));
    set_le32(b + 8, 0);
    fix_header_crc(b, span);
    CU_ASSERT(bytes_fail(path, b, len, "format version 0 does not exist"));
    free(b);
}

/* Hand-edited headers with a valid CRC but absurd section lengths or
 * counts must fail on the size checks, before any allocation
 * (nn_xalloc_floats would abort or touch every byte of an allocation that
 * size). */
static void test_huge_counts(void)
{
    char src[512], path[512];
    size_t len = 0;
    /* model/params 200 bytes, model/state 400 */
    uint8_t *orig = written(tpath(src, sizeof src, "huge.ckpt"), 13, 50, 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
    uint8_t *b = malloc(len);
    size_t span = v3_crc_span(orig), lens = span + 4;
    size_t e_params = v3_entry(orig, 2), e_state = v3_entry(orig, 6);
    size_t e_run = v3_entry(orig, 1);
    CU_ASSERT_EQUAL_FATAL(le32(orig + e_params), strlen("model/params"));
    CU_ASSERT_EQUAL_FATAL(le32(orig + e_state), strlen("model/state"));
    CU_ASSERT_EQUAL_FATAL(le32(orig + e_run), strlen("run"));
    size_t at_params = e_params + 8 + strlen("model/params");
    size_t at_state = e_state + 8 + strlen("model/state");
    size_t at_run = e_run + 8 + strlen("run");
    CU_ASSERT_EQUAL_FATAL(le64(orig + at_params), 200);
    CU_ASSERT_EQUAL_FATAL(le64(orig + at_state), 400);
    tpath(path, sizeof path, "huge.bad");
    struct {
        uint64_t params, state, raw; /* raw 0: keep the real one */
        const char *word;
    } cases[] = {
        {1ull << 60, 400, 0, "payload length does not match"},
        {1ull << 62, 0, 0, "payload length does not match"},
        {1ull << 60, 0, 1ull << 60, "exceeds what its compressed size"},
        {1ull << 33, 0, 1ull << 33, "exceeds what its compressed size"},
        {1ull << 62, 1ull << 62, 0, "impossibly large"},
        {~3ull, 400, 0, "impossibly large"},
        {~3ull, ~3ull, ~3ull, "impossibly large"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(b, orig, len);
        set_le64(b + at_params, cases[k].params);
        set_le64(b + at_state, cases[k].state);
        if (cases[k].raw) set_le64(b + lens + 8, cases[k].raw);
        fix_header_crc(b, span);
        CU_ASSERT(bytes_fail(path, b, len, cases[k].word));
    }
    /* Huge inline-section / compressed lengths: checked against the file
     * size (the CRC is never reached). */
    uint64_t huge[] = {1ull << 60, ~0ull, len};
    for (size_t k = 0; k < 3; k++) {
        memcpy(b, orig, len);
        set_le64(b + at_run, huge[k]);
        CU_ASSERT(bytes_fail(path, b, len, "truncated or corrupt"));
        memcpy(b, orig, len);
        set_le64(b + lens, huge[k]);
        CU_ASSERT(bytes_fail(path, b, len, "truncated or corrupt"));
    }
    memcpy(b, orig, len);
    set_le32(b + 12, 0xffffffffu);
    CU_ASSERT(bytes_fail(path, b, len, "header length 4294967295 is impossible"));
    memcpy(b, orig, len);
    set_le32(b + 12, 4);
    CU_ASSERT(bytes_fail(path, b, len, "header length 4 is impossible"));
    uint32_t counts[] = {IO_CKPT_MAX_SECTIONS + 1, 0xffffffffu};
    for (size_t k = 0; k < 2; k++) {
        memcpy(b, orig, len);
        set_le32(b + V3_N, counts[k]);
        fix_header_crc(b, span);
        CU_ASSERT(bytes_fail(path, b, len, "too many sections"));
    }
    /* a count that disagrees with the table's length */
    uint32_t n = le32(orig + V3_N);
    memcpy(b, orig, len);
    set_le32(b + V3_N, n + 1);
    fix_header_crc(b, span);
    CU_ASSERT(bytes_fail(path, b, len, "section table"));
    memcpy(b, orig, len);
    set_le32(b + V3_N, n - 1);
    CU_ASSERT(bytes_fail(path, b, len, "corrupt"));
    /* an impossible byte-shuffle run */
    uint32_t runs[] = {6, 128u << 20};
    for (size_t k = 0; k < 2; k++) {
        memcpy(b, orig, len);
        set_le32(b + V3_SHUFFLE, runs[k]);
        fix_header_crc(b, span);
        CU_ASSERT(bytes_fail(path, b, len, "byte-shuffle"));
    }
    free(b);
    free(orig);
}

/* The same for the fixed counts of a version-2 header. */
static void test_huge_counts_legacy(void)
{
    char path[512];
    fixture a;
    make_ckpt(&a, 13, 50, 2, 0);
    legacy l = legacy_of(&a, 2, RUN_BYTES, 2);
    size_t len;
    uint8_t *orig = legacy_file(&l, &len);
    uint8_t *b = malloc(len);
    size_t span = legacy_crc_span(orig), lens = span + 4;
    tpath(path, sizeof path, "huge2.bad");
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
        CU_ASSERT(bytes_fail(path, b, len, cases[k].word));
    }
    /* Huge config / extra / compressed lengths: checked against the file
     * size (the CRC is never reached). */
    uint64_t huge[] = {1ull << 60, ~0ull, len};
    for (size_t k = 0; k < 3; k++) {
        memcpy(b, orig, len);
        set_le64(b + OFF_CONFIG_LEN, huge[k]);
        CU_ASSERT(bytes_fail(path, b, len, "truncated or corrupt"));
        memcpy(b, orig, len);
        set_le64(b + OFF_EXTRA_LEN, huge[k]);
        CU_ASSERT(bytes_fail(path, b, len, "truncated or corrupt"));
        memcpy(b, orig, len);
        set_le64(b + lens, huge[k]);
        CU_ASSERT(bytes_fail(path, b, len, "truncated or corrupt"));
    }
    memcpy(b, orig, len);
    set_le32(b + OFF_HLEN, 0xffffffffu);
    CU_ASSERT(bytes_fail(path, b, len, "header length 4294967295 is impossible"));
    memcpy(b, orig, len);
    set_le32(b + OFF_HLEN, 112 + 32 * 9); /* more than 8 rng states */
    CU_ASSERT(bytes_fail(path, b, len, "header length 400 is impossible"));
    free(b);
    free(orig);
    fixture_free(&a);
}

/* Section tables no writer makes, each with valid CRCs: the read fails
 * naming the file (and the section where there is one). */
static void test_bad_section_tables(void)
{
    char path[512];
    tpath(path, sizeof path, "table.bad");
    static const float fl[4] = {1.0f, -2.0f, 0.5f, 3.0f};
    static const char long_name[] =
        "0123456789012345678901234567890123456789012345678901234567890123";
    struct {
        entry e[3];
        const char *word;
    } cases[] = {
        /* the same name twice: inline / inline and inline / payload */
        {{{"run", 3, 0, 4, "abcd"}, {"x", 1, 1, 16, fl}, {"run", 3, 0, 2, "ef"}},
         "section 'run': bad or repeated name"},
        {{{"model/params", 12, 1, 16, fl}, {"run", 3, 0, 4, "abcd"},
          {"model/params", 12, 0, 1, "z"}},
         "section 'model/params': bad or repeated name"},
        /* names of length 0 and 64 */
        {{{"run", 3, 0, 4, "abcd"}, {"", 0, 0, 2, "ef"}, {"x", 1, 1, 16, fl}},
         "a name's length"},
        {{{"run", 3, 0, 4, "abcd"}, {long_name, 64, 0, 2, "ef"},
          {"x", 1, 1, 16, fl}},
         "a name's length"},
        /* names with bytes no name may hold */
        {{{"run", 3, 0, 4, "abcd"}, {"a b", 3, 0, 2, "ef"}, {"x", 1, 1, 16, fl}},
         "section 'a b': bad or repeated name"},
        {{{"run", 3, 0, 4, "abcd"}, {"a\x7f", 2, 0, 2, "ef"},
          {"x", 1, 1, 16, fl}},
         "bad or repeated name"},
        {{{"run", 3, 0, 4, "abcd"}, {"ab\0c", 4, 0, 2, "ef"},
          {"x", 1, 1, 16, fl}},
         "a name holds a NUL byte"},
        /* flags other than 0 and 1 */
        {{{"run", 3, 2, 4, "abcd"}, {"y", 1, 0, 2, "ef"}, {"x", 1, 1, 16, fl}},
         "flags or a payload length"},
        {{{"run", 3, 0, 4, "abcd"}, {"y", 1, 0, 2, "ef"}, {"x", 1, 3, 16, fl}},
         "flags or a payload length"},
        {{{"run", 3, 0x80000000u, 4, "abcd"}, {"y", 1, 0, 2, "ef"},
          {"x", 1, 1, 16, fl}},
         "flags or a payload length"},
        /* a payload section of a length that is not whole floats */
        {{{"run", 3, 0, 4, "abcd"}, {"y", 1, 1, 6, fl}, {"x", 1, 1, 8, fl}},
         "flags or a payload length"},
        {{{"run", 3, 0, 4, "abcd"}, {"y", 1, 1, 1, fl}, {"x", 1, 0, 8, fl}},
         "flags or a payload length"},
    };
    size_t len, span;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t *b = v3_file(cases[k].e, 3, 3, RUN_BYTES, &len, &span);
        if (!bytes_fail(path, b, len, cases[k].word)) {
            CU_FAIL("a bad section table was not refused as it should be");
            printf("  (case %zu)\n", k);
        }
        free(b);
    }
    /* the hand-made file is otherwise fine: the same table with good
     * entries reads */
    entry good[3] = {{"run", 3, 0, 4, "abcd"}, {"y", 1, 1, 16, fl},
                     {"x", 1, 0, 2, "ef"}};
    uint8_t *b = v3_file(good, 3, 3, RUN_BYTES, &len, &span);
    io_ckpt c;
    nn_error err = {0, ""};
    CU_ASSERT_EQUAL_FATAL(spit(path, b, len), 0);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &c, &err), NN_OK);
    CU_ASSERT_EQUAL(c.n, 3);
    CU_ASSERT_STRING_EQUAL(c.sec[1].name, "y");
    CU_ASSERT_TRUE(c.sec[1].payload && c.sec[1].len == 16 &&
                   memcmp(c.sec[1].data, fl, 16) == 0);
    CU_ASSERT_TRUE(!c.sec[2].payload && c.sec[2].len == 2 &&
                   memcmp(c.sec[2].data, "ef", 2) == 0);
    io_ckpt_free(&c);
    free(b);
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
    fixture a;
    nn_error err = {0, ""};
    make_ckpt(&a, 14, 10, 1, 1);
    CU_ASSERT_EQUAL(io_ckpt_write(path, &a.c, &err), NN_EXIT_DATA);
    CU_ASSERT_EQUAL(err.code, NN_EXIT_DATA);
    CU_ASSERT(starts_with(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ": cannot write checkpoint: No such "
                                           "file or directory"));
    fixture_free(&a);
}

/* The target is a directory: everything succeeds up to the rename. */
static void test_write_rename_fails(void)
{
    char dir[512], path[600];
    tpath(dir, sizeof dir, "rn");
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/target", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
    fixture a;
    nn_error err = {0, ""};
    make_ckpt(&a, 15, 1000, 1, 1);
    CU_ASSERT_EQUAL(io_ckpt_write(path, &a.c, &err), NN_EXIT_DATA);
    CU_ASSERT(starts_with(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, strerror(EISDIR)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rename"));
    CU_ASSERT_EQUAL(temporaries_in(dir), 0);
    struct stat st;
    CU_ASSERT(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    fixture_free(&a);
}

/* Child: overwrite `path` under a 64 KiB file-size limit, so write() fails
 * with EFBIG mid-payload. Exit 0 iff the write reported exactly that. */
static void efbig_child(const char *path)
{
    fixture b;
    nn_error err = {0, ""};
    make_ckpt(&b, 17, BIG_PARAMS, 2, 3);
    struct rlimit rl = {64 * 1024, 64 * 1024};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
    int rc = io_ckpt_write(path, &b.c, &err);
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
    fixture a;
    io_ckpt r;
    nn_error err = {0, ""};
    make_ckpt(&a, 16, BIG_PARAMS, 2, 3);
    CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a.c, &err), NN_OK);
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
    assert_same(&a.c, &r);
    fixture_free(&a);
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
    fixture a;
    io_ckpt r;
    nn_error err = {0, ""};
    make_ckpt(&a, 18, BIG_PARAMS, slots, 3);
    double tw = 1e9, tr = 1e9;
    for (int k = 0; k < 5; k++) {
        double t0 = now_s();
        CU_ASSERT_EQUAL_FATAL(io_ckpt_write(path, &a.c, &err), NN_OK);
        double t1 = now_s();
        CU_ASSERT_EQUAL_FATAL(io_ckpt_read(path, &r, &err), NN_OK);
        double t2 = now_s();
        io_ckpt_free(&r);
        if (t1 - t0 < tw) tw = t1 - t0;
        if (t2 - t1 < tr) tr = t2 - t1;
    }
    double raw = (double)io_ckpt_payload_bytes(&a.c);
    double file = (double)io_ckpt_last_bytes();
    printf("\n  %s: raw %.2f MB -> file %.2f MB (ratio %.3f), "
           "write %.0f MB/s (%.1f ms), read %.0f MB/s (%.1f ms)  ",
           label, raw / 1e6, file / 1e6, raw / file, raw / 1e6 / tw, tw * 1e3,
           raw / 1e6 / tr, tr * 1e3);
    fixture_free(&a);
}

static void test_bench(void)
{
    bench_one("235146 params ~N(0,0.05)", 0);
    bench_one("235146 params + 2 Adam slots", 2);
}

static const cu_test roundtrip_tests[] = {
    {"every section bit-exact, 235146 params + 2 slots", test_roundtrip_big},
    {"no sections; empty sections", test_roundtrip_empty},
    {"64 sections of 63-byte names, odd sizes", test_roundtrip_max_sections},
    {"payload deflated in parts: same bytes", test_parts_same_bytes},
    {"byte layout of version 3", test_layout_matches_doc},
    {"hand-made version-3 files read", test_reads_hand_made_v3},
    {"version 1 files still read", test_reads_version1},
    {"version 2 files still read", test_reads_version2},
    {"overwrite replaces the old checkpoint", test_overwrite_replaces},
    {"io_ckpt_need and io_ckpt_unused", test_need_and_unused},
    {NULL, NULL}};

static const cu_test corrupt_tests[] = {
    {"truncation at every offset (small)", test_truncate_small_every_offset},
    {"truncation at spread offsets (big)", test_truncate_big_spread},
    {"one flipped byte anywhere (small)", test_flip_small_every_byte},
    {"flipped bytes in header and payload (big)", test_flip_big_header_and_payload},
    {"trailing garbage", test_trailing_garbage},
    {"bad magic, missing file, directory", test_bad_magic_and_missing},
    {"a FIFO fails at once", test_fifo},
    {"future version", test_future_version},
    {"huge counts fail before allocating", test_huge_counts},
    {"huge counts in a version-2 header", test_huge_counts_legacy},
    {"bad section tables", test_bad_section_tables},
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

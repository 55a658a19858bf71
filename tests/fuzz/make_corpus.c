/* tests/fuzz/make_corpus.c - writes the binary seed corpora of the fuzz
 * harnesses (run by tests/fuzz/make_corpus.sh; the outputs are committed).
 *
 *   make_corpus OUTDIR    writes OUTDIR/{idx,csv,ckpt,config,packed}/NAME
 *
 * Every seed starts with the harness's option bytes (see fuzz_idx.c,
 * fuzz_csv.c, fuzz_ckpt.c), then the file content. Seeds are small valid
 * files plus near-valid ones (truncated, a count off by one, trailing
 * bytes), so the fuzzer starts next to every validation branch.
 * Checkpoint seeds: version 3 written by io_ckpt_write (one model, two
 * models, empty payload, no sections) and versions 1 and 2 made by hand.
 */
#include <stdint.h> /* uint8_t, uint64_t */
#include <stdio.h>  /* FILE, fopen, snprintf */
#include <stdlib.h> /* free, malloc */
#include <string.h> /* memcpy, strlen */
#include <unistd.h> /* getpid, unlink */
#include <zlib.h>   /* compress2, crc32: the version-1 and -2 seeds */

#include "io/ckpt.h"
#include "io/packed.h"

static const char *outdir;

/* Write OUTDIR/sub/name = prefix bytes + body. */
static void seed(const char *sub, const char *name, uint8_t b0, uint8_t b1,
                 int two, const void *body, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", outdir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    uint8_t pre[2] = {b0, b1};
    if (fwrite(pre, 1, two ? 2 : 1, f) != (two ? 2u : 1u) ||
        (n && fwrite(body, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
    return 4;
}

/* An IDX file: magic 0x0000 08 ndims, dims, then the data bytes i*37. */
static size_t idx_file(uint8_t *buf, const uint32_t *dims, size_t ndims)
{
    size_t n = put_be32(buf, 0x0800u | (uint32_t)ndims), elems = 1;
    for (size_t i = 0; i < ndims; i++) {
        n += put_be32(buf + n, dims[i]);
        elems *= dims[i];
    }
    for (size_t i = 0; i < elems; i++) buf[n++] = (uint8_t)(i * 37u);
    return n;
}

static void idx_seeds(void)
{
    uint8_t b[512];
    /* prefix byte 0: 0 plain, 1 gzip, 2 + cut<<2 gzip cut; byte 1: rows */
    uint32_t img[3] = {3, 4, 4}, lab[1] = {3}, vec[2] = {2, 5},
             chw[4] = {2, 2, 3, 3};
    size_t n = idx_file(b, img, 3);
    seed("idx", "images-plain", 0, 0x00, 1, b, n);
    seed("idx", "images-gzip", 1, 0x00, 1, b, n);
    seed("idx", "images-rows-1-2", 0, 0x21, 1, b, n);
    seed("idx", "images-gzip-rows-2-3", 1, 0x22, 1, b, n);
    seed("idx", "images-gzip-cut", 2 | 3 << 2, 0x00, 1, b, n);
    seed("idx", "images-truncated", 0, 0x00, 1, b, n - 5);
    seed("idx", "images-gzip-truncated", 1, 0x00, 1, b, n - 5);
    b[n] = 0xAA;
    seed("idx", "images-trailing", 0, 0x00, 1, b, n + 1);
    n = idx_file(b, lab, 1);
    seed("idx", "labels-plain", 0, 0x00, 1, b, n);
    seed("idx", "labels-gzip", 1, 0x00, 1, b, n);
    seed("idx", "labels-rows-0-1", 3, 0x20, 1, b, n);
    n = idx_file(b, vec, 2);
    seed("idx", "vectors-plain", 0, 0x00, 1, b, n);
    n = idx_file(b, chw, 4);
    seed("idx", "chw-gzip", 1, 0x00, 1, b, n);
}

static void csv_seeds(void)
{
    /* prefix byte 0: mode as for idx; byte 1: skip_rows | header << 3 */
    static const struct { const char *name; uint8_t b0, b1; const char *t; }
    s[] = {
        {"header", 0, 0x08, "x1,x2,y\n1,2,3\n4,5,6\n-7.5,8e-3,9\n"},
        {"header-gzip", 1, 0x08, "x1,x2,y\n1,2,3\n4,5,6\n-7.5,8e-3,9\n"},
        {"header-gzip-cut", 2 | 1 << 2, 0x08, "a,b\n1,2\n3,4\n5,6\n7,8\n"},
        {"noheader", 0, 0x00, "1,2\n3,4\n"},
        {"crlf-bom", 0, 0x08, "\xEF\xBB\xBF" "a,b\r\n1,2\r\n3,4\r\n\r\n"},
        {"quoted", 0, 0x08, "\"a,\"\"b\",  \"c\" ,d\n1, 2 ,\t3\n"},
        {"skip2", 0, 0x0a, "# comment\n# more\nx,y\n1,2\n"},
        {"blanks-end", 0, 0x00, "1\n2\n\n  \n"},
        {"blank-inside", 0, 0x00, "1\n\n2\n"},
        {"ragged", 0, 0x00, "1,2\n3\n"},
        {"notnum", 0, 0x08, "a\nnan\n"},
        {"huge", 0, 0x00, "1e39\n"},
        {"tiny", 0, 0x00, "1e-50,-0,0x1p3\n"},
        {"unterminated", 0, 0x08, "\"a,b\n1\n"},
        {"textbook", 1, 0x08, "x,y\n2,81\n4,93\n6,91\n8,97\n"},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        seed("csv", s[i].name, s[i].b0, s[i].b1, 1, s[i].t, strlen(s[i].t));
}

/* Write c with io_ckpt_write into a temporary file and read it back. */
/* fuzz_dataset: byte 0 options, byte 1 the training file's length, then
 * the training file and the test file (see fuzz_dataset.c). */
static void dataset_seed(const char *name, uint8_t opts, const void *train,
                         size_t nt, const void *test, size_t ns)
{
    uint8_t buf[1024];
    if (nt > 255 || nt + ns > sizeof buf) exit(1);
    memcpy(buf, train, nt);
    memcpy(buf + nt, test, ns);
    seed("dataset", name, opts, (uint8_t)nt, 1, buf, nt + ns);
}

static void dataset_seeds(void)
{
    const char *t4 = "1,2,3,4,0\n5,6,7,8,1\n9,1,2,3,0\n";
    const char *t6 = "1,2,3,4,5,6,0\n5,6,7,8,9,1,1\n";
    const char *t2 = "1,2,0\n3,4,1\n";
    dataset_seed("csv-same", 0, t4, strlen(t4), t4, strlen(t4));
    dataset_seed("csv-wider", 0, t4, strlen(t4), t6, strlen(t6));
    dataset_seed("csv-narrower", 0, t4, strlen(t4), t2, strlen(t2));
    dataset_seed("csv-2-targets-gzip", 2 | 8, t4, strlen(t4), t6, strlen(t6));
    uint8_t a[64], b[128];
    uint32_t d22[3] = {3, 2, 2}, d33[3] = {2, 3, 3}, d14[2] = {3, 4};
    size_t na = idx_file(a, d22, 3), nb = idx_file(b, d33, 3);
    dataset_seed("idx-same", 1, a, na, a, na);
    dataset_seed("idx-bigger", 1, a, na, b, nb);
    nb = idx_file(b, d14, 2);
    dataset_seed("idx-flat-gzip", 1 | 8, a, na, b, nb);
}

static uint8_t *ckpt_bytes(const io_ckpt *c, size_t *n)
{
    char tmp[64];
    nn_error err;
    snprintf(tmp, sizeof tmp, "/tmp/axon-make-corpus-%ld.ckpt", (long)getpid());
    if (io_ckpt_write(tmp, c, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    FILE *f = fopen(tmp, "rb");
    if (!f) { perror(tmp); exit(1); }
    uint8_t *b = malloc(1 << 16);
    *n = fread(b, 1, (1 << 16) - 1, f);
    fclose(f);
    unlink(tmp);
    return b;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A version-1 or -2 file as axon wrote them before version 3 (fixed
 * fields, two rng states, config, extra records, two arenas; version 2
 * shuffles the payload's bytes by significance in one run). */
static uint8_t *legacy_bytes(uint32_t version, const char *config,
                             const uint8_t *extra, size_t extra_len,
                             const float *params, size_t np,
                             const float *state, size_t ns, size_t *n)
{
    size_t cl = strlen(config), hlen = 112 + 2 * 32, raw = 4 * (np + ns);
    uint8_t *b = calloc(1, 1 << 16), plain[1024], shuf[1024];
    if (!b || raw > sizeof plain) exit(1);
    memcpy(b, IO_CKPT_MAGIC, 8);
    put_le(b + 8, version, 4);
    put_le(b + 12, hlen, 4);
    uint8_t *h = b + 16;
    put_le(h, 0x0123456789abcdefull, 8);       /* model hash */
    put_le(h + 8, 2, 4);                       /* world size */
    put_le(h + 12, 1, 4);                      /* optimizer kind */
    put_le(h + 16, 1, 8);                      /* epoch */
    put_le(h + 24, 3, 8);                      /* step in epoch */
    put_le(h + 32, 10, 8);                     /* global step */
    put_le(h + 40, 10, 8);                     /* optimizer t */
    put_le(h + 48, 0x3fe0000000000000ull, 8);  /* best metric 0.5 */
    put_le(h + 56, 1, 8);                      /* best epoch */
    put_le(h + 64, 0, 8);                      /* bad epochs */
    put_le(h + 72, np, 8);
    put_le(h + 80, ns, 8);
    put_le(h + 88, cl, 8);
    put_le(h + 96, extra_len, 8);
    put_le(h + 104, 2, 4);                     /* rng states */
    put_le(h + 108, version >= 2 ? 65536 : 0, 4);
    for (int w = 0; w < 8; w++) put_le(h + 112 + 8 * w, (uint64_t)w + 1, 8);
    size_t o = 16 + hlen;
    memcpy(b + o, config, cl);
    o += cl;
    if (extra_len) memcpy(b + o, extra, extra_len);
    o += extra_len;
    put_le(b + o, crc32(0, b, (uInt)o), 4);
    o += 4;
    for (size_t i = 0; i < np + ns; i++) {
        uint32_t u;
        memcpy(&u, i < np ? &params[i] : &state[i - np], 4);
        put_le(plain + 4 * i, u, 4);
    }
    size_t m = raw / 4;
    for (size_t j = 0; j < m; j++)
        for (size_t k = 0; k < 4; k++)
            shuf[version >= 2 ? k * m + j : 4 * j + k] = plain[4 * j + k];
    uLongf comp = (1 << 16) - o - 40;
    if (compress2(b + o + 16, &comp, shuf, (uLong)raw, 6) != Z_OK) exit(1);
    put_le(b + o, comp, 8);
    put_le(b + o + 8, raw, 8);
    o += 16 + comp;
    put_le(b + o, crc32(0, shuf, (uInt)raw), 4);
    *n = o + 4;
    return b;
}

static void ckpt_seeds(void)
{
    float params[12], state[24];
    for (int i = 0; i < 12; i++) params[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 24; i++) state[i] = i % 3 ? 0.0f : (float)i;
    char config[] = "model: {layers: [{type: dense, units: 3}]}\n";
    char vocab[] = "vocab";
    uint64_t run[4] = {1, 3, 10, 2}, early[3] = {0x3fe0000000000000ull, 1, 0};
    uint64_t hash = 0x0123456789abcdefull, optim[2] = {1, 10};
    io_ckpt c;
    memset(&c, 0, sizeof c);
    io_ckpt_add(&c, "objective", "supervised", 10, 0);
    io_ckpt_add(&c, "config", config, strlen(config), 0);
    io_ckpt_add(&c, "run", run, sizeof run, 0);
    io_ckpt_add(&c, "early_stop", early, sizeof early, 0);
    io_ckpt_add(&c, "model/hash", &hash, sizeof hash, 0);
    io_ckpt_add(&c, "model/optim", optim, sizeof optim, 0);
    io_ckpt_add(&c, "model/params", params, sizeof params, 1);
    io_ckpt_add(&c, "model/state", state, sizeof state, 1);
    io_ckpt_add(&c, "vocab", vocab, strlen(vocab), 0);
    size_t n;
    uint8_t *b = ckpt_bytes(&c, &n);
    seed("ckpt", "valid", 0, 0, 0, b, n);
    seed("ckpt", "valid-fixup", 1, 0, 0, b, n);
    seed("ckpt", "truncated", 0, 0, 0, b, n - 7);
    seed("ckpt", "truncated-fixup", 1, 0, 0, b, n - 7);
    b[n] = 0;
    seed("ckpt", "trailing", 0, 0, 0, b, n + 1);
    b[n - 20] ^= 0x40; /* inside the zlib stream: payload CRC or inflate fails */
    seed("ckpt", "flipped-payload", 0, 0, 0, b, n);
    free(b);
    /* two models, a payload section between inline ones */
    float gen[5] = {1, 2, 3, 4, 5}, disc[3] = {-1, -2, -3};
    memset(&c, 0, sizeof c);
    io_ckpt_add(&c, "objective", "gan", 3, 0);
    io_ckpt_add(&c, "run", run, sizeof run, 0);
    io_ckpt_add(&c, "gen/params", gen, sizeof gen, 1);
    io_ckpt_add(&c, "gen/hash", &hash, sizeof hash, 0);
    io_ckpt_add(&c, "disc/params", disc, sizeof disc, 1);
    io_ckpt_add(&c, "disc/state", NULL, 0, 1);
    io_ckpt_add(&c, "gan/noise", &hash, sizeof hash, 0);
    b = ckpt_bytes(&c, &n);
    seed("ckpt", "two-models", 0, 0, 0, b, n);
    seed("ckpt", "two-models-fixup", 1, 0, 0, b, n);
    free(b);
    memset(&c, 0, sizeof c);
    io_ckpt_add(&c, "config", config, strlen(config), 0);
    io_ckpt_add(&c, "run", run, sizeof run, 0);
    io_ckpt_add(&c, "model/params", NULL, 0, 1);
    io_ckpt_add(&c, "model/state", NULL, 0, 1);
    b = ckpt_bytes(&c, &n);
    seed("ckpt", "empty-arenas", 0, 0, 0, b, n);
    seed("ckpt", "empty-arenas-fixup", 1, 0, 0, b, n);
    free(b);
    memset(&c, 0, sizeof c);
    b = ckpt_bytes(&c, &n);
    seed("ckpt", "no-sections", 0, 0, 0, b, n);
    free(b);
    /* versions 1 and 2, still read */
    uint8_t extra[64];
    size_t elen = 0;
    put_le(extra, 11, 4);
    memcpy(extra + 4, "input_shape", 11);
    put_le(extra + 15, 16, 8);
    put_le(extra + 23, 1, 8);
    put_le(extra + 31, 12, 8);
    elen = 39;
    put_le(extra + elen, 5, 4);
    memcpy(extra + elen + 4, "vocab", 5);
    put_le(extra + elen + 9, 3, 8);
    memcpy(extra + elen + 17, "abc", 3);
    elen += 20;
    b = legacy_bytes(2, config, extra, elen, params, 12, state, 24, &n);
    seed("ckpt", "v2-records", 0, 0, 0, b, n);
    seed("ckpt", "v2-records-fixup", 1, 0, 0, b, n);
    free(b);
    b = legacy_bytes(1, config, NULL, 0, params, 12, state, 24, &n);
    seed("ckpt", "v1", 0, 0, 0, b, n);
    seed("ckpt", "v1-fixup", 1, 0, 0, b, n);
    free(b);
}

/* Config texts beyond the files in configs/; "\0"-separated overrides follow the
 * text where fuzz_config.c expects them. */
static void config_seeds(void)
{
    static const struct { const char *name; const char *t; size_t n; } s[] = {
#define S(name, lit) {name, lit, sizeof lit - 1}
        S("full-cnn",
          "model:\n  layers:\n    - type: conv2d\n      name: c1\n"
          "      kernel: [5, 5]\n      filters: 8\n      stride:\n"
          "        - 1\n        - 2\n    - {type: flatten}\n"
          "    - {type: dense, units: \"10\"}\nloss: cross_entropy\n"
          "optimizer:\n  type: adamw\n  beta1: 0.8\n  eps: 1.0e-7\n"
          "  decay_all: true\ndata:\n  format: csv\n  train: t.csv\n"
          "  test: 'v.csv'\n  val_fraction: 0.1\n  normalize: standardize\n"
          "  target_column: 3\n  targets: 2\n  skip_rows: 4\n  header: no\n"
          "  limit: 1000\ntraining:\n  epochs: 7\n  batch_size: 128\n"
          "  seed: 18446744073709551615\n  lr: 0.05\n  max_steps: 500\n"
          "checkpoint:\n  dir: runs/x\n  every_steps: 250\n"
          "  keep_last: 3\n  stop_on_error: true\nlogging:\n"
          "  metrics: m.jsonl\n  print_every: 10\n"),
        S("flow-idx-overrides",
          "{model: {layers: [{type: dense, units: 4}]}, loss: mse,"
          " data: {format: idx, train: a, train_labels: b},"
          " training: {epochs: 1, batch_size: 2, lr: 0.1}}\n"
          "\0training.epochs=3\0model.layers.0.units=64"
          "\0data.test=t\0data.test_labels=u\0checkpoint.dir=c"),
        S("overrides-bad",
          "model:\n  layers:\n    - type: dense\nloss: mse\n"
          "optimizer:\ndata: {format: csv, train: x}\n"
          "training: {epochs: 1, batch_size: 1, lr: 1}\n"
          "\0model.layers.1.units=3\0loss.x=1\0=1\0a..b=2\0novalue"),
        S("dup-key", "loss: mse\nloss: bce\n"),
        S("anchor", "a: &x 1\nb: *x\n"),
        S("two-docs", "--- 1\n--- 2\n"),
        S("deep", "a: [[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]\n"),
        S("empty", ""),
#undef S
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/config/%s.yaml", outdir, s[i].name);
        FILE *f = fopen(path, "wb");
        if (!f || (s[i].n && fwrite(s[i].t, 1, s[i].n, f) != s[i].n) ||
            fclose(f) != 0) {
            perror(path);
            exit(1);
        }
    }
}

/* The bytes of file `path` (*n of them); exits when unreadable. */
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    uint8_t *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

/* A packed dataset of `rows` rows written by io_pack_*, in two shards of
 * equal size when `two` (so the split byte 128 cuts between them), as a
 * fuzz_packed seed: options, index length, split byte, index, shards. */
static void packed_seed(const char *name, io_pk_type t, size_t rows, int two,
                        const char *vocab)
{
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/axon-corpus-%ld", (long)getpid());
    io_packed_meta m = {.x_type = t, .y_type = t, .x_shape = nn_shape_1d(3),
                        .x_width = 3, .y_width = 1, .total = rows};
    if (vocab) m.vocab_len = strlen(vocab), memcpy(m.vocab, vocab, m.vocab_len);
    float x[3 * 8], y[8];
    for (size_t i = 0; i < 3 * 8; i++) x[i] = (float)(i % 3);
    for (size_t i = 0; i < 8; i++) y[i] = (float)(i % 2);
    io_pack_writer *w;
    nn_error err;
    size_t row = 4 * io_pk_size(t), per = two ? rows / 2 : rows + 1;
    if (io_pack_begin(&w, dir, &m, per * row, &err) ||
        io_pack_add(w, x, y, rows, name, 0, &err) || io_pack_finish(w, &err)) {
        fprintf(stderr, "make_corpus: %s\n", err.msg);
        exit(1);
    }
    size_t ni, n0, n1 = 0;
    snprintf(path, sizeof path, "%s/index", dir);
    uint8_t *ix = slurp(path, &ni);
    unlink(path);
    snprintf(path, sizeof path, "%s/shard-000000.bin", dir);
    uint8_t *s0 = slurp(path, &n0), *s1 = NULL;
    unlink(path);
    if (two) {
        snprintf(path, sizeof path, "%s/shard-000001.bin", dir);
        s1 = slurp(path, &n1);
        unlink(path);
    }
    rmdir(dir);
    uint8_t *b = malloc(2 + ni + n0 + n1);
    b[0] = (uint8_t)(ni >> 8), b[1] = 128;
    memcpy(b + 2, ix, ni);
    memcpy(b + 2 + ni, s0, n0);
    if (n1) memcpy(b + 2 + ni + n0, s1, n1);
    /* options byte and the index length's low byte go first */
    seed("packed", name, (uint8_t)(two ? 2 : 0), (uint8_t)ni, 1, b,
         2 + ni + n0 + n1);
    free(ix), free(s0), free(s1), free(b);
}

static void packed_seeds(void)
{
    packed_seed("u8-one-shard", IO_PK_U8, 5, 0, NULL);
    packed_seed("u8-two-shards", IO_PK_U8, 8, 1, NULL);
    packed_seed("f32", IO_PK_F32, 4, 0, NULL);
    packed_seed("tokens-vocab", IO_PK_TOKEN, 6, 1, "abc");
    packed_seed("empty", IO_PK_U8, 0, 0, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    idx_seeds();
    csv_seeds();
    ckpt_seeds();
    config_seeds();
    dataset_seeds();
    packed_seeds();
    return 0;
}

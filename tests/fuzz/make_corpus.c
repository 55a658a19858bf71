/* tests/fuzz/make_corpus.c - writes the binary seed corpora of the fuzz
 * harnesses (run by tests/fuzz/make_corpus.sh; the outputs are committed).
 *
 *   make_corpus OUTDIR    writes OUTDIR/{idx,csv,ckpt,config}/NAME
 *
 * Every seed starts with the harness's option bytes (see fuzz_idx.c,
 * fuzz_csv.c, fuzz_ckpt.c), then the file content. Seeds are small valid
 * files plus near-valid ones (truncated, a count off by one, trailing
 * bytes), so the fuzzer starts next to every validation branch.
 */
#include <stdint.h> /* uint8_t */
#include <stdio.h>  /* FILE, fopen, snprintf */
#include <stdlib.h> /* free, malloc */
#include <string.h> /* memcpy, strlen */
#include <unistd.h> /* getpid, unlink */

#include "io/ckpt.h"

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
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    unlink(tmp);
    return b;
}

static void ckpt_seeds(void)
{
    float params[12], state[24];
    for (int i = 0; i < 12; i++) params[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 24; i++) state[i] = i % 3 ? 0.0f : (float)i;
    char config[] = "model: {layers: [{type: dense, units: 3}]}\n";
    char extra[] = "vocab";
    io_ckpt c;
    memset(&c, 0, sizeof c);
    c.model_hash = 0x0123456789abcdefull;
    c.config = config;
    c.config_len = strlen(config);
    c.world_size = 2;
    c.epoch = 1;
    c.step_in_epoch = 3;
    c.global_step = 10;
    c.optim_kind = 1;
    c.optim_t = 10;
    c.n_rng = 2;
    for (int r = 0; r < 2; r++)
        for (int w = 0; w < 4; w++) c.rng[r][w] = (uint64_t)(r * 4 + w + 1);
    c.best_metric = 0.5;
    c.extra = extra;
    c.extra_len = strlen(extra);
    c.n_params = 12;
    c.params = params;
    c.n_state = 24;
    c.state = state;
    size_t n;
    uint8_t *b = ckpt_bytes(&c, &n);
    seed("ckpt", "valid", 0, 0, 0, b, n);
    seed("ckpt", "valid-fixup", 1, 0, 0, b, n);
    seed("ckpt", "truncated", 0, 0, 0, b, n - 7);
    seed("ckpt", "truncated-fixup", 1, 0, 0, b, n - 7);
    b[n] = 0;
    seed("ckpt", "trailing", 0, 0, 0, b, n + 1);
    b[200] ^= 0x40; /* inside the zlib stream: payload CRC or inflate fails */
    seed("ckpt", "flipped-payload", 0, 0, 0, b, n);
    free(b);
    c.n_rng = 0; c.extra = NULL; c.extra_len = 0;
    c.n_params = 0; c.params = NULL; c.n_state = 0; c.state = NULL;
    b = ckpt_bytes(&c, &n);
    seed("ckpt", "empty-arenas", 0, 0, 0, b, n);
    seed("ckpt", "empty-arenas-fixup", 1, 0, 0, b, n);
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
    return 0;
}

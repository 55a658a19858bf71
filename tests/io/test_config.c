/* tests/io/test_config.c - the strict YAML config reader: every field of a
 * full config, the defaults, one test per error class (checking the file
 * name, the line and the key in the message), --set overrides, and the
 * YAML tree underneath. */
#include <errno.h>  /* ENOENT */
#include <math.h>   /* fabs */
#include <stdint.h> /* UINT64_MAX */
#include <stdio.h>  /* FILE, fopen, snprintf */
#include <stdlib.h> /* free */
#include <string.h> /* strstr, strlen, strcmp */

#include "io/config.h"
#include "io/yaml.h"
#include "tests/cu.h"

/* ---- helpers ------------------------------------------------------------ */

/* A small valid idx config; the error tests edit single lines of it, so
 * its line numbers matter (shown on the right). */
static const char *const MINIMAL =
    "model:\n"               /* 1 */
    "  layers:\n"            /* 2 */
    "    - type: dense\n"    /* 3 */
    "      units: 10\n"      /* 4 */
    "loss: mse\n"            /* 5 */
    "data:\n"                /* 6 */
    "  format: idx\n"        /* 7 */
    "  train: a.idx\n"       /* 8 */
    "  train_labels: b.idx\n" /* 9 */
    "training:\n"            /* 10 */
    "  epochs: 1\n"          /* 11 */
    "  batch_size: 32\n"     /* 12 */
    "  lr: 0.1\n";           /* 13 */

/* MINIMAL with `count` lines from `line` (1-based) replaced by `repl`
 * (which may hold several lines, or be "" to delete them; a line past the
 * end appends). Static buffer: one edit at a time. */
static const char *edit_n(int line, int count, const char *repl)
{
    static char buf[4096];
    size_t len = 0, rn = strlen(repl);
    int cur = 1;
    for (const char *p = MINIMAL; *p || cur == line; cur++) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);
        if (cur == line) {
            CU_ASSERT_FATAL(len + rn + 2 < sizeof buf);
            memcpy(buf + len, repl, rn);
            len += rn;
            if (rn && repl[rn - 1] != '\n') buf[len++] = '\n';
        } else if (cur < line || cur >= line + count) {
            CU_ASSERT_FATAL(len + n + 1 < sizeof buf);
            memcpy(buf + len, p, n);
            len += n;
        }
        p += n;
    }
    buf[len] = '\0';
    return buf;
}

static const char *edit(int line, const char *repl)
{
    return edit_n(line, 1, repl);
}

static int parse_text(io_config *cfg, const char *text, char *const *ov,
                      size_t n_ov, nn_error *err)
{
    nn_error_clear(err);
    return io_config_parse(cfg, "test.yaml", text, strlen(text), ov, n_ov, NULL,
                           err);
}

static void msg_has(const char *msg, const char *want, int caller)
{
    if (strstr(msg, want)) {
        CU_PASS("message has the expected text");
        return;
    }
    fprintf(stderr, "\n    (test line %d) message \"%s\" lacks \"%s\"\n", caller,
            msg, want);
    CU_FAIL("message lacks the expected text");
}

/* Parsing must fail with NN_EXIT_USAGE, a message holding `where` (such
 * as "test.yaml:12: ") and `key`, and leave cfg empty. */
static void expect_error(int caller, const char *text, char *const *ov,
                         size_t n_ov, const char *where, const char *key)
{
    io_config cfg;
    nn_error err;
    int rc = parse_text(&cfg, text, ov, n_ov, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(err.code, NN_EXIT_USAGE);
    if (rc != NN_EXIT_USAGE)
        fprintf(stderr, "\n    (test line %d) rc %d, message \"%s\"\n", caller,
                rc, err.msg);
    msg_has(err.msg, where, caller);
    if (key) msg_has(err.msg, key, caller);
    CU_ASSERT_PTR_NULL(cfg.path);
    CU_ASSERT_PTR_NULL(cfg.text);
    CU_ASSERT_PTR_NULL(cfg.layers);
    CU_ASSERT_EQUAL(cfg.n_layers, 0);
    io_config_free(&cfg); /* harmless after a failed parse */
}

#define EXPECT_ERROR(text, where, key) \
    expect_error(__LINE__, (text), NULL, 0, (where), (key))
#define EXPECT_SET_ERROR(ov, where, key)                                  \
    do {                                                                  \
        char *ovs_[] = {(ov)};                                            \
        expect_error(__LINE__, MINIMAL, ovs_, 1, (where), (key));         \
    } while (0)

static const nn_spec_kv *kv(const nn_spec *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0) return &s->kv[i];
    return NULL;
}

#define ASSERT_STR(got, want)                                     \
    do {                                                          \
        const char *g_ = (got);                                   \
        CU_ASSERT_PTR_NOT_NULL_FATAL(g_);                         \
        CU_ASSERT_STRING_EQUAL(g_, (want));                       \
    } while (0)

#define ASSERT_KV(spec, key, want, want_line)                     \
    do {                                                          \
        const nn_spec_kv *kv_ = kv((spec), (key));                \
        CU_ASSERT_PTR_NOT_NULL_FATAL(kv_);                        \
        CU_ASSERT_STRING_EQUAL(kv_->value, (want));               \
        CU_ASSERT_EQUAL(kv_->line, (want_line));                  \
    } while (0)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(text, 1, strlen(text), f), strlen(text));
    CU_ASSERT_EQUAL(fclose(f), 0);
}

/* ---- valid configs ------------------------------------------------------ */

/* Every key at a value other than its default, but for those that exclude
 * keys given here (the step and exponential schedules' keys, warmup_steps,
 * data.val and data.val_labels): the "training controls" suite has them. */
static const char *const FULL =
    "# every key, none at its default\n" /* 1 */
    "model:\n"                           /* 2 */
    "  layers:\n"                        /* 3 */
    "    - type: conv2d\n"               /* 4 */
    "      name: c1\n"                   /* 5 */
    "      kernel: [5, 5]\n"             /* 6 */
    "      filters: 8\n"                 /* 7 */
    "      stride:\n"                    /* 8 */
    "        - 1\n"                      /* 9 */
    "        - 2\n"                      /* 10 */
    "    - type: dense\n"                /* 11 */
    "      units: 256\n"                 /* 12 */
    "      trainable: false\n"           /* 13 */
    "    - {type: dense, units: \"10\"}\n" /* 14 */
    "loss: cross_entropy\n"              /* 15 */
    "optimizer:\n"                       /* 16 */
    "  type: adamw\n"                    /* 17 */
    "  momentum: 0.5\n"                  /* 18 */
    "  nesterov: yes\n"                  /* 19 */
    "  weight_decay: 0.01\n"             /* 20 */
    "  l1: 0.001\n"                      /* 21 */
    "  beta1: 0.8\n"                     /* 22 */
    "  beta2: 0.99\n"                    /* 23 */
    "  eps: 1.0e-7\n"                    /* 24 */
    "  decay_all: true\n"                /* 25 */
    "data:\n"                            /* 26 */
    "  format: csv\n"                    /* 27 */
    "  train: /data/train.csv\n"         /* 28 */
    "  test: '/data/test.csv'\n"         /* 29 */
    "  val_fraction: 0.1\n"              /* 30 */
    "  normalize: standardize\n"         /* 31 */
    "  scale: 0.5\n"                     /* 32 */
    "  target_column: 3\n"               /* 33 */
    "  targets: 2\n"                     /* 34 */
    "  skip_rows: 4\n"                   /* 35 */
    "  header: no\n"                     /* 36 */
    "  limit: 1000\n"                    /* 37 */
    "training:\n"                        /* 38 */
    "  epochs: 7\n"                      /* 39 */
    "  batch_size: 128\n"                /* 40 */
    "  seed: 18446744073709551615\n"     /* 41 */
    "  lr: 0.05\n"                       /* 42 */
    "  max_steps: 500\n"                 /* 43 */
    "  schedule: cosine\n"               /* 44 */
    "  warmup_epochs: 2\n"               /* 45 */
    "  warmup_start_lr: 0.001\n"         /* 46 */
    "  min_lr: 1e-4\n"                   /* 47 */
    "  lr_reference_batch: 256\n"        /* 48 */
    "  accumulate: 4\n"                  /* 49 */
    "  clip_norm: 1.5\n"                 /* 50 */
    "early_stopping:\n"                  /* 51 */
    "  enabled: true\n"                  /* 52 */
    "  monitor: val_accuracy\n"          /* 53 */
    "  patience: 3\n"                    /* 54 */
    "  min_delta: 0.002\n"               /* 55 */
    "checkpoint:\n"                      /* 56 */
    "  dir: runs/x\n"                    /* 57 */
    "  every_steps: 250\n"               /* 58 */
    "  every_epochs: 2\n"                /* 59 */
    "  keep_last: 3\n"                   /* 60 */
    "  stop_on_error: true\n"            /* 61 */
    "logging:\n"                         /* 62 */
    "  metrics: runs/x/metrics.jsonl\n"  /* 63 */
    "  print_every: 10\n";               /* 64 */

static void check_full_layers(const io_config *cfg)
{
    CU_ASSERT_EQUAL_FATAL(cfg->n_layers, 3);
    const nn_spec *l = cfg->layers;
    ASSERT_STR(l[0].type, "conv2d");
    ASSERT_STR(l[0].name, "c1");
    CU_ASSERT_PTR_EQUAL(l[0].file, cfg->path);
    CU_ASSERT_EQUAL(l[0].line, 4);
    CU_ASSERT_EQUAL(l[0].n, 3); /* kernel, filters, stride */
    ASSERT_KV(&l[0], "kernel", "5,5", 6);
    ASSERT_KV(&l[0], "filters", "8", 7);
    ASSERT_KV(&l[0], "stride", "1,2", 8);
    CU_ASSERT_PTR_NULL(kv(&l[0], "type"));
    CU_ASSERT_PTR_NULL(kv(&l[0], "name"));
    ASSERT_STR(l[1].type, "dense");
    ASSERT_STR(l[1].name, "dense_2"); /* default: type + 1-based index */
    CU_ASSERT_EQUAL(l[1].line, 11);
    CU_ASSERT_EQUAL(l[1].n, 2);
    ASSERT_KV(&l[1], "units", "256", 12);
    ASSERT_KV(&l[1], "trainable", "false", 13);
    ASSERT_STR(l[2].name, "dense_3");
    CU_ASSERT_EQUAL(l[2].line, 14);
    ASSERT_KV(&l[2], "units", "10", 14);
    for (size_t i = 0; i < l[0].n; i++) CU_ASSERT_EQUAL(l[0].kv[i].used, 0);
}

static void test_full_config(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/full.yaml", cu_tmpdir());
    write_file(path, FULL);
    char *text = NULL;
    size_t len = 0;
    nn_error err;
    nn_error_clear(&err);
    CU_ASSERT_EQUAL_FATAL(io_read_file(path, &text, &len, &err), 0);
    CU_ASSERT_EQUAL(len, strlen(FULL));
    io_config cfg;
    int rc = io_config_parse(&cfg, path, text, len, NULL, 0, NULL, &err);
    free(text);
    if (rc) fprintf(stderr, "\n    %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    ASSERT_STR(cfg.path, path);
    CU_ASSERT_EQUAL(cfg.text_len, strlen(FULL));
    CU_ASSERT_STRING_EQUAL(cfg.text, FULL);
    check_full_layers(&cfg);
    ASSERT_STR(cfg.loss, "cross_entropy");
    CU_ASSERT_EQUAL(cfg.optim.kind, NN_OPT_ADAMW);
    CU_ASSERT_EQUAL(cfg.optim.momentum, 0.5f);
    CU_ASSERT_EQUAL(cfg.optim.nesterov, 1);
    CU_ASSERT_EQUAL(cfg.optim.weight_decay, 0.01f);
    CU_ASSERT_EQUAL(cfg.optim.l1, 0.001f);
    CU_ASSERT_EQUAL(cfg.optim.beta1, 0.8f);
    CU_ASSERT_EQUAL(cfg.optim.beta2, 0.99f);
    CU_ASSERT_EQUAL(cfg.optim.eps, 1.0e-7f);
    CU_ASSERT_EQUAL(cfg.optim.decay_all, 1);
    ASSERT_STR(cfg.data.format, "csv");
    ASSERT_STR(cfg.data.train, "/data/train.csv");
    CU_ASSERT_PTR_NULL(cfg.data.train_labels);
    ASSERT_STR(cfg.data.test, "/data/test.csv");
    CU_ASSERT_PTR_NULL(cfg.data.test_labels);
    CU_ASSERT_EQUAL(cfg.data.val_fraction, 0.1);
    ASSERT_STR(cfg.data.normalize, "standardize");
    CU_ASSERT_EQUAL(cfg.data.scale, 0.5);
    CU_ASSERT_EQUAL(cfg.data.target_column, 3);
    CU_ASSERT_EQUAL(cfg.data.targets, 2);
    CU_ASSERT_EQUAL(cfg.data.skip_rows, 4);
    CU_ASSERT_EQUAL(cfg.data.header, 0);
    CU_ASSERT_EQUAL(cfg.data.limit, 1000);
    CU_ASSERT_EQUAL(cfg.train.epochs, 7);
    CU_ASSERT_EQUAL(cfg.train.batch_size, 128);
    CU_ASSERT(cfg.train.seed == UINT64_MAX);
    CU_ASSERT_EQUAL(cfg.train.lr, 0.05);
    CU_ASSERT_EQUAL(cfg.train.max_steps, 500);
    CU_ASSERT_EQUAL(cfg.train.schedule, NN_SCHED_COSINE);
    CU_ASSERT_EQUAL(cfg.train.warmup_steps, 0);
    CU_ASSERT_EQUAL(cfg.train.warmup_epochs, 2);
    CU_ASSERT_EQUAL(cfg.train.warmup_start_lr, 0.001);
    CU_ASSERT_EQUAL(cfg.train.min_lr, 1e-4);
    CU_ASSERT_EQUAL(cfg.train.lr_reference_batch, 256);
    CU_ASSERT_EQUAL(cfg.train.accumulate, 4);
    CU_ASSERT_EQUAL(cfg.train.clip_norm, 1.5);
    CU_ASSERT_EQUAL(cfg.early_stop.enabled, 1);
    ASSERT_STR(cfg.early_stop.monitor, "val_accuracy");
    CU_ASSERT_EQUAL(cfg.early_stop.patience, 3);
    CU_ASSERT_EQUAL(cfg.early_stop.min_delta, 0.002);
    ASSERT_STR(cfg.ckpt.dir, "runs/x");
    CU_ASSERT_EQUAL(cfg.ckpt.every_steps, 250);
    CU_ASSERT_EQUAL(cfg.ckpt.every_epochs, 2);
    CU_ASSERT_EQUAL(cfg.ckpt.keep_last, 3);
    CU_ASSERT_EQUAL(cfg.ckpt.stop_on_error, 1);
    ASSERT_STR(cfg.log.metrics, "runs/x/metrics.jsonl");
    CU_ASSERT_EQUAL(cfg.log.print_every, 10);
    io_config_free(&cfg);
    CU_ASSERT_PTR_NULL(cfg.path);
    io_config_free(&cfg); /* a second free is a no-op */
}

static void test_defaults_idx(void)
{
    io_config cfg;
    nn_error err;
    int rc = parse_text(&cfg, MINIMAL, NULL, 0, &err);
    if (rc) fprintf(stderr, "\n    %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(cfg.n_layers, 1);
    ASSERT_STR(cfg.layers[0].name, "dense_1");
    CU_ASSERT_EQUAL(cfg.layers[0].line, 3);
    ASSERT_KV(&cfg.layers[0], "units", "10", 4);
    ASSERT_STR(cfg.loss, "mse");
    CU_ASSERT_EQUAL(cfg.optim.kind, NN_OPT_SGD);
    CU_ASSERT_EQUAL(cfg.optim.momentum, 0.0f);
    CU_ASSERT_EQUAL(cfg.optim.nesterov, 0);
    CU_ASSERT_EQUAL(cfg.optim.weight_decay, 0.0f);
    CU_ASSERT_EQUAL(cfg.optim.l1, 0.0f);
    CU_ASSERT_EQUAL(cfg.optim.beta1, 0.9f);
    CU_ASSERT_EQUAL(cfg.optim.beta2, 0.999f);
    CU_ASSERT_EQUAL(cfg.optim.eps, 1e-8f);
    CU_ASSERT_EQUAL(cfg.optim.decay_all, 0);
    ASSERT_STR(cfg.data.format, "idx");
    ASSERT_STR(cfg.data.train, "a.idx");
    ASSERT_STR(cfg.data.train_labels, "b.idx");
    CU_ASSERT_PTR_NULL(cfg.data.test);
    CU_ASSERT_PTR_NULL(cfg.data.test_labels);
    CU_ASSERT_EQUAL(cfg.data.val_fraction, 0.0);
    ASSERT_STR(cfg.data.normalize, "scale"); /* idx default */
    CU_ASSERT_EQUAL(cfg.data.scale, 1.0 / 255.0);
    CU_ASSERT_EQUAL(cfg.data.target_column, -1);
    CU_ASSERT_EQUAL(cfg.data.targets, 1);
    CU_ASSERT_EQUAL(cfg.data.skip_rows, 0);
    CU_ASSERT_EQUAL(cfg.data.header, 1);
    CU_ASSERT_EQUAL(cfg.data.limit, 0);
    CU_ASSERT_PTR_NULL(cfg.data.val);
    CU_ASSERT_PTR_NULL(cfg.data.val_labels);
    CU_ASSERT_EQUAL(cfg.train.epochs, 1);
    CU_ASSERT_EQUAL(cfg.train.batch_size, 32);
    CU_ASSERT(cfg.train.seed == 1);
    CU_ASSERT_EQUAL(cfg.train.lr, 0.1);
    CU_ASSERT_EQUAL(cfg.train.max_steps, 0);
    /* no schedule keys: a constant rate, exactly as before they existed */
    CU_ASSERT_EQUAL(cfg.train.schedule, NN_SCHED_CONSTANT);
    CU_ASSERT_EQUAL(cfg.train.warmup_steps, 0);
    CU_ASSERT_EQUAL(cfg.train.warmup_epochs, 0);
    CU_ASSERT_EQUAL(cfg.train.warmup_start_lr, 0.0);
    CU_ASSERT_EQUAL(cfg.train.step_size, 0);
    CU_ASSERT_EQUAL(cfg.train.step_size_epochs, 0);
    CU_ASSERT_EQUAL(cfg.train.gamma, 0.1);
    CU_ASSERT_EQUAL(cfg.train.decay_steps, 0);
    CU_ASSERT_EQUAL(cfg.train.decay_epochs, 0);
    CU_ASSERT_EQUAL(cfg.train.min_lr, 0.0);
    CU_ASSERT_EQUAL(cfg.train.lr_reference_batch, 0);
    CU_ASSERT_EQUAL(cfg.train.accumulate, 1);
    CU_ASSERT_EQUAL(cfg.train.clip_norm, 0.0);
    CU_ASSERT_EQUAL(cfg.early_stop.enabled, 0);
    ASSERT_STR(cfg.early_stop.monitor, "val_loss");
    CU_ASSERT_EQUAL(cfg.early_stop.patience, 5);
    CU_ASSERT_EQUAL(cfg.early_stop.min_delta, 0.0);
    nn_schedule sc = io_train_schedule(&cfg.train, 10, 100);
    for (uint64_t t = 0; t < 300; t += 7)
        CU_ASSERT_EQUAL(nn_schedule_lr(&sc, t), 0.1);
    CU_ASSERT_PTR_NULL(cfg.ckpt.dir);
    CU_ASSERT_EQUAL(cfg.ckpt.every_steps, 0);
    CU_ASSERT_EQUAL(cfg.ckpt.every_epochs, 1);
    CU_ASSERT_EQUAL(cfg.ckpt.keep_last, 0);
    CU_ASSERT_EQUAL(cfg.ckpt.stop_on_error, 0);
    CU_ASSERT_PTR_NULL(cfg.log.metrics);
    CU_ASSERT_EQUAL(cfg.log.print_every, 100);
    io_config_free(&cfg);
}

static void test_defaults_csv(void)
{
    io_config cfg;
    nn_error err;
    /* csv: no label files; normalize defaults to none. Empty sections
     * ("checkpoint:" with nothing) and null values mean "defaults". */
    int rc = parse_text(&cfg, edit(7, "  format: csv\n"
                                      "  normalize:\n"
                                      "checkpoint:\n"
                                      "logging: ~\n"
                                      "data:\n"), NULL, 0, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE); /* "data" twice: a duplicate */
    msg_has(err.msg, "test.yaml:11: data: duplicate key", __LINE__);
    const char *csv = "model: {layers: [{type: dense}]}\n"
                      "loss: bce\n"
                      "data:\n"
                      "  format: csv\n"
                      "  train: t.csv\n"
                      "  normalize:\n"
                      "checkpoint:\n"
                      "logging: ~\n"
                      "training: {epochs: 2, batch_size: 8, lr: 1e-3}\n";
    rc = parse_text(&cfg, csv, NULL, 0, &err);
    if (rc) fprintf(stderr, "\n    %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    ASSERT_STR(cfg.data.normalize, "none");
    CU_ASSERT_PTR_NULL(cfg.data.train_labels);
    CU_ASSERT_EQUAL(cfg.data.target_column, -1);
    CU_ASSERT_EQUAL(cfg.data.targets, 1);
    CU_ASSERT_EQUAL(cfg.data.header, 1);
    CU_ASSERT_EQUAL(cfg.ckpt.every_epochs, 1);
    CU_ASSERT_EQUAL(cfg.log.print_every, 100);
    CU_ASSERT_EQUAL(cfg.train.lr, 1e-3);
    CU_ASSERT_EQUAL(cfg.layers[0].n, 0);
    ASSERT_STR(cfg.layers[0].name, "dense_1");
    io_config_free(&cfg);
}

static void test_lists_become_strings(void)
{
    io_config cfg;
    nn_error err;
    int rc = parse_text(&cfg, edit(4, "      kernel: [5, 5]\n"
                                      "      pad: [ 0,1 , 2 ]\n"
                                      "      dims:\n"
                                      "        - 3\n"
                                      "        - '4'\n"
                                      "      one: [7]\n"), NULL, 0, &err);
    if (rc) fprintf(stderr, "\n    %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    ASSERT_KV(&cfg.layers[0], "kernel", "5,5", 4);
    ASSERT_KV(&cfg.layers[0], "pad", "0,1,2", 5);
    ASSERT_KV(&cfg.layers[0], "dims", "3,4", 6);
    ASSERT_KV(&cfg.layers[0], "one", "7", 9);
    io_config_free(&cfg);
}

/* ---- error classes ------------------------------------------------------ */

static void test_unknown_keys(void)
{
    EXPECT_ERROR(edit(14, "colour: blue\n"), "test.yaml:14: ", "colour");
    EXPECT_ERROR(edit(12, "  batchsize: 32\n"), "test.yaml:12: ",
                 "training.batchsize: unknown key");
    EXPECT_ERROR(edit(14, "optimizer:\n  type: sgd\n  typo: 1\n"),
                 "test.yaml:16: ", "optimizer.typo");
    EXPECT_ERROR(edit(1, "model:\n  depth: 3\n"), "test.yaml:2: ",
                 "model.depth");
    /* a dotted key is not a shortcut for a section */
    EXPECT_ERROR(edit(14, "training.seed: 3\n"), "test.yaml:14: ",
                 "training.seed");
}

static void test_wrong_types(void)
{
    EXPECT_ERROR(edit(11, "  epochs: abc\n"), "test.yaml:11: ",
                 "training.epochs: 'abc' is not a non-negative integer");
    EXPECT_ERROR(edit(12, "  batch_size: -3\n"), "test.yaml:12: ",
                 "training.batch_size");
    EXPECT_ERROR(edit(12, "  batch_size: 3.5\n"), "test.yaml:12: ",
                 "training.batch_size");
    EXPECT_ERROR(edit(12, "  batch_size: 32 \t# trailing comment ok\n  x: 1\n"),
                 "test.yaml:13: ", "training.x");
    EXPECT_ERROR(edit(13, "  lr: 0.1x\n"), "test.yaml:13: ",
                 "training.lr: '0.1x' is not a finite number");
    EXPECT_ERROR(edit(13, "  lr: nan\n"), "test.yaml:13: ", "training.lr");
    EXPECT_ERROR(edit(5, "loss:\n  a: 1\n"), "test.yaml:5: ",
                 "loss: expected a single value, got a map");
    EXPECT_ERROR(edit(5, "loss: [mse]\n"), "test.yaml:5: ", "loss");
    EXPECT_ERROR(edit(14, "checkpoint:\n  stop_on_error: maybe\n"),
                 "test.yaml:15: ", "checkpoint.stop_on_error");
    EXPECT_ERROR(edit(14, "optimizer: adam\n"), "test.yaml:14: ",
                 "optimizer: expected a map");
    EXPECT_ERROR(edit(14, "logging:\n  metrics: \"\"\n"), "test.yaml:15: ",
                 "logging.metrics: empty string");
    EXPECT_ERROR(edit(14, "training: 3\n"), "test.yaml:14: ", "duplicate");
    EXPECT_ERROR(edit(4, "      units: {a: 1}\n"), "test.yaml:4: ",
                 "model.layers.0.units");
    EXPECT_ERROR(edit(4, "      kernel: [[1, 2]]\n"), "test.yaml:4: ",
                 "model.layers.0.kernel");
}

static void test_out_of_range(void)
{
    EXPECT_ERROR(edit(11, "  epochs: 0\n"), "test.yaml:11: ",
                 "training.epochs: 0 is out of range [1, 1000000000000]");
    EXPECT_ERROR(edit(13, "  lr: 0\n"), "test.yaml:13: ", "training.lr");
    EXPECT_ERROR(edit(14, "optimizer:\n  momentum: 1.0\n"), "test.yaml:15: ",
                 "optimizer.momentum");
    EXPECT_ERROR(edit(14, "optimizer:\n  beta2: -0.1\n"), "test.yaml:15: ",
                 "optimizer.beta2");
    EXPECT_ERROR(edit(14, "optimizer:\n  eps: 0.0\n"), "test.yaml:15: ",
                 "optimizer.eps");
    EXPECT_ERROR(edit(14, "optimizer:\n  weight_decay: 1e300\n"),
                 "test.yaml:15: ", "optimizer.weight_decay");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  val_fraction: 0.95\n"),
                 "test.yaml:10: ", "data.val_fraction");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  target_column: -2\n"),
                 "test.yaml:10: ", "data.target_column");
    EXPECT_ERROR(edit(12, "  batch_size: 99999999999999999999999\n"),
                 "test.yaml:12: ",
                 "training.batch_size: 99999999999999999999999 is too large");
    /* counts whose products would wrap: bounded in the key table */
    EXPECT_ERROR(edit(12, "  batch_size: 18446744073709551615\n"),
                 "test.yaml:12: ", "training.batch_size: 18446744073709551615 "
                                   "is out of range [1, 16777216]");
    EXPECT_ERROR(edit(12, "  batch_size: 16777217\n"), "test.yaml:12: ",
                 "out of range [1, 16777216]");
    EXPECT_ERROR(edit(13, "  lr: 0.1\n  accumulate: 18446744073709551615\n"),
                 "test.yaml:14: ", "training.accumulate: "
                 "18446744073709551615 is out of range [1, 16777216]");
    EXPECT_ERROR(edit(11, "  epochs: 1000000000001\n"), "test.yaml:11: ",
                 "training.epochs: 1000000000001 is out of range");
}

static void test_missing_keys(void)
{
    /* a missing key is reported at its section's line */
    EXPECT_ERROR(edit(13, ""), "test.yaml:10: ",
                 "training.lr: required key is missing");
    EXPECT_ERROR(edit(5, ""), "test.yaml:1: ", "loss: required");
    EXPECT_ERROR(edit(8, ""), "test.yaml:6: ", "data.train");
    EXPECT_ERROR(edit(8, "  train:\n"), "test.yaml:8: ",
                 "data.train: required value is empty");
    EXPECT_ERROR(edit(3, "    - name: x\n"), "test.yaml:3: ",
                 "model.layers.0.type: required key is missing");
    /* model.layers is required by the objectives that train one model:
     * tests/trainer/test_schema.c */
    EXPECT_ERROR(edit(9, ""), "test.yaml:6: ",
                 "data.train_labels: required when data.format is idx");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  test: t.idx\n"),
                 "test.yaml:6: ", "data.test_labels");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  test_labels: t.idx\n"),
                 "test.yaml:10: ", "data.test");
}

static void test_format_rules(void)
{
    EXPECT_ERROR(edit(7, "  format: csv\n"), "test.yaml:9: ",
                 "data.train_labels: not used with data.format csv");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  header: true\n"),
                 "test.yaml:10: ", "data.header: not used with data.format idx");
    EXPECT_ERROR(edit(7, "  format: parquet\n"), "test.yaml:7: ",
                 "data.format: 'parquet' is not one of: idx, csv");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  normalize: zscore\n"),
                 "test.yaml:10: ", "data.normalize");
}

static void test_unknown_names(void)
{
    EXPECT_ERROR(edit(5, "loss: hinge\n"), "test.yaml:5: ",
                 "loss: 'hinge' is not one of: mse, cross_entropy, bce");
    EXPECT_ERROR(edit(14, "optimizer:\n  type: rmsprop\n"), "test.yaml:15: ",
                 "optimizer.type: 'rmsprop'");
}

static void test_yaml_errors(void)
{
    EXPECT_ERROR(edit(4, "\tunits: 10\n"), "test.yaml:4:1: ", "tab");
    EXPECT_ERROR(edit(12, "  batch_size: \"32\n"), "test.yaml:", "quoted");
    EXPECT_ERROR(edit(11, "  epochs: 1\n   x: 2\n"), "test.yaml:12:", NULL);
    EXPECT_ERROR(edit(14, "---\nloss: mse\n"), "test.yaml:14:1: ",
                 "only one YAML document");
    EXPECT_ERROR(edit(5, "loss: &l mse\n"), "test.yaml:5:", "anchors");
    EXPECT_ERROR(edit(5, "loss: !!str mse\n"), "test.yaml:5:", "tags");
    /* a \0 escape must not cut a key or a string short */
    EXPECT_ERROR(edit(13, "  \"lr\\0junk\": 0.1\n"), "test.yaml:13:",
                 "NUL character");
    EXPECT_ERROR(edit(5, "loss: \"mse\\0junk\"\n"), "test.yaml:5:",
                 "NUL character");
    EXPECT_ERROR(edit(8, "  train: \"a.idx\\x00b\"\n"), "test.yaml:8:",
                 "NUL character");
}

static void test_empty_and_not_a_map(void)
{
    EXPECT_ERROR("", "test.yaml:1: ", "empty");
    EXPECT_ERROR("# nothing but a comment\n\n", "test.yaml:1: ", "empty");
    EXPECT_ERROR("---\n", "test.yaml:1: ", "empty");
    EXPECT_ERROR("\n\nhello\n", "test.yaml:3: ", "map of sections");
    EXPECT_ERROR("- a\n- b\n", "test.yaml:1: ", "map of sections");
}

static void test_layers_shape(void)
{
    EXPECT_ERROR(edit_n(3, 2, "    type: dense\n    units: 10\n"),
                 "test.yaml:2: ", "model.layers: expected a sequence");
    EXPECT_ERROR(edit_n(2, 3, "  layers: 5\n"), "test.yaml:2: ",
                 "model.layers: expected a sequence");
    EXPECT_ERROR(edit_n(2, 3, "  layers: []\n"), "test.yaml:2: ",
                 "model.layers: the layer list is empty");
    EXPECT_ERROR(edit_n(2, 3, "  layers:\n"), "test.yaml:2: ", "model.layers");
    EXPECT_ERROR(edit_n(3, 2, "    - dense\n"), "test.yaml:3: ",
                 "model.layers.0: expected a map");
    EXPECT_ERROR(edit(3, "    - type: [dense]\n"), "test.yaml:3: ",
                 "model.layers.0.type");
    EXPECT_ERROR(edit(4, "      units: 10\n"
                         "    - type: relu\n"
                         "    - type: dense\n"
                         "      name: dense_1\n"), "test.yaml:7: ",
                 "model.layers.2.name: layer name 'dense_1' is already used");
}

static void test_duplicate_keys(void)
{
    EXPECT_ERROR(edit(14, "loss: bce\n"), "test.yaml:14: ",
                 "loss: duplicate key (first at line 5)");
    EXPECT_ERROR(edit(14, "  lr: 0.2\n"), "test.yaml:14: ",
                 "training.lr: duplicate key (first at line 13)");
    EXPECT_ERROR(edit(4, "      units: 10\n      units: 20\n"), "test.yaml:5: ",
                 "model.layers.0.units: duplicate key");
    EXPECT_ERROR(edit(4, "      \"units\": 10\n      units: 20\n"),
                 "test.yaml:5: ", "duplicate key");
}


/* ---- schedules, accumulation, early stopping, data.val ----------------- */

/* Parse `text` into cfg; the parse must succeed. */
static void parse_ok(io_config *cfg, const char *text, int caller)
{
    nn_error err;
    int rc = parse_text(cfg, text, NULL, 0, &err);
    if (rc) fprintf(stderr, "\n    (test line %d) %s\n", caller, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void test_schedule_kinds(void)
{
    io_config cfg;
    /* the table's names are in nn_schedule_kind order */
    const char *names[] = {"constant", "step", "exponential", "cosine"};
    const char *extra[] = {"", "  step_size: 5\n", "  decay_steps: 5\n", ""};
    for (int i = 0; i < NN_SCHED_KINDS; i++) {
        char text[128];
        snprintf(text, sizeof text, "  schedule: %s\n%s", names[i], extra[i]);
        parse_ok(&cfg, edit(14, text), __LINE__);
        CU_ASSERT_EQUAL(cfg.train.schedule, nn_schedule_kind_parse(names[i]));
        CU_ASSERT_EQUAL((int)cfg.train.schedule, i);
        io_config_free(&cfg);
    }
    parse_ok(&cfg, edit(14, "  schedule: step\n  step_size: 100\n"
                            "  gamma: 0.5\n  warmup_steps: 10\n"), __LINE__);
    CU_ASSERT_EQUAL(cfg.train.step_size, 100);
    CU_ASSERT_EQUAL(cfg.train.gamma, 0.5);
    CU_ASSERT_EQUAL(cfg.train.warmup_steps, 10);
    io_config_free(&cfg);
    parse_ok(&cfg, edit(14, "  schedule: step\n  step_size_epochs: 3\n"
                            "  gamma: 1\n"), __LINE__);
    CU_ASSERT_EQUAL(cfg.train.step_size, 0);
    CU_ASSERT_EQUAL(cfg.train.step_size_epochs, 3);
    CU_ASSERT_EQUAL(cfg.train.gamma, 1.0);
    io_config_free(&cfg);
    parse_ok(&cfg, edit(14, "  schedule: exponential\n  decay_epochs: 2\n"
                            "  gamma: 0.9\n  warmup_epochs: 1\n"
                            "  warmup_start_lr: 0.01\n"), __LINE__);
    CU_ASSERT_EQUAL(cfg.train.decay_epochs, 2);
    CU_ASSERT_EQUAL(cfg.train.gamma, 0.9);
    CU_ASSERT_EQUAL(cfg.train.warmup_epochs, 1);
    CU_ASSERT_EQUAL(cfg.train.warmup_start_lr, 0.01);
    io_config_free(&cfg);
    /* explicit zeros mean "off" where 0 is the default */
    parse_ok(&cfg, edit(14, "  warmup_steps: 0\n  warmup_epochs: 0\n"
                            "  lr_reference_batch: 0\n  clip_norm: 0\n"),
             __LINE__);
    CU_ASSERT_EQUAL(cfg.train.warmup_steps + cfg.train.warmup_epochs, 0);
    io_config_free(&cfg);
}

static void test_schedule_errors(void)
{
    EXPECT_ERROR(edit(14, "  schedule: linear\n"), "test.yaml:14: ",
                 "training.schedule: 'linear' is not one of: constant, step, "
                 "exponential, cosine");
    EXPECT_ERROR(edit(14, "  schedule: step\n"), "test.yaml:10: ",
                 "training.step_size: required when training.schedule is step "
                 "(or training.step_size_epochs)");
    EXPECT_ERROR(edit(14, "  schedule: exponential\n  gamma: 0.5\n"),
                 "test.yaml:10: ", "training.decay_steps: required");
    EXPECT_ERROR(edit(14, "  schedule: step\n  step_size: 0\n"), "test.yaml:15: ",
                 "training.step_size: 0 is out of range [1, 1000000000000]");
    EXPECT_ERROR(edit(14, "  schedule: step\n  step_size: 4\n"
                          "  step_size_epochs: 1\n"), "test.yaml:16: ",
                 "training.step_size_epochs: give training.step_size or "
                 "training.step_size_epochs, not both");
    EXPECT_ERROR(edit(14, "  warmup_steps: 4\n  warmup_epochs: 1\n"),
                 "test.yaml:15: ", "training.warmup_epochs: give");
    EXPECT_ERROR(edit(14, "  schedule: cosine\n  gamma: 0.5\n"), "test.yaml:15: ",
                 "training.gamma: not used with training.schedule cosine");
    EXPECT_ERROR(edit(14, "  step_size: 5\n"), "test.yaml:14: ",
                 "training.step_size: not used with training.schedule constant");
    EXPECT_ERROR(edit(14, "  schedule: step\n  step_size: 5\n  min_lr: 0\n"),
                 "test.yaml:16: ", "training.min_lr: not used with");
    EXPECT_ERROR(edit(14, "  schedule: step\n  step_size: 5\n"
                          "  decay_epochs: 1\n"), "test.yaml:16: ",
                 "training.decay_epochs: not used with training.schedule step");
    EXPECT_ERROR(edit(14, "  schedule: step\n  step_size: 5\n  gamma: 0\n"),
                 "test.yaml:16: ", "training.gamma: 0 is out of range (0, 1]");
    EXPECT_ERROR(edit(14, "  schedule: step\n  step_size: 5\n  gamma: 1.5\n"),
                 "test.yaml:16: ", "training.gamma");
    EXPECT_ERROR(edit(14, "  warmup_start_lr: 0.01\n"), "test.yaml:14: ",
                 "training.warmup_start_lr: has no effect without");
    EXPECT_ERROR(edit(14, "  warmup_steps: 3\n  warmup_start_lr: -1\n"),
                 "test.yaml:15: ", "training.warmup_start_lr");
    EXPECT_ERROR(edit(14, "  schedule: cosine\n  min_lr: 0.2\n"), "test.yaml:15: ",
                 "training.min_lr: 0.2 is above the base rate 0.1");
    /* the base rate is the scaled one: 0.1 * 32 / 64 = 0.05 */
    EXPECT_ERROR(edit(14, "  schedule: cosine\n  min_lr: 0.06\n"
                          "  lr_reference_batch: 64\n"), "test.yaml:15: ",
                 "training.min_lr: 0.06 is above the base rate 0.05");
    EXPECT_ERROR(edit(14, "  schedule: cosine\n  warmup_epochs: 1\n"),
                 "test.yaml:15: ",
                 "training.warmup_epochs: 1 leaves no epoch for the cosine");
    EXPECT_ERROR(edit(14, "  accumulate: 0\n"), "test.yaml:14: ",
                 "training.accumulate: 0 is out of range [1, 16777216]");
    EXPECT_ERROR(edit(14, "  accumulate: 33\n"), "test.yaml:14: ",
                 "training.accumulate: 33 micro-batches exceed "
                 "training.batch_size 32");
    EXPECT_ERROR(edit(14, "  clip_norm: -1\n"), "test.yaml:14: ",
                 "training.clip_norm");
    EXPECT_SET_ERROR("training.schedule=step", "test.yaml:10: ",
                     "training.step_size: required");
    EXPECT_SET_ERROR("training.min_lr=0.01", "--set training.min_lr: ",
                     "not used with training.schedule constant");
}

static void test_schedule_from_config(void)
{
    io_config cfg;
    /* the run's step count saturates instead of wrapping to 0 */
    io_train_cfg run = {0};
    run.epochs = 1000000000000u;
    CU_ASSERT_EQUAL(io_run_steps(&run, 7), 7000000000000u);
    CU_ASSERT_EQUAL(io_run_steps(&run, (uint64_t)1 << 40), UINT64_MAX);
    run.epochs = 3;
    CU_ASSERT_EQUAL(io_run_steps(&run, 0), 0);
    /* epochs become steps: 2 * 50 warmup, decay every 3 * 50 */
    parse_ok(&cfg, edit(14, "  schedule: step\n  step_size_epochs: 3\n"
                            "  gamma: 0.5\n  warmup_epochs: 2\n"
                            "  warmup_start_lr: 0.02\n"), __LINE__);
    nn_schedule s = io_train_schedule(&cfg.train, 50, 1000);
    nn_error err;
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), 0);
    CU_ASSERT_EQUAL(s.kind, NN_SCHED_STEP);
    CU_ASSERT_EQUAL(s.warmup_steps, 100);
    CU_ASSERT_EQUAL(s.step_size, 150);
    CU_ASSERT_EQUAL(s.warmup_start, 0.02);
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_lr(&s, 50), 0.06, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_lr(&s, 249), 0.1, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_lr(&s, 250), 0.05, 1e-12);
    io_config_free(&cfg);
    /* steps stay steps; the linear scaling rule: 0.1 * 32 / 8 = 0.4 */
    parse_ok(&cfg, edit(14, "  schedule: exponential\n  decay_steps: 7\n"
                            "  lr_reference_batch: 8\n"), __LINE__);
    s = io_train_schedule(&cfg.train, 50, 1000);
    CU_ASSERT_EQUAL(s.decay_steps, 7);
    CU_ASSERT_EQUAL(s.warmup_steps, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.base_lr, 0.4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_lr(&s, 14), 0.004, 1e-15);
    io_config_free(&cfg);
    /* cosine: total_steps is the caller's, min_lr the file's */
    parse_ok(&cfg, edit(14, "  schedule: cosine\n  warmup_steps: 5\n"
                            "  min_lr: 0.001\n"), __LINE__);
    s = io_train_schedule(&cfg.train, 50, 105);
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), 0);
    CU_ASSERT_EQUAL(s.total_steps, 105);
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_lr(&s, 55), 0.0505, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_lr(&s, 105), 0.001, 1e-15);
    s = io_train_schedule(&cfg.train, 50, 5); /* the run is all warmup */
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), NN_EXIT_USAGE);
    io_config_free(&cfg);
    /* epochs * steps_per_epoch past 2^64 saturates instead of wrapping */
    io_train_cfg t;
    memset(&t, 0, sizeof t);
    t.lr = 0.1;
    t.batch_size = 1;
    t.schedule = NN_SCHED_EXPONENTIAL;
    t.decay_epochs = 1000;
    t.gamma = 0.5;
    s = io_train_schedule(&t, UINT64_MAX / 10, 0);
    CU_ASSERT(s.decay_steps == UINT64_MAX);
}

static void test_early_stopping(void)
{
    io_config cfg;
    const char *val = "  train_labels: b.idx\n  val_fraction: 0.2\n";
    /* an empty section turns it on with the defaults */
    char text[1024];
    snprintf(text, sizeof text, "%searly_stopping:\n", edit(9, val));
    parse_ok(&cfg, text, __LINE__);
    CU_ASSERT_EQUAL(cfg.early_stop.enabled, 1);
    ASSERT_STR(cfg.early_stop.monitor, "val_loss");
    CU_ASSERT_EQUAL(cfg.early_stop.patience, 5);
    CU_ASSERT_EQUAL(cfg.early_stop.min_delta, 0.0);
    io_config_free(&cfg);
    snprintf(text, sizeof text, "%searly_stopping: {patience: 2, min_delta: 0.01}\n",
             edit(9, val));
    parse_ok(&cfg, text, __LINE__);
    CU_ASSERT_EQUAL(cfg.early_stop.enabled, 1);
    CU_ASSERT_EQUAL(cfg.early_stop.patience, 2);
    CU_ASSERT_EQUAL(cfg.early_stop.min_delta, 0.01);
    io_config_free(&cfg);
    /* enabled: false keeps the section but switches it off; then it needs
     * no validation data either */
    snprintf(text, sizeof text, "%searly_stopping:\n  enabled: false\n"
             "  patience: 9\n", MINIMAL);
    parse_ok(&cfg, text, __LINE__);
    CU_ASSERT_EQUAL(cfg.early_stop.enabled, 0);
    CU_ASSERT_EQUAL(cfg.early_stop.patience, 9);
    io_config_free(&cfg);
    /* overrides: a key under the section turns it on, enabled=false off */
    nn_error err;
    char *on[] = {"data.val_fraction=0.1", "early_stopping.patience=3"};
    CU_ASSERT_EQUAL_FATAL(parse_text(&cfg, MINIMAL, on, 2, &err), 0);
    CU_ASSERT_EQUAL(cfg.early_stop.enabled, 1);
    CU_ASSERT_EQUAL(cfg.early_stop.patience, 3);
    io_config_free(&cfg);
    char *off[] = {"early_stopping.enabled=false"};
    snprintf(text, sizeof text, "%searly_stopping:\n", edit(9, val));
    CU_ASSERT_EQUAL_FATAL(parse_text(&cfg, text, off, 1, &err), 0);
    CU_ASSERT_EQUAL(cfg.early_stop.enabled, 0);
    io_config_free(&cfg);
    /* monitor accuracy with the classifier loss */
    snprintf(text, sizeof text, "%searly_stopping: {monitor: val_accuracy}\n",
             edit(5, "loss: cross_entropy\n"));
    char *vf[] = {"data.val_fraction=0.1"};
    CU_ASSERT_EQUAL_FATAL(parse_text(&cfg, text, vf, 1, &err), 0);
    ASSERT_STR(cfg.early_stop.monitor, "val_accuracy");
    io_config_free(&cfg);
}

static void test_early_stopping_errors(void)
{
    static char text[1024];
    snprintf(text, sizeof text, "%searly_stopping:\n  patience: 3\n", MINIMAL);
    EXPECT_ERROR(text, "test.yaml:14: ",
                 "early_stopping: needs validation data (data.val_fraction > 0 "
                 "or data.val)");
    snprintf(text, sizeof text, "%searly_stopping:\n  enabled: yes\n", MINIMAL);
    EXPECT_ERROR(text, "test.yaml:15: ", "early_stopping: needs validation");
    const char *val = "  train_labels: b.idx\n  val_fraction: 0.2\n";
    snprintf(text, sizeof text, "%searly_stopping:\n  monitor: val_accuracy\n",
             edit(9, val));
    EXPECT_ERROR(text, "test.yaml:16: ",
                 "early_stopping.monitor: val_accuracy needs loss cross_entropy");
    snprintf(text, sizeof text, "%searly_stopping:\n  monitor: loss\n",
             edit(9, val));
    EXPECT_ERROR(text, "test.yaml:16: ",
                 "early_stopping.monitor: 'loss' is not one of: val_loss, "
                 "val_accuracy");
    snprintf(text, sizeof text, "%searly_stopping:\n  patience: 0\n",
             edit(9, val));
    EXPECT_ERROR(text, "test.yaml:16: ", "early_stopping.patience: 0 is out of "
                                         "range [1, 1000000000000]");
    snprintf(text, sizeof text, "%searly_stopping:\n  min_delta: -0.1\n",
             edit(9, val));
    EXPECT_ERROR(text, "test.yaml:16: ", "early_stopping.min_delta");
    snprintf(text, sizeof text, "%searly_stopping:\n  wait: 3\n", edit(9, val));
    EXPECT_ERROR(text, "test.yaml:16: ", "early_stopping.wait: unknown key "
                 "(known here: enabled, monitor, patience, min_delta)");
    snprintf(text, sizeof text, "%searly_stopping: 3\n", edit(9, val));
    EXPECT_ERROR(text, "test.yaml:15: ", "early_stopping: expected a map");
    EXPECT_SET_ERROR("early_stopping.patience=2", "--set early_stopping.patience: ",
                     "early_stopping: needs validation data");
}

static void test_val_file(void)
{
    io_config cfg;
    parse_ok(&cfg, edit(9, "  train_labels: b.idx\n  val: v.idx\n"
                           "  val_labels: vl.idx\n"), __LINE__);
    ASSERT_STR(cfg.data.val, "v.idx");
    ASSERT_STR(cfg.data.val_labels, "vl.idx");
    CU_ASSERT_EQUAL(cfg.data.val_fraction, 0.0);
    io_config_free(&cfg);
    /* csv: one file holds inputs and targets */
    parse_ok(&cfg, edit_n(7, 3, "  format: csv\n  train: t.csv\n"
                                "  val: v.csv\n"), __LINE__);
    ASSERT_STR(cfg.data.val, "v.csv");
    CU_ASSERT_PTR_NULL(cfg.data.val_labels);
    io_config_free(&cfg);
    /* an explicit val_fraction of 0 does not conflict */
    parse_ok(&cfg, edit(9, "  train_labels: b.idx\n  val: v.idx\n"
                           "  val_labels: vl.idx\n  val_fraction: 0\n"),
             __LINE__);
    io_config_free(&cfg);
    /* and early stopping counts a validation file as validation data */
    static char text[1024];
    snprintf(text, sizeof text, "%searly_stopping:\n",
             edit(9, "  train_labels: b.idx\n  val: v.idx\n"
                     "  val_labels: vl.idx\n"));
    parse_ok(&cfg, text, __LINE__);
    CU_ASSERT_EQUAL(cfg.early_stop.enabled, 1);
    io_config_free(&cfg);

    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  val: v.idx\n"),
                 "test.yaml:6: ", "data.val_labels: data.val and "
                                  "data.val_labels go together for idx");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  val_labels: vl.idx\n"),
                 "test.yaml:10: ", "data.val: data.val and data.val_labels");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  val: v.idx\n"
                         "  val_labels: vl.idx\n  val_fraction: 0.1\n"),
                 "test.yaml:12: ",
                 "data.val_fraction: not used with data.val");
    EXPECT_ERROR(edit_n(7, 3, "  format: csv\n  train: t.csv\n"
                              "  val: v.csv\n  val_labels: x.csv\n"),
                 "test.yaml:10: ",
                 "data.val_labels: not used with data.format csv");
    EXPECT_ERROR(edit(9, "  train_labels: b.idx\n  val: ''\n"), "test.yaml:10: ",
                 "data.val: empty string");
}

/* ---- overrides ---------------------------------------------------------- */

static void test_overrides_apply(void)
{
    char *ov[] = {"training.epochs=3",
                  "optimizer.type=adam",        /* inserts the section */
                  "optimizer.beta1=0.5",
                  "model.layers.0.units=64",    /* replaces a layer value */
                  "model.layers.0.act=relu",    /* adds a layer key */
                  "checkpoint.dir=runs/y",
                  "checkpoint.dir=runs/z",      /* the last one wins */
                  "data.normalize=none",
                  "logging.print_every=7"};
    io_config cfg;
    nn_error err;
    int rc = parse_text(&cfg, edit(14, "logging:\n"), ov,
                        sizeof ov / sizeof ov[0], &err);
    if (rc) fprintf(stderr, "\n    %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(cfg.train.epochs, 3);
    CU_ASSERT_EQUAL(cfg.train.batch_size, 32);
    CU_ASSERT_EQUAL(cfg.optim.kind, NN_OPT_ADAM);
    CU_ASSERT_EQUAL(cfg.optim.beta1, 0.5f);
    ASSERT_KV(&cfg.layers[0], "units", "64", 4);
    ASSERT_KV(&cfg.layers[0], "act", "relu", 0);
    ASSERT_STR(cfg.ckpt.dir, "runs/z");
    ASSERT_STR(cfg.data.normalize, "none");
    CU_ASSERT_EQUAL(cfg.log.print_every, 7);
    /* the file text is kept as it was, overrides or not */
    CU_ASSERT_PTR_NULL(strstr(cfg.text, "runs/z"));
    io_config_free(&cfg);

    char *ov2[] = {"model.layers.1.name=out", "model.layers.1.kernel.1=9"};
    rc = parse_text(&cfg, edit(4, "      units: 10\n"
                                  "    - type: conv\n"
                                  "      kernel: [3, 3]\n"), ov2, 2, &err);
    if (rc) fprintf(stderr, "\n    %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(cfg.n_layers, 2);
    ASSERT_STR(cfg.layers[1].name, "out");
    ASSERT_KV(&cfg.layers[1], "kernel", "3,9", 6);
    io_config_free(&cfg);
}

static void test_overrides_malformed(void)
{
    EXPECT_SET_ERROR("training.epochs", "--set training.epochs: ",
                     "KEY=VALUE");
    EXPECT_SET_ERROR("=3", "--set =3: ", "empty key");
    EXPECT_SET_ERROR("training..epochs=3", "--set training..epochs: ",
                     "empty segment");
    EXPECT_SET_ERROR("training.epochs.=3", "--set training.epochs.: ",
                     "empty segment");
    EXPECT_SET_ERROR("model.layers.1.units=64", "--set model.layers.1.units: ",
                     "index 1 is out of range (1 entries)");
    EXPECT_SET_ERROR("model.layers.x.units=64", "--set model.layers.x.units: ",
                     "not a list index");
    EXPECT_SET_ERROR("model.layers.-1.units=64", "--set model.layers.-1.units",
                     "not a list index");
    EXPECT_SET_ERROR("model.blocks.0.units=64", "--set model.blocks.0.units: ",
                     "no list 'blocks'");
    EXPECT_SET_ERROR("loss.name=mse", "--set loss.name: ", "inside a scalar");
}

static void test_overrides_checked_like_the_file(void)
{
    /* an overridden value is validated and blamed on the override */
    EXPECT_SET_ERROR("training.epochs=abc", "--set training.epochs: ",
                     "training.epochs: 'abc' is not a non-negative integer");
    EXPECT_SET_ERROR("training.epochs=0", "--set training.epochs: ",
                     "out of range");
    EXPECT_SET_ERROR("training.foo=1", "--set training.foo: ",
                     "training.foo: unknown key");
    EXPECT_SET_ERROR("extra.foo=1", "--set extra.foo: ", "extra: unknown key");
    EXPECT_SET_ERROR("optimizer.type=rmsprop", "--set optimizer.type: ",
                     "rmsprop");
    EXPECT_SET_ERROR("data.format=csv", "test.yaml:9: ", "data.train_labels");
    EXPECT_SET_ERROR("model.layers=5", "--set model.layers: ",
                     "expected a sequence");
    EXPECT_SET_ERROR("model.layers.0=5", "--set model.layers.0: ",
                     "expected a map");
    /* and the message must not claim a file line for it */
    io_config cfg;
    nn_error err;
    char *ov[] = {"training.lr=-1"};
    CU_ASSERT_EQUAL(parse_text(&cfg, MINIMAL, ov, 1, &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NULL(strstr(err.msg, "test.yaml"));
    io_config_free(&cfg);
}

/* ---- files and the tree ------------------------------------------------- */

static void test_read_file(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bytes.yaml", cu_tmpdir());
    /* longer than the first read buffer, to exercise growth */
    static char big[10000];
    for (size_t i = 0; i + 1 < sizeof big; i++) big[i] = (char)('a' + i % 26);
    write_file(path, big);
    char *text = NULL;
    size_t len = 0;
    nn_error err;
    nn_error_clear(&err);
    CU_ASSERT_EQUAL_FATAL(io_read_file(path, &text, &len, &err), 0);
    CU_ASSERT_EQUAL(len, sizeof big - 1);
    CU_ASSERT_EQUAL(text[len], '\0');
    CU_ASSERT_EQUAL(memcmp(text, big, len), 0);
    free(text);

    snprintf(path, sizeof path, "%s/no-such.yaml", cu_tmpdir());
    CU_ASSERT_EQUAL(io_read_file(path, &text, &len, &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NULL(text);
    msg_has(err.msg, path, __LINE__);
    msg_has(err.msg, strerror(ENOENT), __LINE__);

    CU_ASSERT_EQUAL(io_read_file(cu_tmpdir(), &text, &len, &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NULL(text);
    msg_has(err.msg, cu_tmpdir(), __LINE__);
}

static void test_yaml_tree(void)
{
    const char *text = "a: 1\n"
                       "b:\n"
                       "  c: 'x y'\n"
                       "  d: [1, two]\n"
                       "e:\n";
    io_yaml_node *root = NULL;
    nn_error err;
    nn_error_clear(&err);
    CU_ASSERT_EQUAL_FATAL(io_yaml_parse("t.yaml", text, strlen(text), &root, &err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_EQUAL(root->kind, IO_YAML_MAP);
    CU_ASSERT_EQUAL_FATAL(root->n, 3);
    const io_yaml_pair *b = io_yaml_map_find(root, "b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(b->line, 2);
    CU_ASSERT_EQUAL(b->value->kind, IO_YAML_MAP);
    const io_yaml_pair *c = io_yaml_map_find(b->value, "c");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->value->value, "x y");
    CU_ASSERT_EQUAL(c->value->plain, 0);
    CU_ASSERT_EQUAL(c->line, 3);
    const io_yaml_pair *d = io_yaml_map_find(b->value, "d");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL_FATAL(d->value->kind, IO_YAML_SEQ);
    CU_ASSERT_EQUAL_FATAL(d->value->n, 2);
    CU_ASSERT_STRING_EQUAL(d->value->items[1]->value, "two");
    CU_ASSERT_EQUAL(d->value->items[1]->line, 4);
    CU_ASSERT(io_yaml_is_null(io_yaml_map_find(root, "e")->value));
    CU_ASSERT(!io_yaml_is_null(c->value));
    CU_ASSERT_PTR_NULL(io_yaml_map_find(root, "z"));
    io_yaml_free(root);
}

static const cu_test valid_tests[] = {
    {"full config, every field", test_full_config},
    {"defaults (idx)", test_defaults_idx},
    {"defaults (csv), empty sections", test_defaults_csv},
    {"flow and block lists become \"a,b\"", test_lists_become_strings},
    {NULL, NULL}};

static const cu_test error_tests[] = {
    {"unknown keys", test_unknown_keys},
    {"wrong types", test_wrong_types},
    {"out of range", test_out_of_range},
    {"missing required keys", test_missing_keys},
    {"data format rules", test_format_rules},
    {"unknown loss and optimizer", test_unknown_names},
    {"YAML syntax errors", test_yaml_errors},
    {"empty file, root not a map", test_empty_and_not_a_map},
    {"layers not a list of maps", test_layers_shape},
    {"duplicate keys", test_duplicate_keys},
    {NULL, NULL}};

static const cu_test training_tests[] = {
    {"schedule kinds and their keys", test_schedule_kinds},
    {"schedule errors, accumulate, clip_norm", test_schedule_errors},
    {"io_train_schedule: epochs to steps, scaling", test_schedule_from_config},
    {"early stopping: presence, enabled, overrides", test_early_stopping},
    {"early stopping errors", test_early_stopping_errors},
    {"data.val: a separate validation file", test_val_file},
    {NULL, NULL}};

static const cu_test override_tests[] = {
    {"overrides set and insert", test_overrides_apply},
    {"malformed overrides", test_overrides_malformed},
    {"overridden values are validated", test_overrides_checked_like_the_file},
    {NULL, NULL}};

static const cu_test misc_tests[] = {
    {"io_read_file", test_read_file},
    {"yaml tree", test_yaml_tree},
    {NULL, NULL}};

static const cu_suite suites[] = {
    {"config: valid", valid_tests},
    {"config: errors", error_tests},
    {"config: training controls", training_tests},
    {"config: overrides", override_tests},
    {"config: files and tree", misc_tests},
    {NULL, NULL}};

int main(void) { return cu_main("io_test_config", suites); }

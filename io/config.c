/* io/config.c - the YAML config read strictly into io_config (see
 * io/config.h).
 *
 * Three passes over the document tree of io/yaml.h:
 *   1. overrides ("a.b=v") are grafted onto the tree, each new node tagged
 *      with its origin "--set a.b";
 *   2. a walk checks that every key of every section is in the table below
 *      (or is a section of it) and remembers the pair found for each entry;
 *   3. the table is applied in order: defaults, then each found value parsed
 *      strictly (whole string consumed, range checked; the layer list
 *      among them), then the checks that involve several keys (data format
 *      and files, which keys each learning-rate schedule takes, what early
 *      stopping needs).
 * Every error is "FILE:LINE: KEY: problem" (or "--set KEY: KEY: problem"
 * for a value that came from an override), code NN_EXIT_USAGE.
 */
#include "io/config.h"
#include "io/file.h"

#include <errno.h>  /* errno, ERANGE */
#include <float.h>  /* FLT_MAX */
#include <math.h>   /* HUGE_VAL, isfinite */
#include <stdarg.h> /* va_list */
#include <stddef.h> /* offsetof */
#include <stdint.h> /* SIZE_MAX */
#include <stdio.h>  /* FILE, fopen, fread, snprintf */
#include <stdlib.h> /* strtoull, strtoll, strtod, free */
#include <string.h> /* strcmp, strchr, strlen, memcpy, memset, strerror */

#include "io/yaml.h"
#include "nn/check.h" /* nn_xmalloc, nn_xstrdup, NN_CHECK */

/* ---- the schema --------------------------------------------------------- */


static const char *const loss_names[] = {"mse", "cross_entropy", "bce", NULL};
/* In nn_opt_kind order: the index is the enum value. */
static const char *const optim_names[] = {"sgd", "adam", "adamw", NULL};
static const char *const format_names[] = {"idx", "csv", "text", "packed",
                                           NULL};
static const char *const norm_names[] = {"none", "scale", "standardize", NULL};
/* In nn_schedule_kind order: the index is the enum value. */
static const char *const sched_names[] = {"constant", "step", "exponential",
                                          "cosine", NULL};
static const char *const monitor_names[] = {"val_loss", "val_accuracy", NULL};
static const char *const target_names[] = {"labels", "input", NULL};

#define OFF(member) offsetof(io_config, member)
#define INF HUGE_VAL
/* Upper bounds of the counts a user gives. A batch (and so micro-batch
 * count, reference batch) of at most 2^24 rows; a step, epoch or row count
 * of at most 10^12. Their product stays below 2^64 (2^24 * 10^12 < 1.7e19),
 * so no count computed from two of them wraps. */
#define MAX_BATCH 16777216.0
#define MAX_COUNT 1e12

static const io_key defs[] = {
    /* the kind of training; names and checks live with the objectives */
    {"objective", IO_STR, OFF(objective), 0, 0, 0, NULL, NULL},
    /* required by the objectives that train one model (their checks) */
    {"model.layers", IO_LAYERS, OFF(model_layers), 0, 0, 0, NULL, NULL},
    /* fine-tuning: copy named layers' parameters from another checkpoint */
    {"model.init_from", IO_STR, OFF(init_from), 0, 0, 0, NULL, NULL},
    {"model.init_layers", IO_STR, OFF(init_layers), 0, 0, IO_LIST, NULL, NULL},
    {"model.unfreeze_epoch", IO_SIZE, OFF(unfreeze_epoch), 0, MAX_COUNT, 0, "0", NULL},
    {"loss", IO_ENUM, OFF(loss), 0, 0, IO_REQ, NULL, loss_names},
    {"optimizer.type", IO_OPTKIND, OFF(optim.kind), 0, 0, 0, "sgd", optim_names},
    {"optimizer.momentum", IO_FLT, OFF(optim.momentum), 0, 1, IO_HI_OPEN, "0", NULL},
    {"optimizer.nesterov", IO_BOOL, OFF(optim.nesterov), 0, 0, 0, "false", NULL},
    {"optimizer.weight_decay", IO_FLT, OFF(optim.weight_decay), 0, INF, 0, "0", NULL},
    {"optimizer.l1", IO_FLT, OFF(optim.l1), 0, INF, 0, "0", NULL},
    {"optimizer.beta1", IO_FLT, OFF(optim.beta1), 0, 1, IO_HI_OPEN, "0.9", NULL},
    {"optimizer.beta2", IO_FLT, OFF(optim.beta2), 0, 1, IO_HI_OPEN, "0.999", NULL},
    {"optimizer.eps", IO_FLT, OFF(optim.eps), 0, INF, IO_LO_OPEN, "1e-8", NULL},
    {"optimizer.decay_all", IO_BOOL, OFF(optim.decay_all), 0, 0, 0, "false", NULL},
    {"data.format", IO_ENUM, OFF(data.format), 0, 0, IO_REQ, NULL, format_names},
    {"data.train", IO_STR, OFF(data.train), 0, 0, IO_REQ, NULL, NULL},
    {"data.train_labels", IO_STR, OFF(data.train_labels), 0, 0, 0, NULL, NULL},
    {"data.test", IO_STR, OFF(data.test), 0, 0, 0, NULL, NULL},
    {"data.test_labels", IO_STR, OFF(data.test_labels), 0, 0, 0, NULL, NULL},
    {"data.val_fraction", IO_DBL, OFF(data.val_fraction), 0, 0.9, 0, "0", NULL},
    /* default depends on the format: filled in by check_data */
    {"data.normalize", IO_ENUM, OFF(data.normalize), 0, 0, 0, NULL, norm_names},
    /* 1/255 to more digits than a double holds, so it rounds like 1.0/255 */
    {"data.scale", IO_DBL, OFF(data.scale), 0, INF, IO_LO_OPEN,
     "0.00392156862745098039215686", NULL},
    {"data.target_column", IO_LONG, OFF(data.target_column), -1, INF, 0, "-1", NULL},
    {"data.targets", IO_SIZE, OFF(data.targets), 1, 1048576, 0, "1", NULL},
    {"data.skip_rows", IO_SIZE, OFF(data.skip_rows), 0, MAX_COUNT, 0, "0", NULL},
    {"data.header", IO_BOOL, OFF(data.header), 0, 0, 0, "true", NULL},
    {"data.limit", IO_SIZE, OFF(data.limit), 0, MAX_COUNT, 0, "0", NULL},
    {"data.val", IO_STR, OFF(data.val), 0, 0, 0, NULL, NULL},
    {"data.val_labels", IO_STR, OFF(data.val_labels), 0, 0, 0, NULL, NULL},
    /* learning without (all) labels: check_target; what data.labelled
     * needs is the objectives' (trainer/obj_*.c) */
    {"data.target", IO_ENUM, OFF(data.target), 0, 0, 0, "labels", target_names},
    {"data.labelled", IO_SIZE, OFF(data.labelled), 0, MAX_COUNT, 0, "0", NULL},
    /* text: window length; required there, refused elsewhere (check_data) */
    {"data.seq_len", IO_SIZE, OFF(data.seq_len), 1, 1048576, 0, NULL, NULL},
    /* text: stream order for truncated BPTT (check_text) */
    {"data.stream", IO_BOOL, OFF(data.stream), 0, 0, 0, "false", NULL},
    /* the sampler by name (known to the trainer); stream = data.stream */
    {"data.sampler", IO_STR, OFF(data.sampler), 0, 0, 0, NULL, NULL},
    /* image rows only; the shape is checked when the data is loaded */
    {"data.augment.crop_pad", IO_SIZE, OFF(data.augment_crop_pad), 0, 64, 0,
     "0", NULL},
    {"data.augment.hflip", IO_BOOL, OFF(data.augment_hflip), 0, 0, 0, "false",
     NULL},
    /* packed datasets (io/packed.h): the prefetch window in bytes, 64 MiB
     * by default; refused with other formats (check_packed) */
    {"data.window", IO_SIZE, OFF(data.window), 4096, 1099511627776.0, 0,
     "67108864", NULL},
    {"training.epochs", IO_SIZE, OFF(train.epochs), 1, MAX_COUNT, IO_REQ, NULL, NULL},
    {"training.batch_size", IO_SIZE, OFF(train.batch_size), 1, MAX_BATCH, IO_REQ, NULL, NULL},
    {"training.seed", IO_U64, OFF(train.seed), 0, INF, 0, "1", NULL},
    {"training.lr", IO_DBL, OFF(train.lr), 0, INF, IO_REQ | IO_LO_OPEN, NULL, NULL},
    {"training.max_steps", IO_SIZE, OFF(train.max_steps), 0, MAX_COUNT, 0, "0", NULL},
    /* the schedule; which keys go with which schedule: check_schedule */
    {"training.schedule", IO_SCHEDKIND, OFF(train.schedule), 0, 0, 0,
     "constant", sched_names},
    {"training.warmup_steps", IO_SIZE, OFF(train.warmup_steps), 0, MAX_COUNT, 0, "0", NULL},
    {"training.warmup_epochs", IO_SIZE, OFF(train.warmup_epochs), 0, MAX_COUNT, 0, "0", NULL},
    {"training.warmup_start_lr", IO_DBL, OFF(train.warmup_start_lr), 0, INF, 0,
     "0", NULL},
    {"training.step_size", IO_SIZE, OFF(train.step_size), 1, MAX_COUNT, 0, NULL, NULL},
    {"training.step_size_epochs", IO_SIZE, OFF(train.step_size_epochs), 1, MAX_COUNT, 0,
     NULL, NULL},
    {"training.gamma", IO_DBL, OFF(train.gamma), 0, 1, IO_LO_OPEN, "0.1", NULL},
    {"training.decay_steps", IO_SIZE, OFF(train.decay_steps), 1, MAX_COUNT, 0, NULL, NULL},
    {"training.decay_epochs", IO_SIZE, OFF(train.decay_epochs), 1, MAX_COUNT, 0, NULL,
     NULL},
    {"training.min_lr", IO_DBL, OFF(train.min_lr), 0, INF, 0, "0", NULL},
    {"training.lr_reference_batch", IO_SIZE, OFF(train.lr_reference_batch), 0, MAX_BATCH,
     0, "0", NULL},
    {"training.accumulate", IO_SIZE, OFF(train.accumulate), 1, MAX_BATCH, 0, "1", NULL},
    {"training.clip_norm", IO_DBL, OFF(train.clip_norm), 0, INF, 0, "0", NULL},
    /* a stalled rank: see comm_set_timeout (comm/comm.h) */
    {"training.collective_timeout", IO_DBL, OFF(train.collective_timeout), 0,
     1e6, 0, "300", NULL},
    /* deterministic mode: check_deterministic, docs/DETERMINISM.md */
    {"training.deterministic", IO_BOOL, OFF(train.deterministic), 0, 0, 0,
     "false", NULL},
    {"training.micro_shards", IO_SIZE, OFF(train.micro_shards), 1, 4096, 0,
     "8", NULL},
    /* enabled: no default, derived from the section's presence */
    {"early_stopping.enabled", IO_BOOL, OFF(early_stop.enabled), 0, 0, 0, NULL,
     NULL},
    {"early_stopping.monitor", IO_ENUM, OFF(early_stop.monitor), 0, 0, 0,
     "val_loss", monitor_names},
    {"early_stopping.patience", IO_SIZE, OFF(early_stop.patience), 1, MAX_COUNT, 0, "5",
     NULL},
    {"early_stopping.min_delta", IO_DBL, OFF(early_stop.min_delta), 0, INF, 0, "0",
     NULL},
    {"checkpoint.dir", IO_STR, OFF(ckpt.dir), 0, 0, 0, NULL, NULL},
    {"checkpoint.every_steps", IO_SIZE, OFF(ckpt.every_steps), 0, MAX_COUNT, 0, "0", NULL},
    {"checkpoint.every_epochs", IO_SIZE, OFF(ckpt.every_epochs), 0, MAX_COUNT, 0, "1", NULL},
    {"checkpoint.keep_last", IO_SIZE, OFF(ckpt.keep_last), 0, MAX_COUNT, 0, "0", NULL},
    {"checkpoint.stop_on_error", IO_BOOL, OFF(ckpt.stop_on_error), 0, 0, 0, "false", NULL},
    {"logging.metrics", IO_STR, OFF(log.metrics), 0, 0, 0, NULL, NULL},
    {"logging.print_every", IO_SIZE, OFF(log.print_every), 0, MAX_COUNT, 0, "100", NULL},
};

#define N_DEFS (sizeof defs / sizeof defs[0])

/* Keys that only make sense for one data format. */
static const char *const csv_only[] = {"data.target_column", "data.targets",
                                       "data.skip_rows", "data.header", NULL};
static const char *const idx_only[] = {"data.train_labels", "data.test_labels",
                                       "data.val_labels", NULL};

/* Schedule keys and the schedules (bit per nn_schedule_kind) that use
 * them; the warmup keys go with every schedule. */
#define SCHED_BIT(k) (1u << (k))
static const struct {
    const char *key;
    unsigned kinds;
} sched_only[] = {
    {"training.step_size", SCHED_BIT(NN_SCHED_STEP)},
    {"training.step_size_epochs", SCHED_BIT(NN_SCHED_STEP)},
    {"training.gamma", SCHED_BIT(NN_SCHED_STEP) | SCHED_BIT(NN_SCHED_EXPONENTIAL)},
    {"training.decay_steps", SCHED_BIT(NN_SCHED_EXPONENTIAL)},
    {"training.decay_epochs", SCHED_BIT(NN_SCHED_EXPONENTIAL)},
    {"training.min_lr", SCHED_BIT(NN_SCHED_COSINE)},
};

/* The keys of a parse: the core table's, then those of each fragment
 * (cfg->ext_schema) in order. Key i is stored in *base at its offset. */
static size_t n_keys(const io_config *cfg)
{
    size_t n = N_DEFS;
    for (size_t k = 0; k < cfg->n_ext; k++) n += cfg->ext_schema[k]->n_keys;
    return n;
}

static const io_key *key_at(const io_config *cfg, size_t i, void **base)
{
    if (i < N_DEFS) {
        if (base) *base = (void *)cfg;
        return &defs[i];
    }
    i -= N_DEFS;
    for (size_t k = 0; k < cfg->n_ext; k++) {
        const io_schema *sc = cfg->ext_schema[k];
        if (i < sc->n_keys) {
            if (base) *base = cfg->ext[k];
            return &sc->keys[i];
        }
        i -= sc->n_keys;
    }
    NN_CHECK(0, "config: key index out of range");
    return NULL;
}

/* Where key i's value lives. */
static void *key_slot(const io_config *cfg, size_t i)
{
    void *base;
    const io_key *d = key_at(cfg, i, &base);
    return (char *)base + d->offset;
}

static int def_index(const io_config *cfg, const char *key)
{
    for (size_t i = 0, n = n_keys(cfg); i < n; i++)
        if (strcmp(key_at(cfg, i, NULL)->key, key) == 0) return (int)i;
    return -1;
}

/* 1 if some key lies below `prefix` ("data" for "data.x"). */
static int is_section(const io_config *cfg, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0, nk = n_keys(cfg); i < nk; i++) {
        const char *k = key_at(cfg, i, NULL)->key;
        if (strncmp(k, prefix, n) == 0 && k[n] == '.') return 1;
    }
    return 0;
}

/* The names directly below `prefix` ("" = top level), ", "-separated. */
static void known_keys(const io_config *cfg, const char *prefix, char *buf,
                       size_t size)
{
    size_t n = strlen(prefix), len = 0;
    buf[0] = '\0';
    for (size_t i = 0, nk = n_keys(cfg); i < nk; i++) {
        const char *k = key_at(cfg, i, NULL)->key;
        if (n && (strncmp(k, prefix, n) != 0 || k[n] != '.')) continue;
        const char *name = n ? k + n + 1 : k;
        size_t nl = strcspn(name, ".");
        int seen = 0; /* the same section name from an earlier entry */
        for (size_t j = 0; j < i && !seen; j++) {
            const char *o = key_at(cfg, j, NULL)->key;
            if (n && (strncmp(o, prefix, n) != 0 || o[n] != '.')) continue;
            const char *on = n ? o + n + 1 : o;
            seen = strncmp(on, name, nl) == 0 && strcspn(on, ".") == nl;
        }
        if (seen) continue;
        int w = snprintf(buf + len, size - len, "%s%.*s", len ? ", " : "",
                         (int)nl, name);
        if (w < 0 || (size_t)w >= size - len) return;
        len += (size_t)w;
    }
}

/* ---- where an error is ------------------------------------------------- */

typedef struct cfg_loc {
    const char *file;
    int line;
    const char *origin; /* "--set KEY" for a value from an override */
} cfg_loc;

static int loc_error(const cfg_loc *at, const char *key, nn_error *err,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int loc_error(const cfg_loc *at, const char *key, nn_error *err,
                     const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (at->origin)
        return nn_error_set(err, NN_EXIT_USAGE, "%s: %s: %s", at->origin, key,
                            what);
    return nn_error_set(err, NN_EXIT_USAGE, "%s:%d: %s: %s", at->file, at->line,
                        key, what);
}

typedef struct parse_ctx {
    io_config *cfg;
    const io_yaml_node *root;
    const io_yaml_pair **found; /* the pair given for each key (key_at) */
    nn_error *err;
} parse_ctx;

static cfg_loc node_loc(const parse_ctx *c, const io_yaml_node *n)
{
    cfg_loc at = {c->cfg->path, n->line, n->origin};
    return at;
}

/* A key/value pair is located at its key, or at the override that set it. */
static cfg_loc pair_loc(const parse_ctx *c, const io_yaml_pair *p)
{
    cfg_loc at = {c->cfg->path, p->line ? p->line : p->value->line,
                  p->value->origin};
    return at;
}

/* Where a missing key would have been: its deepest existing section. */
static cfg_loc parent_loc(const parse_ctx *c, const char *key)
{
    cfg_loc at = node_loc(c, c->root);
    const io_yaml_node *node = c->root;
    char seg[128];
    for (const char *p = key; strchr(p, '.');) {
        size_t n = (size_t)(strchr(p, '.') - p);
        if (n >= sizeof seg) break;
        memcpy(seg, p, n);
        seg[n] = '\0';
        const io_yaml_pair *pair = io_yaml_map_find(node, seg);
        if (!pair) break;
        at = pair_loc(c, pair);
        node = pair->value;
        p += n + 1;
    }
    return at;
}

/* ---- strict scalar parsing --------------------------------------------- */

/* Decimal digits only: no sign, no blanks. -1 if not that, -2 if it
 * overflows 64 bits. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') return -1;
    if (errno == ERANGE) return -2;
    *out = (uint64_t)v;
    return 0;
}

static int parse_long(const char *s, long *out)
{
    const char *digits = s + (*s == '-');
    if (*digits < '0' || *digits > '9') return -1;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno == ERANGE || *end != '\0') return -1;
    *out = v;
    return 0;
}

/* A finite number, the whole string. Underflow to 0 is allowed (the range
 * check then decides); overflow and inf/nan are not numbers here. */
static int parse_double(const char *s, double *out)
{
    if (*s == '\0' || *s == ' ' || *s == '\t') return -1;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int find_name(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static void join_names(const char *const *names, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; names[i]; i++) {
        int w = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= size - len) return;
        len += (size_t)w;
    }
}

static void replace_str(char **slot, const char *s)
{
    free(*slot);
    *slot = nn_xstrdup(s);
}

/* v within [lo, hi] with the table's open ends? */
static int check_range(const io_key *d, double v, const char *text,
                       const cfg_loc *at, nn_error *err)
{
    int lo_ok = (d->flags & IO_LO_OPEN) ? v > d->lo : v >= d->lo;
    int hi_ok = (d->flags & IO_HI_OPEN) ? v < d->hi : v <= d->hi;
    if (lo_ok && hi_ok) return 0;
    return loc_error(at, d->key, err, "%s is out of range %c%.15g, %.15g%c", text,
                     (d->flags & IO_LO_OPEN) ? '(' : '[', d->lo, d->hi,
                     (d->flags & IO_HI_OPEN) || isinf(d->hi) ? ')' : ']');
}

static int store_words(void *base, const io_key *d, const char *text,
                       const cfg_loc *at, nn_error *err)
{
    char *slot = (char *)base + d->offset;
    if (d->type == IO_STR) {
        if (text[0] == '\0')
            return loc_error(at, d->key, err, "empty string");
        replace_str((char **)(void *)slot, text);
        return 0;
    }
    if (d->type == IO_BOOL) {
        int v = strcmp(text, "true") == 0 || strcmp(text, "yes") == 0;
        if (!v && strcmp(text, "false") != 0 && strcmp(text, "no") != 0)
            return loc_error(at, d->key, err,
                             "'%s' is not a boolean (true, false, yes, no)", text);
        *(int *)(void *)slot = v;
        return 0;
    }
    int i = find_name(d->names, text);
    if (i < 0) {
        char list[256];
        join_names(d->names, list, sizeof list);
        return loc_error(at, d->key, err, "'%s' is not one of: %s", text, list);
    }
    if (d->type == IO_OPTKIND)
        *(nn_opt_kind *)(void *)slot = (nn_opt_kind)i;
    else if (d->type == IO_SCHEDKIND)
        *(nn_schedule_kind *)(void *)slot = (nn_schedule_kind)i;
    else
        replace_str((char **)(void *)slot, text);
    return 0;
}

static int store_number(void *base, const io_key *d, const char *text,
                        const cfg_loc *at, nn_error *err)
{
    void *slot = (char *)base + d->offset;
    uint64_t u;
    long l;
    double x;
    int rc;
    switch (d->type) {
    case IO_SIZE:
    case IO_U64:
        if ((rc = parse_u64(text, &u)) != 0)
            return loc_error(at, d->key, err, rc == -2 ? "%s is too large"
                             : "'%s' is not a non-negative integer", text);
        if ((rc = check_range(d, (double)u, text, at, err)) != 0) return rc;
        if (d->type == IO_U64) {
            *(uint64_t *)slot = u;
        } else {
            if (u > SIZE_MAX)
                return loc_error(at, d->key, err, "%s is too large", text);
            *(size_t *)slot = (size_t)u;
        }
        return 0;
    case IO_LONG:
        if (parse_long(text, &l) != 0)
            return loc_error(at, d->key, err, "'%s' is not an integer", text);
        if ((rc = check_range(d, (double)l, text, at, err)) != 0) return rc;
        *(long *)slot = l;
        return 0;
    default: /* IO_DBL, IO_FLT */
        if (parse_double(text, &x) != 0)
            return loc_error(at, d->key, err, "'%s' is not a finite number",
                             text);
        if ((rc = check_range(d, x, text, at, err)) != 0) return rc;
        if (d->type == IO_DBL) {
            *(double *)slot = x;
        } else {
            if (x > FLT_MAX || x < -FLT_MAX)
                return loc_error(at, d->key, err, "%s does not fit a float",
                                 text);
            *(float *)slot = (float)x;
        }
        return 0;
    }
}

/* Parse `text` as the value of `d` into its struct at base. */
static int store(void *base, const io_key *d, const char *text,
                 const cfg_loc *at, nn_error *err)
{
    if (d->type == IO_STR || d->type == IO_BOOL || d->type == IO_ENUM ||
        d->type == IO_OPTKIND || d->type == IO_SCHEDKIND)
        return store_words(base, d, text, at, err);
    return store_number(base, d, text, at, err);
}

/* ---- pass 1: overrides -------------------------------------------------- */

static int set_error(nn_error *err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(nn_error *err, const char *key, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nn_error_set(err, NN_EXIT_USAGE, "--set %s: %s", key, what);
}

/* A list index: decimal digits, < n. */
static int seq_index(const io_yaml_node *seq, const char *seg, const char *key,
                     size_t *out, nn_error *err)
{
    uint64_t i;
    if (parse_u64(seg, &i) != 0)
        return set_error(err, key, "'%s' is not a list index (0-based)", seg);
    if (i >= seq->n)
        return set_error(err, key, "index %s is out of range (%zu entries)",
                         seg, seq->n);
    *out = (size_t)i;
    return 0;
}

/* Descend from `*node` by one segment `seg` (not the last), creating a
 * missing section map unless the next segment is a list index. */
static int step_into(io_yaml_node **node, const char *seg, const char *next,
                     const char *key, const char *origin, nn_error *err)
{
    io_yaml_node *n = *node;
    if (n->kind == IO_YAML_SEQ) {
        size_t i = 0;
        int rc = seq_index(n, seg, key, &i, err);
        if (rc == 0) *node = n->items[i];
        return rc;
    }
    if (n->kind != IO_YAML_MAP)
        return set_error(err, key, "'%s' is inside a scalar", seg);
    io_yaml_pair *p = io_yaml_map_find(n, seg);
    if (!p) {
        uint64_t dummy;
        if (parse_u64(next, &dummy) != -1) /* digits */
            return set_error(err, key, "there is no list '%s' to index", seg);
        p = io_yaml_map_add(n, seg, 0, io_yaml_map_new(0, origin));
    } else if (io_yaml_is_null(p->value)) { /* "section:" with nothing */
        int line = p->value->line;
        io_yaml_free(p->value);
        p->value = io_yaml_map_new(line, NULL);
    }
    *node = p->value;
    return 0;
}

/* Set the last segment: replace a value or add a key. */
static int set_leaf(io_yaml_node *n, const char *seg, const char *value,
                    const char *key, const char *origin, nn_error *err)
{
    if (n->kind == IO_YAML_SEQ) {
        size_t i = 0;
        int rc = seq_index(n, seg, key, &i, err);
        if (rc != 0) return rc;
        int line = n->items[i]->line;
        io_yaml_free(n->items[i]);
        n->items[i] = io_yaml_scalar_new(value, line, origin);
        return 0;
    }
    if (n->kind != IO_YAML_MAP)
        return set_error(err, key, "'%s' is inside a scalar", seg);
    io_yaml_pair *p = io_yaml_map_find(n, seg);
    if (!p) {
        io_yaml_map_add(n, seg, 0, io_yaml_scalar_new(value, 0, origin));
        return 0;
    }
    int line = p->value->line;
    io_yaml_free(p->value);
    p->value = io_yaml_scalar_new(value, line, origin);
    return 0;
}

/* Apply "a.b.c=value" to the tree (a map). */
static int apply_override(io_yaml_node *root, const char *ov, nn_error *err)
{
    const char *eq = strchr(ov, '=');
    if (!eq) return set_error(err, ov, "expected KEY=VALUE");
    size_t klen = (size_t)(eq - ov);
    char key[256], work[256], origin[300];
    if (klen == 0) return set_error(err, ov, "empty key");
    if (klen >= sizeof key) return set_error(err, ov, "key too long");
    memcpy(key, ov, klen);
    key[klen] = '\0';
    memcpy(work, key, klen + 1);
    snprintf(origin, sizeof origin, "--set %s", key);
    /* split work into segments in place */
    char *segs[64];
    size_t n = 0;
    for (char *s = work;; s++) {
        char *dot = strchr(s, '.');
        if (n == sizeof segs / sizeof segs[0])
            return set_error(err, key, "too many segments");
        segs[n++] = s;
        if (dot) *dot = '\0';
        if (segs[n - 1][0] == '\0')
            return set_error(err, key, "empty segment in the key");
        if (!dot) break;
        s = dot;
    }
    io_yaml_node *node = root;
    for (size_t i = 0; i + 1 < n; i++) {
        int rc = step_into(&node, segs[i], segs[i + 1], key, origin, err);
        if (rc != 0) return rc;
    }
    return set_leaf(node, segs[n - 1], eq + 1, key, origin, err);
}

/* ---- pass 2: every key must be known ------------------------------------ */

static int walk_section(parse_ctx *c, const io_yaml_node *map,
                        const char *prefix)
{
    for (size_t i = 0; i < map->n; i++) {
        const io_yaml_pair *p = &map->pairs[i];
        cfg_loc at = pair_loc(c, p);
        char full[256];
        int w = snprintf(full, sizeof full, "%s%s%s", prefix,
                         prefix[0] ? "." : "", p->key);
        int known = w > 0 && (size_t)w < sizeof full && !strchr(p->key, '.');
        int d = known ? def_index(c->cfg, full) : -1;
        if (d >= 0) {
            c->found[d] = p;
            continue;
        }
        if (!known || !is_section(c->cfg, full)) {
            char list[512];
            known_keys(c->cfg, prefix, list, sizeof list);
            return loc_error(&at, full, c->err, "unknown key (known here: %s)",
                             list);
        }
        if (io_yaml_is_null(p->value)) continue; /* an empty section */
        if (p->value->kind != IO_YAML_MAP)
            return loc_error(&at, full, c->err, "expected a map, got a %s",
                             io_yaml_kind_name(p->value->kind));
        int rc = walk_section(c, p->value, full);
        if (rc != 0) return rc;
    }
    return 0;
}

/* ---- pass 3: values ---------------------------------------------------- */

/* A found pair whose value is not null, or NULL. */
static const io_yaml_pair *given(const parse_ctx *c, const char *key)
{
    int d = def_index(c->cfg, key);
    NN_CHECK(d >= 0, "config: no table entry '%s'", key);
    const io_yaml_pair *p = c->found[d];
    return p && !io_yaml_is_null(p->value) ? p : NULL;
}

static int layer_value(parse_ctx *c, const io_yaml_pair *p, const char *key,
                       char **out);

static int apply_def(parse_ctx *c, const io_key *d, void *base,
                     const io_yaml_pair *p)
{
    if (!p) {
        cfg_loc at = parent_loc(c, d->key);
        if (d->flags & IO_REQ)
            return loc_error(&at, d->key, c->err, "required key is missing");
        return 0;
    }
    cfg_loc at = pair_loc(c, p);
    if ((d->flags & IO_LIST) && p->value->kind == IO_YAML_SEQ) {
        char *joined = NULL;
        int rc = layer_value(c, p, d->key, &joined);
        if (rc == 0) rc = store(base, d, joined, &at, c->err);
        free(joined);
        return rc;
    }
    if (p->value->kind != IO_YAML_SCALAR)
        return loc_error(&at, d->key, c->err, "expected a single value, got a %s",
                         io_yaml_kind_name(p->value->kind));
    if (io_yaml_is_null(p->value)) {
        if (d->flags & IO_REQ)
            return loc_error(&at, d->key, c->err, "required value is empty");
        return 0; /* keeps the default */
    }
    return store(base, d, p->value->value, &at, c->err);
}

/* data.stream (truncated BPTT): the windows keep their order, so no hash
 * validation split, and a step's rows must reach the model in one forward
 * (row b carries stream b's state), so no micro-batches. */
static int check_stream(parse_ctx *c)
{
    const io_config *cfg = c->cfg;
    if (!cfg->data.stream) return 0;
    const char *key = cfg->data.val_fraction > 0 ? "data.val_fraction"
                      : cfg->train.accumulate > 1 ? "training.accumulate"
                                                  : NULL;
    if (!key) return 0;
    cfg_loc at = pair_loc(c, given(c, key));
    return loc_error(&at, key, c->err,
                     "not supported with data.stream true (%s)",
                     cfg->data.val_fraction > 0
                         ? "set it to 0; validate on a data.val file"
                         : "each step's rows must be one forward");
}

/* data.format text: the samples are token ids, so no CSV columns and no
 * normalisation; data.seq_len is required there and refused elsewhere.
 * (The IDX-only keys are refused by check_data as for csv.) */
static int check_text(parse_ctx *c)
{
    io_data_cfg *d = &c->cfg->data;
    const io_yaml_pair *p = given(c, "data.seq_len");
    /* packed windows of text keep their order: stream order applies */
    if (strcmp(d->format, "packed") == 0 && !p) return check_stream(c);
    if (strcmp(d->format, "text") != 0) {
        const char *key = p ? "data.seq_len" : "data.stream";
        if (!p && !(p = given(c, key))) return 0;
        cfg_loc at = pair_loc(c, p);
        return loc_error(&at, key, c->err, "not used with data.format %s",
                         d->format);
    }
    int rc = check_stream(c);
    if (rc) return rc;
    if (!p) {
        cfg_loc at = parent_loc(c, "data.seq_len");
        return loc_error(&at, "data.seq_len", c->err,
                         "required when data.format is text");
    }
    for (size_t i = 0; csv_only[i]; i++) {
        if (!(p = given(c, csv_only[i]))) continue;
        cfg_loc at = pair_loc(c, p);
        return loc_error(&at, csv_only[i], c->err,
                         "not used with data.format text");
    }
    if (d->normalize && strcmp(d->normalize, "none") != 0) {
        cfg_loc at = pair_loc(c, given(c, "data.normalize"));
        return loc_error(&at, "data.normalize", c->err,
                         "must be none with data.format text (the inputs "
                         "are token ids)");
    }
    return 0;
}

/* Keys that say where labels are: nothing to say with data.target input. */
static const char *const label_keys[] = {"data.train_labels", "data.test_labels",
                                         "data.val_labels", "data.target_column",
                                         "data.targets", NULL};

/* data.target input (an autoencoder): the inputs are the targets, so no
 * key may name labels or target columns, the loss must compare values
 * (mse, or bce on inputs in [0,1]) and the inputs must be numbers. */
static int check_target(parse_ctx *c)
{
    const io_config *cfg = c->cfg;
    if (strcmp(cfg->data.target, "input") != 0) return 0;
    const io_yaml_pair *tp = given(c, "data.target");
    cfg_loc at = pair_loc(c, tp);
    if (strcmp(cfg->data.format, "text") == 0)
        return loc_error(&at, "data.target", c->err,
                         "input needs data.format idx or csv (text samples "
                         "are token ids)");
    for (size_t i = 0; label_keys[i]; i++) {
        const io_yaml_pair *p = given(c, label_keys[i]);
        if (!p) continue;
        at = pair_loc(c, p);
        return loc_error(&at, label_keys[i], c->err,
                         "not read with data.target input (the inputs are "
                         "the targets)");
    }
    if (strcmp(cfg->loss, "cross_entropy") == 0) {
        at = pair_loc(c, given(c, "loss"));
        return loc_error(&at, "loss", c->err,
                         "cross_entropy needs class labels; data.target input "
                         "needs mse or bce");
    }
    return 0;
}

/* data.augment changes the inputs of training rows: not token ids, and
 * not when the inputs are also the targets (an autoencoder would be
 * asked to undo a random crop it cannot know). */
static int check_augment(parse_ctx *c)
{
    const io_data_cfg *d = &c->cfg->data;
    const char *key = given(c, "data.augment.crop_pad") ? "data.augment.crop_pad"
                      : given(c, "data.augment.hflip")   ? "data.augment.hflip"
                                                         : NULL;
    if (!key || !(d->augment_crop_pad || d->augment_hflip)) return 0;
    cfg_loc at = pair_loc(c, given(c, key));
    if (strcmp(d->format, "text") == 0)
        return loc_error(&at, key, c->err,
                         "not used with data.format text (the inputs are "
                         "token ids)");
    if (strcmp(d->target, "input") == 0)
        return loc_error(&at, key, c->err,
                         "not used with data.target input (the inputs are "
                         "the targets)");
    return 0;
}

/* data.sampler: stream is what data.stream: true says; the two must not
 * disagree. Other names are the trainer's to know. */
static int check_sampler(parse_ctx *c)
{
    io_data_cfg *d = &c->cfg->data;
    if (!d->sampler) return 0;
    int stream = strcmp(d->sampler, "stream") == 0;
    if (given(c, "data.stream") && d->stream != stream) {
        cfg_loc at = pair_loc(c, given(c, "data.sampler"));
        return loc_error(&at, "data.sampler", c->err,
                         "%s, but data.stream is %s; give one of them",
                         d->sampler, d->stream ? "true" : "false");
    }
    if (stream && strcmp(d->format, "text") != 0 &&
        strcmp(d->format, "packed") != 0) {
        cfg_loc at = pair_loc(c, given(c, "data.sampler"));
        return loc_error(&at, "data.sampler", c->err,
                         "stream is for data.format text, not %s",
                         d->format);
    }
    d->stream = d->stream || stream;
    return 0;
}

/* data.format packed: the labels and the CSV columns were chosen when
 * the data were packed, so those keys are refused; data.window is only
 * for packed data. */
static int check_packed(parse_ctx *c)
{
    int packed = strcmp(c->cfg->data.format, "packed") == 0;
    const io_yaml_pair *p = given(c, "data.window");
    if (!packed && p) {
        cfg_loc at = pair_loc(c, p);
        return loc_error(&at, "data.window", c->err,
                         "not used with data.format %s (only packed)",
                         c->cfg->data.format);
    }
    for (size_t i = 0; packed && csv_only[i]; i++) {
        if (!(p = given(c, csv_only[i]))) continue;
        cfg_loc at = pair_loc(c, p);
        return loc_error(&at, csv_only[i], c->err,
                         "not used with data.format packed (the columns "
                         "were chosen by axon pack)");
    }
    return 0;
}

static int check_data(parse_ctx *c)
{
    io_data_cfg *d = &c->cfg->data;
    int idx = strcmp(d->format, "idx") == 0;
    /* IDX label files are needed unless the inputs are the targets */
    int idx_labels = idx && strcmp(d->target, "labels") == 0;
    const char *const *refused = idx ? csv_only : idx_only;
    int rc = check_sampler(c);
    if (!rc) rc = check_text(c);
    if (!rc) rc = check_target(c);
    if (!rc) rc = check_augment(c);
    if (rc) return rc;
    for (size_t i = 0; refused[i]; i++) {
        const io_yaml_pair *p = given(c, refused[i]);
        if (!p) continue;
        cfg_loc at = pair_loc(c, p);
        return loc_error(&at, refused[i], c->err,
                         "not used with data.format %s", d->format);
    }
    if ((rc = check_packed(c))) return rc;
    if (idx_labels && !d->train_labels) {
        cfg_loc at = parent_loc(c, "data.train_labels");
        return loc_error(&at, "data.train_labels", c->err,
                         "required when data.format is idx");
    }
    if (idx_labels && !d->test != !d->test_labels) {
        const char *key = d->test ? "data.test_labels" : "data.test";
        cfg_loc at = d->test ? parent_loc(c, key)
                             : pair_loc(c, given(c, "data.test_labels"));
        return loc_error(&at, key, c->err,
                         "data.test and data.test_labels go together for idx");
    }
    if (idx_labels && !d->val != !d->val_labels) {
        const char *key = d->val ? "data.val_labels" : "data.val";
        cfg_loc at = d->val ? parent_loc(c, key)
                            : pair_loc(c, given(c, "data.val_labels"));
        return loc_error(&at, key, c->err,
                         "data.val and data.val_labels go together for idx");
    }
    if (d->val && d->val_fraction > 0) {
        cfg_loc at = pair_loc(c, given(c, "data.val_fraction"));
        return loc_error(&at, "data.val_fraction", c->err,
                         "not used with data.val (a separate validation "
                         "file); give one or the other");
    }
    if (!d->normalize) d->normalize = nn_xstrdup(idx ? "scale" : "none");
    return 0;
}

/* A steps/epochs pair of one length: not both; one of them when the
 * schedule `needs` it (NULL: optional). Values 0 mean "not set". */
static int check_pair(parse_ctx *c, const char *steps_key, size_t steps,
                      const char *epochs_key, size_t epochs, const char *needs)
{
    if (steps && epochs) {
        cfg_loc at = pair_loc(c, given(c, epochs_key));
        return loc_error(&at, epochs_key, c->err, "give %s or %s, not both",
                         steps_key, epochs_key);
    }
    if (needs && !steps && !epochs) {
        cfg_loc at = parent_loc(c, steps_key);
        return loc_error(&at, steps_key, c->err,
                         "required when training.schedule is %s (or %s)",
                         needs, epochs_key);
    }
    return 0;
}

static int check_schedule(parse_ctx *c)
{
    const io_train_cfg *t = &c->cfg->train;
    const char *name = sched_names[t->schedule];
    for (size_t i = 0; i < sizeof sched_only / sizeof sched_only[0]; i++) {
        const io_yaml_pair *p = given(c, sched_only[i].key);
        if (!p || (sched_only[i].kinds & SCHED_BIT(t->schedule))) continue;
        cfg_loc at = pair_loc(c, p);
        return loc_error(&at, sched_only[i].key, c->err,
                         "not used with training.schedule %s", name);
    }
    int rc = check_pair(c, "training.warmup_steps", t->warmup_steps,
                        "training.warmup_epochs", t->warmup_epochs, NULL);
    if (!rc)
        rc = check_pair(c, "training.step_size", t->step_size,
                        "training.step_size_epochs", t->step_size_epochs,
                        t->schedule == NN_SCHED_STEP ? name : NULL);
    if (!rc)
        rc = check_pair(c, "training.decay_steps", t->decay_steps,
                        "training.decay_epochs", t->decay_epochs,
                        t->schedule == NN_SCHED_EXPONENTIAL ? name : NULL);
    if (rc) return rc;
    const io_yaml_pair *p = given(c, "training.warmup_start_lr");
    if (p && !t->warmup_steps && !t->warmup_epochs) {
        cfg_loc at = pair_loc(c, p);
        return loc_error(&at, "training.warmup_start_lr", c->err,
                         "has no effect without training.warmup_steps or "
                         "training.warmup_epochs");
    }
    /* the cosine ends at min_lr: it must not lie above the base rate */
    double base = nn_schedule_linear_scale(t->lr, t->batch_size,
                                           t->lr_reference_batch);
    if (t->schedule == NN_SCHED_COSINE && t->min_lr > base) {
        cfg_loc at = pair_loc(c, given(c, "training.min_lr"));
        return loc_error(&at, "training.min_lr", c->err,
                         "%g is above the base rate %g", t->min_lr, base);
    }
    if (t->schedule == NN_SCHED_COSINE && t->warmup_epochs >= t->epochs) {
        cfg_loc at = pair_loc(c, given(c, "training.warmup_epochs"));
        return loc_error(&at, "training.warmup_epochs", c->err,
                         "%zu leaves no epoch for the cosine (training.epochs "
                         "%zu)", t->warmup_epochs, t->epochs);
    }
    return 0;
}

/* training.deterministic: the micro-shards are a power of two, each with
 * rows, and take the place of micro-batches. */
static int check_deterministic(parse_ctx *c)
{
    const io_config *cfg = c->cfg;
    const io_train_cfg *t = &cfg->train;
    size_t m = t->micro_shards;
    const io_yaml_pair *det = given(c, "training.deterministic");
    const char *key = "training.micro_shards", *why = NULL;
    if (!t->deterministic)
        why = given(c, key) ? "has no effect without training.deterministic "
                              "true"
                            : NULL;
    else if (m & (m - 1))
        why = "must be a power of two (the fixed binary tree of the sum)";
    else if (m > t->batch_size)
        why = "exceeds training.batch_size (each micro-shard needs rows)";
    else if (t->accumulate > 1) {
        key = "training.accumulate";
        why = "not supported with training.deterministic true (the "
              "micro-shards already split the batch: set "
              "training.micro_shards)";
    }
    if (!why) return 0;
    const io_yaml_pair *p = given(c, key);
    cfg_loc at = pair_loc(c, p ? p : det);
    return loc_error(&at, key, c->err, "%s", why);
}

static int check_training(parse_ctx *c)
{
    const io_train_cfg *t = &c->cfg->train;
    int rc = check_deterministic(c);
    if (rc) return rc;
    if (t->batch_size && t->accumulate > t->batch_size) {
        cfg_loc at = pair_loc(c, given(c, "training.accumulate"));
        return loc_error(&at, "training.accumulate", c->err,
                         "%zu micro-batches exceed training.batch_size %zu "
                         "(each needs at least one row)",
                         t->accumulate, t->batch_size);
    }
    return check_schedule(c);
}

/* The section's presence turns early stopping on (an explicit
 * `enabled` wins); it then needs validation data and, to watch accuracy,
 * the one loss that counts correct answers. */
static int check_early_stop(parse_ctx *c)
{
    io_config *cfg = c->cfg;
    io_early_stop_cfg *e = &cfg->early_stop;
    const io_yaml_pair *sec = io_yaml_map_find(c->root, "early_stopping");
    const io_yaml_pair *en = given(c, "early_stopping.enabled");
    if (!en) e->enabled = sec != NULL;
    if (!e->enabled) return 0;
    if (cfg->data.val_fraction <= 0 && !cfg->data.val) {
        cfg_loc at = pair_loc(c, en ? en : sec);
        return loc_error(&at, "early_stopping", c->err,
                         "needs validation data (data.val_fraction > 0 or "
                         "data.val)");
    }
    if (strcmp(e->monitor, "val_accuracy") == 0 &&
        strcmp(cfg->loss, "cross_entropy") != 0) {
        const io_yaml_pair *p = given(c, "early_stopping.monitor");
        cfg_loc at = pair_loc(c, p);
        return loc_error(&at, "early_stopping.monitor", c->err,
                         "val_accuracy needs loss cross_entropy (loss %s "
                         "reports no accuracy); use val_loss", cfg->loss);
    }
    return 0;
}

/* A layer's word (type, name): a non-empty scalar. */
static int layer_word(parse_ctx *c, const io_yaml_pair *p, const char *key,
                      char **out)
{
    cfg_loc at = pair_loc(c, p);
    const io_yaml_node *v = p->value;
    if (v->kind != IO_YAML_SCALAR || io_yaml_is_null(v) || !v->value[0])
        return loc_error(&at, key, c->err, "expected a non-empty name");
    *out = nn_xstrdup(v->value);
    return 0;
}

/* A layer key's value as one string: a scalar as written, a list of
 * scalars joined with ',' ("[5, 5]" -> "5,5"). */
static int layer_value(parse_ctx *c, const io_yaml_pair *p, const char *key,
                       char **out)
{
    cfg_loc at = pair_loc(c, p);
    const io_yaml_node *v = p->value;
    if (v->kind == IO_YAML_SCALAR) {
        *out = nn_xstrdup(io_yaml_is_null(v) ? "" : v->value);
        return 0;
    }
    if (v->kind == IO_YAML_MAP)
        return loc_error(&at, key, c->err,
                         "expected a value or a list of values, got a map");
    if (v->n == 0) return loc_error(&at, key, c->err, "empty list");
    size_t len = 0;
    for (size_t i = 0; i < v->n; i++) {
        const io_yaml_node *it = v->items[i];
        if (it->kind != IO_YAML_SCALAR || io_yaml_is_null(it))
            return loc_error(&at, key, c->err,
                             "list item %zu must be a single value", i);
        len += strlen(it->value) + 1;
    }
    char *s = nn_xmalloc(len);
    size_t pos = 0;
    for (size_t i = 0; i < v->n; i++) {
        size_t n = strlen(v->items[i]->value);
        if (i) s[pos++] = ',';
        memcpy(s + pos, v->items[i]->value, n);
        pos += n;
    }
    s[pos] = '\0';
    *out = s;
    return 0;
}

/* One `- type: ...` entry (index i, 0-based) of the list `list` into s. */
static int parse_layer(parse_ctx *c, const char *list, const io_yaml_node *e,
                       size_t i, nn_spec *s)
{
    char key[128], sub[256];
    snprintf(key, sizeof key, "%s.%zu", list, i);
    cfg_loc at = node_loc(c, e);
    s->file = c->cfg->path;
    s->line = e->line;
    if (e->kind != IO_YAML_MAP)
        return loc_error(&at, key, c->err, "expected a map with a 'type', got a %s",
                         io_yaml_kind_name(e->kind));
    const io_yaml_pair *tp = io_yaml_map_find(e, "type");
    snprintf(sub, sizeof sub, "%s.type", key);
    if (!tp) return loc_error(&at, sub, c->err, "required key is missing");
    int rc = layer_word(c, tp, sub, &s->type);
    if (rc != 0) return rc;
    if (tp->line) s->line = tp->line;
    const io_yaml_pair *np = io_yaml_map_find(e, "name");
    snprintf(sub, sizeof sub, "%s.name", key);
    if (np && (rc = layer_word(c, np, sub, &s->name)) != 0) return rc;
    if (!np) {
        char name[256];
        snprintf(name, sizeof name, "%s_%zu", s->type, i + 1);
        s->name = nn_xstrdup(name);
    }
    for (size_t k = 0; k < e->n; k++) {
        const io_yaml_pair *p = &e->pairs[k];
        if (p == tp || p == np) continue;
        char *value = NULL;
        snprintf(sub, sizeof sub, "%s.%s", key, p->key);
        if ((rc = layer_value(c, p, sub, &value)) != 0) return rc;
        rc = nn_spec_add(s, p->key, value, p->line, c->err);
        free(value);
        if (rc != 0) return rc;
    }
    return 0;
}

/* The layer list of IO_LAYERS key d, given as pair p, into the io_layers
 * at d's offset in base. */
static int parse_layers(parse_ctx *c, const io_key *d, void *base,
                        const io_yaml_pair *p)
{
    io_layers *list = (io_layers *)(void *)((char *)base + d->offset);
    cfg_loc at = pair_loc(c, p);
    const io_yaml_node *v = p->value;
    if (io_yaml_is_null(v) || (v->kind == IO_YAML_SEQ && v->n == 0))
        return loc_error(&at, d->key, c->err, "the layer list is empty");
    if (v->kind != IO_YAML_SEQ)
        return loc_error(&at, d->key, c->err,
                         "expected a sequence of layers, got a %s",
                         io_yaml_kind_name(v->kind));
    /* n first: io_config_free then frees whatever got filled */
    list->specs = nn_xcalloc(v->n, sizeof *list->specs);
    list->n = v->n;
    for (size_t i = 0; i < v->n; i++) {
        int rc = parse_layer(c, d->key, v->items[i], i, &list->specs[i]);
        if (rc != 0) return rc;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(list->specs[j].name, list->specs[i].name) != 0) continue;
            char key[160];
            snprintf(key, sizeof key, "%s.%zu.name", d->key, i);
            const io_yaml_pair *np = io_yaml_map_find(v->items[i], "name");
            cfg_loc nat = np ? pair_loc(c, np) : node_loc(c, v->items[i]);
            return loc_error(&nat, key, c->err,
                             "layer name '%s' is already used by layer %zu",
                             list->specs[i].name, j);
        }
    }
    return 0;
}

static void add_given(io_config *cfg, const char *key, cfg_loc at)
{
    io_config_given *g = &cfg->given[cfg->n_given++];
    g->key = nn_xstrdup(key);
    g->line = at.line;
    g->origin = at.origin ? nn_xstrdup(at.origin) : NULL;
}

/* Remember where every given key and top-level section was set
 * (io_config_where). */
static void record_given(parse_ctx *c)
{
    io_config *cfg = c->cfg;
    size_t n = n_keys(cfg);
    cfg->given = nn_xcalloc(n + c->root->n, sizeof *cfg->given);
    for (size_t i = 0; i < n; i++)
        if (c->found[i])
            add_given(cfg, key_at(cfg, i, NULL)->key, pair_loc(c, c->found[i]));
    for (size_t i = 0; i < c->root->n; i++)
        if (def_index(cfg, c->root->pairs[i].key) < 0)
            add_given(cfg, c->root->pairs[i].key, pair_loc(c, &c->root->pairs[i]));
}

int io_config_where(const io_config *cfg, const char *key, char *buf,
                    size_t cap)
{
    for (size_t i = 0; i < cfg->n_given; i++) {
        const io_config_given *g = &cfg->given[i];
        if (strcmp(g->key, key)) continue;
        if (g->origin) snprintf(buf, cap, "%s", g->origin);
        else snprintf(buf, cap, "%s:%d", cfg->path, g->line);
        return 1;
    }
    return 0;
}

int io_config_error(const io_config *cfg, const char *key, nn_error *err,
                    const char *fmt, ...)
{
    char what[768], where[4200], section[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(section, sizeof section, "%.*s", (int)strcspn(key, "."), key);
    if (!io_config_where(cfg, key, where, sizeof where) &&
        !io_config_where(cfg, section, where, sizeof where))
        snprintf(where, sizeof where, "%s", cfg->path);
    return nn_error_set(err, NN_EXIT_USAGE, "%s: %s: %s", where, key, what);
}

const void *io_config_values(const io_config *cfg, const io_schema *sc)
{
    for (size_t k = 0; k < cfg->n_ext; k++)
        if (cfg->ext_schema[k] == sc) return cfg->ext[k];
    return NULL;
}

/* Is the section of fragment key i (its schema's section) in the file? */
static int section_given(const parse_ctx *c, size_t i)
{
    i -= N_DEFS;
    for (size_t k = 0; k < c->cfg->n_ext; k++) {
        const io_schema *sc = c->cfg->ext_schema[k];
        if (i < sc->n_keys)
            return sc->section && io_yaml_map_find(c->root, sc->section);
        i -= sc->n_keys;
    }
    return 0;
}

/* An objective that makes its own data (io_schema.own_data) has its
 * section in this config. */
static int own_data(const parse_ctx *c)
{
    for (size_t k = 0; k < c->cfg->n_ext; k++) {
        const io_schema *sc = c->cfg->ext_schema[k];
        if (sc->own_data && sc->section && io_yaml_map_find(c->root, sc->section))
            return 1;
    }
    return 0;
}

/* The core keys about training data: the data section, loss and
 * training.batch_size. */
static int data_key(const char *key)
{
    return !strncmp(key, "data.", 5) || !strcmp(key, "loss") ||
           !strcmp(key, "training.batch_size");
}

static int validate(parse_ctx *c)
{
    size_t n = n_keys(c->cfg);
    for (size_t i = 0; i < n; i++) { /* defaults: trusted text */
        void *base;
        const io_key *d = key_at(c->cfg, i, &base);
        if (!d->def) continue;
        cfg_loc at = {"<defaults>", 0, NULL};
        int rc = store(base, d, d->def, &at, c->err);
        NN_CHECK(rc == 0, "config: bad default for %s", d->key);
    }
    int rc = walk_section(c, c->root, "");
    if (rc != 0) return rc;
    record_given(c);
    int own = own_data(c);
    for (size_t i = 0; i < n; i++) {
        void *base;
        const io_key *d = key_at(c->cfg, i, &base);
        io_key opt = *d; /* a fragment's key is required only in its section */
        if (i >= N_DEFS && !section_given(c, i)) opt.flags &= ~(unsigned)IO_REQ;
        if (own && i < N_DEFS && data_key(d->key)) opt.flags &= ~(unsigned)IO_REQ;
        if (d->type == IO_LAYERS && c->found[i])
            rc = parse_layers(c, d, base, c->found[i]);
        else
            rc = apply_def(c, &opt, base, c->found[i]);
        if (rc != 0) return rc;
    }
    if (!own && (rc = check_data(c)) != 0) return rc;
    if ((rc = check_training(c)) != 0) return rc;
    return check_early_stop(c);
}

/* ---- public ---------------------------------------------------------- */

int io_config_parse(io_config *cfg, const char *path, const char *text,
                    size_t len, char *const *overrides, size_t n_overrides,
                    const io_schema *const *schemas, nn_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t k = 0; schemas && schemas[k]; k++) {
        NN_CHECK(k < IO_MAX_SCHEMAS, "config: more than %d schema fragments",
                 IO_MAX_SCHEMAS);
        cfg->ext_schema[k] = schemas[k];
        cfg->ext[k] = nn_xcalloc(1, schemas[k]->size ? schemas[k]->size : 1);
        cfg->n_ext = k + 1;
    }
    cfg->path = nn_xstrdup(path);
    cfg->text = nn_xmalloc(len + 1);
    if (len) memcpy(cfg->text, text, len);
    cfg->text[len] = '\0';
    cfg->text_len = len;
    io_yaml_node *root = NULL;
    int rc = io_yaml_parse(cfg->path, cfg->text, len, &root, err);
    if (rc != 0) goto fail;
    if (!root) {
        rc = nn_error_set(err, NN_EXIT_USAGE,
                          "%s:1: the config is empty (expected sections "
                          "model, loss, data, training)", path);
        goto fail;
    }
    if (root->kind != IO_YAML_MAP) {
        rc = nn_error_set(err, NN_EXIT_USAGE,
                          "%s:%d: the config must be a map of sections, not a %s",
                          path, root->line, io_yaml_kind_name(root->kind));
        goto fail;
    }
    for (size_t i = 0; i < n_overrides; i++)
        if ((rc = apply_override(root, overrides[i], err)) != 0) goto fail;
    parse_ctx c;
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    c.root = root;
    c.err = err;
    c.found = nn_xcalloc(n_keys(cfg), sizeof *c.found);
    rc = validate(&c);
    free(c.found);
    if (rc != 0) goto fail;
    io_yaml_free(root);
    return 0;
fail:
    io_yaml_free(root);
    io_config_free(cfg);
    return rc;
}

/* epochs * steps_per_epoch, saturating (a count past 2^64 means "never"). */
static uint64_t epochs_to_steps(uint64_t epochs, uint64_t steps_per_epoch)
{
    if (steps_per_epoch && epochs > UINT64_MAX / steps_per_epoch)
        return UINT64_MAX;
    return epochs * steps_per_epoch;
}

uint64_t io_run_steps(const io_train_cfg *t, uint64_t steps_per_epoch)
{
    return epochs_to_steps(t->epochs, steps_per_epoch);
}

nn_schedule io_train_schedule(const io_train_cfg *t, uint64_t steps_per_epoch,
                              uint64_t total_steps)
{
    nn_schedule s = nn_schedule_constant(nn_schedule_linear_scale(
        t->lr, t->batch_size, t->lr_reference_batch));
    s.kind = t->schedule;
    s.warmup_steps = t->warmup_epochs
                         ? epochs_to_steps(t->warmup_epochs, steps_per_epoch)
                         : t->warmup_steps;
    s.warmup_start = t->warmup_start_lr;
    s.step_size = t->step_size_epochs
                      ? epochs_to_steps(t->step_size_epochs, steps_per_epoch)
                      : t->step_size;
    s.gamma = t->gamma;
    s.decay_steps = t->decay_epochs
                        ? epochs_to_steps(t->decay_epochs, steps_per_epoch)
                        : t->decay_steps;
    s.total_steps = total_steps;
    s.min_lr = t->min_lr;
    return s;
}

int io_read_file(const char *path, char **out, size_t *len, nn_error *err)
{
    return io_read_regular(path, "config", IO_CONFIG_MAX_BYTES, NN_EXIT_USAGE,
                           out, len, err);
}

void io_config_free(io_config *cfg)
{
    if (!cfg) return;
    /* every string and layer list the keys store is owned by cfg */
    for (size_t i = 0, n = n_keys(cfg); i < n; i++) {
        const io_key *d = key_at(cfg, i, NULL);
        void *slot = key_slot(cfg, i);
        if (d->type == IO_LAYERS) {
            io_layers *l = slot;
            for (size_t k = 0; k < l->n; k++) nn_spec_free(&l->specs[k]);
            free(l->specs);
        } else if (d->type == IO_STR || d->type == IO_ENUM) {
            free(*(char **)slot);
        }
    }
    for (size_t k = 0; k < cfg->n_ext; k++) free(cfg->ext[k]);
    free(cfg->path);
    free(cfg->text);
    for (size_t i = 0; i < cfg->n_given; i++) {
        free(cfg->given[i].key);
        free(cfg->given[i].origin);
    }
    free(cfg->given);
    memset(cfg, 0, sizeof *cfg);
}

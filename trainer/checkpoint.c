/* trainer/checkpoint.c - saving and restoring a run's state.
 *
 * Every rank deflates its share of the payload's segments (all ranks hold
 * the same parameters and optimizer state), rank 0 gathers the parts and
 * writes <dir>/step-NNNNNNNN.ckpt through io_ckpt_write_parts (temp file,
 * fsync, rename, directory fsync): p ranks compress p times faster, and the
 * file is the same bytes for any p. Then rank 0 points the symlink <dir>/last.ckpt
 * at it (made under a temporary name and renamed, so it is never missing
 * or dangling), then removes all but the newest keep_last. Loading: rank 0
 * reads and validates the whole file, every rank learns the verdict, and
 * only then is the state broadcast - never a partly loaded model.
 *
 * Random state: every generator in a run is counter-based on (seed, epoch,
 * step, sample id), and the seed is in the saved config, so the position
 * (epoch, step_in_epoch, global_step) restores all of it. In stream mode
 * (truncated BPTT) a mid-epoch checkpoint also holds the stateful layers'
 * carried state of every stream (record "stream_state"), so that a resume
 * continues the streams where they were, on any number of ranks.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/ckpt.h"
#include "nn/check.h"
#include "nn/recurrent.h"
#include "trainer/meta.h"
#include "trainer/report.h"
#include "trainer/session.h"

#define LAST_NAME "last.ckpt"

/* Payloads up to this many raw bytes are deflated by all ranks together;
 * larger ones by rank 0 alone, since MPI counts the gathered bytes in an
 * int (deflate expands incompressible data by well under 1%). */
#define SHARED_DEFLATE_MAX ((size_t)INT_MAX / 2)

/* Point <dir>/last.ckpt at `name` atomically. */
static int update_last(const char *dir, const char *name, nn_error *err)
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld", dir, LAST_NAME, (long)getpid());
    snprintf(dst, sizeof dst, "%s/%s", dir, LAST_NAME);
    unlink(tmp);
    if (symlink(name, tmp) != 0 || rename(tmp, dst) != 0) {
        int e = errno;
        unlink(tmp);
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot update: %s", dst,
                            strerror(e));
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remove all but the newest `keep` step-*.ckpt files up to `newest`, the
 * file just written (names sort by step). Files of later steps, left by
 * another run in the same directory, are not this run's to judge: counting
 * them would delete the checkpoint just written. */
static void prune(const char *dir, size_t keep, const char *newest)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "step-", 5) || len < 6 ||
            strcmp(e->d_name + len - 5, ".ckpt") || strcmp(e->d_name, newest) > 0)
            continue;
        if (n == cap) names = nn_xrealloc(names, (cap = cap ? 2 * cap : 16) *
                                                     sizeof *names);
        names[n++] = nn_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i + keep < n) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            unlink(path);
        }
        free(names[i]);
    }
    free(names);
}

/* Rank 0: write c, with its payload deflated in parts[0, n_parts), as
 * <dir>/<fixed>, or (fixed == NULL) as the next <dir>/step-N.ckpt, then
 * move last.ckpt and prune. */
static int write_file(tr_session *s, const char *dir, const char *fixed,
                      const io_ckpt *c, const io_ckpt_part *parts,
                      size_t n_parts)
{
    /* Never replace a good checkpoint with a diverged model. */
    for (size_t i = 0; i < c->n_params; i++)
        if (!isfinite(c->params[i]))
            return nn_error_set(&s->err, NN_EXIT_DIVERGED,
                                "%s: not writing a checkpoint: parameter %zu "
                                "is not finite",
                                dir, i);
    int e = tr_mkdirs(dir);
    if (e)
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: cannot create checkpoint directory: %s", dir,
                            strerror(e));
    char name[64], path[4096];
    snprintf(name, sizeof name, "%s", fixed ? fixed : "");
    if (!fixed)
        snprintf(name, sizeof name, "step-%08llu.ckpt",
                 (unsigned long long)s->global_step);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int st = io_ckpt_write_parts(path, c, parts, n_parts, &s->err);
    if (!st && !fixed) st = update_last(dir, name, &s->err);
    if (!st && !fixed && s->cfg.ckpt.keep_last)
        prune(dir, s->cfg.ckpt.keep_last, name);
    return st;
}

void tr_ckpt_position(const tr_session *s, io_ckpt *c)
{
    c->config = s->cfg.text;
    c->config_len = s->cfg.text_len;
    c->world_size = (uint32_t)s->size;
    c->epoch = s->epoch;
    c->step_in_epoch = s->step_in_epoch;
    c->global_step = s->global_step;
    c->best_metric = s->best_metric;
    c->best_epoch = s->best_epoch;
    c->bad_epochs = s->bad_epochs;
}

void tr_run_meta(const tr_session *s, tr_meta *meta, nn_shape in)
{
    tr_meta_put_shape(meta, in);
    if (s->norm_mean) {
        size_t w = s->train.x_width * sizeof(double);
        tr_meta_put(meta, "norm_mean", s->norm_mean, w);
        tr_meta_put(meta, "norm_std", s->norm_std, w);
    }
    if (s->vocab) tr_meta_put(meta, "vocab", s->vocab, s->vocab_len);
    tr_meta_put_overrides(meta, s->opt->sets, s->opt->n_sets);
}

/* Collective end of a save: every rank learns rank 0's status; a failed
 * write only warns unless checkpoint.stop_on_error. */
static int save_verdict(tr_session *s, int st)
{
    if (s->rank == 0 && st && !s->cfg.ckpt.stop_on_error) {
        fprintf(stderr, "axon: warning: %s (training continues; the "
                        "previous checkpoint is intact)\n",
                s->err.msg);
        st = 0;
    }
    return tr_agree(s, st);
}

/* First segment of rank r's share of nseg among p ranks (r = p: nseg):
 * equal shares, since rank 0 can write only once it has every part. */
static size_t share_start(size_t nseg, size_t r, size_t p)
{
    return nseg * r / p;
}

/* Collective: c's payload deflated by the ranks together, each taking a
 * contiguous share of the segments. On rank 0, *parts receives every
 * rank's part in rank order (*n_parts of them), their data pointing into
 * *buf, which the caller frees with *parts. Nonzero if the gather failed. */
static int deflate_shared(tr_session *s, const io_ckpt *c,
                          io_ckpt_part **parts, size_t *n_parts, uint8_t **buf)
{
    size_t nseg = io_ckpt_segments(c), p = (size_t)s->size;
    size_t r = (size_t)s->rank, first = share_start(nseg, r, p);
    *parts = NULL, *n_parts = 0, *buf = NULL;
    if (4 * (c->n_params + c->n_state) > SHARED_DEFLATE_MAX) {
        if (r == 0) { /* the same test on every rank: no one waits */
            *parts = nn_xmalloc(sizeof **parts);
            io_ckpt_deflate(c, 0, nseg, *parts);
            *buf = (*parts)->data;
            *n_parts = 1;
        }
        return 0;
    }
    io_ckpt_part mine;
    io_ckpt_deflate(c, first, share_start(nseg, r + 1, p) - first, &mine);
    uint64_t info[4] = {mine.len, mine.raw_len, mine.crc, mine.adler};
    uint64_t *all = nn_xmalloc(p * sizeof info);
    size_t *lens = nn_xmalloc(p * sizeof *lens), total = 0;
    int bad = comm_gather_bytes(s->comm, info, sizeof info, all, 0);
    if (r == 0 && !bad) {
        for (size_t k = 0; k < p; k++) total += lens[k] = all[4 * k];
        *buf = nn_xmalloc(total ? total : 1);
    }
    bad = bad || comm_gatherv_bytes(s->comm, mine.data, mine.len, *buf, lens, 0);
    if (r == 0 && !bad) {
        *parts = nn_xcalloc(p, sizeof **parts);
        for (size_t k = 0, off = 0; k < p; off += lens[k++])
            (*parts)[k] = (io_ckpt_part){.data = *buf + off,
                                         .len = lens[k],
                                         .raw_len = all[4 * k + 1],
                                         .crc = (uint32_t)all[4 * k + 2],
                                         .adler = (uint32_t)all[4 * k + 3]};
        *n_parts = p;
    }
    io_ckpt_part_free(&mine);
    free(lens);
    free(all);
    return bad;
}

int tr_write_checkpoint(tr_session *s, const io_ckpt *c, const char *name)
{
    const char *dir = s->cfg.ckpt.dir;
    if (!dir) return 0;
    io_ckpt_part *parts;
    size_t n_parts;
    uint8_t *buf;
    int st = deflate_shared(s, c, &parts, &n_parts, &buf);
    if (st)
        st = nn_error_set(&s->err, NN_EXIT_OTHER,
                          "%s: cannot gather the checkpoint from the ranks",
                          dir);
    else if (s->rank == 0)
        st = write_file(s, dir, name, c, parts, n_parts);
    free(parts);
    free(buf);
    return save_verdict(s, st);
}

/* Stream mode: how many rows of the global batch rank r of p holds (rows
 * B*r/p .. B*(r+1)/p, io/shard.h). */
static size_t stream_rows(const tr_session *s, size_t r, size_t p)
{
    return io_shard_stream_batch(&s->shard, s->cfg.train.batch_size, 0, r, p,
                                 NULL, NULL, NULL);
}

/* Bytes of the record "stream_state": u64 B, u64 width, f32 [B, width]. */
#define STREAM_HEAD 16

/* Floats of carried state per stream when the position is mid-epoch in
 * stream mode with stateful layers, the only case with a "stream_state"
 * record to write or load; else 0. The same on every rank. */
static size_t stream_width(const tr_session *s)
{
    if (!s->cfg.data.stream || !s->step_in_epoch) return 0;
    return nn_recurrent_model_state_width(s->model);
}

/* Collective, stream mode mid-epoch (else nothing): every stream's carried
 * state, gathered to rank 0 in global row order, into meta. 0, or
 * NN_EXIT_OTHER on every rank if the gather failed on any. */
static int put_stream_state(tr_session *s, tr_meta *meta)
{
    size_t width = stream_width(s);
    if (!width) return 0;
    size_t p = (size_t)s->size, B = s->cfg.train.batch_size;
    size_t n = stream_rows(s, (size_t)s->rank, p), row = width * sizeof(float);
    float *mine = nn_xalloc_floats(n * width + 1);
    nn_recurrent_model_get_state(s->model, n, mine);
    uint8_t *rec = NULL;
    size_t *lens = NULL;
    if (s->rank == 0) {
        uint64_t head[2] = {B, width};
        rec = nn_xmalloc(STREAM_HEAD + B * row);
        memcpy(rec, head, STREAM_HEAD);
        lens = nn_xmalloc(p * sizeof *lens);
        for (size_t r = 0; r < p; r++) lens[r] = stream_rows(s, r, p) * row;
    }
    int bad = comm_gatherv_bytes(s->comm, mine, n * row,
                                 rec ? rec + STREAM_HEAD : NULL, lens, 0);
    if (s->rank == 0 && !bad)
        tr_meta_put(meta, "stream_state", rec, STREAM_HEAD + B * row);
    free(mine), free(rec), free(lens);
    int st = bad ? nn_error_set(&s->err, NN_EXIT_OTHER,
                                "checkpoint: cannot gather the streams' "
                                "carried state from the ranks")
                 : 0;
    return tr_agree(s, st);
}

int tr_save_checkpoint(tr_session *s, const char *name)
{
    if (!s->cfg.ckpt.dir) return 0;
    io_ckpt c = {
        .model_hash = nn_model_hash(s->model),
        .optim_kind = (uint32_t)s->optim->cfg.kind,
        .optim_t = s->optim->t,
        .n_params = s->model->n_params,
        .params = s->model->params,
        .n_state = s->optim->n_slots * s->optim->n,
        .state = s->optim->state,
    };
    tr_ckpt_position(s, &c);
    tr_meta meta = {0};
    tr_run_meta(s, &meta, s->model->in);
    int st = put_stream_state(s, &meta);
    c.extra = meta.buf;
    c.extra_len = meta.len;
    if (!st) st = tr_write_checkpoint(s, &c, name);
    tr_meta_free(&meta);
    return st;
}

const char *tr_resolve_resume(tr_session *s, const char *arg, char *buf,
                              size_t cap)
{
    if (strcmp(arg, "auto")) return arg;
    if (!s->cfg.ckpt.dir) return NULL;
    snprintf(buf, cap, "%s/%s", s->cfg.ckpt.dir, LAST_NAME);
    return access(buf, F_OK) == 0 ? buf : NULL;
}

/* Rank 0: read and check the file against the built model. */
static int read_checked(tr_session *s, const char *path, int resume,
                        io_ckpt *c)
{
    int st = io_ckpt_read(path, c, &s->err);
    if (st) return st;
    if (c->model_hash != nn_model_hash(s->model) ||
        c->n_params != s->model->n_params)
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: checkpoint is for a different model (%zu "
                            "parameters, architecture hash %016llx; this "
                            "config has %zu, %016llx)",
                            path, c->n_params,
                            (unsigned long long)c->model_hash,
                            s->model->n_params,
                            (unsigned long long)nn_model_hash(s->model));
    size_t want = s->optim->n_slots * s->optim->n;
    if (resume && (c->n_state != want ||
                   c->optim_kind != (uint32_t)s->optim->cfg.kind))
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: optimizer state is for '%s' (%zu values); "
                            "this config uses '%s' (%zu values)",
                            path, nn_optim_kind_name((nn_opt_kind)c->optim_kind),
                            c->n_state, nn_optim_kind_name(s->optim->cfg.kind),
                            want);
    return 0;
}

/* Collective, on a resume in stream mode mid-epoch (else nothing): this
 * rank's rows of the checkpoint's "stream_state" into s->stream_state.
 * A file without the record, or with one for another batch size or model,
 * only warns: the streams then restart from zero state. */
static int take_stream_state(tr_session *s, const io_ckpt *c,
                             const char *path)
{
    size_t width = stream_width(s);
    if (!width) return 0;
    size_t p = (size_t)s->size, B = s->cfg.train.batch_size;
    size_t bytes = B * width * sizeof(float);
    const void *v = NULL;
    size_t vlen = 0;
    uint64_t ok = 0;
    if (s->rank == 0) {
        uint64_t head[2] = {0, 0};
        int found = tr_meta_get(c->extra, c->extra_len, "stream_state", &v,
                                &vlen);
        if (found && vlen >= STREAM_HEAD) memcpy(head, v, STREAM_HEAD);
        ok = head[0] == B && head[1] == width && vlen == STREAM_HEAD + bytes;
        if (!ok)
            fprintf(stderr, "axon: warning: %s: %s; the streams restart "
                            "from zero state\n", path,
                    found ? "its carried state is for another batch size or "
                            "model"
                          : "it holds no carried state");
    }
    if (comm_bcast_bytes(s->comm, &ok, sizeof ok, 0)) return 1;
    if (!ok) return 0;
    float *all = nn_xalloc_floats(B * width);
    if (s->rank == 0) memcpy(all, (const uint8_t *)v + STREAM_HEAD, bytes);
    int bad = comm_bcast_bytes(s->comm, all, bytes, 0);
    size_t first = 0, n = stream_rows(s, (size_t)s->rank, p);
    for (size_t r = 0; r < (size_t)s->rank; r++) first += stream_rows(s, r, p);
    free(s->stream_state);
    s->stream_state = nn_xalloc_floats(n * width + 1);
    memcpy(s->stream_state, all + first * width, n * width * sizeof(float));
    free(all);
    return bad;
}

int tr_load_checkpoint(tr_session *s, const char *path, int resume)
{
    io_ckpt c = {0};
    int st = 0;
    if (s->rank == 0) st = read_checked(s, path, resume, &c);
    if ((st = tr_agree(s, st))) {
        io_ckpt_free(&c);
        return st;
    }
    if (s->rank == 0)
        memcpy(s->model->params, c.params, c.n_params * sizeof(float));
    int bad = comm_bcast_bytes(s->comm, s->model->params,
                               s->model->n_params * sizeof(float), 0);
    if (resume) {
        size_t n = s->optim->n_slots * s->optim->n;
        if (s->rank == 0 && n) memcpy(s->optim->state, c.state, n * sizeof(float));
        bad = bad || comm_bcast_bytes(s->comm, s->optim->state,
                                      n * sizeof(float), 0);
        uint64_t t = c.optim_t;
        bad = bad || comm_bcast_bytes(s->comm, &t, sizeof t, 0) ||
              tr_ckpt_restore_position(s, &c) ||
              take_stream_state(s, &c, path);
        s->optim->t = t;
    }
    io_ckpt_free(&c);
    return bad ? NN_EXIT_OTHER : 0;
}

int tr_ckpt_restore_position(tr_session *s, const io_ckpt *c)
{
    uint64_t pos[5] = {c->epoch, c->step_in_epoch, c->global_step,
                       c->best_epoch, c->bad_epochs};
    double best = c->best_metric;
    if (comm_bcast_bytes(s->comm, pos, sizeof pos, 0) ||
        comm_bcast_bytes(s->comm, &best, sizeof best, 0))
        return NN_EXIT_OTHER;
    s->epoch = pos[0];
    s->step_in_epoch = pos[1];
    s->global_step = pos[2];
    s->best_epoch = pos[3];
    s->bad_epochs = pos[4];
    s->best_metric = best;
    return 0;
}

int tr_load_best(tr_session *s)
{
    char path[4096];
    if (!s->cfg.ckpt.dir || !s->best_epoch) return 0;
    snprintf(path, sizeof path, "%s/best.ckpt", s->cfg.ckpt.dir);
    io_ckpt c = {0};
    int st = 0;
    if (s->rank == 0) st = read_checked(s, path, 0, &c);
    if ((st = tr_agree(s, st))) {
        io_ckpt_free(&c);
        return st;
    }
    if (!s->best) s->best = nn_xalloc_floats(s->model->n_params);
    if (s->rank == 0) memcpy(s->best, c.params, c.n_params * sizeof(float));
    io_ckpt_free(&c);
    return comm_bcast_bytes(s->comm, s->best,
                            s->model->n_params * sizeof(float), 0)
               ? NN_EXIT_OTHER
               : 0;
}

/* trainer/checkpoint.c - saving and restoring a run's state, for every
 * objective alike (docs/CHECKPOINT.md lists the sections).
 *
 * A checkpoint holds the run's records (config, --set overrides, input
 * shape, normalisation, vocabulary: trainer/meta.c), its position and
 * early-stopping record, the objective's name and sections, the sampler's
 * state, and per parameter group "<g>/hash", "<g>/optim" (u64 optimizer
 * kind, u64 step counter), "<g>/params" and "<g>/state" (the arenas, in
 * the deflated payload). Every rank deflates its share of the payload's
 * segments (all ranks hold the same parameters and optimizer state), rank
 * 0 gathers the parts and writes <dir>/step-NNNNNNNN.ckpt through
 * io_ckpt_write_parts (temp file, fsync, rename, directory fsync): p ranks
 * compress p times faster, and the file is the same bytes for any p. Then
 * rank 0 moves last.ckpt and drops old files (trainer/ckpt_dir.c).
 * Loading: rank 0 reads and validates the whole file, checks every
 * section against the run, every rank learns the verdict, and only then
 * is the state broadcast - never a partly loaded run.
 *
 * Random state: every generator in a run is counter-based on (seed, epoch,
 * step, sample id), and the seed is in the saved config, so the position
 * (epoch, step_in_epoch, global_step) restores all of it.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/ckpt.h"
#include "io/file.h"
#include "nn/check.h"
#include "trainer/objective.h"
#include "trainer/sampler.h"

/* Payloads up to this many raw bytes are deflated by all ranks together;
 * larger ones by rank 0 alone, since MPI counts the gathered bytes in an
 * int (deflate expands incompressible data by well under 1%). */
#define SHARED_DEFLATE_MAX ((size_t)INT_MAX / 2)

/* Rank 0: write c, with its payload deflated in parts[0, n_parts), as
 * <dir>/<fixed>, or (fixed == NULL) as the next <dir>/step-N.ckpt, then
 * move last.ckpt and prune. */
static int write_file(tr_run *r, const char *dir, const char *fixed,
                      const io_ckpt *c, const io_ckpt_part *parts,
                      size_t n_parts)
{
    tr_session *s = r->s;
    /* Never replace a good checkpoint with a diverged model. */
    for (size_t g = 0; g < r->n_groups; g++) {
        const nn_model *m = r->groups[g]->model;
        for (size_t i = 0; i < m->n_params; i++)
            if (!isfinite(m->params[i]))
                return nn_error_set(&s->err, NN_EXIT_DIVERGED,
                                    "%s: not writing a checkpoint: %s "
                                    "parameter %zu is not finite",
                                    dir, r->groups[g]->name, i);
    }
    int e = io_mkdirs(dir);
    if (e)
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: cannot create checkpoint directory: %s", dir,
                            strerror(e));
    char name[64], path[4096];
    snprintf(name, sizeof name, "%s", fixed ? fixed : "");
    if (!fixed)
        snprintf(name, sizeof name, "step-%08llu.ckpt",
                 (unsigned long long)r->global_step);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int st = io_ckpt_write_parts(path, c, parts, n_parts, &s->err);
    if (!st && !fixed)
        st = tr_ckpt_dir_commit(dir, name, s->cfg.ckpt.keep_last, &s->err);
    return st;
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
    if (io_ckpt_payload_bytes(c) > SHARED_DEFLATE_MAX) {
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

/* Section name "<group>/<what>" in buf. */
static const char *gname(const tr_group *g, const char *what, char *buf,
                         size_t cap)
{
    snprintf(buf, cap, "%s/%s", g->name, what);
    return buf;
}

/* The sections of one run; small records live in `scratch` until the
 * write. Every rank builds the same payload. */
typedef struct save_scratch {
    uint64_t run[4], early[3], shape[1 + NN_MAX_DIMS];
    uint64_t hash[TR_MAX_GROUPS], optim[TR_MAX_GROUPS][2];
    char names[TR_MAX_GROUPS][4][IO_CKPT_NAME_MAX + 1];
    char *overrides;
} save_scratch;

static void build(tr_run *r, io_ckpt *c, save_scratch *x)
{
    tr_session *s = r->s;
    memset(c, 0, sizeof *c);
    io_ckpt_add(c, "objective", r->obj_ops->name, strlen(r->obj_ops->name), 0);
    x->run[0] = r->epoch, x->run[1] = r->step_in_epoch;
    x->run[2] = r->global_step, x->run[3] = (uint64_t)s->size;
    io_ckpt_add(c, "run", x->run, sizeof x->run, 0);
    memcpy(&x->early[0], &r->best_metric, 8);
    x->early[1] = r->best_epoch, x->early[2] = r->bad_epochs;
    io_ckpt_add(c, "early_stop", x->early, sizeof x->early, 0);
    nn_shape in = r->obj_ops->input_shape(r, r->obj);
    x->shape[0] = in.ndim;
    for (size_t i = 0; i < in.ndim; i++) x->shape[1 + i] = in.dim[i];
    tr_ckpt_add_meta(s, c, x->shape, (1 + in.ndim) * sizeof(uint64_t));
    size_t len = 0;
    for (size_t i = 0; i < s->opt->n_sets; i++) len += strlen(s->opt->sets[i]) + 1;
    x->overrides = nn_xmalloc(len + 1);
    for (size_t i = 0, at = 0; i < s->opt->n_sets; i++) {
        size_t n = strlen(s->opt->sets[i]) + 1;
        memcpy(x->overrides + at, s->opt->sets[i], n);
        at += n;
    }
    if (len) io_ckpt_add(c, "overrides", x->overrides, len, 0);
    for (size_t g = 0; g < r->n_groups; g++) {
        const tr_group *gr = r->groups[g];
        x->hash[g] = nn_model_hash(gr->model);
        x->optim[g][0] = (uint64_t)gr->optim->cfg.kind;
        x->optim[g][1] = gr->optim->t;
        io_ckpt_add(c, gname(gr, "hash", x->names[g][0], IO_CKPT_NAME_MAX + 1),
                    &x->hash[g], 8, 0);
        io_ckpt_add(c, gname(gr, "optim", x->names[g][1], IO_CKPT_NAME_MAX + 1),
                    x->optim[g], 16, 0);
        io_ckpt_add(c, gname(gr, "params", x->names[g][2], IO_CKPT_NAME_MAX + 1),
                    gr->model->params, gr->model->n_params * sizeof(float), 1);
        io_ckpt_add(c, gname(gr, "state", x->names[g][3], IO_CKPT_NAME_MAX + 1),
                    gr->optim->state,
                    gr->optim->n_slots * gr->optim->n * sizeof(float), 1);
    }
    if (r->obj_ops->save) r->obj_ops->save(r, r->obj, c);
}

int tr_save(tr_run *r, const char *name)
{
    tr_session *s = r->s;
    const char *dir = s->cfg.ckpt.dir;
    if (!dir) return 0;
    io_ckpt c;
    save_scratch x;
    build(r, &c, &x);
    void *keep = NULL;
    int st = r->sampler.ops->save ? r->sampler.ops->save(r, &c, &keep) : 0;
    io_ckpt_part *parts = NULL;
    size_t n_parts = 0;
    uint8_t *buf = NULL;
    if (!st) {
        if (deflate_shared(s, &c, &parts, &n_parts, &buf))
            st = nn_error_set(&s->err, NN_EXIT_OTHER,
                              "%s: cannot gather the checkpoint from the "
                              "ranks", dir);
        else if (s->rank == 0)
            st = write_file(r, dir, name, &c, parts, n_parts);
        st = save_verdict(s, st);
    }
    free(parts);
    free(buf);
    free(keep);
    free(x.overrides);
    return st;
}

/* Rank 0: group g's sections in c checked against the run (params and,
 * for a resume, optimizer state); *p and *st point at the arenas. */
static int check_group(tr_run *r, const tr_group *g, io_ckpt *c,
                       const char *path, int resume, const void **p,
                       const void **st, uint64_t *t)
{
    tr_session *s = r->s;
    char n[IO_CKPT_NAME_MAX + 1];
    const void *v;
    uint64_t hash, optim[2];
    size_t np = g->model->n_params, ns = g->optim->n_slots * g->optim->n;
    int rc = io_ckpt_need(c, path, gname(g, "hash", n, sizeof n), 8, &v, NULL,
                          &s->err);
    if (rc) return rc;
    memcpy(&hash, v, 8);
    if (hash != nn_model_hash(g->model))
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: checkpoint is for a different model (group "
                            "'%s': architecture hash %016llx; this config "
                            "has %zu parameters, %016llx)",
                            path, g->name, (unsigned long long)hash, np,
                            (unsigned long long)nn_model_hash(g->model));
    rc = io_ckpt_need(c, path, gname(g, "params", n, sizeof n),
                      np * sizeof(float), p, NULL, &s->err);
    if (rc || !resume) return rc;
    rc = io_ckpt_need(c, path, gname(g, "optim", n, sizeof n), 16, &v, NULL,
                      &s->err);
    if (rc) return rc;
    memcpy(optim, v, 16);
    io_ckpt_section *sec = io_ckpt_find(c, gname(g, "state", n, sizeof n));
    if (optim[0] != (uint64_t)g->optim->cfg.kind || !sec ||
        sec->len != ns * sizeof(float))
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: optimizer state is for '%s' (%zu values); "
                            "this config uses '%s' (%zu values)",
                            path,
                            optim[0] <= NN_OPT_ADAMW
                                ? nn_optim_kind_name((nn_opt_kind)optim[0])
                                : "?",
                            sec ? sec->len / sizeof(float) : 0,
                            nn_optim_kind_name(g->optim->cfg.kind), ns);
    *st = sec->data;
    *t = optim[1];
    return 0;
}

/* Rank 0: the file's objective must be this run's. */
static int check_objective(tr_run *r, io_ckpt *c, const char *path)
{
    io_ckpt_section *o = io_ckpt_find(c, "objective");
    char name[32] = "supervised"; /* format 1 and 2 files without one */
    if (o) snprintf(name, sizeof name, "%.*s", (int)(o->len < 31 ? o->len : 31),
                    (const char *)o->data);
    else if (io_ckpt_find(c, "gan_noise"))
        return nn_error_set(&r->s->err, NN_EXIT_DATA,
                            "%s: a format %u GAN checkpoint: its two networks "
                            "share one arena, which this version does not "
                            "resume; train the GAN again",
                            path, (unsigned)c->version);
    if (strcmp(name, r->obj_ops->name))
        return nn_error_set(&r->s->err, NN_EXIT_DATA,
                            "%s: section 'objective': the checkpoint is of "
                            "'%s' training, this config's is '%s'%s",
                            path, name, r->obj_ops->name,
                            !strcmp(r->obj_ops->name, "gan")
                                ? " (not a GAN checkpoint)"
                                : "");
    return 0;
}

/* Rank 0: read path and check every section against the run; the arenas
 * are copied into the groups (broadcast later). */
static int read_resume(tr_run *r, const char *path, io_ckpt *c, uint64_t *pos,
                       double *best)
{
    tr_session *s = r->s;
    const void *v;
    int st = io_ckpt_read(path, c, &s->err);
    if (!st) st = check_objective(r, c, path);
    for (size_t g = 0; !st && g < r->n_groups; g++) {
        tr_group *gr = r->groups[g];
        const void *p = NULL, *sv = NULL;
        st = check_group(r, gr, c, path, 1, &p, &sv, &pos[6 + g]);
        if (st) break;
        memcpy(gr->model->params, p, gr->model->n_params * sizeof(float));
        if (gr->optim->n_slots)
            memcpy(gr->optim->state, sv,
                   gr->optim->n_slots * gr->optim->n * sizeof(float));
    }
    if (!st) st = io_ckpt_need(c, path, "run", 32, &v, NULL, &s->err);
    if (!st) memcpy(pos, v, 32);
    if (!st) st = io_ckpt_need(c, path, "early_stop", 24, &v, NULL, &s->err);
    if (!st) {
        memcpy(best, v, 8);
        memcpy(&pos[4], (const char *)v + 8, 16);
    }
    if (!st && r->obj_ops->load) st = r->obj_ops->load(r, r->obj, c, path);
    /* what the model's users read, not the resume */
    static const char *const meta[] = {"config", "overrides", "input_shape",
                                       "norm_mean", "norm_std", "vocab"};
    for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
        io_ckpt_find(c, meta[i]);
    return st;
}

int tr_resume(tr_run *r, const char *path)
{
    tr_session *s = r->s;
    io_ckpt c = {0};
    /* epoch, step, global step, world, best epoch, bad epochs, t per group */
    uint64_t pos[6 + TR_MAX_GROUPS] = {0};
    double best = 0;
    int st = s->rank == 0 ? read_resume(r, path, &c, pos, &best) : 0;
    if ((st = tr_agree(s, st))) {
        io_ckpt_free(&c);
        return st;
    }
    int bad = comm_bcast_bytes(s->comm, pos, sizeof pos, 0) ||
              comm_bcast_bytes(s->comm, &best, sizeof best, 0);
    for (size_t g = 0; !bad && g < r->n_groups; g++) {
        tr_group *gr = r->groups[g];
        bad = comm_bcast_bytes(s->comm, gr->model->params,
                               gr->model->n_params * sizeof(float), 0) ||
              comm_bcast_bytes(s->comm, gr->optim->state,
                               gr->optim->n_slots * gr->optim->n * sizeof(float),
                               0);
        gr->optim->t = pos[6 + g];
    }
    r->epoch = pos[0], r->step_in_epoch = pos[1], r->global_step = pos[2];
    r->best_epoch = pos[4], r->bad_epochs = pos[5], r->best_metric = best;
    if (!bad && r->sampler.ops->load) bad = r->sampler.ops->load(r, &c, path);
    st = bad ? NN_EXIT_OTHER : 0;
    /* every section must have been understood by someone */
    if (!st && s->rank == 0) st = io_ckpt_unused(&c, path, &s->err);
    io_ckpt_free(&c);
    return tr_agree(s, st);
}

/* A best.ckpt found beside the resumed checkpoint is written into this
 * run's checkpoint.dir too, so that the new directory alone resumes. */
static int copy_best(tr_run *r)
{
    int st = 0;
    float *now[TR_MAX_GROUPS];
    for (size_t g = 0; g < r->n_groups; g++) {
        nn_model *m = r->groups[g]->model;
        now[g] = nn_xalloc_floats(m->n_params + 1);
        memcpy(now[g], m->params, m->n_params * sizeof(float));
        memcpy(m->params, r->best[g], m->n_params * sizeof(float));
    }
    st = tr_save(r, "best.ckpt");
    for (size_t g = 0; g < r->n_groups; g++) {
        nn_model *m = r->groups[g]->model;
        memcpy(m->params, now[g], m->n_params * sizeof(float));
        free(now[g]);
    }
    return st;
}

int tr_load_best(tr_run *r)
{
    tr_session *s = r->s;
    char path[4096];
    if (!r->best_epoch) return 0;
    int st = s->rank == 0 ? tr_best_path(r, path, sizeof path) : 0;
    uint64_t elsewhere = 0;
    if (!st && s->rank == 0 && s->cfg.ckpt.dir) {
        char mine[4096];
        snprintf(mine, sizeof mine, "%s/best.ckpt", s->cfg.ckpt.dir);
        elsewhere = strcmp(mine, path) != 0;
    }
    io_ckpt c = {0};
    if (!st && s->rank == 0) st = io_ckpt_read(path, &c, &s->err);
    if (!r->best) r->best = nn_xcalloc(TR_MAX_GROUPS, sizeof *r->best);
    for (size_t g = 0; g < r->n_groups; g++) {
        tr_group *gr = r->groups[g];
        const void *p = NULL, *sv = NULL;
        uint64_t t;
        if (!st && s->rank == 0) st = check_group(r, gr, &c, path, 0, &p, &sv, &t);
        if (!r->best[g]) r->best[g] = nn_xalloc_floats(gr->model->n_params + 1);
        if (!st && s->rank == 0)
            memcpy(r->best[g], p, gr->model->n_params * sizeof(float));
    }
    io_ckpt_free(&c);
    if ((st = tr_agree(s, st))) return st;
    for (size_t g = 0; g < r->n_groups; g++)
        if (comm_bcast_bytes(s->comm, r->best[g],
                             r->groups[g]->model->n_params * sizeof(float), 0))
            return NN_EXIT_OTHER;
    if (comm_bcast_bytes(s->comm, &elsewhere, sizeof elsewhere, 0))
        return NN_EXIT_OTHER;
    return elsewhere ? copy_best(r) : 0;
}

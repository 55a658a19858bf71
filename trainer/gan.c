/* trainer/gan.c - GAN training and sampling (see trainer/gan.h). */
#include "trainer/gan.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/png.h"
#include "nn/check.h"
#include "trainer/meta.h"
#include "trainer/report.h"

#define GAN_NOISE_SALT 0x67616e6e6f697365ULL /* "gannoise" */
#define GRID 8                               /* sample: GRID x GRID images */
#define GAP 2                                /* pixels between them */
#define GAP_VALUE 128                        /* gray */

/* One of the two networks and what trains it. */
typedef struct gan_net {
    nn_model *m;
    nn_optim *opt;
    tr_gradsync sync;
    double lr_scale;   /* its learning rate / training.lr */
    float *keep;       /* saved NN_PARAM_BUFFER values (running statistics) */
    size_t n_keep;
} gan_net;

struct tr_gan {
    gan_net g, d;
    size_t noise;      /* values of z */
    size_t img;        /* values of one sample */
    size_t cap;        /* rows of the buffers below */
    float *real;       /* [cap, img] this rank's rows of the batch */
    float *z;          /* [cap, noise] */
    float *dlogit;     /* [cap] gradient at D's output */
    float *dimg;       /* [cap, img] gradient at D's input = G's output */
    float *ones, *zeros; /* [cap] bce targets */
    size_t *local;     /* [cap] local row indices of the batch */
    uint64_t *ids;     /* [cap] their global ids */
    char half;         /* testing hook: 'd' or 'g' = only that half-step */
};

/* Per-step (and summed: per-epoch) figures, global over ranks. */
typedef struct gan_stats {
    double d_real_loss, d_fake_loss; /* bce sums of D's two terms */
    double d_real, d_fake;           /* sums of sigmoid(D(.)) */
    double d_rows;                   /* real rows (= fake rows) in D steps */
    double g_loss, g_rows;           /* bce sum of G's term, its rows */
} gan_stats;

/* ---- set-up --------------------------------------------------------- */

/* Errors from the layers name the config file and line; the prefix says
 * which network. */
static int make_net(tr_session *s, gan_net *net, const char *name,
                    const io_layers *l, nn_shape in)
{
    int st = nn_model_create(&net->m, l->specs, l->n, in, &s->err);
    if (st) nn_error_prefix(&s->err, "gan.%s: ", name);
    return st;
}

/* G must make samples of the data's size; D must give one logit each.
 * Errors point at the network's last layer. */
static int check_shapes(tr_session *s, tr_gan *g)
{
    const io_gan_cfg *c = &s->cfg.gan;
    char buf[64];
    size_t out = nn_shape_size(nn_model_out_shape(g->g.m));
    if (out != g->img)
        return nn_spec_error(&c->generator.specs[c->generator.n - 1], NULL,
                             &s->err,
                             "the generator makes %zu values per sample; the "
                             "data's samples have %zu (%s)",
                             out, g->img,
                             nn_shape_str(s->train.x_shape, buf, sizeof buf));
    out = nn_shape_size(nn_model_out_shape(g->d.m));
    if (out != 1)
        return nn_spec_error(&c->discriminator.specs[c->discriminator.n - 1],
                             NULL, &s->err,
                             "the discriminator must end with one logit per "
                             "sample, not %zu values",
                             out);
    return 0;
}

/* What a GAN run does not support, named in one place. */
static int refuse(tr_session *s)
{
    const io_train_cfg *t = &s->cfg.train;
    const char *what = strcmp(s->opt->command, "train") ? s->opt->command
                       : t->accumulate > 1              ? "training.accumulate"
                       : t->clip_norm > 0               ? "training.clip_norm"
                       : NULL;
    if (!what) return 0;
    if (strcmp(s->opt->command, "train"))
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: a GAN config is trained with `axon train`; "
                            "`axon %s` does not apply (generate images with "
                            "`axon sample --checkpoint PATH --out grid.png`)",
                            s->opt->config, what);
    return nn_error_set(&s->err, NN_EXIT_USAGE,
                        "%s: %s is not supported for a GAN", s->opt->config,
                        what);
}

/* Where the network's running statistics are, in arena order. */
static void plan_keep(gan_net *net)
{
    for (size_t i = 0; i < net->m->n_segs; i++)
        if (net->m->segs[i].flags & NN_PARAM_BUFFER)
            net->n_keep += net->m->segs[i].count;
    net->keep = net->n_keep ? nn_xalloc_floats(net->n_keep) : NULL;
}

/* restore = 0: save the buffers into keep; 1: put them back. */
static void buffers(gan_net *net, int restore)
{
    size_t at = 0;
    for (size_t i = 0; net->n_keep && i < net->m->n_segs; i++) {
        const nn_segment *sg = &net->m->segs[i];
        if (!(sg->flags & NN_PARAM_BUFFER)) continue;
        float *p = net->m->params + sg->offset;
        if (restore)
            memcpy(p, net->keep + at, sg->count * sizeof *p);
        else
            memcpy(net->keep + at, p, sg->count * sizeof *p);
        at += sg->count;
    }
}

static int finish_net(tr_session *s, gan_net *net, double lr)
{
    if (comm_bcast_bytes(s->comm, net->m->params,
                         net->m->n_params * sizeof(float), 0))
        return NN_EXIT_OTHER;
    net->opt = nn_optim_create(&s->cfg.optim, net->m->n_params, net->m->segs,
                               net->m->n_segs);
    tr_gradsync_plan(&net->sync, net->m);
    net->lr_scale = lr > 0 ? lr / s->cfg.train.lr : 1.0;
    plan_keep(net);
    return 0;
}

int tr_gan_build(tr_session *s)
{
    const io_gan_cfg *c = &s->cfg.gan;
    tr_gan *g = nn_xcalloc(1, sizeof *g);
    s->gan = g;
    g->noise = c->noise;
    g->img = s->train.x_width;
    int st = refuse(s);
    if (!st)
        st = make_net(s, &g->g, "generator", &c->generator,
                      nn_shape_1d(g->noise));
    if (!st)
        st = make_net(s, &g->d, "discriminator", &c->discriminator,
                      s->train.x_shape);
    if (!st) st = check_shapes(s, g);
    if ((st = tr_agree(s, st))) return st;
    /* rank 0 initialises, with a seed per network, and broadcasts */
    uint64_t seed = s->cfg.train.seed;
    if (s->rank == 0) {
        nn_model_init(g->g.m, nn_hash64(seed, 'G', 0));
        nn_model_init(g->d.m, nn_hash64(seed, 'D', 0));
    }
    if (finish_net(s, &g->g, c->generator_lr) ||
        finish_net(s, &g->d, c->discriminator_lr))
        return NN_EXIT_OTHER;
    return 0;
}

static void free_net(gan_net *net)
{
    if (net->opt) nn_optim_destroy(net->opt);
    tr_gradsync_free(&net->sync);
    if (net->m) nn_model_destroy(net->m);
    free(net->keep);
}

static void free_buffers(tr_gan *g)
{
    free(g->real);
    free(g->z);
    free(g->dlogit);
    free(g->dimg);
    free(g->ones);
    free(g->zeros);
    free(g->local);
    free(g->ids);
}

void tr_gan_free(tr_gan *g)
{
    if (!g) return;
    free_net(&g->g);
    free_net(&g->d);
    free_buffers(g);
    free(g);
}

/* Room for batches of `rows` rows (at least 1). */
static void reserve(tr_gan *g, size_t rows)
{
    if (rows < 1) rows = 1;
    if (rows <= g->cap) return;
    free_buffers(g);
    g->real = nn_xalloc_floats(rows * g->img);
    g->z = nn_xalloc_floats(rows * g->noise);
    g->dlogit = nn_xalloc_floats(rows);
    g->dimg = nn_xalloc_floats(rows * g->img);
    g->ones = nn_xalloc_floats(rows);
    g->zeros = nn_xalloc_floats(rows);
    for (size_t i = 0; i < rows; i++) {
        g->ones[i] = 1.0f;
        g->zeros[i] = 0.0f;
    }
    g->local = nn_xcalloc(rows, sizeof *g->local);
    g->ids = nn_xcalloc(rows, sizeof *g->ids);
    nn_model_reserve(g->g.m, rows);
    nn_model_reserve(g->d.m, rows);
    g->cap = rows;
}

/* ---- one step -------------------------------------------------------- */

static void draw_noise(nn_rng *r, float *z, size_t count)
{
    for (size_t i = 0; i < count; i++) z[i] = (float)nn_rng_normal(r);
}

static double sum_sigmoid(const float *logit, size_t n)
{
    double t = 0;
    for (size_t i = 0; i < n; i++) t += 1.0 / (1.0 + exp(-(double)logit[i]));
    return t;
}

/* D(x) on `n` rows against `target`, backward into D's gradient arena
 * (arming the gradient sync first when `last`). Adds the bce sum and the
 * sum of sigmoid(D(x)) to *loss and *prob. */
static void d_term(tr_session *s, const float *x, size_t n, size_t global,
                   const float *target, const nn_pass *pass, int last,
                   double *loss, double *prob)
{
    tr_gan *g = s->gan;
    if (last) tr_gradsync_begin(&g->d.sync, s->comm, g->d.m);
    if (!n) return;
    const float *y = nn_model_forward(g->d.m, x, n, pass);
    nn_loss_stats ls = {0};
    s->loss->eval(y, target, n, 1, 1.0f / (float)global, g->dlogit, &ls);
    *loss += ls.sum;
    *prob += sum_sigmoid(y, n);
    nn_model_backward(g->d.m, x, g->dlogit, n);
}

/* Sum a half-step's figures v[0, n) across ranks; the first n_loss are
 * loss sums. A non-finite total stops every rank alike, before the
 * update (rank 0 says so). */
static int agree_finite(tr_session *s, double *v, size_t n, size_t n_loss,
                        const char *which)
{
    if (comm_allreduce_sum_d(s->comm, v, n))
        return nn_error_set(&s->err, NN_EXIT_OTHER, "allreduce failed");
    double loss = 0;
    for (size_t i = 0; i < n_loss; i++) loss += v[i];
    if (isfinite(loss)) return 0;
    nn_error_set(&s->err, NN_EXIT_DIVERGED,
                 "GAN training diverged at step %llu (epoch %llu): the %s "
                 "loss is %g; no update was applied",
                 (unsigned long long)s->global_step + 1,
                 (unsigned long long)s->epoch + 1, which, loss);
    if (s->rank == 0) fprintf(stderr, "axon: error: %s\n", s->err.msg);
    return NN_EXIT_DIVERGED;
}

static float net_lr(const tr_session *s, const gan_net *net)
{
    return (float)(nn_schedule_lr(&s->sched, s->global_step) * net->lr_scale);
}

/* The discriminator's update: real rows against 1, as many fakes (G in
 * training mode, its running statistics restored) against 0. */
static int d_half(tr_session *s, size_t n, size_t global, nn_rng *rng,
                  gan_stats *st)
{
    tr_gan *g = s->gan;
    nn_pass real = {.training = 1, .seed = s->cfg.train.seed,
                    .step = s->global_step, .ids = g->ids};
    nn_pass fake = {.training = 1, .seed = s->cfg.train.seed,
                    .step = s->global_step, .ids = NULL};
    double v[5] = {0, 0, 0, 0, (double)n};
    nn_model_zero_grad(g->d.m);
    d_term(s, g->real, n, global, g->ones, &real, 0, &v[0], &v[2]);
    draw_noise(rng, g->z, n * g->noise);
    const float *x = g->z;
    if (n) {
        buffers(&g->g, 0);
        x = nn_model_forward(g->g.m, g->z, n, &fake);
        buffers(&g->g, 1);
    }
    d_term(s, x, n, global, g->zeros, &fake, 1, &v[1], &v[3]);
    if (tr_gradsync_run(&g->d.sync, s->comm, g->d.m))
        return nn_error_set(&s->err, NN_EXIT_OTHER, "allreduce failed");
    int rc = agree_finite(s, v, 5, 2, "discriminator");
    if (!rc) rc = tr_average_buffers(s, g->d.m);
    if (rc) return rc;
    nn_optim_step(g->d.opt, g->d.m->params, g->d.m->grads, net_lr(s, &g->d));
    st->d_real_loss = v[0];
    st->d_fake_loss = v[1];
    st->d_real = v[2];
    st->d_fake = v[3];
    st->d_rows = v[4];
    return 0;
}

/* The generator's update: fresh fakes scored by D against 1, the
 * gradient carried through D (running statistics restored; its parameter
 * gradients are scratch) to D's input and on through G. */
static int g_half(tr_session *s, size_t n, size_t global, nn_rng *rng,
                  gan_stats *st)
{
    tr_gan *g = s->gan;
    nn_pass pass = {.training = 1, .seed = s->cfg.train.seed,
                    .step = s->global_step, .ids = NULL};
    double v[2] = {0, (double)n};
    nn_model_zero_grad(g->g.m);
    draw_noise(rng, g->z, n * g->noise);
    if (n) {
        const float *x = nn_model_forward(g->g.m, g->z, n, &pass);
        buffers(&g->d, 0);
        const float *y = nn_model_forward(g->d.m, x, n, &pass);
        nn_loss_stats ls = {0};
        s->loss->eval(y, g->ones, n, 1, 1.0f / (float)global, g->dlogit, &ls);
        v[0] = ls.sum;
        nn_model_backward_input(g->d.m, x, g->dlogit, n, g->dimg);
        buffers(&g->d, 1);
    }
    tr_gradsync_begin(&g->g.sync, s->comm, g->g.m);
    if (n) nn_model_backward(g->g.m, g->z, g->dimg, n);
    if (tr_gradsync_run(&g->g.sync, s->comm, g->g.m))
        return nn_error_set(&s->err, NN_EXIT_OTHER, "allreduce failed");
    int rc = agree_finite(s, v, 2, 1, "generator");
    if (!rc) rc = tr_average_buffers(s, g->g.m);
    if (rc) return rc;
    nn_optim_step(g->g.opt, g->g.m->params, g->g.m->grads, net_lr(s, &g->g));
    st->g_loss = v[0];
    st->g_rows = v[1];
    return 0;
}

/* Global batch `step` of the epoch: both half-steps (or the one the
 * testing hook names). */
static int gan_step(tr_session *s, size_t step, gan_stats *st)
{
    tr_gan *g = s->gan;
    size_t global = 0;
    comm_set_step(s->comm, s->global_step + 1); /* for timeouts */
    size_t n = io_shard_batch(&s->shard, s->cfg.train.batch_size, step,
                              g->local, g->ids, &global);
    for (size_t k = 0; k < n; k++)
        memcpy(g->real + k * g->img, s->train.x + g->local[k] * g->img,
               g->img * sizeof(float));
    nn_rng rng;
    nn_rng_seed(&rng, nn_hash64(s->cfg.train.seed ^ GAN_NOISE_SALT,
                                s->global_step, (uint64_t)s->rank));
    memset(st, 0, sizeof *st);
    int rc = 0;
    if (g->half != 'g') rc = d_half(s, n, global, &rng, st);
    if (!rc && g->half != 'd') rc = g_half(s, n, global, &rng, st);
    if (!rc) s->global_step++;
    return rc;
}

/* ---- reporting ------------------------------------------------------- */

static void stats_add(gan_stats *a, const gan_stats *b)
{
    a->d_real_loss += b->d_real_loss;
    a->d_fake_loss += b->d_fake_loss;
    a->d_real += b->d_real;
    a->d_fake += b->d_fake;
    a->d_rows += b->d_rows;
    a->g_loss += b->g_loss;
    a->g_rows += b->g_rows;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

/* "d_loss 1.2345  g_loss 0.9876  D(x) 0.612  D(G(z)) 0.345" */
static void stats_text(const gan_stats *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "d_loss %.4f  g_loss %.4f  D(x) %.3f  D(G(z)) %.3f",
             ratio(t->d_real_loss + t->d_fake_loss, t->d_rows),
             ratio(t->g_loss, t->g_rows), ratio(t->d_real, t->d_rows),
             ratio(t->d_fake, t->d_rows));
}

static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.9g", key, v);
    else
        fprintf(f, ",\"%s\":null", key); /* JSON has no NaN */
}

/* The epoch's JSON line: d_loss = mean over real rows of the two bce
 * terms together, g_loss = mean bce of the generator's term, d_real and
 * d_fake = mean sigmoid(D(.)) on real rows and on fakes (D step). */
static void metrics_epoch(tr_session *s, const gan_stats *t, double sps)
{
    FILE *f = s->metrics;
    if (!f) return;
    int had_error = ferror(f);
    tr_gan *g = s->gan;
    fprintf(f, "{\"epoch\":%llu,\"step\":%llu",
            (unsigned long long)s->epoch + 1,
            (unsigned long long)s->global_step);
    json_num(f, "generator_lr", net_lr(s, &g->g));
    json_num(f, "discriminator_lr", net_lr(s, &g->d));
    json_num(f, "d_loss", ratio(t->d_real_loss + t->d_fake_loss, t->d_rows));
    json_num(f, "d_loss_real", ratio(t->d_real_loss, t->d_rows));
    json_num(f, "d_loss_fake", ratio(t->d_fake_loss, t->d_rows));
    json_num(f, "g_loss", ratio(t->g_loss, t->g_rows));
    json_num(f, "d_real", ratio(t->d_real, t->d_rows));
    json_num(f, "d_fake", ratio(t->d_fake, t->d_rows));
    json_num(f, "samples_per_sec", sps);
    json_num(f, "elapsed", comm_wtime() - s->t0);
    fprintf(f, ",\"ranks\":%d}\n", s->size);
    tr_metrics_flush(s, had_error);
}

static void progress(tr_session *s, size_t k, size_t steps, const gan_stats *w,
                     double sps, double eta)
{
    char text[160];
    stats_text(w, text, sizeof text);
    if (!isfinite(eta) || eta < 0) eta = 0;
    unsigned long e = (unsigned long)(eta + 0.5);
    tr_say(s, "epoch %llu/%zu  step %zu/%zu  %s  %.0f samples/s  ETA %lum%02lus\n",
           (unsigned long long)s->epoch + 1, s->cfg.train.epochs, k, steps, text,
           sps, e / 60, e % 60);
}

/* ---- checkpoints ----------------------------------------------------- */

static uint64_t gan_hash(const tr_gan *g)
{
    uint64_t h[3] = {nn_model_hash(g->g.m), nn_model_hash(g->d.m), g->noise};
    return nn_fnv1a(h, sizeof h, nn_fnv1a("gan", 3, NN_FNV_INIT));
}

static size_t n_state(const gan_net *net)
{
    return net->opt->n_slots * net->opt->n;
}

/* The run as a checkpoint (the same arenas on every rank); *params and
 * *state are the concatenated arenas (malloc'ed), meta the extra records. */
static void build_ckpt(tr_session *s, io_ckpt *c, tr_meta *meta)
{
    tr_gan *g = s->gan;
    size_t pg = g->g.m->n_params, pd = g->d.m->n_params;
    size_t sg = n_state(&g->g), sd = n_state(&g->d);
    float *p = nn_xalloc_floats(pg + pd + 1);
    float *st = nn_xalloc_floats(sg + sd + 1);
    memcpy(p, g->g.m->params, pg * sizeof *p);
    memcpy(p + pg, g->d.m->params, pd * sizeof *p);
    if (sg) memcpy(st, g->g.opt->state, sg * sizeof *st);
    if (sd) memcpy(st + sg, g->d.opt->state, sd * sizeof *st);
    tr_ckpt_position(s, c);
    c->model_hash = gan_hash(g);
    c->optim_kind = (uint32_t)s->cfg.optim.kind;
    c->optim_t = g->d.opt->t;
    c->n_params = pg + pd;
    c->params = p;
    c->n_state = sg + sd;
    c->state = st;
    uint64_t noise = g->noise, sizes[2] = {pg, pd};
    uint64_t t[2] = {g->g.opt->t, g->d.opt->t};
    tr_run_meta(s, meta, s->train.x_shape);
    tr_meta_put(meta, "gan_noise", &noise, sizeof noise);
    tr_meta_put(meta, "gan_sizes", sizes, sizeof sizes);
    tr_meta_put(meta, "gan_optim_t", t, sizeof t);
    c->extra = meta->buf;
    c->extra_len = meta->len;
}

/* Collective: save both networks (name as for tr_save_checkpoint). */
static int gan_save(tr_session *s, const char *name)
{
    if (!s->cfg.ckpt.dir) return 0;
    io_ckpt c = {0};
    tr_meta meta = {0};
    build_ckpt(s, &c, &meta);
    int st = tr_write_checkpoint(s, &c, name);
    free(c.params);
    free(c.state);
    tr_meta_free(&meta);
    return st;
}

int tr_ckpt_is_gan(const io_ckpt *c)
{
    const void *v;
    size_t n;
    return tr_meta_get(c->extra, c->extra_len, "gan_noise", &v, &n) && n == 8;
}

/* Rank 0: c must be this run's GAN, with state for this optimizer. */
static int check_resume(tr_session *s, const char *path, const io_ckpt *c,
                        uint64_t t[2])
{
    tr_gan *g = s->gan;
    const void *v;
    size_t n;
    size_t want = n_state(&g->g) + n_state(&g->d);
    if (!tr_ckpt_is_gan(c))
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: not a GAN checkpoint", path);
    if (c->model_hash != gan_hash(g) ||
        c->n_params != g->g.m->n_params + g->d.m->n_params)
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: checkpoint is for different networks (%zu "
                            "parameters, hash %016llx; this config has %zu, "
                            "%016llx)",
                            path, c->n_params, (unsigned long long)c->model_hash,
                            g->g.m->n_params + g->d.m->n_params,
                            (unsigned long long)gan_hash(g));
    if (c->n_state != want || c->optim_kind != (uint32_t)s->cfg.optim.kind)
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: optimizer state is for '%s' (%zu values); "
                            "this config uses '%s' (%zu values)",
                            path, nn_optim_kind_name((nn_opt_kind)c->optim_kind),
                            c->n_state, nn_optim_kind_name(s->cfg.optim.kind),
                            want);
    if (!tr_meta_get(c->extra, c->extra_len, "gan_optim_t", &v, &n) ||
        n != 2 * sizeof(uint64_t))
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: no optimizer step counters for the GAN", path);
    memcpy(t, v, n);
    return 0;
}

/* Broadcast one network's arenas from rank 0's copy in c at the offsets. */
static int load_net(tr_session *s, gan_net *net, const io_ckpt *c,
                    size_t p_off, size_t s_off, uint64_t t)
{
    size_t np = net->m->n_params, ns = n_state(net);
    if (s->rank == 0) {
        memcpy(net->m->params, c->params + p_off, np * sizeof(float));
        if (ns) memcpy(net->opt->state, c->state + s_off, ns * sizeof(float));
    }
    net->opt->t = t;
    return comm_bcast_bytes(s->comm, net->m->params, np * sizeof(float), 0) ||
           comm_bcast_bytes(s->comm, net->opt->state, ns * sizeof(float), 0);
}

static int gan_resume(tr_session *s, const char *path)
{
    tr_gan *g = s->gan;
    io_ckpt c = {0};
    uint64_t t[2] = {0, 0};
    int st = 0;
    if (s->rank == 0) {
        st = io_ckpt_read(path, &c, &s->err);
        if (!st) st = check_resume(s, path, &c, t);
    }
    if ((st = tr_agree(s, st))) {
        io_ckpt_free(&c);
        return st;
    }
    int bad = comm_bcast_bytes(s->comm, t, sizeof t, 0);
    bad = bad || load_net(s, &g->g, &c, 0, 0, t[0]);
    bad = bad || load_net(s, &g->d, &c, g->g.m->n_params, n_state(&g->g), t[1]);
    bad = bad || tr_ckpt_restore_position(s, &c);
    io_ckpt_free(&c);
    return bad ? NN_EXIT_OTHER : 0;
}

/* ---- the loop -------------------------------------------------------- */

static void banner(tr_session *s, size_t steps)
{
    tr_gan *g = s->gan;
    if (s->rank == 0 && !s->opt->quiet) {
        printf("generator (z: %zu values):\n", g->noise);
        nn_model_summary(g->g.m, stdout);
        printf("discriminator:\n");
        nn_model_summary(g->d.m, stdout);
    }
    tr_say(s, "data: %zu training rows (labels unused); global batch %zu = "
              "%zu steps/epoch, each a discriminator and a generator update\n",
           s->shard.n_train, s->cfg.train.batch_size, steps);
}

/* Save at the end of an epoch, as the next epoch's start (like the
 * supervised loop), when checkpoint.every_epochs says so. */
static int epoch_checkpoint(tr_session *s)
{
    size_t every = s->cfg.ckpt.every_epochs, max = s->cfg.train.max_steps;
    if (!every || (s->epoch + 1) % every || s->epoch + 1 == s->cfg.train.epochs ||
        (max && s->global_step >= max)) /* the final save follows */
        return 0;
    s->epoch++;
    s->step_in_epoch = 0;
    int st = gan_save(s, NULL);
    s->epoch--;
    return st;
}

/* One epoch from s->step_in_epoch; *done = 1 when it completed. */
static int run_epoch(tr_session *s, size_t steps, int *done)
{
    const io_train_cfg *tc = &s->cfg.train;
    gan_stats ep = {0}, win = {0};
    double te = comm_wtime(), tw = te;
    size_t first = s->step_in_epoch;
    int st = 0;
    *done = 0;
    for (size_t k = first; k < steps; k++) {
        gan_stats one;
        st = gan_step(s, k, &one);
        if (st == NN_EXIT_DIVERGED) return st; /* decided collectively */
        if ((st = tr_agree(s, st))) return st;
        s->step_in_epoch = k + 1;
        stats_add(&ep, &one);
        stats_add(&win, &one);
        size_t pe = s->cfg.log.print_every;
        if (pe && (k + 1) % pe == 0) {
            double now = comm_wtime();
            double per = (now - te) / (double)(k + 1 - first);
            double left = (double)(steps - k - 1) +
                          (double)steps * (double)(tc->epochs - s->epoch - 1);
            progress(s, k + 1, steps, &win, win.d_rows / (now - tw), left * per);
            memset(&win, 0, sizeof win);
            tw = now;
        }
        if (s->cfg.ckpt.every_steps &&
            s->global_step % s->cfg.ckpt.every_steps == 0 &&
            (st = gan_save(s, NULL)))
            return st;
        if (tc->max_steps && s->global_step >= tc->max_steps) break;
    }
    if (s->step_in_epoch < steps) return 0; /* max_steps */
    double dt = comm_wtime() - te;
    char text[160];
    stats_text(&ep, text, sizeof text);
    tr_say(s, "epoch %llu/%zu done: %s  %.0f samples/s  %.1fs\n",
           (unsigned long long)s->epoch + 1, tc->epochs, text, ep.d_rows / dt, dt);
    metrics_epoch(s, &ep, ep.d_rows / dt);
    *done = 1;
    return epoch_checkpoint(s);
}

/* Checks that need the data's size (as the supervised loop's prepare). */
static int prepare(tr_session *s, size_t steps)
{
    const io_train_cfg *tc = &s->cfg.train;
    uint64_t total = io_run_steps(tc, steps); /* saturating */
    if (tc->max_steps && tc->max_steps < total) total = tc->max_steps;
    s->sched = io_train_schedule(tc, steps, total);
    if (nn_schedule_check(&s->sched, &s->err)) {
        nn_error_prefix(&s->err, "%s: training: ", s->opt->config);
        return NN_EXIT_USAGE;
    }
    /* Testing hook: AXON_GAN_HALF_STEP=d|g makes every step run only
     * that half, so a test can see that it leaves the other network
     * bit-identical. */
    const char *h = getenv("AXON_GAN_HALF_STEP");
    if (h && strcmp(h, "d") && strcmp(h, "g"))
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "AXON_GAN_HALF_STEP: '%s' is not d or g", h);
    s->gan->half = h ? h[0] : 0;
    return 0;
}

static int resume_if_asked(tr_session *s, int *resumed)
{
    *resumed = 0;
    if (!s->opt->resume) return 0;
    char buf[4096];
    const char *path = tr_resolve_resume(s, s->opt->resume, buf, sizeof buf);
    if (!path) {
        tr_say(s, "no checkpoint to resume from; starting fresh\n");
        return 0;
    }
    int st = gan_resume(s, path);
    if (st) return st;
    *resumed = 1;
    tr_say(s, "resumed from %s at epoch %llu step %llu (global step %llu)\n",
           path, (unsigned long long)s->epoch + 1,
           (unsigned long long)s->step_in_epoch,
           (unsigned long long)s->global_step);
    return 0;
}

int tr_gan_train(tr_session *s)
{
    const io_train_cfg *tc = &s->cfg.train;
    size_t steps = io_shard_steps(&s->shard, tc->batch_size);
    int resumed = 0, st;
    if ((st = resume_if_asked(s, &resumed))) return st;
    if ((st = tr_agree(s, prepare(s, steps)))) return st;
    if ((st = tr_agree(s, tr_metrics_open(s, resumed)))) return st;
    s->t0 = comm_wtime();
    banner(s, steps);
    int stop = tc->max_steps && s->global_step >= tc->max_steps;
    for (; !stop && s->epoch < tc->epochs; s->epoch++, s->step_in_epoch = 0) {
        io_shard_epoch(&s->shard, s->epoch, tc->batch_size);
        reserve(s->gan, io_shard_max_rows(&s->shard, tc->batch_size));
        int done;
        if ((st = run_epoch(s, steps, &done))) return st;
        stop = tc->max_steps && s->global_step >= tc->max_steps;
        if (!done) break; /* max_steps within the epoch */
    }
    if ((st = gan_save(s, NULL))) return st;
    tr_say(s, "done: %llu steps in %.1fs\n", (unsigned long long)s->global_step,
           comm_wtime() - s->t0);
    return 0;
}

/* ---- sampling -------------------------------------------------------- */

/* Height and width of one image of shape `in`: [1, H, W], [H, W], or a
 * square [H*H]. 0 if it is none of these. */
static int image_size(nn_shape in, size_t *h, size_t *w)
{
    if (in.ndim == 3 && in.dim[0] == 1) {
        *h = in.dim[1];
        *w = in.dim[2];
    } else if (in.ndim == 2) {
        *h = in.dim[0];
        *w = in.dim[1];
    } else if (in.ndim == 1) {
        size_t r = (size_t)llround(sqrt((double)in.dim[0]));
        if (r * r != in.dim[0]) return 0;
        *h = *w = r;
    } else {
        return 0;
    }
    return 1;
}

/* Map generated values back to the data's units (undoing data.normalize)
 * and to bytes, clamped to 0..255. */
static int to_pixels(tr_session *s, const io_config *cfg, const io_ckpt *c,
                     const float *y, size_t n, size_t w, unsigned char *px)
{
    const double *mean = NULL, *sd = NULL;
    double scale = 1;
    if (!strcmp(cfg->data.normalize, "scale")) {
        scale = cfg->data.scale;
    } else if (!strcmp(cfg->data.normalize, "standardize")) {
        const void *mp, *sp;
        size_t ml, sl;
        if (!tr_meta_get(c->extra, c->extra_len, "norm_mean", &mp, &ml) ||
            !tr_meta_get(c->extra, c->extra_len, "norm_std", &sp, &sl) ||
            ml != w * sizeof(double) || sl != ml)
            return nn_error_set(&s->err, NN_EXIT_DATA,
                                "%s: no normalisation statistics in the "
                                "checkpoint",
                                s->opt->checkpoint);
        mean = mp;
        sd = sp;
    }
    for (size_t i = 0; i < n * w; i++) {
        double v = y[i];
        v = mean ? v * (sd[i % w] > 1e-12 ? sd[i % w] : 1) + mean[i % w]
                 : v / scale;
        v = isnan(v) ? 0 : v < 0 ? 0 : v > 255 ? 255 : v;
        px[i] = (unsigned char)lround(v);
    }
    return 0;
}

/* Lay n = GRID*GRID images of h x w out on a gray canvas. */
static unsigned char *grid(const unsigned char *px, size_t h, size_t w,
                           size_t *gw, size_t *gh)
{
    *gw = GRID * w + (GRID + 1) * GAP;
    *gh = GRID * h + (GRID + 1) * GAP;
    unsigned char *img = nn_xmalloc(*gw * *gh);
    memset(img, GAP_VALUE, *gw * *gh);
    for (size_t k = 0; k < GRID * GRID; k++) {
        size_t x0 = GAP + (k % GRID) * (w + GAP), y0 = GAP + (k / GRID) * (h + GAP);
        for (size_t r = 0; r < h; r++)
            memcpy(img + (y0 + r) * *gw + x0, px + k * h * w + r * w, w);
    }
    return img;
}

static int out_is_png(const char *out)
{
    size_t n = out ? strlen(out) : 0;
    if (n < 5) return 0;
    const char *e = out + n - 4;
    return e[0] == '.' && tolower((unsigned char)e[1]) == 'p' &&
           tolower((unsigned char)e[2]) == 'n' && tolower((unsigned char)e[3]) == 'g';
}

/* Rebuild both networks from c (D only to check the hash), load G. */
static int rebuild(tr_session *s, const io_config *cfg, const io_ckpt *c,
                   tr_gan *g, nn_shape *in)
{
    const void *v;
    size_t n;
    uint64_t noise = 0;
    const char *path = s->opt->checkpoint;
    if (!cfg->gan.enabled || tr_meta_get_shape(c->extra, c->extra_len, in) ||
        !tr_meta_get(c->extra, c->extra_len, "gan_noise", &v, &n) || n != 8)
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: not a complete GAN checkpoint", path);
    memcpy(&noise, v, 8);
    g->noise = cfg->gan.noise;
    int st = make_net(s, &g->g, "generator", &cfg->gan.generator,
                      nn_shape_1d(g->noise));
    if (!st)
        st = make_net(s, &g->d, "discriminator", &cfg->gan.discriminator, *in);
    if (st) return st;
    if (noise != g->noise || c->model_hash != gan_hash(g) ||
        c->n_params != g->g.m->n_params + g->d.m->n_params)
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: the parameters do not match the stored GAN "
                            "config",
                            path);
    memcpy(g->g.m->params, c->params, g->g.m->n_params * sizeof(float));
    return 0;
}

/* Generate the grid's images and write the PNG. */
static int write_grid(tr_session *s, const io_config *cfg, const io_ckpt *c,
                      tr_gan *g, nn_shape in)
{
    size_t h, w, k = GRID * GRID, iw = nn_shape_size(in), gw, gh;
    char buf[64];
    if (!image_size(in, &h, &w) || h * w != iw)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: samples of shape %s are not one-channel "
                            "images; cannot draw them as a PNG grid",
                            s->opt->checkpoint, nn_shape_str(in, buf, sizeof buf));
    nn_rng r;
    nn_rng_seed(&r, s->opt->sample_seed);
    float *z = nn_xalloc_floats(k * g->noise);
    draw_noise(&r, z, k * g->noise);
    nn_model_reserve(g->g.m, k);
    nn_pass pass = {.training = 0, .seed = s->opt->sample_seed};
    const float *y = nn_model_forward(g->g.m, z, k, &pass);
    unsigned char *px = nn_xmalloc(k * iw);
    int st = to_pixels(s, cfg, c, y, k, iw, px);
    if (!st) {
        unsigned char *img = grid(px, h, w, &gw, &gh);
        st = io_png_write_gray(s->opt->out, img, gw, gh, &s->err);
        free(img);
    }
    if (!st)
        fprintf(stderr, "axon: wrote %zu generated images (%dx%d grid, %zux%zu "
                        "pixels, seed %llu) to %s\n",
                k, GRID, GRID, gw, gh, (unsigned long long)s->opt->sample_seed,
                s->opt->out);
    free(z);
    free(px);
    return st;
}

int tr_sample_gan(tr_session *s, io_ckpt *c)
{
    if (!out_is_png(s->opt->out))
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "sample: a GAN checkpoint makes an image: give "
                            "--out FILE.png%s%s",
                            s->opt->out ? " (not " : "",
                            s->opt->out ? "that name)" : "");
    io_config cfg;
    int st = tr_ckpt_config(c, s->opt->checkpoint, &cfg, &s->err);
    if (st) return st == NN_EXIT_USAGE ? NN_EXIT_DATA : st;
    tr_gan g = {0};
    nn_shape in;
    st = rebuild(s, &cfg, c, &g, &in);
    if (!st) st = write_grid(s, &cfg, c, &g, in);
    free_net(&g.g);
    free_net(&g.d);
    io_config_free(&cfg);
    return st;
}

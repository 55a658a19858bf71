/* trainer/obj_gan.c - the GAN objective (a config with a `gan` section):
 * two parameter groups from the one layer registry, a generator G (noise
 * z ~ N(0, I) of gan.noise values -> a sample of the data's shape) and a
 * discriminator D (a sample -> one logit, loss bce), and two phases per
 * step, each ending in tr_group_update:
 *   D: bce(D(x), 1) on this rank's rows x of the global batch plus
 *      bce(D(G(z)), 0) on as many fakes, scaled by 1/(global rows);
 *   G: bce(D(G(z')), 1) on fresh noise, backpropagated through D (whose
 *      parameter gradients are scratch, zeroed before D's next phase) to
 *      D's input and on through G.
 * Both phases run in training.accumulate passes over the same rows and
 * noise. Each rank draws its noise from a generator seeded with
 * nn_hash64(training.seed ^ salt, global step, rank). Running statistics
 * (batchnorm) of the network a phase does not train are restored after
 * its forward, so that network stays bit-identical. Checkpoint sections:
 * the groups "generator" and "discriminator", and "gan/noise" (u64). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/rng.h"
#include "trainer/gan.h"
#include "trainer/objective.h"

#define GAN_NOISE_SALT 0x67616e6e6f697365ULL /* "gannoise" */

enum { D_REAL_LOSS, D_FAKE_LOSS, D_REAL, D_FAKE, D_ROWS, G_LOSS, G_ROWS,
       D_LOSS, S_N };

typedef struct gan {
    tr_group *g, *d;
    uint64_t noise;    /* values of z */
    size_t img;        /* values of one sample */
    size_t cap;        /* rows of the buffers below */
    float *z, *dlogit, *dimg, *ones, *zeros;
    char half;         /* testing hook: 'd' or 'g' = only that phase */
} gan;

/* One network from its layer list (errors name the network). */
static int make(tr_session *s, const char *name, const io_layers *l,
                nn_shape in, nn_model **m)
{
    int st = nn_model_create(m, l->specs, l->n, in, &s->err);
    if (st) nn_error_prefix(&s->err, "gan.%s: ", name);
    return st;
}

/* Initialised on rank 0 with its own seed, then a group of the run. */
static tr_group *add_group(tr_run *r, const char *name, nn_model *m,
                           double lr, uint64_t salt)
{
    if (r->s->rank == 0) nn_model_init(m, nn_hash64(r->s->cfg.train.seed, salt, 0));
    return tr_group_add(r, name, m, tr_lr_scale(r, lr));
}

/* G must make samples of the data's size; D must give one logit each.
 * Errors point at the network's last layer. */
static int check_shapes(tr_session *s, nn_model *gm, nn_model *dm, size_t img)
{
    const tr_gan_cfg *c = io_config_values(&s->cfg, &tr_gan_schema);
    char buf[64];
    size_t out = nn_shape_size(nn_model_out_shape(gm));
    if (out != img)
        return nn_spec_error(&c->generator.specs[c->generator.n - 1], NULL,
                             &s->err,
                             "the generator makes %zu values per sample; the "
                             "data's samples have %zu (%s)",
                             out, img,
                             nn_shape_str(s->train.x_shape, buf, sizeof buf));
    out = nn_shape_size(nn_model_out_shape(dm));
    if (out != 1)
        return nn_spec_error(&c->discriminator.specs[c->discriminator.n - 1],
                             NULL, &s->err,
                             "the discriminator must end with one logit per "
                             "sample, not %zu values", out);
    return 0;
}

static void declare_metrics(tr_metrics *m)
{
    static const char *const names[S_N] = {
        "d_real_loss", "d_fake_loss", "d_real", "d_fake", "d_rows",
        "g_loss", "g_rows", "d_loss"};
    for (int i = 0; i < S_N; i++) tr_metrics_sum(m, names[i]);
    m->count = D_ROWS;
    tr_metrics_view(m, (tr_view){"d_loss", "d_loss", NULL, D_LOSS, D_ROWS, 1, "%.4f"});
    tr_metrics_view(m, (tr_view){NULL, "d_loss_real", NULL, D_REAL_LOSS, D_ROWS, 1, "%.4f"});
    tr_metrics_view(m, (tr_view){NULL, "d_loss_fake", NULL, D_FAKE_LOSS, D_ROWS, 1, "%.4f"});
    tr_metrics_view(m, (tr_view){"g_loss", "g_loss", NULL, G_LOSS, G_ROWS, 1, "%.4f"});
    tr_metrics_view(m, (tr_view){"D(x)", "d_real", NULL, D_REAL, D_ROWS, 1, "%.3f"});
    tr_metrics_view(m, (tr_view){"D(G(z))", "d_fake", NULL, D_FAKE, D_ROWS, 1, "%.3f"});
}

static int create(tr_run *r, void **obj)
{
    tr_session *s = r->s;
    const tr_gan_cfg *c = io_config_values(&s->cfg, &tr_gan_schema);
    gan *o = nn_xcalloc(1, sizeof *o);
    *obj = o;
    o->noise = c->noise;
    o->img = s->train.x_width;
    /* Testing hook: AXON_GAN_HALF_STEP=d|g makes every step run only that
     * phase, so a test can see that it leaves the other network
     * bit-identical. */
    const char *h = getenv("AXON_GAN_HALF_STEP");
    o->half = h ? h[0] : 0;
    nn_model *gm = NULL, *dm = NULL;
    int st = h && strcmp(h, "d") && strcmp(h, "g")
                 ? nn_error_set(&s->err, NN_EXIT_USAGE,
                                "AXON_GAN_HALF_STEP: '%s' is not d or g", h)
                 : 0;
    if (!st) st = make(s, "generator", &c->generator, nn_shape_1d(o->noise),
                       &gm);
    if (!st) st = make(s, "discriminator", &c->discriminator,
                       s->train.x_shape, &dm);
    if (!st) st = check_shapes(s, gm, dm, o->img);
    if ((st = tr_agree(s, st))) {
        if (gm) nn_model_destroy(gm);
        if (dm) nn_model_destroy(dm);
        return st;
    }
    o->g = add_group(r, "generator", gm, c->generator_lr, 'G');
    o->d = add_group(r, "discriminator", dm, c->discriminator_lr, 'D');
    declare_metrics(&r->metrics);
    return 0;
}

static void free_buffers(gan *o)
{
    free(o->z), free(o->dlogit), free(o->dimg), free(o->ones), free(o->zeros);
}

static void destroy(void *obj)
{
    free_buffers(obj), free(obj);
}

static void reserve(tr_run *r, void *obj, size_t rows)
{
    gan *o = obj;
    size_t n = r->batch.cap > rows ? r->batch.cap : rows; /* noise: whole batch */
    if (n <= o->cap) return;
    free_buffers(o);
    o->z = nn_xalloc_floats(nn_mul_size(n, o->noise));
    o->dlogit = nn_xalloc_floats(n);
    o->dimg = nn_xalloc_floats(nn_mul_size(n, o->img));
    o->ones = nn_xalloc_floats(n);
    o->zeros = nn_xalloc_floats(n);
    for (size_t i = 0; i < n; i++) o->ones[i] = 1.0f, o->zeros[i] = 0.0f;
    nn_model_reserve(o->g->model, n);
    nn_model_reserve(o->d->model, n);
    o->cap = n;
}

static void draw_noise(nn_rng *rng, float *z, size_t count)
{
    for (size_t i = 0; i < count; i++) z[i] = (float)nn_rng_normal(rng);
}

/* D(x) on n rows against target, backward into D's gradient arena (armed
 * first when `last`); adds the bce sum and the sum of sigmoid(D(x)). */
static void d_term(tr_run *r, gan *o, const float *x, size_t n,
                   const float *target, const nn_pass *p, int last,
                   double *loss, double *prob)
{
    nn_model *dm = o->d->model;
    if (last) tr_group_arm(r, o->d);
    if (!n) return;
    const float *y = nn_model_forward(dm, x, n, p);
    nn_loss_stats ls = {0};
    r->s->loss->eval(y, target, n, 1, 1.0f / (float)r->batch.global,
                     o->dlogit, &ls);
    *loss += ls.sum;
    for (size_t i = 0; i < n; i++) *prob += 1.0 / (1.0 + exp(-(double)y[i]));
    nn_model_backward(dm, x, o->dlogit, n);
}

/* The discriminator's phase: real rows against 1, as many fakes (G in
 * training mode, its running statistics restored) against 0. */
static int d_phase(tr_run *r, gan *o, nn_rng *rng, double *v)
{
    const tr_batch *b = &r->batch;
    size_t n = b->n, chunk = tr_pass_rows(r, n), xw = o->img;
    nn_pass fake = {.training = 1, .seed = r->s->cfg.train.seed,
                    .step = r->global_step};
    nn_model_zero_grad(o->d->model);
    draw_noise(rng, o->z, n * o->noise);
    v[D_ROWS] = (double)n;
    for (size_t a = 0; a < n || a == 0; a += chunk) {
        size_t m = n - a < chunk ? n - a : chunk, last = a + chunk >= n;
        nn_pass real = fake;
        real.ids = b->ids + a;
        d_term(r, o, b->x + a * xw, m, o->ones, &real, 0, &v[D_REAL_LOSS],
               &v[D_REAL]);
        const float *x = o->z + a * o->noise;
        if (m) {
            tr_group_hold(o->g, 0);
            x = nn_model_forward(o->g->model, x, m, &fake);
            tr_group_hold(o->g, 1);
        }
        d_term(r, o, x, m, o->zeros, &fake, (int)last, &v[D_FAKE_LOSS],
               &v[D_FAKE]);
        if (!n) break;
    }
    double u[5] = {v[D_REAL_LOSS], v[D_FAKE_LOSS], v[D_REAL], v[D_FAKE],
                   v[D_ROWS]};
    int st = tr_group_update(r, o->d, u, 5, 2);
    memcpy(v, u, sizeof u);
    v[D_LOSS] = u[0] + u[1];
    return st;
}

/* The generator's phase: fresh fakes scored by D against 1, the gradient
 * carried through D (running statistics restored; its parameter gradients
 * are scratch) to D's input and on through G. */
static int g_phase(tr_run *r, gan *o, nn_rng *rng, double *v)
{
    size_t n = r->batch.n, chunk = tr_pass_rows(r, n);
    nn_model *gm = o->g->model, *dm = o->d->model;
    nn_pass p = {.training = 1, .seed = r->s->cfg.train.seed,
                 .step = r->global_step};
    double u[2] = {0, (double)n};
    nn_model_zero_grad(gm);
    draw_noise(rng, o->z, n * o->noise);
    for (size_t a = 0; a < n || a == 0; a += chunk) {
        size_t m = n - a < chunk ? n - a : chunk;
        const float *z = o->z + a * o->noise;
        if (m) {
            const float *x = nn_model_forward(gm, z, m, &p);
            tr_group_hold(o->d, 0);
            const float *y = nn_model_forward(dm, x, m, &p);
            nn_loss_stats ls = {0};
            r->s->loss->eval(y, o->ones, m, 1, 1.0f / (float)r->batch.global,
                             o->dlogit, &ls);
            u[0] += ls.sum;
            nn_model_backward_input(dm, x, o->dlogit, m, o->dimg);
            tr_group_hold(o->d, 1);
        }
        if (a + chunk >= n) tr_group_arm(r, o->g);
        if (m) nn_model_backward(gm, z, o->dimg, m);
        if (!n) break;
    }
    int st = tr_group_update(r, o->g, u, 2, 1);
    v[G_LOSS] = u[0];
    v[G_ROWS] = u[1];
    return st;
}

static int step(tr_run *r, void *obj)
{
    gan *o = obj;
    nn_rng rng;
    nn_rng_seed(&rng, nn_hash64(r->s->cfg.train.seed ^ GAN_NOISE_SALT,
                                r->global_step, (uint64_t)r->s->rank));
    int st = 0;
    if (o->half != 'g') st = d_phase(r, o, &rng, r->step_sums);
    if (!st && o->half != 'd') st = g_phase(r, o, &rng, r->step_sums);
    return st;
}

static void save(tr_run *r, void *obj, io_ckpt *c)
{
    (void)r;
    io_ckpt_add(c, "gan/noise", &((gan *)obj)->noise, sizeof(uint64_t), 0);
}

/* The generator's hash (its input shape) already covers the noise size. */
static int load(tr_run *r, void *obj, io_ckpt *c, const char *path)
{
    const void *v;
    (void)obj;
    return io_ckpt_need(c, path, "gan/noise", sizeof(uint64_t), &v, NULL,
                        &r->s->err);
}

static nn_shape input_shape(tr_run *r, void *obj)
{
    return (void)obj, r->s->train.x_shape;
}

const tr_objective_ops tr_obj_gan = {
    .name = "gan",
    .schema = &tr_gan_schema,
    .create = create,
    .destroy = destroy,
    .reserve = reserve,
    .step = step,
    .save = save,
    .load = load,
    .input_shape = input_shape,
};

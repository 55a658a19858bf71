/* trainer/sample_gan.c - `axon sample --checkpoint PATH --out FILE.png
 * [--seed S]` on a GAN checkpoint: rebuilds the generator from the stored
 * config, checks it against the stored hash, draws 64 noise vectors from
 * a generator seeded with --seed, and writes their images as an 8x8 grid
 * (2-pixel gray gaps) to a grayscale PNG, with the data's normalisation
 * undone (pixels in the data's units, clamped to 0..255). Runs on the
 * calling rank alone. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/png.h"
#include "nn/check.h"
#include "nn/rng.h"
#include "trainer/gan.h"

#define GRID 8          /* sample: GRID x GRID images */
#define GAP 2           /* pixels between them */
#define GAP_VALUE 128   /* gray */

int tr_ckpt_is_gan(io_ckpt *c)
{
    io_ckpt_section *o = io_ckpt_find(c, "objective");
    return (o && o->len == 3 && !memcmp(o->data, "gan", 3)) ||
           io_ckpt_find(c, "gan_noise");
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
static int to_pixels(tr_session *s, const io_config *cfg, io_ckpt *c,
                     const float *y, size_t n, size_t w, unsigned char *px)
{
    const double *mean = NULL, *sd = NULL;
    double scale = 1;
    if (!strcmp(cfg->data.normalize, "scale")) {
        scale = cfg->data.scale;
    } else if (!strcmp(cfg->data.normalize, "standardize")) {
        const void *mp, *sp;
        const char *path = s->opt->checkpoint;
        size_t bytes = w * sizeof(double);
        int st = io_ckpt_need(c, path, "norm_mean", bytes, &mp, NULL, &s->err);
        if (!st) st = io_ckpt_need(c, path, "norm_std", bytes, &sp, NULL, &s->err);
        if (st) return st;
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

/* The generator from c's stored config, with its parameters; *in the
 * data's sample shape, *noise the values of z. */
static int rebuild(tr_session *s, const io_config *cfg, io_ckpt *c,
                   nn_model **g, nn_shape *in, size_t *noise)
{
    const char *path = s->opt->checkpoint;
    const tr_gan_cfg *gc = io_config_values(cfg, &tr_gan_schema);
    if (!gc || !gc->generator.n || !io_ckpt_find(c, "gan/noise"))
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: not a GAN checkpoint of this version (a "
                            "format %u file; train it again to sample)",
                            path, (unsigned)c->version);
    int st = tr_ckpt_shape(c, path, in, &s->err);
    if (st) return st;
    *noise = gc->noise;
    st = nn_model_create(g, gc->generator.specs, gc->generator.n,
                         nn_shape_1d(*noise), &s->err);
    if (st) {
        nn_error_prefix(&s->err, "gan.generator: ");
        return st;
    }
    return tr_ckpt_params(c, path, "generator", *g, &s->err);
}

/* Generate the grid's images and write the PNG. */
static int write_grid(tr_session *s, const io_config *cfg, io_ckpt *c,
                      nn_model *g, size_t noise, nn_shape in)
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
    float *z = nn_xalloc_floats(k * noise);
    for (size_t i = 0; i < k * noise; i++) z[i] = (float)nn_rng_normal(&r);
    nn_model_reserve(g, k);
    nn_pass pass = {.training = 0, .seed = s->opt->sample_seed};
    const float *y = nn_model_forward(g, z, k, &pass);
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
    nn_model *g = NULL;
    nn_shape in;
    size_t noise = 0;
    st = rebuild(s, &cfg, c, &g, &in, &noise);
    if (!st) st = write_grid(s, &cfg, c, g, noise, in);
    if (g) nn_model_destroy(g);
    io_config_free(&cfg);
    return st;
}

/* nn/augment.c - random crop and flip of image rows (see nn/augment.h).
 *
 * In place, without scratch: a shift by (dy, dx) reads in[h + dy][w + dx],
 * so walking the rows upwards when dy >= 0 (downwards when dy < 0) only
 * reads rows not yet written, and the same for columns within a row when
 * dy == 0. The flip then swaps each row's halves.
 */
#include "nn/augment.h"

#include "nn/rng.h"

/* Keeps the draws apart from other users of the run seed (dropout). */
#define AUGMENT_SALT 0x6175676d656e7400ULL /* "augment" */

int nn_augment_active(const nn_augment *a)
{
    return a->crop_pad > 0 || a->hflip;
}

int nn_augment_check(const nn_augment *a, nn_shape shape, nn_error *err)
{
    char s[64];
    if (!nn_augment_active(a)) return 0;
    if (shape.ndim != 3)
        return nn_error_set(err, NN_EXIT_USAGE,
                            "augmentation needs images [C, H, W], the data "
                            "has samples of shape %s",
                            nn_shape_str(shape, s, sizeof s));
    size_t side = shape.dim[1] < shape.dim[2] ? shape.dim[1] : shape.dim[2];
    if (a->crop_pad > side / 2 || a->crop_pad > NN_AUGMENT_MAX_PAD)
        return nn_error_set(err, NN_EXIT_USAGE,
                            "crop_pad %zu is more than half the image side "
                            "(%s) or more than %d", a->crop_pad,
                            nn_shape_str(shape, s, sizeof s),
                            NN_AUGMENT_MAX_PAD);
    return 0;
}

void nn_augment_draw(const nn_augment *a, uint64_t seed, uint64_t epoch,
                     uint64_t id, long *dy, long *dx, int *flip)
{
    uint64_t h = nn_hash64(seed ^ AUGMENT_SALT, epoch, id);
    uint64_t span = 2 * (uint64_t)a->crop_pad + 1;
    long P = (long)a->crop_pad;
    /* 31 bits each for the offsets (the modulo bias is below 2^-24 for
     * P <= NN_AUGMENT_MAX_PAD), the top bit for the flip. */
    *dy = (long)((h & 0x7fffffffu) % span) - P;
    *dx = (long)(((h >> 31) & 0x7fffffffu) % span) - P;
    *flip = a->hflip && (h >> 63);
}

/* One [H, W] plane shifted in place: p[h][w] = p[h + dy][w + dx], 0
 * where that falls outside. */
static void shift_plane(float *p, long H, long W, long dy, long dx)
{
    for (long k = 0; k < H; k++) {
        long h = dy >= 0 ? k : H - 1 - k;
        long sh = h + dy;
        for (long j = 0; j < W; j++) {
            long w = dx >= 0 ? j : W - 1 - j;
            long sw = w + dx;
            int in = sh >= 0 && sh < H && sw >= 0 && sw < W;
            p[h * W + w] = in ? p[sh * W + sw] : 0.0f;
        }
    }
}

static void flip_plane(float *p, size_t H, size_t W)
{
    for (size_t h = 0; h < H; h++) {
        float *r = p + h * W;
        for (size_t w = 0; w < W / 2; w++) {
            float t = r[w];
            r[w] = r[W - 1 - w];
            r[W - 1 - w] = t;
        }
    }
}

void nn_augment_rows(const nn_augment *a, float *x, size_t n, nn_shape shape,
                     const uint64_t *ids, uint64_t seed, uint64_t epoch)
{
    if (!nn_augment_active(a)) return;
    size_t C = shape.dim[0], H = shape.dim[1], W = shape.dim[2];
    for (size_t i = 0; i < n; i++) {
        long dy, dx;
        int flip;
        nn_augment_draw(a, seed, epoch, ids[i], &dy, &dx, &flip);
        for (size_t c = 0; c < C; c++) {
            float *p = x + (i * C + c) * H * W;
            if (dy || dx) shift_plane(p, (long)H, (long)W, dy, dx);
            if (flip) flip_plane(p, H, W);
        }
    }
}

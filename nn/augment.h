/* nn/augment.h - data augmentation of image rows: a random crop after
 * zero-padding, and a random horizontal flip.
 *
 * The transform of a row depends on (seed, epoch, global row id) alone,
 * never on which rank holds the row or where it sits in a batch, so any
 * rank count sees the same augmented batches, and a resumed run the same
 * as an uninterrupted one. Meant for training rows only (validation and
 * test rows are never augmented).
 *
 * For a row of shape [C, H, W] and padding P, with (oy, ox) drawn uniformly
 * from [0, 2P] x [0, 2P] and a flip with probability 1/2:
 *     crop:  out[c, h, w] = in[c, h + oy - P, w + ox - P], 0 outside
 *            (the image padded by P zeros on every side, cut back to H x W)
 *     flip:  out[c, h, w] = crop[c, h, W - 1 - w]
 * The same offsets and flip apply to every channel. Zero is the value of
 * the rows as given: with `normalize: scale` it is black, the background
 * of Fashion-MNIST.
 */
#ifndef NN_AUGMENT_H
#define NN_AUGMENT_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#include "nn/error.h"
#include "nn/layer.h" /* nn_shape */

/* Largest accepted crop padding. */
#define NN_AUGMENT_MAX_PAD 64

typedef struct nn_augment {
    size_t crop_pad; /* P; 0: no crop */
    int hflip;       /* 1: flip left-right with probability 1/2 */
} nn_augment;

/* 1 if a changes anything. */
int nn_augment_active(const nn_augment *a);

/* Check a against the samples' shape: when active, shape must be
 * [C, H, W] and crop_pad <= min(H, W) / 2 and <= NN_AUGMENT_MAX_PAD.
 * Returns 0, or NN_EXIT_USAGE with a message naming the problem (the
 * caller prefixes file, line and key). */
int nn_augment_check(const nn_augment *a, nn_shape shape, nn_error *err);

/* The transform of one row: its vertical and horizontal shift
 * (dy = oy - P, dx = ox - P, each in [-P, P]) and whether it is flipped. */
void nn_augment_draw(const nn_augment *a, uint64_t seed, uint64_t epoch,
                     uint64_t id, long *dy, long *dx, int *flip);

/* Augment x[n, C*H*W] in place; row i has global id ids[i]. shape is
 * [C, H, W] and a passed nn_augment_check. Allocates nothing; the rows
 * must be the caller's copy (e.g. a gathered batch), not the data set. */
void nn_augment_rows(const nn_augment *a, float *x, size_t n, nn_shape shape,
                     const uint64_t *ids, uint64_t seed, uint64_t epoch);

#endif

/* nn/clip.h - gradient-norm clipping over a flat gradient arena.
 *
 * The trainer calls it on the whole gradient arena AFTER the allreduce, so
 * every rank holds identical gradients, computes the identical norm (fixed
 * summation order) and clips identically.
 */
#ifndef NN_CLIP_H
#define NN_CLIP_H

#include <stddef.h> /* size_t */

/* Global L2 norm of grads[0..n), accumulated in double; returns it (as a
 * float, the norm BEFORE clipping). If it exceeds max_norm > 0, scales
 * grads in place by max_norm / norm so that their norm becomes max_norm.
 * Left untouched when norm <= max_norm, when max_norm <= 0 (measure only)
 * and when the norm is NaN or infinite (the caller's divergence check
 * decides; scaling would only hide it). */
float nn_clip_global_norm(float *grads, size_t n, float max_norm);

#endif

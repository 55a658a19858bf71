/* nn/clip.h - gradient-norm clipping over a flat gradient arena.
 *
 * The trainer calls it on the synchronised gradients AFTER the allreduce,
 * so every rank holds identical gradients, computes the identical norm
 * (fixed summation order) and clips identically.
 */
#ifndef NN_CLIP_H
#define NN_CLIP_H

#include <stddef.h> /* size_t */

/* A run of an arena: elements [offset, offset + count). */
typedef struct nn_span {
    size_t offset, count;
} nn_span;

/* Global L2 norm of the elements of arena[] in spans[0..n_spans), in that
 * order, accumulated in double; returns it (the norm BEFORE clipping). If
 * it exceeds max_norm > 0, scales those elements in place by
 * (float)(max_norm / norm) so that their norm becomes max_norm. Left
 * untouched when norm <= max_norm, when max_norm <= 0 (measure only) and
 * when the norm is NaN or infinite (the caller's divergence check decides;
 * scaling would only hide it). */
double nn_clip_spans(float *arena, const nn_span *spans, size_t n_spans,
                     double max_norm);

/* The same over grads[0..n) (one span). */
float nn_clip_global_norm(float *grads, size_t n, float max_norm);

#endif

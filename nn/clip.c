/* nn/clip.c - gradient-norm clipping (see nn/clip.h). */
#include "nn/clip.h"

#include <math.h> /* sqrt, isfinite */

double nn_clip_spans(float *arena, const nn_span *spans, size_t n_spans,
                     double max_norm)
{
    double ss = 0.0;
    for (size_t r = 0; r < n_spans; r++) {
        const float *p = arena + spans[r].offset;
        for (size_t i = 0; i < spans[r].count; i++) ss += (double)p[i] * p[i];
    }
    double norm = sqrt(ss);
    if (max_norm > 0.0 && isfinite(norm) && norm > max_norm) {
        float s = (float)(max_norm / norm);
        for (size_t r = 0; r < n_spans; r++) {
            float *p = arena + spans[r].offset;
            for (size_t i = 0; i < spans[r].count; i++) p[i] *= s;
        }
    }
    return norm;
}

float nn_clip_global_norm(float *grads, size_t n, float max_norm)
{
    nn_span all = {0, n};
    return (float)nn_clip_spans(grads, &all, 1, (double)max_norm);
}

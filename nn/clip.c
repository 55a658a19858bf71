/* nn/clip.c - gradient-norm clipping (see nn/clip.h). */
#include "nn/clip.h"

#include <math.h> /* sqrt, isfinite */

float nn_clip_global_norm(float *grads, size_t n, float max_norm)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    double norm = sqrt(ss);
    if (max_norm > 0.0f && isfinite(norm) && norm > (double)max_norm) {
        float s = (float)((double)max_norm / norm);
        for (size_t i = 0; i < n; i++) grads[i] *= s;
    }
    return (float)norm;
}

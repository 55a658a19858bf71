/* nn/init.c - weight initialisers (see nn/init.h). */
#include "nn/init.h"

#include <math.h>   /* sqrt */
#include <string.h> /* memset */

const char *const nn_init_names[] = {"xavier", "he", "zeros", "normal", NULL};

void nn_init_fill(float *w, size_t count, size_t fan_in, size_t fan_out,
                  nn_init_kind kind, nn_rng *rng)
{
    double fi = fan_in ? (double)fan_in : 1.0;
    double fo = fan_out ? (double)fan_out : 1.0;
    switch (kind) {
    case NN_INIT_XAVIER: {
        /* Glorot uniform: Var = limit^2 / 3 = 2 / (fan_in + fan_out). */
        double limit = sqrt(6.0 / (fi + fo));
        for (size_t i = 0; i < count; i++)
            w[i] = (float)((2.0 * nn_rng_uniform(rng) - 1.0) * limit);
        break;
    }
    case NN_INIT_HE: {
        /* He normal: Var = 2 / fan_in keeps ReLU activations' scale. */
        double sd = sqrt(2.0 / fi);
        for (size_t i = 0; i < count; i++)
            w[i] = (float)(nn_rng_normal(rng) * sd);
        break;
    }
    case NN_INIT_NORMAL:
        for (size_t i = 0; i < count; i++)
            w[i] = (float)(nn_rng_normal(rng) * 0.02);
        break;
    case NN_INIT_ZEROS:
    default:
        memset(w, 0, count * sizeof *w);
        break;
    }
}

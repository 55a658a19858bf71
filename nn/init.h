/* nn/init.h - weight initialisers from a seeded generator. */
#ifndef NN_INIT_H
#define NN_INIT_H

#include <stddef.h> /* size_t */
#include "nn/rng.h"

typedef enum {
    NN_INIT_XAVIER = 0, /* Glorot uniform: U(+-sqrt(6/(fan_in+fan_out))) */
    NN_INIT_HE = 1,     /* He normal: N(0, 2/fan_in) */
    NN_INIT_ZEROS = 2,
    NN_INIT_NORMAL = 3  /* N(0, 0.02^2) - GAN convention */
} nn_init_kind;

/* NULL-terminated names in enum order, for nn_spec_enum. */
extern const char *const nn_init_names[];

void nn_init_fill(float *w, size_t count, size_t fan_in, size_t fan_out,
                  nn_init_kind kind, nn_rng *rng);

#endif

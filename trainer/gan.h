/* trainer/gan.h - `axon sample` on a GAN checkpoint (trainer/sample_gan.c);
 * GAN training is the "gan" objective, trainer/obj_gan.c. */
#ifndef TRAINER_GAN_H
#define TRAINER_GAN_H

#include "io/ckpt.h"
#include "trainer/session.h"

/* The `gan` section (the fragment tr_gan_schema, trainer/obj_gan.c): it
 * replaces model.layers. The generator maps noise z ~ N(0, I) of `noise`
 * values to a sample of the data's shape; the discriminator maps a sample
 * to one logit (loss bce). */
typedef struct tr_gan_cfg {
    size_t noise;             /* dimension of z, default 64 */
    io_layers generator;      /* gan.generator.layers */
    io_layers discriminator;  /* gan.discriminator.layers */
    double generator_lr;      /* 0 = training.lr */
    double discriminator_lr;  /* 0 = training.lr */
} tr_gan_cfg;

extern const io_schema tr_gan_schema;

/* 1 if checkpoint c holds a GAN. */
int tr_ckpt_is_gan(io_ckpt *c);

/* Write the image grid of c's generator (c read by the caller, still
 * owned by it) to the PNG s->opt->out. Returns 0, NN_EXIT_USAGE (no --out,
 * not .png, images that are not one-channel), NN_EXIT_DATA (c not a
 * GAN of this version, inconsistent, or the PNG cannot be written). */
int tr_sample_gan(tr_session *s, io_ckpt *c);

#endif

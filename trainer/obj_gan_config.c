/* trainer/obj_gan_config.c - the GAN's config: the `gan` section's keys
 * and their cross-checks (a schema fragment, io/config.h), read by the
 * objective (trainer/obj_gan.c) and by `axon sample` on a GAN checkpoint
 * (trainer/sample_gan.c). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "trainer/gan.h"

#define OFF(m) offsetof(tr_gan_cfg, m)
static const io_key keys[] = {
    {"gan.noise", IO_SIZE, OFF(noise), 1, 65536, 0, "64", NULL},
    {"gan.generator.layers", IO_LAYERS, OFF(generator), 0, 0, IO_REQ, NULL, NULL},
    {"gan.discriminator.layers", IO_LAYERS, OFF(discriminator), 0, 0, IO_REQ,
     NULL, NULL},
    {"gan.generator_lr", IO_DBL, OFF(generator_lr), 0, HUGE_VAL, IO_LO_OPEN,
     NULL, NULL},
    {"gan.discriminator_lr", IO_DBL, OFF(discriminator_lr), 0, HUGE_VAL,
     IO_LO_OPEN, NULL, NULL},
};

/* The gan section replaces the model section; the discriminator's logit
 * is scored by bce; early stopping has no validation loss to watch and
 * labels mean nothing to a GAN. */
static int check(const io_config *cfg, const void *values, nn_error *err)
{
    (void)values;
    static const char *const refused[] = {"model", "early_stopping",
                                          "data.labelled", "data.target", NULL};
    char where[8];
    if (!io_config_where(cfg, "gan", where, sizeof where))
        return io_config_error(cfg, "objective", err, "gan needs a gan section "
                               "(noise, generator.layers, discriminator.layers)");
    for (size_t i = 0; refused[i]; i++)
        if (io_config_where(cfg, refused[i], where, sizeof where))
            return io_config_error(cfg, refused[i], err, "not used with a gan "
                                   "section (the networks are gan.generator."
                                   "layers and gan.discriminator.layers)");
    if (strcmp(cfg->loss, "bce"))
        return io_config_error(cfg, "loss", err, "a GAN is trained with bce (on "
                               "the discriminator's logit), not %s", cfg->loss);
    return 0;
}

const io_schema tr_gan_schema = {"gan", "gan", keys, sizeof keys / sizeof *keys,
                                 sizeof(tr_gan_cfg), check, 0};

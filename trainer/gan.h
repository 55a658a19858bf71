/* trainer/gan.h - generative adversarial networks: `axon train` on a
 * config with a `gan` section, and `axon sample` on its checkpoints.
 *
 * Two networks from the one layer registry: a generator G (noise z ~
 * N(0, I) of gan.noise values -> a sample of the data's shape) and a
 * discriminator D (a sample -> one logit), each with its own parameter
 * and gradient arenas and its own optimizer (the optimizer section's kind
 * and settings; learning rates gan.generator_lr / gan.discriminator_lr,
 * default training.lr, both following training.schedule). Every step
 * alternates two updates, both data-parallel:
 *   D: bce(D(x), 1) on this rank's rows x of the global batch plus
 *      bce(D(G(z)), 0) on as many fakes, scaled by 1/(global rows); D's
 *      gradient arena summed across ranks; D's optimizer steps; G stays.
 *   G: bce(D(G(z')), 1) on fresh noise, backpropagated through D (its
 *      parameter gradients are scratch, zeroed before D's next update) to
 *      D's input and on through G; G's arena summed; G's optimizer steps;
 *      D stays bit-identical.
 * Each rank draws its own noise from a generator seeded with
 * nn_hash64(training.seed ^ salt, global step, rank), so a run is
 * reproducible for a given rank count (not across rank counts: the fakes
 * differ). Running statistics (batchnorm) of the network a half-step does
 * not train are restored after its forward, so it stays bit-identical.
 *
 * Checkpoint: one file, params = [G arena | D arena], state = [G optimizer
 * state | D optimizer state], model_hash = a hash of both architectures,
 * extra records "input_shape" (the data's), "gan_noise", "gan_sizes"
 * (parameter counts of G and D) and "gan_optim_t" (both step counters);
 * see docs/CHECKPOINT.md.
 */
#ifndef TRAINER_GAN_H
#define TRAINER_GAN_H

#include "io/ckpt.h"
#include "trainer/session.h"

typedef struct tr_gan tr_gan;

/* Build G and D from cfg.gan for the loaded data (tr_build_model calls it
 * when cfg.gan.enabled; s->model stays NULL): shapes checked (G's output
 * must have the data's sample size, D's one value), rank 0 initialises,
 * parameters broadcast, optimizers and gradient plans made. Only the train
 * command takes a GAN config; the others are refused (NN_EXIT_USAGE), as
 * are training.accumulate > 1 and training.clip_norm. Collective. */
int tr_gan_build(tr_session *s);

/* `axon train` on a GAN (tr_cmd_train calls it when s->gan): resume if
 * asked, the alternating loop, metrics, checkpoints. Collective; 0 or an
 * exit code (NN_EXIT_DIVERGED if a loss became NaN/Inf: no update of that
 * half-step was applied). */
int tr_gan_train(tr_session *s);

void tr_gan_free(tr_gan *g); /* NULL is fine */

/* 1 if checkpoint c holds a GAN (it has a "gan_noise" record). */
int tr_ckpt_is_gan(const io_ckpt *c);

/* `axon sample --checkpoint PATH --out FILE.png [--seed S]` on a GAN
 * checkpoint c (already read by the caller, still owned by it): rebuilds
 * G from c's stored config, checks it against c, draws 64 noise vectors
 * from a generator seeded with s->opt->sample_seed, and writes their
 * images as an 8x8 grid (2-pixel gray gaps) to the grayscale PNG
 * s->opt->out, with the data's normalisation undone (pixels in the data's
 * units, clamped to 0..255). Runs on the calling rank alone, not
 * collective. Returns 0, NN_EXIT_USAGE (no --out, not .png, images that
 * are not one-channel), NN_EXIT_DATA (c not a GAN, inconsistent, or the
 * PNG cannot be written), with s->err set. */
int tr_sample_gan(tr_session *s, io_ckpt *c);

#endif

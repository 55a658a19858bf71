/* nn/rng.h - explicit, seedable random generators (no global state).
 *
 * xoshiro256** seeded through splitmix64. One generator per purpose (init,
 * shuffle, dropout, noise); its state is four words, saved in checkpoints.
 * nn_hash64 gives counter-based randomness: a value determined by
 * (seed, counters) alone, so e.g. a dropout mask can depend on the global
 * sample index rather than on which rank happens to process the sample.
 */
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;

void nn_rng_seed(nn_rng *r, uint64_t seed);
uint64_t nn_rng_next(nn_rng *r);
/* Uniform in [0, 1). */
double nn_rng_uniform(nn_rng *r);
/* Standard normal (Box-Muller; one draw per call, deterministic). */
double nn_rng_normal(nn_rng *r);
/* Uniform integer in [0, n); n > 0. Unbiased (rejection). */
uint64_t nn_rng_below(nn_rng *r, uint64_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void nn_rng_shuffle(nn_rng *r, size_t *idx, size_t n);

/* Stateless mix of a seed and two counters into 64 well-spread bits. */
uint64_t nn_hash64(uint64_t seed, uint64_t a, uint64_t b);
/* The same, mapped to [0, 1). */
double nn_hash_uniform(uint64_t seed, uint64_t a, uint64_t b);

/* FNV-1a 64 over bytes (specs, configs, data sizes - not cryptographic). */
uint64_t nn_fnv1a(const void *data, size_t bytes, uint64_t h);
#define NN_FNV_INIT 0xcbf29ce484222325ULL

#endif

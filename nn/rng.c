/* nn/rng.c - xoshiro256**, splitmix64 seeding, counter hashes, FNV-1a
 * (see nn/rng.h). */
#include "nn/rng.h"

#include <math.h> /* sqrt, log, cos */

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64's output function: a bijective 64-bit mixer with full
 * avalanche (every input bit flips each output bit with p ~ 1/2). */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 step: used to expand one seed into the four state words, so
 * that nearby seeds give unrelated, never all-zero states. */
static uint64_t splitmix64(uint64_t *x)
{
    *x += 0x9e3779b97f4a7c15ULL;
    return mix64(*x);
}

void nn_rng_seed(nn_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t nn_rng_next(nn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Top 53 bits as a double in [0, 1): exact multiples of 2^-53. */
static double bits_to_unit(uint64_t v)
{
    return (double)(v >> 11) * 0x1.0p-53;
}

double nn_rng_uniform(nn_rng *r)
{
    return bits_to_unit(nn_rng_next(r));
}

double nn_rng_normal(nn_rng *r)
{
    /* Box-Muller, cosine branch only: one normal per two uniforms, no cached
     * second value, so the stream depends only on the state words.
     * u1 is in (0, 1] so the log is finite. */
    double u1 = 1.0 - nn_rng_uniform(r);
    double u2 = nn_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

uint64_t nn_rng_below(nn_rng *r, uint64_t n)
{
    /* Reject the lowest (2^64 mod n) values so every residue is equally
     * likely. (-n) % n == 2^64 mod n in unsigned arithmetic. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t v = nn_rng_next(r);
        if (v >= threshold) return v % n;
    }
}

void nn_rng_shuffle(nn_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)nn_rng_below(r, (uint64_t)i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

uint64_t nn_hash64(uint64_t seed, uint64_t a, uint64_t b)
{
    /* Chain of full mixers: each counter is absorbed after the previous
     * words were mixed, so (a, b) and (b, a) differ, and no linear relation
     * between counters survives. */
    uint64_t h = mix64(seed ^ 0x9e3779b97f4a7c15ULL);
    h = mix64(h ^ (a * 0xd6e8feb86659fd93ULL + 0x632be59bd9b4e019ULL));
    h = mix64(h ^ (b * 0xa0761d6478bd642fULL + 0xe7037ed1a0b428dbULL));
    return h;
}

double nn_hash_uniform(uint64_t seed, uint64_t a, uint64_t b)
{
    return bits_to_unit(nn_hash64(seed, a, b));
}

uint64_t nn_fnv1a(const void *data, size_t bytes, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

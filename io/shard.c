/* io/shard.c - the train/validation split and the per-epoch batch plan
 * (see io/shard.h).
 *
 * Nothing here depends on the rank count: the split is a hash of the
 * global id, the epoch order a function of (seed, epoch, B), and a step's
 * rows are order positions [s*B, (s+1)*B). The rank count only decides
 * which of those rows a rank finds in its [lo, hi). Stream
 * order (truncated BPTT) is the exception: there the rank count decides
 * which streams, i.e. rows of the global batch, a rank processes.
 */
#include "io/shard.h"

#include <stdint.h> /* SIZE_MAX */
#include <stdlib.h> /* free */
#include <string.h> /* memset */

#include "nn/check.h"
#include "nn/rng.h"

/* Domain separators, so the split and the shuffle draw unrelated bits from
 * the same user seed (and from the other consumers of the seed). */
#define SHARD_VAL_SALT 0x76616c6964617465ULL  /* "validate" */
#define SHARD_PERM_SALT 0x7065726d75746521ULL /* "permute!" */

int io_shard_is_val(uint64_t seed, size_t id, double val_fraction)
{
    return nn_hash_uniform(seed ^ SHARD_VAL_SALT, (uint64_t)id, 0) <
           val_fraction;
}

void io_shard_plan(io_shard *s, size_t total, size_t lo, size_t hi,
                   uint64_t seed, double val_fraction)
{
    NN_CHECK(lo <= hi && hi <= total, "shard [%zu, %zu) outside %zu rows",
             lo, hi, total);
    memset(s, 0, sizeof *s);
    s->total = total;
    s->lo = lo;
    s->hi = hi;
    s->seed = seed;
    size_t n_val = 0;
    for (size_t id = 0; id < total; id++)
        n_val += (size_t)io_shard_is_val(seed, id, val_fraction);
    s->n_val = n_val;
    s->n_train = total - n_val;
    /* +1: valid (never dereferenced) pointers when a list is empty. */
    s->train = nn_xcalloc(s->n_train + 1, sizeof *s->train);
    s->val = nn_xcalloc(n_val + 1, sizeof *s->val);
    s->perm = nn_xcalloc(s->n_train + 1, sizeof *s->perm);
    s->scratch = nn_xcalloc(s->n_train + 1, sizeof *s->scratch);
    size_t t = 0, v = 0;
    for (size_t id = 0; id < total; id++) {
        if (io_shard_is_val(seed, id, val_fraction)) s->val[v++] = id;
        else s->train[t++] = id;
    }
    for (size_t i = 0; i < s->n_train; i++) s->perm[i] = i;
}

void io_shard_free(io_shard *s)
{
    if (!s) return;
    free(s->train);
    free(s->val);
    free(s->perm);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}

size_t io_shard_strata(size_t batch)
{
    size_t S = 1;
    while (S < IO_SHARD_MAX_STRATA && batch % (2 * S) == 0) S *= 2;
    return S;
}

void io_shard_epoch(io_shard *s, uint64_t epoch, size_t batch)
{
    NN_CHECK(batch > 0, "batch size 0");
    size_t S = io_shard_strata(batch), at = 0, longest = 0;
    size_t start[IO_SHARD_MAX_STRATA + 1];
    uint64_t base = nn_hash64(s->seed, epoch, SHARD_PERM_SALT);
    /* Stratum j: the training positions whose ids lie in file rows
     * [total*j/S, total*(j+1)/S) (train[] ascends, so a run of positions),
     * shuffled on its own into scratch. */
    for (size_t j = 0; j < S; j++) {
        size_t end_id = s->total * (j + 1) / S;
        start[j] = at;
        while (at < s->n_train && s->train[at] < end_id) at++;
        size_t n = at - start[j];
        for (size_t i = 0; i < n; i++) s->scratch[start[j] + i] = start[j] + i;
        nn_rng r;
        nn_rng_seed(&r, nn_hash64(base, j, 0));
        nn_rng_shuffle(&r, s->scratch + start[j], n);
        if (n > longest) longest = n;
    }
    start[S] = at;
    /* Round k takes the k-th row of every stratum that has one. */
    size_t q = 0;
    for (size_t k = 0; k < longest; k++)
        for (size_t j = 0; j < S; j++)
            if (start[j] + k < start[j + 1]) s->perm[q++] = s->scratch[start[j] + k];
    NN_CHECK(q == s->n_train, "epoch order has %zu of %zu rows", q,
             s->n_train);
}

size_t io_shard_steps(const io_shard *s, size_t batch)
{
    NN_CHECK(batch > 0, "batch size 0");
    return s->n_train / batch + (s->n_train % batch != 0);
}

/* Permutation positions of step `step`: [*begin, *end). */
static void step_range(const io_shard *s, size_t batch, size_t step,
                       size_t *begin, size_t *end)
{
    NN_CHECK(step < io_shard_steps(s, batch), "step %zu of %zu", step,
             io_shard_steps(s, batch));
    *begin = step * batch;
    *end = s->n_train - *begin < batch ? s->n_train : *begin + batch;
}

size_t io_shard_batch(const io_shard *s, size_t batch, size_t step,
                      size_t *local, uint64_t *ids, size_t *global_rows)
{
    size_t begin, end, k = 0;
    step_range(s, batch, step, &begin, &end);
    for (size_t p = begin; p < end; p++) {
        size_t id = s->train[s->perm[p]];
        if (id < s->lo || id >= s->hi) continue;
        if (local) local[k] = id - s->lo;
        if (ids) ids[k] = (uint64_t)id;
        k++;
    }
    if (global_rows) *global_rows = end - begin;
    return k;
}

size_t io_shard_max_rows(const io_shard *s, size_t batch)
{
    size_t steps = io_shard_steps(s, batch), best = 0;
    for (size_t step = 0; step < steps; step++) {
        size_t n = io_shard_batch(s, batch, step, NULL, NULL, NULL);
        if (n > best) best = n;
    }
    return best;
}

size_t io_shard_micro(size_t total, size_t m, size_t id)
{
    NN_CHECK(m > 0 && id < total && total <= SIZE_MAX / m,
             "micro-shard of row %zu of %zu (%zu blocks)", id, total, m);
    /* the largest j with floor(total*j/m) <= id */
    return ((id + 1) * m - 1) / total;
}

size_t io_shard_stream_steps(const io_shard *s, size_t batch)
{
    NN_CHECK(batch > 0, "batch size 0");
    return s->n_train / batch;
}

size_t io_shard_stream_batch(const io_shard *s, size_t batch, size_t step,
                             size_t part, size_t parts, size_t *local,
                             uint64_t *ids, size_t *global_rows)
{
    size_t S = io_shard_stream_steps(s, batch);
    NN_CHECK(step < S, "stream step %zu of %zu", step, S);
    NN_CHECK(parts >= 1 && part < parts && batch <= SIZE_MAX / parts,
             "bad part %zu of %zu", part, parts);
    /* This rank's streams [b0, b1): a fixed tiling of [0, B). */
    size_t b0 = batch * part / parts, b1 = batch * (part + 1) / parts;
    for (size_t b = b0; b < b1; b++) {
        size_t id = s->train[b * S + step];
        NN_CHECK(id >= s->lo && id < s->hi,
                 "stream row %zu (id %zu) outside this rank's [%zu, %zu)", b,
                 id, s->lo, s->hi);
        if (local) local[b - b0] = id - s->lo;
        if (ids) ids[b - b0] = (uint64_t)id;
    }
    if (global_rows) *global_rows = batch;
    return b1 - b0;
}

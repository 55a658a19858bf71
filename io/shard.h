/* io/shard.h - which rows each step uses, independent of the rank count.
 *
 * The global row ids of the training file are split into train and
 * validation by a seeded hash of the id (so the split is the same for every
 * rank count). Each epoch, every rank computes the same order of the
 * training ids from (seed, epoch, B); step s uses order positions
 * [s*B, min((s+1)*B, n_train)). A rank processes those rows of the batch it
 * holds in memory (its contiguous shard [lo, hi)). The gradient of a step is
 * therefore the same set of rows for any rank count; the loss is scaled by
 * 1 / (rows in the global batch) so the sum over ranks is the batch mean.
 *
 * The order is stratified so that ranks get equal shares: the file's rows
 * are cut into S contiguous strata (S = io_shard_strata(B), the largest
 * power of two dividing B, at most IO_SHARD_MAX_STRATA), each stratum's
 * training rows are shuffled on their own, and the order takes one row of
 * every stratum in turn. A batch of B rows thus holds B/S rows of each
 * stratum, and with p ranks, p dividing S, each rank's shard is S/p whole
 * strata: exactly B/p rows per step (but in an epoch's last rounds, where
 * strata of unequal size have run out). A plain shuffle gives each rank a
 * binomial count instead (64 +- 6 of 128), and the faster rank waits for
 * the slower one at every step.
 */
#ifndef IO_SHARD_H
#define IO_SHARD_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

typedef struct io_shard {
    size_t total;      /* rows in the file */
    size_t lo, hi;     /* rows this rank holds */
    size_t n_train;    /* global training rows */
    size_t *train;     /* their global ids, ascending */
    size_t n_val;
    size_t *val;       /* validation ids, ascending */
    size_t *perm;      /* current epoch's order: positions into train[] */
    size_t *scratch;   /* n_train positions, for building the order */
    uint64_t seed;
} io_shard;

/* Is global row `id` held out for validation? */
int io_shard_is_val(uint64_t seed, size_t id, double val_fraction);

/* Plan the split for a file of `total` rows of which this rank holds
 * [lo, hi). */
void io_shard_plan(io_shard *s, size_t total, size_t lo, size_t hi,
                   uint64_t seed, double val_fraction);
void io_shard_free(io_shard *s);

#define IO_SHARD_MAX_STRATA 64

/* Strata of the order for global batch B (see above). */
size_t io_shard_strata(size_t batch);

/* Compute epoch `epoch`'s order for global batch B (depends only on seed,
 * epoch, B and the split, not on the rank count or earlier epochs). */
void io_shard_epoch(io_shard *s, uint64_t epoch, size_t batch);

/* Steps per epoch for global batch B (the last batch may be short). */
size_t io_shard_steps(const io_shard *s, size_t batch);

/* Rows of step `step` this rank holds: writes their LOCAL row indices
 * (id - lo) and global ids; returns how many. *global_rows gets the global
 * batch's size. */
size_t io_shard_batch(const io_shard *s, size_t batch, size_t step,
                      size_t *local, uint64_t *ids, size_t *global_rows);

/* Largest number of rows this rank can get in any step of this epoch. */
size_t io_shard_max_rows(const io_shard *s, size_t batch);

/* MICRO-SHARDS (training.deterministic): the file's rows cut into m
 * contiguous blocks, block j = rows [total*j/m, total*(j+1)/m); a step's
 * micro-shard j is the rows of its batch from block j. With p ranks, p
 * dividing m, rank r holds exactly blocks [r*m/p, (r+1)*m/p) (its shard
 * [lo, hi) has the same bounds), so a micro-shard is never split between
 * ranks and its rows are the same for every such rank count. Returns the
 * block of global row `id` (< total) of a file of `total` rows. */
size_t io_shard_micro(size_t total, size_t m, size_t id);

/* STREAM ORDER (data.stream, truncated BPTT over one long text). The
 * n_train training ids, in file order, are cut into B = `batch` contiguous
 * streams of S = n_train / B ids each (the last n_train % B are dropped):
 * stream b is train[b*S .. (b+1)*S). Step s (0 <= s < S) of every epoch
 * uses id train[b*S + s] as row b of the global batch, so row b of step
 * s+1 continues row b of step s. There is no shuffle (the order is the
 * point) and io_shard_epoch does not affect it. Rank `part` of `parts`
 * always processes rows [B*part/parts, B*(part+1)/parts) (empty when
 * parts > B), so the state carried by row b stays on one rank; those ids
 * must lie in the rank's [lo, hi) (a fatal NN_CHECK otherwise): in stream
 * mode every rank holds all rows. */

/* Steps per epoch in stream order: S = n_train / batch (0 if too few). */
size_t io_shard_stream_steps(const io_shard *s, size_t batch);

/* Rows of step `step` (< S) in stream order for rank `part` of `parts`:
 * writes local indices (id - lo) and global ids in row order (stream
 * B*part/parts first) to local / ids (either may be NULL), returns their
 * number; *global_rows (may be NULL) gets B. */
size_t io_shard_stream_batch(const io_shard *s, size_t batch, size_t step,
                             size_t part, size_t parts, size_t *local,
                             uint64_t *ids, size_t *global_rows);

#endif

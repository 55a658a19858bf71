/* trainer/sampler_stratified.c - the default order: every epoch a new
 * stratified shuffle of the training rows, the same for any rank count
 * (io/shard.h). Its state is the run's position alone. */
#include <stdio.h>
#include <string.h>

#include "trainer/sampler.h"

static size_t steps(const tr_run *r)
{
    return io_shard_steps(&r->s->shard, r->s->cfg.train.batch_size);
}

static void epoch(tr_run *r, uint64_t e)
{
    io_shard_epoch(&r->s->shard, e, r->s->cfg.train.batch_size);
}

static size_t max_rows(const tr_run *r)
{
    return io_shard_max_rows(&r->s->shard, r->s->cfg.train.batch_size);
}

static size_t batch(const tr_run *r, size_t step, size_t *local,
                    uint64_t *ids, size_t *global)
{
    return io_shard_batch(&r->s->shard, r->s->cfg.train.batch_size, step,
                          local, ids, global);
}

/* A block of the file's rows (io_shard_micro): rank r's shard is the
 * union of its blocks. */
static size_t micro_shard(const tr_run *r, size_t m, uint64_t id)
{
    return io_shard_micro(r->s->shard.total, m, (size_t)id);
}

const tr_sampler_ops tr_sampler_stratified = {
    .name = "stratified",
    .steps = steps,
    .epoch = epoch,
    .max_rows = max_rows,
    .batch = batch,
    .micro_shard = micro_shard,
};

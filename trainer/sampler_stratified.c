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

const tr_sampler_ops tr_sampler_stratified = {
    .name = "stratified",
    .steps = steps,
    .epoch = epoch,
    .max_rows = max_rows,
    .batch = batch,
};

/* The samplers: a new one is its file plus one line here. */
static const tr_sampler_ops *const registry[] = {
    &tr_sampler_stratified,
    &tr_sampler_stream,
};

const tr_sampler_ops *tr_sampler_of(const io_data_cfg *d)
{
    const char *name = d->sampler ? d->sampler
                       : d->stream ? "stream" : "stratified";
    for (size_t i = 0; i < sizeof registry / sizeof *registry; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

int tr_sampler_pick(tr_session *s, const tr_sampler_ops **out)
{
    *out = tr_sampler_of(&s->cfg.data);
    if (*out) return 0;
    char where[4200] = "", known[128] = "";
    io_config_where(&s->cfg, "data.sampler", where, sizeof where);
    for (size_t i = 0, n = 0; i < sizeof registry / sizeof *registry; i++)
        n += (size_t)snprintf(known + n, sizeof known - n, "%s%s",
                              i ? ", " : "", registry[i]->name);
    return nn_error_set(&s->err, NN_EXIT_USAGE,
                        "%s: data.sampler: unknown '%s' (known: %s)", where,
                        s->cfg.data.sampler, known);
}

/* trainer/sampler.h - which training rows each step of an epoch uses, as
 * an ops table: one file per sampler plus one line in the registry of
 * trainer/sampler.c (trainer/registry.h looks names up).
 *
 *  - "stratified" (trainer/sampler_stratified.c, the default): every epoch
 *    a new order of the training rows, the same on every rank count
 *    (io/shard.h); the last step of an epoch may be short;
 *  - "stream" (trainer/sampler_stream.c, data.stream): truncated BPTT over
 *    one long text, row b of step s+1 continuing row b of step s; the
 *    stateful layers' carried state is part of the sampler's checkpoint
 *    state ("stream_state").
 */
#ifndef TRAINER_SAMPLER_H
#define TRAINER_SAMPLER_H

#include "trainer/run.h"

typedef struct tr_sampler_ops {
    const char *name;
    /* Whether every rank loads every training row (stream order) instead
     * of its shard. */
    int whole_data;
    /* Steps per epoch (0: too few rows; the message says why). */
    size_t (*steps)(const tr_run *r);
    /* Make epoch `epoch`'s order. */
    void (*epoch)(tr_run *r, uint64_t epoch);
    /* Most local rows any step of the current epoch gives this rank. */
    size_t (*max_rows)(const tr_run *r);
    /* Step `step`'s local row indices and global ids (n returned);
     * *global gets the global batch's rows. */
    size_t (*batch)(const tr_run *r, size_t step, size_t *local,
                    uint64_t *ids, size_t *global);
    /* Optional (training.deterministic needs it): the micro-shard, of m,
     * that global row `id` belongs to; the same for every rank count p
     * dividing m, and rank r of p must own exactly the rows of
     * micro-shards [r*m/p, (r+1)*m/p). */
    size_t (*micro_shard)(const tr_run *r, size_t m, uint64_t id);
    /* Optional: after the models' state was reset at an epoch's start. */
    void (*begin_epoch)(tr_run *r);
    /* Optional, collective: add the sampler's state to a checkpoint (c's
     * section data must stay valid until *keep is freed). */
    int (*save)(tr_run *r, io_ckpt *c, void **keep);
    /* Optional, collective: take it from rank 0's c (resume). */
    int (*load)(tr_run *r, io_ckpt *c, const char *path);
} tr_sampler_ops;

extern const tr_sampler_ops tr_sampler_stratified;
extern const tr_sampler_ops tr_sampler_stream;

/* The sampler the data section asks for (data.sampler, else stream with
 * data.stream, else stratified); NULL for an unknown name. */
const tr_sampler_ops *tr_sampler_of(const io_data_cfg *d);
/* The same, or NN_EXIT_USAGE naming where data.sampler was set and the
 * known samplers. */
int tr_sampler_pick(tr_session *s, const tr_sampler_ops **out);

#endif

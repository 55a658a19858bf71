/* trainer/sampler_stream.c - truncated backpropagation through time over
 * one long text (data.stream, io/shard.h STREAM ORDER): row b of step s+1
 * continues row b of step s, rank r always holds rows [B*r/p, B*(r+1)/p),
 * and the stateful layers carry their state from step to step.
 *
 * Checkpoint state: mid-epoch, section "stream_state" = u64 B, u64 width,
 * f32 [B, width], every stream's carried state in global row order
 * (nn_recurrent_model_get_state of the first group's model), gathered to
 * rank 0 at a save; a resume hands each rank its rows, on any rank count,
 * and they are put into the model when the resumed epoch starts. A file
 * without the section, or with one for another batch size or model, only
 * warns: the streams then restart from zero state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/recurrent.h"
#include "trainer/sampler.h"

#define HEAD 16 /* u64 B, u64 width */

static size_t B_of(const tr_run *r)
{
    return r->s->cfg.train.batch_size;
}

static size_t rows_of(const tr_run *r, size_t rank, size_t p)
{
    return io_shard_stream_batch(&r->s->shard, B_of(r), 0, rank, p, NULL,
                                 NULL, NULL);
}

static size_t steps(const tr_run *r)
{
    return io_shard_stream_steps(&r->s->shard, B_of(r));
}

static void epoch(tr_run *r, uint64_t e)
{
    (void)r, (void)e; /* the order is the point: no shuffle */
}

static size_t max_rows(const tr_run *r)
{
    return rows_of(r, (size_t)r->s->rank, (size_t)r->s->size);
}

static size_t batch(const tr_run *r, size_t step, size_t *local,
                    uint64_t *ids, size_t *global)
{
    return io_shard_stream_batch(&r->s->shard, B_of(r), step,
                                 (size_t)r->s->rank, (size_t)r->s->size,
                                 local, ids, global);
}

static void begin_epoch(tr_run *r)
{
    if (!r->sampler.carried) return;
    nn_recurrent_model_set_state(r->groups[0]->model, max_rows(r),
                                 r->sampler.carried);
    free(r->sampler.carried);
    r->sampler.carried = NULL;
}

/* Floats of carried state per stream when mid-epoch with stateful layers
 * (the only case with a section); else 0. The same on every rank. */
static size_t width_now(const tr_run *r)
{
    if (!r->step_in_epoch) return 0;
    return nn_recurrent_model_state_width(r->groups[0]->model);
}

static int save(tr_run *r, io_ckpt *c, void **keep)
{
    tr_session *s = r->s;
    size_t width = width_now(r);
    *keep = NULL;
    if (!width) return 0;
    size_t p = (size_t)s->size, B = B_of(r);
    size_t n = rows_of(r, (size_t)s->rank, p), row = width * sizeof(float);
    float *mine = nn_xalloc_floats(n * width + 1);
    nn_recurrent_model_get_state(r->groups[0]->model, n, mine);
    uint8_t *rec = NULL;
    size_t *lens = NULL;
    if (s->rank == 0) {
        uint64_t head[2] = {B, width};
        rec = nn_xmalloc(HEAD + B * row);
        memcpy(rec, head, HEAD);
        lens = nn_xmalloc(p * sizeof *lens);
        for (size_t k = 0; k < p; k++) lens[k] = rows_of(r, k, p) * row;
    }
    int bad = comm_gatherv_bytes(s->comm, mine, n * row,
                                 rec ? rec + HEAD : NULL, lens, 0);
    if (s->rank == 0 && !bad) {
        io_ckpt_add(c, "stream_state", rec, HEAD + B * row, 0);
        *keep = rec;
    } else {
        free(rec);
    }
    free(mine), free(lens);
    int st = bad ? nn_error_set(&s->err, NN_EXIT_OTHER,
                                "checkpoint: cannot gather the streams' "
                                "carried state from the ranks")
                 : 0;
    return tr_agree(s, st);
}

static int load(tr_run *r, io_ckpt *c, const char *path)
{
    tr_session *s = r->s;
    size_t width = width_now(r);
    if (s->rank == 0) io_ckpt_find(c, "stream_state"); /* known, even unused */
    if (!width) return 0;
    size_t p = (size_t)s->size, B = B_of(r);
    size_t bytes = B * width * sizeof(float);
    io_ckpt_section *sec = NULL;
    uint64_t ok = 0;
    if (s->rank == 0) {
        uint64_t head[2] = {0, 0};
        sec = io_ckpt_find(c, "stream_state");
        if (sec && sec->len >= HEAD) memcpy(head, sec->data, HEAD);
        ok = head[0] == B && head[1] == width && sec->len == HEAD + bytes;
        if (!ok)
            fprintf(stderr, "axon: warning: %s: %s; the streams restart "
                            "from zero state\n", path,
                    sec ? "its carried state is for another batch size or "
                          "model"
                        : "it holds no carried state");
    }
    if (comm_bcast_bytes(s->comm, &ok, sizeof ok, 0)) return NN_EXIT_OTHER;
    if (!ok) return 0;
    float *all = nn_xalloc_floats(B * width);
    if (s->rank == 0) memcpy(all, (const uint8_t *)sec->data + HEAD, bytes);
    int bad = comm_bcast_bytes(s->comm, all, bytes, 0);
    size_t first = 0, n = rows_of(r, (size_t)s->rank, p);
    for (size_t k = 0; k < (size_t)s->rank; k++) first += rows_of(r, k, p);
    free(r->sampler.carried);
    r->sampler.carried = nn_xalloc_floats(n * width + 1);
    memcpy(r->sampler.carried, all + first * width, n * width * sizeof(float));
    free(all);
    return bad ? NN_EXIT_OTHER : 0;
}

const tr_sampler_ops tr_sampler_stream = {
    .name = "stream",
    .whole_data = 1,
    .steps = steps,
    .epoch = epoch,
    .max_rows = max_rows,
    .batch = batch,
    .begin_epoch = begin_epoch,
    .save = save,
    .load = load,
};

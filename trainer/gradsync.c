/* trainer/gradsync.c - see gradsync.h. */
#include "trainer/gradsync.h"

#include <stdlib.h>

#include "nn/check.h"

static int synced(const nn_segment *s)
{
    return s->trainable && !(s->flags & NN_PARAM_BUFFER) && s->count;
}

static void plan_ranges(tr_gradsync *g, const nn_model *m)
{
    g->ranges = nn_xcalloc(m->n_segs + 1, sizeof *g->ranges);
    for (size_t i = 0; i < m->n_segs; i++) {
        const nn_segment *s = &m->segs[i];
        if (!synced(s)) continue;
        tr_range *last = g->n_ranges ? &g->ranges[g->n_ranges - 1] : NULL;
        if (last && last->offset + last->count == s->offset)
            last->count += s->count; /* adjacent: one range */
        else
            g->ranges[g->n_ranges++] = (tr_range){s->offset, s->count};
        g->count += s->count;
    }
}

/* Walk the layers last to first, growing the open bucket downwards over
 * each synced segment (segments of a layer taken high to low) while they
 * stay contiguous; a gap starts a new bucket, and so does a layer
 * boundary once the open bucket holds TR_BUCKET_FLOATS. */
static void plan_buckets(tr_gradsync *g, const nn_model *m)
{
    g->buckets = nn_xcalloc(m->n_segs + 1, sizeof *g->buckets);
    tr_bucket *open = NULL;
    for (size_t i = m->n_layers; i-- > 0;) {
        const nn_layer *l = &m->layers[i];
        size_t base = (size_t)(l->param - m->params);
        for (size_t v = l->n_views; v-- > 0;) {
            nn_segment s = {base + l->views[v].offset, l->views[v].count,
                            l->views[v].flags, l->trainable};
            if (!synced(&s)) continue;
            if (!open || open->offset != s.offset + s.count) {
                open = &g->buckets[g->n_buckets++];
                *open = (tr_bucket){s.offset + s.count, 0, i, -1};
            }
            open->offset = s.offset;
            open->count += s.count;
            open->ready = i;
        }
        if (open && open->count >= TR_BUCKET_FLOATS) open = NULL;
    }
}

void tr_gradsync_plan(tr_gradsync *g, const nn_model *m)
{
    *g = (tr_gradsync){0};
    plan_ranges(g, m);
    plan_buckets(g, m);
}

void tr_gradsync_set_mode(tr_gradsync *g, tr_sync_mode mode)
{
    g->mode = mode;
    g->decided = 0;
}

/* The shared arena: where m's gradients already are, the one this plan
 * used before (mode switches), or a new one (collective). 1 if m's
 * gradients now live in node-shared memory. */
static int use_shared(tr_gradsync *g, comm_ctx *c, nn_model *m)
{
    if (comm_is_shared(c, m->grads, m->n_params)) return 1;
    if (!g->arena) g->arena = comm_alloc_shared(c, m->n_params);
    if (!g->arena) return 0;
    nn_model_use_grad_arena(m, g->arena);
    return 1;
}

/* Settle the active mode, alike on every rank: the inputs (mode, ranks,
 * nodes, where the arena is) are the same everywhere. */
static void decide(tr_gradsync *g, comm_ctx *c, nn_model *m)
{
    if (g->decided) return;
    g->decided = 1;
    tr_sync_mode want = g->mode;
    if (comm_size(c) == 1) {
        g->active = TR_SYNC_BLOCKING; /* nothing to sum */
        return;
    }
    if (want == TR_SYNC_AUTO || want == TR_SYNC_SHARED) {
        if (use_shared(g, c, m)) {
            g->active = TR_SYNC_SHARED;
            return;
        }
        want = want == TR_SYNC_AUTO ? TR_SYNC_OVERLAP : TR_SYNC_BLOCKING;
    }
    if (comm_is_shared(c, m->grads, m->n_params))
        nn_model_use_grad_arena(m, NULL); /* back to private memory */
    g->active = want;
}

void tr_gradsync_free(tr_gradsync *g)
{
    if (g->armed && g->model) nn_model_set_backward_hook(g->model, NULL, NULL);
    free(g->ranges);
    free(g->buckets);
    *g = (tr_gradsync){0};
}

static void start_bucket(tr_gradsync *g, tr_bucket *b)
{
    if (comm_iallreduce_sum(g->comm, g->model->grads + b->offset, b->count,
                            &b->req))
        g->failed = 1;
}

/* Test the buckets in flight, oldest first, until one is not done: MPI
 * progresses non-blocking collectives only inside MPI calls. */
static void poll_buckets(tr_gradsync *g)
{
    while (g->polled < g->next) {
        int done = 0;
        if (comm_test(g->comm, g->buckets[g->polled].req, &done)) {
            g->failed = 1;
            return;
        }
        if (!done) return;
        g->buckets[g->polled++].req = -1;
    }
}

/* Backward hook: layer `layer` is finished; start every bucket it
 * completes (buckets complete in planned order: their ready layers
 * decrease), then progress the ones in flight. */
static void on_layer_done(void *ctx, size_t layer)
{
    tr_gradsync *g = ctx;
    if (g->failed) return;
    while (g->next < g->n_buckets && g->buckets[g->next].ready >= layer)
        start_bucket(g, &g->buckets[g->next++]);
    poll_buckets(g);
}

void tr_gradsync_begin(tr_gradsync *g, comm_ctx *c, nn_model *m)
{
    decide(g, c, m);
    g->comm = c;
    g->model = m;
    g->failed = 0;
    g->next = g->polled = 0;
    g->armed = g->active == TR_SYNC_OVERLAP;
    if (g->armed) nn_model_set_backward_hook(m, on_layer_done, g);
}

/* Start what is left, in order, and wait for everything in flight. */
static int finish(tr_gradsync *g)
{
    nn_model_set_backward_hook(g->model, NULL, NULL);
    g->armed = 0;
    while (!g->failed && g->next < g->n_buckets)
        start_bucket(g, &g->buckets[g->next++]);
    int bad = g->failed;
    for (size_t i = g->polled; i < g->next; i++) {
        bad |= comm_wait(g->comm, g->buckets[i].req);
        g->buckets[i].req = -1;
    }
    g->polled = g->next;
    return bad;
}

int tr_gradsync_run(tr_gradsync *g, comm_ctx *c, nn_model *m)
{
    decide(g, c, m);
    if (g->armed) return finish(g);
    if (comm_size(c) == 1) return 0;
    /* blocking, or shared: then comm sums in place in the shared arena */
    for (size_t i = 0; i < g->n_ranges; i++)
        if (comm_allreduce_sum(c, m->grads + g->ranges[i].offset,
                               g->ranges[i].count))
            return 1;
    return 0;
}

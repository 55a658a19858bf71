/* trainer/gradsync.c - see gradsync.h. */
#include "trainer/gradsync.h"

#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/simd.h"

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

/* The buffer segments (running statistics), merged where adjacent. */
static void plan_buffers(tr_tree *t, const nn_model *m)
{
    t->bufs = nn_xcalloc(m->n_segs + 1, sizeof *t->bufs);
    for (size_t i = 0; i < m->n_segs; i++) {
        const nn_segment *s = &m->segs[i];
        if (!(s->flags & NN_PARAM_BUFFER) || !s->count) continue;
        tr_range *last = t->n_bufs ? &t->bufs[t->n_bufs - 1] : NULL;
        if (last && last->offset + last->count == s->offset)
            last->count += s->count;
        else
            t->bufs[t->n_bufs++] = (tr_range){s->offset, s->count};
        t->buf_count += s->count;
    }
}

void tr_gradsync_plan(tr_gradsync *g, const nn_model *m)
{
    *g = (tr_gradsync){0};
    plan_ranges(g, m);
    plan_buckets(g, m);
    plan_buffers(&g->tree, m);
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
    if (want == TR_SYNC_TREE) {
        if (comm_is_shared(c, m->grads, m->n_params))
            nn_model_use_grad_arena(m, NULL); /* private memory */
        g->active = TR_SYNC_TREE;
        return;
    }
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
    free(g->tree.bufs);
    free(g->tree.start);
    free(g->tree.f);
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
    NN_CHECK(g->active != TR_SYNC_TREE, "tree mode sums in tr_gradsync_tree_run");
    if (g->armed) return finish(g);
    if (comm_size(c) == 1) return 0;
    /* blocking, or shared: then comm sums in place in the shared arena */
    for (size_t i = 0; i < g->n_ranges; i++)
        if (comm_allreduce_sum(c, m->grads + g->ranges[i].offset,
                               g->ranges[i].count))
            return 1;
    return 0;
}

/* ---- the fixed tree ---------------------------------------------------- */

/* Copy the runs of arena `a` to consecutive floats of `flat` (out = 1) or
 * back (out = 0). */
static void pack(float *flat, float *a, const tr_range *runs, size_t n,
                 int out)
{
    for (size_t i = 0, at = 0; i < n; at += runs[i].count, i++) {
        float *p = a + runs[i].offset;
        if (out) memcpy(flat + at, p, runs[i].count * sizeof *p);
        else memcpy(p, flat + at, runs[i].count * sizeof *p);
    }
}

/* Slot d of the stack: slot 0 (the rank's partial sum, in the end) in
 * node-shared memory when the job has one, so the ranks sum in place. */
static float *slot(const tr_tree *t, size_t d)
{
    return d == 0 && t->shared ? t->shared : t->f + d * t->width;
}

void tr_gradsync_tree_begin(tr_gradsync *g, comm_ctx *c, nn_model *m,
                            size_t n_leaves, size_t n_sums)
{
    tr_tree *t = &g->tree;
    size_t slots = 1;
    while ((size_t)1 << (slots - 1) < n_leaves) slots++;
    NN_CHECK(n_sums <= TR_TREE_SUMS && slots <= TR_TREE_LEVELS &&
             !(n_leaves & (n_leaves - 1)),
             "tree: %zu figures, %zu leaves", n_sums, n_leaves);
    if (!t->start) { /* the first step (collective: every rank is here) */
        t->width = g->count + t->buf_count;
        t->start = nn_xalloc_floats(t->buf_count + 1);
        /* AXON_TREE_BY_MESSAGES=1 (tests): the path of a job on several
         * nodes, on one (the same on every rank: mpirun passes it on) */
        const char *msg = getenv("AXON_TREE_BY_MESSAGES");
        if (comm_size(c) > 1 && !(msg && !strcmp(msg, "1")))
            t->shared = comm_alloc_shared(c, t->width + 1);
    }
    if (slots > t->slots) { /* a stack of slots partial sums */
        free(t->f);
        t->f = nn_xalloc_floats(nn_mul_size(slots, t->width) + 1);
        t->slots = slots;
    }
    t->n_sums = n_sums;
    t->want = n_leaves;
    t->depth = t->leaves = 0;
    pack(t->start, m->params, t->bufs, t->n_bufs, 1);
    nn_model_zero_grad(m);
}

/* a[i] += b[i]: one node of the tree from its two children (vector or
 * scalar, each element is the same one float addition). */
static NN_KERNEL void add_floats(float *restrict a, const float *restrict b,
                                 size_t n)
{
    size_t i = 0;
    for (; i + NN_VW <= n; i += NN_VW)
        NN_STORE(a + i, NN_LOAD(a + i) + NN_LOAD(b + i));
    for (; i < n; i++) a[i] += b[i];
}

/* flat += the runs of arena `a`, packed as pack() packs them. */
static void add_runs(float *flat, const float *a, const tr_range *runs,
                     size_t n)
{
    for (size_t i = 0, at = 0; i < n; at += runs[i].count, i++)
        add_floats(flat + at, a + runs[i].offset, runs[i].count);
}

void tr_gradsync_leaf(tr_gradsync *g, nn_model *m, double *sums)
{
    tr_tree *t = &g->tree;
    if (t->depth && t->level[t->depth - 1] == 0) {
        /* an odd leaf: added straight onto its sibling, no copy */
        float *left = slot(t, t->depth - 1);
        add_runs(left, m->grads, g->ranges, g->n_ranges);
        add_runs(left + g->count, m->params, t->bufs, t->n_bufs);
        for (size_t i = 0; i < t->n_sums; i++) t->sums[t->depth - 1][i] += sums[i];
        t->level[t->depth - 1] = 1;
    } else {
        NN_CHECK(t->depth < t->slots, "tree: more leaves than planned");
        float *leaf = slot(t, t->depth);
        pack(leaf, m->grads, g->ranges, g->n_ranges, 1);
        pack(leaf + g->count, m->params, t->bufs, t->n_bufs, 1);
        memcpy(t->sums[t->depth], sums, t->n_sums * sizeof *sums);
        t->level[t->depth++] = 0;
    }
    memset(sums, 0, t->n_sums * sizeof *sums);
    t->leaves++;
    /* Binary counter: two partial sums of equal size become their parent,
     * so after 2^k leaves the stack holds the root of their subtree. */
    while (t->depth >= 2 && t->level[t->depth - 1] == t->level[t->depth - 2]) {
        size_t d = t->depth - 2;
        add_floats(slot(t, d), slot(t, d + 1), t->width);
        for (size_t i = 0; i < t->n_sums; i++) t->sums[d][i] += t->sums[d + 1][i];
        t->level[d]++;
        t->depth--;
    }
    nn_model_zero_grad(m);
    pack(t->start, m->params, t->bufs, t->n_bufs, 0);
}

void tr_gradsync_tree_local(const tr_gradsync *g, double *out)
{
    const tr_tree *t = &g->tree;
    NN_CHECK(t->depth == 1 && t->leaves == t->want,
             "tree: %zu leaves of %zu", t->leaves, t->want);
    memcpy(out, t->sums[0], t->n_sums * sizeof *out);
}

/* Rank 0: the p partials all[p][k] (rank order) summed in place in the
 * fixed tree (rank 2i + rank 2i+1, then pairs of those, ...) into all[0]. */
static void fold_ranks(float *all, size_t k, size_t p)
{
    for (size_t s = 1; s < p; s *= 2)
        for (size_t i = 0; i + s < p; i += 2 * s)
            add_floats(all + i * k, all + (i + s) * k, k);
}

void tr_tree_fold_d(double *all, size_t k, size_t p)
{
    for (size_t s = 1; s < p; s *= 2)
        for (size_t i = 0; i + s < p; i += 2 * s)
            for (size_t j = 0; j < k; j++) all[i * k + j] += all[(i + s) * k + j];
}

/* Floats per message of the cross-rank sum: rank 0 holds p of them. */
#define TREE_CHUNK ((size_t)1 << 22)

/* Without shared memory: the p partials gathered to rank 0 in pieces,
 * added there in the tree, the root broadcast into every rank's `mine`. */
static int sum_by_messages(tr_tree *t, comm_ctx *c, float *mine)
{
    size_t p = (size_t)comm_size(c), k = t->width < TREE_CHUNK ? t->width : TREE_CHUNK;
    int root = comm_rank(c) == 0, bad = 0;
    float *all = root ? nn_xalloc_floats(nn_mul_size(p, k) + 1) : NULL;
    for (size_t at = 0; !bad && at < t->width; at += k) {
        size_t len = t->width - at < k ? t->width - at : k;
        bad = comm_gather_bytes(c, mine + at, len * sizeof *mine, all, 0);
        if (!bad && root) {
            /* gathered back to back: rank i at all + i * len */
            fold_ranks(all, len, p);
            memcpy(mine + at, all, len * sizeof *mine);
        }
        bad = bad || comm_bcast_bytes(c, mine + at, len * sizeof *mine, 0);
    }
    free(all);
    return bad;
}

/* The figures sums[0, n) of every rank added in the tree on rank 0, and
 * broadcast. */
static int sum_figures(comm_ctx *c, double *sums, size_t n)
{
    size_t p = (size_t)comm_size(c);
    double d[TR_TREE_SUMS * 8];
    double *ds = comm_rank(c) != 0 ? NULL
                 : p * n <= sizeof d / sizeof *d ? d
                                                 : nn_xcalloc(p * n + 1, sizeof *ds);
    int bad = comm_gather_bytes(c, sums, n * sizeof *sums, ds, 0);
    if (!bad && ds) {
        tr_tree_fold_d(ds, n, p);
        memcpy(sums, ds, n * sizeof *sums);
    }
    if (ds != d) free(ds);
    return bad || comm_bcast_bytes(c, sums, n * sizeof *sums, 0);
}

int tr_gradsync_tree_run(tr_gradsync *g, comm_ctx *c, nn_model *m,
                         double *sums, size_t n)
{
    tr_tree *t = &g->tree;
    size_t p = (size_t)comm_size(c);
    NN_CHECK(t->depth == 1 && t->leaves == t->want && n <= TR_TREE_SUMS,
             "tree: %zu leaves of %zu, %zu figures", t->leaves, t->want, n);
    float *mine = slot(t, 0); /* this rank's partial; the root when done */
    if (p > 1) {
        int bad = t->shared ? comm_tree_sum(c, mine, t->width)
                            : sum_by_messages(t, c, mine);
        if (bad || sum_figures(c, sums, n)) return 1;
    }
    pack(mine, m->grads, g->ranges, g->n_ranges, 0);
    t->total = t->leaves * p;
    return 0;
}

void tr_gradsync_tree_buffers(tr_gradsync *g, nn_model *m)
{
    tr_tree *t = &g->tree;
    float *sum = slot(t, 0) + g->count, inv = 1.0f / (float)t->total;
    /* the mean of the M leaves' buffers: M a power of two, so exact */
    for (size_t i = 0; i < t->buf_count; i++) sum[i] *= inv;
    pack(sum, m->params, t->bufs, t->n_bufs, 0);
}

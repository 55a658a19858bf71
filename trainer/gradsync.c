/* trainer/gradsync.c - see gradsync.h. */
#include "trainer/gradsync.h"

#include <stdlib.h>

#include "nn/check.h"

void tr_gradsync_plan(tr_gradsync *g, const nn_model *m)
{
    g->ranges = nn_xcalloc(m->n_segs + 1, sizeof *g->ranges);
    g->n_ranges = 0;
    g->count = 0;
    for (size_t i = 0; i < m->n_segs; i++) {
        const nn_segment *s = &m->segs[i];
        if (!s->trainable || (s->flags & NN_PARAM_BUFFER) || !s->count) continue;
        tr_range *last = g->n_ranges ? &g->ranges[g->n_ranges - 1] : NULL;
        if (last && last->offset + last->count == s->offset)
            last->count += s->count; /* adjacent: one range */
        else
            g->ranges[g->n_ranges++] = (tr_range){s->offset, s->count};
        g->count += s->count;
    }
}

void tr_gradsync_free(tr_gradsync *g)
{
    free(g->ranges);
    g->ranges = NULL;
    g->n_ranges = 0;
}

int tr_gradsync_run(tr_gradsync *g, comm_ctx *c, nn_model *m)
{
    for (size_t i = 0; i < g->n_ranges; i++)
        if (comm_allreduce_sum(c, m->grads + g->ranges[i].offset,
                               g->ranges[i].count))
            return 1;
    return 0;
}

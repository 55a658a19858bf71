/* trainer/sampler.c - the registry of samplers (trainer/sampler.h): a
 * new sampler is one file plus one line here. */
#include <stdio.h>
#include <string.h>

#include "trainer/registry.h"
#include "trainer/sampler.h"

static const void *const registry[] = {
    &tr_sampler_stratified,
    &tr_sampler_stream,
};
#define N_REGISTRY (sizeof registry / sizeof *registry)

const tr_sampler_ops *tr_sampler_of(const io_data_cfg *d)
{
    const char *name = d->sampler ? d->sampler
                       : d->stream ? "stream" : "stratified";
    return tr_registry_find(registry, N_REGISTRY, name);
}

int tr_sampler_pick(tr_session *s, const tr_sampler_ops **out)
{
    *out = tr_sampler_of(&s->cfg.data);
    if (*out) return 0;
    return tr_registry_unknown(&s->cfg, registry, N_REGISTRY, "data.sampler",
                               s->cfg.data.sampler, &s->err);
}

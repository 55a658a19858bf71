/* trainer/objective.c - the registry of objectives (trainer/objective.h):
 * a new objective is one file plus one line here. */
#include <string.h>

#include "trainer/objective.h"

extern const tr_objective_ops tr_obj_supervised;
extern const tr_objective_ops tr_obj_gan;

static const tr_objective_ops *const registry[] = {
    &tr_obj_supervised,
    &tr_obj_gan,
};

const tr_objective_ops *tr_objective_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof registry / sizeof *registry; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

const char *tr_objective_of(const io_config *cfg)
{
    return cfg->gan.enabled ? "gan" : "supervised";
}

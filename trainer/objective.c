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
    if (cfg->objective) return cfg->objective;
    return cfg->gan.enabled ? "gan" : "supervised";
}

int tr_objective_pick(tr_session *s, const tr_objective_ops **out)
{
    const char *name = tr_objective_of(&s->cfg);
    *out = tr_objective_find(name);
    if (*out) return 0;
    char where[4200] = "", known[256] = "";
    io_config_where(&s->cfg, "objective", where, sizeof where);
    for (size_t i = 0, n = 0; i < sizeof registry / sizeof *registry; i++)
        n += (size_t)snprintf(known + n, sizeof known - n, "%s%s",
                              i ? ", " : "", registry[i]->name);
    return nn_error_set(&s->err, NN_EXIT_USAGE,
                        "%s: objective: unknown '%s' (known: %s)", where, name,
                        known);
}

int tr_objective_foreign(tr_session *s, const char *const *keys,
                         const char *owner, const char *mine)
{
    char where[4200];
    for (size_t i = 0; keys[i]; i++)
        if (io_config_where(&s->cfg, keys[i], where, sizeof where))
            return nn_error_set(&s->err, NN_EXIT_USAGE,
                                "%s: %s: belongs to the '%s' objective; this "
                                "config trains '%s' (remove the key, or set "
                                "objective: %s)",
                                where, keys[i], owner, mine, owner);
    return 0;
}

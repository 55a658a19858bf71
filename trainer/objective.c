/* trainer/objective.c - the registry of objectives (trainer/objective.h):
 * a new objective is one file plus one line here. */
#include <string.h>

#include "trainer/objective.h"
#include "trainer/registry.h"

extern const tr_objective_ops tr_obj_supervised;
extern const tr_objective_ops tr_obj_gan;
extern const tr_objective_ops tr_obj_ppo;

static const void *const registry[] = {
    &tr_obj_supervised,
    &tr_obj_gan,
    &tr_obj_ppo,
};
#define N_REGISTRY (sizeof registry / sizeof *registry)

const tr_objective_ops *tr_objective_find(const char *name)
{
    return tr_registry_find(registry, N_REGISTRY, name);
}

const char *tr_objective_of(const io_config *cfg)
{
    char where[8];
    if (cfg->objective) return cfg->objective;
    for (size_t i = 0; i < N_REGISTRY; i++) {
        const tr_objective_ops *o = registry[i];
        if (o->schema && o->schema->section &&
            io_config_where(cfg, o->schema->section, where, sizeof where))
            return o->name;
    }
    return "supervised";
}

int tr_objective_pick(tr_session *s, const tr_objective_ops **out)
{
    const char *name = tr_objective_of(&s->cfg);
    *out = tr_objective_find(name);
    if (*out) return 0;
    return tr_registry_unknown(&s->cfg, registry, N_REGISTRY, "objective",
                               name, &s->err);
}

const io_schema *const *tr_config_schemas(void)
{
    static const io_schema *list[N_REGISTRY + 1];
    size_t n = 0;
    for (size_t i = 0; i < N_REGISTRY; i++) {
        const tr_objective_ops *o = registry[i];
        if (o->schema) list[n++] = o->schema;
    }
    list[n] = NULL;
    return list;
}

/* The first key of fragment sc that cfg sets, or NULL. */
static const char *first_given(const io_config *cfg, const io_schema *sc)
{
    char where[8];
    if (sc->section && io_config_where(cfg, sc->section, where, sizeof where))
        return sc->section;
    for (size_t i = 0; i < sc->n_keys; i++)
        if (io_config_where(cfg, sc->keys[i].key, where, sizeof where))
            return sc->keys[i].key;
    return NULL;
}

static int check(const io_config *cfg, nn_error *err)
{
    const char *name = tr_objective_of(cfg);
    const tr_objective_ops *mine = tr_objective_find(name);
    if (!mine)
        return tr_registry_unknown(cfg, registry, N_REGISTRY, "objective",
                                   name, err);
    for (size_t i = 0; i < N_REGISTRY; i++) {
        const tr_objective_ops *o = registry[i];
        const char *key = o == mine || !o->schema ? NULL
                          : first_given(cfg, o->schema);
        if (key)
            return io_config_error(cfg, key, err, "belongs to the '%s' "
                                   "objective; this config trains '%s' "
                                   "(remove the key, or set objective: %s)",
                                   o->name, name, o->name);
    }
    const io_schema *sc = mine->schema;
    return sc && sc->check ? sc->check(cfg, io_config_values(cfg, sc), err) : 0;
}

int tr_config_parse(io_config *cfg, const char *path, const char *text,
                    size_t len, char *const *sets, size_t n_sets,
                    nn_error *err)
{
    int st = io_config_parse(cfg, path, text, len, sets, n_sets,
                             tr_config_schemas(), err);
    if (!st && (st = check(cfg, err))) io_config_free(cfg);
    return st;
}

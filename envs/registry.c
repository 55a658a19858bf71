/* envs/registry.c - the environments by name (envs/env.h): a new one is
 * its file plus one line here. */
#include <stdio.h>
#include <string.h>

#include "envs/env.h"

extern const env_ops env_cartpole;
extern const env_ops env_mountaincar;

static const env_ops *const registry[] = {
    &env_cartpole,
    &env_mountaincar,
};

const env_ops *env_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof registry / sizeof *registry; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

void env_names(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof registry / sizeof *registry && n < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "",
                         registry[i]->name);
        if (w < 0) return;
        n += (size_t)w;
    }
}

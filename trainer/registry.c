/* trainer/registry.c - lookup by name in a registry of ops tables. */
#include <stdio.h>
#include <string.h>

#include "trainer/registry.h"

/* An ops table's first member is its name (C11 6.7.2.1: a pointer to a
 * struct, converted, points to its first member). */
static const char *name_of(const void *ops)
{
    return *(const char *const *)ops;
}

const void *tr_registry_find(const void *const *reg, size_t n,
                             const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp(name_of(reg[i]), name)) return reg[i];
    return NULL;
}

int tr_registry_unknown(const io_config *cfg, const void *const *reg,
                        size_t n, const char *key, const char *name,
                        nn_error *err)
{
    char known[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof known; i++)
        len += (size_t)snprintf(known + len, sizeof known - len, "%s%s",
                                i ? ", " : "", name_of(reg[i]));
    return io_config_error(cfg, key, err, "unknown '%s' (known: %s)", name,
                           known);
}

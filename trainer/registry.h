/* trainer/registry.h - lookup by name in a registry of ops tables
 * (objectives, samplers). A registry is an array of pointers to ops
 * tables whose first member is `const char *name`, stored as
 * `const void *` so one lookup and one error serve every table. */
#ifndef TRAINER_REGISTRY_H
#define TRAINER_REGISTRY_H

#include <stddef.h>

#include "io/config.h"

/* The entry of reg[0, n) called `name`, or NULL (also for name NULL). */
const void *tr_registry_find(const void *const *reg, size_t n,
                             const char *name);

/* NN_EXIT_USAGE: "WHERE: key: unknown 'name' (known: a, b, ...)", WHERE
 * the file and line (or --set) that set `key`. */
int tr_registry_unknown(const io_config *cfg, const void *const *reg,
                        size_t n, const char *key, const char *name,
                        nn_error *err);

#endif

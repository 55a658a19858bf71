/* trainer/obj_ppo_config.c - the `rl` section's keys and their
 * cross-checks (a schema fragment, io/config.h), read by the objective
 * (trainer/obj_ppo.c) and by `axon play` (trainer/play.c). The section
 * makes the objective's own data (io_schema.own_data): no data section,
 * loss or training.batch_size. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "envs/env.h"
#include "trainer/obj_ppo.h"

#define OFF(m) offsetof(tr_ppo_cfg, m)
/* envs * rollout stays within 2^24 rows (training's batch bound) */
static const io_key keys[] = {
    {"rl.env", IO_STR, OFF(env), 0, 0, IO_REQ, NULL, NULL},
    {"rl.envs", IO_SIZE, OFF(envs), 1, 4096, 0, "8", NULL},
    {"rl.rollout", IO_SIZE, OFF(rollout), 1, 4096, 0, "128", NULL},
    {"rl.iterations", IO_SIZE, OFF(iterations), 1, 1e9, 0, "10", NULL},
    {"rl.update_epochs", IO_SIZE, OFF(update_epochs), 1, 1000, 0, "4", NULL},
    {"rl.minibatches", IO_SIZE, OFF(minibatches), 1, 16777216, 0, "4", NULL},
    {"rl.gamma", IO_DBL, OFF(gamma), 0, 1, 0, "0.99", NULL},
    {"rl.gae_lambda", IO_DBL, OFF(gae_lambda), 0, 1, 0, "0.95", NULL},
    {"rl.clip", IO_DBL, OFF(clip), 0, 10, IO_LO_OPEN, "0.2", NULL},
    {"rl.entropy", IO_DBL, OFF(entropy), 0, 100, 0, "0.01", NULL},
    {"rl.value_lr", IO_DBL, OFF(value_lr), 0, HUGE_VAL, IO_LO_OPEN, NULL, NULL},
    {"rl.policy.layers", IO_LAYERS, OFF(policy), 0, 0, IO_REQ, NULL, NULL},
    {"rl.value.layers", IO_LAYERS, OFF(value), 0, 0, IO_REQ, NULL, NULL},
};

/* The environment exists; the rollout splits into equal minibatches;
 * nothing of supervised training is set. */
static int check(const io_config *cfg, const void *values, nn_error *err)
{
    const tr_ppo_cfg *c = values;
    static const char *const refused[] = {
        "model", "data", "loss", "early_stopping", "training.batch_size",
        "training.accumulate", "training.pseudo_label_threshold",
        "training.pseudo_label_weight", NULL};
    char where[8], known[256];
    if (!io_config_where(cfg, "rl", where, sizeof where))
        return io_config_error(cfg, "objective", err, "ppo needs an rl section "
                               "(env, policy.layers, value.layers)");
    for (size_t i = 0; refused[i]; i++)
        if (io_config_where(cfg, refused[i], where, sizeof where))
            return io_config_error(cfg, refused[i], err, "not used with an rl "
                                   "section (the environments make the data; "
                                   "the batch is rl.envs x rl.rollout)");
    if (!env_find(c->env)) {
        env_names(known, sizeof known);
        return io_config_error(cfg, "rl.env", err, "unknown environment '%s' "
                               "(known: %s)", c->env, known);
    }
    size_t rows = c->envs * c->rollout;
    if (c->minibatches > rows || rows % c->minibatches)
        return io_config_error(cfg, "rl.minibatches", err, "%zu does not divide "
                               "the rollout's %zu rows (rl.envs %zu x "
                               "rl.rollout %zu) into equal minibatches",
                               c->minibatches, rows, c->envs, c->rollout);
    return 0;
}

const io_schema tr_ppo_schema = {"ppo", "rl", keys, sizeof keys / sizeof *keys,
                                 sizeof(tr_ppo_cfg), check, 1};

/* trainer/obj_ppo.h - reinforcement learning by PPO (trainer/obj_ppo.c):
 * the `rl` section's values (the fragment tr_ppo_schema,
 * trainer/obj_ppo_config.c), the policy loss (for its gradient check)
 * and `axon play` (trainer/play.c). */
#ifndef TRAINER_OBJ_PPO_H
#define TRAINER_OBJ_PPO_H

#include <stddef.h>

#include "io/config.h"
#include "trainer/session.h"

/* The `rl` section: it replaces model and data. The policy maps an
 * observation to one logit per action; the value network maps it to one
 * value. */
typedef struct tr_ppo_cfg {
    char *env;              /* rl.env: a name of envs/registry.c */
    size_t envs;            /* environments, over all ranks */
    size_t rollout;         /* steps of every environment per iteration */
    size_t iterations;      /* rollouts (loop steps) per epoch */
    size_t update_epochs;   /* passes over each rollout */
    size_t minibatches;     /* updates per pass */
    double gamma, gae_lambda, clip, entropy;
    double value_lr;        /* 0 = training.lr */
    io_layers policy;       /* rl.policy.layers */
    io_layers value;        /* rl.value.layers */
} tr_ppo_cfg;

extern const io_schema tr_ppo_schema;

/* PPO's policy loss over n rows of A logits each:
 *   l = -min(r adv, clip(r, 1-eps, 1+eps) adv) - c H(pi),
 *   r = exp(log pi(a) - old_logp)
 * summed over the rows; returns that sum. dlogits[n, A] gets
 * scale * dl/dlogits (scale: 1 / the global minibatch's rows). *entropy
 * and *clipped get the sums of H and of rows whose ratio left the clip
 * range. act holds action indices. */
double tr_ppo_policy_loss(const float *logits, size_t n, size_t A,
                          const size_t *act, const float *old_logp,
                          const float *adv, double eps, double c,
                          float scale, float *dlogits, double *entropy,
                          double *clipped);

/* `axon play --checkpoint PATH [--episodes N] [--render]` (rank 0). */
int tr_cmd_play(tr_session *s);

#endif

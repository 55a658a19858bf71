/* trainer/play.c - `axon play --checkpoint PATH [--episodes N]
 * [--render] [--seed S]`: the policy of a "ppo" checkpoint acting
 * greedily (the most probable action) in its environment, on rank 0.
 * Prints each episode's return and the mean; --render draws every step
 * as a text frame (the environment's render op). Episode k starts from
 * the seed nn_hash64(S, k, 0), so a run is reproducible. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envs/env.h"
#include "nn/check.h"
#include "nn/rng.h"
#include "trainer/obj_ppo.h"

static size_t greedy(const float *z, size_t A)
{
    size_t a = 0;
    for (size_t j = 1; j < A; j++) if (z[j] > z[a]) a = j;
    return a;
}

/* One episode; its return and length. */
static double episode(tr_session *s, const env_ops *e, nn_model *pm,
                      uint64_t seed, unsigned char *state, float *obs,
                      uint64_t *len)
{
    char frame[4096];
    nn_pass p = {0};
    double ret = 0;
    int done = ENV_RUNNING;
    e->reset(state, seed, obs);
    for (*len = 0; done == ENV_RUNNING; (*len)++) {
        if (s->opt->render && e->render) {
            e->render(state, frame, sizeof frame);
            printf("%s\n", frame);
        }
        const float *z = nn_model_forward(pm, obs, 1, &p);
        ret += e->step(state, greedy(z, e->n_actions), obs, &done);
    }
    if (s->opt->render && e->render) {
        e->render(state, frame, sizeof frame);
        printf("%s%s\n", frame, done == ENV_TERMINAL ? "(terminal)" : "(time limit)");
    }
    return ret;
}

static int play(tr_session *s)
{
    const char *path = s->opt->checkpoint;
    io_ckpt c = {0};
    nn_model *pm = NULL;
    int st = io_ckpt_read(path, &c, &s->err);
    io_ckpt_section *o = st ? NULL : io_ckpt_find(&c, "objective");
    if (!st && !(o && o->len == 3 && !memcmp(o->data, "ppo", 3)))
        st = nn_error_set(&s->err, NN_EXIT_USAGE, "%s: not a reinforcement "
                          "learning (ppo) checkpoint; axon play runs a "
                          "trained policy", path);
    if (!st) st = tr_ckpt_config(&c, path, &s->cfg, &s->err);
    const tr_ppo_cfg *rc = st ? NULL : io_config_values(&s->cfg, &tr_ppo_schema);
    if (!st) st = tr_ckpt_model(&c, path, "policy", rc->policy.specs,
                                rc->policy.n, &pm, &s->err);
    const env_ops *e = rc ? env_find(rc->env) : NULL;
    if (!st && nn_shape_size(pm->in) != e->obs_size) /* the config checked the output */
        st = nn_error_set(&s->err, NN_EXIT_DATA, "%s: the policy reads %zu "
                          "values, environment %s gives %zu", path,
                          nn_shape_size(pm->in), e->name, e->obs_size);
    if (st) goto done;
    nn_model_reserve(pm, 1);
    unsigned char *state = nn_xcalloc(1, e->state_size);
    float *obs = nn_xalloc_floats(e->obs_size);
    double sum = 0;
    for (size_t k = 0; k < s->opt->episodes; k++) {
        uint64_t len;
        double ret = episode(s, e, pm, nn_hash64(s->opt->sample_seed, k, 0),
                             state, obs, &len);
        sum += ret;
        printf("episode %zu: return %.1f (%llu steps)\n", k + 1, ret,
               (unsigned long long)len);
    }
    printf("mean return %.2f over %zu episodes (%s; solved at %.0f)\n",
           s->opt->episodes ? sum / (double)s->opt->episodes : 0.0,
           s->opt->episodes, e->name, e->solved);
    fflush(stdout);
    free(state), free(obs);
done:
    if (pm) nn_model_destroy(pm);
    io_ckpt_free(&c);
    return st;
}

int tr_cmd_play(tr_session *s)
{
    int st = s->rank == 0 ? play(s) : 0;
    return tr_agree(s, st);
}

/* trainer/obj_ppo.c - reinforcement learning by proximal policy
 * optimisation (Schulman et al. 2017) with generalised advantage
 * estimation, data-parallel: the "ppo" objective (a config with an `rl`
 * section, trainer/obj_ppo_config.c).
 *
 * Two parameter groups from the one layer registry: the policy
 * (observation -> one logit per action, softmax) and the value network
 * (observation -> one value). One loop step is one ITERATION:
 *   1. rollout: every environment takes rl.rollout steps; actions are
 *      sampled from the policy (eval mode);
 *   2. GAE(gamma, lambda) advantages and returns, per environment;
 *   3. rl.update_epochs passes over the rollout, each a new permutation of
 *      its rows cut into rl.minibatches minibatches; per minibatch, the
 *      advantages are normalised over the minibatch, then two phases each
 *      ending in tr_group_update: the policy's clipped surrogate with an
 *      entropy bonus (tr_ppo_policy_loss), and the value network's
 *      0.5 (V - R)^2. Both losses are divided by the GLOBAL minibatch's
 *      rows, so the summed gradient is the minibatch mean.
 *
 * Data parallelism: the rl.envs environments are numbered globally and
 * rank k steps the contiguous block [envs k / P, envs (k+1) / P). All
 * randomness is counter-based on global numbers - an environment's reset
 * seed on (training.seed, environment, episode), an action's draw on
 * (seed, iteration, environment, time), the permutations on (seed,
 * iteration, pass) - so the set of experiences does not depend on the
 * rank count; a rollout row's global id is environment * rollout + time,
 * and each rank trains a minibatch's rows that are its own.
 *
 * Episode ends: ENV_TERMINAL stops the bootstrap; ENV_TRUNCATED (the time
 * limit) bootstraps from the value of the final observation, added to
 * that step's reward as gamma V(s_final) (the return reported is the
 * environment's own). Episode figures are gathered every iteration in the
 * order (environment, time), the same on every rank count; the mean over
 * the last 100 episodes is computed from them on every rank alike.
 *
 * Metrics per step (named sums): policy loss, value loss, entropy and
 * clip fraction per trained row; episodes ended and their returns; the
 * mean return of the last 100 episodes; environment steps (summed across
 * ranks; the loop's samples/s are environment steps/s). The first time
 * the last-100 mean reaches the environment's `solved` figure, rank 0
 * says so with the environment steps and seconds it took.
 *
 * Checkpoints: the groups "policy" and "value" (params, Adam state), and
 * through this objective's sampler (collective save/load) "ppo/envs" -
 * every environment's state bytes, episode count, running return and
 * observation, in global order - and "ppo/episodes" - the last 100
 * returns, the episode and environment step counts. A resume on any rank
 * count continues the same episodes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envs/env.h"
#include "nn/check.h"
#include "nn/rng.h"
#include "trainer/obj_ppo.h"
#include "trainer/objective.h"
#include "trainer/sampler.h"

#define SALT_RESET 0x72657365746e7621ULL  /* "resetnv!" */
#define SALT_ACT 0x616374696f6e7321ULL    /* "actions!" */
#define SALT_PERM 0x7065726d75746521ULL   /* "permute!" */
#define LAST 100                          /* episodes in the mean return */

enum { PG_LOSS, ENTROPY, CLIPPED, ROWS, V_LOSS, EPISODES, RET_SUM, RET100,
       ITERS, ENV_STEPS, S_N };

/* One environment's record, in "ppo/envs" as it is in memory: head, the
 * environment's state (state_size rounded up to 8), the observation. */
typedef struct env_head {
    uint64_t episode;     /* episodes begun before the current one */
    double ret;           /* the current episode's return so far */
} env_head;

/* Global figures, the same on every rank: "ppo/episodes". */
typedef struct ep_stats {
    double last[LAST];    /* ring of the last returns */
    uint64_t episodes;    /* ended, all environments */
    uint64_t env_steps;   /* taken, all environments */
    uint64_t solved_at;   /* env steps when first solved, 0: not yet */
} ep_stats;

typedef struct ppo {
    const tr_ppo_cfg *c;
    const env_ops *env;
    tr_group *pi, *v;
    size_t obs, A, T;     /* observation size, actions, rollout length */
    size_t lo, nl;        /* this rank's environments [lo, lo + nl) */
    size_t rec;           /* bytes per environment record */
    unsigned char *recs;  /* [nl] records */
    ep_stats st;
    /* rollout, local row e * T + t */
    float *x, *logp, *val, *rew, *adv, *ret;
    size_t *act;
    unsigned char *done;
    /* scratch */
    float *cur, *fin, *mx, *mlogp, *madv, *mret, *dout, *next;
    size_t *macts, *mrows, *fin_row, *perm;
    double *ends;         /* this iteration's ended returns, global order */
    size_t cap;           /* rows of the minibatch buffers */
} ppo;

static env_head *head_of(const ppo *o, size_t e)
{
    return (env_head *)(void *)(o->recs + e * o->rec);
}

static void *state_of(const ppo *o, size_t e)
{
    return o->recs + e * o->rec + sizeof(env_head);
}

static float *obs_of(const ppo *o, size_t e)
{
    size_t st = (o->env->state_size + 7) / 8 * 8;
    return (float *)(void *)(o->recs + e * o->rec + sizeof(env_head) + st);
}

/* First environment of rank k of p. */
static size_t env_start(size_t envs, size_t k, size_t p)
{
    return envs * k / p;
}

static void reset_env(ppo *o, uint64_t seed, size_t e)
{
    env_head *h = head_of(o, e);
    h->ret = 0;
    o->env->reset(state_of(o, e),
                  nn_hash64(seed ^ SALT_RESET, o->lo + e, h->episode),
                  obs_of(o, e));
}

/* ---- the policy loss ---------------------------------------------------- */

double tr_ppo_policy_loss(const float *logits, size_t n, size_t A,
                          const size_t *act, const float *old_logp,
                          const float *adv, double eps, double c,
                          float scale, float *dlogits, double *entropy,
                          double *clipped)
{
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * A;
        float *dz = dlogits + i * A;
        double mx = z[0], sum = 0, h = 0;
        for (size_t j = 1; j < A; j++) mx = z[j] > mx ? z[j] : mx;
        for (size_t j = 0; j < A; j++) sum += exp(z[j] - mx);
        double lse = mx + log(sum);
        for (size_t j = 0; j < A; j++) {
            double lp = z[j] - lse;
            h -= exp(lp) * lp;
        }
        double lpa = z[act[i]] - lse, r = exp(lpa - old_logp[i]), a = adv[i];
        double rc = r < 1 - eps ? 1 - eps : r > 1 + eps ? 1 + eps : r;
        /* min(r a, rc a): the unclipped branch carries the gradient
         * d(r a)/d logp = r a; the clipped one is constant */
        int unclipped = r * a <= rc * a;
        double g = unclipped ? r * a : 0;
        loss += -(unclipped ? r * a : rc * a) - c * h;
        *clipped += rc != r;
        *entropy += h;
        /* d logp_a / dz_j = [j = a] - p_j;  dH / dz_j = -p_j (log p_j + H) */
        for (size_t j = 0; j < A; j++) {
            double lp = z[j] - lse, p = exp(lp);
            double d = -g * ((j == act[i]) - p) + c * p * (lp + h);
            dz[j] = (float)(d * scale);
        }
    }
    return loss;
}

/* ---- set-up ------------------------------------------------------------- */

/* One network from its layer list (errors name the network). */
static int make(tr_session *s, const char *name, const io_layers *l, size_t in,
                nn_model **m)
{
    int st = nn_model_create(m, l->specs, l->n, nn_shape_1d(in), &s->err);
    if (st) nn_error_prefix(&s->err, "%s: rl.%s: ", s->opt->config, name);
    return st;
}

/* The policy gives one logit per action, the value network one value.
 * Errors point at the network's last layer. */
static int check_shapes(tr_session *s, const ppo *o, nn_model *pm,
                        nn_model *vm)
{
    size_t out = nn_shape_size(nn_model_out_shape(pm));
    if (out != o->A)
        return nn_spec_error(&o->c->policy.specs[o->c->policy.n - 1], NULL,
                             &s->err,
                             "the policy gives %zu values per observation; "
                             "environment %s has %zu actions (one logit each)",
                             out, o->env->name, o->A);
    out = nn_shape_size(nn_model_out_shape(vm));
    if (out != 1)
        return nn_spec_error(&o->c->value.specs[o->c->value.n - 1], NULL,
                             &s->err, "the value network must end with one "
                             "value per observation, not %zu", out);
    return 0;
}

static void declare_metrics(tr_metrics *m)
{
    static const char *const names[S_N] = {
        "pg_loss", "entropy", "clipped", "rows", "v_loss", "episodes",
        "return_sum", "return100_sum", "iterations", "env_steps"};
    for (int i = 0; i < S_N; i++) tr_metrics_sum(m, names[i]);
    m->count = ROWS;
    tr_metrics_view(m, (tr_view){"return100", "return100", NULL, RET100, ITERS, 1, "%.1f"});
    tr_metrics_view(m, (tr_view){"return", "episode_return", NULL, RET_SUM, EPISODES, 1, "%.1f"});
    tr_metrics_view(m, (tr_view){"episodes", "episodes", NULL, EPISODES, -1, 1, "%.0f"});
    tr_metrics_view(m, (tr_view){"pg_loss", "pg_loss", NULL, PG_LOSS, ROWS, 1, "%.4f"});
    tr_metrics_view(m, (tr_view){"v_loss", "v_loss", NULL, V_LOSS, ROWS, 1, "%.3f"});
    tr_metrics_view(m, (tr_view){"entropy", "entropy", NULL, ENTROPY, ROWS, 1, "%.3f"});
    tr_metrics_view(m, (tr_view){NULL, "clip_fraction", NULL, CLIPPED, ROWS, 1, "%.3f"});
    tr_metrics_view(m, (tr_view){NULL, "env_steps", NULL, ENV_STEPS, -1, 1, "%.0f"});
}

static void alloc_rollout(ppo *o)
{
    size_t n = nn_mul_size(o->nl, o->T) + 1, G = o->c->envs;
    o->x = nn_xalloc_floats(nn_mul_size(n, o->obs));
    o->logp = nn_xalloc_floats(n);
    o->val = nn_xalloc_floats(n);
    o->rew = nn_xalloc_floats(n);
    o->adv = nn_xalloc_floats(n);
    o->ret = nn_xalloc_floats(n);
    o->act = nn_xcalloc(n, sizeof *o->act);
    o->done = nn_xcalloc(n, 1);
    o->cur = nn_xalloc_floats(nn_mul_size(o->nl + 1, o->obs));
    o->fin = nn_xalloc_floats(nn_mul_size(o->nl + 1, o->obs));
    o->fin_row = nn_xcalloc(o->nl + 1, sizeof *o->fin_row);
    o->next = nn_xalloc_floats(o->nl + 1);
    o->perm = nn_xcalloc(nn_mul_size(G, o->T), sizeof *o->perm);
    o->ends = nn_xcalloc(nn_mul_size(2 * G, o->T) + 1, sizeof *o->ends);
    o->recs = nn_xcalloc(o->nl + 1, o->rec);
}

static int create(tr_run *r, void **obj)
{
    tr_session *s = r->s;
    ppo *o = nn_xcalloc(1, sizeof *o);
    *obj = o;
    o->c = io_config_values(&s->cfg, &tr_ppo_schema);
    const tr_ppo_cfg *c = o->c;
    o->env = env_find(c->env); /* checked by the schema */
    o->obs = o->env->obs_size, o->A = o->env->n_actions, o->T = c->rollout;
    size_t p = (size_t)s->size, k = (size_t)s->rank;
    o->lo = env_start(c->envs, k, p);
    o->nl = env_start(c->envs, k + 1, p) - o->lo;
    o->rec = sizeof(env_head) + (o->env->state_size + 7) / 8 * 8 +
             (o->obs * sizeof(float) + 7) / 8 * 8;
    nn_model *pm = NULL, *vm = NULL;
    int st = c->envs < p
                 ? nn_error_set(&s->err, NN_EXIT_USAGE,
                                "%s: rl.envs: %zu environments for %zu ranks; "
                                "every rank steps at least one", s->opt->config,
                                c->envs, p)
                 : 0;
    if (!st) st = make(s, "policy.layers", &c->policy, o->obs, &pm);
    if (!st) st = make(s, "value.layers", &c->value, o->obs, &vm);
    if (!st) st = check_shapes(s, o, pm, vm);
    if ((st = tr_agree(s, st))) {
        if (pm) nn_model_destroy(pm);
        if (vm) nn_model_destroy(vm);
        return st;
    }
    if (s->rank == 0) {
        nn_model_init(pm, nn_hash64(s->cfg.train.seed, 'P', 0));
        nn_model_init(vm, nn_hash64(s->cfg.train.seed, 'V', 0));
    }
    o->pi = tr_group_add(r, "policy", pm, 1.0);
    o->v = tr_group_add(r, "value", vm, tr_lr_scale(r, c->value_lr));
    declare_metrics(&r->metrics);
    alloc_rollout(o);
    for (size_t e = 0; e < o->nl; e++) reset_env(o, s->cfg.train.seed, e);
    tr_say(s, "rl: %s, %zu environments (%zu on rank 0), %zu steps each per "
              "iteration = %zu environment steps; %zu iterations per epoch\n",
           c->env, c->envs, env_start(c->envs, 1, p), c->rollout,
           c->envs * c->rollout, c->iterations);
    return 0;
}

static void free_minibatch(ppo *o)
{
    free(o->mx), free(o->mlogp), free(o->madv), free(o->mret), free(o->dout);
    free(o->macts), free(o->mrows);
}

static void destroy(void *obj)
{
    ppo *o = obj;
    free_minibatch(o);
    free(o->x), free(o->logp), free(o->val), free(o->rew), free(o->adv);
    free(o->ret), free(o->act), free(o->done), free(o->cur), free(o->fin);
    free(o->fin_row), free(o->next), free(o->perm), free(o->ends);
    free(o->recs);
    free(o);
}

/* Buffers for a minibatch's local rows (at most the global minibatch, at
 * most this rank's rollout) and for the rollout's forward passes. */
static void reserve(tr_run *r, void *obj, size_t rows)
{
    ppo *o = obj;
    size_t M = o->c->envs * o->T / o->c->minibatches;
    size_t n = o->nl * o->T < M ? o->nl * o->T : M;
    (void)r, (void)rows;
    if (n <= o->cap) return;
    free_minibatch(o);
    o->mx = nn_xalloc_floats(nn_mul_size(n, o->obs));
    o->mlogp = nn_xalloc_floats(n);
    o->madv = nn_xalloc_floats(n);
    o->mret = nn_xalloc_floats(n);
    o->dout = nn_xalloc_floats(nn_mul_size(n, o->A));
    o->macts = nn_xcalloc(n, sizeof *o->macts);
    o->mrows = nn_xcalloc(n, sizeof *o->mrows);
    size_t m = n > o->nl ? n : o->nl;
    nn_model_reserve(o->pi->model, m);
    nn_model_reserve(o->v->model, m);
    o->cap = n;
}

/* ---- rollout ------------------------------------------------------------ */

/* Action drawn from softmax(z) with the uniform u; its log-probability. */
static size_t draw(const float *z, size_t A, double u, float *logp)
{
    double mx = z[0], sum = 0;
    for (size_t j = 1; j < A; j++) mx = z[j] > mx ? z[j] : mx;
    for (size_t j = 0; j < A; j++) sum += exp(z[j] - mx);
    double acc = 0, lse = mx + log(sum);
    size_t a = A - 1;
    for (size_t j = 0; j < A; j++) {
        acc += exp(z[j] - lse);
        if (u < acc) {
            a = j;
            break;
        }
    }
    *logp = (float)(z[a] - lse);
    return a;
}

/* Values of n observations x into out (eval mode). */
static void values(ppo *o, const float *x, size_t n, float *out)
{
    nn_pass p = {0};
    const float *y = nn_model_forward(o->v->model, x, n, &p);
    memcpy(out, y, n * sizeof *out);
}

/* Time step t of the rollout for every local environment. Ended episodes
 * are written to ends[] at their global row (environment, time) as
 * return + 1 flag pairs. */
static void rollout_step(tr_run *r, ppo *o, size_t t, double *mine)
{
    uint64_t seed = r->s->cfg.train.seed;
    size_t T = o->T, O = o->obs, nf = 0;
    for (size_t e = 0; e < o->nl; e++)
        memcpy(o->cur + e * O, obs_of(o, e), O * sizeof(float));
    nn_pass p = {0};
    const float *z = nn_model_forward(o->pi->model, o->cur, o->nl, &p);
    for (size_t e = 0; e < o->nl; e++) {
        size_t row = e * T + t, g = o->lo + e;
        double u = nn_hash_uniform(seed ^ SALT_ACT, r->global_step, g * T + t);
        o->act[row] = draw(z + e * o->A, o->A, u, &o->logp[row]);
        memcpy(o->x + row * O, o->cur + e * O, O * sizeof(float));
    }
    values(o, o->cur, o->nl, o->next);
    for (size_t e = 0; e < o->nl; e++) {
        size_t row = e * T + t;
        int done = 0;
        env_head *h = head_of(o, e);
        o->val[row] = o->next[e];
        double rw = o->env->step(state_of(o, e), o->act[row], obs_of(o, e), &done);
        o->rew[row] = (float)rw;
        o->done[row] = done != ENV_RUNNING;
        h->ret += rw;
        if (done == ENV_RUNNING) continue;
        if (done == ENV_TRUNCATED) { /* bootstrap from the final state */
            memcpy(o->fin + nf * O, obs_of(o, e), O * sizeof(float));
            o->fin_row[nf++] = row;
        }
        mine[0] += h->ret, mine[1] += 1;
        o->ends[2 * ((o->lo + e) * T + t)] = h->ret;
        o->ends[2 * ((o->lo + e) * T + t) + 1] = 1;
        h->episode++;
        reset_env(o, seed, e);
    }
    if (!nf) return;
    values(o, o->fin, nf, o->next);
    for (size_t i = 0; i < nf; i++)
        o->rew[o->fin_row[i]] += (float)(o->c->gamma * o->next[i]);
}

/* GAE over each local environment's T steps, bootstrapped from the value
 * of its current observation. */
static void advantages(ppo *o)
{
    size_t T = o->T, O = o->obs;
    double gm = o->c->gamma, lam = o->c->gae_lambda;
    for (size_t e = 0; e < o->nl; e++)
        memcpy(o->cur + e * O, obs_of(o, e), O * sizeof(float));
    values(o, o->cur, o->nl, o->next);
    for (size_t e = 0; e < o->nl; e++) {
        double next_v = o->next[e], gae = 0;
        for (size_t t = T; t-- > 0;) {
            size_t row = e * T + t;
            double keep = o->done[row] ? 0.0 : 1.0;
            double delta = o->rew[row] + gm * next_v * keep - o->val[row];
            gae = delta + gm * lam * keep * gae;
            o->adv[row] = (float)gae;
            o->ret[row] = (float)(gae + o->val[row]);
            next_v = o->val[row];
        }
    }
}

/* The ended episodes of every rank, in global (environment, time) order,
 * into the last-100 ring; sums[] gets the iteration's figures. */
static int gather_episodes(tr_run *r, ppo *o, double *sums)
{
    size_t n = 2 * o->c->envs * o->T;
    if (comm_allreduce_sum_d(r->s->comm, o->ends, n))
        return nn_error_set(&r->s->err, NN_EXIT_OTHER, "allreduce failed");
    for (size_t i = 0; i < n; i += 2) {
        if (o->ends[i + 1] == 0) continue;
        o->st.last[o->st.episodes % LAST] = o->ends[i];
        o->st.episodes++;
        sums[RET_SUM] += o->ends[i];
        sums[EPISODES] += 1;
    }
    size_t k = o->st.episodes < LAST ? (size_t)o->st.episodes : LAST;
    double mean = 0;
    for (size_t i = 0; i < k; i++) mean += o->st.last[i];
    sums[RET100] = k ? mean / (double)k : 0;
    sums[ITERS] = 1;
    return 0;
}

/* ---- the update --------------------------------------------------------- */

/* This rank's rows of minibatch m of a pass (global ids perm[m M, m M +
 * M)), gathered into the minibatch buffers; returns how many. */
static size_t take_rows(ppo *o, size_t m, size_t M)
{
    size_t n = 0, T = o->T, O = o->obs;
    for (size_t i = m * M; i < (m + 1) * M; i++) {
        size_t g = o->perm[i] / T, t = o->perm[i] % T;
        if (g < o->lo || g >= o->lo + o->nl) continue;
        size_t row = (g - o->lo) * T + t;
        memcpy(o->mx + n * O, o->x + row * O, O * sizeof(float));
        o->macts[n] = o->act[row];
        o->mlogp[n] = o->logp[row];
        o->madv[n] = o->adv[row];
        o->mret[n] = o->ret[row];
        o->mrows[n++] = row;
    }
    return n;
}

/* Advantages normalised over the global minibatch (mean 0, std 1). */
static int normalise(tr_run *r, ppo *o, size_t n)
{
    double m[3] = {0, 0, (double)n};
    for (size_t i = 0; i < n; i++) m[0] += o->madv[i], m[1] += o->madv[i] * o->madv[i];
    if (comm_allreduce_sum_d(r->s->comm, m, 3))
        return nn_error_set(&r->s->err, NN_EXIT_OTHER, "allreduce failed");
    double mean = m[0] / m[2], var = m[1] / m[2] - mean * mean;
    double sd = sqrt(var > 0 ? var : 0) + 1e-8;
    for (size_t i = 0; i < n; i++) o->madv[i] = (float)((o->madv[i] - mean) / sd);
    return 0;
}

static int policy_phase(tr_run *r, ppo *o, size_t n, size_t M, double *sums)
{
    nn_model *pm = o->pi->model;
    nn_pass p = {.training = 1, .seed = r->s->cfg.train.seed,
                 .step = r->global_step};
    double v[4] = {0, 0, 0, (double)n};
    nn_model_zero_grad(pm);
    tr_group_arm(r, o->pi);
    if (n) {
        const float *z = nn_model_forward(pm, o->mx, n, &p);
        v[0] = tr_ppo_policy_loss(z, n, o->A, o->macts, o->mlogp, o->madv,
                                  o->c->clip, o->c->entropy,
                                  1.0f / (float)M, o->dout, &v[1], &v[2]);
        nn_model_backward(pm, o->mx, o->dout, n);
    }
    int st = tr_group_update(r, o->pi, v, 4, 1);
    sums[PG_LOSS] += v[0], sums[ENTROPY] += v[1], sums[CLIPPED] += v[2];
    sums[ROWS] += v[3];
    return st;
}

static int value_phase(tr_run *r, ppo *o, size_t n, size_t M, double *sums)
{
    nn_model *vm = o->v->model;
    nn_pass p = {.training = 1, .seed = r->s->cfg.train.seed,
                 .step = r->global_step};
    double v[1] = {0};
    nn_model_zero_grad(vm);
    tr_group_arm(r, o->v);
    if (n) {
        const float *y = nn_model_forward(vm, o->mx, n, &p);
        for (size_t i = 0; i < n; i++) {
            double d = (double)y[i] - o->mret[i];
            v[0] += 0.5 * d * d;
            o->dout[i] = (float)(d / (double)M);
        }
        nn_model_backward(vm, o->mx, o->dout, n);
    }
    int st = tr_group_update(r, o->v, v, 1, 1);
    sums[V_LOSS] += v[0];
    return st;
}

static int update(tr_run *r, ppo *o, double *sums)
{
    size_t N = o->c->envs * o->T, M = N / o->c->minibatches;
    int st = 0;
    for (size_t k = 0; !st && k < o->c->update_epochs; k++) {
        nn_rng rng;
        nn_rng_seed(&rng, nn_hash64(r->s->cfg.train.seed ^ SALT_PERM,
                                    r->global_step, k));
        for (size_t i = 0; i < N; i++) o->perm[i] = i;
        nn_rng_shuffle(&rng, o->perm, N);
        for (size_t m = 0; !st && m < o->c->minibatches; m++) {
            size_t n = take_rows(o, m, M);
            st = normalise(r, o, n);
            if (!st) st = policy_phase(r, o, n, M, sums);
            if (!st) st = value_phase(r, o, n, M, sums);
        }
    }
    return st;
}

static int step(tr_run *r, void *obj)
{
    ppo *o = obj;
    double *sums = r->step_sums, mine[2] = {0, 0};
    memset(o->ends, 0, 2 * o->c->envs * o->T * sizeof *o->ends);
    for (size_t t = 0; t < o->T; t++) rollout_step(r, o, t, mine);
    advantages(o);
    int st = gather_episodes(r, o, sums);
    if (st) return st;
    sums[ENV_STEPS] = (double)(o->c->envs * o->T);
    o->st.env_steps += o->c->envs * o->T;
    st = update(r, o, sums);
    if (!st && !o->st.solved_at && o->st.episodes >= LAST &&
        sums[RET100] >= o->env->solved) {
        o->st.solved_at = o->st.env_steps;
        tr_say(r->s, "solved: mean return %.1f over the last %d episodes "
                     "after %llu environment steps (iteration %llu, %.1fs)\n",
               sums[RET100], LAST, (unsigned long long)o->st.env_steps,
               (unsigned long long)r->global_step + 1,
               comm_wtime() - r->t0);
    }
    return st;
}

static nn_shape input_shape(tr_run *r, void *obj)
{
    (void)r;
    return nn_shape_1d(((ppo *)obj)->obs);
}

/* ---- the sampler: iterations, and the environments' checkpoint state ---- */

static size_t s_steps(const tr_run *r)
{
    return ((const ppo *)r->obj)->c->iterations;
}

static void s_epoch(tr_run *r, uint64_t epoch)
{
    (void)r, (void)epoch;
}

static size_t s_max_rows(const tr_run *r)
{
    (void)r;
    return 0;
}

/* No dataset rows: the batch is the rollout, of envs x rollout
 * environment steps over all ranks. */
static size_t s_batch(const tr_run *r, size_t step, size_t *local,
                      uint64_t *ids, size_t *global)
{
    const ppo *o = r->obj;
    (void)step, (void)local, (void)ids;
    if (global) *global = o->c->envs * o->T;
    return 0;
}

static int s_save(tr_run *r, io_ckpt *c, void **keep)
{
    tr_session *s = r->s;
    ppo *o = r->obj;
    size_t p = (size_t)s->size, G = o->c->envs;
    unsigned char *all = NULL;
    size_t *lens = NULL;
    *keep = NULL;
    if (s->rank == 0) {
        all = nn_xmalloc(nn_mul_size(G, o->rec) + sizeof o->st);
        lens = nn_xmalloc(p * sizeof *lens);
        for (size_t k = 0; k < p; k++)
            lens[k] = (env_start(G, k + 1, p) - env_start(G, k, p)) * o->rec;
    }
    int bad = comm_gatherv_bytes(s->comm, o->recs, o->nl * o->rec, all, lens, 0);
    if (s->rank == 0 && !bad) {
        memcpy(all + G * o->rec, &o->st, sizeof o->st);
        io_ckpt_add(c, "ppo/envs", all, G * o->rec, 0);
        io_ckpt_add(c, "ppo/episodes", all + G * o->rec, sizeof o->st, 0);
        *keep = all;
    } else {
        free(all);
    }
    free(lens);
    int st = bad ? nn_error_set(&s->err, NN_EXIT_OTHER, "checkpoint: cannot "
                                "gather the environments from the ranks")
                 : 0;
    return tr_agree(s, st);
}

static int s_load(tr_run *r, io_ckpt *c, const char *path)
{
    tr_session *s = r->s;
    ppo *o = r->obj;
    size_t G = o->c->envs, bytes = nn_mul_size(G, o->rec);
    unsigned char *all = nn_xmalloc(bytes + sizeof o->st);
    const void *env = NULL, *ep = NULL;
    int st = 0;
    if (s->rank == 0) {
        st = io_ckpt_need(c, path, "ppo/envs", bytes, &env, NULL, &s->err);
        if (!st) st = io_ckpt_need(c, path, "ppo/episodes", sizeof o->st, &ep,
                                   NULL, &s->err);
        if (st) /* rl.envs or the environment is not the checkpoint's */
            nn_error_prefix(&s->err, "(rl.env %s, rl.envs %zu) ", o->c->env, G);
        if (!st) memcpy(all, env, bytes), memcpy(all + bytes, ep, sizeof o->st);
    }
    if ((st = tr_agree(s, st))) {
        free(all);
        return st;
    }
    if (comm_bcast_bytes(s->comm, all, bytes + sizeof o->st, 0)) {
        free(all);
        return NN_EXIT_OTHER;
    }
    memcpy(o->recs, all + o->lo * o->rec, o->nl * o->rec);
    memcpy(&o->st, all + bytes, sizeof o->st);
    free(all);
    return 0;
}

static const tr_sampler_ops rollouts = {
    .name = "rollouts",
    .steps = s_steps,
    .epoch = s_epoch,
    .max_rows = s_max_rows,
    .batch = s_batch,
    .save = s_save,
    .load = s_load,
};

const tr_objective_ops tr_obj_ppo = {
    .name = "ppo",
    .schema = &tr_ppo_schema,
    .create = create,
    .destroy = destroy,
    .reserve = reserve,
    .step = step,
    .input_shape = input_shape,
    .sampler = &rollouts,
};

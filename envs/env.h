/* envs/env.h - environments for reinforcement learning, as an ops table
 * (the way layers are): one file per environment plus one line in the
 * registry (envs/registry.c). Pure computation: no MPI, no files, no
 * hidden state.
 *
 * An environment's whole state - physics, step count, anything random it
 * still needs - lives in a caller-owned block of `state_size` bytes of
 * plain data, so a trainer can copy it into a checkpoint as bytes and a
 * resumed run continues the same episodes exactly. Randomness enters only
 * through reset's seed (the caller derives it from the run's seed, the
 * environment's global index and its episode count).
 *
 * Actions are discrete: 0 .. n_actions-1. Observations are obs_size
 * floats. step() returns the reward of the transition and sets *done to
 * ENV_RUNNING, ENV_TERMINAL (the task ended: the value of the next state
 * is 0) or ENV_TRUNCATED (the time limit max_steps cut the episode: the
 * next state's value is not 0, a learner may bootstrap from obs). After
 * a done step the caller resets before stepping again.
 */
#ifndef ENVS_ENV_H
#define ENVS_ENV_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

enum { ENV_RUNNING = 0, ENV_TERMINAL = 1, ENV_TRUNCATED = 2 };

typedef struct env_ops {
    const char *name;
    size_t obs_size;     /* floats per observation */
    size_t n_actions;    /* discrete actions */
    size_t state_size;   /* bytes of one environment's state */
    uint64_t max_steps;  /* the time limit of an episode */
    double solved;       /* mean return over 100 consecutive episodes that
                            counts as solving the task */
    /* A new episode from `seed` into state; its first observation. */
    void (*reset)(void *state, uint64_t seed, float *obs);
    /* One transition by `action` (< n_actions): the next observation, the
     * reward, *done as above. */
    double (*step)(void *state, size_t action, float *obs, int *done);
    /* Optional: the state drawn as text (lines ending in '\n') into buf
     * of cap bytes (always NUL-terminated). */
    void (*render)(const void *state, char *buf, size_t cap);
} env_ops;

/* The environment called `name`, or NULL. */
const env_ops *env_find(const char *name);

/* The known names, ", "-separated, into buf (cap bytes). */
void env_names(char *buf, size_t cap);

#endif

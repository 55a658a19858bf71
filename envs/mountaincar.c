/* envs/mountaincar.c - MountainCar-v0: an under-powered car in a valley
 * must rock back and forth to reach the flag on the right hill. A task of
 * a different character from CartPole: the reward is -1 every step until
 * the goal, so nothing distinguishes good from bad play until a random
 * walk first reaches the flag (sparse reward, hard exploration).
 *
 * Dynamics (Moore 1990, as in Gym): actions 0 push left, 1 nothing,
 * 2 push right;
 *   v += (action - 1) * 0.001 - 0.0025 cos(3 p),  v clipped to +-0.07
 *   p += v,  p clipped to [-1.2, 0.6]; at the left wall v becomes 0
 * The episode ends (ENV_TERMINAL) when p >= 0.5 (the flag), and is cut
 * (ENV_TRUNCATED) after 200 steps. A reset puts the car at rest at a
 * position uniform in [-0.6, -0.4). Observation (p, v). Reward -1 for
 * every step, the terminal one included; solved at a mean return of -110
 * over 100 episodes. State: p, v as doubles, then the step count. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "envs/env.h"

#define MIN_POS (-1.2)
#define MAX_POS 0.6
#define MAX_SPEED 0.07
#define GOAL_POS 0.5
#define FORCE 0.001
#define GRAVITY 0.0025
#define MAX_STEPS 200

typedef struct mountaincar {
    double p, v;
    uint64_t steps;
} mountaincar;

static void reset(void *state, uint64_t seed, float *obs)
{
    mountaincar *c = state;
    /* splitmix64 of the seed: one uniform draw */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    c->p = -0.6 + 0.2 * (double)(z >> 11) * 0x1.0p-53;
    c->v = 0;
    c->steps = 0;
    obs[0] = (float)c->p, obs[1] = (float)c->v;
}

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static double step(void *state, size_t action, float *obs, int *done)
{
    mountaincar *c = state;
    c->v += ((double)action - 1.0) * FORCE - GRAVITY * cos(3.0 * c->p);
    c->v = clamp(c->v, -MAX_SPEED, MAX_SPEED);
    c->p = clamp(c->p + c->v, MIN_POS, MAX_POS);
    if (c->p == MIN_POS && c->v < 0) c->v = 0;
    c->steps++;
    obs[0] = (float)c->p, obs[1] = (float)c->v;
    *done = c->p >= GOAL_POS ? ENV_TERMINAL
            : c->steps >= MAX_STEPS ? ENV_TRUNCATED : ENV_RUNNING;
    return -1.0;
}

/* The valley's profile sin(3p) over 49 columns, the car as 'C', the flag
 * as 'F'. */
static void render(const void *state, char *buf, size_t cap)
{
    const mountaincar *c = state;
    enum { W = 49, H = 8 };
    char rows[H][W + 2];
    for (int r = 0; r < H; r++) {
        memset(rows[r], ' ', W);
        rows[r][W] = '\n', rows[r][W + 1] = '\0';
    }
    for (int col = 0; col < W; col++) {
        double p = MIN_POS + (MAX_POS - MIN_POS) * col / (W - 1);
        int r = (int)lround((1.0 - sin(3.0 * p)) / 2.0 * (H - 1));
        rows[r][col] = col == (int)lround((c->p - MIN_POS) / (MAX_POS - MIN_POS) * (W - 1)) ? 'C'
                       : fabs(p - GOAL_POS) < 0.5 * (MAX_POS - MIN_POS) / (W - 1) ? 'F'
                                                                         : '.';
    }
    size_t n = 0;
    buf[0] = '\0';
    for (int r = 0; r < H && n < cap; r++)
        n += (size_t)snprintf(buf + n, cap - n, "%s", rows[r]);
    if (n < cap)
        snprintf(buf + n, cap - n, "step %llu  position %+.3f  velocity %+.4f\n",
                 (unsigned long long)c->steps, c->p, c->v);
}

const env_ops env_mountaincar = {
    .name = "mountaincar",
    .obs_size = 2,
    .n_actions = 3,
    .state_size = sizeof(mountaincar),
    .max_steps = MAX_STEPS,
    .solved = -110.0,
    .reset = reset,
    .step = step,
    .render = render,
};

/* envs/cartpole.c - CartPole-v1: a pole hinged on a cart that moves
 * along a frictionless track; the agent pushes the cart left (action 0)
 * or right (1) with a force of 10 N and must keep the pole upright.
 *
 * The classic constants (Barto, Sutton & Anderson 1983, as in Gym):
 * gravity 9.8, cart mass 1.0, pole mass 0.1, half the pole's length 0.5,
 * force 10, time step tau 0.02 s, explicit Euler. With M = cart + pole
 * mass, l = half length, m l = pole mass * l, F = +-10:
 *   temp   = (F + m l thetadot^2 sin theta) / M
 *   thetaacc = (g sin theta - cos theta temp)
 *              / (l (4/3 - m cos^2 theta / M))
 *   xacc   = temp - m l thetaacc cos theta / M
 *   x += tau xdot;  xdot += tau xacc;  theta += tau thetadot;
 *   thetadot += tau thetaacc          (Euler: positions from old speeds)
 * The episode ends (ENV_TERMINAL) when |theta| > 12 degrees or |x| > 2.4,
 * and is cut (ENV_TRUNCATED) after 500 steps. The observation is
 * (x, xdot, theta, thetadot); a reset draws each uniformly from
 * [-0.05, 0.05).
 *
 * Reward: +1 for EVERY step taken, the terminal one included (Gym's
 * convention), so an episode's return is its length, at most 500; the
 * task counts as solved at a mean return of 475 over 100 consecutive
 * episodes.
 *
 * State: the four values as doubles, in that order, then the step count;
 * computed in double, handed out as floats. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "envs/env.h"

#define GRAVITY 9.8
#define MASS_CART 1.0
#define MASS_POLE 0.1
#define TOTAL_MASS (MASS_CART + MASS_POLE)
#define HALF_LENGTH 0.5
#define POLE_MASS_LENGTH (MASS_POLE * HALF_LENGTH)
#define FORCE 10.0
#define TAU 0.02
#define PI 3.14159265358979323846
#define THETA_LIMIT (12.0 * 2.0 * PI / 360.0)
#define X_LIMIT 2.4
#define MAX_STEPS 500

typedef struct cartpole {
    double s[4];     /* x, xdot, theta, thetadot */
    uint64_t steps;  /* taken in this episode */
} cartpole;

/* splitmix64: the reset's four draws from its seed */
static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void observe(const cartpole *c, float *obs)
{
    for (int i = 0; i < 4; i++) obs[i] = (float)c->s[i];
}

static void reset(void *state, uint64_t seed, float *obs)
{
    cartpole *c = state;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        c->s[i] = -0.05 + 0.1 * (double)(mix(&x) >> 11) * 0x1.0p-53;
    c->steps = 0;
    observe(c, obs);
}

static double step(void *state, size_t action, float *obs, int *done)
{
    cartpole *c = state;
    double x = c->s[0], xdot = c->s[1], th = c->s[2], thdot = c->s[3];
    double f = action == 1 ? FORCE : -FORCE;
    double cth = cos(th), sth = sin(th);
    double temp = (f + POLE_MASS_LENGTH * thdot * thdot * sth) / TOTAL_MASS;
    double thacc = (GRAVITY * sth - cth * temp) /
                   (HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * cth * cth / TOTAL_MASS));
    double xacc = temp - POLE_MASS_LENGTH * thacc * cth / TOTAL_MASS;
    c->s[0] = x + TAU * xdot;
    c->s[1] = xdot + TAU * xacc;
    c->s[2] = th + TAU * thdot;
    c->s[3] = thdot + TAU * thacc;
    c->steps++;
    observe(c, obs);
    int fell = c->s[0] < -X_LIMIT || c->s[0] > X_LIMIT ||
               c->s[2] < -THETA_LIMIT || c->s[2] > THETA_LIMIT;
    *done = fell ? ENV_TERMINAL
            : c->steps >= MAX_STEPS ? ENV_TRUNCATED : ENV_RUNNING;
    return 1.0;
}

/* The track [-2.4, 2.4] in 49 columns, the pole in 6 rows above the cart
 * ('o' per row at its lean), the cart as [##], and the numbers. */
static void render(const void *state, char *buf, size_t cap)
{
    const cartpole *c = state;
    enum { W = 49, H = 6 };
    char rows[H + 2][W + 2];
    for (int r = 0; r < H + 2; r++) {
        memset(rows[r], ' ', W);
        rows[r][W] = '\n', rows[r][W + 1] = '\0';
    }
    memset(rows[H + 1], '=', W);
    double scale = (W - 1) / (2 * X_LIMIT);
    int cx = (int)lround((c->s[0] + X_LIMIT) * scale);
    static const char cart[] = "[##]";
    for (int k = 0; k < 4; k++)
        if (cx + k - 2 >= 0 && cx + k - 2 < W) rows[H][cx + k - 2] = cart[k];
    for (int r = 1; r <= H; r++) { /* a pole of H rows, 2 columns a row */
        int px = cx + (int)lround(2.0 * r * tan(c->s[2]));
        if (px >= 0 && px < W) rows[H - r][px] = 'o';
    }
    size_t n = 0;
    buf[0] = '\0';
    for (int r = 0; r < H + 2 && n < cap; r++)
        n += (size_t)snprintf(buf + n, cap - n, "%s", rows[r]);
    if (n < cap)
        snprintf(buf + n, cap - n,
                 "step %llu  x %+.3f  xdot %+.3f  theta %+.2f deg  "
                 "thetadot %+.3f\n",
                 (unsigned long long)c->steps, c->s[0], c->s[1],
                 c->s[2] * 180.0 / PI, c->s[3]);
}

const env_ops env_cartpole = {
    .name = "cartpole",
    .obs_size = 4,
    .n_actions = 2,
    .state_size = sizeof(cartpole),
    .max_steps = MAX_STEPS,
    .solved = 475.0,
    .reset = reset,
    .step = step,
    .render = render,
};

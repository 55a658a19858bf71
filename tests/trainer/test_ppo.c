/* tests/trainer/test_ppo.c - PPO's policy loss (trainer/obj_ppo.c):
 * its gradient with respect to the logits against central finite
 * differences, on rows whose ratio lies inside the clip range, outside it
 * on the side where the clipped term wins (gradient 0 but the entropy's),
 * and outside it on the side where the unclipped term still wins; and its
 * value against the formula written out. */
#include <math.h>

#include "tests/cu.h"
#include "trainer/obj_ppo.h"

#define N 6
#define A 3

/* logits, actions, old log-probabilities (set from the ratios wanted),
 * advantages */
static float z[N * A];
static size_t act[N] = {0, 1, 2, 1, 0, 2};
static float old_logp[N], adv[N] = {1.5f, -0.7f, 2.0f, -1.2f, 0.8f, -2.5f};
/* ratios: inside (0.95, 1.1), above 1+eps with adv > 0 (clipped term
 * wins: 1.6), below 1-eps with adv < 0 (clipped wins: 0.6), above 1+eps
 * with adv < 0 (unclipped wins: 1.5), below 1-eps with adv > 0
 * (unclipped wins: 0.5) */
static const double ratio[N] = {0.95, 1.1, 1.6, 0.6, 0.5, 1.5};

static double logp_of(const float *zz, size_t i, size_t a)
{
    double m = zz[i * A], s = 0;
    for (size_t j = 1; j < A; j++) m = zz[i * A + j] > m ? zz[i * A + j] : m;
    for (size_t j = 0; j < A; j++) s += exp(zz[i * A + j] - m);
    return zz[i * A + a] - m - log(s);
}

static void setup(void)
{
    for (size_t i = 0; i < N * A; i++) z[i] = (float)sin(1.7 * (double)i + 0.3);
    for (size_t i = 0; i < N; i++)
        old_logp[i] = (float)(logp_of(z, i, act[i]) - log(ratio[i]));
}

static double loss_at(const float *zz, float *dz, double *ent, double *clipped)
{
    return tr_ppo_policy_loss(zz, N, A, act, old_logp, adv, 0.2, 0.05,
                              1.0f / N, dz, ent, clipped);
}

static void test_gradient(void)
{
    setup();
    float dz[N * A], scratch[N * A], zz[N * A];
    double ent = 0, clipped = 0;
    loss_at(z, dz, &ent, &clipped);
    CU_ASSERT_EQUAL(clipped, 4); /* every row but the first two */
    double worst = 0;
    for (size_t k = 0; k < N * A; k++) {
        const float h = 1e-3f;
        for (size_t i = 0; i < N * A; i++) zz[i] = z[i];
        zz[k] = z[k] + h;
        double up = loss_at(zz, scratch, &ent, &clipped);
        zz[k] = z[k] - h;
        double down = loss_at(zz, scratch, &ent, &clipped);
        double fd = (up - down) / ((double)(z[k] + h) - (double)(z[k] - h)) / N;
        double err = fabs(fd - dz[k]) / (1e-3 + fabs(fd));
        worst = err > worst ? err : worst;
    }
    CU_ASSERT(worst < 1e-3);
    /* without the entropy term, the rows where the clipped term wins
     * (2: adv > 0 above 1+eps, 3: adv < 0 below 1-eps) get no gradient;
     * the rows where the unclipped term wins outside the range do */
    tr_ppo_policy_loss(z, N, A, act, old_logp, adv, 0.2, 0.0, 1.0f, dz, &ent,
                       &clipped);
    for (size_t i = 0; i < N; i++) {
        double g = 0;
        for (size_t j = 0; j < A; j++) g += fabs(dz[i * A + j]);
        if (i == 2 || i == 3) CU_ASSERT_EQUAL(g, 0);
        if (i != 2 && i != 3) CU_ASSERT(g > 0.1);
    }
}

/* loss = sum_i -min(r a, clip(r) a) - c H */
static void test_value(void)
{
    setup();
    float dz[N * A];
    double ent = 0, clipped = 0, want = 0, hsum = 0;
    double got = loss_at(z, dz, &ent, &clipped);
    for (size_t i = 0; i < N; i++) {
        double h = 0;
        for (size_t j = 0; j < A; j++) {
            double lp = logp_of(z, i, j);
            h -= exp(lp) * lp;
        }
        double r = ratio[i], rc = r < 0.8 ? 0.8 : r > 1.2 ? 1.2 : r;
        double t = r * adv[i] < rc * adv[i] ? r * adv[i] : rc * adv[i];
        want += -t - 0.05 * h;
        hsum += h;
    }
    CU_ASSERT_DOUBLE_EQUAL(got, want, 1e-5 * fabs(want));
    CU_ASSERT_DOUBLE_EQUAL(ent, hsum, 1e-9);
}

int main(void)
{
    static const cu_test tests[] = {
        {"policy loss gradient vs finite differences", test_gradient},
        {"policy loss value", test_value},
        {NULL, NULL}};
    static const cu_suite suites[] = {{"ppo", tests}, {NULL, NULL}};
    return cu_main("test_ppo", suites);
}

/* tests/nn/test_schedule.c - learning-rate schedules against numbers
 * worked out by hand (warmup endpoints, step boundaries, the cosine's
 * quarter, midpoint and end, exponential at whole and half periods), the
 * linear scaling rule, kind names, and the validity checks. */
#include <math.h>   /* fabs, sqrt */
#include <stdio.h>  /* fprintf */
#include <string.h> /* strstr */

#include "nn/schedule.h"
#include "tests/cu.h"

/* |got - want| <= 1e-12 * max(1, |want|), reported with the step. */
static void near(double got, double want, unsigned long long step, int line)
{
    double tol = 1e-12 * (fabs(want) > 1 ? fabs(want) : 1);
    if (fabs(got - want) <= tol) {
        CU_PASS("lr matches");
        return;
    }
    fprintf(stderr, "\n    (test line %d) step %llu: lr %.17g, want %.17g\n",
            line, step, got, want);
    CU_FAIL("lr differs from the hand-computed value");
}

#define AT(s, step, want) \
    near(nn_schedule_lr((s), (step)), (want), (step), __LINE__)

static void test_constant(void)
{
    nn_schedule s = nn_schedule_constant(0.1);
    CU_ASSERT_EQUAL(s.kind, NN_SCHED_CONSTANT);
    AT(&s, 0, 0.1);
    AT(&s, 1, 0.1);
    AT(&s, 1000000, 0.1);
}

static void test_warmup_endpoints(void)
{
    nn_schedule s = nn_schedule_constant(0.1);
    s.warmup_steps = 10;
    AT(&s, 0, 0.0);  /* starts at warmup_start = 0 */
    AT(&s, 1, 0.01);
    AT(&s, 5, 0.05); /* halfway */
    AT(&s, 9, 0.09);
    AT(&s, 10, 0.1); /* base reached exactly when the warmup ends */
    AT(&s, 11, 0.1);
    s.warmup_start = 0.02; /* line from 0.02 to 0.1 over 10 steps */
    AT(&s, 0, 0.02);
    AT(&s, 5, 0.06);
    AT(&s, 10, 0.1);
    s.warmup_steps = 1; /* one step at warmup_start, then base */
    AT(&s, 0, 0.02);
    AT(&s, 1, 0.1);
}

static void test_step(void)
{
    nn_schedule s = nn_schedule_constant(0.1);
    s.kind = NN_SCHED_STEP;
    s.step_size = 100;
    s.gamma = 0.5;
    AT(&s, 0, 0.1);
    AT(&s, 99, 0.1);    /* last step before the first boundary */
    AT(&s, 100, 0.05);  /* the boundary itself takes the new rate */
    AT(&s, 199, 0.05);
    AT(&s, 200, 0.025);
    AT(&s, 350, 0.0125);
    /* with warmup the boundaries move by warmup_steps */
    s.warmup_steps = 10;
    AT(&s, 5, 0.05);
    AT(&s, 10, 0.1);
    AT(&s, 109, 0.1);
    AT(&s, 110, 0.05);
    AT(&s, 210, 0.025);
}

static void test_exponential(void)
{
    nn_schedule s = nn_schedule_constant(0.1);
    s.kind = NN_SCHED_EXPONENTIAL;
    s.decay_steps = 100;
    s.gamma = 0.5;
    AT(&s, 0, 0.1);
    AT(&s, 50, 0.1 / sqrt(2.0)); /* 0.5^(1/2): smooth, no staircase */
    AT(&s, 100, 0.05);
    AT(&s, 300, 0.0125);
    AT(&s, 1, 0.1 * pow(0.5, 0.01));
    s.gamma = 0.1;
    s.decay_steps = 1000;
    AT(&s, 2000, 0.001);
    AT(&s, 500, 0.1 * 0.31622776601683794); /* 0.1^(1/2) = 1/sqrt(10) */
    s.warmup_steps = 100;
    AT(&s, 50, 0.05);
    AT(&s, 100, 0.1);
    AT(&s, 1100, 0.01);
}

static void test_cosine(void)
{
    nn_schedule s = nn_schedule_constant(0.1);
    s.kind = NN_SCHED_COSINE;
    s.total_steps = 100;
    s.min_lr = 0.001;
    AT(&s, 0, 0.1);
    /* a quarter of the way: (1 + cos(pi/4))/2 = (2 + sqrt 2)/4 */
    AT(&s, 25, 0.001 + 0.099 * (2.0 + sqrt(2.0)) / 4.0);
    AT(&s, 50, 0.0505); /* midpoint: halfway between base and min */
    AT(&s, 75, 0.001 + 0.099 * (2.0 - sqrt(2.0)) / 4.0);
    AT(&s, 100, 0.001); /* the end */
    AT(&s, 150, 0.001); /* and it stays there */
    s.min_lr = 0.0;
    AT(&s, 50, 0.05);
    AT(&s, 100, 0.0);
    /* warmup 20 of 120 total: the cosine spans steps 20..120 */
    s.warmup_steps = 20;
    s.total_steps = 120;
    s.min_lr = 0.001;
    AT(&s, 10, 0.05);
    AT(&s, 20, 0.1);
    AT(&s, 70, 0.0505);
    AT(&s, 120, 0.001);
}

/* After warmup, every decaying schedule never rises; across the warmup the
 * rate rises; nowhere does it jump at the end of the warmup. Values do not
 * depend on the order of calls (a pure function). */
static void test_shape_properties(void)
{
    nn_schedule s = nn_schedule_constant(0.2);
    s.warmup_steps = 7;
    s.step_size = 13;
    s.gamma = 0.7;
    s.decay_steps = 11;
    s.total_steps = 90;
    s.min_lr = 0.01;
    const nn_schedule_kind kinds[] = {NN_SCHED_STEP, NN_SCHED_EXPONENTIAL,
                                      NN_SCHED_COSINE};
    for (size_t k = 0; k < 3; k++) {
        s.kind = kinds[k];
        double prev = nn_schedule_lr(&s, 0);
        for (uint64_t t = 1; t < 200; t++) {
            double lr = nn_schedule_lr(&s, t);
            if (t <= s.warmup_steps) {
                CU_ASSERT(lr > prev);
            } else {
                CU_ASSERT(lr <= prev);
            }
            CU_ASSERT(lr > 0.0);
            prev = lr;
        }
        CU_ASSERT_EQUAL(nn_schedule_lr(&s, 7), 0.2);
        double late = nn_schedule_lr(&s, 150);
        (void)nn_schedule_lr(&s, 3);
        CU_ASSERT_EQUAL(nn_schedule_lr(&s, 150), late);
    }
}

static void test_linear_scaling(void)
{
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_linear_scale(0.1, 1024, 256), 0.4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_linear_scale(0.1, 128, 256), 0.05, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(nn_schedule_linear_scale(0.05, 96, 32), 0.15, 1e-15);
    CU_ASSERT_EQUAL(nn_schedule_linear_scale(0.1, 256, 256), 0.1);
    CU_ASSERT_EQUAL(nn_schedule_linear_scale(0.1, 4096, 0), 0.1); /* off */
    /* scaled base, unscaled warmup start (Goyal et al.: 0.1 -> 0.1*k) */
    nn_schedule s = nn_schedule_constant(nn_schedule_linear_scale(0.1, 2048, 256));
    s.warmup_steps = 4;
    s.warmup_start = 0.1;
    AT(&s, 0, 0.1);
    AT(&s, 2, 0.45);
    AT(&s, 4, 0.8);
}

static void test_kind_names(void)
{
    const char *names[] = {"constant", "step", "exponential", "cosine"};
    for (int i = 0; i < NN_SCHED_KINDS; i++) {
        CU_ASSERT_EQUAL(nn_schedule_kind_parse(names[i]), i);
        CU_ASSERT_STRING_EQUAL(nn_schedule_kind_name((nn_schedule_kind)i),
                               names[i]);
    }
    CU_ASSERT_EQUAL(nn_schedule_kind_parse("Cosine"), -1);
    CU_ASSERT_EQUAL(nn_schedule_kind_parse("linear"), -1);
    CU_ASSERT_EQUAL(nn_schedule_kind_parse(""), -1);
    CU_ASSERT_EQUAL(nn_schedule_kind_parse(NULL), -1);
    CU_ASSERT_STRING_EQUAL(nn_schedule_kind_name((nn_schedule_kind)9), "?");
}

/* nn_schedule_check fails with NN_EXIT_USAGE and `want` in the message. */
static void check_fails(const nn_schedule *s, const char *want, int line)
{
    nn_error err;
    nn_error_clear(&err);
    int rc = nn_schedule_check(s, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
    if (rc == NN_EXIT_USAGE && strstr(err.msg, want)) return;
    fprintf(stderr, "\n    (test line %d) rc %d, message \"%s\" lacks \"%s\"\n",
            line, rc, err.msg, want);
    CU_FAIL("check did not fail as expected");
}

static void test_check(void)
{
    nn_error err;
    nn_schedule s = nn_schedule_constant(0.1);
    s.step_size = 0; /* unused by constant: not checked */
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), 0);
    s.base_lr = 0.0;
    check_fails(&s, "base lr", __LINE__);
    s.base_lr = NAN;
    check_fails(&s, "base lr", __LINE__);
    s = nn_schedule_constant(0.1);
    s.warmup_steps = 5;
    s.warmup_start = -0.1;
    check_fails(&s, "warmup", __LINE__);

    s = nn_schedule_constant(0.1);
    s.kind = NN_SCHED_STEP;
    check_fails(&s, "step_size", __LINE__);
    s.step_size = 10;
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), 0); /* gamma 0.1 default */
    s.gamma = 0.0;
    check_fails(&s, "gamma", __LINE__);
    s.gamma = 1.5;
    check_fails(&s, "gamma", __LINE__);
    s.gamma = 1.0;
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), 0);

    s = nn_schedule_constant(0.1);
    s.kind = NN_SCHED_EXPONENTIAL;
    check_fails(&s, "decay_steps", __LINE__);
    s.decay_steps = 3;
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), 0);

    s = nn_schedule_constant(0.1);
    s.kind = NN_SCHED_COSINE;
    s.warmup_steps = 10;
    s.total_steps = 10;
    check_fails(&s, "leaves no step for the cosine", __LINE__);
    s.total_steps = 11;
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), 0);
    s.min_lr = 0.2;
    check_fails(&s, "min_lr", __LINE__);
    s.min_lr = 0.1; /* a flat "cosine" is allowed */
    CU_ASSERT_EQUAL(nn_schedule_check(&s, &err), 0);
    AT(&s, 10, 0.1);
    AT(&s, 11, 0.1);

    s.kind = (nn_schedule_kind)7;
    check_fails(&s, "unknown kind", __LINE__);
}

static const cu_test schedule_tests[] = {
    {"constant", test_constant},
    {"linear warmup endpoints", test_warmup_endpoints},
    {"step boundaries", test_step},
    {"exponential", test_exponential},
    {"cosine quarter, midpoint, end", test_cosine},
    {"monotone, continuous, pure", test_shape_properties},
    {"linear scaling rule", test_linear_scaling},
    {"kind names", test_kind_names},
    {"validity checks", test_check},
    {NULL, NULL}};

static const cu_suite suites[] = {
    {"schedule", schedule_tests},
    {NULL, NULL}};

int main(void) { return cu_main("nn_test_schedule", suites); }

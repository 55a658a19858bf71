/* tests/nn/test_earlystop.c - early stopping on scripted metric sequences. */
#include <math.h>

#include "nn/earlystop.h"
#include "tests/cu.h"

/* Feed values until STOP; return the epoch it stopped at (0 = never). */
static uint64_t run(nn_early_stop *e, const double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (nn_early_stop_update(e, (uint64_t)i + 1, v[i]) == NN_ES_STOP)
            return (uint64_t)i + 1;
    return 0;
}

static void test_loss_patience(void)
{
    /* best at epoch 3 (0.5); epochs 4, 5 do not improve; patience 2 */
    const double v[] = {0.9, 0.7, 0.5, 0.55, 0.51, 0.4};
    nn_early_stop e = {.patience = 2};
    CU_ASSERT_EQUAL(run(&e, v, 6), 5);
    CU_ASSERT_EQUAL(e.best_epoch, 3);
    CU_ASSERT_DOUBLE_EQUAL(e.best, 0.5, 0);
}

static void test_min_delta(void)
{
    /* improvements of at most 0.009 do not count with min_delta 0.01 */
    const double v[] = {1.0, 0.995, 0.992, 0.991, 0.8};
    nn_early_stop e = {.patience = 3, .min_delta = 0.01};
    CU_ASSERT_EQUAL(run(&e, v, 5), 4);
    CU_ASSERT_EQUAL(e.best_epoch, 1);
    nn_early_stop f = {.patience = 3, .min_delta = 0.0};
    CU_ASSERT_EQUAL(run(&f, v, 5), 0);
    CU_ASSERT_EQUAL(f.best_epoch, 5);
}

static void test_accuracy_higher_is_better(void)
{
    /* 0.79 after 0.8 is no improvement; 0.81 is, and resets the count */
    const double v[] = {0.5, 0.8, 0.7, 0.79, 0.81, 0.6, 0.6, 0.6};
    nn_early_stop e = {.higher_is_better = 1, .patience = 3};
    CU_ASSERT_EQUAL(run(&e, v, 8), 8);
    CU_ASSERT_EQUAL(e.best_epoch, 5);
    CU_ASSERT_DOUBLE_EQUAL(e.best, 0.81, 0);
}

static void test_nan_never_improves(void)
{
    const double v[] = {NAN, 0.5, NAN, NAN};
    nn_early_stop e = {.patience = 2};
    CU_ASSERT_EQUAL(run(&e, v, 4), 4);
    CU_ASSERT_EQUAL(e.best_epoch, 2);
}

static void test_resume_state(void)
{
    /* stopping after a resume continues the count from the saved state */
    nn_early_stop e = {.patience = 3, .best = 0.4, .best_epoch = 7,
                       .bad_epochs = 2};
    CU_ASSERT_EQUAL(nn_early_stop_update(&e, 10, 0.45), NN_ES_STOP);
    nn_early_stop f = {.patience = 3, .best = 0.4, .best_epoch = 7,
                       .bad_epochs = 2};
    CU_ASSERT_EQUAL(nn_early_stop_update(&f, 10, 0.3), NN_ES_IMPROVED);
    CU_ASSERT_EQUAL(f.bad_epochs, 0);
}

static const cu_test tests[] = {
    {"loss_patience", test_loss_patience},
    {"min_delta", test_min_delta},
    {"accuracy_higher_is_better", test_accuracy_higher_is_better},
    {"nan_never_improves", test_nan_never_improves},
    {"resume_state", test_resume_state},
    {NULL, NULL}};
static const cu_suite suites[] = {{"earlystop", tests}, {NULL, NULL}};

int main(void) { return cu_main("nn_earlystop", suites); }

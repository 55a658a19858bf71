/* tests/nn/test_textbook.c - worked examples with known answers: least
 * squares on four points, the MSE of a given line, gradient descent that
 * finds the same line, and multiple regression (closed form vs gradient
 * descent on standardised features). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/loss.h"
#include "nn/lstsq.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "tests/cu.h"

static const float X4[4] = {2, 4, 6, 8};
static const float Y4[4] = {81, 93, 91, 97};

/* A model of one dense layer with `units` outputs over `in` features. */
static nn_model *linear_model(size_t in, size_t rows)
{
    static const char *const kv[] = {"units", "1", NULL};
    nn_spec s;
    cu_spec_make(&s, NULL, "dense", kv);
    nn_model *m = NULL;
    nn_error err = {0, ""};
    int rc = nn_model_create(&m, &s, 1, nn_shape_1d(in), &err);
    nn_spec_free(&s);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_FATAL(rc == 0);
    nn_model_reserve(m, rows);
    nn_model_init(m, 1);
    return m;
}

static void test_lstsq_four_points(void)
{
    double A[4] = {0}, c[2] = {0}, b[2];
    nn_lstsq_accumulate(X4, Y4, 4, 1, 1, A, c);
    CU_ASSERT_DOUBLE_EQUAL(A[0], 120.0, 0); /* sum x^2 */
    CU_ASSERT_DOUBLE_EQUAL(A[1], 20.0, 0);  /* sum x */
    CU_ASSERT_DOUBLE_EQUAL(A[3], 4.0, 0);   /* n */
    nn_error err = {0, ""};
    CU_ASSERT_FATAL(nn_lstsq_solve(A, c, 2, 1, b, &err) == 0);
    CU_ASSERT_DOUBLE_EQUAL(b[0], 2.3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(b[1], 79.0, 1e-9);
    /* Split accumulation (as ranks do) gives the same sums. */
    double A2[4] = {0}, c2[2] = {0};
    nn_lstsq_accumulate(X4, Y4, 1, 1, 1, A2, c2);
    nn_lstsq_accumulate(X4 + 1, Y4 + 1, 3, 1, 1, A2, c2);
    CU_ASSERT(memcmp(A, A2, sizeof A) == 0 && memcmp(c, c2, sizeof c) == 0);
}

static void test_lstsq_singular(void)
{
    const float x[3] = {5, 5, 5}, y[3] = {1, 2, 3};
    double A[4] = {0}, c[2] = {0}, b[2];
    nn_lstsq_accumulate(x, y, 3, 1, 1, A, c);
    nn_error err = {0, ""};
    CU_ASSERT_EQUAL(nn_lstsq_solve(A, c, 2, 1, b, &err), NN_EXIT_DATA);
    CU_ASSERT_EQUAL(err.code, NN_EXIT_DATA);
    CU_ASSERT(strstr(err.msg, "singular") != NULL);
}

/* y = 3x + 76 on the four points: errors 1, -5, 3, 3, MSE = 44/4 = 11. */
static void test_mse_of_line(void)
{
    nn_model *m = linear_model(1, 4);
    m->params[0] = 3.0f;  /* weight */
    m->params[1] = 76.0f; /* bias */
    const float *p = nn_model_forward(m, X4, 4, NULL);
    CU_ASSERT_DOUBLE_EQUAL(p[0], 82.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(p[3], 100.0, 0);
    nn_loss_stats st;
    nn_loss_find("mse")->eval(p, Y4, 4, 1, 0.25f, NULL, &st);
    CU_ASSERT_EQUAL(st.counted, 4);
    CU_ASSERT_DOUBLE_EQUAL(st.sum / 4.0, 11.0, 1e-12);
    nn_model_destroy(m);
}

/* Full-batch gradient descent on x, y; returns the final loss mean. */
static double descend(nn_model *m, const float *x, const float *y, size_t n,
                      float lr, size_t steps)
{
    const nn_loss_ops *mse = nn_loss_find("mse");
    nn_optim_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = NN_OPT_SGD;
    nn_optim *o = nn_optim_create(&cfg, m->n_params, m->segs, m->n_segs);
    float *d = nn_xalloc_floats(n);
    nn_loss_stats st = {0, 0, 0};
    for (size_t s = 0; s < steps; s++) {
        nn_model_zero_grad(m);
        const float *p = nn_model_forward(m, x, n, NULL);
        mse->eval(p, y, n, 1, 1.0f / (float)n, d, &st);
        nn_model_backward(m, x, d, n);
        nn_optim_step(o, m->params, m->grads, lr);
    }
    free(d);
    nn_optim_destroy(o);
    return st.sum / (double)n;
}

static void test_gradient_descent_line(void)
{
    nn_model *m = linear_model(1, 4);
    /* Curvature of the mean loss: 2 [[30, 5], [5, 1]], largest eigenvalue
     * ~61.7, so lr must stay below 2/61.7; smallest ~0.33 sets the pace. */
    double loss = descend(m, X4, Y4, 4, 0.03f, 6000);
    CU_ASSERT_DOUBLE_EQUAL(m->params[0], 2.3, 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(m->params[1], 79.0, 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(loss, 8.3, 1e-3); /* residual MSE of 2.3x + 79 */
    nn_model_destroy(m);
}

#define NR 400
#define NF 5

static void test_multiple_regression(void)
{
    static const double beta[NF] = {1.5, -2.0, 0.5, 3.0, -1.0};
    static const double mu[NF] = {10, -3, 0, 50, 1}, sd[NF] = {2, 0.5, 1, 10, 3};
    const double intercept = 4.0;
    float *x = nn_xalloc_floats(NR * NF), *y = nn_xalloc_floats(NR);
    nn_rng r;
    nn_rng_seed(&r, 77);
    for (size_t i = 0; i < NR; i++) {
        double t = intercept + 0.01 * nn_rng_normal(&r);
        for (size_t j = 0; j < NF; j++) {
            x[i * NF + j] = (float)(mu[j] + sd[j] * nn_rng_normal(&r));
            t += beta[j] * x[i * NF + j];
        }
        y[i] = (float)t;
    }
    /* Closed form on the raw features recovers the coefficients. */
    double A[(NF + 1) * (NF + 1)] = {0}, c[NF + 1] = {0}, b[NF + 1];
    nn_error err = {0, ""};
    nn_lstsq_accumulate(x, y, NR, NF, 1, A, c);
    CU_ASSERT_FATAL(nn_lstsq_solve(A, c, NF + 1, 1, b, &err) == 0);
    for (size_t j = 0; j < NF; j++) CU_ASSERT_DOUBLE_EQUAL(b[j], beta[j], 5e-3);
    CU_ASSERT_DOUBLE_EQUAL(b[NF], intercept, 0.05);

    /* Standardise each column; the model's weight w_j then equals
     * b_j * s_j and its bias b_0 + sum b_j m_j (column mean m, sd s). */
    double m_[NF], s_[NF];
    for (size_t j = 0; j < NF; j++) {
        double a = 0, q = 0;
        for (size_t i = 0; i < NR; i++) a += x[i * NF + j];
        m_[j] = a / NR;
        for (size_t i = 0; i < NR; i++)
            q += (x[i * NF + j] - m_[j]) * (x[i * NF + j] - m_[j]);
        s_[j] = sqrt(q / NR);
        for (size_t i = 0; i < NR; i++)
            x[i * NF + j] = (float)((x[i * NF + j] - m_[j]) / s_[j]);
    }
    nn_model *m = linear_model(NF, NR);
    descend(m, x, y, NR, 0.1f, 3000);
    double bias = b[NF];
    for (size_t j = 0; j < NF; j++) {
        double want = b[j] * s_[j];
        CU_ASSERT(fabs(m->params[j] - want) <= 1e-3 * fabs(want));
        bias += b[j] * m_[j];
    }
    CU_ASSERT(fabs(m->params[NF] - bias) <= 1e-3 * fabs(bias));
    nn_model_destroy(m);
    free(x);
    free(y);
}

static const cu_test tests[] = {
    {"least squares on four points: a=2.3 b=79", test_lstsq_four_points},
    {"singular normal matrix is an error", test_lstsq_singular},
    {"MSE of y=3x+76 is 11", test_mse_of_line},
    {"gradient descent finds a=2.3 b=79", test_gradient_descent_line},
    {"multiple regression: closed form and descent agree", test_multiple_regression},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"textbook", tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_textbook", suites);
}

/* tests/trainer/test_semisup.c - the pseudo-label term of semi-supervised
 * training (trainer/semisup.c): which rows get a pseudo-label, their loss,
 * and the gradient against finite differences of an independent
 * computation of that loss; labelled rows are left to the supervised loss.
 * Its keys are the supervised objective's (tests/trainer/test_schema.c). */
#include "trainer/semisup.h"

#include <math.h>   /* exp, log, fabs */
#include <stdio.h>  /* fprintf */
#include <string.h> /* memset */

#include "nn/rng.h"
#include "tests/cu.h"

#define N 8
#define D 5

/* CE(z, c) = logsumexp(z) - z_c, in double. */
static double ce(const float *z, size_t dim, size_t c)
{
    double m = z[0], s = 0;
    for (size_t j = 1; j < dim; j++) m = z[j] > m ? z[j] : m;
    for (size_t j = 0; j < dim; j++) s += exp((double)z[j] - m);
    return m + log(s) - z[c];
}

static double pmax(const float *z, size_t dim, size_t *arg)
{
    double m = z[0], s = 0;
    *arg = 0;
    for (size_t j = 1; j < dim; j++)
        if (z[j] > m) {
            m = z[j];
            *arg = j;
        }
    for (size_t j = 0; j < dim; j++) s += exp((double)z[j] - m);
    return 1 / s;
}

/* Logits: row i scaled by (i + 1) / 2 so that some rows are confident,
 * some not; rows 0, 3 and 6 are labelled. */
static void fixture(float *z, float *target)
{
    nn_rng r;
    nn_rng_seed(&r, 42);
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < D; j++)
            z[i * D + j] = (float)(nn_rng_normal(&r) * (double)(i + 1) / 2);
        target[i] = i % 3 == 0 ? (float)(i % D) : NN_LABEL_NONE;
    }
}

static void test_rows_and_gradient(void)
{
    float z[N * D], target[N], dz[N * D];
    fixture(z, target);
    const double th = 0.7;
    const float w = 0.5f, scale = 0.125f;
    for (size_t k = 0; k < N * D; k++) dz[k] = 99.0f; /* sentinel */
    tr_stats acc = {0};
    tr_pseudo_labels(z, target, N, D, th, w, scale, dz, &acc);
    size_t unl = 0, pl = 0;
    double want_sum = 0, worst = 0;
    for (size_t i = 0; i < N; i++) {
        const float *zi = z + i * D;
        float *gi = dz + i * D;
        if (target[i] != NN_LABEL_NONE) {
            for (size_t j = 0; j < D; j++) CU_ASSERT_EQUAL(gi[j], 99.0f);
            continue;
        }
        unl++;
        size_t c;
        if (pmax(zi, D, &c) < th) {
            for (size_t j = 0; j < D; j++) CU_ASSERT_EQUAL(gi[j], 0.0f);
            continue;
        }
        pl++;
        want_sum += ce(zi, D, c);
        /* d/dz_j of w * scale * CE(z, c), c held fixed: central
         * differences of the double-precision loss */
        for (size_t j = 0; j < D; j++) {
            float zp[D], zm[D];
            const double h = 1e-3;
            memcpy(zp, zi, sizeof zp);
            memcpy(zm, zi, sizeof zm);
            zp[j] += (float)h;
            zm[j] -= (float)h;
            double fd = w * scale * (ce(zp, D, c) - ce(zm, D, c)) /
                        ((double)zp[j] - (double)zm[j]);
            double e = fabs(fd - gi[j]);
            if (e > worst) worst = e;
        }
    }
    CU_ASSERT(pl >= 2 && pl < unl); /* the fixture exercises both sides */
    CU_ASSERT_EQUAL(acc.unlabelled, (double)unl);
    CU_ASSERT_EQUAL(acc.pseudo_count, (double)pl);
    CU_ASSERT_DOUBLE_EQUAL(acc.pseudo_sum, want_sum, 1e-4 * (1 + want_sum));
    CU_ASSERT(worst < 2e-5);
    if (worst >= 2e-5) fprintf(stderr, "\n  worst gradient error %g\n", worst);
    /* the supervised statistics are not the pseudo term's business */
    CU_ASSERT_EQUAL(acc.loss_sum, 0);
    CU_ASSERT_EQUAL(acc.count, 0);
}

/* logits (log 3, 0, 0): p_max = 3/5 exactly at the threshold's edge. */
static void test_threshold_edge(void)
{
    float z[3] = {(float)log(3.0), 0, 0}, t = NN_LABEL_NONE, g[3];
    tr_stats a = {0};
    tr_pseudo_labels(z, &t, 1, 3, 0.59, 1, 1, g, &a);
    CU_ASSERT_EQUAL(a.pseudo_count, 1);
    CU_ASSERT_DOUBLE_EQUAL(g[0], 0.6 - 1, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(g[1], 0.2, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(a.pseudo_sum, log(5.0 / 3), 1e-6);
    tr_stats b = {0};
    tr_pseudo_labels(z, &t, 1, 3, 0.61, 1, 1, g, &b);
    CU_ASSERT_EQUAL(b.pseudo_count, 0);
    CU_ASSERT_EQUAL(b.unlabelled, 1);
    CU_ASSERT_EQUAL(g[0], 0);
    /* no gradient buffer: statistics only */
    tr_stats c = {0};
    tr_pseudo_labels(z, &t, 1, 3, 0.59, 1, 1, NULL, &c);
    CU_ASSERT_EQUAL(c.pseudo_count, 1);
}

/* The whole micro-batch loss: labelled rows exactly as cross_entropy
 * alone, unlabelled rows as the pseudo term alone; threshold 0 leaves
 * the unlabelled rows out entirely. */
static void test_train_loss(void)
{
    float z[N * D], target[N], all[N * D], sup[N * D], ps[N * D];
    fixture(z, target);
    tr_session s;
    memset(&s, 0, sizeof s);
    s.loss = nn_loss_find("cross_entropy");
    s.loss_dim = D;
    s.loss_steps = 1;
    /* the supervised objective's keys, as tr_config_parse leaves them */
    tr_semisup_cfg keys = {.pseudo_label_threshold = 0.7,
                           .pseudo_label_weight = 2};
    s.cfg.n_ext = 1;
    s.cfg.ext_schema[0] = &tr_supervised_schema;
    s.cfg.ext[0] = &keys;
    tr_stats a = {0}, p = {0};
    tr_train_loss(&s, z, target, N, 0.25f, all, &a);
    nn_loss_stats ls;
    s.loss->eval(z, target, N, D, 0.25f, sup, &ls);
    tr_pseudo_labels(z, target, N, D, 0.7, 2, 0.25f, ps, &p);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++) {
            float want = target[i] == NN_LABEL_NONE ? ps[i * D + j]
                                                     : sup[i * D + j];
            CU_ASSERT_EQUAL(all[i * D + j], want);
        }
    CU_ASSERT_DOUBLE_EQUAL(a.loss_sum, ls.sum, 1e-12);
    CU_ASSERT_EQUAL(a.count, 3);
    CU_ASSERT_EQUAL(a.pseudo_count, p.pseudo_count);
    CU_ASSERT(a.pseudo_count > 0);
    /* off: only the supervised rows count, unlabelled rows get zeros */
    keys.pseudo_label_threshold = 0;
    tr_stats off = {0};
    tr_train_loss(&s, z, target, N, 0.25f, all, &off);
    CU_ASSERT_EQUAL(off.pseudo_count, 0);
    CU_ASSERT_EQUAL(off.unlabelled, 0);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D && target[i] == NN_LABEL_NONE; j++)
            CU_ASSERT_EQUAL(all[i * D + j], 0.0f);
    /* sequences are refused when pseudo-labelling */
    s.opt = &(tr_options){.config = "c.yaml"};
    CU_ASSERT_EQUAL(tr_semisup_check(&s), 0);
    keys.pseudo_label_threshold = 0.9;
    CU_ASSERT_EQUAL(tr_semisup_check(&s), 0);
    s.loss_steps = 4;
    CU_ASSERT_EQUAL(tr_semisup_check(&s), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(s.err.msg, "4 steps"));
}

static const cu_test tests[] = {
    {"rows, loss, gradient vs finite differences", test_rows_and_gradient},
    {"threshold edge", test_threshold_edge},
    {"with the supervised loss", test_train_loss},
    {NULL, NULL}};
static const cu_suite suites[] = {{"pseudo-labels", tests}, {NULL, NULL}};

int main(void)
{
    return cu_main("trainer_test_semisup", suites);
}

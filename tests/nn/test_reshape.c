/* tests/nn/test_reshape.c - the reshape layer: output shapes, identity
 * forward, finite-difference gradients, errors naming both shapes, and a
 * model that reads an image row by row with it. */
#include <stdlib.h> /* free */
#include <string.h> /* memset, memcmp, strstr */

#include "nn/check.h"
#include "nn/gradcheck.h"
#include "nn/layer.h"
#include "nn/model.h"
#include "nn/spec.h"
#include "tests/cu.h"

/* A reshape spec with `shape` (NULL: no key). */
static void spec_make(nn_spec *s, const char *shape)
{
    nn_error err;
    memset(s, 0, sizeof *s);
    s->type = nn_xstrdup("reshape");
    s->name = nn_xstrdup("rows");
    s->file = "test.yaml";
    s->line = 7;
    if (shape) CU_ASSERT_EQUAL_FATAL(nn_spec_add(s, "shape", shape, 8, &err), 0);
}

static int make(nn_layer *l, const char *shape, nn_shape in, nn_error *err)
{
    nn_spec s;
    spec_make(&s, shape);
    int rc = nn_layer_make(l, &s, in, err);
    nn_spec_free(&s);
    if (rc == 0) nn_layer_reserve(l, 4);
    return rc;
}

static void test_shapes(void)
{
    static const struct {
        const char *shape;
        nn_shape in, out;
    } cases[] = {
        {"28,28", {3, {1, 28, 28}}, {2, {28, 28}}},
        {"784", {3, {1, 28, 28}}, {1, {784}}},
        {"4, 3, 2", {2, {6, 4}}, {3, {4, 3, 2}}},
        {"1,2,3,4", {1, {24}}, {4, {1, 2, 3, 4}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nn_layer l;
        nn_error err;
        CU_ASSERT_EQUAL_FATAL(make(&l, cases[i].shape, cases[i].in, &err), 0);
        CU_ASSERT_TRUE(nn_shape_eq(l.out, cases[i].out));
        CU_ASSERT_EQUAL(l.n_params, 0);
        nn_layer_free(&l);
    }
}

/* Forward is the identity on the row-major values; the gradients (through
 * L = sum(y * r)) match central differences. */
static void test_forward_and_gradients(void)
{
    nn_layer l;
    nn_error err;
    nn_shape in = nn_shape_3d(2, 3, 4);
    CU_ASSERT_EQUAL_FATAL(make(&l, "6,4", in, &err), 0);
    CU_ASSERT_TRUE(nn_shape_eq(l.out, nn_shape_2d(6, 4)));
    float *x = cu_rand_floats(3 * 24, 5, -1, 1), y[3 * 24];
    nn_pass pass = {0, 0, 0, NULL};
    l.ops->forward(&l, x, y, 3, &pass);
    CU_ASSERT_EQUAL(memcmp(x, y, sizeof y), 0);
    nn_gradcheck_opts o = {1e-2, 1e-2, 1e-3, 0};
    nn_gradcheck_result res;
    CU_ASSERT_TRUE(nn_gradcheck_layer(&l, x, 3, &pass, &o, 1, &res));
    CU_ASSERT_EQUAL(res.failed, 0);
    CU_ASSERT_TRUE(res.checked >= 3 * 24); /* every input entry */
    free(x);
    nn_layer_free(&l);
}

static void test_errors(void)
{
    nn_layer l;
    nn_error err;
    nn_shape img = nn_shape_3d(1, 28, 28);
    CU_ASSERT_EQUAL(make(&l, "28,29", img, &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "[28, 29] holds 812 values"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "[1, 28, 28] holds 784"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "test.yaml:8"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rows"));
    static const char *const bad[] = {"28,x", "0,784", "-28,-28", "",
                                      "28,,28", "1,1,1,28,28", "28 28",
                                      "28,28,", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CU_ASSERT_EQUAL(make(&l, bad[i], img, &err), NN_EXIT_USAGE);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "shape"));
    }
    CU_ASSERT_EQUAL(make(&l, NULL, img, &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "shape"));
}

/* reshape [28, 28] -> lstm (last state) -> dense: the row-by-row image
 * classifier of configs/fashion_rowrnn.yaml builds with the right shapes. */
static void test_in_a_model(void)
{
    const char *layers[][7] = {
        {"reshape", "shape", "28,28", NULL},
        {"lstm", "hidden", "8", "sequences", "false", NULL},
        {"dense", "units", "10", NULL},
    };
    nn_spec specs[3];
    nn_error err;
    for (size_t i = 0; i < 3; i++) {
        memset(&specs[i], 0, sizeof specs[i]);
        specs[i].type = nn_xstrdup(layers[i][0]);
        specs[i].file = "rowrnn.yaml";
        specs[i].line = (int)i + 1;
        for (size_t k = 1; layers[i][k]; k += 2)
            CU_ASSERT_EQUAL_FATAL(nn_spec_add(&specs[i], layers[i][k],
                                              layers[i][k + 1], 1, &err), 0);
    }
    nn_model *m = NULL;
    int rc = nn_model_create(&m, specs, 3, nn_shape_3d(1, 28, 28), &err);
    for (size_t i = 0; i < 3; i++) nn_spec_free(&specs[i]);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(nn_shape_eq(m->layers[0].out, nn_shape_2d(28, 28)));
    CU_ASSERT_TRUE(nn_shape_eq(m->layers[1].out, nn_shape_1d(8)));
    CU_ASSERT_TRUE(nn_shape_eq(nn_model_out_shape(m), nn_shape_1d(10)));
    /* lstm on [28, 28]: Wx[32, 28] + Wh[32, 8] + b[32]; dense 8*10 + 10 */
    CU_ASSERT_EQUAL(m->n_params, 32 * 28 + 32 * 8 + 32 + 90);
    nn_model_destroy(m);
}

static const cu_test tests[] = {
    {"output shapes", test_shapes},
    {"identity forward, gradcheck", test_forward_and_gradients},
    {"errors name both shapes", test_errors},
    {"row-by-row image model", test_in_a_model},
    {NULL, NULL}};
static const cu_suite suites[] = {{"reshape", tests}, {NULL, NULL}};

int main(void)
{
    return cu_main("nn_test_reshape", suites);
}

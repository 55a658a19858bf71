/* tests/cu.h - the CUnit runner every test program shares.
 *
 * A test file defines its suites as a NULL-terminated array of cu_suite and
 * calls cu_main from main(). The program exits non-zero when any assertion
 * failed or a suite could not be set up.
 */
#ifndef TESTS_CU_H
#define TESTS_CU_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#include <CUnit/CUnit.h>

#include "nn/layer.h" /* nn_layer, nn_shape */

typedef struct cu_test {
    const char *name;
    void (*fn)(void);
} cu_test;

typedef struct cu_suite {
    const char *name;
    const cu_test *tests; /* terminated by {NULL, NULL} */
} cu_suite;

int cu_main(const char *program, const cu_suite *suites);

/* A layer spec named `name` (NULL: the model names it) of `type`, from
 * NULL-terminated key, value pairs; the spec sits at line 1 of
 * "test.yaml" and key i at line 2 + i. Free with nn_spec_free. */
struct nn_spec;
void cu_spec_make(struct nn_spec *s, const char *name, const char *type,
                  const char *const *kv);

/* Set up a stand-alone layer (nn_layer_make) of `type` from kv pairs as
 * above, for samples of shape `in`; its parameters are zeros. Returns 0 or
 * the create error, which is printed unless `quiet`. Free with
 * nn_layer_free. */
int cu_layer_make(nn_layer *l, const char *type, const char *const *kv,
                  nn_shape in, int quiet);

/* Fresh temporary directory for this test program (created once,
 * removed at exit). */
const char *cu_tmpdir(void);

/* cu_tmpdir()/name, in one of 8 rotating buffers (valid for the next 7
 * calls). */
const char *cu_tmp_path(const char *name);

/* Write n bytes to path, gzip-compressed when gz (fatal assertions). */
void cu_write_bytes(const char *path, const void *data, size_t n, int gz);

/* n floats uniform in [lo, hi) from a generator seeded with seed
 * (nn_xalloc_floats: the caller frees). */
float *cu_rand_floats(size_t n, uint64_t seed, double lo, double hi);

#endif

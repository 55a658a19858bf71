/* tests/cu.c - shared CUnit runner (see cu.h). */
#include "tests/cu.h"

#include "nn/check.h"
#include "nn/rng.h"
#include "nn/spec.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h> /* gzopen */

static char tmpdir[256];

static void remove_tmpdir(void)
{
    char cmd[300];
    if (!tmpdir[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *cu_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/axon-test-XXXXXX",
                 base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

const char *cu_tmp_path(const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", cu_tmpdir(), name);
    return p;
}

void cu_write_bytes(const char *path, const void *data, size_t n, int gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        CU_ASSERT_FATAL(g != NULL);
        CU_ASSERT_FATAL(n == 0 || gzwrite(g, data, (unsigned)n) == (int)n);
        CU_ASSERT_FATAL(gzclose(g) == Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        CU_ASSERT_FATAL(f != NULL);
        CU_ASSERT_FATAL(fwrite(data, 1, n, f) == n);
        CU_ASSERT_FATAL(fclose(f) == 0);
    }
}

int cu_layer_make(nn_layer *l, const char *type, const char *const *kv,
                  nn_shape in, int quiet)
{
    nn_spec s;
    nn_error err = {0, ""};
    cu_spec_make(&s, "t", type, kv);
    int rc = nn_layer_make(l, &s, in, &err);
    nn_spec_free(&s);
    if (rc && !quiet) fprintf(stderr, "%s: %s\n", type, err.msg);
    return rc;
}

float *cu_rand_floats(size_t n, uint64_t seed, double lo, double hi)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    float *v = nn_xalloc_floats(n);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * nn_rng_uniform(&rng));
    return v;
}

int cu_main(const char *program, const cu_suite *suites)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    for (const cu_suite *s = suites; s->name; s++) {
        CU_pSuite ps = CU_add_suite(s->name, NULL, NULL);
        if (!ps) return 1;
        for (const cu_test *t = s->tests; t->name; t++)
            if (!CU_add_test(ps, t->name, t->fn)) return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    printf("== %s\n", program);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() +
                      CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) return 1;
    return failed ? 1 : 0;
}

void cu_spec_make(struct nn_spec *s, const char *name, const char *type,
                  const char *const *kv)
{
    memset(s, 0, sizeof *s);
    s->type = nn_xstrdup(type);
    s->name = name ? nn_xstrdup(name) : NULL;
    s->file = "test.yaml";
    s->line = 1;
    for (int i = 0; kv && kv[i]; i += 2)
        CU_ASSERT_FATAL(nn_spec_add(s, kv[i], kv[i + 1], 2 + i / 2, NULL) == 0);
}

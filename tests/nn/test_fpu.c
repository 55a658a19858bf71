/* tests/nn/test_fpu.c - flush-to-zero: the mode is really set, by doing
 * arithmetic, on the calling thread, on a thread started afterwards and in
 * OpenBLAS's worker threads; and it can be cleared again. */
#include <cblas.h>
#include <float.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/fpu.h"
#include "tests/cu.h"

#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
#define HAVE_MODE 1
#else
#define HAVE_MODE 0
#endif

static float smallest_subnormal(void)
{
    uint32_t bits = 1;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void *thread_mode(void *out)
{
    *(int *)out = nn_fpu_flushes_subnormals();
    return NULL;
}

static int mode_of_new_thread(void)
{
    pthread_t t;
    int mode = -2;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, thread_mode, &mode), 0);
    pthread_join(t, NULL);
    return mode;
}

/* C = A B with A all subnormal (1e-40) and B all 1e10, so every exact
 * product is 1e-30, a normal number; 256^2 outputs, which OpenBLAS splits
 * over its threads. Returns how many outputs are non-zero. */
static size_t subnormal_gemm_nonzero(int threads)
{
    enum { n = 256 };
    float *a = nn_xalloc_floats(n * n), *b = nn_xalloc_floats(n * n);
    float *c = nn_xalloc_floats(n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = 1e-40f;
        b[i] = 1e10f;
    }
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n,
                b, n, 0.0f, c, n);
    size_t nz = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) nz += c[i] != 0.0f;
    free(a);
    free(b);
    free(c);
    return nz;
}

static void test_default_is_ieee(void)
{
    CU_ASSERT_EQUAL(nn_fpu_flushes_subnormals(), 0);
    volatile float m = FLT_MIN;
    CU_ASSERT(m * 0.5f > 0.0f);
    CU_ASSERT_EQUAL(subnormal_gemm_nonzero(2), (size_t)256 * 256);
}

static void test_flush_on_and_off(void)
{
    int set = nn_fpu_flush_subnormals(1);
    CU_ASSERT_EQUAL(set, HAVE_MODE);
    if (!HAVE_MODE) {
        CU_ASSERT_EQUAL(nn_fpu_flushes_subnormals(), 0);
        return;
    }
    CU_ASSERT_EQUAL(nn_fpu_flushes_subnormals(), 1);
    volatile float m = FLT_MIN, sub = smallest_subnormal();
    CU_ASSERT_EQUAL(m * 0.5f, 0.0f);  /* a subnormal result is flushed */
    CU_ASSERT_EQUAL(sub * 1e30f, 0.0f); /* a subnormal operand reads as 0 */
    CU_ASSERT_EQUAL(m * 2.0f, 2.0f * FLT_MIN); /* normal numbers unchanged */
    CU_ASSERT_EQUAL(mode_of_new_thread(), 1);
    /* Every output, whichever thread computed it: DAZ read A as zero. */
    CU_ASSERT_EQUAL(subnormal_gemm_nonzero(2), 0);
    CU_ASSERT_EQUAL(subnormal_gemm_nonzero(1), 0);
    CU_ASSERT_EQUAL(nn_fpu_flush_subnormals(0), 1);
    CU_ASSERT_EQUAL(nn_fpu_flushes_subnormals(), 0);
    CU_ASSERT(m * 0.5f > 0.0f);
    CU_ASSERT_EQUAL(mode_of_new_thread(), 0);
    CU_ASSERT_EQUAL(subnormal_gemm_nonzero(2), (size_t)256 * 256);
}

static const cu_test tests[] = {
    {"IEEE subnormals by default, BLAS threads included", test_default_is_ieee},
    {"flush on everywhere, then off again", test_flush_on_and_off},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"fpu", tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("nn_test_fpu", suites);
}

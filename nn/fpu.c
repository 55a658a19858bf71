/* nn/fpu.c - flush-to-zero and denormals-are-zero (see nn/fpu.h). */
#include "nn/fpu.h"

#include <float.h>  /* FLT_MIN */
#include <stdint.h> /* uint32_t, uint64_t */
#include <string.h> /* memcpy */

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h> /* _mm_getcsr, _mm_setcsr */
#define MXCSR_DAZ 0x0040u /* bit 6: subnormal operands read as zero */
#define MXCSR_FTZ 0x8000u /* bit 15: subnormal results written as zero */
#endif

/* Returns 1 if the architecture has the mode, 0 if not. */
static int set_mode(int on)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned csr = _mm_getcsr();
    csr = on ? csr | MXCSR_DAZ | MXCSR_FTZ : csr & ~(MXCSR_DAZ | MXCSR_FTZ);
    _mm_setcsr(csr);
    return 1;
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    fpcr = on ? fpcr | (1ull << 24) : fpcr & ~(1ull << 24); /* FPCR.FZ */
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
    return 1;
#else
    (void)on;
    return 0;
#endif
}

/* OpenBLAS's pthread build exports this; other BLAS libraries do not. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

int nn_fpu_flush_subnormals(int on)
{
    int have = set_mode(on);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
    int now = nn_fpu_flushes_subnormals();
    return on ? have && now == 1 : now == 0;
}

int nn_fpu_flushes_subnormals(void)
{
    /* volatile: the compiler must not fold the arithmetic at build time,
     * where the run-time mode does not apply. */
    volatile float min = FLT_MIN, half = 0.5f, one = 1.0f;
    float product = min * half; /* exact result 2^-127: subnormal */
    uint32_t bits = 1;          /* the smallest subnormal, 2^-149 */
    float sub;
    memcpy(&sub, &bits, sizeof sub);
    volatile float vsub = sub;
    float read = vsub * one; /* the subnormal itself, unless read as 0 */
    int ftz = product == 0.0f, daz = read == 0.0f;
    return ftz && daz ? 1 : (!ftz && !daz ? 0 : -1);
}

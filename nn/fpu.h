/* nn/fpu.h - the floating-point mode of a training process: subnormal
 * numbers flushed to zero.
 *
 * Why: a value that is never refreshed but keeps being scaled, such as the
 * momentum of a weight whose input is always zero (v <- 0.9 v), becomes
 * subnormal (below 1.18e-38) after about 800 steps; arithmetic on
 * subnormals takes a slow path on many x86 cores (tens to a hundred cycles
 * per operation on Intel), and a whole epoch ran 40% slower. Flushed, such
 * values become exactly 0. Numerically: results that would lie in
 * (-1.18e-38, 1.18e-38) become +-0, and subnormal inputs read as 0; no
 * normal value changes, so a layer's output differs only where it
 * involved numbers 2^-126 times smaller than 1.
 *
 * x86-64: MXCSR's FTZ (flush results) and DAZ (read subnormal inputs as
 * zero) bits; AArch64: FPCR.FZ, which does both; elsewhere nothing is set
 * and nn_fpu_flushes_subnormals() says so. The mode is per thread: threads
 * created after the call inherit it (Linux copies the creator's mode),
 * threads created before keep theirs. OpenBLAS starts its worker threads
 * when the library loads, before main(), so the call also stops that pool
 * (OpenBLAS's own blas_thread_shutdown_, found as a weak symbol): the next
 * threaded BLAS call starts it again from the calling thread, in its mode.
 */
#ifndef NN_FPU_H
#define NN_FPU_H

/* Set (on != 0) or clear flush-to-zero and denormals-are-zero on the
 * calling thread and on the BLAS threads it will use. Call it once at
 * start-up, after the BLAS thread count is set and while no other thread
 * is inside BLAS. Returns nn_fpu_flushes_subnormals() afterwards: 1 if the
 * mode is now the one asked for, 0 if not (on an architecture without such
 * a mode, asking for on returns 0 and changes nothing). */
int nn_fpu_flush_subnormals(int on);

/* 1 if arithmetic on the calling thread flushes subnormals, judged by
 * doing it (a product whose exact result is subnormal, and a subnormal
 * operand), not by reading the control register back; 0 if both give the
 * IEEE results; -1 if only one of the two is flushed. */
int nn_fpu_flushes_subnormals(void);

#endif

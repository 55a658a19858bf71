/* nn/lstsq.h - linear least squares in closed form (normal equations).
 *
 * Solves min_b |X b - y|^2 in double precision. The data-parallel form
 * splits it: every rank accumulates its rows' Gram matrix A = [X 1]^T [X 1]
 * and moment c = [X 1]^T y (nn_lstsq_accumulate), the sums are added
 * across ranks, and nn_lstsq_solve solves A b = c by Cholesky.
 */
#ifndef NN_LSTSQ_H
#define NN_LSTSQ_H

#include <stddef.h> /* size_t */
#include "nn/error.h"

/* A[(d+1)*(d+1)] += [x 1]^T [x 1], c[(d+1)*k] += [x 1]^T y for rows x[n,d],
 * y[n,k]. The last coefficient row is the intercept. */
void nn_lstsq_accumulate(const float *x, const float *y, size_t n, size_t d,
                         size_t k, double *A, double *c);

/* Solve A b = c (A symmetric positive definite, size m = d+1, k right-hand
 * sides); b[m*k]. Fails (NN_EXIT_DATA) if A is singular. */
int nn_lstsq_solve(const double *A, const double *c, size_t m, size_t k,
                   double *b, nn_error *err);

#endif

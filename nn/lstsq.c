/* nn/lstsq.c - least squares by normal equations and Cholesky, in double
 * (see nn/lstsq.h). */
#include "nn/lstsq.h"

#include <math.h>   /* sqrt, fabs */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy */

#include "nn/check.h"

void nn_lstsq_accumulate(const float *x, const float *y, size_t n, size_t d,
                         size_t k, double *A, double *c)
{
    size_t m = d + 1;
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * d, *yr = y + r * k;
        /* z = [x_r, 1]; only the upper triangle is summed, then mirrored. */
        for (size_t i = 0; i < m; i++) {
            double zi = i < d ? (double)xr[i] : 1.0;
            for (size_t j = i; j < m; j++) {
                double zj = j < d ? (double)xr[j] : 1.0;
                A[i * m + j] += zi * zj;
            }
            for (size_t t = 0; t < k; t++) c[i * k + t] += zi * (double)yr[t];
        }
    }
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < i; j++)
            A[i * m + j] = A[j * m + i];
}

/* In-place Cholesky A = L L^T (lower triangle of L). A pivot that is not
 * clearly positive relative to the largest diagonal entry means A is
 * singular (or not positive definite): columns of [X 1] are dependent. */
static int cholesky(double *L, size_t m, size_t *bad)
{
    double dmax = 0.0;
    for (size_t i = 0; i < m; i++)
        if (fabs(L[i * m + i]) > dmax) dmax = fabs(L[i * m + i]);
    double tol = 1e-12 * (dmax > 0.0 ? dmax : 1.0);
    for (size_t j = 0; j < m; j++) {
        double s = L[j * m + j];
        for (size_t p = 0; p < j; p++) s -= L[j * m + p] * L[j * m + p];
        if (!(s > tol)) {
            *bad = j;
            return -1;
        }
        double djj = sqrt(s);
        L[j * m + j] = djj;
        for (size_t i = j + 1; i < m; i++) {
            double t = L[i * m + j];
            for (size_t p = 0; p < j; p++) t -= L[i * m + p] * L[j * m + p];
            L[i * m + j] = t / djj;
        }
    }
    return 0;
}

int nn_lstsq_solve(const double *A, const double *c, size_t m, size_t k,
                   double *b, nn_error *err)
{
    double *L = nn_xmalloc(m * m * sizeof *L);
    memcpy(L, A, m * m * sizeof *L);
    size_t bad = 0;
    if (cholesky(L, m, &bad) != 0) {
        free(L);
        return nn_error_set(err, NN_EXIT_DATA,
                            "least squares: the normal matrix is singular "
                            "(coefficient %zu of %zu depends on the others, "
                            "or there are too few distinct rows)",
                            bad + 1, m);
    }
    for (size_t t = 0; t < k; t++) {
        /* Solve L z = c (forward), then L^T b = z (backward), column t. */
        for (size_t i = 0; i < m; i++) {
            double s = c[i * k + t];
            for (size_t p = 0; p < i; p++) s -= L[i * m + p] * b[p * k + t];
            b[i * k + t] = s / L[i * m + i];
        }
        for (size_t i = m; i-- > 0;) {
            double s = b[i * k + t];
            for (size_t p = i + 1; p < m; p++) s -= L[p * m + i] * b[p * k + t];
            b[i * k + t] = s / L[i * m + i];
        }
    }
    free(L);
    return 0;
}

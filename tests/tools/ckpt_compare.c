/* tests/tools/ckpt_compare.c - compare the parameter arenas of two
 * checkpoints, for the integration tests.
 *
 *   ckpt_compare A B --tol T     exit 0 iff max|a-b| <= T * max(|a|,|b|)
 *   ckpt_compare A B --rtol T    exit 0 iff every |a-b| <= T * |a| + 1e-7
 *   ckpt_compare A B --exact     exit 0 iff the arenas (params and
 *                                optimizer state) are bitwise identical
 *   ckpt_compare A --print       print the parameters, one per line
 * Prints the largest difference and the scale either way. Exit 1 on a
 * mismatch, 2 on usage or read errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"

static int load(const char *path, io_ckpt *c)
{
    nn_error err = {0};
    if (io_ckpt_read(path, c, &err)) {
        fprintf(stderr, "ckpt_compare: %s\n", err.msg);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[2], "--print")) {
        io_ckpt a = {0};
        if (load(argv[1], &a)) return 2;
        for (size_t i = 0; i < a.n_params; i++) printf("%.9g\n", (double)a.params[i]);
        io_ckpt_free(&a);
        return 0;
    }
    int exact = argc == 4 && !strcmp(argv[3], "--exact");
    int tol = argc == 5 && !strcmp(argv[3], "--tol");
    int rtol = argc == 5 && !strcmp(argv[3], "--rtol");
    if (!exact && !tol && !rtol) {
        fprintf(stderr, "usage: ckpt_compare A B (--exact | --tol T | --rtol T) | A --print\n");
        return 2;
    }
    io_ckpt a = {0}, b = {0};
    if (load(argv[1], &a) || load(argv[2], &b)) return 2;
    int rc = 0;
    if (a.n_params != b.n_params) {
        fprintf(stderr, "different sizes: %zu vs %zu\n", a.n_params, b.n_params);
        rc = 1;
    } else {
        double diff = 0, scale = 0, worst_rel = 0;
        double t = argc == 5 ? strtod(argv[4], NULL) : 0;
        size_t bad = 0;
        for (size_t i = 0; i < a.n_params; i++) {
            double d = fabs((double)a.params[i] - b.params[i]);
            double r = d / fmax(fabs((double)a.params[i]), 1e-30);
            if (rtol && !(d <= t * fabs((double)a.params[i]) + 1e-7)) bad++;
            if (!(r <= worst_rel)) worst_rel = r;
            if (!(d <= diff)) diff = d; /* NaN counts as a difference */
            scale = fmax(scale, fmax(fabs(a.params[i]), fabs(b.params[i])));
        }
        printf("params %zu  max|diff| %.3g  max|param| %.3g  relative %.3g\n",
               a.n_params, diff, scale, scale > 0 ? diff / scale : diff);
        if (exact) {
            rc = memcmp(a.params, b.params, a.n_params * sizeof(float)) != 0;
            rc |= a.n_state != b.n_state ||
                  (a.n_state && memcmp(a.state, b.state, a.n_state * sizeof(float)));
            rc |= a.global_step != b.global_step;
            printf("bitwise %s (steps %llu, %llu)\n", rc ? "DIFFERENT" : "identical",
                   (unsigned long long)a.global_step, (unsigned long long)b.global_step);
        } else if (rtol) {
            printf("worst element-wise relative difference %.3g; %zu outside "
                   "%g\n", worst_rel, bad, t);
            rc = bad != 0;
        } else {
            rc = !(diff <= t * scale);
        }
    }
    io_ckpt_free(&a);
    io_ckpt_free(&b);
    return rc;
}

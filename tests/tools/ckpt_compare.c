/* tests/tools/ckpt_compare.c - compare two checkpoints section by section,
 * for the integration tests.
 *
 *   ckpt_compare A B --tol T     exit 0 iff the parameters match:
 *                                max|a-b| <= T * max(|a|,|b|)
 *   ckpt_compare A B --rtol T    exit 0 iff every |a-b| <= T * |a| + 1e-7
 *   ckpt_compare A B --exact     exit 0 iff the two hold the same sections
 *                                with the same bytes (parameters, optimizer
 *                                state, position, every record); see below
 *   ckpt_compare A --print       print the parameters, one per line
 *
 * The parameters are the payload sections whose name ends in "/params"
 * (one per model: "model/params", ...), in table order, as one array; the
 * tolerance modes compare them only, and both files must hold the same
 * such sections with the same sizes. Version-1 and -2 files read as the
 * sections of a one-model run (io/ckpt.h).
 *
 * --exact is about the state of the training: it ignores what describes
 * how a run was launched - the sections "config" and "overrides" (the
 * --set strings, which name e.g. another checkpoint.dir) and the world
 * size in "run" - and prints a note when they differ. Every other section
 * must be in both files with the same bytes.
 *
 * Prints the largest difference and the scale either way, and for --exact
 * each section that differs. Exit 1 on a mismatch, 2 on usage or read
 * errors. */
#include <math.h>
#include <stdint.h>
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

static int is_params(const io_ckpt_section *s)
{
    size_t n = strlen(s->name);
    return s->payload && n > 7 && !strcmp(s->name + n - 7, "/params");
}

/* The parameter sections of c, in order, into out; their count. */
static size_t params_of(const io_ckpt *c, const io_ckpt_section **out)
{
    size_t n = 0;
    for (size_t k = 0; k < c->n; k++)
        if (is_params(&c->sec[k])) out[n++] = &c->sec[k];
    return n;
}

static float at(const io_ckpt_section *s, size_t i)
{
    float v;
    memcpy(&v, (const char *)s->data + 4 * i, sizeof v);
    return v;
}

static uint64_t u64_at(const io_ckpt_section *s, size_t off)
{
    uint64_t v = 0;
    if (s && s->len >= off + 8)
        for (int i = 7; i >= 0; i--)
            v = v << 8 | ((const uint8_t *)s->data)[off + (size_t)i];
    return v;
}

static const io_ckpt_section *section(const io_ckpt *c, const char *name)
{
    for (size_t k = 0; k < c->n; k++)
        if (!strcmp(c->sec[k].name, name)) return &c->sec[k];
    return NULL;
}

/* Sections describing the launch rather than the state. */
static int launch_only(const char *name)
{
    return !strcmp(name, "config") || !strcmp(name, "overrides");
}

/* Whether x and y hold the same bytes; "run" without its world size
 * (bytes 24..32). */
static int same_bytes(const io_ckpt_section *x, const io_ckpt_section *y)
{
    if (x->len != y->len || x->payload != y->payload) return 0;
    if (!x->len) return 1;
    if (!strcmp(x->name, "run") && x->len == 32)
        return !memcmp(x->data, y->data, 24);
    return !memcmp(x->data, y->data, x->len);
}

/* --exact: every section of a against b's of the same name, then b's that
 * a lacks. Prints each difference; returns how many count. */
static int exact_sections(const io_ckpt *a, const io_ckpt *b)
{
    int bad = 0;
    char how[96];
    for (int pass = 0; pass < 2; pass++) {
        const io_ckpt *x = pass ? b : a, *y = pass ? a : b;
        for (size_t k = 0; k < x->n; k++) {
            const io_ckpt_section *s = &x->sec[k], *t = section(y, s->name);
            if (pass ? t != NULL : t && same_bytes(s, t)) continue;
            if (!t) {
                snprintf(how, sizeof how, "only in %s", pass ? "B" : "A");
            } else if (s->payload != t->payload) {
                snprintf(how, sizeof how, "inline in one, payload in the other");
            } else if (s->len != t->len) {
                snprintf(how, sizeof how, "%zu vs %zu bytes", s->len, t->len);
            } else {
                size_t n = 0;
                for (size_t i = 0; i < s->len; i++)
                    n += ((const uint8_t *)s->data)[i] !=
                         ((const uint8_t *)t->data)[i];
                snprintf(how, sizeof how, "%zu of %zu bytes differ", n, s->len);
            }
            if (launch_only(s->name)) {
                printf("note: section '%s' differs (%s): the launch, not "
                       "compared\n", s->name, how);
                continue;
            }
            printf("section '%s': DIFFERENT (%s)\n", s->name, how);
            bad++;
        }
    }
    return bad;
}

int main(int argc, char **argv)
{
    const io_ckpt_section *pa[IO_CKPT_MAX_SECTIONS], *pb[IO_CKPT_MAX_SECTIONS];
    if (argc == 3 && !strcmp(argv[2], "--print")) {
        static io_ckpt a;
        if (load(argv[1], &a)) return 2;
        size_t n = params_of(&a, pa);
        if (!n) {
            fprintf(stderr, "ckpt_compare: %s: no parameter sections\n", argv[1]);
            io_ckpt_free(&a);
            return 2;
        }
        for (size_t s = 0; s < n; s++)
            for (size_t i = 0; i < pa[s]->len / 4; i++)
                printf("%.9g\n", (double)at(pa[s], i));
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
    static io_ckpt a, b;
    if (load(argv[1], &a) || load(argv[2], &b)) {
        io_ckpt_free(&a);
        return 2;
    }
    int rc = 0;
    size_t na = params_of(&a, pa), nb = params_of(&b, pb), np = 0;
    int same_shape = na == nb;
    for (size_t s = 0; same_shape && s < na; s++) {
        same_shape = !strcmp(pa[s]->name, pb[s]->name) && pa[s]->len == pb[s]->len;
        np += pa[s]->len / 4;
    }
    if (!same_shape) {
        size_t ta = 0, tb = 0;
        for (size_t s = 0; s < na; s++) ta += pa[s]->len / 4;
        for (size_t s = 0; s < nb; s++) tb += pb[s]->len / 4;
        fprintf(stderr, "different sizes: %zu vs %zu (parameter sections:",
                ta, tb);
        for (size_t s = 0; s < na; s++)
            fprintf(stderr, " %s %zu", pa[s]->name, pa[s]->len / 4);
        fprintf(stderr, " vs");
        for (size_t s = 0; s < nb; s++)
            fprintf(stderr, " %s %zu", pb[s]->name, pb[s]->len / 4);
        fprintf(stderr, ")\n");
        rc = 1;
    } else {
        double diff = 0, scale = 0, worst_rel = 0;
        double t = argc == 5 ? strtod(argv[4], NULL) : 0;
        size_t bad = 0;
        for (size_t s = 0; s < na; s++) {
            for (size_t i = 0; i < pa[s]->len / 4; i++) {
                double x = at(pa[s], i), y = at(pb[s], i);
                double d = fabs(x - y);
                double r = d / fmax(fabs(x), 1e-30);
                if (rtol && !(d <= t * fabs(x) + 1e-7)) bad++;
                if (!(r <= worst_rel)) worst_rel = r;
                if (!(d <= diff)) diff = d; /* NaN counts as a difference */
                scale = fmax(scale, fmax(fabs(x), fabs(y)));
            }
        }
        printf("params %zu  max|diff| %.3g  max|param| %.3g  relative %.3g\n",
               np, diff, scale, scale > 0 ? diff / scale : diff);
        if (exact) {
            rc = exact_sections(&a, &b) != 0;
            const io_ckpt_section *ra = section(&a, "run"), *rb = section(&b, "run");
            printf("bitwise %s (steps %llu, %llu)\n", rc ? "DIFFERENT" : "identical",
                   (unsigned long long)u64_at(ra, 16),
                   (unsigned long long)u64_at(rb, 16));
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

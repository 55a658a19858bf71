/* io/csv.c - numeric CSV tables, plain or gzip (see io/dataset.h).
 *
 * Accepted: `skip_rows` lines ignored, then an optional header (names may
 * be quoted), then rows of comma-separated numbers, all with the same
 * number of columns. CRLF endings, a UTF-8 byte-order mark and blank lines
 * at the end are tolerated; anything else that is not a number is an
 * NN_EXIT_DATA error "PATH:LINE: column C: ..." (C 1-based).
 */
#include "io/dataset.h"

#include <errno.h>  /* errno, ERANGE */
#include <math.h>   /* isfinite */
#include <stdint.h> /* SIZE_MAX */
#include <stdlib.h> /* strtod, free */
#include <string.h> /* memchr, memcpy */

#include "io/gzio.h"
#include "nn/check.h"

/* Longest cell text parsed as a number (longer is not a number). */
#define CSV_CELL_MAX 128
/* Cell text shown in error messages. */
#define CSV_SHOW_MAX 40

typedef struct csv_text {
    const char *path;
    const char *p, *end; /* unread text */
    size_t lineno;       /* number of the line last returned (1-based) */
} csv_text;

typedef struct csv_line {
    const char *p;
    size_t n;
} csv_line;

/* Next physical line without its "\n" or "\r\n"; 0 at the end. */
static int next_line(csv_text *t, csv_line *l)
{
    if (t->p >= t->end) return 0;
    const char *nl = memchr(t->p, '\n', (size_t)(t->end - t->p));
    const char *e = nl ? nl : t->end;
    l->p = t->p;
    l->n = (size_t)(e - t->p);
    if (l->n > 0 && l->p[l->n - 1] == '\r') l->n--;
    t->p = nl ? nl + 1 : t->end;
    t->lineno++;
    return 1;
}

static int is_blank(csv_line l)
{
    for (size_t i = 0; i < l.n; i++)
        if (l.p[i] != ' ' && l.p[i] != '\t') return 0;
    return 1;
}

/* Columns of a header line; names may be "quoted" ("" inside quotes is a
 * literal quote), and a quoted name must be followed by a comma or the
 * end of the line. */
static int header_columns(const csv_text *t, csv_line l, size_t *cols,
                          nn_error *err)
{
    size_t c = 1;
    size_t i = 0;
    while (i < l.n) {
        while (i < l.n && (l.p[i] == ' ' || l.p[i] == '\t')) i++;
        if (i < l.n && l.p[i] == '"') {
            for (i++;; i++) {
                if (i >= l.n)
                    return nn_error_set(err, NN_EXIT_DATA,
                                        "%s:%zu: column %zu: unterminated "
                                        "quote", t->path, t->lineno, c);
                if (l.p[i] == '"' && i + 1 < l.n && l.p[i + 1] == '"') i++;
                else if (l.p[i] == '"') break;
            }
            for (i++; i < l.n && (l.p[i] == ' ' || l.p[i] == '\t');) i++;
            if (i < l.n && l.p[i] != ',')
                return nn_error_set(err, NN_EXIT_DATA,
                                    "%s:%zu: column %zu: text after the "
                                    "closing quote", t->path, t->lineno, c);
        }
        while (i < l.n && l.p[i] != ',') i++;
        if (i < l.n) c++, i++;
    }
    *cols = c;
    return NN_OK;
}

static size_t count_cells(csv_line l)
{
    size_t c = 1;
    for (size_t i = 0; i < l.n; i++) c += l.p[i] == ',';
    return c;
}

/* Parse one cell [p, p+n) as a finite float; the whole cell (up to
 * surrounding blanks) must be the number. */
static int parse_cell(const csv_text *t, size_t col, const char *p, size_t n,
                      float *v, nn_error *err)
{
    char buf[CSV_CELL_MAX];
    while (n > 0 && (*p == ' ' || *p == '\t')) p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    if (n > 0 && n < sizeof buf) {
        memcpy(buf, p, n);
        buf[n] = '\0';
        char *end = NULL;
        errno = 0;
        double d = strtod(buf, &end);
        /* ERANGE with a tiny result is underflow: the value rounds to
         * (nearly) zero, which is fine; overflow and NaN/Inf are not. */
        if (end == buf + n && isfinite(d) && !(errno == ERANGE &&
                                               (d > 1.0 || d < -1.0))) {
            *v = (float)d;
            if (isfinite(*v)) return NN_OK;
            return nn_error_set(err, NN_EXIT_DATA,
                                "%s:%zu: column %zu: out of float range: "
                                "'%.*s'", t->path, t->lineno, col,
                                CSV_SHOW_MAX, buf);
        }
    }
    return nn_error_set(err, NN_EXIT_DATA,
                        "%s:%zu: column %zu: not a number: '%.*s'", t->path,
                        t->lineno, col, (int)(n < CSV_SHOW_MAX ? n
                                                               : CSV_SHOW_MAX),
                        p);
}

/* Parse a data line of exactly `cols` cells into dst[cols]. */
static int parse_row(const csv_text *t, csv_line l, size_t cols, float *dst,
                     nn_error *err)
{
    size_t have = count_cells(l);
    if (have != cols)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s:%zu: %zu columns, expected %zu", t->path,
                            t->lineno, have, cols);
    const char *p = l.p, *end = l.p + l.n;
    for (size_t c = 0; c < cols; c++) {
        const char *e = memchr(p, ',', (size_t)(end - p));
        if (!e) e = end;
        int rc = parse_cell(t, c + 1, p, (size_t)(e - p), &dst[c], err);
        if (rc) return rc;
        p = e + 1;
    }
    return NN_OK;
}

/* Skip `skip` lines and read the header if any; sets *cols from the header
 * (0 = not known yet). */
static int read_preamble(csv_text *t, size_t skip, int header, size_t *cols,
                         nn_error *err)
{
    csv_line l;
    *cols = 0;
    for (size_t i = 0; i < skip; i++)
        if (!next_line(t, &l)) return NN_OK;
    if (!header || !next_line(t, &l)) return NN_OK;
    if (is_blank(l))
        return nn_error_set(err, NN_EXIT_DATA, "%s:%zu: empty header line",
                            t->path, t->lineno);
    return header_columns(t, l, cols, err);
}

/* The data rows: blank lines are allowed only after the last row. */
static int read_rows(csv_text *t, size_t *cols, size_t *rows, float **out,
                     nn_error *err)
{
    csv_line l;
    size_t cap = 0, n = 0, blank_at = 0;
    float *v = NULL;
    int rc = NN_OK;
    while (next_line(t, &l)) {
        if (is_blank(l)) {
            if (!blank_at) blank_at = t->lineno;
            continue;
        }
        if (blank_at) {
            rc = nn_error_set(err, NN_EXIT_DATA,
                              "%s:%zu: blank line inside the data", t->path,
                              blank_at);
            goto fail;
        }
        if (*cols == 0) *cols = count_cells(l);
        if (n == cap) {
            /* Wide rows start at one row: the first block must not be
             * 256 rows of a width only claimed by one (header) line. */
            cap = cap ? 2 * cap : *cols <= 256 ? 256 : 1;
            NN_CHECK(cap <= SIZE_MAX / sizeof(float) / *cols,
                     "%s: CSV too large", t->path);
            v = nn_xrealloc(v, cap * *cols * sizeof(float));
        }
        rc = parse_row(t, l, *cols, v + n * *cols, err);
        if (rc) goto fail;
        n++;
    }
    *rows = n;
    *out = v;
    return NN_OK;
fail:
    free(v);
    return rc;
}

int io_csv_read(const char *path, size_t skip_rows, int header,
                size_t *rows, size_t *cols, float **out, nn_error *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = io_gz_slurp(path, &text, &len, err);
    if (rc) return rc;
    csv_text t = {path, text, text + len, 0};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) t.p += 3;
    csv_line probe;
    csv_text scan = t;
    int any = 0;
    while (!any && next_line(&scan, &probe)) any = !is_blank(probe);
    if (!any) {
        rc = nn_error_set(err, NN_EXIT_DATA, "%s: empty file", path);
        goto done;
    }
    size_t c = 0, n = 0;
    rc = read_preamble(&t, skip_rows, header, &c, err);
    if (rc) goto done;
    rc = read_rows(&t, &c, &n, out, err);
    if (rc) goto done;
    if (n == 0) {
        rc = nn_error_set(err, NN_EXIT_DATA,
                          "%s: no data rows (after %zu skipped lines%s)",
                          path, skip_rows, header ? " and the header" : "");
        goto done;
    }
    *rows = n;
    *cols = c;
done:
    free(text);
    return rc;
}

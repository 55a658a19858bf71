/* nn/check.c - fatal invariant checks and never-NULL allocators
 * (see nn/check.h). */
#include "nn/check.h"

#include <stdarg.h> /* va_list */
#include <stdint.h> /* SIZE_MAX */
#include <stdio.h>  /* fprintf, vsnprintf */
#include <stdlib.h> /* malloc, abort, posix_memalign */
#include <string.h> /* memset, strlen */

/* The one process-wide setting of nn/: who handles a broken invariant.
 * Installed once at start-up by the trainer (comm's abort). */
static nn_fatal_hook fatal_hook;

static void default_hook(const char *file, int line, const char *msg)
{
    fprintf(stderr, "%s:%d: %s\n", file, line, msg);
    fflush(stderr);
}

void nn_set_fatal_hook(nn_fatal_hook hook)
{
    fatal_hook = hook;
}

void nn_fatal(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (fatal_hook)
        fatal_hook(file, line, msg);
    else
        default_hook(file, line, msg);
    abort(); /* a hook that returns still ends the process */
}

void *nn_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) nn_fatal(__FILE__, __LINE__, "out of memory (%zu bytes)", bytes);
    return p;
}

size_t nn_mul_size(size_t a, size_t b)
{
    if (b && a > SIZE_MAX / b)
        nn_fatal(__FILE__, __LINE__, "size overflow (%zu x %zu)", a, b);
    return a * b;
}

void *nn_xcalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        nn_fatal(__FILE__, __LINE__, "allocation overflow (%zu x %zu)", n, size);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        nn_fatal(__FILE__, __LINE__, "out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *nn_xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) nn_fatal(__FILE__, __LINE__, "out of memory (%zu bytes)", bytes);
    return q;
}

char *nn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = nn_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

float *nn_xalloc_floats(size_t count)
{
    if (count > SIZE_MAX / sizeof(float))
        nn_fatal(__FILE__, __LINE__, "allocation overflow (%zu floats)", count);
    size_t bytes = count * sizeof(float);
    if (bytes == 0) bytes = 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0 || !p)
        nn_fatal(__FILE__, __LINE__, "out of memory (%zu floats)", count);
    memset(p, 0, bytes); /* all-bits-zero is 0.0f in IEEE 754 */
    return p;
}

/* nn/check.h - invariant checks that stay on in release builds, and an
 * allocator that never returns NULL.
 *
 * A failed check is a bug, not bad input: it prints
 * "[rank r] file:line: message" and ends the whole job. nn/ knows nothing of
 * MPI, so the trainer installs a fatal hook (comm's abort) at start-up; the
 * default hook prints and calls abort().
 */
#ifndef NN_CHECK_H
#define NN_CHECK_H

#include <stddef.h> /* size_t */

typedef void (*nn_fatal_hook)(const char *file, int line, const char *msg);

/* Install the process-wide handler for broken invariants (NULL = default). */
void nn_set_fatal_hook(nn_fatal_hook hook);

/* Report a broken invariant through the hook; never returns. */
void nn_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define NN_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) nn_fatal(__FILE__, __LINE__, __VA_ARGS__);              \
    } while (0)

/* malloc/calloc/realloc that end the job on exhaustion instead of returning
 * NULL. Sizes are in bytes; nn_xcalloc checks n*size for overflow. */
void *nn_xmalloc(size_t bytes);
void *nn_xcalloc(size_t n, size_t size);
void *nn_xrealloc(void *p, size_t bytes);
char *nn_xstrdup(const char *s);

/* a * b for sizes already validated where they entered; a product that
 * still overflows is a broken invariant (fatal). */
size_t nn_mul_size(size_t a, size_t b);

/* 64-byte aligned allocation for arenas (free with free()). */
float *nn_xalloc_floats(size_t count);

#endif

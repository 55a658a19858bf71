/* nn/error.h - the error value every fallible library call fills.
 *
 * Library code never exits: it returns a non-zero status and describes the
 * failure here (file, line, key, cause). The trainer decides what to do.
 * `code` is the process exit code the failure deserves (see STYLE.md):
 * NN_EXIT_USAGE for config and usage errors, NN_EXIT_DATA for data and
 * checkpoint errors, NN_EXIT_DIVERGED for NaN/Inf, NN_EXIT_OTHER otherwise.
 */
#ifndef NN_ERROR_H
#define NN_ERROR_H

#include <stddef.h> /* size_t */

enum {
    NN_OK = 0,
    NN_EXIT_OTHER = 1,
    NN_EXIT_USAGE = 2,
    NN_EXIT_DATA = 3,
    NN_EXIT_DIVERGED = 4
};

typedef struct nn_error {
    int code;       /* exit code this failure maps to; 0 = no error */
    char msg[1024]; /* one line, no trailing newline */
} nn_error;

/* Fill err (if non-NULL) with a printf-style message and exit code `code`.
 * Returns `code`, so callers can write `return nn_error_set(err, ...)`. */
int nn_error_set(nn_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with more context ("file.yaml:12: " + msg). */
void nn_error_prefix(nn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reset to "no error". */
void nn_error_clear(nn_error *err);

#endif

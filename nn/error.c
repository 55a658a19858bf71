/* nn/error.c - filling and prefixing the error value (see nn/error.h). */
#include "nn/error.h"

#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vsnprintf */
#include <string.h> /* memcpy */

int nn_error_set(nn_error *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

void nn_error_prefix(nn_error *err, const char *fmt, ...)
{
    if (!err) return;
    char pre[sizeof err->msg];
    char old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* Truncation is acceptable: the message stays one NUL-terminated line. */
    size_t np = strlen(pre);
    if (np >= sizeof err->msg) np = sizeof err->msg - 1;
    memcpy(err->msg, pre, np);
    size_t room = sizeof err->msg - 1 - np;
    size_t no = strlen(old);
    if (no > room) no = room;
    memcpy(err->msg + np, old, no);
    err->msg[np + no] = '\0';
}

void nn_error_clear(nn_error *err)
{
    if (!err) return;
    err->code = NN_OK;
    err->msg[0] = '\0';
}

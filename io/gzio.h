/* io/gzio.h - reading plain or gzip-compressed files alike through zlib,
 * with errors that name the path and the cause. Internal to io/.
 *
 * Every failure is an NN_EXIT_DATA error "PATH: cause": strerror text for
 * open/read failures, "truncated: expected N bytes of WHAT, got M" when the
 * data end early (a short plain file or a cut gzip stream alike).
 */
#ifndef IO_GZIO_H
#define IO_GZIO_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */
#include <zlib.h>   /* gzFile */
#include "nn/error.h"

typedef struct io_gz {
    gzFile gz;
    const char *path; /* borrowed from the caller, for messages */
    int plain;        /* 1: not gzip, read directly */
    uint64_t size;    /* bytes on disk (for plain files: the data size) */
    int raw;          /* a second descriptor of the file (its trailer), or -1 */
} io_gz;

/* Open `path` for reading (must be a regular file). On failure f->gz is
 * NULL and err names the path and strerror. */
int io_gz_open(io_gz *f, const char *path, nn_error *err);
void io_gz_close(io_gz *f);

/* Read exactly n bytes into buf; fewer is a "truncated" error that says
 * "expected n bytes of WHAT, got M". */
int io_gz_read(io_gz *f, void *buf, size_t n, const char *what,
               nn_error *err);

/* Read up to n bytes; *got gets how many (less than n only at the end of
 * the data). A damaged stream or an I/O failure is an error. */
int io_gz_read_some(io_gz *f, void *buf, size_t n, size_t *got,
                    nn_error *err);

/* After the last byte a format declares: the data must end here. A gzip
 * stream is read to its end, so that zlib checks its trailer (CRC32 and
 * length of the uncompressed data). Errors: "PATH: data past the end of
 * WHAT" (more bytes follow), "PATH: truncated: the gzip stream ends
 * without its trailer (CRC and length)", a CRC or length mismatch as
 * corrupt gzip data. */
int io_gz_expect_end(io_gz *f, const char *what, nn_error *err);

/* Position at uncompressed byte `offset` (gzip: decompresses forward).
 * Seeking past the end is not detected here: the next read reports it. */
int io_gz_seek(io_gz *f, uint64_t offset, nn_error *err);

/* The whole uncompressed content, NUL-terminated (*len excludes the NUL).
 * The buffer grows with the data actually read; caller frees. */
int io_gz_slurp(const char *path, char **text, size_t *len, nn_error *err);

#endif

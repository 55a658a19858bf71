/* tests/fuzz/fuzz_file.h - shared by the path-taking harnesses (IDX, CSV,
 * checkpoint): a scratch file in /dev/shm, one per process, rewritten for
 * every input, and an optional gzip wrapping so the readers' zlib path sees
 * the same structured content as the plain path.
 *
 * Header-only (static functions): each harness is one translation unit.
 */
#ifndef FUZZ_FILE_H
#define FUZZ_FILE_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t */
#include <stdio.h>  /* snprintf, fopen, fwrite, fclose */
#include <stdlib.h> /* abort, atexit */
#include <string.h> /* strcpy */
#include <unistd.h> /* getpid, unlink */
#include <zlib.h>   /* compress2-style deflate with a gzip wrapper */

/* How the bytes after the mode byte reach the file. */
enum {
    FUZZ_PLAIN = 0,   /* as they are (they may themselves start 1f 8b) */
    FUZZ_GZIP = 1,    /* wrapped in a complete gzip member */
    FUZZ_GZIP_CUT = 2 /* gzip member with its tail cut off */
};

static char fuzz_path[64];

static inline void fuzz_unlink(void)
{
    if (fuzz_path[0]) unlink(fuzz_path);
}

/* The scratch path for harness `name`, created once per process and
 * removed at exit. */
static inline const char *fuzz_scratch(const char *name)
{
    if (!fuzz_path[0]) {
        snprintf(fuzz_path, sizeof fuzz_path, "/dev/shm/axon-fuzz-%s-%ld",
                 name, (long)getpid());
        atexit(fuzz_unlink);
    }
    return fuzz_path;
}

static inline void fuzz_write_raw(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort(); /* the harness itself is broken, not the reader */
    if (n && fwrite(p, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
}

/* gzip-compress p[0..n) into a buffer the caller frees; *out_n its size. */
static inline uint8_t *fuzz_gzip(const uint8_t *p, size_t n, size_t *out_n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    uint8_t *out = malloc(cap);
    if (!out) abort();
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* Write p[0..n) to the scratch file of `name` the way `mode` says; `cut`
 * is how many bytes FUZZ_GZIP_CUT drops from the end (at least 1, at most
 * the whole member). Returns the path. */
static inline const char *fuzz_write(const char *name, int mode, unsigned cut,
                              const uint8_t *p, size_t n)
{
    const char *path = fuzz_scratch(name);
    if (mode == FUZZ_PLAIN) {
        fuzz_write_raw(path, p, n);
        return path;
    }
    size_t gz_n = 0;
    uint8_t *gz = fuzz_gzip(p, n, &gz_n);
    if (mode == FUZZ_GZIP_CUT) {
        size_t drop = (size_t)cut + 1;
        gz_n = drop < gz_n ? gz_n - drop : 0;
    }
    fuzz_write_raw(path, gz, gz_n);
    free(gz);
    return path;
}

/* The mode encoded in a harness's first byte (low two bits; 3 = plain). */
static inline int fuzz_mode(uint8_t b)
{
    int m = b & 3;
    return m == 3 ? FUZZ_PLAIN : m;
}

#endif

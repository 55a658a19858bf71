/* io/gzio.c - plain or gzip files through zlib's gz* API (see io/gzio.h). */
#include "io/gzio.h"

#include <errno.h>    /* errno */
#include <fcntl.h>    /* open */
#include <limits.h>   /* INT_MAX */
#include <stdlib.h>   /* free */
#include <string.h>   /* strerror */
#include <sys/stat.h> /* fstat */
#include <unistd.h>   /* close */

#include "io/file.h"
#include "nn/check.h"

/* zlib's own buffer size: large enough that gzread is not call-bound. */
#define GZ_BUFFER (256u * 1024u)
/* gzread takes an unsigned count; we read in chunks below INT_MAX. */
#define GZ_CHUNK ((size_t)1 << 30)

int io_gz_open(io_gz *f, const char *path, nn_error *err)
{
    f->gz = NULL;
    f->path = path;
    f->plain = 0;
    f->size = 0;
    f->raw = -1;
    int fd;
    int rc = io_open_regular(path, "data file", NN_EXIT_DATA, &fd, &f->size,
                             err);
    if (rc) return rc;
    f->raw = dup(fd);
    f->gz = gzdopen(fd, "rb");
    if (!f->gz) {
        close(fd);
        if (f->raw >= 0) close(f->raw);
        f->raw = -1;
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot open: %s", path,
                            strerror(ENOMEM));
    }
    gzbuffer(f->gz, GZ_BUFFER);
    /* gzdirect looks at the first bytes: 1 when there is no gzip header. */
    f->plain = gzdirect(f->gz);
    return NN_OK;
}

void io_gz_close(io_gz *f)
{
    if (f->gz) gzclose_r(f->gz);
    if (f->raw >= 0) close(f->raw);
    f->gz = NULL;
    f->raw = -1;
}

/* Describe the stream's error state; "truncated" is reported by callers
 * that know what was expected. */
static int stream_error(io_gz *f, nn_error *err)
{
    int num = Z_OK;
    const char *msg = gzerror(f->gz, &num);
    if (num == Z_ERRNO)
        return nn_error_set(err, NN_EXIT_DATA, "%s: read error: %s", f->path,
                            strerror(errno));
    return nn_error_set(err, NN_EXIT_DATA, "%s: corrupt gzip data: %s",
                        f->path, msg ? msg : "unknown error");
}

/* A cut gzip stream shows as Z_BUF_ERROR ("unexpected end of file"): that
 * is a truncation, not corruption. */
static int stream_truncated(io_gz *f)
{
    int num = Z_OK;
    gzerror(f->gz, &num);
    return num == Z_BUF_ERROR;
}

int io_gz_read_some(io_gz *f, void *buf, size_t n, size_t *got,
                    nn_error *err)
{
    unsigned char *p = buf;
    size_t have = 0;
    while (have < n) {
        size_t want = n - have < GZ_CHUNK ? n - have : GZ_CHUNK;
        int r = gzread(f->gz, p + have, (unsigned)want);
        if (r < 0 && !stream_truncated(f)) return stream_error(f, err);
        if (r <= 0) break;
        have += (size_t)r;
    }
    int num = Z_OK;
    gzerror(f->gz, &num);
    if (num != Z_OK && num != Z_BUF_ERROR) return stream_error(f, err);
    *got = have;
    return NN_OK;
}

int io_gz_read(io_gz *f, void *buf, size_t n, const char *what,
               nn_error *err)
{
    size_t got = 0;
    int rc = io_gz_read_some(f, buf, n, &got, err);
    if (rc) return rc;
    if (got < n)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: truncated: expected %zu bytes of %s, got %zu",
                            f->path, n, what, got);
    return NN_OK;
}

int io_gz_expect_end(io_gz *f, const char *what, nn_error *err)
{
    unsigned char b;
    size_t got = 0;
    int rc = io_gz_read_some(f, &b, 1, &got, err);
    if (rc) return rc;
    if (got)
        return nn_error_set(err, NN_EXIT_DATA, "%s: data past the end of %s",
                            f->path, what);
    if (stream_truncated(f))
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: truncated: the gzip stream ends without its "
                            "trailer (CRC and length)", f->path);
    /* zlib skips bytes after the last member that are not a gzip header:
     * the file's last 4 bytes must be the member's trailer, the length of
     * what was read mod 2^32 (a file of one member, as IDX files are) */
    unsigned char t[4];
    z_off_t read_bytes = gztell(f->gz);
    if (f->plain || f->raw < 0 || f->size < 4 || read_bytes < 0) return NN_OK;
    if (pread(f->raw, t, 4, (off_t)(f->size - 4)) != 4)
        return nn_error_set(err, NN_EXIT_DATA, "%s: read error: %s", f->path,
                            strerror(errno));
    uint32_t isize = (uint32_t)t[0] | (uint32_t)t[1] << 8 |
                     (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    if (isize != (uint32_t)read_bytes)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: bytes after the end of the gzip stream (the "
                            "file does not end with the trailer of the %llu "
                            "bytes it holds)",
                            f->path, (unsigned long long)read_bytes);
    return NN_OK;
}

int io_gz_seek(io_gz *f, uint64_t offset, nn_error *err)
{
    if (offset > (uint64_t)INT64_MAX)
        return nn_error_set(err, NN_EXIT_DATA, "%s: offset %llu too large",
                            f->path, (unsigned long long)offset);
    if (gzseek(f->gz, (z_off_t)offset, SEEK_SET) < 0) {
        if (stream_truncated(f))
            return nn_error_set(err, NN_EXIT_DATA,
                                "%s: truncated: expected %llu bytes before "
                                "the requested rows, got fewer",
                                f->path, (unsigned long long)offset);
        return stream_error(f, err);
    }
    return NN_OK;
}

int io_gz_slurp(const char *path, char **text, size_t *len, nn_error *err)
{
    io_gz f;
    char *buf = NULL;
    size_t cap = 0, have = 0;
    *text = NULL;
    *len = 0;
    int rc = io_gz_open(&f, path, err);
    if (rc) return rc;
    /* Plain files: exact size known; gzip: grow geometrically as the data
     * arrive, so the buffer never exceeds twice what the file holds. */
    cap = f.plain && f.size < SIZE_MAX / 2 ? (size_t)f.size + 1 : 65536;
    buf = nn_xmalloc(cap);
    for (;;) {
        if (cap - have < 2) {
            NN_CHECK(cap <= SIZE_MAX / 2, "%s: file too large", path);
            cap *= 2;
            buf = nn_xrealloc(buf, cap);
        }
        size_t got = 0;
        size_t want = cap - have - 1;
        rc = io_gz_read_some(&f, buf + have, want, &got, err);
        if (rc) goto fail;
        have += got;
        if (got < want) break;
    }
    if (stream_truncated(&f)) {
        rc = nn_error_set(err, NN_EXIT_DATA,
                          "%s: truncated: gzip stream ends early after %zu "
                          "bytes", path, have);
        goto fail;
    }
    io_gz_close(&f);
    buf[have] = '\0';
    *text = buf;
    *len = have;
    return NN_OK;
fail:
    io_gz_close(&f);
    free(buf);
    return rc;
}

/* io/png.c - a grayscale PNG writer over zlib (see io/png.h). */
#include "io/png.h"

#include <errno.h>  /* errno */
#include <stdint.h> /* uint32_t */
#include <stdio.h>  /* FILE, fopen, fwrite, rename, remove */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, strerror */
#include <unistd.h> /* getpid */
#include <zlib.h>   /* compress2, compressBound, crc32 */

#include "nn/check.h" /* nn_xmalloc */

#define PNG_MAX_DIM 0x7fffffffu /* 2^31 - 1 */
#define PNG_MAX_RAW ((size_t)1 << 30)

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One chunk: length, type, data, CRC-32 over type and data. Returns 0 or
 * -1 on a write error (errno set by stdio). */
static int put_chunk(FILE *f, const char type[4], const unsigned char *data,
                     size_t len)
{
    unsigned char head[8], tail[4];
    put_be32(head, (uint32_t)len);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, head + 4, 4);
    if (len) crc = crc32(crc, data, (uInt)len); /* len < 2^31: one call */
    put_be32(tail, (uint32_t)crc);
    if (fwrite(head, 1, 8, f) != 8) return -1;
    if (len && fwrite(data, 1, len, f) != len) return -1;
    return fwrite(tail, 1, 4, f) == 4 ? 0 : -1;
}

/* The zlib stream of the filtered rows: each row is the byte 0 (filter
 * "none") followed by its `width` pixels. *out is malloc'ed. */
static int deflate_rows(const unsigned char *pix, size_t width, size_t height,
                        unsigned char **out, size_t *out_len)
{
    size_t raw_len = height * (width + 1);
    unsigned char *raw = nn_xmalloc(raw_len);
    for (size_t y = 0; y < height; y++) {
        raw[y * (width + 1)] = 0;
        memcpy(raw + y * (width + 1) + 1, pix + y * width, width);
    }
    uLongf cap = compressBound((uLong)raw_len);
    unsigned char *z = nn_xmalloc(cap);
    int zrc = compress2(z, &cap, raw, (uLong)raw_len, 9);
    free(raw);
    if (zrc != Z_OK) {
        free(z);
        return -1;
    }
    *out = z;
    *out_len = cap;
    return 0;
}

static int write_file(FILE *f, const unsigned char *pix, size_t width,
                      size_t height)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13];
    put_be32(ihdr, (uint32_t)width);
    put_be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 0;  /* colour type: grayscale */
    ihdr[10] = 0; /* compression: deflate */
    ihdr[11] = 0; /* filter method: adaptive (every row says "none") */
    ihdr[12] = 0; /* no interlace */
    unsigned char *z = NULL;
    size_t zlen = 0;
    if (deflate_rows(pix, width, height, &z, &zlen) != 0) {
        errno = ENOMEM;
        return -1;
    }
    int rc = fwrite(sig, 1, 8, f) == 8 && put_chunk(f, "IHDR", ihdr, 13) == 0 &&
                     put_chunk(f, "IDAT", z, zlen) == 0 &&
                     put_chunk(f, "IEND", NULL, 0) == 0
                 ? 0
                 : -1;
    free(z);
    return rc;
}

int io_png_write_gray(const char *path, const unsigned char *pix,
                      size_t width, size_t height, nn_error *err)
{
    if (width < 1 || height < 1 || width > PNG_MAX_DIM || height > PNG_MAX_DIM ||
        height > PNG_MAX_RAW / (width + 1))
        return nn_error_set(err, NN_EXIT_USAGE,
                            "%s: cannot write a %zux%zu PNG image (each side "
                            "1..2^31-1, below 1 GiB)",
                            path, width, height);
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return nn_error_set(err, NN_EXIT_DATA, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot create: %s", path,
                            strerror(errno));
    int rc = write_file(f, pix, width, height);
    int e = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        remove(tmp);
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot write: %s", path,
                            strerror(e));
    }
    return 0;
}

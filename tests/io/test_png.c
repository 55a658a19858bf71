/* tests/io/test_png.c - the PNG writer, checked by decoding what it wrote:
 * signature, chunk order and lengths, every chunk's CRC-32, the IHDR
 * fields, and the inflated rows (filter byte 0, then the exact pixels).
 * The decoder below is written from the PNG specification and uses zlib
 * only for inflate and CRC-32; a corrupted byte must make it fail. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <zlib.h>

#include "io/png.h"
#include "nn/check.h"
#include "tests/cu.h"

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = nn_xmalloc(cap);
    size_t got;
    while ((got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) b = nn_xrealloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

/* Decode a grayscale 8-bit PNG written with filter 0 on every row into
 * *pix (malloc'ed). Returns 0, or a short reason why the file is bad. */
static const char *decode(const unsigned char *b, size_t len, size_t *w,
                          size_t *h, unsigned char **pix)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < 8 || memcmp(b, sig, 8)) return "signature";
    size_t at = 8, zlen = 0;
    unsigned char *z = NULL;
    int seen_ihdr = 0, seen_iend = 0;
    const char *why = NULL;
    while (!why && at + 12 <= len && !seen_iend) {
        uint32_t n = be32(b + at);
        if (n > len - at - 12) { why = "chunk length"; break; }
        const unsigned char *type = b + at + 4, *data = b + at + 8;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), type, 4 + n);
        if (crc != be32(data + n)) { why = "crc"; break; }
        if (!seen_ihdr && memcmp(type, "IHDR", 4)) why = "IHDR not first";
        else if (!memcmp(type, "IHDR", 4)) {
            if (n != 13 || seen_ihdr) { why = "IHDR"; break; }
            *w = be32(data);
            *h = be32(data + 4);
            if (data[8] != 8 || data[9] != 0 || data[10] || data[11] || data[12])
                why = "IHDR fields";
            seen_ihdr = 1;
        } else if (!memcmp(type, "IDAT", 4)) {
            z = nn_xrealloc(z, zlen + n + 1);
            memcpy(z + zlen, data, n);
            zlen += n;
        } else if (!memcmp(type, "IEND", 4)) {
            if (n) why = "IEND length";
            seen_iend = 1;
        }
        at += 12 + n;
    }
    if (!why && (!seen_iend || at != len)) why = "IEND missing or not last";
    if (!why && !zlen) why = "no IDAT";
    if (!why) {
        uLongf raw_len = (uLongf)(*h * (*w + 1));
        unsigned char *raw = nn_xmalloc(raw_len + 1);
        uLongf got = raw_len + 1;
        if (uncompress(raw, &got, z, zlen) != Z_OK || got != raw_len)
            why = "inflate";
        for (size_t y = 0; !why && y < *h; y++)
            if (raw[y * (*w + 1)] != 0) why = "filter byte";
        if (!why) {
            *pix = nn_xmalloc(*w * *h);
            for (size_t y = 0; y < *h; y++)
                memcpy(*pix + y * *w, raw + y * (*w + 1) + 1, *w);
        }
        free(raw);
    }
    free(z);
    return why;
}

static unsigned char *test_image(size_t w, size_t h)
{
    unsigned char *p = nn_xmalloc(w * h);
    uint32_t s = 12345;
    for (size_t i = 0; i < w * h; i++) {
        s = s * 1103515245u + 12345u;
        /* a gradient in the top half, noise below: both compress differently */
        p[i] = i / w < h / 2 ? (unsigned char)(i % w * 255 / w)
                             : (unsigned char)(s >> 24);
    }
    return p;
}

static void roundtrip(size_t w, size_t h)
{
    char path[512];
    snprintf(path, sizeof path, "%s/img_%zux%zu.png", cu_tmpdir(), w, h);
    unsigned char *img = test_image(w, h);
    nn_error err = {0, ""};
    CU_ASSERT_EQUAL_FATAL(io_png_write_gray(path, img, w, h, &err), 0);
    size_t len = 0, dw = 0, dh = 0;
    unsigned char *b = slurp(path, &len), *pix = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    const char *why = decode(b, len, &dw, &dh, &pix);
    if (why) fprintf(stderr, "decode %zux%zu: %s\n", w, h, why);
    CU_ASSERT_PTR_NULL_FATAL(why);
    CU_ASSERT_EQUAL(dw, w);
    CU_ASSERT_EQUAL(dh, h);
    CU_ASSERT(memcmp(pix, img, w * h) == 0);
    free(pix);
    pix = NULL;
    /* the decoder is a real check: any flipped byte after the signature
     * is caught (a CRC, a length, or the inflated data) */
    size_t caught = 0, tried = 0;
    for (size_t i = 8; i < len; i += (len / 97) + 1, tried++) {
        b[i] ^= 0x10;
        size_t ww, hh;
        const char *bad = decode(b, len, &ww, &hh, &pix);
        caught += bad != NULL;
        if (!bad) free(pix);
        pix = NULL;
        b[i] ^= 0x10;
    }
    CU_ASSERT_EQUAL(caught, tried);
    free(b);
    free(img);
}

static void test_roundtrip(void)
{
    roundtrip(37, 23);
    roundtrip(1, 5);
    roundtrip(242, 242); /* an 8x8 grid of 28x28 tiles with 2-pixel gaps */
}

/* Python's zlib and struct agree with our decoder (when python3 exists). */
static void test_python_reads_it(void)
{
    if (system("python3 -c 'import zlib' >/dev/null 2>&1") != 0) return;
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/py.png", cu_tmpdir());
    unsigned char *img = test_image(30, 20);
    nn_error err = {0, ""};
    CU_ASSERT_EQUAL_FATAL(io_png_write_gray(path, img, 30, 20, &err), 0);
    unsigned sum = 0;
    for (size_t i = 0; i < 600; i++) sum += img[i];
    snprintf(cmd, sizeof cmd,
             "python3 -c '\n"
             "import struct, sys, zlib\n"
             "b = open(sys.argv[1], \"rb\").read()\n"
             "assert b[:8] == b\"\\x89PNG\\r\\n\\x1a\\n\"\n"
             "at, idat = 8, b\"\"\n"
             "while at < len(b):\n"
             "    n, t = struct.unpack(\">I4s\", b[at:at+8])\n"
             "    d = b[at+8:at+8+n]\n"
             "    assert zlib.crc32(t + d) == struct.unpack(\">I\", b[at+8+n:at+12+n])[0]\n"
             "    if t == b\"IHDR\": w, h = struct.unpack(\">II\", d[:8])\n"
             "    if t == b\"IDAT\": idat += d\n"
             "    at += 12 + n\n"
             "raw = zlib.decompress(idat)\n"
             "rows = [raw[y*(w+1)+1:(y+1)*(w+1)] for y in range(h)]\n"
             "sys.exit(0 if (w, h) == (30, 20) and sum(map(sum, rows)) == %u else 1)\n"
             "' %s",
             sum, path);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(img);
}

static void test_errors(void)
{
    unsigned char px[4] = {0, 1, 2, 3};
    nn_error err = {0, ""};
    char path[512];
    snprintf(path, sizeof path, "%s/none.png", cu_tmpdir());
    CU_ASSERT_EQUAL(io_png_write_gray(path, px, 0, 2, &err), NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0x2"));
    CU_ASSERT_EQUAL(io_png_write_gray(path, px, 2, 0, &err), NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(io_png_write_gray(path, px, (size_t)1 << 31, 1, &err),
                    NN_EXIT_USAGE);
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NULL(f); /* nothing written */
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", cu_tmpdir());
    CU_ASSERT_EQUAL(io_png_write_gray(path, px, 2, 2, &err), NN_EXIT_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "No such file"));
    /* a directory in the way: the rename fails, no temporary is left */
    snprintf(path, sizeof path, "%s/dir.png", cu_tmpdir());
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
    CU_ASSERT_EQUAL(io_png_write_gray(path, px, 2, 2, &err), NN_EXIT_DATA);
    DIR *d = opendir(cu_tmpdir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *e;
    size_t tmps = 0;
    while ((e = readdir(d))) tmps += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    CU_ASSERT_EQUAL(tmps, 0);
}

static const cu_test png_tests[] = {
    {"write, decode, compare; corruption is caught", test_roundtrip},
    {"python's zlib reads it", test_python_reads_it},
    {"bad sizes and unwritable paths", test_errors},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"png", png_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("io_test_png", suites);
}

/* tests/fuzz/fuzz_ckpt.c - libFuzzer harness for io_ckpt_read (io/ckpt.c).
 *
 * Input: byte 0 = mode, then the file's bytes. Mode bit 0 clear: the bytes
 * are written as they are. Bit 0 set: before writing, the harness repairs
 * what a random mutation almost always breaks first - the header CRC, the
 * payload lengths and the payload CRC (io/ckpt.c: version 3's section
 * table, or versions 1 and 2's fixed fields) - so the fuzzer also reaches
 * the payload checks and the inflate loop. Checkpoints are read with
 * read(2), not through gzip, so there is no gzip mode here.
 *
 * A failed read must leave the io_ckpt all zeros with an NN_EXIT_DATA
 * error. A successful one must hold valid, distinct section names, whole
 * floats in payload sections and data for every non-empty section (all of
 * it touched, so ASan reports a short allocation); io_ckpt_find and
 * io_ckpt_unused must agree with it, and (for payloads up to 1 MiB) the
 * sections written back with io_ckpt_write must read back the same.
 */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t, uint32_t, uint64_t */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* abort, malloc, free, atexit */
#include <string.h> /* memcpy, memcmp, strlen, strcmp */
#include <unistd.h> /* getpid, unlink */
#include <zlib.h>   /* crc32, inflate */

#include "io/ckpt.h"
#include "tests/fuzz/fuzz_file.h"

#define PREFIX 16u   /* magic, version, header length */
/* versions 1 and 2: fixed fields after the prefix */
#define H_N_PARAMS 72u
#define H_N_STATE 80u
#define H_CONFIG_LEN 88u
#define H_EXTRA_LEN 96u
/* version 3: u32 n_sections, u32 shuffle, then the table */
#define V3_FIXED 8u
#define FIX_MAX_RAW ((size_t)64 << 20) /* inflate at most this to fix a CRC */
#define ROUNDTRIP_MAX ((size_t)1 << 20) /* payload bytes written back */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* CRC32 of what the zlib stream p[0..n) inflates to, or 0 if it is not a
 * valid stream (the reader then fails on it anyway). */
static uint32_t inflated_crc(const uint8_t *p, size_t n)
{
    z_stream z;
    uint8_t out[16384];
    uint32_t crc = 0;
    size_t total = 0;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) abort();
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    for (;;) {
        z.next_out = out;
        z.avail_out = sizeof out;
        int rc = inflate(&z, Z_NO_FLUSH);
        size_t have = sizeof out - z.avail_out;
        crc = (uint32_t)crc32(crc, out, (uInt)have);
        total += have;
        if (rc == Z_STREAM_END) break;
        if ((rc != Z_OK && rc != Z_BUF_ERROR) || total > FIX_MAX_RAW ||
            (rc == Z_BUF_ERROR && z.avail_in == 0)) {
            crc = 0;
            break;
        }
    }
    inflateEnd(&z);
    return crc;
}

/* Version 3: walk the section table of f (n bytes, header length
 * `fields`): *inl receives the inline sections' bytes, *raw the payload
 * sections'. 0 if the table does not hold together. */
static int v3_sizes(const uint8_t *f, size_t n, uint64_t fields, uint64_t *inl,
                    uint64_t *raw)
{
    const uint8_t *h = f + PREFIX;
    if (fields < V3_FIXED || PREFIX + fields > n) return 0;
    uint32_t count = le32(h);
    uint64_t at = V3_FIXED;
    *inl = *raw = 0;
    for (uint32_t k = 0; k < count && k < IO_CKPT_MAX_SECTIONS; k++) {
        if (fields - at < 16) return 0;
        uint32_t nl = le32(h + at);
        if (nl > fields - at - 16) return 0;
        uint32_t flags = le32(h + at + 4 + nl);
        uint64_t len = le64(h + at + 8 + nl);
        if (flags & 1) {
            *raw += len; /* may be absurd: the reader's checks follow */
        } else {
            if (len > n) return 0;
            *inl += len;
        }
        at += 16 + (uint64_t)nl;
    }
    return 1;
}

/* Repair the checksums and payload lengths of f[0..n) in place, as far as
 * the header lengths allow. */
static void fix_up(uint8_t *f, size_t n)
{
    if (n < PREFIX + V3_FIXED) return;
    uint32_t version = le32(f + 8);
    uint64_t fields = le32(f + 12), body = 0, raw = 0;
    if (fields > n) return;
    const uint8_t *h = f + PREFIX;
    if (version >= 3) {
        if (!v3_sizes(f, n, fields, &body, &raw)) return;
    } else {
        if (fields < H_EXTRA_LEN + 8 || n < PREFIX + H_EXTRA_LEN + 8) return;
        uint64_t cl = le64(h + H_CONFIG_LEN), el = le64(h + H_EXTRA_LEN);
        if (cl > n || el > n) return;
        body = cl + el;
        uint64_t np = le64(h + H_N_PARAMS), ns = le64(h + H_N_STATE);
        raw = 4 * (np + ns);
    }
    uint64_t e = PREFIX + fields;
    if (body > n || e + body + 4 > n) return;
    e += body;
    put_le(f + e, crc32(0, f, (uInt)e), 4);
    if (e + 4 + 16 + 4 > n) return;
    uint64_t comp = n - (e + 4 + 16 + 4);
    put_le(f + e + 4, comp, 8);
    put_le(f + e + 12, raw, 8);
    put_le(f + n - 4, inflated_crc(f + e + 20, (size_t)comp), 4);
}

static int is_zeroed(const io_ckpt *c)
{
    static const io_ckpt z;
    return memcmp(c, &z, sizeof z) == 0;
}

/* A name io/ckpt.h allows: 1..IO_CKPT_NAME_MAX printable, non-space
 * ASCII bytes, NUL-terminated inside the array. */
static int name_ok(const char *name)
{
    size_t n = strnlen(name, IO_CKPT_NAME_MAX + 1);
    if (n == 0 || n > IO_CKPT_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
            return 0;
    return 1;
}

static char rt_path[80];

static void rt_unlink(void)
{
    if (rt_path[0]) unlink(rt_path);
}

/* c's sections written with io_ckpt_write read back the same. */
static void roundtrip(const io_ckpt *c)
{
    if (!rt_path[0]) {
        snprintf(rt_path, sizeof rt_path, "/dev/shm/axon-fuzz-ckpt-rt-%ld",
                 (long)getpid());
        atexit(rt_unlink);
    }
    io_ckpt w, r;
    nn_error err;
    memset(&w, 0, sizeof w);
    for (size_t k = 0; k < c->n; k++)
        io_ckpt_add(&w, c->sec[k].name, c->sec[k].data, c->sec[k].len,
                    c->sec[k].payload);
    if (io_ckpt_write(rt_path, &w, &err) != 0) abort();
    if (io_ckpt_read(rt_path, &r, &err) != 0) abort();
    if (r.version != IO_CKPT_VERSION || r.n != c->n) abort();
    for (size_t k = 0; k < c->n; k++) {
        const io_ckpt_section *x = &c->sec[k], *y = &r.sec[k];
        if (strcmp(x->name, y->name) || x->len != y->len ||
            x->payload != y->payload ||
            (x->len && memcmp(x->data, y->data, x->len)))
            abort();
    }
    io_ckpt_free(&r);
    io_ckpt_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *f = malloc(n ? n : 1);
    if (!f) abort();
    if (n) memcpy(f, data + 1, n);
    if (data[0] & 1) fix_up(f, n);
    const char *path = fuzz_write("ckpt", FUZZ_PLAIN, 0, f, n);
    free(f);
    static io_ckpt c; /* 6 KB: off the stack */
    nn_error err;
    if (io_ckpt_read(path, &c, &err) != 0) {
        if (!is_zeroed(&c) || err.code != NN_EXIT_DATA) abort();
        return 0;
    }
    if (c.version < 1 || c.version > IO_CKPT_VERSION || !c.owned ||
        c.n > IO_CKPT_MAX_SECTIONS)
        abort();
    /* Touch everything: ASan reports a short allocation. */
    volatile uint8_t sink = 0;
    for (size_t k = 0; k < c.n; k++) {
        const io_ckpt_section *s = &c.sec[k];
        if (!name_ok(s->name) || s->used || (s->payload != 0 && s->payload != 1))
            abort();
        if ((s->payload && s->len % 4) || (s->len && !s->data)) abort();
        for (size_t j = 0; j < k; j++)
            if (!strcmp(c.sec[j].name, s->name)) abort();
        for (size_t i = 0; i < s->len; i++) sink ^= ((const uint8_t *)s->data)[i];
    }
    (void)sink;
    /* Every section but the last asked for: the last is the one unused. */
    for (size_t k = 0; k + 1 < c.n; k++)
        if (io_ckpt_find(&c, c.sec[k].name) != &c.sec[k]) abort();
    if (c.n) {
        if (io_ckpt_unused(&c, path, &err) != NN_EXIT_DATA) abort();
        if (!strstr(err.msg, c.sec[c.n - 1].name)) abort();
        io_ckpt_find(&c, c.sec[c.n - 1].name);
    }
    if (io_ckpt_unused(&c, path, &err) != 0) abort();
    if (io_ckpt_payload_bytes(&c) <= ROUNDTRIP_MAX) roundtrip(&c);
    io_ckpt_free(&c);
    if (!is_zeroed(&c)) abort();
    return 0;
}

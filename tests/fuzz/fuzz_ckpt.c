/* tests/fuzz/fuzz_ckpt.c - libFuzzer harness for io_ckpt_read (io/ckpt.c).
 *
 * Input: byte 0 = mode, then the file's bytes. Mode bit 0 clear: the bytes
 * are written as they are. Bit 0 set: before writing, the harness repairs
 * what a random mutation almost always breaks first - the header CRC, the
 * payload lengths and the payload CRC (docs/CHECKPOINT.md) - so the fuzzer
 * also reaches the payload checks and the inflate loop. Checkpoints are
 * read with read(2), not through gzip, so there is no gzip mode here.
 * A successful read must hold exactly what the header declares.
 */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t, uint32_t, uint64_t */
#include <stdlib.h> /* abort, malloc, free */
#include <string.h> /* memcpy */
#include <zlib.h>   /* crc32, inflate */

#include "io/ckpt.h"
#include "tests/fuzz/fuzz_file.h"

#define PREFIX 16u   /* magic, version, header length */
#define H_N_PARAMS 72u
#define H_N_STATE 80u
#define H_CONFIG_LEN 88u
#define H_EXTRA_LEN 96u
#define FIX_MAX_RAW ((size_t)64 << 20) /* inflate at most this to fix a CRC */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* Repair the checksums and payload lengths of f[0..n) in place, as far as
 * the header lengths allow. */
static void fix_up(uint8_t *f, size_t n)
{
    if (n < PREFIX + H_EXTRA_LEN + 8) return;
    uint64_t fields = (uint64_t)f[12] | (uint64_t)f[13] << 8 |
                      (uint64_t)f[14] << 16 | (uint64_t)f[15] << 24;
    if (fields < H_EXTRA_LEN + 8 || fields > n) return;
    const uint8_t *h = f + PREFIX;
    uint64_t cl = le64(h + H_CONFIG_LEN), el = le64(h + H_EXTRA_LEN);
    uint64_t e = PREFIX + fields;
    if (cl > n || el > n || e + cl + el + 4 > n) return;
    e += cl + el;
    put_le(f + e, crc32(0, f, (uInt)e), 4);
    if (e + 4 + 16 + 4 > n) return;
    uint64_t np = le64(h + H_N_PARAMS), ns = le64(h + H_N_STATE);
    uint64_t comp = n - (e + 4 + 16 + 4);
    put_le(f + e + 4, comp, 8);
    put_le(f + e + 12, 4 * (np + ns), 8);
    put_le(f + n - 4, inflated_crc(f + e + 20, (size_t)comp), 4);
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
    io_ckpt c;
    nn_error err;
    if (io_ckpt_read(path, &c, &err) != 0) {
        if (c.config || c.extra || c.params || c.state ||
            err.code != NN_EXIT_DATA)
            abort();
        return 0;
    }
    if (c.n_rng > IO_CKPT_MAX_RNG || !c.config || c.config[c.config_len])
        abort();
    if ((c.n_params && !c.params) || (c.n_state && !c.state) ||
        (c.extra_len && !c.extra))
        abort();
    /* Touch everything: ASan reports a short allocation. */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < c.extra_len; i++) sink ^= (uint8_t)c.extra[i];
    for (size_t i = 0; i < c.n_params; i++) sink ^= (uint8_t)(c.params[i] > 0);
    for (size_t i = 0; i < c.n_state; i++) sink ^= (uint8_t)(c.state[i] > 0);
    (void)sink;
    io_ckpt_free(&c);
    return 0;
}

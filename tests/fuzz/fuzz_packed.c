/* tests/fuzz/fuzz_packed.c - libFuzzer harness for the packed-dataset
 * readers (io/packed.c, io/packed_fetch.c): io_packed_open of a directory
 * holding a fuzzed index and one or two fuzzed shards, then every row read
 * directly and through the prefetch window, and io_packed_verify.
 *
 * Input: byte 0 = options (bit 0: repair the CRCs - each shard's header
 * and payload CRC, the index entries' CRCs and the index CRC - so the
 * fuzzer reaches the checks behind them; bit 1: the shard bytes are two
 * shards, split at byte 3's fraction), bytes 1-2 = L (little-endian), then
 * L bytes of the index and the rest the shard(s). On success every value
 * read must be a whole number in range for the integer types and the
 * reads of both paths must agree; on failure the code must be
 * NN_EXIT_DATA and nothing returned.
 */
#include <math.h>   /* floorf */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* abort, free, atexit */
#include <string.h> /* memcpy, memcmp */
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/packed.h"
#include "nn/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_READ 4096 /* rows read per input */

static char dir[64];

static void cleanup(void)
{
    char p[128];
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/shard-%06d.bin", dir, k);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/index", dir);
    unlink(p);
    rmdir(dir);
}

static void put(const char *name, const uint8_t *b, size_t n)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n && fwrite(b, 1, n, f) != n) abort();
    fclose(f);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Shard s[0, n): payload and header CRCs; returns the payload CRC. */
static uint32_t repair_shard(uint8_t *s, size_t n)
{
    if (n < 64) return 0;
    uint32_t c = (uint32_t)crc32(0, s + 64, (uInt)(n - 64));
    put32(s + 56, c);
    put32(s + 60, (uint32_t)crc32(0, s, 60));
    return c;
}

static void check_values(const float *v, size_t n, io_pk_type t)
{
    for (size_t i = 0; i < n && t != IO_PK_F32; i++)
        if (v[i] != floorf(v[i]) || v[i] < 0 ||
            v[i] > (t == IO_PK_U8 ? 255 : 65535))
            abort();
}

static void read_all(io_packed *p)
{
    const io_packed_meta *m = io_packed_meta_of(p);
    size_t n = m->total < MAX_READ ? m->total : MAX_READ;
    size_t *ids = nn_xcalloc(n + 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = n - 1 - i;
    size_t xn = nn_mul_size(n, m->x_width) + 1, yn = nn_mul_size(n, m->y_width) + 1;
    float *x = nn_xalloc_floats(xn), *y = nn_xalloc_floats(yn);
    float *x2 = nn_xalloc_floats(xn), *y2 = nn_xalloc_floats(yn);
    io_packed_tf tf = {0};
    io_packed_setup(p, 0, &tf);
    nn_error err;
    if (io_packed_rows(p, ids, n, x, y, &err) == 0) {
        check_values(x, n * m->x_width, m->x_type);
        check_values(y, n * m->y_width, m->y_type);
        if (io_packed_prefetch(p, ids, n) != 0) abort(); /* empty window */
        if (io_packed_next(p, ids, n, x2, y2, &err) != 0) abort();
        if (memcmp(x, x2, n * m->x_width * sizeof *x) ||
            memcmp(y, y2, n * m->y_width * sizeof *y))
            abort();
    } else if (err.code != NN_EXIT_DATA) {
        abort();
    }
    free(ids), free(x), free(y), free(x2), free(y2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    size_t len = (size_t)data[1] | (size_t)data[2] << 8;
    if (len > size - 4) return 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/dev/shm/axon-fuzz-packed-%ld", (long)getpid());
        mkdir(dir, 0700);
        atexit(cleanup);
    }
    int repair = data[0] & 1, two = (data[0] >> 1) & 1;
    size_t rest = size - 4 - len;
    uint8_t *ix = malloc(len + 1), *sh = malloc(rest + 1);
    memcpy(ix, data + 4, len);
    memcpy(sh, data + 4 + len, rest);
    size_t cut = two ? rest * data[3] / 256 : rest;
    uint32_t c0 = 0, c1 = 0;
    if (repair) {
        c0 = repair_shard(sh, cut);
        c1 = repair_shard(sh + cut, rest - cut);
        for (size_t k = 0; k < 2 && len >= 56 + 16 * (k + 1); k++)
            put32(ix + 56 + 16 * k + 8, k ? c1 : c0);
        if (len >= 4) put32(ix + len - 4, (uint32_t)crc32(0, ix, (uInt)(len - 4)));
    }
    cleanup();
    mkdir(dir, 0700);
    put("index", ix, len);
    put("shard-000000.bin", sh, cut);
    if (two) put("shard-000001.bin", sh + cut, rest - cut);
    free(ix), free(sh);
    io_packed *p = NULL;
    nn_error err;
    int st = io_packed_open(&p, dir, 1 << 16, &err);
    if (st) {
        if (st != NN_EXIT_DATA || p) abort();
        return 0;
    }
    read_all(p);
    io_packed_close(p);
    size_t rows = 0;
    st = io_packed_verify(dir, &rows, &err);
    if (st && st != NN_EXIT_DATA) abort();
    return 0;
}

/* tests/tools/gen_packed.c - a synthetic packed dataset of any size, for
 * the bounded-memory run (scripts/packed_memory.sh): ROWS u8 images of
 * [C, H, W] with a label in [0, 10) that a model can learn (the image's
 * brightness decile: every pixel of row i is drawn around 25 * label).
 *
 *   gen_packed DIR ROWS C H W [SHARD_BYTES]
 *
 * Writes through io_pack_* a chunk of rows at a time (the whole never in
 * memory). Exit 0, 2 on usage, 3 when a file cannot be written. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/packed.h"
#include "nn/check.h"
#include "nn/rng.h"

#define CHUNK 1024

static size_t arg(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || !v) {
        fprintf(stderr, "gen_packed: '%s' is not a positive count\n", s);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: gen_packed DIR ROWS C H W [SHARD_BYTES]\n");
        return 2;
    }
    size_t rows = arg(argv[2]), c = arg(argv[3]), h = arg(argv[4]), w = arg(argv[5]);
    size_t shard = argc == 7 ? arg(argv[6]) : (size_t)64 << 20;
    io_packed_meta m = {.x_type = IO_PK_U8, .y_type = IO_PK_U8,
                        .x_shape = nn_shape_3d(c, h, w), .y_width = 1,
                        .total = rows};
    m.x_width = nn_shape_size(m.x_shape);
    io_pack_writer *pw;
    nn_error err;
    if (io_pack_begin(&pw, argv[1], &m, shard, &err)) {
        fprintf(stderr, "gen_packed: %s\n", err.msg);
        return err.code;
    }
    float *x = nn_xalloc_floats(nn_mul_size(CHUNK, m.x_width)), y[CHUNK];
    nn_rng r;
    nn_rng_seed(&r, 1);
    for (size_t at = 0; at < rows; at += CHUNK) {
        size_t n = rows - at < CHUNK ? rows - at : CHUNK;
        for (size_t i = 0; i < n; i++) {
            unsigned label = (unsigned)(nn_rng_next(&r) % 10);
            y[i] = (float)label;
            uint64_t bits = 0;
            for (size_t j = 0; j < m.x_width; j++, bits >>= 8) {
                if (j % 8 == 0) bits = nn_rng_next(&r); /* 8 pixels a draw */
                int v = (int)(25 * label) + (int)((bits & 0xff) % 31) - 10;
                x[i * m.x_width + j] = (float)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
        if (io_pack_add(pw, x, y, n, "gen_packed", at, &err)) {
            fprintf(stderr, "gen_packed: %s\n", err.msg);
            io_pack_finish(pw, NULL);
            return err.code;
        }
    }
    free(x);
    if (io_pack_finish(pw, &err)) {
        fprintf(stderr, "gen_packed: %s\n", err.msg);
        return err.code;
    }
    return 0;
}

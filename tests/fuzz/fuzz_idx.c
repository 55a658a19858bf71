/* tests/fuzz/fuzz_idx.c - libFuzzer harness for io_idx_read (io/idx.c,
 * io/gzio.c).
 *
 * Input: byte 0 = how the file is written (fuzz_file.h: low two bits the
 * mode, the rest how many bytes a cut gzip member loses), byte 1 = the rows
 * asked for (low nibble lo; high nibble 0 = to the end, else hi = lo + k-1),
 * then the file's bytes. A successful read must return exactly
 * (hi - lo) * sample floats, each a byte value 0..255. A read through the
 * last row must also have checked the end: it cannot succeed on a gzip
 * member with its trailer cut, and when it succeeds the file holds exactly
 * the header and the declared rows (no rows past the count).
 */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t */
#include <stdlib.h> /* abort, free */

#include "io/dataset.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const char *path = fuzz_write("idx", fuzz_mode(data[0]), data[0] >> 2u,
                                  data + 2, size - 2);
    size_t lo = data[1] & 0x0fu, span = data[1] >> 4u;
    size_t hi = span == 0 ? (size_t)-1 : lo + span - 1;
    size_t total = 0;
    nn_shape shape;
    float *x = NULL;
    nn_error err;
    if (io_idx_read(path, lo, hi, &total, &shape, &x, &err) != 0) {
        if (x != NULL || err.code != NN_EXIT_DATA) abort();
        return 0;
    }
    if (hi == (size_t)-1) hi = total;
    if (lo > hi || hi > total) abort();
    int mode = fuzz_mode(data[0]);
    if (hi == total && hi > lo && mode == FUZZ_GZIP_CUT) abort();
    if (hi == total && hi > lo && mode == FUZZ_GZIP && size >= 6) {
        /* plain content = data + 2: magic, data[5] dims, then the rows */
        size_t header = 4 + 4 * (size_t)data[5];
        if (size - 2 != header + total * nn_shape_size(shape)) abort();
    }
    /* Touch every element: ASan reports a short allocation. */
    size_t n = (hi - lo) * nn_shape_size(shape);
    for (size_t i = 0; i < n; i++)
        if (!(x[i] >= 0.0f && x[i] <= 255.0f)) abort();
    free(x);
    return 0;
}

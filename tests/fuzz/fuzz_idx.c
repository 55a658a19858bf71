/* tests/fuzz/fuzz_idx.c - libFuzzer harness for io_idx_read (io/idx.c,
 * io/gzio.c).
 *
 * Input: byte 0 = how the file is written (fuzz_file.h: low two bits the
 * mode, the rest how many bytes a cut gzip member loses), byte 1 = the rows
 * asked for (low nibble lo; high nibble 0 = to the end, else hi = lo + k-1),
 * then the file's bytes. A successful read must return exactly
 * (hi - lo) * sample floats, each a byte value 0..255.
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
    /* Touch every element: ASan reports a short allocation. */
    size_t n = (hi - lo) * nn_shape_size(shape);
    for (size_t i = 0; i < n; i++)
        if (!(x[i] >= 0.0f && x[i] <= 255.0f)) abort();
    free(x);
    return 0;
}

/* tests/fuzz/fuzz_csv.c - libFuzzer harness for io_csv_read (io/csv.c,
 * io/gzio.c).
 *
 * Input: byte 0 = how the file is written (fuzz_file.h), byte 1 = the
 * options (low three bits skip_rows, bit 3 header), then the file's bytes.
 * A successful read must return rows x cols finite floats.
 */
#include <math.h>   /* isfinite */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t */
#include <stdlib.h> /* abort, free */

#include "io/dataset.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const char *path = fuzz_write("csv", fuzz_mode(data[0]), data[0] >> 2u,
                                  data + 2, size - 2);
    size_t skip = data[1] & 7u;
    int header = (data[1] >> 3) & 1;
    size_t rows = 0, cols = 0;
    float *x = NULL;
    nn_error err;
    if (io_csv_read(path, skip, header, &rows, &cols, &x, &err) != 0) {
        if (x != NULL || err.code != NN_EXIT_DATA) abort();
        return 0;
    }
    if (rows == 0 || cols == 0 || x == NULL) abort();
    /* Touch every element: ASan reports a short allocation. */
    for (size_t i = 0; i < rows * cols; i++)
        if (!isfinite(x[i])) abort();
    free(x);
    return 0;
}

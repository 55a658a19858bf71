/* tests/fuzz/fuzz_axm.c - libFuzzer harness for the inference library's
 * loader (infer/load.c, infer/ops.c) and its run.
 *
 * Input: byte 0 = mode, then the file's bytes. Mode bit 0 set: the
 * harness writes the CRC-32 trailer the bytes should have before loading,
 * so mutations reach the op parser and the shape checks instead of
 * stopping at the checksum. A failed load must leave *out NULL with a
 * status and a message; a successful one is run on zero inputs over
 * max_batch + 1 rows (two chunks), so every buffer the loader sized is
 * written and read (ASan reports a short one).
 */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t, uint32_t */
#include <stdlib.h> /* abort, malloc, calloc, free */
#include <string.h> /* memcpy */

#include "infer/axon_infer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CRC-32 (IEEE) bit by bit, independent of the library's table. */
static uint32_t crc32_bits(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t len = size - 1;
    uint8_t *b = malloc(len + 1);
    if (!b) abort();
    memcpy(b, data + 1, len);
    if ((data[0] & 1) && len >= 4) {
        uint32_t c = crc32_bits(b, len - 4);
        for (int k = 0; k < 4; k++) b[len - 4 + k] = (uint8_t)(c >> (8 * k));
    }
    axi_model *m = (axi_model *)1;
    char msg[128] = "";
    int rc = axi_load_buffer(b, len, 2, &m, msg, sizeof msg);
    free(b);
    if (rc) {
        if (m != NULL || msg[0] == '\0' || rc < AXI_ERR_IO || rc > AXI_ERR_ARG) abort();
        return 0;
    }
    size_t in = axi_input_size(m), out = axi_output_size(m);
    if (axi_memory(m) > ((size_t)64 << 20)) { /* within the RSS limit */
        axi_free(m);
        return 0;
    }
    float *x = calloc(3 * in + 1, sizeof *x), *y = calloc(3 * out + 1, sizeof *y);
    if (!x || !y) abort();
    if (axi_run(m, x, 3, y) != 0) abort();
    free(x);
    free(y);
    axi_free(m);
    return 0;
}

/* io/idx.c - the IDX (MNIST) format, plain or gzip (see io/dataset.h).
 *
 * Layout: a big-endian magic 0x0000TTNN (TT element type, NN dimension
 * count), NN big-endian u32 dimensions (the first is the sample count),
 * then count * prod(dims[1..]) elements, row-major. Only unsigned bytes
 * (TT = 0x08) are supported. A sample's shape is the dimensions after the
 * count, images (3 dims) becoming [1, H, W] and labels (1 dim) [1].
 */
#include "io/dataset.h"

#include <stdint.h> /* uint32_t, uint64_t, SIZE_MAX */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* free */

#include "io/gzio.h"
#include "nn/check.h"

#define IDX_TYPE_U8 0x08
#define IDX_MAX_DIMS 4
/* Bytes converted per read: bounds the scratch buffer, and makes the
 * output grow only with data that were actually present. */
#define IDX_CHUNK ((size_t)1 << 20)

typedef struct idx_header {
    size_t count;        /* samples in the file */
    size_t sample_bytes; /* bytes (= elements) per sample */
    uint64_t data_start; /* byte offset of sample 0 */
    nn_shape shape;
} idx_header;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The per-sample shape for the dimensions after the count. */
static nn_shape sample_shape(const uint32_t *dims, size_t ndims)
{
    switch (ndims) {
    case 1: return nn_shape_1d(1);
    case 2: return nn_shape_1d(dims[1]);
    case 3: return nn_shape_3d(1, dims[1], dims[2]);
    default: return nn_shape_3d(dims[1], dims[2], dims[3]);
    }
}

/* Read and validate the magic and the dimensions; every field is checked
 * before it is used, and products are checked for overflow. For a plain
 * file the declared data must fit the file size exactly. */
static int read_header(io_gz *f, idx_header *h, nn_error *err)
{
    unsigned char b[4 * (1 + IDX_MAX_DIMS)];
    uint32_t dims[IDX_MAX_DIMS];
    int rc = io_gz_read(f, b, 4, "IDX magic", err);
    if (rc) return rc;
    if (b[0] != 0 || b[1] != 0)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: not an IDX file: bad magic 0x%08x",
                            f->path, (unsigned)be32(b));
    if (b[2] != IDX_TYPE_U8)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: unsupported IDX element type 0x%02x "
                            "(only unsigned byte 0x08 is supported)",
                            f->path, (unsigned)b[2]);
    size_t ndims = b[3];
    if (ndims < 1 || ndims > IDX_MAX_DIMS)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: IDX dimension count %zu not in 1..%d",
                            f->path, ndims, IDX_MAX_DIMS);
    rc = io_gz_read(f, b + 4, 4 * ndims, "IDX dimensions", err);
    if (rc) return rc;
    size_t sample = 1;
    for (size_t i = 0; i < ndims; i++) {
        dims[i] = be32(b + 4 + 4 * i);
        if (dims[i] == 0)
            return nn_error_set(err, NN_EXIT_DATA,
                                "%s: IDX dimension %zu is 0", f->path, i);
        if (i > 0 && sample > SIZE_MAX / dims[i])
            return nn_error_set(err, NN_EXIT_DATA,
                                "%s: IDX sample size overflows", f->path);
        if (i > 0) sample *= dims[i];
    }
    h->count = dims[0];
    h->sample_bytes = sample;
    h->data_start = 4 * (1 + (uint64_t)ndims);
    h->shape = sample_shape(dims, ndims);
    if (h->count > (SIZE_MAX - h->data_start) / sample)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: IDX data size overflows", f->path);
    uint64_t need = h->data_start + (uint64_t)h->count * sample;
    if (f->plain && f->size < need)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: truncated: expected %llu bytes of header and "
                            "%zu samples x %zu bytes, got %llu",
                            f->path, (unsigned long long)need, h->count,
                            sample, (unsigned long long)f->size);
    if (f->plain && f->size > need)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: %llu bytes after the %zu samples the IDX "
                            "header declares",
                            f->path, (unsigned long long)(f->size - need),
                            h->count);
    return NN_OK;
}

/* Grow *out (capacity *cap floats) to hold at least `need` floats, at most
 * `limit`: geometric, so the allocation tracks the data actually read. */
static void reserve(float **out, size_t *cap, size_t need, size_t limit)
{
    if (need <= *cap) return;
    size_t c = *cap > limit / 2 ? limit : 2 * *cap;
    if (c < need) c = need;
    NN_CHECK(c <= SIZE_MAX / sizeof(float), "IDX read too large");
    *out = nn_xrealloc(*out, c * sizeof(float));
    *cap = c;
}

/* Read `n` bytes of samples as floats into a buffer allocated here. */
static int read_values(io_gz *f, size_t n, const char *what, float **out,
                       nn_error *err)
{
    unsigned char *chunk = nn_xmalloc(n < IDX_CHUNK ? (n ? n : 1) : IDX_CHUNK);
    size_t cap = f->plain ? n : (n < IDX_CHUNK ? n : IDX_CHUNK);
    float *v = nn_xmalloc((cap ? cap : 1) * sizeof(float));
    size_t have = 0;
    int rc = NN_OK;
    while (have < n) {
        size_t want = n - have < IDX_CHUNK ? n - have : IDX_CHUNK;
        size_t got = 0;
        rc = io_gz_read_some(f, chunk, want, &got, err);
        if (rc) goto fail;
        reserve(&v, &cap, have + got, n);
        for (size_t i = 0; i < got; i++) v[have + i] = (float)chunk[i];
        have += got;
        if (got < want) {
            rc = nn_error_set(err, NN_EXIT_DATA,
                              "%s: truncated: expected %zu bytes of %s, "
                              "got %zu", f->path, n, what, have);
            goto fail;
        }
    }
    free(chunk);
    *out = v;
    return NN_OK;
fail:
    free(chunk);
    free(v);
    return rc;
}

int io_idx_read(const char *path, size_t lo, size_t hi, size_t *total,
                nn_shape *shape, float **out, nn_error *err)
{
    io_gz f;
    idx_header h = {0};
    char what[96];
    *out = NULL;
    int rc = io_gz_open(&f, path, err);
    if (rc) return rc;
    rc = read_header(&f, &h, err);
    if (rc) goto done;
    if (hi == (size_t)-1) hi = h.count;
    if (lo > hi || hi > h.count) {
        rc = nn_error_set(err, NN_EXIT_DATA,
                          "%s: rows [%zu, %zu) requested, file has %zu",
                          path, lo, hi, h.count);
        goto done;
    }
    /* lo <= count and count * sample_bytes was checked above. */
    rc = io_gz_seek(&f, h.data_start + (uint64_t)lo * h.sample_bytes, err);
    if (rc) goto done;
    snprintf(what, sizeof what, "data for samples [%zu, %zu)", lo, hi);
    rc = read_values(&f, (hi - lo) * h.sample_bytes, what, out, err);
    if (rc) goto done;
    /* The reader of the last rows also checks that nothing follows them
     * and, for gzip, the stream's CRC and length trailer. */
    snprintf(what, sizeof what, "the %zu samples the IDX header declares",
             h.count);
    if (hi == h.count && (hi > lo || h.count == 0))
        rc = io_gz_expect_end(&f, what, err);
    if (rc) {
        free(*out);
        *out = NULL;
        goto done;
    }
    *total = h.count;
    *shape = h.shape;
done:
    io_gz_close(&f);
    return rc;
}

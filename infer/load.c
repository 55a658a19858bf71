/* infer/load.c - reading and validating an .axm file (infer/axm_format.h)
 * into an axi_model: every count range-checked, every product of sizes
 * overflow-checked, every op's shapes derived from its inputs and its
 * attributes and its blobs checked against them, the CRC checked; then
 * every buffer a run needs is allocated, once. A file that fails any check
 * gives AXI_ERR_FORMAT and a message naming the byte offset and the op.
 */
#include <stdarg.h> /* va_list */
#include <stdint.h> /* uint32_t */
#include <stdio.h>  /* FILE, vsnprintf */
#include <stdlib.h> /* malloc, calloc, free */
#include <string.h> /* memcpy, memcmp */

#include "infer/infer_impl.h"

typedef struct reader {
    const unsigned char *base, *p;
    size_t left;
    char *msg;
    size_t cap;
} reader;

static int fail(char *msg, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *msg, size_t cap, int code, const char *fmt, ...)
{
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

#define BAD(r, ...) fail((r)->msg, (r)->cap, AXI_ERR_FORMAT, __VA_ARGS__)

static size_t where(const reader *r)
{
    return (size_t)(r->p - r->base);
}

static int get_u32(reader *r, uint32_t *v)
{
    if (r->left < 4)
        return BAD(r, "axm: truncated at byte %zu", where(r));
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 |
         (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return 0;
}

/* a u32 in [lo, hi] */
static int get_range(reader *r, const char *what, uint32_t lo, uint32_t hi,
                     uint32_t *v)
{
    size_t at = where(r);
    int st = get_u32(r, v);
    if (!st && (*v < lo || *v > hi))
        return BAD(r, "axm: byte %zu: %s %u is outside [%u, %u]", at, what,
                   *v, lo, hi);
    return st;
}

/* CRC-32 (IEEE 802.3, as zlib's crc32), four bits at a time. */
static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
        0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
        0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        c = (c >> 4) ^ t[c & 15];
        c = (c >> 4) ^ t[c & 15];
    }
    return ~c;
}

static int read_blob(reader *r, axi_blob *b)
{
    uint32_t type, count;
    int st = get_range(r, "blob type", AXM_F32, AXM_I8, &type);
    if (!st) st = get_range(r, "blob count", 0, (uint32_t)AXM_MAX_BLOB, &count);
    if (st) return st;
    size_t bytes = type == AXM_F32 ? (size_t)count * 4 : ((size_t)count + 3) / 4 * 4;
    if (r->left < bytes)
        return BAD(r, "axm: byte %zu: a blob of %u values runs past the end "
                   "of the file", where(r), count);
    b->type = (int)type;
    b->count = count;
    b->data = r->p;
    r->p += bytes;
    r->left -= bytes;
    return 0;
}

static int read_op(reader *r, size_t index, axi_op *op)
{
    uint32_t v, n;
    int st = get_range(r, "op kind", AXM_SCALE, AXM_KIND_END - 1, &v);
    if (st) return st;
    op->kind = v;
    if ((st = get_range(r, "input count", 1, AXM_MAX_INPUTS, &n))) return st;
    op->n_in = n;
    for (size_t k = 0; k < op->n_in; k++) {
        if ((st = get_range(r, "input tensor", 0, (uint32_t)index, &v)))
            return st;
        op->in[k] = v;
    }
    if ((st = get_range(r, "attribute count", 0, AXM_MAX_ATTRS, &n))) return st;
    op->n_attr = n;
    for (size_t k = 0; k < op->n_attr; k++)
        if ((st = get_u32(r, &op->attr[k]))) return st;
    if ((st = get_range(r, "blob count", 0, AXM_MAX_BLOBS, &n))) return st;
    op->n_blob = n;
    for (size_t k = 0; k < op->n_blob; k++)
        if ((st = read_blob(r, &op->blob[k]))) return st;
    return 0;
}

static int read_header(reader *r, axi_model *m)
{
    uint32_t v, nd;
    if (r->left < AXM_HEADER_BYTES + 4 || memcmp(r->p, AXM_MAGIC, 4))
        return BAD(r, "axm: not an axon model file (no AXM1 header)");
    r->p += 4;
    r->left -= 4;
    int st = get_range(r, "version", AXM_VERSION, AXM_VERSION, &v);
    if (!st) st = get_range(r, "flags", 0, AXM_FLAG_INT8, &v);
    if (st) return st;
    m->int8 = (int)(v & AXM_FLAG_INT8);
    if ((st = get_range(r, "op count", 1, AXM_MAX_OPS, &v)) ||
        (st = get_range(r, "input dims", 1, 4, &nd)))
        return st;
    m->n_ops = v;
    m->in.ndim = nd;
    for (size_t i = 0; i < 4; i++) {
        if ((st = get_range(r, "input dim", i < nd, i < nd ? AXM_MAX_DIM : 0,
                            &v)))
            return st;
        m->in.dim[i] = v;
    }
    if (axi_shape_size(&m->in) > AXM_MAX_ROW)
        return BAD(r, "axm: the input row has more than 2^22 values");
    return 0;
}

/* Parse bytes[0, len) (the model's own copy) into m's ops and shapes. */
static int parse(axi_model *m, char *msg, size_t cap)
{
    reader r = {m->bytes, m->bytes, m->len, msg, cap};
    if (m->len >= AXM_HEADER_BYTES + 4) {
        const unsigned char *t = m->bytes + m->len - 4;
        uint32_t want = (uint32_t)t[0] | (uint32_t)t[1] << 8 |
                        (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        if (!memcmp(m->bytes, AXM_MAGIC, 4) &&
            crc32_ieee(m->bytes, m->len - 4) != want)
            return BAD(&r, "axm: checksum mismatch (a truncated or damaged "
                           "file)");
    }
    int st = read_header(&r, m);
    if (st) return st;
    r.left -= 4; /* the trailer */
    m->ops = calloc(m->n_ops, sizeof *m->ops);
    if (!m->ops) return fail(msg, cap, AXI_ERR_NOMEM, "axm: out of memory");
    for (size_t i = 0; i < m->n_ops; i++) {
        size_t at = where(&r);
        if ((st = read_op(&r, i, &m->ops[i]))) return st;
        if ((st = axi_op_check(m, i, msg, cap))) {
            char tail[200];
            snprintf(tail, sizeof tail, "%s", msg ? msg : "");
            return fail(msg, cap, st, "axm: byte %zu: op %zu: %s", at, i, tail);
        }
    }
    if (r.left)
        return BAD(&r, "axm: %zu bytes after the last op", r.left);
    return 0;
}

/* Every buffer a run needs, for max_batch rows. */
static int allocate(axi_model *m, char *msg, size_t cap)
{
    size_t scratch = 0, qscratch = 0, total = 0;
    for (size_t i = 0; i < m->n_ops; i++) {
        const axi_op *op = &m->ops[i];
        if (op->scratch > scratch) scratch = op->scratch;
        if (op->qscratch > qscratch) qscratch = op->qscratch;
        /* each term <= 2^22 * 4 * 2^28 bytes: no overflow in 64 bits */
        if (op->kind != AXM_RESHAPE)
            total += op->out_size * m->max_batch * sizeof(float);
        if (total > AXM_MAX_MEMORY)
            return fail(msg, cap, AXI_ERR_FORMAT, "axm: op %zu: the model "
                        "needs more than 1 GiB of buffers for %zu rows", i,
                        m->max_batch);
    }
    total += scratch * sizeof(float) + qscratch;
    if (total > AXM_MAX_MEMORY)
        return fail(msg, cap, AXI_ERR_FORMAT, "axm: the model needs more "
                    "than 1 GiB of buffers for %zu rows", m->max_batch);
    m->memory = total + m->len;
    for (size_t i = 0; i < m->n_ops; i++) {
        axi_op *op = &m->ops[i];
        if (op->kind == AXM_RESHAPE) continue; /* aliases its input */
        op->buf = malloc(op->out_size * m->max_batch * sizeof(float) + 1);
        if (!op->buf) return fail(msg, cap, AXI_ERR_NOMEM, "axm: out of memory");
    }
    m->scratch = malloc(scratch * sizeof(float) + 1);
    m->qscratch = malloc(qscratch + 1);
    m->ptr = calloc(m->n_ops + 1, sizeof *m->ptr);
    if (!m->scratch || !m->qscratch || !m->ptr)
        return fail(msg, cap, AXI_ERR_NOMEM, "axm: out of memory");
    return 0;
}

int axi_load_buffer(const void *buf, size_t len, size_t max_batch,
                    axi_model **out, char *msg, size_t msg_cap)
{
    if (!out) return fail(msg, msg_cap, AXI_ERR_ARG, "axm: out is NULL");
    *out = NULL;
    if (!buf || max_batch == 0 || max_batch > AXM_MAX_BLOB)
        return fail(msg, msg_cap, AXI_ERR_ARG, "axm: no buffer, or max_batch "
                    "not in [1, 2^28]");
    axi_model *m = calloc(1, sizeof *m);
    if (!m) return fail(msg, msg_cap, AXI_ERR_NOMEM, "axm: out of memory");
    m->max_batch = max_batch;
    m->len = len;
    m->bytes = malloc(len + 1);
    int st = m->bytes ? 0 : fail(msg, msg_cap, AXI_ERR_NOMEM, "axm: out of memory");
    if (!st) {
        memcpy(m->bytes, buf, len);
        st = parse(m, msg, msg_cap);
    }
    if (!st) st = allocate(m, msg, msg_cap);
    if (st) {
        axi_free(m);
        return st;
    }
    *out = m;
    return 0;
}

int axi_load_file(const char *path, size_t max_batch, axi_model **out,
                  char *msg, size_t msg_cap)
{
    if (!out || !path) return fail(msg, msg_cap, AXI_ERR_ARG, "axm: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(msg, msg_cap, AXI_ERR_IO, "%s: cannot open", path);
    unsigned char *data = NULL;
    size_t len = 0, cap = 0;
    int st = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            if (ncap > AXM_MAX_MEMORY) {
                st = fail(msg, msg_cap, AXI_ERR_FORMAT, "%s: larger than 1 GiB",
                          path);
                break;
            }
            unsigned char *p = realloc(data, ncap);
            if (!p) {
                st = fail(msg, msg_cap, AXI_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            data = p;
            cap = ncap;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) st = fail(msg, msg_cap, AXI_ERR_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (!st) {
        st = axi_load_buffer(data, len, max_batch, out, msg, msg_cap);
        if (st == AXI_ERR_FORMAT && msg && msg_cap) {
            char tail[256];
            snprintf(tail, sizeof tail, "%s", msg);
            fail(msg, msg_cap, st, "%s: %s", path, tail);
        }
    }
    free(data);
    return st;
}

void axi_free(axi_model *m)
{
    if (!m) return;
    if (m->ops)
        for (size_t i = 0; i < m->n_ops; i++) {
            free(m->ops[i].buf);
            free(m->ops[i].wsum);
        }
    free(m->ops);
    free(m->scratch);
    free(m->qscratch);
    free(m->ptr);
    free(m->bytes);
    free(m);
}

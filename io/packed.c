/* io/packed.c - the packed format: writing shards and the index, opening
 * and checking them, reading rows (see io/packed.h; the layout byte by
 * byte is in docs/DATA.md).
 *
 * Shard header (64 bytes, little-endian):
 *   0 magic "AXONPACK"   8 u32 version   12 u32 shard number
 *  16 u8 x type  17 u8 y type  18 u8 x ndim  19 u8 0
 *  20 u32 x dims[4] (0 past ndim)   36 u32 y width
 *  40 u64 first row   48 u64 rows   56 u32 CRC32 of the payload
 *  60 u32 CRC32 of bytes 0..59
 * Index: 0 magic "AXONPIDX", 8 u32 version, 12 u32 shards, 16..39 as the
 * shard header, 40 u64 total rows, 48 u32 vocab length, 52 u32 0, then per
 * shard u64 rows, u32 payload CRC32, u32 0; the vocabulary bytes; u32
 * CRC32 of everything before it. CRC32 is zlib's (the PNG/gzip one).
 */
#include "io/packed_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h> /* crc32 */

#include "io/dataset.h" /* io_standardize */
#include "io/file.h"
#include "nn/check.h"
#include "nn/loss.h" /* NN_LABEL_NONE */

static const char SHARD_MAGIC[8] = {'A', 'X', 'O', 'N', 'P', 'A', 'C', 'K'};
static const char INDEX_MAGIC[8] = {'A', 'X', 'O', 'N', 'P', 'I', 'D', 'X'};
#define INDEX_FIXED 56
#define INDEX_ENTRY 16
/* Largest index: every shard's entry and a full vocabulary. */
#define INDEX_MAX (INDEX_FIXED + INDEX_ENTRY * (size_t)IO_PACKED_MAX_SHARDS + 260)
#define STAGE_BYTES ((size_t)1 << 18) /* one pread reads at most this */

size_t io_pk_size(io_pk_type t)
{
    return t == IO_PK_U8 ? 1 : t == IO_PK_F32 ? 4 : t == IO_PK_TOKEN ? 2 : 0;
}

/* ---- little-endian fields ---------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t crc_of(const void *buf, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *b = buf;
    while (n > 0) { /* zlib takes uInt lengths */
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* Bytes 16..39 of a header or the index: types, shape, y width. */
static void put_layout(unsigned char *p, const io_packed_meta *m)
{
    p[0] = (unsigned char)m->x_type;
    p[1] = (unsigned char)m->y_type;
    p[2] = (unsigned char)m->x_shape.ndim;
    p[3] = 0;
    for (size_t i = 0; i < 4; i++)
        put32(p + 4 + 4 * i,
              i < m->x_shape.ndim ? (uint32_t)m->x_shape.dim[i] : 0);
    put32(p + 20, (uint32_t)m->y_width);
}

/* The layout at p (bytes 16..39), checked: known types, 1..4 nonzero
 * dims, widths within IO_PACKED_MAX_WIDTH. */
static int get_layout(const unsigned char *p, io_packed_meta *m,
                      const char *path, nn_error *err)
{
    m->x_type = (io_pk_type)p[0];
    m->y_type = (io_pk_type)p[1];
    m->x_shape.ndim = p[2];
    if (!io_pk_size(m->x_type) || (p[1] && !io_pk_size(m->y_type)))
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: unknown element type (x %u, y %u)", path,
                            p[0], p[1]);
    if (m->x_shape.ndim < 1 || m->x_shape.ndim > 4 || p[3])
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: sample dimension count %u not in 1..4",
                            path, p[2]);
    size_t w = 1;
    for (size_t i = 0; i < 4; i++) {
        uint32_t d = get32(p + 4 + 4 * i);
        if ((i < m->x_shape.ndim) != (d != 0))
            return nn_error_set(err, NN_EXIT_DATA,
                                "%s: sample dimension %zu is %u", path, i,
                                (unsigned)d);
        if (i >= m->x_shape.ndim) continue;
        m->x_shape.dim[i] = d;
        if (d > IO_PACKED_MAX_WIDTH / w)
            return nn_error_set(err, NN_EXIT_DATA,
                                "%s: samples larger than %zu values", path,
                                IO_PACKED_MAX_WIDTH);
        w *= d;
    }
    m->x_width = w;
    m->y_width = get32(p + 20);
    if (m->y_width > IO_PACKED_MAX_WIDTH || (!m->y_width != !m->y_type))
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: target width %zu with element type %u",
                            path, m->y_width, p[1]);
    return 0;
}

/* ---- writing ----------------------------------------------------------- */

struct io_pack_writer {
    char *dir;
    io_packed_meta m;
    size_t x_row, y_row, per_shard; /* bytes, bytes, rows per shard */
    size_t n_shards;
    size_t shard, in_shard, rows_now; /* current shard, rows in it, its size */
    size_t done;                      /* rows given so far */
    unsigned char *buf;               /* the current shard's payload */
    uint32_t *crc;                    /* per shard */
};

static char *shard_path(const char *dir, size_t k)
{
    size_t n = strlen(dir) + 32;
    char *p = nn_xmalloc(n);
    snprintf(p, n, "%s/shard-%06zu.bin", dir, k);
    return p;
}

/* Write all of buf to a new file `path` and fsync it. */
static int write_file(const char *path, const void *a, size_t na,
                      const void *b, size_t nb, nn_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot create: %s", path,
                            strerror(errno));
    const void *part[2] = {a, b};
    size_t len[2] = {na, nb};
    for (int i = 0; i < 2; i++) {
        const unsigned char *p = part[i];
        size_t left = len[i];
        while (left > 0) {
            ssize_t k = write(fd, p, left);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                int e = k < 0 ? errno : ENOSPC;
                close(fd);
                return nn_error_set(err, NN_EXIT_DATA, "%s: cannot write: %s",
                                    path, strerror(e));
            }
            p += k;
            left -= (size_t)k;
        }
    }
    int bad = fsync(fd) != 0 && errno != EINVAL;
    int e = errno;
    if (close(fd) != 0 && !bad) bad = 1, e = errno;
    return bad ? nn_error_set(err, NN_EXIT_DATA, "%s: cannot write: %s", path,
                              strerror(e))
               : 0;
}

int io_pack_begin(io_pack_writer **out, const char *dir,
                  const io_packed_meta *m, size_t shard_bytes, nn_error *err)
{
    *out = NULL;
    size_t xs = io_pk_size(m->x_type), ys = io_pk_size(m->y_type);
    NN_CHECK(xs && m->x_width <= IO_PACKED_MAX_WIDTH &&
                 m->y_width <= IO_PACKED_MAX_WIDTH && !m->y_width == !ys,
             "pack: bad layout");
    int e = io_mkdirs(dir);
    if (e)
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot create: %s", dir,
                            strerror(e));
    io_pack_writer *w = nn_xcalloc(1, sizeof *w);
    w->dir = nn_xstrdup(dir);
    w->m = *m;
    w->x_row = m->x_width * xs;
    w->y_row = m->y_width * ys;
    size_t row = w->x_row + w->y_row;
    w->per_shard = shard_bytes / row ? shard_bytes / row : 1;
    w->n_shards = m->total / w->per_shard + (m->total % w->per_shard != 0);
    if (w->n_shards == 0) w->n_shards = 1; /* an empty dataset: one shard */
    if (w->n_shards > IO_PACKED_MAX_SHARDS) {
        free(w->dir), free(w);
        return nn_error_set(err, NN_EXIT_USAGE,
                            "%s: %zu rows of %zu bytes make more than %d "
                            "shards; give a larger --shard-size", dir,
                            m->total, row, IO_PACKED_MAX_SHARDS);
    }
    w->buf = nn_xmalloc(nn_mul_size(w->per_shard, row) + 1);
    w->crc = nn_xcalloc(w->n_shards, sizeof *w->crc);
    w->rows_now = m->total < w->per_shard ? m->total : w->per_shard;
    *out = w;
    return 0;
}

/* Store v as type t at p; -1 if t cannot hold v exactly. */
static int encode(io_pk_type t, float v, unsigned char *p)
{
    uint32_t u;
    switch (t) {
    case IO_PK_U8:
        if (!(v >= 0 && v <= 255) || v != floorf(v)) return -1;
        p[0] = (unsigned char)v;
        return 0;
    case IO_PK_TOKEN:
        if (!(v >= 0 && v <= 65535) || v != floorf(v)) return -1;
        u = (uint32_t)v;
        p[0] = (unsigned char)u, p[1] = (unsigned char)(u >> 8);
        return 0;
    case IO_PK_F32:
        memcpy(&u, &v, 4);
        put32(p, u);
        return 0;
    default:
        return -1;
    }
}

static int encode_row(io_pk_type t, const float *v, size_t n,
                      unsigned char *p, size_t *bad)
{
    size_t sz = io_pk_size(t);
    for (size_t j = 0; j < n; j++)
        if (encode(t, v[j], p + j * sz)) {
            *bad = j;
            return -1;
        }
    return 0;
}

/* Write the current shard (rows_now rows in buf) and move to the next. */
static int flush_shard(io_pack_writer *w, nn_error *err)
{
    unsigned char h[IO_PACKED_HEADER] = {0};
    size_t n = w->rows_now, payload = n * (w->x_row + w->y_row);
    uint64_t first = (uint64_t)w->shard * w->per_shard;
    w->crc[w->shard] = crc_of(w->buf, payload);
    memcpy(h, SHARD_MAGIC, 8);
    put32(h + 8, IO_PACKED_VERSION);
    put32(h + 12, (uint32_t)w->shard);
    put_layout(h + 16, &w->m);
    put64(h + 40, first);
    put64(h + 48, n);
    put32(h + 56, w->crc[w->shard]);
    put32(h + 60, crc_of(h, 60));
    char *path = shard_path(w->dir, w->shard);
    int st = write_file(path, h, sizeof h, w->buf, payload, err);
    free(path);
    w->shard++;
    w->in_shard = 0;
    size_t left = w->m.total - w->done;
    w->rows_now = left < w->per_shard ? left : w->per_shard;
    return st;
}

int io_pack_add(io_pack_writer *w, const float *x, const float *y, size_t n,
                const char *source, size_t row0, nn_error *err)
{
    NN_CHECK(n <= w->m.total - w->done, "pack: more rows than announced");
    for (size_t i = 0; i < n; i++) {
        unsigned char *px = w->buf + w->in_shard * w->x_row;
        unsigned char *py = w->buf + w->rows_now * w->x_row +
                            w->in_shard * w->y_row;
        size_t bad = 0;
        const float *xi = x + i * w->m.x_width;
        const float *yi = w->m.y_width ? y + i * w->m.y_width : NULL;
        int which = encode_row(w->m.x_type, xi, w->m.x_width, px, &bad) ? 1
                    : w->m.y_width &&
                            encode_row(w->m.y_type, yi, w->m.y_width, py, &bad)
                        ? 2
                        : 0;
        if (which)
            return nn_error_set(err, NN_EXIT_DATA,
                                "%s: row %zu: %s value %zu (%g) is not a "
                                "whole number in the range of the packed "
                                "element type", source, row0 + i,
                                which == 1 ? "input" : "target", bad,
                                (double)(which == 1 ? xi : yi)[bad]);
        w->in_shard++;
        w->done++;
        if (w->in_shard == w->rows_now) {
            int st = flush_shard(w, err);
            if (st) return st;
        }
    }
    return 0;
}

static int write_index(io_pack_writer *w, nn_error *err)
{
    size_t n = INDEX_FIXED + INDEX_ENTRY * w->n_shards + w->m.vocab_len + 4;
    unsigned char *b = nn_xcalloc(n, 1);
    memcpy(b, INDEX_MAGIC, 8);
    put32(b + 8, IO_PACKED_VERSION);
    put32(b + 12, (uint32_t)w->n_shards);
    put_layout(b + 16, &w->m);
    put64(b + 40, w->m.total);
    put32(b + 48, (uint32_t)w->m.vocab_len);
    for (size_t k = 0; k < w->n_shards; k++) {
        size_t left = w->m.total - k * w->per_shard;
        unsigned char *e = b + INDEX_FIXED + INDEX_ENTRY * k;
        put64(e, left < w->per_shard ? left : w->per_shard);
        put32(e + 8, w->crc[k]);
    }
    memcpy(b + n - 4 - w->m.vocab_len, w->m.vocab, w->m.vocab_len);
    put32(b + n - 4, crc_of(b, n - 4));
    size_t pl = strlen(w->dir) + 32;
    char *tmp = nn_xmalloc(pl), *path = nn_xmalloc(pl);
    snprintf(tmp, pl, "%s/%s.tmp", w->dir, IO_PACKED_INDEX);
    snprintf(path, pl, "%s/%s", w->dir, IO_PACKED_INDEX);
    int st = write_file(tmp, b, n, NULL, 0, err);
    if (!st && rename(tmp, path) != 0)
        st = nn_error_set(err, NN_EXIT_DATA, "%s: cannot rename to %s: %s",
                          tmp, path, strerror(errno));
    free(b), free(tmp), free(path);
    return st;
}

int io_pack_finish(io_pack_writer *w, nn_error *err)
{
    int st = 0;
    if (err) {
        NN_CHECK(w->done == w->m.total, "pack: %zu of %zu rows given",
                 w->done, w->m.total);
        if (w->m.total == 0) st = flush_shard(w, err); /* its one shard */
        if (!st) st = write_index(w, err);
    }
    free(w->buf), free(w->crc), free(w->dir), free(w);
    return st;
}

/* ---- opening ----------------------------------------------------------- */

static int read_index(io_packed *p, const char *path, nn_error *err)
{
    char *b = NULL;
    size_t n = 0;
    int st = io_read_regular(path, "packed index", INDEX_MAX, NN_EXIT_DATA,
                             &b, &n, err);
    if (st) return st;
    const unsigned char *u = (const unsigned char *)b;
    io_packed_meta *m = &p->m;
    if (n < INDEX_FIXED + 4 || memcmp(u, INDEX_MAGIC, 8)) {
        st = nn_error_set(err, NN_EXIT_DATA,
                          "%s: not a packed index (bad magic or %zu bytes)",
                          path, n);
    } else if (get32(u + 8) != IO_PACKED_VERSION) {
        st = nn_error_set(err, NN_EXIT_DATA,
                          "%s: packed format version %u; this axon reads "
                          "version %d (pack the data again with this axon, "
                          "or use a newer one)", path, get32(u + 8),
                          IO_PACKED_VERSION);
    } else {
        p->n_shards = get32(u + 12);
        m->vocab_len = get32(u + 48);
        st = get_layout(u + 16, m, path, err);
    }
    size_t want = INDEX_FIXED + INDEX_ENTRY * p->n_shards + m->vocab_len + 4;
    if (!st && (p->n_shards < 1 || p->n_shards > IO_PACKED_MAX_SHARDS ||
                m->vocab_len > 256 || n != want))
        st = nn_error_set(err, NN_EXIT_DATA,
                          "%s: %zu shards and a vocabulary of %zu need %zu "
                          "bytes, the file has %zu", path, p->n_shards,
                          m->vocab_len, want, n);
    if (!st && get32(u + n - 4) != crc_of(u, n - 4))
        st = nn_error_set(err, NN_EXIT_DATA, "%s: index CRC mismatch: the "
                                             "file is damaged", path);
    if (!st) {
        m->total = get64(u + 40);
        memcpy(m->vocab, u + n - 4 - m->vocab_len, m->vocab_len);
        p->sh = nn_xcalloc(p->n_shards, sizeof *p->sh);
        uint64_t first = 0;
        for (size_t k = 0; k < p->n_shards && !st; k++) {
            const unsigned char *e = u + INDEX_FIXED + INDEX_ENTRY * k;
            p->sh[k].fd = -1;
            p->sh[k].first = first;
            p->sh[k].rows = get64(e);
            p->sh[k].crc = get32(e + 8);
            if (p->sh[k].rows > m->total - first)
                st = nn_error_set(err, NN_EXIT_DATA,
                                  "%s: the shards' rows exceed the total %zu",
                                  path, m->total);
            first += p->sh[k].rows;
        }
        if (!st && first != m->total)
            st = nn_error_set(err, NN_EXIT_DATA,
                              "%s: the shards hold %llu rows, the total says "
                              "%zu", path, (unsigned long long)first,
                              m->total);
    }
    free(b);
    return st;
}

/* Shard k's header against the index, and its size against both. */
static int check_shard(io_packed *p, size_t k, const char *index,
                       nn_error *err)
{
    pk_shard *s = &p->sh[k];
    unsigned char h[IO_PACKED_HEADER];
    uint64_t size = 0;
    int st = io_open_regular(s->path, "packed shard", NN_EXIT_DATA, &s->fd,
                             &size, err);
    if (st) return st;
    ssize_t got = size >= sizeof h ? pread(s->fd, h, sizeof h, 0) : 0;
    if (got != (ssize_t)sizeof h)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: shorter than a shard header (%llu bytes)",
                            s->path, (unsigned long long)size);
    io_packed_meta m;
    if (memcmp(h, SHARD_MAGIC, 8))
        return nn_error_set(err, NN_EXIT_DATA, "%s: not a packed shard (bad "
                                               "magic)", s->path);
    if (get32(h + 8) != IO_PACKED_VERSION)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: packed format version %u; this axon reads "
                            "version %d", s->path, get32(h + 8),
                            IO_PACKED_VERSION);
    if (get32(h + 60) != crc_of(h, 60))
        return nn_error_set(err, NN_EXIT_DATA, "%s: header CRC mismatch: the "
                                               "file is damaged", s->path);
    if ((st = get_layout(h + 16, &m, s->path, err))) return st;
    const char *what = get32(h + 12) != k ? "shard number"
                       : m.x_type != p->m.x_type ||
                               m.y_type != p->m.y_type ||
                               !nn_shape_eq(m.x_shape, p->m.x_shape) ||
                               m.y_width != p->m.y_width
                           ? "sample layout"
                       : get64(h + 40) != s->first ? "first row"
                       : get64(h + 48) != s->rows  ? "row count"
                       : get32(h + 56) != s->crc   ? "payload CRC"
                                                   : NULL;
    if (what)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: the header's %s disagrees with %s", s->path,
                            what, index);
    uint64_t want = IO_PACKED_HEADER + s->rows * (p->x_row + p->y_row);
    if (size != want)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: %llu bytes, but its %llu rows need %llu "
                            "(truncated or overwritten)", s->path,
                            (unsigned long long)size,
                            (unsigned long long)s->rows,
                            (unsigned long long)want);
    return 0;
}

int io_packed_open(io_packed **out, const char *dir, size_t window,
                   nn_error *err)
{
    io_packed *p = nn_xcalloc(1, sizeof *p);
    p->dir = nn_xstrdup(dir);
    p->f.window = window;
    size_t pl = strlen(dir) + 32;
    char *index = nn_xmalloc(pl);
    snprintf(index, pl, "%s/%s", dir, IO_PACKED_INDEX);
    int st = read_index(p, index, err);
    if (!st) {
        p->x_row = p->m.x_width * io_pk_size(p->m.x_type);
        p->y_row = p->m.y_width * io_pk_size(p->m.y_type);
        /* row bytes < 2^33, rows < 2^64 / 2^33 keeps offsets in range */
        if (p->m.total > (UINT64_MAX >> 34))
            st = nn_error_set(err, NN_EXIT_DATA, "%s: %zu rows", index,
                              p->m.total);
    }
    for (size_t k = 0; !st && k < p->n_shards; k++) {
        p->sh[k].path = shard_path(dir, k);
        st = check_shard(p, k, index, err);
    }
    free(index);
    if (st) {
        io_packed_close(p);
        p = NULL;
    }
    *out = p;
    return st;
}

void io_packed_close(io_packed *p)
{
    if (!p) return;
    io_pk_fetch_free(p);
    for (size_t k = 0; p->sh && k < p->n_shards; k++) {
        if (p->sh[k].fd >= 0) close(p->sh[k].fd);
        free(p->sh[k].path);
    }
    free(p->sh), free(p->dir), free(p->ycache), free(p);
}

const io_packed_meta *io_packed_meta_of(const io_packed *p)
{
    return &p->m;
}

void io_packed_setup(io_packed *p, size_t lo, const io_packed_tf *tf)
{
    io_packed_cancel(p);
    p->lo = lo;
    p->tf = *tf;
}

/* ---- reading rows ------------------------------------------------------ */

size_t io_pk_stage_bytes(const io_packed *p)
{
    size_t row = p->x_row > p->y_row ? p->x_row : p->y_row;
    return row > STAGE_BYTES ? row : STAGE_BYTES;
}

/* The shard holding global row g (< total). */
static pk_shard *shard_of(io_packed *p, uint64_t g)
{
    size_t a = 0, b = p->n_shards; /* first[a] <= g < first[b] */
    while (b - a > 1) {
        size_t mid = a + (b - a) / 2;
        if (p->sh[mid].first <= g) a = mid;
        else b = mid;
    }
    return &p->sh[a];
}

static int pread_all(const pk_shard *s, void *buf, size_t n, uint64_t off,
                     nn_error *err)
{
    unsigned char *b = buf;
    while (n > 0) {
        ssize_t k = pread(s->fd, b, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return nn_error_set(err, NN_EXIT_DATA, "%s: cannot read at byte "
                                                   "%llu: %s", s->path,
                                (unsigned long long)off,
                                k < 0 ? strerror(errno)
                                      : "the file became shorter");
        b += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* Values of type t at src into floats dst[0, n), times `scale` when it
 * is not 0 (the same two float operations as converting, then scaling). */
static void decode(io_pk_type t, const unsigned char *src, float *dst,
                   size_t n, float scale)
{
    if (t == IO_PK_U8 && scale != 0) {
        for (size_t j = 0; j < n; j++) dst[j] = (float)src[j] * scale;
        return;
    }
    if (t == IO_PK_U8) {
        for (size_t j = 0; j < n; j++) dst[j] = (float)src[j];
    } else if (t == IO_PK_TOKEN) {
        for (size_t j = 0; j < n; j++)
            dst[j] = (float)((unsigned)src[2 * j] | (unsigned)src[2 * j + 1] << 8);
    } else {
        for (size_t j = 0; j < n; j++) {
            uint32_t u = get32(src + 4 * j);
            memcpy(&dst[j], &u, 4);
        }
    }
    for (size_t j = 0; scale != 0 && j < n; j++) dst[j] *= scale;
}

/* Rows local[i, i + run) are consecutive rows of shard s: their block
 * (`y` 0: x, 1: y) decoded into out[run, width]. */
static int read_run(io_packed *p, const pk_shard *s, uint64_t g, size_t run,
                    int y, unsigned char *stage, float *out, nn_error *err)
{
    size_t row = y ? p->y_row : p->x_row, w = y ? p->m.y_width : p->m.x_width;
    uint64_t off = IO_PACKED_HEADER + (g - s->first) * row;
    if (y) off += s->rows * p->x_row;
    int st = pread_all(s, stage, run * row, off, err);
    for (size_t i = 0; !st && i < run; i++) /* x: scaled on the way */
        decode(y ? p->m.y_type : p->m.x_type, stage + i * row, out + i * w, w,
               y ? 0 : p->tf.scale);
    return st;
}

/* The transform of local row r: x (may be NULL) and y[yw] (may be NULL). */
static void transform(const io_packed *p, size_t r, float *x, float *y,
                      size_t yw)
{
    const io_packed_tf *tf = &p->tf;
    size_t w = p->m.x_width; /* x was scaled by decode */
    if (x && tf->mean) io_standardize(x, 1, w, tf->mean, tf->std);
    if (y && tf->y_is_x && x != y) memcpy(y, x, w * sizeof *y);
    if (y && tf->hide && tf->hide[r])
        for (size_t j = 0; j < yw; j++) y[j] = NN_LABEL_NONE;
}

int io_pk_read(io_packed *p, unsigned char *stage, const size_t *local,
               size_t n, float *x, float *y, nn_error *err)
{
    size_t xw = p->m.x_width, yw = p->tf.y_is_x ? xw : p->m.y_width;
    /* with y_is_x the targets come from x: read x into y if x is not asked */
    float *xo = x ? x : (y && p->tf.y_is_x ? y : NULL);
    int read_y = y && !p->tf.y_is_x && p->m.y_width;
    size_t stage_rows_x = p->x_row ? io_pk_stage_bytes(p) / p->x_row : n;
    size_t stage_rows_y = p->y_row ? io_pk_stage_bytes(p) / p->y_row : n;
    for (size_t i = 0; i < n;) {
        uint64_t g = (uint64_t)p->lo + local[i];
        NN_CHECK(g < p->m.total, "packed row %llu of %zu",
                 (unsigned long long)g, p->m.total);
        const pk_shard *s = shard_of(p, g);
        size_t cap = stage_rows_x < stage_rows_y ? stage_rows_x : stage_rows_y;
        size_t run = 1;
        while (i + run < n && run < cap && local[i + run] == local[i] + run &&
               g + run < s->first + s->rows)
            run++;
        int st = xo ? read_run(p, s, g, run, 0, stage, xo + i * xw, err) : 0;
        int cached = p->ycache && g >= p->ycache_lo && g + run <= p->ycache_hi;
        for (size_t k = 0; read_y && cached && k < run; k++)
            decode(p->m.y_type, p->ycache + (g + k - p->ycache_lo) * p->y_row,
                   y + (i + k) * yw, yw, 0);
        if (!st && read_y && !cached)
            st = read_run(p, s, g, run, 1, stage, y + i * yw, err);
        if (st) return st;
        for (size_t k = i; k < i + run; k++)
            transform(p, local[k], xo ? xo + k * xw : NULL,
                      y ? y + k * yw : NULL, yw);
        i += run;
    }
    return 0;
}

int io_packed_keep_targets(io_packed *p, size_t lo, size_t hi,
                           nn_error *err)
{
    NN_CHECK(lo <= hi && hi <= p->m.total, "targets [%zu, %zu) of %zu", lo,
             hi, p->m.total);
    if (!p->y_row || (hi - lo) > p->f.window / 4 / p->y_row) return 0;
    unsigned char *c = nn_xmalloc((hi - lo) * p->y_row + 1);
    int st = 0;
    for (size_t g = lo; g < hi && !st;) { /* one read per shard */
        const pk_shard *s = shard_of(p, g);
        size_t end = s->first + s->rows < hi ? (size_t)(s->first + s->rows) : hi;
        uint64_t off = IO_PACKED_HEADER + s->rows * p->x_row +
                       (g - s->first) * p->y_row;
        st = pread_all(s, c + (g - lo) * p->y_row, (end - g) * p->y_row, off,
                       err);
        g = end;
    }
    if (st) {
        free(c);
        return st;
    }
    free(p->ycache);
    p->ycache = c;
    p->ycache_lo = lo;
    p->ycache_hi = hi;
    return 0;
}

int io_packed_rows(io_packed *p, const size_t *local, size_t n, float *x,
                   float *y, nn_error *err)
{
    unsigned char *stage = nn_xmalloc(io_pk_stage_bytes(p));
    int st = io_pk_read(p, stage, local, n, x, y, err);
    free(stage);
    return st;
}

/* ---- verifying --------------------------------------------------------- */

int io_packed_verify(const char *dir, size_t *rows, nn_error *err)
{
    io_packed *p;
    int st = io_packed_open(&p, dir, 0, err);
    if (st) return st;
    *rows = p->m.total;
    unsigned char *buf = nn_xmalloc(STAGE_BYTES);
    for (size_t k = 0; k < p->n_shards && !st; k++) {
        const pk_shard *s = &p->sh[k];
        uint64_t left = s->rows * (p->x_row + p->y_row), off = IO_PACKED_HEADER;
        uLong c = crc32(0L, Z_NULL, 0);
        while (left > 0 && !st) {
            size_t n = left < STAGE_BYTES ? (size_t)left : STAGE_BYTES;
            st = pread_all(s, buf, n, off, err);
            c = crc32(c, buf, (uInt)n);
            off += n;
            left -= n;
        }
        if (!st && (uint32_t)c != s->crc)
            st = nn_error_set(err, NN_EXIT_DATA,
                              "%s: payload CRC 0x%08x, the header says "
                              "0x%08x: the file is damaged", s->path,
                              (unsigned)c, (unsigned)s->crc);
    }
    free(buf);
    io_packed_close(p);
    return st;
}

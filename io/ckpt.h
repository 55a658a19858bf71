/* io/ckpt.h - checkpoints: a header of named sections plus one
 * zlib-deflated payload, crash-safe.
 *
 * A checkpoint is a list of named sections (at most IO_CKPT_MAX_SECTIONS,
 * names of at most IO_CKPT_NAME_MAX bytes). A section is either inline
 * (small records: the config text, the position, a vocabulary; stored in
 * the header, which has one CRC) or a payload section (float arenas:
 * parameters, optimizer state; their bytes are concatenated in table
 * order into one zlib stream that the ranks deflate in parallel). io/
 * knows nothing of what a section means: the trainer names and lays them
 * out (docs/CHECKPOINT.md lists them).
 *
 * Written by rank 0 only, to "<path>.tmp.<pid>", flushed, fsynced, renamed
 * over <path>, then the directory is fsynced, so <path> is always either
 * the previous complete checkpoint or the new one. Versions 1 and 2
 * (fixed header fields, two arenas) are still read: io_ckpt_read presents
 * them as the sections a version-3 file of the same run would hold.
 */
#ifndef IO_CKPT_H
#define IO_CKPT_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t, uint32_t, uint64_t */
#include "nn/error.h"

#define IO_CKPT_MAGIC "AXONCKPT"   /* 8 bytes */
#define IO_CKPT_VERSION 3u /* reads 1, 2 and 3; writes 3 */
#define IO_CKPT_MAX_SECTIONS 64
#define IO_CKPT_NAME_MAX 63

typedef struct io_ckpt_section {
    char name[IO_CKPT_NAME_MAX + 1];
    void *data;   /* owned after io_ckpt_read; borrowed for writing */
    size_t len;   /* bytes; a multiple of 4 for a payload section */
    int payload;  /* 1: float32 values in the deflated payload */
    int used;     /* set by io_ckpt_find: io_ckpt_unused reports the rest */
} io_ckpt_section;

typedef struct io_ckpt {
    uint32_t version; /* of the file read; 0 for one being built */
    size_t n;
    io_ckpt_section sec[IO_CKPT_MAX_SECTIONS];
    int owned;        /* 1 after io_ckpt_read: io_ckpt_free frees data */
} io_ckpt;

/* Append a section (data borrowed until the write). Aborts through
 * NN_CHECK on a duplicate or over-long name, too many sections, or a
 * payload section whose length is not a multiple of 4: the trainer's
 * own sections, never user input. */
void io_ckpt_add(io_ckpt *c, const char *name, const void *data, size_t len,
                 int payload);

/* The section called `name` (marked used), or NULL. */
io_ckpt_section *io_ckpt_find(io_ckpt *c, const char *name);

/* The section `name`, which must exist and hold `len` bytes (len ==
 * SIZE_MAX: any length, returned in *got). NN_EXIT_DATA otherwise, with
 * "PATH: section 'name': missing" or "...: N bytes, expected M". */
int io_ckpt_need(io_ckpt *c, const char *path, const char *name, size_t len,
                 const void **data, size_t *got, nn_error *err);

/* NN_EXIT_DATA naming the first section no io_ckpt_find asked for (a
 * file from another kind of run, or a newer axon), else 0. */
int io_ckpt_unused(const io_ckpt *c, const char *path, nn_error *err);

/* Write atomically (see above). On failure the file under `path` is
 * untouched, the temporary is removed, and err names the path and
 * strerror (NN_EXIT_DATA). Same as io_ckpt_write_parts with one part
 * holding every segment. */
int io_ckpt_write(const char *path, const io_ckpt *c, nn_error *err);

/* The payload (the payload sections' floats as little-endian bytes, in
 * table order) is cut into segments of IO_CKPT_SEGMENT bytes (the last may
 * be shorter; an empty payload is one empty segment); in each, the bytes
 * are grouped by significance (all lowest bytes, ..., all highest), and
 * each is deflated from a fresh state and ended on a byte boundary.
 * Segments can therefore be compressed in parallel (by different ranks,
 * which hold identical arenas) and concatenated: behind one zlib header
 * and the combined Adler-32 they are a single ordinary zlib stream, and
 * the file is the same bytes however the segments were shared out. */
#define IO_CKPT_SEGMENT ((size_t)1 << 16)

/* Deflated segments [first, first + count) of a payload. */
typedef struct io_ckpt_part {
    uint8_t *data;    /* raw deflate data (owned) */
    size_t len;       /* its bytes */
    uint64_t raw_len; /* payload bytes it encodes */
    uint32_t crc;     /* CRC-32 of those bytes */
    uint32_t adler;   /* Adler-32 of those bytes */
} io_ckpt_part;

/* Bytes of c's payload (the payload sections together). */
size_t io_ckpt_payload_bytes(const io_ckpt *c);

/* Segments in c's payload (at least 1). */
size_t io_ckpt_segments(const io_ckpt *c);

/* Deflate segments [first, first + count) of c's payload into *part
 * (count may be 0: an empty part). Aborts through NN_CHECK on a range
 * outside the payload or when zlib runs out of memory. */
void io_ckpt_deflate(const io_ckpt *c, size_t first, size_t count,
                     io_ckpt_part *part);
void io_ckpt_part_free(io_ckpt_part *part);

/* io_ckpt_write with the payload already deflated: parts[0, n_parts) must
 * cover every segment of c, in order (checked: their raw bytes must add up
 * to the payload's). c's payload sections are not read. */
int io_ckpt_write_parts(const char *path, const io_ckpt *c,
                        const io_ckpt_part *parts, size_t n_parts,
                        nn_error *err);

/* Read and fully validate (magic, version, every length against the file
 * size, section names, CRC32 of the header and of the payload) before
 * returning anything. On failure nothing is allocated and err names the
 * file and the cause (NN_EXIT_DATA). */
int io_ckpt_read(const char *path, io_ckpt *c, nn_error *err);

/* Free what io_ckpt_read allocated (a built c: only forgets it). */
void io_ckpt_free(io_ckpt *c);

/* File size in bytes of the last successful write in this process, 0
 * before the first (for reporting ratio and throughput). */
size_t io_ckpt_last_bytes(void);

#endif

/* io/packed_int.h - the reader's state, shared by io/packed.c (the format,
 * row reads) and io/packed_fetch.c (the prefetch thread). Not for other
 * modules: they use io/packed.h. */
#ifndef IO_PACKED_INT_H
#define IO_PACKED_INT_H

#include <pthread.h>

#include "io/packed.h"

typedef struct pk_shard {
    char *path;
    int fd;
    uint64_t first, rows; /* global rows [first, first + rows) */
    uint32_t crc;         /* of the payload, as the index says */
} pk_shard;

typedef enum { SLOT_FREE, SLOT_QUEUED, SLOT_READING, SLOT_READY } slot_state;

/* One batch of the prefetch window. */
typedef struct pk_slot {
    slot_state state;
    size_t n;
    size_t *rows;  /* [cap] local rows */
    float *x, *y;  /* [cap, x_width], [cap, y_width] */
    int st;        /* the read's status, err its message */
    nn_error err;
} pk_slot;

typedef struct pk_fetch {
    pthread_t thread;
    int started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t window;       /* bytes the slots may take */
    size_t n_slots, cap; /* slots, rows per slot */
    pk_slot *slot;
    size_t head, count;  /* oldest queued slot; slots in use from it */
    unsigned char *stage;/* the thread's read buffer */
} pk_fetch;

struct io_packed {
    char *dir;
    io_packed_meta m;
    size_t n_shards;
    pk_shard *sh;
    size_t x_row, y_row; /* bytes per row of each block */
    size_t lo;           /* global id of local row 0 */
    unsigned char *ycache; /* targets of global rows [ycache_lo, ycache_hi)
                              as stored, or NULL (io_packed_keep_targets) */
    size_t ycache_lo, ycache_hi;
    io_packed_tf tf;
    pk_fetch f;
};

/* Bytes of the read buffer io_pk_read needs at least. */
size_t io_pk_stage_bytes(const io_packed *p);
/* io_packed_rows with the caller's buffer of io_pk_stage_bytes bytes. */
int io_pk_read(io_packed *p, unsigned char *stage, const size_t *local,
               size_t n, float *x, float *y, nn_error *err);
/* Stop and join the thread, free the window (io_packed_close). */
void io_pk_fetch_free(io_packed *p);

#endif

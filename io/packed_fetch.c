/* io/packed_fetch.c - the prefetch window of a packed dataset (see
 * io/packed.h): a ring of batch slots that one thread fills in the order
 * they were queued, while the training loop computes on earlier batches.
 *
 * The window's memory is its slots: each holds `cap` rows of converted
 * floats (x and y) and their row numbers; there are window / slot bytes of
 * them, at least 2 (one being read while one is consumed) and at most
 * FETCH_MAX_SLOTS. A slot moves FREE -> QUEUED (io_packed_prefetch) ->
 * READING (the thread, without the lock) -> READY -> FREE (io_packed_next,
 * which copies it out). The reads are those of io_packed_rows, so a
 * prefetched batch has the same bits as one read directly.
 */
#include <stdlib.h>
#include <string.h>

#include "io/packed_int.h"
#include "nn/check.h"

#define FETCH_MAX_SLOTS 256

static void *fetch_main(void *arg)
{
    io_packed *p = arg;
    pk_fetch *f = &p->f;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        pk_slot *s = NULL;
        for (size_t i = 0; i < f->count && !s; i++) {
            pk_slot *c = &f->slot[(f->head + i) % f->n_slots];
            if (c->state == SLOT_QUEUED) s = c;
        }
        if (!s) {
            pthread_cond_wait(&f->cv, &f->mu);
            continue;
        }
        s->state = SLOT_READING;
        pthread_mutex_unlock(&f->mu);
        int st = io_pk_read(p, f->stage, s->rows, s->n, s->x, s->y, &s->err);
        pthread_mutex_lock(&f->mu);
        s->st = st;
        s->state = SLOT_READY;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Wait until no slot is being read, then free every slot. Lock held. */
static void drop_locked(pk_fetch *f)
{
    for (;;) {
        int reading = 0;
        for (size_t i = 0; i < f->n_slots; i++)
            reading |= f->slot[i].state == SLOT_READING;
        if (!reading) break;
        pthread_cond_wait(&f->cv, &f->mu);
    }
    for (size_t i = 0; i < f->n_slots; i++) f->slot[i].state = SLOT_FREE;
    f->head = f->count = 0;
}

static void free_slots(pk_fetch *f)
{
    for (size_t i = 0; i < f->n_slots; i++) {
        free(f->slot[i].rows);
        free(f->slot[i].x);
        free(f->slot[i].y);
    }
    free(f->slot);
    f->slot = NULL;
    f->n_slots = f->cap = 0;
}

/* Slots of `cap` rows within the window. Lock held, no slot in use. */
static void make_slots(io_packed *p, size_t cap)
{
    pk_fetch *f = &p->f;
    size_t xw = p->m.x_width, yw = p->tf.y_is_x ? xw : p->m.y_width;
    size_t bytes = nn_mul_size(cap, (xw + yw) * sizeof(float) + sizeof(size_t));
    size_t n = f->window / bytes;
    n = n < 2 ? 2 : n > FETCH_MAX_SLOTS ? FETCH_MAX_SLOTS : n;
    free_slots(f);
    f->slot = nn_xcalloc(n, sizeof *f->slot);
    for (size_t i = 0; i < n; i++) {
        f->slot[i].rows = nn_xcalloc(cap, sizeof(size_t));
        f->slot[i].x = nn_xalloc_floats(nn_mul_size(cap, xw ? xw : 1));
        f->slot[i].y = nn_xalloc_floats(nn_mul_size(cap, yw ? yw : 1));
    }
    f->n_slots = n;
    f->cap = cap;
}

/* The thread running and slots of at least n rows. Lock not held. */
static void ensure(io_packed *p, size_t n)
{
    pk_fetch *f = &p->f;
    if (!f->started) {
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->cv, NULL);
        f->stage = nn_xmalloc(io_pk_stage_bytes(p));
        pthread_mutex_lock(&f->mu);
        make_slots(p, n ? n : 1);
        pthread_mutex_unlock(&f->mu);
        NN_CHECK(pthread_create(&f->thread, NULL, fetch_main, p) == 0,
                 "cannot start the prefetch thread");
        f->started = 1;
    }
    pthread_mutex_lock(&f->mu);
    if (n > f->cap) { /* a larger batch than any so far: new slots */
        drop_locked(f);
        make_slots(p, n);
    }
    pthread_mutex_unlock(&f->mu);
}

void io_packed_reserve(io_packed *p, size_t rows)
{
    ensure(p, rows);
}

int io_packed_prefetch(io_packed *p, const size_t *local, size_t n)
{
    pk_fetch *f = &p->f;
    ensure(p, n);
    pthread_mutex_lock(&f->mu);
    int full = f->count == f->n_slots;
    if (!full) {
        pk_slot *s = &f->slot[(f->head + f->count) % f->n_slots];
        memcpy(s->rows, local, n * sizeof *local);
        s->n = n;
        s->state = SLOT_QUEUED;
        f->count++;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return full;
}

int io_packed_next(io_packed *p, const size_t *local, size_t n, float *x,
                   float *y, nn_error *err)
{
    pk_fetch *f = &p->f;
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        pk_slot *s = f->count ? &f->slot[f->head] : NULL;
        if (s && s->n == n && !memcmp(s->rows, local, n * sizeof *local)) {
            while (s->state != SLOT_READY) pthread_cond_wait(&f->cv, &f->mu);
            size_t xw = p->m.x_width;
            size_t yw = p->tf.y_is_x ? xw : p->m.y_width;
            if (x) memcpy(x, s->x, n * xw * sizeof *x);
            if (y) memcpy(y, s->y, n * yw * sizeof *y);
            int st = s->st;
            if (st) *err = s->err;
            s->state = SLOT_FREE;
            f->head = (f->head + 1) % f->n_slots;
            f->count--;
            pthread_mutex_unlock(&f->mu);
            return st;
        }
        drop_locked(f); /* not what was queued: start over */
        pthread_mutex_unlock(&f->mu);
    }
    return io_packed_rows(p, local, n, x, y, err);
}

void io_packed_cancel(io_packed *p)
{
    pk_fetch *f = &p->f;
    if (!f->started) return;
    pthread_mutex_lock(&f->mu);
    drop_locked(f);
    pthread_mutex_unlock(&f->mu);
}

void io_pk_fetch_free(io_packed *p)
{
    pk_fetch *f = &p->f;
    if (!f->started) return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free_slots(f);
    free(f->stage);
    f->started = 0;
}

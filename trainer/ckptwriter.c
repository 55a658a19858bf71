/* trainer/ckptwriter.c - see ckptwriter.h.
 *
 * One mutex and one condition variable guard a single job slot: `busy` is
 * set by submit (main thread) and cleared by the helper when the write is
 * done; the helper sleeps while !busy and the main thread waits while
 * busy. The copy in `job` is only touched by the main thread while !busy
 * and only by the helper while busy, so the data itself needs no lock.
 */
#include "trainer/ckptwriter.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/check.h"

struct tr_ckptwriter {
    tr_ckpt_write_fn fn;
    void *arg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int busy;          /* a job is submitted and not finished */
    int quit;          /* the helper must exit */
    int status;        /* of the last finished job, not yet reported */
    nn_error err;      /* its message */
    double seconds;    /* how long it took */
    io_ckpt job;       /* the copy being written; pointers owned below */
    char *dir, *name;
    size_t cap_params, cap_state, cap_config, cap_extra, cap_dir, cap_name;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *helper(void *p)
{
    tr_ckptwriter *w = p;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->busy) break; /* quit with nothing to do */
        pthread_mutex_unlock(&w->mu);
        nn_error err = {0};
        double t = now();
        int st = w->fn(&w->job, w->dir, w->name, w->arg, &err);
        t = now() - t;
        pthread_mutex_lock(&w->mu);
        w->status = st;
        w->err = err;
        w->seconds = t;
        w->busy = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

tr_ckptwriter *tr_ckptwriter_create(tr_ckpt_write_fn fn, void *arg)
{
    tr_ckptwriter *w = nn_xcalloc(1, sizeof *w);
    w->fn = fn;
    w->arg = arg;
    if (pthread_mutex_init(&w->mu, NULL)) goto fail_mu;
    if (pthread_cond_init(&w->cv, NULL)) goto fail_cv;
    if (pthread_create(&w->thread, NULL, helper, w)) goto fail_thread;
    return w;
fail_thread:
    pthread_cond_destroy(&w->cv);
fail_cv:
    pthread_mutex_destroy(&w->mu);
fail_mu:
    free(w);
    return NULL;
}

/* Take the unreported status (and its message) out of w; mutex held. */
static int take_status(tr_ckptwriter *w, nn_error *err)
{
    int st = w->status;
    if (st && err) *err = w->err;
    w->status = 0;
    return st;
}

int tr_ckptwriter_wait(tr_ckptwriter *w, nn_error *err)
{
    pthread_mutex_lock(&w->mu);
    while (w->busy) pthread_cond_wait(&w->cv, &w->mu);
    int st = take_status(w, err);
    pthread_mutex_unlock(&w->mu);
    return st;
}

/* Copy `bytes` bytes of src into *dst, growing it (capacity *cap) if
 * needed; NULL src with 0 bytes leaves *dst as is. */
static void copy_into(void **dst, size_t *cap, const void *src, size_t bytes)
{
    if (bytes > *cap) {
        free(*dst);
        *dst = nn_xmalloc(bytes);
        *cap = bytes;
    }
    if (bytes) memcpy(*dst, src, bytes);
}

static char *copy_str(char **dst, size_t *cap, const char *s)
{
    copy_into((void **)dst, cap, s, strlen(s) + 1);
    return *dst;
}

int tr_ckptwriter_submit(tr_ckptwriter *w, const io_ckpt *c, const char *dir,
                         const char *name, nn_error *err)
{
    int st = tr_ckptwriter_wait(w, err); /* !busy from here on */
    io_ckpt *j = &w->job;
    float *params = j->params, *state = j->state;
    char *config = j->config, *extra = j->extra;
    *j = *c; /* scalars; the pointers are replaced by our copies below */
    copy_into((void **)&params, &w->cap_params, c->params,
              c->n_params * sizeof(float));
    copy_into((void **)&state, &w->cap_state, c->state,
              c->n_state * sizeof(float));
    copy_into((void **)&config, &w->cap_config, c->config, c->config_len);
    copy_into((void **)&extra, &w->cap_extra, c->extra, c->extra_len);
    j->params = params, j->state = state;
    j->config = config, j->extra = extra;
    copy_str(&w->dir, &w->cap_dir, dir);
    copy_str(&w->name, &w->cap_name, name);
    pthread_mutex_lock(&w->mu);
    w->busy = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return st;
}

double tr_ckptwriter_last_seconds(tr_ckptwriter *w)
{
    pthread_mutex_lock(&w->mu);
    double t = w->seconds;
    pthread_mutex_unlock(&w->mu);
    return t;
}

void tr_ckptwriter_destroy(tr_ckptwriter *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    while (w->busy) pthread_cond_wait(&w->cv, &w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->job.params);
    free(w->job.state);
    free(w->job.config);
    free(w->job.extra);
    free(w->dir);
    free(w->name);
    free(w);
}

/* comm/comm.c - the MPI layer (see comm.h). The only file that includes
 * mpi.h. Errors on MPI_COMM_WORLD are set to MPI_ERRORS_RETURN so every
 * call's status is checked rather than aborting inside the library. */
#include "comm/comm.h"

#include <limits.h>
#include <mpi.h>
#include <sched.h>     /* sched_yield */
#include <stdarg.h>
#include <stdatomic.h> /* the shared-memory barrier */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A node-shared arena: one MPI-3 shared-memory window, locked for the
 * whole run (passive target, MPI_MODE_NOCHECK), in which every rank owns a
 * segment of `count` floats and sees everyone's. */
typedef struct comm_shared {
    MPI_Win win;
    float *base;   /* this rank's segment */
    size_t count;
    float **peer;  /* [size]: every rank's segment; peer[rank] == base */
} comm_shared;

#define COMM_MAX_SHARED 8

struct comm_ctx {
    MPI_Comm world;
    MPI_Comm node;  /* the ranks sharing this node's memory */
    int rank, size;
    int local_rank, local_size;
    int nodes;
    char host[MPI_MAX_PROCESSOR_NAME];
    MPI_Request req[COMM_MAX_REQUESTS]; /* MPI_REQUEST_NULL: free slot */
    comm_shared shared[COMM_MAX_SHARED]; /* from comm_alloc_shared */
    size_t n_shared;
    comm_shared ctl; /* rank 0's segment: the shm_barrier (count 0: none) */
};

/* Largest element count handed to one MPI call (MPI counts are int). */
#define COMM_CHUNK ((size_t)1 << 30)

static int count_nodes(comm_ctx *c, MPI_Comm node)
{
    /* Every node leader contributes 1. */
    int leader = c->local_rank == 0, nodes = 0;
    (void)node;
    if (MPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, c->world) !=
        MPI_SUCCESS)
        return -1;
    return nodes;
}

comm_ctx *comm_init(int *argc, char ***argv)
{
    /* FUNNELED: helper threads exist (BLAS) but only the main thread
     * calls MPI. */
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS)
        return NULL;
    comm_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->world = MPI_COMM_WORLD;
    for (int i = 0; i < COMM_MAX_REQUESTS; i++) c->req[i] = MPI_REQUEST_NULL;
    MPI_Comm_set_errhandler(c->world, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->world, &c->rank);
    MPI_Comm_size(c->world, &c->size);
    int len = 0;
    MPI_Get_processor_name(c->host, &len);
    MPI_Comm node;
    if (MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, c->rank,
                            MPI_INFO_NULL, &node) != MPI_SUCCESS) {
        free(c);
        return NULL;
    }
    MPI_Comm_rank(node, &c->local_rank);
    MPI_Comm_size(node, &c->local_size);
    c->nodes = count_nodes(c, node);
    c->node = node;
    if (c->nodes < 1) {
        MPI_Comm_free(&c->node);
        free(c);
        return NULL;
    }
    return c;
}

static void free_shared(comm_shared *s)
{
    if (!s->count) return;
    MPI_Win_unlock_all(s->win);
    MPI_Win_free(&s->win);
    free(s->peer);
    *s = (comm_shared){0};
}

void comm_finalize(comm_ctx *c)
{
    for (size_t i = 0; i < c->n_shared; i++) free_shared(&c->shared[i]);
    free_shared(&c->ctl);
    MPI_Comm_free(&c->node);
    MPI_Finalize();
    free(c);
}

int comm_rank(const comm_ctx *c) { return c->rank; }
int comm_size(const comm_ctx *c) { return c->size; }
int comm_local_rank(const comm_ctx *c) { return c->local_rank; }
int comm_local_size(const comm_ctx *c) { return c->local_size; }
int comm_nodes(const comm_ctx *c) { return c->nodes; }
const char *comm_host(const comm_ctx *c) { return c->host; }

/* In-place allreduce of `count` elements of `type` (elem bytes each) in
 * chunks that fit MPI's int counts. */
static int allreduce(comm_ctx *c, void *buf, size_t count, size_t elem,
                     MPI_Datatype type, MPI_Op op)
{
    char *p = buf;
    while (count > 0) {
        size_t n = count < COMM_CHUNK ? count : COMM_CHUNK;
        if (MPI_Allreduce(MPI_IN_PLACE, p, (int)n, type, op, c->world) !=
            MPI_SUCCESS)
            return 1;
        p += n * elem;
        count -= n;
    }
    return 0;
}

/* ---- sums through node-shared memory ----
 * Memory ordering follows MPI-3's unified model for shared windows:
 * MPI_Win_sync, then a barrier of the node's ranks (shm_barrier below, or
 * MPI_Barrier where atomics are not lock-free), then MPI_Win_sync, so
 * every store before the barrier is visible to every load after it. */

/* Waits that spin this long, then yield the core at every check: a rank
 * sharing its core (other jobs, more ranks than cores) lets the rank it
 * waits for run instead of burning the time slice. */
#define SHM_SPINS 4000u

/* A barrier of the node's ranks on two counters in shared memory
 * (generation counting: the last to arrive resets `count` and bumps
 * `gen`; the others wait for `gen` to move). Sequentially consistent
 * atomics order every store before it with every load after it. */
typedef struct shm_barrier {
    atomic_uint count;
    atomic_uint gen;
} shm_barrier;

static void shm_barrier_wait(comm_ctx *c)
{
    shm_barrier *b = (shm_barrier *)c->ctl.peer[0];
    unsigned gen = atomic_load(&b->gen);
    if (atomic_fetch_add(&b->count, 1u) == (unsigned)c->size - 1u) {
        atomic_store(&b->count, 0u);
        atomic_fetch_add(&b->gen, 1u);
        return;
    }
    for (unsigned spins = 0; atomic_load(&b->gen) == gen; spins++)
        if (spins >= SHM_SPINS) sched_yield();
}

static int shm_sync(comm_ctx *c, MPI_Win win)
{
    if (MPI_Win_sync(win) != MPI_SUCCESS) return 1;
    if (c->ctl.count)
        shm_barrier_wait(c);
    else if (MPI_Barrier(c->node) != MPI_SUCCESS)
        return 1;
    return MPI_Win_sync(win) != MPI_SUCCESS;
}

/* Allocate s: `count` floats per rank, zeroed. Collective over the node
 * (= the job). 0, or non-zero on any rank's failure (then s is empty). */
static int shared_create(comm_ctx *c, comm_shared *s, size_t count)
{
    MPI_Info info;
    MPI_Info_create(&info);
    /* each rank's segment on its own pages (first touch, no sharing) */
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    float *base = NULL;
    int st = MPI_Win_allocate_shared((MPI_Aint)(count * sizeof(float)),
                                     sizeof(float), info, c->node, &base,
                                     &s->win) != MPI_SUCCESS;
    MPI_Info_free(&info);
    if (comm_agree(c, st, NULL)) {
        if (!st) MPI_Win_free(&s->win);
        return 1;
    }
    s->peer = calloc((size_t)c->size, sizeof *s->peer);
    for (int j = 0; j < c->size && s->peer; j++) {
        MPI_Aint bytes;
        int disp;
        if (MPI_Win_shared_query(s->win, j, &bytes, &disp, &s->peer[j]) !=
            MPI_SUCCESS)
            st = 1;
    }
    int locked = !st && s->peer &&
                 MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win) == MPI_SUCCESS;
    st |= !locked;
    if (comm_agree(c, st, NULL)) { /* never partly usable */
        if (locked) MPI_Win_unlock_all(s->win);
        free(s->peer);
        MPI_Win_free(&s->win);
        return 1;
    }
    /* zeroed everywhere before anyone uses it (this may be the barrier) */
    memset(base, 0, count * sizeof(float));
    st = MPI_Win_sync(s->win) != MPI_SUCCESS ||
         MPI_Barrier(c->node) != MPI_SUCCESS ||
         MPI_Win_sync(s->win) != MPI_SUCCESS;
    s->base = base;
    s->count = count;
    return st;
}

float *comm_alloc_shared(comm_ctx *c, size_t count)
{
    if (c->size == 1 || c->nodes != 1 || count == 0 ||
        c->n_shared == COMM_MAX_SHARED)
        return NULL;
    /* The barrier's counters, with the first arena (zeroed: a fresh
     * barrier). Without lock-free atomics, MPI_Barrier stays in use. */
    shm_barrier probe;
    if (!c->ctl.count && atomic_is_lock_free(&probe.gen) &&
        shared_create(c, &c->ctl, 16))
        return NULL;
    comm_shared *s = &c->shared[c->n_shared];
    if (shared_create(c, s, count)) return NULL;
    c->n_shared++;
    return s->base;
}

/* The shared arena holding buf[0, count), or NULL. */
static const comm_shared *find_shared(const comm_ctx *c, const float *buf,
                                      size_t count)
{
    for (size_t i = 0; i < c->n_shared; i++) {
        const comm_shared *s = &c->shared[i];
        if (buf >= s->base && buf < s->base + s->count &&
            count <= (size_t)(s->base + s->count - buf))
            return s;
    }
    return NULL;
}

int comm_is_shared(const comm_ctx *c, const float *buf, size_t count)
{
    return find_shared(c, buf, count) != NULL;
}

/* dst[0, n) = src[0, n) and dst[0, n) += src[0, n) (in blocks of 8, which
 * gcc vectorises at -O2). */
static void copy_floats(float *restrict dst, const float *restrict src, size_t n)
{
    memcpy(dst, src, n * sizeof *dst);
}

static void add_floats(float *restrict dst, const float *restrict src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t j = 0; j < 8; j++) dst[i + j] += src[i + j];
    for (; i < n; i++) dst[i] += src[i];
}

#define SHM_BLOCK 1024 /* floats summed per pass: 4 KiB, stays in L1 */

/* For i in [lo, hi): s = src[0][i] + src[1][i] + ... (rank order, so
 * every rank would get the same bits), stored into dst[k][i] for each of
 * the nd destinations. */
static void reduce_range(float *const *src, int p, float *const *dst, int nd,
                         size_t lo, size_t hi)
{
    float tmp[SHM_BLOCK];
    for (size_t b = lo; b < hi; b += SHM_BLOCK) {
        size_t len = hi - b < SHM_BLOCK ? hi - b : SHM_BLOCK;
        copy_floats(tmp, src[0] + b, len);
        for (int j = 1; j < p; j++) add_floats(tmp, src[j] + b, len);
        for (int k = 0; k < nd; k++) copy_floats(dst[k] + b, tmp, len);
    }
}

/* This rank's part [lo, hi) of a sum of n floats: slices of n/p, cut at
 * multiples of 16 floats from the start (64 bytes: ranks write the same
 * cache line at most where the range itself is not line-aligned). */
static void my_slice(const comm_ctx *c, int r, size_t n, size_t *lo, size_t *hi)
{
    size_t p = (size_t)c->size;
    *lo = r == 0 ? 0 : (n * (size_t)r / p) & ~(size_t)15;
    *hi = r == c->size - 1 ? n : (n * (size_t)(r + 1) / p) & ~(size_t)15;
    if (*hi < *lo) *hi = *lo;
}

/* In place on a shared arena at float offset `off`: after the first sync
 * every rank's gradients are in; rank r sums slice r over all ranks and
 * writes it into every rank's arena; after the second, all hold the sum.
 * Each rank reads n and writes n floats: no copies, no messages. */
static int shm_sum_inplace(comm_ctx *c, const comm_shared *s, size_t off,
                           size_t n)
{
    float *at[c->size];
    for (int j = 0; j < c->size; j++) at[j] = s->peer[j] + off;
    size_t lo, hi;
    my_slice(c, c->rank, n, &lo, &hi);
    if (shm_sync(c, s->win)) return 1;
    reduce_range(at, c->size, at, c->size, lo, hi);
    return shm_sync(c, s->win);
}

int comm_allreduce_sum(comm_ctx *c, float *buf, size_t count)
{
    if (c->size == 1 || count == 0) return 0;
    const comm_shared *s = find_shared(c, buf, count);
    if (s) return shm_sum_inplace(c, s, (size_t)(buf - s->base), count);
    return allreduce(c, buf, count, sizeof *buf, MPI_FLOAT, MPI_SUM);
}

int comm_allreduce_sum_d(comm_ctx *c, double *buf, size_t count)
{
    if (c->size == 1) return 0;
    return allreduce(c, buf, count, sizeof *buf, MPI_DOUBLE, MPI_SUM);
}

int comm_allreduce_max_i64(comm_ctx *c, int64_t *buf, size_t count)
{
    if (c->size == 1) return 0;
    return allreduce(c, buf, count, sizeof *buf, MPI_INT64_T, MPI_MAX);
}

int comm_iallreduce_sum(comm_ctx *c, float *buf, size_t count, int *req)
{
    *req = -1;
    if (c->size == 1) return 0;
    if (count > COMM_CHUNK) return 1;
    int slot = 0;
    while (slot < COMM_MAX_REQUESTS && c->req[slot] != MPI_REQUEST_NULL) slot++;
    if (slot == COMM_MAX_REQUESTS) return 1;
    if (MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM,
                       c->world, &c->req[slot]) != MPI_SUCCESS)
        return 1;
    *req = slot;
    return 0;
}

int comm_test(comm_ctx *c, int req, int *done)
{
    *done = 1;
    if (req < 0) return 0;
    if (req >= COMM_MAX_REQUESTS) return 1;
    int flag = 0;
    /* MPI_Test frees the request and sets it to MPI_REQUEST_NULL. */
    if (MPI_Test(&c->req[req], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return 1;
    *done = flag;
    return 0;
}

int comm_wait(comm_ctx *c, int req)
{
    if (req < 0) return 0;
    if (req >= COMM_MAX_REQUESTS) return 1;
    return MPI_Wait(&c->req[req], MPI_STATUS_IGNORE) != MPI_SUCCESS;
}

int comm_bcast_bytes(comm_ctx *c, void *buf, size_t bytes, int root)
{
    if (c->size == 1) return 0;
    char *p = buf;
    while (bytes > 0) {
        size_t n = bytes < COMM_CHUNK ? bytes : COMM_CHUNK;
        if (MPI_Bcast(p, (int)n, MPI_BYTE, root, c->world) != MPI_SUCCESS)
            return 1;
        p += n;
        bytes -= n;
    }
    return 0;
}

int comm_gather_bytes(comm_ctx *c, const void *send, size_t bytes, void *recv,
                      int root)
{
    if (c->size == 1) {
        if (bytes) memmove(recv, send, bytes);
        return 0;
    }
    if (bytes > INT_MAX) return 1;
    return MPI_Gather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE,
                      root, c->world) != MPI_SUCCESS;
}

int comm_gatherv_bytes(comm_ctx *c, const void *send, size_t bytes,
                       void *recv, const size_t *counts, int root)
{
    if (c->size == 1) {
        if (bytes) memmove(recv, send, bytes);
        return 0;
    }
    if (bytes > INT_MAX) return 1;
    int *n = NULL, *displ = NULL;
    if (c->rank == root) {
        n = malloc(2 * (size_t)c->size * sizeof *n);
        if (!n) return 1;
        displ = n + c->size;
        size_t total = 0;
        for (int r = 0; r < c->size; r++) {
            if (counts[r] > INT_MAX - total) {
                free(n);
                return 1;
            }
            n[r] = (int)counts[r];
            displ[r] = (int)total;
            total += counts[r];
        }
    }
    int rc = MPI_Gatherv(send, (int)bytes, MPI_BYTE, recv, n, displ, MPI_BYTE,
                         root, c->world) != MPI_SUCCESS;
    free(n);
    return rc;
}

int comm_barrier(comm_ctx *c)
{
    return MPI_Barrier(c->world) != MPI_SUCCESS;
}

int comm_agree(comm_ctx *c, int status, int *first_bad)
{
    /* One allreduce carries both answers: the worst status (MAX) and the
     * lowest failing rank (MAX of -rank). */
    int64_t v[2] = {status, status ? -(int64_t)c->rank : -(int64_t)INT_MAX};
    if (comm_allreduce_max_i64(c, v, 2) != 0) {
        if (first_bad) *first_bad = -1;
        return 1;
    }
    if (first_bad) *first_bad = v[0] ? (int)-v[1] : -1;
    return (int)v[0];
}

void comm_abort(comm_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "[rank %d] ", c ? c->rank : 0);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    MPI_Abort(c ? c->world : MPI_COMM_WORLD, code ? code : 1);
    exit(code ? code : 1); /* not reached */
}

double comm_wtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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
#include <unistd.h>    /* getpid */

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
    /* stalled ranks (see comm.h) */
    double timeout;       /* seconds, 0 = none */
    uint64_t step;        /* comm_set_step */
    uint64_t seq;         /* collectives this rank has entered */
    int debug;            /* AXON_DEBUG_COLLECTIVES: fingerprints */
    const char *req_site[COMM_MAX_REQUESTS];
    comm_shared board;    /* per local rank: BOARD_WORDS words (count 0: none) */
};

/* The arrival board: each rank of a node publishes, in node-shared memory,
 * how many collectives (and shared-memory barriers) it has entered, which
 * one, at which step, its world rank, and a heartbeat (microseconds of the
 * monotonic clock, renewed at every poll while it waits); a rank that
 * times out reads its neighbours' entries (plain loads: a stopped rank
 * cannot block them) to name those behind it, and those that arrived but
 * show no sign of life (stopped inside the collective). */
enum { B_SEQ, B_OP, B_STEP, B_RANK, B_BEAT, BOARD_WORDS };

/* A heartbeat older than this marks a rank as stalled inside a collective
 * (a waiting rank renews it at least every COMM_NAP_MAX_US). */
#define STALE_BEAT_S 1.0

typedef enum {
    OP_ALLREDUCE, OP_IALLREDUCE, OP_BCAST, OP_GATHER, OP_GATHERV, OP_BARRIER,
    OP_SHM_SUM, OP_FINGERPRINT
} comm_op;
static const char *const op_names[] = {
    "allreduce", "iallreduce", "bcast", "gather", "gatherv", "barrier",
    "shared-memory sum", "fingerprint exchange"};

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

/* ---- waiting: backoff, timeout, arrival board, fingerprints ---------- */

/* The board's words of local rank j. */
static volatile uint64_t *board_at(const comm_ctx *c, int j)
{
    return (volatile uint64_t *)c->board.peer[j];
}

/* Collective over the node at start-up; without it (any failure) the
 * timeout message cannot name the ranks behind. */
static void board_create(comm_ctx *c)
{
    comm_shared *b = &c->board;
    float *base = NULL;
    MPI_Aint bytes = BOARD_WORDS * sizeof(uint64_t);
    if (MPI_Win_allocate_shared(bytes, sizeof(uint64_t), MPI_INFO_NULL,
                                c->node, &base, &b->win) != MPI_SUCCESS)
        return;
    b->peer = calloc((size_t)c->local_size, sizeof *b->peer);
    int ok = b->peer != NULL;
    for (int j = 0; ok && j < c->local_size; j++) {
        MPI_Aint sz;
        int disp;
        ok = MPI_Win_shared_query(b->win, j, &sz, &disp, &b->peer[j]) ==
             MPI_SUCCESS;
    }
    ok = ok && MPI_Win_lock_all(MPI_MODE_NOCHECK, b->win) == MPI_SUCCESS;
    if (!ok) {
        free(b->peer);
        MPI_Win_free(&b->win);
        *b = (comm_shared){0};
        return;
    }
    volatile uint64_t *me = (volatile uint64_t *)base;
    me[B_SEQ] = 0;
    me[B_OP] = 0;
    me[B_STEP] = 0;
    me[B_RANK] = (uint64_t)c->rank;
    me[B_BEAT] = (uint64_t)(comm_wtime() * 1e6);
    b->base = base;
    b->count = BOARD_WORDS; /* marks it present; freed by free_shared */
}

void comm_set_timeout(comm_ctx *c, double seconds)
{
    c->timeout = seconds > 0 ? seconds : 0;
}

void comm_set_step(comm_ctx *c, uint64_t step) { c->step = step; }

/* "1, 3" (world ranks of this node behind this one) into buf. */
static void ranks_behind(const comm_ctx *c, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (!c->board.count) {
        snprintf(buf, cap, "not known (no shared board)");
        return;
    }
    double now = comm_wtime();
    for (int j = 0; j < c->local_size && n + 96 < cap; j++) {
        volatile uint64_t *e = board_at(c, j);
        double quiet = now - (double)e[B_BEAT] * 1e-6;
        if (j == c->local_rank) continue;
        if (e[B_SEQ] < c->seq)
            n += (size_t)snprintf(buf + n, cap - n, "%s%llu (in collective "
                                  "%llu, step %llu)", n ? ", " : "",
                                  (unsigned long long)e[B_RANK],
                                  (unsigned long long)e[B_SEQ],
                                  (unsigned long long)e[B_STEP]);
        else if (e[B_SEQ] == c->seq && quiet > STALE_BEAT_S)
            n += (size_t)snprintf(buf + n, cap - n, "%s%llu (arrived, then "
                                  "stopped: no sign of life for %.0f s)",
                                  n ? ", " : "", (unsigned long long)e[B_RANK],
                                  quiet);
    }
    if (c->nodes > 1)
        snprintf(buf + n, cap - n, "%son other nodes: not known",
                 n ? "; " : "");
    else if (n == 0)
        snprintf(buf, cap, "none on this node (all arrived: the collective "
                           "itself is stuck)");
}

/* Time since the wait began, the current backoff interval, whether the
 * half-time warning was printed. */
typedef struct waiter {
    double t0;
    long nap_ns;
    int warned;
    comm_op op;
    const char *site;
} waiter;

static waiter wait_begin(comm_op op, const char *site)
{
    return (waiter){comm_wtime(), 50000, 0, op, site};
}

static void describe(const comm_ctx *c, const waiter *w, double waited,
                     const char *what)
{
    char behind[1024];
    ranks_behind(c, behind, sizeof behind);
    fprintf(stderr, "axon: %s[rank %d] waited %.0f s in %s (collective %llu, "
                    "%s) at step %llu; ranks not arrived: %s\n",
            what, c->rank, waited, op_names[w->op],
            (unsigned long long)c->seq, w->site,
            (unsigned long long)c->step, behind);
}

/* After a check that found the collective unfinished: warn at half the
 * timeout, end the job at the timeout, else pause (spin, yield, sleep). */
static void wait_pause(comm_ctx *c, waiter *w)
{
    double now = comm_wtime(), waited = now - w->t0;
    if (c->board.count)
        ((volatile uint64_t *)c->board.base)[B_BEAT] = (uint64_t)(now * 1e6);
    if (c->timeout > 0 && !w->warned && waited >= c->timeout / 2) {
        w->warned = 1;
        describe(c, w, waited, "warning: ");
        fprintf(stderr, "axon: [rank %d] the job ends if the wait reaches "
                        "%g s (training.collective_timeout)\n",
                c->rank, c->timeout);
        fflush(stderr);
    }
    if (c->timeout > 0 && waited >= c->timeout) {
        describe(c, w, waited, "error: collective timeout: ");
        fprintf(stderr, "axon: [rank %d] a rank stalled or died; ending the "
                        "job (exit %d). Raise training.collective_timeout "
                        "(0 = off) if a step legitimately takes longer\n",
                c->rank, COMM_EXIT_TIMEOUT);
        fflush(stderr);
        MPI_Abort(c->world, COMM_EXIT_TIMEOUT);
        _exit(COMM_EXIT_TIMEOUT); /* not reached */
    }
    if (waited < COMM_SPIN_US * 1e-6) return;
    if (waited < COMM_YIELD_US * 1e-6) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, w->nap_ns};
    nanosleep(&ts, NULL);
    if (w->nap_ns < COMM_NAP_MAX_US * 1000L) w->nap_ns *= 2;
    if (w->nap_ns > COMM_NAP_MAX_US * 1000L) w->nap_ns = COMM_NAP_MAX_US * 1000L;
}

/* Wait for *r by polling (see comm.h); 0 or 1 on an MPI error. */
static int wait_req(comm_ctx *c, MPI_Request *r, comm_op op, const char *site)
{
    int flag = 0;
    if (MPI_Test(r, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) return 1;
    if (flag) return 0;
    waiter w = wait_begin(op, site);
    for (;;) {
        wait_pause(c, &w);
        if (MPI_Test(r, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) return 1;
        if (flag) return 0;
    }
}

/* A fingerprint: what a rank is about to do. Fixed size, so all ranks'
 * fit one allgather. */
typedef struct fingerprint {
    uint64_t op, count, seq;
    char site[104];
} fingerprint;

static void fp_str(const fingerprint *f, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s of %llu elements at %.*s (collective %llu)",
             f->op < sizeof op_names / sizeof *op_names ? op_names[f->op]
                                                        : "?",
             (unsigned long long)f->count, (int)sizeof f->site, f->site,
             (unsigned long long)f->seq);
}

/* AXON_DEBUG_COLLECTIVES: agree on (op, count, site) before the real
 * collective. A mismatch ends the job naming both sides. */
static void fingerprint_check(comm_ctx *c, comm_op op, size_t count,
                              const char *site)
{
    fingerprint mine;
    memset(&mine, 0, sizeof mine);
    mine.op = (uint64_t)op;
    mine.count = (uint64_t)count;
    mine.seq = c->seq;
    snprintf(mine.site, sizeof mine.site, "%s", site);
    fingerprint *all = calloc((size_t)c->size, sizeof *all);
    MPI_Request r;
    if (!all || MPI_Iallgather(&mine, (int)sizeof mine, MPI_BYTE, all,
                               (int)sizeof mine, MPI_BYTE, c->world,
                               &r) != MPI_SUCCESS ||
        wait_req(c, &r, OP_FINGERPRINT, site)) {
        free(all);
        comm_abort(c, 1, "fingerprint exchange failed at %s", site);
    }
    for (int j = 1; j < c->size; j++) {
        /* the site differs by call, op and count by data; all must match */
        if (all[j].op == all[0].op && all[j].count == all[0].count &&
            !strncmp(all[j].site, all[0].site, sizeof all[0].site))
            continue;
        char a[192], b[192];
        fp_str(&all[0], a, sizeof a);
        fp_str(&all[j], b, sizeof b);
        free(all);
        if (c->rank == 0 || c->rank == j)
            comm_abort(c, 1, "collective mismatch (AXON_DEBUG_COLLECTIVES): "
                             "rank 0 calls %s; rank %d calls %s", a, j, b);
        MPI_Abort(c->world, 1);
    }
    free(all);
}

/* This rank has arrived at a collective or a shared-memory barrier. */
static void arrive(comm_ctx *c, comm_op op)
{
    c->seq++;
    if (c->board.count) {
        volatile uint64_t *me = (volatile uint64_t *)c->board.base;
        me[B_OP] = (uint64_t)op;
        me[B_STEP] = c->step;
        me[B_BEAT] = (uint64_t)(comm_wtime() * 1e6);
        me[B_SEQ] = c->seq;
    }
}

/* Every collective starts here: count it, publish it on the board, and
 * (debug) check that every rank is in the same one. */
static void enter(comm_ctx *c, comm_op op, size_t count, const char *site)
{
    arrive(c, op);
    if (c->debug) fingerprint_check(c, op, count, site);
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
    c->timeout = COMM_DEFAULT_TIMEOUT;
    const char *dbg = getenv("AXON_DEBUG_COLLECTIVES");
    c->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
    board_create(c);
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
    free_shared(&c->board);
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
                     MPI_Datatype type, MPI_Op op, const char *site)
{
    char *p = buf;
    enter(c, OP_ALLREDUCE, count, site);
    while (count > 0) {
        size_t n = count < COMM_CHUNK ? count : COMM_CHUNK;
        MPI_Request r;
        if (MPI_Iallreduce(MPI_IN_PLACE, p, (int)n, type, op, c->world,
                           &r) != MPI_SUCCESS ||
            wait_req(c, &r, OP_ALLREDUCE, site))
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

/* A barrier of the node's ranks on two counters in shared memory
 * (generation counting: the last to arrive resets `count` and bumps
 * `gen`; the others wait for `gen` to move). Sequentially consistent
 * atomics order every store before it with every load after it. */
typedef struct shm_barrier {
    atomic_uint count;
    atomic_uint gen;
} shm_barrier;

static void shm_barrier_wait(comm_ctx *c, const char *site)
{
    shm_barrier *b = (shm_barrier *)c->ctl.peer[0];
    unsigned gen = atomic_load(&b->gen);
    if (atomic_fetch_add(&b->count, 1u) == (unsigned)c->size - 1u) {
        atomic_store(&b->count, 0u);
        atomic_fetch_add(&b->gen, 1u);
        return;
    }
    if (atomic_load(&b->gen) != gen) return;
    waiter w = wait_begin(OP_SHM_SUM, site);
    while (atomic_load(&b->gen) == gen) wait_pause(c, &w);
}

static int shm_sync(comm_ctx *c, MPI_Win win, const char *site)
{
    if (MPI_Win_sync(win) != MPI_SUCCESS) return 1;
    arrive(c, OP_SHM_SUM); /* each barrier of a sum is a meeting point */
    if (c->ctl.count) {
        shm_barrier_wait(c, site);
    } else {
        MPI_Request r;
        if (MPI_Ibarrier(c->node, &r) != MPI_SUCCESS ||
            wait_req(c, &r, OP_SHM_SUM, site))
            return 1;
    }
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

/* The same in the fixed binary tree over the ranks (p a power of two):
 * s = ((src[0] + src[1]) + (src[2] + src[3])) + ..., a binary counter
 * over a stack of partial sums (a new odd source is added straight onto
 * its sibling). The sum's bits do not depend on how ranks group. */
#define SHM_TREE_LEVELS 17
static void tree_range(float *const *src, int p, float *const *dst, int nd,
                       size_t lo, size_t hi)
{
    static float tmp[SHM_TREE_LEVELS][SHM_BLOCK]; /* the main thread only */
    unsigned level[SHM_TREE_LEVELS];
    for (size_t b = lo; b < hi; b += SHM_BLOCK) {
        size_t len = hi - b < SHM_BLOCK ? hi - b : SHM_BLOCK, depth = 0;
        for (int j = 0; j < p; j++) {
            if (depth && level[depth - 1] == 0) {
                add_floats(tmp[depth - 1], src[j] + b, len);
                level[depth - 1] = 1;
            } else {
                copy_floats(tmp[depth], src[j] + b, len);
                level[depth++] = 0;
            }
            while (depth >= 2 && level[depth - 1] == level[depth - 2]) {
                add_floats(tmp[depth - 2], tmp[depth - 1], len);
                level[depth - 2]++;
                depth--;
            }
        }
        for (int k = 0; k < nd; k++) copy_floats(dst[k] + b, tmp[0], len);
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
                           size_t n, int tree, const char *site)
{
    float *at[c->size];
    for (int j = 0; j < c->size; j++) at[j] = s->peer[j] + off;
    size_t lo, hi;
    my_slice(c, c->rank, n, &lo, &hi);
    enter(c, OP_SHM_SUM, n, site);
    if (shm_sync(c, s->win, site)) return 1;
    if (tree) tree_range(at, c->size, at, c->size, lo, hi);
    else reduce_range(at, c->size, at, c->size, lo, hi);
    return shm_sync(c, s->win, site);
}

int comm_allreduce_sum_at(comm_ctx *c, float *buf, size_t count,
                          const char *site)
{
    if (c->size == 1 || count == 0) return 0;
    const comm_shared *s = find_shared(c, buf, count);
    if (s) return shm_sum_inplace(c, s, (size_t)(buf - s->base), count, 0, site);
    return allreduce(c, buf, count, sizeof *buf, MPI_FLOAT, MPI_SUM, site);
}

int comm_tree_sum_at(comm_ctx *c, float *buf, size_t count, const char *site)
{
    if (c->size == 1 || count == 0) return 0;
    const comm_shared *s = find_shared(c, buf, count);
    if (!s || (c->size & (c->size - 1)) || c->size >= 1 << (SHM_TREE_LEVELS - 1))
        return 1;
    return shm_sum_inplace(c, s, (size_t)(buf - s->base), count, 1, site);
}

int comm_allreduce_sum_d_at(comm_ctx *c, double *buf, size_t count,
                            const char *site)
{
    if (c->size == 1) return 0;
    return allreduce(c, buf, count, sizeof *buf, MPI_DOUBLE, MPI_SUM, site);
}

int comm_allreduce_max_i64_at(comm_ctx *c, int64_t *buf, size_t count,
                              const char *site)
{
    if (c->size == 1) return 0;
    return allreduce(c, buf, count, sizeof *buf, MPI_INT64_T, MPI_MAX, site);
}

int comm_iallreduce_sum_at(comm_ctx *c, float *buf, size_t count, int *req,
                           const char *site)
{
    *req = -1;
    if (c->size == 1) return 0;
    if (count > COMM_CHUNK) return 1;
    int slot = 0;
    while (slot < COMM_MAX_REQUESTS && c->req[slot] != MPI_REQUEST_NULL) slot++;
    if (slot == COMM_MAX_REQUESTS) return 1;
    enter(c, OP_IALLREDUCE, count, site);
    if (MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM,
                       c->world, &c->req[slot]) != MPI_SUCCESS)
        return 1;
    c->req_site[slot] = site;
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
    return wait_req(c, &c->req[req], OP_IALLREDUCE, c->req_site[req]);
}

int comm_bcast_bytes_at(comm_ctx *c, void *buf, size_t bytes, int root,
                        const char *site)
{
    if (c->size == 1) return 0;
    char *p = buf;
    enter(c, OP_BCAST, bytes, site);
    while (bytes > 0) {
        size_t n = bytes < COMM_CHUNK ? bytes : COMM_CHUNK;
        MPI_Request r;
        if (MPI_Ibcast(p, (int)n, MPI_BYTE, root, c->world, &r) !=
                MPI_SUCCESS ||
            wait_req(c, &r, OP_BCAST, site))
            return 1;
        p += n;
        bytes -= n;
    }
    return 0;
}

int comm_gather_bytes_at(comm_ctx *c, const void *send, size_t bytes,
                         void *recv, int root, const char *site)
{
    if (c->size == 1) {
        if (bytes) memmove(recv, send, bytes);
        return 0;
    }
    if (bytes > INT_MAX) return 1;
    enter(c, OP_GATHER, bytes, site);
    MPI_Request r;
    return MPI_Igather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE,
                       root, c->world, &r) != MPI_SUCCESS ||
           wait_req(c, &r, OP_GATHER, site);
}

int comm_gatherv_bytes_at(comm_ctx *c, const void *send, size_t bytes,
                          void *recv, const size_t *counts, int root,
                          const char *site)
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
    /* the fingerprint is the root's total or this rank's share: the
     * count that must agree is only the number of ranks */
    enter(c, OP_GATHERV, (size_t)c->size, site);
    MPI_Request r;
    int rc = MPI_Igatherv(send, (int)bytes, MPI_BYTE, recv, n, displ,
                          MPI_BYTE, root, c->world, &r) != MPI_SUCCESS ||
             wait_req(c, &r, OP_GATHERV, site);
    free(n);
    return rc;
}

int comm_barrier_at(comm_ctx *c, const char *site)
{
    if (c->size == 1) return 0;
    enter(c, OP_BARRIER, 0, site);
    MPI_Request r;
    return MPI_Ibarrier(c->world, &r) != MPI_SUCCESS ||
           wait_req(c, &r, OP_BARRIER, site);
}

int comm_agree_at(comm_ctx *c, int status, int *first_bad, const char *site)
{
    /* One allreduce carries both answers: the worst status (MAX) and the
     * lowest failing rank (MAX of -rank). */
    int64_t v[2] = {status, status ? -(int64_t)c->rank : -(int64_t)INT_MAX};
    if (comm_allreduce_max_i64_at(c, v, 2, site) != 0) {
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

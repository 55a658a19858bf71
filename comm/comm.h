/* comm/comm.h - everything MPI, behind plain C types.
 *
 * No other module includes mpi.h. The context is opaque; counts are
 * element counts (floats/doubles), never bytes unless the name says bytes.
 * MPI errors are made returnable (MPI_ERRORS_RETURN): every call returns 0
 * or a non-zero status.
 *
 * Stalled ranks. Every collective waits by polling a nonblocking MPI
 * request (or, for sums in node-shared memory, a shared counter): it spins
 * for the first COMM_SPIN_US microseconds (the fast path: a collective
 * whose ranks arrive together costs what the blocking call did), then
 * yields the core until COMM_YIELD_US, then sleeps in intervals growing to
 * COMM_NAP_MAX_US, so a rank waiting for a stalled one uses almost no CPU.
 * A wait longer than the timeout (comm_set_timeout) ends the job: each
 * waiting rank prints which collective (its name and call site), the step
 * (comm_set_step) and which ranks of its node have not arrived, then
 * MPI_Abort(COMM_EXIT_TIMEOUT). At half the timeout a warning says the
 * same. Ranks on other nodes cannot be inspected without their help: they
 * are named only as "on other nodes".
 *
 * Debugging: with AXON_DEBUG_COLLECTIVES=1 in the environment, every
 * collective first exchanges a fingerprint (operation, element count,
 * call site) with all ranks; the first rank whose fingerprint differs from
 * rank 0's is reported with both fingerprints, and the job ends (exit 1),
 * instead of deadlocking or silently mixing two collectives.
 *
 * Each collective is a macro over a *_at function that takes its call
 * site "file:line" (COMM_SITE), for those messages.
 */
#ifndef COMM_COMM_H
#define COMM_COMM_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

typedef struct comm_ctx comm_ctx;

#define COMM_STR2(x) #x
#define COMM_STR(x) COMM_STR2(x)
#define COMM_SITE __FILE__ ":" COMM_STR(__LINE__)

/* Exit code of a job ended by a collective timeout (a stalled rank). */
#define COMM_EXIT_TIMEOUT 5
/* Default timeout in seconds (training.collective_timeout overrides it). */
#define COMM_DEFAULT_TIMEOUT 300.0
#define COMM_SPIN_US 200
#define COMM_YIELD_US 2000
#define COMM_NAP_MAX_US 1000

/* Seconds a collective may wait for the other ranks before the job ends
 * (see above); 0 = wait forever. Local to this rank: every rank should
 * set the same value. */
void comm_set_timeout(comm_ctx *c, double seconds);
/* The training step this rank is in, for timeout messages (0: before
 * training). */
void comm_set_step(comm_ctx *c, uint64_t step);

/* MPI_Init; rank/size/node layout. Returns NULL on failure. */
comm_ctx *comm_init(int *argc, char ***argv);
/* MPI_Finalize and free. */
void comm_finalize(comm_ctx *c);

int comm_rank(const comm_ctx *c);
int comm_size(const comm_ctx *c);
int comm_local_rank(const comm_ctx *c);  /* rank among ranks on this node */
int comm_local_size(const comm_ctx *c);  /* ranks on this node */
int comm_nodes(const comm_ctx *c);       /* distinct nodes in the job */
const char *comm_host(const comm_ctx *c);

/* In-place sum across ranks (any count; split into INT_MAX chunks).
 * When buf lies in an arena from comm_alloc_shared, the sum goes through
 * the shared memory, with no message and no copy: every rank sums 1/p of
 * the range over all ranks' arenas, in rank order, and writes the result
 * into all of them. Every rank must then pass the same offset into its
 * arena (or none a shared one). */
int comm_allreduce_sum_at(comm_ctx *c, float *buf, size_t count,
                          const char *site);
#define comm_allreduce_sum(c, buf, count) \
    comm_allreduce_sum_at(c, buf, count, COMM_SITE)
int comm_allreduce_sum_d_at(comm_ctx *c, double *buf, size_t count,
                            const char *site);
#define comm_allreduce_sum_d(c, buf, count) \
    comm_allreduce_sum_d_at(c, buf, count, COMM_SITE)
/* In-place max of int64 values across ranks. */
int comm_allreduce_max_i64_at(comm_ctx *c, int64_t *buf, size_t count,
                              const char *site);
#define comm_allreduce_max_i64(c, buf, count) \
    comm_allreduce_max_i64_at(c, buf, count, COMM_SITE)
/* Non-blocking in-place sum of buf[0, count), count <= 2^30. Stores a
 * request id in *req (>= 0; -1 with one rank: nothing to do). buf must not
 * be touched until the request completed. Every rank must start the same
 * requests in the same order; they may complete in any order. At most
 * COMM_MAX_REQUESTS may be outstanding. Returns 0 or non-zero (MPI error,
 * too many requests, count too large). */
#define COMM_MAX_REQUESTS 64
int comm_iallreduce_sum_at(comm_ctx *c, float *buf, size_t count, int *req,
                           const char *site);
#define comm_iallreduce_sum(c, buf, count, req) \
    comm_iallreduce_sum_at(c, buf, count, req, COMM_SITE)
/* Progress request req; *done = 1 once it completed (the id is then free
 * and must not be used again). req = -1 is always done. */
int comm_test(comm_ctx *c, int req, int *done);
/* Block until request req completed (the id is then free); the wait is
 * bounded by the timeout like every collective. */
int comm_wait(comm_ctx *c, int req);

/* An arena of `count` zeroed floats that the other ranks of the node can
 * read and write (an MPI-3 shared-memory window), for buffers that
 * comm_allreduce_sum should reduce in place: only when the whole job is on
 * one node and has more than one rank; NULL otherwise (use private memory
 * then). Collective: every rank calls it with the same count. It lives
 * until comm_finalize; there is no other way to free it. */
float *comm_alloc_shared(comm_ctx *c, size_t count);
/* 1 if buf[0, count) lies inside an arena from comm_alloc_shared. */
int comm_is_shared(const comm_ctx *c, const float *buf, size_t count);

/* In-place sum across ranks in one fixed binary tree over the ranks,
 * ((rank 0 + rank 1) + (rank 2 + rank 3)) + ..., whose bits therefore
 * depend only on each rank's value, not on how the sum is split: for an
 * arena from comm_alloc_shared (every rank passes the same offset) and a
 * power-of-two rank count only; returns non-zero otherwise (the caller
 * then sums another way) or on a failure. */
int comm_tree_sum_at(comm_ctx *c, float *buf, size_t count, const char *site);
#define comm_tree_sum(c, buf, count) comm_tree_sum_at(c, buf, count, COMM_SITE)

/* Broadcast `bytes` bytes from root. */
int comm_bcast_bytes_at(comm_ctx *c, void *buf, size_t bytes, int root,
                        const char *site);
#define comm_bcast_bytes(c, buf, bytes, root) \
    comm_bcast_bytes_at(c, buf, bytes, root, COMM_SITE)
/* Gather: root receives every rank's `bytes` bytes (the same on every
 * rank) in rank order into recv[size * bytes] (ignored elsewhere). */
int comm_gather_bytes_at(comm_ctx *c, const void *send, size_t bytes,
                         void *recv, int root, const char *site);
#define comm_gather_bytes(c, send, bytes, recv, root) \
    comm_gather_bytes_at(c, send, bytes, recv, root, COMM_SITE)
/* Gather of different sizes: each rank sends `bytes` bytes; root receives
 * them in rank order, back to back, into recv, given every rank's count in
 * counts[size] (recv and counts are ignored elsewhere). MPI counts are
 * ints: the caller keeps every count and their sum within INT_MAX (checked
 * here too, but a rank that stops on it would leave the others waiting). */
int comm_gatherv_bytes_at(comm_ctx *c, const void *send, size_t bytes,
                          void *recv, const size_t *counts, int root,
                          const char *site);
#define comm_gatherv_bytes(c, send, bytes, recv, counts, root) \
    comm_gatherv_bytes_at(c, send, bytes, recv, counts, root, COMM_SITE)
int comm_barrier_at(comm_ctx *c, const char *site);
#define comm_barrier(c) comm_barrier_at(c, COMM_SITE)

/* Collective: did every rank succeed? Each rank passes its own status
 * (0 = ok, else an exit code). Returns the largest status of any rank and
 * stores in *first_bad the lowest rank that failed (or -1). */
int comm_agree_at(comm_ctx *c, int status, int *first_bad, const char *site);
#define comm_agree(c, status, first_bad) \
    comm_agree_at(c, status, first_bad, COMM_SITE)

/* End the whole job now: print "[rank r] msg" to stderr, MPI_Abort(code). */
void comm_abort(comm_ctx *c, int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* Seconds from a monotonic clock. */
double comm_wtime(void);

#endif

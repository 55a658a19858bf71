/* comm/comm.h - everything MPI, behind plain C types.
 *
 * No other module includes mpi.h. The context is opaque; counts are
 * element counts (floats/doubles), never bytes unless the name says bytes.
 * MPI errors are made returnable (MPI_ERRORS_RETURN): every call returns 0
 * or a non-zero status.
 */
#ifndef COMM_COMM_H
#define COMM_COMM_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

typedef struct comm_ctx comm_ctx;

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
int comm_allreduce_sum(comm_ctx *c, float *buf, size_t count);
int comm_allreduce_sum_d(comm_ctx *c, double *buf, size_t count);
/* In-place max of int64 values across ranks. */
int comm_allreduce_max_i64(comm_ctx *c, int64_t *buf, size_t count);
/* Non-blocking in-place sum of buf[0, count), count <= 2^30. Stores a
 * request id in *req (>= 0; -1 with one rank: nothing to do). buf must not
 * be touched until the request completed. Every rank must start the same
 * requests in the same order; they may complete in any order. At most
 * COMM_MAX_REQUESTS may be outstanding. Returns 0 or non-zero (MPI error,
 * too many requests, count too large). */
#define COMM_MAX_REQUESTS 64
int comm_iallreduce_sum(comm_ctx *c, float *buf, size_t count, int *req);
/* Progress request req; *done = 1 once it completed (the id is then free
 * and must not be used again). req = -1 is always done. */
int comm_test(comm_ctx *c, int req, int *done);
/* Block until request req completed (the id is then free). */
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

/* Broadcast `bytes` bytes from root. */
int comm_bcast_bytes(comm_ctx *c, void *buf, size_t bytes, int root);
/* Gather: root receives every rank's `bytes` bytes (the same on every
 * rank) in rank order into recv[size * bytes] (ignored elsewhere). */
int comm_gather_bytes(comm_ctx *c, const void *send, size_t bytes, void *recv,
                      int root);
/* Gather of different sizes: each rank sends `bytes` bytes; root receives
 * them in rank order, back to back, into recv, given every rank's count in
 * counts[size] (recv and counts are ignored elsewhere). MPI counts are
 * ints: the caller keeps every count and their sum within INT_MAX (checked
 * here too, but a rank that stops on it would leave the others waiting). */
int comm_gatherv_bytes(comm_ctx *c, const void *send, size_t bytes,
                       void *recv, const size_t *counts, int root);
int comm_barrier(comm_ctx *c);

/* Collective: did every rank succeed? Each rank passes its own status
 * (0 = ok, else an exit code). Returns the largest status of any rank and
 * stores in *first_bad the lowest rank that failed (or -1). */
int comm_agree(comm_ctx *c, int status, int *first_bad);

/* End the whole job now: print "[rank r] msg" to stderr, MPI_Abort(code). */
void comm_abort(comm_ctx *c, int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* Seconds from a monotonic clock. */
double comm_wtime(void);

#endif

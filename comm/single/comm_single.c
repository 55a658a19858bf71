/* comm/single/comm_single.c - comm.h for one process without MPI.
 *
 * Every collective of a job of one rank is the identity (a sum over one
 * rank is the value itself, a broadcast from rank 0 to rank 0 moves
 * nothing), so the trainer's loop, objectives and samplers run unchanged
 * in a CUnit program that links this library instead of libaxon_comm
 * (tests/trainer). Nothing here is used by bin/axon. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/comm.h"

struct comm_ctx {
    int unused;
};

/* One rank never waits for another: timeouts and steps are not needed. */
void comm_set_timeout(comm_ctx *c, double seconds)
{
    (void)c, (void)seconds;
}

void comm_set_step(comm_ctx *c, uint64_t step)
{
    (void)c, (void)step;
}

comm_ctx *comm_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return calloc(1, sizeof(comm_ctx));
}

void comm_finalize(comm_ctx *c)
{
    free(c);
}

int comm_rank(const comm_ctx *c) { (void)c; return 0; }
int comm_size(const comm_ctx *c) { (void)c; return 1; }
int comm_local_rank(const comm_ctx *c) { (void)c; return 0; }
int comm_local_size(const comm_ctx *c) { (void)c; return 1; }
int comm_nodes(const comm_ctx *c) { (void)c; return 1; }
const char *comm_host(const comm_ctx *c) { (void)c; return "localhost"; }

int comm_allreduce_sum_at(comm_ctx *c, float *buf, size_t count,
                          const char *site)
{
    (void)c, (void)buf, (void)count, (void)site;
    return 0;
}

int comm_tree_sum_at(comm_ctx *c, float *buf, size_t count, const char *site)
{
    (void)c, (void)buf, (void)count, (void)site;
    return 0;
}

int comm_allreduce_sum_d_at(comm_ctx *c, double *buf, size_t count,
                            const char *site)
{
    (void)c, (void)buf, (void)count, (void)site;
    return 0;
}

int comm_allreduce_max_i64_at(comm_ctx *c, int64_t *buf, size_t count,
                              const char *site)
{
    (void)c, (void)buf, (void)count, (void)site;
    return 0;
}

int comm_iallreduce_sum_at(comm_ctx *c, float *buf, size_t count, int *req,
                           const char *site)
{
    (void)c, (void)buf, (void)count, (void)site;
    *req = -1; /* one rank: nothing to do */
    return 0;
}

int comm_test(comm_ctx *c, int req, int *done)
{
    (void)c, (void)req;
    *done = 1;
    return 0;
}

int comm_wait(comm_ctx *c, int req)
{
    (void)c, (void)req;
    return 0;
}

float *comm_alloc_shared(comm_ctx *c, size_t count)
{
    (void)c, (void)count;
    return NULL; /* only for jobs of more than one rank */
}

int comm_is_shared(const comm_ctx *c, const float *buf, size_t count)
{
    (void)c, (void)buf, (void)count;
    return 0;
}

int comm_bcast_bytes_at(comm_ctx *c, void *buf, size_t bytes, int root,
                        const char *site)
{
    (void)c, (void)buf, (void)bytes, (void)site;
    return root != 0;
}

int comm_gather_bytes_at(comm_ctx *c, const void *send, size_t bytes,
                         void *recv, int root, const char *site)
{
    (void)c, (void)site;
    if (root != 0) return 1;
    if (bytes) memmove(recv, send, bytes);
    return 0;
}

int comm_gatherv_bytes_at(comm_ctx *c, const void *send, size_t bytes,
                          void *recv, const size_t *counts, int root,
                          const char *site)
{
    (void)c, (void)site;
    if (root != 0 || (counts && counts[0] != bytes)) return 1;
    if (bytes) memmove(recv, send, bytes);
    return 0;
}

int comm_barrier_at(comm_ctx *c, const char *site)
{
    (void)c, (void)site;
    return 0;
}

int comm_agree_at(comm_ctx *c, int status, int *first_bad, const char *site)
{
    (void)c, (void)site;
    if (first_bad) *first_bad = status ? 0 : -1;
    return status;
}

void comm_abort(comm_ctx *c, int code, const char *fmt, ...)
{
    (void)c;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[rank 0] ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

double comm_wtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

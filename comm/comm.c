/* comm/comm.c - the MPI layer (see comm.h). The only file that includes
 * mpi.h. Errors on MPI_COMM_WORLD are set to MPI_ERRORS_RETURN so every
 * call's status is checked rather than aborting inside the library. */
#include "comm/comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct comm_ctx {
    MPI_Comm world;
    int rank, size;
    int local_rank, local_size;
    int nodes;
    char host[MPI_MAX_PROCESSOR_NAME];
    MPI_Request req[COMM_MAX_REQUESTS]; /* MPI_REQUEST_NULL: free slot */
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
    /* FUNNELED: helper threads exist (the checkpoint writer, BLAS) but
     * only the main thread calls MPI. */
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
    MPI_Comm_free(&node);
    if (c->nodes < 1) {
        free(c);
        return NULL;
    }
    return c;
}

void comm_finalize(comm_ctx *c)
{
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

int comm_allreduce_sum(comm_ctx *c, float *buf, size_t count)
{
    if (c->size == 1) return 0;
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

/* tests/io/test_stream.c - stream order for truncated BPTT
 * (io_shard_stream_batch): every step's rows are the next windows of B
 * contiguous streams, each rank always gets the same streams, and the rows
 * of all ranks together are the B streams in order, for 1..7 ranks. */
#include "io/shard.h"

#include <stdint.h> /* uint64_t */
#include <stdlib.h> /* calloc, free */

#include "tests/cu.h"

#define MAX_B 16

/* One rank's view of a whole epoch: ids[step][k] for k < n. */
typedef struct epoch_rows {
    size_t n;            /* rows per step (must not change) */
    int n_changed;       /* a step returned a different count */
    int bad_global;      /* a step reported a global batch != B */
    int bad_local;       /* local != id - lo */
    uint64_t ids[64][MAX_B];
} epoch_rows;

static void collect(const io_shard *s, size_t B, size_t part, size_t parts,
                    epoch_rows *e)
{
    size_t S = io_shard_stream_steps(s, B);
    size_t local[MAX_B];
    *e = (epoch_rows){0};
    for (size_t step = 0; step < S; step++) {
        size_t global = 0;
        size_t n = io_shard_stream_batch(s, B, step, part, parts, local,
                                         e->ids[step], &global);
        if (step == 0) e->n = n;
        e->n_changed |= n != e->n;
        e->bad_global |= global != B;
        for (size_t k = 0; k < n; k++)
            e->bad_local |= local[k] + s->lo != e->ids[step][k];
    }
}

/* 1 rank, no validation split: N = 103 windows, B = 5 -> S = 20 steps;
 * row b of step s is window b*20 + s, windows 100..102 never appear. */
static void test_single_rank_order(void)
{
    const size_t N = 103, B = 5;
    io_shard s;
    io_shard_plan(&s, N, 0, N, 7, 0.0);
    CU_ASSERT_EQUAL_FATAL(io_shard_stream_steps(&s, B), 20);
    epoch_rows *e = calloc(1, sizeof *e);
    CU_ASSERT_FATAL(e != NULL);
    collect(&s, B, 0, 1, e);
    CU_ASSERT_EQUAL(e->n, B);
    CU_ASSERT(!e->n_changed && !e->bad_global && !e->bad_local);
    int seen[103] = {0};
    size_t wrong = 0;
    for (size_t step = 0; step < 20; step++)
        for (size_t b = 0; b < B; b++) {
            uint64_t id = e->ids[step][b];
            /* each stream starts at its first window and advances by one */
            uint64_t want = step ? e->ids[step - 1][b] + 1 : b * 20;
            wrong += id != want || id >= N;
            if (id < N) seen[id]++;
        }
    CU_ASSERT_EQUAL(wrong, 0);
    size_t once = 0;
    for (size_t id = 0; id < N; id++) once += seen[id] == 1;
    CU_ASSERT_EQUAL(once, 100); /* every kept window exactly once */
    CU_ASSERT(!seen[100] && !seen[101] && !seen[102]);
    /* The order does not depend on the epoch (no shuffle). */
    io_shard_epoch(&s, 3, 4);
    epoch_rows *e3 = calloc(1, sizeof *e3);
    CU_ASSERT_FATAL(e3 != NULL);
    collect(&s, B, 0, 1, e3);
    size_t diff = 0;
    for (size_t step = 0; step < 20; step++)
        for (size_t b = 0; b < B; b++) diff += e3->ids[step][b] != e->ids[step][b];
    CU_ASSERT_EQUAL(diff, 0);
    free(e3);
    free(e);
    io_shard_free(&s);
}

/* For every rank count 1..7 (including more ranks than streams): rank r
 * always holds the same streams, its row count never changes, and the
 * ranks' rows concatenated in rank order are the 1-rank batch. A
 * validation split is on, so streams are made of training ids only. */
static void test_ranks_partition_streams(void)
{
    const size_t N = 211, B = 6;
    io_shard ref;
    io_shard_plan(&ref, N, 0, N, 11, 0.2);
    size_t S = io_shard_stream_steps(&ref, B);
    CU_ASSERT_EQUAL_FATAL(S, ref.n_train / B);
    CU_ASSERT_FATAL(S > 1 && S <= 64);
    epoch_rows *one = calloc(1, sizeof *one), *e = calloc(1, sizeof *e);
    CU_ASSERT_FATAL(one && e);
    collect(&ref, B, 0, 1, one);
    /* row b of step s = training id number b*S + s, never a held-out id */
    size_t wrong = 0;
    for (size_t step = 0; step < S; step++)
        for (size_t b = 0; b < B; b++)
            wrong += one->ids[step][b] != ref.train[b * S + step] ||
                     io_shard_is_val(11, one->ids[step][b], 0.2);
    CU_ASSERT_EQUAL(wrong, 0);
    /* inv[id] = position of training id `id` in ref.train */
    size_t inv[211];
    for (size_t id = 0; id < N; id++) inv[id] = SIZE_MAX;
    for (size_t i = 0; i < ref.n_train; i++) inv[ref.train[i]] = i;
    for (size_t parts = 1; parts <= 7; parts++) {
        size_t mismatched = 0, total_rows = 0;
        for (size_t part = 0; part < parts; part++) {
            io_shard s; /* every rank holds all rows in stream mode */
            io_shard_plan(&s, N, 0, N, 11, 0.2);
            collect(&s, B, part, parts, e);
            CU_ASSERT(!e->n_changed && !e->bad_global && !e->bad_local);
            /* the same stream at every step, advancing by one window */
            for (size_t k = 0; k < e->n; k++)
                for (size_t step = 0; step < S; step++) {
                    size_t pos = inv[e->ids[step][k]];
                    mismatched += pos / S != inv[e->ids[0][k]] / S ||
                                  pos % S != step;
                }
            /* concatenated in rank order = the 1-rank rows */
            for (size_t step = 0; step < S; step++)
                for (size_t k = 0; k < e->n; k++)
                    mismatched += e->ids[step][k] !=
                                  one->ids[step][total_rows + k];
            total_rows += e->n;
            io_shard_free(&s);
        }
        CU_ASSERT_EQUAL(mismatched, 0);
        CU_ASSERT_EQUAL(total_rows, B);
    }
    free(one);
    free(e);
    io_shard_free(&ref);
}

/* Fewer training rows than streams: no steps at all. */
static void test_too_few_rows(void)
{
    io_shard s;
    io_shard_plan(&s, 4, 0, 4, 1, 0.0);
    CU_ASSERT_EQUAL(io_shard_stream_steps(&s, 5), 0);
    CU_ASSERT_EQUAL(io_shard_stream_steps(&s, 4), 1);
    size_t local[4];
    uint64_t ids[4];
    size_t g = 0;
    CU_ASSERT_EQUAL(io_shard_stream_batch(&s, 4, 0, 1, 2, local, ids, &g), 2);
    CU_ASSERT(g == 4 && ids[0] == 2 && ids[1] == 3 && local[1] == 3);
    io_shard_free(&s);
}

static const cu_test stream_tests[] = {
    {"one rank: B contiguous streams in order", test_single_rank_order},
    {"1..7 ranks: fixed streams, union = batch", test_ranks_partition_streams},
    {"fewer rows than streams", test_too_few_rows},
    {NULL, NULL}};
static const cu_suite suites[] = {{"stream", stream_tests}, {NULL, NULL}};

int main(void)
{
    return cu_main("io_test_stream", suites);
}

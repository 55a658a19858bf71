/* tests/io/test_shard.c - the train/validation split and the batch plan
 * are independent of the rank count: checked by simulating 1..4 ranks. */
#include "io/shard.h"

#include <stdint.h> /* uint64_t */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* memcmp */

#include "tests/cu.h"

#define MAX_PARTS 4

/* Rank `part` of `parts` holds [total*part/parts, total*(part+1)/parts),
 * as io_dataset_load gives it. */
static void plan(io_shard *s, size_t total, size_t part, size_t parts,
                 uint64_t seed, double frac)
{
    io_shard_plan(s, total, total * part / parts, total * (part + 1) / parts,
                  seed, frac);
}

static void test_split_rank_independent(void)
{
    const size_t total = 10007;
    const double frac = 0.1;
    io_shard ref;
    plan(&ref, total, 0, 1, 42, frac);
    CU_ASSERT_EQUAL(ref.n_train + ref.n_val, total);
    /* Near the requested fraction: binomial sd = sqrt(n f (1-f)) ~ 30. */
    CU_ASSERT(ref.n_val > 900 && ref.n_val < 1100);
    /* Ascending, disjoint, covering, and agreeing with io_shard_is_val. */
    size_t t = 0, v = 0, bad = 0;
    for (size_t id = 0; id < total; id++) {
        int is_val = io_shard_is_val(42, id, frac);
        if (is_val) bad += v >= ref.n_val || ref.val[v++] != id;
        else bad += t >= ref.n_train || ref.train[t++] != id;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* Every rank of every rank count sees the same split. */
    for (size_t parts = 2; parts <= MAX_PARTS; parts++)
        for (size_t part = 0; part < parts; part++) {
            io_shard s;
            plan(&s, total, part, parts, 42, frac);
            CU_ASSERT_EQUAL_FATAL(s.n_train, ref.n_train);
            CU_ASSERT_EQUAL_FATAL(s.n_val, ref.n_val);
            CU_ASSERT_EQUAL(memcmp(s.train, ref.train,
                                   s.n_train * sizeof *s.train), 0);
            CU_ASSERT_EQUAL(memcmp(s.val, ref.val, s.n_val * sizeof *s.val),
                            0);
            io_shard_free(&s);
        }
    io_shard_free(&ref);

    /* Another seed gives another split; fraction 0 none; 0.5 about half. */
    size_t diff = 0, n0 = 0, n5 = 0;
    for (size_t id = 0; id < total; id++) {
        diff += io_shard_is_val(42, id, frac) != io_shard_is_val(43, id, frac);
        n0 += (size_t)io_shard_is_val(42, id, 0.0);
        n5 += (size_t)io_shard_is_val(42, id, 0.5);
    }
    CU_ASSERT(diff > 1000);
    CU_ASSERT_EQUAL(n0, 0);
    CU_ASSERT(n5 > 4800 && n5 < 5200);
}

static int is_permutation(const size_t *p, size_t n)
{
    unsigned char *seen = calloc(n + 1, 1);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        ok = p[i] < n && !seen[p[i]];
        if (ok) seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

/* (Batch 1: one stratum, a plain shuffle of the training positions.) */
static void test_perm_depends_on_seed_epoch(void)
{
    io_shard a, b, c;
    plan(&a, 1000, 0, 1, 7, 0.2);
    plan(&b, 1000, 2, 3, 7, 0.2);
    plan(&c, 1000, 0, 1, 8, 0.2);
    size_t n = a.n_train;
    size_t *e1 = calloc(n, sizeof *e1);
    /* a: epochs 0, 1, 3 in order; b: epoch 3 directly. */
    io_shard_epoch(&a, 0, 1);
    CU_ASSERT_TRUE(is_permutation(a.perm, n));
    io_shard_epoch(&a, 1, 1);
    memcpy(e1, a.perm, n * sizeof *e1);
    io_shard_epoch(&a, 3, 1);
    io_shard_epoch(&b, 3, 1);
    CU_ASSERT_TRUE(is_permutation(a.perm, n));
    CU_ASSERT_EQUAL(memcmp(a.perm, b.perm, n * sizeof *a.perm), 0);
    /* Redrawing an epoch gives the same order again. */
    io_shard_epoch(&b, 1, 1);
    CU_ASSERT_EQUAL(memcmp(e1, b.perm, n * sizeof *e1), 0);
    /* Different epochs, different seeds: different orders, and not the
     * identity. */
    io_shard_epoch(&a, 3, 1);
    CU_ASSERT_NOT_EQUAL(memcmp(e1, a.perm, n * sizeof *e1), 0);
    io_shard_epoch(&c, 3, 1);
    size_t same = 0, fixed = 0;
    for (size_t i = 0; i < n && i < c.n_train; i++)
        same += a.perm[i] == c.perm[i];
    for (size_t i = 0; i < n; i++) fixed += a.perm[i] == i;
    CU_ASSERT(same < 20);
    CU_ASSERT(fixed < 20);
    free(e1);
    io_shard_free(&a);
    io_shard_free(&b);
    io_shard_free(&c);
}

/* For `parts` ranks: every step's rows over all ranks are exactly the
 * 1-rank step's rows (same order within each rank), and the epoch visits
 * each training id once. */
static void check_epoch(size_t total, size_t parts, size_t batch,
                        uint64_t epoch)
{
    io_shard one, r[MAX_PARTS];
    plan(&one, total, 0, 1, 99, 0.15);
    io_shard_epoch(&one, epoch, batch);
    for (size_t p = 0; p < parts; p++) {
        plan(&r[p], total, p, parts, 99, 0.15);
        io_shard_epoch(&r[p], epoch, batch);
    }
    size_t n = one.n_train, steps = io_shard_steps(&one, batch);
    CU_ASSERT_EQUAL(steps, (n + batch - 1) / batch);
    unsigned char *seen = calloc(total, 1);
    size_t *loc = calloc(batch, sizeof *loc);
    size_t *all_loc = calloc(batch, sizeof *all_loc);
    uint64_t *ids = calloc(batch, sizeof *ids), *all = calloc(batch,
                                                              sizeof *all);
    size_t bad = 0, visits = 0, max_seen[MAX_PARTS] = {0};
    for (size_t s = 0; s < steps; s++) {
        size_t g1 = 0;
        size_t k1 = io_shard_batch(&one, batch, s, all_loc, all, &g1);
        bad += k1 != g1; /* one rank holds everything */
        bad += g1 != (s + 1 < steps ? batch : n - s * batch);
        size_t sum = 0;
        for (size_t p = 0; p < parts; p++) {
            size_t g = 0;
            size_t k = io_shard_batch(&r[p], batch, s, loc, ids, &g);
            bad += g != g1;
            if (k > max_seen[p]) max_seen[p] = k;
            /* ids: held by the rank, local = id - lo, and a subsequence of
             * the 1-rank order (the permutation order). */
            size_t j = 0;
            for (size_t i = 0; i < k; i++) {
                bad += ids[i] < r[p].lo || ids[i] >= r[p].hi;
                bad += loc[i] != ids[i] - r[p].lo;
                while (j < k1 && all[j] != ids[i]) j++;
                bad += j == k1;
                if (ids[i] < total && !seen[ids[i]]++) visits++;
                else bad++;
            }
            sum += k;
        }
        bad += sum != g1;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(visits, n);
    /* Each training id was visited, and no validation id. */
    size_t missing = 0;
    for (size_t i = 0; i < n; i++) missing += !seen[one.train[i]];
    for (size_t i = 0; i < one.n_val; i++) missing += seen[one.val[i]];
    CU_ASSERT_EQUAL(missing, 0);
    for (size_t p = 0; p < parts; p++) {
        CU_ASSERT_EQUAL(io_shard_max_rows(&r[p], batch), max_seen[p]);
        io_shard_free(&r[p]);
    }
    CU_ASSERT_EQUAL(io_shard_max_rows(&one, batch), n < batch ? n : batch);
    free(seen);
    free(loc);
    free(all_loc);
    free(ids);
    free(all);
    io_shard_free(&one);
}

static void test_epoch_union(void)
{
    /* Uneven shards and a short last batch. */
    for (size_t parts = 1; parts <= MAX_PARTS; parts++)
        for (uint64_t epoch = 0; epoch < 3; epoch++) {
            check_epoch(1003, parts, 64, epoch);
            check_epoch(101, parts, 7, epoch);
            check_epoch(37, parts, 100, epoch); /* one short batch */
        }
}

/* Rows per rank per step for global batch B on `parts` ranks of a
 * 60,000-row file with a 10% validation split, over the first 95% of the
 * epoch's steps (in the last rounds strata of unequal size run out): the
 * number of steps where some rank's count is off B/parts, and the largest
 * deviation. */
static void balance(size_t batch, size_t parts, size_t *uneven, size_t *worst)
{
    io_shard r[MAX_PARTS];
    for (size_t p = 0; p < parts; p++) {
        plan(&r[p], 60000, p, parts, 3, 0.1);
        io_shard_epoch(&r[p], 5, batch);
    }
    size_t steps = io_shard_steps(&r[0], batch);
    *uneven = *worst = 0;
    for (size_t st = 0; st < steps * 95 / 100; st++) {
        int off = 0;
        for (size_t p = 0; p < parts; p++) {
            size_t k = io_shard_batch(&r[p], batch, st, NULL, NULL, NULL);
            size_t d = k > batch / parts ? k - batch / parts : batch / parts - k;
            if (d) off = 1;
            if (d > *worst) *worst = d;
        }
        *uneven += (size_t)off;
    }
    for (size_t p = 0; p < parts; p++) io_shard_free(&r[p]);
}

/* The stratified order gives every rank its share: exactly B/p rows when
 * p divides the strata (2 and 4 ranks of B = 64 and 128: 64 strata), at
 * most the share of the two strata a shard boundary cuts otherwise (3
 * ranks of B = 192: 3 rows each). A plain shuffle gives binomial counts,
 * 64 +- 5.7 of 128. */
static void test_balanced_shares(void)
{
    size_t uneven, worst;
    CU_ASSERT_EQUAL(io_shard_strata(128), 64);
    CU_ASSERT_EQUAL(io_shard_strata(60), 4);
    CU_ASSERT_EQUAL(io_shard_strata(1), 1);
    CU_ASSERT_EQUAL(io_shard_strata(1024), IO_SHARD_MAX_STRATA);
    balance(128, 2, &uneven, &worst);
    CU_ASSERT_EQUAL(uneven, 0);
    balance(64, 2, &uneven, &worst);
    CU_ASSERT_EQUAL(uneven, 0);
    balance(128, 4, &uneven, &worst);
    CU_ASSERT_EQUAL(uneven, 0);
    balance(192, 3, &uneven, &worst);
    CU_ASSERT(worst <= 6);
}

/* Micro-shards: blocks of the file that tile it in order, and rank r of
 * p (p dividing m) holds exactly blocks [r*m/p, (r+1)*m/p) - for totals
 * that do not divide by m too. */
static void test_micro_shards(void)
{
    const size_t totals[] = {7, 64, 1000, 10007};
    for (size_t t = 0; t < sizeof totals / sizeof *totals; t++) {
        for (size_t m = 1; m <= 16; m *= 2) {
            io_shard s;
            plan(&s, totals[t], 0, 1, 3, 0.0);
            size_t prev = 0;
            for (size_t id = 0; id < totals[t]; id++) {
                size_t j = io_shard_micro(s.total, m, id);
                CU_ASSERT(j < m && j >= prev);
                CU_ASSERT(totals[t] * j / m <= id && id < totals[t] * (j + 1) / m);
                prev = j;
            }
            for (size_t p = 1; p <= m; p *= 2)
                for (size_t r = 0; r < p; r++) {
                    size_t lo = totals[t] * r / p, hi = totals[t] * (r + 1) / p;
                    for (size_t id = lo; id < hi; id++) {
                        size_t j = io_shard_micro(s.total, m, id);
                        CU_ASSERT(j >= r * m / p && j < (r + 1) * m / p);
                    }
                }
            io_shard_free(&s);
        }
    }
}

static void test_last_batch(void)
{
    io_shard s;
    io_shard_plan(&s, 250, 0, 250, 5, 0.0);
    CU_ASSERT_EQUAL(s.n_train, 250);
    CU_ASSERT_EQUAL(s.n_val, 0);
    io_shard_epoch(&s, 2, 100);
    CU_ASSERT_EQUAL(io_shard_steps(&s, 100), 3);
    CU_ASSERT_EQUAL(io_shard_steps(&s, 50), 5);
    CU_ASSERT_EQUAL(io_shard_steps(&s, 250), 1);
    CU_ASSERT_EQUAL(io_shard_steps(&s, 1000), 1);
    size_t local[100], g = 0;
    uint64_t ids[100];
    CU_ASSERT_EQUAL(io_shard_batch(&s, 100, 1, local, ids, &g), 100);
    CU_ASSERT_EQUAL(g, 100);
    CU_ASSERT_EQUAL(io_shard_batch(&s, 100, 2, local, ids, &g), 50);
    CU_ASSERT_EQUAL(g, 50);
    /* The last positions of the permutation, in order. */
    for (size_t i = 0; i < 50; i++)
        CU_ASSERT_EQUAL(ids[i], s.train[s.perm[200 + i]]);
    io_shard_free(&s);

    /* A rank holding [200, 250): global_rows is the global size even when
     * the rank holds few or none of the rows. */
    io_shard_plan(&s, 250, 200, 250, 5, 0.0);
    io_shard_epoch(&s, 2, 100);
    size_t held = 0;
    for (size_t st = 0; st < 3; st++) {
        size_t k = io_shard_batch(&s, 100, st, local, ids, &g);
        CU_ASSERT_EQUAL(g, st < 2 ? 100 : 50);
        for (size_t i = 0; i < k; i++) CU_ASSERT_EQUAL(local[i], ids[i] - 200);
        held += k;
    }
    CU_ASSERT_EQUAL(held, 50);
    io_shard_free(&s);

    /* An empty rank and an empty training set. */
    io_shard_plan(&s, 10, 10, 10, 5, 0.0);
    io_shard_epoch(&s, 0, 4);
    CU_ASSERT_EQUAL(io_shard_batch(&s, 4, 2, local, ids, &g), 0);
    CU_ASSERT_EQUAL(g, 2);
    CU_ASSERT_EQUAL(io_shard_max_rows(&s, 4), 0);
    io_shard_free(&s);
    io_shard_plan(&s, 0, 0, 0, 5, 0.5);
    io_shard_epoch(&s, 0, 4);
    CU_ASSERT_EQUAL(io_shard_steps(&s, 4), 0);
    CU_ASSERT_EQUAL(io_shard_max_rows(&s, 4), 0);
    io_shard_free(&s);
}

static const cu_test shard_tests[] = {
    {"validation split independent of ranks", test_split_rank_independent},
    {"permutation from (seed, epoch) only", test_perm_depends_on_seed_epoch},
    {"epoch union over 1..4 ranks", test_epoch_union},
    {"last short batch", test_last_batch},
    {"every rank gets its share of a batch", test_balanced_shares},
    {"micro-shards tile the file and the ranks' shards", test_micro_shards},
    {NULL, NULL}};
static const cu_suite suites[] = {{"shard", shard_tests}, {NULL, NULL}};

int main(void)
{
    return cu_main("io_test_shard", suites);
}

/* tests/tools/labelled_rows.c - which training rows data.labelled leaves
 * without a label, for the integration tests: the same functions axon
 * uses (io_shard_plan for the validation split, io_labelled_pick).
 *
 *   labelled_rows TOTAL SEED VAL_FRACTION KEEP
 * prints one line "ID KEPT" per training row (validation rows are not
 * listed), ascending by global id: KEPT is 1 if the row keeps its label,
 * 0 if data.labelled hides it. Exit 2 on usage errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/dataset.h"
#include "io/shard.h"

/* A whole non-negative decimal number, or -1. */
static int number(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9') return -1;
    *out = strtoull(s, &end, 10);
    return *end || errno ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned long long total, seed, keep;
    char *end = NULL;
    double frac = argc == 5 ? strtod(argv[3], &end) : -1;
    if (argc != 5 || number(argv[1], &total) || number(argv[2], &seed) ||
        number(argv[4], &keep) || !end || *end || frac < 0 || frac > 0.9) {
        fprintf(stderr, "usage: labelled_rows TOTAL SEED VAL_FRACTION KEEP\n");
        return 2;
    }
    io_shard sh;
    io_shard_plan(&sh, (size_t)total, 0, (size_t)total, seed, frac);
    unsigned char *kept = malloc(sh.n_train + 1);
    if (!kept) return 1;
    io_labelled_pick(sh.train, sh.n_train, (size_t)keep, seed, kept);
    for (size_t i = 0; i < sh.n_train; i++)
        printf("%zu %d\n", sh.train[i], kept[i]);
    free(kept);
    io_shard_free(&sh);
    return fflush(stdout) ? 1 : 0;
}

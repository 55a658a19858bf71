/* trainer/ckpt_dir.c - the checkpoint directory: the files a run leaves
 * there beside each checkpoint's contents (trainer/checkpoint.c).
 *
 * <dir>/step-NNNNNNNN.ckpt, one per save; <dir>/last.ckpt, a symlink to
 * the newest, made under a temporary name and renamed so it is never
 * missing or dangling (`--resume auto` follows it); only the newest
 * checkpoint.keep_last step files are kept; <dir>/best.ckpt, early
 * stopping's best epoch, which a finished run restores.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/check.h"
#include "trainer/run.h"

#define LAST_NAME "last.ckpt"

/* Point <dir>/last.ckpt at `name` atomically. */
static int update_last(const char *dir, const char *name, nn_error *err)
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld", dir, LAST_NAME, (long)getpid());
    snprintf(dst, sizeof dst, "%s/%s", dir, LAST_NAME);
    unlink(tmp);
    if (symlink(name, tmp) != 0 || rename(tmp, dst) != 0) {
        int e = errno;
        unlink(tmp);
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot update: %s", dst,
                            strerror(e));
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remove all but the newest `keep` step-*.ckpt files up to `newest`, the
 * file just written (names sort by step). Files of later steps, left by
 * another run in the same directory, are not this run's to judge: counting
 * them would delete the checkpoint just written. */
static void prune(const char *dir, size_t keep, const char *newest)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "step-", 5) || len < 6 ||
            strcmp(e->d_name + len - 5, ".ckpt") || strcmp(e->d_name, newest) > 0)
            continue;
        if (n == cap) names = nn_xrealloc(names, (cap = cap ? 2 * cap : 16) *
                                                     sizeof *names);
        names[n++] = nn_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i + keep < n) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            unlink(path);
        }
        free(names[i]);
    }
    free(names);
}

int tr_ckpt_dir_commit(const char *dir, const char *name, size_t keep,
                       nn_error *err)
{
    int st = update_last(dir, name, err);
    if (!st && keep) prune(dir, keep, name);
    return st;
}

const char *tr_resolve_resume(tr_run *r, const char *arg, char *buf,
                              size_t cap)
{
    if (strcmp(arg, "auto")) return arg;
    if (!r->s->cfg.ckpt.dir) return NULL;
    snprintf(buf, cap, "%s/%s", r->s->cfg.ckpt.dir, LAST_NAME);
    return access(buf, F_OK) == 0 ? buf : NULL;
}


/* Where the best epoch's weights are: <checkpoint.dir>/best.ckpt, else
 * best.ckpt beside the checkpoint the run resumed from (a resume into
 * another checkpoint.dir). 0 with path set, or NN_EXIT_DATA. */
int tr_best_path(tr_run *r, char *path, size_t cap)
{
    tr_session *s = r->s;
    char mine[4096] = "", theirs[4096] = "";
    if (s->cfg.ckpt.dir) {
        snprintf(mine, sizeof mine, "%s/best.ckpt", s->cfg.ckpt.dir);
        if (access(mine, F_OK) == 0) return snprintf(path, cap, "%s", mine), 0;
    }
    if (r->resumed_from) {
        const char *slash = strrchr(r->resumed_from, '/');
        int dir = slash ? (int)(slash - r->resumed_from) : 1;
        snprintf(theirs, sizeof theirs, "%.*s/best.ckpt", dir,
                 slash ? r->resumed_from : ".");
        if (access(theirs, F_OK) == 0) return snprintf(path, cap, "%s", theirs), 0;
    }
    return nn_error_set(&s->err, NN_EXIT_DATA,
                        "%s%s%s: no best.ckpt, which the resumed checkpoint "
                        "needs (early stopping's best epoch is %llu); resume "
                        "with the run's own checkpoint.dir, or copy its "
                        "best.ckpt there",
                        mine[0] ? mine : "", mine[0] && theirs[0] ? " or " : "",
                        theirs, (unsigned long long)r->best_epoch);
}


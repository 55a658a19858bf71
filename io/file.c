/* io/file.c - safe opening of user files, the checkpoint directory's lock
 * and stale temporaries (see io/file.h). */
#define _DEFAULT_SOURCE /* flock, gethostname, localtime_r */
#include "io/file.h"

#include <dirent.h>   /* opendir, readdir */
#include <errno.h>    /* errno, EINTR */
#include <fcntl.h>    /* open, fcntl, O_* */
#include <signal.h>   /* kill */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* free, strtol */
#include <string.h>   /* strerror, strlen, strrchr */
#include <sys/file.h> /* flock */
#include <sys/stat.h> /* fstat, mkdir, S_IS* */
#include <time.h>     /* time, ctime_r */
#include <unistd.h>   /* close, read, gethostname, getpid */

#include "nn/check.h"

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a plain file";
}

int io_open_regular(const char *path, const char *what, int code, int *fd,
                    uint64_t *size, nn_error *err)
{
    struct stat st;
    int f;
    *fd = -1;
    do f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    while (f < 0 && errno == EINTR);
    if (f < 0)
        return nn_error_set(err, code, "%s: cannot open %s: %s", path, what,
                            strerror(errno));
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return nn_error_set(err, code, "%s: cannot stat %s: %s", path, what,
                            strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return nn_error_set(err, code, "%s: %s is not a regular file (%s)",
                            path, what, file_kind(st.st_mode));
    }
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(f);
        return nn_error_set(err, code, "%s: cannot open %s: %s", path, what,
                            strerror(e));
    }
    *fd = f;
    if (size) *size = (uint64_t)st.st_size;
    return NN_OK;
}

int io_read_regular(const char *path, const char *what, size_t max, int code,
                    char **out, size_t *len, nn_error *err)
{
    int fd;
    uint64_t size = 0;
    *out = NULL;
    *len = 0;
    int rc = io_open_regular(path, what, code, &fd, &size, err);
    if (rc) return rc;
    if (size > max) {
        close(fd);
        return nn_error_set(err, code, "%s: %s larger than %zu bytes (%llu)",
                            path, what, max, (unsigned long long)size);
    }
    /* The size is a hint (the file may change while read): read up to
     * max + 1 bytes, so a file grown past max is still refused. */
    size_t cap = (size_t)size + 2, n = 0;
    char *buf = nn_xmalloc(cap);
    for (;;) {
        if (cap - n < 2) {
            if (cap > max + 1) break;
            cap = cap * 2 < max + 2 ? cap * 2 : max + 2;
            buf = nn_xrealloc(buf, cap);
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return nn_error_set(err, code, "%s: cannot read %s: %s", path,
                                what, strerror(e));
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (n > max) {
        free(buf);
        return nn_error_set(err, code, "%s: %s larger than %zu bytes", path,
                            what, max);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return NN_OK;
}

int io_mkdirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return errno;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return errno;
    return 0;
}

int io_dir_lock(const char *dir, int *fd, nn_error *err)
{
    char path[4096], host[256] = "?", holder[512] = "";
    *fd = -1;
    int e = io_mkdirs(dir);
    if (e)
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot create directory: "
                            "%s", dir, strerror(e));
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path)
        return nn_error_set(err, NN_EXIT_DATA, "%s: path too long", dir);
    int f;
    do f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    while (f < 0 && errno == EINTR);
    if (f < 0)
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot open lock file: %s",
                            path, strerror(errno));
    int rc;
    do rc = flock(f, LOCK_EX | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e2 = errno;
        ssize_t n = e2 == EWOULDBLOCK ? read(f, holder, sizeof holder - 1) : 0;
        close(f);
        if (e2 != EWOULDBLOCK)
            return nn_error_set(err, NN_EXIT_DATA, "%s: cannot lock: %s",
                                path, strerror(e2));
        holder[n > 0 ? n : 0] = '\0';
        char *nl = strchr(holder, '\n');
        if (nl) *nl = '\0';
        return nn_error_set(err, NN_EXIT_USAGE,
                            "%s: in use by another job (%s); two runs must "
                            "not write one checkpoint.dir: wait for it to "
                            "end or give this run its own directory", dir,
                            *holder ? holder : "holder unknown");
    }
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char line[512];
    time_t now = time(NULL);
    char when[32] = "";
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    int len = snprintf(line, sizeof line, "host %s, pid %ld, since %s\n",
                       host, (long)getpid(), when);
    if (ftruncate(f, 0) != 0 || pwrite(f, line, (size_t)len, 0) != len) {
        int e2 = errno;
        close(f);
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot write: %s", path,
                            strerror(e2));
    }
    *fd = f;
    return NN_OK;
}

void io_dir_unlock(int fd)
{
    if (fd >= 0) close(fd); /* releases the flock */
}

/* The PID of a temporary's name, or 0 if the name is not one: NAME.tmp.PID
 * (io_ckpt_write, io_png_write) or .NAME.PID (the last.ckpt symlink). */
static long temp_pid(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || !dot[1]) return 0;
    char *end;
    long pid = strtol(dot + 1, &end, 10);
    if (*end || pid <= 0 || dot[1] < '0' || dot[1] > '9') return 0;
    size_t stem = (size_t)(dot - name);
    if (stem > 4 && !strncmp(dot - 4, ".tmp", 4)) return pid;
    if (name[0] == '.' && stem > 1 && !strncmp(name, ".last.ckpt", stem))
        return pid;
    return 0;
}

int io_remove_stale_temps(const char *dir, size_t *removed, nn_error *err)
{
    size_t n = 0;
    if (removed) *removed = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return NN_OK;
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot read directory: %s",
                            dir, strerror(errno));
    }
    int rc = NN_OK;
    struct dirent *e;
    while (rc == NN_OK && (e = readdir(d)) != NULL) {
        long pid = temp_pid(e->d_name);
        if (!pid || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno == EPERM) continue; /* alive */
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
            (int)sizeof path)
            continue;
        if (unlink(path) != 0 && errno != ENOENT)
            rc = nn_error_set(err, NN_EXIT_DATA, "%s: cannot remove stale "
                              "temporary: %s", path, strerror(errno));
        else
            n++;
    }
    closedir(d);
    if (removed) *removed = n;
    return rc;
}

/* First step-*.ckpt entry of dir (what last.ckpt points to) into name
 * (cap bytes); 0 if none. */
static int find_ckpt(const char *dir, char *name, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 10 && !strncmp(e->d_name, "step-", 5) &&
            !strcmp(e->d_name + n - 5, ".ckpt")) {
            snprintf(name, cap, "%s", e->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

int io_check_resume_dir(const char *dir, const char *name, nn_error *err)
{
    char path[4096], other[256];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return nn_error_set(err, NN_EXIT_DATA, "%s: path too long", dir);
    struct stat ls, st;
    if (lstat(path, &ls) != 0) {
        if (errno != ENOENT)
            return nn_error_set(err, NN_EXIT_DATA, "%s: %s", path,
                                strerror(errno));
        if (!find_ckpt(dir, other, sizeof other)) return NN_OK;
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: missing, but %s/%s is there: --resume auto "
                            "will not start over beside earlier checkpoints; "
                            "resume one with --resume PATH, or move them away",
                            path, dir, other);
    }
    if (stat(path, &st) != 0)
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: %s (%s): cannot resume from it; repair the "
                            "link, resume with --resume PATH, or move the "
                            "directory away to start over", path,
                            errno == ELOOP ? "a symlink loop"
                            : errno == ENOENT ? "a dangling symlink"
                                              : "unreadable",
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return nn_error_set(err, NN_EXIT_DATA,
                            "%s: not a regular file (%s): cannot resume from "
                            "it", path, file_kind(st.st_mode));
    return NN_OK;
}

/* export/write.c - durable whole-file writes for the exporters. */
#include <errno.h>  /* errno */
#include <fcntl.h>  /* open */
#include <stdio.h>  /* snprintf, rename */
#include <string.h> /* strerror */
#include <unistd.h> /* write, fsync, close, unlink, getpid */

#include "export/export.h"

int ex_write_file(const char *path, const void *buf, size_t len,
                  nn_error *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof tmp)
        return nn_error_set(err, NN_EXIT_DATA, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return nn_error_set(err, NN_EXIT_DATA, "%s: cannot create: %s", path,
                            strerror(errno));
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) goto fail;
    return 0;
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    return nn_error_set(err, NN_EXIT_DATA, "%s: write failed: %s", path,
                        strerror(e ? e : EIO));
}

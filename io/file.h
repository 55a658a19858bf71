/* io/file.h - opening the files a user names, safely: whatever the path
 * is (a FIFO, a device, a directory, a socket), opening never blocks and
 * reading never runs forever. Used by every reader of user files (config,
 * data, checkpoints); also the advisory lock of a checkpoint directory and
 * the clean-up of temporaries left by dead writers.
 */
#ifndef IO_FILE_H
#define IO_FILE_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */
#include "nn/error.h"

/* Open `path` read-only and close-on-exec, with O_NONBLOCK so that a FIFO
 * without a writer (or a device) cannot hold up open(); then require a
 * regular file and make the descriptor blocking again. *fd gets the
 * descriptor, *size (if non-NULL) the file's length. Errors (code `code`,
 * nothing left open): "PATH: cannot open WHAT: strerror", "PATH: WHAT is
 * not a regular file (a FIFO|a directory|a character device|...)". */
int io_open_regular(const char *path, const char *what, int code, int *fd,
                    uint64_t *size, nn_error *err);

/* The whole of the regular file `path`, NUL-terminated (*len excludes the
 * NUL), of at most `max` bytes: a longer file (or one that grows past it
 * while read) is an error "PATH: WHAT larger than MAX bytes" with `code`.
 * Caller frees *out. */
int io_read_regular(const char *path, const char *what, size_t max, int code,
                    char **out, size_t *len, nn_error *err);

/* mkdir -p dir (mode 0777 before the umask). Returns 0 or errno. */
int io_mkdirs(const char *dir);

/* Advisory exclusive lock of directory `dir` (created if missing, with its
 * parents): flock(LOCK_EX | LOCK_NB) on DIR/.lock, which then holds "HOST
 * PID" of the holder. The lock lives as long as the process (or until
 * io_dir_unlock): a killed holder never leaves a stale lock. *fd gets the
 * lock's descriptor. Errors: NN_EXIT_USAGE "DIR is in use by another
 * job (host H, pid P, since ...); give each run its own checkpoint.dir"
 * when held; NN_EXIT_DATA with strerror when the file cannot be made. */
int io_dir_lock(const char *dir, int *fd, nn_error *err);
void io_dir_unlock(int fd);

/* Remove DIR/NAME.tmp.PID files whose PID is not a live process on this
 * host (temporaries of writers killed mid-write). Only names of that form
 * are touched; *removed (if non-NULL) gets how many. Returns 0 or an
 * NN_EXIT_DATA error when the directory cannot be read or a file removed.
 * Call it with the directory locked (io_dir_lock): no live writer of this
 * job can then be mistaken for a dead one. */
int io_remove_stale_temps(const char *dir, size_t *removed, nn_error *err);

/* --resume auto in `dir`, whose newest checkpoint the link DIR/NAME names:
 * 0 when NAME leads to a regular file (resume from it), or when the
 * directory holds no checkpoint at all (it is missing, or has no NAME and
 * no step-*.ckpt entry: a fresh start). NN_EXIT_DATA, naming the path, when
 * NAME is a dangling or looping link or not a regular file, or when NAME
 * is missing but step checkpoints are there: an automatic restart must
 * never silently start over next to a run it cannot read. */
int io_check_resume_dir(const char *dir, const char *name, nn_error *err);

#endif

/* trainer/ckptwriter.h - checkpoints written by a helper thread, so the
 * ranks do not stand still while rank 0 compresses and syncs a file.
 *
 * Rank 0 submits a checkpoint: the writer copies everything the io_ckpt
 * borrows (parameter and optimizer arenas, config text, extra bytes) into
 * buffers it owns and returns; its helper thread then runs the write
 * function on that copy (e.g. io_ckpt_write, then the last-link update and
 * pruning). Training goes on meanwhile, at the cost of one memcpy of the
 * arenas. At most one write is in flight: a submit while the previous one
 * still runs first waits for it. A write's status is returned by the next
 * submit or by wait, whichever comes first, with its message in err.
 * Buffers are allocated at the first submit and grown only if a later one
 * needs more; the thread never calls MPI. io_ckpt's pointer fields
 * (params, state, config, extra) are the ones copied: a new pointer field
 * there must be added to the copy in tr_ckptwriter_submit.
 */
#ifndef TRAINER_CKPTWRITER_H
#define TRAINER_CKPTWRITER_H

#include "io/ckpt.h"
#include "nn/error.h"

/* Writes checkpoint c as `name` in directory `dir` (both NUL-terminated,
 * owned by the writer); returns 0 or an NN_EXIT_* code with err filled.
 * Runs on the helper thread: it must not touch training state. */
typedef int (*tr_ckpt_write_fn)(const io_ckpt *c, const char *dir,
                                const char *name, void *arg, nn_error *err);

typedef struct tr_ckptwriter tr_ckptwriter;

/* Start the helper thread. fn and arg are kept for every write.
 * Returns NULL if the thread cannot be created. */
tr_ckptwriter *tr_ckptwriter_create(tr_ckpt_write_fn fn, void *arg);

/* Wait for the write in flight (if any), copy c, and hand the copy to the
 * helper thread. Returns the previous write's status (0 if none or it
 * succeeded), with its message in err. */
int tr_ckptwriter_submit(tr_ckptwriter *w, const io_ckpt *c, const char *dir,
                         const char *name, nn_error *err);

/* Wait until no write is in flight; returns the status of the last write
 * not yet reported (0 if none), with its message in err. */
int tr_ckptwriter_wait(tr_ckptwriter *w, nn_error *err);

/* Seconds the last completed write took on the helper thread. */
double tr_ckptwriter_last_seconds(tr_ckptwriter *w);

/* Wait, stop the thread and free everything (NULL is fine). A status not
 * yet reported is lost: call wait first to see it. */
void tr_ckptwriter_destroy(tr_ckptwriter *w);

#endif

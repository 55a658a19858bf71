/* trainer/meta.h - what a checkpoint's "extra" blob carries beyond the
 * arenas: everything needed to use the model without the training data.
 *
 * The blob is a list of records: u32 tag length, tag bytes, u64 value
 * length, value bytes (little-endian). Tags written by the trainer:
 *   "input_shape"  u64 ndim, then ndim u64 dims   (the model's input)
 *   "norm_mean"    f64 per input feature          (data.normalize: standardize)
 *   "norm_std"     f64 per input feature
 *   "vocab"        text data: byte of token id i at offset i
 *   "overrides"    the run's --set KEY=VALUE strings, each NUL-terminated,
 *                  so the stored config is re-read exactly as the run used it
 *   "stream_state" data.stream, mid-epoch only: u64 B, u64 width, then
 *                  f32 [B, width], the carried state of every stream
 *                  (nn_recurrent_model_get_state, rows in global order)
 * Unknown tags are ignored by readers, so new ones can be added freely.
 */
#ifndef TRAINER_META_H
#define TRAINER_META_H

#include <stddef.h>

#include "io/ckpt.h"
#include "io/config.h"
#include "nn/layer.h"
#include "nn/model.h"

typedef struct tr_meta {
    char *buf;
    size_t len, cap;
} tr_meta;

/* Append one record (value copied). */
void tr_meta_put(tr_meta *m, const char *tag, const void *val, size_t len);
/* Find a record; returns 1 and sets *val and *vlen (borrowed), or 0.
 * Malformed blobs (lengths beyond the end) return 0. */
int tr_meta_get(const char *buf, size_t len, const char *tag,
                const void **val, size_t *vlen);
void tr_meta_free(tr_meta *m);

void tr_meta_put_shape(tr_meta *m, nn_shape s);
/* 0 on success, 1 if absent or malformed. */
int tr_meta_get_shape(const char *buf, size_t len, nn_shape *s);

/* Record the --set overrides (NULL-free list of n strings). */
void tr_meta_put_overrides(tr_meta *m, char *const *sets, size_t n);

/* The config a checkpoint was written with: its stored text with its
 * stored overrides applied. Errors are labelled "<path> (stored config)". */
int tr_ckpt_config(const io_ckpt *c, const char *path, io_config *cfg,
                   nn_error *err);

/* The checkpoint's model: layers `specs` of cfg on the stored input shape,
 * checked against the stored architecture hash, with the stored
 * parameters. NN_EXIT_DATA if anything does not match. */
int tr_ckpt_model(const io_ckpt *c, const char *path, const nn_spec *specs,
                  size_t n_specs, nn_model **out, nn_error *err);

#endif

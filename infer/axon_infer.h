/* axon_infer.h - run a model trained by axon, anywhere a C compiler runs.
 *
 * libaxon_infer.a is plain C11 with no dependency but the C library and
 * libm: no MPI, BLAS, YAML or zlib. It reads the compact model file that
 * `axon export --format axm` writes (weights only; layout byte by byte in
 * docs/DEPLOY.md), float32 or int8-quantised.
 *
 * Memory: axi_load_* allocates everything a model needs for batches of
 * up to max_batch rows, once; axi_run allocates nothing (larger batches
 * are run max_batch rows at a time). An axi_model is used by one thread
 * at a time; separate models may run in separate threads at once (the
 * library has no global state).
 *
 * Inputs are the raw rows `axon predict` reads (e.g. pixels 0..255): the
 * normalisation the model was trained with is part of the file. Outputs
 * are the last layer's values (logits for a classifier unless the model
 * was exported with its softmax).
 *
 *     axi_model *m;
 *     char msg[256];
 *     if (axi_load_file("model.axm", 1, &m, msg, sizeof msg)) { puts(msg); ... }
 *     float y[10];
 *     axi_run(m, x, 1, y);   // x: axi_input_size(m) floats
 *     axi_free(m);
 */
#ifndef AXON_INFER_H
#define AXON_INFER_H

#include <stddef.h> /* size_t */

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes; every failing call also writes a one-line message. */
enum {
    AXI_OK = 0,
    AXI_ERR_IO = 1,     /* the file cannot be opened or read */
    AXI_ERR_FORMAT = 2, /* not a valid model file: truncated, foreign,
                           corrupt, or sizes beyond the library's limits */
    AXI_ERR_NOMEM = 3,  /* an allocation failed */
    AXI_ERR_ARG = 4     /* a bad argument (NULL pointer, max_batch 0) */
};

typedef struct axi_model axi_model;

/* Load the model in file `path` for batches of up to max_batch (>= 1)
 * rows. On success *out is the model (free it with axi_free) and 0 is
 * returned; otherwise *out is NULL, a status is returned and msg (if not
 * NULL) holds a NUL-terminated message of at most msg_cap bytes. */
int axi_load_file(const char *path, size_t max_batch, axi_model **out,
                  char *msg, size_t msg_cap);

/* The same from the len bytes at buf (copied: buf may be freed after). */
int axi_load_buffer(const void *buf, size_t len, size_t max_batch,
                    axi_model **out, char *msg, size_t msg_cap);

/* The shape of one input row and one output row: fills dims[0..4) and
 * returns the number of dimensions (1 to 4). */
size_t axi_input_shape(const axi_model *m, size_t dims[4]);
size_t axi_output_shape(const axi_model *m, size_t dims[4]);
/* Floats in one input row and one output row. */
size_t axi_input_size(const axi_model *m);
size_t axi_output_size(const axi_model *m);
/* Bytes the model holds: the file's copy and every buffer. */
size_t axi_memory(const axi_model *m);
/* 1 if the file's dense and convolution weights are int8. */
int axi_is_int8(const axi_model *m);

/* y[n, output size] = the model on x[n, input size]. Allocates nothing.
 * Returns 0, or AXI_ERR_ARG for a NULL pointer. */
int axi_run(axi_model *m, const float *x, size_t n, float *y);

/* Free a model (NULL is fine). */
void axi_free(axi_model *m);

#ifdef __cplusplus
}
#endif

#endif

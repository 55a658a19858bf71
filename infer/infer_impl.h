/* infer/infer_impl.h - the inside of an axi_model, shared by the loader
 * (infer/load.c), the op checks and kernels (infer/ops.c) and the run loop
 * (infer/run.c). Not installed: callers see infer/axon_infer.h only. */
#ifndef INFER_INFER_IMPL_H
#define INFER_INFER_IMPL_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* int32_t, uint32_t */

#include "infer/axm_format.h"
#include "infer/axon_infer.h"

typedef struct axi_shape {
    size_t ndim;
    size_t dim[4];
} axi_shape;

typedef struct axi_blob {
    int type;          /* AXM_F32 or AXM_I8 */
    size_t count;
    const void *data;  /* into the model's copy of the file (4-aligned) */
} axi_blob;

typedef struct axi_op {
    unsigned kind;
    size_t n_in;
    size_t in[AXM_MAX_INPUTS];   /* tensor ids */
    size_t n_attr;
    uint32_t attr[AXM_MAX_ATTRS];
    size_t n_blob;
    axi_blob blob[AXM_MAX_BLOBS];
    axi_shape out;               /* output shape, derived at load */
    size_t out_size;             /* floats per output row */
    size_t scratch, qscratch;    /* floats / int8 bytes this op needs */
    int32_t *wsum;               /* int8 ops: per output, sum of weights */
    float *buf;                  /* [max_batch, out_size]; NULL: aliases */
} axi_op;

struct axi_model {
    unsigned char *bytes;  /* the file */
    size_t len;
    int int8;
    axi_shape in;
    size_t n_ops;
    axi_op *ops;
    size_t max_batch;
    float *scratch;
    signed char *qscratch;
    const float **ptr;     /* [n_ops + 1] tensor rows of the current chunk */
    size_t memory;         /* bytes allocated at load (axi_memory) */
};

size_t axi_shape_size(const axi_shape *s);
/* Shape of tensor t (0: the input). */
const axi_shape *axi_tensor_shape(const axi_model *m, size_t t);
/* Check op i (read, inputs earlier) against its inputs' shapes: attributes,
 * blob types and counts; derive its output shape and scratch. 0, or a
 * status with a message in msg. */
int axi_op_check(axi_model *m, size_t i, char *msg, size_t cap);
/* Run op i on n rows: inputs m->ptr[op->in[k]], output buffer op->buf. */
void axi_op_run(axi_model *m, size_t i, size_t n);

#endif

/* infer/run.c - running a loaded model (infer/axon_infer.h): max_batch
 * rows at a time through the ops in file order, each reading earlier
 * tensors; a reshape passes its input's rows on without copying. */
#include <string.h> /* memcpy */

#include "infer/infer_impl.h"

static size_t shape_out(const axi_shape *s, size_t dims[4])
{
    for (size_t i = 0; i < 4; i++) dims[i] = i < s->ndim ? s->dim[i] : 0;
    return s->ndim;
}

size_t axi_input_shape(const axi_model *m, size_t dims[4])
{
    return shape_out(&m->in, dims);
}

size_t axi_output_shape(const axi_model *m, size_t dims[4])
{
    return shape_out(&m->ops[m->n_ops - 1].out, dims);
}

size_t axi_input_size(const axi_model *m)
{
    return axi_shape_size(&m->in);
}

size_t axi_output_size(const axi_model *m)
{
    return m->ops[m->n_ops - 1].out_size;
}

size_t axi_memory(const axi_model *m)
{
    return m->memory;
}

int axi_is_int8(const axi_model *m)
{
    return m->int8;
}

int axi_run(axi_model *m, const float *x, size_t n, float *y)
{
    if (!m || (n && (!x || !y))) return AXI_ERR_ARG;
    size_t in = axi_input_size(m), out = axi_output_size(m);
    for (size_t at = 0; at < n; at += m->max_batch) {
        size_t k = n - at < m->max_batch ? n - at : m->max_batch;
        m->ptr[0] = x + at * in;
        for (size_t i = 0; i < m->n_ops; i++) {
            axi_op *op = &m->ops[i];
            if (op->kind == AXM_RESHAPE) {
                m->ptr[i + 1] = m->ptr[op->in[0]];
                continue;
            }
            axi_op_run(m, i, k);
            m->ptr[i + 1] = op->buf;
        }
        memcpy(y + at * out, m->ptr[m->n_ops], k * out * sizeof *y);
    }
    return 0;
}

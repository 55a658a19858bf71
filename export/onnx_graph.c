/* export/onnx_graph.c - the ONNX graph builder (export/onnx_graph.h). */
#include "export/onnx_graph.h"

#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vsnprintf */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy */

#include "nn/check.h" /* nn_xcalloc, nn_xrealloc */

/* Room for one more element in the array arr of cap. */
#define GROW(arr, n, cap)                                         \
    do {                                                          \
        if ((n) == (cap)) {                                       \
            (cap) = (cap) ? 2 * (cap) : 64;                       \
            (arr) = nn_xrealloc((arr), (cap) * sizeof *(arr));    \
        }                                                         \
    } while (0)

void *ox_alloc(ox_graph *g, size_t bytes)
{
    void *p = nn_xcalloc(1, bytes ? bytes : 1);
    GROW(g->owned, g->n_owned, g->cap_owned);
    g->owned[g->n_owned++] = p;
    return p;
}

char *ox_str(ox_graph *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    NN_CHECK(len >= 0, "ox_str: bad format");
    char *s = ox_alloc(g, (size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *ox_name(ox_graph *g, const char *base, const char *what)
{
    return ox_str(g, "%s/%s_%zu", base, what, g->serial++);
}

static Onnx__TensorProto *add_init(ox_graph *g, const char *name, int type,
                                   const int64_t *dims, size_t nd,
                                   const void *data, size_t bytes)
{
    Onnx__TensorProto *t = ox_alloc(g, sizeof *t);
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = nd;
    t->dims = ox_alloc(g, nd * sizeof *t->dims);
    if (nd) memcpy(t->dims, dims, nd * sizeof *dims);
    /* raw_data is little-endian, as on every machine axon builds on */
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = ox_alloc(g, bytes);
    if (bytes) memcpy(t->raw_data.data, data, bytes);
    GROW(g->inits, g->n_inits, g->cap_inits);
    g->inits[g->n_inits++] = t;
    return t;
}

const char *ox_const_f(ox_graph *g, const char *base, const char *what,
                       const float *data, const int64_t *dims, size_t nd)
{
    size_t count = 1;
    for (size_t i = 0; i < nd; i++) count *= (size_t)dims[i];
    const char *name = ox_name(g, base, what);
    add_init(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, nd, data,
             count * sizeof(float));
    return name;
}

const char *ox_const_i64(ox_graph *g, const char *base, const char *what,
                         const int64_t *v, size_t n)
{
    const char *name = ox_name(g, base, what);
    int64_t dim = (int64_t)n;
    add_init(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, &dim, 1, v,
             n * sizeof *v);
    return name;
}

Onnx__NodeProto *ox_node(ox_graph *g, const char *op_type,
                         const char *const *in, size_t n_in,
                         const char *const *out, size_t n_out)
{
    Onnx__NodeProto *n = ox_alloc(g, sizeof *n);
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->op_type = (char *)op_type;
    n->name = ox_str(g, "%s_%zu", op_type, g->n_nodes);
    n->n_input = n_in;
    n->input = ox_alloc(g, n_in * sizeof *n->input);
    for (size_t i = 0; i < n_in; i++) n->input[i] = (char *)in[i];
    n->n_output = n_out;
    n->output = ox_alloc(g, n_out * sizeof *n->output);
    for (size_t i = 0; i < n_out; i++) n->output[i] = (char *)out[i];
    n->attribute = ox_alloc(g, OX_MAX_ATTRS * sizeof *n->attribute);
    GROW(g->nodes, g->n_nodes, g->cap_nodes);
    g->nodes[g->n_nodes++] = n;
    return n;
}

Onnx__NodeProto *ox_node1(ox_graph *g, const char *op_type,
                          const char *const *in, size_t n_in,
                          const char *out)
{
    return ox_node(g, op_type, in, n_in, &out, 1);
}

static Onnx__AttributeProto *add_attr(ox_graph *g, Onnx__NodeProto *n,
                                      const char *name, int type)
{
    NN_CHECK(n->n_attribute < OX_MAX_ATTRS, "%s: too many attributes",
             n->op_type);
    Onnx__AttributeProto *a = ox_alloc(g, sizeof *a);
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

void ox_attr_int(ox_graph *g, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a =
        add_attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

void ox_attr_float(ox_graph *g, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a =
        add_attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

void ox_attr_ints(ox_graph *g, Onnx__NodeProto *n, const char *name,
                  const int64_t *v, size_t count)
{
    Onnx__AttributeProto *a =
        add_attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = count;
    a->ints = ox_alloc(g, count * sizeof *a->ints);
    memcpy(a->ints, v, count * sizeof *v);
}

Onnx__ValueInfoProto *ox_value_info(ox_graph *g, const char *name,
                                    const size_t *dims, size_t nd)
{
    Onnx__TensorShapeProto *sh = ox_alloc(g, sizeof *sh);
    *sh = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    sh->n_dim = nd + 1;
    sh->dim = ox_alloc(g, (nd + 1) * sizeof *sh->dim);
    for (size_t i = 0; i <= nd; i++) {
        Onnx__TensorShapeProto__Dimension *d = ox_alloc(g, sizeof *d);
        *d = (Onnx__TensorShapeProto__Dimension)
            ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = (int64_t)dims[i - 1];
        }
        sh->dim[i] = d;
    }
    Onnx__TypeProto__Tensor *tt = ox_alloc(g, sizeof *tt);
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    Onnx__TypeProto *tp = ox_alloc(g, sizeof *tp);
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    Onnx__ValueInfoProto *v = ox_alloc(g, sizeof *v);
    *v = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    v->name = (char *)name;
    v->type = tp;
    return v;
}

void ox_graph_free(ox_graph *g)
{
    for (size_t i = 0; i < g->n_owned; i++) free(g->owned[i]);
    free(g->owned);
    free(g->nodes);
    free(g->inits);
    memset(g, 0, sizeof *g);
}

/* export/onnx_graph.h - building an ONNX graph with protobuf-c's generated
 * structs (onnx.pb-c.h, made at build time by protoc-c from the
 * onnx.proto that Debian's libonnx-dev ships).
 *
 * Every struct and string the graph holds is allocated through the
 * builder and freed with it (ox_graph_free), so the emitters of
 * export/onnx_layers.c only name tensors and never free anything.
 * Tensors are float32 unless named otherwise; a batch dimension "N"
 * leads every activation.
 */
#ifndef EXPORT_ONNX_GRAPH_H
#define EXPORT_ONNX_GRAPH_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* int64_t */

#include "onnx.pb-c.h"

typedef struct ox_graph {
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    void **owned;             /* everything allocated for the graph */
    size_t n_owned, cap_owned;
    size_t serial;            /* makes tensor names unique */
} ox_graph;

/* Zeroed memory owned by g (freed by ox_graph_free); never NULL. */
void *ox_alloc(ox_graph *g, size_t bytes);
/* A copy of printf-style text owned by g. */
char *ox_str(ox_graph *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A fresh tensor name "<base>/<what>_<k>", unique in the graph. */
char *ox_name(ox_graph *g, const char *base, const char *what);

/* An initializer (a constant tensor) of `count` floats copied from data,
 * of shape dims[0..nd); returns its name (a fresh one from base, what). */
const char *ox_const_f(ox_graph *g, const char *base, const char *what,
                       const float *data, const int64_t *dims, size_t nd);
/* A 1-d int64 initializer of n values (Reshape shapes, axes). */
const char *ox_const_i64(ox_graph *g, const char *base, const char *what,
                         const int64_t *v, size_t n);

/* Append a node op_type(in[0..n_in)) -> out[0..n_out) (an empty string
 * marks an optional input or output left out). Names are borrowed: they
 * must live as long as g (ox_* names do). */
Onnx__NodeProto *ox_node(ox_graph *g, const char *op_type,
                         const char *const *in, size_t n_in,
                         const char *const *out, size_t n_out);
/* The common case: one output. */
Onnx__NodeProto *ox_node1(ox_graph *g, const char *op_type,
                          const char *const *in, size_t n_in,
                          const char *out);

/* Attributes (at most OX_MAX_ATTRS per node). */
#define OX_MAX_ATTRS 8
void ox_attr_int(ox_graph *g, Onnx__NodeProto *n, const char *name, int64_t v);
void ox_attr_float(ox_graph *g, Onnx__NodeProto *n, const char *name,
                   float v);
void ox_attr_ints(ox_graph *g, Onnx__NodeProto *n, const char *name,
                  const int64_t *v, size_t count);

/* A graph input or output: a float tensor [N, dims...]. */
Onnx__ValueInfoProto *ox_value_info(ox_graph *g, const char *name,
                                    const size_t *dims, size_t nd);

void ox_graph_free(ox_graph *g);

#endif

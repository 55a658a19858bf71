/* nn/model_graph.h - the parts of nn/model.c that make a layer list a
 * graph: reading each layer's `inputs`, checking every output is read, and
 * planning the backward gradient buffers. Internal to nn/model*.c.
 */
#ifndef NN_MODEL_GRAPH_H
#define NN_MODEL_GRAPH_H

#include "nn/model.h"

/* Fill m->nodes[i] from spec i's optional `inputs` (marking the key used):
 * names of layers before i among specs[0..i), or `input` for the model
 * input; absent means the previous layer (the input for i = 0). Errors
 * (unknown, own or later name, duplicates, too many, empty) are
 * "file:line: layer 'x' (type): inputs: ..." and return NN_EXIT_USAGE. */
int nn_graph_read_inputs(nn_model *m, size_t i, nn_spec *specs, size_t n,
                         nn_error *err);

/* After every layer is set up: reject a layer (not the last) whose output
 * no later layer reads. */
int nn_graph_check_used(const nn_model *m, const nn_spec *specs,
                        nn_error *err);

/* Plan the gradient buffers (m->tslot, n_gbufs, gbuf_w, gacc_w) and
 * allocate the per-backward flags. Rows are not known yet: reserve sizes
 * the buffers. */
void nn_graph_plan(nn_model *m);

/* Shape of tensor t (0: the model input). */
nn_shape nn_graph_tensor_shape(const nn_model *m, size_t t);

/* Name of tensor t: "input" or its layer's name. */
const char *nn_graph_tensor_name(const nn_model *m, size_t t);

#endif

/* export/onnx_layers.h - the table of ONNX emitters, one per layer kind
 * that has a faithful ONNX form (export/onnx_layers.c). */
#ifndef EXPORT_ONNX_LAYERS_H
#define EXPORT_ONNX_LAYERS_H

#include "export/onnx_graph.h"
#include "nn/layer.h"

/* An emitter appends the nodes computing layer l (inference mode) from
 * the tensors named in[0 .. l->n_in) into the tensor named out. Returns 0,
 * or NN_EXIT_USAGE with err naming the layer when a setting of it has no
 * ONNX form. */
#define EMIT_ARGS ox_graph *g, const nn_layer *l, const char *const *in, \
                  const char *out, nn_error *err
typedef struct ox_emitter {
    const char *type; /* the layer's YAML type */
    int (*emit)(EMIT_ARGS);
} ox_emitter;

/* The emitter of a layer type, or NULL: no faithful ONNX form. */
const ox_emitter *ox_emitter_find(const char *type);

#endif

/* export/onnx.c - a model as an ONNX ModelProto (export/export.h).
 *
 * The graph: input "input" [N, in...] (raw rows) -> the normalisation of
 * data.normalize (Mul, or Sub and Div) -> every layer in the model's
 * topological order, each through its emitter (export/onnx_layers.c),
 * reading the tensors its node names -> Softmax (on request) or Identity
 * -> output "output". Layer i's output tensor carries the layer's name.
 * The protobuf is packed by protobuf-c from the structs protoc-c generated
 * from ONNX's own onnx.proto.
 */
#include <limits.h> /* INT_MAX */
#include <stdlib.h> /* free */
#include <string.h> /* strcmp */

#include "export/export.h"
#include "export/onnx_layers.h"
#include "nn/check.h"

#define ONNX_IR_VERSION 8 /* ONNX 1.12, the onnx.proto Debian ships */
#define ONNX_OPSET 17

/* The normalised input's name (raw rows -> what the first layer reads). */
static const char *emit_norm(ox_graph *g, const nn_model *m,
                             const ex_norm *norm)
{
    if (!norm || norm->kind == EX_NORM_NONE) return "input";
    const char *x = "input";
    if (norm->kind == EX_NORM_SCALE) {
        const char *in[2] = {x, ox_const_f(g, "input", "scale", &norm->scale,
                                           NULL, 0)};
        ox_node1(g, "Mul", in, 2, "input/normalised");
        return "input/normalised";
    }
    size_t w = nn_shape_size(m->in);
    float *mean = ox_alloc(g, w * sizeof *mean);
    float *std = ox_alloc(g, w * sizeof *std);
    for (size_t j = 0; j < w; j++) {
        mean[j] = (float)norm->mean[j];
        std[j] = (float)(norm->std[j] < 1e-12 ? 1.0 : norm->std[j]);
    }
    int64_t dims[NN_MAX_DIMS];
    for (size_t i = 0; i < m->in.ndim; i++) dims[i] = (int64_t)m->in.dim[i];
    const char *sub[2] = {x, ox_const_f(g, "input", "mean", mean, dims,
                                        m->in.ndim)};
    ox_node1(g, "Sub", sub, 2, "input/centred");
    const char *div[2] = {"input/centred",
                          ox_const_f(g, "input", "std", std, dims, m->in.ndim)};
    ox_node1(g, "Div", div, 2, "input/normalised");
    return "input/normalised";
}

/* Every layer's nodes; names[t] is tensor t's name. */
static int emit_layers(ox_graph *g, const nn_model *m, const char **names,
                       nn_error *err)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        const ox_emitter *e = ox_emitter_find(l->ops->type);
        if (!e)
            return nn_error_set(err, NN_EXIT_USAGE,
                                "layer '%s' (%s) has no faithful ONNX form; "
                                "the model cannot be exported to ONNX",
                                l->name, l->ops->type);
        const char *in[NN_MAX_INPUTS];
        for (size_t k = 0; k < m->nodes[i].n_in; k++)
            in[k] = names[m->nodes[i].in[k]];
        names[i + 1] = ox_str(g, "%s", l->name);
        int st = e->emit(g, l, in, names[i + 1], err);
        if (st) return st;
    }
    return 0;
}

/* Pack the model around graph gp and write it. */
static int write_model(Onnx__GraphProto *gp, const char *path, nn_error *err)
{
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    opset.domain = "";
    opset.has_version = 1;
    opset.version = ONNX_OPSET;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    mp.has_ir_version = 1;
    mp.ir_version = ONNX_IR_VERSION;
    mp.n_opset_import = 1;
    mp.opset_import = opsets;
    mp.producer_name = "axon";
    mp.graph = gp;
    size_t len = onnx__model_proto__get_packed_size(&mp);
    if (len > (size_t)INT_MAX) /* protobuf's 2 GB limit */
        return nn_error_set(err, NN_EXIT_USAGE, "%s: the model needs %zu "
                            "bytes, more than ONNX's 2 GB limit",
                            path, len);
    unsigned char *buf = nn_xmalloc(len ? len : 1);
    onnx__model_proto__pack(&mp, buf);
    int st = ex_write_file(path, buf, len, err);
    free(buf);
    return st;
}

int ex_onnx_write(const nn_model *m, const ex_norm *norm, int softmax,
                  const char *path, nn_error *err)
{
    ox_graph g = {0};
    const char **names = nn_xcalloc(m->n_layers + 1, sizeof *names);
    names[0] = emit_norm(&g, m, norm);
    int st = emit_layers(&g, m, names, err);
    if (st) goto done;
    const char *last = names[m->n_layers];
    if (softmax) ox_attr_int(&g, ox_node1(&g, "Softmax", &last, 1, "output"),
                             "axis", -1);
    else ox_node1(&g, "Identity", &last, 1, "output");
    nn_shape out = nn_model_out_shape(m);
    Onnx__ValueInfoProto *vin = ox_value_info(&g, "input", m->in.dim,
                                              m->in.ndim);
    Onnx__ValueInfoProto *vout = ox_value_info(&g, "output", out.dim,
                                               out.ndim);
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    gp.name = "axon";
    gp.n_node = g.n_nodes;
    gp.node = g.nodes;
    gp.n_initializer = g.n_inits;
    gp.initializer = g.inits;
    gp.n_input = 1;
    gp.input = &vin;
    gp.n_output = 1;
    gp.output = &vout;
    st = write_model(&gp, path, err);
done:
    free(names);
    ox_graph_free(&g);
    return st;
}

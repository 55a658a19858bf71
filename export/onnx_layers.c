/* export/onnx_layers.c - each layer kind as ONNX operators (opset 17),
 * computing exactly what the layer's forward computes in inference mode.
 *
 * Every activation is [N, sample shape...]. A layer kind that has no
 * entry in the table below has no faithful ONNX form and is refused.
 * Weight layouts: dense W[out, in] is Gemm's B with transB = 1; conv2d's
 * Wt[M, C*R*S] is Conv's W[M, C, R, S] as it stands. Recurrent layers
 * take ONNX's gate orders and bias halves: lstm i,f,g,o -> i,o,f,c;
 * gru r,z,n -> z,r,h with linear_before_reset = 1 (axon's gru is that
 * variant: the reset gate scales Wh h + bh); the input projection's bias
 * is Wb, the recurrent bias Rb (zero but gru's candidate block).
 */
#include "export/onnx_layers.h"

#include <string.h> /* memcpy, strcmp */

#include "nn/check.h"

static const char *w_name(ox_graph *g, const nn_layer *l, size_t view,
                          const int64_t *dims, size_t nd)
{
    return ox_const_f(g, l->name, l->views[view].name,
                      nn_layer_tensor(l, view), dims, nd);
}

/* [N, batch dims...] with the sample shape s: Reshape to [-1, s...]. */
static const char *reshape_to(ox_graph *g, const nn_layer *l, const char *x,
                              nn_shape s, const char *out)
{
    int64_t dims[NN_MAX_DIMS + 1] = {-1};
    for (size_t i = 0; i < s.ndim; i++) dims[i + 1] = (int64_t)s.dim[i];
    const char *in[2] = {x, ox_const_i64(g, l->name, "shape", dims,
                                         s.ndim + 1)};
    if (!out) out = ox_name(g, l->name, "reshaped");
    ox_node1(g, "Reshape", in, 2, out);
    return out;
}

static int emit_unary(ox_graph *g, const nn_layer *l, const char *op,
                      const char *const *in, const char *out)
{
    (void)l;
    ox_node1(g, op, in, 1, out);
    return 0;
}

static int emit_relu(EMIT_ARGS) { (void)err; return emit_unary(g, l, "Relu", in, out); }
static int emit_sigmoid(EMIT_ARGS) { (void)err; return emit_unary(g, l, "Sigmoid", in, out); }
static int emit_tanh(EMIT_ARGS) { (void)err; return emit_unary(g, l, "Tanh", in, out); }
/* Dropout is the identity in inference mode. */
static int emit_identity(EMIT_ARGS) { (void)err; return emit_unary(g, l, "Identity", in, out); }

static int emit_leaky(EMIT_ARGS)
{
    (void)err;
    nn_layer_attrs a = {0};
    l->ops->attrs(l, &a);
    ox_attr_float(g, ox_node1(g, "LeakyRelu", in, 1, out), "alpha",
                  (float)a.slope);
    return 0;
}

/* Over the last axis, as nn/activation.c's softmax. */
static int emit_softmax(EMIT_ARGS)
{
    (void)err, (void)l;
    ox_attr_int(g, ox_node1(g, "Softmax", in, 1, out), "axis", -1);
    return 0;
}

/* y = x W^T + b over the flattened sample, or per step of the last axis
 * (time_distributed: MatMul by W^T, which broadcasts over the steps). */
static int emit_dense(EMIT_ARGS)
{
    (void)err;
    int bias = l->n_views > 1;
    size_t units = l->out.dim[l->out.ndim - 1];
    size_t fin = l->views[0].count / units;
    const float *w = nn_layer_tensor(l, 0);
    if (l->out.ndim > 1) {
        float *wt = ox_alloc(g, units * fin * sizeof *wt);
        for (size_t o = 0; o < units; o++)
            for (size_t i = 0; i < fin; i++) wt[i * units + o] = w[o * fin + i];
        int64_t dims[2] = {(int64_t)fin, (int64_t)units};
        const char *mm[2] = {in[0], ox_const_f(g, l->name, "weight_t", wt,
                                               dims, 2)};
        const char *y = bias ? ox_name(g, l->name, "matmul") : out;
        ox_node1(g, "MatMul", mm, 2, y);
        if (bias) {
            int64_t bd = (int64_t)units;
            const char *ad[2] = {y, w_name(g, l, 1, &bd, 1)};
            ox_node1(g, "Add", ad, 2, out);
        }
        return 0;
    }
    const char *x = in[0];
    if (l->in.ndim > 1) {
        x = ox_name(g, l->name, "flat");
        ox_attr_int(g, ox_node1(g, "Flatten", in, 1, x), "axis", 1);
    }
    int64_t wd[2] = {(int64_t)units, (int64_t)fin}, bd = (int64_t)units;
    const char *gin[3] = {x, w_name(g, l, 0, wd, 2),
                          bias ? w_name(g, l, 1, &bd, 1) : ""};
    ox_attr_int(g, ox_node1(g, "Gemm", gin, bias ? 3 : 2, out), "transB", 1);
    return 0;
}

static int emit_conv(EMIT_ARGS)
{
    (void)err;
    nn_layer_attrs a = {0};
    l->ops->attrs(l, &a);
    int64_t M = (int64_t)l->out.dim[0], C = (int64_t)l->in.dim[0];
    int64_t wd[4] = {M, C, (int64_t)a.kernel[0], (int64_t)a.kernel[1]};
    int bias = l->n_views > 1;
    const char *cin[3] = {in[0], w_name(g, l, 0, wd, 4),
                          bias ? w_name(g, l, 1, &M, 1) : ""};
    Onnx__NodeProto *n = ox_node1(g, "Conv", cin, bias ? 3 : 2, out);
    int64_t k[2] = {(int64_t)a.kernel[0], (int64_t)a.kernel[1]};
    int64_t s[2] = {(int64_t)a.stride[0], (int64_t)a.stride[1]};
    int64_t p[4] = {(int64_t)a.pad[0], (int64_t)a.pad[1], (int64_t)a.pad[0],
                    (int64_t)a.pad[1]};
    ox_attr_ints(g, n, "kernel_shape", k, 2);
    ox_attr_ints(g, n, "strides", s, 2);
    ox_attr_ints(g, n, "pads", p, 4);
    return 0;
}

/* No padding; windows past the edge are not formed (floor), as ONNX's
 * default ceil_mode = 0. */
static int emit_pool(ox_graph *g, const nn_layer *l, const char *op,
                     const char *const *in, const char *out)
{
    nn_layer_attrs a = {0};
    l->ops->attrs(l, &a);
    Onnx__NodeProto *n = ox_node1(g, op, in, 1, out);
    int64_t k[2] = {(int64_t)a.kernel[0], (int64_t)a.kernel[1]};
    int64_t s[2] = {(int64_t)a.stride[0], (int64_t)a.stride[1]};
    ox_attr_ints(g, n, "kernel_shape", k, 2);
    ox_attr_ints(g, n, "strides", s, 2);
    return 0;
}

static int emit_maxpool(EMIT_ARGS) { (void)err; return emit_pool(g, l, "MaxPool", in, out); }
static int emit_avgpool(EMIT_ARGS) { (void)err; return emit_pool(g, l, "AveragePool", in, out); }

/* [N, C, H, W] -> [N, C, 1, 1] -> [N, C]. */
static int emit_gap(EMIT_ARGS)
{
    (void)err;
    const char *m = ox_name(g, l->name, "mean");
    ox_node1(g, "GlobalAveragePool", in, 1, m);
    ox_attr_int(g, ox_node1(g, "Flatten", &m, 1, out), "axis", 1);
    return 0;
}

/* Inference mode: the running statistics; [N, F] or [N, C, H, W]. */
static int emit_batchnorm(EMIT_ARGS)
{
    (void)err;
    nn_layer_attrs a = {0};
    l->ops->attrs(l, &a);
    int64_t C = (int64_t)l->in.dim[0];
    const char *bin[5] = {in[0], w_name(g, l, 0, &C, 1), w_name(g, l, 1, &C, 1),
                          w_name(g, l, 2, &C, 1), w_name(g, l, 3, &C, 1)};
    ox_attr_float(g, ox_node1(g, "BatchNormalization", bin, 5, out),
                  "epsilon", (float)a.eps);
    return 0;
}

static int emit_layernorm(EMIT_ARGS)
{
    (void)err;
    nn_layer_attrs a = {0};
    l->ops->attrs(l, &a);
    int64_t C = (int64_t)l->in.dim[l->in.ndim - 1];
    const char *lin[3] = {in[0], w_name(g, l, 0, &C, 1), w_name(g, l, 1, &C, 1)};
    Onnx__NodeProto *n = ox_node1(g, "LayerNormalization", lin, 3, out);
    ox_attr_int(g, n, "axis", -1);
    ox_attr_float(g, n, "epsilon", (float)a.eps);
    return 0;
}

static int emit_reshape(EMIT_ARGS)
{
    (void)err;
    reshape_to(g, l, in[0], l->out, out);
    return 0;
}

/* ids -> floor(id + 0.5) as int64 -> rows of [W; 0]: the extra zero row
 * is what the padding id -1 selects, as the layer's zero vector. */
static int emit_embedding(EMIT_ARGS)
{
    (void)err;
    size_t dim = l->out.dim[l->out.ndim - 1];
    size_t vocab = l->views[0].count / dim;
    size_t T = nn_shape_size(l->in);
    float *w = ox_alloc(g, (vocab + 1) * dim * sizeof *w);
    memcpy(w, nn_layer_tensor(l, 0), vocab * dim * sizeof *w);
    int64_t wd[2] = {(int64_t)vocab + 1, (int64_t)dim};
    const char *x = in[0];
    if (l->in.ndim != 1) x = reshape_to(g, l, x, nn_shape_1d(T), NULL);
    float half = 0.5f;
    const char *ad[2] = {x, ox_const_f(g, l->name, "half", &half, NULL, 0)};
    const char *r = ox_name(g, l->name, "plus_half");
    ox_node1(g, "Add", ad, 2, r);
    const char *f = ox_name(g, l->name, "floor");
    ox_node1(g, "Floor", &r, 1, f);
    const char *id = ox_name(g, l->name, "ids");
    ox_attr_int(g, ox_node1(g, "Cast", &f, 1, id), "to",
                ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    const char *gin[2] = {ox_const_f(g, l->name, "weight", w, wd, 2), id};
    ox_attr_int(g, ox_node1(g, "Gather", gin, 2, out), "axis", 0);
    return 0;
}

static int emit_position(EMIT_ARGS)
{
    (void)err;
    int64_t d[2] = {(int64_t)l->in.dim[0], (int64_t)l->in.dim[1]};
    const char *ad[2] = {in[0], w_name(g, l, 0, d, 2)};
    ox_node1(g, "Add", ad, 2, out);
    return 0;
}

/* GPT-2's tanh form as nn/gelu.c computes it: x sigmoid(2 s (x + a x^3)). */
static int emit_gelu(EMIT_ARGS)
{
    (void)err;
    const float a = 0.044715f, s2 = 2.0f * 0.7978845608028654f;
    const char *c_a = ox_const_f(g, l->name, "a", &a, NULL, 0);
    const char *c_s = ox_const_f(g, l->name, "two_s", &s2, NULL, 0);
    const char *x2 = ox_name(g, l->name, "x2"), *x3 = ox_name(g, l->name, "x3");
    const char *ax3 = ox_name(g, l->name, "ax3"), *u = ox_name(g, l->name, "u");
    const char *z = ox_name(g, l->name, "z"), *sg = ox_name(g, l->name, "sig");
    const char *m1[2] = {in[0], in[0]}, *m2[2] = {x2, in[0]};
    const char *m3[2] = {x3, c_a}, *m4[2] = {in[0], ax3};
    const char *m5[2] = {u, c_s}, *m6[2] = {in[0], sg};
    ox_node1(g, "Mul", m1, 2, x2);
    ox_node1(g, "Mul", m2, 2, x3);
    ox_node1(g, "Mul", m3, 2, ax3);
    ox_node1(g, "Add", m4, 2, u);
    ox_node1(g, "Mul", m5, 2, z);
    ox_node1(g, "Sigmoid", &z, 1, sg);
    ox_node1(g, "Mul", m6, 2, out);
    return 0;
}

static int emit_add(EMIT_ARGS)
{
    (void)err;
    ox_node1(g, l->n_in == 2 ? "Add" : "Sum", in, l->n_in, out);
    return 0;
}

/* nn/join.c joins [T, F] along F, [F] and [C, H, W] along their first
 * axis; axis 0 is the batch here. */
static int emit_concat(EMIT_ARGS)
{
    (void)err;
    ox_attr_int(g, ox_node1(g, "Concat", in, l->n_in, out), "axis",
                l->out.ndim == 2 ? 2 : 1);
    return 0;
}

/* Blocks of H rows of src[G*H, cols] in the order `order` into dst. */
static void reorder_gates(float *dst, const float *src, const size_t *order,
                          size_t G, size_t H, size_t cols)
{
    for (size_t k = 0; k < G; k++)
        memcpy(dst + k * H * cols, src + order[k] * H * cols,
               H * cols * sizeof *dst);
}

/* x [N, T, F] -> [T, N, F] -> RNN/LSTM/GRU -> Y [T, 1, N, H] or
 * Y_h [1, N, H] -> [N, T, H] or [N, H]. */
static int emit_recurrent(EMIT_ARGS)
{
    nn_layer_attrs a = {0};
    l->ops->attrs(l, &a);
    if (a.stateful)
        return nn_error_set(err, NN_EXIT_USAGE,
                            "layer '%s' (%s): stateful: true carries its "
                            "state across batches; ONNX has no such form",
                            l->name, l->ops->type);
    static const size_t lstm_order[4] = {0, 3, 1, 2}; /* i, o, f, c */
    static const size_t gru_order[3] = {1, 0, 2};     /* z, r, h */
    static const size_t rnn_order[1] = {0};
    int lstm = !strcmp(l->ops->type, "lstm"), gru = !strcmp(l->ops->type, "gru");
    const size_t *order = lstm ? lstm_order : gru ? gru_order : rnn_order;
    const char *op = lstm ? "LSTM" : gru ? "GRU" : "RNN";
    size_t F = l->in.dim[1], G = lstm ? 4 : gru ? 3 : 1;
    size_t H = l->views[2].count / G;
    float *W = ox_alloc(g, G * H * F * sizeof *W);
    float *R = ox_alloc(g, G * H * H * sizeof *R);
    float *B = ox_alloc(g, 2 * G * H * sizeof *B);
    reorder_gates(W, nn_layer_tensor(l, 0), order, G, H, F);
    reorder_gates(R, nn_layer_tensor(l, 1), order, G, H, H);
    reorder_gates(B, nn_layer_tensor(l, 2), order, G, H, 1);
    if (gru) memcpy(B + G * H + 2 * H, nn_layer_tensor(l, 3), H * sizeof *B);
    int64_t wd[3] = {1, (int64_t)(G * H), (int64_t)F};
    int64_t rd[3] = {1, (int64_t)(G * H), (int64_t)H};
    int64_t bd[2] = {1, (int64_t)(2 * G * H)};
    const char *xt = ox_name(g, l->name, "time_major");
    int64_t perm[3] = {1, 0, 2};
    ox_attr_ints(g, ox_node1(g, "Transpose", in, 1, xt), "perm", perm, 3);
    const char *rin[4] = {xt, ox_const_f(g, l->name, "W", W, wd, 3),
                          ox_const_f(g, l->name, "R", R, rd, 3),
                          ox_const_f(g, l->name, "B", B, bd, 2)};
    const char *y = ox_name(g, l->name, "Y"), *yh = ox_name(g, l->name, "Y_h");
    const char *outs[2] = {a.sequences ? y : "", yh};
    Onnx__NodeProto *n = ox_node(g, op, rin, 4, outs, 2);
    ox_attr_int(g, n, "hidden_size", (int64_t)H);
    if (gru) ox_attr_int(g, n, "linear_before_reset", 1);
    int64_t ax = a.sequences ? 1 : 0;
    const char *sq[2] = {a.sequences ? y : yh,
                         ox_const_i64(g, l->name, "axis", &ax, 1)};
    const char *s = a.sequences ? ox_name(g, l->name, "squeezed") : out;
    ox_node1(g, "Squeeze", sq, 2, s);
    if (a.sequences)
        ox_attr_ints(g, ox_node1(g, "Transpose", &s, 1, out), "perm", perm, 3);
    return 0;
}

static const ox_emitter emitters[] = {
    {"dense", emit_dense},
    {"conv2d", emit_conv},
    {"maxpool2d", emit_maxpool},
    {"avgpool2d", emit_avgpool},
    {"global_avgpool", emit_gap},
    {"batchnorm", emit_batchnorm},
    {"layernorm", emit_layernorm},
    {"dropout", emit_identity},
    {"relu", emit_relu},
    {"leaky_relu", emit_leaky},
    {"sigmoid", emit_sigmoid},
    {"tanh", emit_tanh},
    {"softmax", emit_softmax},
    {"gelu", emit_gelu},
    {"reshape", emit_reshape},
    {"flatten", emit_reshape},
    {"embedding", emit_embedding},
    {"position_embedding", emit_position},
    {"rnn", emit_recurrent},
    {"lstm", emit_recurrent},
    {"gru", emit_recurrent},
    {"add", emit_add},
    {"concat", emit_concat},
};

const ox_emitter *ox_emitter_find(const char *type)
{
    for (size_t i = 0; i < sizeof emitters / sizeof *emitters; i++)
        if (!strcmp(emitters[i].type, type)) return &emitters[i];
    return NULL;
}

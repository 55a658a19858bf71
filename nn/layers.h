/* nn/layers.h - the ops table of every layer kind, for nn/registry.c.
 *
 * One line per kind; each is defined in nn/<kind>.c (several activations
 * share nn/activation.c). A new kind adds its line here and in the
 * registry table.
 */
#ifndef NN_LAYERS_H
#define NN_LAYERS_H

#include "nn/layer.h"

extern const nn_layer_ops nn_dense_ops;     /* nn/dense.c */
extern const nn_layer_ops nn_relu_ops;      /* nn/activation.c */
extern const nn_layer_ops nn_leaky_relu_ops; /* nn/activation.c */
extern const nn_layer_ops nn_sigmoid_ops;   /* nn/activation.c */
extern const nn_layer_ops nn_tanh_ops;      /* nn/activation.c */
extern const nn_layer_ops nn_softmax_ops;   /* nn/activation.c */
extern const nn_layer_ops nn_conv2d_ops;    /* nn/conv2d.c */
extern const nn_layer_ops nn_maxpool2d_ops; /* nn/pool.c */
extern const nn_layer_ops nn_avgpool2d_ops; /* nn/pool.c */
extern const nn_layer_ops nn_flatten_ops;   /* nn/flatten.c */
extern const nn_layer_ops nn_reshape_ops;   /* nn/reshape.c */
extern const nn_layer_ops nn_dropout_ops;   /* nn/dropout.c */
extern const nn_layer_ops nn_batchnorm_ops; /* nn/batchnorm.c */
extern const nn_layer_ops nn_embedding_ops; /* nn/embedding.c */
extern const nn_layer_ops nn_rnn_ops;       /* nn/rnn.c */
extern const nn_layer_ops nn_lstm_ops;      /* nn/lstm.c */
extern const nn_layer_ops nn_gru_ops;       /* nn/gru.c */
extern const nn_layer_ops nn_layernorm_ops; /* nn/layernorm.c */
extern const nn_layer_ops nn_gelu_ops;      /* nn/gelu.c */
extern const nn_layer_ops nn_position_embedding_ops; /* nn/position_embedding.c */
extern const nn_layer_ops nn_attention_ops; /* nn/attention.c */
extern const nn_layer_ops nn_add_ops;       /* nn/join.c */
extern const nn_layer_ops nn_concat_ops;    /* nn/join.c */
extern const nn_layer_ops nn_global_avgpool_ops; /* nn/global_avgpool.c */
extern const nn_layer_ops nn_upsample_ops;  /* nn/upsample.c */

#endif

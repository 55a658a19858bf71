/* nn/registry.c - YAML `type:` name -> layer ops (see nn/layer.h).
 * Adding a layer kind = one line in this table (and its extern in
 * nn/layers.h). */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strcmp */

#include "nn/layer.h"
#include "nn/layers.h"

static const nn_layer_ops *const registry[] = {
    &nn_dense_ops,
    &nn_relu_ops,
    &nn_leaky_relu_ops,
    &nn_sigmoid_ops,
    &nn_tanh_ops,
    &nn_softmax_ops,
    &nn_conv2d_ops,
    &nn_maxpool2d_ops,
    &nn_avgpool2d_ops,
    &nn_flatten_ops,
    &nn_reshape_ops,
    &nn_dropout_ops,
    &nn_batchnorm_ops,
    &nn_embedding_ops,
    &nn_rnn_ops,
    &nn_lstm_ops,
    &nn_gru_ops,
    &nn_layernorm_ops,
    &nn_gelu_ops,
    &nn_position_embedding_ops,
    &nn_attention_ops,
    &nn_add_ops,
    &nn_concat_ops,
    &nn_global_avgpool_ops,
    &nn_upsample_ops,
};

#define N_REGISTRY (sizeof registry / sizeof registry[0])

const nn_layer_ops *nn_layer_find(const char *type)
{
    if (!type) return NULL;
    for (size_t i = 0; i < N_REGISTRY; i++)
        if (strcmp(registry[i]->type, type) == 0) return registry[i];
    return NULL;
}

const char *nn_layer_types(void)
{
    /* Built on each call into a static buffer: the table is constant, so
     * the text is the same every time (no state that could go stale). */
    static char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < N_REGISTRY; i++) {
        int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                         registry[i]->type);
        if (w < 0 || (size_t)w >= sizeof list - len) break;
        len += (size_t)w;
    }
    return list;
}

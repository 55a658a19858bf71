/* nn/model_graph.c - layer inputs and the gradient buffer plan (see
 * nn/model_graph.h and nn/model.h).
 *
 * Gradient liveness: the gradient of tensor t (the output of layer t - 1)
 * begins when its LAST reader runs its backward (backward goes from the
 * last layer to the first) and ends when layer t - 1 has used it as its
 * dy. Two tensors whose intervals do not overlap can share one buffer, so
 * the plan walks the layers backwards, hands each tensor a free buffer at
 * its last reader (widening the buffer if needed) and frees it after its
 * producer. In a chain this gives exactly two buffers used alternately.
 */
#include "nn/model_graph.h"

#include <stdlib.h> /* free */
#include <string.h> /* strcmp, strlen */

#include "nn/check.h"

nn_shape nn_graph_tensor_shape(const nn_model *m, size_t t)
{
    return t == 0 ? m->in : m->layers[t - 1].out;
}

const char *nn_graph_tensor_name(const nn_model *m, size_t t)
{
    return t == 0 ? "input" : m->layers[t - 1].name;
}

/* The tensor id that `name` refers to for layer i, or an error. */
static int resolve(nn_spec *specs, size_t n, size_t i, const char *name,
                   size_t *t, nn_error *err)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(specs[j].name, name) == 0) {
            *t = j + 1;
            return 0;
        }
    if (strcmp(specs[i].name, name) == 0)
        return nn_spec_error(&specs[i], "inputs", err,
                             "names the layer itself; a layer reads only "
                             "earlier layers");
    for (size_t j = i + 1; j < n; j++)
        if (strcmp(specs[j].name, name) == 0)
            return nn_spec_error(&specs[i], "inputs", err,
                                 "'%s' is layer %zu, after this one (%zu); "
                                 "a layer reads only earlier layers, so the "
                                 "list order must be a topological order",
                                 name, j + 1, i + 1);
    if (strcmp(name, "input") == 0) {
        *t = 0;
        return 0;
    }
    return nn_spec_error(&specs[i], "inputs", err,
                         "no layer named '%s' (name an earlier layer, or "
                         "'input' for the model input)", name);
}

int nn_graph_read_inputs(nn_model *m, size_t i, nn_spec *specs, size_t n,
                         nn_error *err)
{
    nn_node *node = &m->nodes[i];
    const char *text;
    int rc = nn_spec_str(&specs[i], "inputs", 0, NULL, &text, err);
    if (rc) return rc;
    if (!text) {
        node->n_in = 1;
        node->in[0] = i; /* the previous layer's output, or the input */
        return 0;
    }
    char item[256];
    const char *p = text;
    for (;;) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ') len--;
        if (len == 0 || len >= sizeof item)
            return nn_spec_error(&specs[i], "inputs", err,
                                 "'%s' is not a list of layer names", text);
        if (node->n_in == NN_MAX_INPUTS)
            return nn_spec_error(&specs[i], "inputs", err,
                                 "more than %d inputs", NN_MAX_INPUTS);
        memcpy(item, p, len);
        item[len] = '\0';
        size_t t = 0;
        if ((rc = resolve(specs, n, i, item, &t, err)) != 0) return rc;
        for (size_t j = 0; j < node->n_in; j++)
            if (node->in[j] == t)
                return nn_spec_error(&specs[i], "inputs", err,
                                     "names '%s' twice", item);
        node->in[node->n_in++] = t;
        p += strcspn(p, ",");
        if (*p == '\0') break;
        p++;
    }
    node->given = !(node->n_in == 1 && node->in[0] == i);
    return 0;
}

int nn_graph_check_used(const nn_model *m, const nn_spec *specs,
                        nn_error *err)
{
    for (size_t t = 1; t < m->n_layers; t++) {
        int read = 0;
        for (size_t i = t; i < m->n_layers && !read; i++)
            for (size_t j = 0; j < m->nodes[i].n_in; j++)
                read |= m->nodes[i].in[j] == t;
        if (!read)
            return nn_spec_error(&specs[t - 1], NULL, err,
                                 "no later layer reads this layer's output "
                                 "(only the last layer's output is the "
                                 "model's)");
    }
    return 0;
}

void nn_graph_plan(nn_model *m)
{
    size_t L = m->n_layers;
    size_t *last = nn_xcalloc(L + 1, sizeof *last);  /* last reader */
    size_t *uses = nn_xcalloc(L + 1, sizeof *uses);
    unsigned char *busy = nn_xcalloc(L + 1, 1);
    m->tslot = nn_xcalloc(L + 1, sizeof *m->tslot);
    m->gbuf_w = nn_xcalloc(L + 1, sizeof *m->gbuf_w);
    m->gready = nn_xcalloc(L + 1, 1);
    m->run = nn_xcalloc(L, 1);
    for (size_t i = 0; i < L; i++)
        for (size_t j = 0; j < m->nodes[i].n_in; j++) {
            size_t t = m->nodes[i].in[j];
            last[t] = i;
            uses[t]++;
        }
    m->gacc_w = 0;
    for (size_t t = 0; t < L; t++) {
        size_t w = nn_shape_size(nn_graph_tensor_shape(m, t));
        if (uses[t] > 1 && w > m->gacc_w) m->gacc_w = w;
    }
    for (size_t i = L; i-- > 0;) {
        for (size_t j = 0; j < m->nodes[i].n_in; j++) {
            size_t t = m->nodes[i].in[j];
            if (t == 0 || last[t] != i) continue;
            size_t s = 0;
            while (busy[s]) s++; /* at most L + 1 buffers: one per tensor */
            if (s == m->n_gbufs) m->n_gbufs++;
            busy[s] = 1;
            m->tslot[t] = s;
            size_t w = nn_shape_size(m->layers[t - 1].out);
            if (w > m->gbuf_w[s]) m->gbuf_w[s] = w;
        }
        if (i + 1 < L) busy[m->tslot[i + 1]] = 0; /* used as dy of layer i */
    }
    free(last);
    free(uses);
    free(busy);
}

/* nn/model.c - the layer graph over one parameter arena (see nn/model.h).
 *
 * Memory plan: create() sets up every layer (shape inference from its
 * inputs, nn/model_graph.c), then lays the layers' parameter tensors end
 * to end, in layer order, in one param arena and one grad arena of the
 * same layout (no padding), and records one segment per tensor.
 * reserve(rows) sizes the per-layer activations (all kept: a layer's
 * backward reads its input and output), the gradient buffers of the plan
 * in nn/model_graph.c and the shared scratch.
 */
#include "nn/model.h"
#include "nn/memplan.h"

#include <stdlib.h> /* free */
#include <string.h> /* memset, strcmp, strstr */

#include "nn/check.h"
#include "nn/model_graph.h"

/* Give every unnamed spec copy the name "<type>_<k>" (k counts that type,
 * from 1) and reject duplicate names, so find_layer is unambiguous. */
static int name_specs(nn_spec *specs, size_t n, nn_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (specs[i].name && specs[i].name[0]) continue;
        const char *type = specs[i].type ? specs[i].type : "layer";
        size_t k = 1;
        for (size_t j = 0; j < i; j++)
            if (specs[j].type && strcmp(specs[j].type, type) == 0) k++;
        char buf[64];
        snprintf(buf, sizeof buf, "%s_%zu", type, k);
        free(specs[i].name);
        specs[i].name = nn_xstrdup(buf);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs[i].name, specs[j].name) == 0)
                return nn_spec_error(&specs[i], NULL, err,
                                     "duplicate layer name (also layer %zu)",
                                     j + 1);
    return 0;
}

/* Set up layer i; an error that does not already name the layer is
 * located at its spec (file:line: layer 'name' (type): ...). */
static int setup_layer(nn_model *m, size_t i, nn_spec *spec, nn_error *err)
{
    const nn_node *node = &m->nodes[i];
    nn_shape ins[NN_MAX_INPUTS];
    for (size_t j = 0; j < node->n_in; j++)
        ins[j] = nn_graph_tensor_shape(m, node->in[j]);
    int rc = nn_layer_setup_inputs(&m->layers[i], spec, ins, node->n_in, err);
    NN_CHECK(rc || !m->layers[i].ops->forward_join ||
                 m->layers[i].n_params == 0,
             "layer '%s': a join layer has parameters", spec->name);
    if (rc && err) {
        char tag[96];
        snprintf(tag, sizeof tag, "layer '%s'", spec->name);
        if (!strstr(err->msg, tag))
            nn_error_prefix(err, "%s:%d: layer '%s' (%s), #%zu: ",
                            spec->file ? spec->file : "<layers>", spec->line,
                            spec->name, spec->type ? spec->type : "?", i + 1);
    }
    return rc;
}

/* Lay the layers' tensors out in the arenas and build the segments. */
static void plan_arenas(nn_model *m)
{
    size_t total = 0, n_segs = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        total += m->layers[i].n_params;
        n_segs += m->layers[i].n_views;
    }
    m->n_params = total;
    m->params = nn_xalloc_floats(total);
    m->grads = nn_xalloc_floats(total);
    m->segs = nn_xcalloc(n_segs ? n_segs : 1, sizeof *m->segs);
    size_t off = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        l->param = m->params + off;
        l->grad = m->grads + off;
        for (size_t v = 0; v < l->n_views; v++) {
            nn_segment *s = &m->segs[m->n_segs++];
            s->offset = off + l->views[v].offset;
            s->count = l->views[v].count;
            s->flags = l->views[v].flags;
            s->trainable = l->trainable;
        }
        off += l->n_params;
    }
}

int nn_model_create(nn_model **out, const nn_spec *specs, size_t n_specs,
                    nn_shape in, nn_error *err)
{
    *out = NULL;
    if (n_specs == 0)
        return nn_error_set(err, NN_EXIT_USAGE, "model: no layers");
    nn_model *m = nn_xcalloc(1, sizeof *m);
    m->in = in;
    m->layers = nn_xcalloc(n_specs, sizeof *m->layers);
    m->nodes = nn_xcalloc(n_specs, sizeof *m->nodes);
    nn_spec *copies = nn_xcalloc(n_specs, sizeof *copies);
    for (size_t i = 0; i < n_specs; i++) nn_spec_copy(&copies[i], &specs[i]);
    int rc = name_specs(copies, n_specs, err);
    for (size_t i = 0; rc == 0 && i < n_specs; i++) {
        rc = nn_graph_read_inputs(m, i, copies, n_specs, err);
        if (rc == 0) rc = setup_layer(m, i, &copies[i], err);
        if (rc == 0) m->n_layers = i + 1;
    }
    if (rc == 0) rc = nn_graph_check_used(m, copies, err);
    for (size_t i = 0; i < n_specs; i++) nn_spec_free(&copies[i]);
    free(copies);
    /* refuse parameters that cannot fit before allocating them */
    if (rc == 0)
        rc = nn_mem_check_params(m->layers, m->n_layers, nn_mem_physical(),
                                 err);
    if (rc) goto fail;
    plan_arenas(m);
    nn_graph_plan(m);
    *out = m;
    return 0;
fail:
    nn_model_destroy(m);
    return rc;
}

static void free_buffers(nn_model *m)
{
    if (m->acts)
        for (size_t i = 0; i < m->n_layers; i++) free(m->acts[i]);
    free(m->acts);
    if (m->gbuf)
        for (size_t s = 0; s < m->n_gbufs; s++) free(m->gbuf[s]);
    free(m->gbuf);
    free(m->gacc);
    free(m->ws);
    m->acts = NULL;
    m->gbuf = NULL;
    m->gacc = m->ws = NULL;
    m->rows_cap = m->ws_cap = 0;
}

void nn_model_destroy(nn_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        if (l->ops && l->ops->destroy) l->ops->destroy(l);
    }
    free_buffers(m);
    free(m->layers);
    free(m->nodes);
    free(m->gbuf_w);
    free(m->tslot);
    free(m->gready);
    free(m->run);
    free(m->params);
    if (!m->grads_borrowed) free(m->grads);
    free(m->segs);
    free(m);
}

void nn_model_init(nn_model *m, uint64_t seed)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    for (size_t i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        if (l->ops->init)
            l->ops->init(l, &rng);
        else
            memset(l->param, 0, l->n_params * sizeof(float));
    }
}

void nn_model_reserve(nn_model *m, size_t rows)
{
    if (rows <= m->rows_cap && m->acts) return;
    free_buffers(m);
    size_t ws = 0;
    m->acts = nn_xcalloc(m->n_layers, sizeof *m->acts);
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        m->acts[i] = nn_xalloc_floats(rows * nn_shape_size(l->out));
        size_t need = l->ws_fixed + l->ws_per_row * rows;
        if (need > ws) ws = need;
    }
    m->gbuf = nn_xcalloc(m->n_gbufs ? m->n_gbufs : 1, sizeof *m->gbuf);
    for (size_t s = 0; s < m->n_gbufs; s++)
        m->gbuf[s] = nn_xalloc_floats(rows * m->gbuf_w[s]);
    m->gacc = m->gacc_w ? nn_xalloc_floats(rows * m->gacc_w) : NULL;
    m->ws = nn_xalloc_floats(ws);
    m->ws_cap = ws;
    m->rows_cap = rows;
    for (size_t i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        l->ws = m->ws;
        l->rows_cap = rows;
        if (l->ops->reserve) l->ops->reserve(l, rows);
    }
}

/* The activation that tensor t is: the model input x or a layer output. */
static const float *tensor(const nn_model *m, const float *x, size_t t)
{
    return t == 0 ? x : m->acts[t - 1];
}

const float *nn_model_forward(nn_model *m, const float *x, size_t n,
                              const nn_pass *pass)
{
    NN_CHECK(n <= m->rows_cap, "model: forward of %zu rows, %zu reserved", n,
             m->rows_cap);
    nn_pass def = {0, 0, 0, NULL};
    if (!pass) pass = &def;
    for (size_t i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        const nn_node *node = &m->nodes[i];
        if (l->ops->forward_join) {
            const float *xs[NN_MAX_INPUTS];
            for (size_t j = 0; j < node->n_in; j++)
                xs[j] = tensor(m, x, node->in[j]);
            l->ops->forward_join(l, xs, m->acts[i], n);
        } else {
            l->ops->forward(l, tensor(m, x, node->in[0]), m->acts[i], n, pass);
        }
    }
    return m->acts[m->n_layers - 1];
}

/* m->run[i] = 1 for the layers a backward must visit: all of them when
 * the input gradient is wanted, else those with a trainable parameter at
 * or above them (in the graph). Recomputed per call: `trainable` can
 * change between steps (fine-tuning). */
static void mark_runs(nn_model *m, int all)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        int run = all || (l->trainable && l->n_params);
        for (size_t j = 0; !run && j < m->nodes[i].n_in; j++) {
            size_t t = m->nodes[i].in[j];
            run = t > 0 && m->run[t - 1];
        }
        m->run[i] = (unsigned char)run;
    }
}

/* Where the gradient of input j of layer i goes: NULL if not wanted; the
 * tensor's own buffer if this is its first contribution in this backward;
 * otherwise gacc, and *acc is set to the buffer gacc must be added to. */
static float *grad_target(nn_model *m, size_t i, size_t j, float *dx0,
                          float **acc)
{
    size_t t = m->nodes[i].in[j];
    *acc = NULL;
    if (t == 0 ? dx0 == NULL : !m->run[t - 1]) return NULL;
    float *g = t == 0 ? dx0 : m->gbuf[m->tslot[t]];
    if (!m->gready[t]) {
        m->gready[t] = 1;
        return g;
    }
    *acc = g;
    return m->gacc;
}

static void add_into(float *dst, const float *src, size_t count)
{
    for (size_t k = 0; k < count; k++) dst[k] += src[k];
}

/* Backward through the layers marked in m->run, last first. The input
 * gradient goes to dx0 (NULL: not computed). */
static void backward_graph(nn_model *m, const float *x, const float *dout,
                           size_t n, float *dx0)
{
    NN_CHECK(n <= m->rows_cap, "model: backward of %zu rows, %zu reserved", n,
             m->rows_cap);
    size_t L = m->n_layers;
    memset(m->gready, 0, L + 1);
    for (size_t i = L; i-- > 0;) {
        if (!m->run[i]) continue;
        nn_layer *l = &m->layers[i];
        const nn_node *node = &m->nodes[i];
        NN_CHECK(i + 1 == L || m->gready[i + 1],
                 "model: layer '%s' has no output gradient", l->name);
        const float *dy = i + 1 == L ? dout : m->gbuf[m->tslot[i + 1]];
        for (size_t j = 0; j < node->n_in; j++) {
            float *acc, *dx = grad_target(m, i, j, dx0, &acc);
            if (l->ops->forward_join) {
                if (dx) l->ops->backward_input(l, j, dy, dx, n);
            } else {
                l->ops->backward(l, tensor(m, x, node->in[0]), m->acts[i], dy,
                                 dx, n);
            }
            if (acc)
                add_into(acc, m->gacc, n * nn_shape_size(l->ins[j]));
        }
        if (m->hook) m->hook(m->hook_ctx, i);
    }
}

void nn_model_backward(nn_model *m, const float *x, const float *dout,
                       size_t n)
{
    mark_runs(m, 0);
    backward_graph(m, x, dout, n, NULL);
}

void nn_model_backward_input(nn_model *m, const float *x, const float *dout,
                             size_t n, float *dx)
{
    NN_CHECK(dx != NULL, "model: backward_input needs a dx buffer");
    mark_runs(m, 1);
    backward_graph(m, x, dout, n, dx);
}

void nn_model_use_grad_arena(nn_model *m, float *buf)
{
    float *own = buf ? NULL : nn_xalloc_floats(m->n_params);
    float *to = buf ? buf : own;
    if (to == m->grads) return;
    memcpy(to, m->grads, m->n_params * sizeof(float));
    for (size_t i = 0; i < m->n_layers; i++)
        m->layers[i].grad = to + (m->layers[i].grad - m->grads);
    if (!m->grads_borrowed) free(m->grads);
    m->grads = to;
    m->grads_borrowed = buf != NULL;
}

void nn_model_set_backward_hook(nn_model *m, nn_backward_hook fn, void *ctx)
{
    m->hook = fn;
    m->hook_ctx = fn ? ctx : NULL;
}

void nn_model_zero_grad(nn_model *m)
{
    memset(m->grads, 0, m->n_params * sizeof(float));
}

nn_shape nn_model_out_shape(const nn_model *m)
{
    return m->layers[m->n_layers - 1].out;
}

long nn_model_find_layer(const nn_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return (long)i;
    return -1;
}

static uint64_t hash_u64(uint64_t h, uint64_t v)
{
    return nn_fnv1a(&v, sizeof v, h);
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    return nn_fnv1a(s, strlen(s) + 1, h); /* the NUL separates fields */
}

static uint64_t hash_shape(uint64_t h, nn_shape s)
{
    h = hash_u64(h, s.ndim);
    for (size_t i = 0; i < s.ndim; i++) h = hash_u64(h, s.dim[i]);
    return h;
}

uint64_t nn_model_hash(const nn_model *m)
{
    uint64_t h = hash_shape(NN_FNV_INIT, m->in);
    h = hash_u64(h, m->n_layers);
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        h = hash_str(h, l->ops->type);
        h = hash_str(h, l->name);
        h = hash_shape(h, l->in);
        h = hash_shape(h, l->out);
        h = hash_u64(h, l->n_views);
        for (size_t v = 0; v < l->n_views; v++) {
            h = hash_u64(h, l->views[v].count);
            h = hash_u64(h, l->views[v].flags);
        }
        const nn_node *node = &m->nodes[i];
        if (!node->given) continue; /* a chain hashes as before graphs */
        h = hash_str(h, "inputs");
        h = hash_u64(h, node->n_in);
        for (size_t j = 0; j < node->n_in; j++) h = hash_u64(h, node->in[j]);
    }
    return h;
}

/* "a, b" - the names of layer i's inputs - into buf. */
static const char *input_names(const nn_model *m, size_t i, char *buf,
                               size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < m->nodes[i].n_in && len < cap; j++) {
        int w = snprintf(buf + len, cap - len, "%s%s", j ? ", " : "",
                         nn_graph_tensor_name(m, m->nodes[i].in[j]));
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}

void nn_model_summary(const nn_model *m, FILE *f)
{
    char shape[64], inputs[160];
    size_t trainable = 0;
    fprintf(f, "%-4s %-20s %-14s %-16s %10s  %s\n", "#", "layer", "type",
            "output shape", "params", "inputs");
    fprintf(f, "%-4s %-20s %-14s %-16s %10s\n", "", "input", "",
            nn_shape_str(m->in, shape, sizeof shape), "");
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        fprintf(f, "%-4zu %-20s %-14s %-16s %10zu  %s%s\n", i + 1, l->name,
                l->ops->type, nn_shape_str(l->out, shape, sizeof shape),
                l->n_params, input_names(m, i, inputs, sizeof inputs),
                l->trainable ? "" : "  (frozen)");
        for (size_t v = 0; v < l->n_views; v++)
            if (l->trainable && !(l->views[v].flags & NN_PARAM_BUFFER))
                trainable += l->views[v].count;
    }
    fprintf(f, "total params: %zu (trainable %zu)\n", m->n_params, trainable);
}

size_t nn_model_token_vocab(const nn_model *m)
{
    const nn_layer *l = &m->layers[0];
    if (strcmp(l->ops->type, "embedding")) return 0;
    size_t dim = l->out.dim[l->out.ndim - 1];
    return dim ? l->views[0].count / dim : 0;
}

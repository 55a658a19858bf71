/* nn/model.c - the layer stack over one parameter arena (see nn/model.h).
 *
 * Memory plan: create() sets up every layer (shape inference), then lays
 * the layers' parameter tensors end to end, in layer order, in one param
 * arena and one grad arena of the same layout (no padding), and records one
 * segment per tensor. reserve(rows) sizes the per-layer activations, the
 * two backward ping-pong buffers and the shared scratch.
 */
#include "nn/model.h"

#include <stdlib.h> /* free */
#include <string.h> /* memset, strcmp, strstr */

#include "nn/check.h"

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
static int setup_layer(nn_model *m, size_t i, nn_spec *spec, nn_shape in,
                       nn_error *err)
{
    int rc = nn_layer_setup(&m->layers[i], spec, in, err);
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
    nn_spec *copies = nn_xcalloc(n_specs, sizeof *copies);
    for (size_t i = 0; i < n_specs; i++) nn_spec_copy(&copies[i], &specs[i]);
    int rc = name_specs(copies, n_specs, err);
    nn_shape shape = in;
    for (size_t i = 0; rc == 0 && i < n_specs; i++) {
        rc = setup_layer(m, i, &copies[i], shape, err);
        if (rc == 0) {
            m->n_layers = i + 1;
            shape = m->layers[i].out;
        }
    }
    for (size_t i = 0; i < n_specs; i++) nn_spec_free(&copies[i]);
    free(copies);
    if (rc) goto fail;
    plan_arenas(m);
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
    free(m->dbuf[0]);
    free(m->dbuf[1]);
    free(m->ws);
    m->acts = NULL;
    m->dbuf[0] = m->dbuf[1] = m->ws = NULL;
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
    size_t width = 0, ws = 0;
    m->acts = nn_xcalloc(m->n_layers, sizeof *m->acts);
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        size_t w = nn_shape_size(l->out);
        m->acts[i] = nn_xalloc_floats(rows * w);
        if (w > width) width = w;
        size_t need = l->ws_fixed + l->ws_per_row * rows;
        if (need > ws) ws = need;
    }
    /* dbuf holds dy of a layer (its output width) or dx (its input width,
     * = the previous layer's output); layer 0's dx is never computed. */
    m->dbuf[0] = nn_xalloc_floats(rows * width);
    m->dbuf[1] = nn_xalloc_floats(rows * width);
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

const float *nn_model_forward(nn_model *m, const float *x, size_t n,
                              const nn_pass *pass)
{
    NN_CHECK(n <= m->rows_cap, "model: forward of %zu rows, %zu reserved", n,
             m->rows_cap);
    nn_pass def = {0, 0, 0, NULL};
    if (!pass) pass = &def;
    const float *in = x;
    for (size_t i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        l->ops->forward(l, in, m->acts[i], n, pass);
        in = m->acts[i];
    }
    return in;
}

/* Backward from the last layer down to layer `first`, which writes its
 * input gradient into dx0 (NULL: not computed). Between layers the
 * gradient ping-pongs through dbuf. */
static void backward_down_to(nn_model *m, const float *x, const float *dout,
                             size_t n, size_t first, float *dx0)
{
    NN_CHECK(n <= m->rows_cap, "model: backward of %zu rows, %zu reserved", n,
             m->rows_cap);
    const float *dy = dout;
    int k = 0;
    for (size_t i = m->n_layers; i-- > first;) {
        nn_layer *l = &m->layers[i];
        const float *xin = i ? m->acts[i - 1] : x;
        float *dx = i > first ? m->dbuf[k] : dx0;
        l->ops->backward(l, xin, m->acts[i], dy, dx, n);
        if (m->hook) m->hook(m->hook_ctx, i);
        dy = dx;
        k ^= 1; /* next dx goes to the other buffer, never over dy */
    }
}

void nn_model_backward(nn_model *m, const float *x, const float *dout,
                       size_t n)
{
    /* Layers below the first trainable one need no backward at all, and
     * that layer needs no input gradient. */
    size_t first = 0;
    while (first < m->n_layers &&
           !(m->layers[first].trainable && m->layers[first].n_params))
        first++;
    backward_down_to(m, x, dout, n, first, NULL);
}

void nn_model_backward_input(nn_model *m, const float *x, const float *dout,
                             size_t n, float *dx)
{
    NN_CHECK(dx != NULL, "model: backward_input needs a dx buffer");
    backward_down_to(m, x, dout, n, 0, dx);
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
    }
    return h;
}

void nn_model_summary(const nn_model *m, FILE *f)
{
    char shape[64];
    size_t trainable = 0;
    fprintf(f, "%-4s %-20s %-12s %-20s %12s\n", "#", "layer", "type",
            "output shape", "params");
    fprintf(f, "%-4s %-20s %-12s %-20s %12s\n", "", "input", "",
            nn_shape_str(m->in, shape, sizeof shape), "");
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        fprintf(f, "%-4zu %-20s %-12s %-20s %12zu%s\n", i + 1, l->name,
                l->ops->type, nn_shape_str(l->out, shape, sizeof shape),
                l->n_params, l->trainable ? "" : "  (frozen)");
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

/* nn/layer.c - shapes, parameter declaration, and layer set-up shared by
 * the model and stand-alone layers (see nn/layer.h). */
#include "nn/layer.h"

#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* free */
#include <string.h> /* memset, strlen */

#include "nn/check.h"

nn_shape nn_shape_1d(size_t a)
{
    nn_shape s = {1, {a, 0, 0, 0}};
    return s;
}

nn_shape nn_shape_2d(size_t a, size_t b)
{
    nn_shape s = {2, {a, b, 0, 0}};
    return s;
}

nn_shape nn_shape_3d(size_t a, size_t b, size_t c)
{
    nn_shape s = {3, {a, b, c, 0}};
    return s;
}

size_t nn_shape_size(nn_shape s)
{
    if (s.ndim == 0) return 0;
    size_t n = 1;
    for (size_t i = 0; i < s.ndim; i++) n *= s.dim[i];
    return n;
}

int nn_shape_eq(nn_shape a, nn_shape b)
{
    if (a.ndim != b.ndim) return 0;
    for (size_t i = 0; i < a.ndim; i++)
        if (a.dim[i] != b.dim[i]) return 0;
    return 1;
}

char *nn_shape_str(nn_shape s, char *buf, size_t cap)
{
    if (cap == 0) return buf;
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i <= s.ndim && len < cap; i++) {
        int w;
        if (i == s.ndim)
            w = snprintf(buf + len, cap - len, "]");
        else
            w = snprintf(buf + len, cap - len, "%s%zu", i ? ", " : "[",
                         s.dim[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (s.ndim == 0) snprintf(buf, cap, "[]");
    return buf;
}

size_t nn_layer_add_param(nn_layer *l, const char *name, size_t count,
                          unsigned flags)
{
    NN_CHECK(l->n_views < NN_MAX_PARAM_VIEWS,
             "layer '%s': more than %d parameter tensors", l->name,
             NN_MAX_PARAM_VIEWS);
    size_t i = l->n_views++;
    l->views[i].name = name;
    l->views[i].offset = l->n_params;
    l->views[i].count = count;
    l->views[i].flags = flags;
    l->n_params += count;
    return i;
}

float *nn_layer_tensor(const nn_layer *l, size_t i)
{
    NN_CHECK(i < l->n_views, "layer '%s': no tensor %zu", l->name, i);
    return l->param + l->views[i].offset;
}

float *nn_layer_grad_tensor(const nn_layer *l, size_t i)
{
    NN_CHECK(i < l->n_views, "layer '%s': no tensor %zu", l->name, i);
    return l->grad + l->views[i].offset;
}

/* Undo a set-up whose create() ran: the kind's private state. */
static void release_priv(nn_layer *l)
{
    if (l->priv && l->ops && l->ops->destroy) l->ops->destroy(l);
    l->priv = NULL;
}

int nn_layer_setup(nn_layer *l, nn_spec *spec, nn_shape in, nn_error *err)
{
    return nn_layer_setup_inputs(l, spec, &in, 1, err);
}

int nn_layer_setup_inputs(nn_layer *l, nn_spec *spec, const nn_shape *ins,
                          size_t n_in, nn_error *err)
{
    NN_CHECK(n_in >= 1 && n_in <= NN_MAX_INPUTS, "layer: %zu inputs", n_in);
    memset(l, 0, sizeof *l);
    nn_shape in = ins[0];
    l->in = in;
    l->n_in = n_in;
    for (size_t j = 0; j < n_in; j++) l->ins[j] = ins[j];
    const char *type = spec->type ? spec->type : "";
    const char *name = spec->name && spec->name[0] ? spec->name : type;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->ops = nn_layer_find(type);
    if (!l->ops)
        return nn_spec_error(spec, NULL, err,
                             "unknown layer type '%s' (known: %s)", type,
                             nn_layer_types());
    int rc = nn_spec_bool(spec, "trainable", 0, 1, &l->trainable, err);
    if (rc) return rc;
    if (n_in > 1 && !l->ops->forward_join)
        return nn_spec_error(spec, "inputs", err,
                             "a %s layer takes one input, not %zu (join "
                             "several with add or concat)", type, n_in);
    for (size_t j = 0; j < n_in; j++)
        if (nn_shape_size(ins[j]) == 0) {
            char b[64];
            return nn_spec_error(spec, NULL, err, "empty input shape %s",
                                 nn_shape_str(ins[j], b, sizeof b));
        }
    rc = l->ops->create(l, spec, err);
    if (rc == 0) rc = nn_spec_check_unused(spec, err);
    if (rc == 0 && (l->out.ndim == 0 || nn_shape_size(l->out) == 0)) {
        char b[64];
        rc = nn_spec_error(spec, NULL, err,
                           "gives an empty output shape %s for input %s",
                           nn_shape_str(l->out, b, sizeof b),
                           nn_shape_str(in, b + 32, 32));
    }
    if (rc) release_priv(l);
    return rc;
}

int nn_layer_make(nn_layer *l, nn_spec *spec, nn_shape in, nn_error *err)
{
    int rc = nn_layer_setup(l, spec, in, err);
    if (rc) return rc;
    l->param = nn_xalloc_floats(l->n_params);
    l->grad = nn_xalloc_floats(l->n_params);
    return 0;
}

void nn_layer_reserve(nn_layer *l, size_t rows)
{
    if (rows <= l->rows_cap && l->ws) return;
    free(l->ws);
    l->ws = nn_xalloc_floats(l->ws_fixed + l->ws_per_row * rows);
    l->rows_cap = rows;
    if (l->ops->reserve) l->ops->reserve(l, rows);
}

void nn_layer_free(nn_layer *l)
{
    if (!l) return;
    release_priv(l);
    free(l->param);
    free(l->grad);
    free(l->ws);
    l->param = l->grad = l->ws = NULL;
    l->rows_cap = 0;
}

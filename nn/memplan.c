/* nn/memplan.c - the memory a model will need (see nn/memplan.h). */
#include "nn/memplan.h"

#include <stdio.h>  /* snprintf */
#include <unistd.h> /* sysconf */

#define GB (1024.0 * 1024.0 * 1024.0)

static double floats(double n) { return n * (double)sizeof(float); }

void nn_mem_plan_model(const nn_model *m, size_t rows, size_t slots,
                       nn_mem_plan *p)
{
    double r = (double)rows, big = 0, ws = 0;
    p->param_bytes = floats((double)m->n_params * (2.0 + (double)slots));
    p->act_bytes = 0;
    snprintf(p->largest, sizeof p->largest,
             "%.3g parameters with gradients and optimizer state take "
             "%.2f GB", (double)m->n_params, p->param_bytes / GB);
    big = p->param_bytes;
    for (size_t i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        double act = floats(r * (double)nn_shape_size(l->out));
        double w = floats((double)l->ws_fixed + (double)l->ws_per_row * r);
        if (w > ws) ws = w;
        p->act_bytes += act;
        if (act > big) {
            big = act;
            snprintf(p->largest, sizeof p->largest,
                     "the output of layer '%s' (%s, %zu values per row) for "
                     "%zu rows takes %.2f GB", l->name, l->ops->type,
                     nn_shape_size(l->out), rows, act / GB);
        }
        if (w > big) {
            big = w;
            snprintf(p->largest, sizeof p->largest,
                     "the scratch of layer '%s' (%s) for %zu rows takes "
                     "%.2f GB", l->name, l->ops->type, rows, w / GB);
        }
    }
    for (size_t s = 0; s < m->n_gbufs; s++)
        p->act_bytes += floats(r * (double)m->gbuf_w[s]);
    p->act_bytes += floats(r * (double)m->gacc_w) + ws;
    p->total = p->param_bytes + p->act_bytes;
}

double nn_mem_physical(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

int nn_mem_check(const nn_mem_plan *p, size_t ranks, double avail,
                 const char *hint, nn_error *err)
{
    double need = p->total * (double)(ranks ? ranks : 1);
    if (avail <= 0 || need <= avail) return NN_OK;
    return nn_error_set(err, NN_EXIT_USAGE,
                        "the run needs about %.2f GB per rank (%.2f GB for "
                        "the %zu rank(s) on this machine, which has %.2f GB): "
                        "%s; %s", p->total / GB, need / GB, ranks ? ranks : 1,
                        avail / GB, p->largest, hint);
}

int nn_mem_check_params(const nn_layer *layers, size_t n, double avail,
                        nn_error *err)
{
    double total = 0, big = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double b = floats(2.0 * (double)layers[i].n_params);
        total += b;
        if (b > big) {
            big = b;
            at = i;
        }
    }
    if (avail <= 0 || total <= avail) return NN_OK;
    return nn_error_set(err, NN_EXIT_USAGE,
                        "model: %.2f GB of parameters and gradients exceed "
                        "this machine's %.2f GB; the largest is layer '%s' "
                        "(%s) with %zu parameters: make it smaller",
                        total / GB, avail / GB, layers[at].name,
                        layers[at].ops->type, layers[at].n_params);
}

/* tests/tools/layer_io.c - run one layer's forward and backward on data
 * from stdin, for cross-checks against an independent implementation
 * (tests/torch/check_transformer.py).
 *
 *   layer_io TYPE KEYS T C N
 * KEYS: "key=value,key=value" for the layer spec ("" for none); the input
 * shape is [T, C] and the batch N rows. stdin holds raw float32 in host
 * order: the parameters (the layer's arena, tensors in declaration order),
 * x [N, T, C], then dy [N, out]. stdout gets y [N, out], the parameter
 * gradients (arena order) and dx [N, T, C]. Prints the tensors' names and
 * sizes to stderr. Exit 2 on usage or spec errors, 3 on short input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/layer.h"

/* A size in [1, 1e6] or 0. */
static size_t size_arg(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v == 0 || v > 1000000) return 0;
    return (size_t)v;
}

/* "a=1,b=2" into spec keys. Returns 0 or -1. */
static int parse_keys(char *text, nn_spec *s, nn_error *err)
{
    for (char *kv = strtok(text, ","); kv; kv = strtok(NULL, ",")) {
        char *eq = strchr(kv, '=');
        if (!eq) return -1;
        *eq = '\0';
        if (nn_spec_add(s, kv, eq + 1, 0, err)) return -1;
    }
    return 0;
}

static int io(float *v, size_t count, int in)
{
    size_t k = in ? fread(v, sizeof *v, count, stdin)
                  : fwrite(v, sizeof *v, count, stdout);
    return k == count ? 0 : -1;
}

int main(int argc, char **argv)
{
    size_t T = argc == 6 ? size_arg(argv[3]) : 0;
    size_t C = T ? size_arg(argv[4]) : 0, n = C ? size_arg(argv[5]) : 0;
    if (!n) {
        fprintf(stderr, "usage: layer_io TYPE KEYS T C N\n");
        return 2;
    }
    nn_spec s;
    nn_error err = {0, ""};
    memset(&s, 0, sizeof s);
    s.type = nn_xstrdup(argv[1]);
    s.name = nn_xstrdup("layer");
    char *keys = nn_xstrdup(argv[2]);
    nn_layer l;
    int rc = parse_keys(keys, &s, &err);
    if (rc == 0) rc = nn_layer_make(&l, &s, nn_shape_2d(T, C), &err);
    free(keys);
    nn_spec_free(&s);
    if (rc) {
        fprintf(stderr, "layer_io: bad spec %s %s\n", argv[2], err.msg);
        return 2;
    }
    for (size_t v = 0; v < l.n_views; v++)
        fprintf(stderr, "%s %zu\n", l.views[v].name, l.views[v].count);
    size_t in_w = T * C, out_w = nn_shape_size(l.out);
    float *x = nn_xalloc_floats(n * in_w), *dx = nn_xalloc_floats(n * in_w);
    float *y = nn_xalloc_floats(n * out_w), *dy = nn_xalloc_floats(n * out_w);
    nn_layer_reserve(&l, n);
    rc = 3;
    if (io(l.param, l.n_params, 1) || io(x, n * in_w, 1) ||
        io(dy, n * out_w, 1)) {
        fprintf(stderr, "layer_io: short input\n");
        goto done;
    }
    l.ops->forward(&l, x, y, n, NULL);
    l.ops->backward(&l, x, y, dy, dx, n);
    rc = io(y, n * out_w, 0) || io(l.grad, l.n_params, 0) ||
                 io(dx, n * in_w, 0) ? 1 : 0;
done:
    free(x);
    free(dx);
    free(y);
    free(dy);
    nn_layer_free(&l);
    return rc;
}

/* tests/nn/test_graph.c - models as graphs: layers that name their inputs,
 * the join layers add and concat, global_avgpool, and backward under
 * fan-out, all against central differences (nn_gradcheck_model).
 *
 * Fan-out: every registered layer kind is checked both as the SOURCE of a
 * fan-out (its output read by a branch and by a shortcut, so its dy is a
 * sum) and as a READER of a fanned-out tensor (two layers of the kind read
 * one tensor, so the second one's dx must be added to the first's, not
 * written over it - the bug where a 1x1 convolution's input-gradient GEMM
 * with beta = 0 erased the gradient a shortcut had already added). A new
 * layer kind without a case here fails test_every_kind_covered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/gradcheck.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "tests/cu.h"

/* ---- helpers ---- */

typedef struct def {
    const char *name; /* NULL: the model names it */
    const char *type;
    const char *kv[13]; /* key, value pairs, NULL-terminated */
} def;

/* Specs from defs: spec i at line 10*(i+1) of "net.yaml", its keys on the
 * following lines. */
static nn_spec *specs_from(const def *d, size_t n)
{
    nn_spec *s = nn_xcalloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].type = nn_xstrdup(d[i].type);
        s[i].name = d[i].name ? nn_xstrdup(d[i].name) : NULL;
        s[i].file = "net.yaml";
        s[i].line = (int)(10 * (i + 1));
        for (int k = 0; d[i].kv[k]; k += 2)
            CU_ASSERT_FATAL(nn_spec_add(&s[i], d[i].kv[k], d[i].kv[k + 1],
                                        s[i].line + 1 + k / 2, NULL) == 0);
    }
    return s;
}

static void specs_free(nn_spec *s, size_t n)
{
    for (size_t i = 0; i < n; i++) nn_spec_free(&s[i]);
    free(s);
}

/* Create (rc returned, message in err) a model of defs on input `in`. */
static int build(nn_model **m, const def *d, size_t n, nn_shape in,
                 nn_error *err)
{
    nn_spec *s = specs_from(d, n);
    int rc = nn_model_create(m, s, n, in, err);
    specs_free(s, n);
    return rc;
}

/* Inputs: token ids in [0, vocab) when vocab > 0, else values in +-1
 * kept at least 0.05 from zero (relu's kink). */
static float *inputs(size_t count, uint64_t seed, size_t vocab)
{
    float *x = cu_rand_floats(count, seed, -1.0, 1.0);
    for (size_t i = 0; i < count; i++) {
        if (vocab) x[i] = (float)((size_t)((x[i] + 1.0f) * 0.5f * vocab) % vocab);
        else if (x[i] > -0.05f && x[i] < 0.05f) x[i] += x[i] < 0 ? -0.05f : 0.05f;
    }
    return x;
}

/* Gradcheck the model of defs on n rows of `in`, in training mode with
 * fixed ids (dropout deterministic, batchnorm on batch statistics).
 * Returns pass and prints the first failure. */
static int check_defs(const char *what, const def *d, size_t nd, nn_shape in,
                      size_t n, size_t vocab)
{
    nn_model *m;
    nn_error err = {0, ""};
    if (build(&m, d, nd, in, &err) != 0) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        return 0;
    }
    nn_model_init(m, 7);
    /* Non-zero biases and batchnorm shifts, so that they matter. */
    nn_rng r;
    nn_rng_seed(&r, 3);
    for (size_t i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        for (size_t v = 1; v < l->n_views; v++)
            if (!(l->views[v].flags & NN_PARAM_BUFFER))
                for (size_t k = 0; k < l->views[v].count; k++)
                    nn_layer_tensor(l, v)[k] = (float)(nn_rng_uniform(&r) - 0.5);
    }
    float *x = inputs(n * nn_shape_size(in), 5, vocab);
    uint64_t ids[8] = {11, 12, 13, 14, 15, 16, 17, 18};
    nn_pass pass = {1, 99, 3, ids};
    nn_gradcheck_opts o = {0, 0, 0, 24};
    nn_gradcheck_result res;
    int ok = nn_gradcheck_model(m, x, n, &pass, &o, vocab == 0, 21, &res);
    if (!ok)
        fprintf(stderr, "%s: %zu of %zu failed, first %s\n", what, res.failed,
                res.checked, res.where);
    CU_ASSERT(res.checked > 0);
    free(x);
    nn_model_destroy(m);
    return ok;
}

/* ---- fan-out through every layer kind ---- */

typedef struct kind_case {
    const char *type;
    const char *kv[11];
    nn_shape in;
    size_t vocab; /* > 0: the input is token ids */
} kind_case;

/* Shapes small enough for full checks; kv chosen so each kind works on
 * its own output too where that is needed. */
static kind_case kind_cases(size_t i, int *more)
{
    static const struct {
        const char *type;
        const char *kv[11];
        int shape; /* 0: [6]; 1: [2, 5, 5]; 2: [4, 3] (T, F); 3: ids [4] */
    } t[] = {
        {"dense", {"units", "5", NULL}, 0},
        {"relu", {NULL}, 0},
        {"leaky_relu", {NULL}, 0},
        {"sigmoid", {NULL}, 0},
        {"tanh", {NULL}, 0},
        {"softmax", {NULL}, 0},
        {"conv2d", {"filters", "3", "kernel", "3", "padding", "1", NULL}, 1},
        {"conv2d", {"filters", "3", "kernel", "1", NULL}, 1},
        {"conv2d", {"filters", "3", "kernel", "3", "stride", "2", "padding",
                    "1", NULL}, 1},
        {"conv2d", {"filters", "3", "kernel", "1", "stride", "2", "bias",
                    "false", "algorithm", "im2col", NULL}, 1},
        {"maxpool2d", {"size", "2", NULL}, 1},
        {"avgpool2d", {"size", "2", "stride", "1", NULL}, 1},
        {"flatten", {NULL}, 1},
        {"reshape", {"shape", "10,5", NULL}, 1},
        {"dropout", {"rate", "0.3", NULL}, 0},
        {"batchnorm", {NULL}, 1},
        {"batchnorm", {NULL}, 0},
        {"embedding", {"vocab", "5", "dim", "3", NULL}, 3},
        {"rnn", {"hidden", "3", NULL}, 2},
        {"lstm", {"hidden", "3", "sequences", "false", NULL}, 2},
        {"gru", {"hidden", "3", NULL}, 2},
        {"global_avgpool", {NULL}, 1},
        {"layernorm", {NULL}, 2},
        {"gelu", {NULL}, 0},
        {"position_embedding", {NULL}, 2},
        {"attention", {"heads", "1", NULL}, 2},
        {"upsample", {NULL}, 1},
        {"upsample", {"scale", "3", NULL}, 1},
    };
    size_t n = sizeof t / sizeof t[0];
    kind_case c = {NULL, {NULL}, {0, {0}}, 0};
    *more = i < n;
    if (i >= n) return c;
    c.type = t[i].type;
    memcpy(c.kv, t[i].kv, sizeof c.kv);
    switch (t[i].shape) {
    case 0: c.in = nn_shape_1d(6); break;
    case 1: c.in = nn_shape_3d(2, 5, 5); break;
    case 2: c.in = nn_shape_2d(4, 3); break;
    default: c.in = nn_shape_1d(4); c.vocab = 5; break;
    }
    return c;
}

static void set_kv(def *d, const kind_case *c, const char *inputs)
{
    int k = 0;
    for (; c->kv[k]; k++) d->kv[k] = c->kv[k];
    if (inputs) {
        d->kv[k++] = "inputs";
        d->kv[k++] = inputs;
    }
    d->kv[k] = NULL;
}

/* The kind as a fan-out source: x -> k -> {t = tanh(k), k} -> add. */
static int check_source(const kind_case *c)
{
    def d[3] = {{"k", c->type, {NULL}},
                {"t", "tanh", {NULL}},
                {"sum", "add", {"inputs", "t,k", NULL}}};
    set_kv(&d[0], c, NULL);
    char what[96];
    snprintf(what, sizeof what, "%s as a fan-out source", c->type);
    return check_defs(what, d, 3, c->in, 3, c->vocab);
}

/* The kind as a reader of a fanned-out tensor: p -> {k1, k2} -> add, with
 * p = tanh(x) (or the input itself for token ids). k1 runs its backward
 * after k2 has begun p's gradient. */
static int check_reader(const kind_case *c)
{
    const char *src = c->vocab ? "input" : "p";
    def d[4] = {{"p", "tanh", {NULL}},
                {"k1", c->type, {NULL}},
                {"k2", c->type, {NULL}},
                {"sum", "add", {"inputs", "k1,k2", NULL}}};
    set_kv(&d[1], c, src);
    set_kv(&d[2], c, src);
    char what[96];
    snprintf(what, sizeof what, "%s reading a fanned-out tensor", c->type);
    /* With token ids there is no p: the readers take the input. */
    return c->vocab ? check_defs(what, d + 1, 3, c->in, 3, c->vocab)
                    : check_defs(what, d, 4, c->in, 3, c->vocab);
}

/* The literal shortcut case: p -> {k(p), p} -> add, for kinds whose output
 * has their input's shape (a 1x1 convolution beside its shortcut). */
static int check_beside_shortcut(const kind_case *c)
{
    def d[3] = {{"p", "tanh", {NULL}},
                {"k", c->type, {NULL}},
                {"sum", "add", {"inputs", "k,p", NULL}}};
    set_kv(&d[1], c, NULL);
    char what[96];
    snprintf(what, sizeof what, "%s beside a shortcut", c->type);
    return check_defs(what, d, 3, c->in, 3, 0);
}

static void test_fan_out_every_kind(void)
{
    int more = 1;
    for (size_t i = 0; more; i++) {
        kind_case c = kind_cases(i, &more);
        if (!more) break;
        CU_ASSERT(check_source(&c));
        CU_ASSERT(check_reader(&c));
    }
}

static void test_shape_keeping_kinds_beside_shortcut(void)
{
    static const char *const one[] = {"filters", "2", "kernel", "1", NULL};
    static const char *const three[] = {"filters", "2", "kernel", "3",
                                        "padding", "1", NULL};
    kind_case c = {"conv2d", {NULL}, nn_shape_3d(2, 4, 4), 0};
    memcpy(c.kv, one, sizeof one);
    CU_ASSERT(check_beside_shortcut(&c));
    memcpy(c.kv, three, sizeof three);
    CU_ASSERT(check_beside_shortcut(&c));
    static const char *const units[] = {"units", "6", NULL};
    kind_case dn = {"dense", {NULL}, nn_shape_1d(6), 0};
    memcpy(dn.kv, units, sizeof units);
    CU_ASSERT(check_beside_shortcut(&dn));
    kind_case bn = {"batchnorm", {NULL}, nn_shape_3d(2, 4, 4), 0};
    CU_ASSERT(check_beside_shortcut(&bn));
    kind_case sm = {"softmax", {NULL}, nn_shape_1d(6), 0};
    CU_ASSERT(check_beside_shortcut(&sm));
}

/* The join kinds, as readers and as sources of fan-out. */
static void test_add_and_concat(void)
{
    def add[6] = {
        {"a", "conv2d", {"filters", "2", "kernel", "3", "padding", "1", NULL}},
        {"b", "conv2d", {"filters", "2", "kernel", "1", "inputs", "input",
                         NULL}},
        {"c", "tanh", {"inputs", "input", NULL}},
        {"s", "add", {"inputs", "a,b,c", NULL}},
        {"t", "sigmoid", {NULL}},
        {"out", "add", {"inputs", "t,s", NULL}},
    };
    CU_ASSERT(check_defs("add of three", add, 6, nn_shape_3d(2, 4, 4), 2, 0));
    def cat[6] = {
        {"a", "conv2d", {"filters", "2", "kernel", "3", "padding", "1", NULL}},
        {"b", "conv2d", {"filters", "3", "kernel", "1", "inputs", "input",
                         NULL}},
        {"j", "concat", {"inputs", "a,b,input", NULL}},
        {"t", "tanh", {NULL}},
        {"p", "conv2d", {"filters", "6", "kernel", "1", "inputs", "j", NULL}},
        {"out", "add", {"inputs", "t,p", NULL}},
    };
    CU_ASSERT(check_defs("concat of channels", cat, 6, nn_shape_3d(1, 4, 4),
                         2, 0));
    def seq[4] = {
        {"a", "dense", {"units", "2", "time_distributed", "true", NULL}},
        {"b", "tanh", {"inputs", "input", NULL}},
        {"j", "concat", {"inputs", "b,a", NULL}},
        {"r", "gru", {"hidden", "2", "sequences", "false", NULL}},
    };
    CU_ASSERT(check_defs("concat of step features", seq, 4,
                         nn_shape_2d(3, 3), 2, 0));
}

/* A ResNet basic block with a strided 3x3 path and a 1x1 projection
 * shortcut, each with batchnorm, then the head. */
static const def resnet_block[] = {
    {"stem", "conv2d", {"filters", "3", "kernel", "3", "padding", "1", NULL}},
    {"c1", "conv2d", {"filters", "4", "kernel", "3", "stride", "2",
                      "padding", "1", "bias", "false", NULL}},
    {"b1", "batchnorm", {NULL}},
    {"r1", "relu", {NULL}},
    {"c2", "conv2d", {"filters", "4", "kernel", "3", "padding", "1", "bias",
                      "false", NULL}},
    {"b2", "batchnorm", {NULL}},
    {"proj", "conv2d", {"filters", "4", "kernel", "1", "stride", "2", "bias",
                        "false", "inputs", "stem", NULL}},
    {"bp", "batchnorm", {NULL}},
    {"sum", "add", {"inputs", "b2,bp", NULL}},
    {"r2", "leaky_relu", {NULL}},
    {"gap", "global_avgpool", {NULL}},
    {"fc", "dense", {"units", "3", NULL}},
};
#define RESNET_N (sizeof resnet_block / sizeof resnet_block[0])

static void test_residual_block(void)
{
    CU_ASSERT(check_defs("residual block", resnet_block, RESNET_N,
                         nn_shape_3d(2, 6, 6), 4, 0));
}

/* The checker itself catches a model whose fan-out loses a gradient:
 * with the second reader's contribution dropped (add's backward writing
 * nothing for input 2), the check fails. */
static void lose_second(nn_layer *l, size_t j, const float *dy, float *dx,
                        size_t n)
{
    size_t count = n * nn_shape_size(l->out);
    for (size_t i = 0; i < count; i++) dx[i] = j == 1 ? 0.0f : dy[i];
}

static void test_checker_catches_lost_gradient(void)
{
    def d[3] = {{"k", "conv2d", {"filters", "2", "kernel", "1", NULL}},
                {"t", "tanh", {NULL}},
                {"sum", "add", {"inputs", "t,k", NULL}}};
    nn_model *m;
    nn_error err = {0, ""};
    CU_ASSERT_FATAL(build(&m, d, 3, nn_shape_3d(2, 3, 3), &err) == 0);
    nn_layer_ops broken = *m->layers[2].ops;
    broken.backward_input = lose_second;
    m->layers[2].ops = &broken;
    nn_model_init(m, 1);
    float *x = inputs(2 * 18, 4, 0);
    nn_gradcheck_result res;
    CU_ASSERT(!nn_gradcheck_model(m, x, 2, NULL, NULL, 1, 3, &res));
    CU_ASSERT(res.failed > 0);
    free(x);
    nn_model_destroy(m);
}

/* Every registered kind has a fan-out case above (add and concat in
 * test_add_and_concat). */
static void test_every_kind_covered(void)
{
    char list[512];
    snprintf(list, sizeof list, "%s", nn_layer_types());
    for (char *tok = strtok(list, ", "); tok; tok = strtok(NULL, ", ")) {
        int found = !strcmp(tok, "add") || !strcmp(tok, "concat");
        int more = 1;
        for (size_t i = 0; more && !found; i++) {
            kind_case c = kind_cases(i, &more);
            found = more && strcmp(c.type, tok) == 0;
        }
        if (!found) fprintf(stderr, "no fan-out case for '%s'\n", tok);
        CU_ASSERT(found);
    }
}

/* ---- the model's plumbing ---- */

/* A chain needs two gradient buffers and no fan-out scratch, as the old
 * ping-pong did; a block with a shortcut needs a third and the scratch. */
static void test_gradient_plan(void)
{
    def chain[4] = {{NULL, "dense", {"units", "4", NULL}},
                    {NULL, "relu", {NULL}},
                    {NULL, "dense", {"units", "3", NULL}},
                    {NULL, "tanh", {NULL}}};
    nn_model *m;
    nn_error err = {0, ""};
    CU_ASSERT_FATAL(build(&m, chain, 4, nn_shape_1d(5), &err) == 0);
    CU_ASSERT_EQUAL(m->n_gbufs, 2);
    CU_ASSERT_EQUAL(m->gacc_w, 0);
    nn_model_destroy(m);
    CU_ASSERT_FATAL(build(&m, resnet_block, RESNET_N, nn_shape_3d(2, 6, 6),
                          &err) == 0);
    CU_ASSERT_EQUAL(m->n_gbufs, 3);
    CU_ASSERT_EQUAL(m->gacc_w, 3 * 6 * 6); /* the stem's output fans out */
    nn_model_destroy(m);
}

/* A chain's hash is what the code before graphs computed (value printed
 * by that code for this model), so its checkpoints still load; naming the
 * previous layer explicitly changes nothing; other inputs change it. */
static void test_hash_of_chain_unchanged(void)
{
    def chain[3] = {{"c", "conv2d", {"filters", "2", "kernel", "3", NULL}},
                    {"f", "flatten", {NULL}},
                    {"d", "dense", {"units", "3", NULL}}};
    nn_model *a, *b, *c;
    nn_error err = {0, ""};
    CU_ASSERT_FATAL(build(&a, chain, 3, nn_shape_3d(1, 5, 5), &err) == 0);
    CU_ASSERT_EQUAL(nn_model_hash(a), UINT64_C(0x34a8625bb5435417));
    chain[1].kv[0] = "inputs", chain[1].kv[1] = "c", chain[1].kv[2] = NULL;
    CU_ASSERT_FATAL(build(&b, chain, 3, nn_shape_3d(1, 5, 5), &err) == 0);
    CU_ASSERT_EQUAL(nn_model_hash(a), nn_model_hash(b));
    def skip[3] = {{"c", "conv2d", {"filters", "1", "kernel", "1", NULL}},
                   {"f", "add", {"inputs", "c,input", NULL}},
                   {"d", "dense", {"units", "3", NULL}}};
    CU_ASSERT_FATAL(build(&c, skip, 3, nn_shape_3d(1, 5, 5), &err) == 0);
    def skip2[3] = {{"c", "conv2d", {"filters", "1", "kernel", "1", NULL}},
                    {"f", "add", {"inputs", "input,c", NULL}},
                    {"d", "dense", {"units", "3", NULL}}};
    nn_model *e;
    CU_ASSERT_FATAL(build(&e, skip2, 3, nn_shape_3d(1, 5, 5), &err) == 0);
    CU_ASSERT(nn_model_hash(c) != nn_model_hash(e));
    nn_model_destroy(a);
    nn_model_destroy(b);
    nn_model_destroy(c);
    nn_model_destroy(e);
}

/* The backward hook sees every layer that runs, last first; a frozen
 * branch below the trainable layers is not run by nn_model_backward, and
 * the parameter gradients equal backward_input's. */
static size_t hook_seen[16], hook_n;
static void record(void *ctx, size_t layer)
{
    (void)ctx;
    if (hook_n < 16) hook_seen[hook_n++] = layer;
}

static void test_hook_and_frozen_branch(void)
{
    def d[5] = {{"a", "dense", {"units", "4", "trainable", "false", NULL}},
                {"b", "dense", {"units", "4", "inputs", "input", NULL}},
                {"s", "add", {"inputs", "a,b", NULL}},
                {"t", "tanh", {NULL}},
                {"o", "dense", {"units", "2", NULL}}};
    nn_model *m;
    nn_error err = {0, ""};
    CU_ASSERT_FATAL(build(&m, d, 5, nn_shape_1d(3), &err) == 0);
    nn_model_init(m, 2);
    nn_model_reserve(m, 2);
    float *x = inputs(6, 1, 0), *dout = inputs(4, 2, 0), dx[6];
    float *g = nn_xalloc_floats(m->n_params);
    nn_model_set_backward_hook(m, record, NULL);
    nn_model_zero_grad(m);
    nn_model_forward(m, x, 2, NULL);
    nn_model_backward_input(m, x, dout, 2, dx);
    memcpy(g, m->grads, m->n_params * sizeof *g);
    CU_ASSERT_EQUAL(hook_n, 5);
    hook_n = 0;
    nn_model_zero_grad(m);
    nn_model_forward(m, x, 2, NULL);
    nn_model_backward(m, x, dout, 2);
    size_t want[4] = {4, 3, 2, 1}; /* layer a (frozen, no trainable above) */
    CU_ASSERT_EQUAL(hook_n, 4);
    for (size_t i = 0; i < 4 && i < hook_n; i++)
        CU_ASSERT_EQUAL(hook_seen[i], want[i]);
    size_t a_end = m->layers[0].n_params; /* a's block is first */
    for (size_t i = a_end; i < m->n_params; i++)
        CU_ASSERT_DOUBLE_EQUAL(m->grads[i], g[i], 1e-6);
    for (size_t i = 0; i < a_end; i++) CU_ASSERT_EQUAL(m->grads[i], 0.0f);
    free(x);
    free(dout);
    free(g);
    nn_model_destroy(m);
}

static void test_summary_shows_inputs(void)
{
    nn_model *m;
    nn_error err = {0, ""};
    CU_ASSERT_FATAL(build(&m, resnet_block, RESNET_N, nn_shape_3d(2, 6, 6),
                          &err) == 0);
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    CU_ASSERT_FATAL(f != NULL);
    nn_model_summary(m, f);
    fclose(f);
    CU_ASSERT(strstr(buf, "inputs") != NULL);
    CU_ASSERT(strstr(buf, "b2, bp") != NULL);
    CU_ASSERT(strstr(buf, "stem") != NULL);
    nn_model_destroy(m);
}

/* ---- bad graphs: one error naming file, line and layer ---- */

static void expect_error(const def *d, size_t n, nn_shape in,
                         const char *where, const char *what)
{
    nn_model *m = NULL;
    nn_error err = {0, ""};
    CU_ASSERT_EQUAL(build(&m, d, n, in, &err), NN_EXIT_USAGE);
    CU_ASSERT(m == NULL);
    CU_ASSERT(strstr(err.msg, where) != NULL);
    CU_ASSERT(strstr(err.msg, what) != NULL);
    CU_ASSERT(strchr(err.msg, '\n') == NULL);
    if (!strstr(err.msg, where) || !strstr(err.msg, what))
        fprintf(stderr, "got: %s\n", err.msg);
}

static void test_bad_graphs(void)
{
    nn_shape v = nn_shape_1d(4), img = nn_shape_3d(2, 4, 4);
    def fwd[3] = {{"a", "dense", {"units", "4", NULL}},
                  {"b", "add", {"inputs", "a,c", NULL}},
                  {"c", "tanh", {NULL}}};
    expect_error(fwd, 3, v, "net.yaml:21: layer 'b' (add): inputs:",
                 "after this one");
    def self[2] = {{"a", "dense", {"units", "4", NULL}},
                   {"b", "add", {"inputs", "a,b", NULL}}};
    expect_error(self, 2, v, "net.yaml:21: layer 'b' (add): inputs:",
                 "names the layer itself");
    def unknown[2] = {{"a", "dense", {"units", "4", NULL}},
                      {"b", "add", {"inputs", "a, nope", NULL}}};
    expect_error(unknown, 2, v, "net.yaml:21: layer 'b'", "'nope'");
    def shapes[3] = {{"a", "dense", {"units", "4", NULL}},
                     {"b", "dense", {"units", "5", "inputs", "input", NULL}},
                     {"s", "add", {"inputs", "a,b", NULL}}};
    expect_error(shapes, 3, v, "net.yaml:31: layer 's' (add): inputs:",
                 "[4]");
    def cat[3] = {{"a", "conv2d", {"filters", "2", "kernel", "3", NULL}},
                  {"b", "conv2d", {"filters", "2", "kernel", "1", "inputs",
                                   "input", NULL}},
                  {"j", "concat", {"inputs", "a,b", NULL}}};
    expect_error(cat, 3, img, "net.yaml:31: layer 'j' (concat): inputs:",
                 "[2, 2, 2]");
    def twice[2] = {{"a", "dense", {"units", "4", NULL}},
                    {"s", "add", {"inputs", "a,a", NULL}}};
    expect_error(twice, 2, v, "layer 's'", "twice");
    def one[2] = {{"a", "dense", {"units", "4", NULL}},
                  {"s", "add", {"inputs", "a", NULL}}};
    expect_error(one, 2, v, "net.yaml:20: layer 's'", "2 to");
    def two[3] = {{"a", "dense", {"units", "4", NULL}},
                  {"b", "tanh", {NULL}},
                  {"d", "dense", {"units", "2", "inputs", "a,b", NULL}}};
    expect_error(two, 3, v, "net.yaml:32: layer 'd' (dense): inputs:",
                 "takes one input");
    def dead[3] = {{"a", "dense", {"units", "4", NULL}},
                   {"b", "tanh", {"inputs", "input", NULL}},
                   {"c", "dense", {"units", "2", NULL}}};
    expect_error(dead, 3, v, "net.yaml:10: layer 'a'", "no later layer");
    def empty[2] = {{"a", "dense", {"units", "4", NULL}},
                    {"s", "add", {"inputs", "a,", NULL}}};
    expect_error(empty, 2, v, "layer 's'", "not a list");
    def gap[1] = {{"g", "global_avgpool", {NULL}}};
    expect_error(gap, 1, v, "layer 'g'", "[C, H, W]");
}

static const cu_test graph_tests[] = {
    {"fan-out of every layer kind", test_fan_out_every_kind},
    {"shape-keeping kinds beside a shortcut",
     test_shape_keeping_kinds_beside_shortcut},
    {"add and concat", test_add_and_concat},
    {"residual block", test_residual_block},
    {"the checker catches a lost gradient", test_checker_catches_lost_gradient},
    {"every kind covered", test_every_kind_covered},
    {"gradient buffer plan", test_gradient_plan},
    {"hash of a chain unchanged", test_hash_of_chain_unchanged},
    {"hook order and a frozen branch", test_hook_and_frozen_branch},
    {"summary shows inputs", test_summary_shows_inputs},
    {"bad graphs", test_bad_graphs},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"graph", graph_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("test_graph", suites);
}

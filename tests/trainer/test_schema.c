/* tests/trainer/test_schema.c - config keys that belong to an objective:
 * schema fragments (io/config.h io_schema) declared next to the objective
 * and read with the core keys (trainer/objective.c tr_config_parse).
 *
 * The mechanism with a fragment that exists only here: its keys get the
 * core keys' checks (unknown key, range, default, --set) and its strings
 * and layer lists are owned and freed by the config. Then the shipped
 * objectives' fragments: the supervised objective's pseudo-label keys and
 * what data.labelled needs, the gan section, inferring the objective from
 * a section, and refusing a key of another objective. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tests/cu.h"
#include "trainer/gan.h"
#include "trainer/objective.h"
#include "trainer/semisup.h"

/* ---- the mechanism, with a fragment of this file ----------------------- */

typedef struct toy {
    size_t depth;
    char *mode;
    io_layers net;
} toy;

static const char *const mode_names[] = {"fast", "slow", NULL};
static const io_key toy_keys[] = {
    {"toy.depth", IO_SIZE, offsetof(toy, depth), 1, 8, 0, "2", NULL},
    {"toy.mode", IO_ENUM, offsetof(toy, mode), 0, 0, 0, "fast", mode_names},
    {"toy.net.layers", IO_LAYERS, offsetof(toy, net), 0, 0, IO_REQ, NULL, NULL},
};
static const io_schema toy_schema = {"toy", "toy", toy_keys, 3, sizeof(toy),
                                     NULL, 0};

static const char *base_yaml =
    "loss: cross_entropy\n"
    "data: {format: idx, train: a.idx, train_labels: a.lab}\n"
    "training: {epochs: 1, batch_size: 2, lr: 0.1}\n";

static int parse_toy(const char *extra, io_config *cfg, nn_error *err)
{
    char text[1024];
    snprintf(text, sizeof text, "%s%s", base_yaml, extra);
    const io_schema *const schemas[] = {&toy_schema, NULL};
    return io_config_parse(cfg, "t.yaml", text, strlen(text), NULL, 0,
                           schemas, err);
}

static void expect_toy_error(const char *extra, const char *want)
{
    io_config cfg;
    nn_error err;
    int rc = parse_toy(extra, &cfg, &err);
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(rc ? strstr(err.msg, want) : NULL);
    if (!rc) io_config_free(&cfg);
    else if (!strstr(err.msg, want))
        fprintf(stderr, "\n  message: %s (wanted '%s')\n", err.msg, want);
}

static void test_fragment_keys(void)
{
    io_config cfg;
    nn_error err;
    int rc = parse_toy("toy:\n  depth: 5\n  mode: slow\n  net:\n    layers:\n"
                       "      - {type: dense, units: 3}\n", &cfg, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    const toy *t = io_config_values(&cfg, &toy_schema);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->depth, 5);
    CU_ASSERT_STRING_EQUAL(t->mode, "slow");
    CU_ASSERT_EQUAL(t->net.n, 1);
    CU_ASSERT_STRING_EQUAL(t->net.specs[0].type, "dense");
    char where[64];
    CU_ASSERT(io_config_where(&cfg, "toy.depth", where, sizeof where));
    CU_ASSERT_STRING_EQUAL(where, "t.yaml:5");
    CU_ASSERT(io_config_where(&cfg, "toy", where, sizeof where)); /* section */
    CU_ASSERT_STRING_EQUAL(where, "t.yaml:4");
    io_config_free(&cfg);
    /* defaults, the same as a core key's */
    rc = parse_toy("toy:\n  net:\n    layers:\n      - {type: relu}\n", &cfg, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    t = io_config_values(&cfg, &toy_schema);
    CU_ASSERT_EQUAL(t->depth, 2);
    CU_ASSERT_STRING_EQUAL(t->mode, "fast");
    io_config_free(&cfg);
    /* a fragment not given to the parse has no values */
    const char *y = base_yaml;
    CU_ASSERT_EQUAL_FATAL(io_config_parse(&cfg, "t.yaml", y, strlen(y), NULL,
                                          0, NULL, &err), 0);
    CU_ASSERT_PTR_NULL(io_config_values(&cfg, &toy_schema));
    io_config_free(&cfg);
}

static void test_fragment_errors(void)
{
    expect_toy_error("toy:\n  depth: 9\n  net: {layers: [{type: relu}]}\n",
                     "t.yaml:5: toy.depth: 9 is out of range [1, 8]");
    expect_toy_error("toy:\n  mode: medium\n  net: {layers: [{type: relu}]}\n",
                     "toy.mode: 'medium' is not one of: fast, slow");
    expect_toy_error("toy:\n  width: 3\n",
                     "t.yaml:5: toy.width: unknown key (known here: depth, "
                     "mode, net)");
    expect_toy_error("toy:\n  depth: 3\n",
                     "toy.net.layers: required key is missing");
    /* the fragment's section is known at the top level */
    expect_toy_error("toys: 1\n", "known here: ");
}

/* ---- the shipped objectives' fragments --------------------------------- */

static const char *cls_yaml =
    "model:\n"
    "  layers:\n"
    "    - {type: dense, units: 4}\n"
    "loss: cross_entropy\n"
    "data:\n"
    "  format: idx\n"
    "  train: a.idx\n"
    "  train_labels: a.lab\n"
    "training: {epochs: 1, batch_size: 2, lr: 0.1}\n";

static const char *gan_yaml =
    "gan:\n"
    "  noise: 8\n"
    "  generator:\n"
    "    layers: [{type: dense, units: 4}]\n"
    "  discriminator:\n"
    "    layers: [{type: dense, units: 1}]\n"
    "loss: bce\n"
    "data: {format: idx, train: a.idx, train_labels: a.lab}\n"
    "training: {epochs: 1, batch_size: 2, lr: 0.1}\n";

/* tr_config_parse of yaml with n_sets overrides: success (want NULL) or
 * a usage error containing want. Returns the parsed config on success
 * (the caller frees it) through *out when out is not NULL. */
static void check(const char *yaml, const char *want, io_config *out,
                  int n_sets, ...)
{
    char *sets[8];
    va_list ap;
    va_start(ap, n_sets);
    for (int i = 0; i < n_sets; i++) sets[i] = va_arg(ap, char *);
    va_end(ap);
    io_config cfg;
    nn_error err;
    int rc = tr_config_parse(&cfg, "t.yaml", yaml, strlen(yaml), sets,
                             (size_t)n_sets, &err);
    if (!want) {
        CU_ASSERT_EQUAL(rc, 0);
        if (rc) fprintf(stderr, "\n  unexpected error: %s\n", err.msg);
        if (!rc && out) *out = cfg;
        else if (!rc) io_config_free(&cfg);
        return;
    }
    CU_ASSERT_EQUAL(rc, NN_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(rc ? strstr(err.msg, want) : NULL);
    if (rc == 0 || !strstr(err.msg, want))
        fprintf(stderr, "\n  message was: %s (wanted '%s')\n",
                rc ? err.msg : "(none)", want);
    if (!rc) io_config_free(&cfg);
}

static void test_supervised_keys(void)
{
    io_config cfg;
    check(cls_yaml, NULL, &cfg, 3, "data.labelled=1000",
          "training.pseudo_label_threshold=0.95",
          "training.pseudo_label_weight=0.5");
    CU_ASSERT_STRING_EQUAL(tr_objective_of(&cfg), "supervised");
    CU_ASSERT_EQUAL(cfg.data.labelled, 1000);
    const tr_semisup_cfg *c = tr_semisup_cfg_of(&cfg);
    CU_ASSERT_DOUBLE_EQUAL(c->pseudo_label_threshold, 0.95, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(c->pseudo_label_weight, 0.5, 1e-12);
    io_config_free(&cfg);
    check(cls_yaml, NULL, &cfg, 0);
    c = tr_semisup_cfg_of(&cfg);
    CU_ASSERT_EQUAL(c->pseudo_label_threshold, 0); /* defaults: off, 1 */
    CU_ASSERT_EQUAL(c->pseudo_label_weight, 1);
    io_config_free(&cfg);
    check(cls_yaml, "training.pseudo_label_threshold: 1 is out of range [0, 1)",
          NULL, 1, "training.pseudo_label_threshold=1");
    check(cls_yaml, "training.pseudo_label_threshold: -0.5 is out of range",
          NULL, 1, "training.pseudo_label_threshold=-0.5");
    check(cls_yaml, "training.pseudo_label_weight: 0 is out of range (0,",
          NULL, 1, "training.pseudo_label_weight=0");
    check(cls_yaml, "data.labelled: '-3' is not a non-negative integer", NULL,
          1, "data.labelled=-3");
    check(cls_yaml, "--set training.pseudo_label_threshold: training.pseudo_"
          "label_threshold: needs class labels (loss cross_entropy), not loss "
          "mse", NULL, 2, "loss=mse", "training.pseudo_label_threshold=0.9");
    check(cls_yaml, "data.labelled: needs class labels (loss cross_entropy), "
          "not loss mse", NULL, 2, "loss=mse", "data.labelled=10");
    /* a weight with the threshold off does nothing and is allowed */
    check(cls_yaml, NULL, NULL, 1, "training.pseudo_label_weight=2");
    /* one model: model.layers is required */
    const char *nomodel = strstr(cls_yaml, "loss:");
    check(nomodel, "t.yaml: model.layers: required key is missing", NULL, 0);
}

static void test_gan_section(void)
{
    io_config cfg;
    check(gan_yaml, NULL, &cfg, 0);
    CU_ASSERT_STRING_EQUAL(tr_objective_of(&cfg), "gan"); /* from the section */
    const tr_gan_cfg *g = io_config_values(&cfg, &tr_gan_schema);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(g->noise, 8);
    CU_ASSERT_EQUAL(g->generator.n, 1);
    CU_ASSERT_EQUAL(g->discriminator.n, 1);
    CU_ASSERT_EQUAL(g->generator_lr, 0);
    io_config_free(&cfg);
    check(gan_yaml, "--set gan.discriminator: gan.discriminator.layers: "
          "required key is missing", NULL, 1, "gan.discriminator=");
    check(gan_yaml, "loss: a GAN is trained with bce", NULL, 1, "loss=mse");
    check(gan_yaml, "gan.noise: 0 is out of range", NULL, 1, "gan.noise=0");
    char both[1024];
    snprintf(both, sizeof both, "model: {layers: [{type: relu}]}\n%s", gan_yaml);
    check(both, "t.yaml:1: model: not used with a gan section", NULL, 0);
    check(gan_yaml, "--set early_stopping.patience: early_stopping: not used "
          "with a gan section", NULL, 2, "early_stopping.patience=2",
          "data.val_fraction=0.1");
    check(gan_yaml, "data.labelled: not used with a gan section", NULL, 1,
          "data.labelled=5");
}

static void test_foreign_keys(void)
{
    check(gan_yaml, "--set training.pseudo_label_weight: training.pseudo_"
          "label_weight: belongs to the 'supervised' objective; this config "
          "trains 'gan'", NULL, 1, "training.pseudo_label_weight=0.5");
    char both[1024];
    snprintf(both, sizeof both, "model: {layers: [{type: relu}]}\n%s", gan_yaml);
    check(both, "t.yaml:2: gan: belongs to the 'gan' objective; this config "
          "trains 'supervised' (remove the key, or set objective: gan)", NULL,
          2, "objective=supervised", "loss=cross_entropy");
    check(cls_yaml, "--set objective: objective: unknown 'rbn' (known: "
          "supervised, gan", NULL, 1, "objective=rbn");
    check(cls_yaml, "objective: gan needs a gan section", NULL, 2,
          "objective=gan", "loss=bce");
}

static const cu_test fragment_tests[] = {
    {"a fragment's keys are read like core keys", test_fragment_keys},
    {"a fragment's keys are checked like core keys", test_fragment_errors},
    {NULL, NULL}};
static const cu_test objective_tests[] = {
    {"supervised: pseudo-label keys, labels, one model", test_supervised_keys},
    {"gan: the section and its checks", test_gan_section},
    {"another objective's key, an unknown objective", test_foreign_keys},
    {NULL, NULL}};
static const cu_suite suites[] = {{"fragment", fragment_tests},
                                  {"objectives", objective_tests},
                                  {NULL, NULL}};

int main(void)
{
    return cu_main("trainer_test_schema", suites);
}

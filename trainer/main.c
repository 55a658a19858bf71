/* trainer/main.c - the axon command: arguments, MPI start-up, threads,
 * and the one place that decides the process's exit code. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/check.h"
#include "trainer/session.h"

#define AXON_VERSION "0.1.0"

static const char *usage =
    "usage: axon COMMAND CONFIG [options]\n"
    "\n"
    "Data-parallel neural-network training. Run under MPI for several ranks:\n"
    "  mpirun -np 4 axon train configs/fashion_mlp.yaml\n"
    "\n"
    "commands:\n"
    "  train CONFIG     train the model the config describes\n"
    "  eval CONFIG      loss and accuracy of a checkpoint on the test set\n"
    "                   (the training file if the config names no test set)\n"
    "  lstsq CONFIG     closed-form least squares (one dense layer, loss mse)\n"
    "  predict --checkpoint PATH INPUT [--out FILE]\n"
    "                   predictions for a file of inputs (IDX or CSV, as the\n"
    "                   model was trained on), as CSV; needs no config\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE  override a config value, e.g. --set training.epochs=3\n"
    "                   or --set model.layers.0.units=64 (repeatable)\n"
    "  --resume PATH    continue training from a checkpoint; 'auto' takes\n"
    "                   <checkpoint.dir>/last.ckpt if it exists\n"
    "  --checkpoint PATH  the checkpoint eval and predict read\n"
    "  --out FILE       where predict writes (default: standard output)\n"
    "  --quiet          no progress output\n"
    "  -h, --help       this text;  --version  the version\n"
    "\n"
    "exit codes: 0 ok, 1 other error, 2 usage or config error,\n"
    "            3 data or checkpoint error, 4 training diverged (NaN/Inf)\n";

static comm_ctx *g_comm; /* only for the fatal hook below */

static void fatal_hook(const char *file, int line, const char *msg)
{
    comm_abort(g_comm, 1, "%s:%d: %s", file, line, msg);
}

/* Parse argv into o. Returns 0, or 2 with a message on stderr. */
static int parse_args(int argc, char **argv, tr_options *o, int rank)
{
    static char *sets[256];
    o->sets = sets;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(a, "--set") && has_next && o->n_sets < 256) {
            sets[o->n_sets++] = argv[++i];
        } else if (!strncmp(a, "--set=", 6) && o->n_sets < 256) {
            sets[o->n_sets++] = argv[i] + 6;
        } else if (!strcmp(a, "--resume") && has_next) {
            o->resume = argv[++i];
        } else if (!strcmp(a, "--checkpoint") && has_next) {
            o->checkpoint = argv[++i];
        } else if (!strcmp(a, "--out") && has_next) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (a[0] == '-' ) {
            if (rank == 0) fprintf(stderr, "axon: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        } else if (!o->command) {
            o->command = a;
        } else if (!o->config && !o->input) {
            if (!strcmp(o->command, "predict")) o->input = a;
            else o->config = a;
        } else {
            if (rank == 0) fprintf(stderr, "axon: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    const char *cmds[] = {"train", "eval", "lstsq", "predict"};
    int known = 0, predict = o->command && !strcmp(o->command, "predict");
    for (size_t i = 0; o->command && i < 4; i++) known |= !strcmp(o->command, cmds[i]);
    const char *why = !o->command ? "missing COMMAND"
                      : !known    ? "unknown COMMAND"
                      : predict && !o->input ? "predict needs INPUT"
                      : predict && !o->checkpoint ? "predict needs --checkpoint PATH"
                      : !predict && !o->config ? "missing CONFIG"
                      : (!strcmp(o->command, "eval") && !o->checkpoint)
                          ? "eval needs --checkpoint PATH"
                      : (o->resume && strcmp(o->command, "train"))
                          ? "--resume is for train"
                          : NULL;
    if (why) {
        if (rank == 0) fprintf(stderr, "axon: %s%s%s\n\n%s", why,
                               o->command && !known ? ": " : "",
                               o->command && !known ? o->command : "", usage);
        return 2;
    }
    return 0;
}

/* OpenBLAS threads per rank: OPENBLAS_NUM_THREADS if the user set it;
 * else SLURM's cpus-per-task; else the node's cores / ranks on the node,
 * so that ranks x threads never oversubscribe the cores. */
static int set_threads(comm_ctx *c)
{
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    if (env && *env) return openblas_get_num_threads();
    const char *slurm = getenv("SLURM_CPUS_PER_TASK");
    long t = slurm && *slurm ? strtol(slurm, NULL, 10) : 0;
    if (t < 1) t = sysconf(_SC_NPROCESSORS_ONLN) / comm_local_size(c);
    if (t < 1) t = 1;
    openblas_set_num_threads((int)t);
    return (int)t;
}

static int run(tr_session *s)
{
    int st;
    if (!strcmp(s->opt->command, "predict")) return tr_cmd_predict(s);
    if ((st = tr_load_config(s))) return st;
    if ((st = tr_load_data(s))) return st;
    if ((st = tr_build_model(s))) return st;
    if (!strcmp(s->opt->command, "train")) return tr_cmd_train(s);
    if (!strcmp(s->opt->command, "eval")) return tr_cmd_eval(s);
    return tr_cmd_lstsq(s);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            puts("axon " AXON_VERSION);
            return 0;
        }
    }
    comm_ctx *c = comm_init(&argc, &argv);
    if (!c) {
        fprintf(stderr, "axon: MPI initialisation failed\n");
        return 1;
    }
    g_comm = c;
    nn_set_fatal_hook(fatal_hook);
    tr_options o = {0};
    int st = parse_args(argc, argv, &o, comm_rank(c));
    if (st) {
        comm_finalize(c);
        return st;
    }
    /* predictions on standard output must be the only thing there */
    if (o.input && !o.out) o.quiet = 1;
    int threads = set_threads(c);
    tr_session s = {.comm = c, .rank = comm_rank(c), .size = comm_size(c),
                    .opt = &o};
    tr_say(&s, "axon %s: %s %s on %d rank%s, %d node%s (%d per node), %d "
               "BLAS thread%s per rank\n",
           AXON_VERSION, o.command, o.config ? o.config : o.input, s.size, s.size == 1 ? "" : "s",
           comm_nodes(c), comm_nodes(c) == 1 ? "" : "s",
           comm_local_size(c), threads, threads == 1 ? "" : "s");
    st = run(&s);
    tr_session_free(&s);
    comm_finalize(c);
    return st;
}

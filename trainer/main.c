/* trainer/main.c - the axon command: arguments, MPI start-up, threads,
 * and the one place that decides the process's exit code. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/file.h"
#include "nn/check.h"
#include "nn/fpu.h"
#include "trainer/obj_ppo.h"
#include "trainer/session.h"

#define AXON_VERSION "0.1.0"

static const char *usage =
    "usage: axon COMMAND [CONFIG | INPUT] [options]\n"
    "\n"
    "Data-parallel neural-network training. Run under MPI for several ranks:\n"
    "  mpirun -np 4 axon train configs/fashion_mlp.yaml\n"
    "\n"
    "commands:\n"
    "  train CONFIG     train the model the config describes\n"
    "  eval CONFIG --checkpoint PATH\n"
    "                   loss and accuracy of a checkpoint on the test set\n"
    "                   (the training file if the config names no test set)\n"
    "  lstsq CONFIG     closed-form least squares (one dense layer, loss mse)\n"
    "  predict --checkpoint PATH INPUT [--out FILE]\n"
    "                   predictions for a file of inputs (IDX or CSV, as the\n"
    "                   model was trained on), as CSV; needs no config\n"
    "  sample --checkpoint PATH [--prompt TEXT] [--length N]\n"
    "         [--temperature T] [--seed S] [--out FILE]\n"
    "                   text from a character model, or (--out x.png) a grid\n"
    "                   of images from a GAN generator\n"
    "  play --checkpoint PATH [--episodes N] [--render] [--seed S]\n"
    "                   the policy of a reinforcement-learning checkpoint\n"
    "                   acting greedily: each episode's return (default 10\n"
    "                   episodes); --render draws every step as text\n"
    "  pack CONFIG|FILES --out DIR [--shard-size BYTES]\n"
    "                   a config's data files (DIR/train, DIR/test, DIR/val),\n"
    "                   or IDX images [labels] or a CSV file, into packed\n"
    "                   shards for data.format packed (docs/DATA.md)\n"
    "  pack --verify DIR\n"
    "                   re-read every shard and check its CRC\n"
    "  export --checkpoint PATH --format onnx|axm --out FILE [--softmax]\n"
    "         [--int8 [--calibrate N]]\n"
    "                   the model as an ONNX file, or as the file of the C\n"
    "                   inference library (axm; --int8: int8 weights, ranges\n"
    "                   calibrated on N training rows, default 1000), taking\n"
    "                   the raw inputs predict takes; --softmax appends a\n"
    "                   softmax over the output's last axis (docs/DEPLOY.md)\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE  override a config value, e.g. --set training.epochs=3\n"
    "                   or --set model.layers.0.units=64 (repeatable)\n"
    "  --resume PATH    continue training from a checkpoint; 'auto' takes\n"
    "                   <checkpoint.dir>/last.ckpt if it exists\n"
    "  --checkpoint PATH  the checkpoint eval, predict and sample read\n"
    "  --out FILE       where predict and sample write (default: stdout),\n"
    "                   and export (required)\n"
    "  --quiet          no progress output\n"
    "  -h, --help       this text;  --version  the version\n"
    "\n"
    "exit codes: 0 ok, 1 other error, 2 usage or config error,\n"
    "            3 data or checkpoint error, 4 training diverged (NaN/Inf),\n"
    "            5 a rank stalled (a collective waited longer than\n"
    "              training.collective_timeout)\n";

/* What each command needs on its command line. */
enum { NEEDS_CONFIG = 1, NEEDS_CHECKPOINT = 2, NEEDS_INPUT = 4,
       WRITES_CHECKPOINTS = 8, TAKES_FILES = 16 };

typedef struct tr_command {
    const char *name;
    unsigned needs;
    int (*run)(tr_session *s); /* NEEDS_CONFIG: after config, data, model */
} tr_command;

static const tr_command commands[] = {
    {"train", NEEDS_CONFIG | WRITES_CHECKPOINTS, tr_cmd_train},
    {"eval", NEEDS_CONFIG | NEEDS_CHECKPOINT, tr_cmd_eval},
    {"lstsq", NEEDS_CONFIG | WRITES_CHECKPOINTS, tr_cmd_lstsq},
    {"predict", NEEDS_CHECKPOINT | NEEDS_INPUT, tr_cmd_predict},
    {"sample", NEEDS_CHECKPOINT, tr_cmd_sample},
    {"play", NEEDS_CHECKPOINT, tr_cmd_play},
    {"pack", TAKES_FILES, tr_cmd_pack},
    {"export", NEEDS_CHECKPOINT, tr_cmd_export},
};

static const tr_command *find_command(const char *name)
{
    for (size_t i = 0; name && i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static comm_ctx *g_comm; /* only for the fatal hook below */

static void fatal_hook(const char *file, int line, const char *msg)
{
    comm_abort(g_comm, 1, "%s:%d: %s", file, line, msg);
}

/* Upper bounds of the count options: far beyond any real use, low
 * enough that every size computed from them fits (sample allocates
 * --length floats and bytes). */
#define MAX_SAMPLE_LENGTH ((size_t)100000000) /* 10^8 characters */
#define MAX_SETS 256
#define MAX_EPISODES ((uint64_t)1000000)
#define MAX_SHARD_SIZE ((uint64_t)1 << 32) /* a shard is built in memory */
#define MAX_CALIB_ROWS ((size_t)1000000) /* export --calibrate */

/* A number option's value, entirely numeric and finite. */
static int number(const char *opt, const char *v, double *out, int rank)
{
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    if (end != v && !*end && isfinite(*out) && errno != ERANGE) return 0;
    if (rank == 0)
        fprintf(stderr, "axon: %s: '%s' is not a finite number\n", opt, v);
    return 2;
}

/* A count option's value: a whole decimal number in [0, max] (no sign,
 * exponent or fraction, so nothing wraps or rounds on the way to size_t). */
static int count(const char *opt, const char *v, uint64_t max, uint64_t *out,
                 int rank)
{
    char *end;
    errno = 0;
    unsigned long long x = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10)
                                                      : 0;
    if (v[0] >= '0' && v[0] <= '9' && !*end && errno != ERANGE && x <= max) {
        *out = x;
        return 0;
    }
    if (rank == 0)
        fprintf(stderr, "axon: %s: '%s' must be a whole number from 0 to "
                        "%llu\n", opt, v, (unsigned long long)max);
    return 2;
}

/* Parse argv into o. Returns 0, or 2 with a message on stderr. */
static int parse_args(int argc, char **argv, tr_options *o, int rank)
{
    static char *sets[MAX_SETS];
    const char *pos[4] = {NULL, NULL, NULL, NULL};
    size_t n_pos = 0;
    o->sets = sets;
    o->length = 200;
    o->temperature = 1.0;
    o->sample_seed = 1;
    o->episodes = 10;
    o->calib_rows = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x = 0;
        uint64_t u = 0;
        int bad = 0;
        int is_set = (!strcmp(a, "--set") && v) || !strncmp(a, "--set=", 6);
        if (is_set && o->n_sets == MAX_SETS) {
            if (rank == 0)
                fprintf(stderr, "axon: more than %d --set options; put the "
                                "values in the config file instead\n",
                        MAX_SETS);
            return 2;
        }
        if (!strcmp(a, "--set") && v) sets[o->n_sets++] = argv[++i];
        else if (!strncmp(a, "--set=", 6)) sets[o->n_sets++] = argv[i] + 6;
        else if (!strcmp(a, "--resume") && v) o->resume = argv[++i];
        else if (!strcmp(a, "--checkpoint") && v) o->checkpoint = argv[++i];
        else if (!strcmp(a, "--out") && v) o->out = argv[++i];
        else if (!strcmp(a, "--prompt") && v) o->prompt = argv[++i];
        else if (!strcmp(a, "--format") && v) o->format = argv[++i];
        else if (!strcmp(a, "--softmax")) o->softmax = 1;
        else if (!strcmp(a, "--int8")) o->int8 = 1;
        else if (!strcmp(a, "--calibrate") && v) {
            bad = count(a, argv[++i], MAX_CALIB_ROWS, &u, rank);
            o->calib_rows = (size_t)u;
        }
        else if (!strcmp(a, "--length") && v) {
            bad = count(a, argv[++i], MAX_SAMPLE_LENGTH, &u, rank);
            o->length = (size_t)u;
        } else if (!strcmp(a, "--temperature") && v) {
            bad = number(a, argv[++i], &x, rank);
            o->temperature = x;
        } else if (!strcmp(a, "--seed") && v) {
            bad = count(a, argv[++i], UINT64_MAX, &u, rank);
            o->sample_seed = u;
        } else if (!strcmp(a, "--shard-size") && v) {
            bad = count(a, argv[++i], MAX_SHARD_SIZE, &u, rank);
            o->shard_size = u;
            if (!bad && u == 0) {
                if (rank == 0)
                    fprintf(stderr, "axon: --shard-size must be at least 1\n");
                bad = 2;
            }
        } else if (!strcmp(a, "--verify") && v) o->verify = argv[++i];
        else if (!strcmp(a, "--episodes") && v) {
            bad = count(a, argv[++i], MAX_EPISODES, &u, rank);
            o->episodes = (size_t)u;
        } else if (!strcmp(a, "--render")) o->render = 1;
        else if (!strcmp(a, "--quiet")) o->quiet = 1;
        else if (a[0] == '-') {
            if (rank == 0)
                fprintf(stderr, "axon: unknown or incomplete option '%s'\n\n%s", a, usage);
            return 2;
        } else if (n_pos < 4) pos[n_pos++] = a;
        else {
            if (rank == 0) fprintf(stderr, "axon: unexpected argument '%s'\n", a);
            return 2;
        }
        if (bad) return bad;
    }
    o->command = pos[0];
    const tr_command *c = find_command(o->command);
    if (c && (c->needs & NEEDS_CONFIG)) o->config = pos[1];
    if (c && (c->needs & NEEDS_INPUT)) o->input = pos[1];
    for (size_t k = 1; c && (c->needs & TAKES_FILES) && k < n_pos; k++)
        o->args[o->n_args++] = pos[k];
    int pack = c && (c->needs & TAKES_FILES);
    const char *why = !o->command ? "missing COMMAND"
                      : !c ? "unknown COMMAND"
                      : pack && !o->verify && !o->n_args ? "missing CONFIG or FILES"
                      : pack && !o->verify && !o->out ? "pack needs --out DIR"
                      : pack && o->verify && o->n_args
                          ? "pack --verify DIR takes no other files"
                      : !pack && (n_pos > 2 || o->verify || o->shard_size)
                          ? "unexpected argument (--verify and --shard-size "
                            "are for pack)"
                      : ((c->needs & NEEDS_CONFIG) && !o->config) ? "missing CONFIG"
                      : ((c->needs & NEEDS_INPUT) && !o->input) ? "missing INPUT"
                      : (!(c->needs & (NEEDS_CONFIG | NEEDS_INPUT |
                                       TAKES_FILES)) && pos[1])
                          ? "unexpected argument"
                      : ((c->needs & NEEDS_CHECKPOINT) && !o->checkpoint)
                          ? "this command needs --checkpoint PATH"
                      : (o->resume && strcmp(o->command, "train"))
                          ? "--resume is for train"
                      : !(o->temperature > 0) ? "--temperature must be > 0"
                          : NULL;
    if (why) {
        if (rank == 0)
            fprintf(stderr, "axon: %s%s%s\n\n%s", why, o->command && !c ? ": " : "",
                    o->command && !c ? o->command : "", usage);
        return 2;
    }
    return 0;
}

/* OpenBLAS threads per rank: OPENBLAS_NUM_THREADS if the user set it;
 * else SLURM's cpus-per-task; else the node's cores / ranks on the node,
 * so that ranks x threads never oversubscribe the cores. The fastest
 * setting when the cores are free (measured: docs/PERFORMANCE.md, "Whole
 * runs and BLAS threads"); on a shared machine 1 is faster, and the
 * README tells users so. */
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

/* training.deterministic: one BLAS thread per rank, whatever was asked
 * (docs/DETERMINISM.md): a BLAS routine may split a sum over its threads
 * (dot products, norms), and then its bits depend on their number. */
static void pin_threads(const tr_session *s)
{
    if (!s->cfg.train.deterministic || openblas_get_num_threads() == 1) return;
    openblas_set_num_threads(1);
    tr_say(s, "training.deterministic: 1 BLAS thread per rank\n");
}

/* Subnormals flushed to zero on every rank and its BLAS threads
 * (nn/fpu.h: why, and what it changes); AXON_KEEP_SUBNORMALS=1 keeps IEEE
 * subnormals. Collective. Returns 1 if every rank flushes them. */
static int set_fpu(comm_ctx *c)
{
    const char *keep = getenv("AXON_KEEP_SUBNORMALS");
    int on = !(keep && *keep && strcmp(keep, "0"));
    int flushing = nn_fpu_flush_subnormals(on) && on;
    int first_bad;
    return comm_agree(c, !flushing, &first_bad) == 0;
}

/* Collective. A command that writes checkpoints claims checkpoint.dir
 * for this job on rank 0 (io/file.h): an exclusive lock held until the
 * process ends (a second job on the same directory stops here, told the
 * holder's host and pid), then the temporaries of dead writers are
 * removed and what --resume auto would read is checked. */
static int claim_checkpoint_dir(tr_session *s, int *lock_fd)
{
    const char *dir = s->cfg.ckpt.dir;
    int st = 0;
    if (s->rank == 0 && dir) {
        size_t removed = 0;
        st = io_dir_lock(dir, lock_fd, &s->err);
        if (!st) st = io_remove_stale_temps(dir, &removed, &s->err);
        if (!st && removed)
            tr_say(s, "%s: removed %zu temporary file%s of writers that "
                      "died\n", dir, removed, removed == 1 ? "" : "s");
        if (!st && s->opt->resume && !strcmp(s->opt->resume, "auto"))
            st = io_check_resume_dir(dir, "last.ckpt", &s->err);
    }
    return tr_agree(s, st);
}

static int run(tr_session *s, int *lock_fd)
{
    const tr_command *c = find_command(s->opt->command);
    int st;
    /* predict and sample run on rank 0 alone while the others wait for
     * its result: no collective timeout there */
    if (!(c->needs & NEEDS_CONFIG)) comm_set_timeout(s->comm, 0);
    if (c->needs & TAKES_FILES) return c->run(s); /* its own set-up */
    if (c->needs & NEEDS_CONFIG) {
        if ((st = tr_load_config(s))) return st;
        comm_set_timeout(s->comm, s->cfg.train.collective_timeout);
        pin_threads(s);
        if ((c->needs & WRITES_CHECKPOINTS) &&
            (st = claim_checkpoint_dir(s, lock_fd)))
            return st;
        if ((st = tr_load_data(s))) return st;
        if ((st = tr_check_agreement(s))) return st;
        /* a training run's objective builds its own models (and checks
         * that they fit the machine, trainer/loop.c) */
        if (strcmp(c->name, "train") && (st = tr_build_model(s))) return st;
    }
    return c->run(s);
}

/* AXON_REPORT_IO=1: every rank prints, at its end, the bytes it read
 * (rchar of /proc/self/io: every read and pread, from disk or the page
 * cache) and its peak resident memory (VmHWM), for the measurements of
 * docs/DATA.md. */
static void report_io(int rank)
{
    const char *env = getenv("AXON_REPORT_IO");
    if (!env || !*env || !strcmp(env, "0")) return;
    unsigned long long rchar = 0, hwm = 0;
    char line[256];
    FILE *f = fopen("/proc/self/io", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "rchar: %llu", &rchar) == 1) break;
    if (f) fclose(f);
    f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu", &hwm) == 1) break;
    if (f) fclose(f);
    fprintf(stderr, "axon: [rank %d] read %llu bytes, peak RSS %llu kB\n",
            rank, rchar, hwm);
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
    /* A file-size limit (ulimit -f, a full quota) must make a write fail
     * with EFBIG, reported and survived, not kill the process. */
    signal(SIGXFSZ, SIG_IGN);
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
    /* output on standard output must be the only thing there */
    if (!o.config && !o.out && !o.verify) o.quiet = 1;
    int threads = set_threads(c);
    int flushing = set_fpu(c);
    tr_session s = {.comm = c, .rank = comm_rank(c), .size = comm_size(c),
                    .opt = &o};
    tr_say(&s, "axon %s: %s %s on %d rank%s, %d node%s (%d per node), %d "
               "BLAS thread%s per rank, subnormals %s\n",
           AXON_VERSION, o.command,
           o.config ? o.config : o.checkpoint ? o.checkpoint
           : o.verify ? o.verify : o.n_args ? o.args[0] : "",
           s.size, s.size == 1 ? "" : "s",
           comm_nodes(c), comm_nodes(c) == 1 ? "" : "s",
           comm_local_size(c), threads, threads == 1 ? "" : "s",
           flushing ? "flushed to zero" : "kept");
    int lock_fd = -1;
    st = run(&s, &lock_fd);
    tr_session_free(&s);
    report_io(comm_rank(c));
    io_dir_unlock(lock_fd);
    comm_finalize(c);
    return st;
}

/* trainer/objective.h - what a kind of training computes, as an ops
 * table (the way layers are): one file per objective plus one line in
 * the registry below (trainer/objective.c).
 *
 * An objective owns only its math. create() builds its parameter groups
 * (tr_group_add), declares the metric sums and views it reports, and
 * checks what it needs of the config; step() runs one optimizer step's
 * forward/backward phases over r->batch, ending each phase with
 * tr_group_update (the only update path) and writing the step's global
 * figures into r->step_sums. Everything else (epochs, schedule, signals,
 * checkpoints, metrics, early stopping) is the loop's.
 */
#ifndef TRAINER_OBJECTIVE_H
#define TRAINER_OBJECTIVE_H

#include "trainer/run.h"

typedef struct tr_objective_ops {
    const char *name;
    /* Optional: the config keys the objective owns and their cross-checks
     * (io/config.h); its section, if it has one, names the objective when
     * the config has no `objective:` key. */
    const io_schema *schema;
    /* 1 if step() runs its passes by tr_passes with tr_group_begin and
     * tr_group_pass_done, as training.deterministic needs. */
    int deterministic;
    /* Build groups and state (*obj); check the config. Collective: the
     * same status on every rank (tr_agree), 0 or an exit code. */
    int (*create)(tr_run *r, void **obj);
    void (*destroy)(void *obj);
    /* Buffers for steps of up to `rows` local rows per pass. */
    void (*reserve)(tr_run *r, void *obj, size_t rows);
    /* One optimizer step over r->batch. 0, or an exit code (the same on
     * every rank: tr_group_update agrees). */
    int (*step)(tr_run *r, void *obj);
    /* Optional: sums (the views' eval figures) over local rows
     * rows[0, n) of d, summed across ranks. Collective. NULL: the run has
     * no validation or test figures. */
    int (*evaluate)(tr_run *r, void *obj, const io_dataset *d,
                    const size_t *rows, size_t n, double *sums);
    /* Optional: extra checkpoint sections (borrowed from obj), and their
     * check on load (rank 0; path for messages). */
    void (*save)(tr_run *r, void *obj, io_ckpt *c);
    int (*load)(tr_run *r, void *obj, io_ckpt *c, const char *path);
    /* Optional: the model's shape the checkpoint records as input_shape. */
    nn_shape (*input_shape)(tr_run *r, void *obj);
    /* Optional: after the last epoch, before the test figures. */
    void (*finish)(tr_run *r, void *obj);
    /* Optional: an objective that makes its own data (reinforcement
     * learning: rollouts of its environments) brings the sampler that
     * says how many steps an epoch has and what a step's batch is; the
     * run then loads no dataset (tr_load_data) and the sampler's
     * save/load carry the data source's state. NULL: data.sampler. */
    const struct tr_sampler_ops *sampler;
} tr_objective_ops;

/* The objective named `name`, or NULL. */
const tr_objective_ops *tr_objective_find(const char *name);

/* The objective a config asks for: its `objective:` key, else the
 * objective whose schema section the config has (e.g. "gan"), else
 * "supervised" (classification, regression, autoencoder, pseudo-labels). */
const char *tr_objective_of(const io_config *cfg);

/* The config's objective into *out; NN_EXIT_USAGE naming the file, line
 * and the known names when there is none of that name. */
int tr_objective_pick(tr_session *s, const tr_objective_ops **out);

/* Every objective's schema fragment, NULL-terminated. */
const io_schema *const *tr_config_schemas(void);

/* io_config_parse with every objective's fragment, then: the config's
 * objective exists, no key of another objective's fragment is set, and
 * the objective's own cross-checks pass. 0, or NN_EXIT_USAGE naming the
 * file, line and key (*cfg then empty, as io_config_parse leaves it). */
int tr_config_parse(io_config *cfg, const char *path, const char *text,
                    size_t len, char *const *sets, size_t n_sets,
                    nn_error *err);

#endif

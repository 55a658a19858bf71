/* nn/schedule.h - learning-rate schedules: the rate as a pure function of
 * the global step.
 *
 * `step` counts optimizer updates already taken: the first update uses
 * nn_schedule_lr(s, 0). Everything is in steps; a caller that configures
 * epochs converts them with its steps per epoch (optimizer steps, so with
 * gradient accumulation one step is k micro-batches).
 *
 * Optional linear warmup: for step < warmup_steps
 *     lr = warmup_start + (base_lr - warmup_start) * step / warmup_steps,
 * so step 0 runs at warmup_start and step warmup_steps at base_lr. The
 * schedule's own clock t = step - warmup_steps starts when warmup ends:
 *     constant     base_lr
 *     step         base_lr * gamma^floor(t / step_size)
 *     exponential  base_lr * gamma^(t / decay_steps)      (smooth, no staircase)
 *     cosine       min_lr + (base_lr - min_lr) * (1 + cos(pi * t / L)) / 2,
 *                  L = total_steps - warmup_steps; min_lr from step
 *                  total_steps on (total_steps is absolute: the end of
 *                  training, warmup included).
 * Every schedule is continuous at the end of the warmup.
 */
#ifndef NN_SCHEDULE_H
#define NN_SCHEDULE_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */
#include "nn/error.h"

/* The order is the order of nn_schedule_kind_name / the config's names. */
typedef enum {
    NN_SCHED_CONSTANT = 0,
    NN_SCHED_STEP = 1,
    NN_SCHED_EXPONENTIAL = 2,
    NN_SCHED_COSINE = 3
} nn_schedule_kind;

#define NN_SCHED_KINDS 4

typedef struct nn_schedule {
    nn_schedule_kind kind;
    double base_lr;        /* > 0; after any linear scaling */
    uint64_t warmup_steps; /* 0 = no warmup */
    double warmup_start;   /* lr at step 0 of the warmup, >= 0 (usually 0) */
    uint64_t step_size;    /* step: updates between multiplications, >= 1 */
    double gamma;          /* step, exponential: factor in (0, 1] */
    uint64_t decay_steps;  /* exponential: updates per factor gamma, >= 1 */
    uint64_t total_steps;  /* cosine: absolute step where min_lr is reached,
                              > warmup_steps */
    double min_lr;         /* cosine: floor, in [0, base_lr] */
} nn_schedule;

/* A constant schedule at `lr` with no warmup; the other fields hold the
 * usual defaults (gamma 0.1, min_lr 0) and are ignored by `constant`. */
nn_schedule nn_schedule_constant(double lr);

/* 0 if s is usable, else NN_EXIT_USAGE and a message naming the field
 * (e.g. "schedule step: step_size must be >= 1"). Fields the kind does not
 * use are not checked. */
int nn_schedule_check(const nn_schedule *s, nn_error *err);

/* The learning rate for the update after `step` updates (see the top of
 * this file). s must pass nn_schedule_check; a schedule that would divide
 * by zero is a broken invariant (NN_CHECK). Pure: no state, any order. */
double nn_schedule_lr(const nn_schedule *s, uint64_t step);

/* The linear scaling rule (Goyal et al. 2017): lr * global_batch /
 * reference_batch; reference_batch 0 means "off" and returns lr. Applied by
 * the caller to base_lr only (not to warmup_start or min_lr). */
double nn_schedule_linear_scale(double lr, size_t global_batch,
                                size_t reference_batch);

/* "constant", "step", "exponential", "cosine" -> kind; -1 if unknown
 * (or NULL). */
int nn_schedule_kind_parse(const char *s);

/* The name of a kind ("?" for a value outside the enum). */
const char *nn_schedule_kind_name(nn_schedule_kind k);

#endif

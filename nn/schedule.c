/* nn/schedule.c - learning-rate schedules (see nn/schedule.h for the
 * formulas). All arithmetic is in double; the step counts are converted
 * once, so a schedule over 2^53 steps would lose exactness, which no
 * training run reaches. */
#include "nn/schedule.h"

#include <math.h>   /* cos, pow, isfinite */
#include <string.h> /* strcmp */

#include "nn/check.h"

static const char *const kind_names[NN_SCHED_KINDS] = {
    "constant", "step", "exponential", "cosine"};

/* pi to double precision (M_PI is not in C11). */
static const double PI = 3.14159265358979323846;

nn_schedule nn_schedule_constant(double lr)
{
    nn_schedule s = {.kind = NN_SCHED_CONSTANT, .base_lr = lr, .gamma = 0.1};
    return s;
}

int nn_schedule_kind_parse(const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < NN_SCHED_KINDS; i++)
        if (strcmp(kind_names[i], s) == 0) return i;
    return -1;
}

const char *nn_schedule_kind_name(nn_schedule_kind k)
{
    return (unsigned)k < NN_SCHED_KINDS ? kind_names[k] : "?";
}

static int gamma_ok(double g)
{
    return isfinite(g) && g > 0.0 && g <= 1.0;
}

int nn_schedule_check(const nn_schedule *s, nn_error *err)
{
    const char *name = nn_schedule_kind_name(s->kind);
    if ((unsigned)s->kind >= NN_SCHED_KINDS)
        return nn_error_set(err, NN_EXIT_USAGE, "schedule: unknown kind %d",
                            (int)s->kind);
    if (!isfinite(s->base_lr) || s->base_lr <= 0.0)
        return nn_error_set(err, NN_EXIT_USAGE,
                            "schedule %s: base lr %g must be > 0", name,
                            s->base_lr);
    if (s->warmup_steps && (!isfinite(s->warmup_start) || s->warmup_start < 0))
        return nn_error_set(err, NN_EXIT_USAGE,
                            "schedule %s: warmup start lr %g must be >= 0",
                            name, s->warmup_start);
    switch (s->kind) {
    case NN_SCHED_STEP:
        if (s->step_size == 0)
            return nn_error_set(err, NN_EXIT_USAGE,
                                "schedule step: step_size must be >= 1");
        break;
    case NN_SCHED_EXPONENTIAL:
        if (s->decay_steps == 0)
            return nn_error_set(err, NN_EXIT_USAGE,
                                "schedule exponential: decay_steps must be >= 1");
        break;
    case NN_SCHED_COSINE:
        if (s->total_steps <= s->warmup_steps)
            return nn_error_set(err, NN_EXIT_USAGE,
                                "schedule cosine: the run has %llu optimizer "
                                "steps (training.epochs x steps per epoch) "
                                "and the warmup takes %llu, which leaves no "
                                "step for the cosine; train more epochs or "
                                "shorten the warmup (training.warmup_steps "
                                "or warmup_epochs)",
                                (unsigned long long)s->total_steps,
                                (unsigned long long)s->warmup_steps);
        if (!isfinite(s->min_lr) || s->min_lr < 0 || s->min_lr > s->base_lr)
            return nn_error_set(err, NN_EXIT_USAGE,
                                "schedule cosine: min_lr %g must lie in [0, "
                                "base lr %g]", s->min_lr, s->base_lr);
        break;
    default:
        break;
    }
    if ((s->kind == NN_SCHED_STEP || s->kind == NN_SCHED_EXPONENTIAL) &&
        !gamma_ok(s->gamma))
        return nn_error_set(err, NN_EXIT_USAGE,
                            "schedule %s: gamma %g must lie in (0, 1]", name,
                            s->gamma);
    return 0;
}

/* The rate `t` updates after the warmup ended. */
static double after_warmup(const nn_schedule *s, uint64_t t)
{
    switch (s->kind) {
    case NN_SCHED_STEP:
        NN_CHECK(s->step_size > 0, "schedule step: step_size is 0");
        /* integer division: the rate changes exactly at multiples */
        return s->base_lr * pow(s->gamma, (double)(t / s->step_size));
    case NN_SCHED_EXPONENTIAL:
        NN_CHECK(s->decay_steps > 0, "schedule exponential: decay_steps is 0");
        return s->base_lr * pow(s->gamma, (double)t / (double)s->decay_steps);
    case NN_SCHED_COSINE: {
        NN_CHECK(s->total_steps > s->warmup_steps,
                 "schedule cosine: total_steps <= warmup_steps");
        uint64_t len = s->total_steps - s->warmup_steps;
        if (t >= len) return s->min_lr;
        /* half a cosine period: factor 1 at t = 0, 0 at t = len */
        double f = 0.5 * (1.0 + cos(PI * (double)t / (double)len));
        return s->min_lr + (s->base_lr - s->min_lr) * f;
    }
    case NN_SCHED_CONSTANT:
        return s->base_lr;
    }
    NN_CHECK(0, "schedule: unknown kind %d", (int)s->kind);
    return 0.0;
}

double nn_schedule_lr(const nn_schedule *s, uint64_t step)
{
    if (step < s->warmup_steps) {
        /* a straight line from (0, warmup_start) to (W, base_lr) */
        double frac = (double)step / (double)s->warmup_steps;
        return s->warmup_start + (s->base_lr - s->warmup_start) * frac;
    }
    return after_warmup(s, step - s->warmup_steps);
}

double nn_schedule_linear_scale(double lr, size_t global_batch,
                                size_t reference_batch)
{
    if (reference_batch == 0) return lr;
    return lr * ((double)global_batch / (double)reference_batch);
}

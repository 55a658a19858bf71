/* trainer/report.c - progress lines and metrics records (rank 0 only). */
#include "trainer/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/file.h"

int tr_mkdirs(const char *dir) { return io_mkdirs(dir); }

double tr_mean_loss(const tr_stats *t)
{
    return t->count > 0 ? t->loss_sum / t->count : NAN;
}

double tr_accuracy(const tr_session *s, const tr_stats *t)
{
    if (!s->loss->classifier || t->count <= 0) return -1;
    return t->correct / t->count;
}

int tr_metrics_open(tr_session *s, int append)
{
    const char *path = s->cfg.log.metrics;
    if (s->rank != 0 || !path) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        int e = tr_mkdirs(dir);
        if (e)
            return nn_error_set(&s->err, NN_EXIT_DATA,
                                "%s: cannot create directory: %s", dir,
                                strerror(e));
    }
    s->metrics = fopen(path, append ? "a" : "w");
    if (!s->metrics)
        return nn_error_set(&s->err, NN_EXIT_DATA, "%s: cannot open: %s",
                            path, strerror(errno));
    return 0;
}

/* JSON has no NaN: write null for values that are not finite. */
static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.9g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

/* Semi-supervised: the supervised part (the same as train_loss, over
 * the labelled rows), the pseudo-label part (unweighted mean over the
 * rows that got a pseudo-label) and how many rows got one. */
static void semisup_fields(FILE *f, const tr_stats *t)
{
    json_num(f, "train_sup_loss", tr_mean_loss(t));
    json_num(f, "train_pseudo_loss",
             t->pseudo_count > 0 ? t->pseudo_sum / t->pseudo_count : NAN);
    fprintf(f, ",\"pseudo_labelled\":%.0f,\"unlabelled\":%.0f",
            t->pseudo_count, t->unlabelled);
}

void tr_metrics_flush(tr_session *s, int had_error)
{
    if (fflush(s->metrics) == 0 && !ferror(s->metrics)) return;
    if (!had_error)
        fprintf(stderr, "axon: warning: %s: cannot write metrics: %s; "
                        "training goes on, the run will exit 3\n",
                s->cfg.log.metrics, strerror(errno));
}

void tr_metrics_epoch(tr_session *s, const tr_epoch_report *r)
{
    FILE *f = s->metrics;
    if (!f) return;
    int had_error = ferror(f);
    fprintf(f, "{\"epoch\":%llu,\"step\":%llu", (unsigned long long)r->epoch,
            (unsigned long long)r->step);
    json_num(f, "lr", r->lr);
    json_num(f, "train_loss", tr_mean_loss(&r->train));
    if (s->loss->classifier)
        json_num(f, "train_accuracy", tr_accuracy(s, &r->train));
    if (s->cfg.train.pseudo_label_threshold > 0) semisup_fields(f, &r->train);
    if (r->val.count > 0) {
        json_num(f, "val_loss", tr_mean_loss(&r->val));
        if (s->loss->classifier)
            json_num(f, "val_accuracy", tr_accuracy(s, &r->val));
        fprintf(f, ",\"val_samples\":%.0f", r->val.count);
    }
    json_num(f, "samples_per_sec", r->samples_per_sec);
    json_num(f, "elapsed", r->elapsed);
    fprintf(f, ",\"ranks\":%d}\n", s->size);
    tr_metrics_flush(s, had_error);
}

void tr_metrics_final(tr_session *s, const char *split, const tr_stats *t)
{
    FILE *f = s->metrics;
    if (!f) return;
    int had_error = ferror(f);
    fprintf(f, "{\"final\":true,\"split\":\"%s\",\"step\":%llu", split,
            (unsigned long long)s->global_step);
    json_num(f, "loss", tr_mean_loss(t));
    if (s->loss->classifier) json_num(f, "accuracy", tr_accuracy(s, t));
    fprintf(f, ",\"samples\":%.0f}\n", t->count);
    tr_metrics_flush(s, had_error);
}

static void fmt_duration(double sec, char *buf, size_t cap)
{
    if (!isfinite(sec) || sec < 0) sec = 0;
    unsigned long t = (unsigned long)(sec + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%luh%02lum", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%lum%02lus", t / 60, t % 60);
    else
        snprintf(buf, cap, "%lus", t);
}

void tr_progress(tr_session *s, uint64_t epoch, uint64_t epochs,
                 uint64_t step, uint64_t steps, const tr_stats *st,
                 double samples_per_sec, double eta)
{
    char eta_s[32], acc[96] = "";
    fmt_duration(eta, eta_s, sizeof eta_s);
    double a = tr_accuracy(s, st);
    if (a >= 0) snprintf(acc, sizeof acc, "  acc %6.2f%%", 100 * a);
    if (s->cfg.train.pseudo_label_threshold > 0)
        snprintf(acc + strlen(acc), sizeof acc - strlen(acc),
                 "  pseudo %.0f/%.0f", st->pseudo_count, st->unlabelled);
    tr_say(s, "epoch %llu/%llu  step %llu/%llu  loss %.4f%s  %.0f samples/s  "
              "ETA %s\n",
           (unsigned long long)epoch, (unsigned long long)epochs,
           (unsigned long long)step, (unsigned long long)steps,
           tr_mean_loss(st), acc, samples_per_sec, eta_s);
}

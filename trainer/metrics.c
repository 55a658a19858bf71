/* trainer/metrics.c - what rank 0 tells the user, printed generically
 * from the objective's named sums and views (trainer/run.h): the progress
 * line, the epoch line, the per-epoch JSON-lines record and the final
 * summary. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "io/file.h"
#include "nn/check.h"
#include "trainer/run.h"

int tr_metrics_sum(tr_metrics *m, const char *name)
{
    NN_CHECK(m->n_sums < TR_MAX_SUMS, "too many metric sums");
    m->sums[m->n_sums] = name;
    return (int)m->n_sums++;
}

void tr_metrics_view(tr_metrics *m, tr_view v)
{
    NN_CHECK(m->n_views < TR_MAX_VIEWS, "too many metric views");
    if (v.scale == 0) v.scale = 1;
    m->views[m->n_views++] = v;
}

double tr_view_value(const tr_view *v, const double *sums)
{
    if (v->den < 0) return sums[v->num] * v->scale;
    return sums[v->den] > 0 ? sums[v->num] / sums[v->den] * v->scale : NAN;
}

const tr_view *tr_metrics_find_eval(const tr_metrics *m, const char *monitor)
{
    if (!monitor || strncmp(monitor, "val_", 4)) return NULL;
    for (size_t i = 0; i < m->n_views; i++)
        if (m->views[i].eval_key && !strcmp(m->views[i].eval_key, monitor + 4))
            return &m->views[i];
    return NULL;
}

double tr_monitor_value(const tr_run *r, const double *val)
{
    const tr_view *v =
        tr_metrics_find_eval(&r->metrics, r->s->cfg.early_stop.monitor);
    return v ? tr_view_value(v, val) / v->scale : NAN;
}

int tr_metrics_open(tr_run *r, int append)
{
    tr_session *s = r->s;
    const char *path = s->cfg.log.metrics;
    if (s->rank != 0 || !path) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        int e = io_mkdirs(dir);
        if (e)
            return nn_error_set(&s->err, NN_EXIT_DATA,
                                "%s: cannot create directory: %s", dir,
                                strerror(e));
    }
    r->metrics_file = fopen(path, append ? "a" : "w");
    if (!r->metrics_file)
        return nn_error_set(&s->err, NN_EXIT_DATA, "%s: cannot open: %s",
                            path, strerror(errno));
    return 0;
}

int tr_metrics_close(tr_run *r)
{
    FILE *f = r->metrics_file;
    if (!f) return 0;
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    r->metrics_file = NULL;
    if (!bad) return 0;
    return nn_error_set(&r->s->err, NN_EXIT_DATA,
                        "%s: the metrics file could not be written "
                        "completely; check the disk and the path in "
                        "logging.metrics", r->s->cfg.log.metrics);
}

/* After a record: flush it, and warn once (the stream's error flag stays
 * set; had_error is its value before the record) when a write failed. The
 * run then ends with exit 3 (tr_metrics_close). */
static void flush_record(tr_run *r, int had_error)
{
    FILE *f = r->metrics_file;
    if (fflush(f) == 0 && !ferror(f)) return;
    if (!had_error)
        fprintf(stderr, "axon: warning: %s: cannot write metrics: %s; "
                        "training goes on, the run will exit 3\n",
                r->s->cfg.log.metrics, strerror(errno));
}

/* JSON has no NaN: write null for values that are not finite. */
static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.9g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

/* "  label value" for every view with a label; eval = 1: the evaluation
 * figures ("  val label value"). */
static void views_text(const tr_run *r, const double *sums, int eval,
                       char *buf, size_t cap)
{
    const tr_metrics *m = &r->metrics;
    size_t len = strlen(buf);
    for (size_t i = 0; i < m->n_views && len + 1 < cap; i++) {
        const tr_view *v = &m->views[i];
        if (!v->label || (eval && !v->eval_key) || (!eval && !v->key))
            continue;
        char val[48];
        snprintf(val, sizeof val, v->fmt, tr_view_value(v, sums));
        len += (size_t)snprintf(buf + len, cap - len, "  %s%s %s",
                                eval ? "val " : "", v->label, val);
    }
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

void tr_report_progress(tr_run *r, size_t step, size_t steps,
                        const double *sums, double sps, double eta)
{
    char eta_s[32], text[256] = "";
    fmt_duration(eta, eta_s, sizeof eta_s);
    views_text(r, sums, 0, text, sizeof text);
    tr_say(r->s, "epoch %llu/%zu  step %zu/%zu%s  %.0f samples/s  ETA %s\n",
           (unsigned long long)r->epoch + 1, r->s->cfg.train.epochs, step,
           steps, text, sps, eta_s);
}

void tr_report_epoch(tr_run *r, const double *sums, const double *val,
                     double sps, double dt)
{
    tr_session *s = r->s;
    uint64_t epoch = r->epoch + 1, epochs = s->cfg.train.epochs;
    char text[384] = "";
    views_text(r, sums, 0, text, sizeof text);
    if (val) views_text(r, val, 1, text, sizeof text);
    /* Long runs of tiny epochs (linear regression) print ~50 lines. */
    uint64_t every = epochs > 100 ? epochs / 50 : 1;
    if (epoch % every == 0 || epoch == 1)
        tr_say(s, "epoch %llu/%llu done:%s  %.0f samples/s  %.1fs\n",
               (unsigned long long)epoch, (unsigned long long)epochs,
               text[0] ? text + 1 : "", sps, dt);
    FILE *f = r->metrics_file;
    if (!f) return;
    int had_error = ferror(f);
    const tr_metrics *m = &r->metrics;
    fprintf(f, "{\"epoch\":%llu,\"step\":%llu", (unsigned long long)epoch,
            (unsigned long long)r->global_step);
    for (size_t g = 0; g < r->n_groups; g++) {
        char key[TR_GROUP_NAME + 8] = "lr";
        if (r->n_groups > 1)
            snprintf(key, sizeof key, "%s_lr", r->groups[g]->name);
        json_num(f, key, tr_group_lr(r, r->groups[g]));
    }
    for (size_t i = 0; i < m->n_views; i++)
        if (m->views[i].key)
            json_num(f, m->views[i].key,
                     tr_view_value(&m->views[i], sums) / m->views[i].scale);
    for (size_t i = 0; val && i < m->n_views; i++) {
        const tr_view *v = &m->views[i];
        if (!v->eval_key) continue;
        char key[64];
        snprintf(key, sizeof key, "val_%s", v->eval_key);
        json_num(f, key, tr_view_value(v, val) / v->scale);
    }
    if (val) fprintf(f, ",\"val_samples\":%.0f", val[r->metrics.count]);
    json_num(f, "samples_per_sec", sps);
    json_num(f, "elapsed", comm_wtime() - r->t0);
    fprintf(f, ",\"ranks\":%d}\n", s->size);
    flush_record(r, had_error);
}

void tr_report_final(tr_run *r, const char *split, const double *sums)
{
    const tr_metrics *m = &r->metrics;
    char text[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < m->n_views; i++) {
        const tr_view *v = &m->views[i];
        if (!v->eval_key) continue;
        char val[48];
        snprintf(val, sizeof val, v->fmt, tr_view_value(v, sums));
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%s %s",
                                len ? "  " : "", v->eval_key, val);
    }
    tr_say(r->s, "%s: %s (%.0f samples)\n", split, text, sums[r->metrics.count]);
    FILE *f = r->metrics_file;
    if (!f) return;
    int had_error = ferror(f);
    fprintf(f, "{\"final\":true,\"split\":\"%s\",\"step\":%llu", split,
            (unsigned long long)r->global_step);
    for (size_t i = 0; i < m->n_views; i++)
        if (m->views[i].eval_key)
            json_num(f, m->views[i].eval_key,
                     tr_view_value(&m->views[i], sums) / m->views[i].scale);
    fprintf(f, ",\"samples\":%.0f}\n", sums[r->metrics.count]);
    flush_record(r, had_error);
}

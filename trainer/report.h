/* trainer/report.h - what rank 0 tells the user: progress lines, the
 * per-epoch metrics record (JSON lines) and the final summary. */
#ifndef TRAINER_REPORT_H
#define TRAINER_REPORT_H

#include "trainer/session.h"

typedef struct tr_epoch_report {
    uint64_t epoch;          /* 1-based for people */
    uint64_t step;           /* global step at the end of the epoch */
    double lr;
    tr_stats train, val;     /* val.count == 0: no validation */
    double samples_per_sec;
    double elapsed;
} tr_epoch_report;

/* Open the metrics file (rank 0; creates parent directories). Appends when
 * resuming, truncates otherwise. */
int tr_metrics_open(tr_session *s, int append);
void tr_metrics_epoch(tr_session *s, const tr_epoch_report *r);
/* After writing a record to s->metrics: flush it, and warn (once: the
 * stream's error flag stays set, `had_error` is its value before the
 * record) when the write failed. main turns a failed metrics file into
 * exit 3 at the end of the run. */
void tr_metrics_flush(tr_session *s, int had_error);
void tr_metrics_final(tr_session *s, const char *split, const tr_stats *t);

/* "epoch 1/10 step 200/844 loss 0.5123 acc 81.20% 41,234 samples/s ETA 1m23s" */
void tr_progress(tr_session *s, uint64_t epoch, uint64_t epochs,
                 uint64_t step, uint64_t steps, const tr_stats *st,
                 double samples_per_sec, double eta);

/* Mean loss and accuracy of accumulated stats (accuracy < 0 if none). */
double tr_mean_loss(const tr_stats *t);
double tr_accuracy(const tr_session *s, const tr_stats *t);

/* Create a directory and its parents (like mkdir -p); 0 or errno. */
int tr_mkdirs(const char *dir);

#endif

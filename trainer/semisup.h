/* trainer/semisup.h - the pseudo-label term of semi-supervised training
 * (used by the supervised objective, trainer/obj_supervised.c). */
#ifndef TRAINER_SEMISUP_H
#define TRAINER_SEMISUP_H

#include <stddef.h>

#include "trainer/session.h"

/* The supervised objective's keys (its schema fragment, tr_supervised_
 * schema in trainer/obj_supervised.c): an unlabelled row whose largest
 * softmax probability reaches the threshold takes its argmax as its
 * label, its loss term weighted by the weight. Threshold 0 = off. */
typedef struct tr_semisup_cfg {
    double pseudo_label_threshold; /* training.pseudo_label_threshold:
                                      0 or in (0, 1) */
    double pseudo_label_weight;    /* training.pseudo_label_weight: > 0,
                                      default 1 */
} tr_semisup_cfg;

extern const io_schema tr_supervised_schema;

/* cfg's values of those keys (off when cfg was read without them). */
const tr_semisup_cfg *tr_semisup_cfg_of(const io_config *cfg);

/* The pseudo-label term, pure: for each row i with target[i] ==
 * NN_LABEL_NONE, p = softmax(pred[i]); if max_k p_k >= threshold, the
 * row's label is c = argmax p (held constant) and its term is
 * weight * CE(pred[i], c), so dpred[i] = weight * scale * (p - onehot(c));
 * rows below the threshold get dpred[i] = 0. Labelled rows are not
 * touched. acc gets unlabelled += rows without a label, pseudo_count +=
 * rows pseudo-labelled, pseudo_sum += their unweighted CE. threshold in
 * (0, 1); dpred may be NULL. */
void tr_pseudo_labels(const float *pred, const float *target, size_t n,
                      size_t dim, double threshold, float weight, float scale,
                      float *dpred, tr_stats *acc);

/* The training loss of `rows` loss rows: the configured loss scores the
 * labelled ones; with training.pseudo_label_threshold > 0 the pseudo-label
 * term is added for the unlabelled ones. dpred gets scale * d(loss)/d(pred)
 * and acc this call's (local) figures. */
void tr_train_loss(const tr_session *s, const float *pred, const float *target,
                   size_t rows, float scale, float *dpred, tr_stats *acc);
/* Start-up check (after tr_loss_layout): pseudo-labels need one class per
 * sample, not a sequence. 0 or NN_EXIT_USAGE with s->err set. */
int tr_semisup_check(tr_session *s);

#endif

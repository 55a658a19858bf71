/* trainer/semisup.c - the training loss when some rows have no label.
 *
 * The configured loss scores the labelled rows as always (cross_entropy
 * skips a target of NN_LABEL_NONE). With training.pseudo_label_threshold
 * > 0 the unlabelled rows add a second term, confidence-thresholded
 * pseudo-labels (Lee 2013, "Pseudo-Label"; the threshold as in FixMatch):
 * a row the model already classifies with probability >= threshold is
 * trained as if its label were that class, weighted by
 * training.pseudo_label_weight. The per-row loss of a batch is then
 *     L = sum_labelled CE(z_i, y_i) + w * sum_confident CE(z_i, argmax z_i)
 * scaled, like the supervised term, by 1 / (global batch rows * steps).
 * Each row's term depends only on its own forward pass, so the sum over
 * ranks is the same for any rank count.
 */
#include <math.h>   /* logf, expf */
#include <string.h> /* memset */

#include "nn/loss.h"
#include "trainer/semisup.h"

void tr_pseudo_labels(const float *pred, const float *target, size_t n,
                      size_t dim, double threshold, float weight, float scale,
                      float *dpred, tr_stats *acc)
{
    for (size_t i = 0; i < n; i++) {
        if (target[i] != NN_LABEL_NONE) continue;
        acc->unlabelled += 1;
        const float *z = pred + i * dim;
        float *dz = dpred ? dpred + i * dim : NULL;
        size_t c = 0;
        for (size_t j = 1; j < dim; j++)
            if (z[j] > z[c]) c = j;
        /* With m = z_c the largest logit, sum = sum_j exp(z_j - m) >= 1:
         * p_c = 1 / sum and CE(z, c) = log(sum) - (z_c - m) = log(sum). */
        float sum = 0.0f;
        for (size_t j = 0; j < dim; j++) sum += expf(z[j] - z[c]);
        if (!((double)(1.0f / sum) >= threshold)) {
            if (dz) memset(dz, 0, dim * sizeof *dz);
            continue;
        }
        acc->pseudo_count += 1;
        acc->pseudo_sum += (double)logf(sum);
        if (!dz) continue;
        /* d(w CE)/dz_j = w (p_j - [j == c]) */
        float k = weight * scale / sum;
        for (size_t j = 0; j < dim; j++) dz[j] = k * expf(z[j] - z[c]);
        dz[c] -= weight * scale;
    }
}

void tr_train_loss(const tr_session *s, const float *pred, const float *target,
                   size_t rows, float scale, float *dpred, tr_stats *acc)
{
    nn_loss_stats ls = {0};
    s->loss->eval(pred, target, rows, s->loss_dim, scale, dpred, &ls);
    acc->loss_sum += ls.sum;
    acc->correct += (double)ls.correct;
    acc->count += (double)ls.counted;
    const tr_semisup_cfg *c = tr_semisup_cfg_of(&s->cfg);
    if (c->pseudo_label_threshold > 0)
        tr_pseudo_labels(pred, target, rows, s->loss_dim,
                         c->pseudo_label_threshold,
                         (float)c->pseudo_label_weight, scale, dpred, acc);
}

int tr_semisup_check(tr_session *s)
{
    if (!(tr_semisup_cfg_of(&s->cfg)->pseudo_label_threshold > 0) ||
        s->loss_steps == 1)
        return 0;
    /* In a sequence NN_LABEL_NONE marks padded steps, not unlabelled
     * samples: pseudo-labelling those would invent targets for padding. */
    return nn_error_set(&s->err, NN_EXIT_USAGE,
                        "%s: training.pseudo_label_threshold: pseudo-labels "
                        "need one class per sample, but the model's output "
                        "holds %zu steps",
                        s->opt->config, s->loss_steps);
}

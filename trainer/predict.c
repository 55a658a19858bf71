/* trainer/predict.c - `axon predict --checkpoint PATH INPUT [--out FILE]`:
 * predictions for a file of inputs from a checkpoint alone. The model is
 * rebuilt from the config text stored in the checkpoint, the input shape
 * and normalisation statistics from its sections; no training data
 * is read. Runs on rank 0 (other ranks of an mpirun have nothing to do).
 *
 * Output, CSV with a header: for cross_entropy "row,class,p0,..,pK-1"
 * (softmax probabilities); for bce "row,p0,.." (sigmoid); for mse
 * "row,y0,..". Rows are numbered from 0 in input order. A sequence
 * classifier (output [T, K], e.g. the char LSTM: a class per step) gets
 * one line per step, "row,step,class,p0,..,pK-1", each step's K
 * probabilities a softmax of its own (steps numbered from 0). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"
#include "nn/check.h"
#include "trainer/gan.h"
#include "trainer/session.h"

/* Read INPUT as rows of the model's input into *x, as its format does. */
static int read_inputs(tr_session *s, float **x, size_t *rows)
{
    const io_format_ops *f = io_format_find(s->cfg.data.format);
    if (!f || !f->inputs)
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "%s: predict cannot read inputs of data.format "
                            "%s",
                            s->opt->checkpoint, s->cfg.data.format);
    return f->inputs(s->opt->input, &s->cfg.data, s->model->in, x, rows,
                     &s->err);
}

static int normalise(tr_session *s, io_ckpt *c, float *x, size_t rows,
                     size_t xw)
{
    const io_data_cfg *d = &s->cfg.data;
    if (!strcmp(d->normalize, "scale")) {
        for (size_t i = 0; i < rows * xw; i++) x[i] *= (float)d->scale;
    } else if (!strcmp(d->normalize, "standardize")) {
        const void *mp, *sp;
        const char *path = s->opt->checkpoint;
        size_t bytes = xw * sizeof(double);
        int st = io_ckpt_need(c, path, "norm_mean", bytes, &mp, NULL, &s->err);
        if (!st) st = io_ckpt_need(c, path, "norm_std", bytes, &sp, NULL, &s->err);
        if (st) return st;
        io_standardize(x, rows, xw, mp, sp);
    }
    return 0;
}

static void write_header(FILE *f, const tr_session *s, size_t dim)
{
    int ce = !strcmp(s->loss->name, "cross_entropy");
    fprintf(f, "row%s%s", s->loss_steps > 1 ? ",step" : "",
            ce ? ",class" : "");
    for (size_t j = 0; j < dim; j++)
        fprintf(f, ",%s%zu", strcmp(s->loss->name, "mse") ? "p" : "y", j);
    fputc('\n', f);
}

/* Forward every row in chunks; write one CSV line per row and step. The
 * output of a row is loss_steps groups of loss_dim values (tr_loss_layout):
 * a softmax is taken over each group alone. */
static int write_predictions(tr_session *s, const float *x, size_t rows,
                             size_t xw, FILE *f)
{
    size_t steps = s->loss_steps, dim = s->loss_dim, chunk = 256;
    int ce = !strcmp(s->loss->name, "cross_entropy");
    int bce = !strcmp(s->loss->name, "bce");
    float *p = nn_xalloc_floats(chunk * steps * dim);
    nn_pass pass = {.training = 0, .seed = s->cfg.train.seed};
    nn_model_reserve(s->model, chunk);
    write_header(f, s, dim);
    for (size_t at = 0; at < rows; at += chunk) {
        size_t n = rows - at < chunk ? rows - at : chunk;
        const float *y = nn_model_forward(s->model, x + at * xw, n, &pass);
        if (ce) nn_softmax_rows(y, p, n * steps, dim);
        else memcpy(p, y, n * steps * dim * sizeof *p);
        for (size_t i = 0; i < n * steps; i++) {
            float *r = p + i * dim;
            fprintf(f, "%zu", at + i / steps);
            if (steps > 1) fprintf(f, ",%zu", i % steps);
            if (ce) {
                size_t best = 0;
                for (size_t j = 1; j < dim; j++) if (r[j] > r[best]) best = j;
                fprintf(f, ",%zu", best);
            }
            for (size_t j = 0; j < dim; j++)
                fprintf(f, ",%.6g", bce ? 1 / (1 + exp(-(double)r[j])) : (double)r[j]);
            fputc('\n', f);
        }
    }
    free(p);
    return ferror(f) ? nn_error_set(&s->err, NN_EXIT_DATA, "%s: write failed",
                                    s->opt->out ? s->opt->out : "stdout")
                     : 0;
}

/* Rank 0's whole job. */
static int predict(tr_session *s)
{
    io_ckpt c = {0};
    float *x = NULL;
    size_t rows = 0;
    nn_shape in;
    FILE *f = NULL;
    int st = io_ckpt_read(s->opt->checkpoint, &c, &s->err);
    if (st) goto done;
    if (tr_ckpt_is_gan(&c)) {
        st = nn_error_set(&s->err, NN_EXIT_USAGE,
                          "%s: a GAN checkpoint has no predictions; use "
                          "axon sample --out FILE.png",
                          s->opt->checkpoint);
        goto done;
    }
    if ((st = tr_ckpt_config(&c, s->opt->checkpoint, &s->cfg, &s->err)))
        goto done;
    s->loss = nn_loss_find(s->cfg.loss);
    if ((st = tr_ckpt_model(&c, s->opt->checkpoint, "model", s->cfg.layers,
                            s->cfg.n_layers, &s->model, &s->err)))
        goto done;
    in = s->model->in;
    tr_loss_layout(s);
    size_t xw = nn_shape_size(in);
    if ((st = read_inputs(s, &x, &rows)) || (st = normalise(s, &c, x, rows, xw)))
        goto done;
    /* ids for a first embedding layer are checked here, not in the layer */
    size_t vocab = nn_model_token_vocab(s->model);
    if (vocab && (st = io_check_token_ids(s->opt->input, x, rows, xw, 0,
                                          vocab, &s->err)))
        goto done;
    f = s->opt->out ? fopen(s->opt->out, "w") : stdout;
    if (!f) {
        st = nn_error_set(&s->err, NN_EXIT_DATA, "%s: cannot open: %s",
                          s->opt->out, strerror(errno));
        goto done;
    }
    st = write_predictions(s, x, rows, xw, f);
    if (f != stdout && fclose(f) != 0 && !st)
        st = nn_error_set(&s->err, NN_EXIT_DATA, "%s: %s", s->opt->out,
                          strerror(errno));
    if (!st && s->opt->out)
        fprintf(stderr, "axon: wrote %zu predictions to %s\n", rows, s->opt->out);
done:
    free(x);
    io_ckpt_free(&c);
    return st;
}

int tr_cmd_predict(tr_session *s)
{
    int st = s->rank == 0 ? predict(s) : 0;
    return tr_agree(s, st);
}

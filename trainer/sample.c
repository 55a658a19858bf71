/* trainer/sample.c - `axon sample`: generating from a trained model. What
 * is generated depends on the checkpoint: a character language model
 * (a "vocab" record, see trainer/meta.h) writes text, a GAN generator an
 * image grid. Runs on rank 0 (other ranks of an mpirun have nothing to do).
 *
 * Text: the model is rebuilt from the config stored in the checkpoint. Its
 * input is a window of T token ids and its output [T, K] the logits of the
 * next token after every step (K >= the vocabulary size V; ids >= V are
 * never drawn). The prompt is encoded with the stored vocabulary (a byte
 * outside it is a usage error naming it); then each new character comes
 * from the prediction after the last min(n, T) tokens: a window shorter
 * than T is padded on the right with NN_LABEL_NONE and run with that
 * length (nn_recurrent_model_set_lengths), the logits are read at its last
 * valid step, divided by the temperature, turned into probabilities
 * (softmax, in double) and sampled with a generator seeded from --seed.
 * An empty prompt starts from a vocabulary character drawn uniformly with
 * that generator; it counts as the first of the --length characters.
 * Output: the prompt followed by --length generated characters; on stdout
 * with a final newline, to --out FILE exactly those bytes. Tokens are
 * bytes: text from a UTF-8 corpus may split a multi-byte character.
 */
#include <errno.h>  /* errno */
#include <math.h>   /* exp, isfinite */
#include <stdint.h> /* uint32_t, SIZE_MAX */
#include <stdio.h>  /* FILE, fopen, fwrite */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, strerror, strlen */

#include "io/ckpt.h"
#include "io/dataset.h"
#include "io/yaml.h"
#include "nn/check.h"
#include "nn/recurrent.h"
#include "nn/rng.h"
#include "trainer/gan.h"
#include "trainer/session.h"

/* The model of the stored config with the stored parameters (as predict
 * does); sets s->cfg, s->loss, s->model and the loss layout. */
static int load_model(tr_session *s, io_ckpt *c)
{
    int st = tr_ckpt_config(c, s->opt->checkpoint, &s->cfg, &s->err);
    if (!st)
        st = tr_ckpt_model(c, s->opt->checkpoint, "model", s->cfg.layers,
                           s->cfg.n_layers, &s->model, &s->err);
    if (st) return st;
    s->loss = nn_loss_find(s->cfg.loss);
    tr_loss_layout(s);
    return 0;
}

/* A character model maps T ids to [T, K] logits, K >= V. */
static int check_layout(tr_session *s, size_t V, size_t *T)
{
    char in[64], out[64];
    *T = nn_shape_size(s->model->in);
    if (s->loss->classifier && s->loss_steps == *T && s->loss_dim >= V)
        return 0;
    return nn_error_set(&s->err, NN_EXIT_DATA,
                        "%s: not a character model: it maps %s to %s (loss "
                        "%s); sampling needs [T] token ids to [T, K] logits "
                        "with K >= the %zu-character vocabulary",
                        s->opt->checkpoint,
                        nn_shape_str(s->model->in, in, sizeof in),
                        nn_shape_str(nn_model_out_shape(s->model), out,
                                     sizeof out),
                        s->loss->name, V);
}

/* Token id drawn from softmax(z[0..V) / temp); p[V] is scratch. Returns
 * SIZE_MAX if the logits are not finite. */
static size_t draw(const float *z, size_t V, double temp, nn_rng *rng,
                   double *p)
{
    double zmax = z[0], sum = 0;
    for (size_t j = 1; j < V; j++)
        if (z[j] > zmax) zmax = z[j];
    for (size_t j = 0; j < V; j++) {
        p[j] = exp(((double)z[j] - zmax) / temp);
        sum += p[j];
    }
    if (!isfinite(sum) || !(sum > 0)) return SIZE_MAX;
    /* Inverse CDF; the last id with p > 0 absorbs rounding at the top. */
    double u = nn_rng_uniform(rng) * sum;
    size_t last = 0;
    for (size_t j = 0; j < V; j++) {
        if (p[j] <= 0) continue;
        last = j;
        if ((u -= p[j]) < 0) return j;
    }
    return last;
}

/* Append `count` tokens to toks[0..*n) (*n >= 1), each drawn from the
 * prediction after the last min(*n, T) tokens. */
static int generate(tr_session *s, float *toks, size_t *n, size_t count,
                    size_t T, size_t V, nn_rng *rng)
{
    nn_model *m = s->model;
    size_t K = s->loss_dim;
    float *x = nn_xalloc_floats(T);
    double *p = nn_xcalloc(V, sizeof *p);
    nn_pass pass = {.training = 0, .seed = s->cfg.train.seed};
    int st = 0;
    nn_model_reserve(m, 1);
    for (size_t k = 0; k < count && !st; k++) {
        size_t L = *n < T ? *n : T;
        memcpy(x, toks + *n - L, L * sizeof *x);
        for (size_t t = L; t < T; t++) x[t] = NN_LABEL_NONE;
        uint32_t len = (uint32_t)L;
        nn_recurrent_model_set_lengths(m, &len, 1);
        nn_recurrent_model_reset_state(m); /* every window starts afresh */
        const float *y = nn_model_forward(m, x, 1, &pass);
        size_t id = draw(y + (L - 1) * K, V, s->opt->temperature, rng, p);
        if (id == SIZE_MAX)
            st = nn_error_set(&s->err, NN_EXIT_DATA,
                              "%s: the model's logits are not finite",
                              s->opt->checkpoint);
        else
            toks[(*n)++] = (float)id;
    }
    free(x);
    free(p);
    return st;
}

/* The text to stdout (plus a newline) or to --out (exactly). */
static int write_text(tr_session *s, const char *text, size_t len)
{
    const char *path = s->opt->out;
    FILE *f = path ? fopen(path, "wb") : stdout;
    if (!f)
        return nn_error_set(&s->err, NN_EXIT_DATA, "%s: cannot open: %s",
                            path, strerror(errno));
    int bad = fwrite(text, 1, len, f) != len;
    if (!path) bad |= fputc('\n', f) == EOF || fflush(f) != 0;
    if (path) bad |= fclose(f) != 0;
    if (bad)
        return nn_error_set(&s->err, NN_EXIT_DATA, "%s: write failed: %s",
                            path ? path : "stdout", strerror(errno));
    return 0;
}

/* Text from a character model (the checkpoint has a "vocab" record). */
static int tr_sample_text(tr_session *s, io_ckpt *c)
{
    const void *vp = NULL;
    size_t V = 0, T = 0, n = 0;
    const char *prompt = s->opt->prompt ? s->opt->prompt : "";
    size_t plen = strlen(prompt), count = s->opt->length;
    io_ckpt_section *vs = io_ckpt_find(c, "vocab");
    if (vs) vp = vs->data, V = vs->len;
    const char *vocab = vp;
    if (V == 0 || V > 256)
        return nn_error_set(&s->err, NN_EXIT_DATA,
                            "%s: malformed vocabulary record (%zu bytes)",
                            s->opt->checkpoint, V);
    int st = load_model(s, c);
    if (!st) st = check_layout(s, V, &T);
    if (st) return st;
    if (count > SIZE_MAX / sizeof(float) - 1 - plen) /* main bounds it too */
        return nn_error_set(&s->err, NN_EXIT_USAGE,
                            "--length %zu with a %zu-byte prompt is too "
                            "long", count, plen);
    float *toks = nn_xalloc_floats(plen + count + 1);
    char *text = nn_xmalloc(plen + count + 1);
    nn_rng rng;
    nn_rng_seed(&rng, s->opt->sample_seed);
    st = io_text_encode("--prompt", prompt, plen, vocab, V, toks, &s->err);
    if (st) {
        st = NN_EXIT_USAGE;
        nn_error_prefix(&s->err, "%s: ", s->opt->checkpoint);
        goto done;
    }
    n = plen;
    if (n == 0 && count > 0) { /* no prompt: a random first character */
        toks[n++] = (float)nn_rng_below(&rng, V);
        count--;
    }
    if ((st = generate(s, toks, &n, count, T, V, &rng))) goto done;
    memcpy(text, prompt, plen);
    for (size_t k = plen; k < n; k++) text[k] = vocab[(size_t)toks[k]];
    st = write_text(s, text, n);
done:
    free(toks);
    free(text);
    return st;
}

/* Rank 0's whole job: read the checkpoint and dispatch on its kind. */
static int sample(tr_session *s)
{
    io_ckpt c = {0};
    int st = io_ckpt_read(s->opt->checkpoint, &c, &s->err);
    if (st) return st;
    if (tr_ckpt_is_gan(&c))
        st = tr_sample_gan(s, &c);
    else if (io_ckpt_find(&c, "vocab"))
        st = tr_sample_text(s, &c);
    else
        st = nn_error_set(&s->err, NN_EXIT_USAGE,
                          "%s: sample: this checkpoint holds neither a "
                          "character model (no vocabulary) nor a GAN",
                          s->opt->checkpoint);
    io_ckpt_free(&c);
    return st;
}

int tr_cmd_sample(tr_session *s)
{
    int st = s->rank == 0 ? sample(s) : 0;
    return tr_agree(s, st);
}

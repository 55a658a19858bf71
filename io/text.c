/* io/text.c - a plain text file as a character-level dataset (see
 * io/dataset.h for the vocabulary, the windows and the errors).
 *
 * Every rank reads the whole training file (the vocabulary depends on all
 * of it) and the whole split file, and checks every byte of the latter, so
 * all ranks agree on the vocabulary and fail, if they fail, with the same
 * message. Only the rank's shard of windows becomes floats.
 */
#include "io/dataset.h"

#include <stdint.h> /* SIZE_MAX */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, memset */

#include "io/gzio.h"
#include "nn/check.h"

void io_text_vocab(const char *text, size_t n, char *vocab, size_t *len)
{
    unsigned char seen[256] = {0};
    for (size_t k = 0; k < n; k++) seen[(unsigned char)text[k]] = 1;
    size_t m = 0;
    for (unsigned b = 0; b < 256; b++)
        if (seen[b]) vocab[m++] = (char)b;
    *len = m;
}

/* map[b] = id of byte b, or -1 when b is not in the vocabulary. */
static void vocab_map(const char *vocab, size_t vocab_len, int map[256])
{
    NN_CHECK(vocab_len <= 256, "vocabulary of %zu bytes", vocab_len);
    for (size_t b = 0; b < 256; b++) map[b] = -1;
    for (size_t i = 0; i < vocab_len; i++) map[(unsigned char)vocab[i]] = (int)i;
}

/* The error for byte k of text, which is not in the vocabulary: where it
 * is (line and column counted in bytes, from 1) and what it is. */
static int unknown_char(const char *name, const char *text, size_t k,
                        size_t vocab_len, nn_error *err)
{
    size_t line = 1, col = 1;
    for (size_t j = 0; j < k; j++) {
        if (text[j] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    unsigned char b = (unsigned char)text[k];
    char what[32];
    if (b >= 0x20 && b < 0x7f)
        snprintf(what, sizeof what, "'%c' (byte 0x%02x)", b, b);
    else
        snprintf(what, sizeof what, "byte 0x%02x", b);
    return nn_error_set(err, NN_EXIT_DATA,
                        "%s:%zu:%zu: character %s is not in the training "
                        "vocabulary (%zu characters)",
                        name, line, col, what, vocab_len);
}

int io_text_encode(const char *name, const char *text, size_t n,
                   const char *vocab, size_t vocab_len, float *ids,
                   nn_error *err)
{
    int map[256];
    vocab_map(vocab, vocab_len, map);
    for (size_t k = 0; k < n; k++) {
        int id = map[(unsigned char)text[k]];
        if (id < 0) return unknown_char(name, text, k, vocab_len, err);
        ids[k] = (float)id;
    }
    return NN_OK;
}

/* Replace every byte of text by its id (ids < 256 fit a byte). All bytes
 * are checked before any is replaced, so an error can still count the
 * lines of the original text. */
static int encode_in_place(const char *name, char *text, size_t n,
                           const char *vocab, size_t vocab_len, nn_error *err)
{
    int map[256];
    vocab_map(vocab, vocab_len, map);
    for (size_t k = 0; k < n; k++)
        if (map[(unsigned char)text[k]] < 0)
            return unknown_char(name, text, k, vocab_len, err);
    for (size_t k = 0; k < n; k++)
        text[k] = (char)(unsigned char)map[(unsigned char)text[k]];
    return NN_OK;
}

/* The whole file; empty is an error. */
static int read_text(const char *path, char **text, size_t *len,
                     nn_error *err)
{
    int rc = io_gz_slurp(path, text, len, err);
    if (!rc && *len == 0)
        rc = nn_error_set(err, NN_EXIT_DATA,
                          "%s: empty text file (data.format text needs at "
                          "least data.seq_len + 1 characters)", path);
    return rc;
}

/* Windows [lo, hi) of the encoded text: x = ids [i*T, i*T+T), y = the same
 * shifted by one character. */
static void make_windows(io_dataset *d, const char *ids, size_t T)
{
    size_t n = d->hi - d->lo;
    d->x = nn_xcalloc(n ? n * T : 1, sizeof(float));
    d->y = nn_xcalloc(n ? n * T : 1, sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const unsigned char *w = (const unsigned char *)ids + (d->lo + i) * T;
        for (size_t t = 0; t < T; t++) {
            d->x[i * T + t] = (float)w[t];
            d->y[i * T + t] = (float)w[t + 1];
        }
    }
}

int io_text_load(io_dataset *d, const io_data_cfg *cfg, io_split split,
                 size_t part, size_t parts, nn_error *err)
{
    int test = split == IO_SPLIT_TEST;
    const char *path = test ? cfg->test : cfg->train;
    size_t T = cfg->seq_len, train_len = 0, len = 0;
    char *train = NULL, *text = NULL, vocab[256];
    if (!cfg->train || !path)
        return nn_error_set(err, NN_EXIT_USAGE, "data.%s: not set",
                            !cfg->train ? "train" : "test");
    if (T < 1)
        return nn_error_set(err, NN_EXIT_USAGE, "data.seq_len: not set");
    int rc = read_text(cfg->train, &train, &train_len, err);
    if (rc) goto done;
    io_text_vocab(train, train_len, vocab, &d->vocab_len);
    if (test) {
        rc = read_text(path, &text, &len, err);
    } else {
        text = train;
        train = NULL;
        len = train_len;
    }
    if (!rc) rc = encode_in_place(path, text, len, vocab, d->vocab_len, err);
    if (rc) goto done;
    if (len - 1 < T) {
        rc = nn_error_set(err, NN_EXIT_DATA,
                          "%s: %zu characters, but data.seq_len %zu needs "
                          "at least %zu (a window and the character after it)",
                          path, len, T, T + 1);
        goto done;
    }
    size_t windows = (len - 1) / T;
    if (!test && cfg->limit > 0 && cfg->limit < windows) windows = cfg->limit;
    /* Shards tile [0, windows) as in io/dataset.c. */
    NN_CHECK(parts >= 1 && part < parts && windows <= SIZE_MAX / parts,
             "bad shard %zu of %zu", part, parts);
    d->total = windows;
    d->lo = windows * part / parts;
    d->hi = windows * (part + 1) / parts;
    d->x_shape = nn_shape_1d(T);
    d->x_width = T;
    d->y_width = T;
    make_windows(d, text, T);
    d->vocab = nn_xmalloc(d->vocab_len);
    memcpy(d->vocab, vocab, d->vocab_len);
done:
    free(train);
    free(text);
    return rc;
}

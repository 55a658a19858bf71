/* io/yaml.h - a small YAML document tree for the config reader.
 *
 * libyaml's event stream is folded into nodes of three kinds: map (ordered
 * key/value pairs with each key's line), sequence and scalar (the text as
 * written, plus whether it was plain or quoted). Lines are 1-based. Only
 * what a config needs is accepted: one document, scalar keys, no duplicate
 * keys, no anchors, aliases or tags. Nodes made later (by --set overrides)
 * carry an `origin` such as "--set training.epochs" instead of a line.
 */
#ifndef IO_YAML_H
#define IO_YAML_H

#include <stddef.h> /* size_t */
#include "nn/error.h"

typedef enum { IO_YAML_SCALAR, IO_YAML_MAP, IO_YAML_SEQ } io_yaml_kind;

typedef struct io_yaml_node io_yaml_node;

typedef struct io_yaml_pair {
    char *key;
    int line;            /* line of the key, 0 if inserted by an override */
    io_yaml_node *value; /* owned */
} io_yaml_pair;

struct io_yaml_node {
    io_yaml_kind kind;
    int line;             /* 1-based line where the node starts, 0 if made */
    char *origin;         /* NULL: from the file; else owned "--set KEY" */
    char *value;          /* SCALAR: the text, NUL-terminated */
    int plain;            /* SCALAR: 1 if written without quotes */
    size_t n, cap;        /* MAP: pairs; SEQ: items */
    io_yaml_pair *pairs;  /* MAP: in file order */
    io_yaml_node **items; /* SEQ: owned */
};

/* Parse `len` bytes of `text` (the file `path`, used in messages) into a
 * tree. *out is NULL when the stream holds no document or an empty one.
 * Errors (NN_EXIT_USAGE): libyaml's "PATH:LINE:COL: problem", and
 * "PATH:LINE: KEY: duplicate key" with KEY the dotted path (list items
 * counted from 0). On error *out is NULL and nothing is leaked. */
int io_yaml_parse(const char *path, const char *text, size_t len,
                  io_yaml_node **out, nn_error *err);

/* Free a node and everything below it (NULL is fine). */
void io_yaml_free(io_yaml_node *n);

/* New nodes; `origin` (may be NULL) is copied. */
io_yaml_node *io_yaml_scalar_new(const char *value, int line,
                                 const char *origin);
io_yaml_node *io_yaml_map_new(int line, const char *origin);

/* The pair with this key in a map, or NULL. */
io_yaml_pair *io_yaml_map_find(const io_yaml_node *map, const char *key);

/* Append a pair (key copied, value owned by the map from now on); the
 * caller has checked that the key is not there yet. Returns the pair,
 * valid until the map grows again. */
io_yaml_pair *io_yaml_map_add(io_yaml_node *map, const char *key, int line,
                              io_yaml_node *value);

/* 1 for a plain scalar YAML reads as null: empty, "~", "null". */
int io_yaml_is_null(const io_yaml_node *n);

/* "scalar", "map" or "sequence". */
const char *io_yaml_kind_name(io_yaml_kind k);

#endif

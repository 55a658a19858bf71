/* io/yaml.c - libyaml events folded into an io_yaml_node tree (see
 * io/yaml.h). A recursive descent over the event stream: each parse_*
 * function consumes the events of one node and returns it fully built, or
 * frees what it built and fails. */
#include "io/yaml.h"

#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* free */
#include <string.h> /* strcmp, strlen, memcpy */
#include <yaml.h>   /* yaml_parser_t, yaml_event_t */

#include "nn/check.h" /* nn_xcalloc, nn_xrealloc, nn_xstrdup */

/* Deeper nesting than any config needs is refused before the C stack is. */
#define YAML_MAX_DEPTH 64

typedef struct yaml_ctx {
    yaml_parser_t parser;
    const char *path;
    nn_error *err;
    char key[512]; /* dotted path of the node being read, for messages */
    size_t key_len;
} yaml_ctx;

static int line_of(yaml_mark_t m) { return (int)m.line + 1; }

static int error_at(yaml_ctx *c, yaml_mark_t m, const char *what)
{
    return nn_error_set(c->err, NN_EXIT_USAGE, "%s:%d:%d: %s", c->path,
                        line_of(m), (int)m.column + 1, what);
}

/* Next event, or libyaml's own diagnosis as "PATH:LINE:COL: problem". */
static int next_event(yaml_ctx *c, yaml_event_t *ev)
{
    if (yaml_parser_parse(&c->parser, ev)) return 0;
    const yaml_parser_t *p = &c->parser;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        return nn_error_set(c->err, NN_EXIT_USAGE, "%s:%d:%d: %s (%s at line %d)",
                            c->path, line_of(p->problem_mark),
                            (int)p->problem_mark.column + 1, problem,
                            p->context, line_of(p->context_mark));
    return error_at(c, p->problem_mark, problem);
}

/* Path handling: push ".seg" (or "seg" at the top), pop back to `len`. */
static size_t push_key(yaml_ctx *c, const char *seg)
{
    size_t old = c->key_len;
    size_t room = sizeof c->key - old - 1;
    size_t need = strlen(seg) + (old ? 1 : 0);
    if (need > room) return old; /* over-long path: message keeps a prefix */
    if (old) c->key[c->key_len++] = '.';
    memcpy(c->key + c->key_len, seg, strlen(seg));
    c->key_len += strlen(seg);
    c->key[c->key_len] = '\0';
    return old;
}

static void pop_key(yaml_ctx *c, size_t len)
{
    c->key_len = len;
    c->key[len] = '\0';
}

const char *io_yaml_kind_name(io_yaml_kind k)
{
    switch (k) {
    case IO_YAML_SCALAR: return "scalar";
    case IO_YAML_MAP: return "map";
    case IO_YAML_SEQ: return "sequence";
    }
    return "?";
}

static io_yaml_node *node_new(io_yaml_kind kind, int line, const char *origin)
{
    io_yaml_node *n = nn_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = line;
    n->origin = origin ? nn_xstrdup(origin) : NULL;
    return n;
}

io_yaml_node *io_yaml_scalar_new(const char *value, int line,
                                 const char *origin)
{
    io_yaml_node *n = node_new(IO_YAML_SCALAR, line, origin);
    n->value = nn_xstrdup(value);
    n->plain = 1;
    return n;
}

io_yaml_node *io_yaml_map_new(int line, const char *origin)
{
    return node_new(IO_YAML_MAP, line, origin);
}

void io_yaml_free(io_yaml_node *n)
{
    if (!n) return;
    for (size_t i = 0; n->kind == IO_YAML_MAP && i < n->n; i++) {
        free(n->pairs[i].key);
        io_yaml_free(n->pairs[i].value);
    }
    for (size_t i = 0; n->kind == IO_YAML_SEQ && i < n->n; i++)
        io_yaml_free(n->items[i]);
    free(n->pairs);
    free(n->items);
    free(n->value);
    free(n->origin);
    free(n);
}

io_yaml_pair *io_yaml_map_find(const io_yaml_node *map, const char *key)
{
    if (!map || map->kind != IO_YAML_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->pairs[i].key, key) == 0) return &map->pairs[i];
    return NULL;
}

/* Room for one more pair or item (capacity doubles). */
static void grow(io_yaml_node *n)
{
    if (n->n < n->cap) return;
    n->cap = n->cap ? 2 * n->cap : 4;
    if (n->kind == IO_YAML_MAP)
        n->pairs = nn_xrealloc(n->pairs, n->cap * sizeof *n->pairs);
    else
        n->items = nn_xrealloc(n->items, n->cap * sizeof *n->items);
}

io_yaml_pair *io_yaml_map_add(io_yaml_node *map, const char *key, int line,
                              io_yaml_node *value)
{
    grow(map);
    io_yaml_pair *p = &map->pairs[map->n++];
    p->key = nn_xstrdup(key);
    p->line = line;
    p->value = value;
    return p;
}

static void seq_add(io_yaml_node *seq, io_yaml_node *item)
{
    grow(seq);
    seq->items[seq->n++] = item;
}

int io_yaml_is_null(const io_yaml_node *n)
{
    if (!n || n->kind != IO_YAML_SCALAR || !n->plain) return 0;
    const char *v = n->value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Anchors, aliases and tags would make the tree a graph or retype values;
 * a config needs none of them. */
static int refuse_extras(yaml_ctx *c, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    if (ev->type == YAML_ALIAS_EVENT)
        return error_at(c, ev->start_mark, "aliases are not supported");
    if (ev->type == YAML_SCALAR_EVENT) {
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    }
    if (anchor) return error_at(c, ev->start_mark, "anchors are not supported");
    if (tag) return error_at(c, ev->start_mark, "tags are not supported");
    /* A \0 escape would end the C string early ("lr\0junk" read as lr). */
    if (ev->type == YAML_SCALAR_EVENT &&
        strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length)
        return error_at(c, ev->start_mark,
                        "a NUL character (\\0) in a key or string; remove it");
    return 0;
}

static int parse_node(yaml_ctx *c, yaml_event_t *ev, int depth,
                      io_yaml_node **out);

/* Items until SEQUENCE-END; `start` is the SEQUENCE-START (deleted by
 * the caller). */
static int parse_seq(yaml_ctx *c, const yaml_event_t *start, int depth,
                     io_yaml_node **out)
{
    io_yaml_node *seq = node_new(IO_YAML_SEQ, line_of(start->start_mark), NULL);
    yaml_event_t ev;
    int rc;
    for (;;) {
        if ((rc = next_event(c, &ev)) != 0) goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) break;
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", seq->n);
        size_t saved = push_key(c, idx);
        io_yaml_node *item = NULL;
        rc = parse_node(c, &ev, depth + 1, &item);
        pop_key(c, saved);
        if (rc != 0) goto fail;
        seq_add(seq, item);
    }
    yaml_event_delete(&ev);
    *out = seq;
    return 0;
fail:
    io_yaml_free(seq);
    return rc;
}

/* One key (a scalar event, consumed) and its value. */
static int parse_pair(yaml_ctx *c, io_yaml_node *map, yaml_event_t *kev,
                      int depth)
{
    int rc;
    if (kev->type != YAML_SCALAR_EVENT) {
        rc = error_at(c, kev->start_mark, "map keys must be scalars");
        yaml_event_delete(kev);
        return rc;
    }
    if ((rc = refuse_extras(c, kev)) != 0) {
        yaml_event_delete(kev);
        return rc;
    }
    char *key = nn_xstrdup((const char *)kev->data.scalar.value);
    int line = line_of(kev->start_mark);
    yaml_event_delete(kev);
    size_t saved = push_key(c, key);
    const io_yaml_pair *dup = io_yaml_map_find(map, key);
    if (dup) {
        rc = nn_error_set(c->err, NN_EXIT_USAGE,
                          "%s:%d: %s: duplicate key (first at line %d)",
                          c->path, line, c->key, dup->line);
        goto done;
    }
    yaml_event_t ev;
    io_yaml_node *value = NULL;
    if ((rc = next_event(c, &ev)) != 0) goto done;
    if ((rc = parse_node(c, &ev, depth + 1, &value)) != 0) goto done;
    io_yaml_map_add(map, key, line, value);
done:
    pop_key(c, saved);
    free(key);
    return rc;
}

static int parse_map(yaml_ctx *c, const yaml_event_t *start, int depth,
                     io_yaml_node **out)
{
    io_yaml_node *map = node_new(IO_YAML_MAP, line_of(start->start_mark), NULL);
    yaml_event_t ev;
    int rc;
    for (;;) {
        if ((rc = next_event(c, &ev)) != 0) goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) break;
        if ((rc = parse_pair(c, map, &ev, depth)) != 0) goto fail;
    }
    yaml_event_delete(&ev);
    *out = map;
    return 0;
fail:
    io_yaml_free(map);
    return rc;
}

/* Build the node that starts with `ev`; consumes (deletes) `ev`. */
static int parse_node(yaml_ctx *c, yaml_event_t *ev, int depth,
                      io_yaml_node **out)
{
    int rc = refuse_extras(c, ev);
    if (rc == 0 && depth > YAML_MAX_DEPTH)
        rc = error_at(c, ev->start_mark, "nested too deeply");
    if (rc != 0) {
        yaml_event_delete(ev);
        return rc;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        io_yaml_node *n = node_new(IO_YAML_SCALAR, line_of(ev->start_mark), NULL);
        n->value = nn_xstrdup((const char *)ev->data.scalar.value);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        *out = n;
        break;
    }
    case YAML_SEQUENCE_START_EVENT: rc = parse_seq(c, ev, depth, out); break;
    case YAML_MAPPING_START_EVENT: rc = parse_map(c, ev, depth, out); break;
    default: rc = error_at(c, ev->start_mark, "unexpected YAML event"); break;
    }
    yaml_event_delete(ev);
    return rc;
}

/* STREAM-START, at most one document, STREAM-END. */
static int parse_stream(yaml_ctx *c, io_yaml_node **out)
{
    yaml_event_t ev;
    int rc;
    if ((rc = next_event(c, &ev)) != 0) return rc; /* STREAM-START */
    yaml_event_delete(&ev);
    if ((rc = next_event(c, &ev)) != 0) return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return 0; /* no document at all: only comments or blanks */
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if ((rc = next_event(c, &ev)) != 0) return rc;
    if ((rc = parse_node(c, &ev, 0, out)) != 0) return rc;
    if ((rc = next_event(c, &ev)) != 0) goto fail; /* DOCUMENT-END */
    yaml_event_delete(&ev);
    if ((rc = next_event(c, &ev)) != 0) goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        rc = error_at(c, ev.start_mark, "only one YAML document is allowed");
        yaml_event_delete(&ev);
        goto fail;
    }
    yaml_event_delete(&ev);
    return 0;
fail:
    io_yaml_free(*out);
    *out = NULL;
    return rc;
}

int io_yaml_parse(const char *path, const char *text, size_t len,
                  io_yaml_node **out, nn_error *err)
{
    yaml_ctx c;
    memset(&c, 0, sizeof c);
    *out = NULL;
    if (!yaml_parser_initialize(&c.parser))
        return nn_error_set(err, NN_EXIT_OTHER, "%s: cannot start the YAML parser",
                            path);
    c.path = path;
    c.err = err;
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
    int rc = parse_stream(&c, out);
    yaml_parser_delete(&c.parser);
    if (rc == 0 && io_yaml_is_null(*out)) { /* "---" and nothing else */
        io_yaml_free(*out);
        *out = NULL;
    }
    return rc;
}

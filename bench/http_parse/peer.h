/*
 * bench/http_parse/peer.h - what bench_http_parse.c needs of the two
 * callback parsers, llhttp (peer_llhttp.c) and http-parser
 * (peer_http_parser.c). Their headers both define HPE_OK, F_CHUNKED,
 * HTTP_REQUEST... so each is wrapped in its own translation unit.
 *
 * Each wrapper keeps one parser (a keep-alive "connection") whose
 * callbacks record, per message, (pointer, length) spans into the input:
 * the method, the target, each field name and value, the body; and, when
 * the head is complete, the version, the body framing and keep-alive.
 */
#ifndef KEEL_BENCH_HTTP_PARSE_PEER_H
#define KEEL_BENCH_HTTP_PARSE_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_MAX_FIELDS 2048 /* the field capacity every parser gets */

enum { PEER_BODY_NONE, PEER_BODY_LENGTH, PEER_BODY_CHUNKED };

typedef struct peer_span {
    const char *p;
    size_t n;
} peer_span;

typedef struct peer_rec {
    peer_span method;     /* http-parser reports an enum: its name */
    peer_span target;
    size_t nfields;       /* complete field lines */
    int in;               /* http-parser: 1 in a name, 2 in a value */
    peer_span names[PEER_MAX_FIELDS];
    peer_span values[PEER_MAX_FIELDS];
    int minor;
    int body;             /* PEER_BODY_* */
    uint64_t content_length;
    bool keep_alive;
    peer_span body_span;
    bool complete;        /* the message is complete */
    size_t consumed;      /* bytes of the message the parser took */
} peer_rec;

/* A span arrives in one piece, or in several when the input is split
 * between calls; the input is one contiguous buffer here, so the pieces
 * are adjacent. */
static inline void peer_span_add(peer_span *s, const char *at, size_t n)
{
    if (s->n == 0) {
        s->p = at;
    }
    s->n += n;
}

static inline void peer_rec_begin(peer_rec *r)
{
    r->method = r->target = r->body_span = (peer_span){ NULL, 0 };
    r->nfields = 0;
    r->in = 0;
    r->names[0] = r->values[0] = (peer_span){ NULL, 0 };
    r->body = PEER_BODY_NONE;
    r->content_length = 0;
    r->keep_alive = false;
    r->complete = false;
    r->consumed = 0;
}

/* The current field line is complete; the next one starts empty. -1 when
 * the array is full (the capacity the other parsers have). */
static inline int peer_rec_next_field(peer_rec *r)
{
    if (r->nfields + 1 >= PEER_MAX_FIELDS) {
        return -1;
    }
    r->nfields++;
    r->names[r->nfields] = r->values[r->nfields] = (peer_span){ NULL, 0 };
    return 0;
}

/* Set the parser up (once). parse: one whole message (head and body);
 * trickle: one message fed one byte per call. Both return whether the
 * message was parsed completely without error; rec: what was recorded. */
void peer_llhttp_setup(void);
bool peer_llhttp_parse(const char *buf, size_t len);
bool peer_llhttp_trickle(const char *buf, size_t len);
const peer_rec *peer_llhttp_rec(void);

void peer_http_parser_setup(void);
bool peer_http_parser_parse(const char *buf, size_t len);
bool peer_http_parser_trickle(const char *buf, size_t len);
const peer_rec *peer_http_parser_rec(void);

#endif

/*
 * bench/http_parse/peer_http_parser.c - http-parser 2.9
 * (libhttp-parser-dev) as bench_http_parse.c uses it: one parser, span
 * callbacks recording into a peer_rec (see peer.h).
 */
#include <string.h>

#include <http_parser.h>

#include "peer.h"

static http_parser hp;
static http_parser_settings hsettings;
static peer_rec hrec;

static int hp_message_begin(http_parser *p)
{
    peer_rec_begin(p->data);
    return 0;
}

static int hp_url(http_parser *p, const char *at, size_t n)
{
    peer_span_add(&((peer_rec *)p->data)->target, at, n);
    return 0;
}

/* http-parser has no "field complete" callback: a name after a value
 * starts the next field line. */
static int hp_field(http_parser *p, const char *at, size_t n)
{
    peer_rec *r = p->data;
    if (r->in == 2 && peer_rec_next_field(r) != 0) {
        return -1;
    }
    r->in = 1;
    peer_span_add(&r->names[r->nfields], at, n);
    return 0;
}

static int hp_value(http_parser *p, const char *at, size_t n)
{
    peer_rec *r = p->data;
    r->in = 2;
    peer_span_add(&r->values[r->nfields], at, n);
    return 0;
}

/* The last field line ends here; the framing decision is http-parser's:
 * read it. The method is an enum, not a span: its name stands for it. */
static int hp_headers_complete(http_parser *p)
{
    peer_rec *r = p->data;
    if (r->in != 0 && peer_rec_next_field(r) != 0) {
        return -1;
    }
    r->in = 0;
    r->minor = p->http_minor;
    const char *name = http_method_str((enum http_method)p->method);
    r->method = (peer_span){ name, strlen(name) };
    if (p->flags & F_CHUNKED) {
        r->body = PEER_BODY_CHUNKED;
    } else if (p->flags & F_CONTENTLENGTH) {
        r->body = PEER_BODY_LENGTH;
        r->content_length = p->content_length;
    }
    r->keep_alive = http_should_keep_alive(p) != 0;
    return 0;
}

static int hp_body(http_parser *p, const char *at, size_t n)
{
    peer_span_add(&((peer_rec *)p->data)->body_span, at, n);
    return 0;
}

static int hp_message_complete(http_parser *p)
{
    ((peer_rec *)p->data)->complete = true;
    return 0;
}

void peer_http_parser_setup(void)
{
    http_parser_settings_init(&hsettings);
    hsettings.on_message_begin = hp_message_begin;
    hsettings.on_url = hp_url;
    hsettings.on_header_field = hp_field;
    hsettings.on_header_value = hp_value;
    hsettings.on_headers_complete = hp_headers_complete;
    hsettings.on_body = hp_body;
    hsettings.on_message_complete = hp_message_complete;
    http_parser_init(&hp, HTTP_REQUEST);
    hp.data = &hrec;
}

bool peer_http_parser_parse(const char *buf, size_t len)
{
    size_t n = http_parser_execute(&hp, &hsettings, buf, len);
    if (n != len || HTTP_PARSER_ERRNO(&hp) != HPE_OK || !hrec.complete) {
        return false;
    }
    hrec.consumed = n;
    return true;
}

bool peer_http_parser_trickle(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (http_parser_execute(&hp, &hsettings, buf + i, 1) != 1) {
            return false;
        }
    }
    hrec.consumed = len;
    return hrec.complete;
}

const peer_rec *peer_http_parser_rec(void)
{
    return &hrec;
}

/*
 * bench/http_parse/peer_llhttp.c - llhttp 8.1 (Debian's node-llhttp
 * sources, compiled by CMake) as bench_http_parse.c uses it: one parser,
 * span callbacks recording into a peer_rec (see peer.h).
 */
#include <llhttp.h>

#include "peer.h"

static llhttp_t lp;
static llhttp_settings_t lsettings;
static peer_rec lrec;

static int ll_message_begin(llhttp_t *p)
{
    peer_rec_begin(p->data);
    return 0;
}

static int ll_method(llhttp_t *p, const char *at, size_t n)
{
    peer_span_add(&((peer_rec *)p->data)->method, at, n);
    return 0;
}

static int ll_url(llhttp_t *p, const char *at, size_t n)
{
    peer_span_add(&((peer_rec *)p->data)->target, at, n);
    return 0;
}

static int ll_field(llhttp_t *p, const char *at, size_t n)
{
    peer_rec *r = p->data;
    peer_span_add(&r->names[r->nfields], at, n);
    return 0;
}

static int ll_value(llhttp_t *p, const char *at, size_t n)
{
    peer_rec *r = p->data;
    peer_span_add(&r->values[r->nfields], at, n);
    return 0;
}

static int ll_value_complete(llhttp_t *p)
{
    return peer_rec_next_field(p->data);
}

/* The framing decision: llhttp has made it; read it. */
static int ll_headers_complete(llhttp_t *p)
{
    peer_rec *r = p->data;
    r->minor = p->http_minor;
    if (p->flags & F_CHUNKED) {
        r->body = PEER_BODY_CHUNKED;
    } else if (p->flags & F_CONTENT_LENGTH) {
        r->body = PEER_BODY_LENGTH;
        r->content_length = p->content_length;
    }
    r->keep_alive = llhttp_should_keep_alive(p) != 0;
    return 0;
}

static int ll_body(llhttp_t *p, const char *at, size_t n)
{
    peer_span_add(&((peer_rec *)p->data)->body_span, at, n);
    return 0;
}

static int ll_message_complete(llhttp_t *p)
{
    ((peer_rec *)p->data)->complete = true;
    return 0;
}

void peer_llhttp_setup(void)
{
    llhttp_settings_init(&lsettings);
    lsettings.on_message_begin = ll_message_begin;
    lsettings.on_method = ll_method;
    lsettings.on_url = ll_url;
    lsettings.on_header_field = ll_field;
    lsettings.on_header_value = ll_value;
    lsettings.on_header_value_complete = ll_value_complete;
    lsettings.on_headers_complete = ll_headers_complete;
    lsettings.on_body = ll_body;
    lsettings.on_message_complete = ll_message_complete;
    llhttp_init(&lp, HTTP_REQUEST, &lsettings);
    lp.data = &lrec;
}

bool peer_llhttp_parse(const char *buf, size_t len)
{
    if (llhttp_execute(&lp, buf, len) != HPE_OK || !lrec.complete) {
        return false;
    }
    lrec.consumed = len; /* llhttp takes all it is given or fails */
    return true;
}

bool peer_llhttp_trickle(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (llhttp_execute(&lp, buf + i, 1) != HPE_OK) {
            return false;
        }
    }
    lrec.consumed = len;
    return lrec.complete;
}

const peer_rec *peer_llhttp_rec(void)
{
    return &lrec;
}

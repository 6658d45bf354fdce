/*
 * src/http/client.c - the blocking HTTP/1.1 client (include/keel/http_client.h)
 * over keel_net: strict URL parsing, canonical request heads (the writer in
 * write.c), responses read with keel's strict parser and chunked decoder,
 * connect / header / total deadlines, a response cap and a small pool of
 * idle keep-alive connections; and the async fetch over a keel_stream.
 * https:// URLs go through opts.tls (src/http/http_transport.h): a TLS
 * session over the keel_net, a keel_tls_stream on the loop.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/sys.h"
#include "http/http_transport.h"

#include "keel/addr.h"
#include "keel/http.h"
#include "keel/http_client.h"
#include "keel/net.h"
#include "keel/result.h"
#include "keel/slice.h"

#define HCLI_DEFAULT_CONNECT 10000u
#define HCLI_DEFAULT_HEADER 30000u
#define HCLI_DEFAULT_TOTAL 60000u
#define HCLI_DEFAULT_MAX_RESPONSE (8u * 1024u * 1024u)
#define HCLI_MAX_RESPONSE_CAP ((size_t)1 << 30)
#define HCLI_DEFAULT_MAX_HEADERS 64u
#define HCLI_MAX_HEADERS_CAP 4096u
#define HCLI_DEFAULT_POOL 4u
#define HCLI_POOL_CAP 64u
#define HCLI_REDIRECTS_CAP 20u
#define HCLI_HOST_MAX 255u
#define HCLI_READ_CHUNK 16384u

/* A blocking connection: the socket, and its TLS session for https. */
typedef struct hcli_conn {
    keel_net *net;          /* NULL: none */
    void *sess;             /* opts.tls's session; NULL: plain */
} hcli_conn;

typedef struct hcli_idle {
    hcli_conn conn;         /* conn.net NULL: free slot */
    bool https;
    uint8_t host[HCLI_HOST_MAX];
    size_t host_len;
    uint16_t port;
    uint64_t used;          /* for evicting the least recently used */
} hcli_idle;

struct keel_http_client {
    keel_http_client_opts opts;
    keel_http_config cfg;
    uint64_t tick;
    hcli_idle pool[HCLI_POOL_CAP];
};

/* ---- URLs ------------------------------------------------------------------ */

static bool hcli_is_host_byte(uint8_t b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
           b == '-' || b == '.' || b == '_' || b == '~';
}

static bool hcli_is_digit(uint8_t b)
{
    return b >= '0' && b <= '9';
}

keel_result keel_http_url_parse(keel_slice url, keel_http_url *out)
{
    if (out == NULL || !keel_slice_valid(url)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_slice scheme, rest;
    bool https = false;
    if (keel_slice_split_at(url, 8, &scheme, &rest) == KEEL_OK &&
        keel_slice_eq_nocase(scheme, KEEL_STR("https://"))) {
        https = true;
    } else if (keel_slice_split_at(url, 7, &scheme, &rest) != KEEL_OK ||
               !keel_slice_eq_nocase(scheme, KEEL_STR("http://"))) {
        return KEEL_ERR_PARSE;
    }
    /* The authority runs to the first '/', '?' or '#'. */
    size_t end = 0;
    uint8_t b = 0;
    while (keel_slice_get(rest, end, &b) == KEEL_OK && b != '/' && b != '?' && b != '#') {
        end++;
    }
    keel_slice auth, tail;
    KEEL_TRY(keel_slice_split_at(rest, end, &auth, &tail));
    if (auth.len == 0) {
        return KEEL_ERR_PARSE;
    }
    keel_slice host;
    keel_slice port_text = keel_slice_empty();
    bool has_port = false;
    size_t i = 0;
    if (keel_slice_get(auth, 0, &b) == KEEL_OK && b == '[') {
        size_t close = 0;
        if (keel_slice_find_byte(auth, ']', &close) != KEEL_OK ||
            keel_slice_sub(auth, 1, close - 1, &host) != KEEL_OK) {
            return KEEL_ERR_PARSE;
        }
        keel_addr check;
        if (keel_addr_parse_ipv6(host, &check) != KEEL_OK) {
            return KEEL_ERR_PARSE;
        }
        i = close + 1;
    } else {
        while (keel_slice_get(auth, i, &b) == KEEL_OK && b != ':') {
            if (!hcli_is_host_byte(b)) {
                return KEEL_ERR_PARSE; /* '@' (userinfo), '%', spaces, controls... */
            }
            i++;
        }
        KEEL_TRY(keel_slice_sub(auth, 0, i, &host));
        if (host.len == 0 || host.len > HCLI_HOST_MAX) {
            return KEEL_ERR_PARSE;
        }
    }
    if (i < auth.len) {
        if (keel_slice_get(auth, i, &b) != KEEL_OK || b != ':' ||
            keel_slice_from_off(auth, i + 1, &port_text) != KEEL_OK || port_text.len == 0 ||
            port_text.len > 5) {
            return KEEL_ERR_PARSE;
        }
        for (size_t k = 0; k < port_text.len; k++) {
            if (keel_slice_get(port_text, k, &b) != KEEL_OK || !hcli_is_digit(b)) {
                return KEEL_ERR_PARSE;
            }
        }
        has_port = true;
    }
    uint64_t port = https ? 443 : 80;
    if (has_port && (keel_slice_parse_u64(port_text, 65535u, &port) != KEEL_OK || port == 0)) {
        return KEEL_ERR_PARSE;
    }
    /* The target: path and query, without the fragment. */
    size_t hash = 0;
    keel_slice target = tail;
    if (keel_slice_find_byte(tail, '#', &hash) == KEEL_OK) {
        KEEL_TRY(keel_slice_sub(tail, 0, hash, &target));
    }
    if (target.len == 0) {
        target = KEEL_STR("/");
    } else if (keel_slice_get(target, 0, &b) == KEEL_OK && b == '?') {
        return KEEL_ERR_PARSE; /* "http://h?q": write it as "http://h/?q" */
    }
    out->host = host;
    out->authority = auth;
    out->port = (uint16_t)port;
    out->target = target;
    out->https = https;
    return KEEL_OK;
}

/* ---- buffers --------------------------------------------------------------- */

/* Grow b's storage (*mem) so that it has at least want spare bytes, within
 * limit bytes in all. */
static KEEL_MUST_USE keel_result hcli_reserve(uint8_t **mem, keel_buf *b, size_t want,
                                              size_t limit)
{
    /* The limit holds for what is filled, whatever the storage's size. */
    if (b->len > limit || want > limit - b->len) {
        return KEEL_ERR_TOO_LARGE;
    }
    if (keel_buf_spare(b) >= want) {
        return KEEL_OK;
    }
    size_t need = b->len + want;
    size_t cap = b->cap < 4096u ? 4096u : b->cap;
    while (cap < need) {
        cap = cap > limit / 2 ? limit : cap * 2;
    }
    cap = cap > limit ? limit : cap;
    uint8_t *bigger = ksys_alloc_zeroed(cap);
    if (bigger == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_buf nb;
    keel_result r = keel_buf_init(&nb, bigger, cap);
    if (r == KEEL_OK) {
        r = keel_buf_append(&nb, keel_buf_slice(b));
    }
    if (r != KEEL_OK) {
        ksys_release(bigger);
        return r;
    }
    ksys_release(*mem);
    *mem = bigger;
    *b = nb;
    return KEEL_OK;
}

/* ---- the pool ---------------------------------------------------------------- */

/* End a connection: close_notify if it is TLS and the socket takes it. */
static void hcli_conn_free(const keel_http_client_opts *o, hcli_conn *k)
{
    if (k->sess != NULL) {
        o->tls->session_free(k->sess);
    }
    keel_net_free(k->net);
    *k = (hcli_conn){ 0 };
}

static KEEL_MUST_USE keel_result hcli_conn_send(const keel_http_client_opts *o, hcli_conn *k,
                                                keel_slice data, uint32_t timeout_ms)
{
    if (k->sess != NULL) {
        return o->tls->session_send(k->sess, data, timeout_ms);
    }
    return keel_net_send_all(k->net, data, timeout_ms, NULL);
}

static KEEL_MUST_USE keel_result hcli_conn_recv(const keel_http_client_opts *o, hcli_conn *k,
                                                keel_buf *into, uint32_t timeout_ms, size_t *got)
{
    if (k->sess != NULL) {
        return o->tls->session_recv(k->sess, into, timeout_ms, got);
    }
    return keel_net_recv_timeout(k->net, into, timeout_ms, got);
}

/* An idle connection to (https, host, port) from the pool, if one is
 * there and still quiet (*out zeroed otherwise). */
static void hcli_pool_take(keel_http_client *c, bool https, keel_slice host, uint16_t port,
                           hcli_conn *out)
{
    *out = (hcli_conn){ 0 };
    for (size_t i = 0; i < c->opts.pool_size; i++) {
        hcli_idle *e = &c->pool[i];
        keel_slice h = { e->host, e->host_len };
        if (e->conn.net != NULL && e->https == https && e->port == port &&
            keel_slice_eq_nocase(h, host)) {
            hcli_conn k = e->conn;
            e->conn = (hcli_conn){ 0 };
            /* Readable while idle: the server closed it (or sent junk, or
             * a TLS record nobody asked for). */
            unsigned ready = 0;
            if (keel_net_poll(k.net, KEEL_POLL_READ, 0, &ready) != KEEL_ERR_TIMEOUT) {
                hcli_conn_free(&c->opts, &k);
                continue;
            }
            *out = k;
            return;
        }
    }
}

static void hcli_pool_put(keel_http_client *c, hcli_conn *k, bool https, keel_slice host,
                          uint16_t port)
{
    hcli_idle *slot = NULL;
    for (size_t i = 0; i < c->opts.pool_size; i++) {
        hcli_idle *e = &c->pool[i];
        if (e->conn.net == NULL) {
            slot = e;
            break;
        }
        if (slot == NULL || e->used < slot->used) {
            slot = e;
        }
    }
    if (slot == NULL || host.len > sizeof slot->host) {
        hcli_conn_free(&c->opts, k);
        return;
    }
    hcli_conn_free(&c->opts, &slot->conn); /* the least recently used makes room */
    keel_buf b;
    if (keel_buf_init(&b, slot->host, sizeof slot->host) != KEEL_OK ||
        keel_buf_append(&b, host) != KEEL_OK) {
        hcli_conn_free(&c->opts, k);
        return;
    }
    slot->conn = *k;
    *k = (hcli_conn){ 0 };
    slot->https = https;
    slot->host_len = b.len;
    slot->port = port;
    slot->used = ++c->tick;
}

/* ---- client ----------------------------------------------------------------- */

/* opts (NULL: defaults) checked, with the defaults filled in, and the
 * parser configuration it implies. */
static KEEL_MUST_USE keel_result hcli_resolve(const keel_http_client_opts *opts,
                                              keel_http_client_opts *o, keel_http_config *cfg)
{
    *o = (keel_http_client_opts){ 0 };
    if (opts != NULL) {
        *o = *opts;
    }
    if (o->max_headers > HCLI_MAX_HEADERS_CAP || o->max_response > HCLI_MAX_RESPONSE_CAP ||
        o->pool_size > HCLI_POOL_CAP || o->max_redirects > HCLI_REDIRECTS_CAP ||
        (o->tls != NULL && o->tls->server)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_http_parser probe;
    KEEL_TRY(keel_http_parser_init(&probe, KEEL_HTTP_RESPONSE, &o->parser, NULL, 0));
    *cfg = probe.cfg;
    o->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : HCLI_DEFAULT_CONNECT;
    o->header_timeout_ms = o->header_timeout_ms ? o->header_timeout_ms : HCLI_DEFAULT_HEADER;
    o->total_timeout_ms = o->total_timeout_ms ? o->total_timeout_ms : HCLI_DEFAULT_TOTAL;
    o->max_response = o->max_response ? o->max_response : HCLI_DEFAULT_MAX_RESPONSE;
    o->max_headers = o->max_headers ? o->max_headers : HCLI_DEFAULT_MAX_HEADERS;
    o->pool_size = o->no_pool ? 0 : o->pool_size ? o->pool_size : HCLI_DEFAULT_POOL;
    return KEEL_OK;
}

keel_result keel_http_client_new(const keel_http_client_opts *opts, keel_http_client **out)
{
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_http_client_opts o;
    keel_http_config cfg;
    KEEL_TRY(hcli_resolve(opts, &o, &cfg));
    keel_http_client *c = ksys_alloc_zeroed(sizeof *c);
    if (c == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    c->opts = o;
    c->cfg = cfg;
    *out = c;
    return KEEL_OK;
}

void keel_http_client_free(keel_http_client *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < HCLI_POOL_CAP; i++) {
        hcli_conn_free(&c->opts, &c->pool[i].conn);
    }
    ksys_release(c);
}

void keel_http_client_response_free(keel_http_client_response *resp)
{
    if (resp == NULL) {
        return;
    }
    ksys_release(resp->raw_);
    ksys_release(resp->decoded_);
    ksys_release(resp->headers_);
    *resp = (keel_http_client_response){ 0 };
}

/* A response being received: the bytes so far (owned by resp), where the
 * current head starts, and how far the body is decoded. Fed by the
 * blocking client (keel_net) and the async one (a keel_stream) alike. */
typedef struct hcli_rx {
    const keel_http_client_opts *opts;
    const keel_http_config *cfg;
    keel_http_method method;
    keel_http_client_response *resp; /* owns raw_, decoded_, headers_ */
    keel_buf raw;              /* everything received (storage: resp->raw_) */
    size_t raw_limit;
    keel_http_parser p;
    size_t start;              /* first byte of the current head */
    size_t head_len;
    size_t at;                 /* chunked: the first byte not decoded */
    bool have_head;
    keel_http_head h;          /* the final head's framing */
    keel_http_chunked dec;
    keel_buf out;              /* chunked: the decoded body (storage: resp->decoded_) */
    bool reusable;             /* the connection may carry another request */
} hcli_rx;

static KEEL_MUST_USE keel_result hcli_rx_init(hcli_rx *rx, const keel_http_client_opts *opts,
                                              const keel_http_config *cfg, keel_http_method method,
                                              keel_http_client_response *resp)
{
    *rx = (hcli_rx){ .opts = opts, .cfg = cfg, .method = method, .resp = resp };
    size_t head_room = (size_t)cfg->limits.max_start_line + cfg->limits.max_header_bytes + 4096u;
    rx->raw_limit = head_room + 2u * opts->max_response + 65536u;
    resp->headers_ = ksys_alloc_zeroed(opts->max_headers * sizeof *resp->headers_);
    if (resp->headers_ == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    KEEL_TRY(keel_buf_init(&rx->raw, NULL, 0));
    KEEL_TRY(keel_buf_init(&rx->out, NULL, 0));
    return keel_http_parser_init(&rx->p, KEEL_HTTP_RESPONSE, cfg, resp->headers_,
                                 opts->max_headers);
}

/* Room for n more received bytes in rx->raw (TOO_LARGE past the limit). */
static KEEL_MUST_USE keel_result hcli_rx_room(hcli_rx *rx, size_t n)
{
    return hcli_reserve(&rx->resp->raw_, &rx->raw, n, rx->raw_limit);
}

/* The final head was found: check its framing. */
static KEEL_MUST_USE keel_result hcli_rx_head(hcli_rx *rx)
{
    rx->have_head = true;
    rx->h = rx->resp->head.head;
    rx->at = rx->start + rx->head_len;
    rx->reusable = rx->h.keep_alive && rx->h.body != KEEL_HTTP_BODY_UNTIL_CLOSE;
    if (rx->h.body == KEEL_HTTP_BODY_LENGTH && rx->h.content_length > rx->opts->max_response) {
        return KEEL_ERR_TOO_LARGE;
    }
    if (rx->h.body == KEEL_HTTP_BODY_CHUNKED) {
        KEEL_TRY(keel_http_chunked_init(&rx->dec, rx->cfg));
    }
    return KEEL_OK;
}

/* The response is complete; body_off/body_len in raw (not chunked): parse
 * the final head again where it now lies (raw may have moved) and set the
 * body. */
static KEEL_MUST_USE keel_result hcli_rx_complete(hcli_rx *rx, size_t body_off, size_t body_len,
                                                  size_t end)
{
    keel_http_client_response *resp = rx->resp;
    if (rx->raw.len != end) {
        rx->reusable = false; /* bytes after the response: do not trust the connection */
    }
    keel_slice head_bytes;
    KEEL_TRY(keel_slice_sub(keel_buf_slice(&rx->raw), rx->start, rx->head_len, &head_bytes));
    keel_http_parser_reset(&rx->p);
    size_t again = 0;
    KEEL_TRY(keel_http_parse_response(&rx->p, head_bytes, rx->method, &resp->head, &again, NULL));
    resp->body = keel_slice_empty();
    if (rx->h.body == KEEL_HTTP_BODY_CHUNKED) {
        if (rx->out.len > 0) {
            resp->body = keel_buf_slice(&rx->out);
        }
    } else if (body_len > 0) {
        KEEL_TRY(keel_slice_sub(keel_buf_slice(&rx->raw), body_off, body_len, &resp->body));
    }
    return KEEL_OK;
}

/* Go as far as the bytes received allow. eof: no more will come.
 * KEEL_OK: resp is complete; KEEL_ERR_INCOMPLETE: more bytes are needed;
 * KEEL_ERR_CLOSED: the bytes ended before the response; other errors:
 * malformed, or over a limit. */
static KEEL_MUST_USE keel_result hcli_rx_step(hcli_rx *rx, bool eof)
{
    keel_http_client_response *resp = rx->resp;
    keel_result incomplete = eof ? KEEL_ERR_CLOSED : KEEL_ERR_INCOMPLETE;
    while (!rx->have_head) {
        keel_slice in;
        KEEL_TRY(keel_slice_from_off(keel_buf_slice(&rx->raw), rx->start, &in));
        keel_result r = keel_http_parse_response(&rx->p, in, rx->method, &resp->head,
                                                 &rx->head_len, NULL);
        if (r == KEEL_ERR_INCOMPLETE) {
            return incomplete;
        }
        KEEL_TRY(r);
        if (resp->head.status >= 100 && resp->head.status < 200) {
            rx->start += rx->head_len; /* 1xx: the real answer follows */
            continue;
        }
        KEEL_TRY(hcli_rx_head(rx));
    }
    size_t body_start = rx->start + rx->head_len;
    size_t have = rx->raw.len - body_start;
    switch (rx->h.body) {
    case KEEL_HTTP_BODY_LENGTH:
        if (have < rx->h.content_length) {
            return incomplete;
        }
        return hcli_rx_complete(rx, body_start, (size_t)rx->h.content_length,
                                body_start + (size_t)rx->h.content_length);
    case KEEL_HTTP_BODY_UNTIL_CLOSE:
        if (have > rx->opts->max_response) {
            return KEEL_ERR_TOO_LARGE;
        }
        if (!eof) {
            return KEEL_ERR_INCOMPLETE;
        }
        return hcli_rx_complete(rx, body_start, have, rx->raw.len);
    case KEEL_HTTP_BODY_CHUNKED:
        while (!keel_http_chunked_done(&rx->dec)) {
            keel_slice in, data;
            size_t used = 0;
            KEEL_TRY(keel_slice_from_off(keel_buf_slice(&rx->raw), rx->at, &in));
            keel_result r = keel_http_chunked_decode(&rx->dec, in, &data, &used, NULL);
            rx->at += used;
            if (r == KEEL_ERR_INCOMPLETE) {
                return incomplete;
            }
            KEEL_TRY(r);
            if (data.len > 0) {
                KEEL_TRY(hcli_reserve(&resp->decoded_, &rx->out, data.len,
                                      rx->opts->max_response));
                KEEL_TRY(keel_buf_append(&rx->out, data));
            }
        }
        return hcli_rx_complete(rx, 0, 0, rx->at);
    case KEEL_HTTP_BODY_NONE:
        break;
    }
    return hcli_rx_complete(rx, 0, 0, body_start);
}

/* What one blocking exchange needs to know. */
typedef struct hcli_x {
    keel_http_client *c;
    hcli_conn k;
    uint64_t header_deadline, total_deadline;
    bool got_bytes;         /* a byte of the response arrived */
} hcli_x;

static uint32_t hcli_left(uint64_t deadline)
{
    uint64_t now = ksys_now_ms();
    if (now >= deadline) {
        return 0;
    }
    uint64_t left = deadline - now;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

/* Read the response to method over x->net. Sets *reusable when the
 * connection may carry another request. */
static KEEL_MUST_USE keel_result hcli_read_response(hcli_x *x, keel_http_method method,
                                                    keel_http_client_response *resp,
                                                    bool *reusable)
{
    hcli_rx rx;
    KEEL_TRY(hcli_rx_init(&rx, &x->c->opts, &x->c->cfg, method, resp));
    keel_result r;
    while ((r = hcli_rx_step(&rx, false)) == KEEL_ERR_INCOMPLETE) {
        uint64_t deadline = !rx.have_head && x->header_deadline < x->total_deadline
                                ? x->header_deadline
                                : x->total_deadline;
        KEEL_TRY(hcli_rx_room(&rx, HCLI_READ_CHUNK));
        uint32_t left = hcli_left(deadline);
        if (left == 0) {
            return KEEL_ERR_TIMEOUT;
        }
        size_t got = 0;
        r = hcli_conn_recv(&x->c->opts, &x->k, &rx.raw, left, &got);
        if (got > 0) {
            x->got_bytes = true;
        }
        if (r == KEEL_ERR_CLOSED) {
            r = hcli_rx_step(&rx, true);
            break;
        }
        if (r == KEEL_ERR_TLS_TRUNCATED) {
            /* EOF without close_notify: only what the response framed
             * itself counts, not the end of the connection. */
            r = hcli_rx_step(&rx, false);
            r = r == KEEL_ERR_INCOMPLETE ? KEEL_ERR_TLS_TRUNCATED : r;
            rx.reusable = false;
            break;
        }
        KEEL_TRY(r);
    }
    *reusable = rx.reusable;
    return r;
}

static bool hcli_idempotent(keel_http_method m)
{
    return m == KEEL_HTTP_GET || m == KEEL_HTTP_HEAD || m == KEEL_HTTP_PUT ||
           m == KEEL_HTTP_DELETE || m == KEEL_HTTP_OPTIONS;
}

static keel_http_method hcli_method_id(keel_slice m)
{
    static const struct {
        const char *name;
        keel_http_method id;
    } known[] = { { "GET", KEEL_HTTP_GET },       { "HEAD", KEEL_HTTP_HEAD },
                  { "POST", KEEL_HTTP_POST },     { "PUT", KEEL_HTTP_PUT },
                  { "DELETE", KEEL_HTTP_DELETE }, { "OPTIONS", KEEL_HTTP_OPTIONS },
                  { "PATCH", KEEL_HTTP_PATCH },   { "TRACE", KEEL_HTTP_TRACE },
                  { "CONNECT", KEEL_HTTP_CONNECT } };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (keel_slice_eq(m, keel_slice_cstr(known[i].name))) {
            return known[i].id;
        }
    }
    return KEEL_HTTP_OTHER;
}

/* One attempt over net (reused or new). */
static KEEL_MUST_USE keel_result hcli_exchange(hcli_x *x, keel_slice head, keel_slice body,
                                               keel_http_method method,
                                               keel_http_client_response *resp, bool *reusable)
{
    uint32_t left = hcli_left(x->total_deadline);
    if (left == 0) {
        return KEEL_ERR_TIMEOUT;
    }
    KEEL_TRY(hcli_conn_send(&x->c->opts, &x->k, head, left));
    if (body.len > 0) {
        KEEL_TRY(hcli_conn_send(&x->c->opts, &x->k, body, hcli_left(x->total_deadline)));
    }
    uint64_t hd = ksys_now_ms() + x->c->opts.header_timeout_ms;
    x->header_deadline = hd;
    return hcli_read_response(x, method, resp, reusable);
}

/* req's head, written canonically into fresh memory (*mem, the caller
 * frees it): the writer refuses CR/LF/NUL and the fields it writes itself. */
static KEEL_MUST_USE keel_result hcli_build_head(const keel_http_client_request *req,
                                                 const keel_http_url *url, bool close,
                                                 uint8_t **mem, keel_buf *head)
{
    keel_http_method method = hcli_method_id(req->method);
    bool with_length = req->body.len > 0 || method == KEEL_HTTP_POST || method == KEEL_HTTP_PUT ||
                       method == KEEL_HTTP_PATCH;
    keel_http_framing fr = { .body = with_length ? KEEL_HTTP_BODY_LENGTH : KEEL_HTTP_BODY_NONE,
                             .content_length = req->body.len,
                             .close = close };
    size_t need = req->method.len + url->target.len + url->authority.len + 256u;
    for (size_t i = 0; i < req->field_count; i++) {
        need += req->fields[i].name.len + req->fields[i].value.len + 4u;
    }
    *mem = ksys_alloc_zeroed(need);
    if (*mem == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_result r = keel_buf_init(head, *mem, need);
    if (r == KEEL_OK) {
        r = keel_http_write_request_head(head, req->method, url->target, url->authority,
                                         req->fields, req->field_count, &fr);
    }
    if (r != KEEL_OK) {
        ksys_release(*mem);
        *mem = NULL;
    }
    return r;
}

/* A new connection for url within the total deadline: TCP, then the TLS
 * handshake for https. */
static KEEL_MUST_USE keel_result hcli_connect(hcli_x *x, const keel_http_url *url)
{
    const keel_http_client_opts *o = &x->c->opts;
    x->k = (hcli_conn){ 0 };
    keel_result r = keel_net_init(&x->k.net);
    if (r == KEEL_OK) {
        uint32_t left = hcli_left(x->total_deadline);
        r = keel_net_connect(x->k.net, url->host, url->port, KEEL_PROTO_TCP,
                             left < o->connect_timeout_ms ? left : o->connect_timeout_ms);
    }
    if (r == KEEL_OK && keel_net_set_nodelay(x->k.net, true) != KEEL_OK) {
        /* only latency is at stake */
    }
    if (r == KEEL_OK && url->https) {
        uint32_t left = hcli_left(x->total_deadline);
        r = o->tls->session_open(o->tls, x->k.net, url->host,
                                 left < o->connect_timeout_ms ? left : o->connect_timeout_ms,
                                 &x->k.sess);
    }
    if (r != KEEL_OK) {
        hcli_conn_free(o, &x->k);
    }
    return r;
}

/* One request, one response (no redirect followed). */
static KEEL_MUST_USE keel_result hcli_send_once(keel_http_client *c,
                                                const keel_http_client_request *req,
                                                keel_http_client_response *resp)
{
    keel_http_url url;
    KEEL_TRY(keel_http_url_parse(req->url, &url));
    if (url.https && c->opts.tls == NULL) {
        return KEEL_ERR_TLS_CONFIG;
    }
    keel_http_method method = hcli_method_id(req->method);
    uint8_t *head_mem = NULL;
    keel_buf head;
    keel_result r = hcli_build_head(req, &url, c->opts.pool_size == 0, &head_mem, &head);
    if (r != KEEL_OK) {
        return r;
    }
    uint64_t start = ksys_now_ms();
    keel_http_client_response out = { 0 };
    hcli_x x = { .c = c, .total_deadline = start + c->opts.total_timeout_ms };
    for (int attempt = 0; attempt < 2; attempt++) {
        hcli_pool_take(c, url.https, url.host, url.port, &x.k);
        bool reused = x.k.net != NULL;
        if (!reused) {
            r = hcli_connect(&x, &url);
            if (r != KEEL_OK) {
                break;
            }
        }
        x.got_bytes = false;
        bool reusable = false;
        keel_result xr = hcli_exchange(&x, keel_buf_slice(&head), req->body, method, &out,
                                       &reusable);
        if (xr == KEEL_OK) {
            if (reusable && c->opts.pool_size > 0) {
                hcli_pool_put(c, &x.k, url.https, url.host, url.port);
            } else {
                hcli_conn_free(&c->opts, &x.k);
            }
            r = KEEL_OK;
            break;
        }
        hcli_conn_free(&c->opts, &x.k);
        keel_http_client_response_free(&out);
        r = xr;
        /* A pooled connection the server had closed: once more, afresh. */
        bool stale = reused && !x.got_bytes &&
                     (xr == KEEL_ERR_CLOSED || xr == KEEL_ERR_RESET ||
                      xr == KEEL_ERR_TLS_TRUNCATED) &&
                     hcli_idempotent(method);
        if (!stale) {
            break;
        }
    }
    ksys_release(head_mem);
    if (r == KEEL_OK) {
        *resp = out;
    }
    return r;
}

/* ---- redirects ------------------------------------------------------------- */

static bool hcli_is_redirect(uint16_t status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The URL a Location value names, written into out: an absolute http:// or
 * https:// URL as it is, "//authority/path" with the current scheme before
 * it, "/path" on the current scheme and authority. Anything else (another
 * scheme, a relative path) is KEEL_ERR_NOT_FOUND: not followed; so are
 * http:// from https:// (the rest of the exchange would leave TLS) and
 * https:// without a TLS transport (tls false). */
static KEEL_MUST_USE keel_result hcli_location(const keel_http_url *cur, keel_slice loc,
                                               bool tls, keel_buf *out)
{
    uint8_t b0 = 0, b1 = 0;
    keel_http_url check;
    if (keel_http_url_parse(loc, &check) == KEEL_OK) {
        return (cur->https && !check.https) || (check.https && !tls)
                   ? KEEL_ERR_NOT_FOUND
                   : keel_buf_append(out, loc);
    }
    if (keel_slice_get(loc, 0, &b0) != KEEL_OK || b0 != '/') {
        return KEEL_ERR_NOT_FOUND;
    }
    KEEL_TRY(keel_buf_append(out, cur->https ? KEEL_STR("https:") : KEEL_STR("http:")));
    if (keel_slice_get(loc, 1, &b1) != KEEL_OK || b1 != '/') {
        KEEL_TRY(keel_buf_append(out, KEEL_STR("//")));
        KEEL_TRY(keel_buf_append(out, cur->authority));
    }
    KEEL_TRY(keel_buf_append(out, loc));
    return keel_http_url_parse(keel_buf_slice(out), &check) == KEEL_OK ? KEEL_OK
                                                                       : KEEL_ERR_NOT_FOUND;
}

keel_result keel_http_client_send(keel_http_client *c, const keel_http_client_request *req,
                                  keel_http_client_response *resp)
{
    if (c == NULL || req == NULL || resp == NULL || !keel_slice_valid(req->method) ||
        !keel_slice_valid(req->url) || !keel_slice_valid(req->body) ||
        (req->fields == NULL && req->field_count > 0)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_http_client_request cur = *req;
    keel_http_url first;
    KEEL_TRY(keel_http_url_parse(req->url, &first));
    /* Two URL buffers, used in turn: the next URL is built while the
     * current one (and the response naming it) are still alive. */
    size_t url_cap = (size_t)c->cfg.limits.max_header_bytes + 16u;
    uint8_t *urls[2] = { NULL, NULL };
    keel_result r = KEEL_OK;
    for (unsigned hop = 0;; hop++) {
        keel_http_client_response got = { 0 };
        r = hcli_send_once(c, &cur, &got);
        if (r != KEEL_OK) {
            break;
        }
        keel_slice loc;
        keel_http_url at;
        bool follow = hop < c->opts.max_redirects && hcli_is_redirect(got.head.status) &&
                      keel_http_header_get(&got.head.head, KEEL_STR("Location"), &loc) ==
                          KEEL_OK &&
                      keel_http_url_parse(cur.url, &at) == KEEL_OK;
        keel_buf next;
        if (follow) {
            uint8_t **mem = &urls[hop % 2u];
            if (*mem == NULL) {
                *mem = ksys_alloc_zeroed(url_cap);
            }
            follow = *mem != NULL && keel_buf_init(&next, *mem, url_cap) == KEEL_OK &&
                     hcli_location(&at, loc, c->opts.tls != NULL, &next) == KEEL_OK;
        }
        if (!follow) {
            *resp = got;
            break;
        }
        keel_http_url to;
        if (keel_http_url_parse(keel_buf_slice(&next), &to) != KEEL_OK) {
            *resp = got;
            break;
        }
        /* 303, and 301/302 after a POST, become a GET without body (what
         * browsers do); 307 and 308 repeat the request as it was. The
         * caller's fields go only to the first request's host and port. */
        uint16_t st = got.head.status;
        keel_http_client_response_free(&got);
        if ((st == 303 && !keel_slice_eq(cur.method, KEEL_STR("HEAD"))) ||
            ((st == 301 || st == 302) && keel_slice_eq(cur.method, KEEL_STR("POST")))) {
            cur.method = KEEL_STR("GET");
            cur.body = keel_slice_empty();
        }
        if (to.https != first.https || !keel_slice_eq_nocase(to.authority, first.authority)) {
            cur.fields = NULL;
            cur.field_count = 0;
        }
        cur.url = keel_buf_slice(&next);
    }
    ksys_release(urls[0]);
    ksys_release(urls[1]);
    return r;
}

/* ---- async fetch on a loop ----------------------------------------------------- */

/* One fetch on a loop: the request queued on a stream, the response fed
 * to an rx as it arrives, one timer for the deadlines. */
typedef struct hcli_fetch {
    keel_http_client_opts opts;
    keel_http_config cfg;
    keel_loop *loop;
    void *s;                   /* the connection (ops); NULL once it is gone */
    const khttp_stream_ops *ops;
    keel_timer_id timer;
    bool timer_live;
    uint64_t header_deadline, total_deadline;
    keel_http_fetch_cb cb;
    void *user;
    keel_http_client_response resp;
    hcli_rx rx;
    keel_result fail;          /* why the stream was aborted before a report */
    bool finished;
} hcli_fetch;

static void hcli_fetch_timer(keel_loop *loop, keel_timer_id id, void *user);

/* Report r once (and the response with KEEL_OK: the callee owns it), then
 * end the stream; the state goes with the stream's on_close. */
static void hcli_fetch_finish(hcli_fetch *f, keel_result r)
{
    if (f->finished) {
        return;
    }
    f->finished = true;
    if (f->timer_live) {
        if (keel_timer_cancel(f->loop, f->timer) != KEEL_OK) {
            /* already fired */
        }
        f->timer_live = false;
    }
    if (r == KEEL_OK) {
        keel_http_client_response out = f->resp;
        f->resp = (keel_http_client_response){ 0 };
        f->cb(KEEL_OK, &out, f->user);
    } else {
        keel_http_client_response_free(&f->resp);
        f->cb(r, NULL, f->user);
    }
    if (f->s != NULL) {
        if (r == KEEL_OK) {
            f->ops->close(f->s);
        } else {
            f->ops->abort(f->s);
        }
    }
}

static void hcli_fetch_arm(hcli_fetch *f)
{
    uint64_t now = keel_loop_now_ms(f->loop);
    uint64_t at = !f->rx.have_head && f->header_deadline < f->total_deadline ? f->header_deadline
                                                                            : f->total_deadline;
    f->timer_live = keel_timer_start(f->loop, at > now ? at - now : 0, 0, hcli_fetch_timer, f,
                                     &f->timer) == KEEL_OK;
    if (!f->timer_live && f->s != NULL) {
        /* No fetch without a deadline; reported from on_close, never from
         * inside keel_http_fetch. */
        f->fail = KEEL_ERR_NO_MEMORY;
        f->ops->abort(f->s);
    }
}

static void hcli_fetch_timer(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    hcli_fetch *f = user;
    f->timer_live = false;
    if (f->finished) {
        return;
    }
    uint64_t now = keel_loop_now_ms(loop);
    if (now >= f->total_deadline || (!f->rx.have_head && now >= f->header_deadline)) {
        hcli_fetch_finish(f, KEEL_ERR_TIMEOUT);
        return;
    }
    hcli_fetch_arm(f); /* the head came: the total deadline is next */
}

size_t khttp_fetch_on_read(void *s, keel_result r, keel_slice data, void *user)
{
    (void)s;
    hcli_fetch *f = user;
    if (f->finished) {
        return data.len;
    }
    /* TLS_TRUNCATED, EOF without close_notify: as CLOSED, except that
     * only what the response framed itself counts, not the end of the
     * connection. */
    bool truncated = r == KEEL_ERR_TLS_TRUNCATED;
    if (r != KEEL_OK && r != KEEL_ERR_CLOSED && !truncated) {
        return 0; /* on_close reports it */
    }
    keel_result step = KEEL_OK;
    if (data.len > 0) {
        step = hcli_rx_room(&f->rx, data.len);
        if (step == KEEL_OK) {
            step = keel_buf_append(&f->rx.raw, data);
        }
    }
    if (step == KEEL_OK) {
        step = hcli_rx_step(&f->rx, r == KEEL_ERR_CLOSED);
    }
    if (truncated && step == KEEL_ERR_INCOMPLETE) {
        step = KEEL_ERR_TLS_TRUNCATED;
    }
    if (step != KEEL_ERR_INCOMPLETE) {
        hcli_fetch_finish(f, step);
    }
    return data.len; /* everything is in rx's buffer now */
}

void khttp_fetch_on_close(void *s, keel_result r, void *user)
{
    (void)s;
    hcli_fetch *f = user;
    f->s = NULL;
    hcli_fetch_finish(f, f->fail != KEEL_OK ? f->fail : r == KEEL_OK ? KEEL_ERR_CLOSED : r);
    ksys_release(f);
}

/* A plain connection's handlers: its keel_stream is the void * above. */
static size_t hcli_fetch_plain_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    return khttp_fetch_on_read(s, r, data, user);
}

static void hcli_fetch_plain_closed(keel_stream *s, keel_result r, void *user)
{
    khttp_fetch_on_close(s, r, user);
}

static const keel_stream_handlers hcli_fetch_handlers = {
    .on_read = hcli_fetch_plain_read,
    .on_close = hcli_fetch_plain_closed,
};

keel_result keel_http_fetch(keel_loop *loop, const keel_http_client_opts *opts,
                            const keel_http_client_request *req, keel_http_fetch_cb cb,
                            void *user)
{
    if (loop == NULL || req == NULL || cb == NULL || !keel_slice_valid(req->method) ||
        !keel_slice_valid(req->url) || !keel_slice_valid(req->body) ||
        (req->fields == NULL && req->field_count > 0)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_http_url url;
    KEEL_TRY(keel_http_url_parse(req->url, &url));
    if (url.https && (opts == NULL || opts->tls == NULL)) {
        return KEEL_ERR_TLS_CONFIG;
    }
    hcli_fetch *f = ksys_alloc_zeroed(sizeof *f);
    if (f == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    uint8_t *head_mem = NULL;
    keel_buf head;
    keel_result r = hcli_resolve(opts, &f->opts, &f->cfg);
    if (r == KEEL_OK) {
        r = hcli_build_head(req, &url, true, &head_mem, &head);
    }
    if (r == KEEL_OK) {
        r = hcli_rx_init(&f->rx, &f->opts, &f->cfg, hcli_method_id(req->method), &f->resp);
    }
    if (r == KEEL_OK) {
        f->loop = loop;
        f->cb = cb;
        f->user = user;
        uint64_t now = keel_loop_now_ms(loop);
        f->header_deadline = now + f->opts.header_timeout_ms;
        f->total_deadline = now + f->opts.total_timeout_ms;
        if (url.https) {
            f->ops = f->opts.tls->ops;
            r = f->opts.tls->connect(f->opts.tls, loop, url.host, url.port,
                                     f->opts.connect_timeout_ms, f, &f->s);
        } else {
            keel_stream *ps = NULL;
            f->ops = &khttp_plain_ops;
            r = keel_stream_connect(loop, url.host, url.port, f->opts.connect_timeout_ms,
                                    &hcli_fetch_handlers, NULL, f, &ps);
            f->s = ps;
        }
    }
    if (r != KEEL_OK) {
        ksys_release(head_mem);
        keel_http_client_response_free(&f->resp);
        ksys_release(f);
        return r;
    }
    /* From here on everything is reported through cb (queued while the
     * connection is made). */
    r = f->ops->write(f->s, keel_buf_slice(&head));
    if (r == KEEL_OK && req->body.len > 0) {
        r = f->ops->write(f->s, req->body);
    }
    ksys_release(head_mem);
    if (r != KEEL_OK) {
        f->ops->abort(f->s); /* on_close reports r */
        return KEEL_OK;
    }
    hcli_fetch_arm(f);
    return KEEL_OK;
}

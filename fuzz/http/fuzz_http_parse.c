/*
 * fuzz/http/fuzz_http_parse.c - keel's HTTP/1.1 head parser and chunked
 * decoder driven as a server (requests) or a client (responses) drives them
 * over one connection, whole and in fuzzer-chosen pieces.
 *
 * Drives: keel_http_parser_init, keel_http_parse_request,
 * keel_http_parse_response, keel_http_parser_error, keel_http_header_get,
 * keel_http_reason_status, keel_http_reason_str, keel_http_chunked_init,
 * keel_http_chunked_decode, keel_http_chunked_done.
 *
 * Input: [flags][k][k schedule bytes][methods if response][limits if
 * flagged: 8 bytes][stream (at most 64 KiB)].
 *   flags bit 0: responses (else requests); bit 1: limits from the input
 *   (u16 start line, u16 header bytes, u8 header array size, u8 chunk ext,
 *   u16 trailer bytes; 0 = default); bit 2: go on after a message that is
 *   not keep-alive (else stop there, as a server or client does); bits 3-6:
 *   the four keel_http_lenient bits.
 *   methods (responses): one byte, two bits per response (cycled) choosing
 *   the request method it answers: GET, HEAD, CONNECT, POST.
 *   Schedule byte i (cycled) gives the size of the i-th arrival: 1..128,
 *   or a multiple of 64 up to 4 KiB.
 *
 * A run is a receive loop: bytes arrive into a receive buffer that grows by
 * doubling (moving the bytes) and drops each finished message (moving the
 * rest to the front); the spare room is poisoned under ASan. On each
 * arrival the current message is advanced: its head is offered from its
 * first byte, then its body is taken per the framing keel reported
 * (Content-Length bytes, the chunked decoder, or to the end for
 * BODY_UNTIL_CLOSE), then the next message (pipelining), until the input is
 * used up or an error.
 *
 * Properties (abort() on violation):
 *  - every slice of a parsed head (method, target, path, query, authority,
 *    reason, field names and values) lies inside the bytes offered;
 *    consumed <= the bytes offered, > 0; decoded data lies inside the bytes
 *    offered, consumed <= them, INCOMPLETE consumes all;
 *  - an error has an offset inside the bytes offered, a reason with a
 *    description, and a status among 400/413/414/431/501/505 equal to
 *    keel_http_reason_status(reason); TOO_LARGE exactly for the limit
 *    reasons; errors are sticky (the same again on the next call);
 *  - results are only those the contract allows; header_get finds the first
 *    field of a name that the head holds;
 *  - split invariance: the run with one arrival and the run with the
 *    fuzzer's arrivals give the same sequence of messages (start offset,
 *    head length, every field as offsets into the stream, framing, body
 *    length and bytes) and the same end (clean, incomplete head/body, or
 *    the same error reason at the same stream offset);
 *  - INCOMPLETE only when more bytes can complete the message: with the
 *    default limits, a head the whole run leaves INCOMPLETE is completed by
 *    a short search over closing strings (a parser state copy per try); a
 *    chunked body left INCOMPLETE accepts more bytes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_http_util.h"
#include "keel/http.h"

#define STREAM_MAX 65536u
#define HEADERS_DEFAULT 64u
#define EVENTS_MAX 2048u

enum { F_RESPONSE = 1, F_LIMITS = 2, F_GO_ON = 4 };

/* One message as a run saw it: every value as an offset into the stream. */
typedef struct msg_event {
    size_t start;        /* stream offset of the head's first byte */
    size_t head_len;     /* consumed */
    uint64_t fields;     /* hash of every field of the head */
    keel_http_body body;
    uint64_t content_length;
    uint64_t body_len;   /* data bytes */
    uint64_t body_hash;
    size_t end;          /* stream offset one past the body */
} msg_event;

enum end_kind { END_CLEAN = 1, END_HEAD_INCOMPLETE, END_BODY_INCOMPLETE, END_ERROR, END_STOP };

typedef struct run_result {
    msg_event ev[EVENTS_MAX];
    size_t count;
    int end;
    keel_result err_result;
    keel_http_reason reason;
    size_t err_at;       /* stream offset of the error */
} run_result;

typedef struct setup {
    bool response;
    bool go_on;
    uint8_t methods;
    bool default_limits;
    keel_http_config cfg;
    size_t header_cap;
    const uint8_t *sched;
    size_t k;
    const uint8_t *stream;
    size_t len;
} setup;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    return fnv(h, &v, sizeof v);
}

static keel_http_method method_of(const setup *s, size_t i)
{
    static const keel_http_method table[4] = { KEEL_HTTP_GET, KEEL_HTTP_HEAD, KEEL_HTTP_CONNECT,
                                               KEEL_HTTP_POST };
    return table[(s->methods >> (2u * (i % 4u))) & 3u];
}

/* A slice of a head: inside in (or empty), hashed as an offset from base. */
static uint64_t slice_in(uint64_t h, keel_slice s, keel_slice in, size_t base)
{
    if (s.len == 0) {
        return fnv_u64(h, UINT64_MAX);
    }
    FUZZ_CHECK(s.ptr != NULL && in.ptr != NULL);
    FUZZ_CHECK(s.ptr >= in.ptr && s.len <= in.len && (size_t)(s.ptr - in.ptr) <= in.len - s.len);
    h = fnv_u64(h, base + (size_t)(s.ptr - in.ptr));
    return fnv_u64(h, s.len);
}

static bool ascii_eq(keel_slice a, keel_slice b)
{
    if (a.len != b.len) {
        return false;
    }
    for (size_t i = 0; i < a.len; i++) {
        uint8_t x = a.ptr[i], y = b.ptr[i];
        x = (uint8_t)(x >= 'A' && x <= 'Z' ? x + 32 : x);
        y = (uint8_t)(y >= 'A' && y <= 'Z' ? y + 32 : y);
        if (x != y) {
            return false;
        }
    }
    return true;
}

static uint64_t head_check(const keel_http_head *hd, keel_slice in, size_t base, size_t cap)
{
    uint64_t h = 0xcbf29ce484222325ull;
    FUZZ_CHECK(hd->version_minor <= 1);
    FUZZ_CHECK(hd->header_count <= cap);
    FUZZ_CHECK(hd->body >= KEEL_HTTP_BODY_NONE && hd->body <= KEEL_HTTP_BODY_UNTIL_CLOSE);
    FUZZ_CHECK(hd->body == KEEL_HTTP_BODY_LENGTH || hd->content_length == 0);
    h = fnv_u64(h, hd->version_minor);
    h = fnv_u64(h, hd->header_count);
    h = fnv_u64(h, (uint64_t)hd->keep_alive << 1 | (uint64_t)hd->has_upgrade);
    for (size_t i = 0; i < hd->header_count; i++) {
        const keel_http_header *f = &hd->headers[i];
        FUZZ_CHECK(f->name.len > 0);
        h = slice_in(h, f->name, in, base);
        h = slice_in(h, f->value, in, base);
        if (f->value.len > 0) {
            uint8_t a = f->value.ptr[0], z = f->value.ptr[f->value.len - 1];
            FUZZ_CHECK(a != ' ' && a != '\t' && z != ' ' && z != '\t');
        }
    }
    /* header_get: the first field of that name. */
    if (hd->header_count > 0) {
        const keel_http_header *last = &hd->headers[hd->header_count - 1];
        keel_slice v;
        FUZZ_CHECK(keel_http_header_get(hd, last->name, &v) == KEEL_OK);
        size_t i = 0;
        while (!ascii_eq(hd->headers[i].name, last->name)) {
            i++;
        }
        FUZZ_CHECK(v.ptr == hd->headers[i].value.ptr && v.len == hd->headers[i].value.len);
    }
    return h;
}

static uint64_t request_check(const keel_http_request *rq, keel_slice in, size_t base, size_t cap)
{
    uint64_t h = head_check(&rq->head, in, base, cap);
    FUZZ_CHECK(rq->method.len > 0 && rq->target.len > 0);
    h = slice_in(h, rq->method, in, base);
    h = slice_in(h, rq->target, in, base);
    h = slice_in(h, rq->path, in, base);
    h = slice_in(h, rq->query, in, base);
    h = slice_in(h, rq->authority, in, base);
    FUZZ_CHECK(rq->form >= KEEL_HTTP_ORIGIN_FORM && rq->form <= KEEL_HTTP_ASTERISK_FORM);
    FUZZ_CHECK(rq->head.body != KEEL_HTTP_BODY_UNTIL_CLOSE);
    h = fnv_u64(h, rq->method_id);
    h = fnv_u64(h, rq->form);
    h = fnv_u64(h, (uint64_t)rq->expect_continue << 1 | (uint64_t)rq->expect_other);
    return h;
}

static uint64_t response_check(const keel_http_response *rs, keel_slice in, size_t base,
                               size_t cap, keel_http_method m)
{
    uint64_t h = head_check(&rs->head, in, base, cap);
    FUZZ_CHECK(rs->status >= 100 && rs->status <= 599);
    h = slice_in(h, rs->reason, in, base);
    h = fnv_u64(h, rs->status);
    if (m == KEEL_HTTP_HEAD || rs->status < 200 || rs->status == 204 || rs->status == 304 ||
        (m == KEEL_HTTP_CONNECT && rs->status < 300)) {
        FUZZ_CHECK(rs->head.body == KEEL_HTTP_BODY_NONE);
    }
    return h;
}

static bool status_allowed(uint16_t st)
{
    return st == 400 || st == 413 || st == 414 || st == 431 || st == 501 || st == 505;
}

static bool limit_reason(keel_http_reason r)
{
    return r == KEEL_HTTP_METHOD_TOO_LONG || r == KEEL_HTTP_TARGET_TOO_LONG ||
           r == KEEL_HTTP_START_LINE_TOO_LONG || r == KEEL_HTTP_TOO_MANY_HEADERS ||
           r == KEEL_HTTP_HEADERS_TOO_LARGE || r == KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE ||
           r == KEEL_HTTP_CHUNK_SIZE_TOO_LARGE || r == KEEL_HTTP_CHUNK_EXT_TOO_LARGE ||
           r == KEEL_HTTP_TRAILERS_TOO_LARGE;
}

static void error_check(keel_result r, const keel_http_error *e, size_t in_len)
{
    FUZZ_CHECK(r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE);
    FUZZ_CHECK(e->reason > KEEL_HTTP_OK && e->reason < KEEL_HTTP_REASON_COUNT);
    FUZZ_CHECK(e->offset < in_len);
    FUZZ_CHECK(status_allowed(e->status));
    FUZZ_CHECK(e->status == keel_http_reason_status(e->reason));
    FUZZ_CHECK((r == KEEL_ERR_TOO_LARGE) == limit_reason(e->reason));
    const char *why = keel_http_reason_str(e->reason);
    FUZZ_CHECK(why != NULL && why[0] != 0);
}

/* ---- INCOMPLETE means "more bytes can complete it" ----------------------- */

/* Closing strings: every suffix of these, and a few more. */
static const char *const g_close_models[] = {
    "GET / HTTP/1.0\r\n\r\n", "Host: a\r\n\r\n", "chunked\r\n\r\n",
    "HTTP/1.0 200 OK\r\n\r\n",
};
static const char *const g_close_extra[] = {
    "\r\nHost: a\r\n\r\n", "]", "1]", "::1]", "://a", "/a", "* HTTP/1.0\r\n\r\n",
    " * HTTP/1.0\r\n\r\n", "a:1 HTTP/1.0\r\n\r\n", ":1 HTTP/1.0\r\n\r\n", " HTTP/1.1\r\n",
    "1", "a", " ", ":",
};
#define CLOSE_MAX 96
static keel_slice g_close[CLOSE_MAX];
static size_t g_close_n;

static void close_init(void)
{
    if (g_close_n > 0) {
        return;
    }
    for (size_t m = 0; m < sizeof g_close_models / sizeof g_close_models[0]; m++) {
        size_t n = strlen(g_close_models[m]);
        for (size_t i = n; i > 0; i--) {
            FUZZ_CHECK(g_close_n < CLOSE_MAX);
            g_close[g_close_n].ptr = (const uint8_t *)g_close_models[m] + (n - i);
            g_close[g_close_n++].len = i;
        }
    }
    for (size_t m = 0; m < sizeof g_close_extra / sizeof g_close_extra[0]; m++) {
        FUZZ_CHECK(g_close_n < CLOSE_MAX);
        g_close[g_close_n].ptr = (const uint8_t *)g_close_extra[m];
        g_close[g_close_n++].len = strlen(g_close_extra[m]);
    }
}

typedef struct completer {
    const setup *s;
    keel_http_method m;
    uint8_t *buf;
    size_t cap;
    size_t budget;
    bool exhausted;
    size_t given;     /* bytes the run had offered */
    bool deferred;    /* a completion was rejected at a byte already given */
} completer;

/* Depth-first: can buf[0..len) be completed with at most depth closings? */
static bool complete_from(completer *c, const keel_http_parser *p, size_t len, unsigned depth)
{
    for (size_t i = 0; i < g_close_n; i++) {
        if (c->budget == 0) {
            c->exhausted = true;
            return false;
        }
        c->budget--;
        size_t n = g_close[i].len;
        if (len + n > c->cap) {
            continue;
        }
        memcpy(c->buf + len, g_close[i].ptr, n);
        keel_http_parser q = *p;
        keel_slice in = { c->buf, len + n };
        size_t used = 0;
        keel_http_error e = { 0 };
        keel_result r;
        if (c->s->response) {
            keel_http_response rs;
            r = keel_http_parse_response(&q, in, c->m, &rs, &used, &e);
        } else {
            keel_http_request rq;
            r = keel_http_parse_request(&q, in, &rq, &used, &e);
        }
        if (r == KEEL_OK) {
            return true;
        }
        if ((r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE) && e.offset < c->given) {
            c->deferred = true;
        }
        if (r == KEEL_ERR_INCOMPLETE && depth > 1 && complete_from(c, &q, len + n, depth - 1)) {
            return true;
        }
    }
    return false;
}

static void head_completable(const setup *s, const keel_http_parser *p, keel_slice in,
                             keel_http_method m)
{
    close_init();
    completer c = { s, m, NULL, in.len + 64, 6000, false, in.len, false };
    c.buf = malloc(c.cap);
    FUZZ_CHECK(c.buf != NULL);
    if (in.len > 0) {
        memcpy(c.buf, in.ptr, in.len);
    }
    bool ok = complete_from(&c, p, in.len, 3);
    free(c.buf);
    /* A decision keel takes at a later byte about bytes already given (the
     * form of a target at its end, a coding at the end of its token...) is
     * documented (docs/http-profile.md, "INCOMPLETE and deferred
     * decisions"): the prefix was already dead. Anything else is not. */
    if (!ok && !c.exhausted && !c.deferred) {
        FUZZ_FAIL("INCOMPLETE head that no closing string completes");
    }
}


/* ---- the receive loop ------------------------------------------------------ */

typedef struct rbuf {
    uint8_t *p;
    size_t cap;
    size_t len;
    size_t base; /* stream offset of p[0] */
} rbuf;

static void rbuf_append(rbuf *b, const uint8_t *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 64;
        while (cap < b->len + n) {
            cap *= 2;
        }
        uint8_t *q = malloc(cap);
        FUZZ_CHECK(q != NULL);
        if (b->len > 0) {
            UNPOISON(b->p, b->len);
            memcpy(q, b->p, b->len);
        }
        if (b->p != NULL) {
            UNPOISON(b->p, b->cap);
        }
        free(b->p);
        b->p = q;
        b->cap = cap;
    }
    UNPOISON(b->p + b->len, n);
    memcpy(b->p + b->len, src, n);
    b->len += n;
    POISON(b->p + b->len, b->cap - b->len);
}

/* Drop the first n bytes (a finished message), moving the rest. */
static void rbuf_drop(rbuf *b, size_t n)
{
    if (n == 0) {
        return;
    }
    if (b->len > n) {
        memmove(b->p, b->p + n, b->len - n);
    }
    b->len -= n;
    b->base += n;
    POISON(b->p + b->len, b->cap - b->len);
}

enum stage { ST_HEAD, ST_LENGTH, ST_CHUNKED, ST_CLOSE, ST_DONE };

typedef struct conn {
    const setup *s;
    run_result *out;
    keel_http_parser p;
    keel_http_header *hdrs;
    keel_http_chunked d;
    int stage;
    size_t at;            /* buffer offset of the unconsumed body bytes */
    uint64_t left;        /* ST_LENGTH: bytes to go */
    size_t finals;        /* responses answered (method index) */
    msg_event cur;
    bool stop_after;      /* the current message is not keep-alive: stop after it */
    bool whole;
} conn;

static void finish_message(conn *c, rbuf *b)
{
    c->cur.end = b->base + c->at;
    FUZZ_CHECK(c->out->count < EVENTS_MAX);
    c->out->ev[c->out->count++] = c->cur;
    rbuf_drop(b, c->at);
    c->at = 0;
    c->stage = ST_HEAD;
    if (c->stop_after) {
        c->out->end = END_STOP;
        c->stage = ST_DONE;
    }
}

static void fail_with(conn *c, keel_result r, const keel_http_error *e, size_t abs)
{
    c->out->end = END_ERROR;
    c->out->err_result = r;
    c->out->reason = e->reason;
    c->out->err_at = abs;
    c->stage = ST_DONE;
}

static void take_data(conn *c, keel_slice data, keel_slice in)
{
    FUZZ_CHECK(data.len == 0 || (data.ptr >= in.ptr && data.len <= in.len &&
                                 (size_t)(data.ptr - in.ptr) <= in.len - data.len));
    c->cur.body_len += data.len;
    c->cur.body_hash = fnv(c->cur.body_hash, data.ptr, data.len);
}

/* Advance as far as the bytes in b allow. */
static void advance(conn *c, rbuf *b)
{
    const setup *s = c->s;
    while (c->stage != ST_DONE) {
        if (c->stage == ST_HEAD) {
            if (b->len == 0) {
                return;
            }
            keel_slice in = { b->p, b->len };
            size_t used = 99;
            keel_http_error e = { 0 };
            keel_result r;
            keel_http_head *hd;
            keel_http_request rq;
            keel_http_response rs;
            keel_http_method m = method_of(s, c->finals);
            uint64_t fields = 0;
            if (s->response) {
                r = keel_http_parse_response(&c->p, in, m, &rs, &used, &e);
                hd = &rs.head;
            } else {
                r = keel_http_parse_request(&c->p, in, &rq, &used, &e);
                hd = &rq.head;
            }
            if (r == KEEL_ERR_INCOMPLETE) {
                FUZZ_CHECK(used == 0);
                return;
            }
            if (r != KEEL_OK) {
                FUZZ_CHECK(used == 0);
                error_check(r, &e, in.len);
                keel_http_error again = keel_http_parser_error(&c->p);
                FUZZ_CHECK(again.offset == e.offset && again.reason == e.reason &&
                           again.status == e.status);
                size_t used2 = 99;
                keel_http_error e2 = { 0 };
                keel_result r2 = s->response
                                     ? keel_http_parse_response(&c->p, in, m, &rs, &used2, &e2)
                                     : keel_http_parse_request(&c->p, in, &rq, &used2, &e2);
                FUZZ_CHECK(r2 == r && used2 == 0 && e2.offset == e.offset && e2.reason == e.reason);
                fail_with(c, r, &e, b->base + e.offset);
                return;
            }
            FUZZ_CHECK(used > 0 && used <= in.len);
            fields = s->response ? response_check(&rs, in, b->base, c->s->header_cap, m)
                                 : request_check(&rq, in, b->base, c->s->header_cap);
            memset(&c->cur, 0, sizeof c->cur);
            c->cur.start = b->base;
            c->cur.head_len = used;
            c->cur.fields = fields;
            c->cur.body = hd->body;
            c->cur.content_length = hd->content_length;
            c->cur.body_hash = 0xcbf29ce484222325ull;
            c->at = used;
            bool final = !s->response || rs.status >= 200;
            if (final) {
                c->finals++;
            }
            c->stop_after = !hd->keep_alive && !s->go_on;
            switch (hd->body) {
            case KEEL_HTTP_BODY_NONE: c->stage = ST_HEAD; break;
            case KEEL_HTTP_BODY_LENGTH: c->stage = ST_LENGTH; c->left = hd->content_length; break;
            case KEEL_HTTP_BODY_CHUNKED:
                c->stage = ST_CHUNKED;
                FUZZ_CHECK(keel_http_chunked_init(&c->d, &s->cfg) == KEEL_OK);
                break;
            case KEEL_HTTP_BODY_UNTIL_CLOSE:
                FUZZ_CHECK(s->response && !hd->keep_alive);
                c->stage = ST_CLOSE;
                break;
            default: FUZZ_FAIL("unknown body framing");
            }
            if (c->stage == ST_HEAD) {
                finish_message(c, b);
                continue;
            }
        }
        if (c->stage == ST_LENGTH) {
            size_t avail = b->len - c->at;
            size_t n = c->left < avail ? (size_t)c->left : avail;
            keel_slice piece = { b->p + c->at, n };
            take_data(c, piece, (keel_slice){ b->p + c->at, avail });
            c->at += n;
            c->left -= n;
            if (c->left > 0) {
                return;
            }
        } else if (c->stage == ST_CHUNKED) {
            for (;;) {
                keel_slice in = { b->p + c->at, b->len - c->at }, data;
                size_t used = 99;
                keel_http_error e = { 0 };
                keel_result r = keel_http_chunked_decode(&c->d, in, &data, &used, &e);
                if (r == KEEL_ERR_INCOMPLETE) {
                    FUZZ_CHECK(used == in.len && data.len == 0);
                    c->at += used;
                    return;
                }
                if (r != KEEL_OK) {
                    /* The offset counts from the body's first byte. */
                    size_t body_start = c->cur.start + c->cur.head_len;
                    error_check(r, &e, b->base + b->len - body_start);
                    FUZZ_CHECK(e.offset >= b->base + c->at - body_start);
                    fail_with(c, r, &e, body_start + e.offset);
                    return;
                }
                FUZZ_CHECK(used <= in.len);
                take_data(c, data, in);
                c->at += used;
                if (keel_http_chunked_done(&c->d)) {
                    FUZZ_CHECK(data.len == 0);
                    break;
                }
                FUZZ_CHECK(data.len > 0);
            }
        } else if (c->stage == ST_CLOSE) {
            keel_slice in = { b->p + c->at, b->len - c->at };
            take_data(c, in, in);
            c->at = b->len;
            return;
        }
        finish_message(c, b);
    }
}

static void run(const setup *s, bool whole, run_result *out)
{
    conn c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.out = out;
    c.whole = whole;
    out->count = 0;
    out->end = 0;
    c.hdrs = calloc(s->header_cap > 0 ? s->header_cap : 1, sizeof *c.hdrs);
    FUZZ_CHECK(c.hdrs != NULL);
    FUZZ_CHECK(keel_http_parser_init(&c.p, s->response ? KEEL_HTTP_RESPONSE : KEEL_HTTP_REQUEST,
                                     &s->cfg, c.hdrs, s->header_cap) == KEEL_OK);
    rbuf b = { NULL, 0, 0, 0 };
    size_t fed = 0;
    for (size_t i = 0; fed < s->len && c.stage != ST_DONE; i++) {
        size_t n = s->len - fed;
        if (!whole && s->k > 0) {
            uint8_t code = s->sched[i % s->k];
            size_t want = code < 128u ? (size_t)code + 1u : (size_t)(code - 127u) * 64u;
            n = want < n ? want : n;
        }
        rbuf_append(&b, s->stream + fed, n);
        fed += n;
        advance(&c, &b);
    }
    if (c.stage != ST_DONE) {
        /* The end of the stream. */
        if (c.stage == ST_HEAD) {
            if (b.len == 0) {
                out->end = END_CLEAN;
            } else {
                out->end = END_HEAD_INCOMPLETE;
                if (whole && s->default_limits) {
                    keel_slice in = { b.p, b.len };
                    head_completable(s, &c.p, in, method_of(s, c.finals));
                }
            }
        } else if (c.stage == ST_CLOSE) {
            finish_message(&c, &b);
            out->end = END_CLEAN;
        } else {
            out->end = END_BODY_INCOMPLETE;
            if (whole && c.stage == ST_CHUNKED && s->default_limits) {
                fuzz_http_chunked_continues(&c.d);
            }
        }
    }
    if (b.p != NULL) {
        UNPOISON(b.p, b.cap);
    }
    free(b.p);
    free(c.hdrs);
}

static void same_runs(const run_result *a, const run_result *b)
{
    if (a->count != b->count || a->end != b->end) {
        fprintf(stderr, "http_parse: whole: %zu messages, end %d; split: %zu messages, end %d\n",
                a->count, a->end, b->count, b->end);
    }
    size_t n = a->count < b->count ? a->count : b->count;
    for (size_t i = 0; i < n; i++) {
        const msg_event *x = &a->ev[i], *y = &b->ev[i];
        if (x->start != y->start || x->head_len != y->head_len || x->fields != y->fields ||
            x->body != y->body || x->content_length != y->content_length ||
            x->body_len != y->body_len || x->body_hash != y->body_hash || x->end != y->end) {
            fprintf(stderr,
                    "http_parse: message %zu differs: whole start %zu head %zu body %d/%llu end %zu;"
                    " split start %zu head %zu body %d/%llu end %zu\n",
                    i, x->start, x->head_len, (int)x->body, (unsigned long long)x->body_len, x->end,
                    y->start, y->head_len, (int)y->body, (unsigned long long)y->body_len, y->end);
            FUZZ_FAIL("split run differs from whole run (message)");
        }
    }
    FUZZ_CHECK(a->count == b->count && a->end == b->end);
    if (a->end == END_ERROR) {
        if (a->err_result != b->err_result || a->reason != b->reason || a->err_at != b->err_at) {
            fprintf(stderr, "http_parse: whole: %s at %zu; split: %s at %zu\n",
                    keel_http_reason_str(a->reason), a->err_at, keel_http_reason_str(b->reason),
                    b->err_at);
            FUZZ_FAIL("split run differs from whole run (error)");
        }
    }
}

static run_result g_whole, g_split;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = { data, size, 0 };
    setup s;
    memset(&s, 0, sizeof s);
    uint8_t flags = fuzz_u8(&r);
    s.response = (flags & F_RESPONSE) != 0;
    s.go_on = (flags & F_GO_ON) != 0;
    s.cfg.lenient = (uint32_t)(flags >> 3) & 0xFu;
    s.k = fuzz_u8(&r);
    if (s.k > fuzz_left(&r)) {
        s.k = fuzz_left(&r);
    }
    s.sched = data + r.pos;
    r.pos += s.k;
    if (s.response) {
        s.methods = fuzz_u8(&r);
    }
    s.header_cap = HEADERS_DEFAULT;
    s.default_limits = true;
    if (flags & F_LIMITS) {
        s.cfg.limits.max_start_line = fuzz_u16(&r);
        s.cfg.limits.max_header_bytes = fuzz_u16(&r);
        s.header_cap = fuzz_u8(&r);
        s.cfg.limits.max_chunk_ext = fuzz_u8(&r);
        s.cfg.limits.max_trailer_bytes = fuzz_u16(&r);
        s.default_limits = false;
    }
    s.stream = data + r.pos;
    s.len = fuzz_left(&r);
    if (s.len > STREAM_MAX) {
        s.len = STREAM_MAX;
    }
    run(&s, true, &g_whole);
    run(&s, false, &g_split);
    same_runs(&g_whole, &g_split);
    return 0;
}

/*
 * src/http/server.c - the HTTP/1.1 server (include/keel/http_server.h) on
 * keel's async runtime: one keel_stream per connection, keel's strict parser
 * over the stream's unconsumed bytes, routes, replies given at once or
 * later, pipelining with batched writes, timeouts, lingering close, the
 * access log and graceful shutdown, over keel_server's loops.
 *
 * How a request travels:
 *  - Its head is parsed where it lies, in the stream's receive buffer. A
 *    head that arrives whole is parsed with the loop's shared parser and
 *    header array: an idle keep-alive connection owns no buffer. A head
 *    split over several reads gets a per-connection parser and header array
 *    (khsrv_req) until it is complete, so that parsing stays incremental.
 *  - A Content-Length body stays in the receive buffer too (nothing is
 *    consumed until the whole request is there: the stream's read_cap is set
 *    above the largest head plus max_body); the head is parsed once more
 *    when the body is complete, and the handler gets slices into the buffer.
 *  - A chunked body is decoded as it arrives into a body buffer (capped at
 *    max_body), its framing consumed; the head is copied aside first and
 *    parsed again from the copy when the body is complete.
 *  - One request is handled at a time. The answers of requests that were
 *    read together go into the loop's batch buffer and leave in one write.
 *    A reply not given during the handler call stops reading until it is
 *    given (the stream offers the unconsumed bytes again then).
 *  - A connection ends, after its last answer or a rejection, by a
 *    lingering close: the answer is flushed, the write side shut
 *    (keel_stream_shutdown), input drained and dropped for linger_ms at
 *    most, then the stream is closed, so that the client reads the answer
 *    instead of a reset.
 *  - One timer per connection, re-armed lazily: a deadline that moves later
 *    leaves the armed timer alone (it re-arms itself when it fires early).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sys.h"
#include "http/http_transport.h"

#include "keel/http.h"
#include "keel/http_server.h"
#include "keel/loop.h"
#include "keel/result.h"
#include "keel/slice.h"

#define HSRV_MAX_LOOPS 256u
#define HSRV_DEFAULT_MAX_HEADERS 64u
#define HSRV_MAX_HEADERS_CAP 4096u
#define HSRV_DEFAULT_MAX_BODY (1024u * 1024u)
#define HSRV_MAX_BODY_CAP ((size_t)1 << 30)
#define HSRV_DEFAULT_MAX_REQUESTS 1000u
#define HSRV_DEFAULT_MAX_RESPONSE (4u * 1024u * 1024u)
#define HSRV_MAX_RESPONSE_CAP ((size_t)1 << 30)
#define HSRV_DEFAULT_HEADER_TIMEOUT 10000u
#define HSRV_DEFAULT_IDLE_TIMEOUT 30000u
#define HSRV_DEFAULT_BODY_TIMEOUT 5000u
#define HSRV_DEFAULT_BODY_MIN 1024u
#define HSRV_DEFAULT_WRITE_TIMEOUT 30000u
#define HSRV_DEFAULT_LINGER 2000u
/* Answers queued in the batch buffer past this are written out at once. */
#define HSRV_BATCH_FLUSH (64u * 1024u)
/* Room for a head beyond its fields: status line, Date, Server, framing. */
#define HSRV_HEAD_SLACK 512u

typedef struct khsrv_loop khsrv_loop;
typedef struct khsrv_conn khsrv_conn;

/* Where a connection stands. */
typedef enum khsrv_phase {
    HSRV_HEAD = 0,      /* reading a head (none started when conn->partial is false) */
    HSRV_BODY_LENGTH,   /* the head is parsed; waiting for content_length body bytes */
    HSRV_BODY_CHUNKED,  /* decoding a chunked body */
    HSRV_IN_HANDLER,    /* the handler is running */
    HSRV_WAIT_REPLY,    /* the handler returned without answering; reading stopped */
    HSRV_BODY_STREAM,   /* the body goes to the handler in pieces (a stream_body route) */
    HSRV_LINGER         /* the last answer is out; draining input until EOF or the deadline */
} khsrv_phase;

/* Per-request state kept only while a request spans reads. */
typedef struct khsrv_req {
    keel_http_parser parser;
    keel_http_chunked chunked;
    keel_http_header *headers; /* max_headers entries */
    uint8_t *head_copy;        /* chunked: the head, copied aside */
    size_t head_copy_len;
    uint8_t *body;             /* chunked: the decoded body */
    size_t body_len, body_cap;
} khsrv_req;

struct keel_http_reply {
    khsrv_conn *conn;
};

/* A request body streamed to its handler (stream_body routes). */
typedef struct khsrv_bstream {
    keel_http_chunked dec;     /* chunked bodies */
    uint64_t left;             /* Content-Length bodies: bytes still to come */
    bool chunked;
    bool done;                 /* the last piece was delivered */
    bool paused;               /* the handler asked for no more for now */
    keel_http_body_fn fn;      /* NULL: pieces are dropped */
    void *user;
} khsrv_bstream;

struct khsrv_conn {
    keel_http_server *srv;
    khsrv_loop *hl;
    void *s;                   /* the connection (srv->ops); NULL once it is gone */
    khsrv_conn *prev, *next;   /* the loop's connections */
    khsrv_req *req;            /* NULL unless a request spans reads */
    khsrv_bstream *bs;         /* NULL unless a body is streamed to the handler */
    uint8_t *log_copy;         /* access log, answers given after the handler returned:
                                  the method then the target (NULL otherwise) */
    uint32_t log_method_len, log_target_len;
    keel_http_reply reply;
    khsrv_phase phase;
    bool partial;              /* bytes of a request have arrived */
    bool continue_sent;        /* 100 Continue answered for this request */
    bool keep_alive;           /* the current request leaves the connection open */
    bool head_only;            /* the current request is HEAD */
    bool parsed_head;          /* the head being answered was parsed, and is HEAD */
    bool answered;             /* the current request has its answer */
    bool write_paused;         /* reading stopped by write back-pressure */
    bool in_handler;           /* inside the handler call (its request stays) */
    bool streaming;            /* keel_http_reply_start was called: pieces follow */
    bool stream_chunked;       /* ...chunked (else until the close: HTTP/1.0) */
    uint64_t stream_bytes;     /* access log: bytes queued so far */
    uint16_t stream_status;
    uint8_t version_minor;     /* of the current request */
    keel_http_writable_fn on_writable; /* the streaming handler's back-pressure callback */
    void *writable_user;
    uint32_t requests;         /* requests answered or being answered */
    size_t head_len;           /* BODY_LENGTH: bytes of the head */
    uint64_t body_len;         /* BODY_LENGTH: content_length */
    uint64_t body_seen;        /* body bytes received (rate check) */
    uint64_t body_window;      /* body_seen at the start of the rate window */
    uint64_t started_us;       /* access log: when the request was complete */
    uint64_t deadline;         /* ms on the loop clock; 0: none */
    uint64_t timer_at;         /* when the armed timer fires (0: none armed) */
    keel_timer_id timer;
};

struct khsrv_loop {
    keel_http_server *srv;
    keel_loop *loop;
    khsrv_conn *conns;         /* every connection of the loop */
    keel_http_parser parser;   /* shared by heads that arrive whole */
    keel_http_header *headers;
    /* The request whose handler runs now (one at a time per loop), for the
     * access log: kept here rather than in every connection. */
    keel_slice log_method, log_target;
    uint8_t *out;              /* the batch buffer */
    keel_buf batch;
    khsrv_conn *batching;      /* whose answers the batch holds */
    uint64_t date_ms;          /* loop clock when the date was last checked */
    uint64_t date_s;           /* the second head_end's date says */
    uint8_t *head_end;         /* "Date: ...\r\nServer: ...\r\n\r\n" */
    size_t head_end_cap, head_end_len;
    bool draining;
};

struct keel_http_server {
    keel_http_server_opts opts;
    keel_http_config cfg;
    keel_server *srv;
    keel_stream_opts sopts;
    const khttp_stream_ops *ops; /* the connections' kind: plain, or opts.tls's */
    void *tls_state;           /* opts.tls's server_state (NULL for plain) */
    pthread_mutex_t mu;
    khsrv_loop *loops[HSRV_MAX_LOOPS]; /* guarded by mu */
    unsigned nloops;
    bool stream_routes;        /* some route has stream_body */
};

/* ---- helpers ---------------------------------------------------------------- */

static size_t hsrv_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Grow *mem (capacity *cap, len used) to hold at least need bytes, at most
 * limit; geometric. */
static KEEL_MUST_USE keel_result hsrv_grow(uint8_t **mem, size_t *cap, size_t len, size_t need,
                                           size_t limit)
{
    if (need <= *cap) {
        return KEEL_OK;
    }
    if (need > limit) {
        return KEEL_ERR_TOO_LARGE;
    }
    size_t want = *cap < 4096u ? 4096u : *cap;
    while (want < need) {
        want = want > limit / 2 ? limit : want * 2;
    }
    want = hsrv_min(want, limit);
    uint8_t *bigger = ksys_alloc_zeroed(want);
    if (bigger == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_buf b;
    keel_result r = keel_buf_init(&b, bigger, want);
    if (r == KEEL_OK && len > 0) {
        keel_slice old;
        r = keel_slice_from(*mem, len, &old);
        if (r == KEEL_OK) {
            r = keel_buf_append(&b, old);
        }
    }
    if (r != KEEL_OK) {
        ksys_release(bigger);
        return r;
    }
    ksys_release(*mem);
    *mem = bigger;
    *cap = want;
    return KEEL_OK;
}

static void hsrv_req_free(khsrv_req *rq)
{
    if (rq == NULL) {
        return;
    }
    ksys_release(rq->headers);
    ksys_release(rq->head_copy);
    ksys_release(rq->body);
    ksys_release(rq);
}

static KEEL_MUST_USE keel_result hsrv_req_new(const keel_http_server *srv, khsrv_req **out)
{
    khsrv_req *rq = ksys_alloc_zeroed(sizeof *rq);
    if (rq == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    rq->headers = ksys_alloc_zeroed(srv->opts.max_headers * sizeof *rq->headers);
    keel_result r = rq->headers == NULL ? KEEL_ERR_NO_MEMORY : KEEL_OK;
    if (r == KEEL_OK) {
        r = keel_http_parser_init(&rq->parser, KEEL_HTTP_REQUEST, &srv->cfg, rq->headers,
                                  srv->opts.max_headers);
    }
    if (r != KEEL_OK) {
        hsrv_req_free(rq);
        return r;
    }
    *out = rq;
    return KEEL_OK;
}

static void hsrv_conn_drop_bstream(khsrv_conn *c)
{
    ksys_release(c->bs);
    c->bs = NULL;
}

static void hsrv_conn_drop_req(khsrv_conn *c)
{
    if (c->in_handler) {
        return; /* the handler's request and body live there: dropped after it */
    }
    hsrv_req_free(c->req);
    c->req = NULL;
}

/* ---- timers ----------------------------------------------------------------- */

static void hsrv_timer_fired(keel_loop *loop, keel_timer_id id, void *user);

static void hsrv_timer_arm(khsrv_conn *c, uint64_t at)
{
    keel_loop *loop = c->hl->loop;
    uint64_t now = keel_loop_now_ms(loop);
    if (c->timer_at != 0) {
        if (keel_timer_cancel(loop, c->timer) != KEEL_OK) {
            /* already fired: nothing to cancel */
        }
        c->timer_at = 0;
    }
    uint64_t delay = at > now ? at - now : 0;
    if (keel_timer_start(loop, delay, 0, hsrv_timer_fired, c, &c->timer) == KEEL_OK) {
        c->timer_at = now + delay;
    } else if (c->s != NULL) {
        c->srv->ops->abort(c->s); /* no memory for a timer: no connection without deadline */
    }
}

/* Set the connection's deadline (0: none); the armed timer is moved only
 * when the new deadline is earlier than it. */
static void hsrv_deadline(khsrv_conn *c, uint64_t at)
{
    c->deadline = at;
    if (at != 0 && (c->timer_at == 0 || c->timer_at > at)) {
        hsrv_timer_arm(c, at);
    }
}

static void hsrv_deadline_in(khsrv_conn *c, uint32_t ms)
{
    hsrv_deadline(c, keel_loop_now_ms(c->hl->loop) + ms);
}

static void hsrv_timer_stop(khsrv_conn *c)
{
    if (c->timer_at != 0) {
        if (keel_timer_cancel(c->hl->loop, c->timer) != KEEL_OK) {
            /* already fired */
        }
        c->timer_at = 0;
    }
    c->deadline = 0;
}

/* ---- writing ---------------------------------------------------------------- */

/* The loop's "Date: ...\r\nServer: ...\r\n\r\n", the end of every head:
 * formatted again only when the second changed (the wall clock is read at
 * most every 200 ms of loop time). The date is keel's IMF-fixdate and the
 * server name was checked as a field value at start, so the block is
 * canonical; an empty slice if it cannot be made. */
static keel_slice hsrv_head_end(khsrv_loop *hl)
{
    uint64_t now = keel_loop_now_ms(hl->loop);
    if (hl->date_ms == 0 || now - hl->date_ms >= 200u) {
        uint64_t secs = ksys_wall_seconds();
        hl->date_ms = now == 0 ? 1 : now;
        if (secs != hl->date_s) {
            keel_buf b;
            keel_result r = keel_buf_init(&b, hl->head_end, hl->head_end_cap);
            if (r == KEEL_OK) {
                r = keel_buf_append(&b, KEEL_STR("Date: "));
            }
            if (r == KEEL_OK) {
                r = keel_http_format_date(secs, &b);
            }
            if (r == KEEL_OK) {
                r = keel_buf_append(&b, KEEL_STR("\r\nServer: "));
            }
            if (r == KEEL_OK) {
                r = keel_buf_append(&b, hl->srv->opts.server_name);
            }
            if (r == KEEL_OK) {
                r = keel_buf_append(&b, KEEL_STR("\r\n\r\n"));
            }
            hl->date_s = secs;
            hl->head_end_len = r == KEEL_OK ? b.len : 0;
        }
    }
    keel_slice end = { hl->head_end, hl->head_end_len };
    return end;
}

/* Write the batch out. */
static KEEL_MUST_USE keel_result hsrv_flush(khsrv_loop *hl)
{
    khsrv_conn *c = hl->batching;
    keel_result r = KEEL_OK;
    if (c != NULL && hl->batch.len > 0 && c->s != NULL) {
        r = c->srv->ops->write(c->s, keel_buf_slice(&hl->batch));
    }
    keel_buf_clear(&hl->batch);
    hl->batching = NULL;
    return r;
}

/* Make the batch c's, with room for need more bytes (flushing another
 * connection's answers first, or c's own when they are many). */
static KEEL_MUST_USE keel_result hsrv_batch_room(khsrv_conn *c, size_t need)
{
    khsrv_loop *hl = c->hl;
    if (hl->batching != c || hl->batch.len + need > hl->batch.cap) {
        if (hl->batching != NULL && hl->batch.len > 0) {
            KEEL_TRY(hsrv_flush(hl));
        }
    }
    hl->batching = c;
    if (need > hl->batch.cap - hl->batch.len) {
        size_t cap = hl->batch.cap;
        size_t limit = SIZE_MAX / 2;
        KEEL_TRY(hsrv_grow(&hl->out, &cap, hl->batch.len, hl->batch.len + need, limit));
        size_t len = hl->batch.len;
        KEEL_TRY(keel_buf_init(&hl->batch, hl->out, cap));
        hl->batch.len = len;
    }
    return KEEL_OK;
}

/* Append a response (head, and body unless the request was HEAD) to c's
 * batch. Fields are checked by the writer; on its refusal nothing is added.
 * The writer writes the status line, the caller's fields and the framing;
 * its empty line is replaced by the loop's Date/Server block (which ends
 * with the empty line), so those two fields are not checked again for
 * every answer. */
static KEEL_MUST_USE keel_result hsrv_put_response(khsrv_conn *c, uint16_t status,
                                                   const keel_http_field *fields, size_t n,
                                                   keel_slice body, keel_http_body framing,
                                                   size_t *bytes)
{
    keel_slice head_end = hsrv_head_end(c->hl);
    size_t field_bytes = head_end.len;
    keel_result r = head_end.len == 0 ? KEEL_ERR_NO_MEMORY : KEEL_OK;
    for (size_t i = 0; i < n && r == KEEL_OK; i++) {
        if (keel_slice_eq_nocase(fields[i].name, KEEL_STR("Date")) ||
            keel_slice_eq_nocase(fields[i].name, KEEL_STR("Server"))) {
            r = KEEL_ERR_INVALID_ARG;
        }
        field_bytes += fields[i].name.len + fields[i].value.len + 4u;
    }
    bool bodiless = status < 200 || status == 204 || status == 304;
    keel_http_framing fr = { .body = bodiless ? KEEL_HTTP_BODY_NONE : framing,
                             .content_length = body.len,
                             .close = !c->keep_alive,
                             /* HTTP/1.0 keeps the connection only when told */
                             .keep_alive = c->keep_alive && c->version_minor == 0 };
    if (bodiless && body.len > 0) {
        r = KEEL_ERR_INVALID_ARG;
    }
    bool with_body = !c->head_only && !bodiless;
    size_t need = field_bytes + HSRV_HEAD_SLACK;
    if (r == KEEL_OK) {
        r = hsrv_batch_room(c, need);
    }
    size_t before = c->hl->batch.len;
    if (r == KEEL_OK) {
        r = keel_http_write_response_head(&c->hl->batch, status, keel_slice_empty(), fields, n,
                                          &fr);
    }
    if (r == KEEL_OK) {
        keel_slice tail;
        keel_slice all = keel_buf_slice(&c->hl->batch);
        r = keel_slice_from_off(all, all.len - 2u, &tail);
        if (r == KEEL_OK && !keel_slice_eq(tail, KEEL_STR("\r\n"))) {
            r = KEEL_ERR_STATE; /* cannot happen: every head ends with the empty line */
        }
        if (r == KEEL_OK) {
            r = keel_buf_truncate(&c->hl->batch, all.len - 2u);
        }
        if (r == KEEL_OK) {
            r = keel_buf_append(&c->hl->batch, head_end);
        }
        if (r != KEEL_OK && keel_buf_truncate(&c->hl->batch, before) != KEEL_OK) {
            /* cannot happen: before <= len */
        }
    }
    if (r == KEEL_OK && with_body && body.len > 0) {
        if (body.len <= HSRV_BATCH_FLUSH) {
            r = hsrv_batch_room(c, body.len);
            if (r == KEEL_OK) {
                r = keel_buf_append(&c->hl->batch, body);
            }
        } else {
            /* A large body goes straight to the stream (which copies it)
             * after the head and what was batched before it. */
            r = hsrv_flush(c->hl);
            if (r == KEEL_OK && c->s != NULL) {
                r = c->srv->ops->write(c->s, body);
            }
        }
    }
    if (r == KEEL_OK) {
        *bytes = c->hl->batch.len >= before ? c->hl->batch.len - before : 0;
        if (with_body && body.len > HSRV_BATCH_FLUSH) {
            *bytes += body.len;
        }
    }
    return r;
}

/* ---- connection end --------------------------------------------------------- */

/* After the last answer: flush, half-close, drain input for linger_ms. */
static void hsrv_linger(khsrv_conn *c)
{
    hsrv_conn_drop_req(c);
    hsrv_conn_drop_bstream(c);
    c->phase = HSRV_LINGER;
    c->partial = false;
    if (c->s == NULL) {
        return;
    }
    keel_result r = KEEL_OK;
    if (c->hl->batching == c) {
        r = hsrv_flush(c->hl);
    }
    if (r == KEEL_OK) {
        r = c->srv->ops->shutdown(c->s);
    }
    if (r != KEEL_OK) {
        c->srv->ops->abort(c->s);
        return;
    }
    c->srv->ops->read_start(c->s);
    c->write_paused = false;
    hsrv_deadline_in(c, c->srv->opts.linger_ms);
}

/* Answer a rejected or timed-out request with status and a one-line body,
 * then close lingering. The body is left out (its Content-Length kept) when
 * the request's head was parsed and is HEAD (RFC 9110 9.3.2): the client
 * reads no content after a HEAD's answer. A request whose head could not be
 * parsed has no method to trust, and gets the body. */
static void hsrv_reject(khsrv_conn *c, uint16_t status, const char *why)
{
    c->keep_alive = false;
    c->head_only = c->parsed_head;
    uint8_t text[160];
    keel_buf b;
    keel_slice body = keel_slice_empty();
    if (keel_buf_init(&b, text, sizeof text) == KEEL_OK) {
        keel_slice w = keel_slice_cstr(why);
        w.len = hsrv_min(w.len, sizeof text - 1u);
        if (keel_buf_append(&b, w) == KEEL_OK && keel_buf_append_byte(&b, '\n') == KEEL_OK) {
            body = keel_buf_slice(&b);
        }
    }
    static const keel_http_field plain[1] = {
        { { (const uint8_t *)"Content-Type", 12 }, { (const uint8_t *)"text/plain", 10 } }
    };
    size_t bytes = 0;
    if (c->s != NULL && hsrv_put_response(c, status, plain, 1, body, KEEL_HTTP_BODY_LENGTH, &bytes) != KEEL_OK) {
        c->srv->ops->abort(c->s);
        return;
    }
    if (c->srv->opts.access_log != NULL) {
        /* A rejected request has no method or target anyone can trust. */
        keel_http_access e = { .status = status, .bytes = bytes };
        c->srv->opts.access_log(&e, c->srv->opts.log_user);
    }
    hsrv_linger(c);
}

/* ---- replies ------------------------------------------------------------------ */

static void hsrv_conn_unlink(khsrv_conn *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else if (c->hl->conns == c) {
        c->hl->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

static void hsrv_conn_free(khsrv_conn *c)
{
    hsrv_conn_drop_req(c);
    hsrv_conn_drop_bstream(c);
    ksys_release(c->log_copy);
    ksys_release(c);
}

keel_loop *keel_http_reply_loop(const keel_http_reply *reply)
{
    return reply == NULL || reply->conn == NULL ? NULL : reply->conn->hl->loop;
}

/* The request is answered (or its connection is gone): ready for the next. */
static void hsrv_after_answer(khsrv_conn *c, bool from_handler)
{
    hsrv_conn_drop_req(c);
    c->partial = false;
    c->continue_sent = false;
    if (!c->keep_alive) {
        hsrv_linger(c);
        return;
    }
    c->phase = HSRV_HEAD;
    hsrv_deadline_in(c, c->srv->opts.idle_timeout_ms);
    if (!from_handler && c->s != NULL) {
        /* Answered later: send it now and read what waited meanwhile. */
        if (hsrv_flush(c->hl) != KEEL_OK) {
            c->srv->ops->abort(c->s);
            return;
        }
        if (c->srv->ops->can_write(c->s)) {
            c->srv->ops->read_start(c->s);
        } else {
            c->write_paused = true;
        }
    }
}

static void hsrv_log_answer(khsrv_conn *c, bool from_handler, uint16_t status, uint64_t bytes);

/* The reply is being answered: it is gone for the handler from now on.
 * false: the connection died meanwhile, and c (which waited for this
 * answer) is freed. */
static bool hsrv_reply_take(khsrv_conn *c, keel_http_reply *reply)
{
    c->answered = true;
    reply->conn = NULL;
    if (c->s == NULL) {
        hsrv_conn_unlink(c);
        hsrv_conn_free(c);
        return false;
    }
    return true;
}

keel_result keel_http_reply_send(keel_http_reply *reply, uint16_t status,
                                 const keel_http_field *fields, size_t field_count,
                                 keel_slice body)
{
    if (reply == NULL || reply->conn == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    khsrv_conn *c = reply->conn;
    if (c->answered || c->streaming ||
        (c->phase != HSRV_IN_HANDLER && c->phase != HSRV_WAIT_REPLY &&
         c->phase != HSRV_BODY_STREAM)) {
        return KEEL_ERR_STATE;
    }
    bool from_handler = c->phase == HSRV_IN_HANDLER;
    if (c->hl->draining || (c->bs != NULL && !c->bs->done)) {
        /* Shutdown began while the handler worked, or the answer comes
         * before the whole body: the connection ends after it. */
        c->keep_alive = false;
    }
    if (!hsrv_reply_take(c, reply)) {
        return KEEL_ERR_CLOSED;
    }
    keel_result r = KEEL_OK;
    if ((fields == NULL && field_count > 0) || !keel_slice_valid(body) || status < 200 ||
        status > 599) {
        r = KEEL_ERR_INVALID_ARG;
    }
    size_t bytes = 0;
    if (r == KEEL_OK) {
        r = hsrv_put_response(c, status, fields, field_count, body, KEEL_HTTP_BODY_LENGTH,
                              &bytes);
    }
    if (r == KEEL_ERR_PARSE || r == KEEL_ERR_INVALID_ARG) {
        keel_result bad = r;
        status = 500;
        r = hsrv_put_response(c, 500, NULL, 0, KEEL_STR("invalid response\n"),
                              KEEL_HTTP_BODY_LENGTH, &bytes);
        if (r == KEEL_OK) {
            r = bad;
        }
    }
    hsrv_log_answer(c, from_handler, status, bytes);
    if (r != KEEL_OK && r != KEEL_ERR_PARSE && r != KEEL_ERR_INVALID_ARG) {
        c->srv->ops->abort(c->s);
        c->phase = HSRV_LINGER;
        return r;
    }
    hsrv_after_answer(c, from_handler);
    return r;
}

/* ---- streamed replies ------------------------------------------------------ */

/* The access log line of an answer, now that it is complete. */
static void hsrv_log_answer(khsrv_conn *c, bool from_handler, uint16_t status, uint64_t bytes)
{
    if (c->srv->opts.access_log == NULL) {
        return;
    }
    uint64_t now = ksys_now_us();
    keel_http_access e = { .method = from_handler ? c->hl->log_method : keel_slice_empty(),
                           .target = from_handler ? c->hl->log_target : keel_slice_empty(),
                           .status = status,
                           .bytes = bytes,
                           .micros = now >= c->started_us ? now - c->started_us : 0 };
    if (!from_handler && c->log_copy != NULL) {
        e.method = (keel_slice){ c->log_copy, c->log_method_len };
        e.target = (keel_slice){ c->log_copy + c->log_method_len, c->log_target_len };
    }
    c->srv->opts.access_log(&e, c->srv->opts.log_user);
    ksys_release(c->log_copy);
    c->log_copy = NULL;
}

/* The connection behind a reply that may still answer, or NULL. */
static khsrv_conn *hsrv_reply_conn(keel_http_reply *reply)
{
    if (reply == NULL || reply->conn == NULL) {
        return NULL;
    }
    khsrv_conn *c = reply->conn;
    if (c->answered || (c->phase != HSRV_IN_HANDLER && c->phase != HSRV_WAIT_REPLY &&
                        c->phase != HSRV_BODY_STREAM)) {
        return NULL;
    }
    return c;
}

keel_result keel_http_reply_start(keel_http_reply *reply, uint16_t status,
                                  const keel_http_field *fields, size_t field_count)
{
    khsrv_conn *c = hsrv_reply_conn(reply);
    if (c == NULL || c->streaming || (fields == NULL && field_count > 0) || status < 200 ||
        status > 599 || status == 204 || status == 304) {
        return c == NULL ? KEEL_ERR_INVALID_ARG : c->streaming ? KEEL_ERR_STATE
                                                               : KEEL_ERR_INVALID_ARG;
    }
    if (c->s == NULL) {
        return KEEL_ERR_CLOSED; /* keel_http_reply_end still frees the reply */
    }
    if (c->hl->draining || (c->bs != NULL && !c->bs->done)) {
        c->keep_alive = false;
    }
    /* HTTP/1.0 has no chunked coding: the body runs to the close. */
    c->stream_chunked = c->version_minor == 1;
    size_t bytes = 0;
    keel_result r = hsrv_put_response(c, status, fields, field_count, keel_slice_empty(),
                                      c->stream_chunked ? KEEL_HTTP_BODY_CHUNKED
                                                        : KEEL_HTTP_BODY_UNTIL_CLOSE,
                                      &bytes);
    if (r != KEEL_OK) {
        return r; /* nothing was queued: the reply may still answer otherwise */
    }
    if (!c->stream_chunked) {
        c->keep_alive = false;
    }
    c->streaming = true;
    c->stream_bytes = bytes;
    c->stream_status = status;
    r = hsrv_flush(c->hl);
    if (r != KEEL_OK) {
        c->srv->ops->abort(c->s);
    }
    return r;
}

keel_result keel_http_reply_write(keel_http_reply *reply, keel_slice data)
{
    khsrv_conn *c = hsrv_reply_conn(reply);
    if (c == NULL || !c->streaming || !keel_slice_valid(data)) {
        return c == NULL || keel_slice_valid(data) ? KEEL_ERR_STATE : KEEL_ERR_INVALID_ARG;
    }
    if (c->s == NULL) {
        return KEEL_ERR_CLOSED;
    }
    if (data.len == 0 || c->head_only) {
        return KEEL_OK;
    }
    if (c->srv->ops->queued(c->s) + data.len + 32u > c->srv->sopts.write_cap) {
        return KEEL_ERR_TOO_LARGE; /* wait for keel_http_reply_can_write */
    }
    keel_result r = KEEL_OK;
    if (c->stream_chunked) {
        r = hsrv_batch_room(c, data.len + 32u);
        if (r == KEEL_OK) {
            r = keel_http_chunked_encode(&c->hl->batch, data);
        }
        if (r == KEEL_OK) {
            r = hsrv_flush(c->hl);
        }
    } else {
        r = c->srv->ops->write(c->s, data);
    }
    if (r != KEEL_OK) {
        c->srv->ops->abort(c->s);
        return r;
    }
    c->stream_bytes += data.len;
    return KEEL_OK;
}

bool keel_http_reply_can_write(const keel_http_reply *reply)
{
    return reply != NULL && reply->conn != NULL && reply->conn->s != NULL &&
           reply->conn->srv->ops->can_write(reply->conn->s);
}

void keel_http_reply_on_writable(keel_http_reply *reply, keel_http_writable_fn fn, void *user)
{
    if (reply != NULL && reply->conn != NULL) {
        reply->conn->on_writable = fn;
        reply->conn->writable_user = user;
    }
}

keel_result keel_http_reply_end(keel_http_reply *reply)
{
    khsrv_conn *c = hsrv_reply_conn(reply);
    if (c == NULL || !c->streaming) {
        if (c != NULL && c->s == NULL) {
            /* start found the connection gone: free it now */
            (void)hsrv_reply_take(c, reply);
            return KEEL_ERR_CLOSED;
        }
        return c == NULL ? KEEL_ERR_INVALID_ARG : KEEL_ERR_STATE;
    }
    bool from_handler = c->phase == HSRV_IN_HANDLER;
    c->streaming = false;
    c->on_writable = NULL;
    if (!hsrv_reply_take(c, reply)) {
        return KEEL_ERR_CLOSED;
    }
    keel_result r = KEEL_OK;
    if (c->stream_chunked && !c->head_only) {
        r = hsrv_batch_room(c, 8u);
        if (r == KEEL_OK) {
            r = keel_http_chunked_encode_last(&c->hl->batch);
        }
        c->stream_bytes += 5u;
    }
    hsrv_log_answer(c, from_handler, c->stream_status, c->stream_bytes);
    if (r != KEEL_OK) {
        c->srv->ops->abort(c->s);
        c->phase = HSRV_LINGER;
        return r;
    }
    hsrv_after_answer(c, from_handler);
    return KEEL_OK;
}

/* ---- routing ------------------------------------------------------------------ */

static bool hsrv_path_matches(const keel_http_route *rt, keel_slice path)
{
    return rt->prefix ? keel_slice_starts_with(path, rt->path) : keel_slice_eq(path, rt->path);
}

static bool hsrv_method_matches(const keel_http_route *rt, const keel_http_request *req)
{
    if (rt->method.len == 0 || keel_slice_eq(rt->method, req->method)) {
        return true;
    }
    return req->method_id == KEEL_HTTP_HEAD && keel_slice_eq(rt->method, KEEL_STR("GET"));
}

static void hsrv_allow_add(keel_buf *b, keel_slice m)
{
    /* Skip methods already listed. */
    keel_slice have = keel_buf_slice(b);
    keel_slice rest = have;
    while (rest.len > 0) {
        keel_slice item, tail;
        if (keel_slice_split_once(rest, ',', &item, &tail) != KEEL_OK) {
            item = rest;
            tail = keel_slice_empty();
        }
        if (keel_slice_eq(keel_slice_trim(item), m)) {
            return;
        }
        rest = tail;
    }
    if (b->len > 0 && keel_buf_append(b, KEEL_STR(", ")) != KEEL_OK) {
        return;
    }
    if (keel_buf_append(b, m) != KEEL_OK) {
        /* the Allow list is cut short: it stays a valid list */
    }
}

/* The path routes match: origin and absolute forms by path; "*" (OPTIONS)
 * and authority form (CONNECT) match no route, as their targets do not
 * start with '/'. */
static keel_slice hsrv_route_path(const keel_http_request *req)
{
    bool by_path = req->form == KEEL_HTTP_ORIGIN_FORM || req->form == KEEL_HTTP_ABSOLUTE_FORM;
    return !by_path ? req->target : req->path.len > 0 ? req->path : KEEL_STR("/");
}

/* The first route serving req, or NULL (*path_known: some route has its path). */
static const keel_http_route *hsrv_route(const keel_http_server *srv, const keel_http_request *req,
                                         bool *path_known)
{
    keel_slice path = hsrv_route_path(req);
    *path_known = false;
    for (size_t i = 0; i < srv->opts.route_count; i++) {
        const keel_http_route *rt = &srv->opts.routes[i];
        if (hsrv_path_matches(rt, path)) {
            *path_known = true;
            if (hsrv_method_matches(rt, req)) {
                return rt;
            }
        }
    }
    return NULL;
}

/* Call the handler of req's route, or answer 404 / 405. */
static void hsrv_dispatch(khsrv_conn *c, const keel_http_request *req, keel_slice body)
{
    keel_http_server *srv = c->srv;
    keel_slice path = hsrv_route_path(req);
    c->requests++;
    c->keep_alive = req->head.keep_alive && !c->hl->draining &&
                    c->requests < srv->opts.max_requests;
    c->head_only = req->method_id == KEEL_HTTP_HEAD;
    c->version_minor = req->head.version_minor;
    c->answered = false;
    c->streaming = false;
    c->on_writable = NULL;
    c->phase = HSRV_IN_HANDLER;
    c->hl->log_method = req->method;
    c->hl->log_target = req->target;
    c->started_us = srv->opts.access_log != NULL ? ksys_now_us() : 0;
    c->deadline = 0; /* none while the handler works (the armed timer stays) */
    c->reply.conn = c;
    c->in_handler = true;
    bool path_known = false;
    const keel_http_route *found = hsrv_route(srv, req, &path_known);
    if (found != NULL) {
        found->handler(&c->reply, req, body, found->user);
    } else if (!path_known) {
        if (keel_http_reply_send(&c->reply, 404, NULL, 0, KEEL_STR("not found\n")) != KEEL_OK) {
            /* the connection is gone or reset: nothing more to do */
        }
    } else {
        uint8_t allow[256];
        keel_buf b;
        keel_slice list = KEEL_STR("");
        if (keel_buf_init(&b, allow, sizeof allow) == KEEL_OK) {
            for (size_t i = 0; i < srv->opts.route_count; i++) {
                const keel_http_route *rt = &srv->opts.routes[i];
                if (hsrv_path_matches(rt, path) && rt->method.len > 0) {
                    hsrv_allow_add(&b, rt->method);
                    if (keel_slice_eq(rt->method, KEEL_STR("GET"))) {
                        hsrv_allow_add(&b, KEEL_STR("HEAD"));
                    }
                }
            }
            list = keel_buf_slice(&b);
        }
        keel_http_field f[1] = { { KEEL_STR("Allow"), list } };
        if (keel_http_reply_send(&c->reply, 405, f, 1, KEEL_STR("method not allowed\n")) !=
            KEEL_OK) {
            /* as above */
        }
    }
    c->in_handler = false;
    if (!c->answered && srv->opts.access_log != NULL && c->log_copy == NULL) {
        /* The answer comes later: keep what the log line needs. */
        size_t n = req->method.len + req->target.len;
        c->log_copy = n > 0 && n <= UINT32_MAX ? ksys_alloc_zeroed(n) : NULL;
        keel_buf b;
        if (c->log_copy != NULL && keel_buf_init(&b, c->log_copy, n) == KEEL_OK &&
            keel_buf_append(&b, req->method) == KEEL_OK &&
            keel_buf_append(&b, req->target) == KEEL_OK) {
            c->log_method_len = (uint32_t)req->method.len;
            c->log_target_len = (uint32_t)req->target.len;
        } else {
            ksys_release(c->log_copy);
            c->log_copy = NULL;
        }
    }
    c->hl->log_method = keel_slice_empty();
    c->hl->log_target = keel_slice_empty();
    hsrv_conn_drop_req(c);
    if (!c->answered && c->phase == HSRV_IN_HANDLER) {
        c->phase = c->bs != NULL ? HSRV_BODY_STREAM : HSRV_WAIT_REPLY;
    }
}

/* ---- reading ------------------------------------------------------------------ */

typedef enum khsrv_step {
    HSRV_STEP_NEXT,  /* a request was handled: go on with the bytes after it */
    HSRV_STEP_MORE,  /* more bytes are needed */
    HSRV_STEP_STOP   /* stop reading for now (waiting, lingering, closed) */
} khsrv_step;

static KEEL_MUST_USE keel_result hsrv_send_continue(khsrv_conn *c)
{
    if (c->continue_sent || c->s == NULL) {
        return KEEL_OK;
    }
    c->continue_sent = true;
    KEEL_TRY(hsrv_batch_room(c, 32));
    KEEL_TRY(keel_buf_append(&c->hl->batch, KEEL_STR("HTTP/1.1 100 Continue\r\n\r\n")));
    return hsrv_flush(c->hl);
}

/* Parse a head known to be complete (the second time) with the loop's parser. */
static KEEL_MUST_USE keel_result hsrv_reparse(khsrv_conn *c, keel_slice in,
                                              keel_http_request *req, size_t *used)
{
    khsrv_loop *hl = c->hl;
    keel_http_parser_reset(&hl->parser);
    keel_result r = keel_http_parse_request(&hl->parser, in, req, used, NULL);
    keel_http_parser_reset(&hl->parser);
    return r;
}

/* The body-rate window: at least body_min_bytes per body_timeout_ms. */
static void hsrv_body_window_start(khsrv_conn *c)
{
    c->body_window = c->body_seen;
    hsrv_deadline_in(c, c->srv->opts.body_timeout_ms);
}

/* Decode chunked body bytes from in; dispatch when the body is complete. */
static khsrv_step hsrv_chunked(khsrv_conn *c, keel_slice in, size_t *used)
{
    khsrv_req *rq = c->req;
    size_t off = 0;
    *used = 0;
    for (;;) {
        keel_slice rest;
        if (keel_slice_from_off(in, off, &rest) != KEEL_OK) {
            rest = keel_slice_empty();
        }
        keel_slice data;
        size_t n = 0;
        keel_http_error err = { 0 };
        keel_result r = keel_http_chunked_decode(&rq->chunked, rest, &data, &n, &err);
        off += n;
        c->body_seen += n;
        if (r == KEEL_ERR_INCOMPLETE) {
            *used = off;
            return HSRV_STEP_MORE;
        }
        if (r != KEEL_OK) {
            *used = off;
            hsrv_reject(c, err.status != 0 ? err.status : 400,
                        keel_http_reason_str(err.reason));
            return HSRV_STEP_STOP;
        }
        if (data.len > 0) {
            if (rq->body_len + data.len > c->srv->opts.max_body) {
                *used = off;
                hsrv_reject(c, 413, "request body too large");
                return HSRV_STEP_STOP;
            }
            keel_result g = hsrv_grow(&rq->body, &rq->body_cap, rq->body_len,
                                      rq->body_len + data.len, c->srv->opts.max_body);
            keel_buf b;
            if (g == KEEL_OK) {
                g = keel_buf_init(&b, rq->body, rq->body_cap);
            }
            if (g == KEEL_OK) {
                b.len = rq->body_len;
                g = keel_buf_append(&b, data);
            }
            if (g != KEEL_OK) {
                *used = off;
                hsrv_reject(c, 503, "out of memory");
                return HSRV_STEP_STOP;
            }
            rq->body_len = b.len;
        }
        if (keel_http_chunked_done(&rq->chunked)) {
            break;
        }
    }
    *used = off;
    keel_http_request req;
    size_t head_used = 0;
    keel_slice head = { rq->head_copy, rq->head_copy_len };
    if (hsrv_reparse(c, head, &req, &head_used) != KEEL_OK) {
        hsrv_reject(c, 500, "internal error");
        return HSRV_STEP_STOP;
    }
    keel_slice body = { rq->body, rq->body_len };
    hsrv_dispatch(c, &req, body);
    return HSRV_STEP_NEXT;
}

/* Start a chunked body: copy the head aside (the chunk framing is consumed
 * as it is decoded), then decode what is there. */
static khsrv_step hsrv_chunked_start(khsrv_conn *c, keel_slice in, size_t head_len, size_t *used)
{
    keel_result r = KEEL_OK;
    if (c->req == NULL) {
        r = hsrv_req_new(c->srv, &c->req);
    }
    khsrv_req *rq = c->req;
    if (r == KEEL_OK) {
        rq->head_copy = ksys_alloc_zeroed(head_len);
        r = rq->head_copy == NULL ? KEEL_ERR_NO_MEMORY : KEEL_OK;
    }
    keel_slice head;
    keel_buf b;
    if (r == KEEL_OK) {
        r = keel_slice_sub(in, 0, head_len, &head);
    }
    if (r == KEEL_OK) {
        r = keel_buf_init(&b, rq->head_copy, head_len);
    }
    if (r == KEEL_OK) {
        r = keel_buf_append(&b, head);
    }
    if (r == KEEL_OK) {
        rq->head_copy_len = head_len;
        r = keel_http_chunked_init(&rq->chunked, &c->srv->cfg);
    }
    if (r != KEEL_OK) {
        *used = 0;
        hsrv_reject(c, 503, "out of memory");
        return HSRV_STEP_STOP;
    }
    c->phase = HSRV_BODY_CHUNKED;
    c->body_seen = 0;
    hsrv_body_window_start(c);
    keel_slice rest;
    if (keel_slice_from_off(in, head_len, &rest) != KEEL_OK) {
        rest = keel_slice_empty();
    }
    size_t n = 0;
    khsrv_step st = hsrv_chunked(c, rest, &n);
    *used = head_len + n;
    return st;
}

/* ---- streamed request bodies ---------------------------------------------- */

/* Hand r and a piece to the handler's body callback. Not for on_close:
 * there the reply may free c (see hsrv_on_close). */
static void hsrv_stream_deliver(khsrv_conn *c, keel_result r, keel_slice piece)
{
    if (c->bs->fn != NULL) {
        c->bs->fn(&c->reply, r, piece, c->bs->user);
    }
}

/* After a callback: did the handler answer early (the connection ends)? */
static khsrv_step hsrv_stream_check(khsrv_conn *c)
{
    if (c->phase != HSRV_BODY_STREAM) {
        return HSRV_STEP_STOP; /* answered early: lingering */
    }
    return c->bs->paused ? HSRV_STEP_STOP : HSRV_STEP_MORE;
}

/* The body is complete: tell the handler, then wait for its answer (or
 * go on with the next request if it has answered). */
static khsrv_step hsrv_stream_finish(khsrv_conn *c)
{
    c->bs->done = true;
    c->deadline = 0;
    hsrv_stream_deliver(c, KEEL_OK, keel_slice_empty());
    if (c->phase == HSRV_BODY_STREAM) {
        hsrv_conn_drop_bstream(c);
        c->phase = HSRV_WAIT_REPLY;
        return HSRV_STEP_NEXT;
    }
    hsrv_conn_drop_bstream(c);
    return c->phase == HSRV_LINGER ? HSRV_STEP_STOP : HSRV_STEP_NEXT;
}

/* The body cannot complete (malformed chunked coding, too slow, the peer
 * stopped sending): tell the handler; its answer ends the connection. */
static khsrv_step hsrv_stream_fail(khsrv_conn *c, keel_result why)
{
    c->deadline = 0;
    if (c->phase == HSRV_BODY_STREAM) {
        c->keep_alive = false;
        hsrv_stream_deliver(c, why, keel_slice_empty());
    }
    if (c->phase == HSRV_BODY_STREAM) {
        hsrv_conn_drop_bstream(c);
        c->phase = HSRV_WAIT_REPLY;
        if (c->s != NULL) {
            c->srv->ops->read_stop(c->s);
        }
    }
    return HSRV_STEP_STOP;
}

/* Body bytes for a stream_body route, from the first not yet delivered. */
static khsrv_step hsrv_stream_step(khsrv_conn *c, keel_slice in, size_t *used)
{
    khsrv_bstream *bs = c->bs;
    *used = 0;
    if (bs->paused) {
        return HSRV_STEP_STOP;
    }
    if (!bs->chunked) {
        size_t n = in.len < bs->left ? in.len : (size_t)bs->left;
        keel_slice piece;
        if (keel_slice_sub(in, 0, n, &piece) != KEEL_OK) {
            return hsrv_stream_fail(c, KEEL_ERR_STATE); /* cannot happen */
        }
        *used = n;
        bs->left -= n;
        c->body_seen += n;
        if (bs->left == 0) {
            bs->done = true; /* an answer given for the last piece keeps the connection */
        }
        if (n > 0) {
            hsrv_stream_deliver(c, KEEL_OK, piece);
            khsrv_step st = hsrv_stream_check(c);
            if (c->phase != HSRV_BODY_STREAM || (st == HSRV_STEP_STOP && bs->left > 0)) {
                return st;
            }
        }
        return bs->left == 0 ? hsrv_stream_finish(c) : HSRV_STEP_MORE;
    }
    size_t off = 0;
    while (!keel_http_chunked_done(&bs->dec)) {
        keel_slice rest, data;
        if (keel_slice_from_off(in, off, &rest) != KEEL_OK) {
            rest = keel_slice_empty();
        }
        size_t n = 0;
        keel_result r = keel_http_chunked_decode(&bs->dec, rest, &data, &n, NULL);
        off += n;
        c->body_seen += n;
        *used = off;
        if (r == KEEL_ERR_INCOMPLETE) {
            return HSRV_STEP_MORE;
        }
        if (r != KEEL_OK) {
            return hsrv_stream_fail(c, r);
        }
        if (data.len > 0) {
            hsrv_stream_deliver(c, KEEL_OK, data);
            khsrv_step st = hsrv_stream_check(c);
            if (st == HSRV_STEP_STOP) {
                return st;
            }
        }
    }
    return hsrv_stream_finish(c);
}

/* A stream_body route's head: answer 100-continue if asked, call the
 * handler now (its pieces follow), consume the head. */
static khsrv_step hsrv_stream_begin(khsrv_conn *c, const keel_http_request *req, size_t head_len,
                                    size_t *used)
{
    *used = 0;
    if (req->expect_continue && hsrv_send_continue(c) != KEEL_OK) {
        c->srv->ops->abort(c->s);
        return HSRV_STEP_STOP;
    }
    c->bs = ksys_alloc_zeroed(sizeof *c->bs);
    if (c->bs == NULL ||
        (req->head.body == KEEL_HTTP_BODY_CHUNKED &&
         keel_http_chunked_init(&c->bs->dec, &c->srv->cfg) != KEEL_OK)) {
        hsrv_reject(c, 503, "out of memory");
        return HSRV_STEP_STOP;
    }
    c->bs->chunked = req->head.body == KEEL_HTTP_BODY_CHUNKED;
    c->bs->left = req->head.body == KEEL_HTTP_BODY_LENGTH ? req->head.content_length : 0;
    c->bs->done = !c->bs->chunked && c->bs->left == 0; /* no body at all */
    c->body_seen = 0;
    *used = head_len;
    hsrv_dispatch(c, req, keel_slice_empty());
    if (c->phase != HSRV_BODY_STREAM) {
        return HSRV_STEP_NEXT; /* answered in the handler call */
    }
    if (c->bs->done) {
        return hsrv_stream_finish(c); /* no body: the end call at once */
    }
    if (!c->bs->paused) {
        hsrv_body_window_start(c);
    }
    return HSRV_STEP_NEXT;
}

void keel_http_reply_on_body(keel_http_reply *reply, keel_http_body_fn fn, void *user)
{
    if (reply != NULL && reply->conn != NULL && reply->conn->bs != NULL) {
        reply->conn->bs->fn = fn;
        reply->conn->bs->user = user;
    }
}

void keel_http_reply_body_pause(keel_http_reply *reply)
{
    khsrv_conn *c = reply == NULL ? NULL : reply->conn;
    if (c != NULL && c->bs != NULL && !c->bs->done && !c->bs->paused) {
        c->bs->paused = true;
        c->deadline = 0; /* the body rate is not the client's to keep while paused */
        if (c->s != NULL) {
            c->srv->ops->read_stop(c->s);
        }
    }
}

void keel_http_reply_body_resume(keel_http_reply *reply)
{
    khsrv_conn *c = reply == NULL ? NULL : reply->conn;
    if (c != NULL && c->bs != NULL && c->bs->paused) {
        c->bs->paused = false;
        if (c->s != NULL && c->phase == HSRV_BODY_STREAM) {
            hsrv_body_window_start(c);
            c->srv->ops->read_start(c->s); /* what waited is offered again */
        }
    }
}

/* One step over in (the bytes of the current request, from its first). */
static khsrv_step hsrv_step(khsrv_conn *c, keel_slice in, size_t *used)
{
    keel_http_server *srv = c->srv;
    *used = 0;
    if (c->phase == HSRV_BODY_STREAM) {
        return hsrv_stream_step(c, in, used);
    }
    if (c->phase == HSRV_BODY_CHUNKED) {
        return hsrv_chunked(c, in, used);
    }
    if (c->phase == HSRV_BODY_LENGTH) {
        uint64_t have = in.len - c->head_len;
        c->body_seen = have;
        if (have < c->body_len) {
            return HSRV_STEP_MORE;
        }
        keel_http_request req;
        size_t head_used = 0;
        keel_slice body;
        if (hsrv_reparse(c, in, &req, &head_used) != KEEL_OK || head_used != c->head_len ||
            keel_slice_sub(in, c->head_len, (size_t)c->body_len, &body) != KEEL_OK) {
            hsrv_reject(c, 500, "internal error");
            return HSRV_STEP_STOP;
        }
        *used = c->head_len + (size_t)c->body_len;
        hsrv_dispatch(c, &req, body);
        return HSRV_STEP_NEXT;
    }
    /* HSRV_HEAD */
    keel_http_request req;
    keel_http_error err = { 0 };
    size_t head_len = 0;
    keel_result r;
    c->parsed_head = false;
    if (c->req != NULL) {
        r = keel_http_parse_request(&c->req->parser, in, &req, &head_len, &err);
    } else {
        keel_http_parser_reset(&c->hl->parser);
        r = keel_http_parse_request(&c->hl->parser, in, &req, &head_len, &err);
        if (r == KEEL_ERR_INCOMPLETE) {
            /* The head spans reads: give it its own parser, parse what is
             * there once more so that the rest is parsed incrementally. */
            r = hsrv_req_new(srv, &c->req);
            if (r == KEEL_OK) {
                r = keel_http_parse_request(&c->req->parser, in, &req, &head_len, &err);
            } else {
                hsrv_reject(c, 503, "out of memory");
                return HSRV_STEP_STOP;
            }
        }
        keel_http_parser_reset(&c->hl->parser);
    }
    if (r == KEEL_ERR_INCOMPLETE) {
        if (!c->partial) {
            c->partial = true;
            hsrv_deadline_in(c, srv->opts.header_timeout_ms);
        }
        return HSRV_STEP_MORE;
    }
    if (r != KEEL_OK) {
        hsrv_reject(c, err.status != 0 ? err.status : 400, keel_http_reason_str(err.reason));
        return HSRV_STEP_STOP;
    }
    c->partial = true;
    c->parsed_head = req.method_id == KEEL_HTTP_HEAD;
    if (req.expect_other) {
        hsrv_reject(c, 417, "expectation failed");
        return HSRV_STEP_STOP;
    }
    if (srv->stream_routes) {
        /* A stream_body route gets its body in pieces, and always its end
         * call, also when the request has no body. */
        bool known = false;
        const keel_http_route *rt = hsrv_route(srv, &req, &known);
        if (rt != NULL && rt->stream_body) {
            khsrv_step st = hsrv_stream_begin(c, &req, head_len, used);
            hsrv_conn_drop_req(c);
            return st;
        }
    }
    if (req.head.body == KEEL_HTTP_BODY_LENGTH && req.head.content_length > srv->opts.max_body) {
        hsrv_reject(c, 413, "request body too large");
        return HSRV_STEP_STOP;
    }
    bool body_pending = (req.head.body == KEEL_HTTP_BODY_LENGTH &&
                         in.len - head_len < req.head.content_length) ||
                        req.head.body == KEEL_HTTP_BODY_CHUNKED;
    if (body_pending && req.expect_continue && hsrv_send_continue(c) != KEEL_OK) {
        c->srv->ops->abort(c->s);
        return HSRV_STEP_STOP;
    }
    if (req.head.body == KEEL_HTTP_BODY_CHUNKED) {
        if (c->req != NULL) {
            keel_http_parser_reset(&c->req->parser);
        }
        return hsrv_chunked_start(c, in, head_len, used);
    }
    if (req.head.body == KEEL_HTTP_BODY_LENGTH && req.head.content_length > 0) {
        keel_slice body;
        if (keel_slice_sub(in, head_len, (size_t)req.head.content_length, &body) == KEEL_OK) {
            *used = head_len + body.len;
            hsrv_dispatch(c, &req, body);
            return HSRV_STEP_NEXT;
        }
        /* The body is still coming: wait for it in the receive buffer. */
        hsrv_conn_drop_req(c);
        c->phase = HSRV_BODY_LENGTH;
        c->head_len = head_len;
        c->body_len = req.head.content_length;
        c->body_seen = in.len - head_len;
        hsrv_body_window_start(c);
        return HSRV_STEP_MORE;
    }
    *used = head_len;
    hsrv_dispatch(c, &req, keel_slice_empty());
    return HSRV_STEP_NEXT;
}

size_t khttp_server_on_read(void *s, keel_result r, keel_slice data, void *user)
{
    khsrv_conn *c = user;
    if (c == NULL) {
        return 0;
    }
    if (r == KEEL_ERR_CLOSED) {
        /* The peer is done sending. An answer owed is still sent (the
         * write side is open); otherwise there is nothing left to do. */
        if (c->phase == HSRV_BODY_STREAM) {
            (void)hsrv_stream_fail(c, KEEL_ERR_CLOSED); /* the body ended early */
        }
        if (c->phase != HSRV_WAIT_REPLY) {
            c->srv->ops->close(s);
        }
        return 0;
    }
    if (r != KEEL_OK) {
        return 0; /* on_close follows */
    }
    if (c->phase == HSRV_LINGER) {
        return data.len; /* drained and dropped */
    }
    if (c->phase == HSRV_WAIT_REPLY || c->phase == HSRV_IN_HANDLER ||
        (c->phase == HSRV_BODY_STREAM && c->bs->paused)) {
        c->srv->ops->read_stop(s);
        return 0;
    }
    size_t off = 0;
    bool go = true;
    while (go && off < data.len) {
        keel_slice rest;
        if (keel_slice_from_off(data, off, &rest) != KEEL_OK) {
            break;
        }
        size_t used = 0;
        khsrv_step st = hsrv_step(c, rest, &used);
        off += used;
        switch (st) {
        case HSRV_STEP_NEXT:
            if (c->phase == HSRV_WAIT_REPLY) {
                c->srv->ops->read_stop(s);
                go = false;
            } else if (c->phase == HSRV_LINGER) {
                go = false;
            } else if (c->hl->batch.len >= HSRV_BATCH_FLUSH || !c->srv->ops->can_write(s)) {
                if (hsrv_flush(c->hl) != KEEL_OK) {
                    c->srv->ops->abort(s);
                    return data.len;
                }
                if (!c->srv->ops->can_write(s)) {
                    c->write_paused = true;
                    c->srv->ops->read_stop(s);
                    go = false;
                }
            }
            break;
        case HSRV_STEP_MORE:
        case HSRV_STEP_STOP:
            go = false;
            break;
        }
    }
    if (c->hl->batching == c && hsrv_flush(c->hl) != KEEL_OK) {
        c->srv->ops->abort(s);
        return data.len;
    }
    if (c->phase == HSRV_LINGER) {
        return data.len; /* nothing after a rejected or last request is read */
    }
    if (c->write_paused) {
        return off;
    }
    if (c->s != NULL && c->phase == HSRV_HEAD && !c->srv->ops->can_write(s)) {
        c->write_paused = true;
        c->srv->ops->read_stop(s);
    }
    return off;
}

void khttp_server_on_writable(void *s, keel_result r, bool can_write, void *user)
{
    (void)r;
    khsrv_conn *c = user;
    if (c == NULL) {
        return;
    }
    if (can_write && c->write_paused) {
        c->write_paused = false;
        if (c->phase != HSRV_WAIT_REPLY && c->phase != HSRV_IN_HANDLER) {
            c->srv->ops->read_start(s);
        }
    }
    if (can_write && c->streaming && c->on_writable != NULL &&
        (c->phase == HSRV_WAIT_REPLY || c->phase == HSRV_IN_HANDLER ||
         c->phase == HSRV_BODY_STREAM)) {
        c->on_writable(&c->reply, c->writable_user);
    }
}

void khttp_server_on_close(void *s, keel_result r, void *user)
{
    (void)s;
    khsrv_conn *c = user;
    if (c == NULL) {
        return;
    }
    if (c->hl->batching == c) {
        keel_buf_clear(&c->hl->batch);
        c->hl->batching = NULL;
    }
    hsrv_timer_stop(c);
    c->s = NULL;
    if (c->phase == HSRV_BODY_STREAM && !c->answered) {
        /* Tell the handler the body will not complete; its answer (which
         * may come now, and frees c) finds the connection gone. */
        khsrv_bstream *bs = c->bs;
        c->bs = NULL;
        c->phase = HSRV_WAIT_REPLY;
        if (bs->fn != NULL) {
            bs->fn(&c->reply, r == KEEL_OK ? KEEL_ERR_CLOSED : r, keel_slice_empty(), bs->user);
        }
        ksys_release(bs);
        return; /* c: freed by the reply (or the server's free) */
    }
    if (c->phase == HSRV_WAIT_REPLY && !c->answered) {
        return; /* the reply frees it (or the server's free) */
    }
    hsrv_conn_unlink(c);
    hsrv_conn_free(c);
}

static void hsrv_timer_fired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    khsrv_conn *c = user;
    c->timer_at = 0;
    if (c->deadline == 0 || c->s == NULL) {
        return;
    }
    uint64_t now = keel_loop_now_ms(loop);
    if (now < c->deadline) {
        hsrv_timer_arm(c, c->deadline);
        return;
    }
    c->deadline = 0;
    switch (c->phase) {
    case HSRV_HEAD:
        if (c->partial) {
            hsrv_reject(c, 408, "request header timeout");
        } else {
            c->srv->ops->close(c->s); /* idle keep-alive */
        }
        break;
    case HSRV_BODY_LENGTH:
    case HSRV_BODY_CHUNKED:
        if (c->body_seen - c->body_window >= c->srv->opts.body_min_bytes) {
            hsrv_body_window_start(c);
        } else {
            hsrv_reject(c, 408, "request body too slow");
        }
        break;
    case HSRV_BODY_STREAM:
        if (c->bs->paused) {
            break;
        }
        if (c->body_seen - c->body_window >= c->srv->opts.body_min_bytes) {
            hsrv_body_window_start(c);
        } else {
            (void)hsrv_stream_fail(c, KEEL_ERR_TIMEOUT);
        }
        break;
    case HSRV_LINGER:
        c->srv->ops->close(c->s);
        break;
    case HSRV_IN_HANDLER:
    case HSRV_WAIT_REPLY:
        break;
    }
}

/* A plain connection's handlers: its keel_stream is the void * above. */
static size_t hsrv_plain_on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    return khttp_server_on_read(s, r, data, user);
}

static void hsrv_plain_on_writable(keel_stream *s, keel_result r, bool can_write, void *user)
{
    khttp_server_on_writable(s, r, can_write, user);
}

static void hsrv_plain_on_close(keel_stream *s, keel_result r, void *user)
{
    khttp_server_on_close(s, r, user);
}

static void hsrv_plain_on_accept(keel_stream *s, void *user)
{
    khttp_server_on_accept(s, user);
}

static const keel_stream_handlers hsrv_handlers = {
    .on_read = hsrv_plain_on_read,
    .on_writable = hsrv_plain_on_writable,
    .on_close = hsrv_plain_on_close,
};

/* ---- loops and connections -------------------------------------------------- */

static void hsrv_loop_free(khsrv_loop *hl)
{
    if (hl == NULL) {
        return;
    }
    ksys_release(hl->headers);
    ksys_release(hl->head_end);
    ksys_release(hl->out);
    ksys_release(hl);
}

/* The state of loop (made on its first connection), under srv->mu. */
static khsrv_loop *hsrv_loop_of(keel_http_server *srv, keel_loop *loop, bool create)
{
    khsrv_loop *found = NULL;
    pthread_mutex_lock(&srv->mu);
    for (unsigned i = 0; i < srv->nloops && found == NULL; i++) {
        if (srv->loops[i]->loop == loop) {
            found = srv->loops[i];
        }
    }
    if (found == NULL && create && srv->nloops < HSRV_MAX_LOOPS) {
        khsrv_loop *hl = ksys_alloc_zeroed(sizeof *hl);
        bool ok = hl != NULL;
        if (ok) {
            hl->srv = srv;
            hl->loop = loop;
            hl->headers = ksys_alloc_zeroed(srv->opts.max_headers * sizeof *hl->headers);
            hl->head_end_cap = srv->opts.server_name.len + KEEL_HTTP_DATE_LEN + 32u;
            hl->head_end = ksys_alloc_zeroed(hl->head_end_cap);
            ok = hl->headers != NULL && hl->head_end != NULL &&
                 keel_http_parser_init(&hl->parser, KEEL_HTTP_REQUEST, &srv->cfg, hl->headers,
                                       srv->opts.max_headers) == KEEL_OK &&
                 keel_buf_init(&hl->batch, NULL, 0) == KEEL_OK;
        }
        if (ok) {
            srv->loops[srv->nloops++] = hl;
            found = hl;
        } else {
            hsrv_loop_free(hl);
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return found;
}

void khttp_server_on_accept(void *s, void *user)
{
    keel_http_server *srv = user;
    srv->ops->set_user(s, NULL);
    khsrv_loop *hl = hsrv_loop_of(srv, srv->ops->loop(s), true);
    khsrv_conn *c = hl == NULL ? NULL : ksys_alloc_zeroed(sizeof *c);
    if (c == NULL) {
        srv->ops->abort(s);
        return;
    }
    c->srv = srv;
    c->hl = hl;
    c->s = s;
    c->next = hl->conns;
    if (hl->conns != NULL) {
        hl->conns->prev = c;
    }
    hl->conns = c;
    srv->ops->set_user(s, c);
    if (hl->draining) {
        srv->ops->close(s);
        return;
    }
    /* The first request must start within the header timeout. */
    hsrv_deadline_in(c, srv->opts.header_timeout_ms);
}

/* Graceful shutdown reached this loop: idle connections close now; the
 * others answer their request with Connection: close. */
void khttp_server_on_shutdown(keel_loop *loop, void *user)
{
    keel_http_server *srv = user;
    khsrv_loop *hl = hsrv_loop_of(srv, loop, false);
    if (hl == NULL) {
        return;
    }
    hl->draining = true;
    for (khsrv_conn *c = hl->conns; c != NULL; c = c->next) {
        if (c->s != NULL && c->phase == HSRV_HEAD && !c->partial) {
            c->srv->ops->close(c->s);
        }
    }
}

/* ---- the server ----------------------------------------------------------------- */

static uint32_t hsrv_or(uint32_t v, uint32_t dflt)
{
    return v == 0 ? dflt : v;
}

static KEEL_MUST_USE keel_result hsrv_check_opts(const keel_http_server_opts *o)
{
    if (!keel_slice_valid(o->ip) || (o->routes == NULL && o->route_count > 0) ||
        !keel_slice_valid(o->server_name) || o->max_headers > HSRV_MAX_HEADERS_CAP ||
        o->max_body > HSRV_MAX_BODY_CAP || o->max_response > HSRV_MAX_RESPONSE_CAP ||
        (o->tls != NULL && !o->tls->server)) {
        return KEEL_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < o->route_count; i++) {
        const keel_http_route *rt = &o->routes[i];
        uint8_t first = 0;
        if (rt->handler == NULL || !keel_slice_valid(rt->method) || !keel_slice_valid(rt->path) ||
            keel_slice_get(rt->path, 0, &first) != KEEL_OK || first != '/') {
            return KEEL_ERR_INVALID_ARG;
        }
    }
    if (o->server_name.len > 0 &&
        keel_http_field_check(KEEL_STR("Server"), o->server_name) != KEEL_OK) {
        return KEEL_ERR_INVALID_ARG;
    }
    return KEEL_OK;
}

keel_result keel_http_server_start(const keel_http_server_opts *opts, keel_http_server **out)
{
    if (opts == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(hsrv_check_opts(opts));
    keel_http_server *srv = ksys_alloc_zeroed(sizeof *srv);
    if (srv == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    srv->opts = *opts;
    keel_http_server_opts *o = &srv->opts;
    for (size_t i = 0; i < o->route_count; i++) {
        srv->stream_routes = srv->stream_routes || o->routes[i].stream_body;
    }
    o->max_headers = hsrv_or(o->max_headers, HSRV_DEFAULT_MAX_HEADERS);
    o->max_body = o->max_body == 0 ? HSRV_DEFAULT_MAX_BODY : o->max_body;
    o->max_requests = hsrv_or(o->max_requests, HSRV_DEFAULT_MAX_REQUESTS);
    o->header_timeout_ms = hsrv_or(o->header_timeout_ms, HSRV_DEFAULT_HEADER_TIMEOUT);
    o->idle_timeout_ms = hsrv_or(o->idle_timeout_ms, HSRV_DEFAULT_IDLE_TIMEOUT);
    o->body_timeout_ms = hsrv_or(o->body_timeout_ms, HSRV_DEFAULT_BODY_TIMEOUT);
    o->body_min_bytes = hsrv_or(o->body_min_bytes, HSRV_DEFAULT_BODY_MIN);
    o->write_timeout_ms = hsrv_or(o->write_timeout_ms, HSRV_DEFAULT_WRITE_TIMEOUT);
    o->linger_ms = hsrv_or(o->linger_ms, HSRV_DEFAULT_LINGER);
    if (o->server_name.len == 0) {
        o->server_name = KEEL_STR("keel");
    }
    keel_http_parser probe;
    keel_result r = keel_http_parser_init(&probe, KEEL_HTTP_REQUEST, &o->parser, NULL, 0);
    if (r == KEEL_OK) {
        srv->cfg = probe.cfg; /* the defaults filled in */
    }
    /* Room for the largest head and body, and a next request behind them. */
    size_t head_max = (size_t)srv->cfg.limits.max_start_line + srv->cfg.limits.max_header_bytes +
                      1024u;
    srv->sopts.read_cap = head_max + o->max_body + 65536u;
    srv->sopts.write_timeout_ms = o->write_timeout_ms;
    /* This layer keeps its own header, idle and body-rate deadlines; the
     * stream's defaults for accepted streams would cut a long answer to a
     * client that sends nothing meanwhile. */
    srv->sopts.read_timeout_ms = KEEL_STREAM_NO_TIMEOUT;
    srv->sopts.idle_timeout_ms = KEEL_STREAM_NO_TIMEOUT;
    /* Answers up to max_response, with room for the head and the batch. */
    o->max_response = o->max_response == 0 ? HSRV_DEFAULT_MAX_RESPONSE : o->max_response;
    srv->sopts.write_cap = o->max_response + 2u * HSRV_BATCH_FLUSH;
    srv->sopts.write_high = srv->sopts.write_cap < 262144u ? srv->sopts.write_cap : 262144u;
    if (r == KEEL_OK && pthread_mutex_init(&srv->mu, NULL) != 0) {
        r = KEEL_ERR_NO_MEMORY;
    }
    if (r != KEEL_OK) {
        ksys_release(srv);
        return r;
    }
    keel_server_opts so = { .ip = opts->ip,
                            .port = opts->port,
                            .threads = opts->threads,
                            .max_conns = opts->max_conns,
                            .grace_ms = opts->grace_ms,
                            .handle_signals = opts->handle_signals,
                            .on_shutdown = khttp_server_on_shutdown,
                            .user = srv };
    o->ip = keel_slice_empty(); /* the caller's bytes: used only here */
    if (opts->tls == NULL) {
        srv->ops = &khttp_plain_ops;
        so.handlers = &hsrv_handlers;
        so.stream_opts = &srv->sopts;
        so.on_accept = hsrv_plain_on_accept;
        r = keel_server_start(&so, &srv->srv);
    } else {
        srv->ops = opts->tls->ops;
        r = opts->tls->server_start(opts->tls, &so, &srv->sopts, &srv->tls_state, &srv->srv);
    }
    if (r != KEEL_OK) {
        pthread_mutex_destroy(&srv->mu);
        ksys_release(srv);
        return r;
    }
    *out = srv;
    return KEEL_OK;
}

keel_result keel_http_server_port(const keel_http_server *srv, uint16_t *port)
{
    if (srv == NULL || port == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    return keel_server_port(srv->srv, port);
}

size_t keel_http_server_connections(const keel_http_server *srv)
{
    return srv == NULL ? 0 : keel_server_connections(srv->srv);
}

void keel_http_server_shutdown(keel_http_server *srv, uint32_t grace_ms)
{
    if (srv != NULL) {
        keel_server_shutdown(srv->srv, grace_ms);
    }
}

keel_result keel_http_server_wait(keel_http_server *srv)
{
    if (srv == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    return keel_server_wait(srv->srv);
}

void keel_http_server_free(keel_http_server *srv)
{
    if (srv == NULL) {
        return;
    }
    /* Refused from one of the server's threads (STATE): then srv stays. */
    keel_server_shutdown(srv->srv, 0);
    if (keel_server_wait(srv->srv) == KEEL_ERR_STATE) {
        return;
    }
    keel_server_free(srv->srv); /* closes what is left: on_close runs */
    for (unsigned i = 0; i < srv->nloops; i++) {
        /* Connections whose reply never came are all that is left. */
        khsrv_loop *hl = srv->loops[i];
        while (hl->conns != NULL) {
            khsrv_conn *c = hl->conns;
            hsrv_conn_unlink(c);
            hsrv_conn_free(c);
        }
        hsrv_loop_free(hl);
    }
    if (srv->opts.tls != NULL) {
        srv->opts.tls->server_state_free(srv->tls_state);
    }
    pthread_mutex_destroy(&srv->mu);
    ksys_release(srv);
}

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
 *  - An idle connection (no request started, none owed an answer: a new
 *    one, or keep-alive between requests) holds its stream and a 56-byte
 *    khsrv_conn only. What a request needs (khsrv_work: the reply, the
 *    body's and the answer's state, a timer) is taken from the loop's pool
 *    when bytes arrive and given back when the connection is idle again
 *    (hsrv_settle). Idle connections wait on two lists in deadline order
 *    (new ones: header_timeout_ms; keep-alive: idle_timeout_ms), watched
 *    by one timer per loop.
 *  - A busy connection has one timer, re-armed lazily: a deadline that
 *    moves later leaves the armed timer alone (it re-arms itself when it
 *    fires early).
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

/* What a connection holds while it works on a request (or has bytes of one,
 * an answer owed, a reply outstanding, writes held back, or lingers). An
 * idle connection gives it back to its loop's pool (khsrv_conn.w NULL). */
typedef struct khsrv_work {
    khsrv_req *req;            /* NULL unless a request spans reads */
    khsrv_bstream *bs;         /* NULL unless a body is streamed to the handler */
    uint8_t *log_copy;         /* access log, answers given after the handler returned:
                                  the method then the target (NULL otherwise) */
    uint32_t log_method_len, log_target_len;
    keel_http_reply reply;
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
    uint16_t stream_status;
    uint8_t version_minor;     /* of the current request */
    uint64_t stream_bytes;     /* access log: bytes queued so far */
    keel_http_writable_fn on_writable; /* the streaming handler's back-pressure callback */
    void *writable_user;
    size_t head_len;           /* BODY_LENGTH: bytes of the head */
    uint64_t body_len;         /* BODY_LENGTH: content_length */
    uint64_t body_seen;        /* body bytes received (rate check) */
    uint64_t body_window;      /* body_seen at the start of the rate window */
    uint64_t started_us;       /* access log: when the request was complete */
    uint64_t timer_at;         /* when the armed timer fires (0: none armed) */
    keel_timer_id timer;
    struct khsrv_work *next_free; /* in the loop's pool */
} khsrv_work;

/* Which of its loop's lists a connection is on: a busy connection is on
 * none; one whose stream is gone while its handler still owes the answer
 * is an orphan (freed by that answer, or by keel_http_server_free). */
enum { HSRV_LIST_NONE = 0, HSRV_LIST_FRESH, HSRV_LIST_IDLE, HSRV_LIST_ORPHAN };

/* A connection: 56 bytes (one 64-byte malloc chunk) while idle. An idle
 * connection is on one of its loop's two deadline-ordered lists (fresh:
 * no request yet, header_timeout; idle: keep-alive, idle_timeout), which one
 * loop timer watches, so it holds no timer of its own either. */
struct khsrv_conn {
    khsrv_loop *hl;
    void *s;                   /* the connection (srv->ops); NULL once it is gone */
    khsrv_conn *prev, *next;   /* on the list named by list */
    khsrv_work *w;             /* NULL while idle */
    uint64_t deadline;         /* ms on the loop clock; 0: none */
    uint32_t requests;         /* requests answered or being answered */
    uint8_t phase;             /* khsrv_phase */
    uint8_t list;              /* HSRV_LIST_... */
};

/* A list of connections; fresh and idle ones are in deadline order (each
 * list's connections wait the same time, and join at the end). */
typedef struct khsrv_list {
    khsrv_conn *first, *last;
} khsrv_list;

struct khsrv_loop {
    keel_http_server *srv;
    keel_loop *loop;
    khsrv_list lists[4];       /* the connections, by HSRV_LIST_... (NONE unused) */
    khsrv_work *pool;          /* work states given back by idle connections */
    uint32_t pool_len;
    uint64_t sweep_at;         /* when the idle lists' timer fires (0: none armed) */
    keel_timer_id sweep;
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
    ksys_release(c->w->bs);
    c->w->bs = NULL;
}

static void hsrv_conn_drop_req(khsrv_conn *c)
{
    if (c->w->in_handler) {
        return; /* the handler's request and body live there: dropped after it */
    }
    hsrv_req_free(c->w->req);
    c->w->req = NULL;
}

/* ---- timers ----------------------------------------------------------------- */

static void hsrv_timer_fired(keel_loop *loop, keel_timer_id id, void *user);

static void hsrv_timer_arm(khsrv_conn *c, uint64_t at)
{
    keel_loop *loop = c->hl->loop;
    uint64_t now = keel_loop_now_ms(loop);
    if (c->w->timer_at != 0) {
        if (keel_timer_cancel(loop, c->w->timer) != KEEL_OK) {
            /* already fired: nothing to cancel */
        }
        c->w->timer_at = 0;
    }
    uint64_t delay = at > now ? at - now : 0;
    if (keel_timer_start(loop, delay, 0, hsrv_timer_fired, c, &c->w->timer) == KEEL_OK) {
        c->w->timer_at = now + delay;
    } else if (c->s != NULL) {
        c->hl->srv->ops->abort(c->s); /* no memory for a timer: no connection without deadline */
    }
}

/* Set the connection's deadline (0: none); the armed timer is moved only
 * when the new deadline is earlier than it. */
static void hsrv_deadline(khsrv_conn *c, uint64_t at)
{
    c->deadline = at;
    if (at != 0 && (c->w->timer_at == 0 || c->w->timer_at > at)) {
        hsrv_timer_arm(c, at);
    }
}

static void hsrv_deadline_in(khsrv_conn *c, uint32_t ms)
{
    hsrv_deadline(c, keel_loop_now_ms(c->hl->loop) + ms);
}

static void hsrv_timer_stop(khsrv_conn *c)
{
    if (c->w != NULL && c->w->timer_at != 0) {
        if (keel_timer_cancel(c->hl->loop, c->w->timer) != KEEL_OK) {
            /* already fired */
        }
        c->w->timer_at = 0;
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
        r = c->hl->srv->ops->write(c->s, keel_buf_slice(&hl->batch));
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
                             .close = !c->w->keep_alive,
                             /* HTTP/1.0 keeps the connection only when told */
                             .keep_alive = c->w->keep_alive && c->w->version_minor == 0 };
    if (bodiless && body.len > 0) {
        r = KEEL_ERR_INVALID_ARG;
    }
    bool with_body = !c->w->head_only && !bodiless;
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
                r = c->hl->srv->ops->write(c->s, body);
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
    c->w->partial = false;
    if (c->s == NULL) {
        return;
    }
    keel_result r = KEEL_OK;
    if (c->hl->batching == c) {
        r = hsrv_flush(c->hl);
    }
    if (r == KEEL_OK) {
        r = c->hl->srv->ops->shutdown(c->s);
    }
    if (r != KEEL_OK) {
        c->hl->srv->ops->abort(c->s);
        return;
    }
    c->hl->srv->ops->read_start(c->s);
    c->w->write_paused = false;
    hsrv_deadline_in(c, c->hl->srv->opts.linger_ms);
}

/* Answer a rejected or timed-out request with status and a one-line body,
 * then close lingering. The body is left out (its Content-Length kept) when
 * the request's head was parsed and is HEAD (RFC 9110 9.3.2): the client
 * reads no content after a HEAD's answer. A request whose head could not be
 * parsed has no method to trust, and gets the body. */
static void hsrv_reject(khsrv_conn *c, uint16_t status, const char *why)
{
    c->w->keep_alive = false;
    c->w->head_only = c->w->parsed_head;
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
        c->hl->srv->ops->abort(c->s);
        return;
    }
    if (c->hl->srv->opts.access_log != NULL) {
        /* A rejected request has no method or target anyone can trust. */
        keel_http_access e = { .status = status, .bytes = bytes };
        c->hl->srv->opts.access_log(&e, c->hl->srv->opts.log_user);
    }
    hsrv_linger(c);
}

/* ---- replies ------------------------------------------------------------------ */

/* ---- connections: lists, work states, the idle lists' timer ------------------ */

/* Work states an idle loop keeps for the next requests (the rest are freed). */
#define HSRV_POOL_MAX 32u

static void hsrv_list_leave(khsrv_conn *c)
{
    if (c->list == HSRV_LIST_NONE) {
        return;
    }
    khsrv_list *l = &c->hl->lists[c->list];
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        l->first = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    } else {
        l->last = c->prev;
    }
    c->prev = c->next = NULL;
    c->list = HSRV_LIST_NONE;
}

/* Put c at the end of one of its loop's lists. */
static void hsrv_list_join(khsrv_conn *c, uint8_t which)
{
    hsrv_list_leave(c);
    khsrv_list *l = &c->hl->lists[which];
    c->prev = l->last;
    c->next = NULL;
    if (l->last != NULL) {
        l->last->next = c;
    } else {
        l->first = c;
    }
    l->last = c;
    c->list = which;
}

static void hsrv_work_free(khsrv_work *w)
{
    if (w == NULL) {
        return;
    }
    hsrv_req_free(w->req);
    ksys_release(w->bs);
    ksys_release(w->log_copy);
    ksys_release(w);
}

static void hsrv_conn_free(khsrv_conn *c)
{
    hsrv_list_leave(c);
    hsrv_work_free(c->w);
    ksys_release(c);
}

static void hsrv_sweep_fired(keel_loop *loop, keel_timer_id id, void *user);

/* Have the idle lists' timer fire at at or before. false: no memory for it. */
static KEEL_MUST_USE bool hsrv_sweep_arm(khsrv_loop *hl, uint64_t at)
{
    if (hl->sweep_at != 0 && hl->sweep_at <= at) {
        return true;
    }
    if (hl->sweep_at != 0) {
        if (keel_timer_cancel(hl->loop, hl->sweep) != KEEL_OK) {
            /* already fired: nothing to cancel */
        }
        hl->sweep_at = 0;
    }
    uint64_t now = keel_loop_now_ms(hl->loop);
    uint64_t delay = at > now ? at - now : 0;
    if (keel_timer_start(hl->loop, delay, 0, hsrv_sweep_fired, hl, &hl->sweep) != KEEL_OK) {
        return false;
    }
    hl->sweep_at = now + delay;
    return true;
}

/* The idle lists are empty: their timer goes (an armed timer keeps the loop
 * running). */
static void hsrv_sweep_check(khsrv_loop *hl)
{
    if (hl->sweep_at != 0 && hl->lists[HSRV_LIST_FRESH].first == NULL &&
        hl->lists[HSRV_LIST_IDLE].first == NULL) {
        if (keel_timer_cancel(hl->loop, hl->sweep) != KEEL_OK) {
            /* already fired */
        }
        hl->sweep_at = 0;
    }
}

/* Every connection of the idle lists closes (abort: reset) now; on_close
 * frees each. */
static void hsrv_idle_close_all(khsrv_loop *hl, bool abort)
{
    for (uint8_t which = HSRV_LIST_FRESH; which <= HSRV_LIST_IDLE; which++) {
        khsrv_conn *c;
        while ((c = hl->lists[which].first) != NULL) {
            hsrv_list_leave(c);
            if (c->s != NULL) {
                (abort ? hl->srv->ops->abort : hl->srv->ops->close)(c->s);
            }
        }
    }
}

/* The idle lists' timer: connections past their deadline close (a fresh
 * one that sent nothing, an idle keep-alive one), in list order. */
static void hsrv_sweep_fired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    khsrv_loop *hl = user;
    hl->sweep_at = 0;
    uint64_t now = keel_loop_now_ms(loop);
    uint64_t next = 0;
    for (uint8_t which = HSRV_LIST_FRESH; which <= HSRV_LIST_IDLE; which++) {
        khsrv_conn *c;
        while ((c = hl->lists[which].first) != NULL && c->deadline <= now) {
            hsrv_list_leave(c); /* on_close frees it */
            c->deadline = 0;
            if (c->s != NULL) {
                hl->srv->ops->close(c->s);
            }
        }
        if (c != NULL && (next == 0 || c->deadline < next)) {
            next = c->deadline;
        }
    }
    if (next != 0 && !hsrv_sweep_arm(hl, next)) {
        /* No memory for the timer: no connection waits without a deadline. */
        hsrv_idle_close_all(hl, true);
    }
}

/* c, idle, has bytes to read: it takes a work state (the pool's, or a new
 * one) and leaves its idle list. false: no memory. */
static KEEL_MUST_USE bool hsrv_work_take(khsrv_conn *c)
{
    khsrv_loop *hl = c->hl;
    khsrv_work *w = hl->pool;
    if (w != NULL) {
        hl->pool = w->next_free;
        hl->pool_len--;
        *w = (khsrv_work){ 0 };
    } else {
        w = ksys_alloc_zeroed(sizeof *w);
        if (w == NULL) {
            return false;
        }
    }
    c->w = w;
    c->deadline = 0;
    hsrv_list_leave(c);
    return true;
}

/* Wait on an idle list until at (fresh: nothing read yet). */
static void hsrv_wait_idle(khsrv_conn *c, uint8_t which, uint64_t at)
{
    c->deadline = at;
    hsrv_list_join(c, which);
    if (!hsrv_sweep_arm(c->hl, at) && c->s != NULL) {
        c->hl->srv->ops->abort(c->s); /* no memory for a timer: no connection without deadline */
    }
}

/* After a read or a later answer: a connection with nothing in progress
 * (no bytes of a request, no answer owed or unsent, no body, not lingering)
 * gives its work state back and waits on an idle list (or closes, once a
 * shutdown began); one that cannot gets its pending deadline (the idle one
 * after an answer) on its own timer. */
static void hsrv_settle(khsrv_conn *c)
{
    khsrv_work *w = c->w;
    khsrv_loop *hl = c->hl;
    if (w == NULL || c->s == NULL) {
        return;
    }
    if (c->phase != HSRV_HEAD || w->partial || w->write_paused || w->req != NULL ||
        w->bs != NULL || w->log_copy != NULL || w->in_handler || w->streaming ||
        hl->batching == c) {
        hsrv_deadline(c, c->deadline);
        return;
    }
    hsrv_timer_stop(c);
    c->w = NULL;
    if (hl->pool_len < HSRV_POOL_MAX) {
        w->next_free = hl->pool;
        hl->pool = w;
        hl->pool_len++;
    } else {
        ksys_release(w);
    }
    if (hl->draining) {
        hl->srv->ops->close(c->s); /* shutdown began while it was busy */
        return;
    }
    const keel_http_server_opts *o = &hl->srv->opts;
    uint8_t which = c->requests == 0 ? HSRV_LIST_FRESH : HSRV_LIST_IDLE;
    uint32_t ms = which == HSRV_LIST_FRESH ? o->header_timeout_ms : o->idle_timeout_ms;
    hsrv_wait_idle(c, which, keel_loop_now_ms(hl->loop) + ms);
}

keel_loop *keel_http_reply_loop(const keel_http_reply *reply)
{
    return reply == NULL || reply->conn == NULL ? NULL : reply->conn->hl->loop;
}

/* The request is answered (or its connection is gone): ready for the next. */
static void hsrv_after_answer(khsrv_conn *c, bool from_handler)
{
    hsrv_conn_drop_req(c);
    c->w->partial = false;
    c->w->continue_sent = false;
    if (!c->w->keep_alive) {
        hsrv_linger(c);
        return;
    }
    c->phase = HSRV_HEAD;
    /* The idle deadline: hsrv_settle arms it, unless the idle list takes c. */
    c->deadline = keel_loop_now_ms(c->hl->loop) + c->hl->srv->opts.idle_timeout_ms;
    if (!from_handler && c->s != NULL) {
        /* Answered later: send it now and read what waited meanwhile. */
        if (hsrv_flush(c->hl) != KEEL_OK) {
            c->hl->srv->ops->abort(c->s);
            return;
        }
        if (c->hl->srv->ops->can_write(c->s)) {
            c->hl->srv->ops->read_start(c->s);
        } else {
            c->w->write_paused = true;
        }
    }
}

static void hsrv_log_answer(khsrv_conn *c, bool from_handler, uint16_t status, uint64_t bytes);

/* The reply is being answered: it is gone for the handler from now on.
 * false: the connection died meanwhile, and c (which waited for this
 * answer) is freed. */
static bool hsrv_reply_take(khsrv_conn *c, keel_http_reply *reply)
{
    c->w->answered = true;
    reply->conn = NULL;
    if (c->s == NULL) {
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
    if (c->w->answered || c->w->streaming ||
        (c->phase != HSRV_IN_HANDLER && c->phase != HSRV_WAIT_REPLY &&
         c->phase != HSRV_BODY_STREAM)) {
        return KEEL_ERR_STATE;
    }
    bool from_handler = c->phase == HSRV_IN_HANDLER;
    if (c->hl->draining || (c->w->bs != NULL && !c->w->bs->done)) {
        /* Shutdown began while the handler worked, or the answer comes
         * before the whole body: the connection ends after it. */
        c->w->keep_alive = false;
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
        c->hl->srv->ops->abort(c->s);
        c->phase = HSRV_LINGER;
        return r;
    }
    hsrv_after_answer(c, from_handler);
    if (!from_handler) {
        hsrv_settle(c); /* in the handler: the read that called it settles */
    }
    return r;
}

/* ---- streamed replies ------------------------------------------------------ */

/* The access log line of an answer, now that it is complete. */
static void hsrv_log_answer(khsrv_conn *c, bool from_handler, uint16_t status, uint64_t bytes)
{
    if (c->hl->srv->opts.access_log == NULL) {
        return;
    }
    uint64_t now = ksys_now_us();
    keel_http_access e = { .method = from_handler ? c->hl->log_method : keel_slice_empty(),
                           .target = from_handler ? c->hl->log_target : keel_slice_empty(),
                           .status = status,
                           .bytes = bytes,
                           .micros = now >= c->w->started_us ? now - c->w->started_us : 0 };
    if (!from_handler && c->w->log_copy != NULL) {
        e.method = (keel_slice){ c->w->log_copy, c->w->log_method_len };
        e.target = (keel_slice){ c->w->log_copy + c->w->log_method_len, c->w->log_target_len };
    }
    c->hl->srv->opts.access_log(&e, c->hl->srv->opts.log_user);
    ksys_release(c->w->log_copy);
    c->w->log_copy = NULL;
}

/* The connection behind a reply that may still answer, or NULL. */
static khsrv_conn *hsrv_reply_conn(keel_http_reply *reply)
{
    if (reply == NULL || reply->conn == NULL) {
        return NULL;
    }
    khsrv_conn *c = reply->conn;
    if (c->w->answered || (c->phase != HSRV_IN_HANDLER && c->phase != HSRV_WAIT_REPLY &&
                        c->phase != HSRV_BODY_STREAM)) {
        return NULL;
    }
    return c;
}

keel_result keel_http_reply_start(keel_http_reply *reply, uint16_t status,
                                  const keel_http_field *fields, size_t field_count)
{
    khsrv_conn *c = hsrv_reply_conn(reply);
    if (c == NULL || c->w->streaming || (fields == NULL && field_count > 0) || status < 200 ||
        status > 599 || status == 204 || status == 304) {
        return c == NULL ? KEEL_ERR_INVALID_ARG : c->w->streaming ? KEEL_ERR_STATE
                                                               : KEEL_ERR_INVALID_ARG;
    }
    if (c->s == NULL) {
        return KEEL_ERR_CLOSED; /* keel_http_reply_end still frees the reply */
    }
    if (c->hl->draining || (c->w->bs != NULL && !c->w->bs->done)) {
        c->w->keep_alive = false;
    }
    /* HTTP/1.0 has no chunked coding: the body runs to the close. */
    c->w->stream_chunked = c->w->version_minor == 1;
    size_t bytes = 0;
    keel_result r = hsrv_put_response(c, status, fields, field_count, keel_slice_empty(),
                                      c->w->stream_chunked ? KEEL_HTTP_BODY_CHUNKED
                                                        : KEEL_HTTP_BODY_UNTIL_CLOSE,
                                      &bytes);
    if (r != KEEL_OK) {
        return r; /* nothing was queued: the reply may still answer otherwise */
    }
    if (!c->w->stream_chunked) {
        c->w->keep_alive = false;
    }
    c->w->streaming = true;
    c->w->stream_bytes = bytes;
    c->w->stream_status = status;
    r = hsrv_flush(c->hl);
    if (r != KEEL_OK) {
        c->hl->srv->ops->abort(c->s);
    }
    return r;
}

keel_result keel_http_reply_write(keel_http_reply *reply, keel_slice data)
{
    khsrv_conn *c = hsrv_reply_conn(reply);
    if (c == NULL || !c->w->streaming || !keel_slice_valid(data)) {
        return c == NULL || keel_slice_valid(data) ? KEEL_ERR_STATE : KEEL_ERR_INVALID_ARG;
    }
    if (c->s == NULL) {
        return KEEL_ERR_CLOSED;
    }
    if (data.len == 0 || c->w->head_only) {
        return KEEL_OK;
    }
    if (c->hl->srv->ops->queued(c->s) + data.len + 32u > c->hl->srv->sopts.write_cap) {
        return KEEL_ERR_TOO_LARGE; /* wait for keel_http_reply_can_write */
    }
    keel_result r = KEEL_OK;
    if (c->w->stream_chunked) {
        r = hsrv_batch_room(c, data.len + 32u);
        if (r == KEEL_OK) {
            r = keel_http_chunked_encode(&c->hl->batch, data);
        }
        if (r == KEEL_OK) {
            r = hsrv_flush(c->hl);
        }
    } else {
        r = c->hl->srv->ops->write(c->s, data);
    }
    if (r != KEEL_OK) {
        c->hl->srv->ops->abort(c->s);
        return r;
    }
    c->w->stream_bytes += data.len;
    return KEEL_OK;
}

bool keel_http_reply_can_write(const keel_http_reply *reply)
{
    return reply != NULL && reply->conn != NULL && reply->conn->s != NULL &&
           reply->conn->hl->srv->ops->can_write(reply->conn->s);
}

void keel_http_reply_on_writable(keel_http_reply *reply, keel_http_writable_fn fn, void *user)
{
    if (reply != NULL && reply->conn != NULL) {
        reply->conn->w->on_writable = fn;
        reply->conn->w->writable_user = user;
    }
}

keel_result keel_http_reply_end(keel_http_reply *reply)
{
    khsrv_conn *c = hsrv_reply_conn(reply);
    if (c == NULL || !c->w->streaming) {
        if (c != NULL && c->s == NULL) {
            /* start found the connection gone: free it now */
            (void)hsrv_reply_take(c, reply);
            return KEEL_ERR_CLOSED;
        }
        return c == NULL ? KEEL_ERR_INVALID_ARG : KEEL_ERR_STATE;
    }
    bool from_handler = c->phase == HSRV_IN_HANDLER;
    c->w->streaming = false;
    c->w->on_writable = NULL;
    if (!hsrv_reply_take(c, reply)) {
        return KEEL_ERR_CLOSED;
    }
    keel_result r = KEEL_OK;
    if (c->w->stream_chunked && !c->w->head_only) {
        r = hsrv_batch_room(c, 8u);
        if (r == KEEL_OK) {
            r = keel_http_chunked_encode_last(&c->hl->batch);
        }
        c->w->stream_bytes += 5u;
    }
    hsrv_log_answer(c, from_handler, c->w->stream_status, c->w->stream_bytes);
    if (r != KEEL_OK) {
        c->hl->srv->ops->abort(c->s);
        c->phase = HSRV_LINGER;
        return r;
    }
    hsrv_after_answer(c, from_handler);
    if (!from_handler) {
        hsrv_settle(c);
    }
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
    keel_http_server *srv = c->hl->srv;
    keel_slice path = hsrv_route_path(req);
    c->requests++;
    c->w->keep_alive = req->head.keep_alive && !c->hl->draining &&
                    c->requests < srv->opts.max_requests;
    c->w->head_only = req->method_id == KEEL_HTTP_HEAD;
    c->w->version_minor = req->head.version_minor;
    c->w->answered = false;
    c->w->streaming = false;
    c->w->on_writable = NULL;
    c->phase = HSRV_IN_HANDLER;
    c->hl->log_method = req->method;
    c->hl->log_target = req->target;
    c->w->started_us = srv->opts.access_log != NULL ? ksys_now_us() : 0;
    c->deadline = 0; /* none while the handler works (the armed timer stays) */
    c->w->reply.conn = c;
    c->w->in_handler = true;
    bool path_known = false;
    const keel_http_route *found = hsrv_route(srv, req, &path_known);
    if (found != NULL) {
        found->handler(&c->w->reply, req, body, found->user);
    } else if (!path_known) {
        if (keel_http_reply_send(&c->w->reply, 404, NULL, 0, KEEL_STR("not found\n")) != KEEL_OK) {
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
        if (keel_http_reply_send(&c->w->reply, 405, f, 1, KEEL_STR("method not allowed\n")) !=
            KEEL_OK) {
            /* as above */
        }
    }
    c->w->in_handler = false;
    if (!c->w->answered && srv->opts.access_log != NULL && c->w->log_copy == NULL) {
        /* The answer comes later: keep what the log line needs. */
        size_t n = req->method.len + req->target.len;
        c->w->log_copy = n > 0 && n <= UINT32_MAX ? ksys_alloc_zeroed(n) : NULL;
        keel_buf b;
        if (c->w->log_copy != NULL && keel_buf_init(&b, c->w->log_copy, n) == KEEL_OK &&
            keel_buf_append(&b, req->method) == KEEL_OK &&
            keel_buf_append(&b, req->target) == KEEL_OK) {
            c->w->log_method_len = (uint32_t)req->method.len;
            c->w->log_target_len = (uint32_t)req->target.len;
        } else {
            ksys_release(c->w->log_copy);
            c->w->log_copy = NULL;
        }
    }
    c->hl->log_method = keel_slice_empty();
    c->hl->log_target = keel_slice_empty();
    hsrv_conn_drop_req(c);
    if (!c->w->answered && c->phase == HSRV_IN_HANDLER) {
        c->phase = c->w->bs != NULL ? HSRV_BODY_STREAM : HSRV_WAIT_REPLY;
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
    if (c->w->continue_sent || c->s == NULL) {
        return KEEL_OK;
    }
    c->w->continue_sent = true;
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
    c->w->body_window = c->w->body_seen;
    hsrv_deadline_in(c, c->hl->srv->opts.body_timeout_ms);
}

/* Decode chunked body bytes from in; dispatch when the body is complete. */
static khsrv_step hsrv_chunked(khsrv_conn *c, keel_slice in, size_t *used)
{
    khsrv_req *rq = c->w->req;
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
        c->w->body_seen += n;
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
            if (rq->body_len + data.len > c->hl->srv->opts.max_body) {
                *used = off;
                hsrv_reject(c, 413, "request body too large");
                return HSRV_STEP_STOP;
            }
            keel_result g = hsrv_grow(&rq->body, &rq->body_cap, rq->body_len,
                                      rq->body_len + data.len, c->hl->srv->opts.max_body);
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
    if (c->w->req == NULL) {
        r = hsrv_req_new(c->hl->srv, &c->w->req);
    }
    khsrv_req *rq = c->w->req;
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
        r = keel_http_chunked_init(&rq->chunked, &c->hl->srv->cfg);
    }
    if (r != KEEL_OK) {
        *used = 0;
        hsrv_reject(c, 503, "out of memory");
        return HSRV_STEP_STOP;
    }
    c->phase = HSRV_BODY_CHUNKED;
    c->w->body_seen = 0;
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
    if (c->w->bs->fn != NULL) {
        c->w->bs->fn(&c->w->reply, r, piece, c->w->bs->user);
    }
}

/* After a callback: did the handler answer early (the connection ends)? */
static khsrv_step hsrv_stream_check(khsrv_conn *c)
{
    if (c->phase != HSRV_BODY_STREAM) {
        return HSRV_STEP_STOP; /* answered early: lingering */
    }
    return c->w->bs->paused ? HSRV_STEP_STOP : HSRV_STEP_MORE;
}

/* The body is complete: tell the handler, then wait for its answer (or
 * go on with the next request if it has answered). */
static khsrv_step hsrv_stream_finish(khsrv_conn *c)
{
    c->w->bs->done = true;
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
        c->w->keep_alive = false;
        hsrv_stream_deliver(c, why, keel_slice_empty());
    }
    if (c->phase == HSRV_BODY_STREAM) {
        hsrv_conn_drop_bstream(c);
        c->phase = HSRV_WAIT_REPLY;
        if (c->s != NULL) {
            c->hl->srv->ops->read_stop(c->s);
        }
    }
    return HSRV_STEP_STOP;
}

/* Body bytes for a stream_body route, from the first not yet delivered. */
static khsrv_step hsrv_stream_step(khsrv_conn *c, keel_slice in, size_t *used)
{
    khsrv_bstream *bs = c->w->bs;
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
        c->w->body_seen += n;
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
        c->w->body_seen += n;
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
        c->hl->srv->ops->abort(c->s);
        return HSRV_STEP_STOP;
    }
    c->w->bs = ksys_alloc_zeroed(sizeof *c->w->bs);
    if (c->w->bs == NULL ||
        (req->head.body == KEEL_HTTP_BODY_CHUNKED &&
         keel_http_chunked_init(&c->w->bs->dec, &c->hl->srv->cfg) != KEEL_OK)) {
        hsrv_reject(c, 503, "out of memory");
        return HSRV_STEP_STOP;
    }
    c->w->bs->chunked = req->head.body == KEEL_HTTP_BODY_CHUNKED;
    c->w->bs->left = req->head.body == KEEL_HTTP_BODY_LENGTH ? req->head.content_length : 0;
    c->w->bs->done = !c->w->bs->chunked && c->w->bs->left == 0; /* no body at all */
    c->w->body_seen = 0;
    *used = head_len;
    hsrv_dispatch(c, req, keel_slice_empty());
    if (c->phase != HSRV_BODY_STREAM) {
        return HSRV_STEP_NEXT; /* answered in the handler call */
    }
    if (c->w->bs->done) {
        return hsrv_stream_finish(c); /* no body: the end call at once */
    }
    if (!c->w->bs->paused) {
        hsrv_body_window_start(c);
    }
    return HSRV_STEP_NEXT;
}

void keel_http_reply_on_body(keel_http_reply *reply, keel_http_body_fn fn, void *user)
{
    if (reply != NULL && reply->conn != NULL && reply->conn->w->bs != NULL) {
        reply->conn->w->bs->fn = fn;
        reply->conn->w->bs->user = user;
    }
}

void keel_http_reply_body_pause(keel_http_reply *reply)
{
    khsrv_conn *c = reply == NULL ? NULL : reply->conn;
    if (c != NULL && c->w->bs != NULL && !c->w->bs->done && !c->w->bs->paused) {
        c->w->bs->paused = true;
        c->deadline = 0; /* the body rate is not the client's to keep while paused */
        if (c->s != NULL) {
            c->hl->srv->ops->read_stop(c->s);
        }
    }
}

void keel_http_reply_body_resume(keel_http_reply *reply)
{
    khsrv_conn *c = reply == NULL ? NULL : reply->conn;
    if (c != NULL && c->w->bs != NULL && c->w->bs->paused) {
        c->w->bs->paused = false;
        if (c->s != NULL && c->phase == HSRV_BODY_STREAM) {
            hsrv_body_window_start(c);
            c->hl->srv->ops->read_start(c->s); /* what waited is offered again */
        }
    }
}

/* One step over in (the bytes of the current request, from its first). */
static khsrv_step hsrv_step(khsrv_conn *c, keel_slice in, size_t *used)
{
    keel_http_server *srv = c->hl->srv;
    *used = 0;
    if (c->phase == HSRV_BODY_STREAM) {
        return hsrv_stream_step(c, in, used);
    }
    if (c->phase == HSRV_BODY_CHUNKED) {
        return hsrv_chunked(c, in, used);
    }
    if (c->phase == HSRV_BODY_LENGTH) {
        uint64_t have = in.len - c->w->head_len;
        c->w->body_seen = have;
        if (have < c->w->body_len) {
            return HSRV_STEP_MORE;
        }
        keel_http_request req;
        size_t head_used = 0;
        keel_slice body;
        if (hsrv_reparse(c, in, &req, &head_used) != KEEL_OK || head_used != c->w->head_len ||
            keel_slice_sub(in, c->w->head_len, (size_t)c->w->body_len, &body) != KEEL_OK) {
            hsrv_reject(c, 500, "internal error");
            return HSRV_STEP_STOP;
        }
        *used = c->w->head_len + (size_t)c->w->body_len;
        hsrv_dispatch(c, &req, body);
        return HSRV_STEP_NEXT;
    }
    /* HSRV_HEAD */
    keel_http_request req;
    keel_http_error err = { 0 };
    size_t head_len = 0;
    keel_result r;
    c->w->parsed_head = false;
    if (c->w->req != NULL) {
        r = keel_http_parse_request(&c->w->req->parser, in, &req, &head_len, &err);
    } else {
        keel_http_parser_reset(&c->hl->parser);
        r = keel_http_parse_request(&c->hl->parser, in, &req, &head_len, &err);
        if (r == KEEL_ERR_INCOMPLETE) {
            /* The head spans reads: give it its own parser, parse what is
             * there once more so that the rest is parsed incrementally. */
            r = hsrv_req_new(srv, &c->w->req);
            if (r == KEEL_OK) {
                r = keel_http_parse_request(&c->w->req->parser, in, &req, &head_len, &err);
            } else {
                hsrv_reject(c, 503, "out of memory");
                return HSRV_STEP_STOP;
            }
        }
        keel_http_parser_reset(&c->hl->parser);
    }
    if (r == KEEL_ERR_INCOMPLETE) {
        if (!c->w->partial) {
            c->w->partial = true;
            hsrv_deadline_in(c, srv->opts.header_timeout_ms);
        }
        return HSRV_STEP_MORE;
    }
    if (r != KEEL_OK) {
        hsrv_reject(c, err.status != 0 ? err.status : 400, keel_http_reason_str(err.reason));
        return HSRV_STEP_STOP;
    }
    c->w->partial = true;
    c->w->parsed_head = req.method_id == KEEL_HTTP_HEAD;
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
        c->hl->srv->ops->abort(c->s);
        return HSRV_STEP_STOP;
    }
    if (req.head.body == KEEL_HTTP_BODY_CHUNKED) {
        if (c->w->req != NULL) {
            keel_http_parser_reset(&c->w->req->parser);
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
        c->w->head_len = head_len;
        c->w->body_len = req.head.content_length;
        c->w->body_seen = in.len - head_len;
        hsrv_body_window_start(c);
        return HSRV_STEP_MORE;
    }
    *used = head_len;
    hsrv_dispatch(c, &req, keel_slice_empty());
    return HSRV_STEP_NEXT;
}

static inline size_t hsrv_read(khsrv_conn *c, void *s, keel_result r, keel_slice data)
{
    if (r == KEEL_ERR_CLOSED) {
        /* The peer is done sending. An answer owed is still sent (the
         * write side is open); otherwise there is nothing left to do. */
        if (c->phase == HSRV_BODY_STREAM) {
            (void)hsrv_stream_fail(c, KEEL_ERR_CLOSED); /* the body ended early */
        }
        if (c->phase != HSRV_WAIT_REPLY) {
            c->hl->srv->ops->close(s);
        }
        return 0;
    }
    if (r != KEEL_OK) {
        return 0; /* on_close follows */
    }
    if (c->phase == HSRV_LINGER) {
        return data.len; /* drained and dropped */
    }
    if (c->w == NULL) {
        if (data.len == 0) {
            return 0; /* nothing to read: idle it stays, its deadline unmoved */
        }
        if (!hsrv_work_take(c)) {
            c->hl->srv->ops->abort(s);
            return data.len;
        }
    }
    if (c->phase == HSRV_WAIT_REPLY || c->phase == HSRV_IN_HANDLER ||
        (c->phase == HSRV_BODY_STREAM && c->w->bs->paused)) {
        c->hl->srv->ops->read_stop(s);
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
                c->hl->srv->ops->read_stop(s);
                go = false;
            } else if (c->phase == HSRV_LINGER) {
                go = false;
            } else if (c->hl->batch.len >= HSRV_BATCH_FLUSH || !c->hl->srv->ops->can_write(s)) {
                if (hsrv_flush(c->hl) != KEEL_OK) {
                    c->hl->srv->ops->abort(s);
                    return data.len;
                }
                if (!c->hl->srv->ops->can_write(s)) {
                    c->w->write_paused = true;
                    c->hl->srv->ops->read_stop(s);
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
        c->hl->srv->ops->abort(s);
        return data.len;
    }
    if (c->phase == HSRV_LINGER) {
        return data.len; /* nothing after a rejected or last request is read */
    }
    if (c->w->write_paused) {
        return off;
    }
    if (c->s != NULL && c->phase == HSRV_HEAD && !c->hl->srv->ops->can_write(s)) {
        c->w->write_paused = true;
        c->hl->srv->ops->read_stop(s);
    }
    return off;
}

size_t khttp_server_on_read(void *s, keel_result r, keel_slice data, void *user)
{
    khsrv_conn *c = user;
    if (c == NULL) {
        return 0;
    }
    size_t off = hsrv_read(c, s, r, data);
    hsrv_settle(c);
    return off;
}

void khttp_server_on_writable(void *s, keel_result r, bool can_write, void *user)
{
    (void)r;
    khsrv_conn *c = user;
    if (c == NULL || c->w == NULL) {
        return; /* idle: nothing waits for the write side */
    }
    if (can_write && c->w->write_paused) {
        c->w->write_paused = false;
        if (c->phase != HSRV_WAIT_REPLY && c->phase != HSRV_IN_HANDLER) {
            c->hl->srv->ops->read_start(s);
        }
        hsrv_settle(c);
        if (c->w == NULL) {
            return;
        }
    }
    if (can_write && c->w->streaming && c->w->on_writable != NULL &&
        (c->phase == HSRV_WAIT_REPLY || c->phase == HSRV_IN_HANDLER ||
         c->phase == HSRV_BODY_STREAM)) {
        c->w->on_writable(&c->w->reply, c->w->writable_user);
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
    if (c->phase == HSRV_BODY_STREAM && !c->w->answered) {
        /* Tell the handler the body will not complete; its answer (which
         * may come now, and frees c) finds the connection gone. */
        khsrv_bstream *bs = c->w->bs;
        c->w->bs = NULL;
        c->phase = HSRV_WAIT_REPLY;
        hsrv_list_join(c, HSRV_LIST_ORPHAN);
        if (bs->fn != NULL) {
            bs->fn(&c->w->reply, r == KEEL_OK ? KEEL_ERR_CLOSED : r, keel_slice_empty(), bs->user);
        }
        ksys_release(bs);
        return; /* c: freed by the reply (or the server's free) */
    }
    if (c->phase == HSRV_WAIT_REPLY && !c->w->answered) {
        hsrv_list_join(c, HSRV_LIST_ORPHAN);
        return; /* the reply frees it (or the server's free) */
    }
    khsrv_loop *hl = c->hl;
    hsrv_conn_free(c);
    hsrv_sweep_check(hl);
}

static void hsrv_timer_fired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    khsrv_conn *c = user;
    c->w->timer_at = 0;
    if (c->deadline == 0 || c->s == NULL) {
        return;
    }
    uint64_t now = keel_loop_now_ms(loop);
    if (now < c->deadline) {
        hsrv_timer_arm(c, c->deadline);
        return;
    }
    c->deadline = 0;
    switch ((khsrv_phase)c->phase) {
    case HSRV_HEAD:
        if (c->w->partial) {
            hsrv_reject(c, 408, "request header timeout");
        } else {
            c->hl->srv->ops->close(c->s); /* idle keep-alive */
        }
        break;
    case HSRV_BODY_LENGTH:
    case HSRV_BODY_CHUNKED:
        if (c->w->body_seen - c->w->body_window >= c->hl->srv->opts.body_min_bytes) {
            hsrv_body_window_start(c);
        } else {
            hsrv_reject(c, 408, "request body too slow");
        }
        break;
    case HSRV_BODY_STREAM:
        if (c->w->bs->paused) {
            break;
        }
        if (c->w->body_seen - c->w->body_window >= c->hl->srv->opts.body_min_bytes) {
            hsrv_body_window_start(c);
        } else {
            (void)hsrv_stream_fail(c, KEEL_ERR_TIMEOUT);
        }
        break;
    case HSRV_LINGER:
        c->hl->srv->ops->close(c->s);
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
    while (hl->pool != NULL) {
        khsrv_work *w = hl->pool;
        hl->pool = w->next_free;
        ksys_release(w);
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
    c->hl = hl;
    c->s = s;
    srv->ops->set_user(s, c);
    if (hl->draining) {
        srv->ops->close(s);
        return;
    }
    /* The first request must start within the header timeout. */
    hsrv_wait_idle(c, HSRV_LIST_FRESH, keel_loop_now_ms(hl->loop) + srv->opts.header_timeout_ms);
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
    hsrv_idle_close_all(hl, false);
    /* A busy connection closes when it is idle next (hsrv_settle). */
    hsrv_sweep_check(hl);
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
        for (uint8_t which = HSRV_LIST_FRESH; which <= HSRV_LIST_ORPHAN; which++) {
            while (hl->lists[which].first != NULL) {
                hsrv_conn_free(hl->lists[which].first);
            }
        }
        hsrv_loop_free(hl);
    }
    if (srv->opts.tls != NULL) {
        srv->opts.tls->server_state_free(srv->tls_state);
    }
    pthread_mutex_destroy(&srv->mu);
    ksys_release(srv);
}

/**
 * @file
 * @brief keel/http_server.h - an HTTP/1.1 server on keel's async runtime:
 * routes, handlers that answer at once or later, keep-alive, pipelining,
 * every parser limit answered with its status, timeouts, lingering close,
 * an access log and graceful shutdown, on N loops on N threads.
 *
 * Conventions (in addition to those of keel/loop.h and keel/http.h):
 *  - Each connection is a keel_stream (with opts.tls, a keel_tls_stream:
 *    all below applies to its plaintext); its requests are parsed in place by
 *    keel's strict parser (keel/http.h, docs/http-profile.md) and handled
 *    one at a time, in order: pipelined requests are answered in order, and
 *    the answers of requests that arrived together leave in one write.
 *  - A handler runs on the connection's loop thread. It sees the parsed
 *    request and its whole body (Content-Length or chunked, buffered up to
 *    max_body: 413 past it). The request's slices and the body are valid
 *    only during the call: copy what an answer given later needs.
 *  - A keel_http_reply is valid from the handler call until its answer is
 *    complete (keel_http_reply_send, or keel_http_reply_end): after that it
 *    must not be used at all, not even by a timer set to resume a paused
 *    body (cancel such timers when answering). Until then it stays valid
 *    even if the connection dies (the calls then return KEEL_ERR_CLOSED).
 *  - A handler answers through its keel_http_reply, exactly once, during
 *    the call or later from another callback on the same loop (a timer, a
 *    task posted with keel_loop_post to keel_http_reply_loop()): whole
 *    (keel_http_reply_send, Content-Length) or streamed (keel_http_reply_
 *    start / _write / _end, chunked, with back-pressure). Until it has
 *    answered, the connection reads nothing more.
 *  - Responses carry Date (formatted once per second per loop), Server and
 *    the framing keel writes itself (Content-Length; Connection: close when
 *    the connection ends after it). A HEAD request gets the GET answer's
 *    head without its body.
 *  - Keep-alive (RFC 9112 9.3): an HTTP/1.1 connection stays open unless
 *    the request says Connection: close; an HTTP/1.0 one only when the
 *    request says Connection: keep-alive, and its answers then say
 *    Connection: keep-alive (a streamed answer to HTTP/1.0 runs to the
 *    close, so it ends the connection). Shutdown, max_requests, an answer
 *    given before the whole body and any rejection end it too.
 *  - Memory: an idle connection (keep-alive between requests, or new and
 *    silent) holds no buffer, no request state and no timer of its own: its
 *    stream's state plus this layer's 56 bytes (240 bytes of keel's
 *    allocations in all on x86-64 with glibc).
 *  - Thread-safety: keel_http_server_start, _port, _shutdown, _wait and
 *    _free as their keel_server counterparts; the reply functions on the
 *    reply's loop thread only.
 */
#ifndef KEEL_HTTP_SERVER_H
#define KEEL_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/result.h"
#include "keel/slice.h"
#include "keel/loop.h"
#include "keel/http.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#ifndef KEEL_HTTP_TLS_DECLARED
#define KEEL_HTTP_TLS_DECLARED
/** A TLS transport for HTTPS (opaque), for the tls field of
 * keel_http_server_opts and keel_http_client_opts: keel_http_tls_new in
 * keel/tls.h makes one from a keel_tls_config, in a build with the TLS
 * layer (mbed TLS). */
typedef struct keel_http_tls keel_http_tls;
#endif

/** A running HTTP server (opaque). */
typedef struct keel_http_server keel_http_server;
/** The answer a handler owes to one request (opaque). */
typedef struct keel_http_reply keel_http_reply;

/** A request handler: answer through reply (see the conventions above).
 * body holds the request's whole body (empty when it has none). */
typedef void (*keel_http_handler)(keel_http_reply *reply, const keel_http_request *req,
                                  keel_slice body, void *user);

/** One route: a method and a path, and the handler that serves them. */
typedef struct keel_http_route {
    /** The method token ("GET", "POST"...); empty: every method. A route
     * for GET serves HEAD too (without the body). */
    keel_slice method;
    /** The path to match, from its leading '/' (the query is not part of it). */
    keel_slice path;
    /** false: the request's path equals path; true: it starts with path. */
    bool prefix;
    /** false: the handler gets the whole body, buffered up to max_body.
     * true: the handler is called as soon as the head is complete, with an
     * empty body, and gets the body in pieces through the callback it sets
     * with keel_http_reply_on_body, then the end call (also for a request
     * without a body); max_body does not apply: the handler sees every
     * piece and decides; it can pause the connection. */
    bool stream_body;
    keel_http_handler handler; /**< called for matching requests */
    void *user;                /**< handed to handler */
} keel_http_route;

/** What the access log is told about each answered request, and about
 * each rejection (a parser error, 408, 413, 417: then method and target are
 * empty and micros 0). */
typedef struct keel_http_access {
    keel_slice method;   /**< as sent (valid during the log call only; empty for a
                              rejection) */
    keel_slice target;   /**< as sent (likewise) */
    uint16_t status;     /**< the status answered */
    uint64_t bytes;      /**< response bytes queued (head and body) */
    uint64_t micros;     /**< from the complete request to the queued answer */
} keel_http_access;

/** An access-log callback: one call per answered request, on the loop thread. */
typedef void (*keel_http_log_fn)(const keel_http_access *entry, void *user);

/** Server options. A zero field takes the default shown. */
typedef struct keel_http_server_opts {
    keel_slice ip;            /**< address literal to bind, e.g. KEEL_STR("127.0.0.1") */
    uint16_t port;            /**< 0: an ephemeral port */
    unsigned threads;         /**< loops, one thread each (0: one per online CPU) */
    unsigned max_conns;       /**< over all threads (0: 10,000) */
    uint32_t grace_ms;        /**< shutdown grace on signals (0: 5,000) */
    bool handle_signals;      /**< SIGINT/SIGTERM start a graceful shutdown */
    const keel_http_route *routes; /**< tried in order; the first match serves */
    size_t route_count;            /**< entries of routes */
    keel_http_config parser;  /**< parser limits and leniencies (0: strict defaults) */
    uint32_t max_headers;     /**< header fields per request (64); more: 431 */
    size_t max_body;          /**< request body bytes (1 MiB); more: 413 */
    uint32_t max_requests;    /**< requests per connection (1,000); the last is answered with Connection: close */
    size_t max_response;      /**< bytes of answers queued on one connection (4 MiB): the stream's write cap */
    uint32_t header_timeout_ms; /**< a started head must be complete within it (10,000); else 408 */
    uint32_t idle_timeout_ms;   /**< keep-alive connection without a request (30,000); closed */
    uint32_t body_timeout_ms;   /**< the body-rate window (5,000)... */
    uint32_t body_min_bytes;    /**< ...in which at least this many body bytes must arrive (1,024); else 408 */
    uint32_t write_timeout_ms;  /**< queued answer bytes make no progress (30,000); reset */
    uint32_t linger_ms;         /**< lingering close: input drained at most this long (2,000) */
    keel_slice server_name;     /**< the Server field ("keel"); must be a valid field value */
    keel_http_log_fn access_log; /**< NULL (the default): no access log */
    void *log_user;              /**< handed to access_log */
    /** NULL (the default): plain HTTP. Otherwise HTTPS: every connection
     * is a TLS server handshake (keel_tls_stream, with the configuration's
     * handshake timeout) before its first request; everything above works
     * as for plain HTTP, on the plaintext (but an idle connection holds
     * mbed TLS's record buffers, about 33 KiB). A transport made from a
     * server configuration (INVALID_ARG otherwise); it must outlive the
     * server. */
    const keel_http_tls *tls;
} keel_http_server_opts;

/** Check opts, bind and start the threads. opts is copied; routes, the
 * route users, server_name, log_user and tls must outlive the server.
 * INVALID_ARG for NULL pointers, routes NULL with route_count > 0, a route
 * without handler or with a path not starting with '/', a server_name
 * that is not a field value, parser limits above KEEL_HTTP_LIMIT_CAP.
 * Otherwise as keel_server_start. */
KEEL_MUST_USE keel_result keel_http_server_start(const keel_http_server_opts *opts,
                                                 keel_http_server **out);
/** The port the server listens on. */
KEEL_MUST_USE keel_result keel_http_server_port(const keel_http_server *srv, uint16_t *port);
/** Connections currently open, over all threads (0 for NULL). */
size_t keel_http_server_connections(const keel_http_server *srv);
/** Thread-safe. Graceful shutdown: stop accepting; idle keep-alive
 * connections are closed, requests in flight are answered (with
 * Connection: close) within grace_ms, then everything left is closed.
 * Returns at once; keel_http_server_wait waits. */
void keel_http_server_shutdown(keel_http_server *srv, uint32_t grace_ms);
/** Block until the server's threads have ended (after a shutdown or a
 * signal). KEEL_ERR_STATE from one of its own threads. */
KEEL_MUST_USE keel_result keel_http_server_wait(keel_http_server *srv);
/** Shut down at once if running, wait, free. NULL: no-op. Refused (does
 * nothing) from one of the server's own threads. */
void keel_http_server_free(keel_http_server *srv);

/** Answer with status, extra header fields and a whole body (sent with
 * Content-Length; a HEAD request gets the head only). fields may not hold
 * Content-Length, Transfer-Encoding, Connection, Date or Server (keel writes
 * them). Must be called exactly once per reply, on its loop's thread; the
 * reply is gone afterwards, whatever the result.
 *  KEEL_OK: queued (or the connection closed meanwhile: nothing to send).
 *  KEEL_ERR_PARSE / INVALID_ARG: the fields or status are not what
 *    keel_http_write_response_head accepts: a 500 is sent instead.
 *  KEEL_ERR_TOO_LARGE: the answer does not fit the write queue (more
 *    than max_response bytes queued): the connection is reset.
 *  KEEL_ERR_CLOSED: the connection was gone; nothing was sent. */
KEEL_MUST_USE keel_result keel_http_reply_send(keel_http_reply *reply, uint16_t status,
                                               const keel_http_field *fields, size_t field_count,
                                               keel_slice body);
/** The loop the reply must be answered on (post to it from other threads). */
keel_loop *keel_http_reply_loop(const keel_http_reply *reply);

/** A streamed request body, piece by piece (stream_body routes), on the
 * loop thread: r KEEL_OK with a non-empty piece (valid during the call);
 * r KEEL_OK with an empty piece: the body is complete; another r: it will
 * not complete (KEEL_ERR_PARSE, KEEL_ERR_TOO_LARGE: malformed or over the
 * parser's limits; KEEL_ERR_TIMEOUT: slower than the body rate;
 * KEEL_ERR_CLOSED, KEEL_ERR_RESET: the client went away), and the answer,
 * which is still owed, ends the connection. The reply may be answered from
 * the callback; an answer before the body is complete ends the connection
 * after it (the rest of the body is drained, not delivered). */
typedef void (*keel_http_body_fn)(keel_http_reply *reply, keel_result r, keel_slice piece,
                                  void *user);
/** Set the body callback (stream_body routes; during the handler call, or
 * later). fn NULL: pieces are dropped. No effect for other routes. */
void keel_http_reply_on_body(keel_http_reply *reply, keel_http_body_fn fn, void *user);
/** Back-pressure on a streamed body: no piece is delivered (and nothing is
 * read from the connection: the kernel pushes back on the client) until
 * keel_http_reply_body_resume. The body-rate timeout does not run while
 * paused. Both may be called from the body callback. A pause asked for
 * at the body's last piece does nothing: the end call follows at once (a
 * timer set to resume must then be cancelled before answering). */
void keel_http_reply_body_pause(keel_http_reply *reply);
/** Resume a paused streamed body (pieces held meanwhile come first). */
void keel_http_reply_body_resume(keel_http_reply *reply);

/** Called on the reply's loop thread when a streamed answer's connection
 * takes more bytes again (after keel_http_reply_can_write was false). */
typedef void (*keel_http_writable_fn)(keel_http_reply *reply, void *user);

/** Start a streamed answer: the head now (status, fields as for
 * keel_http_reply_send; Transfer-Encoding: chunked, or for an HTTP/1.0
 * request a body that runs to the close), the body in pieces with
 * keel_http_reply_write, then keel_http_reply_end, which must follow (it
 * frees the reply). Status 200..599 but not 204 or 304 (INVALID_ARG).
 * KEEL_ERR_PARSE / INVALID_ARG: fields refused, nothing sent (the reply may
 * still be answered another way); KEEL_ERR_CLOSED: the connection is gone
 * (call keel_http_reply_end). STATE if already started. */
KEEL_MUST_USE keel_result keel_http_reply_start(keel_http_reply *reply, uint16_t status,
                                                const keel_http_field *fields,
                                                size_t field_count);
/** Send one piece of a started answer (a chunk; nothing for an empty piece
 * or a HEAD request). KEEL_ERR_TOO_LARGE: the connection's queue
 * (max_response) cannot take it now: nothing was sent; wait until
 * keel_http_reply_can_write is true (the callback set with
 * keel_http_reply_on_writable says when). KEEL_ERR_CLOSED: the connection
 * is gone (call keel_http_reply_end). STATE before keel_http_reply_start. */
KEEL_MUST_USE keel_result keel_http_reply_write(keel_http_reply *reply, keel_slice data);
/** Whether the connection takes more now (below its write high-water mark). */
bool keel_http_reply_can_write(const keel_http_reply *reply);
/** Set the callback told when the connection takes more again (NULL: none). */
void keel_http_reply_on_writable(keel_http_reply *reply, keel_http_writable_fn fn, void *user);
/** End a started answer (the last chunk) and free the reply: the next
 * request on the connection is read. KEEL_ERR_CLOSED if the connection was
 * gone (the reply is freed all the same). */
KEEL_MUST_USE keel_result keel_http_reply_end(keel_http_reply *reply);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_HTTP_SERVER_H */

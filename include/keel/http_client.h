/**
 * @file
 * @brief keel/http_client.h - an HTTP/1.1 client: blocking over keel/net.h
 * (with a small keep-alive pool and opt-in redirects) and async on a
 * keel_loop (keel_http_fetch); strict http:// URLs, canonical requests
 * only, responses read with keel's strict parser, timeouts, a response
 * size cap.
 *
 * Conventions (in addition to those of keel/net.h and keel/http.h):
 *  - Requests are written by keel_http_write_request_head: one framing
 *    field written by keel, CRLF only, names and values checked, so a CR,
 *    LF or NUL in a method, URL or field is refused (KEEL_ERR_PARSE) and no
 *    header or second request can be injected.
 *  - Responses are framed by Content-Length, chunked or the close of the
 *    connection; 1xx responses are skipped. Past max_response bytes the
 *    result is KEEL_ERR_TOO_LARGE and the connection is discarded.
 *  - A response owns its memory (keel_http_client_response_free); its
 *    slices are valid until then.
 *  - A keel_http_client is used by one thread at a time. It keeps up to
 *    pool_size idle keep-alive connections, one per request served, and
 *    reuses them for the same host and port; a reused connection that
 *    turns out closed before any response byte is replaced once by a new
 *    one for GET, HEAD, PUT and DELETE (idempotent) requests.
 *  - Redirects are not followed unless max_redirects says how many may be
 *    (301, 302, 303, 307, 308 with a Location that is an http:// or
 *    https:// URL, a "//authority/path" or an absolute path; anything
 *    else, one from https:// to http://, or one more than allowed, is
 *    returned as it is). 303, and 301/302 after a POST, become a GET
 *    without body; the caller's fields are sent only to the first
 *    request's scheme, host and port.
 *  - HTTPS: https:// URLs go through opts.tls (keel_http_tls_new in
 *    keel/tls.h, from a client keel_tls_config): the server's certificate
 *    is verified against the URL's host (a DNS name: mbed TLS 2.28 does
 *    not match IP addresses), and everything above works on the
 *    plaintext. A response framed by the connection's end that ends
 *    without close_notify is KEEL_ERR_TLS_TRUNCATED (it may have been cut
 *    short). Pooled connections are kept per scheme, host and port.
 */
#ifndef KEEL_HTTP_CLIENT_H
#define KEEL_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/result.h"
#include "keel/slice.h"
#include "keel/http.h"
#include "keel/loop.h"

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

/** A parsed http:// or https:// URL: views into the text parsed. */
typedef struct keel_http_url {
    keel_slice host;      /**< the host: a name, an IPv4 literal, or an IPv6 literal without brackets */
    keel_slice authority; /**< host[:port] as written (brackets kept): the Host field */
    uint16_t port;        /**< the port (80, or 443 for https, when none is written) */
    keel_slice target;    /**< path and query ("/" when the URL has no path); no fragment */
    bool https;           /**< the scheme is https */
} keel_http_url;

/** Parse an absolute http:// or https:// URL strictly: scheme "http" or
 * "https" (any case), a host (a name of letters, digits, '-', '.', '_'
 * and '~', an IPv4 literal, or an IPv6 literal in brackets), an optional
 * port 1..65535 (digits only), then an optional path and query (checked
 * when the request is written); a fragment is dropped. KEEL_ERR_PARSE for
 * anything else, including other schemes, userinfo ("user@host"), an
 * empty host or port; INVALID_ARG for NULL out or an invalid slice. */
KEEL_MUST_USE keel_result keel_http_url_parse(keel_slice url, keel_http_url *out);

/** A blocking client (opaque): options and the keep-alive pool. */
typedef struct keel_http_client keel_http_client;

/** Client options. A zero field takes the default shown. */
typedef struct keel_http_client_opts {
    uint32_t connect_timeout_ms; /**< connecting, all addresses (10,000) */
    uint32_t header_timeout_ms;  /**< from the request sent to the response head (30,000) */
    uint32_t total_timeout_ms;   /**< the whole exchange (60,000) */
    size_t max_response;         /**< response body bytes (8 MiB); more: KEEL_ERR_TOO_LARGE */
    uint32_t max_headers;        /**< response header fields (64) */
    unsigned pool_size;          /**< idle keep-alive connections kept, at most 64 (4) */
    bool no_pool;                /**< never reuse a connection (each request: Connection: close) */
    unsigned max_redirects;      /**< redirects followed, at most 20 (0, the default: none) */
    keel_http_config parser;     /**< response parser limits and leniencies (0: strict) */
    /** For https:// URLs: a transport made from a client configuration
     * (keel_http_tls_new in keel/tls.h), which must outlive the client or
     * the fetch. NULL (the default): an https:// URL is
     * KEEL_ERR_TLS_CONFIG; a transport made from a server configuration
     * is INVALID_ARG. */
    const keel_http_tls *tls;
} keel_http_client_opts;

/** A request to send. */
typedef struct keel_http_client_request {
    keel_slice method;               /**< "GET", "POST", "PUT", "DELETE", "HEAD" or another token */
    keel_slice url;                  /**< an http:// or https:// URL (keel_http_url_parse) */
    const keel_http_field *fields;   /**< extra fields (not Host, Content-Length, Transfer-Encoding, Connection) */
    size_t field_count;              /**< entries of fields */
    keel_slice body;                 /**< sent with Content-Length when non-empty, or for POST and PUT */
} keel_http_client_request;

/** A response: its head and body are views into memory it owns. */
typedef struct keel_http_client_response {
    keel_http_response head; /**< status, reason, fields (slices into the response) */
    keel_slice body;         /**< the whole body (empty for HEAD, 204, 304) */
    uint8_t *raw_;           /**< private: the bytes received */
    uint8_t *decoded_;       /**< private: a chunked body, decoded */
    keel_http_header *headers_; /**< private: the field array */
} keel_http_client_response;

/** Make a client (opts NULL: the defaults). INVALID_ARG for limits above
 * KEEL_HTTP_LIMIT_CAP, more than 4,096 headers, a pool over 64 or more than
 * 20 redirects; NO_MEMORY. */
KEEL_MUST_USE keel_result keel_http_client_new(const keel_http_client_opts *opts,
                                               keel_http_client **out);
/** Close the pooled connections and free the client. NULL: no-op. */
void keel_http_client_free(keel_http_client *c);

/** Send req and read its response into *resp (free it with
 * keel_http_client_response_free, on KEEL_OK only: on failure *resp holds
 * nothing to free). Results: KEEL_OK (any status, including 4xx/5xx);
 * KEEL_ERR_PARSE (the URL, method or a field is not canonical, or the
 * response is malformed); KEEL_ERR_INVALID_ARG (NULL pointers, invalid
 * slices, a field keel writes itself); KEEL_ERR_TOO_LARGE (the response is
 * over max_response or the parser's limits); KEEL_ERR_TIMEOUT;
 * KEEL_ERR_CLOSED (the server closed before a complete response);
 * connection errors from keel_net_connect (REFUSED, HOST_NOT_FOUND...). */
KEEL_MUST_USE keel_result keel_http_client_send(keel_http_client *c,
                                                const keel_http_client_request *req,
                                                keel_http_client_response *resp);

/** Free what a response owns and empty it. NULL: no-op. */
void keel_http_client_response_free(keel_http_client_response *resp);

/** The end of a keel_http_fetch, on the loop's thread, exactly once: r as
 * keel_http_client_send's (and KEEL_ERR_TIMEOUT for the header and total
 * deadlines, which count from the fetch's start); with KEEL_OK, resp is
 * the response, which the callee now owns (keel_http_client_response_free;
 * copy the struct to keep it), otherwise NULL. */
typedef void (*keel_http_fetch_cb)(keel_result r, keel_http_client_response *resp, void *user);

/** Async request on a loop (the async client): one connection per request
 * (Connection: close), no pool, no redirects; opts as for
 * keel_http_client_new (NULL: defaults; pool and redirect fields are
 * ignored). req is copied before this returns. A host name (not a literal)
 * is resolved inside this call, which blocks for as long as the resolver
 * takes (as keel_stream_connect). KEEL_OK: cb will be called; otherwise
 * (INVALID_ARG, PARSE for a URL, method or field that is not canonical,
 * NO_MEMORY) nothing was started and cb is never called. */
KEEL_MUST_USE keel_result keel_http_fetch(keel_loop *loop, const keel_http_client_opts *opts,
                                          const keel_http_client_request *req,
                                          keel_http_fetch_cb cb, void *user);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_HTTP_CLIENT_H */

/*
 * src/http/http_transport.h - how the HTTP server and client reach their
 * connections: plain TCP (keel_stream on the loop, keel_net blocking), or
 * TLS through a keel_http_tls (the opts.tls of keel/http_server.h and
 * keel/http_client.h).
 *
 * The TLS layer comes after http in DESIGN.md's table, so http never
 * includes keel/tls.h: src/tls/https.c makes a keel_http_tls by filling the
 * tables below with keel_tls_stream and keel_tls calls, and calls the
 * server's and the fetch's connection callbacks declared here. A
 * connection on the loop is a void * that is a keel_stream * with
 * khttp_plain_ops, or a keel_tls_stream * with a keel_http_tls's ops; both
 * have keel_stream's semantics (loop.h), plaintext for bytes.
 */
#ifndef KEEL_SRC_HTTP_TRANSPORT_H
#define KEEL_SRC_HTTP_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/http_client.h"
#include "keel/http_server.h"
#include "keel/loop.h"
#include "keel/net.h"
#include "keel/result.h"
#include "keel/slice.h"

/* keel_stream's calls, on a connection of either kind. */
typedef struct khttp_stream_ops {
    keel_result (*write)(void *s, keel_slice data);
    bool (*can_write)(const void *s);
    size_t (*queued)(const void *s);
    void (*read_stop)(void *s);
    void (*read_start)(void *s);
    keel_result (*shutdown)(void *s);
    void (*close)(void *s);
    void (*abort)(void *s);
    void (*set_user)(void *s, void *user);
    keel_loop *(*loop)(const void *s);
} khttp_stream_ops;

/* The plain keel_stream's (src/http/transport.c). */
extern const khttp_stream_ops khttp_plain_ops;

/* What a keel_http_tls is (keel_http_tls_new, src/tls/https.c). */
struct keel_http_tls {
    const void *cfg; /* the keel_tls_config */
    bool server;     /* cfg's role is KEEL_TLS_SERVER */
    const khttp_stream_ops *ops;
    /* Server: keel_server_start with TLS connections. base has everything
     * but handlers, stream_opts and on_accept: the connections call the
     * khttp_server_* callbacks below with base->user. *state (freed with
     * server_state_free after the keel_server) holds what must outlive
     * the server. */
    keel_result (*server_start)(const keel_http_tls *t, const keel_server_opts *base,
                                const keel_stream_opts *sopts, void **state, keel_server **out);
    void (*server_state_free)(void *state);
    /* Async client: connect to host:port and handshake, verifying host;
     * the connection calls the khttp_fetch_* callbacks with user. */
    keel_result (*connect)(const keel_http_tls *t, keel_loop *loop, keel_slice host,
                           uint16_t port, uint32_t timeout_ms, void *user, void **out);
    /* Blocking client: a session over a connected net (handshake within
     * timeout_ms, verifying host), its I/O, its end (close_notify without
     * waiting, then freed; net is the caller's). recv is keel_tls_recv. */
    keel_result (*session_open)(const keel_http_tls *t, keel_net *net, keel_slice host,
                                uint32_t timeout_ms, void **out);
    keel_result (*session_send)(void *sess, keel_slice data, uint32_t timeout_ms);
    keel_result (*session_recv)(void *sess, keel_buf *into, uint32_t timeout_ms, size_t *got);
    void (*session_free)(void *sess);
};

/* The server's connection callbacks (src/http/server.c), for a connection
 * of either kind: keel_stream_handlers' meanings; user is what the
 * connection carries (the keel_http_server until on_accept sets its own).
 * A TLS connection's TLS_TRUNCATED arrives as CLOSED. */
size_t khttp_server_on_read(void *s, keel_result r, keel_slice data, void *user);
void khttp_server_on_writable(void *s, keel_result r, bool can_write, void *user);
void khttp_server_on_close(void *s, keel_result r, void *user);
void khttp_server_on_accept(void *s, void *user);
void khttp_server_on_shutdown(keel_loop *loop, void *user);

/* The async fetch's connection callbacks (src/http/client.c). For a TLS
 * connection r may be TLS_TRUNCATED: the end of the stream, where a
 * response that needs more bytes is cut short. */
size_t khttp_fetch_on_read(void *s, keel_result r, keel_slice data, void *user);
void khttp_fetch_on_close(void *s, keel_result r, void *user);

#endif /* KEEL_SRC_HTTP_TRANSPORT_H */

/**
 * @file
 * @brief keel/tls.h - TLS through mbed TLS 2.28, with keel as its transport:
 * blocking over a keel_net, and non-blocking on the loop over a keel_stream.
 *
 * Built only when keel was configured with mbed TLS (KEEL_HAS_TLS is 1 in
 * keel/version.h): without it, this header's functions are not in the
 * library. mbed TLS does every cryptographic operation; keel moves its
 * records over keel sockets, maps its results to keel_result both ways and
 * chooses the settings.
 *
 * Conventions (besides keel.h's):
 *  - A keel_tls_config holds what every connection of one side shares:
 *    role, trusted CAs, own certificate chain and key, the random
 *    generator. It is immutable once made and may be shared by any number
 *    of connections on any number of threads (mbed TLS's generator locks
 *    itself). It must outlive every connection made with it. Make it after
 *    fork(), not before: a copied generator repeats its output.
 *  - Safe defaults, not options: TLS 1.2 exactly (mbed TLS 2.28's TLS 1.3
 *    is experimental and not built by Debian), forward-secret AEAD cipher
 *    suites only (ECDHE with ECDSA or RSA certificates, AES-GCM or
 *    ChaCha20-Poly1305), curves x25519, P-256 and P-384, no renegotiation,
 *    no session resumption, no compression. A client verifies the server's
 *    chain against its CAs and the host name it was given, and refuses
 *    the connection otherwise (KEEL_ERR_TLS_VERIFY). Turning verification
 *    off is one explicitly named, documented field.
 *  - Every failure is a keel_result: the transport's own results
 *    (KEEL_ERR_TIMEOUT, KEEL_ERR_RESET, KEEL_ERR_CLOSED...) pass through
 *    unchanged, and mbed TLS's failures become one of KEEL_ERR_TLS_CONFIG,
 *    _HANDSHAKE, _VERIFY, _ALERT, _PROTOCOL, _TRUNCATED (keel/result.h) or
 *    KEEL_ERR_NO_MEMORY, with mbed TLS's own (negative) error code kept per
 *    context (keel_tls_last_mbedtls_error, keel_tls_stream_last_mbedtls_error)
 *    and its certificate verification flags too.
 *  - Orderly end: KEEL_ERR_CLOSED means the peer sent close_notify;
 *    KEEL_ERR_TLS_TRUNCATED means the transport ended without one, so an
 *    attacker may have cut the data short: trust only what the application
 *    protocol framed itself (lengths, terminators).
 *  - Fatal errors are sticky: after one, every call on that connection
 *    returns it.
 *  - Memory: mbed TLS holds about 33 KiB per connection (its input and
 *    output record buffers) besides keel's own bounded buffers.
 *  - Exceptions to "no pointer and length pair": keel_tls_bio_send,
 *    keel_tls_bio_recv and keel_tls_bio_recv_timeout have exactly the
 *    types mbedtls_ssl_set_bio() takes and return mbed TLS's int codes:
 *    they exist to be handed to mbed TLS, for programs that drive mbed TLS
 *    themselves over a keel_net.
 */
#ifndef KEEL_TLS_H
#define KEEL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/result.h"
#include "keel/slice.h"
#include "keel/addr.h"
#include "keel/net.h"
#include "keel/loop.h"
#include "keel/http_server.h"
#include "keel/http_client.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* ---- configuration ----------------------------------------------------- */

/** Which side of the handshake a configuration is for. */
typedef enum keel_tls_role {
    KEEL_TLS_CLIENT = 0, /**< connects, verifies the server */
    KEEL_TLS_SERVER = 1  /**< accepts, presents a certificate chain */
} keel_tls_role;

/** What keel_tls_config_new reads. Paths are slices (no NUL needed, at most
 * 4095 bytes); an empty slice means "not given". In-memory PEM or DER bytes
 * may be given instead of (or besides) a file; both are loaded. */
typedef struct keel_tls_config_opts {
    keel_tls_role role; /**< client or server */
    /** Trusted CA certificates (PEM or DER), file or directory: a client
     * needs at least one unless verify_none is set; a server given any
     * requires and verifies a client certificate (mutual TLS). A directory
     * is loaded file by file; files that are not certificates are skipped,
     * but at least one must load. */
    keel_slice ca_file;
    keel_slice ca_dir;   /**< see ca_file */
    keel_slice ca_pem;   /**< see ca_file: the certificates' bytes */
    /** Own certificate chain (leaf first) and its private key: required
     * for a server, optional for a client (a client certificate). The key
     * must be unencrypted and match the leaf (KEEL_ERR_TLS_CONFIG). */
    keel_slice cert_file;
    keel_slice key_file; /**< see cert_file */
    keel_slice cert_pem; /**< see cert_file: the chain's bytes */
    keel_slice key_pem;  /**< see cert_file: the key's bytes */
    /** Client only, DANGEROUS: do not verify the server at all (any
     * certificate, any name is accepted, so anyone on the path can read and
     * change the traffic). For tests against throw-away certificates. */
    bool verify_none;
    /** Loop only (keel_tls_stream): the handshake must finish within this
     * many ms of its start, or the connection fails with KEEL_ERR_TIMEOUT.
     * 0: 10,000. (The blocking calls take their own deadline.) */
    uint32_t handshake_timeout_ms;
} keel_tls_config_opts;

/** A TLS configuration (opaque): see the conventions above. */
typedef struct keel_tls_config keel_tls_config;

/** Make a configuration from opts: load the CAs, the chain and the key,
 * seed the random generator (mbed TLS's entropy collector, which reads the
 * kernel's getrandom(2) or /dev/urandom), apply keel's settings.
 * INVALID_ARG for a NULL pointer, an invalid slice, an unknown role, a
 * server without a chain and key, a client without CAs (and without
 * verify_none), a key without a chain or the reverse, a path of 4096 bytes
 * or more or containing a NUL; TLS_CONFIG when a file cannot be read or
 * parsed, a key does not match, or seeding fails; NO_MEMORY.
 * *mbedtls_error (may be NULL) is written on every call: mbed TLS's error
 * code behind a TLS_CONFIG or NO_MEMORY, 0 otherwise. */
KEEL_MUST_USE keel_result keel_tls_config_new(const keel_tls_config_opts *opts,
                                              keel_tls_config **out, int *mbedtls_error);
/** Release a configuration no connection uses any more. NULL is fine. */
void keel_tls_config_free(keel_tls_config *cfg);
/** The role cfg was made for (KEEL_TLS_CLIENT if cfg is NULL). */
keel_tls_role keel_tls_config_role(const keel_tls_config *cfg);

/* ---- diagnostics ------------------------------------------------------- */

/** Append mbed TLS's description of one of its error codes (as kept by
 * keel_tls_last_mbedtls_error) to out, without a NUL. INVALID_ARG for an
 * invalid buf; TOO_LARGE (out unchanged) if it does not fit. */
KEEL_MUST_USE keel_result keel_tls_error_text(int mbedtls_error, keel_buf *out);
/** Append mbed TLS's description of certificate verification flags (as
 * kept by keel_tls_verify_flags), one reason per line, to out, without a
 * NUL; nothing for 0. INVALID_ARG for an invalid buf; TOO_LARGE (out
 * unchanged) if it does not fit. */
KEEL_MUST_USE keel_result keel_tls_verify_text(uint32_t flags, keel_buf *out);

/* ---- blocking TLS over a keel_net --------------------------------------- */

/** A TLS session over a keel_net (opaque). It uses the keel_net, never owns
 * it: close the socket yourself after the session. */
typedef struct keel_tls keel_tls;

/** Allocate a context without a session. NO_MEMORY. */
KEEL_MUST_USE keel_result keel_tls_init(keel_tls **out);
/** End the session, if any, without sending anything (see
 * keel_tls_close_notify), and forget its errors: tls can connect or accept
 * again. The keel_net is not touched. Idempotent; NULL is fine. */
void keel_tls_close(keel_tls *tls);
/** keel_tls_close, then release. NULL is fine. */
void keel_tls_free(keel_tls *tls);

/** Handshake as a client over net (an open TCP context, blocking or not:
 * keel waits for it as needed) within timeout_ms (KEEL_FOREVER: no
 * deadline). server_name is the host name to verify the certificate
 * against (and to send as SNI): required unless cfg has verify_none; at
 * most 255 bytes, no NUL. mbed TLS 2.28 matches DNS names (and the
 * subject's CN) only: to reach a server by address, give the DNS name
 * its certificate carries. INVALID_ARG for a NULL pointer, an invalid
 * slice, a server configuration, a missing or unusable name; STATE if
 * tls already has a session or net is not open. Failures: the
 * transport's results, TLS_HANDSHAKE, TLS_VERIFY, TLS_ALERT, NO_MEMORY;
 * the session is then over (keel_tls_close makes tls reusable). */
KEEL_MUST_USE keel_result keel_tls_connect(keel_tls *tls, const keel_tls_config *cfg,
                                           keel_net *net, keel_slice server_name,
                                           uint32_t timeout_ms);
/** Handshake as a server over net (an accepted TCP context) within
 * timeout_ms. As keel_tls_connect otherwise (a client configuration is
 * INVALID_ARG). */
KEEL_MUST_USE keel_result keel_tls_accept(keel_tls *tls, const keel_tls_config *cfg,
                                          keel_net *net, uint32_t timeout_ms);

/** Send every byte of data within timeout_ms, in records of at most 16 KiB.
 * *sent (may be NULL) is written on success AND on failure with the count
 * the transport has taken whole; after TIMEOUT the rest can be sent by
 * calling again with the bytes from *sent on (which must start with the
 * same bytes: a record may be half-sent). STATE without a session.
 * Failures: TIMEOUT, the transport's results, TLS_PROTOCOL, NO_MEMORY. */
KEEL_MUST_USE keel_result keel_tls_send(keel_tls *tls, keel_slice data, uint32_t timeout_ms,
                                        size_t *sent);
/** Receive at least one byte into the spare room of into (appending),
 * within timeout_ms. *received (may be NULL) gets the count. TOO_LARGE
 * (nothing read) if into has no spare room; CLOSED when the peer sent
 * close_notify; TLS_TRUNCATED when the transport ended without it;
 * TIMEOUT (not fatal: call again); TLS_PROTOCOL, TLS_ALERT, the
 * transport's results. STATE without a session. */
KEEL_MUST_USE keel_result keel_tls_recv(keel_tls *tls, keel_buf *into, uint32_t timeout_ms,
                                        size_t *received);
/** Tell the peer we will send nothing more (a close_notify alert), within
 * timeout_ms. Afterwards keel_tls_send is STATE; keel_tls_recv still works
 * until the peer's own close_notify (CLOSED). OK if already sent. STATE
 * without a session. */
KEEL_MUST_USE keel_result keel_tls_close_notify(keel_tls *tls, uint32_t timeout_ms);

/** mbed TLS's error code behind tls's last failure (0 if none or tls is
 * NULL). For a failure of the transport it is the MBEDTLS_ERR_NET_* or
 * MBEDTLS_ERR_SSL_TIMEOUT code keel's callback handed mbed TLS (the
 * keel_result itself is what the call returned). */
int keel_tls_last_mbedtls_error(const keel_tls *tls);
/** mbed TLS's certificate verification flags of the last handshake (0 when
 * the peer was verified, or not verified at all, or tls is NULL): why a
 * TLS_VERIFY failure happened (keel_tls_verify_text describes them). */
uint32_t keel_tls_verify_flags(const keel_tls *tls);
/** @{ */
/** The protocol version ("TLSv1.2") and cipher suite
 * ("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256") of the session: static
 * strings, never NULL ("" without a finished handshake). */
const char *keel_tls_version(const keel_tls *tls);
const char *keel_tls_cipher(const keel_tls *tls);
/** @} */

/** @{ */
/** mbed TLS's transport callbacks over a keel_net, for
 * mbedtls_ssl_set_bio(&ssl, net, keel_tls_bio_send, keel_tls_bio_recv,
 * keel_tls_bio_recv_timeout) with ctx a keel_net *: mbed TLS then runs on
 * keel exactly as on its own net_sockets. They return what mbed TLS
 * expects: a byte count (recv: 0 at end of stream), or
 * MBEDTLS_ERR_SSL_WANT_READ / _WANT_WRITE when a non-blocking context
 * cannot proceed, MBEDTLS_ERR_SSL_TIMEOUT when recv_timeout's deadline
 * passes (timeout 0 waits without one, as in mbed TLS),
 * MBEDTLS_ERR_NET_CONN_RESET when the peer reset the connection,
 * MBEDTLS_ERR_NET_SEND_FAILED / _RECV_FAILED for other failures (the
 * errno is in keel_net_last_os_error), MBEDTLS_ERR_NET_INVALID_CONTEXT for
 * a NULL or closed context or a NULL buffer. EINTR is retried inside
 * keel; SIGPIPE never happens. A count larger than INT_MAX is cut to
 * INT_MAX. */
int keel_tls_bio_send(void *ctx, const unsigned char *buf, size_t len);
int keel_tls_bio_recv(void *ctx, unsigned char *buf, size_t len);
int keel_tls_bio_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t timeout_ms);
/** @} */

/* ---- TLS on the loop ------------------------------------------------------ */

/** A TLS connection on a loop (opaque): a keel_stream underneath, carrying
 * the records. It has the shape of keel_stream: the same handlers, caps,
 * back-pressure and closing rules, with plaintext in place of bytes. */
typedef struct keel_tls_stream keel_tls_stream;

/** What a TLS stream calls, on the loop's thread. Each field has the
 * meaning of its keel_stream_handlers namesake, for plaintext: */
typedef struct keel_tls_stream_handlers {
    /** r == KEEL_OK: data holds every unconsumed plaintext byte received so
     *   far (at least one new); return how many from its front are consumed.
     * r == KEEL_ERR_CLOSED: the peer sent close_notify: nothing more will
     *   come; writing is still possible until the stream is closed. Last
     *   on_read call.
     * r == KEEL_ERR_TLS_TRUNCATED: the transport ended (EOF) without
     *   close_notify: as CLOSED, but the data may have been cut short.
     * Otherwise the stream failed (TOO_LARGE: read_cap unconsumed bytes
     *   and none consumed; TIMEOUT; RESET; TLS_PROTOCOL; TLS_ALERT...): data
     *   holds the unconsumed bytes, the return value is ignored, on_close
     *   follows. */
    size_t (*on_read)(keel_tls_stream *t, keel_result r, keel_slice data, void *user);
    /** Back-pressure of the encrypted output (keel_stream's). May be NULL. */
    void (*on_writable)(keel_tls_stream *t, keel_result r, bool can_write, void *user);
    /** The connection is ready for data (the TCP connect, if any, and the
     * handshake are done): KEEL_OK; or why it failed (REFUSED, TIMEOUT,
     * TLS_VERIFY, TLS_HANDSHAKE, TLS_ALERT, CLOSED...: on_close follows,
     * and on_read is not called). May be NULL. */
    void (*on_handshake)(keel_tls_stream *t, keel_result r, void *user);
    /** Exactly once, last: KEEL_OK after a local close or abort, otherwise
     * the error that ended the stream. t is freed when it returns. May be
     * NULL. */
    void (*on_close)(keel_tls_stream *t, keel_result r, void *user);
} keel_tls_stream_handlers;

/** Connect to host:port (as keel_stream_connect) and handshake as a
 * client, verifying the server against server_name (see keel_tls_connect;
 * empty: host is used). timeout_ms bounds the TCP connect; the handshake
 * has cfg's handshake timeout. handlers, opts and cfg are kept by pointer
 * and must outlive the stream. Plaintext written before the handshake is
 * done is queued (within write_cap) and sent after it. INVALID_ARG for a
 * NULL pointer, a server cfg, no on_read, bad opts, an unusable name. */
KEEL_MUST_USE keel_result keel_tls_stream_connect(keel_loop *loop, const keel_tls_config *cfg,
                                                  keel_slice host, uint16_t port,
                                                  keel_slice server_name, uint32_t timeout_ms,
                                                  const keel_tls_stream_handlers *handlers,
                                                  const keel_stream_opts *opts, void *user,
                                                  keel_tls_stream **out);
/** Take over a connected TCP socket (freed on success; left to the caller
 * on failure) and handshake on it in cfg's role. server_name: for a
 * client, the name to verify (required unless cfg has verify_none, as in
 * keel_tls_connect); ignored for a server. */
KEEL_MUST_USE keel_result keel_tls_stream_adopt(keel_loop *loop, const keel_tls_config *cfg,
                                                keel_net *sock, keel_slice server_name,
                                                const keel_tls_stream_handlers *handlers,
                                                const keel_stream_opts *opts, void *user,
                                                keel_tls_stream **out);

/** Encrypt and send data, queueing what the socket does not take now.
 * KEEL_OK: all of it is sent or queued (copied). TOO_LARGE: its records
 * would take the queue past write_cap (nothing was sent or queued). STATE
 * after shutdown or close. A failed stream returns its error (sticky). */
KEEL_MUST_USE keel_result keel_tls_stream_write(keel_tls_stream *t, keel_slice data);
/** False between an on_writable(false) and the following on_writable(true). */
bool keel_tls_stream_can_write(const keel_tls_stream *t);
/** Bytes not yet taken by the socket: encrypted records queued, and
 * plaintext waiting for the handshake (0 if t is NULL). */
size_t keel_tls_stream_queued(const keel_tls_stream *t);
/** @{ */
/** Pause/resume delivering plaintext (and reading the socket). Records
 * already received are kept and delivered after read_start. */
void keel_tls_stream_read_stop(keel_tls_stream *t);
void keel_tls_stream_read_start(keel_tls_stream *t);
/** @} */
/** Half-close: send close_notify (after anything queued), then FIN;
 * reading continues. */
KEEL_MUST_USE keel_result keel_tls_stream_shutdown(keel_tls_stream *t);
/** Orderly close: stop reading, send what is queued and close_notify, then
 * close (as keel_stream_close; during the handshake, queued plaintext is
 * sent once it is done); on_close(KEEL_OK). */
void keel_tls_stream_close(keel_tls_stream *t);
/** Abortive close: nothing more is sent, the connection is reset;
 * on_close(KEEL_OK). */
void keel_tls_stream_abort(keel_tls_stream *t);

/** @{ */
/** The user pointer handed to t's handlers: set it / read it. */
void keel_tls_stream_set_user(keel_tls_stream *t, void *user);
void *keel_tls_stream_user(const keel_tls_stream *t);
/** @} */
/** The loop t runs on (NULL if t is NULL). */
keel_loop *keel_tls_stream_loop(const keel_tls_stream *t);
/** The peer's address. STATE while connecting or once the stream is dead. */
KEEL_MUST_USE keel_result keel_tls_stream_peer_addr(const keel_tls_stream *t, keel_addr *out);
/** True once the handshake has finished. */
bool keel_tls_stream_handshake_done(const keel_tls_stream *t);
/** As keel_tls_last_mbedtls_error, for t. */
int keel_tls_stream_last_mbedtls_error(const keel_tls_stream *t);
/** As keel_tls_verify_flags, for t. */
uint32_t keel_tls_stream_verify_flags(const keel_tls_stream *t);
/** @{ */
/** As keel_tls_version / keel_tls_cipher, for t. */
const char *keel_tls_stream_version(const keel_tls_stream *t);
const char *keel_tls_stream_cipher(const keel_tls_stream *t);
/** @} */

/* ---- TLS servers on the loop -------------------------------------------- */

/** What keel_tls_listener_start and keel_tls_server_start add to a plain
 * listener or server. Kept by pointer: it must outlive them. */
typedef struct keel_tls_server_opts {
    const keel_tls_config *config;              /**< a server configuration */
    const keel_tls_stream_handlers *handlers;   /**< every connection's handlers */
    /** Every connection's limits and timeouts (keel_stream's, applied to
     * the encrypted stream; read_cap also caps unconsumed plaintext).
     * NULL: defaults. */
    const keel_stream_opts *stream_opts;
    /** Called on the accepting loop's thread for every new connection
     * (before its handshake: on_handshake tells when it is done) with
     * r == KEEL_OK, where the stream's user pointer may be set (it starts
     * as `user` below); or with t NULL and r saying why a connection could
     * not be taken (NO_MEMORY...; listeners only report accept failures
     * too, as keel_accept_cb). May be NULL. */
    void (*on_accept)(keel_tls_stream *t, keel_result r, void *user);
    void *user; /**< handed to on_accept, on_shutdown and, at first, to the handlers */
    /** keel_tls_server_start only: keel_server_opts.on_shutdown's call
     * (a graceful shutdown reached a loop), with user above. May be NULL. */
    void (*on_shutdown)(keel_loop *loop, void *user);
} keel_tls_server_opts;

/** keel_listener_start for TLS: accept on sock (taken over on success) and
 * run a server handshake on each connection. The result is a plain
 * keel_listener (keel_listener_port, keel_listener_close). */
KEEL_MUST_USE keel_result keel_tls_listener_start(keel_loop *loop, keel_net *sock,
                                                  const keel_tls_server_opts *tls,
                                                  keel_listener **out);
/** keel_server_start for TLS: base gives everything but the connections'
 * handlers, stream_opts, on_accept, on_shutdown and user, which must be
 * NULL there (INVALID_ARG otherwise): they come from tls. The result is a plain keel_server
 * (keel_server_port, _shutdown, _wait, _free). When the server's grace
 * period ends it closes the connections left at the TCP level: those get
 * no close_notify (their peers see TLS_TRUNCATED). */
KEEL_MUST_USE keel_result keel_tls_server_start(const keel_server_opts *base,
                                                const keel_tls_server_opts *tls,
                                                keel_server **out);

/* ---- HTTPS ---------------------------------------------------------------- */

/** Make the TLS transport that keel's HTTP server and client take in
 * their opts.tls (keel/http_server.h, keel/http_client.h): with a server
 * configuration, keel_http_server_start serves HTTPS (every connection a
 * keel_tls_stream, handshaking under cfg's handshake timeout before its
 * first request); with a client one, keel_http_client_send and
 * keel_http_fetch take https:// URLs (the server verified against the
 * URL's host: a DNS name, see keel_tls_connect; a response whose end is
 * the connection's end and that ends without close_notify is
 * TLS_TRUNCATED). cfg is kept by pointer and must outlive *out, which
 * must outlive every server, client and fetch given it. INVALID_ARG for a
 * NULL pointer; NO_MEMORY. */
KEEL_MUST_USE keel_result keel_http_tls_new(const keel_tls_config *cfg, keel_http_tls **out);
/** Release a transport nothing uses any more. NULL is fine. */
void keel_http_tls_free(keel_http_tls *t);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_TLS_H */

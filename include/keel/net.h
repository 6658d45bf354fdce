/**
 * @file
 * @brief keel/net.h - the socket layer: TCP and UDP over IPv4 and IPv6, in the
 * shape of mbed TLS's net_sockets module, with the socket state private.
 *
 * Conventions:
 *  - keel_net is an opaque context owning at most one descriptor. Create it
 *    with keel_net_init (it starts closed), open it with connect / bind /
 *    accept, close it with keel_net_close (idempotent: closing a closed
 *    context, or NULL, does nothing) and release it with keel_net_free
 *    (closes first; NULL is fine). A closed context can be opened again.
 *  - Timeouts are in milliseconds. 0 means "do not wait" (poll once) and
 *    KEEL_FOREVER means "no deadline". A deadline covers the whole call,
 *    across EINTR retries and partial progress.
 *  - EINTR is retried inside every call. SIGPIPE never reaches the process
 *    (MSG_NOSIGNAL on every send; no signal handler is installed).
 *    Descriptors are close-on-exec.
 *  - Received bytes are appended to a keel_buf's spare room; a buf with no
 *    spare room is KEEL_ERR_TOO_LARGE. Nothing that arrived is ever dropped:
 *    on a failure after partial progress the bytes that did arrive stay in
 *    the buf (its len tells how many).
 *  - The errno behind a context's last failure is kept
 *    (keel_net_last_os_error). Fatal connection errors are sticky: after
 *    KEEL_ERR_RESET, send and recv on that context keep returning it.
 *  - A context may be used by one thread at a time; different contexts are
 *    independent.
 */
#ifndef KEEL_NET_H
#define KEEL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/addr.h"
#include "keel/result.h"
#include "keel/slice.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** A socket context (opaque): owns at most one descriptor. */
typedef struct keel_net keel_net;

/** The transport of a context. */
typedef enum keel_proto {
    KEEL_PROTO_TCP = 0, /**< TCP (stream) */
    KEEL_PROTO_UDP = 1  /**< UDP (datagrams) */
} keel_proto;

/** Wait without deadline. */
#define KEEL_FOREVER UINT32_MAX

/** Readiness bit for keel_net_poll: readable. */
#define KEEL_POLL_READ 1u
/** Readiness bit for keel_net_poll: writable. */
#define KEEL_POLL_WRITE 2u

/** Which direction keel_net_shutdown ends. */
typedef enum keel_shutdown_how {
    KEEL_SHUT_RD = 0,  /**< receiving */
    KEEL_SHUT_WR = 1,  /**< sending (the peer reads EOF) */
    KEEL_SHUT_RDWR = 2 /**< both */
} keel_shutdown_how;

/** IPV6_V6ONLY for an IPv6 bind. */
typedef enum keel_v6only {
    KEEL_V6ONLY_DEFAULT = 0, /**< keel's default: dual-stack for "::" */
    KEEL_V6ONLY_ON = 1,      /**< IPv6 only */
    KEEL_V6ONLY_OFF = 2      /**< IPv4-mapped addresses too */
} keel_v6only;

/** Options of keel_net_bind_opts. */
typedef struct keel_bind_opts {
    keel_slice ip;        /**< numeric literal; empty = any address ("::" dual stack,
                             falling back to "0.0.0.0" without IPv6) */
    uint16_t port;        /**< 0 = let the system choose (see keel_net_local_addr) */
    keel_proto proto;     /**< TCP or UDP */
    int backlog;          /**< TCP listen backlog; <= 0 means keel's default (128) */
    bool no_reuseaddr;    /**< SO_REUSEADDR is on unless this is set */
    bool reuseport;       /**< SO_REUSEPORT */
    keel_v6only v6only;   /**< IPV6_V6ONLY for IPv6 addresses */
} keel_bind_opts;

/* ---- lifetime --------------------------------------------------------- */

/** Allocate a closed context. NO_MEMORY if allocation fails. */
KEEL_MUST_USE keel_result keel_net_init(keel_net **out);
/** Close the descriptor if open (idempotent; NULL is fine). The context
 * keeps its last OS error and can be reopened. */
void keel_net_close(keel_net *ctx);
/** Close and release. NULL is fine. */
void keel_net_free(keel_net *ctx);
/** True while the context owns an open descriptor. */
bool keel_net_is_open(const keel_net *ctx);

/* ---- opening ---------------------------------------------------------- */

/** Connect to host:port. host is a numeric literal or a name; every resolved
 * address is tried in turn until one connects, within one overall deadline.
 * For UDP the socket is connected (send/recv talk to that peer only).
 * The context is left blocking. STATE if ctx is already open. Errors:
 * HOST_NOT_FOUND, REFUSED, TIMEOUT, RESET, NO_MEMORY, OS. */
KEEL_MUST_USE keel_result keel_net_connect(keel_net *ctx, keel_slice host, uint16_t port,
                                           keel_proto proto, uint32_t timeout_ms);
/** Bind (and for TCP, listen). STATE if ctx is already open; ADDR_IN_USE;
 * PARSE if opts->ip is not a numeric literal. */
KEEL_MUST_USE keel_result keel_net_bind_opts(keel_net *ctx, const keel_bind_opts *opts);
/** Shorthand: default options with this ip / port / proto. */
KEEL_MUST_USE keel_result keel_net_bind(keel_net *ctx, keel_slice ip, uint16_t port,
                                        keel_proto proto);
/** Accept one client into the closed context client; *peer (may be NULL)
 * receives the client's address. Honours the listener's blocking mode
 * (WOULD_BLOCK). STATE if listener is not bound or client is open.
 *
 * For TCP: accept(2).
 *
 * For UDP: waits for a datagram; its sender P is the client. client gets a
 * socket of its own, bound to the listener's address and connected to P,
 * so the kernel delivers P's later datagrams to it and nobody else's; the
 * listener keeps its socket and goes on receiving the other senders.
 * Datagrams that arrived before that socket was connected are moved in
 * memory so that each lands with its sender:
 *  - P's first datagram, and every other datagram from P queued on the
 *    listener, are held by client, in order: its receive calls
 *    (keel_net_recv, _recv_timeout, _recv_exact, _recvfrom) return them
 *    before reading the socket, keel_net_poll reports them readable, and
 *    keel_net_pending counts them;
 *  - other senders' datagrams queued on the listener stay with it, held
 *    in memory when they had to be read to reach P's (the listener's next
 *    keel_net_accept or keel_net_recvfrom returns them first);
 *  - a datagram of another sender that reached the client's socket in the
 *    moment between its bind and its connect goes back to the listener.
 * So no datagram reaches another sender's context (mbed TLS hands the
 * listener's own socket to the client, with the other senders' queued
 * datagrams on it). A context holds at most as many
 * bytes (each datagram counting 64 bytes more than its length) as the
 * listener's receive buffer (SO_RCVBUF); past that a datagram is dropped,
 * as a full receive buffer drops it.
 * The client's socket shares the listener's address, so the listener must
 * have been bound with SO_REUSEADDR (the default) or reuseport; otherwise
 * ADDR_IN_USE. On a failure (ADDR_IN_USE, NO_MEMORY...) client stays
 * closed and no datagram is lost: the first one is held by the listener. */
KEEL_MUST_USE keel_result keel_net_accept(keel_net *listener, keel_net *client, keel_addr *peer);

/* ---- modes ------------------------------------------------------------ */

/** Make the context non-blocking (calls return KEEL_ERR_WOULD_BLOCK instead
 * of waiting) or blocking again. */
KEEL_MUST_USE keel_result keel_net_set_nonblocking(keel_net *ctx, bool nonblocking);
/** TCP_NODELAY on TCP contexts. */
KEEL_MUST_USE keel_result keel_net_set_nodelay(keel_net *ctx, bool on);
/** SO_SNDBUF / SO_RCVBUF (0 leaves that one unchanged). */
KEEL_MUST_USE keel_result keel_net_set_buffer_sizes(keel_net *ctx, size_t sndbuf, size_t rcvbuf);
/** Wait until ctx is ready for any of `want` (KEEL_POLL_READ|KEEL_POLL_WRITE)
 * using poll(2) (any descriptor number works). *ready gets the ready subset
 * (an error or hang-up condition counts as ready for both). TIMEOUT if
 * nothing became ready in time. */
KEEL_MUST_USE keel_result keel_net_poll(keel_net *ctx, unsigned want, uint32_t timeout_ms,
                                        unsigned *ready);
/** shutdown(2): end one or both directions of a connected socket; the
 * context stays open until keel_net_close. */
KEEL_MUST_USE keel_result keel_net_shutdown(keel_net *ctx, keel_shutdown_how how);

/* ---- data ------------------------------------------------------------- */

/** One send(2): *sent gets the count written (possibly fewer than data.len).
 * WOULD_BLOCK on a non-blocking context that cannot take any byte now.
 * RESET if the peer is gone. For UDP, one datagram (all or error):
 * TOO_LARGE if it is longer than UDP or the path allows (EMSGSIZE, kept
 * for keel_net_last_os_error), as for every keel call that sends one. */
KEEL_MUST_USE keel_result keel_net_send(keel_net *ctx, keel_slice data, size_t *sent);
/** Send every byte, waiting for writability as needed (works on blocking and
 * non-blocking contexts) within timeout_ms. *sent (may be NULL) is written
 * on success AND on failure with the count that was written, so a caller
 * can resume. */
KEEL_MUST_USE keel_result keel_net_send_all(keel_net *ctx, keel_slice data, uint32_t timeout_ms,
                                            size_t *sent);
/** One recv(2) into the spare room of into, appending. *received (may be
 * NULL) gets the count. CLOSED on orderly EOF (TCP), WOULD_BLOCK on a
 * non-blocking context with nothing to read. For a UDP context a datagram
 * larger than the spare room is TRUNCATED and stays queued. */
KEEL_MUST_USE keel_result keel_net_recv(keel_net *ctx, keel_buf *into, size_t *received);
/** recv with a deadline (whatever the blocking mode): TIMEOUT if nothing
 * arrives in time. */
KEEL_MUST_USE keel_result keel_net_recv_timeout(keel_net *ctx, keel_buf *into,
                                                uint32_t timeout_ms, size_t *received);
/** Append exactly n bytes to into, within one deadline. TOO_LARGE (nothing
 * read) if into has less than n spare bytes. On CLOSED / TIMEOUT / RESET
 * the bytes that did arrive remain appended. */
KEEL_MUST_USE keel_result keel_net_recv_exact(keel_net *ctx, keel_buf *into, size_t n,
                                              uint32_t timeout_ms);
/** UDP: send one datagram to `to` (the context must be bound or connected;
 * an unconnected UDP context may also be opened by binding). TOO_LARGE if
 * it is longer than UDP or the path allows (EMSGSIZE). */
KEEL_MUST_USE keel_result keel_net_sendto(keel_net *ctx, keel_slice data, const keel_addr *to);
/** UDP: receive one datagram into the spare room of into within timeout_ms,
 * with its sender in *from (may be NULL). A datagram larger than the spare
 * room is TRUNCATED: it is NOT consumed, into is unchanged, and *received
 * gets the datagram's real size so the caller can offer more room. */
KEEL_MUST_USE keel_result keel_net_recvfrom(keel_net *ctx, keel_buf *into, uint32_t timeout_ms,
                                            keel_addr *from, size_t *received);

/* ---- introspection ---------------------------------------------------- */

/** @{ */
/** The local / the peer's address of an open context (getsockname(2) /
 * getpeername(2)). STATE if ctx is closed. */
KEEL_MUST_USE keel_result keel_net_local_addr(const keel_net *ctx, keel_addr *out);
KEEL_MUST_USE keel_result keel_net_peer_addr(const keel_net *ctx, keel_addr *out);
/** @} */
/** The descriptor, for use with an external event loop (keel still owns it).
 * STATE if closed. A UDP context from keel_net_accept may hold datagrams
 * its descriptor does not show (keel_net_pending): read it until
 * keel_net_pending is 0 before waiting for the descriptor to be readable. */
KEEL_MUST_USE keel_result keel_net_fd(const keel_net *ctx, int *fd);
/** The errno behind this context's last failure (0 if none or ctx NULL). */
int keel_net_last_os_error(const keel_net *ctx);
/** How many datagrams the context holds in memory, which its next receive
 * calls return before reading its socket: a UDP client from keel_net_accept
 * starts with its first datagram (and any more its peer sent before the
 * accept), and a UDP listener holds other senders' datagrams an accept had
 * to read. 0 for TCP, for a closed context and for NULL. */
size_t keel_net_pending(const keel_net *ctx);
/** The protocol the context was opened with. */
keel_proto keel_net_proto(const keel_net *ctx);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_NET_H */

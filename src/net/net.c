/*
 * src/net/net.c - the socket layer (include/keel/net.h), in the shape of mbed
 * TLS's net_sockets: one private context per descriptor. Every OS call goes
 * through the syscall seam (sys.h) so tests can inject faults; every errno
 * goes through knet_errno_result; every wait is a poll(2) bounded by a
 * deadline on the monotonic clock.
 */
#include "keel/net.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "net/dgram_queue.h"
#include "net/net_internal.h"

#ifdef __FRAMAC__
/* WP only: the contracts net.c is proven against (proofs/contracts/net.h). */
#include "contracts/net.h"
#endif

#include "core/sys.h"

#define NET_DEFAULT_BACKLOG 128
/* UDP accept moves datagrams into memory (see net_accept_udp): a context
 * holds at most as many bytes as its listener's receive buffer (SO_RCVBUF),
 * or this many when that cannot be read (Linux's default). */
#define NET_HELD_DEFAULT_CAP 212992u
/* The least a queued datagram costs a receive buffer on Linux (its sk_buff
 * alone is larger): a socket holds at most SO_RCVBUF / this many. */
#define NET_MIN_DGRAM_TRUESIZE 256u
/* No UDP datagram is longer (IPv6 without jumbograms), so a spare room this
 * large cannot truncate one and the size probe can be skipped. */
#define NET_MAX_DATAGRAM 65536u

struct keel_net {
    int fd;             /* -1 when closed */
    keel_proto proto;
    keel_family family; /* of the socket, not of its peer (dual stack) */
    bool nonblocking;
    bool listening;     /* bound TCP socket in listen state */
    bool bound_udp;     /* bound, unconnected UDP socket: can accept */
    bool connected;     /* had a peer, so ENOTCONN means the link broke */
    int v6only;         /* IPV6_V6ONLY the socket was bound with */
    int last_errno;
    keel_result sticky; /* KEEL_OK, or the fatal result later I/O repeats */
    keel_addr local;    /* bound address: UDP accept binds clients to it */
    knet_dgram_queue held; /* UDP: datagrams the next receives return first */
};

/*@
  // The context invariant: closed (-1) or a descriptor the libc model covers.
  predicate valid_net_read(struct keel_net *c) =
      \valid_read(c) && (c->fd == -1 || fd_modelled(c->fd));

  predicate valid_net(struct keel_net *c) = \valid(c) && valid_net_read(c);
*/

/* Room for any socket address. The byte view gives WP's typed memory model
 * the storage's size in bytes, which the libc specs check through char *. */
typedef union sa_buf {
    struct sockaddr_storage ss;
    uint8_t bytes[sizeof(struct sockaddr_storage)];
} sa_buf;

/* What to apply to a socket before bind (and listen, for TCP). */
struct bind_cfg {
    keel_proto proto;
    bool reuseaddr;
    bool reuseport;
    int v6only;
    int backlog;
};

typedef struct deadline {
    uint64_t end;
    bool forever;
} deadline;

/* ---- errors ----------------------------------------------------------- */

/* The one errno -> keel_result mapping (net_internal.h: the loop's
 * handles share it). */
/*@ assigns \nothing;
    ensures \result != KEEL_OK;
    ensures err == ETIMEDOUT ==> \result == KEEL_ERR_TIMEOUT;
*/
keel_result knet_errno_result(int err, bool connected)
{
    switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
        return KEEL_ERR_RESET;
    case ENOTCONN:
        return connected ? KEEL_ERR_RESET : KEEL_ERR_STATE;
    case ECONNREFUSED:
        return KEEL_ERR_REFUSED;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINPROGRESS:
        return KEEL_ERR_WOULD_BLOCK;
    case ETIMEDOUT:
        return KEEL_ERR_TIMEOUT;
    case EADDRINUSE:
    case EADDRNOTAVAIL:
        return KEEL_ERR_ADDR_IN_USE;
    case ENOMEM:
    case ENOBUFS:
    case EMFILE:
    case ENFILE:
        return KEEL_ERR_NO_MEMORY;
    case EMSGSIZE: /* a datagram larger than the protocol or the path allows */
        return KEEL_ERR_TOO_LARGE;
    case EBADF:
    case ENOTSOCK:
        return KEEL_ERR_STATE;
    default:
        return KEEL_ERR_OS;
    }
}

/* The mapping for ctx's socket, recording nothing: for the queries that
 * take a const context. */
/*@ requires \valid_read(ctx);
    assigns \nothing;
    ensures \result != KEEL_OK;
    ensures err == ETIMEDOUT ==> \result == KEEL_ERR_TIMEOUT;
*/
static KEEL_MUST_USE keel_result net_errno_result(const keel_net *ctx, int err)
{
    return knet_errno_result(err, ctx->connected);
}

/* A failure of this call only: the errno is kept for keel_net_last_os_error,
 * and later calls try again (setup, options and waits fail this way). */
/*@ requires \valid(ctx);
    assigns ctx->last_errno;
    ensures ctx->last_errno == err && \result != KEEL_OK;
    ensures err == ETIMEDOUT ==> \result == KEEL_ERR_TIMEOUT;
*/
static KEEL_MUST_USE keel_result net_fail_once(keel_net *ctx, int err)
{
    ctx->last_errno = err;
    return net_errno_result(ctx, err);
}

/* A failure of a send or receive, which sticks when it leaves a TCP stream
 * unusable (reset, the kernel's ETIMEDOUT, another OS error): later data
 * calls report it without a syscall, because after a reset Linux reports
 * EOF, which must not pass for an orderly close. Anything else fails once,
 * as net_fail_once: a would-block, or any UDP error (it concerns one
 * datagram). */
/*@ requires \valid(ctx);
    assigns ctx->last_errno, ctx->sticky;
    ensures ctx->last_errno == err && \result != KEEL_OK;
*/
static KEEL_MUST_USE keel_result net_fail_sticky(keel_net *ctx, int err)
{
    keel_result r = net_fail_once(ctx, err);
    if (ctx->proto == KEEL_PROTO_TCP &&
        (r == KEEL_ERR_RESET || r == KEEL_ERR_OS || err == ETIMEDOUT)) {
        ctx->sticky = r;
    }
    return r;
}

/*@ assigns \nothing;
    ensures \result <==> (p == KEEL_PROTO_TCP || p == KEEL_PROTO_UDP);
*/
static bool net_proto_valid(keel_proto p)
{
    return p == KEEL_PROTO_TCP || p == KEEL_PROTO_UDP;
}

/* Data calls need an open context whose stream has not failed for good
 * (net_fail_sticky). */
/*@ requires \valid_read(ctx);
    assigns \nothing;
    ensures ctx->fd < 0 ==> \result == KEEL_ERR_STATE;
    ensures ctx->fd >= 0 ==> \result == ctx->sticky;
*/
static KEEL_MUST_USE keel_result net_io_check(const keel_net *ctx)
{
    if (ctx->fd < 0) {
        return KEEL_ERR_STATE;
    }
    return ctx->sticky;
}

/* ---- deadlines ---------------------------------------------------------- */

/*@ assigns __fc_time;
    ensures \result.forever <==> timeout_ms == KEEL_FOREVER;
*/
static deadline net_deadline_in(uint32_t timeout_ms)
{
    deadline d = { 0, timeout_ms == KEEL_FOREVER };
    if (!d.forever) {
        uint64_t now = ksys_now_ms();
        d.end = now > UINT64_MAX - timeout_ms ? UINT64_MAX : now + timeout_ms;
    }
    return d;
}

/*@ requires \valid_read(d);
    assigns __fc_time;
*/
static bool net_deadline_passed(const deadline *d)
{
    return !d->forever && ksys_now_ms() >= d->end;
}

/* Milliseconds left, as poll(2) wants them: -1 for no deadline. */
/*@ requires \valid_read(d);
    assigns __fc_time;
    ensures -1 <= \result <= INT_MAX;
*/
static int net_deadline_left_ms(const deadline *d)
{
    if (d->forever) {
        return -1;
    }
    uint64_t now = ksys_now_ms();
    if (now >= d->end) {
        return 0;
    }
    uint64_t left = d->end - now;
    return left > (uint64_t)INT_MAX ? INT_MAX : (int)left;
}

/* Wait until ctx->fd has one of events (or an error / hang-up) before d.
 * The remaining time is recomputed after every EINTR. */
/*@ requires valid_net(ctx) && ctx->fd >= 0;
    requires \valid_read(d) && \valid(revents);
    assigns *revents, ctx->last_errno, __fc_time, __fc_errno;
*/
static KEEL_MUST_USE keel_result net_wait_ready(keel_net *ctx, short events, const deadline *d,
                                                short *revents)
{
    /*@ loop assigns __fc_time, __fc_errno; */
    for (;;) {
        struct pollfd p[1] = { { .fd = ctx->fd, .events = events, .revents = 0 } };
        int n = ksys_poll(p, 1, net_deadline_left_ms(d));
        if (n > 0) {
            if ((p[0].revents & POLLNVAL) != 0) {
                return net_fail_once(ctx, EBADF);
            }
            *revents = p[0].revents;
            return KEEL_OK;
        }
        if (n == 0) {
            return net_fail_once(ctx, ETIMEDOUT);
        }
        int err = errno;
        if (err != EINTR) {
            return net_fail_once(ctx, err);
        }
        if (net_deadline_passed(d)) {
            return net_fail_once(ctx, ETIMEDOUT);
        }
    }
}

/* ---- descriptors -------------------------------------------------------- */

/*@ requires fd_modelled(fd);
    assigns __fc_fds[fd], __fc_errno;
*/
static void net_close_fd(int fd)
{
    /* Not retried on EINTR: Linux has released the descriptor by then, and
     * a second close could hit one another thread just opened. */
    (void)ksys_close(fd);
}

/*@ requires \valid(ctx) && \valid(fd) && \separated(fd, ctx);
    assigns *fd, ctx->last_errno, __fc_socket_counter, __fc_errno;
    ensures \result == KEEL_OK ==> fd_modelled(*fd);
    ensures \result != KEEL_OK ==> *fd == \old(*fd);
*/
static KEEL_MUST_USE keel_result net_open_socket(keel_net *ctx, keel_family family,
                                                 keel_proto proto, int flags, int *fd)
{
    int domain = family == KEEL_AF_INET6 ? AF_INET6 : AF_INET;
    int type = (proto == KEEL_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | flags;
    int s = ksys_socket(domain, type, 0);
    if (s < 0) {
        return net_fail_once(ctx, errno);
    }
    *fd = s;
    return KEEL_OK;
}

/*@ requires \valid(ctx);
    assigns ctx->last_errno, __fc_errno;
*/
static KEEL_MUST_USE keel_result net_set_fd_nonblocking(keel_net *ctx, int fd, bool on)
{
    int fl = ksys_fcntl_int(fd, F_GETFL, 0);
    if (fl < 0) {
        return net_fail_once(ctx, errno);
    }
    int want = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (want != fl && ksys_fcntl_int(fd, F_SETFL, want) < 0) {
        return net_fail_once(ctx, errno);
    }
    return KEEL_OK;
}

/*@ requires \valid(ctx) && fd_modelled(fd);
    assigns ctx->last_errno, NET_OS_STATE;
*/
static KEEL_MUST_USE keel_result net_setsockopt_int(keel_net *ctx, int fd, int level, int name,
                                                    int value)
{
    /* The byte view lets WP check the spec's char-wise read of the option. */
    union {
        int v;
        uint8_t bytes[sizeof(int)];
    } opt = { .v = value };
    if (ksys_setsockopt(fd, level, name, &opt, (socklen_t)sizeof opt) != 0) {
        return net_fail_once(ctx, errno);
    }
    return KEEL_OK;
}

/* One sendto(2), EINTR retried, never raising SIGPIPE. */
/*@ requires valid_net(ctx) && ctx->fd >= 0;
    requires valid_slice(data);
    requires \valid(sent);
    assigns *sent, ctx->last_errno, ctx->sticky, NET_OS_STATE;
    ensures \result == KEEL_OK ==> *sent <= data.len;
*/
static KEEL_MUST_USE keel_result net_send_raw(keel_net *ctx, keel_slice data, int flags,
                                              const sa_buf *to, socklen_t tolen, size_t *sent)
{
    /*@ loop assigns NET_OS_STATE; */
    for (;;) {
        ssize_t n = ksys_sendto(ctx->fd, data.ptr, data.len, flags | MSG_NOSIGNAL,
                                (const struct sockaddr *)to, tolen);
        if (n >= 0) {
            *sent = (size_t)n;
            return KEEL_OK;
        }
        int err = errno;
        if (err != EINTR) {
            return net_fail_sticky(ctx, err);
        }
    }
}

/* One recvfrom(2), EINTR retried; *n gets the byte count. */
/*@ requires valid_net(ctx) && ctx->fd >= 0;
    requires \valid(dst + (0 .. len - 1));
    requires from == \null || (\valid(from) && \valid(fromlen));
    requires \valid(n);
    assigns dst[0 .. len - 1], *from, *fromlen, *n, ctx->last_errno, ctx->sticky, NET_OS_STATE;
    ensures \result == KEEL_OK && (flags & MSG_TRUNC) == 0 ==> *n <= len;
    ensures \result == KEEL_OK && from != \null ==> *fromlen <= sizeof(sa_buf);
*/
static KEEL_MUST_USE keel_result net_recv_raw(keel_net *ctx, uint8_t *dst, size_t len, int flags,
                                              sa_buf *from, socklen_t *fromlen, size_t *n)
{
    /*@ loop assigns dst[0 .. len - 1], *from, *fromlen, NET_OS_STATE; */
    for (;;) {
        if (from != NULL) {
            *fromlen = (socklen_t)sizeof *from;
        }
        ssize_t got = ksys_recvfrom(ctx->fd, dst, len, flags, (struct sockaddr *)from,
                                    from != NULL ? fromlen : NULL);
        if (got >= 0) {
            /* The kernel reports an address's full length even when it did
             * not fit; never let that length outgrow the room. */
            if (from != NULL && *fromlen > (socklen_t)sizeof *from) {
                *fromlen = (socklen_t)sizeof *from;
            }
            *n = (size_t)got;
            return KEEL_OK;
        }
        int err = errno;
        if (err != EINTR) {
            return net_fail_sticky(ctx, err);
        }
    }
}

/* Forget everything about the descriptor but the last OS error and proto. */
/*@ requires \valid(ctx);
    assigns ctx->fd, ctx->family, ctx->nonblocking, ctx->listening, ctx->bound_udp,
            ctx->connected, ctx->v6only, ctx->sticky;
    ensures ctx->fd == -1 && ctx->sticky == KEEL_OK && valid_net(ctx);
*/
static void net_reset_to_closed(keel_net *ctx)
{
    ctx->fd = -1;
    ctx->family = KEEL_AF_UNSPEC;
    ctx->nonblocking = false;
    ctx->listening = false;
    ctx->bound_udp = false;
    ctx->connected = false;
    ctx->v6only = 0;
    ctx->sticky = KEEL_OK;
}

/* Make ctx the owner of fd, a connected socket in blocking mode or not. */
/*@ requires \valid(ctx) && fd_modelled(fd);
    assigns ctx->fd, ctx->proto, ctx->family, ctx->nonblocking, ctx->listening, ctx->bound_udp,
            ctx->connected, ctx->v6only, ctx->sticky;
    ensures valid_net(ctx) && ctx->fd == fd;
*/
static void net_adopt_connected(keel_net *ctx, int fd, keel_proto proto, keel_family family,
                                bool nonblocking)
{
    net_reset_to_closed(ctx);
    ctx->fd = fd;
    ctx->proto = proto;
    ctx->family = family;
    ctx->nonblocking = nonblocking;
    ctx->connected = true;
}

/* ---- lifetime ----------------------------------------------------------- */

keel_result keel_net_init(keel_net **out)
{
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_net *ctx = ksys_alloc_zeroed(sizeof *ctx);
    if (ctx == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    net_reset_to_closed(ctx);
    ctx->proto = KEEL_PROTO_TCP;
    *out = ctx;
    return KEEL_OK;
}

/*@ requires ctx == \null || valid_net(ctx);
    assigns ctx->fd, ctx->family, ctx->nonblocking, ctx->listening, ctx->bound_udp,
            ctx->connected, ctx->v6only, ctx->sticky, ctx->held,
            __fc_fds[0 .. __FC_MAX_OPEN_FILES - 1], __fc_errno, __fc_heap_status;
    ensures ctx != \null ==> ctx->fd == -1 && valid_net(ctx);
*/
void keel_net_close(keel_net *ctx)
{
    if (ctx == NULL || ctx->fd < 0) {
        return;
    }
    knet_dgram_queue_clear(&ctx->held); /* what was not read is gone with the socket */
    net_close_fd(ctx->fd);
    net_reset_to_closed(ctx);
}

/*@ requires ctx == \null || valid_net(ctx);
    assigns ctx->fd, ctx->family, ctx->nonblocking, ctx->listening, ctx->bound_udp,
            ctx->connected, ctx->v6only, ctx->sticky, ctx->held,
            __fc_fds[0 .. __FC_MAX_OPEN_FILES - 1], __fc_errno, __fc_heap_status;
*/
void keel_net_free(keel_net *ctx)
{
    keel_net_close(ctx);
    ksys_release(ctx);
}

/*@ requires ctx == \null || valid_net_read(ctx);
    assigns \nothing;
    ensures \result <==> (ctx != \null && ctx->fd >= 0);
*/
bool keel_net_is_open(const keel_net *ctx)
{
    return ctx != NULL && ctx->fd >= 0;
}

/* net_internal.h: the loop's handles own the descriptor from here on. */
/*@ requires ctx == \null || valid_net(ctx);
    requires fd == \null || (\valid(fd) && \separated(fd, ctx));
    assigns ctx->fd, ctx->family, ctx->nonblocking, ctx->listening, ctx->bound_udp,
            ctx->connected, ctx->v6only, ctx->sticky, *fd;
    ensures ctx == \null || fd == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> *fd == \old(ctx->fd) && *fd >= 0 && fd_modelled(*fd);
    ensures \result == KEEL_OK ==> ctx->fd == -1 && valid_net(ctx);
    ensures \result != KEEL_OK && fd != \null ==> *fd == \old(*fd);
*/
keel_result knet_release_fd(keel_net *ctx, int *fd)
{
    if (ctx == NULL || fd == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    /* Held datagrams would be lost with the context: the new owner reads
     * only the descriptor. */
    if (ctx->fd < 0 || ctx->held.head != NULL) {
        return KEEL_ERR_STATE;
    }
    *fd = ctx->fd;
    net_reset_to_closed(ctx);
    return KEEL_OK;
}

/* ---- connect ------------------------------------------------------------ */

/* Connect ctx->fd (non-blocking) to sa, waiting for completion until d. */
/*@ requires valid_net(ctx) && ctx->fd >= 0;
    requires \valid_read((char *)ss + (0 .. len - 1)) && \valid_read(d);
    assigns ctx->last_errno, NET_OS_STATE, __fc_time;
*/
static KEEL_MUST_USE keel_result net_connect_fd(keel_net *ctx, const sa_buf *ss, socklen_t len,
                                                const deadline *d)
{
    /*@ loop assigns NET_OS_STATE, __fc_time; */
    for (;;) {
        if (ksys_connect(ctx->fd, (const struct sockaddr *)ss, len) == 0) {
            return KEEL_OK;
        }
        int err = errno;
        /* After an interrupted connect the kernel keeps going: a retry then
         * says EALREADY (still in progress) or EISCONN (done). */
        if (err == EISCONN) {
            return KEEL_OK;
        }
        if (err == EINPROGRESS || err == EALREADY) {
            break;
        }
        if (err != EINTR) {
            return net_fail_once(ctx, err);
        }
        if (net_deadline_passed(d)) {
            return net_fail_once(ctx, ETIMEDOUT);
        }
    }
    short revents = 0;
    KEEL_TRY(net_wait_ready(ctx, POLLOUT, d, &revents));
    int soerr = 0;
    socklen_t sl = (socklen_t)sizeof soerr;
    if (ksys_getsockopt(ctx->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
        return net_fail_once(ctx, errno);
    }
    return soerr == 0 ? KEEL_OK : net_fail_once(ctx, soerr);
}

/* One address: a fresh non-blocking socket, connected within d, then put
 * back in blocking mode. ctx owns the socket only on success. */
/*@ requires valid_net(ctx) && ctx->fd == -1;
    requires \valid_read(a) && \valid_read(d);
    assigns *ctx, NET_OPEN_STATE, __fc_time;
    ensures valid_net(ctx);
    ensures \result == KEEL_OK <==> ctx->fd >= 0;
*/
static KEEL_MUST_USE keel_result net_connect_one(keel_net *ctx, const keel_addr *a,
                                                 keel_proto proto, const deadline *d)
{
    sa_buf ss;
    socklen_t len = 0;
    KEEL_TRY(keel_addr_to_sockaddr(a, &ss.ss, &len));
    int fd = -1;
    KEEL_TRY(net_open_socket(ctx, a->family, proto, SOCK_NONBLOCK, &fd));
    ctx->fd = fd;
    keel_result r = net_connect_fd(ctx, &ss, len, d);
    if (r == KEEL_OK) {
        r = net_set_fd_nonblocking(ctx, fd, false);
    }
    if (r != KEEL_OK) {
        net_close_fd(fd);
        ctx->fd = -1;
        return r;
    }
    net_adopt_connected(ctx, fd, proto, a->family, false);
    return KEEL_OK;
}

/* Which failure says most about why no address connected: a peer that
 * answered "no" beats one that never answered, which beats local trouble
 * such as a family this host cannot use. */
/*@ assigns \nothing;
    ensures 0 <= \result <= 4;
*/
static int net_connect_error_rank(keel_result r)
{
    switch (r) {
    case KEEL_ERR_REFUSED:
        return 4;
    case KEEL_ERR_TIMEOUT:
        return 3;
    case KEEL_ERR_RESET:
        return 2;
    case KEEL_ERR_NO_MEMORY:
        return 1;
    default:
        return 0;
    }
}

/*@ requires ctx == \null || valid_net(ctx);
    requires slice_arg(host);
    assigns *ctx, NET_OPEN_STATE, __fc_time;
    ensures ctx == \null || (proto != KEEL_PROTO_TCP && proto != KEEL_PROTO_UDP) ||
            !slice_shape(host) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures ctx != \null ==> valid_net(ctx);
    ensures \result == KEEL_OK ==> ctx->fd >= 0;
*/
keel_result keel_net_connect(keel_net *ctx, keel_slice host, uint16_t port, keel_proto proto,
                             uint32_t timeout_ms)
{
    if (ctx == NULL || !net_proto_valid(proto) || !keel_slice_valid(host)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd >= 0) {
        return KEEL_ERR_STATE;
    }
    deadline d = net_deadline_in(timeout_ms);
    keel_addr_list list;
    keel_result r = keel_addr_resolve(host, port, KEEL_AF_UNSPEC, &list);
    if (r != KEEL_OK) {
        return r;
    }
    keel_result best = KEEL_ERR_HOST_NOT_FOUND;
    int best_errno = 0;
    /*@ loop invariant 0 <= i <= KEEL_ADDR_LIST_MAX;
        loop invariant valid_net(ctx) && ctx->fd == -1 && best != KEEL_OK;
        loop assigns i, r, best, best_errno, *ctx, NET_OPEN_STATE, __fc_time;
        loop variant KEEL_ADDR_LIST_MAX - i;
    */
    for (size_t i = 0; i < list.count && i < KEEL_ADDR_LIST_MAX; i++) {
        r = net_connect_one(ctx, &list.items[i], proto, &d);
        if (r == KEEL_OK) {
            return KEEL_OK;
        }
        if (i == 0 || net_connect_error_rank(r) > net_connect_error_rank(best)) {
            best = r;
            best_errno = ctx->last_errno;
        }
        if (r == KEEL_ERR_TIMEOUT) {
            break; /* the deadline covers the whole call: nothing left to try */
        }
    }
    ctx->last_errno = best_errno;
    return best;
}

/* ---- bind / accept ------------------------------------------------------ */

/* A socket for a's family with c's options, bound to a (and listening, for
 * TCP). The caller owns *out_fd on success; nothing leaks on failure. */
/*@ requires \valid(ctx) && \valid_read(a) && \valid_read(c);
    requires \valid(out_fd) && \separated(out_fd, ctx);
    assigns *out_fd, ctx->last_errno, NET_OPEN_STATE;
    ensures \result == KEEL_OK ==> fd_modelled(*out_fd);
*/
static KEEL_MUST_USE keel_result net_open_bound(keel_net *ctx, const keel_addr *a,
                                                const struct bind_cfg *c, int *out_fd)
{
    sa_buf ss;
    socklen_t len = 0;
    KEEL_TRY(keel_addr_to_sockaddr(a, &ss.ss, &len));
    int fd = -1;
    keel_result r = net_open_socket(ctx, a->family, c->proto, 0, &fd);
    if (r == KEEL_OK && c->reuseaddr) {
        r = net_setsockopt_int(ctx, fd, SOL_SOCKET, SO_REUSEADDR, 1);
    }
    if (r == KEEL_OK && c->reuseport) {
        r = net_setsockopt_int(ctx, fd, SOL_SOCKET, SO_REUSEPORT, 1);
    }
    if (r == KEEL_OK && a->family == KEEL_AF_INET6) {
        r = net_setsockopt_int(ctx, fd, IPPROTO_IPV6, IPV6_V6ONLY, c->v6only);
    }
    if (r == KEEL_OK && ksys_bind(fd, (const struct sockaddr *)&ss, len) != 0) {
        r = net_fail_once(ctx, errno);
    }
    if (r == KEEL_OK && c->proto == KEEL_PROTO_TCP && ksys_listen(fd, c->backlog) != 0) {
        r = net_fail_once(ctx, errno);
    }
    if (r != KEEL_OK) {
        if (fd >= 0) {
            net_close_fd(fd);
        }
        return r;
    }
    *out_fd = fd;
    return KEEL_OK;
}

/*@ requires valid_net(ctx) && \valid_read(a) && \valid_read(c);
    assigns *ctx, NET_OPEN_STATE;
    ensures valid_net(ctx);
    ensures \result == KEEL_OK ==> ctx->fd >= 0;
    ensures \result != KEEL_OK ==> ctx->fd == \old(ctx->fd);
*/
static KEEL_MUST_USE keel_result net_bind_addr(keel_net *ctx, const keel_addr *a,
                                               const struct bind_cfg *c)
{
    int fd = -1;
    KEEL_TRY(net_open_bound(ctx, a, c, &fd));
    /* Keep the address the system actually bound (the port chosen for 0). */
    sa_buf ss;
    socklen_t len = (socklen_t)sizeof ss;
    keel_addr local;
    keel_result r;
    if (ksys_getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        r = net_fail_once(ctx, errno);
    } else {
        r = keel_addr_from_sockaddr((const struct sockaddr *)&ss, len, &local);
    }
    if (r != KEEL_OK) {
        net_close_fd(fd);
        return r;
    }
    net_reset_to_closed(ctx);
    ctx->fd = fd;
    ctx->proto = c->proto;
    ctx->family = a->family;
    ctx->listening = c->proto == KEEL_PROTO_TCP;
    ctx->bound_udp = c->proto == KEEL_PROTO_UDP;
    ctx->v6only = c->v6only;
    ctx->local = local;
    return KEEL_OK;
}

/*@ requires ctx == \null || valid_net(ctx);
    requires opts == \null || (\valid_read(opts) && slice_arg(opts->ip));
    assigns *ctx, NET_OPEN_STATE;
    ensures ctx == \null || opts == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures ctx != \null ==> valid_net(ctx);
    ensures \result == KEEL_OK ==> ctx->fd >= 0;
*/
keel_result keel_net_bind_opts(keel_net *ctx, const keel_bind_opts *opts)
{
    if (ctx == NULL || opts == NULL || !net_proto_valid(opts->proto) ||
        (opts->v6only != KEEL_V6ONLY_DEFAULT && opts->v6only != KEEL_V6ONLY_ON &&
         opts->v6only != KEEL_V6ONLY_OFF) ||
        !keel_slice_valid(opts->ip)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd >= 0) {
        return KEEL_ERR_STATE;
    }
    struct bind_cfg cfg = {
        .proto = opts->proto,
        .reuseaddr = !opts->no_reuseaddr,
        .reuseport = opts->reuseport,
        .v6only = opts->v6only == KEEL_V6ONLY_ON ? 1 : 0,
        .backlog = opts->backlog > 0 ? opts->backlog : NET_DEFAULT_BACKLOG,
    };
    keel_addr a;
    if (opts->ip.len > 0) {
        KEEL_TRY(keel_addr_parse_ip(opts->ip, &a));
        a.port = opts->port;
        return net_bind_addr(ctx, &a, &cfg);
    }
    keel_result r = keel_addr_any(KEEL_AF_INET6, opts->port, &a);
    if (r == KEEL_OK) {
        r = net_bind_addr(ctx, &a, &cfg);
    }
    if (r == KEEL_ERR_OS && ctx->last_errno == EAFNOSUPPORT) {
        r = keel_addr_any(KEEL_AF_INET4, opts->port, &a);
        if (r == KEEL_OK) {
            r = net_bind_addr(ctx, &a, &cfg);
        }
    }
    return r;
}

/*@ requires ctx == \null || valid_net(ctx);
    requires slice_arg(ip);
    assigns *ctx, NET_OPEN_STATE;
    ensures ctx == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures ctx != \null ==> valid_net(ctx);
    ensures \result == KEEL_OK ==> ctx->fd >= 0;
*/
keel_result keel_net_bind(keel_net *ctx, keel_slice ip, uint16_t port, keel_proto proto)
{
    keel_bind_opts opts = { .ip = ip, .port = port, .proto = proto };
    return keel_net_bind_opts(ctx, &opts);
}

/*@ requires valid_net(listener) && listener->fd >= 0;
    requires valid_net(client) && \separated(listener, client);
    requires peer == \null || \valid(peer);
    assigns listener->last_errno, listener->sticky, *client, *peer, NET_OPEN_STATE;
    ensures valid_net(listener) && valid_net(client);
    ensures \result == KEEL_OK ==> client->fd >= 0;
*/
static KEEL_MUST_USE keel_result net_accept_tcp(keel_net *listener, keel_net *client,
                                                keel_addr *peer)
{
    sa_buf ss;
    socklen_t len;
    int fd;
    /*@ loop assigns len, fd, ((char *)&ss)[0 .. sizeof(sa_buf) - 1], NET_OS_STATE; */
    for (;;) {
        len = (socklen_t)sizeof ss;
        fd = ksys_accept4(listener->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
        if (fd >= 0) {
            break;
        }
        int err = errno;
        if (err != EINTR) {
            return net_fail_once(listener, err);
        }
    }
    keel_addr from;
    keel_result r = keel_addr_from_sockaddr((const struct sockaddr *)&ss, len, &from);
    if (r != KEEL_OK) {
        net_close_fd(fd);
        return r;
    }
    net_adopt_connected(client, fd, KEEL_PROTO_TCP, listener->family, false);
    if (peer != NULL) {
        *peer = from;
    }
    return KEEL_OK;
}

/* The bytes a context may hold in memory after a UDP accept: the
 * listener's receive buffer (what the kernel itself holds for it). */
/*@ requires valid_net_read(ctx) && ctx->fd >= 0;
    assigns NET_OS_STATE;
    ensures 0 < \result <= INT_MAX;
*/
static size_t net_rcvbuf_bytes(const keel_net *ctx)
{
    union {
        int v;
        uint8_t bytes[sizeof(int)];
    } opt = { .v = 0 };
    socklen_t len = (socklen_t)sizeof opt.v;
    if (ksys_getsockopt(ctx->fd, SOL_SOCKET, SO_RCVBUF, &opt.v, &len) != 0 || opt.v <= 0) {
        return NET_HELD_DEFAULT_CAP;
    }
    return (size_t)opt.v;
}

/* Read what is queued on fd (up to max datagrams, each without waiting):
 * those sent from peer go to mine, the others to the listener's held
 * queue, each within cap (beyond it a datagram is dropped, as a full
 * receive buffer drops it). Stops when fd has nothing left or memory runs
 * out (what is left stays queued on fd). Any other error (an ICMP error a
 * socket reports once) was consumed by the read: go on. */
/*@ requires valid_net(listener) && fd_modelled(fd);
    requires \valid(mine) && \valid_read(peer);
    requires \separated(mine, &listener->held) || mine == &listener->held;
    assigns listener->held, *mine, NET_OS_STATE, __fc_heap_status;
*/
static void net_udp_drain(keel_net *listener, int fd, knet_dgram_queue *mine, const keel_addr *peer,
                          size_t max, size_t cap)
{
    /*@ loop invariant 0 <= i <= max;
        loop assigns i, listener->held, *mine, NET_OS_STATE, __fc_heap_status;
        loop variant max - i;
    */
    for (size_t i = 0; i < max; i++) {
        knet_dgram *d = NULL;
        int err = 0;
        keel_result r = knet_dgram_recv(fd, MSG_DONTWAIT, &d, &err);
        if (r == KEEL_ERR_WOULD_BLOCK || r == KEEL_ERR_NO_MEMORY) {
            return;
        }
        if (r == KEEL_OK) {
            knet_dgram_queue *dst = knet_dgram_sent_by(d, peer) ? mine : &listener->held;
            if (!knet_dgram_queue_push(dst, d, cap)) {
                /* over the cap: dropped (push released it) */
            }
        }
    }
}

/* The first datagram to accept: the oldest one the listener holds, else
 * the one at the head of its socket, waiting for one as the listener's
 * blocking mode says. Nothing is taken on failure. */
/*@ requires valid_net(listener) && listener->fd >= 0;
    requires \valid(first);
    assigns *first, listener->held, listener->last_errno, listener->sticky, NET_OS_STATE,
            __fc_heap_status;
    ensures \result == KEEL_OK ==> *first != \null;
*/
static KEEL_MUST_USE keel_result net_udp_first(keel_net *listener, knet_dgram **first)
{
    if (listener->held.head != NULL) {
        knet_dgram_queue_pop(&listener->held, first);
        return *first != NULL ? KEEL_OK : KEEL_ERR_STATE;
    }
    size_t ignored = 0;
    uint8_t probe = 0;
    KEEL_TRY(net_recv_raw(listener, &probe, 0, MSG_PEEK, NULL, NULL, &ignored));
    int err = 0;
    keel_result r = knet_dgram_recv(listener->fd, MSG_DONTWAIT, first, &err);
    if (r != KEEL_OK) {
        listener->last_errno = err;
    }
    return r;
}

/* A socket for the client: bound to the listener's address, in its
 * blocking mode, connected to peer. On failure nothing is left open, and
 * what reached the socket before it failed goes to the listener's held
 * queue. */
/*@ requires valid_net(listener) && listener->fd >= 0;
    requires \valid_read(peer) && \valid(out_fd);
    requires \separated(out_fd, listener);
    assigns *out_fd, listener->last_errno, listener->held, NET_OPEN_STATE, __fc_heap_status;
    ensures \result == KEEL_OK ==> fd_modelled(*out_fd);
*/
static KEEL_MUST_USE keel_result net_udp_client_socket(keel_net *listener, const keel_addr *peer,
                                                       size_t max, size_t cap, int *out_fd)
{
    sa_buf ss;
    socklen_t len = 0;
    KEEL_TRY(keel_addr_to_sockaddr(peer, &ss.ss, &len));
    /* The client's socket shares the listener's address: both need
     * SO_REUSEADDR (bind's default) or SO_REUSEPORT. */
    struct bind_cfg cfg = {
        .proto = KEEL_PROTO_UDP,
        .reuseaddr = true,
        .reuseport = true,
        .v6only = listener->v6only,
        .backlog = 0,
    };
    int fd = -1;
    KEEL_TRY(net_open_bound(listener, &listener->local, &cfg, &fd));
    keel_result r = KEEL_OK;
    if (listener->nonblocking) {
        r = net_set_fd_nonblocking(listener, fd, true);
    }
    /*@ loop assigns r, listener->last_errno, NET_OS_STATE; */
    while (r == KEEL_OK && ksys_connect(fd, (const struct sockaddr *)&ss, len) != 0) {
        int err = errno;
        if (err != EINTR) {
            r = net_fail_once(listener, err);
        }
    }
    if (r != KEEL_OK) {
        /* Bound, it may have caught datagrams meant for the listener. */
        net_udp_drain(listener, fd, &listener->held, peer, max, cap);
        net_close_fd(fd);
        return r;
    }
    *out_fd = fd;
    return KEEL_OK;
}

/* The client gets a socket of its own, bound to the listener's address and
 * connected to the first sender P, so the kernel delivers P's later
 * datagrams to it; the listener keeps its socket. Datagrams that arrived
 * earlier are moved in memory so that each lands with its sender: P's
 * (the first one, the ones queued on the listener, the ones that reached
 * the client's socket between its bind and its connect) to the client's
 * held queue, in order; other senders' that reached the client's socket in
 * that window to the listener's. The client's receive calls return its
 * held datagrams first (net_recv_some). */
/*@ requires valid_net(listener) && listener->fd >= 0;
    requires valid_net(client) && \separated(listener, client);
    requires peer == \null || \valid(peer);
    assigns listener->last_errno, listener->sticky, listener->held, *client, *peer,
            NET_OPEN_STATE, __fc_heap_status;
    ensures valid_net(listener) && valid_net(client);
    ensures \result == KEEL_OK ==> client->fd >= 0;
*/
static KEEL_MUST_USE keel_result net_accept_udp(keel_net *listener, keel_net *client,
                                                keel_addr *peer)
{
    knet_dgram *first = NULL;
    KEEL_TRY(net_udp_first(listener, &first));
    keel_addr from;
    knet_dgram_sender(first, &from);
    /* A queue that was full when the client's socket was connected holds
     * at most this many datagrams; a sender flooding the client's socket
     * cannot keep the accept reading beyond it. */
    size_t cap = net_rcvbuf_bytes(listener);
    size_t max = cap / NET_MIN_DGRAM_TRUESIZE + 1u;
    int fd = -1;
    keel_result r = net_udp_client_socket(listener, &from, max, cap, &fd);
    if (r != KEEL_OK) {
        knet_dgram_queue_push_front(&listener->held, first); /* nothing lost */
        return r;
    }
    knet_dgram_queue mine = { NULL, NULL, 0, 0 };
    if (!knet_dgram_queue_push(&mine, first, SIZE_MAX)) {
        /* cannot happen: no cap */
    }
    knet_dgram_queue_move_sender(&listener->held, &mine, &from, cap);
    net_udp_drain(listener, listener->fd, &mine, &from, max, cap);
    net_udp_drain(listener, fd, &mine, &from, max, cap);
    knet_dgram_queue_clear(&client->held); /* a closed context holds none */
    net_adopt_connected(client, fd, KEEL_PROTO_UDP, listener->family, listener->nonblocking);
    client->held = mine;
    if (peer != NULL) {
        *peer = from;
    }
    return KEEL_OK;
}

/*@ requires listener == \null || valid_net(listener);
    requires client == \null || valid_net(client);
    requires listener != \null && client != \null && listener != client ==>
             \separated(listener, client);
    requires peer == \null || \valid(peer);
    assigns listener->last_errno, listener->sticky, listener->held, *client, *peer,
            NET_OPEN_STATE, __fc_heap_status;
    ensures listener == \null || client == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures listener != \null ==> valid_net(listener);
    ensures client != \null ==> valid_net(client);
    ensures \result == KEEL_OK ==> client->fd >= 0;
*/
keel_result keel_net_accept(keel_net *listener, keel_net *client, keel_addr *peer)
{
    if (listener == NULL || client == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (listener->fd < 0 || (!listener->listening && !listener->bound_udp) || client->fd >= 0) {
        return KEEL_ERR_STATE;
    }
    return listener->proto == KEEL_PROTO_TCP ? net_accept_tcp(listener, client, peer)
                                             : net_accept_udp(listener, client, peer);
}

/* ---- modes -------------------------------------------------------------- */

/*@ requires ctx == \null || valid_net(ctx);
    assigns ctx->nonblocking, ctx->last_errno, __fc_errno;
    ensures ctx == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures ctx != \null && \old(ctx->fd) < 0 ==> \result == KEEL_ERR_STATE;
    ensures \result == KEEL_OK ==> ctx->nonblocking == nonblocking;
    ensures \result != KEEL_OK && ctx != \null ==> ctx->nonblocking == \old(ctx->nonblocking);
*/
keel_result keel_net_set_nonblocking(keel_net *ctx, bool nonblocking)
{
    if (ctx == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd < 0) {
        return KEEL_ERR_STATE;
    }
    keel_result r = net_set_fd_nonblocking(ctx, ctx->fd, nonblocking);
    if (r == KEEL_OK) {
        ctx->nonblocking = nonblocking;
    }
    return r;
}

/*@ requires ctx == \null || valid_net(ctx);
    assigns ctx->last_errno, NET_OS_STATE;
    ensures ctx == \null ==> \result == KEEL_ERR_INVALID_ARG;
*/
keel_result keel_net_set_nodelay(keel_net *ctx, bool on)
{
    if (ctx == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd < 0 || ctx->proto != KEEL_PROTO_TCP) {
        return KEEL_ERR_STATE;
    }
    return net_setsockopt_int(ctx, ctx->fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

/*@ requires ctx == \null || valid_net(ctx);
    assigns ctx->last_errno, NET_OS_STATE;
    ensures ctx == \null || sndbuf > INT_MAX || rcvbuf > INT_MAX ==>
            \result == KEEL_ERR_INVALID_ARG;
*/
keel_result keel_net_set_buffer_sizes(keel_net *ctx, size_t sndbuf, size_t rcvbuf)
{
    if (ctx == NULL || sndbuf > (size_t)INT_MAX || rcvbuf > (size_t)INT_MAX) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd < 0) {
        return KEEL_ERR_STATE;
    }
    keel_result r = KEEL_OK;
    if (sndbuf > 0) {
        r = net_setsockopt_int(ctx, ctx->fd, SOL_SOCKET, SO_SNDBUF, (int)sndbuf);
    }
    if (r == KEEL_OK && rcvbuf > 0) {
        r = net_setsockopt_int(ctx, ctx->fd, SOL_SOCKET, SO_RCVBUF, (int)rcvbuf);
    }
    return r;
}

/*@ requires ctx == \null || valid_net(ctx);
    requires ready == \null || \valid(ready);
    assigns *ready, ctx->last_errno, __fc_time, __fc_errno;
    ensures ctx == \null || ready == \null || want == 0 || (want & ~3) != 0 ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> (*ready & want) == *ready;
*/
keel_result keel_net_poll(keel_net *ctx, unsigned want, uint32_t timeout_ms, unsigned *ready)
{
    const unsigned all = KEEL_POLL_READ | KEEL_POLL_WRITE;
    if (ctx == NULL || ready == NULL || want == 0 || (want & ~all) != 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd < 0) {
        return KEEL_ERR_STATE;
    }
    short events = (short)(((want & KEEL_POLL_READ) != 0 ? POLLIN : 0) |
                           ((want & KEEL_POLL_WRITE) != 0 ? POLLOUT : 0));
    /* Held datagrams (UDP accept) are readable now: the socket is asked
     * about the rest without waiting. */
    bool held = ctx->held.head != NULL && (want & KEEL_POLL_READ) != 0;
    int errno_before = ctx->last_errno;
    deadline d = net_deadline_in(held ? 0 : timeout_ms);
    short rev = 0;
    keel_result r = net_wait_ready(ctx, events, &d, &rev);
    if (r == KEEL_ERR_TIMEOUT && held) {
        ctx->last_errno = errno_before; /* not a failure: the held ones are ready */
        rev = 0;
        r = KEEL_OK;
    }
    KEEL_TRY(r);
    unsigned got = held ? KEEL_POLL_READ : 0;
    if ((rev & (POLLERR | POLLHUP)) != 0) {
        got = all; /* the next call will report what happened */
    }
    if ((rev & POLLIN) != 0) {
        got |= KEEL_POLL_READ;
    }
    if ((rev & POLLOUT) != 0) {
        got |= KEEL_POLL_WRITE;
    }
    *ready = got & want;
    return KEEL_OK;
}

/*@ requires ctx == \null || valid_net(ctx);
    assigns ctx->last_errno, NET_OS_STATE;
    ensures ctx == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures ctx != \null && how != KEEL_SHUT_RD && how != KEEL_SHUT_WR && how != KEEL_SHUT_RDWR
            ==> \result == KEEL_ERR_INVALID_ARG;
*/
keel_result keel_net_shutdown(keel_net *ctx, keel_shutdown_how how)
{
    if (ctx == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    int sys_how;
    switch (how) {
    case KEEL_SHUT_RD:
        sys_how = SHUT_RD;
        break;
    case KEEL_SHUT_WR:
        sys_how = SHUT_WR;
        break;
    case KEEL_SHUT_RDWR:
        sys_how = SHUT_RDWR;
        break;
    default:
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd < 0) {
        return KEEL_ERR_STATE;
    }
    if (ksys_shutdown(ctx->fd, sys_how) != 0) {
        return net_fail_once(ctx, errno);
    }
    return KEEL_OK;
}

/* ---- data --------------------------------------------------------------- */

/* Append at most max (0 < max <= spare) received bytes to into, and the
 * sender to *from if asked. A UDP datagram longer than max is TRUNCATED and
 * left queued, *got = its size: its length is probed first (MSG_PEEK|MSG_TRUNC
 * into no room at all, so into stays untouched) unless max can hold any
 * datagram. TCP EOF is CLOSED. The datagrams the context holds (UDP
 * accept) come first, by the same rules. */
/*@ requires valid_net(ctx) && ctx->fd >= 0;
    requires \valid(into) && buf_shape(*into) && valid_buf(*into);
    requires \separated(ctx, into);
    requires \separated(into, into->ptr + (0 .. into->cap - 1));
    requires 0 < max <= into->cap - into->len;
    requires from == \null || \valid(from);
    requires \valid(got) && \separated(got, into);
    requires (flags & MSG_TRUNC) == 0;
    assigns into->len, into->ptr[into->len .. into->cap - 1], *from, *got,
            ctx->last_errno, ctx->sticky, ctx->held, NET_OS_STATE, __fc_heap_status;
    ensures \result == KEEL_OK ==> *got <= max && into->len == \old(into->len) + *got;
    ensures \result != KEEL_OK ==> into->len == \old(into->len);
*/
static KEEL_MUST_USE keel_result net_recv_some(keel_net *ctx, keel_buf *into, size_t max, int flags,
                                               keel_addr *from, size_t *got)
{
    if (ctx->held.head != NULL) {
        keel_result held = knet_dgram_queue_deliver(&ctx->held, into, max, from, got);
        if (held == KEEL_ERR_TRUNCATED) {
            ctx->last_errno = EMSGSIZE;
        }
        return held;
    }
    uint8_t *dst = into->ptr + into->len;
    size_t n = 0;
    if (ctx->proto == KEEL_PROTO_UDP && max < NET_MAX_DATAGRAM) {
        KEEL_TRY(net_recv_raw(ctx, dst, 0, flags | MSG_PEEK | MSG_TRUNC, NULL, NULL, &n));
        if (n > max) {
            ctx->last_errno = EMSGSIZE;
            *got = n;
            return KEEL_ERR_TRUNCATED;
        }
    }
    sa_buf ss;
    socklen_t len = 0;
    KEEL_TRY(net_recv_raw(ctx, dst, max, flags, from != NULL ? &ss : NULL, &len, &n));
    if (n == 0 && ctx->proto == KEEL_PROTO_TCP) {
        return KEEL_ERR_CLOSED;
    }
    keel_addr sender;
    if (from != NULL) {
        KEEL_TRY(keel_addr_from_sockaddr((const struct sockaddr *)&ss, len, &sender));
    }
    KEEL_TRY(keel_buf_commit(into, n));
    if (from != NULL) {
        *from = sender;
    }
    *got = n;
    return KEEL_OK;
}

/* net_recv_some whatever the blocking mode: poll, then read without blocking,
 * until something is read or d passes. */
/*@ requires valid_net(ctx) && ctx->fd >= 0;
    requires \valid(into) && buf_shape(*into) && valid_buf(*into);
    requires \separated(ctx, into);
    requires \separated(into, into->ptr + (0 .. into->cap - 1));
    requires 0 < max <= into->cap - into->len;
    requires \valid_read(d);
    requires from == \null || \valid(from);
    requires \valid(got) && \separated(got, into);
    assigns into->len, into->ptr[into->len .. into->cap - 1], *from, *got,
            ctx->last_errno, ctx->sticky, ctx->held, NET_OS_STATE, __fc_time, __fc_heap_status;
    ensures \result == KEEL_OK ==> *got <= max && into->len == \old(into->len) + *got;
    ensures \result != KEEL_OK ==> into->len == \old(into->len);
*/
static KEEL_MUST_USE keel_result net_recv_until(keel_net *ctx, keel_buf *into, size_t max,
                                                const deadline *d, keel_addr *from, size_t *got)
{
    /*@ loop invariant into->len == \at(into->len, Pre);
        loop assigns into->len, into->ptr[\at(into->len, Pre) .. into->cap - 1], *from, *got,
                     ctx->last_errno, ctx->sticky, ctx->held, NET_OS_STATE, __fc_time,
                     __fc_heap_status;
    */
    for (;;) {
        short rev = 0;
        if (ctx->held.head == NULL) { /* held datagrams are there already */
            KEEL_TRY(net_wait_ready(ctx, POLLIN, d, &rev));
        }
        keel_result r = net_recv_some(ctx, into, max, MSG_DONTWAIT, from, got);
        if (r != KEEL_ERR_WOULD_BLOCK) {
            return r;
        }
        /* Readiness without data (a datagram dropped for its checksum, a
         * racing reader): wait again, unless that would spin past d. */
        if (net_deadline_passed(d)) {
            return net_fail_once(ctx, ETIMEDOUT);
        }
    }
}

/* The checks shared by every receive: args, state, room for need bytes. */
/*@ requires ctx == \null || valid_net_read(ctx);
    requires into == \null || \valid_read(into);
    assigns \nothing;
    ensures ctx == \null || into == \null || !buf_shape(*into) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> ctx != \null && ctx->fd >= 0 && into != \null &&
            buf_shape(*into) && need <= into->cap - into->len;
*/
static KEEL_MUST_USE keel_result net_recv_check(const keel_net *ctx, const keel_buf *into,
                                                size_t need)
{
    if (ctx == NULL || !keel_buf_valid(into)) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(net_io_check(ctx));
    return keel_buf_spare(into) < need ? KEEL_ERR_TOO_LARGE : KEEL_OK;
}

/*@ requires ctx == \null || valid_net(ctx);
    requires slice_arg(data);
    requires sent == \null || \valid(sent);
    assigns *sent, ctx->last_errno, ctx->sticky, NET_OS_STATE;
    ensures ctx == \null || sent == \null || !slice_shape(data) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> *sent <= data.len;
*/
keel_result keel_net_send(keel_net *ctx, keel_slice data, size_t *sent)
{
    if (ctx == NULL || sent == NULL || !keel_slice_valid(data)) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(net_io_check(ctx));
    return net_send_raw(ctx, data, 0, NULL, 0, sent);
}

/*@ requires ctx == \null || valid_net(ctx);
    requires slice_arg(data);
    requires sent == \null || \valid(sent);
    assigns *sent, ctx->last_errno, ctx->sticky, NET_OS_STATE, __fc_time;
    ensures ctx == \null || !slice_shape(data) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures sent != \null && ctx != \null && slice_shape(data) ==> *sent <= data.len;
    ensures sent != \null && \result == KEEL_OK ==> *sent == data.len;
*/
keel_result keel_net_send_all(keel_net *ctx, keel_slice data, uint32_t timeout_ms, size_t *sent)
{
    if (ctx == NULL || !keel_slice_valid(data)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = net_io_check(ctx);
    deadline d = net_deadline_in(timeout_ms);
    size_t done = 0;
    /*@ loop invariant done <= data.len;
        loop invariant r == KEEL_OK ==> ctx->fd >= 0;
        loop assigns r, done, ctx->last_errno, ctx->sticky, NET_OS_STATE, __fc_time;
    */
    while (r == KEEL_OK && done < data.len) {
        keel_slice rest = { data.ptr + done, data.len - done };
        size_t n = 0;
        /* Never block inside send(2): the deadline must hold on a blocking
         * context too, so waiting is poll's job. */
        r = net_send_raw(ctx, rest, MSG_DONTWAIT, NULL, 0, &n);
        if (r == KEEL_OK) {
            done += n;
        } else if (r == KEEL_ERR_WOULD_BLOCK) {
            short rev = 0;
            r = net_deadline_passed(&d) ? net_fail_once(ctx, ETIMEDOUT)
                                        : net_wait_ready(ctx, POLLOUT, &d, &rev);
        }
    }
    if (sent != NULL) {
        *sent = done;
    }
    return r;
}

/*@ requires ctx == \null || valid_net(ctx);
    requires buf_arg(into);
    requires ctx != \null && into != \null ==> \separated(ctx, into);
    requires received == \null || \valid(received);
    requires received != \null && into != \null ==> \separated(received, into);
    assigns into->len, into->ptr[into->len .. into->cap - 1], *received,
            ctx->last_errno, ctx->sticky, ctx->held, NET_OS_STATE, __fc_heap_status;
    ensures ctx == \null || into == \null || !buf_shape(\old(*into)) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==>
            \old(into->len) <= into->len <= into->cap &&
            (received != \null ==> into->len == \old(into->len) + *received &&
                                   *received <= \old(into->cap - into->len));
    ensures \result != KEEL_OK && into != \null ==> into->len == \old(into->len);
*/
keel_result keel_net_recv(keel_net *ctx, keel_buf *into, size_t *received)
{
    KEEL_TRY(net_recv_check(ctx, into, 1));
    size_t got = 0;
    keel_result r = net_recv_some(ctx, into, keel_buf_spare(into), 0, NULL, &got);
    if (received != NULL && (r == KEEL_OK || r == KEEL_ERR_TRUNCATED)) {
        *received = got;
    }
    return r;
}

/*@ requires ctx == \null || valid_net(ctx);
    requires buf_arg(into);
    requires ctx != \null && into != \null ==> \separated(ctx, into);
    requires received == \null || \valid(received);
    requires received != \null && into != \null ==> \separated(received, into);
    assigns into->len, into->ptr[into->len .. into->cap - 1], *received,
            ctx->last_errno, ctx->sticky, ctx->held, NET_OS_STATE, __fc_time, __fc_heap_status;
    ensures ctx == \null || into == \null || !buf_shape(\old(*into)) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==>
            \old(into->len) <= into->len <= into->cap &&
            (received != \null ==> into->len == \old(into->len) + *received &&
                                   *received <= \old(into->cap - into->len));
    ensures \result != KEEL_OK && into != \null ==> into->len == \old(into->len);
*/
keel_result keel_net_recv_timeout(keel_net *ctx, keel_buf *into, uint32_t timeout_ms,
                                  size_t *received)
{
    KEEL_TRY(net_recv_check(ctx, into, 1));
    deadline d = net_deadline_in(timeout_ms);
    size_t got = 0;
    keel_result r = net_recv_until(ctx, into, keel_buf_spare(into), &d, NULL, &got);
    if (received != NULL && (r == KEEL_OK || r == KEEL_ERR_TRUNCATED)) {
        *received = got;
    }
    return r;
}

/*@ requires ctx == \null || valid_net(ctx);
    requires buf_arg(into);
    requires ctx != \null && into != \null ==> \separated(ctx, into);
    assigns into->len, into->ptr[into->len .. into->cap - 1],
            ctx->last_errno, ctx->sticky, ctx->held, NET_OS_STATE, __fc_time, __fc_heap_status;
    ensures ctx == \null || into == \null || !buf_shape(\old(*into)) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> into->len == \old(into->len) + n;
    ensures into != \null ==> \old(into->len) <= into->len;
    ensures into != \null && buf_shape(\old(*into)) ==> into->len <= \old(into->len) + n;
*/
keel_result keel_net_recv_exact(keel_net *ctx, keel_buf *into, size_t n, uint32_t timeout_ms)
{
    keel_result r = net_recv_check(ctx, into, n);
    deadline d = net_deadline_in(timeout_ms);
    size_t done = 0;
    /*@ loop invariant r == KEEL_OK ==>
            done <= n && into->len == \at(into->len, Pre) + done &&
            ctx != \null && ctx->fd >= 0 && into != \null && buf_shape(*into) &&
            valid_buf(*into) && \separated(into, into->ptr + (0 .. into->cap - 1)) &&
            n <= into->cap - \at(into->len, Pre);
        loop invariant ctx == \null || into == \null || !buf_shape(\at(*into, Pre)) ==>
            r == KEEL_ERR_INVALID_ARG;
        loop invariant into != \null ==> \at(into->len, Pre) <= into->len;
        loop invariant into != \null && buf_shape(\at(*into, Pre)) ==>
            into->len <= \at(into->len, Pre) + n;
        loop assigns r, done, into->len, into->ptr[\at(into->len, Pre) .. into->cap - 1],
                     ctx->last_errno, ctx->sticky, ctx->held, NET_OS_STATE, __fc_time,
                     __fc_heap_status;
    */
    while (r == KEEL_OK && done < n) {
        size_t got = 0;
        r = net_recv_until(ctx, into, n - done, &d, NULL, &got);
        done += got;
    }
    return r;
}

/* A dual-stack IPv6 socket reaches IPv4 peers through v4-mapped addresses. */
/*@ requires \valid_read(v4);
    assigns \nothing;
    ensures \result.family == KEEL_AF_INET6;
*/
static keel_addr net_v4_mapped_addr(const keel_addr *v4)
{
    keel_addr m = { .family = KEEL_AF_INET6, .port = v4->port, .scope_id = 0 };
    m.bytes[10] = 0xff;
    m.bytes[11] = 0xff;
    /*@ loop invariant 0 <= i <= 4;
        loop assigns i, m.bytes[12 .. 15];
        loop variant 4 - i;
    */
    for (size_t i = 0; i < 4; i++) {
        m.bytes[12 + i] = v4->bytes[i];
    }
    return m;
}

/*@ requires ctx == \null || valid_net(ctx);
    requires slice_arg(data);
    requires to == \null || \valid_read(to);
    assigns ctx->last_errno, ctx->sticky, NET_OS_STATE;
    ensures ctx == \null || to == \null || !slice_shape(data) ==>
            \result == KEEL_ERR_INVALID_ARG;
*/
keel_result keel_net_sendto(keel_net *ctx, keel_slice data, const keel_addr *to)
{
    if (ctx == NULL || to == NULL || !keel_slice_valid(data)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd < 0 || ctx->proto != KEEL_PROTO_UDP) {
        return KEEL_ERR_STATE;
    }
    keel_addr dst = *to;
    if (ctx->family == KEEL_AF_INET6 && dst.family == KEEL_AF_INET4) {
        dst = net_v4_mapped_addr(to);
    }
    sa_buf ss;
    socklen_t len = 0;
    KEEL_TRY(keel_addr_to_sockaddr(&dst, &ss.ss, &len));
    size_t sent = 0;
    return net_send_raw(ctx, data, 0, &ss, len, &sent);
}

/*@ requires ctx == \null || valid_net(ctx);
    requires buf_arg(into);
    requires ctx != \null && into != \null ==> \separated(ctx, into);
    requires received == \null || \valid(received);
    requires received != \null && into != \null ==> \separated(received, into);
    requires from == \null || \valid(from);
    assigns into->len, into->ptr[into->len .. into->cap - 1], *received, *from,
            ctx->last_errno, ctx->sticky, ctx->held, NET_OS_STATE, __fc_time, __fc_heap_status;
    ensures ctx == \null || into == \null || !buf_shape(\old(*into)) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==>
            \old(into->len) <= into->len <= into->cap &&
            (received != \null ==> into->len == \old(into->len) + *received &&
                                   *received <= \old(into->cap - into->len));
    ensures \result != KEEL_OK && into != \null ==> into->len == \old(into->len);
*/
keel_result keel_net_recvfrom(keel_net *ctx, keel_buf *into, uint32_t timeout_ms,
                              keel_addr *from, size_t *received)
{
    KEEL_TRY(net_recv_check(ctx, into, 1));
    if (ctx->proto != KEEL_PROTO_UDP) {
        return KEEL_ERR_STATE;
    }
    deadline d = net_deadline_in(timeout_ms);
    size_t got = 0;
    keel_result r = net_recv_until(ctx, into, keel_buf_spare(into), &d, from, &got);
    if (received != NULL && (r == KEEL_OK || r == KEEL_ERR_TRUNCATED)) {
        *received = got;
    }
    return r;
}

/* ---- introspection ------------------------------------------------------ */

/*@ requires ctx == \null || valid_net_read(ctx);
    requires out == \null || \valid(out);
    assigns *out, NET_OS_STATE;
    ensures ctx == \null || out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures ctx != \null && out != \null && ctx->fd < 0 ==> \result == KEEL_ERR_STATE;
*/
static KEEL_MUST_USE keel_result net_socket_addr(const keel_net *ctx, keel_addr *out, bool peer)
{
    if (ctx == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd < 0) {
        return KEEL_ERR_STATE;
    }
    sa_buf ss;
    socklen_t len = (socklen_t)sizeof ss;
    int rc = peer ? ksys_getpeername(ctx->fd, (struct sockaddr *)&ss, &len)
                  : ksys_getsockname(ctx->fd, (struct sockaddr *)&ss, &len);
    if (rc != 0) {
        return net_errno_result(ctx, errno);
    }
    return keel_addr_from_sockaddr((const struct sockaddr *)&ss, len, out);
}

/*@ requires ctx == \null || valid_net_read(ctx);
    requires out == \null || \valid(out);
    assigns *out, NET_OS_STATE;
    ensures ctx == \null || out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures ctx != \null && out != \null && ctx->fd < 0 ==> \result == KEEL_ERR_STATE;
*/
keel_result keel_net_local_addr(const keel_net *ctx, keel_addr *out)
{
    return net_socket_addr(ctx, out, false);
}

/*@ requires ctx == \null || valid_net_read(ctx);
    requires out == \null || \valid(out);
    assigns *out, NET_OS_STATE;
    ensures ctx == \null || out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures ctx != \null && out != \null && ctx->fd < 0 ==> \result == KEEL_ERR_STATE;
*/
keel_result keel_net_peer_addr(const keel_net *ctx, keel_addr *out)
{
    return net_socket_addr(ctx, out, true);
}

/*@ requires ctx == \null || valid_net_read(ctx);
    requires fd == \null || \valid(fd);
    assigns *fd;
    ensures ctx == \null || fd == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> *fd == ctx->fd && *fd >= 0;
    ensures \result != KEEL_OK && fd != \null ==> *fd == \old(*fd);
*/
keel_result keel_net_fd(const keel_net *ctx, int *fd)
{
    if (ctx == NULL || fd == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (ctx->fd < 0) {
        return KEEL_ERR_STATE;
    }
    *fd = ctx->fd;
    return KEEL_OK;
}

/*@ requires ctx == \null || \valid_read(ctx);
    assigns \nothing;
    ensures \result == (ctx == \null ? 0 : ctx->last_errno);
*/
int keel_net_last_os_error(const keel_net *ctx)
{
    return ctx == NULL ? 0 : ctx->last_errno;
}

/*@ requires ctx == \null || \valid_read(ctx);
    assigns \nothing;
    ensures ctx == \null ==> \result == 0;
*/
size_t keel_net_pending(const keel_net *ctx)
{
    return ctx == NULL ? 0 : ctx->held.count;
}

/*@ requires ctx == \null || \valid_read(ctx);
    assigns \nothing;
    ensures \result == (ctx == \null ? KEEL_PROTO_TCP : ctx->proto);
*/
keel_proto keel_net_proto(const keel_net *ctx)
{
    return ctx == NULL ? KEEL_PROTO_TCP : ctx->proto;
}

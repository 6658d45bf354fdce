/*
 * src/loop/udp.c - UDP on the loop (keel_udp_*): datagrams are received
 * into the loop's scratch buffer and handed to the callback one by one;
 * sending is immediate and never queued.
 */
#include <errno.h>
#include <sys/epoll.h>

#include "net/net_internal.h"
#include "loop/loop_internal.h"

/* Datagrams read per readiness, so that one busy socket cannot hold the
 * loop (level-triggered: the rest is read in the next iteration). */
#define UDP_BURST 32

struct keel_udp {
    kloop_handle handle;
    kloop_watch watch;
    kloop_deferred release;
    keel_loop *loop;
    keel_net *sock;
    size_t max_datagram;
    size_t delivering; /* real size of the datagram in the callback now, else 0 */
    keel_udp_cb cb;
    void *user;
};

#define UDP_OF(ptr, member) ((keel_udp *)(void *)((char *)(ptr) - offsetof(keel_udp, member)))

/* Receive one datagram into the scratch buffer. MSG_TRUNC makes recvfrom
 * return the datagram's real length (*size), which tells a truncation
 * apart; the kernel drops what did not fit. */
static KEEL_MUST_USE keel_result udp_recv_datagram(keel_udp *u, keel_slice *data, keel_addr *from,
                                                   size_t *size)
{
    keel_buf scratch = kloop_scratch(u->loop);
    struct sockaddr_storage ss;
    for (;;) {
        socklen_t sslen = sizeof ss;
        ssize_t n = ksys_recvfrom(u->watch.fd, scratch.ptr, u->max_datagram, MSG_TRUNC,
                                  (struct sockaddr *)&ss, &sslen);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return knet_errno_result(errno, false);
        }
        size_t got = (size_t)n;
        *size = got;
        keel_result r = got > u->max_datagram ? KEEL_ERR_TRUNCATED : KEEL_OK;
        KEEL_TRY(keel_slice_from(scratch.ptr, got > u->max_datagram ? u->max_datagram : got, data));
        if (keel_addr_from_sockaddr((const struct sockaddr *)&ss, sslen, from) != KEEL_OK) {
            *from = (keel_addr){ .family = KEEL_AF_UNSPEC };
        }
        return r;
    }
}

static void udp_deliver_burst(kloop_watch *w, uint32_t ev)
{
    (void)ev;
    keel_udp *u = UDP_OF(w, watch);
    for (int k = 0; k < UDP_BURST && u->watch.fd >= 0; k++) {
        keel_slice data = keel_slice_empty();
        keel_addr from = { .family = KEEL_AF_UNSPEC };
        size_t size = 0;
        keel_result r = udp_recv_datagram(u, &data, &from, &size);
        if (r == KEEL_ERR_WOULD_BLOCK) {
            return;
        }
        bool datagram = r == KEEL_OK || r == KEEL_ERR_TRUNCATED;
        u->delivering = datagram ? size : 0;
        u->cb(u, r, data, datagram ? &from : NULL, u->user);
        u->delivering = 0;
    }
}

static void udp_release(kloop_deferred *d)
{
    keel_udp *u = UDP_OF(d, release);
    keel_net_free(u->sock);
    ksys_release(u);
}

static void udp_close_now(kloop_handle *h)
{
    keel_udp_close(UDP_OF(h, handle));
}

keel_result keel_udp_start(keel_loop *loop, keel_net *sock, size_t max_datagram, keel_udp_cb cb,
                           void *user, keel_udp **out)
{
    if (loop == NULL || sock == NULL || cb == NULL || out == NULL || max_datagram == 0 ||
        max_datagram > KLOOP_SCRATCH_CAP) {
        return KEEL_ERR_INVALID_ARG;
    }
    /* The handle reads the descriptor only: datagrams the context holds
     * in memory would never be delivered. */
    if (keel_net_proto(sock) != KEEL_PROTO_UDP || keel_net_pending(sock) > 0) {
        return KEEL_ERR_STATE;
    }
    int fd;
    KEEL_TRY(keel_net_fd(sock, &fd));
    keel_udp *u = ksys_alloc_zeroed(sizeof *u);
    if (u == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_result r = keel_net_set_nonblocking(sock, true);
    if (r == KEEL_OK) {
        u->watch.fn = udp_deliver_burst;
        r = kloop_add(loop, &u->watch, fd, EPOLLIN);
    }
    if (r != KEEL_OK) {
        ksys_release(u);
        return r;
    }
    u->loop = loop;
    u->sock = sock;
    u->max_datagram = max_datagram;
    u->cb = cb;
    u->user = user;
    u->release.fn = udp_release;
    u->handle.close_now = udp_close_now;
    kloop_handle_link(loop, &u->handle);
    *out = u;
    return KEEL_OK;
}

keel_result keel_udp_send(keel_udp *u, keel_slice data, const keel_addr *to)
{
    if (u == NULL || to == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (u->watch.fd < 0) {
        return KEEL_ERR_STATE;
    }
    /* keel_net_sendto maps EMSGSIZE to TOO_LARGE, as every call does. */
    return keel_net_sendto(u->sock, data, to);
}

size_t keel_udp_datagram_size(const keel_udp *u)
{
    return u == NULL ? 0 : u->delivering;
}

keel_result keel_udp_local_addr(const keel_udp *u, keel_addr *out)
{
    if (u == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (u->watch.fd < 0) {
        return KEEL_ERR_STATE;
    }
    return keel_net_local_addr(u->sock, out);
}

void keel_udp_close(keel_udp *u)
{
    if (u == NULL || u->watch.fd < 0) {
        return;
    }
    kloop_del(u->loop, &u->watch);
    kloop_handle_unlink(u->loop, &u->handle);
    /* Released after the batch: keel_udp_close may run inside u's callback. */
    kloop_defer(u->loop, &u->release);
}

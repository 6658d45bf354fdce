/*
 * src/net/dgram_queue.c - the datagrams a keel_net holds in memory
 * (src/net/dgram_queue.h): a singly linked FIFO on the heap, each node
 * sized for its datagram.
 */
#include "net/dgram_queue.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/sys.h"
#include "net/net_internal.h"

struct knet_dgram {
    knet_dgram *next;
    keel_addr from;
    size_t len;
    uint8_t bytes[]; /* len of them */
};

/* One recvfrom(2) with EINTR retried. */
static ssize_t dgram_recvfrom(int fd, uint8_t *buf, size_t len, int flags,
                              struct sockaddr_storage *ss, socklen_t *sslen)
{
    for (;;) {
        if (sslen != NULL) {
            *sslen = (socklen_t)sizeof *ss;
        }
        ssize_t n = ksys_recvfrom(fd, buf, len, flags, (struct sockaddr *)ss, sslen);
        if (n >= 0 || errno != EINTR) {
            return n;
        }
    }
}

keel_result knet_dgram_recv(int fd, int flags, knet_dgram **out, int *os_errno)
{
    if (fd < 0 || out == NULL || os_errno == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    *os_errno = 0;
    /* The size first (MSG_TRUNC reports a datagram's real length), so the
     * node holds the whole datagram and nothing is cut. */
    uint8_t none = 0;
    ssize_t n = dgram_recvfrom(fd, &none, 0, flags | MSG_PEEK | MSG_TRUNC, NULL, NULL);
    if (n < 0) {
        *os_errno = errno;
        return knet_errno_result(*os_errno, false);
    }
    size_t len = (size_t)n;
    if (len > SIZE_MAX - sizeof(knet_dgram)) {
        return KEEL_ERR_TOO_LARGE; /* no datagram is that long */
    }
    knet_dgram *d = ksys_alloc_zeroed(sizeof(knet_dgram) + len);
    if (d == NULL) {
        *os_errno = ENOMEM;
        return KEEL_ERR_NO_MEMORY;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    n = dgram_recvfrom(fd, d->bytes, len, flags | MSG_TRUNC, &ss, &sslen);
    if (n < 0) {
        *os_errno = errno;
        ksys_release(d);
        return knet_errno_result(*os_errno, false);
    }
    /* With one reader the datagram is the one peeked, of length len. A
     * second reader of the same descriptor (another process) may have
     * taken it in between: keep what fits of the one that came. */
    d->len = (size_t)n < len ? (size_t)n : len;
    if (sslen > (socklen_t)sizeof ss ||
        keel_addr_from_sockaddr((const struct sockaddr *)&ss, sslen, &d->from) != KEEL_OK) {
        /* No sender to route it to or answer (not on an IPv4/IPv6 socket):
         * it is dropped, so that it cannot stay first in a queue forever. */
        ksys_release(d);
        return KEEL_ERR_PARSE;
    }
    *out = d;
    return KEEL_OK;
}

void knet_dgram_sender(const knet_dgram *d, keel_addr *from)
{
    if (d != NULL && from != NULL) {
        *from = d->from;
    }
}

bool knet_dgram_sent_by(const knet_dgram *d, const keel_addr *peer)
{
    return d != NULL && peer != NULL && keel_addr_eq(&d->from, peer);
}

void knet_dgram_free(knet_dgram *d)
{
    ksys_release(d);
}

/* What d counts against a cap. */
static size_t dgram_cost(const knet_dgram *d)
{
    return d->len > SIZE_MAX - KNET_DGRAM_OVERHEAD ? SIZE_MAX : d->len + KNET_DGRAM_OVERHEAD;
}

bool knet_dgram_queue_push(knet_dgram_queue *q, knet_dgram *d, size_t cap)
{
    if (q == NULL || d == NULL) {
        knet_dgram_free(d);
        return false;
    }
    size_t cost = dgram_cost(d);
    if (cost > cap || q->size > cap - cost) {
        knet_dgram_free(d);
        return false;
    }
    d->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = d;
    } else {
        q->head = d;
    }
    q->tail = d;
    q->count++;
    q->size += cost;
    return true;
}

void knet_dgram_queue_push_front(knet_dgram_queue *q, knet_dgram *d)
{
    if (q == NULL || d == NULL) {
        knet_dgram_free(d);
        return;
    }
    d->next = q->head;
    q->head = d;
    if (q->tail == NULL) {
        q->tail = d;
    }
    q->count++;
    size_t cost = dgram_cost(d);
    q->size = q->size > SIZE_MAX - cost ? SIZE_MAX : q->size + cost;
}

void knet_dgram_queue_pop(knet_dgram_queue *q, knet_dgram **out)
{
    knet_dgram *d = q != NULL ? q->head : NULL;
    if (d != NULL) {
        q->head = d->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->count--;
        size_t cost = dgram_cost(d);
        q->size = q->size > cost ? q->size - cost : 0;
        d->next = NULL;
    }
    if (out != NULL) {
        *out = d;
    } else {
        knet_dgram_free(d);
    }
}

keel_result knet_dgram_queue_head_sender(const knet_dgram_queue *q, keel_addr *from)
{
    if (q == NULL || from == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (q->head == NULL) {
        return KEEL_ERR_NOT_FOUND;
    }
    *from = q->head->from;
    return KEEL_OK;
}

void knet_dgram_queue_move_sender(knet_dgram_queue *src, knet_dgram_queue *dst,
                                  const keel_addr *peer, size_t cap)
{
    if (src == NULL || dst == NULL || src == dst || peer == NULL) {
        return;
    }
    knet_dgram_queue keep = { 0 };
    knet_dgram *d = NULL;
    /* Rebuild src from the datagrams that stay, in their order. */
    for (knet_dgram_queue_pop(src, &d); d != NULL; knet_dgram_queue_pop(src, &d)) {
        if (knet_dgram_sent_by(d, peer)) {
            knet_dgram_queue_push(dst, d, cap);
        } else {
            knet_dgram_queue_push(&keep, d, SIZE_MAX);
        }
    }
    *src = keep;
}

keel_result knet_dgram_queue_deliver(knet_dgram_queue *q, keel_buf *into, size_t max,
                                     keel_addr *from, size_t *got)
{
    if (q == NULL || got == NULL || !keel_buf_valid(into) || max > keel_buf_spare(into)) {
        return KEEL_ERR_INVALID_ARG;
    }
    knet_dgram *d = q->head;
    if (d == NULL) {
        return KEEL_ERR_NOT_FOUND;
    }
    if (d->len > max) {
        *got = d->len;
        return KEEL_ERR_TRUNCATED;
    }
    keel_slice bytes;
    KEEL_TRY(keel_slice_from(d->bytes, d->len, &bytes));
    KEEL_TRY(keel_buf_append(into, bytes));
    if (from != NULL) {
        *from = d->from;
    }
    *got = d->len;
    knet_dgram_queue_pop(q, NULL);
    return KEEL_OK;
}

void knet_dgram_queue_clear(knet_dgram_queue *q)
{
    if (q == NULL) {
        return;
    }
    knet_dgram *d = NULL;
    for (knet_dgram_queue_pop(q, &d); d != NULL; knet_dgram_queue_pop(q, &d)) {
        knet_dgram_free(d);
    }
}

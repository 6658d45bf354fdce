/*
 * src/net/dgram_queue.h - UDP datagrams a keel_net holds in memory
 * (internal; never installed).
 *
 * keel_net_accept on UDP gives the client a socket of its own, connected to
 * the first sender; every datagram of that sender that reached the
 * listener's socket (or the client's socket before it was connected) is
 * moved to the client's queue, and what other senders' datagrams reached
 * the client's socket goes back to the listener's. A context's receive
 * calls return its queue, oldest first, before reading its socket
 * (src/net/net.c).
 *
 * A queue is a FIFO of datagrams, each with its sender; the all-zero value
 * is the empty queue. Its size counts each datagram's bytes plus
 * KNET_DGRAM_OVERHEAD, so that even empty datagrams count against a cap.
 * Not thread-safe: a queue belongs to one keel_net, which one thread uses
 * at a time.
 *
 * This file is tested (tests/net/test_net_udp.c, under ASan and valgrind),
 * not proven: its nodes live on the heap, which WP 25 does not model.
 * src/net/net.c is proven against the contracts restated there (see
 * proofs/README.md, Assumptions).
 */
#ifndef KEEL_NET_DGRAM_QUEUE_H
#define KEEL_NET_DGRAM_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "keel/addr.h"
#include "keel/result.h"
#include "keel/slice.h"

/* One datagram and its sender (opaque outside dgram_queue.c). */
typedef struct knet_dgram knet_dgram;

/* A FIFO of datagrams; {0} is empty. */
typedef struct knet_dgram_queue {
    knet_dgram *head;
    knet_dgram *tail;
    size_t count; /* datagrams */
    size_t size;  /* their bytes + KNET_DGRAM_OVERHEAD each */
} knet_dgram_queue;

/* What a held datagram costs besides its bytes, for caps. */
#define KNET_DGRAM_OVERHEAD 64u

/* Receive the datagram at the head of fd's queue into a new knet_dgram
 * sized for it (its size is peeked first, so nothing is cut), with its
 * sender. flags are recvfrom's (MSG_DONTWAIT...). EINTR is retried. On
 * failure *out is unchanged and *os_errno says why (0 when it is not an OS
 * error): WOULD_BLOCK (empty), NO_MEMORY (ENOMEM: the datagram stays
 * queued), or the errno's result (nothing taken); PARSE when the sender's
 * address cannot be read (impossible on an IPv4/IPv6 socket): that
 * datagram is taken and dropped, so it cannot stay first in a queue. */
KEEL_MUST_USE keel_result knet_dgram_recv(int fd, int flags, knet_dgram **out, int *os_errno);

/* *from gets d's sender (KEEL_AF_UNSPEC if it could not be read). */
void knet_dgram_sender(const knet_dgram *d, keel_addr *from);

/* Whether d was sent from peer (keel_addr_eq). */
bool knet_dgram_sent_by(const knet_dgram *d, const keel_addr *peer);

/* Release d (NULL is fine). */
void knet_dgram_free(knet_dgram *d);

/* Append d to q when q's size stays within cap; otherwise release d, as a
 * full receive buffer drops a datagram. True if d was queued. */
bool knet_dgram_queue_push(knet_dgram_queue *q, knet_dgram *d, size_t cap);

/* Put d back in front of q (no cap: it came from there). */
void knet_dgram_queue_push_front(knet_dgram_queue *q, knet_dgram *d);

/* Take q's oldest datagram: *out gets it (NULL if q is empty). */
void knet_dgram_queue_pop(knet_dgram_queue *q, knet_dgram **out);

/* The sender of q's oldest datagram. NOT_FOUND if q is empty. */
KEEL_MUST_USE keel_result knet_dgram_queue_head_sender(const knet_dgram_queue *q, keel_addr *from);

/* Move every datagram of src sent from peer to the end of dst, in order,
 * within dst's cap (those over it are released). */
void knet_dgram_queue_move_sender(knet_dgram_queue *src, knet_dgram_queue *dst,
                                  const keel_addr *peer, size_t cap);

/* Deliver q's oldest datagram: append it to into (at most max bytes of
 * spare room are offered), *from (may be NULL) gets its sender, *got its
 * size, and it leaves q. TRUNCATED if it is longer than max: it stays in
 * q, into is unchanged, *got gets its size. NOT_FOUND if q is empty. */
KEEL_MUST_USE keel_result knet_dgram_queue_deliver(knet_dgram_queue *q, keel_buf *into, size_t max,
                                                   keel_addr *from, size_t *got);

/* Release every datagram; q is empty afterwards. */
void knet_dgram_queue_clear(knet_dgram_queue *q);

#endif /* KEEL_NET_DGRAM_QUEUE_H */

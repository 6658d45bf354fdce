/*
 * proofs/contracts/net.h - what src/net/net.c is proven against, included by
 * net.c under __FRAMAC__ only (ci/prove adds -Iproofs): Linux's SOCK_* flags
 * that Frama-C 25's libc lacks, the contracts of the syscall seam's wrappers
 * (src/core/sys.h; WP proves those it can against Frama-C's libc), and the
 * trusted contracts of what net.c calls outside its unit (addr.c's sockaddr
 * conversions and resolver, the datagram queue). Every assumption here is
 * listed in proofs/README.md ("net").
 */
#ifndef KEEL_PROOFS_CONTRACTS_NET_H
#define KEEL_PROOFS_CONTRACTS_NET_H

#include "keel/net.h"
#include "net/dgram_queue.h"
#include "net/net_internal.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Frama-C 25's libc lacks Linux's SOCK_* type flags; these are Linux's values. */
#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC 02000000
#endif
#ifndef SOCK_NONBLOCK
#define SOCK_NONBLOCK 04000
#endif

/* What the libc specs say a socket call may change: the ghost state of the
 * socket table and errno. The spaces around ".." matter: "0..N" would lex
 * as one preprocessing number and N would not expand. */
// clang-format off
#define NET_OS_STATE __fc_sockfds[0 .. __FC_MAX_OPEN_SOCKETS - 1], __fc_errno
/* ... and what opening or closing one may change besides. */
#define NET_OPEN_STATE NET_OS_STATE, __fc_socket_counter, __fc_fds[0 .. __FC_MAX_OPEN_FILES - 1]
// clang-format on

/*@
  // The descriptor ranges Frama-C's libc models (1024 sockets / files).
  predicate fd_modelled(integer fd) =
      0 <= fd < __FC_MAX_OPEN_SOCKETS && fd < __FC_MAX_OPEN_FILES;
*/

/*
 * Contracts of the syscall seam's wrappers (src/core/sys.h): under Frama-C their
 * bodies call libc directly, so WP proves each of these against Frama-C's
 * libc spec of the call it wraps; the contract restates that spec.
 */
/*@ assigns \result, __fc_time; */
static inline uint64_t ksys_clock_ms(void);

/*@ assigns \result, __fc_time; */
static inline uint64_t ksys_now_ms(void);

/*@ requires \valid(fds + (0 .. n - 1));
    assigns fds[0 .. n - 1].revents, __fc_errno;
    ensures \result == -1 || 0 <= \result <= n;
*/
static inline int ksys_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires \valid((char *)buf + (0 .. len - 1));
    requires (sa == \null && salen == \null) ||
             (\valid(salen) && \initialized(salen) &&
              \valid((char *)sa + (0 .. *salen - 1)));
    assigns ((char *)buf)[0 .. len - 1], *salen, ((char *)sa)[0 .. *salen - 1],
            NET_OS_STATE;
    ensures \result == -1 || 0 <= \result;
    ensures (flags & MSG_TRUNC) == 0 ==> \result <= len;
*/
static inline ssize_t ksys_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                                    socklen_t *salen);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires \valid_read((char *)buf + (0 .. len - 1));
    assigns NET_OS_STATE;
    ensures \result == -1 || 0 <= \result <= len;
*/
static inline ssize_t ksys_sendto(int fd, const void *buf, size_t len, int flags,
                                  const struct sockaddr *sa, socklen_t salen);

/*@ requires 0 <= fd < __FC_MAX_OPEN_FILES;
    assigns __fc_fds[fd], __fc_errno;
*/
static inline int ksys_close(int fd);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    assigns NET_OS_STATE;
*/
static inline int ksys_shutdown(int fd, int how);

/* Trusted, not proven: Frama-C's variadic translation turns the body's
 * fcntl(fd, cmd, arg) into __va_fcntl_int, whose spec omits F_GETFL (which
 * ignores its argument). fcntl's own spec assigns nothing else. */
/*@ assigns __fc_errno; */
static inline int ksys_fcntl_int(int fd, int cmd, int arg);

/*
 * keel_addr's sockaddr conversions (src/net/addr.c) are outside WP (they
 * reinterpret sockaddr as sockaddr_in / sockaddr_in6); these contracts are
 * trusted, and pinned by tests/net/test_addr.c.
 */
/*@ requires \valid_read(a) && \valid(ss) && \valid(len);
    assigns *ss, *len;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> 0 < *len <= sizeof(struct sockaddr_storage);
*/
KEEL_MUST_USE keel_result keel_addr_to_sockaddr(const keel_addr *a, struct sockaddr_storage *ss,
                                                socklen_t *len);

/*@ requires \valid_read((char *)sa + (0 .. sizeof(struct sockaddr_storage) - 1));
    requires \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
*/
KEEL_MUST_USE keel_result keel_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                                                  keel_addr *out);

/* keel_addr_resolve is outside WP too (it walks getaddrinfo's list, which
 * Frama-C's libc does not describe): trusted, pinned by tests/net/test_addr.c.
 * It reads host's bytes only when host passes keel_slice_valid (then
 * slice_arg says they are readable); out is written only on KEEL_OK. */
/*@ requires slice_arg(host);
    requires out == \null || \valid(out);
    assigns *out;
    ensures out == \null || !slice_shape(host) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> 0 < out->count <= KEEL_ADDR_LIST_MAX;
*/
KEEL_MUST_USE keel_result keel_addr_resolve(keel_slice host, uint16_t port, keel_family family,
                                            keel_addr_list *out);

/* The parts of src/net/addr.c's contracts that bind relies on; addr.c's own
 * proof discharges them (this file is proven without addr.c, as addr.c is
 * proven without slice.c). */
/*@ requires text.ptr != \null ==> \valid_read(text.ptr + (0 .. text.len - 1));
    requires out != \null ==> \valid(out);
    assigns *out;
*/
KEEL_MUST_USE keel_result keel_addr_parse_ip(keel_slice text, keel_addr *out);

/*@ requires out != \null ==> \valid(out);
    assigns *out;
*/
KEEL_MUST_USE keel_result keel_addr_any(keel_family family, uint16_t port, keel_addr *out);

/*@ assigns __fc_socket_counter, __fc_errno;
    ensures \result == -1 || fd_modelled(\result);
*/
static inline int ksys_socket(int domain, int type, int protocol);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires \valid_read((char *)sa + (0 .. len - 1));
    assigns NET_OS_STATE;
*/
static inline int ksys_connect(int fd, const struct sockaddr *sa, socklen_t len);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires \valid_read((char *)sa + (0 .. len - 1));
    assigns NET_OS_STATE;
*/
static inline int ksys_bind(int fd, const struct sockaddr *sa, socklen_t len);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    assigns NET_OS_STATE;
*/
static inline int ksys_listen(int fd, int backlog);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires val == \null || \valid_read((char *)val + (0 .. len - 1));
    assigns NET_OS_STATE;
*/
static inline int ksys_setsockopt(int fd, int level, int name, const void *val, socklen_t len);

/* Only SO_ERROR and SO_RCVBUF are read, both ints. Trusted, not proven:
 * this is the libc spec's so_error behavior (SO_RCVBUF has the same shape);
 * WP rejects the spec's default assigns clause, an unbounded range
 * ((char *)optval)[0..]. */
/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires level == SOL_SOCKET && (name == SO_ERROR || name == SO_RCVBUF);
    requires \valid(len) && *len == sizeof(int) && \valid((int *)val);
    assigns *(int *)val, *len, NET_OS_STATE;
*/
static inline int ksys_getsockopt(int fd, int level, int name, void *val, socklen_t *len);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires \valid(len) && \initialized(len) && \valid((char *)sa + (0 .. *len - 1));
    assigns *len, ((char *)sa)[0 .. *len - 1], NET_OS_STATE;
*/
static inline int ksys_getsockname(int fd, struct sockaddr *sa, socklen_t *len);

/* Trusted, not proven: Frama-C's libc declares getpeername without a spec
 * and lacks accept4; these restate getsockname's and accept's specs, and
 * sys.h gives the two wrappers no body under __FRAMAC__ (nothing to prove
 * one against). */
/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires \valid(len) && \initialized(len) && \valid((char *)sa + (0 .. *len - 1));
    assigns *len, ((char *)sa)[0 .. *len - 1], NET_OS_STATE;
*/
static inline int ksys_getpeername(int fd, struct sockaddr *sa, socklen_t *len);

/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires \valid(len) && \valid((char *)sa + (0 .. *len - 1));
    assigns *len, ((char *)sa)[0 .. *len - 1], NET_OS_STATE;
    ensures \result == -1 || fd_modelled(\result);
*/
static inline int ksys_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);

/* Trusted, not proven: WP 25 does not model allocation (\freeable, frees),
 * so free's precondition is the caller's promise (net.h: only what
 * keel_net_init returned, once). */
/*@ assigns __fc_heap_status; */
static inline void ksys_release(void *p);

/*
 * The datagrams a context holds (src/net/dgram_queue.c): heap nodes, which
 * WP 25 does not model, so that file is tested, not proven, and these
 * contracts are trusted (proofs/README.md, Assumptions). net.c sees the
 * queue as its struct (head, tail, count, size) and the nodes as opaque
 * pointers; every function says all it may change: the queues passed,
 * the heap, the socket table and errno.
 */
/*@ requires 0 <= fd < __FC_MAX_OPEN_SOCKETS;
    requires \valid(out) && \valid(os_errno) && \separated(out, os_errno);
    assigns *out, *os_errno, NET_OS_STATE, __fc_heap_status;
    ensures \result == KEEL_OK ==> *out != \null;
    ensures \result != KEEL_OK ==> *out == \old(*out);
*/
KEEL_MUST_USE keel_result knet_dgram_recv(int fd, int flags, knet_dgram **out, int *os_errno);

/*@ requires \valid(from);
    assigns *from;
*/
void knet_dgram_sender(const knet_dgram *d, keel_addr *from);

/*@ requires \valid_read(peer);
    assigns \nothing;
*/
bool knet_dgram_sent_by(const knet_dgram *d, const keel_addr *peer);

/*@ requires \valid(q);
    assigns *q, __fc_heap_status;
*/
bool knet_dgram_queue_push(knet_dgram_queue *q, knet_dgram *d, size_t cap);

/*@ requires \valid(q);
    assigns *q, __fc_heap_status;
*/
void knet_dgram_queue_push_front(knet_dgram_queue *q, knet_dgram *d);

/*@ requires \valid(q) && \valid(out);
    assigns *q, *out;
*/
void knet_dgram_queue_pop(knet_dgram_queue *q, knet_dgram **out);

/*@ requires \valid(src) && \valid(dst) && \separated(src, dst) && \valid_read(peer);
    assigns *src, *dst, __fc_heap_status;
*/
void knet_dgram_queue_move_sender(knet_dgram_queue *src, knet_dgram_queue *dst,
                                  const keel_addr *peer, size_t cap);

/*@ requires \valid(q);
    requires \valid(into) && buf_shape(*into) && valid_buf(*into);
    requires max <= into->cap - into->len;
    requires from == \null || \valid(from);
    requires \valid(got);
    assigns *q, into->len, into->ptr[into->len .. into->cap - 1], *from, *got,
            __fc_heap_status;
    ensures \result == KEEL_OK ==> *got <= max && into->len == \old(into->len) + *got;
    ensures \result != KEEL_OK ==> into->len == \old(into->len);
*/
KEEL_MUST_USE keel_result knet_dgram_queue_deliver(knet_dgram_queue *q, keel_buf *into, size_t max,
                                                   keel_addr *from, size_t *got);

/*@ requires \valid(q);
    assigns *q, __fc_heap_status;
    ensures q->head == \null;
*/
void knet_dgram_queue_clear(knet_dgram_queue *q);

#endif /* KEEL_PROOFS_CONTRACTS_NET_H */

/*
 * src/net/net_internal.h - what the net layer (addr.c, net.c) offers the
 * other modules of keel beyond addr.h and net.h (internal; never
 * installed): conversions between keel_addr and the socket API's sockaddr
 * structures (addr.c), the one errno mapping, and handing a keel_net's
 * descriptor over to the loop's handles (net.c).
 */
#ifndef KEEL_NET_INTERNAL_H
#define KEEL_NET_INTERNAL_H

#include <stdbool.h>
#include <sys/socket.h>

#include "keel/addr.h"
#include "keel/net.h"
#include "keel/result.h"

/* Fill *ss (zeroed first) with a sockaddr_in / sockaddr_in6 for a and set
 * *len to its size. INVALID_ARG for NULL pointers or a family other than
 * KEEL_AF_INET4 / KEEL_AF_INET6 (nothing written then). */
KEEL_MUST_USE keel_result keel_addr_to_sockaddr(const keel_addr *a, struct sockaddr_storage *ss,
                                                socklen_t *len);

/* Convert an AF_INET / AF_INET6 sockaddr of len bytes (as returned by
 * accept/getsockname/recvfrom) to *out. INVALID_ARG for NULL pointers, an
 * unknown family, or len shorter than the family's structure (*out
 * unchanged then). IPv4 sets scope_id 0. */
KEEL_MUST_USE keel_result keel_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                                                  keel_addr *out);


/* The one errno -> keel_result mapping (never KEEL_OK). connected says
 * whether the socket had a peer, so that ENOTCONN means a broken link
 * (RESET) rather than a misuse (STATE). */
KEEL_MUST_USE keel_result knet_errno_result(int err, bool connected);

/* Hand ctx's descriptor to the caller, who then owns it (closes it): *fd
 * gets it and ctx is left closed, as keel_net_close leaves it, without the
 * descriptor being closed. INVALID_ARG for NULL, STATE if ctx is closed or
 * holds datagrams (keel_net_pending: they would be lost). */
KEEL_MUST_USE keel_result knet_release_fd(keel_net *ctx, int *fd);

#endif /* KEEL_NET_INTERNAL_H */

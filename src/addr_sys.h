/*
 * src/addr_sys.h - conversions between keel_addr and the socket API's
 * sockaddr structures (internal; never installed). Implemented in addr.c.
 */
#ifndef KEEL_SRC_ADDR_SYS_H
#define KEEL_SRC_ADDR_SYS_H

#include <sys/socket.h>

#include "keel/addr.h"
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

#endif /* KEEL_SRC_ADDR_SYS_H */

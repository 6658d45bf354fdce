/*
 * fuzz/fuzz_net_util.h - what the harnesses that drive real loopback
 * sockets share.
 */
#ifndef KEEL_FUZZ_NET_UTIL_H
#define KEEL_FUZZ_NET_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "keel/net.h"

/* A TCP listener on 127.0.0.1, on a port the system chooses (*port). */
static inline keel_net *fuzz_loopback_listener(uint16_t *port)
{
    keel_net *l = NULL;
    keel_addr where;
    FUZZ_CHECK(keel_net_init(&l) == KEEL_OK);
    FUZZ_CHECK(keel_net_bind(l, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP) == KEEL_OK);
    FUZZ_CHECK(keel_net_local_addr(l, &where) == KEEL_OK);
    *port = where.port;
    return l;
}

/* A loopback connection to listener (bound on port): *writer is the
 * connecting side (no Nagle, non-blocking), *accepted the accepted one. */
static inline void fuzz_loopback_pair(keel_net *listener, uint16_t port, keel_net **writer,
                                      keel_net **accepted)
{
    FUZZ_CHECK(keel_net_init(writer) == KEEL_OK && keel_net_init(accepted) == KEEL_OK);
    FUZZ_CHECK(keel_net_connect(*writer, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 10000) ==
               KEEL_OK);
    FUZZ_CHECK(keel_net_accept(listener, *accepted, NULL) == KEEL_OK);
    FUZZ_CHECK(keel_net_set_nodelay(*writer, true) == KEEL_OK);
    FUZZ_CHECK(keel_net_set_nonblocking(*writer, true) == KEEL_OK);
}

#endif /* KEEL_FUZZ_NET_UTIL_H */

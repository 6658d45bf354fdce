/*
 * src/net_internal.h - what net.c offers the other modules of keel beyond
 * net.h (internal; never installed): the loop's handles take a keel_net's
 * descriptor over, and map errno values the way the socket layer does.
 */
#ifndef KEEL_SRC_NET_INTERNAL_H
#define KEEL_SRC_NET_INTERNAL_H

#include <stdbool.h>

#include "keel/net.h"

/* The one errno -> keel_result mapping (never KEEL_OK). connected says
 * whether the socket had a peer, so that ENOTCONN means a broken link
 * (RESET) rather than a misuse (STATE). */
KEEL_MUST_USE keel_result knet_errno_result(int err, bool connected);

/* Hand ctx's descriptor to the caller, who then owns it (closes it): *fd
 * gets it and ctx is left closed, as keel_net_close leaves it, without the
 * descriptor being closed. INVALID_ARG for NULL, STATE if ctx is closed. */
KEEL_MUST_USE keel_result knet_release_fd(keel_net *ctx, int *fd);

#endif /* KEEL_SRC_NET_INTERNAL_H */

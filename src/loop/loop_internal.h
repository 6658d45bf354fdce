/*
 * src/loop/loop_internal.h - what the loop core (loop.c, timer.c) offers
 * the handle modules (stream.c, udp.c, server.c). Not installed.
 *
 * Ownership: loop.c owns struct keel_loop; each handle module owns its
 * handle struct, which embeds the pieces below (no separate allocation).
 */
#ifndef KEEL_LOOP_INTERNAL_H
#define KEEL_LOOP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/loop.h"
#include "sys.h"

/* A registered descriptor. Embedded in a handle; epoll's data.ptr points to
 * it, and the loop calls fn with the epoll event bits (EPOLLIN, EPOLLOUT,
 * EPOLLERR, EPOLLHUP, EPOLLRDHUP) when the descriptor is ready. */
typedef struct kloop_watch kloop_watch;
typedef void (*kloop_ready_fn)(kloop_watch *w, uint32_t epoll_events);
struct kloop_watch {
    kloop_ready_fn fn;
    int fd;
    uint32_t events; /* currently registered interest (0: not registered) */
};

/* Register / change / remove interest. kloop_mod is free when the events
 * are unchanged. kloop_del is safe on an unregistered watch, and after it
 * the loop never calls w->fn again, even for events already fetched in the
 * current epoll_wait batch. */
KEEL_MUST_USE keel_result kloop_add(keel_loop *loop, kloop_watch *w, int fd, uint32_t events);
KEEL_MUST_USE keel_result kloop_mod(keel_loop *loop, kloop_watch *w, uint32_t events);
void kloop_del(keel_loop *loop, kloop_watch *w);

/* A call run from the loop later in the same iteration (after the I/O
 * batch), FIFO, on the loop thread. Intrusive: embedded in the handle, so
 * deferring never allocates and never fails. A node is queued at most once
 * (kloop_defer on a queued node is a no-op). */
typedef struct kloop_deferred kloop_deferred;
struct kloop_deferred {
    kloop_deferred *next;
    void (*fn)(kloop_deferred *d);
    bool queued;
};
void kloop_defer(keel_loop *loop, kloop_deferred *d);

/* Every open handle is on the loop's handle list: keel_loop_run keeps
 * running while the list (or the timer heap, or the task queue) is not
 * empty, and keel_loop_free calls close_now on each one left (which must
 * unlink it and call its close callback with KEEL_ERR_CLOSED). */
typedef struct kloop_handle kloop_handle;
struct kloop_handle {
    kloop_handle *prev;
    kloop_handle *next;
    void (*close_now)(kloop_handle *h);
};
void kloop_handle_link(keel_loop *loop, kloop_handle *h);
void kloop_handle_unlink(keel_loop *loop, kloop_handle *h);

/* A per-loop scratch buffer for reads (reused: idle handles hold none). */
keel_buf kloop_scratch(keel_loop *loop);

/* The loop's cached monotonic clock (ms), as keel_loop_now_ms. */
uint64_t kloop_now(const keel_loop *loop);

#endif /* KEEL_LOOP_INTERNAL_H */

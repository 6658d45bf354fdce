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
#include "core/sys.h"

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
 * current epoll_wait batch; likewise after kloop_mod, w->fn is not called
 * for fetched events it no longer asks for (none at all after
 * kloop_mod(w, 0)). (loop.c:)
 *  - Set w->fn before kloop_add. kloop_add takes events 0 too: the watch
 *    then knows its fd but is not in the epoll set (w->events == 0) until a
 *    kloop_mod asks for something; kloop_mod(w, 0) takes it out of the set
 *    again, so a paused watch is not woken by a level-triggered EPOLLHUP.
 *    On failure kloop_add leaves w->fd == -1 (the descriptor is untouched).
 *    A watch that must stay registered while asking for nothing (so that
 *    asking again is an EPOLL_CTL_MOD, which allocates nothing) uses
 *    interest EPOLLET instead: only an error or a hang-up, once.
 *  - kloop_del removes w's pending events from the batch being dispatched,
 *    so the watch's memory may be released as soon as kloop_del returns -
 *    but not while w->fn (or a user callback it called) is still on the
 *    stack: a handle closed from inside its own callbacks must release its
 *    memory from a kloop_defer'd function, which runs after the batch.
 *    kloop_del leaves w->fd == -1 and does not close the descriptor.
 *  - Level-triggered: a watch whose fn does not drain is called again in
 *    the next iteration. */
KEEL_MUST_USE keel_result kloop_add(keel_loop *loop, kloop_watch *w, int fd, uint32_t events);
KEEL_MUST_USE keel_result kloop_mod(keel_loop *loop, kloop_watch *w, uint32_t events);
void kloop_del(keel_loop *loop, kloop_watch *w);
/* kloop_del for a watch whose descriptor was closed behind the loop's
 * back (which took it out of the epoll set): no epoll_ctl, since the
 * number may already name another socket that is registered. */
void kloop_forget(keel_loop *loop, kloop_watch *w);

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
/* (loop.c:) the deferred queue runs after the I/O batch, after the timers
 * and after the posted tasks of each iteration, and until it is empty (a
 * deferred call may defer again). keel_loop_free runs it after each
 * close_now, so memory released there is released before the loop goes. */

/* Every open handle is on the loop's handle list: keel_loop_run keeps
 * running while the list (or the timer heap, or the task queue, or the
 * set of signals with a callback) is not empty, and keel_loop_free calls close_now on each one left (which must
 * unlink it and call its close callback with KEEL_ERR_CLOSED). */
typedef struct kloop_handle kloop_handle;
struct kloop_handle {
    kloop_handle *prev;
    kloop_handle *next;
    void (*close_now)(kloop_handle *h);
};
void kloop_handle_link(keel_loop *loop, kloop_handle *h);
void kloop_handle_unlink(keel_loop *loop, kloop_handle *h);

/* A per-loop scratch buffer for reads (reused: idle handles hold none):
 * KLOOP_SCRATCH_CAP bytes, allocated with the loop, so never empty. Its
 * contents last until the next kloop_scratch user on this loop. */
#define KLOOP_SCRATCH_CAP (64u * 1024u)
keel_buf kloop_scratch(keel_loop *loop);

/* Close a descriptor the loop layer owns (fd < 0: nothing): the one close
 * path of src/loop/, never retried on EINTR. */
void kloop_close_fd(int fd);

/* The loop's cached monotonic clock (ms), as keel_loop_now_ms. */
uint64_t kloop_now(const keel_loop *loop);
/* t + ms, or UINT64_MAX ("never") when that overflows: every deadline of
 * the loop layer (timers, stream timeouts) is computed with it. */
uint64_t kloop_add_saturating(uint64_t t, uint64_t ms);

/* ---- streams (stream.c) for the listener and the server (server.c) ---- */

/* A set of streams the server closes together at shutdown (one per loop).
 * Intrusive: a stream in a group links itself in; on_leave runs (on the
 * loop thread) when a member is gone, after its on_close. */
typedef struct kstream_group kstream_group;
struct kstream_group {
    keel_stream *first;
    size_t count;
    void (*on_leave)(kstream_group *g);
};

/* A stream over fd, a connected non-blocking TCP socket that the stream
 * owns from now on: on failure (INVALID_ARG for bad opts, NO_MEMORY, or
 * registering with epoll failed) fd is closed and nothing is left behind.
 * group may be NULL. Reading starts at once. */
KEEL_MUST_USE keel_result kstream_open(keel_loop *loop, int fd, const keel_stream_handlers *h,
                                       const keel_stream_opts *opts, void *user,
                                       kstream_group *group, keel_stream **out);
/* Whether opts (NULL: defaults) are usable: write_low <= write_high <=
 * write_cap once the defaults are filled in. */
bool kstream_opts_ok(const keel_stream_opts *opts);
/* keel_stream_close on every member (orderly: queued bytes are flushed). */
void kstream_group_close(kstream_group *g);

#endif /* KEEL_LOOP_INTERNAL_H */

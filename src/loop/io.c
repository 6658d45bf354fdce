/*
 * src/loop/io.c - readiness of a caller-owned keel socket (keel_io_*).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "loop/loop_internal.h"
#include "net/net_internal.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57 /* Linux 4.12 (asm-generic/socket.h) */
#endif

struct keel_io {
    kloop_handle handle;
    kloop_watch watch;
    kloop_deferred release;
    keel_loop *loop;
    keel_io_cb cb;
    void *user;
    unsigned events;
    uint64_t cookie; /* the watched socket's SO_COOKIE; 0: unknown */
};

#define IO_OF(ptr, member) ((keel_io *)(void *)((char *)(ptr) - offsetof(keel_io, member)))

static uint32_t io_events_to_epoll(unsigned events)
{
    return ((events & KEEL_IO_READ) ? (uint32_t)EPOLLIN : 0u) |
           ((events & KEEL_IO_WRITE) ? (uint32_t)EPOLLOUT : 0u);
}

/* The pending error of the socket, as the socket layer maps it. */
static KEEL_MUST_USE keel_result io_pending_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (ksys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    return knet_errno_result(err != 0 ? err : ECONNRESET, true);
}

static void io_report_events(kloop_watch *w, uint32_t ev)
{
    keel_io *io = IO_OF(w, watch);
    unsigned ready = ((ev & EPOLLIN) ? KEEL_IO_READ : 0u) | ((ev & EPOLLOUT) ? KEEL_IO_WRITE : 0u);
    ready &= io->events;
    if (ev & EPOLLERR) {
        io->cb(io, io_pending_error(w->fd), 0, io->user);
    } else if ((ev & EPOLLHUP) && ready == 0) {
        /* Hung up with nothing the caller asked for left to report (a
         * readable EOF is reported as READ, so the caller reads it). */
        io->cb(io, KEEL_ERR_CLOSED, 0, io->user);
    } else if (ready != 0) {
        io->cb(io, KEEL_OK, ready, io->user);
    }
}

/* The socket's cookie: a number the kernel gives each socket once and
 * never reuses (unlike its descriptor number). 0 if unknown. */
static uint64_t io_socket_cookie(int fd)
{
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    if (ksys_getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0 || len != sizeof cookie) {
        return 0;
    }
    return cookie;
}

/* Whether io's descriptor still names the socket it watches. The socket
 * stays the caller's, who may close it while watched: the kernel then
 * drops the registration, and the number may already name another
 * socket, whose registration an EPOLL_CTL_MOD or _DEL by number would
 * change. */
static bool io_socket_still_ours(const keel_io *io)
{
    return io->cookie == 0 || io_socket_cookie(io->watch.fd) == io->cookie;
}

static void io_release(kloop_deferred *d)
{
    ksys_release(IO_OF(d, release));
}

static void io_close_now(kloop_handle *h)
{
    keel_io_stop(IO_OF(h, handle));
}

keel_result keel_io_start(keel_loop *loop, keel_net *sock, unsigned events, keel_io_cb cb,
                          void *user, keel_io **out)
{
    if (loop == NULL || sock == NULL || cb == NULL || out == NULL ||
        (events & ~(KEEL_IO_READ | KEEL_IO_WRITE)) != 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    int fd;
    KEEL_TRY(keel_net_fd(sock, &fd));
    keel_io *io = ksys_alloc_zeroed(sizeof *io);
    if (io == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    io->loop = loop;
    io->cb = cb;
    io->user = user;
    io->events = events;
    io->watch.fn = io_report_events;
    io->release.fn = io_release;
    io->handle.close_now = io_close_now;
    io->cookie = io_socket_cookie(fd);
    keel_result r = kloop_add(loop, &io->watch, fd, io_events_to_epoll(events));
    if (r != KEEL_OK) {
        ksys_release(io);
        return r;
    }
    kloop_handle_link(loop, &io->handle);
    *out = io;
    return KEEL_OK;
}

keel_result keel_io_update(keel_io *io, unsigned events)
{
    if (io == NULL || (events & ~(KEEL_IO_READ | KEEL_IO_WRITE)) != 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (io->watch.fd < 0) {
        return KEEL_ERR_STATE;
    }
    if (!io_socket_still_ours(io)) {
        kloop_forget(io->loop, &io->watch);
        return KEEL_ERR_STATE;
    }
    keel_result r = kloop_mod(io->loop, &io->watch, io_events_to_epoll(events));
    if (r == KEEL_OK) {
        io->events = events;
    }
    return r;
}

void keel_io_stop(keel_io *io)
{
    if (io == NULL) {
        return;
    }
    if (io->watch.fd >= 0 && !io_socket_still_ours(io)) {
        kloop_forget(io->loop, &io->watch);
    }
    if (io->handle.next == NULL) {
        return; /* already stopped */
    }
    kloop_del(io->loop, &io->watch);
    kloop_handle_unlink(io->loop, &io->handle);
    /* Released after the batch: keel_io_stop may run inside io's callback. */
    kloop_defer(io->loop, &io->release);
}

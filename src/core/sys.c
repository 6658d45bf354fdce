/*
 * src/core/sys.c - the real calls behind keel's syscall seam (see sys.h).
 * This is the only file in src/ that names the raw socket, allocation and
 * clock functions; ci/check-bans enforces it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "core/sys.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static int sys_real_fcntl_int(int fd, int cmd, int arg)
{
    return fcntl(fd, cmd, arg);
}

static void *sys_real_alloc_zeroed(size_t n)
{
    return calloc(1, n);
}

static void sys_real_release(void *p)
{
    free(p);
}

uint64_t ksys_now_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || ts.tv_sec < 0 || ts.tv_nsec < 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t ksys_wall_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec;
}

/* One initializer for both the live table and the pristine copy. */
#define KEEL_SYS_REAL_OPS \
    { \
        .socket = socket, \
        .connect = connect, \
        .bind = bind, \
        .listen = listen, \
        .accept4 = accept4, \
        .recvfrom = recvfrom, \
        .sendto = sendto, \
        .poll = poll, \
        .close = close, \
        .shutdown = shutdown, \
        .setsockopt = setsockopt, \
        .getsockopt = getsockopt, \
        .getsockname = getsockname, \
        .getpeername = getpeername, \
        .fcntl_int = sys_real_fcntl_int, \
        .getaddrinfo = getaddrinfo, \
        .freeaddrinfo = freeaddrinfo, \
        .alloc_zeroed = sys_real_alloc_zeroed, \
        .release = sys_real_release, \
        .now_ms = ksys_clock_ms, \
        /* the event loop's calls */ \
        .epoll_create1 = epoll_create1, \
        .epoll_ctl = epoll_ctl, \
        .epoll_wait = epoll_wait, \
        .eventfd = eventfd, \
        .signalfd = signalfd, \
        .fd_read = read, \
        .fd_write = write, \
        .thread_sigmask = pthread_sigmask, \
    }

static const struct keel_sys_ops sys_real_ops = KEEL_SYS_REAL_OPS;

struct keel_sys_ops keel_sys = KEEL_SYS_REAL_OPS;

void keel_sys_reset(void)
{
    keel_sys = sys_real_ops;
}

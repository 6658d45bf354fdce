/*
 * src/core/sys.h - keel's syscall seam (internal; never installed).
 *
 * Every operating-system call keel makes goes through the table `keel_sys`,
 * whose defaults are the real calls (src/core/sys.c is the only file allowed to
 * name them: see ci/check-bans). Tests and fuzz harnesses replace entries to
 * force EINTR, EAGAIN, ENOMEM, short reads/writes, resets and clock jumps,
 * then call keel_sys_reset() to restore the real calls.
 *
 * The table is process-global and not synchronised: replace entries only
 * while no other thread is inside keel.
 */
#ifndef KEEL_SRC_SYS_H
#define KEEL_SRC_SYS_H

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

struct epoll_event;

struct keel_sys_ops {
    int (*socket)(int domain, int type, int protocol);
    int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*bind)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*listen)(int fd, int backlog);
    int (*accept4)(int fd, struct sockaddr *sa, socklen_t *len, int flags);
    ssize_t (*recvfrom)(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                        socklen_t *salen);
    ssize_t (*sendto)(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
                      socklen_t salen);
    int (*poll)(struct pollfd *fds, nfds_t n, int timeout_ms);
    int (*close)(int fd);
    int (*shutdown)(int fd, int how);
    int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
    int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
    int (*getsockname)(int fd, struct sockaddr *sa, socklen_t *len);
    int (*getpeername)(int fd, struct sockaddr *sa, socklen_t *len);
    /* fcntl(fd, cmd, arg) for the int-argument commands (F_GETFL, F_SETFL...) */
    int (*fcntl_int)(int fd, int cmd, int arg);
    int (*getaddrinfo)(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
    void (*freeaddrinfo)(struct addrinfo *res);
    /* zeroed allocation of n bytes / release (NULL is fine) */
    void *(*alloc_zeroed)(size_t n);
    void (*release)(void *p);
    /* monotonic clock in milliseconds */
    uint64_t (*now_ms)(void);
    /* ---- the event loop's calls (src/loop/) ---- */
    int (*epoll_create1)(int flags);
    int (*epoll_ctl)(int epfd, int op, int fd, struct epoll_event *ev);
    int (*epoll_wait)(int epfd, struct epoll_event *evs, int max, int timeout_ms);
    int (*eventfd)(unsigned int initval, int flags);
    int (*signalfd)(int fd, const sigset_t *mask, int flags);
    /* read(2) / write(2), used on the loop's eventfd and signalfd only */
    ssize_t (*fd_read)(int fd, void *buf, size_t n);
    ssize_t (*fd_write)(int fd, const void *buf, size_t n);
    int (*thread_sigmask)(int how, const sigset_t *set, sigset_t *old);
};

extern struct keel_sys_ops keel_sys;

/* Restore every entry to the real call. */
void keel_sys_reset(void);

/*
 * The wrappers keel's modules call. In normal builds they go through the
 * hookable table; under Frama-C (__FRAMAC__) they call libc directly so that
 * WP checks keel's calls against the ACSL specs of Frama-C's libc.
 */
#ifdef __FRAMAC__
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#define KEEL_SYS_CALL(name, realcall) realcall
#else
#define KEEL_SYS_CALL(name, realcall) keel_sys.name
#endif

static inline int ksys_socket(int domain, int type, int protocol)
{
    return KEEL_SYS_CALL(socket, socket)(domain, type, protocol);
}
static inline int ksys_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return KEEL_SYS_CALL(connect, connect)(fd, sa, len);
}
static inline int ksys_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    return KEEL_SYS_CALL(bind, bind)(fd, sa, len);
}
static inline int ksys_listen(int fd, int backlog)
{
    return KEEL_SYS_CALL(listen, listen)(fd, backlog);
}
/* Under Frama-C, ksys_accept4 and ksys_getpeername have no body: there is
 * no libc spec to prove one against (accept4 is Linux-only and not in
 * Frama-C's libc; its getpeername has no spec), so WP uses their trusted
 * contracts (proofs/contracts/net.h). */
#ifndef __FRAMAC__
static inline int ksys_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return KEEL_SYS_CALL(accept4, accept4)(fd, sa, len, flags);
}
#endif
static inline ssize_t ksys_recvfrom(int fd, void *buf, size_t len, int flags,
                                    struct sockaddr *sa, socklen_t *salen)
{
    return KEEL_SYS_CALL(recvfrom, recvfrom)(fd, buf, len, flags, sa, salen);
}
static inline ssize_t ksys_sendto(int fd, const void *buf, size_t len, int flags,
                                  const struct sockaddr *sa, socklen_t salen)
{
    return KEEL_SYS_CALL(sendto, sendto)(fd, buf, len, flags, sa, salen);
}
static inline int ksys_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    return KEEL_SYS_CALL(poll, poll)(fds, n, timeout_ms);
}
static inline int ksys_close(int fd)
{
    return KEEL_SYS_CALL(close, close)(fd);
}
static inline int ksys_shutdown(int fd, int how)
{
    return KEEL_SYS_CALL(shutdown, shutdown)(fd, how);
}
static inline int ksys_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    return KEEL_SYS_CALL(setsockopt, setsockopt)(fd, level, name, val, len);
}
static inline int ksys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    return KEEL_SYS_CALL(getsockopt, getsockopt)(fd, level, name, val, len);
}
static inline int ksys_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    return KEEL_SYS_CALL(getsockname, getsockname)(fd, sa, len);
}
#ifndef __FRAMAC__
static inline int ksys_getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
    return KEEL_SYS_CALL(getpeername, getpeername)(fd, sa, len);
}
#endif
static inline int ksys_fcntl_int(int fd, int cmd, int arg)
{
#ifdef __FRAMAC__
    return fcntl(fd, cmd, arg);
#else
    return keel_sys.fcntl_int(fd, cmd, arg);
#endif
}
static inline int ksys_getaddrinfo(const char *node, const char *service,
                                   const struct addrinfo *hints, struct addrinfo **res)
{
    return KEEL_SYS_CALL(getaddrinfo, getaddrinfo)(node, service, hints, res);
}
static inline void ksys_freeaddrinfo(struct addrinfo *res)
{
    KEEL_SYS_CALL(freeaddrinfo, freeaddrinfo)(res);
}
static inline void *ksys_alloc_zeroed(size_t n)
{
#ifdef __FRAMAC__
    return calloc(1, n);
#else
    return keel_sys.alloc_zeroed(n);
#endif
}
static inline void ksys_release(void *p)
{
#ifdef __FRAMAC__
    free(p);
#else
    keel_sys.release(p);
#endif
}
/* The monotonic clock in milliseconds, 0 if it fails: the one body of the
 * clock. The table's now_ms entry is this function (sys.c); under Frama-C
 * ksys_now_ms calls it directly, so WP proves this body against libc's
 * clock_gettime spec. */
static inline uint64_t ksys_clock_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || ts.tv_sec < 0 || ts.tv_nsec < 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
static inline uint64_t ksys_now_ms(void)
{
#ifdef __FRAMAC__
    return ksys_clock_ms();
#else
    return keel_sys.now_ms();
#endif
}

#ifndef __FRAMAC__
/* Monotonic microseconds, for measurements only (the HTTP access log): not
 * a fault-injection point, 0 if the clock fails. In sys.c. */
uint64_t ksys_now_us(void);
/* Wall-clock seconds since 1970 (the HTTP Date field); 0 if the clock
 * fails. In sys.c. */
uint64_t ksys_wall_seconds(void);
#endif

/* ---- the event loop's calls (src/loop/) -------------------------------
 * No wrapper under Frama-C: its libc has no epoll/eventfd/signalfd specs,
 * and the loop's proven part (src/loop/timer.c) makes no system call. */
#ifndef __FRAMAC__
static inline int ksys_epoll_create1(int flags)
{
    return keel_sys.epoll_create1(flags);
}
static inline int ksys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    return keel_sys.epoll_ctl(epfd, op, fd, ev);
}
static inline int ksys_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms)
{
    return keel_sys.epoll_wait(epfd, evs, max, timeout_ms);
}
static inline int ksys_eventfd(unsigned int initval, int flags)
{
    return keel_sys.eventfd(initval, flags);
}
static inline int ksys_signalfd(int fd, const sigset_t *mask, int flags)
{
    return keel_sys.signalfd(fd, mask, flags);
}
static inline ssize_t ksys_fd_read(int fd, void *buf, size_t n)
{
    return keel_sys.fd_read(fd, buf, n);
}
static inline ssize_t ksys_fd_write(int fd, const void *buf, size_t n)
{
    return keel_sys.fd_write(fd, buf, n);
}
static inline int ksys_thread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return keel_sys.thread_sigmask(how, set, old);
}
#endif

#endif /* KEEL_SRC_SYS_H */

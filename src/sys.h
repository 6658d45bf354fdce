/*
 * src/sys.h - keel's syscall seam (internal; never installed).
 *
 * Every operating-system call keel makes goes through the table `keel_sys`,
 * whose defaults are the real calls (src/sys.c is the only file allowed to
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
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

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
};

extern struct keel_sys_ops keel_sys;

/* Restore every entry to the real call. */
void keel_sys_reset(void);

#endif /* KEEL_SRC_SYS_H */

/*
 * bench/loop/trickle_epoll.c - the floor of the trickle benchmark: the same
 * protocol as trickle_keel.c (hold the bytes until they end with
 * "\r\n\r\n", answer '.' per incomplete offer and '!' per complete block)
 * over raw level-triggered epoll, one thread, with the textbook growable
 * buffer: each recv lands in a shared 64 KiB buffer and is appended to the
 * connection's buffer, which doubles (realloc) when full, so holding n
 * bytes costs O(n) in total. No keel code.
 *
 * Prints "listening on 127.0.0.1:PORT" (port chosen by the system); stops on
 * SIGINT or SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    uint8_t *buf;
    size_t len, cap;
} conn;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void conn_close(conn *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
}

static bool conn_append(conn *c, const uint8_t *p, size_t n)
{
    if (c->cap - c->len < n) {
        size_t cap = c->cap == 0 ? 256 : c->cap;
        while (cap - c->len < n) {
            cap *= 2;
        }
        uint8_t *b = realloc(c->buf, cap);
        if (b == NULL) {
            return false;
        }
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    return true;
}

/* Readable: one recv, offer, answer. false: close the connection. */
static bool conn_readable(conn *c, uint8_t *scratch, size_t scratch_cap)
{
    ssize_t n = recv(c->fd, scratch, scratch_cap, 0);
    if (n < 0) {
        return errno == EAGAIN || errno == EINTR;
    }
    if (n == 0) {
        return false;
    }
    if (!conn_append(c, scratch, (size_t)n)) {
        return false;
    }
    bool complete = c->len >= 4 && memcmp(c->buf + c->len - 4, "\r\n\r\n", 4) == 0;
    if (complete) {
        c->len = 0; /* consumed; the buffer is kept, as a careful user keeps it */
    }
    char ack = complete ? '!' : '.';
    return send(c->fd, &ack, 1, MSG_NOSIGNAL) == 1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 128) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        perror("trickle_epoll: listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data = { .ptr = NULL } };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) {
        perror("trickle_epoll: epoll");
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    static uint8_t scratch[65536];
    struct epoll_event evs[64];
    while (!stopping) {
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("trickle_epoll: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    continue;
                }
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                if (c == NULL) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                struct epoll_event cev = { .events = EPOLLIN, .data = { .ptr = c } };
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) {
                    conn_close(c);
                }
                continue;
            }
            if (!conn_readable(c, scratch, sizeof scratch)) {
                conn_close(c); /* closing removes it from the epoll set */
            }
        }
    }
    return 0;
}

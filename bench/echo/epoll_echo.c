/*
 * bench/echo/epoll_echo.c - the least an echo server can do: the benchmark's
 * floor.
 *
 *   epoll_echo [--port P]      (default 0: chosen by the system)
 *
 * One thread, level-triggered epoll on 127.0.0.1. A readable connection gets
 * one read into a shared buffer and one write of the same bytes. Only when
 * that write is partial does the connection get state of its own (the bytes
 * left), and it stops reading until they are out, so memory stays bounded.
 * Prints "listening on 127.0.0.1:PORT" once ready; runs until killed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

enum { MAX_EVENTS = 256, BUF_SIZE = 65536 };

/* Bytes a partial write left behind, indexed by fd (NULL: none). */
struct pending {
    size_t len, off;
    uint8_t bytes[];
};

static struct pending **pending;
static size_t pending_cap;
static int ep;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void drop(int fd)
{
    if ((size_t)fd < pending_cap && pending[fd]) {
        free(pending[fd]);
        pending[fd] = NULL;
    }
    close(fd); /* also leaves the epoll set */
}

static void set_events(int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0)
        die("epoll_ctl");
}

/* Keeps what send() did not take and waits for EPOLLOUT instead of input. */
static void keep_rest(int fd, const uint8_t *rest, size_t len)
{
    if ((size_t)fd >= pending_cap) {
        size_t cap = pending_cap ? pending_cap : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct pending **grown = realloc(pending, cap * sizeof *grown);
        if (!grown)
            die("realloc");
        memset(grown + pending_cap, 0, (cap - pending_cap) * sizeof *grown);
        pending = grown;
        pending_cap = cap;
    }
    struct pending *p = malloc(sizeof *p + len);
    if (!p)
        die("malloc");
    p->len = len;
    p->off = 0;
    memcpy(p->bytes, rest, len);
    pending[fd] = p;
    set_events(fd, EPOLLOUT);
}

static void on_writable(int fd)
{
    struct pending *p = pending[fd];
    ssize_t n = send(fd, p->bytes + p->off, p->len - p->off, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN)
            drop(fd);
        return;
    }
    p->off += (size_t)n;
    if (p->off == p->len) {
        free(p);
        pending[fd] = NULL;
        set_events(fd, EPOLLIN);
    }
}

static void on_readable(int fd, uint8_t *buf)
{
    ssize_t n = recv(fd, buf, BUF_SIZE, 0);
    if (n <= 0) {
        if (n == 0 || errno != EAGAIN)
            drop(fd);
        return;
    }
    ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) {
        drop(fd);
        return;
    }
    if (w < n)
        keep_rest(fd, buf + (w > 0 ? w : 0), (size_t)(n - (w > 0 ? w : 0)));
}

static void on_listener(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != ECONNABORTED)
                perror("accept4"); /* e.g. EMFILE: keep serving the others */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("epoll_ctl");
    }
}

int main(int argc, char **argv)
{
    long port = 0;
    if (argc == 3 && strcmp(argv[1], "--port") == 0) {
        char *end;
        port = strtol(argv[2], &end, 10);
        if (*end || end == argv[2] || port < 0 || port > 65535)
            argc = 0;
    }
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: epoll_echo [--port P]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof sa;
    int one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, SOMAXCONN) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0)
        die("listen on 127.0.0.1");
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0)
        die("epoll");
    printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);

    static uint8_t buf[BUF_SIZE];
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int k = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd)
                on_listener(lfd);
            else if ((size_t)fd < pending_cap && pending[fd])
                on_writable(fd);
            else
                on_readable(fd, buf);
        }
    }
}

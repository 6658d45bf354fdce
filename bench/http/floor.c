/*
 * bench/http/floor.c - the floor of an HTTP/1.1 keep-alive server's cost
 * under bench/http/run.sh's load: one thread, level-triggered epoll, one
 * recv per readable connection and one send of the answers to every
 * request it completed, a canned "200 hello" for each. It does not parse
 * (a request ends at the first CRLFCRLF; GET without a body, as wrk sends
 * them), checks nothing and keeps no date. It is not a server anyone
 * should run: it is the measure of what the kernel charges a server that
 * makes the same system calls as keel, nginx and h2o (one recv and one
 * send per request or per pipelined batch), so that their CPU per request
 * can be read against what no server with that pattern can go below.
 *
 *   floor [--ip A] [--port P]      prints "listening on A:P", runs until killed
 *
 * Raw sockets here are the benchmark's own (bench/ is outside the syscall
 * seam's scope, ci/check-bans); nothing of keel is linked.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { RBUF = 65536, MAXEV = 256, MAXBATCH = 64 };

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

typedef struct conn {
    int fd;
    size_t have;  /* bytes of an unfinished request kept at the front of buf */
    char buf[RBUF];
} conn;

/* Requests completed in b[0, n): each ends at CRLFCRLF; the unfinished
 * tail's length goes to *rest. */
static size_t count_requests(const char *b, size_t n, size_t *rest)
{
    size_t count = 0, start = 0;
    for (size_t i = 3; i < n; i++) {
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
            count++;
            start = i + 1;
        }
    }
    *rest = n - start;
    return count;
}

static void drop(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

int main(int argc, char **argv)
{
    const char *ip = "127.0.0.1";
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ip") == 0 && i + 1 < argc) {
            ip = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: floor [--ip A] [--port P]\n");
            return 2;
        }
    }
    static char out[MAXBATCH * (sizeof answer - 1)];
    for (size_t k = 0; k < MAXBATCH; k++) {
        memcpy(out + k * (sizeof answer - 1), answer, sizeof answer - 1);
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        inet_pton(AF_INET, ip, &a.sin_addr) != 1 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(ls, 4096) != 0) {
        perror("floor: listen");
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    printf("listening on %s:%d\n", ip, ntohs(a.sin_port));
    fflush(stdout);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[MAXEV];
    for (;;) {
        int n = epoll_wait(ep, evs, MAXEV, -1);
        if (n < 0 && errno != EINTR) {
            perror("floor: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    conn *nc = malloc(sizeof *nc);
                    if (nc == NULL) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->have = 0;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = { .events = EPOLLIN, .data.ptr = nc };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            ssize_t got = recv(c->fd, c->buf + c->have, RBUF - c->have, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
                    continue;
                }
                drop(ep, c);
                continue;
            }
            size_t total = c->have + (size_t)got, rest;
            size_t reqs = count_requests(c->buf, total, &rest);
            if (rest == RBUF) {
                drop(ep, c); /* a request larger than the buffer: not this benchmark's */
                continue;
            }
            memmove(c->buf, c->buf + (total - rest), rest);
            c->have = rest;
            while (reqs > 0) {
                size_t k = reqs < MAXBATCH ? reqs : MAXBATCH;
                size_t len = k * (sizeof answer - 1);
                if (send(c->fd, out, len, MSG_NOSIGNAL) != (ssize_t)len) {
                    break; /* a full send buffer: the benchmark never fills one */
                }
                reqs -= k;
            }
        }
    }
}

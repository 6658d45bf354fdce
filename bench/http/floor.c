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

#include "floor_common.h"

enum { MAXEV = 256 };

typedef floor_conn conn;

static void drop(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

int main(int argc, char **argv)
{
    const char *ip;
    struct sockaddr_in a;
    int ls = floor_listen(argc, argv, "floor", SOCK_NONBLOCK, &a, &ip);
    int one = 1;
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
            ssize_t got = recv(c->fd, c->buf + c->have, FLOOR_RBUF - c->have, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
                    continue;
                }
                drop(ep, c);
                continue;
            }
            size_t total = c->have + (size_t)got, rest;
            size_t reqs = floor_count_requests(c->buf, total, &rest);
            if (rest == FLOOR_RBUF) {
                drop(ep, c); /* a request larger than the buffer: not this benchmark's */
                continue;
            }
            memmove(c->buf, c->buf + (total - rest), rest);
            c->have = rest;
            while (reqs > 0) {
                size_t k = reqs < FLOOR_MAXBATCH ? reqs : FLOOR_MAXBATCH;
                size_t len = k * FLOOR_ANSWER_LEN;
                if (send(c->fd, floor_out, len, MSG_NOSIGNAL) != (ssize_t)len) {
                    break; /* a full send buffer: the benchmark never fills one */
                }
                reqs -= k;
            }
        }
    }
}

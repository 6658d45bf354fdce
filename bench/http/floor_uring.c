/*
 * bench/http/floor_uring.c - floor.c's server with io_uring in place of
 * epoll and recv/send: what the kernel charges when the system calls per
 * request go away, not the work per request. One thread, one ring
 * (single issuer, task work deferred to the wait), a multishot accept,
 * per connection a multishot recv that takes its buffers from a ring of
 * provided buffers (so an idle connection holds none), and per completed
 * request (or pipelined batch) a send of the canned answers, submitted
 * with the next wait: one io_uring_enter per loop turn for every
 * connection that had bytes. Like floor.c it does not parse (a request
 * ends at the first CRLFCRLF), checks nothing and keeps no date; a send
 * that does not go out whole is not retried (the benchmark never fills a
 * send buffer). It is a measuring stick for bench/http/run.sh, not a
 * server anyone should run.
 *
 *   floor_uring [--ip A] [--port P]   prints "listening on A:P", runs until killed
 *
 * Needs liburing (Debian liburing-dev, ci/deps bench) and Linux 6.1 or
 * newer (multishot recv, provided-buffer rings, deferred task work).
 * Raw sockets here are the benchmark's own (bench/ is outside the syscall
 * seam's scope, ci/check-bans); nothing of keel is linked.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor_common.h"

enum {
    NBUFS = 1024, /* provided receive buffers (a power of two) */
    BUFSZ = 4096, /* bytes each */
    BGID = 1,     /* their group */
    RING = 4096,  /* submission queue entries */
};

/* user_data tags: a connection's recv carries its conn pointer (never 1
 * or 0); the listener's accept carries ACCEPT, sends SEND. */
#define TAG_SEND UINT64_C(0)
#define TAG_ACCEPT UINT64_C(1)

typedef floor_conn conn;

static struct io_uring ring;
static struct io_uring_buf_ring *bufring;
static char *bufs;

/* The next submission entry; when the queue is full, what is queued is
 * submitted first. */
static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (s == NULL) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    if (s == NULL) {
        fprintf(stderr, "floor_uring: no submission entry\n");
        exit(1);
    }
    return s;
}

static void arm_accept(int ls)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_multishot_accept(s, ls, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, TAG_ACCEPT);
}

static void arm_recv(conn *c)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    io_uring_sqe_set_data(s, c);
}

/* Bytes got in provided buffer bid for c: appended to what c holds, the
 * buffer handed back, an answer queued for each request completed. False
 * when c must go (a request larger than FLOOR_RBUF: not this benchmark's). */
static int on_bytes(conn *c, unsigned bid, size_t got)
{
    char *b = bufs + (size_t)bid * BUFSZ;
    size_t room = FLOOR_RBUF - c->have;
    size_t take = got < room ? got : room;
    memcpy(c->buf + c->have, b, take);
    io_uring_buf_ring_add(bufring, b, BUFSZ, (unsigned short)bid, io_uring_buf_ring_mask(NBUFS), 0);
    io_uring_buf_ring_advance(bufring, 1);
    if (take < got) {
        return 0;
    }
    size_t total = c->have + take, rest;
    size_t reqs = floor_count_requests(c->buf, total, &rest);
    if (rest == FLOOR_RBUF) {
        return 0;
    }
    memmove(c->buf, c->buf + (total - rest), rest);
    c->have = rest;
    while (reqs > 0) {
        size_t k = reqs < FLOOR_MAXBATCH ? reqs : FLOOR_MAXBATCH;
        struct io_uring_sqe *s = sqe_get();
        io_uring_prep_send(s, c->fd, floor_out, k * FLOOR_ANSWER_LEN, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, TAG_SEND);
        reqs -= k;
    }
    return 1;
}

int main(int argc, char **argv)
{
    const char *ip;
    struct sockaddr_in a;
    int ls = floor_listen(argc, argv, "floor_uring", 0, &a, &ip);
    int one = 1;

    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int r = io_uring_queue_init_params(RING, &ring, &p);
    if (r < 0) {
        fprintf(stderr, "floor_uring: io_uring_queue_init: %s (Linux 6.1 or newer needed)\n",
                strerror(-r));
        return 1;
    }
    bufring = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    bufs = malloc((size_t)NBUFS * BUFSZ);
    if (bufring == MAP_FAILED || bufs == NULL) {
        fprintf(stderr, "floor_uring: out of memory\n");
        return 1;
    }
    io_uring_buf_ring_init(bufring);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long)bufring;
    reg.ring_entries = NBUFS;
    reg.bgid = BGID;
    r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0) {
        fprintf(stderr, "floor_uring: io_uring_register_buf_ring: %s\n", strerror(-r));
        return 1;
    }
    for (int i = 0; i < NBUFS; i++) {
        io_uring_buf_ring_add(bufring, bufs + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i,
                              io_uring_buf_ring_mask(NBUFS), i);
    }
    io_uring_buf_ring_advance(bufring, NBUFS);
    arm_accept(ls);
    printf("listening on %s:%d\n", ip, ntohs(a.sin_port));
    fflush(stdout);

    for (;;) {
        r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "floor_uring: io_uring_submit_and_wait: %s\n", strerror(-r));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t tag = io_uring_cqe_get_data64(cqe);
            int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
            if (tag == TAG_SEND) {
                continue;
            }
            if (tag == TAG_ACCEPT) {
                if (cqe->res >= 0) {
                    conn *c = malloc(sizeof *c);
                    if (c == NULL) {
                        close(cqe->res);
                    } else {
                        c->fd = cqe->res;
                        c->have = 0;
                        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                        arm_recv(c);
                    }
                }
                if (!more) {
                    arm_accept(ls);
                }
                continue;
            }
            conn *c = io_uring_cqe_get_data(cqe);
            if (cqe->res == -ENOBUFS) { /* every buffer taken: ask again */
                if (!more) {
                    arm_recv(c);
                }
                continue;
            }
            int keep = cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) != 0 &&
                       on_bytes(c, cqe->flags >> IORING_CQE_BUFFER_SHIFT, (size_t)cqe->res);
            if (keep && !more) {
                arm_recv(c);
            } else if (!keep) {
                /* EOF, an error or a request too large; with the recv
                 * still armed, shutting the socket down ends it first
                 * (its last completion comes without F_MORE) */
                if (more) {
                    shutdown(c->fd, SHUT_RDWR);
                } else {
                    close(c->fd);
                    free(c);
                }
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}

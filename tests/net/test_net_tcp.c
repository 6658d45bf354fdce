/*
 * tests/net/test_net_tcp.c - the TCP half of the socket layer over real loopback
 * sockets (127.0.0.1 and ::1, port 0): echo through a keel server thread,
 * name resolution, addresses, blocking / non-blocking / timed receives,
 * exact reads, partial writes under tiny socket buffers, poll, half-close,
 * descriptors above FD_SETSIZE, and the closed-context rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "test_main.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>

#include "keel/net.h"
#include "net_test_util.h"

/* ---- echo through a keel server thread ---------------------------------- */

struct echo_server {
    keel_net *listener;
    keel_addr peer;      /* as accept reported it */
    keel_addr peer_seen; /* as peer_addr reports it on the accepted context */
    keel_addr local_seen;
    size_t echoed;
    keel_result accept_r;
    keel_result end_r; /* what ended the echo loop: CLOSED expected */
};

static void *echo_main(void *arg)
{
    struct echo_server *s = arg;
    keel_net *c = NULL;
    if (keel_net_init(&c) != KEEL_OK) {
        s->accept_r = KEEL_ERR_NO_MEMORY;
        return NULL;
    }
    s->accept_r = keel_net_accept(s->listener, c, &s->peer);
    if (s->accept_r == KEEL_OK && keel_net_peer_addr(c, &s->peer_seen) == KEEL_OK &&
        keel_net_local_addr(c, &s->local_seen) == KEEL_OK) {
        uint8_t storage[3000];
        for (;;) {
            keel_buf b;
            if (keel_buf_init(&b, storage, sizeof storage) != KEEL_OK) {
                break;
            }
            s->end_r = keel_net_recv_timeout(c, &b, NT_IO_TIMEOUT_MS, NULL);
            if (s->end_r != KEEL_OK) {
                break;
            }
            s->end_r = keel_net_send_all(c, keel_buf_slice(&b), NT_IO_TIMEOUT_MS, NULL);
            if (s->end_r != KEEL_OK) {
                break;
            }
            s->echoed += b.len;
        }
    }
    keel_net_free(c);
    return NULL;
}

static void echo_over(keel_family fam)
{
    uint16_t port = 0;
    struct echo_server s = { .accept_r = KEEL_ERR_STATE, .end_r = KEEL_ERR_STATE };
    s.listener = nt_listen(fam, KEEL_PROTO_TCP, &port);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, echo_main, &s), 0);

    keel_net *c = nt_new();
    assert_int_equal(keel_net_connect(c, nt_loopback(fam), port, KEEL_PROTO_TCP, NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_true(keel_net_is_open(c));
    assert_int_equal(keel_net_set_nodelay(c, true), KEEL_OK);

    static uint8_t out[100000];
    static uint8_t in[100000];
    nt_fill(out, sizeof out, 0);
    size_t sent = 0;
    assert_int_equal(keel_net_send_all(c, nt_slice(out, sizeof out), NT_IO_TIMEOUT_MS, &sent),
                     KEEL_OK);
    assert_int_equal(sent, sizeof out);
    keel_buf b = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_exact(c, &b, sizeof in, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(b.len, sizeof in);
    assert_int_equal(nt_check(in, sizeof in, 0), sizeof in);

    keel_addr mine, theirs;
    assert_int_equal(keel_net_local_addr(c, &mine), KEEL_OK);
    assert_int_equal(keel_net_peer_addr(c, &theirs), KEEL_OK);
    assert_int_equal(mine.family, fam);
    assert_int_equal(theirs.port, port);
    keel_net_close(c);
    assert_int_equal(pthread_join(th, NULL), 0);

    assert_int_equal(s.accept_r, KEEL_OK);
    assert_int_equal(s.end_r, KEEL_ERR_CLOSED);
    assert_int_equal(s.echoed, sizeof out);
    /* Both ends agree on who is who. */
    assert_true(keel_addr_eq(&s.peer, &mine));
    assert_true(keel_addr_eq(&s.peer_seen, &mine));
    assert_true(keel_addr_eq(&s.local_seen, &theirs));
    keel_net_free(c);
    keel_net_free(s.listener);
}

static void test_tcp_echo_ipv4_returns_every_byte(void **state)
{
    (void)state;
    echo_over(KEEL_AF_INET4);
}

static void test_tcp_echo_ipv6_returns_every_byte(void **state)
{
    (void)state;
    NT_SKIP_WITHOUT(KEEL_AF_INET6);
    echo_over(KEEL_AF_INET6);
}

/* "localhost" goes through the resolver; the listener binds the default
 * (empty) address, "::" dual stack, so whichever family the name gives
 * connects. */
static void test_tcp_connect_by_name_localhost(void **state)
{
    (void)state;
    keel_net *l = nt_new();
    assert_int_equal(keel_net_bind(l, keel_slice_empty(), 0, KEEL_PROTO_TCP), KEEL_OK);
    uint16_t port = nt_local_port(l);
    keel_net *c = nt_new();
    keel_net *s = nt_new();
    assert_int_equal(keel_net_connect(c, KEEL_STR("localhost"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    keel_addr peer;
    assert_int_equal(keel_net_accept(l, s, &peer), KEEL_OK);
    size_t sent = 0;
    assert_int_equal(keel_net_send(c, KEEL_STR("hi"), &sent), KEEL_OK);
    assert_int_equal(sent, 2);
    uint8_t st[8];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_exact(s, &b, 2, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("hi")));
    keel_net_free(c);
    keel_net_free(s);
    keel_net_free(l);
}

/* ---- receive modes ------------------------------------------------------ */

static void test_tcp_nonblocking_recv_would_block(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    assert_int_equal(keel_net_set_nonblocking(c, true), KEEL_OK);
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    size_t got = 99;
    assert_int_equal(keel_net_recv(c, &b, &got), KEEL_ERR_WOULD_BLOCK);
    assert_int_equal(keel_net_last_os_error(c), EAGAIN);
    assert_int_equal(b.len, 0);
    assert_int_equal(got, 99); /* out-parameter untouched on failure */
    /* Once data is there, the same call returns it. */
    size_t sent = 0;
    assert_int_equal(keel_net_send(s, KEEL_STR("abc"), &sent), KEEL_OK);
    unsigned ready = 0;
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, NT_IO_TIMEOUT_MS, &ready), KEEL_OK);
    assert_int_equal(keel_net_recv(c, &b, &got), KEEL_OK);
    assert_int_equal(got, 3);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("abc")));
    /* Back to blocking mode: recv_timeout still honours its deadline. */
    assert_int_equal(keel_net_set_nonblocking(c, false), KEEL_OK);
    assert_int_equal(keel_net_recv_timeout(c, &b, 0, &got), KEEL_ERR_TIMEOUT);
    keel_net_free(c);
    keel_net_free(s);
}

static void test_tcp_recv_timeout_expires_in_time(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_net_recv_timeout(c, &b, 100, NULL), KEEL_ERR_TIMEOUT);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= 90);
    assert_true(took < 2000);
    assert_int_equal(keel_net_last_os_error(c), ETIMEDOUT);
    assert_int_equal(b.len, 0);
    /* A timeout is not fatal: the connection still works. */
    size_t sent = 0;
    assert_int_equal(keel_net_send(s, KEEL_STR("late"), &sent), KEEL_OK);
    size_t got = 0;
    assert_int_equal(keel_net_recv_timeout(c, &b, NT_IO_TIMEOUT_MS, &got), KEEL_OK);
    assert_int_equal(got, 4);
    keel_net_free(c);
    keel_net_free(s);
}

struct trickle {
    keel_net *ctx;
    size_t chunks;
    size_t chunk;
    bool close_after;
    keel_result r;
};

/* Send chunks pieces of `chunk` pattern bytes with pauses, so the reader
 * sees them arrive one by one. */
static void *trickle_main(void *arg)
{
    struct trickle *t = arg;
    uint8_t piece[64];
    t->r = KEEL_OK;
    for (size_t i = 0; i < t->chunks && t->r == KEEL_OK; i++) {
        nt_fill(piece, t->chunk, i * t->chunk);
        keel_slice s;
        t->r = keel_slice_from(piece, t->chunk, &s);
        if (t->r == KEEL_OK) {
            t->r = keel_net_send_all(t->ctx, s, NT_IO_TIMEOUT_MS, NULL);
        }
        if (i % 8 == 0) {
            usleep(1000);
        }
    }
    if (t->close_after) {
        keel_net_close(t->ctx);
    }
    return NULL;
}

static void test_tcp_recv_exact_across_many_small_writes(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    assert_int_equal(keel_net_set_nodelay(s, true), KEEL_OK);
    struct trickle t = { .ctx = s, .chunks = 300, .chunk = 7 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, trickle_main, &t), 0);
    uint8_t st[2100 + 10];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_exact(c, &b, 2100, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.r, KEEL_OK);
    assert_int_equal(b.len, 2100); /* exactly n, never more */
    assert_int_equal(nt_check(st, 2100, 0), 2100);
    keel_net_free(c);
    keel_net_free(s);
}

static void test_tcp_recv_exact_eof_midway_keeps_partial_bytes(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    struct trickle t = { .ctx = s, .chunks = 5, .chunk = 3, .close_after = true };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, trickle_main, &t), 0);
    uint8_t st[64];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_exact(c, &b, 40, NT_IO_TIMEOUT_MS), KEEL_ERR_CLOSED);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.r, KEEL_OK);
    assert_int_equal(b.len, 15);
    assert_int_equal(nt_check(st, 15, 0), 15);
    /* EOF is not sticky-fatal but stays EOF. */
    assert_int_equal(keel_net_recv(c, &b, NULL), KEEL_ERR_CLOSED);
    assert_int_equal(b.len, 15);
    keel_net_free(c);
    keel_net_free(s);
}

/* ---- partial writes ----------------------------------------------------- */

#define BIG_STREAM (3u * 1024u * 1024u)

struct sink {
    keel_net *ctx;
    size_t total;
    size_t first_bad; /* SIZE_MAX while every byte matched the pattern */
    keel_result r;
};

static void *sink_main(void *arg)
{
    struct sink *k = arg;
    uint8_t st[1500];
    k->first_bad = SIZE_MAX;
    for (;;) {
        keel_buf b;
        if (keel_buf_init(&b, st, sizeof st) != KEEL_OK) {
            break;
        }
        k->r = keel_net_recv_timeout(k->ctx, &b, NT_IO_TIMEOUT_MS, NULL);
        if (k->r != KEEL_OK) {
            break;
        }
        size_t ok = nt_check(st, b.len, k->total);
        if (ok != b.len && k->first_bad == SIZE_MAX) {
            k->first_bad = k->total + ok;
        }
        k->total += b.len;
    }
    return NULL;
}

static void test_tcp_partial_writes_with_tiny_buffers_lose_nothing(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    /* 16 KiB: far below one 64 KiB send, yet above the receive window at
     * which loopback TCP (MSS 64 KiB) crawls through persist-timer probes. */
    assert_int_equal(keel_net_set_buffer_sizes(c, 16384, 16384), KEEL_OK);
    assert_int_equal(keel_net_set_buffer_sizes(s, 16384, 16384), KEEL_OK);
    /* Without NODELAY, Nagle and delayed ACKs turn a window this small into
     * one 40 ms stall per segment. */
    assert_int_equal(keel_net_set_nodelay(c, true), KEEL_OK);
    assert_int_equal(keel_net_set_nonblocking(c, true), KEEL_OK);
    /* static: a failed assertion leaves the thread running */
    static struct sink k;
    k = (struct sink){ .ctx = s };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sink_main, &k), 0);

    uint8_t *data = malloc(BIG_STREAM);
    assert_non_null(data);
    nt_fill(data, BIG_STREAM, 0);
    size_t off = 0, partial = 0, would_block = 0;
    while (off < BIG_STREAM) {
        size_t want = BIG_STREAM - off < 65536 ? BIG_STREAM - off : 65536;
        size_t n = 0;
        keel_result r = keel_net_send(c, nt_slice(data + off, want), &n);
        if (r == KEEL_ERR_WOULD_BLOCK) {
            would_block++;
            unsigned ready = 0;
            assert_int_equal(keel_net_poll(c, KEEL_POLL_WRITE, NT_IO_TIMEOUT_MS, &ready), KEEL_OK);
            assert_true((ready & KEEL_POLL_WRITE) != 0);
            continue;
        }
        assert_int_equal(r, KEEL_OK);
        assert_true(n > 0 && n <= want);
        partial += n < want;
        off += n;
    }
    /* The tiny buffers really forced short writes and waits. */
    assert_true(partial > 0);
    assert_true(would_block > 0);

    /* The same again with send_all on a blocking context. */
    assert_int_equal(keel_net_set_nonblocking(c, false), KEEL_OK);
    nt_fill(data, BIG_STREAM, BIG_STREAM);
    size_t sent = 0;
    assert_int_equal(keel_net_send_all(c, nt_slice(data, BIG_STREAM), 30000, &sent), KEEL_OK);
    assert_int_equal(sent, BIG_STREAM);
    assert_int_equal(keel_net_shutdown(c, KEEL_SHUT_WR), KEEL_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(k.r, KEEL_ERR_CLOSED);
    assert_int_equal(k.total, 2u * BIG_STREAM);
    assert_int_equal(k.first_bad, SIZE_MAX);
    free(data);
    keel_net_free(c);
    keel_net_free(s);
}

/* ---- poll and shutdown -------------------------------------------------- */

static void test_tcp_poll_reports_read_and_write_readiness(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    unsigned ready = 0;
    assert_int_equal(keel_net_poll(c, KEEL_POLL_WRITE, 1000, &ready), KEEL_OK);
    assert_int_equal(ready, KEEL_POLL_WRITE);
    ready = 77;
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, 0, &ready), KEEL_ERR_TIMEOUT);
    assert_int_equal(ready, 77);
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, 50, &ready), KEEL_ERR_TIMEOUT);
    size_t sent = 0;
    assert_int_equal(keel_net_send(s, KEEL_STR("x"), &sent), KEEL_OK);
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, NT_IO_TIMEOUT_MS, &ready), KEEL_OK);
    assert_int_equal(ready, KEEL_POLL_READ);
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ | KEEL_POLL_WRITE, 0, &ready), KEEL_OK);
    assert_int_equal(ready, KEEL_POLL_READ | KEEL_POLL_WRITE);
    /* Invalid want sets are caller errors. */
    assert_int_equal(keel_net_poll(c, 0, 0, &ready), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_poll(c, 4, 0, &ready), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, 0, NULL), KEEL_ERR_INVALID_ARG);
    keel_net_free(c);
    keel_net_free(s);
}

static void test_tcp_shutdown_write_gives_peer_closed(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    size_t sent = 0;
    assert_int_equal(keel_net_send(c, KEEL_STR("bye"), &sent), KEEL_OK);
    assert_int_equal(keel_net_shutdown(c, KEEL_SHUT_WR), KEEL_OK);
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_exact(s, &b, 3, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(keel_net_recv_timeout(s, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    /* Half-close: the other direction still flows. */
    assert_int_equal(keel_net_send(s, KEEL_STR("ok"), &sent), KEEL_OK);
    keel_buf b2 = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_exact(c, &b2, 2, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b2), KEEL_STR("ok")));
    /* Writing after SHUT_WR is EPIPE: a broken stream, and no SIGPIPE. */
    assert_int_equal(keel_net_send(c, KEEL_STR("more"), &sent), KEEL_ERR_RESET);
    assert_int_equal(keel_net_last_os_error(c), EPIPE);
    assert_int_equal(keel_net_shutdown(c, (keel_shutdown_how)9), KEEL_ERR_INVALID_ARG);
    keel_net_free(c);
    keel_net_free(s);
}

/* ---- descriptors above FD_SETSIZE -------------------------------------- */

#define HIGH_FD_FILLERS 1100

static void test_tcp_descriptor_above_1024_polls_and_reads(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < HIGH_FD_FILLERS + 64) {
        rlim_t want = HIGH_FD_FILLERS + 64;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
            fprintf(stderr, "SKIP %s: RLIMIT_NOFILE hard limit %lu is too low\n", __func__,
                    (unsigned long)rl.rlim_max);
            skip();
        }
        rl.rlim_cur = want;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    static int fillers[HIGH_FD_FILLERS];
    int base = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(base >= 0);
    for (size_t i = 0; i < HIGH_FD_FILLERS; i++) {
        fillers[i] = fcntl(base, F_DUPFD_CLOEXEC, 0);
        assert_true(fillers[i] >= 0);
    }
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    int cfd = -1, sfd = -1;
    assert_int_equal(keel_net_fd(c, &cfd), KEEL_OK);
    assert_int_equal(keel_net_fd(s, &sfd), KEEL_OK);
    assert_true(cfd > 1024);
    assert_true(sfd > 1024);
    unsigned ready = 0;
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, 20, &ready), KEEL_ERR_TIMEOUT);
    size_t sent = 0;
    assert_int_equal(keel_net_send(s, KEEL_STR("high"), &sent), KEEL_OK);
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, NT_IO_TIMEOUT_MS, &ready), KEEL_OK);
    assert_int_equal(ready, KEEL_POLL_READ);
    uint8_t st[8];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_timeout(c, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("high")));
    keel_net_free(c);
    keel_net_free(s);
    for (size_t i = 0; i < HIGH_FD_FILLERS; i++) {
        close(fillers[i]);
    }
    close(base);
}

/* ---- lifetime and closed contexts -------------------------------------- */

static void test_tcp_close_twice_and_free_null_are_safe(void **state)
{
    (void)state;
    int before = nt_count_fds();
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    keel_net_close(c);
    keel_net_close(c);
    assert_false(keel_net_is_open(c));
    keel_net_close(NULL);
    keel_net_free(NULL);
    assert_false(keel_net_is_open(NULL));
    /* A closed context opens again. */
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    keel_net_free(l);
    keel_net_free(c);
    keel_net_free(s);
    assert_int_equal(nt_count_fds(), before);
}

static void test_tcp_calls_on_closed_context_are_state_errors(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    keel_net_close(c);
    uint8_t st[8];
    keel_buf b = nt_buf(st, sizeof st);
    size_t n = 0;
    unsigned ready = 0;
    int fd = 0;
    keel_addr a;
    keel_net *other = nt_new();
    assert_int_equal(keel_net_send(c, KEEL_STR("x"), &n), KEEL_ERR_STATE);
    assert_int_equal(keel_net_send_all(c, KEEL_STR("x"), 10, &n), KEEL_ERR_STATE);
    assert_int_equal(n, 0);
    assert_int_equal(keel_net_recv(c, &b, &n), KEEL_ERR_STATE);
    assert_int_equal(keel_net_recv_timeout(c, &b, 10, &n), KEEL_ERR_STATE);
    assert_int_equal(keel_net_recv_exact(c, &b, 1, 10), KEEL_ERR_STATE);
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, 0, &ready), KEEL_ERR_STATE);
    assert_int_equal(keel_net_shutdown(c, KEEL_SHUT_RDWR), KEEL_ERR_STATE);
    assert_int_equal(keel_net_set_nonblocking(c, true), KEEL_ERR_STATE);
    assert_int_equal(keel_net_set_nodelay(c, true), KEEL_ERR_STATE);
    assert_int_equal(keel_net_set_buffer_sizes(c, 4096, 0), KEEL_ERR_STATE);
    assert_int_equal(keel_net_fd(c, &fd), KEEL_ERR_STATE);
    assert_int_equal(keel_net_local_addr(c, &a), KEEL_ERR_STATE);
    assert_int_equal(keel_net_peer_addr(c, &a), KEEL_ERR_STATE);
    assert_int_equal(keel_net_accept(c, other, NULL), KEEL_ERR_STATE);
    assert_int_equal(keel_net_sendto(c, KEEL_STR("x"), &a), KEEL_ERR_STATE);
    assert_int_equal(b.len, 0);
    keel_net_free(other);
    keel_net_free(c);
    keel_net_free(s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_echo_ipv4_returns_every_byte),
        cmocka_unit_test(test_tcp_echo_ipv6_returns_every_byte),
        cmocka_unit_test(test_tcp_connect_by_name_localhost),
        cmocka_unit_test(test_tcp_nonblocking_recv_would_block),
        cmocka_unit_test(test_tcp_recv_timeout_expires_in_time),
        cmocka_unit_test(test_tcp_recv_exact_across_many_small_writes),
        cmocka_unit_test(test_tcp_recv_exact_eof_midway_keeps_partial_bytes),
        cmocka_unit_test(test_tcp_partial_writes_with_tiny_buffers_lose_nothing),
        cmocka_unit_test(test_tcp_poll_reports_read_and_write_readiness),
        cmocka_unit_test(test_tcp_shutdown_write_gives_peer_closed),
        cmocka_unit_test(test_tcp_descriptor_above_1024_polls_and_reads),
        cmocka_unit_test(test_tcp_close_twice_and_free_null_are_safe),
        cmocka_unit_test(test_tcp_calls_on_closed_context_are_state_errors),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

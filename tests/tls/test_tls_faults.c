/*
 * tests/tls/test_tls_faults.c - the TLS adapters under faults injected
 * through the syscall seam (src/core/sys.h), as tests/net/test_net_faults.c
 * does for the socket layer: EINTR, EAGAIN storms, short reads and writes,
 * resets in the middle of a handshake and in the middle of a record, and
 * allocation failures. The stubs act on one descriptor only (the side
 * under test), so the peer - a real keel TLS endpoint on another thread or
 * on the loop - runs unharmed and checks every byte: nothing lost, nothing
 * duplicated, and each failure the documented result.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "test_main.h"

#include "keel/tls.h"
#include "core/sys.h"
#include "net_test_util.h"
#include "loop_test_util.h"
#include "tls_test_util.h"

static struct keel_sys_ops real;
static int fds_before;

/* The descriptor under test (-1: none): atomic, as the peer's thread
 * reads it in every stub while the test sets it. */
static _Atomic int fault_fd = -1;

/* The faults, for fault_fd only. Counters are touched only by the thread
 * that uses that descriptor. */
static struct fault_plan {
    int eintr_every;     /* every Nth call on fd is EINTR (0: never) */
    int eagain_every;    /* every Nth recv/send on fd is EAGAIN (0: never) */
    size_t recv_chunk;   /* reads on fd take at most 1 .. recv_chunk bytes (0: no cap) */
    size_t send_chunk;   /* writes likewise */
    size_t recv_reset_at; /* after this many bytes read on fd: ECONNRESET (0: never) */
    size_t send_reset_at;
    int recv_calls, send_calls, poll_calls;
    int eintr_hits, eagain_hits, short_hits, resets;
    size_t recv_passed, send_passed;
    bool alloc_fails;
} f;

static void install_stubs(void);

/* The stubs go in before any test starts a thread (the table may change
 * only while no other thread is inside keel); they act on fault_fd only,
 * which stays -1 until the test names its descriptor. */
static int setup(void **state)
{
    (void)state;
    keel_sys_reset();
    real = keel_sys;
    f = (struct fault_plan){ 0 };
    fault_fd = -1;
    fds_before = nt_count_fds();
    install_stubs();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    keel_sys_reset();
    return nt_fds_unchanged(fds_before);
}

static bool every(int n, int calls)
{
    return n > 0 && calls % n == 0;
}

static size_t capped(size_t len, size_t chunk, int calls)
{
    if (chunk == 0 || len <= 1) {
        return len;
    }
    size_t cap = 1u + (size_t)calls % chunk;
    if (cap < len) {
        f.short_hits++;
        return cap;
    }
    return len;
}

/* The plan for one call on the descriptor under test: -1 with errno set
 * (EINTR, EAGAIN, ECONNRESET once `passed` reached `reset_at`), or 0 with
 * *len cut to the reset point and to the chunk size. */
static int fault_for(int calls, size_t passed, size_t reset_at, size_t chunk, size_t *len)
{
    if (every(f.eintr_every, calls)) {
        f.eintr_hits++;
        errno = EINTR;
        return -1;
    }
    if (every(f.eagain_every, calls)) {
        f.eagain_hits++;
        errno = EAGAIN;
        return -1;
    }
    if (reset_at > 0) {
        if (passed >= reset_at) {
            f.resets++;
            errno = ECONNRESET;
            return -1;
        }
        size_t left = reset_at - passed;
        *len = *len < left ? *len : left;
    }
    *len = capped(*len, chunk, calls);
    return 0;
}

static ssize_t recv_faulty(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                           socklen_t *salen)
{
    if (fd != fault_fd) {
        return real.recvfrom(fd, buf, len, flags, sa, salen);
    }
    f.recv_calls++;
    if (fault_for(f.recv_calls, f.recv_passed, f.recv_reset_at, f.recv_chunk, &len) != 0) {
        return -1;
    }
    ssize_t n = real.recvfrom(fd, buf, len, flags, sa, salen);
    if (n > 0) {
        f.recv_passed += (size_t)n;
    }
    return n;
}

static ssize_t send_faulty(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *sa, socklen_t salen)
{
    if (fd != fault_fd) {
        return real.sendto(fd, buf, len, flags, sa, salen);
    }
    f.send_calls++;
    assert_true((flags & MSG_NOSIGNAL) != 0);
    if (fault_for(f.send_calls, f.send_passed, f.send_reset_at, f.send_chunk, &len) != 0) {
        return -1;
    }
    ssize_t n = real.sendto(fd, buf, len, flags, sa, salen);
    if (n > 0) {
        f.send_passed += (size_t)n;
    }
    return n;
}

static int poll_faulty(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    if (n >= 1 && fds[0].fd == fault_fd) {
        f.poll_calls++;
        if (every(f.eintr_every, f.poll_calls)) {
            f.eintr_hits++;
            errno = EINTR;
            return -1;
        }
    }
    return real.poll(fds, n, timeout_ms);
}

static void *alloc_maybe(size_t n)
{
    if (f.alloc_fails) {
        errno = ENOMEM;
        return NULL;
    }
    return real.alloc_zeroed(n);
}

static void install_stubs(void)
{
    keel_sys.recvfrom = recv_faulty;
    keel_sys.sendto = send_faulty;
    keel_sys.poll = poll_faulty;
    keel_sys.alloc_zeroed = alloc_maybe;
}

static int fd_of(const keel_net *net)
{
    int fd = -1;
    assert_int_equal(keel_net_fd(net, &fd), KEEL_OK);
    return fd;
}

/* ---- a sink on its own thread: reads until the end, checks the pattern --- */

typedef struct sink {
    pthread_t thread;
    keel_net *listener;
    uint16_t port;
    const keel_tls_config *cfg;
    keel_result hs_r;
    keel_result end_r;
    size_t received;
    bool pattern_broken;
} sink;

static void *sink_main(void *arg)
{
    sink *k = arg;
    keel_net *conn = NULL;
    keel_tls *tls = NULL;
    k->end_r = KEEL_ERR_STATE;
    if (keel_net_init(&conn) != KEEL_OK || keel_tls_init(&tls) != KEEL_OK) {
        k->hs_r = KEEL_ERR_NO_MEMORY;
        keel_net_free(conn);
        return NULL;
    }
    k->hs_r = keel_net_accept(k->listener, conn, NULL);
    if (k->hs_r == KEEL_OK) {
        k->hs_r = keel_tls_accept(tls, k->cfg, conn, NT_IO_TIMEOUT_MS);
    }
    static _Thread_local uint8_t chunk[20000];
    while (k->hs_r == KEEL_OK) {
        keel_buf b;
        if (keel_buf_init(&b, chunk, sizeof chunk) != KEEL_OK) {
            break;
        }
        keel_result r = keel_tls_recv(tls, &b, NT_IO_TIMEOUT_MS, NULL);
        if (r != KEEL_OK) {
            k->end_r = r;
            break;
        }
        if (nt_check(chunk, b.len, k->received) != b.len) {
            k->pattern_broken = true;
        }
        k->received += b.len;
    }
    keel_tls_free(tls);
    keel_net_free(conn);
    return NULL;
}

static void sink_start(sink *k, const keel_tls_config *cfg)
{
    k->cfg = cfg;
    k->listener = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &k->port);
    assert_int_equal(pthread_create(&k->thread, NULL, sink_main, k), 0);
}

static void sink_join(sink *k)
{
    assert_int_equal(pthread_join(k->thread, NULL), 0);
    keel_net_free(k->listener);
}

/* ---- blocking ------------------------------------------------------------------ */

/* EINTR on every third call, short reads and writes throughout the
 * handshake and an echo of 150 KB: every byte back, once, in order. */
static void test_blocking_session_through_eintr_and_short_io(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = tt_tcp_connect(sv.port);
    fault_fd = fd_of(net);
    f.eintr_every = 3;
    f.recv_chunk = 7;
    f.send_chunk = 13;
    keel_tls *tls = tt_tls();
    assert_int_equal(keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    tt_echo_pattern(tls, 150000, 9000);
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    uint8_t buf[8];
    keel_buf b = nt_buf(buf, sizeof buf);
    assert_int_equal(keel_tls_recv(tls, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    tt_server_join(&sv);
    assert_int_equal(sv.end_r, KEEL_ERR_CLOSED);
    assert_int_equal(sv.echoed, 150000);
    assert_true(f.eintr_hits > 10 && f.short_hits > 10);
    tt_free_all(tls, net, scfg, ccfg);
}

/* A non-blocking context whose socket says EAGAIN now and then even when
 * poll said it was ready. */
static void test_blocking_session_through_eagain_storms(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = tt_tcp_connect(sv.port);
    assert_int_equal(keel_net_set_nonblocking(net, true), KEEL_OK);
    fault_fd = fd_of(net);
    f.eagain_every = 2;
    keel_tls *tls = tt_tls();
    assert_int_equal(keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    tt_echo_pattern(tls, 60000, 5000);
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    tt_server_join(&sv);
    assert_int_equal(sv.end_r, KEEL_ERR_CLOSED);
    assert_int_equal(sv.echoed, 60000);
    assert_true(f.eagain_hits > 10);
    tt_free_all(tls, net, scfg, ccfg);
}

/* The connection resets after the ClientHello went out: RESET, with mbed
 * TLS's code kept, and sticky. */
static void test_blocking_reset_mid_handshake(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = tt_tcp_connect(sv.port);
    fault_fd = fd_of(net);
    f.recv_reset_at = 100; /* inside the server's first flight */
    keel_tls *tls = tt_tls();
    assert_int_equal(keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_ERR_RESET);
    assert_int_equal(keel_tls_last_mbedtls_error(tls), MBEDTLS_ERR_NET_CONN_RESET);
    assert_int_equal(keel_tls_send(tls, KEEL_STR("x"), 1000, NULL), KEEL_ERR_RESET);
    assert_int_equal(f.resets, 1);
    keel_net_close(net);
    tt_server_join(&sv);
    assert_true(sv.hs_r == KEEL_ERR_CLOSED || sv.hs_r == KEEL_ERR_RESET);
    tt_free_all(tls, net, scfg, ccfg);
}

/* The connection resets in the middle of a record: the sender learns
 * RESET with the count of bytes whose records went out whole; the receiver
 * got exactly those bytes - none lost, none twice - then the end. */
static void test_blocking_reset_mid_record(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    sink k = { 0 };
    sink_start(&k, scfg);
    keel_net *net = NULL;
    keel_tls *tls = tt_session(ccfg, k.port, &net);
    fault_fd = fd_of(net);
    f.send_reset_at = 45000; /* inside the third 16 KiB record */
    static uint8_t data[100000];
    nt_fill(data, sizeof data, 0);
    size_t sent = SIZE_MAX;
    assert_int_equal(keel_tls_send(tls, nt_slice(data, sizeof data), NT_IO_TIMEOUT_MS, &sent),
                     KEEL_ERR_RESET);
    assert_int_equal(sent, 2u * 16384u);
    assert_int_equal(keel_tls_send(tls, KEEL_STR("x"), 1000, NULL), KEEL_ERR_RESET);
    /* The peer sees the stream end after the half record (the reset was
     * the seam's: the socket closes in order, so what went out is read). */
    keel_net_close(net);
    sink_join(&k);
    assert_int_equal(k.hs_r, KEEL_OK);
    assert_int_equal(k.received, sent);
    assert_false(k.pattern_broken);
    assert_int_equal(k.end_r, KEEL_ERR_TLS_TRUNCATED);
    tt_free_all(tls, net, scfg, ccfg);
}

/* After a deadline passed with a record half-sent, the next send must
 * carry the same bytes: it completes the record and goes on, so the peer
 * gets every byte once. */
static void test_blocking_send_resumes_a_half_sent_record(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    sink k = { 0 };
    sink_start(&k, scfg);
    keel_net *net = NULL;
    keel_tls *tls = tt_session(ccfg, k.port, &net);
    assert_int_equal(keel_net_set_nonblocking(net, true), KEEL_OK);
    fault_fd = fd_of(net);
    f.eagain_every = 1; /* the socket takes nothing: the deadline passes */
    f.send_chunk = 0;
    static uint8_t data[40000];
    nt_fill(data, sizeof data, 0);
    size_t sent = SIZE_MAX;
    assert_int_equal(keel_tls_send(tls, nt_slice(data, sizeof data), 50, &sent), KEEL_ERR_TIMEOUT);
    assert_int_equal(sent, 0);
    /* A different length now would break the stream: refused. */
    assert_int_equal(keel_tls_send(tls, nt_slice(data, 100), 50, &sent), KEEL_ERR_INVALID_ARG);
    f.eagain_every = 0;
    assert_int_equal(keel_tls_send(tls, nt_slice(data, sizeof data), NT_IO_TIMEOUT_MS, &sent),
                     KEEL_OK);
    assert_int_equal(sent, sizeof data);
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    sink_join(&k);
    assert_int_equal(k.received, sizeof data);
    assert_false(k.pattern_broken);
    assert_int_equal(k.end_r, KEEL_ERR_CLOSED);
    tt_free_all(tls, net, scfg, ccfg);
}

static const keel_tls_stream_handlers loop_handlers;

static void test_allocation_failures_are_no_memory(void **state)
{
    (void)state;
    f.alloc_fails = true;
    keel_tls *tls = NULL;
    assert_int_equal(keel_tls_init(&tls), KEEL_ERR_NO_MEMORY);
    assert_null(tls);
    keel_tls_config *cfg = NULL;
    keel_tls_config_opts o = { .role = KEEL_TLS_CLIENT, .ca_file = tt_file("ca.crt") };
    assert_int_equal(keel_tls_config_new(&o, &cfg, NULL), KEEL_ERR_NO_MEMORY);
    assert_null(cfg);
    f.alloc_fails = false;
    assert_int_equal(keel_tls_config_new(&o, &cfg, NULL), KEEL_OK);
    /* PEM bytes are copied (for their NUL): that copy failing too. */
    keel_tls_config_opts pem = { .role = KEEL_TLS_CLIENT, .ca_pem = KEEL_STR("-----BEGIN x") };
    keel_loop *loop = lt_loop();
    f.alloc_fails = true;
    keel_tls_config *other = NULL;
    assert_int_equal(keel_tls_config_new(&pem, &other, NULL), KEEL_ERR_NO_MEMORY);
    keel_tls_stream *t = NULL;
    assert_int_equal(keel_tls_stream_connect(loop, cfg, KEEL_STR("127.0.0.1"), 9, KEEL_STR("x"),
                                             1000, &loop_handlers, NULL, NULL, &t),
                     KEEL_ERR_NO_MEMORY);
    assert_null(t);
    f.alloc_fails = false;
    keel_loop_free(loop);
    keel_tls_config_free(cfg);
}

/* ---- on the loop --------------------------------------------------------------- */

/* An echo on the loop over a socket that reads and writes a few bytes at
 * a time, with EINTR and EAGAIN mixed in; its client is a blocking keel
 * TLS session on another thread, unharmed, checking every byte. */
typedef struct loop_client {
    uint16_t port;
    const keel_tls_config *cfg;
    size_t n;
    bool ok;
} loop_client;

static void *loop_client_main(void *arg)
{
    loop_client *c = arg;
    keel_net *net = NULL;
    keel_tls *tls = NULL;
    static _Thread_local uint8_t out[4096];
    uint8_t *in = malloc(c->n);
    if (in != NULL && keel_net_init(&net) == KEEL_OK && keel_tls_init(&tls) == KEEL_OK &&
        keel_net_connect(net, KEEL_STR("127.0.0.1"), c->port, KEEL_PROTO_TCP, NT_IO_TIMEOUT_MS) ==
            KEEL_OK &&
        keel_tls_connect(tls, c->cfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS) == KEEL_OK) {
        keel_buf got;
        keel_result r = keel_buf_init(&got, in, c->n);
        size_t sent = 0;
        while (r == KEEL_OK && got.len < c->n) {
            if (sent < c->n && sent < got.len + 16384u) {
                size_t k = c->n - sent < sizeof out ? c->n - sent : sizeof out;
                nt_fill(out, k, sent);
                r = keel_tls_send(tls, nt_slice(out, k), NT_IO_TIMEOUT_MS, NULL);
                sent += k;
            } else {
                r = keel_tls_recv(tls, &got, NT_IO_TIMEOUT_MS, NULL);
            }
        }
        c->ok = r == KEEL_OK && nt_check(in, c->n, 0) == c->n &&
                keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS) == KEEL_OK;
        /* Wait for the server's close_notify: closing first could reset
         * the connection under the server's last records. */
        uint8_t rest[16];
        keel_buf b;
        c->ok = c->ok && keel_buf_init(&b, rest, sizeof rest) == KEEL_OK &&
                keel_tls_recv(tls, &b, NT_IO_TIMEOUT_MS, NULL) == KEEL_ERR_CLOSED;
    }
    keel_tls_free(tls);
    keel_net_free(net);
    free(in);
    return NULL;
}

typedef struct loop_side {
    size_t received;
    bool pattern_broken;
    int handshakes;
    keel_result hs_r;
    size_t hs_bytes; /* bytes read on the socket when the handshake finished */
    keel_result end_r;
    keel_result close_r;
    bool closed;
} loop_side;

static size_t loop_echo(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    loop_side *e = user;
    if (r != KEEL_OK) {
        e->end_r = r;
        keel_tls_stream_close(t);
        return 0;
    }
    if (nt_check(data.ptr, data.len, e->received) != data.len) {
        e->pattern_broken = true;
    }
    e->received += data.len;
    if (keel_tls_stream_write(t, data) != KEEL_OK) {
        keel_tls_stream_abort(t);
    }
    return data.len;
}

static void loop_handshake(keel_tls_stream *t, keel_result r, void *user)
{
    (void)t;
    loop_side *e = user;
    e->handshakes++;
    e->hs_r = r;
    e->hs_bytes = f.recv_passed;
}

static void loop_close(keel_tls_stream *t, keel_result r, void *user)
{
    (void)t;
    loop_side *e = user;
    e->close_r = r;
    e->closed = true;
}

static const keel_tls_stream_handlers loop_handlers = {
    .on_read = loop_echo, .on_handshake = loop_handshake, .on_close = loop_close
};

/* A TLS server stream on the loop over the accepted socket of the
 * client's connection, its descriptor under the stubs. */
static keel_tls_stream *loop_server(keel_loop *loop, keel_net *listener,
                                    const keel_tls_config *cfg, loop_side *e)
{
    keel_net *conn = nt_new();
    assert_int_equal(keel_net_accept(listener, conn, NULL), KEEL_OK);
    fault_fd = fd_of(conn);
    keel_tls_stream *t = NULL;
    assert_int_equal(keel_tls_stream_adopt(loop, cfg, conn, keel_slice_empty(), &loop_handlers,
                                           NULL, e, &t),
                     KEEL_OK);
    return t;
}

static void test_loop_echo_through_short_io_eintr_and_eagain(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    keel_loop *loop = lt_loop();
    loop_client c = { .cfg = ccfg, .n = 120000 };
    keel_net *listener = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &c.port);
    f.eintr_every = 3;
    f.eagain_every = 5;
    f.recv_chunk = 9;
    f.send_chunk = 13;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, loop_client_main, &c), 0);
    loop_side e = { 0 };
    (void)loop_server(loop, listener, scfg, &e);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(c.ok);
    assert_int_equal(e.hs_r, KEEL_OK);
    assert_int_equal(e.received, c.n);
    assert_false(e.pattern_broken);
    assert_int_equal(e.end_r, KEEL_ERR_CLOSED);
    assert_int_equal(e.close_r, KEEL_OK);
    assert_true(f.short_hits > 10 && f.eintr_hits > 10 && f.eagain_hits > 10);
    keel_sys_reset();
    keel_net_free(listener);
    keel_loop_free(loop);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

static void test_loop_reset_mid_handshake(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    keel_loop *loop = lt_loop();
    loop_client c = { .cfg = ccfg, .n = 10 };
    keel_net *listener = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &c.port);
    f.recv_reset_at = 60; /* inside the ClientHello */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, loop_client_main, &c), 0);
    loop_side e = { 0 };
    (void)loop_server(loop, listener, scfg, &e);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_false(c.ok);
    assert_int_equal(e.handshakes, 1);
    assert_int_equal(e.hs_r, KEEL_ERR_RESET);
    assert_int_equal(e.close_r, KEEL_ERR_RESET);
    assert_int_equal(e.received, 0);
    keel_sys_reset();
    keel_net_free(listener);
    keel_loop_free(loop);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

/* The client sends 20 records of 1000 bytes; the server's socket resets
 * in the middle of the sixth. The server delivers exactly the first five
 * (5000 bytes, in order), then RESET. */
typedef struct records_client {
    uint16_t port;
    const keel_tls_config *cfg;
} records_client;

static void *records_client_main(void *arg)
{
    records_client *c = arg;
    keel_net *net = NULL;
    keel_tls *tls = NULL;
    if (keel_net_init(&net) == KEEL_OK && keel_tls_init(&tls) == KEEL_OK &&
        keel_net_connect(net, KEEL_STR("127.0.0.1"), c->port, KEEL_PROTO_TCP, NT_IO_TIMEOUT_MS) ==
            KEEL_OK &&
        keel_tls_connect(tls, c->cfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS) == KEEL_OK) {
        uint8_t rec[1000];
        for (size_t i = 0; i < 20; i++) {
            nt_fill(rec, sizeof rec, i * sizeof rec);
            if (keel_tls_send(tls, nt_slice(rec, sizeof rec), NT_IO_TIMEOUT_MS, NULL) != KEEL_OK) {
                break; /* the server went away: that is the test */
            }
        }
        uint8_t buf[64];
        keel_buf b;
        while (keel_buf_init(&b, buf, sizeof buf) == KEEL_OK &&
               keel_tls_recv(tls, &b, NT_IO_TIMEOUT_MS, NULL) == KEEL_OK) {
        }
    }
    keel_tls_free(tls);
    keel_net_free(net);
    return NULL;
}

static size_t sink_read(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    (void)t;
    loop_side *e = user;
    if (r != KEEL_OK) {
        e->end_r = r;
        return 0;
    }
    if (nt_check(data.ptr, data.len, e->received) != data.len) {
        e->pattern_broken = true;
    }
    e->received += data.len;
    return data.len;
}

static void reset_after_handshake(keel_tls_stream *t, keel_result r, void *user)
{
    loop_handshake(t, r, user);
    loop_side *e = user;
    /* The client's records start after the bytes read so far: cut the
     * sixth record of 1000 bytes (+ 21 or 29 bytes of header and tag). */
    f.recv_reset_at = e->hs_bytes + 5500u;
}

static void test_loop_reset_mid_record(void **state)
{
    (void)state;
    static const keel_tls_stream_handlers h = { .on_read = sink_read,
                                                .on_handshake = reset_after_handshake,
                                                .on_close = loop_close };
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    keel_loop *loop = lt_loop();
    records_client c = { .cfg = ccfg };
    keel_net *listener = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &c.port);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, records_client_main, &c), 0);
    keel_net *conn = nt_new();
    assert_int_equal(keel_net_accept(listener, conn, NULL), KEEL_OK);
    fault_fd = fd_of(conn);
    f.recv_chunk = 700; /* records arrive in pieces too */
    loop_side e = { 0 };
    keel_tls_stream *t = NULL;
    assert_int_equal(keel_tls_stream_adopt(loop, scfg, conn, keel_slice_empty(), &h, NULL, &e, &t),
                     KEEL_OK);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(e.hs_r, KEEL_OK);
    assert_int_equal(e.received, 5000);
    assert_false(e.pattern_broken);
    assert_int_equal(e.end_r, KEEL_ERR_RESET);
    assert_int_equal(e.close_r, KEEL_ERR_RESET);
    assert_int_equal(f.resets, 1);
    keel_sys_reset();
    keel_net_free(listener);
    keel_loop_free(loop);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blocking_session_through_eintr_and_short_io, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blocking_session_through_eagain_storms, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blocking_reset_mid_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocking_reset_mid_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocking_send_resumes_a_half_sent_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_allocation_failures_are_no_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_echo_through_short_io_eintr_and_eagain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_loop_reset_mid_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_reset_mid_record, setup, teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

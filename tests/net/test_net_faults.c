/*
 * tests/net/test_net_faults.c - fault injection at the syscall seam (src/core/sys.h):
 * EINTR on every blocking call, EAGAIN storms, allocation and descriptor
 * exhaustion, short writes and reads, a reset in the middle of a transfer,
 * and a clock that jumps while EINTR keeps coming. Each stub wraps the real
 * call; keel_sys_reset() restores the table after every test, which also
 * checks that no descriptor leaked (ASan / valgrind check the memory).
 *
 * Everything runs in one thread: both ends of a loopback pair live here and
 * the payloads fit in the kernel's socket buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/net.h"
#include "net_test_util.h"
#include "core/sys.h"

static struct keel_sys_ops real;
static int fds_before;

/* Per-test knobs and counters of the stubs. */
static struct fault_knobs {
    int connect_calls, poll_calls, recv_calls, send_calls, accept_calls, socket_calls;
    /* calls still to interrupt, per call (-1: every call) */
    int connect_eintr, poll_eintr, recv_eintr, send_eintr, accept_eintr;
    int eagain_left;   /* calls still to refuse with EAGAIN */
    int socket_errno;  /* errno for the socket stub */
    size_t chunk_max;  /* cap per send/recv call (0: none) */
    size_t reset_after; /* bytes the send stub lets through before ECONNRESET */
    size_t passed;
    uint64_t clock;
} f;

static int setup(void **state)
{
    (void)state;
    keel_sys_reset();
    real = keel_sys;
    f = (struct fault_knobs){ 0 };
    fds_before = nt_count_fds();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    keel_sys_reset();
    return nt_fds_unchanged(fds_before);
}

static bool take(int *left)
{
    if (*left > 0) {
        (*left)--;
        return true;
    }
    return false;
}

/* ---- stubs ------------------------------------------------------------ */

static int connect_eintr_before(int fd, const struct sockaddr *sa, socklen_t len)
{
    f.connect_calls++;
    if (take(&f.connect_eintr)) {
        errno = EINTR;
        return -1;
    }
    return real.connect(fd, sa, len);
}

/* The kernel started the connect, then a signal arrived. */
static int connect_eintr_after(int fd, const struct sockaddr *sa, socklen_t len)
{
    f.connect_calls++;
    int rc = real.connect(fd, sa, len);
    if (take(&f.connect_eintr)) {
        errno = EINTR;
        return -1;
    }
    return rc;
}

static int poll_eintr(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    f.poll_calls++;
    if (take(&f.poll_eintr) || f.poll_eintr < 0) {
        errno = EINTR;
        return -1;
    }
    return real.poll(fds, n, timeout_ms);
}

static ssize_t recv_faulty(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                           socklen_t *salen)
{
    f.recv_calls++;
    if (take(&f.recv_eintr)) {
        errno = EINTR;
        return -1;
    }
    if (take(&f.eagain_left) || f.eagain_left < 0) {
        errno = EAGAIN;
        return -1;
    }
    if (f.chunk_max > 0 && len > 1) {
        size_t cap = 1 + (size_t)f.recv_calls % f.chunk_max;
        len = len < cap ? len : cap;
    }
    return real.recvfrom(fd, buf, len, flags, sa, salen);
}

static ssize_t send_faulty(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *sa, socklen_t salen)
{
    f.send_calls++;
    if (take(&f.send_eintr)) {
        errno = EINTR;
        return -1;
    }
    if (take(&f.eagain_left)) {
        errno = EAGAIN;
        return -1;
    }
    if (f.reset_after > 0 && f.passed >= f.reset_after) {
        errno = ECONNRESET;
        return -1;
    }
    if (f.chunk_max > 0 && len > 1) {
        size_t cap = 1 + (size_t)f.send_calls % f.chunk_max;
        len = len < cap ? len : cap;
    }
    ssize_t n = real.sendto(fd, buf, len, flags, sa, salen);
    if (n > 0) {
        f.passed += (size_t)n;
    }
    return n;
}

static int accept_eintr(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    f.accept_calls++;
    if (take(&f.accept_eintr)) {
        errno = EINTR;
        return -1;
    }
    return real.accept4(fd, sa, len, flags);
}

static int socket_fails(int domain, int type, int protocol)
{
    (void)domain;
    (void)type;
    (void)protocol;
    f.socket_calls++;
    errno = f.socket_errno;
    return -1;
}

/* A host without IPv6: AF_INET6 sockets cannot be created. */
static int socket_no_ipv6(int domain, int type, int protocol)
{
    f.socket_calls++;
    if (domain == AF_INET6) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return real.socket(domain, type, protocol);
}

static void *alloc_fails(size_t n)
{
    (void)n;
    errno = ENOMEM;
    return NULL;
}

/* Every reading jumps 100 ms ahead. */
static uint64_t clock_jumps(void)
{
    f.clock += 100;
    return f.clock;
}

/* ---- helpers ------------------------------------------------------------ */

/* Send n pattern bytes from `from` (send_all) and check `to` gets them all,
 * in order (recv_exact). */
static void transfer(keel_net *from, keel_net *to, size_t n)
{
    static uint8_t out[32768];
    static uint8_t in[32768];
    assert_true(n <= sizeof out);
    nt_fill(out, n, 0);
    size_t sent = 0;
    assert_int_equal(keel_net_send_all(from, nt_slice(out, n), NT_IO_TIMEOUT_MS, &sent), KEEL_OK);
    assert_int_equal(sent, n);
    keel_buf b = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_exact(to, &b, n, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(b.len, n);
    assert_int_equal(nt_check(in, n, 0), n);
}

static void connect_with(int (*stub)(int, const struct sockaddr *, socklen_t))
{
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    keel_net *c = nt_new();
    keel_net *s = nt_new();
    keel_sys.connect = stub;
    f.connect_eintr = 2;
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_int_equal(f.connect_eintr, 0);
    assert_true(f.connect_calls >= 3);
    assert_int_equal(keel_net_accept(l, s, NULL), KEEL_OK);
    transfer(c, s, 1000);
    keel_net_free(c);
    keel_net_free(s);
    keel_net_free(l);
}

/* ---- EINTR -------------------------------------------------------------- */

static void test_eintr_before_connect_is_retried(void **state)
{
    (void)state;
    connect_with(connect_eintr_before);
}

static void test_eintr_after_connect_started_is_retried(void **state)
{
    (void)state;
    connect_with(connect_eintr_after);
}

static void test_eintr_on_accept_poll_recv_send_loses_nothing(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    keel_net *c = nt_new();
    keel_net *s = nt_new();
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    keel_sys.accept4 = accept_eintr;
    f.accept_eintr = 3;
    assert_int_equal(keel_net_accept(l, s, NULL), KEEL_OK);
    assert_int_equal(f.accept_calls, 4);

    keel_sys.poll = poll_eintr;
    keel_sys.recvfrom = recv_faulty;
    keel_sys.sendto = send_faulty;
    f.chunk_max = 700; /* many calls, so that many are interrupted */
    f.poll_eintr = 5;
    f.recv_eintr = 20;
    f.send_eintr = 20;
    transfer(c, s, 20000);
    /* every planned interruption happened, and was survived */
    assert_int_equal(f.poll_eintr, 0);
    assert_int_equal(f.recv_eintr, 0);
    assert_int_equal(f.send_eintr, 0);
    /* and in the other direction, with a blocking recv */
    f.recv_eintr = 1;
    f.send_eintr = 1;
    size_t sent = 0;
    assert_int_equal(keel_net_send_all(s, KEEL_STR("back"), NT_IO_TIMEOUT_MS, &sent), KEEL_OK);
    uint8_t st[8];
    keel_buf b = nt_buf(st, sizeof st);
    while (b.len < 4) {
        assert_int_equal(keel_net_recv(c, &b, NULL), KEEL_OK);
    }
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("back")));
    assert_int_equal(f.recv_eintr, 0);
    assert_int_equal(f.send_eintr, 0);
    keel_net_free(c);
    keel_net_free(s);
    keel_net_free(l);
}

/* ---- EAGAIN storms ------------------------------------------------------ */

static void test_eagain_storm_is_would_block_and_send_all_completes(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    assert_int_equal(keel_net_set_nonblocking(c, true), KEEL_OK);
    assert_int_equal(keel_net_set_nonblocking(s, true), KEEL_OK);
    keel_sys.recvfrom = recv_faulty;
    keel_sys.sendto = send_faulty;

    f.eagain_left = 100;
    size_t sent = 0;
    assert_int_equal(keel_net_send(c, KEEL_STR("x"), &sent), KEEL_ERR_WOULD_BLOCK);
    assert_int_equal(keel_net_last_os_error(c), EAGAIN);
    /* send_all waits (poll says writable) and retries through the storm. */
    transfer(c, s, 20000);
    assert_int_equal(f.eagain_left, 0);

    /* A reader facing EAGAIN with data queued: poll says readable every
     * time, so the timed receive must keep its own deadline. */
    f.eagain_left = -1;
    assert_int_equal(keel_net_send(c, KEEL_STR("queued"), &sent), KEEL_OK);
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv(s, &b, NULL), KEEL_ERR_WOULD_BLOCK);
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_net_recv_timeout(s, &b, 50, NULL), KEEL_ERR_TIMEOUT);
    assert_true(nt_now_ms() - t0 < 2000);
    /* The storm ends: the bytes are all there. */
    f.eagain_left = 5;
    assert_int_equal(keel_net_recv_exact(s, &b, 6, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("queued")));
    keel_net_free(c);
    keel_net_free(s);
}

/* ---- resource exhaustion ----------------------------------------------- */

static void test_alloc_failure_in_init_is_no_memory(void **state)
{
    (void)state;
    keel_sys.alloc_zeroed = alloc_fails;
    static int marker;
    keel_net *ctx = (keel_net *)(void *)&marker;
    assert_int_equal(keel_net_init(&ctx), KEEL_ERR_NO_MEMORY);
    assert_ptr_equal(ctx, (keel_net *)(void *)&marker); /* untouched on failure */
}

static void test_socket_enobufs_and_emfile_are_no_memory(void **state)
{
    (void)state;
    keel_net *c = nt_new();
    keel_sys.socket = socket_fails;
    f.socket_errno = ENOBUFS;
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), 9, KEEL_PROTO_TCP, 100),
                     KEEL_ERR_NO_MEMORY);
    assert_int_equal(keel_net_last_os_error(c), ENOBUFS);
    f.socket_errno = EMFILE;
    assert_int_equal(keel_net_bind(c, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_UDP),
                     KEEL_ERR_NO_MEMORY);
    assert_int_equal(keel_net_last_os_error(c), EMFILE);
    f.socket_errno = ENFILE;
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), 9, KEEL_PROTO_UDP, 100),
                     KEEL_ERR_NO_MEMORY);
    assert_false(keel_net_is_open(c));
    keel_net_free(c);
}

/* The default bind address is "::" dual stack, or 0.0.0.0 without IPv6. */
static void test_default_bind_falls_back_to_ipv4_without_ipv6(void **state)
{
    (void)state;
    keel_sys.socket = socket_no_ipv6;
    keel_net *l = nt_new();
    assert_int_equal(keel_net_bind(l, keel_slice_empty(), 0, KEEL_PROTO_TCP), KEEL_OK);
    assert_int_equal(f.socket_calls, 2);
    keel_addr a;
    assert_int_equal(keel_net_local_addr(l, &a), KEEL_OK);
    assert_int_equal(a.family, KEEL_AF_INET4);
    /* An explicit IPv6 literal has no fallback. */
    keel_net *v6 = nt_new();
    assert_int_equal(keel_net_bind(v6, KEEL_STR("::1"), 0, KEEL_PROTO_TCP), KEEL_ERR_OS);
    assert_int_equal(keel_net_last_os_error(v6), EAFNOSUPPORT);
    keel_net_free(v6);
    keel_net_free(l);
}

/* UDP accept needs a socket for the client; without one nothing is lost:
 * the listener keeps its socket, and the datagram, read to learn its
 * sender, is held by the listener for its next receive. */
static void test_udp_accept_without_descriptor_changes_nothing(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    keel_net *p = nt_new();
    keel_net *c = nt_new();
    assert_int_equal(keel_net_connect(p, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_UDP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    size_t sent = 0;
    assert_int_equal(keel_net_send(p, KEEL_STR("hello"), &sent), KEEL_OK);
    keel_sys.socket = socket_fails;
    f.socket_errno = EMFILE;
    keel_addr peer = { .port = 1 };
    assert_int_equal(keel_net_accept(l, c, &peer), KEEL_ERR_NO_MEMORY);
    assert_false(keel_net_is_open(c));
    assert_int_equal(peer.port, 1);
    keel_sys_reset();
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    keel_addr from;
    assert_int_equal(keel_net_recvfrom(l, &b, NT_IO_TIMEOUT_MS, &from, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("hello")));
    keel_net_free(p);
    keel_net_free(c);
    keel_net_free(l);
}

/* UDP accept keeps the first datagram in memory: without memory for it,
 * the accept fails and the datagram stays on the listener's socket. */
static void test_udp_accept_without_memory_loses_nothing(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = NULL;
    keel_net *p = NULL;
    nt_udp_connected(&l, &p, &port);
    keel_net *c = nt_new();
    size_t sent = 0;
    assert_int_equal(keel_net_send(p, KEEL_STR("kept"), &sent), KEEL_OK);
    keel_sys.alloc_zeroed = alloc_fails;
    keel_addr peer = { .port = 1 };
    assert_int_equal(keel_net_accept(l, c, &peer), KEEL_ERR_NO_MEMORY);
    keel_sys_reset();
    assert_false(keel_net_is_open(c));
    assert_int_equal(peer.port, 1);
    assert_int_equal(keel_net_pending(l), 0);
    /* Still there: now the accept succeeds with it. */
    assert_int_equal(keel_net_accept(l, c, &peer), KEEL_OK);
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv(c, &b, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("kept")));
    keel_net_free(p);
    keel_net_free(c);
    keel_net_free(l);
}

/* Every read of a UDP accept (the wait, the size probe, the reads that
 * move datagrams) retries EINTR and loses nothing. */
static void test_udp_accept_with_eintr_loses_nothing(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = NULL;
    keel_net *a = NULL;
    nt_udp_connected(&l, &a, &port);
    keel_net *b = nt_udp_peer(KEEL_AF_INET4, port, NULL);
    size_t sent = 0;
    assert_int_equal(keel_net_send(a, KEEL_STR("a1"), &sent), KEEL_OK);
    assert_int_equal(keel_net_send(b, KEEL_STR("b1"), &sent), KEEL_OK);
    assert_int_equal(keel_net_send(a, KEEL_STR("a2"), &sent), KEEL_OK);
    keel_sys.recvfrom = recv_faulty;
    keel_net *c = nt_new();
    f.recv_eintr = 12; /* the first 12 reads are interrupted */
    assert_int_equal(keel_net_accept(l, c, NULL), KEEL_OK);
    assert_true(f.recv_calls > 12);
    assert_int_equal(f.recv_eintr, 0);
    keel_sys_reset();
    uint8_t st[16];
    keel_buf x = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv(c, &x, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&x), KEEL_STR("a1")));
    keel_buf_clear(&x);
    assert_int_equal(keel_net_recv(c, &x, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&x), KEEL_STR("a2")));
    keel_buf_clear(&x);
    keel_addr from;
    assert_int_equal(keel_net_recvfrom(l, &x, NT_IO_TIMEOUT_MS, &from, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&x), KEEL_STR("b1")));
    keel_net_free(a);
    keel_net_free(b);
    keel_net_free(c);
    keel_net_free(l);
}

/* ---- short transfers ---------------------------------------------------- */

static void test_short_writes_send_all_delivers_every_byte_in_order(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    keel_sys.sendto = send_faulty;
    f.chunk_max = 3; /* 1..3 bytes per call */
    transfer(c, s, 10000);
    assert_true(f.send_calls >= 10000 / 3);
    keel_net_free(c);
    keel_net_free(s);
}

static void test_short_reads_recv_exact_collects_every_byte(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    keel_sys.recvfrom = recv_faulty;
    f.chunk_max = 3;
    transfer(c, s, 5000);
    assert_true(f.recv_calls >= 5000 / 3);
    keel_net_free(c);
    keel_net_free(s);
}

/* ---- reset in the middle ------------------------------------------------ */

static void test_reset_mid_transfer_is_reported_with_count_and_sticky(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    /* non-blocking, so that a missing sticky error fails instead of hanging */
    assert_int_equal(keel_net_set_nonblocking(c, true), KEEL_OK);
    keel_sys.sendto = send_faulty;
    keel_sys.recvfrom = recv_faulty;
    f.chunk_max = 1000;
    f.reset_after = 3000;
    static uint8_t out[10000];
    nt_fill(out, sizeof out, 0);
    size_t sent = 0;
    assert_int_equal(keel_net_send_all(c, nt_slice(out, sizeof out), NT_IO_TIMEOUT_MS, &sent),
                     KEEL_ERR_RESET);
    assert_int_equal(sent, f.passed);
    assert_true(sent >= 3000);
    assert_int_equal(keel_net_last_os_error(c), ECONNRESET);
    /* Sticky: later calls answer without reaching the OS. */
    int sends = f.send_calls, recvs = f.recv_calls;
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_send(c, KEEL_STR("x"), &sent), KEEL_ERR_RESET);
    assert_int_equal(keel_net_recv(c, &b, NULL), KEEL_ERR_RESET);
    assert_int_equal(keel_net_recv_exact(c, &b, 1, 10), KEEL_ERR_RESET);
    assert_int_equal(f.send_calls, sends);
    assert_int_equal(f.recv_calls, recvs);
    /* The peer got exactly what was reported sent, in order. */
    keel_sys_reset();
    static uint8_t in[10000];
    keel_buf got = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_exact(s, &got, f.passed, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(nt_check(in, f.passed, 0), f.passed);
    keel_net_free(c);
    keel_net_free(s);
}

/* ---- clock -------------------------------------------------------------- */

static void test_deadline_expires_while_eintr_keeps_coming(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    keel_sys.now_ms = clock_jumps;
    keel_sys.poll = poll_eintr;
    f.poll_eintr = -1; /* forever */
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_timeout(c, &b, 1000, NULL), KEEL_ERR_TIMEOUT);
    assert_true(f.poll_calls >= 1 && f.poll_calls <= 20);
    assert_int_equal(keel_net_last_os_error(c), ETIMEDOUT);
    f.poll_calls = 0;
    unsigned ready = 0;
    assert_int_equal(keel_net_poll(c, KEEL_POLL_WRITE, 500, &ready), KEEL_ERR_TIMEOUT);
    assert_true(f.poll_calls <= 10);

    /* send_all: the OS refuses (EAGAIN), the wait is interrupted forever;
     * the deadline still ends it and the count is reported. */
    keel_sys.sendto = send_faulty;
    f.eagain_left = 1000000;
    size_t sent = 99;
    assert_int_equal(keel_net_send_all(c, KEEL_STR("stuck"), 700, &sent), KEEL_ERR_TIMEOUT);
    assert_int_equal(sent, 0);

    /* connect: the wait for the handshake is interrupted forever. */
    uint16_t port = 0;
    keel_sys_reset();
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    keel_sys.now_ms = clock_jumps;
    keel_sys.poll = poll_eintr;
    keel_sys.connect = connect_eintr_before;
    f.poll_eintr = -1;
    keel_net *k = nt_new();
    assert_int_equal(keel_net_connect(k, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 1000),
                     KEEL_ERR_TIMEOUT);
    assert_false(keel_net_is_open(k));
    keel_net_free(k);
    keel_net_free(l);
    keel_net_free(c);
    keel_net_free(s);
}

#define FAULT_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        FAULT_TEST(test_eintr_before_connect_is_retried),
        FAULT_TEST(test_eintr_after_connect_started_is_retried),
        FAULT_TEST(test_eintr_on_accept_poll_recv_send_loses_nothing),
        FAULT_TEST(test_eagain_storm_is_would_block_and_send_all_completes),
        FAULT_TEST(test_alloc_failure_in_init_is_no_memory),
        FAULT_TEST(test_socket_enobufs_and_emfile_are_no_memory),
        FAULT_TEST(test_default_bind_falls_back_to_ipv4_without_ipv6),
        FAULT_TEST(test_udp_accept_without_descriptor_changes_nothing),
        FAULT_TEST(test_udp_accept_without_memory_loses_nothing),
        FAULT_TEST(test_udp_accept_with_eintr_loses_nothing),
        FAULT_TEST(test_short_writes_send_all_delivers_every_byte_in_order),
        FAULT_TEST(test_short_reads_recv_exact_collects_every_byte),
        FAULT_TEST(test_reset_mid_transfer_is_reported_with_count_and_sticky),
        FAULT_TEST(test_deadline_expires_while_eintr_keeps_coming),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

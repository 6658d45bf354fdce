/*
 * tests/net/test_net_errors.c - every failure the socket layer reports, forced
 * with real loopback sockets: reset by the peer (sticky), writing to a gone
 * peer without SIGPIPE, refused and timed-out connects, unknown hosts,
 * addresses in use, malformed bind addresses, full buffers, caller errors,
 * and the errno kept behind each failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_main.h"

#include <signal.h>

#include "keel/net.h"
#include "net_test_util.h"
#include "core/sys.h"

/* The peer aborts: SO_LINGER {1, 0} then close sends RST instead of FIN. */
static void reset_by_peer(keel_net *peer)
{
    int fd = -1;
    assert_int_equal(keel_net_fd(peer, &fd), KEEL_OK);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    keel_net_close(peer);
}

/* Wait until the RST has reached ctx (it makes the socket readable). */
static void wait_readable(keel_net *ctx)
{
    unsigned ready = 0;
    assert_int_equal(keel_net_poll(ctx, KEEL_POLL_READ, NT_IO_TIMEOUT_MS, &ready), KEEL_OK);
    assert_true((ready & KEEL_POLL_READ) != 0);
}

static void test_reset_mid_stream_is_reset_on_recv_then_sticky(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    size_t sent = 0;
    assert_int_equal(keel_net_send(s, KEEL_STR("part"), &sent), KEEL_OK);
    uint8_t st[64];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_exact(c, &b, 4, NT_IO_TIMEOUT_MS), KEEL_OK);
    reset_by_peer(s);
    wait_readable(c);
    assert_int_equal(keel_net_recv(c, &b, NULL), KEEL_ERR_RESET);
    assert_int_equal(keel_net_last_os_error(c), ECONNRESET);
    /* Linux would now report EOF; keel keeps saying RESET, on every path. */
    assert_int_equal(keel_net_recv(c, &b, NULL), KEEL_ERR_RESET);
    assert_int_equal(keel_net_recv_timeout(c, &b, 10, NULL), KEEL_ERR_RESET);
    assert_int_equal(keel_net_recv_exact(c, &b, 1, 10), KEEL_ERR_RESET);
    assert_int_equal(keel_net_send(c, KEEL_STR("x"), &sent), KEEL_ERR_RESET);
    assert_int_equal(keel_net_send_all(c, KEEL_STR("x"), 10, &sent), KEEL_ERR_RESET);
    assert_int_equal(sent, 0);
    assert_int_equal(b.len, 4);
    /* Closing clears it: the context can be used again. */
    keel_net_close(c);
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_int_equal(keel_net_send(c, KEEL_STR("x"), &sent), KEEL_OK);
    keel_net_free(l);
    keel_net_free(c);
    keel_net_free(s);
}

static void test_reset_mid_stream_is_reset_on_send_then_sticky(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(nt_ipv6_available() ? KEEL_AF_INET6 : KEEL_AF_INET4, &c, &s);
    reset_by_peer(s);
    wait_readable(c);
    size_t sent = 0;
    assert_int_equal(keel_net_send(c, KEEL_STR("after reset"), &sent), KEEL_ERR_RESET);
    int err = keel_net_last_os_error(c);
    assert_true(err == ECONNRESET || err == EPIPE);
    uint8_t st[8];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv(c, &b, NULL), KEEL_ERR_RESET);
    assert_int_equal(keel_net_send(c, KEEL_STR("again"), &sent), KEEL_ERR_RESET);
    keel_net_free(c);
    keel_net_free(s);
}

/* Writing into a connection the peer closed: the first write is answered
 * with RST, the next would raise SIGPIPE without MSG_NOSIGNAL. SIGPIPE keeps
 * its default disposition (kill the process) throughout. */
static void test_write_to_closed_peer_is_reset_without_sigpipe(void **state)
{
    (void)state;
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    keel_net_close(s);
    uint8_t chunk[1024];
    nt_fill(chunk, sizeof chunk, 0);
    keel_result r = KEEL_OK;
    for (int i = 0; i < 1000 && r == KEEL_OK; i++) {
        r = keel_net_send_all(c, nt_slice(chunk, sizeof chunk), NT_IO_TIMEOUT_MS, NULL);
        if (r == KEEL_OK) {
            usleep(1000);
        }
    }
    assert_int_equal(r, KEEL_ERR_RESET);
    int err = keel_net_last_os_error(c);
    assert_true(err == ECONNRESET || err == EPIPE);
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
    keel_net_free(c);
    keel_net_free(s);
}

static void test_connect_to_closed_port_is_refused(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    keel_net_close(l);
    keel_net *c = nt_new();
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_ERR_REFUSED);
    assert_int_equal(keel_net_last_os_error(c), ECONNREFUSED);
    assert_false(keel_net_is_open(c));
    keel_net_free(c);
    keel_net_free(l);
}

/* The real resolver, with a name RFC 6761 guarantees never resolves. */
static void test_connect_unknown_host_is_host_not_found(void **state)
{
    (void)state;
    keel_net *c = nt_new();
    assert_int_equal(keel_net_connect(c, KEEL_STR("no-such-host.invalid"), 80, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_ERR_HOST_NOT_FOUND);
    assert_false(keel_net_is_open(c));
    keel_net_free(c);
}

static int gai_noname(const char *node, const char *service, const struct addrinfo *hints,
                      struct addrinfo **res)
{
    (void)node;
    (void)service;
    (void)hints;
    (void)res;
    return EAI_NONAME;
}

/* The same through the seam, so it holds where DNS is slow or absent. */
static void test_connect_resolver_noname_is_host_not_found(void **state)
{
    (void)state;
    keel_net *c = nt_new();
    keel_sys.getaddrinfo = gai_noname;
    keel_result r = keel_net_connect(c, KEEL_STR("example.test"), 80, KEEL_PROTO_TCP, 1000);
    keel_sys_reset();
    assert_int_equal(r, KEEL_ERR_HOST_NOT_FOUND);
    keel_net_free(c);
}

/* Connect timeout on loopback: a listener that never accepts, backlog 1.
 * Once its accept queue is full Linux drops further SYNs (even with
 * syncookies), so the next connect waits for a SYN-ACK that never comes.
 * Fillers are added until one such connect times out, which proves the
 * queue is full; then a measured connect must time out within its deadline. */
static void test_connect_to_full_backlog_times_out(void **state)
{
    (void)state;
    keel_net *l = nt_new();
    keel_bind_opts o = { .ip = KEEL_STR("127.0.0.1"), .proto = KEEL_PROTO_TCP, .backlog = 1 };
    assert_int_equal(keel_net_bind_opts(l, &o), KEEL_OK);
    uint16_t port = nt_local_port(l);
    keel_net *fill[16];
    size_t nfill = 0;
    keel_result r = KEEL_OK;
    while (r == KEEL_OK && nfill < 16) {
        fill[nfill] = nt_new();
        r = keel_net_connect(fill[nfill], KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 300);
        nfill++;
    }
    assert_int_equal(r, KEEL_ERR_TIMEOUT);

    keel_net *c = nt_new();
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 400),
                     KEEL_ERR_TIMEOUT);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= 390);
    assert_true(took < 3000);
    assert_int_equal(keel_net_last_os_error(c), ETIMEDOUT);
    assert_false(keel_net_is_open(c));
    /* 0 means "try once, do not wait". */
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 0),
                     KEEL_ERR_TIMEOUT);
    keel_net_free(c);
    for (size_t i = 0; i < nfill; i++) {
        keel_net_free(fill[i]);
    }
    keel_net_free(l);
}

static void bind_twice_in_use(keel_proto proto)
{
    keel_net *a = nt_new();
    keel_net *b = nt_new();
    keel_bind_opts o = { .ip = KEEL_STR("127.0.0.1"), .proto = proto, .no_reuseaddr = true };
    assert_int_equal(keel_net_bind_opts(a, &o), KEEL_OK);
    o.port = nt_local_port(a);
    assert_int_equal(keel_net_bind_opts(b, &o), KEEL_ERR_ADDR_IN_USE);
    assert_int_equal(keel_net_last_os_error(b), EADDRINUSE);
    assert_false(keel_net_is_open(b));
    keel_net_free(a);
    keel_net_free(b);
}

static void test_bind_address_in_use_tcp_and_udp(void **state)
{
    (void)state;
    int before = nt_count_fds();
    bind_twice_in_use(KEEL_PROTO_TCP);
    bind_twice_in_use(KEEL_PROTO_UDP);
    assert_int_equal(nt_count_fds(), before);
}

/* SO_REUSEPORT on both lets two UDP sockets share a port. */
static void test_bind_reuseport_shares_the_port(void **state)
{
    (void)state;
    keel_net *a = nt_new();
    keel_net *b = nt_new();
    keel_bind_opts o = { .ip = KEEL_STR("127.0.0.1"), .proto = KEEL_PROTO_UDP,
                         .no_reuseaddr = true, .reuseport = true };
    assert_int_equal(keel_net_bind_opts(a, &o), KEEL_OK);
    o.port = nt_local_port(a);
    assert_int_equal(keel_net_bind_opts(b, &o), KEEL_OK);
    keel_net_free(a);
    keel_net_free(b);
}

/* UDP accept binds the client's socket to the listener's address: impossible
 * without SO_REUSEADDR, and then nothing changes. */
static void test_udp_accept_on_exclusive_bind_is_addr_in_use(void **state)
{
    (void)state;
    keel_net *l = nt_new();
    keel_bind_opts o = { .ip = KEEL_STR("127.0.0.1"), .proto = KEEL_PROTO_UDP,
                         .no_reuseaddr = true };
    assert_int_equal(keel_net_bind_opts(l, &o), KEEL_OK);
    uint16_t port = nt_local_port(l);
    keel_net *p = nt_new();
    keel_net *c = nt_new();
    assert_int_equal(keel_net_connect(p, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_UDP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    size_t sent = 0;
    assert_int_equal(keel_net_send(p, KEEL_STR("q"), &sent), KEEL_OK);
    assert_int_equal(keel_net_accept(l, c, NULL), KEEL_ERR_ADDR_IN_USE);
    assert_int_equal(keel_net_last_os_error(l), EADDRINUSE);
    assert_false(keel_net_is_open(c));
    uint8_t st[4];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recvfrom(l, &b, NT_IO_TIMEOUT_MS, NULL, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("q")));
    keel_net_free(p);
    keel_net_free(c);
    keel_net_free(l);
}

static void test_bind_non_literal_is_parse_error(void **state)
{
    (void)state;
    keel_net *a = nt_new();
    assert_int_equal(keel_net_bind(a, KEEL_STR("localhost"), 0, KEEL_PROTO_TCP), KEEL_ERR_PARSE);
    assert_int_equal(keel_net_bind(a, KEEL_STR("1.2.3"), 0, KEEL_PROTO_TCP), KEEL_ERR_PARSE);
    assert_int_equal(keel_net_bind(a, KEEL_STR("127.0.0.1:80"), 0, KEEL_PROTO_UDP),
                     KEEL_ERR_PARSE);
    assert_false(keel_net_is_open(a));
    /* A literal that is not local cannot be assigned. */
    assert_int_equal(keel_net_bind(a, KEEL_STR("192.0.2.77"), 0, KEEL_PROTO_TCP),
                     KEEL_ERR_ADDR_IN_USE);
    assert_int_equal(keel_net_last_os_error(a), EADDRNOTAVAIL);
    keel_net_free(a);
}

static void test_recv_into_full_buf_is_too_large(void **state)
{
    (void)state;
    keel_net *c, *s;
    nt_tcp_pair(KEEL_AF_INET4, &c, &s);
    size_t sent = 0;
    assert_int_equal(keel_net_send(s, KEEL_STR("data"), &sent), KEEL_OK);
    uint8_t st[4];
    keel_buf full = nt_buf(st, sizeof st);
    assert_int_equal(keel_buf_append(&full, KEEL_STR("full")), KEEL_OK);
    keel_buf none = nt_buf(NULL, 0);
    assert_int_equal(keel_net_recv(c, &full, NULL), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_net_recv(c, &none, NULL), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_net_recv_timeout(c, &full, 10, NULL), KEEL_ERR_TOO_LARGE);
    uint8_t st2[3];
    keel_buf small = nt_buf(st2, sizeof st2);
    assert_int_equal(keel_net_recv_exact(c, &small, 4, 10), KEEL_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0); /* nothing read */
    assert_int_equal(keel_net_recv_exact(c, &full, 0, 10), KEEL_OK);
    /* The data is still there for a buffer with room. */
    keel_buf room = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_exact(c, &room, 4, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&room), KEEL_STR("data")));
    keel_net_free(c);
    keel_net_free(s);

    uint16_t port = 0;
    keel_net *u = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    assert_int_equal(keel_net_recvfrom(u, &full, 10, NULL, NULL), KEEL_ERR_TOO_LARGE);
    keel_net_free(u);
}

static void test_null_and_invalid_arguments(void **state)
{
    (void)state;
    assert_int_equal(keel_net_init(NULL), KEEL_ERR_INVALID_ARG);
    keel_net *c = nt_new();
    uint8_t st[8];
    keel_buf b = nt_buf(st, sizeof st);
    keel_buf bad = { .ptr = NULL, .cap = 8, .len = 0 };
    keel_slice bad_slice = { .ptr = NULL, .len = 3 };
    size_t n = 0;
    unsigned ready = 0;
    int fd = 0;
    keel_addr a;
    assert_int_equal(keel_net_connect(NULL, KEEL_STR("127.0.0.1"), 1, KEEL_PROTO_TCP, 10),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), 1, (keel_proto)7, 10),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_connect(c, keel_slice_empty(), 1, KEEL_PROTO_TCP, 10),
                     KEEL_ERR_INVALID_ARG);
    /* Slices that fail keel_slice_valid never reach the resolver (a slice
     * wrapping the address space used to be read there: a crash). */
    keel_slice wrap = { (const uint8_t *)(UINTPTR_MAX - 15u), 100 };
    assert_int_equal(keel_net_connect(c, wrap, 1, KEEL_PROTO_TCP, 10), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_connect(c, bad_slice, 1, KEEL_PROTO_UDP, 10), KEEL_ERR_INVALID_ARG);
    assert_false(keel_net_is_open(c));
    assert_int_equal(keel_net_bind(c, wrap, 0, KEEL_PROTO_TCP), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_send(c, wrap, &n), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_send_all(c, wrap, 0, &n), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_sendto(c, wrap, &a), KEEL_ERR_INVALID_ARG);
    keel_buf wrap_buf = { (uint8_t *)(UINTPTR_MAX - 15u), 100, 0 };
    assert_int_equal(keel_net_recv(c, &wrap_buf, &n), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recv_timeout(c, &wrap_buf, 0, &n), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recv_exact(c, &wrap_buf, 1, 0), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recvfrom(c, &wrap_buf, 0, NULL, &n), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_bind(NULL, keel_slice_empty(), 0, KEEL_PROTO_TCP),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_bind_opts(c, NULL), KEEL_ERR_INVALID_ARG);
    keel_bind_opts o = { .proto = KEEL_PROTO_TCP, .v6only = (keel_v6only)5 };
    assert_int_equal(keel_net_bind_opts(c, &o), KEEL_ERR_INVALID_ARG);
    o.v6only = KEEL_V6ONLY_DEFAULT;
    o.ip = bad_slice;
    assert_int_equal(keel_net_bind_opts(c, &o), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_accept(NULL, c, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_accept(c, NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_send(NULL, KEEL_STR("x"), &n), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_send(c, KEEL_STR("x"), NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_send(c, bad_slice, &n), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_send_all(NULL, KEEL_STR("x"), 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recv(NULL, &b, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recv(c, NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recv(c, &bad, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recv_timeout(c, &bad, 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recv_exact(NULL, &b, 1, 0), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_recvfrom(c, NULL, 0, NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_sendto(c, KEEL_STR("x"), NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_poll(NULL, KEEL_POLL_READ, 0, &ready), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_shutdown(NULL, KEEL_SHUT_RD), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_set_nonblocking(NULL, true), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_set_nodelay(NULL, true), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_set_buffer_sizes(NULL, 1, 1), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_local_addr(NULL, &a), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_peer_addr(c, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_fd(NULL, &fd), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_fd(c, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_net_last_os_error(NULL), 0);
    assert_int_equal(keel_net_last_os_error(c), 0);
    assert_false(keel_net_is_open(c));
    keel_net_free(c);
}

/* Calls that do not fit what the context is. */
static void test_wrong_state_for_the_call(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    keel_net *c = nt_new();
    keel_net *s = nt_new();
    keel_addr a;
    /* already open */
    assert_int_equal(keel_net_bind(l, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP), KEEL_ERR_STATE);
    assert_int_equal(keel_net_connect(l, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 10),
                     KEEL_ERR_STATE);
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_int_equal(keel_net_accept(l, c, NULL), KEEL_ERR_STATE); /* client open */
    assert_int_equal(keel_net_accept(l, l, NULL), KEEL_ERR_STATE);
    assert_int_equal(keel_net_accept(c, s, NULL), KEEL_ERR_STATE); /* not listening */
    /* a listener has no peer and carries no data */
    assert_int_equal(keel_net_peer_addr(l, &a), KEEL_ERR_STATE);
    assert_int_equal(keel_net_last_os_error(l), 0); /* const: not recorded */
    uint8_t st[8];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv(l, &b, NULL), KEEL_ERR_STATE);
    assert_int_equal(keel_net_last_os_error(l), ENOTCONN);
    /* datagram calls on a stream and stream options on a datagram socket */
    assert_int_equal(keel_net_sendto(c, KEEL_STR("x"), &a), KEEL_ERR_STATE);
    assert_int_equal(keel_net_recvfrom(c, &b, 0, NULL, NULL), KEEL_ERR_STATE);
    keel_net *u = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    assert_int_equal(keel_net_set_nodelay(u, true), KEEL_ERR_STATE);
    assert_int_equal(keel_net_peer_addr(u, &a), KEEL_ERR_STATE);
    /* an unconnected datagram socket has nowhere to send */
    size_t n = 0;
    assert_int_equal(keel_net_send(u, KEEL_STR("x"), &n), KEEL_ERR_OS);
    assert_int_equal(keel_net_last_os_error(u), EDESTADDRREQ);
    assert_int_equal(keel_net_set_buffer_sizes(u, (size_t)1 << 40, 0), KEEL_ERR_INVALID_ARG);
    keel_net_free(u);
    keel_net_free(c);
    keel_net_free(s);
    keel_net_free(l);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_mid_stream_is_reset_on_recv_then_sticky),
        cmocka_unit_test(test_reset_mid_stream_is_reset_on_send_then_sticky),
        cmocka_unit_test(test_write_to_closed_peer_is_reset_without_sigpipe),
        cmocka_unit_test(test_connect_to_closed_port_is_refused),
        cmocka_unit_test(test_connect_unknown_host_is_host_not_found),
        cmocka_unit_test(test_connect_resolver_noname_is_host_not_found),
        cmocka_unit_test(test_connect_to_full_backlog_times_out),
        cmocka_unit_test(test_bind_address_in_use_tcp_and_udp),
        cmocka_unit_test(test_bind_reuseport_shares_the_port),
        cmocka_unit_test(test_udp_accept_on_exclusive_bind_is_addr_in_use),
        cmocka_unit_test(test_bind_non_literal_is_parse_error),
        cmocka_unit_test(test_recv_into_full_buf_is_too_large),
        cmocka_unit_test(test_null_and_invalid_arguments),
        cmocka_unit_test(test_wrong_state_for_the_call),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

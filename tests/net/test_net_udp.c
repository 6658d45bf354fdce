/*
 * tests/net/test_net_udp.c - the UDP half of the socket layer over real loopback
 * sockets: datagram echo with sender addresses (IPv4 and IPv6), connected
 * UDP, the truncation rule (too-large datagrams are reported, not cut and
 * not lost), and the accept that hands each new peer a connected socket of
 * its own while the listener keeps its socket, each datagram landing with
 * its sender's context.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "test_main.h"

#include "core/sys.h"
#include "keel/net.h"
#include "net_test_util.h"

static keel_addr loopback_addr(keel_family fam, uint16_t port)
{
    keel_addr a;
    assert_int_equal(keel_addr_loopback(fam, port, &a), KEEL_OK);
    return a;
}

static void echo_over(keel_family fam)
{
    uint16_t sport = 0, cport = 0;
    keel_net *srv = nt_listen(fam, KEEL_PROTO_UDP, &sport);
    keel_net *cli = nt_listen(fam, KEEL_PROTO_UDP, &cport);
    keel_addr to_srv = loopback_addr(fam, sport);
    keel_addr cli_addr;
    assert_int_equal(keel_net_local_addr(cli, &cli_addr), KEEL_OK);

    for (size_t round = 0; round < 20; round++) {
        uint8_t out[512];
        size_t len = 1 + round * 25;
        nt_fill(out, len, round);
        assert_int_equal(keel_net_sendto(cli, nt_slice(out, len), &to_srv), KEEL_OK);

        uint8_t st[600];
        keel_buf b = nt_buf(st, sizeof st);
        keel_addr from;
        size_t got = 0;
        assert_int_equal(keel_net_recvfrom(srv, &b, NT_IO_TIMEOUT_MS, &from, &got), KEEL_OK);
        assert_int_equal(got, len);
        assert_int_equal(nt_check(st, len, round), len);
        assert_true(keel_addr_eq(&from, &cli_addr));
        /* echo to whoever sent it */
        assert_int_equal(keel_net_sendto(srv, keel_buf_slice(&b), &from), KEEL_OK);

        keel_buf back = nt_buf(st, sizeof st);
        assert_int_equal(keel_net_recvfrom(cli, &back, NT_IO_TIMEOUT_MS, &from, &got), KEEL_OK);
        assert_int_equal(got, len);
        assert_int_equal(nt_check(st, len, round), len);
        assert_true(keel_addr_eq(&from, &to_srv));
    }
    /* Nothing else is queued: a short recvfrom times out. */
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recvfrom(srv, &b, 20, NULL, NULL), KEEL_ERR_TIMEOUT);
    keel_net_free(srv);
    keel_net_free(cli);
}

static void test_udp_echo_ipv4_with_sender_addresses(void **state)
{
    (void)state;
    echo_over(KEEL_AF_INET4);
}

static void test_udp_echo_ipv6_with_sender_addresses(void **state)
{
    (void)state;
    NT_SKIP_WITHOUT(KEEL_AF_INET6);
    echo_over(KEEL_AF_INET6);
}

/* A UDP socket bound to the default address is dual stack: it reaches an
 * IPv4 peer given as a plain IPv4 address. */
static void test_udp_default_bind_is_dual_stack(void **state)
{
    (void)state;
    NT_SKIP_WITHOUT(KEEL_AF_INET6);
    keel_net *any = nt_new();
    assert_int_equal(keel_net_bind(any, keel_slice_empty(), 0, KEEL_PROTO_UDP), KEEL_OK);
    uint16_t port4 = 0;
    keel_net *v4 = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port4);
    keel_addr to = loopback_addr(KEEL_AF_INET4, port4);
    assert_int_equal(keel_net_sendto(any, KEEL_STR("dual"), &to), KEEL_OK);
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recvfrom(v4, &b, NT_IO_TIMEOUT_MS, NULL, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("dual")));
    keel_net_free(any);
    keel_net_free(v4);
}

/* IPV6_V6ONLY on: the "::" socket no longer hears IPv4 peers. */
static void test_udp_v6only_bind_ignores_ipv4(void **state)
{
    (void)state;
    NT_SKIP_WITHOUT(KEEL_AF_INET6);
    keel_net *v6 = nt_new();
    keel_bind_opts o = { .proto = KEEL_PROTO_UDP, .v6only = KEEL_V6ONLY_ON };
    assert_int_equal(keel_net_bind_opts(v6, &o), KEEL_OK);
    uint16_t port = nt_local_port(v6);
    uint16_t p4 = 0;
    keel_net *v4 = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &p4);
    keel_addr to4 = loopback_addr(KEEL_AF_INET4, port);
    keel_addr to6 = loopback_addr(KEEL_AF_INET6, port);
    assert_int_equal(keel_net_sendto(v4, KEEL_STR("four"), &to4), KEEL_OK);
    uint8_t st[16];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recvfrom(v6, &b, 50, NULL, NULL), KEEL_ERR_TIMEOUT);
    keel_net *s6 = nt_new();
    assert_int_equal(keel_net_bind(s6, KEEL_STR("::1"), 0, KEEL_PROTO_UDP), KEEL_OK);
    assert_int_equal(keel_net_sendto(s6, KEEL_STR("six"), &to6), KEEL_OK);
    assert_int_equal(keel_net_recvfrom(v6, &b, NT_IO_TIMEOUT_MS, NULL, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("six")));
    keel_net_free(s6);
    keel_net_free(v4);
    keel_net_free(v6);
}

static void test_udp_connected_send_and_recv(void **state)
{
    (void)state;
    uint16_t sport = 0;
    keel_net *srv = NULL;
    keel_net *cli = NULL;
    nt_udp_connected(&srv, &cli, &sport);
    assert_int_equal(keel_net_proto(cli), KEEL_PROTO_UDP);
    keel_addr cli_addr, peer;
    assert_int_equal(keel_net_local_addr(cli, &cli_addr), KEEL_OK);
    assert_int_equal(keel_net_peer_addr(cli, &peer), KEEL_OK);
    assert_int_equal(peer.port, sport);

    size_t sent = 0;
    assert_int_equal(keel_net_send(cli, KEEL_STR("ping"), &sent), KEEL_OK);
    assert_int_equal(sent, 4);
    uint8_t st[64];
    keel_buf b = nt_buf(st, sizeof st);
    keel_addr from;
    assert_int_equal(keel_net_recvfrom(srv, &b, NT_IO_TIMEOUT_MS, &from, NULL), KEEL_OK);
    assert_true(keel_addr_eq(&from, &cli_addr));
    assert_int_equal(keel_net_sendto(srv, KEEL_STR("pong"), &from), KEEL_OK);

    keel_buf r = nt_buf(st, sizeof st);
    size_t got = 0;
    assert_int_equal(keel_net_recv_timeout(cli, &r, NT_IO_TIMEOUT_MS, &got), KEEL_OK);
    assert_int_equal(got, 4);
    assert_true(keel_slice_eq(keel_buf_slice(&r), KEEL_STR("pong")));
    /* send_all on UDP is one datagram */
    assert_int_equal(keel_net_send_all(cli, KEEL_STR("whole"), NT_IO_TIMEOUT_MS, &sent), KEEL_OK);
    assert_int_equal(sent, 5);
    keel_buf w = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recvfrom(srv, &w, NT_IO_TIMEOUT_MS, NULL, &got), KEEL_OK);
    assert_int_equal(got, 5);
    keel_net_free(srv);
    keel_net_free(cli);
}

/* ---- truncation --------------------------------------------------------- */

static void test_udp_recvfrom_too_small_is_truncated_and_not_lost(void **state)
{
    (void)state;
    uint16_t sport = 0, cport = 0;
    keel_net *srv = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &sport);
    keel_net *cli = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &cport);
    keel_addr to = loopback_addr(KEEL_AF_INET4, sport);
    uint8_t big[1000];
    nt_fill(big, sizeof big, 5);
    assert_int_equal(keel_net_sendto(cli, nt_slice(big, sizeof big), &to), KEEL_OK);

    /* 20 bytes already filled, 100 spare: the spare room must stay as it
     * was too (the size probe reads nothing into it). */
    uint8_t st[120];
    for (size_t i = 0; i < sizeof st; i++) {
        st[i] = 0xA5;
    }
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_buf_append(&b, nt_slice(st, 20)), KEEL_OK);
    keel_addr from = { .port = 4242 };
    size_t got = 0;
    assert_int_equal(keel_net_recvfrom(srv, &b, NT_IO_TIMEOUT_MS, &from, &got),
                     KEEL_ERR_TRUNCATED);
    assert_int_equal(got, 1000);
    assert_int_equal(b.len, 20);
    for (size_t i = 0; i < sizeof st; i++) {
        assert_int_equal(st[i], 0xA5);
    }
    assert_int_equal(from.port, 4242); /* not written on failure */
    assert_int_equal(keel_net_last_os_error(srv), EMSGSIZE);

    /* Still queued: offered enough room, it arrives whole. */
    uint8_t room[1024];
    keel_buf ok = nt_buf(room, sizeof room);
    assert_int_equal(keel_net_recvfrom(srv, &ok, NT_IO_TIMEOUT_MS, &from, &got), KEEL_OK);
    assert_int_equal(got, 1000);
    assert_int_equal(nt_check(room, 1000, 5), 1000);
    assert_int_equal(from.port, cport);

    /* A spare room of 64 KiB or more can hold any datagram: read directly. */
    static uint8_t huge[70000];
    assert_int_equal(keel_net_sendto(cli, nt_slice(big, sizeof big), &to), KEEL_OK);
    keel_buf h = nt_buf(huge, sizeof huge);
    assert_int_equal(keel_net_recvfrom(srv, &h, NT_IO_TIMEOUT_MS, NULL, &got), KEEL_OK);
    assert_int_equal(got, 1000);
    assert_int_equal(nt_check(huge, 1000, 5), 1000);
    keel_net_free(srv);
    keel_net_free(cli);
}

static void test_udp_connected_recv_too_small_is_truncated_and_not_lost(void **state)
{
    (void)state;
    uint16_t sport = 0;
    keel_net *srv = NULL;
    keel_net *cli = NULL;
    nt_udp_connected(&srv, &cli, &sport);
    keel_addr cli_addr;
    assert_int_equal(keel_net_local_addr(cli, &cli_addr), KEEL_OK);
    uint8_t big[300];
    nt_fill(big, sizeof big, 9);
    assert_int_equal(keel_net_sendto(srv, nt_slice(big, sizeof big), &cli_addr), KEEL_OK);

    uint8_t st[400];
    keel_buf small = nt_buf(st, 299);
    size_t got = 0;
    assert_int_equal(keel_net_recv(cli, &small, &got), KEEL_ERR_TRUNCATED);
    assert_int_equal(got, 300);
    assert_int_equal(small.len, 0);
    assert_int_equal(keel_net_recv_timeout(cli, &small, NT_IO_TIMEOUT_MS, &got),
                     KEEL_ERR_TRUNCATED);
    assert_int_equal(got, 300);
    keel_buf exact = nt_buf(st, 300);
    assert_int_equal(keel_net_recv(cli, &exact, &got), KEEL_OK);
    assert_int_equal(got, 300);
    assert_int_equal(nt_check(st, 300, 9), 300);
    keel_net_free(srv);
    keel_net_free(cli);
}

/* ---- accept: a socket per peer ------------------------------------------ */

static void recv_is(keel_net *ctx, keel_slice want)
{
    uint8_t st[64];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_timeout(ctx, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), want));
}

static void accept_two_clients(keel_family fam)
{
    uint16_t port = 0;
    keel_net *l = nt_listen(fam, KEEL_PROTO_UDP, &port);
    keel_net *a = nt_new();
    keel_net *b = nt_new();
    keel_net *ca = nt_new();
    keel_net *cb = nt_new();
    assert_int_equal(keel_net_connect(a, nt_loopback(fam), port, KEEL_PROTO_UDP, NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_int_equal(keel_net_connect(b, nt_loopback(fam), port, KEEL_PROTO_UDP, NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    keel_addr a_addr, b_addr, peer;
    assert_int_equal(keel_net_local_addr(a, &a_addr), KEEL_OK);
    assert_int_equal(keel_net_local_addr(b, &b_addr), KEEL_OK);
    size_t sent = 0;

    /* Peer A: its first datagram stays queued for the accepted context. */
    assert_int_equal(keel_net_send(a, KEEL_STR("a1"), &sent), KEEL_OK);
    assert_int_equal(keel_net_accept(l, ca, &peer), KEEL_OK);
    assert_true(keel_addr_eq(&peer, &a_addr));
    assert_int_equal(keel_net_proto(ca), KEEL_PROTO_UDP);
    recv_is(ca, KEEL_STR("a1"));
    assert_true(keel_net_is_open(l));
    assert_int_equal(nt_local_port(l), port); /* the listener keeps its address */

    /* Peer B lands on the listener, not on A's socket. */
    assert_int_equal(keel_net_send(b, KEEL_STR("b1"), &sent), KEEL_OK);
    assert_int_equal(keel_net_accept(l, cb, &peer), KEEL_OK);
    assert_true(keel_addr_eq(&peer, &b_addr));
    recv_is(cb, KEEL_STR("b1"));

    /* Later traffic of each peer reaches its own context only. */
    assert_int_equal(keel_net_send(b, KEEL_STR("b2"), &sent), KEEL_OK);
    assert_int_equal(keel_net_send(a, KEEL_STR("a2"), &sent), KEEL_OK);
    recv_is(ca, KEEL_STR("a2"));
    recv_is(cb, KEEL_STR("b2"));
    uint8_t st[16];
    keel_buf none = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recvfrom(l, &none, 50, NULL, NULL), KEEL_ERR_TIMEOUT);

    /* Replies go back to the right peer. */
    assert_int_equal(keel_net_send(ca, KEEL_STR("to-a"), &sent), KEEL_OK);
    assert_int_equal(keel_net_send(cb, KEEL_STR("to-b"), &sent), KEEL_OK);
    recv_is(a, KEEL_STR("to-a"));
    recv_is(b, KEEL_STR("to-b"));

    /* A third peer is accepted by the same listener. */
    keel_net *c = nt_new();
    keel_net *cc = nt_new();
    assert_int_equal(keel_net_connect(c, nt_loopback(fam), port, KEEL_PROTO_UDP, NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_int_equal(keel_net_send(c, KEEL_STR("c1"), &sent), KEEL_OK);
    assert_int_equal(keel_net_accept(l, cc, NULL), KEEL_OK);
    recv_is(cc, KEEL_STR("c1"));

    keel_net_free(c);
    keel_net_free(cc);
    keel_net_free(a);
    keel_net_free(b);
    keel_net_free(ca);
    keel_net_free(cb);
    keel_net_free(l);
}

static void test_udp_accept_two_clients_ipv4(void **state)
{
    (void)state;
    int before = nt_count_fds();
    accept_two_clients(KEEL_AF_INET4);
    assert_int_equal(nt_count_fds(), before);
}

static void test_udp_accept_two_clients_ipv6(void **state)
{
    (void)state;
    NT_SKIP_WITHOUT(KEEL_AF_INET6);
    accept_two_clients(KEEL_AF_INET6);
}

static void test_udp_accept_nonblocking_listener_would_block(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    keel_net *c = nt_new();
    assert_int_equal(keel_net_set_nonblocking(l, true), KEEL_OK);
    assert_int_equal(keel_net_accept(l, c, NULL), KEEL_ERR_WOULD_BLOCK);
    assert_false(keel_net_is_open(c));
    /* With a datagram queued it accepts, and the listener is still
     * non-blocking. */
    keel_net *p = nt_new();
    assert_int_equal(keel_net_connect(p, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_UDP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    size_t sent = 0;
    assert_int_equal(keel_net_send(p, KEEL_STR("x"), &sent), KEEL_OK);
    unsigned ready = 0;
    assert_int_equal(keel_net_poll(l, KEEL_POLL_READ, NT_IO_TIMEOUT_MS, &ready), KEEL_OK);
    assert_int_equal(keel_net_accept(l, c, NULL), KEEL_OK);
    keel_net *c2 = nt_new();
    assert_int_equal(keel_net_accept(l, c2, NULL), KEEL_ERR_WOULD_BLOCK);
    recv_is(c, KEEL_STR("x"));
    keel_net_free(c2);
    keel_net_free(p);
    keel_net_free(c);
    keel_net_free(l);
}

/* recvfrom on ctx within NT_IO_TIMEOUT_MS: the datagram must be want, from
 * sender. */
static void recvfrom_is(keel_net *ctx, keel_slice want, const keel_addr *sender)
{
    uint8_t st[64];
    keel_buf b = nt_buf(st, sizeof st);
    keel_addr from;
    assert_int_equal(keel_net_recvfrom(ctx, &b, NT_IO_TIMEOUT_MS, &from, NULL), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), want));
    assert_true(keel_addr_eq(&from, sender));
}

static void nothing_more(keel_net *ctx)
{
    uint8_t st[64];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_pending(ctx), 0);
    assert_int_equal(keel_net_recvfrom(ctx, &b, 50, NULL, NULL), KEEL_ERR_TIMEOUT);
}

static void send_is_ok(keel_net *p, keel_slice data)
{
    size_t sent = 0;
    assert_int_equal(keel_net_send(p, data, &sent), KEEL_OK);
    assert_int_equal(sent, data.len);
}

/* Datagrams queued on the listener before the accept: the peer's all go
 * to its client, in order; the others stay with the listener, each for
 * its own sender's accept. (mbed TLS leaves b1 and c1 on A's socket.) */
static void accept_sorts_queued_datagrams(keel_family fam)
{
    uint16_t port = 0;
    keel_net *l = nt_listen(fam, KEEL_PROTO_UDP, &port);
    keel_addr a_addr, b_addr, c_addr, peer;
    keel_net *a = nt_udp_peer(fam, port, &a_addr);
    keel_net *b = nt_udp_peer(fam, port, &b_addr);
    keel_net *c = nt_udp_peer(fam, port, &c_addr);
    send_is_ok(a, KEEL_STR("a1"));
    send_is_ok(a, KEEL_STR("a2"));
    send_is_ok(b, KEEL_STR("b1"));
    send_is_ok(a, KEEL_STR("a3"));
    send_is_ok(c, KEEL_STR("c1"));
    send_is_ok(b, KEEL_STR("b2"));

    keel_net *ca = nt_new();
    assert_int_equal(keel_net_accept(l, ca, &peer), KEEL_OK);
    assert_true(keel_addr_eq(&peer, &a_addr));
    assert_int_equal(keel_net_pending(ca), 3);
    send_is_ok(a, KEEL_STR("a4")); /* after the accept: on ca's socket */
    recvfrom_is(ca, KEEL_STR("a1"), &a_addr);
    recvfrom_is(ca, KEEL_STR("a2"), &a_addr);
    recvfrom_is(ca, KEEL_STR("a3"), &a_addr);
    recvfrom_is(ca, KEEL_STR("a4"), &a_addr);
    nothing_more(ca);

    /* The listener read b1, c1 and b2 to reach a3, and holds them. */
    assert_int_equal(keel_net_pending(l), 3);
    keel_net *cb = nt_new();
    assert_int_equal(keel_net_accept(l, cb, &peer), KEEL_OK);
    assert_true(keel_addr_eq(&peer, &b_addr));
    assert_int_equal(keel_net_pending(cb), 2);
    recvfrom_is(cb, KEEL_STR("b1"), &b_addr);
    recvfrom_is(cb, KEEL_STR("b2"), &b_addr);
    nothing_more(cb);

    keel_net *cc = nt_new();
    assert_int_equal(keel_net_accept(l, cc, &peer), KEEL_OK);
    assert_true(keel_addr_eq(&peer, &c_addr));
    recvfrom_is(cc, KEEL_STR("c1"), &c_addr);
    nothing_more(cc);
    nothing_more(l);

    /* Replies come from the listener's address, to the right peer. */
    keel_addr listener_addr;
    assert_int_equal(keel_net_peer_addr(b, &listener_addr), KEEL_OK);
    send_is_ok(cb, KEEL_STR("to-b"));
    recvfrom_is(b, KEEL_STR("to-b"), &listener_addr);
    keel_net_free(ca);
    keel_net_free(cb);
    keel_net_free(cc);
    keel_net_free(a);
    keel_net_free(b);
    keel_net_free(c);
    keel_net_free(l);
}

static void test_udp_accept_sorts_queued_datagrams_ipv4(void **state)
{
    (void)state;
    int before = nt_count_fds();
    accept_sorts_queued_datagrams(KEEL_AF_INET4);
    assert_int_equal(nt_count_fds(), before);
}

static void test_udp_accept_sorts_queued_datagrams_ipv6(void **state)
{
    (void)state;
    NT_SKIP_WITHOUT(KEEL_AF_INET6);
    accept_sorts_queued_datagrams(KEEL_AF_INET6);
}

/* The held first datagram behaves as one on the socket: poll says
 * readable at once, a too-small room is TRUNCATED with its size and loses
 * nothing, and closing releases it. */
static void test_udp_accepted_client_holds_its_first_datagram(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    keel_addr a_addr;
    keel_net *a = nt_udp_peer(KEEL_AF_INET4, port, &a_addr);
    send_is_ok(a, KEEL_STR("0123456789"));
    keel_net *c = nt_new();
    assert_int_equal(keel_net_pending(c), 0);
    assert_int_equal(keel_net_accept(l, c, NULL), KEEL_OK);
    assert_int_equal(keel_net_pending(c), 1);
    unsigned ready = 0;
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, 0, &ready), KEEL_OK);
    assert_int_equal(ready, KEEL_POLL_READ);
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ | KEEL_POLL_WRITE, 0, &ready), KEEL_OK);
    assert_int_equal(ready, KEEL_POLL_READ | KEEL_POLL_WRITE);
    uint8_t st[16];
    keel_buf small = nt_buf(st, 4);
    size_t got = 0;
    assert_int_equal(keel_net_recv(c, &small, &got), KEEL_ERR_TRUNCATED);
    assert_int_equal(got, 10);
    assert_int_equal(small.len, 0);
    assert_int_equal(keel_net_last_os_error(c), EMSGSIZE);
    assert_int_equal(keel_net_pending(c), 1);
    keel_buf room = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv(c, &room, &got), KEEL_OK);
    assert_int_equal(got, 10);
    assert_true(keel_slice_eq(keel_buf_slice(&room), KEEL_STR("0123456789")));
    assert_int_equal(keel_net_pending(c), 0);
    assert_int_equal(keel_net_poll(c, KEEL_POLL_READ, 0, &ready), KEEL_ERR_TIMEOUT);

    /* Once c is closed, a's datagrams reach the listener again; held
     * datagrams go with a close (under ASan and valgrind: no leak). */
    keel_net_close(c);
    send_is_ok(a, KEEL_STR("second"));
    keel_net *c2 = nt_new();
    assert_int_equal(keel_net_accept(l, c2, NULL), KEEL_OK);
    assert_int_equal(keel_net_pending(c2), 1);
    keel_net_close(c2);
    assert_int_equal(keel_net_pending(c2), 0);
    assert_int_equal(keel_net_pending(NULL), 0);
    keel_net_free(c2);
    keel_net_free(c);
    keel_net_free(a);
    keel_net_free(l);
}

/* The moment between the client socket's bind and its connect: bound to
 * the listener's address and not yet connected, it receives what anyone
 * sends there (Linux gives the newest socket a tie). The hook sends one
 * datagram from the peer and one from another sender right then, and
 * checks that the new socket caught them. */
static struct {
    keel_net *peer;
    keel_net *other;
    int caught;
} window;

static int connect_after_window_traffic(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (window.peer != NULL) {
        size_t sent = 0;
        if (keel_net_send(window.other, KEEL_STR("other-in-window"), &sent) == KEEL_OK &&
            keel_net_send(window.peer, KEEL_STR("peer-in-window"), &sent) == KEEL_OK) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            window.caught = poll(&p, 1, 2000) == 1 ? 1 : 0;
        }
        window.peer = NULL;
    }
    return connect(fd, sa, len);
}

static void test_udp_accept_returns_window_datagrams_to_their_sender(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    keel_addr a_addr, o_addr, peer;
    keel_net *a = nt_udp_peer(KEEL_AF_INET4, port, &a_addr);
    keel_net *o = nt_udp_peer(KEEL_AF_INET4, port, &o_addr);
    send_is_ok(a, KEEL_STR("first"));
    window.peer = a;
    window.other = o;
    window.caught = -1;
    keel_sys.connect = connect_after_window_traffic;
    keel_net *c = nt_new();
    keel_result r = keel_net_accept(l, c, &peer);
    keel_sys_reset();
    assert_int_equal(r, KEEL_OK);
    assert_int_equal(window.caught, 1); /* the client's socket did catch them */
    assert_true(keel_addr_eq(&peer, &a_addr));
    recvfrom_is(c, KEEL_STR("first"), &a_addr);
    recvfrom_is(c, KEEL_STR("peer-in-window"), &a_addr);
    nothing_more(c);
    /* The other sender's datagram went back to the listener. */
    keel_net *co = nt_new();
    assert_int_equal(keel_net_accept(l, co, &peer), KEEL_OK);
    assert_true(keel_addr_eq(&peer, &o_addr));
    recvfrom_is(co, KEEL_STR("other-in-window"), &o_addr);
    nothing_more(co);
    nothing_more(l);
    keel_net_free(co);
    keel_net_free(c);
    keel_net_free(o);
    keel_net_free(a);
    keel_net_free(l);
}

/* Several peers send at once while the server accepts them: every
 * datagram must land in its own sender's context (tag and address), each
 * exactly once, and each peer is accepted exactly once. 6 x 30 small
 * datagrams fit in one default receive buffer, so loopback drops none. */
enum { MANY_PEERS = 6, PER_PEER = 30 };

struct sender {
    keel_net *net;
    uint8_t index;
    int failures;
};

static void *sender_run(void *arg)
{
    struct sender *s = arg;
    const struct timespec pause = { 0, 300 * 1000 };
    for (uint8_t j = 0; j < PER_PEER; j++) {
        uint8_t msg[3] = { 'p', s->index, j };
        size_t sent = 0;
        if (keel_net_send(s->net, nt_slice(msg, sizeof msg), &sent) != KEEL_OK || sent != 3) {
            s->failures++;
        }
        if (j % 3 == 2) {
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

static int peer_index(const keel_addr *addrs, const keel_addr *a)
{
    for (int i = 0; i < MANY_PEERS; i++) {
        if (keel_addr_eq(&addrs[i], a)) {
            return i;
        }
    }
    return -1;
}

static void accept_from_several_peers_at_once(keel_family fam)
{
    uint16_t port = 0;
    keel_net *l = nt_listen(fam, KEEL_PROTO_UDP, &port);
    assert_int_equal(keel_net_set_nonblocking(l, true), KEEL_OK);
    struct sender senders[MANY_PEERS];
    keel_addr addrs[MANY_PEERS];
    pthread_t threads[MANY_PEERS];
    keel_net *clients[MANY_PEERS] = { NULL };
    bool seen[MANY_PEERS][PER_PEER] = { { false } };
    for (int i = 0; i < MANY_PEERS; i++) {
        senders[i] = (struct sender){ nt_udp_peer(fam, port, &addrs[i]), (uint8_t)i, 0 };
    }
    for (int i = 0; i < MANY_PEERS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, sender_run, &senders[i]), 0);
    }
    int total = 0;
    int accepted = 0;
    uint64_t deadline = nt_now_ms() + 20000;
    while (total < MANY_PEERS * PER_PEER && nt_now_ms() < deadline) {
        unsigned ready = 0;
        if (keel_net_poll(l, KEEL_POLL_READ, 5, &ready) == KEEL_OK) {
            keel_net *c = nt_new();
            keel_addr peer;
            keel_result r = keel_net_accept(l, c, &peer);
            if (r == KEEL_OK) {
                int i = peer_index(addrs, &peer);
                assert_true(i >= 0);
                assert_null(clients[i]); /* one context per peer */
                clients[i] = c;
                accepted++;
            } else {
                assert_int_equal(r, KEEL_ERR_WOULD_BLOCK);
                keel_net_free(c);
            }
        }
        for (int i = 0; i < MANY_PEERS; i++) {
            for (;;) {
                if (clients[i] == NULL) {
                    break;
                }
                uint8_t st[16];
                keel_buf b = nt_buf(st, sizeof st);
                keel_addr from;
                keel_result r = keel_net_recvfrom(clients[i], &b, 0, &from, NULL);
                if (r == KEEL_ERR_TIMEOUT) {
                    break;
                }
                assert_int_equal(r, KEEL_OK);
                assert_true(keel_addr_eq(&from, &addrs[i]));
                assert_int_equal(b.len, 3);
                assert_int_equal(st[0], 'p');
                assert_int_equal(st[1], i); /* sent by this client's peer */
                assert_true(st[2] < PER_PEER);
                assert_false(seen[i][st[2]]); /* exactly once */
                seen[i][st[2]] = true;
                total++;
            }
        }
    }
    for (int i = 0; i < MANY_PEERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(senders[i].failures, 0);
    }
    assert_int_equal(accepted, MANY_PEERS);
    assert_int_equal(total, MANY_PEERS * PER_PEER);
    nothing_more(l);
    for (int i = 0; i < MANY_PEERS; i++) {
        keel_net_free(clients[i]);
        keel_net_free(senders[i].net);
    }
    keel_net_free(l);
}

static void test_udp_accept_from_several_peers_at_once_ipv4(void **state)
{
    (void)state;
    accept_from_several_peers_at_once(KEEL_AF_INET4);
}

static void test_udp_accept_from_several_peers_at_once_ipv6(void **state)
{
    (void)state;
    NT_SKIP_WITHOUT(KEEL_AF_INET6);
    accept_from_several_peers_at_once(KEEL_AF_INET6);
}

/* A datagram larger than UDP allows is TOO_LARGE whichever call sends it
 * (the loop's keel_udp_send says the same): one mapping of EMSGSIZE. */
static void test_udp_oversized_datagram_is_too_large(void **state)
{
    (void)state;
    uint16_t sport = 0;
    keel_net *srv = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &sport);
    keel_net *cli = nt_new();
    assert_int_equal(keel_net_connect(cli, KEEL_STR("127.0.0.1"), sport, KEEL_PROTO_UDP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    static uint8_t huge[70000]; /* more than any IPv4 datagram carries */
    size_t sent = 7;
    assert_int_equal(keel_net_send(cli, nt_slice(huge, sizeof huge), &sent), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_net_last_os_error(cli), EMSGSIZE);
    assert_int_equal(sent, 7); /* not written on failure */
    assert_int_equal(keel_net_send_all(cli, nt_slice(huge, sizeof huge), NT_IO_TIMEOUT_MS, &sent),
                     KEEL_ERR_TOO_LARGE);
    keel_addr to;
    assert_int_equal(keel_net_local_addr(srv, &to), KEEL_OK);
    assert_int_equal(keel_net_sendto(srv, nt_slice(huge, sizeof huge), &to), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_net_last_os_error(srv), EMSGSIZE);
    /* Not sticky: the next datagram goes. */
    assert_int_equal(keel_net_send(cli, KEEL_STR("ok"), &sent), KEEL_OK);
    assert_int_equal(sent, 2);
    keel_net_free(srv);
    keel_net_free(cli);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_echo_ipv4_with_sender_addresses),
        cmocka_unit_test(test_udp_echo_ipv6_with_sender_addresses),
        cmocka_unit_test(test_udp_default_bind_is_dual_stack),
        cmocka_unit_test(test_udp_v6only_bind_ignores_ipv4),
        cmocka_unit_test(test_udp_connected_send_and_recv),
        cmocka_unit_test(test_udp_recvfrom_too_small_is_truncated_and_not_lost),
        cmocka_unit_test(test_udp_connected_recv_too_small_is_truncated_and_not_lost),
        cmocka_unit_test(test_udp_accept_two_clients_ipv4),
        cmocka_unit_test(test_udp_accept_two_clients_ipv6),
        cmocka_unit_test(test_udp_accept_nonblocking_listener_would_block),
        cmocka_unit_test(test_udp_oversized_datagram_is_too_large),
        cmocka_unit_test(test_udp_accept_sorts_queued_datagrams_ipv4),
        cmocka_unit_test(test_udp_accept_sorts_queued_datagrams_ipv6),
        cmocka_unit_test(test_udp_accepted_client_holds_its_first_datagram),
        cmocka_unit_test(test_udp_accept_returns_window_datagrams_to_their_sender),
        cmocka_unit_test(test_udp_accept_from_several_peers_at_once_ipv4),
        cmocka_unit_test(test_udp_accept_from_several_peers_at_once_ipv6),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

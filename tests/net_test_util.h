/*
 * tests/net_test_util.h - helpers shared by the socket-layer tests
 * (test_net_*.c): contexts, loopback pairs, descriptor counting, a clock,
 * a byte pattern that proves order and completeness.
 *
 * Include after <cmocka.h>. Everything is static: each test file gets its
 * own copy.
 */
#ifndef KEEL_TESTS_NET_TEST_UTIL_H
#define KEEL_TESTS_NET_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "keel/net.h"

/* Generous bounds: the VM has two loaded cores. */
#define NT_IO_TIMEOUT_MS 10000u

static inline keel_net *nt_new(void)
{
    keel_net *ctx = NULL;
    assert_int_equal(keel_net_init(&ctx), KEEL_OK);
    assert_non_null(ctx);
    assert_false(keel_net_is_open(ctx));
    return ctx;
}

static inline uint64_t nt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The loopback literal of a family. */
static inline keel_slice nt_loopback(keel_family fam)
{
    return fam == KEEL_AF_INET6 ? KEEL_STR("::1") : KEEL_STR("127.0.0.1");
}

/* True when ::1 can be bound here; otherwise says so once per call site. */
static inline bool nt_ipv6_available(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

#define NT_SKIP_WITHOUT(fam)                                                       \
    do {                                                                           \
        if ((fam) == KEEL_AF_INET6 && !nt_ipv6_available()) {                      \
            fprintf(stderr, "SKIP %s: ::1 is not available on this host\n", __func__); \
            skip();                                                                \
        }                                                                          \
    } while (0)

static inline uint16_t nt_local_port(const keel_net *ctx)
{
    keel_addr a;
    assert_int_equal(keel_net_local_addr(ctx, &a), KEEL_OK);
    assert_int_not_equal(a.port, 0);
    return a.port;
}

/* A bound (and for TCP listening) context on the loopback of fam, port 0. */
static inline keel_net *nt_listen(keel_family fam, keel_proto proto, uint16_t *port)
{
    keel_net *l = nt_new();
    assert_int_equal(keel_net_bind(l, nt_loopback(fam), 0, proto), KEEL_OK);
    assert_true(keel_net_is_open(l));
    assert_int_equal(keel_net_proto(l), proto);
    *port = nt_local_port(l);
    return l;
}

/* A connected TCP pair over the loopback of fam, all in this thread (the
 * kernel completes the handshake before accept). */
static inline void nt_tcp_pair(keel_family fam, keel_net **client, keel_net **server)
{
    uint16_t port = 0;
    keel_net *l = nt_listen(fam, KEEL_PROTO_TCP, &port);
    *client = nt_new();
    *server = nt_new();
    assert_int_equal(keel_net_connect(*client, nt_loopback(fam), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_int_equal(keel_net_accept(l, *server, NULL), KEEL_OK);
    keel_net_free(l);
}

/* A bound UDP server on 127.0.0.1 (its port in *port) and a client
 * connected to it. */
static inline void nt_udp_connected(keel_net **server, keel_net **client, uint16_t *port)
{
    *server = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, port);
    *client = nt_new();
    assert_int_equal(keel_net_connect(*client, KEEL_STR("127.0.0.1"), *port, KEEL_PROTO_UDP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
}

/* A UDP socket connected to the loopback address of fam, port; *addr (may
 * be NULL) gets its own address, the one a server sees it send from. */
static inline keel_net *nt_udp_peer(keel_family fam, uint16_t port, keel_addr *addr)
{
    keel_net *p = nt_new();
    assert_int_equal(keel_net_connect(p, nt_loopback(fam), port, KEEL_PROTO_UDP, NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    if (addr != NULL) {
        assert_int_equal(keel_net_local_addr(p, addr), KEEL_OK);
    }
    return p;
}

/* Byte i of every test stream: position-dependent, so a lost, repeated or
 * reordered byte shows. */
static inline uint8_t nt_pattern(size_t i)
{
    return (uint8_t)((i * 31u) ^ (i >> 8) ^ (i >> 16));
}

static inline void nt_fill(uint8_t *p, size_t n, size_t start)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = nt_pattern(start + i);
    }
}

/* Index of the first byte of p[0..n) that is not the pattern from start,
 * or n. */
static inline size_t nt_check(const uint8_t *p, size_t n, size_t start)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != nt_pattern(start + i)) {
            return i;
        }
    }
    return n;
}

/* Open descriptors of this process (entries of /proc/self/fd, not counting
 * the one used to read it). */
static inline int nt_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1;
}

/* Teardown check: as many descriptors open as before the test (-1 fails
 * the cmocka teardown, naming the leak). */
static inline int nt_fds_unchanged(int before)
{
    int now = nt_count_fds();
    if (now != before) {
        fprintf(stderr, "descriptor leak: %d open before the test, %d after\n", before, now);
        return -1;
    }
    return 0;
}

static inline keel_slice nt_slice(const void *p, size_t n)
{
    keel_slice s;
    assert_int_equal(keel_slice_from(p, n, &s), KEEL_OK);
    return s;
}

static inline keel_buf nt_buf(void *storage, size_t cap)
{
    keel_buf b;
    assert_int_equal(keel_buf_init(&b, storage, cap), KEEL_OK);
    return b;
}

#endif /* KEEL_TESTS_NET_TEST_UTIL_H */

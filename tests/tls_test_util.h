/*
 * tests/tls_test_util.h - helpers shared by the TLS tests (tests/tls/):
 * paths of the test PKI (made at test time by tests/tls/make_certs.sh into
 * KEEL_TLS_CERT_DIR), configurations, and a blocking TLS server on its own
 * thread.
 *
 * Include after <cmocka.h> and net_test_util.h. Everything is static.
 */
#ifndef KEEL_TESTS_TLS_TEST_UTIL_H
#define KEEL_TESTS_TLS_TEST_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/tls.h"

#ifndef KEEL_TLS_CERT_DIR
#error "KEEL_TLS_CERT_DIR: the directory tests/tls/make_certs.sh fills (tests/CMakeLists.txt)"
#endif

/* The path of a file of the test PKI (one of 16 rotating buffers of the
 * calling thread: good for the few paths one call takes). */
static inline const char *tt_path(const char *name)
{
    static _Thread_local char paths[16][512];
    static _Thread_local unsigned next;
    char *p = paths[next++ % 16u];
    int n = snprintf(p, sizeof paths[0], "%s/%s", KEEL_TLS_CERT_DIR, name);
    assert_true(n > 0 && (size_t)n < sizeof paths[0]);
    return p;
}

static inline keel_slice tt_file(const char *name)
{
    return name == NULL ? keel_slice_empty() : keel_slice_cstr(tt_path(name));
}

/* A server configuration presenting crt (with server.key; NULL: server.crt),
 * requiring client certificates from ca when ca is not NULL. */
static inline keel_tls_config *tt_server_cfg(const char *crt, const char *ca, uint32_t hs_ms)
{
    keel_tls_config_opts o = { .role = KEEL_TLS_SERVER,
                               .cert_file = tt_file(crt != NULL ? crt : "server.crt"),
                               .key_file = tt_file("server.key"),
                               .ca_file = tt_file(ca),
                               .handshake_timeout_ms = hs_ms };
    keel_tls_config *cfg = NULL;
    int mbed = 1;
    assert_int_equal(keel_tls_config_new(&o, &cfg, &mbed), KEEL_OK);
    assert_int_equal(mbed, 0);
    assert_int_equal(keel_tls_config_role(cfg), KEEL_TLS_SERVER);
    return cfg;
}

/* A client configuration trusting ca.crt, with a client certificate when
 * crt is not NULL (crt/key). */
static inline keel_tls_config *tt_client_cfg(const char *crt, const char *key, uint32_t hs_ms)
{
    keel_tls_config_opts o = { .role = KEEL_TLS_CLIENT,
                               .ca_file = tt_file("ca.crt"),
                               .cert_file = tt_file(crt),
                               .key_file = tt_file(key),
                               .handshake_timeout_ms = hs_ms };
    keel_tls_config *cfg = NULL;
    assert_int_equal(keel_tls_config_new(&o, &cfg, NULL), KEEL_OK);
    assert_int_equal(keel_tls_config_role(cfg), KEEL_TLS_CLIENT);
    return cfg;
}

/* A blocking TLS server on its own thread: accepts one connection on
 * 127.0.0.1 (port in ->port), handshakes, then (echo) sends back every
 * byte until the peer's close_notify (answered with its own) or a failure,
 * and records what happened. */
typedef struct tt_server {
    pthread_t thread;
    keel_net *listener;
    uint16_t port;
    const keel_tls_config *cfg;
    bool echo;
    uint32_t hs_timeout_ms;
    /* results, read after tt_server_join */
    keel_result hs_r;
    keel_result end_r;
    size_t echoed;
    int mbed_err;
    uint32_t verify_flags;
} tt_server;

static inline void *tt_server_main(void *arg)
{
    tt_server *sv = arg;
    keel_net *conn = NULL;
    keel_tls *tls = NULL;
    sv->end_r = KEEL_ERR_STATE;
    if (keel_net_init(&conn) != KEEL_OK || keel_tls_init(&tls) != KEEL_OK) {
        sv->hs_r = KEEL_ERR_NO_MEMORY;
        keel_net_free(conn);
        return NULL;
    }
    sv->hs_r = keel_net_accept(sv->listener, conn, NULL);
    if (sv->hs_r == KEEL_OK) {
        sv->hs_r = keel_tls_accept(tls, sv->cfg, conn, sv->hs_timeout_ms);
    }
    sv->mbed_err = keel_tls_last_mbedtls_error(tls);
    sv->verify_flags = keel_tls_verify_flags(tls);
    if (sv->hs_r != KEEL_OK && keel_net_is_open(conn)) {
        /* Let the client read our alert: closing with its records unread
         * would reset the connection and could drop the alert. */
        if (keel_net_shutdown(conn, KEEL_SHUT_WR) == KEEL_OK) {
            static _Thread_local uint8_t sink[4096];
            keel_buf b;
            while (keel_buf_init(&b, sink, sizeof sink) == KEEL_OK &&
                   keel_net_recv_timeout(conn, &b, 2000, NULL) == KEEL_OK) {
            }
        }
    }
    if (sv->hs_r == KEEL_OK && sv->echo) {
        static _Thread_local uint8_t chunk[16384];
        for (;;) {
            keel_buf b;
            if (keel_buf_init(&b, chunk, sizeof chunk) != KEEL_OK) {
                break;
            }
            keel_result r = keel_tls_recv(tls, &b, NT_IO_TIMEOUT_MS, NULL);
            if (r == KEEL_OK) {
                r = keel_tls_send(tls, keel_buf_slice(&b), NT_IO_TIMEOUT_MS, NULL);
                sv->echoed += b.len;
            }
            if (r != KEEL_OK) {
                sv->end_r = r;
                sv->mbed_err = keel_tls_last_mbedtls_error(tls);
                if (r == KEEL_ERR_CLOSED && keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS) != KEEL_OK) {
                    sv->end_r = KEEL_ERR_STATE; /* our close_notify did not go out */
                }
                break;
            }
        }
    }
    keel_tls_free(tls);
    keel_net_free(conn);
    return NULL;
}

static inline void tt_server_start(tt_server *sv, const keel_tls_config *cfg, bool echo)
{
    sv->cfg = cfg;
    sv->echo = echo;
    if (sv->hs_timeout_ms == 0) {
        sv->hs_timeout_ms = NT_IO_TIMEOUT_MS;
    }
    sv->listener = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &sv->port);
    assert_int_equal(pthread_create(&sv->thread, NULL, tt_server_main, sv), 0);
}

static inline void tt_server_join(tt_server *sv)
{
    assert_int_equal(pthread_join(sv->thread, NULL), 0);
    keel_net_free(sv->listener);
    sv->listener = NULL;
}

/* A TCP connection to 127.0.0.1:port. */
static inline keel_net *tt_tcp_connect(uint16_t port)
{
    keel_net *net = nt_new();
    assert_int_equal(keel_net_connect(net, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    return net;
}

static inline keel_tls *tt_tls(void)
{
    keel_tls *tls = NULL;
    assert_int_equal(keel_tls_init(&tls), KEEL_OK);
    assert_non_null(tls);
    return tls;
}

/* A client session with ccfg to 127.0.0.1:port, verified as "localhost";
 * *net gets its socket (free both). */
static inline keel_tls *tt_session(const keel_tls_config *ccfg, uint16_t port, keel_net **net)
{
    *net = tt_tcp_connect(port);
    keel_tls *tls = tt_tls();
    assert_int_equal(keel_tls_connect(tls, ccfg, *net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    return tls;
}

/* The end of a blocking test: everything it made, freed (NULL is fine). */
static inline void tt_free_all(keel_tls *tls, keel_net *net, keel_tls_config *scfg,
                               keel_tls_config *ccfg)
{
    keel_tls_free(tls);
    keel_net_free(net);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

/* cmocka set-up and tear-down of every TLS test: no descriptor leaks. */
static int tt_fds_before;

static inline int tt_setup(void **state)
{
    (void)state;
    tt_fds_before = nt_count_fds();
    return 0;
}

static inline int tt_teardown(void **state)
{
    (void)state;
    return nt_fds_unchanged(tt_fds_before);
}

/* Send n pattern bytes (from pattern offset 0) and read n back, checked,
 * in chunks of up to `chunk` bytes. */
static inline void tt_echo_pattern(keel_tls *tls, size_t n, size_t chunk)
{
    uint8_t *out = malloc(chunk);
    uint8_t *in = malloc(n);
    assert_non_null(out);
    assert_non_null(in);
    keel_buf got = nt_buf(in, n);
    size_t sent = 0;
    while (sent < n) {
        size_t k = n - sent < chunk ? n - sent : chunk;
        nt_fill(out, k, sent);
        size_t took = 0;
        assert_int_equal(keel_tls_send(tls, nt_slice(out, k), NT_IO_TIMEOUT_MS, &took), KEEL_OK);
        assert_int_equal(took, k);
        sent += k;
        /* Read what came back so far, so neither side's buffers fill. */
        while (got.len + chunk < sent) {
            assert_int_equal(keel_tls_recv(tls, &got, NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
        }
    }
    while (got.len < n) {
        assert_int_equal(keel_tls_recv(tls, &got, NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    }
    assert_int_equal(nt_check(in, n, 0), n);
    free(out);
    free(in);
}

#endif /* KEEL_TESTS_TLS_TEST_UTIL_H */

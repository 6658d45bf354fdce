/*
 * tests/tls/test_tls.c - the TLS layer's configurations, blocking sessions
 * over keel_net (keel_tls_*) and mbed TLS's transport callbacks over a
 * keel_net (keel_tls_bio_*), over real loopback connections, with the
 * test PKI that tests/tls/make_certs.sh made: handshakes and echoes, every
 * refused certificate (wrong host, unknown CA, expired) with its result
 * and flags, mutual TLS, close_notify against truncation, deadlines,
 * state errors, and mbed TLS driven directly over keel's callbacks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "test_main.h"

#include "keel/tls.h"
#include "net_test_util.h"
#include "tls_test_util.h"


/* Whole contents of a file of the test PKI (malloc'd; *len its size). */
static uint8_t *read_file(const char *name, size_t *len)
{
    FILE *f = fopen(tt_path(name), "rb");
    assert_non_null(f);
    static uint8_t tmp[65536];
    size_t n = fread(tmp, 1, sizeof tmp, f);
    assert_true(n > 0 && n < sizeof tmp);
    fclose(f);
    uint8_t *p = malloc(n);
    assert_non_null(p);
    memcpy(p, tmp, n);
    *len = n;
    return p;
}

/* ---- configurations ------------------------------------------------------ */

static keel_result try_config(const keel_tls_config_opts *o, int *mbed)
{
    keel_tls_config *cfg = NULL;
    keel_result r = keel_tls_config_new(o, &cfg, mbed);
    if (r == KEEL_OK) {
        assert_non_null(cfg);
        keel_tls_config_free(cfg);
    } else {
        assert_null(cfg);
    }
    return r;
}

static void test_config_rejects_bad_arguments(void **state)
{
    (void)state;
    keel_tls_config *cfg = NULL;
    int mbed = 7;
    keel_tls_config_opts ok = { .role = KEEL_TLS_CLIENT, .ca_file = tt_file("ca.crt") };
    assert_int_equal(keel_tls_config_new(NULL, &cfg, &mbed), KEEL_ERR_INVALID_ARG);
    assert_int_equal(mbed, 0);
    assert_int_equal(keel_tls_config_new(&ok, NULL, NULL), KEEL_ERR_INVALID_ARG);

    keel_tls_config_opts o = ok;
    o.role = (keel_tls_role)7;
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    o = ok;
    o.ca_file = (keel_slice){ NULL, 3 };
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    /* A client that trusts nobody, and has not said "verify nothing". */
    o = (keel_tls_config_opts){ .role = KEEL_TLS_CLIENT };
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    /* A server without a chain and key, or with one of them only. */
    o = (keel_tls_config_opts){ .role = KEEL_TLS_SERVER };
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    o.cert_file = tt_file("server.crt");
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    o = (keel_tls_config_opts){ .role = KEEL_TLS_SERVER, .key_file = tt_file("server.key") };
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    /* verify_none means nothing for a server: refused rather than ignored. */
    o = (keel_tls_config_opts){ .role = KEEL_TLS_SERVER, .cert_file = tt_file("server.crt"),
                                .key_file = tt_file("server.key"), .verify_none = true };
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    /* Paths: a NUL inside, or too long for a path. */
    o = ok;
    o.ca_file = (keel_slice){ (const uint8_t *)"ca\0.crt", 7 };
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    static char longpath[5000];
    memset(longpath, 'a', sizeof longpath - 1);
    o.ca_file = keel_slice_cstr(longpath);
    assert_int_equal(try_config(&o, NULL), KEEL_ERR_INVALID_ARG);
    /* The control: the same options, right, are accepted. */
    assert_int_equal(try_config(&ok, &mbed), KEEL_OK);
    assert_int_equal(mbed, 0);
    keel_tls_config_free(NULL);
    assert_int_equal(keel_tls_config_role(NULL), KEEL_TLS_CLIENT);
}

static void test_config_reports_unusable_files_with_the_mbedtls_error(void **state)
{
    (void)state;
    int mbed = 0;
    keel_tls_config_opts o = { .role = KEEL_TLS_CLIENT, .ca_file = tt_file("no-such-file.crt") };
    assert_int_equal(try_config(&o, &mbed), KEEL_ERR_TLS_CONFIG);
    assert_int_equal(mbed, MBEDTLS_ERR_PK_FILE_IO_ERROR); /* mbed TLS reads every file so */

    /* A key where a certificate should be: not a certificate. */
    o.ca_file = tt_file("server.key");
    mbed = 0;
    assert_int_equal(try_config(&o, &mbed), KEEL_ERR_TLS_CONFIG);
    assert_true(mbed < 0);
    uint8_t text[256];
    keel_buf b = nt_buf(text, sizeof text);
    assert_int_equal(keel_tls_error_text(mbed, &b), KEEL_OK);
    assert_true(b.len > 0);
    keel_buf tiny = nt_buf(text, 2);
    assert_int_equal(keel_tls_error_text(mbed, &tiny), KEEL_ERR_TOO_LARGE);
    assert_int_equal(tiny.len, 0);
    assert_int_equal(keel_tls_error_text(mbed, NULL), KEEL_ERR_INVALID_ARG);

    /* A server key that does not match its certificate. */
    o = (keel_tls_config_opts){ .role = KEEL_TLS_SERVER, .cert_file = tt_file("server.crt"),
                                .key_file = tt_file("chain-mismatch.key") };
    mbed = 0;
    assert_int_equal(try_config(&o, &mbed), KEEL_ERR_TLS_CONFIG);
    assert_true(mbed < 0);
    /* A missing key file. */
    o.key_file = tt_file("no-such.key");
    mbed = 0;
    assert_int_equal(try_config(&o, &mbed), KEEL_ERR_TLS_CONFIG);
    assert_int_equal(mbed, MBEDTLS_ERR_PK_FILE_IO_ERROR);
    /* Garbage bytes as a chain. */
    o = (keel_tls_config_opts){ .role = KEEL_TLS_SERVER, .cert_pem = KEEL_STR("-----BEGIN junk"),
                                .key_file = tt_file("server.key") };
    assert_int_equal(try_config(&o, &mbed), KEEL_ERR_TLS_CONFIG);
}

static void test_config_loads_pem_bytes_and_ca_directories(void **state)
{
    (void)state;
    size_t ca_len = 0, crt_len = 0, key_len = 0;
    uint8_t *ca = read_file("ca.crt", &ca_len);
    uint8_t *crt = read_file("server.crt", &crt_len);
    uint8_t *key = read_file("server.key", &key_len);
    keel_tls_config_opts o = { .role = KEEL_TLS_SERVER, .cert_pem = nt_slice(crt, crt_len),
                               .key_pem = nt_slice(key, key_len), .ca_pem = nt_slice(ca, ca_len) };
    assert_int_equal(try_config(&o, NULL), KEEL_OK);
    /* The test PKI's directory: its keys are skipped, its certificates
     * trusted. */
    keel_tls_config_opts d = { .role = KEEL_TLS_CLIENT, .ca_dir = keel_slice_cstr(KEEL_TLS_CERT_DIR) };
    assert_int_equal(try_config(&d, NULL), KEEL_OK);
    /* A directory without a certificate trusts nobody: refused. */
    char empty[] = "/tmp/keel-tls-empty-XXXXXX";
    assert_non_null(mkdtemp(empty));
    d.ca_dir = keel_slice_cstr(empty);
    assert_int_equal(try_config(&d, NULL), KEEL_ERR_TLS_CONFIG);
    assert_int_equal(rmdir(empty), 0);
    free(ca);
    free(crt);
    free(key);
}

/* ---- handshakes and data -------------------------------------------------- */

static void test_handshake_and_echo_over_loopback(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = tt_tcp_connect(sv.port);
    keel_tls *tls = tt_tls();
    assert_string_equal(keel_tls_version(tls), "");
    assert_int_equal(keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_string_equal(keel_tls_version(tls), "TLSv1.2");
    const char *cipher = keel_tls_cipher(tls);
    assert_non_null(strstr(cipher, "ECDHE"));
    assert_true(strstr(cipher, "GCM") != NULL || strstr(cipher, "CHACHA20") != NULL);
    assert_int_equal(keel_tls_verify_flags(tls), 0);

    tt_echo_pattern(tls, 300000, 10000);
    /* Orderly end: our close_notify, then the server's. */
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(keel_tls_send(tls, KEEL_STR("late"), NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_STATE);
    uint8_t buf[16];
    keel_buf b = nt_buf(buf, sizeof buf);
    assert_int_equal(keel_tls_recv(tls, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    assert_int_equal(keel_tls_recv(tls, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    assert_int_equal(b.len, 0);
    tt_server_join(&sv);
    assert_int_equal(sv.hs_r, KEEL_OK);
    assert_int_equal(sv.end_r, KEEL_ERR_CLOSED);
    assert_int_equal(sv.echoed, 300000);
    tt_free_all(tls, net, scfg, ccfg);
}

/* The client refuses the server's certificate: its result, its flags,
 * their text; the server hears the client's alert. */
static void refused(const char *server_crt, const char *name, uint32_t flag, const char *text)
{
    keel_tls_config *scfg = tt_server_cfg(server_crt, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = tt_tcp_connect(sv.port);
    keel_tls *tls = tt_tls();
    assert_int_equal(keel_tls_connect(tls, ccfg, net, keel_slice_cstr(name), NT_IO_TIMEOUT_MS),
                     KEEL_ERR_TLS_VERIFY);
    assert_int_equal(keel_tls_last_mbedtls_error(tls), MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
    uint32_t flags = keel_tls_verify_flags(tls);
    assert_true((flags & flag) != 0);
    char desc[1024];
    keel_buf b = nt_buf(desc, sizeof desc - 1);
    assert_int_equal(keel_tls_verify_text(flags, &b), KEEL_OK);
    desc[b.len] = '\0';
    assert_non_null(strstr(desc, text));
    /* The failure is sticky: no data on a refused session. */
    assert_int_equal(keel_tls_send(tls, KEEL_STR("x"), 1000, NULL), KEEL_ERR_TLS_VERIFY);
    /* Half-close and let the server read the alert before the socket goes
     * (a close with the server's unread records would reset it first). */
    assert_int_equal(keel_net_shutdown(net, KEEL_SHUT_WR), KEEL_OK);
    tt_server_join(&sv);
    assert_int_equal(sv.hs_r, KEEL_ERR_TLS_ALERT);
    assert_int_equal(sv.mbed_err, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
    tt_free_all(tls, net, scfg, ccfg);
}

static void test_wrong_host_name_is_refused(void **state)
{
    (void)state;
    refused("wronghost.crt", "localhost", MBEDTLS_X509_BADCERT_CN_MISMATCH, "Common Name");
    /* The right certificate, asked for another name. */
    refused("server.crt", "example.org", MBEDTLS_X509_BADCERT_CN_MISMATCH, "Common Name");
}

static void test_unknown_ca_is_refused(void **state)
{
    (void)state;
    refused("unknown.crt", "localhost", MBEDTLS_X509_BADCERT_NOT_TRUSTED, "not correctly signed");
}

static void test_expired_certificate_is_refused(void **state)
{
    (void)state;
    refused("expired.crt", "localhost", MBEDTLS_X509_BADCERT_EXPIRED, "expired");
}

static void test_verify_none_accepts_any_certificate(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg("unknown.crt", NULL, 0);
    keel_tls_config_opts o = { .role = KEEL_TLS_CLIENT, .verify_none = true };
    keel_tls_config *ccfg = NULL;
    assert_int_equal(keel_tls_config_new(&o, &ccfg, NULL), KEEL_OK);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = tt_tcp_connect(sv.port);
    keel_tls *tls = tt_tls();
    /* No name at all: allowed without verification. */
    assert_int_equal(keel_tls_connect(tls, ccfg, net, keel_slice_empty(), NT_IO_TIMEOUT_MS), KEEL_OK);
    tt_echo_pattern(tls, 1000, 1000);
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    tt_server_join(&sv);
    assert_int_equal(sv.end_r, KEEL_ERR_CLOSED);
    tt_free_all(tls, net, scfg, ccfg);
}

static void test_verifying_client_needs_a_usable_server_name(void **state)
{
    (void)state;
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_net *client = NULL, *server = NULL;
    nt_tcp_pair(KEEL_AF_INET4, &client, &server);
    keel_tls *tls = tt_tls();
    static char long_name[300];
    memset(long_name, 'a', 256);
    const keel_slice bad[] = { keel_slice_empty(), KEEL_STR("local\0host"), keel_slice_cstr(long_name),
                               (keel_slice){ NULL, 4 } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(keel_tls_connect(tls, ccfg, client, bad[i], 1000), KEEL_ERR_INVALID_ARG);
    }
    /* Wrong roles, NULLs, a closed or UDP context. */
    assert_int_equal(keel_tls_connect(tls, scfg, client, KEEL_STR("localhost"), 1000),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_accept(tls, ccfg, server, 1000), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_connect(NULL, ccfg, client, KEEL_STR("localhost"), 1000),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_connect(tls, NULL, client, KEEL_STR("localhost"), 1000),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_connect(tls, ccfg, NULL, KEEL_STR("localhost"), 1000),
                     KEEL_ERR_INVALID_ARG);
    keel_net *closed = nt_new();
    assert_int_equal(keel_tls_connect(tls, ccfg, closed, KEEL_STR("localhost"), 1000), KEEL_ERR_STATE);
    uint16_t port = 0;
    keel_net *udp = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    assert_int_equal(keel_tls_connect(tls, ccfg, udp, KEEL_STR("localhost"), 1000),
                     KEEL_ERR_INVALID_ARG);
    /* Without a session there is no data. */
    uint8_t buf[8];
    keel_buf b = nt_buf(buf, sizeof buf);
    assert_int_equal(keel_tls_send(tls, KEEL_STR("x"), 1000, NULL), KEEL_ERR_STATE);
    assert_int_equal(keel_tls_recv(tls, &b, 1000, NULL), KEEL_ERR_STATE);
    assert_int_equal(keel_tls_close_notify(tls, 1000), KEEL_ERR_STATE);
    assert_int_equal(keel_tls_send(NULL, KEEL_STR("x"), 1000, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_recv(tls, NULL, 1000, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_init(NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_last_mbedtls_error(NULL), 0);
    assert_int_equal(keel_tls_verify_flags(NULL), 0);
    assert_string_equal(keel_tls_cipher(NULL), "");
    keel_tls_free(tls);
    keel_tls_close(NULL);
    keel_tls_free(NULL);
    keel_net_free(udp);
    keel_net_free(closed);
    keel_net_free(client);
    keel_net_free(server);
    keel_tls_config_free(ccfg);
    keel_tls_config_free(scfg);
}

static void test_mutual_tls_requires_a_client_certificate(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, "ca.crt", 0);
    keel_tls_config *anon = tt_client_cfg(NULL, NULL, 0);
    keel_tls_config *with_cert = tt_client_cfg("client.crt", "client.key", 0);

    /* No client certificate: the server refuses it. */
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = tt_tcp_connect(sv.port);
    keel_tls *tls = tt_tls();
    keel_result r = keel_tls_connect(tls, anon, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS);
    /* The client learns it from the server's alert (or, if its Finished
     * went out before the alert came, on its first read). */
    if (r == KEEL_OK) {
        uint8_t buf[8];
        keel_buf b = nt_buf(buf, sizeof buf);
        r = keel_tls_recv(tls, &b, NT_IO_TIMEOUT_MS, NULL);
    }
    assert_int_equal(r, KEEL_ERR_TLS_ALERT);
    keel_net_close(net);
    tt_server_join(&sv);
    assert_int_equal(sv.hs_r, KEEL_ERR_TLS_VERIFY);
    assert_int_equal(sv.mbed_err, MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE);
    keel_tls_close(tls);
    keel_net_free(net);

    /* With one from the CA: accepted. */
    tt_server sv2 = { 0 };
    tt_server_start(&sv2, scfg, true);
    net = tt_tcp_connect(sv2.port);
    assert_int_equal(keel_tls_connect(tls, with_cert, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    tt_echo_pattern(tls, 5000, 5000);
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    tt_server_join(&sv2);
    assert_int_equal(sv2.hs_r, KEEL_OK);
    assert_int_equal(sv2.end_r, KEEL_ERR_CLOSED);
    tt_free_all(tls, net, scfg, anon);
    keel_tls_config_free(with_cert);
}

/* A peer that closes its socket without close_notify: TLS_TRUNCATED, not
 * CLOSED, and sticky. */
static void test_end_without_close_notify_is_truncation(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = NULL;
    keel_tls *tls = tt_session(ccfg, sv.port, &net);
    tt_echo_pattern(tls, 100, 100);
    keel_net_close(net); /* no close_notify */
    tt_server_join(&sv);
    assert_int_equal(sv.end_r, KEEL_ERR_TLS_TRUNCATED);
    assert_int_equal(sv.mbed_err, MBEDTLS_ERR_SSL_CONN_EOF);
    assert_int_equal(sv.echoed, 100);
    tt_free_all(tls, net, scfg, ccfg);
}

/* A deadline that passes is TIMEOUT and not fatal; a buf without room is
 * TOO_LARGE with nothing read. */
static void *send_late(void *arg)
{
    keel_tls *tls = arg;
    struct timespec ts = { 0, 300 * 1000000L };
    nanosleep(&ts, NULL);
    if (keel_tls_send(tls, KEEL_STR("late"), NT_IO_TIMEOUT_MS, NULL) != KEEL_OK) {
        return tls;
    }
    return NULL;
}

static void *accept_session(void *arg)
{
    void **a = arg;
    keel_tls *tls = a[0];
    if (keel_tls_accept(tls, a[1], a[2], NT_IO_TIMEOUT_MS) != KEEL_OK) {
        return tls;
    }
    return NULL;
}

/* A connected client/server session pair over one loopback connection. */
static void session_pair(keel_tls_config *scfg, keel_tls_config *ccfg, keel_net **cnet,
                         keel_net **snet, keel_tls **ctls, keel_tls **stls)
{
    nt_tcp_pair(KEEL_AF_INET4, cnet, snet);
    *ctls = tt_tls();
    *stls = tt_tls();
    void *args[3] = { *stls, scfg, *snet };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, accept_session, args), 0);
    assert_int_equal(keel_tls_connect(*ctls, ccfg, *cnet, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    void *failed = NULL;
    assert_int_equal(pthread_join(th, &failed), 0);
    assert_null(failed);
}

static void test_recv_deadline_and_room(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    keel_net *cnet, *snet;
    keel_tls *ctls, *stls;
    session_pair(scfg, ccfg, &cnet, &snet, &ctls, &stls);

    uint8_t buf[64];
    keel_buf full = nt_buf(buf, 4);
    assert_int_equal(keel_buf_append(&full, KEEL_STR("abcd")), KEEL_OK);
    assert_int_equal(keel_tls_recv(ctls, &full, 0, NULL), KEEL_ERR_TOO_LARGE);
    assert_int_equal(full.len, 4);

    keel_buf b = nt_buf(buf, sizeof buf);
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_tls_recv(ctls, &b, 50, NULL), KEEL_ERR_TIMEOUT);
    assert_true(nt_now_ms() - t0 >= 40);
    assert_int_equal(keel_tls_recv(ctls, &b, 0, NULL), KEEL_ERR_TIMEOUT);
    /* Not fatal: what comes later is read. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_late, stls), 0);
    size_t n = 0;
    assert_int_equal(keel_tls_recv(ctls, &b, NT_IO_TIMEOUT_MS, &n), KEEL_OK);
    void *failed = NULL;
    assert_int_equal(pthread_join(th, &failed), 0);
    assert_null(failed);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "late", 4);

    keel_tls_free(ctls);
    keel_tls_free(stls);
    keel_net_free(cnet);
    keel_net_free(snet);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

/* A session ends; keel_tls_close makes the context usable again. */
static void test_close_makes_the_context_reusable(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = NULL;
    keel_tls *tls = tt_session(ccfg, sv.port, &net);
    assert_int_equal(keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_ERR_STATE);
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    tt_server_join(&sv);
    keel_tls_close(tls);
    keel_tls_close(tls);
    keel_net_free(net);

    tt_server sv2 = { 0 };
    tt_server_start(&sv2, scfg, true);
    net = tt_tcp_connect(sv2.port);
    assert_int_equal(keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    tt_echo_pattern(tls, 2000, 700);
    assert_int_equal(keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS), KEEL_OK);
    tt_server_join(&sv2);
    assert_int_equal(sv2.end_r, KEEL_ERR_CLOSED);
    tt_free_all(tls, net, scfg, ccfg);
}

/* A peer that speaks something else than TLS, and one that says nothing. */
static void *plain_server(void *arg)
{
    keel_net *l = arg;
    keel_net *c = NULL;
    if (keel_net_init(&c) != KEEL_OK || keel_net_accept(l, c, NULL) != KEEL_OK) {
        keel_net_free(c);
        return l;
    }
    if (keel_net_send_all(c, KEEL_STR("HTTP/1.1 400 Bad Request\r\n\r\n"), 5000, NULL) != KEEL_OK) {
        keel_net_free(c);
        return l;
    }
    uint8_t buf[4096];
    keel_buf b;
    while (keel_buf_init(&b, buf, sizeof buf) == KEEL_OK &&
           keel_net_recv_timeout(c, &b, 5000, NULL) == KEEL_OK) {
    }
    keel_net_free(c);
    return NULL;
}

static void test_a_peer_that_is_not_tls_fails_the_handshake(void **state)
{
    (void)state;
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    uint16_t port = 0;
    keel_net *l = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, plain_server, l), 0);
    keel_net *net = tt_tcp_connect(port);
    keel_tls *tls = tt_tls();
    assert_int_equal(keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS),
                     KEEL_ERR_TLS_HANDSHAKE);
    assert_true(keel_tls_last_mbedtls_error(tls) < 0);
    keel_net_close(net);
    void *failed = NULL;
    assert_int_equal(pthread_join(th, &failed), 0);
    assert_null(failed);
    keel_tls_free(tls);
    keel_net_free(net);
    keel_net_free(l);
    keel_tls_config_free(ccfg);
}

static void test_a_silent_peer_times_the_handshake_out(void **state)
{
    (void)state;
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    keel_net *client = NULL, *server = NULL;
    nt_tcp_pair(KEEL_AF_INET4, &client, &server);
    keel_tls *tls = tt_tls();
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_tls_connect(tls, ccfg, client, KEEL_STR("localhost"), 200),
                     KEEL_ERR_TIMEOUT);
    assert_true(nt_now_ms() - t0 >= 150);
    assert_int_equal(keel_tls_last_mbedtls_error(tls), MBEDTLS_ERR_SSL_TIMEOUT);
    keel_tls_free(tls);
    keel_net_free(client);
    keel_net_free(server);
    keel_tls_config_free(ccfg);
}

/* ---- mbed TLS over keel's transport callbacks ------------------------------- */

static int test_rng(void *ctx, unsigned char *out, size_t len)
{
    return mbedtls_ctr_drbg_random(ctx, out, len);
}

static void test_bio_callbacks_carry_an_mbedtls_session(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    tt_server sv = { 0 };
    tt_server_start(&sv, scfg, true);
    keel_net *net = tt_tcp_connect(sv.port);

    /* A client written against mbed TLS alone, with keel as its transport. */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&ca);
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_init(&ssl);
    assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
    assert_int_equal(mbedtls_x509_crt_parse_file(&ca, tt_path("ca.crt")), 0);
    assert_int_equal(mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
                                                 MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT),
                     0);
    mbedtls_ssl_conf_rng(&conf, test_rng, &drbg);
    mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_read_timeout(&conf, NT_IO_TIMEOUT_MS);
    assert_int_equal(mbedtls_ssl_setup(&ssl, &conf), 0);
    assert_int_equal(mbedtls_ssl_set_hostname(&ssl, "localhost"), 0);
    mbedtls_ssl_set_bio(&ssl, net, keel_tls_bio_send, keel_tls_bio_recv, keel_tls_bio_recv_timeout);
    assert_int_equal(mbedtls_ssl_handshake(&ssl), 0);
    assert_int_equal(mbedtls_ssl_write(&ssl, (const unsigned char *)"over keel\n", 10), 10);
    unsigned char back[32];
    int n = mbedtls_ssl_read(&ssl, back, sizeof back);
    assert_int_equal(n, 10);
    assert_memory_equal(back, "over keel\n", 10);
    assert_int_equal(mbedtls_ssl_close_notify(&ssl), 0);
    assert_int_equal(mbedtls_ssl_read(&ssl, back, sizeof back), MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    tt_server_join(&sv);
    assert_int_equal(sv.end_r, KEEL_ERR_CLOSED);

    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    keel_net_free(net);
    keel_tls_config_free(scfg);
}

static void test_bio_callbacks_map_keel_results_to_mbedtls_codes(void **state)
{
    (void)state;
    keel_net *a = NULL, *b = NULL;
    nt_tcp_pair(KEEL_AF_INET4, &a, &b);
    unsigned char buf[64];

    assert_int_equal(keel_tls_bio_send(NULL, buf, 1), MBEDTLS_ERR_NET_INVALID_CONTEXT);
    assert_int_equal(keel_tls_bio_recv(NULL, buf, 1), MBEDTLS_ERR_NET_INVALID_CONTEXT);
    assert_int_equal(keel_tls_bio_recv_timeout(NULL, buf, 1, 10), MBEDTLS_ERR_NET_INVALID_CONTEXT);
    assert_int_equal(keel_tls_bio_send(a, NULL, 1), MBEDTLS_ERR_NET_INVALID_CONTEXT);
    assert_int_equal(keel_tls_bio_recv(a, NULL, 1), MBEDTLS_ERR_NET_INVALID_CONTEXT);
    assert_int_equal(keel_tls_bio_recv(a, buf, 0), 0);

    /* Nothing to read: a deadline passes; a non-blocking context would block. */
    assert_int_equal(keel_tls_bio_recv_timeout(a, buf, sizeof buf, 30), MBEDTLS_ERR_SSL_TIMEOUT);
    assert_int_equal(keel_net_set_nonblocking(a, true), KEEL_OK);
    assert_int_equal(keel_tls_bio_recv(a, buf, sizeof buf), MBEDTLS_ERR_SSL_WANT_READ);

    /* Data, then the peer's orderly close: 0, as mbed TLS's own callback. */
    assert_int_equal(keel_tls_bio_send(b, (const unsigned char *)"abc", 3), 3);
    assert_int_equal(keel_tls_bio_recv_timeout(a, buf, sizeof buf, 0), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(keel_net_shutdown(b, KEEL_SHUT_WR), KEEL_OK);
    assert_int_equal(keel_tls_bio_recv_timeout(a, buf, sizeof buf, NT_IO_TIMEOUT_MS), 0);

    /* A reset: the peer goes with unread data, which makes the kernel send RST. */
    assert_int_equal(keel_tls_bio_send(a, (const unsigned char *)"unread", 6), 6);
    struct timespec ts = { 0, 50 * 1000000L };
    nanosleep(&ts, NULL);
    keel_net_free(b);
    nanosleep(&ts, NULL);
    int r = keel_tls_bio_send(a, (const unsigned char *)"x", 1);
    if (r == 1) {
        r = keel_tls_bio_send(a, (const unsigned char *)"x", 1);
    }
    assert_int_equal(r, MBEDTLS_ERR_NET_CONN_RESET);
    assert_int_equal(keel_net_last_os_error(a) == ECONNRESET || keel_net_last_os_error(a) == EPIPE,
                     1);

    /* A closed context. */
    keel_net_close(a);
    assert_int_equal(keel_tls_bio_send(a, buf, 1), MBEDTLS_ERR_NET_INVALID_CONTEXT);
    assert_int_equal(keel_tls_bio_recv(a, buf, 1), MBEDTLS_ERR_NET_INVALID_CONTEXT);
    keel_net_free(a);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_rejects_bad_arguments, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_config_reports_unusable_files_with_the_mbedtls_error,
                                        tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_config_loads_pem_bytes_and_ca_directories, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_handshake_and_echo_over_loopback, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_host_name_is_refused, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_ca_is_refused, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_expired_certificate_is_refused, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_verify_none_accepts_any_certificate, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_verifying_client_needs_a_usable_server_name, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_mutual_tls_requires_a_client_certificate, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_end_without_close_notify_is_truncation, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_recv_deadline_and_room, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_close_makes_the_context_reusable, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_a_peer_that_is_not_tls_fails_the_handshake, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_a_silent_peer_times_the_handshake_out, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_bio_callbacks_carry_an_mbedtls_session, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_bio_callbacks_map_keel_results_to_mbedtls_codes,
                                        tt_setup, tt_teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

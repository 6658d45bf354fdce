/*
 * tests/tls/test_https.c - HTTPS: keel's HTTP server with a TLS transport
 * (opts.tls, keel_http_tls_new) answering keel's blocking client and async
 * fetch over real loopback connections, with the test PKI made by
 * make_certs.sh: requests and bodies both ways, keep-alive reuse, a
 * rejection the client reads before the close (close_notify after it),
 * redirects that stay in TLS, certificates refused, a response framed by
 * the close and cut without close_notify (TLS_TRUNCATED), the graceful
 * shutdown of idle TLS connections, and the argument checks.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/http_client.h"
#include "keel/http_server.h"
#include "keel/tls.h"
#include "net_test_util.h"
#include "loop_test_util.h"
#include "tls_test_util.h"
#include "http/http_live_util.h"

/* ---- a keel HTTPS server ----------------------------------------------------------- */

/* Answers with the request's body; X-Echo says "METHOD TARGET". */
static void hx_echo(keel_http_reply *reply, const keel_http_request *req, keel_slice body,
                    void *user)
{
    (void)user;
    char what[256];
    int n = snprintf(what, sizeof what, "%.*s %.*s", (int)req->method.len,
                     (const char *)req->method.ptr, (int)req->target.len,
                     (const char *)req->target.ptr);
    keel_http_field f[1] = { { KEEL_STR("X-Echo"), nt_slice(what, (size_t)n) } };
    assert_int_equal(keel_http_reply_send(reply, 200, f, 1, body), KEEL_OK);
}

/* 302 to the Location in the route's user pointer. */
static void hx_redirect(keel_http_reply *reply, const keel_http_request *req, keel_slice body,
                        void *user)
{
    (void)req;
    (void)body;
    keel_http_field f[1] = { { KEEL_STR("Location"), keel_slice_cstr(user) } };
    assert_int_equal(keel_http_reply_send(reply, 302, f, 1, keel_slice_empty()), KEEL_OK);
}

#define LIT(s) { (const uint8_t *)(s), sizeof(s) - 1u }
static const keel_http_route hx_routes[] = {
    { .path = LIT("/down"), .handler = hx_redirect, .user = "http://localhost:1/a" },
    { .path = LIT("/same"), .handler = hx_redirect, .user = "/a" },
    { .path = LIT("/"), .prefix = true, .handler = hx_echo },
};

typedef struct hx {
    keel_tls_config *scfg, *ccfg;
    keel_http_tls *st, *ct;
    keel_http_server *srv;
    uint16_t port;
} hx;

/* A server presenting crt (server.key's certificate: NULL for server.crt)
 * on 127.0.0.1, and the client side's transport (trusting ca.crt). */
static void hx_start(hx *h, const char *crt)
{
    *h = (hx){ 0 };
    h->scfg = tt_server_cfg(crt, NULL, 5000);
    h->ccfg = tt_client_cfg(NULL, NULL, 5000);
    assert_int_equal(keel_http_tls_new(h->scfg, &h->st), KEEL_OK);
    assert_int_equal(keel_http_tls_new(h->ccfg, &h->ct), KEEL_OK);
    keel_http_server_opts o = { .routes = hx_routes,
                                .route_count = sizeof hx_routes / sizeof hx_routes[0],
                                .tls = h->st };
    h->srv = hl_start(&o, &h->port);
}

static void hx_stop(hx *h)
{
    keel_http_server_free(h->srv);
    keel_http_tls_free(h->st);
    keel_http_tls_free(h->ct);
    keel_tls_config_free(h->scfg);
    keel_tls_config_free(h->ccfg);
}

/* A blocking client with h's client transport. */
static keel_http_client *hx_client(const hx *h, unsigned max_redirects)
{
    keel_http_client_opts o = { .tls = h->ct, .max_redirects = max_redirects };
    keel_http_client *c = NULL;
    assert_int_equal(keel_http_client_new(&o, &c), KEEL_OK);
    return c;
}

/* https://localhost:port + path, in one of 8 rotating buffers. */
static const char *hx_url(uint16_t port, const char *path)
{
    static char urls[8][512];
    static unsigned next;
    char *u = urls[next++ % 8u];
    int n = snprintf(u, sizeof urls[0], "https://localhost:%u%s", (unsigned)port, path);
    assert_true(n > 0 && (size_t)n < sizeof urls[0]);
    return u;
}

static keel_result hx_send(keel_http_client *c, const char *method, const char *url,
                           keel_slice body, keel_http_client_response *resp)
{
    keel_http_client_request req = { .method = keel_slice_cstr(method),
                                     .url = keel_slice_cstr(url),
                                     .body = body };
    return keel_http_client_send(c, &req, resp);
}

static void hx_expect_echo(const keel_http_client_response *resp, const char *what,
                           keel_slice body)
{
    assert_int_equal(resp->head.status, 200);
    keel_slice v;
    assert_int_equal(keel_http_header_get(&resp->head.head, KEEL_STR("X-Echo"), &v), KEEL_OK);
    assert_true(keel_slice_eq(v, keel_slice_cstr(what)));
    assert_int_equal(resp->body.len, body.len);
    assert_true(keel_slice_eq(resp->body, body));
}

/* ---- the blocking client and the async fetch against keel's HTTPS server -------- */

static void test_server_answers_the_blocking_client(void **state)
{
    (void)state;
    hx h;
    hx_start(&h, NULL);
    keel_http_client *c = hx_client(&h, 0);
    keel_http_client_response resp;
    assert_int_equal(hx_send(c, "GET", hx_url(h.port, "/a?x=1"), keel_slice_empty(), &resp),
                     KEEL_OK);
    hx_expect_echo(&resp, "GET /a?x=1", keel_slice_empty());
    keel_http_client_response_free(&resp);
    /* A body of many records each way, pattern-checked. */
    size_t n = 300u * 1024u;
    uint8_t *big = malloc(n);
    assert_non_null(big);
    nt_fill(big, n, 0);
    assert_int_equal(hx_send(c, "POST", hx_url(h.port, "/big"), nt_slice(big, n), &resp),
                     KEEL_OK);
    hx_expect_echo(&resp, "POST /big", nt_slice(big, n));
    keel_http_client_response_free(&resp);
    free(big);
    assert_int_equal(hx_send(c, "PUT", hx_url(h.port, "/c"), KEEL_STR("{}"), &resp), KEEL_OK);
    hx_expect_echo(&resp, "PUT /c", KEEL_STR("{}"));
    keel_http_client_response_free(&resp);
    /* All three went over one kept-alive TLS connection. */
    assert_int_equal(keel_http_server_connections(h.srv), 1);
    keel_http_client_free(c);
    hx_stop(&h);
}

static void test_server_answers_async_fetches(void **state)
{
    (void)state;
    enum { N = 6 };
    hx h;
    hx_start(&h, NULL);
    keel_loop *loop = lt_loop();
    keel_http_client_opts o = { .tls = h.ct };
    fetch_seen seen[N];
    memset(seen, 0, sizeof seen);
    char paths[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "/f/%d", i);
        keel_http_client_request req = { .method = KEEL_STR("POST"),
                                         .url = keel_slice_cstr(hx_url(h.port, paths[i])),
                                         .body = keel_slice_cstr(paths[i]) };
        assert_int_equal(keel_http_fetch(loop, &o, &req, fetch_done, &seen[i]), KEEL_OK);
    }
    run_fetches(loop, seen, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(seen[i].r, KEEL_OK);
        assert_int_equal(seen[i].status, 200);
        assert_string_equal(seen[i].body, paths[i]);
    }
    keel_loop_free(loop);
    hx_stop(&h);
}

/* A malformed request over TLS: the 400 arrives whole, then close_notify
 * (the lingering close runs on the plaintext, then the TLS end). */
static void test_rejection_is_read_before_the_close(void **state)
{
    (void)state;
    hx h;
    hx_start(&h, NULL);
    keel_net *net = NULL;
    keel_tls *tls = tt_session(h.ccfg, h.port, &net);
    keel_slice bad = KEEL_STR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                              "Content-Length: 2\r\n\r\nab");
    assert_int_equal(keel_tls_send(tls, bad, NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    uint8_t mem[4096];
    keel_buf got = nt_buf(mem, sizeof mem - 1u);
    keel_result r;
    while ((r = keel_tls_recv(tls, &got, NT_IO_TIMEOUT_MS, NULL)) == KEEL_OK) {
    }
    assert_int_equal(r, KEEL_ERR_CLOSED); /* close_notify, not a cut */
    mem[got.len] = 0;
    assert_non_null(strstr((const char *)mem, "HTTP/1.1 400 "));
    assert_non_null(strstr((const char *)mem, "Connection: close\r\n"));
    tt_free_all(tls, net, NULL, NULL);
    hx_stop(&h);
}

static void test_redirects_stay_in_tls(void **state)
{
    (void)state;
    hx h;
    hx_start(&h, NULL);
    keel_http_client *c = hx_client(&h, 3);
    keel_http_client_response resp;
    /* "/a" on the same scheme and authority: followed, over TLS. */
    assert_int_equal(hx_send(c, "GET", hx_url(h.port, "/same"), keel_slice_empty(), &resp),
                     KEEL_OK);
    hx_expect_echo(&resp, "GET /a", keel_slice_empty());
    keel_http_client_response_free(&resp);
    /* To http://: not followed, the 302 comes back as it is. */
    assert_int_equal(hx_send(c, "GET", hx_url(h.port, "/down"), keel_slice_empty(), &resp),
                     KEEL_OK);
    assert_int_equal(resp.head.status, 302);
    keel_http_client_response_free(&resp);
    keel_http_client_free(c);
    hx_stop(&h);
}

/* ---- certificates the client must refuse ------------------------------------------- */

static void test_client_refuses_bad_certificates(void **state)
{
    (void)state;
    static const char *const bad[] = { "wronghost.crt", "expired.crt", "unknown.crt" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hx h;
        hx_start(&h, bad[i]);
        keel_http_client_opts o = { .tls = h.ct };
        keel_http_client *c = NULL;
        assert_int_equal(keel_http_client_new(&o, &c), KEEL_OK);
        keel_http_client_response resp;
        keel_result r = hx_send(c, "GET", hx_url(h.port, "/"), keel_slice_empty(), &resp);
        if (r != KEEL_ERR_TLS_VERIFY) {
            print_error("%s: %s, want TLS_VERIFY\n", bad[i], keel_result_str(r));
            fail();
        }
        keel_http_client_free(c);
        keel_loop *loop = lt_loop();
        fetch_seen seen = { 0 };
        keel_http_client_request req = { .method = KEEL_STR("GET"),
                                         .url = keel_slice_cstr(hx_url(h.port, "/")) };
        assert_int_equal(keel_http_fetch(loop, &o, &req, fetch_done, &seen), KEEL_OK);
        run_fetches(loop, &seen, 1);
        if (seen.r != KEEL_ERR_TLS_VERIFY) {
            print_error("fetch, %s: %s, want TLS_VERIFY\n", bad[i], keel_result_str(seen.r));
            fail();
        }
        keel_loop_free(loop);
        hx_stop(&h);
    }
}

/* ---- a response framed by the close, over TLS -------------------------------------- */

/* A blocking TLS server on its own thread: for each answer, accepts one
 * connection, reads a request head, sends the answer, then ends the
 * connection with close_notify (notify) or with a bare TCP close. */
typedef struct hx_raw {
    pthread_t thread;
    keel_net *listener;
    uint16_t port;
    const keel_tls_config *cfg;
    const char *const *answers;
    const bool *notify;
    size_t count;
    size_t served;
} hx_raw;

static void *hx_raw_main(void *arg)
{
    hx_raw *p = arg;
    for (size_t i = 0; i < p->count; i++) {
        keel_net *conn = nt_new();
        if (keel_net_accept(p->listener, conn, NULL) != KEEL_OK) {
            keel_net_free(conn);
            break;
        }
        keel_tls *tls = NULL;
        uint8_t mem[4096];
        keel_buf got = nt_buf(mem, sizeof mem);
        bool ok = keel_tls_init(&tls) == KEEL_OK &&
                  keel_tls_accept(tls, p->cfg, conn, NT_IO_TIMEOUT_MS) == KEEL_OK;
        size_t end = 0;
        while (ok && keel_slice_find(keel_buf_slice(&got), KEEL_STR("\r\n\r\n"), &end) != KEEL_OK) {
            ok = keel_tls_recv(tls, &got, NT_IO_TIMEOUT_MS, NULL) == KEEL_OK;
        }
        if (ok && keel_tls_send(tls, keel_slice_cstr(p->answers[i]), NT_IO_TIMEOUT_MS, NULL) ==
                      KEEL_OK) {
            if (p->notify[i] && keel_tls_close_notify(tls, NT_IO_TIMEOUT_MS) != KEEL_OK) {
                ok = false;
            }
            p->served += ok ? 1u : 0u;
        }
        keel_tls_free(tls);
        keel_net_free(conn); /* the TCP close, after close_notify or without it */
    }
    return NULL;
}

static void test_response_cut_without_close_notify_is_truncated(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",   /* framed: fine either way */
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial", /* to the close, no notify */
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nwhole",   /* to the close, notified */
    };
    static const bool notify[] = { false, false, true };
    keel_result want[] = { KEEL_OK, KEEL_ERR_TLS_TRUNCATED, KEEL_OK };
    const char *body[] = { "hello", "", "whole" };
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 5000);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 5000);
    keel_http_tls *ct = NULL;
    assert_int_equal(keel_http_tls_new(ccfg, &ct), KEEL_OK);
    hx_raw p = { .cfg = scfg, .answers = answers, .notify = notify, .count = 6 };
    /* Each answer twice: the blocking client, then the fetch. */
    const char *twice[6];
    bool notify_twice[6];
    for (size_t i = 0; i < 6; i++) {
        twice[i] = answers[i / 2u];
        notify_twice[i] = notify[i / 2u];
    }
    p.answers = twice;
    p.notify = notify_twice;
    p.listener = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &p.port);
    assert_int_equal(pthread_create(&p.thread, NULL, hx_raw_main, &p), 0);
    keel_http_client_opts o = { .tls = ct, .no_pool = true };
    keel_http_client *c = NULL;
    assert_int_equal(keel_http_client_new(&o, &c), KEEL_OK);
    keel_loop *loop = lt_loop();
    for (size_t i = 0; i < 3; i++) {
        keel_http_client_response resp;
        keel_result r = hx_send(c, "GET", hx_url(p.port, "/"), keel_slice_empty(), &resp);
        if (r != want[i]) {
            print_error("answer %zu: %s, want %s\n", i, keel_result_str(r),
                        keel_result_str(want[i]));
            fail();
        }
        if (r == KEEL_OK) {
            assert_true(keel_slice_eq(resp.body, keel_slice_cstr(body[i])));
            keel_http_client_response_free(&resp);
        }
        fetch_seen seen = { 0 };
        keel_http_client_request req = { .method = KEEL_STR("GET"),
                                         .url = keel_slice_cstr(hx_url(p.port, "/")) };
        assert_int_equal(keel_http_fetch(loop, &o, &req, fetch_done, &seen), KEEL_OK);
        run_fetches(loop, &seen, 1);
        if (seen.r != want[i]) {
            print_error("fetch of answer %zu: %s, want %s\n", i, keel_result_str(seen.r),
                        keel_result_str(want[i]));
            fail();
        }
        assert_string_equal(seen.body, body[i]);
    }
    assert_int_equal(pthread_join(p.thread, NULL), 0);
    assert_int_equal(p.served, 6);
    keel_loop_free(loop);
    keel_http_client_free(c);
    keel_net_free(p.listener);
    keel_http_tls_free(ct);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

/* ---- graceful shutdown ---------------------------------------------------------------- */

/* An idle kept-alive TLS connection is closed when the shutdown begins
 * (the server's on_shutdown reaches TLS connections too), so the wait
 * ends long before the grace period. */
static void test_shutdown_closes_idle_connections_at_once(void **state)
{
    (void)state;
    hx h;
    hx_start(&h, NULL);
    keel_http_client *c = hx_client(&h, 0);
    keel_http_client_response resp;
    assert_int_equal(hx_send(c, "GET", hx_url(h.port, "/idle"), keel_slice_empty(), &resp),
                     KEEL_OK);
    keel_http_client_response_free(&resp);
    assert_int_equal(keel_http_server_connections(h.srv), 1);
    uint64_t t0 = nt_now_ms();
    keel_http_server_shutdown(h.srv, 15000);
    assert_int_equal(keel_http_server_wait(h.srv), KEEL_OK);
    uint64_t took = nt_now_ms() - t0;
    if (took >= 7500) {
        print_error("the wait took %llu ms: the idle connection waited for the grace\n",
                    (unsigned long long)took);
        fail();
    }
    keel_http_client_free(c);
    hx_stop(&h);
}

/* ---- arguments -------------------------------------------------------------------------- */

static void test_arguments_are_checked(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    keel_http_tls *st = NULL, *ct = NULL;
    assert_int_equal(keel_http_tls_new(NULL, &st), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_tls_new(scfg, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_tls_new(scfg, &st), KEEL_OK);
    assert_int_equal(keel_http_tls_new(ccfg, &ct), KEEL_OK);
    /* Each side's transport, on the other side: refused. */
    keel_http_server_opts so = { .ip = KEEL_STR("127.0.0.1"), .threads = 1, .tls = ct };
    keel_http_server *srv = NULL;
    assert_int_equal(keel_http_server_start(&so, &srv), KEEL_ERR_INVALID_ARG);
    assert_null(srv);
    keel_http_client_opts co = { .tls = st };
    keel_http_client *c = NULL;
    assert_int_equal(keel_http_client_new(&co, &c), KEEL_ERR_INVALID_ARG);
    keel_loop *loop = lt_loop();
    fetch_seen seen = { 0 };
    keel_http_client_request req = { .method = KEEL_STR("GET"),
                                     .url = KEEL_STR("https://localhost:1/") };
    assert_int_equal(keel_http_fetch(loop, &co, &req, fetch_done, &seen), KEEL_ERR_INVALID_ARG);
    /* An https:// URL without a transport: TLS_CONFIG, nothing sent. */
    assert_int_equal(keel_http_client_new(NULL, &c), KEEL_OK);
    keel_http_client_response resp;
    assert_int_equal(keel_http_client_send(c, &req, &resp), KEEL_ERR_TLS_CONFIG);
    assert_int_equal(keel_http_fetch(loop, NULL, &req, fetch_done, &seen), KEEL_ERR_TLS_CONFIG);
    assert_int_equal(seen.calls, 0);
    keel_http_client_free(c);
    keel_loop_free(loop);
    keel_http_tls_free(NULL);
    keel_http_tls_free(st);
    keel_http_tls_free(ct);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_answers_the_blocking_client, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_server_answers_async_fetches, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_rejection_is_read_before_the_close, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_redirects_stay_in_tls, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_client_refuses_bad_certificates, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_response_cut_without_close_notify_is_truncated,
                                        tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_closes_idle_connections_at_once,
                                        tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_arguments_are_checked, tt_setup, tt_teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

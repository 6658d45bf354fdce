/*
 * fuzz/http/fuzz_http_client.c - keel's HTTP client's response path
 * (src/http/client.c: hcli_read_response and what it calls: the response
 * parser, the chunked decoder, the response cap) over a real loopback
 * connection.
 *
 * Drives: keel_http_client_send (GET or HEAD, no keep-alive pool), or
 * keel_http_fetch (the async client on a keel_loop, same response reader),
 * against a peer thread that reads the request head and answers with the
 * fuzzer's bytes in fuzzer-chosen chunks, then closes.
 *
 * Input: [flags][k][k schedule bytes][response bytes (at most 64 KiB)].
 * flags bit 0: HEAD instead of GET; bit 1: a 64-byte response cap; bit 2:
 * the async client.
 * Properties: the result is one the contract allows (OK, PARSE, TOO_LARGE,
 * CLOSED, RESET); on OK the status is 200..599, the body is at most the
 * cap, lies inside memory the response owns (ASan), is empty for HEAD, 204
 * and 304, and has exactly Content-Length bytes when the response has that
 * framing; the response frees cleanly.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_net_util.h"
#include "keel/http.h"
#include "keel/http_client.h"
#include "keel/loop.h"
#include "keel/net.h"

#define RESPONSE_MAX 65536u
#define CHUNKS_MAX 256u

/* The peer: answers one connection per input. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static keel_net *g_listener;
static uint16_t g_port;
static const uint8_t *g_answer;
static size_t g_answer_len;
static const uint8_t *g_sched;
static size_t g_sched_len;
static bool g_work, g_done;

static void peer_serve(void)
{
    keel_net *conn = NULL;
    FUZZ_CHECK(keel_net_init(&conn) == KEEL_OK);
    FUZZ_CHECK(keel_net_accept(g_listener, conn, NULL) == KEEL_OK);
    /* The request head. */
    uint8_t mem[4096];
    keel_buf b = { mem, sizeof mem, 0 };
    size_t end = 0;
    while (keel_slice_find(keel_buf_slice(&b), KEEL_STR("\r\n\r\n"), &end) != KEEL_OK) {
        FUZZ_CHECK(keel_buf_spare(&b) > 0);
        FUZZ_CHECK(keel_net_recv_timeout(conn, &b, 10000, NULL) == KEEL_OK);
    }
    size_t sent = 0;
    for (size_t i = 0; sent < g_answer_len; i++) {
        uint8_t code = g_sched_len == 0 ? 255u : g_sched[i % g_sched_len];
        size_t chunk = i >= CHUNKS_MAX ? g_answer_len : code < 64u ? (size_t)code + 1u : 4096u;
        if (chunk > g_answer_len - sent) {
            chunk = g_answer_len - sent;
        }
        keel_slice piece = { g_answer + sent, chunk };
        if (keel_net_send_all(conn, piece, 10000, NULL) != KEEL_OK) {
            break; /* the client gave up (a rejection): fine */
        }
        sent += chunk;
    }
    keel_net_free(conn); /* the close ends an until-close body */
}

static void *peer_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&g_mu);
        while (!g_work) {
            pthread_cond_wait(&g_cv, &g_mu);
        }
        pthread_mutex_unlock(&g_mu);
        peer_serve();
        pthread_mutex_lock(&g_mu);
        g_work = false;
        g_done = true;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
    }
    return NULL;
}

static void start_peer(void)
{
    g_listener = fuzz_loopback_listener(&g_port);
    pthread_t t;
    FUZZ_CHECK(pthread_create(&t, NULL, peer_main, NULL) == 0);
    FUZZ_CHECK(pthread_detach(t) == 0);
}

/* The async client's result, and a loop for it (one per process). */
static keel_loop *g_loop;
static bool g_fetched;
static keel_result g_fetch_r;
static keel_http_client_response g_fetch_resp;

static void fetch_done(keel_result r, keel_http_client_response *resp, void *user)
{
    (void)user;
    FUZZ_CHECK(!g_fetched); /* exactly once */
    g_fetched = true;
    g_fetch_r = r;
    FUZZ_CHECK((r == KEEL_OK) == (resp != NULL));
    if (resp != NULL) {
        g_fetch_resp = *resp;
    }
}

static keel_result fetch_async(const keel_http_client_opts *o, const keel_http_client_request *req,
                               keel_http_client_response *resp)
{
    if (g_loop == NULL) {
        FUZZ_CHECK(keel_loop_new(&g_loop) == KEEL_OK);
    }
    g_fetched = false;
    FUZZ_CHECK(keel_http_fetch(g_loop, o, req, fetch_done, NULL) == KEEL_OK);
    while (!g_fetched) {
        FUZZ_CHECK(keel_loop_run_once(g_loop, 100) == KEEL_OK);
    }
    /* Let the stream's close finish (its state is freed there). */
    for (int i = 0; i < 3; i++) {
        FUZZ_CHECK(keel_loop_run_once(g_loop, 0) == KEEL_OK);
    }
    if (g_fetch_r == KEEL_OK) {
        *resp = g_fetch_resp;
    }
    return g_fetch_r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_listener == NULL) {
        start_peer();
    }
    fuzz_reader in = { data, size, 0 };
    uint8_t flags = fuzz_u8(&in);
    size_t k = fuzz_u8(&in);
    size_t sched_at = in.pos;
    for (size_t i = 0; i < k; i++) {
        (void)fuzz_u8(&in);
    }
    pthread_mutex_lock(&g_mu);
    g_sched = data + (sched_at < size ? sched_at : size);
    g_sched_len = in.pos - sched_at;
    g_answer = data + in.pos;
    g_answer_len = size - in.pos > RESPONSE_MAX ? RESPONSE_MAX : size - in.pos;
    g_done = false;
    g_work = true;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);

    bool head = (flags & 1u) != 0;
    size_t cap = (flags & 2u) != 0 ? 64u : 0u;
    keel_http_client_opts o = { .no_pool = true, .max_response = cap, .header_timeout_ms = 10000,
                                .total_timeout_ms = 20000 };
    keel_http_client *c = NULL;
    FUZZ_CHECK(keel_http_client_new(&o, &c) == KEEL_OK);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", (unsigned)g_port);
    keel_http_client_request req = { .method = head ? KEEL_STR("HEAD") : KEEL_STR("GET"),
                                     .url = keel_slice_cstr(url) };
    keel_http_client_response resp;
    bool async = (flags & 4u) != 0;
    keel_result r = async ? fetch_async(&o, &req, &resp) : keel_http_client_send(c, &req, &resp);
    FUZZ_CHECK(r == KEEL_OK || r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE ||
               r == KEEL_ERR_CLOSED || r == KEEL_ERR_RESET);
    if (r == KEEL_OK) {
        uint16_t st = resp.head.status;
        FUZZ_CHECK(st >= 200 && st <= 599);
        FUZZ_CHECK(resp.body.len <= (cap == 0 ? 8u * 1024u * 1024u : cap));
        if (head || st == 204 || st == 304) {
            FUZZ_CHECK(resp.body.len == 0);
        }
        if (resp.head.head.body == KEEL_HTTP_BODY_LENGTH) {
            FUZZ_CHECK(resp.body.len == resp.head.head.content_length);
        }
        /* Every byte of the body is readable (ASan checks the range). */
        unsigned sum = 0;
        for (size_t i = 0; i < resp.body.len; i++) {
            sum += resp.body.ptr[i];
        }
        (void)sum;
        for (size_t i = 0; i < resp.head.head.header_count; i++) {
            FUZZ_CHECK(keel_http_field_check(resp.head.head.headers[i].name,
                                             resp.head.head.headers[i].value) == KEEL_OK ||
                       resp.head.head.headers[i].value.len == 0);
        }
        keel_http_client_response_free(&resp);
    }
    keel_http_client_free(c);
    /* Wait for the peer to finish with this input. */
    pthread_mutex_lock(&g_mu);
    while (!g_done) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return 0;
}

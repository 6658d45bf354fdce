/*
 * fuzz/http/fuzz_http_server.c - keel's HTTP server's whole receive path
 * (src/http/server.c over src/loop/ and the parser) through a real
 * loopback connection into a running server.
 *
 * Drives: keel_http_server_start (once per process: one loop thread,
 * small limits so that every limit is reachable), and for each input one
 * connection: the request bytes in fuzzer-chosen chunks (a short pause
 * after each, so that they arrive as separate reads), then a half-close,
 * then every byte the server answers until it closes.
 *
 * Input: [k][k schedule bytes][payload (at most 16 KiB)]. Schedule byte i
 * (cycled) gives the size of chunk i (1..64, or 4 KiB); after 256 chunks
 * the rest goes in one write.
 * Properties: the answer is a sequence of complete, well-formed responses
 * (keel's strict response parser, in order), each framed by Content-Length
 * or, for the streamed route GET /s, chunked (HTTP/1.0: to the close) with
 * exactly its two bytes, each with Date and Server, only 100
 * Continue as an interim answer, every status one the server can give,
 * nothing after a response that says Connection: close, and at most one
 * final answer per request the payload holds (as keel's request parser
 * reads it with the server's limits) plus one (a rejection or a timeout).
 * The n-th answer is framed as the answer to the n-th request's method
 * (HEAD: no body).
 * The server closes each connection once the client has half-closed.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_check.h"
#include "keel/http.h"
#include "keel/http_server.h"
#include "keel/net.h"

#define PAYLOAD_MAX 16384u
/* Chunks sent one by one (with a pause); the rest goes in one write. */
#define CHUNKS_MAX 256u
#define METHODS_MAX 1024u
#define ANSWER_MAX (4u * 1024u * 1024u)

static keel_http_server *g_srv;
static uint16_t g_port;

/* Answers with the request's body (or its path), at once or, for /later,
 * from a timer on the loop. */
static void fuzz_echo(keel_http_reply *reply, const keel_http_request *req, keel_slice body,
                      void *user)
{
    (void)user;
    if (keel_http_reply_send(reply, 200, NULL, 0, body.len > 0 ? body : req->path) != KEEL_OK) {
        /* the connection is gone */
    }
}

static void fuzz_later_fire(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    if (keel_http_reply_send(user, 202, NULL, 0, KEEL_STR("later")) != KEEL_OK) {
        /* the connection is gone */
    }
}

static void fuzz_later(keel_http_reply *reply, const keel_http_request *req, keel_slice body,
                       void *user)
{
    (void)req;
    (void)body;
    (void)user;
    keel_timer_id id;
    if (keel_timer_start(keel_http_reply_loop(reply), 1, 0, fuzz_later_fire, reply, &id) !=
        KEEL_OK) {
        FUZZ_CHECK(keel_http_reply_send(reply, 503, NULL, 0, keel_slice_empty()) == KEEL_OK);
    }
}

/* A streamed answer: "a", "b" in two pieces. */
static void fuzz_stream(keel_http_reply *reply, const keel_http_request *req, keel_slice body,
                        void *user)
{
    (void)req;
    (void)body;
    (void)user;
    FUZZ_CHECK(keel_http_reply_start(reply, 200, NULL, 0) == KEEL_OK);
    FUZZ_CHECK(keel_http_reply_write(reply, KEEL_STR("a")) == KEEL_OK);
    FUZZ_CHECK(keel_http_reply_write(reply, KEEL_STR("b")) == KEEL_OK);
    FUZZ_CHECK(keel_http_reply_end(reply) == KEEL_OK);
}

/* A streamed request body: answered at the end (or 400 when it cannot
 * complete); after every piece of 7 bytes or more the handler pauses it and
 * resumes from a timer. Per-request state: the timer is cancelled when the
 * request is answered, since the reply must not be used after its answer. */
typedef struct fuzz_upload_state {
    keel_http_reply *reply;
    keel_timer_id timer;
    bool timer_live;
} fuzz_upload_state;

static void fuzz_upload_resume(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    fuzz_upload_state *st = user;
    st->timer_live = false;
    keel_http_reply_body_resume(st->reply);
}

static void fuzz_upload_piece(keel_http_reply *reply, keel_result r, keel_slice piece, void *user)
{
    fuzz_upload_state *st = user;
    if (r != KEEL_OK || piece.len == 0) {
        if (st->timer_live) {
            FUZZ_CHECK(keel_timer_cancel(keel_http_reply_loop(reply), st->timer) == KEEL_OK);
        }
        free(st);
        keel_result sr = keel_http_reply_send(reply, r == KEEL_OK ? 200 : 400, NULL, 0,
                                              KEEL_STR("u"));
        FUZZ_CHECK(sr == KEEL_OK || sr == KEEL_ERR_CLOSED);
        return;
    }
    if (piece.len >= 7 && !st->timer_live) {
        keel_http_reply_body_pause(reply);
        FUZZ_CHECK(keel_timer_start(keel_http_reply_loop(reply), 1, 0, fuzz_upload_resume, st,
                                    &st->timer) == KEEL_OK);
        st->timer_live = true;
    }
}

static void fuzz_upload(keel_http_reply *reply, const keel_http_request *req, keel_slice body,
                        void *user)
{
    (void)req;
    (void)user;
    FUZZ_CHECK(body.len == 0);
    fuzz_upload_state *st = calloc(1, sizeof *st);
    FUZZ_CHECK(st != NULL);
    st->reply = reply;
    keel_http_reply_on_body(reply, fuzz_upload_piece, st);
}

#define LIT(s) { (const uint8_t *)(s), sizeof(s) - 1u }
static const keel_http_route g_routes[] = {
    { .method = LIT("POST"), .path = LIT("/u"), .handler = fuzz_upload, .stream_body = true },
    { .method = LIT("GET"), .path = LIT("/s"), .handler = fuzz_stream },
    { .method = LIT("GET"), .path = LIT("/later"), .handler = fuzz_later },
    { .method = LIT("POST"), .path = LIT("/p"), .handler = fuzz_echo },
    { .path = LIT("/"), .prefix = true, .handler = fuzz_echo },
};

static const keel_http_config g_cfg = {
    .limits = { .max_start_line = 256, .max_header_bytes = 1024, .max_chunk_ext = 64,
                .max_trailer_bytes = 256 }
};

static void start_server(void)
{
    keel_http_server_opts o = {
        .ip = KEEL_STR("127.0.0.1"),
        .threads = 1,
        .routes = g_routes,
        .route_count = sizeof g_routes / sizeof g_routes[0],
        .max_headers = 8,
        .max_body = 2048,
        .max_requests = 50,
        .parser = g_cfg,
        .header_timeout_ms = 2000,
        .body_timeout_ms = 2000,
        .body_min_bytes = 1,
        .linger_ms = 500,
    };
    FUZZ_CHECK(keel_http_server_start(&o, &g_srv) == KEEL_OK);
    FUZZ_CHECK(keel_http_server_port(g_srv, &g_port) == KEEL_OK);
}

static bool status_known(uint16_t s)
{
    static const uint16_t known[] = { 200, 202, 400, 404, 405, 408, 413, 414, 417, 431, 500,
                                      501, 503, 505 };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i] == s) {
            return true;
        }
    }
    return false;
}

/* The methods of the requests in payload, in order, as far as they parse
 * (with the server's limits); returns how many. */
static size_t request_methods(keel_slice payload, keel_http_method *methods)
{
    keel_http_header headers[8];
    keel_http_parser parser;
    FUZZ_CHECK(keel_http_parser_init(&parser, KEEL_HTTP_REQUEST, &g_cfg, headers, 8) == KEEL_OK);
    size_t pos = 0, count = 0;
    while (pos < payload.len && count < METHODS_MAX) {
        keel_slice in = { payload.ptr + pos, payload.len - pos };
        keel_http_request req;
        size_t used = 0;
        if (keel_http_parse_request(&parser, in, &req, &used, NULL) != KEEL_OK) {
            break;
        }
        methods[count++] = req.method_id;
        pos += used;
        if (req.head.body == KEEL_HTTP_BODY_LENGTH) {
            if (req.head.content_length > payload.len - pos) {
                break;
            }
            pos += (size_t)req.head.content_length;
        } else if (req.head.body == KEEL_HTTP_BODY_CHUNKED) {
            keel_http_chunked d;
            FUZZ_CHECK(keel_http_chunked_init(&d, &g_cfg) == KEEL_OK);
            while (!keel_http_chunked_done(&d)) {
                keel_slice rest = { payload.ptr + pos, payload.len - pos }, data;
                size_t n = 0;
                keel_result r = keel_http_chunked_decode(&d, rest, &data, &n, NULL);
                pos += n;
                if (r != KEEL_OK) {
                    return count;
                }
            }
        }
        if (!req.head.keep_alive) {
            break;
        }
    }
    return count;
}

/* Check the whole answer: complete responses only, in order. */
static void check_answer(const uint8_t *p, size_t len, keel_slice payload)
{
    static keel_http_method methods[METHODS_MAX];
    size_t requests = request_methods(payload, methods);
    keel_http_header headers[32];
    keel_http_parser parser;
    FUZZ_CHECK(keel_http_parser_init(&parser, KEEL_HTTP_RESPONSE, NULL, headers, 32) == KEEL_OK);
    size_t pos = 0, finals = 0;
    bool closed = false;
    while (pos < len) {
        FUZZ_CHECK(!closed); /* nothing after Connection: close */
        keel_slice in = { p + pos, len - pos };
        keel_http_response resp;
        size_t used = 0;
        keel_http_parser_reset(&parser);
        keel_http_method m = finals < requests ? methods[finals] : KEEL_HTTP_GET;
        keel_result r = keel_http_parse_response(&parser, in, m, &resp, &used, NULL);
        FUZZ_CHECK(r == KEEL_OK);
        if (resp.status == 100) {
            pos += used;
            continue;
        }
        FUZZ_CHECK(status_known(resp.status));
        FUZZ_CHECK(resp.head.version_minor == 1);
        keel_slice v;
        FUZZ_CHECK(keel_http_header_get(&resp.head, KEEL_STR("Date"), &v) == KEEL_OK);
        FUZZ_CHECK(keel_http_header_get(&resp.head, KEEL_STR("Server"), &v) == KEEL_OK);
        bool streamed = keel_http_header_get(&resp.head, KEEL_STR("Content-Length"), &v) !=
                        KEEL_OK;
        size_t body = 0;
        if (m == KEEL_HTTP_HEAD) {
            FUZZ_CHECK(resp.head.body == KEEL_HTTP_BODY_NONE);
        } else if (!streamed) {
            FUZZ_CHECK(resp.head.body == KEEL_HTTP_BODY_LENGTH);
            body = (size_t)resp.head.content_length;
            FUZZ_CHECK(len - pos - used >= body); /* the whole body arrived */
        } else if (resp.head.body == KEEL_HTTP_BODY_CHUNKED) {
            /* The streamed route: "ab" in two chunks, complete. */
            keel_http_chunked d;
            FUZZ_CHECK(keel_http_chunked_init(&d, NULL) == KEEL_OK);
            size_t at = pos + used, got = 0;
            while (!keel_http_chunked_done(&d)) {
                keel_slice rest = { p + at, len - at }, data;
                size_t n = 0;
                FUZZ_CHECK(keel_http_chunked_decode(&d, rest, &data, &n, NULL) == KEEL_OK);
                at += n;
                got += data.len;
            }
            FUZZ_CHECK(got == 2);
            body = at - pos - used;
        } else {
            /* HTTP/1.0: the streamed body runs to the close, and is last. */
            FUZZ_CHECK(resp.head.body == KEEL_HTTP_BODY_UNTIL_CLOSE);
            FUZZ_CHECK(len - pos - used == 2);
            body = 2;
        }
        pos += used + body;
        closed = !resp.head.keep_alive;
        finals++;
    }
    FUZZ_CHECK(finals <= requests + 1u);
}

static void pause_briefly(void)
{
    struct timespec ts = { 0, 200 * 1000L }; /* 0.2 ms: separate reads, most likely */
    nanosleep(&ts, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_srv == NULL) {
        start_server();
    }
    fuzz_reader in = { data, size, 0 };
    size_t k = fuzz_u8(&in);
    uint8_t sched[256];
    for (size_t i = 0; i < k; i++) {
        sched[i] = fuzz_u8(&in);
    }
    keel_slice payload = { data + in.pos, size - in.pos };
    if (payload.len > PAYLOAD_MAX) {
        payload.len = PAYLOAD_MAX;
    }
    keel_net *n = NULL;
    FUZZ_CHECK(keel_net_init(&n) == KEEL_OK);
    FUZZ_CHECK(keel_net_connect(n, KEEL_STR("127.0.0.1"), g_port, KEEL_PROTO_TCP, 10000) ==
               KEEL_OK);
    FUZZ_CHECK(keel_net_set_nodelay(n, true) == KEEL_OK);
    uint8_t *answer = malloc(ANSWER_MAX);
    FUZZ_CHECK(answer != NULL);
    keel_buf got;
    FUZZ_CHECK(keel_buf_init(&got, answer, ANSWER_MAX) == KEEL_OK);
    size_t sent = 0;
    bool broken = false;
    for (size_t i = 0; sent < payload.len && !broken; i++) {
        uint8_t code = k == 0 ? 255u : sched[i % k];
        size_t chunk = i >= CHUNKS_MAX ? payload.len : code < 64u ? (size_t)code + 1u : 4096u;
        if (chunk > payload.len - sent) {
            chunk = payload.len - sent;
        }
        keel_slice piece = { payload.ptr + sent, chunk };
        /* The server may have closed after a rejection: a reset is fine. */
        keel_result r = keel_net_send_all(n, piece, 5000, NULL);
        FUZZ_CHECK(r == KEEL_OK || r == KEEL_ERR_RESET || r == KEEL_ERR_TIMEOUT);
        broken = r != KEEL_OK;
        sent += chunk;
        /* Take what was answered meanwhile (the server never waits for it). */
        while (keel_buf_spare(&got) > 0 &&
               keel_net_recv_timeout(n, &got, 0, NULL) == KEEL_OK) {
        }
        pause_briefly();
    }
    keel_result sr = keel_net_shutdown(n, KEEL_SHUT_WR);
    FUZZ_CHECK(sr == KEEL_OK || sr == KEEL_ERR_RESET || sr == KEEL_ERR_CLOSED || broken);
    /* Everything until the server closes (it must, bounded by its timeouts). */
    for (;;) {
        FUZZ_CHECK(keel_buf_spare(&got) > 0);
        keel_result r = keel_net_recv_timeout(n, &got, 10000, NULL);
        if (r == KEEL_ERR_CLOSED || r == KEEL_ERR_RESET) {
            break;
        }
        FUZZ_CHECK(r == KEEL_OK);
    }
    /* A reset may cut the answer short only where the client's own bytes
     * were refused: check whole answers when nothing broke. */
    if (!broken) {
        check_answer(got.ptr, got.len, payload);
    }
    keel_net_free(n);
    free(answer);
    return 0;
}

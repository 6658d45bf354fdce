/*
 * tests/http/http_live_util.h - what the live HTTP tests (server, client)
 * share: a keel HTTP server started in the test process on 127.0.0.1 port
 * 0, raw blocking client connections, and a response reader that frames
 * what arrives with keel's response parser (Content-Length bodies), so
 * that a test can count and check every answer.
 *
 * Include after <cmocka.h> and net_test_util.h. Every wait is bounded.
 */
#ifndef KEEL_TESTS_HTTP_LIVE_UTIL_H
#define KEEL_TESTS_HTTP_LIVE_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keel/http.h"
#include "keel/http_client.h"
#include "keel/http_server.h"
#include "keel/loop.h"
#include "keel/net.h"

/* Every wait is bounded by this (ASan / valgrind on a loaded 2-core VM). */
#define HL_DEADLINE_MS 20000u

static inline keel_http_server *hl_start(keel_http_server_opts *o, uint16_t *port)
{
    o->ip = KEEL_STR("127.0.0.1");
    o->port = 0;
    if (o->threads == 0) {
        o->threads = 1;
    }
    keel_http_server *srv = NULL;
    assert_int_equal(keel_http_server_start(o, &srv), KEEL_OK);
    assert_int_equal(keel_http_server_port(srv, port), KEEL_OK);
    return srv;
}

static inline keel_net *hl_connect(uint16_t port)
{
    keel_net *n = nt_new();
    assert_int_equal(keel_net_connect(n, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 5000),
                     KEEL_OK);
    return n;
}

static inline void hl_send(keel_net *n, const void *p, size_t len)
{
    assert_int_equal(keel_net_send_all(n, nt_slice(p, len), HL_DEADLINE_MS, NULL), KEEL_OK);
}

static inline void hl_send_str(keel_net *n, const char *s)
{
    hl_send(n, s, strlen(s));
}

/* One response as read: status, a few fields, the body (copied). */
typedef struct hl_resp {
    uint16_t status;
    bool close;              /* Connection: close */
    bool keep_alive_field;   /* a Connection field with exactly "keep-alive" */
    bool has_date, has_server;
    uint64_t content_length; /* as the parser frames the body */
    char length_field[24];   /* the Content-Length field as sent ("" if none) */
    char allow[128];
    char body[4096];
    size_t body_len;         /* bytes kept in body */
    bool chunked;            /* the body came chunked */
    uint64_t body_total;     /* chunked: bytes decoded */
    bool pattern_ok;         /* chunked: they follow nt_pattern from 0 */
} hl_resp;

/* The bytes one connection received, and how far they were read. */
typedef struct hl_reader {
    uint8_t *mem;
    size_t cap, len, pos;
    bool eof;
} hl_reader;

static inline void hl_reader_free(hl_reader *r)
{
    free(r->mem);
    memset(r, 0, sizeof *r);
}

/* Receive more (within the deadline): false at EOF or on error. */
static inline bool hl_more(keel_net *n, hl_reader *r, uint32_t timeout_ms)
{
    if (r->cap - r->len < 65536u) {
        size_t cap = r->cap == 0 ? 131072u : r->cap * 2;
        uint8_t *m = realloc(r->mem, cap);
        assert_non_null(m);
        r->mem = m;
        r->cap = cap;
    }
    keel_buf b = { r->mem, r->cap, r->len };
    size_t got = 0;
    keel_result res = keel_net_recv_timeout(n, &b, timeout_ms, &got);
    if (res != KEEL_OK) {
        r->eof = res != KEEL_ERR_TIMEOUT;
        return false;
    }
    r->len = b.len;
    return true;
}

static inline void hl_fill_fields(hl_resp *out, const keel_http_response *resp)
{
    out->status = resp->status;
    out->close = !resp->head.keep_alive;
    out->content_length = resp->head.content_length;
    out->chunked = resp->head.body == KEEL_HTTP_BODY_CHUNKED;
    keel_slice v;
    out->has_date = keel_http_header_get(&resp->head, KEEL_STR("Date"), &v) == KEEL_OK;
    out->has_server = keel_http_header_get(&resp->head, KEEL_STR("Server"), &v) == KEEL_OK;
    out->keep_alive_field = keel_http_header_get(&resp->head, KEEL_STR("Connection"), &v) ==
                                KEEL_OK &&
                            keel_slice_eq(v, KEEL_STR("keep-alive"));
}

/* A chunked body after a head of used bytes at r->pos: decoded as it
 * arrives; out->body keeps its first bytes, out->body_total counts all,
 * out->pattern_ok says whether they follow nt_pattern from 0. */
static inline bool hl_read_chunked(keel_net *n, hl_reader *r, keel_http_parser *p,
                                   keel_http_method method, hl_resp *out, size_t used,
                                   uint64_t end)
{
    keel_http_response resp;
    keel_slice in = nt_slice(r->mem + r->pos, r->len - r->pos);
    keel_http_parser_reset(p);
    assert_int_equal(keel_http_parse_response(p, in, method, &resp, &used, NULL), KEEL_OK);
    hl_fill_fields(out, &resp);
    r->pos += used;
    keel_http_chunked d;
    assert_int_equal(keel_http_chunked_init(&d, NULL), KEEL_OK);
    out->pattern_ok = true;
    while (!keel_http_chunked_done(&d)) {
        keel_slice rest = nt_slice(r->mem + r->pos, r->len - r->pos), data;
        size_t took = 0;
        keel_result res = r->len > r->pos ? keel_http_chunked_decode(&d, rest, &data, &took, NULL)
                                          : KEEL_ERR_INCOMPLETE;
        r->pos += took;
        if (res == KEEL_OK) {
            if (data.len > 0) {
                if (nt_check(data.ptr, data.len, out->body_total) != data.len) {
                    out->pattern_ok = false;
                }
                size_t room = sizeof out->body - 1 - out->body_len;
                size_t copy = data.len < room ? data.len : room;
                memcpy(out->body + out->body_len, data.ptr, copy);
                out->body_len += copy;
                out->body_total += data.len;
            }
            continue;
        }
        assert_int_equal(res, KEEL_ERR_INCOMPLETE);
        /* Keep the reader small: drop what was decoded. */
        memmove(r->mem, r->mem + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
        if (nt_now_ms() > end || (!hl_more(n, r, 1000) && r->eof)) {
            return false;
        }
    }
    return true;
}

/* Read the next response (to method); false if the connection ended (or
 * the deadline passed) before a complete one. */
static inline bool hl_read_as(keel_net *n, hl_reader *r, keel_http_method method, hl_resp *out)
{
    memset(out, 0, sizeof *out);
    keel_http_header headers[64];
    keel_http_parser p;
    assert_int_equal(keel_http_parser_init(&p, KEEL_HTTP_RESPONSE, NULL, headers, 64), KEEL_OK);
    uint64_t end = nt_now_ms() + HL_DEADLINE_MS;
    for (;;) {
        keel_http_response resp;
        size_t used = 0;
        keel_slice in = r->mem == NULL ? keel_slice_empty()
                                       : nt_slice(r->mem + r->pos, r->len - r->pos);
        keel_result res = KEEL_ERR_INCOMPLETE;
        if (in.len > 0) {
            res = keel_http_parse_response(&p, in, method, &resp, &used, NULL);
        }
        if (res == KEEL_OK) {
            if (resp.status < 200) {
                r->pos += used; /* 1xx: the answer follows */
                keel_http_parser_reset(&p);
                continue;
            }
            if (resp.head.body == KEEL_HTTP_BODY_CHUNKED) {
                return hl_read_chunked(n, r, &p, method, out, used, end);
            }
            assert_int_not_equal(resp.head.body, KEEL_HTTP_BODY_UNTIL_CLOSE);
            size_t body = resp.head.body == KEEL_HTTP_BODY_LENGTH ? (size_t)resp.head.content_length
                                                                 : 0;
            while (r->len - r->pos < used + body) {
                if (nt_now_ms() > end || (!hl_more(n, r, 1000) && r->eof)) {
                    return false;
                }
                /* the parsed slices may have moved: parsed again below */
            }
            in = nt_slice(r->mem + r->pos, r->len - r->pos);
            keel_http_parser_reset(&p);
            assert_int_equal(keel_http_parse_response(&p, in, method, &resp, &used, NULL), KEEL_OK);
            hl_fill_fields(out, &resp);
            keel_slice v;
            if (keel_http_header_get(&resp.head, KEEL_STR("Content-Length"), &v) == KEEL_OK &&
                v.len < sizeof out->length_field) {
                memcpy(out->length_field, v.ptr, v.len);
            }
            if (keel_http_header_get(&resp.head, KEEL_STR("Allow"), &v) == KEEL_OK &&
                v.len < sizeof out->allow) {
                memcpy(out->allow, v.ptr, v.len);
            }
            out->body_len = body < sizeof out->body - 1 ? body : sizeof out->body - 1;
            memcpy(out->body, r->mem + r->pos + used, out->body_len);
            r->pos += used + body;
            return true;
        }
        if (res != KEEL_ERR_INCOMPLETE) {
            print_error("malformed response: %s\n", keel_result_str(res));
            fail();
        }
        if (nt_now_ms() > end) {
            return false;
        }
        if (!hl_more(n, r, 1000) && r->eof) {
            return false;
        }
    }
}

static inline bool hl_read(keel_net *n, hl_reader *r, hl_resp *out)
{
    return hl_read_as(n, r, KEEL_HTTP_GET, out);
}

/* Whether the peer closes (EOF or reset) within ms, reading and dropping
 * what arrives (silent: nothing may arrive, the case fails if a byte does);
 * false when it stays open. */
static inline bool hl_closes_within_as(keel_net *n, uint32_t ms, bool silent)
{
    uint64_t end = nt_now_ms() + ms;
    uint8_t junk[4096];
    while (nt_now_ms() < end) {
        keel_buf b = { junk, sizeof junk, 0 };
        keel_result res = keel_net_recv_timeout(n, &b, 100, NULL);
        if (res == KEEL_ERR_CLOSED || res == KEEL_ERR_RESET) {
            return true;
        }
        assert_true(res == KEEL_ERR_TIMEOUT || (res == KEEL_OK && !silent));
    }
    return false;
}

static inline bool hl_closes_within(keel_net *n, uint32_t ms)
{
    return hl_closes_within_as(n, ms, false);
}

/* What one keel_http_fetch reported (fetch_done is its callback). */
typedef struct fetch_seen {
    int calls;
    keel_result r;
    uint16_t status;
    char body[256];
} fetch_seen;

static inline void fetch_done(keel_result r, keel_http_client_response *resp, void *user)
{
    fetch_seen *f = user;
    f->calls++;
    f->r = r;
    if (r == KEEL_OK) {
        assert_non_null(resp);
        f->status = resp->head.status;
        snprintf(f->body, sizeof f->body, "%.*s", (int)resp->body.len,
                 (const char *)resp->body.ptr);
        keel_http_client_response_free(resp);
    } else {
        assert_null(resp);
    }
}

/* Run loop until every fetch has reported (bounded). */
static inline void run_fetches(keel_loop *loop, const fetch_seen *seen, int n)
{
    uint64_t end = nt_now_ms() + HL_DEADLINE_MS;
    for (;;) {
        int done = 0;
        for (int i = 0; i < n; i++) {
            assert_true(seen[i].calls <= 1);
            done += seen[i].calls;
        }
        if (done == n) {
            return;
        }
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
}

#endif /* KEEL_TESTS_HTTP_LIVE_UTIL_H */

/*
 * tests/http/http_test_util.h - what the HTTP tests share: feeding a
 * message to the head parser whole, at every split point and one byte at a
 * time (each offer from a freshly allocated copy, so the bytes move between
 * calls as they do in a growing receive buffer), and rendering the outcome
 * as text so that the three can be compared exactly.
 */
#ifndef KEEL_TESTS_HTTP_TEST_UTIL_H
#define KEEL_TESTS_HTTP_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keel/http.h"

#define HT_MAX_HEADERS 64

/* What one parse gave: the result, consumed, the error, and (on KEEL_OK)
 * the message rendered as text. */
typedef struct ht_outcome {
    keel_result r;
    size_t consumed;
    keel_http_error err;
    char text[8192];
} ht_outcome;

typedef struct ht_text {
    char *buf;
    size_t cap;
    size_t len;
} ht_text;

static void ht_put(ht_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ht_put(ht_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < t->cap - t->len);
    t->len += (size_t)n;
}

/* A slice as text, and a check that it lies inside [base, base + len). */
static void ht_slice(ht_text *t, const char *label, keel_slice s, const uint8_t *base, size_t len)
{
    if (s.len > 0) {
        assert_true(s.ptr >= base && s.ptr + s.len <= base + len);
    }
    ht_put(t, "%s=", label);
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        ht_put(t, c >= 0x20 && c < 0x7F && c != '\\' ? "%c" : "\\x%02x", c);
    }
    ht_put(t, " ");
}

static void ht_render_head(ht_text *t, const keel_http_head *h, const uint8_t *base, size_t len)
{
    ht_put(t, "v=1.%u body=%d cl=%llu ka=%d up=%d n=%zu", h->version_minor, (int)h->body,
           (unsigned long long)h->content_length, h->keep_alive, h->has_upgrade, h->header_count);
    for (size_t i = 0; i < h->header_count; i++) {
        ht_put(t, " |");
        ht_slice(t, "", h->headers[i].name, base, len);
        ht_slice(t, ":", h->headers[i].value, base, len);
    }
}

static void ht_render_request(ht_outcome *o, const keel_http_request *q, const uint8_t *base,
                              size_t len)
{
    ht_text t = { o->text, sizeof(o->text), 0 };
    ht_slice(&t, "method", q->method, base, len);
    ht_put(&t, "id=%d form=%d ", (int)q->method_id, (int)q->form);
    ht_slice(&t, "target", q->target, base, len);
    ht_slice(&t, "path", q->path, base, len);
    ht_slice(&t, "query", q->query, base, len);
    ht_slice(&t, "authority", q->authority, base, len);
    ht_put(&t, "expect=%d/%d ", q->expect_continue, q->expect_other);
    ht_render_head(&t, &q->head, base, len);
}

static void ht_render_response(ht_outcome *o, const keel_http_response *s, const uint8_t *base,
                               size_t len)
{
    ht_text t = { o->text, sizeof(o->text), 0 };
    ht_put(&t, "status=%u ", s->status);
    ht_slice(&t, "reason", s->reason, base, len);
    ht_render_head(&t, &s->head, base, len);
}

/* One offer of in[0, len) from a fresh copy; the outcome rendered while
 * the copy is alive. */
static void ht_offer(keel_http_parser *p, const void *msg, size_t len, keel_http_method method,
                     ht_outcome *o)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, msg, len);
    }
    keel_slice in = { len > 0 ? copy : NULL, len };
    keel_http_error err = { 0, KEEL_HTTP_OK, 0 };
    memset(o, 0, sizeof(*o));
    if (p->kind == KEEL_HTTP_REQUEST) {
        keel_http_request q;
        memset(&q, 0xA5, sizeof(q));
        o->r = keel_http_parse_request(p, in, &q, &o->consumed, &err);
        if (o->r == KEEL_OK) {
            ht_render_request(o, &q, copy, len);
        }
    } else {
        keel_http_response s;
        memset(&s, 0xA5, sizeof(s));
        o->r = keel_http_parse_response(p, in, method, &s, &o->consumed, &err);
        if (o->r == KEEL_OK) {
            ht_render_response(o, &s, copy, len);
        }
    }
    if (o->r == KEEL_ERR_PARSE || o->r == KEEL_ERR_TOO_LARGE) {
        o->err = err;
        assert_int_equal(err.status, keel_http_reason_status(err.reason));
        assert_true(err.offset < len);
    } else {
        assert_int_equal(err.reason, KEEL_HTTP_OK);
    }
    if (o->r == KEEL_OK) {
        assert_true(o->consumed > 0 && o->consumed <= len);
    } else {
        assert_int_equal(o->consumed, 0);
    }
    free(copy);
}

static void ht_init(keel_http_parser *p, keel_http_kind kind, uint32_t lenient,
                    const keel_http_limits *limits, keel_http_header *headers, size_t cap)
{
    keel_http_config cfg = { { 0, 0, 0, 0 }, lenient };
    if (limits != NULL) {
        cfg.limits = *limits;
    }
    assert_int_equal(keel_http_parser_init(p, kind, &cfg, headers, cap), KEEL_OK);
}

static void ht_same(const ht_outcome *a, const ht_outcome *b, const char *how, size_t at)
{
    if (a->r != b->r || a->consumed != b->consumed || a->err.offset != b->err.offset ||
        a->err.reason != b->err.reason || a->err.status != b->err.status ||
        strcmp(a->text, b->text) != 0) {
        fail_msg("%s (%zu): result %d/%d consumed %zu/%zu error %zu:%d/%zu:%d\n  %s\n  %s", how, at,
                 a->r, b->r, a->consumed, b->consumed, a->err.offset, a->err.reason,
                 b->err.offset, b->err.reason, a->text, b->text);
    }
}

/* Parse msg whole, then at every split point (the first k bytes, then
 * all), then one byte at a time; every way must give the same outcome,
 * which is returned. A complete head stops the feeding (the rest is body
 * or the next message). */
static ht_outcome ht_parse_all_ways(keel_http_kind kind, const void *msg, size_t len,
                                    uint32_t lenient, const keel_http_limits *limits,
                                    size_t header_cap, keel_http_method method)
{
    keel_http_header hdrs[HT_MAX_HEADERS];
    keel_http_parser p;
    ht_outcome whole;
    ht_outcome part;
    assert_true(header_cap <= HT_MAX_HEADERS);

    ht_init(&p, kind, lenient, limits, hdrs, header_cap);
    ht_offer(&p, msg, len, method, &whole);

    for (size_t k = 0; k < len; k++) {
        ht_init(&p, kind, lenient, limits, hdrs, header_cap);
        ht_offer(&p, msg, k, method, &part);
        if (part.r == KEEL_ERR_INCOMPLETE) {
            ht_offer(&p, msg, len, method, &part);
        }
        ht_same(&whole, &part, "split", k);
    }

    ht_init(&p, kind, lenient, limits, hdrs, header_cap);
    part.r = KEEL_ERR_INCOMPLETE;
    for (size_t k = 0; k <= len && part.r == KEEL_ERR_INCOMPLETE; k++) {
        ht_offer(&p, msg, k, method, &part);
        if (part.r == KEEL_ERR_INCOMPLETE) {
            /* the resume point is exactly what was offered: nothing is looked at twice */
            assert_int_equal(p.st_.pos, k);
        }
    }
    ht_same(&whole, &part, "byte by byte", len);
    if (part.r == KEEL_ERR_PARSE || part.r == KEEL_ERR_TOO_LARGE) {
        /* sticky, even with more bytes */
        ht_outcome again;
        ht_offer(&p, msg, len, method, &again);
        ht_same(&part, &again, "sticky", len);
        keel_http_error e = keel_http_parser_error(&p);
        assert_int_equal(e.reason, part.err.reason);
        assert_int_equal(e.offset, part.err.offset);
    }
    return whole;
}

#define HT_LEN(lit) (sizeof(lit) - 1u)

#endif /* KEEL_TESTS_HTTP_TEST_UTIL_H */

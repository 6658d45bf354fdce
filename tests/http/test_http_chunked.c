/*
 * tests/http/test_http_chunked.c - the chunked transfer coding
 * (keel/http.h): decoding with extensions and trailers, whole, at every
 * split point and one byte per call, with the same data and the same error
 * every way; every chunked rejection reason with its offset and status
 * (0x, sign, '_', whitespace and empty sizes, overflow, extension syntax and
 * limit, the CRLF after data, trailers and their limit, bare CR/LF); the
 * encoder (all or nothing) and a round trip; guard pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "guard_page.h"
#include "keel/http.h"

#define LIT_LEN(lit) (sizeof(lit) - 1u)

/* What decoding a body gave: the data (concatenated), the bytes consumed
 * in total, and the final result and error. */
typedef struct decoded {
    keel_result r;
    size_t consumed;
    keel_http_error err;
    bool done;
    size_t data_len;
    uint8_t data[4096];
} decoded;

/* Offer in[start, end) from a fresh copy (the bytes move between calls)
 * and keep decoding while pieces of data come out. */
static keel_result feed(keel_http_chunked *d, const uint8_t *body, size_t start, size_t end,
                        decoded *out)
{
    keel_result r = KEEL_OK;
    while (r == KEEL_OK && !keel_http_chunked_done(d)) {
        size_t n = end - start;
        uint8_t *copy = malloc(n > 0 ? n : 1);
        assert_non_null(copy);
        if (n > 0) {
            memcpy(copy, body + start, n);
        }
        keel_slice in = { n > 0 ? copy : NULL, n };
        keel_slice data = { (const uint8_t *)"x", 1 };
        size_t consumed = 99;
        keel_http_error err = { 0, KEEL_HTTP_OK, 0 };
        r = keel_http_chunked_decode(d, in, &data, &consumed, &err);
        assert_true(consumed <= n);
        if (data.len > 0) {
            assert_int_equal(r, KEEL_OK);
            assert_true(data.ptr >= copy && data.ptr + data.len == copy + consumed);
            assert_true(out->data_len + data.len <= sizeof(out->data));
            memcpy(out->data + out->data_len, data.ptr, data.len);
            out->data_len += data.len;
        }
        if (r == KEEL_ERR_INCOMPLETE) {
            assert_int_equal(consumed, n);
            assert_int_equal(data.len, 0);
        }
        if (r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE) {
            assert_int_equal(consumed, 0);
            assert_int_equal(err.status, keel_http_reason_status(err.reason));
            out->err = err;
        }
        free(copy);
        start += consumed;
        out->consumed += consumed;
        if (r == KEEL_OK && data.len == 0) {
            assert_true(keel_http_chunked_done(d));
        }
        if (n == 0) {
            break;
        }
    }
    out->r = r;
    out->done = keel_http_chunked_done(d);
    return r;
}

static void init_decoder(keel_http_chunked *d, uint32_t lenient, uint32_t max_ext,
                         uint32_t max_trailer)
{
    keel_http_config cfg = { { 0, 0, max_ext, max_trailer }, lenient };
    assert_int_equal(keel_http_chunked_init(d, &cfg), KEEL_OK);
}

static void same(const decoded *a, const decoded *b, const char *how, size_t k)
{
    bool failed = a->r == KEEL_ERR_PARSE || a->r == KEEL_ERR_TOO_LARGE;
    if (a->r != b->r || (!failed && a->consumed != b->consumed) || a->done != b->done ||
        a->err.reason != b->err.reason || a->err.offset != b->err.offset ||
        a->data_len != b->data_len || memcmp(a->data, b->data, a->data_len) != 0) {
        fail_msg("%s at %zu: result %d/%d consumed %zu/%zu error %d@%zu/%d@%zu data %zu/%zu", how,
                 k, a->r, b->r, a->consumed, b->consumed, a->err.reason, a->err.offset,
                 b->err.reason, b->err.offset, a->data_len, b->data_len);
    }
}

/* Decode body whole, split at every point, and one byte per call; all must
 * agree. */
static decoded decode_all_ways(const char *body, size_t len, uint32_t lenient, uint32_t max_ext,
                               uint32_t max_trailer)
{
    const uint8_t *b = (const uint8_t *)body;
    keel_http_chunked d;
    decoded whole;
    memset(&whole, 0, sizeof(whole));
    init_decoder(&d, lenient, max_ext, max_trailer);
    feed(&d, b, 0, len, &whole);
    for (size_t k = 0; k <= len; k++) {
        decoded part;
        memset(&part, 0, sizeof(part));
        init_decoder(&d, lenient, max_ext, max_trailer);
        if (feed(&d, b, 0, k, &part) == KEEL_ERR_INCOMPLETE) {
            feed(&d, b, part.consumed, len, &part);
        }
        same(&whole, &part, "split", k);
    }
    decoded bytes;
    memset(&bytes, 0, sizeof(bytes));
    init_decoder(&d, lenient, max_ext, max_trailer);
    bytes.r = KEEL_ERR_INCOMPLETE;
    for (size_t k = 0; k < len && bytes.r == KEEL_ERR_INCOMPLETE; k++) {
        feed(&d, b, k, k + 1, &bytes);
    }
    if (len == 0) {
        feed(&d, b, 0, 0, &bytes);
    }
    same(&whole, &bytes, "byte by byte", len);
    if (whole.r == KEEL_ERR_PARSE || whole.r == KEEL_ERR_TOO_LARGE) {
        /* sticky */
        keel_slice more = KEEL_STR("0\r\n\r\n");
        keel_slice data;
        size_t consumed;
        keel_http_error err;
        assert_int_equal(keel_http_chunked_decode(&d, more, &data, &consumed, &err), whole.r);
        assert_int_equal(err.reason, whole.err.reason);
        assert_int_equal(err.offset, whole.err.offset);
    }
    return whole;
}

static void expect_body(const char *body, size_t len, uint32_t lenient, const char *data)
{
    decoded o = decode_all_ways(body, len, lenient, 0, 0);
    if (o.r != KEEL_OK || !o.done) {
        fail_msg("expected a complete body, got %d (%s at %zu) for %s", o.r,
                 keel_http_reason_str(o.err.reason), o.err.offset, body);
    }
    assert_int_equal(o.consumed, len);
    assert_int_equal(o.data_len, strlen(data));
    assert_memory_equal(o.data, data, o.data_len);
}

typedef struct chunk_reject {
    const char *body;
    size_t len;
    uint32_t lenient;
    keel_http_reason reason;
    uint16_t status;
    size_t offset;
} chunk_reject;

#define CREJ(b, lenient, reason, status, off) { b, LIT_LEN(b), lenient, reason, status, off }

static void expect_rejections(const chunk_reject *cases, size_t n, uint32_t max_ext,
                              uint32_t max_trailer)
{
    for (size_t i = 0; i < n; i++) {
        const chunk_reject *c = &cases[i];
        decoded o = decode_all_ways(c->body, c->len, c->lenient, max_ext, max_trailer);
        keel_result want = c->status == 413 || c->status == 431 ||
                                   c->reason == KEEL_HTTP_CHUNK_EXT_TOO_LARGE
                               ? KEEL_ERR_TOO_LARGE
                               : KEEL_ERR_PARSE;
        if (o.r != want || o.err.reason != c->reason || o.err.offset != c->offset ||
            o.err.status != c->status) {
            fail_msg("case %zu: want %s at %zu (%u), got %d %s at %zu (%u)", i,
                     keel_http_reason_str(c->reason), c->offset, c->status, o.r,
                     keel_http_reason_str(o.err.reason), o.err.offset, o.err.status);
        }
    }
}

/* ---- decoding ------------------------------------------------------------------------ */

static void test_decode_chunks_extensions_and_trailers(void **state)
{
    (void)state;
    static const char simple[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    expect_body(simple, LIT_LEN(simple), 0, "hello world");
    static const char ext[] = "4;a=1;b\r\nWiki\r\n5 ; name = \"q\\\"t;\" ;x\r\npedia\r\n"
                              "E;\tz=tok\r\n in\r\n\r\nchunks.\r\n000\r\n\r\n";
    expect_body(ext, LIT_LEN(ext), 0, "Wikipedia in\r\n\r\nchunks.");
    static const char trailers[] = "3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:  \t1 \r\n\r\n";
    expect_body(trailers, LIT_LEN(trailers), 0, "abc");
    static const char upper[] = "A\r\n0123456789\r\n1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n";
    expect_body(upper, LIT_LEN(upper), 0, "01234567890123456789012345678901234567890");
    static const char lf[] = "3\nabc\n0\nX: 1\n\n";
    expect_body(lf, LIT_LEN(lf), KEEL_HTTP_LENIENT_BARE_LF, "abc");
    static const char empty[] = "0\r\n\r\n";
    expect_body(empty, LIT_LEN(empty), 0, "");
    static const char lead[] = "00000000000000000000000001\r\nx\r\n0\r\n\r\n";
    expect_body(lead, LIT_LEN(lead), 0, "x");
}

static void test_decode_stops_at_the_end_of_the_body(void **state)
{
    (void)state;
    /* bytes after the body (the next message) are not consumed */
    static const char body[] = "2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    keel_http_chunked d;
    init_decoder(&d, 0, 0, 0);
    keel_slice in = { (const uint8_t *)body, LIT_LEN(body) };
    keel_slice data;
    size_t consumed = 0;
    size_t at = 0;
    assert_int_equal(keel_http_chunked_decode(&d, in, &data, &consumed, NULL), KEEL_OK);
    assert_int_equal(data.len, 2);
    assert_memory_equal(data.ptr, "hi", 2);
    at += consumed;
    keel_slice rest;
    assert_int_equal(keel_slice_from_off(in, at, &rest), KEEL_OK);
    assert_int_equal(keel_http_chunked_decode(&d, rest, &data, &consumed, NULL), KEEL_OK);
    assert_int_equal(data.len, 0);
    assert_true(keel_http_chunked_done(&d));
    at += consumed;
    assert_int_equal(at, LIT_LEN(body) - 16);
    /* done: nothing more is consumed */
    assert_int_equal(keel_slice_from_off(in, at, &rest), KEEL_OK);
    assert_int_equal(keel_http_chunked_decode(&d, rest, &data, &consumed, NULL), KEEL_OK);
    assert_int_equal(consumed, 0);
    /* a large chunk comes out in the pieces offered */
    init_decoder(&d, 0, 0, 0);
    static const char big[] = "10\r\n0123456789abcdef\r\n0\r\n\r\n";
    keel_slice part = { (const uint8_t *)big, 10 };
    assert_int_equal(keel_http_chunked_decode(&d, part, &data, &consumed, NULL), KEEL_OK);
    assert_int_equal(data.len, 6);
    assert_int_equal(consumed, 10);
    assert_memory_equal(data.ptr, "012345", 6);
}

/* ---- rejections ----------------------------------------------------------------------- */

static void test_reject_chunk_sizes(void **state)
{
    (void)state;
    static const chunk_reject cases[] = {
        CREJ("0x5\r\nhello\r\n0\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 1),
        CREJ("+5\r\nhello\r\n0\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 0),
        CREJ("-5\r\nhello\r\n0\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 0),
        CREJ("5_0\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 1),
        CREJ(" 5\r\nhello\r\n0\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 0),
        CREJ("5 \r\nhello\r\n0\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 2),
        CREJ("5 0\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 2),
        CREJ("\r\nhello\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 0),
        CREJ(";ext\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 0),
        CREJ("g\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 0),
        CREJ("5\r\nhello\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 10),
        CREJ("\xef\xbc\x95\r\n", 0, KEEL_HTTP_BAD_CHUNK_SIZE, 400, 0),
        /* 2^64: overflow at the 17th digit, leading zeros do not count */
        CREJ("10000000000000000\r\n", 0, KEEL_HTTP_CHUNK_SIZE_TOO_LARGE, 413, 16),
        CREJ("0000ffffffffffffffff0\r\n", 0, KEEL_HTTP_CHUNK_SIZE_TOO_LARGE, 413, 20),
    };
    expect_rejections(cases, KT_COUNT(cases), 0, 0);
    /* the largest size is accepted (its data is then incomplete) */
    keel_http_chunked d;
    init_decoder(&d, 0, 0, 0);
    keel_slice in = KEEL_STR("ffffffffffffffff\r\nab");
    keel_slice data;
    size_t consumed;
    assert_int_equal(keel_http_chunked_decode(&d, in, &data, &consumed, NULL), KEEL_OK);
    assert_int_equal(data.len, 2);
}

static void test_reject_chunk_extensions(void **state)
{
    (void)state;
    static const chunk_reject cases[] = {
        CREJ("5;\r\nhello\r\n0\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 2),
        CREJ("5; \r\nhello\r\n0\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 3),
        CREJ("5;=x\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 2),
        CREJ("5;a=\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 4),
        CREJ("5;a b\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 4),
        CREJ("5;a \r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 4),
        CREJ("5;a=b c\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 6),
        CREJ("5;a=b \r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 6),
        CREJ("5;a=\"b\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 6),
        CREJ("5;a=\"b\"c\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 7),
        CREJ("5;a=\"\\\x01\"\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 6),
        CREJ("5;a=\"\x7f\"\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 5),
        CREJ("5;a(\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 3),
        CREJ("5;a\0\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 3),
        CREJ("5;a=b;\r\n", 0, KEEL_HTTP_BAD_CHUNK_EXT, 400, 6),
    };
    expect_rejections(cases, KT_COUNT(cases), 0, 0);
    /* the limit: ";abcd" is 5 extension bytes */
    static const char body[] = "1;abcd\r\nx\r\n0\r\n\r\n";
    decoded o = decode_all_ways(body, LIT_LEN(body), 0, 5, 0);
    assert_int_equal(o.r, KEEL_OK);
    static const chunk_reject over[] = {
        CREJ("1;abcd\r\nx\r\n0\r\n\r\n", 0, KEEL_HTTP_CHUNK_EXT_TOO_LARGE, 400, 5),
        CREJ("1     \r\nx\r\n", 0, KEEL_HTTP_CHUNK_EXT_TOO_LARGE, 400, 5),
    };
    expect_rejections(over, KT_COUNT(over), 4, 0);
    /* the default limit (1024) */
    char big[1100];
    memset(big, 'a', sizeof(big));
    memcpy(big, "1;", 2);
    memcpy(big + 1025, "\r\nx\r\n0\r\n\r\n", 10);
    o = decode_all_ways(big, 1035, 0, 0, 0);
    assert_int_equal(o.r, KEEL_OK);
    memcpy(big + 1025, "a\r\nx\r\n0\r\n\r\n", 11);
    o = decode_all_ways(big, 1036, 0, 0, 0);
    assert_int_equal(o.err.reason, KEEL_HTTP_CHUNK_EXT_TOO_LARGE);
    assert_int_equal(o.err.offset, 1025);
}

static void test_reject_chunk_ends_and_line_endings(void **state)
{
    (void)state;
    static const chunk_reject cases[] = {
        CREJ("5\r\nhelloX\r\n0\r\n\r\n", 0, KEEL_HTTP_BAD_CHUNK_END, 400, 8),
        CREJ("5\r\nhello world\r\n", 0, KEEL_HTTP_BAD_CHUNK_END, 400, 8),
        CREJ("5\r\nhello\rX", 0, KEEL_HTTP_BARE_CR, 400, 9),
        CREJ("5\r\nhello\n0\r\n\r\n", 0, KEEL_HTTP_BARE_LF, 400, 8),
        CREJ("5\rXhello\r\n", 0, KEEL_HTTP_BARE_CR, 400, 2),
        CREJ("5\nhello\r\n", 0, KEEL_HTTP_BARE_LF, 400, 1),
        CREJ("5;a\nhello\r\n", 0, KEEL_HTTP_BARE_LF, 400, 3),
        CREJ("5;a=\"b\"\nhello\r\n", 0, KEEL_HTTP_BARE_LF, 400, 7),
        CREJ("0\r\n\rX", 0, KEEL_HTTP_BARE_CR, 400, 4),
        CREJ("0\r\n\n", 0, KEEL_HTTP_BARE_LF, 400, 3),
        CREJ("0\r\nX: 1\n\r\n", 0, KEEL_HTTP_BARE_LF, 400, 7),
        CREJ("0\r\nX: 1\r\r\n", 0, KEEL_HTTP_BARE_CR, 400, 8),
        CREJ("1\nx\r0\n\n", KEEL_HTTP_LENIENT_BARE_LF, KEEL_HTTP_BARE_CR, 400, 4),
    };
    expect_rejections(cases, KT_COUNT(cases), 0, 0);
}

static void test_reject_trailers(void **state)
{
    (void)state;
    static const chunk_reject cases[] = {
        CREJ("0\r\n folded\r\n\r\n", 0, KEEL_HTTP_BAD_TRAILER, 400, 3),
        CREJ("0\r\nX : 1\r\n\r\n", 0, KEEL_HTTP_BAD_TRAILER, 400, 4),
        CREJ("0\r\nX\r\n\r\n", 0, KEEL_HTTP_BAD_TRAILER, 400, 4),
        CREJ("0\r\n: 1\r\n\r\n", 0, KEEL_HTTP_BAD_TRAILER, 400, 3),
        CREJ("0\r\nX: a\0b\r\n\r\n", 0, KEEL_HTTP_BAD_TRAILER, 400, 7),
        CREJ("0\r\nX: a\x7f\r\n\r\n", 0, KEEL_HTTP_BAD_TRAILER, 400, 7),
        CREJ("0\r\nX\xff: 1\r\n\r\n", 0, KEEL_HTTP_BAD_TRAILER, 400, 4),
    };
    expect_rejections(cases, KT_COUNT(cases), 0, 0);
    /* the limit counts the trailer section, the final CRLF included:
     * "X: 1\r\n\r\n" is 8 bytes */
    static const char body[] = "0\r\nX: 1\r\n\r\n";
    decoded o = decode_all_ways(body, LIT_LEN(body), 0, 0, 8);
    assert_int_equal(o.r, KEEL_OK);
    static const chunk_reject over[] = {
        CREJ("0\r\nX: 1\r\n\r\n", 0, KEEL_HTTP_TRAILERS_TOO_LARGE, 431, 10),
        CREJ("0\r\nX: 12345678\r\n\r\n", 0, KEEL_HTTP_TRAILERS_TOO_LARGE, 431, 10),
        CREJ("0\r\nA: 1\r\nB: 2\r\n\r\n", 0, KEEL_HTTP_TRAILERS_TOO_LARGE, 431, 10),
    };
    expect_rejections(over, KT_COUNT(over), 0, 7);
}

static void test_errors_are_sticky_and_arguments_checked(void **state)
{
    (void)state;
    keel_http_chunked d;
    keel_slice data;
    size_t consumed = 5;
    keel_http_config cfg = { { 0, 0, 0, KEEL_HTTP_LIMIT_CAP + 1u }, 0 };
    assert_int_equal(keel_http_chunked_init(NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_init(&d, &cfg), KEEL_ERR_INVALID_ARG);
    cfg.limits.max_trailer_bytes = 0;
    cfg.lenient = 0x100;
    assert_int_equal(keel_http_chunked_init(&d, &cfg), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_init(&d, NULL), KEEL_OK);
    assert_int_equal(d.cfg.limits.max_chunk_ext, KEEL_HTTP_DEFAULT_MAX_CHUNK_EXT);
    assert_int_equal(d.cfg.limits.max_trailer_bytes, KEEL_HTTP_DEFAULT_MAX_TRAILER_BYTES);
    keel_slice in = KEEL_STR("zz");
    keel_slice bad = { NULL, 1 };
    assert_int_equal(keel_http_chunked_decode(NULL, in, &data, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_decode(&d, bad, &data, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_decode(&d, in, NULL, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_decode(&d, in, &data, NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(consumed, 5);
    keel_http_chunked broken = d;
    broken.state_ = 1000;
    assert_int_equal(keel_http_chunked_decode(&broken, in, &data, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    assert_false(keel_http_chunked_done(NULL));
    /* an empty offer is INCOMPLETE, consuming nothing */
    keel_slice none = { NULL, 0 };
    assert_int_equal(keel_http_chunked_decode(&d, none, &data, &consumed, NULL), KEEL_ERR_INCOMPLETE);
    assert_int_equal(consumed, 0);
    keel_http_error err;
    assert_int_equal(keel_http_chunked_decode(&d, in, &data, &consumed, &err), KEEL_ERR_PARSE);
    assert_int_equal(err.reason, KEEL_HTTP_BAD_CHUNK_SIZE);
    assert_int_equal(err.status, 400);
    keel_slice good = KEEL_STR("0\r\n\r\n");
    assert_int_equal(keel_http_chunked_decode(&d, good, &data, &consumed, &err), KEEL_ERR_PARSE);
    assert_int_equal(consumed, 0);
    assert_int_equal(data.len, 0);
    /* offsets count from the body's first byte across calls */
    assert_int_equal(keel_http_chunked_init(&d, NULL), KEEL_OK);
    keel_slice first = KEEL_STR("3\r\nabc\r");
    assert_int_equal(keel_http_chunked_decode(&d, first, &data, &consumed, &err), KEEL_OK);
    assert_int_equal(consumed, 6);
    assert_int_equal(data.len, 3);
    keel_slice second = KEEL_STR("\r");
    assert_int_equal(keel_http_chunked_decode(&d, second, &data, &consumed, &err), KEEL_ERR_INCOMPLETE);
    assert_int_equal(consumed, 1);
    keel_slice third = KEEL_STR("X\n");
    assert_int_equal(keel_http_chunked_decode(&d, third, &data, &consumed, &err), KEEL_ERR_PARSE);
    assert_int_equal(err.reason, KEEL_HTTP_BARE_CR);
    assert_int_equal(err.offset, 7);
}

/* ---- encoding -------------------------------------------------------------------------- */

static void test_encode_chunks_all_or_nothing(void **state)
{
    (void)state;
    uint8_t storage[64];
    keel_buf out;
    assert_int_equal(keel_buf_init(&out, storage, sizeof(storage)), KEEL_OK);
    assert_int_equal(keel_http_chunked_encode(&out, KEEL_STR("hello")), KEEL_OK);
    assert_int_equal(keel_http_chunked_encode(&out, KEEL_STR("0123456789abcdefg")), KEEL_OK);
    assert_int_equal(keel_http_chunked_encode_last(&out), KEEL_OK);
    static const char want[] = "5\r\nhello\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n";
    assert_int_equal(out.len, LIT_LEN(want));
    assert_memory_equal(storage, want, out.len);
    /* it decodes back */
    decoded o = decode_all_ways((const char *)storage, out.len, 0, 0, 0);
    assert_int_equal(o.r, KEEL_OK);
    assert_int_equal(o.data_len, 22);
    assert_memory_equal(o.data, "hello0123456789abcdefg", 22);

    /* no room: nothing written */
    keel_buf small;
    uint8_t tiny[9];
    assert_int_equal(keel_buf_init(&small, tiny, sizeof(tiny)), KEEL_OK);
    assert_int_equal(keel_http_chunked_encode(&small, KEEL_STR("hello")), KEEL_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    assert_int_equal(keel_http_chunked_encode(&small, KEEL_STR("hell")), KEEL_OK);
    assert_int_equal(small.len, 9);
    assert_int_equal(keel_http_chunked_encode_last(&small), KEEL_ERR_TOO_LARGE);
    assert_int_equal(small.len, 9);
    small.len = 5;
    assert_int_equal(keel_http_chunked_encode_last(&small), KEEL_ERR_TOO_LARGE);
    assert_int_equal(small.len, 5);
    small.len = 4;
    assert_int_equal(keel_http_chunked_encode_last(&small), KEEL_OK);
    assert_int_equal(small.len, 9);
    /* invalid arguments */
    keel_slice empty = { NULL, 0 };
    keel_slice bad = { NULL, 2 };
    assert_int_equal(keel_http_chunked_encode(&out, empty), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_encode(&out, bad), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_encode(NULL, KEEL_STR("x")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_encode_last(NULL), KEEL_ERR_INVALID_ARG);
    keel_buf broken = { storage, 4, 8 };
    assert_int_equal(keel_http_chunked_encode(&broken, KEEL_STR("x")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_chunked_encode_last(&broken), KEEL_ERR_INVALID_ARG);
}

static void test_encode_size_digits(void **state)
{
    (void)state;
    static uint8_t data[70000];
    static uint8_t storage[70100];
    memset(data, 'z', sizeof(data));
    static const struct {
        size_t n;
        const char *prefix;
    } cases[] = { { 1, "1\r\n" },     { 15, "f\r\n" },     { 16, "10\r\n" },
                  { 255, "ff\r\n" },  { 256, "100\r\n" },  { 4096, "1000\r\n" },
                  { 65535, "ffff\r\n" }, { 65536, "10000\r\n" }, { 70000, "11170\r\n" } };
    for (size_t i = 0; i < KT_COUNT(cases); i++) {
        keel_buf out;
        assert_int_equal(keel_buf_init(&out, storage, sizeof(storage)), KEEL_OK);
        keel_slice s = { data, cases[i].n };
        assert_int_equal(keel_http_chunked_encode(&out, s), KEEL_OK);
        size_t p = strlen(cases[i].prefix);
        assert_int_equal(out.len, p + cases[i].n + 2);
        assert_memory_equal(storage, cases[i].prefix, p);
        /* exactly the room needed fits, one byte less does not */
        assert_int_equal(keel_buf_init(&out, storage, p + cases[i].n + 2), KEEL_OK);
        assert_int_equal(keel_http_chunked_encode(&out, s), KEEL_OK);
        assert_int_equal(keel_buf_init(&out, storage, p + cases[i].n + 1), KEEL_OK);
        assert_int_equal(keel_http_chunked_encode(&out, s), KEEL_ERR_TOO_LARGE);
        assert_int_equal(out.len, 0);
    }
}

/* ---- guard pages ------------------------------------------------------------------------- */

static void test_guard_every_truncation_stays_in_bounds(void **state)
{
    (void)state;
    static const char body[] = "4;a=\"x\\\"\"\r\nWiki\r\n0\r\nT: v\r\n\r\n";
    size_t len = LIT_LEN(body);
    for (size_t k = 0; k <= len; k++) {
        guard_region g;
        uint8_t *p = guard_alloc(&g, body, k);
        assert_non_null(p);
        keel_http_chunked d;
        init_decoder(&d, 0, 0, 0);
        keel_slice in = { k > 0 ? p : NULL, k };
        keel_slice data;
        size_t consumed = 0;
        size_t at = 0;
        keel_result r;
        do {
            keel_slice rest;
            assert_int_equal(keel_slice_from_off(in, at, &rest), KEEL_OK);
            r = keel_http_chunked_decode(&d, rest, &data, &consumed, NULL);
            at += consumed;
        } while (r == KEEL_OK && !keel_http_chunked_done(&d));
        assert_int_equal(r, k == len ? KEEL_OK : KEEL_ERR_INCOMPLETE);
        assert_int_equal(at, k);
        guard_free(&g);
    }
    static const char *const bad[] = { "5;a=\"", "0\r\nX\x01", "1\r\nx\rZ", "fffffffffffffffff" };
    for (size_t m = 0; m < KT_COUNT(bad); m++) {
        size_t n = strlen(bad[m]);
        guard_region g;
        uint8_t *p = guard_alloc(&g, bad[m], n);
        assert_non_null(p);
        keel_http_chunked d;
        init_decoder(&d, 0, 0, 0);
        keel_slice in = { p, n };
        keel_slice data;
        size_t consumed = 0;
        keel_result r = keel_http_chunked_decode(&d, in, &data, &consumed, NULL);
        if (r == KEEL_OK) {
            keel_slice rest;
            assert_int_equal(keel_slice_from_off(in, consumed, &rest), KEEL_OK);
            r = keel_http_chunked_decode(&d, rest, &data, &consumed, NULL);
        }
        assert_true(r == KEEL_ERR_INCOMPLETE || r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE);
        guard_free(&g);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_chunks_extensions_and_trailers),
        cmocka_unit_test(test_decode_stops_at_the_end_of_the_body),
        cmocka_unit_test(test_reject_chunk_sizes),
        cmocka_unit_test(test_reject_chunk_extensions),
        cmocka_unit_test(test_reject_chunk_ends_and_line_endings),
        cmocka_unit_test(test_reject_trailers),
        cmocka_unit_test(test_errors_are_sticky_and_arguments_checked),
        cmocka_unit_test(test_encode_chunks_all_or_nothing),
        cmocka_unit_test(test_encode_size_digits),
        cmocka_unit_test(test_guard_every_truncation_stays_in_bounds),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

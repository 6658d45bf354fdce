/*
 * tests/http/test_http_parse.c - the HTTP/1.1 head parser (keel/http.h):
 * every request-target form and method, field values, keep-alive, response
 * framing; every rejection reason with a minimal input, its status and its
 * offset; the request-smuggling literature (CL.TE, TE.CL, TE.TE
 * obfuscations, duplicate and list-valued Content-Length, signed / hex /
 * padded numbers, bare CR and LF everywhere, obs-fold, NUL and obs-text,
 * HTTP/0.9 and absurd versions); limits at exactly their value and one
 * past; linear work on a trickled head; guard pages.
 *
 * Every message goes through ht_parse_all_ways (http_test_util.h): whole,
 * split at every point, and one byte per call from a moving buffer, with
 * the same outcome required each time.
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
#include "http/http_test_util.h"
#include "keel/http.h"

/* ---- helpers --------------------------------------------------------------- */

static keel_http_header g_hdrs[HT_MAX_HEADERS];

/* Parse msg (every way) and expect a complete request head of len bytes
 * (consumed == len unless body bytes follow); *q refers to msg itself. */
static void request_ok_n(const char *msg, size_t len, uint32_t lenient, keel_http_request *q,
                         size_t *consumed)
{
    ht_outcome o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, len, lenient, NULL, HT_MAX_HEADERS,
                                     KEEL_HTTP_GET);
    if (o.r != KEEL_OK) {
        fail_msg("expected a request head, got %d (%s at %zu) for %s", o.r,
                 keel_http_reason_str(o.err.reason), o.err.offset, msg);
    }
    keel_http_parser p;
    ht_init(&p, KEEL_HTTP_REQUEST, lenient, NULL, g_hdrs, HT_MAX_HEADERS);
    keel_slice in = { (const uint8_t *)msg, len };
    assert_int_equal(keel_http_parse_request(&p, in, q, consumed, NULL), KEEL_OK);
    assert_int_equal(*consumed, o.consumed);
}

static void request_ok(const char *msg, uint32_t lenient, keel_http_request *q)
{
    size_t consumed = 0;
    request_ok_n(msg, strlen(msg), lenient, q, &consumed);
    assert_int_equal(consumed, strlen(msg));
}

static void response_ok(const char *msg, keel_http_method method, uint32_t lenient,
                        keel_http_response *s)
{
    size_t len = strlen(msg);
    ht_outcome o = ht_parse_all_ways(KEEL_HTTP_RESPONSE, msg, len, lenient, NULL, HT_MAX_HEADERS,
                                     method);
    if (o.r != KEEL_OK) {
        fail_msg("expected a response head, got %d (%s at %zu) for %s", o.r,
                 keel_http_reason_str(o.err.reason), o.err.offset, msg);
    }
    keel_http_parser p;
    size_t consumed = 0;
    ht_init(&p, KEEL_HTTP_RESPONSE, lenient, NULL, g_hdrs, HT_MAX_HEADERS);
    keel_slice in = { (const uint8_t *)msg, len };
    assert_int_equal(keel_http_parse_response(&p, in, method, s, &consumed, NULL), KEEL_OK);
    assert_int_equal(consumed, len);
}

static void expect_slice(keel_slice s, const char *text)
{
    size_t n = strlen(text);
    if (s.len != n || (n > 0 && memcmp(s.ptr, text, n) != 0)) {
        fail_msg("expected '%s', got '%.*s'", text, (int)s.len, s.len > 0 ? (const char *)s.ptr : "");
    }
}

static void expect_header(const keel_http_head *h, const char *name, const char *value)
{
    keel_slice v;
    assert_int_equal(keel_http_header_get(h, keel_slice_cstr(name), &v), KEEL_OK);
    expect_slice(v, value);
}

/* A rejection: the message, where the offending byte is (the first
 * occurrence of `at` plus delta), the reason (its status is checked
 * against keel_http_reason_status and, when given, `status`). */
typedef struct reject_case {
    const char *msg;
    size_t len;
    uint32_t lenient;
    keel_http_reason reason;
    uint16_t status;
    const char *at;
    int delta;
} reject_case;

#define REJ(m, lenient, reason, status, at, delta) { m, HT_LEN(m), lenient, reason, status, at, delta }

static size_t offset_of(const reject_case *c)
{
    const char *hit = memmem(c->msg, c->len, c->at, strlen(c->at));
    if (hit == NULL) {
        fail_msg("marker '%s' not in the message", c->at);
    }
    return (size_t)(hit - c->msg) + (size_t)(ptrdiff_t)c->delta;
}

static void expect_rejections(keel_http_kind kind, const reject_case *cases, size_t n,
                              const keel_http_limits *limits, size_t cap, keel_http_method method)
{
    for (size_t i = 0; i < n; i++) {
        const reject_case *c = &cases[i];
        ht_outcome o = ht_parse_all_ways(kind, c->msg, c->len, c->lenient, limits, cap, method);
        keel_result want = c->status == 413 || c->status == 414 || c->status == 431 ||
                                   c->reason == KEEL_HTTP_METHOD_TOO_LONG ||
                                   c->reason == KEEL_HTTP_START_LINE_TOO_LONG
                               ? KEEL_ERR_TOO_LARGE
                               : KEEL_ERR_PARSE;
        size_t off = offset_of(c);
        if (o.r != want || o.err.reason != c->reason || o.err.offset != off ||
            o.err.status != c->status) {
            fail_msg("case %zu (%.*s): want %d %s at %zu status %u, got %d %s at %zu status %u", i,
                     (int)(c->len < 60 ? c->len : 60), c->msg, want,
                     keel_http_reason_str(c->reason), off, c->status, o.r,
                     keel_http_reason_str(o.err.reason), o.err.offset, o.err.status);
        }
    }
}

#define EXPECT_REQ_REJECTIONS(cases) \
    expect_rejections(KEEL_HTTP_REQUEST, cases, KT_COUNT(cases), NULL, HT_MAX_HEADERS, KEEL_HTTP_GET)

/* ---- requests: what is accepted ---------------------------------------------- */

static void test_request_origin_form_with_query_and_escapes(void **state)
{
    (void)state;
    keel_http_request q;
    request_ok("GET /a/b%20c?x=1&y=%2F?z HTTP/1.1\r\nHost: example.com\r\n\r\n", 0, &q);
    expect_slice(q.method, "GET");
    assert_int_equal(q.method_id, KEEL_HTTP_GET);
    assert_int_equal(q.form, KEEL_HTTP_ORIGIN_FORM);
    expect_slice(q.target, "/a/b%20c?x=1&y=%2F?z");
    expect_slice(q.path, "/a/b%20c");
    expect_slice(q.query, "x=1&y=%2F?z");
    expect_slice(q.authority, "example.com");
    assert_int_equal(q.head.version_minor, 1);
    assert_int_equal(q.head.body, KEEL_HTTP_BODY_NONE);
    assert_true(q.head.keep_alive);
    assert_int_equal(q.head.header_count, 1);

    request_ok("GET /? HTTP/1.1\r\nHost: h\r\n\r\n", 0, &q);
    expect_slice(q.path, "/");
    expect_slice(q.query, "");
    /* every byte RFC 3986 allows in a target */
    request_ok("GET /azAZ09-._~:/[]@!$&'()*+,;=%aF HTTP/1.1\r\nHost: h\r\n\r\n", 0, &q);
    expect_slice(q.path, "/azAZ09-._~:/[]@!$&'()*+,;=%aF");
}

static void test_request_absolute_authority_and_asterisk_forms(void **state)
{
    (void)state;
    keel_http_request q;
    request_ok("GET http://Example.com:8080/p/q?k=v HTTP/1.1\r\nHost: ignored\r\n\r\n", 0, &q);
    assert_int_equal(q.form, KEEL_HTTP_ABSOLUTE_FORM);
    expect_slice(q.authority, "Example.com:8080");
    expect_slice(q.path, "/p/q");
    expect_slice(q.query, "k=v");
    request_ok("GET https://[::1]?x HTTP/1.1\r\nHost: h\r\n\r\n", 0, &q);
    expect_slice(q.authority, "[::1]");
    expect_slice(q.path, ""); /* no path: read as "/" */
    expect_slice(q.query, "x");
    request_ok("GET h2c+x.y-z://a HTTP/1.1\r\nHost: h\r\n\r\n", 0, &q);
    expect_slice(q.authority, "a");

    request_ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 0, &q);
    assert_int_equal(q.method_id, KEEL_HTTP_CONNECT);
    assert_int_equal(q.form, KEEL_HTTP_AUTHORITY_FORM);
    expect_slice(q.authority, "example.com:443");
    expect_slice(q.path, "");
    request_ok("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: x\r\n\r\n", 0, &q);
    expect_slice(q.authority, "[2001:db8::1]:8443");

    request_ok("OPTIONS * HTTP/1.1\r\nHost: h:1\r\n\r\n", 0, &q);
    assert_int_equal(q.form, KEEL_HTTP_ASTERISK_FORM);
    expect_slice(q.target, "*");
    expect_slice(q.path, "");
    expect_slice(q.authority, "h:1");
}

static void test_request_methods_are_tokens_mapped_case_sensitively(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        keel_http_method id;
    } cases[] = {
        { "GET / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_GET },
        { "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_HEAD },
        { "POST / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_POST },
        { "PUT / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_PUT },
        { "DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_DELETE },
        { "OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_OPTIONS },
        { "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_TRACE },
        { "PATCH / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_PATCH },
        { "get / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_OTHER },
        { "PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_OTHER },
        { "M-SEARCH!#$%&'*+.^_`|~9 / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_OTHER },
        { "GETS / HTTP/1.1\r\nHost: h\r\n\r\n", KEEL_HTTP_OTHER },
    };
    for (size_t i = 0; i < KT_COUNT(cases); i++) {
        keel_http_request q;
        request_ok(cases[i].msg, 0, &q);
        assert_int_equal(q.method_id, cases[i].id);
        assert_int_equal(q.method.len, (size_t)(strchr(cases[i].msg, ' ') - cases[i].msg));
    }
}

/* The six framing fields are known by name in any case (the parser
 * compares a name as overlapping words folded with OR 0x20), and a name
 * one byte off from one of them (any byte replaced by another tchar, one
 * byte more or less) is an ordinary field that frames nothing. Each
 * message is parsed whole and at every split (request_ok). */
static void test_framing_field_names_any_case_and_near_misses(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *value;
    } fields[] = {
        { "content-length", "0" },   { "transfer-encoding", "chunked" },
        { "host", "h" },             { "connection", "close" },
        { "expect", "100-continue" }, { "upgrade", "x" },
    };
    for (size_t f = 0; f < KT_COUNT(fields); f++) {
        size_t n = strlen(fields[f].name);
        /* 0..2: lower, upper, alternating case; then each byte replaced;
         * then one byte more, one less */
        for (size_t v = 0; v < 3 + n + 2; v++) {
            char name[40];
            memcpy(name, fields[f].name, n + 1);
            bool same = v < 3;
            for (size_t i = 0; i < n && v > 0 && v < 3; i++) {
                if ((v == 1 || i % 2 == 0) && name[i] >= 'a' && name[i] <= 'z') {
                    name[i] = (char)(name[i] - 0x20);
                }
            }
            if (v >= 3 && v < 3 + n) {
                name[v - 3] = name[v - 3] == 'x' ? 'y' : 'x';
            } else if (v == 3 + n) {
                name[n] = 's';
                name[n + 1] = '\0';
            } else if (v == 4 + n) {
                name[n - 1] = '\0';
            }
            char msg[160];
            snprintf(msg, sizeof msg, "POST / HTTP/1.1\r\nHost: h\r\n%s: %s\r\n\r\n", name,
                     fields[f].value);
            if (f == 2) { /* a second Host is refused; a near miss is not a Host */
                ht_outcome o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, strlen(msg), 0, NULL,
                                                 HT_MAX_HEADERS, KEEL_HTTP_GET);
                if (same ? o.r != KEEL_ERR_PARSE || o.err.reason != KEEL_HTTP_DUPLICATE_HOST
                         : o.r != KEEL_OK) {
                    fail_msg("%s: got %d (%s)", msg, o.r, keel_http_reason_str(o.err.reason));
                }
                continue;
            }
            keel_http_request q;
            request_ok(msg, 0, &q);
            bool framed = false;
            switch (f) {
            case 0:
                framed = q.head.body == KEEL_HTTP_BODY_LENGTH;
                break;
            case 1:
                framed = q.head.body == KEEL_HTTP_BODY_CHUNKED;
                break;
            case 3:
                framed = !q.head.keep_alive;
                break;
            case 4:
                framed = q.expect_continue;
                break;
            default:
                framed = q.head.has_upgrade;
                break;
            }
            if (framed != same) {
                fail_msg("%s: the field was %s as %s", msg, framed ? "taken" : "not taken",
                         fields[f].name);
            }
        }
    }
}

static void test_request_field_values_trimmed_obs_text_kept(void **state)
{
    (void)state;
    keel_http_request q;
    request_ok("GET / HTTP/1.1\r\nHost:h\r\nX-A:  \t spaced  out \t \r\nX-Empty:\r\n"
               "X-Ws:   \r\nX-Obs: caf\xc3\xa9 \x80\xff\r\nX-Tab:a\tb\r\n\r\n",
               0, &q);
    assert_int_equal(q.head.header_count, 6);
    expect_header(&q.head, "host", "h");
    expect_header(&q.head, "X-A", "spaced  out");
    expect_header(&q.head, "x-empty", "");
    expect_header(&q.head, "X-WS", "");
    expect_header(&q.head, "x-obs", "caf\xc3\xa9 \x80\xff");
    expect_header(&q.head, "x-tab", "a\tb");
    expect_slice(q.head.headers[1].name, "X-A");
    keel_slice v;
    assert_int_equal(keel_http_header_get(&q.head, KEEL_STR("X-Missing"), &v), KEEL_ERR_NOT_FOUND);
}

static void test_request_empty_lines_before_the_request_line_are_skipped(void **state)
{
    (void)state;
    keel_http_request q;
    request_ok("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, &q);
    expect_slice(q.method, "GET");
    request_ok("\n\r\nGET / HTTP/1.1\nHost: h\n\n", KEEL_HTTP_LENIENT_BARE_LF, &q);
    expect_slice(q.target, "/");
}

static void test_request_body_framing(void **state)
{
    (void)state;
    keel_http_request q;
    size_t consumed = 0;
    static const char post[] = "POST /j HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
    request_ok_n(post, HT_LEN(post), 0, &q, &consumed);
    assert_int_equal(consumed, HT_LEN(post) - 7);
    assert_int_equal(q.head.body, KEEL_HTTP_BODY_LENGTH);
    assert_int_equal(q.head.content_length, 7);
    request_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0000\r\n\r\n", 0, &q);
    assert_int_equal(q.head.body, KEEL_HTTP_BODY_LENGTH);
    assert_int_equal(q.head.content_length, 0);
    request_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n", 0, &q);
    assert_true(q.head.content_length == UINT64_MAX);
    request_ok("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 0, &q);
    assert_int_equal(q.head.body, KEEL_HTTP_BODY_CHUNKED);
    assert_int_equal(q.head.content_length, 0);
    /* case-insensitive, OWS around the value is not part of it */
    request_ok("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding:  Chunked\t\r\n\r\n", 0, &q);
    assert_int_equal(q.head.body, KEEL_HTTP_BODY_CHUNKED);
    request_ok("POST / HTTP/1.1\r\nHost: h\r\nTRANSFER-ENCODING: CHUNKED\r\n\r\n", 0, &q);
    assert_int_equal(q.head.body, KEEL_HTTP_BODY_CHUNKED);
    /* identical Content-Length values with the leniency */
    request_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\n",
               KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH, &q);
    assert_int_equal(q.head.content_length, 5);
    request_ok("GET / HTTP/1.0\r\n\r\n", 0, &q);
    assert_int_equal(q.head.body, KEEL_HTTP_BODY_NONE);
}

static void test_request_keep_alive_by_version_and_connection(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        bool keep_alive;
    } cases[] = {
        { "GET / HTTP/1.1\r\nHost: h\r\n\r\n", true },
        { "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false },
        { "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", false },
        { "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true },
        { "GET / HTTP/1.1\r\nHost: h\r\nConnection: ,, keep-alive ,\r\n\r\n", true },
        { "GET / HTTP/1.0\r\n\r\n", false },
        { "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true },
        { "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false },
        { "GET / HTTP/1.0\r\nConnection: closed\r\n\r\n", false },
        { "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", true },
    };
    for (size_t i = 0; i < KT_COUNT(cases); i++) {
        keel_http_request q;
        request_ok(cases[i].msg, 0, &q);
        if (q.head.keep_alive != cases[i].keep_alive) {
            fail_msg("case %zu: keep_alive %d", i, q.head.keep_alive);
        }
    }
}

static void test_request_expect_upgrade_and_host(void **state)
{
    (void)state;
    keel_http_request q;
    request_ok("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n\r\n", 0, &q);
    assert_true(q.expect_continue);
    assert_false(q.expect_other);
    request_ok("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, foo=bar\r\n\r\n", 0, &q);
    assert_true(q.expect_continue);
    assert_true(q.expect_other);
    request_ok("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 0, &q);
    assert_false(q.expect_continue);
    assert_true(q.expect_other);
    request_ok("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0,
               &q);
    assert_true(q.head.has_upgrade);
    /* Host: empty (allowed), an IPv6 literal, a %-escaped reg-name, a port */
    request_ok("GET / HTTP/1.1\r\nHost:\r\n\r\n", 0, &q);
    expect_slice(q.authority, "");
    request_ok("GET / HTTP/1.1\r\nHost: [fe80::1]:65535\r\n\r\n", 0, &q);
    expect_slice(q.authority, "[fe80::1]:65535");
    request_ok("GET / HTTP/1.1\r\nHost: a%2Db.example:\r\n\r\n", 0, &q);
    /* HTTP/1.1 without Host, with the leniency */
    request_ok("GET / HTTP/1.1\r\n\r\n", KEEL_HTTP_LENIENT_MISSING_HOST, &q);
    expect_slice(q.authority, "");
}

/* A reg-name byte of a Host value (RFC 3986: unreserved / sub-delims). */
static bool host_byte(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("-._~!$&'()*+,;=", (int)c) != NULL);
}

/* Every byte at every offset of Host values of 8, 9, 16 and 17 bytes (whole
 * words of the reg-name check, and words overlapping the ones before
 * them), against RFC 3986's reg-name: accepted exactly when the byte is a
 * reg-name byte, OWS at an end (trimmed), or ':' last (an empty port); a
 * byte that cannot be in a field value is that field line's error, any
 * other byte BAD_HOST. No letter is a hex digit, so '%' never starts an
 * escape here. Some bytes go through every split as well. */
static void test_host_every_byte_at_every_offset(void **state)
{
    (void)state;
    static const char letters[] = "ghijklmnopqrstuvwxyz";
    static const size_t lens[] = { 8, 9, 16, 17 };
    keel_http_header h[4];
    for (size_t l = 0; l < KT_COUNT(lens); l++) {
        size_t n = lens[l];
        for (size_t k = 0; k < n; k++) {
            for (unsigned c = 0; c < 256; c++) {
                char msg[96];
                int len = snprintf(msg, sizeof msg, "GET / HTTP/1.1\r\nHost: %.*s\r\n\r\n", (int)n,
                                   letters);
                assert_true(len > 0 && (size_t)len < sizeof msg);
                msg[22 + k] = (char)c;
                bool ows = c == ' ' || c == '\t';
                bool ok = host_byte(c) || (ows && (k == 0 || k == n - 1)) || (c == ':' && k == n - 1);
                bool field = (c < 0x20 && c != '\t') || c == 0x7F;
                keel_http_parser p;
                keel_http_request q;
                size_t consumed = 0;
                keel_http_error err = { 0, KEEL_HTTP_OK, 0 };
                ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 4);
                keel_slice in = { (const uint8_t *)msg, (size_t)len };
                keel_result r = keel_http_parse_request(&p, in, &q, &consumed, &err);
                if (ok) {
                    if (r != KEEL_OK) {
                        fail_msg("Host of %zu bytes, 0x%02x at %zu: refused (%s)", n, c, k,
                                 keel_http_reason_str(err.reason));
                    }
                    assert_int_equal(q.authority.len, n - (ows ? 1u : 0u));
                } else if (r != KEEL_ERR_PARSE || (field ? err.reason == KEEL_HTTP_BAD_HOST
                                                           : err.reason != KEEL_HTTP_BAD_HOST)) {
                    fail_msg("Host of %zu bytes, 0x%02x at %zu: %d (%s)", n, c, k, r,
                             keel_http_reason_str(err.reason));
                }
                if (c == '%' || c == ':' || c == ' ' || c == 'A' || c == 0x80 || c == '/') {
                    ht_outcome o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, (size_t)len, 0, NULL,
                                                     HT_MAX_HEADERS, KEEL_HTTP_GET);
                    assert_int_equal(o.r, r);
                }
            }
        }
    }
}

static void test_request_pipelined_back_to_back(void **state)
{
    (void)state;
    static const char two[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\n"
                              "Content-Length: 2\r\n\r\nhiGET /3 HTTP/1.0\r\n\r\n";
    keel_http_parser p;
    keel_http_header h[4];
    keel_http_request q;
    size_t consumed = 0;
    size_t at = 0;
    ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 4);
    keel_slice all = { (const uint8_t *)two, HT_LEN(two) };
    keel_slice rest;
    assert_int_equal(keel_slice_from_off(all, at, &rest), KEEL_OK);
    assert_int_equal(keel_http_parse_request(&p, rest, &q, &consumed, NULL), KEEL_OK);
    expect_slice(q.path, "/1");
    at += consumed;
    assert_int_equal(keel_slice_from_off(all, at, &rest), KEEL_OK);
    assert_int_equal(keel_http_parse_request(&p, rest, &q, &consumed, NULL), KEEL_OK);
    expect_slice(q.path, "/2");
    at += consumed + q.head.content_length;
    assert_int_equal(keel_slice_from_off(all, at, &rest), KEEL_OK);
    assert_int_equal(keel_http_parse_request(&p, rest, &q, &consumed, NULL), KEEL_OK);
    expect_slice(q.path, "/3");
    assert_int_equal(at + consumed, HT_LEN(two));
}

/* ---- responses ------------------------------------------------------------------- */

static void test_response_framing_per_rfc9112_6_3(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        keel_http_method method;
        keel_http_body body;
        uint64_t length;
        bool keep_alive;
    } cases[] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_LENGTH, 12, true },
        { "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", KEEL_HTTP_HEAD, KEEL_HTTP_BODY_NONE, 0, true },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_CHUNKED, 0, true },
        { "HTTP/1.1 200 OK\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_UNTIL_CLOSE, 0, false },
        { "HTTP/1.1 100 Continue\r\n\r\n", KEEL_HTTP_PUT, KEEL_HTTP_BODY_NONE, 0, true },
        { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_NONE, 0, false },
        { "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", KEEL_HTTP_DELETE, KEEL_HTTP_BODY_NONE, 0, true },
        { "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_NONE, 0, true },
        { "HTTP/1.1 200 Connection established\r\n\r\n", KEEL_HTTP_CONNECT, KEEL_HTTP_BODY_NONE, 0, false },
        { "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n", KEEL_HTTP_CONNECT, KEEL_HTTP_BODY_LENGTH, 0, true },
        { "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_LENGTH, 3, false },
        { "HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_LENGTH, 3, true },
        { "HTTP/1.1 500 Oops\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_LENGTH, 3, false },
        { "HTTP/1.1 599 \r\nContent-Length: 1\r\n\r\n", KEEL_HTTP_GET, KEEL_HTTP_BODY_LENGTH, 1, true },
    };
    for (size_t i = 0; i < KT_COUNT(cases); i++) {
        keel_http_response s;
        response_ok(cases[i].msg, cases[i].method, 0, &s);
        if (s.head.body != cases[i].body || s.head.content_length != cases[i].length ||
            s.head.keep_alive != cases[i].keep_alive) {
            fail_msg("case %zu: body %d length %llu keep_alive %d", i, (int)s.head.body,
                     (unsigned long long)s.head.content_length, s.head.keep_alive);
        }
    }
}

static void test_response_status_and_reason_phrase(void **state)
{
    (void)state;
    keel_http_response s;
    response_ok("HTTP/1.1 404 Not \tFound \xe2\x9c\x93\r\nServer: keel\r\n\r\n", KEEL_HTTP_GET, 0, &s);
    assert_int_equal(s.status, 404);
    expect_slice(s.reason, "Not \tFound \xe2\x9c\x93");
    expect_header(&s.head, "server", "keel");
    response_ok("HTTP/1.1 200 \r\n\r\n", KEEL_HTTP_GET, 0, &s);
    expect_slice(s.reason, "");
    response_ok("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", KEEL_HTTP_GET,
                KEEL_HTTP_LENIENT_NO_REASON_SP, &s);
    assert_int_equal(s.status, 200);
    expect_slice(s.reason, "");
    response_ok("HTTP/1.1 200\nContent-Length: 0\n\n", KEEL_HTTP_GET,
                KEEL_HTTP_LENIENT_NO_REASON_SP | KEEL_HTTP_LENIENT_BARE_LF, &s);
    response_ok("HTTP/1.1 200 OK\nContent-Length: 0\n\n", KEEL_HTTP_GET, KEEL_HTTP_LENIENT_BARE_LF,
                &s);
    expect_slice(s.reason, "OK");
    response_ok("HTTP/1.1 100 Continue\r\n\r\n", KEEL_HTTP_GET, 0, &s);
    assert_int_equal(s.status, 100);
}

static void test_response_rejections(void **state)
{
    (void)state;
    static const reject_case cases[] = {
        REJ("HTTP/1.1 20 OK\r\n\r\n", 0, KEEL_HTTP_BAD_STATUS, 400, " OK", 0),
        REJ("HTTP/1.1 2000 OK\r\n\r\n", 0, KEEL_HTTP_BAD_STATUS, 400, "0 OK", 0),
        REJ("HTTP/1.1 099 OK\r\n\r\n", 0, KEEL_HTTP_BAD_STATUS, 400, "099", 0),
        REJ("HTTP/1.1 600 OK\r\n\r\n", 0, KEEL_HTTP_BAD_STATUS, 400, "600", 0),
        REJ("HTTP/1.1 2x0 OK\r\n\r\n", 0, KEEL_HTTP_BAD_STATUS, 400, "x", 0),
        REJ("HTTP/1.1 200\r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "\r", 0),
        REJ("HTTP/1.1  200 OK\r\n\r\n", 0, KEEL_HTTP_BAD_STATUS, 400, " 200", 0),
        REJ("HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "\r", 0),
        REJ("HTTP/2 200 OK\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, " ", 0),
        REJ("HTTP/2.0 200 OK\r\n\r\n", 0, KEEL_HTTP_UNSUPPORTED_VERSION, 505, "H", 0),
        REJ("http/1.1 200 OK\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "h", 0),
        REJ("\r\nHTTP/1.1 200 OK\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "\r", 0),
        REJ("HTTP/1.1 200 O\x01K\r\n\r\n", 0, KEEL_HTTP_BAD_REASON_PHRASE, 400, "\x01", 0),
        REJ("HTTP/1.1 200 O\x7fK\r\n\r\n", 0, KEEL_HTTP_BAD_REASON_PHRASE, 400, "\x7f", 0),
        REJ("HTTP/1.1 200 OK\rX\r\n\r\n", 0, KEEL_HTTP_BARE_CR, 400, "X", 0),
        REJ("HTTP/1.1 200 OK\n\r\n", 0, KEEL_HTTP_BARE_LF, 400, "\n", 0),
        REJ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
            KEEL_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING, 400, "Transfer", 0),
        REJ("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
            KEEL_HTTP_TRANSFER_ENCODING_IN_HTTP10, 400, "Transfer", 0),
        REJ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0,
            KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING, 501, "gzip", 0),
        REJ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0,
            KEEL_HTTP_DUPLICATE_CONTENT_LENGTH, 400, "2\r", 0),
    };
    expect_rejections(KEEL_HTTP_RESPONSE, cases, KT_COUNT(cases), NULL, HT_MAX_HEADERS,
                      KEEL_HTTP_GET);
    /* Host is not checked in responses; Expect is ignored */
    keel_http_response s;
    response_ok("HTTP/1.1 200 OK\r\nHost: a\r\nHost: !!\r\nExpect: x\r\nContent-Length: 0\r\n\r\n",
                KEEL_HTTP_GET, 0, &s);
}

/* ---- every reason: the start line ------------------------------------------------- */

static void test_reject_start_line_reasons(void **state)
{
    (void)state;
    static const reject_case cases[] = {
        REJ(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_METHOD, 400, " ", 0),
        REJ("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_METHOD, 400, "(", 0),
        REJ("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_METHOD, 400, "\t", 0),
        REJ("G\x80T / HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_METHOD, 400, "\x80", 0),
        REJ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "  ", 1),
        REJ("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "  ", 1),
        REJ("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "1 ", 1),
        REJ("GET\r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "\r", 0),
        REJ("GET \r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "\r", 0),
        REJ("GET / \r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "\r", 0),
        REJ("GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "\"", 0),
        REJ("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "#", 0),
        REJ("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "\x7f", 0),
        REJ("GET /a\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "\xc3", 0),
        REJ("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "\t", 0),
        REJ("GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "z", 0),
        REJ("GET /%4 HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "4 ", 1),
        REJ("GET /% HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "% ", 1),
        REJ("GET http://a@b/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "@", 0),
        REJ("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "/p", 0),
        REJ("GET http://h:99999/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "99999", 4),
        REJ("CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "h ", 1),
        REJ("CONNECT h: HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, ": ", 1),
        REJ("CONNECT :80 HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, ":80", 0),
        REJ("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET_FORM, 400, "example", 0),
        REJ("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET_FORM, 400, "*", 0),
        REJ("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET_FORM, 400, "*", 0),
        REJ("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET_FORM, 400, "/", 0),
        REJ("CONNECT http://h:1 HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET, 400, "/", 0),
        REJ("CONNECT h:1?x HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET_FORM, 400, "h:1", 0),
        REJ("GET 1http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET_FORM, 400, "1http", 0),
        REJ("GET mailto:x HTTP/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_TARGET_FORM, 400, "mailto", 0),
        REJ("GET / HTTP/1.1\rX\nHost: h\r\n\r\n", 0, KEEL_HTTP_BARE_CR, 400, "X", 0),
        REJ("GET / HTTP/1.1\nHost: h\r\n\r\n", 0, KEEL_HTTP_BARE_LF, 400, "\n", 0),
        REJ("\rGET / HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_BARE_CR, 400, "G", 0),
        REJ("\nGET / HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_BARE_LF, 400, "\n", 0),
    };
    EXPECT_REQ_REJECTIONS(cases);
}

static void test_reject_http09_and_absurd_versions(void **state)
{
    (void)state;
    static const reject_case cases[] = {
        REJ("GET /\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "\r", 0),
        REJ("GET /\n", KEEL_HTTP_LENIENT_BARE_LF, KEEL_HTTP_BAD_START_LINE, 400, "\n", 0),
        REJ("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "0\r", 0),
        REJ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_UNSUPPORTED_VERSION, 505, "HTTP", 0),
        REJ("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_UNSUPPORTED_VERSION, 505, "HTTP", 0),
        REJ("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_UNSUPPORTED_VERSION, 505, "HTTP", 0),
        REJ("GET / HTTP/9.9\n", KEEL_HTTP_LENIENT_BARE_LF, KEEL_HTTP_UNSUPPORTED_VERSION, 505, "HTTP", 0),
        REJ("GET / HTTP/1.1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, ".1\r", 0),
        REJ("GET / http/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "http", 0),
        REJ("GET / HTTP/1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "\r", 0),
        REJ("GET / HTTP/11\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "1\r", 0),
        REJ("GET / HTTP/a.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "a", 0),
        REJ("GET / HTTP /1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "P /", 1),
        REJ("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "S/", 0),
        REJ("GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "x", 0),
        REJ("GET / HTTP/2\r\nHost: h\r\n\r\n", 0, KEEL_HTTP_BAD_VERSION, 400, "\r", 0),
    };
    EXPECT_REQ_REJECTIONS(cases);
}

/* The version is compared as one word in which only bit 0 of the last byte
 * ('0' or '1') may differ: every other one-bit change of "HTTP/1.1" is
 * rejected, and that one gives the minor version, at every split. */
static void test_version_every_one_bit_change_rejected_but_the_minor(void **state)
{
    (void)state;
    static const char base[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    const size_t at = 6; /* where "HTTP/1.1" starts */
    for (size_t b = 0; b < 8; b++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            char msg[sizeof base];
            memcpy(msg, base, sizeof base);
            msg[at + b] = (char)((unsigned char)msg[at + b] ^ (1u << bit));
            ht_outcome o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, HT_LEN(base), 0, NULL,
                                             HT_MAX_HEADERS, KEEL_HTTP_GET);
            if (b == 7 && bit == 0) {
                keel_http_request q;
                request_ok(msg, 0, &q);
                assert_int_equal(q.head.version_minor, 0);
                assert_false(q.head.keep_alive);
                continue;
            }
            if (o.r != KEEL_ERR_PARSE) {
                fail_msg("byte %zu bit %u: %s accepted (%d)", b, bit, msg, o.r);
            }
            assert_true(o.err.offset >= at);
            assert_true(o.err.reason == KEEL_HTTP_BAD_VERSION ||
                        o.err.reason == KEEL_HTTP_UNSUPPORTED_VERSION);
        }
    }
    keel_http_request q;
    request_ok(base, 0, &q);
    assert_int_equal(q.head.version_minor, 1);
    assert_true(q.head.keep_alive);
}

/* Until a head is complete, the lines stored in the caller's array have no
 * pointer: none is left over from the previous head in the same array. */
static void test_header_array_holds_no_stale_pointer_before_the_head_completes(void **state)
{
    (void)state;
    static const char first[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\r\n";
    static const char second[] = "GET / HTTP/1.1\r\nHost: other\r\nX-B: tw";
    keel_http_parser p;
    keel_http_header h[4];
    keel_http_request q;
    size_t consumed = 0;
    ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 4);
    keel_slice in = { (const uint8_t *)first, HT_LEN(first) };
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, NULL), KEEL_OK);
    assert_non_null(h[0].name.ptr);
    in = (keel_slice){ (const uint8_t *)second, HT_LEN(second) };
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, NULL), KEEL_ERR_INCOMPLETE);
    assert_null(h[0].name.ptr);
    assert_null(h[0].value.ptr);
    assert_int_equal(h[0].value.len, 5);
}

/* The header array is the caller's: a field line's offsets and lengths
 * written there in an earlier call are checked against the input again
 * when the head completes, so a caller that changed them between calls
 * gets empty slices for those lines, never one outside its input. */
static void test_header_array_changed_between_calls_gives_no_slice_outside_the_input(void **state)
{
    (void)state;
    static const char msg[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\nX-B: two\r\n"
                              "X-C: three\r\n\r\n";
    const size_t first = HT_LEN("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\nX-B: two\r\n");
    keel_http_parser p;
    keel_http_header h[8];
    keel_http_request q;
    size_t consumed = 0;
    ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 8);
    keel_slice in = { (const uint8_t *)msg, first };
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, NULL), KEEL_ERR_INCOMPLETE);
    h[0].name.len = SIZE_MAX;       /* Host: a length past the input */
    h[1].value_off_ = UINT32_MAX;   /* X-A: an offset past it */
    h[2].value.len = HT_LEN(msg);   /* X-B: in range from the input's start, not from its own */
    in.len = HT_LEN(msg);
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, NULL), KEEL_OK);
    assert_int_equal(consumed, HT_LEN(msg));
    assert_int_equal(q.head.header_count, 4);
    for (size_t k = 0; k < 3; k++) {
        assert_null(h[k].name.ptr);
        assert_int_equal(h[k].name.len, 0);
        assert_null(h[k].value.ptr);
        assert_int_equal(h[k].value.len, 0);
    }
    expect_slice(h[3].name, "X-C");
    expect_slice(h[3].value, "three");
}

/* ---- every reason: the header section ------------------------------------------------ */

static void test_reject_field_line_reasons(void **state)
{
    (void)state;
    static const reject_case cases[] = {
        REJ("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 0, KEEL_HTTP_OBS_FOLD, 400, " folded", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 0, KEEL_HTTP_OBS_FOLD, 400, "\tb", 0),
        REJ("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 0, KEEL_HTTP_OBS_FOLD, 400, " Host", 0),
        REJ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, " :", 0),
        REJ("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, "\t", 0),
        REJ("GET / HTTP/1.1\r\n: h\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, ": h", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\nNo-Colon\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, "\r\n\r", 0),
        REJ("GET / HTTP/1.1\r\nX(Y: 1\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, "(", 0),
        REJ("GET / HTTP/1.1\r\nX\0Y: 1\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, "Y: 1", -1),
        REJ("GET / HTTP/1.1\r\nX\xe9: 1\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, "\xe9", 0),
        REJ("GET / HTTP/1.1\r\n\xe9X: 1\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, "\xe9", 0),
        REJ("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_VALUE, 400, "b\r", -1),
        REJ("GET / HTTP/1.1\r\nX: \x01\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_VALUE, 400, "\x01", 0),
        REJ("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_VALUE, 400, "\x7f", 0),
        REJ("GET / HTTP/1.1\r\nX: a\x1b[0m\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_VALUE, 400, "\x1b", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 0, KEEL_HTTP_BARE_CR, 400, "b\r", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\nX:\r\r\n\r\n", 0, KEEL_HTTP_BARE_CR, 400, "\r\r", 1),
        REJ("GET / HTTP/1.1\r\nHost: h\r\n\rX", 0, KEEL_HTTP_BARE_CR, 400, "X", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 0, KEEL_HTTP_BARE_CR, 400, "\r\r", 1),
        REJ("GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n", 0, KEEL_HTTP_BARE_LF, 400, "\nX", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n\n", 0, KEEL_HTTP_BARE_LF, 400, "\n\n", 1),
        REJ("GET / HTTP/1.1\r\nX: a\nb\r\n\r\n", 0, KEEL_HTTP_BARE_LF, 400, "\nb", 0),
        REJ("GET / HTTP/1.1\nHost: h\r\rX\n\n", KEEL_HTTP_LENIENT_BARE_LF, KEEL_HTTP_BARE_CR, 400, "\rX", 0),
        REJ("GET / HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_MISSING_HOST, 400, "\r\n\r\n", 2),
        REJ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 0, KEEL_HTTP_DUPLICATE_HOST, 400, "Host: a\r\nHost", 9),
        REJ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", KEEL_HTTP_LENIENT_MISSING_HOST, KEEL_HTTP_DUPLICATE_HOST, 400, "Host: a\r\nHost", 9),
        REJ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, " b", 0),
        REJ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, "/b", 0),
        REJ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, "@", 0),
        REJ("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, "x", 0),
        REJ("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, "6\r", 0),
        REJ("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, ":80", 0),
        REJ("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, "\r\n\r", 0),
        REJ("GET / HTTP/1.1\r\nHost: []\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, "]", 0),
        REJ("GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", 0, KEEL_HTTP_BAD_HOST, 400, "%", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\nConnection: close keep-alive\r\n\r\n", 0, KEEL_HTTP_BAD_CONNECTION, 400, "keep", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\nConnection: \"close\"\r\n\r\n", 0, KEEL_HTTP_BAD_CONNECTION, 400, "\"", 0),
        REJ("GET / HTTP/1.1\r\nHost: h\r\nConnection: close;q=1\r\n\r\n", 0, KEEL_HTTP_BAD_CONNECTION, 400, ";", 0),
    };
    EXPECT_REQ_REJECTIONS(cases);
}

/* ---- request smuggling -------------------------------------------------------------- */

static void test_smuggling_content_length_and_transfer_encoding_together(void **state)
{
    (void)state;
    static const reject_case cases[] = {
        /* CL.TE and TE.CL: both present, in either order */
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
            0, KEEL_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING, 400, "Transfer", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
            0, KEEL_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING, 400, "Content", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
            KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH | KEEL_HTTP_LENIENT_BARE_LF,
            KEEL_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING, 400, "Transfer", 0),
        /* TE in HTTP/1.0 */
        REJ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
            KEEL_HTTP_TRANSFER_ENCODING_IN_HTTP10, 400, "Transfer", 0),
    };
    EXPECT_REQ_REJECTIONS(cases);
}

static void test_smuggling_transfer_encoding_obfuscations(void **state)
{
    (void)state;
    static const reject_case cases[] = {
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 0,
            KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING, 501, "xchunked", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunkedx\r\n\r\n", 0,
            KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING, 501, "chunkedx", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, "identity", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 0,
            KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING, 501, "identity", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0,
            KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING, 501, "gzip", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, ",chunked", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, "\r\n\r\n", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, ,chunked\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, ",chunked", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, " chunked\r", 1),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, "chunked\r\n\r", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, "identity", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \xa0" "chunked\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, "\xa0", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;foo=bar\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, ";", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked x\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, "x\r", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, ":\r", 1),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 0,
            KEEL_HTTP_BAD_TRANSFER_ENCODING, 400, "\"", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", 0,
            KEEL_HTTP_BAD_FIELD_NAME, 400, " :", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0b" "chunked\r\n\r\n", 0,
            KEEL_HTTP_BAD_FIELD_VALUE, 400, "\x0b", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n Content-Length: 5\r\n\r\n", 0,
            KEEL_HTTP_OBS_FOLD, 400, " Content", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\0: chunked\r\n\r\n", 0,
            KEEL_HTTP_BAD_FIELD_NAME, 400, ": chunked", -1),
    };
    EXPECT_REQ_REJECTIONS(cases);
    /* the accepted spellings: case-insensitive, OWS trimmed (a trailing tab too) */
    static const char *const ok[] = {
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\t\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked \r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\ntRaNsFeR-eNcOdInG: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < KT_COUNT(ok); i++) {
        keel_http_request q;
        request_ok(ok[i], 0, &q);
        assert_int_equal(q.head.body, KEEL_HTTP_BODY_CHUNKED);
    }
}

static void test_smuggling_content_length_values(void **state)
{
    (void)state;
    static const reject_case cases[] = {
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 0,
            KEEL_HTTP_DUPLICATE_CONTENT_LENGTH, 400, " 5\r", 1),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 0,
            KEEL_HTTP_DUPLICATE_CONTENT_LENGTH, 400, "6", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n",
            KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH, KEEL_HTTP_DUPLICATE_CONTENT_LENGTH, 400, "6", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0,
            KEEL_HTTP_DUPLICATE_CONTENT_LENGTH, 400, "5\r\n\r", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n",
            KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH, KEEL_HTTP_DUPLICATE_CONTENT_LENGTH, 400, "50", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n",
            KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH, KEEL_HTTP_BAD_CONTENT_LENGTH, 400, "\r\n\r\n", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,5\r\n\r\n",
            KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH, KEEL_HTTP_BAD_CONTENT_LENGTH, 400, ",5", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, "+", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, ": -", 2),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, "x", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5_0\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, "_", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 0\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, "0\r", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5.0\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, "5.0", 1),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \"5\"\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, "\"", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, ":\r", 1),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xd9\xa5\r\n\r\n", 0,
            KEEL_HTTP_BAD_CONTENT_LENGTH, 400, "\xd9", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 0,
            KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE, 413, "6\r", 0),
        REJ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0,
            KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE, 413, "99999999999999999999999", 19),
    };
    EXPECT_REQ_REJECTIONS(cases);
}

/* A bare CR and a bare LF at every line end of a valid request: each is
 * rejected at its place (the LF alone, or the byte after the CR). */
static void test_bare_cr_and_bare_lf_in_every_position(void **state)
{
    (void)state;
    static const char base[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n";
    size_t len = HT_LEN(base);
    for (size_t i = 0; i + 1 < len; i++) {
        if (base[i] != '\r') {
            continue;
        }
        char msg[64];
        /* drop the CR: a bare LF */
        memcpy(msg, base, i);
        memcpy(msg + i, base + i + 1, len - i - 1);
        ht_outcome o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, len - 1, 0, NULL, 8, KEEL_HTTP_GET);
        assert_int_equal(o.r, KEEL_ERR_PARSE);
        assert_int_equal(o.err.reason, KEEL_HTTP_BARE_LF);
        assert_int_equal(o.err.offset, i);
        /* the same with the leniency parses as the original */
        o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, len - 1, KEEL_HTTP_LENIENT_BARE_LF, NULL, 8,
                              KEEL_HTTP_GET);
        assert_int_equal(o.r, KEEL_OK);
        /* replace the LF by 'X': a bare CR, reported at the byte after it */
        memcpy(msg, base, len);
        msg[i + 1] = 'X';
        o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, len, KEEL_HTTP_LENIENT_BARE_LF, NULL, 8,
                              KEEL_HTTP_GET);
        assert_int_equal(o.r, KEEL_ERR_PARSE);
        assert_int_equal(o.err.reason, KEEL_HTTP_BARE_CR);
        assert_int_equal(o.err.offset, i + 1);
    }
    /* a CR inside the start line and inside a name is no line end */
    static const reject_case cases[] = {
        REJ("GET /\r HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "\r", 0),
        REJ("GE\rT / HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_BAD_START_LINE, 400, "\r", 0),
        REJ("GET / HTTP/1.1\r\nHo\rst: h\r\n\r\n", 0, KEEL_HTTP_BAD_FIELD_NAME, 400, "\rst", 0),
        REJ("GET / HTTP/1.1\r\nHost:\rh\r\n\r\n", 0, KEEL_HTTP_BARE_CR, 400, "h\r", 0),
    };
    EXPECT_REQ_REJECTIONS(cases);
}

/* Field values are scanned eight bytes at a time (src/core/word.h): every
 * byte value at every offset of a 40-byte value (so at every position of a
 * word, in the words and in the bytes after the last whole word) is
 * accepted exactly when it is a value byte (VCHAR, obs-text, SP, HTAB), and
 * otherwise rejected at that byte (a CR: at the byte after it). Whole
 * offers: the splits are what the other cases check. */
static void test_every_byte_at_every_offset_of_a_value(void **state)
{
    (void)state;
    static const char head[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: ";
    static const char tail[] = "\r\n\r\n";
    const size_t vlen = 40;
    const size_t at0 = HT_LEN(head);
    keel_http_header hdrs[8];
    keel_http_parser p;
    char msg[128];
    for (size_t off = 0; off < vlen; off++) {
        for (int b = 0; b < 256; b++) {
            char value[40];
            for (size_t k = 0; k < vlen; k++) {
                value[k] = (char)('a' + k % 26);
            }
            value[off] = (char)b;
            memcpy(msg, head, at0);
            memcpy(msg + at0, value, vlen);
            memcpy(msg + at0 + vlen, tail, HT_LEN(tail));
            size_t len = at0 + vlen + HT_LEN(tail);
            ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, hdrs, 8);
            keel_slice in = { (const uint8_t *)msg, len };
            keel_http_request q;
            keel_http_error err = { 0, KEEL_HTTP_OK, 0 };
            size_t used = 0;
            keel_result r = keel_http_parse_request(&p, in, &q, &used, &err);
            bool value_byte = b == '\t' || (b >= 0x20 && b != 0x7f);
            if (value_byte) {
                if (r != KEEL_OK) {
                    fail_msg("byte 0x%02x at %zu: %s at %zu", b, off,
                             keel_http_reason_str(err.reason), err.offset);
                }
                assert_int_equal(used, len);
                /* OWS at either end is not part of the value */
                size_t from = (b == ' ' || b == '\t') && off == 0 ? 1 : 0;
                size_t to = (b == ' ' || b == '\t') && off == vlen - 1 ? vlen - 1 : vlen;
                keel_slice v;
                assert_int_equal(keel_http_header_get(&q.head, KEEL_STR("x-long"), &v), KEEL_OK);
                assert_int_equal(v.len, to - from);
                assert_memory_equal(v.ptr, value + from, to - from);
                continue;
            }
            keel_http_reason want = b == '\r'   ? KEEL_HTTP_BARE_CR
                                    : b == '\n' ? KEEL_HTTP_BARE_LF
                                                : KEEL_HTTP_BAD_FIELD_VALUE;
            size_t want_at = at0 + off + (b == '\r' ? 1u : 0u);
            if (r != KEEL_ERR_PARSE || err.reason != want || err.offset != want_at) {
                fail_msg("byte 0x%02x at %zu: want %s at %zu, got %d %s at %zu", b, off,
                         keel_http_reason_str(want), want_at, r, keel_http_reason_str(err.reason),
                         err.offset);
            }
        }
    }
}

/* ---- limits ---------------------------------------------------------------------------- */

/* A request line of exactly n bytes (CRLF excluded) with a target of
 * n - 15 bytes ("GET " + target + " HTTP/1.1"). */
static size_t line_of(char *buf, size_t n, const char *tail)
{
    size_t t = n - 13;
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', t - 1);
    memcpy(buf + 4 + t, " HTTP/1.1\r\n", 11);
    size_t len = 4 + t + 11;
    memcpy(buf + len, tail, strlen(tail));
    return len + strlen(tail);
}

static void test_limit_start_line_exact_and_one_past(void **state)
{
    (void)state;
    keel_http_limits lim = { 64, 0, 0, 0 };
    char msg[256];
    size_t len = line_of(msg, 64, "Host: h\r\n\r\n");
    ht_outcome o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, len, 0, &lim, 4, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_OK);
    /* one more target byte: the version crosses the limit (400 at the 65th
     * byte of the line) */
    len = line_of(msg, 65, "Host: h\r\n\r\n");
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, len, 0, &lim, 4, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_ERR_TOO_LARGE);
    assert_int_equal(o.err.reason, KEEL_HTTP_START_LINE_TOO_LONG);
    assert_int_equal(o.err.status, 400);
    assert_int_equal(o.err.offset, 64);
    /* a target that itself reaches the 65th byte: 414 there */
    len = line_of(msg, 64 + 9, "Host: h\r\n\r\n");
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, len, 0, &lim, 4, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_ERR_TOO_LARGE);
    assert_int_equal(o.err.reason, KEEL_HTTP_TARGET_TOO_LONG);
    assert_int_equal(o.err.status, 414);
    assert_int_equal(o.err.offset, 64);
    len = line_of(msg, 64 + 8, "Host: h\r\n\r\n");
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, len, 0, &lim, 4, KEEL_HTTP_GET);
    assert_int_equal(o.err.reason, KEEL_HTTP_START_LINE_TOO_LONG);
    /* the limit counts from the request line, not from skipped empty lines */
    char skip[300] = "\r\n\r\n";
    len = line_of(skip + 4, 64, "Host: h\r\n\r\n") + 4;
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, skip, len, 0, &lim, 4, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_OK);
    static const reject_case cases[] = {
        /* the method fills the line: 501 */
        REJ("ABCDEFGHIJ / HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_METHOD_TOO_LONG, 501, "I", 0),
        /* the version makes it too long */
        REJ("GET / HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_START_LINE_TOO_LONG, 400, "TP/", 0),
        /* more empty lines than the limit's worth */
        REJ("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, KEEL_HTTP_START_LINE_TOO_LONG, 400, "\r\nG", 0),
        /* a response's status line */
        REJ("HTTP/1.1 200 OK\r\n\r\n", 0, KEEL_HTTP_START_LINE_TOO_LONG, 400, "OK", 0),
    };
    keel_http_limits small = { 8, 0, 0, 0 };
    expect_rejections(KEEL_HTTP_REQUEST, cases, 3, &small, 4, KEEL_HTTP_GET);
    keel_http_limits status = { 13, 0, 0, 0 };
    expect_rejections(KEEL_HTTP_RESPONSE, cases + 3, 1, &status, 4, KEEL_HTTP_GET);
    status.max_start_line = 14;
    ht_outcome ok = ht_parse_all_ways(KEEL_HTTP_RESPONSE, "HTTP/1.1 200 O\r\n\r\n", 18, 0,
                                      &status, 4, KEEL_HTTP_GET);
    assert_int_equal(ok.r, KEEL_OK);
    /* the default limit: 8192 */
    char *big = malloc(9000);
    assert_non_null(big);
    len = line_of(big, 8192, "Host: h\r\n\r\n");
    keel_http_parser p;
    keel_http_header h[2];
    keel_http_request q;
    size_t consumed = 0;
    keel_http_error err;
    ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 2);
    keel_slice in = { (const uint8_t *)big, len };
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, &err), KEEL_OK);
    len = line_of(big, 8193 + 9, "Host: h\r\n\r\n");
    ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 2);
    in.len = len;
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, &err), KEEL_ERR_TOO_LARGE);
    assert_int_equal(err.reason, KEEL_HTTP_TARGET_TOO_LONG);
    assert_int_equal(err.offset, 8192);
    free(big);
}

static void test_limit_header_bytes_exact_and_one_past(void **state)
{
    (void)state;
    /* the header section "Host: h\r\nX: 123\r\n\r\n" is 19 bytes */
    static const char msg[] = "GET / HTTP/1.1\r\nHost: h\r\nX: 123\r\n\r\n";
    keel_http_limits lim = { 0, 19, 0, 0 };
    ht_outcome o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, HT_LEN(msg), 0, &lim, 4, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_OK);
    lim.max_header_bytes = 18;
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, HT_LEN(msg), 0, &lim, 4, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_ERR_TOO_LARGE);
    assert_int_equal(o.err.reason, KEEL_HTTP_HEADERS_TOO_LARGE);
    assert_int_equal(o.err.status, 431);
    assert_int_equal(o.err.offset, HT_LEN(msg) - 1);
    lim.max_header_bytes = 5;
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, HT_LEN(msg), 0, &lim, 4, KEEL_HTTP_GET);
    assert_int_equal(o.err.reason, KEEL_HTTP_HEADERS_TOO_LARGE);
    assert_int_equal(o.err.offset, 16 + 5);
}

static void test_limit_header_count_is_the_array_size(void **state)
{
    (void)state;
    static const char msg[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    ht_outcome o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, HT_LEN(msg), 0, NULL, 3, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_OK);
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, HT_LEN(msg), 0, NULL, 2, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_ERR_TOO_LARGE);
    assert_int_equal(o.err.reason, KEEL_HTTP_TOO_MANY_HEADERS);
    assert_int_equal(o.err.status, 431);
    assert_int_equal(o.err.offset, (size_t)(strstr(msg, "B:") - msg));
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, msg, HT_LEN(msg), 0, NULL, 0, KEEL_HTTP_GET);
    assert_int_equal(o.err.reason, KEEL_HTTP_TOO_MANY_HEADERS);
    assert_int_equal(o.err.offset, 16);
    o = ht_parse_all_ways(KEEL_HTTP_REQUEST, "GET / HTTP/1.0\r\n\r\n", 18, 0, NULL, 0, KEEL_HTTP_GET);
    assert_int_equal(o.r, KEEL_OK);
}

/* A 64 KiB header block fed one byte per call: every call moves the resume
 * point by exactly the byte offered (st_.pos is the parser's only cursor,
 * and no call looks behind it), so the total work is linear. */
static void test_trickled_64k_head_is_linear(void **state)
{
    (void)state;
    enum { LINES = 1024, N = 16 + LINES * 64 + 2 };
    char *msg = malloc(N);
    assert_non_null(msg);
    size_t len = 0;
    memcpy(msg, "GET / HTTP/1.1\r\n", 16);
    len = 16;
    for (int i = 0; i < LINES; i++) {
        int n = snprintf(msg + len, 65, i == 0 ? "Host: %056d\r\n" : "X-%04d: %054d\r\n", i, i);
        assert_int_equal(n, 64);
        len += 64;
    }
    memcpy(msg + len, "\r\n", 2);
    len += 2;
    assert_int_equal(len, N);
    keel_http_header *h = calloc(LINES, sizeof(*h));
    assert_non_null(h);
    keel_http_limits lim = { 0, 70000, 0, 0 };
    keel_http_parser p;
    ht_init(&p, KEEL_HTTP_REQUEST, 0, &lim, h, LINES);
    keel_http_request q;
    size_t consumed = 0;
    keel_result r = KEEL_ERR_INCOMPLETE;
    size_t k = 0;
    for (k = 1; k <= len && r == KEEL_ERR_INCOMPLETE; k++) {
        keel_slice in = { (const uint8_t *)msg, k };
        size_t before = p.st_.pos;
        r = keel_http_parse_request(&p, in, &q, &consumed, NULL);
        if (r == KEEL_ERR_INCOMPLETE) {
            assert_int_equal(before, k - 1);
            assert_int_equal(p.st_.pos, k);
        }
    }
    assert_int_equal(r, KEEL_OK);
    assert_int_equal(consumed, len);
    assert_int_equal(q.head.header_count, LINES);
    keel_slice v;
    assert_int_equal(keel_http_header_get(&q.head, KEEL_STR("x-1023"), &v), KEEL_OK);
    assert_int_equal(v.len, 54);
    free(h);
    free(msg);
}

/* ---- API edges ------------------------------------------------------------------------ */

static void test_invalid_arguments_are_refused(void **state)
{
    (void)state;
    keel_http_parser p;
    keel_http_header h[2];
    keel_http_request q;
    keel_http_response s;
    size_t consumed = 7;
    keel_http_config cfg = { { 0, 0, 0, 0 }, 0 };
    assert_int_equal(keel_http_parser_init(NULL, KEEL_HTTP_REQUEST, NULL, h, 2), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_parser_init(&p, (keel_http_kind)0, NULL, h, 2), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_parser_init(&p, (keel_http_kind)3, NULL, h, 2), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_parser_init(&p, KEEL_HTTP_REQUEST, NULL, NULL, 2), KEEL_ERR_INVALID_ARG);
    cfg.lenient = 1u << 4;
    assert_int_equal(keel_http_parser_init(&p, KEEL_HTTP_REQUEST, &cfg, h, 2), KEEL_ERR_INVALID_ARG);
    cfg.lenient = 0;
    cfg.limits.max_header_bytes = KEEL_HTTP_LIMIT_CAP + 1u;
    assert_int_equal(keel_http_parser_init(&p, KEEL_HTTP_REQUEST, &cfg, h, 2), KEEL_ERR_INVALID_ARG);
    cfg.limits.max_header_bytes = KEEL_HTTP_LIMIT_CAP;
    assert_int_equal(keel_http_parser_init(&p, KEEL_HTTP_REQUEST, &cfg, h, 2), KEEL_OK);
    assert_int_equal(p.cfg.limits.max_start_line, KEEL_HTTP_DEFAULT_MAX_START_LINE);
    assert_int_equal(keel_http_parser_init(&p, KEEL_HTTP_REQUEST, NULL, NULL, 0), KEEL_OK);

    ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 2);
    keel_slice in = KEEL_STR("GET / HTTP/1.1\r\n");
    keel_slice bad = { NULL, 3 };
    assert_int_equal(keel_http_parse_request(NULL, in, &q, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_parse_request(&p, in, NULL, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_parse_request(&p, in, &q, NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_parse_request(&p, bad, &q, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_parse_response(&p, in, KEEL_HTTP_GET, &s, &consumed, NULL),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(consumed, 7);
    /* the offered bytes may only grow */
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, NULL), KEEL_ERR_INCOMPLETE);
    assert_int_equal(consumed, 0);
    in.len = 5;
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    /* a corrupted parser */
    keel_http_parser broken = p;
    broken.st_.count = 3;
    in.len = 16;
    assert_int_equal(keel_http_parse_request(&broken, in, &q, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    broken = p;
    broken.st_.state = 99;
    assert_int_equal(keel_http_parse_request(&broken, in, &q, &consumed, NULL), KEEL_ERR_INVALID_ARG);
    broken = p;
    broken.headers = NULL;
    assert_int_equal(keel_http_parse_request(&broken, in, &q, &consumed, NULL), KEEL_ERR_INVALID_ARG);

    keel_http_head head = { 1, NULL, 1, KEEL_HTTP_BODY_NONE, 0, false, false };
    keel_slice v;
    assert_int_equal(keel_http_header_get(&head, KEEL_STR("a"), &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_header_get(NULL, KEEL_STR("a"), &v), KEEL_ERR_INVALID_ARG);
    head.header_count = 0;
    assert_int_equal(keel_http_header_get(&head, KEEL_STR("a"), NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_header_get(&head, bad, &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_header_get(&head, KEEL_STR("a"), &v), KEEL_ERR_NOT_FOUND);
    keel_http_error e = keel_http_parser_error(NULL);
    assert_int_equal(e.reason, KEEL_HTTP_OK);
    keel_http_parser_reset(NULL);
}

static void test_errors_are_sticky_until_reset(void **state)
{
    (void)state;
    keel_http_parser p;
    keel_http_header h[2];
    keel_http_request q;
    size_t consumed = 0;
    keel_http_error err;
    ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 2);
    keel_slice in = KEEL_STR("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n");
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, &err), KEEL_ERR_PARSE);
    assert_int_equal(err.reason, KEEL_HTTP_OBS_FOLD);
    memset(&err, 0, sizeof(err));
    assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, &err), KEEL_ERR_PARSE);
    assert_int_equal(err.reason, KEEL_HTTP_OBS_FOLD);
    assert_int_equal(err.offset, 25);
    assert_int_equal(keel_http_parser_error(&p).status, 400);
    keel_http_parser_reset(&p);
    assert_int_equal(keel_http_parser_error(&p).reason, KEEL_HTTP_OK);
    keel_slice good = KEEL_STR("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(keel_http_parse_request(&p, good, &q, &consumed, &err), KEEL_OK);
    /* after a complete head the parser is ready for the next message */
    assert_int_equal(keel_http_parse_request(&p, good, &q, &consumed, &err), KEEL_OK);
}

static void test_reason_strings_and_statuses_are_total(void **state)
{
    (void)state;
    for (int i = 0; i < (int)KEEL_HTTP_REASON_COUNT; i++) {
        const char *s = keel_http_reason_str((keel_http_reason)i);
        assert_non_null(s);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(s, keel_http_reason_str((keel_http_reason)j));
        }
        uint16_t st = keel_http_reason_status((keel_http_reason)i);
        assert_true(i == 0 ? st == 0 : (st == 400 || st == 413 || st == 414 || st == 431 ||
                                        st == 501 || st == 505));
    }
    assert_string_equal(keel_http_reason_str(KEEL_HTTP_REASON_COUNT), "unknown HTTP error");
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_REASON_COUNT), 0);
    assert_int_equal(keel_http_reason_status((keel_http_reason)-1), 0);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_TARGET_TOO_LONG), 414);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_METHOD_TOO_LONG), 501);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING), 501);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_UNSUPPORTED_VERSION), 505);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE), 413);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_CHUNK_SIZE_TOO_LARGE), 413);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_HEADERS_TOO_LARGE), 431);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_TRAILERS_TOO_LARGE), 431);
    assert_int_equal(keel_http_reason_status(KEEL_HTTP_CHUNK_EXT_TOO_LARGE), 400);
}

/* ---- guard pages ------------------------------------------------------------------------- */

/* A complete head and every truncation of it, each placed flush against a
 * PROT_NONE page: a one-byte over-read crashes. Truncations are
 * INCOMPLETE; the whole is OK. */
static void test_guard_every_truncation_stays_in_bounds(void **state)
{
    (void)state;
    static const char *const msgs[] = {
        "GET /p%41?q HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 12\r\nX: a \t\r\n\r\n",
        "\r\nPOST http://h/x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    };
    for (size_t m = 0; m < KT_COUNT(msgs); m++) {
        size_t len = strlen(msgs[m]);
        for (size_t k = 0; k <= len; k++) {
            guard_region g;
            uint8_t *data = guard_alloc(&g, msgs[m], k);
            assert_non_null(data);
            keel_http_parser p;
            keel_http_header h[8];
            keel_http_request q;
            size_t consumed = 0;
            ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 8);
            keel_slice in = { k > 0 ? data : NULL, k };
            keel_result r = keel_http_parse_request(&p, in, &q, &consumed, NULL);
            if (m == 1 && r == KEEL_ERR_PARSE) {
                /* TE in HTTP/1.0: rejected once the field line is complete */
                assert_int_equal(keel_http_parser_error(&p).reason,
                                 KEEL_HTTP_TRANSFER_ENCODING_IN_HTTP10);
            } else {
                assert_int_equal(r, k == len ? KEEL_OK : KEEL_ERR_INCOMPLETE);
            }
            guard_free(&g);
        }
    }
    static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (size_t k = 0; k <= HT_LEN(resp); k++) {
        guard_region g;
        uint8_t *data = guard_alloc(&g, resp, k);
        assert_non_null(data);
        keel_http_parser p;
        keel_http_header h[2];
        keel_http_response s;
        size_t consumed = 0;
        ht_init(&p, KEEL_HTTP_RESPONSE, 0, NULL, h, 2);
        keel_slice in = { k > 0 ? data : NULL, k };
        assert_int_equal(keel_http_parse_response(&p, in, KEEL_HTTP_GET, &s, &consumed, NULL),
                         k == HT_LEN(resp) ? KEEL_OK : KEEL_ERR_INCOMPLETE);
        guard_free(&g);
    }
}

/* Rejections decided at the very last byte, against the guard page. */
static void test_guard_rejections_at_the_last_byte(void **state)
{
    (void)state;
    static const char *const msgs[] = {
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01", "GET / HTTP/1.1\r\nHost: h\r\n\rX",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
        "GET /a\"", "GET / HTTP/1.1x", "GET / HTTP/1.1\r\nHost: h\r\n ",
    };
    for (size_t m = 0; m < KT_COUNT(msgs); m++) {
        size_t len = strlen(msgs[m]);
        guard_region g;
        uint8_t *data = guard_alloc(&g, msgs[m], len);
        assert_non_null(data);
        keel_http_parser p;
        keel_http_header h[4];
        keel_http_request q;
        size_t consumed = 0;
        keel_http_error err;
        ht_init(&p, KEEL_HTTP_REQUEST, 0, NULL, h, 4);
        keel_slice in = { data, len };
        assert_int_equal(keel_http_parse_request(&p, in, &q, &consumed, &err), KEEL_ERR_PARSE);
        assert_true(err.offset < len);
        guard_free(&g);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_origin_form_with_query_and_escapes),
        cmocka_unit_test(test_request_absolute_authority_and_asterisk_forms),
        cmocka_unit_test(test_request_methods_are_tokens_mapped_case_sensitively),
        cmocka_unit_test(test_framing_field_names_any_case_and_near_misses),
        cmocka_unit_test(test_request_field_values_trimmed_obs_text_kept),
        cmocka_unit_test(test_request_empty_lines_before_the_request_line_are_skipped),
        cmocka_unit_test(test_request_body_framing),
        cmocka_unit_test(test_request_keep_alive_by_version_and_connection),
        cmocka_unit_test(test_request_expect_upgrade_and_host),
        cmocka_unit_test(test_host_every_byte_at_every_offset),
        cmocka_unit_test(test_request_pipelined_back_to_back),
        cmocka_unit_test(test_response_framing_per_rfc9112_6_3),
        cmocka_unit_test(test_response_status_and_reason_phrase),
        cmocka_unit_test(test_response_rejections),
        cmocka_unit_test(test_reject_start_line_reasons),
        cmocka_unit_test(test_reject_http09_and_absurd_versions),
        cmocka_unit_test(test_version_every_one_bit_change_rejected_but_the_minor),
        cmocka_unit_test(test_header_array_holds_no_stale_pointer_before_the_head_completes),
        cmocka_unit_test(test_header_array_changed_between_calls_gives_no_slice_outside_the_input),
        cmocka_unit_test(test_reject_field_line_reasons),
        cmocka_unit_test(test_smuggling_content_length_and_transfer_encoding_together),
        cmocka_unit_test(test_smuggling_transfer_encoding_obfuscations),
        cmocka_unit_test(test_smuggling_content_length_values),
        cmocka_unit_test(test_bare_cr_and_bare_lf_in_every_position),
        cmocka_unit_test(test_every_byte_at_every_offset_of_a_value),
        cmocka_unit_test(test_limit_start_line_exact_and_one_past),
        cmocka_unit_test(test_limit_header_bytes_exact_and_one_past),
        cmocka_unit_test(test_limit_header_count_is_the_array_size),
        cmocka_unit_test(test_trickled_64k_head_is_linear),
        cmocka_unit_test(test_invalid_arguments_are_refused),
        cmocka_unit_test(test_errors_are_sticky_until_reset),
        cmocka_unit_test(test_reason_strings_and_statuses_are_total),
        cmocka_unit_test(test_guard_every_truncation_stays_in_bounds),
        cmocka_unit_test(test_guard_rejections_at_the_last_byte),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

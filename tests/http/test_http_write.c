/*
 * tests/http/test_http_write.c - the canonical head writer (keel_http_write_
 * request_head / _response_head, keel_http_field_check) and the Date
 * formatter: exact bytes, what keel's own parser reads back, refusal of
 * every injection attempt (CR, LF, NUL, framing fields, surrounding
 * whitespace) with the buf unchanged, and all-or-nothing at every capacity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/http.h"

#define SZ(lit) (sizeof(lit) - 1u)

static keel_buf buf_over(uint8_t *storage, size_t cap)
{
    keel_buf b;
    assert_int_equal(keel_buf_init(&b, storage, cap), KEEL_OK);
    return b;
}

static void assert_buf_text(const keel_buf *b, const char *want)
{
    size_t n = strlen(want);
    if (b->len != n || memcmp(b->ptr, want, n) != 0) {
        print_error("got  '%.*s'\nwant '%s'\n", (int)b->len, (const char *)b->ptr, want);
        fail();
    }
}

static const keel_http_framing NO_BODY = { KEEL_HTTP_BODY_NONE, 0, false, false };

static void test_request_without_body_has_no_framing_field(void **state)
{
    (void)state;
    uint8_t mem[256];
    keel_buf b = buf_over(mem, sizeof mem);
    keel_http_field f[] = { { KEEL_STR("Accept"), KEEL_STR("application/json") } };
    assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("GET"), KEEL_STR("/data?x=1"),
                                                  KEEL_STR("example.com:8080"), f, 1, &NO_BODY),
                     KEEL_OK);
    assert_buf_text(&b, "GET /data?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
                        "Accept: application/json\r\n\r\n");
}

static void test_request_framings(void **state)
{
    (void)state;
    uint8_t mem[256];
    keel_buf b = buf_over(mem, sizeof mem);
    keel_http_framing len = { KEEL_HTTP_BODY_LENGTH, 31, true, false };
    assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("POST"), KEEL_STR("/data"),
                                                  KEEL_STR("127.0.0.1"), NULL, 0, &len),
                     KEEL_OK);
    assert_buf_text(&b, "POST /data HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 31\r\n"
                        "Connection: close\r\n\r\n");
    keel_buf_clear(&b);
    keel_http_framing chunked = { KEEL_HTTP_BODY_CHUNKED, 99, false, false };
    assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("PUT"), KEEL_STR("/up"),
                                                  KEEL_STR("[::1]:80"), NULL, 0, &chunked),
                     KEEL_OK);
    assert_buf_text(&b, "PUT /up HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: chunked\r\n\r\n");
    keel_buf_clear(&b);
    keel_http_framing until_close = { KEEL_HTTP_BODY_UNTIL_CLOSE, 0, false, false };
    assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("GET"), KEEL_STR("/"),
                                                  KEEL_STR("h"), NULL, 0, &until_close),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 0);
}

static void test_request_target_forms_follow_the_parser(void **state)
{
    (void)state;
    uint8_t mem[256];
    keel_buf b = buf_over(mem, sizeof mem);
    struct {
        const char *method, *target;
        keel_result want;
    } cases[] = {
        { "OPTIONS", "*", KEEL_OK },
        { "GET", "*", KEEL_ERR_PARSE },
        { "CONNECT", "example.com:443", KEEL_OK },
        { "GET", "example.com:443", KEEL_ERR_PARSE },
        { "CONNECT", "/path", KEEL_ERR_PARSE },
        { "GET", "http://example.com/a?b", KEEL_OK },
        { "GET", "/a%20b", KEEL_OK },
        { "GET", "/a%2", KEEL_ERR_PARSE },
        { "GET", "/a b", KEEL_ERR_PARSE },
        { "GET", "/a\"b", KEEL_ERR_PARSE },
        { "GET", "", KEEL_ERR_PARSE },
        { "GET", "/a\r\nX-Injected: 1", KEEL_ERR_PARSE },
        { "GET", "/a HTTP/1.1\r\nHost: evil\r\n\r\nGET /b", KEEL_ERR_PARSE },
        { "GET", "/\xff", KEEL_ERR_PARSE },
        { "G ET", "/", KEEL_ERR_PARSE },
        { "GET\r\n", "/", KEEL_ERR_PARSE },
        { "", "/", KEEL_ERR_PARSE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b.len = 7; /* something already in the buf stays */
        keel_result r = keel_http_write_request_head(&b, keel_slice_cstr(cases[i].method),
                                                     keel_slice_cstr(cases[i].target),
                                                     KEEL_STR("example.com"), NULL, 0, &NO_BODY);
        if (r != cases[i].want) {
            print_error("%s %s: got %s\n", cases[i].method, cases[i].target, keel_result_name(r));
            fail();
        }
        assert_int_equal(b.len, r == KEEL_OK ? b.len : 7);
    }
}

static void test_request_host_follows_the_parser(void **state)
{
    (void)state;
    uint8_t mem[256];
    keel_buf b = buf_over(mem, sizeof mem);
    const char *good[] = { "example.com", "a.b-c_d~e", "127.0.0.1:65535", "[2001:db8::1]",
                           "[::1]:8080", "" };
    const char *bad[] = { "exa mple.com", "a\r\nX: y", "a@b", "[::1", "host:port", "a\tb",
                          " host", "host ", "h\x00st" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        keel_buf_clear(&b);
        assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("GET"), KEEL_STR("/"),
                                                      keel_slice_cstr(good[i]), NULL, 0, &NO_BODY),
                         KEEL_OK);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        keel_buf_clear(&b);
        keel_slice host = keel_slice_cstr(bad[i]);
        if (i == 8) {
            host = (keel_slice){ (const uint8_t *)bad[i], 5 };
        }
        keel_result r = keel_http_write_request_head(&b, KEEL_STR("GET"), KEEL_STR("/"), host, NULL,
                                                     0, &NO_BODY);
        if (r != KEEL_ERR_PARSE) {
            print_error("host '%s': got %s\n", bad[i], keel_result_name(r));
            fail();
        }
        assert_int_equal(b.len, 0);
    }
}

static void test_field_check_refuses_every_injection(void **state)
{
    (void)state;
    assert_int_equal(keel_http_field_check(KEEL_STR("X-Ok"), KEEL_STR("a b\tc \xe9")), KEEL_OK);
    assert_int_equal(keel_http_field_check(KEEL_STR("X-Empty"), KEEL_STR("")), KEEL_OK);
    const char *bad_names[] = { "", "X Name", "X:Name", "X-\x01", "X\r\nY", "X(", "\xc3\xa9" };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_int_equal(keel_http_field_check(keel_slice_cstr(bad_names[i]), KEEL_STR("v")),
                         KEEL_ERR_PARSE);
    }
    const char *bad_values[] = { "a\r\nX-Injected: 1", "a\rb", "a\nb", " lead", "trail ",
                                 "\ttab", "del\x7f", "bell\x07" };
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        assert_int_equal(keel_http_field_check(KEEL_STR("X"), keel_slice_cstr(bad_values[i])),
                         KEEL_ERR_PARSE);
    }
    uint8_t nul[] = { 'a', 0, 'b' };
    assert_int_equal(keel_http_field_check(KEEL_STR("X"), (keel_slice){ nul, 3 }),
                     KEEL_ERR_PARSE);
    keel_slice wild = { (const uint8_t *)(UINTPTR_MAX - 3), 100 };
    assert_int_equal(keel_http_field_check(wild, KEEL_STR("v")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_field_check(KEEL_STR("X"), wild), KEEL_ERR_INVALID_ARG);
}

static void test_fields_keel_writes_itself_are_refused_in_any_case(void **state)
{
    (void)state;
    uint8_t mem[256];
    keel_buf b = buf_over(mem, sizeof mem);
    const char *owned[] = { "Content-Length", "content-length", "TRANSFER-ENCODING",
                            "Connection", "host", "HoSt" };
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        keel_http_field f[] = { { KEEL_STR("X-A"), KEEL_STR("1") },
                                { keel_slice_cstr(owned[i]), KEEL_STR("5") } };
        assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("GET"), KEEL_STR("/"),
                                                      KEEL_STR("h"), f, 2, &NO_BODY),
                         KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), f, 2,
                                                       &NO_BODY),
                         KEEL_ERR_INVALID_ARG);
        assert_int_equal(b.len, 0);
    }
    /* a field whose value tries to smuggle a second framing field */
    keel_http_field smuggle[] = { { KEEL_STR("X-A"), KEEL_STR("1\r\nContent-Length: 0") } };
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), smuggle, 1,
                                                   &NO_BODY),
                     KEEL_ERR_PARSE);
    assert_int_equal(b.len, 0);
    assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("GET"), KEEL_STR("/"),
                                                  KEEL_STR("h"), NULL, 1, &NO_BODY),
                     KEEL_ERR_INVALID_ARG);
}

static void test_bytes_in_the_spare_room_are_refused(void **state)
{
    (void)state;
    uint8_t mem[256];
    keel_buf b = buf_over(mem, sizeof mem);
    assert_int_equal(keel_buf_append(&b, KEEL_STR("X-Filled")), KEEL_OK);
    /* a value stored where the head is about to be written */
    memcpy(mem + 100, "tricky", 6);
    keel_http_field spare[] = { { KEEL_STR("X"), { mem + 100, 6 } } };
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), spare, 1,
                                                   &NO_BODY),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("GET"), (keel_slice){ mem + 100, 6 },
                                                  KEEL_STR("h"), NULL, 0, &NO_BODY),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 8);
    /* bytes already filled in the buf are fine: they are not overwritten */
    keel_http_field filled[] = { { keel_buf_slice(&b), KEEL_STR("1") } };
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), filled, 1,
                                                   &NO_BODY),
                     KEEL_OK);
    assert_buf_text(&b, "X-FilledHTTP/1.1 200 OK\r\nX-Filled: 1\r\nContent-Length: 0\r\n\r\n");
}

static void test_written_request_reads_back_the_same(void **state)
{
    (void)state;
    uint8_t mem[512];
    keel_buf b = buf_over(mem, sizeof mem);
    keel_http_field f[] = { { KEEL_STR("Content-Type"), KEEL_STR("application/json") },
                            { KEEL_STR("X-Trace"), KEEL_STR("a \xc3\xa9 b") },
                            { KEEL_STR("Expect"), KEEL_STR("100-continue") } };
    keel_http_framing len = { KEEL_HTTP_BODY_LENGTH, 31, false, false };
    assert_int_equal(keel_http_write_request_head(&b, KEEL_STR("POST"), KEEL_STR("/data"),
                                                  KEEL_STR("localhost:3030"), f, 3, &len),
                     KEEL_OK);
    keel_http_header hs[8];
    keel_http_parser p;
    assert_int_equal(keel_http_parser_init(&p, KEEL_HTTP_REQUEST, NULL, hs, 8), KEEL_OK);
    keel_http_request req;
    size_t used = 0;
    assert_int_equal(keel_http_parse_request(&p, keel_buf_slice(&b), &req, &used, NULL), KEEL_OK);
    assert_int_equal(used, b.len);
    assert_int_equal(req.method_id, KEEL_HTTP_POST);
    assert_true(keel_slice_eq(req.path, KEEL_STR("/data")));
    assert_true(keel_slice_eq(req.authority, KEEL_STR("localhost:3030")));
    assert_int_equal(req.head.body, KEEL_HTTP_BODY_LENGTH);
    assert_int_equal(req.head.content_length, 31);
    assert_true(req.head.keep_alive);
    assert_true(req.expect_continue);
    assert_int_equal(req.head.header_count, 5); /* Host, 3 fields, Content-Length */
    for (size_t i = 0; i < 3; i++) {
        assert_true(keel_slice_eq(hs[i + 1].name, f[i].name));
        assert_true(keel_slice_eq(hs[i + 1].value, f[i].value));
    }
}

static void test_request_is_all_or_nothing_at_every_capacity(void **state)
{
    (void)state;
    uint8_t full[512];
    keel_buf whole = buf_over(full, sizeof full);
    keel_http_field f[] = { { KEEL_STR("A"), KEEL_STR("b") } };
    keel_http_framing len = { KEEL_HTTP_BODY_LENGTH, 12345, true, false };
    assert_int_equal(keel_http_write_request_head(&whole, KEEL_STR("POST"), KEEL_STR("/x"),
                                                  KEEL_STR("h:1"), f, 1, &len),
                     KEEL_OK);
    for (size_t cap = 0; cap <= whole.len; cap++) {
        uint8_t mem[512];
        memset(mem, 0xAA, sizeof mem);
        keel_buf b = buf_over(mem, cap);
        keel_result r = keel_http_write_request_head(&b, KEEL_STR("POST"), KEEL_STR("/x"),
                                                     KEEL_STR("h:1"), f, 1, &len);
        if (cap < whole.len) {
            assert_int_equal(r, KEEL_ERR_TOO_LARGE);
            assert_int_equal(b.len, 0);
        } else {
            assert_int_equal(r, KEEL_OK);
            assert_memory_equal(mem, full, whole.len);
        }
        for (size_t i = cap; i < sizeof mem; i++) {
            assert_int_equal(mem[i], 0xAA); /* never a byte past the cap */
        }
    }
}

static void test_response_heads(void **state)
{
    (void)state;
    uint8_t mem[256];
    keel_buf b = buf_over(mem, sizeof mem);
    keel_http_field f[] = { { KEEL_STR("Server"), KEEL_STR("keel") } };
    keel_http_framing len = { KEEL_HTTP_BODY_LENGTH, 5, false, false };
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), f, 1, &len),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 200 OK\r\nServer: keel\r\nContent-Length: 5\r\n\r\n");
    keel_buf_clear(&b);
    assert_int_equal(keel_http_write_response_head(&b, 404, keel_slice_empty(), NULL, 0, &NO_BODY),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    keel_buf_clear(&b);
    assert_int_equal(keel_http_write_response_head(&b, 204, keel_slice_empty(), NULL, 0, &NO_BODY),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 204 No Content\r\n\r\n");
    keel_buf_clear(&b);
    assert_int_equal(keel_http_write_response_head(&b, 100, keel_slice_empty(), NULL, 0, &NO_BODY),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 100 Continue\r\n\r\n");
    keel_buf_clear(&b);
    keel_http_framing until = { KEEL_HTTP_BODY_UNTIL_CLOSE, 0, false, false };
    assert_int_equal(keel_http_write_response_head(&b, 200, KEEL_STR("Fine"), NULL, 0, &until),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 200 Fine\r\nConnection: close\r\n\r\n");
    keel_buf_clear(&b);
    keel_http_framing chunked = { KEEL_HTTP_BODY_CHUNKED, 0, true, false };
    assert_int_equal(keel_http_write_response_head(&b, 299, keel_slice_empty(), NULL, 0, &chunked),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 299 \r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    keel_buf_clear(&b);
    /* keep_alive (for an HTTP/1.0 peer): written unless close is set or the
     * body runs to the close. */
    keel_http_framing kept = { KEEL_HTTP_BODY_LENGTH, 2, false, true };
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), NULL, 0, &kept),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
    keel_buf_clear(&b);
    kept.close = true;
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), NULL, 0, &kept),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
    keel_buf_clear(&b);
    keel_http_framing kept_until = { KEEL_HTTP_BODY_UNTIL_CLOSE, 0, false, true };
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), NULL, 0,
                                                   &kept_until),
                     KEEL_OK);
    assert_buf_text(&b, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    keel_buf_clear(&b);
    /* refused, buf unchanged */
    assert_int_equal(keel_http_write_response_head(&b, 204, keel_slice_empty(), NULL, 0, &len),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_write_response_head(&b, 304, keel_slice_empty(), NULL, 0, &chunked),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_write_response_head(&b, 99, keel_slice_empty(), NULL, 0, &NO_BODY),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_write_response_head(&b, 600, keel_slice_empty(), NULL, 0, &NO_BODY),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_write_response_head(&b, 200, KEEL_STR("OK\r\nX: y"), NULL, 0,
                                                   &NO_BODY),
                     KEEL_ERR_PARSE);
    keel_http_framing odd = { (keel_http_body)42, 0, false, false };
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), NULL, 0, &odd),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_write_response_head(&b, 200, keel_slice_empty(), NULL, 0, NULL),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_write_response_head(NULL, 200, keel_slice_empty(), NULL, 0,
                                                   &NO_BODY),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 0);
}

static void test_written_responses_read_back_with_their_framing(void **state)
{
    (void)state;
    struct {
        uint16_t status;
        keel_http_framing f;
        keel_http_body want;
        uint64_t want_len;
        bool keep_alive;
    } cases[] = {
        { 200, { KEEL_HTTP_BODY_LENGTH, 77, false, false }, KEEL_HTTP_BODY_LENGTH, 77, true },
        { 200, { KEEL_HTTP_BODY_NONE, 0, false, false }, KEEL_HTTP_BODY_LENGTH, 0, true },
        { 500, { KEEL_HTTP_BODY_CHUNKED, 0, true, false }, KEEL_HTTP_BODY_CHUNKED, 0, false },
        { 200, { KEEL_HTTP_BODY_UNTIL_CLOSE, 0, false, false }, KEEL_HTTP_BODY_UNTIL_CLOSE, 0, false },
        { 304, { KEEL_HTTP_BODY_NONE, 0, false, false }, KEEL_HTTP_BODY_NONE, 0, true },
        { 103, { KEEL_HTTP_BODY_NONE, 0, false, false }, KEEL_HTTP_BODY_NONE, 0, true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t mem[256];
        keel_buf b = buf_over(mem, sizeof mem);
        keel_http_field f[] = { { KEEL_STR("Date"), KEEL_STR("Sun, 06 Nov 1994 08:49:37 GMT") } };
        assert_int_equal(keel_http_write_response_head(&b, cases[i].status, keel_slice_empty(), f,
                                                       1, &cases[i].f),
                         KEEL_OK);
        keel_http_header hs[8];
        keel_http_parser p;
        assert_int_equal(keel_http_parser_init(&p, KEEL_HTTP_RESPONSE, NULL, hs, 8), KEEL_OK);
        keel_http_response resp;
        size_t used = 0;
        assert_int_equal(keel_http_parse_response(&p, keel_buf_slice(&b), KEEL_HTTP_GET, &resp,
                                                  &used, NULL),
                         KEEL_OK);
        assert_int_equal(used, b.len);
        assert_int_equal(resp.status, cases[i].status);
        assert_int_equal(resp.head.body, cases[i].want);
        assert_int_equal(resp.head.content_length, cases[i].want_len);
        assert_int_equal(resp.head.keep_alive, cases[i].keep_alive);
    }
}

static void test_status_reasons(void **state)
{
    (void)state;
    assert_true(keel_slice_eq(keel_http_status_reason(200), KEEL_STR("OK")));
    assert_true(keel_slice_eq(keel_http_status_reason(413), KEEL_STR("Content Too Large")));
    assert_true(keel_slice_eq(keel_http_status_reason(431),
                              KEEL_STR("Request Header Fields Too Large")));
    assert_true(keel_slice_eq(keel_http_status_reason(505),
                              KEEL_STR("HTTP Version Not Supported")));
    assert_int_equal(keel_http_status_reason(299).len, 0);
    assert_int_equal(keel_http_status_reason(0).len, 0);
    /* every code: empty, or a slice of the table's at most 32 bytes, each of
     * them a reason-phrase byte (read here: ASan and valgrind check the
     * reads; keel_http_status_reason is tested, not proven) */
    for (uint32_t code = 0; code <= UINT16_MAX; code++) {
        keel_slice r = keel_http_status_reason((uint16_t)code);
        assert_true(keel_slice_valid(r));
        assert_true(r.len <= 32);
        assert_true(r.len == 0 || (code >= 100 && code <= 599));
        for (size_t i = 0; i < r.len; i++) {
            assert_true(r.ptr[i] == ' ' || r.ptr[i] == '-' || r.ptr[i] == '\'' ||
                        (r.ptr[i] >= 'A' && r.ptr[i] <= 'Z') || (r.ptr[i] >= 'a' && r.ptr[i] <= 'z'));
        }
    }
    /* every phrase is something the writer accepts */
    for (unsigned s = 100; s <= 599; s++) {
        assert_int_equal(keel_http_field_check(KEEL_STR("X"), keel_http_status_reason((uint16_t)s)),
                         KEEL_OK);
    }
}

static void check_date(uint64_t t, const char *want)
{
    uint8_t mem[KEEL_HTTP_DATE_LEN];
    keel_buf b = buf_over(mem, sizeof mem);
    assert_int_equal(keel_http_format_date(t, &b), KEEL_OK);
    assert_buf_text(&b, want);
}

static void test_dates_known_values(void **state)
{
    (void)state;
    check_date(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    check_date(784111777, "Sun, 06 Nov 1994 08:49:37 GMT"); /* RFC 9110's example */
    check_date(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
    check_date(4107542399u, "Sun, 28 Feb 2100 23:59:59 GMT");
    check_date(4107542400u, "Mon, 01 Mar 2100 00:00:00 GMT"); /* 2100 is not a leap year */
    check_date(253402300799u, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static void test_dates_against_gmtime(void **state)
{
    (void)state;
    uint64_t seed = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 20000; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        uint64_t t = seed % 253402300800u;
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        char want[64];
        static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        snprintf(want, sizeof want, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        check_date(t, want);
    }
}

static void test_dates_refused(void **state)
{
    (void)state;
    uint8_t mem[64];
    keel_buf b = buf_over(mem, KEEL_HTTP_DATE_LEN - 1);
    assert_int_equal(keel_http_format_date(0, &b), KEEL_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    b = buf_over(mem, sizeof mem);
    assert_int_equal(keel_http_format_date(253402300800u, &b), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_format_date(UINT64_MAX, &b), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_http_format_date(0, NULL), KEEL_ERR_INVALID_ARG);
    keel_buf bad = { NULL, 5, 0 };
    assert_int_equal(keel_http_format_date(0, &bad), KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_without_body_has_no_framing_field),
        cmocka_unit_test(test_request_framings),
        cmocka_unit_test(test_request_target_forms_follow_the_parser),
        cmocka_unit_test(test_request_host_follows_the_parser),
        cmocka_unit_test(test_field_check_refuses_every_injection),
        cmocka_unit_test(test_fields_keel_writes_itself_are_refused_in_any_case),
        cmocka_unit_test(test_bytes_in_the_spare_room_are_refused),
        cmocka_unit_test(test_written_request_reads_back_the_same),
        cmocka_unit_test(test_request_is_all_or_nothing_at_every_capacity),
        cmocka_unit_test(test_response_heads),
        cmocka_unit_test(test_written_responses_read_back_with_their_framing),
        cmocka_unit_test(test_status_reasons),
        cmocka_unit_test(test_dates_known_values),
        cmocka_unit_test(test_dates_against_gmtime),
        cmocka_unit_test(test_dates_refused),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

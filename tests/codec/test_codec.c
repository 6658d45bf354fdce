/*
 * tests/codec/test_codec.c - the line and frame decoders and encoders of
 * keel/codec.h at every boundary: a line of exactly max_len bytes passes and
 * one more byte is TOO_LARGE (decided as early as the header promises), a
 * CRLF split across two offers, CR at the limit, empty lines, many lines in
 * one slice, byte-by-byte offering equals all-at-once; frames of length 0,
 * max_frame exactly and +1, prefix split across offers, each width's
 * extremes, a 32-bit length above max rejected before the body; invalid
 * arguments; encoders all or nothing, and encode -> decode round trips.
 * Every prefix of a few inputs is also decoded flush against a PROT_NONE
 * page, so a one-byte over-read crashes the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "guard_page.h"
#include "keel/codec.h"

#define SENTINEL_PTR ((const uint8_t *)"sentinel")
#define SENTINEL_LEN ((size_t)0x5a5a)

static const keel_slice sentinel = { SENTINEL_PTR, SENTINEL_LEN };

static keel_slice sl(const void *p, size_t n)
{
    keel_slice s;
    assert_int_equal(keel_slice_from(p, n, &s), KEEL_OK);
    return s;
}

static keel_slice cs(const char *s)
{
    return keel_slice_cstr(s);
}

static void assert_slice_is(keel_slice s, const char *want)
{
    assert_true(keel_slice_valid(s));
    assert_int_equal(s.len, strlen(want));
    if (s.len > 0) {
        assert_memory_equal(s.ptr, want, s.len);
    }
}

static keel_line_decoder line_dec(size_t max_len, keel_line_mode mode)
{
    keel_line_decoder d;
    assert_int_equal(keel_line_decoder_init(&d, max_len, mode), KEEL_OK);
    return d;
}

static keel_frame_decoder frame_dec(size_t width, size_t max_frame)
{
    keel_frame_decoder d;
    assert_int_equal(keel_frame_decoder_init(&d, width, max_frame), KEEL_OK);
    return d;
}

/* Decode one line of text with a fresh decoder; *used gets consumed. */
static keel_result decode1(size_t max_len, keel_line_mode mode, const char *text,
                           keel_slice *line, size_t *used)
{
    keel_line_decoder d = line_dec(max_len, mode);
    *line = sentinel;
    *used = 99;
    return keel_line_decode(&d, cs(text), line, used);
}

/* ---- lines ------------------------------------------------------------ */

static void test_line_lf_and_crlf_terminators_per_mode(void **state)
{
    (void)state;
    keel_slice line;
    size_t used;
    assert_int_equal(decode1(16, KEEL_LINE_LF, "abc\nrest", &line, &used), KEEL_OK);
    assert_slice_is(line, "abc");
    assert_int_equal(used, 4);
    /* LF mode: the CR is data. */
    assert_int_equal(decode1(16, KEEL_LINE_LF, "abc\r\n", &line, &used), KEEL_OK);
    assert_slice_is(line, "abc\r");
    assert_int_equal(used, 5);
    /* ANY mode: CR before LF is terminator, a lone CR elsewhere is data. */
    assert_int_equal(decode1(16, KEEL_LINE_ANY, "a\rb\r\nx", &line, &used), KEEL_OK);
    assert_slice_is(line, "a\rb");
    assert_int_equal(used, 5);
    assert_int_equal(decode1(16, KEEL_LINE_ANY, "ab\n", &line, &used), KEEL_OK);
    assert_slice_is(line, "ab");
    assert_int_equal(used, 3);
    /* CRLF mode. */
    assert_int_equal(decode1(16, KEEL_LINE_CRLF, "ab\r\n", &line, &used), KEEL_OK);
    assert_slice_is(line, "ab");
    assert_int_equal(used, 4);
}

static void test_line_crlf_mode_rejects_bare_lf_and_lone_cr(void **state)
{
    (void)state;
    keel_slice line;
    size_t used;
    assert_int_equal(decode1(16, KEEL_LINE_CRLF, "ab\n", &line, &used), KEEL_ERR_PARSE);
    assert_ptr_equal(line.ptr, SENTINEL_PTR);
    assert_int_equal(used, 0);
    assert_int_equal(decode1(16, KEEL_LINE_CRLF, "\n", &line, &used), KEEL_ERR_PARSE);
    assert_int_equal(decode1(16, KEEL_LINE_CRLF, "a\rb\r\n", &line, &used), KEEL_ERR_PARSE);
    assert_int_equal(decode1(16, KEEL_LINE_CRLF, "\r\r\n", &line, &used), KEEL_ERR_PARSE);
    assert_int_equal(used, 0);
    /* A lone CR is only judged once the line ends. */
    assert_int_equal(decode1(16, KEEL_LINE_CRLF, "a\rb", &line, &used), KEEL_ERR_INCOMPLETE);
}

static void test_line_empty_lines_are_valid(void **state)
{
    (void)state;
    keel_slice line;
    size_t used;
    assert_int_equal(decode1(0, KEEL_LINE_LF, "\n", &line, &used), KEEL_OK);
    assert_int_equal(line.len, 0);
    assert_true(keel_slice_valid(line));
    assert_int_equal(used, 1);
    assert_int_equal(decode1(0, KEEL_LINE_ANY, "\r\n", &line, &used), KEEL_OK);
    assert_int_equal(line.len, 0);
    assert_int_equal(used, 2);
    assert_int_equal(decode1(0, KEEL_LINE_CRLF, "\r\n", &line, &used), KEEL_OK);
    assert_int_equal(used, 2);
    assert_int_equal(decode1(0, KEEL_LINE_LF, "x", &line, &used), KEEL_ERR_TOO_LARGE);
    assert_int_equal(decode1(4, KEEL_LINE_LF, "", &line, &used), KEEL_ERR_INCOMPLETE);
    assert_int_equal(used, 0);
}

static void test_line_max_len_exactly_ok_one_more_too_large(void **state)
{
    (void)state;
    keel_slice line;
    size_t used;
    static const keel_line_mode modes[] = { KEEL_LINE_LF, KEEL_LINE_ANY, KEEL_LINE_CRLF };
    for (size_t m = 0; m < 3; m++) {
        const char *ok = modes[m] == KEEL_LINE_LF ? "abcd\n" : "abcd\r\n";
        const char *big = modes[m] == KEEL_LINE_LF ? "abcde\n" : "abcde\r\n";
        assert_int_equal(decode1(4, modes[m], ok, &line, &used), KEEL_OK);
        assert_slice_is(line, "abcd");
        assert_int_equal(used, strlen(ok));
        assert_int_equal(decode1(4, modes[m], big, &line, &used), KEEL_ERR_TOO_LARGE);
        assert_ptr_equal(line.ptr, SENTINEL_PTR);
        assert_int_equal(used, 0);
    }
    /* ANY: exactly max_len bytes end with LF alone too. */
    assert_int_equal(decode1(4, KEEL_LINE_ANY, "abcd\n", &line, &used), KEEL_OK);
    assert_slice_is(line, "abcd");
    /* LF mode counts the CR as data: 4 + CR is 5 > 4. */
    assert_int_equal(decode1(4, KEEL_LINE_LF, "abcd\r\n", &line, &used), KEEL_ERR_TOO_LARGE);
}

static void test_line_too_large_is_decided_without_terminator(void **state)
{
    (void)state;
    keel_slice line;
    size_t used;
    /* max_len bytes without LF: still might end. */
    assert_int_equal(decode1(4, KEEL_LINE_LF, "abcd", &line, &used), KEEL_ERR_INCOMPLETE);
    assert_int_equal(decode1(4, KEEL_LINE_ANY, "abcd", &line, &used), KEEL_ERR_INCOMPLETE);
    /* max_len + 1 bytes without LF: decided now. */
    assert_int_equal(decode1(4, KEEL_LINE_LF, "abcde", &line, &used), KEEL_ERR_TOO_LARGE);
    assert_int_equal(decode1(4, KEEL_LINE_ANY, "abcde", &line, &used), KEEL_ERR_TOO_LARGE);
    assert_int_equal(decode1(4, KEEL_LINE_CRLF, "abcde", &line, &used), KEEL_ERR_TOO_LARGE);
    /* CR at the limit: the LF may still come (CR modes), ... */
    assert_int_equal(decode1(4, KEEL_LINE_ANY, "abcd\r", &line, &used), KEEL_ERR_INCOMPLETE);
    assert_int_equal(decode1(4, KEEL_LINE_CRLF, "abcd\r", &line, &used), KEEL_ERR_INCOMPLETE);
    /* ... but not in LF mode, where CR is data. */
    assert_int_equal(decode1(4, KEEL_LINE_LF, "abcd\r", &line, &used), KEEL_ERR_TOO_LARGE);
    /* ... and a non-LF after it decides. */
    assert_int_equal(decode1(4, KEEL_LINE_ANY, "abcd\rx", &line, &used), KEEL_ERR_TOO_LARGE);
    assert_int_equal(decode1(4, KEEL_LINE_CRLF, "abcd\r\r", &line, &used), KEEL_ERR_TOO_LARGE);
    /* A huge line is rejected after looking at max_len + 2 bytes at most. */
    char big[4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(decode1(10, KEEL_LINE_ANY, big, &line, &used), KEEL_ERR_TOO_LARGE);
}

static void test_line_huge_max_len_does_not_overflow(void **state)
{
    (void)state;
    keel_slice line;
    size_t used;
    assert_int_equal(decode1(SIZE_MAX, KEEL_LINE_ANY, "abc", &line, &used), KEEL_ERR_INCOMPLETE);
    assert_int_equal(decode1(SIZE_MAX - 1, KEEL_LINE_CRLF, "abc\r\n", &line, &used), KEEL_OK);
    assert_slice_is(line, "abc");
    assert_int_equal(decode1(SIZE_MAX, KEEL_LINE_LF, "abc\n", &line, &used), KEEL_OK);
}

static void test_line_crlf_split_across_offers(void **state)
{
    (void)state;
    const char *text = "abc\r\n";
    keel_slice line = sentinel;
    size_t used = 99;
    keel_line_decoder d = line_dec(3, KEEL_LINE_ANY);
    for (size_t n = 0; n < 5; n++) {
        assert_int_equal(keel_line_decode(&d, sl(text, n), &line, &used), KEEL_ERR_INCOMPLETE);
        assert_int_equal(used, 0);
        assert_ptr_equal(line.ptr, SENTINEL_PTR);
    }
    assert_int_equal(keel_line_decode(&d, sl(text, 5), &line, &used), KEEL_OK);
    assert_slice_is(line, "abc");
    assert_int_equal(used, 5);
    assert_int_equal(d.scanned, 0);
}

static void test_line_many_lines_in_one_slice(void **state)
{
    (void)state;
    const char *text = "one\n\ntwo\r\nthree\npartial";
    const char *want[] = { "one", "", "two", "three" };
    keel_line_decoder d = line_dec(8, KEEL_LINE_ANY);
    keel_slice rest = cs(text), line;
    size_t used, i = 0, total = 0;
    keel_result r;
    while ((r = keel_line_decode(&d, rest, &line, &used)) == KEEL_OK) {
        assert_true(i < 4);
        assert_slice_is(line, want[i++]);
        total += used;
        assert_int_equal(keel_slice_from_off(rest, used, &rest), KEEL_OK);
    }
    assert_int_equal(r, KEEL_ERR_INCOMPLETE);
    assert_int_equal(i, 4);
    assert_int_equal(total, strlen(text) - strlen("partial"));
    assert_slice_is(rest, "partial");
}

/* Decode text offered one more byte at a time (a growing receive buffer
 * whose consumed front is dropped) and compare with all-at-once decoding. */
static void check_incremental_equals_whole(keel_line_mode mode, size_t max_len, const char *text)
{
    keel_line_decoder whole = line_dec(max_len, mode), inc = line_dec(max_len, mode);
    size_t n = strlen(text);
    keel_slice rest = sl(text, n), got, want;
    size_t used_w, used_i, start = 0;
    for (;;) {
        keel_result rw = keel_line_decode(&whole, rest, &want, &used_w);
        keel_result ri = KEEL_ERR_INCOMPLETE;
        size_t end = start;
        while (end <= n) {
            ri = keel_line_decode(&inc, sl(text + start, end - start), &got, &used_i);
            if (ri != KEEL_ERR_INCOMPLETE || end == n) {
                break;
            }
            end++;
        }
        assert_int_equal(ri, rw);
        if (rw != KEEL_OK) {
            return;
        }
        assert_int_equal(used_i, used_w);
        assert_true(keel_slice_eq(got, want));
        start += used_w;
        assert_int_equal(keel_slice_from_off(rest, used_w, &rest), KEEL_OK);
    }
}

static void test_line_byte_by_byte_equals_all_at_once(void **state)
{
    (void)state;
    static const char *texts[] = { "a\nbb\r\nccc\r\n\n\r\nd\re\nxyz",
                                   "abcd\r\nabcd\nabcd\r",
                                   "\r\r\r\n\n",
                                   "abcdefgh\n" };
    static const keel_line_mode modes[] = { KEEL_LINE_LF, KEEL_LINE_ANY, KEEL_LINE_CRLF };
    for (size_t t = 0; t < 4; t++) {
        for (size_t m = 0; m < 3; m++) {
            for (size_t max = 0; max < 6; max++) {
                check_incremental_equals_whole(modes[m], max, texts[t]);
            }
        }
    }
}

static void test_line_decode_final_returns_unterminated_last_line(void **state)
{
    (void)state;
    keel_line_decoder d = line_dec(4, KEEL_LINE_ANY);
    keel_slice line = sentinel;
    size_t used = 99;
    /* Complete lines first, as keel_line_decode. */
    assert_int_equal(keel_line_decode_final(&d, cs("ab\ncd"), &line, &used), KEEL_OK);
    assert_slice_is(line, "ab");
    assert_int_equal(used, 3);
    assert_int_equal(keel_line_decode_final(&d, cs("cd"), &line, &used), KEEL_OK);
    assert_slice_is(line, "cd");
    assert_int_equal(used, 2);
    /* The CR of an unterminated line is data, and counts. */
    assert_int_equal(keel_line_decode_final(&d, cs("abc\r"), &line, &used), KEEL_OK);
    assert_slice_is(line, "abc\r");
    assert_int_equal(keel_line_decode_final(&d, cs("abcd\r"), &line, &used), KEEL_ERR_TOO_LARGE);
    assert_int_equal(used, 0);
    assert_int_equal(keel_line_decode_final(&d, cs(""), &line, &used), KEEL_ERR_INCOMPLETE);
    assert_int_equal(used, 0);
    keel_line_decoder s = line_dec(4, KEEL_LINE_CRLF);
    assert_int_equal(keel_line_decode_final(&s, cs("ab"), &line, &used), KEEL_ERR_PARSE);
    assert_int_equal(keel_line_decode_final(&s, cs("ab\r\n"), &line, &used), KEEL_OK);
    assert_slice_is(line, "ab");
    assert_int_equal(d.scanned, 0);
}

static void test_line_invalid_arguments(void **state)
{
    (void)state;
    keel_line_decoder d;
    keel_slice line = sentinel;
    size_t used = 99;
    assert_int_equal(keel_line_decoder_init(NULL, 4, KEEL_LINE_LF), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_decoder_init(&d, 4, (keel_line_mode)3), KEEL_ERR_INVALID_ARG);
    d = line_dec(4, KEEL_LINE_LF);
    keel_slice bad = { NULL, 3 };
    assert_int_equal(keel_line_decode(&d, bad, &line, &used), KEEL_ERR_INVALID_ARG);
    /* a slice wrapping the address space fails keel_slice_valid too */
    keel_slice wrap = (keel_slice){ (const uint8_t *)(UINTPTR_MAX - 15u), 100 };
    assert_int_equal(keel_line_decode(&d, wrap, &line, &used), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_decode_final(&d, wrap, &line, &used), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_decode(NULL, cs("a\n"), &line, &used), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_decode(&d, cs("a\n"), NULL, &used), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_decode(&d, cs("a\n"), &line, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_decode_final(NULL, cs("a"), &line, &used), KEEL_ERR_INVALID_ARG);
    d.mode = (keel_line_mode)7;
    assert_int_equal(keel_line_decode(&d, cs("a\n"), &line, &used), KEEL_ERR_INVALID_ARG);
    assert_ptr_equal(line.ptr, SENTINEL_PTR);
    assert_int_equal(used, 99);
}

static void test_line_scan_position_is_not_trusted_past_input(void **state)
{
    (void)state;
    keel_line_decoder d = line_dec(100, KEEL_LINE_LF);
    keel_slice line;
    size_t used;
    assert_int_equal(keel_line_decode(&d, cs("abcdef"), &line, &used), KEEL_ERR_INCOMPLETE);
    assert_int_equal(d.scanned, 6);
    /* Unrelated, shorter input: the decoder starts over instead of reading
     * past it or skipping its LF. */
    assert_int_equal(keel_line_decode(&d, cs("a\n"), &line, &used), KEEL_OK);
    assert_slice_is(line, "a");
}

static void test_line_encode_appends_terminator_all_or_nothing(void **state)
{
    (void)state;
    uint8_t store[8];
    keel_buf b;
    assert_int_equal(keel_buf_init(&b, store, sizeof store), KEEL_OK);
    keel_line_decoder lf = line_dec(4, KEEL_LINE_LF), any = line_dec(4, KEEL_LINE_ANY);
    assert_int_equal(keel_line_encode(&b, &lf, cs("ab")), KEEL_OK);
    assert_int_equal(keel_line_encode(&b, &any, cs("cd")), KEEL_OK);
    assert_int_equal(b.len, 7);
    assert_memory_equal(store, "ab\ncd\r\n", 7);
    /* One byte left: "" + LF fits, "" + CRLF does not. */
    assert_int_equal(keel_line_encode(&b, &any, cs("")), KEEL_ERR_TOO_LARGE);
    assert_int_equal(b.len, 7);
    assert_int_equal(keel_line_encode(&b, &lf, cs("")), KEEL_OK);
    assert_int_equal(b.len, 8);
    keel_buf_clear(&b);
    assert_int_equal(keel_line_encode(&b, &lf, cs("abcde")), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_line_encode(&b, &lf, cs("a\nb")), KEEL_ERR_PARSE);
    assert_int_equal(keel_line_encode(&b, &any, cs("a\rb")), KEEL_ERR_PARSE);
    assert_int_equal(b.len, 0);
    /* LF mode: a CR is data and round-trips. */
    assert_int_equal(keel_line_encode(&b, &lf, cs("a\r")), KEEL_OK);
    keel_slice line;
    size_t used;
    assert_int_equal(keel_line_decode(&lf, keel_buf_slice(&b), &line, &used), KEEL_OK);
    assert_slice_is(line, "a\r");
    assert_int_equal(used, b.len);
    keel_buf bad = { NULL, 4, 0 };
    assert_int_equal(keel_line_encode(&bad, &lf, cs("a")), KEEL_ERR_INVALID_ARG);
    keel_buf wrap = { (uint8_t *)(UINTPTR_MAX - 15u), 100, 0 };
    assert_int_equal(keel_line_encode(&wrap, &lf, cs("a")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_encode(&b, &lf, (keel_slice){ (const uint8_t *)(UINTPTR_MAX - 15u), 100 }), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_encode(NULL, &lf, cs("a")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_encode(&b, NULL, cs("a")), KEEL_ERR_INVALID_ARG);
}

/* ---- frames ----------------------------------------------------------- */

static keel_result fdecode(const keel_frame_decoder *d, const uint8_t *p, size_t n,
                           keel_slice *payload, size_t *used, size_t *need)
{
    *payload = sentinel;
    *used = 99;
    *need = 77;
    return keel_frame_decode(d, sl(p, n), payload, used, need);
}

static void test_frame_each_width_decodes(void **state)
{
    (void)state;
    keel_slice p;
    size_t used, need;
    keel_frame_decoder d1 = frame_dec(1, 100), d2 = frame_dec(2, 100), d4 = frame_dec(4, 100);
    static const uint8_t f1[] = { 3, 'a', 'b', 'c', 'x' };
    static const uint8_t f2[] = { 0, 3, 'a', 'b', 'c' };
    static const uint8_t f4[] = { 0, 0, 0, 3, 'a', 'b', 'c', 0 };
    assert_int_equal(fdecode(&d1, f1, sizeof f1, &p, &used, &need), KEEL_OK);
    assert_slice_is(p, "abc");
    assert_int_equal(used, 4);
    assert_int_equal(need, 77);
    assert_int_equal(fdecode(&d2, f2, sizeof f2, &p, &used, &need), KEEL_OK);
    assert_slice_is(p, "abc");
    assert_int_equal(used, 5);
    assert_int_equal(fdecode(&d4, f4, sizeof f4, &p, &used, &need), KEEL_OK);
    assert_slice_is(p, "abc");
    assert_int_equal(used, 7);
}

static void test_frame_zero_length_payload(void **state)
{
    (void)state;
    keel_slice p;
    size_t used, need;
    static const uint8_t z[] = { 0, 0, 0, 0 };
    size_t widths[] = { 1, 2, 4 };
    for (size_t i = 0; i < 3; i++) {
        keel_frame_decoder d = frame_dec(widths[i], 0);
        assert_int_equal(fdecode(&d, z, widths[i], &p, &used, &need), KEEL_OK);
        assert_int_equal(p.len, 0);
        assert_true(keel_slice_valid(p));
        assert_int_equal(used, widths[i]);
    }
}

static void test_frame_max_frame_exactly_ok_one_more_too_large(void **state)
{
    (void)state;
    keel_slice p;
    size_t used, need;
    keel_frame_decoder d = frame_dec(2, 5);
    static const uint8_t ok[] = { 0, 5, 1, 2, 3, 4, 5 };
    static const uint8_t big[] = { 0, 6 };
    assert_int_equal(fdecode(&d, ok, sizeof ok, &p, &used, &need), KEEL_OK);
    assert_int_equal(p.len, 5);
    assert_int_equal(used, 7);
    /* Rejected from the prefix alone, before any payload byte. */
    assert_int_equal(fdecode(&d, big, sizeof big, &p, &used, &need), KEEL_ERR_TOO_LARGE);
    assert_ptr_equal(p.ptr, SENTINEL_PTR);
    assert_int_equal(used, 0);
    assert_int_equal(need, 77);
}

static void test_frame_prefix_and_body_split_report_need(void **state)
{
    (void)state;
    keel_slice p;
    size_t used, need;
    keel_frame_decoder d = frame_dec(4, 1000);
    static const uint8_t f[] = { 0, 0, 0, 2, 'h', 'i' };
    for (size_t n = 0; n < 4; n++) {
        assert_int_equal(fdecode(&d, f, n, &p, &used, &need), KEEL_ERR_INCOMPLETE);
        assert_int_equal(need, 4);
        assert_int_equal(used, 0);
        assert_ptr_equal(p.ptr, SENTINEL_PTR);
    }
    for (size_t n = 4; n < 6; n++) {
        assert_int_equal(fdecode(&d, f, n, &p, &used, &need), KEEL_ERR_INCOMPLETE);
        assert_int_equal(need, 6);
    }
    assert_int_equal(fdecode(&d, f, 6, &p, &used, &need), KEEL_OK);
    assert_slice_is(p, "hi");
    /* need may be NULL. */
    assert_int_equal(keel_frame_decode(&d, sl(f, 3), &p, &used, NULL), KEEL_ERR_INCOMPLETE);
}

static void test_frame_width_extremes(void **state)
{
    (void)state;
    keel_slice p;
    size_t used, need;
    static uint8_t buf[4 + 65535];
    memset(buf, 0xab, sizeof buf);
    /* 255 with 1 byte, 65535 with 2 bytes; max_frame beyond the range. */
    keel_frame_decoder d1 = frame_dec(1, SIZE_MAX), d2 = frame_dec(2, SIZE_MAX);
    buf[0] = 0xff;
    assert_int_equal(fdecode(&d1, buf, 1 + 255, &p, &used, &need), KEEL_OK);
    assert_int_equal(p.len, 255);
    assert_int_equal(used, 256);
    buf[0] = 0xff;
    buf[1] = 0xff;
    assert_int_equal(fdecode(&d2, buf, 2 + 65535, &p, &used, &need), KEEL_OK);
    assert_int_equal(p.len, 65535);
    assert_int_equal(fdecode(&d2, buf, 2 + 65534, &p, &used, &need), KEEL_ERR_INCOMPLETE);
    assert_int_equal(need, 65537);
    /* 32-bit: 0xffffffff is rejected at once with a smaller max ... */
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff };
    keel_frame_decoder d4 = frame_dec(4, 1u << 20);
    assert_int_equal(fdecode(&d4, huge, 4, &p, &used, &need), KEEL_ERR_TOO_LARGE);
    static const uint8_t above[] = { 0x00, 0x10, 0x00, 0x01 };
    assert_int_equal(fdecode(&d4, above, 4, &p, &used, &need), KEEL_ERR_TOO_LARGE);
    /* ... and only waits when the max allows it. */
    keel_frame_decoder d4max = frame_dec(4, SIZE_MAX);
    assert_int_equal(fdecode(&d4max, huge, 4, &p, &used, &need), KEEL_ERR_INCOMPLETE);
    assert_true(need == (size_t)4 + UINT32_MAX);
}

static void test_frame_invalid_arguments(void **state)
{
    (void)state;
    keel_frame_decoder d;
    keel_slice p = sentinel;
    size_t used = 99, need = 77;
    static const size_t bad_widths[] = { 0, 3, 5, 8, SIZE_MAX };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(keel_frame_decoder_init(&d, bad_widths[i], 10), KEEL_ERR_INVALID_ARG);
    }
    assert_int_equal(keel_frame_decoder_init(NULL, 1, 10), KEEL_ERR_INVALID_ARG);
    d = frame_dec(1, 10);
    keel_slice bad = { NULL, 1 };
    assert_int_equal(keel_frame_decode(&d, bad, &p, &used, &need), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_frame_decode(&d, (keel_slice){ (const uint8_t *)(UINTPTR_MAX - 15u), 100 }, &p, &used, &need),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_frame_decode(NULL, cs("a"), &p, &used, &need), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_frame_decode(&d, cs("a"), NULL, &used, &need), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_frame_decode(&d, cs("a"), &p, NULL, &need), KEEL_ERR_INVALID_ARG);
    d.width = 3;
    assert_int_equal(keel_frame_decode(&d, cs("abcd"), &p, &used, &need), KEEL_ERR_INVALID_ARG);
    assert_ptr_equal(p.ptr, SENTINEL_PTR);
    assert_int_equal(used, 99);
    assert_int_equal(need, 77);
    uint8_t store[8];
    keel_buf b;
    assert_int_equal(keel_buf_init(&b, store, sizeof store), KEEL_OK);
    assert_int_equal(keel_frame_encode(&b, &d, cs("a")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_frame_encode(&b, NULL, cs("a")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_frame_encode(NULL, &d, cs("a")), KEEL_ERR_INVALID_ARG);
    d = frame_dec(1, 10);
    assert_int_equal(keel_frame_encode(&b, &d, (keel_slice){ (const uint8_t *)(UINTPTR_MAX - 15u), 100 }), KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 0);
}

static void test_frame_encode_all_or_nothing_and_round_trip(void **state)
{
    (void)state;
    uint8_t store[10];
    keel_buf b;
    assert_int_equal(keel_buf_init(&b, store, sizeof store), KEEL_OK);
    keel_frame_decoder d2 = frame_dec(2, 4), d1 = frame_dec(1, 100);
    assert_int_equal(keel_frame_encode(&b, &d2, cs("abcd")), KEEL_OK);
    assert_int_equal(b.len, 6);
    assert_memory_equal(store, "\x00\x04" "abcd", 6);
    /* Over max_frame, and a buf one byte short: nothing written. */
    assert_int_equal(keel_frame_encode(&b, &d2, cs("abcde")), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_frame_encode(&b, &d2, cs("abc")), KEEL_ERR_TOO_LARGE);
    assert_int_equal(b.len, 6);
    assert_int_equal(keel_frame_encode(&b, &d1, cs("abc")), KEEL_OK);
    assert_int_equal(b.len, 10);
    keel_slice rest = keel_buf_slice(&b), p;
    size_t used;
    assert_int_equal(keel_frame_decode(&d2, rest, &p, &used, NULL), KEEL_OK);
    assert_slice_is(p, "abcd");
    assert_int_equal(keel_slice_from_off(rest, used, &rest), KEEL_OK);
    assert_int_equal(keel_frame_decode(&d1, rest, &p, &used, NULL), KEEL_OK);
    assert_slice_is(p, "abc");
    assert_int_equal(used, rest.len);
    /* A payload over the prefix's range, whatever max_frame says. */
    static uint8_t big[256];
    uint8_t out[300];
    assert_int_equal(keel_buf_init(&b, out, sizeof out), KEEL_OK);
    keel_frame_decoder d1max = frame_dec(1, SIZE_MAX);
    assert_int_equal(keel_frame_encode(&b, &d1max, sl(big, 256)), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_frame_encode(&b, &d1max, sl(big, 255)), KEEL_OK);
    assert_int_equal(b.len, 256);
    assert_int_equal(out[0], 255);
}

/* ---- over-reads --------------------------------------------------------- */

static void test_decoders_never_read_past_input(void **state)
{
    (void)state;
    static const char *texts[] = { "abcd\r\nxy\r", "ab\r", "\r", "abcdefgh", "\003ab" };
    static const keel_line_mode modes[] = { KEEL_LINE_LF, KEEL_LINE_ANY, KEEL_LINE_CRLF };
    for (size_t t = 0; t < 5; t++) {
        size_t n = strlen(texts[t]);
        for (size_t len = 0; len <= n; len++) {
            guard_region g;
            uint8_t *p = guard_alloc(&g, texts[t], len);
            assert_non_null(p);
            keel_slice in = len > 0 ? sl(p, len) : keel_slice_empty();
            keel_slice out;
            size_t used, need;
            for (size_t m = 0; m < 3; m++) {
                for (size_t max = 0; max < 6; max++) {
                    keel_line_decoder d = line_dec(max, modes[m]);
                    keel_result r = keel_line_decode(&d, in, &out, &used);
                    assert_true(r == KEEL_OK || r == KEEL_ERR_INCOMPLETE ||
                                r == KEEL_ERR_TOO_LARGE || r == KEEL_ERR_PARSE);
                    r = keel_line_decode_final(&d, in, &out, &used);
                    assert_true(r != KEEL_ERR_INVALID_ARG);
                }
            }
            static const size_t widths[] = { 1, 2, 4 };
            for (size_t w = 0; w < 3; w++) {
                keel_frame_decoder fd = frame_dec(widths[w], SIZE_MAX);
                keel_result r = keel_frame_decode(&fd, in, &out, &used, &need);
                assert_true(r == KEEL_OK || r == KEEL_ERR_INCOMPLETE);
            }
            guard_free(&g);
        }
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_lf_and_crlf_terminators_per_mode),
        cmocka_unit_test(test_line_crlf_mode_rejects_bare_lf_and_lone_cr),
        cmocka_unit_test(test_line_empty_lines_are_valid),
        cmocka_unit_test(test_line_max_len_exactly_ok_one_more_too_large),
        cmocka_unit_test(test_line_too_large_is_decided_without_terminator),
        cmocka_unit_test(test_line_huge_max_len_does_not_overflow),
        cmocka_unit_test(test_line_crlf_split_across_offers),
        cmocka_unit_test(test_line_many_lines_in_one_slice),
        cmocka_unit_test(test_line_byte_by_byte_equals_all_at_once),
        cmocka_unit_test(test_line_decode_final_returns_unterminated_last_line),
        cmocka_unit_test(test_line_invalid_arguments),
        cmocka_unit_test(test_line_scan_position_is_not_trusted_past_input),
        cmocka_unit_test(test_line_encode_appends_terminator_all_or_nothing),
        cmocka_unit_test(test_frame_each_width_decodes),
        cmocka_unit_test(test_frame_zero_length_payload),
        cmocka_unit_test(test_frame_max_frame_exactly_ok_one_more_too_large),
        cmocka_unit_test(test_frame_prefix_and_body_split_report_need),
        cmocka_unit_test(test_frame_width_extremes),
        cmocka_unit_test(test_frame_invalid_arguments),
        cmocka_unit_test(test_frame_encode_all_or_nothing_and_round_trip),
        cmocka_unit_test(test_decoders_never_read_past_input),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

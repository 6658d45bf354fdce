/*
 * tests/core/test_slice.c - every function of keel/slice.h at each boundary:
 * ranges ending exactly at the end pass, one byte further fails, offsets
 * near SIZE_MAX fail instead of wrapping, invalid slices/bufs/cursors (each
 * invariant broken on purpose) are INVALID_ARG, and every failure leaves
 * the out-parameter, buf or cursor unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/slice.h"

/* Values a function must not leave behind on failure. */
#define SENTINEL_PTR ((const uint8_t *)"sentinel")
#define SENTINEL_LEN ((size_t)0x5a5a)

static keel_slice sentinel_slice(void)
{
    keel_slice s = { SENTINEL_PTR, SENTINEL_LEN };
    return s;
}

static void assert_sentinel(keel_slice s)
{
    assert_ptr_equal(s.ptr, SENTINEL_PTR);
    assert_int_equal(s.len, SENTINEL_LEN);
}

static void assert_slice_is(keel_slice s, const char *want)
{
    assert_true(keel_slice_valid(s));
    assert_int_equal(s.len, strlen(want));
    if (s.len > 0) {
        assert_memory_equal(s.ptr, want, s.len);
    }
}

static void assert_buf_is(const keel_buf *b, const char *want, size_t want_len)
{
    assert_true(keel_buf_valid(b));
    assert_int_equal(b->len, want_len);
    if (want_len > 0) {
        assert_memory_equal(b->ptr, want, want_len);
    }
}

/* Slices that break each part of the invariant. */
static keel_slice bad_null_slice(void)
{
    keel_slice s = { NULL, 3 };
    return s;
}

static keel_slice bad_wrap_slice(void)
{
    keel_slice s = { (const uint8_t *)(UINTPTR_MAX - 3u), 8 };
    return s;
}

/* A valid cursor over text positioned at pos. */
static keel_cursor cursor_at(const char *text, size_t pos)
{
    keel_cursor c;
    c.src = keel_slice_cstr(text);
    c.pos = pos;
    return c;
}

/* ---- validity --------------------------------------------------------- */

static void test_slice_valid_accepts_empty_and_ordinary(void **state)
{
    (void)state;
    static const uint8_t bytes[4] = { 1, 2, 3, 4 };
    keel_slice empty = { NULL, 0 };
    keel_slice zero_len = { bytes, 0 };
    keel_slice ordinary = { bytes, sizeof bytes };
    assert_true(keel_slice_valid(empty));
    assert_true(keel_slice_valid(zero_len));
    assert_true(keel_slice_valid(ordinary));
    assert_true(keel_slice_valid(keel_slice_empty()));
}

static void test_slice_valid_rejects_null_with_len_and_wrap(void **state)
{
    (void)state;
    assert_false(keel_slice_valid(bad_null_slice()));
    assert_false(keel_slice_valid(bad_wrap_slice()));
    /* ending exactly at the top of the address space does not wrap... */
    keel_slice top = { (const uint8_t *)(UINTPTR_MAX - 4u), 4 };
    assert_true(keel_slice_valid(top));
    /* ...one more byte does */
    top.len = 5;
    assert_false(keel_slice_valid(top));
    keel_slice huge = { (const uint8_t *)"x", SIZE_MAX };
    assert_false(keel_slice_valid(huge));
}

static void test_buf_valid_checks_each_invariant(void **state)
{
    (void)state;
    uint8_t st[8];
    keel_buf ok = { st, sizeof st, 3 };
    keel_buf full = { st, sizeof st, sizeof st };
    keel_buf zero = { NULL, 0, 0 };
    keel_buf len_over_cap = { st, sizeof st, sizeof st + 1 };
    keel_buf null_with_cap = { NULL, 4, 0 };
    keel_buf null_len_over = { NULL, 0, 1 };
    keel_buf wraps = { (uint8_t *)(UINTPTR_MAX - 3u), 8, 0 };
    assert_true(keel_buf_valid(&ok));
    assert_true(keel_buf_valid(&full));
    assert_true(keel_buf_valid(&zero));
    assert_false(keel_buf_valid(NULL));
    assert_false(keel_buf_valid(&len_over_cap));
    assert_false(keel_buf_valid(&null_with_cap));
    assert_false(keel_buf_valid(&null_len_over));
    assert_false(keel_buf_valid(&wraps));
}

static void test_cursor_valid_checks_each_invariant(void **state)
{
    (void)state;
    keel_cursor at_end = cursor_at("abc", 3);
    keel_cursor past_end = cursor_at("abc", 4);
    keel_cursor bad_src = { bad_null_slice(), 0 };
    keel_cursor wrap_src = { bad_wrap_slice(), 0 };
    keel_cursor empty = { { NULL, 0 }, 0 };
    assert_true(keel_cursor_valid(&at_end));
    assert_true(keel_cursor_valid(&empty));
    assert_false(keel_cursor_valid(NULL));
    assert_false(keel_cursor_valid(&past_end));
    assert_false(keel_cursor_valid(&bad_src));
    assert_false(keel_cursor_valid(&wrap_src));
}

/* ---- constructors ----------------------------------------------------- */

static void test_slice_empty_is_null_zero(void **state)
{
    (void)state;
    keel_slice e = keel_slice_empty();
    assert_null(e.ptr);
    assert_int_equal(e.len, 0);
}

static void test_slice_from_accepts_valid_ranges(void **state)
{
    (void)state;
    static const char text[] = "hello";
    keel_slice s = sentinel_slice();
    assert_int_equal(keel_slice_from(text, 5, &s), KEEL_OK);
    assert_ptr_equal(s.ptr, text);
    assert_int_equal(s.len, 5);
    assert_int_equal(keel_slice_from(NULL, 0, &s), KEEL_OK);
    assert_null(s.ptr);
    assert_int_equal(s.len, 0);
}

static void test_slice_from_rejects_invalid_ranges(void **state)
{
    (void)state;
    keel_slice s = sentinel_slice();
    assert_int_equal(keel_slice_from("x", 1, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_from(NULL, 1, &s), KEEL_ERR_INVALID_ARG);
    assert_sentinel(s);
    assert_int_equal(keel_slice_from((const void *)(UINTPTR_MAX - 1u), 2, &s),
                     KEEL_ERR_INVALID_ARG);
    assert_sentinel(s);
    assert_int_equal(keel_slice_from("x", SIZE_MAX, &s), KEEL_ERR_INVALID_ARG);
    assert_sentinel(s);
}

static void test_slice_cstr_excludes_nul_and_accepts_null(void **state)
{
    (void)state;
    assert_slice_is(keel_slice_cstr("abc"), "abc");
    assert_int_equal(keel_slice_cstr("").len, 0);
    keel_slice n = keel_slice_cstr(NULL);
    assert_null(n.ptr);
    assert_int_equal(n.len, 0);
    keel_slice lit = KEEL_STR("a\0b");
    assert_int_equal(lit.len, 3);
}

static void test_buf_init_accepts_valid_storage(void **state)
{
    (void)state;
    uint8_t st[4];
    keel_buf b = { NULL, 0, 0 };
    assert_int_equal(keel_buf_init(&b, st, sizeof st), KEEL_OK);
    assert_ptr_equal(b.ptr, st);
    assert_int_equal(b.cap, 4);
    assert_int_equal(b.len, 0);
    assert_int_equal(keel_buf_init(&b, NULL, 0), KEEL_OK);
    assert_null(b.ptr);
    assert_int_equal(b.cap, 0);
}

static void test_buf_init_rejects_invalid_storage(void **state)
{
    (void)state;
    uint8_t st[4];
    keel_buf b = { st, 4, 2 };
    assert_int_equal(keel_buf_init(NULL, st, sizeof st), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_init(&b, NULL, 1), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_init(&b, (void *)(UINTPTR_MAX - 1u), 4), KEEL_ERR_INVALID_ARG);
    assert_ptr_equal(b.ptr, st);
    assert_int_equal(b.cap, 4);
    assert_int_equal(b.len, 2);
}

static void test_buf_slice_and_spare(void **state)
{
    (void)state;
    uint8_t st[6] = "abcdef";
    keel_buf b = { st, sizeof st, 4 };
    assert_slice_is(keel_buf_slice(&b), "abcd");
    assert_int_equal(keel_buf_spare(&b), 2);
    b.len = 6;
    assert_int_equal(keel_buf_spare(&b), 0);
    keel_buf bad = { st, 6, 7 };
    assert_int_equal(keel_buf_slice(&bad).len, 0);
    assert_int_equal(keel_buf_spare(&bad), 0);
    assert_int_equal(keel_buf_slice(NULL).len, 0);
    assert_int_equal(keel_buf_spare(NULL), 0);
}

/* ---- slice: sub-ranges ------------------------------------------------ */

static void test_slice_sub_in_bounds(void **state)
{
    (void)state;
    keel_slice s = KEEL_STR("abcdef");
    keel_slice out = sentinel_slice();
    assert_int_equal(keel_slice_sub(s, 1, 3, &out), KEEL_OK);
    assert_slice_is(out, "bcd");
    /* ends exactly at the end */
    assert_int_equal(keel_slice_sub(s, 2, 4, &out), KEEL_OK);
    assert_slice_is(out, "cdef");
    /* empty at the very end */
    assert_int_equal(keel_slice_sub(s, 6, 0, &out), KEEL_OK);
    assert_int_equal(out.len, 0);
    assert_true(keel_slice_valid(out));
    /* the whole slice, and an empty slice of the empty slice */
    assert_int_equal(keel_slice_sub(s, 0, 6, &out), KEEL_OK);
    assert_slice_is(out, "abcdef");
    assert_int_equal(keel_slice_sub(keel_slice_empty(), 0, 0, &out), KEEL_OK);
    assert_int_equal(out.len, 0);
}

static void test_slice_sub_out_of_bounds_and_overflow(void **state)
{
    (void)state;
    keel_slice s = KEEL_STR("abcdef");
    keel_slice out = sentinel_slice();
    assert_int_equal(keel_slice_sub(s, 3, 4, &out), KEEL_ERR_OUT_OF_BOUNDS); /* len + 1 */
    assert_int_equal(keel_slice_sub(s, 7, 0, &out), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_sub(s, SIZE_MAX, 2, &out), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_sub(s, 2, SIZE_MAX, &out), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_sub(s, SIZE_MAX, SIZE_MAX, &out), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_sub(s, SIZE_MAX, 0, &out), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_sub(keel_slice_empty(), 0, 1, &out), KEEL_ERR_OUT_OF_BOUNDS);
    assert_sentinel(out);
    assert_int_equal(keel_slice_sub(s, 0, 1, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_sub(bad_null_slice(), 0, 0, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_sub(bad_wrap_slice(), 0, 1, &out), KEEL_ERR_INVALID_ARG);
    assert_sentinel(out);
}

static void test_slice_from_off_boundaries(void **state)
{
    (void)state;
    keel_slice s = KEEL_STR("abc");
    keel_slice out = sentinel_slice();
    assert_int_equal(keel_slice_from_off(s, 1, &out), KEEL_OK);
    assert_slice_is(out, "bc");
    assert_int_equal(keel_slice_from_off(s, 3, &out), KEEL_OK);
    assert_int_equal(out.len, 0);
    out = sentinel_slice();
    assert_int_equal(keel_slice_from_off(s, 4, &out), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_from_off(s, SIZE_MAX, &out), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_from_off(s, 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_from_off(bad_null_slice(), 0, &out), KEEL_ERR_INVALID_ARG);
    assert_sentinel(out);
}

static void test_slice_split_at_boundaries(void **state)
{
    (void)state;
    keel_slice s = KEEL_STR("abcd");
    keel_slice h = sentinel_slice();
    keel_slice t = sentinel_slice();
    assert_int_equal(keel_slice_split_at(s, 1, &h, &t), KEEL_OK);
    assert_slice_is(h, "a");
    assert_slice_is(t, "bcd");
    assert_int_equal(keel_slice_split_at(s, 0, &h, &t), KEEL_OK);
    assert_int_equal(h.len, 0);
    assert_slice_is(t, "abcd");
    assert_int_equal(keel_slice_split_at(s, 4, &h, &t), KEEL_OK);
    assert_slice_is(h, "abcd");
    assert_int_equal(t.len, 0);
    h = sentinel_slice();
    t = sentinel_slice();
    assert_int_equal(keel_slice_split_at(s, 5, &h, &t), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_split_at(s, SIZE_MAX, &h, &t), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_split_at(s, 1, &h, &h), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_split_at(s, 1, NULL, &t), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_split_at(s, 1, &h, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_split_at(bad_wrap_slice(), 1, &h, &t), KEEL_ERR_INVALID_ARG);
    assert_sentinel(h);
    assert_sentinel(t);
}

static void test_slice_split_once_drops_delimiter(void **state)
{
    (void)state;
    keel_slice h = sentinel_slice();
    keel_slice t = sentinel_slice();
    assert_int_equal(keel_slice_split_once(KEEL_STR("key=val=x"), '=', &h, &t), KEEL_OK);
    assert_slice_is(h, "key");
    assert_slice_is(t, "val=x");
    assert_int_equal(keel_slice_split_once(KEEL_STR("=v"), '=', &h, &t), KEEL_OK);
    assert_int_equal(h.len, 0);
    assert_slice_is(t, "v");
    assert_int_equal(keel_slice_split_once(KEEL_STR("k="), '=', &h, &t), KEEL_OK);
    assert_slice_is(h, "k");
    assert_int_equal(t.len, 0);
    assert_true(keel_slice_valid(t));
}

static void test_slice_split_once_absent_or_invalid(void **state)
{
    (void)state;
    keel_slice h = sentinel_slice();
    keel_slice t = sentinel_slice();
    assert_int_equal(keel_slice_split_once(KEEL_STR("abc"), '=', &h, &t), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_split_once(keel_slice_empty(), '=', &h, &t), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_split_once(KEEL_STR("a=b"), '=', &h, &h), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_split_once(KEEL_STR("a=b"), '=', NULL, &t), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_split_once(bad_null_slice(), '=', &h, &t), KEEL_ERR_INVALID_ARG);
    assert_sentinel(h);
    assert_sentinel(t);
}

/* ---- slice: search and compare ---------------------------------------- */

static void test_slice_find_byte(void **state)
{
    (void)state;
    size_t idx = 99;
    assert_int_equal(keel_slice_find_byte(KEEL_STR("abcabc"), 'c', &idx), KEEL_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(keel_slice_find_byte(KEEL_STR("abcz"), 'z', &idx), KEEL_OK);
    assert_int_equal(idx, 3);
    assert_int_equal(keel_slice_find_byte(KEEL_STR("a\0b"), 0, &idx), KEEL_OK);
    assert_int_equal(idx, 1);
    idx = 99;
    assert_int_equal(keel_slice_find_byte(KEEL_STR("abc"), 'z', &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find_byte(keel_slice_empty(), 'z', &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find_byte(KEEL_STR("abc"), 'a', NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_find_byte(bad_wrap_slice(), 'a', &idx), KEEL_ERR_INVALID_ARG);
    assert_int_equal(idx, 99);
}

static void test_slice_find_sequence(void **state)
{
    (void)state;
    size_t idx = 99;
    assert_int_equal(keel_slice_find(KEEL_STR("aaab"), KEEL_STR("aab"), &idx), KEEL_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(keel_slice_find(KEEL_STR("xx\r\n"), KEEL_STR("\r\n"), &idx), KEEL_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(keel_slice_find(KEEL_STR("abc"), KEEL_STR("abc"), &idx), KEEL_OK);
    assert_int_equal(idx, 0);
    assert_int_equal(keel_slice_find(KEEL_STR("abc"), keel_slice_empty(), &idx), KEEL_OK);
    assert_int_equal(idx, 0);
    idx = 99;
    assert_int_equal(keel_slice_find(keel_slice_empty(), keel_slice_empty(), &idx), KEEL_OK);
    assert_int_equal(idx, 0);
}

static void test_slice_find_absent_or_invalid(void **state)
{
    (void)state;
    size_t idx = 99;
    assert_int_equal(keel_slice_find(KEEL_STR("abcab"), KEEL_STR("abd"), &idx), KEEL_ERR_NOT_FOUND);
    /* a prefix of the needle at the very end must not match */
    assert_int_equal(keel_slice_find(KEEL_STR("xxab"), KEEL_STR("abc"), &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find(KEEL_STR("ab"), KEEL_STR("abc"), &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find(keel_slice_empty(), KEEL_STR("a"), &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find(KEEL_STR("abc"), KEEL_STR("a"), NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_find(bad_null_slice(), KEEL_STR("a"), &idx), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_find(KEEL_STR("abc"), bad_wrap_slice(), &idx),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(idx, 99);
}

static void test_slice_eq(void **state)
{
    (void)state;
    static const uint8_t one[1] = { 'a' };
    keel_slice empty_nonnull = { one, 0 };
    assert_true(keel_slice_eq(KEEL_STR("abc"), KEEL_STR("abc")));
    assert_false(keel_slice_eq(KEEL_STR("abc"), KEEL_STR("abd")));
    assert_false(keel_slice_eq(KEEL_STR("abc"), KEEL_STR("ab")));
    assert_false(keel_slice_eq(KEEL_STR("ab"), KEEL_STR("abc")));
    assert_true(keel_slice_eq(keel_slice_empty(), empty_nonnull));
    assert_false(keel_slice_eq(bad_null_slice(), bad_null_slice()));
    assert_false(keel_slice_eq(bad_wrap_slice(), KEEL_STR("abc")));
}

static void test_slice_eq_nocase_folds_ascii_letters_only(void **state)
{
    (void)state;
    assert_true(keel_slice_eq_nocase(KEEL_STR("Content-Length"), KEEL_STR("content-LENGTH")));
    assert_true(keel_slice_eq_nocase(keel_slice_empty(), KEEL_STR("")));
    /* 0x40/0x60 and 0x5b/0x7b differ by 0x20 but are not letters */
    assert_false(keel_slice_eq_nocase(KEEL_STR("@"), KEEL_STR("`")));
    assert_false(keel_slice_eq_nocase(KEEL_STR("["), KEEL_STR("{")));
    assert_false(keel_slice_eq_nocase(KEEL_STR("\xc0"), KEEL_STR("\xe0")));
    assert_false(keel_slice_eq_nocase(KEEL_STR("abc"), KEEL_STR("ab")));
    assert_false(keel_slice_eq_nocase(bad_null_slice(), KEEL_STR("abc")));
}

static void test_slice_cmp_orders_bytes_unsigned(void **state)
{
    (void)state;
    assert_int_equal(keel_slice_cmp(KEEL_STR("abc"), KEEL_STR("abc")), 0);
    assert_true(keel_slice_cmp(KEEL_STR("abc"), KEEL_STR("abd")) < 0);
    assert_true(keel_slice_cmp(KEEL_STR("abd"), KEEL_STR("abc")) > 0);
    assert_true(keel_slice_cmp(KEEL_STR("ab"), KEEL_STR("abc")) < 0);
    assert_true(keel_slice_cmp(KEEL_STR("abc"), KEEL_STR("ab")) > 0);
    assert_true(keel_slice_cmp(KEEL_STR("\x80"), KEEL_STR("\x7f")) > 0);
    assert_int_equal(keel_slice_cmp(keel_slice_empty(), KEEL_STR("")), 0);
    /* invalid slices compare as empty */
    assert_int_equal(keel_slice_cmp(bad_null_slice(), keel_slice_empty()), 0);
    assert_true(keel_slice_cmp(bad_wrap_slice(), KEEL_STR("a")) < 0);
    assert_true(keel_slice_cmp(KEEL_STR("a"), bad_null_slice()) > 0);
}

static void test_slice_starts_and_ends_with(void **state)
{
    (void)state;
    keel_slice s = KEEL_STR("GET /x");
    assert_true(keel_slice_starts_with(s, KEEL_STR("GET ")));
    assert_true(keel_slice_starts_with(s, s));
    assert_true(keel_slice_starts_with(s, keel_slice_empty()));
    assert_false(keel_slice_starts_with(s, KEEL_STR("GET /xy")));
    assert_false(keel_slice_starts_with(s, KEEL_STR("PUT")));
    assert_true(keel_slice_ends_with(s, KEEL_STR("/x")));
    assert_true(keel_slice_ends_with(s, s));
    assert_true(keel_slice_ends_with(s, keel_slice_empty()));
    assert_false(keel_slice_ends_with(s, KEEL_STR("xGET /x")));
    assert_false(keel_slice_ends_with(s, KEEL_STR("/y")));
    assert_false(keel_slice_starts_with(bad_null_slice(), keel_slice_empty()));
    assert_false(keel_slice_ends_with(s, bad_wrap_slice()));
}

static void test_slice_trim(void **state)
{
    (void)state;
    assert_slice_is(keel_slice_trim(KEEL_STR(" \t\r\n\v\fab c\f\v\n\r\t ")), "ab c");
    assert_slice_is(keel_slice_trim_left(KEEL_STR("  ab  ")), "ab  ");
    assert_slice_is(keel_slice_trim_right(KEEL_STR("  ab  ")), "  ab");
    assert_slice_is(keel_slice_trim(KEEL_STR("ab")), "ab");
    assert_int_equal(keel_slice_trim(KEEL_STR(" \t \r\n")).len, 0);
    assert_int_equal(keel_slice_trim_left(KEEL_STR("   ")).len, 0);
    assert_int_equal(keel_slice_trim_right(KEEL_STR("   ")).len, 0);
    assert_int_equal(keel_slice_trim(keel_slice_empty()).len, 0);
    /* NUL, NBSP and NEL are not ASCII whitespace */
    assert_int_equal(keel_slice_trim(KEEL_STR("\xa0x\x85")).len, 3);
    assert_int_equal(keel_slice_trim(KEEL_STR("\0x\0")).len, 3);
    assert_int_equal(keel_slice_trim(bad_null_slice()).len, 0);
    assert_int_equal(keel_slice_trim_left(bad_wrap_slice()).len, 0);
    assert_int_equal(keel_slice_trim_right(bad_wrap_slice()).len, 0);
}

/* ---- slice: element and integer reads --------------------------------- */

static void test_slice_get(void **state)
{
    (void)state;
    uint8_t v = 0xee;
    assert_int_equal(keel_slice_get(KEEL_STR("abc"), 2, &v), KEEL_OK);
    assert_int_equal(v, 'c');
    v = 0xee;
    assert_int_equal(keel_slice_get(KEEL_STR("abc"), 3, &v), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_get(KEEL_STR("abc"), SIZE_MAX, &v), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_get(keel_slice_empty(), 0, &v), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_get(KEEL_STR("abc"), 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_get(bad_null_slice(), 0, &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(v, 0xee);
}

static const uint8_t be_bytes[9] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff };

static void test_slice_read_be_values_and_last_offset(void **state)
{
    (void)state;
    keel_slice s = { be_bytes, sizeof be_bytes };
    uint16_t v16 = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    assert_int_equal(keel_slice_read_u16be(s, 0, &v16), KEEL_OK);
    assert_int_equal(v16, 0x0102);
    assert_int_equal(keel_slice_read_u16be(s, 7, &v16), KEEL_OK);
    assert_int_equal(v16, 0x08ff);
    assert_int_equal(keel_slice_read_u32be(s, 1, &v32), KEEL_OK);
    assert_int_equal(v32, 0x02030405);
    assert_int_equal(keel_slice_read_u32be(s, 5, &v32), KEEL_OK);
    assert_int_equal(v32, 0x060708ff);
    assert_int_equal(keel_slice_read_u64be(s, 0, &v64), KEEL_OK);
    assert_true(v64 == 0x0102030405060708u);
    assert_int_equal(keel_slice_read_u64be(s, 1, &v64), KEEL_OK);
    assert_true(v64 == 0x02030405060708ffu);
}

static void test_slice_read_be_out_of_bounds(void **state)
{
    (void)state;
    keel_slice s = { be_bytes, sizeof be_bytes };
    uint16_t v16 = 0xeeee;
    uint32_t v32 = 0xeeeeeeee;
    uint64_t v64 = 0xeeeeeeeeeeeeeeeeu;
    assert_int_equal(keel_slice_read_u16be(s, 8, &v16), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u16be(s, SIZE_MAX, &v16), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u16be(s, SIZE_MAX - 1, &v16), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u32be(s, 6, &v32), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u32be(s, SIZE_MAX - 2, &v32), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u64be(s, 2, &v64), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u64be(s, SIZE_MAX - 6, &v64), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u16be(KEEL_STR("a"), 0, &v16), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u16be(s, 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_read_u32be(s, 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_read_u64be(s, 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_read_u16be(bad_null_slice(), 0, &v16), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_read_u32be(bad_wrap_slice(), 0, &v32), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_read_u64be(bad_wrap_slice(), 0, &v64), KEEL_ERR_INVALID_ARG);
    assert_int_equal(v16, 0xeeee);
    assert_int_equal(v32, 0xeeeeeeee);
    assert_true(v64 == 0xeeeeeeeeeeeeeeeeu);
}

static void test_slice_parse_u64_accepts_digits_up_to_max(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("0"), UINT64_MAX, &v), KEEL_OK);
    assert_true(v == 0);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("000123"), UINT64_MAX, &v), KEEL_OK);
    assert_true(v == 123);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("18446744073709551615"), UINT64_MAX, &v),
                     KEEL_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("100"), 100, &v), KEEL_OK);
    assert_true(v == 100);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("0"), 0, &v), KEEL_OK);
    assert_true(v == 0);
}

static void test_slice_parse_u64_rejects_too_large(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("18446744073709551616"), UINT64_MAX, &v),
                     KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("99999999999999999999999"), UINT64_MAX, &v),
                     KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("101"), 100, &v), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("1"), 0, &v), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("5"), 4, &v), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("10"), 9, &v), KEEL_ERR_TOO_LARGE);
    assert_true(v == 7);
}

static void test_slice_parse_u64_rejects_malformed(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(keel_slice_parse_u64(keel_slice_empty(), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("12a"), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("+1"), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("-1"), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR(" 1"), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("1 "), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("1\0"), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("0x10"), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("/"), UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR(":"), UINT64_MAX, &v), KEEL_ERR_PARSE);
    /* malformed wins over too large, wherever the bad byte is */
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("99999999999999999999999x"), 10, &v),
                     KEEL_ERR_PARSE);
    assert_int_equal(keel_slice_parse_u64(KEEL_STR("1"), 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_slice_parse_u64(bad_null_slice(), 9, &v), KEEL_ERR_INVALID_ARG);
    assert_true(v == 7);
}

/* ---- cursor: sequential reads ----------------------------------------- */

static void test_cursor_init_and_rest(void **state)
{
    (void)state;
    keel_cursor c = cursor_at("zz", 1);
    assert_int_equal(keel_cursor_init(&c, KEEL_STR("abc")), KEEL_OK);
    assert_int_equal(c.pos, 0);
    assert_int_equal(keel_cursor_remaining(&c), 3);
    assert_slice_is(keel_cursor_rest(&c), "abc");
    c.pos = 3;
    assert_int_equal(keel_cursor_remaining(&c), 0);
    assert_int_equal(keel_cursor_rest(&c).len, 0);
    assert_true(keel_slice_valid(keel_cursor_rest(&c)));
    assert_int_equal(keel_cursor_init(NULL, KEEL_STR("abc")), KEEL_ERR_INVALID_ARG);
    keel_cursor keep = cursor_at("zz", 1);
    assert_int_equal(keel_cursor_init(&keep, bad_null_slice()), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keep.pos, 1);
    assert_int_equal(keep.src.len, 2);
    keel_cursor past = cursor_at("abc", 4);
    assert_int_equal(keel_cursor_remaining(&past), 0);
    assert_int_equal(keel_cursor_rest(&past).len, 0);
    assert_int_equal(keel_cursor_remaining(NULL), 0);
    assert_int_equal(keel_cursor_rest(NULL).len, 0);
}

static void test_cursor_reads_integers_in_sequence(void **state)
{
    (void)state;
    keel_cursor c;
    keel_slice s = { be_bytes, sizeof be_bytes };
    uint8_t v8 = 0;
    uint16_t v16 = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    assert_int_equal(keel_cursor_init(&c, s), KEEL_OK);
    assert_int_equal(keel_cursor_read_u8(&c, &v8), KEEL_OK);
    assert_int_equal(v8, 0x01);
    assert_int_equal(keel_cursor_read_u16be(&c, &v16), KEEL_OK);
    assert_int_equal(v16, 0x0203);
    assert_int_equal(keel_cursor_read_u32be(&c, &v32), KEEL_OK);
    assert_int_equal(v32, 0x04050607);
    assert_int_equal(c.pos, 7);
    assert_int_equal(keel_cursor_read_u16be(&c, &v16), KEEL_OK); /* ends exactly at the end */
    assert_int_equal(v16, 0x08ff);
    assert_int_equal(keel_cursor_expect_end(&c), KEEL_OK);
    assert_int_equal(keel_cursor_init(&c, s), KEEL_OK);
    assert_int_equal(keel_cursor_skip(&c, 1), KEEL_OK);
    assert_int_equal(keel_cursor_read_u64be(&c, &v64), KEEL_OK);
    assert_true(v64 == 0x02030405060708ffu);
    assert_int_equal(keel_cursor_remaining(&c), 0);
}

static void test_cursor_reads_incomplete_leave_state(void **state)
{
    (void)state;
    keel_slice s = { be_bytes, sizeof be_bytes };
    keel_cursor c = { s, 8 };
    uint8_t v8 = 0xee;
    uint16_t v16 = 0xeeee;
    uint32_t v32 = 0xeeeeeeee;
    uint64_t v64 = 0xeeeeeeeeeeeeeeeeu;
    assert_int_equal(keel_cursor_read_u16be(&c, &v16), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_read_u32be(&c, &v32), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_read_u64be(&c, &v64), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.pos, 8);
    c.pos = 9;
    assert_int_equal(keel_cursor_read_u8(&c, &v8), KEEL_ERR_INCOMPLETE);
    c.pos = 2;
    assert_int_equal(keel_cursor_read_u64be(&c, &v64), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.pos, 2);
    assert_int_equal(v8, 0xee);
    assert_int_equal(v16, 0xeeee);
    assert_int_equal(v32, 0xeeeeeeee);
    assert_true(v64 == 0xeeeeeeeeeeeeeeeeu);
    assert_int_equal(keel_cursor_read_u8(&c, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_read_u16be(&c, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_read_u32be(&c, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_read_u64be(&c, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_read_u8(NULL, &v8), KEEL_ERR_INVALID_ARG);
    assert_int_equal(c.pos, 2);
}

static void test_cursor_take_and_skip_boundaries(void **state)
{
    (void)state;
    keel_cursor c = cursor_at("abcdef", 1);
    keel_slice out = sentinel_slice();
    assert_int_equal(keel_cursor_take(&c, 2, &out), KEEL_OK);
    assert_slice_is(out, "bc");
    assert_int_equal(c.pos, 3);
    assert_int_equal(keel_cursor_take(&c, 0, &out), KEEL_OK);
    assert_int_equal(out.len, 0);
    assert_int_equal(c.pos, 3);
    out = sentinel_slice();
    assert_int_equal(keel_cursor_take(&c, 4, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_take(&c, SIZE_MAX, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_skip(&c, 4), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_skip(&c, SIZE_MAX), KEEL_ERR_INCOMPLETE);
    assert_sentinel(out);
    assert_int_equal(c.pos, 3);
    assert_int_equal(keel_cursor_take(&c, 3, &out), KEEL_OK); /* exactly the rest */
    assert_slice_is(out, "def");
    assert_int_equal(keel_cursor_skip(&c, 0), KEEL_OK);
    assert_int_equal(keel_cursor_expect_end(&c), KEEL_OK);
    c.pos = 0;
    assert_int_equal(keel_cursor_skip(&c, 6), KEEL_OK);
    assert_int_equal(c.pos, 6);
    assert_int_equal(keel_cursor_take(&c, 1, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_take(NULL, 1, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_skip(NULL, 0), KEEL_ERR_INVALID_ARG);
}

static void test_cursor_take_until(void **state)
{
    (void)state;
    keel_cursor c = cursor_at("a:bc::d", 0);
    keel_slice out = sentinel_slice();
    assert_int_equal(keel_cursor_take_until(&c, ':', &out), KEEL_OK);
    assert_slice_is(out, "a");
    assert_int_equal(c.pos, 2);
    assert_int_equal(keel_cursor_take_until(&c, ':', &out), KEEL_OK);
    assert_slice_is(out, "bc");
    assert_int_equal(keel_cursor_take_until(&c, ':', &out), KEEL_OK);
    assert_int_equal(out.len, 0);
    assert_int_equal(c.pos, 6);
    out = sentinel_slice();
    assert_int_equal(keel_cursor_take_until(&c, ':', &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.pos, 6);
    assert_sentinel(out);
    /* the delimiter as the very last byte */
    keel_cursor d = cursor_at("xy\n", 0);
    assert_int_equal(keel_cursor_take_until(&d, '\n', &out), KEEL_OK);
    assert_slice_is(out, "xy");
    assert_int_equal(keel_cursor_expect_end(&d), KEEL_OK);
    out = sentinel_slice();
    assert_int_equal(keel_cursor_take_until(&d, '\n', &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_take_until(&d, '\n', NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_take_until(NULL, '\n', &out), KEEL_ERR_INVALID_ARG);
    assert_sentinel(out);
}

static void test_cursor_read_blocks(void **state)
{
    (void)state;
    static const uint8_t in[] = { 2, 'h', 'i',           /* block8 */
                                  0, 3,   'a', 'b', 'c', /* block16 */
                                  0, 0,   0,   1,   'z', /* block32 */
                                  0 };                   /* empty block8 */
    keel_slice s = { in, sizeof in };
    keel_cursor c;
    keel_slice out = sentinel_slice();
    assert_int_equal(keel_cursor_init(&c, s), KEEL_OK);
    assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_OK);
    assert_slice_is(out, "hi");
    assert_int_equal(keel_cursor_read_block16(&c, &out), KEEL_OK);
    assert_slice_is(out, "abc");
    assert_int_equal(keel_cursor_read_block32(&c, &out), KEEL_OK);
    assert_slice_is(out, "z");
    assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_OK);
    assert_int_equal(out.len, 0);
    assert_int_equal(keel_cursor_expect_end(&c), KEEL_OK);
}

static void test_cursor_read_blocks_incomplete_leave_state(void **state)
{
    (void)state;
    static const uint8_t body_short[] = { 3, 'a', 'b' };
    static const uint8_t prefix_short[] = { 0, 0, 0 };
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
    keel_cursor c = { { body_short, sizeof body_short }, 0 };
    keel_slice out = sentinel_slice();
    assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_read_block16(&c, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.pos, 0);
    c.src.ptr = prefix_short;
    c.src.len = sizeof prefix_short;
    assert_int_equal(keel_cursor_read_block32(&c, &out), KEEL_ERR_INCOMPLETE);
    c.pos = 3;
    assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.pos, 3);
    c.src.ptr = huge;
    c.src.len = sizeof huge;
    c.pos = 0;
    assert_int_equal(keel_cursor_read_block32(&c, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_read_block16(&c, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.pos, 0);
    assert_sentinel(out);
    assert_int_equal(keel_cursor_read_block8(&c, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_read_block16(NULL, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_cursor_read_block32(NULL, &out), KEEL_ERR_INVALID_ARG);
}

static void test_cursor_nested_block_must_consume_exactly(void **state)
{
    (void)state;
    static const uint8_t in[] = { 3, 0, 1, 9 };
    keel_cursor outer;
    keel_cursor inner;
    keel_slice block;
    uint16_t v = 0;
    assert_int_equal(keel_cursor_init(&outer, (keel_slice){ in, sizeof in }), KEEL_OK);
    assert_int_equal(keel_cursor_read_block8(&outer, &block), KEEL_OK);
    assert_int_equal(keel_cursor_init(&inner, block), KEEL_OK);
    assert_int_equal(keel_cursor_read_u16be(&inner, &v), KEEL_OK);
    assert_int_equal(v, 1);
    assert_int_equal(keel_cursor_expect_end(&inner), KEEL_ERR_PARSE);
    assert_int_equal(keel_cursor_skip(&inner, 1), KEEL_OK);
    assert_int_equal(keel_cursor_expect_end(&inner), KEEL_OK);
    assert_int_equal(keel_cursor_expect_end(&outer), KEEL_OK);
    assert_int_equal(keel_cursor_expect_end(NULL), KEEL_ERR_INVALID_ARG);
}

/* Every cursor function on a cursor that breaks its invariant. */
static void test_cursor_functions_reject_invalid_cursors(void **state)
{
    (void)state;
    keel_cursor bad[3] = { cursor_at("abc", 4), { bad_null_slice(), 0 }, { bad_wrap_slice(), 0 } };
    for (size_t i = 0; i < 3; i++) {
        keel_cursor c = bad[i];
        keel_slice out = sentinel_slice();
        uint8_t v8 = 0;
        uint16_t v16 = 0;
        uint32_t v32 = 0;
        uint64_t v64 = 0;
        assert_false(keel_cursor_valid(&c));
        assert_int_equal(keel_cursor_read_u8(&c, &v8), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_read_u16be(&c, &v16), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_read_u32be(&c, &v32), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_read_u64be(&c, &v64), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_take(&c, 0, &out), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_skip(&c, 0), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_take_until(&c, 'a', &out), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_read_block16(&c, &out), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_read_block32(&c, &out), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_expect_end(&c), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_cursor_remaining(&c), 0);
        assert_int_equal(keel_cursor_rest(&c).len, 0);
        assert_sentinel(out);
        assert_int_equal(v8 | v16 | v32, 0);
        assert_true(v64 == 0);
        assert_memory_equal(&c, &bad[i], sizeof c);
    }
}

/* ---- buf: writes ------------------------------------------------------ */

static void test_buf_append_fills_to_cap(void **state)
{
    (void)state;
    uint8_t st[6];
    keel_buf b;
    assert_int_equal(keel_buf_init(&b, st, sizeof st), KEEL_OK);
    assert_int_equal(keel_buf_append(&b, KEEL_STR("abc")), KEEL_OK);
    assert_int_equal(keel_buf_append(&b, keel_slice_empty()), KEEL_OK);
    assert_int_equal(keel_buf_append(&b, KEEL_STR("def")), KEEL_OK); /* exactly to cap */
    assert_buf_is(&b, "abcdef", 6);
    assert_int_equal(keel_buf_append(&b, keel_slice_empty()), KEEL_OK);
    assert_int_equal(keel_buf_append(&b, KEEL_STR("g")), KEEL_ERR_TOO_LARGE);
    assert_buf_is(&b, "abcdef", 6);
}

static void test_buf_append_too_large_is_all_or_nothing(void **state)
{
    (void)state;
    uint8_t st[5] = { 'x', 'x', 'x', 'x', 'x' };
    keel_buf b = { st, sizeof st, 2 };
    assert_int_equal(keel_buf_append(&b, KEEL_STR("abcd")), KEEL_ERR_TOO_LARGE);
    assert_int_equal(b.len, 2);
    assert_memory_equal(st, "xxxxx", 5); /* not even a partial copy */
    keel_buf zero = { NULL, 0, 0 };
    assert_int_equal(keel_buf_append(&zero, keel_slice_empty()), KEEL_OK);
    assert_int_equal(keel_buf_append(&zero, KEEL_STR("a")), KEEL_ERR_TOO_LARGE);
    assert_int_equal(zero.len, 0);
}

static void test_buf_append_tolerates_overlap(void **state)
{
    (void)state;
    uint8_t st[16] = "abcd";
    keel_buf b = { st, sizeof st, 4 };
    /* append the buf to itself */
    assert_int_equal(keel_buf_append(&b, keel_buf_slice(&b)), KEEL_OK);
    assert_buf_is(&b, "abcdabcd", 8);
    /* a source that overlaps the destination region itself */
    keel_slice src = { st + 6, 6 }; /* "cd" + 4 spare bytes, destination starts at 8 */
    memcpy(st + 8, "WXYZ", 4);
    assert_int_equal(keel_buf_append(&b, src), KEEL_OK);
    assert_buf_is(&b, "abcdabcdcdWXYZ", 14);
}

/* Appending a range of the buf's own storage, at every distance from the
 * destination: ranges apart (down to touching) are copied as memcpy may,
 * the rest byte by byte in the direction that keeps the source; each
 * gives what memmove gives. */
static void test_buf_append_own_bytes_at_every_distance(void **state)
{
    (void)state;
    uint8_t st[64];
    uint8_t model[64];
    for (size_t dlen = 0; dlen <= 40; dlen++) {
        for (size_t off = 0; off <= 40; off++) {
            for (size_t n = 0; n <= 24 && off + n <= sizeof st && dlen + n <= sizeof st; n++) {
                for (size_t i = 0; i < sizeof st; i++) {
                    st[i] = (uint8_t)(i * 7 + 1);
                }
                memcpy(model, st, sizeof st);
                memmove(model + dlen, model + off, n);
                keel_buf b = { st, sizeof st, dlen };
                keel_slice src = { st + off, n };
                assert_int_equal(keel_buf_append(&b, src), KEEL_OK);
                assert_int_equal(b.len, dlen + n);
                assert_memory_equal(st, model, sizeof st);
            }
        }
    }
}

static void test_buf_append_byte(void **state)
{
    (void)state;
    uint8_t st[2];
    keel_buf b = { st, sizeof st, 0 };
    assert_int_equal(keel_buf_append_byte(&b, 'a'), KEEL_OK);
    assert_int_equal(keel_buf_append_byte(&b, 0), KEEL_OK);
    assert_buf_is(&b, "a\0", 2);
    assert_int_equal(keel_buf_append_byte(&b, 'c'), KEEL_ERR_TOO_LARGE);
    assert_buf_is(&b, "a\0", 2);
    keel_buf zero = { NULL, 0, 0 };
    assert_int_equal(keel_buf_append_byte(&zero, 'a'), KEEL_ERR_TOO_LARGE);
}

static void test_buf_append_be_integers(void **state)
{
    (void)state;
    uint8_t st[14];
    keel_buf b = { st, sizeof st, 0 };
    assert_int_equal(keel_buf_append_u16be(&b, 0x0102), KEEL_OK);
    assert_int_equal(keel_buf_append_u32be(&b, 0x03040506u), KEEL_OK);
    assert_int_equal(keel_buf_append_u64be(&b, 0x0708090a0b0c0d0eu), KEEL_OK);
    assert_buf_is(&b, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e", 14);
    /* one byte short each: nothing written */
    uint8_t st2[7] = "-------";
    keel_buf c = { st2, sizeof st2, 6 };
    assert_int_equal(keel_buf_append_u16be(&c, 0xffff), KEEL_ERR_TOO_LARGE);
    c.len = 4;
    assert_int_equal(keel_buf_append_u32be(&c, 0xffffffffu), KEEL_ERR_TOO_LARGE);
    c.len = 0;
    assert_int_equal(keel_buf_append_u64be(&c, UINT64_MAX), KEEL_ERR_TOO_LARGE);
    assert_int_equal(c.len, 0);
    assert_memory_equal(st2, "-------", 7);
    c.len = 5;
    assert_int_equal(keel_buf_append_u16be(&c, 0x4142), KEEL_OK); /* exactly to cap */
    assert_memory_equal(st2, "-----AB", 7);
}

static void test_buf_append_u64_dec(void **state)
{
    (void)state;
    uint8_t st[20];
    keel_buf b = { st, sizeof st, 0 };
    assert_int_equal(keel_buf_append_u64_dec(&b, 0), KEEL_OK);
    assert_buf_is(&b, "0", 1);
    b.len = 0;
    assert_int_equal(keel_buf_append_u64_dec(&b, 1234509), KEEL_OK);
    assert_buf_is(&b, "1234509", 7);
    assert_int_equal(keel_buf_append_u64_dec(&b, 10), KEEL_OK);
    assert_buf_is(&b, "123450910", 9);
    b.len = 0;
    assert_int_equal(keel_buf_append_u64_dec(&b, UINT64_MAX), KEEL_OK); /* 20 digits, full */
    assert_buf_is(&b, "18446744073709551615", 20);
    keel_buf c = { st, 19, 0 };
    assert_int_equal(keel_buf_append_u64_dec(&c, UINT64_MAX), KEEL_ERR_TOO_LARGE);
    assert_int_equal(c.len, 0);
    c.len = 17;
    assert_int_equal(keel_buf_append_u64_dec(&c, 999), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_buf_append_u64_dec(&c, 99), KEEL_OK);
    assert_int_equal(c.len, 19);
    assert_memory_equal(st + 17, "99", 2);
}

static void test_buf_put_be_overwrites_filled_bytes_only(void **state)
{
    (void)state;
    uint8_t st[8] = "abcdef..";
    keel_buf b = { st, sizeof st, 6 };
    assert_int_equal(keel_buf_put_u16be(&b, 4, 0x4142), KEEL_OK); /* last valid offset */
    assert_int_equal(keel_buf_put_u32be(&b, 0, 0x31323334u), KEEL_OK);
    assert_buf_is(&b, "1234AB", 6);
    assert_int_equal(keel_buf_put_u16be(&b, 5, 0), KEEL_ERR_OUT_OF_BOUNDS); /* spare not allowed */
    assert_int_equal(keel_buf_put_u32be(&b, 3, 0), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_buf_put_u16be(&b, SIZE_MAX, 0), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_buf_put_u32be(&b, SIZE_MAX - 2, 0), KEEL_ERR_OUT_OF_BOUNDS);
    assert_buf_is(&b, "1234AB", 6);
    assert_memory_equal(st + 6, "..", 2);
    assert_int_equal(keel_buf_put_u16be(NULL, 0, 0), KEEL_ERR_INVALID_ARG);
}

static void test_buf_set_replaces_contents(void **state)
{
    (void)state;
    uint8_t st[5] = "abcde";
    keel_buf b = { st, sizeof st, 5 };
    keel_slice tail = { st + 2, 3 };
    assert_int_equal(keel_buf_set(&b, tail), KEEL_OK); /* overlapping source */
    assert_buf_is(&b, "cde", 3);
    assert_int_equal(keel_buf_set(&b, KEEL_STR("vwxyz")), KEEL_OK); /* exactly cap */
    assert_buf_is(&b, "vwxyz", 5);
    assert_int_equal(keel_buf_set(&b, KEEL_STR("123456")), KEEL_ERR_TOO_LARGE);
    assert_buf_is(&b, "vwxyz", 5);
    assert_int_equal(keel_buf_set(&b, keel_slice_empty()), KEEL_OK);
    assert_int_equal(b.len, 0);
}

static void test_buf_clear_truncate_commit(void **state)
{
    (void)state;
    uint8_t st[6] = "abcdef";
    keel_buf b = { st, sizeof st, 4 };
    assert_int_equal(keel_buf_truncate(&b, 4), KEEL_OK);
    assert_int_equal(keel_buf_truncate(&b, 5), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_buf_truncate(&b, SIZE_MAX), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(b.len, 4);
    assert_int_equal(keel_buf_truncate(&b, 1), KEEL_OK);
    assert_buf_is(&b, "a", 1);
    assert_int_equal(keel_buf_commit(&b, 6), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_buf_commit(&b, SIZE_MAX), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(b.len, 1);
    assert_int_equal(keel_buf_commit(&b, 5), KEEL_OK); /* exactly the spare room */
    assert_buf_is(&b, "abcdef", 6);
    assert_int_equal(keel_buf_commit(&b, 0), KEEL_OK);
    assert_int_equal(keel_buf_commit(&b, 1), KEEL_ERR_OUT_OF_BOUNDS);
    keel_buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 6);
    keel_buf_clear(NULL);
}

static void test_buf_consume_moves_rest_to_front(void **state)
{
    (void)state;
    uint8_t st[6] = "abcdef";
    keel_buf b = { st, sizeof st, 5 };
    assert_int_equal(keel_buf_consume(&b, 0), KEEL_OK);
    assert_buf_is(&b, "abcde", 5);
    assert_int_equal(keel_buf_consume(&b, 2), KEEL_OK);
    assert_buf_is(&b, "cde", 3);
    assert_int_equal(keel_buf_consume(&b, 4), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_buf_consume(&b, SIZE_MAX), KEEL_ERR_OUT_OF_BOUNDS);
    assert_buf_is(&b, "cde", 3);
    assert_int_equal(keel_buf_consume(&b, 3), KEEL_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(keel_buf_consume(&b, 0), KEEL_OK);
    assert_int_equal(keel_buf_consume(&b, 1), KEEL_ERR_OUT_OF_BOUNDS);
}

/* Every buf function on a buf that breaks its invariant (and on NULL):
 * INVALID_ARG, and neither the buf nor its storage changes. */
static void test_buf_functions_reject_invalid_bufs(void **state)
{
    (void)state;
    uint8_t st[8] = "abcdefgh";
    keel_buf bad[4] = {
        { st, 4, 5 }, { NULL, 4, 0 }, { NULL, 0, 1 }, { (uint8_t *)(UINTPTR_MAX - 3u), 8, 0 }
    };
    for (size_t i = 0; i < 4; i++) {
        keel_buf b = bad[i];
        assert_false(keel_buf_valid(&b));
        assert_int_equal(keel_buf_append(&b, KEEL_STR("x")), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_append(&b, keel_slice_empty()), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_append_byte(&b, 'x'), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_append_u16be(&b, 1), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_append_u32be(&b, 1), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_append_u64be(&b, 1), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_append_u64_dec(&b, 1), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_put_u16be(&b, 0, 1), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_put_u32be(&b, 0, 1), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_set(&b, KEEL_STR("x")), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_truncate(&b, 0), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_consume(&b, 0), KEEL_ERR_INVALID_ARG);
        assert_int_equal(keel_buf_commit(&b, 0), KEEL_ERR_INVALID_ARG);
        keel_buf_clear(&b);
        assert_memory_equal(&b, &bad[i], sizeof b);
    }
    assert_memory_equal(st, "abcdefgh", 8);
    assert_int_equal(keel_buf_append(NULL, KEEL_STR("x")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_append_byte(NULL, 'x'), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_append_u64_dec(NULL, 1), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_set(NULL, KEEL_STR("x")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_truncate(NULL, 0), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_consume(NULL, 0), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_commit(NULL, 0), KEEL_ERR_INVALID_ARG);
}

/* A valid buf with an invalid source slice: INVALID_ARG, buf unchanged. */
static void test_buf_functions_reject_invalid_source(void **state)
{
    (void)state;
    uint8_t st[8] = "abcdefgh";
    keel_buf b = { st, sizeof st, 2 };
    assert_int_equal(keel_buf_append(&b, bad_null_slice()), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_append(&b, bad_wrap_slice()), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_set(&b, bad_null_slice()), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_buf_set(&b, bad_wrap_slice()), KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 2);
    assert_memory_equal(st, "abcdefgh", 8);
}

/* ---- printf and array helpers ------------------------------------------ */

static void test_slice_fmt_prints_exactly_the_slice(void **state)
{
    (void)state;
    const char text[] = "hello world";
    keel_slice hello = { (const uint8_t *)text, 5 }; /* not NUL-terminated there */
    char out[64];
    int n = snprintf(out, sizeof out, "[" KEEL_SLICE_FMT "]", KEEL_SLICE_ARG(hello));
    assert_int_equal(n, 7);
    assert_string_equal(out, "[hello]");
    keel_slice empty = keel_slice_empty();
    n = snprintf(out, sizeof out, "[" KEEL_SLICE_FMT "]", KEEL_SLICE_ARG(empty));
    assert_int_equal(n, 2);
    assert_string_equal(out, "[]");
}

/* printf's precision is an int: a longer slice is clamped to INT_MAX, never
 * converted with overflow (which would give a negative precision: print up
 * to a NUL, past the slice). The bytes are never read here. */
static void test_slice_arg_clamps_length_to_int_max(void **state)
{
    (void)state;
    static const uint8_t byte = 'x';
    struct {
        int len;
        const char *ptr;
    } args[] = {
        { KEEL_SLICE_ARG(((keel_slice){ &byte, (size_t)INT_MAX + 1u })) },
        { KEEL_SLICE_ARG(((keel_slice){ &byte, SIZE_MAX - 1u })) },
        { KEEL_SLICE_ARG(((keel_slice){ &byte, (size_t)INT_MAX })) },
        { KEEL_SLICE_ARG(((keel_slice){ &byte, 1 })) },
    };
    assert_int_equal(args[0].len, INT_MAX);
    assert_int_equal(args[1].len, INT_MAX);
    assert_int_equal(args[2].len, INT_MAX);
    assert_int_equal(args[3].len, 1);
    assert_ptr_equal(args[0].ptr, (const char *)&byte);
}

static void test_buf_array_covers_the_whole_array(void **state)
{
    (void)state;
    uint8_t storage[37];
    char text[5];
    keel_buf b = KEEL_BUF_ARRAY(storage);
    keel_buf t = KEEL_BUF_ARRAY(text);
    assert_ptr_equal(b.ptr, storage);
    assert_int_equal(b.cap, sizeof storage);
    assert_int_equal(b.len, 0);
    assert_true(keel_buf_valid(&b));
    assert_ptr_equal(t.ptr, (uint8_t *)text);
    assert_int_equal(t.cap, 5);
    assert_int_equal(t.len, 0);
    /* Usable at once, and bounded by the array. */
    assert_int_equal(keel_buf_append(&t, KEEL_STR("abcde")), KEEL_OK);
    assert_int_equal(keel_buf_append_byte(&t, 'f'), KEEL_ERR_TOO_LARGE);
    assert_memory_equal(text, "abcde", 5);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slice_valid_accepts_empty_and_ordinary),
        cmocka_unit_test(test_slice_valid_rejects_null_with_len_and_wrap),
        cmocka_unit_test(test_buf_valid_checks_each_invariant),
        cmocka_unit_test(test_cursor_valid_checks_each_invariant),
        cmocka_unit_test(test_slice_empty_is_null_zero),
        cmocka_unit_test(test_slice_from_accepts_valid_ranges),
        cmocka_unit_test(test_slice_from_rejects_invalid_ranges),
        cmocka_unit_test(test_slice_cstr_excludes_nul_and_accepts_null),
        cmocka_unit_test(test_buf_init_accepts_valid_storage),
        cmocka_unit_test(test_buf_init_rejects_invalid_storage),
        cmocka_unit_test(test_buf_slice_and_spare),
        cmocka_unit_test(test_slice_sub_in_bounds),
        cmocka_unit_test(test_slice_sub_out_of_bounds_and_overflow),
        cmocka_unit_test(test_slice_from_off_boundaries),
        cmocka_unit_test(test_slice_split_at_boundaries),
        cmocka_unit_test(test_slice_split_once_drops_delimiter),
        cmocka_unit_test(test_slice_split_once_absent_or_invalid),
        cmocka_unit_test(test_slice_find_byte),
        cmocka_unit_test(test_slice_find_sequence),
        cmocka_unit_test(test_slice_find_absent_or_invalid),
        cmocka_unit_test(test_slice_eq),
        cmocka_unit_test(test_slice_eq_nocase_folds_ascii_letters_only),
        cmocka_unit_test(test_slice_cmp_orders_bytes_unsigned),
        cmocka_unit_test(test_slice_starts_and_ends_with),
        cmocka_unit_test(test_slice_trim),
        cmocka_unit_test(test_slice_get),
        cmocka_unit_test(test_slice_read_be_values_and_last_offset),
        cmocka_unit_test(test_slice_read_be_out_of_bounds),
        cmocka_unit_test(test_slice_parse_u64_accepts_digits_up_to_max),
        cmocka_unit_test(test_slice_parse_u64_rejects_too_large),
        cmocka_unit_test(test_slice_parse_u64_rejects_malformed),
        cmocka_unit_test(test_cursor_init_and_rest),
        cmocka_unit_test(test_cursor_reads_integers_in_sequence),
        cmocka_unit_test(test_cursor_reads_incomplete_leave_state),
        cmocka_unit_test(test_cursor_take_and_skip_boundaries),
        cmocka_unit_test(test_cursor_take_until),
        cmocka_unit_test(test_cursor_read_blocks),
        cmocka_unit_test(test_cursor_read_blocks_incomplete_leave_state),
        cmocka_unit_test(test_cursor_nested_block_must_consume_exactly),
        cmocka_unit_test(test_cursor_functions_reject_invalid_cursors),
        cmocka_unit_test(test_buf_append_fills_to_cap),
        cmocka_unit_test(test_buf_append_too_large_is_all_or_nothing),
        cmocka_unit_test(test_buf_append_tolerates_overlap),
        cmocka_unit_test(test_buf_append_own_bytes_at_every_distance),
        cmocka_unit_test(test_buf_append_byte),
        cmocka_unit_test(test_buf_append_be_integers),
        cmocka_unit_test(test_buf_append_u64_dec),
        cmocka_unit_test(test_buf_put_be_overwrites_filled_bytes_only),
        cmocka_unit_test(test_buf_set_replaces_contents),
        cmocka_unit_test(test_buf_clear_truncate_commit),
        cmocka_unit_test(test_buf_consume_moves_rest_to_front),
        cmocka_unit_test(test_buf_functions_reject_invalid_bufs),
        cmocka_unit_test(test_buf_functions_reject_invalid_source),
        cmocka_unit_test(test_slice_fmt_prints_exactly_the_slice),
        cmocka_unit_test(test_slice_arg_clamps_length_to_int_max),
        cmocka_unit_test(test_buf_array_covers_the_whole_array),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

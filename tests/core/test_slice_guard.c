/*
 * tests/core/test_slice_guard.c - every read path of keel/slice.h on input whose
 * last byte is the last readable byte before a PROT_NONE page: reading one
 * byte too far crashes the test instead of passing silently. The inputs are
 * shaped so that the function has to scan to the very end (byte absent,
 * match at the end, read at the last valid offset).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "guard_page.h"
#include "keel/slice.h"

/* The guarded copy of text as a slice; fails the test if mapping fails. */
static keel_slice guarded(guard_region *g, const char *text)
{
    size_t len = strlen(text);
    uint8_t *p = guard_alloc(g, text, len);
    assert_non_null(p);
    keel_slice s = { len > 0 ? p : NULL, len };
    return s;
}

static void test_guard_find_byte_scans_to_the_edge(void **state)
{
    (void)state;
    guard_region g;
    keel_slice s = guarded(&g, "abcdefg");
    size_t idx = 0;
    assert_int_equal(keel_slice_find_byte(s, 'z', &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find_byte(s, 'g', &idx), KEEL_OK);
    assert_int_equal(idx, 6);
    keel_slice h;
    keel_slice t;
    assert_int_equal(keel_slice_split_once(s, 'z', &h, &t), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_split_once(s, 'g', &h, &t), KEEL_OK);
    assert_int_equal(t.len, 0);
    guard_free(&g);
}

static void test_guard_find_near_miss_at_the_edge(void **state)
{
    (void)state;
    guard_region g;
    keel_slice s = guarded(&g, "xxxxab");
    size_t idx = 0;
    /* a needle whose prefix sits at the very end must not be read past it */
    assert_int_equal(keel_slice_find(s, KEEL_STR("abc"), &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find(s, KEEL_STR("ab"), &idx), KEEL_OK);
    assert_int_equal(idx, 4);
    assert_int_equal(keel_slice_find(s, KEEL_STR("xxxxabc"), &idx), KEEL_ERR_NOT_FOUND);
    guard_region gn;
    keel_slice needle = guarded(&gn, "abx");
    assert_int_equal(keel_slice_find(KEEL_STR("zzabx"), needle, &idx), KEEL_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(keel_slice_find(s, needle, &idx), KEEL_ERR_NOT_FOUND);
    guard_free(&gn);
    guard_free(&g);
}

static void test_guard_compare_paths(void **state)
{
    (void)state;
    guard_region ga;
    guard_region gb;
    keel_slice a = guarded(&ga, "Header-Name");
    keel_slice b = guarded(&gb, "header-name");
    assert_false(keel_slice_eq(a, b));
    assert_true(keel_slice_eq_nocase(a, b));
    assert_true(keel_slice_cmp(a, b) < 0);
    assert_int_equal(keel_slice_cmp(a, a), 0);
    assert_true(keel_slice_eq(b, KEEL_STR("header-name")));
    assert_true(keel_slice_starts_with(a, a));
    assert_true(keel_slice_ends_with(a, KEEL_STR("Name")));
    assert_false(keel_slice_ends_with(a, KEEL_STR("-Namf")));
    assert_true(keel_slice_ends_with(KEEL_STR("My-Header-Name"), a));
    guard_free(&gb);
    guard_free(&ga);
}

static void test_guard_trim_all_whitespace(void **state)
{
    (void)state;
    guard_region g;
    keel_slice s = guarded(&g, " \t\r\n ");
    assert_int_equal(keel_slice_trim_left(s).len, 0);
    assert_int_equal(keel_slice_trim_right(s).len, 0);
    assert_int_equal(keel_slice_trim(s).len, 0);
    guard_free(&g);
    keel_slice t = guarded(&g, "  ab");
    keel_slice r = keel_slice_trim(t);
    assert_int_equal(r.len, 2);
    assert_memory_equal(r.ptr, "ab", 2);
    guard_free(&g);
}

static void test_guard_reads_at_the_last_valid_offset(void **state)
{
    (void)state;
    guard_region g;
    keel_slice s = guarded(&g, "0123456789");
    uint8_t v8 = 0;
    uint16_t v16 = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    assert_int_equal(keel_slice_get(s, 9, &v8), KEEL_OK);
    assert_int_equal(v8, '9');
    assert_int_equal(keel_slice_get(s, 10, &v8), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u16be(s, 8, &v16), KEEL_OK);
    assert_int_equal(v16, 0x3839);
    assert_int_equal(keel_slice_read_u16be(s, 9, &v16), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u32be(s, 6, &v32), KEEL_OK);
    assert_int_equal(v32, 0x36373839);
    assert_int_equal(keel_slice_read_u32be(s, 7, &v32), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_slice_read_u64be(s, 2, &v64), KEEL_OK);
    assert_true(v64 == 0x3233343536373839u);
    assert_int_equal(keel_slice_read_u64be(s, 3, &v64), KEEL_ERR_OUT_OF_BOUNDS);
    guard_free(&g);
}

static void test_guard_cursor_reads_to_the_edge(void **state)
{
    (void)state;
    guard_region g;
    keel_slice s = guarded(&g, "abcdefghijklmno"); /* 15 bytes */
    keel_cursor c;
    uint8_t v8 = 0;
    uint16_t v16 = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    keel_slice out;
    assert_int_equal(keel_cursor_init(&c, s), KEEL_OK);
    assert_int_equal(keel_cursor_read_u8(&c, &v8), KEEL_OK);
    assert_int_equal(keel_cursor_read_u16be(&c, &v16), KEEL_OK);
    assert_int_equal(keel_cursor_read_u32be(&c, &v32), KEEL_OK);
    assert_int_equal(keel_cursor_read_u64be(&c, &v64), KEEL_OK); /* ends exactly at the edge */
    assert_true(v64 == 0x68696a6b6c6d6e6fu);
    assert_int_equal(keel_cursor_read_u8(&c, &v8), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_expect_end(&c), KEEL_OK);
    c.pos = 14;
    assert_int_equal(keel_cursor_read_u16be(&c, &v16), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_read_u8(&c, &v8), KEEL_OK);
    assert_int_equal(v8, 'o');
    c.pos = 12;
    assert_int_equal(keel_cursor_take(&c, 4, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_take(&c, 3, &out), KEEL_OK);
    assert_memory_equal(out.ptr, "mno", 3);
    guard_free(&g);
}

static void test_guard_take_until_absent(void **state)
{
    (void)state;
    guard_region g;
    keel_slice s = guarded(&g, "GET / HTTP/1.1");
    keel_cursor c;
    keel_slice out;
    assert_int_equal(keel_cursor_init(&c, s), KEEL_OK);
    assert_int_equal(keel_cursor_take_until(&c, '\n', &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.pos, 0);
    assert_int_equal(keel_cursor_take_until(&c, '1', &out), KEEL_OK); /* first '1' */
    assert_int_equal(keel_cursor_take_until(&c, '1', &out), KEEL_OK); /* the last byte */
    assert_int_equal(out.len, 1);
    assert_int_equal(keel_cursor_expect_end(&c), KEEL_OK);
    guard_free(&g);
}

static void test_guard_parse_u64_to_the_edge(void **state)
{
    (void)state;
    guard_region g;
    uint64_t v = 0;
    keel_slice s = guarded(&g, "18446744073709551615");
    assert_int_equal(keel_slice_parse_u64(s, UINT64_MAX, &v), KEEL_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(keel_slice_parse_u64(s, 10, &v), KEEL_ERR_TOO_LARGE);
    guard_free(&g);
    s = guarded(&g, "4096");
    assert_int_equal(keel_slice_parse_u64(s, UINT64_MAX, &v), KEEL_OK);
    assert_true(v == 4096);
    guard_free(&g);
}

static void test_guard_blocks_with_lying_lengths(void **state)
{
    (void)state;
    guard_region g;
    static const uint8_t honest[] = { 0, 0, 0, 2, 'h', 'i' };
    static const uint8_t lying[] = { 0, 9, 'a', 'b', 'c' };
    keel_cursor c;
    keel_slice out;
    uint8_t *p = guard_alloc(&g, honest, sizeof honest);
    assert_non_null(p);
    assert_int_equal(keel_cursor_init(&c, (keel_slice){ p, sizeof honest }), KEEL_OK);
    assert_int_equal(keel_cursor_read_block32(&c, &out), KEEL_OK);
    assert_memory_equal(out.ptr, "hi", 2);
    assert_int_equal(keel_cursor_expect_end(&c), KEEL_OK);
    assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_ERR_INCOMPLETE);
    guard_free(&g);
    p = guard_alloc(&g, lying, sizeof lying);
    assert_non_null(p);
    assert_int_equal(keel_cursor_init(&c, (keel_slice){ p, sizeof lying }), KEEL_OK);
    assert_int_equal(keel_cursor_read_block16(&c, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_read_block32(&c, &out), KEEL_ERR_INCOMPLETE);
    c.pos = 1;
    assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_ERR_INCOMPLETE); /* 9, 3 bytes left */
    c.pos = 4;
    assert_int_equal(keel_cursor_read_block16(&c, &out), KEEL_ERR_INCOMPLETE); /* 1-byte prefix */
    assert_int_equal(c.pos, 4);
    guard_free(&g);
}

static void test_guard_empty_slice_reads_nothing(void **state)
{
    (void)state;
    guard_region g;
    /* a non-NULL zero-length slice pointing at the guard page itself */
    uint8_t *p = guard_alloc(&g, "", 0);
    assert_non_null(p);
    keel_slice s = { p, 0 };
    size_t idx = 0;
    uint64_t v = 0;
    keel_cursor c;
    keel_slice out;
    assert_int_equal(keel_slice_find_byte(s, 0, &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find(s, KEEL_STR("a"), &idx), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_slice_find(s, s, &idx), KEEL_OK);
    assert_true(keel_slice_eq(s, keel_slice_empty()));
    assert_int_equal(keel_slice_cmp(s, KEEL_STR("")), 0);
    assert_int_equal(keel_slice_trim(s).len, 0);
    assert_int_equal(keel_slice_parse_u64(s, UINT64_MAX, &v), KEEL_ERR_PARSE);
    assert_int_equal(keel_cursor_init(&c, s), KEEL_OK);
    assert_int_equal(keel_cursor_take_until(&c, 0, &out), KEEL_ERR_INCOMPLETE);
    assert_int_equal(keel_cursor_read_block8(&c, &out), KEEL_ERR_INCOMPLETE);
    guard_free(&g);
}

static void test_guard_buf_writes_stop_at_cap(void **state)
{
    (void)state;
    guard_region g;
    static const uint8_t zeros[8] = { 0 };
    uint8_t *p = guard_alloc(&g, zeros, sizeof zeros);
    assert_non_null(p);
    keel_buf b;
    assert_int_equal(keel_buf_init(&b, p, sizeof zeros), KEEL_OK);
    assert_int_equal(keel_buf_append_u32be(&b, 0x01020304u), KEEL_OK);
    assert_int_equal(keel_buf_append_u64be(&b, 1), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_buf_append_u64_dec(&b, 12345), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_buf_append_u64_dec(&b, 1234), KEEL_OK); /* fills to the edge */
    assert_int_equal(keel_buf_append_byte(&b, 'x'), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_buf_put_u16be(&b, 6, 0x4142), KEEL_OK);
    assert_int_equal(keel_buf_put_u16be(&b, 7, 0x4142), KEEL_ERR_OUT_OF_BOUNDS);
    assert_memory_equal(p,
                        "\x01\x02\x03\x04"
                        "12AB",
                        8);
    assert_int_equal(keel_buf_consume(&b, 7), KEEL_OK);
    assert_int_equal(keel_buf_append(&b, KEEL_STR("1234567")), KEEL_OK);
    assert_memory_equal(p, "B1234567", 8);
    guard_free(&g);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guard_find_byte_scans_to_the_edge),
        cmocka_unit_test(test_guard_find_near_miss_at_the_edge),
        cmocka_unit_test(test_guard_compare_paths),
        cmocka_unit_test(test_guard_trim_all_whitespace),
        cmocka_unit_test(test_guard_reads_at_the_last_valid_offset),
        cmocka_unit_test(test_guard_cursor_reads_to_the_edge),
        cmocka_unit_test(test_guard_take_until_absent),
        cmocka_unit_test(test_guard_parse_u64_to_the_edge),
        cmocka_unit_test(test_guard_blocks_with_lying_lengths),
        cmocka_unit_test(test_guard_empty_slice_reads_nothing),
        cmocka_unit_test(test_guard_buf_writes_stop_at_cap),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

/*
 * tests/json/test_json.c - the validator, tokenizer and lookup of keel/json.h:
 * JSONTestSuite-style accepted (y_) and rejected (n_) documents, each
 * rejection checked for its result, reason and byte offset (and the
 * tokenizer checked to agree with the validator on every one); INCOMPLETE
 * for every truncated prefix of valid documents; depth limits; tokenizer
 * sequences; path lookup and child iteration; the UTF-8/escape building
 * blocks of src/json/json_internal.h; and guard-page runs where reading one byte
 * past the document crashes the test.
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
#include "json/json_internal.h"
#include "keel/json.h"

static keel_slice text_slice(const char *text, size_t len)
{
    keel_slice s = { len > 0 ? (const uint8_t *)text : NULL, len };
    return s;
}

/* Run the tokenizer to the end; its result and error must be the
 * validator's. */
static keel_result tokenize_all(keel_slice doc, uint32_t max_depth, keel_json_error *err)
{
    keel_json_tokenizer t;
    keel_json_token tok;
    keel_result r = keel_json_tokenizer_init(&t, doc, max_depth);
    if (r != KEEL_OK) {
        return r;
    }
    for (size_t guard = 0; guard <= doc.len + 1; guard++) {
        r = keel_json_next(&t, &tok);
        if (r != KEEL_OK) {
            *err = t.err;
            return r;
        }
        if (tok.kind == KEEL_JSON_END) {
            err->offset = 0;
            err->reason = KEEL_JSON_OK;
            return KEEL_OK;
        }
    }
    fail_msg("tokenizer did not make progress");
    return KEEL_ERR_STATE;
}

static void check_doc(keel_slice doc, uint32_t depth, keel_result want, keel_json_reason why,
                      size_t off, int line)
{
    keel_json_error e = { 12345, KEEL_JSON_REASON_COUNT };
    keel_result r = keel_json_validate(doc, depth, &e);
    if (r != want || e.reason != why || e.offset != off) {
        fail_msg("line %d: validate gave result %d reason %d offset %zu, want %d %d %zu", line,
                 (int)r, (int)e.reason, e.offset, (int)want, (int)why, off);
    }
    keel_json_error te = { 12345, KEEL_JSON_REASON_COUNT };
    r = tokenize_all(doc, depth, &te);
    if (r != want || te.reason != why || te.offset != off) {
        fail_msg("line %d: tokenizer gave result %d reason %d offset %zu, want %d %d %zu", line,
                 (int)r, (int)te.reason, te.offset, (int)want, (int)why, off);
    }
}

#define GOOD(lit) check_doc(KEEL_STR(lit), 0, KEEL_OK, KEEL_JSON_OK, 0, __LINE__)
#define BAD(lit, why, off) check_doc(KEEL_STR(lit), 0, KEEL_ERR_PARSE, why, off, __LINE__)
#define SHORT(lit) \
    check_doc(KEEL_STR(lit), 0, KEEL_ERR_INCOMPLETE, KEEL_JSON_UNEXPECTED_END, \
              sizeof(lit) - 1u, __LINE__)

/* ---- accepted documents ------------------------------------------------ */

static void test_validate_accepts_every_value_kind(void **state)
{
    (void)state;
    GOOD("{}");
    GOOD("[]");
    GOOD(" \t\r\n[ ]\n");
    GOOD("0");
    GOOD("-0");
    GOOD("-0.0e-0");
    GOOD("1.5e+10");
    GOOD("1E-2");
    GOOD("123456789012345678901234567890");
    GOOD("1e999999999999999999");
    GOOD("\"x\"");
    GOOD("\"\"");
    GOOD("true");
    GOOD("false");
    GOOD("null");
    GOOD("[true,false,null]");
    GOOD("[1,2,{\"a\":[]},\"s\",-1.5]");
    GOOD("{ \"a\" : [ 1 , { } ] , \"b\" : null }");
    GOOD("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
    GOOD("\"\\u0000\\u00e9\\uFFFF\\u20AC\"");
    GOOD("\"\\ud83d\\ude00\\uDBFF\\uDFFF\\uD800\\uDC00\"");
    GOOD("\"\x7f\"");
}

static void test_validate_accepts_utf8_at_every_boundary(void **state)
{
    (void)state;
    GOOD("\"\xC2\x80\"");             /* U+0080 */
    GOOD("\"\xDF\xBF\"");             /* U+07FF */
    GOOD("\"\xE0\xA0\x80\"");         /* U+0800 */
    GOOD("\"\xED\x9F\xBF\"");         /* U+D7FF */
    GOOD("\"\xEE\x80\x80\"");         /* U+E000 */
    GOOD("\"\xEF\xBF\xBF\"");         /* U+FFFF */
    GOOD("\"\xF0\x90\x80\x80\"");     /* U+10000 */
    GOOD("\"\xF4\x8F\xBF\xBF\"");     /* U+10FFFF */
    GOOD("{\"\xC3\xA9t\xC3\xA9\":\"\xE2\x82\xAC\xF0\x9F\x98\x80\"}");
}

/* ---- rejected documents ------------------------------------------------ */

static void test_validate_rejects_bad_structure(void **state)
{
    (void)state;
    SHORT("");
    SHORT("   ");
    BAD(",", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("[1,]", KEEL_JSON_UNEXPECTED_BYTE, 3);
    BAD("[,1]", KEEL_JSON_UNEXPECTED_BYTE, 1);
    BAD("[1,,2]", KEEL_JSON_UNEXPECTED_BYTE, 3);
    BAD("[1 2]", KEEL_JSON_UNEXPECTED_BYTE, 3);
    BAD("{\"a\":1,}", KEEL_JSON_UNEXPECTED_BYTE, 7);
    BAD("{,}", KEEL_JSON_UNEXPECTED_BYTE, 1);
    BAD("{\"a\" 1}", KEEL_JSON_UNEXPECTED_BYTE, 5);
    BAD("{\"a\"}", KEEL_JSON_UNEXPECTED_BYTE, 4);
    BAD("{\"a\":}", KEEL_JSON_UNEXPECTED_BYTE, 5);
    BAD("{\"a\":1 \"b\":2}", KEEL_JSON_UNEXPECTED_BYTE, 7);
    BAD("{1:2}", KEEL_JSON_UNEXPECTED_BYTE, 1);
    BAD("{a:2}", KEEL_JSON_UNEXPECTED_BYTE, 1);
    BAD("[1}", KEEL_JSON_UNEXPECTED_BYTE, 2);
    BAD("{\"a\":1]", KEEL_JSON_UNEXPECTED_BYTE, 6);
    BAD("[}", KEEL_JSON_UNEXPECTED_BYTE, 1);
    BAD("{]", KEEL_JSON_UNEXPECTED_BYTE, 1);
    BAD("]", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("}", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("'a'", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("/* c */ 1", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("NaN", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("Infinity", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("[\v1]", KEEL_JSON_UNEXPECTED_BYTE, 1);
    BAD("\f1", KEEL_JSON_UNEXPECTED_BYTE, 0);
    /* a UTF-8 byte order mark is not JSON whitespace (RFC 8259 8.1) */
    BAD("\xEF\xBB\xBF{}", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("1 2", KEEL_JSON_TRAILING_DATA, 2);
    BAD("{} {}", KEEL_JSON_TRAILING_DATA, 3);
    BAD("[]x", KEEL_JSON_TRAILING_DATA, 2);
    BAD("\"a\"\"b\"", KEEL_JSON_TRAILING_DATA, 3);
    BAD("1\0", KEEL_JSON_TRAILING_DATA, 1);
    BAD("null ,", KEEL_JSON_TRAILING_DATA, 5);
    SHORT("[1");
    SHORT("[1,");
    SHORT("{\"a\"");
    SHORT("{\"a\":");
    SHORT("{\"a\":1");
    SHORT("[[[]]");
}

static void test_validate_rejects_bad_literals(void **state)
{
    (void)state;
    SHORT("tru");
    SHORT("f");
    SHORT("[nul");
    BAD("nulll", KEEL_JSON_BAD_LITERAL, 4);
    BAD("truefalse", KEEL_JSON_BAD_LITERAL, 4);
    BAD("trux", KEEL_JSON_BAD_LITERAL, 3);
    BAD("[nul]", KEEL_JSON_BAD_LITERAL, 4);
    BAD("fals3", KEEL_JSON_BAD_LITERAL, 4);
    BAD("True", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("NULL", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("undefined", KEEL_JSON_UNEXPECTED_BYTE, 0);
}

static void test_validate_rejects_bad_numbers(void **state)
{
    (void)state;
    /* cut by the end of the document: more bytes could complete it */
    SHORT("-");
    SHORT("1.");
    SHORT("1e");
    SHORT("1e+");
    SHORT("-0.5E-");
    BAD("[-]", KEEL_JSON_BAD_NUMBER, 2);
    BAD("01", KEEL_JSON_BAD_NUMBER, 1);
    BAD("00", KEEL_JSON_BAD_NUMBER, 1);
    BAD("-01", KEEL_JSON_BAD_NUMBER, 2);
    BAD("[1.]", KEEL_JSON_BAD_NUMBER, 3);
    BAD("[0.e1]", KEEL_JSON_BAD_NUMBER, 3);
    BAD("[1e]", KEEL_JSON_BAD_NUMBER, 3);
    BAD("[1e+]", KEEL_JSON_BAD_NUMBER, 4);
    BAD("1ea", KEEL_JSON_BAD_NUMBER, 2);
    BAD("0x1", KEEL_JSON_BAD_NUMBER, 1);
    BAD("1.2.3", KEEL_JSON_BAD_NUMBER, 3);
    BAD("1e5e", KEEL_JSON_BAD_NUMBER, 3);
    BAD("--1", KEEL_JSON_BAD_NUMBER, 1);
    BAD("- 1", KEEL_JSON_BAD_NUMBER, 1);
    BAD("-Infinity", KEEL_JSON_BAD_NUMBER, 1);
    BAD("1+2", KEEL_JSON_BAD_NUMBER, 1);
    BAD(".1", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("+1", KEEL_JSON_UNEXPECTED_BYTE, 0);
    BAD("1 .5", KEEL_JSON_TRAILING_DATA, 2);
}

static void test_validate_rejects_bad_strings(void **state)
{
    (void)state;
    SHORT("\"abc");
    SHORT("\"\\");
    SHORT("\"\\u12");
    SHORT("\"\\uD800");
    SHORT("\"\\uD800\\");
    SHORT("\"\\uD800\\u");
    SHORT("\"\\uD800\\uDC0");
    SHORT("[\"a\\\"]");
    BAD("\"a\x01z\"", KEEL_JSON_CONTROL_CHAR, 2);
    BAD("\"\t\"", KEEL_JSON_CONTROL_CHAR, 1);
    BAD("\"\n\"", KEEL_JSON_CONTROL_CHAR, 1);
    BAD("\"\0\"", KEEL_JSON_CONTROL_CHAR, 1);
    BAD("\"\x1f\"", KEEL_JSON_CONTROL_CHAR, 1);
    BAD("\"ab\\x41\"", KEEL_JSON_BAD_ESCAPE, 3);
    BAD("\"\\'\"", KEEL_JSON_BAD_ESCAPE, 1);
    BAD("\"\\a\"", KEEL_JSON_BAD_ESCAPE, 1);
    BAD("\"\\U0041\"", KEEL_JSON_BAD_ESCAPE, 1);
    BAD("\"\\u12\"", KEEL_JSON_BAD_ESCAPE, 1);
    BAD("\"\\uGGGG\"", KEEL_JSON_BAD_ESCAPE, 1);
    BAD("\"\\u 123\"", KEEL_JSON_BAD_ESCAPE, 1);
    BAD("\"\\uD800\\uDCxx\"", KEEL_JSON_BAD_ESCAPE, 1);
    BAD("\"\\uD800\"", KEEL_JSON_BAD_SURROGATE, 1);
    BAD("\"x\\uDC00\"", KEEL_JSON_BAD_SURROGATE, 2);
    BAD("\"\\uDFFF\\uD800\"", KEEL_JSON_BAD_SURROGATE, 1);
    BAD("\"\\uD800\\u0041\"", KEEL_JSON_BAD_SURROGATE, 1);
    BAD("\"\\uD800\\uD800\"", KEEL_JSON_BAD_SURROGATE, 1);
    BAD("\"\\uDBFF\\uE000\"", KEEL_JSON_BAD_SURROGATE, 1);
    BAD("\"\\uD800x\"", KEEL_JSON_BAD_SURROGATE, 1);
    BAD("\"\\uD800\\n\"", KEEL_JSON_BAD_SURROGATE, 1);
    BAD("{\"\\uD800\":1}", KEEL_JSON_BAD_SURROGATE, 2);
}

static void test_validate_rejects_bad_utf8(void **state)
{
    (void)state;
    BAD("\"\xC0\x80\"", KEEL_JSON_BAD_UTF8, 1);         /* overlong NUL */
    BAD("\"\xC1\xBF\"", KEEL_JSON_BAD_UTF8, 1);         /* overlong 2-byte */
    BAD("\"\xE0\x80\x80\"", KEEL_JSON_BAD_UTF8, 1);     /* overlong 3-byte */
    BAD("\"\xE0\x9F\xBF\"", KEEL_JSON_BAD_UTF8, 1);
    BAD("\"\xF0\x80\x80\x80\"", KEEL_JSON_BAD_UTF8, 1); /* overlong 4-byte */
    BAD("\"\xF0\x8F\xBF\xBF\"", KEEL_JSON_BAD_UTF8, 1);
    BAD("\"\xED\xA0\x80\"", KEEL_JSON_BAD_UTF8, 1);     /* U+D800 */
    BAD("\"\xED\xBF\xBF\"", KEEL_JSON_BAD_UTF8, 1);     /* U+DFFF */
    BAD("\"\xF4\x90\x80\x80\"", KEEL_JSON_BAD_UTF8, 1); /* U+110000 */
    BAD("\"\xF5\x80\x80\x80\"", KEEL_JSON_BAD_UTF8, 1);
    BAD("\"\xF8\x88\x80\x80\x80\"", KEEL_JSON_BAD_UTF8, 1);
    BAD("\"\xFE\"", KEEL_JSON_BAD_UTF8, 1);
    BAD("\"\xFF\"", KEEL_JSON_BAD_UTF8, 1);
    BAD("\"\x80\"", KEEL_JSON_BAD_UTF8, 1);             /* continuation, no lead */
    BAD("\"a\xBF\"", KEEL_JSON_BAD_UTF8, 2);
    BAD("\"\xC3\xA9\xA9\"", KEEL_JSON_BAD_UTF8, 3);
    BAD("\"\xE2\x82\"", KEEL_JSON_BAD_UTF8, 1);         /* cut before the quote */
    BAD("\"a\xC3(\"", KEEL_JSON_BAD_UTF8, 2);
    BAD("\"\xF0\x9F\x98 \"", KEEL_JSON_BAD_UTF8, 1);
    BAD("{\"\xC0\x80\":1}", KEEL_JSON_BAD_UTF8, 2);
    BAD("\xC3\xA9", KEEL_JSON_UNEXPECTED_BYTE, 0);      /* outside a string */
    /* cut by the end of the document */
    SHORT("\"\xC3");
    SHORT("\"\xE2\x82");
    SHORT("\"\xF0\x9F\x98");
}

/* ---- depth --------------------------------------------------------------- */

/* n opening brackets (alternating '[' and '{"k":' when mixed), a 0, then
 * the matching closes. Returns the length written. */
static size_t nest(char *out, size_t cap, size_t n, bool mixed)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *open = mixed && i % 2 == 1 ? "{\"k\":" : "[";
        assert_true(len + strlen(open) < cap);
        memcpy(out + len, open, strlen(open));
        len += strlen(open);
    }
    assert_true(len + 1 < cap);
    out[len++] = '0';
    for (size_t i = n; i > 0; i--) {
        assert_true(len + 1 < cap);
        out[len++] = mixed && (i - 1) % 2 == 1 ? '}' : ']';
    }
    out[len] = '\0';
    return len;
}

static char deep_buf[8 * 1100];

static void test_validate_depth_limit_is_exact(void **state)
{
    (void)state;
    size_t len = nest(deep_buf, sizeof deep_buf, 2, false);
    check_doc(text_slice(deep_buf, len), 2, KEEL_OK, KEEL_JSON_OK, 0, __LINE__);
    len = nest(deep_buf, sizeof deep_buf, 3, false);
    check_doc(text_slice(deep_buf, len), 2, KEEL_ERR_TOO_LARGE, KEEL_JSON_TOO_DEEP, 2, __LINE__);

    /* max_depth 0 is the default */
    len = nest(deep_buf, sizeof deep_buf, KEEL_JSON_DEFAULT_DEPTH, false);
    check_doc(text_slice(deep_buf, len), 0, KEEL_OK, KEEL_JSON_OK, 0, __LINE__);
    len = nest(deep_buf, sizeof deep_buf, KEEL_JSON_DEFAULT_DEPTH + 1, false);
    check_doc(text_slice(deep_buf, len), 0, KEEL_ERR_TOO_LARGE, KEEL_JSON_TOO_DEEP,
              KEEL_JSON_DEFAULT_DEPTH, __LINE__);

    /* the cap itself is accepted and enforced */
    len = nest(deep_buf, sizeof deep_buf, KEEL_JSON_DEPTH_CAP, false);
    check_doc(text_slice(deep_buf, len), KEEL_JSON_DEPTH_CAP, KEEL_OK, KEEL_JSON_OK, 0,
              __LINE__);
    len = nest(deep_buf, sizeof deep_buf, KEEL_JSON_DEPTH_CAP + 1, false);
    check_doc(text_slice(deep_buf, len), KEEL_JSON_DEPTH_CAP, KEEL_ERR_TOO_LARGE,
              KEEL_JSON_TOO_DEEP, KEEL_JSON_DEPTH_CAP, __LINE__);

    keel_json_error e = { 7, KEEL_JSON_BAD_UTF8 };
    assert_int_equal(keel_json_validate(KEEL_STR("[]"), KEEL_JSON_DEPTH_CAP + 1, &e),
                     KEEL_ERR_INVALID_ARG);
    keel_json_tokenizer t;
    assert_int_equal(keel_json_tokenizer_init(&t, KEEL_STR("[]"), KEEL_JSON_DEPTH_CAP + 1),
                     KEEL_ERR_INVALID_ARG);
}

static void test_validate_mixed_nesting_across_stack_words(void **state)
{
    (void)state;
    /* 300 levels alternate arrays and objects, so the one-bit-per-level
     * stack is read back across several 64-bit words. */
    size_t len = nest(deep_buf, sizeof deep_buf, 300, true);
    check_doc(text_slice(deep_buf, len), 300, KEEL_OK, KEEL_JSON_OK, 0, __LINE__);
    check_doc(text_slice(deep_buf, len), 299, KEEL_ERR_TOO_LARGE, KEEL_JSON_TOO_DEEP,
              (size_t)(strrchr(deep_buf, '{') - deep_buf), __LINE__);
    /* swap the close at depth 70 (an object) for a ']' */
    size_t closes = len - 300;
    size_t at = closes + (300 - 70);
    assert_int_equal(deep_buf[at], '}');
    deep_buf[at] = ']';
    check_doc(text_slice(deep_buf, len), 300, KEEL_ERR_PARSE, KEEL_JSON_UNEXPECTED_BYTE, at,
              __LINE__);
}

/* ---- arguments ----------------------------------------------------------- */

static void test_invalid_arguments_are_refused(void **state)
{
    (void)state;
    keel_slice bad = { NULL, 3 };
    keel_json_error e = { 7, KEEL_JSON_BAD_UTF8 };
    assert_int_equal(keel_json_validate(bad, 0, &e), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_validate(KEEL_STR("[1]"), 0, NULL), KEEL_OK);
    assert_int_equal(keel_json_validate(KEEL_STR("[1"), 0, NULL), KEEL_ERR_INCOMPLETE);

    keel_json_tokenizer t;
    keel_json_token tok;
    assert_int_equal(keel_json_tokenizer_init(NULL, KEEL_STR("1"), 0), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_tokenizer_init(&t, bad, 0), KEEL_ERR_INVALID_ARG);
    /* a slice wrapping the address space fails keel_slice_valid too */
    keel_slice wrap = (keel_slice){ (const uint8_t *)(UINTPTR_MAX - 15u), 100 };
    assert_int_equal(keel_json_validate(wrap, 0, &e), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_tokenizer_init(&t, wrap, 0), KEEL_ERR_INVALID_ARG);
    keel_json_doc wrapped_doc;
    assert_int_equal(keel_json_parse(wrap, 0, &wrapped_doc, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_tokenizer_init(&t, KEEL_STR("1"), 0), KEEL_OK);
    assert_int_equal(keel_json_next(NULL, &tok), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_next(&t, NULL), KEEL_ERR_INVALID_ARG);
    keel_json_tokenizer broken = t;
    broken.pos = 2;
    assert_int_equal(keel_json_next(&broken, &tok), KEEL_ERR_INVALID_ARG);
    broken = t;
    broken.depth = broken.max_depth + 1;
    assert_int_equal(keel_json_next(&broken, &tok), KEEL_ERR_INVALID_ARG);
    broken = t;
    broken.state = 99;
    assert_int_equal(keel_json_next(&broken, &tok), KEEL_ERR_INVALID_ARG);

    keel_json_doc d;
    assert_int_equal(keel_json_parse(KEEL_STR("1"), 0, NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_parse(bad, 0, &d, NULL), KEEL_ERR_INVALID_ARG);
}

static void test_reason_strings_are_distinct_and_total(void **state)
{
    (void)state;
    for (int i = 0; i < KEEL_JSON_REASON_COUNT; i++) {
        const char *a = keel_json_reason_str((keel_json_reason)i);
        assert_non_null(a);
        assert_true(strlen(a) > 0);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(a, keel_json_reason_str((keel_json_reason)j));
        }
    }
    assert_string_equal(keel_json_reason_str(KEEL_JSON_REASON_COUNT), "unknown JSON error");
    assert_string_equal(keel_json_reason_str((keel_json_reason)-1), "unknown JSON error");
}

/* ---- truncation ---------------------------------------------------------- */

static const char *const sample_docs[] = {
    ("{\"a\": [1, -2.5e+3, \"x\\u00e9\\ud83d\\ude00\"], \"b\": {\"c\": true, \"d\": false},"
     " \"e\": null, \"f\": \"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\", \"g\": []}"),
    "[0, 10, -0.0, 1E2, \"\\\"\\\\\\/\\b\\f\\n\\r\\t\", [[]], {}]",
    "  [ \"\\uDBFF\\uDFFF\" ,\t{ \"k\" :\n[ true ] } ]  ",
};

static void test_every_truncated_prefix_is_incomplete(void **state)
{
    (void)state;
    for (size_t d = 0; d < sizeof sample_docs / sizeof sample_docs[0]; d++) {
        const char *doc = sample_docs[d];
        size_t len = strlen(doc);
        check_doc(text_slice(doc, len), 0, KEEL_OK, KEEL_JSON_OK, 0, __LINE__);
        size_t last = len;
        while (last > 0 && doc[last - 1] == ' ') {
            last--;
        }
        for (size_t k = 0; k < last; k++) {
            check_doc(text_slice(doc, k), 0, KEEL_ERR_INCOMPLETE, KEEL_JSON_UNEXPECTED_END, k,
                      __LINE__);
        }
    }
}

/* ---- tokenizer ----------------------------------------------------------- */

typedef struct want_tok {
    keel_json_kind kind;
    const char *raw;
    size_t offset;
    uint32_t depth;
} want_tok;

static void test_tokenizer_yields_kinds_slices_offsets_and_depths(void **state)
{
    (void)state;
    /*                  0         1         2         3         4
     *                  0123456789012345678901234567890123456789012 */
    const char *doc = "{\"a\": [1, \"x\\n\", true, null, {}], \"b\": false} ";
    const want_tok want[] = {
        { KEEL_JSON_OBJECT_BEGIN, "{", 0, 0 },  { KEEL_JSON_KEY, "\"a\"", 1, 1 },
        { KEEL_JSON_ARRAY_BEGIN, "[", 6, 1 },   { KEEL_JSON_NUMBER, "1", 7, 2 },
        { KEEL_JSON_STRING, "\"x\\n\"", 10, 2 }, { KEEL_JSON_TRUE, "true", 17, 2 },
        { KEEL_JSON_NULL, "null", 23, 2 },      { KEEL_JSON_OBJECT_BEGIN, "{", 29, 2 },
        { KEEL_JSON_OBJECT_END, "}", 30, 2 },   { KEEL_JSON_ARRAY_END, "]", 31, 1 },
        { KEEL_JSON_KEY, "\"b\"", 34, 1 },      { KEEL_JSON_FALSE, "false", 39, 1 },
        { KEEL_JSON_OBJECT_END, "}", 44, 0 },
    };
    keel_json_tokenizer t;
    keel_json_token tok;
    keel_slice s = keel_slice_cstr(doc);
    assert_int_equal(keel_json_tokenizer_init(&t, s, 0), KEEL_OK);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
        assert_int_equal(tok.kind, want[i].kind);
        assert_int_equal(tok.offset, want[i].offset);
        assert_int_equal(tok.depth, want[i].depth);
        assert_int_equal(tok.raw.len, strlen(want[i].raw));
        assert_ptr_equal(tok.raw.ptr, s.ptr + tok.offset);
        assert_memory_equal(tok.raw.ptr, want[i].raw, tok.raw.len);
    }
    for (int again = 0; again < 3; again++) {
        assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
        assert_int_equal(tok.kind, KEEL_JSON_END);
        assert_int_equal(tok.raw.len, 0);
        assert_int_equal(tok.depth, 0);
    }
}

static void test_tokenizer_top_level_scalar_then_end(void **state)
{
    (void)state;
    keel_json_tokenizer t;
    keel_json_token tok;
    assert_int_equal(keel_json_tokenizer_init(&t, KEEL_STR("  -42.5e1\n"), 0), KEEL_OK);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
    assert_int_equal(tok.kind, KEEL_JSON_NUMBER);
    assert_int_equal(tok.offset, 2);
    assert_int_equal(tok.raw.len, 7);
    assert_memory_equal(tok.raw.ptr, "-42.5e1", 7);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
    assert_int_equal(tok.kind, KEEL_JSON_END);
    assert_int_equal(tok.offset, 10);

    assert_int_equal(keel_json_tokenizer_init(&t, keel_slice_empty(), 0), KEEL_OK);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_ERR_INCOMPLETE);
    assert_int_equal(t.err.reason, KEEL_JSON_UNEXPECTED_END);
    assert_int_equal(t.err.offset, 0);
}

static void test_tokenizer_errors_are_sticky_after_valid_tokens(void **state)
{
    (void)state;
    keel_json_tokenizer t;
    keel_json_token tok;
    assert_int_equal(keel_json_tokenizer_init(&t, KEEL_STR("[1, 2, x]"), 0), KEEL_OK);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
    assert_int_equal(tok.kind, KEEL_JSON_ARRAY_BEGIN);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
    assert_int_equal(tok.kind, KEEL_JSON_NUMBER);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
    assert_int_equal(tok.kind, KEEL_JSON_NUMBER);
    assert_int_equal(tok.offset, 4);
    for (int again = 0; again < 3; again++) {
        tok.kind = KEEL_JSON_END;
        assert_int_equal(keel_json_next(&t, &tok), KEEL_ERR_PARSE);
        assert_int_equal(t.err.reason, KEEL_JSON_UNEXPECTED_BYTE);
        assert_int_equal(t.err.offset, 7);
        assert_int_equal(tok.kind, KEEL_JSON_END); /* not written */
    }

    assert_int_equal(keel_json_tokenizer_init(&t, KEEL_STR("[[[1]]]"), 2), KEEL_OK);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
    assert_int_equal(tok.depth, 1);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_ERR_TOO_LARGE);
    assert_int_equal(t.err.reason, KEEL_JSON_TOO_DEEP);
    assert_int_equal(t.err.offset, 2);

    assert_int_equal(keel_json_tokenizer_init(&t, KEEL_STR("{\"a\":1}  }"), 0), KEEL_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(keel_json_next(&t, &tok), KEEL_OK);
    }
    assert_int_equal(tok.kind, KEEL_JSON_OBJECT_END);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_ERR_PARSE);
    assert_int_equal(keel_json_next(&t, &tok), KEEL_ERR_PARSE);
    assert_int_equal(t.err.reason, KEEL_JSON_TRAILING_DATA);
    assert_int_equal(t.err.offset, 9);
}

/* ---- documents and lookup ------------------------------------------------ */

static const char lookup_doc[] =
    " {\"data\": {\"items\": [{\"name\": \"a\"}, {\"name\": \"b\"}, 3,"
    " {\"name\": \"d\\u00e9\", \"tags\": [\"x\", [10, 20]]}]},"
    " \"k\\u0065y\": 1, \"dup\": \"first\", \"dup\": \"second\", \"e\\\"q\": true,"
    " \"caf\\u00e9\": 2, \"\": 0, \"n\": null} ";

static keel_json_doc parse_ok(const char *text)
{
    keel_json_doc d;
    keel_json_error e = { 1, KEEL_JSON_BAD_UTF8 };
    assert_int_equal(keel_json_parse(keel_slice_cstr(text), 0, &d, &e), KEEL_OK);
    assert_int_equal(e.reason, KEEL_JSON_OK);
    return d;
}

/* lookup_doc repeats "dup": it parses with repeated keys allowed. */
static keel_json_doc parse_dups_ok(const char *text)
{
    keel_json_doc d;
    keel_json_error e = { 1, KEEL_JSON_BAD_UTF8 };
    keel_json_parse_options o = { 0, true };
    assert_int_equal(keel_json_parse_opts(keel_slice_cstr(text), &o, &d, &e), KEEL_OK);
    assert_int_equal(e.reason, KEEL_JSON_OK);
    return d;
}

static void assert_value(const keel_json_value *v, keel_json_type type, const char *raw)
{
    assert_int_equal(v->type, type);
    assert_int_equal(v->raw.len, strlen(raw));
    assert_memory_equal(v->raw.ptr, raw, v->raw.len);
}

static keel_result find(const keel_json_doc *d, const char *path, keel_json_value *out)
{
    return keel_json_find(&d->root, keel_slice_cstr(path), out);
}

static void test_parse_wraps_root_without_whitespace(void **state)
{
    (void)state;
    keel_json_doc d = parse_dups_ok(lookup_doc);
    assert_int_equal(d.root.type, KEEL_JSON_T_OBJECT);
    assert_int_equal(d.root.offset, 1);
    assert_int_equal(d.root.raw.len, strlen(lookup_doc) - 2);
    assert_int_equal(d.root.raw.ptr[0], '{');
    assert_int_equal(d.max_depth, KEEL_JSON_DEFAULT_DEPTH);

    d = parse_ok("\t\"s\" \n");
    assert_value(&d.root, KEEL_JSON_T_STRING, "\"s\"");
    d = parse_ok("-1");
    assert_value(&d.root, KEEL_JSON_T_NUMBER, "-1");
    d = parse_ok("false");
    assert_value(&d.root, KEEL_JSON_T_BOOL, "false");
    d = parse_ok("null");
    assert_value(&d.root, KEEL_JSON_T_NULL, "null");

    keel_json_doc untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    keel_json_doc before = untouched;
    keel_json_error e = { 0, KEEL_JSON_OK };
    assert_int_equal(keel_json_parse(KEEL_STR("[1,]"), 0, &untouched, &e), KEEL_ERR_PARSE);
    assert_int_equal(e.reason, KEEL_JSON_UNEXPECTED_BYTE);
    assert_int_equal(e.offset, 3);
    assert_memory_equal(&untouched, &before, sizeof before);
}

static void test_find_follows_nested_paths(void **state)
{
    (void)state;
    keel_json_doc d = parse_dups_ok(lookup_doc);
    keel_json_value v;
    assert_int_equal(find(&d, ".data.items[1].name", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_STRING, "\"b\"");
    assert_ptr_equal(v.raw.ptr, (const uint8_t *)lookup_doc + v.offset);
    assert_int_equal(find(&d, ".data.items[3].name", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_STRING, "\"d\\u00e9\"");
    assert_int_equal(find(&d, ".data.items[3].tags[1][0]", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NUMBER, "10");
    assert_int_equal(find(&d, ".data.items[2]", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NUMBER, "3");
    assert_int_equal(find(&d, ".data.items[0]", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_OBJECT, "{\"name\": \"a\"}");
    assert_int_equal(find(&d, ".n", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NULL, "null");

    /* a path from an inner value: offsets stay document offsets */
    keel_json_value items;
    assert_int_equal(find(&d, ".data.items", &items), KEEL_OK);
    assert_int_equal(keel_json_find(&items, KEEL_STR("[3].tags[1]"), &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_ARRAY, "[10, 20]");
    assert_ptr_equal(v.raw.ptr, (const uint8_t *)lookup_doc + v.offset);

    /* the empty path names the value itself */
    assert_int_equal(find(&d, "", &v), KEEL_OK);
    assert_int_equal(v.offset, d.root.offset);
    assert_int_equal(v.raw.len, d.root.raw.len);

    /* same object as in and out */
    v = items;
    assert_int_equal(keel_json_find(&v, KEEL_STR("[1]"), &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_OBJECT, "{\"name\": \"b\"}");
}

static void test_find_matches_decoded_keys_and_first_duplicate(void **state)
{
    (void)state;
    keel_json_doc d = parse_dups_ok(lookup_doc);
    keel_json_value v;
    assert_int_equal(find(&d, ".dup", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_STRING, "\"first\"");
    assert_int_equal(find(&d, ".key", &v), KEEL_OK); /* "k\u0065y" */
    assert_value(&v, KEEL_JSON_T_NUMBER, "1");
    assert_int_equal(find(&d, ".k\\u0065y", &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(find(&d, ".e\"q", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_BOOL, "true");
    assert_int_equal(find(&d, ".caf\xC3\xA9", &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NUMBER, "2");
    assert_int_equal(find(&d, ".caf", &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(find(&d, ".cafe", &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(find(&d, ".DATA", &v), KEEL_ERR_NOT_FOUND);
}

/* keel_json_member takes the key as a slice: any bytes, '.' and '[' too,
 * which a path cannot name; keel_json_element takes the index as a number. */
static void test_member_and_element_steps(void **state)
{
    (void)state;
    static const char text[] = "{\"a.b\": 1, \"c[0]\": [5, 6, {\"\": \"empty\"}], \"a\": {\"b\": 2},"
                               " \"n\\u0000ul\": 3}";
    keel_json_doc d = parse_ok(text);
    keel_json_value v;
    keel_json_value arr;
    assert_int_equal(keel_json_member(&d.root, KEEL_STR("a.b"), &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NUMBER, "1");
    assert_int_equal(find(&d, ".a.b", &v), KEEL_OK); /* the path means a, then b */
    assert_value(&v, KEEL_JSON_T_NUMBER, "2");
    assert_int_equal(keel_json_member(&d.root, KEEL_STR("c[0]"), &arr), KEEL_OK);
    assert_ptr_equal(arr.raw.ptr, (const uint8_t *)text + arr.offset);
    assert_int_equal(keel_json_element(&arr, 1, &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NUMBER, "6");
    assert_ptr_equal(v.raw.ptr, (const uint8_t *)text + v.offset);
    assert_int_equal(keel_json_element(&arr, 2, &v), KEEL_OK);
    assert_int_equal(keel_json_member(&v, KEEL_STR(""), &v), KEEL_OK); /* the empty key */
    assert_value(&v, KEEL_JSON_T_STRING, "\"empty\"");
    keel_slice nul_key = { (const uint8_t *)"n\0ul", 4 };
    assert_int_equal(keel_json_member(&d.root, nul_key, &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NUMBER, "3");

    memset(&v, 0x5a, sizeof v);
    keel_json_value before = v;
    assert_int_equal(keel_json_element(&arr, 3, &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_json_element(&arr, SIZE_MAX, &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_json_member(&d.root, KEEL_STR("a.c"), &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_json_member(&arr, KEEL_STR("a"), &v), KEEL_ERR_NOT_FOUND); /* array */
    assert_int_equal(keel_json_element(&d.root, 0, &v), KEEL_ERR_NOT_FOUND);        /* object */
    assert_memory_equal(&v, &before, sizeof v);
    assert_int_equal(keel_json_member(NULL, KEEL_STR("a"), &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_member(&d.root, KEEL_STR("a"), NULL), KEEL_ERR_INVALID_ARG);
    keel_slice broken = { NULL, 1 };
    assert_int_equal(keel_json_member(&d.root, broken, &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_element(NULL, 0, &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_element(&arr, 0, NULL), KEEL_ERR_INVALID_ARG);
}

/* Repeated keys: refused by validate and parse, at the repeat, comparing
 * decoded keys, per object; allowed by the option, the first one found. */
static void test_duplicate_keys_are_refused_unless_allowed(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        size_t at; /* SIZE_MAX: no repeat */
    } cases[] = {
        { "{\"a\":1,\"a\":2}", 7 },
        { "{\"a\":1,\"b\":2,\"\\u0061\":3}", 13 },          /* escaped, same text */
        { "{\"\\u00e9\":1,\"\xC3\xA9\":2}", 12 },           /* escape vs UTF-8 */
        { "{\"\\ud83d\\ude00\":1,\"\xF0\x9F\x98\x80\":2}", 18 },
        { "{\"\\/\":1,\"/\":2}", 8 },
        { "{\"\":1,\"\":2}", 6 },
        { "[{\"x\":{\"y\":1,\"y\":2}}]", 13 },              /* nested */
        { "{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}", SIZE_MAX },
        { "{\"a\":\"a\",\"b\":\"a\"}", SIZE_MAX },            /* values are no keys */
        { "{\"a\":\"{\\\"a\\\":1,\\\"a\\\":2}\"}", SIZE_MAX }, /* braces in a string */
        { "{\"ab\":1,\"a\":2,\"a\\u0000\":3,\"A\":4}", SIZE_MAX },
        { "{\"a\":[1,{\"b\":2}],\"a\":null}", 17 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_slice doc = keel_slice_cstr(cases[i].doc);
        keel_json_error e = { 99, KEEL_JSON_OK };
        keel_json_doc d;
        keel_result want = cases[i].at == SIZE_MAX ? KEEL_OK : KEEL_ERR_PARSE;
        if (keel_json_validate(doc, 0, &e) != want ||
            (want != KEEL_OK && (e.reason != KEEL_JSON_DUPLICATE_KEY || e.offset != cases[i].at))) {
            fail_msg("case %zu (%s): reason %d at %zu", i, cases[i].doc, (int)e.reason, e.offset);
        }
        assert_int_equal(keel_json_parse(doc, 0, &d, &e), want);
        keel_json_parse_options o = { 0, true };
        assert_int_equal(keel_json_parse_opts(doc, &o, &d, &e), KEEL_OK);
        assert_int_equal(keel_json_parse_opts(doc, NULL, &d, &e), want);
    }
    assert_string_equal(keel_json_reason_str(KEEL_JSON_DUPLICATE_KEY), "an object repeats a key");

    /* allowed: lookups answer the first */
    keel_json_parse_options o = { 0, true };
    keel_json_doc d;
    keel_json_value v;
    assert_int_equal(keel_json_parse_opts(KEEL_STR("{\"a\":1,\"a\":2}"), &o, &d, NULL), KEEL_OK);
    assert_int_equal(keel_json_member(&d.root, KEEL_STR("a"), &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NUMBER, "1");
    assert_int_equal(keel_json_find(&d.root, KEEL_STR(".a"), &v), KEEL_OK);
    assert_value(&v, KEEL_JSON_T_NUMBER, "1");
    /* the depth option still holds */
    o.max_depth = 1;
    assert_int_equal(keel_json_parse_opts(KEEL_STR("[[1]]"), &o, &d, NULL), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_json_parse_opts(KEEL_STR("{}"), &o, NULL, NULL), KEEL_ERR_INVALID_ARG);
}

/* Objects past the 256 keys the pass remembers, checked in sorted blocks
 * of 256: a repeat among the remembered keys, inside a later block, across
 * blocks (either order), at the boundaries, and none. */
static void test_duplicate_keys_in_large_objects(void **state)
{
    (void)state;
    enum { KEYS = 1500 };
    static char text[KEYS * 16 + 64];
    static const struct {
        size_t a, b; /* key b is written as key a's text; a == b: no repeat */
    } cases[] = { { 0, 0 },      { 100, 200 },  { 3, 400 },     { 600, 900 },   { 10, 1400 },
                  { 1499, 1498 }, { 255, 256 }, { 511, 512 }, { 256, 257 } };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len = 0;
        size_t at = SIZE_MAX; /* the later key of the two */
        size_t later = cases[c].a > cases[c].b ? cases[c].a : cases[c].b;
        text[len++] = '{';
        for (size_t k = 0; k < KEYS; k++) {
            size_t name = k == cases[c].b ? cases[c].a : k;
            if (k == later && cases[c].a != cases[c].b) {
                at = len + (k > 0 ? 1 : 0);
            }
            /* keys in a scrambled order, so that the sort has work to do */
            len += (size_t)snprintf(text + len, sizeof text - len, "%s\"k%zu\":%zu",
                                    k > 0 ? "," : "", (name * 7919u) % 100003u, k);
        }
        text[len++] = '}';
        keel_json_error e = { 0, KEEL_JSON_OK };
        keel_result r = keel_json_validate((keel_slice){ (const uint8_t *)text, len }, 0, &e);
        if (at == SIZE_MAX) {
            assert_int_equal(r, KEEL_OK);
            continue;
        }
        assert_int_equal(r, KEEL_ERR_PARSE);
        assert_int_equal(e.reason, KEEL_JSON_DUPLICATE_KEY);
        assert_int_equal(e.offset, at);
    }
}

/* An object inside one whose keys filled what the pass remembers: the
 * inner object is checked whole when it closes. */
static void test_duplicate_keys_in_an_object_nested_in_a_large_one(void **state)
{
    (void)state;
    static char text[400 * 16 + 128];
    for (int repeat = 0; repeat < 2; repeat++) {
        size_t len = 0;
        text[len++] = '{';
        for (size_t k = 0; k < 300; k++) {
            len += (size_t)snprintf(text + len, sizeof text - len, "\"k%zu\":1,", k);
        }
        size_t at = len + 12; /* the inner object's second key */
        len += (size_t)snprintf(text + len, sizeof text - len, "\"in\":{\"x\":1,\"%s\":2}}",
                                repeat ? "x" : "y");
        keel_json_error e = { 0, KEEL_JSON_OK };
        keel_result r = keel_json_validate((keel_slice){ (const uint8_t *)text, len }, 0, &e);
        if (!repeat) {
            assert_int_equal(r, KEEL_OK);
            continue;
        }
        assert_int_equal(r, KEEL_ERR_PARSE);
        assert_int_equal(e.reason, KEEL_JSON_DUPLICATE_KEY);
        assert_int_equal(e.offset, at);
        assert_int_equal(text[at], '"');
    }
}

/* FNV-1a, as json_dups.c hashes keys (to build keys that collide). */
static uint32_t fnv1a_from(uint32_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    }
    return h;
}

typedef struct hashed {
    uint32_t h;
    uint32_t i;
} hashed;

static int hashed_cmp(const void *a, const void *b)
{
    const hashed *x = a;
    const hashed *y = b;
    return x->h < y->h ? -1 : x->h > y->h ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* Two different 6-letter blocks that leave FNV-1a in the same state from
 * state `from` (a birthday search). */
static void colliding_blocks(uint32_t from, char a[7], char b[7])
{
    enum { N = 300000 };
    hashed *t = malloc(N * sizeof *t);
    assert_non_null(t);
    char blk[7];
    for (uint32_t i = 0; i < N; i++) {
        uint32_t v = i * 2654435761u;
        for (int k = 0; k < 6; k++) {
            blk[k] = (char)('a' + v % 26u);
            v /= 26u;
        }
        t[i].h = fnv1a_from(from, blk, 6);
        t[i].i = i;
    }
    qsort(t, N, sizeof *t, hashed_cmp);
    for (uint32_t k = 1; k < N; k++) {
        if (t[k].h != t[k - 1].h) {
            continue;
        }
        uint32_t va = t[k - 1].i * 2654435761u;
        uint32_t vb = t[k].i * 2654435761u;
        for (int j = 0; j < 6; j++) {
            a[j] = (char)('a' + va % 26u);
            b[j] = (char)('a' + vb % 26u);
            va /= 26u;
            vb /= 26u;
        }
        a[6] = b[6] = 0;
        if (strcmp(a, b) != 0) {
            free(t);
            return;
        }
    }
    free(t);
    fail_msg("no FNV-1a collision among %d blocks", (int)N);
}

/* 64 different keys with one FNV-1a hash (six colliding block pairs,
 * chained): more hash matches of different keys than the check pays text
 * comparisons for, so it goes over to sorting; its answers stay exact. */
static void test_duplicate_keys_made_to_collide(void **state)
{
    (void)state;
    char a[6][7];
    char b[6][7];
    uint32_t h = 2166136261u;
    for (int m = 0; m < 6; m++) {
        colliding_blocks(h, a[m], b[m]);
        assert_int_equal(fnv1a_from(h, a[m], 6), fnv1a_from(h, b[m], 6));
        h = fnv1a_from(h, a[m], 6);
    }
    static char text[64 * 48 + 256];
    for (int variant = 0; variant < 3; variant++) {
        size_t len = 0;
        size_t at = SIZE_MAX;
        len += (size_t)snprintf(text + len, sizeof text - len, "[{");
        for (unsigned k = 0; k < 64; k++) {
            char key[40] = "";
            for (int m = 0; m < 6; m++) {
                strcat(key, (k >> m) & 1u ? b[m] : a[m]);
            }
            assert_int_equal(fnv1a_from(2166136261u, key, 36), h); /* all 64 collide */
            if (k > 0) {
                text[len++] = ',';
            }
            len += (size_t)snprintf(text + len, sizeof text - len, "\"%s\":%u", key, k);
            if (variant == 1 && k == 63) { /* repeat key 5 at the end */
                at = len + 1;
                char again[40] = "";
                for (int m = 0; m < 6; m++) {
                    strcat(again, (5u >> m) & 1u ? b[m] : a[m]);
                }
                len += (size_t)snprintf(text + len, sizeof text - len, ",\"%s\":0", again);
            }
        }
        len += (size_t)snprintf(text + len, sizeof text - len, "}");
        if (variant == 2) { /* a later object, checked by sorting, repeats a key */
            at = len + 14;
            len += (size_t)snprintf(text + len, sizeof text - len, ",{\"x\":1,\"y\":2,\"x\":3}");
        }
        len += (size_t)snprintf(text + len, sizeof text - len, "]");
        keel_json_error e = { 0, KEEL_JSON_OK };
        keel_result r = keel_json_validate((keel_slice){ (const uint8_t *)text, len }, 0, &e);
        if (variant == 0) {
            assert_int_equal(r, KEEL_OK);
            continue;
        }
        assert_int_equal(r, KEEL_ERR_PARSE);
        assert_int_equal(e.reason, KEEL_JSON_DUPLICATE_KEY);
        assert_int_equal(e.offset, at);
    }
}

static void test_find_missing_steps_are_not_found(void **state)
{
    (void)state;
    keel_json_doc d = parse_dups_ok(lookup_doc);
    keel_json_value v;
    memset(&v, 0x5a, sizeof v);
    keel_json_value before = v;
    assert_int_equal(find(&d, ".nope", &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(find(&d, ".data.items[4]", &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(find(&d, ".data.items[99999999999999999999999999]", &v),
                     KEEL_ERR_NOT_FOUND);
    assert_int_equal(find(&d, "[0]", &v), KEEL_ERR_NOT_FOUND);             /* object */
    assert_int_equal(find(&d, ".data.items.name", &v), KEEL_ERR_NOT_FOUND); /* array */
    assert_int_equal(find(&d, ".data.items[2].x", &v), KEEL_ERR_NOT_FOUND); /* number */
    assert_int_equal(find(&d, ".n[0]", &v), KEEL_ERR_NOT_FOUND);
    assert_memory_equal(&v, &before, sizeof v);

    keel_json_doc arr = parse_ok("[]");
    assert_int_equal(find(&arr, "[0]", &v), KEEL_ERR_NOT_FOUND);
    keel_json_doc obj = parse_ok("{}");
    assert_int_equal(find(&obj, ".a", &v), KEEL_ERR_NOT_FOUND);
}

static void test_find_malformed_paths_are_parse_errors(void **state)
{
    (void)state;
    keel_json_doc d = parse_dups_ok(lookup_doc);
    keel_json_value v;
    const char *bad[] = { "[", "[x]", "[01]", "[]", "[1", "[-1]", "[1 ]", "..data", ".",
                          ".data.", "data", " .data", ".data[0]]", "[0]x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (find(&d, bad[i], &v) != KEEL_ERR_PARSE) {
            fail_msg("path '%s' was not refused as malformed", bad[i]);
        }
    }
    /* malformed after a step that does not exist: still PARSE */
    assert_int_equal(find(&d, ".nope[", &v), KEEL_ERR_PARSE);
    assert_int_equal(find(&d, "[0]", &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(find(&d, ".data.items[0]", &v), KEEL_OK);
    keel_slice bad_path = { NULL, 2 };
    assert_int_equal(keel_json_find(&d.root, bad_path, &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_find(NULL, KEEL_STR(""), &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_find(&d.root, KEEL_STR(""), NULL), KEEL_ERR_INVALID_ARG);
}

static void test_next_child_iterates_arrays_and_objects(void **state)
{
    (void)state;
    keel_json_doc d = parse_ok("[ 1 , \"two\" ,[3], {\"four\": 4} ]");
    const char *elems[] = { "1", "\"two\"", "[3]", "{\"four\": 4}" };
    keel_json_value v;
    keel_slice key = KEEL_STR("sentinel");
    size_t pos = 0;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(keel_json_next_child(&d.root, &pos, &key, &v), KEEL_OK);
        assert_int_equal(v.raw.len, strlen(elems[i]));
        assert_memory_equal(v.raw.ptr, elems[i], v.raw.len);
        assert_int_equal(key.len, 0);
    }
    size_t end = pos;
    assert_int_equal(keel_json_next_child(&d.root, &pos, &key, &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_json_next_child(&d.root, &pos, NULL, &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(pos, end);

    d = parse_ok("{\"a\" : 1, \"b\\n\":{\"c\":[]}}");
    pos = 0;
    assert_int_equal(keel_json_next_child(&d.root, &pos, &key, &v), KEEL_OK);
    assert_int_equal(key.len, 3);
    assert_memory_equal(key.ptr, "\"a\"", 3);
    assert_value(&v, KEEL_JSON_T_NUMBER, "1");
    assert_int_equal(keel_json_next_child(&d.root, &pos, &key, &v), KEEL_OK);
    assert_int_equal(key.len, 5);
    assert_memory_equal(key.ptr, "\"b\\n\"", 5);
    assert_value(&v, KEEL_JSON_T_OBJECT, "{\"c\":[]}");
    assert_int_equal(keel_json_next_child(&d.root, &pos, NULL, &v), KEEL_ERR_NOT_FOUND);

    d = parse_ok(" [ ] ");
    pos = 0;
    assert_int_equal(keel_json_next_child(&d.root, &pos, NULL, &v), KEEL_ERR_NOT_FOUND);
    assert_int_equal(pos, 0);
    d = parse_ok("{ }");
    assert_int_equal(keel_json_next_child(&d.root, &pos, NULL, &v), KEEL_ERR_NOT_FOUND);

    d = parse_ok("\"str\"");
    assert_int_equal(keel_json_next_child(&d.root, &pos, NULL, &v), KEEL_ERR_INVALID_ARG);
    d = parse_ok("[1]");
    assert_int_equal(keel_json_next_child(NULL, &pos, NULL, &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_next_child(&d.root, NULL, NULL, &v), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_next_child(&d.root, &pos, NULL, NULL), KEEL_ERR_INVALID_ARG);
}

/* ---- building blocks (json_internal.h) ----------------------------------- */

static void test_utf8_decode_reports_code_points_and_maximal_subparts(void **state)
{
    (void)state;
    kjson_char c;
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xF0\x9F\x98\x80"), 0, &c), KEEL_OK);
    assert_int_equal(c.cp, 0x1F600);
    assert_int_equal(c.len, 4);
    assert_int_equal(kjson_utf8_decode(KEEL_STR("x\xE2\x82\xAC"), 1, &c), KEEL_OK);
    assert_int_equal(c.cp, 0x20AC);
    assert_int_equal(c.len, 3);
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xDF\xBF"), 0, &c), KEEL_OK);
    assert_int_equal(c.cp, 0x7FF);
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xF4\x8F\xBF\xBF"), 0, &c), KEEL_OK);
    assert_int_equal(c.cp, 0x10FFFF);
    /* maximal subparts (Unicode 3.9, U+FFFD substitution) */
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xE2\x82("), 0, &c), KEEL_ERR_PARSE);
    assert_int_equal(c.len, 2);
    assert_int_equal(c.why, KEEL_JSON_BAD_UTF8);
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xE0\x80\x80"), 0, &c), KEEL_ERR_PARSE);
    assert_int_equal(c.len, 1);
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xED\xA0\x80"), 0, &c), KEEL_ERR_PARSE);
    assert_int_equal(c.len, 1);
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xF1\x80\x80("), 0, &c), KEEL_ERR_PARSE);
    assert_int_equal(c.len, 3);
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xFF"), 0, &c), KEEL_ERR_PARSE);
    assert_int_equal(c.len, 1);
    assert_int_equal(kjson_utf8_decode(KEEL_STR("\xF0\x9F\x98"), 0, &c), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.len, 3);
    assert_int_equal(c.why, KEEL_JSON_UNEXPECTED_END);
}

static void test_escape_decode_and_hex4(void **state)
{
    (void)state;
    kjson_char c;
    uint32_t v = 7;
    assert_int_equal(kjson_hex4(KEEL_STR("aB09"), 0, &v), KEEL_OK);
    assert_int_equal(v, 0xAB09);
    assert_int_equal(kjson_hex4(KEEL_STR("12g4"), 0, &v), KEEL_ERR_PARSE);
    assert_int_equal(kjson_hex4(KEEL_STR("123"), 0, &v), KEEL_ERR_INCOMPLETE);
    assert_int_equal(kjson_hex4(KEEL_STR("1g"), 0, &v), KEEL_ERR_PARSE);
    assert_int_equal(v, 0xAB09);
    assert_int_equal(kjson_escape_decode(KEEL_STR("\\n"), 0, &c), KEEL_OK);
    assert_int_equal(c.cp, '\n');
    assert_int_equal(c.len, 2);
    assert_int_equal(kjson_escape_decode(KEEL_STR("\\u00e9"), 0, &c), KEEL_OK);
    assert_int_equal(c.cp, 0xE9);
    assert_int_equal(c.len, 6);
    assert_int_equal(kjson_escape_decode(KEEL_STR("\\uD83D\\uDE00"), 0, &c), KEEL_OK);
    assert_int_equal(c.cp, 0x1F600);
    assert_int_equal(c.len, 12);
    assert_int_equal(kjson_escape_decode(KEEL_STR("\\uDBFF\\uDFFF"), 0, &c), KEEL_OK);
    assert_int_equal(c.cp, 0x10FFFF);
    assert_int_equal(kjson_escape_decode(KEEL_STR("\\uDC00"), 0, &c), KEEL_ERR_PARSE);
    assert_int_equal(c.why, KEEL_JSON_BAD_SURROGATE);
    assert_int_equal(kjson_escape_decode(KEEL_STR("\\q"), 0, &c), KEEL_ERR_PARSE);
    assert_int_equal(c.why, KEEL_JSON_BAD_ESCAPE);
    assert_int_equal(kjson_escape_decode(KEEL_STR("\\uD83D\\u"), 0, &c), KEEL_ERR_INCOMPLETE);
    assert_int_equal(c.why, KEEL_JSON_UNEXPECTED_END);
}

static void test_utf8_encode_round_trips_and_is_all_or_nothing(void **state)
{
    (void)state;
    const uint32_t cps[] = { 0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000,
                             0x10FFFF };
    uint8_t storage[4];
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        keel_buf b;
        assert_int_equal(keel_buf_init(&b, storage, sizeof storage), KEEL_OK);
        assert_int_equal(kjson_utf8_encode(&b, cps[i]), KEEL_OK);
        kjson_char c;
        assert_int_equal(kjson_utf8_decode(keel_buf_slice(&b), 0, &c), KEEL_OK);
        assert_int_equal(c.cp, cps[i]);
        assert_int_equal(c.len, b.len);
    }
    keel_buf b;
    assert_int_equal(keel_buf_init(&b, storage, 3), KEEL_OK);
    assert_int_equal(kjson_utf8_encode(&b, 'a'), KEEL_OK);
    assert_int_equal(kjson_utf8_encode(&b, 0x20AC), KEEL_ERR_TOO_LARGE);
    assert_int_equal(b.len, 1);
    assert_int_equal(kjson_utf8_encode(&b, 0xD800), KEEL_ERR_INVALID_ARG);
    assert_int_equal(kjson_utf8_encode(&b, 0x110000), KEEL_ERR_INVALID_ARG);
    assert_int_equal(kjson_utf8_encode(NULL, 'a'), KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 1);
    uint8_t out[4] = { 0 };
    assert_int_equal(kjson_utf8_put(0xDFFF, out), 0);
}

static void test_str_eq_compares_decoded_text(void **state)
{
    (void)state;
    assert_true(kjson_str_eq(KEEL_STR("k\\u0065y"), KEEL_STR("key")));
    assert_true(kjson_str_eq(KEEL_STR("caf\\u00e9"), KEEL_STR("caf\xC3\xA9")));
    assert_true(kjson_str_eq(KEEL_STR("\\ud83d\\ude00!"), KEEL_STR("\xF0\x9F\x98\x80!")));
    assert_true(kjson_str_eq(KEEL_STR("a\\\"b\\\\"), KEEL_STR("a\"b\\")));
    assert_true(kjson_str_eq(keel_slice_empty(), keel_slice_empty()));
    assert_false(kjson_str_eq(KEEL_STR("caf\\u00e9"), KEEL_STR("caf\xC3")));
    assert_false(kjson_str_eq(KEEL_STR("ab"), KEEL_STR("abc")));
    assert_false(kjson_str_eq(KEEL_STR("abc"), KEEL_STR("ab")));
    assert_false(kjson_str_eq(KEEL_STR("\\x"), KEEL_STR("\\x")));
}

static void test_skip_value_stays_inside_the_slice(void **state)
{
    (void)state;
    size_t end = 0;
    assert_int_equal(kjson_skip_value(KEEL_STR("[1,[\"]\\\"\"],{}] x"), 0, &end), KEEL_OK);
    assert_int_equal(end, 14);
    assert_int_equal(kjson_skip_value(KEEL_STR("123,"), 0, &end), KEEL_OK);
    assert_int_equal(end, 3);
    assert_int_equal(kjson_skip_value(KEEL_STR("\"a\\\""), 0, &end), KEEL_ERR_PARSE);
    assert_int_equal(kjson_skip_value(KEEL_STR("[[]"), 0, &end), KEEL_ERR_PARSE);
    assert_int_equal(kjson_skip_value(KEEL_STR(","), 0, &end), KEEL_ERR_PARSE);
    assert_int_equal(kjson_skip_value(KEEL_STR("1"), 1, &end), KEEL_ERR_PARSE);
    assert_int_equal(kjson_skip_ws(KEEL_STR(" \t\r\n\v"), 0), 4);
}

/* Where a string starting at s[0] ends when its escapes are read from the
 * start (a backslash takes the next byte whatever it is): one past the
 * closing quote, or 0 when the bytes end first. */
static size_t string_end_by_reading(const uint8_t *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* The skip finds a string's closing quote by words and tells an escaped
 * quote by the backslashes before it: the same end as reading the escapes
 * from the start, for every string of up to 9 bytes over quote, backslash
 * and a letter, after 0..11 letters (so that the quotes fall at every
 * place in a word, and in the bytes after the last whole word). */
static void test_skip_string_agrees_with_reading_the_escapes(void **state)
{
    (void)state;
    static const uint8_t alphabet[3] = { 'a', '\\', '"' };
    uint8_t buf[1 + 11 + 9];
    for (size_t pad = 0; pad <= 11; pad++) {
        for (size_t len = 0; len <= 9; len++) {
            size_t combos = 1;
            for (size_t i = 0; i < len; i++) {
                combos *= 3;
            }
            for (size_t c = 0; c < combos; c++) {
                size_t n = 0;
                buf[n++] = '"';
                for (size_t i = 0; i < pad; i++) {
                    buf[n++] = 'a';
                }
                for (size_t i = 0, x = c; i < len; i++, x /= 3) {
                    buf[n++] = alphabet[x % 3];
                }
                keel_slice sl = { buf, n };
                size_t want = string_end_by_reading(buf, n);
                size_t end = 0;
                keel_result r = kjson_skip_value(sl, 0, &end);
                if (want == 0) {
                    assert_int_equal(r, KEEL_ERR_PARSE);
                } else {
                    assert_int_equal(r, KEEL_OK);
                    assert_int_equal(end, want);
                }
            }
        }
    }
}

/* The indentation after a line break is skipped by words: for every width
 * up to 24 and every place in it, a tab or CR there is still whitespace,
 * and any other byte there (a letter, a vertical tab, NUL, a byte from
 * 0x80) is refused at exactly that offset. */
static void test_indentation_is_whitespace_up_to_the_first_other_byte(void **state)
{
    (void)state;
    static const uint8_t ws[] = { '\t', '\r', '\n', ' ' };
    static const uint8_t bad[] = { 'x', 0x0b, 0x00, 0xa0 };
    uint8_t doc[64];
    for (size_t width = 1; width <= 24; width++) {
        for (size_t at = 0; at < width; at++) {
            for (size_t k = 0; k < sizeof ws + sizeof bad; k++) {
                size_t n = 0;
                doc[n++] = '[';
                doc[n++] = '\n';
                memset(doc + n, ' ', width);
                size_t off = n + at;
                n += width;
                doc[off] = k < sizeof ws ? ws[k] : bad[k - sizeof ws];
                doc[n++] = '1';
                doc[n++] = '\n';
                doc[n++] = ']';
                keel_slice sl = { doc, n };
                keel_json_error e;
                keel_result r = keel_json_validate(sl, 0, &e);
                if (k < sizeof ws) {
                    assert_int_equal(r, KEEL_OK);
                } else {
                    assert_int_equal(r, KEEL_ERR_PARSE);
                    assert_int_equal(e.offset, off);
                }
            }
        }
    }
}

/* Whether b[0..n) is well-formed UTF-8 (Unicode table 3-7), written out
 * here as the table states it, for the validator's string scan to agree
 * with. */
static bool utf8_table_3_7(const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = b[i];
        size_t need = 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c <= 0x7F) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2, lo = 0xA0;
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            need = 2;
        } else if (c == 0xED) {
            need = 2, hi = 0x9F;
        } else if (c == 0xF0) {
            need = 3, lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3, hi = 0x8F;
        } else {
            return false;
        }
        if (n - i - 1 < need || b[i + 1] < lo || b[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= need; k++) {
            if (b[i + k] < 0x80 || b[i + k] > 0xBF) {
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}

/* The validator's string scan takes the common two- and three-byte
 * sequences on a fast path and leaves the rest to kjson_utf8_decode: every
 * lead byte from 0x80 with every second byte, and third and fourth bytes
 * at and around the continuation range, gets table 3-7's answer, with the
 * string ending right after them and with more text after them. */
static void test_validate_utf8_agrees_with_table_3_7(void **state)
{
    (void)state;
    static const uint8_t more[] = { 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xE2 };
    uint8_t doc[16];
    for (int b0 = 0x80; b0 <= 0xFF; b0++) {
        for (int b1 = 0x00; b1 <= 0xFF; b1++) {
            for (size_t x = 0; x < sizeof more; x++) {
                for (size_t y = 0; y < sizeof more; y += 3) {
                    for (int tail = 0; tail < 2; tail++) {
                        uint8_t body[5] = { (uint8_t)b0, (uint8_t)b1, more[x], more[y], 'z' };
                        size_t blen = tail ? 5 : 4;
                        if (b1 == '"' || b1 == '\\') {
                            continue; /* the string would end or escape there */
                        }
                        size_t n = 0;
                        doc[n++] = '"';
                        memcpy(doc + n, body, blen);
                        n += blen;
                        doc[n++] = '"';
                        keel_slice sl = { doc, n };
                        keel_json_error e;
                        bool ok = keel_json_validate(sl, 0, &e) == KEEL_OK;
                        if (ok != utf8_table_3_7(body, blen)) {
                            fail_msg("%02x %02x %02x %02x (tail %d): validator says %d", b0, b1,
                                     more[x], more[y], tail, ok);
                        }
                    }
                }
            }
        }
    }
}

/* ---- guard pages --------------------------------------------------------- */

/* Walk every child (recursively, up to a bound) of v: touches every byte a
 * lookup can touch. */
static void walk(const keel_json_value *v, int depth)
{
    keel_json_value child;
    keel_slice key;
    size_t pos = 0;
    if (depth > 8 || (v->type != KEEL_JSON_T_ARRAY && v->type != KEEL_JSON_T_OBJECT)) {
        return;
    }
    for (int i = 0; i < 64 && keel_json_next_child(v, &pos, &key, &child) == KEEL_OK; i++) {
        walk(&child, depth + 1);
    }
}

static void test_guard_every_truncation_stays_in_bounds(void **state)
{
    (void)state;
    const char *paths[] = { ".a[2]", ".b.d", ".f", ".g[0]", "[1]", "[6][0]" };
    for (size_t d = 0; d < sizeof sample_docs / sizeof sample_docs[0]; d++) {
        const char *doc = sample_docs[d];
        size_t len = strlen(doc);
        for (size_t k = 0; k <= len; k++) {
            guard_region g;
            uint8_t *p = guard_alloc(&g, doc, k);
            assert_non_null(p);
            keel_slice s = { k > 0 ? p : NULL, k };
            keel_json_error e;
            keel_result r = keel_json_validate(s, 0, &e);
            assert_true(r == KEEL_OK || r == KEEL_ERR_INCOMPLETE);
            keel_json_error te;
            assert_int_equal(tokenize_all(s, 0, &te), r);

            /* a hand-made document over the cut bytes: lookups may give
             * wrong answers, never read past the end */
            keel_json_value v = { KEEL_JSON_T_OBJECT, s, 0 };
            keel_json_value out;
            for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
                r = keel_json_find(&v, keel_slice_cstr(paths[i]), &out);
                assert_true(r == KEEL_OK || r == KEEL_ERR_NOT_FOUND);
            }
            walk(&v, 0);
            v.type = KEEL_JSON_T_ARRAY;
            walk(&v, 0);
            for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
                r = keel_json_find(&v, keel_slice_cstr(paths[i]), &out);
                assert_true(r == KEEL_OK || r == KEEL_ERR_NOT_FOUND);
            }
            guard_free(&g);
        }
    }
}

static void test_guard_rejections_at_the_last_byte(void **state)
{
    (void)state;
    /* each ends in the byte that makes the scanner look one further */
    const char *docs[] = { "\"\\u00", "\"\xF0\x9F", "[1e", "[-", "nul", "\"\\", "[0.",
                           "{\"a\"", "\"ab", "[tru", "1", "-0", "[true" };
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        size_t len = strlen(docs[d]);
        guard_region g;
        uint8_t *p = guard_alloc(&g, docs[d], len);
        assert_non_null(p);
        keel_slice s = { p, len };
        keel_json_error e;
        keel_result r = keel_json_validate(s, 0, &e);
        assert_true(r == KEEL_OK || (r == KEEL_ERR_INCOMPLETE && e.offset == len));
        keel_json_doc doc;
        if (keel_json_parse(s, 0, &doc, NULL) == KEEL_OK) {
            keel_json_value out;
            assert_int_equal(keel_json_find(&doc.root, KEEL_STR(""), &out), KEEL_OK);
        }
        guard_free(&g);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_accepts_every_value_kind),
        cmocka_unit_test(test_validate_accepts_utf8_at_every_boundary),
        cmocka_unit_test(test_validate_rejects_bad_structure),
        cmocka_unit_test(test_validate_rejects_bad_literals),
        cmocka_unit_test(test_validate_rejects_bad_numbers),
        cmocka_unit_test(test_validate_rejects_bad_strings),
        cmocka_unit_test(test_validate_rejects_bad_utf8),
        cmocka_unit_test(test_validate_depth_limit_is_exact),
        cmocka_unit_test(test_validate_mixed_nesting_across_stack_words),
        cmocka_unit_test(test_invalid_arguments_are_refused),
        cmocka_unit_test(test_reason_strings_are_distinct_and_total),
        cmocka_unit_test(test_every_truncated_prefix_is_incomplete),
        cmocka_unit_test(test_tokenizer_yields_kinds_slices_offsets_and_depths),
        cmocka_unit_test(test_tokenizer_top_level_scalar_then_end),
        cmocka_unit_test(test_tokenizer_errors_are_sticky_after_valid_tokens),
        cmocka_unit_test(test_parse_wraps_root_without_whitespace),
        cmocka_unit_test(test_find_follows_nested_paths),
        cmocka_unit_test(test_find_matches_decoded_keys_and_first_duplicate),
        cmocka_unit_test(test_find_missing_steps_are_not_found),
        cmocka_unit_test(test_member_and_element_steps),
        cmocka_unit_test(test_duplicate_keys_are_refused_unless_allowed),
        cmocka_unit_test(test_duplicate_keys_in_large_objects),
        cmocka_unit_test(test_duplicate_keys_in_an_object_nested_in_a_large_one),
        cmocka_unit_test(test_duplicate_keys_made_to_collide),
        cmocka_unit_test(test_find_malformed_paths_are_parse_errors),
        cmocka_unit_test(test_next_child_iterates_arrays_and_objects),
        cmocka_unit_test(test_utf8_decode_reports_code_points_and_maximal_subparts),
        cmocka_unit_test(test_escape_decode_and_hex4),
        cmocka_unit_test(test_utf8_encode_round_trips_and_is_all_or_nothing),
        cmocka_unit_test(test_str_eq_compares_decoded_text),
        cmocka_unit_test(test_skip_value_stays_inside_the_slice),
        cmocka_unit_test(test_skip_string_agrees_with_reading_the_escapes),
        cmocka_unit_test(test_validate_utf8_agrees_with_table_3_7),
        cmocka_unit_test(test_indentation_is_whitespace_up_to_the_first_other_byte),
        cmocka_unit_test(test_guard_every_truncation_stays_in_bounds),
        cmocka_unit_test(test_guard_rejections_at_the_last_byte),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

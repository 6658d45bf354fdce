/*
 * tests/json/test_json_value.c - typed extraction (keel_json_get_*, is_null,
 * string_eq): exact int64 bounds, correctly rounded doubles for a table of
 * tricky values and random numbers (against glibc's strtod), escapes and
 * surrogate pairs, all-or-nothing output, and hand-made values that are not
 * what their type says (PARSE, never a read outside raw: the guard-page
 * tests put raw flush against a PROT_NONE page).
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
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
#include "keel/json.h"

static keel_json_value val(keel_json_type type, const char *raw)
{
    keel_json_value v = { type, keel_slice_cstr(raw), 0 };
    return v;
}

static keel_json_value val_n(keel_json_type type, const void *raw, size_t len)
{
    keel_json_value v = { type, { (const uint8_t *)raw, len }, 0 };
    return v;
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* ---- int64 ------------------------------------------------------------ */

static void test_get_i64_reads_exact_values_up_to_both_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want;
    } ok[] = {
        { "0", 0 },
        { "-0", 0 },
        { "7", 7 },
        { "-7", -7 },
        { "1234567890", 1234567890 },
        { "9223372036854775807", INT64_MAX },
        { "-9223372036854775807", -INT64_MAX },
        { "-9223372036854775808", INT64_MIN },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        keel_json_value v = val(KEEL_JSON_T_NUMBER, ok[i].text);
        int64_t got = 1;
        assert_int_equal(keel_json_get_i64(&v, &got), KEEL_OK);
        assert_true(got == ok[i].want);
    }
}

static void test_get_i64_out_of_range_is_too_large_and_leaves_out(void **state)
{
    (void)state;
    static const char *const big[] = {
        "9223372036854775808",  "-9223372036854775809", "18446744073709551615",
        "18446744073709551616", "99999999999999999999", "-100000000000000000000000000000",
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        keel_json_value v = val(KEEL_JSON_T_NUMBER, big[i]);
        int64_t got = 55;
        assert_int_equal(keel_json_get_i64(&v, &got), KEEL_ERR_TOO_LARGE);
        assert_true(got == 55);
    }
}

/* A number with a fraction or an exponent is a number but not an integer:
 * TYPE; bytes that are no number at all (a hand-made value): PARSE. */
static void test_get_i64_fraction_exponent_are_type_bad_grammar_parse(void **state)
{
    (void)state;
    static const char *const not_integer[] = { "1.0", "1e2", "1E2", "-1.5", "0.0", "1e0", "1e-0" };
    static const char *const bad[] = {
        "01", "-01", "-",  "",   "+1",  " 1", "1 ", "0x10", "--1",
        "1.", ".5",  "1e", "1e+", "-a", "1a", "00", "NaN",
    };
    for (size_t i = 0; i < sizeof not_integer / sizeof not_integer[0]; i++) {
        keel_json_value v = val(KEEL_JSON_T_NUMBER, not_integer[i]);
        int64_t got = 55;
        assert_int_equal(keel_json_get_i64(&v, &got), KEEL_ERR_TYPE);
        assert_true(got == 55);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        keel_json_value v = val(KEEL_JSON_T_NUMBER, bad[i]);
        int64_t got = 55;
        assert_int_equal(keel_json_get_i64(&v, &got), KEEL_ERR_PARSE);
        assert_true(got == 55);
    }
}

static void test_get_i64_wrong_type_is_type_and_bad_args_invalid(void **state)
{
    (void)state;
    int64_t got = 55;
    keel_json_value s = val(KEEL_JSON_T_STRING, "\"1\"");
    assert_int_equal(keel_json_get_i64(&s, &got), KEEL_ERR_TYPE);
    keel_json_value t = val(KEEL_JSON_T_BOOL, "1");
    assert_int_equal(keel_json_get_i64(&t, &got), KEEL_ERR_TYPE);
    keel_json_value n = val(KEEL_JSON_T_NUMBER, "1");
    assert_int_equal(keel_json_get_i64(NULL, &got), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_get_i64(&n, NULL), KEEL_ERR_INVALID_ARG);
    keel_json_value broken = val_n(KEEL_JSON_T_NUMBER, NULL, 3);
    assert_int_equal(keel_json_get_i64(&broken, &got), KEEL_ERR_INVALID_ARG);
    assert_true(got == 55);
}

/* ---- double ----------------------------------------------------------- */

static void assert_double_text(const char *text, uint64_t want_bits)
{
    keel_json_value v = val(KEEL_JSON_T_NUMBER, text);
    double got = 42.0;
    if (keel_json_get_double(&v, &got) != KEEL_OK) {
        fail_msg("get_double(%s) failed", text);
    }
    if (bits_of(got) != want_bits) {
        fail_msg("get_double(%s) = %a, want %a", text, got, strtod(text, NULL));
    }
}

/* glibc's strtod is correctly rounded: it is the reference (the test runs
 * in the "C" locale). */
static void assert_double_like_strtod(const char *text)
{
    assert_double_text(text, bits_of(strtod(text, NULL)));
}

static void test_get_double_tricky_values_round_correctly(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "0.1",
        "5e-324",
        "4.9406564584124654e-324",
        "2.4703282292062328e-324",
        "2.4703282292062327e-324",
        "1.7976931348623157e308",
        "2.2250738585072014e-308",
        "2.2250738585072011e-308",
        "9007199254740993",
        "9007199254740992",
        "9007199254740991",
        "1e23",
        "8.5e22",
        "1e22",
        "1e-22",
        "0.30000000000000004",
        "123456789012345678901234567890",
        "3.14159265358979323846264338327950288",
        "1e-400",
        "-1e-400",
        "0e999999999999",
        "0.000000000000000000000000000001",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "-2.5",
        "1E+2",
        "1e-0",
        "10000000000000000000000000000000000000000e-40",
        "4503599627370496.5",
        "4503599627370497.5",
        "7.2057594037927933e16",
        "1e-99999999999999999999",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_double_like_strtod(texts[i]);
    }
    assert_double_text("0", bits_of(0.0));
    assert_double_text("-0", bits_of(-0.0));
    assert_double_text("-0.0e5", bits_of(-0.0));
    assert_double_text("9007199254740993", bits_of(9007199254740992.0));
}

static void test_get_double_overflow_is_too_large(void **state)
{
    (void)state;
    static const char *const big[] = {
        "1e309",
        "-1e309",
        "1.7976931348623159e308",
        "1e99999999999",
        "1e400",
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649"
        "017977587207096330286416692887910946555547851940402630657488671505820681908902000708383"
        "676273854845817711531764475730270069855571366959622842914819860834936475292719074168444"
        "365510704342711559699508093042880177904174497792",
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        keel_json_value v = val(KEEL_JSON_T_NUMBER, big[i]);
        double got = 42.0;
        assert_int_equal(keel_json_get_double(&v, &got), KEEL_ERR_TOO_LARGE);
        assert_true(got == 42.0);
    }
}

/* Number texts up to 1100 bytes are converted; longer ones are TOO_LARGE
 * (documented in json.h). */
static void test_get_double_text_length_limit(void **state)
{
    (void)state;
    char text[1202];
    text[0] = '0';
    text[1] = '.';
    memset(text + 2, '0', sizeof text - 3);
    text[1098] = '1';
    text[1099] = '5';
    text[1100] = '\0';
    assert_double_like_strtod(text);
    text[1100] = '0';
    text[1101] = '\0';
    keel_json_value v = val_n(KEEL_JSON_T_NUMBER, text, 1101);
    double got = 42.0;
    assert_int_equal(keel_json_get_double(&v, &got), KEEL_ERR_TOO_LARGE);
    assert_true(got == 42.0);
}

static void test_get_double_bad_grammar_is_parse_other_types_type(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",    "-",        "+1",  "01",    "1.",  ".1", "1e", "1e+",
        "1e-", "Infinity", "NaN", "0x1p3", "1,5", " 1", "1 ", "--1"
    };
    double got = 42.0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        keel_json_value v = val(KEEL_JSON_T_NUMBER, bad[i]);
        assert_int_equal(keel_json_get_double(&v, &got), KEEL_ERR_PARSE);
    }
    keel_json_value s = val(KEEL_JSON_T_STRING, "\"1.5\"");
    assert_int_equal(keel_json_get_double(&s, &got), KEEL_ERR_TYPE);
    assert_int_equal(keel_json_get_double(NULL, &got), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_get_double(&s, NULL), KEEL_ERR_INVALID_ARG);
    assert_true(got == 42.0);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random numbers of every shape (short ones take the fast path, long ones
 * strtod_l), compared with strtod bit for bit. */
static void test_get_double_random_numbers_match_strtod(void **state)
{
    (void)state;
    char text[96];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = 0;
        if (rng() % 2) {
            text[n++] = '-';
        }
        size_t int_digits = 1 + rng() % 20;
        text[n++] = (char)('1' + rng() % 9);
        for (size_t k = 1; k < int_digits; k++) {
            text[n++] = (char)('0' + rng() % 10);
        }
        if (rng() % 2) {
            size_t frac = 1 + rng() % 20;
            text[n++] = '.';
            for (size_t k = 0; k < frac; k++) {
                text[n++] = (char)('0' + rng() % 10);
            }
        }
        if (rng() % 2) {
            n += (size_t)snprintf(text + n, sizeof text - n, "e%d", (int)(rng() % 700) - 350);
        }
        text[n] = '\0';
        double want = strtod(text, NULL);
        keel_json_value v = val(KEEL_JSON_T_NUMBER, text);
        double got = 0;
        keel_result r = keel_json_get_double(&v, &got);
        if (isinf(want)) {
            assert_int_equal(r, KEEL_ERR_TOO_LARGE);
            continue;
        }
        if (r != KEEL_OK || bits_of(got) != bits_of(want)) {
            fail_msg("%s: result %d, got %a want %a", text, r, got, want);
        }
    }
}

/* keel_json_get_double's contract assigns *out only: the strtod_l behind
 * the slow path sets errno (ERANGE on underflow and overflow), which must
 * not leak to the caller. */
static void test_get_double_leaves_errno_alone(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        keel_result want;
    } cases[] = {
        { "1e-400", KEEL_OK },            /* underflows to 0: ERANGE in strtod */
        { "4.9406564584124654e-324", KEEL_OK }, /* subnormal: ERANGE in glibc */
        { "2.2250738585072011e-308", KEEL_OK },
        { "1e400", KEEL_ERR_TOO_LARGE },  /* overflow: ERANGE in strtod */
        { "1.5", KEEL_OK },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_json_value v = val(KEEL_JSON_T_NUMBER, cases[i].text);
        double got = 0;
        errno = EILSEQ;
        assert_int_equal(keel_json_get_double(&v, &got), cases[i].want);
        if (errno != EILSEQ) {
            fail_msg("%s: errno %d after keel_json_get_double", cases[i].text, errno);
        }
    }
}

/* ---- bool and null ---------------------------------------------------- */

static void test_get_bool_and_is_null_accept_exact_literals_only(void **state)
{
    (void)state;
    bool b = false;
    keel_json_value t = val(KEEL_JSON_T_BOOL, "true");
    keel_json_value f = val(KEEL_JSON_T_BOOL, "false");
    assert_int_equal(keel_json_get_bool(&t, &b), KEEL_OK);
    assert_true(b);
    assert_int_equal(keel_json_get_bool(&f, &b), KEEL_OK);
    assert_false(b);
    static const char *const bad[] = { "tru", "truee", "True", "1", "", "null", "fals" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        keel_json_value v = val(KEEL_JSON_T_BOOL, bad[i]);
        b = true;
        assert_int_equal(keel_json_get_bool(&v, &b), KEEL_ERR_PARSE);
        assert_true(b);
    }
    keel_json_value n = val(KEEL_JSON_T_NULL, "null");
    assert_int_equal(keel_json_get_bool(&n, &b), KEEL_ERR_TYPE);
    keel_json_value one = val(KEEL_JSON_T_NUMBER, "1");
    assert_int_equal(keel_json_get_bool(&one, &b), KEEL_ERR_TYPE);
    assert_int_equal(keel_json_get_bool(NULL, &b), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_get_bool(&t, NULL), KEEL_ERR_INVALID_ARG);

    assert_true(keel_json_is_null(&n));
    assert_false(keel_json_is_null(NULL));
    assert_false(keel_json_is_null(&t));
    keel_json_value n2 = val(KEEL_JSON_T_NULL, "nul");
    assert_false(keel_json_is_null(&n2));
    keel_json_value n3 = val(KEEL_JSON_T_STRING, "null");
    assert_false(keel_json_is_null(&n3));
}

/* ---- strings ---------------------------------------------------------- */

static void assert_decodes(const char *raw, const void *want, size_t want_len)
{
    uint8_t storage[64];
    keel_buf out;
    assert_int_equal(keel_buf_init(&out, storage, sizeof storage), KEEL_OK);
    keel_json_value v = val(KEEL_JSON_T_STRING, raw);
    if (keel_json_get_string(&v, &out) != KEEL_OK) {
        fail_msg("get_string(%s) failed", raw);
    }
    assert_int_equal(out.len, want_len);
    assert_memory_equal(storage, want, want_len);
    keel_slice text = { (const uint8_t *)want, want_len };
    assert_true(keel_json_string_eq(&v, text));
}

static void test_get_string_decodes_every_escape(void **state)
{
    (void)state;
    assert_decodes("\"\"", "", 0);
    assert_decodes("\"plain\"", "plain", 5);
    assert_decodes("\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d", 7);
    assert_decodes("\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t", 5);
    assert_decodes("\"\\u0000\"", "\0", 1);
    assert_decodes("\"\\u001F\\u001f\"", "\x1f\x1f", 2);
    assert_decodes("\"\\u00e9\\u00C9\"", "\xC3\xA9\xC3\x89", 4);
    assert_decodes("\"\\u20AC\"", "\xE2\x82\xAC", 3);
    assert_decodes("\"\\uFFFF\"", "\xEF\xBF\xBF", 3);
    assert_decodes("\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", 4);
    assert_decodes("\"\\uD800\\uDC00\"", "\xF0\x90\x80\x80", 4);
    assert_decodes("\"\\uDBFF\\uDFFF\"", "\xF4\x8F\xBF\xBF", 4);
    assert_decodes("\"x\\ud83d\\ude00y\"", "x\xF0\x9F\x98\x80y", 6);
    assert_decodes("\"\xC3\xA9\xF0\x9F\x98\x80\"", "\xC3\xA9\xF0\x9F\x98\x80", 6);
}

static void test_get_string_lone_surrogates_and_bad_escapes_are_parse(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"\\ud83d\"",
        "\"\\ud83dx\"",
        "\"\\ud83d\\u0041\"",
        "\"\\ude00\"",
        "\"\\ude00\\ud83d\"",
        "\"\\ud83d\\ud83d\"",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"\\\"",
        "\"abc\\\"",
        "\"\\ud83d\\\"",
        "\"\\ud83d\\u\"",
        "\"a\"b\"",
        "\"a\nb\"",
        "\"\x01\"",
        "abc",
        "\"abc",
        "abc\"",
        "\"",
        "",
        "'a'",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t storage[32] = { 0 };
        keel_buf out;
        assert_int_equal(keel_buf_init(&out, storage, sizeof storage), KEEL_OK);
        assert_int_equal(keel_buf_append(&out, KEEL_STR("keep")), KEEL_OK);
        keel_json_value v = val(KEEL_JSON_T_STRING, bad[i]);
        if (keel_json_get_string(&v, &out) != KEEL_ERR_PARSE) {
            fail_msg("get_string(%s) is not PARSE", bad[i]);
        }
        assert_int_equal(out.len, 4);
        assert_memory_equal(storage, "keep", 4);
    }
}

/* All or nothing: a buffer exactly big enough works, one byte short is
 * TOO_LARGE with len unchanged, at every size in between too. */
static void test_get_string_too_small_buffer_is_too_large_all_or_nothing(void **state)
{
    (void)state;
    const char *raw = "\"ab\\ncd\\u00e9ef\\ud83d\\ude00gh\"";
    const char *want = "ab\ncd\xC3\xA9"
                       "ef\xF0\x9F\x98\x80gh";
    size_t want_len = strlen(want);
    keel_json_value v = val(KEEL_JSON_T_STRING, raw);
    for (size_t cap = 0; cap <= want_len + 3; cap++) {
        uint8_t storage[64];
        keel_buf out;
        assert_int_equal(keel_buf_init(&out, storage, cap + 3), KEEL_OK);
        assert_int_equal(keel_buf_append(&out, KEEL_STR("pre")), KEEL_OK);
        keel_result r = keel_json_get_string(&v, &out);
        if (cap < want_len) {
            assert_int_equal(r, KEEL_ERR_TOO_LARGE);
            assert_int_equal(out.len, 3);
        } else {
            assert_int_equal(r, KEEL_OK);
            assert_int_equal(out.len, 3 + want_len);
            assert_memory_equal(storage + 3, want, want_len);
        }
        assert_memory_equal(storage, "pre", 3);
    }
}

static void test_get_string_accepts_key_tokens_and_rejects_other_types(void **state)
{
    (void)state;
    uint8_t storage[16];
    keel_buf out;
    assert_int_equal(keel_buf_init(&out, storage, sizeof storage), KEEL_OK);
    keel_json_value n = val(KEEL_JSON_T_NUMBER, "\"1\"");
    assert_int_equal(keel_json_get_string(&n, &out), KEEL_ERR_TYPE);
    assert_int_equal(keel_json_get_string(NULL, &out), KEEL_ERR_INVALID_ARG);
    keel_json_value s = val(KEEL_JSON_T_STRING, "\"k\"");
    assert_int_equal(keel_json_get_string(&s, NULL), KEEL_ERR_INVALID_ARG);
    keel_buf broken = { NULL, 4, 0 };
    assert_int_equal(keel_json_get_string(&s, &broken), KEEL_ERR_INVALID_ARG);
    assert_int_equal(out.len, 0);

    keel_json_doc doc;
    keel_json_error err;
    assert_int_equal(keel_json_parse(KEEL_STR("{\"k\\u00e9y\": 1}"), 0, &doc, &err), KEEL_OK);
    size_t pos = 0;
    keel_slice key;
    keel_json_value child;
    assert_int_equal(keel_json_next_child(&doc.root, &pos, &key, &child), KEEL_OK);
    keel_json_value kv = { KEEL_JSON_T_STRING, key, 0 };
    assert_int_equal(keel_json_get_string(&kv, &out), KEEL_OK);
    assert_int_equal(out.len, 4);
    assert_memory_equal(storage, "k\xC3\xA9y", 4);
    assert_true(keel_json_string_eq(&kv, KEEL_STR("k\xC3\xA9y")));
}

static void test_string_eq_compares_decoded_text(void **state)
{
    (void)state;
    keel_json_value v = val(KEEL_JSON_T_STRING, "\"a\\nb\\u00e9\\ud83d\\ude00\"");
    assert_true(keel_json_string_eq(&v, KEEL_STR("a\nb\xC3\xA9\xF0\x9F\x98\x80")));
    assert_false(keel_json_string_eq(&v, KEEL_STR("a\nb\xC3\xA9\xF0\x9F\x98")));
    assert_false(keel_json_string_eq(&v, KEEL_STR("a\nb\xC3\xA9\xF0\x9F\x98\x80!")));
    assert_false(keel_json_string_eq(&v, KEEL_STR("a\\nb")));
    assert_false(keel_json_string_eq(&v, KEEL_STR("")));
    keel_json_value empty = val(KEEL_JSON_T_STRING, "\"\"");
    assert_true(keel_json_string_eq(&empty, KEEL_STR("")));
    assert_false(keel_json_string_eq(&empty, KEEL_STR("x")));
    keel_json_value lone = val(KEEL_JSON_T_STRING, "\"\\ud83d\"");
    assert_false(keel_json_string_eq(&lone, KEEL_STR("\xED\xA0\xBD")));
    keel_json_value num = val(KEEL_JSON_T_NUMBER, "\"a\"");
    assert_false(keel_json_string_eq(&num, KEEL_STR("a")));
    assert_false(keel_json_string_eq(NULL, KEEL_STR("a")));
    keel_json_value unquoted = val(KEEL_JSON_T_STRING, "a");
    assert_false(keel_json_string_eq(&unquoted, KEEL_STR("a")));
    keel_slice broken = { NULL, 1 };
    assert_false(keel_json_string_eq(&v, broken));
}

/* Hand-made values whose raw ends at a PROT_NONE page: every function
 * reads only inside raw, whatever raw holds. */
static void test_extraction_never_reads_past_raw(void **state)
{
    (void)state;
    static const char *const raws[] = {
        "\"",
        "\"\\",
        "\"\\u",
        "\"\\u12",
        "\"\\ud83d",
        "\"\\ud83d\\",
        "\"\\ud83d\\u",
        "\"\\ud83d\\ude0",
        "\"abc",
        "-",
        "1e",
        "1.",
        "12345678901234567890123",
        "1e99999999999999999999",
        "tru",
        "nul",
        "\"\xF0\x9F",
        "",
    };
    static const keel_json_type types[] = { KEEL_JSON_T_STRING, KEEL_JSON_T_NUMBER,
                                            KEEL_JSON_T_BOOL, KEEL_JSON_T_NULL };
    for (size_t i = 0; i < sizeof raws / sizeof raws[0]; i++) {
        size_t len = strlen(raws[i]);
        guard_region g;
        uint8_t *p = guard_alloc(&g, raws[i], len);
        assert_non_null(p);
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            keel_json_value v = { types[t], { len > 0 ? p : NULL, len }, 0 };
            int64_t i64 = 0;
            double d = 0;
            bool b = false;
            uint8_t storage[64];
            keel_buf out = { storage, sizeof storage, 0 };
            keel_result r = keel_json_get_i64(&v, &i64);
            if (types[t] == KEEL_JSON_T_NUMBER) {
                assert_true(r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE || r == KEEL_ERR_TYPE);
                r = keel_json_get_double(&v, &d);
                assert_true(r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE || r == KEEL_OK);
            } else {
                assert_int_equal(r, KEEL_ERR_TYPE);
                assert_int_equal(keel_json_get_double(&v, &d), KEEL_ERR_TYPE);
            }
            /* no raw here is a literal: PARSE as a bool, TYPE as anything else */
            assert_int_equal(keel_json_get_bool(&v, &b),
                             types[t] == KEEL_JSON_T_BOOL ? KEEL_ERR_PARSE : KEEL_ERR_TYPE);
            assert_false(keel_json_is_null(&v));
            assert_int_equal(keel_json_get_string(&v, &out),
                             types[t] == KEEL_JSON_T_STRING ? KEEL_ERR_PARSE : KEEL_ERR_TYPE);
            assert_int_equal(out.len, 0);
            assert_false(keel_json_string_eq(&v, KEEL_STR("abc")));
        }
        guard_free(&g);
    }
}

/* Values found in a parsed document (the way callers get them). */
static void test_values_from_a_parsed_document(void **state)
{
    (void)state;
    keel_slice src = KEEL_STR("{\"id\": -9223372036854775808, \"pi\": 3.14159, \"ok\": true,"
                              " \"none\": null, \"name\": \"caf\\u00e9\", \"list\": [1, 2.5e3]}");
    keel_json_doc doc;
    keel_json_error err;
    assert_int_equal(keel_json_parse(src, 0, &doc, &err), KEEL_OK);
    keel_json_value v;
    int64_t i64 = 0;
    double d = 0;
    bool b = false;
    assert_int_equal(keel_json_find(&doc.root, KEEL_STR(".id"), &v), KEEL_OK);
    assert_int_equal(keel_json_get_i64(&v, &i64), KEEL_OK);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(keel_json_find(&doc.root, KEEL_STR(".pi"), &v), KEEL_OK);
    assert_int_equal(keel_json_get_double(&v, &d), KEEL_OK);
    assert_true(d == 3.14159);
    assert_int_equal(keel_json_get_i64(&v, &i64), KEEL_ERR_TYPE);
    assert_int_equal(keel_json_find(&doc.root, KEEL_STR(".ok"), &v), KEEL_OK);
    assert_int_equal(keel_json_get_bool(&v, &b), KEEL_OK);
    assert_true(b);
    assert_int_equal(keel_json_find(&doc.root, KEEL_STR(".none"), &v), KEEL_OK);
    assert_true(keel_json_is_null(&v));
    assert_int_equal(keel_json_find(&doc.root, KEEL_STR(".name"), &v), KEEL_OK);
    assert_true(keel_json_string_eq(&v, KEEL_STR("caf\xC3\xA9")));
    assert_int_equal(keel_json_find(&doc.root, KEEL_STR(".list[1]"), &v), KEEL_OK);
    assert_int_equal(keel_json_get_double(&v, &d), KEEL_OK);
    assert_true(d == 2500.0);
    assert_int_equal(keel_json_find(&doc.root, KEEL_STR(".list"), &v), KEEL_OK);
    assert_int_equal(keel_json_get_double(&v, &d), KEEL_ERR_TYPE);
    assert_string_equal(keel_json_type_str(v.type), "array");
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(keel_json_type_str(KEEL_JSON_T_NULL), "null");
    assert_string_equal(keel_json_type_str(KEEL_JSON_T_BOOL), "bool");
    assert_string_equal(keel_json_type_str(KEEL_JSON_T_NUMBER), "number");
    assert_string_equal(keel_json_type_str(KEEL_JSON_T_STRING), "string");
    assert_string_equal(keel_json_type_str(KEEL_JSON_T_ARRAY), "array");
    assert_string_equal(keel_json_type_str(KEEL_JSON_T_OBJECT), "object");
    assert_string_equal(keel_json_type_str((keel_json_type)0), "unknown");
    assert_string_equal(keel_json_type_str((keel_json_type)99), "unknown");
}

/* Line and column of an offset: LF ends a line, a UTF-8 character is one
 * column whatever its length, the end is a position, past it is not. */
static void test_position_of(void **state)
{
    (void)state;
    keel_slice doc = KEEL_STR("{\n  \"caf\xC3\xA9\": 1,\r\n  \"b\": tru\n}");
    keel_json_position p = { 77, 77 };
    assert_int_equal(keel_json_position_of(doc, 0, &p), KEEL_OK);
    assert_true(p.line == 1 && p.column == 1);
    assert_int_equal(keel_json_position_of(doc, 1, &p), KEEL_OK); /* the LF itself */
    assert_true(p.line == 1 && p.column == 2);
    assert_int_equal(keel_json_position_of(doc, 2, &p), KEEL_OK);
    assert_true(p.line == 2 && p.column == 1);
    /* the ':' after "café": 2 spaces, 6 characters of key (é is 2 bytes) */
    assert_int_equal(doc.ptr[11], ':');
    assert_int_equal(keel_json_position_of(doc, 11, &p), KEEL_OK);
    assert_true(p.line == 2 && p.column == 9);
    /* "tru" on line 3: after CR LF, 2 spaces, "b": and a space */
    assert_int_equal(doc.ptr[24], 't');
    assert_int_equal(keel_json_position_of(doc, 24, &p), KEEL_OK);
    assert_true(p.line == 3 && p.column == 8);
    assert_int_equal(keel_json_position_of(doc, doc.len, &p), KEEL_OK);
    assert_true(p.line == 4 && p.column == 2);
    /* with a validation error's offset */
    keel_json_error e;
    assert_int_equal(keel_json_validate(doc, 0, &e), KEEL_ERR_PARSE);
    assert_int_equal(keel_json_position_of(doc, e.offset, &p), KEEL_OK);
    assert_true(p.line == 3);
    p.line = 77;
    p.column = 77;
    assert_int_equal(keel_json_position_of(doc, doc.len + 1, &p), KEEL_ERR_OUT_OF_BOUNDS);
    assert_int_equal(keel_json_position_of(doc, SIZE_MAX, &p), KEEL_ERR_OUT_OF_BOUNDS);
    assert_true(p.line == 77 && p.column == 77);
    assert_int_equal(keel_json_position_of(doc, 0, NULL), KEEL_ERR_INVALID_ARG);
    keel_slice broken = { NULL, 3 };
    assert_int_equal(keel_json_position_of(broken, 0, &p), KEEL_ERR_INVALID_ARG);
}

int main(int argc, char **argv)
{
    /* The extraction must not care; strtod, the reference, reads "C". */
    setlocale(LC_ALL, "C");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_i64_reads_exact_values_up_to_both_bounds),
        cmocka_unit_test(test_get_i64_out_of_range_is_too_large_and_leaves_out),
        cmocka_unit_test(test_get_i64_fraction_exponent_are_type_bad_grammar_parse),
        cmocka_unit_test(test_get_i64_wrong_type_is_type_and_bad_args_invalid),
        cmocka_unit_test(test_get_double_tricky_values_round_correctly),
        cmocka_unit_test(test_get_double_overflow_is_too_large),
        cmocka_unit_test(test_get_double_text_length_limit),
        cmocka_unit_test(test_get_double_bad_grammar_is_parse_other_types_type),
        cmocka_unit_test(test_get_double_random_numbers_match_strtod),
        cmocka_unit_test(test_get_double_leaves_errno_alone),
        cmocka_unit_test(test_get_bool_and_is_null_accept_exact_literals_only),
        cmocka_unit_test(test_get_string_decodes_every_escape),
        cmocka_unit_test(test_get_string_lone_surrogates_and_bad_escapes_are_parse),
        cmocka_unit_test(test_get_string_too_small_buffer_is_too_large_all_or_nothing),
        cmocka_unit_test(test_get_string_accepts_key_tokens_and_rejects_other_types),
        cmocka_unit_test(test_string_eq_compares_decoded_text),
        cmocka_unit_test(test_extraction_never_reads_past_raw),
        cmocka_unit_test(test_values_from_a_parsed_document),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_position_of),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

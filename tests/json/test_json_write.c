/*
 * tests/json/test_json_write.c - the JSON writer: exact output for each kind of
 * value, escaping of all 32 control characters (round-tripped through
 * keel_json_get_string), invalid UTF-8 under both policies (maximal
 * subparts), every state error leaving the buf as it was, the depth limit,
 * all-or-nothing TOO_LARGE with flush-and-retry, shortest round-trip
 * doubles, and a property test: random documents are written, validated,
 * and read back equal.
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

#include "keel/json.h"

static uint8_t storage[1 << 16];

static keel_buf fresh_buf(size_t cap)
{
    keel_buf b;
    assert_true(cap <= sizeof storage);
    memset(storage, 0xAA, sizeof storage);
    assert_int_equal(keel_buf_init(&b, storage, cap), KEEL_OK);
    return b;
}

static void assert_output(const keel_buf *b, const char *want)
{
    size_t n = strlen(want);
    if (b->len != n || memcmp(b->ptr, want, n) != 0) {
        fail_msg("output '%.*s', want '%s'", (int)b->len, (const char *)b->ptr, want);
    }
    keel_json_error err;
    assert_int_equal(keel_json_validate(keel_buf_slice(b), KEEL_JSON_DEPTH_CAP, &err), KEEL_OK);
}

static void test_writer_builds_a_document_with_commas_and_colons(void **state)
{
    (void)state;
    keel_buf b = fresh_buf(256);
    keel_json_writer w;
    assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("a")), KEEL_OK);
    assert_int_equal(keel_json_write_i64(&w, 1), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("b")), KEEL_OK);
    assert_int_equal(keel_json_write_array_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_bool(&w, true), KEEL_OK);
    assert_int_equal(keel_json_write_bool(&w, false), KEEL_OK);
    assert_int_equal(keel_json_write_null(&w), KEEL_OK);
    assert_int_equal(keel_json_write_string(&w, KEEL_STR("x/y")), KEEL_OK);
    assert_int_equal(keel_json_write_array_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_OK);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_OK);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_OK);
    assert_int_equal(keel_json_writer_finish(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("")), KEEL_OK);
    assert_int_equal(keel_json_write_u64(&w, UINT64_MAX), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("n")), KEEL_OK);
    assert_int_equal(keel_json_write_i64(&w, INT64_MIN), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("m")), KEEL_OK);
    assert_int_equal(keel_json_write_i64(&w, INT64_MAX), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("d")), KEEL_OK);
    assert_int_equal(keel_json_write_double(&w, 0.5), KEEL_OK);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_OK);
    assert_int_equal(keel_json_writer_finish(&w), KEEL_OK);
    assert_output(&b, "{\"a\":1,\"b\":[true,false,null,\"x/y\",[],{}],\"\":18446744073709551615,"
                      "\"n\":-9223372036854775808,\"m\":9223372036854775807,\"d\":0.5}");
}

static void test_writer_scalars_at_top_level(void **state)
{
    (void)state;
    static const struct {
        int kind;
        const char *want;
    } cases[] = {
        { 0, "0" }, { 1, "-1" }, { 2, "\"\"" }, { 3, "null" }, { 4, "true" }, { 5, "-0" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_buf b = fresh_buf(64);
        keel_json_writer w;
        keel_result r = KEEL_ERR_STATE;
        assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REJECT), KEEL_OK);
        assert_int_equal(keel_json_writer_finish(&w), KEEL_ERR_STATE);
        switch (cases[i].kind) {
        case 0:
            r = keel_json_write_u64(&w, 0);
            break;
        case 1:
            r = keel_json_write_i64(&w, -1);
            break;
        case 2:
            r = keel_json_write_string(&w, KEEL_STR(""));
            break;
        case 3:
            r = keel_json_write_null(&w);
            break;
        case 4:
            r = keel_json_write_bool(&w, true);
            break;
        default:
            r = keel_json_write_double(&w, -0.0);
            break;
        }
        assert_int_equal(r, KEEL_OK);
        assert_int_equal(keel_json_writer_finish(&w), KEEL_OK);
        assert_output(&b, cases[i].want);
        /* A second top-level value is misuse. */
        assert_int_equal(keel_json_write_null(&w), KEEL_ERR_STATE);
        assert_int_equal(keel_json_write_array_begin(&w), KEEL_ERR_STATE);
        assert_output(&b, cases[i].want);
    }
}

/* Every control character is escaped, and reads back as itself. */
static void test_writer_escapes_all_control_characters_and_round_trips(void **state)
{
    (void)state;
    uint8_t all[36];
    for (size_t c = 0; c < 32; c++) {
        all[c] = (uint8_t)c;
    }
    all[32] = '"';
    all[33] = '\\';
    all[34] = '/';
    all[35] = 0x7F;
    keel_buf b = fresh_buf(512);
    keel_json_writer w;
    assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REJECT), KEEL_OK);
    keel_slice s = { all, sizeof all };
    assert_int_equal(keel_json_write_string(&w, s), KEEL_OK);
    assert_output(&b, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n"
                      "\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015"
                      "\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"
                      "\\\"\\\\/\x7f\"");
    keel_json_value v = { KEEL_JSON_T_STRING, keel_buf_slice(&b), 0 };
    uint8_t back[64];
    keel_buf bb;
    assert_int_equal(keel_buf_init(&bb, back, sizeof back), KEEL_OK);
    assert_int_equal(keel_json_get_string(&v, &bb), KEEL_OK);
    assert_int_equal(bb.len, sizeof all);
    assert_memory_equal(back, all, sizeof all);
    assert_true(keel_json_string_eq(&v, s));

    /* One control character at a time, as a key too. */
    for (size_t c = 0; c < 32; c++) {
        keel_buf b2 = fresh_buf(64);
        keel_json_writer w2;
        uint8_t one = (uint8_t)c;
        keel_slice k = { &one, 1 };
        assert_int_equal(keel_json_writer_init(&w2, &b2, 0, KEEL_JSON_UTF8_REJECT), KEEL_OK);
        assert_int_equal(keel_json_write_object_begin(&w2), KEEL_OK);
        assert_int_equal(keel_json_write_key(&w2, k), KEEL_OK);
        assert_int_equal(keel_json_write_string(&w2, k), KEEL_OK);
        assert_int_equal(keel_json_write_object_end(&w2), KEEL_OK);
        keel_json_doc doc;
        keel_json_error err;
        assert_int_equal(keel_json_parse(keel_buf_slice(&b2), 0, &doc, &err), KEEL_OK);
        size_t pos = 0;
        keel_slice key;
        keel_json_value child;
        assert_int_equal(keel_json_next_child(&doc.root, &pos, &key, &child), KEEL_OK);
        keel_json_value kv = { KEEL_JSON_T_STRING, key, 0 };
        assert_true(keel_json_string_eq(&kv, k));
        assert_true(keel_json_string_eq(&child, k));
    }
}

/* Unicode's example of maximal subparts (Unicode 15, section 3.9, U+FFFD
 * substitution) and the other shapes of invalid UTF-8. */
static void test_writer_replaces_each_maximal_invalid_subpart(void **state)
{
    (void)state;
#define R "\xEF\xBF\xBD"
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        { "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", "\"a" R R R "b" R "c" R R "d\"" },
        { "\x80", "\"" R "\"" },
        { "\xBF", "\"" R "\"" },
        { "\xC0\xAF", "\"" R R "\"" },
        { "\xC1\xBF", "\"" R R "\"" },
        { "\xE0\x80\xAF", "\"" R R R "\"" },
        { "\xED\xA0\x80", "\"" R R R "\"" },
        { "\xF0\x80\x80\x80", "\"" R R R R "\"" },
        { "\xF4\x90\x80\x80", "\"" R R R R "\"" },
        { "\xF5\x80", "\"" R R "\"" },
        { "\xFF", "\"" R "\"" },
        { "\xE1\x80", "\"" R "\"" },
        { "\xF0\x9F\x98", "\"" R "\"" },
        { "\xF0\x9F\x98"
          "A",
          "\"" R "A\"" },
        { "x\xC3", "\"x" R "\"" },
        { "\xC3\xA9\xF0\x9F\x98\x80\xEF\xBF\xBD", "\"\xC3\xA9\xF0\x9F\x98\x80" R "\"" },
        { "\xF4\x8F\xBF\xBF", "\"\xF4\x8F\xBF\xBF\"" },
    };
#undef R
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_buf b = fresh_buf(128);
        keel_json_writer w;
        assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
        assert_int_equal(keel_json_write_string(&w, keel_slice_cstr(cases[i].in)), KEEL_OK);
        assert_output(&b, cases[i].want);

        /* REJECT refuses the invalid ones, changes nothing, stays usable. */
        keel_buf b2 = fresh_buf(128);
        keel_json_writer w2;
        assert_int_equal(keel_json_writer_init(&w2, &b2, 0, KEEL_JSON_UTF8_REJECT), KEEL_OK);
        assert_int_equal(keel_json_write_array_begin(&w2), KEEL_OK);
        keel_result r = keel_json_write_string(&w2, keel_slice_cstr(cases[i].in));
        bool valid = i >= 15;
        assert_int_equal(r, valid ? KEEL_OK : KEEL_ERR_PARSE);
        assert_int_equal(keel_json_write_key(&w2, KEEL_STR("k")), KEEL_ERR_STATE);
        assert_int_equal(b2.len, valid ? 1 + strlen(cases[i].want) : 1);
        assert_int_equal(keel_json_write_string(&w2, KEEL_STR("ok")), KEEL_OK);
        assert_int_equal(keel_json_write_array_end(&w2), KEEL_OK);
        keel_json_error err;
        assert_int_equal(keel_json_validate(keel_buf_slice(&b2), 0, &err), KEEL_OK);
    }
    /* Keys follow the policy too. */
    keel_buf b = fresh_buf(64);
    keel_json_writer w;
    assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REJECT), KEEL_OK);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("\xFF")), KEEL_ERR_PARSE);
    assert_int_equal(b.len, 1);
    assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
    b.len = 0;
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("\xFF")), KEEL_OK);
    assert_int_equal(keel_json_write_null(&w), KEEL_OK);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_OK);
    assert_output(&b, "{\"\xEF\xBF\xBD\":null}");
}

/* Misuse is STATE, writes nothing, and the writer carries on. */
static void test_writer_state_errors_change_nothing(void **state)
{
    (void)state;
    keel_buf b = fresh_buf(256);
    keel_json_writer w;
    assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("k")), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_ERR_STATE);
    assert_int_equal(b.len, 0);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_OK);
    /* In an object a value needs a key first; arrays do not end objects. */
    assert_int_equal(keel_json_write_string(&w, KEEL_STR("v")), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_i64(&w, 1), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_u64(&w, 1), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_double(&w, 1.5), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_bool(&w, true), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_null(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_array_begin(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_ERR_STATE);
    assert_int_equal(b.len, 1);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("k")), KEEL_OK);
    /* After a key: no second key, no end before the value. */
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("k2")), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_ERR_STATE);
    assert_int_equal(b.len, 5);
    assert_int_equal(keel_json_write_array_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("k")), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_i64(&w, 2), KEEL_OK);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_OK);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_writer_finish(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_OK);
    assert_int_equal(keel_json_writer_finish(&w), KEEL_OK);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_ERR_STATE);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_ERR_STATE);
    assert_output(&b, "{\"k\":[2]}");
}

static void test_writer_invalid_arguments(void **state)
{
    (void)state;
    keel_buf b = fresh_buf(64);
    keel_buf broken = { NULL, 8, 0 };
    keel_json_writer w;
    assert_int_equal(keel_json_writer_init(NULL, &b, 0, KEEL_JSON_UTF8_REPLACE),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_writer_init(&w, NULL, 0, KEEL_JSON_UTF8_REPLACE),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_writer_init(&w, &broken, 0, KEEL_JSON_UTF8_REPLACE),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_writer_init(&w, &b, KEEL_JSON_DEPTH_CAP + 1, KEEL_JSON_UTF8_REPLACE),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_writer_init(&w, &b, 0, (keel_json_utf8_policy)2),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_write_null(NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_write_object_begin(NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_write_array_end(NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_write_key(NULL, KEEL_STR("k")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_writer_finish(NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
    keel_slice bad = { NULL, 3 };
    assert_int_equal(keel_json_write_string(&w, bad), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_write_double(&w, NAN), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_write_double(&w, INFINITY), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_write_double(&w, -INFINITY), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, bad), KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 1);
    /* A corrupted writer is refused, not followed. */
    keel_json_writer bent = w;
    bent.depth = KEEL_JSON_DEPTH_CAP + 7;
    assert_int_equal(keel_json_write_object_end(&bent), KEEL_ERR_INVALID_ARG);
    bent = w;
    bent.state = 99;
    assert_int_equal(keel_json_write_key(&bent, KEEL_STR("k")), KEEL_ERR_INVALID_ARG);
    bent = w;
    bent.out = &broken;
    assert_int_equal(keel_json_write_null(&bent), KEEL_ERR_INVALID_ARG);
    assert_int_equal(b.len, 1);
}

static void test_writer_depth_limit_is_too_large(void **state)
{
    (void)state;
    keel_buf b = fresh_buf(8192);
    keel_json_writer w;
    assert_int_equal(keel_json_writer_init(&w, &b, 3, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
    assert_int_equal(keel_json_write_array_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_key(&w, KEEL_STR("a")), KEEL_OK);
    assert_int_equal(keel_json_write_array_begin(&w), KEEL_OK);
    assert_int_equal(keel_json_write_array_begin(&w), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_json_write_object_begin(&w), KEEL_ERR_TOO_LARGE);
    assert_int_equal(b.len, 7);
    assert_int_equal(keel_json_write_i64(&w, 5), KEEL_OK);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_OK);
    assert_int_equal(keel_json_write_object_end(&w), KEEL_OK);
    assert_int_equal(keel_json_write_array_end(&w), KEEL_OK);
    assert_output(&b, "[{\"a\":[5]}]");

    /* Default (64) and the cap (1024), with a comma at every level. */
    static const uint32_t limits[] = { 0, KEEL_JSON_DEPTH_CAP };
    for (size_t i = 0; i < 2; i++) {
        uint32_t depth = limits[i] == 0 ? KEEL_JSON_DEFAULT_DEPTH : limits[i];
        b = fresh_buf(8192);
        assert_int_equal(keel_json_writer_init(&w, &b, limits[i], KEEL_JSON_UTF8_REPLACE), KEEL_OK);
        for (uint32_t d = 0; d < depth; d++) {
            assert_int_equal(keel_json_write_array_begin(&w), KEEL_OK);
            if (d + 1 < depth) {
                assert_int_equal(keel_json_write_null(&w), KEEL_OK);
            }
        }
        assert_int_equal(keel_json_write_array_begin(&w), KEEL_ERR_TOO_LARGE);
        for (uint32_t d = 0; d < depth; d++) {
            assert_int_equal(keel_json_write_array_end(&w), KEEL_OK);
        }
        assert_int_equal(keel_json_writer_finish(&w), KEEL_OK);
        keel_json_error err;
        assert_int_equal(keel_json_validate(keel_buf_slice(&b), KEEL_JSON_DEPTH_CAP, &err),
                         KEEL_OK);
        assert_int_equal(b.len, 2 * depth + 5 * (depth - 1));
    }
}

/* One fixed sequence of calls; 'x' values make it long enough to need
 * several flushes in a small buf. */
static keel_result call(keel_json_writer *w, int step)
{
    switch (step) {
    case 0:
        return keel_json_write_object_begin(w);
    case 1:
        return keel_json_write_key(w, KEEL_STR("name\n"));
    case 2:
        return keel_json_write_string(w, KEEL_STR("caf\xC3\xA9 \"\x01\"\xFF"));
    case 3:
        return keel_json_write_key(w, KEEL_STR("list"));
    case 4:
        return keel_json_write_array_begin(w);
    case 5:
        return keel_json_write_i64(w, -1234567890123);
    case 6:
        return keel_json_write_double(w, 0.1);
    case 7:
        return keel_json_write_u64(w, 42);
    case 8:
        return keel_json_write_bool(w, false);
    case 9:
        return keel_json_write_null(w);
    case 10:
        return keel_json_write_object_begin(w);
    case 11:
        return keel_json_write_object_end(w);
    case 12:
        return keel_json_write_array_end(w);
    case 13:
        return keel_json_write_key(w, KEEL_STR("d"));
    case 14:
        return keel_json_write_double(w, -1.7976931348623157e308);
    default:
        return keel_json_write_object_end(w);
    }
}
#define STEPS 16
static const char full_doc[] = "{\"name\\n\":\"caf\xC3\xA9 \\\"\\u0001\\\"\xEF\xBF\xBD\","
                               "\"list\":[-1234567890123,0.1,42,false,null,{}],"
                               "\"d\":-1.7976931348623157e+308}";

/* TOO_LARGE writes nothing: at every capacity, the output stops at the end
 * of the last call that fit; flushing and retrying completes the document. */
static void test_writer_too_large_is_all_or_nothing_and_retryable(void **state)
{
    (void)state;
    size_t full = strlen(full_doc);
    for (size_t cap = 0; cap <= full; cap++) {
        keel_buf b = fresh_buf(cap);
        keel_json_writer w;
        assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
        size_t ends[STEPS + 1] = { 0 };
        int step = 0;
        keel_result r = KEEL_OK;
        while (step < STEPS && (r = call(&w, step)) == KEEL_OK) {
            ends[++step] = b.len;
        }
        if (cap == full) {
            assert_int_equal(step, STEPS);
            assert_int_equal(keel_json_writer_finish(&w), KEEL_OK);
        } else {
            assert_int_equal(r, KEEL_ERR_TOO_LARGE);
            assert_int_equal(b.len, ends[step]);
            assert_memory_equal(storage, full_doc, b.len);
        }
    }
    /* Flush and retry with a 40-byte buf. */
    char acc[512];
    size_t acc_len = 0;
    keel_buf b = fresh_buf(40);
    keel_json_writer w;
    assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
    int flushes = 0;
    for (int step = 0; step < STEPS;) {
        keel_result r = call(&w, step);
        if (r == KEEL_ERR_TOO_LARGE) {
            assert_true(b.len > 0);
            memcpy(acc + acc_len, b.ptr, b.len);
            acc_len += b.len;
            keel_buf_clear(&b);
            flushes++;
            continue;
        }
        assert_int_equal(r, KEEL_OK);
        step++;
    }
    memcpy(acc + acc_len, b.ptr, b.len);
    acc_len += b.len;
    assert_true(flushes >= 2);
    assert_int_equal(acc_len, full);
    assert_memory_equal(acc, full_doc, full);
    keel_json_error err;
    keel_slice doc = { (const uint8_t *)acc, acc_len };
    assert_int_equal(keel_json_validate(doc, 0, &err), KEEL_OK);
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Write v alone; check it reads back to the same bits. Returns the text
 * length. */
static size_t write_double_round_trip(double v, char *text, size_t cap)
{
    keel_buf b = fresh_buf(64);
    keel_json_writer w;
    assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
    assert_int_equal(keel_json_write_double(&w, v), KEEL_OK);
    keel_json_doc doc;
    keel_json_error err;
    assert_int_equal(keel_json_parse(keel_buf_slice(&b), 0, &doc, &err), KEEL_OK);
    assert_int_equal(doc.root.type, KEEL_JSON_T_NUMBER);
    double back = 0;
    assert_int_equal(keel_json_get_double(&doc.root, &back), KEEL_OK);
    if (bits_of(back) != bits_of(v)) {
        fail_msg("%a written as '%.*s' reads back as %a", v, (int)b.len, (const char *)b.ptr, back);
    }
    assert_true(b.len < cap);
    memcpy(text, b.ptr, b.len);
    text[b.len] = '\0';
    return b.len;
}

static void test_writer_doubles_round_trip_shortest(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        { 0.1, "0.1" },
        { 5e-324, "5e-324" },
        { 2.225073858507201e-308, "2.225073858507201e-308" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { 9007199254740993.0, "9007199254740992" },
        { 9007199254740991.0, "9007199254740991" },
        { -0.0, "-0" },
        { 0.0, "0" },
        { 1e23, "1e+23" },
        { 0.30000000000000004, "0.30000000000000004" },
        { 2.2250738585072014e-308, "2.2250738585072014e-308" },
        { 1.5, "1.5" },
        { -2.5e-7, "-2.5e-07" },
        { 123456789012345680.0, "1.2345678901234568e+17" },
        { 100.0, "100" },
    };
    char text[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_double_round_trip(cases[i].v, text, sizeof text);
        if (cases[i].want != NULL && strcmp(text, cases[i].want) != 0) {
            fail_msg("%a written as '%s', want '%s'", cases[i].v, text, cases[i].want);
        }
    }
    /* Random bit patterns: every finite double round-trips. */
    uint64_t x = 0x243F6A8885A308D3u;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d)) {
            continue;
        }
        assert_true(write_double_round_trip(d, text, sizeof text) <= 24);
    }
}

/* keel_json_write_double's contract changes the buf only: the snprintf and
 * strtod_l behind it set errno (5e-324 reads back with ERANGE), and it
 * switches the thread's locale around snprintf, both of which must be as
 * they were afterwards. */
static void test_writer_double_leaves_errno_and_locale_alone(void **state)
{
    (void)state;
    static const double values[] = { 5e-324, 2.2250738585072009e-308, 1e-310, 0.1, 1e308 };
    locale_t before = uselocale((locale_t)0);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        keel_buf b = fresh_buf(64);
        keel_json_writer w;
        assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REPLACE), KEEL_OK);
        errno = EILSEQ;
        assert_int_equal(keel_json_write_double(&w, values[i]), KEEL_OK);
        if (errno != EILSEQ) {
            fail_msg("%a: errno %d after keel_json_write_double", values[i], errno);
        }
        assert_ptr_equal(uselocale((locale_t)0), before);
    }
}

/* ---- property test: random documents written, validated, read back ---- */

static uint64_t prng = 0x853C49E6748FEA9Bu;

static uint64_t rnd(uint64_t n)
{
    prng ^= prng << 13;
    prng ^= prng >> 7;
    prng ^= prng << 17;
    return prng % n;
}

/* A random valid UTF-8 string with the characters that need care. */
static size_t random_text(uint8_t *out)
{
    static const uint32_t picks[] = {
        '"',    '\\',    '/',      0,    0x1F,  0x7F,  0xE9,   0x20AC,
        0xFFFD, 0x1F600, 0x10FFFF, '\n', 0x7FF, 0x800, 0xFFFF, 0x10000
    };
    size_t n = 0;
    size_t chars = rnd(8);
    for (size_t k = 0; k < chars; k++) {
        uint32_t cp =
            rnd(3) == 0 ? picks[rnd(sizeof picks / sizeof picks[0])] : (uint32_t)(0x20 + rnd(0x5F));
        if (cp < 0x80) {
            out[n++] = (uint8_t)cp;
        } else if (cp < 0x800) {
            out[n++] = (uint8_t)(0xC0 | (cp >> 6));
            out[n++] = (uint8_t)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[n++] = (uint8_t)(0xE0 | (cp >> 12));
            out[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (uint8_t)(0x80 | (cp & 0x3F));
        } else {
            out[n++] = (uint8_t)(0xF0 | (cp >> 18));
            out[n++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            out[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (uint8_t)(0x80 | (cp & 0x3F));
        }
    }
    return n;
}

/* The model: every scalar and key in document order. */
typedef struct item {
    int kind; /* 0 i64, 1 u64, 2 double, 3 bool, 4 null, 5 string, 6 key, 7 open obj, 8 open arr, 9
                 close */
    int64_t i;
    uint64_t u;
    double d;
    uint8_t text[64];
    size_t len;
} item;

static item model[4096];
static size_t model_len;

static void gen_value(keel_json_writer *w, int depth);

static void gen_container(keel_json_writer *w, int depth, bool object)
{
    item *open = &model[model_len++];
    open->kind = object ? 7 : 8;
    assert_int_equal(object ? keel_json_write_object_begin(w) : keel_json_write_array_begin(w),
                     KEEL_OK);
    size_t n = rnd(5);
    for (size_t k = 0; k < n && model_len < 4000; k++) {
        if (object) {
            item *key = &model[model_len++];
            key->kind = 6;
            key->len = random_text(key->text);
            keel_slice s = { key->text, key->len };
            assert_int_equal(keel_json_write_key(w, s), KEEL_OK);
        }
        gen_value(w, depth + 1);
    }
    model[model_len++].kind = 9;
    assert_int_equal(object ? keel_json_write_object_end(w) : keel_json_write_array_end(w),
                     KEEL_OK);
}

static void gen_value(keel_json_writer *w, int depth)
{
    int kind = (int)rnd(depth < 4 ? 8 : 6);
    if (kind >= 6) {
        gen_container(w, depth, kind == 6);
        return;
    }
    item *it = &model[model_len++];
    it->kind = kind;
    keel_result r = KEEL_OK;
    switch (kind) {
    case 0:
        it->i = (int64_t)(rnd(UINT64_MAX) - (UINT64_MAX / 2));
        r = keel_json_write_i64(w, it->i);
        break;
    case 1:
        it->u = rnd(UINT64_MAX);
        r = keel_json_write_u64(w, it->u);
        break;
    case 2: {
        uint64_t x = rnd(UINT64_MAX);
        memcpy(&it->d, &x, sizeof x);
        if (!isfinite(it->d)) {
            it->d = (double)(int64_t)x / 7.0;
        }
        r = keel_json_write_double(w, it->d);
        break;
    }
    case 3:
        it->u = rnd(2);
        r = keel_json_write_bool(w, it->u != 0);
        break;
    case 4:
        r = keel_json_write_null(w);
        break;
    default: {
        it->len = random_text(it->text);
        keel_slice s = { it->text, it->len };
        r = keel_json_write_string(w, s);
        break;
    }
    }
    assert_int_equal(r, KEEL_OK);
}

static size_t check_pos;

static void check_value(const keel_json_value *v)
{
    const item *it = &model[check_pos++];
    int64_t i64;
    double d;
    bool b;
    uint8_t text[64];
    keel_buf tb;
    switch (it->kind) {
    case 0:
        assert_int_equal(keel_json_get_i64(v, &i64), KEEL_OK);
        assert_true(i64 == it->i);
        break;
    case 1: {
        keel_slice raw = v->raw;
        uint64_t u;
        assert_int_equal(keel_slice_parse_u64(raw, UINT64_MAX, &u), KEEL_OK);
        assert_true(u == it->u);
        break;
    }
    case 2:
        assert_int_equal(keel_json_get_double(v, &d), KEEL_OK);
        assert_true(bits_of(d) == bits_of(it->d));
        break;
    case 3:
        assert_int_equal(keel_json_get_bool(v, &b), KEEL_OK);
        assert_true(b == (it->u != 0));
        break;
    case 4:
        assert_true(keel_json_is_null(v));
        break;
    case 5:
        assert_int_equal(keel_buf_init(&tb, text, sizeof text), KEEL_OK);
        assert_int_equal(keel_json_get_string(v, &tb), KEEL_OK);
        assert_int_equal(tb.len, it->len);
        assert_memory_equal(text, it->text, it->len);
        break;
    default: {
        assert_int_equal(v->type, it->kind == 7 ? KEEL_JSON_T_OBJECT : KEEL_JSON_T_ARRAY);
        size_t pos = 0;
        keel_slice key;
        keel_json_value child;
        while (keel_json_next_child(v, &pos, &key, &child) == KEEL_OK) {
            if (it->kind == 7) {
                const item *k = &model[check_pos++];
                assert_int_equal(k->kind, 6);
                keel_json_value kv = { KEEL_JSON_T_STRING, key, 0 };
                keel_slice want = { k->text, k->len };
                assert_true(keel_json_string_eq(&kv, want));
            }
            check_value(&child);
        }
        assert_int_equal(model[check_pos++].kind, 9);
        break;
    }
    }
}

static void test_writer_random_documents_validate_and_read_back(void **state)
{
    (void)state;
    for (int doc_no = 0; doc_no < 2000; doc_no++) {
        keel_buf b = fresh_buf(sizeof storage);
        keel_json_writer w;
        assert_int_equal(keel_json_writer_init(&w, &b, 0, KEEL_JSON_UTF8_REJECT), KEEL_OK);
        model_len = 0;
        gen_value(&w, 0);
        assert_int_equal(keel_json_writer_finish(&w), KEEL_OK);
        keel_json_doc doc;
        keel_json_error err;
        /* The generator may repeat a key in an object (the writer does not
         * track keys): read back with them allowed, in document order. */
        keel_json_parse_options o = { 0, true };
        if (keel_json_parse_opts(keel_buf_slice(&b), &o, &doc, &err) != KEEL_OK) {
            fail_msg("document %d does not validate at %zu: %.*s", doc_no, err.offset, (int)b.len,
                     (const char *)b.ptr);
        }
        check_pos = 0;
        check_value(&doc.root);
        assert_int_equal(check_pos, model_len);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_builds_a_document_with_commas_and_colons),
        cmocka_unit_test(test_writer_scalars_at_top_level),
        cmocka_unit_test(test_writer_escapes_all_control_characters_and_round_trips),
        cmocka_unit_test(test_writer_replaces_each_maximal_invalid_subpart),
        cmocka_unit_test(test_writer_state_errors_change_nothing),
        cmocka_unit_test(test_writer_invalid_arguments),
        cmocka_unit_test(test_writer_depth_limit_is_too_large),
        cmocka_unit_test(test_writer_too_large_is_all_or_nothing_and_retryable),
        cmocka_unit_test(test_writer_doubles_round_trip_shortest),
        cmocka_unit_test(test_writer_double_leaves_errno_and_locale_alone),
        cmocka_unit_test(test_writer_random_documents_validate_and_read_back),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

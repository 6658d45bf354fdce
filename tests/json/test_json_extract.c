/*
 * tests/json/test_json_extract.c - keel_json_extract: a table of fields
 * filled from a document in one walk. The showcase's struct, nested
 * objects, optional and null fields, VALUE fields, keys matched decoded and
 * at their own level only; each failure with its own result, the field it
 * names and the offset (missing, wrong type, top level not an object, out
 * of range, a string that does not fit, invalid JSON, a repeated key);
 * nothing written on a failure the walk finds; malformed tables refused
 * before the document is read. A document set is checked against
 * keel_json_parse + keel_json_member + keel_json_get_*.
 */
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

#define SENTINEL_I64 ((int64_t)-777)

/* The showcase's Data { number: i64, boolean: bool }. */
typedef struct data {
    int64_t number;
    bool boolean;
    bool has_number;
    bool has_boolean;
} data;

static void data_fields(data *d, keel_json_field f[2])
{
    memset(f, 0, 2 * sizeof f[0]);
    f[0].name = KEEL_STR("number");
    f[0].type = KEEL_JSON_FIELD_I64;
    f[0].required = true;
    f[0].i64 = &d->number;
    f[0].present = &d->has_number;
    f[1].name = KEEL_STR("boolean");
    f[1].type = KEEL_JSON_FIELD_BOOL;
    f[1].required = true;
    f[1].flag = &d->boolean;
    f[1].present = &d->has_boolean;
}

static void data_reset(data *d)
{
    d->number = SENTINEL_I64;
    d->boolean = false;
    d->has_number = true;
    d->has_boolean = false;
}

static keel_result extract_data(const char *doc, data *d, keel_json_field f[2],
                                keel_json_extract_error *e)
{
    data_fields(d, f);
    data_reset(d);
    return keel_json_extract(keel_slice_cstr(doc), f, 2, NULL, e);
}

static void test_showcase_body_fills_the_struct(void **state)
{
    (void)state;
    data d;
    keel_json_field f[2];
    keel_json_extract_error e;
    assert_int_equal(extract_data("{\"number\": 5, \"boolean\": true}", &d, f, &e), KEEL_OK);
    assert_true(d.number == 5 && d.boolean && d.has_number && d.has_boolean);
    assert_null(e.field);
    assert_int_equal(e.field_index, 0);
    assert_int_equal(e.json.reason, KEEL_JSON_OK);
    /* Members in any order, unknown members skipped, whitespace anywhere. */
    assert_int_equal(extract_data(" {\"x\": [1, {\"number\": 9}], \"boolean\" : false,\n"
                                  "\"number\":-12, \"y\": \"\\u0041\"} ",
                                  &d, f, &e),
                     KEEL_OK);
    assert_true(d.number == -12 && !d.boolean);
    /* err may be NULL. */
    data_fields(&d, f);
    data_reset(&d);
    assert_int_equal(keel_json_extract(KEEL_STR("{\"boolean\": true, \"number\": 0}"), f, 2, NULL,
                                       NULL),
                     KEEL_OK);
    assert_true(d.number == 0 && d.boolean);
}

static void test_keys_match_decoded_and_at_their_own_level_only(void **state)
{
    (void)state;
    data d;
    keel_json_field f[2];
    keel_json_extract_error e;
    assert_int_equal(extract_data("{\"n\\u0075mber\": 7, \"\\u0062oolean\": true}", &d, f, &e),
                     KEEL_OK);
    assert_true(d.number == 7 && d.boolean);
    /* "number" inside another object or an array is not the top level's. */
    const char *doc = "{\"inner\": {\"number\": 1}, \"list\": [{\"number\": 2}], \"boolean\": true}";
    assert_int_equal(extract_data(doc, &d, f, &e), KEEL_ERR_NOT_FOUND);
    assert_ptr_equal(e.field, &f[0]);
    assert_int_equal(e.field_index, 1);
    assert_int_equal(e.offset, 0); /* the top-level object's '{' */
    assert_true(d.number == SENTINEL_I64 && !d.boolean && d.has_number);
    /* A prefix or an extension of a name is another name. */
    assert_int_equal(extract_data("{\"numbe\": 1, \"numbers\": 2, \"boolean\": true}", &d, f, &e),
                     KEEL_ERR_NOT_FOUND);
    assert_ptr_equal(e.field, &f[0]);
}

/* The benchmark's struct: nested objects, a string, a VALUE field. */
typedef struct user_doc {
    int64_t number;
    bool boolean;
    int64_t zip;
    double score;
    keel_json_value items;
    keel_json_value note;
    keel_buf name;
    uint8_t name_bytes[32];
    bool has_score;
    bool has_note;
    bool has_zip;
} user_doc;

enum { F_NUMBER, F_BOOLEAN, F_USER, F_NAME, F_ADDRESS, F_ZIP, F_ITEMS, F_SCORE, F_NOTE, F_COUNT };

static void user_fields(user_doc *u, keel_json_field f[F_COUNT], bool zip_required)
{
    memset(u, 0, sizeof *u);
    u->number = SENTINEL_I64;
    u->zip = SENTINEL_I64;
    u->score = -1.0;
    u->has_score = true;
    u->has_note = true;
    assert_int_equal(keel_buf_init(&u->name, u->name_bytes, sizeof u->name_bytes), KEEL_OK);
    memset(f, 0, F_COUNT * sizeof f[0]);
    f[F_NUMBER] = (keel_json_field){ .name = KEEL_STR("number"), .type = KEEL_JSON_FIELD_I64,
                                     .required = true, .i64 = &u->number };
    f[F_BOOLEAN] = (keel_json_field){ .name = KEEL_STR("boolean"), .type = KEEL_JSON_FIELD_BOOL,
                                      .flag = &u->boolean };
    f[F_USER] = (keel_json_field){ .name = KEEL_STR("user"), .type = KEEL_JSON_FIELD_OBJECT };
    f[F_NAME] = (keel_json_field){ .name = KEEL_STR("name"), .type = KEEL_JSON_FIELD_STRING,
                                   .required = true, .parent = F_USER + 1, .string = &u->name };
    f[F_ADDRESS] = (keel_json_field){ .name = KEEL_STR("address"), .type = KEEL_JSON_FIELD_OBJECT,
                                      .parent = F_USER + 1 };
    f[F_ZIP] = (keel_json_field){ .name = KEEL_STR("zip"), .type = KEEL_JSON_FIELD_I64,
                                  .required = zip_required, .parent = F_ADDRESS + 1,
                                  .i64 = &u->zip, .present = &u->has_zip };
    f[F_ITEMS] = (keel_json_field){ .name = KEEL_STR("items"), .type = KEEL_JSON_FIELD_VALUE,
                                    .required = true, .value = &u->items };
    f[F_SCORE] = (keel_json_field){ .name = KEEL_STR("score"), .type = KEEL_JSON_FIELD_DOUBLE,
                                    .f64 = &u->score, .present = &u->has_score };
    f[F_NOTE] = (keel_json_field){ .name = KEEL_STR("note"), .type = KEEL_JSON_FIELD_VALUE,
                                   .value = &u->note, .present = &u->has_note };
}

static const char user_text[] =
    "{\"number\": 5, \"boolean\": true, \"user\": {\"name\": \"Zo\\u00eb \\\"Z\\\" Ada\", "
    "\"id\": 1815, \"email\": \"ada@example.org\", \"address\": {\"city\": \"London\", "
    "\"zip\": 12345}}, \"items\": [{\"id\": 101, \"qty\": 2}, {\"id\": 102, \"qty\": 1}, "
    "{\"id\": 103, \"qty\": 7}], \"tags\": [\"new\", \"priority\"], \"note\": null}";

static void test_nested_objects_strings_and_values(void **state)
{
    (void)state;
    user_doc u;
    keel_json_field f[F_COUNT];
    keel_json_extract_error e;
    user_fields(&u, f, true);
    keel_slice doc = keel_slice_cstr(user_text);
    assert_int_equal(keel_json_extract(doc, f, F_COUNT, NULL, &e), KEEL_OK);
    assert_true(u.number == 5 && u.boolean && u.zip == 12345 && u.has_zip);
    assert_int_equal(u.name.len, strlen("Zo\xc3\xab \"Z\" Ada"));
    assert_memory_equal(u.name.ptr, "Zo\xc3\xab \"Z\" Ada", u.name.len);
    /* score is absent: unset, present false. */
    assert_true(u.score == -1.0 && !u.has_score);
    /* items: the array's exact bytes, usable with the lookups. */
    const char *items = strstr(user_text, "[{\"id\": 101");
    assert_int_equal(u.items.type, KEEL_JSON_T_ARRAY);
    assert_int_equal(u.items.offset, (size_t)(items - user_text));
    assert_ptr_equal(u.items.raw.ptr, (const uint8_t *)items);
    assert_int_equal(u.items.raw.len, strlen("[{\"id\": 101, \"qty\": 2}, {\"id\": 102, \"qty\": 1}, "
                                             "{\"id\": 103, \"qty\": 7}]"));
    keel_json_value v;
    int64_t id = 0;
    assert_int_equal(keel_json_find(&u.items, KEEL_STR("[2].id"), &v), KEEL_OK);
    assert_int_equal(keel_json_get_i64(&v, &id), KEEL_OK);
    assert_true(id == 103);
    /* note: a VALUE field takes null as a value. */
    assert_true(u.has_note && keel_json_is_null(&u.note));
    assert_int_equal(u.note.raw.len, 4);
}

static void test_optional_and_null_fields(void **state)
{
    (void)state;
    user_doc u;
    keel_json_field f[F_COUNT];
    keel_json_extract_error e;
    /* Optional fields absent or null: unset; an absent optional object's
     * required members are not looked for. */
    user_fields(&u, f, true);
    assert_int_equal(keel_json_extract(KEEL_STR("{\"number\": 1, \"boolean\": null, \"score\": null, "
                                                "\"items\": 3, \"user\": null}"),
                                       f, F_COUNT, NULL, &e),
                     KEEL_OK);
    assert_true(u.number == 1 && !u.boolean && u.score == -1.0 && !u.has_score && !u.has_note &&
                !u.has_zip && u.name.len == 0);
    assert_int_equal(u.items.type, KEEL_JSON_T_NUMBER);
    /* The object there, zip optional and missing: fine, has_zip false. */
    user_fields(&u, f, false);
    assert_int_equal(keel_json_extract(KEEL_STR("{\"number\": 1, \"items\": {}, \"score\": 2.5e1, "
                                                "\"user\": {\"name\": \"a\", \"address\": {}}}"),
                                       f, F_COUNT, NULL, &e),
                     KEEL_OK);
    assert_true(u.score == 25.0 && u.has_score && !u.has_zip && u.zip == SENTINEL_I64);
    assert_int_equal(u.items.type, KEEL_JSON_T_OBJECT);
    assert_int_equal(u.items.raw.len, 2);
    /* zip required and missing: NOT_FOUND at address's '{'. */
    user_fields(&u, f, true);
    const char *doc = "{\"number\": 1, \"items\": {}, \"user\": {\"name\": \"a\", \"address\": {\"zap\": 1}}}";
    assert_int_equal(keel_json_extract(keel_slice_cstr(doc), f, F_COUNT, NULL, &e),
                     KEEL_ERR_NOT_FOUND);
    assert_ptr_equal(e.field, &f[F_ZIP]);
    assert_int_equal(e.field_index, F_ZIP + 1);
    assert_int_equal(e.offset, (size_t)(strstr(doc, "{\"zap\"") - doc));
    assert_true(u.number == SENTINEL_I64 && u.name.len == 0); /* nothing written */
    /* A required field set to null is the wrong type. */
    user_fields(&u, f, true);
    doc = "{\"number\": null, \"items\": 1}";
    assert_int_equal(keel_json_extract(keel_slice_cstr(doc), f, F_COUNT, NULL, &e), KEEL_ERR_TYPE);
    assert_ptr_equal(e.field, &f[F_NUMBER]);
    assert_int_equal(e.got, KEEL_JSON_T_NULL);
    assert_int_equal(e.offset, 11);
}

static void test_wrong_types_name_the_field_and_the_type_found(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        size_t field;
        keel_json_type got;
        const char *at; /* the value's text, found in doc */
    } cases[] = {
        { "{\"number\": \"5\", \"items\": 1}", F_NUMBER, KEEL_JSON_T_STRING, "\"5\"" },
        { "{\"number\": 5.0, \"items\": 1}", F_NUMBER, KEEL_JSON_T_NUMBER, "5.0" },
        { "{\"number\": 1e2, \"items\": 1}", F_NUMBER, KEEL_JSON_T_NUMBER, "1e2" },
        { "{\"number\": [5], \"items\": 1}", F_NUMBER, KEEL_JSON_T_ARRAY, "[5]" },
        { "{\"number\": 5, \"boolean\": 1, \"items\": 1}", F_BOOLEAN, KEEL_JSON_T_NUMBER, "1," },
        { "{\"number\": 5, \"boolean\": \"true\", \"items\": 1}", F_BOOLEAN, KEEL_JSON_T_STRING,
          "\"true\"" },
        { "{\"number\": 5, \"items\": 1, \"user\": [1]}", F_USER, KEEL_JSON_T_ARRAY, "[1]" },
        { "{\"number\": 5, \"items\": 1, \"user\": {\"name\": 7}}", F_NAME, KEEL_JSON_T_NUMBER,
          "7}" },
        { "{\"number\": 5, \"items\": 1, \"score\": false}", F_SCORE, KEEL_JSON_T_BOOL, "false" },
        /* The first in the document wins. */
        { "{\"score\": {}, \"number\": \"x\", \"items\": 1}", F_SCORE, KEEL_JSON_T_OBJECT, "{}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        user_doc u;
        keel_json_field f[F_COUNT];
        keel_json_extract_error e;
        user_fields(&u, f, false);
        keel_result r = keel_json_extract(keel_slice_cstr(cases[i].doc), f, F_COUNT, NULL, &e);
        if (r != KEEL_ERR_TYPE || e.field != &f[cases[i].field] || e.got != cases[i].got ||
            e.offset != (size_t)(strstr(cases[i].doc, cases[i].at) - cases[i].doc)) {
            fail_msg("case %zu (%s): %s, field %zu, got %d, offset %zu", i, cases[i].doc,
                     keel_result_str(r), e.field_index, (int)e.got, e.offset);
        }
        assert_true(u.number == SENTINEL_I64 && !u.boolean && u.name.len == 0);
        assert_int_equal(e.json.reason, KEEL_JSON_OK);
    }
}

static void test_top_level_must_be_an_object(void **state)
{
    (void)state;
    data d;
    keel_json_field f[2];
    keel_json_extract_error e;
    static const struct {
        const char *doc;
        keel_json_type got;
        size_t at;
    } cases[] = {
        { "[1, 2]", KEEL_JSON_T_ARRAY, 0 }, { "  5", KEEL_JSON_T_NUMBER, 2 },
        { "\"x\"", KEEL_JSON_T_STRING, 0 }, { "null", KEEL_JSON_T_NULL, 0 },
        { "true", KEEL_JSON_T_BOOL, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(extract_data(cases[i].doc, &d, f, &e), KEEL_ERR_TYPE);
        assert_null(e.field);
        assert_int_equal(e.field_index, 0);
        assert_int_equal(e.got, cases[i].got);
        assert_int_equal(e.offset, cases[i].at);
    }
    /* An empty table takes any object, and still validates it. */
    assert_int_equal(keel_json_extract(KEEL_STR("{\"a\": [1, {\"b\": null}]}"), NULL, 0, NULL, &e),
                     KEEL_OK);
    assert_int_equal(keel_json_extract(KEEL_STR("{\"a\": [1, {\"b\": nul}]}"), NULL, 0, NULL, &e),
                     KEEL_ERR_PARSE);
    assert_int_equal(e.json.reason, KEEL_JSON_BAD_LITERAL);
}

static void test_invalid_json_wins_and_writes_nothing(void **state)
{
    (void)state;
    data d;
    keel_json_field f[2];
    keel_json_extract_error e;
    /* Both fields good, then a trailing comma: the document's error. */
    const char *doc = "{\"number\": 5, \"boolean\": true,}";
    assert_int_equal(extract_data(doc, &d, f, &e), KEEL_ERR_PARSE);
    assert_null(e.field);
    assert_int_equal(e.json.reason, KEEL_JSON_UNEXPECTED_BYTE);
    assert_int_equal(e.json.offset, strlen(doc) - 1);
    assert_int_equal(e.offset, e.json.offset);
    assert_true(d.number == SENTINEL_I64 && !d.boolean && d.has_number && !d.has_boolean);
    /* A field error before a grammar error: the grammar error wins. */
    assert_int_equal(extract_data("{\"number\": \"x\", \"boolean\": tru}", &d, f, &e),
                     KEEL_ERR_PARSE);
    assert_int_equal(e.json.reason, KEEL_JSON_BAD_LITERAL);
    assert_null(e.field);
    /* Truncated: INCOMPLETE at the end. */
    assert_int_equal(extract_data("{\"number\": 5, \"boolean\": tr", &d, f, &e),
                     KEEL_ERR_INCOMPLETE);
    assert_int_equal(e.json.reason, KEEL_JSON_UNEXPECTED_END);
    assert_int_equal(e.json.offset, strlen("{\"number\": 5, \"boolean\": tr"));
    /* Too deep for the options' max_depth. */
    data_fields(&d, f);
    keel_json_parse_options o = { 2, false };
    assert_int_equal(keel_json_extract(KEEL_STR("{\"number\": 1, \"boolean\": true, \"x\": [[1]]}"),
                                       f, 2, &o, &e),
                     KEEL_ERR_TOO_LARGE);
    assert_int_equal(e.json.reason, KEEL_JSON_TOO_DEEP);
    assert_null(e.field);
    /* Trailing data. */
    assert_int_equal(extract_data("{\"number\": 5, \"boolean\": true} {}", &d, f, &e),
                     KEEL_ERR_PARSE);
    assert_int_equal(e.json.reason, KEEL_JSON_TRAILING_DATA);
}

static void test_repeated_keys_refused_unless_allowed_then_first_counts(void **state)
{
    (void)state;
    data d;
    keel_json_field f[2];
    keel_json_extract_error e;
    const char *doc = "{\"number\": 1, \"boolean\": true, \"number\": 2}";
    assert_int_equal(extract_data(doc, &d, f, &e), KEEL_ERR_PARSE);
    assert_int_equal(e.json.reason, KEEL_JSON_DUPLICATE_KEY);
    assert_int_equal(e.json.offset, 31); /* the second "number" */
    assert_true(d.number == SENTINEL_I64);
    /* Repeats of names the table does not hold are refused too. */
    assert_int_equal(extract_data("{\"number\": 1, \"boolean\": true, \"x\": {\"a\": 1, \"\\u0061\": 2}}",
                                  &d, f, &e),
                     KEEL_ERR_PARSE);
    assert_int_equal(e.json.reason, KEEL_JSON_DUPLICATE_KEY);
    data_fields(&d, f);
    data_reset(&d);
    keel_json_parse_options o = { 0, true };
    assert_int_equal(keel_json_extract(keel_slice_cstr(doc), f, 2, &o, &e), KEEL_OK);
    assert_true(d.number == 1 && d.boolean);
    /* The first member decides, even when a later one would fail. */
    data_reset(&d);
    assert_int_equal(keel_json_extract(KEEL_STR("{\"number\": 3, \"number\": \"x\", \"boolean\": false}"),
                                       f, 2, &o, &e),
                     KEEL_OK);
    assert_true(d.number == 3);
}

static void test_conversion_failures_too_large(void **state)
{
    (void)state;
    data d;
    keel_json_field f[2];
    keel_json_extract_error e;
    const char *doc = "{\"boolean\": true, \"number\": 9223372036854775808}";
    assert_int_equal(extract_data(doc, &d, f, &e), KEEL_ERR_TOO_LARGE);
    assert_ptr_equal(e.field, &f[0]);
    assert_int_equal(e.offset, (size_t)(strstr(doc, "9223") - doc));
    assert_int_equal(e.got, 0);
    assert_int_equal(e.json.reason, KEEL_JSON_OK);
    /* Nothing written: the boolean converted fine but waits for all. */
    assert_true(d.number == SENTINEL_I64 && !d.boolean && d.has_number && !d.has_boolean);
    assert_int_equal(extract_data("{\"boolean\": true, \"number\": -9223372036854775808}", &d, f, &e),
                     KEEL_OK);
    assert_true(d.number == INT64_MIN);
    /* A double beyond range. */
    double x = 0;
    keel_json_field g = { .name = KEEL_STR("x"), .type = KEEL_JSON_FIELD_DOUBLE, .f64 = &x };
    assert_int_equal(keel_json_extract(KEEL_STR("{\"x\": 1e400}"), &g, 1, NULL, &e),
                     KEEL_ERR_TOO_LARGE);
    assert_ptr_equal(e.field, &g);
    assert_true(x == 0);
    /* Strings: the first fits, the second does not; the first stays
     * appended (all or nothing per string), the number is not written. */
    uint8_t a_bytes[8];
    uint8_t b_bytes[4];
    keel_buf a;
    keel_buf b;
    int64_t n = SENTINEL_I64;
    assert_int_equal(keel_buf_init(&a, a_bytes, sizeof a_bytes), KEEL_OK);
    assert_int_equal(keel_buf_init(&b, b_bytes, sizeof b_bytes), KEEL_OK);
    keel_json_field s[3] = {
        { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_I64, .i64 = &n },
        { .name = KEEL_STR("a"), .type = KEEL_JSON_FIELD_STRING, .string = &a },
        { .name = KEEL_STR("b"), .type = KEEL_JSON_FIELD_STRING, .string = &b },
    };
    const char *sdoc = "{\"b\": \"\\u00e9\\u00e9\\u00e9\", \"a\": \"ok\", \"n\": 4}";
    assert_int_equal(keel_json_extract(keel_slice_cstr(sdoc), s, 3, NULL, &e), KEEL_ERR_TOO_LARGE);
    assert_ptr_equal(e.field, &s[2]);
    assert_int_equal(e.offset, 6);
    assert_int_equal(a.len, 2);
    assert_memory_equal(a.ptr, "ok", 2);
    assert_int_equal(b.len, 0);
    assert_true(n == SENTINEL_I64);
    /* Room for it: six bytes of UTF-8 from 18 of escapes. */
    uint8_t c_bytes[6];
    assert_int_equal(keel_buf_init(&b, c_bytes, sizeof c_bytes), KEEL_OK);
    a.len = 0;
    assert_int_equal(keel_json_extract(keel_slice_cstr(sdoc), s, 3, NULL, &e), KEEL_OK);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.ptr, "\xc3\xa9\xc3\xa9\xc3\xa9", 6);
    assert_true(n == 4);
}

static void test_malformed_tables_are_invalid_arg_before_reading(void **state)
{
    (void)state;
    int64_t n = 0;
    bool flag = false;
    uint8_t bytes[4];
    keel_buf bad_buf = { bytes, 4, 5 }; /* len > cap */
    keel_json_extract_error e;
    keel_json_field ok = { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_I64, .i64 = &n };
    /* Even a document that is not JSON: the table is refused first. */
    keel_slice junk = KEEL_STR("not json");
    struct {
        keel_json_field f[2];
        size_t count;
    } cases[] = {
        { { { .name = { NULL, 3 }, .type = KEEL_JSON_FIELD_I64, .i64 = &n } }, 1 },
        { { { .name = KEEL_STR("n"), .type = (keel_json_field_type)0, .i64 = &n } }, 1 },
        { { { .name = KEEL_STR("n"), .type = (keel_json_field_type)7, .i64 = &n } }, 1 },
        { { { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_I64 } }, 1 },
        { { { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_DOUBLE, .i64 = &n } }, 1 },
        { { { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_BOOL } }, 1 },
        { { { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_STRING } }, 1 },
        { { { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_STRING, .string = &bad_buf } }, 1 },
        { { { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_VALUE } }, 1 },
        /* parent: itself, a later entry, not an object */
        { { { .name = KEEL_STR("o"), .type = KEEL_JSON_FIELD_OBJECT, .parent = 1 } }, 1 },
        { { { .name = KEEL_STR("o"), .type = KEEL_JSON_FIELD_OBJECT, .parent = 2 },
            { .name = KEEL_STR("p"), .type = KEEL_JSON_FIELD_OBJECT } },
          2 },
        { { { .name = KEEL_STR("b"), .type = KEEL_JSON_FIELD_BOOL, .flag = &flag },
            { .name = KEEL_STR("n"), .type = KEEL_JSON_FIELD_I64, .parent = 1, .i64 = &n } },
          2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        e.field = &ok;
        if (keel_json_extract(junk, cases[i].f, cases[i].count, NULL, &e) != KEEL_ERR_INVALID_ARG ||
            e.field != NULL) {
            fail_msg("case %zu accepted", i);
        }
    }
    assert_int_equal(keel_json_extract(junk, NULL, 1, NULL, &e), KEEL_ERR_INVALID_ARG);
    keel_json_field many[KEEL_JSON_FIELDS_MAX + 1];
    for (size_t i = 0; i < KEEL_JSON_FIELDS_MAX + 1; i++) {
        many[i] = ok;
    }
    assert_int_equal(keel_json_extract(junk, many, KEEL_JSON_FIELDS_MAX + 1, NULL, &e),
                     KEEL_ERR_INVALID_ARG);
    /* 64 fields is the limit, not past it. */
    assert_int_equal(keel_json_extract(KEEL_STR("{\"n\": 3}"), many, KEEL_JSON_FIELDS_MAX, NULL, &e),
                     KEEL_OK);
    assert_true(n == 3);
    keel_slice broken = { NULL, 2 };
    assert_int_equal(keel_json_extract(broken, &ok, 1, NULL, &e), KEEL_ERR_INVALID_ARG);
    keel_json_parse_options deep = { KEEL_JSON_DEPTH_CAP + 1, false };
    assert_int_equal(keel_json_extract(KEEL_STR("{}"), &ok, 1, &deep, &e), KEEL_ERR_INVALID_ARG);
}

/* keel_json_extract against keel_json_parse + member + get_*, on a set of
 * documents with one flat table of every scalar type. */
static void test_agrees_with_parse_and_member_lookups(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"i\": 1, \"d\": 2.5, \"b\": false, \"s\": \"x\\ty\"}",
        "{\"s\": \"\", \"i\": -0, \"d\": -0.0, \"b\": true, \"extra\": [[[]]]}",
        "{\"i\": 123456789012, \"d\": 1e-300, \"s\": \"\\ud83d\\ude00\"}",
        "{\"d\": 7, \"i\": 7}",
        "{\"i\": 1.5}",
        "{\"s\": 1}",
        "{\"b\": null, \"d\": null}",
        "{}",
        "{\"i\": 99999999999999999999}",
        "{\"I\": 1, \"i \": 2, \" i\": 3}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        int64_t iv = 0;
        double dv = 0;
        bool bv = false;
        uint8_t sb[16];
        keel_buf s;
        bool has[4] = { false, false, false, false };
        assert_int_equal(keel_buf_init(&s, sb, sizeof sb), KEEL_OK);
        keel_json_field f[4] = {
            { .name = KEEL_STR("i"), .type = KEEL_JSON_FIELD_I64, .i64 = &iv, .present = &has[0] },
            { .name = KEEL_STR("d"), .type = KEEL_JSON_FIELD_DOUBLE, .f64 = &dv, .present = &has[1] },
            { .name = KEEL_STR("b"), .type = KEEL_JSON_FIELD_BOOL, .flag = &bv, .present = &has[2] },
            { .name = KEEL_STR("s"), .type = KEEL_JSON_FIELD_STRING, .string = &s,
              .present = &has[3] },
        };
        keel_json_extract_error e;
        keel_result r = keel_json_extract(keel_slice_cstr(docs[i]), f, 4, NULL, &e);

        /* The reference: parse, then each member looked up and read. */
        keel_json_doc d;
        assert_int_equal(keel_json_parse(keel_slice_cstr(docs[i]), 0, &d, NULL), KEEL_OK);
        keel_result want = KEEL_OK;
        int64_t ri = 0;
        double rd = 0;
        bool rb = false;
        uint8_t rsb[16];
        keel_buf rs;
        bool rhas[4] = { false, false, false, false };
        assert_int_equal(keel_buf_init(&rs, rsb, sizeof rsb), KEEL_OK);
        for (size_t k = 0; k < 4 && want == KEEL_OK; k++) {
            keel_json_value v;
            if (keel_json_member(&d.root, f[k].name, &v) != KEEL_OK || keel_json_is_null(&v)) {
                continue;
            }
            rhas[k] = true;
            want = k == 0   ? keel_json_get_i64(&v, &ri)
                   : k == 1 ? keel_json_get_double(&v, &rd)
                   : k == 2 ? keel_json_get_bool(&v, &rb)
                            : keel_json_get_string(&v, &rs);
        }
        if (r != want) {
            fail_msg("doc %zu (%s): extract %s, lookups %s", i, docs[i], keel_result_str(r),
                     keel_result_str(want));
        }
        if (r == KEEL_OK) {
            assert_memory_equal(has, rhas, sizeof has);
            assert_true(!has[0] || iv == ri);
            assert_true(!has[1] || memcmp(&dv, &rd, sizeof dv) == 0);
            assert_true(!has[2] || bv == rb);
            assert_int_equal(s.len, rs.len);
            assert_memory_equal(s.ptr, rs.ptr, s.len);
        }
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_showcase_body_fills_the_struct),
        cmocka_unit_test(test_keys_match_decoded_and_at_their_own_level_only),
        cmocka_unit_test(test_nested_objects_strings_and_values),
        cmocka_unit_test(test_optional_and_null_fields),
        cmocka_unit_test(test_wrong_types_name_the_field_and_the_type_found),
        cmocka_unit_test(test_top_level_must_be_an_object),
        cmocka_unit_test(test_invalid_json_wins_and_writes_nothing),
        cmocka_unit_test(test_repeated_keys_refused_unless_allowed_then_first_counts),
        cmocka_unit_test(test_conversion_failures_too_large),
        cmocka_unit_test(test_malformed_tables_are_invalid_arg_before_reading),
        cmocka_unit_test(test_agrees_with_parse_and_member_lookups),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

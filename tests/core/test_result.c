/*
 * tests/core/test_result.c - every keel_result value has a distinct, non-empty
 * name and description; unknown values are described as unknown; KEEL_TRY
 * propagates the first failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/result.h"

static void test_ok_is_zero(void **state)
{
    (void)state;
    assert_int_equal(KEEL_OK, 0);
    assert_string_equal(keel_result_name(KEEL_OK), "KEEL_OK");
}

static void test_every_value_has_distinct_texts(void **state)
{
    (void)state;
    for (int i = 0; i < KEEL_RESULT_COUNT; i++) {
        const char *name = keel_result_name((keel_result)i);
        const char *desc = keel_result_str((keel_result)i);
        assert_non_null(name);
        assert_non_null(desc);
        assert_true(strncmp(name, "KEEL_", 5) == 0);
        assert_true(strlen(desc) > 0);
        assert_string_not_equal(desc, "unknown keel_result");
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(name, keel_result_name((keel_result)j));
            assert_string_not_equal(desc, keel_result_str((keel_result)j));
        }
    }
    /* the last value is where KEEL_RESULT_COUNT says it is */
    assert_string_equal(keel_result_name(KEEL_ERR_TYPE), "KEEL_ERR_TYPE");
    assert_int_equal(KEEL_ERR_TYPE + 1, KEEL_RESULT_COUNT);
}

static void test_names_match_enumerators(void **state)
{
    (void)state;
    assert_string_equal(keel_result_name(KEEL_ERR_TIMEOUT), "KEEL_ERR_TIMEOUT");
    assert_string_equal(keel_result_name(KEEL_ERR_TRUNCATED), "KEEL_ERR_TRUNCATED");
    assert_string_equal(keel_result_name(KEEL_ERR_INCOMPLETE), "KEEL_ERR_INCOMPLETE");
    assert_string_equal(keel_result_name(KEEL_ERR_PARSE), "KEEL_ERR_PARSE");
    assert_string_equal(keel_result_str(KEEL_ERR_REFUSED), "connection refused");
    /* The TLS results keep their numbers whether or not the TLS layer is built. */
    assert_int_equal(KEEL_ERR_TLS_CONFIG, 18);
    assert_string_equal(keel_result_name(KEEL_ERR_TLS_CONFIG), "KEEL_ERR_TLS_CONFIG");
    assert_string_equal(keel_result_name(KEEL_ERR_TLS_HANDSHAKE), "KEEL_ERR_TLS_HANDSHAKE");
    assert_string_equal(keel_result_name(KEEL_ERR_TLS_VERIFY), "KEEL_ERR_TLS_VERIFY");
    assert_string_equal(keel_result_name(KEEL_ERR_TLS_ALERT), "KEEL_ERR_TLS_ALERT");
    assert_string_equal(keel_result_name(KEEL_ERR_TLS_PROTOCOL), "KEEL_ERR_TLS_PROTOCOL");
    assert_string_equal(keel_result_str(KEEL_ERR_TLS_TRUNCATED), "TLS closed without close_notify");
}

static void test_unknown_values(void **state)
{
    (void)state;
    assert_string_equal(keel_result_str((keel_result)KEEL_RESULT_COUNT), "unknown keel_result");
    assert_string_equal(keel_result_str((keel_result)-1), "unknown keel_result");
    assert_string_equal(keel_result_name((keel_result)999), "KEEL_ERR_UNKNOWN");
}

/* KEEL_TRY: each call below is counted, so that "evaluated once" and
 * "stops at the first failure" are both observed. */
static int try_calls;
static keel_result try_step(keel_result r)
{
    try_calls++;
    return r;
}
static keel_result try_three(keel_result a, keel_result b, keel_result c)
{
    KEEL_TRY(try_step(a));
    KEEL_TRY(try_step(b));
    KEEL_TRY(try_step(c));
    return KEEL_OK;
}

static void test_try_propagates_the_first_failure_and_evaluates_once(void **state)
{
    (void)state;
    try_calls = 0;
    assert_int_equal(try_three(KEEL_OK, KEEL_OK, KEEL_OK), KEEL_OK);
    assert_int_equal(try_calls, 3);
    try_calls = 0;
    assert_int_equal(try_three(KEEL_OK, KEEL_ERR_TIMEOUT, KEEL_ERR_PARSE), KEEL_ERR_TIMEOUT);
    assert_int_equal(try_calls, 2);
    try_calls = 0;
    assert_int_equal(try_three(KEEL_ERR_OS, KEEL_OK, KEEL_OK), KEEL_ERR_OS);
    assert_int_equal(try_calls, 1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_is_zero),
        cmocka_unit_test(test_every_value_has_distinct_texts),
        cmocka_unit_test(test_names_match_enumerators),
        cmocka_unit_test(test_unknown_values),
        cmocka_unit_test(test_try_propagates_the_first_failure_and_evaluates_once),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

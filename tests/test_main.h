/*
 * tests/test_main.h - the main() of every cmocka test program, so that each
 * test case is its own CTest entry (one process per case: a hang or a crash
 * fails that case alone, and CI names it). Under valgrind (KEEL_VALGRIND)
 * a program's cases run in one process instead (tests/run_all_cases.sh).
 *
 *   test_x              run every case of the file, in order
 *   test_x --list       print the case names, one per line, and exit 0
 *                       (tests/CMakeLists.txt registers one CTest test per
 *                       line, named "<file>.<case>": test_net_tcp.c's
 *                       test_accept_x is "net_tcp.accept_x")
 *   test_x CASE         run the one case named CASE (with or without its
 *                       "test_" prefix); an unknown name is an error, never
 *                       a run of zero cases that passes
 *
 * A case that calls cmocka's skip() prints "[  SKIPPED ]": CTest reports it
 * as skipped (SKIP_REGULAR_EXPRESSION), not passed.
 *
 * Use: int main(int argc, char **argv) { const struct CMUnitTest tests[] =
 * {...}; return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL); }
 */
#ifndef KEEL_TESTS_TEST_MAIN_H
#define KEEL_TESTS_TEST_MAIN_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define KT_COUNT(tests) (sizeof(tests) / sizeof((tests)[0]))

/* Whether name (a case's function name) is what the caller asked for. */
static int kt_name_matches(const char *name, const char *wanted)
{
    if (strcmp(name, wanted) == 0) {
        return 1;
    }
    return strncmp(name, "test_", 5) == 0 && strcmp(name + 5, wanted) == 0;
}

static int kt_main(int argc, char **argv, const struct CMUnitTest *tests, size_t count,
                   CMFixtureFunction group_setup, CMFixtureFunction group_teardown)
{
    const char *group = argc > 0 ? argv[0] : "tests";
    if (argc <= 1) {
        return _cmocka_run_group_tests(group, tests, count, group_setup, group_teardown);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s [--list | CASE]\n", group);
        return 2;
    }
    if (strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < count; i++) {
            const char *name = tests[i].name;
            printf("%s\n", strncmp(name, "test_", 5) == 0 ? name + 5 : name);
        }
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (kt_name_matches(tests[i].name, argv[1])) {
            return _cmocka_run_group_tests(group, &tests[i], 1, group_setup, group_teardown);
        }
    }
    fprintf(stderr, "%s: no test case named '%s' (--list shows them)\n", group, argv[1]);
    return 2;
}

#endif /* KEEL_TESTS_TEST_MAIN_H */

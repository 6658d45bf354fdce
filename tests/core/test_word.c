/*
 * tests/core/test_word.c - the word helpers of src/core/word.h (and the
 * JSON string scan's mask built the same way) against the byte-by-byte
 * answer: what WP does not prove about them (proofs/README.md,
 * Assumptions). A mask must flag the first byte looked for exactly, and be
 * 0 only when no byte is one: checked for every byte value at every
 * position among every filler byte, and for every pair of byte values at
 * neighbouring positions (and the two ends) among two fillers; kword_load reads the bytes
 * little-endian and, at the end of a slice that ends on a guard page,
 * nothing past it. The sixteen-byte control mask (kword16_ctl, SSE2 on
 * x86-64, and its portable kword16_ctl_words) is checked the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "core/word.h"
#include "guard_page.h"
#include "http/http_internal.h"
#include "json/json_internal.h"

/* The word whose byte i is b[i]. */
static uint64_t word_of(const uint8_t b[8])
{
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--) {
        w = w << 8 | b[i];
    }
    return w;
}

/* What a mask must say about b[0..7] for the bytes `hit` picks: 0 when none
 * is picked, else non-zero with kword_first at the first one picked. */
static void check_mask(const uint8_t b[8], uint64_t m, int (*hit)(uint8_t, int), int arg)
{
    int first = -1;
    for (int i = 0; i < 8; i++) {
        if (hit(b[i], arg)) {
            first = i;
            break;
        }
    }
    if (first < 0) {
        if (m != 0) {
            fail_msg("mask %016llx for %016llx (arg %d): no byte is one looked for",
                     (unsigned long long)m, (unsigned long long)word_of(b), arg);
        }
        return;
    }
    if (m == 0 || kword_first(m) != (size_t)first) {
        fail_msg("mask %016llx for %016llx (arg %d): first byte looked for is %d, kword_first %zu",
                 (unsigned long long)m, (unsigned long long)word_of(b), arg, first,
                 m == 0 ? (size_t)99 : kword_first(m));
    }
}

static int is_below(uint8_t c, int n)
{
    return c < n;
}

static int is_equal(uint8_t c, int v)
{
    return c == v;
}

/* The HTTP field-value scan's mask (src/http/parse.c, parse_text_words,
 * through kword_ctl): a byte below 0x20 or 0x7F. */
static int is_value_stop(uint8_t c, int unused)
{
    (void)unused;
    return c < 0x20 || c == 0x7f;
}

static uint64_t value_mask(uint64_t w)
{
    return kword_ctl(w);
}

/* Every byte value at every position of b[0..n) (n <= 16) among every
 * filler byte (all 256), then every pair of values at each pair of
 * positions given among two fillers; check(b, ctx) on each. */
typedef void (*sweep_fn)(const uint8_t *b, const void *ctx);

static void sweep(size_t n, const int (*pairs)[2], size_t npairs, sweep_fn check, const void *ctx)
{
    uint8_t b[16];
    for (int f = 0; f < 256; f++) {
        for (size_t pos = 0; pos < n; pos++) {
            for (int v = 0; v < 256; v++) {
                memset(b, f, n);
                b[pos] = (uint8_t)v;
                check(b, ctx);
            }
        }
    }
    static const uint8_t fillers[] = { 0x41, 0xff };
    for (size_t k = 0; k < sizeof fillers; k++) {
        for (size_t q = 0; q < npairs; q++) {
            for (int v1 = 0; v1 < 256; v1++) {
                for (int v2 = 0; v2 < 256; v2++) {
                    memset(b, fillers[k], n);
                    b[pairs[q][0]] = (uint8_t)v1;
                    b[pairs[q][1]] = (uint8_t)v2;
                    check(b, ctx);
                }
            }
        }
    }
}

typedef uint64_t (*mask_fn)(uint64_t w, int arg);

typedef struct word_check {
    mask_fn mask;
    int (*hit)(uint8_t, int);
    int arg;
} word_check;

static void check_word(const uint8_t *b, const void *ctx)
{
    const word_check *c = ctx;
    check_mask(b, c->mask(word_of(b), c->arg), c->hit, c->arg);
}

/* A word mask over the sweep of eight bytes. Pairs: a byte's borrow
 * reaches the bytes above it, the next one first; (0, 7) spans the word. */
static void check_all(mask_fn mask, int (*hit)(uint8_t, int), int arg)
{
    static const int pairs[][2] = { { 0, 1 }, { 1, 2 }, { 2, 3 }, { 3, 4 },
                                    { 4, 5 }, { 5, 6 }, { 6, 7 }, { 0, 7 } };
    word_check c = { mask, hit, arg };
    sweep(8, pairs, sizeof pairs / sizeof pairs[0], check_word, &c);
}

/* A mask that flags every byte looked for, not only the lowest: checked
 * bit by bit for every step-th byte value at every position among every
 * filler; no bit of a byte but bit 7 is ever set. */
static void check_every_byte(mask_fn mask, int (*hit)(uint8_t, int), int arg, int step)
{
    uint8_t b[8];
    for (int f = 0; f < 256; f++) {
        for (int pos = 0; pos < 8; pos++) {
            for (int v = 0; v < 256; v += step) {
                memset(b, f, sizeof b);
                b[pos] = (uint8_t)v;
                uint64_t m = mask(word_of(b), arg);
                for (int i = 0; i < 8; i++) {
                    bool flagged = (m >> (8 * i + 7)) & 1u;
                    assert_int_equal(flagged, hit(b[i], arg) != 0);
                    assert_int_equal((m >> (8 * i)) & 0x7fu, 0);
                }
            }
        }
    }
}

static int is_not_equal(uint8_t c, int v)
{
    return c != v;
}

static uint64_t ne_mask(uint64_t w, int v)
{
    return kword_ne(w, (uint8_t)v);
}

/* kword_ne flags every byte that differs, not only the lowest: checked
 * here bit by bit, beside check_all's first-byte check. */
static void test_ne_flags_every_byte_that_differs(void **state)
{
    (void)state;
    static const int values[] = { 0x00, ' ', 0x7f, 0x80, 0xff };
    for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
        check_all(ne_mask, is_not_equal, values[k]);
        check_every_byte(ne_mask, is_not_equal, values[k], 5);
    }
}

static uint64_t below_mask(uint64_t w, int n)
{
    return kword_below(w, (uint8_t)n);
}

static uint64_t eq_mask(uint64_t w, int v)
{
    return kword_eq(w, (uint8_t)v);
}

static uint64_t value_mask_fn(uint64_t w, int unused)
{
    (void)unused;
    return value_mask(w);
}

static void test_load_is_little_endian_and_in_bounds(void **state)
{
    (void)state;
    static const uint8_t bytes[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    guard_region g;
    uint8_t *p = guard_alloc(&g, bytes, sizeof bytes);
    assert_non_null(p);
    keel_slice s = { p, sizeof bytes };
    assert_true(kword_load(s, 0) == UINT64_C(0x0807060504030201));
    /* the last eight bytes, flush against the guard page */
    assert_true(kword_load(s, 2) == UINT64_C(0x0a09080706050403));
    guard_free(&g);
}

static void test_first_is_the_lowest_flagged_byte(void **state)
{
    (void)state;
    for (int i = 0; i < 8; i++) {
        uint64_t bit = UINT64_C(0x80) << (8 * i);
        assert_int_equal(kword_first(bit), i);
        /* flags above the lowest do not matter */
        for (int j = i + 1; j < 8; j++) {
            assert_int_equal(kword_first(bit | UINT64_C(0x80) << (8 * j)), i);
        }
    }
    assert_int_equal(kword_first(KWORD_HIGHS), 0);
}

static void test_below_flags_exactly_the_first_small_byte(void **state)
{
    (void)state;
    static const int limits[] = { 1, 0x20, 0x21, 0x41, 0x80 };
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        check_all(below_mask, is_below, limits[k]);
    }
}

static void test_eq_flags_exactly_the_first_equal_byte(void **state)
{
    (void)state;
    static const int values[] = { 0x00, '"', '\\', 0x7f, 0x80, 0xff };
    for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
        check_all(eq_mask, is_equal, values[k]);
    }
}

/* The field-value mask against the parser's own byte classes: a word it
 * lets through holds only value bytes (KHTTP_TEXT), and where it stops
 * the byte is not a value byte or is HTAB (which the scan classifies and
 * passes). */
static void test_value_mask_agrees_with_the_byte_classes(void **state)
{
    (void)state;
    check_all(value_mask_fn, is_value_stop, 0);
    /* kword_ctl flags every control byte, not only the first */
    check_every_byte(value_mask_fn, is_value_stop, 0, 1);
    for (int c = 0; c < 256; c++) {
        int text = (khttp_class[c] & KHTTP_TEXT) != 0;
        assert_int_equal(text && c != '\t', !is_value_stop((uint8_t)c, 0));
    }
}

/* kword16_ctl (SSE2 on x86-64) and kword16_ctl_words (the portable one,
 * which WP proves) on b[0..15]: bit i set exactly when b[i] is a control
 * byte, nothing above bit 15; and kword16_first at the lowest. */
static void check_mask16(const uint8_t *b, const void *unused)
{
    (void)unused;
    keel_slice s = { b, 16 };
    uint32_t want = 0;
    for (int i = 0; i < 16; i++) {
        if (is_value_stop(b[i], 0)) {
            want |= UINT32_C(1) << i;
        }
    }
    uint32_t got = kword16_ctl(s, 0);
    uint32_t words = kword16_ctl_words(s, 0);
    if (got != want || words != want) {
        fail_msg("kword16_ctl %04x, kword16_ctl_words %04x, want %04x", (unsigned)got,
                 (unsigned)words, (unsigned)want);
    }
    if (want != 0) {
        size_t first = 0;
        while (!(want >> first & 1u)) {
            first++;
        }
        assert_int_equal(kword16_first(want), first);
    }
}

/* The sweep of sixteen bytes; pairs at neighbouring positions (7, 8 across
 * the two words of the portable version) and at the two ends. */
static void test_word16_ctl_flags_exactly_the_control_bytes(void **state)
{
    (void)state;
    static const int pairs[][2] = { { 0, 1 }, { 6, 7 }, { 7, 8 }, { 8, 9 }, { 14, 15 }, { 0, 15 } };
    sweep(16, pairs, sizeof pairs / sizeof pairs[0], check_mask16, NULL);
}

static void test_word16_first_is_the_lowest_set_bit(void **state)
{
    (void)state;
    for (int i = 0; i < 16; i++) {
        uint32_t bit = UINT32_C(1) << i;
        assert_int_equal(kword16_first(bit), i);
        for (int j = i + 1; j < 16; j++) {
            assert_int_equal(kword16_first(bit | UINT32_C(1) << j), i);
        }
    }
    assert_int_equal(kword16_first(0xFFFFu), 0);
}

/* The sixteen bytes read are the slice's own: the last sixteen, flush
 * against a guard page, are read without a fault and give their flags. */
static void test_word16_ctl_reads_only_the_sixteen_bytes(void **state)
{
    (void)state;
    static const uint8_t bytes[20] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j',
                                       'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', '\r', 0x7f };
    guard_region g;
    uint8_t *p = guard_alloc(&g, bytes, sizeof bytes);
    assert_non_null(p);
    keel_slice s = { p, sizeof bytes };
    assert_int_equal(kword16_ctl(s, 4), 0xC000u);
    assert_int_equal(kword16_ctl_words(s, 4), 0xC000u);
    assert_int_equal(kword16_ctl(s, 0), 0);
    guard_free(&g);
}

/* The JSON string scan's mask (src/json/json_internal.h, kjson_string_stops):
 * a quote, a backslash, a control character or a byte from 0x80, which are
 * the bytes the validator's string scan must look at (RFC 8259 section 7). */
static int is_string_stop(uint8_t c, int unused)
{
    (void)unused;
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

static uint64_t string_mask_fn(uint64_t w, int unused)
{
    (void)unused;
    return kjson_string_stops(w);
}

static void test_json_string_mask_flags_exactly_the_first_stop(void **state)
{
    (void)state;
    check_all(string_mask_fn, is_string_stop, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_is_little_endian_and_in_bounds),
        cmocka_unit_test(test_first_is_the_lowest_flagged_byte),
        cmocka_unit_test(test_below_flags_exactly_the_first_small_byte),
        cmocka_unit_test(test_eq_flags_exactly_the_first_equal_byte),
        cmocka_unit_test(test_ne_flags_every_byte_that_differs),
        cmocka_unit_test(test_value_mask_agrees_with_the_byte_classes),
        cmocka_unit_test(test_word16_ctl_flags_exactly_the_control_bytes),
        cmocka_unit_test(test_word16_first_is_the_lowest_set_bit),
        cmocka_unit_test(test_word16_ctl_reads_only_the_sixteen_bytes),
        cmocka_unit_test(test_json_string_mask_flags_exactly_the_first_stop),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

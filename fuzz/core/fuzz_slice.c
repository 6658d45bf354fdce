/*
 * fuzz/core/fuzz_slice.c - keel's bounds-checked byte views (src/core/slice.c).
 *
 * Drives: keel_slice_from, keel_buf_init, keel_cursor_init,
 * keel_cursor_read_u8/u16be/u32be/u64be, keel_cursor_take, keel_cursor_skip,
 * keel_cursor_take_until, keel_cursor_read_block8/16/32,
 * keel_cursor_expect_end, keel_cursor_remaining, keel_cursor_rest,
 * keel_slice_sub, keel_slice_from_off, keel_slice_split_at,
 * keel_slice_split_once, keel_slice_find_byte, keel_slice_find,
 * keel_slice_trim/_left/_right, keel_slice_get, keel_slice_read_u16be/u32be/
 * u64be, keel_slice_parse_u64, keel_slice_eq, keel_slice_eq_nocase,
 * keel_slice_cmp, keel_slice_starts_with, keel_slice_ends_with,
 * keel_buf_append, keel_buf_append_byte, keel_buf_append_u16be/u32be/u64be,
 * keel_buf_append_u64_dec, keel_buf_put_u16be/u32be, keel_buf_set,
 * keel_buf_clear, keel_buf_truncate, keel_buf_consume, keel_buf_commit,
 * keel_buf_slice, keel_buf_spare and the *_valid checks.
 *
 * Input: [cap][prog_len][prog_len program bytes][subject bytes...]. The
 * program is a list of operations with their arguments; they run on a
 * cursor over the subject (the tail of the input, so an over-read runs off
 * the end of the allocation) and on a buf of `cap` bytes (allocated to
 * exactly that size). Every step is checked against a plain model of the
 * cursor position and of the buf contents: exact result value, all or
 * nothing on failure, out-parameters untouched on failure, remaining shrinks
 * by exactly what was consumed, invariants hold. Round trips:
 * append_uXXbe -> read_uXXbe and append_u64_dec -> parse_u64.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "keel/slice.h"

typedef struct state {
    fuzz_reader prog;
    keel_slice subj;
    keel_cursor cur;
    size_t pos; /* model of cur.pos */
    keel_buf buf;
    uint8_t *store;
    size_t cap;
    uint8_t model[256]; /* model of buf's filled bytes */
    size_t len;
} state;

/* Sizes: mostly small, sometimes the values that break naive arithmetic. */
static size_t arg_size(fuzz_reader *r)
{
    static const size_t edge[] = { SIZE_MAX, SIZE_MAX - 1u, SIZE_MAX - 7u, SIZE_MAX / 2u,
                                   SIZE_MAX / 2u + 1u, 256u, 65535u, 65536u,
                                   (size_t)UINT32_MAX, (size_t)UINT32_MAX + 1u,
                                   (size_t)1 << 40, 1000u, 4096u, 300u, 511u, 257u };
    uint8_t a = fuzz_u8(r);
    return a < 0xf0u ? a : edge[a - 0xf0u];
}

static uint64_t be(const uint8_t *p, size_t k)
{
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32u) : c;
}

/* s.ptr + off without arithmetic on NULL (an empty slice may be NULL). */
static const uint8_t *off_ptr(keel_slice s, size_t off)
{
    return s.ptr == NULL ? NULL : s.ptr + off;
}

static bool same_slice(keel_slice a, keel_slice b)
{
    return a.len == b.len && (a.len == 0 || a.ptr == b.ptr);
}

static void check_state(const state *st)
{
    FUZZ_CHECK(keel_cursor_valid(&st->cur));
    FUZZ_CHECK(st->cur.src.ptr == st->subj.ptr && st->cur.src.len == st->subj.len);
    FUZZ_CHECK(st->cur.pos == st->pos);
    FUZZ_CHECK(keel_cursor_remaining(&st->cur) == st->subj.len - st->pos);
    keel_slice rest = keel_cursor_rest(&st->cur);
    FUZZ_CHECK(rest.len == st->subj.len - st->pos);
    FUZZ_CHECK(rest.len == 0 || rest.ptr == st->subj.ptr + st->pos);

    FUZZ_CHECK(keel_buf_valid(&st->buf));
    FUZZ_CHECK(st->buf.ptr == st->store && st->buf.cap == st->cap);
    FUZZ_CHECK(st->buf.len == st->len);
    FUZZ_CHECK(st->len == 0 || memcmp(st->store, st->model, st->len) == 0);
    FUZZ_CHECK(keel_buf_spare(&st->buf) == st->cap - st->len);
    keel_slice filled = keel_buf_slice(&st->buf);
    FUZZ_CHECK(filled.len == st->len && (filled.len == 0 || filled.ptr == st->store));
}

/* A valid operand: a sub-range of the subject, of the unread rest, or (for
 * appends, which allow overlap) of the buf's own filled bytes. */
static keel_slice operand(state *st, bool allow_buf)
{
    unsigned which = fuzz_u8(&st->prog) % (allow_buf ? 3u : 2u);
    const uint8_t *base = st->subj.ptr;
    size_t n = st->subj.len;
    if (which == 1) {
        base = st->subj.ptr + st->pos;
        n = st->subj.len - st->pos;
    } else if (which == 2) {
        base = st->store;
        n = st->len;
    }
    size_t off = fuzz_u16(&st->prog) % (n + 1u);
    size_t len = fuzz_u16(&st->prog) % (n - off + 1u);
    keel_slice s = { len > 0 ? base + off : NULL, len };
    if (len == 0 && fuzz_u8(&st->prog) & 1u) {
        s.ptr = base; /* an empty slice need not have a NULL pointer */
    }
    return s;
}

/* ---- cursor operations ------------------------------------------------ */

static void op_read_int(state *st, size_t k)
{
    size_t left = st->subj.len - st->pos;
    uint64_t want = left >= k ? be(st->subj.ptr + st->pos, k) : 0;
    keel_result r;
    uint64_t got;
    if (k == 1) {
        uint8_t v = 0xa5;
        r = keel_cursor_read_u8(&st->cur, &v);
        got = r == KEEL_OK ? v : (v == 0xa5 ? 0xa5a5a5a5a5a5a5a5u : 0);
    } else if (k == 2) {
        uint16_t v = 0xa5a5;
        r = keel_cursor_read_u16be(&st->cur, &v);
        got = r == KEEL_OK ? v : (v == 0xa5a5 ? 0xa5a5a5a5a5a5a5a5u : 0);
    } else if (k == 4) {
        uint32_t v = 0xa5a5a5a5u;
        r = keel_cursor_read_u32be(&st->cur, &v);
        got = r == KEEL_OK ? v : (v == 0xa5a5a5a5u ? 0xa5a5a5a5a5a5a5a5u : 0);
    } else {
        uint64_t v = 0xa5a5a5a5a5a5a5a5u;
        r = keel_cursor_read_u64be(&st->cur, &v);
        got = v;
    }
    if (left >= k) {
        FUZZ_CHECK(r == KEEL_OK);
        FUZZ_CHECK(got == want);
        st->pos += k;
    } else {
        FUZZ_CHECK(r == KEEL_ERR_INCOMPLETE);
        FUZZ_CHECK(got == 0xa5a5a5a5a5a5a5a5u); /* out untouched */
    }
}

static void op_take_skip(state *st, bool take)
{
    size_t n = arg_size(&st->prog);
    size_t left = st->subj.len - st->pos;
    keel_slice out = { (const uint8_t *)st, 12345 };
    keel_result r = take ? keel_cursor_take(&st->cur, n, &out) : keel_cursor_skip(&st->cur, n);
    if (n <= left) {
        FUZZ_CHECK(r == KEEL_OK);
        if (take) {
            FUZZ_CHECK(same_slice(out, (keel_slice){ st->subj.ptr + st->pos, n }));
        }
        st->pos += n;
    } else {
        FUZZ_CHECK(r == KEEL_ERR_INCOMPLETE);
        FUZZ_CHECK(out.ptr == (const uint8_t *)st && out.len == 12345);
    }
}

static void op_take_until(state *st)
{
    uint8_t delim = fuzz_u8(&st->prog);
    const uint8_t *rest = st->subj.ptr + st->pos;
    size_t left = st->subj.len - st->pos;
    size_t at = 0;
    while (at < left && rest[at] != delim) {
        at++;
    }
    keel_slice out = { (const uint8_t *)st, 12345 };
    keel_result r = keel_cursor_take_until(&st->cur, delim, &out);
    if (at < left) {
        FUZZ_CHECK(r == KEEL_OK);
        FUZZ_CHECK(same_slice(out, (keel_slice){ rest, at }));
        st->pos += at + 1u;
    } else {
        FUZZ_CHECK(r == KEEL_ERR_INCOMPLETE);
        FUZZ_CHECK(out.ptr == (const uint8_t *)st && out.len == 12345);
    }
}

static void op_block(state *st, size_t k)
{
    const uint8_t *rest = st->subj.ptr + st->pos;
    size_t left = st->subj.len - st->pos;
    keel_slice out = { (const uint8_t *)st, 12345 };
    keel_result r = k == 1 ? keel_cursor_read_block8(&st->cur, &out)
                  : k == 2 ? keel_cursor_read_block16(&st->cur, &out)
                           : keel_cursor_read_block32(&st->cur, &out);
    uint64_t body = left >= k ? be(rest, k) : UINT64_MAX;
    if (left >= k && body <= left - k) {
        FUZZ_CHECK(r == KEEL_OK);
        FUZZ_CHECK(same_slice(out, (keel_slice){ rest + k, (size_t)body }));
        st->pos += k + (size_t)body;
    } else {
        FUZZ_CHECK(r == KEEL_ERR_INCOMPLETE);
        FUZZ_CHECK(out.ptr == (const uint8_t *)st && out.len == 12345);
    }
}

/* ---- slice operations ------------------------------------------------- */

static void op_ranges(state *st)
{
    keel_slice s = operand(st, false);
    size_t off = arg_size(&st->prog);
    size_t len = arg_size(&st->prog);
    keel_slice a = { (const uint8_t *)st, 1 }, b = { (const uint8_t *)st, 2 };
    const keel_slice a0 = a, b0 = b;
    switch (fuzz_u8(&st->prog) % 3u) {
    case 0: {
        bool fits = off <= s.len && len <= s.len - off;
        keel_result r = keel_slice_sub(s, off, len, &a);
        FUZZ_CHECK(r == (fits ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
        FUZZ_CHECK(fits ? same_slice(a, (keel_slice){ off_ptr(s, off), len })
                        : (a.ptr == a0.ptr && a.len == a0.len));
        break;
    }
    case 1: {
        keel_result r = keel_slice_from_off(s, off, &a);
        FUZZ_CHECK(r == (off <= s.len ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
        FUZZ_CHECK(off <= s.len ? same_slice(a, (keel_slice){ off_ptr(s, off), s.len - off })
                                : (a.ptr == a0.ptr && a.len == a0.len));
        break;
    }
    default: {
        keel_result r = keel_slice_split_at(s, off, &a, &b);
        if (off <= s.len) {
            FUZZ_CHECK(r == KEEL_OK);
            FUZZ_CHECK(same_slice(a, (keel_slice){ s.ptr, off }));
            FUZZ_CHECK(same_slice(b, (keel_slice){ off_ptr(s, off), s.len - off }));
        } else {
            FUZZ_CHECK(r == KEEL_ERR_OUT_OF_BOUNDS);
            FUZZ_CHECK(a.ptr == a0.ptr && a.len == a0.len && b.ptr == b0.ptr && b.len == b0.len);
        }
        break;
    }
    }
}

static void op_search(state *st)
{
    keel_slice s = operand(st, false);
    uint8_t byte = fuzz_u8(&st->prog);
    size_t at = 0;
    while (at < s.len && s.ptr[at] != byte) {
        at++;
    }
    size_t idx = 777;
    keel_result r = keel_slice_find_byte(s, byte, &idx);
    FUZZ_CHECK(r == (at < s.len ? KEEL_OK : KEEL_ERR_NOT_FOUND));
    FUZZ_CHECK(idx == (at < s.len ? at : 777u));

    keel_slice head = { (const uint8_t *)st, 1 }, tail = head;
    r = keel_slice_split_once(s, byte, &head, &tail);
    if (at < s.len) {
        FUZZ_CHECK(r == KEEL_OK);
        FUZZ_CHECK(same_slice(head, (keel_slice){ s.ptr, at }));
        FUZZ_CHECK(same_slice(tail, (keel_slice){ s.ptr + at + 1, s.len - at - 1u }));
    } else {
        FUZZ_CHECK(r == KEEL_ERR_NOT_FOUND);
        FUZZ_CHECK(head.ptr == (const uint8_t *)st && tail.ptr == (const uint8_t *)st);
    }

    keel_slice needle = operand(st, false);
    size_t want = SIZE_MAX;
    for (size_t i = 0; needle.len <= s.len && i <= s.len - needle.len; i++) {
        if (needle.len == 0 || memcmp(s.ptr + i, needle.ptr, needle.len) == 0) {
            want = i;
            break;
        }
    }
    idx = 777;
    r = keel_slice_find(s, needle, &idx);
    FUZZ_CHECK(r == (want != SIZE_MAX ? KEEL_OK : KEEL_ERR_NOT_FOUND));
    FUZZ_CHECK(idx == (want != SIZE_MAX ? want : 777u));
}

static void op_trim(state *st)
{
    keel_slice s = operand(st, false);
    size_t lo = 0, hi = s.len;
    while (lo < hi && is_ws(s.ptr[lo])) {
        lo++;
    }
    while (hi > lo && is_ws(s.ptr[hi - 1u])) {
        hi--;
    }
    size_t rl = s.len;
    while (rl > 0 && is_ws(s.ptr[rl - 1u])) {
        rl--;
    }
    FUZZ_CHECK(same_slice(keel_slice_trim(s), (keel_slice){ off_ptr(s, lo), hi - lo }));
    FUZZ_CHECK(same_slice(keel_slice_trim_left(s), (keel_slice){ off_ptr(s, lo), s.len - lo }));
    FUZZ_CHECK(same_slice(keel_slice_trim_right(s), (keel_slice){ s.ptr, rl }));
}

static void op_get(state *st)
{
    keel_slice s = operand(st, false);
    size_t off = arg_size(&st->prog);
    bool in = off <= s.len;
    uint8_t b = 0x5a;
    keel_result r = keel_slice_get(s, off, &b);
    FUZZ_CHECK(r == (off < s.len ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
    FUZZ_CHECK(b == (off < s.len ? s.ptr[off] : 0x5a));
    uint16_t v16 = 0x5a5a;
    r = keel_slice_read_u16be(s, off, &v16);
    bool fits = in && s.len - off >= 2u;
    FUZZ_CHECK(r == (fits ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
    FUZZ_CHECK(v16 == (fits ? be(s.ptr + off, 2) : 0x5a5a));
    uint32_t v32 = 0x5a5a5a5au;
    r = keel_slice_read_u32be(s, off, &v32);
    fits = in && s.len - off >= 4u;
    FUZZ_CHECK(r == (fits ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
    FUZZ_CHECK(v32 == (fits ? be(s.ptr + off, 4) : 0x5a5a5a5au));
    uint64_t v64 = 0x5a5a5a5a5a5a5a5au;
    r = keel_slice_read_u64be(s, off, &v64);
    fits = in && s.len - off >= 8u;
    FUZZ_CHECK(r == (fits ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
    FUZZ_CHECK(v64 == (fits ? be(s.ptr + off, 8) : 0x5a5a5a5a5a5a5a5au));
}

static void check_parse_u64(keel_slice s, uint64_t max)
{
    uint64_t v = 0;
    bool over = false, nondigit = s.len == 0, prefix_over = false;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        if (c < '0' || c > '9') {
            nondigit = true;
            break;
        }
        if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10u) {
            over = true;
        } else {
            v = v * 10u + (uint64_t)(c - '0');
        }
        prefix_over = prefix_over || over || v > max;
    }
    uint64_t out = 42;
    keel_result r = keel_slice_parse_u64(s, max, &out);
    if (nondigit) {
        /* Both complaints apply when a too-large prefix precedes the junk. */
        FUZZ_CHECK(r == KEEL_ERR_PARSE || (prefix_over && r == KEEL_ERR_TOO_LARGE));
    } else if (over || v > max) {
        FUZZ_CHECK(r == KEEL_ERR_TOO_LARGE);
    } else {
        FUZZ_CHECK(r == KEEL_OK);
        FUZZ_CHECK(out == v);
        return;
    }
    FUZZ_CHECK(out == 42);
}

static void op_parse(state *st)
{
    keel_slice s = operand(st, false);
    uint8_t m = fuzz_u8(&st->prog);
    uint64_t max = m < 64u ? (UINT64_MAX >> m) : (m < 128u ? (uint64_t)m * 1000u : fuzz_u64(&st->prog));
    check_parse_u64(s, max);
}

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static void op_compare(state *st)
{
    keel_slice a = operand(st, false);
    keel_slice b = operand(st, false);
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? sign(memcmp(a.ptr, b.ptr, n)) : 0;
    if (c == 0) {
        c = (a.len > b.len) - (a.len < b.len);
    }
    FUZZ_CHECK(sign(keel_slice_cmp(a, b)) == c);
    FUZZ_CHECK(keel_slice_eq(a, b) == (c == 0));
    bool nocase = a.len == b.len;
    for (size_t i = 0; nocase && i < a.len; i++) {
        nocase = lower(a.ptr[i]) == lower(b.ptr[i]);
    }
    FUZZ_CHECK(keel_slice_eq_nocase(a, b) == nocase);
    FUZZ_CHECK(keel_slice_starts_with(a, b) ==
               (b.len <= a.len && (b.len == 0 || memcmp(a.ptr, b.ptr, b.len) == 0)));
    FUZZ_CHECK(keel_slice_ends_with(a, b) ==
               (b.len <= a.len && (b.len == 0 || memcmp(a.ptr + a.len - b.len, b.ptr, b.len) == 0)));
}

/* ---- buf operations --------------------------------------------------- */

static void model_append(state *st, const uint8_t *p, size_t n)
{
    if (n > 0) {
        memmove(st->model + st->len, p, n);
    }
    st->len += n;
}

static void op_append(state *st)
{
    keel_slice src = operand(st, true);
    uint8_t copy[256];
    bool fits = src.len <= st->cap - st->len;
    if (fits && src.len > 0) {
        memcpy(copy, src.ptr, src.len); /* src may be the buf itself */
    }
    keel_result r = keel_buf_append(&st->buf, src);
    FUZZ_CHECK(r == (fits ? KEEL_OK : KEEL_ERR_TOO_LARGE));
    if (fits) {
        model_append(st, copy, src.len);
    }
}

static void op_append_byte(state *st)
{
    uint8_t b = fuzz_u8(&st->prog);
    bool fits = st->len < st->cap;
    FUZZ_CHECK(keel_buf_append_byte(&st->buf, b) == (fits ? KEEL_OK : KEEL_ERR_TOO_LARGE));
    if (fits) {
        model_append(st, &b, 1);
    }
}

static void op_append_be(state *st)
{
    static const size_t widths[] = { 2, 4, 8 };
    size_t k = widths[fuzz_u8(&st->prog) % 3u];
    uint64_t v = fuzz_u64(&st->prog);
    if (k < 8) {
        v &= (UINT64_C(1) << (8u * k)) - 1u;
    }
    size_t at = st->len;
    bool fits = k <= st->cap - st->len;
    keel_result r = k == 2 ? keel_buf_append_u16be(&st->buf, (uint16_t)v)
                  : k == 4 ? keel_buf_append_u32be(&st->buf, (uint32_t)v)
                           : keel_buf_append_u64be(&st->buf, v);
    FUZZ_CHECK(r == (fits ? KEEL_OK : KEEL_ERR_TOO_LARGE));
    if (!fits) {
        return;
    }
    uint8_t bytes[8];
    for (size_t i = 0; i < k; i++) {
        bytes[i] = (uint8_t)(v >> (8u * (k - 1u - i)));
    }
    model_append(st, bytes, k);
    /* Round trip through both readers. */
    keel_slice whole = keel_buf_slice(&st->buf);
    keel_cursor c;
    keel_slice tail;
    FUZZ_CHECK(keel_slice_from_off(whole, at, &tail) == KEEL_OK);
    FUZZ_CHECK(keel_cursor_init(&c, tail) == KEEL_OK);
    if (k == 2) {
        uint16_t a = 0, b = 0;
        FUZZ_CHECK(keel_slice_read_u16be(whole, at, &a) == KEEL_OK && a == v);
        FUZZ_CHECK(keel_cursor_read_u16be(&c, &b) == KEEL_OK && b == v);
    } else if (k == 4) {
        uint32_t a = 0, b = 0;
        FUZZ_CHECK(keel_slice_read_u32be(whole, at, &a) == KEEL_OK && a == v);
        FUZZ_CHECK(keel_cursor_read_u32be(&c, &b) == KEEL_OK && b == v);
    } else {
        uint64_t a = 0, b = 0;
        FUZZ_CHECK(keel_slice_read_u64be(whole, at, &a) == KEEL_OK && a == v);
        FUZZ_CHECK(keel_cursor_read_u64be(&c, &b) == KEEL_OK && b == v);
    }
    FUZZ_CHECK(keel_cursor_expect_end(&c) == KEEL_OK);
}

static void op_append_dec(state *st)
{
    unsigned shift = fuzz_u8(&st->prog) % 64u;
    uint64_t v = fuzz_u64(&st->prog) >> shift;
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRIu64, v);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof text);
    size_t at = st->len;
    bool fits = (size_t)n <= st->cap - st->len;
    FUZZ_CHECK(keel_buf_append_u64_dec(&st->buf, v) == (fits ? KEEL_OK : KEEL_ERR_TOO_LARGE));
    if (!fits) {
        return;
    }
    model_append(st, (const uint8_t *)text, (size_t)n);
    keel_slice digits;
    FUZZ_CHECK(keel_slice_sub(keel_buf_slice(&st->buf), at, (size_t)n, &digits) == KEEL_OK);
    uint64_t back = 0;
    FUZZ_CHECK(keel_slice_parse_u64(digits, UINT64_MAX, &back) == KEEL_OK && back == v);
    if (v > 0) {
        FUZZ_CHECK(keel_slice_parse_u64(digits, v - 1u, &back) == KEEL_ERR_TOO_LARGE);
    }
}

static void op_put_be(state *st)
{
    bool wide = fuzz_u8(&st->prog) & 1u;
    size_t k = wide ? 4u : 2u;
    size_t off = arg_size(&st->prog);
    uint32_t v = (uint32_t)fuzz_u64(&st->prog);
    if (!wide) {
        v &= 0xffffu;
    }
    bool fits = off <= st->len && k <= st->len - off;
    keel_result r = wide ? keel_buf_put_u32be(&st->buf, off, v)
                         : keel_buf_put_u16be(&st->buf, off, (uint16_t)v);
    FUZZ_CHECK(r == (fits ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
    for (size_t i = 0; fits && i < k; i++) {
        st->model[off + i] = (uint8_t)(v >> (8u * (k - 1u - i)));
    }
}

static void op_reshape(state *st)
{
    unsigned which = fuzz_u8(&st->prog) % 5u;
    if (which == 0) {
        keel_slice src = operand(st, false);
        bool fits = src.len <= st->cap;
        FUZZ_CHECK(keel_buf_set(&st->buf, src) == (fits ? KEEL_OK : KEEL_ERR_TOO_LARGE));
        if (fits) {
            st->len = 0;
            model_append(st, src.ptr, src.len);
        }
        return;
    }
    if (which == 1) {
        keel_buf_clear(&st->buf);
        st->len = 0;
        return;
    }
    size_t n = arg_size(&st->prog);
    if (which == 2) {
        FUZZ_CHECK(keel_buf_truncate(&st->buf, n) == (n <= st->len ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
        if (n <= st->len) {
            st->len = n;
        }
    } else if (which == 3) {
        FUZZ_CHECK(keel_buf_consume(&st->buf, n) == (n <= st->len ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
        if (n <= st->len) {
            memmove(st->model, st->model + n, st->len - n);
            st->len -= n;
        }
    } else {
        /* Something outside keel (the socket layer) fills the spare room. */
        uint8_t fill = fuzz_u8(&st->prog);
        for (size_t i = st->len; i < st->cap; i++) {
            st->store[i] = st->model[i] = (uint8_t)(fill + i);
        }
        bool fits = n <= st->cap - st->len;
        FUZZ_CHECK(keel_buf_commit(&st->buf, n) == (fits ? KEEL_OK : KEEL_ERR_OUT_OF_BOUNDS));
        if (fits) {
            st->len += n;
        }
    }
}

/* Invalid arguments are refused, never dereferenced, and change nothing. */
static void op_invalid(state *st)
{
    keel_slice bad = { NULL, 1u + fuzz_u8(&st->prog) };
    keel_slice out = { (const uint8_t *)st, 3 };
    FUZZ_CHECK(!keel_slice_valid(bad));
    FUZZ_CHECK(keel_slice_from(NULL, bad.len, &out) == KEEL_ERR_INVALID_ARG);
    FUZZ_CHECK(keel_slice_from(st->subj.ptr + st->pos, SIZE_MAX, &out) == KEEL_ERR_INVALID_ARG);
    FUZZ_CHECK(out.ptr == (const uint8_t *)st && out.len == 3);
    FUZZ_CHECK(keel_buf_append(&st->buf, bad) == KEEL_ERR_INVALID_ARG);
    FUZZ_CHECK(!keel_cursor_valid(NULL));
    keel_cursor broken = st->cur;
    broken.pos = st->subj.len + 1u;
    uint8_t b = 9;
    FUZZ_CHECK(!keel_cursor_valid(&broken));
    FUZZ_CHECK(keel_cursor_read_u8(&broken, &b) == KEEL_ERR_INVALID_ARG && b == 9);
    FUZZ_CHECK(broken.pos == st->subj.len + 1u);
    keel_buf over = st->buf;
    over.len = over.cap + 1u;
    FUZZ_CHECK(!keel_buf_valid(&over));
    FUZZ_CHECK(keel_buf_append_byte(&over, 1) == KEEL_ERR_INVALID_ARG);
    FUZZ_CHECK(over.len == st->buf.cap + 1u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    state st;
    memset(&st, 0, sizeof st);
    st.cap = data[0];
    size_t plen = data[1] < size - 2u ? data[1] : size - 2u;
    st.prog = (fuzz_reader){ data + 2, plen, 0 };
    FUZZ_CHECK(keel_slice_from(data + 2 + plen, size - 2u - plen, &st.subj) == KEEL_OK);
    FUZZ_CHECK(keel_cursor_init(&st.cur, st.subj) == KEEL_OK);
    st.store = st.cap > 0 ? malloc(st.cap) : NULL; /* exact size: overflows hit ASan */
    FUZZ_CHECK(st.cap == 0 || st.store != NULL);
    FUZZ_CHECK(keel_buf_init(&st.buf, st.store, st.cap) == KEEL_OK);
    check_state(&st);

    while (fuzz_left(&st.prog) > 0) {
        switch (fuzz_u8(&st.prog) % 22u) {
        case 0: op_read_int(&st, 1); break;
        case 1: op_read_int(&st, 2); break;
        case 2: op_read_int(&st, 4); break;
        case 3: op_read_int(&st, 8); break;
        case 4: op_take_skip(&st, true); break;
        case 5: op_take_skip(&st, false); break;
        case 6: op_take_until(&st); break;
        case 7: op_block(&st, 1); break;
        case 8: op_block(&st, 2); break;
        case 9: op_block(&st, 4); break;
        case 10:
            FUZZ_CHECK(keel_cursor_expect_end(&st.cur) ==
                       (st.pos == st.subj.len ? KEEL_OK : KEEL_ERR_PARSE));
            break;
        case 11: op_ranges(&st); break;
        case 12: op_search(&st); break;
        case 13: op_trim(&st); break;
        case 14: op_get(&st); break;
        case 15: op_parse(&st); break;
        case 16: op_compare(&st); break;
        case 17: op_append(&st); break;
        case 18: op_append_byte(&st); break;
        case 19: op_append_be(&st); op_append_dec(&st); break;
        case 20: op_put_be(&st); break;
        default:
            if (fuzz_u8(&st.prog) == 0xee) {
                op_invalid(&st);
            } else {
                op_reshape(&st);
            }
            break;
        }
        check_state(&st);
    }
    /* Whatever is left unread parses exactly as a standalone number would. */
    check_parse_u64(keel_cursor_rest(&st.cur), UINT64_MAX);
    free(st.store);
    return 0;
}

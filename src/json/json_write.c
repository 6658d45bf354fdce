/*
 * src/json/json_write.c - the JSON writer (see include/keel/json.h).
 *
 * Every public call follows one pattern: check the writer, check that the
 * call fits the current state (KEEL_ERR_STATE otherwise, before anything is
 * written), remember out->len, append the pieces, and on any failure put
 * out->len back; the writer's own state changes only after success. So a
 * call is all or nothing, and a caller can flush and retry after
 * KEEL_ERR_TOO_LARGE.
 *
 * State: depth containers are open; bit depth-1 of stack says whether the
 * innermost is an object, of first whether it has no element yet (no comma
 * before the next one). state says what may come next at that level.
 */
#include "keel/json.h"

#include "json/json_internal.h"

/* Literal bytes as uint8_t arrays (not KEEL_STR): WP's typed memory model
 * cannot follow a char string literal cast to uint8_t *. */
static const uint8_t json_write_true[] = { 't', 'r', 'u', 'e' };
static const uint8_t json_write_false[] = { 'f', 'a', 'l', 's', 'e' };
static const uint8_t json_write_null[] = { 'n', 'u', 'l', 'l' };
static const uint8_t json_write_replacement[] = { 0xEF, 0xBF, 0xBD }; /* U+FFFD */

#define JSON_WRITE_VALUE 1u /* a value: the top-level one, an array element, or after a key */
#define JSON_WRITE_KEY 2u   /* in an object: a key or the object's end */
#define JSON_WRITE_DONE 3u  /* the top-level value is complete */

/*@ predicate json_write_shape(keel_json_writer w) =
      1 <= w.max_depth <= KEEL_JSON_DEPTH_CAP && w.depth <= w.max_depth &&
      (w.state == JSON_WRITE_VALUE || w.state == JSON_WRITE_KEY || w.state == JSON_WRITE_DONE) &&
      (w.policy == KEEL_JSON_UTF8_REPLACE || w.policy == KEEL_JSON_UTF8_REJECT);

    // A writer is usable when its fields are consistent and its buf valid;
    // C checks both (json_write_check_writer), the caller promises the
    // memory behind them.
    // The buf must not lie inside the writer (C cannot check that).
    predicate json_write_arg{L}(keel_json_writer *w) =
      w == \null ||
      (\valid(w) && buf_arg(w->out) && (w->out != \null ==> \separated(w, w->out)));

    predicate json_write_ready{L}(keel_json_writer *w) =
      \valid(w) && json_write_shape(*w) && \valid(w->out) && valid_buf(*w->out) &&
      \separated(w, w->out) && \separated(w->out, w->out->ptr + (0 .. w->out->cap - 1));
*/

/*@ requires json_write_arg(w);
    assigns \nothing;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> json_write_ready(w);
*/
static KEEL_MUST_USE keel_result json_write_check_writer(const keel_json_writer *w)
{
    if (w == NULL || !keel_buf_valid(w->out) || w->max_depth == 0 ||
        w->max_depth > KEEL_JSON_DEPTH_CAP || w->depth > w->max_depth ||
        (w->state != JSON_WRITE_VALUE && w->state != JSON_WRITE_KEY &&
         w->state != JSON_WRITE_DONE) ||
        (w->policy != KEEL_JSON_UTF8_REPLACE && w->policy != KEEL_JSON_UTF8_REJECT)) {
        return KEEL_ERR_INVALID_ARG;
    }
    return KEEL_OK;
}

/*@ requires \valid_read(words + (0 .. KEEL_JSON_DEPTH_CAP / 64 - 1));
    requires 1 <= level <= KEEL_JSON_DEPTH_CAP;
    assigns \nothing;
*/
static bool json_write_level_bit(const uint64_t *words, uint32_t level)
{
    uint32_t k = level - 1u;
    return ((words[k / 64u] >> (k % 64u)) & 1u) != 0;
}

/*@ requires \valid(words + (0 .. KEEL_JSON_DEPTH_CAP / 64 - 1));
    requires 1 <= level <= KEEL_JSON_DEPTH_CAP;
    assigns words[(level - 1) / 64];
*/
static void json_write_level_bit_set(uint64_t *words, uint32_t level, bool on)
{
    uint32_t k = level - 1u;
    uint64_t mask = (uint64_t)1 << (k % 64u);
    if (on) {
        words[k / 64u] |= mask;
    } else {
        words[k / 64u] &= ~mask;
    }
}

/*@ requires \valid_read(w) && w->depth <= KEEL_JSON_DEPTH_CAP;
    assigns \nothing;
    ensures \result ==> w->depth >= 1;
*/
static bool json_write_in_object(const keel_json_writer *w)
{
    return w->depth > 0 && json_write_level_bit(w->stack, w->depth);
}

/* One byte, appended through keel_buf_append: its assigns clause is a
 * range from len to cap, which the callers' own ranges cover even when the
 * buf is full (keel_buf_append_byte's single location b->ptr[len] is not
 * inside them then). Like every append helper here, it promises the bounds
 * of len only on success: WP does not carry keel_buf_append's per-behaviour
 * "assigns \nothing" across the call, so after a failure len is unknown to
 * it, and the public calls put len back from their mark instead. */
/*@ requires \valid(b) && valid_buf(*b) && \separated(b, b->ptr + (0 .. b->cap - 1));
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> \old(b->len) <= b->len <= b->cap;
*/
static KEEL_MUST_USE keel_result json_write_append_byte(keel_buf *b, uint8_t c)
{
    keel_slice one = { &c, 1 };
    return keel_buf_append(b, one);
}

/* The comma before a value, when it is not the first element of an array
 * (in an object the comma goes before the key). */
/*@ requires json_write_ready(w);
    assigns w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> json_write_ready(w) && \old(w->out->len) <= w->out->len;
*/
static KEEL_MUST_USE keel_result json_write_comma_before_value(keel_json_writer *w)
{
    if (w->depth == 0 || json_write_in_object(w) || json_write_level_bit(w->first, w->depth)) {
        return KEEL_OK;
    }
    return json_write_append_byte(w->out, ',');
}

/* After a complete value: the top level is done, or the container has an
 * element and (in an object) wants the next key. */
/*@ requires json_write_ready(w);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1];
    ensures json_write_ready(w);
*/
static void json_write_value_done(keel_json_writer *w)
{
    if (w->depth == 0) {
        w->state = JSON_WRITE_DONE;
        return;
    }
    json_write_level_bit_set(w->first, w->depth, false);
    w->state = json_write_in_object(w) ? JSON_WRITE_KEY : JSON_WRITE_VALUE;
}

/* A lowercase hex digit. */
/*@ requires d < 16;
    assigns \nothing;
*/
static uint8_t json_write_hex_digit(uint32_t d)
{
    return (uint8_t)(d < 10u ? '0' + d : 'a' + (d - 10u));
}

/* One escape sequence for a byte that cannot appear raw in a string:
 * the short forms where JSON has one, else \u00xx (lowercase hex). */
/*@ requires \valid(b) && valid_buf(*b) && \separated(b, b->ptr + (0 .. b->cap - 1));
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> \old(b->len) <= b->len <= b->cap;
*/
static KEEL_MUST_USE keel_result json_write_escape_byte(keel_buf *b, uint8_t c)
{
    uint8_t e[6] = { '\\', 'u', '0', '0', json_write_hex_digit(c / 16u),
                     json_write_hex_digit(c % 16u) };
    keel_slice s = { e, 2 };
    switch (c) {
    case '"':
        e[1] = '"';
        break;
    case '\\':
        e[1] = '\\';
        break;
    case '\b':
        e[1] = 'b';
        break;
    case '\f':
        e[1] = 'f';
        break;
    case '\n':
        e[1] = 'n';
        break;
    case '\r':
        e[1] = 'r';
        break;
    case '\t':
        e[1] = 't';
        break;
    default:
        s.len = 6;
        break;
    }
    return keel_buf_append(b, s);
}

/* Append s[from, to) (nothing when empty). */
/*@ requires valid_slice(s) && from <= to <= s.len;
    requires \valid(b) && valid_buf(*b) && \separated(b, b->ptr + (0 .. b->cap - 1));
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> \old(b->len) <= b->len <= b->cap;
*/
static KEEL_MUST_USE keel_result json_write_append_range(keel_buf *b, keel_slice s, size_t from,
                                                         size_t to)
{
    if (to == from) {
        return KEEL_OK;
    }
    keel_slice seg = { s.ptr + from, to - from };
    return keel_buf_append(b, seg);
}

/* s as a quoted JSON string: plain bytes and valid UTF-8 are copied in
 * runs, the rest escaped or (invalid UTF-8) replaced/refused per policy. */
/*@ requires valid_slice(s);
    requires \valid(b) && valid_buf(*b) && \separated(b, b->ptr + (0 .. b->cap - 1));
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> \old(b->len) <= b->len <= b->cap;
*/
static KEEL_MUST_USE keel_result json_write_append_quoted(keel_buf *b, keel_slice s,
                                                          keel_json_utf8_policy policy)
{
    const uint8_t *p = s.ptr;
    size_t n = s.len;
    size_t run = 0;
    size_t i = 0;
    kjson_char ch; /* out of the loop: one allocation for WP */
    keel_result r = json_write_append_byte(b, '"');

    /*@ loop invariant 0 <= run <= i <= n;
        loop invariant r == KEEL_OK || r == KEEL_ERR_TOO_LARGE || r == KEEL_ERR_INVALID_ARG;
        loop invariant r == KEEL_OK ==> \at(b->len, Pre) <= b->len <= b->cap;
        loop assigns i, run, r, ch, b->len, b->ptr[\at(b->len, Pre) .. b->cap - 1];
        loop variant n - i;
    */
    while (r == KEEL_OK && i < n) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80 && kjson_utf8_decode(s, i, &ch) == KEEL_OK) {
            i += ch.len;
            continue;
        }
        if (c >= 0x80 && policy == KEEL_JSON_UTF8_REJECT) {
            return KEEL_ERR_PARSE;
        }
        r = json_write_append_range(b, s, run, i);
        if (r != KEEL_OK) {
            return r;
        }
        if (c >= 0x80) {
            keel_slice replacement = { json_write_replacement, sizeof json_write_replacement };
            r = keel_buf_append(b, replacement);
            i += ch.len;
        } else {
            r = json_write_escape_byte(b, c);
            i++;
        }
        run = i;
    }
    if (r == KEEL_OK) {
        r = json_write_append_range(b, s, run, n);
    }
    if (r == KEEL_OK) {
        r = json_write_append_byte(b, '"');
    }
    return r;
}

/*@ requires \valid(w) && buf_arg(out);
    assigns *w;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> json_write_shape(*w) && w->out == out && w->depth == 0 &&
                                  w->state == JSON_WRITE_VALUE;
*/
keel_result keel_json_writer_init(keel_json_writer *w, keel_buf *out, uint32_t max_depth,
                                  keel_json_utf8_policy policy)
{
    if (w == NULL || !keel_buf_valid(out) || max_depth > KEEL_JSON_DEPTH_CAP ||
        (policy != KEEL_JSON_UTF8_REPLACE && policy != KEEL_JSON_UTF8_REJECT)) {
        return KEEL_ERR_INVALID_ARG;
    }
    w->out = out;
    w->depth = 0;
    w->max_depth = max_depth == 0 ? KEEL_JSON_DEFAULT_DEPTH : max_depth;
    w->state = JSON_WRITE_VALUE;
    w->policy = policy;
    /*@ loop invariant 0 <= k <= KEEL_JSON_DEPTH_CAP / 64;
        loop assigns k, w->stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
                     w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1];
        loop variant KEEL_JSON_DEPTH_CAP / 64 - k;
    */
    for (size_t k = 0; k < KEEL_JSON_DEPTH_CAP / 64u; k++) {
        w->stack[k] = 0;
        w->first[k] = 0;
    }
    return KEEL_OK;
}

/* A scalar value: text as it is, or (quote) as an escaped string. */
/*@ requires json_write_arg(w) && valid_slice(text);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
static KEEL_MUST_USE keel_result json_write_scalar(keel_json_writer *w, keel_slice text, bool quote)
{
    KEEL_TRY(json_write_check_writer(w));
    if (w->state != JSON_WRITE_VALUE) {
        return KEEL_ERR_STATE;
    }
    size_t mark = w->out->len;
    keel_result r = json_write_comma_before_value(w);
    if (r == KEEL_OK) {
        r = quote ? json_write_append_quoted(w->out, text, w->policy)
                  : keel_buf_append(w->out, text);
    }
    if (r != KEEL_OK) {
        w->out->len = mark;
        return r;
    }
    json_write_value_done(w);
    return KEEL_OK;
}

/*@ requires json_write_arg(w);
    assigns w->state, w->depth, w->stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len) && w->depth == \old(w->depth);
*/
static KEEL_MUST_USE keel_result json_write_open_container(keel_json_writer *w, bool object)
{
    KEEL_TRY(json_write_check_writer(w));
    if (w->state != JSON_WRITE_VALUE) {
        return KEEL_ERR_STATE;
    }
    if (w->depth == w->max_depth) {
        return KEEL_ERR_TOO_LARGE;
    }
    size_t mark = w->out->len;
    keel_result r = json_write_comma_before_value(w);
    if (r == KEEL_OK) {
        r = json_write_append_byte(w->out, object ? '{' : '[');
    }
    if (r != KEEL_OK) {
        w->out->len = mark;
        return r;
    }
    if (w->depth > 0) {
        json_write_level_bit_set(w->first, w->depth, false);
    }
    w->depth++;
    json_write_level_bit_set(w->stack, w->depth, object);
    json_write_level_bit_set(w->first, w->depth, true);
    w->state = object ? JSON_WRITE_KEY : JSON_WRITE_VALUE;
    return KEEL_OK;
}

/*@ requires json_write_arg(w);
    assigns w->state, w->depth, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len) && w->depth == \old(w->depth);
*/
static KEEL_MUST_USE keel_result json_write_close_container(keel_json_writer *w, bool object)
{
    KEEL_TRY(json_write_check_writer(w));
    /* An object may not end between a key and its value. */
    if (w->depth == 0 || json_write_in_object(w) != object ||
        (object && w->state != JSON_WRITE_KEY)) {
        return KEEL_ERR_STATE;
    }
    size_t mark = w->out->len;
    keel_result r = keel_buf_append_byte(w->out, object ? '}' : ']');
    if (r != KEEL_OK) {
        w->out->len = mark;
        return r;
    }
    w->depth--;
    json_write_value_done(w);
    return KEEL_OK;
}

/*@ requires json_write_arg(w);
    assigns w->state, w->depth, w->stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_object_begin(keel_json_writer *w)
{
    return json_write_open_container(w, true);
}

/*@ requires json_write_arg(w);
    assigns w->state, w->depth, w->stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_array_begin(keel_json_writer *w)
{
    return json_write_open_container(w, false);
}

/*@ requires json_write_arg(w);
    assigns w->state, w->depth, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_object_end(keel_json_writer *w)
{
    return json_write_close_container(w, true);
}

/*@ requires json_write_arg(w);
    assigns w->state, w->depth, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_array_end(keel_json_writer *w)
{
    return json_write_close_container(w, false);
}

/*@ requires json_write_arg(w) && slice_arg(key);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_key(keel_json_writer *w, keel_slice key)
{
    keel_result r = json_write_check_writer(w);
    if (r != KEEL_OK || !keel_slice_valid(key)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!json_write_in_object(w) || w->state != JSON_WRITE_KEY) {
        return KEEL_ERR_STATE;
    }
    size_t mark = w->out->len;
    if (!json_write_level_bit(w->first, w->depth)) {
        r = json_write_append_byte(w->out, ',');
    }
    if (r == KEEL_OK) {
        r = json_write_append_quoted(w->out, key, w->policy);
    }
    if (r == KEEL_OK) {
        r = json_write_append_byte(w->out, ':');
    }
    if (r != KEEL_OK) {
        w->out->len = mark;
        return r;
    }
    json_write_level_bit_set(w->first, w->depth, false);
    w->state = JSON_WRITE_VALUE;
    return KEEL_OK;
}

/*@ requires json_write_arg(w) && slice_arg(s);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_string(keel_json_writer *w, keel_slice s)
{
    if (!keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    return json_write_scalar(w, s, true);
}

/* The length of v in decimal written to digits (a minus sign first for
 * negative); 0 only if keel_buf refused the local array, which it does not. */
/*@ requires \valid(digits + (0 .. 20));
    assigns digits[0 .. 20];
    ensures \result <= 21;
*/
static size_t json_write_format_decimal(uint8_t *digits, bool neg, uint64_t magnitude)
{
    keel_buf t = { digits, 21, 0 };
    if (neg && keel_buf_append_byte(&t, '-') != KEEL_OK) {
        return 0;
    }
    if (keel_buf_append_u64_dec(&t, magnitude) != KEEL_OK) {
        return 0;
    }
    return t.len;
}

/*@ requires json_write_arg(w);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_i64(keel_json_writer *w, int64_t v)
{
    uint8_t digits[21];
    /* -(v + 1) + 1 reaches 2^63 without overflowing. */
    uint64_t magnitude = v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
    keel_slice text = { digits, json_write_format_decimal(digits, v < 0, magnitude) };
    if (text.len == 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    return json_write_scalar(w, text, false);
}

/*@ requires json_write_arg(w);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_u64(keel_json_writer *w, uint64_t v)
{
    uint8_t digits[21];
    keel_slice text = { digits, json_write_format_decimal(digits, false, v) };
    if (text.len == 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    return json_write_scalar(w, text, false);
}

/*@ requires json_write_arg(w);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE || \result == KEEL_ERR_NO_MEMORY;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_double(keel_json_writer *w, double v)
{
    uint8_t text[24];
    keel_buf t = { text, sizeof text, 0 };
    KEEL_TRY(kjson_format_double(v, &t));
    keel_slice s = { text, t.len };
    return json_write_scalar(w, s, false);
}

/*@ requires json_write_arg(w);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_bool(keel_json_writer *w, bool v)
{
    keel_slice text = { v ? json_write_true : json_write_false,
                        v ? sizeof json_write_true : sizeof json_write_false };
    return json_write_scalar(w, text, false);
}

/*@ requires json_write_arg(w);
    assigns w->state, w->first[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1],
            w->out->len, w->out->ptr[w->out->len .. w->out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_PARSE;
    ensures \result != KEEL_OK && w != \null && \valid(w->out) ==>
              w->out->len == \old(w->out->len);
*/
keel_result keel_json_write_null(keel_json_writer *w)
{
    keel_slice text = { json_write_null, sizeof json_write_null };
    return json_write_scalar(w, text, false);
}

/*@ requires w == \null || (\valid_read(w) && buf_arg_read(w->out));
    assigns \nothing;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_STATE;
*/
keel_result keel_json_writer_finish(const keel_json_writer *w)
{
    if (w == NULL || !keel_buf_valid(w->out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    return w->state == JSON_WRITE_DONE && w->depth == 0 ? KEEL_OK : KEEL_ERR_STATE;
}

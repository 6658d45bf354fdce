/*
 * src/core/slice.c - bounds-checked views of bytes (see include/keel/slice.h).
 *
 * Written for Frama-C WP: every loop is a plain index loop, sub-ranges are
 * checked for overflow before bounds, and results are computed into locals
 * before any out-parameter is written, so that a failure leaves everything
 * unchanged. The contracts use the predicates of keel/slice.h; the
 * precondition model is slice_arg / buf_arg / cursor_arg: any value may be
 * passed, one that passes the C validity check must be backed by memory.
 *
 * Bytes are copied with a proven loop rather than memmove: WP's typed memory
 * model cannot see through the uint8_t * -> char * casts of the libc spec.
 */
#include "keel/slice.h"

#include <string.h>

/* ---- validity --------------------------------------------------------- */

/*@ assigns \nothing;
    ensures \result <==> addr_range_ok(ptr, len);
*/
static bool slice_addr_range_ok(const uint8_t *ptr, size_t len)
{
    if (ptr == NULL) {
        return len == 0;
    }
    return len <= UINTPTR_MAX - (uintptr_t)ptr;
}

/*@ assigns \nothing;
    ensures \result <==> slice_shape(s);
*/
bool keel_slice_valid(keel_slice s)
{
    return slice_addr_range_ok(s.ptr, s.len);
}

/*@ requires b == \null || \valid_read(b);
    assigns \nothing;
    ensures \result <==> (b != \null && buf_shape(*b));
*/
bool keel_buf_valid(const keel_buf *b)
{
    if (b == NULL) {
        return false;
    }
    return b->len <= b->cap && slice_addr_range_ok(b->ptr, b->cap);
}

/*@ requires c == \null || \valid_read(c);
    assigns \nothing;
    ensures \result <==> (c != \null && cursor_shape(*c));
*/
bool keel_cursor_valid(const keel_cursor *c)
{
    if (c == NULL) {
        return false;
    }
    return keel_slice_valid(c->src) && c->pos <= c->src.len;
}

/* ---- constructors ----------------------------------------------------- */

/*@ assigns \nothing;
    ensures \result.ptr == \null && \result.len == 0;
*/
keel_slice keel_slice_empty(void)
{
    keel_slice s = { NULL, 0 };
    return s;
}

/* The raw pointer is cast once, and the cast value is what is checked, so
 * the result's shape is proven; that its bytes are readable is the
 * caller's promise (WP cannot follow void * -> uint8_t * casts). */
/*@ requires out != \null ==> \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> slice_shape(*out) && out->len == len;
    ensures out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
*/
keel_result keel_slice_from(const void *ptr, size_t len, keel_slice *out)
{
    const uint8_t *p = (const uint8_t *)ptr;
    if (out == NULL || !slice_addr_range_ok(p, len)) {
        return KEEL_ERR_INVALID_ARG;
    }
    out->ptr = p;
    out->len = len;
    return KEEL_OK;
}

/*@ requires s == \null || valid_read_string(s);
    assigns \nothing;
    ensures slice_shape(\result);
    ensures s == \null ==> \result.len == 0;
*/
keel_slice keel_slice_cstr(const char *s)
{
    keel_slice out = { NULL, 0 };
    if (s == NULL) {
        return out;
    }
    if (keel_slice_from(s, strlen(s), &out) != KEEL_OK) {
        return keel_slice_empty();
    }
    return out;
}

/*@ requires b != \null ==> \valid(b);
    assigns *b;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> buf_shape(*b) && b->cap == cap && b->len == 0;
    ensures b == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result != KEEL_OK && b != \null ==> *b == \old(*b);
*/
keel_result keel_buf_init(keel_buf *b, void *storage, size_t cap)
{
    uint8_t *p = (uint8_t *)storage;
    if (b == NULL || !slice_addr_range_ok(p, cap)) {
        return KEEL_ERR_INVALID_ARG;
    }
    b->ptr = p;
    b->cap = cap;
    b->len = 0;
    return KEEL_OK;
}

/*@ requires buf_arg_read(b);
    assigns \nothing;
    ensures valid_slice(\result) && slice_shape(\result);
    ensures b != \null && buf_shape(*b) ==> \result.ptr == b->ptr && \result.len == b->len;
    ensures !(b != \null && buf_shape(*b)) ==> \result.len == 0;
*/
keel_slice keel_buf_slice(const keel_buf *b)
{
    keel_slice s = { NULL, 0 };
    if (keel_buf_valid(b)) {
        s.ptr = b->ptr;
        s.len = b->len;
    }
    return s;
}

/*@ requires b == \null || \valid_read(b);
    assigns \nothing;
    ensures b != \null && buf_shape(*b) ==> \result == b->cap - b->len;
    ensures !(b != \null && buf_shape(*b)) ==> \result == 0;
*/
size_t keel_buf_spare(const keel_buf *b)
{
    if (!keel_buf_valid(b)) {
        return 0;
    }
    return b->cap - b->len;
}

/* ---- slice: sub-ranges ------------------------------------------------ */

/* s[off, off+len): the caller has checked off + len <= s.len. A zero-length
 * sub-slice is the empty slice so that it never points past an object. */
/*@ requires valid_slice(s) && off + len <= s.len;
    assigns \nothing;
    ensures valid_slice(\result) && \result.len == len;
    ensures len > 0 ==> \result.ptr == s.ptr + off;
    ensures len == 0 ==> \result.ptr == \null;
*/
static keel_slice slice_sub_unchecked(keel_slice s, size_t off, size_t len)
{
    keel_slice r = { NULL, 0 };
    if (len > 0) {
        r.ptr = s.ptr + off;
        r.len = len;
    }
    return r;
}

/* True when [off, off+len) lies inside [0, total), overflow first. */
/*@ assigns \nothing;
    ensures \result <==> off + len <= total;
*/
static bool slice_range_within(size_t off, size_t len, size_t total)
{
    if (off > SIZE_MAX - len) {
        return false;
    }
    return off + len <= total;
}

/*@ requires slice_arg(s);
    requires out != \null ==> \valid(out);
    assigns *out;
    behavior null_out:
      assumes out == \null;
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior invalid_slice:
      assumes out != \null && !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes out != \null && slice_shape(s) && off + len > s.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes out != \null && slice_shape(s) && off + len <= s.len;
      assigns *out;
      ensures \result == KEEL_OK;
      ensures valid_slice(*out) && out->len == len;
      ensures len > 0 ==> out->ptr == s.ptr + off;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_sub(keel_slice s, size_t off, size_t len, keel_slice *out)
{
    if (out == NULL || !keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!slice_range_within(off, len, s.len)) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    *out = slice_sub_unchecked(s, off, len);
    return KEEL_OK;
}

/*@ requires slice_arg(s);
    requires out != \null ==> \valid(out);
    assigns *out;
    behavior invalid:
      assumes out == \null || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes out != \null && slice_shape(s) && off > s.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes out != \null && slice_shape(s) && off <= s.len;
      assigns *out;
      ensures \result == KEEL_OK;
      ensures valid_slice(*out) && out->len == s.len - off;
      ensures out->len > 0 ==> out->ptr == s.ptr + off;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_from_off(keel_slice s, size_t off, keel_slice *out)
{
    if (out == NULL || !keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (off > s.len) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    *out = slice_sub_unchecked(s, off, s.len - off);
    return KEEL_OK;
}

/*@ requires slice_arg(s);
    requires head != \null ==> \valid(head);
    requires tail != \null ==> \valid(tail);
    requires head != \null && tail != \null && head != tail ==> \separated(head, tail);
    assigns *head, *tail;
    behavior invalid:
      assumes head == \null || tail == \null || head == tail || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes head != \null && tail != \null && head != tail && slice_shape(s);
      assumes at > s.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes head != \null && tail != \null && head != tail && slice_shape(s);
      assumes at <= s.len;
      assigns *head, *tail;
      ensures \result == KEEL_OK;
      ensures valid_slice(*head) && head->len == at;
      ensures valid_slice(*tail) && tail->len == s.len - at;
      ensures head->len > 0 ==> head->ptr == s.ptr;
      ensures tail->len > 0 ==> tail->ptr == s.ptr + at;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_split_at(keel_slice s, size_t at, keel_slice *head, keel_slice *tail)
{
    if (head == NULL || tail == NULL || head == tail || !keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (at > s.len) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    *head = slice_sub_unchecked(s, 0, at);
    *tail = slice_sub_unchecked(s, at, s.len - at);
    return KEEL_OK;
}

/* Index of the first byte in s at or after from, or s.len when absent. */
/*@ requires valid_slice(s) && from <= s.len;
    assigns \nothing;
    ensures from <= \result <= s.len;
    ensures \forall integer k; from <= k < \result ==> s.ptr[k] != byte;
    ensures \result < s.len ==> s.ptr[\result] == byte;
*/
static size_t slice_index_of_byte(keel_slice s, size_t from, uint8_t byte)
{
    size_t i;
    /*@ loop invariant from <= i <= s.len;
        loop invariant \forall integer k; from <= k < i ==> s.ptr[k] != byte;
        loop assigns i;
        loop variant s.len - i;
    */
    for (i = from; i < s.len; i++) {
        if (s.ptr[i] == byte) {
            break;
        }
    }
    return i;
}

/*@ requires slice_arg(s);
    requires head != \null ==> \valid(head);
    requires tail != \null ==> \valid(tail);
    requires head != \null && tail != \null && head != tail ==> \separated(head, tail);
    assigns *head, *tail;
    behavior invalid:
      assumes head == \null || tail == \null || head == tail || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior not_found:
      assumes head != \null && tail != \null && head != tail && slice_shape(s);
      assumes \forall integer k; 0 <= k < s.len ==> s.ptr[k] != byte;
      assigns \nothing;
      ensures \result == KEEL_ERR_NOT_FOUND;
    behavior found:
      assumes head != \null && tail != \null && head != tail && slice_shape(s);
      assumes \exists integer k; 0 <= k < s.len && s.ptr[k] == byte;
      assigns *head, *tail;
      ensures \result == KEEL_OK;
      ensures valid_slice(*head) && valid_slice(*tail);
      ensures head->len + 1 + tail->len == s.len;
      ensures s.ptr[head->len] == byte;
      ensures \forall integer k; 0 <= k < head->len ==> s.ptr[k] != byte;
      ensures tail->len > 0 ==> tail->ptr == s.ptr + head->len + 1;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_split_once(keel_slice s, uint8_t byte, keel_slice *head, keel_slice *tail)
{
    if (head == NULL || tail == NULL || head == tail || !keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t i = slice_index_of_byte(s, 0, byte);
    if (i == s.len) {
        return KEEL_ERR_NOT_FOUND;
    }
    *head = slice_sub_unchecked(s, 0, i);
    *tail = slice_sub_unchecked(s, i + 1, s.len - i - 1);
    return KEEL_OK;
}

/* ---- slice: search and compare ---------------------------------------- */

/*@ requires slice_arg(s);
    requires idx != \null ==> \valid(idx);
    assigns *idx;
    behavior invalid:
      assumes idx == \null || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior not_found:
      assumes idx != \null && slice_shape(s);
      assumes \forall integer k; 0 <= k < s.len ==> s.ptr[k] != byte;
      assigns \nothing;
      ensures \result == KEEL_ERR_NOT_FOUND;
    behavior found:
      assumes idx != \null && slice_shape(s);
      assumes \exists integer k; 0 <= k < s.len && s.ptr[k] == byte;
      assigns *idx;
      ensures \result == KEEL_OK;
      ensures *idx < s.len && s.ptr[*idx] == byte;
      ensures \forall integer k; 0 <= k < *idx ==> s.ptr[k] != byte;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_find_byte(keel_slice s, uint8_t byte, size_t *idx)
{
    if (idx == NULL || !keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t i = slice_index_of_byte(s, 0, byte);
    if (i == s.len) {
        return KEEL_ERR_NOT_FOUND;
    }
    *idx = i;
    return KEEL_OK;
}

/* True when a[aoff, aoff+n) == b[0, n); the caller has checked the ranges. */
/*@ requires valid_slice(a) && valid_slice(b);
    requires aoff + n <= a.len && n <= b.len;
    assigns \nothing;
    ensures \result <==> bytes_eq(a.ptr + aoff, b.ptr, n);
*/
static bool slice_bytes_equal_at(keel_slice a, size_t aoff, keel_slice b, size_t n)
{
    size_t i;
    /*@ loop invariant 0 <= i <= n;
        loop invariant bytes_eq(a.ptr + aoff, b.ptr, i);
        loop assigns i;
        loop variant n - i;
    */
    for (i = 0; i < n; i++) {
        if (a.ptr[aoff + i] != b.ptr[i]) {
            return false;
        }
    }
    return true;
}

/*@ requires slice_arg(s) && slice_arg(needle);
    requires idx != \null ==> \valid(idx);
    assigns *idx;
    behavior invalid:
      assumes idx == \null || !slice_shape(s) || !slice_shape(needle);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior not_found:
      assumes idx != \null && slice_shape(s) && slice_shape(needle);
      assumes \forall integer j; 0 <= j && j + needle.len <= s.len ==>
                !bytes_eq(s.ptr + j, needle.ptr, needle.len);
      assigns \nothing;
      ensures \result == KEEL_ERR_NOT_FOUND;
    behavior found:
      assumes idx != \null && slice_shape(s) && slice_shape(needle);
      assumes \exists integer j; 0 <= j && j + needle.len <= s.len &&
                bytes_eq(s.ptr + j, needle.ptr, needle.len);
      assigns *idx;
      ensures \result == KEEL_OK;
      ensures *idx + needle.len <= s.len;
      ensures bytes_eq(s.ptr + *idx, needle.ptr, needle.len);
      ensures \forall integer j; 0 <= j < *idx ==> !bytes_eq(s.ptr + j, needle.ptr, needle.len);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_find(keel_slice s, keel_slice needle, size_t *idx)
{
    if (idx == NULL || !keel_slice_valid(s) || !keel_slice_valid(needle)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (needle.len > s.len) {
        return KEEL_ERR_NOT_FOUND;
    }
    size_t last = s.len - needle.len;
    size_t i;
    /*@ loop invariant 0 <= i <= last;
        loop invariant \forall integer j; 0 <= j < i ==>
                         !bytes_eq(s.ptr + j, needle.ptr, needle.len);
        loop assigns i;
        loop variant last - i;
    */
    for (i = 0; i <= last; i++) {
        if (slice_bytes_equal_at(s, i, needle, needle.len)) {
            *idx = i;
            return KEEL_OK;
        }
        if (i == last) {
            break;
        }
    }
    return KEEL_ERR_NOT_FOUND;
}

/*@ requires slice_arg(a) && slice_arg(b);
    assigns \nothing;
    ensures \result <==> (slice_shape(a) && slice_shape(b) && a.len == b.len &&
                          bytes_eq(a.ptr, b.ptr, a.len));
*/
bool keel_slice_eq(keel_slice a, keel_slice b)
{
    if (!keel_slice_valid(a) || !keel_slice_valid(b) || a.len != b.len) {
        return false;
    }
    return slice_bytes_equal_at(a, 0, b, a.len);
}

/*@ assigns \nothing;
    ensures \result == ascii_lower(c);
*/
static uint8_t slice_ascii_lower(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') {
        return (uint8_t)(c + ('a' - 'A'));
    }
    return c;
}

/*@ requires slice_arg(a) && slice_arg(b);
    assigns \nothing;
    ensures \result <==> (slice_shape(a) && slice_shape(b) && a.len == b.len &&
                          \forall integer k; 0 <= k < a.len ==>
                            ascii_lower(a.ptr[k]) == ascii_lower(b.ptr[k]));
*/
bool keel_slice_eq_nocase(keel_slice a, keel_slice b)
{
    if (!keel_slice_valid(a) || !keel_slice_valid(b) || a.len != b.len) {
        return false;
    }
    size_t i;
    /*@ loop invariant 0 <= i <= a.len;
        loop invariant \forall integer k; 0 <= k < i ==>
                         ascii_lower(a.ptr[k]) == ascii_lower(b.ptr[k]);
        loop assigns i;
        loop variant a.len - i;
    */
    for (i = 0; i < a.len; i++) {
        if (slice_ascii_lower(a.ptr[i]) != slice_ascii_lower(b.ptr[i])) {
            return false;
        }
    }
    return true;
}

/*@ requires slice_arg(a) && slice_arg(b);
    assigns \nothing;
    ensures -1 <= \result <= 1;
    ensures slice_shape(a) && slice_shape(b) ==>
              (\result == 0 <==> (a.len == b.len && bytes_eq(a.ptr, b.ptr, a.len)));
*/
int keel_slice_cmp(keel_slice a, keel_slice b)
{
    if (!keel_slice_valid(a)) {
        a = keel_slice_empty();
    }
    if (!keel_slice_valid(b)) {
        b = keel_slice_empty();
    }
    size_t n = a.len < b.len ? a.len : b.len;
    size_t i;
    /*@ loop invariant 0 <= i <= n;
        loop invariant bytes_eq(a.ptr, b.ptr, i);
        loop assigns i;
        loop variant n - i;
    */
    for (i = 0; i < n; i++) {
        if (a.ptr[i] != b.ptr[i]) {
            return a.ptr[i] < b.ptr[i] ? -1 : 1;
        }
    }
    if (a.len == b.len) {
        return 0;
    }
    return a.len < b.len ? -1 : 1;
}

/*@ requires slice_arg(s) && slice_arg(prefix);
    assigns \nothing;
    ensures \result <==> (slice_shape(s) && slice_shape(prefix) && prefix.len <= s.len &&
                          bytes_eq(s.ptr, prefix.ptr, prefix.len));
*/
bool keel_slice_starts_with(keel_slice s, keel_slice prefix)
{
    if (!keel_slice_valid(s) || !keel_slice_valid(prefix) || prefix.len > s.len) {
        return false;
    }
    return slice_bytes_equal_at(s, 0, prefix, prefix.len);
}

/*@ requires slice_arg(s) && slice_arg(suffix);
    assigns \nothing;
    ensures \result <==> (slice_shape(s) && slice_shape(suffix) && suffix.len <= s.len &&
                          bytes_eq(s.ptr + (s.len - suffix.len), suffix.ptr, suffix.len));
*/
bool keel_slice_ends_with(keel_slice s, keel_slice suffix)
{
    if (!keel_slice_valid(s) || !keel_slice_valid(suffix) || suffix.len > s.len) {
        return false;
    }
    return slice_bytes_equal_at(s, s.len - suffix.len, suffix, suffix.len);
}

/*@ assigns \nothing;
    ensures \result <==> is_space(c);
*/
static bool slice_is_ascii_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/*@ requires slice_arg(s);
    assigns \nothing;
    ensures valid_slice(\result);
    ensures !slice_shape(s) ==> \result.len == 0;
    ensures slice_shape(s) ==> \result.len <= s.len;
    ensures slice_shape(s) ==>
              \forall integer k; 0 <= k < s.len - \result.len ==> is_space(s.ptr[k]);
    ensures slice_shape(s) && \result.len > 0 ==>
              \result.ptr == s.ptr + (s.len - \result.len) && !is_space(\result.ptr[0]);
*/
keel_slice keel_slice_trim_left(keel_slice s)
{
    if (!keel_slice_valid(s)) {
        return keel_slice_empty();
    }
    size_t i;
    /*@ loop invariant 0 <= i <= s.len;
        loop invariant \forall integer k; 0 <= k < i ==> is_space(s.ptr[k]);
        loop assigns i;
        loop variant s.len - i;
    */
    for (i = 0; i < s.len; i++) {
        if (!slice_is_ascii_space(s.ptr[i])) {
            break;
        }
    }
    return slice_sub_unchecked(s, i, s.len - i);
}

/*@ requires slice_arg(s);
    assigns \nothing;
    ensures valid_slice(\result);
    ensures !slice_shape(s) ==> \result.len == 0;
    ensures slice_shape(s) ==> \result.len <= s.len;
    ensures slice_shape(s) ==>
              \forall integer k; \result.len <= k < s.len ==> is_space(s.ptr[k]);
    ensures slice_shape(s) && \result.len > 0 ==>
              \result.ptr == s.ptr && !is_space(s.ptr[\result.len - 1]);
*/
keel_slice keel_slice_trim_right(keel_slice s)
{
    if (!keel_slice_valid(s)) {
        return keel_slice_empty();
    }
    size_t n;
    /*@ loop invariant 0 <= n <= s.len;
        loop invariant \forall integer k; n <= k < s.len ==> is_space(s.ptr[k]);
        loop assigns n;
        loop variant n;
    */
    for (n = s.len; n > 0; n--) {
        if (!slice_is_ascii_space(s.ptr[n - 1])) {
            break;
        }
    }
    return slice_sub_unchecked(s, 0, n);
}

/* The result of trim_left is readable but its no-wrap shape is not known to
 * WP (it lies inside s, which was checked), hence the weaker contract. */
/*@ requires slice_arg(s);
    assigns \nothing;
    ensures valid_slice(\result);
    ensures slice_shape(s) ==> \result.len <= s.len;
    ensures !slice_shape(s) ==> \result.len == 0;
*/
keel_slice keel_slice_trim(keel_slice s)
{
    return keel_slice_trim_right(keel_slice_trim_left(s));
}

/* ---- slice: element and integer reads --------------------------------- */

/*@ requires slice_arg(s);
    requires out != \null ==> \valid(out);
    assigns *out;
    behavior invalid:
      assumes out == \null || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes out != \null && slice_shape(s) && idx >= s.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes out != \null && slice_shape(s) && idx < s.len;
      assigns *out;
      ensures \result == KEEL_OK && *out == s.ptr[idx];
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_get(keel_slice s, size_t idx, uint8_t *out)
{
    if (out == NULL || !keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (idx >= s.len) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    *out = s.ptr[idx];
    return KEEL_OK;
}

/* Big-endian value of s[off, off+n), n <= 8; the caller checked the range. */
/*@ requires valid_slice(s) && off + n <= s.len && n <= 8;
    assigns \nothing;
*/
static uint64_t slice_load_be(keel_slice s, size_t off, size_t n)
{
    uint64_t v = 0;
    size_t i;
    /*@ loop invariant 0 <= i <= n;
        loop assigns i, v;
        loop variant n - i;
    */
    for (i = 0; i < n; i++) {
        v = (v << 8) | s.ptr[off + i];
    }
    return v;
}

/* The shared body of the read_uNNbe functions. */
/*@ requires slice_arg(s) && n <= 8;
    requires \valid(v);
    assigns *v;
    behavior invalid:
      assumes !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes slice_shape(s) && off + n > s.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes slice_shape(s) && off + n <= s.len;
      assigns *v;
      ensures \result == KEEL_OK;
    complete behaviors;
    disjoint behaviors;
*/
static KEEL_MUST_USE keel_result slice_read_be(keel_slice s, size_t off, size_t n, uint64_t *v)
{
    if (!keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!slice_range_within(off, n, s.len)) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    *v = slice_load_be(s, off, n);
    return KEEL_OK;
}

/*@ requires slice_arg(s);
    requires out != \null ==> \valid(out);
    assigns *out;
    behavior invalid:
      assumes out == \null || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes out != \null && slice_shape(s) && off + 2 > s.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes out != \null && slice_shape(s) && off + 2 <= s.len;
      assigns *out;
      ensures \result == KEEL_OK;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_read_u16be(keel_slice s, size_t off, uint16_t *out)
{
    uint64_t v = 0;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = slice_read_be(s, off, 2, &v);
    if (r == KEEL_OK) {
        *out = (uint16_t)v;
    }
    return r;
}

/*@ requires slice_arg(s);
    requires out != \null ==> \valid(out);
    assigns *out;
    behavior invalid:
      assumes out == \null || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes out != \null && slice_shape(s) && off + 4 > s.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes out != \null && slice_shape(s) && off + 4 <= s.len;
      assigns *out;
      ensures \result == KEEL_OK;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_read_u32be(keel_slice s, size_t off, uint32_t *out)
{
    uint64_t v = 0;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = slice_read_be(s, off, 4, &v);
    if (r == KEEL_OK) {
        *out = (uint32_t)v;
    }
    return r;
}

/*@ requires slice_arg(s);
    requires out != \null ==> \valid(out);
    assigns *out;
    behavior invalid:
      assumes out == \null || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes out != \null && slice_shape(s) && off + 8 > s.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes out != \null && slice_shape(s) && off + 8 <= s.len;
      assigns *out;
      ensures \result == KEEL_OK;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_read_u64be(keel_slice s, size_t off, uint64_t *out)
{
    uint64_t v = 0;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = slice_read_be(s, off, 8, &v);
    if (r == KEEL_OK) {
        *out = v;
    }
    return r;
}

/*@ requires slice_arg(s);
    requires out != \null ==> \valid(out);
    assigns *out;
    behavior invalid:
      assumes out == \null || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior malformed:
      assumes out != \null && slice_shape(s);
      assumes s.len == 0 || \exists integer k; 0 <= k < s.len && !is_digit(s.ptr[k]);
      assigns \nothing;
      ensures \result == KEEL_ERR_PARSE;
    behavior too_large:
      assumes out != \null && slice_shape(s) && s.len > 0;
      assumes \forall integer k; 0 <= k < s.len ==> is_digit(s.ptr[k]);
      assumes dec_value(s.ptr, s.len) > max;
      assigns \nothing;
      ensures \result == KEEL_ERR_TOO_LARGE;
    behavior ok:
      assumes out != \null && slice_shape(s) && s.len > 0;
      assumes \forall integer k; 0 <= k < s.len ==> is_digit(s.ptr[k]);
      assumes dec_value(s.ptr, s.len) <= max;
      assigns *out;
      ensures \result == KEEL_OK && *out == dec_value(s.ptr, s.len);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_slice_parse_u64(keel_slice s, uint64_t max, uint64_t *out)
{
    if (out == NULL || !keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (s.len == 0) {
        return KEEL_ERR_PARSE;
    }
    /* A non-digit anywhere is PARSE even after the value went past max:
     * malformed input is reported as malformed, whatever its length. */
    uint64_t v = 0;
    bool too_large = false;
    size_t i;
    /*@ loop invariant 0 <= i <= s.len;
        loop invariant \forall integer k; 0 <= k < i ==> is_digit(s.ptr[k]);
        loop invariant !too_large ==> v == dec_value(s.ptr, i) && v <= max;
        loop invariant too_large ==> dec_value(s.ptr, i) > max;
        loop assigns i, v, too_large;
        loop variant s.len - i;
    */
    for (i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        if (c < '0' || c > '9') {
            return KEEL_ERR_PARSE;
        }
        uint64_t d = (uint64_t)(c - '0');
        if (!too_large) {
            if (d > max || v > (max - d) / 10u) {
                too_large = true;
            } else {
                v = v * 10u + d;
            }
        }
    }
    if (too_large) {
        return KEEL_ERR_TOO_LARGE;
    }
    *out = v;
    return KEEL_OK;
}

/* ---- cursor: sequential reads ----------------------------------------- */

/*@ requires slice_arg(s);
    requires c != \null ==> \valid(c);
    assigns *c;
    behavior invalid:
      assumes c == \null || !slice_shape(s);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior ok:
      assumes c != \null && slice_shape(s);
      assigns *c;
      ensures \result == KEEL_OK;
      ensures c->src == s && c->pos == 0;
      ensures cursor_shape(*c) && valid_cursor(*c);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_init(keel_cursor *c, keel_slice s)
{
    if (c == NULL || !keel_slice_valid(s)) {
        return KEEL_ERR_INVALID_ARG;
    }
    c->src = s;
    c->pos = 0;
    return KEEL_OK;
}

/*@ requires cursor_arg_read(c);
    assigns \nothing;
    ensures c != \null && cursor_shape(*c) ==> \result == c->src.len - c->pos;
    ensures !(c != \null && cursor_shape(*c)) ==> \result == 0;
*/
size_t keel_cursor_remaining(const keel_cursor *c)
{
    if (!keel_cursor_valid(c)) {
        return 0;
    }
    return c->src.len - c->pos;
}

/*@ requires cursor_arg_read(c);
    assigns \nothing;
    ensures valid_slice(\result);
    ensures c != \null && cursor_shape(*c) ==> \result.len == c->src.len - c->pos;
    ensures c != \null && cursor_shape(*c) && \result.len > 0 ==>
              \result.ptr == c->src.ptr + c->pos;
    ensures !(c != \null && cursor_shape(*c)) ==> \result.len == 0;
*/
keel_slice keel_cursor_rest(const keel_cursor *c)
{
    if (!keel_cursor_valid(c)) {
        return keel_slice_empty();
    }
    return slice_sub_unchecked(c->src, c->pos, c->src.len - c->pos);
}

/* The shared body of the cursor_read_uNNbe functions. */
/*@ requires cursor_arg(c) && n <= 8;
    requires \valid(v) && \separated(c, v);
    assigns c->pos, *v;
    behavior invalid:
      assumes c == \null || !cursor_shape(*c);
      assigns \nothing;
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior incomplete:
      assumes c != \null && cursor_shape(*c) && c->pos + n > c->src.len;
      assigns \nothing;
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior ok:
      assumes c != \null && cursor_shape(*c) && c->pos + n <= c->src.len;
      assigns c->pos, *v;
      ensures \result == KEEL_OK;
      ensures c->pos == \old(c->pos) + n && cursor_shape(*c);
    complete behaviors;
    disjoint behaviors;
*/
static KEEL_MUST_USE keel_result slice_cursor_read_be(keel_cursor *c, size_t n, uint64_t *v)
{
    if (!keel_cursor_valid(c)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (n > c->src.len - c->pos) {
        return KEEL_ERR_INCOMPLETE;
    }
    *v = slice_load_be(c->src, c->pos, n);
    c->pos += n;
    return KEEL_OK;
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    behavior invalid:
      assumes out == \null || c == \null || !cursor_shape(*c);
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior incomplete:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + 1 > c->src.len;
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior ok:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + 1 <= c->src.len;
      assigns c->pos, *out;
      ensures \result == KEEL_OK;
      ensures c->pos == \old(c->pos) + 1 && cursor_shape(*c);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_read_u8(keel_cursor *c, uint8_t *out)
{
    uint64_t v = 0;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = slice_cursor_read_be(c, 1, &v);
    if (r == KEEL_OK) {
        *out = (uint8_t)v;
    }
    return r;
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    behavior invalid:
      assumes out == \null || c == \null || !cursor_shape(*c);
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior incomplete:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + 2 > c->src.len;
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior ok:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + 2 <= c->src.len;
      assigns c->pos, *out;
      ensures \result == KEEL_OK;
      ensures c->pos == \old(c->pos) + 2 && cursor_shape(*c);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_read_u16be(keel_cursor *c, uint16_t *out)
{
    uint64_t v = 0;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = slice_cursor_read_be(c, 2, &v);
    if (r == KEEL_OK) {
        *out = (uint16_t)v;
    }
    return r;
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    behavior invalid:
      assumes out == \null || c == \null || !cursor_shape(*c);
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior incomplete:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + 4 > c->src.len;
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior ok:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + 4 <= c->src.len;
      assigns c->pos, *out;
      ensures \result == KEEL_OK;
      ensures c->pos == \old(c->pos) + 4 && cursor_shape(*c);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_read_u32be(keel_cursor *c, uint32_t *out)
{
    uint64_t v = 0;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = slice_cursor_read_be(c, 4, &v);
    if (r == KEEL_OK) {
        *out = (uint32_t)v;
    }
    return r;
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    behavior invalid:
      assumes out == \null || c == \null || !cursor_shape(*c);
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior incomplete:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + 8 > c->src.len;
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior ok:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + 8 <= c->src.len;
      assigns c->pos, *out;
      ensures \result == KEEL_OK;
      ensures c->pos == \old(c->pos) + 8 && cursor_shape(*c);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_read_u64be(keel_cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = slice_cursor_read_be(c, 8, &v);
    if (r == KEEL_OK) {
        *out = v;
    }
    return r;
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    behavior invalid:
      assumes out == \null || c == \null || !cursor_shape(*c);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior incomplete:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + n > c->src.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior ok:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + n <= c->src.len;
      assigns c->pos, *out;
      ensures \result == KEEL_OK;
      ensures c->pos == \old(c->pos) + n && cursor_shape(*c);
      ensures valid_slice(*out) && out->len == n;
      ensures n > 0 ==> out->ptr == c->src.ptr + \old(c->pos);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_take(keel_cursor *c, size_t n, keel_slice *out)
{
    if (out == NULL || !keel_cursor_valid(c)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (n > c->src.len - c->pos) {
        return KEEL_ERR_INCOMPLETE;
    }
    *out = slice_sub_unchecked(c->src, c->pos, n);
    c->pos += n;
    return KEEL_OK;
}

/*@ requires cursor_arg(c);
    assigns c->pos;
    behavior invalid:
      assumes c == \null || !cursor_shape(*c);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior incomplete:
      assumes c != \null && cursor_shape(*c) && c->pos + n > c->src.len;
      assigns \nothing;
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior ok:
      assumes c != \null && cursor_shape(*c) && c->pos + n <= c->src.len;
      assigns c->pos;
      ensures \result == KEEL_OK;
      ensures c->pos == \old(c->pos) + n && cursor_shape(*c);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_skip(keel_cursor *c, size_t n)
{
    if (!keel_cursor_valid(c)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (n > c->src.len - c->pos) {
        return KEEL_ERR_INCOMPLETE;
    }
    c->pos += n;
    return KEEL_OK;
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    behavior invalid:
      assumes out == \null || c == \null || !cursor_shape(*c);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior absent:
      assumes out != \null && c != \null && cursor_shape(*c);
      assumes \forall integer k; c->pos <= k < c->src.len ==> c->src.ptr[k] != byte;
      assigns \nothing;
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior found:
      assumes out != \null && c != \null && cursor_shape(*c);
      assumes \exists integer k; c->pos <= k < c->src.len && c->src.ptr[k] == byte;
      assigns c->pos, *out;
      ensures \result == KEEL_OK;
      ensures valid_slice(*out);
      ensures c->pos == \old(c->pos) + out->len + 1 && cursor_shape(*c);
      ensures c->src.ptr[c->pos - 1] == byte;
      ensures \forall integer k; \old(c->pos) <= k < c->pos - 1 ==> c->src.ptr[k] != byte;
      ensures out->len > 0 ==> out->ptr == c->src.ptr + \old(c->pos);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_take_until(keel_cursor *c, uint8_t byte, keel_slice *out)
{
    if (out == NULL || !keel_cursor_valid(c)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t i = slice_index_of_byte(c->src, c->pos, byte);
    if (i == c->src.len) {
        return KEEL_ERR_INCOMPLETE;
    }
    *out = slice_sub_unchecked(c->src, c->pos, i - c->pos);
    c->pos = i + 1;
    return KEEL_OK;
}

/* The shared body of the read_blockNN functions: an n-byte length prefix,
 * then that many bytes; the cursor moves only when both are there. */
/*@ requires cursor_arg(c) && 1 <= n <= 4;
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    behavior invalid:
      assumes out == \null || c == \null || !cursor_shape(*c);
      assigns \nothing;
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior no_prefix:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + n > c->src.len;
      assigns \nothing;
      ensures c != \null ==> c->pos == \old(c->pos);
      ensures out != \null ==> *out == \old(*out);
      ensures \result == KEEL_ERR_INCOMPLETE;
    behavior prefixed:
      assumes out != \null && c != \null && cursor_shape(*c) && c->pos + n <= c->src.len;
      assigns c->pos, *out;
      ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE;
      ensures \result == KEEL_ERR_INCOMPLETE ==> c->pos == \old(c->pos) && *out == \old(*out);
      ensures \result == KEEL_OK ==>
                valid_slice(*out) && cursor_shape(*c) &&
                c->pos == \old(c->pos) + n + out->len;
      ensures \result == KEEL_OK && out->len > 0 ==>
                out->ptr == c->src.ptr + (\old(c->pos) + n);
    complete behaviors;
    disjoint behaviors;
*/
static KEEL_MUST_USE keel_result slice_cursor_read_block(keel_cursor *c, size_t n, keel_slice *out)
{
    if (out == NULL || !keel_cursor_valid(c)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t left = c->src.len - c->pos;
    if (n > left) {
        return KEEL_ERR_INCOMPLETE;
    }
    uint64_t blen = slice_load_be(c->src, c->pos, n);
    if (blen > left - n) {
        return KEEL_ERR_INCOMPLETE;
    }
    *out = slice_sub_unchecked(c->src, c->pos + n, (size_t)blen);
    c->pos += n + (size_t)blen;
    return KEEL_OK;
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_ERR_INVALID_ARG <==>
              (out == \null || c == \null || !cursor_shape(\old(*c)));
    ensures \result != KEEL_OK && c != \null ==> c->pos == \old(c->pos);
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
    ensures \result == KEEL_OK ==>
              valid_slice(*out) && cursor_shape(*c) && c->pos == \old(c->pos) + 1 + out->len;
*/
keel_result keel_cursor_read_block8(keel_cursor *c, keel_slice *out)
{
    return slice_cursor_read_block(c, 1, out);
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_ERR_INVALID_ARG <==>
              (out == \null || c == \null || !cursor_shape(\old(*c)));
    ensures \result != KEEL_OK && c != \null ==> c->pos == \old(c->pos);
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
    ensures \result == KEEL_OK ==>
              valid_slice(*out) && cursor_shape(*c) && c->pos == \old(c->pos) + 2 + out->len;
*/
keel_result keel_cursor_read_block16(keel_cursor *c, keel_slice *out)
{
    return slice_cursor_read_block(c, 2, out);
}

/*@ requires cursor_arg(c);
    requires out != \null ==> \valid(out) && \separated(c, out);
    assigns c->pos, *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_ERR_INVALID_ARG <==>
              (out == \null || c == \null || !cursor_shape(\old(*c)));
    ensures \result != KEEL_OK && c != \null ==> c->pos == \old(c->pos);
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
    ensures \result == KEEL_OK ==>
              valid_slice(*out) && cursor_shape(*c) && c->pos == \old(c->pos) + 4 + out->len;
*/
keel_result keel_cursor_read_block32(keel_cursor *c, keel_slice *out)
{
    return slice_cursor_read_block(c, 4, out);
}

/*@ requires cursor_arg_read(c);
    assigns \nothing;
    behavior invalid:
      assumes c == \null || !cursor_shape(*c);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior at_end:
      assumes c != \null && cursor_shape(*c) && c->pos == c->src.len;
      ensures \result == KEEL_OK;
    behavior left_over:
      assumes c != \null && cursor_shape(*c) && c->pos != c->src.len;
      ensures \result == KEEL_ERR_PARSE;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_cursor_expect_end(const keel_cursor *c)
{
    if (!keel_cursor_valid(c)) {
        return KEEL_ERR_INVALID_ARG;
    }
    return c->pos == c->src.len ? KEEL_OK : KEEL_ERR_PARSE;
}

/* ---- buf: writes ------------------------------------------------------ */

/* dst[0, n) = src[0, n) for ranges the caller found apart. restrict tells
 * the compiler so, and it then copies as memcpy does (GCC calls memcpy,
 * clang copies 16 bytes a step) instead of a byte a step: most of what
 * keel_buf_append costs, and it runs on every response the HTTP server
 * writes. WP proves the loop as it reads; restrict's promise (no overlap)
 * rests on slice_move_bytes' address test, which WP cannot follow through
 * the integer casts (proofs/README.md, Assumptions 15). */
/*@ requires \valid(dst + (0 .. n - 1)) && \valid_read(src + (0 .. n - 1));
    assigns dst[0 .. n - 1];
    ensures \separated(dst + (0 .. n - 1), src + (0 .. n - 1)) ==>
              copied{Post, Pre}(dst, src, n);
*/
static void slice_copy_apart(uint8_t *restrict dst, const uint8_t *restrict src, size_t n)
{
    size_t i;
    /*@ loop invariant 0 <= i <= n;
        loop invariant \separated(dst + (0 .. n - 1), src + (0 .. n - 1)) ==>
                         \forall integer k; 0 <= k < i ==> dst[k] == \at(src[k], Pre);
        loop assigns i, dst[0 .. n - 1];
        loop variant n - i;
    */
    for (i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}

/* memmove: dst[0, n) = src[0, n) as it was before the call, whether or not
 * the ranges overlap (the copy direction follows the addresses; ranges
 * apart, the usual case, go to slice_copy_apart). */
/*@ requires \valid(dst + (0 .. n - 1)) && \valid_read(src + (0 .. n - 1));
    assigns dst[0 .. n - 1];
    ensures \separated(dst + (0 .. n - 1), src + (0 .. n - 1)) ==>
              copied{Post, Pre}(dst, src, n);
*/
static void slice_move_bytes(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i;
    uintptr_t d = (uintptr_t)dst;
    uintptr_t s = (uintptr_t)src;
    if ((d <= s && s - d >= n) || (s <= d && d - s >= n)) {
        slice_copy_apart(dst, src, n);
        return;
    }
    if (d <= s) {
        /*@ loop invariant 0 <= i <= n;
            loop invariant \separated(dst + (0 .. n - 1), src + (0 .. n - 1)) ==>
                             \forall integer k; 0 <= k < i ==> dst[k] == \at(src[k], Pre);
            loop assigns i, dst[0 .. n - 1];
            loop variant n - i;
        */
        for (i = 0; i < n; i++) {
            dst[i] = src[i];
        }
    } else {
        /*@ loop invariant 0 <= i <= n;
            loop invariant \separated(dst + (0 .. n - 1), src + (0 .. n - 1)) ==>
                             \forall integer k; i <= k < n ==> dst[k] == \at(src[k], Pre);
            loop assigns i, dst[0 .. n - 1];
            loop variant i;
        */
        for (i = n; i > 0; i--) {
            dst[i - 1] = src[i - 1];
        }
    }
}

/*@ requires buf_arg(b) && slice_arg(src);
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b) || !slice_shape(src);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior too_large:
      assumes b != \null && buf_shape(*b) && slice_shape(src);
      assumes b->len + src.len > b->cap;
      assigns \nothing;
      ensures \result == KEEL_ERR_TOO_LARGE;
    behavior ok:
      assumes b != \null && buf_shape(*b) && slice_shape(src);
      assumes b->len + src.len <= b->cap;
      assigns b->len, b->ptr[b->len .. b->cap - 1];
      ensures \result == KEEL_OK;
      ensures b->len == \old(b->len) + src.len && buf_shape(*b);
      ensures \separated(b->ptr + (0 .. b->cap - 1), src.ptr + (0 .. src.len - 1)) ==>
                copied{Post, Pre}(b->ptr + \old(b->len), src.ptr, src.len);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_append(keel_buf *b, keel_slice src)
{
    if (!keel_buf_valid(b) || !keel_slice_valid(src)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (src.len > b->cap - b->len) {
        return KEEL_ERR_TOO_LARGE;
    }
    if (src.len > 0) {
        slice_move_bytes(b->ptr + b->len, src.ptr, src.len);
        b->len += src.len;
    }
    return KEEL_OK;
}

/*@ requires buf_arg(b);
    assigns b->len, b->ptr[b->len];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior too_large:
      assumes b != \null && buf_shape(*b) && b->len == b->cap;
      assigns \nothing;
      ensures \result == KEEL_ERR_TOO_LARGE;
    behavior ok:
      assumes b != \null && buf_shape(*b) && b->len < b->cap;
      assigns b->len, b->ptr[b->len];
      ensures \result == KEEL_OK;
      ensures b->len == \old(b->len) + 1 && buf_shape(*b);
      ensures b->ptr[\old(b->len)] == byte;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_append_byte(keel_buf *b, uint8_t byte)
{
    if (!keel_buf_valid(b)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (b->len == b->cap) {
        return KEEL_ERR_TOO_LARGE;
    }
    b->ptr[b->len] = byte;
    b->len++;
    return KEEL_OK;
}

/* Write v big-endian into b->ptr[off, off+n); the caller checked the range. */
/*@ requires \valid_read(b) && valid_buf(*b) && off + n <= b->cap;
    requires \separated(b, b->ptr + (0 .. b->cap - 1));
    assigns b->ptr[off .. off + n - 1];
*/
static void slice_buf_store_be(keel_buf *b, size_t off, size_t n, uint64_t v)
{
    size_t i;
    /*@ loop invariant 0 <= i <= n;
        loop assigns i, v, b->ptr[off .. off + n - 1];
        loop variant i;
    */
    for (i = n; i > 0; i--) {
        b->ptr[off + i - 1] = (uint8_t)(v & 0xffu);
        v >>= 8;
    }
}

/* The shared body of the append_uNNbe functions. */
/*@ requires buf_arg(b) && n <= 8;
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      assigns \nothing;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior too_large:
      assumes b != \null && buf_shape(*b) && b->len + n > b->cap;
      assigns \nothing;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_TOO_LARGE;
    behavior ok:
      assumes b != \null && buf_shape(*b) && b->len + n <= b->cap;
      assigns b->len, b->ptr[b->len .. b->cap - 1];
      ensures \result == KEEL_OK;
      ensures b->len == \old(b->len) + n && buf_shape(*b);
    complete behaviors;
    disjoint behaviors;
*/
static KEEL_MUST_USE keel_result slice_buf_append_be(keel_buf *b, size_t n, uint64_t v)
{
    if (!keel_buf_valid(b)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (n > b->cap - b->len) {
        return KEEL_ERR_TOO_LARGE;
    }
    slice_buf_store_be(b, b->len, n, v);
    b->len += n;
    return KEEL_OK;
}

/*@ requires buf_arg(b);
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior too_large:
      assumes b != \null && buf_shape(*b) && b->len + 2 > b->cap;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_TOO_LARGE;
    behavior ok:
      assumes b != \null && buf_shape(*b) && b->len + 2 <= b->cap;
      assigns b->len, b->ptr[b->len .. b->cap - 1];
      ensures \result == KEEL_OK;
      ensures b->len == \old(b->len) + 2 && buf_shape(*b);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_append_u16be(keel_buf *b, uint16_t v)
{
    return slice_buf_append_be(b, 2, v);
}

/*@ requires buf_arg(b);
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior too_large:
      assumes b != \null && buf_shape(*b) && b->len + 4 > b->cap;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_TOO_LARGE;
    behavior ok:
      assumes b != \null && buf_shape(*b) && b->len + 4 <= b->cap;
      assigns b->len, b->ptr[b->len .. b->cap - 1];
      ensures \result == KEEL_OK;
      ensures b->len == \old(b->len) + 4 && buf_shape(*b);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_append_u32be(keel_buf *b, uint32_t v)
{
    return slice_buf_append_be(b, 4, v);
}

/*@ requires buf_arg(b);
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior too_large:
      assumes b != \null && buf_shape(*b) && b->len + 8 > b->cap;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_TOO_LARGE;
    behavior ok:
      assumes b != \null && buf_shape(*b) && b->len + 8 <= b->cap;
      assigns b->len, b->ptr[b->len .. b->cap - 1];
      ensures \result == KEEL_OK;
      ensures b->len == \old(b->len) + 8 && buf_shape(*b);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_append_u64be(keel_buf *b, uint64_t v)
{
    return slice_buf_append_be(b, 8, v);
}

/* Digits are formed right to left in a local array (20 is enough for any
 * uint64_t), then appended all at once so that TOO_LARGE writes nothing. */
/*@ requires buf_arg(b);
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_ERR_INVALID_ARG <==> (b == \null || !buf_shape(\old(*b)));
    ensures \result == KEEL_ERR_TOO_LARGE ==> b->len == \old(b->len) &&
              \old(b->cap) - \old(b->len) < 20;
    ensures \result == KEEL_OK ==>
              buf_shape(*b) && \old(b->len) < b->len <= \old(b->len) + 20;
*/
keel_result keel_buf_append_u64_dec(keel_buf *b, uint64_t v)
{
    if (!keel_buf_valid(b)) {
        return KEEL_ERR_INVALID_ARG;
    }
    uint8_t digits[20];
    size_t i = sizeof digits;
    /*@ loop invariant 0 <= i <= 20;
        loop assigns i, v, digits[0 .. 19];
        loop variant i;
    */
    while (i > 0) {
        i--;
        digits[i] = (uint8_t)('0' + v % 10u);
        v /= 10u;
        if (v == 0) {
            break;
        }
    }
    size_t n = sizeof digits - i;
    if (n > b->cap - b->len) {
        return KEEL_ERR_TOO_LARGE;
    }
    slice_move_bytes(b->ptr + b->len, digits + i, n);
    b->len += n;
    return KEEL_OK;
}

/* The shared body of the put_uNNbe functions. */
/*@ requires buf_arg(b) && n <= 8;
    assigns b->ptr[off .. off + n - 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      assigns \nothing;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes b != \null && buf_shape(*b) && off + n > b->len;
      assigns \nothing;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes b != \null && buf_shape(*b) && off + n <= b->len;
      assigns b->ptr[off .. off + n - 1];
      ensures \result == KEEL_OK;
    complete behaviors;
    disjoint behaviors;
*/
static KEEL_MUST_USE keel_result slice_buf_put_be(keel_buf *b, size_t off, size_t n, uint64_t v)
{
    if (!keel_buf_valid(b)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!slice_range_within(off, n, b->len)) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    slice_buf_store_be(b, off, n, v);
    return KEEL_OK;
}

/*@ requires buf_arg(b);
    assigns b->ptr[off .. off + 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes b != \null && buf_shape(*b) && off + 2 > b->len;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes b != \null && buf_shape(*b) && off + 2 <= b->len;
      assigns b->ptr[off .. off + 1];
      ensures \result == KEEL_OK;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_put_u16be(keel_buf *b, size_t off, uint16_t v)
{
    return slice_buf_put_be(b, off, 2, v);
}

/*@ requires buf_arg(b);
    assigns b->ptr[off .. off + 3];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes b != \null && buf_shape(*b) && off + 4 > b->len;
      ensures b != \null ==> b->len == \old(b->len) && same_bytes{Post, Pre}(b->ptr, b->cap);
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes b != \null && buf_shape(*b) && off + 4 <= b->len;
      assigns b->ptr[off .. off + 3];
      ensures \result == KEEL_OK;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_put_u32be(keel_buf *b, size_t off, uint32_t v)
{
    return slice_buf_put_be(b, off, 4, v);
}

/*@ requires buf_arg(b) && slice_arg(src);
    assigns b->len, b->ptr[0 .. b->cap - 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b) || !slice_shape(src);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior too_large:
      assumes b != \null && buf_shape(*b) && slice_shape(src) && src.len > b->cap;
      assigns \nothing;
      ensures \result == KEEL_ERR_TOO_LARGE;
    behavior ok:
      assumes b != \null && buf_shape(*b) && slice_shape(src) && src.len <= b->cap;
      assigns b->len, b->ptr[0 .. b->cap - 1];
      ensures \result == KEEL_OK;
      ensures b->len == src.len && buf_shape(*b);
      ensures \separated(b->ptr + (0 .. b->cap - 1), src.ptr + (0 .. src.len - 1)) ==>
                copied{Post, Pre}(b->ptr, src.ptr, src.len);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_set(keel_buf *b, keel_slice src)
{
    if (!keel_buf_valid(b) || !keel_slice_valid(src)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (src.len > b->cap) {
        return KEEL_ERR_TOO_LARGE;
    }
    if (src.len > 0) {
        slice_move_bytes(b->ptr, src.ptr, src.len);
    }
    b->len = src.len;
    return KEEL_OK;
}

/*@ requires buf_arg(b);
    assigns b->len;
    ensures b != \null && buf_shape(\old(*b)) ==> b->len == 0 && buf_shape(*b);
    ensures b != \null && !buf_shape(\old(*b)) ==> b->len == \old(b->len);
*/
void keel_buf_clear(keel_buf *b)
{
    if (keel_buf_valid(b)) {
        b->len = 0;
    }
}

/*@ requires buf_arg(b);
    assigns b->len;
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes b != \null && buf_shape(*b) && new_len > b->len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes b != \null && buf_shape(*b) && new_len <= b->len;
      assigns b->len;
      ensures \result == KEEL_OK && b->len == new_len && buf_shape(*b);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_truncate(keel_buf *b, size_t new_len)
{
    if (!keel_buf_valid(b)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (new_len > b->len) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    b->len = new_len;
    return KEEL_OK;
}

/*@ requires buf_arg(b);
    assigns b->len, b->ptr[0 .. b->len - 1];
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes b != \null && buf_shape(*b) && n > b->len;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes b != \null && buf_shape(*b) && n <= b->len;
      assigns b->len, b->ptr[0 .. b->len - 1];
      ensures \result == KEEL_OK && b->len == \old(b->len) - n && buf_shape(*b);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_consume(keel_buf *b, size_t n)
{
    if (!keel_buf_valid(b)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (n > b->len) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    size_t rest = b->len - n;
    if (rest > 0) {
        slice_move_bytes(b->ptr, b->ptr + n, rest);
    }
    b->len = rest;
    return KEEL_OK;
}

/*@ requires buf_arg(b);
    assigns b->len;
    behavior invalid:
      assumes b == \null || !buf_shape(*b);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior out_of_bounds:
      assumes b != \null && buf_shape(*b) && b->len + n > b->cap;
      assigns \nothing;
      ensures \result == KEEL_ERR_OUT_OF_BOUNDS;
    behavior ok:
      assumes b != \null && buf_shape(*b) && b->len + n <= b->cap;
      assigns b->len;
      ensures \result == KEEL_OK && b->len == \old(b->len) + n && buf_shape(*b);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_buf_commit(keel_buf *b, size_t n)
{
    if (!keel_buf_valid(b)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (n > b->cap - b->len) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    b->len += n;
    return KEEL_OK;
}

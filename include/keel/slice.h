/**
 * @file
 * @brief keel/slice.h - bounds-checked views of bytes.
 *
 * Conventions:
 *  - keel_slice is a read-only view { ptr, len }: it owns nothing. ptr may be
 *    NULL only when len is 0, and ptr + len must not wrap the address space.
 *  - keel_buf is a writable region { ptr, cap, len } over storage the caller
 *    owns: bytes [0, len) are filled, [len, cap) are spare. len <= cap always.
 *    ptr may be NULL only when cap is 0. keel never allocates or frees a
 *    buf's storage.
 *  - keel_cursor reads a slice front to back: pos <= src.len always.
 *  - Every function checks its arguments: an invalid slice/buf/cursor is
 *    KEEL_ERR_INVALID_ARG (or an empty/false answer for functions that cannot
 *    fail), never undefined behaviour. Range arithmetic is overflow-safe:
 *    checked for overflow first, then against bounds.
 *  - On failure, out-parameters and the buf/cursor are left unchanged
 *    ("all or nothing").
 *  - Thread-safety: these are plain values; no global state.
 *
 * The validity checks keel_slice_valid / keel_buf_valid / keel_cursor_valid
 * are the C twins of the ACSL predicates slice_shape / buf_shape /
 * cursor_shape below; valid_slice / valid_buf / valid_cursor add what C
 * cannot check (the memory is really there), which callers promise. The
 * contracts in src/core/slice.c are proven with Frama-C WP (proofs/).
 */
#ifndef KEEL_SLICE_H
#define KEEL_SLICE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** A read-only view of len bytes at ptr; owns nothing. */
typedef struct keel_slice {
    const uint8_t *ptr; /**< first byte; NULL only when len is 0 */
    size_t len;         /**< number of bytes; ptr + len does not wrap */
} keel_slice;

/** A writable region over cap bytes of caller storage, len of them filled. */
typedef struct keel_buf {
    uint8_t *ptr; /**< the storage; NULL only when cap is 0 */
    size_t cap;   /**< bytes of storage */
    size_t len;   /**< bytes filled, [0, len); len <= cap */
} keel_buf;

/** Reads a slice front to back. */
typedef struct keel_cursor {
    keel_slice src; /**< the bytes read */
    size_t pos;     /**< bytes already read; pos <= src.len */
} keel_cursor;

/*@
  // What the C checks see (keel_slice_valid & co. compute exactly these):
  // NULL only with length 0, and [p, p+n) does not wrap the address space
  // (written as C computes it, in uintptr_t arithmetic).
  predicate addr_range_ok(uint8_t *p, size_t n) =
      p == \null ? n == 0 : n <= (uintptr_t)(UINTPTR_MAX - (uintptr_t)p);

  predicate slice_shape(keel_slice s) = addr_range_ok(s.ptr, s.len);

  predicate buf_shape(keel_buf b) = b.len <= b.cap && addr_range_ok(b.ptr, b.cap);

  predicate cursor_shape(keel_cursor c) = slice_shape(c.src) && c.pos <= c.src.len;

  // What C cannot check and the caller promises: the bytes are there.
  predicate valid_slice(keel_slice s) =
      (s.ptr == \null ==> s.len == 0) &&
      (s.ptr != \null ==> \valid_read(s.ptr + (0 .. s.len - 1)));

  predicate valid_buf(keel_buf b) =
      b.len <= b.cap &&
      (b.ptr == \null ==> b.cap == 0) &&
      (b.ptr != \null ==> \valid(b.ptr + (0 .. b.cap - 1)));

  predicate valid_cursor(keel_cursor c) =
      valid_slice(c.src) && c.pos <= c.src.len;

  // The precondition model of the proofs: any value may be passed, but one
  // that passes the C check must also be backed by memory. Values that fail
  // the check are proven to give INVALID_ARG / the documented empty answer.
  predicate slice_arg(keel_slice s) = slice_shape(s) ==> valid_slice(s);

  predicate buf_arg{L}(keel_buf *b) =
      b == \null ||
      (\valid(b) &&
       (buf_shape(*b) ==> valid_buf(*b) && \separated(b, b->ptr + (0 .. b->cap - 1))));

  predicate buf_arg_read{L}(keel_buf *b) =
      b == \null || (\valid_read(b) && (buf_shape(*b) ==> valid_buf(*b)));

  predicate cursor_arg{L}(keel_cursor *c) =
      c == \null || (\valid(c) && (cursor_shape(*c) ==> valid_cursor(*c)));

  predicate cursor_arg_read{L}(keel_cursor *c) =
      c == \null || (\valid_read(c) && (cursor_shape(*c) ==> valid_cursor(*c)));

  predicate is_space(integer c) =
      c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';

  predicate is_digit(integer c) = '0' <= c <= '9';

  logic integer ascii_lower(integer c) = 'A' <= c <= 'Z' ? c + ('a' - 'A') : c;

  predicate bytes_eq{L}(uint8_t *a, uint8_t *b, integer n) =
      \forall integer k; 0 <= k < n ==> a[k] == b[k];

  // dst as it is at L1 holds the bytes src held at L2.
  predicate copied{L1, L2}(uint8_t *dst, uint8_t *src, integer n) =
      \forall integer k; 0 <= k < n ==> \at(dst[k], L1) == \at(src[k], L2);

  // p[0 .. n-1] holds the same bytes at L1 and L2.
  predicate same_bytes{L1, L2}(uint8_t *p, integer n) =
      \forall integer k; 0 <= k < n ==> \at(p[k], L1) == \at(p[k], L2);

  // Value of the decimal digits p[0 .. n-1].
  logic integer dec_value{L}(uint8_t *p, integer n) =
      n <= 0 ? 0 : 10 * dec_value(p, n - 1) + (p[n - 1] - '0');
*/

/** A slice of a string literal (without its terminating NUL). */
#define KEEL_STR(lit) ((keel_slice){ (const uint8_t *)("" lit), sizeof(lit) - 1u })

/** @def KEEL_SLICE_FMT
 * The printf conversion for a slice, to pair with KEEL_SLICE_ARG:
 *
 *     printf("host: " KEEL_SLICE_FMT "\n", KEEL_SLICE_ARG(host));
 *
 * It is "%.*s": printf stops at the slice's length, so the bytes need no NUL
 * terminator, but it also stops at a NUL byte inside the slice (printf is
 * for text; write binary bytes with fwrite). */
#define KEEL_SLICE_FMT "%.*s"

/** @def KEEL_SLICE_ARG
 * The two printf arguments KEEL_SLICE_FMT consumes for slice s: its length
 * as an int and its bytes. printf's precision is an int, so a slice longer
 * than INT_MAX bytes prints its first INT_MAX bytes (the length is clamped,
 * never converted with overflow); the empty slice { NULL, 0 } prints
 * nothing (a NULL ptr is passed as ""). s is evaluated more than once: pass
 * a variable, not a call with side effects. */
#define KEEL_SLICE_ARG(s)                                                                          \
    ((s).len > (size_t)INT_MAX ? INT_MAX : (int)(s).len),                                          \
        ((s).ptr != NULL ? (const char *)(s).ptr : "")

/** @def KEEL_BUF_ARRAY
 * An empty keel_buf over a byte array: { arr, sizeof arr, 0 }. It cannot
 * fail, so there is no result to check:
 *
 *     uint8_t storage[512];
 *     keel_buf reply = KEEL_BUF_ARRAY(storage);
 *
 * arr must be an array (not a pointer, whose sizeof is not the storage's
 * size) of one-byte elements (uint8_t, char, unsigned char), writable and
 * living as long as the buf is used. With gcc and clang, passing a pointer
 * or an array of wider elements is a compile error ("KEEL_BUF_ARRAY needs
 * an array..."); other compilers get no check. For storage known only by a
 * pointer and a size, use keel_buf_init, which checks at run time. */
#if defined(__GNUC__) && !defined(__cplusplus)
#define KEEL_BUF_ARRAY(arr)                                                                        \
    ((keel_buf){ (uint8_t *)(arr) + 0 * sizeof(struct {                                           \
                     _Static_assert(!__builtin_types_compatible_p(__typeof__(arr),                \
                                                                  __typeof__(&(arr)[0])) &&       \
                                        sizeof((arr)[0]) == 1,                                    \
                                    "KEEL_BUF_ARRAY needs an array of bytes, not a pointer");     \
                     int keel_buf_array_check_;                                                    \
                 }),                                                                               \
                 sizeof(arr), 0 })
#else
#define KEEL_BUF_ARRAY(arr) ((keel_buf){ (uint8_t *)(arr), sizeof(arr), 0 })
#endif

/* ---- validity --------------------------------------------------------- */

/** True when s respects the slice invariant (NULL only with len 0, no wrap). */
bool keel_slice_valid(keel_slice s);
/** True when b respects the buf invariant (len <= cap, NULL only with cap 0,
 * no wrap). */
bool keel_buf_valid(const keel_buf *b);
/** True when c is non-NULL, its slice valid and pos <= src.len. */
bool keel_cursor_valid(const keel_cursor *c);

/* ---- constructors ----------------------------------------------------- */

/** The empty slice { NULL, 0 }. */
keel_slice keel_slice_empty(void);

/** Make a slice over [ptr, ptr+len). INVALID_ARG if out is NULL, ptr is NULL
 * with len > 0, or the range wraps. This and keel_buf_init are the only
 * entry points that take a raw pointer and a length. */
KEEL_MUST_USE keel_result keel_slice_from(const void *ptr, size_t len, keel_slice *out);

/** A slice over the NUL-terminated string s (not including the NUL); the
 * empty slice when s is NULL. */
keel_slice keel_slice_cstr(const char *s);

/** Make an empty buf (len 0) over caller storage [storage, storage+cap).
 * INVALID_ARG if b is NULL, storage is NULL with cap > 0, or it wraps. */
KEEL_MUST_USE keel_result keel_buf_init(keel_buf *b, void *storage, size_t cap);

/** The filled part [0, len) of b as a slice (empty if b is invalid). */
keel_slice keel_buf_slice(const keel_buf *b);

/** Spare room cap - len (0 if b is invalid). */
size_t keel_buf_spare(const keel_buf *b);

/* ---- slice: sub-ranges ------------------------------------------------ */

/** out = s[off, off+len). OUT_OF_BOUNDS if off+len overflows or > s.len. */
KEEL_MUST_USE keel_result keel_slice_sub(keel_slice s, size_t off, size_t len, keel_slice *out);
/** out = s[off, s.len). OUT_OF_BOUNDS if off > s.len. */
KEEL_MUST_USE keel_result keel_slice_from_off(keel_slice s, size_t off, keel_slice *out);
/** head = s[0, at), tail = s[at, len). OUT_OF_BOUNDS if at > s.len.
 * head and tail may not be the same object. */
KEEL_MUST_USE keel_result keel_slice_split_at(keel_slice s, size_t at, keel_slice *head,
                                              keel_slice *tail);
/** Split around the first occurrence of byte: head = before it, tail = after
 * it (the delimiter belongs to neither). NOT_FOUND if absent. */
KEEL_MUST_USE keel_result keel_slice_split_once(keel_slice s, uint8_t byte, keel_slice *head,
                                                keel_slice *tail);

/* ---- slice: search and compare ---------------------------------------- */

/** Index of the first occurrence of byte. NOT_FOUND if absent. */
KEEL_MUST_USE keel_result keel_slice_find_byte(keel_slice s, uint8_t byte, size_t *idx);
/** Index of the first occurrence of needle. An empty needle is found at 0.
 * NOT_FOUND if absent. */
KEEL_MUST_USE keel_result keel_slice_find(keel_slice s, keel_slice needle, size_t *idx);
/** Byte-wise equality (false if either slice is invalid). */
bool keel_slice_eq(keel_slice a, keel_slice b);
/** Equality ignoring ASCII case (for protocol tokens). */
bool keel_slice_eq_nocase(keel_slice a, keel_slice b);
/** Lexicographic order: <0, 0, >0 (a shorter prefix sorts first). Invalid
 * slices compare as empty. */
int keel_slice_cmp(keel_slice a, keel_slice b);
/** @{ */
/** True when s begins with prefix / ends with suffix. */
bool keel_slice_starts_with(keel_slice s, keel_slice prefix);
bool keel_slice_ends_with(keel_slice s, keel_slice suffix);
/** @} */
/** @{ */
/** Remove leading / trailing / both ASCII whitespace (SP, HT, CR, LF, VT, FF).
 * An invalid slice gives the empty slice. */
keel_slice keel_slice_trim_left(keel_slice s);
keel_slice keel_slice_trim_right(keel_slice s);
keel_slice keel_slice_trim(keel_slice s);
/** @} */

/* ---- slice: element and integer reads --------------------------------- */

/** *out = s[idx]. OUT_OF_BOUNDS if idx >= s.len. */
KEEL_MUST_USE keel_result keel_slice_get(keel_slice s, size_t idx, uint8_t *out);
/** @{ */
/** Big-endian unsigned integer at s[off, off+N). OUT_OF_BOUNDS if it does not
 * fit (overflow-safe). */
KEEL_MUST_USE keel_result keel_slice_read_u16be(keel_slice s, size_t off, uint16_t *out);
KEEL_MUST_USE keel_result keel_slice_read_u32be(keel_slice s, size_t off, uint32_t *out);
KEEL_MUST_USE keel_result keel_slice_read_u64be(keel_slice s, size_t off, uint64_t *out);
/** @} */

/** Parse the whole slice as an unsigned decimal number (digits only, no sign,
 * no whitespace, at least one digit). PARSE if empty or a non-digit is
 * present; TOO_LARGE if the value exceeds max (overflow-safe). */
KEEL_MUST_USE keel_result keel_slice_parse_u64(keel_slice s, uint64_t max, uint64_t *out);

/* ---- cursor: sequential reads ----------------------------------------- */

/** Start reading s from offset 0. INVALID_ARG if c is NULL or s invalid. */
KEEL_MUST_USE keel_result keel_cursor_init(keel_cursor *c, keel_slice s);
/** Bytes left (0 if c is invalid). */
size_t keel_cursor_remaining(const keel_cursor *c);
/** The unread rest as a slice (empty if c is invalid). */
keel_slice keel_cursor_rest(const keel_cursor *c);
/** @{ */
/** Read and advance. INCOMPLETE when fewer than the needed bytes remain;
 * then neither the cursor nor *out changes. */
KEEL_MUST_USE keel_result keel_cursor_read_u8(keel_cursor *c, uint8_t *out);
KEEL_MUST_USE keel_result keel_cursor_read_u16be(keel_cursor *c, uint16_t *out);
KEEL_MUST_USE keel_result keel_cursor_read_u32be(keel_cursor *c, uint32_t *out);
KEEL_MUST_USE keel_result keel_cursor_read_u64be(keel_cursor *c, uint64_t *out);
/** @} */
/** @{ */
/** Take the next n bytes as a slice / skip them. INCOMPLETE if fewer remain. */
KEEL_MUST_USE keel_result keel_cursor_take(keel_cursor *c, size_t n, keel_slice *out);
KEEL_MUST_USE keel_result keel_cursor_skip(keel_cursor *c, size_t n);
/** @} */
/** Take the bytes before the next occurrence of byte and advance past the
 * byte. INCOMPLETE if the byte does not occur in the rest. */
KEEL_MUST_USE keel_result keel_cursor_take_until(keel_cursor *c, uint8_t byte, keel_slice *out);
/** @{ */
/** Nested length-prefixed block: read a 1-, 2- or 4-byte big-endian length L
 * then take L bytes as *out. INCOMPLETE (cursor unchanged) if the prefix or
 * the L bytes are not all there. */
KEEL_MUST_USE keel_result keel_cursor_read_block8(keel_cursor *c, keel_slice *out);
KEEL_MUST_USE keel_result keel_cursor_read_block16(keel_cursor *c, keel_slice *out);
KEEL_MUST_USE keel_result keel_cursor_read_block32(keel_cursor *c, keel_slice *out);
/** @} */
/** KEEL_OK if every byte was consumed, PARSE if bytes are left over (use it
 * to make a nested block consume exactly its length). */
KEEL_MUST_USE keel_result keel_cursor_expect_end(const keel_cursor *c);

/* ---- buf: writes ------------------------------------------------------ */

/** @{ */
/** Append all of src / one byte. TOO_LARGE (b unchanged) if it does not fit.
 * src may overlap b's own storage. */
KEEL_MUST_USE keel_result keel_buf_append(keel_buf *b, keel_slice src);
KEEL_MUST_USE keel_result keel_buf_append_byte(keel_buf *b, uint8_t byte);
/** @} */
/** @{ */
/** Append a big-endian integer. TOO_LARGE if it does not fit. */
KEEL_MUST_USE keel_result keel_buf_append_u16be(keel_buf *b, uint16_t v);
KEEL_MUST_USE keel_result keel_buf_append_u32be(keel_buf *b, uint32_t v);
KEEL_MUST_USE keel_result keel_buf_append_u64be(keel_buf *b, uint64_t v);
/** @} */
/** Append v in decimal. TOO_LARGE if it does not fit. */
KEEL_MUST_USE keel_result keel_buf_append_u64_dec(keel_buf *b, uint64_t v);
/** @{ */
/** Overwrite filled bytes in place: b[off, off+N) = v big-endian.
 * OUT_OF_BOUNDS unless off+N <= len (overflow-safe). */
KEEL_MUST_USE keel_result keel_buf_put_u16be(keel_buf *b, size_t off, uint16_t v);
KEEL_MUST_USE keel_result keel_buf_put_u32be(keel_buf *b, size_t off, uint32_t v);
/** @} */
/** Replace the contents with src. TOO_LARGE (b unchanged) if src > cap. */
KEEL_MUST_USE keel_result keel_buf_set(keel_buf *b, keel_slice src);
/** Empty the buf (len = 0). No effect on an invalid buf. */
void keel_buf_clear(keel_buf *b);
/** Shrink len to new_len. OUT_OF_BOUNDS if new_len > len. */
KEEL_MUST_USE keel_result keel_buf_truncate(keel_buf *b, size_t new_len);
/** Remove the first n filled bytes, moving the rest to the front.
 * OUT_OF_BOUNDS if n > len. */
KEEL_MUST_USE keel_result keel_buf_consume(keel_buf *b, size_t n);
/** Mark n more bytes of the spare room as filled, after something (e.g. the
 * socket layer) wrote them there. OUT_OF_BOUNDS if n > spare. */
KEEL_MUST_USE keel_result keel_buf_commit(keel_buf *b, size_t n);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_SLICE_H */

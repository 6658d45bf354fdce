/*
 * src/core/word.h - eight bytes of a slice at a time, for the scanning loops
 * (internal: not part of the API).
 *
 * kword_load reads s.ptr[pos .. pos+7] as one little-endian 64-bit word; its
 * contract makes every caller prove that the eight bytes lie inside the
 * slice (WP checks each call), and its body reads them byte by byte, which
 * the compilers turn into one load. The other helpers are branch-free bit
 * arithmetic on such a word ("SWAR"): each returns a mask with bit 7 of
 * byte i set for the bytes i it looks for, so a caller skips a word whose
 * mask is 0 and otherwise goes to the first flagged byte (kword_first).
 *
 * What is proven and what is tested: WP proves that the loads stay in
 * bounds and that kword_first is at most 7, so a scanner that uses them
 * never reads outside its slice and still terminates. That a mask is 0
 * only when no byte of the word is one looked for (the classic "has a zero
 * byte" identity: the subtraction borrows only out of a byte that is below
 * the compared value, and only upwards, so the lowest flagged byte is
 * exact and a byte is never missed) is arithmetic WP is not asked to
 * prove: tests/core/test_word.c checks it for every byte value at every
 * position, beside every other byte value at every other position, and
 * the HTTP parser's tests and harnesses compare the scans built on it with
 * the byte classes (proofs/README.md, Assumptions).
 */
#ifndef KEEL_CORE_WORD_H
#define KEEL_CORE_WORD_H

#include <stddef.h>
#include <stdint.h>

#include "keel/slice.h"

#ifdef __FRAMAC__
#include "__fc_gcc_builtins.h" /* Frama-C's contracts of the GCC builtins */
#endif

#define KWORD_ONES UINT64_C(0x0101010101010101)
#define KWORD_HIGHS UINT64_C(0x8080808080808080)

/* The word whose eight bytes are s.ptr[pos .. pos+7], s.ptr[pos] lowest. */
/*@ requires valid_slice(s) && pos <= s.len && s.len - pos >= 8;
    assigns \nothing;
*/
static inline uint64_t kword_load(keel_slice s, size_t pos)
{
    const uint8_t *p = s.ptr + pos;
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

/* Bit 7 of each byte of w that is below n (n <= 0x80); the lowest flagged
 * byte is exact, a byte above it may be flagged wrongly (after a borrow). */
/*@ requires n <= 0x80;
    assigns \nothing;
*/
static inline uint64_t kword_below(uint64_t w, uint8_t n)
{
    return (w - KWORD_ONES * n) & ~w & KWORD_HIGHS;
}

/* Bit 7 of each byte of w equal to b (exact for the lowest, as above). */
/*@ assigns \nothing; */
static inline uint64_t kword_eq(uint64_t w, uint8_t b)
{
    return kword_below(w ^ (KWORD_ONES * b), 1);
}

/* Bit 7 of each byte of w that is not b: exact for every byte, not only
 * the lowest (v & 0x7F..7F) + 0x7F..7F carries into bit 7 of a byte when
 * its low seven bits are not all 0 and never out of the byte; v's own bit
 * 7 covers the rest. */
/*@ assigns \nothing; */
static inline uint64_t kword_ne(uint64_t w, uint8_t b)
{
    uint64_t v = w ^ (KWORD_ONES * b);
    uint64_t low7 = KWORD_ONES * 0x7Fu;
    return (((v & low7) + low7) | v) & KWORD_HIGHS;
}

/* Bit 7 of each byte of w that is a control character: below 0x20, or
 * 0x7F. Exact for every byte: the low seven bits plus one, kept to seven
 * bits (0x7F becomes 0), plus 0x5F reach bit 7 only from 0x21 up, and no
 * sum leaves its byte; a byte of w with bit 7 set (0x80 and up) is never
 * flagged. Fewer operations than kword_below(w, 0x20) | kword_eq(w, 0x7F). */
/*@ assigns \nothing; */
static inline uint64_t kword_ctl(uint64_t w)
{
    uint64_t low7 = KWORD_ONES * 0x7Fu;
    uint64_t v = (((w & low7) + KWORD_ONES) & low7) + KWORD_ONES * 0x5Fu;
    return ~(v | w) & KWORD_HIGHS;
}

/* The index (0..7) of the lowest byte of m with bit 7 set (m != 0): its
 * trailing zero bits, over eight (one instruction, tzcnt or bsf). WP
 * reads the builtin's contract from Frama-C's own __fc_gcc_builtins.h
 * (x != 0, result 0..63), trusted as GCC documents it (proofs/README.md,
 * Assumptions). */
/*@ requires m != 0;
    assigns \nothing;
    ensures \result <= 7;
*/
static inline size_t kword_first(uint64_t m)
{
    return (size_t)__builtin_ctzll(m) >> 3;
}

#endif

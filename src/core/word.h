/*
 * src/core/word.h - eight (or sixteen) bytes of a slice at a time, for the
 * scanning loops (internal: not part of the API).
 *
 * kword_load reads s.ptr[pos .. pos+7] as one little-endian 64-bit word; its
 * contract makes every caller prove that the eight bytes lie inside the
 * slice (WP checks each call), and its body reads them byte by byte, which
 * the compilers turn into one load. The other helpers are branch-free bit
 * arithmetic on such a word ("SWAR"): each returns a mask with bit 7 of
 * byte i set for the bytes i it looks for, so a caller skips a word whose
 * mask is 0 and otherwise goes to the first flagged byte (kword_first).
 * kword16_ctl does the same for sixteen bytes at once, one flag bit per
 * byte: SSE2 where the compiler has it (every x86-64 build), two words
 * otherwise (kword16_ctl_words, the body WP proves; proofs/README.md,
 * Assumption 54).
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

/* SSE2 is part of x86-64's baseline (every x86-64 CPU has it, compilers
 * enable it by default there): sixteen bytes at a time where the compiler
 * says it is there, the portable word version elsewhere and for WP
 * (kword16_ctl). KEEL_NO_SIMD keeps the portable version everywhere. */
#if defined(__SSE2__) && !defined(__FRAMAC__) && !defined(KEEL_NO_SIMD)
#define KWORD_SSE2 1
#include <emmintrin.h>
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

/* The eight flags of a kword mask m (bit 7 of each byte) as the eight low
 * bits of the result, bit i for byte i: the multiplier's partial products
 * put bit 8i of m >> 7 at bit 56 + i, and no two land on the same bit, so
 * nothing carries into the top byte. */
/*@ assigns \nothing;
    ensures \result <= 0xFF;
*/
static inline uint32_t kword_gather(uint64_t m)
{
    return (uint32_t)(((m >> 7) * UINT64_C(0x0102040810204080)) >> 56);
}

/* Bit i (0..15) of the result set for each byte s.ptr[pos + i] that is a
 * control character (below 0x20, or 0x7F), from two words: kword_ctl on
 * each, gathered to eight bits. The portable version of kword16_ctl, and
 * the one WP proves it through. */
/*@ requires valid_slice(s) && pos <= s.len && s.len - pos >= 16;
    assigns \nothing;
    ensures \result <= 0xFFFF;
*/
static inline uint32_t kword16_ctl_words(keel_slice s, size_t pos)
{
    uint32_t lo = kword_gather(kword_ctl(kword_load(s, pos)));
    uint32_t hi = kword_gather(kword_ctl(kword_load(s, pos + 8u)));
    return lo + hi * 256u;
}

/* The same sixteen flags as kword16_ctl_words. With SSE2: one unaligned
 * 16-byte load of s.ptr[pos .. pos+15] (the bytes the contract puts inside
 * the slice, and no other), a byte below 0x20 found as one whose unsigned
 * minimum with 0x1F is itself, 0x7F by equality, the sixteen byte results'
 * top bits gathered by movemask (bits 0..15, the rest 0). That this body
 * keeps the contract WP proves of the portable one is trusted, and that
 * both flag exactly the control bytes is tested (tests/core/test_word.c;
 * proofs/README.md, Assumptions). */
/*@ requires valid_slice(s) && pos <= s.len && s.len - pos >= 16;
    assigns \nothing;
    ensures \result <= 0xFFFF;
*/
static inline uint32_t kword16_ctl(keel_slice s, size_t pos)
{
#ifdef KWORD_SSE2
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s.ptr + pos));
    __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
    __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
    return (uint32_t)_mm_movemask_epi8(_mm_or_si128(low, del));
#else
    return kword16_ctl_words(s, pos);
#endif
}

/* The index (0..15) of the lowest set bit of a 16-bit mask m (m != 0): its
 * trailing zero bits (the & 15 changes nothing for such an m; it is what
 * tells WP the index is at most 15, as the builtin's contract says only
 * "below 32"). */
/*@ requires 0 < m <= 0xFFFF;
    assigns \nothing;
    ensures \result <= 15;
*/
static inline size_t kword16_first(uint32_t m)
{
    return (size_t)__builtin_ctz(m) & 15u;
}

#endif

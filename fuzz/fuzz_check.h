/*
 * fuzz/fuzz_check.h - what every keel harness shares: the libFuzzer entry
 * point's prototype and a property check that aborts in every build type
 * (assert() vanishes under NDEBUG, which RelWithDebInfo defines, and the
 * replay tests must catch the same violations the fuzzers do).
 */
#ifndef KEEL_FUZZ_CHECK_H
#define KEEL_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* POISON/UNPOISON mark bytes a harness must not read (a receive buffer's
 * spare room, say) under AddressSanitizer; without it they do nothing. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
            abort(); \
        } \
    } while (0)

#define FUZZ_FAIL(why) \
    do { \
        fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, why); \
        abort(); \
    } while (0)

/* Input bytes consumed front to back; an exhausted reader yields zeros so a
 * short input is still a complete (if dull) program. */
typedef struct fuzz_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
} fuzz_reader;

static inline size_t fuzz_left(const fuzz_reader *r)
{
    return r->len - r->pos;
}

static inline uint8_t fuzz_u8(fuzz_reader *r)
{
    return r->pos < r->len ? r->p[r->pos++] : 0u;
}

static inline uint16_t fuzz_u16(fuzz_reader *r)
{
    uint16_t hi = fuzz_u8(r);
    return (uint16_t)((unsigned)(hi << 8) | fuzz_u8(r));
}

static inline uint64_t fuzz_u64(fuzz_reader *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | fuzz_u8(r);
    }
    return v;
}

#endif /* KEEL_FUZZ_CHECK_H */

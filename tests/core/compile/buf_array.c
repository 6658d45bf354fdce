/*
 * tests/core/compile/buf_array.c - KEEL_BUF_ARRAY accepts byte arrays and
 * refuses, at compile time, what is not one (tests/compile_check.cmake
 * compiles this file once per case). With no case defined it must compile;
 * with each case defined it must be rejected with the macro's message.
 */
#include <stdint.h>

#include "keel/slice.h"

int keel_compile_check(void);

int keel_compile_check(void)
{
    uint8_t storage[16];
    keel_buf b = KEEL_BUF_ARRAY(storage);
#if defined(KEEL_CASE_POINTER)
    uint8_t *p = storage;
    keel_buf bad = KEEL_BUF_ARRAY(p); /* sizeof p is not the storage's size */
#elif defined(KEEL_CASE_WIDE_ELEMENTS)
    uint32_t words[4];
    keel_buf bad = KEEL_BUF_ARRAY(words); /* not bytes */
#elif defined(KEEL_CASE_PARAMETER)
    keel_buf bad = KEEL_BUF_ARRAY(((void)0, storage)); /* decays to a pointer */
#else
    keel_buf bad = b;
#endif
    return (int)(b.cap + bad.cap);
}

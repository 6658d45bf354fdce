/*
 * fuzz/http/fuzz_http_util.h - what the HTTP parser harnesses share.
 */
#ifndef KEEL_FUZZ_HTTP_UTIL_H
#define KEEL_FUZZ_HTTP_UTIL_H

#include <string.h>

#include "fuzz_check.h"
#include "keel/http.h"

/* A chunked decoder left at INCOMPLETE must take more bytes: with the
 * default limits one of these is accepted (data, a hex digit, framing,
 * extension or trailer bytes, BWS). d is not changed (copies are fed). */
static inline void fuzz_http_chunked_continues(const keel_http_chunked *d)
{
    static const char *const more[] = { "a", "0", "\r\n", "\n", ";", "=", "\"", ":", " ", "\t" };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        keel_http_chunked e = *d;
        keel_slice in = { (const uint8_t *)more[i], strlen(more[i]) }, data;
        size_t used = 0;
        keel_result r = keel_http_chunked_decode(&e, in, &data, &used, NULL);
        if (r == KEEL_OK || r == KEEL_ERR_INCOMPLETE) {
            return;
        }
    }
    FUZZ_FAIL("INCOMPLETE chunked body that no byte continues");
}

#endif /* KEEL_FUZZ_HTTP_UTIL_H */

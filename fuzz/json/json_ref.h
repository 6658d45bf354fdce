/*
 * fuzz/json/json_ref.h - a deliberately plain reference for the JSON harnesses
 * (fuzz_json.c, fuzz_json_diff.c): UTF-8 well-formedness after Unicode
 * table 3-7, the RFC 8259 number grammar and string unescaping. Written
 * from the standards, not from src/json*.c, so that one misreading shared by
 * both cannot hide. Speed does not matter here; obviousness does.
 */
#ifndef KEEL_FUZZ_JSON_REF_H
#define KEEL_FUZZ_JSON_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool ref_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline bool ref_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* The UTF-8 sequence at p[0..n) (n >= 1): *ok and its length when it is
 * well formed; otherwise !*ok and the length of its maximal subpart (the
 * lead byte plus the continuation bytes that were still acceptable), which
 * is what one U+FFFD replaces. */
static inline size_t ref_utf8(const uint8_t *p, size_t n, bool *ok)
{
    uint8_t c = p[0];
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;
    size_t need;
    *ok = false;
    if (c < 0x80) {
        *ok = true;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* overlong */
        hi = c == 0xED ? 0x9F : 0xBF; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80; /* overlong */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* above U+10FFFF */
    } else {
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            return i;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    *ok = true;
    return need + 1;
}

static inline bool ref_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        bool ok;
        i += ref_utf8(p + i, n - i, &ok);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* p[0..n) with every maximal invalid subpart replaced by U+FFFD; out needs
 * 3 * n bytes. Returns the output length. */
static inline size_t ref_utf8_replace(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t i = 0;
    size_t o = 0;
    while (i < n) {
        bool ok;
        size_t k = ref_utf8(p + i, n - i, &ok);
        if (ok) {
            memcpy(out + o, p + i, k);
            o += k;
        } else {
            out[o++] = 0xEF;
            out[o++] = 0xBF;
            out[o++] = 0xBD;
        }
        i += k;
    }
    return o;
}

/* Exactly the RFC 8259 number grammar. */
static inline bool ref_number(const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (i < n && p[i] == '-') {
        i++;
    }
    if (i < n && p[i] == '0') {
        i++;
    } else if (i < n && p[i] >= '1' && p[i] <= '9') {
        while (i < n && ref_digit(p[i])) {
            i++;
        }
    } else {
        return false;
    }
    if (i < n && p[i] == '.') {
        size_t start = ++i;
        while (i < n && ref_digit(p[i])) {
            i++;
        }
        if (i == start) {
            return false;
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }
        size_t start = i;
        while (i < n && ref_digit(p[i])) {
            i++;
        }
        if (i == start) {
            return false;
        }
    }
    return i == n;
}

static inline bool ref_hex4(const uint8_t *p, size_t n, size_t at, uint32_t *v)
{
    uint32_t x = 0;
    if (at > n || n - at < 4) {
        return false;
    }
    for (size_t i = at; i < at + 4; i++) {
        uint8_t c = p[i];
        uint32_t d;
        if (ref_digit(c)) {
            d = (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = (uint32_t)(c - 'A' + 10);
        } else {
            return false;
        }
        x = x * 16u + d;
    }
    *v = x;
    return true;
}

static inline size_t ref_put_utf8(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* The body of a string (between its quotes): whether it is valid RFC 8259
 * string content, and if so its decoded bytes in out (room for n bytes
 * suffices: no escape decodes to more bytes than it takes). */
static inline bool ref_string(const uint8_t *p, size_t n, uint8_t *out, size_t *out_len)
{
    size_t i = 0;
    size_t o = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c == '"' || c < 0x20) {
            return false;
        }
        if (c != '\\') {
            bool ok;
            size_t k = ref_utf8(p + i, n - i, &ok);
            if (!ok) {
                return false;
            }
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
            continue;
        }
        if (i + 1 >= n) {
            return false;
        }
        uint8_t e = p[i + 1];
        i += 2;
        static const char from[] = "\"\\/bfnrt";
        static const char to[] = "\"\\/\b\f\n\r\t";
        const char *hit = e != 0 ? strchr(from, e) : NULL;
        if (hit != NULL) {
            out[o++] = (uint8_t)to[hit - from];
            continue;
        }
        uint32_t cp;
        if (e != 'u' || !ref_hex4(p, n, i, &cp)) {
            return false;
        }
        i += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low;
            if (i + 6 > n || p[i] != '\\' || p[i + 1] != 'u' || !ref_hex4(p, n, i + 2, &low) ||
                low < 0xDC00 || low > 0xDFFF) {
                return false;
            }
            i += 6;
            cp = 0x10000u + ((cp - 0xD800u) << 10) + (low - 0xDC00u);
        }
        o += ref_put_utf8(cp, out + o);
    }
    *out_len = o;
    return true;
}

#endif /* KEEL_FUZZ_JSON_REF_H */

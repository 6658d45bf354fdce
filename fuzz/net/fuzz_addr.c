/*
 * fuzz/net/fuzz_addr.c - address text (src/net/addr.c).
 *
 * Drives: keel_addr_parse_ipv4, keel_addr_parse_ipv6, keel_addr_parse_ip,
 * keel_addr_parse, keel_hostport_split, keel_addr_format_ip,
 * keel_addr_format, keel_addr_eq.
 *
 * Input: the text itself (no NUL terminator; longer than 512 bytes is
 * skipped, no address is that long). Properties:
 *  - acceptance of IPv4 and of scope-less IPv6 agrees with glibc's
 *    inet_pton, and the bytes are the same;
 *  - parse_ip accepts exactly what parse_ipv4 or parse_ipv6 accepts;
 *  - failures leave the out-parameter untouched;
 *  - every accepted address formats, re-parses to an equal address
 *    (keel_addr_eq), and formatting is canonical:
 *    format(parse(format(a))) == format(a); IPv4 text accepted is already
 *    canonical; IPv6 outside ::/96 and ::ffff:0:0/96 formats exactly as
 *    glibc's RFC 5952 inet_ntop does;
 *  - formatting into a buf without room is TOO_LARGE and leaves it unchanged;
 *  - keel_addr_parse agrees with keel_hostport_split + keel_addr_parse_ip;
 *  - keel_hostport_split returns a non-empty host inside the text and the
 *    port written after it.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_check.h"
#include "keel/addr.h"

#define TEXT_MAX 512u

static bool slice_is(keel_slice s, const char *text, size_t n)
{
    return s.len == n && (n == 0 || memcmp(s.ptr, text, n) == 0);
}

static keel_addr sentinel(void)
{
    keel_addr a;
    memset(&a, 0xa5, sizeof a);
    return a;
}

static bool untouched(const keel_addr *a)
{
    keel_addr s = sentinel();
    return memcmp(a, &s, sizeof s) == 0;
}

/* Format into a buf that already holds a prefix and has room for exactly
 * `room` more bytes; returns the result and checks all-or-nothing. */
static keel_result format_into(const keel_addr *a, bool with_port, size_t room, char *text,
                               size_t *text_len)
{
    uint8_t store[1 + KEEL_ADDR_TEXT_MAX];
    keel_buf b;
    FUZZ_CHECK(keel_buf_init(&b, store, 1u + room) == KEEL_OK);
    FUZZ_CHECK(keel_buf_append_byte(&b, '#') == KEEL_OK);
    keel_result r = with_port ? keel_addr_format(a, &b) : keel_addr_format_ip(a, &b);
    FUZZ_CHECK(keel_buf_valid(&b) && b.ptr == store && b.cap == 1u + room && store[0] == '#');
    if (r != KEEL_OK) {
        FUZZ_CHECK(b.len == 1);
        return r;
    }
    FUZZ_CHECK(b.len > 1 && b.len - 1u <= KEEL_ADDR_TEXT_MAX);
    *text_len = b.len - 1u;
    memcpy(text, store + 1, *text_len);
    text[*text_len] = '\0';
    return r;
}

/* Format, check canonical form and the round trip; returns the text. */
static size_t check_format(const keel_addr *a, bool with_port, char *text)
{
    size_t n = 0;
    FUZZ_CHECK(format_into(a, with_port, KEEL_ADDR_TEXT_MAX, text, &n) == KEEL_OK);
    char shorter[KEEL_ADDR_TEXT_MAX + 1];
    size_t ignored = 0;
    FUZZ_CHECK(format_into(a, with_port, n - 1u, shorter, &ignored) == KEEL_ERR_TOO_LARGE);

    keel_slice s;
    FUZZ_CHECK(keel_slice_from(text, n, &s) == KEEL_OK);
    keel_addr back = sentinel();
    keel_addr want = *a;
    if (with_port) {
        FUZZ_CHECK(keel_addr_parse(s, &back) == KEEL_OK);
    } else {
        want.port = 0;
        FUZZ_CHECK(keel_addr_parse_ip(s, &back) == KEEL_OK);
    }
    FUZZ_CHECK(keel_addr_eq(&back, &want));
    char again[KEEL_ADDR_TEXT_MAX + 1];
    size_t m = 0;
    FUZZ_CHECK(format_into(&back, with_port, KEEL_ADDR_TEXT_MAX, again, &m) == KEEL_OK);
    FUZZ_CHECK(m == n && memcmp(again, text, n) == 0);
    return n;
}

static void check_ip(const keel_addr *a, keel_family family)
{
    FUZZ_CHECK(a->family == family && a->port == 0);
    FUZZ_CHECK(family == KEEL_AF_INET6 || a->scope_id == 0);
    keel_addr self = *a;
    FUZZ_CHECK(keel_addr_eq(a, &self));
    char ip[KEEL_ADDR_TEXT_MAX + 1];
    size_t n = check_format(a, false, ip);

    static const uint8_t zeros[10] = { 0 };
    bool embedded_v4 = memcmp(a->bytes, zeros, 10) == 0 &&
                       ((a->bytes[10] == 0 && a->bytes[11] == 0) ||
                        (a->bytes[10] == 0xff && a->bytes[11] == 0xff));
    if (family == KEEL_AF_INET6 && a->scope_id == 0 && !embedded_v4) {
        char ref[INET6_ADDRSTRLEN];
        FUZZ_CHECK(inet_ntop(AF_INET6, a->bytes, ref, sizeof ref) != NULL);
        FUZZ_CHECK(strlen(ref) == n && memcmp(ref, ip, n) == 0);
    }

    /* With a port, the text is the address text plus ":port", bracketed for v6. */
    keel_addr ported = *a;
    ported.port = (uint16_t)(a->bytes[3] * 257u);
    char full[KEEL_ADDR_TEXT_MAX + 1];
    char expect[KEEL_ADDR_TEXT_MAX + 16];
    size_t m = check_format(&ported, true, full);
    int e = snprintf(expect, sizeof expect, family == KEEL_AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
                     (unsigned)ported.port);
    FUZZ_CHECK(e > 0 && (size_t)e == m && memcmp(expect, full, m) == 0);
}

static void check_split(keel_slice text)
{
    keel_slice host = { (const uint8_t *)&text, 7 };
    uint16_t port = 4242;
    keel_result r = keel_hostport_split(text, &host, &port);
    if (r != KEEL_OK) {
        FUZZ_CHECK(r == KEEL_ERR_PARSE);
        FUZZ_CHECK(host.ptr == (const uint8_t *)&text && host.len == 7 && port == 4242);
        return;
    }
    FUZZ_CHECK(host.len > 0 && host.ptr >= text.ptr && host.len <= text.len &&
               (size_t)(host.ptr - text.ptr) <= text.len - host.len);
    size_t after;
    if (text.ptr[0] == '[') {
        FUZZ_CHECK(host.ptr == text.ptr + 1);
        after = host.len + 2u;
        FUZZ_CHECK(after < text.len && text.ptr[after - 1u] == ']');
    } else {
        FUZZ_CHECK(host.ptr == text.ptr);
        size_t colon = 0;
        FUZZ_CHECK(keel_slice_find_byte(host, ':', &colon) == KEEL_ERR_NOT_FOUND);
        after = host.len;
    }
    FUZZ_CHECK(after < text.len && text.ptr[after] == ':');
    keel_slice digits;
    uint64_t p = 0;
    FUZZ_CHECK(keel_slice_from_off(text, after + 1u, &digits) == KEEL_OK);
    FUZZ_CHECK(keel_slice_parse_u64(digits, 65535, &p) == KEEL_OK && p == port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > TEXT_MAX) {
        return 0;
    }
    keel_slice text;
    FUZZ_CHECK(keel_slice_from(data, size, &text) == KEEL_OK);
    char cstr[TEXT_MAX + 1];
    if (size > 0) {
        memcpy(cstr, data, size);
    }
    cstr[size] = '\0';
    bool has_nul = strlen(cstr) != size;

    keel_addr a4 = sentinel();
    keel_result r4 = keel_addr_parse_ipv4(text, &a4);
    FUZZ_CHECK(r4 == KEEL_OK || r4 == KEEL_ERR_PARSE);
    uint8_t ref[16];
    bool ref4 = !has_nul && inet_pton(AF_INET, cstr, ref) == 1;
    FUZZ_CHECK((r4 == KEEL_OK) == ref4);
    if (r4 == KEEL_OK) {
        FUZZ_CHECK(memcmp(a4.bytes, ref, 4) == 0);
        check_ip(&a4, KEEL_AF_INET4);
        char back[KEEL_ADDR_TEXT_MAX + 1];
        size_t n = 0;
        FUZZ_CHECK(format_into(&a4, false, KEEL_ADDR_TEXT_MAX, back, &n) == KEEL_OK);
        FUZZ_CHECK(slice_is(text, back, n)); /* strict syntax: only canonical text parses */
    } else {
        FUZZ_CHECK(untouched(&a4));
    }

    keel_addr a6 = sentinel();
    keel_result r6 = keel_addr_parse_ipv6(text, &a6);
    FUZZ_CHECK(r6 == KEEL_OK || r6 == KEEL_ERR_PARSE);
    if (!has_nul && strchr(cstr, '%') == NULL) {
        bool ref6 = inet_pton(AF_INET6, cstr, ref) == 1;
        FUZZ_CHECK((r6 == KEEL_OK) == ref6);
        FUZZ_CHECK(!ref6 || memcmp(a6.bytes, ref, 16) == 0);
    }
    if (r6 == KEEL_OK) {
        check_ip(&a6, KEEL_AF_INET6);
    } else {
        FUZZ_CHECK(untouched(&a6));
    }

    keel_addr aip = sentinel();
    keel_result rip = keel_addr_parse_ip(text, &aip);
    FUZZ_CHECK(rip == ((r4 == KEEL_OK || r6 == KEEL_OK) ? KEEL_OK : KEEL_ERR_PARSE));
    FUZZ_CHECK(rip != KEEL_OK || keel_addr_eq(&aip, r4 == KEEL_OK ? &a4 : &a6));
    FUZZ_CHECK(rip == KEEL_OK || untouched(&aip));

    keel_addr ap = sentinel();
    keel_result rp = keel_addr_parse(text, &ap);
    FUZZ_CHECK(rp == KEEL_OK || rp == KEEL_ERR_PARSE);
    if (rp == KEEL_OK) {
        FUZZ_CHECK(ap.family == KEEL_AF_INET4 || ap.family == KEEL_AF_INET6);
        FUZZ_CHECK(ap.family == KEEL_AF_INET4 || text.ptr[0] == '[');
        char full[KEEL_ADDR_TEXT_MAX + 1];
        (void)check_format(&ap, true, full);
        keel_slice host;
        uint16_t port = 0;
        FUZZ_CHECK(keel_hostport_split(text, &host, &port) == KEEL_OK && port == ap.port);
        keel_addr ip = sentinel();
        FUZZ_CHECK(keel_addr_parse_ip(host, &ip) == KEEL_OK);
        ip.port = port;
        FUZZ_CHECK(keel_addr_eq(&ip, &ap));
    } else {
        FUZZ_CHECK(untouched(&ap));
    }
    check_split(text);
    return 0;
}

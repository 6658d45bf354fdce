/*
 * src/net/addr.c - numeric IPv4/IPv6 literals, host:port, RFC 5952 formatting,
 * name resolution and the sockaddr conversions of src/net/net_internal.h.
 *
 * The parsers index the slice directly (s.ptr[i] with i < hi <= s.len) and
 * work on index ranges [lo, hi) of the caller's slice, so that WP proves
 * them from valid_slice alone and "[v6]:port" needs no sub-slices. Results
 * are built in locals and stored in the out-parameters only on success.
 * Formatting builds the whole text in a KEEL_ADDR_TEXT_MAX array and appends
 * it with one keel_buf_append (all or nothing).
 */
#include "keel/addr.h"

#include "net/net_internal.h"

#ifndef __FRAMAC__
#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/sys.h"
#endif

#ifdef __FRAMAC__
/* WP only: slice.c's contracts addr.c is proven against
 * (proofs/contracts/addr.h). */
#include "contracts/addr.h"
#endif

/* Longest host name handed to the resolver (RFC 1035 presentation form). */
#define KEEL_NAME_MAX 253u

/* ---- character classes ------------------------------------------------ */

/*@ assigns \nothing;
    ensures \result <==> ('0' <= c <= '9'); */
static bool addr_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* The value of a hex digit, or 16 for any other byte. */
/*@ assigns \nothing;
    ensures \result <= 16; */
static uint32_t addr_hex_digit_value(uint8_t c)
{
    if (addr_is_digit(c)) {
        return (uint32_t)(c - '0');
    }
    if (c >= 'a' && c <= 'f') {
        return (uint32_t)(c - 'a' + 10);
    }
    if (c >= 'A' && c <= 'F') {
        return (uint32_t)(c - 'A' + 10);
    }
    return 16u;
}

/* ---- parsing helpers over s[lo, hi) ----------------------------------- */

/* Decimal number without sign or leading zeros ("0" itself is fine): the
 * same rule for IPv4 parts, ports and scope ids, so "010" never means 8. */
/*@ requires valid_slice(s);
    requires lo <= hi <= s.len;
    requires \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> lo < hi && *out <= max;
    ensures \result != KEEL_OK ==> *out == \old(*out);
*/
static KEEL_MUST_USE keel_result addr_parse_dec(keel_slice s, size_t lo, size_t hi, uint32_t max,
                                                uint32_t *out)
{
    if (lo >= hi || (s.ptr[lo] == '0' && hi - lo > 1u)) {
        return KEEL_ERR_PARSE;
    }
    uint64_t v = 0;
    /*@ loop invariant lo <= i <= hi;
        loop invariant v <= max;
        loop assigns i, v;
        loop variant hi - i; */
    for (size_t i = lo; i < hi; i++) {
        if (!addr_is_digit(s.ptr[i])) {
            return KEEL_ERR_PARSE;
        }
        v = v * 10u + (uint64_t)(s.ptr[i] - '0');
        if (v > max) {
            return KEEL_ERR_PARSE;
        }
    }
    *out = (uint32_t)v;
    return KEEL_OK;
}

/* One IPv6 group: 1 to 4 hex digits. */
/*@ requires valid_slice(s);
    requires lo <= hi <= s.len;
    requires \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result != KEEL_OK ==> *out == \old(*out);
*/
static KEEL_MUST_USE keel_result addr_parse_hex16(keel_slice s, size_t lo, size_t hi, uint16_t *out)
{
    if (lo >= hi || hi - lo > 4u) {
        return KEEL_ERR_PARSE;
    }
    uint32_t v = 0;
    /*@ loop invariant lo <= i <= hi;
        loop invariant i - lo == 0 ==> v == 0;
        loop invariant i - lo == 1 ==> v <= 0xf;
        loop invariant i - lo == 2 ==> v <= 0xff;
        loop invariant i - lo == 3 ==> v <= 0xfff;
        loop invariant v <= 0xffff;
        loop assigns i, v;
        loop variant hi - i; */
    for (size_t i = lo; i < hi; i++) {
        uint32_t h = addr_hex_digit_value(s.ptr[i]);
        if (h > 15u) {
            return KEEL_ERR_PARSE;
        }
        v = v * 16u + h;
    }
    *out = (uint16_t)v;
    return KEEL_OK;
}

/* Strict dotted quad: exactly four addr_parse_dec parts 0..255. q is scratch:
 * it may be partly written on failure. */
/*@ requires valid_slice(s);
    requires lo <= hi <= s.len;
    requires \valid(q + (0 .. 3));
    assigns q[0 .. 3];
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
*/
static KEEL_MUST_USE keel_result addr_parse_dotted_quad(keel_slice s, size_t lo, size_t hi,
                                                        uint8_t q[4])
{
    size_t part = 0;
    size_t start = lo;
    uint32_t v = 0;
    /*@ loop invariant lo <= start <= i <= hi;
        loop invariant part <= 3;
        loop assigns i, start, part, v, q[0 .. 2];
        loop variant hi - i; */
    for (size_t i = lo; i < hi; i++) {
        if (s.ptr[i] != '.') {
            continue;
        }
        if (part == 3u || addr_parse_dec(s, start, i, 255u, &v) != KEEL_OK) {
            return KEEL_ERR_PARSE;
        }
        q[part] = (uint8_t)v;
        part++;
        start = i + 1u;
    }
    if (part != 3u || addr_parse_dec(s, start, hi, 255u, &v) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    q[3] = (uint8_t)v;
    return KEEL_OK;
}

/* The groups of IPv6 text s[lo, hi) (RFC 4291 section 2.2, no scope): g[0,
 * *count) in order, and where "::" stands: 8 - *count zero groups go before
 * g[*gap] (*count is 8 when there is no "::"). g is scratch on failure. */
/*@ requires valid_slice(s);
    requires lo <= hi <= s.len;
    requires \valid(g + (0 .. 7)) && \valid(count) && \valid(gap);
    requires \separated(g + (0 .. 7), count, gap);
    assigns g[0 .. 7], *count, *gap;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> *gap <= *count <= 8;
*/
static KEEL_MUST_USE keel_result addr_parse_v6_groups(keel_slice s, size_t lo, size_t hi,
                                                      uint16_t g[8], size_t *count, size_t *gap)
{
    size_t n = 0;
    size_t at = 0;
    bool has_gap = false;
    size_t i = lo;
    if (hi - lo >= 2u && s.ptr[lo] == ':' && s.ptr[lo + 1u] == ':') {
        has_gap = true;
        i = lo + 2u;
    } else if (i == hi) {
        return KEEL_ERR_PARSE;
    }
    /* Each round reads one field (a group, or the dotted tail) that starts
     * at i, then its ':' or "::" separator. */
    /*@ loop invariant lo <= i <= hi;
        loop invariant n <= 8;
        loop invariant at <= n;
        loop assigns i, n, at, has_gap, g[0 .. 7];
        loop variant hi - i; */
    while (i < hi) {
        size_t k = i;
        bool dotted = false;
        /*@ loop invariant i <= k <= hi;
            loop assigns k, dotted;
            loop variant hi - k; */
        while (k < hi && s.ptr[k] != ':') {
            if (s.ptr[k] == '.') {
                dotted = true;
            }
            k++;
        }
        if (dotted) {
            /* The IPv4 tail fills the last 32 bits: it ends the text. */
            uint8_t q[4];
            if (k != hi || n > 6u || addr_parse_dotted_quad(s, i, k, q) != KEEL_OK) {
                return KEEL_ERR_PARSE;
            }
            g[n] = (uint16_t)((uint32_t)q[0] << 8 | q[1]);
            g[n + 1u] = (uint16_t)((uint32_t)q[2] << 8 | q[3]);
            n += 2u;
            break;
        }
        if (n == 8u || addr_parse_hex16(s, i, k, &g[n]) != KEEL_OK) {
            return KEEL_ERR_PARSE;
        }
        n++;
        if (k == hi) {
            break;
        }
        i = k + 1u;
        if (i < hi && s.ptr[i] == ':') {
            if (has_gap) {
                return KEEL_ERR_PARSE;
            }
            has_gap = true;
            at = n;
            i++;
        } else if (i == hi) {
            return KEEL_ERR_PARSE; /* trailing single ':' */
        }
    }
    /* "::" stands for at least one zero group. */
    if (has_gap ? n > 7u : n != 8u) {
        return KEEL_ERR_PARSE;
    }
    *count = n;
    *gap = has_gap ? at : n;
    return KEEL_OK;
}

/* IPv6 text with an optional "%<decimal>" scope. b and scope are scratch:
 * they may be written on failure. */
/*@ requires valid_slice(s);
    requires lo <= hi <= s.len;
    requires \valid(b + (0 .. 15));
    requires \valid(scope);
    requires \separated(b + (0 .. 15), scope);
    assigns b[0 .. 15], *scope;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
*/
static KEEL_MUST_USE keel_result addr_parse_v6(keel_slice s, size_t lo, size_t hi, uint8_t b[16],
                                               uint32_t *scope)
{
    size_t end = lo;
    /*@ loop invariant lo <= end <= hi;
        loop assigns end;
        loop variant hi - end; */
    while (end < hi && s.ptr[end] != '%') {
        end++;
    }
    *scope = 0;
    if (end < hi && addr_parse_dec(s, end + 1u, hi, UINT32_MAX, scope) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    uint16_t g[8];
    size_t n = 0;
    size_t gap = 0;
    if (addr_parse_v6_groups(s, lo, end, g, &n, &gap) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    size_t zeros = 8u - n;
    /*@ loop invariant 0 <= j <= 8;
        loop assigns j, b[0 .. 15];
        loop variant 8 - j; */
    for (size_t j = 0; j < 8u; j++) {
        uint16_t v = 0;
        if (j < gap) {
            v = g[j];
        } else if (j >= gap + zeros) {
            v = g[j - zeros];
        }
        b[2u * j] = (uint8_t)(v >> 8);
        b[2u * j + 1u] = (uint8_t)(v & 0xffu);
    }
    return KEEL_OK;
}

/*@ requires valid_slice(s);
    requires lo <= hi <= s.len;
    assigns \nothing;
    ensures \result <==> (\exists integer k; lo <= k < hi && s.ptr[k] == ':');
*/
static bool addr_has_colon(keel_slice s, size_t lo, size_t hi)
{
    /*@ loop invariant lo <= i <= hi;
        loop invariant \forall integer k; lo <= k < i ==> s.ptr[k] != ':';
        loop assigns i;
        loop variant hi - i; */
    for (size_t i = lo; i < hi; i++) {
        if (s.ptr[i] == ':') {
            return true;
        }
    }
    return false;
}

/*@ requires \valid(a);
    requires f == KEEL_AF_UNSPEC || f == KEEL_AF_INET4 || f == KEEL_AF_INET6;
    assigns *a;
    ensures valid_addr(*a) && a->family == f && a->port == port && a->scope_id == 0;
    ensures \forall integer k; 0 <= k < 16 ==> a->bytes[k] == 0;
*/
static void addr_init_zeroed(keel_addr *a, keel_family f, uint16_t port)
{
    a->family = f;
    /*@ loop invariant 0 <= i <= 16;
        loop invariant \forall integer k; 0 <= k < i ==> a->bytes[k] == 0;
        loop assigns i, a->bytes[0 .. 15];
        loop variant 16 - i; */
    for (size_t i = 0; i < 16u; i++) {
        a->bytes[i] = 0;
    }
    a->port = port;
    a->scope_id = 0;
}

/* Parse s[lo, hi) as an IPv4 (v6 false) or IPv6 literal into *out. */
/*@ requires valid_slice(s);
    requires lo <= hi <= s.len;
    requires \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> valid_addr(*out) && out->port == port;
    ensures \result == KEEL_OK ==> out->family == (v6 ? KEEL_AF_INET6 : KEEL_AF_INET4);
    ensures \result == KEEL_OK && !v6 ==> out->scope_id == 0;
    ensures \result != KEEL_OK ==> *out == \old(*out);
*/
static KEEL_MUST_USE keel_result addr_parse_literal(keel_slice s, size_t lo, size_t hi, bool v6,
                                                    uint16_t port, keel_addr *out)
{
    keel_addr a;
    addr_init_zeroed(&a, v6 ? KEEL_AF_INET6 : KEEL_AF_INET4, port);
    if (v6) {
        if (addr_parse_v6(s, lo, hi, a.bytes, &a.scope_id) != KEEL_OK) {
            return KEEL_ERR_PARSE;
        }
    } else if (addr_parse_dotted_quad(s, lo, hi, a.bytes) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    *out = a;
    return KEEL_OK;
}

/* "host:port" / "[host]:port": the host range, whether it was bracketed,
 * and the port. */
/*@ requires valid_slice(s);
    requires \valid(hlo) && \valid(hhi) && \valid(bracketed) && \valid(port);
    requires \separated(hlo, hhi, bracketed, port);
    assigns *hlo, *hhi, *bracketed, *port;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> *hlo < *hhi <= s.len;
*/
static KEEL_MUST_USE keel_result addr_split_hostport(keel_slice s, size_t *hlo, size_t *hhi,
                                                     bool *bracketed, uint16_t *port)
{
    size_t lo = 0;
    size_t hi = 0;
    size_t colon = 0;
    if (s.len == 0) {
        return KEEL_ERR_PARSE;
    }
    if (s.ptr[0] == '[') {
        size_t i = 1;
        /*@ loop invariant 1 <= i <= s.len;
            loop assigns i;
            loop variant s.len - i; */
        while (i < s.len && s.ptr[i] != ']') {
            if (s.ptr[i] == '[') {
                return KEEL_ERR_PARSE;
            }
            i++;
        }
        if (i == s.len) {
            return KEEL_ERR_PARSE; /* no ']' */
        }
        lo = 1;
        hi = i;
        colon = i + 1u;
        if (colon >= s.len || s.ptr[colon] != ':') {
            return KEEL_ERR_PARSE;
        }
    } else {
        size_t i = 0;
        /*@ loop invariant 0 <= i <= s.len;
            loop assigns i;
            loop variant s.len - i; */
        while (i < s.len && s.ptr[i] != ':') {
            if (s.ptr[i] == '[' || s.ptr[i] == ']') {
                return KEEL_ERR_PARSE;
            }
            i++;
        }
        if (i == s.len) {
            return KEEL_ERR_PARSE; /* no port */
        }
        hi = i;
        colon = i;
    }
    uint32_t p = 0;
    if (lo == hi || addr_parse_dec(s, colon + 1u, s.len, 65535u, &p) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    *hlo = lo;
    *hhi = hi;
    *bracketed = lo == 1u;
    *port = (uint16_t)p;
    return KEEL_OK;
}

/* ---- parsing: public -------------------------------------------------- */

/*@ requires slice_arg(text);
    requires out != \null ==> \valid(out);
    assigns *out;
    ensures out == \null || !slice_shape(text) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> valid_addr(*out) && out->family == KEEL_AF_INET4
            && out->port == 0 && out->scope_id == 0;
    ensures out != \null && \result != KEEL_OK ==> *out == \old(*out);
*/
keel_result keel_addr_parse_ipv4(keel_slice text, keel_addr *out)
{
    if (out == NULL || !keel_slice_valid(text)) {
        return KEEL_ERR_INVALID_ARG;
    }
    return addr_parse_literal(text, 0, text.len, false, 0, out);
}

/*@ requires slice_arg(text);
    requires out != \null ==> \valid(out);
    assigns *out;
    ensures out == \null || !slice_shape(text) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> valid_addr(*out) && out->family == KEEL_AF_INET6
            && out->port == 0;
    ensures out != \null && \result != KEEL_OK ==> *out == \old(*out);
*/
keel_result keel_addr_parse_ipv6(keel_slice text, keel_addr *out)
{
    if (out == NULL || !keel_slice_valid(text)) {
        return KEEL_ERR_INVALID_ARG;
    }
    return addr_parse_literal(text, 0, text.len, true, 0, out);
}

/*@ requires slice_arg(text);
    requires out != \null ==> \valid(out);
    assigns *out;
    ensures out == \null || !slice_shape(text) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> valid_addr(*out) && out->family != KEEL_AF_UNSPEC
            && out->port == 0;
    ensures out != \null && \result != KEEL_OK ==> *out == \old(*out);
*/
keel_result keel_addr_parse_ip(keel_slice text, keel_addr *out)
{
    if (out == NULL || !keel_slice_valid(text)) {
        return KEEL_ERR_INVALID_ARG;
    }
    return addr_parse_literal(text, 0, text.len, addr_has_colon(text, 0, text.len), 0, out);
}

/*@ requires slice_arg(text);
    requires out != \null ==> \valid(out);
    assigns *out;
    ensures out == \null || !slice_shape(text) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> valid_addr(*out) && out->family != KEEL_AF_UNSPEC;
    ensures out != \null && \result != KEEL_OK ==> *out == \old(*out);
*/
keel_result keel_addr_parse(keel_slice text, keel_addr *out)
{
    if (out == NULL || !keel_slice_valid(text)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t lo = 0;
    size_t hi = 0;
    bool bracketed = false;
    uint16_t port = 0;
    if (addr_split_hostport(text, &lo, &hi, &bracketed, &port) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    /* Brackets hold IPv6 only (RFC 3986 IP-literal); without them the host
     * has no ':' so it can only be IPv4. */
    return addr_parse_literal(text, lo, hi, bracketed, port, out);
}

/*@ requires slice_arg(text);
    requires out != \null ==> \valid(out);
    assigns *out;
    ensures out == \null || !slice_shape(text) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INVALID_ARG;
    ensures text.len == 0 && out != \null ==> \result != KEEL_OK;
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
*/
keel_result keel_addr_parse_port(keel_slice text, uint16_t *out)
{
    if (out == NULL || !keel_slice_valid(text)) {
        return KEEL_ERR_INVALID_ARG;
    }
    uint32_t p = 0;
    KEEL_TRY(addr_parse_dec(text, 0, text.len, 65535u, &p));
    *out = (uint16_t)p;
    return KEEL_OK;
}

/*@ requires slice_arg(text);
    requires host != \null ==> \valid(host);
    requires port != \null ==> \valid(port);
    requires \separated(host, port);
    assigns *host, *port;
    ensures host == \null || port == \null || !slice_shape(text) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> host->len > 0 && valid_slice(*host)
            && text.ptr <= host->ptr && host->ptr + host->len <= text.ptr + text.len;
    ensures host != \null && port != \null && \result != KEEL_OK ==>
            *host == \old(*host) && *port == \old(*port);
*/
keel_result keel_hostport_split(keel_slice text, keel_slice *host, uint16_t *port)
{
    if (host == NULL || port == NULL || !keel_slice_valid(text)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t lo = 0;
    size_t hi = 0;
    bool bracketed = false;
    uint16_t p = 0;
    if (addr_split_hostport(text, &lo, &hi, &bracketed, &p) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    host->ptr = text.ptr + lo;
    host->len = hi - lo;
    *port = p;
    return KEEL_OK;
}

/* ---- formatting ------------------------------------------------------- */

typedef struct addr_text {
    uint8_t b[KEEL_ADDR_TEXT_MAX];
    size_t n;
} addr_text;

/*@ requires \valid(t);
    requires t->n < KEEL_ADDR_TEXT_MAX;
    assigns t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
    ensures t->n == \old(t->n) + 1;
*/
static void addr_put_byte(addr_text *t, uint8_t c)
{
    t->b[t->n] = c;
    t->n++;
}

/* v in decimal. (No digit table: WP would have to assume tables apart from
 * t, and the format functions' callers cannot promise that.) */
/*@ requires \valid(t);
    requires t->n + 10 <= KEEL_ADDR_TEXT_MAX;
    assigns t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
    ensures \old(t->n) < t->n <= \old(t->n) + 10;
*/
static void addr_put_dec(addr_text *t, uint32_t v)
{
    uint8_t digits[10]; /* a uint32_t has at most 10 decimal digits */
    size_t k = 10;
    /*@ loop invariant 0 <= k <= 10;
        loop assigns k, v, digits[0 .. 9];
        loop variant k; */
    while (k > 0u) {
        k--;
        digits[k] = (uint8_t)('0' + v % 10u);
        v /= 10u;
        if (v == 0u) {
            break;
        }
    }
    /*@ loop invariant k <= i <= 10;
        loop invariant t->n == \at(t->n, LoopEntry) + (i - k);
        loop assigns i, t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
        loop variant 10 - i; */
    for (size_t i = k; i < 10u; i++) {
        addr_put_byte(t, digits[i]);
    }
}

/* An IPv4 part: the tight bound keeps the longest text within
 * KEEL_ADDR_TEXT_MAX. */
/*@ requires \valid(t);
    requires t->n + 3 <= KEEL_ADDR_TEXT_MAX;
    assigns t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
    ensures \old(t->n) < t->n <= \old(t->n) + 3;
*/
static void addr_put_octet(addr_text *t, uint8_t v)
{
    if (v >= 100u) {
        addr_put_byte(t, (uint8_t)('0' + v / 100u));
    }
    if (v >= 10u) {
        addr_put_byte(t, (uint8_t)('0' + v / 10u % 10u));
    }
    addr_put_byte(t, (uint8_t)('0' + v % 10u));
}

/* One group in lowercase hex without leading zeros (RFC 5952 4.1, 4.3). */
/*@ requires \valid(t);
    requires t->n + 4 <= KEEL_ADDR_TEXT_MAX;
    assigns t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
    ensures \old(t->n) < t->n <= \old(t->n) + 4;
*/
static void addr_put_hex_group(addr_text *t, uint32_t v)
{
    size_t d = v >= 0x1000u ? 4u : v >= 0x100u ? 3u : v >= 0x10u ? 2u : 1u;
    /*@ loop invariant 0 <= k <= d;
        loop assigns k, v, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
        loop variant k; */
    for (size_t k = d; k > 0u; k--) {
        uint32_t nib = v & 0xfu;
        t->b[t->n + k - 1u] = (uint8_t)(nib < 10u ? '0' + nib : 'a' + nib - 10u);
        v >>= 4;
    }
    t->n += d;
}

/*@ requires \valid(t);
    requires t->n + 15 <= KEEL_ADDR_TEXT_MAX;
    requires \valid_read(q + (0 .. 3));
    requires \separated(t, q + (0 .. 3));
    assigns t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
    ensures \old(t->n) < t->n <= \old(t->n) + 15;
*/
static void addr_put_dotted_quad(addr_text *t, const uint8_t *q)
{
    /*@ loop invariant 0 <= i <= 4;
        loop invariant \at(t->n, LoopEntry) + (i == 0 ? 0 : 4 * i - 1) >= t->n;
        loop invariant i > 0 ==> t->n > \at(t->n, LoopEntry);
        loop invariant t->n >= \at(t->n, LoopEntry);
        loop assigns i, t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
        loop variant 4 - i; */
    for (size_t i = 0; i < 4u; i++) {
        if (i > 0u) {
            addr_put_byte(t, '.');
        }
        addr_put_octet(t, q[i]);
    }
}

/*@ predicate is_v4_mapped{L}(keel_addr *a) =
        (\forall integer k; 0 <= k < 10 ==> a->bytes[k] == 0)
        && a->bytes[10] == 0xff && a->bytes[11] == 0xff;
*/

/*@ requires \valid_read(a);
    assigns \nothing;
    ensures \result <==> is_v4_mapped(a);
*/
static bool addr_is_v4_mapped(const keel_addr *a)
{
    /*@ loop invariant 0 <= i <= 10;
        loop invariant \forall integer k; 0 <= k < i ==> a->bytes[k] == 0;
        loop assigns i;
        loop variant 10 - i; */
    for (size_t i = 0; i < 10u; i++) {
        if (a->bytes[i] != 0) {
            return false;
        }
    }
    return a->bytes[10] == 0xffu && a->bytes[11] == 0xffu;
}

/* IPv6 in RFC 5952 form: the longest run of two or more zero groups (the
 * first on ties) becomes "::"; an IPv4-mapped address keeps its dotted
 * tail (section 5). */
/*@ requires \valid_read(a);
    requires \valid(t);
    requires \separated(a, t);
    requires t->n <= 1;
    assigns t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
    ensures \old(t->n) < t->n <= \old(t->n) + 40;
*/
static void addr_put_v6(const keel_addr *a, addr_text *t)
{
    if (addr_is_v4_mapped(a)) {
        addr_put_byte(t, ':');
        addr_put_byte(t, ':');
        addr_put_hex_group(t, 0xffffu);
        addr_put_byte(t, ':');
        addr_put_dotted_quad(t, &a->bytes[12]);
        return;
    }
    uint32_t g[8];
    size_t best = 0;
    size_t best_len = 0;
    size_t cur_len = 0;
    /*@ loop invariant 0 <= i <= 8;
        loop invariant cur_len <= i;
        loop invariant best + best_len <= i;
        loop assigns i, g[0 .. 7], best, best_len, cur_len;
        loop variant 8 - i; */
    for (size_t i = 0; i < 8u; i++) {
        g[i] = (uint32_t)a->bytes[2u * i] << 8 | a->bytes[2u * i + 1u];
        if (g[i] != 0u) {
            cur_len = 0;
            continue;
        }
        cur_len++;
        if (cur_len > best_len) {
            best = i + 1u - cur_len;
            best_len = cur_len;
        }
    }
    if (best_len < 2u) {
        best = 8; /* no run to compress */
        best_len = 0;
    }
    size_t i = 0;
    /*@ loop invariant 0 <= i <= 8;
        loop invariant best + best_len <= 8;
        loop invariant best == 8 || best_len >= 2;
        loop invariant \at(t->n, LoopEntry) <= t->n <= \at(t->n, LoopEntry) + 5 * i;
        loop invariant i > 0 ==> t->n > \at(t->n, LoopEntry);
        loop assigns i, t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
        loop variant 8 - i; */
    while (i < 8u) {
        if (i == best) {
            addr_put_byte(t, ':');
            addr_put_byte(t, ':');
            i += best_len;
            continue;
        }
        if (i > 0u && i != best + best_len) {
            addr_put_byte(t, ':');
        }
        addr_put_hex_group(t, g[i]);
        i++;
    }
}

/* The address without port. INVALID_ARG for a family other than v4/v6. */
/*@ requires \valid_read(a);
    requires \valid(t);
    requires \separated(a, t);
    requires t->n <= 1;
    assigns t->n, t->b[0 .. KEEL_ADDR_TEXT_MAX - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK <==> (a->family == KEEL_AF_INET4 || a->family == KEEL_AF_INET6);
    ensures \result == KEEL_OK ==> \old(t->n) < t->n <= \old(t->n) + 51;
*/
static KEEL_MUST_USE keel_result addr_put_ip(const keel_addr *a, addr_text *t)
{
    if (a->family == KEEL_AF_INET4) {
        addr_put_dotted_quad(t, a->bytes);
        return KEEL_OK;
    }
    if (a->family != KEEL_AF_INET6) {
        return KEEL_ERR_INVALID_ARG;
    }
    addr_put_v6(a, t);
    if (a->scope_id != 0u) {
        addr_put_byte(t, '%');
        addr_put_dec(t, a->scope_id);
    }
    return KEEL_OK;
}

/*@ requires a != \null ==> \valid_read(a);
    requires buf_arg(out);
    requires \separated(a, out);
    assigns *out, out->ptr[0 .. out->cap - 1];
    ensures a == \null || out == \null || !buf_shape(\old(*out)) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures a != \null && a->family != KEEL_AF_INET4 && a->family != KEEL_AF_INET6 ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures out != \null && \result != KEEL_OK ==> out->len == \old(out->len)
            && (\forall integer k; 0 <= k < out->cap ==> out->ptr[k] == \old(out->ptr[k]));
    ensures \result == KEEL_OK ==> \old(out->len) < out->len <= out->cap
            && out->len <= \old(out->len) + KEEL_ADDR_TEXT_MAX;
*/
keel_result keel_addr_format_ip(const keel_addr *a, keel_buf *out)
{
    if (a == NULL || !keel_buf_valid(out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    addr_text t;
    t.n = 0;
    if (addr_put_ip(a, &t) != KEEL_OK) {
        return KEEL_ERR_INVALID_ARG;
    }
    return keel_buf_append(out, (keel_slice){ t.b, t.n });
}

/*@ requires a != \null ==> \valid_read(a);
    requires buf_arg(out);
    requires \separated(a, out);
    assigns *out, out->ptr[0 .. out->cap - 1];
    ensures a == \null || out == \null || !buf_shape(\old(*out)) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures a != \null && a->family != KEEL_AF_INET4 && a->family != KEEL_AF_INET6 ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures out != \null && \result != KEEL_OK ==> out->len == \old(out->len)
            && (\forall integer k; 0 <= k < out->cap ==> out->ptr[k] == \old(out->ptr[k]));
    ensures \result == KEEL_OK ==> \old(out->len) < out->len <= out->cap
            && out->len <= \old(out->len) + KEEL_ADDR_TEXT_MAX;
*/
keel_result keel_addr_format(const keel_addr *a, keel_buf *out)
{
    if (a == NULL || !keel_buf_valid(out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    bool v6 = a->family == KEEL_AF_INET6;
    addr_text t;
    t.n = 0;
    if (v6) {
        addr_put_byte(&t, '[');
    }
    if (addr_put_ip(a, &t) != KEEL_OK) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (v6) {
        addr_put_byte(&t, ']');
    }
    addr_put_byte(&t, ':');
    addr_put_dec(&t, a->port);
    return keel_buf_append(out, (keel_slice){ t.b, t.n });
}

/* ---- values ----------------------------------------------------------- */

/*@ requires a != \null ==> \valid_read(a);
    requires b != \null ==> \valid_read(b);
    assigns \nothing;
    ensures a == \null || b == \null ==> \result == \false;
    ensures \result ==> a->family == b->family && a->port == b->port
            && a->scope_id == b->scope_id
            && (\forall integer k; 0 <= k < 16 ==> a->bytes[k] == b->bytes[k]);
*/
bool keel_addr_eq(const keel_addr *a, const keel_addr *b)
{
    if (a == NULL || b == NULL || a->family != b->family || a->port != b->port ||
        a->scope_id != b->scope_id) {
        return false;
    }
    /*@ loop invariant 0 <= i <= 16;
        loop invariant \forall integer k; 0 <= k < i ==> a->bytes[k] == b->bytes[k];
        loop assigns i;
        loop variant 16 - i; */
    for (size_t i = 0; i < 16u; i++) {
        if (a->bytes[i] != b->bytes[i]) {
            return false;
        }
    }
    return true;
}

/*@ requires out != \null ==> \valid(out);
    assigns *out;
    ensures out == \null || (family != KEEL_AF_INET4 && family != KEEL_AF_INET6) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> out->family == family && out->port == port
            && out->scope_id == 0 && (\forall integer k; 0 <= k < 16 ==> out->bytes[k] == 0);
    ensures out != \null && \result != KEEL_OK ==> *out == \old(*out);
*/
keel_result keel_addr_any(keel_family family, uint16_t port, keel_addr *out)
{
    if (out == NULL || (family != KEEL_AF_INET4 && family != KEEL_AF_INET6)) {
        return KEEL_ERR_INVALID_ARG;
    }
    addr_init_zeroed(out, family, port);
    return KEEL_OK;
}

/*@ requires out != \null ==> \valid(out);
    assigns *out;
    ensures out == \null || (family != KEEL_AF_INET4 && family != KEEL_AF_INET6) ==>
            \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> out->family == family && out->port == port
            && out->scope_id == 0;
    ensures \result == KEEL_OK && family == KEEL_AF_INET4 ==>
            out->bytes[0] == 127 && out->bytes[3] == 1;
    ensures \result == KEEL_OK && family == KEEL_AF_INET6 ==> out->bytes[15] == 1;
    ensures out != \null && \result != KEEL_OK ==> *out == \old(*out);
*/
keel_result keel_addr_loopback(keel_family family, uint16_t port, keel_addr *out)
{
    if (out == NULL || (family != KEEL_AF_INET4 && family != KEEL_AF_INET6)) {
        return KEEL_ERR_INVALID_ARG;
    }
    addr_init_zeroed(out, family, port);
    if (family == KEEL_AF_INET4) {
        out->bytes[0] = 127;
        out->bytes[3] = 1;
    } else {
        out->bytes[15] = 1;
    }
    return KEEL_OK;
}

/* The sockaddr conversions and resolution are outside the WP proof: the
 * conversions reinterpret struct sockaddr as sockaddr_in/in6, casts WP's
 * typed memory model cannot follow; resolution walks the resolver's addrinfo
 * list, whose shape Frama-C's libc spec does not describe, and sys.h's
 * wrappers pull in libc specs that WP rejects. The tests cover both. */
#ifndef __FRAMAC__

/* ---- sockaddr conversions (src/net/net_internal.h) ---------------------------- */

keel_result keel_addr_to_sockaddr(const keel_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    if (a == NULL || ss == NULL || len == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    /* Built in a union so every byte of *ss, padding included, is set. */
    union {
        struct sockaddr_storage ss;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u = { 0 };
    socklen_t n;
    if (a->family == KEEL_AF_INET4) {
        u.in4.sin_family = AF_INET;
        u.in4.sin_port = htons(a->port);
        u.in4.sin_addr.s_addr = htonl((uint32_t)a->bytes[0] << 24 | (uint32_t)a->bytes[1] << 16 |
                                      (uint32_t)a->bytes[2] << 8 | a->bytes[3]);
        n = (socklen_t)sizeof(struct sockaddr_in);
    } else if (a->family == KEEL_AF_INET6) {
        u.in6.sin6_family = AF_INET6;
        u.in6.sin6_port = htons(a->port);
        for (size_t i = 0; i < 16u; i++) {
            u.in6.sin6_addr.s6_addr[i] = a->bytes[i];
        }
        u.in6.sin6_scope_id = a->scope_id;
        n = (socklen_t)sizeof(struct sockaddr_in6);
    } else {
        return KEEL_ERR_INVALID_ARG;
    }
    *ss = u.ss;
    *len = n;
    return KEEL_OK;
}

keel_result keel_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, keel_addr *out)
{
    if (sa == NULL || out == NULL || len < (socklen_t)sizeof(sa_family_t)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_addr a;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
        uint32_t ip = ntohl(in4->sin_addr.s_addr);
        addr_init_zeroed(&a, KEEL_AF_INET4, ntohs(in4->sin_port));
        a.bytes[0] = (uint8_t)(ip >> 24);
        a.bytes[1] = (uint8_t)(ip >> 16 & 0xffu);
        a.bytes[2] = (uint8_t)(ip >> 8 & 0xffu);
        a.bytes[3] = (uint8_t)(ip & 0xffu);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        addr_init_zeroed(&a, KEEL_AF_INET6, ntohs(in6->sin6_port));
        for (size_t i = 0; i < 16u; i++) {
            a.bytes[i] = in6->sin6_addr.s6_addr[i];
        }
        a.scope_id = in6->sin6_scope_id;
    } else {
        return KEEL_ERR_INVALID_ARG;
    }
    *out = a;
    return KEEL_OK;
}

/* ---- resolution ------------------------------------------------------- */

/* True when the last label of the name is a number in the resolver's lax
 * inet_aton syntax (all decimal digits, or "0x" + hex digits). Such names
 * ("127.1", "0x7f.1", "0177.0.0.1", "2130706433") are numbers the strict
 * parser refused, never host names (RFC 3696 section 2: a top-level domain
 * is not all-numeric), so they must not reach getaddrinfo. */
static bool addr_last_label_is_number(keel_slice s)
{
    size_t start = s.len;
    while (start > 0u && s.ptr[start - 1u] != '.') {
        start--;
    }
    if (start == s.len) {
        return false;
    }
    size_t i = start;
    bool hex = s.len - start >= 2u && s.ptr[start] == '0' &&
               (s.ptr[start + 1u] == 'x' || s.ptr[start + 1u] == 'X');
    if (hex) {
        i += 2u;
    }
    for (; i < s.len; i++) {
        if (hex ? addr_hex_digit_value(s.ptr[i]) > 15u : !addr_is_digit(s.ptr[i])) {
            return false;
        }
    }
    return true;
}

static KEEL_MUST_USE keel_result addr_gai_error_result(int rc)
{
    switch (rc) {
    case EAI_NONAME:
    case EAI_AGAIN:
    case EAI_FAIL:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return KEEL_ERR_HOST_NOT_FOUND;
    case EAI_MEMORY:
        return KEEL_ERR_NO_MEMORY;
    default:
        return KEEL_ERR_OS;
    }
}

static bool addr_family_matches(keel_family want, keel_family got)
{
    return want == KEEL_AF_UNSPEC || want == got;
}

keel_result keel_addr_resolve(keel_slice host, uint16_t port, keel_family family,
                              keel_addr_list *out)
{
    if (out == NULL || !keel_slice_valid(host) || host.len == 0 ||
        (family != KEEL_AF_UNSPEC && family != KEEL_AF_INET4 && family != KEEL_AF_INET6)) {
        return KEEL_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < host.len; i++) {
        if (host.ptr[i] == 0) {
            return KEEL_ERR_INVALID_ARG;
        }
    }

    keel_addr_list list;
    list.count = 0;
    keel_addr lit; /* stays KEEL_AF_UNSPEC unless host is a literal */
    addr_init_zeroed(&lit, KEEL_AF_UNSPEC, port);
    bool bracketed = host.ptr[0] == '[';
    if (bracketed || addr_has_colon(host, 0, host.len)) {
        /* Only an IPv6 literal may hold ':' or brackets: no name does. */
        size_t lo = bracketed ? 1u : 0u;
        size_t hi = bracketed ? host.len - 1u : host.len;
        if ((bracketed && (host.len < 2u || host.ptr[hi] != ']')) ||
            addr_parse_literal(host, lo, hi, true, port, &lit) != KEEL_OK) {
            return KEEL_ERR_HOST_NOT_FOUND;
        }
    } else if (addr_parse_literal(host, 0, host.len, false, port, &lit) != KEEL_OK) {
        if (host.len > KEEL_NAME_MAX || addr_last_label_is_number(host)) {
            return KEEL_ERR_HOST_NOT_FOUND;
        }
    }
    if (lit.family != KEEL_AF_UNSPEC) {
        if (!addr_family_matches(family, lit.family)) {
            return KEEL_ERR_HOST_NOT_FOUND;
        }
        list.items[0] = lit;
        list.count = 1;
        *out = list;
        return KEEL_OK;
    }

    char name[KEEL_NAME_MAX + 1u];
    for (size_t i = 0; i < host.len; i++) {
        name[i] = (char)host.ptr[i];
    }
    name[host.len] = '\0';
    struct addrinfo hints = { 0 };
    hints.ai_family = family == KEEL_AF_INET4 ? AF_INET
                      : family == KEEL_AF_INET6 ? AF_INET6
                                                : AF_UNSPEC;
    /* One entry per address; no AI_ADDRCONFIG, so a loopback-only machine
     * still gets both families of "localhost". */
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    int rc = ksys_getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        return addr_gai_error_result(rc);
    }
    for (const struct addrinfo *ai = res; ai != NULL && list.count < KEEL_ADDR_LIST_MAX;
         ai = ai->ai_next) {
        keel_addr a;
        if (ai->ai_addr == NULL ||
            keel_addr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &a) != KEEL_OK ||
            !addr_family_matches(family, a.family)) {
            continue; /* a family keel does not know */
        }
        a.port = port;
        bool dup = false;
        for (size_t j = 0; j < list.count && !dup; j++) {
            dup = keel_addr_eq(&list.items[j], &a);
        }
        if (!dup) {
            list.items[list.count] = a;
            list.count++;
        }
    }
    ksys_freeaddrinfo(res);
    if (list.count == 0u) {
        return KEEL_ERR_HOST_NOT_FOUND;
    }
    *out = list;
    return KEEL_OK;
}
#endif /* __FRAMAC__ */

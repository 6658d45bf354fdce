/**
 * @file
 * @brief keel/addr.h - socket addresses: numeric IPv4/IPv6 literals, host:port,
 * [v6]:port, formatting, and name resolution.
 *
 * Conventions:
 *  - keel_addr is a plain value (copy it freely): a family, the address
 *    bytes in network order, a port in host order, and an IPv6 scope id.
 *  - Parsing is strict and never reads outside the given slice; it needs no
 *    NUL terminator. Malformed text is KEEL_ERR_PARSE.
 *  - A slice or buf that fails keel_slice_valid / keel_buf_valid, or a NULL
 *    pointer argument, is KEEL_ERR_INVALID_ARG, checked before anything is
 *    read or written.
 *  - Formatting appends to a keel_buf; KEEL_ERR_TOO_LARGE (buf unchanged)
 *    when the text does not fit. KEEL_ADDR_TEXT_MAX bytes always suffice.
 *  - Parsing and formatting are pure and thread-safe; resolution calls the
 *    system resolver (getaddrinfo), which may block.
 */
#ifndef KEEL_ADDR_H
#define KEEL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/result.h"
#include "keel/slice.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** An address family. */
typedef enum keel_family {
    KEEL_AF_UNSPEC = 0, /**< none, or either (for resolution) */
    KEEL_AF_INET4 = 4,  /**< IPv4 */
    KEEL_AF_INET6 = 6   /**< IPv6 */
} keel_family;

/** A socket address: a plain value. */
typedef struct keel_addr {
    keel_family family; /**< KEEL_AF_INET4 or KEEL_AF_INET6 (KEEL_AF_UNSPEC: none) */
    uint8_t bytes[16]; /**< IPv4 uses bytes[0..3]; network byte order */
    uint16_t port;     /**< host byte order */
    uint32_t scope_id; /**< IPv6 only; 0 otherwise */
} keel_addr;

/** Longest text keel_addr_format can produce:
 * "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535". */
#define KEEL_ADDR_TEXT_MAX 64u

/** Most addresses keel_addr_resolve returns. */
#define KEEL_ADDR_LIST_MAX 16u

/** The addresses a name resolves to (keel_addr_resolve). */
typedef struct keel_addr_list {
    keel_addr items[KEEL_ADDR_LIST_MAX]; /**< items[0 .. count-1] are filled */
    size_t count;                        /**< how many */
} keel_addr_list;

/*@
  predicate valid_addr(keel_addr a) =
      a.family == KEEL_AF_UNSPEC || a.family == KEEL_AF_INET4 || a.family == KEEL_AF_INET6;
*/

/** Parse a dotted-quad IPv4 literal: exactly four decimal parts 0..255,
 * no leading zeros (octal ambiguity), no whitespace. Port set to 0. */
KEEL_MUST_USE keel_result keel_addr_parse_ipv4(keel_slice text, keel_addr *out);
/** Parse an IPv6 literal (RFC 4291 text forms, "::" compression, embedded
 * dotted IPv4 tail, optional `%<decimal scope id>`). Port set to 0.
 * The scope id is decimal without leading zeros and fits uint32_t;
 * interface names ("%eth0") are PARSE. */
KEEL_MUST_USE keel_result keel_addr_parse_ipv6(keel_slice text, keel_addr *out);
/** Parse either literal form (no brackets, no port). */
KEEL_MUST_USE keel_result keel_addr_parse_ip(keel_slice text, keel_addr *out);
/** Parse "a.b.c.d:port" or "[v6]:port" (port 0..65535, required). The port
 * is decimal digits only: no sign, no whitespace, and no leading zeros
 * ("080" is PARSE, "0" is fine), the same rule as IPv4 parts. Brackets hold
 * IPv6 only: "[1.2.3.4]:80" is PARSE. */
KEEL_MUST_USE keel_result keel_addr_parse(keel_slice text, keel_addr *out);

/** Split "host:port" / "[v6]:port" into the host part (without brackets) and
 * the port. The host is not resolved or validated beyond being non-empty and
 * free of ':' unless bracketed (and free of '[' ']' inside). The port follows
 * the keel_addr_parse rule. *host is a view into text. PARSE on malformed
 * input. */
KEEL_MUST_USE keel_result keel_hostport_split(keel_slice text, keel_slice *host, uint16_t *port);

/** Parse a port number alone, as keel_addr_parse reads the one after ':'
 * (for a port given by itself, e.g. on a command line): decimal digits
 * only, 0..65535, no sign, no whitespace, no leading zeros ("080" is
 * PARSE, "0" is fine). PARSE for the empty slice. INVALID_ARG if out is
 * NULL or text.ptr is NULL with a length; *out is written only on KEEL_OK. */
KEEL_MUST_USE keel_result keel_addr_parse_port(keel_slice text, uint16_t *out);

/** Append the address without port: "1.2.3.4", "::1", "fe80::1%2".
 * IPv6 in RFC 5952 canonical form. INVALID_ARG for KEEL_AF_UNSPEC. */
KEEL_MUST_USE keel_result keel_addr_format_ip(const keel_addr *a, keel_buf *out);
/** Append the address with port: "1.2.3.4:80", "[::1]:80". */
KEEL_MUST_USE keel_result keel_addr_format(const keel_addr *a, keel_buf *out);

/** True when both addresses have the same family, bytes, port and scope. */
bool keel_addr_eq(const keel_addr *a, const keel_addr *b);

/** @{ */
/** Build an address: the unspecified address of the family ("0.0.0.0" or
 * "::"), or loopback ("127.0.0.1" / "::1"), with the given port. */
KEEL_MUST_USE keel_result keel_addr_any(keel_family family, uint16_t port, keel_addr *out);
KEEL_MUST_USE keel_result keel_addr_loopback(keel_family family, uint16_t port, keel_addr *out);
/** @} */

/** Resolve host (a numeric literal or a name) to up to KEEL_ADDR_LIST_MAX
 * addresses, each with the given port, in the resolver's order. family
 * restricts the result (KEEL_AF_UNSPEC: both). Numeric literals never touch
 * the resolver; "[v6]" is accepted too. HOST_NOT_FOUND if nothing resolves;
 * INVALID_ARG for an empty host, one containing a NUL byte, or an unknown
 * family. Also HOST_NOT_FOUND, without asking the resolver: a literal of
 * the other family than the one requested, text with ':' or brackets that
 * is not an IPv6 literal, a name longer than 253 bytes, and a name whose
 * last label is a number ("127.1", "0x7f.1", "2130706433": forms the strict
 * parser refuses but the system resolver would read as IPv4). Resolver
 * failures: EAI_NONAME/AGAIN/FAIL/NODATA -> HOST_NOT_FOUND, EAI_MEMORY ->
 * NO_MEMORY, anything else -> OS. */
KEEL_MUST_USE keel_result keel_addr_resolve(keel_slice host, uint16_t port, keel_family family,
                                            keel_addr_list *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_ADDR_H */

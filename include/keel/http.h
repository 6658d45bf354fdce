/**
 * @file
 * @brief keel/http.h - HTTP/1.1 messages over slices: a strict, incremental,
 * zero-copy parser for request and response heads, the chunked transfer
 * coding (decoder and encoder), and what a server or client needs to frame
 * a message body. Pure: depends on keel/result.h and keel/slice.h only; the
 * server and client that run it over sockets are in keel/http_server.h and
 * keel/http_client.h.
 *
 * Conventions (in addition to those of keel/result.h and keel/slice.h):
 *  - Nothing here allocates or copies. A parsed head is a set of slices
 *    INTO the caller's input (zero copy), valid as long as those bytes are.
 *    Header fields go into an array the caller provides; its size is the
 *    header count limit.
 *  - Incremental: the parser is offered the message's bytes from its first
 *    byte, again and again as more arrive (the same bytes with more
 *    appended; they may have moved in memory in between, e.g. when a
 *    receive buffer grows). It remembers how far it has checked and never
 *    looks at a byte twice, so a head trickled one byte at a time costs
 *    O(n) in total, not O(n^2). Feeding a message whole or in any split
 *    gives the same result: the same consumed count, the same fields, the
 *    same error at the same offset.
 *  - Results: KEEL_OK (a complete head; *consumed says how many bytes it
 *    took), KEEL_ERR_INCOMPLETE (no fault found so far: offer again with
 *    more bytes; a fault that is decided when its element ends, such as a
 *    target's form against the method, is reported then, at the element's
 *    offset: docs/http-profile.md, "INCOMPLETE and deferred decisions"),
 *    KEEL_ERR_PARSE (malformed: more bytes will not help),
 *    KEEL_ERR_TOO_LARGE (a configured limit was exceeded), and
 *    KEEL_ERR_INVALID_ARG (NULL pointers, invalid slices/bufs, a parser
 *    used with the wrong function). Every PARSE and TOO_LARGE fills a
 *    keel_http_error: the byte offset (from the message's first byte), a
 *    reason, and the HTTP status a server should answer (400, 413, 414,
 *    431, 501, 505). Errors are sticky: the same result and error on every
 *    later call until keel_http_parser_reset.
 *  - Strict by default: the profile, section by section against RFC 9110
 *    and RFC 9112, is docs/http-profile.md. Every leniency is a named flag
 *    of keel_http_config, off by default; the profile says which ambiguity
 *    each can and cannot introduce.
 *  - Thread-safety: plain values, no global state; one parser per
 *    connection.
 *  - The parser and the chunked decoder are proven with Frama-C WP
 *    (proofs/): no out-of-bounds access, every returned slice lies inside
 *    the input, *consumed <= the input's length, every loop terminates.
 */
#ifndef KEEL_HTTP_H
#define KEEL_HTTP_H

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

/* ---- limits and leniencies ------------------------------------------- */

/** Defaults used for a 0 field of keel_http_limits. */
#define KEEL_HTTP_DEFAULT_MAX_START_LINE 8192u      /**< request or status line, CRLF excluded */
/** Default max_header_bytes: field lines, CRLFs included. */
#define KEEL_HTTP_DEFAULT_MAX_HEADER_BYTES 32768u
/** Default max_chunk_ext: extension bytes of one chunk. */
#define KEEL_HTTP_DEFAULT_MAX_CHUNK_EXT 1024u
/** Default max_trailer_bytes: the trailer section, CRLFs included. */
#define KEEL_HTTP_DEFAULT_MAX_TRAILER_BYTES 8192u
/** The largest value any limit may take. */
#define KEEL_HTTP_LIMIT_CAP 0x40000000u            /**< 1 GiB */

/** The parser's and the chunked decoder's limits (0: the default). */
typedef struct keel_http_limits {
    uint32_t max_start_line;    /**< over it: 414 if the request-target is what is long, else 400/501 */
    uint32_t max_header_bytes;  /**< over it: 431 */
    uint32_t max_chunk_ext;     /**< over it: 400 (chunked decoder) */
    uint32_t max_trailer_bytes; /**< over it: 431 (chunked decoder) */
} keel_http_limits;

/** Leniencies, each off unless its bit is set. */
typedef enum keel_http_lenient {
    /** Accept a bare LF as a line terminator in the start line, the header
     * section and chunk framing (RFC 9112 2.2 "MAY"). A CR is then still
     * only allowed right before the LF. */
    KEEL_HTTP_LENIENT_BARE_LF = 1u << 0,
    /** Accept several Content-Length values (a list, or repeated fields)
     * when they are all the same number, as that number (RFC 9110 8.6
     * "MAY"). Different values are always rejected. */
    KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH = 1u << 1,
    /** Accept an HTTP/1.1 request without a Host field (RFC 9112 3.2 says
     * 400). More than one Host, or an invalid one, is still rejected. */
    KEEL_HTTP_LENIENT_MISSING_HOST = 1u << 2,
    /** Responses: accept a status line without the SP after the status code
     * ("HTTP/1.1 200\r\n"), which some servers send. */
    KEEL_HTTP_LENIENT_NO_REASON_SP = 1u << 3
} keel_http_lenient;

/** A parser's or decoder's configuration: limits and leniencies. */
typedef struct keel_http_config {
    keel_http_limits limits;  /**< 0 fields take the defaults */
    uint32_t lenient;         /**< keel_http_lenient bits; 0 = strict */
} keel_http_config;

/* ---- errors ------------------------------------------------------------ */

/** Why a message was rejected. Values are stable. The status a server should
 * answer is keel_http_reason_status(). */
typedef enum keel_http_reason {
    KEEL_HTTP_OK = 0,
    /** start line */
    KEEL_HTTP_BAD_METHOD,            /**< 400: the method is not a token */
    KEEL_HTTP_METHOD_TOO_LONG,       /**< 501: longer than the start-line limit */
    KEEL_HTTP_BAD_TARGET,            /**< 400: a byte not allowed in a request-target, or bad %-escape */
    KEEL_HTTP_TARGET_TOO_LONG,       /**< 414 */
    KEEL_HTTP_BAD_TARGET_FORM,       /**< 400: authority-form but not CONNECT, '*' but not OPTIONS, CONNECT without authority-form */
    KEEL_HTTP_BAD_VERSION,           /**< 400: not "HTTP/" DIGIT "." DIGIT */
    KEEL_HTTP_UNSUPPORTED_VERSION,   /**< 505: a well-formed version other than 1.0 / 1.1 */
    KEEL_HTTP_BAD_START_LINE,        /**< 400: wrong separators (not exactly one SP), or ends early */
    KEEL_HTTP_START_LINE_TOO_LONG,   /**< 400: the version or reason makes the line too long */
    KEEL_HTTP_BAD_STATUS,            /**< 400 (responses): not 3 digits in 100..599 */
    KEEL_HTTP_BAD_REASON_PHRASE,     /**< 400 (responses): a control character in the reason */
    /** line endings */
    KEEL_HTTP_BARE_CR,               /**< 400: CR not followed by LF (offset: the byte after the CR) */
    KEEL_HTTP_BARE_LF,               /**< 400: LF without CR (KEEL_HTTP_LENIENT_BARE_LF allows it) */
    /** header section */
    KEEL_HTTP_OBS_FOLD,              /**< 400: a field line starting with SP/HTAB (obs-fold, or whitespace after the start line) */
    KEEL_HTTP_BAD_FIELD_NAME,        /**< 400: not a token, empty, or whitespace before ':' */
    KEEL_HTTP_BAD_FIELD_VALUE,       /**< 400: NUL or another control character in a value */
    KEEL_HTTP_TOO_MANY_HEADERS,      /**< 431: more fields than the caller's array holds */
    KEEL_HTTP_HEADERS_TOO_LARGE,     /**< 431 */
    KEEL_HTTP_BAD_CONTENT_LENGTH,    /**< 400: not 1*DIGIT (sign, hex, '_', space inside, empty) */
    KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE, /**< 413: more than UINT64 can hold */
    KEEL_HTTP_DUPLICATE_CONTENT_LENGTH, /**< 400: more than one value (identical ones: see LENIENT_SAME_CONTENT_LENGTH) */
    KEEL_HTTP_BAD_TRANSFER_ENCODING, /**< 400: chunked not last, chunked twice, empty list element, not a token list */
    KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING, /**< 501: a coding other than chunked */
    KEEL_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING, /**< 400 */
    KEEL_HTTP_TRANSFER_ENCODING_IN_HTTP10, /**< 400 */
    KEEL_HTTP_MISSING_HOST,          /**< 400: HTTP/1.1 request without Host */
    KEEL_HTTP_DUPLICATE_HOST,        /**< 400 */
    KEEL_HTTP_BAD_HOST,              /**< 400: not uri-host [":" port] */
    KEEL_HTTP_BAD_CONNECTION,        /**< 400: Connection is not a token list */
    /** chunked coding */
    KEEL_HTTP_BAD_CHUNK_SIZE,        /**< 400: not 1*HEXDIG (0x, +, _, space, empty) */
    KEEL_HTTP_CHUNK_SIZE_TOO_LARGE,  /**< 413: more than UINT64 can hold */
    KEEL_HTTP_BAD_CHUNK_EXT,         /**< 400: extension syntax */
    KEEL_HTTP_CHUNK_EXT_TOO_LARGE,   /**< 400 */
    KEEL_HTTP_BAD_CHUNK_END,         /**< 400: chunk data not followed by CRLF */
    KEEL_HTTP_BAD_TRAILER,           /**< 400: a trailer field line is malformed */
    KEEL_HTTP_TRAILERS_TOO_LARGE,    /**< 431 */
    KEEL_HTTP_REASON_COUNT
} keel_http_reason;

/** Where and why a message was rejected. */
typedef struct keel_http_error {
    size_t offset;            /**< byte offset of the offending byte, from the message's first byte */
    keel_http_reason reason;  /**< why */
    uint16_t status;          /**< what a server answers: keel_http_reason_status(reason) */
} keel_http_error;

/** A short English description ("obs-fold in the header section"); never NULL. */
const char *keel_http_reason_str(keel_http_reason reason);

/** The status a server answers for reason (400, 413, 414, 431, 501, 505);
 * 0 for KEEL_HTTP_OK and values outside the enum. */
uint16_t keel_http_reason_status(keel_http_reason reason);

/* ---- parsed messages --------------------------------------------------- */

/** The methods keel names; others are KEEL_HTTP_OTHER. */
typedef enum keel_http_method {
    KEEL_HTTP_OTHER = 0, /**< any other token: see the method slice */
    KEEL_HTTP_GET,     /**< GET */
    KEEL_HTTP_HEAD,    /**< HEAD */
    KEEL_HTTP_POST,    /**< POST */
    KEEL_HTTP_PUT,     /**< PUT */
    KEEL_HTTP_DELETE,  /**< DELETE */
    KEEL_HTTP_CONNECT, /**< CONNECT */
    KEEL_HTTP_OPTIONS, /**< OPTIONS */
    KEEL_HTTP_TRACE,   /**< TRACE */
    KEEL_HTTP_PATCH    /**< PATCH */
} keel_http_method;

/** The four forms of a request-target (RFC 9112 3.2). */
typedef enum keel_http_target_form {
    KEEL_HTTP_ORIGIN_FORM = 1, /**< "/path?query" */
    KEEL_HTTP_ABSOLUTE_FORM,   /**< "http://host/path?query" */
    KEEL_HTTP_AUTHORITY_FORM,  /**< "host:port" (CONNECT only) */
    KEEL_HTTP_ASTERISK_FORM    /**< "*" (OPTIONS only) */
} keel_http_target_form;

/** How the body of a message is delimited (RFC 9112 6.3). */
typedef enum keel_http_body {
    KEEL_HTTP_BODY_NONE = 0,    /**< no body (requests without CL/TE; HEAD, 1xx, 204, 304 responses...) */
    KEEL_HTTP_BODY_LENGTH,      /**< exactly content_length bytes follow the head */
    KEEL_HTTP_BODY_CHUNKED,     /**< chunked: decode with keel_http_chunked_decode */
    KEEL_HTTP_BODY_UNTIL_CLOSE  /**< responses only: the body runs to the end of the connection */
} keel_http_body;

/** One field line: name and value are slices into the input; the value has
 * no leading or trailing whitespace (it may be empty). The other members
 * are the parser's bookkeeping: do not use them. */
typedef struct keel_http_header {
    keel_slice name;                 /**< the field name, as sent */
    keel_slice value;                /**< the field value, trimmed */
    uint32_t name_off_;              /**< private */
    uint32_t value_off_;             /**< private */
} keel_http_header;

/** What requests and responses share. */
typedef struct keel_http_head {
    uint8_t version_minor;        /**< HTTP/1.x: 0 or 1 */
    keel_http_header *headers;    /**< the caller's array; header_count are filled */
    size_t header_count;          /**< fields filled in headers */
    keel_http_body body;          /**< how the body is delimited */
    uint64_t content_length;      /**< KEEL_HTTP_BODY_LENGTH: the body's length; else 0 */
    bool keep_alive;              /**< the connection may carry another message after this one */
    bool has_upgrade;             /**< an Upgrade field is present (keel does not switch protocols) */
} keel_http_head;

/** A parsed request head. */
typedef struct keel_http_request {
    keel_http_head head;          /**< version, fields, framing */
    keel_slice method;            /**< the method token, as sent */
    keel_http_method method_id;   /**< the method, if keel names it */
    keel_slice target;            /**< the whole request-target */
    keel_http_target_form form;   /**< the target's form */
    keel_slice path;              /**< origin/absolute form: the path (empty when an absolute-form
                                   * target has none: read it as "/"); else empty */
    keel_slice query;             /**< after '?', without it; empty if none */
    keel_slice authority;         /**< absolute and authority form: host[:port] of the target;
                                   * origin and asterisk form: the Host value (empty without Host) */
    bool expect_continue;         /**< Expect: 100-continue */
    bool expect_other;            /**< an Expect value other than 100-continue (a server answers 417) */
} keel_http_request;

/** A parsed response head. */
typedef struct keel_http_response {
    keel_http_head head;          /**< version, fields, framing */
    uint16_t status;              /**< 100..599 */
    keel_slice reason;            /**< the reason phrase (may be empty) */
} keel_http_response;

/* ---- the head parser --------------------------------------------------- */

/** What a parser parses. */
typedef enum keel_http_kind {
    KEEL_HTTP_REQUEST = 1, /**< request heads */
    KEEL_HTTP_RESPONSE     /**< response heads */
} keel_http_kind;

/** The field-line scanner's state (private: shared by header and trailer
 * sections; offsets from the first byte of the input being scanned). */
typedef struct keel_http_fieldscan_ {
    uint32_t state;     /**< where the scan of the line stands */
    size_t name_end;    /**< one past the name */
    size_t value_start; /**< first byte of the value */
    size_t value_end;   /**< one past the value */
} keel_http_fieldscan_;

/** What the parser has learnt so far (private): offsets from the message's
 * first byte, never pointers, so the bytes may move between calls. */
typedef struct keel_http_pstate_ {
    uint32_t state;        /**< where the scan stands */
    uint32_t flags;        /**< framing facts (Content-Length seen, chunked, Host...) */
    size_t pos;            /**< the resume point: bytes checked */
    size_t start;          /**< first byte of the start line (after skipped empty lines) */
    size_t hdr;            /**< first byte of the header section */
    size_t line;           /**< first byte of the current field line */
    size_t method_end;     /**< requests: one past the method */
    size_t target;         /**< requests: first byte of the request-target */
    size_t target_end;     /**< requests: one past it */
    size_t query;          /**< requests: the first '?' of the target (valid with its flag) */
    size_t path;           /**< requests: the path's first byte */
    size_t path_len;       /**< requests: the path's length */
    size_t auth;           /**< requests: the authority's first byte (target or Host value) */
    size_t auth_len;       /**< requests: its length */
    size_t version;        /**< first byte of the HTTP-version */
    size_t count;          /**< field lines stored in the caller's array */
    uint64_t content_length; /**< the Content-Length value */
    uint16_t status;       /**< responses */
    uint8_t vidx;          /**< bytes of the version (or status digits) matched */
    uint8_t major;         /**< HTTP major version */
    uint8_t minor;         /**< HTTP minor version */
    uint8_t method;        /**< keel_http_method */
    uint8_t form;          /**< keel_http_target_form */
    keel_http_fieldscan_ fs; /**< the field-line scanner */
    keel_http_error err;   /**< the sticky error */
} keel_http_pstate_;

/** Parser state: a fixed size, no allocation. kind, cfg (with the defaults
 * filled in), headers and header_cap are what keel_http_parser_init set;
 * st_ is private. */
typedef struct keel_http_parser {
    keel_http_kind kind;        /**< requests or responses */
    keel_http_config cfg;       /**< limits (defaults filled in) and leniencies */
    keel_http_header *headers;  /**< the caller's header array */
    size_t header_cap;          /**< its size: the header count limit */
    keel_http_pstate_ st_;  /**< private */
} keel_http_parser;

/** Set p up for messages of the given kind, with cfg (NULL: the defaults,
 * strict) and the caller's header array (its size is the header count
 * limit; it may be 0, then any field is TOO_MANY_HEADERS). INVALID_ARG for
 * a NULL p, an unknown kind, headers NULL with header_cap > 0, a limit
 * above KEEL_HTTP_LIMIT_CAP, or unknown lenient bits. */
KEEL_MUST_USE keel_result keel_http_parser_init(keel_http_parser *p, keel_http_kind kind,
                                                const keel_http_config *cfg,
                                                keel_http_header *headers, size_t header_cap);

/** Forget the current message (and a sticky error): the next call starts a
 * new message. Not needed after a head was returned with KEEL_OK: the next
 * call starts a new message by itself. Does nothing for NULL. */
void keel_http_parser_reset(keel_http_parser *p);

/** Parse a request head from in, the message's bytes from its first byte
 * (empty lines before a request line are skipped: RFC 9112 2.2).
 *  KEEL_OK: *req is filled and *consumed is the length of the head,
 *    through the empty line that ends it; the body (if any, per
 *    req->head.body) starts at in.ptr + *consumed. The parser is ready for
 *    the next message (offer the bytes after the body).
 *  KEEL_ERR_INCOMPLETE: no complete head yet; offer the same bytes again
 *    with more appended. *consumed = 0, *req unspecified.
 *  KEEL_ERR_PARSE / KEEL_ERR_TOO_LARGE: *err (and keel_http_parser_error)
 *    say where, why and which status to answer. *consumed = 0.
 *  KEEL_ERR_INVALID_ARG: NULL pointers, an invalid slice, a parser not
 *    initialised for requests, or in shorter than what was already checked
 *    (the bytes offered must only grow). Nothing written.
 * err may be NULL. */
KEEL_MUST_USE keel_result keel_http_parse_request(keel_http_parser *p, keel_slice in,
                                                  keel_http_request *req, size_t *consumed,
                                                  keel_http_error *err);

/** Parse a response head, as keel_http_parse_request does. request_method is
 * the method of the request it answers (KEEL_HTTP_HEAD and 2xx answers to
 * KEEL_HTTP_CONNECT have no body). A 1xx response is a complete head with
 * no body: parse the next head after it. A response with neither
 * Content-Length nor chunked is KEEL_HTTP_BODY_UNTIL_CLOSE. */
KEEL_MUST_USE keel_result keel_http_parse_response(keel_http_parser *p, keel_slice in,
                                                   keel_http_method request_method,
                                                   keel_http_response *resp, size_t *consumed,
                                                   keel_http_error *err);

/** The sticky error of p ({0, KEEL_HTTP_OK, 0} if none or p is NULL). */
keel_http_error keel_http_parser_error(const keel_http_parser *p);

/** The first field named name (ASCII case-insensitive) among head's fields:
 * KEEL_OK with *value set, KEEL_ERR_NOT_FOUND, or INVALID_ARG. */
KEEL_MUST_USE keel_result keel_http_header_get(const keel_http_head *head, keel_slice name,
                                               keel_slice *value);

/* ---- chunked transfer coding (RFC 9112 7.1) --------------------------- */

/** Decoder state: fixed size, no allocation. cfg is what
 * keel_http_chunked_init set (defaults filled in); the other fields are
 * private. */
typedef struct keel_http_chunked {
    keel_http_config cfg;  /**< limits (defaults filled in) and leniencies */
    uint32_t state_;       /**< private: where the decoder stands */
    uint64_t remaining_;  /**< data bytes left in the current chunk (the size while it is read) */
    uint64_t count_;      /**< bytes of the current extension or of the trailer section */
    size_t offset_;       /**< bytes of the body consumed so far (for error offsets) */
    keel_http_fieldscan_ fs_;  /**< private: the trailer's field-line scanner */
    keel_http_error err_;      /**< private: the sticky error */
} keel_http_chunked;

/** Set d up (cfg NULL: defaults; its limits max_chunk_ext and
 * max_trailer_bytes and the BARE_LF leniency apply). INVALID_ARG as for
 * keel_http_parser_init. */
KEEL_MUST_USE keel_result keel_http_chunked_init(keel_http_chunked *d, const keel_http_config *cfg);

/** Decode the next piece of a chunked body from in (the body's bytes not
 * consumed yet). Framing (chunk sizes, extensions, CRLFs, trailers) is
 * checked and dropped; data comes out as slices INTO in (zero copy).
 * Writes *consumed (the bytes of in used, framing and data) and *data on
 * every result but INVALID_ARG:
 *  KEEL_OK: *data is the next piece of data (non-empty), or the body is
 *    complete (last chunk and trailer section consumed: *data empty and
 *    keel_http_chunked_done(d)). Call again with in advanced by *consumed.
 *  KEEL_ERR_INCOMPLETE: every byte of in was consumed as framing and more
 *    are needed (*consumed == in.len, *data empty).
 *  KEEL_ERR_PARSE / KEEL_ERR_TOO_LARGE: malformed or over a limit; *err
 *    (may be NULL) says where (offset from the body's first byte) and why.
 *    Sticky.
 * Chunk sizes are 1*HEXDIG with overflow checks: no "0x", sign, '_',
 * whitespace or empty size, never a "longest valid prefix". Extensions are
 * parsed (token [= token / quoted-string]) and bounded; trailer fields are
 * checked like header fields and bounded, then dropped. */
KEEL_MUST_USE keel_result keel_http_chunked_decode(keel_http_chunked *d, keel_slice in,
                                                   keel_slice *data, size_t *consumed,
                                                   keel_http_error *err);

/** Whether d has consumed the whole chunked body (false for NULL). */
bool keel_http_chunked_done(const keel_http_chunked *d);

/** Append one chunk carrying data ("<hex size>\r\n<data>\r\n", the size in
 * lowercase hex) to out, all or nothing. INVALID_ARG for an empty data (an
 * empty chunk would end the body: use keel_http_chunked_encode_last) or
 * invalid arguments, TOO_LARGE if out lacks room. data may be bytes out
 * already holds, but not its spare room (the size line is written first). */
KEEL_MUST_USE keel_result keel_http_chunked_encode(keel_buf *out, keel_slice data);

/** Append the last chunk and an empty trailer section ("0\r\n\r\n"), all or
 * nothing. */
KEEL_MUST_USE keel_result keel_http_chunked_encode_last(keel_buf *out);

/* ---- writing messages (canonical) -------------------------------------- */

/** A field to write: name and value as the caller gives them (checked). */
typedef struct keel_http_field {
    keel_slice name;   /**< a token */
    keel_slice value;  /**< field-vchar, SP and HTAB; no leading or trailing SP/HTAB */
} keel_http_field;

/** How a message being written frames its body; keel writes the one
 * framing field from it (the caller cannot give Content-Length,
 * Transfer-Encoding, Connection or Host fields itself). */
typedef struct keel_http_framing {
    /** KEEL_HTTP_BODY_NONE: no body (a request writes no framing field; a
     *   response that could have a body writes "Content-Length: 0");
     * KEEL_HTTP_BODY_LENGTH: "Content-Length: content_length";
     * KEEL_HTTP_BODY_CHUNKED: "Transfer-Encoding: chunked" (encode the body
     *   with keel_http_chunked_encode / _encode_last);
     * KEEL_HTTP_BODY_UNTIL_CLOSE: responses only: no framing field, the
     *   body runs to the close ("Connection: close" is written). */
    keel_http_body body;
    uint64_t content_length; /**< for KEEL_HTTP_BODY_LENGTH */
    bool close;              /**< write "Connection: close" */
    /** write "Connection: keep-alive" (how a persistent connection is
     * announced to an HTTP/1.0 peer); not with close, nor when the body
     * runs to the close */
    bool keep_alive;
} keel_http_framing;

/** Whether name is a token and value a canonical field value: field-vchar
 * (VCHAR, obs-text), SP and HTAB only, not starting or ending with SP/HTAB
 * (may be empty). No CR, LF, NUL or other control byte. KEEL_OK,
 * KEEL_ERR_PARSE, or INVALID_ARG for invalid slices. */
KEEL_MUST_USE keel_result keel_http_field_check(keel_slice name, keel_slice value);

/** Append a request head to out, all or nothing (on failure out->len is
 * unchanged): "method SP target SP HTTP/1.1", "Host: host", the caller's
 * fields in order, the framing field, "Connection: close" if asked, the
 * empty line. The request line and the Host field must be what keel's
 * strict parser accepts (method a token; target in origin, absolute,
 * authority (CONNECT) or asterisk (OPTIONS) form; host uri-host[:port] or
 * empty), fields as keel_http_field_check says.
 *  KEEL_ERR_PARSE: something the caller gave is not canonical HTTP (a CR,
 *    LF or NUL anywhere is among those: no header can be injected);
 *  KEEL_ERR_INVALID_ARG: NULL out/framing, invalid slices or buf, fields
 *    NULL with field_count > 0, a field keel writes itself, an unknown
 *    framing, UNTIL_CLOSE for a request, bytes given that lie in out's
 *    spare room (they would change while being copied);
 *  KEEL_ERR_TOO_LARGE: out lacks room. */
KEEL_MUST_USE keel_result keel_http_write_request_head(keel_buf *out, keel_slice method,
                                                       keel_slice target, keel_slice host,
                                                       const keel_http_field *fields,
                                                       size_t field_count,
                                                       const keel_http_framing *framing);

/** Append a response head, all or nothing: "HTTP/1.1 SP status SP reason"
 * (an empty reason: keel_http_status_reason(status), which may be empty),
 * the caller's fields, the framing field, "Connection: close" if asked or
 * for UNTIL_CLOSE, the empty line. 1xx, 204 and 304 responses take
 * KEEL_HTTP_BODY_NONE and get no framing field. Results as for
 * keel_http_write_request_head; INVALID_ARG also for a status outside
 * 100..599 or a body framing with 1xx/204/304; PARSE for a reason phrase
 * with a control byte. */
KEEL_MUST_USE keel_result keel_http_write_response_head(keel_buf *out, uint16_t status,
                                                        keel_slice reason,
                                                        const keel_http_field *fields,
                                                        size_t field_count,
                                                        const keel_http_framing *framing);

/** The standard reason phrase of status ("Not Found"), or an empty slice for
 * codes without one. */
keel_slice keel_http_status_reason(uint16_t status);

/** The length of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and the
 * last day (9999-12-31, in days since 1970-01-01) it can say. */
#define KEEL_HTTP_DATE_LEN 29u
#define KEEL_HTTP_DATE_MAX_DAYS 2932896u /**< 9999-12-31 */

/** Append unix_seconds (UTC, since 1970-01-01) as an IMF-fixdate (RFC 9110
 * 5.6.7), for a Date field. INVALID_ARG for NULL/invalid out or a date
 * after 9999-12-31; TOO_LARGE without KEEL_HTTP_DATE_LEN bytes of room. */
KEEL_MUST_USE keel_result keel_http_format_date(uint64_t unix_seconds, keel_buf *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_HTTP_H */

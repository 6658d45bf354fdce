/*
 * src/http/write.c - canonical HTTP/1.1 heads (include/keel/http.h,
 * "writing messages"): what keel's server and client put on the wire.
 *
 * Canonical means: exactly one framing field, written by keel from the
 * framing the caller asks for (the caller cannot add Content-Length,
 * Transfer-Encoding, Connection or Host itself); CRLF line ends; no
 * obs-fold; names that are tokens; values of field-vchar, SP and HTAB
 * only, without surrounding whitespace. A CR, LF or NUL in anything the
 * caller gives is refused, so a caller cannot smuggle a header or a second
 * message into a head.
 *
 * The request line and the Host field are checked by keel's own strict
 * parser (src/http/parse.c): what the writer accepts as a target or a host
 * is exactly what the parser accepts, with no second grammar to drift.
 *
 * Every call is all or nothing on out: on any failure out->len is what it
 * was (bytes past it may have been scribbled on). What the caller gives
 * must not lie in out's spare room (INVALID_ARG): it would change while
 * being copied, after it was checked.
 */
#include "http/http_internal.h"

#include "keel/http.h"
#include "keel/result.h"
#include "keel/slice.h"

/* Literal bytes (tables rather than string literals: WP reads them). */
static const uint8_t write_lit_http11_sp[9] = { 'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ' };
static const uint8_t write_lit_sp_http11_crlf[11] = { ' ', 'H', 'T', 'T', 'P', '/',
                                                      '1', '.', '1', '\r', '\n' };
static const uint8_t write_lit_colon_sp[2] = { ':', ' ' };
static const uint8_t write_lit_crlf[2] = { '\r', '\n' };
static const uint8_t write_lit_host[4] = { 'H', 'o', 's', 't' };
static const uint8_t write_lit_chunked[28] = { 'T', 'r', 'a', 'n', 's', 'f', 'e', 'r', '-', 'E',
                                               'n', 'c', 'o', 'd', 'i', 'n', 'g', ':', ' ', 'c',
                                               'h', 'u', 'n', 'k', 'e', 'd', '\r', '\n' };
static const uint8_t write_lit_length[16] = { 'C', 'o', 'n', 't', 'e', 'n', 't', '-',
                                              'L', 'e', 'n', 'g', 't', 'h', ':', ' ' };
static const uint8_t write_lit_close[19] = { 'C', 'o', 'n', 'n', 'e', 'c', 't', 'i', 'o', 'n',
                                             ':', ' ', 'c', 'l', 'o', 's', 'e', '\r', '\n' };
static const uint8_t write_lit_keep_alive[24] = { 'C', 'o', 'n', 'n', 'e', 'c', 't', 'i',
                                                  'o', 'n', ':', ' ', 'k', 'e', 'e', 'p',
                                                  '-', 'a', 'l', 'i', 'v', 'e', '\r', '\n' };
static const uint8_t write_lit_gmt[4] = { ' ', 'G', 'M', 'T' };
static const uint8_t write_lit_comma_sp[2] = { ',', ' ' };

/* The fields keel writes itself (compared without case). */
static const uint8_t write_name_content_length[14] = { 'c', 'o', 'n', 't', 'e', 'n', 't',
                                                       '-', 'l', 'e', 'n', 'g', 't', 'h' };
static const uint8_t write_name_transfer_encoding[17] = { 't', 'r', 'a', 'n', 's', 'f',
                                                          'e', 'r', '-', 'e', 'n', 'c',
                                                          'o', 'd', 'i', 'n', 'g' };
static const uint8_t write_name_connection[10] = { 'c', 'o', 'n', 'n', 'e',
                                                   'c', 't', 'i', 'o', 'n' };

/* Standard reason phrases (RFC 9110 15), by code. */
typedef struct write_reason {
    uint16_t code;
    uint8_t len;
    uint8_t text[32];
} write_reason;
static const write_reason write_reasons[37] = {
    { 100, 8, "Continue" },
    { 101, 19, "Switching Protocols" },
    { 200, 2, "OK" },
    { 201, 7, "Created" },
    { 202, 8, "Accepted" },
    { 204, 10, "No Content" },
    { 206, 15, "Partial Content" },
    { 301, 17, "Moved Permanently" },
    { 302, 5, "Found" },
    { 303, 9, "See Other" },
    { 304, 12, "Not Modified" },
    { 307, 18, "Temporary Redirect" },
    { 308, 18, "Permanent Redirect" },
    { 400, 11, "Bad Request" },
    { 401, 12, "Unauthorized" },
    { 403, 9, "Forbidden" },
    { 404, 9, "Not Found" },
    { 405, 18, "Method Not Allowed" },
    { 406, 14, "Not Acceptable" },
    { 408, 15, "Request Timeout" },
    { 409, 8, "Conflict" },
    { 410, 4, "Gone" },
    { 411, 15, "Length Required" },
    { 413, 17, "Content Too Large" },
    { 414, 12, "URI Too Long" },
    { 415, 22, "Unsupported Media Type" },
    { 417, 18, "Expectation Failed" },
    { 422, 21, "Unprocessable Content" },
    { 426, 16, "Upgrade Required" },
    { 429, 17, "Too Many Requests" },
    { 431, 31, "Request Header Fields Too Large" },
    { 500, 21, "Internal Server Error" },
    { 501, 15, "Not Implemented" },
    { 502, 11, "Bad Gateway" },
    { 503, 19, "Service Unavailable" },
    { 504, 15, "Gateway Timeout" },
    { 505, 26, "HTTP Version Not Supported" },
};

static const uint8_t write_day_names[7][3] = {
    { 'T', 'h', 'u' }, { 'F', 'r', 'i' }, { 'S', 'a', 't' }, { 'S', 'u', 'n' },
    { 'M', 'o', 'n' }, { 'T', 'u', 'e' }, { 'W', 'e', 'd' },
};
static const uint8_t write_month_names[12][3] = {
    { 'J', 'a', 'n' }, { 'F', 'e', 'b' }, { 'M', 'a', 'r' }, { 'A', 'p', 'r' },
    { 'M', 'a', 'y' }, { 'J', 'u', 'n' }, { 'J', 'u', 'l' }, { 'A', 'u', 'g' },
    { 'S', 'e', 'p' }, { 'O', 'c', 't' }, { 'N', 'o', 'v' }, { 'D', 'e', 'c' },
};

/*@
  predicate write_ows(integer c) = c == ' ' || c == '\t';

  predicate append_result(integer r) =
      r == KEEL_OK || r == KEEL_ERR_INVALID_ARG || r == KEEL_ERR_TOO_LARGE;

  predicate write_result(integer r) =
      r == KEEL_OK || r == KEEL_ERR_INVALID_ARG || r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE;

  // What every appending helper needs: an out buf that is there.
  predicate out_ok{L}(keel_buf *out) = buf_arg(out) && out != \null && buf_shape(*out);

  // What every appending helper promises: only the spare room changed,
  // and the buf is still a buf.
  predicate grew{L1, L2}(keel_buf *out) =
      buf_shape(\at(*out, L2)) && \at(out->len, L1) <= \at(out->len, L2) <= \at(out->cap, L2) &&
      \at(out->cap, L2) == \at(out->cap, L1) && \at(out->ptr, L2) == \at(out->ptr, L1);

  // The caller's fields: the array is there (or empty) and apart from out.
  predicate fields_apart{L}(keel_http_field *fields, integer n, keel_buf *out) =
      (n > 0 ==> \separated(fields + (0 .. n - 1), out)) &&
      (n > 0 && buf_shape(*out) && out->cap > 0 ==>
         \separated(fields + (0 .. n - 1), out->ptr + (0 .. out->cap - 1)));

  predicate fields_arg{L}(keel_http_field *fields, integer n, keel_buf *out) =
      (fields == \null || n == 0 || \valid_read(fields + (0 .. n - 1))) &&
      (fields != \null ==> fields_apart(fields, n, out)) &&
      (fields != \null ==> \forall integer k; 0 <= k < n ==>
         slice_arg(fields[k].name) && slice_arg(fields[k].value));

  predicate fields_ok{L}(keel_http_field *fields, integer n) =
      (n == 0 || \valid_read(fields + (0 .. n - 1))) &&
      \forall integer k; 0 <= k < n ==>
        valid_slice(fields[k].name) && valid_slice(fields[k].value);

  predicate framing_arg{L}(keel_http_framing *f, keel_buf *out) =
      \valid_read(f) && \separated(f, out) &&
      (buf_shape(*out) && out->cap > 0 ==> \separated(f, out->ptr + (0 .. out->cap - 1)));
*/

/*@ assigns \nothing;
    ensures \result <==> write_ows(c);
*/
static bool write_is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Every byte of s has one of the classes in cls (khttp_class bits). */
/*@ requires valid_slice(s);
    assigns \nothing;
*/
static bool write_all_of_class(keel_slice s, uint8_t cls)
{
    /*@ loop invariant 0 <= i <= s.len;
        loop assigns i;
        loop variant s.len - i;
    */
    for (size_t i = 0; i < s.len; i++) {
        if ((khttp_class[s.ptr[i]] & cls) == 0) {
            return false;
        }
    }
    return true;
}

/*@ requires valid_slice(name);
    assigns \nothing;
*/
static bool write_name_ok(keel_slice name)
{
    return name.len > 0 && write_all_of_class(name, KHTTP_TCHAR);
}

/* A field value (or a reason phrase, with edges_may_be_ws): text bytes
 * only; a value neither starts nor ends with whitespace (a reader would
 * trim it, so what was meant and what is read would differ). */
/*@ requires valid_slice(v);
    assigns \nothing;
*/
static bool write_text_ok(keel_slice v, bool edges_may_be_ws)
{
    if (!edges_may_be_ws && v.len > 0 &&
        (write_is_ows(v.ptr[0]) || write_is_ows(v.ptr[v.len - 1]))) {
        return false;
    }
    return write_all_of_class(v, KHTTP_TEXT);
}

/*@ requires slice_arg(name) && slice_arg(value);
    assigns \nothing;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_PARSE;
    ensures !slice_shape(name) || !slice_shape(value) ==> \result == KEEL_ERR_INVALID_ARG;
*/
keel_result keel_http_field_check(keel_slice name, keel_slice value)
{
    if (!keel_slice_valid(name) || !keel_slice_valid(value)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!write_name_ok(name) || !write_text_ok(value, false)) {
        return KEEL_ERR_PARSE;
    }
    return KEEL_OK;
}

/* Whether s's bytes lie outside out's spare room, where the head is
 * written: bytes there would change while they are being copied, after
 * they were checked. */
/*@ requires \valid_read(out) && buf_shape(*out) && slice_shape(s);
    assigns \nothing;
*/
static bool write_outside_spare(const keel_buf *out, keel_slice s)
{
    if (s.len == 0 || out->len == out->cap) {
        return true;
    }
    uintptr_t from = (uintptr_t)s.ptr;
    uintptr_t spare = (uintptr_t)out->ptr + out->len;
    uintptr_t spare_end = (uintptr_t)out->ptr + out->cap;
    return from >= spare_end || from + s.len <= spare;
}

/* The fields keel writes from the framing (and the request's host): a
 * caller may not give them. */
/*@ requires valid_slice(name);
    assigns \nothing;
*/
static bool write_name_is_owned(keel_slice name)
{
    keel_slice cl = { write_name_content_length, sizeof write_name_content_length };
    keel_slice te = { write_name_transfer_encoding, sizeof write_name_transfer_encoding };
    keel_slice conn = { write_name_connection, sizeof write_name_connection };
    keel_slice host = { write_lit_host, sizeof write_lit_host };
    return keel_slice_eq_nocase(name, cl) || keel_slice_eq_nocase(name, te) ||
           keel_slice_eq_nocase(name, conn) || keel_slice_eq_nocase(name, host);
}

/* Check the caller's fields (before anything is written):
 * INVALID_ARG for fields == NULL with n > 0, an invalid slice, bytes in
 * out's spare room or a name keel writes itself; PARSE for a name that is
 * not a token or a value that is not canonical. */
/*@ requires \valid_read(out) && buf_shape(*out);
    requires fields == \null || n == 0 || \valid_read(fields + (0 .. n - 1));
    requires fields != \null ==> \forall integer k; 0 <= k < n ==>
               slice_arg(fields[k].name) && slice_arg(fields[k].value);
    assigns \nothing;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> fields_ok(fields, n);
*/
static KEEL_MUST_USE keel_result write_fields_check(const keel_buf *out,
                                                    const keel_http_field *fields, size_t n)
{
    if (n > 0 && fields == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    /*@ loop invariant 0 <= i <= n;
        loop invariant \forall integer k; 0 <= k < i ==>
                         valid_slice(fields[k].name) && valid_slice(fields[k].value);
        loop assigns i;
        loop variant n - i;
    */
    for (size_t i = 0; i < n; i++) {
        if (!keel_slice_valid(fields[i].name) || !keel_slice_valid(fields[i].value) ||
            !write_outside_spare(out, fields[i].name) ||
            !write_outside_spare(out, fields[i].value) || write_name_is_owned(fields[i].name)) {
            return KEEL_ERR_INVALID_ARG;
        }
        if (!write_name_ok(fields[i].name) || !write_text_ok(fields[i].value, false)) {
            return KEEL_ERR_PARSE;
        }
    }
    return KEEL_OK;
}

/* One byte, through keel_buf_append: its assigns clause is a range from len
 * to cap, which the callers' ranges cover even when the buf is full
 * (keel_buf_append_byte's single location ptr[len] is not inside them
 * then). As every append helper here, it promises the bounds of len only on
 * success: WP does not carry the callee's per-behaviour "assigns \nothing"
 * across a failed call, and the public functions put len back themselves. */
/*@ requires out_ok(out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_byte(keel_buf *out, uint8_t c)
{
    keel_slice one = { &c, 1 };
    return keel_buf_append(out, one);
}

/* Append n bytes of a literal table. */
/*@ requires out_ok(out);
    requires \valid_read(lit + (0 .. n - 1)) && 0 < n <= 32;
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_lit(keel_buf *out, const uint8_t *lit, size_t n)
{
    keel_slice s = { lit, n };
    return keel_buf_append(out, s);
}

/* "name: value\r\n" */
/*@ requires out_ok(out);
    requires valid_slice(name) && valid_slice(value);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_field_line(keel_buf *out, keel_slice name,
                                                  keel_slice value)
{
    KEEL_TRY(keel_buf_append(out, name));
    KEEL_TRY(write_lit(out, write_lit_colon_sp, sizeof write_lit_colon_sp));
    KEEL_TRY(keel_buf_append(out, value));
    return write_lit(out, write_lit_crlf, sizeof write_lit_crlf);
}

/* The framing fields and the empty line. */
/*@ requires out_ok(out);
    requires framing_arg(framing, out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_framing_and_end(keel_buf *out,
                                                       const keel_http_framing *framing,
                                                       bool length_field)
{
    if (framing->body == KEEL_HTTP_BODY_CHUNKED) {
        KEEL_TRY(write_lit(out, write_lit_chunked, sizeof write_lit_chunked));
    } else if (length_field) {
        KEEL_TRY(write_lit(out, write_lit_length, sizeof write_lit_length));
        KEEL_TRY(keel_buf_append_u64_dec(out, framing->content_length));
        KEEL_TRY(write_lit(out, write_lit_crlf, sizeof write_lit_crlf));
    }
    if (framing->close) {
        KEEL_TRY(write_lit(out, write_lit_close, sizeof write_lit_close));
    } else if (framing->keep_alive) {
        KEEL_TRY(write_lit(out, write_lit_keep_alive, sizeof write_lit_keep_alive));
    }
    return write_lit(out, write_lit_crlf, sizeof write_lit_crlf);
}

/* The caller's fields, then the framing, then the empty line. */
/*@ requires out_ok(out);
    requires fields_ok(fields, n) && fields_apart(fields, n, out);
    requires framing_arg(framing, out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_fields_and_end(keel_buf *out, const keel_http_field *fields,
                                                      size_t n, const keel_http_framing *framing,
                                                      bool length_field)
{
    /*@ loop invariant 0 <= i <= n;
        loop invariant grew{Pre, Here}(out);
        loop assigns i, out->len, out->ptr[\at(out->len, Pre) .. out->cap - 1];
        loop variant n - i;
    */
    for (size_t i = 0; i < n; i++) {
        KEEL_TRY(write_field_line(out, fields[i].name, fields[i].value));
    }
    return write_framing_and_end(out, framing, length_field);
}

/* The request line and the Host field as the strict parser reads them:
 * out's bytes [start, len) followed by the empty line must parse as a
 * request head with exactly one field and no body. Leaves out->len as it
 * found it. */
/*@ requires out_ok(out) && start <= out->len;
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures out->len == \old(out->len) && write_result(\result);
*/
static KEEL_MUST_USE keel_result write_request_prefix_check(keel_buf *out, size_t start)
{
    size_t len = out->len;
    if (out->cap - len < sizeof write_lit_crlf) {
        return KEEL_ERR_TOO_LARGE;
    }
    out->ptr[len] = '\r';
    out->ptr[len + 1] = '\n';
    keel_http_header host[1];
    keel_http_parser p;
    keel_http_request req;
    size_t used = 0;
    keel_result r = keel_http_parser_init(&p, KEEL_HTTP_REQUEST, NULL, host, 1);
    if (r == KEEL_OK) {
        keel_slice head = { out->ptr + start, len + 2 - start };
        r = keel_http_parse_request(&p, head, &req, &used, NULL);
        if (r == KEEL_OK && (used != head.len || req.head.header_count != 1 ||
                             req.head.body != KEEL_HTTP_BODY_NONE)) {
            r = KEEL_ERR_PARSE;
        }
    }
    /* The parser wrote only its locals; the CRLF after len is spare room
     * again (the length is stored once more so that the contract's "leaves
     * out->len" needs no frame through the parser's calls). */
    out->len = len;
    /* anything the parser refuses is a target or host that is not
     * canonical (the caller checked everything else before) */
    return r == KEEL_OK ? KEEL_OK : KEEL_ERR_PARSE;
}

/*@ requires \valid_read(framing);
    assigns \nothing;
*/
static bool write_framing_valid(const keel_http_framing *framing, bool response)
{
    switch (framing->body) {
    case KEEL_HTTP_BODY_NONE:
    case KEEL_HTTP_BODY_LENGTH:
    case KEEL_HTTP_BODY_CHUNKED:
        return true;
    case KEEL_HTTP_BODY_UNTIL_CLOSE:
        return response;
    default:
        return false;
    }
}

/* "method SP target SP HTTP/1.1\r\nHost: host\r\n" */
/*@ requires out_ok(out);
    requires valid_slice(method) && valid_slice(target) && valid_slice(host);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_request_line(keel_buf *out, keel_slice method,
                                                    keel_slice target, keel_slice host)
{
    KEEL_TRY(keel_buf_append(out, method));
    KEEL_TRY(write_byte(out, ' '));
    KEEL_TRY(keel_buf_append(out, target));
    KEEL_TRY(write_lit(out, write_lit_sp_http11_crlf, sizeof write_lit_sp_http11_crlf));
    keel_slice name = { write_lit_host, sizeof write_lit_host };
    return write_field_line(out, name, host);
}

/* The whole request head once the caller's parts are checked. */
/*@ requires out_ok(out);
    requires valid_slice(method) && valid_slice(target) && valid_slice(host);
    requires fields_ok(fields, n) && fields_apart(fields, n, out);
    requires framing_arg(framing, out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures write_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_request_all(keel_buf *out, keel_slice method,
                                                   keel_slice target, keel_slice host,
                                                   const keel_http_field *fields, size_t n,
                                                   const keel_http_framing *framing)
{
    size_t start = out->len;
    KEEL_TRY(write_request_line(out, method, target, host));
    KEEL_TRY(write_request_prefix_check(out, start));
    /* A request without a body says nothing about one (RFC 9110 8.6: no
     * Content-Length when there is no content to frame). */
    return write_fields_and_end(out, fields, n, framing, framing->body == KEEL_HTTP_BODY_LENGTH);
}

/* On failure, out->len back to start (a failed append may have moved it:
 * WP is told nothing about len after a failure, and needs nothing). */
/*@ requires \valid(out) && start <= out->cap && addr_range_ok(out->ptr, out->cap);
    requires r == KEEL_OK ==> buf_shape(*out);
    assigns out->len;
    ensures r != KEEL_OK ==> out->len == start;
    ensures r == KEEL_OK ==> out->len == \old(out->len);
    ensures buf_shape(*out);
    ensures \result == r;
*/
static keel_result write_settle(keel_buf *out, size_t start, keel_result r)
{
    if (r != KEEL_OK) {
        out->len = start;
    }
    return r;
}

/*@ requires buf_arg(out) && slice_arg(method) && slice_arg(target) && slice_arg(host);
    requires framing == \null || \valid_read(framing);
    requires out != \null && framing != \null ==> framing_arg(framing, out);
    requires out != \null ==> fields_arg(fields, field_count, out);
    assigns out->len, out->ptr[0 .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures out != \null && \result != KEEL_OK ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==> grew{Pre, Post}(out);
*/
keel_result keel_http_write_request_head(keel_buf *out, keel_slice method, keel_slice target,
                                         keel_slice host, const keel_http_field *fields,
                                         size_t field_count, const keel_http_framing *framing)
{
    if (out == NULL || framing == NULL || !keel_buf_valid(out) || !keel_slice_valid(method) ||
        !keel_slice_valid(target) || !keel_slice_valid(host) ||
        !write_framing_valid(framing, false)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!write_outside_spare(out, method) || !write_outside_spare(out, target) ||
        !write_outside_spare(out, host)) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(write_fields_check(out, fields, field_count));
    if (!write_name_ok(method) || !write_text_ok(host, false)) {
        return KEEL_ERR_PARSE;
    }
    size_t start = out->len;
    keel_result r = write_request_all(out, method, target, host, fields, field_count, framing);
    return write_settle(out, start, r);
}

/* Responses that never carry a body or a Content-Length (RFC 9110 8.6,
 * 15.2, 15.3.5; 304 keeps no framing field either: its Content-Length
 * would describe another representation). */
/*@ assigns \nothing;
    ensures \result <==> (status < 200 || status == 204 || status == 304);
*/
static bool write_status_has_no_body(uint16_t status)
{
    return status < 200 || status == 204 || status == 304;
}

/*@ requires 100 <= v <= 999;
    requires out_ok(out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_status_code(keel_buf *out, uint16_t v)
{
    KEEL_TRY(write_byte(out, (uint8_t)('0' + v / 100u)));
    KEEL_TRY(write_byte(out, (uint8_t)('0' + (v / 10u) % 10u)));
    return write_byte(out, (uint8_t)('0' + v % 10u));
}

/* "HTTP/1.1 SP status SP reason\r\n", the fields, the framing, the end. */
/*@ requires out_ok(out);
    requires 100 <= status <= 599 && valid_slice(reason);
    requires fields_ok(fields, n) && fields_apart(fields, n, out);
    requires framing_arg(framing, out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_response_all(keel_buf *out, uint16_t status,
                                                    keel_slice reason,
                                                    const keel_http_field *fields, size_t n,
                                                    const keel_http_framing *framing,
                                                    bool length_field)
{
    KEEL_TRY(write_lit(out, write_lit_http11_sp, sizeof write_lit_http11_sp));
    KEEL_TRY(write_status_code(out, status));
    KEEL_TRY(write_byte(out, ' '));
    KEEL_TRY(keel_buf_append(out, reason));
    KEEL_TRY(write_lit(out, write_lit_crlf, sizeof write_lit_crlf));
    return write_fields_and_end(out, fields, n, framing, length_field);
}

/*@ assigns \nothing;
    ensures valid_slice(\result);
*/
keel_slice keel_http_status_reason(uint16_t status)
{
    /*@ loop invariant 0 <= k <= 37;
        loop assigns k;
        loop variant 37 - k;
    */
    for (size_t k = 0; k < 37; k++) {
        if (write_reasons[k].code == status) {
            size_t len = write_reasons[k].len;
            if (len > sizeof write_reasons[k].text) {
                len = sizeof write_reasons[k].text; /* cannot happen: a constant table */
            }
            keel_slice s = { write_reasons[k].text, len };
            return s;
        }
    }
    return keel_slice_empty();
}

/*@ requires buf_arg(out) && slice_arg(reason);
    requires framing == \null || \valid_read(framing);
    requires out != \null && framing != \null ==> framing_arg(framing, out);
    requires out != \null ==> fields_arg(fields, field_count, out);
    assigns out->len, out->ptr[0 .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures out != \null && \result != KEEL_OK ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==> grew{Pre, Post}(out);
*/
keel_result keel_http_write_response_head(keel_buf *out, uint16_t status, keel_slice reason,
                                          const keel_http_field *fields, size_t field_count,
                                          const keel_http_framing *framing)
{
    if (out == NULL || framing == NULL || !keel_buf_valid(out) || !keel_slice_valid(reason) ||
        status < 100 || status > 599 || !write_framing_valid(framing, true)) {
        return KEEL_ERR_INVALID_ARG;
    }
    bool no_body = write_status_has_no_body(status);
    if (no_body && framing->body != KEEL_HTTP_BODY_NONE) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!write_outside_spare(out, reason)) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(write_fields_check(out, fields, field_count));
    if (!write_text_ok(reason, true)) {
        return KEEL_ERR_PARSE;
    }
    if (reason.len == 0) {
        reason = keel_http_status_reason(status);
    }
    keel_http_framing f = *framing;
    if (f.body == KEEL_HTTP_BODY_UNTIL_CLOSE) {
        f.close = true;
    }
    /* Without a body, a response that may have one says so with
     * Content-Length: 0, or the client would read to the close. */
    bool length_field = !no_body &&
                        (f.body == KEEL_HTTP_BODY_LENGTH || f.body == KEEL_HTTP_BODY_NONE);
    if (f.body == KEEL_HTTP_BODY_NONE) {
        f.content_length = 0;
    }
    size_t start = out->len;
    keel_result r = write_response_all(out, status, reason, fields, field_count, &f, length_field);
    return write_settle(out, start, r);
}

/* ---- dates (RFC 9110 5.6.7: IMF-fixdate) -------------------------------- */

/*@ requires out_ok(out);
    requires v <= 99;
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_two_digits(keel_buf *out, uint32_t v)
{
    KEEL_TRY(write_byte(out, (uint8_t)('0' + v / 10u)));
    return write_byte(out, (uint8_t)('0' + v % 10u));
}

/* The civil date of a day count since 1970-01-01 (proleptic Gregorian;
 * eras of 400 years = 146,097 days, years counted from March so that the
 * leap day is the last of the year). */
/*@ requires days <= KEEL_HTTP_DATE_MAX_DAYS;
    requires \valid(year) && \valid(month) && \valid(mday);
    requires \separated(year, month, mday);
    assigns *year, *month, *mday;
    ensures 1 <= *month <= 12 && 1 <= *mday <= 31 && 1970 <= *year <= 9999;
*/
static void write_civil_from_days(uint64_t days, uint32_t *year, uint32_t *month, uint32_t *mday)
{
    uint64_t z = days + 719468u;             /* days since 0000-03-01 */
    uint64_t era = z / 146097u;
    uint64_t doe = z - era * 146097u;        /* day of the era, [0, 146096] */
    uint64_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u; /* [0, 399] */
    uint64_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u); /* [0, 365] */
    uint64_t mp = (5u * doy + 2u) / 153u;    /* [0, 11], March = 0 */
    uint64_t d = doy - (153u * mp + 2u) / 5u + 1u;
    uint64_t m = mp < 10u ? mp + 3u : mp - 9u;
    uint64_t y = yoe + era * 400u + (m <= 2u ? 1u : 0u);
    *year = (uint32_t)y;
    *month = (uint32_t)m;
    *mday = (uint32_t)d;
}

/* "Www, DD Mmm YYYY HH:MM:SS GMT" */
/*@ requires out_ok(out);
    requires \valid_read(wd + (0 .. 2)) && \valid_read(mn + (0 .. 2));
    requires 1 <= mday <= 31 && year <= 9999 && secs < 86400;
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures append_result(\result) && (\result == KEEL_OK ==> grew{Pre, Post}(out));
*/
static KEEL_MUST_USE keel_result write_date_parts(keel_buf *out, const uint8_t *wd, uint32_t mday,
                                                  const uint8_t *mn, uint32_t year, uint32_t secs)
{
    KEEL_TRY(write_lit(out, wd, 3));
    KEEL_TRY(write_lit(out, write_lit_comma_sp, sizeof write_lit_comma_sp));
    KEEL_TRY(write_two_digits(out, mday));
    KEEL_TRY(write_byte(out, ' '));
    KEEL_TRY(write_lit(out, mn, 3));
    KEEL_TRY(write_byte(out, ' '));
    KEEL_TRY(write_two_digits(out, year / 100u));
    KEEL_TRY(write_two_digits(out, year % 100u));
    KEEL_TRY(write_byte(out, ' '));
    KEEL_TRY(write_two_digits(out, secs / 3600u));
    KEEL_TRY(write_byte(out, ':'));
    KEEL_TRY(write_two_digits(out, (secs / 60u) % 60u));
    KEEL_TRY(write_byte(out, ':'));
    KEEL_TRY(write_two_digits(out, secs % 60u));
    return write_lit(out, write_lit_gmt, sizeof write_lit_gmt);
}

/*@ requires buf_arg(out);
    assigns out->len, out->ptr[0 .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_TOO_LARGE;
    ensures out != \null && \result != KEEL_OK ==> out->len == \old(out->len);
*/
keel_result keel_http_format_date(uint64_t unix_seconds, keel_buf *out)
{
    if (out == NULL || !keel_buf_valid(out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    uint64_t days = unix_seconds / 86400u;
    if (days > KEEL_HTTP_DATE_MAX_DAYS) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (keel_buf_spare(out) < KEEL_HTTP_DATE_LEN) {
        return KEEL_ERR_TOO_LARGE;
    }
    uint32_t year = 1970, month = 1, mday = 1;
    write_civil_from_days(days, &year, &month, &mday);
    size_t start = out->len;
    keel_result r = write_date_parts(out, write_day_names[days % 7u], mday,
                                     write_month_names[month - 1u], year,
                                     (uint32_t)(unix_seconds % 86400u));
    return write_settle(out, start, r);
}

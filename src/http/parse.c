/*
 * src/http/parse.c - the HTTP/1.1 head parser (requests and responses; see
 * include/keel/http.h and docs/http-profile.md), and what it shares with the
 * chunked decoder (src/http/http_internal.h): the byte classes, the reason
 * table, the field-line scanner.
 *
 * A byte-driven state machine. The parser is offered the message from its
 * first byte again and again; p->st_.pos is how far it has checked, and
 * every decision depends only on the state and the bytes, never on where a
 * call ended: the same bytes in any split give the same result. Each state
 * handler consumes at least one byte (or fails), with a tight loop over a
 * run of bytes of one class (table lookups) and the state dispatch only at
 * the byte that ends the run. A request line's handlers go on from one to
 * the next while bytes remain, so a request line in view costs one dispatch,
 * not one per state.
 *
 * Nothing is kept as a pointer across calls: marks are offsets from the
 * message's first byte, field lines are stored as offsets and lengths in
 * the caller's array and become slices of the final input when the head is
 * complete (each offset checked against in.len again then). Framing facts
 * (Content-Length, Transfer-Encoding, Host, Connection, Expect, Upgrade) are
 * worked out when each field line completes.
 */
#include "http/http_internal.h"

#include "core/word.h"
#include "keel/http.h"
#include "keel/result.h"
#include "keel/slice.h"

/* Parser states (p->st_.state). */
#define ST_SKIP 0u        /* requests: empty lines before the request line */
#define ST_SKIP_LF 1u     /* the CR of such an empty line */
#define ST_METHOD 2u
#define ST_TARGET 3u
#define ST_PCT1 4u        /* the first hex digit of a %-escape in the target */
#define ST_PCT2 5u        /* its second */
#define ST_VERSION 6u     /* vidx bytes of "HTTP/x.y" matched */
#define ST_VERSION_END 7u /* after the version: CRLF (requests) or SP (responses) */
#define ST_STATUS 8u      /* responses: vidx digits of the status matched */
#define ST_REASON 9u
#define ST_LINE_LF 10u    /* the CR that ends the start line */
#define ST_FIELDS 11u     /* the header section */
#define ST_DONE 12u       /* the head is complete */
#define ST_ERROR 13u      /* sticky: st_.err says why */

/* Framing facts (p->st_.flags). */
#define F_QUERY 0x001u        /* the target has a '?' (st_.query) */
#define F_CL 0x002u           /* Content-Length seen (st_.content_length) */
#define F_TE 0x004u           /* Transfer-Encoding seen: chunked, last */
#define F_HOST 0x008u         /* Host seen (st_.auth for origin/asterisk form) */
#define F_CLOSE 0x010u        /* Connection: close */
#define F_KEEP 0x020u         /* Connection: keep-alive */
#define F_EXPECT_CONT 0x040u  /* Expect: 100-continue */
#define F_EXPECT_OTHER 0x080u /* another expectation */
#define F_UPGRADE 0x100u      /* Upgrade present */

/* Field names whose values frame the message (parse_field_id). */
#define FIELD_OTHER 0u
#define FIELD_CONTENT_LENGTH 1u
#define FIELD_TRANSFER_ENCODING 2u
#define FIELD_HOST 3u
#define FIELD_CONNECTION 4u
#define FIELD_EXPECT 5u
#define FIELD_UPGRADE 6u

/*@
  predicate kind_ok(integer k) = k == KEEL_HTTP_REQUEST || k == KEEL_HTTP_RESPONSE;

  // What keel_http_parser's C check (parse_shape_ok) accepts.
  predicate parser_shape{L}(keel_http_parser *p) =
      kind_ok(p->kind) && (p->headers == \null ==> p->header_cap == 0) &&
      p->st_.count <= p->header_cap && p->st_.state <= ST_ERROR &&
      p->st_.fs.state <= KHTTP_FL_EMPTY;

  // What C cannot check: the caller's header array is there, apart from p.
  // (For header_cap == 0 the range is empty: both hold.)
  predicate parser_mem{L}(keel_http_parser *p) =
      \valid(p->headers + (0 .. p->header_cap - 1)) &&
      \separated(p, p->headers + (0 .. p->header_cap - 1));

  predicate parser_arg{L}(keel_http_parser *p) =
      p == \null || (\valid(p) && (parser_shape(p) ==> parser_mem(p)));

  // During a run: a sound parser over a valid input it has not overtaken.
  predicate run_ok{L}(keel_http_parser *p, keel_slice in) =
      \valid(p) && parser_shape(p) && valid_slice(in) && p->st_.pos <= in.len;

  // The caller's header array, passed by value (hs, cap) to what writes it:
  // the array's bounds are then no memory read that a write could change.
  predicate hdrs_ok{L}(keel_http_parser *p, keel_http_header *hs, size_t cap) =
      hs == p->headers && cap == p->header_cap &&
      \valid(hs + (0 .. cap - 1)) && \separated(p, hs + (0 .. cap - 1));

  predicate is_tchar(integer c) = (khttp_class[c] & KHTTP_TCHAR) != 0;

  // The reasons a field line can be rejected for.
  predicate line_reason(integer r) =
      r == KEEL_HTTP_OK || r == KEEL_HTTP_BARE_CR || r == KEEL_HTTP_BARE_LF ||
      r == KEEL_HTTP_OBS_FOLD || r == KEEL_HTTP_BAD_FIELD_NAME || r == KEEL_HTTP_BAD_FIELD_VALUE;

  // A slice that lies inside in (or is empty).
  predicate within(keel_slice s, keel_slice in) =
      s.len == 0 ||
      (\exists integer off; 0 <= off && off + s.len <= in.len && s.ptr == in.ptr + off);

  // The first n field lines of hs are slices of in.
  predicate heads_within{L}(keel_http_header *hs, integer n, keel_slice in) =
      \forall integer k; 0 <= k < n ==>
        within(hs[k].name, in) && within(hs[k].value, in) &&
        valid_slice(hs[k].name) && valid_slice(hs[k].value);
*/

/* ---- byte classes and reasons -------------------------------------------- */

const uint8_t khttp_class[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 */
    0x40, 0x57, 0x42, 0x43, 0x57, 0x43, 0x57, 0x57, 0x56, 0x56, 0x57, 0x57, 0x56, 0x57, 0x57, 0x46, /* 0x20 */
    0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x46, 0x56, 0x42, 0x56, 0x42, 0x42, /* 0x30 */
    0x46, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, /* 0x40 */
    0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x46, 0x42, 0x46, 0x43, 0x57, /* 0x50 */
    0x43, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, /* 0x60 */
    0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x42, 0x43, 0x42, 0x57, 0x00, /* 0x70 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0x80 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0x90 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xA0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xB0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xC0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xD0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xE0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xF0 */
};

/*@ assigns \nothing;
    ensures \result == reason_result(why);
*/
keel_result khttp_reason_result(keel_http_reason why)
{
    switch (why) {
    case KEEL_HTTP_METHOD_TOO_LONG:
    case KEEL_HTTP_TARGET_TOO_LONG:
    case KEEL_HTTP_START_LINE_TOO_LONG:
    case KEEL_HTTP_TOO_MANY_HEADERS:
    case KEEL_HTTP_HEADERS_TOO_LARGE:
    case KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE:
    case KEEL_HTTP_CHUNK_SIZE_TOO_LARGE:
    case KEEL_HTTP_CHUNK_EXT_TOO_LARGE:
    case KEEL_HTTP_TRAILERS_TOO_LARGE:
        return KEEL_ERR_TOO_LARGE;
    default:
        return KEEL_ERR_PARSE;
    }
}

/*@ assigns \nothing;
    ensures \result != \null;
*/
const char *keel_http_reason_str(keel_http_reason reason)
{
    switch (reason) {
    case KEEL_HTTP_OK:
        return "no error";
    case KEEL_HTTP_BAD_METHOD:
        return "the method is not a token";
    case KEEL_HTTP_METHOD_TOO_LONG:
        return "the method is longer than the start-line limit";
    case KEEL_HTTP_BAD_TARGET:
        return "a byte not allowed in the request-target";
    case KEEL_HTTP_TARGET_TOO_LONG:
        return "the request-target is longer than the start-line limit";
    case KEEL_HTTP_BAD_TARGET_FORM:
        return "the request-target's form does not fit the method";
    case KEEL_HTTP_BAD_VERSION:
        return "malformed HTTP version";
    case KEEL_HTTP_UNSUPPORTED_VERSION:
        return "HTTP version not supported";
    case KEEL_HTTP_BAD_START_LINE:
        return "malformed start line (separators)";
    case KEEL_HTTP_START_LINE_TOO_LONG:
        return "the start line is longer than its limit";
    case KEEL_HTTP_BAD_STATUS:
        return "the status code is not three digits in 100..599";
    case KEEL_HTTP_BAD_REASON_PHRASE:
        return "a control character in the reason phrase";
    case KEEL_HTTP_BARE_CR:
        return "CR not followed by LF";
    case KEEL_HTTP_BARE_LF:
        return "LF without CR";
    case KEEL_HTTP_OBS_FOLD:
        return "a field line starts with whitespace (obs-fold)";
    case KEEL_HTTP_BAD_FIELD_NAME:
        return "malformed field name";
    case KEEL_HTTP_BAD_FIELD_VALUE:
        return "a control character in a field value";
    case KEEL_HTTP_TOO_MANY_HEADERS:
        return "more header fields than allowed";
    case KEEL_HTTP_HEADERS_TOO_LARGE:
        return "the header section is larger than its limit";
    case KEEL_HTTP_BAD_CONTENT_LENGTH:
        return "Content-Length is not a decimal number";
    case KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE:
        return "Content-Length is too large";
    case KEEL_HTTP_DUPLICATE_CONTENT_LENGTH:
        return "more than one Content-Length value";
    case KEEL_HTTP_BAD_TRANSFER_ENCODING:
        return "malformed Transfer-Encoding (chunked must be last, once)";
    case KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING:
        return "a transfer coding other than chunked";
    case KEEL_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING:
        return "both Content-Length and Transfer-Encoding";
    case KEEL_HTTP_TRANSFER_ENCODING_IN_HTTP10:
        return "Transfer-Encoding in an HTTP/1.0 message";
    case KEEL_HTTP_MISSING_HOST:
        return "HTTP/1.1 request without Host";
    case KEEL_HTTP_DUPLICATE_HOST:
        return "more than one Host";
    case KEEL_HTTP_BAD_HOST:
        return "Host is not uri-host[:port]";
    case KEEL_HTTP_BAD_CONNECTION:
        return "Connection is not a list of tokens";
    case KEEL_HTTP_BAD_CHUNK_SIZE:
        return "malformed chunk size";
    case KEEL_HTTP_CHUNK_SIZE_TOO_LARGE:
        return "chunk size too large";
    case KEEL_HTTP_BAD_CHUNK_EXT:
        return "malformed chunk extension";
    case KEEL_HTTP_CHUNK_EXT_TOO_LARGE:
        return "chunk extension longer than its limit";
    case KEEL_HTTP_BAD_CHUNK_END:
        return "chunk data not followed by CRLF";
    case KEEL_HTTP_BAD_TRAILER:
        return "malformed trailer field";
    case KEEL_HTTP_TRAILERS_TOO_LARGE:
        return "the trailer section is larger than its limit";
    default:
        return "unknown HTTP error";
    }
}

/*@ assigns \nothing;
    ensures reason == KEEL_HTTP_OK ==> \result == 0;
    ensures \result == 0 || \result == 400 || \result == 413 || \result == 414 ||
            \result == 431 || \result == 501 || \result == 505;
*/
uint16_t keel_http_reason_status(keel_http_reason reason)
{
    switch (reason) {
    case KEEL_HTTP_OK:
        return 0;
    case KEEL_HTTP_METHOD_TOO_LONG:
    case KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING:
        return 501;
    case KEEL_HTTP_TARGET_TOO_LONG:
        return 414;
    case KEEL_HTTP_UNSUPPORTED_VERSION:
        return 505;
    case KEEL_HTTP_TOO_MANY_HEADERS:
    case KEEL_HTTP_HEADERS_TOO_LARGE:
    case KEEL_HTTP_TRAILERS_TOO_LARGE:
        return 431;
    case KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE:
    case KEEL_HTTP_CHUNK_SIZE_TOO_LARGE:
        return 413;
    default:
        if ((int)reason > (int)KEEL_HTTP_OK && (int)reason < (int)KEEL_HTTP_REASON_COUNT) {
            return 400;
        }
        return 0;
    }
}

/* ---- the field-line scanner (http_internal.h) ---------------------------- */

/*@ requires \valid(e);
    assigns *e;
    ensures e->offset == off && e->reason == why;
    ensures \result == reason_result(why);
*/
keel_result khttp_error(keel_http_error *e, size_t off, keel_http_reason why)
{
    e->offset = off;
    e->reason = why;
    e->status = keel_http_reason_status(why);
    return khttp_reason_result(why);
}

/* End of the run of bytes of class cls from i (bounded by end): four
 * bytes per bounds check while four remain, then byte by byte. Field
 * names, methods, targets and Host values all go through it; inlined, each
 * caller tests its own class as a constant (bench/README.md: one call for
 * all four cost more than the byte loops it replaced). */
/*@ requires valid_slice(in) && i <= end <= in.len;
    assigns \nothing;
    ensures i <= \result <= end;
    ensures \result < end ==> (khttp_class[in.ptr[\result]] & cls) == 0;
*/
__attribute__((always_inline)) static inline size_t parse_run_of(keel_slice in, size_t i,
                                                                 size_t end, uint8_t cls)
{
    size_t k = i;
    /*@ loop invariant i <= k <= end;
        loop assigns k;
        loop variant end - k;
    */
    while (end - k >= 4u) {
        if ((khttp_class[in.ptr[k]] & cls) == 0) {
            return k;
        }
        if ((khttp_class[in.ptr[k + 1u]] & cls) == 0) {
            return k + 1u;
        }
        if ((khttp_class[in.ptr[k + 2u]] & cls) == 0) {
            return k + 2u;
        }
        if ((khttp_class[in.ptr[k + 3u]] & cls) == 0) {
            return k + 3u;
        }
        k += 4u;
    }
    /*@ loop invariant i <= k <= end;
        loop assigns k;
        loop variant end - k;
    */
    while (k < end && (khttp_class[in.ptr[k]] & cls) != 0) {
        k++;
    }
    return k;
}

/* End of the run of SP/HTAB from i (bounded by end). */
/*@ requires valid_slice(in) && i <= end <= in.len;
    assigns \nothing;
    ensures i <= \result <= end;
    ensures \result < end ==> in.ptr[\result] != ' ' && in.ptr[\result] != '\t';
*/
static size_t parse_ws_end(keel_slice in, size_t i, size_t end)
{
    size_t k = i;
    /*@ loop invariant i <= k <= end;
        loop assigns k;
        loop variant end - k;
    */
    while (k < end && (in.ptr[k] == ' ' || in.ptr[k] == '\t')) {
        k++;
    }
    return k;
}

/* From i, past the runs of sixteen bytes, then of eight, that hold no byte
 * below 0x20 and none 0x7F (src/core/word.h: kword16_ctl, SSE2 on x86-64,
 * and kword_ctl), to the first such byte, or to where fewer than eight
 * bytes remain before end. (It was kept out of
 * line while every field line came through the state machine, for the
 * trickled case; now that whole lines are read in one pass, inlined costs
 * fewer instructions in both, bench/README.md.) */
/*@ requires valid_slice(in) && i <= end <= in.len;
    assigns \nothing;
    ensures i <= \result <= end;
*/
static size_t parse_text_words(keel_slice in, size_t i, size_t end)
{
    size_t k = i;
    /*@ loop invariant i <= k <= end;
        loop assigns k;
        loop variant end - k;
    */
    while (end - k >= 16u) {
        uint32_t m = kword16_ctl(in, k);
        if (m != 0) {
            return k + kword16_first(m);
        }
        k += 16u;
    }
    /*@ loop invariant i <= k <= end;
        loop assigns k;
        loop variant end - k;
    */
    while (end - k >= 8u) {
        uint64_t w = kword_load(in, k);
        uint64_t m = kword_ctl(w);
        if (m != 0) {
            return k + kword_first(m);
        }
        k += 8u;
    }
    return k;
}

/* End of the run of field-value bytes (VCHAR, obs-text, SP, HTAB: class
 * KHTTP_TEXT) from i, bounded by end: eight bytes at a time while eight
 * remain (parse_text_words), and each byte where that stops classified
 * here (HTAB is a value byte: the scan goes on after it). */
/*@ requires valid_slice(in) && i <= end <= in.len;
    assigns \nothing;
    ensures i <= \result <= end;
    ensures \result < end ==> (khttp_class[in.ptr[\result]] & KHTTP_TEXT) == 0;
*/
static size_t parse_text_run(keel_slice in, size_t i, size_t end)
{
    size_t k = i;
    /*@ loop invariant i <= k <= end;
        loop assigns k;
        loop variant end - k;
    */
    while (k < end) {
        if (end - k >= 8u) {
            k = parse_text_words(in, k, end);
            if (k == end) {
                break;
            }
        }
        if ((khttp_class[in.ptr[k]] & KHTTP_TEXT) == 0) {
            break;
        }
        k++;
    }
    return k;
}

/* in[from, to) without its trailing SP/HTAB: the end after the last other
 * byte, never before from (so a value split across calls is looked back
 * on only as far as this call's part of it). */
/*@ requires valid_slice(in) && from <= to <= in.len;
    assigns \nothing;
    ensures from <= \result <= to;
*/
static size_t parse_trim_end(keel_slice in, size_t from, size_t to)
{
    size_t v = to;
    /*@ loop invariant from <= v <= to;
        loop assigns v;
        loop variant v - from;
    */
    while (v > from && (in.ptr[v - 1] == ' ' || in.ptr[v - 1] == '\t')) {
        v--;
    }
    return v;
}

/* The value of a field line from in[*at] (state KHTTP_FL_VALUE): one run of
 * value bytes; the value ends after its last visible byte (trailing OWS is
 * not part of it), found by looking back from the run's end, never before
 * where this call started (so every byte is looked at a bounded number of
 * times, however the value is split). Stops at the first byte that is not
 * a value byte (*at left there) or at end. */
/*@ requires valid_slice(in) && \valid(fs) && \valid(at) && \separated(fs, at);
    requires *at <= end <= in.len;
    assigns fs->value_end, *at;
    ensures \old(*at) <= *at <= end;
    ensures *at < end ==> (khttp_class[in.ptr[*at]] & KHTTP_TEXT) == 0;
*/
static void parse_value_run(keel_http_fieldscan_ *fs, keel_slice in, size_t *at, size_t end)
{
    size_t i = *at;
    size_t t = parse_text_run(in, i, end);
    size_t v = parse_trim_end(in, i, t);
    if (v > i) {
        fs->value_end = v;
    }
    *at = t;
}

/* The line end of a field line in state VALUE at in[k] (k < end): CR, or
 * LF alone when bare_lf. */
/*@ requires valid_slice(in) && k < end <= in.len && \valid(st) && \valid(why);
    requires \separated(st, why);
    requires line_reason(*why);
    assigns *st, *why;
    ensures line_reason(*why);
    ensures *why == KEEL_HTTP_OK ==> *st == KHTTP_FL_CR || *st == KHTTP_FL_FIELD;
    ensures \result == k + 1;
*/
static size_t parse_fl_value_end(keel_slice in, size_t k, size_t end, bool bare_lf, uint32_t *st,
                                 keel_http_reason *why)
{
    uint8_t c = in.ptr[k];
    (void)end;
    if (c == '\r') {
        *st = KHTTP_FL_CR;
    } else if (c != '\n') {
        *why = KEEL_HTTP_BAD_FIELD_VALUE;
    } else if (!bare_lf) {
        *why = KEEL_HTTP_BARE_LF;
    } else {
        *st = KHTTP_FL_FIELD;
    }
    return k + 1;
}

/* The first byte of a line (state START) at in[i]. */
/*@ requires \valid(st) && \valid(why) && \separated(st, why);
    requires line_reason(*why);
    assigns *st, *why;
    ensures line_reason(*why);
    ensures *why == KEEL_HTTP_OK ==> *st == KHTTP_FL_NAME || *st == KHTTP_FL_ECR ||
                                     *st == KHTTP_FL_EMPTY;
*/
static void parse_fl_first(uint8_t c, bool bare_lf, uint32_t *st, keel_http_reason *why)
{
    if ((khttp_class[c] & KHTTP_TCHAR) != 0) {
        *st = KHTTP_FL_NAME;
    } else if (c == '\r') {
        *st = KHTTP_FL_ECR;
    } else if (c == '\n') {
        if (bare_lf) {
            *st = KHTTP_FL_EMPTY;
        } else {
            *why = KEEL_HTTP_BARE_LF;
        }
    } else {
        *why = c == ' ' || c == '\t' ? KEEL_HTTP_OBS_FOLD : KEEL_HTTP_BAD_FIELD_NAME;
    }
}

/* One step of the field-line scanner from in[i] (i < end) in state *st.
 * Returns where the next step starts (after i), *st updated (FIELD or
 * EMPTY once the line's LF is consumed); or, with *why set, the offset of
 * the offending byte. */
/*@ requires valid_slice(in) && i < end <= in.len;
    requires \valid(fs) && \valid(st) && \valid(why) && \separated(fs, st, why);
    requires *st < KHTTP_FL_FIELD && *why == KEEL_HTTP_OK;
    assigns *st, *why, fs->name_end, fs->value_start, fs->value_end;
    ensures line_reason(*why);
    ensures *why == KEEL_HTTP_OK ==> i < \result <= end && *st <= KHTTP_FL_EMPTY;
    ensures *why != KEEL_HTTP_OK ==> \result < end;
*/
static size_t parse_fl_step(keel_http_fieldscan_ *fs, keel_slice in, size_t i, size_t end,
                            bool bare_lf, uint32_t *st, keel_http_reason *why)
{
    size_t k = i;
    uint32_t s = *st;
    if (s == KHTTP_FL_START) {
        parse_fl_first(in.ptr[i], bare_lf, st, why);
        return *why == KEEL_HTTP_OK ? i + 1 : i;
    }
    if (s == KHTTP_FL_CR || s == KHTTP_FL_ECR) {
        if (in.ptr[i] != '\n') {
            *why = KEEL_HTTP_BARE_CR;
            return i;
        }
        *st = s == KHTTP_FL_CR ? KHTTP_FL_FIELD : KHTTP_FL_EMPTY;
        return i + 1;
    }
    if (s == KHTTP_FL_NAME) {
        k = parse_run_of(in, i, end, KHTTP_TCHAR);
        if (k == end) {
            return k;
        }
        if (in.ptr[k] != ':') {
            *why = KEEL_HTTP_BAD_FIELD_NAME;
            return k;
        }
        fs->name_end = k;
        *st = KHTTP_FL_OWS;
        return k + 1;
    }
    if (s == KHTTP_FL_OWS) {
        k = parse_ws_end(in, i, end);
        if (k > i) {
            return k;
        }
        fs->value_start = i;
        fs->value_end = i;
        *st = KHTTP_FL_VALUE;
    }
    /* KHTTP_FL_VALUE */
    parse_value_run(fs, in, &k, end);
    if (k == end) {
        return k;
    }
    k = parse_fl_value_end(in, k, end, bare_lf, st, why);
    return *why == KEEL_HTTP_OK ? k : k - 1;
}

/* A whole field line from in[i], the first byte of a line: a name, ':',
 * OWS, the value, OWS and CRLF (LF alone when bare_lf), all before end, in
 * one straight pass. Returns one past its LF, with fs's offsets set as the
 * state machine would set them; or i, fs untouched, when the line is not
 * whole and well-formed here (cut by end, or with a byte the state machine
 * must judge): the state machine then scans it from its first byte, so a
 * byte is looked at most twice in one call. */
/*@ requires valid_slice(in) && \valid(fs) && i < end <= in.len;
    assigns fs->name_end, fs->value_start, fs->value_end;
    ensures \result == i || (i < \result <= end);
    ensures \result != i ==> i < fs->name_end < fs->value_start &&
                             fs->value_start <= fs->value_end < \result;
*/
static size_t parse_fl_whole(keel_http_fieldscan_ *fs, keel_slice in, size_t i, size_t end,
                             bool bare_lf)
{
    size_t n = parse_run_of(in, i, end, KHTTP_TCHAR);
    if (n == i || n == end || in.ptr[n] != ':') {
        return i;
    }
    size_t vs = parse_ws_end(in, n + 1u, end);
    size_t t = parse_text_run(in, vs, end);
    if (t == end) {
        return i;
    }
    size_t k = t;
    if (in.ptr[k] == '\r') {
        k++;
        if (k == end || in.ptr[k] != '\n') {
            return i;
        }
    } else if (in.ptr[k] != '\n' || !bare_lf) {
        return i;
    }
    fs->name_end = n;
    fs->value_start = vs;
    fs->value_end = parse_trim_end(in, vs, t);
    return k + 1u;
}

/*@ requires valid_slice(in) && \valid(fs) && \valid(at) && \valid(e);
    requires \separated(fs, at, e);
    requires *at <= end <= in.len && fs->state <= KHTTP_FL_EMPTY;
    assigns *fs, *at, *e;
    ensures fs->state <= KHTTP_FL_EMPTY;
    ensures \old(*at) <= *at <= end;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==>
              (fs->state == KHTTP_FL_FIELD || fs->state == KHTTP_FL_EMPTY) &&
              (\old(fs->state) < KHTTP_FL_FIELD ==> *at > \old(*at));
    ensures \result == KEEL_ERR_INCOMPLETE ==> *at == end;
    ensures \result == KEEL_ERR_PARSE ==> e->offset < end;
*/
keel_result khttp_field_line(keel_http_fieldscan_ *fs, keel_slice in, size_t *at, size_t end,
                             bool bare_lf, keel_http_error *e)
{
    size_t i = *at;
    uint32_t st = fs->state;

    if (st >= KHTTP_FL_FIELD) {
        return KEEL_OK;
    }
    /*@ loop invariant \at(*at, Pre) <= i <= end && st <= KHTTP_FL_EMPTY;
        loop invariant st >= KHTTP_FL_FIELD ==> i > \at(*at, Pre);
        loop assigns i, st, fs->name_end, fs->value_start, fs->value_end;
        loop variant end - i;
    */
    while (i < end && st < KHTTP_FL_FIELD) {
        keel_http_reason why = KEEL_HTTP_OK;
        size_t next = parse_fl_step(fs, in, i, end, bare_lf, &st, &why);
        if (why != KEEL_HTTP_OK) {
            return khttp_error(e, next, why);
        }
        i = next;
    }
    fs->state = st;
    *at = i;
    return st >= KHTTP_FL_FIELD ? KEEL_OK : KEEL_ERR_INCOMPLETE;
}

/* ---- small helpers --------------------------------------------------------- */

/*@ requires \valid(p);
    assigns p->st_.err, p->st_.state;
    ensures p->st_.state == ST_ERROR;
    ensures p->st_.err.offset == off && p->st_.err.reason == why;
    ensures \result == reason_result(why);
*/
static KEEL_MUST_USE keel_result parse_fail(keel_http_parser *p, size_t off, keel_http_reason why)
{
    p->st_.state = ST_ERROR;
    return khttp_error(&p->st_.err, off, why);
}

/* min(from + max, len): one past the last byte a bounded part may use. */
/*@ assigns \nothing;
    ensures \result <= len;
    ensures from <= len && max <= len - from ==> \result == from + max;
*/
static size_t parse_limit(size_t from, uint32_t max, size_t len)
{
    if (from <= len && max <= len - from) {
        return from + max;
    }
    return len;
}

/*@ assigns \nothing;
    ensures \result == (c == '\r' || c == '\n');
*/
static bool parse_is_eol(uint8_t c)
{
    return c == '\r' || c == '\n';
}

/*@ assigns \nothing; */
static uint8_t parse_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/*@ assigns \nothing; */
static bool parse_is_hex(uint8_t c)
{
    return (khttp_class[c] & KHTTP_HEX) != 0;
}

/*@ assigns \nothing; */
static bool parse_is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* in[from, to) equals the lowercase text lit[0, n) ignoring ASCII case. */
/*@ requires valid_slice(in) && from <= to <= in.len;
    requires n <= 32 && \valid_read(lit + (0 .. 31));
    assigns \nothing;
*/
static bool parse_eq_nocase(keel_slice in, size_t from, size_t to, const uint8_t *lit, size_t n)
{
    if (to - from != n) {
        return false;
    }
    /*@ loop invariant 0 <= k <= n;
        loop assigns k;
        loop variant n - k;
    */
    for (size_t k = 0; k < n; k++) {
        if (parse_lower(in.ptr[from + k]) != lit[k]) {
            return false;
        }
    }
    return true;
}

/* First position >= i in [i, to) that is not SP/HTAB, or to. */
/*@ requires valid_slice(in) && i <= to <= in.len;
    assigns \nothing;
    ensures i <= \result <= to;
*/
static size_t parse_skip_ows(keel_slice in, size_t i, size_t to)
{
    size_t k = i;
    /*@ loop invariant i <= k <= to;
        loop assigns k;
        loop variant to - k;
    */
    while (k < to && parse_is_ows(in.ptr[k])) {
        k++;
    }
    return k;
}

/* End of the run of token bytes from i (bounded by to). */
/*@ requires valid_slice(in) && i <= to <= in.len;
    assigns \nothing;
    ensures i <= \result <= to;
*/
static size_t parse_token_end(keel_slice in, size_t i, size_t to)
{
    return parse_run_of(in, i, to, KHTTP_TCHAR);
}

/* ---- names --------------------------------------------------------------- */

/* The nine methods as words: their bytes from the lowest up, zeros after. */
#define PARSE_KEY(a, b, c, d, e, f, g)                                                          \
    ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16 | (uint64_t)(d) << 24 |            \
     (uint64_t)(e) << 32 | (uint64_t)(f) << 40 | (uint64_t)(g) << 48)
static const uint64_t parse_method_keys[9] = {
    PARSE_KEY('G', 'E', 'T', 0, 0, 0, 0),         PARSE_KEY('H', 'E', 'A', 'D', 0, 0, 0),
    PARSE_KEY('P', 'O', 'S', 'T', 0, 0, 0),       PARSE_KEY('P', 'U', 'T', 0, 0, 0, 0),
    PARSE_KEY('D', 'E', 'L', 'E', 'T', 'E', 0),   PARSE_KEY('C', 'O', 'N', 'N', 'E', 'C', 'T'),
    PARSE_KEY('O', 'P', 'T', 'I', 'O', 'N', 'S'), PARSE_KEY('T', 'R', 'A', 'C', 'E', 0, 0),
    PARSE_KEY('P', 'A', 'T', 'C', 'H', 0, 0),
};

/* The keel_http_method of the method in[from, to) (case-sensitive): its
 * bytes as one word (one load, the bytes after it masked off, when eight
 * bytes remain in in; else byte by byte), compared with each method's. A
 * method is a token, so never holds the zero bytes that pad the keys. */
/*@ requires valid_slice(in) && from <= to <= in.len;
    assigns \nothing;
    ensures \result <= KEEL_HTTP_PATCH;
*/
static uint8_t parse_method_id(keel_slice in, size_t from, size_t to)
{
    size_t n = to - from;
    if (n == 0 || n > 7u) {
        return KEEL_HTTP_OTHER;
    }
    uint64_t key = 0;
    if (in.len - from >= 8u) {
        key = kword_load(in, from) & ((UINT64_C(1) << (8u * n)) - 1u);
    } else {
        /*@ loop invariant 0 <= k <= n;
            loop assigns k, key;
            loop variant n - k;
        */
        for (size_t k = 0; k < n; k++) {
            key |= (uint64_t)in.ptr[from + k] << (8u * k);
        }
    }
    /*@ loop invariant 0 <= m <= 9;
        loop assigns m;
        loop variant 9 - m;
    */
    for (size_t m = 0; m < 9u; m++) {
        if (key == parse_method_keys[m]) {
            return (uint8_t)(m + 1u);
        }
    }
    return KEEL_HTTP_OTHER;
}

static const uint8_t parse_fields_known[6][32] = {
    "content-length", "transfer-encoding", "host", "connection", "expect", "upgrade",
};

/* For each name length below 18, which of the six the name can be (its
 * index + 1, 0 for none): they have six different lengths. */
static const uint8_t parse_field_by_len[18] = {
    0, 0, 0, 0, 3, 0, 5, 6, 0, 0, 4, 0, 0, 0, 1, 0, 0, 2,
};

/* The four bytes s.ptr[pos .. pos+3] as one little-endian word (one load). */
/*@ requires valid_slice(s) && pos <= s.len && s.len - pos >= 4;
    assigns \nothing;
*/
static uint32_t parse_load4(keel_slice s, size_t pos)
{
    const uint8_t *b = s.ptr + pos;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Is the token in[from, from + n) the name lit[0, n) (lowercase letters and
 * '-') in any case? A token's bytes are tchar, and the only tchar bytes
 * that OR 0x20 turns into a lowercase letter or '-' are that letter, its
 * capital and '-' itself: so the name is folded by OR 0x20 and compared
 * whole, as words that overlap (two of four bytes below eight, else three
 * of eight: from, the middle, the end), without a branch per byte. */
/*@ requires valid_slice(in) && valid_slice(lit);
    requires 4 <= n <= 24 && n <= lit.len && from <= in.len && n <= in.len - from;
    assigns \nothing;
*/
static bool parse_name_is(keel_slice in, size_t from, size_t n, keel_slice lit)
{
    if (n < 8u) {
        uint32_t fold = 0x20202020u;
        uint32_t d = ((parse_load4(in, from) | fold) ^ parse_load4(lit, 0)) |
                     ((parse_load4(in, from + n - 4u) | fold) ^ parse_load4(lit, n - 4u));
        return d == 0;
    }
    size_t mid = (n - 8u) / 2u;
    uint64_t fold = KWORD_ONES * 0x20u;
    uint64_t d = ((kword_load(in, from) | fold) ^ kword_load(lit, 0)) |
                 ((kword_load(in, from + mid) | fold) ^ kword_load(lit, mid)) |
                 ((kword_load(in, from + n - 8u) | fold) ^ kword_load(lit, n - 8u));
    return d == 0;
}

/* Which framing field the token in[from, to) names (ASCII
 * case-insensitive). The six names have six different lengths: a table by
 * length picks the one the name can be (no jump through a switch), and
 * one comparison of words decides. */
/*@ requires valid_slice(in) && from <= to <= in.len;
    assigns \nothing;
    ensures \result <= FIELD_UPGRADE;
*/
static uint32_t parse_field_id(keel_slice in, size_t from, size_t to)
{
    size_t n = to - from;
    if (n >= 18u) {
        return FIELD_OTHER;
    }
    uint32_t m = parse_field_by_len[n];
    if (m != 0 && parse_name_is(in, from, n, (keel_slice){ parse_fields_known[m - 1u], 32 })) {
        return m;
    }
    return FIELD_OTHER;
}

/* ---- hosts and targets --------------------------------------------------- */

/* Are all the bytes of in[from, to) (at least eight) of class cls (one
 * class bit)? Eight class lookups AND-ed per test, the last eight bytes
 * overlapping the ones before them: no branch per byte. */
/*@ requires valid_slice(in) && from <= to <= in.len && to - from >= 8;
    assigns \nothing;
*/
static bool parse_all_of(keel_slice in, size_t from, size_t to, uint8_t cls)
{
    uint8_t acc = cls;
    size_t k = from;
    /*@ loop invariant from <= k <= to - 8;
        loop assigns k, acc;
        loop variant to - k;
    */
    for (;;) {
        const uint8_t *b = in.ptr + k;
        acc &= (uint8_t)(khttp_class[b[0]] & khttp_class[b[1]] & khttp_class[b[2]] &
                         khttp_class[b[3]] & khttp_class[b[4]] & khttp_class[b[5]] &
                         khttp_class[b[6]] & khttp_class[b[7]]);
        if (to - k <= 8u) {
            break;
        }
        k = to - k >= 16u ? k + 8u : to - 8u;
    }
    return acc != 0;
}

/* Is in[from, to) uri-host [":" port] (RFC 3986: IP-literal of hex digits,
 * ':' and '.', or a reg-name of unreserved / sub-delims / %-escapes; port
 * 0..65535)? need_port: the ":" port part is required, with a digit.
 * allow_empty: the whole text may be empty (a Host field may be). On false
 * *bad is the offset of the first byte that does not fit (to when the text
 * ends too early). */
/*@ requires valid_slice(in) && from <= to <= in.len && \valid(bad);
    assigns *bad;
    ensures !\result ==> from <= *bad <= to;
*/
static bool parse_host(keel_slice in, size_t from, size_t to, bool need_port, bool allow_empty,
                       size_t *bad)
{
    size_t i = from;
    if (from == to && allow_empty && !need_port) {
        return true;
    }
    if (i < to && in.ptr[i] == '[') {
        i++;
        size_t lit = i;
        /*@ loop invariant lit <= i <= to;
            loop assigns i;
            loop variant to - i;
        */
        while (i < to && (parse_is_hex(in.ptr[i]) || in.ptr[i] == ':' || in.ptr[i] == '.')) {
            i++;
        }
        if (i == lit || i == to || in.ptr[i] != ']') {
            *bad = i;
            return false;
        }
        i++;
    } else if (to - i >= 8u && parse_all_of(in, i, to, KHTTP_HOST)) {
        i = to; /* the usual reg-name: no %-escape, no port */
    } else {
        /*@ loop invariant from <= i <= to;
            loop assigns i;
            loop variant to - i;
        */
        while (i < to) {
            i = parse_run_of(in, i, to, KHTTP_HOST);
            if (i == to) {
                break;
            }
            uint8_t c = in.ptr[i];
            if (c == '%' && to - i > 2 && parse_is_hex(in.ptr[i + 1]) &&
                parse_is_hex(in.ptr[i + 2])) {
                i += 3;
            } else {
                break;
            }
        }
        if (i == from) {
            *bad = from;
            return false;
        }
    }
    if (i == to) {
        if (need_port) {
            *bad = i;
            return false;
        }
        return true;
    }
    if (in.ptr[i] != ':') {
        *bad = i;
        return false;
    }
    i++;
    size_t digits = i;
    uint32_t port = 0;
    /*@ loop invariant digits <= i <= to && port <= 65535;
        loop assigns i, port;
        loop variant to - i;
    */
    while (i < to && (khttp_class[in.ptr[i]] & KHTTP_DIGIT) != 0) {
        port = port * 10u + (uint32_t)(in.ptr[i] - '0');
        if (port > 65535u) {
            *bad = i;
            return false;
        }
        i++;
    }
    if (i < to || (need_port && i == digits)) {
        *bad = i;
        return false;
    }
    return true;
}

/* Where the parts of a request-target lie (offsets into the input). */
typedef struct parse_form {
    uint8_t form;
    size_t path, path_len, auth, auth_len;
} parse_form;

/* One past the scheme that starts at in[t] (ALPHA was checked):
 * *( ALPHA / DIGIT / "+" / "-" / "." ), bounded by q. */
/*@ requires valid_slice(in) && t < q <= in.len;
    assigns \nothing;
    ensures t < \result <= q;
*/
static size_t parse_scheme_end(keel_slice in, size_t t, size_t q)
{
    size_t i = t + 1;
    /*@ loop invariant t < i <= q;
        loop assigns i;
        loop variant q - i;
    */
    while (i < q) {
        uint8_t c = in.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (khttp_class[c] & KHTTP_DIGIT) != 0 || c == '+' || c == '-' || c == '.')) {
            break;
        }
        i++;
    }
    return i;
}

/* The first '/' in in[a, q), or q. */
/*@ requires valid_slice(in) && a <= q <= in.len;
    assigns \nothing;
    ensures a <= \result <= q;
*/
static size_t parse_slash(keel_slice in, size_t a, size_t q)
{
    size_t k = a;
    /*@ loop invariant a <= k <= q;
        loop assigns k;
        loop variant q - k;
    */
    while (k < q && in.ptr[k] != '/') {
        k++;
    }
    return k;
}

/* absolute-form: scheme "://" authority [path] ["?" query], the target in
 * in[t, e) with its first '?' at q (e if none). */
/*@ requires valid_slice(in) && t < q <= e <= in.len;
    requires \valid(o) && \valid(at) && \separated(o, at);
    assigns *o, *at;
    ensures \result == KEEL_HTTP_OK || \result == KEEL_HTTP_BAD_TARGET_FORM ||
            \result == KEEL_HTTP_BAD_TARGET;
*/
static keel_http_reason parse_absolute_form(keel_slice in, size_t t, size_t q, size_t e,
                                            parse_form *o, size_t *at)
{
    uint8_t c = in.ptr[t];
    *at = t;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
        return KEEL_HTTP_BAD_TARGET_FORM;
    }
    size_t i = parse_scheme_end(in, t, q);
    if (q - i < 3 || in.ptr[i] != ':' || in.ptr[i + 1] != '/' || in.ptr[i + 2] != '/') {
        return KEEL_HTTP_BAD_TARGET_FORM;
    }
    size_t a = i + 3;
    size_t ae = parse_slash(in, a, q);
    if (!parse_host(in, a, ae, false, false, at)) {
        return KEEL_HTTP_BAD_TARGET;
    }
    o->form = KEEL_HTTP_ABSOLUTE_FORM;
    o->auth = a;
    o->auth_len = ae - a;
    o->path = ae;
    o->path_len = q - ae;
    (void)e;
    return KEEL_HTTP_OK;
}

/* The form of the request-target in[t, e) against the method: origin
 * ("/..."), asterisk ("*", OPTIONS only), authority (CONNECT only,
 * host:port), absolute; *o says where its parts lie. */
/*@ requires valid_slice(in) && t < e <= in.len && t < q <= e;
    requires \valid(o) && \valid(at) && \separated(o, at);
    assigns *o, *at;
    ensures \result == KEEL_HTTP_OK || \result == KEEL_HTTP_BAD_TARGET_FORM ||
            \result == KEEL_HTTP_BAD_TARGET;
*/
static keel_http_reason parse_form_of(keel_slice in, size_t t, size_t q, size_t e, uint8_t method,
                                      parse_form *o, size_t *at)
{
    uint8_t c = in.ptr[t];
    bool connect = method == KEEL_HTTP_CONNECT;
    *at = t;
    o->form = 0;
    o->path = t;
    o->path_len = 0;
    o->auth = t;
    o->auth_len = 0;
    if (c == '/' && !connect) {
        o->form = KEEL_HTTP_ORIGIN_FORM;
        o->path_len = q - t;
        return KEEL_HTTP_OK;
    }
    if (c == '*' && e - t == 1u && method == KEEL_HTTP_OPTIONS) {
        o->form = KEEL_HTTP_ASTERISK_FORM;
        return KEEL_HTTP_OK;
    }
    if (!connect) {
        return parse_absolute_form(in, t, q, e, o, at);
    }
    if (c == '/' || c == '*' || q != e) {
        return KEEL_HTTP_BAD_TARGET_FORM;
    }
    if (!parse_host(in, t, e, true, false, at)) {
        return KEEL_HTTP_BAD_TARGET;
    }
    o->form = KEEL_HTTP_AUTHORITY_FORM;
    o->auth_len = e - t;
    return KEEL_HTTP_OK;
}

/* ---- framing fields ------------------------------------------------------- */

/* Content-Length = 1*DIGIT; a list or a repeated field is one value too
 * many, unless same_ok (LENIENT_SAME_CONTENT_LENGTH) and every value is the
 * same. have: a value was seen before, in *len. KEEL_HTTP_OK with *len the
 * value, or the reason and *at the offending byte. */
/*@ requires valid_slice(in) && vs <= ve <= in.len;
    requires \valid(len) && \valid(at) && \separated(len, at);
    assigns *len, *at;
    ensures \result == KEEL_HTTP_OK || \result == KEEL_HTTP_BAD_CONTENT_LENGTH ||
            \result == KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE ||
            \result == KEEL_HTTP_DUPLICATE_CONTENT_LENGTH;
*/
static keel_http_reason parse_cl_value(keel_slice in, size_t vs, size_t ve, bool have,
                                       bool same_ok, uint64_t *len, size_t *at)
{
    size_t i = vs;
    bool seen = have;
    uint64_t prev = *len;
    /*@ loop invariant vs <= i <= ve;
        loop assigns i, seen, prev, *at;
        loop variant ve - i;
    */
    for (;;) {
        size_t el = i;
        uint64_t v = 0;
        if (i == ve || (khttp_class[in.ptr[i]] & KHTTP_DIGIT) == 0) {
            *at = i;
            return KEEL_HTTP_BAD_CONTENT_LENGTH;
        }
        /*@ loop invariant el <= i <= ve;
            loop assigns i, v;
            loop variant ve - i;
        */
        while (i < ve && (khttp_class[in.ptr[i]] & KHTTP_DIGIT) != 0) {
            uint64_t d = (uint64_t)(in.ptr[i] - '0');
            if (v > (UINT64_MAX - d) / 10u) {
                *at = i;
                return KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE;
            }
            v = v * 10u + d;
            i++;
        }
        size_t j = parse_skip_ows(in, i, ve);
        if (j < ve && in.ptr[j] != ',') {
            *at = j;
            return KEEL_HTTP_BAD_CONTENT_LENGTH;
        }
        if (seen && (!same_ok || v != prev)) {
            *at = el;
            return KEEL_HTTP_DUPLICATE_CONTENT_LENGTH;
        }
        seen = true;
        prev = v;
        if (j == ve) {
            break;
        }
        i = parse_skip_ows(in, j + 1, ve);
    }
    *len = prev;
    return KEEL_HTTP_OK;
}

static const uint8_t parse_chunked_name[32] = "chunked";

/* Transfer-Encoding = 1#transfer-coding where keel knows only chunked: each
 * element a token, chunked exactly once and last, no parameters on it, no
 * empty element; any other coding is 501. Several fields make one list
 * (chunked: an earlier field ended with chunked). KEEL_HTTP_OK, or the
 * reason and *at the offending byte. */
/*@ requires valid_slice(in) && vs <= ve <= in.len && \valid(at);
    assigns *at;
    ensures \result == KEEL_HTTP_OK || \result == KEEL_HTTP_BAD_TRANSFER_ENCODING ||
            \result == KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING;
*/
static keel_http_reason parse_te_value(keel_slice in, size_t vs, size_t ve, bool chunked,
                                       size_t *at)
{
    size_t i = vs;
    bool seen = chunked;
    /*@ loop invariant vs <= i <= ve;
        loop assigns i, seen, *at;
        loop variant ve - i;
    */
    for (;;) {
        size_t te = parse_token_end(in, i, ve);
        *at = i;
        if (te == i || seen) {
            /* an empty or non-token element, or a coding after chunked */
            return KEEL_HTTP_BAD_TRANSFER_ENCODING;
        }
        if (!parse_eq_nocase(in, i, te, parse_chunked_name, 7)) {
            return KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING;
        }
        seen = true;
        size_t j = parse_skip_ows(in, te, ve);
        if (j < ve && in.ptr[j] != ',') {
            *at = j;
            return KEEL_HTTP_BAD_TRANSFER_ENCODING;
        }
        if (j == ve) {
            break;
        }
        i = parse_skip_ows(in, j + 1, ve);
    }
    return KEEL_HTTP_OK;
}

static const uint8_t parse_close_name[32] = "close";
static const uint8_t parse_keep_alive_name[32] = "keep-alive";
static const uint8_t parse_continue_name[32] = "100-continue";

/* Connection = #connection-option (tokens; empty elements are ignored):
 * F_CLOSE / F_KEEP into *flags, or the reason and *at the offending byte. */
/*@ requires valid_slice(in) && vs <= ve <= in.len;
    requires \valid(flags) && \valid(at) && \separated(flags, at);
    assigns *flags, *at;
    ensures \result == KEEL_HTTP_OK || \result == KEEL_HTTP_BAD_CONNECTION;
*/
static keel_http_reason parse_connection_value(keel_slice in, size_t vs, size_t ve,
                                               uint32_t *flags, size_t *at)
{
    size_t i = vs;
    /*@ loop invariant vs <= i <= ve;
        loop assigns i, *flags, *at;
        loop variant ve - i;
    */
    while (i < ve) {
        uint8_t c = in.ptr[i];
        if (c == ',' || parse_is_ows(c)) {
            i++;
            continue;
        }
        size_t te = parse_token_end(in, i, ve);
        if (te == i) {
            *at = i;
            return KEEL_HTTP_BAD_CONNECTION;
        }
        if (parse_eq_nocase(in, i, te, parse_close_name, 5)) {
            *flags |= F_CLOSE;
        } else if (parse_eq_nocase(in, i, te, parse_keep_alive_name, 10)) {
            *flags |= F_KEEP;
        }
        size_t j = parse_skip_ows(in, te, ve);
        if (j < ve && in.ptr[j] != ',') {
            *at = j;
            return KEEL_HTTP_BAD_CONNECTION;
        }
        i = j;
    }
    return KEEL_HTTP_OK;
}

/* Expect: each element is 100-continue or something else (417); empty
 * elements are ignored. Never an error. */
/*@ requires valid_slice(in) && vs <= ve <= in.len;
    assigns \nothing;
    ensures \result == 0 || \result == F_EXPECT_CONT || \result == F_EXPECT_OTHER ||
            \result == (F_EXPECT_CONT | F_EXPECT_OTHER);
*/
static uint32_t parse_expect(keel_slice in, size_t vs, size_t ve)
{
    bool cont = false;
    bool other = false;
    size_t i = vs;
    /*@ loop invariant vs <= i <= ve;
        loop assigns i, cont, other;
        loop variant ve - i;
    */
    while (i < ve) {
        size_t s = parse_skip_ows(in, i, ve);
        size_t j = s;
        size_t last = s; /* one past the last non-whitespace byte of the element */
        /*@ loop invariant s <= j <= ve && s <= last <= j;
            loop assigns j, last;
            loop variant ve - j;
        */
        while (j < ve && in.ptr[j] != ',') {
            if (!parse_is_ows(in.ptr[j])) {
                last = j + 1;
            }
            j++;
        }
        if (last > s) {
            if (parse_eq_nocase(in, s, last, parse_continue_name, 12)) {
                cont = true;
            } else {
                other = true;
            }
        }
        i = j < ve ? j + 1 : ve;
    }
    if (cont && other) {
        return F_EXPECT_CONT | F_EXPECT_OTHER;
    }
    if (cont) {
        return F_EXPECT_CONT;
    }
    return other ? F_EXPECT_OTHER : 0u;
}

/* A field line is complete: in[line, ne) is its name and in[vs, ve) its
 * value. Store it in the caller's array, then work out what it says about
 * framing. */
/*@ requires run_ok(p, in) && hdrs_ok(p, hs, cap);
    requires p->st_.hdr <= line < ne < vs <= ve <= in.len;
    assigns p->st_, hs[0 .. cap - 1];
    ensures run_ok(p, in) && hdrs_ok(p, hs, cap);
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_OK ==> p->st_.pos == \old(p->st_.pos) && p->st_.state == \old(p->st_.state);
    ensures \result != KEEL_OK ==> p->st_.state == ST_ERROR;
*/
static KEEL_MUST_USE keel_result parse_field(keel_http_parser *p, keel_slice in,
                                             keel_http_header *hs, size_t cap, size_t line,
                                             size_t ne, size_t vs, size_t ve)
{
    size_t hdr = p->st_.hdr;
    size_t n = p->st_.count;
    if (n >= cap) {
        return parse_fail(p, line, KEEL_HTTP_TOO_MANY_HEADERS);
    }
    keel_http_header *h = &hs[n];
    /* no pointer until the head is complete (parse_head): a caller that
     * looks at the array before then finds no stale one from an earlier head */
    h->name.ptr = NULL;
    h->name.len = ne - line;
    h->name_off_ = (uint32_t)(line - hdr);
    h->value.ptr = NULL;
    h->value.len = ve - vs;
    h->value_off_ = (uint32_t)(vs - hdr);
    p->st_.count = n + 1u;

    uint32_t f = p->st_.flags;
    size_t at = line;
    keel_http_reason why = KEEL_HTTP_OK;
    uint32_t id = parse_field_id(in, line, ne);
    if (id == FIELD_CONTENT_LENGTH) {
        uint64_t v = p->st_.content_length;
        why = parse_cl_value(in, vs, ve, (f & F_CL) != 0,
                             (p->cfg.lenient & KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH) != 0, &v,
                             &at);
        p->st_.content_length = v;
        f |= F_CL;
    } else if (id == FIELD_TRANSFER_ENCODING) {
        /* HTTP/1.0 first: any Transfer-Encoding there makes the framing faulty */
        why = p->st_.minor == 0 ? KEEL_HTTP_TRANSFER_ENCODING_IN_HTTP10
                                : parse_te_value(in, vs, ve, (f & F_TE) != 0, &at);
        f |= F_TE;
    } else if (id == FIELD_HOST && p->kind == KEEL_HTTP_REQUEST) {
        if ((f & F_HOST) != 0) {
            why = KEEL_HTTP_DUPLICATE_HOST;
        } else if (!parse_host(in, vs, ve, false, true, &at)) {
            why = KEEL_HTTP_BAD_HOST;
        }
        f |= F_HOST;
        if (p->st_.form == KEEL_HTTP_ORIGIN_FORM || p->st_.form == KEEL_HTTP_ASTERISK_FORM) {
            p->st_.auth = vs;
            p->st_.auth_len = ve - vs;
        }
    } else if (id == FIELD_CONNECTION) {
        why = parse_connection_value(in, vs, ve, &f, &at);
    } else if (id == FIELD_EXPECT && p->kind == KEEL_HTTP_REQUEST) {
        f |= parse_expect(in, vs, ve);
    } else if (id == FIELD_UPGRADE) {
        f |= F_UPGRADE;
    }
    p->st_.flags = f;
    if (why == KEEL_HTTP_OK && (id == FIELD_CONTENT_LENGTH || id == FIELD_TRANSFER_ENCODING) &&
        (f & F_CL) != 0 && (f & F_TE) != 0) {
        /* both, in either order: rejected at the later field line */
        why = KEEL_HTTP_CONTENT_LENGTH_WITH_TRANSFER_ENCODING;
        at = line;
    }
    if (why != KEEL_HTTP_OK) {
        return parse_fail(p, at, why);
    }
    return KEEL_OK;
}

/* ---- the start line -------------------------------------------------------- */

/* The start line is complete; the header section starts at next. */
/*@ requires run_ok(p, in) && p->st_.pos < next <= in.len;
    assigns p->st_.state, p->st_.hdr, p->st_.line, p->st_.fs.state, p->st_.pos;
    ensures run_ok(p, in) && p->st_.pos == next && p->st_.state == ST_FIELDS;
    ensures \result == KEEL_OK;
*/
static KEEL_MUST_USE keel_result parse_start_done(keel_http_parser *p, keel_slice in, size_t next)
{
    (void)in;
    p->st_.state = ST_FIELDS;
    p->st_.hdr = next;
    p->st_.line = next;
    p->st_.fs.state = KHTTP_FL_START;
    p->st_.pos = next;
    return KEEL_OK;
}

/* The common contract of the state handlers: each consumes at least one
 * byte or fails (the sticky error set). */
/*@ predicate step_pre{L}(keel_http_parser *p, keel_slice in) =
      run_ok(p, in) && p->st_.pos < in.len && p->st_.state < ST_DONE;
    predicate step_ok{L1, L2}(keel_http_parser *p, keel_slice in, keel_result r) =
      run_ok{L2}(p, in) &&
      (r == KEEL_OK || r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE) &&
      (r == KEEL_OK ==> \at(p->st_.pos, L2) > \at(p->st_.pos, L1) &&
                        \at(p->st_.state, L2) != ST_ERROR) &&
      (r != KEEL_OK ==> \at(p->st_.state, L2) == ST_ERROR);
*/

/* The start line's states, in order: on success each handler goes on with
 * the next state's handler while bytes remain (one dispatch per start line
 * instead of one per state). They are inlined (always_inline), so a request
 * line in view runs as one function: out of line, each handler saved and
 * restored registers and reloaded the parser's state (bench/README.md). */
static KEEL_MUST_USE keel_result parse_method(keel_http_parser *p, keel_slice in);
static KEEL_MUST_USE keel_result parse_target(keel_http_parser *p, keel_slice in);
static KEEL_MUST_USE keel_result parse_version(keel_http_parser *p, keel_slice in);
static KEEL_MUST_USE keel_result parse_version_end(keel_http_parser *p, keel_slice in);
static KEEL_MUST_USE keel_result parse_line_lf(keel_http_parser *p, keel_slice in);

/* Requests: empty lines (CRLF) before the request line are skipped, at most
 * max_start_line bytes of them; the first byte of the method. */
/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
static KEEL_MUST_USE keel_result parse_skip(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    uint8_t c = in.ptr[i];
    if (p->st_.state == ST_SKIP_LF) {
        if (c != '\n') {
            return parse_fail(p, i, KEEL_HTTP_BARE_CR);
        }
        p->st_.state = ST_SKIP;
        p->st_.pos = i + 1;
        return KEEL_OK;
    }
    if (parse_is_eol(c)) {
        if (i >= p->cfg.limits.max_start_line) {
            return parse_fail(p, i, KEEL_HTTP_START_LINE_TOO_LONG);
        }
        if (c == '\n' && (p->cfg.lenient & KEEL_HTTP_LENIENT_BARE_LF) == 0) {
            return parse_fail(p, i, KEEL_HTTP_BARE_LF);
        }
        p->st_.state = c == '\r' ? ST_SKIP_LF : ST_SKIP;
        p->st_.pos = i + 1;
        return KEEL_OK;
    }
    if ((khttp_class[c] & KHTTP_TCHAR) == 0) {
        return parse_fail(p, i, KEEL_HTTP_BAD_METHOD);
    }
    p->st_.start = i;
    p->st_.state = ST_METHOD;
    p->st_.pos = i + 1;
    return i + 1 < in.len ? parse_method(p, in) : KEEL_OK;
}

/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
__attribute__((always_inline)) static inline KEEL_MUST_USE keel_result
parse_method(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    size_t lim = parse_limit(p->st_.start, p->cfg.limits.max_start_line, in.len);
    if (i < lim) {
        i = parse_run_of(in, i, lim, KHTTP_TCHAR);
    }
    if (i == in.len) {
        p->st_.pos = i;
        return KEEL_OK;
    }
    uint8_t c = in.ptr[i];
    if (i >= lim && !parse_is_eol(c)) {
        return parse_fail(p, i, KEEL_HTTP_METHOD_TOO_LONG);
    }
    if (c == ' ' && i > p->st_.start && p->st_.start <= in.len) {
        p->st_.method_end = i;
        p->st_.method = parse_method_id(in, p->st_.start, i);
        p->st_.target = i + 1;
        p->st_.flags &= ~F_QUERY;
        p->st_.state = ST_TARGET;
        p->st_.pos = i + 1;
        return i + 1 < in.len ? parse_target(p, in) : KEEL_OK;
    }
    if (c == ' ' || parse_is_eol(c)) {
        return parse_fail(p, i, KEEL_HTTP_BAD_START_LINE);
    }
    return parse_fail(p, i, KEEL_HTTP_BAD_METHOD);
}

/* What parse_target_scan stopped at. */
#define TARGET_STOP 0u /* in[*at]: a byte that is not part of the target, or the limit */
#define TARGET_MORE 1u /* in ends (*at == in.len): the target goes on in the next bytes */
#define TARGET_PCT 2u  /* in ends inside a %-escape; *at is after its '%' */

/* Scan target bytes from in[*at]: target characters, '?' (the first one is
 * recorded as the query's start), complete %XX escapes. */
/*@ requires \valid(p) && valid_slice(in) && lim <= in.len;
    requires \valid(at) && \separated(p, at) && *at < in.len;
    assigns *at, p->st_.flags, p->st_.query;
    ensures \result == TARGET_STOP || \result == TARGET_MORE || \result == TARGET_PCT;
    ensures \result == TARGET_STOP ==> \old(*at) <= *at < in.len;
    ensures \result == TARGET_MORE ==> *at == in.len;
    ensures \result == TARGET_PCT ==> \old(*at) < *at <= in.len;
*/
static uint32_t parse_target_scan(keel_http_parser *p, keel_slice in, size_t lim, size_t *at)
{
    size_t i = *at;
    /*@ loop invariant \at(*at, Pre) <= i < in.len;
        loop assigns i, p->st_.flags, p->st_.query;
        loop variant in.len - i;
    */
    for (;;) {
        if (i < lim) {
            i = parse_run_of(in, i, lim, KHTTP_TARGET);
        }
        if (i == in.len) {
            *at = i;
            return TARGET_MORE;
        }
        uint8_t c = in.ptr[i];
        if (i >= lim && !parse_is_eol(c)) {
            *at = i;
            return TARGET_STOP;
        }
        if (c == '?') {
            if ((p->st_.flags & F_QUERY) == 0) {
                p->st_.flags |= F_QUERY;
                p->st_.query = i;
            }
            if (i + 1 == in.len) {
                *at = i + 1;
                return TARGET_MORE;
            }
            i++;
            continue;
        }
        if (c != '%') {
            *at = i;
            return TARGET_STOP;
        }
        if (lim - i > 2 && parse_is_hex(in.ptr[i + 1]) && parse_is_hex(in.ptr[i + 2])) {
            if (i + 3 == in.len) {
                *at = i + 3;
                return TARGET_MORE;
            }
            i += 3;
            continue;
        }
        *at = i + 1;
        return TARGET_PCT;
    }
}

/* The request-target ends at in[i] (a SP after at least one target byte):
 * its form (origin, absolute, authority or asterisk), then the version. */
/*@ requires run_ok(p, in) && p->st_.pos <= i < in.len && p->st_.target < i;
    assigns p->st_;
    ensures run_ok(p, in);
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_OK ==> p->st_.pos == i + 1 && p->st_.state == ST_VERSION;
    ensures \result != KEEL_OK ==> p->st_.state == ST_ERROR;
*/
static KEEL_MUST_USE keel_result parse_target_done(keel_http_parser *p, keel_slice in, size_t i)
{
    /* The path ends at the first '?' (recorded during the scan), if any. */
    size_t t = p->st_.target;
    size_t q = i;
    size_t at = t;
    parse_form o;
    if ((p->st_.flags & F_QUERY) != 0 && t < p->st_.query && p->st_.query < i) {
        q = p->st_.query;
    }
    keel_http_reason why = parse_form_of(in, t, q, i, p->st_.method, &o, &at);
    if (why != KEEL_HTTP_OK) {
        return parse_fail(p, at, why);
    }
    p->st_.target_end = i;
    p->st_.form = o.form;
    p->st_.path = o.path;
    p->st_.path_len = o.path_len;
    p->st_.auth = o.auth;
    p->st_.auth_len = o.auth_len;
    p->st_.version = i + 1;
    p->st_.vidx = 0;
    p->st_.state = ST_VERSION;
    p->st_.pos = i + 1;
    return KEEL_OK;
}

/* The request-target: a run of target bytes; '?' marks the query, '%' must
 * start an escape of two hex digits (ST_PCT1/ST_PCT2 when it is split). */
/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
__attribute__((always_inline)) static inline KEEL_MUST_USE keel_result
parse_target(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    size_t lim = parse_limit(p->st_.start, p->cfg.limits.max_start_line, in.len);
    uint32_t end = parse_target_scan(p, in, lim, &i);
    if (end != TARGET_STOP) {
        if (end == TARGET_PCT) {
            p->st_.state = ST_PCT1;
        }
        p->st_.pos = i;
        return KEEL_OK;
    }
    uint8_t c = in.ptr[i];
    if (i >= lim && !parse_is_eol(c)) {
        return parse_fail(p, i, KEEL_HTTP_TARGET_TOO_LONG);
    }
    if (c == ' ' && i > p->st_.target && p->st_.target < in.len) {
        keel_result r = parse_target_done(p, in, i);
        return r == KEEL_OK && i + 1 < in.len ? parse_version(p, in) : r;
    }
    if (c == ' ' || parse_is_eol(c)) {
        return parse_fail(p, i, KEEL_HTTP_BAD_START_LINE);
    }
    return parse_fail(p, i, KEEL_HTTP_BAD_TARGET);
}

/* A hex digit of a %-escape that a call boundary split. */
/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
static KEEL_MUST_USE keel_result parse_pct(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    size_t lim = parse_limit(p->st_.start, p->cfg.limits.max_start_line, in.len);
    uint8_t c = in.ptr[i];
    if (i >= lim && !parse_is_eol(c)) {
        return parse_fail(p, i, KEEL_HTTP_TARGET_TOO_LONG);
    }
    if (!parse_is_hex(c)) {
        return parse_fail(p, i, KEEL_HTTP_BAD_TARGET);
    }
    p->st_.state = p->st_.state == ST_PCT1 ? ST_PCT2 : ST_TARGET;
    p->st_.pos = i + 1;
    return KEEL_OK;
}

static const uint8_t parse_http_name[8] = { 'H', 'T', 'T', 'P', '/', '1', '.', '1' };

/* "HTTP/1.1" as a word (its first byte lowest); "HTTP/1.0" differs from it
 * in one bit, bit 0 of the last byte ('1' is 0x31, '0' is 0x30), which is
 * then the minor version. */
#define PARSE_HTTP11 (PARSE_KEY('H', 'T', 'T', 'P', '/', '1', '.') | (uint64_t)'1' << 56)
#define PARSE_MINOR_BIT (UINT64_C(1) << 56)

/* The fast path: "HTTP/1.1" or "HTTP/1.0" whole in view at i, compared as
 * one word. The minor version (0 or 1), or -1. */
/*@ requires valid_slice(in) && i <= in.len;
    assigns \nothing;
    ensures -1 <= \result <= 1;
*/
static int parse_version_whole(keel_slice in, size_t i)
{
    if (in.len - i < 8u) {
        return -1;
    }
    uint64_t w = kword_load(in, i);
    if ((w | PARSE_MINOR_BIT) != PARSE_HTTP11) {
        return -1;
    }
    return (int)((w >> 56) & 1u);
}

/* Byte k (0..7) of "HTTP/" DIGIT "." DIGIT: does c fit there? */
/*@ requires k < 8;
    assigns \nothing;
*/
static bool parse_version_byte_ok(uint8_t k, uint8_t c)
{
    if (k < 5u) {
        return c == parse_http_name[k];
    }
    if (k == 6u) {
        return c == '.';
    }
    return (khttp_class[c] & KHTTP_DIGIT) != 0;
}

/* "HTTP/" DIGIT "." DIGIT, byte by byte (vidx bytes matched so far), with
 * a fast path for the whole version in view. */
/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
__attribute__((always_inline)) static inline KEEL_MUST_USE keel_result
parse_version(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    size_t lim = parse_limit(p->st_.start, p->cfg.limits.max_start_line, in.len);
    if (p->st_.vidx == 0 && i <= lim && lim - i >= 8u) {
        int minor = parse_version_whole(in, i);
        if (minor >= 0) {
            p->st_.major = 1;
            p->st_.minor = (uint8_t)minor;
            p->st_.vidx = 8;
            p->st_.state = ST_VERSION_END;
            p->st_.pos = i + 8;
            return i + 8u < in.len ? parse_version_end(p, in) : KEEL_OK;
        }
    }
    bool req = p->kind == KEEL_HTTP_REQUEST;
    if (p->st_.vidx >= 8u) {
        return parse_fail(p, i, KEEL_HTTP_BAD_VERSION); /* unreachable: ST_VERSION_END by then */
    }
    /* The loop runs on locals; p is written once, after it. */
    keel_http_reason why = KEEL_HTTP_OK; /* one failure exit: fewer paths per goal */
    uint8_t k = p->st_.vidx;
    uint8_t major = p->st_.major;
    uint8_t minor = p->st_.minor;
    /*@ loop invariant \at(p->st_.pos, Pre) <= i <= in.len;
        loop invariant k <= 8;
        loop invariant i == \at(p->st_.pos, Pre) ==> k == \at(p->st_.vidx, Pre);
        loop assigns i, k, major, minor, why;
        loop variant in.len - i;
    */
    while (i < in.len && k < 8u) {
        uint8_t c = in.ptr[i];
        if (i >= lim && !parse_is_eol(c)) {
            why = KEEL_HTTP_START_LINE_TOO_LONG;
            break;
        }
        if (!parse_version_byte_ok(k, c)) {
            why = req && k == 0 && (c == ' ' || parse_is_eol(c)) ? KEEL_HTTP_BAD_START_LINE
                                                                 : KEEL_HTTP_BAD_VERSION;
            break;
        }
        if (k == 5u) {
            major = (uint8_t)(c - '0');
        } else if (k == 7u) {
            minor = (uint8_t)(c - '0');
        }
        k++;
        i++;
    }
    if (why != KEEL_HTTP_OK) {
        return parse_fail(p, i, why);
    }
    p->st_.vidx = k;
    p->st_.major = major;
    p->st_.minor = minor;
    if (k >= 8u) {
        p->st_.state = ST_VERSION_END;
    }
    p->st_.pos = i;
    return KEEL_OK;
}

/* After the version: CRLF (requests) or SP (responses). A well-formed
 * version other than 1.0 / 1.1 is 505 once the version is known to end. */
/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
__attribute__((always_inline)) static inline KEEL_MUST_USE keel_result
parse_version_end(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    size_t lim = parse_limit(p->st_.start, p->cfg.limits.max_start_line, in.len);
    uint8_t c = in.ptr[i];
    bool supported = p->st_.major == 1u && p->st_.minor <= 1u;
    if (i >= lim && !parse_is_eol(c)) {
        return parse_fail(p, i, KEEL_HTTP_START_LINE_TOO_LONG);
    }
    if (p->kind == KEEL_HTTP_RESPONSE) {
        if (c == ' ') {
            if (!supported) {
                return parse_fail(p, p->st_.version, KEEL_HTTP_UNSUPPORTED_VERSION);
            }
            p->st_.vidx = 0;
            p->st_.status = 0;
            p->st_.state = ST_STATUS;
            p->st_.pos = i + 1;
            return KEEL_OK;
        }
        return parse_fail(p, i, parse_is_eol(c) ? KEEL_HTTP_BAD_START_LINE : KEEL_HTTP_BAD_VERSION);
    }
    if (!parse_is_eol(c)) {
        return parse_fail(p, i, c == ' ' ? KEEL_HTTP_BAD_START_LINE : KEEL_HTTP_BAD_VERSION);
    }
    if (!supported) {
        return parse_fail(p, p->st_.version, KEEL_HTTP_UNSUPPORTED_VERSION);
    }
    if (c == '\r') {
        p->st_.state = ST_LINE_LF;
        p->st_.pos = i + 1;
        return i + 1 < in.len ? parse_line_lf(p, in) : KEEL_OK;
    }
    if ((p->cfg.lenient & KEEL_HTTP_LENIENT_BARE_LF) == 0) {
        return parse_fail(p, i, KEEL_HTTP_BARE_LF);
    }
    return parse_start_done(p, in, i + 1);
}

/* Responses: three digits, 100..599, then SP (or the line end with
 * LENIENT_NO_REASON_SP). */
/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
static KEEL_MUST_USE keel_result parse_status(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    size_t lim = parse_limit(p->st_.start, p->cfg.limits.max_start_line, in.len);
    /* The loop runs on locals; p is written once, after it, and every
     * failure leaves through one parse_fail (fewer paths per goal). */
    keel_http_reason why = KEEL_HTTP_OK;
    size_t at = i;
    uint8_t k = p->st_.vidx;
    uint16_t status = p->st_.status;
    /*@ loop invariant \at(p->st_.pos, Pre) <= i <= in.len;
        loop invariant i == \at(p->st_.pos, Pre) ==> k == \at(p->st_.vidx, Pre);
        loop assigns i, k, status, why, at;
        loop variant in.len - i;
    */
    while (i < in.len && k < 3u) {
        uint8_t c = in.ptr[i];
        if (i >= lim && !parse_is_eol(c)) {
            why = KEEL_HTTP_START_LINE_TOO_LONG;
            at = i;
            break;
        }
        if ((khttp_class[c] & KHTTP_DIGIT) == 0) {
            why = KEEL_HTTP_BAD_STATUS;
            at = i;
            break;
        }
        status = (uint16_t)(status % 100u * 10u + (uint16_t)(c - '0'));
        k++;
        i++;
    }
    uint8_t c = i < in.len ? in.ptr[i] : 0;
    uint8_t next = ST_STATUS;
    if (why != KEEL_HTTP_OK || i == in.len) {
        /* failed in the loop, or all in view taken */
    } else if (i >= lim && !parse_is_eol(c)) {
        why = KEEL_HTTP_START_LINE_TOO_LONG;
        at = i;
    } else if (c != ' ' && !parse_is_eol(c)) {
        why = KEEL_HTTP_BAD_STATUS;
        at = i;
    } else if (status < 100u || status > 599u) {
        why = KEEL_HTTP_BAD_STATUS;
        at = i >= 3u ? i - 3u : i;
    } else if (c == ' ') {
        next = ST_REASON; /* the reason phrase starts after the SP */
    } else if ((p->cfg.lenient & KEEL_HTTP_LENIENT_NO_REASON_SP) == 0) {
        why = KEEL_HTTP_BAD_START_LINE;
        at = i;
    } else if (c == '\r') {
        next = ST_LINE_LF;
    } else if ((p->cfg.lenient & KEEL_HTTP_LENIENT_BARE_LF) == 0) {
        why = KEEL_HTTP_BARE_LF;
        at = i;
    } else {
        next = ST_FIELDS;
    }
    p->st_.vidx = k;
    p->st_.status = status;
    if (why != KEEL_HTTP_OK) {
        return parse_fail(p, at, why);
    }
    if (next == ST_STATUS) {
        p->st_.pos = i;
        return KEEL_OK;
    }
    if (next == ST_REASON) {
        p->st_.target = i + 1; /* the reason phrase */
        p->st_.state = ST_REASON;
        p->st_.pos = i + 1;
        return KEEL_OK;
    }
    p->st_.target = i;
    p->st_.target_end = i;
    if (next == ST_LINE_LF) {
        p->st_.state = ST_LINE_LF;
        p->st_.pos = i + 1;
        return KEEL_OK;
    }
    return parse_start_done(p, in, i + 1);
}

/* Responses: reason-phrase = *( HTAB / SP / VCHAR / obs-text ). */
/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
static KEEL_MUST_USE keel_result parse_reason(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    size_t lim = parse_limit(p->st_.start, p->cfg.limits.max_start_line, in.len);
    /*@ loop invariant \at(p->st_.pos, Pre) <= i <= in.len;
        loop assigns i;
        loop variant in.len - i;
    */
    while (i < lim && (khttp_class[in.ptr[i]] & KHTTP_TEXT) != 0) {
        i++;
    }
    if (i == in.len) {
        p->st_.pos = i;
        return KEEL_OK;
    }
    uint8_t c = in.ptr[i];
    if (i >= lim && !parse_is_eol(c)) {
        return parse_fail(p, i, KEEL_HTTP_START_LINE_TOO_LONG);
    }
    p->st_.target_end = i;
    if (c == '\r') {
        p->st_.state = ST_LINE_LF;
        p->st_.pos = i + 1;
        return KEEL_OK;
    }
    if (c != '\n') {
        return parse_fail(p, i, KEEL_HTTP_BAD_REASON_PHRASE);
    }
    if ((p->cfg.lenient & KEEL_HTTP_LENIENT_BARE_LF) == 0) {
        return parse_fail(p, i, KEEL_HTTP_BARE_LF);
    }
    return parse_start_done(p, in, i + 1);
}

/* The LF after the start line's CR. */
/*@ requires step_pre(p, in);
    assigns p->st_;
    ensures step_ok{Pre, Post}(p, in, \result);
*/
__attribute__((always_inline)) static inline KEEL_MUST_USE keel_result
parse_line_lf(keel_http_parser *p, keel_slice in)
{
    size_t i = p->st_.pos;
    if (in.ptr[i] != '\n') {
        return parse_fail(p, i, KEEL_HTTP_BARE_CR);
    }
    return parse_start_done(p, in, i + 1);
}

/* ---- the header section ---------------------------------------------------- */

/* A field line (or the rest of one) through the shared scanner's state
 * machine, from the resume point (i < end): the line is cut by the end of
 * in, has a byte the state machine must judge, or came over several calls.
 * *next = 0: nothing to store (the head's end, or more bytes needed; the
 * parser's state says which), else a field line ends at *next, its name
 * and value offsets in p->st_.line and p->st_.fs, checked here. */
/*@ requires step_pre(p, in) && p->st_.pos < end <= in.len;
    requires \valid(next) && \separated(next, p);
    assigns p->st_, *next;
    ensures run_ok(p, in);
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result != KEEL_OK ==> p->st_.state == ST_ERROR;
    ensures \result == KEEL_OK && *next == 0 ==>
              p->st_.pos > \old(p->st_.pos) &&
              (p->st_.state == ST_DONE || p->st_.state == \old(p->st_.state));
    ensures \result == KEEL_OK && *next != 0 ==>
              p->st_.pos == \old(p->st_.pos) && p->st_.state == \old(p->st_.state) &&
              \old(p->st_.pos) < *next <= in.len && p->st_.hdr <= p->st_.line &&
              p->st_.line < p->st_.fs.name_end && p->st_.fs.name_end < p->st_.fs.value_start &&
              p->st_.fs.value_start <= p->st_.fs.value_end && p->st_.fs.value_end <= in.len;
*/
static KEEL_MUST_USE keel_result parse_field_line_scan(keel_http_parser *p, keel_slice in,
                                                       size_t end, bool bare_lf, size_t *next)
{
    size_t i = p->st_.pos;
    keel_http_error e = { 0, KEEL_HTTP_OK, 0 };
    *next = 0;
    if (p->st_.fs.state >= KHTTP_FL_FIELD) {
        p->st_.fs.state = KHTTP_FL_START; /* unreachable: reset after every line */
    }
    keel_result r = khttp_field_line(&p->st_.fs, in, &i, end, bare_lf, &e);
    if (r == KEEL_ERR_INCOMPLETE) {
        if (i < in.len) {
            return parse_fail(p, i, KEEL_HTTP_HEADERS_TOO_LARGE);
        }
        p->st_.pos = i;
        return KEEL_OK;
    }
    if (r != KEEL_OK) {
        return parse_fail(p, e.offset, e.reason);
    }
    if (p->st_.fs.state == KHTTP_FL_EMPTY) {
        p->st_.state = ST_DONE;
        p->st_.pos = i;
        return KEEL_OK;
    }
    size_t line = p->st_.line;
    if (!(p->st_.hdr <= line && line < p->st_.fs.name_end &&
          p->st_.fs.name_end < p->st_.fs.value_start &&
          p->st_.fs.value_start <= p->st_.fs.value_end && p->st_.fs.value_end <= in.len)) {
        return parse_fail(p, line <= in.len ? line : in.len, KEEL_HTTP_BAD_FIELD_NAME);
    }
    *next = i;
    return KEEL_OK;
}

/* One field line (or the rest of one) from the resume point, bounded by
 * end (max_header_bytes from the section's first byte): a whole line in one
 * pass when it is all there and well-formed (parse_fl_whole, whose
 * contract puts its offsets in order), else through the state machine
 * (parse_field_line_scan, which checks them). */
/*@ requires step_pre(p, in) && hdrs_ok(p, hs, cap);
    requires end <= in.len;
    assigns p->st_, hs[0 .. cap - 1];
    ensures run_ok(p, in);
    ensures hdrs_ok(p, hs, cap);
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_OK ==> p->st_.pos > \old(p->st_.pos);
    ensures \result == KEEL_OK ==>
              p->st_.state == ST_DONE || p->st_.state == \old(p->st_.state);
    ensures \result != KEEL_OK ==> p->st_.state == ST_ERROR;
*/
static KEEL_MUST_USE keel_result parse_field_line(keel_http_parser *p, keel_slice in,
                                                  keel_http_header *hs, size_t cap,
                                                  size_t end, bool bare_lf)
{
    size_t i = p->st_.pos;
    if (i >= end) {
        return parse_fail(p, i, KEEL_HTTP_HEADERS_TOO_LARGE);
    }
    size_t next = 0;
    if (p->st_.fs.state == KHTTP_FL_START) {
        size_t w = parse_fl_whole(&p->st_.fs, in, i, end, bare_lf);
        if (w > i && p->st_.hdr <= i) {
            p->st_.line = i;
            next = w; /* a whole field line */
        } else if (in.ptr[i] == '\r' && end - i >= 2u && in.ptr[i + 1u] == '\n') {
            p->st_.state = ST_DONE; /* the empty line */
            p->st_.pos = i + 2u;
            return KEEL_OK;
        }
    }
    if (next == 0) {
        keel_result r = parse_field_line_scan(p, in, end, bare_lf, &next);
        if (r != KEEL_OK || next == 0) {
            return r;
        }
    }
    keel_result r = parse_field(p, in, hs, cap, p->st_.line, p->st_.fs.name_end,
                                p->st_.fs.value_start, p->st_.fs.value_end);
    if (r != KEEL_OK) {
        return r;
    }
    p->st_.fs.state = KHTTP_FL_START;
    p->st_.line = next;
    p->st_.pos = next;
    return KEEL_OK;
}

/* The field lines, one after another without going back to the driver:
 * until the empty line (ST_DONE), the end of in, or an error. */
/*@ requires step_pre(p, in) && hdrs_ok(p, hs, cap);
    assigns p->st_, hs[0 .. cap - 1];
    ensures run_ok(p, in);
    ensures hdrs_ok(p, hs, cap);
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_OK ==> p->st_.pos > \old(p->st_.pos);
    ensures \result == KEEL_OK ==> p->st_.state != ST_ERROR;
    ensures \result != KEEL_OK ==> p->st_.state == ST_ERROR;
*/
static KEEL_MUST_USE keel_result parse_fields(keel_http_parser *p, keel_slice in,
                                              keel_http_header *hs, size_t cap)
{
    size_t end = parse_limit(p->st_.hdr, p->cfg.limits.max_header_bytes, in.len);
    bool bare_lf = (p->cfg.lenient & KEEL_HTTP_LENIENT_BARE_LF) != 0;
    /*@ loop invariant step_pre(p, in) && hdrs_ok(p, hs, cap);
        loop invariant \at(p->st_.pos, Pre) <= p->st_.pos;
        loop invariant p->st_.state == \at(p->st_.state, Pre);
        loop assigns p->st_, hs[0 .. cap - 1];
        loop variant in.len - p->st_.pos;
    */
    for (;;) {
        keel_result r = parse_field_line(p, in, hs, cap, end, bare_lf);
        if (r != KEEL_OK || p->st_.state == ST_DONE || p->st_.pos >= in.len) {
            return r;
        }
    }
}

/* ---- the driver -------------------------------------------------------------- */

/*@ requires step_pre(p, in) && hdrs_ok(p, hs, cap);
    assigns p->st_, hs[0 .. cap - 1];
    ensures step_ok{Pre, Post}(p, in, \result) && hdrs_ok(p, hs, cap);
*/
static KEEL_MUST_USE keel_result parse_step(keel_http_parser *p, keel_slice in,
                                            keel_http_header *hs, size_t cap)
{
    keel_result r;
    switch (p->st_.state) {
    case ST_SKIP:
    case ST_SKIP_LF:
        r = parse_skip(p, in);
        break;
    case ST_METHOD:
        r = parse_method(p, in);
        break;
    case ST_TARGET:
        r = parse_target(p, in);
        break;
    case ST_PCT1:
    case ST_PCT2:
        r = parse_pct(p, in);
        break;
    case ST_VERSION:
        r = parse_version(p, in);
        break;
    case ST_VERSION_END:
        r = parse_version_end(p, in);
        break;
    case ST_STATUS:
        r = parse_status(p, in);
        break;
    case ST_REASON:
        r = parse_reason(p, in);
        break;
    case ST_LINE_LF:
        r = parse_line_lf(p, in);
        break;
    default: /* ST_FIELDS: step_pre leaves no other state */
        r = parse_fields(p, in, hs, cap);
        break;
    }
    return r;
}

/* Run the state machine over in from the resume point: KEEL_OK when the
 * head is complete (st_.pos is its length), INCOMPLETE when in ends first,
 * or the (sticky) error. */
/*@ requires run_ok(p, in) && parser_mem(p);
    assigns p->st_, p->headers[0 .. p->header_cap - 1];
    ensures run_ok(p, in) && parser_mem(p);
    ensures p->headers == \old(p->headers) && p->header_cap == \old(p->header_cap);
    ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
            \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_OK ==> p->st_.state == ST_DONE;
    ensures \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE ==> p->st_.state == ST_ERROR;
*/
static KEEL_MUST_USE keel_result parse_run(keel_http_parser *p, keel_slice in)
{
    if (p->st_.state == ST_ERROR) {
        return khttp_reason_result(p->st_.err.reason);
    }
    keel_http_header *hs = p->headers;
    size_t cap = p->header_cap;
    /*@ loop invariant run_ok(p, in) && hdrs_ok(p, hs, cap) && p->st_.state != ST_ERROR;
        loop assigns p->st_, hs[0 .. cap - 1];
        loop variant in.len - p->st_.pos;
    */
    while (p->st_.state != ST_DONE) {
        if (p->st_.pos >= in.len) {
            return KEEL_ERR_INCOMPLETE;
        }
        keel_result r = parse_step(p, in, hs, cap);
        if (r != KEEL_OK) {
            return r;
        }
    }
    return KEEL_OK;
}

/* ---- results ------------------------------------------------------------------ */

/* in[off, off + len) as a slice; the empty slice when len is 0 or the range
 * does not fit in (it always does: the offsets come from this parse, and
 * in only grew). */
/*@ requires valid_slice(in);
    assigns \nothing;
    ensures valid_slice(\result) && within(\result, in);
    ensures \result.len == 0 || (\result.ptr == in.ptr + off && off + \result.len <= in.len);
*/
static keel_slice parse_view(keel_slice in, size_t off, size_t len)
{
    keel_slice v = { NULL, 0 };
    if (len > 0 && off <= in.len && len <= in.len - off) {
        v.ptr = in.ptr + off;
        v.len = len;
    }
    return v;
}

/* What requests and responses share: version, the field lines as slices of
 * in, Upgrade. A line's offsets and lengths are read back from the caller's
 * array and checked against in again (a line that does not fit becomes two
 * empty slices); only the pointers are written, the lengths are in place. */
/*@ requires \valid_read(p) && valid_slice(in) && \valid(hs + (0 .. cap - 1)) && \valid(head);
    requires \separated(head, hs + (0 .. cap - 1));
    assigns *head, hs[0 .. cap - 1];
    ensures head->headers == hs && head->header_count <= cap;
    ensures heads_within(hs, head->header_count, in);
*/
static void parse_head(keel_http_parser *p, keel_slice in, keel_http_header *hs, size_t cap,
                       keel_http_head *head)
{
    size_t n = p->st_.count <= cap ? p->st_.count : cap;
    size_t hdr = p->st_.hdr <= in.len ? p->st_.hdr : in.len;
    size_t room = in.len - hdr;
    const uint8_t *base = in.ptr + hdr;
    uint8_t minor = p->st_.minor;
    bool upgrade = (p->st_.flags & F_UPGRADE) != 0;
    /*@ loop invariant 0 <= k <= n && n <= cap;
        loop invariant heads_within(hs, k, in);
        loop assigns k, hs[0 .. cap - 1];
        loop variant n - k;
    */
    for (size_t k = 0; k < n; k++) {
        keel_http_header *h = &hs[k];
        size_t no = h->name_off_;
        size_t vo = h->value_off_;
        if (no <= room && h->name.len <= room - no && vo <= room && h->value.len <= room - vo) {
            h->name.ptr = base + no;
            h->value.ptr = base + vo;
        } else {
            h->name = (keel_slice){ NULL, 0 };
            h->value = (keel_slice){ NULL, 0 };
        }
    }
    head->version_minor = minor;
    head->headers = hs;
    head->header_count = n;
    head->has_upgrade = upgrade;
    head->body = KEEL_HTTP_BODY_NONE;
    head->content_length = 0;
    head->keep_alive = false;
}

/* keep-alive by version: HTTP/1.1 unless "close", HTTP/1.0 only with
 * "keep-alive" (and no "close"). */
/*@ assigns \nothing; */
static bool parse_keep_alive(uint8_t minor, uint32_t flags)
{
    if ((flags & F_CLOSE) != 0) {
        return false;
    }
    return minor == 1u || (flags & F_KEEP) != 0;
}

/*@ predicate request_out{L}(keel_http_request *req, keel_slice in) =
      within(req->method, in) && within(req->target, in) && within(req->path, in) &&
      within(req->query, in) && within(req->authority, in) &&
      valid_slice(req->method) && valid_slice(req->target) && valid_slice(req->path) &&
      valid_slice(req->query) && valid_slice(req->authority);
*/

/* Body framing and keep-alive of a request (RFC 9112 6.3): chunked,
 * Content-Length or none. */
/*@ requires \valid_read(p) && \valid(head) && \separated(head, p);
    assigns head->body, head->content_length, head->keep_alive;
*/
static void parse_request_framing(const keel_http_parser *p, keel_http_head *head)
{
    uint32_t f = p->st_.flags;
    if ((f & F_TE) != 0) {
        head->body = KEEL_HTTP_BODY_CHUNKED;
    } else if ((f & F_CL) != 0) {
        head->body = KEEL_HTTP_BODY_LENGTH;
        head->content_length = p->st_.content_length;
    }
    head->keep_alive = parse_keep_alive(p->st_.minor, f);
}

/* The request line's parts as slices of in, and what Expect asked. */
/*@ requires \valid_read(p) && valid_slice(in) && \valid(req) && \separated(req, p);
    assigns req->method, req->method_id, req->target, req->form, req->path, req->query,
            req->authority, req->expect_continue, req->expect_other;
    ensures request_out(req, in);
*/
static void parse_request_line_out(const keel_http_parser *p, keel_slice in,
                                   keel_http_request *req)
{
    uint32_t f = p->st_.flags;
    req->method = parse_view(in, p->st_.start, p->st_.method_end - p->st_.start);
    req->method_id = (keel_http_method)p->st_.method;
    req->target = parse_view(in, p->st_.target, p->st_.target_end - p->st_.target);
    req->form = (keel_http_target_form)p->st_.form;
    req->path = parse_view(in, p->st_.path, p->st_.path_len);
    req->query = (f & F_QUERY) != 0
                     ? parse_view(in, p->st_.query + 1u, p->st_.target_end - p->st_.query - 1u)
                     : parse_view(in, 0, 0);
    req->authority = parse_view(in, p->st_.auth, p->st_.auth_len);
    req->expect_continue = (f & F_EXPECT_CONT) != 0;
    req->expect_other = (f & F_EXPECT_OTHER) != 0;
}

/*@ requires run_ok(p, in) && hdrs_ok(p, hs, cap) && \valid(req) && \separated(req, p);
    requires \separated(req, hs + (0 .. cap - 1));
    assigns *req, p->st_, hs[0 .. cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> request_out(req, in);
    ensures \result == KEEL_OK ==> req->head.header_count <= cap && req->head.headers == hs &&
              heads_within(hs, req->head.header_count, in);
    ensures \result != KEEL_OK ==> p->st_.state == ST_ERROR;
*/
static KEEL_MUST_USE keel_result parse_finish_request(keel_http_parser *p, keel_slice in,
                                                      keel_http_header *hs, size_t cap,
                                                      keel_http_request *req)
{
    if (p->st_.minor == 1u && (p->st_.flags & F_HOST) == 0 &&
        (p->cfg.lenient & KEEL_HTTP_LENIENT_MISSING_HOST) == 0) {
        return parse_fail(p, p->st_.line, KEEL_HTTP_MISSING_HOST);
    }
    parse_request_line_out(p, in, req);
    parse_head(p, in, hs, cap, &req->head);
    parse_request_framing(p, &req->head);
    return KEEL_OK;
}

/* Response framing (RFC 9112 6.3): no body after HEAD, for 1xx, 204, 304
 * and a 2xx to CONNECT; then chunked, Content-Length, or until close. The
 * status and the reason phrase (a slice of in). */
/*@ requires \valid_read(p) && valid_slice(in) && \valid(resp) && \separated(resp, p);
    assigns resp->head.body, resp->head.content_length, resp->head.keep_alive, resp->status,
            resp->reason;
    ensures within(resp->reason, in) && valid_slice(resp->reason);
*/
static void parse_response_framing(const keel_http_parser *p, keel_slice in,
                                   keel_http_method method, keel_http_response *resp)
{
    uint32_t f = p->st_.flags;
    uint16_t status = p->st_.status;
    bool tunnel = method == KEEL_HTTP_CONNECT && status >= 200u && status < 300u;
    if (method == KEEL_HTTP_HEAD || status < 200u || status == 204u || status == 304u || tunnel) {
        resp->head.body = KEEL_HTTP_BODY_NONE;
    } else if ((f & F_TE) != 0) {
        resp->head.body = KEEL_HTTP_BODY_CHUNKED;
    } else if ((f & F_CL) != 0) {
        resp->head.body = KEEL_HTTP_BODY_LENGTH;
        resp->head.content_length = p->st_.content_length;
    } else {
        resp->head.body = KEEL_HTTP_BODY_UNTIL_CLOSE;
    }
    resp->head.keep_alive = parse_keep_alive(p->st_.minor, f) &&
                            resp->head.body != KEEL_HTTP_BODY_UNTIL_CLOSE && status != 101u &&
                            !tunnel;
    resp->status = status;
    resp->reason = parse_view(in, p->st_.target, p->st_.target_end - p->st_.target);
}

/*@ requires run_ok(p, in) && hdrs_ok(p, hs, cap) && \valid(resp) && \separated(resp, p);
    requires \separated(resp, hs + (0 .. cap - 1));
    assigns *resp, hs[0 .. cap - 1];
    ensures within(resp->reason, in) && valid_slice(resp->reason);
    ensures resp->head.header_count <= cap && resp->head.headers == hs;
    ensures heads_within(hs, resp->head.header_count, in);
*/
static void parse_finish_response(keel_http_parser *p, keel_slice in, keel_http_header *hs,
                                  size_t cap, keel_http_method method, keel_http_response *resp)
{
    parse_head(p, in, hs, cap, &resp->head);
    parse_response_framing(p, in, method, resp);
}

/* ---- the API ------------------------------------------------------------------- */

/*@ requires p == \null || \valid_read(p);
    assigns \nothing;
    ensures \result <==> p != \null && parser_shape(p);
*/
static bool parse_shape_ok(const keel_http_parser *p)
{
    return p != NULL && (p->kind == KEEL_HTTP_REQUEST || p->kind == KEEL_HTTP_RESPONSE) &&
           (p->headers != NULL || p->header_cap == 0) && p->st_.count <= p->header_cap &&
           p->st_.state <= ST_ERROR && p->st_.fs.state <= KHTTP_FL_EMPTY;
}

/*@ requires cfg == \null || \valid_read(cfg);
    requires \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==>
              1 <= out->limits.max_start_line <= KEEL_HTTP_LIMIT_CAP &&
              1 <= out->limits.max_header_bytes <= KEEL_HTTP_LIMIT_CAP &&
              1 <= out->limits.max_chunk_ext <= KEEL_HTTP_LIMIT_CAP &&
              1 <= out->limits.max_trailer_bytes <= KEEL_HTTP_LIMIT_CAP;
*/
keel_result khttp_config_resolve(const keel_http_config *cfg, keel_http_config *out)
{
    keel_http_config c = { { 0, 0, 0, 0 }, 0 };
    if (cfg != NULL) {
        c = *cfg;
    }
    if (c.limits.max_start_line > KEEL_HTTP_LIMIT_CAP ||
        c.limits.max_header_bytes > KEEL_HTTP_LIMIT_CAP ||
        c.limits.max_chunk_ext > KEEL_HTTP_LIMIT_CAP ||
        c.limits.max_trailer_bytes > KEEL_HTTP_LIMIT_CAP || (c.lenient & ~KHTTP_LENIENT_ALL) != 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (c.limits.max_start_line == 0) {
        c.limits.max_start_line = KEEL_HTTP_DEFAULT_MAX_START_LINE;
    }
    if (c.limits.max_header_bytes == 0) {
        c.limits.max_header_bytes = KEEL_HTTP_DEFAULT_MAX_HEADER_BYTES;
    }
    if (c.limits.max_chunk_ext == 0) {
        c.limits.max_chunk_ext = KEEL_HTTP_DEFAULT_MAX_CHUNK_EXT;
    }
    if (c.limits.max_trailer_bytes == 0) {
        c.limits.max_trailer_bytes = KEEL_HTTP_DEFAULT_MAX_TRAILER_BYTES;
    }
    *out = c;
    return KEEL_OK;
}

/*@ requires p == \null || \valid(p);
    assigns p->st_;
    ensures p != \null ==> p->st_.pos == 0 && p->st_.count == 0 &&
              p->st_.state <= ST_VERSION && p->st_.fs.state == KHTTP_FL_START;
*/
void keel_http_parser_reset(keel_http_parser *p)
{
    if (p == NULL) {
        return;
    }
    keel_http_pstate_ *s = &p->st_;
    s->state = p->kind == KEEL_HTTP_RESPONSE ? ST_VERSION : ST_SKIP;
    s->flags = 0;
    s->pos = 0;
    s->start = 0;
    s->hdr = 0;
    s->line = 0;
    s->method_end = 0;
    s->target = 0;
    s->target_end = 0;
    s->query = 0;
    s->path = 0;
    s->path_len = 0;
    s->auth = 0;
    s->auth_len = 0;
    s->version = 0;
    s->count = 0;
    s->content_length = 0;
    s->status = 0;
    s->vidx = 0;
    s->major = 0;
    s->minor = 0;
    s->method = KEEL_HTTP_OTHER;
    s->form = 0;
    s->fs.state = KHTTP_FL_START;
    s->fs.name_end = 0;
    s->fs.value_start = 0;
    s->fs.value_end = 0;
    s->err.offset = 0;
    s->err.reason = KEEL_HTTP_OK;
    s->err.status = 0;
}

/*@ requires p == \null || \valid(p);
    requires cfg == \null || \valid_read(cfg);
    requires header_cap > 0 && headers != \null ==> \valid(headers + (0 .. header_cap - 1));
    requires p != \null && header_cap > 0 && headers != \null ==>
               \separated(p, headers + (0 .. header_cap - 1));
    assigns *p;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures p == \null || !kind_ok(kind) || (headers == \null && header_cap > 0) ==>
              \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> p->kind == kind && p->headers == headers &&
              p->header_cap == header_cap && p->st_.pos == 0;
    ensures \result == KEEL_OK ==> parser_shape(p);
    ensures \result == KEEL_OK ==> parser_mem(p);
*/
keel_result keel_http_parser_init(keel_http_parser *p, keel_http_kind kind,
                                  const keel_http_config *cfg, keel_http_header *headers,
                                  size_t header_cap)
{
    keel_http_config c;
    if (p == NULL || (kind != KEEL_HTTP_REQUEST && kind != KEEL_HTTP_RESPONSE) ||
        (headers == NULL && header_cap > 0)) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(khttp_config_resolve(cfg, &c));
    p->kind = kind;
    p->cfg = c;
    p->headers = headers;
    p->header_cap = header_cap;
    keel_http_parser_reset(p);
    return KEEL_OK;
}

/*@ requires p == \null || \valid_read(p);
    assigns \nothing;
    ensures p == \null ==> \result.reason == KEEL_HTTP_OK && \result.offset == 0;
*/
keel_http_error keel_http_parser_error(const keel_http_parser *p)
{
    keel_http_error none = { 0, KEEL_HTTP_OK, 0 };
    if (p == NULL || p->st_.state != ST_ERROR) {
        return none;
    }
    return p->st_.err;
}

/* The checks both parse functions make before touching anything. */
/* (A parser whose last head was complete starts over: its resume point
 * then says nothing about in.) */
/*@ requires parser_arg(p) && slice_arg(in);
    assigns \nothing;
    ensures \result <==> p != \null && parser_shape(p) && p->kind == kind && slice_shape(in) &&
                         (p->st_.state == ST_DONE || p->st_.pos <= in.len);
*/
static bool parse_args_ok(const keel_http_parser *p, keel_http_kind kind, keel_slice in)
{
    return parse_shape_ok(p) && p->kind == kind && keel_slice_valid(in) &&
           (p->st_.state == ST_DONE || p->st_.pos <= in.len);
}

/*@ requires parser_arg(p) && slice_arg(in);
    requires req == \null || \valid(req);
    requires consumed == \null || \valid(consumed);
    requires err == \null || \valid(err);
    requires p != \null && req != \null && consumed != \null ==>
               \separated(p, req, consumed) &&
               (parser_shape(p) ==>
                  \separated(p->headers + (0 .. p->header_cap - 1), req, consumed));
    requires p != \null && err != \null ==>
               \separated(p, err) &&
               (parser_shape(p) ==> \separated(p->headers + (0 .. p->header_cap - 1), err));
    requires req != \null && err != \null ==> \separated(req, err);
    requires consumed != \null && err != \null ==> \separated(consumed, err);
    assigns p->st_, p->headers[0 .. p->header_cap - 1], *req, *consumed, *err;
    behavior invalid:
      assumes p == \null || req == \null || consumed == \null ||
              !parser_shape(p) || p->kind != KEEL_HTTP_REQUEST || !slice_shape(in) ||
              (p->st_.state != ST_DONE && p->st_.pos > in.len);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior parse:
      assumes p != \null && req != \null && consumed != \null &&
              parser_shape(p) && p->kind == KEEL_HTTP_REQUEST && slice_shape(in) &&
              (p->st_.state == ST_DONE || p->st_.pos <= in.len);
      ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
              \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
      ensures \result != KEEL_OK ==> *consumed == 0;
      ensures *consumed <= in.len;
      ensures \result == KEEL_OK ==> request_out(req, in);
      ensures \result == KEEL_OK ==>
                req->head.header_count <= \old(p->header_cap) &&
                req->head.headers == \old(p->headers) &&
                heads_within(\old(p->headers), req->head.header_count, in);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_http_parse_request(keel_http_parser *p, keel_slice in, keel_http_request *req,
                                    size_t *consumed, keel_http_error *err)
{
    if (req == NULL || consumed == NULL || !parse_args_ok(p, KEEL_HTTP_REQUEST, in)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (p->st_.state == ST_DONE) {
        keel_http_parser_reset(p); /* the last call returned a head: a new message */
    }
    keel_http_header *hs = p->headers;
    size_t cap = p->header_cap;
    /*@ assert hs == \at(p->headers, Pre) && cap == \at(p->header_cap, Pre); */
    keel_result r = parse_run(p, in);
    if (r == KEEL_OK) {
        size_t n = p->st_.pos;
        /*@ assert n <= in.len; */
        r = parse_finish_request(p, in, hs, cap, req);
        if (r == KEEL_OK) {
            *consumed = n;
            return KEEL_OK;
        }
    }
    *consumed = 0;
    if (r != KEEL_ERR_INCOMPLETE && err != NULL) {
        *err = p->st_.err;
    }
    return r;
}

/*@ requires parser_arg(p) && slice_arg(in);
    requires resp == \null || \valid(resp);
    requires consumed == \null || \valid(consumed);
    requires err == \null || \valid(err);
    requires p != \null && resp != \null && consumed != \null ==>
               \separated(p, resp, consumed) &&
               (parser_shape(p) ==>
                  \separated(p->headers + (0 .. p->header_cap - 1), resp, consumed));
    requires p != \null && err != \null ==>
               \separated(p, err) &&
               (parser_shape(p) ==> \separated(p->headers + (0 .. p->header_cap - 1), err));
    requires resp != \null && err != \null ==> \separated(resp, err);
    requires consumed != \null && err != \null ==> \separated(consumed, err);
    assigns p->st_, p->headers[0 .. p->header_cap - 1], *resp, *consumed, *err;
    behavior invalid:
      assumes p == \null || resp == \null || consumed == \null ||
              !parser_shape(p) || p->kind != KEEL_HTTP_RESPONSE || !slice_shape(in) ||
              (p->st_.state != ST_DONE && p->st_.pos > in.len);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior parse:
      assumes p != \null && resp != \null && consumed != \null &&
              parser_shape(p) && p->kind == KEEL_HTTP_RESPONSE && slice_shape(in) &&
              (p->st_.state == ST_DONE || p->st_.pos <= in.len);
      ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
              \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
      ensures \result != KEEL_OK ==> *consumed == 0;
      ensures *consumed <= in.len;
      ensures \result == KEEL_OK ==> within(resp->reason, in) && valid_slice(resp->reason);
      ensures \result == KEEL_OK ==>
                resp->head.header_count <= \old(p->header_cap) &&
                resp->head.headers == \old(p->headers) &&
                heads_within(\old(p->headers), resp->head.header_count, in);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_http_parse_response(keel_http_parser *p, keel_slice in,
                                     keel_http_method request_method, keel_http_response *resp,
                                     size_t *consumed, keel_http_error *err)
{
    if (resp == NULL || consumed == NULL || !parse_args_ok(p, KEEL_HTTP_RESPONSE, in)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (p->st_.state == ST_DONE) {
        keel_http_parser_reset(p); /* the last call returned a head: a new message */
    }
    keel_http_header *hs = p->headers;
    size_t cap = p->header_cap;
    /*@ assert hs == \at(p->headers, Pre) && cap == \at(p->header_cap, Pre); */
    keel_result r = parse_run(p, in);
    if (r == KEEL_OK) {
        size_t n = p->st_.pos;
        /*@ assert n <= in.len; */
        parse_finish_response(p, in, hs, cap, request_method, resp);
        *consumed = n;
        return KEEL_OK;
    }
    *consumed = 0;
    if (r != KEEL_ERR_INCOMPLETE && err != NULL) {
        *err = p->st_.err;
    }
    return r;
}

/*@ requires head == \null || (\valid_read(head) &&
               (head->headers != \null ==> \valid_read(head->headers + (0 .. head->header_count - 1))) &&
               \forall integer k; 0 <= k < head->header_count && head->headers != \null ==>
                 slice_arg(head->headers[k].name));
    requires slice_arg(name);
    requires value == \null || \valid(value);
    assigns *value;
    ensures \result == KEEL_OK || \result == KEEL_ERR_NOT_FOUND || \result == KEEL_ERR_INVALID_ARG;
    ensures head == \null || value == \null || !slice_shape(name) ==> \result == KEEL_ERR_INVALID_ARG;
*/
keel_result keel_http_header_get(const keel_http_head *head, keel_slice name, keel_slice *value)
{
    if (head == NULL || value == NULL || !keel_slice_valid(name) ||
        (head->headers == NULL && head->header_count > 0)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t n = head->header_count;
    /*@ loop invariant 0 <= k <= n;
        loop assigns k;
        loop variant n - k;
    */
    for (size_t k = 0; k < n; k++) {
        if (keel_slice_eq_nocase(head->headers[k].name, name)) {
            *value = head->headers[k].value;
            return KEEL_OK;
        }
    }
    return KEEL_ERR_NOT_FOUND;
}

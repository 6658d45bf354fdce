/*
 * src/http/http_internal.h - what the HTTP head parser (parse.c) and the
 * chunked decoder (chunked.c) share: the byte-class table, the reason ->
 * result mapping, and the field-line scanner that checks header and trailer
 * field lines alike.
 *
 * All are defined in src/http/parse.c with their ACSL contracts (the proof
 * unit of chunked.c loads parse.c to lend them). They have external linkage
 * inside the library but no public visibility (-fvisibility=hidden): they
 * are not part of the API.
 */
#ifndef KEEL_HTTP_INTERNAL_H
#define KEEL_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/http.h"
#include "keel/result.h"
#include "keel/slice.h"

/* Byte classes (bits of khttp_class[byte]). */
#define KHTTP_TCHAR 0x01u  /* token (RFC 9110 5.6.2) */
#define KHTTP_VCHAR 0x02u  /* field-vchar: VCHAR / obs-text (not SP, HTAB) */
#define KHTTP_TARGET 0x04u /* request-target: unreserved / sub-delims / ":" "/" "@" "[" "]" (not '%', '?') */
#define KHTTP_HEX 0x08u    /* HEXDIG, either case */
#define KHTTP_HOST 0x10u   /* reg-name: unreserved / sub-delims (not '%') */
#define KHTTP_DIGIT 0x20u  /* DIGIT */
#define KHTTP_TEXT 0x40u   /* reason-phrase / field value bytes: VCHAR / obs-text / SP / HTAB */

extern const uint8_t khttp_class[256];

/* Field-line scanner states (keel_http_fieldscan_.state). A line is
 * scanned from KHTTP_FL_START; KEEL_OK leaves FIELD or EMPTY. */
#define KHTTP_FL_START 0u /* first byte of a line: a name, or CR/LF of the empty line */
#define KHTTP_FL_NAME 1u  /* inside the field name */
#define KHTTP_FL_OWS 2u   /* after ':', before the value */
#define KHTTP_FL_VALUE 3u /* inside the value */
#define KHTTP_FL_CR 4u    /* the CR that ends a field line */
#define KHTTP_FL_ECR 5u   /* the CR of the empty line */
#define KHTTP_FL_FIELD 6u /* done: a field line (LF consumed) */
#define KHTTP_FL_EMPTY 7u /* done: the empty line (LF consumed) */

/*@
  predicate limit_reason(integer r) =
      r == KEEL_HTTP_METHOD_TOO_LONG || r == KEEL_HTTP_TARGET_TOO_LONG ||
      r == KEEL_HTTP_START_LINE_TOO_LONG || r == KEEL_HTTP_TOO_MANY_HEADERS ||
      r == KEEL_HTTP_HEADERS_TOO_LARGE || r == KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE ||
      r == KEEL_HTTP_CHUNK_SIZE_TOO_LARGE || r == KEEL_HTTP_CHUNK_EXT_TOO_LARGE ||
      r == KEEL_HTTP_TRAILERS_TOO_LARGE;
  logic integer reason_result(integer r) =
      (r == KEEL_HTTP_METHOD_TOO_LONG || r == KEEL_HTTP_TARGET_TOO_LONG ||
       r == KEEL_HTTP_START_LINE_TOO_LONG || r == KEEL_HTTP_TOO_MANY_HEADERS ||
       r == KEEL_HTTP_HEADERS_TOO_LARGE || r == KEEL_HTTP_CONTENT_LENGTH_TOO_LARGE ||
       r == KEEL_HTTP_CHUNK_SIZE_TOO_LARGE || r == KEEL_HTTP_CHUNK_EXT_TOO_LARGE ||
       r == KEEL_HTTP_TRAILERS_TOO_LARGE) ? KEEL_ERR_TOO_LARGE : KEEL_ERR_PARSE;
*/

/* Every keel_http_lenient bit. */
#define KHTTP_LENIENT_ALL                                                                          \
    ((uint32_t)KEEL_HTTP_LENIENT_BARE_LF | (uint32_t)KEEL_HTTP_LENIENT_SAME_CONTENT_LENGTH |       \
     (uint32_t)KEEL_HTTP_LENIENT_MISSING_HOST | (uint32_t)KEEL_HTTP_LENIENT_NO_REASON_SP)

/* cfg (NULL: all defaults) checked (limits at most KEEL_HTTP_LIMIT_CAP, no
 * unknown lenient bit: else KEEL_ERR_INVALID_ARG) and with its 0 limits
 * replaced by the defaults, into *out. */
KEEL_MUST_USE keel_result khttp_config_resolve(const keel_http_config *cfg, keel_http_config *out);

/* KEEL_ERR_TOO_LARGE for the reasons that are a limit (a configured one or
 * the range of uint64), KEEL_ERR_PARSE for the others. */
KEEL_MUST_USE keel_result khttp_reason_result(keel_http_reason why);

/* Fill *e with the offset, the reason and its status; return the reason's
 * result (khttp_reason_result). */
KEEL_MUST_USE keel_result khttp_error(keel_http_error *e, size_t off, keel_http_reason why);

/* Scan field-line bytes in[*at .. end) (end <= in.len; end < in.len when a
 * limit stops the scan there) from state fs->state, leaving *at after the
 * last byte consumed:
 *  KEEL_OK: a line is complete (its LF consumed): fs->state is
 *    KHTTP_FL_FIELD (name_end, value_start and value_end set: the value
 *    without its surrounding whitespace) or KHTTP_FL_EMPTY.
 *  KEEL_ERR_INCOMPLETE: *at == end: every byte up to end was consumed.
 *  KEEL_ERR_PARSE: e says why and where (OBS_FOLD, BAD_FIELD_NAME,
 *    BAD_FIELD_VALUE, BARE_CR at the byte after the CR, BARE_LF), the
 *    offset relative to in.
 * Decisions depend on the state and the bytes only, so a line split across
 * calls (even with another in, as the chunked decoder does) is judged the
 * same. bare_lf accepts LF alone as a line end. */
KEEL_MUST_USE keel_result khttp_field_line(keel_http_fieldscan_ *fs, keel_slice in, size_t *at,
                                           size_t end, bool bare_lf, keel_http_error *e);

#endif /* KEEL_HTTP_INTERNAL_H */

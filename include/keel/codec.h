/**
 * @file
 * @brief keel/codec.h - framing: lines with a maximum length and length-prefixed
 * frames, as incremental decoders and all-or-nothing encoders over slices.
 * Pure: depends on keel/result.h and keel/slice.h only (keel/reader.h has
 * the blocking reader that pulls lines or frames from a keel socket).
 *
 * Conventions (in addition to those of keel/result.h and keel/slice.h):
 *  - The decoders are pure functions of their configuration and of the bytes
 *    offered (the line decoder also remembers how far it has already looked,
 *    so that offering a growing buffer again costs O(new bytes), not O(all)).
 *    They never allocate and never copy: a decoded line or payload is a
 *    slice INTO the input, valid as long as the input bytes are.
 *  - Every decode call writes *consumed: the bytes of the input the decoded
 *    item used (item + terminator or prefix) on KEEL_OK, 0 on every other
 *    result except INVALID_ARG (which writes nothing). The caller drops
 *    exactly those bytes before decoding the next item.
 *  - Results: KEEL_OK (one item decoded), KEEL_ERR_INCOMPLETE (the bytes so
 *    far are a valid beginning: offer the same bytes again with more
 *    appended), KEEL_ERR_TOO_LARGE (a configured limit is exceeded; reported
 *    as soon as the bytes present prove it, before the rest arrives, and the
 *    item is never split or truncated), KEEL_ERR_PARSE (malformed: more
 *    bytes will not help), KEEL_ERR_INVALID_ARG (a NULL pointer, an invalid
 *    slice/buf, an invalid mode or width). TOO_LARGE and PARSE are final for
 *    the stream: there is no resynchronisation; close the connection.
 *  - The encoders append one item to a keel_buf, or nothing at all: on any
 *    failure the buf is unchanged. An encoder refuses what its decoder with
 *    the same configuration would reject, so encode -> decode round-trips.
 *  - Thread-safety: decoders are plain values; use one per stream.
 *
 * Use from a stream read callback (keel/loop.h on_read), which is offered
 * every unconsumed byte and returns how many it consumed:
 *
 *     size_t total = 0;
 *     keel_slice rest = data, line;
 *     size_t used;
 *     while (keel_line_decode(&c->dec, rest, &line, &used) == KEEL_OK) {
 *         handle(line);
 *         total += used;
 *         if (keel_slice_from_off(rest, used, &rest) != KEEL_OK) break;
 *     }
 *     return total;   // INCOMPLETE: the rest comes back with more bytes
 *
 * (check the loop's final result: TOO_LARGE or PARSE means close the
 * stream). On r == KEEL_ERR_CLOSED, decode what is left with
 * keel_line_decode_final so that a last line without terminator is not lost.
 * Frames work the same way with keel_frame_decode.
 *
 * The contracts of src/codec/codec.c (ACSL, proven with Frama-C WP -wp-rte, see
 * proofs/) state the same: results, what is written, and that a decoded
 * item lies inside the input within the configured limit.
 */
#ifndef KEEL_CODEC_H
#define KEEL_CODEC_H

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

/* ---- lines ------------------------------------------------------------ */

/** How a line ends. In every mode the terminator is not part of the line.
 *  KEEL_LINE_LF    LF ends a line; a CR is ordinary data (also before LF).
 *  KEEL_LINE_ANY   LF or CRLF ends a line (a CR right before the LF is part
 *                  of the terminator); a CR anywhere else is ordinary data.
 *  KEEL_LINE_CRLF  only CRLF ends a line (strict protocols: SMTP, HTTP
 *                  framing): an LF without CR before it, or a CR not
 *                  followed by LF inside a line, is KEEL_ERR_PARSE. */
typedef enum keel_line_mode {
    KEEL_LINE_LF = 0,   /**< LF ends a line */
    KEEL_LINE_ANY = 1,  /**< LF or CRLF ends a line */
    KEEL_LINE_CRLF = 2  /**< only CRLF ends a line */
} keel_line_mode;

/** A line decoder: configuration plus the resumable scan position. Set it up
 * with keel_line_decoder_init; the fields are read by keel but belong to it
 * (scanned is internal state). */
typedef struct keel_line_decoder {
    size_t max_len;      /**< longest line accepted, terminator excluded */
    keel_line_mode mode; /**< how a line ends */
    size_t scanned;      /**< bytes at the front of the input known to hold no LF */
} keel_line_decoder;

/*@ predicate line_mode_ok(integer m) =
      m == KEEL_LINE_LF || m == KEEL_LINE_ANY || m == KEEL_LINE_CRLF;
*/

/** Configure d (scan position 0). Calling it again starts over, e.g. before
 * decoding unrelated input. INVALID_ARG if d is NULL or mode is not one of
 * the enum's values. Any max_len is valid; 0 accepts only empty lines. */
KEEL_MUST_USE keel_result keel_line_decoder_init(keel_line_decoder *d, size_t max_len,
                                                 keel_line_mode mode);

/** Decode the first line of in.
 *  KEEL_OK: *line is the line without its terminator (in[0, line->len),
 *    the empty slice for an empty line), *consumed = line + terminator.
 *  KEEL_ERR_INCOMPLETE: no terminator yet and the line still fits; d
 *    remembers how far it looked, so the next call must be offered the same
 *    bytes at the front of in (with more appended). *consumed = 0.
 *  KEEL_ERR_TOO_LARGE: the line is longer than max_len. Reported as soon as
 *    max_len + 1 bytes without LF are present, except that in the CR modes
 *    when byte max_len is a CR the decoder waits for the next byte (it may
 *    be the LF of a line of exactly max_len bytes): never later than
 *    max_len + 2 bytes. *consumed = 0.
 *  KEEL_ERR_PARSE: KEEL_LINE_CRLF only, see keel_line_mode. *consumed = 0.
 * After any result but INCOMPLETE the scan position is back to 0, ready for
 * the input that follows the consumed bytes. */
KEEL_MUST_USE keel_result keel_line_decode(keel_line_decoder *d, keel_slice in, keel_slice *line,
                                           size_t *consumed);

/** The same at end of stream, when no more bytes will come: a line that has
 * no terminator is then the last line and is returned whole (KEEL_OK, like
 * Rust's BufRead::read_line), CR included, if it is at most max_len bytes
 * (else TOO_LARGE); in KEEL_LINE_CRLF mode an unterminated line is PARSE.
 * KEEL_ERR_INCOMPLETE only when in is empty: no line is left. */
KEEL_MUST_USE keel_result keel_line_decode_final(keel_line_decoder *d, keel_slice in,
                                                 keel_slice *line, size_t *consumed);

/** Append line and the terminator of d's mode (LF for KEEL_LINE_LF, CRLF for
 * the others) to out. TOO_LARGE if line is longer than d->max_len or out
 * lacks room for line + terminator; PARSE if line holds an LF, or a CR in
 * the CR modes (the receiver would split or alter it). All or nothing.
 * line may lie in out's filled part, not in its spare room. */
KEEL_MUST_USE keel_result keel_line_encode(keel_buf *out, const keel_line_decoder *d,
                                           keel_slice line);

/* ---- length-prefixed frames ------------------------------------------- */

/** A frame is a big-endian unsigned length of `width` bytes (1, 2 or 4)
 * followed by that many payload bytes. */
typedef struct keel_frame_decoder {
    size_t width;        /**< prefix bytes: 1, 2 or 4 */
    size_t max_frame;    /**< longest payload accepted */
} keel_frame_decoder;

/*@ predicate frame_width_ok(integer w) = w == 1 || w == 2 || w == 4; */

/** Configure d. INVALID_ARG if d is NULL or width is not 1, 2 or 4. A
 * max_frame beyond the prefix's range (255, 65535, 2^32 - 1) just means
 * "whatever the prefix can say". */
KEEL_MUST_USE keel_result keel_frame_decoder_init(keel_frame_decoder *d, size_t width,
                                                  size_t max_frame);

/** Decode the first frame of in.
 *  KEEL_OK: *payload = in[width, width + length), *consumed = width + length.
 *  KEEL_ERR_INCOMPLETE: the prefix or the payload is not all there. *need
 *    (may be NULL; written on INCOMPLETE only) gets the number of bytes in
 *    must hold for the call to get further: the prefix width while the
 *    prefix is incomplete, then width + length. *consumed = 0.
 *  KEEL_ERR_TOO_LARGE: the prefix says more than max_frame (or more than
 *    size_t can count with the prefix): decided from the prefix alone,
 *    before any payload byte is needed. *consumed = 0.
 * A 0-length frame is valid: the empty payload, consumed = width. */
KEEL_MUST_USE keel_result keel_frame_decode(const keel_frame_decoder *d, keel_slice in,
                                            keel_slice *payload, size_t *consumed, size_t *need);

/** Append the prefix and payload to out. TOO_LARGE if payload is longer than
 * d->max_frame or than the prefix can say, or out lacks room for prefix +
 * payload. All or nothing. payload may lie in out's filled part, not in its
 * spare room. */
KEEL_MUST_USE keel_result keel_frame_encode(keel_buf *out, const keel_frame_decoder *d,
                                            keel_slice payload);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_CODEC_H */

/**
 * @file
 * @brief keel/reader.h - a blocking reader that pulls lines or length-prefixed
 * frames from a connected keel socket into storage the caller provides:
 * the glue between the pure decoders of keel/codec.h and the socket layer
 * of keel/net.h (Rust's BufReader over a TcpStream).
 *
 * Conventions: those of keel/codec.h (results, decoders) and keel/net.h
 * (timeouts in milliseconds for the whole call, KEEL_FOREVER). The reader
 * never allocates and does not own the socket. One reader per socket; not
 * thread-safe.
 */
#ifndef KEEL_READER_H
#define KEEL_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/codec.h"
#include "keel/net.h"
#include "keel/result.h"
#include "keel/slice.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** Reads lines or frames from a connected keel_net (TCP), like Rust's
 * BufReader over a TcpStream, into storage the caller provides (keel never
 * allocates for it). Fields are private: use the functions. */
typedef struct keel_reader {
    keel_net *net;       /**< the socket read (not owned) */
    keel_buf buf;        /**< storage: [0, start) already returned, [start, len) buffered */
    size_t start;        /**< see buf */
    bool eof;            /**< the peer closed its side: no more recv */
} keel_reader;

/** Read from net into storage. storage's filled bytes (if any) count as
 * already received, e.g. bytes read by another layer before switching to
 * this one. The reader does not own net. INVALID_ARG if r or net is NULL,
 * storage is invalid or has capacity 0. */
KEEL_MUST_USE keel_result keel_reader_init(keel_reader *r, keel_net *net, keel_buf storage);

/** @{ */
/** Return the next line / frame. The slice points into the storage and stays
 * valid until the next call on r: the previously returned item is dropped
 * (and the storage compacted) only when room is needed.
 * Bytes are received (keel_net_recv_timeout) only while the decoder says
 * INCOMPLETE; timeout_ms bounds the whole call (KEEL_FOREVER: none; 0: use
 * what is buffered or arrives at once).
 *  KEEL_OK, or the decoder's TOO_LARGE / PARSE (the offending bytes stay
 *    buffered and the same result comes again: close the connection);
 *  KEEL_ERR_TIMEOUT: the deadline passed first. Nothing is lost: the bytes
 *    received so far stay buffered and the next call resumes the item.
 *  KEEL_ERR_CLOSED: the peer closed the connection and nothing is buffered.
 *    If a partial item is buffered at EOF: a line without terminator is
 *    returned as the last line (keel_line_decode_final); a partial frame is
 *    KEEL_ERR_INCOMPLETE (truncated; keel_reader_buffered shows its bytes).
 *  INVALID_ARG: NULL arguments, an invalid decoder, or a decoder whose
 *    largest item (max_len + terminator, width + max_frame) does not fit
 *    in the storage's capacity. Checked before any read.
 *  Other keel_net_recv_timeout errors (RESET...) as they come. */
KEEL_MUST_USE keel_result keel_reader_read_line(keel_reader *r, keel_line_decoder *dec,
                                                uint32_t timeout_ms, keel_slice *line);
KEEL_MUST_USE keel_result keel_reader_read_frame(keel_reader *r, const keel_frame_decoder *dec,
                                                 uint32_t timeout_ms, keel_slice *payload);
/** @} */

/** The bytes received but not yet returned as items (empty if r is NULL or
 * invalid), valid until the next call on r. Lets a caller hand the rest of
 * the stream to another protocol without losing a byte. */
keel_slice keel_reader_buffered(const keel_reader *r);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_READER_H */

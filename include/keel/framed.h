/**
 * @file
 * @brief keel/framed.h - framed streams: a keel_stream paired with a codec
 * of keel/codec.h, delivering whole lines or length-prefixed frames (tokio's
 * Framed with LinesCodec or LengthDelimitedCodec).
 *
 * Conventions (besides those of keel/loop.h and keel/codec.h):
 *  - on_item gets each whole item once, in order: a line without its
 *    terminator, or a frame's payload. Nothing longer than max_item is
 *    ever delivered, truncated or split: it ends the input (TOO_LARGE).
 *  - The end of the input is told once, by on_end: KEEL_ERR_CLOSED after
 *    the peer's EOF (in the LF and LF-or-CRLF modes a last line without
 *    terminator is delivered first, as keel_line_decode_final does; a cut
 *    frame is KEEL_ERR_INCOMPLETE instead, an unterminated line in CRLF
 *    mode KEEL_ERR_PARSE); KEEL_ERR_TOO_LARGE (an item longer than
 *    max_item); KEEL_ERR_PARSE (a line the mode refuses, as
 *    keel_line_decode does); or the stream's failure (TIMEOUT,
 *    RESET...). During on_end the stream can still be written, unless it
 *    failed: the place for an error reply. After on_end the framed stream
 *    closes itself: after CLOSED by flushing what is queued, after
 *    TOO_LARGE, PARSE or INCOMPLETE by a lingering close
 *    (keel_stream_close_linger: the peer reads the reply, not a reset),
 *    after a failure at once. on_close follows, last.
 *  - Back-pressure is automatic: while the stream's write queue is above
 *    its high-water mark (keel_stream_opts.write_high), reading pauses, so
 *    a peer that floods without reading is slowed, not dropped; items
 *    already received wait and are delivered when the queue drains.
 *  - Writing: keel_framed_write adds the terminator or the prefix; an item
 *    the peer's decoder would refuse is refused (all or nothing). In the
 *    LF-or-CRLF mode lines end the way the peer's last line ended (LF
 *    before any).
 *  - Memory: a framed stream is its keel_stream plus about 80 bytes; it
 *    holds no buffer of its own.
 *  - Every call and callback is on the stream's loop thread.
 */
#ifndef KEEL_FRAMED_H
#define KEEL_FRAMED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/result.h"
#include "keel/slice.h"
#include "keel/net.h"
#include "keel/loop.h"
#include "keel/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** How the input is cut into items. */
typedef enum keel_framing {
    KEEL_FRAMING_LINES = 0, /**< lines (keel_line_decoder) */
    KEEL_FRAMING_FRAMES = 1 /**< length-prefixed frames (keel_frame_decoder) */
} keel_framing;

/** A framed stream's codec. A zero field takes the default shown. */
typedef struct keel_framed_opts {
    keel_framing framing;      /**< lines (the default) or frames */
    keel_line_mode line_mode;  /**< lines: how a line ends (KEEL_LINE_LF) */
    size_t max_item;           /**< longest line (terminator excluded) or payload (8 KiB) */
    size_t prefix_width;       /**< frames: 1, 2 or 4 big-endian length bytes (4) */
    uint32_t linger_ms;        /**< the lingering close after TOO_LARGE, PARSE, INCOMPLETE (2,000) */
} keel_framed_opts;

/** A framed stream (opaque). */
typedef struct keel_framed keel_framed;

/** What a framed stream calls, on its loop's thread. */
typedef struct keel_framed_handlers {
    /** A new connection of a framed server (before any item): set its user
     * pointer here (it starts as the server's). May be NULL. */
    void (*on_open)(keel_framed *f, void *user);
    /** One whole item (valid during the call). f may be written, closed or
     * aborted from here. Required. */
    void (*on_item)(keel_framed *f, keel_slice item, void *user);
    /** The input ended; why, and what follows: see the conventions. May be
     * NULL. */
    void (*on_end)(keel_framed *f, keel_result r, void *user);
    /** The stream's back-pressure (keel_stream_handlers.on_writable's
     * can_write), after the framed stream's own use of it. May be NULL. */
    void (*on_writable)(keel_framed *f, bool can_write, void *user);
    /** Exactly once, last: KEEL_OK after an orderly end, otherwise the
     * error that ended the stream. f is freed when it returns. May be
     * NULL. */
    void (*on_close)(keel_framed *f, keel_result r, void *user);
} keel_framed_handlers;

/** Take over a connected TCP socket (freed on success; the caller's on
 * failure) as a framed stream. codec may be NULL (defaults); handlers,
 * codec and stream_opts are kept by pointer and must outlive the stream.
 * INVALID_ARG for NULL pointers, no on_item, a bad codec (unknown framing
 * or line mode, a prefix width other than 1, 2 or 4) or stream_opts whose
 * read_cap cannot hold a whole item (max_item plus 4). With a 1- or 2-byte
 * prefix, max_item is at most what it can say (255, 65,535). As
 * keel_stream_adopt otherwise. */
KEEL_MUST_USE keel_result keel_framed_adopt(keel_loop *loop, keel_net *sock,
                                            const keel_framed_opts *codec,
                                            const keel_framed_handlers *handlers,
                                            const keel_stream_opts *stream_opts, void *user,
                                            keel_framed **out);

/** What keel_framed_server_start adds to keel_server_opts. Kept by
 * pointer: it must outlive the server. */
typedef struct keel_framed_server_opts {
    const keel_framed_opts *codec;          /**< NULL: defaults */
    const keel_framed_handlers *handlers;   /**< every connection's */
    void *user;                             /**< handed to on_open and, at first, the handlers */
    /** keel_server_opts.on_shutdown's call, with user above. May be NULL. */
    void (*on_shutdown)(keel_loop *loop, void *user);
    /** A listener's failed accept (keel_accept_cb's r: NO_MEMORY when out
     * of descriptors...; the listener pauses and retries), with user
     * above. May be NULL. */
    void (*on_accept_failed)(keel_result r, void *user);
} keel_framed_server_opts;

/** keel_server_start for framed streams: base gives the address, threads,
 * limits and stream_opts (as keel_framed_adopt checks them); its handlers,
 * on_accept, on_shutdown and user must be NULL (INVALID_ARG otherwise):
 * they come from framed. The result is a plain keel_server. */
KEEL_MUST_USE keel_result keel_framed_server_start(const keel_server_opts *base,
                                                   const keel_framed_server_opts *framed,
                                                   keel_server **out);

/** keel_listener_start for framed streams, on one loop: accept on sock (a
 * bound TCP socket, taken over on success), each connection a framed
 * stream with framed's codec and handlers and stream_opts' limits (NULL:
 * defaults; kept by pointer). INVALID_ARG as keel_framed_adopt. The result
 * is a plain keel_listener. */
KEEL_MUST_USE keel_result keel_framed_listener_start(keel_loop *loop, keel_net *sock,
                                                     const keel_framed_server_opts *framed,
                                                     const keel_stream_opts *stream_opts,
                                                     keel_listener **out);

/** Send one item: a line and its terminator, or a frame's prefix and
 * payload, in one piece. KEEL_OK: sent or queued. TOO_LARGE: longer than
 * max_item, or the queue would pass write_cap (nothing was queued); PARSE:
 * a line holding an LF (or a CR in the CR modes); STATE after the framed
 * stream began closing; a failed stream's error. */
KEEL_MUST_USE keel_result keel_framed_write(keel_framed *f, keel_slice item);
/** Orderly close: stop reading, send what is queued, then a lingering
 * close (keel_stream_close_linger with the codec's linger_ms: the peer
 * reads all of it even if it sent more); on_end is not called. */
void keel_framed_close(keel_framed *f);
/** Abortive close (keel_stream_abort). */
void keel_framed_abort(keel_framed *f);
/** @{ */
/** The user pointer handed to f's handlers: set it / read it. */
void keel_framed_set_user(keel_framed *f, void *user);
void *keel_framed_user(const keel_framed *f);
/** @} */
/** The stream underneath (its peer address, queue, loop...), or NULL once
 * it is gone. Read, close or write it only through f. */
keel_stream *keel_framed_stream(const keel_framed *f);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_FRAMED_H */

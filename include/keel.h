/**
 * @file
 * @brief keel.h - everything in keel: includes every layer's header.
 *
 * Each layer's header has the contracts of its functions and a
 * "Conventions" block of its own; these conventions hold for all of them.
 *
 * Conventions common to every keel header:
 *  - **Results.** Every public function that can fail returns a
 *    keel_result and is marked KEEL_MUST_USE: ignoring the result is a
 *    compiler warning (an error under -Werror). KEEL_OK is 0; every other
 *    value names one situation a caller must be able to tell apart, and
 *    values never change meaning (keel/result.h). Out-parameters are written
 *    only on KEEL_OK unless a function says otherwise. KEEL_TRY propagates.
 *  - **Bytes.** No pointer and length pair crosses the API: bytes travel as
 *    a keel_slice (a read-only view) or a keel_buf (a writable region over
 *    storage the caller owns), and every access through them is
 *    bounds-checked (keel/slice.h). keel_slice_from() and keel_buf_init()
 *    are the only functions that take a raw pointer and a length.
 *  - **NULL only with length 0.** A slice's pointer may be NULL only when
 *    its length is 0, a buf's only when its capacity is 0. A NULL handle or
 *    out-parameter where an object is required is never undefined
 *    behaviour: a function that returns a keel_result returns
 *    KEEL_ERR_INVALID_ARG, one that returns a value gives the empty answer
 *    (0, false, NULL, the empty slice), one that returns nothing does
 *    nothing; so releasing NULL (keel_net_free, keel_loop_free, ...) is fine.
 *  - **Ownership.** Every resource has one owner. Slices own nothing; bufs
 *    use the caller's storage, which keel never allocates or frees. Handles
 *    (keel_net, keel_loop, ...) are opaque: keel allocates them in their
 *    *_init / *_new / *_start function and releases them in the matching
 *    *_free / close function; a function that takes a handle over (e.g.
 *    keel_stream_adopt) says so. Closing is idempotent.
 *  - **Memory.** keel allocates only handles and the bounded buffers of the
 *    async runtime and of the HTTP server and client; every buffer that
 *    grows has a hard cap, and going past it is KEEL_ERR_TOO_LARGE, never
 *    unbounded growth. The parsers
 *    (framing, JSON, HTTP) never allocate: what they return are slices into
 *    the caller's input.
 *  - **Threads.** There is no global mutable state visible to callers
 *    (keel_json_get_double creates a "C" locale once per process, safely).
 *    Plain values (slices, decoders, JSON documents) can be used by one
 *    thread at a time each; a keel_net context by one thread at a time; a
 *    keel_loop and its handles by the loop's own thread, except the
 *    functions keel/loop.h marks thread-safe.
 *  - **Signals and errno.** keel never installs a signal handler and never
 *    lets SIGPIPE reach the process; EINTR is retried inside keel. The
 *    errno behind a failure is kept per context for diagnostics.
 *  - **Versions.** keel/version.h has the version the program is compiled
 *    with, keel_version() the one it runs with. Before 1.0 a minor release
 *    may change the API and the ABI (README, "Versions").
 */
#ifndef KEEL_H
#define KEEL_H

#include "keel/version.h"
#include "keel/result.h"
#include "keel/slice.h"
#include "keel/addr.h"
#include "keel/net.h"
#include "keel/loop.h"
#include "keel/codec.h"
#include "keel/reader.h"
#include "keel/framed.h"
#include "keel/http.h"
#include "keel/http_server.h"
#include "keel/http_client.h"
#include "keel/json.h"
#if KEEL_HAS_TLS
#include "keel/tls.h" /* the optional layer: only when keel was built with mbed TLS */
#endif

#endif /* KEEL_H */

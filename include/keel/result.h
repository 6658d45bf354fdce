/**
 * @file
 * @brief keel/result.h - the one error convention of keel.
 *
 * Conventions (apply to every keel header):
 *  - Every public function that can fail returns keel_result and is marked
 *    KEEL_MUST_USE: ignoring the result is a warning, and an error in keel's
 *    own build (-Werror). With gcc, casting to (void) does NOT silence it;
 *    clang accepts a (void) cast as a deliberate discard (keel's own code
 *    never discards a result that way).
 *  - KEEL_OK is 0; every other value names one situation a caller must be
 *    able to tell apart. Values are stable: they never change meaning.
 *  - Out-parameters are written only when the call returns KEEL_OK, unless
 *    the function's documentation says otherwise (e.g. a byte count that is
 *    reported on failure too, so that no data is lost).
 *  - Propagation: KEEL_TRY(call) returns call's result from the enclosing
 *    function when it is not KEEL_OK, the one idiom keel itself uses.
 */
#ifndef KEEL_RESULT_H
#define KEEL_RESULT_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** @def KEEL_MUST_USE
 * Marks a function whose result must be used (warn_unused_result): every
 * public function that returns keel_result carries it. Empty on compilers
 * without the attribute. */
#if defined(__GNUC__) || defined(__clang__)
#define KEEL_MUST_USE __attribute__((warn_unused_result))
#else
#define KEEL_MUST_USE
#endif

/** KEEL_TRY(expr): evaluate expr, a keel_result, exactly once; when it is not
 * KEEL_OK, return it from the enclosing function (which must return
 * keel_result). Like Rust's `?`:
 *
 *     keel_result send_greeting(keel_net *net)
 *     {
 *         KEEL_TRY(keel_net_send_all(net, KEEL_STR("hello\n"), 5000, NULL));
 *         return keel_net_send_all(net, KEEL_STR("bye\n"), 5000, NULL);
 *     }
 *
 * It does nothing else: no cleanup, no logging. Where a failure needs
 * cleanup, test the result by hand. */
#define KEEL_TRY(expr)                                                                             \
    do {                                                                                           \
        const keel_result keel_try_result_ = (expr);                                               \
        if (keel_try_result_ != KEEL_OK) {                                                         \
            return keel_try_result_;                                                               \
        }                                                                                          \
    } while (0)

/** The result of every fallible keel call: KEEL_OK or why it failed.
 * Values are stable; keel_result_str() and keel_result_name() name them. */
typedef enum keel_result {
    /** Success. */
    KEEL_OK = 0,
    /** A caller error: NULL where an object is required, an invalid enum,
     * an invalid slice/buf (see keel_slice_valid). */
    KEEL_ERR_INVALID_ARG = 1,
    /** An index or range lies outside the object it addresses. */
    KEEL_ERR_OUT_OF_BOUNDS = 2,
    /** A configured or structural limit was hit: a buffer has no room left,
     * a line/frame/field is longer than allowed, a number overflows. */
    KEEL_ERR_TOO_LARGE = 3,
    /** The input ends before the item is complete: more bytes are needed. */
    KEEL_ERR_INCOMPLETE = 4,
    /** The input is malformed: more bytes will not help. */
    KEEL_ERR_PARSE = 5,
    /** A search found nothing (a byte, a sequence, a key). */
    KEEL_ERR_NOT_FOUND = 6,
    /** Non-blocking operation could not proceed now (EAGAIN/EWOULDBLOCK,
     * or a connect in progress). */
    KEEL_ERR_WOULD_BLOCK = 7,
    /** A deadline passed before the operation completed. */
    KEEL_ERR_TIMEOUT = 8,
    /** The peer closed the connection in an orderly way (EOF). */
    KEEL_ERR_CLOSED = 9,
    /** The connection was reset or broken by the peer (ECONNRESET, EPIPE). */
    KEEL_ERR_RESET = 10,
    /** Nobody listens at the address (ECONNREFUSED). */
    KEEL_ERR_REFUSED = 11,
    /** A host name could not be resolved to any address. */
    KEEL_ERR_HOST_NOT_FOUND = 12,
    /** The local address is already in use (EADDRINUSE) or cannot be
     * assigned (EADDRNOTAVAIL). */
    KEEL_ERR_ADDR_IN_USE = 13,
    /** A datagram was larger than the room offered for it. keel_net leaves
     * it queued (not consumed, nothing cut); a loop UDP handle, which must
     * not stall on it, delivers its first max_datagram bytes with this
     * result, so the loss is reported, never silent. */
    KEEL_ERR_TRUNCATED = 14,
    /** Memory or descriptors ran out (ENOMEM, ENOBUFS, EMFILE, ENFILE). */
    KEEL_ERR_NO_MEMORY = 15,
    /** The object is in the wrong state for the call (send on a closed
     * context, accept on a socket that is not listening...). */
    KEEL_ERR_STATE = 16,
    /** Any other operating-system failure; the errno is kept per context. */
    KEEL_ERR_OS = 17,
    /** TLS (keel/tls.h): a certificate, key or CA could not be read or
     * parsed, a key does not match its certificate, or the random generator
     * could not be seeded. The mbed TLS error is kept. */
    KEEL_ERR_TLS_CONFIG = 18,
    /** TLS: the handshake failed: no protocol version or cipher suite in
     * common, a malformed or unexpected handshake message. The mbed TLS
     * error is kept. */
    KEEL_ERR_TLS_HANDSHAKE = 19,
    /** TLS: the peer's certificate was refused: unknown CA, wrong host
     * name, expired or not yet valid, wrong key usage...; the mbed TLS
     * verification flags say which. */
    KEEL_ERR_TLS_VERIFY = 20,
    /** TLS: the peer sent a fatal alert (it refused us, or failed). */
    KEEL_ERR_TLS_ALERT = 21,
    /** TLS: after the handshake, a record was malformed, failed its
     * integrity check or came out of order: the connection cannot be
     * trusted any more. The mbed TLS error is kept. */
    KEEL_ERR_TLS_PROTOCOL = 22,
    /** TLS: the connection ended without the peer's close_notify: the data
     * may have been cut short by an attacker (a truncation). */
    KEEL_ERR_TLS_TRUNCATED = 23,
    /** The value is not of the type asked for: a JSON getter asked for an
     * integer from a string, a bool from a number, or an integer from a
     * number with a fraction or an exponent (keel/json.h). */
    KEEL_ERR_TYPE = 24
} keel_result;

/** Number of distinct keel_result values (they are 0 .. KEEL_RESULT_COUNT-1). */
#define KEEL_RESULT_COUNT 25

/** A static, human-readable, never-NULL description of r. Values outside the
 * enum give "unknown keel_result". */
const char *keel_result_str(keel_result r);

/** A static, never-NULL identifier of r ("KEEL_ERR_TIMEOUT"...). */
const char *keel_result_name(keel_result r);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_RESULT_H */

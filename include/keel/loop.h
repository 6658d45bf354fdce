/**
 * @file
 * @brief keel/loop.h - the async runtime: an epoll event loop, timers, buffered
 * streams with back-pressure, UDP on the loop, listeners and a server that
 * spreads connections over a few threads.
 *
 * Conventions:
 *  - A keel_loop belongs to the thread that runs it. Every function here is
 *    called on that thread, from loop callbacks or before/after running it,
 *    EXCEPT the ones marked "thread-safe": keel_loop_stop, keel_loop_post,
 *    keel_server_shutdown.
 *  - Freeing against those calls: keel_loop_free (keel_server_free) waits
 *    for a thread-safe call that is still inside keel once its effect has
 *    shown (the posted task ran, run returned after the stop, the server's
 *    threads ended after the shutdown), so freeing as soon as the effect
 *    shows is safe. The rule left to the caller: no thread may START such a
 *    call once the free has begun (the object may be gone); make sure of it
 *    by joining those threads, or by letting them call only before an
 *    effect that the freeing thread waits for.
 *  - Every callback receives a keel_result saying why it is called.
 *  - Callbacks never run inside the keel_* call that caused them: a close,
 *    an error found during a write, a connect failure... are reported later,
 *    from the loop. So a callback may call any function on any handle.
 *  - Handles (keel_stream, keel_udp, keel_listener, keel_io) are owned by
 *    the loop. A handle pointer stays valid until its close callback has
 *    returned (streams: on_close), and must not be used after that; each
 *    close callback is called exactly once. Timers are named by generation-
 *    checked ids instead: a stale id is harmless (KEEL_ERR_NOT_FOUND), with
 *    one limit: the generation is 32 bits per slot, so an id kept while its
 *    slot is reused 2^32 times (each timer started after one fired or was
 *    cancelled may take the slot) could name a newer timer. keel's own
 *    handles drop an id as soon as its timer has fired or been cancelled;
 *    do the same with yours (keep ids only of timers that are live).
 *  - Memory: every buffer has a hard cap (read_cap, write_cap); going past a
 *    cap is a distinct result (KEEL_ERR_TOO_LARGE), never unbounded growth.
 *    An idle stream holds no read or write buffer. Holding unconsumed bytes
 *    costs O(1) per byte in total however the peer splits them (the buffer
 *    grows geometrically, consuming from its front costs nothing), in one
 *    allocation of at most read_cap + read_cap / 2 bytes. The write queue's
 *    memory stays within write_cap + 1% + 68 KiB whatever the sizes of the
 *    writes (chunks of 4,000 to 64 KiB, each filled before the next).
 *  - Signals are delivered as loop events (signalfd), never from an
 *    asynchronous handler.
 *  - Linux only (epoll, eventfd, signalfd).
 */
#ifndef KEEL_LOOP_H
#define KEEL_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/result.h"
#include "keel/slice.h"
#include "keel/addr.h"
#include "keel/net.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** An event loop (opaque): epoll, timers, posted tasks, signals. */
typedef struct keel_loop keel_loop;
/** A readiness watcher on a keel socket (opaque). */
typedef struct keel_io keel_io;
/** A buffered TCP connection on a loop (opaque). */
typedef struct keel_stream keel_stream;
/** A listening TCP socket on a loop that makes streams (opaque). */
typedef struct keel_listener keel_listener;
/** A UDP socket on a loop (opaque). */
typedef struct keel_udp keel_udp;
/** Loops on a few threads serving one address (opaque). */
typedef struct keel_server keel_server;

/* ---- loop ------------------------------------------------------------- */

/** Create a loop, owned by the thread that will run it. NO_MEMORY when
 * memory or descriptors run out; the mapped OS error when the epoll or
 * eventfd descriptor cannot be made for another reason. */
KEEL_MUST_USE keel_result keel_loop_new(keel_loop **out);
/** Free a loop that is not running (a running loop is left alone). Handles
 * still open are closed abortively first (their close callbacks run, with
 * KEEL_ERR_CLOSED); pending posted tasks are dropped (their memory, not
 * their side effects). Waits for a keel_loop_post / keel_loop_stop from
 * another thread that the loop has already seen to return (see the
 * conventions above). NULL is a no-op. */
void keel_loop_free(keel_loop *loop);

/** Run until keel_loop_stop is called or nothing is left to wait for (no
 * open handle, no pending timer, no posted task). KEEL_ERR_STATE when called
 * re-entrantly or from another thread while running. */
KEEL_MUST_USE keel_result keel_loop_run(keel_loop *loop);
/** Wait at most timeout_ms (0: just poll) for events, then dispatch what is
 * ready and every timer due. */
KEEL_MUST_USE keel_result keel_loop_run_once(keel_loop *loop, uint32_t timeout_ms);
/** Thread-safe: make keel_loop_run return after the current dispatch (or
 * the next run, if none is running). */
void keel_loop_stop(keel_loop *loop);

/** A task for keel_loop_post: called once, on the loop's thread. */
typedef void (*keel_task_fn)(keel_loop *loop, void *arg);
/** Thread-safe: run fn(loop, arg) on the loop's thread, soon (FIFO, each task
 * once). KEEL_ERR_NO_MEMORY if the task cannot be queued. */
KEEL_MUST_USE keel_result keel_loop_post(keel_loop *loop, keel_task_fn fn, void *arg);

/** The loop's monotonic clock in milliseconds, read once per iteration. */
uint64_t keel_loop_now_ms(const keel_loop *loop);

/** Called on the loop's thread when signo arrived (r is KEEL_OK). */
typedef void (*keel_signal_cb)(keel_loop *loop, keel_result r, int signo, void *user);
/** Deliver signo (e.g. SIGINT, SIGTERM) as a loop event. Blocks the signal
 * in the calling thread: call it before starting other threads so that they
 * inherit the mask. A second call for the same signal replaces the callback.
 * A signal with a callback keeps keel_loop_run going (like an open handle);
 * cb NULL stops delivering signo on this loop (it stays blocked, so it stays
 * pending). INVALID_ARG for signo outside 1..64, SIGKILL and SIGSTOP. */
KEEL_MUST_USE keel_result keel_loop_signal(keel_loop *loop, int signo, keel_signal_cb cb,
                                           void *user);

/* ---- readiness of a keel socket --------------------------------------- */

/** Readiness event for keel_io_start: readable. */
#define KEEL_IO_READ 1u
/** Readiness event for keel_io_start: writable. */
#define KEEL_IO_WRITE 2u

/** r is KEEL_OK with the ready events, or the socket's error (RESET, ...)
 * with events 0 when the kernel reports an error/hang-up. The socket stays
 * the caller's: keel_io_stop does not close it. */
typedef void (*keel_io_cb)(keel_io *io, keel_result r, unsigned events, void *user);
/** Watch sock for events (KEEL_IO_READ | KEEL_IO_WRITE) on loop: cb is
 * called when it is ready. The socket stays the caller's (see keel_io_cb):
 * stop the watcher before closing it. A socket closed while watched leaves
 * the watcher without events (the kernel drops the registration); the
 * watcher knows its socket by its kernel cookie, not by its descriptor
 * number, so it never touches another socket that reuses the number. */
KEEL_MUST_USE keel_result keel_io_start(keel_loop *loop, keel_net *sock, unsigned events,
                                        keel_io_cb cb, void *user, keel_io **out);
/** Change the events io watches. KEEL_ERR_STATE once its socket is closed. */
KEEL_MUST_USE keel_result keel_io_update(keel_io *io, unsigned events);
/** Stop watching and free the watcher (never called back afterwards). */
void keel_io_stop(keel_io *io);

/* ---- timers ----------------------------------------------------------- */

/** A timer's name. 0 is never a live timer. */
typedef struct keel_timer_id {
    uint64_t v; /**< opaque: slot and generation */
} keel_timer_id;

/** Called on the loop's thread when the timer id fires. */
typedef void (*keel_timer_cb)(keel_loop *loop, keel_timer_id id, void *user);

/** Fire cb once after delay_ms, then every repeat_ms if repeat_ms > 0.
 * Timers due at the same time fire in the order they were started. A
 * repeating timer that fell behind fires once and is re-armed from now (no
 * burst of catch-up calls). Costs O(log n); thousands per loop are fine. */
KEEL_MUST_USE keel_result keel_timer_start(keel_loop *loop, uint64_t delay_ms,
                                           uint64_t repeat_ms, keel_timer_cb cb, void *user,
                                           keel_timer_id *out);
/** Cancel a timer. KEEL_OK, or KEEL_ERR_NOT_FOUND when id names no live timer (a one-shot
 * timer that fired, a cancelled timer, 0; see the conventions above for
 * how long a stale id stays stale). Safe from any callback, including the
 * timer's own (a repeating timer then does not fire again). */
KEEL_MUST_USE keel_result keel_timer_cancel(keel_loop *loop, keel_timer_id id);

/* ---- streams (TCP connections) ---------------------------------------- */

/** A timeout of keel_stream_opts that is off, also where a default would
 * apply (0 means the default). */
#define KEEL_STREAM_NO_TIMEOUT UINT32_MAX

/** Limits and timeouts of a stream. A zero field means the default shown;
 * the timeouts' defaults differ for streams a listener or server accepted
 * (their peers are strangers: a connection that goes silent, or a
 * half-open one, is closed with KEEL_ERR_TIMEOUT) and for the others
 * (connect, adopt: none). KEEL_STREAM_NO_TIMEOUT turns a timeout off. A
 * stream with NULL opts has every default. */
typedef struct keel_stream_opts {
    size_t read_cap;           /**< max unconsumed bytes held (64 KiB) */
    size_t write_high;         /**< queued bytes that pause the producer (256 KiB) */
    size_t write_low;          /**< queued bytes that resume it (write_high / 4) */
    size_t write_cap;          /**< hard cap on queued bytes (4 * write_high) */
    /** no byte arrives while reading (accepted: 120,000; others: none) */
    uint32_t read_timeout_ms;
    /** queued bytes make no progress (none) */
    uint32_t write_timeout_ms;
    /** no byte in either direction (accepted: 300,000; others: none) */
    uint32_t idle_timeout_ms;
} keel_stream_opts;

/** What a stream calls, on the loop's thread (see each field). */
typedef struct keel_stream_handlers {
    /** r == KEEL_OK: data holds every unconsumed byte received so far (at
     *   least one new byte, except once after keel_stream_read_start, which
     *   offers the bytes held again). Return how many bytes from its front
     *   are consumed (at most data.len); the rest is kept and offered again
     *   with what arrives next (the slice is valid only during the call).
     * r == KEEL_ERR_CLOSED: the peer will send nothing more (EOF); data holds
     *   the unconsumed bytes, possibly none. Writing is still possible
     *   (half-close) until the stream is closed. Last on_read call.
     * r == KEEL_ERR_TOO_LARGE: read_cap unconsumed bytes are held and the
     *   handler consumed none: the stream is closed. Likewise TIMEOUT (read
     *   or idle timeout) and errors such as KEEL_ERR_RESET: data holds the
     *   unconsumed bytes, the return value is ignored, on_close follows. */
    size_t (*on_read)(keel_stream *s, keel_result r, keel_slice data, void *user);
    /** Back-pressure: can_write becomes false when the write queue reaches
     * write_high, true again when it drains to write_low. May be NULL.
     * (keel_stream_can_write turns false at once, inside the write; if the
     * queue drains before the false could be delivered, only the true is.) */
    void (*on_writable)(keel_stream *s, keel_result r, bool can_write, void *user);
    /** keel_stream_connect finished: KEEL_OK, or why it failed (REFUSED,
     * TIMEOUT, HOST_NOT_FOUND...; on_close follows). May be NULL. */
    void (*on_connect)(keel_stream *s, keel_result r, void *user);
    /** Exactly once, last. r is KEEL_OK after a local close/abort, otherwise
     * the error that ended the stream (also when the stream is closed after
     * a call such as keel_stream_write returned that error, before it was
     * reported). The stream is freed when it returns. May be NULL. */
    void (*on_close)(keel_stream *s, keel_result r, void *user);
} keel_stream_handlers;

/** Connect to host:port and make a stream of the connection.
 * handlers and opts are kept by pointer (one static table serves every
 * stream): they must outlive the stream. opts may be NULL (all defaults);
 * INVALID_ARG unless write_low <= write_high <= write_cap (defaults filled in).
 * connect: a host name (not a literal) is resolved inside this call, which
 * blocks for as long as the system resolver takes; resolution failures come
 * as on_connect(HOST_NOT_FOUND...). timeout_ms covers the connect (all
 * resolved addresses in turn); KEEL_FOREVER: no deadline. Bytes written
 * while connecting are queued. A keel_stream_close while connecting ends it
 * at once if nothing is queued (no on_connect then, on_close(KEEL_OK));
 * with bytes queued the connect goes on, to deliver them, until its
 * deadline but no longer than write_timeout_ms (or 5 s) after the close,
 * past which on_close gets KEEL_ERR_TIMEOUT (never on_connect). */
KEEL_MUST_USE keel_result keel_stream_connect(keel_loop *loop, keel_slice host, uint16_t port,
                                              uint32_t timeout_ms,
                                              const keel_stream_handlers *handlers,
                                              const keel_stream_opts *opts, void *user,
                                              keel_stream **out);
/** Take over a connected TCP socket (sock is freed on success; on failure it
 * is left as it was, still the caller's). */
KEEL_MUST_USE keel_result keel_stream_adopt(keel_loop *loop, keel_net *sock,
                                            const keel_stream_handlers *handlers,
                                            const keel_stream_opts *opts, void *user,
                                            keel_stream **out);

/** Send data, queueing what the socket does not take now (copied: data may
 * be reused at once). KEEL_OK: all of it is sent or queued. TOO_LARGE: it
 * would take the queue past write_cap, counting all of data as if the
 * socket took none of it now; nothing was sent or queued. STATE: after
 * shutdown/close. A stream that has failed returns its error (sticky). */
KEEL_MUST_USE keel_result keel_stream_write(keel_stream *s, keel_slice data);
/** keel_stream_write of count slices, in order, as one: TOO_LARGE (nothing
 * sent or queued) unless all of them fit under write_cap, so a message
 * made of a header and a body is never half queued. INVALID_ARG for a
 * NULL s or parts with count > 0, an invalid slice. */
KEEL_MUST_USE keel_result keel_stream_writev(keel_stream *s, const keel_slice *parts,
                                             size_t count);
/** False between an on_writable(false) and the following on_writable(true). */
bool keel_stream_can_write(const keel_stream *s);
/** Bytes written and not yet taken by the socket (0 if s is NULL). */
size_t keel_stream_queued(const keel_stream *s);

/** @{ */
/** Pause/resume reading (the kernel's buffer then pushes back on the peer).
 * While paused, new bytes and EOF wait in the kernel (a failure such as a
 * reset or a timeout still ends the stream with its last on_read).
 * Resuming over bytes the handler left unconsumed offers them again, from
 * the loop, ahead of anything new: a handler that pauses while it works on
 * one request finds the next one without the peer sending more. */
void keel_stream_read_stop(keel_stream *s);
void keel_stream_read_start(keel_stream *s);
/** @} */

/** Half-close: send FIN once the queue is empty; reading continues. */
KEEL_MUST_USE keel_result keel_stream_shutdown(keel_stream *s);
/** Orderly close: stop reading, send what is queued (bounded by
 * write_timeout_ms, or 5 s if none), then close; on_close(KEEL_OK). The
 * bound is on progress: when the queue makes none for that long the
 * connection is reset and on_close gets KEEL_ERR_TIMEOUT. A stream whose
 * failure a call has returned (keel_stream_write's KEEL_ERR_RESET...) is
 * closed at once, and on_close gets that failure. */
void keel_stream_close(keel_stream *s);
/** The close that delivers the last reply (nginx's lingering close): stop
 * reading for the user (on_read is not called again; held bytes are
 * dropped), send what is queued (bounded as keel_stream_close's flush),
 * then FIN, then read and discard whatever the peer still sends until its
 * EOF or until linger_ms (0: 2,000) from this call, then close;
 * on_close(KEEL_OK). Closing at once with unread input makes the kernel
 * send a reset, which can destroy an error reply just queued; this lets
 * the peer read it. A stream whose peer already ended (on_read had
 * KEEL_ERR_CLOSED), still connecting or failed closes as with
 * keel_stream_close. keel_stream_close or _abort during the linger ends it
 * sooner. */
void keel_stream_close_linger(keel_stream *s, uint32_t linger_ms);
/** Abortive close: drop the queue, reset the connection (RST); on_close(KEEL_OK),
 * or the failure a call has already returned, as keel_stream_close. */
void keel_stream_abort(keel_stream *s);

/** @{ */
/** The user pointer handed to s's handlers: set it / read it (NULL if s is NULL). */
void keel_stream_set_user(keel_stream *s, void *user);
void *keel_stream_user(const keel_stream *s);
/** @} */
/** The loop s runs on (NULL if s is NULL). */
keel_loop *keel_stream_loop(const keel_stream *s);
/** The OS error (errno) behind s's last failure that came from the system
 * (a KEEL_ERR_OS, RESET, REFUSED... reported by a write, a callback or
 * on_close), 0 if there was none or s is NULL. Like keel_net_last_os_error;
 * callable from on_close, where it explains the r it was given. */
int keel_stream_last_os_error(const keel_stream *s);
/** The peer's address. STATE while connecting or once the stream is dead. */
KEEL_MUST_USE keel_result keel_stream_peer_addr(const keel_stream *s, keel_addr *out);

/* ---- listeners -------------------------------------------------------- */

/** r == KEEL_OK: s is a new stream using the listener's handlers and opts
 * (set its user pointer here; it starts as the listener's user pointer).
 * Otherwise s is NULL and r says why accepting failed: KEEL_ERR_NO_MEMORY
 * when the process is out of descriptors (EMFILE/ENFILE) or memory, after
 * which the listener pauses briefly (100 ms) and retries, so it keeps
 * serving once descriptors are freed; other errors pause it the same way. */
typedef void (*keel_accept_cb)(keel_listener *l, keel_result r, keel_stream *s, void *user);

/** Accept on a bound, listening TCP socket (keel_net_bind), which the
 * listener takes over (freed on success; left to the caller on failure). */
KEEL_MUST_USE keel_result keel_listener_start(keel_loop *loop, keel_net *sock,
                                              const keel_stream_handlers *handlers,
                                              const keel_stream_opts *opts,
                                              keel_accept_cb on_accept, void *user,
                                              keel_listener **out);
/** The port the listener accepts on. STATE once it is closed. */
KEEL_MUST_USE keel_result keel_listener_port(const keel_listener *l, uint16_t *port);
/** Stop accepting and close the socket; streams already accepted live on. */
void keel_listener_close(keel_listener *l);

/* ---- UDP -------------------------------------------------------------- */

/** r == KEEL_OK: one datagram. r == KEEL_ERR_TRUNCATED: a datagram longer
 * than max_datagram arrived; data holds its first max_datagram bytes, the
 * rest is dropped (the kernel discards it: it cannot stay queued, unlike
 * keel_net_recvfrom's) and keel_udp_datagram_size tells its real size: the
 * loss is reported, never silent. Other r: a socket error (the handle
 * stays open; UDP errors are per datagram). */
typedef void (*keel_udp_cb)(keel_udp *u, keel_result r, keel_slice data,
                            const keel_addr *from, void *user);

/** Receive on a bound UDP socket, which the handle takes over (and frees on
 * keel_udp_close or keel_loop_free; the socket is made non-blocking).
 * max_datagram is 1 .. 65536 (INVALID_ARG otherwise). STATE if sock is not
 * UDP, or holds datagrams in memory (keel_net_pending, after a UDP
 * keel_net_accept): the handle reads only the socket, so read those first
 * with keel_net_recv. */
KEEL_MUST_USE keel_result keel_udp_start(keel_loop *loop, keel_net *sock, size_t max_datagram,
                                         keel_udp_cb cb, void *user, keel_udp **out);
/** Send one datagram now. KEEL_ERR_WOULD_BLOCK: the socket buffer is full and
 * the datagram was not sent (UDP is not queued: the caller decides);
 * KEEL_ERR_TOO_LARGE: longer than the path allows (EMSGSIZE). */
KEEL_MUST_USE keel_result keel_udp_send(keel_udp *u, keel_slice data, const keel_addr *to);
/** Inside u's callback for a datagram (r KEEL_OK or KEEL_ERR_TRUNCATED):
 * the datagram's real size as the kernel reports it (recvfrom's
 * MSG_TRUNC), data.len when it arrived whole, more when it was truncated.
 * 0 anywhere else (another r, outside the callback, NULL). */
size_t keel_udp_datagram_size(const keel_udp *u);
/** The address the handle's socket is bound to. STATE once it is closed. */
KEEL_MUST_USE keel_result keel_udp_local_addr(const keel_udp *u, keel_addr *out);
/** Stop receiving and close the socket; the handle is freed after the
 * current dispatch, so this is safe from u's own callback. u must not be
 * used afterwards. NULL or a closed handle: no effect. */
void keel_udp_close(keel_udp *u);

/* ---- multi-threaded server -------------------------------------------- */

/** Options of keel_server_start. */
typedef struct keel_server_opts {
    keel_slice ip;              /**< address literal to bind, e.g. KEEL_STR("127.0.0.1") */
    uint16_t port;              /**< 0: an ephemeral port, shared by all threads */
    unsigned threads;           /**< loops (one thread each); 0: one per online CPU */
    unsigned max_conns;         /**< over all threads; more are accepted and closed at once (0: 10,000) */
    uint32_t grace_ms;          /**< graceful shutdown deadline used on signals (0: 5,000) */
    bool handle_signals;        /**< SIGINT/SIGTERM start a graceful shutdown (they
                                   stay blocked in the thread calling start) */
    const keel_stream_handlers *handlers; /**< every connection's handlers */
    const keel_stream_opts *stream_opts;  /**< every connection's limits (NULL: defaults) */
    /** Called on the accepting loop's thread for every new stream (may set
     * its user pointer, which starts as `user` below); may be NULL. */
    void (*on_accept)(keel_stream *s, void *user);
    void *user;                 /**< handed to on_accept, on_shutdown and the handlers */
    /** Called once on each loop's thread when a graceful shutdown begins
     * (keel_server_shutdown or a signal), after that loop stopped
     * accepting and before its grace period runs: the place to close idle
     * connections and tell busy ones to finish. May be NULL. */
    void (*on_shutdown)(keel_loop *loop, void *user);
} keel_server_opts;

/** Bind (SO_REUSEPORT: one listening socket per loop, the kernel spreads
 * connections) and start the threads. opts is copied; handlers, stream_opts
 * and user must outlive the server. */
KEEL_MUST_USE keel_result keel_server_start(const keel_server_opts *opts, keel_server **out);
/** The port the server listens on (the one the system chose for port 0). */
KEEL_MUST_USE keel_result keel_server_port(const keel_server *srv, uint16_t *port);
/** Connections currently open, over all threads. */
size_t keel_server_connections(const keel_server *srv);
/** Thread-safe. Graceful shutdown: stop accepting at once; open connections
 * are served until they close or grace_ms passes; then each remaining one
 * is closed in order (queued bytes flushed, bounded) and the threads end.
 * Returns at once; keel_server_wait waits. */
void keel_server_shutdown(keel_server *srv, uint32_t grace_ms);
/** Block until every thread has ended (after a shutdown, or a signal when
 * handle_signals is set). KEEL_ERR_STATE, without waiting, when called from
 * one of the server's own threads (a handler). */
KEEL_MUST_USE keel_result keel_server_wait(keel_server *srv);
/** Shut down (grace 0) if still running, wait, free; waits for a
 * keel_server_shutdown running on another thread to return first. NULL is
 * a no-op. Refused from one of the server's own threads (a handler): it
 * would free the loop it runs on and join its own thread, so it then does
 * nothing at all (call keel_server_shutdown there, and free the server
 * from the thread that started it). */
void keel_server_free(keel_server *srv);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_LOOP_H */

/*
 * src/loop/stream.c - buffered TCP streams on the loop (keel_stream_*):
 * connect with a deadline, reads with a hard cap, a write queue with
 * high/low water marks, half-close, timeouts, orderly and abortive close.
 *
 * The hot path of an echo is: epoll reports EPOLLIN -> stream_handle_events -> one
 * recv into the loop's scratch buffer -> on_read(slice) -> the user's
 * keel_stream_write -> one send straight from the caller's bytes. No
 * allocation, no epoll_ctl (EPOLLOUT is wanted only while a queue exists)
 * and no timer heap operation per message (timeouts compare timestamps
 * when the stream's single timer fires, and re-arm it lazily).
 *
 * Lifetime: every way out (error, EOF + close, abort, timeout, loop free)
 * goes through stream_release, which gives the descriptor and the queue
 * back at once and defers the rest; stream_run_deferred then calls on_close and
 * frees the struct, outside any callback of the stream (the loop requires
 * it: a watch must not be freed while its fn is on the stack).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/epoll.h>

#include "net/net_internal.h"
#include "loop/loop_internal.h"

#define STREAM_READ_CAP (64u * 1024u)
#define STREAM_WRITE_HIGH (256u * 1024u)
/* Bound on flushing the queue after keel_stream_close without a write
 * timeout: no progress for this long resets the connection. */
#define STREAM_CLOSE_MS 5000u
/* How long keel_stream_close_linger drains input by default. */
#define STREAM_LINGER_MS 2000u
/* The timeouts of an accepted stream whose opts leave them at 0 (loop.h):
 * a peer that sends nothing, or a connection with no traffic at all, does
 * not hold a server's stream forever. */
#define STREAM_ACCEPTED_READ_MS 120000u
#define STREAM_ACCEPTED_IDLE_MS 300000u
/* Queue chunks hold at least this much, so that many small writes to a
 * blocked stream share allocations instead of paying a header each... */
#define CHUNK_MIN 4000u
/* ...and at most this much: a big write is cut into several chunks, since
 * a chunk is freed only once all of it is sent (see stream_queue_append). */
#define CHUNK_MAX (64u * 1024u)

enum {
    SF_CONNECTING = 1u << 0,   /* connect in progress; u.conn is live */
    SF_READING = 1u << 1,      /* the user wants reads (read_start/stop) */
    SF_READ_DONE = 1u << 2,    /* on_read will not be called again */
    SF_IN_READ = 1u << 3,      /* on_read is on the stack: u.rbuf stays put */
    SF_SHUT_REQ = 1u << 4,     /* keel_stream_shutdown: FIN once drained */
    SF_SHUT_DONE = 1u << 5,    /* FIN sent */
    SF_CLOSING = 1u << 6,      /* keel_stream_close: flushing, then release */
    SF_DEAD = 1u << 7,         /* released: on_close pending, then free */
    SF_BLOCKED = 1u << 8,      /* queue reached write_high: can_write false */
    SF_NOTIFY_BLOCK = 1u << 9, /* deferred on_writable(false) */
    SF_FAIL_PENDING = 1u << 10, /* deferred failure with err (from an API call) */
    SF_REOFFER = 1u << 11,      /* read_start: offer the held bytes again */
    SF_LINGER = 1u << 12,       /* keel_stream_close_linger: flush, FIN, drain, close */
    SF_PEER_EOF = 1u << 13,     /* lingering: the peer's EOF arrived */
    SF_ACCEPTED = 1u << 14      /* made by a listener or server: default timeouts */
};

/* The unconsumed bytes: data[off, off + len) of an allocation of cap
 * bytes (see stream_hold for how it grows). */
typedef struct kreadbuf {
    size_t cap;
    size_t off;
    size_t len;
    uint8_t data[];
} kreadbuf;

/* The smallest read buffer: a slow peer's first bytes do not start a
 * series of tiny reallocations. */
#define READBUF_MIN 256u

/* Part of the write queue: data[off, len) is still to be sent. */
typedef struct kchunk {
    struct kchunk *next;
    size_t off;
    size_t len;
    size_t cap;
    uint8_t data[];
} kchunk;

/* Connect state, allocated only while connecting. */
typedef struct kconnect {
    keel_addr_list list;
    size_t next;       /* next address to try */
    keel_result best;  /* most telling failure so far */
    uint64_t deadline; /* of the whole connect, on the loop's clock; UINT64_MAX: none */
} kconnect;

/*
 * What a connection costs (x86-64, glibc), idle: this struct only, 184
 * bytes, one 192-byte malloc chunk; no read buffer and no write buffer
 * (the kernel's socket and epoll entry are not in the process's RSS).
 *   watch 16 (fn, fd, registered events: the fd lives here, no copy)
 *   handle 24 (loop's handle list), deferred 24 (close/notify, no alloc)
 *   loop, h, opts, user 32 (handlers and opts by pointer, shared)
 *   u 8 (unconsumed bytes, or connect state while connecting)
 *   whead 8, wtail 8, queued 8 (the write queue: NULL when idle)
 *   t_rx, t_tx 16 (activity stamps for the timeouts), timer 8
 *   group, gprev, gnext 24 (server streams: closed together at shutdown)
 *   err 4, flags 2, os_errno 2
 * While busy: unconsumed bytes in one buffer (a 24-byte header, then at
 * most read_cap + read_cap / 2 bytes: stream_hold), freed once all are
 * consumed; unsent bytes in chunks of CHUNK_MIN .. CHUNK_MAX bytes, each
 * freed as soon as it is sent, all within write_cap + 1% + 68 KiB
 * (stream_queue_append).
 */
struct keel_stream {
    kloop_watch watch;
    kloop_handle handle;
    kloop_deferred deferred;
    keel_loop *loop;
    const keel_stream_handlers *h;
    const keel_stream_opts *opts; /* NULL: every default */
    void *user;
    union {
        kreadbuf *rbuf; /* unconsumed bytes (NULL when none) */
        kconnect *conn;
    } u;
    kchunk *whead;
    kchunk *wtail;
    size_t queued;
    uint64_t t_rx; /* last byte received (or reading (re)started); lingering:
                      when the drain ends */
    uint64_t t_tx; /* last send progress (or the queue started / close) */
    keel_timer_id timer;
    kstream_group *group;
    keel_stream *gprev;
    keel_stream *gnext;
    keel_result err; /* sticky failure; after release, what on_close gets */
    uint16_t flags;
    uint16_t os_errno; /* errno behind the last OS failure (Linux's are < 4096) */
};

#define STREAM_OF(ptr, member) \
    ((keel_stream *)(void *)((char *)(ptr) - offsetof(keel_stream, member)))

/* ---- options -------------------------------------------------------------- */

static size_t stream_read_cap(const keel_stream *s)
{
    return s->opts != NULL && s->opts->read_cap != 0 ? s->opts->read_cap : STREAM_READ_CAP;
}

static size_t stream_write_high(const keel_stream_opts *o)
{
    return o != NULL && o->write_high != 0 ? o->write_high : STREAM_WRITE_HIGH;
}

static size_t stream_write_low(const keel_stream_opts *o)
{
    return o != NULL && o->write_low != 0 ? o->write_low : stream_write_high(o) / 4u;
}

static size_t stream_write_cap(const keel_stream_opts *o)
{
    if (o != NULL && o->write_cap != 0) {
        return o->write_cap;
    }
    size_t high = stream_write_high(o);
    return high > SIZE_MAX / 4u ? SIZE_MAX : high * 4u;
}

/* The marks must nest: low <= high <= cap. */
bool kstream_opts_ok(const keel_stream_opts *o)
{
    return stream_write_low(o) <= stream_write_high(o) &&
           stream_write_high(o) <= stream_write_cap(o);
}

/* How long a closing stream may go without progress (flushing, or still
 * connecting to flush). */
static uint32_t stream_close_ms(const keel_stream_opts *o)
{
    return o != NULL && o->write_timeout_ms != 0 && o->write_timeout_ms != KEEL_STREAM_NO_TIMEOUT
               ? o->write_timeout_ms
               : STREAM_CLOSE_MS;
}

static bool stream_flags_any(const keel_stream *s, unsigned f);

/* A timeout in effect (0: none): the opts' value v, KEEL_STREAM_NO_TIMEOUT
 * for none, or for 0 the default, which an accepted stream has. */
static uint32_t stream_timeout(const keel_stream *s, uint32_t v, uint32_t accepted_default)
{
    if (v == KEEL_STREAM_NO_TIMEOUT) {
        return 0;
    }
    if (v != 0) {
        return v;
    }
    return stream_flags_any(s, SF_ACCEPTED) ? accepted_default : 0;
}

static uint32_t stream_read_timeout(const keel_stream *s)
{
    return stream_timeout(s, s->opts != NULL ? s->opts->read_timeout_ms : 0,
                          STREAM_ACCEPTED_READ_MS);
}

static uint32_t stream_idle_timeout(const keel_stream *s)
{
    return stream_timeout(s, s->opts != NULL ? s->opts->idle_timeout_ms : 0,
                          STREAM_ACCEPTED_IDLE_MS);
}

static uint32_t stream_write_timeout(const keel_stream *s)
{
    return stream_timeout(s, s->opts != NULL ? s->opts->write_timeout_ms : 0, 0);
}

static bool stream_has_timeouts(const keel_stream *s)
{
    return (stream_read_timeout(s) | stream_write_timeout(s) | stream_idle_timeout(s)) != 0;
}

static bool stream_flags_any(const keel_stream *s, unsigned f)
{
    return (s->flags & f) != 0;
}

static void stream_flags_set(keel_stream *s, unsigned f)
{
    s->flags = (uint16_t)(s->flags | f);
}

static void stream_flags_clear(keel_stream *s, unsigned f)
{
    s->flags = (uint16_t)(s->flags & ~f);
}

/* ---- socket calls ---------------------------------------------------------- */

/* The result for errno err, which s keeps for keel_stream_last_os_error. */
static KEEL_MUST_USE keel_result stream_os_failure(keel_stream *s, int err, bool connected)
{
    s->os_errno = err > 0 && err <= UINT16_MAX ? (uint16_t)err : 0;
    return knet_errno_result(err, connected);
}

/* One send; *sent 0 when the socket takes nothing now. */
static KEEL_MUST_USE keel_result stream_send_some(keel_stream *s, keel_slice data, size_t *sent)
{
    for (;;) {
        ssize_t n = ksys_sendto(s->watch.fd, data.ptr, data.len, MSG_NOSIGNAL, NULL, 0);
        if (n >= 0) {
            *sent = (size_t)n;
            return KEEL_OK;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            *sent = 0;
            return KEEL_OK;
        }
        if (err != EINTR) {
            return stream_os_failure(s, err, true);
        }
    }
}

/* One recv into b's spare room: OK (b grew), WOULD_BLOCK, CLOSED (EOF) or
 * the connection's error. */
static KEEL_MUST_USE keel_result stream_recv_some(keel_stream *s, keel_buf *b)
{
    for (;;) {
        ssize_t n = ksys_recvfrom(s->watch.fd, b->ptr + b->len, b->cap - b->len, 0, NULL, NULL);
        if (n > 0) {
            b->len += (size_t)n;
            return KEEL_OK;
        }
        if (n == 0) {
            return KEEL_ERR_CLOSED;
        }
        int err = errno;
        if (err != EINTR) {
            return stream_os_failure(s, err, true);
        }
    }
}

/* The error pending on the socket (SO_ERROR), 0 if none. */
static int stream_pending_errno(int fd)
{
    int soerr = 0;
    socklen_t len = (socklen_t)sizeof soerr;
    if (ksys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        return errno;
    }
    return soerr;
}

static void stream_try_set_int_opt(int fd, int level, int name, int value)
{
    /* Best effort: a stream works without TCP_NODELAY, only slower. */
    (void)ksys_setsockopt(fd, level, name, &value, (socklen_t)sizeof value);
}

/* ---- buffers --------------------------------------------------------------- */

static keel_slice stream_unconsumed(const keel_stream *s)
{
    keel_slice v = { NULL, 0 };
    if (!stream_flags_any(s, SF_CONNECTING) && s->u.rbuf != NULL) {
        v.ptr = s->u.rbuf->data + s->u.rbuf->off;
        v.len = s->u.rbuf->len;
    }
    return v;
}

static void stream_drop_unconsumed(keel_stream *s)
{
    if (s->u.rbuf != NULL && !stream_flags_any(s, SF_CONNECTING | SF_IN_READ)) {
        ksys_release(s->u.rbuf);
        s->u.rbuf = NULL;
    }
}

static size_t stream_size_max(size_t a, size_t b)
{
    return a > b ? a : b;
}

/*
 * Keep `fresh` behind the unconsumed bytes. Holding bytes costs O(1) per
 * byte in total, however the peer splits them and the handler consumes
 * them. When the tail of the buffer has no room, the kept bytes move into
 * a new buffer (always a fresh allocation, so every byte moved is a byte
 * the allocator handed out: tests count them there):
 *  - more has been consumed at the front than is kept (off >= len): same
 *    size (or the size needed). The move costs len <= off bytes and the
 *    new block at most off + len + n < 2 off + n: paid by the off bytes
 *    consumed since the last move, each paying once, and the n new ones;
 *  - otherwise the buffer doubles, up to read_cap + read_cap / 2: growth
 *    is geometric, paid by the bytes received into it. At that size the
 *    front holds more than read_cap / 2 consumed bytes whenever the tail
 *    is full (at most read_cap are kept), which pays for the move.
 * So at most read_cap + read_cap / 2 bytes are allocated (plus the move's
 * moment with two blocks), and the kept bytes are copied O(1) times each.
 */
static KEEL_MUST_USE keel_result stream_hold(keel_stream *s, keel_slice fresh)
{
    kreadbuf *rb = s->u.rbuf;
    size_t len = rb != NULL ? rb->len : 0;
    size_t want = len + fresh.len; /* both within read_cap: no overflow */
    if (rb == NULL || want > rb->cap - rb->off) {
        size_t limit = stream_read_cap(s);
        limit = limit > SIZE_MAX - limit / 2u ? SIZE_MAX : limit + limit / 2u;
        size_t grown = READBUF_MIN;
        if (rb != NULL) {
            grown = rb->off >= len ? rb->cap : rb->cap > SIZE_MAX / 2u ? SIZE_MAX : rb->cap * 2u;
        }
        size_t cap = stream_size_max(want, grown < limit ? grown : limit);
        if (cap > SIZE_MAX - sizeof(kreadbuf)) {
            return KEEL_ERR_NO_MEMORY;
        }
        kreadbuf *nb = ksys_alloc_zeroed(sizeof(kreadbuf) + cap);
        if (nb == NULL) {
            return KEEL_ERR_NO_MEMORY;
        }
        nb->cap = cap;
        keel_buf kept = { nb->data, cap, 0 };
        keel_result r = keel_buf_append(&kept, stream_unconsumed(s));
        if (r != KEEL_OK) {
            ksys_release(nb); /* cannot happen: cap >= len */
            return r;
        }
        nb->len = kept.len;
        ksys_release(rb);
        s->u.rbuf = rb = nb;
    }
    keel_buf tail = { rb->data + rb->off, rb->cap - rb->off, rb->len };
    KEEL_TRY(keel_buf_append(&tail, fresh)); /* cannot fail: the room was made */
    rb->len = tail.len;
    return KEEL_OK;
}

/* The handler consumed `used` (< len) of the kept bytes: O(1). */
static void stream_consume_held(keel_stream *s, size_t used)
{
    s->u.rbuf->off += used;
    s->u.rbuf->len -= used;
}

static void stream_queue_free(keel_stream *s)
{
    while (s->whead != NULL) {
        kchunk *c = s->whead;
        s->whead = c->next;
        ksys_release(c);
    }
    s->wtail = NULL;
    s->queued = 0;
}

/* Copy the front of *data into c's room; *data keeps the rest. */
static KEEL_MUST_USE keel_result stream_chunk_fill(kchunk *c, keel_slice *data)
{
    size_t room = c->cap - c->len;
    keel_slice head, rest;
    KEEL_TRY(keel_slice_split_at(*data, data->len < room ? data->len : room, &head, &rest));
    keel_buf b = { c->data, c->cap, c->len };
    KEEL_TRY(keel_buf_append(&b, head)); /* cannot fail: head fits the room */
    c->len = b.len;
    *data = rest;
    return KEEL_OK;
}

/*
 * Queue data behind what is queued, all or nothing: the room left in the
 * last chunk is filled first, then new chunks of CHUNK_MIN .. CHUNK_MAX
 * bytes, all allocated before anything is copied. So every chunk but the
 * last is full, and the queue's memory is what it counts as queued plus
 * at most: the sent part of the first chunk (< CHUNK_MAX, freed with the
 * chunk), the room left in the last (< CHUNK_MIN), and a header per
 * chunk (32 bytes per >= CHUNK_MIN: under 1%). write_cap bounds memory,
 * not only the count, whatever the sizes of the writes.
 */
static KEEL_MUST_USE keel_result stream_queue_append(keel_stream *s, keel_slice data)
{
    size_t room = s->wtail != NULL ? s->wtail->cap - s->wtail->len : 0;
    size_t rest = data.len > room ? data.len - room : 0;
    kchunk *first = NULL;
    kchunk *last = NULL;
    while (rest > 0) {
        size_t cap = rest < CHUNK_MIN ? CHUNK_MIN : rest > CHUNK_MAX ? CHUNK_MAX : rest;
        kchunk *c = ksys_alloc_zeroed(sizeof(kchunk) + cap);
        if (c == NULL) {
            while (first != NULL) {
                kchunk *next = first->next;
                ksys_release(first);
                first = next;
            }
            return KEEL_ERR_NO_MEMORY;
        }
        c->cap = cap;
        if (last != NULL) {
            last->next = c;
        } else {
            first = c;
        }
        last = c;
        rest -= cap < rest ? cap : rest;
    }
    keel_slice left = data;
    keel_result r = KEEL_OK;
    if (s->wtail != NULL) {
        r = stream_chunk_fill(s->wtail, &left);
    }
    for (kchunk *c = first; c != NULL && r == KEEL_OK; c = c->next) {
        r = stream_chunk_fill(c, &left);
    }
    /* Cannot fail: the chunks were sized for data. */
    KEEL_TRY(r);
    if (first != NULL) {
        if (s->wtail != NULL) {
            s->wtail->next = first;
        } else {
            s->whead = first;
        }
        s->wtail = last;
    }
    s->queued += data.len;
    return KEEL_OK;
}

/* ---- interest, timers ------------------------------------------------------ */

/* Register exactly what the stream waits for: reads while the user wants
 * them, writes while a queue exists (or the connect is pending). */
static KEEL_MUST_USE keel_result stream_update_interest(keel_stream *s)
{
    uint32_t want = 0;
    if (stream_flags_any(s, SF_CONNECTING)) {
        want = EPOLLOUT;
    } else {
        if ((stream_flags_any(s, SF_READING) && !stream_flags_any(s, SF_READ_DONE | SF_CLOSING)) ||
            (stream_flags_any(s, SF_LINGER) && !stream_flags_any(s, SF_PEER_EOF | SF_CLOSING))) {
            want |= EPOLLIN; /* lingering: drained whether the user reads or not */
        }
        if (s->whead != NULL) {
            want |= EPOLLOUT;
        }
    }
    return kloop_mod(s->loop, &s->watch, want);
}

static void stream_timer_fired(keel_loop *loop, keel_timer_id id, void *user);

static void stream_track_deadline(uint64_t due, uint64_t now, bool *expired, uint64_t *next)
{
    if (due <= now) {
        *expired = true;
    } else if (due < *next) {
        *next = due;
    }
}

/* Whether a timeout has passed at now; *next gets the earliest deadline
 * still ahead (UINT64_MAX: none). */
static bool stream_timeouts_due(const keel_stream *s, uint64_t now, uint64_t *next)
{
    const keel_stream_opts *o = s->opts;
    bool expired = false;
    *next = UINT64_MAX;
    if (stream_flags_any(s, SF_CLOSING) || (stream_flags_any(s, SF_LINGER) && s->whead != NULL)) {
        stream_track_deadline(kloop_add_saturating(s->t_tx, stream_close_ms(o)), now, &expired,
                              next);
        return expired;
    }
    if (stream_flags_any(s, SF_LINGER)) {
        stream_track_deadline(s->t_rx, now, &expired, next);
        return expired;
    }
    uint32_t read_ms = stream_read_timeout(s), write_ms = stream_write_timeout(s),
             idle_ms = stream_idle_timeout(s);
    if (read_ms != 0 && stream_flags_any(s, SF_READING) && !stream_flags_any(s, SF_READ_DONE)) {
        stream_track_deadline(kloop_add_saturating(s->t_rx, read_ms), now, &expired, next);
    }
    if (write_ms != 0 && s->whead != NULL) {
        stream_track_deadline(kloop_add_saturating(s->t_tx, write_ms), now, &expired, next);
    }
    if (idle_ms != 0) {
        uint64_t last = s->t_rx > s->t_tx ? s->t_rx : s->t_tx;
        stream_track_deadline(kloop_add_saturating(last, idle_ms), now, &expired, next);
    }
    return expired;
}

/* (Re)arm the stream's one timer at its earliest deadline. Needed only
 * when a deadline may have moved earlier (a queue starts, a close starts,
 * reading resumes); activity only pushes deadlines later, which the timer
 * finds out when it fires. */
static KEEL_MUST_USE keel_result stream_arm_timer(keel_stream *s)
{
    if (s->timer.v != 0) {
        if (keel_timer_cancel(s->loop, s->timer) != KEEL_OK) {
            /* already fired or cancelled: nothing to undo */
        }
        s->timer.v = 0;
    }
    uint64_t now = kloop_now(s->loop);
    uint64_t next;
    if (stream_timeouts_due(s, now, &next)) {
        next = now;
    }
    if (next == UINT64_MAX) {
        return KEEL_OK;
    }
    return keel_timer_start(s->loop, next - now, 0, stream_timer_fired, s, &s->timer);
}

/* ---- failure and release ---------------------------------------------------- */

static void stream_run_deferred(kloop_deferred *d);
static KEEL_MUST_USE keel_result stream_offer(keel_stream *s, keel_slice fresh);
static void stream_fail_after_send(keel_stream *s, keel_result r);

/* Give back the descriptor and the queue now; on_close and the free follow
 * from the deferred queue. Calls no user code, so it is safe anywhere. */
static void stream_release(keel_stream *s, keel_result why, bool abortive)
{
    if (stream_flags_any(s, SF_DEAD)) {
        return;
    }
    int fd = s->watch.fd;
    kloop_del(s->loop, &s->watch);
    if (s->timer.v != 0) {
        if (keel_timer_cancel(s->loop, s->timer) != KEEL_OK) {
            /* already fired: nothing to undo */
        }
        s->timer.v = 0;
    }
    if (stream_flags_any(s, SF_CONNECTING)) {
        ksys_release(s->u.conn);
        s->u.conn = NULL;
        stream_flags_clear(s, SF_CONNECTING);
    } else {
        stream_drop_unconsumed(s);
    }
    if (abortive && fd >= 0) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        (void)ksys_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, (socklen_t)sizeof lg);
    }
    kloop_close_fd(fd);
    stream_queue_free(s);
    stream_flags_set(s, SF_DEAD | SF_READ_DONE);
    stream_flags_clear(s, SF_BLOCKED | SF_NOTIFY_BLOCK | SF_FAIL_PENDING);
    s->err = why;
    kloop_defer(s->loop, &s->deferred);
}

/* The stream failed with r (from the loop, never inside an API call):
 * released first, so that a keel_stream_close in the callback cannot turn
 * on_close's r into KEEL_OK; then the last on_read says why, with what is
 * held (kept until the final free: data may point into it). */
static void stream_fail(keel_stream *s, keel_result r, keel_slice data)
{
    if (stream_flags_any(s, SF_DEAD)) {
        return;
    }
    bool tell = !stream_flags_any(s, SF_READ_DONE);
    stream_flags_set(s, SF_IN_READ);
    stream_release(s, r, false);
    if (tell) {
        (void)s->h->on_read(s, r, data, s->user);
    }
    stream_flags_clear(s, SF_IN_READ);
}

/* A failure found inside an API call: reported from the deferred queue. */
static void stream_fail_later(keel_stream *s, keel_result r)
{
    if (!stream_flags_any(s, SF_DEAD | SF_FAIL_PENDING)) {
        s->err = r;
        stream_flags_set(s, SF_FAIL_PENDING);
        kloop_defer(s->loop, &s->deferred);
    }
}

static void stream_connect_failed(keel_stream *s, keel_result r)
{
    if (stream_flags_any(s, SF_DEAD)) {
        return;
    }
    bool tell = !stream_flags_any(s, SF_CLOSING) && s->h->on_connect != NULL;
    stream_release(s, r, false); /* first, as in stream_fail */
    if (tell) {
        s->h->on_connect(s, r, s->user);
    }
}

static void stream_group_leave(keel_stream *s)
{
    kstream_group *g = s->group;
    if (g == NULL) {
        return;
    }
    if (s->gprev != NULL) {
        s->gprev->gnext = s->gnext;
    } else {
        g->first = s->gnext;
    }
    if (s->gnext != NULL) {
        s->gnext->gprev = s->gprev;
    }
    s->group = NULL;
    g->count--;
    if (g->on_leave != NULL) {
        g->on_leave(g);
    }
}

static void stream_run_deferred(kloop_deferred *d)
{
    keel_stream *s = STREAM_OF(d, deferred);
    if (stream_flags_any(s, SF_FAIL_PENDING)) {
        stream_flags_clear(s, SF_FAIL_PENDING);
        if (stream_flags_any(s, SF_CONNECTING)) {
            stream_connect_failed(s, s->err);
        } else {
            stream_fail_after_send(s, s->err);
        }
    }
    if (stream_flags_any(s, SF_REOFFER)) {
        stream_flags_clear(s, SF_REOFFER);
        if (stream_flags_any(s, SF_READING) &&
            !stream_flags_any(s, SF_DEAD | SF_READ_DONE | SF_CONNECTING) &&
            stream_unconsumed(s).len > 0 && stream_offer(s, keel_slice_empty()) != KEEL_OK) {
            /* a failure stream_offer has handled */
        }
    }
    if (stream_flags_any(s, SF_NOTIFY_BLOCK) && !stream_flags_any(s, SF_DEAD)) {
        stream_flags_clear(s, SF_NOTIFY_BLOCK);
        if (stream_flags_any(s, SF_BLOCKED) && !stream_flags_any(s, SF_CLOSING) &&
            s->h->on_writable != NULL) {
            s->h->on_writable(s, KEEL_OK, false, s->user);
        }
    }
    /* A callback above may have queued the node again: the free waits for
     * that run, so the queue never holds freed memory. */
    if (!stream_flags_any(s, SF_DEAD) || d->queued) {
        return;
    }
    if (s->h->on_close != NULL) {
        s->h->on_close(s, s->err, s->user);
    }
    kloop_handle_unlink(s->loop, &s->handle);
    stream_group_leave(s);
    ksys_release(s->u.rbuf); /* kept while on_read was on the stack */
    ksys_release(s);
}

/* keel_loop_free: abortive; the deferred queue (run right after) calls
 * on_close(KEEL_ERR_CLOSED) and frees. */
static void stream_close_now(kloop_handle *hd)
{
    keel_stream *s = STREAM_OF(hd, handle);
    stream_release(s, KEEL_ERR_CLOSED, true);
    kloop_handle_unlink(s->loop, &s->handle);
}

/* ---- reading ---------------------------------------------------------------- */

static void stream_read_eof(keel_stream *s)
{
    stream_flags_set(s, SF_READ_DONE | SF_IN_READ);
    (void)s->h->on_read(s, KEEL_ERR_CLOSED, stream_unconsumed(s), s->user);
    stream_flags_clear(s, SF_IN_READ);
    stream_drop_unconsumed(s);
    if (!stream_flags_any(s, SF_DEAD)) {
        keel_result r = stream_update_interest(s);
        if (r != KEEL_OK) {
            stream_fail(s, r, stream_unconsumed(s));
        }
    }
}

/* Offer the unconsumed bytes followed by `fresh` (bytes just read into
 * the scratch buffer, or none) to on_read, and keep what it leaves:
 * KEEL_OK, or the failure (already handled here). */
static KEEL_MUST_USE keel_result stream_offer(keel_stream *s, keel_slice fresh)
{
    size_t cap = stream_read_cap(s);
    keel_slice data = fresh;
    if (s->u.rbuf != NULL) {
        keel_result r = stream_hold(s, fresh);
        if (r != KEEL_OK) {
            stream_fail(s, r, stream_unconsumed(s));
            return r;
        }
        data = stream_unconsumed(s);
    }
    stream_flags_set(s, SF_IN_READ);
    size_t used = s->h->on_read(s, KEEL_OK, data, s->user);
    stream_flags_clear(s, SF_IN_READ);
    if (stream_flags_any(s, SF_READ_DONE) || used >= data.len) {
        stream_drop_unconsumed(s);
        return KEEL_OK;
    }
    if (used == 0 && data.len >= cap) {
        stream_fail(s, KEEL_ERR_TOO_LARGE, data);
        return KEEL_ERR_TOO_LARGE;
    }
    if (s->u.rbuf != NULL) {
        stream_consume_held(s, used); /* data is the buffer's */
        return KEEL_OK;
    }
    keel_slice rest;
    keel_result r = keel_slice_from_off(data, used, &rest);
    if (r == KEEL_OK) {
        r = stream_hold(s, rest);
    }
    if (r != KEEL_OK) {
        stream_fail(s, r, rest);
    }
    return r;
}

/* One read: KEEL_OK when bytes were delivered to on_read (*got of them
 * taken from the kernel), otherwise what the socket said: handled here
 * (EOF, a failure), except while draining before a failure, when the end
 * of what the kernel holds is only returned (after a send has reported
 * the reset, recv says EOF: that is not an orderly close). */
static KEEL_MUST_USE keel_result stream_read(keel_stream *s, bool draining, size_t *got)
{
    *got = 0;
    if (stream_flags_any(s, SF_REOFFER)) {
        /* Reading resumed over held bytes: they go first, ahead of what
         * the kernel has (an EOF must not overtake them). */
        stream_flags_clear(s, SF_REOFFER);
        if (stream_unconsumed(s).len > 0) {
            return stream_offer(s, keel_slice_empty());
        }
    }
    size_t cap = stream_read_cap(s);
    size_t held = stream_unconsumed(s).len;
    keel_buf in = kloop_scratch(s->loop);
    if (cap - held < in.cap) {
        in.cap = cap - held; /* > 0: a full buffer failed the stream */
    }
    keel_result r = stream_recv_some(s, &in);
    if (r == KEEL_ERR_WOULD_BLOCK || (r != KEEL_OK && draining)) {
        return r;
    }
    if (r == KEEL_ERR_CLOSED) {
        stream_read_eof(s);
        return r;
    }
    if (r != KEEL_OK) {
        stream_fail(s, r, stream_unconsumed(s));
        return r;
    }
    s->t_rx = kloop_now(s->loop);
    *got = in.len;
    return stream_offer(s, keel_buf_slice(&in));
}

/* A send (or the FIN, or a write from the API) failed with r. When the
 * connection was reset, what the peer sent before its reset still waits in
 * the kernel (recv returns it ahead of the error): it is delivered first,
 * so no received byte is lost. Not while reading is paused (those bytes
 * were never taken). Bounded by what the kernel can hold (SO_RCVBUF, plus
 * one read's slack): a peer that reset sends nothing more. */
static void stream_fail_after_send(keel_stream *s, keel_result r)
{
    if (r == KEEL_ERR_RESET) {
        int rcvbuf = 0;
        socklen_t len = (socklen_t)sizeof rcvbuf;
        if (ksys_getsockopt(s->watch.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) != 0 ||
            rcvbuf < 0) {
            rcvbuf = 0;
        }
        size_t limit = (size_t)rcvbuf + KLOOP_SCRATCH_CAP;
        size_t drained = 0;
        size_t got = 0;
        while (drained < limit && !stream_flags_any(s, SF_DEAD | SF_READ_DONE) &&
               (s->watch.events & EPOLLIN) != 0 && stream_read(s, true, &got) == KEEL_OK) {
            drained += got;
        }
    }
    stream_fail(s, r, stream_unconsumed(s));
}

/* ---- writing ---------------------------------------------------------------- */

static KEEL_MUST_USE keel_result stream_send_fin(keel_stream *s)
{
    if (ksys_shutdown(s->watch.fd, SHUT_WR) != 0) {
        return stream_os_failure(s, errno, true);
    }
    stream_flags_set(s, SF_SHUT_DONE);
    return KEEL_OK;
}

static void stream_flush(keel_stream *s)
{
    bool progress = false;
    while (s->whead != NULL) {
        kchunk *c = s->whead;
        keel_slice left = { c->data + c->off, c->len - c->off };
        size_t sent = 0;
        keel_result r = stream_send_some(s, left, &sent);
        if (r != KEEL_OK) {
            stream_fail_after_send(s, r);
            return;
        }
        if (sent == 0) {
            break;
        }
        progress = true;
        c->off += sent;
        s->queued -= sent;
        if (c->off < c->len) {
            break; /* the kernel is full: wait for EPOLLOUT */
        }
        s->whead = c->next;
        ksys_release(c);
    }
    if (s->whead == NULL) {
        s->wtail = NULL;
    }
    if (progress) {
        s->t_tx = kloop_now(s->loop);
    }
    keel_result r = KEEL_OK;
    if (s->whead == NULL) {
        if (stream_flags_any(s, SF_CLOSING)) {
            stream_release(s, KEEL_OK, false);
            return;
        }
        if (stream_flags_any(s, SF_SHUT_REQ) && !stream_flags_any(s, SF_SHUT_DONE)) {
            r = stream_send_fin(s);
        }
        if (r == KEEL_OK && stream_flags_any(s, SF_LINGER)) {
            if (stream_flags_any(s, SF_PEER_EOF)) {
                stream_release(s, KEEL_OK, false); /* all sent, the peer is done */
                return;
            }
            r = stream_arm_timer(s); /* the drain's deadline from now on */
        }
    }
    if (r == KEEL_OK) {
        r = stream_update_interest(s);
    }
    if (r != KEEL_OK) {
        stream_fail_after_send(s, r);
        return;
    }
    if (stream_flags_any(s, SF_BLOCKED) && s->queued <= stream_write_low(s->opts)) {
        stream_flags_clear(s, SF_BLOCKED | SF_NOTIFY_BLOCK);
        if (!stream_flags_any(s, SF_CLOSING | SF_LINGER) && s->h->on_writable != NULL) {
            s->h->on_writable(s, KEEL_OK, true, s->user);
        }
    }
}

keel_result keel_stream_write(keel_stream *s, keel_slice data)
{
    if (s == NULL || !keel_slice_valid(data)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (s->err != KEEL_OK) {
        return s->err;
    }
    if (stream_flags_any(s, SF_DEAD | SF_CLOSING | SF_SHUT_REQ)) {
        return KEEL_ERR_STATE;
    }
    if (data.len == 0) {
        return KEEL_OK;
    }
    /* Counted as if the socket took nothing, so that TOO_LARGE never
     * follows a partial send. */
    if (data.len > stream_write_cap(s->opts) - s->queued) {
        return KEEL_ERR_TOO_LARGE;
    }
    size_t sent = 0;
    bool was_empty = s->whead == NULL;
    if (was_empty && !stream_flags_any(s, SF_CONNECTING)) {
        keel_result r = stream_send_some(s, data, &sent);
        if (r != KEEL_OK) {
            stream_fail_later(s, r);
            return r;
        }
        if (sent > 0) {
            s->t_tx = kloop_now(s->loop);
        }
        if (sent == data.len) {
            return KEEL_OK;
        }
    }
    keel_slice rest;
    keel_result r = keel_slice_from_off(data, sent, &rest);
    if (r == KEEL_OK) {
        r = stream_queue_append(s, rest);
    }
    if (r != KEEL_OK) {
        if (sent > 0) {
            stream_fail_later(s, r); /* part of data is gone: the byte stream is broken */
        }
        return r;
    }
    if (was_empty) {
        s->t_tx = kloop_now(s->loop);
        r = stream_update_interest(s);
        if (r == KEEL_OK && !stream_flags_any(s, SF_CONNECTING) && stream_write_timeout(s) != 0) {
            r = stream_arm_timer(s);
        }
        if (r != KEEL_OK) {
            stream_fail_later(s, r); /* the bytes are queued but would never leave */
            return KEEL_OK;
        }
    }
    if (!stream_flags_any(s, SF_BLOCKED) && s->queued >= stream_write_high(s->opts)) {
        stream_flags_set(s, SF_BLOCKED | SF_NOTIFY_BLOCK);
        kloop_defer(s->loop, &s->deferred);
    }
    return KEEL_OK;
}

keel_result keel_stream_writev(keel_stream *s, const keel_slice *parts, size_t count)
{
    if (s == NULL || (parts == NULL && count > 0)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (!keel_slice_valid(parts[i]) || parts[i].len > SIZE_MAX - total) {
            return KEEL_ERR_INVALID_ARG;
        }
        total += parts[i].len;
    }
    if (s->err != KEEL_OK) {
        return s->err;
    }
    if (stream_flags_any(s, SF_DEAD | SF_CLOSING | SF_SHUT_REQ)) {
        return KEEL_ERR_STATE;
    }
    /* The cap is checked for the whole, so that no part is refused after
     * another was taken (each write below counts against it as before). */
    if (total > stream_write_cap(s->opts) - s->queued) {
        return KEEL_ERR_TOO_LARGE;
    }
    for (size_t i = 0; i < count; i++) {
        KEEL_TRY(keel_stream_write(s, parts[i]));
    }
    return KEEL_OK;
}

bool keel_stream_can_write(const keel_stream *s)
{
    return s != NULL && !stream_flags_any(s, SF_BLOCKED | SF_DEAD | SF_CLOSING | SF_SHUT_REQ) &&
           s->err == KEEL_OK;
}

size_t keel_stream_queued(const keel_stream *s)
{
    return s == NULL ? 0 : s->queued;
}

keel_result keel_stream_shutdown(keel_stream *s)
{
    if (s == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (s->err != KEEL_OK) {
        return s->err;
    }
    if (stream_flags_any(s, SF_DEAD | SF_CLOSING)) {
        return KEEL_ERR_STATE;
    }
    if (stream_flags_any(s, SF_SHUT_REQ)) {
        return KEEL_OK;
    }
    stream_flags_set(s, SF_SHUT_REQ);
    if (s->whead != NULL || stream_flags_any(s, SF_CONNECTING)) {
        return KEEL_OK; /* FIN follows the queue */
    }
    keel_result r = stream_send_fin(s);
    if (r != KEEL_OK) {
        stream_fail_later(s, r);
    }
    return r;
}

/* ---- lingering close ---------------------------------------------------------- */

/* Lingering: read and drop what the peer sends (a few reads per event, so
 * one stream cannot hold the loop). At its EOF the stream ends once its
 * queue and FIN are out; a failure ends it at once (KEEL_OK when
 * everything had been sent: the answer is out, the peer's reset after it
 * is not our failure). */
static void stream_linger_drain(keel_stream *s)
{
    for (int i = 0; i < 4; i++) {
        keel_buf in = kloop_scratch(s->loop);
        keel_result r = stream_recv_some(s, &in);
        if (r == KEEL_OK) {
            continue; /* dropped */
        }
        if (r == KEEL_ERR_WOULD_BLOCK) {
            return;
        }
        if (r == KEEL_ERR_CLOSED) {
            stream_flags_set(s, SF_PEER_EOF);
            if (s->whead == NULL && stream_flags_any(s, SF_SHUT_DONE)) {
                stream_release(s, KEEL_OK, false);
            } else {
                r = stream_update_interest(s);
                if (r != KEEL_OK) {
                    stream_release(s, r, true);
                }
            }
            return;
        }
        bool all_sent = s->whead == NULL && stream_flags_any(s, SF_SHUT_DONE);
        stream_release(s, all_sent ? KEEL_OK : r, true);
        return;
    }
}

void keel_stream_close_linger(keel_stream *s, uint32_t linger_ms)
{
    if (s == NULL || stream_flags_any(s, SF_DEAD | SF_CLOSING | SF_LINGER)) {
        return;
    }
    if (stream_flags_any(s, SF_CONNECTING | SF_READ_DONE) || s->err != KEEL_OK) {
        keel_stream_close(s); /* nothing to drain: the peer's EOF came, or none can */
        return;
    }
    stream_flags_set(s, SF_LINGER | SF_READ_DONE | SF_SHUT_REQ);
    stream_flags_clear(s, SF_REOFFER);
    stream_drop_unconsumed(s);
    uint64_t now = kloop_now(s->loop);
    s->t_rx = kloop_add_saturating(now, linger_ms == 0 ? STREAM_LINGER_MS : linger_ms);
    keel_result r = KEEL_OK;
    if (s->whead == NULL && !stream_flags_any(s, SF_SHUT_DONE)) {
        r = stream_send_fin(s);
    } else {
        s->t_tx = now; /* the flush's bound runs from the close, as keel_stream_close's */
    }
    if (r == KEEL_OK) {
        r = stream_update_interest(s);
    }
    if (r == KEEL_OK) {
        r = stream_arm_timer(s);
    }
    if (r != KEEL_OK) {
        stream_release(s, r, true);
    }
}

/* ---- the watch --------------------------------------------------------------- */

static void stream_connect_attempt_done(keel_stream *s);

static void stream_handle_events(kloop_watch *w, uint32_t events)
{
    keel_stream *s = STREAM_OF(w, watch);
    if (stream_flags_any(s, SF_CONNECTING)) {
        stream_connect_attempt_done(s);
        return;
    }
    /* Reads first: bytes the peer sent before resetting are still
     * delivered, ahead of the error a send would report. */
    bool reading = (s->watch.events & EPOLLIN) != 0;
    if (reading && stream_flags_any(s, SF_LINGER) &&
        (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
        stream_linger_drain(s);
        if (stream_flags_any(s, SF_DEAD)) {
            return;
        }
    } else if (reading && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
        size_t got = 0;
        if (stream_read(s, false, &got) != KEEL_OK) {
            /* WOULD_BLOCK, or a failure stream_read has handled */
        }
        if (stream_flags_any(s, SF_DEAD)) {
            return;
        }
    }
    if ((events & EPOLLOUT) != 0 && s->whead != NULL) {
        stream_flush(s);
    } else if (!reading && (events & (EPOLLERR | EPOLLHUP)) != 0) {
        /* Not reading and nothing to send: only the socket's error tells. */
        int err = stream_pending_errno(s->watch.fd);
        stream_fail(s, err != 0 ? stream_os_failure(s, err, true) : KEEL_ERR_RESET,
                    stream_unconsumed(s));
    }
}

static void stream_timer_fired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    keel_stream *s = user;
    s->timer.v = 0;
    if (stream_flags_any(s, SF_DEAD)) {
        return;
    }
    if (stream_flags_any(s, SF_CONNECTING)) {
        stream_connect_failed(s, KEEL_ERR_TIMEOUT);
        return;
    }
    uint64_t now = kloop_now(s->loop);
    uint64_t next;
    if (!stream_timeouts_due(s, now, &next)) {
        if (next != UINT64_MAX &&
            keel_timer_start(s->loop, next - now, 0, stream_timer_fired, s, &s->timer) != KEEL_OK) {
            stream_fail(s, KEEL_ERR_NO_MEMORY, stream_unconsumed(s));
        }
        return;
    }
    if (stream_flags_any(s, SF_CLOSING) || (stream_flags_any(s, SF_LINGER) && s->whead != NULL)) {
        stream_release(s, KEEL_ERR_TIMEOUT, true); /* the flush stalled */
    } else if (stream_flags_any(s, SF_LINGER)) {
        stream_release(s, KEEL_OK, false); /* all sent; the drain's time is up */
    } else {
        stream_fail(s, KEEL_ERR_TIMEOUT, stream_unconsumed(s));
    }
}

/* ---- creation ----------------------------------------------------------------- */

static KEEL_MUST_USE keel_result stream_alloc(keel_loop *loop, const keel_stream_handlers *h,
                                              const keel_stream_opts *opts, void *user,
                                              keel_stream **out)
{
    if (loop == NULL || h == NULL || h->on_read == NULL || out == NULL || !kstream_opts_ok(opts)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_stream *s = ksys_alloc_zeroed(sizeof *s);
    if (s == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    s->watch.fn = stream_handle_events;
    s->watch.fd = -1;
    s->handle.close_now = stream_close_now;
    s->deferred.fn = stream_run_deferred;
    s->loop = loop;
    s->h = h;
    s->opts = opts;
    s->user = user;
    s->flags = SF_READING;
    s->t_rx = s->t_tx = kloop_now(loop);
    *out = s;
    return KEEL_OK;
}

/* Start a connected stream's I/O: register, arm its timeouts, link. */
static KEEL_MUST_USE keel_result stream_start_io(keel_stream *s, int fd, kstream_group *g)
{
    stream_try_set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    keel_result r = kloop_add(s->loop, &s->watch, fd, 0);
    if (r == KEEL_OK) {
        r = stream_update_interest(s);
    }
    if (r == KEEL_OK && stream_has_timeouts(s)) {
        r = stream_arm_timer(s);
    }
    if (r != KEEL_OK) {
        kloop_del(s->loop, &s->watch);
        return r;
    }
    kloop_handle_link(s->loop, &s->handle);
    if (g != NULL) {
        s->group = g;
        s->gnext = g->first;
        if (g->first != NULL) {
            g->first->gprev = s;
        }
        g->first = s;
        g->count++;
    }
    return KEEL_OK;
}

keel_result kstream_open(keel_loop *loop, int fd, const keel_stream_handlers *h,
                         const keel_stream_opts *opts, void *user, kstream_group *group,
                         keel_stream **out)
{
    keel_stream *s = NULL;
    keel_result r = fd < 0 ? KEEL_ERR_INVALID_ARG : stream_alloc(loop, h, opts, user, &s);
    if (r == KEEL_OK) {
        stream_flags_set(s, SF_ACCEPTED); /* a listener's or server's: default timeouts */
        r = stream_start_io(s, fd, group);
        if (r != KEEL_OK) {
            ksys_release(s);
        }
    }
    if (r != KEEL_OK) {
        kloop_close_fd(fd);
        return r;
    }
    *out = s;
    return KEEL_OK;
}

void kstream_group_close(kstream_group *g)
{
    /* keel_stream_close unlinks nothing: members leave from the deferred
     * queue, so the walk is safe. */
    for (keel_stream *s = g->first; s != NULL; s = s->gnext) {
        keel_stream_close(s);
    }
}

keel_result keel_stream_adopt(keel_loop *loop, keel_net *sock, const keel_stream_handlers *handlers,
                              const keel_stream_opts *opts, void *user, keel_stream **out)
{
    if (sock == NULL || keel_net_proto(sock) != KEEL_PROTO_TCP) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_stream *s = NULL;
    KEEL_TRY(stream_alloc(loop, handlers, opts, user, &s));
    int fd = -1;
    keel_result r = keel_net_fd(sock, &fd);
    if (r == KEEL_OK) {
        r = stream_start_io(s, fd, NULL);
    }
    if (r == KEEL_OK) {
        /* Last, so that a failure leaves sock in its mode. */
        r = keel_net_set_nonblocking(sock, true);
        if (r != KEEL_OK) {
            kloop_del(loop, &s->watch);
            if (s->timer.v != 0 && keel_timer_cancel(loop, s->timer) != KEEL_OK) {
                /* cannot happen: it was just started */
            }
            kloop_handle_unlink(loop, &s->handle);
        }
    }
    if (r != KEEL_OK) {
        ksys_release(s);
        return r;
    }
    /* Only now, when nothing can fail any more, the context lets go. */
    if (knet_release_fd(sock, &fd) != KEEL_OK) {
        /* cannot happen: keel_net_fd said it is open */
    }
    keel_net_free(sock);
    *out = s;
    return KEEL_OK;
}

/* ---- connect --------------------------------------------------------------------- */

/* Which failure says most about why no address connected (as net.c): a
 * peer that said no, then one that never answered, then the rest. */
static int stream_connect_error_rank(keel_result r)
{
    return r == KEEL_ERR_REFUSED ? 3 : r == KEEL_ERR_TIMEOUT ? 2 : r == KEEL_ERR_RESET ? 1 : 0;
}

/* Start connecting to the next address that lets us: OK once one is in
 * progress (watched for EPOLLOUT), else the best failure. */
static KEEL_MUST_USE keel_result stream_connect_try_next(keel_stream *s)
{
    kconnect *c = s->u.conn;
    while (c->next < c->list.count && c->next < KEEL_ADDR_LIST_MAX) {
        const keel_addr *a = &c->list.items[c->next++];
        struct sockaddr_storage ss;
        socklen_t len = 0;
        keel_result r = keel_addr_to_sockaddr(a, &ss, &len);
        int fd = -1;
        if (r == KEEL_OK) {
            fd = ksys_socket(a->family == KEEL_AF_INET6 ? AF_INET6 : AF_INET,
                             SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                r = stream_os_failure(s, errno, false);
            }
        }
        if (r == KEEL_OK) {
            int rc;
            do {
                rc = ksys_connect(fd, (const struct sockaddr *)&ss, len);
            } while (rc != 0 && errno == EINTR);
            if (rc != 0 && errno != EINPROGRESS) {
                r = stream_os_failure(s, errno, false);
            }
        }
        if (r == KEEL_OK) {
            /* Even an immediate success is reported from the loop, once
             * EPOLLOUT says so. */
            r = kloop_add(s->loop, &s->watch, fd, EPOLLOUT);
        }
        if (r == KEEL_OK) {
            return KEEL_OK;
        }
        kloop_close_fd(fd);
        if (stream_connect_error_rank(r) >= stream_connect_error_rank(c->best)) {
            c->best = r;
        }
    }
    return c->best;
}

/* EPOLLOUT (or an error) on the connecting socket. */
static void stream_connect_attempt_done(keel_stream *s)
{
    int fd = s->watch.fd;
    int err = stream_pending_errno(fd);
    if (err == 0) {
        /* Writable without an error yet not connected: a socket whose
         * connect never started (only seen with a faked seam); failing
         * beats spinning on its level-triggered EPOLLOUT. */
        struct sockaddr_storage ss;
        socklen_t len = (socklen_t)sizeof ss;
        if (ksys_getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
            err = errno;
        }
    }
    if (err != 0) {
        kconnect *c = s->u.conn;
        keel_result r = stream_os_failure(s, err, false);
        if (stream_connect_error_rank(r) >= stream_connect_error_rank(c->best)) {
            c->best = r;
        }
        kloop_del(s->loop, &s->watch);
        kloop_close_fd(fd);
        r = stream_connect_try_next(s);
        if (r != KEEL_OK) {
            stream_connect_failed(s, r);
        }
        return;
    }
    ksys_release(s->u.conn);
    s->u.rbuf = NULL;
    stream_flags_clear(s, SF_CONNECTING);
    if (s->timer.v != 0) {
        if (keel_timer_cancel(s->loop, s->timer) != KEEL_OK) {
            /* already fired: cannot be, it would have failed the connect */
        }
        s->timer.v = 0;
    }
    stream_try_set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    s->t_rx = s->t_tx = kloop_now(s->loop);
    if (s->whead == NULL && stream_flags_any(s, SF_CLOSING)) {
        stream_release(s, KEEL_OK, false);
        return;
    }
    keel_result r = KEEL_OK;
    if (s->whead == NULL && stream_flags_any(s, SF_SHUT_REQ)) {
        r = stream_send_fin(s);
    }
    if (r == KEEL_OK) {
        r = stream_update_interest(s);
    }
    if (r == KEEL_OK && (stream_has_timeouts(s) || stream_flags_any(s, SF_CLOSING))) {
        r = stream_arm_timer(s);
    }
    if (r != KEEL_OK) {
        stream_connect_failed(s, r);
        return;
    }
    if (!stream_flags_any(s, SF_CLOSING) && s->h->on_connect != NULL) {
        s->h->on_connect(s, KEEL_OK, s->user);
    }
}

keel_result keel_stream_connect(keel_loop *loop, keel_slice host, uint16_t port,
                                uint32_t timeout_ms, const keel_stream_handlers *handlers,
                                const keel_stream_opts *opts, void *user, keel_stream **out)
{
    if (!keel_slice_valid(host) || host.len == 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_stream *s = NULL;
    KEEL_TRY(stream_alloc(loop, handlers, opts, user, &s));
    kconnect *c = ksys_alloc_zeroed(sizeof *c);
    if (c == NULL) {
        ksys_release(s);
        return KEEL_ERR_NO_MEMORY;
    }
    c->best = KEEL_ERR_HOST_NOT_FOUND;
    c->deadline = timeout_ms == KEEL_FOREVER ? UINT64_MAX
                                             : kloop_add_saturating(kloop_now(loop), timeout_ms);
    /* A name (not a literal) is resolved here, blocking the loop for as
     * long as the system resolver takes. */
    keel_result r = keel_addr_resolve(host, port, KEEL_AF_UNSPEC, &c->list);
    if (r == KEEL_ERR_INVALID_ARG) {
        ksys_release(c);
        ksys_release(s);
        return r;
    }
    if (r == KEEL_OK && timeout_ms != KEEL_FOREVER) {
        r = keel_timer_start(loop, timeout_ms, 0, stream_timer_fired, s, &s->timer);
        if (r != KEEL_OK) {
            ksys_release(c);
            ksys_release(s);
            return r;
        }
    }
    s->u.conn = c;
    stream_flags_set(s, SF_CONNECTING);
    kloop_handle_link(loop, &s->handle);
    if (r == KEEL_OK) {
        r = stream_connect_try_next(s);
    }
    if (r != KEEL_OK) {
        stream_fail_later(s, r); /* on_connect(r), then on_close(r), from the loop */
    }
    *out = s;
    return KEEL_OK;
}

/* ---- reading control, closing ------------------------------------------------------- */

void keel_stream_read_stop(keel_stream *s)
{
    if (s == NULL || !stream_flags_any(s, SF_READING)) {
        return;
    }
    stream_flags_clear(s, SF_READING);
    if (!stream_flags_any(s, SF_DEAD | SF_CONNECTING)) {
        keel_result r = stream_update_interest(s);
        if (r != KEEL_OK) {
            stream_fail_later(s, r);
        }
    }
}

void keel_stream_read_start(keel_stream *s)
{
    if (s == NULL || stream_flags_any(s, SF_READING)) {
        return;
    }
    stream_flags_set(s, SF_READING);
    if (!stream_flags_any(s, SF_DEAD | SF_CONNECTING | SF_READ_DONE)) {
        s->t_rx = kloop_now(s->loop);
        keel_result r = stream_update_interest(s);
        if (r == KEEL_OK && stream_read_timeout(s) != 0) {
            r = stream_arm_timer(s);
        }
        if (r != KEEL_OK) {
            stream_fail_later(s, r);
            return;
        }
        /* Bytes held while paused are offered again from the loop (the
         * peer may have sent everything and wait): not needed when
         * resumed inside on_read, which is looking at them. */
        if (stream_unconsumed(s).len > 0 && !stream_flags_any(s, SF_IN_READ)) {
            stream_flags_set(s, SF_REOFFER);
            kloop_defer(s->loop, &s->deferred);
        }
    }
}

void keel_stream_close(keel_stream *s)
{
    if (s == NULL || stream_flags_any(s, SF_DEAD | SF_CLOSING)) {
        return;
    }
    stream_flags_set(s, SF_CLOSING | SF_READ_DONE);
    stream_flags_clear(s, SF_FAIL_PENDING);
    stream_drop_unconsumed(s);
    if (s->whead == NULL || s->err != KEEL_OK) {
        /* A failure found inside an API call and not yet reported ended
         * the stream: on_close says so (s->err is KEEL_OK otherwise). */
        stream_release(s, s->err, false);
        return;
    }
    if (stream_flags_any(s, SF_CONNECTING)) {
        /* Flushed once connected: the connect may go on until its own
         * deadline, but no longer than the close bound from now (without
         * one, the kernel's SYN retries would hold it for minutes). */
        uint64_t now = kloop_now(s->loop);
        uint64_t due = kloop_add_saturating(now, stream_close_ms(s->opts));
        if (due < s->u.conn->deadline) {
            s->u.conn->deadline = due;
            if (s->timer.v != 0 && keel_timer_cancel(s->loop, s->timer) != KEEL_OK) {
                /* already fired: cannot be, it would have failed the connect */
            }
            s->timer.v = 0;
            if (keel_timer_start(s->loop, due - now, 0, stream_timer_fired, s, &s->timer) !=
                KEEL_OK) {
                stream_release(s, KEEL_ERR_NO_MEMORY, true);
            }
        }
        return;
    }
    s->t_tx = kloop_now(s->loop);
    keel_result r = stream_update_interest(s);
    if (r == KEEL_OK) {
        r = stream_arm_timer(s);
    }
    if (r != KEEL_OK) {
        stream_release(s, r, true);
    }
}

void keel_stream_abort(keel_stream *s)
{
    if (s != NULL) {
        stream_release(s, s->err, true); /* as in keel_stream_close */
    }
}

/* ---- accessors ----------------------------------------------------------------------- */

void keel_stream_set_user(keel_stream *s, void *user)
{
    if (s != NULL) {
        s->user = user;
    }
}

void *keel_stream_user(const keel_stream *s)
{
    return s == NULL ? NULL : s->user;
}

keel_loop *keel_stream_loop(const keel_stream *s)
{
    return s == NULL ? NULL : s->loop;
}

int keel_stream_last_os_error(const keel_stream *s)
{
    return s == NULL ? 0 : s->os_errno;
}

keel_result keel_stream_peer_addr(const keel_stream *s, keel_addr *out)
{
    if (s == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (stream_flags_any(s, SF_DEAD | SF_CONNECTING) || s->watch.fd < 0) {
        return KEEL_ERR_STATE;
    }
    struct sockaddr_storage ss;
    socklen_t len = (socklen_t)sizeof ss;
    if (ksys_getpeername(s->watch.fd, (struct sockaddr *)&ss, &len) != 0) {
        return knet_errno_result(errno, true);
    }
    return keel_addr_from_sockaddr((const struct sockaddr *)&ss, len, out);
}

/*
 * src/loop/stream.c - buffered TCP streams on the loop (keel_stream_*):
 * connect with a deadline, reads with a hard cap, a write queue with
 * high/low water marks, half-close, timeouts, orderly and abortive close.
 *
 * The hot path of an echo is: epoll reports EPOLLIN -> stream_ready -> one
 * recv into the loop's scratch buffer -> on_read(slice) -> the user's
 * keel_stream_write -> one send straight from the caller's bytes. No
 * allocation, no epoll_ctl (EPOLLOUT is wanted only while a queue exists)
 * and no timer heap operation per message (timeouts compare timestamps
 * when the stream's single timer fires, and re-arm it lazily).
 *
 * Lifetime: every way out (error, EOF + close, abort, timeout, loop free)
 * goes through stream_release, which gives the descriptor and the queue
 * back at once and defers the rest; stream_deferred then calls on_close and
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
/* Queue chunks hold at least this much, so that many small writes to a
 * blocked stream share allocations instead of paying a header each. */
#define CHUNK_MIN 4000u

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
    SF_FAIL_PENDING = 1u << 10 /* deferred failure with err (from an API call) */
};

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
    size_t next;      /* next address to try */
    keel_result best; /* most telling failure so far */
} kconnect;

/*
 * What a connection costs (x86-64, glibc), idle: this struct only, 192
 * bytes, one 208-byte malloc chunk; no read buffer and no write buffer
 * (the kernel's socket and epoll entry are not in the process's RSS).
 *   watch 16 (fn, fd, registered events: the fd lives here, no copy)
 *   handle 24 (loop's handle list), deferred 24 (close/notify, no alloc)
 *   loop, h, opts, user 32 (handlers and opts by pointer, shared)
 *   u 8 (unconsumed bytes, or connect state while connecting)
 *   rlen 8, whead 8, wtail 8, queued 8 (the write queue: NULL when idle)
 *   t_rx, t_tx 16 (activity stamps for the timeouts), timer 8
 *   group, gprev, gnext 24 (server streams: closed together at shutdown)
 *   err 4, flags 2 (+2 padding)
 * While busy: unconsumed bytes in one allocation of exactly their size
 * (<= read_cap), freed once consumed; unsent bytes in chunks of at least
 * CHUNK_MIN, each freed as soon as it is sent.
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
        uint8_t *rbuf; /* unconsumed bytes (NULL when none) */
        kconnect *conn;
    } u;
    size_t rlen;
    kchunk *whead;
    kchunk *wtail;
    size_t queued;
    uint64_t t_rx; /* last byte received (or reading (re)started) */
    uint64_t t_tx; /* last send progress (or the queue started / close) */
    keel_timer_id timer;
    kstream_group *group;
    keel_stream *gprev;
    keel_stream *gnext;
    keel_result err; /* sticky failure; after release, what on_close gets */
    uint16_t flags;
};

#define STREAM_OF(ptr, member) \
    ((keel_stream *)(void *)((char *)(ptr) - offsetof(keel_stream, member)))

/* ---- options -------------------------------------------------------------- */

static size_t opt_read_cap(const keel_stream *s)
{
    return s->opts != NULL && s->opts->read_cap != 0 ? s->opts->read_cap : STREAM_READ_CAP;
}

static size_t opt_high(const keel_stream_opts *o)
{
    return o != NULL && o->write_high != 0 ? o->write_high : STREAM_WRITE_HIGH;
}

static size_t opt_low(const keel_stream_opts *o)
{
    return o != NULL && o->write_low != 0 ? o->write_low : opt_high(o) / 4u;
}

static size_t opt_cap(const keel_stream_opts *o)
{
    if (o != NULL && o->write_cap != 0) {
        return o->write_cap;
    }
    size_t high = opt_high(o);
    return high > SIZE_MAX / 4u ? SIZE_MAX : high * 4u;
}

/* The marks must nest: low <= high <= cap. */
bool kstream_opts_ok(const keel_stream_opts *o)
{
    return opt_low(o) <= opt_high(o) && opt_high(o) <= opt_cap(o);
}

static bool has_timeouts(const keel_stream *s)
{
    const keel_stream_opts *o = s->opts;
    return o != NULL && (o->read_timeout_ms | o->write_timeout_ms | o->idle_timeout_ms) != 0;
}

static bool is(const keel_stream *s, unsigned f)
{
    return (s->flags & f) != 0;
}

static void set(keel_stream *s, unsigned f)
{
    s->flags = (uint16_t)(s->flags | f);
}

static void clear(keel_stream *s, unsigned f)
{
    s->flags = (uint16_t)(s->flags & ~f);
}

/* ---- socket calls ---------------------------------------------------------- */

static void close_fd(int fd)
{
    if (fd >= 0) {
        (void)ksys_close(fd); /* not retried: Linux has released it even on EINTR */
    }
}

/* One send; *sent 0 when the socket takes nothing now. */
static keel_result sock_send(int fd, keel_slice data, size_t *sent)
{
    for (;;) {
        ssize_t n = ksys_sendto(fd, data.ptr, data.len, MSG_NOSIGNAL, NULL, 0);
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
            return knet_errno_result(err, true);
        }
    }
}

/* One recv into b's spare room: OK (b grew), WOULD_BLOCK, CLOSED (EOF) or
 * the connection's error. */
static keel_result sock_recv(int fd, keel_buf *b)
{
    for (;;) {
        ssize_t n = ksys_recvfrom(fd, b->ptr + b->len, b->cap - b->len, 0, NULL, NULL);
        if (n > 0) {
            b->len += (size_t)n;
            return KEEL_OK;
        }
        if (n == 0) {
            return KEEL_ERR_CLOSED;
        }
        int err = errno;
        if (err != EINTR) {
            return knet_errno_result(err, true);
        }
    }
}

/* The error pending on the socket (SO_ERROR), 0 if none. */
static int sock_error(int fd)
{
    int soerr = 0;
    socklen_t len = (socklen_t)sizeof soerr;
    if (ksys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        return errno;
    }
    return soerr;
}

static void sock_set_int(int fd, int level, int name, int value)
{
    /* Best effort: a stream works without TCP_NODELAY, only slower. */
    (void)ksys_setsockopt(fd, level, name, &value, (socklen_t)sizeof value);
}

/* ---- buffers --------------------------------------------------------------- */

static keel_slice held(const keel_stream *s)
{
    keel_slice v = { NULL, 0 };
    if (!is(s, SF_CONNECTING) && s->u.rbuf != NULL) {
        v.ptr = s->u.rbuf;
        v.len = s->rlen;
    }
    return v;
}

static void drop_rbuf(keel_stream *s)
{
    if (s->u.rbuf != NULL && !is(s, SF_CONNECTING | SF_IN_READ)) {
        ksys_release(s->u.rbuf);
        s->u.rbuf = NULL;
        s->rlen = 0;
    }
}

/* A fresh allocation holding a then b (either may be empty). */
static keel_result hold_bytes(keel_stream *s, keel_slice a, keel_slice b)
{
    size_t n = a.len + b.len; /* both within read_cap: no overflow */
    uint8_t *p = ksys_alloc_zeroed(n);
    if (p == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_buf buf;
    keel_result r = keel_buf_init(&buf, p, n);
    if (r == KEEL_OK) {
        r = keel_buf_append(&buf, a);
    }
    if (r == KEEL_OK) {
        r = keel_buf_append(&buf, b);
    }
    if (r != KEEL_OK) {
        ksys_release(p);
        return r;
    }
    ksys_release(s->u.rbuf);
    s->u.rbuf = p;
    s->rlen = n;
    return KEEL_OK;
}

static void free_queue(keel_stream *s)
{
    while (s->whead != NULL) {
        kchunk *c = s->whead;
        s->whead = c->next;
        ksys_release(c);
    }
    s->wtail = NULL;
    s->queued = 0;
}

/* Queue data behind what is queued (into the last chunk when it has room). */
static keel_result enqueue(keel_stream *s, keel_slice data)
{
    kchunk *c = s->wtail;
    if (c == NULL || c->cap - c->len < data.len) {
        size_t cap = data.len < CHUNK_MIN ? CHUNK_MIN : data.len;
        if (cap > SIZE_MAX - sizeof(kchunk)) {
            return KEEL_ERR_NO_MEMORY;
        }
        c = ksys_alloc_zeroed(sizeof(kchunk) + cap);
        if (c == NULL) {
            return KEEL_ERR_NO_MEMORY;
        }
        c->cap = cap;
        if (s->wtail != NULL) {
            s->wtail->next = c;
        } else {
            s->whead = c;
        }
        s->wtail = c;
    }
    keel_buf b = { c->data, c->cap, c->len };
    keel_result r = keel_buf_append(&b, data);
    if (r != KEEL_OK) {
        return r; /* cannot happen: the room was checked */
    }
    c->len = b.len;
    s->queued += data.len;
    return KEEL_OK;
}

/* ---- interest, timers ------------------------------------------------------ */

/* Register exactly what the stream waits for: reads while the user wants
 * them, writes while a queue exists (or the connect is pending). */
static keel_result update_watch(keel_stream *s)
{
    uint32_t want = 0;
    if (is(s, SF_CONNECTING)) {
        want = EPOLLOUT;
    } else {
        if (is(s, SF_READING) && !is(s, SF_READ_DONE | SF_CLOSING)) {
            want |= EPOLLIN;
        }
        if (s->whead != NULL) {
            want |= EPOLLOUT;
        }
    }
    return kloop_mod(s->loop, &s->watch, want);
}

static void timer_fired(keel_loop *loop, keel_timer_id id, void *user);

static void consider(uint64_t due, uint64_t now, bool *expired, uint64_t *next)
{
    if (due <= now) {
        *expired = true;
    } else if (due < *next) {
        *next = due;
    }
}

static uint64_t after(uint64_t t, uint32_t ms)
{
    return t > UINT64_MAX - ms ? UINT64_MAX : t + ms;
}

/* Whether a timeout has passed at now; *next gets the earliest deadline
 * still ahead (UINT64_MAX: none). */
static bool timeouts_due(const keel_stream *s, uint64_t now, uint64_t *next)
{
    const keel_stream_opts *o = s->opts;
    bool expired = false;
    *next = UINT64_MAX;
    if (is(s, SF_CLOSING)) {
        uint32_t ms = o != NULL && o->write_timeout_ms != 0 ? o->write_timeout_ms : STREAM_CLOSE_MS;
        consider(after(s->t_tx, ms), now, &expired, next);
        return expired;
    }
    if (o == NULL) {
        return false;
    }
    if (o->read_timeout_ms != 0 && is(s, SF_READING) && !is(s, SF_READ_DONE)) {
        consider(after(s->t_rx, o->read_timeout_ms), now, &expired, next);
    }
    if (o->write_timeout_ms != 0 && s->whead != NULL) {
        consider(after(s->t_tx, o->write_timeout_ms), now, &expired, next);
    }
    if (o->idle_timeout_ms != 0) {
        uint64_t last = s->t_rx > s->t_tx ? s->t_rx : s->t_tx;
        consider(after(last, o->idle_timeout_ms), now, &expired, next);
    }
    return expired;
}

/* (Re)arm the stream's one timer at its earliest deadline. Needed only
 * when a deadline may have moved earlier (a queue starts, a close starts,
 * reading resumes); activity only pushes deadlines later, which the timer
 * finds out when it fires. */
static keel_result arm_timer(keel_stream *s)
{
    if (s->timer.v != 0) {
        if (keel_timer_cancel(s->loop, s->timer) != KEEL_OK) {
            /* already fired or cancelled: nothing to undo */
        }
        s->timer.v = 0;
    }
    uint64_t now = kloop_now(s->loop);
    uint64_t next;
    if (timeouts_due(s, now, &next)) {
        next = now;
    }
    if (next == UINT64_MAX) {
        return KEEL_OK;
    }
    return keel_timer_start(s->loop, next - now, 0, timer_fired, s, &s->timer);
}

/* ---- failure and release ---------------------------------------------------- */

static void stream_deferred(kloop_deferred *d);
static void drain_before_fail(keel_stream *s);

/* Give back the descriptor and the queue now; on_close and the free follow
 * from the deferred queue. Calls no user code, so it is safe anywhere. */
static void stream_release(keel_stream *s, keel_result why, bool abortive)
{
    if (is(s, SF_DEAD)) {
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
    if (is(s, SF_CONNECTING)) {
        ksys_release(s->u.conn);
        s->u.conn = NULL;
        clear(s, SF_CONNECTING);
    } else {
        drop_rbuf(s);
    }
    if (abortive && fd >= 0) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        (void)ksys_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, (socklen_t)sizeof lg);
    }
    close_fd(fd);
    free_queue(s);
    set(s, SF_DEAD | SF_READ_DONE);
    clear(s, SF_BLOCKED | SF_NOTIFY_BLOCK | SF_FAIL_PENDING);
    s->err = why;
    kloop_defer(s->loop, &s->deferred);
}

/* The stream failed with r (from the loop, never inside an API call):
 * released first, so that a keel_stream_close in the callback cannot turn
 * on_close's r into KEEL_OK; then the last on_read says why, with what is
 * held (kept until the final free: data may point into it). */
static void stream_fail(keel_stream *s, keel_result r, keel_slice data)
{
    if (is(s, SF_DEAD)) {
        return;
    }
    bool tell = !is(s, SF_READ_DONE);
    set(s, SF_IN_READ);
    stream_release(s, r, false);
    if (tell) {
        (void)s->h->on_read(s, r, data, s->user);
    }
    clear(s, SF_IN_READ);
}

/* A failure found inside an API call: reported from the deferred queue. */
static void fail_later(keel_stream *s, keel_result r)
{
    if (!is(s, SF_DEAD | SF_FAIL_PENDING)) {
        s->err = r;
        set(s, SF_FAIL_PENDING);
        kloop_defer(s->loop, &s->deferred);
    }
}

static void connect_failed(keel_stream *s, keel_result r)
{
    if (is(s, SF_DEAD)) {
        return;
    }
    bool tell = !is(s, SF_CLOSING) && s->h->on_connect != NULL;
    stream_release(s, r, false); /* first, as in stream_fail */
    if (tell) {
        s->h->on_connect(s, r, s->user);
    }
}

static void group_leave(keel_stream *s)
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

static void stream_deferred(kloop_deferred *d)
{
    keel_stream *s = STREAM_OF(d, deferred);
    if (is(s, SF_FAIL_PENDING)) {
        clear(s, SF_FAIL_PENDING);
        if (is(s, SF_CONNECTING)) {
            connect_failed(s, s->err);
        } else {
            if (s->err == KEEL_ERR_RESET) {
                drain_before_fail(s);
            }
            stream_fail(s, s->err, held(s));
        }
    }
    if (is(s, SF_NOTIFY_BLOCK) && !is(s, SF_DEAD)) {
        clear(s, SF_NOTIFY_BLOCK);
        if (is(s, SF_BLOCKED) && !is(s, SF_CLOSING) && s->h->on_writable != NULL) {
            s->h->on_writable(s, KEEL_OK, false, s->user);
        }
    }
    /* A callback above may have queued the node again: the free waits for
     * that run, so the queue never holds freed memory. */
    if (!is(s, SF_DEAD) || d->queued) {
        return;
    }
    if (s->h->on_close != NULL) {
        s->h->on_close(s, s->err, s->user);
    }
    kloop_handle_unlink(s->loop, &s->handle);
    group_leave(s);
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

static void read_eof(keel_stream *s)
{
    set(s, SF_READ_DONE | SF_IN_READ);
    (void)s->h->on_read(s, KEEL_ERR_CLOSED, held(s), s->user);
    clear(s, SF_IN_READ);
    drop_rbuf(s);
    if (!is(s, SF_DEAD)) {
        keel_result r = update_watch(s);
        if (r != KEEL_OK) {
            stream_fail(s, r, held(s));
        }
    }
}

/* One read: KEEL_OK when bytes were delivered to on_read, otherwise what
 * the socket said (already handled here). */
static keel_result stream_read(keel_stream *s)
{
    size_t cap = opt_read_cap(s);
    keel_buf in = kloop_scratch(s->loop);
    if (cap - s->rlen < in.cap) {
        in.cap = cap - s->rlen; /* > 0: a full buffer failed the stream */
    }
    keel_result r = sock_recv(s->watch.fd, &in);
    if (r == KEEL_ERR_WOULD_BLOCK) {
        return r;
    }
    if (r == KEEL_ERR_CLOSED) {
        read_eof(s);
        return r;
    }
    if (r != KEEL_OK) {
        stream_fail(s, r, held(s));
        return r;
    }
    s->t_rx = kloop_now(s->loop);
    keel_slice data = keel_buf_slice(&in);
    if (s->rlen > 0) {
        r = hold_bytes(s, held(s), data);
        if (r != KEEL_OK) {
            stream_fail(s, r, held(s));
            return r;
        }
        data = held(s);
    }
    set(s, SF_IN_READ);
    size_t used = s->h->on_read(s, KEEL_OK, data, s->user);
    clear(s, SF_IN_READ);
    if (is(s, SF_READ_DONE) || used >= data.len) {
        drop_rbuf(s);
        return KEEL_OK;
    }
    if (used == 0 && data.len >= cap) {
        stream_fail(s, KEEL_ERR_TOO_LARGE, data);
        return KEEL_ERR_TOO_LARGE;
    }
    if (used == 0 && data.ptr == s->u.rbuf) {
        return KEEL_OK; /* kept as it is */
    }
    keel_slice rest;
    r = keel_slice_from_off(data, used, &rest);
    if (r == KEEL_OK) {
        r = hold_bytes(s, keel_slice_empty(), rest);
    }
    if (r != KEEL_OK) {
        stream_fail(s, r, rest);
    }
    return r;
}

/* A send found the connection reset, but what the peer sent before its
 * reset still waits in the kernel (recv returns it ahead of the error):
 * deliver it first, so no received byte is lost. Bounded: a peer that
 * reset sends nothing more. */
static void drain_before_fail(keel_stream *s)
{
    for (unsigned i = 0; i < 64; i++) {
        if (is(s, SF_DEAD | SF_READ_DONE) || (s->watch.events & EPOLLIN) == 0 ||
            stream_read(s) != KEEL_OK) {
            return;
        }
    }
}

/* ---- writing ---------------------------------------------------------------- */

static keel_result do_shutdown(keel_stream *s)
{
    if (ksys_shutdown(s->watch.fd, SHUT_WR) != 0) {
        return knet_errno_result(errno, true);
    }
    set(s, SF_SHUT_DONE);
    return KEEL_OK;
}

static void stream_flush(keel_stream *s)
{
    bool progress = false;
    while (s->whead != NULL) {
        kchunk *c = s->whead;
        keel_slice left = { c->data + c->off, c->len - c->off };
        size_t sent = 0;
        keel_result r = sock_send(s->watch.fd, left, &sent);
        if (r != KEEL_OK) {
            stream_fail(s, r, held(s));
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
        if (is(s, SF_CLOSING)) {
            stream_release(s, KEEL_OK, false);
            return;
        }
        if (is(s, SF_SHUT_REQ) && !is(s, SF_SHUT_DONE)) {
            r = do_shutdown(s);
        }
    }
    if (r == KEEL_OK) {
        r = update_watch(s);
    }
    if (r != KEEL_OK) {
        stream_fail(s, r, held(s));
        return;
    }
    if (is(s, SF_BLOCKED) && s->queued <= opt_low(s->opts)) {
        clear(s, SF_BLOCKED | SF_NOTIFY_BLOCK);
        if (!is(s, SF_CLOSING) && s->h->on_writable != NULL) {
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
    if (is(s, SF_DEAD | SF_CLOSING | SF_SHUT_REQ)) {
        return KEEL_ERR_STATE;
    }
    if (data.len == 0) {
        return KEEL_OK;
    }
    /* Counted as if the socket took nothing, so that TOO_LARGE never
     * follows a partial send. */
    if (data.len > opt_cap(s->opts) - s->queued) {
        return KEEL_ERR_TOO_LARGE;
    }
    size_t sent = 0;
    bool was_empty = s->whead == NULL;
    if (was_empty && !is(s, SF_CONNECTING)) {
        keel_result r = sock_send(s->watch.fd, data, &sent);
        if (r != KEEL_OK) {
            fail_later(s, r);
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
        r = enqueue(s, rest);
    }
    if (r != KEEL_OK) {
        if (sent > 0) {
            fail_later(s, r); /* part of data is gone: the byte stream is broken */
        }
        return r;
    }
    if (was_empty) {
        s->t_tx = kloop_now(s->loop);
        r = update_watch(s);
        if (r == KEEL_OK && !is(s, SF_CONNECTING) && s->opts != NULL &&
            s->opts->write_timeout_ms != 0) {
            r = arm_timer(s);
        }
        if (r != KEEL_OK) {
            fail_later(s, r); /* the bytes are queued but would never leave */
            return KEEL_OK;
        }
    }
    if (!is(s, SF_BLOCKED) && s->queued >= opt_high(s->opts)) {
        set(s, SF_BLOCKED | SF_NOTIFY_BLOCK);
        kloop_defer(s->loop, &s->deferred);
    }
    return KEEL_OK;
}

bool keel_stream_can_write(const keel_stream *s)
{
    return s != NULL && !is(s, SF_BLOCKED | SF_DEAD | SF_CLOSING | SF_SHUT_REQ) &&
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
    if (is(s, SF_DEAD | SF_CLOSING)) {
        return KEEL_ERR_STATE;
    }
    if (is(s, SF_SHUT_REQ)) {
        return KEEL_OK;
    }
    set(s, SF_SHUT_REQ);
    if (s->whead != NULL || is(s, SF_CONNECTING)) {
        return KEEL_OK; /* FIN follows the queue */
    }
    keel_result r = do_shutdown(s);
    if (r != KEEL_OK) {
        fail_later(s, r);
    }
    return r;
}

/* ---- the watch --------------------------------------------------------------- */

static void connect_done(keel_stream *s);

static void stream_ready(kloop_watch *w, uint32_t events)
{
    keel_stream *s = STREAM_OF(w, watch);
    if (is(s, SF_CONNECTING)) {
        connect_done(s);
        return;
    }
    /* Reads first: bytes the peer sent before resetting are still
     * delivered, ahead of the error a send would report. */
    bool reading = (s->watch.events & EPOLLIN) != 0;
    if (reading && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
        stream_read(s);
        if (is(s, SF_DEAD)) {
            return;
        }
    }
    if ((events & EPOLLOUT) != 0 && s->whead != NULL) {
        stream_flush(s);
    } else if (!reading && (events & (EPOLLERR | EPOLLHUP)) != 0) {
        /* Not reading and nothing to send: only the socket's error tells. */
        int err = sock_error(s->watch.fd);
        stream_fail(s, err != 0 ? knet_errno_result(err, true) : KEEL_ERR_RESET, held(s));
    }
}

static void timer_fired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    keel_stream *s = user;
    s->timer.v = 0;
    if (is(s, SF_DEAD)) {
        return;
    }
    if (is(s, SF_CONNECTING)) {
        connect_failed(s, KEEL_ERR_TIMEOUT);
        return;
    }
    uint64_t now = kloop_now(s->loop);
    uint64_t next;
    if (!timeouts_due(s, now, &next)) {
        if (next != UINT64_MAX &&
            keel_timer_start(s->loop, next - now, 0, timer_fired, s, &s->timer) != KEEL_OK) {
            stream_fail(s, KEEL_ERR_NO_MEMORY, held(s));
        }
        return;
    }
    if (is(s, SF_CLOSING)) {
        stream_release(s, KEEL_ERR_TIMEOUT, true); /* the flush stalled */
    } else {
        stream_fail(s, KEEL_ERR_TIMEOUT, held(s));
    }
}

/* ---- creation ----------------------------------------------------------------- */

static keel_result stream_alloc(keel_loop *loop, const keel_stream_handlers *h,
                                const keel_stream_opts *opts, void *user, keel_stream **out)
{
    if (loop == NULL || h == NULL || h->on_read == NULL || out == NULL || !kstream_opts_ok(opts)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_stream *s = ksys_alloc_zeroed(sizeof *s);
    if (s == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    s->watch.fn = stream_ready;
    s->watch.fd = -1;
    s->handle.close_now = stream_close_now;
    s->deferred.fn = stream_deferred;
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
static keel_result stream_start(keel_stream *s, int fd, kstream_group *g)
{
    sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    keel_result r = kloop_add(s->loop, &s->watch, fd, 0);
    if (r == KEEL_OK) {
        r = update_watch(s);
    }
    if (r == KEEL_OK && has_timeouts(s)) {
        r = arm_timer(s);
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
        r = stream_start(s, fd, group);
        if (r != KEEL_OK) {
            ksys_release(s);
        }
    }
    if (r != KEEL_OK) {
        close_fd(fd);
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
    keel_result r = stream_alloc(loop, handlers, opts, user, &s);
    if (r != KEEL_OK) {
        return r;
    }
    int fd = -1;
    r = keel_net_fd(sock, &fd);
    if (r == KEEL_OK) {
        r = stream_start(s, fd, NULL);
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
static int connect_rank(keel_result r)
{
    return r == KEEL_ERR_REFUSED ? 3 : r == KEEL_ERR_TIMEOUT ? 2 : r == KEEL_ERR_RESET ? 1 : 0;
}

/* Start connecting to the next address that lets us: OK once one is in
 * progress (watched for EPOLLOUT), else the best failure. */
static keel_result connect_next(keel_stream *s)
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
                r = knet_errno_result(errno, false);
            }
        }
        if (r == KEEL_OK) {
            int rc;
            do {
                rc = ksys_connect(fd, (const struct sockaddr *)&ss, len);
            } while (rc != 0 && errno == EINTR);
            if (rc != 0 && errno != EINPROGRESS) {
                r = knet_errno_result(errno, false);
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
        close_fd(fd);
        if (connect_rank(r) >= connect_rank(c->best)) {
            c->best = r;
        }
    }
    return c->best;
}

/* EPOLLOUT (or an error) on the connecting socket. */
static void connect_done(keel_stream *s)
{
    int fd = s->watch.fd;
    int err = sock_error(fd);
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
        keel_result r = knet_errno_result(err, false);
        if (connect_rank(r) >= connect_rank(c->best)) {
            c->best = r;
        }
        kloop_del(s->loop, &s->watch);
        close_fd(fd);
        r = connect_next(s);
        if (r != KEEL_OK) {
            connect_failed(s, r);
        }
        return;
    }
    ksys_release(s->u.conn);
    s->u.rbuf = NULL;
    clear(s, SF_CONNECTING);
    if (s->timer.v != 0) {
        if (keel_timer_cancel(s->loop, s->timer) != KEEL_OK) {
            /* already fired: cannot be, it would have failed the connect */
        }
        s->timer.v = 0;
    }
    sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    s->t_rx = s->t_tx = kloop_now(s->loop);
    if (s->whead == NULL && is(s, SF_CLOSING)) {
        stream_release(s, KEEL_OK, false);
        return;
    }
    keel_result r = KEEL_OK;
    if (s->whead == NULL && is(s, SF_SHUT_REQ)) {
        r = do_shutdown(s);
    }
    if (r == KEEL_OK) {
        r = update_watch(s);
    }
    if (r == KEEL_OK && (has_timeouts(s) || is(s, SF_CLOSING))) {
        r = arm_timer(s);
    }
    if (r != KEEL_OK) {
        connect_failed(s, r);
        return;
    }
    if (!is(s, SF_CLOSING) && s->h->on_connect != NULL) {
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
    keel_result r = stream_alloc(loop, handlers, opts, user, &s);
    if (r != KEEL_OK) {
        return r;
    }
    kconnect *c = ksys_alloc_zeroed(sizeof *c);
    if (c == NULL) {
        ksys_release(s);
        return KEEL_ERR_NO_MEMORY;
    }
    c->best = KEEL_ERR_HOST_NOT_FOUND;
    /* A name (not a literal) is resolved here, blocking the loop for as
     * long as the system resolver takes. */
    r = keel_addr_resolve(host, port, KEEL_AF_UNSPEC, &c->list);
    if (r == KEEL_ERR_INVALID_ARG) {
        ksys_release(c);
        ksys_release(s);
        return r;
    }
    if (r == KEEL_OK && timeout_ms != KEEL_FOREVER) {
        r = keel_timer_start(loop, timeout_ms, 0, timer_fired, s, &s->timer);
        if (r != KEEL_OK) {
            ksys_release(c);
            ksys_release(s);
            return r;
        }
    }
    s->u.conn = c;
    set(s, SF_CONNECTING);
    kloop_handle_link(loop, &s->handle);
    if (r == KEEL_OK) {
        r = connect_next(s);
    }
    if (r != KEEL_OK) {
        fail_later(s, r); /* on_connect(r), then on_close(r), from the loop */
    }
    *out = s;
    return KEEL_OK;
}

/* ---- reading control, closing ------------------------------------------------------- */

void keel_stream_read_stop(keel_stream *s)
{
    if (s == NULL || !is(s, SF_READING)) {
        return;
    }
    clear(s, SF_READING);
    if (!is(s, SF_DEAD | SF_CONNECTING)) {
        keel_result r = update_watch(s);
        if (r != KEEL_OK) {
            fail_later(s, r);
        }
    }
}

void keel_stream_read_start(keel_stream *s)
{
    if (s == NULL || is(s, SF_READING)) {
        return;
    }
    set(s, SF_READING);
    if (!is(s, SF_DEAD | SF_CONNECTING | SF_READ_DONE)) {
        s->t_rx = kloop_now(s->loop);
        keel_result r = update_watch(s);
        if (r == KEEL_OK && s->opts != NULL && s->opts->read_timeout_ms != 0) {
            r = arm_timer(s);
        }
        if (r != KEEL_OK) {
            fail_later(s, r);
        }
    }
}

void keel_stream_close(keel_stream *s)
{
    if (s == NULL || is(s, SF_DEAD | SF_CLOSING)) {
        return;
    }
    set(s, SF_CLOSING | SF_READ_DONE);
    clear(s, SF_FAIL_PENDING);
    drop_rbuf(s);
    if (s->whead == NULL || s->err != KEEL_OK) {
        stream_release(s, KEEL_OK, false);
        return;
    }
    if (is(s, SF_CONNECTING)) {
        return; /* flushed once connected, within the connect deadline */
    }
    s->t_tx = kloop_now(s->loop);
    keel_result r = update_watch(s);
    if (r == KEEL_OK) {
        r = arm_timer(s);
    }
    if (r != KEEL_OK) {
        stream_release(s, r, true);
    }
}

void keel_stream_abort(keel_stream *s)
{
    if (s != NULL) {
        stream_release(s, KEEL_OK, true);
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

keel_result keel_stream_peer_addr(const keel_stream *s, keel_addr *out)
{
    if (s == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (is(s, SF_DEAD | SF_CONNECTING) || s->watch.fd < 0) {
        return KEEL_ERR_STATE;
    }
    struct sockaddr_storage ss;
    socklen_t len = (socklen_t)sizeof ss;
    if (ksys_getpeername(s->watch.fd, (struct sockaddr *)&ss, &len) != 0) {
        return knet_errno_result(errno, true);
    }
    return keel_addr_from_sockaddr((const struct sockaddr *)&ss, len, out);
}

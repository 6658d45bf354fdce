/*
 * tests/loop_test_util.h - helpers shared by the async-runtime tests
 * (test_loop_*.c): running a loop until a condition holds (bounded), a raw
 * non-blocking peer driven by a keel_io watcher that checks every byte it
 * reads, stream-side event records, and the descriptor limit.
 *
 * Include after <cmocka.h> and net_test_util.h. Everything is static.
 */
#ifndef KEEL_TESTS_LOOP_TEST_UTIL_H
#define KEEL_TESTS_LOOP_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "keel/loop.h"

/* Every wait in these tests is bounded by this (ASan/TSan/valgrind on a
 * loaded 2-core VM); a test that needs it has failed. */
#define LT_DEADLINE_MS 20000u

/* Run loop iterations until *done or the deadline; fails the test on the
 * deadline. */
static inline void lt_run_until(keel_loop *loop, const bool *done, uint32_t max_ms)
{
    uint64_t end = nt_now_ms() + max_ms;
    while (!*done) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
}

/* Run the loop for about ms milliseconds. */
static inline void lt_run_for(keel_loop *loop, uint32_t ms)
{
    uint64_t end = nt_now_ms() + ms;
    while (nt_now_ms() < end) {
        assert_int_equal(keel_loop_run_once(loop, 10), KEEL_OK);
    }
}

static inline keel_loop *lt_loop(void)
{
    keel_loop *loop = NULL;
    assert_int_equal(keel_loop_new(&loop), KEEL_OK);
    assert_non_null(loop);
    return loop;
}

/* What a stream's callbacks saw. */
typedef struct lt_events {
    keel_stream *s;
    int reads;               /* on_read(KEEL_OK) calls */
    size_t received;         /* bytes consumed by the handler, pattern-checked */
    size_t pattern_start;    /* pattern offset of the first byte received */
    bool pattern_broken;
    int read_ends;           /* on_read calls with r != KEEL_OK */
    keel_result read_end;
    size_t read_end_len;     /* data.len of that call */
    int writable_false, writable_true;
    int connects;
    keel_result connect_r;
    int closes;
    keel_result close_r;
    bool closed;
    size_t max_queued;       /* largest keel_stream_queued seen */
} lt_events;

/* Consume and pattern-check every byte offered. */
static inline size_t lt_take(lt_events *e, keel_slice data)
{
    if (nt_check(data.ptr, data.len, e->pattern_start + e->received) != data.len) {
        e->pattern_broken = true;
    }
    e->received += data.len;
    return data.len;
}

static inline void lt_note_end(lt_events *e, keel_result r, keel_slice data)
{
    e->read_ends++;
    e->read_end = r;
    e->read_end_len = data.len;
}

static inline void lt_on_close(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    lt_events *e = user;
    e->closes++;
    e->close_r = r;
    e->closed = true;
}

static inline void lt_on_connect(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    lt_events *e = user;
    e->connects++;
    e->connect_r = r;
}

/* The echo of examples/async_echo_server.c, recording what happens:
 * everything read is written back; reading pauses while the queue is above
 * write_high. On EOF the stream is closed (its queue flushed first). */
static inline size_t lt_echo_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    lt_events *e = user;
    if (r != KEEL_OK) {
        lt_note_end(e, r, data);
        if (r == KEEL_ERR_CLOSED) {
            keel_stream_close(s);
        }
        return 0;
    }
    e->reads++;
    if (keel_stream_write(s, data) != KEEL_OK) {
        keel_stream_abort(s);
    } else if (!keel_stream_can_write(s)) {
        keel_stream_read_stop(s);
    }
    size_t q = keel_stream_queued(s);
    if (q > e->max_queued) {
        e->max_queued = q;
    }
    e->received += data.len;
    return data.len;
}

static inline void lt_echo_writable(keel_stream *s, keel_result r, bool can_write, void *user)
{
    (void)r;
    lt_events *e = user;
    if (can_write) {
        e->writable_true++;
        keel_stream_read_start(s);
    } else {
        e->writable_false++;
        keel_stream_read_stop(s);
    }
}

static const keel_stream_handlers lt_echo_handlers = {
    .on_read = lt_echo_read,
    .on_writable = lt_echo_writable,
    .on_connect = lt_on_connect,
    .on_close = lt_on_close,
};

/* A raw non-blocking keel_net peer on the loop: sends `to_send` pattern
 * bytes (from pattern offset 0) whenever writable while `sending`, reads
 * and checks whatever arrives while `reading`. */
typedef struct lt_peer {
    keel_net *net;
    keel_io *io;
    size_t to_send, sent;
    size_t received;
    bool sending, reading;
    bool pattern_broken;
    keel_result end; /* first non-OK, non-WOULD_BLOCK result of a recv/send */
    bool ended;
} lt_peer;

static inline void lt_peer_watch(lt_peer *p)
{
    unsigned ev = (p->reading ? KEEL_IO_READ : 0u) |
                  (p->sending && p->sent < p->to_send ? KEEL_IO_WRITE : 0u);
    assert_int_equal(keel_io_update(p->io, ev), KEEL_OK);
}

static inline void lt_peer_end(lt_peer *p, keel_result r)
{
    if (!p->ended) {
        p->ended = true;
        p->end = r;
    }
    p->reading = false;
    p->sending = false;
}

static inline void lt_peer_cb(keel_io *io, keel_result r, unsigned events, void *user)
{
    (void)io;
    lt_peer *p = user;
    static uint8_t chunk[65536];
    if (r != KEEL_OK) {
        lt_peer_end(p, r);
    }
    while (p->reading && (events & KEEL_IO_READ) != 0u) {
        keel_buf b = nt_buf(chunk, sizeof chunk);
        size_t n = 0;
        keel_result rr = keel_net_recv(p->net, &b, &n);
        if (rr == KEEL_ERR_WOULD_BLOCK) {
            break;
        }
        if (rr != KEEL_OK) {
            lt_peer_end(p, rr);
            break;
        }
        if (nt_check(chunk, n, p->received) != n) {
            p->pattern_broken = true;
        }
        p->received += n;
    }
    while (p->sending && (events & KEEL_IO_WRITE) != 0u && p->sent < p->to_send) {
        size_t n = p->to_send - p->sent < sizeof chunk ? p->to_send - p->sent : sizeof chunk;
        nt_fill(chunk, n, p->sent);
        size_t put = 0;
        keel_result rs = keel_net_send(p->net, nt_slice(chunk, n), &put);
        if (rs == KEEL_ERR_WOULD_BLOCK) {
            break;
        }
        if (rs != KEEL_OK) {
            lt_peer_end(p, rs);
            break;
        }
        p->sent += put;
    }
    lt_peer_watch(p);
}

static inline void lt_peer_start(keel_loop *loop, lt_peer *p, keel_net *net)
{
    p->net = net;
    assert_int_equal(keel_net_set_nonblocking(net, true), KEEL_OK);
    assert_int_equal(keel_io_start(loop, net, 0, lt_peer_cb, p, &p->io), KEEL_OK);
    lt_peer_watch(p);
}

static inline void lt_peer_free(lt_peer *p)
{
    keel_io_stop(p->io);
    keel_net_free(p->net);
}

/* Raise the soft RLIMIT_NOFILE to at least need; false if the hard limit
 * does not allow it. */
static inline bool lt_raise_nofile(rlim_t need)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= need) {
        return true;
    }
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        return false;
    }
    rl.rlim_cur = need;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

#endif /* KEEL_TESTS_LOOP_TEST_UTIL_H */

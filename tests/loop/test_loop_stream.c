/*
 * tests/loop/test_loop_stream.c - keel_stream on one loop over loopback:
 * connect (success, refused, deadline), back-pressure and the write cap,
 * the read cap, idle/read/write timeouts, a peer reset while data is
 * queued, half-close, abort (RST) and orderly close (queue flushed).
 *
 * One thread: the stream under test and its peer (a raw non-blocking
 * keel_net on a keel_io watcher, or a second stream) share the loop. Every
 * test checks that no descriptor leaked; ASan/valgrind check the memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/loop.h"
#include "net_test_util.h"
#include "loop_test_util.h"

static int fds_before;

static int setup(void **state)
{
    (void)state;
    fds_before = nt_count_fds();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nt_fds_unchanged(fds_before);
}

/* Small kernel buffers on both ends (no autotuning), so that a few hundred
 * KiB not read by the peer really stay queued in the stream. */
enum { SMALL_BUF = 16384 };

/* A loopback pair: *peer stays raw, the other end becomes a stream. */
static keel_stream *adopt_pair(keel_loop *loop, const keel_stream_handlers *h,
                               const keel_stream_opts *o, lt_events *e, keel_net **peer,
                               bool small_buffers)
{
    keel_net *mine = NULL;
    nt_tcp_pair(KEEL_AF_INET4, peer, &mine);
    if (small_buffers) {
        assert_int_equal(keel_net_set_buffer_sizes(mine, SMALL_BUF, SMALL_BUF), KEEL_OK);
        assert_int_equal(keel_net_set_buffer_sizes(*peer, SMALL_BUF, SMALL_BUF), KEEL_OK);
    }
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_adopt(loop, mine, h, o, e, &s), KEEL_OK);
    assert_non_null(s);
    e->s = s;
    return s;
}

/* Finish a test: run the loop until every handle is gone, free it. */
static void finish(keel_loop *loop)
{
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* ---- connect ------------------------------------------------------------ */

/* The client: on connect, send `total` pattern bytes; check the echo; close
 * once all of it came back. */
typedef struct client_state {
    lt_events e;
    size_t total;
} client_state;

static void client_connected(keel_stream *s, keel_result r, void *user)
{
    client_state *c = user;
    lt_on_connect(s, r, &c->e);
    if (r == KEEL_OK) {
        static uint8_t out[100000];
        nt_fill(out, sizeof out, 0);
        c->total = sizeof out;
        assert_int_equal(keel_stream_write(s, nt_slice(out, sizeof out)), KEEL_OK);
    }
}

static size_t client_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    client_state *c = user;
    if (r != KEEL_OK) {
        lt_note_end(&c->e, r, data);
        return 0;
    }
    size_t used = lt_take(&c->e, data);
    if (c->e.received == c->total) {
        keel_stream_close(s);
    }
    return used;
}

static void client_closed(keel_stream *s, keel_result r, void *user)
{
    lt_on_close(s, r, &((client_state *)user)->e);
}

static const keel_stream_handlers client_handlers = {
    .on_read = client_read,
    .on_connect = client_connected,
    .on_close = client_closed,
};

static lt_events accepted;

static void accept_one(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    (void)user;
    assert_int_equal(r, KEEL_OK);
    accepted.s = s;
    keel_stream_set_user(s, &accepted);
}

static void test_connect_echo_every_byte_then_close(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    uint16_t port = 0;
    keel_net *ls = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    keel_listener *l = NULL;
    accepted = (lt_events){ 0 };
    assert_int_equal(keel_listener_start(loop, ls, &lt_echo_handlers, NULL, accept_one, NULL, &l),
                     KEEL_OK);
    uint16_t lport = 0;
    assert_int_equal(keel_listener_port(l, &lport), KEEL_OK);
    assert_int_equal(lport, port);

    client_state c = { 0 };
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_connect(loop, KEEL_STR("127.0.0.1"), port, 5000,
                                         &client_handlers, NULL, &c, &s),
                     KEEL_OK);
    assert_ptr_equal(keel_stream_user(s), &c);
    assert_ptr_equal(keel_stream_loop(s), loop);
    assert_int_equal(c.e.connects, 0); /* never from inside the call */
    lt_run_until(loop, &accepted.closed, LT_DEADLINE_MS);
    lt_run_until(loop, &c.e.closed, LT_DEADLINE_MS);

    assert_int_equal(c.e.connects, 1);
    assert_int_equal(c.e.connect_r, KEEL_OK);
    assert_int_equal(c.e.received, c.total);
    assert_false(c.e.pattern_broken);
    assert_int_equal(c.e.closes, 1);
    assert_int_equal(c.e.close_r, KEEL_OK);
    /* The server saw the client's FIN (CLOSED), closed, and was told OK. */
    assert_int_equal(accepted.received, c.total);
    assert_int_equal(accepted.read_end, KEEL_ERR_CLOSED);
    assert_int_equal(accepted.closes, 1);
    assert_int_equal(accepted.close_r, KEEL_OK);
    keel_listener_close(l);
    finish(loop);
}

static void test_connect_refused_then_close(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    uint16_t port = 0;
    keel_net_free(nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port)); /* nobody listens now */
    client_state c = { 0 };
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_connect(loop, KEEL_STR("127.0.0.1"), port, 5000,
                                         &client_handlers, NULL, &c, &s),
                     KEEL_OK);
    lt_run_until(loop, &c.e.closed, LT_DEADLINE_MS);
    assert_int_equal(c.e.connects, 1);
    assert_int_equal(c.e.connect_r, KEEL_ERR_REFUSED);
    assert_int_equal(c.e.closes, 1);
    assert_int_equal(c.e.close_r, KEEL_ERR_REFUSED);
    assert_int_equal(c.e.read_ends, 0);
    finish(loop);
}

/* As in test_net_errors.c: a backlog-1 listener that never accepts, filled
 * until a blocking connect times out; then SYNs are dropped, and a connect
 * there hangs (until the kernel gives up, minutes later). */
enum { MAX_FILL = 16 };
typedef struct deaf_listener {
    keel_net *l;
    keel_net *fill[MAX_FILL];
    size_t nfill;
    uint16_t port;
} deaf_listener;

static void deaf_listener_open(deaf_listener *d)
{
    d->l = nt_new();
    keel_bind_opts o = { .ip = KEEL_STR("127.0.0.1"), .proto = KEEL_PROTO_TCP, .backlog = 1 };
    assert_int_equal(keel_net_bind_opts(d->l, &o), KEEL_OK);
    d->port = nt_local_port(d->l);
    d->nfill = 0;
    keel_result r = KEEL_OK;
    while (r == KEEL_OK && d->nfill < MAX_FILL) {
        d->fill[d->nfill] = nt_new();
        r = keel_net_connect(d->fill[d->nfill], KEEL_STR("127.0.0.1"), d->port, KEEL_PROTO_TCP,
                             300);
        d->nfill++;
    }
    assert_int_equal(r, KEEL_ERR_TIMEOUT);
}

static void deaf_listener_close(deaf_listener *d)
{
    for (size_t i = 0; i < d->nfill; i++) {
        keel_net_free(d->fill[i]);
    }
    keel_net_free(d->l);
}

static void test_connect_deadline_is_timeout(void **state)
{
    (void)state;
    deaf_listener d;
    deaf_listener_open(&d);
    uint16_t port = d.port;

    keel_loop *loop = lt_loop();
    client_state c = { 0 };
    keel_stream *s = NULL;
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_stream_connect(loop, KEEL_STR("127.0.0.1"), port, 400,
                                         &client_handlers, NULL, &c, &s),
                     KEEL_OK);
    lt_run_until(loop, &c.e.closed, LT_DEADLINE_MS);
    uint64_t took = nt_now_ms() - t0;
    assert_int_equal(c.e.connects, 1);
    assert_int_equal(c.e.connect_r, KEEL_ERR_TIMEOUT);
    assert_int_equal(c.e.closes, 1);
    assert_int_equal(c.e.close_r, KEEL_ERR_TIMEOUT);
    assert_true(took >= 350);
    assert_true(took < 10000);
    finish(loop);
    deaf_listener_close(&d);
}


/* ---- back-pressure and caps ------------------------------------------- */

static const keel_stream_opts bp_opts = {
    .write_high = 64 * 1024,
    .write_low = 16 * 1024,
    .write_cap = 256 * 1024,
    .read_cap = 32 * 1024,
};

typedef struct bp_test {
    keel_loop *loop;
    lt_events e;
    lt_peer peer;
    size_t last_sent;
    uint64_t stuck_since;
    bool peer_reads;
    keel_timer_id timer;
} bp_test;

/* Every 10 ms: watch the server's queue; once the stream has said "stop"
 * and the peer's sending has made no progress for 300 ms (the server is no
 * longer reading it), let the peer read. */
static void bp_tick(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    bp_test *t = user;
    size_t q = keel_stream_queued(t->e.s);
    if (q > t->e.max_queued) {
        t->e.max_queued = q;
    }
    if (t->peer_reads) {
        return;
    }
    uint64_t now = keel_loop_now_ms(loop);
    if (t->peer.sent != t->last_sent || t->e.writable_false == 0) {
        t->last_sent = t->peer.sent;
        t->stuck_since = now;
    } else if (now - t->stuck_since >= 300) {
        t->peer_reads = true;
        t->peer.reading = true;
        lt_peer_watch(&t->peer);
    }
}

static void test_backpressure_pauses_reading_and_caps_the_queue(void **state)
{
    (void)state;
    bp_test t = { 0 };
    t.loop = lt_loop();
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(t.loop, &lt_echo_handlers, &bp_opts, &t.e, &raw, true);
    t.peer.to_send = 4u << 20;
    t.peer.sending = true;
    lt_peer_start(t.loop, &t.peer, raw);
    assert_int_equal(keel_timer_start(t.loop, 10, 10, bp_tick, &t, &t.timer), KEEL_OK);

    lt_run_until(t.loop, &t.peer_reads, LT_DEADLINE_MS);
    /* The peer could not push everything: the server stopped reading it. */
    assert_true(t.peer.sent < t.peer.to_send);
    assert_true(t.e.writable_false >= 1);
    assert_false(keel_stream_can_write(s));
    assert_true(t.e.max_queued >= bp_opts.write_high);

    bool all_back = false;
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (!all_back) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(t.loop, 20), KEEL_OK);
        all_back = t.peer.received == t.peer.to_send || t.peer.ended;
    }
    assert_false(t.peer.ended);
    assert_false(t.peer.pattern_broken);
    assert_int_equal(t.peer.received, t.peer.to_send);
    assert_true(t.e.writable_true >= 1);
    assert_true(t.e.max_queued <= bp_opts.write_cap);
    assert_int_equal(keel_stream_queued(s), 0);
    assert_true(keel_stream_can_write(s));

    assert_int_equal(keel_timer_cancel(t.loop, t.timer), KEEL_OK);
    keel_stream_close(s);
    lt_run_until(t.loop, &t.e.closed, LT_DEADLINE_MS);
    assert_int_equal(t.e.close_r, KEEL_OK);
    lt_peer_free(&t.peer);
    finish(t.loop);
}

/* A writer that is past write_cap is refused whole; nothing is queued. */
static void test_write_past_cap_is_refused_whole(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(loop, &lt_echo_handlers, &bp_opts, &e, &raw, true);
    static uint8_t big[200 * 1024];
    nt_fill(big, sizeof big, 0);
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_OK);
    size_t q = keel_stream_queued(s);
    assert_true(q <= sizeof big);
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_stream_queued(s), q);
    keel_stream_abort(s);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.close_r, KEEL_OK);
    keel_net_free(raw);
    finish(loop);
}

/* A handler that consumes nothing: bytes pile up to read_cap. */
static size_t hold_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)s;
    lt_events *e = user;
    if (r != KEEL_OK) {
        lt_note_end(e, r, data);
    } else {
        e->reads++;
        if (data.len > e->max_queued) {
            e->max_queued = data.len; /* here: the most bytes offered at once */
        }
    }
    return 0;
}

static const keel_stream_handlers hold_handlers = {
    .on_read = hold_read,
    .on_close = lt_on_close,
};

static void test_read_cap_is_too_large_then_close(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    const keel_stream_opts o = { .read_cap = 4096 };
    adopt_pair(loop, &hold_handlers, &o, &e, &raw, false);
    static uint8_t out[10000];
    nt_fill(out, sizeof out, 0);
    assert_int_equal(keel_net_send_all(raw, nt_slice(out, sizeof out), NT_IO_TIMEOUT_MS, NULL),
                     KEEL_OK);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_true(e.reads >= 1);
    assert_true(e.max_queued <= 4096);
    assert_int_equal(e.read_ends, 1);
    assert_int_equal(e.read_end, KEEL_ERR_TOO_LARGE);
    assert_int_equal(e.read_end_len, 4096);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_ERR_TOO_LARGE);
    keel_net_free(raw);
    finish(loop);
}

/* ---- timeouts ------------------------------------------------------------ */

typedef struct ticker {
    keel_net *raw;
    int sent;
} ticker;

static void tick_one_byte(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    ticker *t = user;
    uint8_t b = nt_pattern((size_t)t->sent);
    size_t put = 0;
    if (keel_net_send(t->raw, nt_slice(&b, 1), &put) == KEEL_OK && put == 1) {
        t->sent++;
    }
}

static size_t sink_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)s;
    lt_events *e = user;
    if (r != KEEL_OK) {
        lt_note_end(e, r, data);
        return 0;
    }
    e->reads++;
    return lt_take(e, data);
}

static const keel_stream_handlers sink_handlers = {
    .on_read = sink_read,
    .on_close = lt_on_close,
};

static const keel_stream_handlers connect_sink_handlers = {
    .on_read = sink_read,
    .on_connect = lt_on_connect,
    .on_close = lt_on_close,
};

/* Closed while connecting without a deadline, with bytes queued: the
 * close bounds the wait for the connect (write_timeout_ms here), instead
 * of the kernel's SYN retries (minutes). */
static void test_close_bounds_a_connect_without_deadline(void **state)
{
    (void)state;
    deaf_listener d;
    deaf_listener_open(&d);
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    static const keel_stream_opts o = { .write_timeout_ms = 300 };
    keel_stream *s = NULL;
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_stream_connect(loop, KEEL_STR("127.0.0.1"), d.port, KEEL_FOREVER,
                                         &connect_sink_handlers, &o, &e, &s),
                     KEEL_OK);
    assert_int_equal(keel_stream_write(s, KEEL_STR("queued while connecting")), KEEL_OK);
    keel_stream_close(s);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.connects, 0);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_ERR_TIMEOUT);
    assert_true(nt_now_ms() - t0 >= 250);
    finish(loop);
    deaf_listener_close(&d);
}

/* Two streams with the same timeout: one whose peer is silent, one whose
 * peer sends a byte every 50 ms. Only the silent one is closed, with
 * TIMEOUT, and not before its timeout. */
static void timeout_closes_only_the_silent_one(const keel_stream_opts *o, uint32_t timeout_ms)
{
    keel_loop *loop = lt_loop();
    lt_events dead = { 0 }, live = { 0 };
    keel_net *dead_raw = NULL, *live_raw = NULL;
    uint64_t t0 = nt_now_ms();
    adopt_pair(loop, &sink_handlers, o, &dead, &dead_raw, false);
    keel_stream *ls = adopt_pair(loop, &sink_handlers, o, &live, &live_raw, false);
    ticker tk = { .raw = live_raw };
    keel_timer_id tid;
    assert_int_equal(keel_timer_start(loop, 50, 50, tick_one_byte, &tk, &tid), KEEL_OK);

    lt_run_until(loop, &dead.closed, LT_DEADLINE_MS);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= timeout_ms - 20);
    assert_true(took < timeout_ms + 10000u); /* generous: a loaded 2-core machine */
    assert_int_equal(dead.read_end, KEEL_ERR_TIMEOUT);
    assert_int_equal(dead.close_r, KEEL_ERR_TIMEOUT);
    assert_int_equal(dead.closes, 1);

    lt_run_for(loop, 3 * timeout_ms);
    assert_false(live.closed);
    assert_true(live.reads >= 5);
    assert_false(live.pattern_broken);

    assert_int_equal(keel_timer_cancel(loop, tid), KEEL_OK);
    keel_stream_close(ls);
    lt_run_until(loop, &live.closed, LT_DEADLINE_MS);
    assert_int_equal(live.close_r, KEEL_OK);
    keel_net_free(dead_raw);
    keel_net_free(live_raw);
    finish(loop);
}

static void test_idle_timeout_closes_dead_keeps_active(void **state)
{
    (void)state;
    const keel_stream_opts o = { .idle_timeout_ms = 500 };
    timeout_closes_only_the_silent_one(&o, 500);
}

static void test_read_timeout_closes_silent_peer(void **state)
{
    (void)state;
    const keel_stream_opts o = { .read_timeout_ms = 500 };
    timeout_closes_only_the_silent_one(&o, 500);
}

/* What tells the two apart: a stream that only sends (a byte every 50 ms
 * to a peer that never answers). Bytes going out are activity for the idle
 * timeout, so it stays open; no byte arrives, so the read timeout closes
 * it, not before the timeout. */
typedef struct stream_ticker {
    keel_stream *s;
    int sent;
} stream_ticker;

static void tick_stream_byte(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    stream_ticker *t = user;
    uint8_t b = nt_pattern((size_t)t->sent);
    if (keel_stream_write(t->s, nt_slice(&b, 1)) == KEEL_OK) {
        t->sent++;
    }
}

static void sending_only_stream(const keel_stream_opts *o, bool read_timeout_closes)
{
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    uint64_t t0 = nt_now_ms();
    stream_ticker tk = { .s = adopt_pair(loop, &sink_handlers, o, &e, &raw, false) };
    keel_timer_id tid;
    assert_int_equal(keel_timer_start(loop, 50, 50, tick_stream_byte, &tk, &tid), KEEL_OK);
    if (read_timeout_closes) {
        lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
        uint64_t took = nt_now_ms() - t0;
        assert_true(took >= 480);
        assert_true(took < 500u + 10000u);
        assert_int_equal(e.close_r, KEEL_ERR_TIMEOUT);
        assert_int_equal(e.read_end, KEEL_ERR_TIMEOUT);
        assert_true(tk.sent >= 5); /* it was sending all along */
        assert_int_equal(keel_timer_cancel(loop, tid), KEEL_OK);
    } else {
        lt_run_for(loop, 1500);
        assert_false(e.closed);
        assert_true(tk.sent >= 10);
        assert_int_equal(keel_timer_cancel(loop, tid), KEEL_OK);
        keel_stream_close(tk.s);
        lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
        assert_int_equal(e.close_r, KEEL_OK);
    }
    keel_net_free(raw);
    finish(loop);
}

static void test_idle_timeout_counts_bytes_sent_as_activity(void **state)
{
    (void)state;
    const keel_stream_opts o = { .idle_timeout_ms = 500 };
    sending_only_stream(&o, false);
}

static void test_read_timeout_ignores_bytes_sent(void **state)
{
    (void)state;
    const keel_stream_opts o = { .read_timeout_ms = 500 };
    sending_only_stream(&o, true);
}

/* The read timeout runs only while reading: a paused stream waits. */
static void test_read_timeout_not_while_paused(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    const keel_stream_opts o = { .read_timeout_ms = 200 };
    keel_stream *s = adopt_pair(loop, &sink_handlers, &o, &e, &raw, false);
    keel_stream_read_stop(s);
    lt_run_for(loop, 800);
    assert_false(e.closed);
    keel_stream_read_start(s);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.close_r, KEEL_ERR_TIMEOUT);
    keel_net_free(raw);
    finish(loop);
}

static void test_write_timeout_when_peer_never_reads(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    const keel_stream_opts o = { .write_timeout_ms = 300 };
    keel_stream *s = adopt_pair(loop, &sink_handlers, &o, &e, &raw, true);
    static uint8_t big[256 * 1024];
    nt_fill(big, sizeof big, 0);
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_OK);
    assert_true(keel_stream_queued(s) > 0);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= 280);
    assert_true(took < 300u + 10000u);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_ERR_TIMEOUT);
    keel_net_free(raw);
    finish(loop);
}

/* ---- endings ------------------------------------------------------------ */

/* The peer resets (SO_LINGER 0) while the stream has bytes queued for it. */
static void test_peer_reset_mid_write_is_reset(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(loop, &sink_handlers, NULL, &e, &raw, true);
    static uint8_t big[512 * 1024];
    nt_fill(big, sizeof big, 0);
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_OK);
    lt_run_for(loop, 50);
    assert_false(e.closed);
    assert_true(keel_stream_queued(s) > 0);
    int fd = -1;
    assert_int_equal(keel_net_fd(raw, &fd), KEEL_OK);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    keel_net_free(raw);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_ERR_RESET);
    finish(loop);
}

/* The peer sends its last bytes and resets while the handler is inside
 * on_read, and the handler's reply then meets the reset: the bytes already
 * in the kernel are still offered before the stream fails. */
static keel_net *resetting_peer;
static keel_result reply_result = KEEL_OK;

static size_t reply_into_reset(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    lt_events *e = user;
    if (r != KEEL_OK) {
        lt_note_end(e, r, data);
        return 0;
    }
    lt_take(e, data);
    if (resetting_peer != NULL) {
        assert_int_equal(keel_net_send_all(resetting_peer, KEEL_STR("last words"), 5000, NULL),
                         KEEL_OK);
        int fd = -1;
        assert_int_equal(keel_net_fd(resetting_peer, &fd), KEEL_OK);
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        keel_net_free(resetting_peer);
        resetting_peer = NULL;
        reply_result = keel_stream_write(s, KEEL_STR("reply\n"));
    }
    return data.len;
}

static void test_bytes_before_reset_survive_a_write_that_meets_it(void **state)
{
    (void)state;
    static const keel_stream_handlers h = { .on_read = reply_into_reset,
                                            .on_close = lt_on_close };
    keel_loop *loop = lt_loop();
    keel_net *mine = NULL;
    nt_tcp_pair(KEEL_AF_INET4, &resetting_peer, &mine);
    lt_events e = { 0 };
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_adopt(loop, mine, &h, NULL, &e, &s), KEEL_OK);
    assert_int_equal(keel_net_send_all(resetting_peer, KEEL_STR("hello "), 5000, NULL), KEEL_OK);
    lt_run_until(loop, &e.closed, 5000);
    assert_int_equal(reply_result, KEEL_ERR_RESET);
    assert_int_equal(e.received + e.read_end_len, strlen("hello last words"));
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* The peer sends n pattern bytes, then resets (SO_LINGER 0): the last
 * words and the reset reach the stream in one readiness event. Every one
 * of them must reach on_read, then the RESET. */
static void last_words_then_reset(keel_loop *loop, keel_net *raw, lt_events *e, size_t n)
{
    static uint8_t last[128 * 1024];
    assert_true(n <= sizeof last);
    nt_fill(last, n, 0);
    assert_int_equal(keel_net_send_all(raw, nt_slice(last, n), NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    int fd = -1;
    assert_int_equal(keel_net_fd(raw, &fd), KEEL_OK);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    keel_net_free(raw);
    lt_run_until(loop, &e->closed, LT_DEADLINE_MS);
    assert_int_equal(e->received, n);
    assert_false(e->pattern_broken);
    assert_int_equal(e->read_end, KEEL_ERR_RESET);
    assert_int_equal(e->close_r, KEEL_ERR_RESET);
    finish(loop);
}

/* Bytes the peer sent before it reset are in the kernel: they reach
 * on_read before the RESET, also while the stream has bytes queued for the
 * peer (Linux returns them from recv before ECONNRESET). */
static void test_bytes_sent_before_peer_reset_are_delivered(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(loop, &sink_handlers, NULL, &e, &raw, true);
    static uint8_t big[512 * 1024];
    nt_fill(big, sizeof big, 0);
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_OK);
    last_words_then_reset(loop, raw, &e, 1000);
}

/* More than one read's worth (the loop reads at most 64 KiB at a time)
 * before the reset, while the stream has a write queue: the readiness that
 * reports the reset carries EPOLLOUT too, and the failed flush must not
 * end the stream before the kernel's bytes are read (a client that sends a
 * request and closes without reading the answer). */
static void test_every_byte_before_a_reset_is_delivered_with_a_write_queue(void **state)
{
    (void)state;
    enum { LAST_WORDS = 125000 };
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL, *mine = NULL;
    nt_tcp_pair(KEEL_AF_INET4, &raw, &mine);
    /* A small path towards the peer (so the stream's bytes stay queued),
     * the default, autotuned one towards the stream (so the kernel holds
     * all of the peer's last words). */
    assert_int_equal(keel_net_set_buffer_sizes(mine, SMALL_BUF, 0), KEEL_OK);
    assert_int_equal(keel_net_set_buffer_sizes(raw, 0, SMALL_BUF), KEEL_OK);
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_adopt(loop, mine, &sink_handlers, NULL, &e, &s), KEEL_OK);
    static uint8_t big[512 * 1024];
    nt_fill(big, sizeof big, 0);
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_OK);
    assert_true(keel_stream_queued(s) > 0);
    last_words_then_reset(loop, raw, &e, LAST_WORDS);
}

/* A write meets the peer's reset (returned at once, reported from the
 * loop later); closing or aborting the stream before that report must not
 * turn the failure into a clean end: on_close says RESET. */
static void close_or_abort_after_a_failed_write(bool abortive)
{
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(loop, &sink_handlers, NULL, &e, &raw, false);
    int fd = -1;
    assert_int_equal(keel_net_fd(raw, &fd), KEEL_OK);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    keel_net_free(raw);
    assert_int_equal(keel_stream_write(s, KEEL_STR("too late")), KEEL_ERR_RESET);
    if (abortive) {
        keel_stream_abort(s);
    } else {
        keel_stream_close(s);
    }
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_ERR_RESET);
    finish(loop);
}

static void test_close_after_a_failed_write_reports_the_failure(void **state)
{
    (void)state;
    close_or_abort_after_a_failed_write(false);
    close_or_abort_after_a_failed_write(true);
}

/* A handler that takes one line per call and pauses reading after each
 * (as a server that handles one request at a time): the bytes it leaves
 * are offered again when it resumes reading, without new bytes from the
 * peer (which has sent everything and waits). */
typedef struct liner {
    lt_events e;
    int lines;
    char last[16];
} liner;

static size_t line_then_pause(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    liner *l = user;
    if (r != KEEL_OK) {
        lt_note_end(&l->e, r, data);
        if (r == KEEL_ERR_CLOSED) {
            keel_stream_close(s);
        }
        return 0;
    }
    size_t nl = 0;
    if (keel_slice_find_byte(data, '\n', &nl) != KEEL_OK) {
        return 0;
    }
    keel_buf b = nt_buf(l->last, sizeof l->last);
    keel_slice line;
    assert_int_equal(keel_slice_sub(data, 0, nl, &line), KEEL_OK);
    assert_int_equal(keel_buf_append(&b, line), KEEL_OK);
    l->last[b.len] = '\0';
    l->lines++;
    keel_stream_read_stop(s);
    return nl + 1;
}

static const keel_stream_handlers liner_handlers = {
    .on_read = line_then_pause,
    .on_close = lt_on_close,
};

static void test_read_start_offers_the_bytes_held_again(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    liner l = { 0 };
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(loop, &liner_handlers, NULL, &l.e, &raw, false);
    keel_stream_set_user(s, &l);
    assert_int_equal(keel_net_send_all(raw, KEEL_STR("one\ntwo\nthree\n"), NT_IO_TIMEOUT_MS,
                                       NULL),
                     KEEL_OK);
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK);
    for (int want = 1; want <= 3; want++) {
        uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
        while (l.lines < want) {
            assert_true(nt_now_ms() < end);
            assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
        }
        /* Paused: nothing more comes, held bytes or EOF. */
        lt_run_for(loop, 30);
        assert_int_equal(l.lines, want);
        assert_int_equal(l.e.read_ends, 0);
        keel_stream_read_start(s);
        assert_int_equal(l.lines, want); /* offered from the loop, not inside the call */
    }
    assert_string_equal(l.last, "three");
    lt_run_until(loop, &l.e.closed, LT_DEADLINE_MS);
    assert_int_equal(l.e.read_ends, 1);
    assert_int_equal(l.e.read_end, KEEL_ERR_CLOSED);
    assert_int_equal(l.e.read_end_len, 0);
    assert_int_equal(l.e.close_r, KEEL_OK);
    keel_net_free(raw);
    finish(loop);
}

/* Half-close: the client sends, then shuts down its sending side; the
 * server sees the data then CLOSED, and can still answer. */
static size_t count_then_reply(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    lt_events *e = user;
    if (r == KEEL_OK) {
        e->reads++;
        return lt_take(e, data);
    }
    lt_note_end(e, r, data);
    if (r == KEEL_ERR_CLOSED) {
        char text[32];
        int n = snprintf(text, sizeof text, "got %zu\n", e->received);
        assert_true(n > 0);
        assert_int_equal(keel_stream_write(s, nt_slice(text, (size_t)n)), KEEL_OK);
        keel_stream_close(s);
    }
    return 0;
}

static const keel_stream_handlers reply_handlers = {
    .on_read = count_then_reply,
    .on_close = lt_on_close,
};

static void test_half_close_then_reply(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    adopt_pair(loop, &reply_handlers, NULL, &e, &raw, false);
    static uint8_t out[30000];
    nt_fill(out, sizeof out, 0);
    assert_int_equal(keel_net_send_all(raw, nt_slice(out, sizeof out), NT_IO_TIMEOUT_MS, NULL),
                     KEEL_OK);
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.received, sizeof out);
    assert_false(e.pattern_broken);
    assert_int_equal(e.read_ends, 1);
    assert_int_equal(e.read_end, KEEL_ERR_CLOSED);
    assert_int_equal(e.read_end_len, 0);
    assert_int_equal(e.close_r, KEEL_OK);

    uint8_t in[64];
    keel_buf b = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_exact(raw, &b, 10, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("got 30000\n")));
    assert_int_equal(keel_net_recv_timeout(raw, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    keel_net_free(raw);
    finish(loop);
}

/* Unconsumed bytes at EOF are offered with CLOSED. */
static void test_eof_offers_unconsumed_bytes(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    adopt_pair(loop, &hold_handlers, NULL, &e, &raw, false);
    assert_int_equal(keel_net_send_all(raw, KEEL_STR("partial"), NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK);
    lt_run_for(loop, 200);
    assert_int_equal(e.read_ends, 1);
    assert_int_equal(e.read_end, KEEL_ERR_CLOSED);
    assert_int_equal(e.read_end_len, 7);
    assert_false(e.closed); /* half-closed: still open for writing */
    keel_stream_close(e.s);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.close_r, KEEL_OK);
    keel_net_free(raw);
    finish(loop);
}

static void test_abort_resets_the_peer(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(loop, &sink_handlers, NULL, &e, &raw, true);
    static uint8_t big[256 * 1024];
    nt_fill(big, sizeof big, 0);
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_OK);
    keel_stream_abort(s);
    assert_int_equal(e.closes, 0); /* never from inside the call */
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_OK);
    /* The peer may read what was already in its buffer, then RESET; never
     * all of it and never an orderly EOF. */
    static uint8_t in[sizeof big];
    keel_buf b = nt_buf(in, sizeof in);
    keel_result r = KEEL_OK;
    while (r == KEEL_OK) {
        r = keel_net_recv_timeout(raw, &b, NT_IO_TIMEOUT_MS, NULL);
    }
    assert_int_equal(r, KEEL_ERR_RESET);
    assert_true(b.len < sizeof big);
    assert_int_equal(nt_check(in, b.len, 0), b.len);
    keel_net_free(raw);
    finish(loop);
}

/* A stream with 512 KiB queued behind small kernel buffers is closed by
 * close_fn; its peer reads every byte, in order, then an orderly end, and
 * the stream's on_close says KEEL_OK. */
static void check_close_flushes(void (*close_fn)(keel_stream *s))
{
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(loop, &sink_handlers, NULL, &e, &raw, true);
    static uint8_t big[512 * 1024];
    nt_fill(big, sizeof big, 0);
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_OK);
    assert_true(keel_stream_queued(s) > 0);
    close_fn(s);
    assert_int_equal(keel_stream_write(s, KEEL_STR("late")), KEEL_ERR_STATE);
    lt_peer p = { .reading = true };
    lt_peer_start(loop, &p, raw);
    lt_run_until(loop, &p.ended, LT_DEADLINE_MS);
    assert_int_equal(p.end, KEEL_ERR_CLOSED);
    assert_int_equal(p.received, sizeof big);
    assert_false(p.pattern_broken);
    uint64_t t_eof = nt_now_ms();
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_OK);
    assert_true(nt_now_ms() - t_eof < 5000); /* a bound of the close, not the test's deadline */
    lt_peer_free(&p);
    finish(loop);
}

static void test_close_flushes_queued_bytes(void **state)
{
    (void)state;
    check_close_flushes(keel_stream_close);
}

/* ---- lingering close -------------------------------------------------------- */

/* The peer sent more than the stream read (reading is paused): a plain
 * close would reset the connection and the reply could be lost; the
 * lingering close delivers it, then an orderly EOF, and ends as soon as
 * the peer's own EOF comes (long before the linger bound). */
static void test_close_linger_delivers_the_reply_despite_unread_input(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    keel_stream *s = adopt_pair(loop, &sink_handlers, NULL, &e, &raw, false);
    keel_stream_read_stop(s);
    static uint8_t junk[64 * 1024];
    nt_fill(junk, sizeof junk, 0);
    assert_int_equal(keel_net_send_all(raw, nt_slice(junk, sizeof junk), NT_IO_TIMEOUT_MS, NULL),
                     KEEL_OK);
    lt_run_for(loop, 50); /* the junk reaches the stream's socket, unread */
    assert_int_equal(keel_stream_write(s, KEEL_STR("error: line too long\n")), KEEL_OK);
    uint64_t t0 = nt_now_ms();
    keel_stream_close_linger(s, 10000);
    assert_int_equal(keel_stream_write(s, KEEL_STR("late")), KEEL_ERR_STATE);
    assert_int_equal(e.closes, 0); /* never from inside the call */
    uint8_t in[256];
    keel_buf b = nt_buf(in, sizeof in);
    keel_result r = KEEL_OK;
    while (r == KEEL_OK) {
        r = keel_net_recv_timeout(raw, &b, NT_IO_TIMEOUT_MS, NULL);
    }
    assert_int_equal(r, KEEL_ERR_CLOSED); /* the FIN, not a reset */
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("error: line too long\n")));
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK);
    lt_run_until(loop, &e.closed, LT_DEADLINE_MS);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_OK);
    assert_int_equal(e.reads, 0); /* the junk was drained, never offered */
    assert_true(nt_now_ms() - t0 < 5000);
    keel_net_free(raw);
    finish(loop);
}

/* A peer that neither reads to the end nor closes: the drain ends at the
 * bound (300 ms here), with on_close(KEEL_OK); a big queue is flushed
 * first. */
static void close_linger_300(keel_stream *s)
{
    keel_stream_close_linger(s, 300);
}

static void test_close_linger_flushes_then_ends_at_its_bound(void **state)
{
    (void)state;
    check_close_flushes(close_linger_300);
}

/* ---- the loop's end ------------------------------------------------------------ */

/* keel_loop_free closes what is still open: on_close(CLOSED), once. */
static void test_loop_free_closes_open_streams(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    lt_events e = { 0 };
    keel_net *raw = NULL;
    adopt_pair(loop, &sink_handlers, NULL, &e, &raw, false);
    lt_run_for(loop, 20);
    keel_loop_free(loop);
    assert_int_equal(e.closes, 1);
    assert_int_equal(e.close_r, KEEL_ERR_CLOSED);
    keel_net_free(raw);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_echo_every_byte_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_deadline_is_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_bounds_a_connect_without_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_pauses_reading_and_caps_the_queue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_past_cap_is_refused_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_cap_is_too_large_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout_closes_dead_keeps_active, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_timeout_closes_silent_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout_counts_bytes_sent_as_activity, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_timeout_ignores_bytes_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_timeout_not_while_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_timeout_when_peer_never_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_reset_mid_write_is_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_sent_before_peer_reset_are_delivered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bytes_before_reset_survive_a_write_that_meets_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_every_byte_before_a_reset_is_delivered_with_a_write_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_after_a_failed_write_reports_the_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_start_offers_the_bytes_held_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_half_close_then_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_offers_unconsumed_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_resets_the_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_flushes_queued_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_linger_delivers_the_reply_despite_unread_input,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_linger_flushes_then_ends_at_its_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_loop_free_closes_open_streams, setup, teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

/*
 * tests/tls/test_tls_stream.c - TLS on the loop (keel_tls_stream_*,
 * keel_tls_listener_start, keel_tls_server_start) over real loopback
 * connections: echo with plaintext written before the handshake, bulk
 * transfer under back-pressure, partial consumption, pausing and resuming
 * reads with records held, the read and write caps, the handshake
 * deadline, refused certificates, peers that are not TLS, truncation,
 * half-close with close_notify, abort, refused connects, closing during
 * the handshake, freeing the loop with streams open, and the
 * multi-threaded TLS server against blocking keel_tls clients.
 *
 * Every byte is a position-dependent pattern (net_test_util.h), checked as
 * it is consumed, so a lost, repeated or reordered byte shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

#include "test_main.h"

#include "keel/tls.h"
#include "net_test_util.h"
#include "loop_test_util.h"
#include "tls_test_util.h"


/* ---- one side of a TLS stream: what it saw, how it behaves ----------------- */

typedef enum ts_mode {
    TS_SINK,          /* consume and check everything */
    TS_ECHO,          /* write everything back (pausing on back-pressure) */
    TS_NIBBLE,        /* consume a few bytes per call (1 .. 97, cycling) */
    TS_HOLD,          /* consume nothing */
    TS_PAUSE_FIRST    /* consume, and stop reading after the first call */
} ts_mode;

typedef struct ts_side {
    keel_tls_stream *t;
    ts_mode mode;
    bool close_on_end;     /* keel_tls_stream_close after the last on_read */
    /* what was seen */
    int handshakes;
    keel_result hs_r;
    int reads;
    size_t received;       /* consumed, pattern-checked from offset 0 */
    bool pattern_broken;
    int read_ends;
    keel_result read_end;
    size_t read_end_len;
    int writable_false, writable_true;
    int closes;
    keel_result close_r;
    bool closed;
    unsigned nibble;
    /* echo: bytes written back */
    size_t echoed;
} ts_side;

static size_t ts_take(ts_side *e, keel_slice data, size_t n)
{
    if (nt_check(data.ptr, n, e->received) != n) {
        e->pattern_broken = true;
    }
    e->received += n;
    return n;
}

static size_t ts_on_read(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    ts_side *e = user;
    if (r != KEEL_OK) {
        e->read_ends++;
        e->read_end = r;
        e->read_end_len = data.len;
        /* The last call carries what is held: consume it for the count. */
        if (r == KEEL_ERR_CLOSED || r == KEEL_ERR_TLS_TRUNCATED) {
            (void)ts_take(e, data, data.len);
        }
        if (e->close_on_end) {
            keel_tls_stream_close(t);
        }
        return 0;
    }
    e->reads++;
    assert_true(data.len > 0);
    switch (e->mode) {
    case TS_SINK:
        return ts_take(e, data, data.len);
    case TS_ECHO:
        if (keel_tls_stream_write(t, data) != KEEL_OK) {
            keel_tls_stream_abort(t);
            return data.len;
        }
        e->echoed += data.len;
        if (!keel_tls_stream_can_write(t)) {
            keel_tls_stream_read_stop(t);
        }
        return ts_take(e, data, data.len);
    case TS_NIBBLE: {
        size_t n = 1u + e->nibble++ % 97u;
        return ts_take(e, data, n < data.len ? n : data.len);
    }
    case TS_HOLD:
        return 0;
    case TS_PAUSE_FIRST:
        if (e->reads == 1) {
            keel_tls_stream_read_stop(t);
        }
        return ts_take(e, data, data.len);
    }
    return 0;
}

static void ts_on_writable(keel_tls_stream *t, keel_result r, bool can_write, void *user)
{
    (void)r;
    ts_side *e = user;
    if (can_write) {
        e->writable_true++;
        if (e->mode == TS_ECHO) {
            keel_tls_stream_read_start(t);
        }
    } else {
        e->writable_false++;
    }
}

static void ts_on_handshake(keel_tls_stream *t, keel_result r, void *user)
{
    ts_side *e = user;
    e->t = t;
    e->handshakes++;
    e->hs_r = r;
    if (r == KEEL_OK) {
        assert_true(keel_tls_stream_handshake_done(t));
        assert_string_equal(keel_tls_stream_version(t), "TLSv1.2");
    } else {
        assert_false(keel_tls_stream_handshake_done(t));
    }
}

static void ts_on_close(keel_tls_stream *t, keel_result r, void *user)
{
    (void)t;
    ts_side *e = user;
    e->closes++;
    e->close_r = r;
    e->closed = true;
    e->t = NULL;
}

static const keel_tls_stream_handlers ts_handlers = {
    .on_read = ts_on_read,
    .on_writable = ts_on_writable,
    .on_handshake = ts_on_handshake,
    .on_close = ts_on_close,
};

/* ---- a TLS listener whose connections use the sides of a pool ------------- */

typedef struct ts_server {
    keel_listener *l;
    uint16_t port;
    keel_tls_server_opts opts;
    ts_side sides[4];
    int accepted;
    ts_mode mode;
    bool close_on_end;
    bool small_buffers;
    int accept_failures;
} ts_server;

static void ts_on_accept(keel_tls_stream *t, keel_result r, void *user)
{
    ts_server *sv = user;
    if (r != KEEL_OK) {
        sv->accept_failures++;
        return;
    }
    assert_true(sv->accepted < 4);
    ts_side *e = &sv->sides[sv->accepted++];
    e->t = t;
    e->mode = sv->mode;
    e->close_on_end = sv->close_on_end;
    assert_ptr_equal(keel_tls_stream_user(t), sv); /* the server's user, until set */
    keel_tls_stream_set_user(t, e);
    assert_ptr_equal(keel_tls_stream_user(t), e);
}

static void ts_listen(keel_loop *loop, ts_server *sv, const keel_tls_config *cfg,
                      const keel_stream_opts *opts)
{
    keel_net *sock = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &sv->port);
    if (sv->small_buffers) {
        /* Accepted sockets inherit it: a peer fills them in a few KiB. */
        assert_int_equal(keel_net_set_buffer_sizes(sock, 16384, 16384), KEEL_OK);
    }
    sv->opts = (keel_tls_server_opts){ .config = cfg, .handlers = &ts_handlers,
                                       .stream_opts = opts, .on_accept = ts_on_accept,
                                       .user = sv };
    assert_int_equal(keel_tls_listener_start(loop, sock, &sv->opts, &sv->l), KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_listener_port(sv->l, &port), KEEL_OK);
    assert_int_equal(port, sv->port);
}

static keel_tls_stream *ts_connect(keel_loop *loop, const keel_tls_config *cfg, uint16_t port,
                                   const char *name, const keel_stream_opts *opts, ts_side *e)
{
    keel_tls_stream *t = NULL;
    assert_int_equal(keel_tls_stream_connect(loop, cfg, KEEL_STR("127.0.0.1"), port,
                                             keel_slice_cstr(name), NT_IO_TIMEOUT_MS, &ts_handlers,
                                             opts, e, &t),
                     KEEL_OK);
    assert_non_null(t);
    e->t = t;
    assert_ptr_equal(keel_tls_stream_loop(t), loop);
    return t;
}

/* Write n pattern bytes from offset *sent on, as far as can_write allows,
 * in chunks of `chunk`. */
static void ts_pump(keel_tls_stream *t, size_t n, size_t chunk, size_t *sent)
{
    static uint8_t buf[65536];
    assert_true(chunk <= sizeof buf);
    while (*sent < n && keel_tls_stream_can_write(t)) {
        size_t k = n - *sent < chunk ? n - *sent : chunk;
        nt_fill(buf, k, *sent);
        assert_int_equal(keel_tls_stream_write(t, nt_slice(buf, k)), KEEL_OK);
        *sent += k;
    }
}

/* The end of a test: the listener, the loop (closing what is left) and the
 * configurations (NULL is fine). */
static void ts_end(keel_loop *loop, ts_server *sv, keel_tls_config *scfg, keel_tls_config *ccfg)
{
    if (sv != NULL) {
        keel_listener_close(sv->l);
    }
    keel_loop_free(loop);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

/* Run until both sides' on_close ran (or fail at the deadline). */
static void ts_run_until_closed(keel_loop *loop, ts_side *a, ts_side *b)
{
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (!(a->closed && (b == NULL || b->closed))) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_echo_with_early_data_and_orderly_close(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_ECHO, .close_on_end = true };
    ts_listen(loop, &sv, scfg, NULL);
    ts_side c = { .mode = TS_SINK };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &c);
    assert_false(keel_tls_stream_handshake_done(t));
    assert_string_equal(keel_tls_stream_cipher(t), "");
    /* Written before the handshake: held, then sent after it. */
    size_t sent = 0;
    ts_pump(t, 100000, 10000, &sent);
    assert_int_equal(sent, 100000);
    assert_int_equal(keel_tls_stream_queued(t), 100000);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (c.received < 100000) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    assert_int_equal(c.handshakes, 1);
    assert_int_equal(c.hs_r, KEEL_OK);
    assert_non_null(strstr(keel_tls_stream_cipher(t), "ECDHE"));
    assert_int_equal(keel_tls_stream_verify_flags(t), 0);
    keel_addr peer;
    assert_int_equal(keel_tls_stream_peer_addr(t, &peer), KEEL_OK);
    assert_int_equal(peer.port, sv.port);
    keel_tls_stream_close(t);
    assert_int_equal(keel_tls_stream_write(t, KEEL_STR("x")), KEEL_ERR_STATE);
    ts_run_until_closed(loop, &c, &sv.sides[0]);
    ts_side *s = &sv.sides[0];
    assert_int_equal(sv.accepted, 1);
    assert_int_equal(s->handshakes, 1);
    assert_int_equal(s->received, 100000);
    assert_false(s->pattern_broken);
    assert_false(c.pattern_broken);
    assert_int_equal(c.received, 100000);
    /* The client's close_notify reached the server as CLOSED. */
    assert_int_equal(s->read_ends, 1);
    assert_int_equal(s->read_end, KEEL_ERR_CLOSED);
    assert_int_equal(c.closes, 1);
    assert_int_equal(c.close_r, KEEL_OK);
    assert_int_equal(s->closes, 1);
    assert_int_equal(s->close_r, KEEL_OK);
    ts_end(loop, &sv, scfg, ccfg);
}

static void test_bulk_transfer_under_back_pressure(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    static const keel_stream_opts small = { .write_high = 32768, .write_low = 8192 };
    ts_server sv = { .mode = TS_ECHO, .close_on_end = true, .small_buffers = true };
    ts_listen(loop, &sv, scfg, &small);
    ts_side c = { .mode = TS_SINK };
    /* The client's socket with small kernel buffers too, then adopted. */
    keel_net *sock = tt_tcp_connect(sv.port);
    assert_int_equal(keel_net_set_buffer_sizes(sock, 16384, 16384), KEEL_OK);
    keel_tls_stream *t = NULL;
    assert_int_equal(keel_tls_stream_adopt(loop, ccfg, sock, KEEL_STR("localhost"), &ts_handlers,
                                           &small, &c, &t),
                     KEEL_OK);
    c.t = t;
    const size_t total = 1024u * 1024u; /* 32 times the write high mark */
    size_t sent = 0;
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (c.handshakes == 0) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    assert_int_equal(c.hs_r, KEEL_OK);
    /* Nobody reads while the loop does not run: the kernel's buffers fill,
     * then the queue reaches write_high and the writer is told to stop. */
    ts_pump(t, total, 65536, &sent);
    assert_true(sent < total);
    assert_false(keel_tls_stream_can_write(t));
    assert_true(keel_tls_stream_queued(t) >= small.write_high);
    assert_true(keel_tls_stream_queued(t) <= small.write_high + 65536u + 4096u);
    while (c.received < total) {
        assert_true(nt_now_ms() < end);
        ts_pump(t, total, 65536, &sent);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    assert_false(c.pattern_broken);
    assert_false(sv.sides[0].pattern_broken);
    /* ... and told to go on once it drained. */
    assert_true(c.writable_true > 0);
    keel_tls_stream_close(t);
    ts_run_until_closed(loop, &c, &sv.sides[0]);
    assert_int_equal(sv.sides[0].received, total);
    assert_int_equal(c.close_r, KEEL_OK);
    ts_end(loop, &sv, scfg, ccfg);
}

/* A reader that consumes a few bytes at a time sees every byte once; what
 * it has not consumed comes with the last on_read. */
static void test_partial_consumption_loses_and_repeats_nothing(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_NIBBLE, .close_on_end = true };
    ts_listen(loop, &sv, scfg, NULL);
    ts_side c = { .mode = TS_SINK };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &c);
    /* After the handshake, so that each write is its own record (before
     * it, writes are kept together). */
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (c.handshakes == 0) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    size_t sent = 0;
    for (int i = 0; i < 400; i++) { /* 400 records of 123 bytes */
        ts_pump(t, sent + 123u, 123, &sent);
        assert_int_equal(keel_loop_run_once(loop, 0), KEEL_OK);
    }
    keel_tls_stream_close(t);
    ts_run_until_closed(loop, &c, &sv.sides[0]);
    ts_side *s = &sv.sides[0];
    assert_false(s->pattern_broken);
    assert_int_equal(s->received, sent);
    assert_int_equal(s->reads, 400); /* one call per record, whatever the TCP reads */
    assert_int_equal(s->read_end, KEEL_ERR_CLOSED);
    assert_true(s->read_end_len > 0); /* some were still held at the end */
    ts_end(loop, &sv, scfg, ccfg);
}

/* While reading is paused nothing is delivered; records that arrived in
 * the meantime come after read_start, once, in order - without new bytes
 * from the peer. */
static void test_paused_reading_keeps_records_for_read_start(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_PAUSE_FIRST };
    ts_listen(loop, &sv, scfg, NULL);
    ts_side c = { .mode = TS_SINK };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &c);
    size_t sent = 0;
    ts_pump(t, 1000, 1000, &sent);
    ts_side *s = &sv.sides[0];
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (s->received < 1000) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    /* Paused: 30 more records arrive and wait. */
    for (int i = 0; i < 30; i++) {
        ts_pump(t, sent + 700u, 700, &sent);
        lt_run_for(loop, 5);
    }
    lt_run_for(loop, 200);
    assert_int_equal(s->reads, 1);
    assert_int_equal(s->received, 1000);
    keel_tls_stream_read_start(s->t);
    keel_tls_stream_read_start(s->t); /* twice: no effect */
    end = nt_now_ms() + LT_DEADLINE_MS;
    while (s->received < sent) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    assert_false(s->pattern_broken);
    lt_run_for(loop, 50);
    assert_int_equal(s->received, sent);
    /* Pause again, with EOF (close_notify) arriving while paused. */
    keel_tls_stream_read_stop(s->t);
    ts_pump(t, sent + 500u, 500, &sent);
    keel_tls_stream_close(t);
    ts_run_until_closed(loop, &c, NULL);
    lt_run_for(loop, 100);
    assert_int_equal(s->read_ends, 0);
    s->close_on_end = true;
    keel_tls_stream_read_start(s->t);
    ts_run_until_closed(loop, s, NULL);
    assert_int_equal(s->read_end, KEEL_ERR_CLOSED);
    assert_int_equal(s->received, sent);
    assert_false(s->pattern_broken);
    ts_end(loop, &sv, scfg, ccfg);
}

static void test_read_cap_full_with_nothing_consumed_is_too_large(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    static const keel_stream_opts tiny_read = { .read_cap = 1024 };
    ts_server sv = { .mode = TS_HOLD };
    ts_listen(loop, &sv, scfg, &tiny_read);
    ts_side c = { .mode = TS_SINK, .close_on_end = true };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &c);
    size_t sent = 0;
    ts_pump(t, 3000, 3000, &sent);
    ts_run_until_closed(loop, &sv.sides[0], NULL);
    ts_side *s = &sv.sides[0];
    assert_int_equal(s->read_end, KEEL_ERR_TOO_LARGE);
    assert_int_equal(s->read_end_len, 1024);
    assert_int_equal(s->close_r, KEEL_ERR_TOO_LARGE);
    assert_int_equal(s->read_ends, 1);
    /* The server went without close_notify (the failure is its own). */
    ts_run_until_closed(loop, &c, NULL);
    assert_int_equal(c.read_end, KEEL_ERR_TLS_TRUNCATED);
    ts_end(loop, &sv, scfg, ccfg);
}

static void test_write_cap_refuses_whole_writes(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    static const keel_stream_opts capped = { .write_high = 16384, .write_cap = 65536 };
    ts_server sv = { .mode = TS_SINK, .close_on_end = true };
    ts_listen(loop, &sv, scfg, NULL);
    ts_side c = { .mode = TS_SINK };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", &capped, &c);
    static uint8_t big[70000];
    nt_fill(big, sizeof big, 0);
    /* Before the handshake the plaintext is counted. */
    assert_int_equal(keel_tls_stream_write(t, nt_slice(big, 65537)), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_tls_stream_queued(t), 0);
    assert_int_equal(keel_tls_stream_write(t, nt_slice(big, 1000)), KEEL_OK);
    assert_int_equal(keel_tls_stream_queued(t), 1000);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (c.handshakes == 0 || sv.sides[0].received < 1000) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    assert_int_equal(keel_tls_stream_queued(t), 0);
    /* After it, the records are counted: 65536 bytes of plaintext take more
     * than 65536 on the wire. Refused whole: nothing queued. */
    assert_int_equal(keel_tls_stream_write(t, nt_slice(big, 65536)), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_tls_stream_queued(t), 0);
    nt_fill(big, 60000, 1000);
    assert_int_equal(keel_tls_stream_write(t, nt_slice(big, 60000)), KEEL_OK);
    assert_int_equal(keel_tls_stream_write(t, KEEL_STR("")), KEEL_OK);
    assert_int_equal(keel_tls_stream_write(t, (keel_slice){ NULL, 1 }), KEEL_ERR_INVALID_ARG);
    keel_tls_stream_close(t);
    ts_run_until_closed(loop, &c, &sv.sides[0]);
    assert_int_equal(sv.sides[0].received, 61000);
    assert_false(sv.sides[0].pattern_broken);
    ts_end(loop, &sv, scfg, ccfg);
}

/* A client that connects and says nothing: the server's handshake deadline. */
static void test_handshake_deadline_ends_a_silent_client(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 200);
    ts_server sv = { .mode = TS_SINK };
    ts_listen(loop, &sv, scfg, NULL);
    keel_net *silent = tt_tcp_connect(sv.port);
    uint64_t t0 = nt_now_ms();
    uint64_t end = t0 + LT_DEADLINE_MS;
    while (sv.accepted == 0 || !sv.sides[0].closed) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    assert_true(nt_now_ms() - t0 >= 150);
    ts_side *s = &sv.sides[0];
    assert_int_equal(s->handshakes, 1);
    assert_int_equal(s->hs_r, KEEL_ERR_TIMEOUT);
    assert_int_equal(s->reads + s->read_ends, 0);
    assert_int_equal(s->close_r, KEEL_ERR_TIMEOUT);
    keel_net_free(silent);
    ts_end(loop, &sv, scfg, NULL);
}

/* The loop client refuses a certificate for another host; the server
 * hears its alert. */
static void test_refused_certificate_on_the_loop(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg("wronghost.crt", NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_SINK };
    ts_listen(loop, &sv, scfg, NULL);
    ts_side c = { .mode = TS_SINK };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &c);
    assert_int_equal(keel_tls_stream_write(t, KEEL_STR("never sent")), KEEL_OK);
    ts_run_until_closed(loop, &c, NULL);
    assert_int_equal(c.handshakes, 1);
    assert_int_equal(c.hs_r, KEEL_ERR_TLS_VERIFY);
    assert_int_equal(c.close_r, KEEL_ERR_TLS_VERIFY);
    assert_int_equal(c.reads + c.read_ends, 0);
    ts_run_until_closed(loop, &sv.sides[0], NULL);
    assert_int_equal(sv.sides[0].hs_r, KEEL_ERR_TLS_ALERT);
    assert_int_equal(sv.sides[0].received, 0);
    ts_end(loop, &sv, scfg, ccfg);
}

/* The client's view of a refused certificate, with its flags: here the
 * stream object lives until on_close, so the flags are read there. */
static uint32_t flags_at_close;
static void ts_on_close_flags(keel_tls_stream *t, keel_result r, void *user)
{
    flags_at_close = keel_tls_stream_verify_flags(t);
    assert_int_equal(keel_tls_stream_last_mbedtls_error(t), MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
    ts_on_close(t, r, user);
}

static void test_refused_certificate_keeps_its_flags(void **state)
{
    (void)state;
    static const keel_tls_stream_handlers h = { .on_read = ts_on_read,
                                                .on_handshake = ts_on_handshake,
                                                .on_close = ts_on_close_flags };
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg("expired.crt", NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_SINK };
    ts_listen(loop, &sv, scfg, NULL);
    ts_side c = { .mode = TS_SINK };
    keel_tls_stream *t = NULL;
    assert_int_equal(keel_tls_stream_connect(loop, ccfg, KEEL_STR("127.0.0.1"), sv.port,
                                             KEEL_STR("localhost"), NT_IO_TIMEOUT_MS, &h, NULL, &c,
                                             &t),
                     KEEL_OK);
    ts_run_until_closed(loop, &c, NULL);
    assert_int_equal(c.hs_r, KEEL_ERR_TLS_VERIFY);
    assert_true((flags_at_close & MBEDTLS_X509_BADCERT_EXPIRED) != 0);
    ts_run_until_closed(loop, &sv.sides[0], NULL);
    ts_end(loop, &sv, scfg, ccfg);
}

/* Plaintext where a ClientHello should be. */
static void test_a_client_that_is_not_tls_fails_the_handshake(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_SINK };
    ts_listen(loop, &sv, scfg, NULL);
    keel_net *plain = tt_tcp_connect(sv.port);
    assert_int_equal(keel_net_send_all(plain, KEEL_STR("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                       NT_IO_TIMEOUT_MS, NULL),
                     KEEL_OK);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (sv.accepted == 0 || !sv.sides[0].closed) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    assert_int_equal(sv.sides[0].hs_r, KEEL_ERR_TLS_HANDSHAKE);
    assert_int_equal(sv.sides[0].close_r, KEEL_ERR_TLS_HANDSHAKE);
    assert_int_equal(sv.sides[0].reads, 0);
    keel_net_free(plain);
    ts_end(loop, &sv, scfg, NULL);
}

/* A blocking client on its own thread: handshake, send, then close the
 * socket without close_notify. */
static void *truncating_client(void *arg)
{
    uint16_t port = *(uint16_t *)arg;
    keel_tls_config *ccfg = NULL;
    keel_tls_config_opts o = { .role = KEEL_TLS_CLIENT, .ca_file = tt_file("ca.crt") };
    keel_net *net = NULL;
    keel_tls *tls = NULL;
    void *failed = arg;
    if (keel_tls_config_new(&o, &ccfg, NULL) == KEEL_OK && keel_net_init(&net) == KEEL_OK &&
        keel_tls_init(&tls) == KEEL_OK &&
        keel_net_connect(net, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, NT_IO_TIMEOUT_MS) ==
            KEEL_OK &&
        keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), NT_IO_TIMEOUT_MS) == KEEL_OK) {
        static uint8_t buf[5000];
        nt_fill(buf, sizeof buf, 0);
        if (keel_tls_send(tls, nt_slice(buf, sizeof buf), NT_IO_TIMEOUT_MS, NULL) == KEEL_OK) {
            failed = NULL;
        }
    }
    keel_tls_free(tls);
    keel_net_free(net); /* no close_notify */
    keel_tls_config_free(ccfg);
    return failed;
}

static void test_end_without_close_notify_is_truncated_on_the_loop(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_SINK };
    ts_listen(loop, &sv, scfg, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, truncating_client, &sv.port), 0);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (sv.accepted == 0 || sv.sides[0].read_ends == 0) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    void *failed = NULL;
    assert_int_equal(pthread_join(th, &failed), 0);
    assert_null(failed);
    ts_side *s = &sv.sides[0];
    assert_int_equal(s->read_end, KEEL_ERR_TLS_TRUNCATED);
    assert_int_equal(s->received, 5000);
    assert_false(s->pattern_broken);
    assert_int_equal(keel_tls_stream_last_mbedtls_error(s->t), MBEDTLS_ERR_SSL_CONN_EOF);
    /* Not a failure of the stream: closing it is an orderly close. */
    assert_false(s->closed);
    keel_tls_stream_close(s->t);
    ts_run_until_closed(loop, s, NULL);
    assert_int_equal(s->close_r, KEEL_OK);
    ts_end(loop, &sv, scfg, NULL);
}

/* Half-close: the client's close_notify ends its direction; the server
 * still answers, then closes; the client reads the answer, then CLOSED. */
static size_t answer_on_end(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    size_t n = ts_on_read(t, r, data, user);
    if (r == KEEL_ERR_CLOSED) {
        assert_int_equal(keel_tls_stream_write(t, KEEL_STR("answer")), KEEL_OK);
        keel_tls_stream_close(t);
    }
    return n;
}

static void test_shutdown_half_closes_with_close_notify(void **state)
{
    (void)state;
    static const keel_tls_stream_handlers answering = { .on_read = answer_on_end,
                                                        .on_handshake = ts_on_handshake,
                                                        .on_close = ts_on_close };
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_SINK };
    ts_listen(loop, &sv, scfg, NULL);
    sv.opts.handlers = &answering;
    ts_side c = { .mode = TS_HOLD };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &c);
    size_t sent = 0;
    ts_pump(t, 300, 300, &sent);
    assert_int_equal(keel_tls_stream_shutdown(t), KEEL_OK); /* before the handshake: deferred */
    assert_int_equal(keel_tls_stream_shutdown(t), KEEL_OK);
    assert_int_equal(keel_tls_stream_write(t, KEEL_STR("x")), KEEL_ERR_STATE);
    assert_false(keel_tls_stream_can_write(t));
    c.close_on_end = true;
    ts_run_until_closed(loop, &c, &sv.sides[0]);
    assert_int_equal(sv.sides[0].received, 300);
    assert_int_equal(sv.sides[0].read_end, KEEL_ERR_CLOSED);
    /* The client held the answer (TS_HOLD) and got it with CLOSED. */
    assert_int_equal(c.read_end, KEEL_ERR_CLOSED);
    assert_int_equal(c.read_end_len, 6);
    assert_int_equal(c.close_r, KEEL_OK);
    assert_int_equal(sv.sides[0].close_r, KEEL_OK);
    ts_end(loop, &sv, scfg, ccfg);
}

static void test_abort_resets_the_connection(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_SINK };
    ts_listen(loop, &sv, scfg, NULL);
    ts_side c = { .mode = TS_SINK };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &c);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (c.handshakes == 0 || sv.accepted == 0 || sv.sides[0].handshakes == 0) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    keel_tls_stream_abort(t);
    keel_tls_stream_abort(t);
    ts_run_until_closed(loop, &c, &sv.sides[0]);
    assert_int_equal(c.close_r, KEEL_OK);
    assert_int_equal(sv.sides[0].read_end, KEEL_ERR_RESET);
    assert_int_equal(sv.sides[0].close_r, KEEL_ERR_RESET);
    ts_end(loop, &sv, scfg, ccfg);
}

static void test_refused_connect_is_a_failed_handshake(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    uint16_t port = 0;
    keel_net *gone = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    keel_net_free(gone);
    ts_side c = { .mode = TS_SINK };
    keel_tls_stream *t = ts_connect(loop, ccfg, port, "localhost", NULL, &c);
    assert_int_equal(keel_tls_stream_peer_addr(t, &(keel_addr){ 0 }), KEEL_ERR_STATE);
    ts_run_until_closed(loop, &c, NULL);
    assert_int_equal(c.handshakes, 1);
    assert_int_equal(c.hs_r, KEEL_ERR_REFUSED);
    assert_int_equal(c.close_r, KEEL_ERR_REFUSED);
    keel_loop_free(loop);
    keel_tls_config_free(ccfg);
}

/* close while connecting: at once without queued plaintext (no
 * on_handshake); after the handshake and the plaintext with some. */
static void test_close_during_the_handshake(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_SINK, .close_on_end = true };
    ts_listen(loop, &sv, scfg, NULL);

    ts_side quiet = { .mode = TS_SINK };
    keel_tls_stream *t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &quiet);
    keel_tls_stream_close(t);
    keel_tls_stream_close(t);
    ts_run_until_closed(loop, &quiet, NULL);
    assert_int_equal(quiet.handshakes, 0);
    assert_int_equal(quiet.close_r, KEEL_OK);

    ts_side eager = { .mode = TS_SINK };
    t = ts_connect(loop, ccfg, sv.port, "localhost", NULL, &eager);
    size_t sent = 0;
    ts_pump(t, 2000, 2000, &sent);
    keel_tls_stream_close(t);
    ts_run_until_closed(loop, &eager, NULL);
    assert_int_equal(eager.handshakes, 0);
    assert_int_equal(eager.close_r, KEEL_OK);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (sv.accepted < 2 || !sv.sides[1].closed) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    assert_int_equal(sv.sides[1].received, 2000);
    assert_int_equal(sv.sides[1].read_end, KEEL_ERR_CLOSED);
    assert_false(sv.sides[1].pattern_broken);
    ts_end(loop, &sv, scfg, ccfg);
}

/* keel_loop_free with TLS streams open: each gets on_close(CLOSED). */
static void test_loop_free_closes_open_tls_streams(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    ts_server sv = { .mode = TS_SINK };
    ts_listen(loop, &sv, scfg, NULL);
    ts_side c = { .mode = TS_SINK };
    (void)ts_connect(loop, ccfg, sv.port, "localhost", NULL, &c);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (c.handshakes == 0 || sv.accepted == 0 || sv.sides[0].handshakes == 0) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
    keel_loop_free(loop);
    assert_int_equal(c.close_r, KEEL_ERR_CLOSED);
    assert_int_equal(sv.sides[0].close_r, KEEL_ERR_CLOSED);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

static void ts_no_shutdown(keel_loop *loop, void *user)
{
    (void)loop;
    (void)user;
}

static void test_rejects_bad_arguments(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_config *ccfg = tt_client_cfg(NULL, NULL, 0);
    keel_tls_stream *t = NULL;
    static const keel_tls_stream_handlers no_read = { .on_close = ts_on_close };
    static const keel_stream_opts bad_marks = { .write_high = 10, .write_low = 20 };
    ts_side e = { 0 };
    /* A server configuration cannot connect; no name to verify; NULLs. */
    assert_int_equal(keel_tls_stream_connect(loop, scfg, KEEL_STR("127.0.0.1"), 1, KEEL_STR("x"),
                                             1000, &ts_handlers, NULL, &e, &t),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_stream_connect(loop, ccfg, KEEL_STR("127.0.0.1"), 1,
                                             KEEL_STR("local\0host"), 1000, &ts_handlers, NULL, &e,
                                             &t),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_stream_connect(loop, ccfg, KEEL_STR("127.0.0.1"), 1, KEEL_STR("x"),
                                             1000, &no_read, NULL, &e, &t),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_stream_connect(loop, ccfg, KEEL_STR("127.0.0.1"), 1, KEEL_STR("x"),
                                             1000, &ts_handlers, &bad_marks, &e, &t),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_stream_connect(NULL, ccfg, KEEL_STR("127.0.0.1"), 1, KEEL_STR("x"),
                                             1000, &ts_handlers, NULL, &e, &t),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_stream_connect(loop, ccfg, KEEL_STR(""), 1, KEEL_STR("x"), 1000,
                                             &ts_handlers, NULL, &e, &t),
                     KEEL_ERR_INVALID_ARG);
    assert_null(t);
    /* adopt: a socket that is not TCP, NULLs; the socket stays the caller's. */
    uint16_t port = 0;
    keel_net *udp = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    assert_int_equal(keel_tls_stream_adopt(loop, scfg, udp, keel_slice_empty(), &ts_handlers, NULL,
                                           &e, &t),
                     KEEL_ERR_INVALID_ARG);
    assert_true(keel_net_is_open(udp));
    assert_int_equal(keel_tls_stream_adopt(loop, scfg, NULL, keel_slice_empty(), &ts_handlers,
                                           NULL, &e, &t),
                     KEEL_ERR_INVALID_ARG);
    keel_net_free(udp);
    /* Listeners and servers need a server configuration and on_read, and
     * keep the connections' handlers to themselves. */
    keel_tls_server_opts so = { .config = ccfg, .handlers = &ts_handlers };
    keel_listener *l = NULL;
    keel_net *sock = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    assert_int_equal(keel_tls_listener_start(loop, sock, &so, &l), KEEL_ERR_INVALID_ARG);
    so.config = scfg;
    so.handlers = &no_read;
    assert_int_equal(keel_tls_listener_start(loop, sock, &so, &l), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_listener_start(loop, sock, NULL, &l), KEEL_ERR_INVALID_ARG);
    keel_net_free(sock);
    so.handlers = &ts_handlers;
    keel_server_opts base = { .ip = KEEL_STR("127.0.0.1"), .threads = 1,
                              .handlers = &lt_echo_handlers };
    keel_server *srv = NULL;
    assert_int_equal(keel_tls_server_start(&base, &so, &srv), KEEL_ERR_INVALID_ARG);
    base.handlers = NULL;
    base.user = &e;
    assert_int_equal(keel_tls_server_start(&base, &so, &srv), KEEL_ERR_INVALID_ARG);
    base.user = NULL;
    base.on_shutdown = ts_no_shutdown; /* tls->on_shutdown is the one called */
    assert_int_equal(keel_tls_server_start(&base, &so, &srv), KEEL_ERR_INVALID_ARG);
    base.on_shutdown = NULL;
    assert_int_equal(keel_tls_server_start(NULL, &so, &srv), KEEL_ERR_INVALID_ARG);
    assert_null(srv);
    /* NULL streams: nothing happens. */
    assert_int_equal(keel_tls_stream_write(NULL, KEEL_STR("x")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_stream_shutdown(NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_tls_stream_peer_addr(NULL, &(keel_addr){ 0 }), KEEL_ERR_INVALID_ARG);
    assert_false(keel_tls_stream_can_write(NULL));
    assert_int_equal(keel_tls_stream_queued(NULL), 0);
    assert_null(keel_tls_stream_user(NULL));
    assert_null(keel_tls_stream_loop(NULL));
    assert_false(keel_tls_stream_handshake_done(NULL));
    assert_int_equal(keel_tls_stream_last_mbedtls_error(NULL), 0);
    assert_int_equal(keel_tls_stream_verify_flags(NULL), 0);
    assert_string_equal(keel_tls_stream_version(NULL), "");
    keel_tls_stream_read_stop(NULL);
    keel_tls_stream_read_start(NULL);
    keel_tls_stream_close(NULL);
    keel_tls_stream_abort(NULL);
    keel_tls_stream_set_user(NULL, &e);
    keel_loop_free(loop);
    keel_tls_config_free(scfg);
    keel_tls_config_free(ccfg);
}

/* ---- the multi-threaded TLS server ------------------------------------------ */

static size_t mt_echo(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r != KEEL_OK) {
        keel_tls_stream_close(t);
        return 0;
    }
    if (keel_tls_stream_write(t, data) != KEEL_OK) {
        keel_tls_stream_abort(t);
    }
    return data.len;
}

static const keel_tls_stream_handlers mt_handlers = { .on_read = mt_echo };

/* Each client's calls: generous, as the handshakes of all of them share
 * two cores (under valgrind, seconds each). */
#define MT_TIMEOUT_MS 60000u

static void *mt_client(void *arg)
{
    uint16_t port = *(uint16_t *)arg;
    keel_tls_config *ccfg = NULL;
    keel_tls_config_opts o = { .role = KEEL_TLS_CLIENT, .ca_file = tt_file("ca.crt") };
    keel_net *net = NULL;
    keel_tls *tls = NULL;
    void *failed = arg;
    static _Thread_local uint8_t out[20000], in[20000];
    nt_fill(out, sizeof out, 0);
    keel_buf got;
    if (keel_tls_config_new(&o, &ccfg, NULL) == KEEL_OK && keel_net_init(&net) == KEEL_OK &&
        keel_tls_init(&tls) == KEEL_OK &&
        keel_net_connect(net, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, MT_TIMEOUT_MS) ==
            KEEL_OK &&
        keel_tls_connect(tls, ccfg, net, KEEL_STR("localhost"), MT_TIMEOUT_MS) == KEEL_OK &&
        keel_tls_send(tls, nt_slice(out, sizeof out), MT_TIMEOUT_MS, NULL) == KEEL_OK &&
        keel_buf_init(&got, in, sizeof in) == KEEL_OK) {
        keel_result r = KEEL_OK;
        while (r == KEEL_OK && got.len < sizeof in) {
            r = keel_tls_recv(tls, &got, MT_TIMEOUT_MS, NULL);
        }
        if (r == KEEL_OK && nt_check(in, sizeof in, 0) == sizeof in &&
            keel_tls_close_notify(tls, MT_TIMEOUT_MS) == KEEL_OK) {
            failed = NULL;
        }
    }
    keel_tls_free(tls);
    keel_net_free(net);
    keel_tls_config_free(ccfg);
    return failed;
}

static void test_tls_server_on_two_threads_serves_concurrent_clients(void **state)
{
    (void)state;
    keel_tls_config *scfg = tt_server_cfg(NULL, NULL, 0);
    keel_tls_server_opts so = { .config = scfg, .handlers = &mt_handlers };
    keel_server_opts base = { .ip = KEEL_STR("127.0.0.1"), .threads = 2 };
    keel_server *srv = NULL;
    assert_int_equal(keel_tls_server_start(&base, &so, &srv), KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_server_port(srv, &port), KEEL_OK);
    enum { CLIENTS = 4 }; /* handshakes are slow under valgrind */
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, mt_client, &port), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        void *failed = NULL;
        assert_int_equal(pthread_join(th[i], &failed), 0);
        assert_null(failed);
    }
    keel_server_shutdown(srv, 5000);
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    assert_int_equal(keel_server_connections(srv), 0);
    keel_server_free(srv);
    keel_tls_config_free(scfg);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_with_early_data_and_orderly_close, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_transfer_under_back_pressure, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_partial_consumption_loses_and_repeats_nothing, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_paused_reading_keeps_records_for_read_start, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_read_cap_full_with_nothing_consumed_is_too_large,
                                        tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_write_cap_refuses_whole_writes, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_handshake_deadline_ends_a_silent_client, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_refused_certificate_on_the_loop, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_refused_certificate_keeps_its_flags, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_a_client_that_is_not_tls_fails_the_handshake, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_end_without_close_notify_is_truncated_on_the_loop,
                                        tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_half_closes_with_close_notify, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_abort_resets_the_connection, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_refused_connect_is_a_failed_handshake, tt_setup,
                                        tt_teardown),
        cmocka_unit_test_setup_teardown(test_close_during_the_handshake, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_loop_free_closes_open_tls_streams, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_rejects_bad_arguments, tt_setup, tt_teardown),
        cmocka_unit_test_setup_teardown(test_tls_server_on_two_threads_serves_concurrent_clients,
                                        tt_setup, tt_teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

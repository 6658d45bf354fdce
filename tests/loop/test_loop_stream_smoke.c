/*
 * tests/loop/test_loop_stream_smoke.c - a quick end-to-end check of streams,
 * listeners and the server over 127.0.0.1: echo through a listener and a
 * connect, write back-pressure (on_writable false then true), orderly close
 * that flushes the queue, abortive close, half-close, read cap, read
 * timeout, refused connect, and a two-thread server. The thorough suite is
 * test_loop_stream.c / test_loop_server.c.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/loop.h"
#include "net_test_util.h"
#include "core/sys.h"

/* Everything one scenario observes. */
typedef struct side {
    keel_result connect_r;
    int connects;
    keel_result close_r;
    int closes;
    keel_result last_read_r;
    int eofs;
    uint8_t got[1 << 16];
    size_t got_len;
    size_t total; /* bytes seen over the whole run */
    int writable_false;
    int writable_true;
} side;

typedef struct scene {
    keel_loop *loop;
    keel_listener *l;
    keel_stream *server;
    keel_stream *client;
    side srv;
    side cli;
    /* behaviour switches */
    bool echo;           /* server writes back what it reads */
    bool server_no_read; /* server stops reading on accept */
    bool server_hold;    /* server on_read consumes nothing */
    bool reply_on_eof;   /* server answers "bye" and closes on EOF */
    bool close_on_eof;   /* either side closes on EOF */
    size_t expect;       /* client closes once it has this many bytes */
    keel_timer_id watchdog;
    bool timed_out;
} scene;

static side *side_of(scene *sc, keel_stream *s)
{
    return s == sc->client ? &sc->cli : &sc->srv;
}

static void maybe_close_listener(scene *sc)
{
    if (sc->srv.closes + sc->cli.closes == 2 && sc->l != NULL) {
        keel_listener_close(sc->l);
        sc->l = NULL;
        assert_int_equal(keel_timer_cancel(sc->loop, sc->watchdog), KEEL_OK);
    }
}

static size_t on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    scene *sc = user;
    side *sd = side_of(sc, s);
    sd->last_read_r = r;
    if (r == KEEL_ERR_CLOSED) {
        sd->eofs++;
        if (s == sc->server && sc->reply_on_eof) {
            assert_int_equal(keel_stream_write(s, KEEL_STR("bye")), KEEL_OK);
        }
        if (sc->close_on_eof || (s == sc->server && sc->reply_on_eof)) {
            keel_stream_close(s);
        }
        return 0;
    }
    if (r != KEEL_OK) {
        return 0;
    }
    sd->total += data.len;
    if (s == sc->server && sc->server_hold) {
        return 0;
    }
    size_t room = sizeof sd->got - sd->got_len;
    keel_buf b = { sd->got + sd->got_len, room, 0 };
    if (data.len <= room) {
        assert_int_equal(keel_buf_append(&b, data), KEEL_OK);
        sd->got_len += data.len;
    }
    if (s == sc->server && sc->echo) {
        assert_int_equal(keel_stream_write(s, data), KEEL_OK);
    }
    if (s == sc->client && sc->expect != 0 && sd->total >= sc->expect) {
        keel_stream_close(s);
    }
    return data.len;
}

static void on_writable(keel_stream *s, keel_result r, bool can, void *user)
{
    scene *sc = user;
    assert_int_equal(r, KEEL_OK);
    side *sd = side_of(sc, s);
    if (can) {
        sd->writable_true++;
        assert_true(keel_stream_can_write(s));
    } else {
        sd->writable_false++;
        assert_false(keel_stream_can_write(s));
        if (sc->server_no_read) {
            keel_stream_read_start(sc->server); /* now let it drain */
        }
    }
}

static void on_connect(keel_stream *s, keel_result r, void *user)
{
    scene *sc = user;
    side *sd = side_of(sc, s);
    sd->connect_r = r;
    sd->connects++;
}

static void on_close(keel_stream *s, keel_result r, void *user)
{
    scene *sc = user;
    side *sd = side_of(sc, s);
    sd->close_r = r;
    sd->closes++;
    if (s == sc->client) {
        sc->client = NULL;
    } else {
        sc->server = NULL;
    }
    /* Writing to a stream in its on_close is refused, never a crash. */
    assert_int_not_equal(keel_stream_write(s, KEEL_STR("x")), KEEL_OK);
    maybe_close_listener(sc);
}

static const keel_stream_handlers handlers = {
    .on_read = on_read,
    .on_writable = on_writable,
    .on_connect = on_connect,
    .on_close = on_close,
};

static void on_accept(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    scene *sc = user;
    assert_int_equal(r, KEEL_OK);
    assert_null(sc->server);
    sc->server = s;
    assert_ptr_equal(keel_stream_user(s), sc);
    assert_ptr_equal(keel_stream_loop(s), sc->loop);
    keel_addr peer;
    assert_int_equal(keel_stream_peer_addr(s, &peer), KEEL_OK);
    assert_int_equal(peer.family, KEEL_AF_INET4);
    if (sc->server_no_read) {
        keel_stream_read_stop(s);
    }
}

static void watchdog(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    scene *sc = user;
    sc->timed_out = true;
    keel_loop_stop(loop);
}

static void scene_start(scene *sc, const keel_stream_opts *srv_opts,
                        const keel_stream_opts *cli_opts)
{
    assert_int_equal(keel_loop_new(&sc->loop), KEEL_OK);
    keel_net *ln = nt_new();
    assert_int_equal(keel_net_bind(ln, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP), KEEL_OK);
    assert_int_equal(keel_listener_start(sc->loop, ln, &handlers, srv_opts, on_accept, sc, &sc->l),
                     KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_listener_port(sc->l, &port), KEEL_OK);
    assert_int_not_equal(port, 0);
    assert_int_equal(keel_stream_connect(sc->loop, KEEL_STR("127.0.0.1"), port, 5000, &handlers,
                                         cli_opts, sc, &sc->client),
                     KEEL_OK);
    assert_int_equal(keel_timer_start(sc->loop, 20000, 0, watchdog, sc, &sc->watchdog), KEEL_OK);
}

static void scene_run(scene *sc)
{
    assert_int_equal(keel_loop_run(sc->loop), KEEL_OK);
    assert_false(sc->timed_out);
    keel_loop_free(sc->loop);
}

static scene *scene_new(void)
{
    scene *sc = test_calloc(1, sizeof *sc);
    assert_non_null(sc);
    return sc;
}

/* ---- tests ---------------------------------------------------------------- */

static void echo_round_trip_through_listener_and_connect(void **state)
{
    (void)state;
    scene *sc = scene_new();
    sc->echo = true;
    sc->close_on_eof = true;
    sc->expect = 11;
    scene_start(sc, NULL, NULL);
    /* Written while connecting: queued, sent once connected. */
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("hello ")), KEEL_OK);
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("world")), KEEL_OK);
    assert_int_equal(keel_stream_queued(sc->client), 11);
    scene_run(sc);
    assert_int_equal(sc->cli.connects, 1);
    assert_int_equal(sc->cli.connect_r, KEEL_OK);
    assert_int_equal(sc->cli.got_len, 11);
    assert_memory_equal(sc->cli.got, "hello world", 11);
    assert_int_equal(sc->srv.total, 11);
    assert_int_equal(sc->cli.closes, 1);
    assert_int_equal(sc->cli.close_r, KEEL_OK);
    assert_int_equal(sc->srv.closes, 1);
    assert_int_equal(sc->srv.eofs, 1);
    assert_int_equal(sc->srv.close_r, KEEL_OK);
    test_free(sc);
}

static void write_back_pressure_pauses_and_resumes_the_producer(void **state)
{
    (void)state;
    static const keel_stream_opts small = { .write_high = 64 * 1024,
                                            .write_low = 16 * 1024,
                                            .write_cap = 256 * 1024 };
    scene *sc = scene_new();
    sc->server_no_read = true;
    scene_start(sc, NULL, &small);
    /* Connect and accept first, so that the writes hit the socket. */
    while (sc->cli.connects == 0 || sc->server == NULL) {
        assert_int_equal(keel_loop_run_once(sc->loop, 1000), KEEL_OK);
    }
    static uint8_t block[32 * 1024];
    keel_slice chunk = { block, sizeof block };
    size_t written = 0;
    /* The kernel buffers take some MB on loopback; the queue then fills. */
    while (keel_stream_can_write(sc->client)) {
        assert_int_equal(keel_stream_write(sc->client, chunk), KEEL_OK);
        written += chunk.len;
        assert_true(written < (size_t)256 * 1024 * 1024);
    }
    assert_true(keel_stream_queued(sc->client) >= small.write_high);
    /* No callback inside the call that caused it. */
    assert_int_equal(sc->cli.writable_false, 0);
    /* Past write_cap: refused whole, nothing queued. */
    size_t before = keel_stream_queued(sc->client);
    static uint8_t big[256 * 1024];
    assert_int_equal(keel_stream_write(sc->client, (keel_slice){ big, sizeof big }),
                     KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_stream_queued(sc->client), before);
    sc->expect = 0;
    /* on_writable(false) restarts the server's reads; the drain then
     * brings on_writable(true); then the client closes (flushing). */
    while (sc->cli.writable_true == 0) {
        assert_int_equal(keel_loop_run_once(sc->loop, 1000), KEEL_OK);
    }
    assert_int_equal(sc->cli.writable_false, 1);
    assert_true(keel_stream_queued(sc->client) <= small.write_low);
    sc->close_on_eof = true;
    keel_stream_close(sc->client);
    scene_run(sc);
    assert_int_equal(sc->srv.total, written);
    assert_int_equal(sc->cli.close_r, KEEL_OK);
    assert_int_equal(sc->srv.eofs, 1);
    test_free(sc);
}

static void orderly_close_flushes_the_queue(void **state)
{
    (void)state;
    scene *sc = scene_new();
    sc->close_on_eof = true;
    scene_start(sc, NULL, NULL);
    static uint8_t block[200 * 1024];
    for (size_t i = 0; i < sizeof block; i++) {
        block[i] = (uint8_t)(i * 7u);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(keel_stream_write(sc->client, (keel_slice){ block, sizeof block }),
                         KEEL_OK);
    }
    keel_stream_close(sc->client);
    /* After close: writes are refused, a second close is harmless. */
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("late")), KEEL_ERR_STATE);
    keel_stream_close(sc->client);
    assert_int_equal(sc->cli.closes, 0);
    scene_run(sc);
    assert_int_equal(sc->srv.total, 4 * sizeof block);
    assert_int_equal(sc->cli.closes, 1);
    assert_int_equal(sc->cli.close_r, KEEL_OK);
    assert_int_equal(sc->cli.connects, 0); /* closed before it connected */
    assert_int_equal(sc->srv.eofs, 1);
    test_free(sc);
}

static void abort_resets_the_peer(void **state)
{
    (void)state;
    scene *sc = scene_new();
    scene_start(sc, NULL, NULL);
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("ping")), KEEL_OK);
    while (sc->srv.total < 4) {
        assert_int_equal(keel_loop_run_once(sc->loop, 1000), KEEL_OK);
    }
    keel_stream_abort(sc->client);
    scene_run(sc);
    assert_int_equal(sc->cli.close_r, KEEL_OK);
    assert_int_equal(sc->srv.last_read_r, KEEL_ERR_RESET);
    assert_int_equal(sc->srv.close_r, KEEL_ERR_RESET);
    assert_int_equal(sc->srv.closes, 1);
    test_free(sc);
}

static void half_close_lets_the_peer_answer(void **state)
{
    (void)state;
    scene *sc = scene_new();
    sc->reply_on_eof = true;
    sc->close_on_eof = true;
    scene_start(sc, NULL, NULL);
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("question")), KEEL_OK);
    assert_int_equal(keel_stream_shutdown(sc->client), KEEL_OK);
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("more")), KEEL_ERR_STATE);
    scene_run(sc);
    assert_int_equal(sc->srv.got_len, 8);
    assert_int_equal(sc->cli.got_len, 3);
    assert_memory_equal(sc->cli.got, "bye", 3);
    assert_int_equal(sc->cli.eofs, 1);
    assert_int_equal(sc->cli.close_r, KEEL_OK);
    assert_int_equal(sc->srv.close_r, KEEL_OK);
    test_free(sc);
}

static void read_cap_reached_is_too_large(void **state)
{
    (void)state;
    static const keel_stream_opts capped = { .read_cap = 16 };
    scene *sc = scene_new();
    sc->server_hold = true;
    sc->close_on_eof = true;
    scene_start(sc, &capped, NULL);
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("0123456789abcdefXYZ")), KEEL_OK);
    scene_run(sc);
    assert_int_equal(sc->srv.last_read_r, KEEL_ERR_TOO_LARGE);
    assert_int_equal(sc->srv.close_r, KEEL_ERR_TOO_LARGE);
    assert_int_equal(sc->srv.total, 16);
    /* Closing with unread bytes makes the kernel reset rather than FIN. */
    assert_true(sc->cli.last_read_r == KEEL_ERR_CLOSED || sc->cli.last_read_r == KEEL_ERR_RESET);
    assert_int_equal(sc->cli.closes, 1);
    test_free(sc);
}

static void read_timeout_closes_a_silent_stream(void **state)
{
    (void)state;
    static const keel_stream_opts quick = { .read_timeout_ms = 100 };
    scene *sc = scene_new();
    sc->close_on_eof = true;
    scene_start(sc, &quick, NULL);
    uint64_t t0 = nt_now_ms();
    scene_run(sc);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= 90);
    assert_true(took < 100u + 10000u); /* generous: a loaded 2-core machine */
    assert_int_equal(sc->srv.last_read_r, KEEL_ERR_TIMEOUT);
    assert_int_equal(sc->srv.close_r, KEEL_ERR_TIMEOUT);
    assert_int_equal(sc->cli.eofs, 1);
    test_free(sc);
}

static void connect_refused_is_reported_then_closed(void **state)
{
    (void)state;
    keel_net *probe = nt_new();
    assert_int_equal(keel_net_bind(probe, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP), KEEL_OK);
    uint16_t port = nt_local_port(probe);
    keel_net_free(probe); /* nobody listens there now */
    scene *sc = scene_new();
    assert_int_equal(keel_loop_new(&sc->loop), KEEL_OK);
    assert_int_equal(keel_stream_connect(sc->loop, KEEL_STR("127.0.0.1"), port, 5000, &handlers,
                                         NULL, sc, &sc->client),
                     KEEL_OK);
    sc->srv.closes = 1; /* no server side here */
    assert_int_equal(keel_loop_run(sc->loop), KEEL_OK);
    keel_loop_free(sc->loop);
    assert_int_equal(sc->cli.connects, 1);
    assert_int_equal(sc->cli.connect_r, KEEL_ERR_REFUSED);
    assert_int_equal(sc->cli.closes, 1);
    assert_int_equal(sc->cli.close_r, KEEL_ERR_REFUSED);
    /* Bad arguments fail at once, with no callback. */
    keel_stream *s = NULL;
    assert_int_equal(keel_loop_new(&sc->loop), KEEL_OK);
    assert_int_equal(
        keel_stream_connect(sc->loop, KEEL_STR(""), port, 5000, &handlers, NULL, sc, &s),
        KEEL_ERR_INVALID_ARG);
    assert_null(s);
    keel_loop_free(sc->loop);
    test_free(sc);
}

static void connect_deadline_passes_as_timeout(void **state)
{
    (void)state;
    /* A listener whose accept queue is full drops new SYNs: connecting
     * there hangs until the deadline. Fillers connect until one times out,
     * which proves the queue is full. */
    keel_net *ln = nt_new();
    keel_bind_opts bo = { .ip = KEEL_STR("127.0.0.1"), .proto = KEEL_PROTO_TCP, .backlog = 1 };
    assert_int_equal(keel_net_bind_opts(ln, &bo), KEEL_OK);
    uint16_t port = nt_local_port(ln);
    keel_net *fill[16];
    size_t nfill = 0;
    keel_result fr = KEEL_OK;
    while (fr == KEEL_OK && nfill < 16) {
        fill[nfill] = nt_new();
        fr = keel_net_connect(fill[nfill], KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 300);
        nfill++;
    }
    assert_int_equal(fr, KEEL_ERR_TIMEOUT);
    scene *sc = scene_new();
    /* Timers count from the loop's cached clock, read when it was made. */
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_loop_new(&sc->loop), KEEL_OK);
    assert_int_equal(keel_stream_connect(sc->loop, KEEL_STR("127.0.0.1"), port, 200, &handlers,
                                         NULL, sc, &sc->client),
                     KEEL_OK);
    sc->srv.closes = 1;
    assert_int_equal(keel_loop_run(sc->loop), KEEL_OK);
    keel_loop_free(sc->loop);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= 190);
    assert_true(took < 200u + 10000u);
    assert_int_equal(sc->cli.connect_r, KEEL_ERR_TIMEOUT);
    assert_int_equal(sc->cli.close_r, KEEL_ERR_TIMEOUT);
    for (size_t i = 0; i < nfill; i++) {
        keel_net_free(fill[i]);
    }
    keel_net_free(ln);
    test_free(sc);
}

static void loop_free_closes_open_streams(void **state)
{
    (void)state;
    scene *sc = scene_new();
    scene_start(sc, NULL, NULL);
    while (sc->server == NULL || sc->cli.connects == 0) {
        assert_int_equal(keel_loop_run_once(sc->loop, 1000), KEEL_OK);
    }
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("unread")), KEEL_OK);
    sc->l = NULL; /* keel_loop_free closes it */
    keel_loop_free(sc->loop);
    assert_int_equal(sc->cli.closes, 1);
    assert_int_equal(sc->srv.closes, 1);
    assert_int_equal(sc->cli.close_r, KEEL_ERR_CLOSED);
    assert_int_equal(sc->srv.close_r, KEEL_ERR_CLOSED);
    test_free(sc);
}

static void write_error_is_returned_then_reported_from_the_loop(void **state)
{
    (void)state;
    scene *sc = scene_new();
    scene_start(sc, NULL, NULL);
    while (sc->server == NULL || sc->cli.connects == 0) {
        assert_int_equal(keel_loop_run_once(sc->loop, 1000), KEEL_OK);
    }
    keel_stream_read_stop(sc->client); /* so only a write can find the reset */
    keel_stream_abort(sc->server);
    while (sc->srv.closes == 0) {
        assert_int_equal(keel_loop_run_once(sc->loop, 1000), KEEL_OK);
    }
    keel_result r = KEEL_OK;
    for (int i = 0; i < 100 && r == KEEL_OK; i++) {
        r = keel_stream_write(sc->client, KEEL_STR("into the void"));
        assert_int_equal(keel_loop_run_once(sc->loop, 0), KEEL_OK);
    }
    assert_int_equal(r, KEEL_ERR_RESET);
    /* Sticky; the callbacks come from the loop, not from inside the write. */
    scene_run(sc);
    assert_int_equal(sc->cli.last_read_r, KEEL_ERR_RESET);
    assert_int_equal(sc->cli.close_r, KEEL_ERR_RESET);
    assert_int_equal(sc->cli.closes, 1);
    test_free(sc);
}

/* accept4 that runs out of descriptors the first time. */
static int emfile_left;
static int accept4_emfile(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    if (emfile_left > 0) {
        emfile_left--;
        errno = EMFILE;
        return -1;
    }
    return accept4(fd, sa, len, flags);
}

static int accept_failures;
static void on_accept_counting(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    if (r == KEEL_ERR_NO_MEMORY) {
        assert_null(s);
        accept_failures++;
        return;
    }
    on_accept(l, r, s, user);
}

static void accept_out_of_descriptors_pauses_then_serves(void **state)
{
    (void)state;
    scene *sc = scene_new();
    sc->echo = true;
    sc->close_on_eof = true;
    sc->expect = 2;
    accept_failures = 0;
    emfile_left = 1;
    keel_sys.accept4 = accept4_emfile;
    assert_int_equal(keel_loop_new(&sc->loop), KEEL_OK);
    keel_net *ln = nt_new();
    assert_int_equal(keel_net_bind(ln, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP), KEEL_OK);
    assert_int_equal(
        keel_listener_start(sc->loop, ln, &handlers, NULL, on_accept_counting, sc, &sc->l),
        KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_listener_port(sc->l, &port), KEEL_OK);
    assert_int_equal(keel_stream_connect(sc->loop, KEEL_STR("127.0.0.1"), port, 5000, &handlers,
                                         NULL, sc, &sc->client),
                     KEEL_OK);
    assert_int_equal(keel_timer_start(sc->loop, 20000, 0, watchdog, sc, &sc->watchdog), KEEL_OK);
    assert_int_equal(keel_stream_write(sc->client, KEEL_STR("hi")), KEEL_OK);
    uint64_t t0 = nt_now_ms();
    scene_run(sc);
    keel_sys_reset();
    assert_int_equal(accept_failures, 1);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= 90); /* the listener rested ~100 ms */
    assert_true(took < 100u + 10000u);
    assert_int_equal(sc->cli.got_len, 2);
    assert_int_equal(sc->srv.close_r, KEEL_OK);
    test_free(sc);
}

/* ---- allocation failures ---------------------------------------------- */

static int alloc_calls, alloc_fail_at;
static void *alloc_failing(size_t n)
{
    if (++alloc_calls == alloc_fail_at) {
        return NULL;
    }
    return calloc(1, n);
}

typedef struct lenient {
    int closes;
    int opened;
    keel_listener *l;
    keel_loop *loop;
    keel_timer_id stop;
} lenient;

/* Once every stream is gone, nothing may keep the loop running. */
static void lenient_done(lenient *le)
{
    if (le->closes == le->opened) {
        keel_listener_close(le->l);
        le->l = NULL;
        if (le->stop.v != 0 && keel_timer_cancel(le->loop, le->stop) == KEEL_OK) {
            le->stop.v = 0;
        }
    }
}

static size_t lenient_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r == KEEL_OK) {
        if (keel_stream_write(s, data) != KEEL_OK) {
            keel_stream_close(s);
        }
    } else {
        keel_stream_close(s);
    }
    return data.len / 2; /* keep some, so held bytes get allocated */
}

static void lenient_close(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    (void)r;
    lenient *le = user;
    le->closes++;
    lenient_done(le);
}

static const keel_stream_handlers lenient_handlers = {
    .on_read = lenient_read,
    .on_close = lenient_close,
};

static void lenient_accept(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    lenient *le = user;
    if (r == KEEL_OK) {
        le->opened++;
        keel_stream_close(s); /* the server side says nothing more */
    }
}

static bool lenient_timed_out;
static void lenient_stop(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    (void)user;
    lenient_timed_out = true;
    keel_loop_stop(loop);
}

/* Each allocation of an echo exchange fails in turn: whatever the outcome,
 * the loop ends and (under ASan / valgrind) nothing leaks. */
static void every_allocation_failure_is_clean(void **state)
{
    (void)state;
    for (alloc_fail_at = 1; alloc_fail_at < 40; alloc_fail_at++) {
        alloc_calls = 0;
        keel_sys.alloc_zeroed = alloc_failing;
        lenient le = { 0 };
        keel_loop *loop = NULL;
        if (keel_loop_new(&loop) != KEEL_OK) {
            keel_sys_reset();
            continue;
        }
        le.loop = loop;
        keel_net *ln = NULL;
        keel_stream *c = NULL;
        uint16_t port = 0;
        bool ok = keel_net_init(&ln) == KEEL_OK &&
                  keel_net_bind(ln, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP) == KEEL_OK;
        if (ok && keel_listener_start(loop, ln, &lenient_handlers, NULL, lenient_accept, &le,
                                      &le.l) != KEEL_OK) {
            ok = false;
        }
        if (!ok) {
            keel_net_free(ln);
        }
        if (ok && keel_listener_port(le.l, &port) == KEEL_OK &&
            keel_stream_connect(loop, KEEL_STR("127.0.0.1"), port, 5000, &lenient_handlers, NULL,
                                &le, &c) == KEEL_OK) {
            le.opened++;
            if (keel_stream_write(c, KEEL_STR("0123456789")) != KEEL_OK) {
                keel_stream_abort(c);
            }
        }
        lenient_timed_out = false;
        if (keel_timer_start(loop, 10000, 0, lenient_stop, NULL, &le.stop) == KEEL_OK) {
            lenient_done(&le); /* nothing opened: end at once */
            assert_int_equal(keel_loop_run(loop), KEEL_OK);
        }
        keel_loop_free(loop);
        keel_sys_reset();
        assert_false(lenient_timed_out);
        assert_int_equal(le.closes, le.opened);
    }
}

/* ---- server ------------------------------------------------------------- */

static size_t srv_echo(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r == KEEL_OK) {
        if (keel_stream_write(s, data) != KEEL_OK) {
            keel_stream_abort(s);
        }
    } else if (r == KEEL_ERR_CLOSED) {
        keel_stream_close(s);
    }
    return data.len;
}

static void server_echoes_on_two_threads_and_shuts_down(void **state)
{
    (void)state;
    static const keel_stream_handlers echo = { .on_read = srv_echo };
    keel_server_opts o = { .ip = KEEL_STR("127.0.0.1"), .threads = 2, .handlers = &echo };
    keel_server *srv = NULL;
    assert_int_equal(keel_server_start(&o, &srv), KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_server_port(srv, &port), KEEL_OK);
    assert_int_not_equal(port, 0);
    keel_net *c[8];
    for (int i = 0; i < 8; i++) {
        c[i] = nt_new();
        assert_int_equal(
            keel_net_connect(c[i], KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, NT_IO_TIMEOUT_MS),
            KEEL_OK);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(keel_net_send_all(c[i], KEEL_STR("abc"), NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
        uint8_t buf[3];
        keel_buf b = { buf, sizeof buf, 0 };
        assert_int_equal(keel_net_recv_exact(c[i], &b, 3, NT_IO_TIMEOUT_MS), KEEL_OK);
        assert_memory_equal(buf, "abc", 3);
    }
    assert_int_equal(keel_server_connections(srv), 8);
    /* Half the clients leave; the rest are closed by the shutdown. */
    for (int i = 0; i < 4; i++) {
        keel_net_free(c[i]);
    }
    keel_server_shutdown(srv, 200);
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    assert_int_equal(keel_server_connections(srv), 0);
    for (int i = 4; i < 8; i++) {
        uint8_t buf[1];
        keel_buf b = { buf, sizeof buf, 0 };
        assert_int_equal(keel_net_recv_timeout(c[i], &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
        keel_net_free(c[i]);
    }
    keel_server_free(srv);
}

static void server_over_the_limit_closes_at_once(void **state)
{
    (void)state;
    static const keel_stream_handlers echo = { .on_read = srv_echo };
    keel_server_opts o = {
        .ip = KEEL_STR("127.0.0.1"), .threads = 1, .max_conns = 2, .handlers = &echo
    };
    keel_server *srv = NULL;
    assert_int_equal(keel_server_start(&o, &srv), KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_server_port(srv, &port), KEEL_OK);
    keel_net *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = nt_new();
        assert_int_equal(
            keel_net_connect(c[i], KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, NT_IO_TIMEOUT_MS),
            KEEL_OK);
        keel_result r = keel_net_send_all(c[i], KEEL_STR("abc"), NT_IO_TIMEOUT_MS, NULL);
        uint8_t buf[3];
        keel_buf b = { buf, sizeof buf, 0 };
        if (r == KEEL_OK) {
            r = keel_net_recv_exact(c[i], &b, 3, NT_IO_TIMEOUT_MS);
        }
        if (i < 2) {
            assert_int_equal(r, KEEL_OK);
        } else {
            assert_true(r == KEEL_ERR_CLOSED || r == KEEL_ERR_RESET);
        }
    }
    assert_int_equal(keel_server_connections(srv), 2);
    keel_server_free(srv); /* shuts down with grace 0 and waits */
    for (int i = 0; i < 3; i++) {
        keel_net_free(c[i]);
    }
}

/* Last in the file: the process keeps SIGTERM blocked afterwards. */
static void server_shuts_down_on_sigterm(void **state)
{
    (void)state;
    static const keel_stream_handlers echo = { .on_read = srv_echo };
    keel_server_opts o = { .ip = KEEL_STR("127.0.0.1"),
                           .threads = 2,
                           .grace_ms = 100,
                           .handle_signals = true,
                           .handlers = &echo };
    keel_server *srv = NULL;
    assert_int_equal(keel_server_start(&o, &srv), KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_server_port(srv, &port), KEEL_OK);
    keel_net *c = nt_new();
    assert_int_equal(
        keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, NT_IO_TIMEOUT_MS),
        KEEL_OK);
    /* Echoed: accepted, so the shutdown closes it in order (a connection
     * still in a closing listener's backlog would be reset instead). */
    assert_int_equal(keel_net_send_all(c, KEEL_STR("x"), NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    uint8_t one[1];
    keel_buf ob = { one, sizeof one, 0 };
    assert_int_equal(keel_net_recv_exact(c, &ob, 1, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    uint8_t buf[1];
    keel_buf b = { buf, sizeof buf, 0 };
    assert_int_equal(keel_net_recv_timeout(c, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    keel_net_free(c);
    keel_server_free(srv);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echo_round_trip_through_listener_and_connect),
        cmocka_unit_test(write_back_pressure_pauses_and_resumes_the_producer),
        cmocka_unit_test(orderly_close_flushes_the_queue),
        cmocka_unit_test(abort_resets_the_peer),
        cmocka_unit_test(half_close_lets_the_peer_answer),
        cmocka_unit_test(read_cap_reached_is_too_large),
        cmocka_unit_test(read_timeout_closes_a_silent_stream),
        cmocka_unit_test(connect_refused_is_reported_then_closed),
        cmocka_unit_test(connect_deadline_passes_as_timeout),
        cmocka_unit_test(loop_free_closes_open_streams),
        cmocka_unit_test(write_error_is_returned_then_reported_from_the_loop),
        cmocka_unit_test(accept_out_of_descriptors_pauses_then_serves),
        cmocka_unit_test(every_allocation_failure_is_clean),
        cmocka_unit_test(server_echoes_on_two_threads_and_shuts_down),
        cmocka_unit_test(server_over_the_limit_closes_at_once),
        cmocka_unit_test(server_shuts_down_on_sigterm),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

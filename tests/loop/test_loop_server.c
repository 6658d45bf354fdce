/*
 * tests/loop/test_loop_server.c - the multi-threaded keel_server over loopback:
 * 2,000 concurrent clients with every byte checked, graceful shutdown with
 * data in flight, the grace deadline, the connection limit, and SIGTERM.
 *
 * The server echoes on its own threads (2 loops); clients are either a keel
 * loop in the test thread (the 2,000) or blocking keel_net sockets. What the
 * server threads record is atomic, so the TSan build checks the runtime,
 * not the test.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/loop.h"
#include "net_test_util.h"
#include "loop_test_util.h"

/* ---- the server side: an echo with back-pressure ------------------------ */

static atomic_int srv_accepts, srv_closes, srv_close_errors;

static size_t srv_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r == KEEL_ERR_CLOSED) {
        keel_stream_close(s);
    }
    if (r != KEEL_OK) {
        return 0;
    }
    if (keel_stream_write(s, data) != KEEL_OK) {
        keel_stream_abort(s);
    } else if (!keel_stream_can_write(s)) {
        keel_stream_read_stop(s);
    }
    return data.len;
}

static void srv_writable(keel_stream *s, keel_result r, bool can_write, void *user)
{
    (void)r;
    (void)user;
    if (can_write) {
        keel_stream_read_start(s);
    } else {
        keel_stream_read_stop(s);
    }
}

static void srv_closed(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    (void)user;
    atomic_fetch_add(&srv_closes, 1);
    if (r != KEEL_OK) {
        atomic_fetch_add(&srv_close_errors, 1);
    }
}

static void srv_accepted(keel_stream *s, void *user)
{
    (void)user;
    assert_non_null(s);
    atomic_fetch_add(&srv_accepts, 1);
}

static const keel_stream_handlers srv_handlers = {
    .on_read = srv_read,
    .on_writable = srv_writable,
    .on_close = srv_closed,
};

static keel_server *start_server(unsigned threads, unsigned max_conns, uint32_t grace_ms,
                                 bool signals, uint16_t *port)
{
    atomic_store(&srv_accepts, 0);
    atomic_store(&srv_closes, 0);
    atomic_store(&srv_close_errors, 0);
    const keel_server_opts o = {
        .ip = KEEL_STR("127.0.0.1"),
        .threads = threads,
        .max_conns = max_conns,
        .grace_ms = grace_ms,
        .handle_signals = signals,
        .handlers = &srv_handlers,
        .on_accept = srv_accepted,
    };
    keel_server *srv = NULL;
    assert_int_equal(keel_server_start(&o, &srv), KEEL_OK);
    assert_non_null(srv);
    assert_int_equal(keel_server_port(srv, port), KEEL_OK);
    assert_int_not_equal(*port, 0);
    return srv;
}

/* Blocking client: connect, one echo round trip of `text`. */
static keel_net *echo_client(uint16_t port, keel_slice text)
{
    keel_net *c = nt_new();
    assert_int_equal(keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    uint8_t in[256];
    keel_buf b = nt_buf(in, sizeof in);
    assert_true(text.len <= sizeof in);
    assert_int_equal(keel_net_send_all(c, text, NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    assert_int_equal(keel_net_recv_exact(c, &b, text.len, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), text));
    return c;
}

/* Wait (bounded) until the server counts `want` connections. */
static void wait_connections(const keel_server *srv, size_t want)
{
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (keel_server_connections(srv) != want) {
        assert_true(nt_now_ms() < end);
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* ---- 2,000 concurrent clients ------------------------------------------ */

enum {
    NCLIENTS = 2000,
    HALF = 1000,     /* bytes per client per phase */
    IN_FLIGHT = 256  /* connects pending at once */
};

typedef struct mc_client {
    struct mc *mc;
    keel_stream *s;
    size_t start; /* pattern offset of this client's bytes */
    size_t got;
} mc_client;

typedef struct mc {
    keel_loop *loop;
    keel_server *srv;
    uint16_t port;
    size_t started, at_barrier, done, closed;
    size_t conns_at_barrier;
    bool all_closed, broken;
    keel_result fail;
    mc_client c[NCLIENTS];
} mc;

static void mc_failed(mc *m, keel_result r)
{
    if (m->fail == KEEL_OK) {
        m->fail = r;
    }
}

static void mc_send_half(mc_client *c, size_t phase)
{
    uint8_t out[HALF];
    nt_fill(out, sizeof out, c->start + phase * HALF);
    if (keel_stream_write(c->s, nt_slice(out, sizeof out)) != KEEL_OK) {
        mc_failed(c->mc, KEEL_ERR_STATE);
    }
}

static void mc_start_next(mc *m);

static void mc_connected(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    mc_client *c = user;
    if (r != KEEL_OK) {
        mc_failed(c->mc, r);
    } else {
        mc_send_half(c, 0);
    }
    mc_start_next(c->mc);
}

/* Phase 1: every client gets its first half back while all 2,000 are
 * connected; only then does any of them send its second half. */
static size_t mc_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    mc_client *c = user;
    mc *m = c->mc;
    if (r != KEEL_OK) {
        mc_failed(m, r);
        return 0;
    }
    if (c->got + data.len > 2u * HALF ||
        nt_check(data.ptr, data.len, c->start + c->got) != data.len) {
        m->broken = true;
    }
    c->got += data.len;
    if (c->got == HALF && ++m->at_barrier == NCLIENTS) {
        m->conns_at_barrier = keel_server_connections(m->srv);
        for (size_t i = 0; i < NCLIENTS; i++) {
            mc_send_half(&m->c[i], 1);
        }
    } else if (c->got == 2u * HALF) {
        m->done++;
        keel_stream_close(s);
    }
    return data.len;
}

static void mc_closed(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    mc_client *c = user;
    if (r != KEEL_OK) {
        mc_failed(c->mc, r);
    }
    if (++c->mc->closed == NCLIENTS) {
        c->mc->all_closed = true;
    }
}

static const keel_stream_handlers mc_handlers = {
    .on_read = mc_read,
    .on_connect = mc_connected,
    .on_close = mc_closed,
};

static void mc_start_next(mc *m)
{
    if (m->started == NCLIENTS) {
        return;
    }
    mc_client *c = &m->c[m->started++];
    c->mc = m;
    c->start = (m->started - 1) * 7919u;
    keel_result r = keel_stream_connect(m->loop, KEEL_STR("127.0.0.1"), m->port, LT_DEADLINE_MS,
                                        &mc_handlers, NULL, c, &c->s);
    if (r != KEEL_OK) {
        mc_failed(m, r);
        m->closed++; /* never opened: no on_close will come */
    }
}

static void test_2000_concurrent_clients_every_byte_echoed(void **state)
{
    (void)state;
    /* A client and a server descriptor per connection, and some slack. */
    if (!lt_raise_nofile(2 * NCLIENTS + 200)) {
        fprintf(stderr, "SKIP %s: the hard RLIMIT_NOFILE is below %d\n", __func__,
                2 * NCLIENTS + 200);
        skip();
    }
    static mc m;
    m = (mc){ 0 };
    m.srv = start_server(2, 0, 0, false, &m.port);
    m.loop = lt_loop();
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        mc_start_next(&m);
    }
    uint64_t end = nt_now_ms() + 60000u;
    while (!m.all_closed && m.fail == KEEL_OK) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(m.loop, 50), KEEL_OK);
    }
    assert_int_equal(m.fail, KEEL_OK);
    assert_false(m.broken);
    assert_int_equal(m.done, NCLIENTS);
    assert_int_equal(m.conns_at_barrier, NCLIENTS);
    assert_int_equal(keel_loop_run(m.loop), KEEL_OK);
    keel_loop_free(m.loop);

    keel_server_shutdown(m.srv, 2000);
    assert_int_equal(keel_server_wait(m.srv), KEEL_OK);
    assert_int_equal(atomic_load(&srv_accepts), NCLIENTS);
    assert_int_equal(atomic_load(&srv_closes), NCLIENTS);
    assert_int_equal(atomic_load(&srv_close_errors), 0);
    assert_int_equal(keel_server_connections(m.srv), 0);
    keel_server_free(m.srv);
}

/* ---- shutdown ------------------------------------------------------------ */

static void test_graceful_shutdown_delivers_in_flight_data(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_server *srv = start_server(2, 0, 0, false, &port);
    keel_net *c = echo_client(port, KEEL_STR("warm-up"));
    enum { TOTAL = 300 * 1024 };
    static uint8_t out[TOTAL], in[TOTAL];
    nt_fill(out, sizeof out, 0);
    assert_int_equal(keel_net_send_all(c, nt_slice(out, sizeof out), NT_IO_TIMEOUT_MS, NULL),
                     KEEL_OK);
    uint64_t t0 = nt_now_ms();
    keel_server_shutdown(srv, 5000);

    /* The echo still arrives whole. */
    keel_buf b = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_exact(c, &b, TOTAL, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_int_equal(nt_check(in, TOTAL, 0), TOTAL);

    /* No new connection is accepted once the listeners are closed. */
    keel_result r = KEEL_OK;
    while (r != KEEL_ERR_REFUSED) {
        assert_true(nt_now_ms() - t0 < LT_DEADLINE_MS);
        keel_net *late = nt_new();
        r = keel_net_connect(late, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 1000);
        keel_net_free(late);
    }

    /* The client says goodbye; the server closes its side and ends well
     * before the grace deadline. */
    assert_int_equal(keel_net_shutdown(c, KEEL_SHUT_WR), KEEL_OK);
    keel_buf rest = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_timeout(c, &rest, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    assert_true(nt_now_ms() - t0 < 5000);
    assert_int_equal(atomic_load(&srv_close_errors), 0);
    keel_net_free(c);
    keel_server_free(srv);
}

/* A client that never leaves is closed (orderly) when the grace ends. */
static void test_grace_deadline_closes_remaining_connections(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_server *srv = start_server(1, 0, 0, false, &port);
    keel_net *c = echo_client(port, KEEL_STR("hello"));
    uint64_t t0 = nt_now_ms();
    keel_server_shutdown(srv, 500);
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= 450);
    assert_true(took < 10000);
    uint8_t in[16];
    keel_buf b = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_timeout(c, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    assert_int_equal(atomic_load(&srv_closes), 1);
    keel_net_free(c);
    keel_server_free(srv);
}

/* on_shutdown runs once on every loop's thread when the shutdown begins,
 * before the grace period: there a user closes its idle connections, and
 * the server ends without waiting for the grace deadline. */
static atomic_int shutdown_calls;
static keel_loop *shutdown_loops[4];
/* The one connection and its loop, published on that loop at accept. */
static _Atomic(keel_stream *) shutdown_stream;
static _Atomic(keel_loop *) shutdown_stream_loop;
static void shutdown_accepted(keel_stream *s, void *user)
{
    (void)user;
    atomic_store(&shutdown_stream, s);
    atomic_store(&shutdown_stream_loop, keel_stream_loop(s));
}
static void shutdown_hook(keel_loop *loop, void *user)
{
    assert_ptr_equal(user, &shutdown_calls);
    int i = atomic_fetch_add(&shutdown_calls, 1);
    assert_true(i < 4);
    shutdown_loops[i] = loop;
    if (atomic_load(&shutdown_stream_loop) == loop) {
        keel_stream_close(atomic_load(&shutdown_stream)); /* idle: close it now */
    }
}

static void test_on_shutdown_runs_on_every_loop(void **state)
{
    (void)state;
    atomic_store(&shutdown_calls, 0);
    memset(shutdown_loops, 0, sizeof shutdown_loops);
    atomic_store(&shutdown_stream, NULL);
    atomic_store(&shutdown_stream_loop, NULL);
    const keel_server_opts o = {
        .ip = KEEL_STR("127.0.0.1"),
        .threads = 3,
        .handlers = &srv_handlers,
        .on_accept = shutdown_accepted,
        .on_shutdown = shutdown_hook,
        .user = &shutdown_calls,
    };
    keel_server *srv = NULL;
    assert_int_equal(keel_server_start(&o, &srv), KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_server_port(srv, &port), KEEL_OK);
    keel_net *c = echo_client(port, KEEL_STR("idle after this"));
    uint64_t t0 = nt_now_ms();
    keel_server_shutdown(srv, 60000); /* a grace the test would notice */
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    assert_true(nt_now_ms() - t0 < 30000);
    assert_int_equal(atomic_load(&shutdown_calls), 3);
    assert_true(shutdown_loops[0] != shutdown_loops[1] && shutdown_loops[1] != shutdown_loops[2] &&
                shutdown_loops[0] != shutdown_loops[2]);
    uint8_t in[16];
    keel_buf b = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_timeout(c, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    keel_net_free(c);
    keel_server_free(srv);
}

/* keel_server_free on a running server: shutdown with grace 0, wait. */
static void test_free_running_server_stops_it(void **state)
{
    (void)state;
    int fds = nt_count_fds();
    uint16_t port = 0;
    keel_server *srv = start_server(2, 0, 0, false, &port);
    keel_net *c = echo_client(port, KEEL_STR("x"));
    keel_server_free(srv);
    uint8_t in[16];
    keel_buf b = nt_buf(in, sizeof in);
    keel_result r = keel_net_recv_timeout(c, &b, NT_IO_TIMEOUT_MS, NULL);
    assert_true(r == KEEL_ERR_CLOSED || r == KEEL_ERR_RESET);
    keel_net_free(c);
    assert_int_equal(nt_count_fds(), fds);
}

/* ---- limits and signals ---------------------------------------------- */

static void test_max_conns_enforced_over_all_threads(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_server *srv = start_server(2, 3, 0, false, &port);
    keel_net *kept[3];
    for (size_t i = 0; i < 3; i++) {
        kept[i] = echo_client(port, KEEL_STR("ping"));
    }
    assert_int_equal(keel_server_connections(srv), 3);
    /* Over the limit: accepted by the kernel, closed at once by keel. */
    for (int i = 0; i < 2; i++) {
        keel_net *extra = nt_new();
        assert_int_equal(keel_net_connect(extra, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                          NT_IO_TIMEOUT_MS),
                         KEEL_OK);
        uint8_t in[16];
        keel_buf b = nt_buf(in, sizeof in);
        keel_result r = keel_net_recv_timeout(extra, &b, NT_IO_TIMEOUT_MS, NULL);
        assert_true(r == KEEL_ERR_CLOSED || r == KEEL_ERR_RESET);
        keel_net_free(extra);
    }
    assert_int_equal(keel_server_connections(srv), 3);
    /* A slot freed is a slot usable again. */
    keel_net_free(kept[0]);
    wait_connections(srv, 2);
    kept[0] = echo_client(port, KEEL_STR("again"));
    assert_int_equal(keel_server_connections(srv), 3);
    for (size_t i = 0; i < 3; i++) {
        keel_net_free(kept[i]);
    }
    keel_server_shutdown(srv, 1000);
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    keel_server_free(srv);
}

/* Last: SIGTERM stays blocked in this thread afterwards. */
static void test_sigterm_starts_graceful_shutdown(void **state)
{
    (void)state;
    uint16_t port = 0;
    keel_server *srv = start_server(2, 0, 300, true, &port);
    keel_net *c = echo_client(port, KEEL_STR("before the signal"));
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    uint8_t in[16];
    keel_buf b = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_timeout(c, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_ERR_CLOSED);
    keel_net_free(c);
    keel_server_free(srv);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2000_concurrent_clients_every_byte_echoed),
        cmocka_unit_test(test_graceful_shutdown_delivers_in_flight_data),
        cmocka_unit_test(test_grace_deadline_closes_remaining_connections),
        cmocka_unit_test(test_on_shutdown_runs_on_every_loop),
        cmocka_unit_test(test_free_running_server_stops_it),
        cmocka_unit_test(test_max_conns_enforced_over_all_threads),
        cmocka_unit_test(test_sigterm_starts_graceful_shutdown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

/*
 * tests/loop/test_loop_faults.c - the async runtime under faults injected at the
 * syscall seam (src/core/sys.h) and under a real descriptor shortage: EAGAIN
 * storms with short reads and writes (every byte still arrives, in order),
 * accept failing with EMFILE (the listener reports NO_MEMORY, then serves
 * again), and a process at its RLIMIT_NOFILE.
 *
 * One thread, one loop: a listener that echoes and a client stream that
 * checks the echo. keel_sys_reset() after every test, which also checks
 * that no descriptor leaked.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/loop.h"
#include "net_test_util.h"
#include "loop_test_util.h"
#include "core/sys.h"

static struct keel_sys_ops real;
static int fds_before;

static struct fault_knobs {
    unsigned recv_calls, send_calls, refused;
    int accept_emfile;  /* accept4 calls still to fail with EMFILE */
    int accept_calls;
    int listen_fd;      /* the listener's socket (for epoll_ctl_rearm_fails) */
    int rearm_fail;     /* re-arms of it (interest EPOLLIN) still to fail */
    int rearm_failed;
} f;

static int setup(void **state)
{
    (void)state;
    keel_sys_reset();
    real = keel_sys;
    f = (struct fault_knobs){ 0 };
    fds_before = nt_count_fds();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    keel_sys_reset();
    return nt_fds_unchanged(fds_before);
}

/* ---- stubs ------------------------------------------------------------ */

/* Two calls in three fail with EAGAIN; the third moves at most a few
 * hundred bytes. */
static ssize_t recv_storm(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                          socklen_t *salen)
{
    if (++f.recv_calls % 3u != 0u) {
        f.refused++;
        errno = EAGAIN;
        return -1;
    }
    return real.recvfrom(fd, buf, len < 777u ? len : 777u, flags, sa, salen);
}

static ssize_t send_storm(int fd, const void *buf, size_t len, int flags,
                          const struct sockaddr *sa, socklen_t salen)
{
    if (++f.send_calls % 3u != 0u) {
        f.refused++;
        errno = EAGAIN;
        return -1;
    }
    return real.sendto(fd, buf, len < 555u ? len : 555u, flags, sa, salen);
}

static int accept_emfile(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    f.accept_calls++;
    if (f.accept_emfile > 0) {
        f.accept_emfile--;
        errno = EMFILE;
        return -1;
    }
    return real.accept4(fd, sa, len, flags);
}

/* Asking for the listener's connections again fails (ENOMEM) while
 * f.rearm_fail lasts. */
static int epoll_ctl_rearm_fails(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (fd == f.listen_fd && ev != NULL && (ev->events & EPOLLIN) != 0 && f.rearm_fail > 0) {
        f.rearm_fail--;
        f.rearm_failed++;
        errno = ENOMEM;
        return -1;
    }
    return real.epoll_ctl(epfd, op, fd, ev);
}

/* ---- an echo listener and a checking client on one loop ---------------- */

typedef struct echo_rig {
    keel_loop *loop;
    keel_listener *l;
    uint16_t port;
    lt_events server;  /* the accepted stream (echo) */
    int accept_ok, accept_no_memory, accept_other;
    int *fillers;      /* descriptors to release on the first NO_MEMORY */
    size_t nfillers;
} echo_rig;

static void rig_accept(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    echo_rig *g = user;
    if (r == KEEL_OK) {
        g->accept_ok++;
        g->server.s = s;
        keel_stream_set_user(s, &g->server);
        return;
    }
    assert_null(s);
    if (r == KEEL_ERR_NO_MEMORY) {
        g->accept_no_memory++;
        for (size_t i = 0; i < g->nfillers; i++) {
            close(g->fillers[i]);
        }
        g->nfillers = 0;
    } else {
        g->accept_other++;
    }
}

static void rig_start(echo_rig *g)
{
    g->loop = lt_loop();
    keel_net *ls = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &g->port);
    assert_int_equal(keel_net_fd(ls, &f.listen_fd), KEEL_OK);
    assert_int_equal(keel_listener_start(g->loop, ls, &lt_echo_handlers, NULL, rig_accept, g,
                                         &g->l),
                     KEEL_OK);
}

static void rig_finish(echo_rig *g)
{
    keel_listener_close(g->l);
    assert_int_equal(keel_loop_run(g->loop), KEEL_OK);
    keel_loop_free(g->loop);
}

/* The client: sends `total` pattern bytes at once, checks the echo, closes
 * when it is all back. */
typedef struct checker {
    lt_events e;
    size_t total;
} checker;

static void checker_connected(keel_stream *s, keel_result r, void *user)
{
    checker *c = user;
    lt_on_connect(s, r, &c->e);
    if (r == KEEL_OK) {
        static uint8_t out[256 * 1024];
        assert_true(c->total <= sizeof out);
        nt_fill(out, c->total, 0);
        assert_int_equal(keel_stream_write(s, nt_slice(out, c->total)), KEEL_OK);
    }
}

static size_t checker_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    checker *c = user;
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

static void checker_closed(keel_stream *s, keel_result r, void *user)
{
    lt_on_close(s, r, &((checker *)user)->e);
}

static const keel_stream_handlers checker_handlers = {
    .on_read = checker_read,
    .on_connect = checker_connected,
    .on_close = checker_closed,
};

static void run_checker(echo_rig *g, checker *c, size_t total)
{
    c->total = total;
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_connect(g->loop, KEEL_STR("127.0.0.1"), g->port, LT_DEADLINE_MS,
                                         &checker_handlers, NULL, c, &s),
                     KEEL_OK);
    lt_run_until(g->loop, &c->e.closed, LT_DEADLINE_MS);
    assert_int_equal(c->e.connect_r, KEEL_OK);
    assert_int_equal(c->e.received, total);
    assert_false(c->e.pattern_broken);
    assert_int_equal(c->e.close_r, KEEL_OK);
    lt_run_until(g->loop, &g->server.closed, LT_DEADLINE_MS);
    assert_int_equal(g->server.received, total);
    assert_int_equal(g->server.close_r, KEEL_OK);
}

/* ---- tests ------------------------------------------------------------ */

static void test_eagain_storm_and_short_io_keep_every_byte_in_order(void **state)
{
    (void)state;
    echo_rig g = { 0 };
    rig_start(&g);
    keel_sys.recvfrom = recv_storm;
    keel_sys.sendto = send_storm;
    checker c = { 0 };
    run_checker(&g, &c, 256 * 1024);
    keel_sys_reset();
    assert_true(f.refused > 1000);
    rig_finish(&g);
}

static void test_accept_emfile_reports_no_memory_then_serves(void **state)
{
    (void)state;
    echo_rig g = { 0 };
    rig_start(&g);
    keel_sys.accept4 = accept_emfile;
    f.accept_emfile = 3;
    checker c = { 0 };
    run_checker(&g, &c, 1000);
    keel_sys_reset();
    assert_true(g.accept_no_memory >= 1);
    assert_int_equal(g.accept_other, 0);
    assert_int_equal(g.accept_ok, 1);
    assert_int_equal(f.accept_emfile, 0);
    rig_finish(&g);
}

/* After a shortage the listener rests, then asks for connections again;
 * when that fails too, it reports it and retries after another rest
 * instead of staying deaf. */
static void test_failed_rearm_after_a_pause_is_retried(void **state)
{
    (void)state;
    echo_rig g = { 0 };
    rig_start(&g);
    keel_sys.accept4 = accept_emfile;
    keel_sys.epoll_ctl = epoll_ctl_rearm_fails;
    f.accept_emfile = 1;
    f.rearm_fail = 2;
    checker c = { 0 };
    run_checker(&g, &c, 1000);
    keel_sys_reset();
    assert_int_equal(f.rearm_failed, 2);
    assert_int_equal(g.accept_no_memory, 3); /* EMFILE, then each failed re-arm */
    assert_int_equal(g.accept_other, 0);
    assert_int_equal(g.accept_ok, 1);
    rig_finish(&g);
}

enum { MAX_FILLERS = 512 };

static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int high = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t v = 0;
        if (keel_slice_parse_u64(keel_slice_cstr(e->d_name), INT32_MAX, &v) == KEEL_OK &&
            (int)v > high) {
            high = (int)v;
        }
    }
    closedir(d);
    return high;
}

/* A real shortage: the process is at its RLIMIT_NOFILE when a client
 * arrives; once descriptors are freed (here, by the accept callback on the
 * first NO_MEMORY) the listener accepts it. */
static void test_real_descriptor_exhaustion_then_recovery(void **state)
{
    (void)state;
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    echo_rig g = { 0 };
    rig_start(&g);
    keel_net *client = nt_new();
    assert_int_equal(keel_net_connect(client, KEEL_STR("127.0.0.1"), g.port, KEEL_PROTO_TCP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    assert_int_equal(keel_net_send_all(client, KEEL_STR("still served"), NT_IO_TIMEOUT_MS, NULL),
                     KEEL_OK);

    /* Room for a few more descriptors than the highest one open now (the
     * limit bounds descriptor numbers, not their count). */
    struct rlimit low = saved;
    low.rlim_cur = (rlim_t)highest_fd() + 32u;
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) {
        fprintf(stderr, "SKIP %s: cannot lower RLIMIT_NOFILE here\n", __func__);
        keel_net_free(client);
        rig_finish(&g);
        skip();
    }
    int fillers[MAX_FILLERS];
    size_t n = 0;
    int fd;
    while (n < MAX_FILLERS && (fd = fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0) {
        fillers[n++] = fd;
    }
    if (n == MAX_FILLERS || errno != EMFILE) {
        fprintf(stderr, "SKIP %s: could not reach RLIMIT_NOFILE with %d descriptors\n",
                __func__, MAX_FILLERS);
        for (size_t i = 0; i < n; i++) {
            close(fillers[i]);
        }
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
        keel_net_free(client);
        rig_finish(&g);
        skip();
    }
    g.fillers = fillers;
    g.nfillers = n;
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (g.server.received < 12) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(g.loop, 20), KEEL_OK);
    }
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_true(g.accept_no_memory >= 1);
    assert_int_equal(g.accept_ok, 1);
    assert_int_equal(g.nfillers, 0);

    uint8_t in[16];
    keel_buf b = nt_buf(in, sizeof in);
    assert_int_equal(keel_net_recv_exact(client, &b, 12, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("still served")));
    keel_net_free(client);
    lt_run_until(g.loop, &g.server.closed, LT_DEADLINE_MS);
    rig_finish(&g);
}

/* ---- the default timeouts of accepted streams (a jumping clock) -------------- */

static uint64_t clock_offset;

static uint64_t jumped_now_ms(void)
{
    return real.now_ms() + clock_offset;
}

static size_t keep_all(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)s;
    lt_events *e = user;
    if (r != KEEL_OK) {
        lt_note_end(e, r, data);
    }
    return data.len;
}

static const keel_stream_handlers keep_handlers = { .on_read = keep_all, .on_close = lt_on_close };

static lt_events acc[2];
static int acc_count;

static void accept_into(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    (void)user;
    assert_int_equal(r, KEEL_OK);
    assert_true(acc_count < 2);
    acc[acc_count].s = s;
    keel_stream_set_user(s, &acc[acc_count]);
    acc_count++;
}

/* Run loop for about ms of real time, iterations of at most 20 ms. */
static void run_real_ms(keel_loop *loop, uint64_t ms)
{
    uint64_t end = nt_now_ms() + ms;
    while (nt_now_ms() < end) {
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
}

/* A stream a listener accepted with no timeouts set is closed when its peer
 * goes silent (the read timeout, 120 s by default; the clock jumps there);
 * one whose opts turn them off, and one made by adopt, are not. */
static void test_accepted_streams_time_out_by_default(void **state)
{
    (void)state;
    keel_sys.now_ms = jumped_now_ms;
    clock_offset = 0;
    acc_count = 0;
    memset(acc, 0, sizeof acc);
    keel_loop *loop = lt_loop();
    static const keel_stream_opts off = { .read_timeout_ms = KEEL_STREAM_NO_TIMEOUT,
                                          .idle_timeout_ms = KEEL_STREAM_NO_TIMEOUT };
    keel_listener *l[2] = { NULL, NULL };
    keel_net *peer[2] = { NULL, NULL };
    for (int i = 0; i < 2; i++) {
        uint16_t port = 0;
        keel_net *sock = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
        assert_int_equal(keel_listener_start(loop, sock, &keep_handlers, i == 0 ? NULL : &off,
                                             accept_into, NULL, &l[i]),
                         KEEL_OK);
        peer[i] = nt_new();
        assert_int_equal(keel_net_connect(peer[i], KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                          NT_IO_TIMEOUT_MS),
                         KEEL_OK);
        while (acc_count <= i) {
            assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
        }
    }
    /* And a stream by adopt, NULL opts. */
    keel_net *a = NULL, *b = NULL;
    nt_tcp_pair(KEEL_AF_INET4, &a, &b);
    lt_events adopted = { 0 };
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_adopt(loop, b, &keep_handlers, NULL, &adopted, &s), KEEL_OK);
    run_real_ms(loop, 50);
    clock_offset = 119000; /* not yet */
    run_real_ms(loop, 100);
    assert_false(acc[0].closed);
    clock_offset = 121000;
    run_real_ms(loop, 200);
    assert_true(acc[0].closed);
    assert_int_equal(acc[0].read_end, KEEL_ERR_TIMEOUT);
    assert_int_equal(acc[0].close_r, KEEL_ERR_TIMEOUT);
    clock_offset = 24u * 3600u * 1000u; /* a day: the others stay */
    run_real_ms(loop, 200);
    assert_false(acc[1].closed);
    assert_false(adopted.closed);
    keel_stream_close(acc[1].s);
    keel_stream_close(s);
    keel_listener_close(l[0]);
    keel_listener_close(l[1]);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
    keel_net_free(peer[0]);
    keel_net_free(peer[1]);
    keel_net_free(a);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eagain_storm_and_short_io_keep_every_byte_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_emfile_reports_no_memory_then_serves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_rearm_after_a_pause_is_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_accepted_streams_time_out_by_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_real_descriptor_exhaustion_then_recovery, setup,
                                        teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

/*
 * tests/loop/test_loop_threads.c - the thread-safe calls (keel_loop_post,
 * keel_loop_stop, keel_server_shutdown) against keel_loop_free and
 * keel_server_free: once a loop has shown the effect of a call from
 * another thread (the posted task ran, run returned because of the stop,
 * the server's threads ended because of the shutdown), freeing it must be
 * safe even though that call may not have returned yet.
 *
 * Two kinds of test: deterministic ones that hold the calling thread
 * inside the call (a keel_sys.fd_write hook that sleeps around the wake-up
 * write, the last thing the call does) and check that the free waits for
 * it; and stress rounds under natural scheduling, which ThreadSanitizer
 * (ci/test's tsan stage) checks for races. Each stress test is bounded by
 * a round count and a time budget.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/loop.h"
#include "net_test_util.h"
#include "loop_test_util.h"
#include "core/sys.h"

/* How long the hook holds a caller inside the call. */
#define HOLD_MS 100u
/* Stress: at most this many rounds, and no more than this much time. */
#define STRESS_ROUNDS 2000u
#define STRESS_SERVER_ROUNDS 200u
#define STRESS_BUDGET_MS 3000u

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the hook: hold one thread inside its wake-up write ----------------- */

static pthread_t held_thread;
static atomic_bool hold_armed;
static atomic_bool freed;            /* set by the main thread once free returned */
static atomic_int frees_during_call; /* free returned while a caller was held */
static atomic_int held_calls;
static bool hold_before_write; /* sleep before the real write (else after) */

static ssize_t holding_fd_write(int fd, const void *buf, size_t n)
{
    bool hold = atomic_load(&hold_armed) && pthread_equal(pthread_self(), held_thread);
    if (hold) {
        atomic_fetch_add(&held_calls, 1);
        if (hold_before_write) {
            sleep_ms(HOLD_MS);
        }
    }
    ssize_t r = write(fd, buf, n);
    if (hold) {
        if (!hold_before_write) {
            sleep_ms(HOLD_MS);
        }
        /* Still inside the call: the loop must not be gone. */
        if (atomic_load(&freed)) {
            atomic_fetch_add(&frees_during_call, 1);
        }
    }
    return r;
}

/* A call made on a thread that arms the hook for itself first. */
typedef struct held_call {
    void *(*fn)(void *);
    void *arg;
} held_call;

static void *held_entry(void *arg)
{
    held_call *c = arg;
    held_thread = pthread_self();
    atomic_store(&hold_armed, true);
    return c->fn(c->arg);
}

static void hook_install(bool before_write)
{
    atomic_store(&hold_armed, false);
    atomic_store(&freed, false);
    atomic_store(&frees_during_call, 0);
    atomic_store(&held_calls, 0);
    hold_before_write = before_write;
    keel_sys.fd_write = holding_fd_write;
}

/* ---- a loop kept busy until a call from another thread ends it ---------- */

typedef struct busy_loop {
    keel_loop *loop;
    keel_timer_id tick;
    keel_timer_id watchdog;
    bool watchdog_fired;
} busy_loop;

/* Cancel id if it is still live (OK), or find it gone (NOT_FOUND). */
static void timer_end(keel_loop *loop, keel_timer_id id)
{
    keel_result r = keel_timer_cancel(loop, id);
    assert_true(r == KEEL_OK || r == KEEL_ERR_NOT_FOUND);
}

static void busy_tick(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    (void)user;
}

static void busy_watchdog(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    busy_loop *b = user;
    b->watchdog_fired = true;
    timer_end(loop, b->tick);
}

/* tick_ms 0: no tick (the loop sleeps in epoll_wait until woken). */
static void busy_start(busy_loop *b, uint64_t tick_ms)
{
    memset(b, 0, sizeof *b);
    b->loop = lt_loop();
    if (tick_ms > 0) {
        assert_int_equal(keel_timer_start(b->loop, tick_ms, tick_ms, busy_tick, b, &b->tick),
                         KEEL_OK);
    }
    assert_int_equal(keel_timer_start(b->loop, LT_DEADLINE_MS, 0, busy_watchdog, b, &b->watchdog),
                     KEEL_OK);
}

/* The posted task: everything that kept the loop running goes, so run()
 * returns by itself right after it. */
static void end_task(keel_loop *loop, void *arg)
{
    busy_loop *b = arg;
    timer_end(loop, b->tick);
    timer_end(loop, b->watchdog);
}

static void *post_end_task(void *arg)
{
    busy_loop *b = arg;
    assert_int_equal(keel_loop_post(b->loop, end_task, b), KEEL_OK);
    return NULL;
}

static void *stop_loop(void *arg)
{
    keel_loop_stop(((busy_loop *)arg)->loop);
    return NULL;
}

/* Run b's loop while `call` runs on another thread, free the loop as soon
 * as run returns, then join. */
static void run_free_join(busy_loop *b, void *(*call)(void *))
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, call, b), 0);
    assert_int_equal(keel_loop_run(b->loop), KEEL_OK);
    assert_false(b->watchdog_fired);
    timer_end(b->loop, b->tick);
    timer_end(b->loop, b->watchdog);
    keel_loop_free(b->loop);
    atomic_store(&freed, true);
    assert_int_equal(pthread_join(th, NULL), 0);
}

/* Two descriptors opened right after the free take the lowest free
 * numbers, those the loop just closed: a late wake-up write by the held
 * caller would land in one of them. */
static void assert_no_stray_write(int a, int b)
{
    uint64_t v = 0;
    assert_int_equal(read(a, &v, sizeof v), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(read(b, &v, sizeof v), -1);
    assert_int_equal(errno, EAGAIN);
}

/* ---- deterministic: a caller held inside the call ------------------------ */

static void held_call_then_free(void *(*call)(void *), bool before_write)
{
    hook_install(before_write);
    /* A 1 ms tick keeps the loop iterating, so it sees the posted task or
     * the stop flag without waiting for the held wake-up. */
    busy_loop b;
    busy_start(&b, 1);
    held_call c = { call, &b };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, held_entry, &c), 0);
    assert_int_equal(keel_loop_run(b.loop), KEEL_OK);
    assert_false(b.watchdog_fired);
    timer_end(b.loop, b.tick);
    timer_end(b.loop, b.watchdog);
    keel_loop_free(b.loop);
    atomic_store(&freed, true);
    int e1 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int e2 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(e1 >= 0 && e2 >= 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    atomic_store(&hold_armed, false);
    keel_sys_reset();
    assert_int_equal(atomic_load(&held_calls), 1);
    assert_int_equal(atomic_load(&frees_during_call), 0);
    assert_no_stray_write(e1, e2);
    close(e1);
    close(e2);
}

static void free_waits_for_a_post_still_waking_the_loop(void **state)
{
    (void)state;
    held_call_then_free(post_end_task, true);
    held_call_then_free(post_end_task, false);
}

static void free_waits_for_a_stop_still_waking_the_loop(void **state)
{
    (void)state;
    held_call_then_free(stop_loop, true);
    held_call_then_free(stop_loop, false);
}

/* ---- server: shutdown from another thread against free ------------------- */

static size_t drop_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)s;
    (void)r;
    (void)user;
    return data.len;
}

static const keel_stream_handlers drop_handlers = { .on_read = drop_read };

static keel_server *start_server(unsigned threads)
{
    keel_server_opts o = { .ip = KEEL_STR("127.0.0.1"),
                           .threads = threads,
                           .handlers = &drop_handlers };
    keel_server *srv = NULL;
    assert_int_equal(keel_server_start(&o, &srv), KEEL_OK);
    return srv;
}

static void *shutdown_server(void *arg)
{
    keel_server_shutdown(arg, 0);
    return NULL;
}

/* The shutting-down thread is held after each wake-up write (its loops
 * may end meanwhile): keel_server_free must not finish before the
 * shutdown call has returned. */
static void server_free_waits_for_a_shutdown_still_posting(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        hook_install(false);
        keel_server *srv = start_server(2);
        held_call c = { shutdown_server, srv };
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, held_entry, &c), 0);
        /* Returns once both loops ran the shutdown the thread posted. */
        keel_result r = keel_server_wait(srv);
        keel_server_free(srv);
        atomic_store(&freed, true);
        assert_int_equal(pthread_join(th, NULL), 0);
        atomic_store(&hold_armed, false);
        keel_sys_reset();
        assert_int_equal(r, KEEL_OK);
        assert_true(atomic_load(&held_calls) >= 1);
        assert_int_equal(atomic_load(&frees_during_call), 0);
    }
}

/* ---- free and wait from one of the server's own threads ------------------ */

static keel_server *handler_srv;
static atomic_int handler_wait_result = -1;

/* Answers "ok" to every line; on "free\n" it first tries to free and to
 * wait for its own server, which must both be refused. */
static size_t free_from_handler_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r != KEEL_OK) {
        return 0;
    }
    if (data.len < 5) {
        return 0;
    }
    if (memcmp(data.ptr, "free\n", 5) == 0) {
        keel_server_free(handler_srv);
        atomic_store(&handler_wait_result, (int)keel_server_wait(handler_srv));
    }
    assert_int_equal(keel_stream_write(s, KEEL_STR("ok\n")), KEEL_OK);
    return 5;
}

static const keel_stream_handlers free_from_handler_handlers = { .on_read =
                                                                     free_from_handler_read };

static void ask(uint16_t port, keel_slice line)
{
    keel_net *c = nt_new();
    assert_int_equal(
        keel_net_connect(c, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, NT_IO_TIMEOUT_MS),
        KEEL_OK);
    assert_int_equal(keel_net_send_all(c, line, NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    uint8_t buf[3];
    keel_buf b = nt_buf(buf, sizeof buf);
    assert_int_equal(keel_net_recv_exact(c, &b, sizeof buf, NT_IO_TIMEOUT_MS), KEEL_OK);
    assert_memory_equal(buf, "ok\n", 3);
    keel_net_free(c);
}

static void free_and_wait_from_a_handler_are_refused_and_the_server_serves_on(void **state)
{
    (void)state;
    keel_server_opts o = { .ip = KEEL_STR("127.0.0.1"),
                           .threads = 1,
                           .handlers = &free_from_handler_handlers };
    assert_int_equal(keel_server_start(&o, &handler_srv), KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_server_port(handler_srv, &port), KEEL_OK);
    ask(port, KEEL_STR("free\n"));
    assert_int_equal(atomic_load(&handler_wait_result), KEEL_ERR_STATE);
    /* Still serving: the refused free did not shut it down. */
    ask(port, KEEL_STR("more\n"));
    keel_server_shutdown(handler_srv, 0);
    assert_int_equal(keel_server_wait(handler_srv), KEEL_OK);
    keel_server_free(handler_srv);
}

/* ---- stress under natural scheduling (races for TSan) -------------------- */

static void stress_rounds(void *(*call)(void *), uint64_t tick_ms)
{
    uint64_t end = nt_now_ms() + STRESS_BUDGET_MS;
    unsigned rounds = 0;
    while (rounds < STRESS_ROUNDS && nt_now_ms() < end) {
        busy_loop b;
        busy_start(&b, tick_ms);
        run_free_join(&b, call);
        rounds++;
    }
    print_message("%u rounds\n", rounds);
    assert_true(rounds > 0);
}

/* The poster gives up its CPU just before its wake-up write, as a
 * preempted thread would: the loop, woken by its tick, may run the task
 * and be freed in that gap. */
static ssize_t yielding_fd_write(int fd, const void *buf, size_t n)
{
    (void)sched_yield();
    return write(fd, buf, n);
}

static void post_then_free_from_the_loop_thread_races_nothing(void **state)
{
    (void)state;
    keel_sys.fd_write = yielding_fd_write;
    stress_rounds(post_end_task, 1);
    keel_sys_reset();
}

static void stop_then_free_from_the_loop_thread_races_nothing(void **state)
{
    (void)state;
    stress_rounds(stop_loop, 1);
}

static void shutdown_then_free_races_nothing(void **state)
{
    (void)state;
    uint64_t end = nt_now_ms() + STRESS_BUDGET_MS;
    unsigned rounds = 0;
    while (rounds < STRESS_SERVER_ROUNDS && nt_now_ms() < end) {
        keel_server *srv = start_server(2);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, shutdown_server, srv), 0);
        assert_int_equal(keel_server_wait(srv), KEEL_OK);
        keel_server_free(srv);
        assert_int_equal(pthread_join(th, NULL), 0);
        rounds++;
    }
    print_message("%u rounds\n", rounds);
    assert_true(rounds > 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(free_waits_for_a_post_still_waking_the_loop),
        cmocka_unit_test(free_waits_for_a_stop_still_waking_the_loop),
        cmocka_unit_test(server_free_waits_for_a_shutdown_still_posting),
        cmocka_unit_test(free_and_wait_from_a_handler_are_refused_and_the_server_serves_on),
        cmocka_unit_test(post_then_free_from_the_loop_thread_races_nothing),
        cmocka_unit_test(stop_then_free_from_the_loop_thread_races_nothing),
        cmocka_unit_test(shutdown_then_free_races_nothing),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

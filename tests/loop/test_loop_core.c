/*
 * tests/loop/test_loop_core.c - the loop API of src/loop/loop.c, io.c, udp.c:
 * run/stop/post (across threads), timers through the loop, signals, io
 * watchers on a TCP pair, UDP on the loop, and failures injected through
 * the keel_sys seam. Loopback only, bounded: each test arms a watchdog
 * timer that stops the loop and fails the test if it runs too long.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/loop.h"
#include "net_test_util.h"
#include "core/sys.h"

/* Generous: the VM has two loaded cores. */
#define WATCHDOG_MS 20000u

static keel_loop *new_loop(void)
{
    keel_loop *loop = NULL;
    assert_int_equal(keel_loop_new(&loop), KEEL_OK);
    assert_non_null(loop);
    return loop;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool watchdog_fired;
static void watchdog_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    (void)user;
    watchdog_fired = true;
    keel_loop_stop(loop);
}

static keel_timer_id watchdog(keel_loop *loop)
{
    keel_timer_id id;
    watchdog_fired = false;
    assert_int_equal(keel_timer_start(loop, WATCHDOG_MS, 0, watchdog_cb, NULL, &id), KEEL_OK);
    return id;
}

static void disarm(keel_loop *loop, keel_timer_id id)
{
    assert_false(watchdog_fired);
    assert_int_equal(keel_timer_cancel(loop, id), KEEL_OK);
}

/* ---- run / stop / post ------------------------------------------------- */

static void run_returns_at_once_when_nothing_is_left(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(keel_loop_run_once(loop, 0), KEEL_OK);
    assert_true(nt_now_ms() - t0 < 5000u);
    keel_loop_free(loop);
    keel_loop_free(NULL);
}

static void null_arguments_are_rejected(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id id;
    assert_int_equal(keel_loop_new(NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_run(NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_run_once(NULL, 0), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_post(NULL, NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_post(loop, NULL, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_timer_start(NULL, 1, 0, watchdog_cb, NULL, &id), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_timer_start(loop, 1, 0, NULL, NULL, &id), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_timer_cancel(NULL, id), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_timer_cancel(loop, (keel_timer_id){ 0 }), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_timer_cancel(loop, (keel_timer_id){ UINT64_MAX }), KEEL_ERR_NOT_FOUND);
    keel_loop_stop(NULL);
    assert_int_equal(keel_loop_now_ms(NULL), 0);
    keel_loop_free(loop);
}

typedef struct stopper {
    keel_loop *loop;
    unsigned delay_ms;
} stopper;

static void *stop_later(void *arg)
{
    stopper *s = arg;
    sleep_ms(s->delay_ms);
    keel_loop_stop(s->loop);
    return NULL;
}

static unsigned ticks;
static void tick_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    (void)user;
    ticks++;
}

static void stop_from_another_thread_ends_run(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    keel_timer_id tick;
    ticks = 0;
    /* A repeating timer keeps the loop alive until the stop. */
    assert_int_equal(keel_timer_start(loop, 5, 5, tick_cb, NULL, &tick), KEEL_OK);
    stopper s = { loop, 100 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_later, &s), 0);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_false(watchdog_fired);
    assert_true(ticks >= 1);
    /* The stop was consumed: the loop runs again, until the next stop. */
    s.delay_ms = 20;
    assert_int_equal(pthread_create(&th, NULL, stop_later, &s), 0);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    disarm(loop, wd);
    assert_int_equal(keel_timer_cancel(loop, tick), KEEL_OK);
    keel_loop_free(loop);
}

#define POST_THREADS 4
#define POSTS_PER_THREAD 10000

typedef struct post_state {
    keel_loop *loop;
    unsigned next[POST_THREADS]; /* next index expected from each thread */
    unsigned total;
    unsigned out_of_order;
    keel_timer_id keepalive;
} post_state;

static post_state posts;

static void posted_task(keel_loop *loop, void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    unsigned t = (unsigned)(v >> 20), k = (unsigned)(v & 0xfffffu);
    assert_ptr_equal(loop, posts.loop);
    if (t >= POST_THREADS || posts.next[t] != k) {
        posts.out_of_order++;
    } else {
        posts.next[t]++;
    }
    if (++posts.total == POST_THREADS * POSTS_PER_THREAD) {
        /* Everything arrived: let run() end by itself. */
        assert_int_equal(keel_timer_cancel(loop, posts.keepalive), KEEL_OK);
    }
}

static void *poster(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    for (uintptr_t k = 0; k < POSTS_PER_THREAD; k++) {
        assert_int_equal(keel_loop_post(posts.loop, posted_task, (void *)(t << 20 | k)), KEEL_OK);
    }
    return NULL;
}

static void posts_from_four_threads_run_once_each_in_fifo_order(void **state)
{
    (void)state;
    memset(&posts, 0, sizeof posts);
    posts.loop = new_loop();
    assert_int_equal(keel_timer_start(posts.loop, WATCHDOG_MS, 0, watchdog_cb, NULL,
                                      &posts.keepalive),
                     KEEL_OK);
    watchdog_fired = false;
    pthread_t th[POST_THREADS];
    for (uintptr_t t = 0; t < POST_THREADS; t++) {
        assert_int_equal(pthread_create(&th[t], NULL, poster, (void *)t), 0);
    }
    assert_int_equal(keel_loop_run(posts.loop), KEEL_OK);
    for (int t = 0; t < POST_THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
    }
    assert_false(watchdog_fired);
    assert_int_equal(posts.out_of_order, 0);
    assert_int_equal(posts.total, POST_THREADS * POSTS_PER_THREAD);
    for (int t = 0; t < POST_THREADS; t++) {
        assert_int_equal(posts.next[t], POSTS_PER_THREAD);
    }
    keel_loop_free(posts.loop);
}

static void count_task(keel_loop *loop, void *arg)
{
    (void)loop;
    (*(unsigned *)arg)++;
}

static void posted_task_keeps_run_going_and_pending_tasks_are_dropped_on_free(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    unsigned n = 0;
    assert_int_equal(keel_loop_post(loop, count_task, &n), KEEL_OK);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(n, 1);
    /* Never run: freed with the loop (valgrind/ASan see no leak). */
    assert_int_equal(keel_loop_post(loop, count_task, &n), KEEL_OK);
    keel_loop_free(loop);
    assert_int_equal(n, 1);
}

static keel_result nested_result;
static keel_result other_thread_result;

static void *run_elsewhere(void *arg)
{
    other_thread_result = keel_loop_run(arg);
    return NULL;
}

static void nested_run_task(keel_loop *loop, void *arg)
{
    (void)arg;
    nested_result = keel_loop_run_once(loop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_elsewhere, loop), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

static void run_inside_a_callback_or_from_another_thread_is_a_state_error(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    nested_result = KEEL_OK;
    other_thread_result = KEEL_OK;
    assert_int_equal(keel_loop_post(loop, nested_run_task, NULL), KEEL_OK);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(nested_result, KEEL_ERR_STATE);
    assert_int_equal(other_thread_result, KEEL_ERR_STATE);
    keel_loop_free(loop);
}

static void *no_alloc(size_t n)
{
    (void)n;
    errno = ENOMEM;
    return NULL;
}

static void post_without_memory_is_no_memory(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    unsigned n = 0;
    keel_sys.alloc_zeroed = no_alloc;
    assert_int_equal(keel_loop_post(loop, count_task, &n), KEEL_ERR_NO_MEMORY);
    keel_timer_id id;
    assert_int_equal(keel_timer_start(loop, 1, 0, tick_cb, NULL, &id), KEEL_ERR_NO_MEMORY);
    keel_sys_reset();
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(n, 0);
    keel_loop_free(loop);
}

/* ---- timers ---------------------------------------------------------------- */

#define MAX_FIRED 16
typedef struct fired_log {
    int order[MAX_FIRED];
    uint64_t at[MAX_FIRED];
    unsigned n;
} fired_log;

static fired_log fired;
static uint64_t timers_t0;
static const uint64_t delay_of[] = { 30, 10, 20, 0, 10 };

static void record_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    if (fired.n < MAX_FIRED) {
        fired.order[fired.n] = (int)(intptr_t)user;
        fired.at[fired.n] = keel_loop_now_ms(loop);
        fired.n++;
    }
    /* One-shot: released before the call, so its own id is stale. */
    assert_int_equal(keel_timer_cancel(loop, id), KEEL_ERR_NOT_FOUND);
}

static void timers_fire_in_deadline_then_start_order_and_never_early(void **state)
{
    (void)state;
    /* wall0 before the loop's clock is read (the loop caches it): the
     * deadlines count from timers_t0 >= wall0, so 30 ms must pass after
     * wall0 (both clocks are CLOCK_MONOTONIC in whole milliseconds). */
    uint64_t wall0 = nt_now_ms();
    keel_loop *loop = new_loop();
    memset(&fired, 0, sizeof fired);
    timers_t0 = keel_loop_now_ms(loop);
    for (intptr_t k = 0; k < 5; k++) {
        keel_timer_id id;
        assert_int_equal(keel_timer_start(loop, delay_of[k], 0, record_cb, (void *)k, &id),
                         KEEL_OK);
        assert_int_not_equal(id.v, 0);
    }
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(fired.n, 5);
    const int want[] = { 3, 1, 4, 2, 0 };
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(fired.order[i], want[i]);
        assert_true(fired.at[i] >= timers_t0 + delay_of[want[i]]);
    }
    /* Generous upper bound: only "it did not hang". */
    uint64_t took = nt_now_ms() - wall0;
    assert_true(took >= 30u);
    assert_true(took < 10000u);
    keel_loop_free(loop);
}

typedef struct cancel_case {
    keel_timer_id self;
    keel_timer_id victim;
    unsigned self_calls;
    unsigned victim_calls;
    keel_result self_cancel;
    keel_result victim_cancel;
} cancel_case;

static void victim_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    ((cancel_case *)user)->victim_calls++;
}

static void canceller_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    cancel_case *c = user;
    c->self_calls++;
    assert_int_equal(id.v, c->self.v);
    c->victim_cancel = keel_timer_cancel(loop, c->victim);
    c->self_cancel = keel_timer_cancel(loop, id);
}

static void repeating_timer_cancelled_in_its_callback_stops_and_so_does_its_victim(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    cancel_case c = { 0 };
    /* Same deadline, started later: the victim would fire right after. */
    assert_int_equal(keel_timer_start(loop, 5, 5, canceller_cb, &c, &c.self), KEEL_OK);
    assert_int_equal(keel_timer_start(loop, 5, 0, victim_cb, &c, &c.victim), KEEL_OK);
    assert_int_equal(keel_loop_run(loop), KEEL_OK); /* ends: nothing left */
    assert_int_equal(c.self_calls, 1);
    assert_int_equal(c.victim_calls, 0);
    assert_int_equal(c.self_cancel, KEEL_OK);
    assert_int_equal(c.victim_cancel, KEEL_OK);
    assert_int_equal(keel_timer_cancel(loop, c.self), KEEL_ERR_NOT_FOUND);
    assert_int_equal(keel_timer_cancel(loop, c.victim), KEEL_ERR_NOT_FOUND);
    keel_loop_free(loop);
}

typedef struct repeat_case {
    unsigned calls;
    unsigned limit;
    uint64_t t0;
    bool early;
} repeat_case;

static void repeat_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    repeat_case *r = user;
    /* Call k (from 0) is due at t0 + 10 k at the earliest. */
    if (keel_loop_now_ms(loop) < r->t0 + 10u * r->calls) {
        r->early = true;
    }
    if (++r->calls == r->limit) {
        assert_int_equal(keel_timer_cancel(loop, id), KEEL_OK);
    }
}

static void repeating_timer_fires_every_period_until_cancelled(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    repeat_case r = { 0, 5, keel_loop_now_ms(loop), false };
    keel_timer_id id;
    assert_int_equal(keel_timer_start(loop, 0, 10, repeat_cb, &r, &id), KEEL_OK);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(r.calls, 5);
    assert_false(r.early);
    keel_loop_free(loop);
}

static unsigned restarts;
static void restart_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    restarts++;
    if (restarts < 100) {
        keel_timer_id next;
        assert_int_equal(keel_timer_start(loop, 0, 0, restart_cb, user, &next), KEEL_OK);
    }
}

static void zero_delay_timer_started_from_a_timer_fires_next_iteration(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    restarts = 0;
    keel_timer_id id;
    assert_int_equal(keel_timer_start(loop, 0, 0, restart_cb, NULL, &id), KEEL_OK);
    for (unsigned i = 1; i <= 100; i++) {
        assert_int_equal(keel_loop_run_once(loop, 0), KEEL_OK);
        assert_int_equal(restarts, i);
    }
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(restarts, 100);
    keel_loop_free(loop);
}

#define MANY_TIMERS 10000
static unsigned many_fired;
static uint64_t many_last_deadline;
static bool many_out_of_order;
static uint64_t many_t0;

static void many_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)id;
    uint64_t deadline = many_t0 + (uint64_t)(uintptr_t)user;
    if (deadline < many_last_deadline || keel_loop_now_ms(loop) < deadline) {
        many_out_of_order = true;
    }
    many_last_deadline = deadline;
    many_fired++;
}

static void ten_thousand_timers_all_fire_once_in_order(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    many_fired = 0;
    many_last_deadline = 0;
    many_out_of_order = false;
    many_t0 = keel_loop_now_ms(loop);
    srand(7);
    keel_timer_id cancelled[100];
    for (unsigned i = 0; i < MANY_TIMERS; i++) {
        uintptr_t d = (uintptr_t)(rand() % 50);
        keel_timer_id id;
        assert_int_equal(keel_timer_start(loop, d, 0, many_cb, (void *)d, &id), KEEL_OK);
        if (i % 100 == 0) {
            cancelled[i / 100] = id;
        }
    }
    for (unsigned i = 0; i < 100; i++) {
        assert_int_equal(keel_timer_cancel(loop, cancelled[i]), KEEL_OK);
    }
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(many_fired, MANY_TIMERS - 100);
    assert_false(many_out_of_order);
    keel_loop_free(loop);
}

/* Deadlines saturate at "never" (kloop_add_saturating, shared with the
 * streams' timeouts): a repeat of UINT64_MAX fires once, a delay of
 * UINT64_MAX not at all, and neither wraps around to fire early. */
static void timer_deadlines_saturate_instead_of_wrapping(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    ticks = 0;
    keel_timer_id once, never;
    assert_int_equal(keel_timer_start(loop, 0, UINT64_MAX, tick_cb, NULL, &once), KEEL_OK);
    assert_int_equal(keel_timer_start(loop, UINT64_MAX, UINT64_MAX, tick_cb, NULL, &never),
                     KEEL_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(keel_loop_run_once(loop, 5), KEEL_OK);
    }
    assert_int_equal(ticks, 1);
    assert_int_equal(keel_timer_cancel(loop, once), KEEL_OK); /* re-armed for never */
    assert_int_equal(keel_timer_cancel(loop, never), KEEL_OK);
    keel_loop_free(loop);
}

/* ---- signals ------------------------------------------------------------- */

static int got_signo;
static keel_result got_signal_r = KEEL_ERR_OS;
static void signal_cb(keel_loop *loop, keel_result r, int signo, void *user)
{
    got_signo = signo;
    got_signal_r = r;
    (*(unsigned *)user)++;
    /* Stop watching, so that run() can end. */
    assert_int_equal(keel_loop_signal(loop, signo, NULL, NULL), KEEL_OK);
}

static void raised_signal_is_delivered_on_the_loop(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    unsigned calls = 0;
    assert_int_equal(keel_loop_signal(loop, SIGUSR1, signal_cb, &calls), KEEL_OK);
    /* A second call replaces the callback. */
    unsigned first = 0;
    assert_int_equal(keel_loop_signal(loop, SIGUSR2, signal_cb, &first), KEEL_OK);
    assert_int_equal(keel_loop_signal(loop, SIGUSR2, signal_cb, &calls), KEEL_OK);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(raise(SIGUSR1), 0);
    while (calls < 2 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    disarm(loop, wd);
    assert_int_equal(calls, 2);
    assert_int_equal(first, 0);
    assert_int_equal(got_signal_r, KEEL_OK);
    assert_true(got_signo == SIGUSR1 || got_signo == SIGUSR2);
    /* Both watchers removed: nothing keeps the loop alive. */
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* Removing the callback gives the signal back to the process: it stays
 * blocked and pending (the loop's signalfd no longer takes it), and a new
 * callback receives it. */
static void signal_with_its_callback_removed_stays_pending(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    unsigned calls = 0;
    assert_int_equal(keel_loop_signal(loop, SIGUSR1, signal_cb, &calls), KEEL_OK);
    assert_int_equal(keel_loop_signal(loop, SIGUSR1, NULL, NULL), KEEL_OK);
    assert_int_equal(raise(SIGUSR1), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(keel_loop_run_once(loop, 10), KEEL_OK);
    }
    sigset_t pending;
    assert_int_equal(sigpending(&pending), 0);
    assert_int_equal(sigismember(&pending, SIGUSR1), 1);
    assert_int_equal(calls, 0);
    /* Watched again: the pending signal is delivered. */
    assert_int_equal(keel_loop_signal(loop, SIGUSR1, signal_cb, &calls), KEEL_OK);
    while (calls < 1 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    disarm(loop, wd);
    assert_int_equal(calls, 1);
    assert_int_equal(sigpending(&pending), 0);
    assert_int_equal(sigismember(&pending, SIGUSR1), 0);
    keel_loop_free(loop);
}

static void invalid_signals_are_rejected(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    unsigned calls = 0;
    assert_int_equal(keel_loop_signal(NULL, SIGUSR1, signal_cb, &calls), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_signal(loop, 0, signal_cb, &calls), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_signal(loop, -1, signal_cb, &calls), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_signal(loop, 65, signal_cb, &calls), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_signal(loop, SIGKILL, signal_cb, &calls), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_signal(loop, SIGSTOP, signal_cb, &calls), KEEL_ERR_INVALID_ARG);
    /* Removing a watcher that was never set is fine. */
    assert_int_equal(keel_loop_signal(loop, SIGUSR1, NULL, NULL), KEEL_OK);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* ---- io watchers --------------------------------------------------------- */

typedef struct io_case {
    keel_loop *loop;
    keel_io *io;
    keel_io *other;
    unsigned calls;
    unsigned events;
    keel_result r;
    bool stop_self;
    bool stop_other;
    bool pause_other; /* keel_io_update(other, 0) */
} io_case;

static void io_cb(keel_io *io, keel_result r, unsigned events, void *user)
{
    io_case *c = user;
    assert_ptr_equal(io, c->io);
    c->calls++;
    c->r = r;
    c->events = events;
    if (c->stop_other && c->other != NULL) {
        keel_io_stop(c->other);
        c->other = NULL;
    }
    if (c->pause_other && c->other != NULL) {
        assert_int_equal(keel_io_update(c->other, 0), KEEL_OK);
        c->other = NULL;
    }
    if (c->stop_self) {
        keel_io_stop(io);
        keel_io_stop(io); /* twice in the same callback: harmless */
    }
}

static void io_watcher_reports_read_and_write_readiness(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    keel_net *client, *server;
    nt_tcp_pair(KEEL_AF_INET4, &client, &server);

    io_case w = { .loop = loop };
    assert_int_equal(keel_io_start(loop, client, KEEL_IO_WRITE, io_cb, &w, &w.io), KEEL_OK);
    assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.r, KEEL_OK);
    assert_int_equal(w.events, KEEL_IO_WRITE);
    /* No interest: not called, even though the socket stays writable. */
    assert_int_equal(keel_io_update(w.io, 0), KEEL_OK);
    assert_int_equal(keel_loop_run_once(loop, 0), KEEL_OK);
    assert_int_equal(w.calls, 1);

    io_case rd = { .loop = loop, .stop_self = true };
    assert_int_equal(keel_io_start(loop, server, KEEL_IO_READ, io_cb, &rd, &rd.io), KEEL_OK);
    assert_int_equal(keel_loop_run_once(loop, 0), KEEL_OK);
    assert_int_equal(rd.calls, 0); /* nothing to read yet */
    size_t sent = 0;
    assert_int_equal(keel_net_send(client, KEEL_STR("x"), &sent), KEEL_OK);
    while (rd.calls == 0 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    assert_int_equal(rd.calls, 1);
    assert_int_equal(rd.r, KEEL_OK);
    assert_int_equal(rd.events, KEEL_IO_READ);
    /* Stopped inside its callback: never called again, though the byte is
     * still unread (level-triggered). */
    assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    assert_int_equal(rd.calls, 1);
    /* The socket is still the caller's. */
    uint8_t b[4];
    keel_buf into = nt_buf(b, sizeof b);
    assert_int_equal(keel_net_recv(server, &into, NULL), KEEL_OK);
    assert_int_equal(into.len, 1);

    assert_int_equal(keel_io_update(w.io, KEEL_IO_READ | KEEL_IO_WRITE), KEEL_OK);
    assert_int_equal(keel_io_update(w.io, 4u), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_io_update(NULL, 0), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    assert_int_equal(w.calls, 2);
    assert_int_equal(w.events, KEEL_IO_WRITE);
    keel_io_stop(w.io);
    disarm(loop, wd);
    assert_int_equal(keel_loop_run(loop), KEEL_OK); /* nothing left */
    keel_loop_free(loop);
    keel_net_free(client);
    keel_net_free(server);
}

static void io_start_rejects_bad_arguments_and_closed_sockets(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_net *closed = nt_new();
    io_case c = { .loop = loop };
    keel_io *io = NULL;
    assert_int_equal(keel_io_start(NULL, closed, KEEL_IO_READ, io_cb, &c, &io), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_io_start(loop, NULL, KEEL_IO_READ, io_cb, &c, &io), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_io_start(loop, closed, KEEL_IO_READ, NULL, &c, &io), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_io_start(loop, closed, 8u, io_cb, &c, &io), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_io_start(loop, closed, KEEL_IO_READ, io_cb, &c, &io), KEEL_ERR_STATE);
    assert_null(io);
    keel_io_stop(NULL);
    keel_net_free(closed);
    keel_loop_free(loop);
}

static void io_watcher_sees_eof_as_read_and_reset_as_error(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    keel_net *client, *server;
    nt_tcp_pair(KEEL_AF_INET4, &client, &server);

    io_case c = { .loop = loop };
    assert_int_equal(keel_io_start(loop, server, KEEL_IO_READ, io_cb, &c, &c.io), KEEL_OK);
    assert_int_equal(keel_net_shutdown(client, KEEL_SHUT_WR), KEEL_OK);
    while (c.calls == 0 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    assert_int_equal(c.r, KEEL_OK);
    assert_int_equal(c.events, KEEL_IO_READ);
    uint8_t b[4];
    keel_buf into = nt_buf(b, sizeof b);
    assert_int_equal(keel_net_recv(server, &into, NULL), KEEL_ERR_CLOSED);
    keel_io_stop(c.io);
    keel_net_free(client);
    keel_net_free(server);

    /* An abortive close (SO_LINGER 0) resets the connection. */
    nt_tcp_pair(KEEL_AF_INET4, &client, &server);
    c = (io_case){ .loop = loop, .stop_self = true };
    assert_int_equal(keel_io_start(loop, server, KEEL_IO_READ, io_cb, &c, &c.io), KEEL_OK);
    int fd;
    assert_int_equal(keel_net_fd(client, &fd), KEEL_OK);
    struct linger lg = { 1, 0 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    keel_net_close(client);
    while (c.calls == 0 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.r, KEEL_ERR_RESET);
    assert_int_equal(c.events, 0);
    disarm(loop, wd);
    keel_loop_free(loop);
    keel_net_free(client);
    keel_net_free(server);
}

/* Two loopback pairs whose server ends are watched for reads by a and b;
 * each callback acts on the other watcher (stop or pause, as proto says). */
typedef struct watched_pairs {
    keel_net *c1, *s1, *c2, *s2;
    io_case a, b;
} watched_pairs;

static void watched_pairs_start(keel_loop *loop, watched_pairs *w, io_case proto)
{
    nt_tcp_pair(KEEL_AF_INET4, &w->c1, &w->s1);
    nt_tcp_pair(KEEL_AF_INET4, &w->c2, &w->s2);
    proto.loop = loop;
    w->a = proto;
    w->b = proto;
    assert_int_equal(keel_io_start(loop, w->s1, KEEL_IO_READ, io_cb, &w->a, &w->a.io), KEEL_OK);
    assert_int_equal(keel_io_start(loop, w->s2, KEEL_IO_READ, io_cb, &w->b, &w->b.io), KEEL_OK);
    w->a.other = w->b.io;
    w->b.other = w->a.io;
}

/* Wait until both are readable, so that one batch carries both events. */
static void watched_pairs_wait_readable(watched_pairs *w)
{
    unsigned ready = 0;
    assert_int_equal(keel_net_poll(w->s1, KEEL_POLL_READ, NT_IO_TIMEOUT_MS, &ready), KEEL_OK);
    assert_int_equal(keel_net_poll(w->s2, KEEL_POLL_READ, NT_IO_TIMEOUT_MS, &ready), KEEL_OK);
}

static void watched_pairs_free(watched_pairs *w)
{
    keel_net_free(w->c1);
    keel_net_free(w->s1);
    keel_net_free(w->c2);
    keel_net_free(w->s2);
}

static void watch_removed_during_a_batch_is_not_called_for_its_pending_event(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    watched_pairs w;
    watched_pairs_start(loop, &w, (io_case){ .stop_other = true });
    size_t sent;
    assert_int_equal(keel_net_send(w.c1, KEEL_STR("1"), &sent), KEEL_OK);
    assert_int_equal(keel_net_send(w.c2, KEEL_STR("2"), &sent), KEEL_OK);
    /* Whichever runs first stops the other. */
    watched_pairs_wait_readable(&w);
    assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    assert_int_equal(w.a.calls + w.b.calls, 1);
    /* The survivor is still watched (level-triggered: called again). */
    assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    assert_int_equal(w.a.calls + w.b.calls, 2);
    assert_true(w.a.calls == 2 || w.b.calls == 2);
    disarm(loop, wd);
    /* keel_loop_free stops the survivor. */
    keel_loop_free(loop);
    watched_pairs_free(&w);
}

/* The same with a watch paused (interest 0) rather than stopped, on
 * sockets that hung up (both directions shut: EPOLLIN | EPOLLHUP): its
 * event already fetched in the batch must not reach it either (it would
 * read as a hang-up, KEEL_ERR_CLOSED, for a watcher that asked for
 * nothing). Resumed, it sees its socket as it is. */
static void watch_paused_during_a_batch_is_not_called_for_its_pending_event(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    watched_pairs w;
    watched_pairs_start(loop, &w, (io_case){ .pause_other = true });
    keel_net *shut[] = { w.c1, w.s1, w.c2, w.s2 };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(keel_net_shutdown(shut[i], KEEL_SHUT_WR), KEEL_OK);
    }
    watched_pairs_wait_readable(&w);
    assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    assert_int_equal(w.a.calls + w.b.calls, 1);
    io_case *paused = w.a.calls == 0 ? &w.a : &w.b;
    io_case *survivor = w.a.calls == 0 ? &w.b : &w.a;
    assert_int_equal(survivor->r, KEEL_OK);
    assert_int_equal(survivor->events, KEEL_IO_READ);
    /* Paused: not woken by its level-triggered hang-up either. */
    assert_int_equal(keel_io_update(survivor->io, 0), KEEL_OK);
    assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    assert_int_equal(paused->calls, 0);
    assert_int_equal(keel_io_update(paused->io, KEEL_IO_READ), KEEL_OK);
    assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    assert_int_equal(paused->calls, 1);
    assert_int_equal(paused->r, KEEL_OK);
    assert_int_equal(paused->events, KEEL_IO_READ);
    disarm(loop, wd);
    keel_loop_free(loop);
    watched_pairs_free(&w);
}

/* A watcher whose socket is closed behind its back (the kernel drops the
 * registration with the socket), then the number is reused by a socket
 * that another watcher registers: updating or stopping the stale watcher
 * must not touch the new owner's registration (an EPOLL_CTL_DEL or MOD
 * by number would remove it, or route its events to the stale one). */
static void stale_watcher_leaves_a_reused_descriptor_alone(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    keel_net *c1, *s1;
    nt_tcp_pair(KEEL_AF_INET4, &c1, &s1);
    io_case stale = { .loop = loop };
    assert_int_equal(keel_io_start(loop, s1, KEEL_IO_READ, io_cb, &stale, &stale.io), KEEL_OK);
    int old_fd = -1;
    assert_int_equal(keel_net_fd(s1, &old_fd), KEEL_OK);
    keel_net_free(s1); /* closed while watched */
    keel_net *c2, *s2;
    nt_tcp_pair(KEEL_AF_INET4, &c2, &s2);
    int new_fd = -1;
    keel_net *reuser = NULL;
    assert_int_equal(keel_net_fd(c2, &new_fd), KEEL_OK);
    reuser = c2;
    if (new_fd != old_fd) {
        assert_int_equal(keel_net_fd(s2, &new_fd), KEEL_OK);
        reuser = s2;
    }
    assert_int_equal(new_fd, old_fd); /* the lowest free number */
    keel_net *sender = reuser == c2 ? s2 : c2;
    io_case owner = { .loop = loop };
    assert_int_equal(keel_io_start(loop, reuser, KEEL_IO_READ, io_cb, &owner, &owner.io),
                     KEEL_OK);
    assert_int_equal(keel_io_update(stale.io, KEEL_IO_READ | KEEL_IO_WRITE), KEEL_ERR_STATE);
    keel_io_stop(stale.io);
    size_t sent;
    assert_int_equal(keel_net_send(sender, KEEL_STR("x"), &sent), KEEL_OK);
    while (owner.calls == 0 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 100), KEEL_OK);
    }
    disarm(loop, wd);
    assert_int_equal(owner.calls, 1);
    assert_int_equal(owner.events, KEEL_IO_READ);
    assert_int_equal(stale.calls, 0);
    keel_loop_free(loop);
    keel_net_free(c1);
    keel_net_free(c2);
    keel_net_free(s2);
}

/* ---- UDP ------------------------------------------------------------------- */

typedef struct udp_case {
    keel_loop *loop;
    keel_udp *u;
    unsigned calls;
    keel_result r;
    uint8_t data[64];
    size_t len;
    keel_addr from;
    bool echo;
    bool close_after;
} udp_case;

static void udp_cb(keel_udp *u, keel_result r, keel_slice data, const keel_addr *from, void *user)
{
    udp_case *c = user;
    assert_ptr_equal(u, c->u);
    c->calls++;
    c->r = r;
    c->len = data.len;
    keel_buf b = nt_buf(c->data, sizeof c->data);
    assert_int_equal(keel_buf_append(&b, data), KEEL_OK);
    assert_non_null(from);
    c->from = *from;
    if (c->echo) {
        assert_int_equal(keel_udp_send(u, data, from), KEEL_OK);
    }
    if (c->close_after) {
        keel_udp_close(u);
    }
}

static keel_udp *udp_on_loop(keel_loop *loop, size_t max, udp_case *c, uint16_t *port)
{
    keel_net *sock = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, port);
    c->loop = loop;
    assert_int_equal(keel_udp_start(loop, sock, max, udp_cb, c, &c->u), KEEL_OK);
    keel_addr local;
    assert_int_equal(keel_udp_local_addr(c->u, &local), KEEL_OK);
    assert_int_equal(local.port, *port);
    return c->u;
}

static void udp_echo_on_the_loop(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    udp_case srv = { .echo = true }, cli = { .close_after = true };
    uint16_t sport, cport;
    udp_on_loop(loop, 1500, &srv, &sport);
    udp_on_loop(loop, 1500, &cli, &cport);
    keel_addr to;
    assert_int_equal(keel_addr_loopback(KEEL_AF_INET4, sport, &to), KEEL_OK);
    assert_int_equal(keel_udp_send(cli.u, KEEL_STR("hello"), &to), KEEL_OK);
    while (cli.calls == 0 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    assert_int_equal(srv.calls, 1);
    assert_int_equal(srv.r, KEEL_OK);
    assert_int_equal(srv.from.port, cport);
    assert_int_equal(cli.calls, 1);
    assert_int_equal(cli.r, KEEL_OK);
    assert_int_equal(cli.len, 5);
    assert_memory_equal(cli.data, "hello", 5);
    assert_int_equal(cli.from.port, sport);
    keel_udp_close(srv.u);
    keel_udp_close(srv.u); /* idempotent until released */
    disarm(loop, wd);
    assert_int_equal(keel_loop_run(loop), KEEL_OK); /* both closed: ends */
    keel_loop_free(loop);
}

static void udp_datagram_after_a_truncated_one_arrives_whole(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    udp_case srv = { 0 };
    uint16_t sport;
    udp_on_loop(loop, 8, &srv, &sport);
    keel_net *cli = nt_new();
    assert_int_equal(keel_net_connect(cli, KEEL_STR("127.0.0.1"), sport, KEEL_PROTO_UDP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    size_t sent;
    assert_int_equal(keel_net_send(cli, KEEL_STR("0123456789abcdefghij"), &sent), KEEL_OK);
    assert_int_equal(keel_net_send(cli, KEEL_STR("12345678"), &sent), KEEL_OK);
    while (srv.calls < 2 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    assert_int_equal(srv.calls, 2);
    assert_int_equal(srv.r, KEEL_OK); /* exactly max_datagram: whole */
    assert_int_equal(srv.len, 8);
    assert_memory_equal(srv.data, "12345678", 8);
    disarm(loop, wd);
    keel_loop_free(loop); /* closes the handle */
    keel_net_free(cli);
}

static keel_result first_r;
static size_t first_len;
static uint8_t first_data[8];
static void first_cb(keel_udp *u, keel_result r, keel_slice data, const keel_addr *from,
                     void *user)
{
    (void)u;
    (void)from;
    if ((*(unsigned *)user)++ == 0) {
        first_r = r;
        first_len = data.len;
        keel_buf b = nt_buf(first_data, sizeof first_data);
        assert_int_equal(keel_buf_append(&b, data), KEEL_OK);
    }
}

static void udp_truncation_result_carries_the_first_bytes(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    uint16_t port;
    keel_net *sock = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    unsigned calls = 0;
    keel_udp *u;
    assert_int_equal(keel_udp_start(loop, sock, 8, first_cb, &calls, &u), KEEL_OK);
    keel_net *cli = nt_new();
    assert_int_equal(keel_net_connect(cli, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_UDP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    size_t sent;
    assert_int_equal(keel_net_send(cli, KEEL_STR("0123456789abcdefghij"), &sent), KEEL_OK);
    while (calls == 0 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    assert_int_equal(first_r, KEEL_ERR_TRUNCATED);
    assert_int_equal(first_len, 8);
    assert_memory_equal(first_data, "01234567", 8);
    disarm(loop, wd);
    keel_udp_close(u);
    keel_loop_free(loop);
    keel_net_free(cli);
}

/* The kernel tells the real size of a datagram (recvfrom with MSG_TRUNC):
 * the handle reports it during the callback, also when only the first
 * max_datagram bytes were delivered. */
typedef struct sized_case {
    unsigned calls;
    keel_result r[3];
    size_t len[3];
    size_t size[3];
} sized_case;

static void sized_cb(keel_udp *u, keel_result r, keel_slice data, const keel_addr *from,
                     void *user)
{
    (void)from;
    sized_case *c = user;
    if (c->calls < 3) {
        c->r[c->calls] = r;
        c->len[c->calls] = data.len;
        c->size[c->calls] = keel_udp_datagram_size(u);
    }
    c->calls++;
}

static void udp_truncated_datagram_reports_its_real_size(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id wd = watchdog(loop);
    uint16_t port;
    keel_net *sock = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    sized_case c = { 0 };
    keel_udp *u;
    assert_int_equal(keel_udp_start(loop, sock, 8, sized_cb, &c, &u), KEEL_OK);
    keel_net *cli = nt_new();
    assert_int_equal(keel_net_connect(cli, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_UDP,
                                      NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    static uint8_t big[65507]; /* the largest UDP datagram over IPv4 */
    nt_fill(big, sizeof big, 0);
    size_t sent;
    assert_int_equal(keel_net_send(cli, KEEL_STR("0123456789abcdefghij"), &sent), KEEL_OK);
    assert_int_equal(keel_net_send(cli, KEEL_STR("12345678"), &sent), KEEL_OK);
    assert_int_equal(keel_net_send(cli, nt_slice(big, sizeof big), &sent), KEEL_OK);
    while (c.calls < 3 && !watchdog_fired) {
        assert_int_equal(keel_loop_run_once(loop, 1000), KEEL_OK);
    }
    disarm(loop, wd);
    assert_int_equal(c.calls, 3);
    assert_int_equal(c.r[0], KEEL_ERR_TRUNCATED);
    assert_int_equal(c.len[0], 8);
    assert_int_equal(c.size[0], 20);
    assert_int_equal(c.r[1], KEEL_OK);
    assert_int_equal(c.len[1], 8);
    assert_int_equal(c.size[1], 8);
    assert_int_equal(c.r[2], KEEL_ERR_TRUNCATED);
    assert_int_equal(c.len[2], 8);
    assert_int_equal(c.size[2], sizeof big);
    /* Outside a datagram callback there is none. */
    assert_int_equal(keel_udp_datagram_size(u), 0);
    assert_int_equal(keel_udp_datagram_size(NULL), 0);
    keel_udp_close(u);
    keel_loop_free(loop);
    keel_net_free(cli);
}

static ssize_t sendto_errno_value;
static ssize_t failing_sendto(int fd, const void *buf, size_t len, int flags,
                              const struct sockaddr *sa, socklen_t salen)
{
    (void)fd;
    (void)buf;
    (void)len;
    (void)flags;
    (void)sa;
    (void)salen;
    errno = (int)sendto_errno_value;
    return -1;
}

static void udp_send_maps_full_buffer_and_oversize(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    udp_case srv = { 0 };
    uint16_t sport;
    udp_on_loop(loop, 1500, &srv, &sport);
    keel_addr to;
    assert_int_equal(keel_addr_loopback(KEEL_AF_INET4, sport, &to), KEEL_OK);
    /* Larger than any IPv4 datagram: the kernel says EMSGSIZE. */
    static uint8_t huge[70000];
    assert_int_equal(keel_udp_send(srv.u, nt_slice(huge, sizeof huge), &to), KEEL_ERR_TOO_LARGE);
    keel_sys.sendto = failing_sendto;
    sendto_errno_value = EAGAIN;
    assert_int_equal(keel_udp_send(srv.u, KEEL_STR("x"), &to), KEEL_ERR_WOULD_BLOCK);
    sendto_errno_value = EMSGSIZE;
    assert_int_equal(keel_udp_send(srv.u, KEEL_STR("x"), &to), KEEL_ERR_TOO_LARGE);
    keel_sys_reset();
    assert_int_equal(keel_udp_send(srv.u, KEEL_STR("x"), NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_udp_send(NULL, KEEL_STR("x"), &to), KEEL_ERR_INVALID_ARG);
    keel_addr a;
    assert_int_equal(keel_udp_local_addr(NULL, &a), KEEL_ERR_INVALID_ARG);
    keel_loop_free(loop);
}

static void udp_start_rejects_bad_arguments(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    uint16_t port;
    keel_net *sock = nt_listen(KEEL_AF_INET4, KEEL_PROTO_UDP, &port);
    keel_net *tcp = nt_listen(KEEL_AF_INET4, KEEL_PROTO_TCP, &port);
    keel_udp *u = NULL;
    unsigned calls = 0;
    assert_int_equal(keel_udp_start(loop, sock, 0, first_cb, &calls, &u), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_udp_start(loop, sock, 70000, first_cb, &calls, &u), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_udp_start(loop, sock, 8, NULL, &calls, &u), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_udp_start(NULL, sock, 8, first_cb, &calls, &u), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_udp_start(loop, tcp, 8, first_cb, &calls, &u), KEEL_ERR_STATE);
    /* A client from a UDP accept holds its first datagram, which the
     * handle (reading the socket only) would never deliver. */
    keel_net *peer = nt_new();
    assert_int_equal(keel_net_connect(peer, KEEL_STR("127.0.0.1"), nt_local_port(sock),
                                      KEEL_PROTO_UDP, NT_IO_TIMEOUT_MS),
                     KEEL_OK);
    size_t sent = 0;
    assert_int_equal(keel_net_send(peer, KEEL_STR("held"), &sent), KEEL_OK);
    keel_net *client = nt_new();
    assert_int_equal(keel_net_accept(sock, client, NULL), KEEL_OK);
    assert_int_equal(keel_net_pending(client), 1);
    assert_int_equal(keel_udp_start(loop, client, 8, first_cb, &calls, &u), KEEL_ERR_STATE);
    uint8_t st[8];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv(client, &b, NULL), KEEL_OK);
    assert_int_equal(keel_udp_start(loop, client, 8, first_cb, &calls, &u), KEEL_OK);
    keel_udp_close(u);
    u = NULL;
    keel_net_free(peer);
    keel_net_free(sock);
    keel_net_free(tcp);
    keel_udp_close(NULL);
    keel_loop_free(loop);
}

/* ---- the seam: failures and EINTR ------------------------------------------ */

static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
static unsigned eintr_left;
static int eintr_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms)
{
    if (eintr_left > 0) {
        eintr_left--;
        errno = EINTR;
        return -1;
    }
    return real_epoll_wait(epfd, evs, max, timeout_ms);
}

static void epoll_wait_eintr_is_retried_transparently(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    memset(&fired, 0, sizeof fired);
    keel_timer_id id;
    assert_int_equal(keel_timer_start(loop, 20, 0, record_cb, (void *)7, &id), KEEL_OK);
    real_epoll_wait = keel_sys.epoll_wait;
    keel_sys.epoll_wait = eintr_epoll_wait;
    eintr_left = 5;
    keel_result r = keel_loop_run(loop);
    keel_sys_reset();
    assert_int_equal(r, KEEL_OK);
    assert_int_equal(eintr_left, 0);
    assert_int_equal(fired.n, 1);
    assert_int_equal(fired.order[0], 7);
    keel_loop_free(loop);
}

static int ebadf_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms)
{
    (void)epfd;
    (void)evs;
    (void)max;
    (void)timeout_ms;
    errno = EBADF;
    return -1;
}

static void epoll_wait_failure_is_returned_by_run(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    keel_timer_id id;
    assert_int_equal(keel_timer_start(loop, 20, 0, tick_cb, NULL, &id), KEEL_OK);
    keel_sys.epoll_wait = ebadf_epoll_wait;
    keel_result r = keel_loop_run(loop);
    keel_result r1 = keel_loop_run_once(loop, 0);
    keel_sys_reset();
    assert_int_equal(r, KEEL_ERR_STATE);
    assert_int_equal(r1, KEEL_ERR_STATE);
    /* The loop is usable again. */
    ticks = 0;
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    assert_int_equal(ticks, 1);
    keel_loop_free(loop);
}

static int fail_emfile_int(int flags)
{
    (void)flags;
    errno = EMFILE;
    return -1;
}
static int fail_eventfd(unsigned int initval, int flags)
{
    (void)initval;
    (void)flags;
    errno = ENFILE;
    return -1;
}

static void loop_new_failures_leak_nothing(void **state)
{
    (void)state;
    int fds = nt_count_fds();
    keel_loop *loop = NULL;
    keel_sys.alloc_zeroed = no_alloc;
    assert_int_equal(keel_loop_new(&loop), KEEL_ERR_NO_MEMORY);
    keel_sys_reset();
    keel_sys.epoll_create1 = fail_emfile_int;
    assert_int_equal(keel_loop_new(&loop), KEEL_ERR_NO_MEMORY);
    keel_sys_reset();
    keel_sys.eventfd = fail_eventfd;
    assert_int_equal(keel_loop_new(&loop), KEEL_ERR_NO_MEMORY);
    keel_sys_reset();
    assert_null(loop);
    assert_int_equal(nt_count_fds(), fds);
    loop = new_loop();
    keel_loop_free(loop);
    assert_int_equal(nt_count_fds(), fds);
}

static int fail_signalfd(int fd, const sigset_t *mask, int flags)
{
    (void)fd;
    (void)mask;
    (void)flags;
    errno = ENOMEM;
    return -1;
}

static void signalfd_failure_is_reported_and_leaves_the_loop_idle(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    unsigned calls = 0;
    keel_sys.signalfd = fail_signalfd;
    assert_int_equal(keel_loop_signal(loop, SIGUSR1, signal_cb, &calls), KEEL_ERR_NO_MEMORY);
    keel_sys_reset();
    assert_int_equal(keel_loop_run(loop), KEEL_OK); /* no watcher keeps it alive */
    keel_loop_free(loop);
}

/* Registering the signalfd fails, and close then reports EINTR after
 * releasing the descriptor (as Linux may): it is closed exactly once, never
 * retried (a retry could close a descriptor another thread just got). */
static int signalfd_made = -1;
static unsigned closes_of_signalfd;

static int recording_signalfd(int fd, const sigset_t *mask, int flags)
{
    int r = signalfd(fd, mask, flags);
    signalfd_made = r;
    return r;
}

static int enomem_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    (void)epfd;
    (void)op;
    (void)fd;
    (void)ev;
    errno = ENOMEM;
    return -1;
}

static int eintr_close(int fd)
{
    if (fd == signalfd_made) {
        closes_of_signalfd++;
    }
    int r = close(fd);
    if (r == 0 && fd == signalfd_made) {
        errno = EINTR; /* released, yet reported as interrupted */
        return -1;
    }
    return r;
}

static void signalfd_closed_once_when_registering_it_fails(void **state)
{
    (void)state;
    keel_loop *loop = new_loop();
    unsigned calls = 0;
    closes_of_signalfd = 0;
    signalfd_made = -1;
    keel_sys.signalfd = recording_signalfd;
    keel_sys.epoll_ctl = enomem_epoll_ctl;
    keel_sys.close = eintr_close;
    keel_result r = keel_loop_signal(loop, SIGUSR1, signal_cb, &calls);
    keel_sys_reset();
    assert_int_equal(r, KEEL_ERR_NO_MEMORY);
    assert_true(signalfd_made >= 0);
    assert_int_equal(closes_of_signalfd, 1);
    assert_int_equal(keel_loop_run(loop), KEEL_OK); /* no watcher keeps it alive */
    keel_loop_free(loop);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_returns_at_once_when_nothing_is_left),
        cmocka_unit_test(null_arguments_are_rejected),
        cmocka_unit_test(stop_from_another_thread_ends_run),
        cmocka_unit_test(posts_from_four_threads_run_once_each_in_fifo_order),
        cmocka_unit_test(posted_task_keeps_run_going_and_pending_tasks_are_dropped_on_free),
        cmocka_unit_test(run_inside_a_callback_or_from_another_thread_is_a_state_error),
        cmocka_unit_test(post_without_memory_is_no_memory),
        cmocka_unit_test(timers_fire_in_deadline_then_start_order_and_never_early),
        cmocka_unit_test(repeating_timer_cancelled_in_its_callback_stops_and_so_does_its_victim),
        cmocka_unit_test(repeating_timer_fires_every_period_until_cancelled),
        cmocka_unit_test(zero_delay_timer_started_from_a_timer_fires_next_iteration),
        cmocka_unit_test(ten_thousand_timers_all_fire_once_in_order),
        cmocka_unit_test(timer_deadlines_saturate_instead_of_wrapping),
        cmocka_unit_test(raised_signal_is_delivered_on_the_loop),
        cmocka_unit_test(signal_with_its_callback_removed_stays_pending),
        cmocka_unit_test(invalid_signals_are_rejected),
        cmocka_unit_test(io_watcher_reports_read_and_write_readiness),
        cmocka_unit_test(io_start_rejects_bad_arguments_and_closed_sockets),
        cmocka_unit_test(io_watcher_sees_eof_as_read_and_reset_as_error),
        cmocka_unit_test(watch_removed_during_a_batch_is_not_called_for_its_pending_event),
        cmocka_unit_test(watch_paused_during_a_batch_is_not_called_for_its_pending_event),
        cmocka_unit_test(stale_watcher_leaves_a_reused_descriptor_alone),
        cmocka_unit_test(udp_echo_on_the_loop),
        cmocka_unit_test(udp_datagram_after_a_truncated_one_arrives_whole),
        cmocka_unit_test(udp_truncation_result_carries_the_first_bytes),
        cmocka_unit_test(udp_truncated_datagram_reports_its_real_size),
        cmocka_unit_test(udp_send_maps_full_buffer_and_oversize),
        cmocka_unit_test(udp_start_rejects_bad_arguments),
        cmocka_unit_test(epoll_wait_eintr_is_retried_transparently),
        cmocka_unit_test(epoll_wait_failure_is_returned_by_run),
        cmocka_unit_test(loop_new_failures_leak_nothing),
        cmocka_unit_test(signalfd_failure_is_reported_and_leaves_the_loop_idle),
        cmocka_unit_test(signalfd_closed_once_when_registering_it_fails),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

/*
 * src/loop/loop.c - the event loop core: epoll (level-triggered), the timer
 * heap, the deferred queue, cross-thread posting and stopping through an
 * eventfd, signals through a signalfd.
 *
 * One iteration: read the clock; wait in epoll_wait (not at all when a
 * timer is due or deferred calls/posted tasks are pending, else until the
 * next timer or the caller's bound); read the clock; dispatch the batch;
 * run the due timers; run the posted tasks; each phase is followed by the
 * deferred queue.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include "loop/loop_internal.h"
#include "net/net_internal.h"
#include "loop/timer.h"

#define KLOOP_BATCH 256
/* Signals a signalfd can carry: 1 .. KLOOP_NSIG - 1. */
#define KLOOP_NSIG 65

typedef struct kloop_task {
    struct kloop_task *next;
    keel_task_fn fn;
    void *arg;
} kloop_task;

typedef struct kloop_signal {
    keel_signal_cb cb;
    void *user;
} kloop_signal;

struct keel_loop {
    int epfd;
    kloop_watch wake; /* eventfd: keel_loop_post / keel_loop_stop from any thread */
    kloop_watch sig;  /* signalfd, fd -1 until the first keel_loop_signal */
    sigset_t sigset;
    kloop_signal signals[KLOOP_NSIG];
    unsigned nsignals; /* signals with a callback: each keeps run() going */

    ktimer_heap timers;
    uint64_t now;

    kloop_handle handles; /* sentinel of the circular handle list */

    kloop_deferred *defer_head;
    kloop_deferred *defer_tail;

    /* The batch being dispatched: kloop_del clears the entries of a
     * watch it removes, so no stale event reaches it. */
    struct epoll_event batch[KLOOP_BATCH];
    int batch_next;
    int batch_len;

    uint8_t *scratch;

    atomic_bool running;
    atomic_bool stop_req;

    pthread_mutex_t mu; /* guards the task queue */
    kloop_task *task_head;
    kloop_task *task_tail;
};

#define KLOOP_OF(ptr, member) ((keel_loop *)(void *)((char *)(ptr) - offsetof(keel_loop, member)))

/* ---- watches ------------------------------------------------------------ */

static KEEL_MUST_USE keel_result loop_errno_result(int err)
{
    return knet_errno_result(err, false);
}

keel_result kloop_add(keel_loop *loop, kloop_watch *w, int fd, uint32_t events)
{
    if (loop == NULL || w == NULL || fd < 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    w->fd = fd;
    w->events = 0;
    keel_result r = kloop_mod(loop, w, events);
    if (r != KEEL_OK) {
        w->fd = -1;
    }
    return r;
}

/* Events already fetched in the batch being dispatched, for w, that w no
 * longer asks for are dropped (all of them when it asks for nothing), so
 * that no stale event reaches a watch that was paused or removed by a
 * callback earlier in the same batch. */
static void loop_batch_filter(keel_loop *loop, const kloop_watch *w, uint32_t events)
{
    /* epoll reports errors and hang-ups to any registered watch. */
    uint32_t keep = events == 0 ? 0 : events | EPOLLERR | EPOLLHUP;
    for (int i = loop->batch_next; i < loop->batch_len; i++) {
        if (loop->batch[i].data.ptr == w) {
            loop->batch[i].events &= keep;
            if (loop->batch[i].events == 0) {
                loop->batch[i].data.ptr = NULL;
            }
        }
    }
}

keel_result kloop_mod(keel_loop *loop, kloop_watch *w, uint32_t events)
{
    if (loop == NULL || w == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (w->fd < 0) {
        return KEEL_ERR_STATE;
    }
    if (events == w->events) {
        return KEEL_OK;
    }
    /* Interest 0 takes the descriptor out of the epoll set, so that a
     * paused watch is not woken over and over by a level-triggered hang-up. */
    int op = w->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    struct epoll_event ev = { .events = events, .data = { .ptr = w } };
    if (ksys_epoll_ctl(loop->epfd, op, w->fd, &ev) != 0) {
        return loop_errno_result(errno);
    }
    if ((w->events & ~events) != 0) {
        loop_batch_filter(loop, w, events);
    }
    w->events = events;
    return KEEL_OK;
}

void kloop_del(keel_loop *loop, kloop_watch *w)
{
    if (loop == NULL || w == NULL) {
        return;
    }
    if (w->fd >= 0 && w->events != 0) {
        struct epoll_event ev = { 0 };
        /* Fails only if the descriptor was closed already, which removed it. */
        if (ksys_epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, &ev) != 0) {
            w->events = 0;
        }
    }
    w->fd = -1;
    w->events = 0;
    loop_batch_filter(loop, w, 0);
}

void kloop_close_fd(int fd)
{
    if (fd >= 0) {
        /* Never retried: Linux releases the descriptor even when close
         * reports EINTR, and a retry could close a descriptor another
         * thread has just been given. */
        (void)ksys_close(fd);
    }
}

void kloop_forget(keel_loop *loop, kloop_watch *w)
{
    if (w == NULL) {
        return;
    }
    w->events = 0; /* so kloop_del leaves epoll alone */
    kloop_del(loop, w);
}

/* ---- deferred calls, handles, scratch, clock ---------------------------- */

void kloop_defer(keel_loop *loop, kloop_deferred *d)
{
    if (loop == NULL || d == NULL || d->queued) {
        return;
    }
    d->queued = true;
    d->next = NULL;
    if (loop->defer_tail != NULL) {
        loop->defer_tail->next = d;
    } else {
        loop->defer_head = d;
    }
    loop->defer_tail = d;
}

/* Run the deferred queue until it is empty, including calls deferred by
 * the calls it runs. */
static void loop_run_deferred(keel_loop *loop)
{
    while (loop->defer_head != NULL) {
        kloop_deferred *d = loop->defer_head;
        loop->defer_head = d->next;
        if (loop->defer_head == NULL) {
            loop->defer_tail = NULL;
        }
        d->next = NULL;
        d->queued = false;
        d->fn(d);
    }
}

void kloop_handle_link(keel_loop *loop, kloop_handle *h)
{
    kloop_handle *head = &loop->handles;
    h->prev = head->prev;
    h->next = head;
    head->prev->next = h;
    head->prev = h;
}

void kloop_handle_unlink(keel_loop *loop, kloop_handle *h)
{
    (void)loop;
    if (h->next == NULL) {
        return; /* not linked */
    }
    h->prev->next = h->next;
    h->next->prev = h->prev;
    h->prev = NULL;
    h->next = NULL;
}

keel_buf kloop_scratch(keel_loop *loop)
{
    return (keel_buf){ .ptr = loop->scratch, .cap = KLOOP_SCRATCH_CAP, .len = 0 };
}

uint64_t kloop_now(const keel_loop *loop)
{
    return loop->now;
}

uint64_t kloop_add_saturating(uint64_t t, uint64_t ms)
{
    return t > UINT64_MAX - ms ? UINT64_MAX : t + ms;
}

uint64_t keel_loop_now_ms(const keel_loop *loop)
{
    return loop == NULL ? 0 : loop->now;
}

/* ---- posting and stopping ------------------------------------------------ *
 *
 * keel_loop_post and keel_loop_stop run on other threads, and the loop may
 * finish (and its owner free it) as soon as it has seen their effect: the
 * task queued, the stop flag set. So each of them does all of its work,
 * the wake-up write included, inside one critical section of loop->mu,
 * and keel_loop_free takes loop->mu before it closes the eventfd and
 * releases the loop: a call whose effect the loop has seen has finished
 * with the loop once free gets the lock (the unlock itself may still touch
 * the mutex word, which POSIX allows to be destroyed once it is unlocked). */

/* Make epoll_wait return; loop->mu held. An eventfd counter cannot
 * overflow here (it saturates after 2^64 - 2 writes), and EAGAIN would
 * mean it is already readable: either way the loop wakes. */
static void loop_wake_up_locked(keel_loop *loop)
{
    uint64_t one = 1;
    while (ksys_fd_write(loop->wake.fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

static void loop_wake_drain(kloop_watch *w, uint32_t events)
{
    (void)events;
    uint64_t n;
    while (ksys_fd_read(w->fd, &n, sizeof n) < 0 && errno == EINTR) {
    }
}

void keel_loop_stop(keel_loop *loop)
{
    if (loop == NULL) {
        return;
    }
    pthread_mutex_lock(&loop->mu);
    atomic_store(&loop->stop_req, true);
    loop_wake_up_locked(loop);
    pthread_mutex_unlock(&loop->mu);
}

keel_result keel_loop_post(keel_loop *loop, keel_task_fn fn, void *arg)
{
    if (loop == NULL || fn == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    kloop_task *t = ksys_alloc_zeroed(sizeof *t);
    if (t == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    t->fn = fn;
    t->arg = arg;
    pthread_mutex_lock(&loop->mu);
    bool was_empty = loop->task_head == NULL;
    if (was_empty) {
        loop->task_head = t;
    } else {
        loop->task_tail->next = t;
    }
    loop->task_tail = t;
    /* The loop takes the whole queue at once: only the first task of a
     * batch needs to wake it. */
    if (was_empty) {
        loop_wake_up_locked(loop);
    }
    pthread_mutex_unlock(&loop->mu);
    return KEEL_OK;
}

static kloop_task *loop_take_tasks(keel_loop *loop)
{
    pthread_mutex_lock(&loop->mu);
    kloop_task *t = loop->task_head;
    loop->task_head = NULL;
    loop->task_tail = NULL;
    pthread_mutex_unlock(&loop->mu);
    return t;
}

static bool loop_tasks_pending(keel_loop *loop)
{
    pthread_mutex_lock(&loop->mu);
    bool pending = loop->task_head != NULL;
    pthread_mutex_unlock(&loop->mu);
    return pending;
}

/* Tasks posted while these run wait for the next iteration. */
static void loop_run_tasks(keel_loop *loop)
{
    kloop_task *t = loop_take_tasks(loop);
    while (t != NULL) {
        kloop_task *next = t->next;
        keel_task_fn fn = t->fn;
        void *arg = t->arg;
        ksys_release(t);
        fn(loop, arg);
        t = next;
    }
}

/* ---- timers --------------------------------------------------------------- */

keel_result keel_timer_start(keel_loop *loop, uint64_t delay_ms, uint64_t repeat_ms,
                             keel_timer_cb cb, void *user, keel_timer_id *out)
{
    if (loop == NULL || cb == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(ktimer_reserve(&loop->timers));
    uint64_t deadline = kloop_add_saturating(loop->now, delay_ms);
    uint64_t id = ktimer_insert(&loop->timers, deadline, repeat_ms, cb, user);
    if (out != NULL) {
        out->v = id;
    }
    return KEEL_OK;
}

keel_result keel_timer_cancel(keel_loop *loop, keel_timer_id id)
{
    if (loop == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    uint32_t slot;
    KEEL_TRY(ktimer_lookup(&loop->timers, id.v, &slot));
    ktimer_remove(&loop->timers, slot);
    return KEEL_OK;
}

/* Fire every timer due now that was armed before this call: one started or
 * re-armed by a callback here waits for the next call, so a zero-delay
 * timer that restarts itself cannot starve I/O. */
static void loop_run_due_timers(keel_loop *loop)
{
    ktimer_heap *h = &loop->timers;
    uint64_t seq_mark = h->next_seq;
    uint32_t slot;
    while (ktimer_first(h, &slot) == KEEL_OK) {
        const ktimer_entry *e = &h->heap[0];
        if (e->deadline > loop->now || e->seq >= seq_mark) {
            return;
        }
        keel_timer_id id = { ktimer_id(h, slot) };
        keel_timer_cb cb = h->slots[slot].cb;
        void *user = h->slots[slot].user;
        uint64_t repeat = h->slots[slot].repeat;
        if (repeat > 0) {
            /* Re-armed before the call, so that cancelling from the
             * callback (id still live) stops it. */
            uint64_t next = kloop_add_saturating(e->deadline, repeat);
            ktimer_rearm(h, slot, next > loop->now ? next : loop->now);
        } else {
            /* Released before the call: the id is stale inside it. */
            ktimer_remove(h, slot);
        }
        cb(loop, id, user);
    }
}

/* Milliseconds epoll_wait may sleep: at most bound, 0 when work is ready. */
static int loop_wait_budget(keel_loop *loop, uint32_t bound)
{
    if (loop->defer_head != NULL || loop_tasks_pending(loop)) {
        return 0;
    }
    uint64_t ms = bound;
    uint32_t slot;
    if (ktimer_first(&loop->timers, &slot) == KEEL_OK) {
        uint64_t d = loop->timers.heap[0].deadline;
        uint64_t left = d > loop->now ? d - loop->now : 0;
        if (left < ms) {
            ms = left;
        }
    }
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---- signals -------------------------------------------------------------- */

static void loop_signals_deliver(kloop_watch *w, uint32_t events)
{
    (void)events;
    keel_loop *loop = KLOOP_OF(w, sig);
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = ksys_fd_read(w->fd, &si, sizeof si);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n != (ssize_t)sizeof si) {
            return; /* EAGAIN: drained */
        }
        if (si.ssi_signo > 0 && si.ssi_signo < KLOOP_NSIG) {
            kloop_signal *s = &loop->signals[si.ssi_signo];
            if (s->cb != NULL) {
                s->cb(loop, KEEL_OK, (int)si.ssi_signo, s->user);
            }
        }
    }
}

keel_result keel_loop_signal(keel_loop *loop, int signo, keel_signal_cb cb, void *user)
{
    if (loop == NULL || signo <= 0 || signo >= KLOOP_NSIG || signo == SIGKILL ||
        signo == SIGSTOP) {
        return KEEL_ERR_INVALID_ARG;
    }
    kloop_signal *s = &loop->signals[signo];
    if (cb == NULL) {
        /* Stop delivering: the signalfd stops taking signo (it would read
         * and drop it), so it stays blocked in the threads that blocked it,
         * and pending there. Nothing changes if the mask cannot be. */
        if (s->cb != NULL) {
            sigset_t set = loop->sigset;
            sigdelset(&set, signo);
            if (ksys_signalfd(loop->sig.fd, &set, SFD_NONBLOCK | SFD_CLOEXEC) < 0) {
                return loop_errno_result(errno);
            }
            loop->sigset = set;
            s->cb = NULL;
            s->user = NULL;
            loop->nsignals--;
        }
        return KEEL_OK;
    }
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (ksys_thread_sigmask(SIG_BLOCK, &one, NULL) != 0) {
        return KEEL_ERR_OS;
    }
    if (sigismember(&loop->sigset, signo) != 1) {
        sigset_t set = loop->sigset;
        sigaddset(&set, signo);
        int fd = ksys_signalfd(loop->sig.fd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0) {
            return loop_errno_result(errno);
        }
        if (loop->sig.fd < 0) {
            loop->sig.fn = loop_signals_deliver;
            keel_result r = kloop_add(loop, &loop->sig, fd, EPOLLIN);
            if (r != KEEL_OK) {
                kloop_close_fd(fd);
                return r;
            }
        }
        loop->sigset = set;
    }
    if (s->cb == NULL) {
        loop->nsignals++;
    }
    s->cb = cb;
    s->user = user;
    return KEEL_OK;
}

/* ---- lifetime --------------------------------------------------------------- */

keel_result keel_loop_new(keel_loop **out)
{
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_loop *loop = ksys_alloc_zeroed(sizeof *loop);
    if (loop == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    loop->epfd = -1;
    loop->wake.fd = -1;
    loop->sig.fd = -1;
    loop->handles.prev = &loop->handles;
    loop->handles.next = &loop->handles;
    sigemptyset(&loop->sigset);
    ktimer_init(&loop->timers);
    atomic_init(&loop->running, false);
    atomic_init(&loop->stop_req, false);
    keel_result r = KEEL_ERR_NO_MEMORY;
    if (pthread_mutex_init(&loop->mu, NULL) != 0) {
        ksys_release(loop);
        return r;
    }
    loop->scratch = ksys_alloc_zeroed(KLOOP_SCRATCH_CAP);
    if (loop->scratch == NULL) {
        goto fail;
    }
    loop->epfd = ksys_epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        r = loop_errno_result(errno);
        goto fail;
    }
    int efd = ksys_eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
        r = loop_errno_result(errno);
        goto fail;
    }
    loop->wake.fn = loop_wake_drain;
    r = kloop_add(loop, &loop->wake, efd, EPOLLIN);
    if (r != KEEL_OK) {
        kloop_close_fd(efd);
        goto fail;
    }
    loop->now = ksys_now_ms();
    *out = loop;
    return KEEL_OK;

fail:
    kloop_close_fd(loop->epfd);
    ksys_release(loop->scratch);
    pthread_mutex_destroy(&loop->mu);
    ksys_release(loop);
    return r;
}

void keel_loop_free(keel_loop *loop)
{
    if (loop == NULL || atomic_load(&loop->running)) {
        return;
    }
    /* close_now must unlink; unlinking here too keeps a faulty handle
     * from looping forever. */
    while (loop->handles.next != &loop->handles) {
        kloop_handle *h = loop->handles.next;
        h->close_now(h);
        if (loop->handles.next == h) {
            kloop_handle_unlink(loop, h);
        }
        loop_run_deferred(loop);
    }
    loop_run_deferred(loop);
    /* Takes loop->mu: a post or stop from another thread that the loop has
     * seen has left its critical section, wake-up write included, before
     * the eventfd is closed below. */
    kloop_task *t = loop_take_tasks(loop);
    while (t != NULL) {
        kloop_task *next = t->next;
        ksys_release(t);
        t = next;
    }
    ktimer_free(&loop->timers);
    kloop_close_fd(loop->sig.fd);
    kloop_close_fd(loop->wake.fd);
    kloop_close_fd(loop->epfd);
    ksys_release(loop->scratch);
    pthread_mutex_destroy(&loop->mu);
    ksys_release(loop);
}

/* ---- running ---------------------------------------------------------------- */

static bool loop_has_work(keel_loop *loop)
{
    return loop->handles.next != &loop->handles || loop->timers.count > 0 || loop->nsignals > 0 ||
           loop->defer_head != NULL || loop_tasks_pending(loop);
}

/* Wait for events within bound_ms, restarting after EINTR with what is
 * left of the budget. */
static KEEL_MUST_USE keel_result loop_wait_events(keel_loop *loop, uint32_t bound_ms, int *n)
{
    int budget = loop_wait_budget(loop, bound_ms);
    uint64_t start = ksys_now_ms();
    for (;;) {
        int got = ksys_epoll_wait(loop->epfd, loop->batch, KLOOP_BATCH, budget);
        if (got >= 0) {
            *n = got;
            return KEEL_OK;
        }
        if (errno != EINTR) {
            return loop_errno_result(errno);
        }
        uint64_t spent = ksys_now_ms() - start;
        budget = spent >= (uint64_t)budget ? 0 : budget - (int)spent;
    }
}

static void loop_dispatch_batch(keel_loop *loop, int n)
{
    loop->batch_len = n;
    for (loop->batch_next = 0; loop->batch_next < loop->batch_len;) {
        struct epoll_event *ev = &loop->batch[loop->batch_next++];
        kloop_watch *w = ev->data.ptr;
        if (w != NULL) {
            w->fn(w, ev->events);
        }
    }
    loop->batch_len = 0;
    loop->batch_next = 0;
}

static KEEL_MUST_USE keel_result loop_run_iteration(keel_loop *loop, uint32_t bound_ms)
{
    loop->now = ksys_now_ms();
    int n = 0;
    KEEL_TRY(loop_wait_events(loop, bound_ms, &n));
    loop->now = ksys_now_ms();
    loop_dispatch_batch(loop, n);
    loop_run_deferred(loop);
    loop_run_due_timers(loop);
    loop_run_deferred(loop);
    loop_run_tasks(loop);
    loop_run_deferred(loop);
    return KEEL_OK;
}

static bool loop_claim_running(keel_loop *loop)
{
    bool expected = false;
    return atomic_compare_exchange_strong(&loop->running, &expected, true);
}

keel_result keel_loop_run_once(keel_loop *loop, uint32_t timeout_ms)
{
    if (loop == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!loop_claim_running(loop)) {
        return KEEL_ERR_STATE;
    }
    keel_result r = loop_run_iteration(loop, timeout_ms);
    atomic_store(&loop->running, false);
    return r;
}

keel_result keel_loop_run(keel_loop *loop)
{
    if (loop == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!loop_claim_running(loop)) {
        return KEEL_ERR_STATE;
    }
    keel_result r = KEEL_OK;
    while (r == KEEL_OK && !atomic_exchange(&loop->stop_req, false) && loop_has_work(loop)) {
        r = loop_run_iteration(loop, UINT32_MAX);
    }
    atomic_store(&loop->running, false);
    return r;
}

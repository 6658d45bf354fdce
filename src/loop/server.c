/*
 * src/loop/server.c - listeners (keel_listener_*) and the multi-threaded
 * server (keel_server_*): one loop per thread, each with its own listening
 * socket bound with SO_REUSEPORT to the same address, so the kernel spreads
 * connections and no lock is shared on the accept path.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop/loop_internal.h"
#include "net/net_internal.h"

/* Connections taken per readiness, so that one busy listener cannot starve
 * the loop's streams (level-triggered epoll comes back for the rest). */
#define ACCEPT_BATCH 64
/* How long a listener rests after running out of descriptors or memory. */
#define ACCEPT_PAUSE_MS 100u
#define SERVER_MAX_CONNS 10000u
#define SERVER_GRACE_MS 5000u
#define SERVER_MAX_THREADS 256u

typedef struct kserver_loop kserver_loop;

struct keel_listener {
    kloop_watch watch;
    kloop_handle handle;
    kloop_deferred deferred; /* the free, after keel_listener_close */
    keel_loop *loop;
    const keel_stream_handlers *h;
    const keel_stream_opts *opts;
    keel_accept_cb on_accept;
    void *user;
    void *stream_user;   /* initial user pointer of accepted streams */
    kserver_loop *srv;   /* the server's listeners: limit and group */
    keel_timer_id pause; /* resumes accepting after a shortage */
    uint16_t port;
    bool closed;
};

struct kserver_loop {
    keel_server *srv;
    keel_loop *loop;
    keel_listener *l;
    kstream_group group;
    uint32_t grace_ms; /* written before the shutdown task is posted */
    bool stopping;
    bool thread_started;
    pthread_t thread;
    keel_result run_result;
};

struct keel_server {
    keel_server_opts opts;
    kserver_loop *loops;
    unsigned n;
    uint16_t port;
    atomic_size_t conns;
    /* Held by keel_server_shutdown while it posts to the loops, and taken
     * by keel_server_free before it frees them: a shutdown whose effect
     * the owner has seen (keel_server_wait returned) has let go of srv. */
    pthread_mutex_t mu;
    bool shut; /* guarded by mu */
    bool joined;
};

#define LISTENER_OF(ptr, member) \
    ((keel_listener *)(void *)((char *)(ptr) - offsetof(keel_listener, member)))
#define SLOOP_OF(ptr, member) \
    ((kserver_loop *)(void *)((char *)(ptr) - offsetof(kserver_loop, member)))

/* ---- listener ------------------------------------------------------------- */

static bool server_admit_conn(kserver_loop *sl);
static void server_release_conn(kserver_loop *sl);

static void server_listener_pause(keel_listener *l);

static void server_listener_resume(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    keel_listener *l = user;
    l->pause.v = 0;
    if (l->closed) {
        return;
    }
    keel_result r = kloop_mod(l->loop, &l->watch, EPOLLIN);
    if (r != KEEL_OK) {
        /* Rest again and retry, then tell (on_accept may close l). */
        server_listener_pause(l);
        l->on_accept(l, r, NULL, l->user);
    }
}

/* Stop asking for connections for a while: the pending ones wait in the
 * backlog until descriptors or memory are back, and a timer resumes.
 * While paused the socket stays in the epoll set asking for nothing
 * (EPOLLET: an error or a hang-up would still come, once), so that
 * resuming is an EPOLL_CTL_MOD, which allocates nothing. Without a timer
 * there is no pause: the socket stays armed and the next iteration of the
 * loop retries. */
static void server_listener_pause(keel_listener *l)
{
    if (l->pause.v != 0) {
        return; /* already resting: one timer at a time */
    }
    if (keel_timer_start(l->loop, ACCEPT_PAUSE_MS, 0, server_listener_resume, l, &l->pause) !=
        KEEL_OK) {
        return;
    }
    if (kloop_mod(l->loop, &l->watch, EPOLLET) != KEEL_OK) {
        /* Still armed (a MOD that cannot really fail): the timer's resume
         * is then a no-op. */
    }
}

/* Errors accept(2) reports for one pending connection that went wrong
 * (Linux passes the new socket's network errors on): take the next one. */
static bool server_accept_retryable(int err)
{
    switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EPERM: /* a firewall rule refused it */
        return true;
    default:
        return false;
    }
}

static void server_listener_accept_burst(kloop_watch *w, uint32_t events)
{
    (void)events;
    keel_listener *l = LISTENER_OF(w, watch);
    for (int i = 0; i < ACCEPT_BATCH && !l->closed; i++) {
        int fd = ksys_accept4(l->watch.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (server_accept_retryable(err)) {
                continue;
            }
            if (err == EAGAIN || err == EWOULDBLOCK) {
                return;
            }
            /* Out of descriptors (EMFILE/ENFILE) or memory, or a broken
             * socket: rest instead of spinning on a level-triggered event. */
            server_listener_pause(l);
            l->on_accept(l, knet_errno_result(err, false), NULL, l->user);
            return;
        }
        if (l->srv != NULL && !server_admit_conn(l->srv)) {
            kloop_close_fd(fd); /* over the connection limit */
            continue;
        }
        keel_stream *s = NULL;
        keel_result r = kstream_open(l->loop, fd, l->h, l->opts, l->stream_user,
                                     l->srv != NULL ? &l->srv->group : NULL, &s);
        if (r != KEEL_OK) {
            if (l->srv != NULL) {
                server_release_conn(l->srv);
            }
            server_listener_pause(l);
            l->on_accept(l, r, NULL, l->user);
            return;
        }
        l->on_accept(l, KEEL_OK, s, l->user);
    }
}

static void server_listener_free(kloop_deferred *d)
{
    keel_listener *l = LISTENER_OF(d, deferred);
    kloop_handle_unlink(l->loop, &l->handle);
    ksys_release(l);
}

void keel_listener_close(keel_listener *l)
{
    if (l == NULL || l->closed) {
        return;
    }
    l->closed = true;
    int fd = l->watch.fd;
    kloop_del(l->loop, &l->watch);
    kloop_close_fd(fd);
    if (l->pause.v != 0 && keel_timer_cancel(l->loop, l->pause) != KEEL_OK) {
        /* already fired */
    }
    /* Freed later: this may run inside the listener's own on_accept. */
    kloop_defer(l->loop, &l->deferred);
}

static void server_listener_close_now(kloop_handle *hd)
{
    keel_listener *l = LISTENER_OF(hd, handle);
    keel_listener_close(l);
    kloop_handle_unlink(l->loop, &l->handle);
}

static KEEL_MUST_USE keel_result server_listener_open(keel_loop *loop, keel_net *sock,
                                                      const keel_stream_handlers *handlers,
                                                      const keel_stream_opts *opts,
                                                      keel_accept_cb on_accept, void *user,
                                                      keel_listener **out)
{
    if (loop == NULL || sock == NULL || handlers == NULL || handlers->on_read == NULL ||
        on_accept == NULL || out == NULL || !kstream_opts_ok(opts) ||
        keel_net_proto(sock) != KEEL_PROTO_TCP) {
        return KEEL_ERR_INVALID_ARG;
    }
    int fd = -1;
    KEEL_TRY(keel_net_fd(sock, &fd));
    int listening = 0;
    socklen_t len = (socklen_t)sizeof listening;
    if (ksys_getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
        return KEEL_ERR_STATE;
    }
    keel_addr local;
    KEEL_TRY(keel_net_local_addr(sock, &local));
    keel_listener *l = ksys_alloc_zeroed(sizeof *l);
    if (l == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    l->watch.fn = server_listener_accept_burst;
    l->handle.close_now = server_listener_close_now;
    l->deferred.fn = server_listener_free;
    l->loop = loop;
    l->h = handlers;
    l->opts = opts;
    l->on_accept = on_accept;
    l->user = user;
    l->stream_user = user;
    l->port = local.port;
    keel_result r = keel_net_set_nonblocking(sock, true);
    if (r == KEEL_OK) {
        r = kloop_add(loop, &l->watch, fd, EPOLLIN);
    }
    if (r != KEEL_OK) {
        ksys_release(l);
        return r;
    }
    if (knet_release_fd(sock, &fd) != KEEL_OK) {
        /* cannot happen: keel_net_fd said it is open */
    }
    keel_net_free(sock);
    kloop_handle_link(loop, &l->handle);
    *out = l;
    return KEEL_OK;
}

keel_result keel_listener_start(keel_loop *loop, keel_net *sock,
                                const keel_stream_handlers *handlers, const keel_stream_opts *opts,
                                keel_accept_cb on_accept, void *user, keel_listener **out)
{
    return server_listener_open(loop, sock, handlers, opts, on_accept, user, out);
}

keel_result keel_listener_port(const keel_listener *l, uint16_t *port)
{
    if (l == NULL || port == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (l->closed) {
        return KEEL_ERR_STATE;
    }
    *port = l->port;
    return KEEL_OK;
}

/* ---- server --------------------------------------------------------------- */

static bool server_admit_conn(kserver_loop *sl)
{
    keel_server *srv = sl->srv;
    size_t n = atomic_fetch_add(&srv->conns, 1);
    if (n >= srv->opts.max_conns) {
        atomic_fetch_sub(&srv->conns, 1);
        return false;
    }
    return true;
}

static void server_release_conn(kserver_loop *sl)
{
    atomic_fetch_sub(&sl->srv->conns, 1);
}

/* A server stream is gone (after its on_close). */
static void server_stream_left(kstream_group *g)
{
    kserver_loop *sl = SLOOP_OF(g, group);
    server_release_conn(sl);
    if (sl->stopping && g->count == 0) {
        keel_loop_stop(sl->loop);
    }
}

static void server_accepted(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    kserver_loop *sl = user;
    if (r == KEEL_OK && sl->srv->opts.on_accept != NULL) {
        sl->srv->opts.on_accept(s, sl->srv->opts.user);
    }
}

static void server_grace_expired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    kstream_group_close(&((kserver_loop *)user)->group);
}

/* On the loop's thread: stop accepting, give the streams grace_ms, then
 * close them in order; the loop stops when the last one is gone. */
static void server_stop_task(keel_loop *loop, void *arg)
{
    kserver_loop *sl = arg;
    sl->stopping = true;
    keel_listener_close(sl->l);
    sl->l = NULL;
    if (sl->srv->opts.on_shutdown != NULL) {
        sl->srv->opts.on_shutdown(loop, sl->srv->opts.user);
    }
    if (sl->group.count == 0) {
        keel_loop_stop(loop);
        return;
    }
    keel_timer_id unused;
    if (sl->grace_ms == 0 ||
        keel_timer_start(loop, sl->grace_ms, 0, server_grace_expired, sl, &unused) != KEEL_OK) {
        kstream_group_close(&sl->group);
    }
}

void keel_server_shutdown(keel_server *srv, uint32_t grace_ms)
{
    if (srv == NULL) {
        return;
    }
    /* The last loop may end, and its owner free srv, as soon as it has
     * seen the last post: everything here happens under srv->mu, which
     * keel_server_free takes first. */
    pthread_mutex_lock(&srv->mu);
    if (!srv->shut) {
        srv->shut = true;
        for (unsigned i = 0; i < srv->n; i++) {
            kserver_loop *sl = &srv->loops[i];
            sl->grace_ms = grace_ms;
            if (keel_loop_post(sl->loop, server_stop_task, sl) != KEEL_OK) {
                keel_loop_stop(sl->loop); /* no memory for the task: stop hard */
            }
        }
    }
    pthread_mutex_unlock(&srv->mu);
}

static void server_signal_shutdown(keel_loop *loop, keel_result r, int signo, void *user)
{
    (void)loop;
    (void)r;
    (void)signo;
    keel_server *srv = user;
    keel_server_shutdown(srv, srv->opts.grace_ms);
}

static void *server_thread_main(void *arg)
{
    kserver_loop *sl = arg;
    sl->run_result = keel_loop_run(sl->loop);
    return NULL;
}

/* Loop i with its listening socket: the first binds opts.port (0: the
 * kernel picks one) and the others join it with SO_REUSEPORT. */
static KEEL_MUST_USE keel_result server_open_loop(keel_server *srv, unsigned i)
{
    kserver_loop *sl = &srv->loops[i];
    sl->srv = srv;
    sl->group.on_leave = server_stream_left;
    KEEL_TRY(keel_loop_new(&sl->loop));
    keel_net *sock = NULL;
    KEEL_TRY(keel_net_init(&sock));
    keel_bind_opts bo = { .ip = srv->opts.ip,
                          .port = i == 0 ? srv->opts.port : srv->port,
                          .proto = KEEL_PROTO_TCP,
                          .reuseport = true };
    keel_result r = keel_net_bind_opts(sock, &bo);
    keel_addr local;
    if (r == KEEL_OK && i == 0) {
        r = keel_net_local_addr(sock, &local);
        if (r == KEEL_OK) {
            srv->port = local.port;
        }
    }
    if (r == KEEL_OK) {
        r = server_listener_open(sl->loop, sock, srv->opts.handlers, srv->opts.stream_opts,
                                 server_accepted, sl, &sl->l);
    }
    if (r != KEEL_OK) {
        keel_net_free(sock);
        return r;
    }
    sl->l->srv = sl;
    sl->l->stream_user = srv->opts.user;
    return KEEL_OK;
}

/* Whether the calling thread is one of srv's loops (a callback). */
static bool server_on_own_thread(const keel_server *srv)
{
    pthread_t self = pthread_self();
    for (unsigned i = 0; i < srv->n; i++) {
        if (srv->loops[i].thread_started && pthread_equal(srv->loops[i].thread, self)) {
            return true;
        }
    }
    return false;
}

keel_result keel_server_wait(keel_server *srv)
{
    if (srv == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    /* Checked before joining any: a loop thread would wait for itself. */
    if (server_on_own_thread(srv)) {
        return KEEL_ERR_STATE;
    }
    keel_result r = KEEL_OK;
    for (unsigned i = 0; i < srv->n; i++) {
        kserver_loop *sl = &srv->loops[i];
        if (!sl->thread_started) {
            continue;
        }
        if (!srv->joined && pthread_join(sl->thread, NULL) != 0) {
            return KEEL_ERR_STATE; /* cannot happen: not a loop thread, joinable */
        }
        if (r == KEEL_OK) {
            r = sl->run_result;
        }
    }
    srv->joined = true;
    return r;
}

void keel_server_free(keel_server *srv)
{
    /* From a loop callback the server would free its own running loop and
     * join its own thread: refused (see loop.h), as keel_loop_free refuses
     * a running loop. */
    if (srv == NULL || server_on_own_thread(srv)) {
        return;
    }
    /* Takes srv->mu: a shutdown running on another thread has finished
     * posting when this returns. */
    keel_server_shutdown(srv, 0);
    if (keel_server_wait(srv) != KEEL_OK) {
        /* the loops' errors have no one left to report to */
    }
    for (unsigned i = 0; i < srv->n; i++) {
        keel_loop_free(srv->loops[i].loop);
    }
    ksys_release(srv->loops);
    pthread_mutex_destroy(&srv->mu);
    ksys_release(srv);
}

keel_result keel_server_start(const keel_server_opts *opts, keel_server **out)
{
    if (opts == NULL || out == NULL || opts->handlers == NULL || opts->handlers->on_read == NULL ||
        !keel_slice_valid(opts->ip) || !kstream_opts_ok(opts->stream_opts)) {
        return KEEL_ERR_INVALID_ARG;
    }
    unsigned n = opts->threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1u : cpus > SERVER_MAX_THREADS ? SERVER_MAX_THREADS : (unsigned)cpus;
    }
    if (n > SERVER_MAX_THREADS) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_server *srv = ksys_alloc_zeroed(sizeof *srv);
    if (srv == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    srv->opts = *opts;
    if (srv->opts.max_conns == 0) {
        srv->opts.max_conns = SERVER_MAX_CONNS;
    }
    if (srv->opts.grace_ms == 0) {
        srv->opts.grace_ms = SERVER_GRACE_MS;
    }
    atomic_init(&srv->conns, 0);
    if (pthread_mutex_init(&srv->mu, NULL) != 0) {
        ksys_release(srv);
        return KEEL_ERR_NO_MEMORY;
    }
    srv->loops = ksys_alloc_zeroed(n * sizeof *srv->loops);
    if (srv->loops == NULL) {
        pthread_mutex_destroy(&srv->mu);
        ksys_release(srv);
        return KEEL_ERR_NO_MEMORY;
    }
    srv->n = n;
    keel_result r = KEEL_OK;
    for (unsigned i = 0; i < n && r == KEEL_OK; i++) {
        r = server_open_loop(srv, i);
    }
    srv->opts.ip = keel_slice_empty(); /* the caller's bytes: used only above */
    /* Signals are blocked here, before the threads start, so that they
     * inherit the mask and only loop 0's signalfd sees SIGINT/SIGTERM. */
    if (r == KEEL_OK && opts->handle_signals) {
        r = keel_loop_signal(srv->loops[0].loop, SIGINT, server_signal_shutdown, srv);
        if (r == KEEL_OK) {
            r = keel_loop_signal(srv->loops[0].loop, SIGTERM, server_signal_shutdown, srv);
        }
    }
    for (unsigned i = 0; i < n && r == KEEL_OK; i++) {
        kserver_loop *sl = &srv->loops[i];
        if (pthread_create(&sl->thread, NULL, server_thread_main, sl) != 0) {
            r = KEEL_ERR_NO_MEMORY;
        } else {
            sl->thread_started = true;
        }
    }
    if (r != KEEL_OK) {
        keel_server_free(srv);
        return r;
    }
    *out = srv;
    return KEEL_OK;
}

keel_result keel_server_port(const keel_server *srv, uint16_t *port)
{
    if (srv == NULL || port == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    *port = srv->port;
    return KEEL_OK;
}

size_t keel_server_connections(const keel_server *srv)
{
    return srv == NULL ? 0 : atomic_load(&srv->conns);
}

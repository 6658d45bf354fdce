/*
 * bench/echo/loadgen.c - load generator for the echo benchmark.
 *
 *   loadgen pingpong|stream|idle [--port P] [--conns N] [--seconds S]
 *           [--warmup S] [--size BYTES] [--pid SERVER_PID]
 *
 * Plain C over epoll on one thread, sharing no code with keel so that it
 * cannot flatter keel. Every connection first does one checked 32-byte round
 * trip, so the server has accepted and registered it before anything counts.
 *
 *   pingpong  each connection sends a --size message (content differs per
 *             connection and per round) and waits for its full echo before
 *             the next; reports round trips/s and p50/p99 latency.
 *   stream    each connection writes --size chunks of a deterministic
 *             pattern continuously and reads the echo concurrently.
 *   idle      prints "ready conns=N" once every connection is established,
 *             then holds them until SIGTERM/SIGINT or --seconds.
 *
 * Every echoed byte is compared. With --pid, utime+stime of that process are
 * read from /proc at the exact edges of the measured window (after the
 * warm-up), giving the server's CPU time per operation. Connections are
 * closed with a reset (SO_LINGER 0) so no TIME_WAIT entries pile up between
 * runs. Output: one line of key=value pairs on stdout. Exit 0 on success,
 * 1 on any mismatch, short read, connection error or early stop, 2 on bad
 * arguments.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

enum {
    HELLO_SIZE = 32,
    MAX_CONNECTING = 128,     /* bounded so the listen backlog never overflows */
    MAX_EVENTS = 256,
    READ_CHUNK = 65536,
    PATTERN_PERIOD = 65521,   /* prime: chunk boundaries never line up with it */
    MAX_SIZE = 1 << 20,
    SETUP_TIMEOUT_S = 60,
    HIST_BUCKETS = 128 + 57 * 64
};

enum mode { PINGPONG, STREAM, IDLE };
enum state { CONNECTING, HELLO, READY };

struct options {
    enum mode mode;
    uint16_t port;
    uint32_t conns;
    double seconds;
    double warmup;
    size_t size;
    long pid; /* 0: no server CPU measurement */
};

struct conn {
    int fd;
    uint32_t id;
    enum state state;
    uint64_t round;
    uint64_t sent, got;  /* pingpong: within the message; stream: since start */
    uint64_t t_sent_ns;
    uint8_t *msg;        /* pingpong: the message in flight */
};

struct run {
    const struct options *opt;
    int ep;
    struct conn *conns;
    uint8_t *pattern;    /* stream: PATTERN_PERIOD + max chunk bytes */
    uint8_t rbuf[READ_CHUNK];
    bool measuring;
    uint64_t ops;        /* round trips (pingpong) or bytes echoed (stream) */
    uint64_t hist[HIST_BUCKETS];
    uint64_t errors;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    r->errors++;
}

/* ---- latency histogram: 64 sub-buckets per power of two, ~1.6% wide ---- */

static unsigned hist_index(uint64_t ns)
{
    if (ns < 128)
        return (unsigned)ns;
    unsigned b = 63u - (unsigned)__builtin_clzll(ns);
    unsigned sub = (unsigned)(ns >> (b - 6)) & 63u;
    return 128u + (b - 7u) * 64u + sub;
}

static double hist_mid_ns(unsigned i)
{
    if (i < 128)
        return i;
    unsigned b = (i - 128u) / 64u + 7u, sub = (i - 128u) % 64u;
    double lo = (double)((64u + sub) * (1ull << (b - 6)));
    return lo + (double)(1ull << (b - 6)) / 2.0;
}

static double hist_percentile_us(const struct run *r, double p)
{
    uint64_t total = 0, seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        total += r->hist[i];
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(p * (double)total);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += r->hist[i];
        if (seen >= want)
            return hist_mid_ns(i) / 1000.0;
    }
    return 0;
}

/* ---- payloads ---- */

/* Message of connection `id` for round `round`: xorshift64 from both, so a
 * reply sent to the wrong connection or from a stale round cannot match. */
static void fill_message(uint8_t *msg, size_t size, uint32_t id, uint64_t round)
{
    uint64_t x = ((uint64_t)id << 40) ^ round ^ 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < size; i++) {
        if (i % 8 == 0) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        msg[i] = (uint8_t)(x >> (8 * (i % 8)));
    }
}

/* The stream of connection `id` at byte offset `off` (each connection starts
 * at its own phase of the pattern). */
static const uint8_t *stream_at(const struct run *r, uint32_t id, uint64_t off)
{
    return r->pattern + (off + (uint64_t)id * 7919u) % PATTERN_PERIOD;
}

/* ---- server CPU time from /proc/PID/stat, in microseconds ---- */

static bool server_cpu_us(long pid, double *out)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')'); /* the command name may hold spaces */
    unsigned long ut, st;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                     &ut, &st) != 2)
        return false;
    *out = (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
    return true;
}

/* ---- connections ---- */

static bool watch(struct run *r, struct conn *c, int op, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = c->id};
    if (epoll_ctl(r->ep, op, c->fd, &ev) != 0) {
        fail(r, "conn %u: epoll_ctl: %s", c->id, strerror(errno));
        return false;
    }
    return true;
}

static bool start_connect(struct run *r, struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(r->opt->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(r, "conn %u: socket: %s", c->id, strerror(errno));
        return false;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        fail(r, "conn %u: connect: %s", c->id, strerror(errno));
        return false;
    }
    c->state = CONNECTING;
    return watch(r, c, EPOLL_CTL_ADD, EPOLLOUT);
}

/* One send of up to `len` bytes; `wrote` is 0 when the socket is full. */
static bool send_some(struct run *r, struct conn *c, const uint8_t *buf, size_t len,
                      size_t *wrote)
{
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    *wrote = n > 0 ? (size_t)n : 0;
    if (n < 0 && errno != EAGAIN) {
        fail(r, "conn %u: send: %s", c->id, strerror(errno));
        return false;
    }
    return true;
}

/* Reads at most `max` bytes into r->rbuf; false on error or end of stream. */
static bool recv_some(struct run *r, struct conn *c, size_t max, size_t *got)
{
    ssize_t n = recv(c->fd, r->rbuf, max, 0);
    *got = 0;
    if (n > 0) {
        *got = (size_t)n;
        return true;
    }
    if (n < 0 && errno == EAGAIN)
        return true;
    if (n == 0)
        fail(r, "conn %u: server closed the connection (round %llu)", c->id,
             (unsigned long long)c->round);
    else
        fail(r, "conn %u: recv: %s", c->id, strerror(errno));
    return false;
}

static void close_reset(struct conn *c)
{
    if (c->fd < 0)
        return;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
    c->fd = -1;
}

/* One setup event: connect completion, then the hello round trip. */
static bool setup_event(struct run *r, struct conn *c, uint32_t events, uint32_t *ready)
{
    uint8_t hello[HELLO_SIZE];
    fill_message(hello, sizeof hello, c->id, UINT64_MAX);
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            fail(r, "conn %u: connect to 127.0.0.1:%u: %s", c->id, r->opt->port,
                 strerror(err ? err : errno));
            return false;
        }
        size_t wrote;
        c->got = 0;
        if (!send_some(r, c, hello, sizeof hello, &wrote))
            return false;
        if (wrote != sizeof hello) {
            fail(r, "conn %u: short write of the hello on a fresh socket", c->id);
            return false;
        }
        c->state = HELLO;
        return watch(r, c, EPOLL_CTL_MOD, EPOLLIN);
    }
    if (c->state == HELLO && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        size_t n;
        if (!recv_some(r, c, sizeof hello - c->got, &n))
            return false;
        if (memcmp(r->rbuf, hello + c->got, n) != 0) {
            fail(r, "conn %u: hello echoed wrong", c->id);
            return false;
        }
        c->got += n;
        if (c->got == sizeof hello) {
            c->state = READY;
            (*ready)++;
        }
    }
    return true;
}

/* Opens every connection, at most MAX_CONNECTING not yet ready at a time. */
static bool setup(struct run *r)
{
    uint32_t n = r->opt->conns, next = 0, ready = 0;
    uint64_t deadline = now_ns() + SETUP_TIMEOUT_S * 1000000000ull;
    struct epoll_event evs[MAX_EVENTS];
    while (ready < n) {
        while (next < n && next - ready < MAX_CONNECTING)
            if (!start_connect(r, &r->conns[next++]))
                return false;
        int k = epoll_wait(r->ep, evs, MAX_EVENTS, 1000);
        if (k < 0 && errno != EINTR) {
            fail(r, "epoll_wait: %s", strerror(errno));
            return false;
        }
        for (int i = 0; i < k; i++)
            if (!setup_event(r, &r->conns[evs[i].data.u32], evs[i].events, &ready))
                return false;
        if (stop_signal || now_ns() > deadline) {
            fail(r, "only %u of %u connections ready after %s", ready, n,
                 stop_signal ? "a stop signal" : "60 s");
            return false;
        }
    }
    return true;
}

/* ---- the measured modes ---- */

/* Sends what is left of the message; EPOLLOUT stays armed until it is out. */
static bool pingpong_send(struct run *r, struct conn *c, bool armed)
{
    size_t wrote;
    if (!send_some(r, c, c->msg + c->sent, (size_t)(r->opt->size - c->sent), &wrote))
        return false;
    c->sent += wrote;
    bool done = c->sent == r->opt->size;
    if (done == !armed)
        return true;
    return watch(r, c, EPOLL_CTL_MOD, done ? EPOLLIN : EPOLLIN | EPOLLOUT);
}

static bool pingpong_next(struct run *r, struct conn *c, uint64_t t)
{
    c->round++;
    c->sent = c->got = 0;
    c->t_sent_ns = t;
    fill_message(c->msg, r->opt->size, c->id, c->round);
    return pingpong_send(r, c, false);
}

static bool pingpong_event(struct run *r, struct conn *c, uint32_t events)
{
    size_t size = r->opt->size;
    if ((events & EPOLLOUT) && c->sent < size && !pingpong_send(r, c, true))
        return false;
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return true;
    size_t n;
    uint64_t want = size - c->got;
    if (!recv_some(r, c, want < READ_CHUNK ? (size_t)want : READ_CHUNK, &n))
        return false;
    if (c->got + n > c->sent) {
        fail(r, "conn %u: echo ahead of what was sent (round %llu)", c->id,
             (unsigned long long)c->round);
        return false;
    }
    if (memcmp(r->rbuf, c->msg + c->got, n) != 0) {
        fail(r, "conn %u: echo mismatch in round %llu", c->id, (unsigned long long)c->round);
        return false;
    }
    c->got += n;
    if (c->got < size)
        return true;
    uint64_t t = now_ns();
    if (r->measuring) {
        r->ops++;
        r->hist[hist_index(t - c->t_sent_ns)]++;
    }
    return pingpong_next(r, c, t);
}

static bool stream_event(struct run *r, struct conn *c, uint32_t events)
{
    if (events & EPOLLOUT) {
        size_t wrote;
        if (!send_some(r, c, stream_at(r, c->id, c->sent), r->opt->size, &wrote))
            return false;
        c->sent += wrote;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        size_t n;
        if (!recv_some(r, c, READ_CHUNK, &n))
            return false;
        if (c->got + n > c->sent) {
            fail(r, "conn %u: echo ahead of what was sent", c->id);
            return false;
        }
        if (memcmp(r->rbuf, stream_at(r, c->id, c->got), n) != 0) {
            fail(r, "conn %u: stream mismatch near offset %llu", c->id,
                 (unsigned long long)c->got);
            return false;
        }
        c->got += n;
        if (r->measuring)
            r->ops += n;
    }
    return true;
}

struct window {
    double cpu0, cpu1, seconds;
    bool cpu_ok;
};

static bool measure(struct run *r, struct window *w)
{
    const struct options *o = r->opt;
    uint64_t t = now_ns();
    for (uint32_t i = 0; i < o->conns; i++) {
        struct conn *c = &r->conns[i];
        c->sent = c->got = 0;
        if (o->mode == PINGPONG) {
            if (!pingpong_next(r, c, t))
                return false;
        } else if (!watch(r, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT)) {
            return false;
        }
    }
    uint64_t start = t + (uint64_t)(o->warmup * 1e9), start_real = 0;
    uint64_t end = start + (uint64_t)(o->seconds * 1e9);
    struct epoll_event evs[MAX_EVENTS];
    w->cpu_ok = o->pid != 0;
    for (;;) {
        t = now_ns();
        if (!r->measuring && t >= start) {
            if (w->cpu_ok)
                w->cpu_ok = server_cpu_us(o->pid, &w->cpu0);
            start_real = now_ns();
            end = start_real + (uint64_t)(o->seconds * 1e9);
            r->measuring = true;
        }
        if (r->measuring && t >= end) {
            if (w->cpu_ok)
                w->cpu_ok = server_cpu_us(o->pid, &w->cpu1);
            w->seconds = (double)(t - start_real) / 1e9;
            return true;
        }
        if (stop_signal) {
            fail(r, "stopped by a signal before the end of the run");
            return false;
        }
        uint64_t next = r->measuring ? end : start;
        int k = epoll_wait(r->ep, evs, MAX_EVENTS, (int)((next - t) / 1000000u) + 1);
        if (k < 0 && errno != EINTR) {
            fail(r, "epoll_wait: %s", strerror(errno));
            return false;
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = &r->conns[evs[i].data.u32];
            bool ok = o->mode == PINGPONG ? pingpong_event(r, c, evs[i].events)
                                          : stream_event(r, c, evs[i].events);
            if (!ok)
                return false;
        }
    }
}

/* Idle: hold every connection; any data or closure from the server is an
 * error, since an idle echo server has nothing to say. */
static void hold(struct run *r)
{
    printf("ready conns=%u\n", r->opt->conns);
    fflush(stdout);
    uint64_t end = now_ns() + (uint64_t)(r->opt->seconds * 1e9);
    struct epoll_event evs[MAX_EVENTS];
    while (!stop_signal && now_ns() < end) {
        int k = epoll_wait(r->ep, evs, MAX_EVENTS, 200);
        for (int i = 0; i < k; i++) {
            fail(r, "conn %u: unexpected event %#x on an idle connection", evs[i].data.u32,
                 evs[i].events);
            return;
        }
    }
}

/* ---- command line ---- */

static int usage(const char *why)
{
    fprintf(stderr,
            "loadgen: %s\n"
            "usage: loadgen pingpong|stream|idle --port P [--conns N] [--seconds S]\n"
            "               [--warmup S] [--size BYTES] [--pid SERVER_PID]\n"
            "  defaults: pingpong 50 conns x 64 B; stream 1 conn x 16384 B chunks;\n"
            "            idle 10000 conns held for at most --seconds (60)\n"
            "            --seconds 3 (measured, after --warmup 1)\n",
            why);
    return 2;
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    if (argc < 2)
        return usage("missing mode");
    if (strcmp(argv[1], "pingpong") == 0)
        *o = (struct options){PINGPONG, 0, 50, 3, 1, 64, 0};
    else if (strcmp(argv[1], "stream") == 0)
        *o = (struct options){STREAM, 0, 1, 3, 1, 16384, 0};
    else if (strcmp(argv[1], "idle") == 0)
        *o = (struct options){IDLE, 0, 10000, 60, 0, HELLO_SIZE, 0};
    else
        return usage("unknown mode");
    bool have_port = false;
    for (int i = 2; i < argc; i += 2) {
        double v;
        const char *k = argv[i];
        if (i + 1 >= argc)
            return usage("option without a value");
        const char *val = argv[i + 1];
        if (strcmp(k, "--port") == 0 && parse_num(val, 1, 65535, &v))
            o->port = (uint16_t)v, have_port = true;
        else if (strcmp(k, "--conns") == 0 && parse_num(val, 1, 1000000, &v))
            o->conns = (uint32_t)v;
        else if (strcmp(k, "--seconds") == 0 && parse_num(val, 0.01, 86400, &v))
            o->seconds = v;
        else if (strcmp(k, "--warmup") == 0 && parse_num(val, 0, 3600, &v))
            o->warmup = v;
        else if (strcmp(k, "--size") == 0 && parse_num(val, 1, MAX_SIZE, &v))
            o->size = (size_t)v;
        else if (strcmp(k, "--pid") == 0 && parse_num(val, 1, 1 << 30, &v))
            o->pid = (long)v;
        else
            return usage("bad option or value");
    }
    if (!have_port)
        return usage("--port is required");
    return 0;
}

/* Room for every connection plus stdio and the epoll fd. */
static bool raise_fd_limit(uint32_t conns)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)conns + 32;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    if (rl.rlim_cur >= need)
        return true;
    if (rl.rlim_max < need) {
        fprintf(stderr, "loadgen: %u connections need %lu fds, hard limit is %lu\n", conns,
                (unsigned long)need, (unsigned long)rl.rlim_max);
        return false;
    }
    rl.rlim_cur = need;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static void report(const struct run *r, const struct window *w)
{
    const struct options *o = r->opt;
    double cpu = w->cpu1 - w->cpu0;
    char cpu_text[64] = "server_cpu_us=na";
    if (o->mode == PINGPONG) {
        if (w->cpu_ok && r->ops)
            snprintf(cpu_text, sizeof cpu_text, "server_cpu_us=%.0f cpu_us_per_rt=%.3f", cpu,
                     cpu / (double)r->ops);
        printf("mode=pingpong conns=%u size=%zu seconds=%.3f rt=%llu rt_per_s=%.0f "
               "p50_us=%.1f p99_us=%.1f %s errors=%llu\n",
               o->conns, o->size, w->seconds, (unsigned long long)r->ops,
               (double)r->ops / w->seconds, hist_percentile_us(r, 0.50),
               hist_percentile_us(r, 0.99), cpu_text, (unsigned long long)r->errors);
    } else {
        double mb = (double)r->ops / 1e6;
        if (w->cpu_ok && r->ops)
            snprintf(cpu_text, sizeof cpu_text, "server_cpu_us=%.0f cpu_us_per_mb=%.1f", cpu,
                     cpu / mb);
        printf("mode=stream conns=%u size=%zu seconds=%.3f bytes=%llu mb_per_s=%.1f %s "
               "errors=%llu\n",
               o->conns, o->size, w->seconds, (unsigned long long)r->ops, mb / w->seconds,
               cpu_text, (unsigned long long)r->errors);
    }
}

int main(int argc, char **argv)
{
    struct options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc)
        return rc;
    if (!raise_fd_limit(opt.conns))
        return 1;
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: wake epoll_wait */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    static struct run r; /* large (read buffer, histogram): not on the stack */
    r.opt = &opt;
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    r.conns = calloc(opt.conns, sizeof *r.conns);
    uint8_t *msgs = calloc(opt.conns, opt.mode == PINGPONG ? opt.size : 1);
    /* One period, then its start again, so any run of up to a chunk or a
     * read from any phase is contiguous. */
    size_t tail = opt.size > READ_CHUNK ? opt.size : READ_CHUNK;
    r.pattern = malloc(PATTERN_PERIOD + tail);
    if (r.ep < 0 || !r.conns || !msgs || !r.pattern) {
        fprintf(stderr, "loadgen: out of memory or fds\n");
        return 1;
    }
    fill_message(r.pattern, PATTERN_PERIOD, UINT32_MAX, 0);
    for (size_t i = 0; i < tail; i++)
        r.pattern[PATTERN_PERIOD + i] = r.pattern[i % PATTERN_PERIOD];
    for (uint32_t i = 0; i < opt.conns; i++) {
        r.conns[i] = (struct conn){.fd = -1, .id = i};
        if (opt.mode == PINGPONG)
            r.conns[i].msg = msgs + (size_t)i * opt.size;
    }

    struct window w = {0};
    if (setup(&r)) {
        if (opt.mode == IDLE)
            hold(&r);
        else
            measure(&r, &w);
    }
    for (uint32_t i = 0; i < opt.conns; i++)
        close_reset(&r.conns[i]);
    if (w.seconds > 0)
        report(&r, &w);
    else
        printf("mode=%s conns=%u errors=%llu\n", argv[1], opt.conns,
               (unsigned long long)r.errors);
    return r.errors ? 1 : 0;
}

/*
 * fuzz/net/fuzz_syscalls.c - every outcome a socket call can have, through the
 * syscall seam (src/core/sys.h), against src/net/net.c's retry, deadline, partial
 * progress and error-mapping logic.
 *
 * Drives: keel_net_connect, keel_net_accept, keel_net_send,
 * keel_net_send_all, keel_net_recv, keel_net_recv_timeout,
 * keel_net_recv_exact, keel_net_poll, keel_net_set_nonblocking,
 * keel_net_free; stubs keel_sys.socket/close (pass-through, counted),
 * connect, accept4, recvfrom, sendto, poll and now_ms.
 *
 * Input: [n (2 bytes, big-endian)][n bytes: the simulated peer's stream]
 * [control bytes]. The control bytes are read in order both by the harness
 * (which call next, its sizes and timeouts) and by the stubs (which outcome
 * each call has: success, a short read/write of N bytes, EINTR, EAGAIN,
 * EOF, ECONNRESET/EPIPE, ENOMEM/ENOBUFS, a poll timeout or hang-up...), so
 * the fuzzer chooses the interleaving. Time is a fake clock advanced only by
 * the stubs, so deadlines expire deterministically. Once the control bytes
 * run out every stub succeeds (recv serves the stream, then EOF), and past
 * STUB_SOFT_CAP calls in one input recv/send fail with ECONNRESET, so each
 * input ends; a call still looping at STUB_HARD_CAP is a hang.
 *
 * Properties: bytes appended to a buf are exactly the next bytes of the
 * peer's stream the stubs handed out - in order, none dropped (EINTR is
 * retried, not lost), never more than the stream; bytes a send reports are
 * exactly the prefix the stubs accepted (send_all reports it on failure
 * too); each result matches the outcome that caused it (CLOSED only after
 * EOF, WOULD_BLOCK only after EAGAIN, RESET only after ECONNRESET/EPIPE and
 * sticky afterwards, TIMEOUT only once the deadline has passed, NO_MEMORY
 * only after ENOMEM/ENOBUFS/EMFILE, never OS, and OS on connect/accept
 * only after an errno keel has no name for: EINTR never surfaces); poll
 * reports something ready and only what was asked; sends carry MSG_NOSIGNAL,
 * accepted descriptors are close-on-exec; keel closes only descriptors it
 * owns and every one it opened by the end; no leak (ASan).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "keel/net.h"
#include "core/sys.h"

#define STUB_SOFT_CAP 2000u
#define STUB_HARD_CAP 200000u
#define OPS_MAX 64u
#define FDS_MAX 16u
#define SEND_MAX 8192u

enum outcome { OUT_NONE, OUT_DATA, OUT_EINTR, OUT_EAGAIN, OUT_EOF, OUT_RESET, OUT_NOMEM, OUT_OTHER };

static struct {
    fuzz_reader ctl;
    keel_slice stream;
    size_t stream_pos;
    uint8_t sink[SEND_MAX];
    size_t sink_len;
    uint64_t now;
    unsigned long calls;
    bool force_open; /* connect/accept succeed (to get a context to work on) */
    enum outcome last_io;   /* of the latest recvfrom/sendto */
    bool saw_reset;
    bool saw_refused;
    bool saw_nomem;
    bool saw_timedout;
    bool saw_other; /* an errno keel has no name for (it maps to KEEL_ERR_OS) */
    int fds[FDS_MAX];
    size_t nfds;
} g;

static uint8_t g_pattern[SEND_MAX];

/* ---- stubs ------------------------------------------------------------- */

static bool count_call(void)
{
    g.calls++;
    FUZZ_CHECK(g.calls < STUB_HARD_CAP); /* keel keeps calling: a hang */
    return g.calls >= STUB_SOFT_CAP;
}

/* One control byte per call: low bits the outcome, the rest the time it
 * took (and short-transfer sizes). Exhausted control reads as 0: success. */
static uint8_t outcome_byte(void)
{
    return fuzz_u8(&g.ctl);
}

static void fail_with(int e, enum outcome o)
{
    errno = e;
    g.last_io = o;
}

static uint64_t stub_now_ms(void)
{
    return g.now;
}

static void track_fd(int fd)
{
    FUZZ_CHECK(fd >= 0 && g.nfds < FDS_MAX);
    g.fds[g.nfds++] = fd;
}

static int stub_socket(int domain, int type, int protocol)
{
    (void)count_call();
    int fd = socket(domain, type, protocol);
    if (fd >= 0) {
        track_fd(fd);
    }
    return fd;
}

static int stub_close(int fd)
{
    for (size_t i = 0; i < g.nfds; i++) {
        if (g.fds[i] == fd) {
            g.fds[i] = g.fds[--g.nfds];
            return close(fd);
        }
    }
    FUZZ_FAIL("keel closed a descriptor it does not own");
    return -1;
}

static int stub_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    (void)fd;
    (void)sa;
    (void)len;
    bool capped = count_call();
    uint8_t o = outcome_byte();
    g.now += o >> 3;
    if (g.force_open) {
        return 0;
    }
    switch (capped ? 3 : o % 6u) {
    case 0: return 0;
    case 1: errno = EINPROGRESS; return -1; /* SO_ERROR (real) then says 0 */
    case 2: errno = EINTR; return -1;
    case 3: g.saw_refused = true; errno = ECONNREFUSED; return -1;
    case 4: g.saw_timedout = true; errno = ETIMEDOUT; return -1;
    default: g.saw_other = true; errno = ENETUNREACH; return -1;
    }
}

static int stub_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    (void)fd;
    bool capped = count_call();
    uint8_t o = outcome_byte();
    FUZZ_CHECK(flags & SOCK_CLOEXEC);
    unsigned kind = g.force_open ? 0 : capped ? 4 : o % 5u;
    if (kind == 0) {
        int s = socket(AF_INET, SOCK_STREAM | (flags & (SOCK_CLOEXEC | SOCK_NONBLOCK)), 0);
        if (s < 0) {
            g.saw_other = true; /* the real errno, whatever it is */
            return -1;
        }
        track_fd(s);
        struct sockaddr_in peer;
        memset(&peer, 0, sizeof peer);
        peer.sin_family = AF_INET;
        peer.sin_port = htons((uint16_t)(1024u + o));
        peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (sa != NULL && len != NULL) {
            socklen_t n = *len < sizeof peer ? *len : (socklen_t)sizeof peer;
            memcpy(sa, &peer, n);
            *len = sizeof peer;
        }
        return s;
    }
    switch (kind) {
    case 1: errno = EAGAIN; return -1;
    case 2: errno = EINTR; return -1;
    case 3: g.saw_reset = true; errno = ECONNABORTED; return -1;
    default: g.saw_nomem = true; errno = EMFILE; return -1;
    }
}

static ssize_t stub_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                             socklen_t *salen)
{
    (void)fd;
    (void)sa;
    (void)salen;
    bool capped = count_call();
    bool exhausted = fuzz_left(&g.ctl) == 0;
    uint8_t o = outcome_byte();
    g.now += o >> 3;
    size_t left = g.stream.len - g.stream_pos;
    unsigned kind = capped ? 5u : o % 8u;
    if (kind <= 1 && left == 0) {
        kind = exhausted ? 4u : 3u; /* no data yet, or (control over) the end */
    }
    size_t n = len < left ? len : left;
    switch (kind) {
    case 1:
        n = n < 1u + (o >> 3) ? n : 1u + (o >> 3);
        /* fall through */
    case 0:
        if (n > 0) {
            memcpy(buf, g.stream.ptr + g.stream_pos, n);
        }
        if (!(flags & MSG_PEEK)) {
            g.stream_pos += n;
        }
        g.last_io = OUT_DATA;
        return (ssize_t)n;
    case 2: fail_with(EINTR, OUT_EINTR); return -1;
    case 3: fail_with(EAGAIN, OUT_EAGAIN); return -1;
    case 4: g.last_io = OUT_EOF; return 0;
    case 5: g.saw_reset = true; fail_with(ECONNRESET, OUT_RESET); return -1;
    case 6: g.saw_nomem = true; fail_with(ENOMEM, OUT_NOMEM); return -1;
    default: fail_with(EINTR, OUT_EINTR); return -1; /* signals are common */
    }
}

static ssize_t stub_sendto(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *sa, socklen_t salen)
{
    (void)fd;
    (void)sa;
    (void)salen;
    FUZZ_CHECK(flags & MSG_NOSIGNAL);
    bool capped = count_call();
    uint8_t o = outcome_byte();
    g.now += o >> 3;
    size_t n = len;
    switch (capped ? 4u : o % 8u) {
    case 1:
        n = n < 1u + (o >> 3) ? n : 1u + (o >> 3);
        /* fall through */
    case 0:
        FUZZ_CHECK(n <= SEND_MAX - g.sink_len);
        if (n > 0) {
            memcpy(g.sink + g.sink_len, buf, n);
        }
        g.sink_len += n;
        g.last_io = OUT_DATA;
        return (ssize_t)n;
    case 2: fail_with(EINTR, OUT_EINTR); return -1;
    case 3: fail_with(EAGAIN, OUT_EAGAIN); return -1;
    case 4: g.saw_reset = true; fail_with(ECONNRESET, OUT_RESET); return -1;
    case 5: g.saw_reset = true; fail_with(EPIPE, OUT_RESET); return -1;
    case 6: g.saw_nomem = true; fail_with(ENOBUFS, OUT_NOMEM); return -1;
    default: fail_with(EINTR, OUT_EINTR); return -1;
    }
}

static int stub_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    bool capped = count_call();
    uint8_t o = outcome_byte();
    unsigned kind = capped ? 0u : o % 4u;
    if (kind == 2 && timeout_ms < 0) {
        kind = 0; /* an endless poll does not time out */
    }
    if (kind == 2) {
        g.now += (uint64_t)timeout_ms;
        return 0;
    }
    g.now += o >> 2;
    if (kind == 3) {
        errno = EINTR;
        return -1;
    }
    for (nfds_t i = 0; i < n; i++) {
        fds[i].revents = (short)(fds[i].events & (POLLIN | POLLOUT));
        if (kind == 1) {
            fds[i].revents = (short)(fds[i].revents | POLLHUP);
        }
    }
    return (int)n;
}

static void install_stubs(void)
{
    keel_sys.socket = stub_socket;
    keel_sys.close = stub_close;
    keel_sys.connect = stub_connect;
    keel_sys.accept4 = stub_accept4;
    keel_sys.recvfrom = stub_recvfrom;
    keel_sys.sendto = stub_sendto;
    keel_sys.poll = stub_poll;
    keel_sys.now_ms = stub_now_ms;
}

/* ---- the harness ------------------------------------------------------- */

static uint32_t arg_timeout(void)
{
    uint8_t t = fuzz_u8(&g.ctl);
    if (t == 255) {
        return KEEL_FOREVER;
    }
    return t < 200 ? (uint32_t)t * 5u : (uint32_t)(t - 199u) * 1000u;
}

static size_t arg_size(void)
{
    uint8_t a = fuzz_u8(&g.ctl);
    return a < 0xc0u ? a : (size_t)(a - 0xbfu) * 128u; /* up to 8 KiB */
}

static void start_io(void)
{
    g.sink_len = 0;
    g.last_io = OUT_NONE;
    g.saw_reset = false;
    g.saw_nomem = false;
}

/* A deadline-driven result may only be TIMEOUT once the deadline passed. */
static bool timed_out(uint64_t start, uint32_t timeout_ms)
{
    return timeout_ms != KEEL_FOREVER && g.now - start >= timeout_ms;
}

typedef struct conn {
    keel_net *ctx;
    bool sticky_reset;
} conn;

static void check_error(const conn *c, keel_result r, uint64_t start, uint32_t timeout_ms,
                        bool may_block)
{
    switch (r) {
    case KEEL_ERR_RESET: FUZZ_CHECK(g.saw_reset || c->sticky_reset); break;
    case KEEL_ERR_TIMEOUT: FUZZ_CHECK(timed_out(start, timeout_ms)); break;
    case KEEL_ERR_WOULD_BLOCK: FUZZ_CHECK(may_block && g.last_io == OUT_EAGAIN); break;
    case KEEL_ERR_NO_MEMORY: FUZZ_CHECK(g.saw_nomem); break;
    default: FUZZ_FAIL("result not allowed for this outcome"); break;
    }
}

static void op_send(conn *c, bool all)
{
    keel_slice data;
    size_t len = arg_size();
    uint32_t timeout = all ? arg_timeout() : 0;
    FUZZ_CHECK(keel_slice_from(g_pattern, len, &data) == KEEL_OK);
    start_io();
    uint64_t start = g.now;
    size_t sent = SIZE_MAX;
    keel_result r = all ? keel_net_send_all(c->ctx, data, timeout, &sent)
                        : keel_net_send(c->ctx, data, &sent);
    FUZZ_CHECK(g.sink_len == 0 || memcmp(g.sink, g_pattern, g.sink_len) == 0);
    if (r == KEEL_OK) {
        FUZZ_CHECK(sent == g.sink_len && (all ? sent == len : (sent <= len && (sent > 0 || len == 0))));
    } else if (len == 0 && r == KEEL_ERR_INVALID_ARG && !c->sticky_reset) {
        FUZZ_CHECK(g.sink_len == 0); /* an empty send may be refused */
    } else {
        /* One send(2) reports its bytes as OK; send_all reports them always. */
        check_error(c, r, start, all ? timeout : KEEL_FOREVER, !all);
        FUZZ_CHECK(all ? sent == g.sink_len : g.sink_len == 0);
        if (c->sticky_reset) {
            FUZZ_CHECK(r == KEEL_ERR_RESET && g.sink_len == 0);
        }
    }
    c->sticky_reset = c->sticky_reset || r == KEEL_ERR_RESET;
}

enum recv_kind { RECV_ONE, RECV_TIMEOUT, RECV_EXACT };

static void op_recv(conn *c, enum recv_kind kind)
{
    size_t prefix = fuzz_u8(&g.ctl) % 4u;
    size_t spare = arg_size();
    size_t want = kind == RECV_EXACT ? arg_size() : 0;
    uint32_t timeout = kind == RECV_ONE ? 0 : arg_timeout();
    size_t cap = prefix + spare;
    uint8_t *store = malloc(cap > 0 ? cap : 1);
    FUZZ_CHECK(store != NULL);
    keel_buf b;
    FUZZ_CHECK(keel_buf_init(&b, store, cap) == KEEL_OK);
    for (size_t i = 0; i < prefix; i++) {
        FUZZ_CHECK(keel_buf_append_byte(&b, (uint8_t)(0xe0u + i)) == KEEL_OK);
    }
    start_io();
    size_t from = g.stream_pos;
    unsigned long calls = g.calls;
    uint64_t start = g.now;
    size_t received = SIZE_MAX;
    keel_result r = kind == RECV_EXACT ? keel_net_recv_exact(c->ctx, &b, want, timeout)
                  : kind == RECV_TIMEOUT ? keel_net_recv_timeout(c->ctx, &b, timeout, &received)
                                         : keel_net_recv(c->ctx, &b, &received);

    FUZZ_CHECK(keel_buf_valid(&b) && b.ptr == store && b.cap == cap && b.len >= prefix);
    for (size_t i = 0; i < prefix; i++) {
        FUZZ_CHECK(store[i] == (uint8_t)(0xe0u + i));
    }
    size_t appended = b.len - prefix;
    /* Exactly what the peer sent next: nothing dropped, nothing invented. */
    FUZZ_CHECK(appended == g.stream_pos - from);
    FUZZ_CHECK(appended == 0 || memcmp(store + prefix, g.stream.ptr + from, appended) == 0);

    bool no_room = kind == RECV_EXACT ? want > spare : spare == 0;
    if (c->sticky_reset && !(no_room && r == KEEL_ERR_TOO_LARGE)) {
        FUZZ_CHECK(r == KEEL_ERR_RESET && appended == 0);
    } else if (no_room) {
        FUZZ_CHECK(r == KEEL_ERR_TOO_LARGE && appended == 0 && g.calls == calls);
    } else if (kind == RECV_EXACT && want == 0 && r == KEEL_ERR_INVALID_ARG) {
        FUZZ_CHECK(appended == 0); /* asking for nothing may be refused */
    } else if (r == KEEL_OK) {
        if (kind == RECV_EXACT) {
            FUZZ_CHECK(appended == want);
        } else {
            FUZZ_CHECK(appended > 0 && received == appended);
        }
    } else if (r == KEEL_ERR_CLOSED) {
        FUZZ_CHECK(g.last_io == OUT_EOF);
        FUZZ_CHECK(kind == RECV_EXACT || appended == 0);
    } else {
        check_error(c, r, start, kind == RECV_ONE ? KEEL_FOREVER : timeout, kind == RECV_ONE);
        FUZZ_CHECK(kind == RECV_EXACT || appended == 0);
    }
    c->sticky_reset = c->sticky_reset || r == KEEL_ERR_RESET;
    free(store);
}

static void op_poll(conn *c)
{
    unsigned want = 1u + fuzz_u8(&g.ctl) % 3u;
    uint32_t timeout = arg_timeout();
    uint64_t start = g.now;
    unsigned ready = 0xdead;
    keel_result r = keel_net_poll(c->ctx, want, timeout, &ready);
    if (r == KEEL_OK) {
        /* something ready, and only what was asked for */
        FUZZ_CHECK(ready != 0 && (ready & ~want) == 0);
    } else if (r == KEEL_ERR_TIMEOUT) {
        FUZZ_CHECK(timed_out(start, timeout));
    } else {
        FUZZ_CHECK(r == KEEL_ERR_RESET && c->sticky_reset);
    }
}

/* A context opened through stubbed connect or accept (up to three tries with
 * fuzzer-chosen outcomes, then forced to succeed). Its descriptor is a real,
 * unconnected socket: only the stubbed calls ever touch its data path. */
static void open_conn(conn *c, keel_net *listener)
{
    bool via_accept = fuzz_u8(&g.ctl) & 1u;
    FUZZ_CHECK(keel_net_init(&c->ctx) == KEEL_OK);
    for (int attempt = 0; attempt < 4 && !keel_net_is_open(c->ctx); attempt++) {
        g.force_open = attempt == 3;
        g.saw_refused = false;
        g.saw_nomem = false;
        g.saw_timedout = false;
        g.saw_reset = false;
        g.saw_other = false;
        uint64_t start = g.now;
        keel_result r;
        if (via_accept) {
            keel_addr peer;
            memset(&peer, 0, sizeof peer);
            r = keel_net_accept(listener, c->ctx, &peer);
            FUZZ_CHECK(r != KEEL_OK || (peer.family == KEEL_AF_INET4 && peer.port >= 1024u &&
                                        peer.bytes[0] == 127 && peer.bytes[3] == 1));
            FUZZ_CHECK(r == KEEL_OK || r == KEEL_ERR_WOULD_BLOCK || r == KEEL_ERR_NO_MEMORY ||
                       r == KEEL_ERR_RESET || r == KEEL_ERR_OS);
            FUZZ_CHECK(r != KEEL_ERR_NO_MEMORY || g.saw_nomem);
            FUZZ_CHECK(r != KEEL_ERR_RESET || g.saw_reset); /* ECONNABORTED */
        } else {
            uint32_t timeout = arg_timeout();
            r = keel_net_connect(c->ctx, KEEL_STR("127.0.0.1"), 9, KEEL_PROTO_TCP, timeout);
            FUZZ_CHECK(r == KEEL_OK || r == KEEL_ERR_REFUSED || r == KEEL_ERR_TIMEOUT ||
                       r == KEEL_ERR_OS);
            FUZZ_CHECK(r != KEEL_ERR_REFUSED || g.saw_refused);
            FUZZ_CHECK(r != KEEL_ERR_TIMEOUT || timed_out(start, timeout) || g.saw_timedout);
        }
        /* OS only for an errno keel has no name for: never for EINTR,
         * which is retried */
        FUZZ_CHECK(r != KEEL_ERR_OS || g.saw_other);
        FUZZ_CHECK((r == KEEL_OK) == keel_net_is_open(c->ctx));
        FUZZ_CHECK(r == KEEL_OK ? g.nfds == 1 : g.nfds == 0); /* failures close what they opened */
        FUZZ_CHECK(!g.force_open || r == KEEL_OK);
    }
    g.force_open = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static keel_net *listener;
    if (listener == NULL) {
        for (size_t i = 0; i < SEND_MAX; i++) {
            g_pattern[i] = (uint8_t)(i * 7u + (i >> 8));
        }
        FUZZ_CHECK(keel_net_init(&listener) == KEEL_OK);
        FUZZ_CHECK(keel_net_bind(listener, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP) == KEEL_OK);
    }
    if (size < 2) {
        return 0;
    }
    size_t n = (size_t)data[0] << 8 | data[1];
    n = n < size - 2u ? n : size - 2u;
    memset(&g, 0, sizeof g);
    g.stream = (keel_slice){ data + 2, n };
    g.ctl = (fuzz_reader){ data + 2 + n, size - 2u - n, 0 };
    g.now = 1000000;
    install_stubs();

    conn c = { NULL, false };
    open_conn(&c, listener);
    if (fuzz_u8(&g.ctl) & 1u) {
        FUZZ_CHECK(keel_net_set_nonblocking(c.ctx, true) == KEEL_OK);
    }
    for (unsigned op = 0; op < OPS_MAX && fuzz_left(&g.ctl) > 0; op++) {
        switch (fuzz_u8(&g.ctl) % 6u) {
        case 0: op_send(&c, false); break;
        case 1: op_send(&c, true); break;
        case 2: op_recv(&c, RECV_ONE); break;
        case 3: op_recv(&c, RECV_TIMEOUT); break;
        case 4: op_recv(&c, RECV_EXACT); break;
        default: op_poll(&c); break;
        }
        FUZZ_CHECK(keel_net_is_open(c.ctx));
    }
    keel_net_free(c.ctx);
    FUZZ_CHECK(g.nfds == 0); /* every descriptor keel opened is closed */
    keel_sys_reset();
    return 0;
}

/*
 * fuzz/loop/fuzz_stream.c - the event loop's stream receive path
 * (src/loop/stream.c on top of epoll and a real loopback TCP connection).
 *
 * Drives: keel_stream_adopt, the stream's reading (on_read with the
 * unconsumed bytes), keel_stream_read_stop / keel_stream_read_start,
 * keel_stream_close, keel_loop_run_once, keel_loop_new / keel_loop_free;
 * on the peer's side keel_net_send and keel_net_shutdown (set-up:
 * keel_net_bind, keel_net_connect, keel_net_accept...).
 *
 * Input: [read_cap][k][k schedule bytes][payload (at most 64 KiB)]. Each
 * schedule byte (cycled) is a step: the peer writes a chunk of
 * fuzzer-chosen size; the loop runs once; reading is paused or resumed; or
 * the handler's appetite changes (how many of the offered bytes it
 * consumes per call: none, some, all). read_cap (64 .. 16384) bounds the
 * unconsumed bytes. After 64 rounds of the schedule (or once the payload
 * is sent) the rest is sent with reading on, the peer half-closes, and the
 * loop runs until the stream has seen the end.
 * Properties: every on_read(OK) offers exactly the unconsumed bytes: the
 * payload from the consumed count on, the bytes offered before and not
 * consumed again at its front, at least one new byte, never more than was
 * sent; nothing arrives while paused; TOO_LARGE comes only with read_cap
 * unconsumed bytes held after a call that consumed none, and ends the
 * stream; otherwise the end is on_read(CLOSED) with the unconsumed rest,
 * so that consumed + rest is exactly the payload; on_close comes once,
 * last; no leak (ASan). A fresh connection and loop per input (the
 * listener is made once).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_net_util.h"
#include "keel/loop.h"
#include "keel/net.h"

#define PAYLOAD_MAX 65536u
#define ITERATIONS_MAX 200000u

static keel_net *g_listener;
static uint16_t g_port;

typedef struct flow {
    keel_slice payload;
    size_t sent;
    size_t consumed;
    size_t offered;     /* data.len of the last on_read(OK) */
    size_t appetite;    /* 0: none, SIZE_MAX: all, else at most this many */
    size_t read_cap;
    bool paused;
    bool reoffer;       /* resumed over unconsumed bytes: they may come again alone, once */
    bool ended;         /* on_read with r != OK seen */
    keel_result end_r;
    bool closed;
    int closes;
} flow;

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static void flow_resume(flow *f, keel_stream *s)
{
    f->paused = false;
    f->reoffer = f->offered > 0;
    keel_stream_read_start(s);
}

static size_t stream_on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)s;
    flow *f = user;
    FUZZ_CHECK(!f->ended && !f->closed);
    /* the unconsumed bytes: the payload from the consumed count on */
    FUZZ_CHECK(data.len <= f->sent - f->consumed);
    FUZZ_CHECK(data.len == 0 || memcmp(data.ptr, f->payload.ptr + f->consumed, data.len) == 0);
    if (r != KEEL_OK) {
        f->ended = true;
        f->end_r = r;
        FUZZ_CHECK(r == KEEL_ERR_CLOSED || r == KEEL_ERR_TOO_LARGE);
        if (r == KEEL_ERR_TOO_LARGE) {
            /* read_cap bytes held, and the last call consumed none */
            FUZZ_CHECK(data.len >= f->read_cap && data.len == f->offered);
        } else {
            /* the end comes after every byte sent */
            FUZZ_CHECK(f->consumed + data.len == f->sent && f->sent == f->payload.len);
        }
        f->consumed += r == KEEL_ERR_CLOSED ? data.len : 0;
        return 0;
    }
    FUZZ_CHECK(!f->paused);
    /* at least one new byte, except once after read_start over held bytes
     * (loop.h: they are offered again) */
    FUZZ_CHECK(data.len > f->offered || (f->reoffer && data.len == f->offered && data.len > 0));
    f->reoffer = false;
    size_t take = min_size(f->appetite, data.len);
    f->consumed += take;
    f->offered = data.len - take;
    return take;
}

static void stream_on_close(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    flow *f = user;
    FUZZ_CHECK(!f->closed);
    FUZZ_CHECK(r == KEEL_OK || (f->ended && r == f->end_r && r == KEEL_ERR_TOO_LARGE));
    f->closed = true;
    f->closes++;
}

static const keel_stream_handlers g_handlers = {
    .on_read = stream_on_read,
    .on_close = stream_on_close,
};

/* 1..32 bytes, then powers of two up to the payload cap. */
static size_t step_size(unsigned code)
{
    if (code < 32u) {
        return code + 1u;
    }
    unsigned shift = code - 27u;
    return shift >= 16u ? PAYLOAD_MAX : (size_t)1 << shift;
}

static void peer_write(flow *f, keel_net *peer, size_t size)
{
    keel_slice chunk;
    size_t n = min_size(size, f->payload.len - f->sent);
    FUZZ_CHECK(keel_slice_sub(f->payload, f->sent, n, &chunk) == KEEL_OK);
    size_t wrote = 0;
    keel_result r = keel_net_send(peer, chunk, &wrote);
    if (r == KEEL_OK) {
        FUZZ_CHECK(wrote >= 1 && wrote <= n);
        f->sent += wrote;
    } else {
        FUZZ_CHECK(r == KEEL_ERR_WOULD_BLOCK); /* the stream is not reading */
    }
}

static void run_once(keel_loop *loop, uint32_t timeout_ms)
{
    FUZZ_CHECK(keel_loop_run_once(loop, timeout_ms) == KEEL_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) {
        return 0;
    }
    if (g_listener == NULL) {
        g_listener = fuzz_loopback_listener(&g_port);
    }
    size_t read_cap = (size_t)64u << (data[0] % 9u); /* 64 .. 16384 */
    size_t k = 1u + data[1] % 16u;
    if (k > size - 2u) {
        k = size - 2u;
    }
    const uint8_t *schedule = data + 2;
    flow f = { .payload = { data + 2 + k, min_size(size - 2u - k, PAYLOAD_MAX) },
               .appetite = SIZE_MAX,
               .read_cap = read_cap };

    keel_net *peer = NULL, *mine = NULL;
    fuzz_loopback_pair(g_listener, g_port, &peer, &mine);
    keel_loop *loop = NULL;
    FUZZ_CHECK(keel_loop_new(&loop) == KEEL_OK);
    const keel_stream_opts opts = { .read_cap = read_cap };
    keel_stream *s = NULL;
    FUZZ_CHECK(keel_stream_adopt(loop, mine, &g_handlers, &opts, &f, &s) == KEEL_OK);

    /* The schedule, for at most 64 rounds of it (a schedule without writes
     * would never end); then the rest is sent and read below. */
    for (size_t step = 0; step < 64u * k && f.sent < f.payload.len && !f.ended; step++) {
        uint8_t b = schedule[step % k];
        unsigned code = b >> 2;
        switch (b & 3u) {
        case 0: peer_write(&f, peer, step_size(code)); break;
        case 1: run_once(loop, 0); break;
        case 2:
            if (!f.paused) {
                f.paused = true;
                keel_stream_read_stop(s);
            } else {
                flow_resume(&f, s);
            }
            break;
        default:
            f.appetite = code == 0 ? 0 : code >= 32u ? SIZE_MAX : code;
            break;
        }
        if (f.paused && step % 64u == 63u) {
            /* a pause that lasts too long would stop the writer for good */
            flow_resume(&f, s);
        }
    }
    /* Resume, take everything, and let the end arrive. */
    if (f.paused) {
        flow_resume(&f, s);
    }
    f.appetite = SIZE_MAX;
    bool shut = false;
    for (unsigned i = 0; !f.ended; i++) {
        FUZZ_CHECK(i < ITERATIONS_MAX);
        if (f.sent < f.payload.len) {
            peer_write(&f, peer, PAYLOAD_MAX);
        } else if (!shut) {
            FUZZ_CHECK(keel_net_shutdown(peer, KEEL_SHUT_WR) == KEEL_OK);
            shut = true;
        }
        run_once(loop, 10);
    }
    FUZZ_CHECK(f.end_r == KEEL_ERR_CLOSED || f.end_r == KEEL_ERR_TOO_LARGE);
    if (f.end_r == KEEL_ERR_CLOSED) {
        FUZZ_CHECK(f.consumed == f.payload.len);
        keel_stream_close(s);
    }
    for (unsigned i = 0; !f.closed; i++) {
        FUZZ_CHECK(i < ITERATIONS_MAX);
        run_once(loop, 10);
    }
    FUZZ_CHECK(f.closes == 1);
    keel_loop_free(loop);
    keel_net_free(peer);
    return 0;
}

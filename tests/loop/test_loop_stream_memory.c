/*
 * tests/loop/test_loop_stream_memory.c - what a keel_stream allocates for
 * the bytes it holds, counted through the syscall seam's allocator (not
 * timed): unconsumed bytes cost amortised O(1) per byte however a peer
 * splits them, and the write queue's memory stays within its cap (plus a
 * bounded slack).
 *
 * One thread, loopback: the stream under test and a raw peer. Every
 * allocation keel makes goes through keel_sys.alloc_zeroed; the counting
 * allocator below keeps a size header in front of each block, so it knows
 * the live total as well as the sum of everything handed out.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/loop.h"
#include "net_test_util.h"
#include "loop_test_util.h"
#include "core/sys.h"

/* ---- the counting allocator ------------------------------------------------ */

/* A header of max_align_t's size keeps the blocks aligned. */
typedef union count_hdr {
    size_t n;
    max_align_t align;
} count_hdr;

static size_t alloc_total; /* bytes handed out since count_start */
static size_t alloc_calls;
static size_t alloc_live; /* bytes handed out and not yet released */
static size_t alloc_peak; /* most bytes live at once since count_start */

static void *counting_alloc(size_t n)
{
    count_hdr *h = calloc(1, sizeof *h + n);
    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    h->n = n;
    alloc_total += n;
    alloc_calls++;
    alloc_live += n;
    if (alloc_live > alloc_peak) {
        alloc_peak = alloc_live;
    }
    return h + 1;
}

static void counting_release(void *p)
{
    if (p == NULL) {
        return;
    }
    count_hdr *h = (count_hdr *)p - 1;
    alloc_live -= h->n;
    free(h);
}

/* Installed before the loop exists, so every block keel releases was
 * handed out by counting_alloc. */
static int setup(void **state)
{
    (void)state;
    alloc_total = alloc_calls = alloc_live = alloc_peak = 0;
    keel_sys.alloc_zeroed = counting_alloc;
    keel_sys.release = counting_release;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    keel_sys_reset();
    return alloc_live == 0 ? 0 : -1;
}

static void count_start(void)
{
    alloc_total = 0;
    alloc_calls = 0;
    alloc_peak = alloc_live;
}

/* ---- unconsumed bytes -------------------------------------------------------- */

/* The handler: consumes `take` bytes per call once it holds at least
 * `hold`, pattern-checking what it consumes; everything once the whole
 * transfer (`total`) is there. Closes on EOF. */
typedef struct holder {
    lt_events e;
    size_t total;
    size_t hold;
    size_t take;
    size_t calls;
    size_t offered; /* bytes received so far: received + what is held */
} holder;

static size_t holder_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    holder *h = user;
    if (r != KEEL_OK) {
        lt_note_end(&h->e, r, data);
        if (r == KEEL_ERR_CLOSED) {
            keel_stream_close(s);
        }
        return 0;
    }
    h->calls++;
    h->offered = h->e.received + data.len;
    size_t used = 0;
    if (h->offered == h->total) {
        used = data.len;
    } else if (h->take > 0 && data.len >= h->hold) {
        used = h->take < data.len ? h->take : data.len;
    }
    return lt_take(&h->e, (keel_slice){ data.ptr, used });
}

static const keel_stream_handlers holder_handlers = {
    .on_read = holder_read,
    .on_close = lt_on_close,
};

/* Send `n` pattern bytes from offset `at`, then run the loop until the
 * stream has been offered them (one on_read per segment). */
static void trickle_segment(keel_loop *loop, keel_net *raw, holder *h, size_t at, size_t n)
{
    static uint8_t seg[65536];
    assert_true(n <= sizeof seg);
    nt_fill(seg, n, at);
    assert_int_equal(keel_net_send_all(raw, nt_slice(seg, n), NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (h->offered < at + n) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
}

static keel_stream *holder_pair(keel_loop *loop, holder *h, const keel_stream_opts *o,
                                keel_net **raw)
{
    keel_net *mine = NULL;
    nt_tcp_pair(KEEL_AF_INET4, raw, &mine);
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_adopt(loop, mine, &holder_handlers, o, h, &s), KEEL_OK);
    return s;
}

static void holder_finish(keel_loop *loop, keel_net *raw, holder *h)
{
    assert_int_equal(h->e.received, h->total);
    assert_false(h->e.pattern_broken);
    keel_net_free(raw);
    lt_run_until(loop, &h->e.closed, LT_DEADLINE_MS);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* A header block trickled in small segments while the handler consumes
 * nothing until the end: the bytes allocated for holding it (which bound
 * the bytes copied: every move goes into a fresh block) stay within a
 * small constant times its size, at every size from 1 KiB to 256 KiB. */
static void trickled_block_costs_o_n_allocation(void **state)
{
    (void)state;
    enum {
        SEG = 64
    };
    for (size_t total = 1024; total <= 256u * 1024u; total *= 4u) {
        keel_loop *loop = lt_loop();
        holder h = { .total = total };
        const keel_stream_opts o = { .read_cap = 512u * 1024u };
        keel_net *raw = NULL;
        holder_pair(loop, &h, &o, &raw);
        count_start();
        for (size_t at = 0; at < total; at += SEG) {
            trickle_segment(loop, raw, &h, at, SEG);
        }
        size_t allocated = alloc_total;
        print_message("trickle %6zu B in %u B segments: %zu reads, %zu B allocated (%.2f per "
                      "byte) in %zu blocks\n",
                      total, (unsigned)SEG, h.calls, allocated, (double)allocated / (double)total,
                      alloc_calls);
        assert_int_equal(h.calls, total / SEG);
        assert_true(allocated <= 4u * total + 4096u);
        holder_finish(loop, raw, &h);
    }
}

/* Near the read cap, a handler that consumes one small request per call
 * (a pipelining peer): each call frees 16 bytes at the front while 16
 * more arrive at the back. Allocation stays O(1) per byte received, and
 * the buffer within read_cap + read_cap / 2. */
static void consuming_a_little_at_a_time_near_the_cap_costs_o_n(void **state)
{
    (void)state;
    enum {
        CAP = 64 * 1024,
        REQ = 16,
        ROUNDS = 8192
    };
    keel_loop *loop = lt_loop();
    holder h = { .total = CAP - 100 + (size_t)ROUNDS * REQ, .hold = REQ, .take = REQ };
    const keel_stream_opts o = { .read_cap = CAP };
    keel_net *raw = NULL;
    holder_pair(loop, &h, &o, &raw);
    size_t base = alloc_live; /* everything but the read buffer */
    trickle_segment(loop, raw, &h, 0, CAP - 100);
    count_start();
    size_t at = CAP - 100;
    size_t most_held = 0;
    for (unsigned k = 0; k < ROUNDS - 1; k++) {
        trickle_segment(loop, raw, &h, at, REQ);
        at += REQ;
        if (alloc_live - base > most_held) {
            most_held = alloc_live - base;
        }
    }
    size_t received = (size_t)(ROUNDS - 1) * REQ;
    size_t allocated = alloc_total;
    print_message("near the cap: %zu B received, %zu B allocated (%.2f per byte), read "
                  "buffer at most %zu B\n",
                  received, allocated, (double)allocated / (double)received, most_held);
    assert_true(allocated <= 8u * received);
    assert_true(most_held <= CAP + CAP / 2 + 64);
    trickle_segment(loop, raw, &h, at, REQ);
    holder_finish(loop, raw, &h);
}

/* ---- the write queue ----------------------------------------------------------- */

enum {
    SMALL_BUF = 16384
};

/* The queue's allocations (live bytes above `base`, which is everything
 * else) may exceed what it counts as queued by a bounded amount only: the
 * part of the chunk being sent that has gone (at most one chunk), the
 * room left in the last chunk, and the chunks' headers. */
#define QUEUE_SLACK (72u * 1024u)

static size_t queue_memory(size_t base)
{
    return alloc_live - base;
}

/* A stream whose peer does not read (small buffers: most of what is
 * written stays queued), written to until the cap refuses more, in writes
 * of `size` bytes: returns the most memory the queue held meanwhile. */
static size_t fill_to_cap(keel_stream *s, size_t size, size_t cap, size_t base)
{
    static uint8_t chunk[65536];
    size_t most = 0;
    for (;;) {
        keel_result r = keel_stream_write(s, nt_slice(chunk, size));
        if (r == KEEL_ERR_TOO_LARGE) {
            break;
        }
        assert_int_equal(r, KEEL_OK);
        assert_true(keel_stream_queued(s) <= cap);
        if (queue_memory(base) > most) {
            most = queue_memory(base);
        }
    }
    return most;
}

static size_t sink_all(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)s;
    (void)r;
    (void)user;
    return data.len;
}

static const keel_stream_handlers sink_handlers = { .on_read = sink_all };

static keel_stream *blocked_stream(keel_loop *loop, const keel_stream_opts *o, keel_net **raw)
{
    keel_net *mine = NULL;
    nt_tcp_pair(KEEL_AF_INET4, raw, &mine);
    assert_int_equal(keel_net_set_buffer_sizes(mine, SMALL_BUF, SMALL_BUF), KEEL_OK);
    assert_int_equal(keel_net_set_buffer_sizes(*raw, SMALL_BUF, SMALL_BUF), KEEL_OK);
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_adopt(loop, mine, &sink_handlers, o, NULL, &s), KEEL_OK);
    return s;
}

/* Read n bytes on the raw peer while the loop flushes the stream. */
static void peer_reads(keel_loop *loop, keel_net *raw, size_t n)
{
    static uint8_t buf[65536];
    assert_int_equal(keel_net_set_nonblocking(raw, true), KEEL_OK);
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (n > 0) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 5), KEEL_OK);
        keel_buf b = nt_buf(buf, n < sizeof buf ? n : sizeof buf);
        size_t got = 0;
        keel_result r = keel_net_recv(raw, &b, &got);
        assert_true(r == KEEL_OK || r == KEEL_ERR_WOULD_BLOCK);
        n -= got;
    }
}

static void finish_blocked(keel_loop *loop, keel_stream *s, keel_net *raw)
{
    keel_stream_abort(s);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
    keel_net_free(raw);
}

/* The queue's memory stays within write_cap plus the slack: for writes
 * whose sizes leave most of each chunk's room unused, and when a big
 * write, mostly sent, would keep its whole chunk while the queue fills up
 * again behind it. */
static void write_queue_memory_stays_within_the_cap(void **state)
{
    (void)state;
    enum {
        CAP = 256 * 1024
    };
    static const keel_stream_opts o = { .write_high = CAP, .write_low = CAP / 4, .write_cap = CAP };
    static const size_t sizes[] = { 1, 100, 2001, 3999, 4001, 40000, 65536 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        keel_loop *loop = lt_loop();
        keel_net *raw = NULL;
        keel_stream *s = blocked_stream(loop, &o, &raw);
        size_t base = alloc_live;
        size_t most = fill_to_cap(s, sizes[k], CAP, base);
        print_message("writes of %5zu B: queued %zu, queue memory at most %zu B (cap %u)\n",
                      sizes[k], keel_stream_queued(s), most, (unsigned)CAP);
        assert_true(most <= CAP + QUEUE_SLACK);
        finish_blocked(loop, s, raw);
    }
    keel_loop *loop = lt_loop();
    keel_net *raw = NULL;
    keel_stream *s = blocked_stream(loop, &o, &raw);
    size_t base = alloc_live;
    static uint8_t big[CAP];
    assert_int_equal(keel_stream_write(s, nt_slice(big, sizeof big)), KEEL_OK);
    peer_reads(loop, raw, CAP - 48 * 1024);
    size_t most = fill_to_cap(s, 1000, CAP, base);
    print_message("after a mostly sent big write: queued %zu, queue memory at most %zu B\n",
                  keel_stream_queued(s), most);
    assert_true(most <= CAP + QUEUE_SLACK);
    finish_blocked(loop, s, raw);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(trickled_block_costs_o_n_allocation, setup, teardown),
        cmocka_unit_test_setup_teardown(consuming_a_little_at_a_time_near_the_cap_costs_o_n, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(write_queue_memory_stays_within_the_cap, setup, teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}

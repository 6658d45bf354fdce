/*
 * fuzz/net/fuzz_recv.c - the real receive path over a real loopback TCP
 * connection (src/net/net.c on top of the kernel).
 *
 * Drives: keel_net_recv, keel_net_recv_timeout, keel_net_recv_exact on the
 * reading side and keel_net_send, keel_net_send_all on the writing side
 * (set-up: keel_net_init, keel_net_bind, keel_net_local_addr,
 * keel_net_connect, keel_net_accept, keel_net_set_nodelay,
 * keel_net_set_nonblocking).
 *
 * Input: [k][k schedule bytes][payload (at most 64 KiB)]. Each schedule
 * byte (cycled) picks a step - write a chunk, recv, recv_timeout(0) or
 * recv_exact - and its size; the payload goes out in fuzzer-chosen chunks
 * while the reader takes it in with fuzzer-chosen buf capacities (each
 * buf already holds a few bytes and is allocated to exactly its capacity),
 * so the framing/HTTP readers layered on top later see every split point.
 * Properties: the bytes received are exactly the bytes sent, in order,
 * none lost or duplicated; bytes already in a buf are never disturbed;
 * each result is one the contract allows for a live connection; a buf
 * without room is TOO_LARGE and nothing is read. One connection serves
 * every input (made once per process, single thread, both ends
 * non-blocking so nothing can deadlock); each input ends fully drained.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "keel/net.h"

#define PAYLOAD_MAX 65536u
#define STEPS_MAX 1000000u

static keel_net *g_writer;
static keel_net *g_reader;

static void connect_pair(void)
{
    keel_net *listener = NULL;
    keel_addr where;
    FUZZ_CHECK(keel_net_init(&listener) == KEEL_OK);
    FUZZ_CHECK(keel_net_bind(listener, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP) == KEEL_OK);
    FUZZ_CHECK(keel_net_local_addr(listener, &where) == KEEL_OK);
    FUZZ_CHECK(keel_net_init(&g_writer) == KEEL_OK);
    FUZZ_CHECK(keel_net_connect(g_writer, KEEL_STR("127.0.0.1"), where.port, KEEL_PROTO_TCP,
                                10000) == KEEL_OK);
    FUZZ_CHECK(keel_net_init(&g_reader) == KEEL_OK);
    FUZZ_CHECK(keel_net_accept(listener, g_reader, NULL) == KEEL_OK);
    keel_net_free(listener);
    /* Without it Nagle holds small chunks back until a delayed ACK (40 ms). */
    FUZZ_CHECK(keel_net_set_nodelay(g_writer, true) == KEEL_OK);
    FUZZ_CHECK(keel_net_set_nonblocking(g_writer, true) == KEEL_OK);
    FUZZ_CHECK(keel_net_set_nonblocking(g_reader, true) == KEEL_OK);
}

/* 1..32 byte-by-byte, then powers of two up to the payload cap. */
static size_t step_size(unsigned code)
{
    if (code < 32u) {
        return code + 1u;
    }
    unsigned shift = code - 27u; /* 32 -> 64 bytes */
    return shift >= 16u ? PAYLOAD_MAX : (size_t)1 << shift;
}

typedef struct flow {
    keel_slice payload;
    size_t sent;
    size_t got;
} flow;

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static void write_step(flow *f, size_t size, bool all)
{
    keel_slice chunk;
    size_t n = min_size(size, f->payload.len - f->sent);
    FUZZ_CHECK(keel_slice_sub(f->payload, f->sent, n, &chunk) == KEEL_OK);
    size_t wrote = SIZE_MAX;
    keel_result r = all ? keel_net_send_all(g_writer, chunk, 0, &wrote)
                        : keel_net_send(g_writer, chunk, &wrote);
    if (r == KEEL_OK) {
        FUZZ_CHECK(all ? wrote == n : (wrote >= 1 && wrote <= n));
    } else if (all) {
        /* A full socket buffer with no time allowed to wait. */
        FUZZ_CHECK(r == KEEL_ERR_TIMEOUT || r == KEEL_ERR_WOULD_BLOCK);
        FUZZ_CHECK(wrote < n);
    } else {
        FUZZ_CHECK(r == KEEL_ERR_WOULD_BLOCK);
        wrote = 0;
    }
    f->sent += wrote;
}

enum read_kind { READ_RECV, READ_TIMEOUT, READ_EXACT };

static void read_step(flow *f, enum read_kind kind, size_t spare, size_t prefix)
{
    size_t in_flight = f->sent - f->got;
    size_t cap = prefix + spare;
    uint8_t *store = malloc(cap); /* exact size: a write past it hits ASan */
    FUZZ_CHECK(store != NULL);
    keel_buf b;
    FUZZ_CHECK(keel_buf_init(&b, store, cap) == KEEL_OK);
    for (size_t i = 0; i < prefix; i++) {
        FUZZ_CHECK(keel_buf_append_byte(&b, (uint8_t)(0xc0u + i)) == KEEL_OK);
    }

    size_t received = SIZE_MAX;
    size_t want = min_size(spare, in_flight);
    keel_result r;
    if (kind == READ_EXACT) {
        /* Ask only for bytes already sent, so the deadline is never the answer;
         * with no room at all ask for one byte to check the TOO_LARGE rule. */
        if (spare == 0) {
            want = 1;
        }
        r = keel_net_recv_exact(g_reader, &b, want, 10000);
        received = b.len - prefix;
    } else if (kind == READ_TIMEOUT) {
        r = keel_net_recv_timeout(g_reader, &b, 0, &received);
    } else {
        r = keel_net_recv(g_reader, &b, &received);
    }

    FUZZ_CHECK(keel_buf_valid(&b) && b.ptr == store && b.cap == cap);
    for (size_t i = 0; i < prefix; i++) {
        FUZZ_CHECK(store[i] == (uint8_t)(0xc0u + i));
    }
    size_t appended = b.len - prefix;
    if (spare == 0) {
        FUZZ_CHECK(r == KEEL_ERR_TOO_LARGE && appended == 0);
    } else if (r == KEEL_OK) {
        FUZZ_CHECK(received == appended && appended >= 1 && appended <= spare);
        FUZZ_CHECK(kind != READ_EXACT || appended == want);
    } else {
        /* Nothing there yet (it is still in the writer's queue). */
        FUZZ_CHECK(kind != READ_EXACT);
        FUZZ_CHECK(r == (kind == READ_RECV ? KEEL_ERR_WOULD_BLOCK : KEEL_ERR_TIMEOUT));
        FUZZ_CHECK(appended == 0);
    }
    FUZZ_CHECK(appended <= in_flight);
    FUZZ_CHECK(appended == 0 || memcmp(store + prefix, f->payload.ptr + f->got, appended) == 0);
    f->got += appended;
    free(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_reader == NULL) {
        connect_pair();
    }
    if (size < 2) {
        return 0;
    }
    size_t k = 1u + data[0] % 16u;
    if (k > size - 1u) {
        k = size - 1u;
    }
    const uint8_t *schedule = data + 1;
    flow f = { { data + 1 + k, min_size(size - 1u - k, PAYLOAD_MAX) }, 0, 0 };

    for (size_t step = 0; f.got < f.payload.len; step++) {
        FUZZ_CHECK(step < STEPS_MAX); /* the reader must keep making progress */
        uint8_t s = schedule[step % k];
        unsigned op = s & 3u;
        unsigned code = s >> 2;
        size_t in_flight = f.sent - f.got;
        /* A write with nothing left to write reads instead, and a read with
         * nothing in flight writes instead: every step can make progress. */
        if (op == 0 && f.sent == f.payload.len) {
            op = 3;
        } else if (op != 0 && in_flight == 0) {
            op = 0;
        }
        if (op == 0) {
            write_step(&f, step_size(code), code & 1u);
            continue;
        }
        enum read_kind kind = op == 1 ? READ_RECV : op == 2 ? READ_TIMEOUT : READ_EXACT;
        if (code == 63u) {
            read_step(&f, kind, 0, step % 4u); /* no room: refused, then a real read */
        }
        read_step(&f, kind, step_size(code), step % 4u);
    }
    FUZZ_CHECK(f.sent == f.payload.len && f.got == f.sent);

    /* Nothing may stay in flight for the next input. */
    uint8_t probe[1];
    keel_buf b;
    size_t n = 0;
    FUZZ_CHECK(keel_buf_init(&b, probe, sizeof probe) == KEEL_OK);
    FUZZ_CHECK(keel_net_recv(g_reader, &b, &n) == KEEL_ERR_WOULD_BLOCK && b.len == 0);
    return 0;
}

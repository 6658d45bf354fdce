/*
 * fuzz/loop/fuzz_udp.c - the event loop's UDP receive path (src/loop/udp.c
 * on top of epoll and a real loopback UDP socket).
 *
 * Drives: keel_udp_start, the handle's delivery (udp_deliver_burst: one
 * recvfrom per datagram into the loop's scratch room, TRUNCATED for a
 * datagram longer than max_datagram), keel_udp_local_addr,
 * keel_udp_close, keel_loop_run_once; the sender is a keel_net
 * (keel_net_bind, keel_net_sendto).
 *
 * Input: [max_datagram (2 bytes)][k][k size bytes][payload]. The handle
 * gets max_datagram 1 .. 65536; the payload is cut into datagrams of
 * fuzzer-chosen sizes (0 .. 65507 bytes, the largest IPv4 allows; the
 * payload is reused cyclically for sizes beyond it), sent in bursts of up
 * to 8 (and 96 KiB, so that the receive buffer never drops one) with the
 * loop run between bursts.
 * Properties: every datagram arrives once, in order (loopback), from the
 * sender's address: KEEL_OK with exactly its bytes when it fits,
 * KEEL_ERR_TRUNCATED with exactly its first max_datagram bytes when it does
 * not, keel_udp_datagram_size giving its real size either way; nothing else is delivered; no leak (ASan). A fresh handle per input
 * (UDP sockets leave nothing behind), one loop and sender per process.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "keel/loop.h"
#include "keel/net.h"

#define DATAGRAM_MAX 65507u /* IPv4: 65535 - 20 (IP) - 8 (UDP) */
#define DATAGRAMS_MAX 64u
#define BURST 8u
#define BURST_BYTES (96u * 1024u) /* well inside the default receive buffer */
#define ITERATIONS_MAX 100000u

static keel_loop *g_loop;
static keel_net *g_sender;
static keel_addr g_sender_addr;

typedef struct expect {
    size_t sizes[DATAGRAMS_MAX];
    size_t offsets[DATAGRAMS_MAX]; /* of each datagram's first byte in the payload */
    size_t count;
    size_t delivered;
    size_t max_datagram;
    const uint8_t *payload;
    size_t payload_len;
} expect;

/* Byte i of a datagram that starts at payload offset off (cyclic). */
static uint8_t datagram_byte(const expect *e, size_t off, size_t i)
{
    return e->payload[(off + i) % e->payload_len];
}

static void on_datagram(keel_udp *u, keel_result r, keel_slice data, const keel_addr *from,
                        void *user)
{
    expect *e = user;
    FUZZ_CHECK(e->delivered < e->count);
    size_t want = e->sizes[e->delivered];
    size_t off = e->offsets[e->delivered];
    FUZZ_CHECK(from != NULL && keel_addr_eq(from, &g_sender_addr));
    if (want <= e->max_datagram) {
        FUZZ_CHECK(r == KEEL_OK && data.len == want);
    } else {
        FUZZ_CHECK(r == KEEL_ERR_TRUNCATED && data.len == e->max_datagram);
    }
    /* the real size, as the kernel reported it (MSG_TRUNC) */
    FUZZ_CHECK(keel_udp_datagram_size(u) == want);
    for (size_t i = 0; i < data.len; i++) {
        FUZZ_CHECK(data.ptr[i] == datagram_byte(e, off, i));
    }
    e->delivered++;
}

static void send_datagram(const expect *e, size_t n, const keel_addr *to, uint8_t *scratch)
{
    size_t size = e->sizes[n];
    for (size_t i = 0; i < size; i++) {
        scratch[i] = datagram_byte(e, e->offsets[n], i);
    }
    keel_slice d = { size > 0 ? scratch : NULL, size };
    FUZZ_CHECK(keel_net_sendto(g_sender, d, to) == KEEL_OK);
}

/* Sizes: small ones often, the edges around max_datagram, the largest. */
static size_t datagram_size(uint8_t code, size_t max_datagram)
{
    switch (code >> 6) {
    case 0: return code & 63u;
    case 1: {
        size_t near = max_datagram + (code & 7u) - 4u; /* max - 4 .. max + 3 */
        return near > DATAGRAM_MAX ? DATAGRAM_MAX : near;
    }
    case 2: return (size_t)(code & 63u) * 1024u;
    default: return DATAGRAM_MAX - (code & 63u);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t scratch[DATAGRAM_MAX];
    if (size < 4) {
        return 0;
    }
    if (g_loop == NULL) {
        FUZZ_CHECK(keel_loop_new(&g_loop) == KEEL_OK);
        FUZZ_CHECK(keel_net_init(&g_sender) == KEEL_OK);
        FUZZ_CHECK(keel_net_bind(g_sender, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_UDP) == KEEL_OK);
        FUZZ_CHECK(keel_net_local_addr(g_sender, &g_sender_addr) == KEEL_OK);
    }
    expect e = { .max_datagram = 1u + ((size_t)data[0] << 8 | data[1]) };
    size_t k = 1u + data[2] % DATAGRAMS_MAX;
    if (k > size - 3u) {
        k = size - 3u;
    }
    const uint8_t *codes = data + 3;
    e.payload = data + 3 + k;
    e.payload_len = size - 3u - k;
    if (e.payload_len == 0) {
        static const uint8_t filler = 0x5a;
        e.payload = &filler;
        e.payload_len = 1;
    }
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        e.sizes[i] = datagram_size(codes[i], e.max_datagram);
        e.offsets[i] = off;
        off = (off + e.sizes[i]) % e.payload_len;
    }
    e.count = k;

    keel_net *sock = NULL;
    FUZZ_CHECK(keel_net_init(&sock) == KEEL_OK);
    FUZZ_CHECK(keel_net_bind(sock, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_UDP) == KEEL_OK);
    keel_udp *u = NULL;
    FUZZ_CHECK(keel_udp_start(g_loop, sock, e.max_datagram, on_datagram, &e, &u) == KEEL_OK);
    keel_addr to;
    FUZZ_CHECK(keel_udp_local_addr(u, &to) == KEEL_OK);

    size_t sent = 0;
    for (unsigned i = 0; e.delivered < e.count; i++) {
        FUZZ_CHECK(i < ITERATIONS_MAX);
        /* a burst, once everything before it has arrived (the receive
         * buffer then always has room: no datagram is dropped) */
        if (sent == e.delivered) {
            size_t bytes = 0;
            for (size_t b = 0; b < BURST && sent < e.count; b++) {
                if (b > 0 && bytes + e.sizes[sent] > BURST_BYTES) {
                    break;
                }
                bytes += e.sizes[sent];
                send_datagram(&e, sent++, &to, scratch);
            }
        }
        FUZZ_CHECK(keel_loop_run_once(g_loop, 100) == KEEL_OK);
    }
    /* nothing more comes */
    FUZZ_CHECK(keel_loop_run_once(g_loop, 0) == KEEL_OK);
    FUZZ_CHECK(e.delivered == e.count);
    keel_udp_close(u);
    FUZZ_CHECK(keel_loop_run_once(g_loop, 0) == KEEL_OK);
    return 0;
}

/*
 * fuzz/codec/fuzz_reader.c - the blocking line/frame reader (src/codec/reader.c)
 * over a real loopback TCP connection.
 *
 * Drives: keel_reader_init, keel_reader_read_line, keel_reader_read_frame,
 * keel_reader_buffered (and through them keel_net_recv_timeout and the
 * decoders); the writer is a keel_net (keel_net_send, keel_net_shutdown).
 *
 * Input: [mode][max][extra][k][k schedule bytes][payload (at most 16 KiB)].
 * mode 0..2 is a line decoder (LF, ANY, CRLF) with max_len = max, 3..5 a
 * frame decoder (width 1, 2, 4) with max_frame = max. The reader's storage
 * is exactly the largest item plus extra bytes (heap, so an overflow is
 * seen by ASan); one byte less is first checked to be INVALID_ARG. Each
 * schedule byte (cycled) writes a chunk of fuzzer-chosen size, or reads
 * one item with timeout 0 or 2 ms, for 64 rounds of the schedule at most;
 * then the rest is sent, the writer half-closes and the reader reads to
 * the end.
 * Properties: the items are those of one decode pass over the whole
 * payload, in order, byte for byte, whatever the chunking and however the
 * storage is compacted; a read with time to wait returns the next item
 * once all of its bytes are sent; TOO_LARGE / PARSE come where that pass
 * meets them, and again on the next call (sticky); at the end of the
 * stream the unterminated last line is returned (lines) and a partial
 * frame is INCOMPLETE, then CLOSED; keel_reader_buffered always shows
 * exactly the bytes received and not yet returned. A fresh connection per
 * input (the listener is made once).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_net_util.h"
#include "keel/codec.h"
#include "keel/net.h"
#include "keel/reader.h"

#define PAYLOAD_MAX 16384u
#define ITEMS_MAX (PAYLOAD_MAX + 1u)
#define STEPS_MAX 100000u

static keel_net *g_listener;
static uint16_t g_port;

typedef struct codec_cfg {
    bool lines;
    keel_line_decoder line;
    keel_frame_decoder frame;
    size_t largest; /* terminator or prefix included */
} codec_cfg;

/* The whole payload decoded in one pass: items (offset, length) until the
 * first non-OK result, which is *end (INCOMPLETE: the payload just ends),
 * at byte *end_at. */
typedef struct reference {
    size_t off[ITEMS_MAX];
    size_t len[ITEMS_MAX];
    size_t next_pos[ITEMS_MAX]; /* where the next item starts */
    size_t count;
    keel_result end;
    size_t end_at;
} reference;

static keel_result decode(codec_cfg *c, keel_slice in, bool final, keel_slice *item, size_t *used)
{
    if (c->lines) {
        keel_line_decoder d = c->line; /* a fresh scan position each time */
        return final ? keel_line_decode_final(&d, in, item, used)
                     : keel_line_decode(&d, in, item, used);
    }
    return keel_frame_decode(&c->frame, in, item, used, NULL);
}

static void reference_pass(codec_cfg *c, keel_slice payload, reference *ref)
{
    size_t pos = 0;
    ref->count = 0;
    for (;;) {
        keel_slice rest, item;
        size_t used = 0;
        FUZZ_CHECK(keel_slice_from_off(payload, pos, &rest) == KEEL_OK);
        keel_result r = decode(c, rest, false, &item, &used);
        if (r != KEEL_OK) {
            ref->end = r;
            ref->end_at = pos;
            return;
        }
        FUZZ_CHECK(ref->count < ITEMS_MAX);
        ref->off[ref->count] = pos + (size_t)(item.len > 0 ? item.ptr - rest.ptr : 0);
        ref->len[ref->count] = item.len;
        pos += used;
        ref->next_pos[ref->count] = pos;
        ref->count++;
    }
}

typedef struct run {
    codec_cfg *c;
    reference *ref;
    keel_slice payload;
    keel_reader r;
    keel_net *writer;
    size_t sent;
    size_t next;     /* reference items returned so far */
    bool done;       /* a terminal result was seen */
} run;

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static keel_result read_item(run *x, uint32_t timeout, keel_slice *item)
{
    return x->c->lines ? keel_reader_read_line(&x->r, &x->c->line, timeout, item)
                       : keel_reader_read_frame(&x->r, &x->c->frame, timeout, item);
}

/* The end of the whole input (after EOF): what the unterminated rest is. */
static keel_result at_eof(run *x, size_t *len)
{
    keel_slice rest, item;
    size_t used = 0;
    FUZZ_CHECK(keel_slice_from_off(x->payload, x->ref->end_at, &rest) == KEEL_OK);
    keel_result r = decode(x->c, rest, true, &item, &used);
    *len = item.len;
    return r;
}

/* One read; eof: the writer has half-closed and everything is sent. */
static void read_step(run *x, uint32_t timeout, bool eof)
{
    keel_slice item = { NULL, 0 };
    keel_result r = read_item(x, timeout, &item);
    reference *ref = x->ref;
    if (r == KEEL_OK && x->next < ref->count) {
        FUZZ_CHECK(item.len == ref->len[x->next]);
        FUZZ_CHECK(item.len == 0 ||
                   memcmp(item.ptr, x->payload.ptr + ref->off[x->next], item.len) == 0);
        x->next++;
    } else if (r == KEEL_ERR_TIMEOUT) {
        FUZZ_CHECK(!eof);
        /* with time to wait, a wholly sent item must come */
        bool next_sent = x->next < ref->count && ref->next_pos[x->next] <= x->sent;
        FUZZ_CHECK(timeout == 0 || !next_sent);
    } else if (x->next < ref->count) {
        FUZZ_FAIL("an item of the reference pass did not come");
    } else if (ref->end == KEEL_ERR_TOO_LARGE || ref->end == KEEL_ERR_PARSE) {
        FUZZ_CHECK(r == ref->end);
        keel_slice again;
        FUZZ_CHECK(read_item(x, 0, &again) == r); /* sticky */
        x->done = true;
    } else {
        /* the payload ends mid-item or after the last one: only at EOF */
        FUZZ_CHECK(eof);
        size_t len = 0;
        keel_result want = at_eof(x, &len);
        if (want == KEEL_OK) {
            FUZZ_CHECK(r == KEEL_OK && item.len == len &&
                       memcmp(item.ptr, x->payload.ptr + ref->end_at, len) == 0);
            FUZZ_CHECK(read_item(x, 0, &item) == KEEL_ERR_CLOSED);
        } else if (want == KEEL_ERR_INCOMPLETE && x->payload.len == ref->end_at) {
            FUZZ_CHECK(r == KEEL_ERR_CLOSED); /* nothing left at all */
        } else {
            /* a partial frame (INCOMPLETE), an unterminated CRLF line
             * (PARSE) or an over-long last line (TOO_LARGE) */
            FUZZ_CHECK(r == want);
        }
        x->done = true;
    }
    if (!x->done) {
        /* buffered: exactly bytes received and not yet returned, i.e. the
         * payload from the end of the last item returned on */
        keel_slice b = keel_reader_buffered(&x->r);
        size_t from = x->next > 0 ? ref->next_pos[x->next - 1] : 0;
        FUZZ_CHECK(from + b.len <= x->sent);
        FUZZ_CHECK(b.len == 0 || memcmp(b.ptr, x->payload.ptr + from, b.len) == 0);
    }
}

static void write_step(run *x, size_t size)
{
    keel_slice chunk;
    size_t n = min_size(size, x->payload.len - x->sent);
    FUZZ_CHECK(keel_slice_sub(x->payload, x->sent, n, &chunk) == KEEL_OK);
    size_t wrote = 0;
    keel_result r = keel_net_send(x->writer, chunk, &wrote);
    if (r == KEEL_OK) {
        FUZZ_CHECK(wrote >= 1 && wrote <= n);
        x->sent += wrote;
    } else {
        FUZZ_CHECK(r == KEEL_ERR_WOULD_BLOCK);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static reference ref;
    if (size < 5) {
        return 0;
    }
    if (g_listener == NULL) {
        g_listener = fuzz_loopback_listener(&g_port);
    }
    codec_cfg c = { .lines = data[0] % 6u < 3u };
    size_t max = data[1];
    if (c.lines) {
        keel_line_mode mode = (keel_line_mode)(data[0] % 3u);
        FUZZ_CHECK(keel_line_decoder_init(&c.line, max, mode) == KEEL_OK);
        c.largest = max + (mode == KEEL_LINE_LF ? 1u : 2u);
    } else {
        static const size_t widths[] = { 1, 2, 4 };
        size_t w = widths[data[0] % 6u - 3u];
        FUZZ_CHECK(keel_frame_decoder_init(&c.frame, w, max) == KEEL_OK);
        c.largest = w + max;
    }
    size_t cap = c.largest + data[2];
    size_t k = 1u + data[3] % 16u;
    if (k > size - 4u) {
        k = size - 4u;
    }
    const uint8_t *schedule = data + 4;
    keel_slice payload = { data + 4 + k, min_size(size - 4u - k, PAYLOAD_MAX) };
    if (payload.len == 0) {
        payload.ptr = NULL;
    }
    reference_pass(&c, payload, &ref);

    keel_net *writer = NULL, *sock = NULL;
    fuzz_loopback_pair(g_listener, g_port, &writer, &sock);

    uint8_t *storage = malloc(cap);
    FUZZ_CHECK(storage != NULL);
    run x = { .c = &c, .ref = &ref, .payload = payload, .writer = writer };
    keel_buf store;
    keel_slice item;
    /* One byte short of the largest item: refused before any read. */
    FUZZ_CHECK(keel_buf_init(&store, storage, c.largest - 1u) == KEEL_OK);
    FUZZ_CHECK(keel_reader_init(&x.r, sock, store) == (c.largest > 1u ? KEEL_OK : KEEL_ERR_INVALID_ARG));
    if (c.largest > 1u) {
        FUZZ_CHECK(read_item(&x, 0, &item) == KEEL_ERR_INVALID_ARG);
    }
    FUZZ_CHECK(keel_buf_init(&store, storage, cap) == KEEL_OK);
    FUZZ_CHECK(keel_reader_init(&x.r, sock, store) == KEEL_OK);

    /* The schedule, for at most 64 rounds of it (a schedule without writes
     * would never end); then the rest is sent and read. */
    for (size_t step = 0; step < 64u * k && x.sent < payload.len && !x.done; step++) {
        uint8_t s = schedule[step % k];
        unsigned code = s >> 2;
        switch (s & 3u) {
        case 0:
        case 1: write_step(&x, code < 32u ? code + 1u : (size_t)1 << (code - 27u)); break;
        case 2: read_step(&x, 0, false); break;
        default: read_step(&x, 2, false); break;
        }
    }
    for (size_t step = 0; x.sent < payload.len && !x.done; step++) {
        FUZZ_CHECK(step < STEPS_MAX);
        write_step(&x, PAYLOAD_MAX);
        read_step(&x, 0, false);
    }
    if (!x.done) {
        FUZZ_CHECK(keel_net_shutdown(writer, KEEL_SHUT_WR) == KEEL_OK);
    }
    for (size_t step = 0; !x.done; step++) {
        FUZZ_CHECK(step < STEPS_MAX);
        read_step(&x, 1000, true);
    }
    free(storage);
    keel_net_free(sock);
    keel_net_free(writer);
    return 0;
}

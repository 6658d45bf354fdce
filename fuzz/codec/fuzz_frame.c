/*
 * fuzz/codec/fuzz_frame.c - the length-prefixed frame decoder and encoder
 * (src/codec/codec.c).
 *
 * Drives: keel_frame_decoder_init, keel_frame_decode, keel_frame_encode.
 *
 * Input: [width][max_frame: 2 bytes][k][k chunk sizes][data...]. width
 * picks 1, 2 or 4 (or, 1 time in 16, an invalid width that init must
 * refuse); max_frame is small, or "any" when its high byte is 0xff. The
 * data arrives as a growing receive buffer in the chunk sizes (cycled; 0
 * re-offers the same bytes once), decoded frames are dropped from the
 * front, and each offer is a fresh heap copy of exactly the unconsumed
 * bytes (an over-read is visible to ASan).
 * Properties: every offer's result, payload, consumed and need equal a
 * plain reference computed from the offered bytes alone (TOO_LARGE as soon
 * as the prefix is complete, before any payload byte); the frames equal
 * those of one pass over the whole input, in order, with consumed counts
 * adding up; every result is a documented one; each payload re-encodes to
 * exactly the frame's bytes, and into a buf that is too small nothing is
 * written.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "keel/codec.h"

typedef struct ref_item {
    keel_result r;
    size_t len;  /* payload length (OK) */
    size_t need; /* (INCOMPLETE) */
} ref_item;

static ref_item reference(const uint8_t *p, size_t n, size_t w, size_t max)
{
    ref_item it = { KEEL_ERR_INCOMPLETE, 0, w };
    if (n < w) {
        return it;
    }
    uint64_t len = 0;
    for (size_t i = 0; i < w; i++) {
        len = (len << 8) | p[i];
    }
    if (len > max) {
        it.r = KEEL_ERR_TOO_LARGE;
    } else if (n - w < len) {
        it.need = w + (size_t)len;
    } else {
        it.r = KEEL_OK;
        it.len = (size_t)len;
    }
    return it;
}

/* Decode p[0, n) (from an exact heap copy when fresh) and check it against
 * the reference; *len gets the payload length on OK. */
static keel_result offer(const keel_frame_decoder *d, const uint8_t *p, size_t n, bool fresh,
                         size_t *len)
{
    uint8_t *copy = NULL;
    if (fresh && n > 0) {
        copy = malloc(n);
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, p, n);
    }
    const uint8_t *base = copy != NULL ? copy : p;
    keel_slice in;
    FUZZ_CHECK(keel_slice_from(n > 0 ? base : NULL, n, &in) == KEEL_OK);
    keel_slice payload = { (const uint8_t *)"x", 1 };
    size_t used = 12345, need = 777;
    keel_result r = keel_frame_decode(d, in, &payload, &used, &need);
    ref_item want = reference(p, n, d->width, d->max_frame);
    FUZZ_CHECK(r == want.r);
    if (r == KEEL_OK) {
        FUZZ_CHECK(payload.len == want.len);
        FUZZ_CHECK(used == d->width + want.len);
        FUZZ_CHECK(payload.len == 0 || payload.ptr == base + d->width);
        FUZZ_CHECK(keel_slice_valid(payload));
        FUZZ_CHECK(need == 777);
        *len = payload.len;
    } else {
        FUZZ_CHECK(used == 0);
        FUZZ_CHECK(payload.len == 1);
        FUZZ_CHECK(r == KEEL_ERR_INCOMPLETE ? need == want.need && need > n : need == 777);
    }
    free(copy);
    return r;
}

/* Re-encode a decoded payload: exactly the frame's bytes when it fits,
 * nothing at all when the buf is one byte (or more) short. */
static void round_trip(const keel_frame_decoder *d, const uint8_t *frame, size_t len, size_t short_by)
{
    size_t total = d->width + len;
    uint8_t *store = malloc(total + 1);
    FUZZ_CHECK(store != NULL);
    keel_slice payload;
    FUZZ_CHECK(keel_slice_from(len > 0 ? frame + d->width : NULL, len, &payload) == KEEL_OK);
    keel_buf b;
    size_t cap = short_by > 0 && short_by <= total ? total - short_by : total;
    FUZZ_CHECK(keel_buf_init(&b, store, cap) == KEEL_OK);
    memset(store, 0xee, total + 1);
    keel_result r = keel_frame_encode(&b, d, payload);
    if (cap < total) {
        FUZZ_CHECK(r == KEEL_ERR_TOO_LARGE && b.len == 0);
        for (size_t i = 0; i <= total; i++) {
            FUZZ_CHECK(store[i] == 0xee);
        }
    } else {
        FUZZ_CHECK(r == KEEL_OK && b.len == total);
        FUZZ_CHECK(memcmp(store, frame, total) == 0);
        FUZZ_CHECK(store[total] == 0xee);
    }
    free(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader in = { data, size, 0 };
    uint8_t wsel = fuzz_u8(&in);
    uint16_t m = fuzz_u16(&in);
    size_t k = fuzz_u8(&in) % 16u;
    uint8_t chunks[16];
    for (size_t i = 0; i < k; i++) {
        chunks[i] = fuzz_u8(&in);
    }
    const uint8_t *text = data + in.pos;
    size_t n = fuzz_left(&in);

    static const size_t widths[] = { 1, 2, 4 };
    static const size_t bad_widths[] = { 0, 3, 5, 8 };
    keel_frame_decoder d;
    if (wsel >= 0xf0u) {
        FUZZ_CHECK(keel_frame_decoder_init(&d, bad_widths[wsel % 4u], 10) ==
                   KEEL_ERR_INVALID_ARG);
        return 0;
    }
    size_t max = (m >> 8) == 0xffu ? SIZE_MAX : m;
    FUZZ_CHECK(keel_frame_decoder_init(&d, widths[wsel % 3u], max) == KEEL_OK);

    /* One pass over the whole input (its tail is the end of the fuzzer's
     * buffer: no copy needed). */
    size_t pos = 0, len = 0, nframes = 0;
    size_t *ends = malloc((n + 1) * sizeof *ends);
    FUZZ_CHECK(ends != NULL);
    keel_result r;
    while ((r = offer(&d, text + pos, n - pos, false, &len)) == KEEL_OK) {
        ends[nframes++] = pos + d.width + len;
        pos += d.width + len;
    }
    keel_result whole_end = r;
    size_t whole_pos = pos;

    size_t start = 0, avail = 0, ci = 0, got = 0;
    for (;;) {
        r = offer(&d, text + start, avail - start, true, &len);
        if (r == KEEL_OK) {
            size_t used = d.width + len;
            FUZZ_CHECK(got < nframes && start + used == ends[got]);
            round_trip(&d, text + start, len, k ? chunks[got % k] % 4u : 0u);
            got++;
            start += used;
            continue;
        }
        if (r != KEEL_ERR_INCOMPLETE || avail == n) {
            break;
        }
        size_t step = k ? chunks[ci++ % k] : 1u;
        if (step == 0) {
            FUZZ_CHECK(offer(&d, text + start, avail - start, true, &len) == KEEL_ERR_INCOMPLETE);
            step = 1;
        }
        avail = step < n - avail ? avail + step : n;
    }
    FUZZ_CHECK(got == nframes && start == whole_pos && r == whole_end);
    FUZZ_CHECK(r == KEEL_ERR_INCOMPLETE || r == KEEL_ERR_TOO_LARGE);
    free(ends);
    return 0;
}

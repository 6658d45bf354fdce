/*
 * fuzz/codec/fuzz_line.c - the line decoder and encoder (src/codec/codec.c).
 *
 * Drives: keel_line_decoder_init, keel_line_decode, keel_line_decode_final,
 * keel_line_encode.
 *
 * Input: [mode][max][k][k chunk sizes][data...]. max selects max_len: 0..239
 * as is, 240..255 the largest values, SIZE_MAX - 15 .. SIZE_MAX, where the
 * decoder's window arithmetic (max_len + terminator) would overflow. The
 * data is fed to the
 * decoder as a growing receive buffer: chunk sizes (cycled; 0 means "offer
 * the same bytes again, then one more") say how many bytes arrive between
 * offers, decoded lines are dropped from the front, and every offer is a
 * fresh heap copy of exactly the unconsumed bytes (an over-read is visible
 * to ASan). At the end of the data, what is left goes to
 * keel_line_decode_final.
 * Properties: every offer's result, line and consumed count equal a plain
 * reference computed from the offered bytes alone (so TOO_LARGE comes
 * exactly when no completion could give a line within max_len, never later);
 * the lines equal those of one decode pass over the whole input, in order,
 * and consumed counts add up to the bytes taken (nothing lost or
 * duplicated); every result is one the header documents; each decoded line
 * round-trips through keel_line_encode when the encoder accepts it, and the
 * encoder refuses exactly what it documents, leaving the buf unchanged.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "keel/codec.h"

typedef struct ref_item {
    keel_result r;
    size_t len;      /* line length (OK) */
    size_t consumed; /* (OK) */
} ref_item;

static bool has_byte(const uint8_t *p, size_t n, uint8_t b)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == b) {
            return true;
        }
    }
    return false;
}

/* Length of the line if an LF were at p[n]: a CR before it belongs to the
 * terminator in the CR modes. */
static size_t content_if_lf_at(const uint8_t *p, size_t n, keel_line_mode mode)
{
    return mode != KEEL_LINE_LF && n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

/* What keel_line_decode must answer for exactly the bytes p[0, n). Without
 * an LF, TOO_LARGE when even an LF arriving next would end a line longer
 * than max. */
static ref_item reference(const uint8_t *p, size_t n, size_t max, keel_line_mode mode, bool final)
{
    ref_item it = { KEEL_ERR_INCOMPLETE, 0, 0 };
    size_t lf = 0;
    while (lf < n && p[lf] != '\n') {
        lf++;
    }
    if (lf < n) {
        size_t c = content_if_lf_at(p, lf, mode);
        if (c > max) {
            it.r = KEEL_ERR_TOO_LARGE;
        } else if (mode == KEEL_LINE_CRLF && (c == lf || has_byte(p, c, '\r'))) {
            it.r = KEEL_ERR_PARSE;
        } else {
            it.r = KEEL_OK;
            it.len = c;
            it.consumed = lf + 1;
        }
        return it;
    }
    if (content_if_lf_at(p, n, mode) > max) {
        it.r = KEEL_ERR_TOO_LARGE;
    } else if (final && n > 0) {
        if (mode == KEEL_LINE_CRLF) {
            it.r = KEEL_ERR_PARSE;
        } else if (n > max) {
            it.r = KEEL_ERR_TOO_LARGE;
        } else {
            it.r = KEEL_OK;
            it.len = n;
            it.consumed = n;
        }
    }
    return it;
}

/* Decode p[0, n) and check the answer against the reference: *len gets
 * the line's length (OK), *consumed the count. With fresh, from a heap copy
 * of exactly n bytes (p[n] may be readable input when p is not the tail of
 * the fuzzer's buffer). */
static keel_result offer(keel_line_decoder *d, const uint8_t *p, size_t n, bool final, bool fresh,
                         size_t *len, size_t *consumed)
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
    keel_slice line = { (const uint8_t *)"x", 1 };
    size_t used = 12345;
    keel_result r = final ? keel_line_decode_final(d, in, &line, &used)
                          : keel_line_decode(d, in, &line, &used);
    ref_item want = reference(p, n, d->max_len, d->mode, final);
    FUZZ_CHECK(r == want.r);
    if (r == KEEL_OK) {
        FUZZ_CHECK(used == want.consumed);
        FUZZ_CHECK(line.len == want.len);
        FUZZ_CHECK(line.len == 0 || line.ptr == base);
        FUZZ_CHECK(keel_slice_valid(line));
        *len = line.len;
    } else {
        FUZZ_CHECK(used == 0);
        FUZZ_CHECK(line.len == 1);
    }
    if (r != KEEL_ERR_INCOMPLETE) {
        FUZZ_CHECK(d->scanned == 0);
    } else {
        FUZZ_CHECK(d->scanned <= n);
    }
    *consumed = used;
    free(copy);
    return r;
}

/* The encoder accepts a decoded line exactly when it documents, and then
 * the decoder gives the same line back from what it wrote. */
static void round_trip(const keel_line_decoder *cfg, const uint8_t *line, size_t len,
                       size_t room)
{
    uint8_t store[300 + 2];
    keel_buf b;
    size_t cap = room < sizeof store ? room : sizeof store;
    FUZZ_CHECK(keel_buf_init(&b, store, cap) == KEEL_OK);
    memset(store, 0xee, sizeof store);
    keel_slice in;
    FUZZ_CHECK(keel_slice_from(len > 0 ? line : NULL, len, &in) == KEEL_OK);
    size_t term = cfg->mode == KEEL_LINE_LF ? 1u : 2u;
    keel_result want = KEEL_OK;
    if (len > cfg->max_len) {
        want = KEEL_ERR_TOO_LARGE;
    } else if (has_byte(line, len, '\n') ||
               (cfg->mode != KEEL_LINE_LF && has_byte(line, len, '\r'))) {
        want = KEEL_ERR_PARSE;
    } else if (len + term > cap) {
        want = KEEL_ERR_TOO_LARGE;
    }
    keel_result r = keel_line_encode(&b, cfg, in);
    FUZZ_CHECK(r == want);
    if (r != KEEL_OK) {
        FUZZ_CHECK(b.len == 0);
        for (size_t i = 0; i < sizeof store; i++) {
            FUZZ_CHECK(store[i] == 0xee);
        }
        return;
    }
    FUZZ_CHECK(b.len == len + term);
    keel_line_decoder d = *cfg;
    d.scanned = 0;
    keel_slice back;
    size_t used = 0;
    FUZZ_CHECK(keel_line_decode(&d, keel_buf_slice(&b), &back, &used) == KEEL_OK);
    FUZZ_CHECK(used == b.len);
    FUZZ_CHECK(back.len == len);
    FUZZ_CHECK(len == 0 || memcmp(back.ptr, line, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader in = { data, size, 0 };
    keel_line_mode mode = (keel_line_mode)(fuzz_u8(&in) % 3u);
    uint8_t max_sel = fuzz_u8(&in);
    size_t max = max_sel < 240u ? max_sel : SIZE_MAX - (size_t)(255u - max_sel);
    size_t k = fuzz_u8(&in) % 16u;
    uint8_t chunks[16];
    for (size_t i = 0; i < k; i++) {
        chunks[i] = fuzz_u8(&in);
    }
    const uint8_t *text = data + in.pos;
    size_t n = fuzz_left(&in);

    keel_line_decoder whole, inc;
    FUZZ_CHECK(keel_line_decoder_init(&whole, max, mode) == KEEL_OK);
    FUZZ_CHECK(keel_line_decoder_init(&inc, max, mode) == KEEL_OK);

    /* One pass over the whole input: the lines every chunking must give. */
    size_t pos = 0, len = 0, used = 0;
    size_t nlines = 0;
    size_t *ends = malloc((n + 1) * sizeof *ends);
    FUZZ_CHECK(ends != NULL);
    keel_result r;
    /* (text + n is the end of the fuzzer's buffer: no copy needed.) */
    while ((r = offer(&whole, text + pos, n - pos, false, false, &len, &used)) == KEEL_OK) {
        FUZZ_CHECK(used > 0 && used <= n - pos);
        ends[nlines++] = pos + used;
        pos += used;
    }
    keel_result whole_end = r;
    size_t whole_pos = pos;

    /* The same input arriving in chunks. */
    size_t start = 0, avail = 0, ci = 0, got = 0;
    for (;;) {
        r = offer(&inc, text + start, avail - start, false, true, &len, &used);
        if (r == KEEL_OK) {
            FUZZ_CHECK(got < nlines && start + used == ends[got]);
            round_trip(&inc, text + start, len, k ? chunks[got % k] + 2u : SIZE_MAX);
            got++;
            start += used;
            continue;
        }
        if (r != KEEL_ERR_INCOMPLETE || avail == n) {
            break;
        }
        size_t step = k ? chunks[ci++ % k] : 1u;
        if (step == 0) {
            /* The same bytes again: the same answer. */
            FUZZ_CHECK(offer(&inc, text + start, avail - start, false, true, &len, &used) ==
                       KEEL_ERR_INCOMPLETE);
            step = 1;
        }
        avail = step < n - avail ? avail + step : n;
    }
    FUZZ_CHECK(got == nlines && start == whole_pos && r == whole_end);
    if (r == KEEL_ERR_INCOMPLETE) {
        /* End of stream: the unterminated rest, if any, is the last line. */
        r = offer(&inc, text + start, n - start, true, true, &len, &used);
        FUZZ_CHECK(r == KEEL_OK || r == KEEL_ERR_INCOMPLETE || r == KEEL_ERR_TOO_LARGE ||
                   r == KEEL_ERR_PARSE);
        FUZZ_CHECK(r != KEEL_OK || start + used == n);
    }
    free(ends);
    return 0;
}

/*
 * fuzz/http/fuzz_http_chunked.c - keel's chunked transfer coding alone:
 * the decoder over a body whole and in fuzzer-chosen arrivals, and the
 * encoder's output read back by the decoder.
 *
 * Drives: keel_http_chunked_init, keel_http_chunked_decode,
 * keel_http_chunked_done, keel_http_chunked_encode,
 * keel_http_chunked_encode_last.
 *
 * Input: [flags][k][k schedule bytes][limits if flagged: u8 chunk ext, u16
 * trailer bytes][body (at most 64 KiB)].
 *   flags bit 0: KEEL_HTTP_LENIENT_BARE_LF; bit 1: limits from the input
 *   (0 = default). Schedule byte i (cycled) gives the size of arrival i
 *   (1..128, or a multiple of 64 up to 4 KiB) and, for the round trip, of
 *   the i-th chunk encoded.
 *
 * Properties (abort() on violation):
 *  - decode: data is a non-empty slice inside the bytes offered, or empty
 *    with keel_http_chunked_done at the end of the body; consumed <= the
 *    bytes offered; INCOMPLETE consumes every byte offered and gives no
 *    data; an error has an offset inside the body bytes offered and not
 *    before the bytes consumed so far, a reason with a description and
 *    its status (400/413/431), TOO_LARGE exactly for the limit reasons,
 *    and is sticky;
 *  - split invariance: the body fed in one piece and in the fuzzer's
 *    arrivals (unconsumed bytes kept in a receive buffer that grows, moves
 *    and drops what was consumed; its spare room poisoned under ASan)
 *    decodes to the same bytes and ends the same way (done at the same
 *    offset, INCOMPLETE, or the same error at the same offset);
 *  - round trip: the body bytes cut into chunks by the schedule, encoded
 *    with keel_http_chunked_encode (lowercase hex size, CRLFs) and
 *    keel_http_chunked_encode_last, decode (default config) to exactly
 *    those bytes, done at exactly the encoded length; an encode into a
 *    buffer one byte too small is TOO_LARGE and leaves it unchanged; an
 *    empty chunk is INVALID_ARG.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_http_util.h"
#include "keel/http.h"

#define BODY_MAX 65536u

enum { END_DONE = 1, END_INCOMPLETE, END_ERROR };

typedef struct decoded {
    uint8_t *out;      /* the data bytes, in order */
    size_t out_len;
    int end;
    size_t end_at;     /* END_DONE: body bytes consumed; END_ERROR: the error offset */
    keel_result err_result;
    keel_http_reason reason;
} decoded;

static bool limit_reason(keel_http_reason r)
{
    return r == KEEL_HTTP_CHUNK_SIZE_TOO_LARGE || r == KEEL_HTTP_CHUNK_EXT_TOO_LARGE ||
           r == KEEL_HTTP_TRAILERS_TOO_LARGE;
}

static size_t arrival(const uint8_t *sched, size_t k, size_t i, size_t left)
{
    if (k == 0) {
        return left;
    }
    uint8_t code = sched[i % k];
    size_t want = code < 128u ? (size_t)code + 1u : (size_t)(code - 127u) * 64u;
    return want < left ? want : left;
}


/* Decode body in arrivals (whole: one). The receive buffer holds the bytes
 * not consumed yet. */
static void decode(const keel_http_config *cfg, const uint8_t *body, size_t len,
                   const uint8_t *sched, size_t k, bool check_more, decoded *res)
{
    keel_http_chunked d;
    FUZZ_CHECK(keel_http_chunked_init(&d, cfg) == KEEL_OK);
    res->out_len = 0;
    res->end = 0;
    uint8_t *buf = NULL;
    size_t cap = 0, have = 0, base = 0, fed = 0; /* base: body offset of buf[0] */
    for (size_t i = 0; res->end == 0; i++) {
        if (fed == len) {
            res->end = END_INCOMPLETE;
            if (check_more) {
                fuzz_http_chunked_continues(&d);
            }
            break;
        }
        size_t n = arrival(sched, k, i, len - fed);
        if (have + n > cap) {
            size_t ncap = cap > 0 ? cap : 32;
            while (ncap < have + n) {
                ncap *= 2;
            }
            uint8_t *q = malloc(ncap);
            FUZZ_CHECK(q != NULL);
            if (buf != NULL) {
                UNPOISON(buf, cap);
                if (have > 0) {
                    memcpy(q, buf, have);
                }
            }
            free(buf);
            buf = q;
            cap = ncap;
        }
        UNPOISON(buf + have, n);
        memcpy(buf + have, body + fed, n);
        have += n;
        fed += n;
        POISON(buf + have, cap - have);
        /* Decode what is there. */
        size_t at = 0;
        for (;;) {
            keel_slice in = { buf + at, have - at }, data;
            size_t used = 99;
            keel_http_error e = { 0 };
            keel_result r = keel_http_chunked_decode(&d, in, &data, &used, &e);
            if (r == KEEL_ERR_INCOMPLETE) {
                FUZZ_CHECK(used == in.len && data.len == 0);
                FUZZ_CHECK(!keel_http_chunked_done(&d));
                at += used;
                break;
            }
            if (r != KEEL_OK) {
                FUZZ_CHECK(r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE);
                FUZZ_CHECK(e.reason > KEEL_HTTP_OK && e.reason < KEEL_HTTP_REASON_COUNT);
                FUZZ_CHECK(e.offset >= base + at && e.offset < base + have);
                FUZZ_CHECK(e.status == keel_http_reason_status(e.reason));
                FUZZ_CHECK(e.status == 400 || e.status == 413 || e.status == 431);
                FUZZ_CHECK((r == KEEL_ERR_TOO_LARGE) == limit_reason(e.reason));
                const char *why = keel_http_reason_str(e.reason);
                FUZZ_CHECK(why != NULL && why[0] != 0);
                /* Sticky. */
                keel_slice again = { buf + at, have - at }, data2;
                size_t used2 = 99;
                keel_http_error e2 = { 0 };
                FUZZ_CHECK(keel_http_chunked_decode(&d, again, &data2, &used2, &e2) == r);
                FUZZ_CHECK(e2.offset == e.offset && e2.reason == e.reason);
                res->end = END_ERROR;
                res->end_at = e.offset;
                res->err_result = r;
                res->reason = e.reason;
                break;
            }
            FUZZ_CHECK(used <= in.len);
            if (data.len > 0) {
                FUZZ_CHECK(data.ptr >= in.ptr && data.len <= in.len &&
                           (size_t)(data.ptr - in.ptr) <= in.len - data.len);
                FUZZ_CHECK((size_t)(data.ptr - in.ptr) + data.len <= used);
                memcpy(res->out + res->out_len, data.ptr, data.len);
                res->out_len += data.len;
            }
            at += used;
            if (keel_http_chunked_done(&d)) {
                FUZZ_CHECK(data.len == 0);
                res->end = END_DONE;
                res->end_at = base + at;
                break;
            }
            FUZZ_CHECK(data.len > 0);
        }
        /* Drop what was consumed, moving the rest to the front. */
        if (at > 0 && res->end == 0) {
            if (have > at) {
                memmove(buf, buf + at, have - at);
            }
            have -= at;
            base += at;
            POISON(buf + have, cap - have);
        }
    }
    if (buf != NULL) {
        UNPOISON(buf, cap);
    }
    free(buf);
}

static void same(const decoded *a, const decoded *b)
{
    if (a->end != b->end || a->out_len != b->out_len ||
        (a->end != END_INCOMPLETE && a->end_at != b->end_at) ||
        (a->end == END_ERROR && (a->reason != b->reason || a->err_result != b->err_result))) {
        fprintf(stderr, "http_chunked: whole: end %d at %zu (%s), %zu bytes; split: end %d at %zu (%s), %zu bytes\n",
                a->end, a->end_at, a->end == END_ERROR ? keel_http_reason_str(a->reason) : "-",
                a->out_len, b->end, b->end_at,
                b->end == END_ERROR ? keel_http_reason_str(b->reason) : "-", b->out_len);
        FUZZ_FAIL("split decode differs from whole decode");
    }
    FUZZ_CHECK(a->out_len == 0 || memcmp(a->out, b->out, a->out_len) == 0);
}

/* Encode data cut by the schedule, then decode it whole. */
static void round_trip(const uint8_t *data, size_t len, const uint8_t *sched, size_t k)
{
    /* Each chunk adds at most 16 hex digits and 4 bytes of CRLFs. */
    size_t chunks_max = len, cap = len + chunks_max * 20u + 5u;
    uint8_t *enc = malloc(cap);
    FUZZ_CHECK(enc != NULL);
    keel_buf out;
    FUZZ_CHECK(keel_buf_init(&out, enc, cap) == KEEL_OK);
    keel_slice none = { NULL, 0 };
    FUZZ_CHECK(keel_http_chunked_encode(&out, none) == KEEL_ERR_INVALID_ARG);
    FUZZ_CHECK(out.len == 0);
    size_t pos = 0;
    for (size_t i = 0; pos < len; i++) {
        size_t n = arrival(sched, k, i, len - pos);
        keel_slice piece = { data + pos, n };
        /* One byte short: TOO_LARGE, nothing written. */
        size_t before = out.len;
        char size_line[32];
        int w = snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        FUZZ_CHECK(w > 0);
        size_t need = (size_t)w + n + 2u;
        keel_buf tight = { out.ptr, before + need - 1u, before };
        FUZZ_CHECK(keel_http_chunked_encode(&tight, piece) == KEEL_ERR_TOO_LARGE);
        FUZZ_CHECK(tight.len == before);
        FUZZ_CHECK(keel_http_chunked_encode(&out, piece) == KEEL_OK);
        FUZZ_CHECK(out.len == before + need);
        FUZZ_CHECK(memcmp(out.ptr + before, size_line, (size_t)w) == 0);
        pos += n;
    }
    size_t before = out.len;
    keel_buf tight = { out.ptr, before + 4u, before };
    FUZZ_CHECK(keel_http_chunked_encode_last(&tight) == KEEL_ERR_TOO_LARGE && tight.len == before);
    FUZZ_CHECK(keel_http_chunked_encode_last(&out) == KEEL_OK);
    FUZZ_CHECK(out.len == before + 5u && memcmp(out.ptr + before, "0\r\n\r\n", 5) == 0);

    decoded back;
    back.out = malloc(len > 0 ? len : 1);
    FUZZ_CHECK(back.out != NULL);
    uint8_t *exact = malloc(out.len);
    FUZZ_CHECK(exact != NULL);
    memcpy(exact, out.ptr, out.len);
    decode(NULL, exact, out.len, NULL, 0, false, &back);
    FUZZ_CHECK(back.end == END_DONE && back.end_at == out.len);
    FUZZ_CHECK(back.out_len == len && (len == 0 || memcmp(back.out, data, len) == 0));
    free(exact);
    free(back.out);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = { data, size, 0 };
    uint8_t flags = fuzz_u8(&r);
    keel_http_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.lenient = (flags & 1u) ? KEEL_HTTP_LENIENT_BARE_LF : 0u;
    size_t k = fuzz_u8(&r);
    if (k > fuzz_left(&r)) {
        k = fuzz_left(&r);
    }
    const uint8_t *sched = data + r.pos;
    r.pos += k;
    bool limits = (flags & 2u) != 0;
    if (limits) {
        cfg.limits.max_chunk_ext = fuzz_u8(&r);
        cfg.limits.max_trailer_bytes = fuzz_u16(&r);
    }
    size_t len = fuzz_left(&r);
    if (len > BODY_MAX) {
        len = BODY_MAX;
    }
    /* Exact-size copy: an over-read past the body is visible to ASan. */
    uint8_t *body = malloc(len > 0 ? len : 1);
    FUZZ_CHECK(body != NULL);
    if (len > 0) {
        memcpy(body, data + r.pos, len);
    }
    decoded whole, split;
    whole.out = malloc(len > 0 ? len : 1);
    split.out = malloc(len > 0 ? len : 1);
    FUZZ_CHECK(whole.out != NULL && split.out != NULL);
    decode(&cfg, body, len, sched, 0, !limits, &whole);
    decode(&cfg, body, len, sched, k, false, &split);
    same(&whole, &split);
    round_trip(body, len, sched, k);
    free(whole.out);
    free(split.out);
    free(body);
    return 0;
}

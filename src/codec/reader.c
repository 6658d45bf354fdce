/*
 * src/codec/reader.c - the blocking line/frame reader over a keel socket (see
 * keel_reader in include/keel/codec.h). The decoding is codec.c's; this file
 * only moves bytes from keel_net_recv_timeout into the caller's storage and
 * decides when to read, compact or give up.
 */
#include "keel/reader.h"

#include "core/sys.h"

/* What to read: exactly one of the two decoders is set. */
typedef struct item_codec {
    keel_line_decoder *line;
    const keel_frame_decoder *frame;
} item_codec;

static bool reader_valid(const keel_reader *r)
{
    return r != NULL && r->net != NULL && keel_buf_valid(&r->buf) && r->start <= r->buf.len;
}

keel_result keel_reader_init(keel_reader *r, keel_net *net, keel_buf storage)
{
    if (r == NULL || net == NULL || !keel_buf_valid(&storage) || storage.cap == 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    r->net = net;
    r->buf = storage;
    r->start = 0;
    r->eof = false;
    return KEEL_OK;
}

keel_slice keel_reader_buffered(const keel_reader *r)
{
    keel_slice rest = keel_slice_empty();
    if (!reader_valid(r) ||
        keel_slice_from_off(keel_buf_slice(&r->buf), r->start, &rest) != KEEL_OK) {
        return keel_slice_empty();
    }
    return rest;
}

/* Largest item the decoder can accept, terminator or prefix included; false
 * when it is not a valid decoder or the size overflows. */
static bool reader_largest_item(const item_codec *c, size_t *max)
{
    if (c->line != NULL) {
        const keel_line_decoder *d = c->line;
        size_t term = d->mode == KEEL_LINE_LF ? 1u : 2u;
        if ((d->mode != KEEL_LINE_LF && d->mode != KEEL_LINE_ANY && d->mode != KEEL_LINE_CRLF) ||
            d->max_len > SIZE_MAX - term) {
            return false;
        }
        *max = d->max_len + term;
        return true;
    }
    const keel_frame_decoder *d = c->frame;
    if (d->width != 1u && d->width != 2u && d->width != 4u) {
        return false;
    }
    /* A prefix of w bytes says at most 2^(8w) - 1, whatever max_frame is. */
    uint64_t say = d->width == 4u ? UINT32_MAX : ((uint64_t)1 << (8u * d->width)) - 1u;
    size_t body = (uint64_t)d->max_frame < say ? d->max_frame : (size_t)say;
    if (body > SIZE_MAX - d->width) {
        return false;
    }
    *max = d->width + body;
    return true;
}

static KEEL_MUST_USE keel_result reader_decode_item(const item_codec *c, bool eof, keel_slice in,
                                                    keel_slice *item, size_t *used)
{
    if (c->line != NULL) {
        return eof ? keel_line_decode_final(c->line, in, item, used)
                   : keel_line_decode(c->line, in, item, used);
    }
    return keel_frame_decode(c->frame, in, item, used, NULL);
}

/* Milliseconds left of timeout_ms counted from start_ms (0 once passed). */
static uint32_t reader_time_left(uint32_t timeout_ms, uint64_t start_ms)
{
    if (timeout_ms == KEEL_FOREVER) {
        return KEEL_FOREVER;
    }
    uint64_t now = ksys_now_ms();
    uint64_t spent = now > start_ms ? now - start_ms : 0u;
    return spent >= timeout_ms ? 0u : (uint32_t)(timeout_ms - spent);
}

/* Receive more bytes after the buffered ones, first dropping the items
 * already returned if the storage is full. */
static KEEL_MUST_USE keel_result reader_refill(keel_reader *r, uint32_t timeout_ms,
                                               uint64_t start_ms)
{
    if (keel_buf_spare(&r->buf) == 0 && r->start > 0) {
        KEEL_TRY(keel_buf_consume(&r->buf, r->start));
        r->start = 0;
    }
    if (keel_buf_spare(&r->buf) == 0) {
        /* Cannot happen once reader_largest_item fits the storage: the decoder
         * decides before the buffered part of one item fills it. */
        return KEEL_ERR_TOO_LARGE;
    }
    size_t got = 0;
    return keel_net_recv_timeout(r->net, &r->buf, reader_time_left(timeout_ms, start_ms), &got);
}

static KEEL_MUST_USE keel_result reader_read_item(keel_reader *r, const item_codec *c,
                                                  uint32_t timeout_ms, keel_slice *out)
{
    size_t max = 0;
    if (!reader_valid(r) || out == NULL || !reader_largest_item(c, &max) || max > r->buf.cap) {
        return KEEL_ERR_INVALID_ARG;
    }
    uint64_t start_ms = timeout_ms == KEEL_FOREVER ? 0u : ksys_now_ms();
    for (;;) {
        keel_slice in = keel_reader_buffered(r);
        size_t used = 0;
        keel_result res = reader_decode_item(c, r->eof, in, out, &used);
        if (res == KEEL_OK) {
            r->start += used;
            return KEEL_OK;
        }
        if (res != KEEL_ERR_INCOMPLETE) {
            return res;
        }
        if (r->eof) {
            return in.len == 0 ? KEEL_ERR_CLOSED : KEEL_ERR_INCOMPLETE;
        }
        res = reader_refill(r, timeout_ms, start_ms);
        if (res == KEEL_ERR_CLOSED) {
            r->eof = true;
        } else if (res != KEEL_OK) {
            return res;
        }
    }
}

keel_result keel_reader_read_line(keel_reader *r, keel_line_decoder *dec, uint32_t timeout_ms,
                                  keel_slice *line)
{
    if (dec == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    item_codec c = { dec, NULL };
    return reader_read_item(r, &c, timeout_ms, line);
}

keel_result keel_reader_read_frame(keel_reader *r, const keel_frame_decoder *dec,
                                   uint32_t timeout_ms, keel_slice *payload)
{
    if (dec == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    item_codec c = { NULL, dec };
    return reader_read_item(r, &c, timeout_ms, payload);
}

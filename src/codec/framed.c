/*
 * src/codec/framed.c - framed streams (include/keel/framed.h): a keel_stream
 * whose on_read runs the line or frame decoder of codec.c over the
 * unconsumed bytes and hands out whole items; writes add the terminator or
 * the prefix; back-pressure pauses reading; errors end with a lingering
 * close. Uses loop.h's public API only: the stream's user pointer is the
 * keel_framed, whose own user pointer is the caller's.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/sys.h"

#include "keel/codec.h"
#include "keel/framed.h"
#include "keel/loop.h"
#include "keel/result.h"
#include "keel/slice.h"

#define FRAMED_MAX_ITEM (8u * 1024u)
#define FRAMED_LINGER_MS 2000u
#define FRAMED_PREFIX_MAX 4u
/* Items this small (with terminator or prefix) leave in one write from a
 * stack copy; bigger ones in two (keel_stream_writev). */
#define FRAMED_STACK 512u
/* keel_stream_opts' read_cap default (loop.h). */
#define FRAMED_STREAM_READ_CAP (64u * 1024u)

struct keel_framed {
    keel_stream *s; /* NULL once it is gone */
    const keel_framed_handlers *h;
    void *user;
    keel_line_decoder line;
    keel_frame_decoder frame;
    uint32_t linger_ms;
    bool frames;
    bool crlf;    /* LF-or-CRLF mode: the peer's last line ended with CRLF */
    bool ended;   /* on_end was called: no more items */
    bool closing; /* a close or abort was asked */
    bool paused;  /* reading stopped by back-pressure */
};

/* ---- the codec ------------------------------------------------------------- */

/* Configure f's decoders from o (NULL: defaults), checked against the
 * stream's read cap (a whole item must fit in what it holds). */
static KEEL_MUST_USE keel_result framed_codec(const keel_framed_opts *o,
                                              const keel_stream_opts *so, keel_framed *f)
{
    keel_framed_opts d = { 0 };
    if (o != NULL) {
        d = *o;
    }
    size_t max = d.max_item != 0 ? d.max_item : FRAMED_MAX_ITEM;
    if (d.framing == KEEL_FRAMING_LINES) {
        KEEL_TRY(keel_line_decoder_init(&f->line, max, d.line_mode));
        f->frames = false;
    } else if (d.framing == KEEL_FRAMING_FRAMES) {
        size_t width = d.prefix_width != 0 ? d.prefix_width : FRAMED_PREFIX_MAX;
        size_t range = width == 1 ? 255u : width == 2 ? 65535u : UINT32_MAX;
        KEEL_TRY(keel_frame_decoder_init(&f->frame, width, max < range ? max : range));
        max = f->frame.max_frame;
        f->frames = true;
    } else {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t cap = so != NULL && so->read_cap != 0 ? so->read_cap : FRAMED_STREAM_READ_CAP;
    if (max > SIZE_MAX - FRAMED_PREFIX_MAX || cap < max + FRAMED_PREFIX_MAX) {
        return KEEL_ERR_INVALID_ARG;
    }
    f->linger_ms = d.linger_ms != 0 ? d.linger_ms : FRAMED_LINGER_MS;
    return KEEL_OK;
}

static size_t framed_max_item(const keel_framed *f)
{
    return f->frames ? f->frame.max_frame : f->line.max_len;
}

/* The next item of in: KEEL_OK (*item, *used), INCOMPLETE, or the failure.
 * final: the peer's EOF came, in is all there will be. */
static KEEL_MUST_USE keel_result framed_decode(keel_framed *f, keel_slice in, bool final,
                                               keel_slice *item, size_t *used)
{
    if (f->frames) {
        size_t need = 0;
        return keel_frame_decode(&f->frame, in, item, used, &need);
    }
    keel_result r = final ? keel_line_decode_final(&f->line, in, item, used)
                          : keel_line_decode(&f->line, in, item, used);
    if (r == KEEL_OK && f->line.mode == KEEL_LINE_ANY) {
        /* Answer in the terminator the peer used (an unterminated last
         * line leaves it as it was). */
        uint8_t b = 0;
        if (*used >= item->len + 2u && keel_slice_get(in, *used - 2u, &b) == KEEL_OK) {
            f->crlf = b == '\r';
        } else if (*used == item->len + 1u) {
            f->crlf = false;
        }
    }
    return r;
}

/* ---- the end ---------------------------------------------------------------- */

/* Tell the end once (r: why), then close as framed.h says, unless the
 * handler closed already or the stream is failing on its own. */
static void framed_end(keel_framed *f, keel_result r, bool failed)
{
    if (f->ended) {
        return;
    }
    f->ended = true;
    if (f->h->on_end != NULL) {
        f->h->on_end(f, r, f->user);
    }
    if (f->closing || f->s == NULL || failed) {
        return;
    }
    f->closing = true;
    if (r == KEEL_ERR_CLOSED) {
        keel_stream_close(f->s);
    } else {
        keel_stream_close_linger(f->s, f->linger_ms);
    }
}

/* ---- the stream's handlers ----------------------------------------------------- */

static size_t framed_on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    keel_framed *f = user;
    if (f == NULL || f->ended || f->closing) {
        return data.len;
    }
    if (r != KEEL_OK && r != KEEL_ERR_CLOSED) {
        framed_end(f, r, true); /* the stream fails: on_close follows */
        return 0;
    }
    bool final = r == KEEL_ERR_CLOSED;
    size_t off = 0;
    for (;;) {
        keel_slice rest = keel_slice_empty();
        if (keel_slice_from_off(data, off, &rest) != KEEL_OK) {
            break;
        }
        keel_slice item = keel_slice_empty();
        size_t used = 0;
        keel_result d = framed_decode(f, rest, final, &item, &used);
        if (d == KEEL_ERR_INCOMPLETE) {
            if (final) {
                framed_end(f, rest.len == 0 ? KEEL_ERR_CLOSED : KEEL_ERR_INCOMPLETE, false);
                return data.len;
            }
            return off;
        }
        if (d != KEEL_OK) {
            framed_end(f, d, false);
            return data.len;
        }
        off += used;
        f->h->on_item(f, item, f->user);
        if (f->ended || f->closing || f->s == NULL) {
            return data.len;
        }
        if (!final && !keel_stream_can_write(s)) {
            /* Back-pressure: the rest waits until the queue drains (the
             * stream offers it again at read_start). */
            f->paused = true;
            keel_stream_read_stop(s);
            return off;
        }
    }
    return off;
}

static void framed_on_writable(keel_stream *s, keel_result r, bool can_write, void *user)
{
    (void)r;
    keel_framed *f = user;
    if (f == NULL) {
        return;
    }
    if (can_write && f->paused && !f->closing) {
        f->paused = false;
        keel_stream_read_start(s);
    }
    if (f->h->on_writable != NULL) {
        f->h->on_writable(f, can_write, f->user);
    }
}

static void framed_on_close(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    keel_framed *f = user;
    if (f == NULL) {
        return;
    }
    f->s = NULL;
    if (!f->ended && !f->closing) {
        /* Ended without a last on_read (a failed write, the loop's end):
         * the end is still told, once. */
        framed_end(f, r != KEEL_OK ? r : KEEL_ERR_CLOSED, true);
    }
    if (f->h->on_close != NULL) {
        f->h->on_close(f, r, f->user);
    }
    ksys_release(f);
}

static const keel_stream_handlers framed_stream_handlers = {
    .on_read = framed_on_read,
    .on_writable = framed_on_writable,
    .on_close = framed_on_close,
};

/* ---- making one -------------------------------------------------------------------- */

static KEEL_MUST_USE keel_result framed_new(const keel_framed_opts *codec,
                                            const keel_framed_handlers *h,
                                            const keel_stream_opts *so, void *user,
                                            keel_framed **out)
{
    if (h == NULL || h->on_item == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_framed probe = { 0 };
    KEEL_TRY(framed_codec(codec, so, &probe));
    keel_framed *f = ksys_alloc_zeroed(sizeof *f);
    if (f == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    *f = probe;
    f->h = h;
    f->user = user;
    *out = f;
    return KEEL_OK;
}

keel_result keel_framed_adopt(keel_loop *loop, keel_net *sock, const keel_framed_opts *codec,
                              const keel_framed_handlers *handlers,
                              const keel_stream_opts *stream_opts, void *user, keel_framed **out)
{
    if (loop == NULL || sock == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_framed *f = NULL;
    KEEL_TRY(framed_new(codec, handlers, stream_opts, user, &f));
    keel_result r = keel_stream_adopt(loop, sock, &framed_stream_handlers, stream_opts, f, &f->s);
    if (r != KEEL_OK) {
        ksys_release(f);
        return r;
    }
    *out = f;
    return KEEL_OK;
}

/* ---- servers ------------------------------------------------------------------------ */

static void framed_accepted(keel_stream *s, void *user)
{
    const keel_framed_server_opts *fo = user;
    if (s == NULL) {
        return;
    }
    keel_stream_set_user(s, NULL);
    keel_framed *f = NULL;
    if (framed_new(fo->codec, fo->handlers, NULL, fo->user, &f) != KEEL_OK) {
        keel_stream_abort(s); /* NO_MEMORY (the codec was checked at start) */
        return;
    }
    f->s = s;
    keel_stream_set_user(s, f);
    if (fo->handlers->on_open != NULL) {
        fo->handlers->on_open(f, fo->user);
    }
}

static void framed_listener_accepted(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    const keel_framed_server_opts *fo = user;
    if (r != KEEL_OK) {
        if (fo->on_accept_failed != NULL) {
            fo->on_accept_failed(r, fo->user);
        }
        return;
    }
    framed_accepted(s, user);
}

keel_result keel_framed_listener_start(keel_loop *loop, keel_net *sock,
                                       const keel_framed_server_opts *framed,
                                       const keel_stream_opts *stream_opts, keel_listener **out)
{
    if (loop == NULL || sock == NULL || framed == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_framed *probe = NULL;
    KEEL_TRY(framed_new(framed->codec, framed->handlers, stream_opts, NULL, &probe));
    ksys_release(probe);
    return keel_listener_start(loop, sock, &framed_stream_handlers, stream_opts,
                               framed_listener_accepted, (void *)(uintptr_t)framed, out);
}

static void framed_server_shutdown(keel_loop *loop, void *user)
{
    const keel_framed_server_opts *fo = user;
    fo->on_shutdown(loop, fo->user);
}

keel_result keel_framed_server_start(const keel_server_opts *base,
                                     const keel_framed_server_opts *framed, keel_server **out)
{
    if (base == NULL || framed == NULL || base->handlers != NULL || base->on_accept != NULL ||
        base->on_shutdown != NULL || base->user != NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_framed *probe = NULL;
    KEEL_TRY(framed_new(framed->codec, framed->handlers, base->stream_opts, NULL, &probe));
    ksys_release(probe);
    keel_server_opts o = *base;
    o.handlers = &framed_stream_handlers;
    o.on_accept = framed_accepted;
    o.on_shutdown = framed->on_shutdown != NULL ? framed_server_shutdown : NULL;
    o.user = (void *)(uintptr_t)framed; /* read only: handed back as const */
    return keel_server_start(&o, out);
}

/* ---- writing and closing ---------------------------------------------------------------- */

keel_result keel_framed_write(keel_framed *f, keel_slice item)
{
    if (f == NULL || !keel_slice_valid(item)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (f->s == NULL || f->closing) {
        return KEEL_ERR_STATE;
    }
    if (item.len > framed_max_item(f)) {
        return KEEL_ERR_TOO_LARGE;
    }
    uint8_t head[FRAMED_PREFIX_MAX];
    keel_slice parts[2];
    if (f->frames) {
        size_t w = f->frame.width;
        for (size_t i = 0; i < w; i++) {
            head[i] = (uint8_t)(item.len >> (8u * (w - 1u - i)));
        }
        parts[0] = (keel_slice){ head, w };
        parts[1] = item;
    } else {
        size_t at = 0;
        if (keel_slice_find_byte(item, '\n', &at) == KEEL_OK ||
            (f->line.mode != KEEL_LINE_LF && keel_slice_find_byte(item, '\r', &at) == KEEL_OK)) {
            return KEEL_ERR_PARSE; /* the peer's decoder would split or refuse it */
        }
        bool crlf = f->line.mode == KEEL_LINE_CRLF || (f->line.mode == KEEL_LINE_ANY && f->crlf);
        parts[0] = item;
        parts[1] = crlf ? KEEL_STR("\r\n") : KEEL_STR("\n");
    }
    if (parts[0].len + parts[1].len <= FRAMED_STACK) {
        uint8_t one[FRAMED_STACK];
        keel_buf b;
        KEEL_TRY(keel_buf_init(&b, one, sizeof one));
        KEEL_TRY(keel_buf_append(&b, parts[0]));
        KEEL_TRY(keel_buf_append(&b, parts[1]));
        return keel_stream_write(f->s, keel_buf_slice(&b));
    }
    return keel_stream_writev(f->s, parts, 2);
}

void keel_framed_close(keel_framed *f)
{
    if (f != NULL && f->s != NULL && !f->closing) {
        f->closing = true;
        keel_stream_close_linger(f->s, f->linger_ms);
    }
}

void keel_framed_abort(keel_framed *f)
{
    if (f != NULL && f->s != NULL) {
        f->closing = true;
        keel_stream_abort(f->s);
    }
}

void keel_framed_set_user(keel_framed *f, void *user)
{
    if (f != NULL) {
        f->user = user;
    }
}

void *keel_framed_user(const keel_framed *f)
{
    return f == NULL ? NULL : f->user;
}

keel_stream *keel_framed_stream(const keel_framed *f)
{
    return f == NULL ? NULL : f->s;
}

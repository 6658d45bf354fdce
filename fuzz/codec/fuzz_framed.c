/*
 * fuzz/codec/fuzz_framed.c - framed streams (src/codec/framed.c) on a loop,
 * fed over a real loopback TCP connection.
 *
 * Drives: keel_framed_adopt, the framed stream's read path (the decoders
 * over the stream's unconsumed bytes, whatever the arrival), its end
 * (on_end, then its own close), keel_framed_write (every item is echoed)
 * and the back-pressure pause (a write_high of 256 bytes: the echoes fill
 * the queue while the writer does not read them).
 *
 * Input: [mode][max][k][k schedule bytes][payload (at most 16 KiB)]. mode
 * 0..2 is lines (LF, ANY, CRLF) with max_item = max + 1, 3..5 frames
 * (prefix 1, 2, 4) with max_item = max + 1. Each schedule byte (cycled,
 * for at most 64 rounds) writes a chunk of fuzzer-chosen size, runs the
 * loop once, or reads the echoes so far; then the rest is sent, the writer
 * half-closes and reads to the end while the loop runs.
 * Properties: on_item gets the items of one decode pass over the whole
 * payload, in order, byte for byte; then, once, on_end with what that
 * pass meets (TOO_LARGE, PARSE) or, at EOF, the unterminated last line
 * (an item) and CLOSED, a partial frame's INCOMPLETE, a CRLF line's PARSE;
 * nothing after on_end; on_close once, last; the writer receives exactly
 * the echo of every item (its terminator or prefix: in ANY mode the one
 * the peer's line last used) and then an orderly end, never a reset; a
 * line holding a CR in the CR modes is refused by the write (PARSE), as
 * keel_line_encode refuses it.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_net_util.h"
#include "keel/codec.h"
#include "keel/framed.h"
#include "keel/loop.h"
#include "keel/net.h"

#define PAYLOAD_MAX 16384u
#define ITEMS_MAX (PAYLOAD_MAX + 1u)
#define STEPS_MAX 200000u
#define ECHO_MAX (2u * PAYLOAD_MAX + 4u * ITEMS_MAX)

static keel_net *g_listener;
static uint16_t g_port;
static keel_loop *g_loop;

/* The whole payload decoded in one pass, then its end. */
typedef struct reference {
    size_t off[ITEMS_MAX];
    size_t len[ITEMS_MAX];
    bool refused[ITEMS_MAX]; /* a line with a CR, in a CR mode: the writer refuses it (PARSE) */
    bool crlf[ITEMS_MAX]; /* ANY mode: the terminator the echo of this item uses */
    size_t count;
    keel_result end;      /* on_end's r */
} reference;

typedef struct seen {
    const reference *ref;
    keel_slice payload;
    size_t items;
    int ends;
    keel_result end;
    int closes;
    keel_result close_r;
} seen;

static void on_item(keel_framed *f, keel_slice item, void *user)
{
    seen *s = user;
    FUZZ_CHECK(s->ends == 0 && s->closes == 0);
    FUZZ_CHECK(s->items < s->ref->count);
    FUZZ_CHECK(item.len == s->ref->len[s->items]);
    FUZZ_CHECK(item.len == 0 ||
               memcmp(item.ptr, s->payload.ptr + s->ref->off[s->items], item.len) == 0);
    keel_result r = keel_framed_write(f, item);
    /* OK: the pause keeps the queue under write_cap; PARSE for what the
     * peer's decoder could alter (keel_line_encode's rule). */
    FUZZ_CHECK(r == (s->ref->refused[s->items] ? KEEL_ERR_PARSE : KEEL_OK));
    s->items++;
}

static void on_end(keel_framed *f, keel_result r, void *user)
{
    (void)f;
    seen *s = user;
    FUZZ_CHECK(s->ends == 0 && s->closes == 0);
    s->ends++;
    s->end = r;
}

static void on_close(keel_framed *f, keel_result r, void *user)
{
    (void)f;
    seen *s = user;
    FUZZ_CHECK(s->closes == 0);
    s->closes++;
    s->close_r = r;
}

static const keel_framed_handlers handlers = {
    .on_item = on_item,
    .on_end = on_end,
    .on_close = on_close,
};

/* The reference pass, with its end at EOF. */
static void reference_pass(const keel_framed_opts *o, keel_slice payload, reference *ref)
{
    keel_line_decoder line;
    keel_frame_decoder frame;
    bool lines = o->framing == KEEL_FRAMING_LINES;
    if (lines) {
        FUZZ_CHECK(keel_line_decoder_init(&line, o->max_item, o->line_mode) == KEEL_OK);
    } else {
        FUZZ_CHECK(keel_frame_decoder_init(&frame, o->prefix_width, o->max_item) == KEEL_OK);
    }
    size_t pos = 0;
    bool crlf = false;
    ref->count = 0;
    for (;;) {
        keel_slice rest, item;
        size_t used = 0;
        FUZZ_CHECK(keel_slice_from_off(payload, pos, &rest) == KEEL_OK);
        keel_line_decoder d = line; /* a fresh scan position each time */
        keel_result r = lines ? keel_line_decode(&d, rest, &item, &used)
                              : keel_frame_decode(&frame, rest, &item, &used, NULL);
        bool final = false;
        if (r == KEEL_ERR_INCOMPLETE) {
            /* the end of the stream: what the rest is */
            final = true;
            if (lines) {
                d = line;
                r = keel_line_decode_final(&d, rest, &item, &used);
            }
            if (r == KEEL_ERR_INCOMPLETE) {
                ref->end = rest.len == 0 ? KEEL_ERR_CLOSED : KEEL_ERR_INCOMPLETE;
                return;
            }
        }
        if (r != KEEL_OK) {
            ref->end = r;
            return;
        }
        FUZZ_CHECK(ref->count < ITEMS_MAX);
        ref->off[ref->count] = pos + (size_t)(item.len > 0 ? item.ptr - rest.ptr : 0);
        ref->len[ref->count] = item.len;
        if (lines && used >= item.len + 2u) {
            crlf = true;
        } else if (lines && used == item.len + 1u) {
            crlf = false;
        }
        ref->crlf[ref->count] = crlf;
        size_t cr = 0;
        ref->refused[ref->count] = lines && o->line_mode != KEEL_LINE_LF &&
                                   keel_slice_find_byte(item, '\r', &cr) == KEEL_OK;
        ref->count++;
        pos += used;
        if (final) {
            ref->end = KEEL_ERR_CLOSED; /* the unterminated last line, then the end */
            return;
        }
    }
}

/* What the writer must receive: every item's echo. */
static size_t expected_echo(const keel_framed_opts *o, const reference *ref, keel_slice payload,
                            uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < ref->count; i++) {
        size_t len = ref->len[i];
        if (ref->refused[i]) {
            continue;
        }
        if (o->framing == KEEL_FRAMING_FRAMES) {
            for (size_t b = 0; b < o->prefix_width; b++) {
                out[n++] = (uint8_t)(len >> (8u * (o->prefix_width - 1u - b)));
            }
        }
        if (len > 0) {
            memcpy(out + n, payload.ptr + ref->off[i], len);
            n += len;
        }
        if (o->framing == KEEL_FRAMING_LINES) {
            bool crlf = o->line_mode == KEEL_LINE_CRLF ||
                        (o->line_mode == KEEL_LINE_ANY && ref->crlf[i]);
            if (crlf) {
                out[n++] = '\r';
            }
            out[n++] = '\n';
        }
    }
    return n;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

typedef struct run {
    keel_net *writer;
    keel_slice payload;
    size_t sent;
    keel_buf echo;       /* what the writer received */
    keel_result read_end;
} run;

static void write_step(run *x, size_t size)
{
    keel_slice chunk;
    size_t n = min_size(size, x->payload.len - x->sent);
    FUZZ_CHECK(keel_slice_sub(x->payload, x->sent, n, &chunk) == KEEL_OK);
    size_t wrote = 0;
    keel_result r = keel_net_send(x->writer, chunk, &wrote);
    if (r == KEEL_OK) {
        FUZZ_CHECK(wrote <= n);
        x->sent += wrote;
    } else {
        FUZZ_CHECK(r == KEEL_ERR_WOULD_BLOCK);
    }
}

static void read_echo(run *x)
{
    if (x->read_end != KEEL_OK) {
        return;
    }
    size_t got = 0;
    keel_result r = keel_net_recv(x->writer, &x->echo, &got);
    if (r != KEEL_OK && r != KEEL_ERR_WOULD_BLOCK) {
        x->read_end = r;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static reference ref;
    static uint8_t want[ECHO_MAX];
    static uint8_t got[ECHO_MAX];
    if (size < 4) {
        return 0;
    }
    if (g_listener == NULL) {
        g_listener = fuzz_loopback_listener(&g_port);
        FUZZ_CHECK(keel_loop_new(&g_loop) == KEEL_OK);
    }
    /* The drain after an error outlasts any run (the writer always ends by
     * sending everything and half-closing, which ends it): a shorter bound
     * could expire while a loaded machine is still sending, and the reset
     * that follows would be the bound working, not a fault. */
    keel_framed_opts o = { .max_item = (size_t)data[1] + 1u, .linger_ms = 60000 };
    if (data[0] % 6u < 3u) {
        o.framing = KEEL_FRAMING_LINES;
        o.line_mode = (keel_line_mode)(data[0] % 3u);
    } else {
        static const size_t widths[] = { 1, 2, 4 };
        o.framing = KEEL_FRAMING_FRAMES;
        o.prefix_width = widths[data[0] % 6u - 3u];
        if (o.prefix_width == 1 && o.max_item > 255u) {
            o.max_item = 255u; /* what a 1-byte prefix can say (framed.h) */
        }
    }
    static const keel_stream_opts so = { .write_high = 256, .write_cap = 4096 };
    size_t k = 1u + data[2] % 16u;
    if (k > size - 3u) {
        k = size - 3u;
    }
    const uint8_t *schedule = data + 3;
    keel_slice payload = { data + 3 + k, min_size(size - 3u - k, PAYLOAD_MAX) };
    if (payload.len == 0) {
        payload.ptr = NULL;
    }
    reference_pass(&o, payload, &ref);
    size_t want_len = expected_echo(&o, &ref, payload, want);

    keel_net *writer = NULL, *sock = NULL;
    fuzz_loopback_pair(g_listener, g_port, &writer, &sock);
    seen s = { .ref = &ref, .payload = payload };
    keel_framed *f = NULL;
    FUZZ_CHECK(keel_framed_adopt(g_loop, sock, &o, &handlers, &so, &s, &f) == KEEL_OK);
    run x = { .writer = writer, .payload = payload };
    FUZZ_CHECK(keel_buf_init(&x.echo, got, sizeof got) == KEEL_OK);

    for (size_t step = 0; step < 64u * k && x.sent < payload.len; step++) {
        uint8_t b = schedule[step % k];
        unsigned code = b >> 2;
        switch (b & 3u) {
        case 0: write_step(&x, code < 32u ? code + 1u : (size_t)1 << (code - 27u)); break;
        case 1: FUZZ_CHECK(keel_loop_run_once(g_loop, 0) == KEEL_OK); break;
        case 2: read_echo(&x); break;
        default:
            write_step(&x, code + 1u);
            FUZZ_CHECK(keel_loop_run_once(g_loop, 0) == KEEL_OK);
            break;
        }
    }
    /* The rest, the writer's end, and everything back until the stream's
     * end (both sides progress: the loop, then the writer's reads). */
    bool shut = false;
    for (size_t step = 0; s.closes == 0 || x.read_end == KEEL_OK; step++) {
        FUZZ_CHECK(step < STEPS_MAX);
        if (x.sent < payload.len) {
            write_step(&x, PAYLOAD_MAX);
        } else if (!shut) {
            FUZZ_CHECK(keel_net_shutdown(writer, KEEL_SHUT_WR) == KEEL_OK);
            shut = true;
        }
        FUZZ_CHECK(keel_loop_run_once(g_loop, 1) == KEEL_OK);
        read_echo(&x);
    }
    FUZZ_CHECK(s.items == ref.count);
    FUZZ_CHECK(s.ends == 1 && s.end == ref.end);
    FUZZ_CHECK(s.closes == 1 && s.close_r == KEEL_OK);
    FUZZ_CHECK(x.read_end == KEEL_ERR_CLOSED); /* an orderly end, not a reset */
    FUZZ_CHECK(x.echo.len == want_len);
    FUZZ_CHECK(want_len == 0 || memcmp(got, want, want_len) == 0);
    keel_net_free(writer);
    return 0;
}

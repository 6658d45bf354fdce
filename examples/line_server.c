/*
 * examples/line_server.c - an async line server (docs/guide-async-lines.md):
 * keel_server spreads connections over two loop threads, and each
 * connection's bytes go through a keel_line_decoder.
 *
 *   line_server [port]
 *
 * Listens on 127.0.0.1 (port 0, the default: chosen by the system), prints
 * "listening on 127.0.0.1:PORT", and answers every line with the same line
 * in upper case. A line longer than MAX_LINE bytes is refused whole: the
 * client gets "error: line longer than 1024 bytes" and is disconnected.
 * SIGINT/SIGTERM: graceful shutdown, exit 0. Exit 1 if it cannot listen, 2
 * on bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>

#include "keel/codec.h"
#include "keel/loop.h"

#define MAX_LINE 1024

/* guide:conn:begin */
/* What the server keeps per connection: the decoder's scan position. */
struct conn {
    keel_line_decoder dec;
};

static void on_accept(keel_stream *s, void *user)
{
    (void)user;
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL || keel_line_decoder_init(&c->dec, MAX_LINE, KEEL_LINE_ANY) != KEEL_OK) {
        free(c);
        keel_stream_abort(s); /* on_close follows, with a NULL user pointer */
        return;
    }
    keel_stream_set_user(s, c);
}

static void on_close(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    (void)r;
    free(user); /* the stream is freed when this returns */
}
/* guide:conn:end */

/* guide:read:begin */
/* Queue the answer to one line: the line in upper case. */
static keel_result answer(keel_stream *s, keel_slice line)
{
    uint8_t storage[MAX_LINE + 1];
    keel_buf out;
    KEEL_TRY(keel_buf_init(&out, storage, sizeof storage));
    KEEL_TRY(keel_buf_append(&out, line));
    for (size_t i = 0; i < out.len; i++) {
        if (out.ptr[i] >= 'a' && out.ptr[i] <= 'z') {
            out.ptr[i] = (uint8_t)(out.ptr[i] - 'a' + 'A');
        }
    }
    KEEL_TRY(keel_buf_append_byte(&out, '\n'));
    return keel_stream_write(s, keel_buf_slice(&out)); /* copied: out may go */
}

/* data holds every byte not consumed yet; decode as many whole lines as it
 * holds and say how many bytes they used. The rest comes back with more. */
static size_t on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    struct conn *c = user;
    if ((r != KEEL_OK && r != KEEL_ERR_CLOSED) || c == NULL) {
        return 0; /* a timeout, a reset, read_cap reached...: on_close follows */
    }
    size_t consumed = 0;
    keel_slice rest = data;
    for (;;) {
        keel_slice line;
        size_t used = 0;
        /* At EOF a last line without LF still counts. */
        keel_result d = r == KEEL_ERR_CLOSED ? keel_line_decode_final(&c->dec, rest, &line, &used)
                                             : keel_line_decode(&c->dec, rest, &line, &used);
        if (d == KEEL_ERR_INCOMPLETE) {
            break; /* no whole line left */
        }
        if (d != KEEL_OK) { /* TOO_LARGE: refused whole, never split */
            if (keel_stream_write(s, KEEL_STR("error: line longer than 1024 bytes\n")) == KEEL_OK) {
                /* The error line first, then a lingering close: the client
                 * reads it even if it sent more we will not read. */
                keel_stream_close_linger(s, 2000);
            } else {
                keel_stream_abort(s);
            }
            return data.len;
        }
        if (answer(s, line) != KEEL_OK) { /* past the write cap: cut it off */
            keel_stream_abort(s);
            return data.len;
        }
        consumed += used;
        if (keel_slice_from_off(rest, used, &rest) != KEEL_OK) {
            break;
        }
    }
    if (r == KEEL_ERR_CLOSED) {
        keel_stream_close(s); /* the client is done: flush, then close */
    } else if (!keel_stream_can_write(s)) {
        keel_stream_read_stop(s); /* back-pressure: it reads slower than it writes */
    }
    return consumed;
}

static void on_writable(keel_stream *s, keel_result r, bool can_write, void *user)
{
    (void)r;
    (void)user;
    if (can_write) {
        keel_stream_read_start(s); /* its queue drained: read it again */
    }
}
/* guide:read:end */

/* guide:main:begin */
static const keel_stream_handlers handlers = {
    .on_read = on_read,
    .on_writable = on_writable,
    .on_close = on_close,
};

static const keel_stream_opts stream_opts = {
    .idle_timeout_ms = 30000, /* a silent client is closed after 30 s */
};

int main(int argc, char **argv)
{
    static const char usage[] = "usage: line_server [port]\n";
    if (argc == 2 && keel_slice_eq(keel_slice_cstr(argv[1]), KEEL_STR("--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    uint16_t port = 0; /* 0: chosen by the system */
    if (argc > 2 ||
        (argc == 2 && keel_addr_parse_port(keel_slice_cstr(argv[1]), &port) != KEEL_OK)) {
        fputs(usage, stderr);
        return 2;
    }
    keel_server_opts o = {
        .ip = KEEL_STR("127.0.0.1"),
        .port = port,
        .threads = 2,
        .handle_signals = true, /* SIGINT/SIGTERM: graceful shutdown */
        .handlers = &handlers,
        .stream_opts = &stream_opts,
        .on_accept = on_accept,
    };
    keel_server *srv = NULL;
    uint16_t bound = 0;
    keel_result r = keel_server_start(&o, &srv);
    if (r == KEEL_OK) {
        r = keel_server_port(srv, &bound);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "line_server: %s\n", keel_result_str(r));
        keel_server_free(srv);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)bound);
    fflush(stdout);
    r = keel_server_wait(srv); /* until SIGINT or SIGTERM */
    keel_server_free(srv);
    return r == KEEL_OK ? 0 : 1;
}
/* guide:main:end */

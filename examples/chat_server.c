/*
 * examples/chat_server.c - a line-based broadcast chat on one keel loop.
 *
 *   chat_server [--ip ADDR] [--port P]
 *
 * Defaults: 127.0.0.1, port 7001 (0: chosen by the system). Once it accepts
 * connections it prints exactly "listening on ADDR:PORT" on stdout and
 * flushes. Every complete line a client sends (LF-terminated, at most
 * MAX_LINE bytes) goes to every connected client, the sender included, so
 * examples/echo_client can drive it. A last line without LF before the
 * client's EOF is delivered too.
 *
 * Policy, so that one client can neither stall nor bloat the others:
 *  - slow readers: while a client's write queue is above its high-water mark
 *    (WRITE_HIGH) the lines for it are dropped and counted; once its queue
 *    has drained it gets one line "* N lines dropped". A client that misses
 *    more than MAX_DROPPED lines in a row gets "error: too slow..." and is
 *    disconnected; one whose queue refuses a line (past its hard cap,
 *    WRITE_CAP) is cut off at once.
 *  - over-long lines: a line longer than MAX_LINE is never truncated or
 *    split; the sender gets "error: line longer than MAX_LINE bytes" and is
 *    disconnected.
 *  Both errors end with a lingering close (keel_stream_close_linger): the
 *  client reads the error line, not a reset caused by what it sent after.
 *
 * SIGINT/SIGTERM: stop accepting, flush what is queued for each client,
 * close them, exit 0. Bad arguments: usage on stderr, exit 2. Failure to
 * listen: exit 1.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/codec.h"
#include "keel/loop.h"

#include "example_server.h"

#define MAX_LINE 4096
#define MAX_DROPPED 10000
#define TEXT(x) #x
#define NUMBER_TEXT(x) TEXT(x)

enum {
    DEFAULT_PORT = 7001,
    WRITE_HIGH = 64 * 1024,
    WRITE_CAP = 4 * WRITE_HIGH,
    /* How long a refused client's input is drained after its error line. */
    LINGER_MS = 2000
};

struct client {
    struct client *prev, *next;
    keel_stream *s;
    keel_line_decoder dec;
    uint64_t dropped; /* lines not sent to it since it last caught up */
    bool leaving;     /* closed or aborted: on_close is coming */
};

/* One loop, one thread: plain globals are enough. */
static struct client *clients;
static keel_listener *listener;
static bool stopping;

static const keel_stream_opts chat_opts = {
    .write_high = WRITE_HIGH,
    .write_cap = WRITE_CAP,
};

/* why == NULL: --help, the usage on stdout and exit 0; else on stderr, 2. */
static int usage(const char *why)
{
    if (why != NULL) {
        fprintf(stderr, "chat_server: %s\n", why);
    }
    fprintf(why == NULL ? stdout : stderr,
            "usage: chat_server [--ip ADDR] [--port P]\n"
            "  --ip    numeric IPv4/IPv6 address to bind (default 127.0.0.1)\n"
            "  --port  0..65535, no leading zeros (default %d; 0: chosen by the system)\n",
            DEFAULT_PORT);
    return why == NULL ? 0 : 2;
}

/* Orderly (queued bytes are flushed first) or abortive. */
static void drop_client(struct client *c, bool abort)
{
    if (!c->leaving) {
        c->leaving = true;
        if (abort) {
            keel_stream_abort(c->s);
        } else {
            keel_stream_close(c->s);
        }
    }
}

/* Tell c why it is cut off, then a lingering close, so that it reads the
 * reason instead of a reset (it may have sent more we will not read); cut
 * off at once if even the reason does not fit in its queue. */
static void refuse_client(struct client *c, keel_slice why)
{
    if (c->leaving) {
        return;
    }
    if (keel_stream_write(c->s, why) != KEEL_OK) {
        drop_client(c, true);
        return;
    }
    c->leaving = true;
    keel_stream_close_linger(c->s, LINGER_MS);
}

/* Queue bytes for c, or cut c off if its queue refuses them. */
static void send_to(struct client *c, keel_slice bytes)
{
    if (keel_stream_write(c->s, bytes) != KEEL_OK) {
        drop_client(c, true);
    }
}

/* line was accepted by from's decoder, so encoding it again cannot fail. */
static void broadcast(const struct client *from, keel_slice line)
{
    uint8_t storage[MAX_LINE + 1];
    keel_buf msg;
    if (keel_buf_init(&msg, storage, sizeof storage) != KEEL_OK ||
        keel_line_encode(&msg, &from->dec, line) != KEEL_OK) {
        return;
    }
    for (struct client *c = clients; c != NULL; c = c->next) {
        if (c->leaving) {
            continue;
        }
        if (keel_stream_can_write(c->s)) {
            send_to(c, keel_buf_slice(&msg));
        } else if (++c->dropped > MAX_DROPPED) {
            refuse_client(c, KEEL_STR("error: too slow: more than " NUMBER_TEXT(MAX_DROPPED)
                                      " lines dropped in a row, disconnected\n"));
        }
    }
}

static size_t on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)s;
    struct client *c = user;
    if (r != KEEL_OK && r != KEEL_ERR_CLOSED) {
        return 0; /* timeout, reset...: on_close follows */
    }
    size_t used_total = 0;
    keel_slice rest = data, line;
    size_t used = 0;
    keel_result d;
    while ((d = r == KEEL_OK ? keel_line_decode(&c->dec, rest, &line, &used)
                             : keel_line_decode_final(&c->dec, rest, &line, &used)) == KEEL_OK) {
        broadcast(c, line);
        used_total += used;
        if (keel_slice_from_off(rest, used, &rest) != KEEL_OK) {
            break;
        }
    }
    if (d == KEEL_ERR_TOO_LARGE) {
        refuse_client(c, KEEL_STR("error: line longer than " NUMBER_TEXT(MAX_LINE) " bytes\n"));
    } else if (r == KEEL_ERR_CLOSED) {
        drop_client(c, false); /* the client is done; flush what it is owed */
    }
    return used_total;
}

static void on_writable(keel_stream *s, keel_result r, bool can_write, void *user)
{
    (void)s;
    (void)r;
    struct client *c = user;
    if (can_write && c->dropped > 0) {
        char note[64];
        int n = snprintf(note, sizeof note, "* %llu lines dropped\n",
                         (unsigned long long)c->dropped);
        keel_slice text;
        if (n > 0 && keel_slice_from(note, (size_t)n, &text) == KEEL_OK) {
            send_to(c, text);
        }
        c->dropped = 0;
    }
}

static void on_close(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    (void)r;
    struct client *c = user;
    if (c == NULL) {
        return; /* refused at accept */
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        clients = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    free(c);
    if (stopping && clients == NULL) {
        keel_loop_stop(keel_stream_loop(s));
    }
}

static const keel_stream_handlers chat_handlers = {
    .on_read = on_read,
    .on_writable = on_writable,
    .on_close = on_close,
};

static void on_accept(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    (void)user;
    if (r != KEEL_OK) {
        /* out of descriptors or memory: the listener pauses and retries */
        fprintf(stderr, "chat_server: accept: %s\n", keel_result_str(r));
        return;
    }
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL || keel_line_decoder_init(&c->dec, MAX_LINE, KEEL_LINE_LF) != KEEL_OK) {
        free(c);
        keel_stream_abort(s);
        return;
    }
    c->s = s;
    c->next = clients;
    if (clients != NULL) {
        clients->prev = c;
    }
    clients = c;
    keel_stream_set_user(s, c);
}

/* SIGINT/SIGTERM: no new clients; every open one is closed once its queue
 * is flushed, and the loop stops when the last is gone. */
static void on_signal(keel_loop *loop, keel_result r, int signo, void *user)
{
    (void)r;
    (void)signo;
    (void)user;
    if (stopping) {
        return;
    }
    stopping = true;
    keel_listener_close(listener);
    listener = NULL;
    for (struct client *c = clients; c != NULL; c = c->next) {
        drop_client(c, false);
    }
    if (clients == NULL) {
        keel_loop_stop(loop);
    }
}

/* Bind, start the listener and the signal handlers, print the address. */
static keel_result start(keel_loop *loop, keel_slice ip, uint16_t port)
{
    keel_net *sock = NULL;
    keel_result r = keel_net_init(&sock);
    if (r == KEEL_OK) {
        r = keel_net_bind(sock, ip, port, KEEL_PROTO_TCP);
    }
    if (r == KEEL_OK) {
        r = keel_listener_start(loop, sock, &chat_handlers, &chat_opts, on_accept, NULL,
                                &listener);
    }
    if (r != KEEL_OK) {
        keel_net_free(sock);
        return r;
    }
    r = keel_loop_signal(loop, SIGINT, on_signal, NULL);
    if (r == KEEL_OK) {
        r = keel_loop_signal(loop, SIGTERM, on_signal, NULL);
    }
    uint16_t real_port = 0;
    if (r == KEEL_OK) {
        r = keel_listener_port(listener, &real_port);
    }
    if (r == KEEL_OK) {
        r = example_announce(ip, real_port);
    }
    return r;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return usage(NULL);
    }
    keel_slice ip;
    uint16_t port = 0;
    const char *why = example_server_args(argc, argv, DEFAULT_PORT, &ip, &port, NULL);
    if (why != NULL) {
        return usage(why);
    }
    keel_loop *loop = NULL;
    keel_result r = keel_loop_new(&loop);
    if (r == KEEL_OK) {
        r = start(loop, ip, port);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "chat_server: cannot listen on %.*s port %u: %s\n", (int)ip.len,
                (const char *)ip.ptr, (unsigned)port, keel_result_str(r));
        keel_loop_free(loop);
        return 1;
    }
    r = keel_loop_run(loop);
    keel_loop_free(loop);
    if (r != KEEL_OK) {
        fprintf(stderr, "chat_server: %s\n", keel_result_str(r));
        return 1;
    }
    return 0;
}

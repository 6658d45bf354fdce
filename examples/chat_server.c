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
 *  Both errors end with a lingering close (keel_framed_close): the client
 *  reads the error line, not a reset caused by what it sent after.
 *
 * Built on framed streams (keel/framed.h): the line codec, whole lines, the
 * last line at EOF, the lingering close and the reading pause of a client
 * whose own queue is full come from there.
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

#include "keel/framed.h"
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
    keel_framed *f;
    uint64_t dropped; /* lines not sent to it since it last caught up */
    bool leaving;     /* closed or aborted: on_close is coming */
};

/* One loop, one thread: plain globals are enough. */
static struct client *clients;
static keel_listener *listener;
static keel_loop *chat_loop;
static bool stopping;

static const keel_stream_opts chat_opts = {
    .write_high = WRITE_HIGH,
    .write_cap = WRITE_CAP,
    /* A client that only listens is normal here: no read timeout. The idle
     * timeout stays (300 s by default for accepted streams): a connection
     * with no traffic either way is closed. */
    .read_timeout_ms = KEEL_STREAM_NO_TIMEOUT,
};
static const keel_framed_opts chat_lines = { .max_item = MAX_LINE, .linger_ms = LINGER_MS };

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

/* Orderly (queued lines are flushed first, then a lingering close, so that
 * c reads them all even if it sent more) or abortive. */
static void drop_client(struct client *c, bool abort)
{
    if (!c->leaving) {
        c->leaving = true;
        if (abort) {
            keel_framed_abort(c->f);
        } else {
            keel_framed_close(c->f);
        }
    }
}

/* Tell c why it is cut off, then close (cut off at once if even the
 * reason does not fit in its queue). */
static void refuse_client(struct client *c, keel_slice why)
{
    if (!c->leaving && keel_framed_write(c->f, why) != KEEL_OK) {
        drop_client(c, true);
    }
    drop_client(c, false);
}

static void broadcast(keel_slice line)
{
    for (struct client *c = clients; c != NULL; c = c->next) {
        if (c->leaving) {
            continue;
        }
        if (keel_stream_can_write(keel_framed_stream(c->f))) {
            if (keel_framed_write(c->f, line) != KEEL_OK) {
                drop_client(c, true); /* past its hard cap */
            }
        } else if (++c->dropped > MAX_DROPPED) {
            refuse_client(c, KEEL_STR("error: too slow: more than " NUMBER_TEXT(MAX_DROPPED)
                                      " lines dropped in a row, disconnected"));
        }
    }
}

static void on_open(keel_framed *f, void *user)
{
    (void)user;
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        keel_framed_abort(f); /* on_close follows, with a NULL user pointer */
        return;
    }
    c->f = f;
    c->next = clients;
    if (clients != NULL) {
        clients->prev = c;
    }
    clients = c;
    keel_framed_set_user(f, c);
    if (stopping) {
        drop_client(c, false);
    }
}

static void on_line(keel_framed *f, keel_slice line, void *user)
{
    (void)f;
    (void)user;
    broadcast(line);
}

/* The client's input ended: at its EOF (a last line without LF came
 * first) the framed stream flushes what it is owed and closes; an
 * over-long line gets its reason before the lingering close. */
static void on_end(keel_framed *f, keel_result r, void *user)
{
    (void)f;
    struct client *c = user;
    if (c != NULL && r == KEEL_ERR_TOO_LARGE) {
        refuse_client(c, KEEL_STR("error: line longer than " NUMBER_TEXT(MAX_LINE) " bytes"));
    }
}

static void on_writable(keel_framed *f, bool can_write, void *user)
{
    (void)f;
    struct client *c = user;
    if (c != NULL && can_write && c->dropped > 0 && !c->leaving) {
        char note[64];
        int n = snprintf(note, sizeof note, "* %llu lines dropped",
                         (unsigned long long)c->dropped);
        keel_slice text;
        if (n > 0 && keel_slice_from(note, (size_t)n, &text) == KEEL_OK &&
            keel_framed_write(c->f, text) != KEEL_OK) {
            drop_client(c, true);
        }
        c->dropped = 0;
    }
}

static void on_close(keel_framed *f, keel_result r, void *user)
{
    (void)r;
    (void)f;
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
        keel_loop_stop(chat_loop);
    }
}

static void on_accept_failed(keel_result r, void *user)
{
    (void)user;
    /* out of descriptors or memory: the listener pauses and retries */
    fprintf(stderr, "chat_server: accept: %s\n", keel_result_str(r));
}

static const keel_framed_handlers chat_handlers = {
    .on_open = on_open,
    .on_item = on_line,
    .on_end = on_end,
    .on_writable = on_writable,
    .on_close = on_close,
};
static const keel_framed_server_opts chat_server = {
    .codec = &chat_lines,
    .handlers = &chat_handlers,
    .on_accept_failed = on_accept_failed,
};

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
        r = keel_framed_listener_start(loop, sock, &chat_server, &chat_opts, &listener);
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
    chat_loop = loop;
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

/*
 * bench/loop/trickle_keel.c - the keel side of the trickle benchmark: one
 * loop on one thread, a listener on 127.0.0.1 (port 0: chosen by the
 * system; prints "listening on 127.0.0.1:PORT"), and a handler that holds
 * a "header block" until it is complete: it consumes nothing until the
 * bytes offered end with "\r\n\r\n" (an O(1) look at the last four
 * bytes, so the handler's own cost per call does not grow with the
 * block), then consumes the whole block. Each call answers one byte, '.'
 * while the block is incomplete, '!' once it is complete, so the client
 * can send the next segment only after this one was offered: every
 * segment is one read.
 *
 * The cost under test is the stream's: holding n unconsumed bytes that
 * arrive in small segments must cost O(n) in total. Stops on SIGINT or
 * SIGTERM. read_cap is 1 MiB (the blocks go up to 256 KiB).
 */
#include <signal.h>
#include <stdio.h>

#include "keel/loop.h"

static size_t trickle_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r != KEEL_OK) {
        keel_stream_close(s);
        return 0;
    }
    bool complete = keel_slice_ends_with(data, KEEL_STR("\r\n\r\n"));
    if (keel_stream_write(s, complete ? KEEL_STR("!") : KEEL_STR(".")) != KEEL_OK) {
        keel_stream_abort(s);
        return 0;
    }
    return complete ? data.len : 0;
}

static const keel_stream_handlers handlers = { .on_read = trickle_read };
static const keel_stream_opts opts = { .read_cap = 1024u * 1024u };

static void accepted(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    (void)s;
    (void)user;
    if (r != KEEL_OK) {
        fprintf(stderr, "trickle_keel: accept: %s\n", keel_result_str(r));
    }
}

static void on_signal(keel_loop *loop, keel_result r, int signo, void *user)
{
    (void)r;
    (void)signo;
    keel_listener_close(user);
    keel_loop_stop(loop);
}

int main(void)
{
    keel_loop *loop = NULL;
    keel_net *sock = NULL;
    keel_listener *l = NULL;
    uint16_t port = 0;
    keel_result r = keel_loop_new(&loop);
    if (r == KEEL_OK) {
        r = keel_net_init(&sock);
    }
    if (r == KEEL_OK) {
        r = keel_net_bind(sock, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP);
    }
    if (r == KEEL_OK) {
        r = keel_listener_start(loop, sock, &handlers, &opts, accepted, NULL, &l);
    }
    if (r == KEEL_OK) {
        sock = NULL; /* the listener's now */
        r = keel_listener_port(l, &port);
    }
    if (r == KEEL_OK) {
        r = keel_loop_signal(loop, SIGTERM, on_signal, l);
    }
    if (r == KEEL_OK) {
        r = keel_loop_signal(loop, SIGINT, on_signal, l);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "trickle_keel: %s\n", keel_result_str(r));
        keel_net_free(sock);
        keel_loop_free(loop);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)port);
    fflush(stdout);
    r = keel_loop_run(loop);
    keel_loop_free(loop);
    return r == KEEL_OK ? 0 : 1;
}

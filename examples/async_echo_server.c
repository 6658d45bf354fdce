/*
 * examples/async_echo_server.c - a TCP echo server on keel's async runtime.
 *
 *   async_echo_server [--threads N] [--ip ADDR] [--port P]
 *
 * Defaults: one loop thread per online CPU, 127.0.0.1, port 7000 (0: chosen
 * by the system). Once it accepts connections it prints exactly
 * "listening on ADDR:PORT" (the real port) on stdout and flushes, so that a
 * script can wait for that line. Every client is served concurrently and
 * gets back every byte it sends.
 *
 * Back-pressure: when a client sends faster than it reads, its stream's
 * write queue reaches write_high and the stream says it cannot take more
 * (on_writable(false)); the server then stops reading that client, so the
 * kernel's buffers push back on it, and resumes when the queue has drained
 * (on_writable(true)). Server memory per client stays under the stream's
 * caps whatever the client does.
 *
 * SIGINT/SIGTERM: graceful shutdown (stop accepting, let clients finish
 * within the grace period), exit 0. Bad arguments: usage on stderr, exit 2.
 * Failure to listen: exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keel/loop.h"

#include "example_server.h"

enum { DEFAULT_PORT = 7000 };

/* why == NULL: --help, the usage on stdout and exit 0; else on stderr, 2. */
static int usage(const char *why)
{
    if (why != NULL) {
        fprintf(stderr, "async_echo_server: %s\n", why);
    }
    fprintf(why == NULL ? stdout : stderr,
            "usage: async_echo_server [--threads N] [--ip ADDR] [--port P]\n"
            "  --threads  loop threads, 1..%d (default: one per online CPU)\n"
            "  --ip       numeric IPv4/IPv6 address to bind (default 127.0.0.1)\n"
            "  --port     0..65535, no leading zeros (default %d; 0: chosen by the system)\n",
            EXAMPLE_MAX_THREADS, DEFAULT_PORT);
    return why == NULL ? 0 : 2;
}

/* Echo what arrived. Everything offered is consumed: if the queue cannot
 * take it the client is past every cap the server allows, so it is cut off. */
static size_t on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r == KEEL_ERR_CLOSED) {
        keel_stream_close(s); /* the client is done: flush its echo, then close */
        return 0;
    }
    if (r != KEEL_OK) {
        return 0; /* on_close follows */
    }
    if (keel_stream_write(s, data) != KEEL_OK) {
        keel_stream_abort(s);
    } else if (!keel_stream_can_write(s)) {
        keel_stream_read_stop(s);
    }
    return data.len;
}

static void on_writable(keel_stream *s, keel_result r, bool can_write, void *user)
{
    (void)r;
    (void)user;
    if (can_write) {
        keel_stream_read_start(s);
    } else {
        keel_stream_read_stop(s);
    }
}

static const keel_stream_handlers echo_handlers = {
    .on_read = on_read,
    .on_writable = on_writable,
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return usage(NULL);
    }
    keel_server_opts o = {
        .handle_signals = true,
        .handlers = &echo_handlers,
    };
    const char *why = example_server_args(argc, argv, DEFAULT_PORT, &o.ip, &o.port, &o.threads);
    if (why != NULL) {
        return usage(why);
    }
    keel_server *srv = NULL;
    keel_result r = keel_server_start(&o, &srv);
    if (r != KEEL_OK) {
        fprintf(stderr, "async_echo_server: cannot listen on %.*s port %u: %s\n", (int)o.ip.len,
                (const char *)o.ip.ptr, (unsigned)o.port, keel_result_str(r));
        return 1;
    }
    uint16_t port = 0;
    r = keel_server_port(srv, &port);
    if (r == KEEL_OK) {
        r = example_announce(o.ip, port);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "async_echo_server: cannot announce the address: %s\n",
                keel_result_str(r));
        keel_server_shutdown(srv, 0);
    }
    keel_result wr = keel_server_wait(srv); /* until SIGINT/SIGTERM */
    keel_server_free(srv);
    if (wr != KEEL_OK) {
        fprintf(stderr, "async_echo_server: %s\n", keel_result_str(wr));
    }
    return r == KEEL_OK && wr == KEEL_OK ? 0 : 1;
}

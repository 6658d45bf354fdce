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

enum { DEFAULT_PORT = 7000, MAX_THREADS = 256 };

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
            MAX_THREADS, DEFAULT_PORT);
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

static bool parse_number(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    return text != NULL && keel_slice_parse_u64(keel_slice_cstr(text), max, out) == KEEL_OK &&
           *out >= min;
}

/* Returns NULL on success, else the reason for the usage message. */
static const char *parse_args(int argc, char **argv, keel_server_opts *o)
{
    o->port = DEFAULT_PORT;
    uint64_t threads = 0;
    o->ip = KEEL_STR("127.0.0.1");
    for (int i = 1; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--threads") == 0) {
            if (!parse_number(value, 1, MAX_THREADS, &threads)) {
                return "--threads needs a number 1..256";
            }
        } else if (strcmp(argv[i], "--port") == 0) {
            if (value == NULL ||
                keel_addr_parse_port(keel_slice_cstr(value), &o->port) != KEEL_OK) {
                return "--port needs a number 0..65535 without leading zeros";
            }
        } else if (strcmp(argv[i], "--ip") == 0) {
            keel_addr check;
            if (value == NULL || keel_addr_parse_ip(keel_slice_cstr(value), &check) != KEEL_OK) {
                return "--ip needs a numeric IPv4 or IPv6 address";
            }
            o->ip = keel_slice_cstr(value);
        } else {
            return "unknown argument";
        }
    }
    o->threads = (unsigned)threads;
    return NULL;
}

/* "ADDR:PORT" ("[v6]:PORT" for IPv6) of the ip the server was given and the
 * port it really listens on. */
static keel_result announce(const keel_server *srv, keel_slice ip)
{
    uint8_t text[KEEL_ADDR_TEXT_MAX];
    keel_buf out;
    keel_addr a;
    uint16_t port = 0;
    keel_result r = keel_server_port(srv, &port);
    if (r == KEEL_OK) {
        r = keel_addr_parse_ip(ip, &a);
    }
    if (r == KEEL_OK) {
        a.port = port;
        r = keel_buf_init(&out, text, sizeof text);
    }
    if (r == KEEL_OK) {
        r = keel_addr_format(&a, &out);
    }
    if (r == KEEL_OK) {
        printf("listening on %.*s\n", (int)out.len, (const char *)out.ptr);
        r = fflush(stdout) == 0 ? KEEL_OK : KEEL_ERR_OS;
    }
    return r;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return usage(NULL);
    }
    keel_server_opts o = {
        .handle_signals = true,
        .handlers = &echo_handlers,
    };
    const char *why = parse_args(argc, argv, &o);
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
    r = announce(srv, o.ip);
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

/*
 * examples/example_http.h - what the HTTP server examples (http_hello,
 * http_json_server) share: the --ip/--port/--threads flags, the
 * "listening on ADDR:PORT" line once ready, and running until SIGINT or
 * SIGTERM (graceful shutdown, exit 0). Bad arguments exit 2, a failure to
 * listen exits 1.
 */
#ifndef KEEL_EXAMPLES_EXAMPLE_HTTP_H
#define KEEL_EXAMPLES_EXAMPLE_HTTP_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keel/http_server.h"

enum { EXAMPLE_HTTP_DEFAULT_PORT = 8080, EXAMPLE_HTTP_MAX_THREADS = 256 };

static int example_http_usage(const char *prog, const char *why)
{
    fprintf(stderr,
            "%s: %s\n"
            "usage: %s [--threads N] [--ip ADDR] [--port P]\n"
            "  --threads  loop threads, 1..%d (default: one per online CPU)\n"
            "  --ip       numeric IPv4/IPv6 address to bind (default 127.0.0.1)\n"
            "  --port     0..65535 (default %d; 0: chosen by the system)\n",
            prog, why, prog, EXAMPLE_HTTP_MAX_THREADS, EXAMPLE_HTTP_DEFAULT_PORT);
    return 2;
}

static bool example_http_number(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    return text != NULL && keel_slice_parse_u64(keel_slice_cstr(text), max, out) == KEEL_OK &&
           *out >= min;
}

/* Returns NULL on success, else the reason for the usage message. */
static const char *example_http_args(int argc, char **argv, keel_http_server_opts *o)
{
    uint64_t port = EXAMPLE_HTTP_DEFAULT_PORT;
    uint64_t threads = 0;
    o->ip = KEEL_STR("127.0.0.1");
    for (int i = 1; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--threads") == 0) {
            if (!example_http_number(value, 1, EXAMPLE_HTTP_MAX_THREADS, &threads)) {
                return "--threads needs a number 1..256";
            }
        } else if (strcmp(argv[i], "--port") == 0) {
            if (!example_http_number(value, 0, UINT16_MAX, &port)) {
                return "--port needs a number 0..65535";
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
    o->port = (uint16_t)port;
    o->threads = (unsigned)threads;
    return NULL;
}

/* Start the server, print "listening on ADDR:PORT", serve until a signal. */
static int example_http_run(const char *prog, keel_http_server_opts *o)
{
    o->handle_signals = true;
    keel_http_server *srv = NULL;
    keel_slice ip = o->ip;
    keel_result r = keel_http_server_start(o, &srv);
    if (r != KEEL_OK) {
        fprintf(stderr, "%s: cannot listen on %.*s port %u: %s\n", prog, (int)ip.len,
                (const char *)ip.ptr, (unsigned)o->port, keel_result_str(r));
        return 1;
    }
    uint8_t text[KEEL_ADDR_TEXT_MAX];
    keel_buf out;
    keel_addr a;
    uint16_t port = 0;
    r = keel_http_server_port(srv, &port);
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
    if (r != KEEL_OK) {
        fprintf(stderr, "%s: cannot announce the address: %s\n", prog, keel_result_str(r));
        keel_http_server_shutdown(srv, 0);
    }
    keel_result wr = keel_http_server_wait(srv); /* until SIGINT/SIGTERM */
    keel_http_server_free(srv);
    if (wr != KEEL_OK) {
        fprintf(stderr, "%s: %s\n", prog, keel_result_str(wr));
    }
    return r == KEEL_OK && wr == KEEL_OK ? 0 : 1;
}

#endif /* KEEL_EXAMPLES_EXAMPLE_HTTP_H */

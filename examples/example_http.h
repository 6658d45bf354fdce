/*
 * examples/example_http.h - what the HTTP server examples (http_hello,
 * http_json_server) share: the --ip/--port/--threads flags and the
 * "listening on ADDR:PORT" line (example_server.h), and running until
 * SIGINT or SIGTERM (graceful shutdown, exit 0). Bad arguments exit 2, a failure to
 * listen exits 1.
 */
#ifndef KEEL_EXAMPLES_EXAMPLE_HTTP_H
#define KEEL_EXAMPLES_EXAMPLE_HTTP_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keel/http_server.h"

#include "example_server.h"

enum { EXAMPLE_HTTP_DEFAULT_PORT = 8080 };

static int example_http_usage(const char *prog, const char *why)
{
    /* why == NULL: --help, the usage on stdout and exit 0; else on stderr, 2. */
    if (why != NULL) {
        fprintf(stderr, "%s: %s\n", prog, why);
    }
    fprintf(why == NULL ? stdout : stderr,
            "usage: %s [--threads N] [--ip ADDR] [--port P]\n"
            "  --threads  loop threads, 1..%d (default: one per online CPU)\n"
            "  --ip       numeric IPv4/IPv6 address to bind (default 127.0.0.1)\n"
            "  --port     0..65535, no leading zeros (default %d; 0: chosen by the system)\n",
            prog, EXAMPLE_MAX_THREADS, EXAMPLE_HTTP_DEFAULT_PORT);
    return why == NULL ? 0 : 2;
}

/* Returns NULL on success, else the reason for the usage message. */
static const char *example_http_args(int argc, char **argv, keel_http_server_opts *o)
{
    return example_server_args(argc, argv, EXAMPLE_HTTP_DEFAULT_PORT, &o->ip, &o->port,
                               &o->threads);
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
    uint16_t port = 0;
    r = keel_http_server_port(srv, &port);
    if (r == KEEL_OK) {
        r = example_announce(ip, port);
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

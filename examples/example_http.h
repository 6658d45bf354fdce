/*
 * examples/example_http.h - what the HTTP server examples (http_hello,
 * http_json_server) share: the --ip/--port/--threads flags and the
 * "listening on ADDR:PORT" line (example_server.h), HTTPS with --cert and
 * --key (when keel has its TLS layer), and running until SIGINT or SIGTERM
 * (graceful shutdown, exit 0). Bad arguments exit 2, a failure to listen
 * or to load the certificate exits 1.
 */
#ifndef KEEL_EXAMPLES_EXAMPLE_HTTP_H
#define KEEL_EXAMPLES_EXAMPLE_HTTP_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keel/http_server.h"
#include "keel/version.h"
#if KEEL_HAS_TLS
#include "keel/tls.h"
#endif

#include "example_server.h"

enum { EXAMPLE_HTTP_DEFAULT_PORT = 8080 };

static int example_http_usage(const char *prog, const char *why)
{
    /* why == NULL: --help, the usage on stdout and exit 0; else on stderr, 2. */
    if (why != NULL) {
        fprintf(stderr, "%s: %s\n", prog, why);
    }
    fprintf(why == NULL ? stdout : stderr,
            "usage: %s [--threads N] [--ip ADDR] [--port P] [--cert FILE --key FILE]\n"
            "  --threads  loop threads, 1..%d (default: one per online CPU)\n"
            "  --ip       numeric IPv4/IPv6 address to bind (default 127.0.0.1)\n"
            "  --port     0..65535, no leading zeros (default %d; 0: chosen by the system)\n"
            "  --cert, --key  serve HTTPS with this PEM certificate chain and key\n"
            "             (keel built with its TLS layer)\n",
            prog, EXAMPLE_MAX_THREADS, EXAMPLE_HTTP_DEFAULT_PORT);
    return why == NULL ? 0 : 2;
}

/* The files of --cert and --key (NULL: not given). */
typedef struct example_http_files {
    const char *cert, *key;
} example_http_files;

/* Returns NULL on success, else the reason for the usage message. */
static const char *example_http_args(int argc, char **argv, keel_http_server_opts *o,
                                     example_http_files *files)
{
    /* --cert and --key here, the rest to example_server_args. */
    char *rest[64];
    int n = 0;
    *files = (example_http_files){ NULL, NULL };
    for (int i = 0; i < argc; i++) {
        bool cert = strcmp(argv[i], "--cert") == 0, key = strcmp(argv[i], "--key") == 0;
        if (i > 0 && (cert || key)) {
            if (i + 1 >= argc) {
                return "--cert and --key need a file";
            }
            *(cert ? &files->cert : &files->key) = argv[++i];
        } else if (n < 64) {
            rest[n++] = argv[i];
        } else {
            return "too many arguments";
        }
    }
    if ((files->cert == NULL) != (files->key == NULL)) {
        return "--cert and --key go together";
    }
    if (files->cert != NULL && !KEEL_HAS_TLS) {
        return "--cert: this keel was built without its TLS layer";
    }
    return example_server_args(n, rest, EXAMPLE_HTTP_DEFAULT_PORT, &o->ip, &o->port,
                               &o->threads);
}

/* Start the server (HTTPS with files), print "listening on ADDR:PORT",
 * serve until a signal. */
static int example_http_run(const char *prog, keel_http_server_opts *o,
                            const example_http_files *files)
{
    o->handle_signals = true;
    keel_result r = KEEL_OK;
#if KEEL_HAS_TLS
    keel_tls_config *cfg = NULL;
    keel_http_tls *tls = NULL;
    if (files->cert != NULL) {
        keel_tls_config_opts to = { .role = KEEL_TLS_SERVER,
                                    .cert_file = keel_slice_cstr(files->cert),
                                    .key_file = keel_slice_cstr(files->key) };
        r = keel_tls_config_new(&to, &cfg, NULL);
        if (r == KEEL_OK) {
            r = keel_http_tls_new(cfg, &tls);
        }
        if (r != KEEL_OK) {
            fprintf(stderr, "%s: cannot use %s and %s: %s\n", prog, files->cert, files->key,
                    keel_result_str(r));
            keel_tls_config_free(cfg);
            return 1;
        }
        o->tls = tls;
    }
#else
    (void)files;
#endif
    keel_http_server *srv = NULL;
    keel_slice ip = o->ip;
    r = keel_http_server_start(o, &srv);
    if (r != KEEL_OK) {
        fprintf(stderr, "%s: cannot listen on %.*s port %u: %s\n", prog, (int)ip.len,
                (const char *)ip.ptr, (unsigned)o->port, keel_result_str(r));
    } else {
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
            r = r == KEEL_OK ? wr : r;
        }
    }
#if KEEL_HAS_TLS
    keel_http_tls_free(tls);
    keel_tls_config_free(cfg);
#endif
    return r == KEEL_OK ? 0 : 1;
}

#endif /* KEEL_EXAMPLES_EXAMPLE_HTTP_H */

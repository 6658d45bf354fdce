/*
 * bench/tls/tls_sink.c - a TLS sink on keel's loop (one thread): reads and
 * drops every byte, ends each connection with close_notify when the client
 * does. The keel side of bench/tls/run.sh's bulk runs (openssl's side is
 * `openssl s_server -quiet` with its output to /dev/null).
 *
 *   tls_sink --cert FILE --key FILE [--port P]
 *
 * Prints "listening on 127.0.0.1:PORT" once ready; exits 0 on SIGTERM.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keel/loop.h"
#include "keel/tls.h"

static size_t sink_read(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r == KEEL_ERR_CLOSED || r == KEEL_ERR_TLS_TRUNCATED) {
        keel_tls_stream_close(t);
    }
    return data.len;
}

static const keel_tls_stream_handlers sink_handlers = { .on_read = sink_read };

int main(int argc, char **argv)
{
    keel_tls_config_opts copts = { .role = KEEL_TLS_SERVER };
    uint64_t port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--cert") == 0) {
            copts.cert_file = keel_slice_cstr(argv[i + 1]);
        } else if (strcmp(argv[i], "--key") == 0) {
            copts.key_file = keel_slice_cstr(argv[i + 1]);
        } else if (strcmp(argv[i], "--port") != 0 ||
                   keel_slice_parse_u64(keel_slice_cstr(argv[i + 1]), UINT16_MAX, &port) !=
                       KEEL_OK) {
            fprintf(stderr, "usage: tls_sink --cert FILE --key FILE [--port P]\n");
            return 2;
        }
    }
    keel_tls_config *cfg = NULL;
    keel_result r = keel_tls_config_new(&copts, &cfg, NULL);
    if (r != KEEL_OK) {
        fprintf(stderr, "tls_sink: %s\n", keel_result_str(r));
        return 1;
    }
    keel_tls_server_opts tls = { .config = cfg, .handlers = &sink_handlers };
    keel_server_opts o = { .ip = KEEL_STR("127.0.0.1"), .port = (uint16_t)port, .threads = 1,
                           .handle_signals = true };
    keel_server *srv = NULL;
    uint16_t real = 0;
    r = keel_tls_server_start(&o, &tls, &srv);
    if (r == KEEL_OK) {
        r = keel_server_port(srv, &real);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "tls_sink: %s\n", keel_result_str(r));
        keel_server_free(srv);
        keel_tls_config_free(cfg);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)real);
    fflush(stdout);
    keel_result wr = keel_server_wait(srv);
    keel_server_free(srv);
    keel_tls_config_free(cfg);
    return wr == KEEL_OK ? 0 : 1;
}

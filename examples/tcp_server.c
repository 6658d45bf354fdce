/*
 * examples/tcp_server.c - a blocking TCP server (docs/guide-tcp.md): one
 * client at a time, a line protocol read with keel_reader.
 *
 *   tcp_server [port] [clients]
 *
 * Listens on 127.0.0.1 (port 0, the default: chosen by the system), prints
 * "listening on 127.0.0.1:PORT", then answers every line a client sends,
 * "NAME", with "hello, NAME". A line longer than MAX_LINE bytes ends that
 * client. Stops after `clients` clients (default: never). Exit 0, 1 if the
 * listening socket fails, 2 on bad arguments.
 */
#include <stdio.h>

#include "keel/net.h"
#include "keel/reader.h"

enum {
    MAX_LINE = 256,
    IO_TIMEOUT_MS = 10000 /* a silent client is dropped after 10 s */
};

/* guide:serve:begin */
/* Answer one client's lines until it closes, goes quiet or misbehaves. */
static keel_result serve(keel_net *client)
{
    uint8_t storage[MAX_LINE + 2]; /* the longest line and its CRLF */
    keel_buf in;
    keel_reader reader;
    keel_line_decoder dec;
    KEEL_TRY(keel_buf_init(&in, storage, sizeof storage));
    KEEL_TRY(keel_reader_init(&reader, client, in));
    KEEL_TRY(keel_line_decoder_init(&dec, MAX_LINE, KEEL_LINE_ANY));
    for (;;) {
        keel_slice name;
        keel_result r = keel_reader_read_line(&reader, &dec, IO_TIMEOUT_MS, &name);
        if (r == KEEL_ERR_CLOSED) {
            return KEEL_OK; /* the client is done */
        }
        KEEL_TRY(r); /* TIMEOUT, TOO_LARGE (a line over MAX_LINE), RESET... */

        uint8_t out_storage[MAX_LINE + 16];
        keel_buf out;
        KEEL_TRY(keel_buf_init(&out, out_storage, sizeof out_storage));
        KEEL_TRY(keel_buf_append(&out, KEEL_STR("hello, ")));
        KEEL_TRY(keel_buf_append(&out, name));
        KEEL_TRY(keel_buf_append(&out, KEEL_STR("\n")));
        KEEL_TRY(keel_net_send_all(client, keel_buf_slice(&out), IO_TIMEOUT_MS, NULL));
    }
}
/* guide:serve:end */

int main(int argc, char **argv)
{
    static const char usage[] = "usage: tcp_server [port] [clients]\n";
    if (argc == 2 && keel_slice_eq(keel_slice_cstr(argv[1]), KEEL_STR("--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    uint16_t port = 0;
    uint64_t clients = UINT64_MAX;
    if (argc > 3 ||
        (argc > 1 && keel_addr_parse_port(keel_slice_cstr(argv[1]), &port) != KEEL_OK) ||
        (argc > 2 &&
         keel_slice_parse_u64(keel_slice_cstr(argv[2]), UINT32_MAX, &clients) != KEEL_OK)) {
        fputs(usage, stderr);
        return 2;
    }
    /* guide:listen:begin */
    keel_net *listener = NULL;
    keel_addr local;
    keel_result r = keel_net_init(&listener);
    if (r == KEEL_OK) {
        r = keel_net_bind(listener, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP);
    }
    if (r == KEEL_OK) {
        r = keel_net_local_addr(listener, &local); /* the port the system chose */
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "tcp_server: cannot listen: %s\n", keel_result_str(r));
        keel_net_free(listener);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)local.port);
    fflush(stdout);

    keel_net *client = NULL;
    r = keel_net_init(&client); /* one context, reopened for each client */
    for (uint64_t served = 0; r == KEEL_OK && served < clients; served++) {
        r = keel_net_accept(listener, client, NULL);
        if (r == KEEL_OK) {
            keel_result s = serve(client);
            if (s != KEEL_OK) {
                fprintf(stderr, "tcp_server: client dropped: %s\n", keel_result_str(s));
            }
            keel_net_close(client); /* closed, ready for the next accept */
        }
    }
    keel_net_free(client);
    keel_net_free(listener);
    /* guide:listen:end */
    if (r != KEEL_OK) {
        fprintf(stderr, "tcp_server: %s\n", keel_result_str(r));
        return 1;
    }
    return 0;
}

/*
 * examples/tcp_client.c - a blocking TCP client (docs/guide-tcp.md) for
 * examples/tcp_server.c.
 *
 *   tcp_client host port name...
 *
 * Connects, sends each name as a line, reads each answer line and prints
 * it. Exit 0, 1 on a connection or I/O failure (with keel_result_str), 2 on
 * bad arguments.
 */
#include <stdio.h>

#include "keel/net.h"
#include "keel/reader.h"

enum {
    MAX_LINE = 512,
    TIMEOUT_MS = 5000
};

/* guide:client:begin */
/* Send each name, print each answer. */
static keel_result greet_all(keel_slice host, uint16_t port, char **names, int count)
{
    keel_net *net = NULL;
    KEEL_TRY(keel_net_init(&net));
    keel_result r = keel_net_connect(net, host, port, KEEL_PROTO_TCP, TIMEOUT_MS);

    uint8_t storage[MAX_LINE + 2];
    keel_buf in;
    keel_reader reader;
    keel_line_decoder dec;
    if (r == KEEL_OK) {
        r = keel_buf_init(&in, storage, sizeof storage);
    }
    if (r == KEEL_OK) {
        r = keel_reader_init(&reader, net, in);
    }
    if (r == KEEL_OK) {
        r = keel_line_decoder_init(&dec, MAX_LINE, KEEL_LINE_ANY);
    }
    for (int i = 0; r == KEEL_OK && i < count; i++) {
        keel_slice answer;
        r = keel_net_send_all(net, keel_slice_cstr(names[i]), TIMEOUT_MS, NULL);
        if (r == KEEL_OK) {
            r = keel_net_send_all(net, KEEL_STR("\n"), TIMEOUT_MS, NULL);
        }
        if (r == KEEL_OK) {
            r = keel_reader_read_line(&reader, &dec, TIMEOUT_MS, &answer);
        }
        if (r == KEEL_OK) {
            printf("%.*s\n", (int)answer.len, (const char *)answer.ptr);
        }
    }
    keel_net_free(net); /* closes the connection */
    return r;
}
/* guide:client:end */

int main(int argc, char **argv)
{
    static const char usage[] = "usage: tcp_client host port name...\n";
    if (argc == 2 && keel_slice_eq(keel_slice_cstr(argv[1]), KEEL_STR("--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    uint16_t port = 0;
    if (argc < 4 || keel_addr_parse_port(keel_slice_cstr(argv[2]), &port) != KEEL_OK || port == 0) {
        fputs(usage, stderr);
        return 2;
    }
    keel_result r = greet_all(keel_slice_cstr(argv[1]), port, argv + 3, argc - 3);
    if (r != KEEL_OK) {
        fprintf(stderr, "tcp_client: %s\n", keel_result_str(r));
        return 1;
    }
    return 0;
}

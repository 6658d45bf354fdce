/*
 * examples/readme_snippet.c - the API tour of README.md, compiled and run by
 * the examples test so that the README cannot drift from the API. The text
 * between the README markers is the README's code block, byte for byte.
 *
 *   readme_snippet host port   (talks to an echo server; prints its reply)
 */
#include <stdio.h>

/* README:begin */
#include "keel/net.h"

/* Say hello to a TCP server and append its reply to `reply`. */
static keel_result say_hello(keel_slice host, uint16_t port, keel_buf *reply)
{
    keel_net *net = NULL;
    keel_result r = keel_net_init(&net); /* a closed context */
    if (r != KEEL_OK) {
        return r;
    }
    r = keel_net_connect(net, host, port, KEEL_PROTO_TCP, 5000 /* ms */);
    if (r == KEEL_OK) {
        r = keel_net_send_all(net, KEEL_STR("hello\n"), 5000, NULL);
    }
    if (r == KEEL_OK) {
        /* Appends to the spare room of reply; never writes past its cap. */
        r = keel_net_recv_timeout(net, reply, 5000, NULL);
    }
    keel_net_close(net); /* idempotent */
    keel_net_free(net);
    return r;
}
/* README:end */

int main(int argc, char **argv)
{
    static const char usage[] = "usage: readme_snippet host port\n";
    if (argc == 2 && keel_slice_eq(keel_slice_cstr(argv[1]), KEEL_STR("--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    uint16_t port = 0;
    if (argc != 3 || keel_addr_parse_port(keel_slice_cstr(argv[2]), &port) != KEEL_OK) {
        fputs(usage, stderr);
        return 2;
    }
    uint8_t storage[256];
    keel_buf reply;
    keel_result r = keel_buf_init(&reply, storage, sizeof storage);
    if (r == KEEL_OK) {
        r = say_hello(keel_slice_cstr(argv[1]), port, &reply);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "readme_snippet: %s\n", keel_result_str(r));
        return 1;
    }
    printf("reply: %.*s", (int)reply.len, (const char *)reply.ptr);
    return 0;
}

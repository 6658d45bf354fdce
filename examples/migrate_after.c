/*
 * examples/migrate_after.c - the "after" side of
 * docs/migrating-from-mbedtls-net.md: examples/migrate_before.c (a TCP
 * client on mbed TLS's net_sockets) written with keel.
 *
 *   migrate_after host port message
 *
 * Sends the message and a newline, prints "reply: " and the first line that
 * comes back. Exit 0, 1 on failure (with the keel_result's name and
 * description), 2 on bad arguments.
 */
#include <stdio.h>

#include "keel/net.h"

enum { TIMEOUT_MS = 5000 };

/* guide:after:begin */
/* Send message, read until a newline into reply. */
static keel_result ask(keel_slice host, uint16_t port, keel_slice message, keel_buf *reply)
{
    keel_net *net = NULL;
    KEEL_TRY(keel_net_init(&net)); /* allocates an opaque, closed context */
    /* One deadline for resolving and trying every address. */
    keel_result r = keel_net_connect(net, host, port, KEEL_PROTO_TCP, TIMEOUT_MS);
    /* Every byte or an error; EINTR retried; no SIGPIPE (MSG_NOSIGNAL). */
    if (r == KEEL_OK) {
        r = keel_net_send_all(net, message, TIMEOUT_MS, NULL);
    }
    if (r == KEEL_OK) {
        r = keel_net_send_all(net, KEEL_STR("\n"), TIMEOUT_MS, NULL);
    }
    while (r == KEEL_OK && !keel_slice_ends_with(keel_buf_slice(reply), KEEL_STR("\n"))) {
        /* poll() inside, any descriptor number. Appends to reply's spare
         * room: TOO_LARGE when it is full, CLOSED on EOF, TIMEOUT. */
        r = keel_net_recv_timeout(net, reply, TIMEOUT_MS, NULL);
    }
    keel_net_free(net); /* closes, then frees; NULL is fine */
    return r;
}

int main(int argc, char **argv)
{
    static const char usage[] = "usage: migrate_after host port message\n";
    if (argc == 2 && keel_slice_eq(keel_slice_cstr(argv[1]), KEEL_STR("--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    uint16_t port = 0; /* "080" is a parse error, not 80 */
    if (argc != 4 || keel_addr_parse_port(keel_slice_cstr(argv[2]), &port) != KEEL_OK) {
        fputs(usage, stderr);
        return 2;
    }
    /* No signal handling: keel never raises SIGPIPE. */
    uint8_t storage[256];
    keel_buf reply;
    keel_result r = keel_buf_init(&reply, storage, sizeof storage);
    if (r == KEEL_OK) {
        r = ask(keel_slice_cstr(argv[1]), port, keel_slice_cstr(argv[3]), &reply);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "migrate_after: %s (%s)\n", keel_result_name(r), keel_result_str(r));
        return 1;
    }
    printf("reply: %.*s", (int)reply.len, (const char *)reply.ptr);
    return 0;
}
/* guide:after:end */

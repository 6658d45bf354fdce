/*
 * examples/echo_client.c - sends stdin line by line to an echo server.
 *
 *   echo_client tcp|udp host port
 *
 * Each line (with its newline) goes out as it is; the echo is read back
 * (exactly as many bytes for TCP, one datagram for UDP) and printed as
 * "Response received: <line>". Exits 0 at end of input, 1 on a connection
 * or I/O failure (reported with keel_result_str), 2 on bad arguments.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "keel/net.h"

enum {
    CONNECT_TIMEOUT_MS = 5000,
    IO_TIMEOUT_MS = 10000
};

/* Room for the largest UDP payload: a reply never comes back TRUNCATED. */
#define UDP_REPLY_ROOM 65536u

/* why == NULL: --help, the usage on stdout and exit 0; else on stderr, 2. */
static int usage(const char *why)
{
    if (why != NULL) {
        fprintf(stderr, "echo_client: %s\n", why);
    }
    fputs("usage: echo_client tcp|udp host port\n"
          "  sends each line of stdin and prints \"Response received: <line>\"\n",
          why == NULL ? stdout : stderr);
    return why == NULL ? 0 : 2;
}

/* One round trip: line out, its echo appended to the empty buf reply. */
static keel_result echo_line(keel_net *net, keel_proto proto, keel_slice line, keel_buf *reply)
{
    keel_buf_clear(reply);
    if (proto == KEEL_PROTO_TCP) {
        keel_result r = keel_net_send_all(net, line, IO_TIMEOUT_MS, NULL);
        return r == KEEL_OK ? keel_net_recv_exact(net, reply, line.len, IO_TIMEOUT_MS) : r;
    }
    size_t sent = 0;
    keel_result r = keel_net_send(net, line, &sent);
    return r == KEEL_OK ? keel_net_recv_timeout(net, reply, IO_TIMEOUT_MS, NULL) : r;
}

/* Grows *storage to at least need bytes and points reply at it (empty). */
static keel_result reply_room(uint8_t **storage, size_t *cap, size_t need, keel_buf *reply)
{
    if (need > *cap) {
        uint8_t *bigger = realloc(*storage, need);
        if (bigger == NULL) {
            return KEEL_ERR_NO_MEMORY;
        }
        *storage = bigger;
        *cap = need;
    }
    return keel_buf_init(reply, *storage, *cap);
}

static void print_response(keel_slice echo)
{
    keel_slice text = echo;
    if (keel_slice_ends_with(echo, KEEL_STR("\n"))) {
        text.len--;
    }
    fputs("Response received: ", stdout);
    fwrite(text.ptr, 1, text.len, stdout);
    fputc('\n', stdout);
}

/* Echoes every line of stdin; KEEL_OK at end of input. */
static keel_result run(keel_net *net, keel_proto proto)
{
    char *line = NULL;
    size_t line_cap = 0;
    uint8_t *storage = NULL;
    size_t cap = 0;
    keel_result r = KEEL_OK;
    ssize_t n;
    while (r == KEEL_OK && (n = getline(&line, &line_cap, stdin)) >= 0) {
        keel_slice out;
        keel_buf reply;
        r = keel_slice_from(line, (size_t)n, &out);
        if (r == KEEL_OK) {
            size_t need = proto == KEEL_PROTO_TCP ? out.len : UDP_REPLY_ROOM;
            r = reply_room(&storage, &cap, need, &reply);
        }
        if (r == KEEL_OK) {
            r = echo_line(net, proto, out, &reply);
        }
        if (r == KEEL_OK) {
            print_response(keel_buf_slice(&reply));
        }
    }
    if (r == KEEL_OK && ferror(stdin)) {
        fprintf(stderr, "echo_client: cannot read stdin\n");
        r = KEEL_ERR_OS;
    }
    free(line);
    free(storage);
    return r;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return usage(NULL);
    }
    if (argc != 4) {
        return usage(argc < 4 ? "missing arguments" : "too many arguments");
    }
    keel_proto proto;
    if (strcmp(argv[1], "tcp") == 0) {
        proto = KEEL_PROTO_TCP;
    } else if (strcmp(argv[1], "udp") == 0) {
        proto = KEEL_PROTO_UDP;
    } else {
        return usage("protocol must be tcp or udp");
    }
    keel_slice host = keel_slice_cstr(argv[2]);
    if (host.len == 0) {
        return usage("empty host");
    }
    uint16_t port = 0;
    if (keel_addr_parse_port(keel_slice_cstr(argv[3]), &port) != KEEL_OK || port == 0) {
        return usage("port must be a number 1..65535 without leading zeros");
    }

    keel_net *net = NULL;
    keel_result r = keel_net_init(&net);
    if (r == KEEL_OK) {
        r = keel_net_connect(net, host, (uint16_t)port, proto, CONNECT_TIMEOUT_MS);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "echo_client: cannot connect to %s port %s (%s): %s\n", argv[2], argv[3],
                argv[1], keel_result_str(r));
        keel_net_free(net);
        return 1;
    }
    r = run(net, proto);
    keel_net_free(net);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "echo_client: cannot write stdout\n");
        return 1;
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "echo_client: %s\n", keel_result_str(r));
        return 1;
    }
    return 0;
}

/*
 * examples/example_server.h - what the examples' servers on the async
 * runtime share (async_echo_server, chat_server, http_hello,
 * http_json_server): the --ip / --port / --threads flags and the
 * "listening on ADDR:PORT" line a script waits for.
 */
#ifndef KEEL_EXAMPLES_EXAMPLE_SERVER_H
#define KEEL_EXAMPLES_EXAMPLE_SERVER_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keel/addr.h"
#include "keel/slice.h"

enum { EXAMPLE_MAX_THREADS = 256 };

static inline bool example_number(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    return text != NULL && keel_slice_parse_u64(keel_slice_cstr(text), max, out) == KEEL_OK &&
           *out >= min;
}

/* --ip ADDR (default 127.0.0.1), --port P (default default_port) and, when
 * threads is not NULL, --threads N (1..256; default 0: one per CPU).
 * Returns NULL on success, else the reason for the usage message. */
static inline const char *example_server_args(int argc, char **argv, uint16_t default_port,
                                              keel_slice *ip, uint16_t *port, unsigned *threads)
{
    uint64_t p = default_port;
    uint64_t n = 0;
    *ip = KEEL_STR("127.0.0.1");
    for (int i = 1; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (threads != NULL && strcmp(argv[i], "--threads") == 0) {
            if (!example_number(value, 1, EXAMPLE_MAX_THREADS, &n)) {
                return "--threads needs a number 1..256";
            }
        } else if (strcmp(argv[i], "--port") == 0) {
            uint16_t v = 0;
            if (value == NULL || keel_addr_parse_port(keel_slice_cstr(value), &v) != KEEL_OK) {
                return "--port needs a number 0..65535 without leading zeros";
            }
            p = v;
        } else if (strcmp(argv[i], "--ip") == 0) {
            keel_addr check;
            if (value == NULL || keel_addr_parse_ip(keel_slice_cstr(value), &check) != KEEL_OK) {
                return "--ip needs a numeric IPv4 or IPv6 address";
            }
            *ip = keel_slice_cstr(value);
        } else {
            return "unknown argument";
        }
    }
    *port = (uint16_t)p;
    if (threads != NULL) {
        *threads = (unsigned)n;
    }
    return NULL;
}

/* Print "listening on ADDR:PORT" ("[v6]:PORT" for IPv6) for the ip the
 * server was given and the port it really listens on, and flush. */
static inline keel_result example_announce(keel_slice ip, uint16_t port)
{
    uint8_t text[KEEL_ADDR_TEXT_MAX];
    keel_buf out;
    keel_addr a;
    keel_result r = keel_addr_parse_ip(ip, &a);
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

#endif /* KEEL_EXAMPLES_EXAMPLE_SERVER_H */

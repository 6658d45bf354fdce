/*
 * examples/tls_echo_client.c - sends stdin line by line to a TLS echo
 * server, over a blocking keel TLS session.
 *
 *   tls_echo_client --ca FILE [--name HOST] [--cert FILE --key FILE] host port
 *   tls_echo_client --insecure host port
 *
 * The server's certificate must chain to --ca and carry the name --name
 * (default: host); --insecure skips that check (tests only). --cert and
 * --key present a client certificate. Each line (with its newline) goes
 * out as it is, its echo is read back (exactly as many bytes) and printed
 * as "Response received: <line>". At the end of input the client sends
 * close_notify and waits for the server's. Exits 0 then; 1 on a connection,
 * TLS or I/O failure, printed as "tls_echo_client: <description>
 * (<KEEL_ERR_...>)", with mbed TLS's reasons when a certificate was
 * refused; 2 on bad arguments.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "keel/net.h"
#include "keel/tls.h"

enum {
    CONNECT_TIMEOUT_MS = 5000,
    IO_TIMEOUT_MS = 10000
};

static int usage(const char *why)
{
    fprintf(stderr,
            "tls_echo_client: %s\n"
            "usage: tls_echo_client --ca FILE [--name HOST] [--cert FILE --key FILE] host port\n"
            "       tls_echo_client --insecure host port\n"
            "  sends each line of stdin over TLS and prints \"Response received: <line>\"\n",
            why);
    return 2;
}

/* guide:roundtrip:begin */
/* One round trip: line out, exactly its length back into reply. */
static keel_result echo_line(keel_tls *tls, keel_slice line, keel_buf *reply)
{
    keel_buf_clear(reply);
    KEEL_TRY(keel_tls_send(tls, line, IO_TIMEOUT_MS, NULL));
    while (reply->len < line.len) {
        KEEL_TRY(keel_tls_recv(tls, reply, IO_TIMEOUT_MS, NULL));
    }
    return KEEL_OK;
}
/* guide:roundtrip:end */

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

/* Echoes every line of stdin, then ends the session in order. */
static keel_result run(keel_tls *tls)
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
        if (r == KEEL_OK && out.len > cap) {
            uint8_t *bigger = realloc(storage, out.len);
            r = bigger == NULL ? KEEL_ERR_NO_MEMORY : KEEL_OK;
            if (bigger != NULL) {
                storage = bigger;
                cap = out.len;
            }
        }
        if (r == KEEL_OK) {
            r = keel_buf_init(&reply, storage, out.len);
        }
        if (r == KEEL_OK) {
            r = echo_line(tls, out, &reply);
        }
        if (r == KEEL_OK) {
            print_response(keel_buf_slice(&reply));
        }
    }
    if (r == KEEL_OK && ferror(stdin)) {
        fprintf(stderr, "tls_echo_client: cannot read stdin\n");
        r = KEEL_ERR_OS;
    }
    free(line);
    free(storage);
    if (r != KEEL_OK) {
        return r;
    }
    /* Our close_notify, then the server's: CLOSED is the orderly end. */
    KEEL_TRY(keel_tls_close_notify(tls, IO_TIMEOUT_MS));
    uint8_t rest[1];
    keel_buf b;
    KEEL_TRY(keel_buf_init(&b, rest, sizeof rest));
    r = keel_tls_recv(tls, &b, IO_TIMEOUT_MS, NULL);
    return r == KEEL_ERR_CLOSED ? KEEL_OK : r == KEEL_OK ? KEEL_ERR_PARSE : r;
}

/* The failure, and for a refused certificate mbed TLS's reasons. */
static void report(const char *what, keel_result r, const keel_tls *tls)
{
    fprintf(stderr, "tls_echo_client: %s: %s (%s)\n", what, keel_result_str(r),
            keel_result_name(r));
    uint32_t flags = keel_tls_verify_flags(tls);
    char text[1024];
    keel_buf b;
    if (flags != 0 && keel_buf_init(&b, text, sizeof text - 1) == KEEL_OK &&
        keel_tls_verify_text(flags, &b) == KEEL_OK) {
        text[b.len] = '\0';
        fprintf(stderr, "%s\n", text);
    }
}

int main(int argc, char **argv)
{
    keel_tls_config_opts copts = { .role = KEEL_TLS_CLIENT };
    const char *name = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = value != NULL && value[0] != '\0';
        if (strcmp(argv[i], "--insecure") == 0) {
            copts.verify_none = true;
            continue;
        }
        if (strcmp(argv[i], "--ca") == 0 && has) {
            copts.ca_file = keel_slice_cstr(value);
        } else if (strcmp(argv[i], "--name") == 0 && has) {
            name = value;
        } else if (strcmp(argv[i], "--cert") == 0 && has) {
            copts.cert_file = keel_slice_cstr(value);
        } else if (strcmp(argv[i], "--key") == 0 && has) {
            copts.key_file = keel_slice_cstr(value);
        } else {
            return usage("unknown option, or a missing value");
        }
        i++;
    }
    if (argc - i != 2) {
        return usage(argc - i < 2 ? "missing host or port" : "too many arguments");
    }
    if (copts.ca_file.len == 0 && !copts.verify_none) {
        return usage("--ca (or --insecure) is required");
    }
    keel_slice host = keel_slice_cstr(argv[i]);
    uint64_t port = 0;
    if (host.len == 0) {
        return usage("empty host");
    }
    if (keel_slice_parse_u64(keel_slice_cstr(argv[i + 1]), UINT16_MAX, &port) != KEEL_OK ||
        port == 0) {
        return usage("port must be a number 1..65535");
    }

    keel_tls_config *cfg = NULL;
    keel_result r = keel_tls_config_new(&copts, &cfg, NULL);
    if (r != KEEL_OK) {
        fprintf(stderr, "tls_echo_client: cannot load the certificates: %s (%s)\n",
                keel_result_str(r), keel_result_name(r));
        return r == KEEL_ERR_INVALID_ARG ? usage("--cert and --key go together") : 1;
    }
    /* guide:connect:begin */
    keel_net *net = NULL;
    keel_tls *tls = NULL;
    r = keel_net_init(&net);
    if (r == KEEL_OK) {
        r = keel_tls_init(&tls);
    }
    if (r == KEEL_OK) {
        r = keel_net_connect(net, host, (uint16_t)port, KEEL_PROTO_TCP, CONNECT_TIMEOUT_MS);
    }
    const char *what = "cannot connect";
    if (r == KEEL_OK) {
        what = "handshake failed";
        r = keel_tls_connect(tls, cfg, net, name != NULL ? keel_slice_cstr(name) : host,
                             IO_TIMEOUT_MS);
    }
    /* guide:connect:end */
    if (r == KEEL_OK) {
        what = "session failed";
        r = run(tls);
    }
    if (r != KEEL_OK) {
        report(what, r, tls);
    }
    keel_tls_free(tls);
    keel_net_free(net);
    keel_tls_config_free(cfg);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "tls_echo_client: cannot write stdout\n");
        return 1;
    }
    return r == KEEL_OK ? 0 : 1;
}

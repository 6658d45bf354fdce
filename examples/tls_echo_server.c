/*
 * examples/tls_echo_server.c - a TLS echo server on keel's async runtime,
 * with mbed TLS doing the cryptography.
 *
 *   tls_echo_server --cert FILE --key FILE [--client-ca FILE]
 *                   [--threads N] [--ip ADDR] [--port P]
 *
 * --cert is the certificate chain (PEM, leaf first) and --key its private
 * key; --client-ca makes client certificates from that CA required (mutual
 * TLS). Defaults: one loop thread per online CPU, 127.0.0.1, port 7443 (0:
 * chosen by the system). Once it accepts connections it prints exactly
 * "listening on ADDR:PORT" on stdout and flushes. Every client gets back
 * every byte it sends, with the back-pressure of async_echo_server: a
 * client that sends faster than it reads is not read until its echo
 * drains. A handshake that fails is reported on stderr, one line each
 * ("handshake failed: KEEL_ERR_TLS_ALERT ..."); the server goes on.
 *
 * SIGINT/SIGTERM: graceful shutdown, exit 0. Bad arguments: usage on
 * stderr, exit 2. Unusable certificate or key, or failure to listen: exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keel/loop.h"
#include "keel/tls.h"

#include "example_server.h"

enum { DEFAULT_PORT = 7443, MAX_THREADS = 256 };

static int usage(const char *why)
{
    fprintf(stderr,
            "tls_echo_server: %s\n"
            "usage: tls_echo_server --cert FILE --key FILE [--client-ca FILE]\n"
            "                       [--threads N] [--ip ADDR] [--port P]\n"
            "  --cert       certificate chain, PEM, leaf first\n"
            "  --key        its private key (unencrypted)\n"
            "  --client-ca  require client certificates from this CA\n"
            "  --threads    loop threads, 1..%d (default: one per online CPU)\n"
            "  --ip         numeric IPv4/IPv6 address to bind (default 127.0.0.1)\n"
            "  --port       0..65535 (default %d; 0: chosen by the system)\n",
            why, MAX_THREADS, DEFAULT_PORT);
    return 2;
}

/* guide:on_read:begin */
/* Echo what arrived; at the client's end (close_notify, or a bare EOF),
 * send what is queued and our close_notify, then close. */
static size_t on_read(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r == KEEL_ERR_CLOSED || r == KEEL_ERR_TLS_TRUNCATED) {
        keel_tls_stream_close(t);
        return 0;
    }
    if (r != KEEL_OK) {
        return 0; /* on_close follows */
    }
    if (keel_tls_stream_write(t, data) != KEEL_OK) {
        keel_tls_stream_abort(t);
    } else if (!keel_tls_stream_can_write(t)) {
        keel_tls_stream_read_stop(t);
    }
    return data.len;
}
/* guide:on_read:end */

static void on_writable(keel_tls_stream *t, keel_result r, bool can_write, void *user)
{
    (void)r;
    (void)user;
    if (can_write) {
        keel_tls_stream_read_start(t);
    } else {
        keel_tls_stream_read_stop(t);
    }
}

static void on_handshake(keel_tls_stream *t, keel_result r, void *user)
{
    (void)user;
    if (r == KEEL_OK) {
        return;
    }
    char why[256] = "";
    keel_buf b;
    int code = keel_tls_stream_last_mbedtls_error(t);
    if (code != 0 && keel_buf_init(&b, why, sizeof why - 1) == KEEL_OK &&
        keel_tls_error_text(code, &b) == KEEL_OK) {
        why[b.len] = '\0';
    }
    fprintf(stderr, "tls_echo_server: handshake failed: %s%s%s\n", keel_result_name(r),
            why[0] != '\0' ? ": " : "", why);
}

static const keel_tls_stream_handlers echo_handlers = {
    .on_read = on_read,
    .on_writable = on_writable,
    .on_handshake = on_handshake,
};

static bool parse_number(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    return text != NULL && keel_slice_parse_u64(keel_slice_cstr(text), max, out) == KEEL_OK &&
           *out >= min;
}

/* Returns NULL on success, else the reason for the usage message. */
static const char *parse_args(int argc, char **argv, keel_server_opts *o,
                              keel_tls_config_opts *tls)
{
    uint64_t port = DEFAULT_PORT;
    uint64_t threads = 0;
    o->ip = KEEL_STR("127.0.0.1");
    for (int i = 1; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--threads") == 0) {
            if (!parse_number(value, 1, MAX_THREADS, &threads)) {
                return "--threads needs a number 1..256";
            }
        } else if (strcmp(argv[i], "--port") == 0) {
            if (!parse_number(value, 0, UINT16_MAX, &port)) {
                return "--port needs a number 0..65535";
            }
        } else if (strcmp(argv[i], "--ip") == 0) {
            keel_addr check;
            if (value == NULL || keel_addr_parse_ip(keel_slice_cstr(value), &check) != KEEL_OK) {
                return "--ip needs a numeric IPv4 or IPv6 address";
            }
            o->ip = keel_slice_cstr(value);
        } else if (strcmp(argv[i], "--cert") == 0 && value != NULL && value[0] != '\0') {
            tls->cert_file = keel_slice_cstr(value);
        } else if (strcmp(argv[i], "--key") == 0 && value != NULL && value[0] != '\0') {
            tls->key_file = keel_slice_cstr(value);
        } else if (strcmp(argv[i], "--client-ca") == 0 && value != NULL && value[0] != '\0') {
            tls->ca_file = keel_slice_cstr(value);
        } else {
            return "unknown argument, or a missing value";
        }
    }
    if (tls->cert_file.len == 0 || tls->key_file.len == 0) {
        return "--cert and --key are required";
    }
    o->port = (uint16_t)port;
    o->threads = (unsigned)threads;
    return NULL;
}

int main(int argc, char **argv)
{
    keel_server_opts o = { .handle_signals = true };
    keel_tls_config_opts copts = { .role = KEEL_TLS_SERVER };
    const char *why = parse_args(argc, argv, &o, &copts);
    if (why != NULL) {
        return usage(why);
    }
    keel_tls_config *cfg = NULL;
    int code = 0;
    keel_result r = keel_tls_config_new(&copts, &cfg, &code);
    if (r != KEEL_OK) {
        char text[256] = "";
        keel_buf b;
        if (code != 0 && keel_buf_init(&b, text, sizeof text - 1) == KEEL_OK &&
            keel_tls_error_text(code, &b) == KEEL_OK) {
            text[b.len] = '\0';
        }
        fprintf(stderr, "tls_echo_server: cannot use the certificate and key: %s %s\n",
                keel_result_str(r), text);
        return 1;
    }
    /* guide:start:begin */
    keel_tls_server_opts tls = { .config = cfg, .handlers = &echo_handlers };
    keel_server *srv = NULL;
    r = keel_tls_server_start(&o, &tls, &srv);
    /* guide:start:end */
    if (r != KEEL_OK) {
        fprintf(stderr, "tls_echo_server: cannot listen on %.*s port %u: %s\n", (int)o.ip.len,
                (const char *)o.ip.ptr, (unsigned)o.port, keel_result_str(r));
        keel_tls_config_free(cfg);
        return 1;
    }
    uint16_t port = 0;
    r = keel_server_port(srv, &port);
    if (r == KEEL_OK) {
        r = example_announce(o.ip, port);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "tls_echo_server: cannot announce the address: %s\n", keel_result_str(r));
        keel_server_shutdown(srv, 0);
    }
    keel_result wr = keel_server_wait(srv); /* until SIGINT/SIGTERM */
    keel_server_free(srv);
    keel_tls_config_free(cfg); /* after the server: its connections used it */
    if (wr != KEEL_OK) {
        fprintf(stderr, "tls_echo_server: %s\n", keel_result_str(wr));
    }
    return r == KEEL_OK && wr == KEEL_OK ? 0 : 1;
}

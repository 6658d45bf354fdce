/*
 * bench/tls/tls_bulk.c - a bulk TLS sender over a blocking keel session:
 * handshakes (verifying "localhost" against --ca), sends --mib MiB of a
 * pattern in 16 KiB writes, sends close_notify and waits for the server to
 * end. Prints one line: "mib=N seconds=S mb_per_s=R" (the time from the
 * first byte sent to the server's end; MB is 10^6 bytes).
 *
 *   tls_bulk --ca FILE --mib N --port P
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keel/net.h"
#include "keel/tls.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    keel_tls_config_opts copts = { .role = KEEL_TLS_CLIENT };
    uint64_t mib = 0, port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        keel_slice v = keel_slice_cstr(argv[i + 1]);
        if (strcmp(argv[i], "--ca") == 0) {
            copts.ca_file = v;
        } else if (!((strcmp(argv[i], "--mib") == 0 &&
                      keel_slice_parse_u64(v, 1u << 20, &mib) == KEEL_OK) ||
                     (strcmp(argv[i], "--port") == 0 &&
                      keel_slice_parse_u64(v, UINT16_MAX, &port) == KEEL_OK))) {
            fprintf(stderr, "usage: tls_bulk --ca FILE --mib N --port P\n");
            return 2;
        }
    }
    static uint8_t chunk[16384];
    for (size_t i = 0; i < sizeof chunk; i++) {
        chunk[i] = (uint8_t)(i * 31u);
    }
    keel_tls_config *cfg = NULL;
    keel_net *net = NULL;
    keel_tls *tls = NULL;
    keel_result r = keel_tls_config_new(&copts, &cfg, NULL);
    if (r == KEEL_OK) {
        r = keel_net_init(&net);
    }
    if (r == KEEL_OK) {
        r = keel_tls_init(&tls);
    }
    if (r == KEEL_OK) {
        r = keel_net_connect(net, KEEL_STR("127.0.0.1"), (uint16_t)port, KEEL_PROTO_TCP, 5000);
    }
    if (r == KEEL_OK) {
        r = keel_tls_connect(tls, cfg, net, KEEL_STR("localhost"), 10000);
    }
    double t0 = now_s();
    keel_slice piece = { chunk, sizeof chunk };
    for (uint64_t i = 0; r == KEEL_OK && i < mib * 64u; i++) {
        r = keel_tls_send(tls, piece, 30000, NULL);
    }
    if (r == KEEL_OK) {
        r = keel_tls_close_notify(tls, 30000);
    }
    if (r == KEEL_OK) {
        uint8_t rest[64];
        keel_buf b;
        r = keel_buf_init(&b, rest, sizeof rest);
        while (r == KEEL_OK) {
            keel_buf_clear(&b);
            r = keel_tls_recv(tls, &b, 30000, NULL);
        }
        /* The server's end, orderly or not, is the end of the run. */
        if (r == KEEL_ERR_CLOSED || r == KEEL_ERR_TLS_TRUNCATED || r == KEEL_ERR_RESET) {
            r = KEEL_OK;
        }
    }
    double secs = now_s() - t0;
    keel_tls_free(tls);
    keel_net_free(net);
    keel_tls_config_free(cfg);
    if (r != KEEL_OK) {
        fprintf(stderr, "tls_bulk: %s (%s)\n", keel_result_str(r), keel_result_name(r));
        return 1;
    }
    printf("mib=%llu seconds=%.3f mb_per_s=%.1f\n", (unsigned long long)mib, secs,
           (double)mib * 1048576.0 / 1e6 / secs);
    return 0;
}

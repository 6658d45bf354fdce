/*
 * examples/echo_server.c - an echo server on keel's socket layer.
 *
 *   echo_server tcp|udp [ip] [port] [--max-clients N] [--idle-exit SECONDS]
 *
 * The first line on stdout is "listening on ADDR:PORT (PROTO)", flushed, so
 * that a script can learn the port the system chose for port 0. TCP serves
 * every client on its own detached thread; UDP echoes each datagram to its
 * sender. SIGINT/SIGTERM stop the server cleanly (exit 0); bad arguments
 * exit 2 with a usage message; a failure to listen exits 1.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keel/net.h"

/* Every blocking wait is bounded by POLL_MS so that the loops notice a stop
 * request quickly without the signal handler touching anything but a flag. */
enum {
    POLL_MS = 200,
    ACCEPT_PAUSE_MS = 100, /* out of descriptors: rest this long, as keel_server does */
    SEND_TIMEOUT_MS = 10000,
    DRAIN_MS = 3000,
    TCP_CHUNK = 16384
};

static volatile sig_atomic_t stop_requested;
static atomic_int active_clients;

struct options {
    keel_proto proto;
    keel_slice ip;
    uint16_t port;
    uint64_t max_clients; /* 0: no limit */
    uint64_t idle_exit_s; /* 0: never */
};

struct client {
    keel_net *net;
    keel_addr peer;
};

/* Storage for one formatted address (keel_addr_format never needs more). */
struct addr_text {
    uint8_t bytes[KEEL_ADDR_TEXT_MAX];
    keel_buf buf;
};

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* why == NULL: --help, the usage on stdout and exit 0; else on stderr, 2. */
static int usage(const char *why)
{
    if (why != NULL) {
        fprintf(stderr, "echo_server: %s\n", why);
    }
    fputs("usage: echo_server tcp|udp [ip] [port] [--max-clients N] [--idle-exit SECONDS]\n"
          "  ip             numeric IPv4/IPv6 address to bind (default 127.0.0.1)\n"
          "  port           0..65535, no leading zeros (default 0: chosen by the system)\n"
          "  --max-clients  stop after N TCP clients were served (UDP: N datagrams)\n"
          "  --idle-exit    stop after SECONDS without any client\n",
          why == NULL ? stdout : stderr);
    return why == NULL ? 0 : 2;
}

static bool parse_number(const char *text, uint64_t max, uint64_t *out)
{
    return keel_slice_parse_u64(keel_slice_cstr(text), max, out) == KEEL_OK;
}

static bool parse_proto(const char *text, keel_proto *out)
{
    if (strcmp(text, "tcp") == 0) {
        *out = KEEL_PROTO_TCP;
        return true;
    }
    if (strcmp(text, "udp") == 0) {
        *out = KEEL_PROTO_UDP;
        return true;
    }
    return false;
}

/* Returns NULL on success, else the reason for the usage message. */
static const char *parse_args(int argc, char **argv, struct options *o)
{
    const char *positional[3] = { NULL, NULL, NULL };
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--max-clients") == 0 || strcmp(arg, "--idle-exit") == 0) {
            bool max = strcmp(arg, "--max-clients") == 0;
            if (i + 1 >= argc) {
                return "missing value after an option";
            }
            if (!parse_number(argv[++i], max ? UINT32_MAX : 86400u,
                              max ? &o->max_clients : &o->idle_exit_s)) {
                return max ? "--max-clients needs a number 0..4294967295"
                           : "--idle-exit needs a number of seconds 0..86400";
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return "unknown option";
        } else if (npos == 3) {
            return "too many arguments";
        } else {
            positional[npos++] = arg;
        }
    }
    if (npos == 0) {
        return "missing protocol";
    }
    if (!parse_proto(positional[0], &o->proto)) {
        return "protocol must be tcp or udp";
    }
    o->ip = keel_slice_cstr(npos > 1 ? positional[1] : "127.0.0.1");
    keel_addr check;
    if (keel_addr_parse_ip(o->ip, &check) != KEEL_OK) {
        return "not a numeric IP address";
    }
    o->port = 0;
    if (npos > 2 && keel_addr_parse_port(keel_slice_cstr(positional[2]), &o->port) != KEEL_OK) {
        return "port must be a number 0..65535 without leading zeros";
    }
    return NULL;
}

static keel_result format_addr(const keel_addr *a, struct addr_text *t)
{
    keel_result r = keel_buf_init(&t->buf, t->bytes, sizeof t->bytes);
    if (r == KEEL_OK) {
        r = keel_addr_format(a, &t->buf);
    }
    return r;
}

/* Prints "<what> <addr>" on stdout; stdio serialises the threads' lines. */
static void log_peer(const char *what, const keel_addr *peer)
{
    struct addr_text t;
    if (format_addr(peer, &t) == KEEL_OK) {
        printf("%s %.*s\n", what, (int)t.buf.len, (const char *)t.buf.ptr);
    } else {
        printf("%s (unprintable address)\n", what);
    }
    fflush(stdout);
}

static void log_failure(const char *what, keel_result r)
{
    fprintf(stderr, "echo_server: %s: %s\n", what, keel_result_str(r));
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Tracks --idle-exit: "idle" means no client is being served and none came
 * for the configured time. */
static bool idle_expired(const struct options *o, uint64_t *last_activity)
{
    uint64_t now = now_ms();
    if (atomic_load(&active_clients) > 0) {
        *last_activity = now;
        return false;
    }
    return o->idle_exit_s != 0 && now - *last_activity >= o->idle_exit_s * 1000u;
}

static void *serve_client(void *arg)
{
    struct client *c = arg;
    uint8_t storage[TCP_CHUNK];
    keel_buf buf;
    keel_result r = keel_buf_init(&buf, storage, sizeof storage);
    while (r == KEEL_OK && !stop_requested) {
        keel_buf_clear(&buf);
        r = keel_net_recv_timeout(c->net, &buf, POLL_MS, NULL);
        if (r == KEEL_ERR_TIMEOUT) {
            r = KEEL_OK;
        } else if (r == KEEL_OK) {
            r = keel_net_send_all(c->net, keel_buf_slice(&buf), SEND_TIMEOUT_MS, NULL);
        }
    }
    if (r != KEEL_OK && r != KEEL_ERR_CLOSED) {
        log_failure("client connection", r);
    }
    log_peer("client done", &c->peer);
    keel_net_free(c->net);
    free(c);
    atomic_fetch_sub(&active_clients, 1);
    return NULL;
}

/* Accepts one pending client and hands it to a detached thread. */
static keel_result start_client(keel_net *listener)
{
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_result r = keel_net_init(&c->net);
    if (r == KEEL_OK) {
        r = keel_net_accept(listener, c->net, &c->peer);
    }
    if (r == KEEL_OK) {
        log_peer("client connected", &c->peer);
        pthread_attr_t attr;
        pthread_t thread;
        atomic_fetch_add(&active_clients, 1);
        if (pthread_attr_init(&attr) != 0 ||
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
            pthread_create(&thread, &attr, serve_client, c) != 0) {
            atomic_fetch_sub(&active_clients, 1);
            r = KEEL_ERR_NO_MEMORY;
        }
        pthread_attr_destroy(&attr);
        if (r == KEEL_OK) {
            return KEEL_OK;
        }
    }
    keel_net_free(c->net);
    free(c);
    return r;
}

/* Waits for the client threads: until they finish when the server stops on
 * its own, at most DRAIN_MS after a signal (they notice it within POLL_MS). */
static void wait_for_clients(void)
{
    const struct timespec tick = { 0, 20 * 1000000L };
    uint64_t deadline = 0;
    while (atomic_load(&active_clients) > 0) {
        if (stop_requested) {
            if (deadline == 0) {
                deadline = now_ms() + DRAIN_MS;
            } else if (now_ms() >= deadline) {
                fprintf(stderr, "echo_server: %d client(s) still busy, leaving\n",
                        atomic_load(&active_clients));
                return;
            }
        }
        nanosleep(&tick, NULL);
    }
}

/* Sleeps ms milliseconds, or less if a stop is requested (a signal ends
 * nanosleep early). */
static void pause_ms(long ms)
{
    const struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    if (!stop_requested) {
        nanosleep(&t, NULL);
    }
}

static int serve_tcp(keel_net *listener, const struct options *o)
{
    /* Non-blocking so that a client that vanished between poll and accept
     * gives WOULD_BLOCK instead of blocking the loop. */
    keel_result r = keel_net_set_nonblocking(listener, true);
    bool short_of_descriptors = false;
    uint64_t accepted = 0;
    uint64_t last_activity = now_ms();
    while (r == KEEL_OK && !stop_requested && (o->max_clients == 0 || accepted < o->max_clients)) {
        if (idle_expired(o, &last_activity)) {
            printf("idle for %llu s, stopping\n", (unsigned long long)o->idle_exit_s);
            break;
        }
        unsigned ready = 0;
        r = keel_net_poll(listener, KEEL_POLL_READ, POLL_MS, &ready);
        if (r == KEEL_ERR_TIMEOUT) {
            r = KEEL_OK;
            continue;
        }
        if (r != KEEL_OK) {
            break;
        }
        r = start_client(listener);
        if (r == KEEL_OK) {
            accepted++;
            last_activity = now_ms();
            if (short_of_descriptors) {
                short_of_descriptors = false;
                fprintf(stderr, "echo_server: accepting again\n");
            }
        } else if (r == KEEL_ERR_NO_MEMORY) {
            /* Out of descriptors or memory: the pending client stays queued
             * and the listener stays readable, so retrying at once would
             * spin. Rest, and say so once per shortage, not per retry. */
            if (!short_of_descriptors) {
                short_of_descriptors = true;
                fprintf(stderr, "echo_server: accept: %s; retrying every %d ms\n",
                        keel_result_str(r), ACCEPT_PAUSE_MS);
            }
            pause_ms(ACCEPT_PAUSE_MS);
            r = KEEL_OK;
        } else if (r == KEEL_ERR_WOULD_BLOCK || r == KEEL_ERR_RESET) {
            /* That one client is lost; the server goes on. */
            log_failure("accept", r);
            r = KEEL_OK;
        }
    }
    if (r != KEEL_OK) {
        log_failure("listener", r);
    }
    wait_for_clients();
    return r == KEEL_OK ? 0 : 1;
}

static int serve_udp(keel_net *sock, const struct options *o)
{
    /* Room for the largest UDP payload, so no datagram is ever TRUNCATED. */
    static uint8_t storage[65536];
    keel_buf buf;
    keel_result r = keel_buf_init(&buf, storage, sizeof storage);
    uint64_t served = 0;
    uint64_t last_activity = now_ms();
    while (r == KEEL_OK && !stop_requested && (o->max_clients == 0 || served < o->max_clients)) {
        if (idle_expired(o, &last_activity)) {
            printf("idle for %llu s, stopping\n", (unsigned long long)o->idle_exit_s);
            break;
        }
        keel_addr from;
        keel_buf_clear(&buf);
        r = keel_net_recvfrom(sock, &buf, POLL_MS, &from, NULL);
        if (r == KEEL_ERR_TIMEOUT) {
            r = KEEL_OK;
            continue;
        }
        if (r == KEEL_ERR_REFUSED) {
            /* An ICMP error left by an earlier reply to a peer that is gone. */
            r = KEEL_OK;
            continue;
        }
        if (r != KEEL_OK) {
            break;
        }
        served++;
        last_activity = now_ms();
        keel_result sr = keel_net_sendto(sock, keel_buf_slice(&buf), &from);
        if (sr != KEEL_OK) {
            log_failure("reply", sr);
        }
    }
    if (r != KEEL_OK) {
        log_failure("socket", r);
    }
    return r == KEEL_OK ? 0 : 1;
}

static bool install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    return sigemptyset(&sa.sa_mask) == 0 && sigaction(SIGINT, &sa, NULL) == 0 &&
           sigaction(SIGTERM, &sa, NULL) == 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return usage(NULL);
    }
    struct options o = { 0 };
    const char *why = parse_args(argc, argv, &o);
    if (why != NULL) {
        return usage(why);
    }
    if (!install_signal_handlers()) {
        fprintf(stderr, "echo_server: cannot install signal handlers\n");
        return 1;
    }
    const char *proto = o.proto == KEEL_PROTO_TCP ? "tcp" : "udp";
    keel_net *net = NULL;
    keel_addr local;
    struct addr_text text;
    keel_result r = keel_net_init(&net);
    if (r == KEEL_OK) {
        r = keel_net_bind(net, o.ip, o.port, o.proto);
    }
    if (r == KEEL_OK) {
        r = keel_net_local_addr(net, &local);
    }
    if (r == KEEL_OK) {
        r = format_addr(&local, &text);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "echo_server: cannot listen on %.*s port %u (%s): %s\n", (int)o.ip.len,
                (const char *)o.ip.ptr, (unsigned)o.port, proto, keel_result_str(r));
        keel_net_free(net);
        return 1;
    }
    printf("listening on %.*s (%s)\n", (int)text.buf.len, (const char *)text.buf.ptr, proto);
    fflush(stdout);

    int status = o.proto == KEEL_PROTO_TCP ? serve_tcp(net, &o) : serve_udp(net, &o);
    keel_net_free(net);
    printf("stopped\n");
    return status;
}

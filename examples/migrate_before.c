/*
 * examples/migrate_before.c - the "before" side of
 * docs/migrating-from-mbedtls-net.md: a TCP client written with mbed TLS's
 * net_sockets module (2.28, Debian 12's libmbedtls-dev). Built only when
 * mbed TLS is found; examples/migrate_after.c is the same client with keel.
 *
 *   migrate_before host port message
 *
 * Sends the message and a newline, prints "reply: " and the first line that
 * comes back. Exit 0, 1 on failure (with mbed TLS's error code), 2 on bad
 * arguments.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "mbedtls/net_sockets.h"
#include "mbedtls/ssl.h" /* MBEDTLS_ERR_SSL_WANT_READ, _WANT_WRITE, _TIMEOUT */

enum { TIMEOUT_MS = 5000 };

/* guide:before:begin */
/* mbedtls_net_send may write less than asked: loop. It reports EINTR (and,
 * on a non-blocking socket, EAGAIN) as WANT_WRITE: retry by hand. */
static int send_all(mbedtls_net_context *net, const unsigned char *p, size_t len)
{
    while (len > 0) {
        int n = mbedtls_net_send(net, p, len);
        if (n == MBEDTLS_ERR_SSL_WANT_WRITE) {
            continue;
        }
        if (n < 0) {
            return n; /* SEND_FAILED, CONN_RESET, INVALID_CONTEXT */
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Send message, read until a newline into reply[0 .. *got). */
static int ask(const char *host, const char *port, const char *message, size_t message_len,
               unsigned char *reply, size_t room, size_t *got)
{
    mbedtls_net_context net;
    mbedtls_net_init(&net); /* the context is the caller's struct: fd = -1 */
    /* No timeout: a silent host blocks here as long as the kernel tries. */
    int ret = mbedtls_net_connect(&net, host, port, MBEDTLS_NET_PROTO_TCP);
    if (ret == 0) {
        ret = send_all(&net, (const unsigned char *)message, message_len);
    }
    if (ret == 0) {
        ret = send_all(&net, (const unsigned char *)"\n", 1);
    }
    *got = 0;
    while (ret == 0 && (*got == 0 || reply[*got - 1] != '\n')) {
        if (*got == room) {
            ret = MBEDTLS_ERR_NET_BUFFER_TOO_SMALL;
            break;
        }
        /* select() inside: fails for a descriptor >= FD_SETSIZE. A timeout
         * of 0 would mean "wait forever". */
        int n = mbedtls_net_recv_timeout(&net, reply + *got, room - *got, TIMEOUT_MS);
        if (n == MBEDTLS_ERR_SSL_WANT_READ) {
            continue; /* EINTR */
        }
        if (n == 0) {
            ret = MBEDTLS_ERR_NET_CONN_RESET; /* EOF: 0 bytes, not an error code */
        } else if (n < 0) {
            ret = n; /* SSL_TIMEOUT, RECV_FAILED, CONN_RESET... */
        } else {
            *got += (size_t)n;
        }
    }
    mbedtls_net_free(&net); /* shutdown + close */
    return ret;
}

int main(int argc, char **argv)
{
    static const char usage[] = "usage: migrate_before host port message\n";
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 4) {
        fputs(usage, stderr);
        return 2;
    }
    /* mbedtls_net_send writes with write(): to a closed peer that raises
     * SIGPIPE, which kills the process unless it is ignored. */
    signal(SIGPIPE, SIG_IGN);
    unsigned char reply[256];
    size_t got = 0;
    int ret = ask(argv[1], argv[2], argv[3], strlen(argv[3]), reply, sizeof reply, &got);
    if (ret != 0) {
        fprintf(stderr, "migrate_before: mbed TLS error -0x%04x\n", (unsigned)-ret);
        return 1;
    }
    printf("reply: %.*s", (int)got, (const char *)reply);
    return 0;
}
/* guide:before:end */

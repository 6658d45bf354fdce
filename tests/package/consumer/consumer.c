/*
 * tests/package/consumer/consumer.c - a program outside keel's tree that
 * uses keel as a user would: through the installed headers and library
 * (found with find_package(keel CONFIG), with pkg-config, or built with
 * FetchContent). It echoes one line over loopback with keel's blocking
 * sockets, checks that the library it runs with is the release its headers
 * announce, and prints one line for the test to check.
 */
#include <stdio.h>
#include <string.h>

#include "keel.h"

enum { TIMEOUT_MS = 5000 };

/* A listener on 127.0.0.1 (port chosen by the system), a client connected to
 * it, the accepted server side echoing the line back to the client. */
static keel_result echo_once(keel_slice line, keel_buf *reply, uint16_t *port)
{
    keel_net *listener = NULL, *client = NULL, *server = NULL;
    keel_addr local;
    uint8_t storage[256];
    keel_buf got;
    keel_result r = keel_net_init(&listener);
    if (r == KEEL_OK) {
        r = keel_net_init(&client);
    }
    if (r == KEEL_OK) {
        r = keel_net_init(&server);
    }
    if (r == KEEL_OK) {
        r = keel_net_bind(listener, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP);
    }
    if (r == KEEL_OK) {
        r = keel_net_local_addr(listener, &local);
    }
    if (r == KEEL_OK) {
        *port = local.port;
        /* The kernel completes the handshake from the backlog: no thread needed. */
        r = keel_net_connect(client, KEEL_STR("127.0.0.1"), local.port, KEEL_PROTO_TCP, TIMEOUT_MS);
    }
    if (r == KEEL_OK) {
        r = keel_net_accept(listener, server, NULL);
    }
    if (r == KEEL_OK) {
        r = keel_net_send_all(client, line, TIMEOUT_MS, NULL);
    }
    if (r == KEEL_OK) {
        r = keel_buf_init(&got, storage, sizeof storage);
    }
    if (r == KEEL_OK) {
        r = keel_net_recv_exact(server, &got, line.len, TIMEOUT_MS);
    }
    if (r == KEEL_OK) {
        r = keel_net_send_all(server, keel_buf_slice(&got), TIMEOUT_MS, NULL);
    }
    if (r == KEEL_OK) {
        r = keel_net_recv_exact(client, reply, line.len, TIMEOUT_MS);
    }
    keel_net_free(server);
    keel_net_free(client);
    keel_net_free(listener);
    return r;
}

int main(void)
{
    if (keel_version() != KEEL_VERSION_HEX ||
        strcmp(keel_version_string(), KEEL_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: headers of keel %s, library of keel %s\n", KEEL_VERSION_STRING,
                keel_version_string());
        return 1;
    }
    uint8_t storage[256];
    keel_buf reply;
    uint16_t port = 0;
    keel_result r = keel_buf_init(&reply, storage, sizeof storage);
    if (r == KEEL_OK) {
        r = echo_once(KEEL_STR("hello from a keel consumer\n"), &reply, &port);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "consumer: %s (%s)\n", keel_result_str(r), keel_result_name(r));
        return 1;
    }
    printf("consumer: keel %s echoed over 127.0.0.1:%u: %.*s", keel_version_string(), (unsigned)port,
           (int)reply.len, (const char *)reply.ptr);
    return 0;
}

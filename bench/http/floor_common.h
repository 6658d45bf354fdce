/*
 * bench/http/floor_common.h - what the two floor servers (floor.c on epoll,
 * floor_uring.c on io_uring) share: the canned answers, the request count,
 * and the listening socket from --ip/--port.
 */
#ifndef KEEL_BENCH_FLOOR_COMMON_H
#define KEEL_BENCH_FLOOR_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { FLOOR_RBUF = 65536, FLOOR_MAXBATCH = 64 };

static const char floor_answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
#define FLOOR_ANSWER_LEN (sizeof floor_answer - 1)

/* FLOOR_MAXBATCH answers back to back: one send answers up to that many. */
static char floor_out[FLOOR_MAXBATCH * FLOOR_ANSWER_LEN];

/* A connection: the bytes of an unfinished request kept at buf's front. */
typedef struct floor_conn {
    int fd;
    size_t have;
    char buf[FLOOR_RBUF];
} floor_conn;

/* Requests completed in b[0, n): each ends at CRLFCRLF; the unfinished
 * tail's length goes to *rest. */
static size_t floor_count_requests(const char *b, size_t n, size_t *rest)
{
    size_t count = 0, start = 0;
    for (size_t i = 3; i < n; i++) {
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
            count++;
            start = i + 1;
        }
    }
    *rest = n - start;
    return count;
}

/* Fills floor_out, parses [--ip A] [--port P] and listens there (socket
 * type flags sock_flags besides SOCK_STREAM | SOCK_CLOEXEC). Returns the
 * listening socket, the address in *a and the ip text in *ip; exits with 2
 * on a usage error and 1 when it cannot listen. */
static int floor_listen(int argc, char **argv, const char *name, int sock_flags,
                        struct sockaddr_in *a, const char **ip)
{
    int port = 0;
    *ip = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ip") == 0 && i + 1 < argc) {
            *ip = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--ip A] [--port P]\n", name);
            exit(2);
        }
    }
    for (size_t k = 0; k < FLOOR_MAXBATCH; k++) {
        memcpy(floor_out + k * FLOOR_ANSWER_LEN, floor_answer, FLOOR_ANSWER_LEN);
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
    int one = 1;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        inet_pton(AF_INET, *ip, &a->sin_addr) != 1 ||
        bind(ls, (struct sockaddr *)a, sizeof *a) != 0 || listen(ls, 4096) != 0) {
        fprintf(stderr, "%s: cannot listen on %s:%d\n", name, *ip, port);
        exit(1);
    }
    socklen_t al = sizeof *a;
    getsockname(ls, (struct sockaddr *)a, &al);
    return ls;
}

#endif

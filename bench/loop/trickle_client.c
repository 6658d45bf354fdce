/*
 * bench/loop/trickle_client.c - the client of the trickle benchmark.
 *
 *   trickle_client --port P --pid PID [--seg B] [--min-bytes N] [SIZE...]
 *
 * For each block size (default 1 KiB, 2 KiB, ... 256 KiB), one connection
 * sends blocks of that size, each in segments of --seg bytes (default 64),
 * the last four bytes of a block being "\r\n\r\n", and waits after every
 * segment for the server's one-byte answer ('.' for an incomplete block,
 * '!' for a complete one; any other byte, or a '!' too early or too late,
 * is an error): so every segment is one read on the server, and the server
 * holds the whole block, unconsumed, until its last segment. Blocks are
 * repeated until at least --min-bytes (default 1 MiB) were sent at that
 * size. The server's CPU time (all its threads: the sum of the first
 * field of /proc/PID/task/TID/schedstat, nanoseconds on the CPU) is read at
 * the edges of each size's run. No keel code.
 *
 * Output, one line per size:
 *   size=S seg=B blocks=K bytes=N cpu_ns=C ns_per_byte=X wall_ms=W
 * Exit 1 on any error.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The server's CPU time in ns, over all of its threads. */
static bool server_cpu_ns(long pid, uint64_t *out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        return false;
    }
    uint64_t sum = 0;
    bool any = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char p[320];
        snprintf(p, sizeof p, "/proc/%ld/task/%s/schedstat", pid, e->d_name);
        FILE *f = fopen(p, "r");
        if (f == NULL) {
            continue; /* a thread that just ended */
        }
        unsigned long long ns = 0;
        if (fscanf(f, "%llu", &ns) == 1) {
            sum += ns;
            any = true;
        }
        fclose(f);
    }
    closedir(d);
    *out = sum;
    return any;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("trickle_client: connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            perror("trickle_client: send");
            exit(1);
        }
        p += k;
        n -= (size_t)k;
    }
}

static char recv_ack(int fd)
{
    char c;
    for (;;) {
        ssize_t k = recv(fd, &c, 1, 0);
        if (k == 1) {
            return c;
        }
        if (k < 0 && errno == EINTR) {
            continue;
        }
        fprintf(stderr, "trickle_client: the server closed or failed (%s)\n",
                k == 0 ? "EOF" : strerror(errno));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    long pid = 0;
    unsigned port = 0;
    size_t seg = 64, min_bytes = 1024 * 1024;
    size_t sizes[32];
    size_t nsizes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc) {
            pid = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seg") == 0 && i + 1 < argc) {
            seg = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--min-bytes") == 0 && i + 1 < argc) {
            min_bytes = strtoul(argv[++i], NULL, 10);
        } else if (nsizes < 32) {
            sizes[nsizes++] = strtoul(argv[i], NULL, 10);
        }
    }
    if (nsizes == 0) {
        for (size_t s = 1024; s <= 256 * 1024; s *= 2) {
            sizes[nsizes++] = s;
        }
    }
    if (port == 0 || port > 65535 || pid <= 0 || seg < 4) {
        fprintf(stderr, "usage: trickle_client --port P --pid PID [--seg B>=4] "
                        "[--min-bytes N] [SIZE...]\n");
        return 2;
    }
    static uint8_t block[8 * 1024 * 1024];
    for (size_t k = 0; k < nsizes; k++) {
        size_t size = sizes[k];
        if (size < 4 || size > sizeof block) {
            fprintf(stderr, "trickle_client: block size %zu out of range\n", size);
            return 2;
        }
        for (size_t i = 0; i < size - 4; i++) {
            block[i] = (uint8_t)('a' + i % 26);
        }
        memcpy(block + size - 4, "\r\n\r\n", 4);
        size_t blocks = (min_bytes + size - 1) / size;
        int fd = connect_to((uint16_t)port);
        uint64_t cpu0, cpu1;
        if (!server_cpu_ns(pid, &cpu0)) {
            fprintf(stderr, "trickle_client: cannot read /proc/%ld/task/*/schedstat\n", pid);
            return 1;
        }
        uint64_t t0 = now_ns();
        for (size_t b = 0; b < blocks; b++) {
            for (size_t at = 0; at < size; at += seg) {
                size_t n = size - at < seg ? size - at : seg;
                send_all(fd, block + at, n);
                char want = at + n == size ? '!' : '.';
                char got = recv_ack(fd);
                if (got != want) {
                    fprintf(stderr, "trickle_client: answer '%c' where '%c' was due\n", got, want);
                    return 1;
                }
            }
        }
        uint64_t t1 = now_ns();
        if (!server_cpu_ns(pid, &cpu1)) {
            return 1;
        }
        close(fd);
        size_t bytes = blocks * size;
        printf("size=%zu seg=%zu blocks=%zu bytes=%zu cpu_ns=%llu ns_per_byte=%.2f wall_ms=%.1f\n",
               size, seg, blocks, bytes, (unsigned long long)(cpu1 - cpu0),
               (double)(cpu1 - cpu0) / (double)bytes, (double)(t1 - t0) / 1e6);
        fflush(stdout);
    }
    return 0;
}

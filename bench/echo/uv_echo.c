/*
 * bench/echo/uv_echo.c - the libuv peer: an echo server written the way a
 * careful libuv user writes one.
 *
 *   uv_echo [--port P]      (default 0: chosen by the system)
 *
 * One loop, one thread, 127.0.0.1. Reads land in one loop-wide buffer handed
 * out by alloc_cb (libuv runs a read callback to completion before the next
 * allocation, and the bytes are written or copied before it returns), and
 * are echoed with uv_try_write; only what the socket does not take is copied
 * into a write request from a free list, and the connection stops reading
 * until that request completes (backpressure, as in the epoll floor).
 * malloc/free per read would make libuv about 3x slower and would not be a
 * fair anchor. Prints "listening on 127.0.0.1:PORT" once ready.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum { BUF_SIZE = 65536 };

struct wreq {
    uv_write_t req;
    struct wreq *next;
    char bytes[BUF_SIZE];
};

static char read_buf[BUF_SIZE];
static struct wreq *free_wreqs;

static void on_closed(uv_handle_t *h)
{
    free(h);
}

static void drop(uv_stream_t *s)
{
    if (!uv_is_closing((uv_handle_t *)s))
        uv_close((uv_handle_t *)s, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    uv_stream_t *s = req->handle;
    w->next = free_wreqs;
    free_wreqs = w;
    if (status < 0)
        drop(s);
    else if (!uv_is_closing((uv_handle_t *)s) && uv_read_start(s, on_alloc, on_read) != 0)
        drop(s);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0) {
        drop(s); /* UV_EOF or a reset */
        return;
    }
    if (nread == 0)
        return;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
    int n = uv_try_write(s, &out, 1);
    if (n == nread)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        drop(s);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    struct wreq *w = free_wreqs;
    if (w)
        free_wreqs = w->next;
    else if (!(w = malloc(sizeof *w))) {
        drop(s);
        return;
    }
    memcpy(w->bytes, buf->base + done, (size_t)nread - done);
    uv_buf_t rest = uv_buf_init(w->bytes, (unsigned)((size_t)nread - done));
    uv_read_stop(s);
    if (uv_write(&w->req, s, &rest, 1, on_written) != 0) {
        w->next = free_wreqs;
        free_wreqs = w;
        drop(s);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        fprintf(stderr, "uv_echo: accept: %s\n", uv_strerror(status));
        return;
    }
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_closed);
        return;
    }
    uv_tcp_nodelay(c, 1);
    if (uv_read_start((uv_stream_t *)c, on_alloc, on_read) != 0)
        drop((uv_stream_t *)c);
}

int main(int argc, char **argv)
{
    long port = 0;
    if (argc == 3 && strcmp(argv[1], "--port") == 0) {
        char *end;
        port = strtol(argv[2], &end, 10);
        if (*end || end == argv[2] || port < 0 || port > 65535)
            argc = 0;
    }
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: uv_echo [--port P]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in sa;
    int salen = sizeof sa;
    int rc = uv_ip4_addr("127.0.0.1", (int)port, &sa);
    if (!rc)
        rc = uv_tcp_init(loop, &server);
    if (!rc)
        rc = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
    if (!rc)
        rc = uv_tcp_getsockname(&server, (struct sockaddr *)&sa, &salen);
    if (rc) {
        fprintf(stderr, "uv_echo: listen on 127.0.0.1:%ld: %s\n", port, uv_strerror(rc));
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}

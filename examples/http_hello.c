/*
 * examples/http_hello.c - "200 hello" to every valid HTTP request, on
 * keel's HTTP server: for benchmarks and conformance runs.
 *
 *   http_hello [--threads N] [--ip ADDR] [--port P] [--cert FILE --key FILE]
 *
 * Prints "listening on ADDR:PORT" once ready; SIGINT/SIGTERM stop it
 * gracefully (exit 0). Invalid requests get the parser's status (400, 413,
 * 414, 431, 501, 505) and a lingering close. No access log.
 */
#include "example_http.h"

static void hello(keel_http_reply *reply, const keel_http_request *req, keel_slice body,
                  void *user)
{
    (void)req;
    (void)body;
    (void)user;
    static const keel_http_field type[1] = { { { (const uint8_t *)"Content-Type", 12 },
                                                { (const uint8_t *)"text/plain", 10 } } };
    if (keel_http_reply_send(reply, 200, type, 1, KEEL_STR("hello")) != KEEL_OK) {
        /* the client is gone: nothing to do */
    }
}

int main(int argc, char **argv)
{
    static const keel_http_route routes[1] = { { .path = { (const uint8_t *)"/", 1 },
                                                 .prefix = true,
                                                 .handler = hello } };
    keel_http_server_opts o = { .routes = routes, .route_count = 1 };
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return example_http_usage("http_hello", NULL);
    }
    example_http_files files;
    const char *why = example_http_args(argc, argv, &o, &files);
    if (why != NULL) {
        return example_http_usage("http_hello", why);
    }
    return example_http_run("http_hello", &o, &files);
}

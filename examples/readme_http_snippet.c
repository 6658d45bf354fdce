/*
 * examples/readme_http_snippet.c - the "HTTP parsing" example of README.md,
 * compiled and run by the examples test so that the README cannot drift
 * from the API. The text between the README markers is the README's code
 * block, byte for byte.
 *
 *   readme_http_snippet   (parses a request that arrives in two pieces)
 */
#include <stdio.h>
#include <string.h>

/* README:begin */
#include "keel/http.h"

/* Offer the bytes received so far (from the message's first byte; they may
 * have moved since the last call). KEEL_OK: *req is the head, slices into
 * `received`, and the body starts at received.ptr + *head_len. */
static keel_result on_bytes(keel_http_parser *p, keel_slice received, keel_http_request *req,
                            size_t *head_len)
{
    keel_http_error err;
    keel_result r = keel_http_parse_request(p, received, req, head_len, &err);
    if (r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE) {
        /* Answer err.status (400, 413, 414, 431, 501 or 505) and close. */
        fprintf(stderr, "rejected at byte %zu: %s (%u)\n", err.offset,
                keel_http_reason_str(err.reason), (unsigned)err.status);
    }
    return r; /* KEEL_ERR_INCOMPLETE: call again when more bytes arrive */
}
/* README:end */

int main(void)
{
    static const char wire[] = "POST /upload?v=2 HTTP/1.1\r\nHost: example.com\r\n"
                               "Content-Length: 5\r\n\r\nhello";
    keel_http_header headers[16]; /* its size is the header count limit */
    keel_http_parser parser;
    keel_http_request req;
    size_t head_len = 0;
    if (keel_http_parser_init(&parser, KEEL_HTTP_REQUEST, NULL, headers, 16) != KEEL_OK) {
        return 1;
    }
    keel_slice first = { (const uint8_t *)wire, 20 };
    keel_slice all = { (const uint8_t *)wire, strlen(wire) };
    if (on_bytes(&parser, first, &req, &head_len) != KEEL_ERR_INCOMPLETE ||
        on_bytes(&parser, all, &req, &head_len) != KEEL_OK) {
        return 1;
    }
    keel_slice host;
    if (keel_http_header_get(&req.head, KEEL_STR("host"), &host) != KEEL_OK) {
        return 1;
    }
    printf("%.*s %.*s host=%.*s body=%llu bytes at %zu\n", (int)req.method.len,
           (const char *)req.method.ptr, (int)req.path.len, (const char *)req.path.ptr,
           (int)host.len, (const char *)host.ptr, (unsigned long long)req.head.content_length,
           head_len);
    /* a smuggling attempt is refused with the offset and the status */
    keel_slice bad = KEEL_STR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n");
    return on_bytes(&parser, bad, &req, &head_len) == KEEL_ERR_PARSE ? 0 : 1;
}

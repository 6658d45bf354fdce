/*
 * fuzz/http/diff_peers.h - what fuzz_http_diff.c reads from its two peers,
 * llhttp (diff_llhttp.c, built from Debian's node-llhttp sources) and
 * http-parser (diff_http_parser.c, Debian's libhttp-parser). Their headers
 * cannot share a translation unit (both define HPE_OK, HTTP_REQUEST...),
 * so each peer has its own file and this neutral interface.
 *
 * A peer parses a request stream in one call, message after message
 * (pausing in on_message_complete to learn where each message ends), and
 * reports each complete message: where it ends (one past its last byte),
 * its body length (the bytes on_body delivered), and whether it is
 * keep-alive or an upgrade (the peer hands the rest of the connection to
 * another protocol); then how the stream ended.
 */
#ifndef KEEL_FUZZ_DIFF_PEERS_H
#define KEEL_FUZZ_DIFF_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIFF_MSGS_MAX 512u

typedef struct diff_msg {
    size_t end;         /* stream offset one past the message */
    uint64_t body_len;  /* body bytes */
    bool keep_alive;    /* another message may follow */
    bool upgrade;       /* the peer stops parsing HTTP after it */
} diff_msg;

enum {
    DIFF_END_OPEN = 1,  /* every byte was taken: clean, or inside a message */
    DIFF_END_ERROR,     /* rejected */
    DIFF_END_STOP       /* stopped after an upgrade (or more messages than DIFF_MSGS_MAX) */
};

typedef struct diff_run {
    diff_msg msg[DIFF_MSGS_MAX];
    size_t count;
    int end;
    bool in_message;    /* DIFF_END_OPEN: a message had begun */
    size_t err_at;      /* DIFF_END_ERROR: stream offset of the error */
    int err_code;       /* the peer's errno value */
    const char *err_name;
} diff_run;

void diff_llhttp(const uint8_t *data, size_t len, diff_run *out);
void diff_http_parser(const uint8_t *data, size_t len, diff_run *out);

/* The peer's "invalid method" error: keel accepts any token as a method. */
bool diff_llhttp_bad_method(int code);
bool diff_http_parser_bad_method(int code);
/* The peer's "invalid Transfer-Encoding" error. */
bool diff_llhttp_bad_te(int code);
bool diff_http_parser_bad_te(int code);
/* The peer's errors about the request-target. */
bool diff_llhttp_bad_url(int code);
bool diff_http_parser_bad_url(int code);
/* http-parser's "Content-Length with Transfer-Encoding" error, and all
 * its Content-Length errors. */
bool diff_http_parser_cl_with_te(int code);
bool diff_http_parser_cl_error(int code);
/* llhttp's Content-Length errors (invalid, duplicate, with Transfer-Encoding). */
bool diff_llhttp_cl_error(int code);
/* llhttp's error on a protocol name it did not expect. */
bool diff_llhttp_bad_protocol(int code);
bool diff_llhttp_bad_version(int code);

#endif /* KEEL_FUZZ_DIFF_PEERS_H */

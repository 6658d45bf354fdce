/*
 * examples/http_parse.c - parse HTTP/1.1 messages back to back with keel's
 * parser and print each as one line of JSON.
 *
 *   http_parse [--response] [FILE|-]
 *
 * Reads FILE (stdin when absent or "-") whole, up to 64 MiB, and parses
 * requests (or, with --response, responses to GET requests) one after the
 * other. For each complete message it prints, with keel's JSON writer:
 *
 *   {"method":"POST","target":"/x","version":"HTTP/1.1",
 *    "headers":[["Host","h"],...],"body_len":5,"body_b64":"aGVsbG8="}
 *
 * ("status" instead of "method" and "target" for responses). Bodies are
 * framed by Content-Length or chunked (decoded with
 * keel_http_chunked_decode); a response with neither runs to the end of the
 * input. Then a last line says how the input ended:
 *
 *   {"end":"ok","offset":N,"reason":"no error"}
 *   {"end":"incomplete","offset":N,"reason":"..."}   the message starting at N is cut short
 *   {"end":"error","offset":N,"reason":"...","status":400}   rejected at byte N
 *
 * Exit status: 0 when every byte formed complete messages, 1 on a
 * rejection, 3 on a truncated message, 2 on bad arguments or an I/O error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/http.h"
#include "keel/json.h"

#include "example_io.h"

#define HTTP_PARSE_MAX_INPUT ((size_t)64 << 20)
#define HTTP_PARSE_MAX_HEADERS 128

static int usage(FILE *to, const char *why)
{
    if (why != NULL) {
        fprintf(to, "http_parse: %s\n", why);
    }
    fprintf(to, "usage: http_parse [--response] [FILE|-]\n"
                "  parse HTTP/1.1 requests (or responses to GET) back to back and print each\n"
                "  as a line of JSON, then {\"end\": ...}\n"
                "  exit 0: all complete, 1: rejected, 3: truncated, 2: usage or I/O error\n");
    return 2;
}

/* Base64 (RFC 4648, with padding) of src into a new NUL-terminated string. */
static char *base64(const uint8_t *src, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)src[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= src[i + 2];
        }
        out[o++] = abc[(v >> 18) & 63u];
        out[o++] = abc[(v >> 12) & 63u];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63u] : '=';
        out[o++] = i + 2 < n ? abc[v & 63u] : '=';
    }
    out[o] = '\0';
    return out;
}

/* A body as decoded so far. */
typedef struct body {
    uint8_t *ptr;
    size_t len;
} body;

/* How the input ended. */
typedef struct ending {
    const char *end;   /* "ok", "incomplete", "error" */
    size_t offset;
    const char *reason;
    uint16_t status;   /* errors only */
} ending;

/* Decode the chunked body at in[at ...]: KEEL_OK with *used (its length in
 * in) and the data in *b, INCOMPLETE, or a rejection (*err, offset from the
 * body's first byte). */
static keel_result read_chunked(keel_slice in, size_t at, body *b, size_t *used,
                                keel_http_error *err)
{
    keel_http_chunked d;
    keel_result r = keel_http_chunked_init(&d, NULL);
    size_t pos = at;
    while (r == KEEL_OK && !keel_http_chunked_done(&d)) {
        keel_slice rest;
        keel_slice data;
        size_t consumed = 0;
        if (keel_slice_from_off(in, pos, &rest) != KEEL_OK) {
            return KEEL_ERR_INVALID_ARG;
        }
        r = keel_http_chunked_decode(&d, rest, &data, &consumed, err);
        pos += consumed;
        if (r == KEEL_OK && data.len > 0) {
            uint8_t *bigger = realloc(b->ptr, b->len + data.len);
            if (bigger == NULL) {
                return KEEL_ERR_NO_MEMORY;
            }
            b->ptr = bigger;
            memcpy(b->ptr + b->len, data.ptr, data.len);
            b->len += data.len;
        }
    }
    *used = pos - at;
    return r;
}

/* One message as a JSON object into w. */
static keel_result write_message(keel_json_writer *w, const keel_http_head *head,
                                 const keel_http_request *req, const keel_http_response *resp,
                                 size_t body_len, const char *b64)
{
    KEEL_TRY(keel_json_write_object_begin(w));
    if (req != NULL) {
        KEEL_TRY(keel_json_write_key(w, KEEL_STR("method")));
        KEEL_TRY(keel_json_write_string(w, req->method));
        KEEL_TRY(keel_json_write_key(w, KEEL_STR("target")));
        KEEL_TRY(keel_json_write_string(w, req->target));
    }
    KEEL_TRY(keel_json_write_key(w, KEEL_STR("version")));
    KEEL_TRY(keel_json_write_string(w, head->version_minor == 1 ? KEEL_STR("HTTP/1.1")
                                                                : KEEL_STR("HTTP/1.0")));
    if (resp != NULL) {
        KEEL_TRY(keel_json_write_key(w, KEEL_STR("status")));
        KEEL_TRY(keel_json_write_u64(w, resp->status));
    }
    KEEL_TRY(keel_json_write_key(w, KEEL_STR("headers")));
    KEEL_TRY(keel_json_write_array_begin(w));
    for (size_t i = 0; i < head->header_count; i++) {
        KEEL_TRY(keel_json_write_array_begin(w));
        KEEL_TRY(keel_json_write_string(w, head->headers[i].name));
        KEEL_TRY(keel_json_write_string(w, head->headers[i].value));
        KEEL_TRY(keel_json_write_array_end(w));
    }
    KEEL_TRY(keel_json_write_array_end(w));
    KEEL_TRY(keel_json_write_key(w, KEEL_STR("body_len")));
    KEEL_TRY(keel_json_write_u64(w, body_len));
    KEEL_TRY(keel_json_write_key(w, KEEL_STR("body_b64")));
    KEEL_TRY(keel_json_write_string(w, keel_slice_cstr(b64)));
    KEEL_TRY(keel_json_write_object_end(w));
    return keel_json_writer_finish(w);
}

/* One message as a line of JSON on stdout. */
static keel_result print_message(const keel_http_head *head, const keel_http_request *req,
                                 const keel_http_response *resp, const body *b)
{
    /* room for the worst case: every byte escaped as \u00XX */
    size_t cap = 256 + (b->len + 2) / 3 * 4;
    for (size_t i = 0; i < head->header_count; i++) {
        cap += 6 * (head->headers[i].name.len + head->headers[i].value.len) + 8;
    }
    if (req != NULL) {
        cap += 6 * (req->method.len + req->target.len);
    }
    uint8_t *storage = malloc(cap);
    char *b64 = base64(b->ptr, b->len);
    keel_buf out;
    keel_json_writer w;
    keel_result r = storage == NULL || b64 == NULL ? KEEL_ERR_NO_MEMORY
                                                   : keel_buf_init(&out, storage, cap);
    if (r == KEEL_OK) {
        r = keel_json_writer_init(&w, &out, 4, KEEL_JSON_UTF8_REPLACE);
    }
    if (r == KEEL_OK) {
        r = write_message(&w, head, req, resp, b->len, b64);
    }
    if (r == KEEL_OK) {
        fwrite(out.ptr, 1, out.len, stdout);
        fputc('\n', stdout);
    }
    free(b64);
    free(storage);
    return r;
}

static keel_result print_ending(const ending *e)
{
    uint8_t storage[512];
    keel_buf out;
    keel_json_writer w;
    KEEL_TRY(keel_buf_init(&out, storage, sizeof(storage)));
    KEEL_TRY(keel_json_writer_init(&w, &out, 2, KEEL_JSON_UTF8_REPLACE));
    KEEL_TRY(keel_json_write_object_begin(&w));
    KEEL_TRY(keel_json_write_key(&w, KEEL_STR("end")));
    KEEL_TRY(keel_json_write_string(&w, keel_slice_cstr(e->end)));
    KEEL_TRY(keel_json_write_key(&w, KEEL_STR("offset")));
    KEEL_TRY(keel_json_write_u64(&w, e->offset));
    KEEL_TRY(keel_json_write_key(&w, KEEL_STR("reason")));
    KEEL_TRY(keel_json_write_string(&w, keel_slice_cstr(e->reason)));
    if (e->status != 0) {
        KEEL_TRY(keel_json_write_key(&w, KEEL_STR("status")));
        KEEL_TRY(keel_json_write_u64(&w, e->status));
    }
    KEEL_TRY(keel_json_write_object_end(&w));
    KEEL_TRY(keel_json_writer_finish(&w));
    fwrite(out.ptr, 1, out.len, stdout);
    fputc('\n', stdout);
    return KEEL_OK;
}

/* Parse every message of in; fills *e with how it ended. KEEL_OK unless
 * printing failed (out of memory). */
static keel_result parse_all(keel_slice in, bool responses, ending *e)
{
    keel_http_header headers[HTTP_PARSE_MAX_HEADERS];
    keel_http_parser p;
    KEEL_TRY(keel_http_parser_init(&p, responses ? KEEL_HTTP_RESPONSE : KEEL_HTTP_REQUEST, NULL,
                                   headers, HTTP_PARSE_MAX_HEADERS));
    size_t at = 0;
    e->end = "ok";
    e->reason = keel_http_reason_str(KEEL_HTTP_OK);
    e->status = 0;
    while (at < in.len) {
        keel_slice rest;
        keel_http_request req;
        keel_http_response resp;
        keel_http_head *head;
        keel_http_error err = { 0, KEEL_HTTP_OK, 0 };
        size_t consumed = 0;
        KEEL_TRY(keel_slice_from_off(in, at, &rest));
        keel_result r = responses
                            ? keel_http_parse_response(&p, rest, KEEL_HTTP_GET, &resp, &consumed, &err)
                            : keel_http_parse_request(&p, rest, &req, &consumed, &err);
        head = responses ? &resp.head : &req.head;
        if (r == KEEL_ERR_INCOMPLETE) {
            e->end = "incomplete";
            e->offset = at;
            e->reason = "the input ends inside a message head";
            return KEEL_OK;
        }
        if (r != KEEL_OK) {
            e->end = "error";
            e->offset = at + err.offset;
            e->reason = keel_http_reason_str(err.reason);
            e->status = err.status;
            return KEEL_OK;
        }
        size_t body_at = at + consumed;
        size_t used = 0;
        body b = { NULL, 0 };
        if (head->body == KEEL_HTTP_BODY_LENGTH) {
            if (head->content_length > in.len - body_at) {
                e->end = "incomplete";
                e->offset = at;
                e->reason = "the input ends inside a message body";
                return KEEL_OK;
            }
            used = (size_t)head->content_length;
            b.ptr = malloc(used > 0 ? used : 1);
            if (b.ptr == NULL) {
                return KEEL_ERR_NO_MEMORY;
            }
            memcpy(b.ptr, in.ptr + body_at, used);
            b.len = used;
        } else if (head->body == KEEL_HTTP_BODY_CHUNKED) {
            r = read_chunked(in, body_at, &b, &used, &err);
            if (r != KEEL_OK) {
                free(b.ptr);
                if (r == KEEL_ERR_INCOMPLETE) {
                    e->end = "incomplete";
                    e->offset = at;
                    e->reason = "the input ends inside a message body";
                    return KEEL_OK;
                }
                if (r != KEEL_ERR_PARSE && r != KEEL_ERR_TOO_LARGE) {
                    return r;
                }
                e->end = "error";
                e->offset = body_at + err.offset;
                e->reason = keel_http_reason_str(err.reason);
                e->status = err.status;
                return KEEL_OK;
            }
        } else if (head->body == KEEL_HTTP_BODY_UNTIL_CLOSE) {
            used = in.len - body_at;
            b.ptr = malloc(used > 0 ? used : 1);
            if (b.ptr == NULL) {
                return KEEL_ERR_NO_MEMORY;
            }
            memcpy(b.ptr, in.ptr + body_at, used);
            b.len = used;
        }
        r = print_message(head, responses ? NULL : &req, responses ? &resp : NULL, &b);
        free(b.ptr);
        KEEL_TRY(r);
        at = body_at + used;
    }
    e->offset = at;
    return KEEL_OK;
}

int main(int argc, char **argv)
{
    bool responses = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout, NULL);
            return 0;
        }
        if (strcmp(argv[i], "--response") == 0) {
            responses = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage(stderr, "unknown option");
        } else if (path == NULL) {
            path = argv[i];
        } else {
            return usage(stderr, "one input at a time");
        }
    }
    bool from_stdin = path == NULL || strcmp(path, "-") == 0;
    const char *name = from_stdin ? "<stdin>" : path;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "http_parse: %s: %s\n", name, strerror(errno));
        return 2;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    errno = 0;
    keel_result r = example_read_all(f, HTTP_PARSE_MAX_INPUT, &data, &len);
    int read_errno = errno;
    if (!from_stdin) {
        fclose(f);
    }
    if (r != KEEL_OK) {
        if (r == KEEL_ERR_TOO_LARGE) {
            fprintf(stderr, "http_parse: %s: larger than %zu bytes\n", name, HTTP_PARSE_MAX_INPUT);
        } else {
            fprintf(stderr, "http_parse: %s: %s\n", name,
                    r == KEEL_ERR_OS ? strerror(read_errno) : keel_result_str(r));
        }
        return 2;
    }
    keel_slice in;
    ending e = { "ok", 0, "", 0 };
    r = keel_slice_from(data, len, &in);
    if (r == KEEL_OK) {
        r = parse_all(in, responses, &e);
    }
    if (r == KEEL_OK) {
        r = print_ending(&e);
    }
    free(data);
    if (r != KEEL_OK) {
        fprintf(stderr, "http_parse: %s\n", keel_result_str(r));
        return 2;
    }
    if (fflush(stdout) != 0) {
        return 2;
    }
    if (strcmp(e.end, "ok") == 0) {
        return 0;
    }
    return strcmp(e.end, "error") == 0 ? 1 : 3;
}

/*
 * fuzz/http/diff_http_parser.c - fuzz_http_diff's http-parser peer
 * (Debian's libhttp-parser 2.9, as built by Debian: HTTP_PARSER_STRICT
 * as its header sets it, lenient_http_headers and allow_chunked_length
 * off).
 */
#include <string.h>

#include <http_parser.h>

#include "diff_peers.h"

typedef struct hp_ctx {
    diff_run *out;
    uint64_t body;
} hp_ctx;

static int on_begin(http_parser *p)
{
    hp_ctx *c = p->data;
    c->body = 0;
    c->out->in_message = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    (void)at;
    hp_ctx *c = p->data;
    c->body += n;
    return 0;
}

static int on_complete(http_parser *p)
{
    hp_ctx *c = p->data;
    diff_run *o = c->out;
    o->in_message = false;
    if (o->count < DIFF_MSGS_MAX) {
        diff_msg *m = &o->msg[o->count++];
        m->end = 0;
        m->body_len = c->body;
        m->keep_alive = http_should_keep_alive(p) != 0;
        m->upgrade = p->upgrade != 0;
    }
    http_parser_pause(p, 1);
    return 0;
}

void diff_http_parser(const uint8_t *data, size_t len, diff_run *out)
{
    static http_parser_settings settings;
    static bool ready;
    if (!ready) {
        http_parser_settings_init(&settings);
        settings.on_message_begin = on_begin;
        settings.on_body = on_body;
        settings.on_message_complete = on_complete;
        ready = true;
    }
    memset(out, 0, sizeof *out);
    http_parser p;
    hp_ctx c = { out, 0 };
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &c;
    size_t pos = 0;
    for (;;) {
        size_t before = out->count;
        size_t n = http_parser_execute(&p, &settings, (const char *)data + pos, len - pos);
        enum http_errno e = HTTP_PARSER_ERRNO(&p);
        if (e == HPE_PAUSED) {
            size_t at = pos + n;
            if (out->count > before) {
                out->msg[out->count - 1].end = at;
            }
            if (out->count >= DIFF_MSGS_MAX ||
                (out->count > 0 && out->msg[out->count - 1].upgrade)) {
                out->end = DIFF_END_STOP;
                return;
            }
            http_parser_pause(&p, 0);
            pos = at;
            if (pos == len) {
                out->end = DIFF_END_OPEN;
                return;
            }
            continue;
        }
        if (e != HPE_OK) {
            out->end = DIFF_END_ERROR;
            out->err_code = (int)e;
            out->err_name = http_errno_name(e);
            out->err_at = pos + n;
            return;
        }
        if (p.upgrade) {
            out->end = DIFF_END_STOP;
            return;
        }
        out->end = DIFF_END_OPEN;
        return;
    }
}

bool diff_http_parser_bad_method(int code)
{
    return code == HPE_INVALID_METHOD;
}

bool diff_http_parser_bad_te(int code)
{
    return code == HPE_INVALID_TRANSFER_ENCODING;
}

bool diff_http_parser_bad_url(int code)
{
    return code == HPE_INVALID_URL || code == HPE_INVALID_HOST || code == HPE_INVALID_PORT ||
           code == HPE_INVALID_PATH || code == HPE_INVALID_QUERY_STRING ||
           code == HPE_INVALID_FRAGMENT;
}

bool diff_http_parser_cl_with_te(int code)
{
    return code == HPE_UNEXPECTED_CONTENT_LENGTH;
}

bool diff_http_parser_cl_error(int code)
{
    return code == HPE_UNEXPECTED_CONTENT_LENGTH || code == HPE_INVALID_CONTENT_LENGTH;
}

/*
 * fuzz/http/diff_llhttp.c - fuzz_http_diff's llhttp peer (Debian's
 * node-llhttp 8.1 C sources: api.c, http.c, llhttp.c in /usr/share/llhttp, compiled into the
 * harness by fuzz/CMakeLists.txt; not in keel's tree). Default settings:
 * no leniency flag is set.
 */
#include <string.h>

#include <llhttp.h>

#include "diff_peers.h"

typedef struct llhttp_ctx {
    diff_run *out;
    uint64_t body;
    const char *base;
} llhttp_ctx;

static int on_begin(llhttp_t *p)
{
    llhttp_ctx *c = p->data;
    c->body = 0;
    c->out->in_message = true;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    (void)at;
    llhttp_ctx *c = p->data;
    c->body += n;
    return 0;
}

static int on_complete(llhttp_t *p)
{
    llhttp_ctx *c = p->data;
    diff_run *o = c->out;
    c->out->in_message = false;
    if (o->count < DIFF_MSGS_MAX) {
        diff_msg *m = &o->msg[o->count++];
        m->end = 0; /* set where execute stops */
        m->body_len = c->body;
        m->keep_alive = llhttp_should_keep_alive(p) != 0;
        m->upgrade = llhttp_get_upgrade(p) != 0;
    }
    return HPE_PAUSED;
}

void diff_llhttp(const uint8_t *data, size_t len, diff_run *out)
{
    static llhttp_settings_t settings;
    static bool ready;
    if (!ready) {
        llhttp_settings_init(&settings);
        settings.on_message_begin = on_begin;
        settings.on_body = on_body;
        settings.on_message_complete = on_complete;
        ready = true;
    }
    memset(out, 0, sizeof *out);
    llhttp_t p;
    llhttp_ctx c = { out, 0, (const char *)data };
    llhttp_init(&p, HTTP_REQUEST, &settings);
    p.data = &c;
    size_t pos = 0;
    for (;;) {
        size_t before = out->count;
        llhttp_errno_t e = llhttp_execute(&p, (const char *)data + pos, len - pos);
        if (e == HPE_PAUSED) {
            size_t at = (size_t)(llhttp_get_error_pos(&p) - (const char *)data);
            if (out->count > before) {
                out->msg[out->count - 1].end = at;
            }
            if (out->count >= DIFF_MSGS_MAX ||
                (out->count > 0 && out->msg[out->count - 1].upgrade)) {
                out->end = DIFF_END_STOP;
                return;
            }
            llhttp_resume(&p);
            pos = at;
            continue;
        }
        if (e == HPE_OK) {
            out->end = DIFF_END_OPEN;
            return;
        }
        if (e == HPE_PAUSED_UPGRADE) {
            out->end = DIFF_END_STOP;
            return;
        }
        out->end = DIFF_END_ERROR;
        out->err_code = (int)e;
        out->err_name = llhttp_errno_name(e);
        const char *ep = llhttp_get_error_pos(&p);
        out->err_at = ep != NULL ? (size_t)(ep - (const char *)data) : pos;
        return;
    }
}

bool diff_llhttp_bad_method(int code)
{
    return code == HPE_INVALID_METHOD;
}

bool diff_llhttp_bad_te(int code)
{
    return code == HPE_INVALID_TRANSFER_ENCODING;
}

bool diff_llhttp_bad_url(int code)
{
    return code == HPE_INVALID_URL;
}

bool diff_llhttp_cl_error(int code)
{
    return code == HPE_UNEXPECTED_CONTENT_LENGTH || code == HPE_INVALID_CONTENT_LENGTH;
}

bool diff_llhttp_bad_protocol(int code)
{
    return code == HPE_INVALID_CONSTANT;
}

bool diff_llhttp_bad_version(int code)
{
    return code == HPE_INVALID_VERSION;
}

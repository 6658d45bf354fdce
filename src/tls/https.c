/*
 * src/tls/https.c - HTTPS for keel's HTTP server and client: a keel_http_tls
 * (keel_http_tls_new) fills the tables of src/http/http_transport.h with the
 * TLS layer's calls - keel_tls_stream for the server and the async fetch,
 * keel_tls for the blocking client - so that the HTTP code runs unchanged
 * over TLS without including keel/tls.h (tls comes after http in
 * DESIGN.md's table).
 */
#include "core/sys.h"
#include "http/http_transport.h"
#include "keel/tls.h"

/* ---- a connection on the loop: a keel_tls_stream ------------------------------ */

static keel_result https_write(void *s, keel_slice data)
{
    return keel_tls_stream_write(s, data);
}

static bool https_can_write(const void *s)
{
    return keel_tls_stream_can_write(s);
}

static size_t https_queued(const void *s)
{
    return keel_tls_stream_queued(s);
}

static void https_read_stop(void *s)
{
    keel_tls_stream_read_stop(s);
}

static void https_read_start(void *s)
{
    keel_tls_stream_read_start(s);
}

static keel_result https_shutdown(void *s)
{
    return keel_tls_stream_shutdown(s);
}

static void https_close(void *s)
{
    keel_tls_stream_close(s);
}

static void https_abort(void *s)
{
    keel_tls_stream_abort(s);
}

static void https_set_user(void *s, void *user)
{
    keel_tls_stream_set_user(s, user);
}

static keel_loop *https_loop(const void *s)
{
    return keel_tls_stream_loop(s);
}

static const khttp_stream_ops https_ops = {
    .write = https_write,
    .can_write = https_can_write,
    .queued = https_queued,
    .read_stop = https_read_stop,
    .read_start = https_read_start,
    .shutdown = https_shutdown,
    .close = https_close,
    .abort = https_abort,
    .set_user = https_set_user,
    .loop = https_loop,
};

/* ---- the server ------------------------------------------------------------------ */

/* A client's EOF without close_notify ends its requests as a plain EOF
 * would: a request cut short is incomplete by its own framing. */
static size_t https_server_read(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    return khttp_server_on_read(t, r == KEEL_ERR_TLS_TRUNCATED ? KEEL_ERR_CLOSED : r, data, user);
}

static void https_server_writable(keel_tls_stream *t, keel_result r, bool can_write, void *user)
{
    khttp_server_on_writable(t, r, can_write, user);
}

static void https_server_closed(keel_tls_stream *t, keel_result r, void *user)
{
    khttp_server_on_close(t, r, user);
}

static void https_server_accepted(keel_tls_stream *t, keel_result r, void *user)
{
    if (t != NULL && r == KEEL_OK) {
        khttp_server_on_accept(t, user);
    }
}

static const keel_tls_stream_handlers https_server_handlers = {
    .on_read = https_server_read,
    .on_writable = https_server_writable,
    .on_close = https_server_closed,
};

/* What the TLS server keeps by pointer while it runs. */
typedef struct https_server {
    keel_tls_server_opts so;
} https_server;

static keel_result https_server_start(const keel_http_tls *t, const keel_server_opts *base,
                                      const keel_stream_opts *sopts, void **state,
                                      keel_server **out)
{
    https_server *hs = ksys_alloc_zeroed(sizeof *hs);
    if (hs == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    hs->so = (keel_tls_server_opts){ .config = t->cfg,
                                     .handlers = &https_server_handlers,
                                     .stream_opts = sopts,
                                     .on_accept = https_server_accepted,
                                     .user = base->user,
                                     .on_shutdown = base->on_shutdown };
    keel_server_opts b = *base;
    b.user = NULL;
    b.on_shutdown = NULL;
    keel_result r = keel_tls_server_start(&b, &hs->so, out);
    if (r != KEEL_OK) {
        ksys_release(hs);
        return r;
    }
    *state = hs;
    return KEEL_OK;
}

static void https_server_state_free(void *state)
{
    ksys_release(state);
}

/* ---- the async client ------------------------------------------------------------ */

static size_t https_fetch_read(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    return khttp_fetch_on_read(t, r, data, user);
}

static void https_fetch_closed(keel_tls_stream *t, keel_result r, void *user)
{
    khttp_fetch_on_close(t, r, user);
}

static const keel_tls_stream_handlers https_fetch_handlers = {
    .on_read = https_fetch_read,
    .on_close = https_fetch_closed,
};

static keel_result https_connect(const keel_http_tls *t, keel_loop *loop, keel_slice host,
                                 uint16_t port, uint32_t timeout_ms, void *user, void **out)
{
    keel_tls_stream *ts = NULL;
    KEEL_TRY(keel_tls_stream_connect(loop, t->cfg, host, port, host, timeout_ms,
                                     &https_fetch_handlers, NULL, user, &ts));
    *out = ts;
    return KEEL_OK;
}

/* ---- the blocking client --------------------------------------------------------- */

static keel_result https_session_open(const keel_http_tls *t, keel_net *net, keel_slice host,
                                      uint32_t timeout_ms, void **out)
{
    keel_tls *tls = NULL;
    KEEL_TRY(keel_tls_init(&tls));
    keel_result r = keel_tls_connect(tls, t->cfg, net, host, timeout_ms);
    if (r != KEEL_OK) {
        keel_tls_free(tls);
        return r;
    }
    *out = tls;
    return KEEL_OK;
}

static keel_result https_session_send(void *sess, keel_slice data, uint32_t timeout_ms)
{
    return keel_tls_send(sess, data, timeout_ms, NULL);
}

static keel_result https_session_recv(void *sess, keel_buf *into, uint32_t timeout_ms,
                                      size_t *got)
{
    return keel_tls_recv(sess, into, timeout_ms, got);
}

/* close_notify if the socket takes it at once (0: do not wait), then gone. */
static void https_session_free(void *sess)
{
    if (sess != NULL && keel_tls_close_notify(sess, 0) != KEEL_OK) {
        /* the peer learns of the end from the FIN alone */
    }
    keel_tls_free(sess);
}

/* ---- keel_http_tls ---------------------------------------------------------------- */

keel_result keel_http_tls_new(const keel_tls_config *cfg, keel_http_tls **out)
{
    if (cfg == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_http_tls *t = ksys_alloc_zeroed(sizeof *t);
    if (t == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    *t = (keel_http_tls){ .cfg = cfg,
                          .server = keel_tls_config_role(cfg) == KEEL_TLS_SERVER,
                          .ops = &https_ops,
                          .server_start = https_server_start,
                          .server_state_free = https_server_state_free,
                          .connect = https_connect,
                          .session_open = https_session_open,
                          .session_send = https_session_send,
                          .session_recv = https_session_recv,
                          .session_free = https_session_free };
    *out = t;
    return KEEL_OK;
}

void keel_http_tls_free(keel_http_tls *t)
{
    ksys_release(t);
}

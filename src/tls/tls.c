/*
 * src/tls/tls.c - blocking TLS over a keel_net (keel_tls_*), and mbed TLS's
 * transport callbacks over a keel_net (keel_tls_bio_*).
 *
 * A keel_tls call sets one deadline; mbed TLS reaches the socket only
 * through tls_bio_send / tls_bio_recv below, which wait (keel_net_send_all,
 * keel_net_recv_timeout) for what is left of it, and keep the keel_result
 * behind any failure they hand mbed TLS, so that the caller gets the
 * transport's own result (TIMEOUT, RESET...) and not mbed TLS's rendering.
 */
#include <limits.h>

#include "core/sys.h"
#include "tls/tls_internal.h"

struct keel_tls {
    mbedtls_ssl_context ssl;
    keel_net *net;
    uint64_t deadline;     /* ms on ksys_now_ms's clock; UINT64_MAX: none */
    ktls_status st;
    keel_result err;       /* sticky: the session's fatal failure */
    keel_result read_end;  /* CLOSED / TLS_TRUNCATED once the peer is done */
    size_t pending;        /* plaintext bytes of a half-sent record */
    bool session;          /* ssl is set up (mbedtls_ssl_free needed) */
    bool open;             /* the handshake finished */
    bool notified;         /* close_notify sent */
};

static size_t tls_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- mbed TLS's transport callbacks over a keel_net ------------------------- */

/* A keel_buf over mbed TLS's buffer (the count cut to INT_MAX). */
static KEEL_MUST_USE keel_result tls_bio_buf(unsigned char *buf, size_t len, keel_buf *b)
{
    return keel_buf_init(b, buf, tls_min(len, (size_t)INT_MAX));
}

int keel_tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    keel_slice data;
    if (ctx == NULL || keel_slice_from(buf, tls_min(len, (size_t)INT_MAX), &data) != KEEL_OK) {
        return MBEDTLS_ERR_NET_INVALID_CONTEXT;
    }
    size_t sent = 0;
    keel_result r = keel_net_send(ctx, data, &sent);
    return r == KEEL_OK ? (int)sent : ktls_bio_code(r, true);
}

/* recv's answer to mbed TLS: a count, 0 at EOF, or a code. */
static int tls_bio_recv_answer(keel_result r, size_t received)
{
    if (r == KEEL_OK) {
        return (int)received;
    }
    return r == KEEL_ERR_CLOSED ? 0 : ktls_bio_code(r, false);
}

int keel_tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    keel_buf b;
    if (ctx == NULL || tls_bio_buf(buf, len, &b) != KEEL_OK) {
        return MBEDTLS_ERR_NET_INVALID_CONTEXT;
    }
    if (len == 0) {
        return 0; /* as recv(2) of 0 bytes, which mbed TLS's own callback makes */
    }
    size_t n = 0;
    keel_result r = keel_net_recv(ctx, &b, &n); /* before n is read */
    return tls_bio_recv_answer(r, n);
}

int keel_tls_bio_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t timeout_ms)
{
    keel_buf b;
    if (ctx == NULL || tls_bio_buf(buf, len, &b) != KEEL_OK) {
        return MBEDTLS_ERR_NET_INVALID_CONTEXT;
    }
    if (len == 0) {
        return 0;
    }
    size_t n = 0;
    /* mbed TLS's 0 means "no timeout"; keel's means "do not wait". */
    uint32_t wait = timeout_ms == 0 ? KEEL_FOREVER : timeout_ms;
    keel_result r = keel_net_recv_timeout(ctx, &b, wait, &n); /* before n is read */
    return tls_bio_recv_answer(r, n);
}

/* ---- the session's own callbacks (deadline-aware) ---------------------------- */

static void tls_set_deadline(keel_tls *t, uint32_t timeout_ms)
{
    t->deadline = timeout_ms == KEEL_FOREVER ? UINT64_MAX : ksys_now_ms() + timeout_ms;
}

/* What is left of the deadline, as a keel timeout (0 once it passed). */
static uint32_t tls_time_left(const keel_tls *t)
{
    if (t->deadline == UINT64_MAX) {
        return KEEL_FOREVER;
    }
    uint64_t now = ksys_now_ms();
    if (now >= t->deadline) {
        return 0;
    }
    uint64_t left = t->deadline - now;
    return left >= KEEL_FOREVER ? KEEL_FOREVER - 1u : (uint32_t)left;
}

static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    keel_tls *t = ctx;
    keel_slice data;
    if (keel_slice_from(buf, tls_min(len, (size_t)INT_MAX), &data) != KEEL_OK) {
        return MBEDTLS_ERR_NET_INVALID_CONTEXT;
    }
    size_t sent = 0;
    keel_result r = keel_net_send_all(t->net, data, tls_time_left(t), &sent);
    if (sent > 0 || r == KEEL_OK) {
        return (int)sent; /* a short count: mbed TLS calls again for the rest */
    }
    t->st.transport = r;
    return ktls_bio_code(r, true);
}

static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len, uint32_t ignored)
{
    (void)ignored; /* the deadline is the call's, not mbed TLS's read timeout */
    keel_tls *t = ctx;
    keel_buf b;
    if (tls_bio_buf(buf, len, &b) != KEEL_OK) {
        return MBEDTLS_ERR_NET_INVALID_CONTEXT;
    }
    size_t n = 0;
    keel_result r = keel_net_recv_timeout(t->net, &b, tls_time_left(t), &n);
    if (r != KEEL_OK && r != KEEL_ERR_CLOSED) {
        t->st.transport = r;
    }
    return tls_bio_recv_answer(r, n);
}

/* ---- lifetime ------------------------------------------------------------------ */

keel_result keel_tls_init(keel_tls **out)
{
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_tls *t = ksys_alloc_zeroed(sizeof *t);
    if (t == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    *out = t;
    return KEEL_OK;
}

void keel_tls_close(keel_tls *tls)
{
    if (tls == NULL) {
        return;
    }
    if (tls->session) {
        mbedtls_ssl_free(&tls->ssl);
    }
    *tls = (keel_tls){ 0 };
}

void keel_tls_free(keel_tls *tls)
{
    keel_tls_close(tls);
    ksys_release(tls);
}

/* ---- results ---------------------------------------------------------------------- */

/* Record mbed TLS's failure code and turn it into tls's result. Fatal
 * results (all but TIMEOUT and WOULD_BLOCK) become sticky. */
static KEEL_MUST_USE keel_result tls_failed(keel_tls *t, int code, bool handshaking)
{
    keel_result r = ktls_status_failed(&t->st, &t->ssl, code, handshaking);
    if (handshaking || (r != KEEL_ERR_TIMEOUT && r != KEEL_ERR_WOULD_BLOCK)) {
        t->err = r;
    }
    return r;
}

/* ---- handshakes -------------------------------------------------------------------- */

/* Run an mbed TLS step until it is done or fails. WANT_READ/WANT_WRITE
 * come only if the transport said WOULD_BLOCK, which the waiting callbacks
 * never do; retried within the deadline rather than trusted. */
static int tls_step_until_done(keel_tls *t, int (*step)(mbedtls_ssl_context *ssl))
{
    int ret;
    do {
        ret = step(&t->ssl);
    } while ((ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) &&
             tls_time_left(t) > 0);
    return ret;
}

static KEEL_MUST_USE keel_result tls_handshake(keel_tls *t, const keel_tls_config *cfg,
                                               keel_net *net, keel_slice name,
                                               uint32_t timeout_ms, keel_tls_role role)
{
    if (t == NULL || cfg == NULL || net == NULL || !keel_slice_valid(name) || cfg->role != role) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (t->session || !keel_net_is_open(net)) {
        return KEEL_ERR_STATE;
    }
    if (keel_net_proto(net) != KEEL_PROTO_TCP) {
        return KEEL_ERR_INVALID_ARG;
    }
    int mbed = 0;
    keel_result r = ktls_session_setup(&t->ssl, cfg, name, &mbed);
    if (r != KEEL_OK) {
        t->st.mbed_err = mbed;
        return r;
    }
    t->session = true;
    t->net = net;
    mbedtls_ssl_set_bio(&t->ssl, t, tls_bio_send, NULL, tls_bio_recv);
    tls_set_deadline(t, timeout_ms);
    int ret = tls_step_until_done(t, mbedtls_ssl_handshake);
    if (ret != 0) {
        ktls_alert_after(&t->ssl, ret);
        return tls_failed(t, ret, true);
    }
    t->open = true;
    return KEEL_OK;
}

keel_result keel_tls_connect(keel_tls *tls, const keel_tls_config *cfg, keel_net *net,
                             keel_slice server_name, uint32_t timeout_ms)
{
    return tls_handshake(tls, cfg, net, server_name, timeout_ms, KEEL_TLS_CLIENT);
}

keel_result keel_tls_accept(keel_tls *tls, const keel_tls_config *cfg, keel_net *net,
                            uint32_t timeout_ms)
{
    return tls_handshake(tls, cfg, net, keel_slice_empty(), timeout_ms, KEEL_TLS_SERVER);
}

/* ---- data ----------------------------------------------------------------------------- */

/* STATE without a finished handshake; a fatal failure is sticky. */
static KEEL_MUST_USE keel_result tls_usable(const keel_tls *t)
{
    if (t->err != KEEL_OK) {
        return t->err;
    }
    return t->open ? KEEL_OK : KEEL_ERR_STATE;
}

keel_result keel_tls_send(keel_tls *tls, keel_slice data, uint32_t timeout_ms, size_t *sent)
{
    size_t done = 0;
    keel_result r = tls == NULL || !keel_slice_valid(data) ? KEEL_ERR_INVALID_ARG : KEEL_OK;
    if (r == KEEL_OK) {
        r = tls_usable(tls);
    }
    if (r == KEEL_OK && tls->notified) {
        r = KEEL_ERR_STATE;
    }
    if (r == KEEL_OK && tls->pending > data.len) {
        r = KEEL_ERR_INVALID_ARG; /* the half-sent record's bytes must come again */
    }
    if (r == KEEL_OK) {
        tls_set_deadline(tls, timeout_ms);
    }
    while (r == KEEL_OK && done < data.len) {
        /* After a half-sent record mbed TLS finishes it and reports its
         * length: it must be handed exactly that length again. */
        size_t chunk = tls->pending > 0 ? tls->pending : data.len - done;
        int ret = mbedtls_ssl_write(&tls->ssl, data.ptr + done, tls_min(chunk, (size_t)INT_MAX));
        if (ret > 0) {
            done += (size_t)ret;
            tls->pending = 0;
            continue;
        }
        if (tls->ssl.out_left != 0 && tls->pending == 0) {
            int max = mbedtls_ssl_get_max_out_record_payload(&tls->ssl);
            tls->pending = max > 0 ? tls_min(chunk, (size_t)max) : chunk;
        }
        r = tls_failed(tls, ret, false);
    }
    if (sent != NULL) {
        *sent = done;
    }
    return r;
}

keel_result keel_tls_recv(keel_tls *tls, keel_buf *into, uint32_t timeout_ms, size_t *received)
{
    if (tls == NULL || !keel_buf_valid(into)) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(tls_usable(tls));
    if (tls->read_end != KEEL_OK) {
        return tls->read_end;
    }
    size_t spare = keel_buf_spare(into);
    if (spare == 0) {
        return KEEL_ERR_TOO_LARGE;
    }
    tls_set_deadline(tls, timeout_ms);
    int ret = mbedtls_ssl_read(&tls->ssl, into->ptr + into->len, tls_min(spare, (size_t)INT_MAX));
    if (ret > 0) {
        KEEL_TRY(keel_buf_commit(into, (size_t)ret));
        if (received != NULL) {
            *received = (size_t)ret;
        }
        return KEEL_OK;
    }
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_CONN_EOF) {
        /* mbed TLS says 0 when the transport ended without close_notify. */
        tls->read_end = KEEL_ERR_TLS_TRUNCATED;
        tls->st.mbed_err = MBEDTLS_ERR_SSL_CONN_EOF;
        return tls->read_end;
    }
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        tls->read_end = KEEL_ERR_CLOSED;
        return tls->read_end;
    }
    return tls_failed(tls, ret, false);
}

keel_result keel_tls_close_notify(keel_tls *tls, uint32_t timeout_ms)
{
    if (tls == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(tls_usable(tls));
    if (tls->notified) {
        return KEEL_OK;
    }
    tls_set_deadline(tls, timeout_ms);
    int ret = tls_step_until_done(tls, mbedtls_ssl_close_notify);
    if (ret != 0) {
        return tls_failed(tls, ret, false);
    }
    tls->notified = true;
    return KEEL_OK;
}

/* ---- introspection ----------------------------------------------------------------- */

int keel_tls_last_mbedtls_error(const keel_tls *tls)
{
    return tls == NULL ? 0 : tls->st.mbed_err;
}

uint32_t keel_tls_verify_flags(const keel_tls *tls)
{
    return tls == NULL ? 0 : tls->st.verify_flags;
}

const char *keel_tls_version(const keel_tls *tls)
{
    return tls == NULL ? "" : ktls_version_name(&tls->ssl, tls->open);
}

const char *keel_tls_cipher(const keel_tls *tls)
{
    return tls == NULL ? "" : ktls_cipher_name(&tls->ssl, tls->open);
}

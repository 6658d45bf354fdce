/*
 * src/tls/tls_stream.c - TLS on the loop (keel_tls_stream_*), and TLS
 * listeners and servers (keel_tls_listener_start, keel_tls_server_start).
 *
 * A keel_tls_stream sits on a keel_stream (the "raw" stream), using only
 * loop.h's public API: the raw stream's handlers are tls_raw_handlers below
 * and its user pointer is the TLS stream. Records travel through mbed TLS's
 * transport callbacks:
 *  - in: tls_bio_recv hands mbed TLS the bytes of the raw on_read call in
 *    progress (after any held back earlier). mbed TLS keeps a partial
 *    record itself between calls, so every raw on_read consumes all it is
 *    given; the only bytes keel holds are those received while the user
 *    had paused reading (t->cin), which also pauses the raw stream.
 *  - out: tls_bio_send is keel_stream_write on the raw stream, which sends
 *    at once or queues (under the raw stream's caps and back-pressure).
 * Plaintext is decrypted into t->pt, handed to the user's on_read with the
 * unconsumed rest of earlier calls (as keel_stream does with bytes); the
 * buffer serves a whole burst of records and is released once the burst is
 * consumed: an idle TLS stream holds no keel buffer (mbed TLS's own record
 * buffers stay, about 33 KiB).
 *
 * Callbacks to the user run only from the raw stream's callbacks and from
 * timers (the handshake deadline and t->kick, a zero-delay timer that runs
 * work an API call asked for), never inside a keel_tls_stream_* call.
 * mbed TLS is never re-entered: user callbacks run between its calls.
 * The TLS stream lives until the raw stream's on_close, which calls the
 * user's on_close and frees it.
 */
#include <limits.h>

#include "core/sys.h"
#include "tls/tls_internal.h"

/* Defaults of keel_stream_opts (loop.h documents them). */
#define TLS_READ_CAP (64u * 1024u)
#define TLS_WRITE_HIGH (256u * 1024u)
/* The most plaintext one record carries. */
#define TLS_RECORD_MAX 16384u
/* How long the end of a connection waits for the peer's EOF after our
 * FIN (see tls_finish). */
#define TLS_DRAIN_MS 2000u

enum {
    TF_CONNECTING = 1u << 0,  /* the raw stream's TCP connect is in progress */
    TF_HANDSHAKING = 1u << 1, /* handshake started, not finished */
    TF_OPEN = 1u << 2,        /* handshake finished */
    TF_READING = 1u << 3,     /* the user wants plaintext (read_start/stop) */
    TF_READ_DONE = 1u << 4,   /* on_read will not be called again */
    TF_IN_READ = 1u << 5,     /* on_read is on the stack: t->pt stays put */
    TF_SHUT_REQ = 1u << 6,    /* keel_tls_stream_shutdown asked */
    TF_NOTIFIED = 1u << 7,    /* close_notify queued */
    TF_CLOSING = 1u << 8,     /* keel_tls_stream_close/abort asked */
    TF_RAW_CLOSED = 1u << 9,  /* the raw stream was closed or aborted by us */
    TF_HS_TOLD = 1u << 10,    /* on_handshake was called */
    TF_FAILED = 1u << 11,     /* t->err is set (sticky) */
    TF_FAIL_TOLD = 1u << 12,  /* the failure was reported (or needs none) */
    TF_EOF = 1u << 13,        /* the raw stream reached EOF */
    TF_DEAD = 1u << 14,       /* the raw stream is gone: on_close runs now */
    TF_IN_DRIVE = 1u << 15,   /* tls_drive is on the stack */
    TF_DRAINING = 1u << 16,   /* FIN sent: reading the peer to its EOF, discarding */
    TF_DRAIN_CLEAN = 1u << 17 /* the drain ended with nothing of ours left queued */
};

struct keel_tls_stream {
    mbedtls_ssl_context ssl;
    keel_stream *raw; /* NULL once its on_close ran */
    keel_loop *loop;
    const keel_tls_config *cfg;
    const keel_tls_stream_handlers *h;
    const keel_stream_opts *opts; /* the raw stream's: caps for plaintext too */
    void *user;
    /* ciphertext for mbed TLS: held back (cin[cin_pos, cin_len)) first,
     * then the current raw on_read's bytes (view[view_pos, len)) */
    uint8_t *cin;
    size_t cin_pos;
    size_t cin_len;
    keel_slice view;
    size_t view_pos;
    /* plaintext not yet consumed: pt[pt_off, pt_len) of pt_cap */
    uint8_t *pt;
    size_t pt_off;
    size_t pt_len;
    size_t pt_cap;
    /* plaintext written before the handshake finished */
    uint8_t *early;
    size_t early_len;
    size_t early_cap;
    keel_timer_id hs_timer;
    keel_timer_id kick;
    keel_timer_id drain_timer;
    keel_result err; /* sticky failure */
    ktls_status st;
    uint32_t flags;
};

static const keel_stream_handlers tls_raw_handlers;

/* ---- small helpers ------------------------------------------------------------ */

static bool tls_any(const keel_tls_stream *t, uint32_t f)
{
    return (t->flags & f) != 0;
}

static void tls_set(keel_tls_stream *t, uint32_t f)
{
    t->flags |= f;
}

static void tls_clear(keel_tls_stream *t, uint32_t f)
{
    t->flags &= ~f;
}

static size_t tls_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t tls_read_cap(const keel_tls_stream *t)
{
    return t->opts != NULL && t->opts->read_cap != 0 ? t->opts->read_cap : TLS_READ_CAP;
}

/* write_cap as keel_stream computes it from the same opts. */
static size_t tls_write_cap(const keel_stream_opts *o)
{
    if (o != NULL && o->write_cap != 0) {
        return o->write_cap;
    }
    size_t high = o != NULL && o->write_high != 0 ? o->write_high : TLS_WRITE_HIGH;
    return high > SIZE_MAX / 4u ? SIZE_MAX : high * 4u;
}

static void tls_cancel_timer(keel_tls_stream *t, keel_timer_id *id)
{
    if (id->v != 0) {
        if (keel_timer_cancel(t->loop, *id) != KEEL_OK) {
            /* already fired */
        }
        id->v = 0;
    }
}

/* Grow a buffer (p, cap) to hold at least need bytes (geometrically, at
 * most limit), keeping its first keep bytes. */
static KEEL_MUST_USE keel_result tls_grow(uint8_t **p, size_t *cap, size_t keep, size_t need,
                                          size_t limit)
{
    if (need <= *cap) {
        return KEEL_OK;
    }
    size_t want = *cap > limit / 2u ? limit : *cap * 2u;
    if (want < need) {
        want = need;
    }
    uint8_t *q = ksys_alloc_zeroed(want);
    if (q == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_buf b;
    keel_result r = keel_buf_init(&b, q, want);
    if (r == KEEL_OK && keep > 0) {
        r = keel_buf_append(&b, (keel_slice){ *p, keep });
    }
    if (r != KEEL_OK) {
        ksys_release(q);
        return r;
    }
    ksys_release(*p);
    *p = q;
    *cap = want;
    return KEEL_OK;
}

static void tls_drop_plaintext(keel_tls_stream *t)
{
    if (!tls_any(t, TF_IN_READ)) {
        ksys_release(t->pt);
        t->pt = NULL;
        t->pt_off = t->pt_len = t->pt_cap = 0;
    }
}

static keel_slice tls_plaintext(const keel_tls_stream *t)
{
    keel_slice v = { NULL, 0 };
    if (t->pt != NULL) {
        v.ptr = t->pt + t->pt_off;
        v.len = t->pt_len - t->pt_off;
    }
    return v;
}

static void tls_kick_fired(keel_loop *loop, keel_timer_id id, void *user);

/* Run tls_kick_fired soon (from the loop, not inside the caller). */
static KEEL_MUST_USE keel_result tls_kick(keel_tls_stream *t)
{
    if (t->kick.v != 0 || tls_any(t, TF_DEAD)) {
        return KEEL_OK;
    }
    return keel_timer_start(t->loop, 0, 0, tls_kick_fired, t, &t->kick);
}

/* ---- mbed TLS's transport callbacks ----------------------------------------------- */

static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    keel_tls_stream *t = ctx;
    keel_slice data;
    size_t n = tls_min(len, (size_t)INT_MAX);
    keel_result r = keel_slice_from(buf, n, &data);
    if (r == KEEL_OK) {
        r = t->raw != NULL ? keel_stream_write(t->raw, data) : KEEL_ERR_STATE;
    }
    if (r != KEEL_OK) {
        t->st.transport = r;
        return ktls_bio_code(r == KEEL_ERR_WOULD_BLOCK ? KEEL_ERR_OS : r, true);
    }
    return (int)n;
}

static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    keel_tls_stream *t = ctx;
    keel_slice src = { NULL, 0 };
    bool held = t->cin_pos < t->cin_len;
    if (held) {
        src = (keel_slice){ t->cin + t->cin_pos, t->cin_len - t->cin_pos };
    } else if (t->view_pos < t->view.len) {
        src = (keel_slice){ t->view.ptr + t->view_pos, t->view.len - t->view_pos };
    } else {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    size_t n = tls_min(tls_min(len, src.len), (size_t)INT_MAX);
    keel_buf b;
    keel_slice part;
    if (keel_buf_init(&b, buf, n) != KEEL_OK || keel_slice_sub(src, 0, n, &part) != KEEL_OK ||
        keel_buf_append(&b, part) != KEEL_OK) {
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    }
    if (held) {
        t->cin_pos += n;
        if (t->cin_pos == t->cin_len) {
            ksys_release(t->cin);
            t->cin = NULL;
            t->cin_pos = t->cin_len = 0;
        }
    } else {
        t->view_pos += n;
    }
    return (int)n;
}

static bool tls_cipher_left(const keel_tls_stream *t)
{
    return t->cin_pos < t->cin_len || t->view_pos < t->view.len;
}

/* ---- failure ------------------------------------------------------------------------- */

static void tls_drain_timer_fired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    keel_tls_stream *t = user;
    t->drain_timer.v = 0;
    if (t->raw != NULL) {
        keel_stream_close(t->raw); /* the peer did not end in time */
    }
}

/* End the raw stream so that what we queued last (close_notify, an alert,
 * the last records) reaches the peer: a FIN after the queue, then the
 * peer's bytes read and dropped until its EOF (bounded by TLS_DRAIN_MS),
 * and only then the close. Closing at once would make the kernel answer
 * the peer's bytes still in flight with a reset, which can destroy our
 * last records at the peer before it reads them. After the peer's EOF
 * there is nothing in flight: the close (which flushes) is enough. */
static void tls_finish(keel_tls_stream *t)
{
    if (t->raw == NULL || tls_any(t, TF_RAW_CLOSED)) {
        return;
    }
    tls_set(t, TF_RAW_CLOSED);
    if (tls_any(t, TF_EOF) || keel_stream_shutdown(t->raw) != KEEL_OK ||
        keel_timer_start(t->loop, TLS_DRAIN_MS, 0, tls_drain_timer_fired, t, &t->drain_timer) !=
            KEEL_OK) {
        keel_stream_close(t->raw);
        return;
    }
    tls_set(t, TF_DRAINING);
    keel_stream_read_start(t->raw);
}


/* Record a failure (the first one sticks). */
static void tls_set_failure(keel_tls_stream *t, keel_result r)
{
    if (!tls_any(t, TF_FAILED)) {
        t->err = r;
        tls_set(t, TF_FAILED);
    }
}

/* The stream failed with r (from the loop): tell the user once - by
 * on_handshake before the handshake finished, by the last on_read after -
 * then close the raw stream; on_close(r) follows from it. */
static void tls_fail(keel_tls_stream *t, keel_result r)
{
    if (tls_any(t, TF_DEAD | TF_FAIL_TOLD)) {
        return;
    }
    tls_set_failure(t, r);
    tls_set(t, TF_FAIL_TOLD);
    r = t->err;
    if (!tls_any(t, TF_OPEN)) {
        if (!tls_any(t, TF_HS_TOLD | TF_CLOSING)) {
            tls_set(t, TF_HS_TOLD);
            if (t->h->on_handshake != NULL) {
                t->h->on_handshake(t, r, t->user);
            }
        }
    } else if (!tls_any(t, TF_READ_DONE)) {
        tls_set(t, TF_READ_DONE | TF_IN_READ);
        (void)t->h->on_read(t, r, tls_plaintext(t), t->user);
        tls_clear(t, TF_IN_READ);
    }
    tls_drop_plaintext(t);
    tls_finish(t);
}

/* A failure met inside an API call: sticky now, reported from the loop. */
static void tls_fail_later(keel_tls_stream *t, keel_result r)
{
    tls_set_failure(t, r);
    if (tls_kick(t) != KEEL_OK && t->raw != NULL) {
        /* No timer: end it without the report; on_close still says why. */
        tls_set(t, TF_FAIL_TOLD | TF_RAW_CLOSED);
        keel_stream_abort(t->raw);
    }
}

/* mbed TLS's failure code, recorded. */
static keel_result tls_mbed_failure(keel_tls_stream *t, int code, bool handshaking)
{
    return ktls_status_failed(&t->st, &t->ssl, code, handshaking);
}

/* ---- writing ------------------------------------------------------------------------- */

/* Encrypt all of data into records on the raw stream. */
static KEEL_MUST_USE keel_result tls_encrypt(keel_tls_stream *t, keel_slice data)
{
    size_t done = 0;
    while (done < data.len) {
        int ret = mbedtls_ssl_write(&t->ssl, data.ptr + done,
                                    tls_min(data.len - done, (size_t)INT_MAX));
        if (ret <= 0) {
            return tls_mbed_failure(t, ret, false);
        }
        done += (size_t)ret;
    }
    return KEEL_OK;
}

static KEEL_MUST_USE keel_result tls_send_close_notify(keel_tls_stream *t)
{
    if (tls_any(t, TF_NOTIFIED)) {
        return KEEL_OK;
    }
    tls_set(t, TF_NOTIFIED);
    int ret = mbedtls_ssl_close_notify(&t->ssl);
    return ret == 0 ? KEEL_OK : tls_mbed_failure(t, ret, false);
}

/* What the records of n plaintext bytes take on the wire (SIZE_MAX if it
 * cannot be told or overflows). */
static size_t tls_wire_size(const keel_tls_stream *t, size_t n)
{
    int expansion = mbedtls_ssl_get_record_expansion(&t->ssl);
    int max = mbedtls_ssl_get_max_out_record_payload(&t->ssl);
    if (expansion < 0 || max <= 0) {
        return SIZE_MAX;
    }
    size_t records = n / (size_t)max + (n % (size_t)max != 0 ? 1u : 0u);
    if (records > (SIZE_MAX - n) / (size_t)expansion) {
        return SIZE_MAX;
    }
    return n + records * (size_t)expansion;
}

/* ---- reading ------------------------------------------------------------------------- */

/* Hand the unconsumed plaintext to on_read; false when the stream failed. */
static bool tls_deliver(keel_tls_stream *t)
{
    keel_slice data = tls_plaintext(t);
    tls_set(t, TF_IN_READ);
    size_t used = t->h->on_read(t, KEEL_OK, data, t->user);
    tls_clear(t, TF_IN_READ);
    if (tls_any(t, TF_READ_DONE | TF_DEAD)) {
        tls_drop_plaintext(t);
        return true;
    }
    if (used >= data.len) {
        /* All consumed: the buffer serves the next record of this burst;
         * tls_read_records releases it when the burst is over. */
        t->pt_off = t->pt_len = 0;
        return true;
    }
    if (used == 0 && data.len >= tls_read_cap(t)) {
        tls_fail(t, KEEL_ERR_TOO_LARGE);
        return false;
    }
    t->pt_off += used;
    return true;
}

/* The peer is done sending (r CLOSED or TLS_TRUNCATED): the last on_read. */
static void tls_read_end(keel_tls_stream *t, keel_result r)
{
    tls_set(t, TF_READ_DONE | TF_IN_READ);
    (void)t->h->on_read(t, r, tls_plaintext(t), t->user);
    tls_clear(t, TF_IN_READ);
    tls_drop_plaintext(t);
}

/* Room for one more record's plaintext after what is held. */
static KEEL_MUST_USE keel_result tls_plaintext_room(keel_tls_stream *t, size_t *room)
{
    size_t cap = tls_read_cap(t);
    size_t held = t->pt_len - t->pt_off;
    size_t want = held < cap ? tls_min(cap - held, TLS_RECORD_MAX) : 0;
    if (want == 0) {
        return KEEL_ERR_TOO_LARGE; /* not reached: a full buffer failed on delivery */
    }
    if (t->pt_cap - t->pt_len < want && t->pt_off > 0) {
        /* Move the held bytes to the front (only when short of room, so
         * consuming a little at a time costs no copy per call). */
        keel_buf b;
        KEEL_TRY(keel_buf_init(&b, t->pt, t->pt_cap));
        KEEL_TRY(keel_buf_commit(&b, t->pt_len));
        KEEL_TRY(keel_buf_consume(&b, t->pt_off));
        t->pt_off = 0;
        t->pt_len = held;
    }
    KEEL_TRY(tls_grow(&t->pt, &t->pt_cap, t->pt_len, t->pt_len + want, cap));
    *room = want;
    return KEEL_OK;
}

/* Decrypt and deliver records while the user reads. */
static void tls_read_records(keel_tls_stream *t)
{
    while ((t->flags & (TF_OPEN | TF_READING)) == (TF_OPEN | TF_READING) &&
           !tls_any(t, TF_READ_DONE | TF_FAILED | TF_CLOSING | TF_DEAD)) {
        size_t room = 0;
        keel_result r = tls_plaintext_room(t, &room);
        if (r != KEEL_OK) {
            tls_fail(t, r);
            return;
        }
        int ret = mbedtls_ssl_read(&t->ssl, t->pt + t->pt_len, tls_min(room, (size_t)INT_MAX));
        if (ret > 0) {
            t->pt_len += (size_t)ret;
            if (!tls_deliver(t)) {
                return;
            }
            continue;
        }
        if (t->pt_len == t->pt_off) {
            tls_drop_plaintext(t);
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
            if (tls_any(t, TF_EOF) && !tls_cipher_left(t)) {
                /* The transport ended without close_notify. */
                t->st.mbed_err = MBEDTLS_ERR_SSL_CONN_EOF;
                tls_read_end(t, KEEL_ERR_TLS_TRUNCATED);
            }
            return;
        }
        if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            tls_read_end(t, KEEL_ERR_CLOSED);
            return;
        }
        if (ret == 0) {
            /* mbed TLS's EOF, which tls_bio_recv never reports: as above. */
            tls_read_end(t, KEEL_ERR_TLS_TRUNCATED);
            return;
        }
        tls_fail(t, tls_mbed_failure(t, ret, false));
        return;
    }
}

/* ---- the handshake ------------------------------------------------------------------------ */

static void tls_hs_timer_fired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    keel_tls_stream *t = user;
    t->hs_timer.v = 0;
    if (!tls_any(t, TF_OPEN | TF_DEAD)) {
        tls_fail(t, KEEL_ERR_TIMEOUT);
    }
}

static KEEL_MUST_USE keel_result tls_handshake_begin(keel_tls_stream *t)
{
    tls_set(t, TF_HANDSHAKING);
    return keel_timer_start(t->loop, ktls_handshake_ms(t->cfg), 0, tls_hs_timer_fired, t,
                            &t->hs_timer);
}

/* The handshake finished: send what waited for it, then tell the user. */
static void tls_handshake_done(keel_tls_stream *t)
{
    tls_clear(t, TF_HANDSHAKING);
    tls_set(t, TF_OPEN);
    tls_cancel_timer(t, &t->hs_timer);
    keel_result r = KEEL_OK;
    if (t->early_len > 0) {
        r = tls_encrypt(t, (keel_slice){ t->early, t->early_len });
    }
    ksys_release(t->early);
    t->early = NULL;
    t->early_len = t->early_cap = 0;
    if (r == KEEL_OK && tls_any(t, TF_SHUT_REQ | TF_CLOSING)) {
        r = tls_send_close_notify(t);
        if (r == KEEL_OK && !tls_any(t, TF_CLOSING)) {
            r = keel_stream_shutdown(t->raw);
        }
    }
    if (r != KEEL_OK) {
        tls_fail(t, r);
        return;
    }
    if (tls_any(t, TF_CLOSING)) {
        tls_finish(t);
        return;
    }
    if (!tls_any(t, TF_READING)) {
        keel_stream_read_stop(t->raw);
    }
    tls_set(t, TF_HS_TOLD);
    if (t->h->on_handshake != NULL) {
        t->h->on_handshake(t, KEEL_OK, t->user);
    }
}

/* Move the handshake and then the reading as far as the bytes allow. */
static void tls_drive(keel_tls_stream *t)
{
    if (tls_any(t, TF_DEAD | TF_FAILED | TF_IN_DRIVE | TF_CONNECTING)) {
        return;
    }
    tls_set(t, TF_IN_DRIVE);
    if (tls_any(t, TF_HANDSHAKING)) {
        int ret = mbedtls_ssl_handshake(&t->ssl);
        if (ret == 0) {
            tls_handshake_done(t);
        } else if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
            if (tls_any(t, TF_EOF) && !tls_cipher_left(t)) {
                tls_fail(t, KEEL_ERR_CLOSED); /* the peer left mid-handshake */
            }
        } else {
            ktls_alert_after(&t->ssl, ret);
            tls_fail(t, tls_mbed_failure(t, ret, true));
        }
    }
    if (tls_any(t, TF_OPEN)) {
        tls_read_records(t);
    }
    tls_clear(t, TF_IN_DRIVE);
}

static void tls_kick_fired(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    keel_tls_stream *t = user;
    t->kick.v = 0;
    if (tls_any(t, TF_FAILED)) {
        tls_fail(t, t->err); /* reports it unless that is done */
        return;
    }
    tls_drive(t);
}

/* ---- the raw stream's handlers ---------------------------------------------------------------- */

/* Keep view[view_pos, len) for later (reading is paused), after what is
 * already held. */
static KEEL_MUST_USE keel_result tls_hold_cipher(keel_tls_stream *t)
{
    keel_slice rest = { t->view.ptr + t->view_pos, t->view.len - t->view_pos };
    keel_slice held = keel_slice_empty();
    if (t->cin != NULL) {
        held = (keel_slice){ t->cin + t->cin_pos, t->cin_len - t->cin_pos };
    }
    /* Reading the raw stream stops with the first bytes held: at most its
     * unconsumed bytes of one call come on top of what was held. */
    if (held.len > 2u * tls_read_cap(t)) {
        return KEEL_ERR_TOO_LARGE;
    }
    size_t n = held.len + rest.len;
    uint8_t *p = ksys_alloc_zeroed(n);
    if (p == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_buf b;
    keel_result r = keel_buf_init(&b, p, n);
    if (r == KEEL_OK) {
        r = keel_buf_append(&b, held);
    }
    if (r == KEEL_OK) {
        r = keel_buf_append(&b, rest);
    }
    if (r != KEEL_OK) {
        ksys_release(p);
        return r;
    }
    ksys_release(t->cin);
    t->cin = p;
    t->cin_pos = 0;
    t->cin_len = n;
    t->view_pos = t->view.len;
    return KEEL_OK;
}

static size_t tls_raw_on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    keel_tls_stream *t = user;
    if (t == NULL) {
        return data.len; /* a connection given up before it was wrapped */
    }
    if (tls_any(t, TF_DRAINING)) {
        if (r == KEEL_ERR_CLOSED) {
            keel_stream_close(s); /* the peer is done too */
        } else if (r != KEEL_OK && keel_stream_queued(s) == 0) {
            tls_set(t, TF_DRAIN_CLEAN); /* everything of ours went out first */
        }
        return data.len;
    }
    if (r == KEEL_OK) {
        t->view = data;
        t->view_pos = 0;
        tls_drive(t);
        bool keep = t->view_pos < data.len &&
                    !tls_any(t, TF_DEAD | TF_FAILED | TF_CLOSING | TF_READ_DONE);
        if (keep) {
            /* Reading is paused (or the handshake waits for a reader):
             * hold the rest and stop the raw stream until read_start. */
            keel_result kr = tls_hold_cipher(t);
            if (kr != KEEL_OK) {
                tls_fail(t, kr);
            } else if (t->raw != NULL) {
                keel_stream_read_stop(t->raw);
            }
        }
        t->view = keel_slice_empty();
        t->view_pos = 0;
        return data.len;
    }
    if (r == KEEL_ERR_CLOSED) {
        tls_set(t, TF_EOF);
        tls_drive(t);
        return 0;
    }
    tls_fail(t, r); /* RESET, TIMEOUT, TOO_LARGE...: on_close follows */
    return 0;
}

static void tls_raw_on_writable(keel_stream *s, keel_result r, bool can_write, void *user)
{
    (void)s;
    keel_tls_stream *t = user;
    if (t != NULL && !tls_any(t, TF_CLOSING | TF_DEAD | TF_FAILED) && t->h->on_writable != NULL) {
        t->h->on_writable(t, r, can_write, t->user);
    }
}

static void tls_raw_on_connect(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    keel_tls_stream *t = user;
    if (t == NULL || tls_any(t, TF_DEAD)) {
        return;
    }
    tls_clear(t, TF_CONNECTING);
    if (r == KEEL_OK) {
        r = tls_handshake_begin(t);
    }
    if (r != KEEL_OK) {
        tls_fail(t, r);
        return;
    }
    tls_drive(t); /* the ClientHello */
}

static void tls_raw_on_close(keel_stream *s, keel_result r, void *user)
{
    (void)s;
    keel_tls_stream *t = user;
    if (t == NULL) {
        return;
    }
    tls_set(t, TF_DEAD);
    t->raw = NULL;
    tls_cancel_timer(t, &t->hs_timer);
    tls_cancel_timer(t, &t->kick);
    tls_cancel_timer(t, &t->drain_timer);
    keel_result why = r;
    if (tls_any(t, TF_FAILED)) {
        why = t->err;
    } else if (tls_any(t, TF_DRAIN_CLEAN)) {
        why = KEEL_OK; /* the peer reset after it had all of ours */
    }
    if (t->h->on_close != NULL) {
        t->h->on_close(t, why, t->user);
    }
    mbedtls_ssl_free(&t->ssl);
    ksys_release(t->cin);
    ksys_release(t->pt);
    ksys_release(t->early);
    ksys_release(t);
}

static const keel_stream_handlers tls_raw_handlers = {
    .on_read = tls_raw_on_read,
    .on_writable = tls_raw_on_writable,
    .on_connect = tls_raw_on_connect,
    .on_close = tls_raw_on_close,
};

/* ---- creation ----------------------------------------------------------------------------- */

static bool tls_opts_ok(const keel_stream_opts *o)
{
    size_t high = o != NULL && o->write_high != 0 ? o->write_high : TLS_WRITE_HIGH;
    size_t low = o != NULL && o->write_low != 0 ? o->write_low : high / 4u;
    return low <= high && high <= tls_write_cap(o);
}

/* A TLS stream, not yet on a raw stream: mbed TLS set up for cfg. */
static KEEL_MUST_USE keel_result tls_new(keel_loop *loop, const keel_tls_config *cfg,
                                         keel_slice server_name,
                                         const keel_tls_stream_handlers *h,
                                         const keel_stream_opts *opts, void *user,
                                         keel_tls_stream **out)
{
    if (loop == NULL || cfg == NULL || h == NULL || h->on_read == NULL || !tls_opts_ok(opts)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_tls_stream *t = ksys_alloc_zeroed(sizeof *t);
    if (t == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    int mbed = 0;
    keel_result r = ktls_session_setup(&t->ssl, cfg, server_name, &mbed);
    if (r != KEEL_OK) {
        ksys_release(t);
        return r;
    }
    mbedtls_ssl_set_bio(&t->ssl, t, tls_bio_send, tls_bio_recv, NULL);
    t->loop = loop;
    t->cfg = cfg;
    t->h = h;
    t->opts = opts;
    t->user = user;
    t->flags = TF_READING;
    *out = t;
    return KEEL_OK;
}

static void tls_discard(keel_tls_stream *t)
{
    tls_cancel_timer(t, &t->hs_timer);
    tls_cancel_timer(t, &t->kick);
    tls_cancel_timer(t, &t->drain_timer);
    mbedtls_ssl_free(&t->ssl);
    ksys_release(t);
}

/* Arm the handshake of a stream whose connection is up: its deadline, and
 * its first step from the loop. */
static KEEL_MUST_USE keel_result tls_arm(keel_tls_stream *t)
{
    keel_result r = tls_handshake_begin(t);
    if (r == KEEL_OK) {
        r = tls_kick(t);
    }
    if (r != KEEL_OK) {
        tls_cancel_timer(t, &t->hs_timer);
    }
    return r;
}

keel_result keel_tls_stream_connect(keel_loop *loop, const keel_tls_config *cfg, keel_slice host,
                                    uint16_t port, keel_slice server_name, uint32_t timeout_ms,
                                    const keel_tls_stream_handlers *handlers,
                                    const keel_stream_opts *opts, void *user,
                                    keel_tls_stream **out)
{
    if (out == NULL || cfg == NULL || cfg->role != KEEL_TLS_CLIENT || !keel_slice_valid(host) ||
        !keel_slice_valid(server_name)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_tls_stream *t = NULL;
    KEEL_TRY(tls_new(loop, cfg, server_name.len > 0 ? server_name : host, handlers, opts, user,
                     &t));
    tls_set(t, TF_CONNECTING);
    keel_stream *raw = NULL;
    keel_result r = keel_stream_connect(loop, host, port, timeout_ms, &tls_raw_handlers, opts, t,
                                        &raw);
    if (r != KEEL_OK) {
        tls_discard(t);
        return r;
    }
    t->raw = raw;
    *out = t;
    return KEEL_OK;
}

keel_result keel_tls_stream_adopt(keel_loop *loop, const keel_tls_config *cfg, keel_net *sock,
                                  keel_slice server_name, const keel_tls_stream_handlers *handlers,
                                  const keel_stream_opts *opts, void *user, keel_tls_stream **out)
{
    if (out == NULL || sock == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_tls_stream *t = NULL;
    KEEL_TRY(tls_new(loop, cfg, server_name, handlers, opts, user, &t));
    /* Armed first (nothing fires before this returns), so that a failure
     * leaves sock untouched. */
    keel_result r = tls_arm(t);
    keel_stream *raw = NULL;
    if (r == KEEL_OK) {
        r = keel_stream_adopt(loop, sock, &tls_raw_handlers, opts, t, &raw);
    }
    if (r != KEEL_OK) {
        tls_discard(t);
        return r;
    }
    t->raw = raw;
    *out = t;
    return KEEL_OK;
}

/* ---- API -------------------------------------------------------------------------------------- */

keel_result keel_tls_stream_write(keel_tls_stream *t, keel_slice data)
{
    if (t == NULL || !keel_slice_valid(data)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (tls_any(t, TF_FAILED)) {
        return t->err;
    }
    if (tls_any(t, TF_DEAD | TF_CLOSING | TF_SHUT_REQ) || t->raw == NULL) {
        return KEEL_ERR_STATE;
    }
    if (data.len == 0) {
        return KEEL_OK;
    }
    size_t cap = tls_write_cap(t->opts);
    size_t queued = keel_stream_queued(t->raw);
    if (!tls_any(t, TF_OPEN)) {
        /* Counted as plaintext: the records will be a little larger, and
         * the raw stream checks its cap again when they are written. */
        queued += t->early_len;
        if (queued > cap || data.len > cap - queued) {
            return KEEL_ERR_TOO_LARGE;
        }
        KEEL_TRY(tls_grow(&t->early, &t->early_cap, t->early_len, t->early_len + data.len, cap));
        keel_buf b;
        KEEL_TRY(keel_buf_init(&b, t->early + t->early_len, t->early_cap - t->early_len));
        KEEL_TRY(keel_buf_append(&b, data));
        t->early_len += data.len;
        return KEEL_OK;
    }
    size_t wire = tls_wire_size(t, data.len);
    if (queued > cap || wire > cap - queued) {
        return KEEL_ERR_TOO_LARGE;
    }
    keel_result r = tls_encrypt(t, data);
    if (r != KEEL_OK) {
        tls_fail_later(t, r); /* records may be half out: the stream is broken */
    }
    return r;
}

bool keel_tls_stream_can_write(const keel_tls_stream *t)
{
    return t != NULL && t->raw != NULL &&
           !tls_any(t, TF_DEAD | TF_CLOSING | TF_SHUT_REQ | TF_FAILED) &&
           keel_stream_can_write(t->raw);
}

size_t keel_tls_stream_queued(const keel_tls_stream *t)
{
    if (t == NULL) {
        return 0;
    }
    return (t->raw != NULL ? keel_stream_queued(t->raw) : 0) + t->early_len;
}

void keel_tls_stream_read_stop(keel_tls_stream *t)
{
    if (t == NULL || !tls_any(t, TF_READING)) {
        return;
    }
    tls_clear(t, TF_READING);
    if (tls_any(t, TF_OPEN) && t->raw != NULL) {
        keel_stream_read_stop(t->raw);
    }
}

void keel_tls_stream_read_start(keel_tls_stream *t)
{
    if (t == NULL || tls_any(t, TF_READING)) {
        return;
    }
    tls_set(t, TF_READING);
    if (tls_any(t, TF_DEAD | TF_READ_DONE | TF_CLOSING) || t->raw == NULL) {
        return;
    }
    keel_stream_read_start(t->raw);
    /* Records held back, or decrypted and not yet delivered, or the EOF
     * that came while paused: delivered from the loop. */
    if (tls_any(t, TF_OPEN) && (tls_cipher_left(t) || tls_any(t, TF_EOF) ||
                                mbedtls_ssl_check_pending(&t->ssl) != 0)) {
        keel_result r = tls_kick(t);
        if (r != KEEL_OK) {
            tls_fail_later(t, r);
        }
    }
}

keel_result keel_tls_stream_shutdown(keel_tls_stream *t)
{
    if (t == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (tls_any(t, TF_FAILED)) {
        return t->err;
    }
    if (tls_any(t, TF_DEAD | TF_CLOSING) || t->raw == NULL) {
        return KEEL_ERR_STATE;
    }
    if (tls_any(t, TF_SHUT_REQ)) {
        return KEEL_OK;
    }
    tls_set(t, TF_SHUT_REQ);
    if (!tls_any(t, TF_OPEN)) {
        return KEEL_OK; /* after the handshake and what waits for it */
    }
    keel_result r = tls_send_close_notify(t);
    if (r == KEEL_OK) {
        r = keel_stream_shutdown(t->raw);
    }
    if (r != KEEL_OK) {
        tls_fail_later(t, r);
    }
    return r;
}

void keel_tls_stream_close(keel_tls_stream *t)
{
    if (t == NULL || tls_any(t, TF_DEAD | TF_CLOSING)) {
        return;
    }
    tls_set(t, TF_CLOSING | TF_READ_DONE);
    tls_drop_plaintext(t);
    if (!tls_any(t, TF_OPEN) && t->early_len > 0 && !tls_any(t, TF_FAILED)) {
        return; /* the handshake finishes first, then the queued plaintext */
    }
    if (!tls_any(t, TF_OPEN)) {
        /* No session yet and nothing waiting for one: nothing to deliver. */
        if (t->raw != NULL && !tls_any(t, TF_RAW_CLOSED)) {
            tls_set(t, TF_RAW_CLOSED);
            keel_stream_close(t->raw);
        }
        return;
    }
    if (!tls_any(t, TF_FAILED) && tls_send_close_notify(t) != KEEL_OK) {
        /* the raw stream failed: ending it is all that is left */
    }
    tls_finish(t);
}

void keel_tls_stream_abort(keel_tls_stream *t)
{
    if (t == NULL || tls_any(t, TF_DEAD)) {
        return;
    }
    tls_set(t, TF_CLOSING | TF_READ_DONE | TF_RAW_CLOSED);
    tls_drop_plaintext(t);
    if (t->raw != NULL) {
        keel_stream_abort(t->raw);
    }
}

void keel_tls_stream_set_user(keel_tls_stream *t, void *user)
{
    if (t != NULL) {
        t->user = user;
    }
}

void *keel_tls_stream_user(const keel_tls_stream *t)
{
    return t == NULL ? NULL : t->user;
}

keel_loop *keel_tls_stream_loop(const keel_tls_stream *t)
{
    return t == NULL ? NULL : t->loop;
}

keel_result keel_tls_stream_peer_addr(const keel_tls_stream *t, keel_addr *out)
{
    if (t == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (t->raw == NULL || tls_any(t, TF_DEAD)) {
        return KEEL_ERR_STATE;
    }
    return keel_stream_peer_addr(t->raw, out);
}

bool keel_tls_stream_handshake_done(const keel_tls_stream *t)
{
    return t != NULL && tls_any(t, TF_OPEN);
}

int keel_tls_stream_last_mbedtls_error(const keel_tls_stream *t)
{
    return t == NULL ? 0 : t->st.mbed_err;
}

uint32_t keel_tls_stream_verify_flags(const keel_tls_stream *t)
{
    return t == NULL ? 0 : t->st.verify_flags;
}

const char *keel_tls_stream_version(const keel_tls_stream *t)
{
    return t == NULL ? "" : ktls_version_name(&t->ssl, tls_any(t, TF_OPEN));
}

const char *keel_tls_stream_cipher(const keel_tls_stream *t)
{
    return t == NULL ? "" : ktls_cipher_name(&t->ssl, tls_any(t, TF_OPEN));
}

/* ---- listeners and servers --------------------------------------------------------------- */

/* The server options travel as the accept callbacks' user pointer. */
static void *tls_opts_as_user(const keel_tls_server_opts *o)
{
    union {
        const keel_tls_server_opts *c;
        void *v;
    } u = { .c = o };
    return u.v;
}

static bool tls_server_opts_ok(const keel_tls_server_opts *o)
{
    return o != NULL && o->config != NULL && o->config->role == KEEL_TLS_SERVER &&
           o->handlers != NULL && o->handlers->on_read != NULL && tls_opts_ok(o->stream_opts);
}

/* A raw stream just accepted: make it a TLS stream, or give it up. */
static void tls_wrap_accepted(keel_stream *s, const keel_tls_server_opts *o)
{
    keel_tls_stream *t = NULL;
    keel_result r = tls_new(keel_stream_loop(s), o->config, keel_slice_empty(), o->handlers,
                            o->stream_opts, o->user, &t);
    if (r == KEEL_OK) {
        r = tls_arm(t);
        if (r != KEEL_OK) {
            tls_discard(t);
        }
    }
    if (r == KEEL_OK) {
        t->raw = s;
        keel_stream_set_user(s, t);
    }
    if (r != KEEL_OK) {
        keel_stream_set_user(s, NULL);
        keel_stream_abort(s);
        t = NULL;
    }
    if (o->on_accept != NULL) {
        o->on_accept(t, r, o->user);
    }
}

static void tls_listener_accepted(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    const keel_tls_server_opts *o = user;
    if (r != KEEL_OK) {
        if (o->on_accept != NULL) {
            o->on_accept(NULL, r, o->user);
        }
        return;
    }
    tls_wrap_accepted(s, o);
}

keel_result keel_tls_listener_start(keel_loop *loop, keel_net *sock,
                                    const keel_tls_server_opts *tls, keel_listener **out)
{
    if (!tls_server_opts_ok(tls)) {
        return KEEL_ERR_INVALID_ARG;
    }
    return keel_listener_start(loop, sock, &tls_raw_handlers, tls->stream_opts,
                               tls_listener_accepted, tls_opts_as_user(tls), out);
}

static void tls_server_accepted(keel_stream *s, void *user)
{
    tls_wrap_accepted(s, user);
}

static void tls_server_shutdown(keel_loop *loop, void *user)
{
    const keel_tls_server_opts *o = user;
    o->on_shutdown(loop, o->user);
}

keel_result keel_tls_server_start(const keel_server_opts *base, const keel_tls_server_opts *tls,
                                  keel_server **out)
{
    if (base == NULL || !tls_server_opts_ok(tls) || base->handlers != NULL ||
        base->stream_opts != NULL || base->on_accept != NULL || base->on_shutdown != NULL ||
        base->user != NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_server_opts o = *base;
    o.handlers = &tls_raw_handlers;
    o.stream_opts = tls->stream_opts;
    o.on_accept = tls_server_accepted;
    o.on_shutdown = tls->on_shutdown != NULL ? tls_server_shutdown : NULL;
    o.user = tls_opts_as_user(tls);
    return keel_server_start(&o, out);
}

/*
 * fuzz/tls/fuzz_tls_recv.c - the TLS loop adapter's receive path
 * (src/tls/tls_stream.c over src/loop/stream.c and mbed TLS), over real
 * loopback connections on one keel_loop.
 *
 * Drives: keel_tls_listener_start's server streams as they receive -
 * tls_raw_on_read, tls_bio_recv, tls_drive, tls_read_records,
 * tls_deliver, tls_hold_cipher, keel_tls_stream_read_stop/_start, the
 * failure and end paths - and keel_tls_stream_connect / _write / _close on
 * the sending side.
 *
 * Input: [mode][k][k schedule bytes][u16 flip offset][payload, at most
 * 60,000 bytes]. The schedule bytes (cycled) choose the sizes of the
 * writes and how many bytes the server's on_read consumes each time,
 * and when it pauses reading (resumed from a timer, so records arrive and
 * wait meanwhile). mode % 3:
 *  0 raw:     the payload goes to the TLS server as raw bytes (a hostile
 *             ClientHello, records...) in the chosen chunks, then EOF.
 *             Properties: no plaintext is delivered without a finished
 *             handshake; the server stream ends with one on_close whose
 *             result is the one on_handshake or the last on_read gave.
 *  1 session: a keel TLS client handshakes and sends the payload as
 *             plaintext, then close_notify. Properties: the server
 *             delivers exactly the payload - every byte once, in order,
 *             across every split and pause - then CLOSED, and both ends
 *             close with KEEL_OK.
 *  2 flipped: the same through a proxy on the loop that flips one byte of
 *             the client's records at the chosen offset after the
 *             handshake. Properties: the server delivers a prefix of the
 *             payload, never a changed byte, and ends with TLS_PROTOCOL or
 *             TLS_TRUNCATED (a length made longer waits for bytes that never
 *             come) - or, when the offset lies past what was sent, exactly
 *             as in mode 1.
 *
 * The key and certificate are derived once per process from a fixed seed
 * (an EC P-256 key made by mbed TLS from a deterministic generator, and a
 * self-signed certificate for "localhost" valid 2000-2099): no key is kept
 * in the repository or read from the disk. Both configurations' random
 * generators are seeded with constants too (ktls_config_fixed_rng), so the
 * handshakes are the same from run to run except for the time mbed TLS
 * writes into the ServerHello. mbed TLS itself is Debian's build, not
 * instrumented: the coverage that guides the fuzzer is keel's.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "fuzz_check.h"
#include "keel/loop.h"
#include "keel/tls.h"
#include "tls/tls_internal.h"

#define PAYLOAD_MAX 60000u
/* Loop iterations one input may take (each waits at most 10 ms). */
#define ITERATIONS_MAX 20000u

static keel_loop *g_loop;
static keel_tls_config *g_server_cfg;
static keel_tls_config *g_client_cfg;
static uint16_t g_tls_port;
static uint16_t g_proxy_port;

/* ---- the fixed key and certificate ------------------------------------------- */

static int fixed_entropy(void *p, unsigned char *out, size_t len)
{
    (void)p;
    for (size_t i = 0; i < len; i++) {
        out[i] = (unsigned char)(0x5au ^ (i * 7u));
    }
    return 0;
}

/* PEM of a P-256 key and a self-signed certificate for "localhost". */
static void make_identity(unsigned char *key_pem, size_t key_cap, unsigned char *crt_pem,
                          size_t crt_cap)
{
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context key;
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&key);
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);
    static const unsigned char personal[] = "keel fuzz_tls_recv identity";
    FUZZ_CHECK(mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, NULL, personal, sizeof personal - 1) ==
               0);
    FUZZ_CHECK(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) == 0);
    FUZZ_CHECK(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
                                   mbedtls_ctr_drbg_random, &drbg) == 0);
    FUZZ_CHECK(mbedtls_mpi_lset(&serial, 1) == 0);
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &key);
    mbedtls_x509write_crt_set_issuer_key(&crt, &key);
    FUZZ_CHECK(mbedtls_x509write_crt_set_subject_name(&crt, "CN=localhost") == 0);
    FUZZ_CHECK(mbedtls_x509write_crt_set_issuer_name(&crt, "CN=localhost") == 0);
    FUZZ_CHECK(mbedtls_x509write_crt_set_serial(&crt, &serial) == 0);
    FUZZ_CHECK(mbedtls_x509write_crt_set_validity(&crt, "20000101000000", "20991231235959") == 0);
    FUZZ_CHECK(mbedtls_x509write_crt_pem(&crt, crt_pem, crt_cap, mbedtls_ctr_drbg_random,
                                         &drbg) == 0);
    FUZZ_CHECK(mbedtls_pk_write_key_pem(&key, key_pem, key_cap) == 0);
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
}

/* ---- the server side: what it saw, how it reads ------------------------------- */

typedef struct server_view {
    keel_tls_stream *t;
    const uint8_t *schedule;
    size_t k;
    size_t step;
    int accepted;
    int handshakes;
    keel_result hs_r;
    uint8_t *got; /* delivered plaintext, in order */
    size_t got_len;
    int reads;
    int ends;
    keel_result end_r;
    int closes;
    keel_result close_r;
    bool paused;
    keel_timer_id resume;
} server_view;

static server_view g_sv;

static uint8_t schedule_next(server_view *v)
{
    return v->schedule[v->step++ % v->k];
}

static void sv_keep(server_view *v, keel_slice data, size_t n)
{
    FUZZ_CHECK(n <= data.len && v->got_len + n <= PAYLOAD_MAX);
    for (size_t i = 0; i < n; i++) {
        v->got[v->got_len + i] = data.ptr[i];
    }
    v->got_len += n;
}

static void sv_resume(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    server_view *v = user;
    v->resume.v = 0;
    v->paused = false;
    if (v->t != NULL) {
        keel_tls_stream_read_start(v->t);
    }
}

static size_t sv_on_read(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    server_view *v = user;
    FUZZ_CHECK(v->handshakes == 1 && v->hs_r == KEEL_OK); /* plaintext only after it */
    FUZZ_CHECK(v->ends == 0);
    FUZZ_CHECK(r != KEEL_OK || !v->paused); /* (a failure is told even while paused) */
    if (r != KEEL_OK) {
        v->ends++;
        v->end_r = r;
        sv_keep(v, data, data.len); /* the last call holds what is left */
        if (r == KEEL_ERR_CLOSED || r == KEEL_ERR_TLS_TRUNCATED) {
            keel_tls_stream_close(t);
        }
        return 0;
    }
    FUZZ_CHECK(data.len > 0);
    v->reads++;
    uint8_t s = schedule_next(v);
    size_t n = (s & 0x7fu) == 0x7fu ? data.len : (size_t)(s & 0x7fu) * 13u;
    if (n > data.len) {
        n = data.len;
    }
    if (data.len >= 60000u && n == 0) {
        n = 1; /* stay under read_cap: TOO_LARGE is not what this explores */
    }
    sv_keep(v, data, n);
    if ((s & 0x80u) != 0u) {
        keel_tls_stream_read_stop(t);
        v->paused = true;
        FUZZ_CHECK(keel_timer_start(g_loop, (s >> 4) & 7u, 0, sv_resume, v, &v->resume) ==
                   KEEL_OK);
    }
    return n;
}

static void sv_on_handshake(keel_tls_stream *t, keel_result r, void *user)
{
    (void)t;
    server_view *v = user;
    FUZZ_CHECK(v->handshakes == 0);
    v->handshakes++;
    v->hs_r = r;
}

static void sv_on_close(keel_tls_stream *t, keel_result r, void *user)
{
    (void)t;
    server_view *v = user;
    FUZZ_CHECK(v->closes == 0);
    v->closes++;
    v->close_r = r;
    v->t = NULL;
    if (v->resume.v != 0) {
        FUZZ_CHECK(keel_timer_cancel(g_loop, v->resume) == KEEL_OK);
        v->resume.v = 0;
    }
}

static const keel_tls_stream_handlers sv_handlers = {
    .on_read = sv_on_read, .on_handshake = sv_on_handshake, .on_close = sv_on_close
};

static void sv_on_accept(keel_tls_stream *t, keel_result r, void *user)
{
    (void)user;
    FUZZ_CHECK(r == KEEL_OK && g_sv.accepted == 0);
    g_sv.accepted++;
    g_sv.t = t;
    keel_tls_stream_set_user(t, &g_sv);
}

static keel_tls_server_opts g_server_opts = { .handlers = &sv_handlers,
                                              .on_accept = sv_on_accept };

/* ---- the client (modes 1 and 2) ---------------------------------------------- */

typedef struct client_view {
    keel_tls_stream *t;
    keel_slice payload;
    size_t sent;
    const uint8_t *schedule;
    size_t k;
    size_t step;
    int handshakes;
    keel_result hs_r;
    bool closed;
    keel_result close_r;
    bool ended; /* close asked */
} client_view;

static client_view g_cv;

/* Send the payload in scheduled chunks as long as the stream takes it. */
static void cv_pump(client_view *c)
{
    while (c->t != NULL && c->sent < c->payload.len && keel_tls_stream_can_write(c->t)) {
        size_t n = 1u + (size_t)c->schedule[c->step++ % c->k] * 61u;
        if (n > c->payload.len - c->sent) {
            n = c->payload.len - c->sent;
        }
        keel_slice chunk;
        FUZZ_CHECK(keel_slice_sub(c->payload, c->sent, n, &chunk) == KEEL_OK);
        keel_result r = keel_tls_stream_write(c->t, chunk);
        if (r != KEEL_OK) {
            return; /* a failed stream (mode 2: the server gave up) */
        }
        c->sent += n;
    }
    if (c->t != NULL && c->sent == c->payload.len && !c->ended) {
        c->ended = true;
        keel_tls_stream_close(c->t);
    }
}

static size_t cv_on_read(keel_tls_stream *t, keel_result r, keel_slice data, void *user)
{
    (void)t;
    (void)r;
    (void)user;
    return data.len; /* the server sends nothing but its close_notify */
}

static void cv_on_writable(keel_tls_stream *t, keel_result r, bool can_write, void *user)
{
    (void)t;
    (void)r;
    if (can_write) {
        cv_pump(user);
    }
}

static void cv_on_handshake(keel_tls_stream *t, keel_result r, void *user)
{
    (void)t;
    client_view *c = user;
    c->handshakes++;
    c->hs_r = r;
}

static void cv_on_close(keel_tls_stream *t, keel_result r, void *user)
{
    (void)t;
    client_view *c = user;
    c->closed = true;
    c->close_r = r;
    c->t = NULL;
}

static const keel_tls_stream_handlers cv_handlers = { .on_read = cv_on_read,
                                                      .on_writable = cv_on_writable,
                                                      .on_handshake = cv_on_handshake,
                                                      .on_close = cv_on_close };

/* ---- the proxy (mode 2): forwards both ways, flips one byte ------------------ */

typedef struct proxy {
    keel_stream *front; /* from the client */
    keel_stream *back;  /* to the server */
    size_t forwarded;   /* client -> server bytes so far */
    size_t flip_at;     /* SIZE_MAX: not armed yet */
    bool flipped;
    bool front_eof, back_eof;
    int closes;
} proxy;

static void px_close_both(proxy *p)
{
    if (p->front != NULL) {
        keel_stream_close(p->front);
    }
    if (p->back != NULL) {
        keel_stream_close(p->back);
    }
}

static proxy g_px;

static size_t px_on_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    proxy *p = user;
    keel_stream *other = s == p->front ? p->back : p->front;
    if (r != KEEL_OK) {
        if (r == KEEL_ERR_CLOSED) {
            bool *mine = s == p->front ? &p->front_eof : &p->back_eof;
            bool theirs = s == p->front ? p->back_eof : p->front_eof;
            *mine = true;
            if (!theirs && other != NULL && keel_stream_shutdown(other) == KEEL_OK) {
                return 0; /* half-close passes through */
            }
        }
        px_close_both(p);
        return 0;
    }
    if (other == NULL) {
        return data.len;
    }
    static uint8_t copy[65536];
    FUZZ_CHECK(data.len <= sizeof copy);
    memcpy(copy, data.ptr, data.len);
    if (s == p->front && !p->flipped && p->flip_at >= p->forwarded &&
        p->flip_at - p->forwarded < data.len) {
        copy[p->flip_at - p->forwarded] ^= 0x20u;
        p->flipped = true;
    }
    if (s == p->front) {
        p->forwarded += data.len;
    }
    keel_slice out;
    FUZZ_CHECK(keel_slice_from(copy, data.len, &out) == KEEL_OK);
    if (keel_stream_write(other, out) != KEEL_OK) {
        keel_stream_abort(other);
        keel_stream_abort(s);
    }
    return data.len;
}

static void px_on_close(keel_stream *s, keel_result r, void *user)
{
    (void)r;
    proxy *p = user;
    if (s == p->front) {
        p->front = NULL;
        if (p->back != NULL) {
            keel_stream_close(p->back);
        }
    } else {
        p->back = NULL;
        if (p->front != NULL) {
            keel_stream_close(p->front);
        }
    }
    p->closes++;
}

static const keel_stream_handlers px_handlers = { .on_read = px_on_read, .on_close = px_on_close };

static void px_on_accept(keel_listener *l, keel_result r, keel_stream *s, void *user)
{
    (void)l;
    proxy *p = user;
    FUZZ_CHECK(r == KEEL_OK && p->front == NULL);
    p->front = s;
    keel_stream_set_user(s, p);
    FUZZ_CHECK(keel_stream_connect(g_loop, KEEL_STR("127.0.0.1"), g_tls_port, 10000, &px_handlers,
                                   NULL, p, &p->back) == KEEL_OK);
}

/* ---- set-up ---------------------------------------------------------------------- */

static uint16_t listen_port(keel_net **sock)
{
    keel_addr a;
    FUZZ_CHECK(keel_net_init(sock) == KEEL_OK);
    FUZZ_CHECK(keel_net_bind(*sock, KEEL_STR("127.0.0.1"), 0, KEEL_PROTO_TCP) == KEEL_OK);
    FUZZ_CHECK(keel_net_local_addr(*sock, &a) == KEEL_OK);
    return a.port;
}

static void setup_once(void)
{
    static unsigned char key_pem[1024], crt_pem[2048];
    make_identity(key_pem, sizeof key_pem, crt_pem, sizeof crt_pem);
    keel_tls_config_opts so = { .role = KEEL_TLS_SERVER,
                                .cert_pem = keel_slice_cstr((const char *)crt_pem),
                                .key_pem = keel_slice_cstr((const char *)key_pem),
                                .handshake_timeout_ms = 5000 };
    keel_tls_config_opts co = { .role = KEEL_TLS_CLIENT,
                                .ca_pem = keel_slice_cstr((const char *)crt_pem),
                                .handshake_timeout_ms = 5000 };
    FUZZ_CHECK(keel_tls_config_new(&so, &g_server_cfg, NULL) == KEEL_OK);
    FUZZ_CHECK(keel_tls_config_new(&co, &g_client_cfg, NULL) == KEEL_OK);
    FUZZ_CHECK(ktls_config_fixed_rng(g_server_cfg, KEEL_STR("keel fuzz server")) == KEEL_OK);
    FUZZ_CHECK(ktls_config_fixed_rng(g_client_cfg, KEEL_STR("keel fuzz client")) == KEEL_OK);
    FUZZ_CHECK(keel_loop_new(&g_loop) == KEEL_OK);
    keel_net *sock = NULL;
    keel_listener *l = NULL;
    g_tls_port = listen_port(&sock);
    g_server_opts.config = g_server_cfg;
    FUZZ_CHECK(keel_tls_listener_start(g_loop, sock, &g_server_opts, &l) == KEEL_OK);
    g_proxy_port = listen_port(&sock);
    FUZZ_CHECK(keel_listener_start(g_loop, sock, &px_handlers, NULL, px_on_accept, &g_px, &l) ==
               KEEL_OK);
}

/* Run the loop until done() or the iteration bound (a hang is a finding). */
static void run_until(bool (*done)(void))
{
    for (unsigned i = 0; !done(); i++) {
        FUZZ_CHECK(i < ITERATIONS_MAX);
        FUZZ_CHECK(keel_loop_run_once(g_loop, 10) == KEEL_OK);
    }
}

/* ---- mode 0: raw bytes ------------------------------------------------------------ */

static bool raw_done(void)
{
    return g_sv.closes == 1;
}

static void raw_input(keel_slice payload, const uint8_t *schedule, size_t k)
{
    keel_net *c = NULL;
    FUZZ_CHECK(keel_net_init(&c) == KEEL_OK);
    FUZZ_CHECK(keel_net_connect(c, KEEL_STR("127.0.0.1"), g_tls_port, KEEL_PROTO_TCP, 10000) ==
               KEEL_OK);
    FUZZ_CHECK(keel_net_set_nodelay(c, true) == KEEL_OK);
    FUZZ_CHECK(keel_net_set_nonblocking(c, true) == KEEL_OK);
    size_t sent = 0;
    bool shut = false;
    uint8_t sink[4096];
    for (size_t step = 0; g_sv.closes == 0; step++) {
        FUZZ_CHECK(step < ITERATIONS_MAX);
        if (sent == payload.len && !shut) {
            FUZZ_CHECK(keel_net_shutdown(c, KEEL_SHUT_WR) == KEEL_OK); /* the end of our bytes */
            shut = true;
        }
        if (sent < payload.len) {
            size_t n = 1u + (size_t)schedule[step % k] * 37u;
            if (n > payload.len - sent) {
                n = payload.len - sent;
            }
            keel_slice chunk;
            size_t took = 0;
            FUZZ_CHECK(keel_slice_sub(payload, sent, n, &chunk) == KEEL_OK);
            keel_result r = keel_net_send(c, chunk, &took);
            if (r != KEEL_OK) {
                break; /* the server gave up on us (reset): nothing more to send */
            }
            sent += took;
        }
        /* Whatever the server answers (its first flight, an alert). */
        keel_buf b;
        FUZZ_CHECK(keel_buf_init(&b, sink, sizeof sink) == KEEL_OK);
        if (keel_net_recv(c, &b, NULL) == KEEL_ERR_CLOSED && sent < payload.len) {
            break;
        }
        FUZZ_CHECK(keel_loop_run_once(g_loop, sent < payload.len ? 0 : 10) == KEEL_OK);
    }
    keel_net_free(c);
    run_until(raw_done);
    FUZZ_CHECK(g_sv.accepted == 1);
    /* One report of how it ended, and on_close agrees with it. */
    if (g_sv.handshakes == 1 && g_sv.hs_r != KEEL_OK) {
        FUZZ_CHECK(g_sv.reads == 0 && g_sv.ends == 0);
        FUZZ_CHECK(g_sv.close_r == g_sv.hs_r);
        FUZZ_CHECK(g_sv.hs_r == KEEL_ERR_TLS_HANDSHAKE || g_sv.hs_r == KEEL_ERR_TLS_ALERT ||
                   g_sv.hs_r == KEEL_ERR_CLOSED || g_sv.hs_r == KEEL_ERR_RESET ||
                   g_sv.hs_r == KEEL_ERR_TIMEOUT || g_sv.hs_r == KEEL_ERR_TLS_VERIFY);
    }
}

/* ---- modes 1 and 2: a session ------------------------------------------------------- */

static bool session_done(void)
{
    return g_sv.closes == 1 && g_cv.closed && g_px.front == NULL && g_px.back == NULL;
}

static void session_input(keel_slice payload, const uint8_t *schedule, size_t k,
                          size_t flip_offset, bool flip)
{
    g_cv = (client_view){ .payload = payload, .schedule = schedule, .k = k };
    g_px.flip_at = SIZE_MAX;
    uint16_t port = flip ? g_proxy_port : g_tls_port;
    FUZZ_CHECK(keel_tls_stream_connect(g_loop, g_client_cfg, KEEL_STR("127.0.0.1"), port,
                                       KEEL_STR("localhost"), 10000, &cv_handlers, NULL, &g_cv,
                                       &g_cv.t) == KEEL_OK);
    for (unsigned i = 0; g_cv.handshakes == 0; i++) {
        FUZZ_CHECK(i < ITERATIONS_MAX);
        FUZZ_CHECK(keel_loop_run_once(g_loop, 10) == KEEL_OK);
    }
    FUZZ_CHECK(g_cv.hs_r == KEEL_OK);
    /* Every handshake byte of the client has gone through the proxy. */
    g_px.flip_at = g_px.forwarded + flip_offset;
    cv_pump(&g_cv);
    run_until(session_done);

    /* Never a changed byte: what was delivered is a prefix of the payload. */
    FUZZ_CHECK(g_sv.got_len <= payload.len);
    FUZZ_CHECK(g_sv.got_len == 0 || memcmp(g_sv.got, payload.ptr, g_sv.got_len) == 0);
    if (!flip || !g_px.flipped) {
        FUZZ_CHECK(g_sv.hs_r == KEEL_OK);
        FUZZ_CHECK(g_sv.got_len == payload.len);
        FUZZ_CHECK(g_sv.ends == 1 && g_sv.end_r == KEEL_ERR_CLOSED);
        FUZZ_CHECK(g_sv.close_r == KEEL_OK);
        FUZZ_CHECK(g_cv.close_r == KEEL_OK);
        FUZZ_CHECK(g_cv.sent == payload.len);
    } else {
        FUZZ_CHECK(g_sv.ends == 1);
        FUZZ_CHECK(g_sv.end_r == KEEL_ERR_TLS_PROTOCOL || g_sv.end_r == KEEL_ERR_TLS_TRUNCATED);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_loop == NULL) {
        setup_once();
        g_sv.got = malloc(PAYLOAD_MAX);
        FUZZ_CHECK(g_sv.got != NULL);
    }
    if (size < 5) {
        return 0;
    }
    unsigned mode = data[0] % 3u;
    size_t k = 1u + data[1] % 32u;
    if (k > size - 4u) {
        k = size - 4u;
    }
    const uint8_t *schedule = data + 2;
    size_t flip_offset = ((size_t)data[2 + k] << 8) | data[3 + k];
    size_t off = 4u + k;
    keel_slice payload = { data + off, size - off };
    if (payload.len > PAYLOAD_MAX) {
        payload.len = PAYLOAD_MAX;
    }
    uint8_t *got = g_sv.got;
    g_sv = (server_view){ .got = got, .schedule = schedule, .k = k };
    g_px = (proxy){ 0 };
    if (mode == 0) {
        raw_input(payload, schedule, k);
    } else {
        session_input(payload, schedule, k, flip_offset, mode == 2);
    }
    /* Nothing of this input is left on the loop but the two listeners. */
    FUZZ_CHECK(g_sv.t == NULL && g_cv.t == NULL && g_px.front == NULL && g_px.back == NULL);
    return 0;
}

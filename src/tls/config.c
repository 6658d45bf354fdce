/*
 * src/tls/config.c - TLS configurations (keel_tls_config_*): loading CAs,
 * certificate chains and keys, seeding the random generator, keel's fixed
 * settings; and the one mapping between mbed TLS's error codes and
 * keel_result (ktls_result / ktls_bio_code), with its diagnostics.
 *
 * mbed TLS reads the files itself (fopen/fread inside mbed TLS, not
 * keel's syscall seam) and its entropy collector reads the kernel
 * (getrandom(2), or /dev/urandom): SECURITY.md says so.
 */
#include <limits.h>

#include <mbedtls/error.h>
#include <mbedtls/ssl_ciphersuites.h>

#include "core/sys.h"
#include "tls/tls_internal.h"

/* Room for a path and its NUL. */
#define CONFIG_PATH_MAX 4096u

/* The only cipher suites offered or accepted: forward secrecy (ECDHE) and
 * AEAD (GCM, ChaCha20-Poly1305), for ECDSA and RSA certificates, strongest
 * first within each. mbed TLS keeps the pointer: static storage. */
static const int config_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    0,
};

/* Key exchange groups, preferred first. */
static const mbedtls_ecp_group_id config_curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

/* Hashes for handshake signatures: SHA-2 only. */
static const int config_sig_hashes[] = {
    MBEDTLS_MD_SHA512,
    MBEDTLS_MD_SHA384,
    MBEDTLS_MD_SHA256,
    MBEDTLS_MD_NONE,
};

/* ---- results ------------------------------------------------------------ */

/* mbed TLS codes are -(high | low): a module's high-level part (0x1000 ..
 * 0x7F80) and a low-level cause (0x0001 .. 0x007F), either possibly 0. */
static bool config_code_has(int code, int part)
{
    int magnitude = -code;
    int want = -part;
    return want >= 0x80 ? (magnitude & 0xFF80) == want : (magnitude & 0x7F) == want;
}

static bool config_code_is_alloc(int code)
{
    static const int alloc_codes[] = {
        MBEDTLS_ERR_SSL_ALLOC_FAILED, MBEDTLS_ERR_X509_ALLOC_FAILED, MBEDTLS_ERR_PK_ALLOC_FAILED,
        MBEDTLS_ERR_ECP_ALLOC_FAILED, MBEDTLS_ERR_CIPHER_ALLOC_FAILED, MBEDTLS_ERR_MD_ALLOC_FAILED,
        MBEDTLS_ERR_MPI_ALLOC_FAILED, MBEDTLS_ERR_ASN1_ALLOC_FAILED,
    };
    for (size_t i = 0; i < sizeof alloc_codes / sizeof alloc_codes[0]; i++) {
        if (config_code_has(code, alloc_codes[i])) {
            return true;
        }
    }
    return false;
}

keel_result ktls_result(int code, bool handshaking, keel_result transport)
{
    switch (code) {
    case 0:
        return KEEL_OK; /* not reached: callers pass failures */
    case MBEDTLS_ERR_SSL_WANT_READ:
    case MBEDTLS_ERR_SSL_WANT_WRITE:
        return KEEL_ERR_WOULD_BLOCK;
    case MBEDTLS_ERR_SSL_TIMEOUT:
        return transport != KEEL_OK ? transport : KEEL_ERR_TIMEOUT;
    case MBEDTLS_ERR_NET_CONN_RESET:
        return transport != KEEL_OK ? transport : KEEL_ERR_RESET;
    case MBEDTLS_ERR_NET_SEND_FAILED:
    case MBEDTLS_ERR_NET_RECV_FAILED:
    case MBEDTLS_ERR_NET_INVALID_CONTEXT:
        return transport != KEEL_OK ? transport : KEEL_ERR_OS;
    case MBEDTLS_ERR_SSL_CONN_EOF:
        return handshaking ? KEEL_ERR_CLOSED : KEEL_ERR_TLS_TRUNCATED;
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
        return KEEL_ERR_CLOSED;
    case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
    case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED:
    case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
        return KEEL_ERR_TLS_VERIFY;
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
        return KEEL_ERR_TLS_ALERT;
    default:
        break;
    }
    if (config_code_is_alloc(code)) {
        return KEEL_ERR_NO_MEMORY;
    }
    /* Everything else is the peer's bytes or choices failing mbed TLS's
     * checks: BAD_HS_*, NO_CIPHER_CHOSEN, INVALID_MAC, INVALID_RECORD,
     * UNEXPECTED_MESSAGE, DECODE_ERROR, BAD_INPUT_DATA... */
    return handshaking ? KEEL_ERR_TLS_HANDSHAKE : KEEL_ERR_TLS_PROTOCOL;
}

int ktls_bio_code(keel_result r, bool sending)
{
    switch (r) {
    case KEEL_ERR_WOULD_BLOCK:
        return sending ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_SSL_WANT_READ;
    case KEEL_ERR_TIMEOUT:
        return MBEDTLS_ERR_SSL_TIMEOUT;
    case KEEL_ERR_RESET:
        return MBEDTLS_ERR_NET_CONN_RESET;
    case KEEL_ERR_INVALID_ARG:
    case KEEL_ERR_STATE:
        return MBEDTLS_ERR_NET_INVALID_CONTEXT;
    default:
        return sending ? MBEDTLS_ERR_NET_SEND_FAILED : MBEDTLS_ERR_NET_RECV_FAILED;
    }
}

/* A failure while loading or applying the configuration. */
static keel_result config_failure(int code, int *mbed)
{
    *mbed = code;
    return config_code_is_alloc(code) ? KEEL_ERR_NO_MEMORY : KEEL_ERR_TLS_CONFIG;
}

/* ---- loading ------------------------------------------------------------ */

/* path as a C string in out: INVALID_ARG if it holds a NUL or does not fit. */
static KEEL_MUST_USE keel_result config_c_path(keel_slice path, char *out, size_t cap)
{
    size_t at = 0;
    if (path.len >= cap || keel_slice_find_byte(path, 0, &at) == KEEL_OK) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_buf b;
    KEEL_TRY(keel_buf_init(&b, out, cap));
    KEEL_TRY(keel_buf_append(&b, path));
    return keel_buf_append_byte(&b, 0);
}

/* A NUL-terminated copy of bytes in *copy (ksys_release it), and the length
 * to hand mbed TLS in *len: with the NUL for PEM (which mbed TLS
 * recognises by it), without for DER. */
static KEEL_MUST_USE keel_result config_bytes_copy(keel_slice bytes, uint8_t **copy, size_t *len)
{
    if (bytes.len == SIZE_MAX) {
        return KEEL_ERR_TOO_LARGE;
    }
    uint8_t *p = ksys_alloc_zeroed(bytes.len + 1u);
    if (p == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    keel_buf b;
    keel_result r = keel_buf_init(&b, p, bytes.len + 1u);
    if (r == KEEL_OK) {
        r = keel_buf_append(&b, bytes);
    }
    if (r != KEEL_OK) {
        ksys_release(p);
        return r;
    }
    size_t at = 0;
    bool pem = keel_slice_find(bytes, KEEL_STR("-----BEGIN "), &at) == KEEL_OK;
    *copy = p; /* zeroed: the NUL is there */
    *len = pem ? bytes.len + 1u : bytes.len;
    return KEEL_OK;
}

/* Certificates from a file, a directory or bytes into chain. lenient: a
 * CA list, where entries mbed TLS cannot parse are skipped (its positive
 * return) as long as the list ends up holding one; otherwise every entry
 * must parse. */
typedef enum config_source { CONFIG_FILE, CONFIG_DIR, CONFIG_BYTES } config_source;

static KEEL_MUST_USE keel_result config_load_certs(mbedtls_x509_crt *chain, config_source kind,
                                                   keel_slice what, bool lenient, int *mbed)
{
    char path[CONFIG_PATH_MAX];
    int ret;
    if (kind == CONFIG_BYTES) {
        uint8_t *copy = NULL;
        size_t len = 0;
        KEEL_TRY(config_bytes_copy(what, &copy, &len));
        ret = mbedtls_x509_crt_parse(chain, copy, len);
        ksys_release(copy);
    } else {
        KEEL_TRY(config_c_path(what, path, sizeof path));
        ret = kind == CONFIG_DIR ? mbedtls_x509_crt_parse_path(chain, path)
                                 : mbedtls_x509_crt_parse_file(chain, path);
    }
    if (ret < 0) {
        return config_failure(ret, mbed);
    }
    if (ret > 0 && !lenient) {
        return config_failure(MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT, mbed);
    }
    return KEEL_OK;
}

static KEEL_MUST_USE keel_result config_load_key(mbedtls_pk_context *key, keel_slice file,
                                                 keel_slice bytes, int *mbed)
{
    int ret;
    if (file.len > 0) {
        char path[CONFIG_PATH_MAX];
        KEEL_TRY(config_c_path(file, path, sizeof path));
        ret = mbedtls_pk_parse_keyfile(key, path, NULL);
    } else {
        uint8_t *copy = NULL;
        size_t len = 0;
        KEEL_TRY(config_bytes_copy(bytes, &copy, &len));
        ret = mbedtls_pk_parse_key(key, copy, len, NULL, 0);
        ksys_release(copy);
    }
    return ret == 0 ? KEEL_OK : config_failure(ret, mbed);
}

static bool config_has(keel_slice a, keel_slice b)
{
    return a.len > 0 || b.len > 0;
}

static KEEL_MUST_USE keel_result config_load(keel_tls_config *cfg, const keel_tls_config_opts *o,
                                             int *mbed)
{
    if (o->ca_file.len > 0) {
        KEEL_TRY(config_load_certs(&cfg->ca, CONFIG_FILE, o->ca_file, true, mbed));
    }
    if (o->ca_dir.len > 0) {
        KEEL_TRY(config_load_certs(&cfg->ca, CONFIG_DIR, o->ca_dir, true, mbed));
    }
    if (o->ca_pem.len > 0) {
        KEEL_TRY(config_load_certs(&cfg->ca, CONFIG_BYTES, o->ca_pem, true, mbed));
    }
    bool want_ca = o->ca_file.len > 0 || config_has(o->ca_dir, o->ca_pem);
    if (want_ca && cfg->ca.raw.p == NULL) {
        /* Every entry was skipped: an empty list would trust nobody. */
        return config_failure(MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT, mbed);
    }
    if (o->cert_file.len > 0) {
        KEEL_TRY(config_load_certs(&cfg->chain, CONFIG_FILE, o->cert_file, false, mbed));
    }
    if (o->cert_pem.len > 0) {
        KEEL_TRY(config_load_certs(&cfg->chain, CONFIG_BYTES, o->cert_pem, false, mbed));
    }
    if (config_has(o->key_file, o->key_pem)) {
        KEEL_TRY(config_load_key(&cfg->key, o->key_file, o->key_pem, mbed));
        int ret = mbedtls_pk_check_pair(&cfg->chain.pk, &cfg->key);
        if (ret != 0) {
            return config_failure(ret, mbed);
        }
    }
    return KEEL_OK;
}

/* ---- settings ----------------------------------------------------------- */

static KEEL_MUST_USE keel_result config_apply(keel_tls_config *cfg, const keel_tls_config_opts *o,
                                              int *mbed)
{
    mbedtls_ssl_config *c = &cfg->conf;
    int endpoint = o->role == KEEL_TLS_SERVER ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT;
    int ret = mbedtls_ssl_config_defaults(c, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        return config_failure(ret, mbed);
    }
    mbedtls_ssl_conf_rng(c, mbedtls_ctr_drbg_random, &cfg->drbg);
    /* TLS 1.2 only: 2.28 still builds TLS 1.0 and 1.1 in, and its TLS 1.3
     * is an experimental prototype Debian does not build. */
    mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(c, config_suites);
    mbedtls_ssl_conf_curves(c, config_curves);
    mbedtls_ssl_conf_sig_hashes(c, config_sig_hashes);
    /* Chains: SHA-2 signatures, RSA of 2048 bits or more, NIST or
     * Brainpool curves. */
    mbedtls_ssl_conf_cert_profile(c, &mbedtls_x509_crt_profile_next);
    mbedtls_ssl_conf_renegotiation(c, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_legacy_renegotiation(c, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
    mbedtls_ssl_conf_session_tickets(c, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    bool has_ca = cfg->ca.raw.p != NULL;
    int authmode = MBEDTLS_SSL_VERIFY_NONE;
    if (o->role == KEEL_TLS_CLIENT ? !o->verify_none : has_ca) {
        authmode = MBEDTLS_SSL_VERIFY_REQUIRED;
    }
    mbedtls_ssl_conf_authmode(c, authmode);
    if (has_ca) {
        mbedtls_ssl_conf_ca_chain(c, &cfg->ca, NULL);
    }
    if (cfg->chain.raw.p != NULL) {
        ret = mbedtls_ssl_conf_own_cert(c, &cfg->chain, &cfg->key);
        if (ret != 0) {
            return config_failure(ret, mbed);
        }
    }
    cfg->role = o->role;
    cfg->verify = o->role == KEEL_TLS_CLIENT && !o->verify_none;
    cfg->handshake_timeout_ms =
        o->handshake_timeout_ms != 0 ? o->handshake_timeout_ms : KTLS_HANDSHAKE_MS;
    return KEEL_OK;
}

static KEEL_MUST_USE keel_result config_check(const keel_tls_config_opts *o)
{
    const keel_slice all[] = { o->ca_file, o->ca_dir, o->ca_pem, o->cert_file,
                               o->key_file, o->cert_pem, o->key_pem };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!keel_slice_valid(all[i])) {
            return KEEL_ERR_INVALID_ARG;
        }
    }
    if (o->role != KEEL_TLS_CLIENT && o->role != KEEL_TLS_SERVER) {
        return KEEL_ERR_INVALID_ARG;
    }
    bool chain = config_has(o->cert_file, o->cert_pem);
    bool key = config_has(o->key_file, o->key_pem);
    bool ca = o->ca_file.len > 0 || config_has(o->ca_dir, o->ca_pem);
    if (chain != key) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (o->role == KEEL_TLS_SERVER && (!chain || o->verify_none)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (o->role == KEEL_TLS_CLIENT && !ca && !o->verify_none) {
        return KEEL_ERR_INVALID_ARG;
    }
    return KEEL_OK;
}

/* ---- lifetime ------------------------------------------------------------- */

void keel_tls_config_free(keel_tls_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    mbedtls_ssl_config_free(&cfg->conf);
    mbedtls_x509_crt_free(&cfg->ca);
    mbedtls_x509_crt_free(&cfg->chain);
    mbedtls_pk_free(&cfg->key);
    mbedtls_ctr_drbg_free(&cfg->drbg);
    mbedtls_entropy_free(&cfg->entropy);
    ksys_release(cfg);
}

keel_result keel_tls_config_new(const keel_tls_config_opts *opts, keel_tls_config **out,
                                int *mbedtls_error)
{
    int mbed = 0;
    if (mbedtls_error != NULL) {
        *mbedtls_error = 0;
    }
    if (opts == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(config_check(opts));
    keel_tls_config *cfg = ksys_alloc_zeroed(sizeof *cfg);
    if (cfg == NULL) {
        return KEEL_ERR_NO_MEMORY;
    }
    mbedtls_ssl_config_init(&cfg->conf);
    mbedtls_x509_crt_init(&cfg->ca);
    mbedtls_x509_crt_init(&cfg->chain);
    mbedtls_pk_init(&cfg->key);
    mbedtls_entropy_init(&cfg->entropy);
    mbedtls_ctr_drbg_init(&cfg->drbg);
    static const char personal[] = "keel tls config";
    int ret = mbedtls_ctr_drbg_seed(&cfg->drbg, mbedtls_entropy_func, &cfg->entropy,
                                    (const unsigned char *)personal, sizeof personal - 1u);
    keel_result r = ret == 0 ? KEEL_OK : config_failure(ret, &mbed);
    if (r == KEEL_OK) {
        r = config_load(cfg, opts, &mbed);
    }
    if (r == KEEL_OK) {
        r = config_apply(cfg, opts, &mbed);
    }
    if (r != KEEL_OK) {
        keel_tls_config_free(cfg);
        if (mbedtls_error != NULL) {
            *mbedtls_error = mbed;
        }
        return r;
    }
    *out = cfg;
    return KEEL_OK;
}

keel_tls_role keel_tls_config_role(const keel_tls_config *cfg)
{
    return cfg == NULL ? KEEL_TLS_CLIENT : cfg->role;
}

uint32_t ktls_handshake_ms(const keel_tls_config *cfg)
{
    return cfg->handshake_timeout_ms;
}

/* The fixed "entropy": the seed, repeated. */
static int config_fixed_entropy(void *p, unsigned char *out, size_t len)
{
    const keel_tls_config *cfg = p;
    for (size_t i = 0; i < len; i++) {
        out[i] = cfg->fixed_seed[i % cfg->fixed_seed_len];
    }
    return 0;
}

keel_result ktls_config_fixed_rng(keel_tls_config *cfg, keel_slice seed)
{
    if (cfg == NULL || !keel_slice_valid(seed) || seed.len == 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_buf b;
    KEEL_TRY(keel_buf_init(&b, cfg->fixed_seed, sizeof cfg->fixed_seed));
    keel_slice kept = seed;
    if (kept.len > sizeof cfg->fixed_seed) {
        kept.len = sizeof cfg->fixed_seed;
    }
    KEEL_TRY(keel_buf_append(&b, kept));
    cfg->fixed_seed_len = kept.len;
    mbedtls_ctr_drbg_free(&cfg->drbg);
    mbedtls_ctr_drbg_init(&cfg->drbg);
    int ret = mbedtls_ctr_drbg_seed(&cfg->drbg, config_fixed_entropy, cfg, NULL, 0);
    return ret == 0 ? KEEL_OK : KEEL_ERR_TLS_CONFIG;
}

/* ---- sessions --------------------------------------------------------------- */

keel_result ktls_session_setup(mbedtls_ssl_context *ssl, const keel_tls_config *cfg,
                               keel_slice server_name, int *mbed)
{
    *mbed = 0;
    if (!keel_slice_valid(server_name)) {
        return KEEL_ERR_INVALID_ARG;
    }
    char host[KTLS_NAME_MAX + 1u];
    bool named = cfg->role == KEEL_TLS_CLIENT && server_name.len > 0;
    if (cfg->role == KEEL_TLS_CLIENT && cfg->verify && !named) {
        return KEEL_ERR_INVALID_ARG; /* verifying a chain says nothing without a name */
    }
    if (named) {
        KEEL_TRY(config_c_path(server_name, host, sizeof host));
    }
    mbedtls_ssl_init(ssl);
    int ret = mbedtls_ssl_setup(ssl, &cfg->conf);
    if (ret == 0 && named) {
        ret = mbedtls_ssl_set_hostname(ssl, host);
    }
    if (ret != 0) {
        mbedtls_ssl_free(ssl);
        *mbed = ret;
        return config_code_is_alloc(ret) ? KEEL_ERR_NO_MEMORY : KEEL_ERR_INVALID_ARG;
    }
    return KEEL_OK;
}

keel_result ktls_status_failed(ktls_status *st, const mbedtls_ssl_context *ssl, int code,
                               bool handshaking)
{
    keel_result r = ktls_result(code, handshaking, st->transport);
    st->transport = KEEL_OK;
    st->mbed_err = code;
    if (r == KEEL_ERR_TLS_VERIFY) {
        uint32_t flags = mbedtls_ssl_get_verify_result(ssl);
        st->verify_flags = flags == UINT32_MAX ? 0 : flags; /* UINT32_MAX: none yet */
    }
    return r;
}

void ktls_alert_after(mbedtls_ssl_context *ssl, int code)
{
    if (code == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE &&
        mbedtls_ssl_send_alert_message(ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE) != 0) {
        /* the transport failed too: the peer sees the connection end */
    }
}

const char *ktls_version_name(const mbedtls_ssl_context *ssl, bool open)
{
    const char *name = open ? mbedtls_ssl_get_version(ssl) : NULL;
    return name != NULL ? name : "";
}

const char *ktls_cipher_name(const mbedtls_ssl_context *ssl, bool open)
{
    const char *name = open ? mbedtls_ssl_get_ciphersuite(ssl) : NULL;
    return name != NULL ? name : "";
}

/* ---- diagnostics ---------------------------------------------------------------- */

keel_result keel_tls_error_text(int mbedtls_error, keel_buf *out)
{
    if (!keel_buf_valid(out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    char text[256];
    mbedtls_strerror(mbedtls_error, text, sizeof text);
    return keel_buf_append(out, keel_slice_cstr(text));
}

keel_result keel_tls_verify_text(uint32_t flags, keel_buf *out)
{
    if (!keel_buf_valid(out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (flags == 0) {
        return KEEL_OK;
    }
    char text[2048];
    int n = mbedtls_x509_crt_verify_info(text, sizeof text, "", flags);
    if (n < 0) {
        return KEEL_ERR_TOO_LARGE;
    }
    /* One reason a line, each ending with a newline: drop the last one. */
    keel_slice all = keel_slice_cstr(text);
    if (keel_slice_ends_with(all, KEEL_STR("\n"))) {
        all.len--;
    }
    return keel_buf_append(out, all);
}

/*
 * src/tls/tls_internal.h - what the TLS layer's modules share (internal;
 * never installed): the configuration's layout (config.c owns it), the one
 * mapping between mbed TLS's codes and keel_result in each direction, and
 * the session set-up common to the blocking (tls.c) and loop (tls_stream.c)
 * adapters.
 *
 * mbed TLS 2.28: its structs' fields are public there (3.x made them
 * private); keel reads one, mbedtls_ssl_context.out_left (tls.c), to know
 * whether a record is half-sent.
 */
#ifndef KEEL_TLS_INTERNAL_H
#define KEEL_TLS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h> /* the MBEDTLS_ERR_NET_* codes (no mbedtls_net_* call) */
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "keel/tls.h"

/* The loop adapter's handshake bound when the configuration gives none. */
#define KTLS_HANDSHAKE_MS 10000u
/* The longest server name mbed TLS accepts (MBEDTLS_SSL_MAX_HOST_NAME_LEN). */
#define KTLS_NAME_MAX 255u

struct keel_tls_config {
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    keel_tls_role role;
    uint32_t handshake_timeout_ms;
    bool verify; /* a client verifies the server (not verify_none) */
    /* ktls_config_fixed_rng's seed, which the generator reads again when
     * it reseeds (empty: the real entropy collector). */
    uint8_t fixed_seed[64];
    size_t fixed_seed_len;
};

/* mbed TLS's code -> keel_result (never KEEL_OK for code != 0).
 * handshaking: whether the failure ended a handshake (then an unspecific
 * failure is TLS_HANDSHAKE and an EOF is CLOSED) or a session (TLS_PROTOCOL,
 * TLS_TRUNCATED). transport: the keel_result a transport callback gave mbed
 * TLS as an MBEDTLS_ERR_NET_* / _SSL_TIMEOUT code (KEEL_OK if none), which
 * comes back unchanged. */
KEEL_MUST_USE keel_result ktls_result(int code, bool handshaking, keel_result transport);

/* keel_result of a transport call -> the code a transport callback returns
 * to mbed TLS (sending: which direction failed). */
int ktls_bio_code(keel_result r, bool sending);

/* Initialise ssl and set it up for one session under cfg:
 * mbedtls_ssl_setup and, for a client, the host name to verify (and send
 * as SNI). INVALID_ARG when a verifying client has no name or the name is
 * longer than KTLS_NAME_MAX or holds a NUL; NO_MEMORY. *mbed gets mbed
 * TLS's code on failure. On failure ssl is freed again (nothing to undo);
 * on success the caller owns it (mbedtls_ssl_free). */
KEEL_MUST_USE keel_result ktls_session_setup(mbedtls_ssl_context *ssl, const keel_tls_config *cfg,
                                             keel_slice server_name, int *mbed);

/* What a session keeps about its failures (both adapters embed one). */
typedef struct ktls_status {
    keel_result transport; /* the transport's result behind a failure it gave mbed TLS */
    int mbed_err;          /* mbed TLS's code behind the last failure */
    uint32_t verify_flags; /* the verification flags of a refused certificate */
} ktls_status;

/* mbed TLS's failure code of ssl, recorded in st (the transport's result
 * is used up), as a keel_result (ktls_result). */
KEEL_MUST_USE keel_result ktls_status_failed(ktls_status *st, const mbedtls_ssl_context *ssl,
                                             int code, bool handshaking);

/* After mbed TLS's handshake failed with code: send the fatal alert mbed
 * TLS 2.28 leaves out (a server that requires a client certificate and
 * gets none closes without a word: RFC 5246 7.4.6 says handshake_failure),
 * so that the peer learns why. Best effort. */
void ktls_alert_after(mbedtls_ssl_context *ssl, int code);

/* The loop adapter's handshake bound of cfg. */
uint32_t ktls_handshake_ms(const keel_tls_config *cfg);

/* Tests and fuzz harnesses only: replace cfg's random generator by a
 * CTR_DRBG seeded from seed alone, so that two runs make the same random
 * bytes (mbed TLS still writes the time into a ServerHello's random). Not
 * for production: the output is predictable. INVALID_ARG for NULL or an
 * invalid or empty seed; TLS_CONFIG when seeding fails. */
KEEL_MUST_USE keel_result ktls_config_fixed_rng(keel_tls_config *cfg, keel_slice seed);

/* The version and cipher names of a finished handshake ("" before). */
const char *ktls_version_name(const mbedtls_ssl_context *ssl, bool open);
const char *ktls_cipher_name(const mbedtls_ssl_context *ssl, bool open);

#endif /* KEEL_TLS_INTERNAL_H */

/*
 * examples/http_json_client.c - the seed's reqwest showcase in C: build
 * {"number": 5, "boolean": true} with keel's JSON writer, POST it, print
 * the response body.
 *
 *   http_json_client [--url URL] [--number N] [--boolean true|false]
 *                    [--cacert FILE]
 *
 * Defaults: --url http://127.0.0.1:8080/data, number 5, boolean true. An
 * https:// URL (a keel built with its TLS layer) verifies the server
 * against the CA certificates of --cacert (default: Debian's bundle,
 * /etc/ssl/certs/ca-certificates.crt) and the URL's host name.
 * Prints the response body on stdout (and a newline). Exit 0 for a 2xx
 * answer, 1 for another status or a failure (reason on stderr), 2 for bad
 * arguments.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "keel/http_client.h"
#include "keel/json.h"
#include "keel/version.h"
#if KEEL_HAS_TLS
#include "keel/tls.h"
#endif

/* why == NULL: --help, the usage on stdout and exit 0; else on stderr, 2. */
static int usage(const char *why)
{
    if (why != NULL) {
        fprintf(stderr, "http_json_client: %s\n", why);
    }
    fprintf(why == NULL ? stdout : stderr,
            "usage: http_json_client [--url URL] [--number N] [--boolean true|false]\n"
            "                        [--cacert FILE]\n"
            "  --url      http:// or https:// URL to POST to (default\n"
            "             http://127.0.0.1:8080/data)\n"
            "  --number   0..9223372036854775807 (default 5)\n"
            "  --boolean  true or false (default true)\n"
            "  --cacert   CA certificates (PEM) an https:// server is verified against\n"
            "             (default /etc/ssl/certs/ca-certificates.crt)\n");
    return why == NULL ? 0 : 2;
}

/* guide:body:begin */
/* {"number": N, "boolean": B}, escaped and checked by the writer. */
static keel_result build_body(keel_buf *out, int64_t number, bool boolean)
{
    keel_json_writer w;
    KEEL_TRY(keel_json_writer_init(&w, out, 0, KEEL_JSON_UTF8_REJECT));
    KEEL_TRY(keel_json_write_object_begin(&w));
    KEEL_TRY(keel_json_write_key(&w, KEEL_STR("number")));
    KEEL_TRY(keel_json_write_i64(&w, number));
    KEEL_TRY(keel_json_write_key(&w, KEEL_STR("boolean")));
    KEEL_TRY(keel_json_write_bool(&w, boolean));
    KEEL_TRY(keel_json_write_object_end(&w));
    return keel_json_writer_finish(&w);
}
/* guide:body:end */

int main(int argc, char **argv)
{
    const char *url = "http://127.0.0.1:8080/data";
    const char *cacert = "/etc/ssl/certs/ca-certificates.crt";
    uint64_t number = 5;
    bool boolean = true;
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return usage(NULL);
    }
    for (int i = 1; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (value == NULL) {
            return usage("missing value after an option");
        }
        if (strcmp(argv[i], "--url") == 0) {
            url = value;
        } else if (strcmp(argv[i], "--number") == 0) {
            if (keel_slice_parse_u64(keel_slice_cstr(value), INT64_MAX, &number) != KEEL_OK) {
                return usage("--number needs a number 0..9223372036854775807");
            }
        } else if (strcmp(argv[i], "--cacert") == 0) {
            cacert = value;
        } else if (strcmp(argv[i], "--boolean") == 0) {
            if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
                return usage("--boolean needs true or false");
            }
            boolean = strcmp(value, "true") == 0;
        } else {
            return usage("unknown argument");
        }
    }
    keel_http_url check;
    if (keel_http_url_parse(keel_slice_cstr(url), &check) != KEEL_OK) {
        return usage("--url needs an http:// or https:// URL (host, [IPv6], port, path; "
                     "no userinfo)");
    }
    if (check.https && !KEEL_HAS_TLS) {
        return usage("https:// needs a keel built with its TLS layer");
    }
    uint8_t storage[128];
    keel_buf body;
    keel_result r = keel_buf_init(&body, storage, sizeof storage);
    if (r == KEEL_OK) {
        r = build_body(&body, (int64_t)number, boolean);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "http_json_client: cannot build the body: %s\n", keel_result_str(r));
        return 1;
    }
    /* https://: a TLS transport whose client verifies the server against
     * cacert (NULL: plain http://). */
    keel_http_tls *tls = NULL;
#if KEEL_HAS_TLS
    keel_tls_config *cfg = NULL;
    if (check.https) {
        /* guide:tls:begin */
        keel_tls_config_opts to = { .role = KEEL_TLS_CLIENT, .ca_file = keel_slice_cstr(cacert) };
        r = keel_tls_config_new(&to, &cfg, NULL);
        if (r == KEEL_OK) {
            r = keel_http_tls_new(cfg, &tls);
        }
        /* guide:tls:end */
        if (r != KEEL_OK) {
            fprintf(stderr, "http_json_client: cannot use the CA certificates %s: %s\n", cacert,
                    keel_result_str(r));
            keel_tls_config_free(cfg);
            return 1;
        }
    }
#else
    (void)cacert;
#endif
    /* guide:send:begin */
    static const keel_http_field json[1] = { { { (const uint8_t *)"Content-Type", 12 },
                                                { (const uint8_t *)"application/json", 16 } } };
    keel_http_client_request req = { .method = KEEL_STR("POST"),
                                     .url = keel_slice_cstr(url),
                                     .fields = json,
                                     .field_count = 1,
                                     .body = keel_buf_slice(&body) };
    keel_http_client_opts opts = { .no_pool = true, .total_timeout_ms = 10000, .tls = tls };
    keel_http_client *client = NULL;
    keel_http_client_response resp = { 0 };
    r = keel_http_client_new(&opts, &client);
    if (r == KEEL_OK) {
        r = keel_http_client_send(client, &req, &resp);
    }
    keel_http_client_free(client);
    /* guide:send:end */
#if KEEL_HAS_TLS
    keel_http_tls_free(tls);
    keel_tls_config_free(cfg);
#endif

    if (r != KEEL_OK) {
        fprintf(stderr, "http_json_client: POST %s: %s\n", url, keel_result_str(r));
        return 1;
    }
    uint16_t status = resp.head.status;
    fwrite(resp.body.ptr, 1, resp.body.len, stdout);
    if (resp.body.len == 0 || resp.body.ptr[resp.body.len - 1] != '\n') {
        putchar('\n');
    }
    keel_http_client_response_free(&resp);
    if (status < 200 || status > 299) {
        fprintf(stderr, "http_json_client: the server answered %u\n", (unsigned)status);
        return 1;
    }
    return 0;
}

/*
 * examples/http_json_server.c - the seed's warp showcase in C: an HTTP
 * server that takes JSON.
 *
 *   http_json_server [--threads N] [--ip ADDR] [--port P] [--cert FILE --key FILE]
 *
 * With --cert and --key (a PEM certificate chain and its key) it serves
 * HTTPS instead, in a keel built with its TLS layer.
 *
 * POST /data with {"number": 5, "boolean": true} answers 200
 * "Received: Data { number: 5, boolean: true }". A body that is not valid
 * JSON, is not an object, lacks a field or has one of the wrong type gets
 * 400 and a one-line reason. Other paths: 404; other methods on /data: 405.
 * One log line per request on stdout (method, target, status, bytes, us),
 * after the "listening on ADDR:PORT" line. SIGINT/SIGTERM stop it
 * gracefully (exit 0).
 */
#include <inttypes.h>

#include "keel/json.h"

#include "example_http.h"

static const keel_http_field text_plain[1] = { { { (const uint8_t *)"Content-Type", 12 },
                                                  { (const uint8_t *)"text/plain", 10 } } };

static void answer(keel_http_reply *reply, uint16_t status, keel_slice text)
{
    if (keel_http_reply_send(reply, status, text_plain, 1, text) != KEEL_OK) {
        /* the client is gone: nothing to do */
    }
}

/* "a string", "an array"...: the type a field had instead. */
static const char *with_article(keel_json_type t)
{
    return t == KEEL_JSON_T_ARRAY || t == KEEL_JSON_T_OBJECT ? "an" : "a";
}

/* What a field of type t must hold, in a message. */
static const char *expected(keel_json_field_type t)
{
    return t == KEEL_JSON_FIELD_I64 ? "an integer" : t == KEEL_JSON_FIELD_BOOL ? "true or false"
                                                                                : "another type";
}

/* The body as Data { number, boolean }: true, or false with the reason it
 * is not in why (serde's wording: where, what was expected, what came). */
/* guide:extract:begin */
static bool parse_data(keel_slice body, int64_t *number, bool *boolean, char *why, size_t cap)
{
    const keel_json_field fields[2] = {
        { .name = KEEL_STR("number"), .type = KEEL_JSON_FIELD_I64, .required = true, .i64 = number },
        { .name = KEEL_STR("boolean"), .type = KEEL_JSON_FIELD_BOOL, .required = true, .flag = boolean },
    };
    keel_json_extract_error e;
    keel_result r = keel_json_extract(body, fields, 2, NULL, &e);
    if (r == KEEL_OK) {
        return true;
    }
    const keel_json_field *f = e.field;
    if (f == NULL && r == KEEL_ERR_TYPE) {
        snprintf(why, cap, "expected a JSON object, got %s %s", with_article(e.got),
                 keel_json_type_str(e.got));
    } else if (f == NULL) {
        keel_json_position at = { 0, 0 };
        if (keel_json_position_of(body, e.json.offset, &at) != KEEL_OK) {
            at.line = at.column = 0;
        }
        snprintf(why, cap, "invalid JSON at line %zu column %zu: %s", at.line, at.column,
                 keel_json_reason_str(e.json.reason));
    } else if (r == KEEL_ERR_NOT_FOUND) {
        snprintf(why, cap, "missing field `%.*s`", (int)f->name.len, (const char *)f->name.ptr);
    } else if (r == KEEL_ERR_TOO_LARGE) {
        snprintf(why, cap, "field `%.*s`: out of range", (int)f->name.len, (const char *)f->name.ptr);
    } else if (f->type == KEEL_JSON_FIELD_I64 && e.got == KEEL_JSON_T_NUMBER) {
        snprintf(why, cap, "field `%.*s`: expected an integer, got a fraction or an exponent",
                 (int)f->name.len, (const char *)f->name.ptr);
    } else {
        snprintf(why, cap, "field `%.*s`: expected %s, got %s %s", (int)f->name.len,
                 (const char *)f->name.ptr, expected(f->type), with_article(e.got),
                 keel_json_type_str(e.got));
    }
    return false;
}
/* guide:extract:end */

/* guide:handler:begin */
static void post_data(keel_http_reply *reply, const keel_http_request *req, keel_slice body,
                      void *user)
{
    (void)req;
    (void)user;
    int64_t number = 0;
    bool boolean = false;
    char why[128];
    char text[160];
    bool ok = parse_data(body, &number, &boolean, why, sizeof why);
    int n = !ok ? snprintf(text, sizeof text, "%s\n", why)
                : snprintf(text, sizeof text, "Received: Data { number: %" PRId64 ", boolean: %s }",
                           number, boolean ? "true" : "false");
    keel_slice out = { (const uint8_t *)text, n > 0 && (size_t)n < sizeof text ? (size_t)n : 0 };
    answer(reply, ok ? 200 : 400, out);
}
/* guide:handler:end */

static void log_request(const keel_http_access *e, void *user)
{
    (void)user;
    keel_slice m = e->method.len > 0 ? e->method : KEEL_STR("-");
    keel_slice t = e->target.len > 0 ? e->target : KEEL_STR("-");
    printf("%.*s %.*s %u %" PRIu64 " bytes %" PRIu64 " us\n", (int)m.len, (const char *)m.ptr,
           (int)t.len, (const char *)t.ptr, (unsigned)e->status, e->bytes, e->micros);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    /* guide:routes:begin */
    static const keel_http_route routes[1] = { { .method = { (const uint8_t *)"POST", 4 },
                                                 .path = { (const uint8_t *)"/data", 5 },
                                                 .handler = post_data } };
    keel_http_server_opts o = { .routes = routes,
                                .route_count = 1,
                                .max_body = 64 * 1024,
                                .access_log = log_request };
    /* guide:routes:end */
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return example_http_usage("http_json_server", NULL);
    }
    example_http_files files;
    const char *why = example_http_args(argc, argv, &o, &files);
    if (why != NULL) {
        return example_http_usage("http_json_server", why);
    }
    return example_http_run("http_json_server", &o, &files);
}

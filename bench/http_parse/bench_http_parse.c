/*
 * bench/http_parse/bench_http_parse.c - keel's HTTP/1.1 request parser
 * against picohttpparser (as Debian ships it inside libh2o-evloop0.13),
 * llhttp (Debian's node-llhttp C sources, compiled by CMake from the
 * installed package) and libhttp-parser 2.9 (libhttp-parser-dev).
 *
 * Requests (built here from fields, so the expected result is known):
 *   short    a curl-like GET: request line and 3 fields
 *   browser  a browser GET: a path with a query, 12 fields (cookies, UA...)
 *   post     a POST of a JSON body: 7 fields, Content-Length, ~200-byte body
 *   mix      the three in turn (ns per request = time / 3)
 *   trickle  GET with filler fields making 1, 4, 16 and 64 KiB of field
 *            lines, fed one byte more at a time (see below)
 *
 * Equivalent work per parser: the request line and every field line are
 * parsed into the parser's own structures (keel: its request and header
 * array of slices; picohttpparser: its phr_header array; llhttp and
 * http-parser: callbacks that record (pointer, length) spans of the method,
 * target, each field name and value, and the body, the way keel's
 * zero-copy slices point into the input), and the body framing is decided
 * (Content-Length / chunked / keep-alive: keel and llhttp/http-parser do it
 * themselves; for picohttpparser the wrapper looks at its fields, as its
 * users do). llhttp and http-parser are given the whole request, body
 * included, as their users give it (the body comes back as a span); keel
 * and picohttpparser parse the head and the body is the Content-Length
 * bytes after it. One parser per "connection" is kept across requests
 * (keel, llhttp, http-parser), as on a keep-alive connection.
 *
 * Trickle: the bytes are offered as each API intends for input that
 * arrives one byte at a time: keel gets the growing buffer again (it
 * resumes where it stopped); picohttpparser gets the growing buffer with
 * last_len (it re-parses from the start only once the end of the head is
 * there); llhttp and http-parser get only the new byte.
 *
 * Before timing, every parser's result for every request (and every
 * trickle size) is checked against the fields the request was built from:
 * method, target, version, each field name and value, the body framing,
 * the body and the bytes consumed; any mismatch aborts, so a broken setup
 * cannot produce a fast figure. A failed parse during timing exits 1.
 *
 * One process: per workload an iteration count is calibrated on keel (>=
 * --min-ms per sample), then --reps rounds, each timing keel, pico, llhttp,
 * http-parser in that order (round-robin). Output lines:
 *   result WORKLOAD PARSER BYTES_PER_OP NS_PER_OP RATIO
 * NS_PER_OP is the median over the rounds (an op is one request; for
 * trickle, one whole block fed byte by byte), RATIO the median of the
 * per-round ratios parser time / keel time (> 1: keel is faster).
 * bench/http_parse/run.sh runs several pinned processes and takes medians.
 * --loop PARSER WORKLOAD N: after the checks, N untimed passes of one
 * parser over one workload, for perf or callgrind.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "keel/http.h"

#include "peer.h"

/* picohttpparser: Debian packages no header for the copy inside
 * libh2o-evloop0.13; these are picohttpparser.h's declarations (h2o 2.2.5). */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);

#define MAX_REPS 99
#define MAX_FIELDS PEER_MAX_FIELDS /* every parser's field capacity */
#define MAX_HEADER_BYTES (1u << 18) /* keel's limit: room for the 64 KiB trickle */

enum { P_KEEL, P_PICO, P_LLHTTP, P_HTTP_PARSER, NPARSERS };
static const char *const parser_names[NPARSERS] = { "keel", "pico", "llhttp", "http_parser" };

enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };

/* ---- requests ---------------------------------------------------------------- */

typedef struct field {
    const char *name;
    const char *value;
} field;

typedef struct msg {
    const char *method;
    const char *target;
    size_t nfields;
    const field *fields;   /* NULL for a trickle block: generated names/values */
    uint8_t *buf;
    size_t len;
    size_t head_len;
    size_t body_len;
} msg;

static const field short_fields[] = {
    { "Host", "api.example.com" },
    { "User-Agent", "curl/7.88.1" },
    { "Accept", "*/*" },
};

static const field browser_fields[] = {
    { "Host", "www.example.com" },
    { "Connection", "keep-alive" },
    { "sec-ch-ua", "\"Chromium\";v=\"120\", \"Not?A_Brand\";v=\"8\"" },
    { "sec-ch-ua-mobile", "?0" },
    { "Upgrade-Insecure-Requests", "1" },
    { "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/120.0.0.0 Safari/537.36" },
    { "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
                "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7" },
    { "Sec-Fetch-Site", "same-origin" },
    { "Sec-Fetch-Mode", "navigate" },
    { "Referer", "https://www.example.com/articles/2026/12/index.html" },
    { "Accept-Encoding", "gzip, deflate, br" },
    { "Cookie", "session=8f2c1e7a9b3d4f60a1b2c3d4e5f60718; theme=dark; _ga=GA1.2.1234567890.1700000000" },
};

static const char post_body[] =
    "{\"order\": {\"customer\": 1815, \"items\": [{\"sku\": \"A-1001\", \"qty\": 2}, "
    "{\"sku\": \"B-2002\", \"qty\": 1}], \"shipping\": {\"method\": \"express\", "
    "\"address\": {\"city\": \"London\", \"zip\": \"N1 9GU\"}}, \"note\": \"leave at door\"}}";

static char post_length[24];

static field post_fields[] = {
    { "Host", "api.example.com" },
    { "User-Agent", "keel-bench/1.0" },
    { "Accept", "application/json" },
    { "Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxODE1In0.c2lnbmF0dXJl" },
    { "Content-Type", "application/json; charset=utf-8" },
    { "Content-Length", post_length },
    { "X-Request-Id", "7d3f9a2c-5b1e-4c8d-9f0a-1b2c3d4e5f60" },
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "bench_http_parse: out of memory\n");
        exit(2);
    }
    return p;
}

static void build(msg *m, const char *method, const char *target, const field *fs, size_t n,
                  const char *body)
{
    size_t cap = 64 + strlen(target) + strlen(body);
    for (size_t i = 0; i < n; i++) {
        cap += strlen(fs[i].name) + strlen(fs[i].value) + 4;
    }
    char *b = xmalloc(cap);
    size_t len = (size_t)snprintf(b, cap, "%s %s HTTP/1.1\r\n", method, target);
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(b + len, cap - len, "%s: %s\r\n", fs[i].name, fs[i].value);
    }
    len += (size_t)snprintf(b + len, cap - len, "\r\n");
    m->head_len = len;
    len += (size_t)snprintf(b + len, cap - len, "%s", body);
    m->method = method;
    m->target = target;
    m->nfields = n;
    m->fields = fs;
    m->buf = (uint8_t *)b;
    m->len = len;
    m->body_len = strlen(body);
}

/* Filler fields of 64 bytes each ("X-Filler-NNNNN: vvv...\r\n"). */
#define FILLER_LINE 64u
static void filler_name(char *out, size_t i)
{
    snprintf(out, 32, "X-Filler-%05zu", i);
}
static void filler_value(char *out, size_t i)
{
    /* 64 - 14 (name) - 2 (": ") - 2 (CRLF) = 46 bytes */
    for (size_t k = 0; k < 46; k++) {
        out[k] = (char)('a' + (i + k) % 26);
    }
    out[46] = '\0';
}

/* A GET whose field lines (Host + fillers, CRLFs included, not the final
 * empty line) are `bytes` long. */
static void build_trickle(msg *m, size_t bytes)
{
    static const char host[] = "Host: example.com\r\n";
    size_t nfill = (bytes - (sizeof host - 1)) / FILLER_LINE;
    size_t cap = 64 + sizeof host + nfill * FILLER_LINE + 8;
    char *b = xmalloc(cap);
    size_t len = (size_t)snprintf(b, cap, "GET /trickle HTTP/1.1\r\n%s", host);
    for (size_t i = 0; i < nfill; i++) {
        char name[32];
        char value[47];
        filler_name(name, i);
        filler_value(value, i);
        len += (size_t)snprintf(b + len, cap - len, "%s: %s\r\n", name, value);
    }
    len += (size_t)snprintf(b + len, cap - len, "\r\n");
    m->method = "GET";
    m->target = "/trickle";
    m->nfields = 1 + nfill;
    m->fields = NULL;
    m->buf = (uint8_t *)b;
    m->len = len;
    m->head_len = len;
    m->body_len = 0;
}

/* The expected name and value of field i of m. */
static void expected_field(const msg *m, size_t i, char *name, char *value, size_t cap)
{
    if (m->fields != NULL) {
        snprintf(name, cap, "%s", m->fields[i].name);
        snprintf(value, cap, "%s", m->fields[i].value);
    } else if (i == 0) {
        snprintf(name, cap, "Host");
        snprintf(value, cap, "example.com");
    } else {
        filler_name(name, i - 1);
        filler_value(value, i - 1);
    }
}

/* ---- a common view of a result, for the checks (not timed) ------------------- */

typedef struct span {
    const char *p;
    size_t n;
} span;

typedef struct view {
    span method;       /* http-parser gives no span: its method name */
    span target;
    int minor;
    size_t nfields;
    const span *names; /* or, for keel and pico, filled from their arrays */
    const span *values;
    int body;          /* BODY_* */
    uint64_t content_length;
    bool keep_alive;
    span bodyspan;
    size_t consumed;
} view;

static span view_names[MAX_FIELDS];
static span view_values[MAX_FIELDS];

static bool span_is(span s, const char *lit)
{
    return s.n == strlen(lit) && (s.n == 0 || memcmp(s.p, lit, s.n) == 0);
}

static void check(const view *v, const msg *m, const char *parser, const char *what)
{
    const char *bad = NULL;
    char name[256];
    char value[256];
    if (!span_is(v->method, m->method)) {
        bad = "method";
    } else if (!span_is(v->target, m->target)) {
        bad = "target";
    } else if (v->minor != 1) {
        bad = "version";
    } else if (v->nfields != m->nfields) {
        bad = "field count";
    } else if (v->consumed != m->len) {
        bad = "bytes consumed";
    } else if (v->body != (m->body_len > 0 ? BODY_LENGTH : BODY_NONE) ||
               (m->body_len > 0 && v->content_length != m->body_len)) {
        bad = "body framing";
    } else if (!v->keep_alive) {
        bad = "keep-alive";
    } else if (v->bodyspan.n != m->body_len ||
               (m->body_len > 0 && v->bodyspan.p != (const char *)m->buf + m->head_len)) {
        bad = "body";
    }
    for (size_t i = 0; bad == NULL && i < m->nfields; i++) {
        expected_field(m, i, name, value, sizeof name);
        if (!span_is(v->names[i], name) || !span_is(v->values[i], value)) {
            bad = "a field name or value";
        }
    }
    if (bad != NULL) {
        fprintf(stderr, "bench_http_parse: %s parsed the %s request wrongly: %s\n", parser, what,
                bad);
        abort();
    }
}

/* ---- keel -------------------------------------------------------------------- */

static keel_http_parser kp;
static keel_http_header kh[MAX_FIELDS];
static keel_http_request kreq;
static keel_slice kbody;
static size_t kconsumed;

static void keel_setup(void)
{
    keel_http_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.limits.max_header_bytes = MAX_HEADER_BYTES;
    if (keel_http_parser_init(&kp, KEEL_HTTP_REQUEST, &cfg, kh, MAX_FIELDS) != KEEL_OK) {
        fprintf(stderr, "bench_http_parse: keel_http_parser_init failed\n");
        exit(2);
    }
}

/* The head is parsed; the body (Content-Length bytes) follows it. */
static bool keel_body(const msg *m, size_t head)
{
    kbody = (keel_slice){ m->buf + head, 0 };
    if (kreq.head.body == KEEL_HTTP_BODY_LENGTH) {
        if (kreq.head.content_length > m->len - head) {
            return false;
        }
        kbody.len = (size_t)kreq.head.content_length;
    } else if (kreq.head.body != KEEL_HTTP_BODY_NONE) {
        return false; /* chunked: not in this set */
    }
    kconsumed = head + kbody.len;
    return kconsumed == m->len;
}

static bool keel_parse(const msg *m)
{
    size_t head;
    keel_slice in = { m->buf, m->len };
    if (keel_http_parse_request(&kp, in, &kreq, &head, NULL) != KEEL_OK) {
        return false;
    }
    return keel_body(m, head);
}

static bool keel_trickle(const msg *m)
{
    size_t head = 0;
    keel_result r = KEEL_ERR_INCOMPLETE;
    size_t len = 0;
    while (r == KEEL_ERR_INCOMPLETE && len < m->len) {
        len++;
        keel_slice in = { m->buf, len };
        r = keel_http_parse_request(&kp, in, &kreq, &head, NULL);
    }
    return r == KEEL_OK && len == m->len && keel_body(m, head);
}

static span slice_span(keel_slice s)
{
    return (span){ (const char *)s.ptr, s.len };
}

static void keel_view(view *v)
{
    v->method = slice_span(kreq.method);
    v->target = slice_span(kreq.target);
    v->minor = kreq.head.version_minor;
    v->nfields = kreq.head.header_count;
    for (size_t i = 0; i < v->nfields && i < MAX_FIELDS; i++) {
        view_names[i] = slice_span(kreq.head.headers[i].name);
        view_values[i] = slice_span(kreq.head.headers[i].value);
    }
    v->names = view_names;
    v->values = view_values;
    v->body = kreq.head.body == KEEL_HTTP_BODY_LENGTH    ? BODY_LENGTH
              : kreq.head.body == KEEL_HTTP_BODY_CHUNKED ? BODY_CHUNKED
                                                         : BODY_NONE;
    v->content_length = kreq.head.content_length;
    v->keep_alive = kreq.head.keep_alive;
    v->bodyspan = slice_span(kbody);
    v->consumed = kconsumed;
}

/* ---- picohttpparser ---------------------------------------------------------- */

static struct phr_header ph[MAX_FIELDS];
static struct {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    int minor;
    size_t nfields;
    int body;
    uint64_t content_length;
    bool keep_alive;
    span bodyspan;
    size_t consumed;
} pr;

static bool pico_token_is(const char *p, size_t n, const char *lit, size_t litn)
{
    return n == litn && strncasecmp(p, lit, n) == 0;
}

/* The framing decision picohttpparser leaves to its user: Content-Length
 * (digits only, one value), Transfer-Encoding (chunked) and Connection. */
static bool pico_framing(const msg *m, size_t head)
{
    bool have_cl = false;
    bool conn_close = false;
    bool keep = false;
    uint64_t cl = 0;
    pr.body = BODY_NONE;
    for (size_t i = 0; i < pr.nfields; i++) {
        const struct phr_header *h = &ph[i];
        if (pico_token_is(h->name, h->name_len, "content-length", 14)) {
            if (have_cl || h->value_len == 0) {
                return false;
            }
            for (size_t k = 0; k < h->value_len; k++) {
                unsigned d = (unsigned)(h->value[k] - '0');
                if (d > 9 || cl > (UINT64_MAX - d) / 10) {
                    return false;
                }
                cl = cl * 10 + d;
            }
            have_cl = true;
        } else if (pico_token_is(h->name, h->name_len, "transfer-encoding", 17)) {
            if (!pico_token_is(h->value, h->value_len, "chunked", 7)) {
                return false;
            }
            pr.body = BODY_CHUNKED;
        } else if (pico_token_is(h->name, h->name_len, "connection", 10)) {
            conn_close = pico_token_is(h->value, h->value_len, "close", 5);
            keep = pico_token_is(h->value, h->value_len, "keep-alive", 10);
        }
    }
    if (pr.body == BODY_CHUNKED) {
        return false; /* not in this set (and not with Content-Length) */
    }
    pr.keep_alive = pr.minor == 1 ? !conn_close : keep;
    pr.content_length = cl;
    pr.bodyspan = (span){ (const char *)m->buf + head, 0 };
    if (have_cl) {
        if (cl > m->len - head) {
            return false;
        }
        pr.body = BODY_LENGTH;
        pr.bodyspan.n = (size_t)cl;
    }
    pr.consumed = head + pr.bodyspan.n;
    return pr.consumed == m->len;
}

static bool pico_parse(const msg *m)
{
    pr.nfields = MAX_FIELDS;
    int r = phr_parse_request((const char *)m->buf, m->len, &pr.method, &pr.method_len, &pr.path,
                              &pr.path_len, &pr.minor, ph, &pr.nfields, 0);
    return r > 0 && pico_framing(m, (size_t)r);
}

static bool pico_trickle(const msg *m)
{
    int r = -2;
    size_t len = 0;
    while (r == -2 && len < m->len) {
        len++;
        pr.nfields = MAX_FIELDS;
        r = phr_parse_request((const char *)m->buf, len, &pr.method, &pr.method_len, &pr.path,
                              &pr.path_len, &pr.minor, ph, &pr.nfields, len - 1);
    }
    return r > 0 && len == m->len && pico_framing(m, (size_t)r);
}

static void pico_view(view *v)
{
    v->method = (span){ pr.method, pr.method_len };
    v->target = (span){ pr.path, pr.path_len };
    v->minor = pr.minor;
    v->nfields = pr.nfields;
    for (size_t i = 0; i < pr.nfields; i++) {
        view_names[i] = (span){ ph[i].name, ph[i].name_len };
        view_values[i] = (span){ ph[i].value, ph[i].value_len };
    }
    v->names = view_names;
    v->values = view_values;
    v->body = pr.body;
    v->content_length = pr.content_length;
    v->keep_alive = pr.keep_alive;
    v->bodyspan = pr.bodyspan;
    v->consumed = pr.consumed;
}

/* ---- llhttp and http-parser (peer_llhttp.c, peer_http_parser.c) ----------- */

/* Their headers cannot share a translation unit (both define HPE_OK,
 * F_CHUNKED, HTTP_REQUEST...): each lives in its own file, behind peer.h. */

static void rec_view(const peer_rec *r, view *v)
{
    v->method = (span){ r->method.p, r->method.n };
    v->target = (span){ r->target.p, r->target.n };
    v->minor = r->minor;
    v->nfields = r->nfields;
    for (size_t i = 0; i < r->nfields && i < MAX_FIELDS; i++) {
        view_names[i] = (span){ r->names[i].p, r->names[i].n };
        view_values[i] = (span){ r->values[i].p, r->values[i].n };
    }
    v->names = view_names;
    v->values = view_values;
    v->body = r->body == PEER_BODY_CHUNKED ? BODY_CHUNKED
              : r->body == PEER_BODY_LENGTH ? BODY_LENGTH
                                            : BODY_NONE;
    v->content_length = r->content_length;
    v->keep_alive = r->keep_alive;
    v->bodyspan = (span){ r->body_span.p, r->body_span.n };
    v->consumed = r->complete ? r->consumed : 0;
}

static bool llhttp_parse(const msg *m)
{
    return peer_llhttp_parse((const char *)m->buf, m->len);
}

static bool llhttp_trickle(const msg *m)
{
    return peer_llhttp_trickle((const char *)m->buf, m->len);
}

static void llhttp_view(view *v)
{
    rec_view(peer_llhttp_rec(), v);
}

static bool http_parser_parse(const msg *m)
{
    return peer_http_parser_parse((const char *)m->buf, m->len);
}

static bool http_parser_trickle(const msg *m)
{
    return peer_http_parser_trickle((const char *)m->buf, m->len);
}

static void http_parser_view(view *v)
{
    rec_view(peer_http_parser_rec(), v);
}

/* ---- the table of parsers ---------------------------------------------------- */

typedef bool (*parse_fn)(const msg *m);
typedef void (*view_fn)(view *v);

static const parse_fn parse_fns[NPARSERS] = { keel_parse, pico_parse, llhttp_parse,
                                              http_parser_parse };
static const parse_fn trickle_fns[NPARSERS] = { keel_trickle, pico_trickle, llhttp_trickle,
                                                http_parser_trickle };
static const view_fn view_fns[NPARSERS] = { keel_view, pico_view, llhttp_view, http_parser_view };

/* ---- timing ------------------------------------------------------------------ */

typedef struct workload {
    char name[32];
    msg *msgs;      /* parsed in turn; one op = one request (or one trickled block) */
    size_t nmsgs;
    bool trickle;
    size_t bytes;   /* bytes of all msgs */
} workload;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per op over n passes over the workload's requests. */
static double sample(int parser, const workload *w, unsigned n)
{
    parse_fn f = w->trickle ? trickle_fns[parser] : parse_fns[parser];
    double start = now_ns();
    for (unsigned i = 0; i < n; i++) {
        for (size_t k = 0; k < w->nmsgs; k++) {
            if (!f(&w->msgs[k])) {
                fprintf(stderr, "bench_http_parse: %s failed on %s\n", parser_names[parser],
                        w->name);
                exit(1);
            }
        }
    }
    return (now_ns() - start) / ((double)n * (double)w->nmsgs);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof v[0], by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(const workload *w, unsigned reps, double min_ns)
{
    unsigned n = 1;
    while (sample(P_KEEL, w, n) * (double)n * (double)w->nmsgs < min_ns && n < (1u << 30)) {
        n *= 2;
    }
    double t[NPARSERS][MAX_REPS];
    double ratio[NPARSERS][MAX_REPS];
    for (unsigned r = 0; r < reps; r++) {
        for (int p = 0; p < NPARSERS; p++) {
            t[p][r] = sample(p, w, n);
        }
        for (int p = 0; p < NPARSERS; p++) {
            ratio[p][r] = t[p][r] / t[P_KEEL][r];
        }
    }
    for (int p = 0; p < NPARSERS; p++) {
        printf("result %s %s %.1f %.2f %.4f\n", w->name, parser_names[p],
               (double)w->bytes / (double)w->nmsgs, median(t[p], reps), median(ratio[p], reps));
    }
    fflush(stdout);
}

/* Every parser, every request of w, checked against what it was built from. */
static void verify(const workload *w)
{
    for (int p = 0; p < NPARSERS; p++) {
        for (size_t k = 0; k < w->nmsgs; k++) {
            bool ok = w->trickle ? trickle_fns[p](&w->msgs[k]) : parse_fns[p](&w->msgs[k]);
            if (!ok) {
                fprintf(stderr, "bench_http_parse: %s rejected the %s request\n", parser_names[p],
                        w->name);
                abort();
            }
            view v;
            memset(&v, 0, sizeof v);
            view_fns[p](&v);
            check(&v, &w->msgs[k], parser_names[p], w->name);
        }
    }
}

int main(int argc, char **argv)
{
    unsigned reps = 7;
    double min_ms = 5.0;
    const char *only = NULL;
    const char *loop_parser = NULL;
    const char *loop_workload = NULL;
    unsigned long loop_n = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--reps") == 0) {
            reps = (unsigned)atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--min-ms") == 0) {
            min_ms = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--only") == 0) {
            only = argv[i + 1];
        } else if (strcmp(argv[i], "--loop") == 0 && i + 3 < argc) {
            loop_parser = argv[i + 1];
            loop_workload = argv[i + 2];
            loop_n = strtoul(argv[i + 3], NULL, 10);
            i += 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || min_ms <= 0) {
        fprintf(stderr, "usage: bench_http_parse [--reps 1..%d] [--min-ms MS] [--only WORKLOAD]\n"
                        "       bench_http_parse --loop PARSER WORKLOAD N   (for a profiler)\n",
                MAX_REPS);
        return 2;
    }
    keel_setup();
    peer_llhttp_setup();
    peer_http_parser_setup();

    snprintf(post_length, sizeof post_length, "%zu", strlen(post_body));
    static msg mix[3];
    build(&mix[0], "GET", "/status", short_fields, sizeof short_fields / sizeof short_fields[0], "");
    build(&mix[1], "GET", "/articles/2026/12/http-parsing.html?ref=home&lang=en", browser_fields,
          sizeof browser_fields / sizeof browser_fields[0], "");
    build(&mix[2], "POST", "/api/v1/orders?dry_run=false", post_fields,
          sizeof post_fields / sizeof post_fields[0], post_body);
    static const size_t trickle_kib[] = { 1, 4, 16, 64 };
    static msg trickle[4];
    for (size_t i = 0; i < 4; i++) {
        build_trickle(&trickle[i], trickle_kib[i] * 1024);
    }

    workload ws[8];
    size_t nw = 0;
    static const char *const single[3] = { "short", "browser", "post" };
    for (size_t i = 0; i < 3; i++) {
        ws[nw] = (workload){ "", &mix[i], 1, false, mix[i].len };
        snprintf(ws[nw].name, sizeof ws[nw].name, "%s", single[i]);
        nw++;
    }
    ws[nw] = (workload){ "mix", mix, 3, false, mix[0].len + mix[1].len + mix[2].len };
    nw++;
    for (size_t i = 0; i < 4; i++) {
        ws[nw] = (workload){ "", &trickle[i], 1, true, trickle[i].len };
        snprintf(ws[nw].name, sizeof ws[nw].name, "trickle-%zuk", trickle_kib[i]);
        nw++;
    }

    for (size_t i = 0; i < nw; i++) {
        verify(&ws[i]);
    }
    printf("verified: %zu workloads x %d parsers (method, target, version, every field, framing, "
           "body, bytes consumed)\n", nw, NPARSERS);
    if (loop_parser != NULL) {
        /* Untimed: N passes of one parser over one workload, for perf or
         * callgrind (instructions per request = total / (N x requests)). */
        int p = 0;
        while (p < NPARSERS && strcmp(parser_names[p], loop_parser) != 0) {
            p++;
        }
        size_t w = 0;
        while (w < nw && strcmp(ws[w].name, loop_workload) != 0) {
            w++;
        }
        if (p == NPARSERS || w == nw || loop_n == 0) {
            fprintf(stderr, "bench_http_parse: --loop PARSER WORKLOAD N: unknown parser or workload\n");
            return 2;
        }
        (void)sample(p, &ws[w], (unsigned)loop_n);
        printf("loop: %s on %s, %lu passes of %zu request(s)\n", parser_names[p], ws[w].name, loop_n,
               ws[w].nmsgs);
        return 0;
    }
    for (size_t i = 0; i < nw; i++) {
        if (only == NULL || strcmp(only, ws[i].name) == 0) {
            measure(&ws[i], reps, min_ms * 1e6);
        }
    }
    for (size_t i = 0; i < 3; i++) {
        free(mix[i].buf);
    }
    for (size_t i = 0; i < 4; i++) {
        free(trickle[i].buf);
    }
    return 0;
}

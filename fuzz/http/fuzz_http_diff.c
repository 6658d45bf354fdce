/*
 * fuzz/http/fuzz_http_diff.c - keel's request parser and chunked decoder
 * against llhttp 8.1 (Debian's node-llhttp sources) and http-parser 2.9
 * (Debian's libhttp-parser) on framing decisions.
 *
 * Drives: keel_http_parser_init, keel_http_parse_request,
 * keel_http_chunked_init, keel_http_chunked_decode, keel_http_chunked_done;
 * llhttp_init/llhttp_execute and http_parser_execute (diff_llhttp.c,
 * diff_http_parser.c).
 *
 * Input: a request stream (at most 8 KiB). keel runs with limits far above
 * it (no 414/431 here: fuzz_http_parse covers limits) and a header array
 * as large as any stream can fill; no leniency.
 *
 * Each parser reads the stream message after message: keel as a server
 * does (a head, then Content-Length bytes or the chunked body, then the
 * next head), the peers in one execute call, pausing at each message end.
 * For each message, in order, the three decisions are compared: accepted
 * or not, where it ends, its body length, whether another message may
 * follow (keep-alive). The comparison stops after a message that is not
 * keep-alive or that a peer treats as an upgrade (the peer hands the rest
 * to another protocol), and at the first message that any of them does not
 * accept (a rejection, or the stream ends inside it).
 *
 * keel is stricter than both peers by design. A disagreement is expected
 * only when the harness recognises its class, narrowly, from keel's error
 * reason and offset and the bytes there (or, when keel accepts and a peer
 * rejects, from the peer's error and keel's reading of the message); each
 * class is a row of the table in docs/http-profile.md and fuzz/README.md.
 * The comparison stops at a recognised disagreement. Anything else aborts:
 *  - keel rejects, a peer accepts, no class explains it;
 *  - keel accepts, a peer rejects, no class explains it;
 *  - both accept with different ends, body lengths or keep-alive, or one
 *    completes a message the other still waits on, no class explains it.
 * Setting KEEL_DIFF_VERBOSE in the environment prints each decision and
 * class; KEEL_DIFF_SURVEY reports findings without aborting (to survey a
 * corpus).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diff_peers.h"
#include "fuzz_check.h"
#include "keel/http.h"

#define STREAM_MAX 8192u
#define LIMIT (1u << 20)
/* A field line takes at least 3 bytes ("a:" CRLF). */
#define HEADERS_MAX (STREAM_MAX / 3u + 1u)

typedef struct keel_msg {
    size_t start;
    size_t method_at;           /* the method token */
    size_t method_len;
    size_t body_start;          /* one past the head */
    size_t target_at;           /* the request-target */
    size_t target_len;
    keel_http_method method;
    bool has_upgrade;
    uint8_t version_minor;
} keel_msg;

typedef struct keel_run {
    diff_run r;                 /* in the peers' terms */
    keel_msg info[DIFF_MSGS_MAX];
    bool head_only;             /* END_OPEN inside a body: info[count] is its head */
    bool err_in_body;           /* END_ERROR from the chunked decoder */
    keel_http_reason reason;    /* END_ERROR */
    size_t err_msg_start;       /* the rejected message's first byte */
} keel_run;

static keel_http_header g_headers[HEADERS_MAX];
static bool g_verbose;
static bool g_survey; /* KEEL_DIFF_SURVEY: report findings, do not abort */

static void keel_side(const uint8_t *d, size_t len, keel_run *k)
{
    static const keel_http_config cfg = {
        .limits = { .max_start_line = LIMIT, .max_header_bytes = LIMIT, .max_chunk_ext = LIMIT,
                    .max_trailer_bytes = LIMIT },
    };
    memset(&k->r, 0, sizeof k->r);
    k->head_only = false;
    k->err_in_body = false;
    keel_http_parser p;
    FUZZ_CHECK(keel_http_parser_init(&p, KEEL_HTTP_REQUEST, &cfg, g_headers, HEADERS_MAX) ==
               KEEL_OK);
    size_t pos = 0;
    while (k->r.count < DIFF_MSGS_MAX) {
        if (pos == len) {
            k->r.end = DIFF_END_OPEN;
            return;
        }
        keel_slice in = { d + pos, len - pos };
        keel_http_request rq;
        size_t used = 0;
        keel_http_error e = { 0 };
        keel_result r = keel_http_parse_request(&p, in, &rq, &used, &e);
        if (r == KEEL_ERR_INCOMPLETE) {
            k->r.end = DIFF_END_OPEN;
            k->r.in_message = true;
            return;
        }
        if (r != KEEL_OK) {
            FUZZ_CHECK(r == KEEL_ERR_PARSE || r == KEEL_ERR_TOO_LARGE);
            FUZZ_CHECK(e.offset < in.len);
            k->r.end = DIFF_END_ERROR;
            k->r.err_at = pos + e.offset;
            k->r.err_code = (int)e.reason;
            k->r.err_name = keel_http_reason_str(e.reason);
            k->reason = e.reason;
            k->err_msg_start = pos;
            return;
        }
        FUZZ_CHECK(used > 0 && used <= in.len);
        keel_msg *info = &k->info[k->r.count];
        info->start = pos;
        info->method_at = (size_t)(rq.method.ptr - d);
        info->method_len = rq.method.len;
        info->target_at = (size_t)(rq.target.ptr - d);
        info->target_len = rq.target.len;
        info->method = rq.method_id;
        info->has_upgrade = rq.head.has_upgrade;
        info->version_minor = rq.head.version_minor;
        size_t body_start = pos + used;
        info->body_start = body_start;
        uint64_t body = 0;
        pos = body_start;
        if (rq.head.body == KEEL_HTTP_BODY_LENGTH) {
            if (rq.head.content_length > len - pos) {
                k->r.end = DIFF_END_OPEN;
                k->r.in_message = true;
                k->head_only = true;
                return;
            }
            body = rq.head.content_length;
            pos += (size_t)body;
        } else if (rq.head.body == KEEL_HTTP_BODY_CHUNKED) {
            keel_http_chunked dec;
            FUZZ_CHECK(keel_http_chunked_init(&dec, &cfg) == KEEL_OK);
            while (!keel_http_chunked_done(&dec)) {
                keel_slice rest = { d + pos, len - pos }, data;
                size_t n = 0;
                keel_http_error ce = { 0 };
                keel_result cr = keel_http_chunked_decode(&dec, rest, &data, &n, &ce);
                if (cr == KEEL_ERR_INCOMPLETE) {
                    k->r.end = DIFF_END_OPEN;
                    k->r.in_message = true;
                    k->head_only = true;
                    return;
                }
                if (cr != KEEL_OK) {
                    k->r.end = DIFF_END_ERROR;
                    k->r.err_at = body_start + ce.offset;
                    k->r.err_code = (int)ce.reason;
                    k->r.err_name = keel_http_reason_str(ce.reason);
                    k->reason = ce.reason;
                    k->err_msg_start = info->start;
                    k->err_in_body = true;
                    return;
                }
                FUZZ_CHECK(n <= rest.len);
                pos += n;
                body += data.len;
            }
        } else {
            FUZZ_CHECK(rq.head.body == KEEL_HTTP_BODY_NONE);
        }
        diff_msg *m = &k->r.msg[k->r.count++];
        m->end = pos;
        m->body_len = body;
        m->keep_alive = rq.head.keep_alive;
        m->upgrade = false; /* keel does not switch protocols */
    }
    k->r.end = DIFF_END_STOP;
}

/* ---- recognising a class ----------------------------------------------- */

static uint8_t lower(uint8_t c)
{
    return (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* The first byte of the line holding at (lines end with LF). */
static size_t line_start(const uint8_t *d, size_t from, size_t at)
{
    while (at > from && d[at - 1] != '\n') {
        at--;
    }
    return at;
}

static bool line_is(const uint8_t *d, size_t len, size_t ls, const char *name)
{
    size_t n = strlen(name);
    if (ls + n > len) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower(d[ls + i]) != (uint8_t)name[i]) {
            return false;
        }
    }
    return true;
}

/* Whether at lies on the request line of the message starting at start
 * (after the empty lines keel skips). */
static bool on_request_line(const uint8_t *d, size_t start, size_t at)
{
    size_t s = start;
    while (d[s] == '\r' || d[s] == '\n') {
        if (s == at) {
            return false;
        }
        s++;
    }
    for (size_t i = s; i < at; i++) {
        if (d[i] == '\n') {
            return false;
        }
    }
    return true;
}

/* The line after the one holding at starts with SP or HTAB: a folded
 * field, which keel rejects on its first line (its value alone). */
static bool folded_after(const uint8_t *d, size_t len, size_t at)
{
    while (at < len && d[at] != '\n') {
        at++;
    }
    return at + 1 < len && (d[at + 1] == ' ' || d[at + 1] == '\t');
}

static bool is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'f');
}

/* keel rejects, the peer accepted the message: which documented class? */
static const char *keel_stricter(const uint8_t *d, size_t len, const keel_run *k)
{
    size_t at = k->r.err_at, start = k->err_msg_start;
    uint8_t c = at < len ? d[at] : 0;
    size_t ls = line_start(d, start, at);
    bool field_line = !on_request_line(d, start, at);
    switch (k->reason) {
    case KEEL_HTTP_BARE_LF:
        /* (the byte before may be a CR of the previous message or of the
         * chunk data) */
        return c == '\n' && (at == start || d[at - 1] != '\r' || k->err_in_body) ? "bare-lf"
                                                                                : NULL;
    case KEEL_HTTP_BARE_CR:
        return at > 0 && d[at - 1] == '\r' && c != '\n' ? "bare-cr" : NULL;
    case KEEL_HTTP_OBS_FOLD:
        return (c == ' ' || c == '\t') && ls == at ? "obs-fold" : NULL;
    case KEEL_HTTP_MISSING_HOST:
        return c == '\r' || c == '\n' ? "host" : NULL;
    case KEEL_HTTP_DUPLICATE_HOST:
    case KEEL_HTTP_BAD_HOST:
        return field_line && line_is(d, len, ls, "host:") ? "host" : NULL;
    case KEEL_HTTP_BAD_TARGET:
    case KEEL_HTTP_BAD_TARGET_FORM:
        return !field_line ? "target" : NULL;
    case KEEL_HTTP_UNSUPPORTED_VERSION:
    case KEEL_HTTP_BAD_VERSION:
        return !field_line ? "version" : NULL;
    case KEEL_HTTP_BAD_START_LINE:
        /* more than one SP between the parts */
        if (!field_line && c == ' ' && at > 0 && d[at - 1] == ' ') {
            return "start-line-ws";
        }
        /* "GET /" CRLF: an HTTP/0.9 request line (method and target only) */
        if (!field_line && (c == '\r' || c == '\n')) {
            size_t sp = 0;
            for (size_t i = ls; i < at; i++) {
                sp += d[i] == ' ';
            }
            return sp == 1 ? "http09" : NULL;
        }
        return NULL;
    case KEEL_HTTP_BAD_FIELD_NAME:
        if (field_line && (c == ' ' || c == '\t')) {
            return "field-name-ws";
        }
        if (field_line && c == ':' && at == ls) {
            return "field-name-empty";
        }
        return NULL;
    case KEEL_HTTP_BAD_FIELD_VALUE:
        /* A control byte first in the value: http-parser checks the
         * value's bytes only from its second one. */
        if (field_line && (c < 0x20 || c == 0x7F) && at > ls) {
            size_t i = at;
            while (i > ls && (d[i - 1] == ' ' || d[i - 1] == '\t')) {
                i--;
            }
            return i > ls && d[i - 1] == ':' ? "field-value-first" : NULL;
        }
        return NULL;
    case KEEL_HTTP_TRANSFER_ENCODING_IN_HTTP10:
        return field_line && line_is(d, len, ls, "transfer-encoding:") ? "te-http10" : NULL;
    case KEEL_HTTP_BAD_TRANSFER_ENCODING:
    case KEEL_HTTP_UNSUPPORTED_TRANSFER_CODING:
        if (field_line && line_is(d, len, ls, "transfer-encoding:")) {
            return folded_after(d, len, at) ? "obs-fold" : "te";
        }
        return NULL;
    case KEEL_HTTP_BAD_CONNECTION:
        if (field_line && line_is(d, len, ls, "connection:")) {
            return folded_after(d, len, at) ? "obs-fold" : "connection";
        }
        return NULL;
    case KEEL_HTTP_BAD_CONTENT_LENGTH:
        if (field_line && folded_after(d, len, at)) {
            return "obs-fold";
        }
        return NULL;
    case KEEL_HTTP_BAD_CHUNK_SIZE:
    case KEEL_HTTP_BAD_CHUNK_EXT:
        /* A byte >= 0x80 where a size digit may be: http-parser reads it
         * (no error). */
        if (c >= 0x80 && line_start(d, start, at) >= k->err_msg_start) {
            return "chunk-size-obs";
        }
        /* On a chunk-size line, after its hex digits: http-parser skips
         * everything up to the CR there. */
        if (at > ls && is_hex(d[ls])) {
            for (size_t i = ls; i <= at; i++) {
                if (d[i] == ' ' || d[i] == '\t' || d[i] == ';') {
                    return "chunk-ext";
                }
            }
        }
        return NULL;
    case KEEL_HTTP_BAD_TRAILER:
        /* Both peers read trailer fields with their (laxer) header rules. */
        return k->err_in_body ? "trailer" : NULL;
    case KEEL_HTTP_BAD_CHUNK_END:
        /* llhttp 8.1 skips the two bytes after the chunk data unchecked
         * (keel's offset is the first of them that is wrong). */
        return at < len && at > 0 ? "chunk-end" : NULL;
    default:
        return NULL;
    }
}

/* Message i has a field named name (with ':') whose value ends with an
 * HTAB among its trailing whitespace (OWS, which keel drops). */
static bool trailing_htab(const uint8_t *d, const keel_msg *info, const char *name)
{
    size_t ls = info->start;
    while (ls < info->body_start) {
        size_t le = ls;
        while (le < info->body_start && d[le] != '\n') {
            le++;
        }
        if (line_is(d, info->body_start, ls, name)) {
            size_t e = le;
            if (e > ls && d[e - 1] == '\r') {
                e--;
            }
            while (e > ls && (d[e - 1] == ' ' || d[e - 1] == '\t')) {
                if (d[e - 1] == '\t') {
                    return true;
                }
                e--;
            }
        }
        ls = le + 1;
    }
    return false;
}

/* Message i has a field whose name starts with "Transfer-Encoding" and is
 * longer (http-parser 2.9 marks the message as using Transfer-Encoding as
 * soon as the name's first 17 bytes match). */
static bool te_name_prefix(const uint8_t *d, const keel_msg *info)
{
    static const char te[] = "transfer-encoding";
    size_t ls = info->start;
    while (ls < info->body_start) {
        size_t le = ls;
        while (le < info->body_start && d[le] != '\n') {
            le++;
        }
        if (line_is(d, info->body_start, ls, te) && ls + sizeof te - 1 < le &&
            d[ls + sizeof te - 1] != ':') {
            return true;
        }
        ls = le + 1;
    }
    return false;
}

/* Message i has a Connection field whose value is a list (a ',' in it),
 * has inner whitespace or ends with an HTAB, or has more than one
 * Connection field line (one list, RFC 9110 5.3: `keep-alive` on one line
 * and `close` on the next is close, RFC 9112 9.3): keel reads each element
 * of the list without its OWS, the peers match only some forms. */
static bool connection_list(const uint8_t *d, const keel_msg *info)
{
    size_t ls = info->start;
    unsigned lines = 0;
    while (ls < info->body_start) {
        size_t le = ls;
        while (le < info->body_start && d[le] != '\n') {
            le++;
        }
        if (line_is(d, info->body_start, ls, "connection:")) {
            if (++lines > 1) {
                return true;
            }
            size_t v = ls + 11, e = le;
            while (v < e && (d[v] == ' ' || d[v] == '\t')) {
                v++;
            }
            while (e > v && (d[e - 1] == '\r' || d[e - 1] == ' ')) {
                e--;
            }
            for (size_t i = v; i < e; i++) {
                if (d[i] == ',' || d[i] == ' ' || d[i] == '\t') {
                    return true;
                }
            }
        }
        ls = le + 1;
    }
    return false;
}

/* A Connection field among the lines of d[from, to) (a trailer section:
 * the peers apply it, keel drops trailer fields). */
static bool connection_line(const uint8_t *d, size_t from, size_t to)
{
    for (size_t ls = from; ls < to;) {
        if (line_is(d, to, ls, "connection:")) {
            return true;
        }
        while (ls < to && d[ls] != '\n') {
            ls++;
        }
        ls++;
    }
    return false;
}

/* The peer's error lies on a chunk-size line of message i's body that has
 * an extension (in it, or in the BWS before its ';'). */
static bool in_chunk_ext(const uint8_t *d, const keel_msg *info, size_t end, size_t at)
{
    if (at < info->body_start || at >= end) {
        return false;
    }
    size_t ls = line_start(d, info->body_start, at);
    if (!is_hex(d[ls]) || at == ls) {
        return false;
    }
    /* an extension on that line (the error may be in the BWS before it) */
    for (size_t i = ls; i < end && d[i] != '\n'; i++) {
        if (d[i] == ';') {
            return true;
        }
    }
    return false;
}

/* A method llhttp reads as another protocol's: RTSP's, or HTTP/2's PRI. */
static bool other_protocol_method(const uint8_t *d, const keel_msg *info)
{
    static const char *const names[] = { "PRI", "DESCRIBE", "ANNOUNCE", "SETUP", "PLAY",
                                         "PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER",
                                         "REDIRECT", "RECORD", "FLUSH" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i]) == info->method_len &&
            memcmp(d + info->method_at, names[i], info->method_len) == 0) {
            return true;
        }
    }
    return false;
}

/* keel accepted message i, the peer rejected it: which documented class? */
static const char *peer_stricter(const uint8_t *d, const keel_run *k, size_t i,
                                 const diff_run *p, bool llhttp)
{
    const keel_msg *info = &k->info[i];
    bool bad_method = llhttp ? diff_llhttp_bad_method(p->err_code)
                             : diff_http_parser_bad_method(p->err_code);
    bool bad_te = llhttp ? diff_llhttp_bad_te(p->err_code) : diff_http_parser_bad_te(p->err_code);
    bool bad_url = llhttp ? diff_llhttp_bad_url(p->err_code) : diff_http_parser_bad_url(p->err_code);
    if (bad_url && p->err_at >= info->target_at &&
        p->err_at <= info->target_at + info->target_len) {
        return "url";
    }
    if (bad_method && info->method == KEEL_HTTP_OTHER && p->err_at >= info->method_at &&
        p->err_at <= info->method_at + info->method_len) {
        return "method";
    }
    /* llhttp knows RTSP's methods (PAUSE, PLAY, SETUP, ...) and HTTP/2's
     * PRI, and then wants an RTSP version, or HTTP/2.0 and the rest of the
     * preface ("SM" CRLF CRLF after the head): its error is on the version
     * or just after the head, of a method keel does not name. */
    if (llhttp && (diff_llhttp_bad_protocol(p->err_code) || diff_llhttp_bad_version(p->err_code)) &&
        other_protocol_method(d, info) && p->err_at > info->target_at + info->target_len &&
        p->err_at <= info->body_start + 6u) {
        return "method";
    }
    bool bad_cl = llhttp ? diff_llhttp_cl_error(p->err_code)
                         : diff_http_parser_cl_error(p->err_code);
    if ((bad_te && trailing_htab(d, info, "transfer-encoding:")) ||
        (bad_cl && trailing_htab(d, info, "content-length:"))) {
        if (p->err_at <= info->body_start) {
            return "ows-htab";
        }
    }
    if (!llhttp && (bad_te || diff_http_parser_cl_with_te(p->err_code)) &&
        p->err_at <= info->body_start && te_name_prefix(d, info)) {
        return "te-name-prefix";
    }
    /* A framing field in the trailer section: the peers check trailer
     * fields as header fields (Transfer-Encoding again: chunked twice; a
     * Content-Length that is not a number). */
    if ((bad_te || bad_cl) && p->err_at > info->body_start && p->err_at < k->r.msg[i].end) {
        return "trailer-fields";
    }
    if (in_chunk_ext(d, info, k->r.msg[i].end, p->err_at)) {
        return "chunk-ext-peer";
    }
    return NULL;
}

/* Both accepted message i with different framing: which documented class? */
static const char *both_differ(const keel_run *k, size_t i, const diff_msg *pm)
{
    const keel_msg *info = &k->info[i];
    if (pm->upgrade && (info->method == KEEL_HTTP_CONNECT || info->has_upgrade)) {
        return "upgrade";
    }
    return NULL;
}

/* ---- comparing ----------------------------------------------------------- */

static void dump(const char *name, const diff_run *r)
{
    fprintf(stderr, "  %-11s %zu message(s):", name, r->count);
    for (size_t i = 0; i < r->count && i < 8; i++) {
        fprintf(stderr, " [end %zu body %llu%s%s]", r->msg[i].end,
                (unsigned long long)r->msg[i].body_len, r->msg[i].keep_alive ? "" : " close",
                r->msg[i].upgrade ? " upgrade" : "");
    }
    if (r->end == DIFF_END_ERROR) {
        fprintf(stderr, " then rejected at %zu (%s)\n", r->err_at, r->err_name);
    } else {
        fprintf(stderr, " then %s\n", r->end == DIFF_END_STOP ? "stop" :
                                      r->in_message ? "open (inside a message)" : "open");
    }
}

static void finding(const char *what, const char *peer, size_t i, const keel_run *k,
                    const diff_run *p)
{
    fprintf(stderr, "http_diff: message %zu: %s (keel vs %s)\n", i, what, peer);
    dump("keel", &k->r);
    dump(peer, p);
    if (!g_survey) {
        FUZZ_FAIL(what);
    }
}

static void explained(const char *cls, const char *peer, size_t i)
{
    if (g_verbose) {
        fprintf(stderr, "http_diff: message %zu: class %s (keel vs %s)\n", i, cls, peer);
    }
}

static void compare(const uint8_t *d, size_t len, const keel_run *k, const diff_run *p,
                    const char *peer, bool llhttp)
{
    for (size_t i = 0;; i++) {
        bool kh = i < k->r.count, ph = i < p->count;
        if (kh && ph) {
            const diff_msg *km = &k->r.msg[i], *pm = &p->msg[i];
            if (km->end != pm->end || km->body_len != pm->body_len) {
                const char *cls = both_differ(k, i, pm);
                if (cls == NULL) {
                    finding("both accept with different framing", peer, i, k, p);
                }
                explained(cls, peer, i);
                return;
            }
            if (pm->upgrade) {
                return; /* the rest is another protocol for the peer */
            }
            if (km->keep_alive != pm->keep_alive) {
                if (connection_list(d, &k->info[i])) {
                    explained("connection-value", peer, i);
                } else if (connection_line(d, k->info[i].body_start, km->end)) {
                    explained("trailer-fields", peer, i);
                } else {
                    finding("keep-alive differs", peer, i, k, p);
                }
                return;
            }
            if (!km->keep_alive) {
                return;
            }
            continue;
        }
        if (!kh && !ph) {
            return; /* neither completed a message here: nothing to compare */
        }
        if (kh) {
            /* keel completed message i, the peer did not. */
            if (p->end == DIFF_END_ERROR) {
                const char *cls = peer_stricter(d, k, i, p, llhttp);
                if (cls == NULL) {
                    finding("keel accepts, the peer rejects", peer, i, k, p);
                }
                explained(cls, peer, i);
                return;
            }
            if (p->end == DIFF_END_OPEN) {
                /* llhttp waits for the rest of HTTP/2's preface after PRI */
                if (llhttp && other_protocol_method(d, &k->info[i])) {
                    explained("method", peer, i);
                    return;
                }
                finding("keel completes a message the peer still reads", peer, i, k, p);
            }
            return; /* the peer stopped (upgrade) */
        }
        /* The peer completed message i, keel did not. */
        if (k->r.end == DIFF_END_ERROR) {
            /* The peer took the head as an upgrade: keel's error is in
             * what it reads as the body. */
            if (k->err_in_body && i == k->r.count && p->msg[i].upgrade &&
                both_differ(k, i, &p->msg[i]) != NULL) {
                explained(both_differ(k, i, &p->msg[i]), peer, i);
                return;
            }
            const char *cls = keel_stricter(d, len, k);
            if (cls == NULL) {
                finding("keel rejects, the peer accepts", peer, i, k, p);
            }
            explained(cls, peer, i);
            return;
        }
        if (k->r.end == DIFF_END_OPEN) {
            const diff_msg *pm = &p->msg[i];
            if (k->head_only && i == k->r.count &&
                both_differ(k, i, pm) != NULL) {
                explained(both_differ(k, i, pm), peer, i);
                return;
            }
            finding("the peer completes a message keel still reads", peer, i, k, p);
        }
        return;
    }
}

static keel_run g_keel;
static diff_run g_llhttp, g_hp;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        g_verbose = getenv("KEEL_DIFF_VERBOSE") != NULL;
        g_survey = getenv("KEEL_DIFF_SURVEY") != NULL;
        init = true;
    }
    size_t len = size < STREAM_MAX ? size : STREAM_MAX;
    /* Exact-size copy: an over-read past the stream is visible to ASan. */
    uint8_t *d = malloc(len > 0 ? len : 1);
    FUZZ_CHECK(d != NULL);
    if (len > 0) {
        memcpy(d, data, len);
    }
    keel_side(d, len, &g_keel);
    diff_llhttp(d, len, &g_llhttp);
    diff_http_parser(d, len, &g_hp);
    if (g_verbose) {
        dump("keel", &g_keel.r);
        dump("llhttp", &g_llhttp);
        dump("http-parser", &g_hp);
    }
    compare(d, len, &g_keel, &g_llhttp, "llhttp", true);
    compare(d, len, &g_keel, &g_hp, "http-parser", false);
    free(d);
    return 0;
}

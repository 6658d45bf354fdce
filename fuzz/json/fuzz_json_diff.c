/*
 * fuzz/json/fuzz_json_diff.c - keel's JSON parser against cJSON (Debian's
 * libcjson 1.7.15) on the same bytes.
 *
 * Drives: keel_json_validate, keel_json_parse, keel_json_tokenizer_init,
 * keel_json_next, keel_json_next_child, keel_json_get_string,
 * keel_json_get_i64, keel_json_get_double, keel_json_get_bool,
 * keel_json_is_null; and cJSON_ParseWithLengthOpts (NUL-terminated copy,
 * require_null_terminated so trailing data is an error), cJSON_Delete.
 *
 * Input: the document. keel runs with max_depth 1000, cJSON's
 * CJSON_NESTING_LIMIT, so the depth limits coincide exactly.
 *
 * Properties: both accept or both reject; when both accept, the trees are
 * equal: same types, same member order and keys, strings byte-equal after
 * unescaping, doubles bit-equal (both round correctly), integers equal where
 * keel reads them as int64 and a double holds them exactly, keel's
 * TOO_LARGE exactly where cJSON holds an infinity or (keel's documented
 * limit) the number text is longer than 1100 bytes.
 *
 * cJSON is more lenient than RFC 8259 in known ways. Each such
 * disagreement is recognised narrowly from keel's error offset and reason
 * (never "ignore strings"), then REPAIRED in both copies with bytes both
 * parsers read alike, and the comparison runs again on the repaired
 * document, so a leniency cannot hide a keel bug further on. Repairing
 * never gives up silently: each repair must move keel's error (offset or
 * reason), and the parsers must agree within size + 1 rounds, else the
 * harness fails. The classes
 * (fuzz/README.md has an example input of each):
 *   utf8     keel BAD_UTF8 where json_ref.h agrees the sequence is invalid;
 *            cJSON copies string bytes unchecked. Repair: '?' per byte.
 *   ctrl     keel CONTROL_CHAR on a raw byte < 0x20 in a string; cJSON
 *            copies it. Repair: ' '.
 *   space    keel rejects a byte <= 0x20 that is not SP/HT/CR/LF (NUL, VT,
 *            FF, ...) outside strings; cJSON's whitespace is any byte <= 32.
 *            Repair: ' '.
 *   bom      a leading UTF-8 BOM, which cJSON skips. Repair: 3 spaces.
 *   number   keel rejects a number that strtod reads whole (cJSON collects
 *            [0-9+-eE.] then calls strtod): leading zeros, "1.", "-.5",
 *            "1.e5". Repair: "0" and spaces.
 *   hex      keel BAD_ESCAPE on "\u" followed by a non-hex digit; cJSON's
 *            parse_hex4 returns 0 for it (decodes U+0000). Repair: "0001" (hex digits, same length).
 *   nul      (on values) a string holding U+0000: cJSON's strings end at
 *            the first NUL, so only the part before it is compared.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz_check.h"
#include "json_ref.h"
#include "keel/json.h"

#define DEPTH 1000u
/* keel_json_get_double refuses longer number texts (TOO_LARGE, documented). */
#define NUMBER_TEXT_MAX 1100u

#if CJSON_NESTING_LIMIT != 1000
#error "the harness matches keel's max_depth to cJSON's nesting limit of 1000"
#endif

typedef struct diff {
    uint8_t *doc;   /* exact size: keel's view, so ASan sees an over-read */
    char *cdoc;     /* the same bytes plus a NUL: cJSON's view */
    size_t len;
    uint8_t *dec;   /* decoded strings */
} diff;

static keel_slice mk(const uint8_t *p, size_t n)
{
    keel_slice s = { n > 0 ? p : NULL, n };
    return s;
}

static bool num_char(uint8_t c)
{
    return ref_digit(c) || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

/* Set doc[at .. at+n) to c in both views. */
static void fill(diff *d, size_t at, size_t n, uint8_t c)
{
    for (size_t i = at; i < at + n; i++) {
        d->doc[i] = c;
        d->cdoc[i] = (char)c;
    }
}

/* ---- keel rejects, cJSON accepts ---------------------------------------- */

static bool lenient_number(diff *d, size_t o)
{
    size_t s = o < d->len ? o : d->len;
    while (s > 0 && num_char(d->doc[s - 1])) {
        s--;
    }
    if (s >= d->len || (d->doc[s] != '-' && !ref_digit(d->doc[s]))) {
        return false;
    }
    size_t n = 0;
    while (s + n < d->len && num_char(d->doc[s + n])) {
        n++;
    }
    if (o > s + n || ref_number(d->doc + s, n)) {
        return false;
    }
    /* strtod must read the whole run, as cJSON's parse_number needs. */
    char save = d->cdoc[s + n];
    d->cdoc[s + n] = 0;
    char *end = NULL;
    (void)strtod(d->cdoc + s, &end);
    d->cdoc[s + n] = save;
    if (end != d->cdoc + s + n) {
        return false;
    }
    fill(d, s, n, ' ');
    fill(d, s, 1, '0');
    return true;
}

static bool lenient_hex(diff *d, size_t o)
{
    for (size_t back = 0; back <= 5 && back <= o; back++) {
        size_t b = o - back;
        uint32_t v;
        if (b + 6 <= d->len && d->doc[b] == '\\' && d->doc[b + 1] == 'u' &&
            !ref_hex4(d->doc, d->len, b + 2, &v)) {
            fill(d, b + 2, 3, '0');
            fill(d, b + 5, 1, '1');
            return true;
        }
    }
    return false;
}

/* Recognise (and repair) why cJSON accepted what keel rejected. (Debian's
 * 1.7.15 carries the CVE-2023-26819 fix: numbers of any length parse, so
 * upstream's 63-byte number limit is not a class here.) */
static bool cjson_leniency(diff *d, const keel_json_error *e)
{
    size_t o = e->offset;
    uint8_t c = o < d->len ? d->doc[o] : 0;
    bool ok;
    if (d->len >= 4 && memcmp(d->doc, "\xEF\xBB\xBF", 3) == 0 && o < 3) {
        fill(d, 0, 3, ' ');
        return true;
    }
    switch (e->reason) {
    case KEEL_JSON_BAD_UTF8:
        if (o < d->len) {
            size_t k = ref_utf8(d->doc + o, d->len - o, &ok);
            if (!ok) {
                fill(d, o, k, '?');
                return true;
            }
        }
        return false;
    case KEEL_JSON_CONTROL_CHAR:
        if (o < d->len && c < 0x20) {
            fill(d, o, 1, ' ');
            return true;
        }
        return false;
    case KEEL_JSON_BAD_ESCAPE:
        return lenient_hex(d, o);
    default:
        break;
    }
    if (o < d->len && c <= 0x20 && !ref_ws(c) &&
        (e->reason == KEEL_JSON_UNEXPECTED_BYTE || e->reason == KEEL_JSON_TRAILING_DATA)) {
        fill(d, o, 1, ' ');
        return true;
    }
    return lenient_number(d, o);
}

/* ---- both accept: the same tree ------------------------------------------ */

static void same_string(diff *d, const keel_json_value *v, const char *cs)
{
    FUZZ_CHECK(cs != NULL);
    keel_buf b = { d->dec, d->len + 1, 0 };
    FUZZ_CHECK(keel_json_get_string(v, &b) == KEEL_OK);
    const uint8_t *nul = b.len > 0 ? memchr(d->dec, 0, b.len) : NULL;
    size_t n = nul != NULL ? (size_t)(nul - d->dec) : b.len;
    FUZZ_CHECK(strlen(cs) == n && memcmp(cs, d->dec, n) == 0);
}

static void same_number(const keel_json_value *v, const cJSON *c)
{
    double kd;
    int64_t ki;
    keel_result r = keel_json_get_double(v, &kd);
    if (isinf(c->valuedouble) || v->raw.len > NUMBER_TEXT_MAX) {
        FUZZ_CHECK(r == KEEL_ERR_TOO_LARGE);
        return;
    }
    FUZZ_CHECK(r == KEEL_OK && memcmp(&kd, &c->valuedouble, sizeof kd) == 0);
    if (keel_json_get_i64(v, &ki) == KEEL_OK && ki >= -(INT64_C(1) << 53) &&
        ki <= (INT64_C(1) << 53)) {
        FUZZ_CHECK((double)ki == c->valuedouble);
    }
}

static void same_tree(diff *d, const keel_json_value *v, const cJSON *c)
{
    int ct = c->type & 0xFF;
    bool b;
    switch (v->type) {
    case KEEL_JSON_T_NULL: FUZZ_CHECK(ct == cJSON_NULL && keel_json_is_null(v)); return;
    case KEEL_JSON_T_BOOL:
        FUZZ_CHECK(keel_json_get_bool(v, &b) == KEEL_OK);
        FUZZ_CHECK(ct == (b ? cJSON_True : cJSON_False));
        return;
    case KEEL_JSON_T_NUMBER: FUZZ_CHECK(ct == cJSON_Number); same_number(v, c); return;
    case KEEL_JSON_T_STRING: FUZZ_CHECK(ct == cJSON_String); same_string(d, v, c->valuestring); return;
    case KEEL_JSON_T_ARRAY: FUZZ_CHECK(ct == cJSON_Array); break;
    case KEEL_JSON_T_OBJECT: FUZZ_CHECK(ct == cJSON_Object); break;
    default: FUZZ_FAIL("unknown keel_json_type");
    }
    size_t pos = 0;
    keel_slice key;
    keel_json_value child;
    const cJSON *cc = c->child;
    keel_result r;
    while ((r = keel_json_next_child(v, &pos, &key, &child)) == KEEL_OK) {
        FUZZ_CHECK(cc != NULL);
        if (v->type == KEEL_JSON_T_OBJECT) {
            keel_json_value kv = { KEEL_JSON_T_STRING, key, 0 };
            same_string(d, &kv, cc->string);
        }
        same_tree(d, &child, cc);
        cc = cc->next;
    }
    FUZZ_CHECK(r == KEEL_ERR_NOT_FOUND && cc == NULL);
}

static void report(const char *what, const diff *d, const keel_json_error *e)
{
    fprintf(stderr, "json_diff: %s (keel: offset %zu, %s; %zu bytes)\n", what, e->offset,
            keel_json_reason_str(e->reason), d->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    diff d;
    d.len = size;
    d.doc = malloc(size > 0 ? size : 1);
    d.cdoc = malloc(size + 1);
    d.dec = malloc(size + 1);
    FUZZ_CHECK(d.doc != NULL && d.cdoc != NULL && d.dec != NULL);
    if (size > 0) {
        memcpy(d.doc, data, size);
        memcpy(d.cdoc, data, size);
    }
    d.cdoc[size] = 0;

    /* Every round repairs at least one byte at or after the last error, so
     * size + 1 rounds are always enough. */
    bool agreed = false;
    keel_json_error last = { SIZE_MAX, KEEL_JSON_OK };
    for (size_t round = 0; round <= size; round++) {
        keel_json_doc jd;
        keel_json_error e;
        /* cJSON keeps repeated keys (its lookups answer the first, as
         * keel's do when they are allowed): compare with them allowed. */
        keel_json_parse_options o = { DEPTH, true };
        keel_result kr = keel_json_parse_opts(mk(d.doc, size), &o, &jd, &e);
        FUZZ_CHECK(kr == KEEL_OK || kr == KEEL_ERR_PARSE || kr == KEEL_ERR_INCOMPLETE ||
                   kr == KEEL_ERR_TOO_LARGE);
        cJSON *c = cJSON_ParseWithLengthOpts(d.cdoc, size + 1, NULL, 1);
        bool cok = c != NULL;
        if (kr == KEEL_OK && cok) {
            same_tree(&d, &jd.root, c);
        }
        cJSON_Delete(c);
        if ((kr == KEEL_OK) == cok) {
            agreed = true;
            break;
        }
        if (kr == KEEL_OK) {
            report("keel accepts what cJSON rejects", &d, &e);
            FUZZ_FAIL("keel accepts, cJSON rejects");
        }
        if (e.offset == last.offset && e.reason == last.reason) {
            report("a repair did not move keel's error", &d, &e);
            FUZZ_FAIL("repair made no progress");
        }
        last = e;
        if (!cjson_leniency(&d, &e)) {
            report("keel rejects what cJSON accepts", &d, &e);
            FUZZ_FAIL("keel rejects, cJSON accepts, no known cJSON leniency explains it");
        }
    }
    if (!agreed) {
        FUZZ_FAIL("keel and cJSON still disagree after size + 1 repairs");
    }
    free(d.doc);
    free(d.cdoc);
    free(d.dec);
    return 0;
}

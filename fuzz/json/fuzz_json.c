/*
 * fuzz/json/fuzz_json.c - keel's JSON validator, tokenizer, lookup, typed
 * extraction and writer (src/json/json.c, src/json/json_value.c, src/json/json_write.c).
 *
 * Drives: keel_json_validate, keel_json_tokenizer_init, keel_json_next,
 * keel_json_parse, keel_json_next_child, keel_json_find,
 * keel_json_get_string, keel_json_string_eq, keel_json_get_i64,
 * keel_json_get_double, keel_json_get_bool, keel_json_is_null,
 * keel_json_reason_str, keel_json_writer_init and every keel_json_write_*,
 * keel_json_writer_finish, keel_json_extract.
 *
 * Input: the document itself (so seeds are plain JSON files). Properties:
 *  - validate and the tokenizer agree: same result, offset and reason;
 *    errors are sticky, END repeats; the reason matches the result
 *    (UNEXPECTED_END <-> INCOMPLETE, TOO_DEEP <-> TOO_LARGE, else PARSE).
 *  - the token stream obeys the grammar, checked by a model: offsets
 *    increase, raw slices lie inside the document at their offset, the gaps
 *    hold only whitespace and exactly the ',' / ':' the grammar needs,
 *    strings/numbers/literals are well formed per json_ref.h, depths follow
 *    the open containers, END comes last at depth 0.
 *  - depth limit: with max_depth d the result is TOO_DEEP exactly at the
 *    first container opened at depth d (if it comes before any other
 *    error), otherwise the same as with the cap.
 *  - prefixes: for a valid document, each prefix is OK when it holds the
 *    whole top-level value or when the top-level value is a number and the
 *    prefix ends on one of its digits ("12" of "123"; "1." and "1e" are
 *    INCOMPLETE); every other prefix is INCOMPLETE with offset = its
 *    length. For an invalid document the bytes before the error offset
 *    are a viable prefix: OK or INCOMPLETE. Each prefix is an exact-size
 *    copy, so reading past it is an ASan error.
 *  - on valid documents: a recursive walk with next_child visits exactly the
 *    token stream (values, keys, matching ends, raw spans); find with the
 *    path built from the walk (".key" when the key is first of its name and
 *    has no '.'/'[', "[i]") returns the same value, from the root and one
 *    step from the parent; wrong-type and malformed paths fail as
 *    documented.
 *  - typed extraction: get_string equals the reference decoding (and is
 *    UTF-8), appends after existing bytes, and into a buf one byte short is
 *    TOO_LARGE with the buf (fields and filled bytes) untouched; string_eq
 *    agrees; get_i64 matches a
 *    reference (PARSE with fraction/exponent, TOO_LARGE outside int64);
 *    get_double equals glibc strtod bit for bit (TOO_LARGE when it
 *    overflows or the text is longer than 1100 bytes); other types are PARSE with the out-parameter untouched.
 *  - writer round trip: the tokens re-emitted through the writer form a
 *    document that validates and tokenizes to the same kinds, depths,
 *    decoded strings and numbers, with no whitespace; writing through a
 *    small buf that is flushed on TOO_LARGE gives the same bytes (all or
 *    nothing, writer still usable); a value after the end is STATE.
 *  - keel_json_extract with a table built from the document's members (the
 *    root's and one level down; types mostly the member's own, some wrong,
 *    some required, a required name that is not there, short string
 *    bufs): the validator's verdict for invalid documents, TYPE for a
 *    root that is not an object; else OK with the values of
 *    keel_json_member + the typed getters when every field checks out
 *    there, or a failure that the field it names really has, with nothing
 *    but strings written.
 *  - the word scans (proofs/README.md, Assumption 52) against byte-wise
 *    answers on the input's bytes: the string-stop and not-a-space masks
 *    on every eight-byte window, the skip of a string from each quote, the
 *    whitespace skip from each place (the first 256).
 *  - the whole input written as one string: REJECT accepts exactly valid
 *    UTF-8; REPLACE yields a document whose string decodes to the input with
 *    each maximal invalid subpart replaced by U+FFFD.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "json/json_internal.h"
#include "json_ref.h"
#include "keel/json.h"

#define CAP KEEL_JSON_DEPTH_CAP
#define PATH_CAP 4096u
/* Bounds on the quadratic checks, so large inputs stay fast. */
#define PATH_VALUES 256u
#define DUP_SCAN 64u
#define PREFIXES 64u
/* keel_json_get_double refuses longer number texts (TOO_LARGE, documented). */
#define NUMBER_TEXT_MAX 1100u
/* Bounds on the word-scan checks' starting points. */
#define WORD_STARTS 256u

static keel_slice mk(const uint8_t *p, size_t n)
{
    keel_slice s = { n > 0 ? p : NULL, n };
    return s;
}

static keel_buf mkbuf(uint8_t *p, size_t cap, size_t len)
{
    keel_buf b = { p, cap, len };
    return b;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        FUZZ_FAIL("out of memory");
    }
    return p;
}

/* ---- errors ----------------------------------------------------------- */

static void check_error(keel_result r, const keel_json_error *e, size_t len)
{
    FUZZ_CHECK(r == KEEL_OK || r == KEEL_ERR_PARSE || r == KEEL_ERR_INCOMPLETE ||
               r == KEEL_ERR_TOO_LARGE);
    if (r == KEEL_OK) {
        FUZZ_CHECK(e->offset == 0 && e->reason == KEEL_JSON_OK);
        return;
    }
    FUZZ_CHECK(e->offset <= len);
    FUZZ_CHECK(e->reason > KEEL_JSON_OK && e->reason < KEEL_JSON_REASON_COUNT);
    FUZZ_CHECK(keel_json_reason_str(e->reason) != NULL);
    if (r == KEEL_ERR_INCOMPLETE) {
        FUZZ_CHECK(e->reason == KEEL_JSON_UNEXPECTED_END && e->offset == len);
    } else if (r == KEEL_ERR_TOO_LARGE) {
        FUZZ_CHECK(e->reason == KEEL_JSON_TOO_DEEP);
    } else {
        FUZZ_CHECK(e->reason != KEEL_JSON_UNEXPECTED_END && e->reason != KEEL_JSON_TOO_DEEP);
    }
}

/* The grammar alone (repeated keys allowed), which the tokenizer checks
 * too: keel_json_parse_opts with allow_duplicate_keys. The default, which
 * refuses repeated keys, is checked against ref_repeat below. */
static keel_result validate(keel_slice doc, uint32_t depth, keel_json_error *e)
{
    keel_json_error dummy = { 12345u, KEEL_JSON_TOO_DEEP };
    keel_json_parse_options o = { depth, true };
    keel_json_doc d;
    keel_result r = keel_json_parse_opts(doc, &o, &d, e != NULL ? e : &dummy);
    check_error(r, e != NULL ? e : &dummy, doc.len);
    FUZZ_CHECK(keel_json_parse_opts(doc, &o, &d, NULL) == r);
    FUZZ_CHECK(r == KEEL_OK || r == KEEL_ERR_INVALID_ARG || e == NULL ||
               e->reason != KEEL_JSON_DUPLICATE_KEY);
    return r;
}

/* ---- tokens and the grammar model --------------------------------------- */

typedef struct toks {
    keel_json_token *t;
    size_t n;          /* tokens before END or the error; END not stored */
    keel_result r;     /* KEEL_OK when END was reached */
    keel_json_error err;
    uint32_t max_open; /* deepest nesting seen */
} toks;

enum { S_VALUE, S_VALUE_OR_CLOSE, S_KEY_OR_CLOSE, S_KEY, S_COLON, S_AFTER, S_DONE };

static bool is_value_start(keel_json_kind k)
{
    return k == KEEL_JSON_OBJECT_BEGIN || k == KEEL_JSON_ARRAY_BEGIN || k == KEEL_JSON_STRING ||
           k == KEEL_JSON_NUMBER || k == KEEL_JSON_TRUE || k == KEEL_JSON_FALSE ||
           k == KEEL_JSON_NULL;
}

static void check_token_bytes(const keel_json_token *t, uint8_t *scratch)
{
    const uint8_t *p = t->raw.ptr;
    size_t n = t->raw.len;
    size_t dlen;
    switch (t->kind) {
    case KEEL_JSON_OBJECT_BEGIN: FUZZ_CHECK(n == 1 && p[0] == '{'); break;
    case KEEL_JSON_OBJECT_END: FUZZ_CHECK(n == 1 && p[0] == '}'); break;
    case KEEL_JSON_ARRAY_BEGIN: FUZZ_CHECK(n == 1 && p[0] == '['); break;
    case KEEL_JSON_ARRAY_END: FUZZ_CHECK(n == 1 && p[0] == ']'); break;
    case KEEL_JSON_KEY:
    case KEEL_JSON_STRING:
        FUZZ_CHECK(n >= 2 && p[0] == '"' && p[n - 1] == '"');
        FUZZ_CHECK(ref_string(p + 1, n - 2, scratch, &dlen));
        break;
    case KEEL_JSON_NUMBER: FUZZ_CHECK(ref_number(p, n)); break;
    case KEEL_JSON_TRUE: FUZZ_CHECK(n == 4 && memcmp(p, "true", 4) == 0); break;
    case KEEL_JSON_FALSE: FUZZ_CHECK(n == 5 && memcmp(p, "false", 5) == 0); break;
    case KEEL_JSON_NULL: FUZZ_CHECK(n == 4 && memcmp(p, "null", 4) == 0); break;
    default: FUZZ_FAIL("unknown token kind");
    }
}

/* The gap between two tokens: whitespace plus exactly `sep` (0: none). */
static void check_gap(const uint8_t *p, size_t n, uint8_t sep)
{
    size_t seps = 0;
    for (size_t i = 0; i < n; i++) {
        if (sep != 0 && p[i] == sep) {
            seps++;
        } else {
            FUZZ_CHECK(ref_ws(p[i]));
        }
    }
    FUZZ_CHECK(seps == (sep != 0 ? 1u : 0u));
}

/* Whether the KEY token at index k repeats (decoded, compared byte by byte
 * with the reference decoder) an earlier key of its own object: the keys
 * at its depth since the object's OBJECT_BEGIN. Quadratic, independent of
 * json_dups.c's sort. */
static bool ref_repeat(const toks *tk, size_t k, uint8_t *a, uint8_t *b)
{
    const keel_json_token *key = &tk->t[k];
    size_t alen = 0;
    FUZZ_CHECK(ref_string(key->raw.ptr + 1, key->raw.len - 2, a, &alen));
    for (size_t j = k; j-- > 0;) {
        const keel_json_token *o = &tk->t[j];
        if (o->kind == KEEL_JSON_OBJECT_BEGIN && o->depth + 1 == key->depth) {
            return false; /* the object's start */
        }
        size_t blen = 0;
        if (o->kind == KEEL_JSON_KEY && o->depth == key->depth) {
            FUZZ_CHECK(ref_string(o->raw.ptr + 1, o->raw.len - 2, b, &blen));
            if (blen == alen && memcmp(a, b, alen) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Tokenize doc completely, checking every token against the grammar model. */
static void tokenize(keel_slice doc, uint32_t max_depth, toks *out, uint8_t *scratch)
{
    keel_json_tokenizer t;
    FUZZ_CHECK(keel_json_tokenizer_init(&t, doc, max_depth) == KEEL_OK);
    uint8_t stack[CAP + 1]; /* 1 = object */
    uint32_t open = 0;
    int state = S_VALUE;
    size_t prev_end = 0;
    out->n = 0;
    out->max_open = 0;
    for (;;) {
        keel_json_token tok;
        keel_result r = keel_json_next(&t, &tok);
        if (r != KEEL_OK) {
            out->r = r;
            out->err = t.err;
            check_error(r, &t.err, doc.len);
            /* Every byte before the last good token's end was accepted. */
            FUZZ_CHECK(t.err.offset >= prev_end);
            keel_json_token again;
            FUZZ_CHECK(keel_json_next(&t, &again) == r);
            FUZZ_CHECK(t.err.offset == out->err.offset && t.err.reason == out->err.reason);
            return;
        }
        FUZZ_CHECK(tok.offset >= prev_end && tok.offset <= doc.len);
        if (tok.kind == KEEL_JSON_END) {
            FUZZ_CHECK(state == S_DONE && tok.depth == 0);
            check_gap(doc.ptr + prev_end, doc.len - prev_end, 0);
            out->r = KEEL_OK;
            out->err.offset = 0;
            out->err.reason = KEEL_JSON_OK;
            FUZZ_CHECK(keel_json_next(&t, &tok) == KEEL_OK && tok.kind == KEEL_JSON_END);
            return;
        }
        FUZZ_CHECK(tok.raw.len >= 1 && tok.raw.len <= doc.len - tok.offset);
        FUZZ_CHECK(tok.raw.ptr == doc.ptr + tok.offset);
        check_token_bytes(&tok, scratch);
        bool closes = tok.kind == KEEL_JSON_OBJECT_END || tok.kind == KEEL_JSON_ARRAY_END;
        uint8_t sep = 0;
        if (state == S_COLON) {
            sep = ':';
            state = S_VALUE;
        } else if (state == S_AFTER && !closes) {
            sep = ',';
            state = stack[open - 1] ? S_KEY : S_VALUE;
        }
        check_gap(doc.ptr + prev_end, tok.offset - prev_end, sep);
        bool value_done = false;
        if (closes) {
            bool obj = tok.kind == KEEL_JSON_OBJECT_END;
            FUZZ_CHECK(open > 0 && stack[open - 1] == (obj ? 1 : 0));
            FUZZ_CHECK(state == S_AFTER || state == (obj ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE));
            open--;
            FUZZ_CHECK(tok.depth == open);
            value_done = true;
        } else if (tok.kind == KEEL_JSON_KEY) {
            FUZZ_CHECK(state == S_KEY || state == S_KEY_OR_CLOSE);
            FUZZ_CHECK(tok.depth == open);
            state = S_COLON;
        } else {
            FUZZ_CHECK(is_value_start(tok.kind));
            FUZZ_CHECK(state == S_VALUE || state == S_VALUE_OR_CLOSE);
            FUZZ_CHECK(tok.depth == open);
            if (tok.kind == KEEL_JSON_OBJECT_BEGIN || tok.kind == KEEL_JSON_ARRAY_BEGIN) {
                FUZZ_CHECK(open < max_depth && open < CAP);
                stack[open++] = tok.kind == KEEL_JSON_OBJECT_BEGIN;
                if (open > out->max_open) {
                    out->max_open = open;
                }
                state = stack[open - 1] ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
            } else {
                value_done = true;
            }
        }
        if (value_done) {
            state = open == 0 ? S_DONE : S_AFTER;
        }
        out->t[out->n++] = tok;
        prev_end = tok.offset + tok.raw.len;
    }
}

/* What validate(doc, d) must say, from the cap run: TOO_DEEP at the first
 * container opened at depth d if it comes before the cap run's end. */
static void check_depth_limit(keel_slice doc, const toks *cap, uint32_t d)
{
    uint32_t eff = d == 0 ? KEEL_JSON_DEFAULT_DEPTH : d;
    keel_json_error e;
    keel_result r = validate(doc, d, &e);
    for (size_t i = 0; i < cap->n; i++) {
        const keel_json_token *t = &cap->t[i];
        if ((t->kind == KEEL_JSON_OBJECT_BEGIN || t->kind == KEEL_JSON_ARRAY_BEGIN) &&
            t->depth >= eff) {
            FUZZ_CHECK(r == KEEL_ERR_TOO_LARGE && e.reason == KEEL_JSON_TOO_DEEP &&
                       e.offset == t->offset);
            return;
        }
    }
    if (cap->r == KEEL_ERR_TOO_LARGE && eff < CAP) {
        /* The cap run stopped at a container it could not open: so does this one. */
        FUZZ_CHECK(r == KEEL_ERR_TOO_LARGE && e.offset == cap->err.offset);
        return;
    }
    FUZZ_CHECK(r == cap->r && e.offset == cap->err.offset && e.reason == cap->err.reason);
}

/* ---- prefixes ------------------------------------------------------------ */

static keel_result validate_copy(const uint8_t *p, size_t k, keel_json_error *e)
{
    uint8_t *copy = xmalloc(k);
    if (k > 0) {
        memcpy(copy, p, k);
    }
    keel_result r = validate(mk(copy, k), CAP, e);
    free(copy);
    return r;
}

static void check_prefixes(keel_slice doc, const toks *tk)
{
    size_t n = doc.len;
    if (tk->r != KEEL_OK) {
        if (tk->r != KEEL_ERR_INCOMPLETE) {
            keel_json_error e;
            keel_result r = validate_copy(doc.ptr, tk->err.offset, &e);
            FUZZ_CHECK(r == KEEL_OK || r == KEEL_ERR_INCOMPLETE);
        }
        return;
    }
    const keel_json_token *first = &tk->t[0];
    const keel_json_token *last = &tk->t[tk->n - 1];
    size_t start = first->offset;
    size_t end = last->offset + last->raw.len;
    size_t step = n / PREFIXES + 1u;
    for (size_t k = 0; k < n; k++) {
        if (k % step != 0 && k + 2 < n) {
            continue;
        }
        keel_json_error e;
        keel_result r = validate_copy(doc.ptr, k, &e);
        bool whole = k >= end;
        bool number = first->kind == KEEL_JSON_NUMBER && k > start && ref_digit(doc.ptr[k - 1]);
        if (whole || number) {
            FUZZ_CHECK(r == KEEL_OK);
        } else {
            FUZZ_CHECK(r == KEEL_ERR_INCOMPLETE && e.offset == k);
        }
    }
}

/* ---- walk, lookup, extraction --------------------------------------------- */

typedef struct walk {
    const toks *tk;
    size_t i;           /* next token expected */
    keel_json_value root;
    uint8_t *dec;       /* decoded string (n + 8 bytes) */
    uint8_t *dec2;      /* decoded sibling key / string_eq probes */
    uint8_t *out;       /* get_string destination */
    uint8_t *step;      /* a one-step path */
    size_t cap;         /* size of each of the above */
    uint8_t path[PATH_CAP];
    size_t values;
} walk;

static keel_json_type type_of(keel_json_kind k)
{
    switch (k) {
    case KEEL_JSON_OBJECT_BEGIN: return KEEL_JSON_T_OBJECT;
    case KEEL_JSON_ARRAY_BEGIN: return KEEL_JSON_T_ARRAY;
    case KEEL_JSON_STRING: return KEEL_JSON_T_STRING;
    case KEEL_JSON_NUMBER: return KEEL_JSON_T_NUMBER;
    case KEEL_JSON_TRUE:
    case KEEL_JSON_FALSE: return KEEL_JSON_T_BOOL;
    case KEEL_JSON_NULL: return KEEL_JSON_T_NULL;
    default: FUZZ_FAIL("not a value token");
    }
}

static bool same_value(const keel_json_value *a, const keel_json_value *b)
{
    return a->type == b->type && a->offset == b->offset && a->raw.ptr == b->raw.ptr &&
           a->raw.len == b->raw.len;
}

/* The decoded string of a (validated) STRING value or KEY raw into out. */
static size_t ref_decode(keel_slice raw, uint8_t *out)
{
    size_t n = 0;
    FUZZ_CHECK(raw.len >= 2 && ref_string(raw.ptr + 1, raw.len - 2, out, &n));
    return n;
}

static void check_string(walk *w, const keel_json_value *v)
{
    size_t n = ref_decode(v->raw, w->dec);
    /* Appends after what is there. */
    memcpy(w->out, "abc", 3);
    keel_buf b = mkbuf(w->out, 3 + n, 3);
    FUZZ_CHECK(keel_json_get_string(v, &b) == KEEL_OK);
    FUZZ_CHECK(b.len == 3 + n && memcmp(w->out, "abc", 3) == 0);
    FUZZ_CHECK(n == 0 || memcmp(w->out + 3, w->dec, n) == 0);
    FUZZ_CHECK(ref_utf8_valid(w->out + 3, n));
    if (n > 0) {
        /* One byte short: all or nothing (the filled bytes and the buf's
         * fields; the spare bytes are the buf's to scribble on). */
        memcpy(w->out, "abc", 3);
        b = mkbuf(w->out, 3 + n - 1, 3);
        FUZZ_CHECK(keel_json_get_string(v, &b) == KEEL_ERR_TOO_LARGE);
        FUZZ_CHECK(b.len == 3 && b.cap == 3 + n - 1 && b.ptr == w->out);
        FUZZ_CHECK(memcmp(w->out, "abc", 3) == 0);
    }
    FUZZ_CHECK(keel_json_string_eq(v, mk(w->dec, n)));
    if (n > 0) {
        FUZZ_CHECK(!keel_json_string_eq(v, mk(w->dec, n - 1)));
        memcpy(w->dec2, w->dec, n);
        w->dec2[n - 1] ^= 0x01;
        FUZZ_CHECK(!keel_json_string_eq(v, mk(w->dec2, n)));
    }
    memcpy(w->dec2, w->dec, n);
    w->dec2[n] = 'x';
    FUZZ_CHECK(!keel_json_string_eq(v, mk(w->dec2, n + 1)));
}

/* The reference integer (of a validated number): TYPE with a
 * fraction/exponent (a number, not an integer), TOO_LARGE outside int64. */
static keel_result ref_i64(keel_slice raw, int64_t *out)
{
    size_t i = 0;
    bool neg = raw.ptr[0] == '-';
    uint64_t mag = 0;
    for (i = neg ? 1 : 0; i < raw.len; i++) {
        if (!ref_digit(raw.ptr[i])) {
            return KEEL_ERR_TYPE;
        }
    }
    for (i = neg ? 1 : 0; i < raw.len; i++) {
        uint64_t d = (uint64_t)(raw.ptr[i] - '0');
        if (mag > (UINT64_MAX - d) / 10u) {
            return KEEL_ERR_TOO_LARGE;
        }
        mag = mag * 10u + d;
    }
    if (neg ? mag > (uint64_t)INT64_MAX + 1u : mag > (uint64_t)INT64_MAX) {
        return KEEL_ERR_TOO_LARGE;
    }
    *out = neg ? (mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return KEEL_OK;
}

static double ref_double(keel_slice raw, uint8_t *scratch, bool *overflow)
{
    memcpy(scratch, raw.ptr, raw.len);
    scratch[raw.len] = 0;
    char *end = NULL;
    double d = strtod((const char *)scratch, &end);
    FUZZ_CHECK(end == (char *)scratch + raw.len);
    *overflow = isinf(d);
    return d;
}

static void check_number(walk *w, const keel_json_value *v)
{
    int64_t want = 0;
    int64_t got = 0x5a5a5a5a;
    keel_result rr = ref_i64(v->raw, &want);
    keel_result r = keel_json_get_i64(v, &got);
    FUZZ_CHECK(r == rr);
    FUZZ_CHECK(r == KEEL_OK ? got == want : got == 0x5a5a5a5a);

    bool overflow;
    double dw = ref_double(v->raw, w->dec, &overflow);
    double dg = 0.5;
    r = keel_json_get_double(v, &dg);
    if (overflow || v->raw.len > NUMBER_TEXT_MAX) {
        FUZZ_CHECK(r == KEEL_ERR_TOO_LARGE && dg == 0.5);
    } else {
        FUZZ_CHECK(r == KEEL_OK && memcmp(&dg, &dw, sizeof dg) == 0);
    }
}

/* Everything a value of one type answers, and what the others refuse. */
static void check_value(walk *w, const keel_json_value *v)
{
    int64_t i = 7;
    double d = 7.0;
    bool b = true;
    uint8_t store[4] = { 1, 2, 3, 4 };
    keel_buf buf = mkbuf(store, sizeof store, 2);
    if (v->type == KEEL_JSON_T_NUMBER) {
        check_number(w, v);
    } else {
        FUZZ_CHECK(keel_json_get_i64(v, &i) == KEEL_ERR_TYPE && i == 7);
        FUZZ_CHECK(keel_json_get_double(v, &d) == KEEL_ERR_TYPE && d == 7.0);
    }
    if (v->type == KEEL_JSON_T_BOOL) {
        FUZZ_CHECK(keel_json_get_bool(v, &b) == KEEL_OK && b == (v->raw.ptr[0] == 't'));
    } else {
        FUZZ_CHECK(keel_json_get_bool(v, &b) == KEEL_ERR_TYPE && b);
    }
    FUZZ_CHECK(keel_json_is_null(v) == (v->type == KEEL_JSON_T_NULL));
    if (v->type == KEEL_JSON_T_STRING) {
        check_string(w, v);
    } else {
        FUZZ_CHECK(keel_json_get_string(v, &buf) == KEEL_ERR_TYPE);
        FUZZ_CHECK(buf.len == 2 && store[0] == 1 && store[1] == 2 && store[2] == 3);
        FUZZ_CHECK(!keel_json_string_eq(v, mk(NULL, 0)));
    }
}

static keel_result find(const keel_json_value *in, const uint8_t *p, size_t n, keel_json_value *out)
{
    return keel_json_find(in, mk(p, n), out);
}

static void check_paths_shape(const keel_json_value *v, size_t count)
{
    keel_json_value f;
    FUZZ_CHECK(find(v, NULL, 0, &f) == KEEL_OK && same_value(&f, v));
    static const char *const bad[] = { "[", "[x]", "[1", "]", "[-1]", "x" };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        keel_result r = find(v, (const uint8_t *)bad[k], strlen(bad[k]), &f);
        FUZZ_CHECK(r == KEEL_ERR_PARSE || r == KEEL_ERR_NOT_FOUND);
    }
    FUZZ_CHECK(find(v, (const uint8_t *)"[", 1, &f) == KEEL_ERR_PARSE);
    FUZZ_CHECK(find(v, (const uint8_t *)"[x]", 3, &f) == KEEL_ERR_PARSE);
    char idx[32];
    int k = snprintf(idx, sizeof idx, "[%zu]", count);
    FUZZ_CHECK(k > 0 && find(v, (const uint8_t *)idx, (size_t)k, &f) == KEEL_ERR_NOT_FOUND);
    if (v->type != KEEL_JSON_T_ARRAY) {
        FUZZ_CHECK(find(v, (const uint8_t *)"[0]", 3, &f) == KEEL_ERR_NOT_FOUND);
    }
    if (v->type != KEEL_JSON_T_OBJECT) {
        FUZZ_CHECK(find(v, (const uint8_t *)".a", 2, &f) == KEEL_ERR_NOT_FOUND);
    }
}

/* The first member of obj whose key decodes to k[0..n), or NULL. */
static bool first_with_key(walk *w, const keel_json_value *obj, const uint8_t *k, size_t n,
                           keel_json_value *out)
{
    size_t pos = 0;
    keel_slice key;
    while (keel_json_next_child(obj, &pos, &key, out) == KEEL_OK) {
        size_t m = ref_decode(key, w->dec2);
        if (m == n && (n == 0 || memcmp(w->dec2, k, n) == 0)) {
            return true;
        }
    }
    return false;
}

static void visit(walk *w, const keel_json_value *v, size_t path_len, bool path_ok)
{
    FUZZ_CHECK(w->i < w->tk->n);
    const keel_json_token *t = &w->tk->t[w->i++];
    FUZZ_CHECK(t->offset == v->offset && v->raw.ptr == t->raw.ptr);
    FUZZ_CHECK(type_of(t->kind) == v->type);
    check_value(w, v);
    keel_json_value f;
    bool budget = w->values++ < PATH_VALUES;
    if (path_ok && budget) {
        FUZZ_CHECK(find(&w->root, w->path, path_len, &f) == KEEL_OK && same_value(&f, v));
    }
    size_t pos = 0;
    keel_slice key = { NULL, 0 };
    keel_json_value child;
    if (v->type != KEEL_JSON_T_ARRAY && v->type != KEEL_JSON_T_OBJECT) {
        FUZZ_CHECK(v->raw.len == t->raw.len);
        FUZZ_CHECK(keel_json_next_child(v, &pos, &key, &child) == KEEL_ERR_INVALID_ARG);
        if (budget) {
            check_paths_shape(v, 0);
        }
        return;
    }
    bool obj = v->type == KEEL_JSON_T_OBJECT;
    size_t count = 0;
    for (;;) {
        keel_result r = keel_json_next_child(v, &pos, &key, &child);
        if (r == KEEL_ERR_NOT_FOUND) {
            break;
        }
        FUZZ_CHECK(r == KEEL_OK);
        size_t step_len;
        bool step_ok = true;
        if (obj) {
            FUZZ_CHECK(w->i < w->tk->n);
            const keel_json_token *kt = &w->tk->t[w->i++];
            FUZZ_CHECK(kt->kind == KEEL_JSON_KEY && key.ptr == kt->raw.ptr && key.len == kt->raw.len);
            keel_json_value kv = { KEEL_JSON_T_STRING, key, kt->offset };
            check_string(w, &kv);
            size_t n = ref_decode(key, w->step + 1);
            w->step[0] = '.';
            step_len = n + 1;
            step_ok = n > 0 && memchr(w->step + 1, '.', n) == NULL &&
                      memchr(w->step + 1, '[', n) == NULL;
            if (step_ok && budget && count < DUP_SCAN) {
                keel_json_value want;
                FUZZ_CHECK(first_with_key(w, v, w->step + 1, n, &want));
                FUZZ_CHECK(find(v, w->step, step_len, &f) == KEEL_OK && same_value(&f, &want));
                step_ok = same_value(&want, &child);
            } else {
                step_ok = false;
            }
        } else {
            int k = snprintf((char *)w->step, w->cap, "[%zu]", count);
            FUZZ_CHECK(k > 0);
            step_len = (size_t)k;
            if (budget && count < DUP_SCAN) {
                FUZZ_CHECK(find(v, w->step, step_len, &f) == KEEL_OK && same_value(&f, &child));
            }
        }
        bool child_ok = path_ok && step_ok && path_len + step_len <= PATH_CAP;
        if (child_ok) {
            memcpy(w->path + path_len, w->step, step_len);
        }
        visit(w, &child, child_ok ? path_len + step_len : 0, child_ok);
        count++;
    }
    FUZZ_CHECK(w->i < w->tk->n);
    const keel_json_token *end = &w->tk->t[w->i++];
    FUZZ_CHECK(end->kind == (obj ? KEEL_JSON_OBJECT_END : KEEL_JSON_ARRAY_END));
    FUZZ_CHECK(end->depth == t->depth);
    FUZZ_CHECK(v->raw.len == end->offset + 1 - v->offset);
    if (budget) {
        check_paths_shape(v, count);
    }
}

/* ---- writer ---------------------------------------------------------------- */

/* One token through the writer. */
static keel_result emit(keel_json_writer *wr, const keel_json_token *t, uint8_t *scratch)
{
    keel_json_value v = { KEEL_JSON_T_NUMBER, t->raw, t->offset };
    int64_t i;
    double d;
    switch (t->kind) {
    case KEEL_JSON_OBJECT_BEGIN: return keel_json_write_object_begin(wr);
    case KEEL_JSON_OBJECT_END: return keel_json_write_object_end(wr);
    case KEEL_JSON_ARRAY_BEGIN: return keel_json_write_array_begin(wr);
    case KEEL_JSON_ARRAY_END: return keel_json_write_array_end(wr);
    case KEEL_JSON_KEY: return keel_json_write_key(wr, mk(scratch, ref_decode(t->raw, scratch)));
    case KEEL_JSON_STRING:
        return keel_json_write_string(wr, mk(scratch, ref_decode(t->raw, scratch)));
    case KEEL_JSON_NUMBER:
        if (keel_json_get_i64(&v, &i) == KEEL_OK) {
            return keel_json_write_i64(wr, i);
        }
        FUZZ_CHECK(keel_json_get_double(&v, &d) == KEEL_OK);
        return keel_json_write_double(wr, d);
    case KEEL_JSON_TRUE: return keel_json_write_bool(wr, true);
    case KEEL_JSON_FALSE: return keel_json_write_bool(wr, false);
    case KEEL_JSON_NULL: return keel_json_write_null(wr);
    default: FUZZ_FAIL("unexpected token");
    }
}

/* All tokens into a buf of `cap`; with a flush area, TOO_LARGE moves the
 * buf's bytes there and retries. Returns false when a single item does not
 * fit an empty buf (only possible with a small cap). */
static bool write_all(const toks *tk, uint8_t *store, size_t cap, uint8_t *flushed,
                      size_t *flushed_len, size_t *len, uint8_t *scratch)
{
    keel_buf b = mkbuf(store, cap, 0);
    keel_json_writer wr;
    FUZZ_CHECK(keel_json_writer_init(&wr, &b, CAP, KEEL_JSON_UTF8_REJECT) == KEEL_OK);
    FUZZ_CHECK(keel_json_writer_finish(&wr) == KEEL_ERR_STATE);
    *flushed_len = 0;
    for (size_t i = 0; i < tk->n; i++) {
        size_t before = b.len;
        keel_result r = emit(&wr, &tk->t[i], scratch);
        if (r == KEEL_ERR_TOO_LARGE) {
            FUZZ_CHECK(b.len == before);
            if (flushed == NULL || before == 0) {
                return false;
            }
            memcpy(flushed + *flushed_len, store, before);
            *flushed_len += before;
            b.len = 0;
            r = emit(&wr, &tk->t[i], scratch);
            if (r == KEEL_ERR_TOO_LARGE) {
                FUZZ_CHECK(b.len == 0);
                return false;
            }
        }
        FUZZ_CHECK(r == KEEL_OK);
    }
    FUZZ_CHECK(keel_json_writer_finish(&wr) == KEEL_OK);
    size_t done = b.len;
    FUZZ_CHECK(keel_json_write_null(&wr) == KEEL_ERR_STATE && b.len == done);
    FUZZ_CHECK(keel_json_write_array_end(&wr) == KEEL_ERR_STATE && b.len == done);
    *len = done;
    return true;
}

static void check_writer(keel_slice doc, const toks *tk, uint8_t *scratch)
{
    /* A number beyond the double range has nothing to write. */
    for (size_t i = 0; i < tk->n; i++) {
        if (tk->t[i].kind == KEEL_JSON_NUMBER) {
            keel_json_value v = { KEEL_JSON_T_NUMBER, tk->t[i].raw, tk->t[i].offset };
            double d;
            if (keel_json_get_double(&v, &d) != KEEL_OK) {
                return;
            }
        }
    }
    size_t cap = 8 * doc.len + 256;
    uint8_t *big = NULL;
    size_t len = 0;
    size_t unused;
    for (;;) {
        big = xmalloc(cap);
        if (write_all(tk, big, cap, NULL, &unused, &len, scratch)) {
            break;
        }
        free(big);
        FUZZ_CHECK(cap < ((size_t)64 << 20));
        cap *= 4;
    }
    keel_slice out = mk(big, len);
    toks again;
    again.t = xmalloc(sizeof(keel_json_token) * (len + 1));
    tokenize(out, CAP, &again, scratch);
    FUZZ_CHECK(again.r == KEEL_OK && again.n == tk->n);
    uint8_t *dec2 = xmalloc(len + 1);
    size_t prev_end = 0;
    for (size_t i = 0; i < tk->n; i++) {
        const keel_json_token *a = &tk->t[i];
        const keel_json_token *b = &again.t[i];
        FUZZ_CHECK(a->kind == b->kind && a->depth == b->depth);
        for (size_t g = prev_end; g < b->offset; g++) {
            FUZZ_CHECK(!ref_ws(big[g]));
        }
        prev_end = b->offset + b->raw.len;
        if (a->kind == KEEL_JSON_KEY || a->kind == KEEL_JSON_STRING) {
            size_t n1 = ref_decode(a->raw, scratch);
            size_t n2 = ref_decode(b->raw, dec2);
            FUZZ_CHECK(n1 == n2 && (n1 == 0 || memcmp(scratch, dec2, n1) == 0));
        } else if (a->kind == KEEL_JSON_NUMBER) {
            keel_json_value va = { KEEL_JSON_T_NUMBER, a->raw, a->offset };
            keel_json_value vb = { KEEL_JSON_T_NUMBER, b->raw, b->offset };
            int64_t ia;
            int64_t ib;
            double da;
            double db;
            if (keel_json_get_i64(&va, &ia) == KEEL_OK) {
                FUZZ_CHECK(keel_json_get_i64(&vb, &ib) == KEEL_OK && ia == ib);
            } else {
                FUZZ_CHECK(keel_json_get_double(&va, &da) == KEEL_OK);
                FUZZ_CHECK(keel_json_get_double(&vb, &db) == KEEL_OK);
                FUZZ_CHECK(memcmp(&da, &db, sizeof da) == 0);
            }
        }
    }
    FUZZ_CHECK(prev_end == len);
    free(dec2);
    free(again.t);

    /* Through a small buf, flushed whenever it is full: the same bytes. */
    size_t small = 8 + doc.len % 57;
    uint8_t *store = xmalloc(small);
    uint8_t *flushed = xmalloc(len + small);
    size_t flen = 0;
    size_t tail = 0;
    if (write_all(tk, store, small, flushed, &flen, &tail, scratch)) {
        FUZZ_CHECK(flen + tail == len && memcmp(flushed, big, flen) == 0);
        FUZZ_CHECK(tail == 0 || memcmp(store, big + flen, tail) == 0);
    }
    free(flushed);
    free(store);
    free(big);
}

/* The input bytes as one string, under both UTF-8 policies. */
static void check_write_raw(keel_slice doc, uint8_t *scratch)
{
    size_t cap = 6 * doc.len + 8;
    uint8_t *store = xmalloc(cap);
    keel_buf b = mkbuf(store, cap, 0);
    keel_json_writer wr;
    bool valid = ref_utf8_valid(doc.ptr, doc.len);

    FUZZ_CHECK(keel_json_writer_init(&wr, &b, 0, KEEL_JSON_UTF8_REJECT) == KEEL_OK);
    keel_result r = keel_json_write_string(&wr, doc);
    FUZZ_CHECK(r == (valid ? KEEL_OK : KEEL_ERR_PARSE));
    FUZZ_CHECK(valid || b.len == 0);

    b = mkbuf(store, cap, 0);
    FUZZ_CHECK(keel_json_writer_init(&wr, &b, 0, KEEL_JSON_UTF8_REPLACE) == KEEL_OK);
    FUZZ_CHECK(keel_json_write_string(&wr, doc) == KEEL_OK);
    FUZZ_CHECK(keel_json_writer_finish(&wr) == KEEL_OK);
    keel_json_error e;
    FUZZ_CHECK(validate(mk(store, b.len), 0, &e) == KEEL_OK);
    size_t n = ref_decode(mk(store, b.len), scratch);
    uint8_t *want = xmalloc(3 * doc.len);
    size_t m = ref_utf8_replace(doc.ptr, doc.len, want);
    FUZZ_CHECK(n == m && (m == 0 || memcmp(scratch, want, m) == 0));
    free(want);
    free(store);
}

/* ---- keel_json_extract against the lookups ------------------------------- */

#define XF 12u /* fields in a table built from a document */

typedef struct xfield_ref {
    keel_result r;          /* the lookups' verdict on this field */
    bool present;
    int64_t i;
    double d;
    bool b;
    keel_json_value v;
} xfield_ref;

/* One field checked the way a user would, through keel_json_member and the
 * typed getters: its verdict (KEEL_OK, NOT_FOUND, TYPE, TOO_LARGE...) and
 * value. parent_obj is NULL when the field's object is absent. */
static void xref(const keel_json_field *f, const keel_json_value *parent_obj, keel_buf *sbuf,
                 xfield_ref *out, keel_json_value *as_object)
{
    keel_json_value v;
    memset(out, 0, sizeof *out);
    as_object->type = KEEL_JSON_T_NULL;
    if (parent_obj == NULL || keel_json_member(parent_obj, f->name, &v) != KEEL_OK) {
        out->r = f->required && parent_obj != NULL ? KEEL_ERR_NOT_FOUND : KEEL_OK;
        return;
    }
    if (f->type != KEEL_JSON_FIELD_VALUE && v.type == KEEL_JSON_T_NULL) {
        out->r = f->required ? KEEL_ERR_TYPE : KEEL_OK;
        return;
    }
    out->present = true;
    out->v = v;
    switch (f->type) {
    case KEEL_JSON_FIELD_I64:
        out->r = keel_json_get_i64(&v, &out->i);
        break;
    case KEEL_JSON_FIELD_DOUBLE:
        out->r = keel_json_get_double(&v, &out->d);
        break;
    case KEEL_JSON_FIELD_BOOL:
        out->r = keel_json_get_bool(&v, &out->b);
        break;
    case KEEL_JSON_FIELD_STRING:
        out->r = keel_json_get_string(&v, sbuf);
        break;
    case KEEL_JSON_FIELD_OBJECT:
        out->r = v.type == KEEL_JSON_T_OBJECT ? KEEL_OK : KEEL_ERR_TYPE;
        *as_object = v;
        break;
    default:
        out->r = KEEL_OK;
        break;
    }
}

/* A table built from the document's own members (the top level's, and the
 * first members of object-typed ones), each member's type picked by the
 * input, some required, one name that is not there when sel says so;
 * keel_json_extract must agree with the lookups: OK with the same values
 * when every field checks out, else a failure that the field it names
 * really has. For documents that are not valid, or not objects, the
 * validator's verdict and the root's type. */
static void check_extract(keel_slice doc)
{
    static const keel_json_field_type types[6] = {
        KEEL_JSON_FIELD_I64,    KEEL_JSON_FIELD_DOUBLE, KEEL_JSON_FIELD_BOOL,
        KEEL_JSON_FIELD_STRING, KEEL_JSON_FIELD_VALUE,  KEEL_JSON_FIELD_OBJECT,
    };
    keel_json_field f[XF];
    int64_t iv[XF];
    double dv[XF];
    bool bv[XF];
    bool pv[XF];
    keel_json_value vv[XF];
    keel_buf sb[XF];
    keel_buf rb[XF];
    xfield_ref ref[XF];
    keel_json_value objs[XF];
    size_t per = doc.len + 8;
    uint8_t *names = xmalloc(XF * per);
    uint8_t *sstore = xmalloc(2 * XF * per);
    unsigned sel = doc.len > 0 ? doc.ptr[doc.len / 2] : 0u;
    size_t n = 0;
    memset(f, 0, sizeof f);

    keel_json_error ve;
    keel_result vr = keel_json_validate(doc, 0, &ve);
    keel_json_doc d;
    if (vr == KEEL_OK) {
        FUZZ_CHECK(keel_json_parse(doc, 0, &d, NULL) == KEEL_OK);
    }
    /* The table: members of the root, then members of OBJECT fields. */
    for (size_t parent = 0; vr == KEEL_OK && d.root.type == KEEL_JSON_T_OBJECT && parent <= n &&
                            n < XF;
         parent++) {
        const keel_json_value *obj = &d.root;
        keel_json_value sub;
        if (parent > 0) {
            /* Only one level down from the root is built. */
            if (f[parent - 1].parent != 0 || f[parent - 1].type != KEEL_JSON_FIELD_OBJECT ||
                keel_json_member(&d.root, f[parent - 1].name, &sub) != KEEL_OK ||
                sub.type != KEEL_JSON_T_OBJECT) {
                continue;
            }
            obj = &sub;
        }
        size_t pos = 0;
        keel_slice key;
        keel_json_value v;
        for (unsigned m = 0; n < XF && m < (parent == 0 ? 6u : 2u) &&
                             keel_json_next_child(obj, &pos, &key, &v) == KEEL_OK;
             m++) {
            keel_json_value kv = { KEEL_JSON_T_STRING, key, 0 };
            keel_buf nb = mkbuf(names + n * per, per, 0);
            FUZZ_CHECK(keel_json_get_string(&kv, &nb) == KEEL_OK);
            unsigned pick = (sel >> (m % 4)) + m + (unsigned)parent;
            f[n].name = mk(nb.ptr, nb.len);
            /* The type of the value itself most of the time, another one
             * otherwise (a wrong type). */
            f[n].type = types[pick % 6u];
            if ((pick & 3u) != 0) {
                f[n].type = v.type == KEEL_JSON_T_NUMBER ? ((pick & 4u) ? KEEL_JSON_FIELD_I64
                                                                         : KEEL_JSON_FIELD_DOUBLE)
                            : v.type == KEEL_JSON_T_BOOL   ? KEEL_JSON_FIELD_BOOL
                            : v.type == KEEL_JSON_T_STRING ? KEEL_JSON_FIELD_STRING
                            : v.type == KEEL_JSON_T_OBJECT ? KEEL_JSON_FIELD_OBJECT
                                                           : KEEL_JSON_FIELD_VALUE;
            }
            f[n].required = (pick & 8u) != 0;
            f[n].parent = parent;
            n++;
        }
        keel_json_value there;
        if (parent == 0 && (sel % 5u) == 0 && n < XF &&
            keel_json_member(&d.root, KEEL_STR("\x01not there"), &there) != KEEL_OK) {
            f[n].name = KEEL_STR("\x01not there");
            f[n].type = KEEL_JSON_FIELD_BOOL;
            f[n].required = true;
            n++;
        }
    }
    for (size_t k = 0; k < n; k++) {
        iv[k] = -1;
        dv[k] = -1.0;
        bv[k] = false;
        pv[k] = true;
        memset(&vv[k], 0, sizeof vv[k]);
        /* A short buf now and then: TOO_LARGE. */
        size_t scap = (sel % 3u) == 0 ? 2u : per;
        sb[k] = mkbuf(sstore + 2 * k * per, scap, 0);
        rb[k] = mkbuf(sstore + (2 * k + 1) * per, scap, 0);
        f[k].i64 = &iv[k];
        f[k].f64 = &dv[k];
        f[k].flag = &bv[k];
        f[k].string = &sb[k];
        f[k].value = &vv[k];
        f[k].present = (k & 1u) ? &pv[k] : NULL;
    }

    keel_json_extract_error e;
    keel_result r = keel_json_extract(doc, f, n, NULL, &e);
    FUZZ_CHECK(e.field_index <= n && (e.field == NULL) == (e.field_index == 0));
    FUZZ_CHECK(e.field == NULL || e.field == &f[e.field_index - 1]);
    if (vr != KEEL_OK) {
        FUZZ_CHECK(r == vr && e.field == NULL && e.json.offset == ve.offset &&
                   e.json.reason == ve.reason && e.offset == ve.offset);
    } else if (d.root.type != KEEL_JSON_T_OBJECT) {
        FUZZ_CHECK(r == KEEL_ERR_TYPE && e.field == NULL && e.got == d.root.type &&
                   e.offset == d.root.offset);
    } else {
        FUZZ_CHECK(e.json.reason == KEEL_JSON_OK);
        bool all_ok = true;
        for (size_t k = 0; k < n; k++) {
            const keel_json_value *po = f[k].parent == 0 ? &d.root
                                        : ref[f[k].parent - 1].present &&
                                                  ref[f[k].parent - 1].r == KEEL_OK
                                            ? &objs[f[k].parent - 1]
                                            : NULL;
            xref(&f[k], po, &rb[k], &ref[k], &objs[k]);
            all_ok = all_ok && ref[k].r == KEEL_OK;
        }
        if (all_ok) {
            FUZZ_CHECK(r == KEEL_OK);
            for (size_t k = 0; k < n; k++) {
                FUZZ_CHECK(f[k].present == NULL || pv[k] == ref[k].present);
                FUZZ_CHECK(sb[k].len == rb[k].len && memcmp(sb[k].ptr, rb[k].ptr, sb[k].len) == 0);
                if (!ref[k].present) {
                    FUZZ_CHECK(iv[k] == -1 && dv[k] == -1.0 && !bv[k] && vv[k].raw.ptr == NULL);
                    continue;
                }
                switch (f[k].type) {
                case KEEL_JSON_FIELD_I64:
                    FUZZ_CHECK(iv[k] == ref[k].i);
                    break;
                case KEEL_JSON_FIELD_DOUBLE:
                    FUZZ_CHECK(memcmp(&dv[k], &ref[k].d, sizeof dv[k]) == 0);
                    break;
                case KEEL_JSON_FIELD_BOOL:
                    FUZZ_CHECK(bv[k] == ref[k].b);
                    break;
                case KEEL_JSON_FIELD_VALUE:
                    FUZZ_CHECK(same_value(&vv[k], &ref[k].v));
                    break;
                default:
                    break;
                }
            }
        } else {
            FUZZ_CHECK(r == KEEL_ERR_TYPE || r == KEEL_ERR_NOT_FOUND || r == KEEL_ERR_TOO_LARGE ||
                       r == KEEL_ERR_NO_MEMORY);
            FUZZ_CHECK(e.field != NULL && ref[e.field_index - 1].r == r);
            /* Nothing but strings written on a failure. */
            for (size_t k = 0; k < n; k++) {
                FUZZ_CHECK(iv[k] == -1 && dv[k] == -1.0 && !bv[k] && vv[k].raw.ptr == NULL &&
                           pv[k]);
            }
        }
    }
    free(names);
    free(sstore);
}

/* Where a string starting at p[at] (a quote) ends when its escapes are read
 * from the start (a backslash takes the next byte): one past the closing
 * quote, or 0 when the bytes end first. */
static size_t ref_string_end(const uint8_t *p, size_t n, size_t at)
{
    for (size_t i = at + 1; i < n; i++) {
        if (p[i] == '\\') {
            i++;
        } else if (p[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* The word scans against the byte-wise answers they stand for (proofs/README.md,
 * Assumption 52), on the input's own bytes: kjson_string_stops on every
 * eight-byte window (zero exactly when no byte is a quote, backslash,
 * control or non-ASCII byte, else kword_first at the first one),
 * kword_ne(w, ' ') flagging exactly the bytes that are not spaces, the skip
 * of a string from each quote (the end reading the escapes gives), and the
 * whitespace skip from each place (the first byte that is not SP, HT, CR
 * or LF). */
static void check_word_scans(const uint8_t *p, size_t n)
{
    keel_slice s = mk(p, n);
    for (size_t i = 0; i + 8 <= n && i < WORD_STARTS; i++) {
        uint64_t w = kword_load(s, i);
        uint64_t m = kjson_string_stops(w);
        size_t first = 8;
        for (size_t k = 0; k < 8 && first == 8; k++) {
            uint8_t c = p[i + k];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) {
                first = k;
            }
        }
        FUZZ_CHECK((m == 0) == (first == 8));
        FUZZ_CHECK(m == 0 || kword_first(m) == first);
        uint64_t ne = kword_ne(w, ' ');
        for (size_t k = 0; k < 8; k++) {
            FUZZ_CHECK(((ne >> (8 * k + 7)) & 1u) == (p[i + k] != ' '));
        }
    }
    size_t quotes = 0;
    for (size_t i = 0; i < n && i < WORD_STARTS; i++) {
        size_t ws = i;
        while (ws < n && ref_ws(p[ws])) {
            ws++;
        }
        FUZZ_CHECK(kjson_skip_ws(s, i) == ws);
        if (p[i] == '"' && quotes++ < 64) {
            size_t want = ref_string_end(p, n, i);
            size_t end = 0;
            keel_result r = kjson_skip_value(s, i, &end);
            FUZZ_CHECK(want == 0 ? r == KEEL_ERR_PARSE : r == KEEL_OK && end == want);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    keel_slice doc = mk(data, size);
    /* Scratch for decoding: strings decode to at most their raw length, the
     * REPLACE check needs up to 3x the input. */
    size_t scap = 3 * size + 16;
    uint8_t *scratch = xmalloc(scap);

    toks tk;
    tk.t = xmalloc(sizeof(keel_json_token) * (size + 1));
    tokenize(doc, CAP, &tk, scratch);

    keel_json_error e;
    keel_result r = validate(doc, CAP, &e);
    FUZZ_CHECK(r == tk.r && e.offset == tk.err.offset && e.reason == tk.err.reason);
    FUZZ_CHECK(keel_json_validate(doc, CAP + 1, &e) == KEEL_ERR_INVALID_ARG);

    /* The default refuses repeated keys: at a key that repeats one before it. */
    bool repeats = false;
    for (size_t k = 0; tk.r == KEEL_OK && k < tk.n && !repeats; k++) {
        repeats = tk.t[k].kind == KEEL_JSON_KEY && ref_repeat(&tk, k, scratch, scratch + size + 8);
    }
    keel_json_doc dd;
    for (int pass = 0; pass < 2; pass++) {
        r = pass == 0 ? keel_json_validate(doc, CAP, &e) : keel_json_parse(doc, CAP, &dd, &e);
        if (!repeats) {
            FUZZ_CHECK(r == tk.r && e.offset == tk.err.offset && e.reason == tk.err.reason);
            continue;
        }
        FUZZ_CHECK(r == KEEL_ERR_PARSE && e.reason == KEEL_JSON_DUPLICATE_KEY);
        size_t k = 0;
        while (k < tk.n && tk.t[k].offset != e.offset) {
            k++;
        }
        FUZZ_CHECK(k < tk.n && tk.t[k].kind == KEEL_JSON_KEY &&
                   ref_repeat(&tk, k, scratch, scratch + size + 8));
    }
    keel_json_tokenizer t;
    FUZZ_CHECK(keel_json_tokenizer_init(&t, doc, CAP + 1) == KEEL_ERR_INVALID_ARG);

    check_depth_limit(doc, &tk, 0);
    check_depth_limit(doc, &tk, 1 + (uint32_t)(size % 7));
    if (tk.max_open >= 2) {
        check_depth_limit(doc, &tk, tk.max_open - 1);
    }
    if (tk.max_open >= 1) {
        check_depth_limit(doc, &tk, tk.max_open);
    }
    check_prefixes(doc, &tk);
    check_word_scans(data, size);

    keel_json_doc jd;
    keel_json_parse_options lenient = { CAP, true };
    r = keel_json_parse_opts(doc, &lenient, &jd, &e);
    FUZZ_CHECK(r == tk.r && e.offset == tk.err.offset && e.reason == tk.err.reason);
    if (r == KEEL_OK) {
        FUZZ_CHECK(jd.src.ptr == doc.ptr && jd.src.len == doc.len);
        const keel_json_token *last = &tk.t[tk.n - 1];
        FUZZ_CHECK(jd.root.offset == tk.t[0].offset && jd.root.raw.ptr == tk.t[0].raw.ptr);
        FUZZ_CHECK(jd.root.offset + jd.root.raw.len == last->offset + last->raw.len);
        walk w;
        w.tk = &tk;
        w.i = 0;
        w.root = jd.root;
        w.cap = size + 32;
        w.dec = xmalloc(w.cap);
        w.dec2 = xmalloc(w.cap);
        w.out = xmalloc(w.cap);
        w.step = xmalloc(w.cap);
        w.values = 0;
        visit(&w, &jd.root, 0, true);
        FUZZ_CHECK(w.i == tk.n);
        free(w.dec);
        free(w.dec2);
        free(w.out);
        free(w.step);
        check_writer(doc, &tk, scratch);
    }
    check_write_raw(doc, scratch);
    check_extract(doc);

    free(tk.t);
    free(scratch);
    return 0;
}

/*
 * src/json/json.c - strict RFC 8259 validator, pull tokenizer and path lookup
 * over slices (see include/keel/json.h), plus the UTF-8/escape building
 * blocks of src/json/json_internal.h.
 *
 * One engine: json_tokenizer_next_raw() reads the next token with a state
 * machine over the byte array (no recursion; the container stack is one bit
 * per level in the tokenizer). keel_json_validate drives it on a tokenizer
 * kept on its own stack and never builds a public token. The hot loops (string
 * bodies, whitespace, digits) index s.ptr[i] directly behind an i < s.len
 * test: that is what WP proves safe, and what the compiler turns into a
 * tight loop.
 *
 * Lookups (keel_json_find, keel_json_next_child) assume a validated
 * document and only skip over values, but every read is still bounds-checked.
 */
#include "json/json_internal.h"

#include "keel/json.h"
#include "keel/slice.h"

/*@
  predicate tok_arg{L}(keel_json_tokenizer *t) =
      t == \null || (\valid(t) && (tok_shape(t) ==> valid_slice(t->doc)));
  predicate value_arg{L}(keel_json_value *v) =
      v == \null || (\valid_read(v) && (slice_shape(v->raw) ==> valid_slice(v->raw)));
*/

/* Byte classes inside a string body: everything but these is copied as is. */
#define SC_PLAIN 0u
#define SC_QUOTE 1u
#define SC_ESCAPE 2u
#define SC_CONTROL 3u
#define SC_HIGH 4u

static const uint8_t json_string_byte_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x00 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, /* 0x50 '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0x80 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0x90 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xA0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xB0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xC0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xD0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xE0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xF0 */
};

/* The bytes that may follow a backslash in a two-byte escape (RFC 8259
 * section 7): a validating scan passes these without decoding them. */
static const uint8_t json_escape_short[256] = {
    ['"'] = 1, ['\\'] = 1, ['/'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1, ['r'] = 1, ['t'] = 1,
};

/* The value of each hex digit (either case); 16 for every other byte. */
static const uint8_t json_hex_digit[256] = {
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x00 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x10 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x20 */
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  16, 16, 16, 16, 16, 16, /* 0x30 '0' */
    16, 10, 11, 12, 13, 14, 15, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x40 'A' */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x50 */
    16, 10, 11, 12, 13, 14, 15, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x60 'a' */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x70 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x80 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0x90 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0xA0 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0xB0 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0xC0 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0xD0 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0xE0 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, /* 0xF0 */
};

/* Bytes that matter when skipping a validated value: quotes and brackets.
 * One table load per byte keeps the skip loop tight (lookups skip whole
 * siblings on every step). */
static const uint8_t json_skip_byte_class[256] = {
    ['"'] = 1, ['['] = 2, ['{'] = 2, [']'] = 3, ['}'] = 3,
};

/* ---- reasons ----------------------------------------------------------- */

/*@ assigns \nothing;
    ensures \result != \null;
*/
const char *keel_json_reason_str(keel_json_reason reason)
{
    switch (reason) {
    case KEEL_JSON_OK:
        return "no error";
    case KEEL_JSON_UNEXPECTED_END:
        return "the document ends inside a value";
    case KEEL_JSON_UNEXPECTED_BYTE:
        return "unexpected byte";
    case KEEL_JSON_TRAILING_DATA:
        return "data after the top-level value";
    case KEEL_JSON_BAD_LITERAL:
        return "invalid literal (not true, false or null)";
    case KEEL_JSON_BAD_NUMBER:
        return "invalid number";
    case KEEL_JSON_BAD_ESCAPE:
        return "invalid escape in string";
    case KEEL_JSON_BAD_SURROGATE:
        return "lone or misordered surrogate escape";
    case KEEL_JSON_CONTROL_CHAR:
        return "unescaped control character in string";
    case KEEL_JSON_BAD_UTF8:
        return "invalid UTF-8 in string";
    case KEEL_JSON_TOO_DEEP:
        return "nesting too deep";
    case KEEL_JSON_DUPLICATE_KEY:
        return "an object repeats a key";
    default:
        return "unknown JSON error";
    }
}

/*@ assigns \nothing;
    ensures \result == result_of(why);
*/
static KEEL_MUST_USE keel_result json_reason_result(keel_json_reason why)
{
    if (why == KEEL_JSON_UNEXPECTED_END) {
        return KEEL_ERR_INCOMPLETE;
    }
    if (why == KEEL_JSON_TOO_DEEP) {
        return KEEL_ERR_TOO_LARGE;
    }
    return KEEL_ERR_PARSE;
}

/* ---- shared building blocks (json_internal.h) ------------------------- */

/*@ requires valid_slice(s) && pos < s.len && \valid(c);
    assigns *c;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INCOMPLETE;
    ensures 1 <= c->len <= 4 && c->len <= s.len - pos;
    ensures \result == KEEL_OK ==> c->why == KEEL_JSON_OK;
    ensures \result == KEEL_ERR_PARSE ==> c->why == KEEL_JSON_BAD_UTF8;
    ensures \result == KEEL_ERR_INCOMPLETE ==> c->why == KEEL_JSON_UNEXPECTED_END;
    ensures \result == KEEL_ERR_INCOMPLETE ==> c->len == s.len - pos;
*/
keel_result kjson_utf8_decode(keel_slice s, size_t pos, kjson_char *c)
{
    uint8_t b0 = s.ptr[pos];
    uint32_t cp;
    size_t need;
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;

    c->cp = 0;
    c->len = 1;
    c->why = KEEL_JSON_BAD_UTF8;
    if (b0 < 0x80) {
        c->cp = b0;
        c->why = KEEL_JSON_OK;
        return KEEL_OK;
    }
    /* Table 3-7: the lead byte fixes the length and narrows the range of
     * the second byte (no overlongs, no surrogates, nothing past U+10FFFF). */
    if (b0 < 0xC2 || b0 > 0xF4) {
        return KEEL_ERR_PARSE;
    }
    if (b0 <= 0xDF) {
        need = 2;
        cp = b0 & 0x1Fu;
    } else if (b0 <= 0xEF) {
        need = 3;
        cp = b0 & 0x0Fu;
        lo = b0 == 0xE0 ? 0xA0 : 0x80;
        hi = b0 == 0xED ? 0x9F : 0xBF;
    } else {
        need = 4;
        cp = b0 & 0x07u;
        lo = b0 == 0xF0 ? 0x90 : 0x80;
        hi = b0 == 0xF4 ? 0x8F : 0xBF;
    }
    /*@ loop invariant 1 <= k <= need && need <= 4;
        loop invariant k == c->len && k <= s.len - pos;
        loop invariant c->why == KEEL_JSON_BAD_UTF8;
        loop assigns k, cp, lo, hi, c->len;
        loop variant need - k;
    */
    for (size_t k = 1; k < need; k++) {
        if (s.len - pos <= k) {
            c->why = KEEL_JSON_UNEXPECTED_END;
            return KEEL_ERR_INCOMPLETE;
        }
        uint8_t b = s.ptr[pos + k];
        if (b < lo || b > hi) {
            return KEEL_ERR_PARSE;
        }
        cp = (cp << 6) | (b & 0x3Fu);
        lo = 0x80;
        hi = 0xBF;
        c->len = k + 1;
    }
    c->cp = cp;
    c->why = KEEL_JSON_OK;
    return KEEL_OK;
}

/*@ requires valid_slice(s) && pos <= s.len && \valid(v);
    assigns *v;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INCOMPLETE;
    ensures \result == KEEL_OK ==> s.len - pos >= 4 && *v <= 0xFFFF;
    ensures \result != KEEL_OK ==> *v == \old(*v);
*/
keel_result kjson_hex4(keel_slice s, size_t pos, uint32_t *v)
{
    uint32_t acc = 0;
    /*@ loop invariant 0 <= k <= 4 && k <= s.len - pos;
        loop invariant k == 0 ==> acc == 0;
        loop invariant k == 1 ==> acc < 0x10;
        loop invariant k == 2 ==> acc < 0x100;
        loop invariant k == 3 ==> acc < 0x1000;
        loop invariant k == 4 ==> acc < 0x10000;
        loop assigns k, acc;
        loop variant 4 - k;
    */
    for (size_t k = 0; k < 4; k++) {
        if (s.len - pos <= k) {
            return KEEL_ERR_INCOMPLETE;
        }
        uint32_t d = json_hex_digit[s.ptr[pos + k]];
        if (d > 15u) {
            return KEEL_ERR_PARSE;
        }
        acc = acc * 16u + d;
    }
    *v = acc;
    return KEEL_OK;
}

/*@ requires valid_slice(s) && pos < s.len && \valid(c);
    assigns *c;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_INCOMPLETE;
    ensures \result == KEEL_OK ==>
              c->why == KEEL_JSON_OK && 2 <= c->len <= 12 && c->len <= s.len - pos &&
              is_scalar(c->cp);
    ensures \result == KEEL_ERR_PARSE ==>
              c->why == KEEL_JSON_BAD_ESCAPE || c->why == KEEL_JSON_BAD_SURROGATE;
    ensures \result == KEEL_ERR_INCOMPLETE ==> c->why == KEEL_JSON_UNEXPECTED_END;
*/
keel_result kjson_escape_decode(keel_slice s, size_t pos, kjson_char *c)
{
    uint32_t hi = 0;
    uint32_t lo = 0;
    keel_result r;

    c->cp = 0;
    c->len = 2;
    c->why = KEEL_JSON_UNEXPECTED_END;
    if (s.len - pos < 2) {
        return KEEL_ERR_INCOMPLETE;
    }
    switch (s.ptr[pos + 1]) {
    case '"':
    case '\\':
    case '/':
        c->cp = s.ptr[pos + 1];
        break;
    case 'b':
        c->cp = 0x08;
        break;
    case 'f':
        c->cp = 0x0C;
        break;
    case 'n':
        c->cp = 0x0A;
        break;
    case 'r':
        c->cp = 0x0D;
        break;
    case 't':
        c->cp = 0x09;
        break;
    case 'u':
        r = kjson_hex4(s, pos + 2, &hi);
        if (r != KEEL_OK) {
            c->why = r == KEEL_ERR_PARSE ? KEEL_JSON_BAD_ESCAPE : KEEL_JSON_UNEXPECTED_END;
            return r;
        }
        c->why = KEEL_JSON_BAD_SURROGATE;
        if (hi >= 0xDC00 && hi <= 0xDFFF) {
            return KEEL_ERR_PARSE;
        }
        if (hi < 0xD800 || hi > 0xDBFF) {
            c->cp = hi;
            c->len = 6;
            break;
        }
        /* A high surrogate must be followed at once by a low one. */
        if (s.len - pos < 7 || (s.ptr[pos + 6] == '\\' && s.len - pos < 8)) {
            c->why = KEEL_JSON_UNEXPECTED_END;
            return KEEL_ERR_INCOMPLETE;
        }
        if (s.ptr[pos + 6] != '\\' || s.ptr[pos + 7] != 'u') {
            return KEEL_ERR_PARSE;
        }
        r = kjson_hex4(s, pos + 8, &lo);
        if (r != KEEL_OK) {
            c->why = r == KEEL_ERR_PARSE ? KEEL_JSON_BAD_ESCAPE : KEEL_JSON_UNEXPECTED_END;
            return r;
        }
        if (lo < 0xDC00 || lo > 0xDFFF) {
            return KEEL_ERR_PARSE;
        }
        c->cp = 0x10000u + (hi - 0xD800u) * 0x400u + (lo - 0xDC00u);
        c->len = 12;
        break;
    default:
        c->why = KEEL_JSON_BAD_ESCAPE;
        return KEEL_ERR_PARSE;
    }
    c->why = KEEL_JSON_OK;
    return KEEL_OK;
}

/*@ requires \valid(out + (0 .. 3));
    assigns out[0 .. 3];
    ensures 0 <= \result <= 4;
    ensures \result == 0 <==> !is_scalar(cp);
*/
size_t kjson_utf8_put(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0u | (cp >> 6));
        out[1] = (uint8_t)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        return 0;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0u | (cp >> 12));
        out[1] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = (uint8_t)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    out[0] = (uint8_t)(0xF0u | (cp >> 18));
    out[1] = (uint8_t)(0x80u | ((cp >> 12) & 0x3Fu));
    out[2] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
    out[3] = (uint8_t)(0x80u | (cp & 0x3Fu));
    return 4;
}

/*@ requires buf_arg(b);
    assigns b->len, b->ptr[b->len .. b->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_INVALID_ARG;
    ensures !is_scalar(cp) ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_ERR_TOO_LARGE ==> b->len == \old(b->len);
    ensures \result == KEEL_OK ==> b->len > \old(b->len) && b->len <= \old(b->len) + 4;
*/
keel_result kjson_utf8_encode(keel_buf *b, uint32_t cp)
{
    uint8_t tmp[4] = { 0, 0, 0, 0 };
    size_t n = kjson_utf8_put(cp, tmp);
    if (n == 0 || !keel_buf_valid(b)) {
        return KEEL_ERR_INVALID_ARG;
    }
    /* Checked here too: WP cannot see that a slice over a local array has
     * slice_shape, so "TOO_LARGE leaves b unchanged" must rest on this
     * function's own test. */
    if (n > b->cap - b->len) {
        return KEEL_ERR_TOO_LARGE;
    }
    keel_slice bytes = { tmp, n };
    return keel_buf_append(b, bytes);
}

/* What json_words stops at: in a string body being validated, a quote,
 * backslash, control or non-ASCII byte (kjson_string_stops); in one being
 * skipped, a quote (json_string_end tells an escaped one by the
 * backslashes before it); in indentation, a byte that is not a space. */
#define JSON_WORDS_STRING 0u
#define JSON_WORDS_QUOTE 1u
#define JSON_WORDS_SPACE 2u

/* From i, past the words of eight bytes none of which is one kind stops at
 * (src/core/word.h's masks), to the first such byte of the next word (its
 * lowest flagged byte), or to where fewer than eight bytes remain. The
 * caller looks at the byte where this stops, so a word mask can only cost
 * speed, never a wrong answer: what WP proves here is the bounds
 * (proofs/README.md, Assumptions 52, for what the masks flag). Inlined,
 * so that kind is a constant at each use and picks one mask. */
/*@ requires valid_slice(s) && i <= s.len;
    assigns \nothing;
    ensures i <= \result <= s.len;
*/
__attribute__((always_inline)) static inline size_t json_words(keel_slice s, size_t i,
                                                                unsigned kind)
{
    size_t k = i;
    /*@ loop invariant i <= k <= s.len;
        loop assigns k;
        loop variant s.len - k;
    */
    while (s.len - k >= 8u) {
        uint64_t w = kword_load(s, k);
        uint64_t m = kind == JSON_WORDS_STRING ? kjson_string_stops(w)
                     : kind == JSON_WORDS_QUOTE ? kword_eq(w, '"')
                                                : kword_ne(w, ' ');
        if (m != 0) {
            return k + kword_first(m);
        }
        k += 8u;
    }
    return k;
}

/* The indentation that follows a line break in pretty-printed JSON,
 * skipped eight bytes at a time (json_words). Out of line: kjson_skip_ws,
 * which compact JSON calls between most tokens, stays small. */
/*@ requires valid_slice(s) && i <= s.len;
    assigns \nothing;
    ensures i <= \result <= s.len;
*/
__attribute__((noinline)) size_t kjson_space_words(keel_slice s, size_t i)
{
    return json_words(s, i, JSON_WORDS_SPACE);
}

/* Past the whitespace from pos; after a line break, the indentation's
 * spaces by words (kjson_space_words, out of line). Inlined into json.c's
 * callers (the tokenizer calls it between tokens, where compact JSON has
 * none): with the words inside, the compilers stopped inlining it and
 * compact documents paid a call per token. */
/*@ requires valid_slice(s) && pos <= s.len;
    assigns \nothing;
    ensures pos <= \result <= s.len;
    ensures \result < s.len ==> !json_ws(s.ptr[\result]);
*/
__attribute__((always_inline)) inline size_t kjson_skip_ws(keel_slice s, size_t pos)
{
    size_t i = pos;
    /*@ loop invariant pos <= i <= s.len;
        loop assigns i;
        loop variant s.len - i;
    */
    while (i < s.len) {
        uint8_t c = s.ptr[i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            break;
        }
        i++;
        if (c == '\n') {
            i = kjson_space_words(s, i);
        }
    }
    return i;
}

/* Whether c continues a run (as json_words): for a validating scan
 * any byte of class SC_PLAIN, for a skip any byte but a quote. */
/*@ assigns \nothing; */
static inline bool json_plain_byte(uint8_t c, bool checked)
{
    return checked ? json_string_byte_class[c] == SC_PLAIN : c != '"';
}

/* The end of the run of a string body from k: the first byte that does not
 * continue it (json_plain_byte), or s.len. By words while eight bytes
 * remain, then byte by byte (where the words stopped, that is one look at
 * the byte they flagged). */
/*@ requires valid_slice(s) && k <= s.len;
    assigns \nothing;
    ensures k <= \result <= s.len;
*/
__attribute__((always_inline)) static inline size_t json_plain_run(keel_slice s, size_t k,
                                                                    bool checked)
{
    size_t i = json_words(s, k, checked ? JSON_WORDS_STRING : JSON_WORDS_QUOTE);
    /*@ loop invariant k <= i <= s.len;
        loop assigns i;
        loop variant s.len - i;
    */
    while (i < s.len && json_plain_byte(s.ptr[i], checked)) {
        i++;
    }
    return i;
}

/* One past the closing quote of the string at s[pos], or false when the
 * slice ends first. Escapes are not checked, only honoured: a quote ends
 * the string when an even number of backslashes stands right before it
 * (inside the string). That is what reading the escapes from the start
 * gives, for any bytes: a run of backslashes after a byte that is not one
 * starts at an escape, so its backslashes pair up and an odd one out
 * escapes the quote. Each backslash is counted for one quote at most, so
 * the skip stays linear; the quotes are found by words. */
/*@ requires valid_slice(s) && pos < s.len && \valid(end);
    assigns *end;
    ensures \result ==> pos + 2 <= *end <= s.len;
*/
__attribute__((always_inline)) static inline bool json_string_end(keel_slice s, size_t pos,
                                                                   size_t *end)
{
    size_t j = pos + 1;
    /*@ loop invariant pos + 1 <= j <= s.len;
        loop assigns j;
        loop variant s.len - j;
    */
    while (j < s.len) {
        j = json_plain_run(s, j, false);
        if (j >= s.len) {
            break;
        }
        size_t b = j;
        /*@ loop invariant pos + 1 <= b <= j;
            loop assigns b;
            loop variant b;
        */
        while (b > pos + 1 && s.ptr[b - 1] == '\\') {
            b--;
        }
        if (((j - b) & 1u) == 0) {
            *end = j + 1;
            return true;
        }
        j++;
    }
    return false;
}

/*@ requires valid_slice(s) && pos <= s.len && \valid(end);
    assigns *end;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> pos < *end <= s.len;
*/
keel_result kjson_skip_value(keel_slice s, size_t pos, size_t *end)
{
    size_t n = s.len;
    size_t k = pos;
    size_t depth = 0;

    if (pos >= n) {
        return KEEL_ERR_PARSE;
    }
    uint8_t c0 = s.ptr[pos];
    if (c0 == '"') {
        return json_string_end(s, pos, end) ? KEEL_OK : KEEL_ERR_PARSE;
    }
    if (c0 != '{' && c0 != '[') {
        /*@ loop invariant pos <= k <= n;
            loop assigns k;
            loop variant n - k;
        */
        while (k < n) {
            uint8_t c = s.ptr[k];
            if (c == ',' || c == ']' || c == '}' || c == ':' || c == ' ' || c == '\n' ||
                c == '\r' || c == '\t' || c == '"' || c == '[' || c == '{') {
                break;
            }
            k++;
        }
        if (k == pos) {
            return KEEL_ERR_PARSE;
        }
        *end = k;
        return KEEL_OK;
    }
    /* Bracket counting: which kind of bracket closes is not checked. */
    /*@ loop invariant pos <= k <= n;
        loop assigns k, depth, *end;
        loop variant n - k;
    */
    while (k < n) {
        uint8_t cls = json_skip_byte_class[s.ptr[k]];
        if (cls == 1) {
            size_t e = 0;
            if (!json_string_end(s, k, &e)) {
                return KEEL_ERR_PARSE;
            }
            k = e;
            continue;
        }
        if (cls == 2) {
            depth++;
        } else if (cls == 3) {
            depth--;
            if (depth == 0) {
                *end = k + 1;
                return KEEL_OK;
            }
        }
        k++;
    }
    return KEEL_ERR_PARSE;
}

/*@ requires valid_slice(body) && valid_slice(text);
    assigns \nothing;
*/
bool kjson_str_eq(keel_slice body, keel_slice text)
{
    size_t i = 0;
    size_t j = 0;
    /*@ loop invariant 0 <= i <= body.len && 0 <= j <= text.len;
        loop assigns i, j;
        loop variant body.len - i;
    */
    while (i < body.len) {
        uint8_t c = body.ptr[i];
        if (c != '\\') {
            if (j >= text.len || text.ptr[j] != c) {
                return false;
            }
            i++;
            j++;
            continue;
        }
        kjson_char ch;
        uint8_t u[4] = { 0, 0, 0, 0 };
        if (kjson_escape_decode(body, i, &ch) != KEEL_OK) {
            return false;
        }
        size_t n = kjson_utf8_put(ch.cp, u);
        if (n == 0 || text.len - j < n) {
            return false;
        }
        /*@ loop invariant 0 <= m <= n && j + n <= text.len;
            loop assigns m;
            loop variant n - m;
        */
        for (size_t m = 0; m < n; m++) {
            if (text.ptr[j + m] != u[m]) {
                return false;
            }
        }
        j += n;
        i += ch.len;
    }
    return j == text.len;
}

/* ---- scanners (one token each; e filled on failure) ------------------- */

/*@ requires \valid(e);
    assigns *e;
    ensures e->offset == offset && e->reason == why;
    ensures \result == result_of(why);
*/
static KEEL_MUST_USE keel_result json_error_set(keel_json_error *e, size_t offset,
                                                keel_json_reason why)
{
    e->offset = offset;
    e->reason = why;
    return json_reason_result(why);
}

/* The length of the UTF-8 sequence at s[k] when it is one of the common
 * well-formed ones whose second byte may be any continuation byte (Unicode
 * table 3-7): C2..DF 80..BF, and E1..EC or EE..EF 80..BF 80..BF; else 0,
 * and kjson_utf8_decode decides (E0, ED, four bytes, every error, the end
 * of the slice). WP proves the bounds; that this accepts only sequences
 * kjson_utf8_decode accepts is tested (test_json, every lead byte with
 * every second byte). */
/*@ requires valid_slice(s) && k < s.len;
    assigns \nothing;
    ensures \result == 0 || \result == 2 || \result == 3;
    ensures \result <= s.len - k;
*/
static inline size_t json_utf8_common(keel_slice s, size_t k)
{
    if (s.len - k < 3) {
        return 0;
    }
    uint8_t b0 = s.ptr[k];
    if ((s.ptr[k + 1] & 0xC0u) != 0x80u) {
        return 0;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        return 2;
    }
    if (b0 >= 0xE1 && b0 <= 0xEF && b0 != 0xED && (s.ptr[k + 2] & 0xC0u) == 0x80u) {
        return 3;
    }
    return 0;
}

/*@ requires valid_slice(s) && pos < s.len && \valid(end) && \valid(e);
    assigns *end, *e;
    ensures \result == KEEL_OK ==> pos < *end <= s.len;
    ensures \result != KEEL_OK ==> e->offset <= s.len;
*/
static KEEL_MUST_USE keel_result json_scan_string(keel_slice s, size_t pos, size_t *end,
                                                  keel_json_error *e)
{
    size_t n = s.len;
    size_t k = pos + 1;
    /*@ loop invariant pos + 1 <= k <= n;
        loop assigns k, *e;
        loop variant n - k;
    */
    while (k < n) {
        k = json_plain_run(s, k, true);
        if (k >= n) {
            break;
        }
        uint8_t cls = json_string_byte_class[s.ptr[k]];
        if (cls == SC_QUOTE) {
            *end = k + 1;
            return KEEL_OK;
        }
        if (cls == SC_CONTROL) {
            return json_error_set(e, k, KEEL_JSON_CONTROL_CHAR);
        }
        /* A two-byte escape is checked here; \u escapes and UTF-8
         * sequences are decoded (and their errors told) below. */
        if (cls == SC_ESCAPE && n - k >= 2 && json_escape_short[s.ptr[k + 1]] != 0) {
            k += 2;
            continue;
        }
        if (cls == SC_HIGH) {
            size_t w = json_utf8_common(s, k);
            if (w != 0) {
                k += w;
                continue;
            }
        }
        kjson_char ch;
        keel_result r = cls == SC_ESCAPE ? kjson_escape_decode(s, k, &ch)
                                         : kjson_utf8_decode(s, k, &ch);
        if (r != KEEL_OK) {
            return json_error_set(e, r == KEEL_ERR_INCOMPLETE ? n : k, ch.why);
        }
        k += ch.len;
    }
    return json_error_set(e, n, KEEL_JSON_UNEXPECTED_END);
}

/*@ assigns \nothing; */
static bool json_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Bytes that may not directly follow a number or a literal: they would
 * make it a different (malformed) token, e.g. "01", "0x1", "1.2.3", "nulll". */
/*@ assigns \nothing; */
static bool json_is_word_byte(uint8_t c)
{
    return json_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '+' || c == '-';
}

/*@ requires valid_slice(s) && pos <= s.len;
    assigns \nothing;
    ensures pos <= \result <= s.len;
*/
static size_t json_skip_digits(keel_slice s, size_t pos)
{
    size_t k = pos;
    /*@ loop invariant pos <= k <= s.len;
        loop assigns k;
        loop variant s.len - k;
    */
    while (k < s.len && json_is_digit(s.ptr[k])) {
        k++;
    }
    return k;
}

/* At least one digit at s[k], then as many as follow. */
/*@ requires valid_slice(s) && pos <= s.len && \valid(end) && \valid(e);
    assigns *end, *e;
    ensures \result == KEEL_OK ==> pos < *end <= s.len;
    ensures \result != KEEL_OK ==> e->offset <= s.len;
*/
static KEEL_MUST_USE keel_result json_scan_digits(keel_slice s, size_t pos, size_t *end,
                                                  keel_json_error *e)
{
    if (pos >= s.len) {
        return json_error_set(e, s.len, KEEL_JSON_UNEXPECTED_END);
    }
    if (!json_is_digit(s.ptr[pos])) {
        return json_error_set(e, pos, KEEL_JSON_BAD_NUMBER);
    }
    *end = json_skip_digits(s, pos + 1);
    return KEEL_OK;
}

/* The optional fraction (".digits") or exponent ("e+digits") of a number
 * at s[pos]: *end is pos itself when it is absent. */
/*@ requires valid_slice(s) && pos <= s.len && \valid(end) && \valid(e);
    assigns *end, *e;
    ensures \result == KEEL_OK ==> pos <= *end <= s.len;
    ensures \result != KEEL_OK ==> e->offset <= s.len;
*/
static KEEL_MUST_USE keel_result json_scan_fraction(keel_slice s, size_t pos, size_t *end,
                                                    keel_json_error *e)
{
    if (pos < s.len && s.ptr[pos] == '.') {
        return json_scan_digits(s, pos + 1, end, e);
    }
    *end = pos;
    return KEEL_OK;
}

/*@ requires valid_slice(s) && pos <= s.len && \valid(end) && \valid(e);
    assigns *end, *e;
    ensures \result == KEEL_OK ==> pos <= *end <= s.len;
    ensures \result != KEEL_OK ==> e->offset <= s.len;
*/
static KEEL_MUST_USE keel_result json_scan_exponent(keel_slice s, size_t pos, size_t *end,
                                                    keel_json_error *e)
{
    size_t k = pos;
    if (k >= s.len || (s.ptr[k] != 'e' && s.ptr[k] != 'E')) {
        *end = pos;
        return KEEL_OK;
    }
    k++;
    if (k < s.len && (s.ptr[k] == '+' || s.ptr[k] == '-')) {
        k++;
    }
    return json_scan_digits(s, k, end, e);
}

/*@ requires valid_slice(s) && pos < s.len && \valid(end) && \valid(e);
    assigns *end, *e;
    ensures \result == KEEL_OK ==> pos < *end <= s.len;
    ensures \result != KEEL_OK ==> e->offset <= s.len;
*/
static KEEL_MUST_USE keel_result json_scan_number(keel_slice s, size_t pos, size_t *end,
                                                  keel_json_error *e)
{
    size_t n = s.len;
    size_t k = s.ptr[pos] == '-' ? pos + 1 : pos;
    size_t int_end = 0;
    size_t frac_end = 0;
    size_t exp_end = 0;

    if (k < n && s.ptr[k] == '0') {
        int_end = k + 1;
    } else if (json_scan_digits(s, k, &int_end, e) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    if (json_scan_fraction(s, int_end, &frac_end, e) != KEEL_OK ||
        json_scan_exponent(s, frac_end, &exp_end, e) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    if (exp_end < n && json_is_word_byte(s.ptr[exp_end])) {
        return json_error_set(e, exp_end, KEEL_JSON_BAD_NUMBER);
    }
    *end = exp_end;
    return KEEL_OK;
}

static const uint8_t json_literal_text[3][5] = {
    { 't', 'r', 'u', 'e', 0 },
    { 'f', 'a', 'l', 's', 'e' },
    { 'n', 'u', 'l', 'l', 0 },
};

/*@ requires valid_slice(s) && pos < s.len && 0 <= w < 3 && \valid(end) && \valid(e);
    assigns *end, *e;
    ensures \result == KEEL_OK ==> pos < *end <= s.len;
    ensures \result != KEEL_OK ==> e->offset <= s.len;
*/
static KEEL_MUST_USE keel_result json_scan_literal(keel_slice s, size_t pos, size_t w, size_t *end,
                                                   keel_json_error *e)
{
    size_t len = w == 1 ? 5 : 4;
    /*@ loop invariant 0 <= k <= len && k <= s.len - pos;
        loop assigns k;
        loop variant len - k;
    */
    for (size_t k = 0; k < len; k++) {
        if (s.len - pos <= k) {
            return json_error_set(e, s.len, KEEL_JSON_UNEXPECTED_END);
        }
        if (s.ptr[pos + k] != json_literal_text[w][k]) {
            return json_error_set(e, pos + k, KEEL_JSON_BAD_LITERAL);
        }
    }
    if (s.len - pos > len && json_is_word_byte(s.ptr[pos + len])) {
        return json_error_set(e, pos + len, KEEL_JSON_BAD_LITERAL);
    }
    *end = pos + len;
    return KEEL_OK;
}

/* ---- the engine --------------------------------------------------------- */

/* The tokenizer's error is sticky (ST_ERROR): json_tokenizer_next_raw
 * answers it again on every later call instead of reading on. */
/*@ requires \valid(t) && tok_shape(t);
    assigns t->err, t->state;
    ensures t->state == ST_ERROR && t->err.offset == offset && t->err.reason == why;
    ensures tok_shape(t) && t->doc == \old(t->doc) && t->max_depth == \old(t->max_depth);
    ensures \result == result_of(why);
*/
static KEEL_MUST_USE keel_result json_tokenizer_fail(keel_json_tokenizer *t, size_t offset,
                                                     keel_json_reason why)
{
    t->err.offset = offset;
    t->err.reason = why;
    t->state = ST_ERROR;
    return json_reason_result(why);
}

/*@ requires \valid_read(t) && t->depth <= KEEL_JSON_DEPTH_CAP;
    assigns \nothing;
*/
static bool json_tokenizer_in_object(const keel_json_tokenizer *t)
{
    if (t->depth == 0) {
        return false;
    }
    uint32_t d = t->depth - 1u;
    return ((t->stack[d / 64u] >> (d % 64u)) & 1u) != 0;
}

/* A value starting at s[pos]: its kind and end. Containers are one byte
 * (their opening bracket); the caller tracks nesting. */
/*@ requires valid_slice(s) && pos < s.len && \valid(tok) && \valid(e);
    requires \separated(tok, e);
    assigns tok->kind, tok->end, *e;
    ensures \result == KEEL_OK ==> pos < tok->end <= s.len;
    ensures \result != KEEL_OK ==> e->offset <= s.len;
*/
static KEEL_MUST_USE keel_result json_scan_value(keel_slice s, size_t pos, kjson_tok *tok,
                                                 keel_json_error *e)
{
    uint8_t c = s.ptr[pos];
    switch (c) {
    case '{':
        tok->kind = KEEL_JSON_OBJECT_BEGIN;
        tok->end = pos + 1;
        return KEEL_OK;
    case '[':
        tok->kind = KEEL_JSON_ARRAY_BEGIN;
        tok->end = pos + 1;
        return KEEL_OK;
    case '"':
        tok->kind = KEEL_JSON_STRING;
        return json_scan_string(s, pos, &tok->end, e);
    case 't':
        tok->kind = KEEL_JSON_TRUE;
        return json_scan_literal(s, pos, 0, &tok->end, e);
    case 'f':
        tok->kind = KEEL_JSON_FALSE;
        return json_scan_literal(s, pos, 1, &tok->end, e);
    case 'n':
        tok->kind = KEEL_JSON_NULL;
        return json_scan_literal(s, pos, 2, &tok->end, e);
    default:
        break;
    }
    if (c == '-' || json_is_digit(c)) {
        tok->kind = KEEL_JSON_NUMBER;
        return json_scan_number(s, pos, &tok->end, e);
    }
    return json_error_set(e, pos, KEEL_JSON_UNEXPECTED_BYTE);
}

/* The next token from s[pos] (the first byte that is not whitespace) in
 * state st, obj saying whether the innermost container is an object.
 * Punctuation (',' and ':') is checked and consumed on the way. Reads only
 * s: json_tokenizer_consume applies the token to the tokenizer. */
/*@ requires valid_slice(s) && pos <= s.len && \valid(tok) && \valid(e);
    requires \separated(tok, e);
    assigns tok->kind, tok->start, tok->end, *e;
    ensures \result == KEEL_OK ==> pos <= tok->start < tok->end <= s.len;
    ensures \result != KEEL_OK ==> e->offset <= s.len;
*/
static KEEL_MUST_USE keel_result json_scan_token(keel_slice s, size_t pos, uint32_t st, bool obj,
                                                 kjson_tok *tok, keel_json_error *e)
{
    size_t n = s.len;
    size_t i = pos;

    if (i >= n) {
        return json_error_set(e, n, KEEL_JSON_UNEXPECTED_END);
    }
    uint8_t c = s.ptr[i];
    if (st == ST_COLON || st == ST_AFTER) {
        if (st == ST_AFTER && c == (obj ? '}' : ']')) {
            tok->kind = obj ? KEEL_JSON_OBJECT_END : KEEL_JSON_ARRAY_END;
            tok->start = i;
            tok->end = i + 1;
            return KEEL_OK;
        }
        if (c != (st == ST_COLON ? ':' : ',')) {
            return json_error_set(e, i, KEEL_JSON_UNEXPECTED_BYTE);
        }
        st = st == ST_AFTER && obj ? ST_KEY : ST_VALUE;
        i = kjson_skip_ws(s, i + 1);
        if (i >= n) {
            return json_error_set(e, n, KEEL_JSON_UNEXPECTED_END);
        }
        c = s.ptr[i];
    }
    tok->start = i;
    if ((st == ST_VALUE_OR_CLOSE && c == ']') || (st == ST_KEY_OR_CLOSE && c == '}')) {
        tok->kind = c == ']' ? KEEL_JSON_ARRAY_END : KEEL_JSON_OBJECT_END;
        tok->end = i + 1;
        return KEEL_OK;
    }
    if (st == ST_KEY || st == ST_KEY_OR_CLOSE) {
        if (c != '"') {
            return json_error_set(e, i, KEEL_JSON_UNEXPECTED_BYTE);
        }
        tok->kind = KEEL_JSON_KEY;
        return json_scan_string(s, i, &tok->end, e);
    }
    return json_scan_value(s, i, tok, e);
}

/* Apply a scanned token to the tokenizer: nesting, state, position. */
/*@ requires \valid(t) && tok_shape(t) && \valid(out) && \separated(t, out);
    requires t->pos <= tok.start < tok.end <= t->doc.len;
    assigns t->pos, t->depth, t->state, t->err, t->stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1], *out;
    ensures tok_shape(t);
    ensures t->doc == \old(t->doc) && t->max_depth == \old(t->max_depth);
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_OK ==>
              out->start == tok.start && out->end == tok.end && out->kind == tok.kind &&
              out->depth <= t->max_depth && t->pos == tok.end && t->pos > \old(t->pos);
    ensures \result != KEEL_OK ==> t->state == ST_ERROR && t->err.offset <= t->doc.len &&
                                   \result == result_of(t->err.reason);
*/
static KEEL_MUST_USE keel_result json_tokenizer_consume(keel_json_tokenizer *t, kjson_tok tok,
                                                        kjson_tok *out)
{
    uint32_t d = t->depth;
    uint32_t state;
    tok.depth = d;
    if (tok.kind == KEEL_JSON_OBJECT_BEGIN || tok.kind == KEEL_JSON_ARRAY_BEGIN) {
        if (d >= t->max_depth) {
            return json_tokenizer_fail(t, tok.start, KEEL_JSON_TOO_DEEP);
        }
        uint64_t bit = (uint64_t)1 << (d % 64u);
        if (tok.kind == KEEL_JSON_OBJECT_BEGIN) {
            t->stack[d / 64u] |= bit;
            state = ST_KEY_OR_CLOSE;
        } else {
            t->stack[d / 64u] &= ~bit;
            state = ST_VALUE_OR_CLOSE;
        }
        d++;
    } else if (tok.kind == KEEL_JSON_OBJECT_END || tok.kind == KEEL_JSON_ARRAY_END) {
        if (d == 0) {
            return json_tokenizer_fail(t, tok.start, KEEL_JSON_UNEXPECTED_BYTE);
        }
        state = d == 1u ? ST_DONE : ST_AFTER;
        d--;
        tok.depth = d;
    } else if (tok.kind == KEEL_JSON_KEY) {
        state = ST_COLON;
    } else {
        state = d == 0 ? ST_DONE : ST_AFTER;
    }
    /* The token is stored before the tokenizer's fields, so that WP reads
     * each field the contract names from its own last store: the other
     * order cost the provers seconds per goal separating *out from *t. */
    *out = tok;
    t->depth = d;
    t->state = state;
    t->pos = tok.end;
    return KEEL_OK;
}

/*@ requires \valid(t) && tok_shape(t) && valid_slice(t->doc) && \valid(out);
    requires \separated(t, out);
    assigns t->pos, t->depth, t->state, t->err, t->stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1], *out;
    ensures tok_shape(t);
    ensures t->doc == \old(t->doc) && t->max_depth == \old(t->max_depth);
    ensures \result == KEEL_OK || json_failure(\result);
    ensures \result == KEEL_OK ==> out->start <= out->end <= t->doc.len;
    ensures \result == KEEL_OK ==> out->depth <= t->max_depth;
    ensures \result == KEEL_OK && out->kind != KEEL_JSON_END ==> t->pos > \old(t->pos);
    ensures \result != KEEL_OK ==> t->state == ST_ERROR && t->err.offset <= t->doc.len &&
                                   \result == result_of(t->err.reason);
*/
static KEEL_MUST_USE keel_result json_tokenizer_next_raw(keel_json_tokenizer *t, kjson_tok *out)
{
    keel_slice s = t->doc;
    size_t n = s.len;
    size_t i = kjson_skip_ws(s, t->pos);
    kjson_tok tok = { KEEL_JSON_END, i, i, t->depth };
    keel_json_error e = { 0, KEEL_JSON_OK };

    if (t->state == ST_ERROR) {
        return json_tokenizer_fail(t, t->err.offset <= n ? t->err.offset : n, t->err.reason);
    }
    if (t->state == ST_DONE) {
        if (i < n) {
            return json_tokenizer_fail(t, i, KEEL_JSON_TRAILING_DATA);
        }
        *out = tok;
        t->pos = n;
        return KEEL_OK;
    }
    if (json_scan_token(s, i, t->state, json_tokenizer_in_object(t), &tok, &e) != KEEL_OK) {
        return json_tokenizer_fail(t, e.offset, e.reason);
    }
    return json_tokenizer_consume(t, tok, out);
}

/* ---- tokenizer and validator ------------------------------------------- */

/*@ requires t == \null || \valid(t);
    requires slice_arg(doc);
    assigns *t;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK <==>
              t != \null && slice_shape(doc) && max_depth <= KEEL_JSON_DEPTH_CAP;
    ensures \result == KEEL_OK ==> tok_shape(t) && t->doc == doc && t->pos == 0 &&
                                   t->depth == 0 && t->state == ST_VALUE;
*/
keel_result keel_json_tokenizer_init(keel_json_tokenizer *t, keel_slice doc, uint32_t max_depth)
{
    if (t == NULL || !keel_slice_valid(doc) || max_depth > KEEL_JSON_DEPTH_CAP) {
        return KEEL_ERR_INVALID_ARG;
    }
    t->doc = doc;
    t->pos = 0;
    t->depth = 0;
    t->max_depth = max_depth == 0 ? KEEL_JSON_DEFAULT_DEPTH : max_depth;
    t->state = ST_VALUE;
    t->err.offset = 0;
    t->err.reason = KEEL_JSON_OK;
    /*@ loop invariant 0 <= k <= KEEL_JSON_DEPTH_CAP / 64;
        loop assigns k, t->stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1];
        loop variant KEEL_JSON_DEPTH_CAP / 64 - k;
    */
    for (size_t k = 0; k < KEEL_JSON_DEPTH_CAP / 64u; k++) {
        t->stack[k] = 0;
    }
    return KEEL_OK;
}

/*@ requires valid_slice(s) && start <= end <= s.len;
    assigns \nothing;
    ensures \result.len == end - start;
    ensures \result.len > 0 ==> \result.ptr == s.ptr + start;
    ensures valid_slice(\result);
*/
static keel_slice json_slice_range(keel_slice s, size_t start, size_t end)
{
    keel_slice v = { NULL, 0 };
    if (start < end) {
        v.ptr = &s.ptr[start];
        v.len = end - start;
    }
    return v;
}

/*@ requires tok_arg(t);
    requires out == \null || \valid(out);
    requires t != \null && out != \null ==> \separated(t, out);
    assigns *t, *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || json_failure(\result);
    ensures t == \null || out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> tok_shape(t);
    ensures \result == KEEL_OK ==> out->offset <= t->doc.len;
    ensures \result == KEEL_OK ==> out->raw.len <= t->doc.len - out->offset;
    ensures \result == KEEL_OK ==> valid_slice(out->raw);
    ensures \result == KEEL_OK && out->raw.len > 0 ==> out->raw.ptr == t->doc.ptr + out->offset;
    ensures \result == KEEL_OK ==> out->depth <= t->max_depth;
    ensures json_failure(\result) ==> t->err.offset <= t->doc.len;
*/
keel_result keel_json_next(keel_json_tokenizer *t, keel_json_token *out)
{
    kjson_tok rt = { KEEL_JSON_END, 0, 0, 0 };
    if (t == NULL || out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (!keel_slice_valid(t->doc) || t->pos > t->doc.len || t->max_depth == 0 ||
        t->max_depth > KEEL_JSON_DEPTH_CAP || t->depth > t->max_depth || t->state > ST_ERROR) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(json_tokenizer_next_raw(t, &rt));
    out->kind = rt.kind;
    out->raw = json_slice_range(t->doc, rt.start, rt.end);
    out->offset = rt.start;
    out->depth = rt.depth;
    return KEEL_OK;
}

/* Contract: json_internal.h. */
keel_result kjson_walk_init(kjson_walk *k, keel_slice doc, uint32_t max_depth, bool check_dups)
{
    KEEL_TRY(keel_json_tokenizer_init(&k->t, doc, max_depth));
    kjson_dups_init(&k->dups);
    k->check_dups = check_dups;
    k->repeated = false;
    k->dup = 0;
    return KEEL_OK;
}

/* Contract: json_internal.h. */
keel_result kjson_walk_next(kjson_walk *k, kjson_tok *out)
{
    KEEL_TRY(json_tokenizer_next_raw(&k->t, out));
    /* Scalars (strings, numbers, literals: kinds after KEY) change nothing
     * the repeated-key check follows. */
    if (k->check_dups && !k->repeated && out->kind <= KEEL_JSON_KEY &&
        kjson_dups_token(k->t.doc, &k->dups, out->kind, out->start, out->end, &k->dup)) {
        k->repeated = true;
    }
    return KEEL_OK;
}

/* Contract: json_internal.h. A repeat is reported once the grammar is
 * known good (a grammar error after it wins). */
keel_result kjson_walk_end(kjson_walk *k, keel_result r, keel_json_error *err)
{
    keel_result v = r;
    if (v == KEEL_OK && k->repeated) {
        v = json_tokenizer_fail(&k->t, k->dup, KEEL_JSON_DUPLICATE_KEY);
    }
    if (err != NULL) {
        err->offset = v == KEEL_OK ? 0 : k->t.err.offset;
        err->reason = v == KEEL_OK ? KEEL_JSON_OK : k->t.err.reason;
    }
    return v;
}

/* keel_json_validate, with repeated keys refused or not. */
/*@ requires slice_arg(doc);
    requires err == \null || \valid(err);
    assigns *err;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || json_failure(\result);
    ensures !slice_shape(doc) || max_depth > KEEL_JSON_DEPTH_CAP ==>
              \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK && err != \null ==>
              err->offset == 0 && err->reason == KEEL_JSON_OK;
    ensures json_failure(\result) && err != \null ==>
              err->offset <= doc.len && \result == result_of(err->reason);
*/
static KEEL_MUST_USE keel_result json_validate(keel_slice doc, uint32_t max_depth, bool dup_keys,
                                               keel_json_error *err)
{
    kjson_walk k;
    kjson_tok tok = { KEEL_JSON_END, 0, 0, 0 };
    keel_result r = kjson_walk_init(&k, doc, max_depth, !dup_keys);
    if (r != KEEL_OK) {
        return r;
    }
    /*@ loop invariant walk_shape(k) && k.t.doc == doc;
        loop assigns k.t.pos, k.t.depth, k.t.state, k.t.err,
                     k.t.stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1], k.dups, k.repeated, k.dup, tok, r;
        loop variant doc.len - k.t.pos;
    */
    for (;;) {
        r = kjson_walk_next(&k, &tok);
        if (r != KEEL_OK || tok.kind == KEEL_JSON_END) {
            break;
        }
    }
    return kjson_walk_end(&k, r, err);
}

/*@ requires slice_arg(doc);
    requires err == \null || \valid(err);
    assigns *err;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || json_failure(\result);
    ensures !slice_shape(doc) || max_depth > KEEL_JSON_DEPTH_CAP ==>
              \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK && err != \null ==>
              err->offset == 0 && err->reason == KEEL_JSON_OK;
    ensures json_failure(\result) && err != \null ==>
              err->offset <= doc.len && \result == result_of(err->reason);
*/
keel_result keel_json_validate(keel_slice doc, uint32_t max_depth, keel_json_error *err)
{
    return json_validate(doc, max_depth, false, err);
}

/* ---- documents and lookup ---------------------------------------------- */

/*@ assigns \nothing;
    ensures KEEL_JSON_T_NULL <= \result <= KEEL_JSON_T_OBJECT;
*/
static keel_json_type json_type_of_first_byte(uint8_t c)
{
    switch (c) {
    case '{':
        return KEEL_JSON_T_OBJECT;
    case '[':
        return KEEL_JSON_T_ARRAY;
    case '"':
        return KEEL_JSON_T_STRING;
    case 't':
    case 'f':
        return KEEL_JSON_T_BOOL;
    case 'n':
        return KEEL_JSON_T_NULL;
    default:
        return KEEL_JSON_T_NUMBER;
    }
}

/* keel_json_parse, with repeated keys refused or not. */
/*@ requires slice_arg(src);
    requires out == \null || \valid(out);
    requires err == \null || \valid(err);
    requires out != \null && err != \null ==> \separated(out, err);
    assigns *out, *err;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || json_failure(\result);
    ensures out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==>
              out->src == src && valid_slice(out->root.raw) &&
              out->root.offset <= src.len && out->root.raw.len <= src.len - out->root.offset;
*/
static KEEL_MUST_USE keel_result json_parse(keel_slice src, uint32_t max_depth, bool dup_keys,
                                            keel_json_doc *out, keel_json_error *err)
{
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(json_validate(src, max_depth, dup_keys, err));
    size_t start = kjson_skip_ws(src, 0);
    size_t end = src.len;
    /*@ loop invariant start <= end <= src.len;
        loop assigns end;
        loop variant end;
    */
    while (end > start && (src.ptr[end - 1] == ' ' || src.ptr[end - 1] == '\n' ||
                           src.ptr[end - 1] == '\r' || src.ptr[end - 1] == '\t')) {
        end--;
    }
    out->src = src;
    out->max_depth = max_depth == 0 ? KEEL_JSON_DEFAULT_DEPTH : max_depth;
    out->root.type = start < end ? json_type_of_first_byte(src.ptr[start]) : KEEL_JSON_T_NULL;
    out->root.raw = json_slice_range(src, start, end);
    out->root.offset = start;
    return KEEL_OK;
}

/*@ requires slice_arg(src);
    requires opts == \null || \valid_read(opts);
    requires out == \null || \valid(out);
    requires err == \null || \valid(err);
    requires out != \null && err != \null ==> \separated(out, err);
    assigns *out, *err;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || json_failure(\result);
    ensures out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==>
              out->src == src && valid_slice(out->root.raw) &&
              out->root.offset <= src.len && out->root.raw.len <= src.len - out->root.offset;
*/
keel_result keel_json_parse_opts(keel_slice src, const keel_json_parse_options *opts,
                                 keel_json_doc *out, keel_json_error *err)
{
    if (opts == NULL) {
        return json_parse(src, 0u, false, out, err);
    }
    return json_parse(src, opts->max_depth, opts->allow_duplicate_keys, out, err);
}

/*@ requires slice_arg(src);
    requires out == \null || \valid(out);
    requires err == \null || \valid(err);
    requires out != \null && err != \null ==> \separated(out, err);
    assigns *out, *err;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || json_failure(\result);
    ensures out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==>
              out->src == src && valid_slice(out->root.raw) &&
              out->root.offset <= src.len && out->root.raw.len <= src.len - out->root.offset;
*/
keel_result keel_json_parse(keel_slice src, uint32_t max_depth, keel_json_doc *out,
                            keel_json_error *err)
{
    return json_parse(src, max_depth, false, out, err);
}

/* Contract: json_internal.h. */
keel_result kjson_next_child_span(keel_slice s, bool obj, size_t start, size_t *pos,
                                  kjson_span *key, kjson_span *val)
{
    size_t n = s.len;
    size_t i = *pos;
    size_t key_start = 0;
    size_t key_end = 0;
    size_t end = 0;
    bool first = i <= start;

    if (i >= n) {
        return KEEL_ERR_NOT_FOUND;
    }
    i = kjson_skip_ws(s, first ? start + 1 : i);
    if (i >= n) {
        return KEEL_ERR_PARSE;
    }
    if (s.ptr[i] == ']' || s.ptr[i] == '}') {
        return KEEL_ERR_NOT_FOUND;
    }
    if (!first) {
        if (s.ptr[i] != ',') {
            return KEEL_ERR_PARSE;
        }
        i = kjson_skip_ws(s, i + 1);
    }
    if (obj) {
        if (i >= n || s.ptr[i] != '"' || kjson_skip_value(s, i, &key_end) != KEEL_OK) {
            return KEEL_ERR_PARSE;
        }
        key_start = i;
        i = kjson_skip_ws(s, key_end);
        if (i >= n || s.ptr[i] != ':') {
            return KEEL_ERR_PARSE;
        }
        i = kjson_skip_ws(s, i + 1);
    }
    if (kjson_skip_value(s, i, &end) != KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    key->type = KEEL_JSON_T_STRING;
    key->start = key_start;
    key->end = key_end;
    val->type = json_type_of_first_byte(s.ptr[i]);
    val->start = i;
    val->end = end;
    *pos = end;
    return KEEL_OK;
}

/*@ requires value_arg(in);
    requires pos == \null || \valid(pos);
    requires key == \null || \valid(key);
    requires out == \null || \valid(out);
    requires \separated(pos, key, out);
    assigns *pos, *key, *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_NOT_FOUND || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> \old(*pos) < *pos <= \old(in->raw.len);
    ensures \result == KEEL_OK ==> valid_slice(out->raw);
    ensures \result == KEEL_OK && key != \null ==> valid_slice(*key);
    ensures \result != KEEL_OK && pos != \null ==> *pos == \old(*pos);
*/
keel_result keel_json_next_child(const keel_json_value *in, size_t *pos, keel_slice *key,
                                 keel_json_value *out)
{
    if (in == NULL || pos == NULL || out == NULL || !keel_slice_valid(in->raw) ||
        (in->type != KEEL_JSON_T_ARRAY && in->type != KEEL_JSON_T_OBJECT)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_slice s = in->raw;
    size_t base = in->offset;
    bool obj = in->type == KEEL_JSON_T_OBJECT;
    kjson_span k = { KEEL_JSON_T_STRING, 0, 0 };
    kjson_span v = { KEEL_JSON_T_NULL, 0, 0 };

    if (s.len < 2) {
        return KEEL_ERR_NOT_FOUND;
    }
    KEEL_TRY(kjson_next_child_span(s, obj, 0, pos, &k, &v));
    out->type = v.type;
    out->raw = json_slice_range(s, v.start, v.end);
    out->offset = base + v.start;
    if (key != NULL) {
        *key = json_slice_range(s, k.start, k.end);
    }
    return KEEL_OK;
}

/* Step into the member of object *cur (in s) whose decoded key is name
 * (the first such member). */
/*@ requires valid_slice(s) && valid_slice(name) && \valid(cur);
    requires cur->start <= cur->end <= s.len;
    assigns *cur;
    ensures cur->start <= cur->end <= s.len;
    ensures \result == KEEL_OK || \result == KEEL_ERR_NOT_FOUND;
*/
static KEEL_MUST_USE keel_result json_find_member(keel_slice s, kjson_span *cur, keel_slice name)
{
    keel_slice c = { s.ptr, cur->end };
    kjson_span key = { KEEL_JSON_T_STRING, 0, 0 };
    kjson_span val = { KEEL_JSON_T_NULL, 0, 0 };
    size_t pos = cur->start;

    if (cur->type != KEEL_JSON_T_OBJECT || cur->start >= cur->end) {
        return KEEL_ERR_NOT_FOUND;
    }
    /*@ loop invariant pos <= c.len;
        loop assigns pos, key, val;
        loop variant c.len - pos;
    */
    for (;;) {
        if (kjson_next_child_span(c, true, cur->start, &pos, &key, &val) != KEEL_OK) {
            return KEEL_ERR_NOT_FOUND;
        }
        if (key.end - key.start >= 2 &&
            kjson_str_eq(json_slice_range(s, key.start + 1, key.end - 1), name)) {
            *cur = val;
            return KEEL_OK;
        }
    }
}

/* Step into element idx of array *cur (in s). */
/*@ requires valid_slice(s) && \valid(cur);
    requires cur->start <= cur->end <= s.len;
    assigns *cur;
    ensures cur->start <= cur->end <= s.len;
    ensures \result == KEEL_OK || \result == KEEL_ERR_NOT_FOUND;
*/
static KEEL_MUST_USE keel_result json_find_element(keel_slice s, kjson_span *cur, size_t idx)
{
    keel_slice c = { s.ptr, cur->end };
    kjson_span key = { KEEL_JSON_T_STRING, 0, 0 };
    kjson_span val = { KEEL_JSON_T_NULL, 0, 0 };
    size_t pos = cur->start;

    if (cur->type != KEEL_JSON_T_ARRAY || cur->start >= cur->end) {
        return KEEL_ERR_NOT_FOUND;
    }
    /*@ loop invariant pos <= c.len;
        loop assigns pos, k, key, val;
        loop variant c.len - pos;
    */
    for (size_t k = 0;; k++) {
        if (kjson_next_child_span(c, false, cur->start, &pos, &key, &val) != KEEL_OK) {
            return KEEL_ERR_NOT_FOUND;
        }
        if (k == idx) {
            *cur = val;
            return KEEL_OK;
        }
    }
}

/* *out = the value cur in s, whose first byte is at base in the document. */
/*@ requires valid_slice(s) && \valid(out) && cur.start <= cur.end <= s.len;
    assigns *out;
    ensures valid_slice(out->raw);
*/
static void json_value_at(keel_slice s, size_t base, kjson_span cur, keel_json_value *out)
{
    out->type = cur.type;
    out->raw = json_slice_range(s, cur.start, cur.end);
    out->offset = base + cur.start;
}

/*@ requires value_arg(in) && slice_arg(key);
    requires out == \null || \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_NOT_FOUND;
    ensures \result == KEEL_OK ==> valid_slice(out->raw);
*/
keel_result keel_json_member(const keel_json_value *in, keel_slice key, keel_json_value *out)
{
    if (in == NULL || out == NULL || !keel_slice_valid(in->raw) || !keel_slice_valid(key)) {
        return KEEL_ERR_INVALID_ARG;
    }
    kjson_span cur = { in->type, 0, in->raw.len };
    KEEL_TRY(json_find_member(in->raw, &cur, key));
    json_value_at(in->raw, in->offset, cur, out);
    return KEEL_OK;
}

/*@ requires value_arg(in);
    requires out == \null || \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_NOT_FOUND;
    ensures \result == KEEL_OK ==> valid_slice(out->raw);
*/
keel_result keel_json_element(const keel_json_value *in, size_t index, keel_json_value *out)
{
    if (in == NULL || out == NULL || !keel_slice_valid(in->raw)) {
        return KEEL_ERR_INVALID_ARG;
    }
    kjson_span cur = { in->type, 0, in->raw.len };
    KEEL_TRY(json_find_element(in->raw, &cur, index));
    json_value_at(in->raw, in->offset, cur, out);
    return KEEL_OK;
}

/*@ requires value_arg(in) && slice_arg(path);
    requires out == \null || \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_NOT_FOUND || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> valid_slice(out->raw);
*/
keel_result keel_json_find(const keel_json_value *in, keel_slice path, keel_json_value *out)
{
    if (in == NULL || out == NULL || !keel_slice_valid(in->raw) || !keel_slice_valid(path)) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_slice s = in->raw;
    size_t base = in->offset;
    kjson_span cur = { in->type, 0, s.len };
    keel_result found = KEEL_OK;
    size_t n = path.len;
    size_t p = 0;

    /* A malformed path is PARSE even after a step was not found. */
    /*@ loop invariant p <= n;
        loop invariant cur.start <= cur.end <= s.len;
        loop invariant found == KEEL_OK || found == KEEL_ERR_NOT_FOUND;
        loop assigns p, cur, found;
        loop variant n - p;
    */
    while (p < n) {
        size_t q = p + 1;
        if (path.ptr[p] == '.') {
            /*@ loop invariant p + 1 <= q <= n;
                loop assigns q;
                loop variant n - q;
            */
            while (q < n && path.ptr[q] != '.' && path.ptr[q] != '[') {
                q++;
            }
            if (q == p + 1) {
                return KEEL_ERR_PARSE;
            }
            if (found == KEEL_OK) {
                found = json_find_member(s, &cur, json_slice_range(path, p + 1, q));
            }
            p = q;
        } else if (path.ptr[p] == '[') {
            size_t idx = 0;
            size_t d = json_skip_digits(path, q);
            /* digits, no leading zero, then ']' */
            if (d == q || (path.ptr[q] == '0' && d > q + 1) || d >= n || path.ptr[d] != ']') {
                return KEEL_ERR_PARSE;
            }
            /*@ loop invariant q <= d;
                loop assigns q, idx;
                loop variant d - q;
            */
            for (; q < d; q++) {
                /* A saturated index is past the end of any array. */
                idx = idx < (SIZE_MAX - 9u) / 10u ? idx * 10u + (size_t)(path.ptr[q] - '0')
                                                  : SIZE_MAX;
            }
            if (found == KEEL_OK) {
                found = json_find_element(s, &cur, idx);
            }
            p = d + 1;
        } else {
            return KEEL_ERR_PARSE;
        }
    }
    if (found != KEEL_OK) {
        return found;
    }
    json_value_at(s, base, cur, out);
    return KEEL_OK;
}

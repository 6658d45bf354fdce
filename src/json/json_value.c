/*
 * src/json/json_value.c - typed extraction from JSON values (see
 * include/keel/json.h), and the double -> text conversion of
 * src/json/json_internal.h.
 *
 * A keel_json_value may be hand-made, so nothing here trusts that raw was
 * validated: each function re-checks the grammar it relies on (quotes
 * around a string, the number grammar, the exact literal) and answers
 * KEEL_ERR_PARSE otherwise, reading only inside raw. What it does not
 * re-check is UTF-8 in string bodies: those bytes are copied as they are.
 *
 * Numbers are read by one scanner: the grammar of RFC 8259, the first
 * significant digits as an exact uint64 and a decimal exponent. Integers
 * come straight from it. Doubles take Clinger's fast path when it is exact
 * (mantissa <= 2^53, |exponent| <= 22: one correctly rounded multiply or
 * divide by an exact power of ten) and otherwise strtod_l in a "C" locale.
 * That conversion (json_value_number_to_double) and kjson_format_double
 * are floating point and libc: Frama-C does not see their bodies, their
 * contracts are trusted and the tests compare them with glibc's strtod.
 */
#include "keel/json.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef __FRAMAC__
#include <errno.h>
#include <pthread.h>
#endif

#include "json/json_internal.h"

/*@ predicate json_value_arg{L}(keel_json_value *v) =
      v == \null || (\valid_read(v) && slice_arg(v->raw));
*/

/* Longest number text keel_json_get_double converts (longer is
 * KEEL_ERR_TOO_LARGE): room for the exact decimal expansion of every
 * double (at most 767 significant digits) with a sign, a point and an
 * exponent to spare. */
#define JSON_VALUE_NUMBER_TEXT_MAX 1100u

/* Saturation bound of the decimal exponents: far beyond any double, small
 * enough that sums of two stay inside int32_t. */
#define JSON_VALUE_EXP_CAP 100000

/* A number as the scanner read it. While !dropped, its value is
 * (neg ? -1 : 1) * mant * 10^exp10 (exp10 saturates at +-JSON_VALUE_EXP_CAP). */
typedef struct json_value_number {
    uint64_t mant;
    int32_t exp10;
    bool neg;
    bool dropped;  /* a digit did not fit mant: only the slow path is exact */
    bool integral; /* neither fraction nor exponent */
} json_value_number;

/*@ requires \valid_read(p + (0 .. n - 1)) && i <= n;
    assigns \nothing;
    ensures i <= \result <= n;
    ensures \forall integer k; i <= k < \result ==> is_digit(p[k]);
*/
static size_t json_value_digits_end(const uint8_t *p, size_t n, size_t i)
{
    /*@ loop invariant \at(i, Pre) <= i <= n;
        loop invariant \forall integer k; \at(i, Pre) <= k < i ==> is_digit(p[k]);
        loop assigns i;
        loop variant n - i;
    */
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        i++;
    }
    return i;
}

/* Fold the digits p[from, to) into num->mant (and, for fraction digits,
 * num->exp10). */
/*@ requires \valid_read(p + (0 .. to - 1)) && from <= to;
    requires \valid(num) && -JSON_VALUE_EXP_CAP <= num->exp10 <= 0;
    requires \forall integer k; from <= k < to ==> is_digit(p[k]);
    assigns num->mant, num->exp10, num->dropped;
    ensures -JSON_VALUE_EXP_CAP <= num->exp10 <= 0;
    ensures !fraction ==> num->exp10 == \old(num->exp10);
*/
static void json_value_fold_digits(const uint8_t *p, size_t from, size_t to, bool fraction,
                                   json_value_number *num)
{
    /*@ loop invariant from <= i <= to;
        loop invariant -JSON_VALUE_EXP_CAP <= num->exp10 <= 0;
        loop invariant !fraction ==> num->exp10 == \at(num->exp10, Pre);
        loop assigns i, num->mant, num->exp10, num->dropped;
        loop variant to - i;
    */
    for (size_t i = from; i < to; i++) {
        uint32_t d = (uint32_t)(p[i] - '0');
        /* mant * 10 + d <= UINT64_MAX, without a division per digit. */
        if (num->dropped || num->mant > UINT64_MAX / 10u ||
            (num->mant == UINT64_MAX / 10u && d > UINT64_MAX % 10u)) {
            num->dropped = true;
        } else {
            num->mant = num->mant * 10u + d;
            if (fraction && num->exp10 > -JSON_VALUE_EXP_CAP) {
                num->exp10--;
            }
        }
    }
}

/* The exponent part after 'e'/'E' at p[i]: [+-]? [0-9]+, added to
 * num->exp10 (saturated). *end is where it stops. */
/*@ requires \valid_read(p + (0 .. n - 1)) && i <= n;
    requires \valid(num) && \valid(end) && \separated(num, end);
    requires -JSON_VALUE_EXP_CAP <= num->exp10 <= 0;
    assigns num->exp10, *end;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==>
              -2 * JSON_VALUE_EXP_CAP <= num->exp10 <= JSON_VALUE_EXP_CAP && *end <= n;
*/
static KEEL_MUST_USE keel_result json_value_scan_exponent(const uint8_t *p, size_t n, size_t i,
                                                          json_value_number *num, size_t *end)
{
    bool neg = false;
    if (i < n && (p[i] == '+' || p[i] == '-')) {
        neg = p[i] == '-';
        i++;
    }
    size_t stop = json_value_digits_end(p, n, i);
    if (stop == i) {
        return KEEL_ERR_PARSE;
    }
    int32_t e = 0;
    /*@ loop invariant i <= k <= stop;
        loop invariant 0 <= e <= JSON_VALUE_EXP_CAP;
        loop assigns k, e;
        loop variant stop - k;
    */
    for (size_t k = i; k < stop; k++) {
        e = e < JSON_VALUE_EXP_CAP / 10 ? e * 10 + (int32_t)(p[k] - '0') : JSON_VALUE_EXP_CAP;
    }
    num->exp10 += neg ? -e : e;
    *end = stop;
    return KEEL_OK;
}

/* Read raw as an RFC 8259 number: '-'? (0 | [1-9][0-9]*) (. [0-9]+)?
 * ([eE] [+-]? [0-9]+)?, the whole slice. */
/*@ requires valid_slice(raw) && \valid(num);
    assigns *num;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==> -2 * JSON_VALUE_EXP_CAP <= num->exp10 <= 2 * JSON_VALUE_EXP_CAP;
    ensures \result == KEEL_OK && num->integral ==> num->exp10 == 0;
*/
static KEEL_MUST_USE keel_result json_value_scan_number(keel_slice raw, json_value_number *num)
{
    const uint8_t *p = raw.ptr;
    size_t n = raw.len;
    size_t i = 0;
    size_t end = 0;

    num->mant = 0;
    num->exp10 = 0;
    num->neg = n > 0 && p[0] == '-';
    num->dropped = false;
    num->integral = true;
    if (num->neg) {
        i = 1;
    }
    if (i >= n || p[i] < '0' || p[i] > '9') {
        return KEEL_ERR_PARSE;
    }
    end = p[i] == '0' ? i + 1 : json_value_digits_end(p, n, i);
    json_value_fold_digits(p, i, end, false, num);
    i = end;
    if (i < n && p[i] == '.') {
        end = json_value_digits_end(p, n, i + 1);
        if (end == i + 1) {
            return KEEL_ERR_PARSE;
        }
        json_value_fold_digits(p, i + 1, end, true, num);
        num->integral = false;
        i = end;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        if (json_value_scan_exponent(p, n, i + 1, num, &end) != KEEL_OK) {
            return KEEL_ERR_PARSE;
        }
        num->integral = false;
        i = end;
    }
    return i == n ? KEEL_OK : KEEL_ERR_PARSE;
}

/* The number of a NUMBER value: INVALID_ARG for a NULL or invalid value,
 * TYPE for another type, PARSE for a malformed number. */
/*@ requires json_value_arg(v) && \valid(num) && \separated(v, num);
    assigns *num;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_TYPE || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_ERR_TYPE ==> v != \null && v->type != KEEL_JSON_T_NUMBER;
    ensures \result == KEEL_OK ==> -2 * JSON_VALUE_EXP_CAP <= num->exp10 <= 2 * JSON_VALUE_EXP_CAP;
    ensures \result == KEEL_OK && num->integral ==> num->exp10 == 0;
    ensures \result == KEEL_OK ==> v != \null && valid_slice(v->raw);
*/
static KEEL_MUST_USE keel_result json_value_number_of(const keel_json_value *v,
                                                      json_value_number *num)
{
    if (v == NULL || !keel_slice_valid(v->raw)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (v->type != KEEL_JSON_T_NUMBER) {
        return KEEL_ERR_TYPE;
    }
    return json_value_scan_number(v->raw, num);
}

/*@ requires json_value_arg(v);
    requires out == \null || \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_TYPE ||
            \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
*/
keel_result keel_json_get_i64(const keel_json_value *v, int64_t *out)
{
    json_value_number num;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(json_value_number_of(v, &num));
    if (!num.integral) {
        return KEEL_ERR_TYPE; /* a fraction or an exponent: not an integer */
    }
    uint64_t limit = num.neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    if (num.dropped || num.mant > limit) {
        return KEEL_ERR_TOO_LARGE;
    }
    /* -(mant - 1) - 1 reaches INT64_MIN without overflowing. */
    *out = !num.neg ? (int64_t)num.mant : num.mant == 0 ? 0 : -(int64_t)(num.mant - 1u) - 1;
    return KEEL_OK;
}

/* The double nearest to num, the scan of text. Frama-C does not see the
 * body (floating-point arithmetic, strtod_l): this contract is trusted,
 * and test_json_value compares the result with glibc's strtod. errno is
 * restored (strtod_l sets ERANGE), so *out is all it changes. */
/*@ requires \valid_read(num) && valid_slice(text) && text.len <= JSON_VALUE_NUMBER_TEXT_MAX;
    requires \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_NO_MEMORY;
*/
static KEEL_MUST_USE keel_result json_value_number_to_double(const json_value_number *num,
                                                             keel_slice text, double *out);

/*@ requires json_value_arg(v);
    requires out == \null || \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_TYPE ||
            \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE ||
            \result == KEEL_ERR_NO_MEMORY;
    ensures out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
*/
keel_result keel_json_get_double(const keel_json_value *v, double *out)
{
    json_value_number num;
    if (out == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(json_value_number_of(v, &num));
    if (v->raw.len > JSON_VALUE_NUMBER_TEXT_MAX) {
        return KEEL_ERR_TOO_LARGE;
    }
    /* Through a local, so that *out changes only on success without a
     * statement about doubles in json_value_number_to_double's contract:
     * Z3 and CVC4 fail ("Unknown error") on goals that carry floating-point
     * terms. */
    double d;
    keel_result r = json_value_number_to_double(&num, v->raw, &d);
    if (r == KEEL_OK) {
        *out = d;
    }
    return r;
}

/*@ requires json_value_arg(v);
    requires out == \null || \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_TYPE ||
            \result == KEEL_ERR_PARSE;
    ensures out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
    ensures \result == KEEL_ERR_TYPE ==> v->type != KEEL_JSON_T_BOOL;
*/
keel_result keel_json_get_bool(const keel_json_value *v, bool *out)
{
    if (v == NULL || out == NULL || !keel_slice_valid(v->raw)) {
        return KEEL_ERR_INVALID_ARG;
    }
    const uint8_t *p = v->raw.ptr;
    size_t n = v->raw.len;
    if (v->type != KEEL_JSON_T_BOOL) {
        return KEEL_ERR_TYPE;
    }
    if (n == 4 && p[0] == 't' && p[1] == 'r' && p[2] == 'u' && p[3] == 'e') {
        *out = true;
        return KEEL_OK;
    }
    if (n == 5 && p[0] == 'f' && p[1] == 'a' && p[2] == 'l' && p[3] == 's' && p[4] == 'e') {
        *out = false;
        return KEEL_OK;
    }
    return KEEL_ERR_PARSE;
}

/*@ requires json_value_arg(v);
    assigns \nothing;
    ensures \result ==> v != \null && v->type == KEEL_JSON_T_NULL;
*/
bool keel_json_is_null(const keel_json_value *v)
{
    if (v == NULL || v->type != KEEL_JSON_T_NULL || !keel_slice_valid(v->raw)) {
        return false;
    }
    const uint8_t *p = v->raw.ptr;
    return v->raw.len == 4 && p[0] == 'n' && p[1] == 'u' && p[2] == 'l' && p[3] == 'l';
}

/* The bytes between the quotes of a STRING value. False when v is not a
 * string or raw is not quoted at both ends. */
/*@ requires \valid_read(v) && valid_slice(v->raw) && \valid(body) && \separated(v, body);
    assigns *body;
    ensures \result ==> valid_slice(*body) && body->len + 2 == v->raw.len &&
                        v->type == KEEL_JSON_T_STRING;
*/
static bool json_value_string_body(const keel_json_value *v, keel_slice *body)
{
    const uint8_t *p = v->raw.ptr;
    size_t n = v->raw.len;
    if (v->type != KEEL_JSON_T_STRING || n < 2 || p[0] != '"' || p[n - 1] != '"') {
        return false;
    }
    /* An empty body is the empty slice: it never points past raw. */
    keel_slice inner = { NULL, 0 };
    if (n > 2) {
        inner.ptr = p + 1;
        inner.len = n - 2;
    }
    *body = inner;
    return true;
}

/* Append the decoded body to *out: runs of plain bytes in one append each,
 * escapes one by one. On failure *out holds a partial decoding (the caller
 * rolls it back). */
/*@ requires valid_slice(body);
    requires \valid(out) && valid_buf(*out) && \separated(out, out->ptr + (0 .. out->cap - 1));
    requires buf_shape(*out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE ||
            \result == KEEL_ERR_TOO_LARGE || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> buf_shape(*out) && \old(out->len) <= out->len;
*/
static KEEL_MUST_USE keel_result json_value_unescape(keel_slice body, keel_buf *out)
{
    const uint8_t *p = body.ptr;
    size_t n = body.len;
    size_t run = 0;
    size_t i = 0;
    /* Declared out of the loop: WP then sees one allocation, not one per
     * iteration, and keeps out's validity across the loop. */
    kjson_char ch;
    uint8_t u[4] = { 0, 0, 0, 0 };

    /*@ loop invariant 0 <= run <= i <= n;
        loop invariant buf_shape(*out) && valid_buf(*out) && \at(out->len, Pre) <= out->len;
        loop assigns i, run, ch, u[0 .. 3], out->len,
                     out->ptr[\at(out->len, Pre) .. out->cap - 1];
        loop variant n - i;
    */
    while (i < n) {
        uint8_t c = p[i];
        if (c != '\\') {
            /* An unescaped quote or control byte cannot be in a validated
             * string: raw was not one. */
            if (c == '"' || c < 0x20) {
                return KEEL_ERR_PARSE;
            }
            i++;
            continue;
        }
        if (i > run) {
            keel_slice seg = { p + run, i - run };
            KEEL_TRY(keel_buf_append(out, seg));
        }
        if (kjson_escape_decode(body, i, &ch) != KEEL_OK) {
            return KEEL_ERR_PARSE;
        }
        /* A decoded escape is a scalar value, so it encodes to 1..4 bytes
         * (WP proves it; a check for 0 here was dead code). */
        keel_slice bytes = { u, kjson_utf8_put(ch.cp, u) };
        //@ assert bytes.len > 0;
        KEEL_TRY(keel_buf_append(out, bytes));
        i += ch.len;
        run = i;
    }
    if (i > run) {
        keel_slice seg = { p + run, i - run };
        return keel_buf_append(out, seg);
    }
    return KEEL_OK;
}

/*@ requires json_value_arg(v) && buf_arg(out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_TYPE ||
            \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_ERR_TYPE ==> v->type != KEEL_JSON_T_STRING;
    ensures out != \null && \result != KEEL_OK ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==> buf_shape(*out) && \old(out->len) <= out->len;
*/
keel_result keel_json_get_string(const keel_json_value *v, keel_buf *out)
{
    keel_slice body;
    if (v == NULL || !keel_slice_valid(v->raw) || !keel_buf_valid(out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (v->type != KEEL_JSON_T_STRING) {
        return KEEL_ERR_TYPE;
    }
    if (!json_value_string_body(v, &body)) {
        return KEEL_ERR_PARSE;
    }
    size_t mark = out->len;
    keel_result r = json_value_unescape(body, out);
    if (r != KEEL_OK) {
        out->len = mark;
    }
    return r;
}

/*@ requires json_value_arg(v) && slice_arg(text);
    assigns \nothing;
    ensures \result ==> v != \null && v->type == KEEL_JSON_T_STRING;
*/
bool keel_json_string_eq(const keel_json_value *v, keel_slice text)
{
    keel_slice body;
    if (v == NULL || !keel_slice_valid(v->raw) || !keel_slice_valid(text) ||
        !json_value_string_body(v, &body)) {
        return false;
    }
    return kjson_str_eq(body, text);
}

/*@ assigns \nothing;
    ensures \result != \null;
*/
const char *keel_json_type_str(keel_json_type type)
{
    switch (type) {
    case KEEL_JSON_T_NULL:
        return "null";
    case KEEL_JSON_T_BOOL:
        return "bool";
    case KEEL_JSON_T_NUMBER:
        return "number";
    case KEEL_JSON_T_STRING:
        return "string";
    case KEEL_JSON_T_ARRAY:
        return "array";
    case KEEL_JSON_T_OBJECT:
        return "object";
    }
    return "unknown";
}

/*@ requires slice_arg(doc);
    requires out == \null || \valid(out);
    assigns *out;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_OUT_OF_BOUNDS;
    ensures \result == KEEL_OK ==> 1 <= out->line <= offset + 1 && 1 <= out->column <= offset + 1;
    ensures \result != KEEL_OK && out != \null ==> *out == \old(*out);
*/
keel_result keel_json_position_of(keel_slice doc, size_t offset, keel_json_position *out)
{
    if (out == NULL || !keel_slice_valid(doc)) {
        return KEEL_ERR_INVALID_ARG;
    }
    /* No slice is SIZE_MAX bytes long: the counts below cannot wrap. */
    if (offset > doc.len || offset == SIZE_MAX) {
        return KEEL_ERR_OUT_OF_BOUNDS;
    }
    size_t line = 1;
    size_t column = 1;
    /*@ loop invariant 0 <= i <= offset;
        loop invariant 1 <= line <= i + 1;
        loop invariant 1 <= column <= i + 1;
        loop assigns i, line, column;
        loop variant offset - i;
    */
    for (size_t i = 0; i < offset; i++) {
        uint8_t b = doc.ptr[i];
        if (b == '\n') {
            line++;
            column = 1;
        } else if (b < 0x80u || b >= 0xC0u) { /* not a UTF-8 continuation byte */
            column++;
        }
    }
    out->line = line;
    out->column = column;
    return KEEL_OK;
}

/* ---- floating point and libc conversions (trusted contracts) ----------- */

#ifndef __FRAMAC__
static locale_t json_value_c_locale_value;
static pthread_once_t json_value_c_locale_once = PTHREAD_ONCE_INIT;

static void json_value_c_locale_init(void)
{
    json_value_c_locale_value = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* The "C" locale, created once per process and never freed; (locale_t)0
 * if it could not be created (newlocale fails only for lack of memory). */
static locale_t json_value_c_locale(void)
{
    if (pthread_once(&json_value_c_locale_once, json_value_c_locale_init) != 0) {
        return (locale_t)0;
    }
    return json_value_c_locale_value;
}

/* The powers of ten that doubles hold exactly. */
static const double json_value_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* text (valid JSON number text) read by strtod_l in the "C" locale. */
static KEEL_MUST_USE keel_result json_value_strtod_c(keel_slice text, double *out)
{
    /* Without the C locale strtod could not be trusted to read '.'. */
    locale_t c_locale = json_value_c_locale();
    if (c_locale == (locale_t)0) {
        return KEEL_ERR_NO_MEMORY;
    }
    char z[JSON_VALUE_NUMBER_TEXT_MAX + 1u];
    keel_buf zb = { (uint8_t *)z, sizeof z, 0 };
    if (keel_buf_append(&zb, text) != KEEL_OK || keel_buf_append_byte(&zb, 0) != KEEL_OK) {
        return KEEL_ERR_TOO_LARGE;
    }
    char *end = NULL;
    double d = strtod_l(z, &end, c_locale);
    if (end != z + text.len || isinf(d)) {
        return KEEL_ERR_TOO_LARGE;
    }
    *out = d;
    return KEEL_OK;
}

static KEEL_MUST_USE keel_result json_value_number_to_double(const json_value_number *num,
                                                             keel_slice text, double *out)
{
    if (num->mant == 0 && !num->dropped) {
        *out = num->neg ? -0.0 : 0.0;
        return KEEL_OK;
    }
    if (!num->dropped && num->mant <= (uint64_t)1 << 53 && num->exp10 >= -22 && num->exp10 <= 22) {
        /* Both operands are exact, so the one rounding is the correct one. */
        double d = (double)num->mant;
        d = num->exp10 < 0 ? d / json_value_pow10[-num->exp10] : d * json_value_pow10[num->exp10];
        *out = num->neg ? -d : d;
        return KEEL_OK;
    }
    /* strtod_l sets errno (ERANGE on underflow and overflow), and so may
     * newlocale: the contract changes *out only, so errno is put back. */
    int saved_errno = errno;
    keel_result r = json_value_strtod_c(text, out);
    errno = saved_errno;
    return r;
}

/* kjson_format_double without its errno bookkeeping. */
static KEEL_MUST_USE keel_result json_value_format_shortest(double v, keel_buf *out)
{
    if (!isfinite(v) || !keel_buf_valid(out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    locale_t c_locale = json_value_c_locale();
    if (c_locale == (locale_t)0) {
        return KEEL_ERR_NO_MEMORY;
    }
    char text[32];
    /* A normal double's shortest form has 15 digits or fewer exactly when
     * %.15g reads back (digits are then dropped by %g's trailing-zero
     * trim); subnormals have fewer significant bits, so start lower. */
    for (int precision = isnormal(v) || v == 0 ? 15 : 1; precision <= 17; precision++) {
        locale_t prev = uselocale(c_locale);
        int len = snprintf(text, sizeof text, "%.*g", precision, v);
        (void)uselocale(prev);
        if (len <= 0 || (size_t)len >= sizeof text) {
            return KEEL_ERR_INVALID_ARG;
        }
        keel_json_value back = { KEEL_JSON_T_NUMBER, { NULL, 0 }, 0 };
        if (keel_slice_from(text, (size_t)len, &back.raw) != KEEL_OK) {
            return KEEL_ERR_INVALID_ARG;
        }
        double d;
        /* Same bits: 0.0 and -0.0 compare equal but print differently. */
        if (precision == 17 ||
            (keel_json_get_double(&back, &d) == KEEL_OK && d == v && signbit(d) == signbit(v))) {
            return keel_buf_append(out, back.raw);
        }
    }
    return KEEL_ERR_INVALID_ARG;
}

keel_result kjson_format_double(double v, keel_buf *out)
{
    /* snprintf may set errno (and the read-back's strtod_l does, for
     * subnormals): the contract changes the buf only, so errno is put back.
     * The thread's locale is switched only around snprintf and restored. */
    int saved_errno = errno;
    keel_result r = json_value_format_shortest(v, out);
    errno = saved_errno;
    return r;
}
#endif

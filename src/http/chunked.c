/*
 * src/http/chunked.c - the chunked transfer coding (RFC 9112 7.1): a
 * decoder that checks and drops the framing and hands out the data as
 * slices of its input (zero copy), and an encoder. See include/keel/http.h
 * and docs/http-profile.md.
 *
 * The decoder is a byte-driven state machine over the chunk-size line
 * (size, extensions, CRLF) and the CRLF after each chunk's data, with the
 * data itself taken a run at a time and the trailer section checked by the
 * field-line scanner the head parser uses (src/http/http_internal.h). It
 * consumes what it checks: a call never looks at a byte twice, and the
 * same body split anywhere decodes to the same data and the same error.
 */
#include "http/http_internal.h"

#include "keel/http.h"
#include "keel/result.h"
#include "keel/slice.h"

/* Decoder states (d->state_). */
#define CH_SIZE_START 0u   /* the first hex digit of a chunk size */
#define CH_SIZE 1u         /* more digits, or what ends the size */
#define CH_SIZE_BWS 2u     /* whitespace after the size: only ';' may follow */
#define CH_EXT_BWS 3u      /* after ';': whitespace, then the extension's name */
#define CH_EXT_NAME 4u
#define CH_EXT_NAME_BWS 5u /* whitespace after a name: '=' or ';' */
#define CH_EXT_VAL_BWS 6u  /* after '=': whitespace, then a token or a quoted string */
#define CH_EXT_VAL 7u      /* inside a token value */
#define CH_EXT_QUOTED 8u   /* inside a quoted string */
#define CH_EXT_QESC 9u     /* after a backslash in it */
#define CH_EXT_QEND 10u    /* right after the closing quote */
#define CH_EXT_AFTER 11u   /* whitespace after a value: ';' may follow */
#define CH_SIZE_LF 12u     /* the CR that ends the chunk-size line */
#define CH_DATA 13u        /* remaining_ data bytes */
#define CH_DATA_CR 14u     /* the CRLF after the data */
#define CH_DATA_LF 15u
#define CH_TRAILER 16u     /* the trailer section (fs_) */
#define CH_DONE 17u        /* the body is complete */
#define CH_ERROR 18u       /* sticky: err_ says why */

/*@
  predicate chunked_shape{L}(keel_http_chunked *d) =
      d->state_ <= CH_ERROR && d->fs_.state <= KHTTP_FL_EMPTY;
  predicate chunked_arg{L}(keel_http_chunked *d) = d == \null || \valid(d);
*/

/*@ requires \valid(d);
    assigns d->err_, d->state_;
    ensures d->state_ == CH_ERROR && d->err_.offset == off && d->err_.reason == why;
    ensures \result == reason_result(why);
*/
static KEEL_MUST_USE keel_result chunked_fail(keel_http_chunked *d, size_t off,
                                              keel_http_reason why)
{
    d->state_ = CH_ERROR;
    return khttp_error(&d->err_, off, why);
}

/*@ assigns \nothing; */
static bool chunked_is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* The chunk-size line is complete: data follows, or (size 0) the trailer
 * section. */
/*@ requires \valid(d) && d->fs_.state <= KHTTP_FL_EMPTY;
    assigns d->state_, d->count_, d->fs_.state;
    ensures d->state_ == CH_DATA || d->state_ == CH_TRAILER;
    ensures d->fs_.state <= KHTTP_FL_EMPTY;
    ensures \result == KEEL_OK;
*/
static KEEL_MUST_USE keel_result chunked_size_done(keel_http_chunked *d)
{
    if (d->remaining_ == 0) {
        d->state_ = CH_TRAILER;
        d->count_ = 0;
        d->fs_.state = KHTTP_FL_START;
    } else {
        d->state_ = CH_DATA;
    }
    return KEEL_OK;
}

/* A line end in a state where the chunk-size line may end. */
/*@ requires \valid(d) && (c == '\r' || c == '\n') && d->fs_.state <= KHTTP_FL_EMPTY;
    assigns d->state_, d->count_, d->fs_.state, d->err_;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE;
    ensures d->fs_.state <= KHTTP_FL_EMPTY;
    ensures \result == KEEL_OK ==> d->state_ <= CH_TRAILER;
    ensures \result != KEEL_OK ==> d->state_ == CH_ERROR;
*/
static KEEL_MUST_USE keel_result chunked_line_end(keel_http_chunked *d, uint8_t c, size_t off)
{
    if (c == '\r') {
        d->state_ = CH_SIZE_LF;
        return KEEL_OK;
    }
    if ((d->cfg.lenient & KEEL_HTTP_LENIENT_BARE_LF) == 0) {
        return chunked_fail(d, off, KEEL_HTTP_BARE_LF);
    }
    return chunked_size_done(d);
}

/* The chunk-size digits and what ends them. */
/*@ requires \valid(d) && (d->state_ == CH_SIZE_START || d->state_ == CH_SIZE);
    requires d->fs_.state <= KHTTP_FL_EMPTY;
    assigns d->state_, d->remaining_, d->count_, d->fs_.state, d->err_;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures d->fs_.state <= KHTTP_FL_EMPTY;
    ensures \result == KEEL_OK ==> d->state_ <= CH_TRAILER;
    ensures \result != KEEL_OK ==> d->state_ == CH_ERROR;
*/
static KEEL_MUST_USE keel_result chunked_size_byte(keel_http_chunked *d, uint8_t c, size_t off)
{
    if ((khttp_class[c] & KHTTP_HEX) != 0) {
        uint64_t v = (khttp_class[c] & KHTTP_DIGIT) != 0 ? (uint64_t)(c - '0')
                                                         : (uint64_t)((c | 0x20u) - 'a' + 10u);
        if (d->remaining_ > (UINT64_MAX >> 4)) {
            return chunked_fail(d, off, KEEL_HTTP_CHUNK_SIZE_TOO_LARGE);
        }
        d->remaining_ = (d->remaining_ << 4) | v;
        d->state_ = CH_SIZE;
        return KEEL_OK;
    }
    if (d->state_ == CH_SIZE_START) {
        return chunked_fail(d, off, KEEL_HTTP_BAD_CHUNK_SIZE);
    }
    if (c == '\r' || c == '\n') {
        return chunked_line_end(d, c, off);
    }
    if (c != ';' && !chunked_is_ows(c)) {
        return chunked_fail(d, off, KEEL_HTTP_BAD_CHUNK_SIZE);
    }
    if (d->cfg.limits.max_chunk_ext < 1u) {
        return chunked_fail(d, off, KEEL_HTTP_CHUNK_EXT_TOO_LARGE);
    }
    d->count_ = 1;
    d->state_ = c == ';' ? CH_EXT_BWS : CH_SIZE_BWS;
    return KEEL_OK;
}

/* qdtext / quoted-pair bytes of a quoted string: HTAB, SP, VCHAR, obs-text;
 * in qdtext neither '"' nor '\\' (the caller handles those first). */
/*@ assigns \nothing; */
static bool chunked_is_qtext(uint8_t c)
{
    return (khttp_class[c] & KHTTP_TEXT) != 0;
}

/* One byte of a chunk extension (RFC 9112 7.1.1):
 *   *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * bounded by max_chunk_ext bytes (the CRLF not counted). */
/*@ requires \valid(d) && CH_SIZE_BWS <= d->state_ <= CH_EXT_AFTER;
    requires d->fs_.state <= KHTTP_FL_EMPTY;
    assigns d->state_, d->count_, d->fs_.state, d->err_;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures d->fs_.state <= KHTTP_FL_EMPTY;
    ensures \result == KEEL_OK ==> d->state_ <= CH_TRAILER;
    ensures \result != KEEL_OK ==> d->state_ == CH_ERROR;
*/
static KEEL_MUST_USE keel_result chunked_ext_byte(keel_http_chunked *d, uint8_t c, size_t off)
{
    uint32_t st = d->state_;
    bool eol = c == '\r' || c == '\n';
    bool tchar = (khttp_class[c] & KHTTP_TCHAR) != 0;
    bool ows = chunked_is_ows(c);
    if (!eol) {
        if (d->count_ >= d->cfg.limits.max_chunk_ext) {
            return chunked_fail(d, off, KEEL_HTTP_CHUNK_EXT_TOO_LARGE);
        }
        d->count_++;
    }
    switch (st) {
    case CH_SIZE_BWS:
        if (ows) {
            return KEEL_OK;
        }
        if (c == ';') {
            d->state_ = CH_EXT_BWS;
            return KEEL_OK;
        }
        return chunked_fail(d, off, KEEL_HTTP_BAD_CHUNK_SIZE);
    case CH_EXT_BWS:
    case CH_EXT_VAL_BWS:
        if (ows) {
            return KEEL_OK;
        }
        if (tchar) {
            d->state_ = st == CH_EXT_BWS ? CH_EXT_NAME : CH_EXT_VAL;
            return KEEL_OK;
        }
        if (c == '"' && st == CH_EXT_VAL_BWS) {
            d->state_ = CH_EXT_QUOTED;
            return KEEL_OK;
        }
        break;
    case CH_EXT_NAME:
    case CH_EXT_NAME_BWS:
        if (tchar && st == CH_EXT_NAME) {
            return KEEL_OK;
        }
        if (ows) {
            d->state_ = CH_EXT_NAME_BWS;
            return KEEL_OK;
        }
        if (c == '=') {
            d->state_ = CH_EXT_VAL_BWS;
            return KEEL_OK;
        }
        if (c == ';') {
            d->state_ = CH_EXT_BWS;
            return KEEL_OK;
        }
        if (eol && st == CH_EXT_NAME) {
            return chunked_line_end(d, c, off);
        }
        break;
    case CH_EXT_VAL:
    case CH_EXT_QEND:
        if (tchar && st == CH_EXT_VAL) {
            return KEEL_OK;
        }
        if (ows) {
            d->state_ = CH_EXT_AFTER;
            return KEEL_OK;
        }
        if (c == ';') {
            d->state_ = CH_EXT_BWS;
            return KEEL_OK;
        }
        if (eol) {
            return chunked_line_end(d, c, off);
        }
        break;
    case CH_EXT_QUOTED:
        if (c == '"') {
            d->state_ = CH_EXT_QEND;
            return KEEL_OK;
        }
        if (c == '\\') {
            d->state_ = CH_EXT_QESC;
            return KEEL_OK;
        }
        if (chunked_is_qtext(c)) {
            return KEEL_OK;
        }
        break;
    case CH_EXT_QESC:
        if (chunked_is_qtext(c)) {
            d->state_ = CH_EXT_QUOTED;
            return KEEL_OK;
        }
        break;
    default: /* CH_EXT_AFTER */
        if (ows) {
            return KEEL_OK;
        }
        if (c == ';') {
            d->state_ = CH_EXT_BWS;
            return KEEL_OK;
        }
        break;
    }
    return chunked_fail(d, off, KEEL_HTTP_BAD_CHUNK_EXT);
}

/* One byte of framing outside the data and the trailers: the chunk-size
 * line and the CRLF after the data. */
/*@ requires \valid(d) && d->state_ <= CH_DATA_LF && d->state_ != CH_DATA;
    requires d->fs_.state <= KHTTP_FL_EMPTY;
    assigns d->state_, d->remaining_, d->count_, d->fs_.state, d->err_;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures d->fs_.state <= KHTTP_FL_EMPTY;
    ensures \result == KEEL_OK ==> d->state_ <= CH_TRAILER;
    ensures \result != KEEL_OK ==> d->state_ == CH_ERROR;
*/
static KEEL_MUST_USE keel_result chunked_byte(keel_http_chunked *d, uint8_t c, size_t off)
{
    uint32_t st = d->state_;
    bool bare_lf = (d->cfg.lenient & KEEL_HTTP_LENIENT_BARE_LF) != 0;
    if (st == CH_SIZE_START || st == CH_SIZE) {
        return chunked_size_byte(d, c, off);
    }
    if (st == CH_SIZE_LF) {
        if (c != '\n') {
            return chunked_fail(d, off, KEEL_HTTP_BARE_CR);
        }
        return chunked_size_done(d);
    }
    if (st == CH_DATA_CR) {
        if (c == '\r') {
            d->state_ = CH_DATA_LF;
            return KEEL_OK;
        }
        if (c != '\n') {
            return chunked_fail(d, off, KEEL_HTTP_BAD_CHUNK_END);
        }
        if (!bare_lf) {
            return chunked_fail(d, off, KEEL_HTTP_BARE_LF);
        }
        d->remaining_ = 0;
        d->state_ = CH_SIZE_START;
        return KEEL_OK;
    }
    if (st == CH_DATA_LF) {
        if (c != '\n') {
            return chunked_fail(d, off, KEEL_HTTP_BARE_CR);
        }
        d->remaining_ = 0;
        d->state_ = CH_SIZE_START;
        return KEEL_OK;
    }
    return chunked_ext_byte(d, c, off);
}

/* Field-line errors in the trailer section are BAD_TRAILER, except the
 * line-ending ones, which keep their own reason everywhere. */
/*@ assigns \nothing; */
static keel_http_reason chunked_trailer_reason(keel_http_reason why)
{
    if (why == KEEL_HTTP_BARE_CR || why == KEEL_HTTP_BARE_LF) {
        return why;
    }
    return KEEL_HTTP_BAD_TRAILER;
}

/*@ requires d == \null || \valid(d);
    requires cfg == \null || \valid_read(cfg);
    assigns *d;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures d == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK ==> chunked_shape(d) && d->state_ == CH_SIZE_START;
*/
keel_result keel_http_chunked_init(keel_http_chunked *d, const keel_http_config *cfg)
{
    keel_http_config c;
    if (d == NULL) {
        return KEEL_ERR_INVALID_ARG;
    }
    KEEL_TRY(khttp_config_resolve(cfg, &c));
    d->cfg = c;
    d->state_ = CH_SIZE_START;
    d->remaining_ = 0;
    d->count_ = 0;
    d->offset_ = 0;
    d->fs_.state = KHTTP_FL_START;
    d->fs_.name_end = 0;
    d->fs_.value_start = 0;
    d->fs_.value_end = 0;
    d->err_.offset = 0;
    d->err_.reason = KEEL_HTTP_OK;
    d->err_.status = 0;
    return KEEL_OK;
}

/*@ requires d == \null || \valid_read(d);
    assigns \nothing;
    ensures \result <==> d != \null && d->state_ == CH_DONE;
*/
bool keel_http_chunked_done(const keel_http_chunked *d)
{
    return d != NULL && d->state_ == CH_DONE;
}

/* The trailer section from in[*at]: field lines checked by the shared
 * scanner and dropped, bounded by max_trailer_bytes. */
/*@ requires \valid(d) && valid_slice(in) && \valid(at) && \separated(d, at);
    requires d->state_ == CH_TRAILER && d->fs_.state <= KHTTP_FL_EMPTY && *at < in.len;
    assigns d->state_, d->count_, d->fs_, d->err_, *at;
    ensures \old(*at) <= *at <= in.len;
    ensures d->fs_.state <= KHTTP_FL_EMPTY;
    ensures \result == KEEL_OK || \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_OK ==> *at > \old(*at) && chunked_shape(d) &&
              (d->state_ == CH_TRAILER || d->state_ == CH_DONE);
    ensures \result != KEEL_OK ==> d->state_ == CH_ERROR;
*/
static KEEL_MUST_USE keel_result chunked_trailer(keel_http_chunked *d, keel_slice in, size_t *at)
{
    size_t i = *at;
    size_t base = d->offset_;
    keel_http_error e = { 0, KEEL_HTTP_OK, 0 };
    uint64_t max = d->cfg.limits.max_trailer_bytes;
    if (d->count_ >= max) {
        return chunked_fail(d, base + i, KEEL_HTTP_TRAILERS_TOO_LARGE);
    }
    size_t end = in.len;
    if (max - d->count_ < in.len - i) {
        end = i + (size_t)(max - d->count_);
    }
    if (d->fs_.state >= KHTTP_FL_FIELD) {
        d->fs_.state = KHTTP_FL_START; /* unreachable: reset after every line */
    }
    size_t j = i;
    keel_result r = khttp_field_line(&d->fs_, in, &j, end,
                                     (d->cfg.lenient & KEEL_HTTP_LENIENT_BARE_LF) != 0, &e);
    d->count_ += (uint64_t)(j - i);
    if (r == KEEL_ERR_PARSE) {
        return chunked_fail(d, base + e.offset, chunked_trailer_reason(e.reason));
    }
    if (r == KEEL_ERR_INCOMPLETE) {
        if (j < in.len) {
            return chunked_fail(d, base + j, KEEL_HTTP_TRAILERS_TOO_LARGE);
        }
        *at = j;
        return KEEL_OK;
    }
    *at = j;
    if (d->fs_.state == KHTTP_FL_EMPTY) {
        d->state_ = CH_DONE;
    } else {
        d->fs_.state = KHTTP_FL_START;
    }
    return KEEL_OK;
}

/*@ requires chunked_arg(d) && slice_arg(in);
    requires data == \null || \valid(data);
    requires consumed == \null || \valid(consumed);
    requires err == \null || \valid(err);
    requires d != \null && data != \null && consumed != \null ==> \separated(d, data, consumed);
    requires d != \null && err != \null ==> \separated(d, err);
    requires data != \null && err != \null ==> \separated(data, err);
    requires consumed != \null && err != \null ==> \separated(consumed, err);
    assigns *d, *data, *consumed, *err;
    behavior invalid:
      assumes d == \null || data == \null || consumed == \null || !slice_shape(in) ||
              !chunked_shape(d);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior decode:
      assumes d != \null && data != \null && consumed != \null && slice_shape(in) &&
              chunked_shape(d);
      ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
              \result == KEEL_ERR_PARSE || \result == KEEL_ERR_TOO_LARGE;
      ensures chunked_shape(d);
      ensures *consumed <= in.len;
      ensures valid_slice(*data);
      ensures data->len == 0 ||
              (data->ptr == in.ptr + (*consumed - data->len) && data->len <= *consumed);
      ensures \result == KEEL_ERR_INCOMPLETE ==> *consumed == in.len && data->len == 0;
      ensures \result != KEEL_OK && \result != KEEL_ERR_INCOMPLETE ==>
                *consumed == 0 && data->len == 0;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_http_chunked_decode(keel_http_chunked *d, keel_slice in, keel_slice *data,
                                     size_t *consumed, keel_http_error *err)
{
    if (d == NULL || data == NULL || consumed == NULL || !keel_slice_valid(in) ||
        d->state_ > CH_ERROR || d->fs_.state > KHTTP_FL_EMPTY) {
        return KEEL_ERR_INVALID_ARG;
    }
    keel_result r = KEEL_OK;
    size_t i = 0;
    size_t start = 0; /* the data piece, if any: in[start, start + n) */
    size_t n = 0;
    if (d->state_ == CH_ERROR) {
        r = khttp_reason_result(d->err_.reason);
    }
    /*@ loop invariant 0 <= i <= in.len && n == 0;
        loop invariant chunked_shape(d);
        loop invariant r == KEEL_OK ==> d->state_ != CH_ERROR;
        loop assigns i, r, start, n, *d;
        loop variant in.len - i;
    */
    while (r == KEEL_OK && i < in.len && d->state_ != CH_DONE) {
        if (d->state_ == CH_DATA && d->remaining_ > 0) {
            size_t avail = in.len - i;
            size_t take = d->remaining_ < avail ? (size_t)d->remaining_ : avail;
            d->remaining_ -= take;
            if (d->remaining_ == 0) {
                d->state_ = CH_DATA_CR;
            }
            start = i;
            n = take;
            i += take;
            break;
        }
        if (d->state_ == CH_DATA) {
            d->state_ = CH_DATA_CR; /* unreachable: a chunk has data */
        }
        if (d->state_ == CH_TRAILER) {
            r = chunked_trailer(d, in, &i);
            if (r != KEEL_OK) {
                break;
            }
            continue;
        }
        r = chunked_byte(d, in.ptr[i], d->offset_ + i);
        i++;
    }
    if (r != KEEL_OK) {
        data->ptr = NULL;
        data->len = 0;
        *consumed = 0;
        if (err != NULL) {
            *err = d->err_;
        }
        return r;
    }
    d->offset_ += i;
    *consumed = i;
    if (n > 0) {
        data->ptr = in.ptr + start;
        data->len = n;
        return KEEL_OK;
    }
    data->ptr = NULL;
    data->len = 0;
    return d->state_ == CH_DONE ? KEEL_OK : KEEL_ERR_INCOMPLETE;
}

/* ---- encoder -------------------------------------------------------------- */

static const uint8_t chunked_hex[16] = { '0', '1', '2', '3', '4', '5', '6', '7',
                                         '8', '9', 'a', 'b', 'c', 'd', 'e', 'f' };

/* Hex digits needed for n (1 for 0). */
/*@ assigns \nothing;
    ensures 1 <= \result <= 16;
*/
static size_t chunked_hex_width(uint64_t n)
{
    size_t w = 1;
    uint64_t v = n >> 4;
    /*@ loop invariant 1 <= w <= 16;
        loop invariant w < 16 || v == 0;
        loop assigns w, v;
        loop variant v;
    */
    while (v != 0) {
        w++;
        v >>= 4;
    }
    return w;
}

/*@ requires buf_arg(out) && slice_arg(data);
    requires out != \null && buf_shape(*out) && slice_shape(data) ==>
               \separated(out->ptr + (out->len .. out->cap - 1), data.ptr + (0 .. data.len - 1));
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_TOO_LARGE;
    ensures out == \null || !slice_shape(data) || data.len == 0 ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result != KEEL_OK && out != \null ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==> out->len > \old(out->len) && buf_shape(*out);
*/
keel_result keel_http_chunked_encode(keel_buf *out, keel_slice data)
{
    if (out == NULL || !keel_buf_valid(out) || !keel_slice_valid(data) || data.len == 0) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t w = chunked_hex_width((uint64_t)data.len);
    size_t spare = out->cap - out->len;
    if (spare < w + 4u || data.len > spare - w - 4u) {
        return KEEL_ERR_TOO_LARGE;
    }
    /*@ loop invariant 0 <= k <= w;
        loop invariant out->len == \at(out->len, Pre) + (w - k) && buf_shape(*out);
        loop assigns k, out->len, out->ptr[\at(out->len, Pre) .. out->cap - 1];
        loop variant k;
    */
    for (size_t k = w; k > 0; k--) {
        uint8_t digit = chunked_hex[((uint64_t)data.len >> (4u * (k - 1u))) & 15u];
        KEEL_TRY(keel_buf_append_byte(out, digit));
    }
    KEEL_TRY(keel_buf_append_byte(out, '\r'));
    KEEL_TRY(keel_buf_append_byte(out, '\n'));
    KEEL_TRY(keel_buf_append(out, data));
    KEEL_TRY(keel_buf_append_byte(out, '\r'));
    return keel_buf_append_byte(out, '\n');
}

/*@ requires buf_arg(out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG || \result == KEEL_ERR_TOO_LARGE;
    ensures out == \null ==> \result == KEEL_ERR_INVALID_ARG;
    ensures \result != KEEL_OK && out != \null ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==> out->len == \old(out->len) + 5 && buf_shape(*out);
*/
keel_result keel_http_chunked_encode_last(keel_buf *out)
{
    static const uint8_t last[5] = { '0', '\r', '\n', '\r', '\n' };
    if (out == NULL || !keel_buf_valid(out)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (out->cap - out->len < 5u) {
        return KEEL_ERR_TOO_LARGE;
    }
    /*@ loop invariant 0 <= k <= 5;
        loop invariant out->len == \at(out->len, Pre) + k && buf_shape(*out);
        loop assigns k, out->len, out->ptr[\at(out->len, Pre) .. out->cap - 1];
        loop variant 5 - k;
    */
    for (size_t k = 0; k < 5u; k++) {
        KEEL_TRY(keel_buf_append_byte(out, last[k]));
    }
    return KEEL_OK;
}

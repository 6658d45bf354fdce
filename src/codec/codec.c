/*
 * src/codec/codec.c - line and length-prefixed frame decoders and encoders (see
 * include/keel/codec.h). Pure functions over slices and bufs: every byte is
 * read and written through slice.c, whose contracts the proof of this file
 * borrows (proofs/modules.txt, unit codec).
 */
#include "keel/codec.h"

/*@ predicate line_dec_ok{L}(keel_line_decoder *d) = \valid(d) && line_mode_ok(d->mode);
    logic integer term_len(integer mode) = mode == KEEL_LINE_LF ? 1 : 2;
*/

/*@ assigns \nothing;
    ensures \result <==> line_mode_ok(m);
*/
static bool codec_line_mode_valid(keel_line_mode m)
{
    return m == KEEL_LINE_LF || m == KEEL_LINE_ANY || m == KEEL_LINE_CRLF;
}

/*@ requires d == \null || \valid(d);
    assigns *d;
    behavior invalid:
      assumes d == \null || !line_mode_ok(mode);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior ok:
      assumes d != \null && line_mode_ok(mode);
      assigns *d;
      ensures \result == KEEL_OK;
      ensures d->max_len == max_len && d->mode == mode && d->scanned == 0;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_line_decoder_init(keel_line_decoder *d, size_t max_len, keel_line_mode mode)
{
    if (d == NULL || !codec_line_mode_valid(mode)) {
        return KEEL_ERR_INVALID_ARG;
    }
    d->max_len = max_len;
    d->mode = mode;
    d->scanned = 0;
    return KEEL_OK;
}

/* Length of the line whose LF is in[lf]: a CR right before it belongs to the
 * terminator except in LF mode. */
/*@ requires valid_slice(in) && slice_shape(in) && lf < in.len;
    requires line_mode_ok(mode);
    assigns \nothing;
    ensures \result == lf || (\result == lf - 1 && lf > 0 && mode != KEEL_LINE_LF &&
                              in.ptr[lf - 1] == '\r');
    ensures mode == KEEL_LINE_LF ==> \result == lf;
*/
static size_t codec_line_len_before_lf(keel_slice in, size_t lf, keel_line_mode mode)
{
    uint8_t prev = 0;
    if (mode != KEEL_LINE_LF && lf > 0 && keel_slice_get(in, lf - 1, &prev) == KEEL_OK &&
        prev == '\r') {
        return lf - 1;
    }
    return lf;
}

/* In KEEL_LINE_CRLF mode, the line in[0, n) ended by in[n, lf] is malformed
 * unless the terminator is CRLF (n < lf) and the line holds no CR. */
/*@ requires valid_slice(in) && slice_shape(in) && n <= lf < in.len;
    assigns \nothing;
*/
static bool codec_crlf_line_ok(keel_slice in, size_t n, size_t lf)
{
    keel_slice body;
    size_t cr = 0;
    if (n == lf || keel_slice_sub(in, 0, n, &body) != KEEL_OK) {
        return false;
    }
    return keel_slice_find_byte(body, '\r', &cr) == KEEL_ERR_NOT_FOUND;
}

/*@ requires d == \null || \valid(d);
    requires slice_arg(in);
    requires line == \null || \valid(line);
    requires consumed == \null || \valid(consumed);
    requires d != \null && line != \null && consumed != \null ==> \separated(d, line, consumed);
    assigns d->scanned, *line, *consumed;
    behavior invalid:
      assumes d == \null || line == \null || consumed == \null ||
              !line_mode_ok(d->mode) || !slice_shape(in);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior decode:
      assumes d != \null && line != \null && consumed != \null &&
              line_mode_ok(d->mode) && slice_shape(in);
      assigns d->scanned, *line, *consumed;
      ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
              \result == KEEL_ERR_TOO_LARGE || \result == KEEL_ERR_PARSE;
      ensures \result != KEEL_OK ==> *consumed == 0 && *line == \old(*line);
      ensures \result == KEEL_OK ==> 0 < *consumed <= in.len;
      ensures \result == KEEL_OK ==> in.ptr[*consumed - 1] == '\n';
      ensures \result == KEEL_OK ==> line->len <= d->max_len;
      ensures \result == KEEL_OK ==>
                line->len < *consumed <= line->len + term_len(d->mode);
      ensures \result == KEEL_OK ==>
                valid_slice(*line) && (line->len > 0 ==> line->ptr == in.ptr);
      ensures \result == KEEL_ERR_INCOMPLETE ==> d->scanned <= in.len;
      ensures \result != KEEL_ERR_INCOMPLETE ==> d->scanned == 0;
      ensures \result == KEEL_ERR_PARSE ==> d->mode == KEEL_LINE_CRLF;
      ensures d->max_len == \old(d->max_len) && d->mode == \old(d->mode);
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_line_decode(keel_line_decoder *d, keel_slice in, keel_slice *line,
                             size_t *consumed)
{
    if (d == NULL || line == NULL || consumed == NULL || !codec_line_mode_valid(d->mode) ||
        !keel_slice_valid(in)) {
        return KEEL_ERR_INVALID_ARG;
    }
    *consumed = 0;
    size_t term = d->mode == KEEL_LINE_LF ? 1u : 2u;
    /* The LF of an acceptable line lies in in[0, max_len + term): looking
     * further would only find lines already known to be too long. */
    size_t window = in.len;
    if (d->max_len <= SIZE_MAX - term && d->max_len + term < window) {
        window = d->max_len + term;
    }
    /* A scan position beyond the window means the caller offered other
     * input: start over rather than trust it. */
    size_t from = d->scanned <= window ? d->scanned : 0u;
    keel_slice rest;
    size_t idx = 0;
    keel_result r = keel_slice_sub(in, from, window - from, &rest);
    if (r == KEEL_OK) {
        r = keel_slice_find_byte(rest, '\n', &idx);
    }
    if (r == KEEL_OK) {
        d->scanned = 0;
        size_t lf = from + idx;
        /*@ assert lf < in.len && in.ptr[lf] == '\n'; */
        size_t n = codec_line_len_before_lf(in, lf, d->mode);
        if (n > d->max_len) {
            return KEEL_ERR_TOO_LARGE;
        }
        if (d->mode == KEEL_LINE_CRLF && !codec_crlf_line_ok(in, n, lf)) {
            return KEEL_ERR_PARSE;
        }
        if (keel_slice_sub(in, 0, n, line) != KEEL_OK) {
            return KEEL_ERR_PARSE; /* unreachable: n <= lf < in.len */
        }
        *consumed = lf + 1u;
        return KEEL_OK;
    }
    d->scanned = window;
    if (window > d->max_len) {
        /* max_len + 1 bytes and no LF: too long, unless (CR modes) the last
         * of them is a CR whose LF may still come. */
        uint8_t last = 0;
        if (term == 1u || window > d->max_len + 1u ||
            keel_slice_get(in, d->max_len, &last) != KEEL_OK || last != '\r') {
            d->scanned = 0;
            return KEEL_ERR_TOO_LARGE;
        }
    }
    return KEEL_ERR_INCOMPLETE;
}

/*@ requires d == \null || \valid(d);
    requires slice_arg(in);
    requires line == \null || \valid(line);
    requires consumed == \null || \valid(consumed);
    requires d != \null && line != \null && consumed != \null ==> \separated(d, line, consumed);
    assigns d->scanned, *line, *consumed;
    behavior invalid:
      assumes d == \null || line == \null || consumed == \null ||
              !line_mode_ok(d->mode) || !slice_shape(in);
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior decode:
      assumes d != \null && line != \null && consumed != \null &&
              line_mode_ok(d->mode) && slice_shape(in);
      assigns d->scanned, *line, *consumed;
      ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
              \result == KEEL_ERR_TOO_LARGE || \result == KEEL_ERR_PARSE;
      ensures \result != KEEL_OK ==> *consumed == 0;
      ensures \result == KEEL_OK ==>
                0 < *consumed <= in.len && line->len <= d->max_len &&
                line->len <= *consumed && valid_slice(*line) &&
                (line->len > 0 ==> line->ptr == in.ptr);
      ensures \result == KEEL_ERR_INCOMPLETE ==> in.len == 0;
      ensures d->scanned == 0;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_line_decode_final(keel_line_decoder *d, keel_slice in, keel_slice *line,
                                   size_t *consumed)
{
    keel_result r = keel_line_decode(d, in, line, consumed);
    if (r != KEEL_ERR_INCOMPLETE) {
        return r;
    }
    /*@ assert d != \null; */
    d->scanned = 0;
    if (in.len == 0) {
        return KEEL_ERR_INCOMPLETE;
    }
    if (d->mode == KEEL_LINE_CRLF) {
        return KEEL_ERR_PARSE;
    }
    if (in.len > d->max_len) {
        return KEEL_ERR_TOO_LARGE;
    }
    *line = in;
    *consumed = in.len;
    return KEEL_OK;
}

/*@ requires buf_arg(out) && slice_arg(line);
    requires d == \null || \valid_read(d);
    requires out != \null ==> \separated(d, out);
    requires out != \null && d != \null ==> \separated(d, out->ptr + (0 .. out->cap - 1));
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_TOO_LARGE || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_ERR_INVALID_ARG <==>
              (out == \null || d == \null || !buf_shape(\old(*out)) ||
               !slice_shape(line) || !line_mode_ok(d->mode));
    ensures \result != KEEL_OK && out != \null ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==>
              line.len <= d->max_len && buf_shape(*out) &&
              out->len == \old(out->len) + line.len + term_len(d->mode);
*/
keel_result keel_line_encode(keel_buf *out, const keel_line_decoder *d, keel_slice line)
{
    if (out == NULL || d == NULL || !keel_buf_valid(out) || !keel_slice_valid(line) ||
        !codec_line_mode_valid(d->mode)) {
        return KEEL_ERR_INVALID_ARG;
    }
    if (line.len > d->max_len) {
        return KEEL_ERR_TOO_LARGE;
    }
    size_t at = 0;
    if (keel_slice_find_byte(line, '\n', &at) == KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    if (d->mode != KEEL_LINE_LF && keel_slice_find_byte(line, '\r', &at) == KEEL_OK) {
        return KEEL_ERR_PARSE;
    }
    size_t term = d->mode == KEEL_LINE_LF ? 1u : 2u;
    size_t spare = out->cap - out->len;
    if (line.len > spare || term > spare - line.len) {
        return KEEL_ERR_TOO_LARGE;
    }
    /* Room was checked above: these appends cannot fail. */
    if (keel_buf_append(out, line) != KEEL_OK) {
        return KEEL_ERR_TOO_LARGE;
    }
    if (term == 2u && keel_buf_append_byte(out, '\r') != KEEL_OK) {
        return KEEL_ERR_TOO_LARGE;
    }
    if (keel_buf_append_byte(out, '\n') != KEEL_OK) {
        return KEEL_ERR_TOO_LARGE;
    }
    return KEEL_OK;
}

/* ---- frames ----------------------------------------------------------- */

/*@ assigns \nothing;
    ensures \result <==> frame_width_ok(w);
*/
static bool codec_frame_width_valid(size_t w)
{
    return w == 1u || w == 2u || w == 4u;
}

/* Largest length a prefix of width w can say. */
/*@ requires frame_width_ok(w);
    assigns \nothing;
    ensures w == 1 ==> \result == 255;
    ensures w == 2 ==> \result == 65535;
    ensures w == 4 ==> \result == 4294967295;
*/
static uint64_t codec_frame_prefix_max(size_t w)
{
    return w == 1u ? UINT8_MAX : w == 2u ? UINT16_MAX : UINT32_MAX;
}

/*@ requires d == \null || \valid(d);
    assigns *d;
    behavior invalid:
      assumes d == \null || !frame_width_ok(width);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior ok:
      assumes d != \null && frame_width_ok(width);
      assigns *d;
      ensures \result == KEEL_OK && d->width == width && d->max_frame == max_frame;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_frame_decoder_init(keel_frame_decoder *d, size_t width, size_t max_frame)
{
    if (d == NULL || !codec_frame_width_valid(width)) {
        return KEEL_ERR_INVALID_ARG;
    }
    d->width = width;
    d->max_frame = max_frame;
    return KEEL_OK;
}

/* The length prefix at the front of in. The caller checked in.len >= w, so
 * the read cannot fail: WP proves it (the assert), and there is no failure
 * branch to leave as dead code. */
/*@ requires valid_slice(in) && slice_shape(in) && frame_width_ok(w) && w <= in.len;
    assigns \nothing;
*/
static uint64_t codec_frame_prefix(keel_slice in, size_t w)
{
    keel_result r;
    uint64_t len;
    if (w == 1u) {
        uint8_t v8 = 0;
        r = keel_slice_get(in, 0, &v8);
        len = v8;
    } else if (w == 2u) {
        uint16_t v16 = 0;
        r = keel_slice_read_u16be(in, 0, &v16);
        len = v16;
    } else {
        uint32_t v32 = 0;
        r = keel_slice_read_u32be(in, 0, &v32);
        len = v32;
    }
    //@ assert r == KEEL_OK;
    (void)r;
    return len;
}

/*@ requires d == \null || \valid_read(d);
    requires slice_arg(in);
    requires payload == \null || \valid(payload);
    requires consumed == \null || \valid(consumed);
    requires need == \null || \valid(need);
    requires payload != \null && consumed != \null ==> \separated(payload, consumed);
    requires need != \null ==> \separated(need, payload) && \separated(need, consumed);
    requires d != \null ==>
               \separated(d, payload) && \separated(d, consumed) && \separated(d, need);
    assigns *payload, *consumed, *need;
    behavior invalid:
      assumes d == \null || payload == \null || consumed == \null ||
              !frame_width_ok(d->width) || !slice_shape(in);
      assigns \nothing;
      ensures \result == KEEL_ERR_INVALID_ARG;
    behavior short_prefix:
      assumes d != \null && payload != \null && consumed != \null &&
              frame_width_ok(d->width) && slice_shape(in) && in.len < d->width;
      assigns *consumed, *need;
      ensures \result == KEEL_ERR_INCOMPLETE && *consumed == 0;
      ensures need != \null ==> *need == d->width;
    behavior prefix:
      assumes d != \null && payload != \null && consumed != \null &&
              frame_width_ok(d->width) && slice_shape(in) && in.len >= d->width;
      assigns *payload, *consumed, *need;
      ensures \result == KEEL_OK || \result == KEEL_ERR_INCOMPLETE ||
              \result == KEEL_ERR_TOO_LARGE;
      ensures \result != KEEL_OK ==> *consumed == 0 && *payload == \old(*payload);
      ensures \result == KEEL_OK ==>
                payload->len <= d->max_frame && *consumed == d->width + payload->len &&
                *consumed <= in.len && valid_slice(*payload) &&
                (payload->len > 0 ==> payload->ptr == in.ptr + d->width);
      ensures \result == KEEL_ERR_INCOMPLETE && need != \null ==>
                in.len < *need <= d->width + d->max_frame;
    complete behaviors;
    disjoint behaviors;
*/
keel_result keel_frame_decode(const keel_frame_decoder *d, keel_slice in, keel_slice *payload,
                              size_t *consumed, size_t *need)
{
    if (d == NULL || payload == NULL || consumed == NULL || !codec_frame_width_valid(d->width) ||
        !keel_slice_valid(in)) {
        return KEEL_ERR_INVALID_ARG;
    }
    *consumed = 0;
    size_t w = d->width;
    if (in.len < w) {
        if (need != NULL) {
            *need = w;
        }
        return KEEL_ERR_INCOMPLETE;
    }
    uint64_t len = codec_frame_prefix(in, w);
    if (len > d->max_frame || len > SIZE_MAX - w) {
        return KEEL_ERR_TOO_LARGE;
    }
    size_t total = w + (size_t)len;
    if (total > in.len) {
        if (need != NULL) {
            *need = total;
        }
        return KEEL_ERR_INCOMPLETE;
    }
    if (keel_slice_sub(in, w, (size_t)len, payload) != KEEL_OK) {
        return KEEL_ERR_INCOMPLETE; /* unreachable: total <= in.len */
    }
    *consumed = total;
    return KEEL_OK;
}

/*@ requires buf_arg(out) && slice_arg(payload);
    requires d == \null || \valid_read(d);
    requires out != \null ==> \separated(d, out);
    requires out != \null && d != \null ==> \separated(d, out->ptr + (0 .. out->cap - 1));
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_TOO_LARGE;
    ensures \result == KEEL_ERR_INVALID_ARG <==>
              (out == \null || d == \null || !buf_shape(\old(*out)) ||
               !slice_shape(payload) || !frame_width_ok(d->width));
    ensures \result != KEEL_OK && out != \null ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==>
              payload.len <= d->max_frame && buf_shape(*out) &&
              out->len == \old(out->len) + d->width + payload.len;
*/
keel_result keel_frame_encode(keel_buf *out, const keel_frame_decoder *d, keel_slice payload)
{
    if (out == NULL || d == NULL || !keel_buf_valid(out) || !keel_slice_valid(payload) ||
        !codec_frame_width_valid(d->width)) {
        return KEEL_ERR_INVALID_ARG;
    }
    size_t w = d->width;
    if (payload.len > d->max_frame || (uint64_t)payload.len > codec_frame_prefix_max(w)) {
        return KEEL_ERR_TOO_LARGE;
    }
    size_t spare = out->cap - out->len;
    if (w > spare || payload.len > spare - w) {
        return KEEL_ERR_TOO_LARGE;
    }
    /* Room was checked above: these appends cannot fail. */
    keel_result r;
    if (w == 1u) {
        r = keel_buf_append_byte(out, (uint8_t)payload.len);
    } else if (w == 2u) {
        r = keel_buf_append_u16be(out, (uint16_t)payload.len);
    } else {
        r = keel_buf_append_u32be(out, (uint32_t)payload.len);
    }
    if (r == KEEL_OK) {
        r = keel_buf_append(out, payload);
    }
    return r;
}

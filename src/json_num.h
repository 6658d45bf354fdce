/*
 * src/json_num.h - the double -> text conversion json_write.c uses,
 * defined in json_value.c next to the number parser it checks itself
 * against and the "C" locale both share.
 *
 * It wraps snprintf under uselocale with a "C" locale created once, so
 * that keel's JSON numbers never depend on the process locale. Frama-C does
 * not see the body (#ifndef __FRAMAC__ in json_value.c): the contract below
 * is trusted (proofs/README.md lists it) and tested by test_json_write.
 */
#ifndef KEEL_JSON_NUM_H
#define KEEL_JSON_NUM_H

#include <stddef.h>

#include "keel/result.h"
#include "keel/slice.h"

/* Append the shortest of v's "%.Ng" renderings in the C locale, N from 15
 * (from 1 for subnormals) to 17, that reads back to v (all are valid JSON
 * numbers), all or nothing. KEEL_ERR_INVALID_ARG for NaN, an infinity or
 * an invalid buf, KEEL_ERR_TOO_LARGE when it does not fit (at most 24
 * bytes are needed), KEEL_ERR_NO_MEMORY when the C locale cannot be
 * created. */
/*@ requires buf_arg(out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_TOO_LARGE || \result == KEEL_ERR_NO_MEMORY;
    ensures out != \null && \result != KEEL_OK ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==>
              buf_shape(*out) && \old(out->len) < out->len <= \old(out->len) + 24;
*/
keel_result kjson_format_double(double v, keel_buf *out);

#endif /* KEEL_JSON_NUM_H */

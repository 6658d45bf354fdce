/*
 * proofs/contracts/addr.h - what src/net/addr.c is proven against, included
 * by addr.c under __FRAMAC__ only (ci/prove adds -Iproofs). WP proves addr.c
 * alone (the net/addr unit), so the entry points' checks and the formatters
 * need slice.c's contracts of keel_slice_valid, keel_buf_valid and
 * keel_buf_append: restated here word for word (proofs/README.md,
 * Assumptions). The net/addrlink unit loads slice.c with addr.c and proves
 * slice.c's bodies against these restatements.
 */
#ifndef KEEL_PROOFS_CONTRACTS_ADDR_H
#define KEEL_PROOFS_CONTRACTS_ADDR_H

#include "keel/slice.h"

/* For the entry points' validity checks. */
/*@ assigns \nothing;
    ensures \result <==> slice_shape(s);
*/
bool keel_slice_valid(keel_slice s);
/*@ requires b == \null || \valid_read(b);
    assigns \nothing;
    ensures \result <==> (b != \null && buf_shape(*b));
*/
bool keel_buf_valid(const keel_buf *b);

/* For the formatters: the part of keel_buf_append's documented contract
 * (slice.h: all or nothing) that they rely on. */
/*@ requires \valid(b) && valid_buf(*b) && \separated(b, b->ptr + (0 .. b->cap - 1));
    requires valid_slice(src);
    requires \separated(b, src.ptr + (0 .. src.len - 1));
    assigns *b, b->ptr[0 .. b->cap - 1];
    ensures valid_buf(*b) && b->ptr == \old(b->ptr) && b->cap == \old(b->cap);
    ensures \result == KEEL_OK ==> b->len == \old(b->len) + src.len;
    ensures \result != KEEL_OK ==> b->len == \old(b->len)
            && (\forall integer k; 0 <= k < b->cap ==> b->ptr[k] == \old(b->ptr[k]));
*/
KEEL_MUST_USE keel_result keel_buf_append(keel_buf *b, keel_slice src);

#endif /* KEEL_PROOFS_CONTRACTS_ADDR_H */

/*
 * src/json/json_internal.h - building blocks shared by the JSON modules
 * (json.c: validator, tokenizer, lookup; json_value.c: typed extraction;
 * json_write.c: writer), so that UTF-8 and escape handling exist once.
 *
 * All are defined in src/json/json.c with their ACSL contracts (a proof unit of
 * another JSON module loads src/json/json.c to lend them). They have external
 * linkage inside the library but no public visibility (-fvisibility=hidden):
 * they are not part of the API.
 *
 * Internal convention: callers pass valid slices (the contracts require
 * valid_slice) and a position inside them; the functions still never read
 * outside [0, s.len).
 */
#ifndef KEEL_JSON_INTERNAL_H
#define KEEL_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/word.h"
#include "keel/json.h"
#include "keel/result.h"
#include "keel/slice.h"

/*@
  predicate json_ws(integer c) = c == ' ' || c == '\t' || c == '\r' || c == '\n';
  predicate is_surrogate(integer cp) = 0xD800 <= cp <= 0xDFFF;
  predicate is_scalar(integer cp) = 0 <= cp <= 0x10FFFF && !is_surrogate(cp);
*/

/* Bit 7 of each byte of w that ends a plain run inside a string being
 * validated: a quote, a backslash, a control character (below 0x20) or a
 * byte of 0x80 and above (src/core/word.h's convention: the lowest flagged
 * byte is exact, a byte above it may be flagged after a borrow). For a
 * byte b below 0x80, (b ^ '"') - 1 and (b ^ '\\') - 1 set bit 7 only when
 * b is that byte, and b - 0x20 only when b is below 0x20; w's own bit 7
 * flags the bytes from 0x80; each subtraction borrows only out of a byte
 * it flags. tests/core/test_word.c checks it against that definition for
 * every byte value at every position (proofs/README.md, Assumption 50). */
/*@ assigns \nothing; */
static inline uint64_t kjson_string_stops(uint64_t w)
{
    return (((w ^ (KWORD_ONES * '"')) - KWORD_ONES) | ((w ^ (KWORD_ONES * '\\')) - KWORD_ONES) |
            (w - KWORD_ONES * 0x20u) | w) &
           KWORD_HIGHS;
}

/* One decoded character: a UTF-8 sequence or a string escape. */
typedef struct kjson_char {
    uint32_t cp;           /* the code point (on KEEL_OK) */
    size_t len;            /* bytes consumed on KEEL_OK; on failure, for a
                            * UTF-8 sequence, the length of the maximal
                            * subpart to replace by one U+FFFD (>= 1) */
    keel_json_reason why;  /* KEEL_JSON_OK, or why it failed */
} kjson_char;

/* Decode the UTF-8 sequence at s[pos] (RFC 3629 / Unicode table 3-7
 * well-formed sequences). KEEL_OK: c->cp is a scalar value (no surrogate,
 * <= U+10FFFF) and c->len (1..4) bytes were read. KEEL_ERR_PARSE: invalid
 * lead byte, overlong form, surrogate, > U+10FFFF or a bad continuation
 * byte (why = BAD_UTF8). KEEL_ERR_INCOMPLETE: the slice ends inside an
 * otherwise well-formed sequence (why = UNEXPECTED_END). On both failures
 * c->len is the maximal subpart (the lead byte and the continuation bytes
 * that were still acceptable). Requires pos < s.len. */
KEEL_MUST_USE keel_result kjson_utf8_decode(keel_slice s, size_t pos, kjson_char *c);

/* Read four hex digits (either case) at s[pos]: KEEL_OK with *v,
 * KEEL_ERR_PARSE at a non-hex digit, KEEL_ERR_INCOMPLETE when the slice
 * ends first. *v is written only on KEEL_OK. Requires pos <= s.len. */
KEEL_MUST_USE keel_result kjson_hex4(keel_slice s, size_t pos, uint32_t *v);

/* Decode the escape at s[pos] (which is '\\'): the two-byte escapes, and
 * \uXXXX including a surrogate pair \uD8xx\uDCxx (c->len 12). KEEL_OK with
 * c->cp a scalar value; KEEL_ERR_PARSE with why BAD_ESCAPE (unknown escape,
 * non-hex digit) or BAD_SURROGATE (lone or misordered surrogate);
 * KEEL_ERR_INCOMPLETE (why UNEXPECTED_END) when the slice ends inside it.
 * Requires pos < s.len. */
KEEL_MUST_USE keel_result kjson_escape_decode(keel_slice s, size_t pos, kjson_char *c);

/* Write the UTF-8 encoding of cp into out[0 .. n-1] and return n (1..4);
 * 0 (nothing written) when cp is a surrogate or above U+10FFFF. */
size_t kjson_utf8_put(uint32_t cp, uint8_t out[4]);

/* Append the UTF-8 encoding of cp to *b, all or nothing: KEEL_ERR_TOO_LARGE
 * (b unchanged) when it does not fit, KEEL_ERR_INVALID_ARG for a surrogate,
 * a value above U+10FFFF or an invalid buf. */
KEEL_MUST_USE keel_result kjson_utf8_encode(keel_buf *b, uint32_t cp);

/* From i, past the words of eight spaces (the indentation after a line
 * break) to the first byte that may not be one, or to where fewer than
 * eight bytes remain; kjson_skip_ws's out-of-line part (an external
 * symbol: kjson_skip_ws is an inline function with external linkage,
 * which may not call a static one). Requires i <= s.len. */
size_t kjson_space_words(keel_slice s, size_t i);

/* The first position >= pos that is not JSON whitespace (SP, HT, CR, LF),
 * or s.len. Requires pos <= s.len. */
size_t kjson_skip_ws(keel_slice s, size_t pos);

/* On a validated document: the value starting at s[pos] (no whitespace
 * before it) ends at *end (one past its last byte). Containers are skipped
 * by bracket counting, strings by looking for the closing quote (honouring
 * backslashes), scalars up to the next delimiter; nothing is re-validated,
 * but nothing is read outside s either: if s ends first (not a validated
 * document) the result is KEEL_ERR_PARSE. *end written only on KEEL_OK.
 * Requires pos <= s.len. */
KEEL_MUST_USE keel_result kjson_skip_value(keel_slice s, size_t pos, size_t *end);

/* Whether the body of a validated string (its bytes between the quotes,
 * escapes not decoded) decodes to exactly the bytes of text. A malformed
 * escape compares unequal. */
bool kjson_str_eq(keel_slice body, keel_slice text);

/* ---- numbers ----------------------------------------------------------
 * The double -> text conversion json_write.c uses, defined in json_value.c
 * next to the number parser it checks itself against and the "C" locale
 * both share. It wraps snprintf under uselocale with a "C" locale created
 * once, so that keel's JSON numbers never depend on the process locale.
 * Frama-C does not see the body (#ifndef __FRAMAC__ in json_value.c): the
 * contract below is trusted (proofs/README.md lists it) and tested by
 * test_json_write. */
/* Append the shortest of v's "%.Ng" renderings in the C locale, N from 15
 * (from 1 for subnormals) to 17, that reads back to v (all are valid JSON
 * numbers), all or nothing. KEEL_ERR_INVALID_ARG for NaN, an infinity or
 * an invalid buf, KEEL_ERR_TOO_LARGE when it does not fit (at most 24
 * bytes are needed), KEEL_ERR_NO_MEMORY when the C locale cannot be
 * created. errno and the thread's locale are as they were on entry (the
 * contract's assigns clause names everything else it changes; the "C"
 * locale_t cached for the process is outside every proof's model). */
/*@ requires buf_arg(out);
    assigns out->len, out->ptr[out->len .. out->cap - 1];
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG ||
            \result == KEEL_ERR_TOO_LARGE || \result == KEEL_ERR_NO_MEMORY;
    ensures out != \null && \result != KEEL_OK ==> out->len == \old(out->len);
    ensures \result == KEEL_OK ==>
              buf_shape(*out) && \old(out->len) < out->len <= \old(out->len) + 24;
*/
KEEL_MUST_USE keel_result kjson_format_double(double v, keel_buf *out);

/* ---- members and elements (json.c) ------------------------------------- */

/* A value inside the bytes a lookup works on, as offsets: lookups carry
 * offsets rather than sub-slices, so that every slice they hand out is cut
 * from the caller's own slice in one place (json.c's json_slice_range). */
typedef struct kjson_span {
    keel_json_type type;
    size_t start;
    size_t end;
} kjson_span;

/* The next child of the container (an object when obj) whose opening
 * bracket is s[start]; the walk ends at its closing bracket (NOT_FOUND) or
 * at the end of s. *pos is <= start before the first child, else just past
 * the previous one. For an object, *key is the member's key with its quotes. */
/*@ requires valid_slice(s) && start < s.len;
    requires \valid(pos) && \valid(key) && \valid(val) && \separated(pos, key, val);
    assigns *pos, *key, *val;
    ensures \result == KEEL_OK || \result == KEEL_ERR_NOT_FOUND || \result == KEEL_ERR_PARSE;
    ensures \result == KEEL_OK ==>
              \old(*pos) < *pos && start < *pos && *pos <= s.len && *pos == val->end &&
              start < val->start < val->end && key->start <= key->end <= s.len;
    ensures \result == KEEL_OK && obj ==> key->start < key->end;
    ensures \result != KEEL_OK ==> *pos == \old(*pos);
*/
KEEL_MUST_USE keel_result kjson_next_child_span(keel_slice s, bool obj, size_t start, size_t *pos,
                                                kjson_span *key, kjson_span *val);

/* ---- duplicate keys (json_dups.c) -------------------------------------- */

/* Keys remembered at once, over all open objects. */
#define KJSON_DUPS_KEYS 256u
/* Containers open at once: the validator allows at most KEEL_JSON_DEPTH_CAP. */
#define KJSON_DUPS_LEVELS (KEEL_JSON_DEPTH_CAP + 1u)
/* Hash matches between different keys a document may cost before every
 * object is checked by sorting instead (keys made to collide cannot buy
 * more than this many text comparisons). */
#define KJSON_DUPS_MISSES 64u

/* The repeated-key check's state, fed the validator's tokens (about 17 KiB,
 * on keel_json_validate's stack). Each open object's keys so far are
 * key_at[obj_base[o] .. keys - 1]; an object whose keys did not all fit
 * (obj_over) is checked whole when it closes. Fields are json_dups.c's. */
typedef struct kjson_dups {
    size_t key_at[KJSON_DUPS_KEYS];     /* each key's opening quote */
    uint32_t key_hash[KJSON_DUPS_KEYS]; /* FNV-1a of its decoded bytes */
    size_t keys;
    size_t obj_open[KJSON_DUPS_LEVELS]; /* each open object's brace */
    uint16_t obj_base[KJSON_DUPS_LEVELS];
    bool obj_over[KJSON_DUPS_LEVELS];
    size_t objs;                        /* open objects */
    bool level_obj[KJSON_DUPS_LEVELS];  /* each open container: an object? */
    size_t levels;                      /* open containers */
    bool lost;                          /* tokens it cannot follow: stopped */
    uint32_t misses;                    /* hash matches of different keys */
    bool sorting;                       /* past KJSON_DUPS_MISSES: every object sorted */
} kjson_dups;

/*@ requires \valid(w);
    assigns w->keys, w->objs, w->levels, w->lost, w->misses, w->sorting;
*/
void kjson_dups_init(kjson_dups *w);

/* The next token of the document s the validator is reading: its kind and
 * its bytes s[at .. end - 1]. True with *dup = the offset of a key (its
 * opening quote) that repeats an earlier key of its object. Never reads
 * outside s or *w, whatever the tokens and *w hold: every index it keeps
 * is checked where it is used (a state it cannot follow stops the check). */
/*@ requires valid_slice(s) && \valid(w) && \valid(dup) && \separated(w, dup);
    assigns *w, *dup;
    ensures \result ==> *dup < s.len;
*/
bool kjson_dups_token(keel_slice s, kjson_dups *w, keel_json_kind kind, size_t at, size_t end,
                      size_t *dup);

/* ---- the validating walk (json.c) --------------------------------------
 * keel_json_validate's engine, shared with keel_json_extract
 * (json_extract.c): the tokenizer's tokens, each also handed to the
 * repeated-key check. */

/* Tokenizer states (keel_json_tokenizer.state): what may come next. */
#define ST_VALUE 0u          /* a value (top level, after ':' or an array ',') */
#define ST_VALUE_OR_CLOSE 1u /* after '[': a value or ']' */
#define ST_KEY_OR_CLOSE 2u   /* after '{': a key or '}' */
#define ST_KEY 3u            /* after an object ',': a key */
#define ST_COLON 4u          /* after a key: ':' */
#define ST_AFTER 5u          /* after a member/element: ',' or the close */
#define ST_DONE 6u           /* the top-level value is complete */
#define ST_ERROR 7u          /* sticky: t->err says why */

/*@
  predicate tok_fields(keel_slice doc, integer pos, integer max_depth, integer depth,
                       integer state) =
      slice_shape(doc) && pos <= doc.len &&
      1 <= max_depth <= KEEL_JSON_DEPTH_CAP && depth <= max_depth && state <= ST_ERROR;
  predicate tok_shape{L}(keel_json_tokenizer *t) =
      tok_fields(t->doc, t->pos, t->max_depth, t->depth, t->state);
  logic integer result_of(integer why) =
      why == KEEL_JSON_UNEXPECTED_END ? KEEL_ERR_INCOMPLETE :
      why == KEEL_JSON_TOO_DEEP ? KEEL_ERR_TOO_LARGE : KEEL_ERR_PARSE;
  predicate json_failure(keel_result r) =
      r == KEEL_ERR_PARSE || r == KEEL_ERR_INCOMPLETE || r == KEEL_ERR_TOO_LARGE;
*/

/* A token as the engine sees it: offsets into the document, no slice. */
typedef struct kjson_tok {
    keel_json_kind kind;
    size_t start;
    size_t end;
    uint32_t depth; /* containers open around it (as keel_json_token's) */
} kjson_tok;

/* A walk over one document (about 18 KiB: keep it on the stack of the
 * function that walks). Fields are json.c's. */
typedef struct kjson_walk {
    keel_json_tokenizer t;
    kjson_dups dups;
    bool check_dups; /* refuse repeated keys */
    bool repeated;   /* a key repeated: dup is its offset */
    size_t dup;
} kjson_walk;

/* walk_fields is walk_shape with the fields given one by one: the
 * contract of kjson_walk_next states it of k's fields, so that a prover
 * does not load the whole walk (its duplicate-key tables, most of its
 * ~18 KiB) to check seven numbers; the same property, proven in seconds
 * instead of timing out. */
/*@
  predicate walk_fields{L}(keel_slice doc, integer pos, integer max_depth, integer depth,
                          integer state, _Bool repeated, integer dup) =
      tok_fields(doc, pos, max_depth, depth, state) && valid_slice(doc) &&
      (repeated ==> dup < doc.len);
  predicate walk_shape{L}(kjson_walk k) =
      walk_fields(k.t.doc, k.t.pos, k.t.max_depth, k.t.depth, k.t.state, k.repeated, k.dup);
*/

/* Start walking doc (max_depth as for keel_json_validate); repeated keys
 * are refused when check_dups. KEEL_ERR_INVALID_ARG for a slice that is
 * not valid or max_depth above KEEL_JSON_DEPTH_CAP. */
/*@ requires \valid(k) && slice_arg(doc);
    assigns *k;
    ensures \result == KEEL_OK || \result == KEEL_ERR_INVALID_ARG;
    ensures \result == KEEL_OK <==> slice_shape(doc) && max_depth <= KEEL_JSON_DEPTH_CAP;
    ensures \result == KEEL_OK ==> walk_shape(*k) && k->t.doc == doc && k->t.pos == 0;
*/
KEEL_MUST_USE keel_result kjson_walk_init(kjson_walk *k, keel_slice doc, uint32_t max_depth,
                                          bool check_dups);

/* The next token, as the tokenizer's (KEEL_JSON_END once the top-level
 * value is complete); errors are the tokenizer's, sticky, and k->t.err
 * says where and why. A repeated key is not an error here: kjson_walk_end
 * reports it once the grammar is known good. */
/*@ requires \valid(k) && \valid(out) && \separated(k, out);
    requires walk_fields(k->t.doc, k->t.pos, k->t.max_depth, k->t.depth, k->t.state,
                         k->repeated, k->dup);
    assigns k->t.pos, k->t.depth, k->t.state, k->t.err,
            k->t.stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1], k->dups, k->repeated, k->dup, *out;
    ensures walk_fields(k->t.doc, k->t.pos, k->t.max_depth, k->t.depth, k->t.state,
                        k->repeated, k->dup);
    ensures k->t.doc == \old(k->t.doc) && k->t.max_depth == \old(k->t.max_depth);
    ensures \result == KEEL_OK || json_failure(\result);
    ensures \result == KEEL_OK ==> out->start <= out->end <= k->t.doc.len;
    ensures \result == KEEL_OK ==> out->depth <= k->t.max_depth;
    ensures \result == KEEL_OK && out->kind != KEEL_JSON_END ==> k->t.pos > \old(k->t.pos);
    ensures \result != KEEL_OK ==> k->t.err.offset <= k->t.doc.len &&
                                   \result == result_of(k->t.err.reason);
*/
KEEL_MUST_USE keel_result kjson_walk_next(kjson_walk *k, kjson_tok *out);

/* The walk's verdict, given r, the last result of kjson_walk_next: r when
 * it failed; else a repeated key (KEEL_ERR_PARSE, KEEL_JSON_DUPLICATE_KEY at
 * its opening quote) or KEEL_OK. *err (if not NULL) says where and why,
 * { 0, KEEL_JSON_OK } on KEEL_OK. */
/*@ requires \valid(k) && walk_shape(*k);
    requires err == \null || (\valid(err) && \separated(k, err));
    requires r == KEEL_OK ||
             (json_failure(r) && k->t.err.offset <= k->t.doc.len && r == result_of(k->t.err.reason));
    assigns k->t.err, k->t.state, *err;
    ensures \result == KEEL_OK || json_failure(\result);
    ensures \result == KEEL_OK ==> r == KEEL_OK;
    ensures \result == KEEL_OK && err != \null ==> err->offset == 0 && err->reason == KEEL_JSON_OK;
    ensures \result != KEEL_OK && err != \null ==>
              err->offset <= k->t.doc.len && \result == result_of(err->reason);
*/
KEEL_MUST_USE keel_result kjson_walk_end(kjson_walk *k, keel_result r, keel_json_error *err);

#endif /* KEEL_JSON_INTERNAL_H */

/**
 * @file
 * @brief keel/json.h - strict RFC 8259 JSON over slices: validate, tokenize, look
 * up by path, extract typed values, write.
 *
 * Conventions:
 *  - Nothing here allocates. The input is a keel_slice the caller owns and
 *    keeps alive while tokens/values that point into it are used: tokens and
 *    values are views (keel_slice) into the document, never copies.
 *  - Strict RFC 8259: one value per document (any type at the top level),
 *    surrounded by optional whitespace (space, tab, CR, LF only). No
 *    comments, no trailing commas, no NaN/Infinity, no single quotes, no
 *    leading zeros, no '+' sign. Strings must be valid UTF-8 (overlong
 *    forms, surrogates U+D800..U+DFFF, code points above U+10FFFF and
 *    truncated sequences are rejected); control characters U+0000..U+001F
 *    must be escaped. A "\u" escape of a lone surrogate is rejected (it
 *    cannot be represented in UTF-8). Duplicate object keys are accepted
 *    (RFC 8259 allows them); lookup returns the first.
 *  - Results: KEEL_ERR_PARSE for malformed input, KEEL_ERR_INCOMPLETE when
 *    the document ends inside a value (more bytes could complete it),
 *    KEEL_ERR_TOO_LARGE when nesting exceeds the depth limit. Every such
 *    error fills a keel_json_error with the byte offset and a reason.
 *  - Nesting depth is bounded (max_depth, at most KEEL_JSON_DEPTH_CAP), so
 *    no input can exhaust the stack: nothing here recurses on input.
 *  - Thread-safety: plain values, no global state. A tokenizer or writer is
 *    used by one thread at a time.
 *  - The tokenizer, the validator and the decoders are proven with Frama-C
 *    WP (proofs/): no out-of-bounds access, no overflow, on any input.
 */
#ifndef KEEL_JSON_H
#define KEEL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/result.h"
#include "keel/slice.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** Depth limit used when a caller passes 0. */
#define KEEL_JSON_DEFAULT_DEPTH 64u
/** The largest depth limit accepted. */
#define KEEL_JSON_DEPTH_CAP 1024u

/** Why a document was rejected. Values are stable. */
typedef enum keel_json_reason {
    KEEL_JSON_OK = 0,           /**< no error */
    KEEL_JSON_UNEXPECTED_END,   /**< the document ends inside a value */
    KEEL_JSON_UNEXPECTED_BYTE,  /**< a byte that cannot start/continue here */
    KEEL_JSON_TRAILING_DATA,    /**< non-whitespace after the top-level value */
    KEEL_JSON_BAD_LITERAL,      /**< not exactly true / false / null */
    KEEL_JSON_BAD_NUMBER,       /**< number grammar violated (e.g. "01", "[1.]", "[-]") */
    KEEL_JSON_BAD_ESCAPE,       /**< unknown escape or malformed `\uXXXX` */
    KEEL_JSON_BAD_SURROGATE,    /**< `\u` escape of a lone or misordered surrogate */
    KEEL_JSON_CONTROL_CHAR,     /**< unescaped U+0000..U+001F inside a string */
    KEEL_JSON_BAD_UTF8,         /**< invalid/overlong/surrogate/truncated UTF-8 */
    KEEL_JSON_TOO_DEEP,         /**< nesting deeper than max_depth */
    KEEL_JSON_DUPLICATE_KEY,    /**< an object repeats a key (decoded: "a" and
                                     "\u0061" are the same); the offset is the
                                     repeat's opening quote */
    KEEL_JSON_REASON_COUNT      /**< number of reasons (not a reason) */
} keel_json_reason;

/** Where and why a document was rejected. */
typedef struct keel_json_error {
    size_t offset;           /**< byte offset of the offending byte (or of the end) */
    keel_json_reason reason; /**< why */
} keel_json_error;

/** A short English description ("invalid UTF-8 in string"); never NULL. */
const char *keel_json_reason_str(keel_json_reason reason);

/** A line and column in a document, both from 1. */
typedef struct keel_json_position {
    size_t line;   /**< 1 + the LF bytes before the offset */
    size_t column; /**< 1 + the characters between the line's start and the
                        offset (UTF-8: continuation bytes do not count; a
                        CR is a character) */
} keel_json_position;

/** Where byte offset (an error's offset, a value's offset) lies in doc as
 * a line and a column, for messages a person reads. offset may be doc.len
 * (the end); past it is KEEL_ERR_OUT_OF_BOUNDS. Reads doc up to offset. */
KEEL_MUST_USE keel_result keel_json_position_of(keel_slice doc, size_t offset,
                                                keel_json_position *out);

/* ---- validation ------------------------------------------------------- */

/** Validate a whole document: RFC 8259, and no object that repeats a key
 * (KEEL_JSON_DUPLICATE_KEY: two parsers that keep different members of a
 * repeated key would read one document two ways). What keel_json_parse
 * accepts. max_depth 0 means KEEL_JSON_DEFAULT_DEPTH;
 * above KEEL_JSON_DEPTH_CAP is KEEL_ERR_INVALID_ARG. On failure *err (if not
 * NULL) says where and why; on KEEL_OK it is set to { 0, KEEL_JSON_OK }.
 * The key check allocates nothing (about 17 KiB of stack) and takes no
 * pass of its own: it follows the validator's tokens, comparing each key
 * with its object's earlier keys by a hash (k keys: k * k / 2 hash
 * comparisons), then decoded when the hashes match. An object that holds more keys than it remembers (256, counting
 * the keys of the objects around it) is checked whole when it closes: its
 * keys sorted 256 at a time, so k keys cost 1 + k / 256 walks over it and
 * O(k log k) comparisons. Keys made to collide in the hash buy at most 64
 * text comparisons per document; past them every object is sorted so. */
KEEL_MUST_USE keel_result keel_json_validate(keel_slice doc, uint32_t max_depth,
                                             keel_json_error *err);

/* ---- tokenizer (pull parser) ------------------------------------------ */

/** What a token is. */
typedef enum keel_json_kind {
    KEEL_JSON_OBJECT_BEGIN = 1, /**< `{` */
    KEEL_JSON_OBJECT_END,       /**< `}` */
    KEEL_JSON_ARRAY_BEGIN,      /**< `[` */
    KEEL_JSON_ARRAY_END,        /**< `]` */
    KEEL_JSON_KEY,      /**< an object member name; raw includes the quotes */
    KEEL_JSON_STRING,   /**< raw includes the quotes, escapes not decoded */
    KEEL_JSON_NUMBER,   /**< raw is the number's text */
    KEEL_JSON_TRUE,     /**< `true` */
    KEEL_JSON_FALSE,    /**< `false` */
    KEEL_JSON_NULL,     /**< `null` */
    KEEL_JSON_END       /**< the document is complete (then repeated) */
} keel_json_kind;

/** One token of a document. */
typedef struct keel_json_token {
    keel_json_kind kind; /**< what it is */
    keel_slice raw;     /**< the token's bytes in the document */
    size_t offset;      /**< raw's offset in the document */
    uint32_t depth;     /**< containers open around this token */
} keel_json_token;

/** Tokenizer state: the container stack is a bit per level, so the state
 * has a fixed size (no allocation) whatever max_depth is. Fields are private. */
typedef struct keel_json_tokenizer {
    keel_slice doc;     /**< private: the document */
    size_t pos;         /**< private: offset of the next byte */
    uint32_t depth;     /**< private: containers open */
    uint32_t max_depth; /**< private: the depth limit */
    uint32_t state;     /**< private: what may come next */
    keel_json_error err; /**< where and why tokenizing failed (sticky) */
    uint64_t stack[KEEL_JSON_DEPTH_CAP / 64u]; /**< private: 1 = object, 0 = array */
} keel_json_tokenizer;

/** Start tokenizing doc; max_depth as for keel_json_validate. The
 * tokenizer hands every key to the caller and keeps none: it does not
 * refuse repeated keys (keel_json_validate does). */
KEEL_MUST_USE keel_result keel_json_tokenizer_init(keel_json_tokenizer *t, keel_slice doc,
                                                   uint32_t max_depth);

/** The next token. KEEL_OK with *out set; after the top-level value is
 * complete (and only whitespace follows) the token is KEEL_JSON_END, again on
 * every later call. Errors as for keel_json_validate; they are sticky (the
 * same result on every later call) and t->err says where and why. Every
 * token returned before an error was valid. */
KEEL_MUST_USE keel_result keel_json_next(keel_json_tokenizer *t, keel_json_token *out);

/* ---- values and lookup ------------------------------------------------ */

/** The type of a value. */
typedef enum keel_json_type {
    KEEL_JSON_T_NULL = 1, /**< null */
    KEEL_JSON_T_BOOL,     /**< true or false */
    KEEL_JSON_T_NUMBER,   /**< a number */
    KEEL_JSON_T_STRING,   /**< a string */
    KEEL_JSON_T_ARRAY,    /**< an array */
    KEEL_JSON_T_OBJECT    /**< an object */
} keel_json_type;

/** A value inside a validated document: raw spans the whole value (for a
 * container, from its opening to its matching closing bracket; for a string,
 * the quotes included). */
typedef struct keel_json_value {
    keel_json_type type; /**< its type */
    keel_slice raw;     /**< the value's bytes in the document */
    size_t offset;      /**< raw's offset in the document */
} keel_json_value;

/** A document that passed keel_json_validate. Lookups on it do not
 * re-validate: they only skip over values (still bounds-checked, so a
 * hand-made keel_json_doc can give wrong answers but never read outside
 * its slice). */
typedef struct keel_json_doc {
    keel_slice src;       /**< the whole document */
    keel_json_value root; /**< its top-level value */
    uint32_t max_depth;   /**< the depth limit it was validated with */
} keel_json_doc;

/** Validate src (as keel_json_validate: repeated keys refused) and wrap it
 * as a document. */
KEEL_MUST_USE keel_result keel_json_parse(keel_slice src, uint32_t max_depth,
                                          keel_json_doc *out, keel_json_error *err);

/** Options of keel_json_parse_opts; all zero is keel_json_parse's behaviour. */
typedef struct keel_json_parse_options {
    uint32_t max_depth; /**< as keel_json_parse's max_depth (0: the default) */
    /** Accept objects that repeat a key. Lookups (keel_json_find,
     * keel_json_member) then answer the first member with that key, as
     * keel_json_next_child meets them in document order; a parser that
     * keeps the last one (many do) reads the document differently. */
    bool allow_duplicate_keys;
} keel_json_parse_options;

/** keel_json_parse with options (opts NULL: the defaults). */
KEEL_MUST_USE keel_result keel_json_parse_opts(keel_slice src, const keel_json_parse_options *opts,
                                               keel_json_doc *out, keel_json_error *err);

/** The member of object in whose decoded key equals key exactly (any bytes:
 * a key holding '.' or '[' that a keel_json_find path cannot name). The
 * first such member when the document was parsed with duplicate keys
 * allowed. KEEL_ERR_NOT_FOUND when there is none or in is not an object. */
KEEL_MUST_USE keel_result keel_json_member(const keel_json_value *in, keel_slice key,
                                           keel_json_value *out);

/** Element index (from 0) of array in. KEEL_ERR_NOT_FOUND past the end or
 * when in is not an array. */
KEEL_MUST_USE keel_result keel_json_element(const keel_json_value *in, size_t index,
                                            keel_json_value *out);

/** Look up a path below a value. Path syntax: a sequence of steps, each
 * ".name" (object member whose decoded key equals name exactly; name runs to
 * the next '.' or '[') or "[N]" (array element N, decimal, from 0). The
 * empty path names the value itself. Examples: ".data.items[3].name", "[0]".
 * Returns KEEL_ERR_NOT_FOUND when a step does not exist or applies to the
 * wrong type, KEEL_ERR_PARSE when the path itself is malformed. */
KEEL_MUST_USE keel_result keel_json_find(const keel_json_value *in, keel_slice path,
                                         keel_json_value *out);

/** Iterate over an array's elements or an object's members. Start with
 * *pos = 0; each call yields the next element (and, for objects, its raw
 * key token with quotes) and advances *pos. KEEL_ERR_NOT_FOUND at the end;
 * KEEL_ERR_INVALID_ARG when in is not a container. key may be NULL. */
KEEL_MUST_USE keel_result keel_json_next_child(const keel_json_value *in, size_t *pos,
                                               keel_slice *key, keel_json_value *out);

/* ---- typed extraction (out written only on KEEL_OK) ------------------- */
/* A value of another JSON type is KEEL_ERR_TYPE (an integer asked of a
 * string, a bool of a number...); keel_json_type_str names the type it is.
 * KEEL_ERR_PARSE is kept for a hand-made value whose bytes do not read as
 * its own type (a validated document never gives one). */

/** The name of a JSON type ("null", "bool", "number", "string", "array",
 * "object"); "unknown" for a value outside the enum. Never NULL. */
const char *keel_json_type_str(keel_json_type type);

/** An integer: no fraction, no exponent ("1.0" and "1e2" are KEEL_ERR_TYPE:
 * numbers, but not integers); outside int64 range is KEEL_ERR_TOO_LARGE. */
KEEL_MUST_USE keel_result keel_json_get_i64(const keel_json_value *v, int64_t *out);
/** Any number, correctly rounded to the nearest double; a magnitude beyond
 * the double range is KEEL_ERR_TOO_LARGE, and so is a number text longer
 * than 1100 bytes (more than any double's exact decimal expansion needs).
 * Underflow gives the nearest double (possibly 0 or -0). Independent of
 * the C locale (keel creates a "C" locale_t once per process; if that
 * fails, KEEL_ERR_NO_MEMORY). */
KEEL_MUST_USE keel_result keel_json_get_double(const keel_json_value *v, double *out);
/** true or false. */
KEEL_MUST_USE keel_result keel_json_get_bool(const keel_json_value *v, bool *out);
/** True when v is null (false for NULL or any other value). */
bool keel_json_is_null(const keel_json_value *v);
/** Decode a string's escapes (including `\u` surrogate pairs) and append the
 * UTF-8 result to *out. All or nothing: if it does not fit, *out is
 * unchanged and the result is KEEL_ERR_TOO_LARGE. Also accepts a KEY token's
 * raw slice wrapped as a value of type KEEL_JSON_T_STRING. On a hand-made
 * value, a malformed escape, a lone surrogate, an unescaped '"' or control
 * byte is KEEL_ERR_PARSE (*out unchanged); other bytes are copied as they
 * are (UTF-8 is checked by validation, not here). */
KEEL_MUST_USE keel_result keel_json_get_string(const keel_json_value *v, keel_buf *out);
/** Compare a string value, decoded, with plain bytes, without a buffer.
 * False for a value that is not a quoted string or holds a malformed
 * escape. */
bool keel_json_string_eq(const keel_json_value *v, keel_slice text);

/* ---- struct filling: the fields of a document in one pass -------------- */

/** Fields one table describes at most (keel_json_extract). */
#define KEEL_JSON_FIELDS_MAX 64u

/** What a field of a keel_json_field table holds, and where it goes. */
typedef enum keel_json_field_type {
    KEEL_JSON_FIELD_I64 = 1, /**< an integer into *i64 (as keel_json_get_i64) */
    KEEL_JSON_FIELD_DOUBLE,  /**< any number into *f64 (as keel_json_get_double) */
    KEEL_JSON_FIELD_BOOL,    /**< true or false into *flag */
    KEEL_JSON_FIELD_STRING,  /**< a string, decoded and appended to *string
                                  (as keel_json_get_string) */
    KEEL_JSON_FIELD_VALUE,   /**< any value, null included, into *value (an
                                  array or an object to walk later) */
    KEEL_JSON_FIELD_OBJECT   /**< an object whose members are the fields
                                  whose parent is this one */
} keel_json_field_type;

/** One field of a struct described to keel_json_extract. A table is an
 * array of them; a nested object is a field of type KEEL_JSON_FIELD_OBJECT,
 * and its members are the later fields whose parent is its index in the
 * table plus one (parent 0, the default, is the document's top-level
 * object). Only the destination of the field's type is used.
 *
 *     keel_json_field f[] = {
 *         { .name = KEEL_STR("number"), .type = KEEL_JSON_FIELD_I64, .required = true, .i64 = &d.number },
 *         { .name = KEEL_STR("user"), .type = KEEL_JSON_FIELD_OBJECT },
 *         { .name = KEEL_STR("name"), .type = KEEL_JSON_FIELD_STRING, .parent = 2, .string = &name },
 *     };
 */
typedef struct keel_json_field {
    keel_slice name;           /**< the member's key, decoded, compared exactly */
    keel_json_field_type type; /**< what it must hold */
    bool required;             /**< absent (or null, for a type other than
                                    VALUE) is KEEL_ERR_NOT_FOUND / KEEL_ERR_TYPE;
                                    otherwise absent and null leave it unset */
    size_t parent;             /**< 0: a member of the top-level object; k: a
                                    member of the object field f[k - 1], an
                                    earlier entry of the table */
    int64_t *i64;              /**< KEEL_JSON_FIELD_I64's destination */
    double *f64;               /**< KEEL_JSON_FIELD_DOUBLE's */
    bool *flag;                /**< KEEL_JSON_FIELD_BOOL's */
    keel_buf *string;          /**< KEEL_JSON_FIELD_STRING's (appended to) */
    keel_json_value *value;    /**< KEEL_JSON_FIELD_VALUE's: the value's bytes in the document */
    bool *present;             /**< optional (NULL: not told): set on KEEL_OK to
                                    whether the field was there (and not null) */
} keel_json_field;

/** Why keel_json_extract failed: the document, or which field and where. */
typedef struct keel_json_extract_error {
    keel_json_error json;         /**< a document that is not valid JSON (or
                                       repeats a key): where and why;
                                       KEEL_JSON_OK otherwise */
    const keel_json_field *field; /**< the field that is missing, of the wrong
                                       type or too large; NULL for the
                                       document and for a top-level value
                                       that is not an object */
    size_t field_index;           /**< field's index in the table plus one; 0
                                       when field is NULL */
    size_t offset;                /**< where in the document: the value's first
                                       byte, a missing field's object's '{',
                                       or json.offset */
    keel_json_type got;           /**< KEEL_ERR_TYPE: the type found instead
                                       (KEEL_JSON_T_NUMBER for a fraction asked
                                       as an integer); 0 otherwise */
} keel_json_extract_error;

/** Validate doc and fill the fields of a table from it, in one walk over
 * the document (the C equivalent of serde's derive(Deserialize) for flat
 * and nested structs). The whole document is validated as keel_json_parse
 * does (opts: its options; NULL: the defaults, repeated keys refused);
 * members the table does not name are validated and skipped, never
 * decoded. With repeated keys allowed, the first member of a key counts.
 *
 * Results, the first that applies:
 * - KEEL_ERR_INVALID_ARG: doc or the table is malformed (fields NULL with
 *   count > 0, count > KEEL_JSON_FIELDS_MAX, a name that is not a valid
 *   slice, an unknown type, a parent that is not an earlier OBJECT field,
 *   a NULL or invalid destination for the field's type), opts->max_depth
 *   above KEEL_JSON_DEPTH_CAP; nothing is read from doc;
 * - the validator's results (KEEL_ERR_PARSE, KEEL_ERR_INCOMPLETE,
 *   KEEL_ERR_TOO_LARGE) with err->json set and err->field NULL;
 * - KEEL_ERR_TYPE: the top-level value is not an object (field NULL), or a
 *   field's value has another type (a fraction or an exponent for an I64
 *   field), or is null and the field is required;
 * - KEEL_ERR_NOT_FOUND: a required field is missing (one whose object is
 *   itself absent is not looked for);
 * - KEEL_ERR_TOO_LARGE (field set): an integer outside int64, a number
 *   beyond the double range, a string that does not fit its buf;
 * - KEEL_ERR_NO_MEMORY: as keel_json_get_double.
 * Of the field errors the walk finds (wrong type, missing), the first in
 * the document is reported; conversions (range, buf room) come after the
 * walk, in table order.
 *
 * Nothing is written unless the document is valid, every field has the
 * type asked and no required field is missing. Then numbers are converted
 * (nothing written when one fails), strings appended in table order, each
 * all or nothing (one that does not fit leaves the ones before it
 * appended), and last the other destinations and the present flags
 * written. err (if not NULL) is set on every result. The destinations
 * must not overlap the table, err or each other (two STRING fields may
 * share one buf: they are appended in table order). */
KEEL_MUST_USE keel_result keel_json_extract(keel_slice doc, const keel_json_field *fields,
                                            size_t count, const keel_json_parse_options *opts,
                                            keel_json_extract_error *err);

/* ---- writer ------------------------------------------------------------ */

/** What the writer does with bytes that are not valid UTF-8 in strings and
 * keys: replace each maximal invalid sequence with U+FFFD (the Unicode
 * "substitution of maximal subparts" practice), or refuse the string with
 * KEEL_ERR_PARSE. */
typedef enum keel_json_utf8_policy {
    KEEL_JSON_UTF8_REPLACE = 0, /**< replace invalid sequences with U+FFFD */
    KEEL_JSON_UTF8_REJECT = 1   /**< refuse the string: KEEL_ERR_PARSE */
} keel_json_utf8_policy;

/** Builds a document into a caller's keel_buf. Every call is all or nothing
 * on the buf: KEEL_ERR_TOO_LARGE leaves it as before the call (the writer
 * stays usable, e.g. after the caller flushes). Misuse (a value where a key
 * is required, an unbalanced end, a second top-level value) is
 * KEEL_ERR_STATE. Commas and colons are inserted by the writer; output has
 * no whitespace. Control characters, '"' and '\\' are escaped (`\b` `\f` `\n`
 * `\r` `\t`, the others as `\u00xx` with lowercase hex); '/', DEL (0x7F) and
 * valid non-ASCII UTF-8 are written as is. Opening a container beyond
 * max_depth is KEEL_ERR_TOO_LARGE (nothing written). Fields are private. */
typedef struct keel_json_writer {
    keel_buf *out;        /**< private: where the document goes */
    uint32_t depth;       /**< private: containers open */
    uint32_t max_depth;   /**< private: the depth limit */
    uint32_t state;       /**< private: what may come next */
    keel_json_utf8_policy policy; /**< private: see keel_json_utf8_policy */
    uint64_t stack[KEEL_JSON_DEPTH_CAP / 64u];  /**< private: 1 = object, 0 = array */
    uint64_t first[KEEL_JSON_DEPTH_CAP / 64u];  /**< private: 1 = no element yet at that level */
} keel_json_writer;

/** Start a document in out (appended after what out holds); max_depth as
 * for keel_json_validate. */
KEEL_MUST_USE keel_result keel_json_writer_init(keel_json_writer *w, keel_buf *out,
                                                uint32_t max_depth,
                                                keel_json_utf8_policy policy);
/** @{ */
/** Open or close an object or an array (see keel_json_writer). */
KEEL_MUST_USE keel_result keel_json_write_object_begin(keel_json_writer *w);
KEEL_MUST_USE keel_result keel_json_write_object_end(keel_json_writer *w);
KEEL_MUST_USE keel_result keel_json_write_array_begin(keel_json_writer *w);
KEEL_MUST_USE keel_result keel_json_write_array_end(keel_json_writer *w);
/** @} */
/** @{ */
/** An object member's name / a string value, quoted and escaped. */
KEEL_MUST_USE keel_result keel_json_write_key(keel_json_writer *w, keel_slice key);
KEEL_MUST_USE keel_result keel_json_write_string(keel_json_writer *w, keel_slice s);
/** @} */
/** @{ */
/** An integer, in decimal. */
KEEL_MUST_USE keel_result keel_json_write_i64(keel_json_writer *w, int64_t v);
KEEL_MUST_USE keel_result keel_json_write_u64(keel_json_writer *w, uint64_t v);
/** @} */
/** Text that reads back to the same double: the shortest "%.Ng" rendering
 * that does, N from 15 (from 1 for subnormals) to 17, in the C locale (e.g.
 * 0.1 -> "0.1", 1e23 -> "1e+23", 5e-324 -> "5e-324", -0.0 -> "-0"; at most
 * 24 bytes). NaN and infinities are KEEL_ERR_INVALID_ARG (JSON cannot
 * carry them); KEEL_ERR_NO_MEMORY as for keel_json_get_double. */
KEEL_MUST_USE keel_result keel_json_write_double(keel_json_writer *w, double v);
/** @{ */
/** `true` or `false` / `null`. */
KEEL_MUST_USE keel_result keel_json_write_bool(keel_json_writer *w, bool v);
KEEL_MUST_USE keel_result keel_json_write_null(keel_json_writer *w);
/** @} */
/** KEEL_OK when exactly one complete top-level value has been written. */
KEEL_MUST_USE keel_result keel_json_writer_finish(const keel_json_writer *w);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_JSON_H */

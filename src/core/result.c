/*
 * src/core/result.c - names and descriptions of keel_result values.
 */
#include "keel/result.h"

/* For the ACSL string predicates (valid_read_string, strlen) only. */
#include <string.h>

/* Lengths include the NUL: "KEEL_ERR_TLS_HANDSHAKE" and "datagram larger
 * than the buffer offered" are the longest texts. */
#define RESULT_NAME_SIZE 24
#define RESULT_DESC_SIZE 40

/* Texts in arrays, not pointers to literals: the provers cannot afford the
 * length of a literal, but they can read one byte of a const initializer.
 * The last byte of each array being NUL is what the proof checks, so a text
 * that fills its array exactly (and so loses its terminator) fails it. */
struct result_text {
    char name[RESULT_NAME_SIZE];
    char desc[RESULT_DESC_SIZE];
};

static const struct result_text unknown_text = { "KEEL_ERR_UNKNOWN", "unknown keel_result" };

/*@ lemma terminated_text_is_string:
      \forall struct result_text *t;
        \valid_read(t) && t->name[RESULT_NAME_SIZE - 1] == '\0' &&
        t->desc[RESULT_DESC_SIZE - 1] == '\0' ==>
          valid_read_string(&t->name[0]) && valid_read_string(&t->desc[0]);
*/

/*@ assigns \nothing;
    ensures \valid_read(\result);
    ensures \result->name[RESULT_NAME_SIZE - 1] == '\0';
    ensures \result->desc[RESULT_DESC_SIZE - 1] == '\0';
    behavior known:
      assumes 0 <= r < KEEL_RESULT_COUNT;
      ensures \result != &unknown_text;
    behavior unknown:
      assumes !(0 <= r < KEEL_RESULT_COUNT);
      ensures \result == &unknown_text;
    complete behaviors;
    disjoint behaviors;
*/
static const struct result_text *result_text(keel_result r)
{
    /* Local to this function so that WP gives the initializer (the
     * characters) to this function's goals only: in every other function's
     * context it only slows the provers down. */
    static const struct result_text result_texts[KEEL_RESULT_COUNT] = {
        [KEEL_OK] = { "KEEL_OK", "success" },
        [KEEL_ERR_INVALID_ARG] = { "KEEL_ERR_INVALID_ARG", "invalid argument" },
        [KEEL_ERR_OUT_OF_BOUNDS] = { "KEEL_ERR_OUT_OF_BOUNDS", "index or range out of bounds" },
        [KEEL_ERR_TOO_LARGE] = { "KEEL_ERR_TOO_LARGE", "limit exceeded or no room left" },
        [KEEL_ERR_INCOMPLETE] = { "KEEL_ERR_INCOMPLETE", "incomplete input: more bytes needed" },
        [KEEL_ERR_PARSE] = { "KEEL_ERR_PARSE", "malformed input" },
        [KEEL_ERR_NOT_FOUND] = { "KEEL_ERR_NOT_FOUND", "not found" },
        [KEEL_ERR_WOULD_BLOCK] = { "KEEL_ERR_WOULD_BLOCK", "operation would block" },
        [KEEL_ERR_TIMEOUT] = { "KEEL_ERR_TIMEOUT", "timed out" },
        [KEEL_ERR_CLOSED] = { "KEEL_ERR_CLOSED", "connection closed by peer" },
        [KEEL_ERR_RESET] = { "KEEL_ERR_RESET", "connection reset by peer" },
        [KEEL_ERR_REFUSED] = { "KEEL_ERR_REFUSED", "connection refused" },
        [KEEL_ERR_HOST_NOT_FOUND] = { "KEEL_ERR_HOST_NOT_FOUND", "host not found" },
        [KEEL_ERR_ADDR_IN_USE] = { "KEEL_ERR_ADDR_IN_USE", "address in use or not available" },
        [KEEL_ERR_TRUNCATED] = { "KEEL_ERR_TRUNCATED", "datagram larger than the buffer offered" },
        [KEEL_ERR_NO_MEMORY] = { "KEEL_ERR_NO_MEMORY", "out of memory or descriptors" },
        [KEEL_ERR_STATE] = { "KEEL_ERR_STATE", "wrong state for this operation" },
        [KEEL_ERR_OS] = { "KEEL_ERR_OS", "operating system error" },
        [KEEL_ERR_TLS_CONFIG] = { "KEEL_ERR_TLS_CONFIG", "TLS certificate or key unusable" },
        [KEEL_ERR_TLS_HANDSHAKE] = { "KEEL_ERR_TLS_HANDSHAKE", "TLS handshake failed" },
        [KEEL_ERR_TLS_VERIFY] = { "KEEL_ERR_TLS_VERIFY", "TLS peer certificate refused" },
        [KEEL_ERR_TLS_ALERT] = { "KEEL_ERR_TLS_ALERT", "TLS fatal alert from the peer" },
        [KEEL_ERR_TLS_PROTOCOL] = { "KEEL_ERR_TLS_PROTOCOL", "TLS record rejected" },
        [KEEL_ERR_TLS_TRUNCATED] = { "KEEL_ERR_TLS_TRUNCATED", "TLS closed without close_notify" },
        [KEEL_ERR_TYPE] = { "KEEL_ERR_TYPE", "value of another type" },
    };

    /* A switch rather than an index: -Wswitch flags an enumerator left
     * without text, and each case hands the proof one concrete entry. */
    switch (r) {
    case KEEL_OK:
        return &result_texts[KEEL_OK];
    case KEEL_ERR_INVALID_ARG:
        return &result_texts[KEEL_ERR_INVALID_ARG];
    case KEEL_ERR_OUT_OF_BOUNDS:
        return &result_texts[KEEL_ERR_OUT_OF_BOUNDS];
    case KEEL_ERR_TOO_LARGE:
        return &result_texts[KEEL_ERR_TOO_LARGE];
    case KEEL_ERR_INCOMPLETE:
        return &result_texts[KEEL_ERR_INCOMPLETE];
    case KEEL_ERR_PARSE:
        return &result_texts[KEEL_ERR_PARSE];
    case KEEL_ERR_NOT_FOUND:
        return &result_texts[KEEL_ERR_NOT_FOUND];
    case KEEL_ERR_WOULD_BLOCK:
        return &result_texts[KEEL_ERR_WOULD_BLOCK];
    case KEEL_ERR_TIMEOUT:
        return &result_texts[KEEL_ERR_TIMEOUT];
    case KEEL_ERR_CLOSED:
        return &result_texts[KEEL_ERR_CLOSED];
    case KEEL_ERR_RESET:
        return &result_texts[KEEL_ERR_RESET];
    case KEEL_ERR_REFUSED:
        return &result_texts[KEEL_ERR_REFUSED];
    case KEEL_ERR_HOST_NOT_FOUND:
        return &result_texts[KEEL_ERR_HOST_NOT_FOUND];
    case KEEL_ERR_ADDR_IN_USE:
        return &result_texts[KEEL_ERR_ADDR_IN_USE];
    case KEEL_ERR_TRUNCATED:
        return &result_texts[KEEL_ERR_TRUNCATED];
    case KEEL_ERR_NO_MEMORY:
        return &result_texts[KEEL_ERR_NO_MEMORY];
    case KEEL_ERR_STATE:
        return &result_texts[KEEL_ERR_STATE];
    case KEEL_ERR_OS:
        return &result_texts[KEEL_ERR_OS];
    case KEEL_ERR_TLS_CONFIG:
        return &result_texts[KEEL_ERR_TLS_CONFIG];
    case KEEL_ERR_TLS_HANDSHAKE:
        return &result_texts[KEEL_ERR_TLS_HANDSHAKE];
    case KEEL_ERR_TLS_VERIFY:
        return &result_texts[KEEL_ERR_TLS_VERIFY];
    case KEEL_ERR_TLS_ALERT:
        return &result_texts[KEEL_ERR_TLS_ALERT];
    case KEEL_ERR_TLS_PROTOCOL:
        return &result_texts[KEEL_ERR_TLS_PROTOCOL];
    case KEEL_ERR_TLS_TRUNCATED:
        return &result_texts[KEEL_ERR_TLS_TRUNCATED];
    case KEEL_ERR_TYPE:
        return &result_texts[KEEL_ERR_TYPE];
    }
    return &unknown_text;
}

/*@ assigns \nothing;
    ensures valid_read_string(\result);
    behavior known:
      assumes 0 <= r < KEEL_RESULT_COUNT;
      ensures \result != &unknown_text.desc[0];
    behavior unknown:
      assumes !(0 <= r < KEEL_RESULT_COUNT);
      ensures \result == &unknown_text.desc[0];
    complete behaviors;
    disjoint behaviors;
*/
const char *keel_result_str(keel_result r)
{
    return result_text(r)->desc;
}

/*@ assigns \nothing;
    ensures valid_read_string(\result);
    behavior known:
      assumes 0 <= r < KEEL_RESULT_COUNT;
      ensures \result != &unknown_text.name[0];
    behavior unknown:
      assumes !(0 <= r < KEEL_RESULT_COUNT);
      ensures \result == &unknown_text.name[0];
    complete behaviors;
    disjoint behaviors;
*/
const char *keel_result_name(keel_result r)
{
    return result_text(r)->name;
}

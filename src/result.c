/*
 * src/result.c - names and descriptions of keel_result values.
 */
#include "keel/result.h"

struct result_text {
    const char *name;
    const char *desc;
};

/* Indexed by keel_result value; the order must follow the enum. */
static const struct result_text result_texts[KEEL_RESULT_COUNT] = {
    { "KEEL_OK", "success" },
    { "KEEL_ERR_INVALID_ARG", "invalid argument" },
    { "KEEL_ERR_OUT_OF_BOUNDS", "index or range out of bounds" },
    { "KEEL_ERR_TOO_LARGE", "limit exceeded or no room left" },
    { "KEEL_ERR_INCOMPLETE", "incomplete input: more bytes needed" },
    { "KEEL_ERR_PARSE", "malformed input" },
    { "KEEL_ERR_NOT_FOUND", "not found" },
    { "KEEL_ERR_WOULD_BLOCK", "operation would block" },
    { "KEEL_ERR_TIMEOUT", "timed out" },
    { "KEEL_ERR_CLOSED", "connection closed by peer" },
    { "KEEL_ERR_RESET", "connection reset by peer" },
    { "KEEL_ERR_REFUSED", "connection refused" },
    { "KEEL_ERR_HOST_NOT_FOUND", "host not found" },
    { "KEEL_ERR_ADDR_IN_USE", "address in use or not available" },
    { "KEEL_ERR_TRUNCATED", "datagram larger than the buffer offered" },
    { "KEEL_ERR_NO_MEMORY", "out of memory or descriptors" },
    { "KEEL_ERR_STATE", "wrong state for this operation" },
    { "KEEL_ERR_OS", "operating system error" },
};

/*@ assigns \nothing;
    ensures \result == (0 <= r < KEEL_RESULT_COUNT);
*/
static int result_known(keel_result r)
{
    return (int)r >= 0 && (int)r < KEEL_RESULT_COUNT;
}

const char *keel_result_str(keel_result r)
{
    if (!result_known(r)) {
        return "unknown keel_result";
    }
    return result_texts[r].desc;
}

const char *keel_result_name(keel_result r)
{
    if (!result_known(r)) {
        return "KEEL_ERR_UNKNOWN";
    }
    return result_texts[r].name;
}

/*
 * src/core/version.c - the version of the library, for programs that want
 * to know which release they run with (keel/version.h is generated).
 */
#include "keel/version.h"

uint32_t keel_version(void)
{
    return (uint32_t)KEEL_VERSION_HEX;
}

const char *keel_version_string(void)
{
    return KEEL_VERSION_STRING;
}

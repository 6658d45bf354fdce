/*
 * examples/example_io.h - reading a whole input for the example programs
 * that judge a file (json_check, http_parse).
 */
#ifndef KEEL_EXAMPLES_EXAMPLE_IO_H
#define KEEL_EXAMPLES_EXAMPLE_IO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "keel/result.h"

/* The whole stream into a growing buffer, at most max bytes: KEEL_OK (the
 * caller frees *data), KEEL_ERR_TOO_LARGE past the limit, KEEL_ERR_OS on a
 * read error (errno set), KEEL_ERR_NO_MEMORY. */
static keel_result example_read_all(FILE *f, size_t max, uint8_t **data, size_t *len)
{
    size_t cap = 0;
    size_t n = 0;
    uint8_t *p = NULL;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(p);
                return KEEL_ERR_TOO_LARGE;
            }
            /* One byte beyond the limit tells "exactly the limit" from "more". */
            size_t want = cap == 0 ? 65536u : cap * 2;
            if (want > max + 1) {
                want = max + 1;
            }
            uint8_t *bigger = realloc(p, want);
            if (bigger == NULL) {
                free(p);
                return KEEL_ERR_NO_MEMORY;
            }
            p = bigger;
            cap = want;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        free(p);
        return KEEL_ERR_OS;
    }
    if (n > max) {
        free(p);
        return KEEL_ERR_TOO_LARGE;
    }
    *data = p;
    *len = n;
    return KEEL_OK;
}

#endif /* KEEL_EXAMPLES_EXAMPLE_IO_H */

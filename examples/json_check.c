/*
 * examples/json_check.c - is a file one strict RFC 8259 JSON document?
 *
 *   json_check [--max-depth N] [FILE|-]
 *
 * Reads FILE (stdin when absent or "-") whole, up to JSON_CHECK_MAX_INPUT
 * bytes, and validates it with keel_json_validate. Exit status: 0 and
 * "valid" on stdout when it is valid; 1 when it is not, with
 * "FILE:LINE:COLUMN: byte OFFSET: REASON" on stderr (LINE and COLUMN count
 * from 1, COLUMN in bytes); 2 on bad arguments, an unreadable input or one
 * larger than the limit. --max-depth N (1..1024) bounds the nesting (default
 * 64). Whatever the bytes, the outcome is one of these three.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/json.h"

#include "example_io.h"

/* A document larger than this is refused rather than read (exit 2). */
#define JSON_CHECK_MAX_INPUT ((size_t)64 << 20)

/* why == NULL: --help, the usage on stdout and exit 0; else on stderr, 2. */
static int usage(const char *why)
{
    if (why != NULL) {
        fprintf(stderr, "json_check: %s\n", why);
    }
    fputs("usage: json_check [--max-depth N] [FILE|-]\n"
          "  exit 0: valid JSON, 1: invalid (where and why on stderr), 2: usage or I/O error\n",
          why == NULL ? stdout : stderr);
    return why == NULL ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return usage(NULL);
    }
    uint32_t max_depth = KEEL_JSON_DEFAULT_DEPTH;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-depth") == 0) {
            uint64_t v = 0;
            if (i + 1 >= argc ||
                keel_slice_parse_u64(keel_slice_cstr(argv[i + 1]), KEEL_JSON_DEPTH_CAP, &v) != KEEL_OK ||
                v == 0) {
                return usage("--max-depth takes a number from 1 to 1024");
            }
            max_depth = (uint32_t)v;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage("unknown option");
        } else if (path == NULL) {
            path = argv[i];
        } else {
            return usage("one input at a time");
        }
    }
    bool from_stdin = path == NULL || strcmp(path, "-") == 0;
    const char *name = from_stdin ? "<stdin>" : path;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "json_check: %s: %s\n", name, strerror(errno));
        return 2;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    errno = 0;
    keel_result r = example_read_all(f, JSON_CHECK_MAX_INPUT, &data, &len);
    int read_errno = errno;
    if (!from_stdin) {
        fclose(f);
    }
    if (r != KEEL_OK) {
        if (r == KEEL_ERR_TOO_LARGE) {
            fprintf(stderr, "json_check: %s: larger than %zu bytes\n", name, JSON_CHECK_MAX_INPUT);
        } else {
            fprintf(stderr, "json_check: %s: %s\n", name,
                    r == KEEL_ERR_OS ? strerror(read_errno) : keel_result_str(r));
        }
        return 2;
    }
    keel_slice doc;
    keel_json_error err;
    if (keel_slice_from(data, len, &doc) != KEEL_OK) {
        free(data);
        return 2;
    }
    r = keel_json_validate(doc, max_depth, &err);
    if (r == KEEL_OK) {
        free(data);
        puts("valid");
        return 0;
    }
    /* Line and column of the offending byte, counted in bytes. */
    size_t line = 1;
    size_t col = 1;
    for (size_t i = 0; i < err.offset && i < len; i++) {
        if (data[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    free(data);
    fprintf(stderr, "%s:%zu:%zu: byte %zu: %s\n", name, line, col, err.offset,
            keel_json_reason_str(err.reason));
    return 1;
}

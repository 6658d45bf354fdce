/*
 * fuzz/replay_main.c - a plain main() for the harnesses, so that gcc builds
 * without libFuzzer can replay the committed corpora as CTest tests (and the
 * coverage build can measure them). Each argument is a file or a directory
 * whose regular files are run once each, in name order so runs are
 * reproducible. Each input is copied to a buffer of exactly its size, as the
 * fuzzers do, so that a one-byte over-read is visible to ASan/valgrind.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_check.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    size_t cap = 4096;
    size_t len = 0;
    uint8_t *data = malloc(cap);
    for (;;) {
        if (data == NULL) {
            fclose(f);
            fprintf(stderr, "%s: out of memory\n", path);
            return 1;
        }
        len += fread(data + len, 1, cap - len, f);
        if (len < cap) {
            break;
        }
        cap *= 2;
        uint8_t *bigger = realloc(data, cap);
        if (bigger == NULL) {
            free(data);
        }
        data = bigger;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        fprintf(stderr, "%s: read error\n", path);
        return 1;
    }
    /* Exact-size copy: the tail of the input is the tail of the allocation. */
    uint8_t *exact = malloc(len > 0 ? len : 1);
    if (exact == NULL) {
        free(data);
        return 1;
    }
    if (len > 0) {
        memcpy(exact, data, len);
    }
    free(data);
    (void)LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    unsigned long count = 0;
    int errors = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            errors += run_file(argv[i]);
            count++;
            continue;
        }
        struct dirent **names = NULL;
        int n = scandir(argv[i], &names, skip_dots, by_name);
        if (n < 0) {
            perror(argv[i]);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            int w = snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
            if (w > 0 && (size_t)w < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                errors += run_file(path);
                count++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("replayed %lu inputs, %d unreadable\n", count, errors);
    return errors == 0 && count > 0 ? 0 : 1;
}

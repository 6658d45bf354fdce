/*
 * tests/guard_page.h - put test input flush against a PROT_NONE page, so a
 * one-byte over-read (or over-write) crashes the test instead of passing
 * silently (the picohttpparser test habit).
 */
#ifndef KEEL_TESTS_GUARD_PAGE_H
#define KEEL_TESTS_GUARD_PAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct guard_region {
    uint8_t *map;    /* start of the mapping */
    size_t map_len;  /* whole mapping, guard page included */
    uint8_t *data;   /* first byte of the caller's bytes */
} guard_region;

/* Map enough pages for len bytes plus one PROT_NONE page, and copy src so
 * that its last byte is the last accessible byte. Returns the pointer to the
 * copy, or NULL on failure (the test should then fail). len may be 0: the
 * returned pointer then points at the guard page itself. */
static inline uint8_t *guard_alloc(guard_region *g, const void *src, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (len + page - 1) / page;
    g->map_len = (data_pages + 1) * page;
    void *m = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        g->map = NULL;
        return NULL;
    }
    g->map = (uint8_t *)m;
    if (mprotect(g->map + data_pages * page, page, PROT_NONE) != 0) {
        munmap(m, g->map_len);
        g->map = NULL;
        return NULL;
    }
    g->data = g->map + data_pages * page - len;
    if (len > 0) {
        memcpy(g->data, src, len);
    }
    return g->data;
}

static inline void guard_free(guard_region *g)
{
    if (g->map != NULL) {
        munmap(g->map, g->map_len);
        g->map = NULL;
    }
}

#endif /* KEEL_TESTS_GUARD_PAGE_H */

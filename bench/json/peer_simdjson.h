/*
 * bench/json/peer_simdjson.h - simdjson's DOM parser (Debian's
 * libsimdjson-dev, C++) behind a C interface, for bench_json.c.
 */
#ifndef KEEL_BENCH_PEER_SIMDJSON_H
#define KEEL_BENCH_PEER_SIMDJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A document as simdjson wants it: a copy with its padding after the text
 * (simdjson::padded_string), made once, before anything is timed. */
typedef struct sj_doc sj_doc;

/* The fields bench_json.c extracts, every side alike (its `extracted`). */
typedef struct sj_fields {
    int64_t number;
    bool boolean;
    int64_t zip;
    int64_t item_id;
    char name[64];
    size_t name_len;
} sj_fields;

sj_doc *sj_doc_new(const char *text, size_t len);
void sj_doc_free(sj_doc *d);
/* The simdjson version the library reports. */
const char *sj_version(void);
/* Parse into the DOM (full validation, UTF-8 included) with one parser
 * reused across calls, as simdjson's users do: true when valid. */
bool sj_validate(const sj_doc *d);
/* Parse, then the same five fields as the keel and cJSON sides. */
bool sj_extract(const sj_doc *d, sj_fields *out);

#ifdef __cplusplus
}
#endif

#endif

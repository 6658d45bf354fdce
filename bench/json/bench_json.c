/*
 * bench/json/bench_json.c - keel's JSON validator and path lookup against
 * cJSON, on three documents generated here (deterministic: a fixed LCG):
 *
 *   small    a ~300-byte API request ({"number": 5, "boolean": true, ...})
 *   nested   ~100 KB of nested records, then the request's fields
 *   strings  ~100 KB of strings with escapes, \u escapes, surrogate pairs
 *            and raw UTF-8, then the request's fields
 *
 * The fields come after the bulk, so a lookup has to skip it.
 *
 * simdjson 3.0 (Debian's libsimdjson-dev, peer_simdjson.cpp) is the third
 * side: its DOM parse (full validation) and the same fields through its
 * DOM, on a padded copy of each document made before anything is timed
 * (simdjson reads past the text's end), with one parser reused.
 *
 * Workloads, per document:
 *   validate  keel_json_validate  vs  cJSON_ParseWithLengthOpts(require
 *             NUL-terminated, i.e. no trailing data) + cJSON_Delete
 *   validate-dups-ok  keel_json_parse_opts with repeated keys allowed (the
 *             grammar alone; validate also refuses repeated keys)  vs  the same
 *   extract   keel_json_parse, one walk over the root's members
 *             (keel_json_next_child, keys matched decoded), keel_json_find
 *             below them, and a typed get of 5 fields (int, string, bool,
 *             nested path, array element)  vs  cJSON parse +
 *             GetObjectItemCaseSensitive / GetArrayItem chain + cJSON_Delete.
 *   extract-find  the same fields, each looked up with keel_json_find from
 *             the root (so the bulk is skipped once per root-level field).
 *   extract-struct  keel_json_extract: a table of the struct's fields
 *             (user and user.address nested, items taken as a value) filled
 *             in the one validating walk, then "[2].id" found in items.
 *             Every value is checked equal between keel, cJSON and simdjson (abort if
 *             not).
 *
 * One process: per document and workload, calibrate an iteration count
 * (>= --min-ms per sample), then --reps rounds of keel, cJSON, simdjson;
 * print one line "result DOC WORKLOAD BYTES KEEL_NS CJSON_NS RATIO SIMDJSON_NS
 * SIMDJSON_RATIO" with the median ns per document of each and the medians
 * of the per-round ratios cJSON time / keel time and simdjson time / keel
 * time (> 1: keel faster). bench/json/run.sh runs several
 * pinned processes and takes medians of these.
 *
 * --loop IMPL WORKLOAD DOC N: after the checks, N untimed runs of one
 * implementation (keel, cjson or simdjson) on one workload and document, for perf or
 * callgrind.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "keel/json.h"

#include "peer_simdjson.h"

#define MAX_REPS 99

/* ---- documents ------------------------------------------------------------ */

typedef struct text {
    char *p;
    size_t len;
    size_t cap;
    sj_doc *sj; /* simdjson's padded copy, made before anything is timed */
} text;

static void put(text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            fprintf(stderr, "bench_json: out of memory\n");
            exit(2);
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n + 1);
    t->len += n;
}

static uint32_t lcg_state = 12345u;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

/* The request's fields; the closing brace is the caller's. */
static void fields(text *t)
{
    put(t, "\"number\": 5, \"boolean\": true, \"user\": {\"name\": \"Zo\\u00eb \\\"Z\\\" Ada\", "
           "\"id\": 1815, \"email\": \"ada@example.org\", \"address\": {\"city\": \"London\", "
           "\"zip\": 12345}}, \"items\": [{\"id\": 101, \"qty\": 2}, {\"id\": 102, \"qty\": 1}, "
           "{\"id\": 103, \"qty\": 7}], \"tags\": [\"new\", \"priority\"], \"note\": null");
}

static void small_doc(text *t)
{
    put(t, "{");
    fields(t);
    put(t, "}");
}

static void nested_doc(text *t, size_t target)
{
    char tmp[256];
    put(t, "{\"data\": [");
    for (unsigned i = 0; t->len < target; i++) {
        uint32_t r = lcg();
        snprintf(tmp, sizeof tmp,
                 "%s{\"id\": %u, \"score\": %u.%02u, \"active\": %s, \"tags\": [\"t%u\", \"u%u\"], "
                 "\"child\": {\"level\": [%u, [%u, {\"deep\": null, \"ratio\": -%u.5e-3}]]}}",
                 i == 0 ? "" : ", ", i, r % 1000u, r % 100u, (r & 1u) ? "true" : "false", r % 97u,
                 r % 89u, r % 7u, r % 13u, r % 1000u);
        put(t, tmp);
    }
    put(t, "], ");
    fields(t);
    put(t, "}");
}

static void strings_doc(text *t, size_t target)
{
    static const char *const parts[] = {
        "plain words ", "tab\\tand\\nnewline ", "quote \\\" backslash \\\\ ", "caf\\u00e9 ",
        "\\ud83d\\ude00 ", "na\xc3\xafve \xe6\xbc\xa2\xe5\xad\x97 ", "\xf0\x9f\x98\x80 ",
        "slash \\/ ", "\\u2028\\u0001 ", "ASCII filler text " };
    put(t, "{\"texts\": [");
    for (unsigned i = 0; t->len < target; i++) {
        put(t, i == 0 ? "\"" : ", \"");
        unsigned n = 3u + lcg() % 10u;
        for (unsigned k = 0; k < n; k++) {
            put(t, parts[lcg() % (sizeof parts / sizeof parts[0])]);
        }
        put(t, "\"");
    }
    put(t, "], ");
    fields(t);
    put(t, "}");
}

/* ---- the implementations -------------------------------------------------- */

/* The fields every side extracts (declared with simdjson's C interface). */
typedef sj_fields extracted;

static volatile uint64_t sink;

static keel_slice as_slice(const text *t)
{
    keel_slice s = { (const uint8_t *)t->p, t->len };
    return s;
}

static bool keel_validate(const text *t)
{
    keel_json_error e;
    return keel_json_validate(as_slice(t), 0, &e) == KEEL_OK;
}

static bool cjson_validate(const text *t)
{
    cJSON *c = cJSON_ParseWithLengthOpts(t->p, t->len + 1, NULL, 1);
    bool ok = c != NULL;
    cJSON_Delete(c);
    return ok;
}

static bool keel_i64(const keel_json_value *root, const char *path, int64_t *out)
{
    keel_json_value v;
    return keel_json_find(root, keel_slice_cstr(path), &v) == KEEL_OK &&
           keel_json_get_i64(&v, out) == KEEL_OK;
}

static bool keel_extract(const text *t, extracted *x)
{
    keel_json_doc d;
    keel_json_error e;
    keel_json_value v;
    keel_json_value user;
    keel_buf name;
    if (keel_json_parse(as_slice(t), 0, &d, &e) != KEEL_OK ||
        keel_buf_init(&name, x->name, sizeof x->name) != KEEL_OK) {
        return false;
    }
    /* As the cJSON side does, "user" is looked up once for its two fields. */
    bool ok = keel_i64(&d.root, ".number", &x->number) &&
              keel_json_find(&d.root, KEEL_STR(".boolean"), &v) == KEEL_OK &&
              keel_json_get_bool(&v, &x->boolean) == KEEL_OK &&
              keel_json_find(&d.root, KEEL_STR(".user"), &user) == KEEL_OK &&
              keel_json_find(&user, KEEL_STR(".name"), &v) == KEEL_OK &&
              keel_json_get_string(&v, &name) == KEEL_OK &&
              keel_i64(&user, ".address.zip", &x->zip) &&
              keel_i64(&d.root, ".items[2].id", &x->item_id);
    x->name_len = name.len;
    return ok;
}

static bool is_key(keel_slice raw_key, const char *name)
{
    keel_json_value k = { KEEL_JSON_T_STRING, raw_key, 0 };
    return keel_json_string_eq(&k, keel_slice_cstr(name));
}

/* The same fields, the way a keel user extracts several members of one
 * object: walk the root's members once (keel_json_next_child) and pick them
 * by decoded key, so the bulk before them is skipped once, not per field. */
static bool keel_extract_walk(const text *t, extracted *x)
{
    keel_json_doc d;
    keel_json_error e;
    keel_buf name;
    if (keel_json_parse(as_slice(t), 0, &d, &e) != KEEL_OK ||
        keel_buf_init(&name, x->name, sizeof x->name) != KEEL_OK) {
        return false;
    }
    unsigned found = 0;
    size_t pos = 0;
    keel_slice key;
    keel_json_value v;
    while (found < 4 && keel_json_next_child(&d.root, &pos, &key, &v) == KEEL_OK) {
        if (is_key(key, "number")) {
            found += keel_json_get_i64(&v, &x->number) == KEEL_OK;
        } else if (is_key(key, "boolean")) {
            found += keel_json_get_bool(&v, &x->boolean) == KEEL_OK;
        } else if (is_key(key, "user")) {
            keel_json_value f;
            found += keel_json_find(&v, KEEL_STR(".name"), &f) == KEEL_OK &&
                     keel_json_get_string(&f, &name) == KEEL_OK && keel_i64(&v, ".address.zip", &x->zip);
        } else if (is_key(key, "items")) {
            found += keel_i64(&v, "[2].id", &x->item_id);
        }
    }
    x->name_len = name.len;
    return found == 4;
}

/* The same fields through keel_json_extract: one table describing the
 * struct (user.name, user.address.zip nested; items taken whole), filled
 * in the validating walk, then "[2].id" looked up in items. */
static bool keel_extract_struct(const text *t, extracted *x)
{
    keel_buf name;
    keel_json_value items;
    keel_json_value v;
    if (keel_buf_init(&name, x->name, sizeof x->name) != KEEL_OK) {
        return false;
    }
    const keel_json_field f[7] = {
        { .name = KEEL_STR("number"), .type = KEEL_JSON_FIELD_I64, .required = true, .i64 = &x->number },
        { .name = KEEL_STR("boolean"), .type = KEEL_JSON_FIELD_BOOL, .required = true,
          .flag = &x->boolean },
        { .name = KEEL_STR("user"), .type = KEEL_JSON_FIELD_OBJECT, .required = true },
        { .name = KEEL_STR("name"), .type = KEEL_JSON_FIELD_STRING, .required = true, .parent = 3,
          .string = &name },
        { .name = KEEL_STR("address"), .type = KEEL_JSON_FIELD_OBJECT, .required = true, .parent = 3 },
        { .name = KEEL_STR("zip"), .type = KEEL_JSON_FIELD_I64, .required = true, .parent = 5,
          .i64 = &x->zip },
        { .name = KEEL_STR("items"), .type = KEEL_JSON_FIELD_VALUE, .required = true, .value = &items },
    };
    bool ok = keel_json_extract(as_slice(t), f, 7, NULL, NULL) == KEEL_OK &&
              keel_json_find(&items, KEEL_STR("[2].id"), &v) == KEEL_OK &&
              keel_json_get_i64(&v, &x->item_id) == KEEL_OK;
    x->name_len = name.len;
    return ok;
}

static bool cjson_extract(const text *t, extracted *x)
{
    cJSON *c = cJSON_ParseWithLength(t->p, t->len);
    if (c == NULL) {
        return false;
    }
    const cJSON *number = cJSON_GetObjectItemCaseSensitive(c, "number");
    const cJSON *boolean = cJSON_GetObjectItemCaseSensitive(c, "boolean");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(c, "user");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(user, "name");
    const cJSON *zip = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(user, "address"), "zip");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "items"), 2), "id");
    bool ok = cJSON_IsNumber(number) && cJSON_IsBool(boolean) && cJSON_IsString(name) &&
              cJSON_IsNumber(zip) && cJSON_IsNumber(id) && strlen(name->valuestring) < sizeof x->name;
    if (ok) {
        x->number = (int64_t)number->valuedouble;
        x->boolean = cJSON_IsTrue(boolean);
        x->zip = (int64_t)zip->valuedouble;
        x->item_id = (int64_t)id->valuedouble;
        x->name_len = strlen(name->valuestring);
        memcpy(x->name, name->valuestring, x->name_len);
    }
    cJSON_Delete(c);
    return ok;
}

/* ---- timing ---------------------------------------------------------------- */

typedef bool (*op_fn)(const text *t, extracted *x);

static bool op_keel_validate(const text *t, extracted *x)
{
    (void)x;
    return keel_validate(t);
}

/* The grammar alone: repeated keys allowed (cJSON keeps them too), so
 * that the cost of refusing them shows as the difference from validate. */
static bool op_keel_validate_dups(const text *t, extracted *x)
{
    (void)x;
    keel_json_error e;
    keel_json_doc d;
    keel_json_parse_options o = { 0, true };
    return keel_json_parse_opts(as_slice(t), &o, &d, &e) == KEEL_OK;
}

/* simdjson: the DOM parse (full validation, UTF-8 included), then the
 * same fields through its DOM (at(2) for the array element). */
static bool op_simdjson_validate(const text *t, extracted *x)
{
    (void)x;
    return sj_validate(t->sj);
}

static bool op_simdjson_extract(const text *t, extracted *x)
{
    return sj_extract(t->sj, x);
}

static bool op_cjson_validate(const text *t, extracted *x)
{
    (void)x;
    return cjson_validate(t);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per document over n runs of op. */
static double sample(op_fn op, const text *t, unsigned n)
{
    extracted x = { 0 };
    double start = now_ns();
    for (unsigned i = 0; i < n; i++) {
        if (!op(t, &x)) {
            fprintf(stderr, "bench_json: an operation failed\n");
            exit(1);
        }
        sink += (uint64_t)x.number;
    }
    return (now_ns() - start) / n;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof v[0], by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(const char *doc, const char *workload, const text *t, op_fn keel, op_fn cjson,
                    op_fn simd, unsigned reps, double min_ns)
{
    unsigned n = 1;
    while (sample(keel, t, n) * n < min_ns && n < (1u << 30)) {
        n *= 2;
    }
    double k[MAX_REPS];
    double c[MAX_REPS];
    double j[MAX_REPS];
    double ratio[MAX_REPS];
    double sratio[MAX_REPS];
    for (unsigned r = 0; r < reps; r++) {
        k[r] = sample(keel, t, n);
        c[r] = sample(cjson, t, n);
        j[r] = sample(simd, t, n);
        ratio[r] = c[r] / k[r];
        sratio[r] = j[r] / k[r];
    }
    printf("result %s %s %zu %.1f %.1f %.3f %.1f %.3f\n", doc, workload, t->len, median(k, reps),
           median(c, reps), median(ratio, reps), median(j, reps), median(sratio, reps));
}

static bool same(const extracted *a, const extracted *b)
{
    return a->number == b->number && a->boolean == b->boolean && a->zip == b->zip &&
           a->item_id == b->item_id && a->name_len == b->name_len &&
           memcmp(a->name, b->name, a->name_len) == 0;
}

static void check_same(const text *t, const char *doc)
{
    extracted a;
    extracted b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    extracted w;
    memset(&w, 0, sizeof w);
    extracted st;
    memset(&st, 0, sizeof st);
    extracted j;
    memset(&j, 0, sizeof j);
    if (!keel_validate(t) || !cjson_validate(t) || !keel_extract(t, &a) || !cjson_extract(t, &b) ||
        !keel_extract_walk(t, &w) || !same(&a, &b) || !same(&w, &b) ||
        !keel_extract_struct(t, &st) || !same(&st, &b) ||
        !op_simdjson_validate(t, NULL) || !op_simdjson_extract(t, &j) || !same(&j, &b)) {
        fprintf(stderr, "bench_json: keel, cJSON and simdjson disagree on the %s document\n", doc);
        abort();
    }
}

/* The workloads by name: keel's operation and cJSON's. */
static const struct workload {
    const char *name;
    op_fn keel;
    op_fn cjson;
    op_fn simdjson;
} workloads[] = {
    { "validate", op_keel_validate, op_cjson_validate, op_simdjson_validate },
    { "validate-dups-ok", op_keel_validate_dups, op_cjson_validate, op_simdjson_validate },
    { "extract", keel_extract_walk, cjson_extract, op_simdjson_extract },
    { "extract-find", keel_extract, cjson_extract, op_simdjson_extract },
    { "extract-struct", keel_extract_struct, cjson_extract, op_simdjson_extract },
};

#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

/* --loop: n untimed runs of one implementation, workload and document. */
static int loop(const char *impl, const char *workload, const char *doc, unsigned long n,
                const text docs[3], const char *const names[3])
{
    const struct workload *w = NULL;
    for (size_t i = 0; i < N_WORKLOADS; i++) {
        if (strcmp(workloads[i].name, workload) == 0) {
            w = &workloads[i];
        }
    }
    int d = -1;
    for (int i = 0; i < 3; i++) {
        if (strcmp(names[i], doc) == 0) {
            d = i;
        }
    }
    op_fn op = NULL;
    if (w != NULL) {
        op = strcmp(impl, "keel") == 0    ? w->keel
             : strcmp(impl, "cjson") == 0 ? w->cjson
             : strcmp(impl, "simdjson") == 0 ? w->simdjson
                                              : NULL;
    }
    if (op == NULL || d < 0) {
        fprintf(stderr, "bench_json: --loop keel|cjson|simdjson WORKLOAD DOC N\n");
        return 2;
    }
    extracted x = { 0 };
    for (unsigned long i = 0; i < n; i++) {
        if (!op(&docs[d], &x)) {
            fprintf(stderr, "bench_json: an operation failed\n");
            return 1;
        }
        sink += (uint64_t)x.number;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned reps = 7;
    double min_ms = 5.0;
    const char *loop_impl = NULL;
    const char *loop_workload = NULL;
    const char *loop_doc = NULL;
    unsigned long loop_n = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--reps") == 0) {
            reps = (unsigned)atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--min-ms") == 0) {
            min_ms = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--loop") == 0 && i + 4 < argc) {
            loop_impl = argv[i + 1];
            loop_workload = argv[i + 2];
            loop_doc = argv[i + 3];
            loop_n = strtoul(argv[i + 4], NULL, 10);
            i += 3;
        }
    }
    if (reps < 1 || reps > MAX_REPS || min_ms <= 0) {
        fprintf(stderr, "usage: bench_json [--reps 1..%d] [--min-ms MS]\n"
                        "       bench_json --loop keel|cjson|simdjson WORKLOAD DOC N   (for a profiler)\n",
                MAX_REPS);
        return 2;
    }
    text docs[3];
    const char *const names[3] = { "small", "nested", "strings" };
    memset(docs, 0, sizeof docs);
    small_doc(&docs[0]);
    nested_doc(&docs[1], 100000);
    strings_doc(&docs[2], 100000);
    for (int d = 0; d < 3; d++) {
        docs[d].sj = sj_doc_new(docs[d].p, docs[d].len);
        check_same(&docs[d], names[d]);
    }
    if (loop_impl == NULL) {
        printf("simdjson %s\n", sj_version());
    }
    if (loop_impl != NULL) {
        return loop(loop_impl, loop_workload, loop_doc, loop_n, docs, names);
    }
    for (int d = 0; d < 3; d++) {
        for (size_t w = 0; w < N_WORKLOADS; w++) {
            measure(names[d], workloads[w].name, &docs[d], workloads[w].keel, workloads[w].cjson,
                    workloads[w].simdjson, reps, min_ms * 1e6);
        }
    }
    for (int d = 0; d < 3; d++) {
        sj_doc_free(docs[d].sj);
        free(docs[d].p);
    }
    return 0;
}

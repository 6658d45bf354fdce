/*
 * examples/json_report.c - parsing and writing JSON (docs/guide-json.md).
 *
 *   json_report < document
 *
 * Reads a document such as {"name": "ada", "scores": [90, 85.5, 77]} on
 * stdin (at most 64 KiB) and writes a summary of it on stdout:
 * {"name":"ada","count":3,"total":252.5,"best":90}. Exit 0; 1 when the
 * document is not valid JSON (with the byte offset and the reason) or not of
 * that shape (a field missing or of another type, a name over 255 bytes);
 * 2 when stdin cannot be read or is larger than 64 KiB.
 */
#include <stdio.h>

#include "keel/json.h"

#define MAX_DOC (64 * 1024)

/* guide:parse:begin */
/* The fields of the document, decoded. */
struct report {
    uint8_t name_storage[256];
    keel_buf name; /* decoded: escapes resolved, UTF-8 */
    uint64_t count;
    double total, best;
};

static keel_result read_report(keel_slice text, struct report *rep)
{
    keel_json_doc doc;
    keel_json_error err;
    keel_result r = keel_json_parse(text, 0 /* default depth */, &doc, &err);
    if (r != KEEL_OK) {
        fprintf(stderr, "json_report: byte %zu: %s\n", err.offset, keel_json_reason_str(err.reason));
        return r;
    }
    keel_json_value name, scores, score;
    KEEL_TRY(keel_json_find(&doc.root, KEEL_STR(".name"), &name));
    KEEL_TRY(keel_buf_init(&rep->name, rep->name_storage, sizeof rep->name_storage));
    KEEL_TRY(keel_json_get_string(&name, &rep->name)); /* TYPE if not a string */

    KEEL_TRY(keel_json_find(&doc.root, KEEL_STR(".scores"), &scores));
    rep->count = 0;
    rep->total = 0;
    size_t pos = 0;
    while ((r = keel_json_next_child(&scores, &pos, NULL, &score)) == KEEL_OK) {
        double v;
        KEEL_TRY(keel_json_get_double(&score, &v)); /* TYPE if not a number */
        rep->best = rep->count == 0 || v > rep->best ? v : rep->best;
        rep->total += v;
        rep->count++;
    }
    return r == KEEL_ERR_NOT_FOUND ? KEEL_OK : r; /* NOT_FOUND: no more elements */
}
/* guide:parse:end */

/* guide:write:begin */
static keel_result write_report(const struct report *rep, keel_buf *out)
{
    keel_json_writer w;
    KEEL_TRY(keel_json_writer_init(&w, out, 0, KEEL_JSON_UTF8_REJECT));
    KEEL_TRY(keel_json_write_object_begin(&w));
    KEEL_TRY(keel_json_write_key(&w, KEEL_STR("name")));
    KEEL_TRY(keel_json_write_string(&w, keel_buf_slice(&rep->name))); /* escaped again */
    KEEL_TRY(keel_json_write_key(&w, KEEL_STR("count")));
    KEEL_TRY(keel_json_write_u64(&w, rep->count));
    KEEL_TRY(keel_json_write_key(&w, KEEL_STR("total")));
    KEEL_TRY(keel_json_write_double(&w, rep->total));
    if (rep->count > 0) {
        KEEL_TRY(keel_json_write_key(&w, KEEL_STR("best")));
        KEEL_TRY(keel_json_write_double(&w, rep->best));
    }
    KEEL_TRY(keel_json_write_object_end(&w));
    return keel_json_writer_finish(&w); /* exactly one complete value */
}
/* guide:write:end */

int main(int argc, char **argv)
{
    static const char usage[] = "usage: json_report < document\n";
    if (argc == 2 && keel_slice_eq(keel_slice_cstr(argv[1]), KEEL_STR("--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 1) {
        fputs(usage, stderr);
        return 2;
    }
    static uint8_t text[MAX_DOC + 1];
    size_t len = fread(text, 1, sizeof text, stdin);
    if (ferror(stdin) || len > MAX_DOC) {
        fprintf(stderr, "json_report: stdin unreadable or larger than %d bytes\n", MAX_DOC);
        return 2;
    }
    keel_slice doc;
    static struct report rep;
    uint8_t out_storage[512];
    keel_buf out;
    keel_result r = keel_slice_from(text, len, &doc);
    if (r == KEEL_OK) {
        r = read_report(doc, &rep);
    }
    if (r == KEEL_OK) {
        r = keel_buf_init(&out, out_storage, sizeof out_storage);
    }
    if (r == KEEL_OK) {
        r = write_report(&rep, &out);
    }
    if (r != KEEL_OK) {
        fprintf(stderr, "json_report: %s\n", keel_result_str(r));
        return 1;
    }
    printf("%.*s\n", (int)out.len, (const char *)out.ptr);
    return 0;
}

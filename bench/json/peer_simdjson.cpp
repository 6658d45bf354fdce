// bench/json/peer_simdjson.cpp - simdjson 3.0's DOM parser for bench_json.c
// (see peer_simdjson.h). simdjson picks its fastest kernel for the CPU at
// run time (haswell on AVX2 machines); sj_version names the one it chose.
#include <cstring>
#include <string>

#include <simdjson.h>

#include "peer_simdjson.h"

struct sj_doc {
    simdjson::padded_string text;
};

static simdjson::dom::parser &sj_parser()
{
    static simdjson::dom::parser parser;
    return parser;
}

extern "C" sj_doc *sj_doc_new(const char *text, size_t len)
{
    return new sj_doc{ simdjson::padded_string(text, len) };
}

extern "C" void sj_doc_free(sj_doc *d)
{
    delete d;
}

extern "C" const char *sj_version(void)
{
    static std::string v = std::to_string(simdjson::SIMDJSON_VERSION_MAJOR) + "." +
                           std::to_string(simdjson::SIMDJSON_VERSION_MINOR) + "." +
                           std::to_string(simdjson::SIMDJSON_VERSION_REVISION) + ", kernel " +
                           simdjson::get_active_implementation()->name();
    return v.c_str();
}

extern "C" bool sj_validate(const sj_doc *d)
{
    simdjson::dom::element root;
    return sj_parser().parse(d->text).get(root) == simdjson::SUCCESS;
}

extern "C" bool sj_extract(const sj_doc *d, sj_fields *out)
{
    simdjson::dom::element root;
    if (sj_parser().parse(d->text).get(root) != simdjson::SUCCESS) {
        return false;
    }
    std::string_view name;
    if (root["number"].get(out->number) != simdjson::SUCCESS ||
        root["boolean"].get(out->boolean) != simdjson::SUCCESS) {
        return false;
    }
    simdjson::dom::element user;
    if (root["user"].get(user) != simdjson::SUCCESS ||
        user["name"].get(name) != simdjson::SUCCESS ||
        user["address"]["zip"].get(out->zip) != simdjson::SUCCESS ||
        root["items"].at(2)["id"].get(out->item_id) != simdjson::SUCCESS ||
        name.size() >= sizeof out->name) {
        return false;
    }
    std::memcpy(out->name, name.data(), name.size());
    out->name_len = name.size();
    return true;
}

#include <algorithm>

#include "sink/sinks.h"
#include "util/error.h"

namespace hookdump {

const std::vector<SinkFormat>& sink_formats() {
    static const std::vector<SinkFormat> kFormats = {
        {"text", {".txt"}, false, make_text_sink},
        {"csv", {".csv"}, false, make_csv_sink},
        {"jsonl", {".jsonl", ".ndjson", ".json"}, false, make_jsonl_sink},
        {"pcap", {".pcap", ".cap"}, true, make_pcap_sink},
        {"pcapng", {".pcapng", ".ntar"}, true, make_pcapng_sink},
    };
    return kFormats;
}

const SinkFormat& sink_format_by_name(std::string_view name) {
    for (const auto& f : sink_formats())
        if (f.name == name) return f;
    std::string known;
    for (const auto& f : sink_formats()) known += (known.empty() ? "" : ", ") + std::string(f.name);
    throw UsageError("unknown output format '" + std::string(name) + "' (known: " + known + ")");
}

const SinkFormat* sink_format_by_path(std::string_view path) {
    for (const auto& f : sink_formats())
        for (auto ext : f.extensions)
            if (path.size() > ext.size() && path.ends_with(ext)) return &f;
    return nullptr;
}

}  // namespace hookdump

// The output formats: packets (-o, -w FILE's extension) and flows (--flows=FILE's extension),
// one row each, looked up by the same two rules.
#include "sink/flow_sink.h"
#include "sink/sinks.h"
#include "util/named.h"

namespace hookdump {
namespace {

// The row whose extension the path ends with (and is more than); nullptr when none.
template <class Row>
const Row* row_by_extension(const std::vector<Row>& rows, std::string_view path) {
    for (const Row& f : rows)
        for (auto ext : f.extensions)
            if (path.size() > ext.size() && path.ends_with(ext)) return &f;
    return nullptr;
}

}  // namespace

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
    return row_by_name(sink_formats(), name, "output format");
}

const SinkFormat* sink_format_by_path(std::string_view path) {
    return row_by_extension(sink_formats(), path);
}

const std::vector<FlowSinkFormat>& flow_sink_formats() {
    static const std::vector<FlowSinkFormat> kFormats = {
        {"text", {".txt"}, make_flow_text_sink},
        {"csv", {".csv"}, make_flow_csv_sink},
        {"jsonl", {".jsonl", ".ndjson", ".json"}, make_flow_jsonl_sink},
    };
    return kFormats;
}

const FlowSinkFormat& flow_sink_format_by_name(std::string_view name) {
    return row_by_name(flow_sink_formats(), name, "flow format");
}

const FlowSinkFormat* flow_sink_format_by_path(std::string_view path) {
    return row_by_extension(flow_sink_formats(), path);
}

}  // namespace hookdump

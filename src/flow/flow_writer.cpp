#include "flow/flow_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "sink/emitters.h"
#include "sink/output_file.h"
#include "util/error.h"

namespace hookdump {

const char* const kFlowCsvHeader =
    "netns,proto,src,dst,sport,dport,first,last,packets,bytes,tcp_flags,end\n";

namespace {

OutputStats stats_of(const OutputFile& out) {
    return {out.path(), out.units_written(), out.error() ? std::strerror(out.error()) : ""};
}

template <class E>
void emit_flow(E& e, const FlowRecord& r) {
    const FlowKey& k = r.key;
    e.begin();
    if (k.netns)
        append_uint(e.raw("netns"), k.netns);
    else
        e.null("netns");
    append_uint(e.raw("proto"), k.proto);
    append_addr(e.raw_string_begin("src"), k.family, k.src);
    e.raw_string_end();
    append_addr(e.raw_string_begin("dst"), k.family, k.dst);
    e.raw_string_end();
    if (r.has_ports) {
        append_uint(e.raw("sport"), k.sport);
        append_uint(e.raw("dport"), k.dport);
    } else {
        e.null("sport");
        e.null("dport");
    }
    append_epoch_ns(e.raw("first"), r.first_ns);
    append_epoch_ns(e.raw("last"), r.last_ns);
    append_uint(e.raw("packets"), r.packets);
    append_uint(e.raw("bytes"), r.bytes);
    if (k.proto == 6) {
        append_tcp_flags(e.raw_string_begin("tcp_flags"), r.tcp_flags);
        e.raw_string_end();
    } else {
        e.null("tcp_flags");
    }
    e.text("end", to_string(r.end));
    e.end();
}

template <class E>
class RecordFlowWriter final : public FlowWriter {
  public:
    RecordFlowWriter(const std::string& path, std::string_view header)
        : out_(path), e_(out_.buffer()) {
        out_.write(header);
        out_.end_record(0);
    }
    void write(const FlowRecord& r) override {
        emit_flow(e_, r);
        out_.end_record(1);
        out_.maybe_flush();
    }
    void finish(const FlowStats&) override { out_.close(); }
    OutputStats output_stats() const override { return stats_of(out_); }

  private:
    OutputFile out_;
    E e_;
};

std::string endpoint(const FlowRecord& r, const std::array<uint8_t, 16>& a, uint16_t port) {
    std::string s;
    if (r.key.family == 6) s.push_back('[');
    append_addr(s, r.key.family, a);
    if (r.key.family == 6) s.push_back(']');
    if (r.has_ports) {
        s.push_back(':');
        append_uint(s, port);
    }
    return s;
}

// A table for people: held until the end, biggest flows first.
class TableFlowWriter final : public FlowWriter {
  public:
    explicit TableFlowWriter(const std::string& path) : out_(path) {}
    void write(const FlowRecord& r) override { records_.push_back(r); }
    void finish(const FlowStats& st) override {
        std::stable_sort(
            records_.begin(), records_.end(),
            [](const FlowRecord& a, const FlowRecord& b) { return a.bytes > b.bytes; });
        std::string& o = out_.buffer();
        fmt::format_to(std::back_inserter(o), "{:<5} {:<41} {:<41} {:>9} {:>12} {:>9} {:<6} {}\n",
                       "proto", "source", "destination", "packets", "bytes", "seconds", "flags",
                       "end");
        out_.end_record(0);
        for (const auto& r : records_) {
            std::string flags;
            if (r.key.proto == 6) append_tcp_flags(flags, r.tcp_flags);
            fmt::format_to(std::back_inserter(o),
                           "{:<5} {:<41} {:<41} {:>9} {:>12} {:>9.3f} {:<6} {}\n", r.key.proto,
                           endpoint(r, r.key.src, r.key.sport), endpoint(r, r.key.dst, r.key.dport),
                           r.packets, r.bytes, static_cast<double>(r.last_ns - r.first_ns) / 1e9,
                           flags, to_string(r.end));
            out_.end_record(1);
            out_.maybe_flush();
        }
        fmt::format_to(
            std::back_inserter(o),
            "{} flows from {} packets ({} not IP); exported: {} idle, {} active, {} ended by "
            "FIN/RST, {} evicted (table full), {} at end\n",
            st.flows_created, st.packets, st.non_ip_packets, st.exported_idle, st.exported_active,
            st.exported_tcp, st.evicted, st.exported_final);
        out_.end_record(0);
        out_.close();
    }
    OutputStats output_stats() const override { return stats_of(out_); }

  private:
    OutputFile out_;
    std::vector<FlowRecord> records_;
};

}  // namespace

std::string flow_format_for_path(const std::string& path) {
    if (path.ends_with(".csv")) return "csv";
    if (path.ends_with(".jsonl") || path.ends_with(".json") || path.ends_with(".ndjson"))
        return "jsonl";
    return "text";
}

std::unique_ptr<FlowWriter> make_flow_writer(const std::string& format, const std::string& path) {
    if (format == "csv")
        return std::make_unique<RecordFlowWriter<CsvEmitter>>(path, kFlowCsvHeader);
    if (format == "jsonl") return std::make_unique<RecordFlowWriter<JsonEmitter>>(path, "");
    if (format == "text") return std::make_unique<TableFlowWriter>(path);
    throw UsageError("unknown flow format '" + format + "' (known: text, csv, jsonl)");
}

}  // namespace hookdump

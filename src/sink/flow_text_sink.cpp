// The flow table for people: held until the end, biggest flows first, then the table's
// counters in one line.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "packet/format.h"
#include "sink/flow_sink.h"

namespace hookdump {
namespace {

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

class FlowTextSink final : public FlowSink {
  public:
    explicit FlowTextSink(const FlowSinkOptions& o) : out_(o.path, 1 << 20, o.file_ops) {}
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
    OutputStats output_stats() const override { return out_.stats(); }

  private:
    OutputFile out_;
    std::vector<FlowRecord> records_;
};

}  // namespace

std::unique_ptr<FlowSink> make_flow_text_sink(const FlowSinkOptions& o) {
    return std::make_unique<FlowTextSink>(o);
}

}  // namespace hookdump

// The flow table for people: held until the end, biggest flows first, then the table's
// counters in one line. ICMP flows show their type/code where the destination port would be; `at`
// is the capture point and interface when the engine knows them (nothing for a file read).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "engine/ifname_cache.h"
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

// ICMP's type/code where the destination's port would be, one word as the other columns
// are (for awk): "198.18.0.2:8/0", nfdump's 8.0 with a slash no port has.
std::string destination(const FlowRecord& r) {
    std::string s = endpoint(r, r.key.dst, r.key.dport);
    if (r.has_icmp) {
        s.push_back(':');
        append_uint(s, static_cast<uint64_t>(r.key.icmp >> 8));
        s.push_back('/');
        append_uint(s, static_cast<uint64_t>(r.key.icmp & 0xff));
    }
    return s;
}

// The last two columns: "fin     tc-ingress vA", "idle    tap-in 7" (an interface gone
// since), "end" (a file read: no trailing blanks).
std::string end_and_where(const FlowRecord& r, IfNameCache& names) {
    std::string s;
    if (r.key.point != CapturePoint::Unknown) s = to_string(r.key.point);
    if (r.key.ifindex > 0) {
        if (!s.empty()) s.push_back(' ');
        const IfName& n = names.get(r.key.ifindex);
        if (n.empty())
            append_uint(s, static_cast<uint64_t>(r.key.ifindex));
        else
            s += n.view();
    }
    if (s.empty()) return std::string(to_string(r.end));
    return fmt::format("{:<7} {}", to_string(r.end), s);
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
        fmt::format_to(std::back_inserter(o),
                       "{:<5} {:<41} {:<41} {:>9} {:>12} {:>9} {:<6} {:<7} {}\n", "proto", "source",
                       "destination", "packets", "bytes", "seconds", "flags", "end", "at");
        out_.end_record(0);
        for (const auto& r : records_) {
            std::string flags;
            if (r.key.proto == 6) append_tcp_flags(flags, r.tcp_flags);
            fmt::format_to(std::back_inserter(o),
                           "{:<5} {:<41} {:<41} {:>9} {:>12} {:>9.3f} {:<6} {}\n", r.key.proto,
                           endpoint(r, r.key.src, r.key.sport), destination(r), r.packets, r.bytes,
                           static_cast<double>(r.last_ns - r.first_ns) / 1e9, flags,
                           end_and_where(r, names_));
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
    IfNameCache names_;
};

}  // namespace

std::unique_ptr<FlowSink> make_flow_text_sink(const FlowSinkOptions& o) {
    return std::make_unique<FlowTextSink>(o);
}

}  // namespace hookdump

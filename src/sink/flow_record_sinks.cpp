// csv and jsonl flow records: one line per flow with stable field names (docs/FORMATS.md). One
// field walk (flow_fields) over the policies of sink/rows.h makes the csv header, the csv row
// and the jsonl object.
#include <array>
#include <string>

#include "sink/flow_sink.h"
#include "sink/rows.h"

namespace hookdump {
namespace {

template <class R>
void flow_fields(R& e, const FlowRecord& r, bool proc) {
    const FlowKey& k = r.key;
    e.begin();
    if (k.netns)
        e.uint("netns", k.netns);
    else
        e.null("netns");
    if (k.ifindex)
        e.uint("ifindex", static_cast<uint32_t>(k.ifindex));
    else
        e.null("ifindex");
    if (k.point == CapturePoint::Unknown)
        e.null("point");
    else
        e.word("point", to_string(k.point));
    if (r.dir == Direction::Unknown)
        e.null("dir");
    else
        e.word("dir", to_string(r.dir));
    e.uint("proto", k.proto);
    e.addr("src", k.family, k.src);
    e.addr("dst", k.family, k.dst);
    if (r.has_ports) {
        e.uint("sport", k.sport);
        e.uint("dport", k.dport);
    } else {
        e.null("sport");
        e.null("dport");
    }
    if (r.has_icmp) {
        e.uint("icmp_type", k.icmp >> 8);
        e.uint("icmp_code", k.icmp & 0xff);
    } else {
        e.null("icmp_type");
        e.null("icmp_code");
    }
    e.epoch_ns("first", r.first_ns);
    e.epoch_ns("last", r.last_ns);
    e.uint("packets", r.packets);
    e.uint("bytes", r.bytes);
    e.uint("octets", r.ip_bytes);
    if (k.proto == 6)
        e.tcp_flags("tcp_flags", r.tcp_flags);
    else
        e.null("tcp_flags");
    e.word("end", to_string(r.end));
    if (proc) proc_fields(e, r.proc);
    e.finish();
}

// Every field at its longest, names, quotes and separators included, is under 600 bytes.
constexpr size_t kFlowRoom = 1024;

template <class R>
class FlowRecordSink final : public FlowSink {
  public:
    FlowRecordSink(const FlowSinkOptions& o, std::string_view header)
        : out_(o.path, 1 << 20, o.file_ops), proc_(o.proc_fields) {
        out_.write(header);
        out_.end_record(0);
    }
    void write(const FlowRecord& r) override {
        append_row<R>(out_.buffer(), kFlowRoom + (proc_ ? R::room(r.proc.cgroup.size()) + 64 : 0),
                      [&](R& row) { flow_fields(row, r, proc_); });
        out_.end_record(1);
        out_.maybe_flush();
    }
    // As the packet files are at the pipeline's idle tick: records of flows that ended reach
    // the file within 100 ms (and --metrics' written count with them).
    void tick(uint64_t) override { out_.flush(); }
    void finish(const FlowStats&) override { out_.close(); }
    OutputStats output_stats() const override { return out_.stats(); }

  private:
    OutputFile out_;
    bool proc_;
};

}  // namespace

const std::string& flow_csv_header(bool proc_fields) {
    static const auto kHeaders = [] {
        std::array<std::string, 2> h;
        for (bool proc : {false, true}) {
            CsvNames names(h[proc]);
            flow_fields(names, FlowRecord{}, proc);
        }
        return h;
    }();
    return kHeaders[proc_fields];
}

std::unique_ptr<FlowSink> make_flow_csv_sink(const FlowSinkOptions& o) {
    return std::make_unique<FlowRecordSink<CsvRow>>(o, flow_csv_header(o.proc_fields));
}

std::unique_ptr<FlowSink> make_flow_jsonl_sink(const FlowSinkOptions& o) {
    return std::make_unique<FlowRecordSink<JsonRow>>(o, "");
}

}  // namespace hookdump

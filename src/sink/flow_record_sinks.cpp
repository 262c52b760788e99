// csv and jsonl flow records: one line per flow with stable field names (docs/FORMATS.md), one
// field walk over the two syntaxes of sink/emitters.h.
#include <string>

#include "sink/emitters.h"
#include "sink/flow_sink.h"

namespace hookdump {

const char* const kFlowCsvHeader =
    "netns,proto,src,dst,sport,dport,first,last,packets,bytes,tcp_flags,end\n";

namespace {

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
class FlowRecordSink final : public FlowSink {
  public:
    FlowRecordSink(const FlowSinkOptions& o, std::string_view header)
        : out_(o.path, 1 << 20, o.file_ops), e_(out_.buffer()) {
        out_.write(header);
        out_.end_record(0);
    }
    void write(const FlowRecord& r) override {
        emit_flow(e_, r);
        out_.end_record(1);
        out_.maybe_flush();
    }
    void finish(const FlowStats&) override { out_.close(); }
    OutputStats output_stats() const override { return out_.stats(); }

  private:
    OutputFile out_;
    E e_;
};

}  // namespace

std::unique_ptr<FlowSink> make_flow_csv_sink(const FlowSinkOptions& o) {
    return std::make_unique<FlowRecordSink<CsvEmitter>>(o, kFlowCsvHeader);
}

std::unique_ptr<FlowSink> make_flow_jsonl_sink(const FlowSinkOptions& o) {
    return std::make_unique<FlowRecordSink<JsonEmitter>>(o, "");
}

}  // namespace hookdump

// csv and jsonl: one record per packet with the same stable field names (docs/FORMATS.md).
// Both are produced by one field walk over an emitter policy, so the two cannot drift apart.
#include <memory>

#include "packet/format.h"
#include "sink/emitters.h"
#include "sink/output_file.h"
#include "sink/sinks.h"

namespace hookdump {
namespace {

template <class E>
void emit_packet(E& e, const PacketEvent& ev, bool drop_fields) {
    const Parsed& p = ev.parsed;
    e.begin();
    append_epoch_ns(e.raw("ts"), ev.ts_ns);
    if (ev.point == CapturePoint::Unknown) e.null("point"); else e.text("point", point_label(ev));
    if (ev.ifname.empty()) e.null("ifname"); else e.text("ifname", ev.ifname.view());
    if (ev.ifindex) append_uint(e.raw("ifindex"), static_cast<uint32_t>(ev.ifindex)); else e.null("ifindex");
    if (ev.netns) append_uint(e.raw("netns"), ev.netns); else e.null("netns");
    if (ev.dir == Direction::Unknown) e.null("dir"); else e.text("dir", to_string(ev.dir));
    if (p.has_proto()) append_uint(e.raw("proto"), p.proto); else e.null("proto");
    if (p.has_ip()) {
        append_addr(e.raw_string_begin("src"), p.family, p.src);
        e.raw_string_end();
        append_addr(e.raw_string_begin("dst"), p.family, p.dst);
        e.raw_string_end();
    } else {
        e.null("src");
        e.null("dst");
    }
    if (p.has_ports()) {
        append_uint(e.raw("sport"), p.sport);
        append_uint(e.raw("dport"), p.dport);
    } else {
        e.null("sport");
        e.null("dport");
    }
    if (p.has_icmp()) {
        append_uint(e.raw("icmp_type"), p.icmp_type);
        append_uint(e.raw("icmp_code"), p.icmp_code);
    } else {
        e.null("icmp_type");
        e.null("icmp_code");
    }
    append_uint(e.raw("len"), ev.len);
    append_uint(e.raw("caplen"), ev.caplen());
    if (p.has_ip()) e.raw("frag").push_back(p.fragment ? '1' : '0'); else e.null("frag");
    if (p.has_tcp_flags()) {
        append_tcp_flags(e.raw_string_begin("tcp_flags"), p.tcp_flags);
        e.raw_string_end();
    } else {
        e.null("tcp_flags");
    }
    if (ev.verdict == Verdict::Unknown) e.null("verdict"); else e.text("verdict", to_string(ev.verdict));
    if (drop_fields) {
        if (ev.drop_reason.empty()) e.null("reason"); else e.text("reason", ev.drop_reason);
        if (ev.drop_location.empty()) e.null("location"); else e.text("location", ev.drop_location);
    }
    e.end();
}

template <class E>
class RecordSink final : public Sink {
public:
    RecordSink(const SinkOptions& o, std::string_view header)
        : out_(o.path), e_(out_.buffer()), drop_fields_(o.drop_fields) {
        out_.write(header);
    }
    void write(const PacketEvent& ev) override {
        emit_packet(e_, ev, drop_fields_);
        out_.maybe_flush();
    }
    void flush() override { out_.flush(); }
    uint64_t bytes_written() const override { return out_.bytes_written(); }
    void finish(const Ledger&) override { out_.close(); }

private:
    OutputFile out_;
    E e_;
    bool drop_fields_;
};

}  // namespace

const char* const kCsvHeader =
    "ts,point,ifname,ifindex,netns,dir,proto,src,dst,sport,dport,icmp_type,icmp_code,len,caplen,"
    "frag,tcp_flags,verdict\n";

const char* const kCsvDropHeader =
    "ts,point,ifname,ifindex,netns,dir,proto,src,dst,sport,dport,icmp_type,icmp_code,len,caplen,"
    "frag,tcp_flags,verdict,reason,location\n";

std::unique_ptr<Sink> make_csv_sink(const SinkOptions& o) {
    return std::make_unique<RecordSink<CsvEmitter>>(o, o.drop_fields ? kCsvDropHeader : kCsvHeader);
}

std::unique_ptr<Sink> make_jsonl_sink(const SinkOptions& o) {
    return std::make_unique<RecordSink<JsonEmitter>>(o, "");
}

}  // namespace hookdump

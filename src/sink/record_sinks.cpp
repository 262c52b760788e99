// csv and jsonl: one record per packet with the same stable field names (docs/FORMATS.md).
// Both are produced by one field walk over a syntax policy, so the two cannot drift apart. The
// flow records (flow/flow_writer.cpp) share the text forms through sink/emitters.h.
#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "packet/format.h"
#include "sink/output_file.h"
#include "sink/sinks.h"

namespace hookdump {
namespace {

// The record syntaxes, writing at a cursor into room the sink reserved for the whole record
// (plain stores: no capacity check per character). Fields in order; names are literals.
class CsvRow {
public:
    explicit CsvRow(char* p) : p_(p) {}
    char* end() const { return p_; }
    void begin() {}
    void finish() { *p_++ = '\n'; }
    void null(std::string_view) { sep(); }
    // A fixed word (capture point, direction, verdict): needs no quoting in either syntax.
    void word(std::string_view, std::string_view v) {
        sep();
        copy(v);
    }
    void text(std::string_view, std::string_view v) {
        sep();
        bool plain = true;
        for (char c : v) plain &= c != ',' && c != '"' && c != '\n' && c != '\r';
        if (plain) {
            copy(v);
            return;
        }
        *p_++ = '"';
        for (char c : v) {
            if (c == '"') *p_++ = '"';
            *p_++ = c;
        }
        *p_++ = '"';
    }
    void uint(std::string_view, uint64_t v) {
        sep();
        p_ = put_uint(p_, v);
    }
    void epoch_ns(std::string_view, uint64_t ts) {
        sep();
        p_ = put_epoch_ns(p_, ts);
    }
    void addr(std::string_view, uint8_t family, const std::array<uint8_t, 16>& a) {
        sep();
        p_ = put_addr(p_, family, a);
    }
    void tcp_flags(std::string_view, uint8_t f) {
        sep();
        p_ = put_tcp_flags(p_, f);
    }
    void digit(std::string_view, char c) {
        sep();
        *p_++ = c;
    }
    // Room a text of n bytes can take, quoted.
    static size_t room(size_t n) { return 2 * n + 2; }

private:
    void sep() {
        if (!first_) *p_++ = ',';
        first_ = false;
    }
    void copy(std::string_view v) {
        std::memcpy(p_, v.data(), v.size());
        p_ += v.size();
    }
    char* p_;
    bool first_ = true;
};

class JsonRow {
public:
    explicit JsonRow(char* p) : p_(p) {}
    char* end() const { return p_; }
    void begin() { *p_++ = '{'; }
    void finish() {
        std::memcpy(p_, "}\n", 2);
        p_ += 2;
    }
    void null(std::string_view name) {
        field(name);
        copy("null");
    }
    void word(std::string_view name, std::string_view v) {
        field(name);
        *p_++ = '"';
        copy(v);
        *p_++ = '"';
    }
    void text(std::string_view name, std::string_view v) {
        field(name);
        *p_++ = '"';
        p_ = put_json_escaped(p_, v);
        *p_++ = '"';
    }
    void uint(std::string_view name, uint64_t v) {
        field(name);
        p_ = put_uint(p_, v);
    }
    void epoch_ns(std::string_view name, uint64_t ts) {
        field(name);
        p_ = put_epoch_ns(p_, ts);
    }
    void addr(std::string_view name, uint8_t family, const std::array<uint8_t, 16>& a) {
        field(name);
        *p_++ = '"';
        p_ = put_addr(p_, family, a);
        *p_++ = '"';
    }
    void tcp_flags(std::string_view name, uint8_t f) {
        field(name);
        *p_++ = '"';
        p_ = put_tcp_flags(p_, f);
        *p_++ = '"';
    }
    void digit(std::string_view name, char c) {
        field(name);
        *p_++ = c;
    }
    static size_t room(size_t n) { return 6 * n + 2; }

private:
    void field(std::string_view name) {
        if (!first_) *p_++ = ',';
        first_ = false;
        *p_++ = '"';
        copy(name);
        std::memcpy(p_, "\":", 2);
        p_ += 2;
    }
    void copy(std::string_view v) {
        std::memcpy(p_, v.data(), v.size());
        p_ += v.size();
    }
    char* p_;
    bool first_ = true;
};

// Room for a record's fixed-size fields, field names, separators and quotes included (a JSON
// record with every field at its longest is under 700 bytes).
constexpr size_t kFixedRoom = 1024;

template <class R>
size_t record_room(const PacketEvent& ev, bool drop_fields) {
    size_t n = kFixedRoom + R::room(ev.ifname.view().size());
    if (drop_fields) n += R::room(ev.drop_reason.size()) + R::room(ev.drop_location.size());
    return n;
}

template <class R>
char* emit_packet(char* out, const PacketEvent& ev, bool drop_fields) {
    const Parsed& p = ev.parsed;
    R e(out);
    e.begin();
    e.epoch_ns("ts", ev.ts_ns);
    if (ev.point == CapturePoint::Unknown) e.null("point"); else e.word("point", point_label(ev));
    if (ev.ifname.empty()) e.null("ifname"); else e.text("ifname", ev.ifname.view());
    if (ev.ifindex) e.uint("ifindex", static_cast<uint32_t>(ev.ifindex)); else e.null("ifindex");
    if (ev.netns) e.uint("netns", ev.netns); else e.null("netns");
    if (ev.dir == Direction::Unknown) e.null("dir"); else e.word("dir", to_string(ev.dir));
    if (p.has_proto()) e.uint("proto", p.proto); else e.null("proto");
    if (p.has_ip()) {
        e.addr("src", p.family, p.src);
        e.addr("dst", p.family, p.dst);
    } else {
        e.null("src");
        e.null("dst");
    }
    if (p.has_ports()) {
        e.uint("sport", p.sport);
        e.uint("dport", p.dport);
    } else {
        e.null("sport");
        e.null("dport");
    }
    if (p.has_icmp()) {
        e.uint("icmp_type", p.icmp_type);
        e.uint("icmp_code", p.icmp_code);
    } else {
        e.null("icmp_type");
        e.null("icmp_code");
    }
    e.uint("len", ev.len);
    e.uint("caplen", ev.caplen());
    if (p.has_ip()) e.digit("frag", p.fragment ? '1' : '0'); else e.null("frag");
    if (p.has_tcp_flags()) e.tcp_flags("tcp_flags", p.tcp_flags); else e.null("tcp_flags");
    if (ev.verdict == Verdict::Unknown) e.null("verdict"); else e.word("verdict", to_string(ev.verdict));
    if (drop_fields) {
        if (ev.drop_reason.empty()) e.null("reason"); else e.text("reason", ev.drop_reason);
        if (ev.drop_location.empty()) e.null("location"); else e.text("location", ev.drop_location);
    }
    e.finish();
    return e.end();
}

// Records are formatted into a buffer of the sink's own, written out when the next record
// might not fit (as the pcap sink does): one write(2) per 256 KiB.
template <class R>
class RecordSink final : public Sink {
public:
    RecordSink(const SinkOptions& o, std::string_view header)
        : out_(o.path, 4096), buf_(std::make_unique<char[]>(kBufferSize)), drop_fields_(o.drop_fields) {
        out_.write(header);
    }
    void write(const PacketEvent& ev) override { write_one(ev); }
    void write_batch(std::span<const PacketEvent> evs) override {
        for (const PacketEvent& ev : evs) write_one(ev);
    }
    void flush() override {
        const size_t n = used_;
        used_ = 0;  // also when the write fails: the error is reported once
        out_.write_through({buf_.get(), n});
    }
    uint64_t bytes_written() const override { return out_.bytes_written() + used_; }
    void finish(const Ledger&) override {
        flush();
        out_.close();
    }

private:
    void write_one(const PacketEvent& ev) {
        const size_t room = record_room<R>(ev, drop_fields_);
        if (used_ + room > kBufferSize) {
            flush();
            if (room > kBufferSize) {  // only with drop fields of hundreds of KiB
                std::string big(room, '\0');
                big.resize(static_cast<size_t>(emit_packet<R>(big.data(), ev, drop_fields_) - big.data()));
                out_.write_through(big);
                return;
            }
        }
        char* const at = buf_.get() + used_;
        used_ += static_cast<size_t>(emit_packet<R>(at, ev, drop_fields_) - at);
    }

    // Small enough to stay in the CPU's cache until write(2) copies it, large enough that
    // write(2) is rare.
    static constexpr size_t kBufferSize = 256 << 10;

    OutputFile out_;
    std::unique_ptr<char[]> buf_;
    size_t used_ = 0;
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
    return std::make_unique<RecordSink<CsvRow>>(o, o.drop_fields ? kCsvDropHeader : kCsvHeader);
}

std::unique_ptr<Sink> make_jsonl_sink(const SinkOptions& o) {
    return std::make_unique<RecordSink<JsonRow>>(o, "");
}

}  // namespace hookdump

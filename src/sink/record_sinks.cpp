// csv and jsonl: one record per packet with the same stable field names (docs/FORMATS.md).
// One field walk (packet_fields) over the policies of sink/rows.h makes the csv header, the csv
// row and the jsonl object, so the three cannot drift apart.
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "packet/format.h"
#include "sink/output_file.h"
#include "sink/rows.h"
#include "sink/sinks.h"

namespace hookdump {
namespace {

// Room for a record's fixed-size fields, field names, separators and quotes included (a JSON
// record with every field at its longest is under 700 bytes).
constexpr size_t kFixedRoom = 1024;

template <class R>
size_t record_room(const PacketEvent& ev, RecordFields f) {
    size_t n = kFixedRoom + R::room(sizeof ev.ifname.s);
    if (f.label) n += R::room(ev.label.size());
    if (f.drop) n += R::room(ev.drop_reason.size()) + R::room(ev.drop_location.size());
    if (f.proc) n += 64 + R::room(sizeof ev.proc.comm) + R::room(ev.proc.cgroup.size());
    return n;
}

// The text of the fields from point to dst of the last record, with what it was made from:
// events in a row mostly share them (one hook, interface and address pair), and formatting
// the addresses and names again is most of a record's cost.
class RowMemo {
  public:
    bool same(const PacketEvent& ev) const {
        const Parsed& p = ev.parsed;
        return valid_ && ev.point == point_ && ev.slot == slot_ && ev.dir == dir_ &&
               ev.ifindex == ifindex_ && ev.netns == netns_ && (p.has & kKeyHas) == has_ &&
               p.proto == proto_ && p.family == family_ && same16(ev.ifname.s, ifname_.s) &&
               same16(p.src.data(), src_.data()) && same16(p.dst.data(), dst_.data());
    }
    void store(const PacketEvent& ev, const char* begin, const char* end) {
        const Parsed& p = ev.parsed;
        const auto n = static_cast<size_t>(end - begin);
        if (n > sizeof text_) {
            valid_ = false;
            return;
        }
        point_ = ev.point, slot_ = ev.slot, dir_ = ev.dir, ifindex_ = ev.ifindex, netns_ = ev.netns;
        has_ = p.has & kKeyHas, proto_ = p.proto, family_ = p.family;
        ifname_ = ev.ifname, src_ = p.src, dst_ = p.dst;
        std::memcpy(text_, begin, n);
        len_ = n;
        valid_ = true;
    }
    std::string_view text() const { return {text_, len_}; }

    // The seconds of the timestamp, likewise.
    uint64_t sec = UINT64_MAX;
    char sec_text[kMaxUintText];
    size_t sec_len = 0;

  private:
    static bool same16(const void* a, const void* b) {
        uint64_t x[2], y[2];
        std::memcpy(x, a, 16);
        std::memcpy(y, b, 16);
        return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
    }
    static constexpr uint8_t kKeyHas = Parsed::kIp | Parsed::kProto;  // what the fields read
    bool valid_ = false;
    CapturePoint point_{};
    PrioritySlot slot_{};
    Direction dir_{};
    uint8_t has_ = 0, proto_ = 0, family_ = 0;
    int32_t ifindex_ = 0;
    uint64_t netns_ = 0;
    IfName ifname_;
    std::array<uint8_t, 16> src_{}, dst_{};
    char text_[512];
    size_t len_ = 0;
};

// The fields of one packet record, in order, with the engine's extra fields `f`. `memo` keeps
// the text of the fields that events in a row share (CsvNames, which has no values, bypasses
// it).
// Inlined where the row lives, so that its cursor stays in a register (a call with the row
// in memory costs 10% of a record).
template <class R>
[[gnu::always_inline]] inline void packet_fields(R& e, const PacketEvent& ev, RecordFields f,
                                                 RowMemo& memo) {
    const Parsed& p = ev.parsed;
    e.begin();
    if constexpr (R::kValues) {
        const uint64_t sec = ev.ts_ns / 1000000000u;
        if (sec != memo.sec) {
            memo.sec = sec;
            memo.sec_len = static_cast<size_t>(put_uint(memo.sec_text, sec) - memo.sec_text);
        }
        e.epoch_ns("ts", {memo.sec_text, memo.sec_len},
                   static_cast<uint32_t>(ev.ts_ns % 1000000000u));
    } else {
        e.epoch_ns("ts");
    }
    // From point to dst: what the memo holds.
    auto shared = [&] {
        if (ev.point == CapturePoint::Unknown)
            e.null("point");
        else
            e.word("point", point_label(ev));
        if (ev.ifname.empty())
            e.null("ifname");
        else
            e.text("ifname", ev.ifname.view());
        if (ev.ifindex)
            e.uint("ifindex", static_cast<uint32_t>(ev.ifindex));
        else
            e.null("ifindex");
        if (ev.netns)
            e.uint("netns", ev.netns);
        else
            e.null("netns");
        if (ev.dir == Direction::Unknown)
            e.null("dir");
        else
            e.word("dir", to_string(ev.dir));
        if (p.has_proto())
            e.uint("proto", p.proto);
        else
            e.null("proto");
        if (p.has_ip()) {
            e.addr("src", p.family, p.src);
            e.addr("dst", p.family, p.dst);
        } else {
            e.null("src");
            e.null("dst");
        }
    };
    if constexpr (R::kValues) {
        if (memo.same(ev)) {
            e.paste(memo.text());
        } else {
            char* const begin = e.end();
            shared();
            memo.store(ev, begin, e.end());
        }
    } else {
        shared();
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
    if (p.has_ip())
        e.digit("frag", p.fragment ? '1' : '0');
    else
        e.null("frag");
    if (p.has_tcp_flags())
        e.tcp_flags("tcp_flags", p.tcp_flags);
    else
        e.null("tcp_flags");
    if (ev.verdict == Verdict::Unknown)
        e.null("verdict");
    else
        e.word("verdict", to_string(ev.verdict));
    if (f.label) {
        if (ev.label.empty())
            e.null("label");
        else
            e.text("label", ev.label);
    }
    if (f.drop) {
        if (ev.drop_reason.empty())
            e.null("reason");
        else
            e.text("reason", ev.drop_reason);
        if (ev.drop_location.empty())
            e.null("location");
        else
            e.text("location", ev.drop_location);
    }
    if (f.proc) proc_fields(e, ev.proc);
    e.finish();
}

template <class R>
char* emit_packet(char* out, const PacketEvent& ev, RecordFields f, RowMemo& memo) {
    R e(out);
    packet_fields(e, ev, f, memo);
    return e.end();
}

// Records are formatted into a buffer of the sink's own (RecordBuffer), as the pcap sink's are.
template <class R>
class RecordSink final : public Sink {
  public:
    RecordSink(const SinkOptions& o, std::string_view header)
        : out_(o.path, 4096, o.file_ops), records_(out_), fields_(o.fields) {
        out_.write(header);
        out_.end_record(0);
    }
    void write(const PacketEvent& ev) override { write_one(ev); }
    void write_batch(std::span<const PacketEvent> evs) override {
        for (const PacketEvent& ev : evs) write_one(ev);
    }
    void flush() override { records_.flush(); }
    uint64_t bytes_written() const override { return out_.bytes_written() + records_.pending(); }
    OutputStats output_stats() const override { return out_.stats(); }
    void finish(const Ledger&, uint64_t) override {
        flush();
        out_.close();
    }

  private:
    void write_one(const PacketEvent& ev) {
        const size_t room = record_room<R>(ev, fields_);
        if (char* const at = records_.room(room)) {
            records_.commit(static_cast<size_t>(emit_packet<R>(at, ev, fields_, memo_) - at));
            return;
        }
        std::string big(room, '\0');  // only with drop fields of hundreds of KiB
        big.resize(
            static_cast<size_t>(emit_packet<R>(big.data(), ev, fields_, memo_) - big.data()));
        records_.write_alone(big);
    }

    OutputFile out_;
    RecordBuffer records_;
    RecordFields fields_;
    RowMemo memo_;
};

}  // namespace

const std::string& csv_header(RecordFields f) {
    static const auto kHeaders = [] {
        std::array<std::string, 8> h;
        for (unsigned i = 0; i < h.size(); ++i) {
            CsvNames names(h[i]);
            RowMemo memo;
            packet_fields(names, PacketEvent{},
                          {.label = (i & 1) != 0, .drop = (i & 2) != 0, .proc = (i & 4) != 0},
                          memo);
        }
        return h;
    }();
    return kHeaders[(f.label ? 1 : 0) | (f.drop ? 2 : 0) | (f.proc ? 4 : 0)];
}

std::unique_ptr<Sink> make_csv_sink(const SinkOptions& o) {
    return std::make_unique<RecordSink<CsvRow>>(o, csv_header(o.fields));
}

std::unique_ptr<Sink> make_jsonl_sink(const SinkOptions& o) {
    return std::make_unique<RecordSink<JsonRow>>(o, "");
}

}  // namespace hookdump

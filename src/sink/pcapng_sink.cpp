// pcapng written by hookdump: a section header, one interface description per interface seen
// (name, link type, nanosecond resolution), enhanced packet blocks with the direction in
// epb_flags and the capture point in a comment, and interface statistics at close.
// Layout per the pcapng specification (draft-ietf-opsawg-pcapng); host byte order.
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <tuple>

#include "capfile/pcapng_format.h"
#include "sink/output_file.h"
#include "sink/sinks.h"
#include "util/clock.h"
#include "util/error.h"
#include "version.h"

namespace hookdump {
namespace {

using namespace pcapng;  // NOLINT(google-build-using-namespace): the format's names

// Builds one block in place: header, body, options, trailing length.
class Block {
  public:
    Block(std::string& out, uint32_t type) : out_(out), start_(out.size()) {
        u32(type);
        u32(0);  // total length, patched in end()
    }
    void u16(uint16_t v) { out_.append(reinterpret_cast<const char*>(&v), 2); }
    void u32(uint32_t v) { out_.append(reinterpret_cast<const char*>(&v), 4); }
    void u64(uint64_t v) { out_.append(reinterpret_cast<const char*>(&v), 8); }
    void bytes(const void* p, size_t n) {
        out_.append(static_cast<const char*>(p), n);
        pad();
    }
    void pad() { out_.append((4 - out_.size() % 4) % 4, '\0'); }
    void option(uint16_t code, const void* p, uint16_t n) {
        u16(code);
        u16(n);
        bytes(p, n);
        has_options_ = true;
    }
    void option_str(uint16_t code, std::string_view s) {
        option(code, s.data(), static_cast<uint16_t>(s.size() < 65000 ? s.size() : 65000));
    }
    void option_u64(uint16_t code, uint64_t v) { option(code, &v, 8); }
    // Timestamps in options are two 32-bit halves, high first (like the EPB's).
    void option_ts(uint16_t code, uint64_t ts) {
        const uint32_t v[2] = {static_cast<uint32_t>(ts >> 32), static_cast<uint32_t>(ts)};
        option(code, v, 8);
    }
    void end() {
        if (has_options_) u32(kOptEnd);  // opt_endofopt with length 0
        const uint32_t total = static_cast<uint32_t>(out_.size() - start_ + 4);
        u32(total);
        std::memcpy(&out_[start_ + 4], &total, 4);
    }

  private:
    std::string& out_;
    size_t start_;
    bool has_options_ = false;
};

class PcapngSink final : public Sink {
  public:
    explicit PcapngSink(const SinkOptions& o)
        : out_(o.path, 1 << 20, o.file_ops), snaplen_(o.snaplen) {
        Block b(out_.buffer(), kShb);
        b.u32(0x1A2B3C4D);
        b.u16(1);
        b.u16(0);
        b.u64(~uint64_t{0});  // section length not given
        b.option_str(kShbUserAppl, "hookdump " HOOKDUMP_VERSION);
        if (!o.section_comment.empty()) b.option_str(kOptComment, o.section_comment);
        if (o.fields.label || o.fields.drop) {
            std::string f(kFieldsComment);
            if (o.fields.label) f.append("label,");
            if (o.fields.drop) f.append("drop,");
            f.pop_back();
            b.option_str(kOptComment, f);
        }
        b.end();
        out_.end_record(0);
    }

    void write(const PacketEvent& ev) override {
        const uint32_t id = interface_id(ev);
        ifaces_[id].packets++;
        if (!first_ts_) first_ts_ = ev.ts_ns;
        last_ts_ = ev.ts_ns;

        std::string& o = out_.buffer();
        Block b(o, kEpb);
        b.u32(id);
        b.u32(static_cast<uint32_t>(ev.ts_ns >> 32));
        b.u32(static_cast<uint32_t>(ev.ts_ns));
        b.u32(ev.caplen());
        b.u32(ev.len < ev.caplen() ? ev.caplen() : ev.len);
        b.bytes(ev.bytes.data(), ev.bytes.size());
        // epb_flags bits 0-1: 01 inbound, 10 outbound.
        if (ev.dir != Direction::Unknown) {
            const uint32_t flags = ev.dir == Direction::In ? 1 : 2;
            b.option(kEpbFlags, &flags, 4);
        }
        // The annotation is always the second comment: the point's comes first.
        if (ev.point != CapturePoint::Unknown || ev.verdict != Verdict::Unknown ||
            !ev.annotation.empty()) {
            comment_.assign("hookdump point=");
            comment_.append(point_label(ev));
            if (ev.verdict != Verdict::Unknown)
                comment_.append(" verdict=").append(to_string(ev.verdict));
            if (!ev.label.empty()) comment_.append(" prefix=").append(ev.label);
            if (!ev.drop_reason.empty()) comment_.append(" reason=").append(ev.drop_reason);
            if (!ev.drop_location.empty()) comment_.append(" location=").append(ev.drop_location);
            if (ev.proc.known) {
                comment_.append(" proc=").append(ev.proc.comm_view());
                comment_.append(" pid=").append(std::to_string(ev.proc.pid));
                comment_.append(" uid=").append(std::to_string(ev.proc.uid));
                if (!ev.proc.cgroup.empty()) comment_.append(" cgroup=").append(ev.proc.cgroup);
            }
            b.option_str(kOptComment, comment_);
        }
        if (!ev.annotation.empty()) b.option_str(kOptComment, ev.annotation);
        b.end();
        out_.end_record(1);
        out_.maybe_flush();
    }

    void flush() override { out_.flush(); }
    uint64_t bytes_written() const override { return out_.bytes_written(); }
    bool needs_parsed() const override { return false; }
    OutputStats output_stats() const override { return out_.stats(); }

    void finish(const Ledger& ledger, uint64_t handed) override {
        // A capture of nothing still gets an interface, so that readers (libpcap) accept it.
        if (ifaces_.empty()) {
            PacketEvent none;
            interface_id(none);
        }
        // The blocks buffered first: when they do not fit, the statistics still try to.
        std::string failed;
        if (!out_.error()) {
            try {
                out_.flush();
            } catch (const RuntimeError& e) {
                failed = e.what();
            }
        }
        // After a failed write the file ends at its last whole block: the statistics go after
        // it when they fit, saying what reached the file as the ledger does.
        const int error = out_.error();
        if (error) out_.retry_trailer();
        const uint64_t written = out_.units_written();
        const uint64_t now = realtime_ns();
        for (uint32_t id = 0; id < ifaces_.size(); ++id) {
            const auto& i = ifaces_[id];
            Block b(out_.buffer(), kIsb);
            b.u32(id);
            b.u32(static_cast<uint32_t>(now >> 32));
            b.u32(static_cast<uint32_t>(now));
            if (first_ts_) {
                b.option_ts(kIsbStartTime, first_ts_);
                b.option_ts(kIsbEndTime, last_ts_);
            }
            if (const auto* c = ledger.find(i.ifindex, i.ifname)) {
                if (c->filter_accepted) b.option_u64(kIsbFilterAccept, c->filter_accepted);
                b.option_u64(kIsbOsDrop, c->kernel_drops);
            }
            if (!error) {
                b.option_u64(kIsbUsrDeliv, i.packets);
            } else {
                // Which interfaces the written packets were of is known with one only.
                if (ifaces_.size() == 1) b.option_u64(kIsbUsrDeliv, written);
                b.option_str(kOptComment, std::to_string(written) + " packets written, " +
                                              std::to_string(handed - written) + " not written (" +
                                              std::strerror(error) + ")");
            }
            b.end();
            out_.end_record(0);
        }
        out_.close();
        if (!failed.empty()) throw RuntimeError(failed);
    }

  private:
    struct Iface {
        int32_t ifindex;
        IfName ifname;
        uint64_t packets = 0;
    };

    uint32_t interface_id(const PacketEvent& ev) {
        if (ev.ifindex == last_key_ifindex_ && ev.linktype == last_key_linktype_ &&
            ev.netns == last_key_netns_ && ev.ifname.view() == last_key_ifname_.view())
            return last_id_;
        const auto key =
            std::make_tuple(ev.ifindex, std::string(ev.ifname.view()), ev.linktype, ev.netns);
        auto [it, inserted] = ids_.try_emplace(key, static_cast<uint32_t>(ifaces_.size()));
        if (inserted) {
            ifaces_.push_back({ev.ifindex, ev.ifname});
            Block b(out_.buffer(), kIdb);
            b.u16(ev.linktype);
            b.u16(0);
            b.u32(snaplen_);
            if (!ev.ifname.empty()) b.option_str(kIfName, ev.ifname.view());
            const uint8_t tsresol = 9;
            b.option(kIfTsresol, &tsresol, 1);
            b.end();
            out_.end_record(0);
        }
        last_key_ifindex_ = ev.ifindex;
        last_key_linktype_ = ev.linktype;
        last_key_netns_ = ev.netns;
        last_key_ifname_ = ev.ifname;
        last_id_ = it->second;
        return last_id_;
    }

    OutputFile out_;
    uint32_t snaplen_;
    std::map<std::tuple<int32_t, std::string, uint16_t, uint64_t>, uint32_t> ids_;
    std::vector<Iface> ifaces_;
    int32_t last_key_ifindex_ = -1;
    uint16_t last_key_linktype_ = 0;
    uint64_t last_key_netns_ = 0;
    IfName last_key_ifname_;
    uint32_t last_id_ = 0;
    uint64_t first_ts_ = 0, last_ts_ = 0;
    std::string comment_;
};

}  // namespace

std::unique_ptr<Sink> make_pcapng_sink(const SinkOptions& o) {
    return std::make_unique<PcapngSink>(o);
}

}  // namespace hookdump

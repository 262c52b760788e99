// One line a packet, in tcpdump's spirit:
//   12:00:00.000123 tap-in eth0 IP 198.18.0.1.5353 > 198.18.0.2.53: UDP, length 42
#include <cstring>

#include "packet/format.h"
#include "sink/output_file.h"
#include "sink/sinks.h"

namespace hookdump {
namespace {

std::string_view icmp_name(uint8_t family, uint8_t type) {
    if (family == 4) {
        switch (type) {
            case 0:
                return "echo reply";
            case 3:
                return "unreachable";
            case 8:
                return "echo request";
            case 11:
                return "time exceeded";
        }
    } else {
        switch (type) {
            case 1:
                return "unreachable";
            case 2:
                return "packet too big";
            case 3:
                return "time exceeded";
            case 128:
                return "echo request";
            case 129:
                return "echo reply";
            case 133:
                return "router solicitation";
            case 134:
                return "router advertisement";
            case 135:
                return "neighbor solicitation";
            case 136:
                return "neighbor advertisement";
        }
    }
    return {};
}

std::string_view proto_name(uint8_t proto) {
    switch (proto) {
        case 6:
            return "TCP";
        case 17:
            return "UDP";
        case 136:
            return "UDP-Lite";
        case 132:
            return "SCTP";
        case 33:
            return "DCCP";
        case 1:
            return "ICMP";
        case 58:
            return "ICMP6";
        default:
            return {};
    }
}

void append_endpoint(std::string& o, const Parsed& p, const std::array<uint8_t, 16>& a,
                     uint16_t port) {
    append_addr(o, p.family, a);
    if (p.has_ports()) {
        o.push_back('.');
        append_uint(o, port);
    }
}

}  // namespace

void format_text_line(std::string& o, LocalClock& clock, const PacketEvent& ev) {
    const Parsed& p = ev.parsed;
    clock.append(o, ev.ts_ns);
    if (ev.point != CapturePoint::Unknown) {
        o.push_back(' ');
        o.append(point_label(ev));
    }
    if (!ev.ifname.empty()) {
        o.push_back(' ');
        o.append(ev.ifname.view());
    }
    if (p.has & Parsed::kVlan) {
        o.append(" vlan ");
        append_uint(o, p.vlan);
        o.push_back(',');
    }
    if (!p.has_ip()) {
        if (p.issue == ParseIssue::UnsupportedLink) {
            o.append(" linktype ");
            append_uint(o, ev.linktype);
        } else if (p.ethertype == 0x0806) {
            o.append(" ARP");
        } else if (p.ethertype) {
            char hex[8];
            snprintf(hex, sizeof hex, "0x%04x", p.ethertype);
            o.append(" ethertype ").append(hex);
        } else {
            o.append(" non-IP");
        }
    } else {
        o.append(p.family == 4 ? " IP " : " IP6 ");
        append_endpoint(o, p, p.src, p.sport);
        o.append(" > ");
        append_endpoint(o, p, p.dst, p.dport);
        o.append(": ");
        if (!p.has_proto()) {
            o.append("ip");
        } else if (auto name = proto_name(p.proto); !name.empty()) {
            o.append(name);
        } else {
            o.append("proto ");
            append_uint(o, p.proto);
        }
        if (p.has_tcp_flags()) {
            o.append(" Flags [");
            append_tcp_flags(o, p.tcp_flags);
            o.push_back(']');
        }
        if (p.has_icmp()) {
            o.push_back(' ');
            if (auto n = icmp_name(p.family, p.icmp_type); !n.empty()) {
                o.append(n);
            } else {
                o.append("type ");
                append_uint(o, p.icmp_type);
            }
            if (p.icmp_code) {
                o.append(" code ");
                append_uint(o, p.icmp_code);
            }
        }
        if (p.later_fragment)
            o.append(" (fragment)");
        else if (p.fragment)
            o.append(" (first fragment)");
        o.append(", length ");
        append_uint(o, p.ip_payload);
    }
    if (!ev.label.empty()) {
        o.append(" prefix \"");
        o.append(ev.label);
        o.push_back('"');
    }
    if (!ev.drop_reason.empty()) {
        o.append(", reason ");
        o.append(ev.drop_reason);
        if (!ev.drop_location.empty()) o.append(" at ").append(ev.drop_location);
    }
    if (p.issue != ParseIssue::None && p.issue != ParseIssue::NotIp) {
        o.append(" [");
        o.append(to_string(p.issue));
        o.push_back(']');
    }
    if (!p.has_ip()) {
        o.append(", length ");
        append_uint(o, ev.len);
    }
    if (ev.proc.known) {
        o.append(", proc ");
        o.append(ev.proc.comm_view());
        o.push_back('[');
        append_uint(o, ev.proc.pid);
        o.append("] uid ");
        append_uint(o, ev.proc.uid);
    }
    o.push_back('\n');
}

namespace {

class TextSink final : public Sink {
  public:
    explicit TextSink(const SinkOptions& o)
        : out_(o.path, o.path == "-" ? 64 << 10 : 1 << 20, o.file_ops) {}
    void write(const PacketEvent& ev) override {
        format_text_line(out_.buffer(), clock_, ev);
        out_.end_record();
        out_.maybe_flush();
    }
    OutputStats output_stats() const override { return out_.stats(); }
    void flush() override { out_.flush(); }
    uint64_t bytes_written() const override { return out_.bytes_written(); }
    void finish(const Ledger&, uint64_t) override { out_.close(); }

  private:
    OutputFile out_;
    LocalClock clock_;
};

}  // namespace

std::unique_ptr<Sink> make_text_sink(const SinkOptions& o) {
    return std::make_unique<TextSink>(o);
}

}  // namespace hookdump

// Writes the fuzz targets' seed corpora, built with hookdump's own packet builder:
//   OUT/parse/  one selector byte + one frame per file (every link type, the usual stacks and
//               the edge cases the parser handles: tags, SNAP, extension headers, fragments)
//   OUT/read/   small pcap (micro- and nanosecond) and pcapng files of those frames
// Usage: fuzz_seedgen OUT
#include <pcap/pcap.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/pipeline.h"
#include "engine/synthetic_engine.h"
#include "fuzz_common.h"
#include "packet/builder.h"
#include "sink/sinks.h"

using namespace hookdump;
namespace fs = std::filesystem;

namespace {

struct Frame {
    std::string name;
    LinkType link;
    std::vector<uint8_t> bytes;
};

std::vector<Frame> frames() {
    std::vector<Frame> f;
    auto add = [&](std::string name, LinkType link, const PacketBuilder& b) {
        f.push_back({std::move(name), link, b.build()});
    };
    const auto E = LinkType::Ethernet;
    add("eth-ipv4-tcp", E,
        PacketBuilder()
            .ethernet()
            .ipv4("198.18.0.1", "198.19.0.2")
            .tcp(40000, 443, 0x18)
            .payload(16));
    add("eth-ipv4-udp", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2").udp(5353, 53).payload(12));
    add("eth-ipv4-icmp", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2").icmp(8, 0, 7, 1).payload(8));
    add("eth-ipv4-sctp", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2").sctp(3868, 3868));
    add("eth-ipv4-dccp", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2").dccp(5001, 5002));
    add("eth-ipv4-udplite", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2").udplite(7, 9).payload(4));
    add("eth-ipv4-gre", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2").protocol(47).payload(8));
    Ipv4Options opt;
    opt.options = {0x94, 0x04, 0x00, 0x00};  // router alert
    add("eth-ipv4-options-tcp", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2", opt).tcp(1, 2, 0x02, 1, 0, 12));
    Ipv4Options first;
    first.more_fragments = true;
    add("eth-ipv4-frag-first", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2", first).udp(1, 2).payload(24));
    Ipv4Options later;
    later.frag_offset = 32;
    add("eth-ipv4-frag-later", E,
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.19.0.2", later).payload(24));
    add("eth-ipv4-ipip", E,
        PacketBuilder()
            .ethernet()
            .ipv4("198.18.0.1", "198.19.0.2")
            .ipv4("10.0.0.1", "10.0.0.2")
            .udp(1, 2));
    add("eth-ipv6-udp", E,
        PacketBuilder()
            .ethernet()
            .ipv6("2001:db8::1", "2001:db8:1::2")
            .udp(40000, 443)
            .payload(16));
    add("eth-ipv6-tcp", E,
        PacketBuilder().ethernet().ipv6("2001:db8::1", "2001:db8:1::2").tcp(40000, 443, 0x12));
    add("eth-ipv6-icmp6", E, PacketBuilder().ethernet().ipv6("fe80::1", "ff02::1").icmp6(135));
    add("eth-ipv6-ext-tcp", E,
        PacketBuilder()
            .ethernet()
            .ipv6("2001:db8::1", "2001:db8::2")
            .ipv6_ext(0)
            .ipv6_ext(43, 24)
            .ipv6_ext(60, 16)
            .tcp(1, 2));
    add("eth-ipv6-ah-udp", E,
        PacketBuilder().ethernet().ipv6("2001:db8::1", "2001:db8::2").ipv6_ah().udp(1, 2));
    add("eth-ipv6-frag-first", E,
        PacketBuilder()
            .ethernet()
            .ipv6("2001:db8::1", "2001:db8::2")
            .ipv6_fragment(0, true)
            .udp(1, 2)
            .payload(16));
    add("eth-ipv6-frag-later", E,
        PacketBuilder()
            .ethernet()
            .ipv6("2001:db8::1", "2001:db8::2")
            .ipv6_fragment(64, false)
            .payload(16));
    add("eth-vlan-ipv4-udp", E,
        PacketBuilder()
            .ethernet()
            .vlan(100)
            .ipv4("198.18.0.1", "198.19.0.2")
            .udp(1, 4789)
            .payload(8));
    add("eth-qinq-ipv4-tcp", E,
        PacketBuilder()
            .ethernet()
            .vlan(100, 0x88a8)
            .vlan(200)
            .ipv4("198.18.0.1", "198.19.0.2")
            .tcp(1, 2));
    add("eth-qinq-old-ipv6-udp", E,
        PacketBuilder()
            .ethernet()
            .vlan(5, 0x9100)
            .vlan(6)
            .ipv6("2001:db8::1", "2001:db8::2")
            .udp(1, 2));
    add("eth-arp", E, PacketBuilder().ethernet().ethertype(0x0806).payload(28, 0));
    add("eth-vlan-arp", E, PacketBuilder().ethernet().vlan(3).ethertype(0x0806).payload(28, 0));
    {
        // 802.3 length field + LLC/SNAP carrying IPv4 (RFC 1042).
        auto ip = PacketBuilder().ipv4("198.18.0.1", "198.19.0.2").udp(1, 2).build();
        std::vector<uint8_t> b = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
        const size_t len = ip.size() + 8;
        b.push_back(static_cast<uint8_t>(len >> 8));
        b.push_back(static_cast<uint8_t>(len));
        for (uint8_t c : {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00}) b.push_back(c);
        b.insert(b.end(), ip.begin(), ip.end());
        f.push_back({"eth-snap-ipv4-udp", E, b});
    }
    add("sll-ipv4-tcp", LinkType::LinuxSll,
        PacketBuilder().sll().ipv4("198.18.0.1", "198.19.0.2").tcp(1, 2));
    add("sll-vlan-ipv6-udp", LinkType::LinuxSll,
        PacketBuilder().sll(4).vlan(9).ipv6("2001:db8::1", "2001:db8::2").udp(1, 2));
    add("sll-netlink", LinkType::LinuxSll, PacketBuilder().sll(4, 824).ethertype(0).payload(20, 0));
    add("sll2-ipv6-udp", LinkType::LinuxSll2,
        PacketBuilder().sll2(3, 4).ipv6("2001:db8::1", "2001:db8::2").udp(1, 2));
    add("sll2-ipv4-icmp", LinkType::LinuxSll2,
        PacketBuilder().sll2().ipv4("198.18.0.1", "198.19.0.2").icmp(0));
    add("null-ipv4-udp", LinkType::Null,
        PacketBuilder().null_loopback(2).ipv4("127.0.0.1", "127.0.0.1").udp(1, 2));
    add("null-ipv6-tcp", LinkType::Null,
        PacketBuilder().null_loopback(30).ipv6("::1", "::1").tcp(1, 2));
    add("loop-ipv4-tcp", LinkType::Loop,
        PacketBuilder().null_loopback(2, true).ipv4("127.0.0.1", "127.0.0.1").tcp(1, 2));
    add("loop-ipv6-udp", LinkType::Loop,
        PacketBuilder().null_loopback(24, true).ipv6("::1", "::1").udp(1, 2));
    add("raw-ipv4-tcp", LinkType::Raw, PacketBuilder().ipv4("198.18.0.1", "198.19.0.2").tcp(1, 2));
    add("raw-ipv6-ext-udp", LinkType::Raw,
        PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").ipv6_ext(0).udp(1, 2));
    add("ipv4-udp", LinkType::Ipv4,
        PacketBuilder().ipv4("198.18.0.1", "198.19.0.2").udp(1, 2).payload(4));
    add("ipv6-icmp6", LinkType::Ipv6,
        PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").icmp6(128));
    return f;
}

void write_file(const fs::path& p, const void* data, size_t n) {
    std::ofstream o(p, std::ios::binary | std::ios::trunc);
    o.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    if (!o) throw std::runtime_error("cannot write " + p.string());
}

// A classic pcap of `fs` through libpcap's writer; `cut` shortens the captured bytes of every
// other packet (a snap length), so that truncated records are in the corpus too.
void write_pcap(const fs::path& path, LinkType link, const std::vector<const Frame*>& fs_,
                bool nano, size_t cut) {
    // pcap_open_dead takes a DLT_ value: LINKTYPE_RAW (101) is DLT_RAW (12 on Linux).
    const int dlt = link == LinkType::Raw ? DLT_RAW : static_cast<int>(link);
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(
        dlt, 65535, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    if (!d) throw std::runtime_error("cannot create " + path.string());
    uint32_t i = 0;
    for (const Frame* f : fs_) {
        for (int rep = 0; rep < 2; ++rep, ++i) {
            pcap_pkthdr h{};
            h.ts.tv_sec = 1700000000 + i * 3;  // a few seconds apart: flows expire
            h.ts.tv_usec = i * 1000;
            h.len = static_cast<uint32_t>(f->bytes.size());
            h.caplen =
                (cut && i % 2) ? static_cast<uint32_t>(std::min(cut, f->bytes.size())) : h.len;
            pcap_dump(reinterpret_cast<u_char*>(d), &h, f->bytes.data());
        }
    }
    pcap_dump_close(d);
    pcap_close(dead);
}

// A pcapng from hookdump's own writer: two interfaces, directions, capture points, verdicts.
void write_pcapng(const fs::path& path, const std::vector<const Frame*>& fs_) {
    SinkOptions so;
    so.path = path.string();
    auto sink = make_pcapng_sink(so);
    PacketEvent ev;
    uint64_t ts = 1700000000000000000ull;
    int i = 0;
    for (const Frame* f : fs_) {
        ev.ts_ns = ts += 700'000'000;
        ev.linktype = static_cast<uint16_t>(f->link);
        ev.bytes = f->bytes;
        ev.len = static_cast<uint32_t>(f->bytes.size());
        ev.ifindex = 1 + i % 2;
        ev.ifname.assign(i % 2 ? "veth0" : "eth0");
        ev.dir = static_cast<Direction>(i % 3);
        ev.point = static_cast<CapturePoint>(i % kCapturePointCount);
        ev.verdict = static_cast<Verdict>(i % 3);
        ev.parsed = parse_packet(f->link, ev.bytes);
        sink->write(ev);
        ++i;
    }
    Ledger ledger;
    ledger.at(1, ev.ifname).received = 5;
    sink->finish(ledger, static_cast<uint64_t>(i));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT\n", argv[0]);
        return 2;
    }
    const fs::path out = argv[1];
    fs::create_directories(out / "parse");
    fs::create_directories(out / "read");

    const auto all = frames();
    for (const auto& f : all) {
        std::vector<uint8_t> in;
        in.push_back(
            fuzz::selector_for(f.link, static_cast<uint8_t>(in.size() + f.name.size()) & 31));
        in.insert(in.end(), f.bytes.begin(), f.bytes.end());
        write_file(out / "parse" / f.name, in.data(), in.size());
    }
    // The IP-only frames under the other IP link types too (selector differs, frame the same).
    for (const auto& f : all) {
        if (f.link != LinkType::Raw && f.link != LinkType::Ipv4 && f.link != LinkType::Ipv6)
            continue;
        for (LinkType l : {LinkType::Raw, LinkType::Ipv4, LinkType::Ipv6}) {
            std::vector<uint8_t> in{fuzz::selector_for(l)};
            in.insert(in.end(), f.bytes.begin(), f.bytes.end());
            write_file(out / "parse" / (f.name + "-as-" + std::to_string(static_cast<int>(l))),
                       in.data(), in.size());
        }
    }

    // Capture files: one per link type, plus a mixed pcapng.
    for (LinkType l : fuzz::kLinks) {
        std::vector<const Frame*> fs_;
        for (const auto& f : all)
            if (f.link == l) fs_.push_back(&f);
        if (fs_.empty()) continue;
        const std::string base = "linktype-" + std::to_string(static_cast<int>(l));
        write_pcap(out / "read" / (base + ".pcap"), l, fs_, false, 0);
        write_pcap(out / "read" / (base + "-ns-cut.pcap"), l, fs_, true, 30);
        write_pcapng(out / "read" / (base + ".pcapng"), fs_);
    }
    {
        // Synthetic traffic as `hookdump generate -w` writes it (pcapng, Ethernet).
        SyntheticConfig cfg;
        cfg.packets = 24;
        cfg.flows = 8;
        cfg.payload = 8;
        cfg.gap_ns = 400'000'000;
        SyntheticEngine engine(cfg);
        Pipeline pipeline;
        SinkOptions so;
        so.path = (out / "read" / "generate.pcapng").string();
        pipeline.add_sink(make_pcapng_sink(so));
        so.path = (out / "read" / "generate.pcap").string();
        pipeline.add_sink(make_pcap_sink(so));
        const std::atomic<bool> stop{false};
        engine.run(pipeline, stop);
        pipeline.finish(engine.ledger());
    }
    std::printf("fuzz_seedgen: %zu parse seeds, capture files in %s\n", all.size(),
                (out / "read").c_str());
    return 0;
}

// pcap-filter expressions translated to eBPF (src/bpf/cbpf_translate.h) decide exactly as
// libpcap does: every expression below, compiled by libpcap for Ethernet, is translated for
// both hooks, loaded into this kernel, and run with BPF_PROG_TEST_RUN on every packet of the
// tcpdump test corpus (Ethernet captures) and on packets made with the project's builder. A
// translation loaded on its own returns its verdict, so a run's return value says accept (1)
// or reject (0). Each verdict is compared with pcap_offline_filter()'s on the same bytes; any
// disagreement fails.
//
// At tc the kernel has moved a frame's outer VLAN tag into the skb's metadata: every tagged
// packet is also run through the tc translation that way (tests/netns/vlan_metadata.h), untagged
// with the tag in metadata, and must get libpcap's verdict on the frame as it was on the wire.
//
// Packets BPF_PROG_TEST_RUN cannot run (shorter than an Ethernet header, longer than a page)
// are counted and reported per hook, not hidden. Needs root (CAP_BPF, CAP_PERFMON): exit 77
// without, a failure under CI=true.
//
//   hookdump-cbpf-test [--corpus DIR] [--max-files N] [--verbose]
#include <bpf/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bpf/cbpf_translate.h"
#include "cbpf_corpus.h"
#include "packet/builder.h"
#include "util/error.h"
#include "vlan_metadata.h"

using namespace hookdump;
using namespace hookdump::bpf;

namespace {

constexpr uint32_t kAccept = 1;  // the translation's return values
constexpr uint32_t kReject = 0;

// What the filters are run on: a wide spread of pcap-filter primitives.
const std::vector<std::string> kExpressions = {
    "",  // accepts everything
    "ip",
    "ip6",
    "arp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "igmp",
    "ip proto 47",
    "ip6 proto 58",
    "ip proto 50 or ip proto 51",
    // hosts, nets
    "host 198.18.0.1",
    "src host 198.18.0.1",
    "dst host 198.18.0.2",
    "host 2001:db8::1",
    "src host 2001:db8::1 and dst host 2001:db8::2",
    "net 198.18.0.0/15",
    "src net 10.0.0.0/8",
    "dst net 192.168.0.0/16",
    "net 2001:db8::/32",
    "ip6 dst host ff02::1",
    "ip6 multicast",
    "ip multicast",
    // ports, port ranges
    "port 80",
    "port 53",
    "src port 1234",
    "dst port 443",
    "tcp port 22",
    "udp port 53",
    "port 80 or port 443",
    "portrange 1000-2000",
    "tcp portrange 0-1023",
    "udp dst portrange 30000-40000",
    "ip6 and tcp port 80",
    "sctp port 9899",
    // TCP flags, ICMP types
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "tcp[13] == 0x12",
    "tcp[tcpflags] & tcp-rst != 0",
    "tcp[tcpflags] & (tcp-fin|tcp-push) != 0",
    "icmp[icmptype] == icmp-echo",
    "icmp[icmptype] == icmp-echoreply",
    "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
    "icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 3",
    "icmp6 and ip6[40] == 128",
    // VLAN, MPLS, PPPoE, tunnels
    "vlan",
    "vlan 100",
    "vlan and ip",
    "vlan 100 and host 198.18.0.1",
    "vlan and vlan",
    "vlan 200 and ip6 and udp",
    "vlan 100 and vlan 300",
    "vlan and ether[14:2] & 0xe000 == 0xa000",
    "ether[12:4] = 0x81000064",
    "ether[10:4] & 0xffff0000 != 0",
    "ether[13:4] != 0",
    "ether proto 0x8100",
    "len > 70",
    "len <= 64",
    "not vlan and udp",
    "vlan and ether[18:2] = 0",
    "ether[16:4] != 1",
    "ether[19] = 0",
    "mpls",
    "mpls and ip",
    "pppoes",
    "pppoes and ip",
    "geneve",
    // lengths
    "len > 100",
    "len <= 64",
    "greater 200",
    "less 80",
    "len == 60",
    "len - 14 > 100",
    // byte ops: IPv4 options, fragments, TTL, DSCP, addresses
    "ip[0] & 0xf > 5",
    "ip[0] & 0xf != 5",
    "ip[6:2] & 0x3fff != 0",
    "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0",
    "ip[6] & 0x40 != 0",
    "ip[8] < 5",
    "ip[2:2] > 1000",
    "ip[1] & 0xfc == 0xb8",
    "ip[12:4] == 0xc6120001",
    "ip[12:4] & 0xffff0000 == 0xc0a80000",
    "tcp[0:2] > 1023 and tcp[2:2] < 1024",
    "udp[4:2] > 100",
    "ip6[6] == 17",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    "ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) != 0",
    "udp and ip[6:2] & 0x1fff = 0 and udp[8:2] == 0x1234",
    // arithmetic (ALU ops, division by a packet byte that may be 0, shifts by X)
    "ip[2:2] / 4 > 10",
    "ip[2:2] % 7 == 3",
    "ip[2:2] * 3 > 300",
    "ip[0] ^ 0x45 == 0",
    "ip[1] / (ip[8] - 64) == 0",
    "ip[1] % ip[1] == 0",
    "ip[0] << (ip[9] - 1) > 0",
    "ip[12:4] >> (ip[9] & 0x3f) == 0",
    "ip[8] | ip[9] == 0x47",
    "ip[8] & ip[9] != 0",
    "ip[2:2] - len < 20",
    "-ip[8] > 0xffffff00",
    // link layer
    "ether host 02:00:00:00:00:01",
    "ether src 02:00:00:00:00:01",
    "ether broadcast",
    "ether multicast",
    "ether proto 0x0806",
    "ether[0] & 1 != 0",
    "llc",
    "stp",
    // boolean structure
    "ip and not tcp",
    "not ip",
    "not (port 80 or port 443)",
    "tcp or udp and not icmp",
    "(tcp and port 80) or (udp and port 53)",
    "host 198.18.0.1 and (tcp port 80 or udp port 53)",
    "not (tcp or udp or icmp or icmp6 or arp)",
};

// Expressions libpcap compiles but the translation refuses, with what the message must say.
const std::vector<std::pair<std::string, std::string>> kUntranslatable = {
    {"ip6 protochain 6", "backward jump"},
    {"ip protochain 6", "backward jump"},
};

std::vector<std::vector<uint8_t>> built_packets() {
    std::vector<std::vector<uint8_t>> out;
    auto add = [&](const PacketBuilder& b) { out.push_back(b.build()); };
    const std::string a = "198.18.0.1", b = "198.18.0.2";
    // TCP, various flags and ports, both directions
    add(PacketBuilder().ethernet().ipv4(a, b).tcp(1234, 80, 0x02));
    add(PacketBuilder().ethernet().ipv4(b, a).tcp(80, 1234, 0x12));
    add(PacketBuilder().ethernet().ipv4(a, b).tcp(1234, 80, 0x04));
    add(PacketBuilder()
            .ethernet()
            .ipv4(a, b)
            .tcp(1234, 80, 0x19)
            .payload(std::vector<uint8_t>{'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/',
                                          '1', '.', '1'}));
    add(PacketBuilder()
            .ethernet()
            .ipv4(a, b)
            .tcp(1234, 80, 0x18, 1, 1, 12)
            .payload(std::vector<uint8_t>{'G', 'E', 'T', ' ', '/'}));
    add(PacketBuilder().ethernet().ipv4(a, b).tcp(40000, 443, 0x10).payload(1400));
    add(PacketBuilder().ethernet().ipv4("10.1.2.3", "192.168.1.1").tcp(2222, 22, 0x02));
    add(PacketBuilder().ethernet().ipv4("192.168.7.7", "10.0.0.1").tcp(1000, 2000, 0x11));
    add(PacketBuilder().ethernet().ipv4(a, b).tcp(2001, 65535, 0x01));
    add(PacketBuilder().ethernet().ipv4(a, b).tcp(1023, 1024, 0x02).payload(100));
    // UDP
    add(PacketBuilder().ethernet().ipv4(a, b).udp(5353, 53).payload(40));
    add(PacketBuilder().ethernet().ipv4(b, a).udp(53, 5353).payload(200));
    add(PacketBuilder().ethernet().ipv4(a, b).udp(123, 123).payload(48));
    add(PacketBuilder()
            .ethernet()
            .ipv4(a, b)
            .udp(30000, 35000)
            .payload(std::vector<uint8_t>{0x12, 0x34, 0, 0}));
    add(PacketBuilder()
            .ethernet()
            .ipv4(a, b)
            .udp(40000, 6081)
            .payload(
                std::vector<uint8_t>{0, 0, 0x65, 0x58, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 1, 8, 0}));
    add(PacketBuilder().ethernet().ipv4(a, b).udp(40000, 4789).payload(16));
    // ICMP
    add(PacketBuilder().ethernet().ipv4(a, b).icmp(8));
    add(PacketBuilder().ethernet().ipv4(b, a).icmp(0));
    add(PacketBuilder().ethernet().ipv4(b, a).icmp(3, 3).payload(28));
    add(PacketBuilder().ethernet().ipv4(b, a).icmp(11, 0).payload(28));
    // IPv4 options, TTL, TOS, fragments, other protocols
    {
        Ipv4Options o;
        o.options = {0x07, 0x07, 0x04, 0, 0, 0, 0};  // record route
        add(PacketBuilder().ethernet().ipv4(a, b, o).tcp(1234, 80));
        o.ttl = 1;
        add(PacketBuilder().ethernet().ipv4(a, b, o).udp(1234, 53).payload(8));
    }
    {
        Ipv4Options o;
        o.ttl = 3;
        o.tos = 0xb8;
        o.dont_fragment = true;
        add(PacketBuilder().ethernet().ipv4(a, b, o).udp(9, 9).payload(10));
        o.ttl = 64;
        o.tos = 0;
        add(PacketBuilder().ethernet().ipv4(a, b, o).icmp(8));  // TTL 64: ip[8] - 64 == 0
    }
    for (uint16_t off : {0, 8, 16}) {
        Ipv4Options o;
        o.frag_offset = off;
        o.more_fragments = off < 16;
        o.id = 77;
        if (off == 0)
            add(PacketBuilder().ethernet().ipv4(a, b, o).udp(1234, 53).payload(16));
        else
            add(PacketBuilder().ethernet().ipv4(a, b, o).protocol(17).payload(8));
    }
    add(PacketBuilder().ethernet().ipv4(a, b).protocol(47).payload(24));  // GRE
    add(PacketBuilder().ethernet().ipv4(a, b).protocol(50).payload(24));  // ESP
    add(PacketBuilder().ethernet().ipv4(a, b).sctp(9899, 9899).payload(16));
    add(PacketBuilder().ethernet().ipv4(a, "224.0.0.22").protocol(2).payload(8));  // IGMP
    // IPv6
    add(PacketBuilder().ethernet().ipv6("2001:db8::1", "2001:db8::2").tcp(1234, 80, 0x02));
    add(PacketBuilder().ethernet().ipv6("2001:db8::2", "2001:db8::1").udp(53, 5353).payload(30));
    add(PacketBuilder().ethernet().ipv6("2001:db8::1", "2001:db8::2").icmp6(128));
    add(PacketBuilder().ethernet().ipv6("fe80::1", "ff02::1").icmp6(134).payload(16));
    add(PacketBuilder().ethernet().ipv6("2001:db8::1", "2001:db8::2").ipv6_ext(0).tcp(1234, 80));
    add(PacketBuilder()
            .ethernet()
            .ipv6("2001:db8::1", "2001:db8::2")
            .ipv6_ext(60, 16)
            .ipv6_ext(43)
            .udp(1, 2));
    add(PacketBuilder()
            .ethernet()
            .ipv6("2001:db8::1", "2001:db8::2")
            .ipv6_fragment(0, true)
            .udp(7, 53)
            .payload(8));
    add(PacketBuilder().ethernet().ipv6("2001:db8::1", "2001:db8::2").ipv6_ah().tcp(5, 6));
    add(PacketBuilder().ethernet().ipv6("2001:db9::1", "2001:db8::2").sctp(1, 2));
    // VLAN (802.1Q, QinQ)
    add(PacketBuilder().ethernet().vlan(100).ipv4(a, b).tcp(1234, 80));
    add(PacketBuilder().ethernet().vlan(200).ipv6("2001:db8::1", "2001:db8::2").udp(1, 53));
    add(PacketBuilder().ethernet().vlan(300, 0x88a8).vlan(100).ipv4(a, b).icmp(8));
    add(PacketBuilder().ethernet().vlan(100).vlan(100).ipv4("10.0.0.1", a).udp(53, 53));
    add(PacketBuilder().ethernet().vlan(100, 0x8100, 5).ipv4("198.18.100.2", a).udp(40000, 5001));
    {
        Ipv4Options o;
        o.options = {0x07, 0x07, 0x04, 0, 0, 0, 0};  // ports behind a variable header length
        add(PacketBuilder().ethernet().vlan(100).ipv4(a, b, o).tcp(1234, 80, 0x02));
        const auto t = PacketBuilder().ethernet().vlan(100).ipv4(a, b).udp(1, 2).build();
        for (size_t n : {16, 17, 18, 19, 20, 21, 33, 40})  // truncated: loads past the end
            out.emplace_back(t.begin(), t.begin() + n);
        // Short frames a test run takes untagged (not IPv4): the end of the frame within the
        // wire's first 20 bytes.
        const auto x = PacketBuilder().ethernet().vlan(100).ethertype(0x88b5).payload(8).build();
        for (size_t n : {18, 19, 20, 21, 22}) out.emplace_back(x.begin(), x.begin() + n);
    }
    // ARP, broadcast/multicast MACs
    add(PacketBuilder()
            .ethernet({2, 0, 0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
            .ethertype(0x0806)
            .payload(28, 0));
    add(PacketBuilder()
            .ethernet({2, 0, 0, 0, 0, 3}, {0x01, 0, 0x5e, 0, 0, 0x16})
            .ipv4(a, "224.0.0.22")
            .udp(1, 2));
    add(PacketBuilder().ethernet().ethertype(0x8864).payload(
        std::vector<uint8_t>{0x11, 0, 0, 1, 0, 22, 0, 0x21, 0x45, 0}));
    add(PacketBuilder().ethernet().ethertype(0x8847).payload(
        std::vector<uint8_t>{0, 0, 0x11, 64, 0x45, 0, 0, 20}));
    // Truncated frames: loads past the end must reject.
    {
        const auto full = PacketBuilder().ethernet().ipv4(a, b).tcp(1234, 80, 0x02).build();
        for (size_t n : {14, 15, 20, 23, 24, 30, 34, 35, 36, 38, 40, 46, 47, 53})
            out.emplace_back(full.begin(), full.begin() + n);
    }
    // Random frames (fixed seed), with and without an IPv4 ethertype.
    std::mt19937 rng(42);
    for (int i = 0; i < 40; ++i) {
        std::vector<uint8_t> p(14 + rng() % 120);
        for (auto& byte : p) byte = static_cast<uint8_t>(rng());
        if (i % 2 == 0) p[12] = 0x08, p[13] = 0x00, p[14 % p.size()] = 0x40 | (rng() % 16);
        out.push_back(std::move(p));
    }
    // Too short for BPF_PROG_TEST_RUN: counted as not runnable.
    out.push_back({0x02, 0, 0, 0, 0, 1});
    return out;
}

// r0 = data_end - data: how much of a frame BPF_PROG_TEST_RUN puts in XDP's linear buffer
// (the rest goes to fragments, which a program without BPF_F_XDP_HAS_FRAGS never sees live).
Fd load_xdp_length_probe() {
    bpf_insn insns[5]{};
    insns[0] = {BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, offsetof(xdp_md, data), 0};
    insns[1] = {BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, offsetof(xdp_md, data_end), 0};
    insns[2] = {BPF_ALU64 | BPF_SUB | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0};
    insns[3] = {BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_3, 0, 0};
    insns[4] = {BPF_JMP | BPF_EXIT, 0, 0, 0, 0};
    return load_program(insns, FilterHook::Xdp, "hd_len_probe");
}

std::string not_run_reason(FilterHook hook, size_t size, int err) {
    if (size < 14) return "shorter than an Ethernet header";
    if (hook == FilterHook::Xdp && err == 0) return "longer than XDP's linear buffer";
    if (size > 3000) return fmt::format("too long for a test run ({})", std::strerror(err));
    return fmt::format("refused by the kernel's test run ({})", std::strerror(err));
}

struct HookStats {
    uint64_t compared = 0, accepted = 0, disagreements = 0;
    std::map<std::string, uint64_t> not_run;  // reason -> count
    uint64_t not_run_total() const {
        uint64_t n = 0;
        for (const auto& [k, v] : not_run) n += v;
        return n;
    }
};

const char* hook_name(FilterHook h) {
    return h == FilterHook::Tc ? "tc" : "xdp";
}

// CI=true (exactly: tests/README.md).
bool ci() {
    const char* v = std::getenv("CI");
    return v && std::string(v) == "true";
}

}  // namespace

int main(int argc, char** argv) {
    std::string corpus = HOOKDUMP_TEST_CORPUS_DIR;
    size_t max_files = 0;
    bool verbose = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--corpus" && i + 1 < argc) {
            corpus = argv[++i];
        } else if (arg == "--max-files" && i + 1 < argc) {
            max_files = std::strtoul(argv[++i], nullptr, 10);
        } else if (arg == "--verbose") {
            verbose = true;
        } else {
            std::fprintf(stderr, "usage: %s [--corpus DIR] [--max-files N] [--verbose]\n", argv[0]);
            return 2;
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    int failures = 0;
    auto fail = [&](const std::string& msg) {
        std::printf("FAIL: %s\n", msg.c_str());
        ++failures;
    };

    // The untranslatable expressions: a clear error, before anything needs root.
    for (const auto& [expr, needle] : kUntranslatable) {
        const FilterSpec spec{FilterHook::Tc};
        try {
            PcapFilter pf(expr);
            translate_cbpf(pf.program(), spec);
            fail("'" + expr + "' was translated; expected a refusal mentioning '" + needle + "'");
        } catch (const UsageError& e) {
            const std::string msg = e.what();
            std::printf("refused as expected: '%s': %s\n", expr.c_str(), msg.c_str());
            if (msg.find(needle) == std::string::npos || msg.find('\n') != std::string::npos ||
                msg.find("cannot translate") != 0)
                fail("'" + expr + "': message does not say '" + needle + "' in one line: " + msg);
        }
    }

    // Root and this kernel's BPF: the length probe is the first program loaded.
    const FilterHook hooks[2] = {FilterHook::Tc, FilterHook::Xdp};
    try {
        load_xdp_length_probe();
    } catch (const RuntimeError& e) {
        std::printf("*** cannot load BPF programs here (%s): needs root and BPF ***\n", e.what());
        return ci() ? 1 : 77;
    }

    // The packets.
    std::vector<std::vector<uint8_t>> packets = built_packets();
    const size_t built = packets.size();
    if (!std::filesystem::is_directory(corpus)) {
        std::printf("*** corpus %s not found ***\n", corpus.c_str());
        return ci() ? 1 : 77;
    }
    test::CorpusPackets cp = test::read_ethernet_captures(corpus, max_files);
    std::printf(
        "corpus %s: %zu Ethernet capture files (%zu of other link types, %zu unreadable), "
        "%zu packets (%zu captured shorter than on the wire: compared as captured)\n",
        corpus.c_str(), cp.ethernet_files, cp.other_linktype_files, cp.unreadable_files,
        cp.packets.size(), cp.truncated_packets);
    if (cp.packets.empty()) fail("no Ethernet packets in the corpus");
    for (auto& p : cp.packets) packets.push_back(std::move(p.bytes));
    std::printf("packets: %zu built + %zu from the corpus = %zu\n", built, cp.packets.size(),
                packets.size());

    // Which frames XDP test runs see whole (data_end - data == size).
    std::vector<uint8_t> xdp_linear(packets.size(), 0);
    {
        const Fd probe = load_xdp_length_probe();
        for (size_t i = 0; i < packets.size(); ++i) {
            LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packets[i].data(),
                        .data_size_in = static_cast<__u32>(packets[i].size()), .repeat = 1);
            xdp_linear[i] =
                bpf_prog_test_run_opts(probe.get(), &opts) == 0 && opts.retval == packets[i].size();
        }
    }

    // The tagged ones, untagged with their tag for the metadata.
    std::vector<std::pair<size_t, test::Untagged>> tagged;
    for (size_t i = 0; i < packets.size(); ++i)
        if (auto u = test::strip_outer_tag(packets[i])) tagged.emplace_back(i, std::move(*u));
    test::VlanPushRunner vlan_runner;
    HookStats vlan_stats;

    // libpcap's verdicts do not depend on the hook: compute once per expression.
    HookStats stats[2];
    size_t translated = 0;
    uint64_t ebpf_insns[2] = {0, 0};
    for (const std::string& expr : kExpressions) {
        std::unique_ptr<PcapFilter> compiled;
        try {
            compiled = std::make_unique<PcapFilter>(expr);
        } catch (const UsageError& e) {
            fail(fmt::format("'{}': {}", expr, e.what()));
            continue;
        }
        const PcapFilter& pf = *compiled;
        std::vector<uint8_t> expected(packets.size());
        for (size_t i = 0; i < packets.size(); ++i) expected[i] = pf.matches(packets[i]);
        for (int h = 0; h < 2; ++h) {
            const FilterSpec spec{hooks[h]};
            Fd prog;
            try {
                ebpf_insns[h] += translate_cbpf(pf.program(), spec).size();
                prog = load_filter(pf.program(), spec, "hd_cbpf_test");
            } catch (const std::exception& e) {
                fail(fmt::format("'{}' ({}): {}", expr, hook_name(hooks[h]), e.what()));
                continue;
            }
            HookStats& st = stats[h];
            uint64_t disagree_here = 0;
            for (size_t i = 0; i < packets.size(); ++i) {
                const auto& p = packets[i];
                LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p.data(),
                            .data_size_in = static_cast<__u32>(p.size()), .repeat = 1);
                if (bpf_prog_test_run_opts(prog.get(), &opts) != 0) {
                    ++st.not_run[not_run_reason(hooks[h], p.size(), errno)];
                    continue;
                }
                if (hooks[h] == FilterHook::Xdp && !xdp_linear[i]) {
                    ++st.not_run[not_run_reason(hooks[h], p.size(), 0)];
                    continue;
                }
                if (opts.retval != kAccept && opts.retval != kReject) {
                    fail(fmt::format("'{}' ({}): packet {} returned {}", expr, hook_name(hooks[h]),
                                     i, opts.retval));
                    continue;
                }
                const bool accepted = opts.retval == kAccept;
                ++st.compared;
                st.accepted += accepted;
                if (accepted != static_cast<bool>(expected[i])) {
                    ++st.disagreements;
                    if (++disagree_here <= 3)
                        fail(fmt::format("'{}' ({}): packet {} ({} bytes): eBPF {}, libpcap {}",
                                         expr, hook_name(hooks[h]), i, p.size(),
                                         accepted ? "accepts" : "rejects",
                                         expected[i] ? "accepts" : "rejects"));
                }
            }
            if (verbose)
                std::printf("  %-4s %-60s %zu cBPF -> %zu eBPF insns\n", hook_name(hooks[h]),
                            expr.c_str(), pf.program().size(),
                            translate_cbpf(pf.program(), spec).size());
            if (hooks[h] != FilterHook::Tc) continue;
            vlan_runner.set_target(prog.get());
            disagree_here = 0;
            for (const auto& [i, u] : tagged) {
                const auto v = vlan_runner.run(u.frame, u.tpid, u.tci);
                if (!v) {
                    // The kernel refuses test runs of frames too short for the IPv4 header
                    // their ethertype announces (truncated copies of tagged frames here).
                    if (u.frame.size() < 14 + 20) {
                        ++vlan_stats.not_run["shorter than Ethernet + IPv4 headers untagged"];
                    } else {
                        fail(
                            fmt::format("'{}' (tc, tag in metadata): packet {} ({} bytes): "
                                        "test run refused: {}",
                                        expr, i, u.frame.size(), std::strerror(errno)));
                    }
                    continue;
                }
                if (*v != kAccept && *v != kReject) {
                    fail(fmt::format("'{}' (tc, tag in metadata): packet {} returned {}", expr, i,
                                     *v));
                    continue;
                }
                const bool accepted = *v == kAccept;
                ++vlan_stats.compared;
                vlan_stats.accepted += accepted;
                if (accepted != static_cast<bool>(expected[i])) {
                    ++vlan_stats.disagreements;
                    if (++disagree_here <= 3)
                        fail(fmt::format(
                            "'{}' (tc, tag {:#06x}/{} in metadata): packet {} ({} bytes on the "
                            "wire): eBPF {}, libpcap {}",
                            expr, u.tpid, u.tci & 0xfff, i, packets[i].size(),
                            accepted ? "accepts" : "rejects", expected[i] ? "accepts" : "rejects"));
                }
            }
        }
        ++translated;
    }

    for (int h = 0; h < 2; ++h) {
        const HookStats& st = stats[h];
        std::printf(
            "%s: %zu expressions x %zu packets: %llu verdicts compared (%llu accept, %llu reject), "
            "%llu disagreements, %llu not runnable by BPF_PROG_TEST_RUN",
            hook_name(hooks[h]), translated, packets.size(), (unsigned long long)st.compared,
            (unsigned long long)st.accepted, (unsigned long long)(st.compared - st.accepted),
            (unsigned long long)st.disagreements, (unsigned long long)st.not_run_total());
        for (const auto& [reason, n] : st.not_run)
            std::printf(" [%s: %llu]", reason.c_str(), (unsigned long long)n);
        std::printf("; %llu eBPF instructions in all\n", (unsigned long long)ebpf_insns[h]);
        if (st.compared == 0 || st.accepted == 0 || st.accepted == st.compared)
            fail(fmt::format("{}: degenerate comparison", hook_name(hooks[h])));
        // Only frames a test run cannot take may be skipped: at most the few too short or too
        // long, never a large share.
        if (st.not_run_total() * 20 > st.compared)
            fail(fmt::format("{}: too many packets not runnable", hook_name(hooks[h])));
    }
    std::printf(
        "tc, outer VLAN tag in the skb's metadata: %zu expressions x %zu tagged packets: %llu "
        "verdicts compared (%llu accept, %llu reject), %llu disagreements, %llu not runnable\n",
        translated, tagged.size(), (unsigned long long)vlan_stats.compared,
        (unsigned long long)vlan_stats.accepted,
        (unsigned long long)(vlan_stats.compared - vlan_stats.accepted),
        (unsigned long long)vlan_stats.disagreements,
        (unsigned long long)vlan_stats.not_run_total());
    for (const auto& [reason, n] : vlan_stats.not_run)
        std::printf("  not run with the tag in metadata: %s: %llu\n", reason.c_str(),
                    (unsigned long long)n);
    if (vlan_stats.compared == 0 || vlan_stats.accepted == 0 ||
        vlan_stats.accepted == vlan_stats.compared)
        fail("tc with the tag in metadata: degenerate comparison");
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s in %.1f s\n", failures ? "FAILED" : "PASSED", secs);
    return failures ? 1 : 0;
}

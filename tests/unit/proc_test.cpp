// Process attribution's userspace parts without root (capture --proc): how a packet's process
// prints in text, csv, jsonl and the flow records, the filters, and the shared layout.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <tuple>

#include "flow/flow_table.h"
#include "packet/builder.h"
#include "packet/format.h"
#include "packet/parse.h"
#include "sink/flow_sink.h"
#include "sink/sinks.h"
#include "test_util.h"

#ifdef HOOKDUMP_HAVE_BPF
#include "bpf/proc_attribution.h"
#include "bpf/proc_programs.h"
#endif

namespace hookdump {
namespace {

struct ProcEvent {
    std::vector<uint8_t> bytes;
    PacketEvent ev;
};

ProcEvent proc_event(bool known) {
    ProcEvent p;
    p.bytes = PacketBuilder()
                  .ethernet()
                  .ipv4("198.18.0.1", "198.18.0.2")
                  .udp(7001, 40000)
                  .payload(32)
                  .build();
    p.ev.ts_ns = 1'700'000'000'000'001'000;
    p.ev.point = CapturePoint::TcEgress;
    p.ev.dir = Direction::Out;
    p.ev.len = static_cast<uint32_t>(p.bytes.size());
    p.ev.bytes = p.bytes;
    p.ev.parsed = parse_packet(LinkType::Ethernet, p.ev.bytes);
    if (known) {
        p.ev.proc.known = true;
        p.ev.proc.pid = 4242;
        p.ev.proc.uid = 1000;
        p.ev.proc.cgroup_id = 77;
        std::memcpy(p.ev.proc.comm, "python3", 7);
        p.ev.proc.cgroup = "/user.slice/a,b";
    }
    return p;
}

TEST(ProcFormat, TextLineEndsWithTheProcess) {
    const ProcEvent p = proc_event(true);
    std::string line;
    LocalClock clock;
    format_text_line(line, clock, p.ev);
    EXPECT_TRUE(line.ends_with(": UDP, length 32, proc python3[4242] uid 1000\n")) << line;
    const ProcEvent none = proc_event(false);
    line.clear();
    format_text_line(line, clock, none.ev);
    EXPECT_TRUE(line.ends_with(": UDP, length 32\n")) << line;
}

TEST(ProcFormat, CsvAndJsonlFieldsOnlyWithProc) {
    test::TempDir dir;
    const ProcEvent p = proc_event(true), none = proc_event(false);
    EXPECT_EQ(csv_header({.proc = true}),
              csv_header().substr(0, csv_header().size() - 1) + ",pid,comm,uid,cgroup\n");
    SinkOptions o{dir.file("p.csv"), 262144};
    o.fields.proc = true;
    auto csv = make_csv_sink(o);
    csv->write(p.ev);
    csv->write(none.ev);
    csv->finish(Ledger{}, 0);
    const auto lines = test::split_lines(test::read_file(o.path));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_TRUE(lines[1].ends_with(",4242,python3,1000,\"/user.slice/a,b\"")) << lines[1];
    EXPECT_TRUE(lines[2].ends_with(",,,,")) << lines[2];
    o.path = dir.file("p.jsonl");
    auto js = make_jsonl_sink(o);
    js->write(p.ev);
    js->write(none.ev);
    js->finish(Ledger{}, 0);
    const auto j = test::split_lines(test::read_file(o.path));
    ASSERT_EQ(j.size(), 2u);
    EXPECT_TRUE(
        j[0].ends_with(R"("pid":4242,"comm":"python3","uid":1000,"cgroup":"/user.slice/a,b"})"))
        << j[0];
    EXPECT_TRUE(j[1].ends_with(R"("pid":null,"comm":null,"uid":null,"cgroup":null})")) << j[1];
    // Without --proc the records are as they were.
    auto plain = make_csv_sink({dir.file("q.csv"), 262144});
    plain->write(p.ev);
    plain->finish(Ledger{}, 0);
    EXPECT_EQ(test::read_file(dir.file("q.csv")).find("python3"), std::string::npos);
}

TEST(ProcFormat, FlowTakesItsFirstKnownProcess) {
    std::vector<FlowRecord> out;
    FlowTable table(FlowConfig{}, [&](const FlowRecord& r) { out.push_back(r); });
    ProcEvent none = proc_event(false), known = proc_event(true);
    known.ev.ts_ns = none.ev.ts_ns + 1000;
    table.add(none.ev);
    table.add(known.ev);
    table.flush_all();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].proc.known);
    EXPECT_EQ(out[0].proc.pid, 4242u);
    EXPECT_EQ(flow_csv_header(true),
              flow_csv_header().substr(0, flow_csv_header().size() - 1) + ",pid,comm,uid,cgroup\n");
}

#ifdef HOOKDUMP_HAVE_BPF
TEST(ProcFilter, AUnknownProcessMatchesNoFilter) {
    ProcInfo p;
    bpf::ProcFilter none;
    EXPECT_TRUE(none.match(p));
    bpf::ProcFilter by_pid;
    by_pid.pid = 4242;
    EXPECT_FALSE(by_pid.match(p));
    p = proc_event(true).ev.proc;
    EXPECT_TRUE(by_pid.match(p));
    bpf::ProcFilter by_comm;
    by_comm.comm = "python";
    EXPECT_FALSE(by_comm.match(p));
    by_comm.comm = "python3";
    EXPECT_TRUE(by_comm.match(p));
    bpf::ProcFilter by_cgroup;
    by_cgroup.cgroup_id = 78;
    EXPECT_FALSE(by_cgroup.match(p));
    by_cgroup.cgroup_id = 77;
    EXPECT_TRUE(by_cgroup.match(p));
}

// The lookup's fixed-offset key against the full parse: wherever quick_endpoint answers (Found
// or None), it answers what parse_packet's endpoint is (None: no TCP or UDP ports, what the
// lookup keys on). Returns how many of the two directions it answered.
int quick_agrees(std::span<const uint8_t> frame, const std::string& what) {
    const Parsed p = parse_packet(LinkType::Ethernet, frame);
    int answered = 0;
    for (const bool out : {true, false}) {
        bpf::Endpoint q, f;
        const bpf::Quick r = bpf::quick_endpoint(frame, out, q);
        const bool full =
            bpf::endpoint_of(p, out, f) && (f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP);
        if (r == bpf::Quick::Parse) continue;
        ++answered;
        if (r == bpf::Quick::None) {
            EXPECT_FALSE(full) << what << " out=" << out << ": quick None, the parse has port "
                               << f.port;
            continue;
        }
        EXPECT_TRUE(full) << what << " out=" << out << ": quick port " << q.port
                          << ", the parse none";
        if (!full) continue;
        EXPECT_EQ(std::tie(q.family, q.proto, q.addr, q.port),
                  std::tie(f.family, f.proto, f.addr, f.port))
            << what << " out=" << out;
    }
    return answered;
}

std::vector<uint8_t> set_be16(std::vector<uint8_t> b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
    return b;
}

std::vector<uint8_t> cut(std::vector<uint8_t> b, size_t n) {
    b.resize(n);
    return b;
}

TEST(ProcQuickEndpoint, AgreesWithTheParseOnCraftedFrames) {
    constexpr size_t kEth = 14;
    const auto v4 = [] { return PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2"); };
    const auto v6 = [] { return PacketBuilder().ethernet().ipv6("2001:db8::1", "2001:db8::2"); };
    const auto v4_opts = [](const Ipv4Options& o) {
        return PacketBuilder()
            .ethernet()
            .ipv4("198.18.0.1", "198.18.0.2", o)
            .tcp(7003, 40000)
            .build();
    };
    const std::vector<uint8_t> tcp = v4().tcp(7003, 40000).payload(10).build();
    const std::vector<uint8_t> udp = v4().udp(7001, 40000).payload(10).build();
    const std::vector<uint8_t> tcp6 = v6().tcp(7003, 40000).payload(10).build();
    const std::vector<uint8_t> udp6 = v6().udp(7001, 40000).payload(10).build();
    Ipv4Options opts;
    opts.options = {0x94, 0x04, 0, 0};  // router alert
    Ipv4Options first, later;
    first.more_fragments = true;
    later.frag_offset = 16;
    // An IPv4 header announcing UDP and nothing after it, padded to Ethernet's 60 bytes.
    std::vector<uint8_t> padded = v4().protocol(IPPROTO_UDP).build();
    padded.resize(60, 0x5a);
    const struct {
        std::string what;
        std::vector<uint8_t> frame;
        int answered;  // of the two directions, by the fixed-offset read
    } cases[] = {
        {"tcp", tcp, 2},
        {"udp", udp, 2},
        {"tcp6", tcp6, 2},
        {"udp6", udp6, 2},
        {"ipv4 options", v4_opts(opts), 2},
        {"first fragment",
         PacketBuilder()
             .ethernet()
             .ipv4("198.18.0.1", "198.18.0.2", first)
             .udp(7001, 40000)
             .payload(16)
             .build(),
         2},
        {"later fragment",
         PacketBuilder()
             .ethernet()
             .ipv4("198.18.0.1", "198.18.0.2", later)
             .protocol(IPPROTO_UDP)
             .payload(16)
             .build(),
         2},
        {"icmp", v4().icmp(8).build(), 2},
        {"sctp", v4().sctp(7001, 40000).build(), 2},
        // Left to the parser: each was read at fixed offsets where the parse finds no ports.
        {"tcp snapped at 40", cut(tcp, 40), 0},
        {"tcp snapped inside its header", cut(tcp, kEth + 20 + 19), 0},
        {"udp snapped inside its header", cut(udp, kEth + 20 + 7), 0},
        {"tcp6 snapped inside its header", cut(tcp6, kEth + 40 + 12), 0},
        {"ipv4 padded past its end", padded, 0},
        {"ipv4 total length ends inside udp", set_be16(udp, kEth + 2, 20 + 4), 0},
        {"ipv4 total length ends inside tcp", set_be16(tcp, kEth + 2, 20 + 8), 0},
        {"ipv4 total length inside its header", set_be16(udp, kEth + 2, 12), 0},
        {"ipv4 total length 0 (tso)", set_be16(tcp, kEth + 2, 0), 0},
        {"ipv6 payload ends inside udp", set_be16(udp6, kEth + 4, 4), 0},
        {"ipv6 payload 0 (jumbo)", set_be16(tcp6, kEth + 4, 0), 0},
        {"ipv4 options cut", cut(v4_opts(opts), kEth + 22), 0},
        {"vlan",
         PacketBuilder()
             .ethernet()
             .vlan(5)
             .ipv4("198.18.0.1", "198.18.0.2")
             .udp(7001, 40000)
             .build(),
         0},
        {"ipv6 extension headers", v6().ipv6_ext(0).ipv6_ext(60, 16).tcp(7003, 40000).build(), 0},
        {"ipv6 fragment", v6().ipv6_fragment(0, true).udp(7001, 40000).payload(8).build(), 0},
    };
    for (const auto& c : cases) EXPECT_EQ(quick_agrees(c.frame, c.what), c.answered) << c.what;
}

// The same over every Ethernet frame of the tcpdump test captures (when they are next to the
// repository).
TEST(ProcQuickEndpoint, AgreesWithTheParseOnTheTcpdumpCorpus) {
    const std::filesystem::path dir =
        std::filesystem::path(HOOKDUMP_SOURCE_DIR) / "../shared/corpus/tcpdump-tests";
    if (!std::filesystem::is_directory(dir)) {
        // As the corpus label's tests: with CI=true a missing corpus fails, never skips.
        if (test::in_ci()) FAIL() << "no corpus at " << dir << " (CI=true)";
        GTEST_SKIP() << "no corpus at " << dir;
    }
    size_t frames = 0, answered = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".pcap") continue;
        char err[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(entry.path().c_str(), err);
        if (!p) continue;
        if (pcap_datalink(p) == DLT_EN10MB) {
            pcap_pkthdr* h = nullptr;
            const u_char* data = nullptr;
            while (pcap_next_ex(p, &h, &data) == 1) {
                ++frames;
                answered += static_cast<size_t>(
                    quick_agrees({data, h->caplen},
                                 entry.path().filename().string() + " #" + std::to_string(frames)));
            }
        }
        pcap_close(p);
    }
    EXPECT_GT(answered, 0u) << frames << " frames";
}

TEST(ProcCgroups, PathsOfADirectoryTree) {
    test::TempDir dir;
    const std::string root = dir.file("cg");
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root + "/a").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root + "/a/b").c_str(), 0755), 0);
    CgroupPaths cg(root);
    const uint64_t id = cg.id_of("/a/b");
    ASSERT_NE(id, 0u);
    EXPECT_EQ(cg.id_of(root + "/a/b"), id);
    EXPECT_EQ(cg.id_of("/nope"), 0u);
    EXPECT_EQ(cg.path(id, 1), "/a/b");
    EXPECT_EQ(cg.path(cg.id_of("/"), 1), "/");
    EXPECT_EQ(cg.path(123456789, 2), "");
}
#endif

}  // namespace
}  // namespace hookdump

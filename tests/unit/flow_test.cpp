// Flow table: counting, directionality, idle/active timeouts, eviction, flush; flow sinks (the
// registry's flow formats) and the pipeline's fan-out to them.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/pipeline.h"
#include "flow/flow_table.h"
#include "packet/builder.h"
#include "packet/format.h"
#include "sink/flow_sink.h"
#include "test_util.h"
#include "util/error.h"

namespace hookdump {
namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kT0 = 1700000000 * kSec;

// Owns the bytes of the events it hands out.
class Traffic {
  public:
    const PacketEvent& udp(const char* src, const char* dst, uint16_t sport, uint16_t dport,
                           uint64_t ts, size_t payload = 10) {
        return make(
            PacketBuilder().ethernet().ipv4(src, dst).udp(sport, dport).payload(payload).build(),
            ts);
    }
    const PacketEvent& tcp(const char* src, const char* dst, uint16_t sport, uint16_t dport,
                           uint8_t flags, uint64_t ts, size_t payload = 0) {
        return make(PacketBuilder()
                        .ethernet()
                        .ipv4(src, dst)
                        .tcp(sport, dport, flags)
                        .payload(payload)
                        .build(),
                    ts);
    }
    const PacketEvent& icmp6(const char* src, const char* dst, uint64_t ts) {
        return make(PacketBuilder().ethernet().ipv6(src, dst).icmp6(128).payload(8).build(), ts);
    }
    const PacketEvent& arp(uint64_t ts) {
        return make(PacketBuilder().ethernet().ethertype(0x0806).payload(28).build(), ts);
    }
    const PacketEvent& make(std::vector<uint8_t> bytes, uint64_t ts, uint64_t netns = 0) {
        frames_.push_back(std::move(bytes));
        ev_ = {};
        ev_.ts_ns = ts;
        ev_.netns = netns;
        ev_.bytes = frames_.back();
        ev_.len = static_cast<uint32_t>(frames_.back().size());
        ev_.parsed = parse_packet(LinkType::Ethernet, ev_.bytes);
        return ev_;
    }

  private:
    std::vector<std::vector<uint8_t>> frames_;
    PacketEvent ev_;
};

struct Collector {
    std::vector<FlowRecord> records;
    FlowTable::Exporter exporter() {
        return [this](const FlowRecord& r) { records.push_back(r); };
    }
};

std::string key_text(const FlowRecord& r) {
    std::string s = std::to_string(r.key.proto) + " " + addr_to_string(r.key.family, r.key.src);
    if (r.has_ports) s += ":" + std::to_string(r.key.sport);
    s += " > " + addr_to_string(r.key.family, r.key.dst);
    if (r.has_ports) s += ":" + std::to_string(r.key.dport);
    return s;
}

FlowConfig config(uint64_t idle = 60 * kSec, uint64_t active = 1800 * kSec, size_t max = 1000) {
    FlowConfig c;
    c.idle_timeout_ns = idle;
    c.active_timeout_ns = active;
    c.max_flows = max;
    return c;
}

TEST(FlowTable, CountsBytesAndFlagsPerFlow) {
    Collector out;
    FlowTable t(config(), out.exporter());
    Traffic tr;
    t.add(tr.tcp("10.0.0.1", "10.0.0.2", 40000, 443, kTcpSyn, kT0));
    t.add(tr.tcp("10.0.0.1", "10.0.0.2", 40000, 443, kTcpAck, kT0 + 1000));
    t.add(tr.tcp("10.0.0.1", "10.0.0.2", 40000, 443, kTcpPsh | kTcpAck, kT0 + 2000, 100));
    t.add(tr.tcp("10.0.0.1", "10.0.0.2", 40000, 443, kTcpFin | kTcpAck, kT0 + 3000));
    t.add(tr.udp("10.0.0.1", "10.0.0.3", 5000, 53, kT0 + 4000, 20));
    EXPECT_EQ(t.size(), 2u);
    EXPECT_EQ(t.stats().packets, 5u);
    EXPECT_EQ(t.stats().flows_created, 2u);
    t.flush_all();
    ASSERT_EQ(out.records.size(), 2u);
    const FlowRecord& tcp = out.records[0];  // the least recently seen first
    EXPECT_EQ(key_text(tcp), "6 10.0.0.1:40000 > 10.0.0.2:443");
    EXPECT_EQ(tcp.packets, 4u);
    EXPECT_EQ(tcp.bytes, 54u * 3 + 154u);
    EXPECT_EQ(tcp.tcp_flags, kTcpSyn | kTcpAck | kTcpPsh | kTcpFin);
    EXPECT_EQ(tcp.first_ns, kT0);
    EXPECT_EQ(tcp.last_ns, kT0 + 3000);
    EXPECT_EQ(tcp.end, FlowEnd::Final);
    const FlowRecord& udp = out.records[1];
    EXPECT_EQ(key_text(udp), "17 10.0.0.1:5000 > 10.0.0.3:53");
    EXPECT_EQ(udp.packets, 1u);
    EXPECT_EQ(udp.bytes, 14u + 20 + 8 + 20);
    EXPECT_EQ(udp.tcp_flags, 0);
    EXPECT_EQ(t.stats().exported_final, 2u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(FlowTable, EachDirectionIsAFlow) {
    Collector out;
    FlowTable t(config(), out.exporter());
    Traffic tr;
    t.add(tr.udp("192.0.2.1", "192.0.2.2", 1111, 2222, kT0));
    t.add(tr.udp("192.0.2.2", "192.0.2.1", 2222, 1111, kT0 + 1));
    t.add(tr.udp("192.0.2.1", "192.0.2.2", 1111, 2222, kT0 + 2));
    EXPECT_EQ(t.size(), 2u);
    t.flush_all();
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(key_text(out.records[0]), "17 192.0.2.2:2222 > 192.0.2.1:1111");
    EXPECT_EQ(out.records[0].packets, 1u);
    EXPECT_EQ(key_text(out.records[1]), "17 192.0.2.1:1111 > 192.0.2.2:2222");
    EXPECT_EQ(out.records[1].packets, 2u);
}

TEST(FlowTable, KeyedByNetnsProtocolAndPorts) {
    Collector out;
    FlowTable t(config(), out.exporter());
    Traffic tr;
    const auto udp = PacketBuilder().ethernet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
    t.add(tr.make(udp, kT0, 1));
    t.add(tr.make(udp, kT0, 2));  // same tuple, another namespace
    t.add(tr.tcp("10.0.0.1", "10.0.0.2", 1, 2, kTcpSyn, kT0));
    t.add(tr.udp("10.0.0.1", "10.0.0.2", 1, 3, kT0));
    t.add(tr.icmp6("2001:db8::1", "2001:db8::2", kT0));
    EXPECT_EQ(t.size(), 5u);
    t.flush_all();
    ASSERT_EQ(out.records.size(), 5u);
    EXPECT_EQ(key_text(out.records[4]), "58 2001:db8::1 > 2001:db8::2");
    EXPECT_FALSE(out.records[4].has_ports);
}

TEST(FlowTable, IdleTimeoutExports) {
    Collector out;
    FlowTable t(config(10 * kSec), out.exporter());
    Traffic tr;
    t.add(tr.udp("10.0.0.1", "10.0.0.2", 1, 2, kT0));
    t.add(tr.udp("10.0.0.3", "10.0.0.4", 1, 2, kT0 + 5 * kSec));
    t.expire(kT0 + 10 * kSec - 1);  // not yet
    EXPECT_TRUE(out.records.empty());
    t.expire(kT0 + 10 * kSec);  // 10 s idle: the first goes
    ASSERT_EQ(out.records.size(), 1u);
    EXPECT_EQ(key_text(out.records[0]), "17 10.0.0.1:1 > 10.0.0.2:2");
    EXPECT_EQ(out.records[0].end, FlowEnd::Idle);
    EXPECT_EQ(t.size(), 1u);
    // A packet's own time expires flows too (offline reads): the same tuple later is a new flow.
    t.add(tr.udp("10.0.0.1", "10.0.0.2", 1, 2, kT0 + 30 * kSec));
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(key_text(out.records[1]), "17 10.0.0.3:1 > 10.0.0.4:2");
    EXPECT_EQ(out.records[1].end, FlowEnd::Idle);
    EXPECT_EQ(t.stats().exported_idle, 2u);
    EXPECT_EQ(t.stats().flows_created, 3u);
    t.flush_all();
    ASSERT_EQ(out.records.size(), 3u);
    EXPECT_EQ(out.records[2].first_ns, kT0 + 30 * kSec);
    EXPECT_EQ(out.records[2].packets, 1u);
}

TEST(FlowTable, ActiveTimeoutExportsAndContinues) {
    Collector out;
    FlowTable t(config(60 * kSec, 100 * kSec), out.exporter());
    Traffic tr;
    for (uint64_t s = 0; s <= 250; s += 10)
        t.add(
            tr.tcp("10.0.0.1", "10.0.0.2", 40000, 22, s == 0 ? kTcpSyn : kTcpAck, kT0 + s * kSec));
    // Records at 0..90 (exported at 100), 100..190 (exported at 200), 200..250 left.
    ASSERT_EQ(out.records.size(), 2u);
    for (const auto& r : out.records) EXPECT_EQ(r.end, FlowEnd::Active);
    EXPECT_EQ(out.records[0].first_ns, kT0);
    EXPECT_EQ(out.records[0].last_ns, kT0 + 90 * kSec);
    EXPECT_EQ(out.records[0].packets, 10u);
    EXPECT_EQ(out.records[0].tcp_flags, kTcpSyn | kTcpAck);
    EXPECT_EQ(out.records[1].first_ns, kT0 + 100 * kSec);
    EXPECT_EQ(out.records[1].last_ns, kT0 + 190 * kSec);
    EXPECT_EQ(out.records[1].packets, 10u);
    EXPECT_EQ(out.records[1].tcp_flags, kTcpAck);
    EXPECT_EQ(out.records[1].bytes, 10u * 54);
    EXPECT_EQ(t.stats().exported_active, 2u);
    EXPECT_EQ(t.size(), 1u);
    t.flush_all();
    ASSERT_EQ(out.records.size(), 3u);
    EXPECT_EQ(out.records[2].packets, 6u);
    EXPECT_EQ(out.records[2].end, FlowEnd::Final);
    EXPECT_EQ(t.stats().packets, 26u);
}

TEST(FlowTable, MaxFlowsEvictsLeastRecentlySeen) {
    Collector out;
    FlowTable t(config(60 * kSec, 1800 * kSec, 2), out.exporter());
    Traffic tr;
    t.add(tr.udp("10.0.0.1", "10.0.0.9", 1, 1, kT0));
    t.add(tr.udp("10.0.0.2", "10.0.0.9", 2, 2, kT0 + 1));
    t.add(tr.udp("10.0.0.1", "10.0.0.9", 1, 1, kT0 + 2));  // 10.0.0.1 is now the most recent
    EXPECT_TRUE(out.records.empty());
    t.add(tr.udp("10.0.0.3", "10.0.0.9", 3, 3, kT0 + 3));  // full: 10.0.0.2 goes
    ASSERT_EQ(out.records.size(), 1u);
    EXPECT_EQ(key_text(out.records[0]), "17 10.0.0.2:2 > 10.0.0.9:2");
    EXPECT_EQ(out.records[0].end, FlowEnd::Evicted);
    EXPECT_EQ(out.records[0].packets, 1u);
    EXPECT_EQ(t.stats().evicted, 1u);
    EXPECT_EQ(t.size(), 2u);
    t.add(tr.udp("10.0.0.4", "10.0.0.9", 4, 4, kT0 + 4));  // 10.0.0.1 goes
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(key_text(out.records[1]), "17 10.0.0.1:1 > 10.0.0.9:1");
    EXPECT_EQ(out.records[1].packets, 2u);
    EXPECT_EQ(out.records[1].end, FlowEnd::Evicted);
    EXPECT_EQ(t.stats().evicted, 2u);
    t.flush_all();
    EXPECT_EQ(out.records.size(), 4u);
    EXPECT_EQ(t.stats().exported_final, 2u);
    EXPECT_EQ(t.stats().flows_created, 4u);
}

TEST(FlowTable, FlushAllOldestFirst) {
    Collector out;
    FlowTable t(config(), out.exporter());
    Traffic tr;
    t.add(tr.udp("10.0.0.1", "10.0.0.9", 1, 1, kT0));
    t.add(tr.udp("10.0.0.2", "10.0.0.9", 2, 2, kT0 + 1));
    t.add(tr.udp("10.0.0.3", "10.0.0.9", 3, 3, kT0 + 2));
    t.add(tr.udp("10.0.0.1", "10.0.0.9", 1, 1, kT0 + 3));
    t.flush_all();
    ASSERT_EQ(out.records.size(), 3u);
    EXPECT_EQ(key_text(out.records[0]), "17 10.0.0.2:2 > 10.0.0.9:2");
    EXPECT_EQ(key_text(out.records[1]), "17 10.0.0.3:3 > 10.0.0.9:3");
    EXPECT_EQ(key_text(out.records[2]), "17 10.0.0.1:1 > 10.0.0.9:1");
    for (const auto& r : out.records) EXPECT_EQ(r.end, FlowEnd::Final);
    t.flush_all();  // nothing left
    EXPECT_EQ(out.records.size(), 3u);
}

TEST(FlowTable, NonIpCountedNotTracked) {
    Collector out;
    FlowTable t(config(), out.exporter());
    Traffic tr;
    t.add(tr.arp(kT0));
    t.add(tr.arp(kT0 + 1));
    t.add(tr.udp("10.0.0.1", "10.0.0.2", 1, 2, kT0 + 2));
    EXPECT_EQ(t.stats().non_ip_packets, 2u);
    EXPECT_EQ(t.stats().packets, 1u);
    EXPECT_EQ(t.size(), 1u);
}

TEST(FlowTable, FragmentsWithoutPortsShareAFlow) {
    Collector out;
    FlowTable t(config(), out.exporter());
    Traffic tr;
    Ipv4Options later;
    later.frag_offset = 1480;
    t.add(tr.make(PacketBuilder()
                      .ethernet()
                      .ipv4("10.0.0.1", "10.0.0.2", later)
                      .protocol(17)
                      .payload(100)
                      .build(),
                  kT0));
    later.frag_offset = 2960;
    t.add(tr.make(PacketBuilder()
                      .ethernet()
                      .ipv4("10.0.0.1", "10.0.0.2", later)
                      .protocol(17)
                      .payload(50)
                      .build(),
                  kT0 + 1));
    t.flush_all();
    ASSERT_EQ(out.records.size(), 1u);
    EXPECT_FALSE(out.records[0].has_ports);
    EXPECT_EQ(key_text(out.records[0]), "17 10.0.0.1 > 10.0.0.2");
    EXPECT_EQ(out.records[0].packets, 2u);
}

TEST(FlowTable, EndNames) {
    EXPECT_EQ(to_string(FlowEnd::Idle), "idle");
    EXPECT_EQ(to_string(FlowEnd::Active), "active");
    EXPECT_EQ(to_string(FlowEnd::Evicted), "evicted");
    EXPECT_EQ(to_string(FlowEnd::Final), "end");
}

// ---------------------------------------------------------------------------------------------
// Flow writers

std::vector<FlowRecord> sample_records() {
    Collector out;
    FlowTable t(config(), out.exporter());
    Traffic tr;
    t.add(tr.tcp("10.0.0.1", "10.0.0.2", 40000, 443, kTcpSyn, kT0));
    t.add(tr.tcp("10.0.0.1", "10.0.0.2", 40000, 443, kTcpAck, kT0 + 1500000000));
    t.add(tr.icmp6("2001:db8::1", "2001:db8::2", kT0 + 2 * kSec));
    t.flush_all();
    return out.records;
}

TEST(FlowSink, CsvAndJsonl) {
    test::TempDir dir;
    const auto recs = sample_records();
    for (const char* fmt : {"csv", "jsonl"}) {
        const std::string path = dir.file(std::string("flows.") + fmt);
        auto w = flow_sink_format_by_name(fmt).make({path});
        for (const auto& r : recs) w->write(r);
        w->finish({});
    }
    const auto csv = test::split_lines(test::read_file(dir.file("flows.csv")));
    ASSERT_EQ(csv.size(), 3u);
    EXPECT_EQ(csv[0] + "\n", flow_csv_header());
    EXPECT_EQ(flow_csv_header(),
              "netns,ifindex,point,dir,proto,src,dst,sport,dport,icmp_type,icmp_code,first,last,"
              "packets,bytes,octets,tcp_flags,end\n");
    EXPECT_EQ(csv[1],
              ",,,,6,10.0.0.1,10.0.0.2,40000,443,,,1700000000.000000000,1700000001.500000000,2,108,"
              "80,S.,end");
    EXPECT_EQ(csv[2],
              ",,,,58,2001:db8::1,2001:db8::2,,,128,0,1700000002.000000000,1700000002.000000000,1,"
              "70,56,,end");
    const auto jsonl = test::split_lines(test::read_file(dir.file("flows.jsonl")));
    ASSERT_EQ(jsonl.size(), 2u);
    EXPECT_EQ(jsonl[0],
              R"({"netns":null,"ifindex":null,"point":null,"dir":null,"proto":6,"src":"10.0.0.1",)"
              R"("dst":"10.0.0.2","sport":40000,"dport":443,"icmp_type":null,"icmp_code":null,)"
              R"("first":1700000000.000000000,"last":1700000001.500000000,"packets":2,)"
              R"("bytes":108,"octets":80,"tcp_flags":"S.","end":"end"})");
    EXPECT_EQ(
        jsonl[1],
        R"({"netns":null,"ifindex":null,"point":null,"dir":null,"proto":58,)"
        R"("src":"2001:db8::1","dst":"2001:db8::2","sport":null,"dport":null,"icmp_type":128,)"
        R"("icmp_code":0,"first":1700000002.000000000,"last":1700000002.000000000,)"
        R"("packets":1,"bytes":70,"octets":56,"tcp_flags":null,"end":"end"})");
}

// The header's field count is every row's, whichever fields are empty (no ports, not TCP, no
// namespace) or quoted.
TEST(FlowSink, CsvHeaderHasEveryRowsFieldCount) {
    test::TempDir dir;
    auto recs = sample_records();
    FlowRecord r = recs[0];
    r.key.netns = 4026531840;
    r.end = FlowEnd::Tcp;
    recs.push_back(r);
    const std::string path = dir.file("flows.csv");
    auto w = flow_sink_format_by_name("csv").make({path});
    for (const auto& x : recs) w->write(x);
    w->finish({});
    const auto lines = test::split_lines(test::read_file(path));
    ASSERT_EQ(lines.size(), recs.size() + 1);
    auto fields = [](const std::string& line) {
        return static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1;
    };
    EXPECT_EQ(fields(lines[0]), 18u);
    for (size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(fields(lines[i]), 18u) << lines[i];
}

TEST(FlowSink, TableWithSummary) {
    test::TempDir dir;
    const std::string path = dir.file("flows.txt");
    auto recs = sample_records();
    // Where the engine knows it: the capture point and the interface (lo is 1 everywhere; an
    // index without an interface is shown as the number).
    recs[0].key.point = CapturePoint::TcIngress;
    recs[0].key.ifindex = 1;
    recs[1].key.ifindex = 999999;
    auto w = flow_sink_format_by_name("text").make({path});
    for (const auto& r : recs) w->write(r);
    FlowStats st;
    st.flows_created = 2;
    st.packets = 3;
    st.non_ip_packets = 4;
    st.exported_final = 2;
    w->finish(st);
    const auto lines = test::split_lines(test::read_file(path));
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0],
              "proto source                                    destination                        "
              "         packets        bytes   seconds flags  end     at");
    // Biggest first; ICMP's type/code where the destination port would be.
    EXPECT_EQ(lines[1],
              "6     10.0.0.1:40000                            10.0.0.2:443                       "
              "               2          108     1.500 S.     end     tc-ingress lo");
    EXPECT_EQ(lines[2],
              "58    [2001:db8::1]                             [2001:db8::2]:128/0                "
              "               1           70     0.000        end     999999");
    EXPECT_EQ(lines[3],
              "2 flows from 3 packets (4 not IP); exported: 0 idle, 0 active, 0 ended by FIN/RST, "
              "0 evicted (table full), 2 at end");
    // A file read knows neither: no `at`, no trailing blanks.
    const std::string plain = dir.file("plain.txt");
    auto w2 = flow_sink_format_by_name("text").make({plain});
    w2->write(sample_records()[0]);
    w2->finish(st);
    EXPECT_EQ(test::split_lines(test::read_file(plain))[1],
              "6     10.0.0.1:40000                            10.0.0.2:443                       "
              "               2          108     1.500 S.     end");
}

TEST(FlowSinkRegistry, EveryFormatByNameAndByExtension) {
    const std::pair<const char*, const char*> by_path[] = {
        {"x.txt", "text"},   {"x.csv", "csv"},      {"x.jsonl", "jsonl"},
        {"x.json", "jsonl"}, {"x.ndjson", "jsonl"}, {"dir/flows.csv", "csv"},
    };
    for (const auto& [path, name] : by_path) {
        const FlowSinkFormat* f = flow_sink_format_by_path(path);
        ASSERT_NE(f, nullptr) << path;
        EXPECT_EQ(f->name, name) << path;
    }
    // No flow format: --flows writes the text table there.
    for (const char* path : {"-", "flows", "x.pcap", ".csv", "x.csv.gz"})
        EXPECT_EQ(flow_sink_format_by_path(path), nullptr) << path;
    std::vector<std::string_view> names;
    for (const auto& f : flow_sink_formats()) {
        names.push_back(f.name);
        EXPECT_EQ(&flow_sink_format_by_name(f.name), &f);
        for (auto ext : f.extensions)
            EXPECT_EQ(flow_sink_format_by_path("x" + std::string(ext)), &f) << ext;
    }
    EXPECT_EQ(names, (std::vector<std::string_view>{"text", "csv", "jsonl"}));
    try {
        flow_sink_format_by_name("xml");
        ADD_FAILURE() << "no error";
    } catch (const UsageError& e) {
        EXPECT_STREQ(e.what(), "unknown flow format 'xml' (known: text, csv, jsonl)");
    }
}

TEST(FlowSink, DiskFullIsOneLineNamingTheFile) {
    for (const auto& f : flow_sink_formats()) {
        SCOPED_TRACE(f.name);
        auto w = f.make({"/dev/full"});
        for (const auto& r : sample_records()) w->write(r);
        try {
            w->finish({});
            ADD_FAILURE() << "no error";
        } catch (const RuntimeError& e) {
            EXPECT_STREQ(e.what(), "write /dev/full: No space left on device");
        }
        const OutputStats st = w->output_stats();
        EXPECT_EQ(st.path, "/dev/full");
        EXPECT_EQ(st.written, 0u);
        EXPECT_EQ(st.why_not, "No space left on device");
    }
}

// A flow sink for the pipeline's tests: records what it is given; throws on every write when
// told to.
struct FakeFlowSink final : FlowSink {
    struct Seen {
        std::vector<FlowRecord> records;
        std::vector<uint64_t> ticks;
        bool finished = false;
    };
    FakeFlowSink(Seen& s, bool f) : seen(s), fail(f) {}
    void write(const FlowRecord& r) override {
        seen.records.push_back(r);
        if (fail) throw RuntimeError("write broken.csv: No space left on device");
    }
    void finish(const FlowStats&) override { seen.finished = true; }
    OutputStats output_stats() const override {
        return {fail ? "broken.csv" : "good.csv", fail ? 0 : seen.records.size(),
                fail ? "No space left on device" : ""};
    }
    void tick(uint64_t now_ns) override {
        seen.ticks.push_back(now_ns);
        if (fail_tick) throw RuntimeError("write broken.csv: No space left on device");
    }
    Seen& seen;
    bool fail;
    bool fail_tick = false;
};

std::vector<uint16_t> sports(const std::vector<FlowRecord>& rs) {
    std::vector<uint16_t> v;
    for (const auto& r : rs) v.push_back(r.key.sport);
    return v;
}

TEST(PipelineFlows, EveryFlowSinkGetsEveryRecordWhenAnEarlierOneThrows) {
    FakeFlowSink::Seen broken, good;
    Pipeline p;
    p.set_flows(config(1 * kSec));
    p.add_flow_sink(std::make_unique<FakeFlowSink>(broken, true));
    p.add_flow_sink(std::make_unique<FakeFlowSink>(good, false));
    Traffic tr;
    auto udp = [&](uint16_t sport, uint64_t ts) {
        return p.on_event(tr.udp("10.0.0.1", "10.0.0.2", sport, 53, ts));
    };
    for (uint16_t port : {1000, 1001, 1002}) udp(port, kT0);
    // Ends the three in one walk of the table; the first sink throws on the first of them.
    try {
        udp(1003, kT0 + 2 * kSec);
        ADD_FAILURE() << "no error";
    } catch (const RuntimeError& e) {
        EXPECT_STREQ(e.what(), "write broken.csv: No space left on device");
    }
    udp(1004, kT0 + 4 * kSec);   // ends 1003: the error was thrown once, and is not again
    p.on_idle(kT0 + 10 * kSec);  // ends 1004
    EXPECT_TRUE(broken.ticks.empty());
    EXPECT_EQ(good.ticks, (std::vector<uint64_t>{kT0 + 10 * kSec}));
    udp(1005, kT0 + 10 * kSec);
    udp(1006, kT0 + 10 * kSec);
    p.finish(Ledger{});  // 1005 and 1006 at the end
    EXPECT_TRUE(broken.finished);
    EXPECT_TRUE(good.finished);
    // Each flow once, in order: no write error stopped the table's walk or the fan-out.
    EXPECT_EQ(sports(good.records),
              (std::vector<uint16_t>{1000, 1001, 1002, 1003, 1004, 1005, 1006}));
    EXPECT_EQ(sports(broken.records), (std::vector<uint16_t>{1000}));  // then nothing more
    const auto outs = p.outputs();
    ASSERT_EQ(outs.size(), 2u);
    EXPECT_EQ(outs[0].unit, "flows");
    EXPECT_EQ(outs[0].handed, 7u);
    EXPECT_EQ(outs[0].stats.path, "broken.csv");
    EXPECT_EQ(outs[0].stats.written, 0u);
    EXPECT_EQ(outs[0].stats.why_not, "No space left on device");
    EXPECT_EQ(outs[1].unit, "flows");
    EXPECT_EQ(outs[1].handed, 7u);
    EXPECT_EQ(outs[1].stats.path, "good.csv");
    EXPECT_EQ(outs[1].stats.written, 7u);
}

// csv and jsonl flow files are flushed at the idle tick, as packet files are: the flows that
// ended are in the file, and counted as written (--metrics), before the capture ends.
TEST(PipelineFlows, FlowFilesReachTheDiskAtTheIdleTick) {
    test::TempDir dir;
    for (const char* fmt : {"csv", "jsonl"}) {
        SCOPED_TRACE(fmt);
        const std::string path = dir.file(std::string("flows.") + fmt);
        Pipeline p;
        p.set_flows(config(1 * kSec));
        p.add_flow_sink(flow_sink_format_by_name(fmt).make({path}));
        Traffic tr;
        p.on_event(tr.udp("10.0.0.1", "10.0.0.2", 1000, 53, kT0));
        p.on_event(tr.udp("10.0.0.1", "10.0.0.2", 1001, 53, kT0));
        p.on_idle(kT0 + 10 * kSec);  // both idle: exported, and the file flushed
        const size_t header = std::string_view(fmt) == "csv" ? 1 : 0;
        EXPECT_EQ(test::split_lines(test::read_file(path)).size(), header + 2);
        EXPECT_EQ(p.outputs().at(0).stats.written, 2u);
        p.finish(Ledger{});
    }
}

// A flow sink whose tick fails (its file's flush) is given nothing more, its error thrown once.
TEST(PipelineFlows, AFlowSinkFailingAtTheTickIsFailed) {
    FakeFlowSink::Seen broken, good;
    Pipeline p;
    p.set_flows(config());
    auto sink = std::make_unique<FakeFlowSink>(broken, false);
    sink->fail_tick = true;
    p.add_flow_sink(std::move(sink));
    p.add_flow_sink(std::make_unique<FakeFlowSink>(good, false));
    Traffic tr;
    p.on_event(tr.udp("10.0.0.1", "10.0.0.2", 1, 2, kT0));
    EXPECT_THROW(p.on_idle(kT0 + 1), RuntimeError);
    EXPECT_NO_THROW(p.on_idle(kT0 + 2));
    EXPECT_EQ(broken.ticks, (std::vector<uint64_t>{kT0 + 1}));
    EXPECT_EQ(good.ticks, (std::vector<uint64_t>{kT0 + 1, kT0 + 2}));
    p.on_event(tr.udp("10.0.0.1", "10.0.0.2", 3, 4, kT0 + 3));
    EXPECT_NO_THROW(p.finish(Ledger{}));
    EXPECT_EQ(sports(good.records), (std::vector<uint16_t>{1, 3}));
    EXPECT_TRUE(broken.records.empty());
}

TEST(PipelineFlows, AFlowSinkFailingAtTheEndIsFinishsError) {
    FakeFlowSink::Seen broken, good;
    Pipeline p;
    p.set_flows(config());
    p.add_flow_sink(std::make_unique<FakeFlowSink>(broken, true));
    p.add_flow_sink(std::make_unique<FakeFlowSink>(good, false));
    Traffic tr;
    p.on_event(tr.udp("10.0.0.1", "10.0.0.2", 1, 2, kT0));
    p.on_event(tr.udp("10.0.0.1", "10.0.0.2", 3, 4, kT0));
    try {
        p.finish(Ledger{});
        ADD_FAILURE() << "no error";
    } catch (const RuntimeError& e) {
        EXPECT_STREQ(e.what(), "write broken.csv: No space left on device");
    }
    EXPECT_EQ(sports(good.records), (std::vector<uint16_t>{1, 3}));
    EXPECT_TRUE(good.finished);
    EXPECT_TRUE(broken.finished);
}

}  // namespace
}  // namespace hookdump

// Sinks written to temporary files and read back: pcap and pcapng through libpcap (and pcapng
// through tshark for what libpcap does not expose: direction flags, comments, interface names,
// statistics), csv and jsonl field by field, and write errors.
#include <gtest/gtest.h>

#include <pcap/pcap.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ledger.h"
#include "core/pipeline.h"
#include "packet/builder.h"
#include "packet/event.h"
#include "sink/output_file.h"
#include "sink/rotating_sink.h"
#include "sink/sink.h"
#include "sink/sinks.h"
#include "test_util.h"
#include "util/error.h"
#include "version.h"

namespace hookdump {
namespace {

using test::TempDir;

// Events that own their bytes.
struct Packet {
    std::vector<uint8_t> bytes;
    PacketEvent ev;
};

Packet packet(std::vector<uint8_t> bytes, uint64_t ts, LinkType link = LinkType::Ethernet) {
    Packet p{std::move(bytes), {}};
    p.ev.ts_ns = ts;
    p.ev.len = static_cast<uint32_t>(p.bytes.size());
    p.ev.linktype = static_cast<uint16_t>(link);
    return p;
}

// Points the spans at the owned bytes (after the vector of packets stops moving).
void finalize(std::vector<Packet>& ps) {
    for (auto& p : ps) {
        p.ev.bytes = p.bytes;
        LinkType link{};
        if (link_type_from_dlt(p.ev.linktype, link)) p.ev.parsed = parse_packet(link, p.ev.bytes);
    }
}

std::vector<Packet> sample_packets() {
    std::vector<Packet> ps;
    ps.push_back(packet(PacketBuilder()
                            .ethernet()
                            .ipv4("198.18.0.1", "198.18.0.2")
                            .udp(5353, 53)
                            .payload(42)
                            .build(),
                        1700000000123456789ull));
    ps.push_back(packet(
        PacketBuilder().ethernet().ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 443, 0x12).build(),
        1700000001000000001ull));
    // Captured short of the wire length (snap length).
    Packet cut = packet(PacketBuilder()
                            .ethernet()
                            .ipv6("2001:db8::1", "2001:db8::2")
                            .udp(1, 2)
                            .payload(200)
                            .build(),
                        1700000002999999999ull);
    cut.ev.len = static_cast<uint32_t>(cut.bytes.size());
    cut.bytes.resize(64);
    ps.push_back(std::move(cut));
    ps.push_back(packet(PacketBuilder().ethernet().ethertype(0x0806).payload(28).build(),
                        1700000003000000000ull));
    finalize(ps);
    return ps;
}

struct ReadPacket {
    uint64_t ts_ns;
    uint32_t caplen, len;
    std::vector<uint8_t> bytes;
};

struct ReadFile {
    int linktype = -1;
    int snaplen = -1;
    std::vector<ReadPacket> packets;
};

ReadFile read_capture(const std::string& path, u_int precision = PCAP_TSTAMP_PRECISION_NANO) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), precision, err);
    if (!p) {
        ADD_FAILURE() << "pcap_open_offline " << path << ": " << err;
        return {};
    }
    ReadFile f;
    f.linktype = pcap_datalink(p);
    f.snaplen = pcap_snapshot(p);
    pcap_pkthdr* h;
    const u_char* data;
    int rc;
    const uint64_t scale = precision == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        f.packets.push_back({(static_cast<uint64_t>(h->ts.tv_sec) * 1000000000u / scale +
                              static_cast<uint64_t>(h->ts.tv_usec)) *
                                 scale,
                             h->caplen, h->len, std::vector<uint8_t>(data, data + h->caplen)});
    }
    EXPECT_EQ(rc, PCAP_ERROR_BREAK) << pcap_geterr(p);
    pcap_close(p);
    return f;
}

void expect_same_packets(const ReadFile& f, const std::vector<const Packet*>& want) {
    ASSERT_EQ(f.packets.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        SCOPED_TRACE("packet " + std::to_string(i));
        EXPECT_EQ(f.packets[i].ts_ns, want[i]->ev.ts_ns);
        EXPECT_EQ(f.packets[i].caplen, want[i]->ev.caplen());
        EXPECT_EQ(f.packets[i].len, want[i]->ev.len);
        EXPECT_EQ(f.packets[i].bytes, want[i]->bytes);
    }
}

std::vector<const Packet*> all(const std::vector<Packet>& ps) {
    std::vector<const Packet*> v;
    for (const auto& p : ps) v.push_back(&p);
    return v;
}

// ---------------------------------------------------------------------------------------------
// pcap

TEST(PcapSink, RoundTripNanoseconds) {
    TempDir dir;
    const std::string path = dir.file("out.pcap");
    auto ps = sample_packets();
    {
        auto sink = make_pcap_sink({path, 262144});
        for (const auto& p : ps) sink->write(p.ev);
        sink->finish(Ledger{}, 0);
    }
    const std::string raw = test::read_file(path);
    ASSERT_GE(raw.size(), 24u);
    uint32_t magic;
    std::memcpy(&magic, raw.data(), 4);
    EXPECT_EQ(magic, 0xa1b23c4du);  // nanosecond pcap

    const ReadFile f = read_capture(path);
    EXPECT_EQ(f.linktype, DLT_EN10MB);
    EXPECT_EQ(f.snaplen, 262144);
    expect_same_packets(f, all(ps));

    // A microsecond reader sees the same packets with truncated timestamps.
    const ReadFile us = read_capture(path, PCAP_TSTAMP_PRECISION_MICRO);
    ASSERT_EQ(us.packets.size(), ps.size());
    for (size_t i = 0; i < ps.size(); ++i)
        EXPECT_EQ(us.packets[i].ts_ns, ps[i].ev.ts_ns / 1000 * 1000);
}

TEST(PcapSink, OtherLinkTypesAndHeaderOnlyEventsAreCountedNotWritten) {
    TempDir dir;
    const std::string path = dir.file("mixed.pcap");
    std::vector<Packet> ps;
    ps.push_back(packet(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build(), 1000000001));
    ps.push_back(packet(PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build(),
                        1000000002, LinkType::Raw));
    ps.push_back(packet(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(3, 4).build(), 1000000003));
    ps.push_back(packet({}, 1000000004));  // headers only: no bytes
    ps.back().ev.len = 60;
    finalize(ps);
    {
        auto sink = make_pcap_sink({path, 65535});
        for (const auto& p : ps) sink->write(p.ev);
        sink->finish(Ledger{}, 0);
        // The ledger's line: 2 packets written, 2 not written (this reason).
        const OutputStats st = sink->output_stats();
        EXPECT_EQ(st.written, 2u);
        EXPECT_EQ(st.why_not, "pcap holds one link type and needs packet bytes: use pcapng");
    }
    const ReadFile f = read_capture(path);
    EXPECT_EQ(f.snaplen, 65535);
    expect_same_packets(f, {&ps[0], &ps[2]});
}

TEST(PcapSink, RawLinkType) {
    TempDir dir;
    const std::string path = dir.file("raw.pcap");
    std::vector<Packet> ps;
    ps.push_back(packet(PacketBuilder().ipv6("::1", "::2").udp(1, 2).build(), 5, LinkType::Raw));
    finalize(ps);
    auto sink = make_pcap_sink({path, 262144});
    sink->write(ps[0].ev);
    sink->finish(Ledger{}, 0);
    uint32_t file_linktype;
    std::memcpy(&file_linktype, test::read_file(path).data() + 20, 4);
    EXPECT_EQ(file_linktype, 101u);  // LINKTYPE_RAW in the file
    const ReadFile f = read_capture(path);
    EXPECT_EQ(f.linktype, DLT_RAW);  // DLT_RAW through libpcap
    expect_same_packets(f, all(ps));
}

// What libpcap's own writer (pcap_dump, as tcpdump -w uses it) makes of the same packets.
std::string libpcap_dump(const std::string& path, int dlt, int snaplen,
                         const std::vector<Packet>& ps) {
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(dlt, snaplen, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    EXPECT_NE(d, nullptr) << pcap_geterr(dead);
    for (const auto& p : ps) {
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<time_t>(p.ev.ts_ns / 1000000000u);
        h.ts.tv_usec = static_cast<suseconds_t>(p.ev.ts_ns % 1000000000u);
        h.caplen = p.ev.caplen();
        h.len = p.ev.len;
        pcap_dump(reinterpret_cast<u_char*>(d), &h, p.ev.bytes.data());
    }
    pcap_dump_close(d);
    pcap_close(dead);
    return test::read_file(path);
}

TEST(PcapSink, ByteIdenticalToLibpcapsWriter) {
    TempDir dir;
    auto ps = sample_packets();
    // Enough packets to fill the sink's buffer a few times over, one after another and in
    // batches (the live engines' path).
    std::vector<Packet> many;
    for (int i = 0; i < 12000; ++i) {
        many.push_back(ps[static_cast<size_t>(i) % ps.size()]);
        many.back().ev.ts_ns += static_cast<uint64_t>(i) * 1000;
    }
    many.push_back(
        packet(std::vector<uint8_t>(150000, 0xab), 1700000009000000000ull));  // > half the buffer
    many.push_back(packet(std::vector<uint8_t>(150000, 0xcd), 1700000009000000001ull));
    many.push_back(
        packet(std::vector<uint8_t>(262144, 0xef), 1700000009000000002ull));  // > the whole buffer
    many.push_back(ps[0]);
    finalize(many);
    std::vector<PacketEvent> evs;
    for (const auto& p : many) evs.push_back(p.ev);
    const std::string expect = libpcap_dump(dir.file("libpcap.pcap"), DLT_EN10MB, 262144, many);
    {
        auto sink = make_pcap_sink({dir.file("one.pcap"), 262144});
        for (const auto& ev : evs) sink->write(ev);
        sink->finish(Ledger{}, 0);
    }
    {
        auto sink = make_pcap_sink({dir.file("batch.pcap"), 262144});
        for (size_t i = 0; i < evs.size(); i += 64)
            sink->write_batch(
                std::span<const PacketEvent>(evs).subspan(i, std::min<size_t>(64, evs.size() - i)));
        sink->finish(Ledger{}, 0);
    }
    EXPECT_TRUE(test::read_file(dir.file("one.pcap")) == expect);
    EXPECT_TRUE(test::read_file(dir.file("batch.pcap")) == expect);

    // Raw IP: libpcap maps DLT_RAW to LINKTYPE_RAW in the header; so do we.
    std::vector<Packet> raw;
    raw.push_back(packet(PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build(), 7,
                         LinkType::Raw));
    finalize(raw);
    {
        auto sink = make_pcap_sink({dir.file("raw.pcap"), 65535});
        sink->write(raw[0].ev);
        sink->finish(Ledger{}, 0);
    }
    EXPECT_TRUE(test::read_file(dir.file("raw.pcap")) ==
                libpcap_dump(dir.file("libraw.pcap"), DLT_RAW, 65535, raw));
}

// Batches (on_events) end at the packet count (-c) like single events, also mid-batch.
TEST(PcapSink, PipelineBatchesStopAtTheCount) {
    TempDir dir;
    auto ps = sample_packets();
    std::vector<PacketEvent> evs;
    for (int i = 0; i < 300; ++i) evs.push_back(ps[static_cast<size_t>(i) % ps.size()].ev);
    Pipeline pipe(100);
    pipe.add_sink(make_pcap_sink({dir.file("c.pcap"), 262144}));
    const std::span<const PacketEvent> all_evs(evs);
    EXPECT_TRUE(pipe.on_events(all_evs.subspan(0, 64)));
    EXPECT_FALSE(pipe.on_events(all_evs.subspan(64, 64)));
    EXPECT_EQ(pipe.packets(), 100u);
    uint64_t bytes = 0;
    for (size_t i = 0; i < 100; ++i) bytes += evs[i].len;
    EXPECT_EQ(pipe.bytes(), bytes);
    pipe.finish(Ledger{});
    EXPECT_EQ(read_capture(dir.file("c.pcap")).packets.size(), 100u);
}

TEST(PcapSink, EmptyCaptureIsAValidFile) {
    TempDir dir;
    const std::string path = dir.file("empty.pcap");
    make_pcap_sink({path, 262144})->finish(Ledger{}, 0);
    const ReadFile f = read_capture(path);
    EXPECT_EQ(f.linktype, DLT_EN10MB);
    EXPECT_TRUE(f.packets.empty());
}

// ---------------------------------------------------------------------------------------------
// pcapng

// Two interfaces, every direction, capture points and verdicts.
std::vector<Packet> pcapng_packets() {
    auto ps = sample_packets();
    ps[0].ev.ifindex = 2, ps[0].ev.ifname.assign("eth0"), ps[0].ev.dir = Direction::In;
    ps[0].ev.point = CapturePoint::TapIn;
    ps[1].ev.ifindex = 2, ps[1].ev.ifname.assign("eth0"), ps[1].ev.dir = Direction::Out;
    ps[1].ev.point = CapturePoint::PostRouting, ps[1].ev.verdict = Verdict::Accept;
    ps[2].ev.ifindex = 1, ps[2].ev.ifname.assign("lo");
    ps[2].ev.point = CapturePoint::LocalIn, ps[2].ev.verdict = Verdict::Drop;
    ps[3].ev.ifindex = 2, ps[3].ev.ifname.assign("eth0");  // nothing known: no flags, no comment
    return ps;
}

Ledger pcapng_ledger() {
    Ledger l;
    IfName eth0;
    eth0.assign("eth0");
    auto& c = l.at(2, eth0);
    c.filter_accepted = 10;
    c.received = 7;
    c.kernel_drops = 2;
    return l;
}

std::string write_pcapng(const TempDir& dir, const std::vector<Packet>& ps) {
    const std::string path = dir.file("out.pcapng");
    auto sink = make_pcapng_sink({path, 262144});
    for (const auto& p : ps) sink->write(p.ev);
    sink->finish(pcapng_ledger(), 0);
    return path;
}

TEST(PcapngSink, RoundTripThroughLibpcap) {
    TempDir dir;
    auto ps = pcapng_packets();
    const std::string path = write_pcapng(dir, ps);
    const std::string raw = test::read_file(path);
    uint32_t shb;
    std::memcpy(&shb, raw.data(), 4);
    EXPECT_EQ(shb, 0x0A0D0D0Au);
    EXPECT_EQ(raw.size() % 4, 0u);
    const ReadFile f = read_capture(path);
    EXPECT_EQ(f.linktype, DLT_EN10MB);
    expect_same_packets(f, all(ps));
}

TEST(PcapngSink, EmptyCaptureIsAValidFile) {
    TempDir dir;
    const std::string path = dir.file("empty.pcapng");
    make_pcapng_sink({path, 262144})->finish(Ledger{}, 0);
    // libpcap reads a pcapng section only with an interface block: an empty capture has one.
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    ASSERT_NE(p, nullptr) << err;
    pcap_pkthdr* h;
    const u_char* data;
    EXPECT_EQ(pcap_next_ex(p, &h, &data), PCAP_ERROR_BREAK);  // and no packet
    pcap_close(p);
    // Blocks: section header, one interface description, its statistics; no packet block.
    const std::string raw = test::read_file(path);
    std::vector<uint32_t> types;
    for (size_t off = 0; off + 12 <= raw.size();) {
        uint32_t type, len;
        std::memcpy(&type, raw.data() + off, 4);
        std::memcpy(&len, raw.data() + off + 4, 4);
        ASSERT_GE(len, 12u);
        types.push_back(type);
        off += len;
    }
    EXPECT_EQ(types, (std::vector<uint32_t>{0x0A0D0D0A, 1, 5}));
}

bool need_tshark() {
    if (test::have_program("tshark")) return true;
    if (test::in_ci()) ADD_FAILURE() << "tshark is not installed (CI=true: required)";
    return false;
}

TEST(PcapngSink, TsharkSeesDirectionCommentInterfaceAndNanoseconds) {
    if (!need_tshark()) GTEST_SKIP() << "tshark not installed: pcapng options not cross-checked";
    TempDir dir;
    auto ps = pcapng_packets();
    const std::string path = write_pcapng(dir, ps);
    const auto r = test::run({"tshark", "-n",
                              "-r",     path,
                              "-T",     "fields",
                              "-E",     "separator=|",
                              "-e",     "frame.number",
                              "-e",     "frame.time_epoch",
                              "-e",     "frame.interface_id",
                              "-e",     "frame.interface_name",
                              "-e",     "frame.packet_flags_direction",
                              "-e",     "frame.comment",
                              "-e",     "frame.len",
                              "-e",     "frame.cap_len"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto lines = test::split_lines(r.out);
    ASSERT_EQ(lines.size(), 4u) << r.out;
    EXPECT_EQ(lines[0], "1|1700000000.123456789|0|eth0|0x00000001|hookdump point=tap-in|84|84");
    EXPECT_EQ(
        lines[1],
        "2|1700000001.000000001|0|eth0|0x00000002|hookdump point=postrouting verdict=accept|54|54");
    EXPECT_EQ(lines[2], "3|1700000002.999999999|1|lo||hookdump point=input verdict=drop|262|64");
    EXPECT_EQ(lines[3], "4|1700000003.000000000|0|eth0|||42|42");
}

TEST(PcapngSink, TsharkSeesInterfaceStatistics) {
    if (!need_tshark()) GTEST_SKIP() << "tshark not installed: pcapng blocks not cross-checked";
    TempDir dir;
    auto ps = pcapng_packets();
    const std::string path = write_pcapng(dir, ps);
    // Read the file as a file (not as packets) to see every block.
    const auto r = test::run({"tshark", "-n",
                              "-r",     path,
                              "-X",     "read_format:MIME Files Format",
                              "-T",     "fields",
                              "-E",     "separator=|",
                              "-e",     "pcapng.block.type",
                              "-e",     "pcapng.options.option.data.interface.name",
                              "-e",     "pcapng.options.option.data.interface.timestamp_resolution",
                              "-e",     "pcapng.options.option.data.user_application",
                              "-e",     "pcapng.interface_id",
                              "-e",     "pcapng.options.option.data.interface.accepted_by_filter",
                              "-e",     "pcapng.options.option.data.interface.dropped_by_os",
                              "-e",     "pcapng.options.option.data.interface.delivered_to_user"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto fields = test::split(test::split_lines(r.out).at(0), '|');
    ASSERT_EQ(fields.size(), 8u) << r.out;
    // SHB, IDB eth0, EPB, EPB, IDB lo, EPB, EPB, then one ISB per interface.
    EXPECT_EQ(fields[0],
              "0x0a0d0d0a,0x00000001,0x00000006,0x00000006,0x00000001,0x00000006,0x00000006,"
              "0x00000005,0x00000005");
    EXPECT_EQ(fields[1], "eth0,lo");
    EXPECT_EQ(fields[2], "0x09,0x09");  // nanoseconds on both interfaces
    EXPECT_EQ(fields[3], "hookdump " + std::string(HOOKDUMP_VERSION));
    EXPECT_EQ(fields[4], "0,0,1,0,0,1");  // the packets' interfaces, then the statistics blocks
    EXPECT_EQ(fields[5], "10");           // eth0's ledger: accepted by the kernel filter
    EXPECT_EQ(fields[6], "2");            // kernel drops
    EXPECT_EQ(fields[7], "3,1");          // packets written per interface

    // capinfos agrees on the interfaces and their statistics blocks.
    if (test::have_program("capinfos")) {
        const auto c = test::run({"capinfos", path});
        ASSERT_EQ(c.status, 0) << c.err;
        EXPECT_NE(c.out.find("Number of interfaces in file: 2"), std::string::npos) << c.out;
        EXPECT_NE(c.out.find("Number of stat entries = 1"), std::string::npos) << c.out;
        EXPECT_NE(c.out.find("Time precision = nanoseconds (9)"), std::string::npos) << c.out;
    }
}

// ---------------------------------------------------------------------------------------------
// csv and jsonl

std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                out.back().push_back('"');
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                out.back().push_back(c);
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            out.emplace_back();
        } else {
            out.back().push_back(c);
        }
    }
    return out;
}

// A flat JSON object: name -> raw value (strings unescaped and marked with a leading '"';
// null as nullopt; numbers as written).
using JsonRecord = std::vector<std::pair<std::string, std::optional<std::string>>>;

JsonRecord parse_flat_json(const std::string& s) {
    JsonRecord rec;
    size_t i = 0;
    auto fail = [&](const char* what) {
        ADD_FAILURE() << what << " at " << i << " in " << s;
        return JsonRecord{};
    };
    auto parse_string = [&](std::string& out) -> bool {
        if (s[i] != '"') return false;
        for (++i; i < s.size() && s[i] != '"'; ++i) {
            if (s[i] == '\\') {
                ++i;
                if (s[i] == 'u') {
                    out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 4), nullptr, 16)));
                    i += 4;
                } else if (s[i] == 'n') {
                    out.push_back('\n');
                } else {
                    out.push_back(s[i]);
                }
            } else {
                if (static_cast<unsigned char>(s[i]) < 0x20) return false;
                out.push_back(s[i]);
            }
        }
        if (i >= s.size()) return false;
        ++i;
        return true;
    };
    if (s.empty() || s[i++] != '{') return fail("no {");
    if (s[i] == '}') return rec;
    for (;;) {
        std::string name;
        if (!parse_string(name)) return fail("bad name");
        if (s[i++] != ':') return fail("no :");
        std::optional<std::string> value;
        if (s[i] == '"') {
            std::string v = "\"";
            if (!parse_string(v)) return fail("bad string");
            value = v;
        } else if (s.compare(i, 4, "null") == 0) {
            i += 4;
        } else {
            const size_t start = i;
            while (i < s.size() &&
                   (isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == '-'))
                ++i;
            if (i == start) return fail("bad value");
            value = s.substr(start, i - start);
        }
        rec.emplace_back(name, value);
        if (s[i] == ',') {
            ++i;
            continue;
        }
        if (s[i] == '}' && i + 1 == s.size()) return rec;
        return fail("bad end");
    }
}

std::vector<Packet> record_packets() {
    auto ps = pcapng_packets();
    ps[0].ev.netns = 4026531840u;
    ps[1].ev.ifname.assign("we\"ird,name");  // needs quoting in csv and escaping in json
    // An ICMP packet and a later fragment.
    ps.push_back(packet(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").icmp(3, 1).payload(28).build(),
        1700000004000000000ull));
    Ipv4Options later;
    later.frag_offset = 8;
    ps.push_back(packet(PacketBuilder()
                            .ethernet()
                            .ipv4("198.18.0.1", "198.18.0.2", later)
                            .protocol(17)
                            .payload(8)
                            .build(),
                        1700000005000000000ull));
    finalize(ps);
    return ps;
}

const std::vector<std::string> kExpectedRows = {
    "1700000000.123456789,tap-in,eth0,2,4026531840,in,17,198.18.0.1,198.18.0.2,5353,53,,,84,84,0,,",
    "1700000001.000000001,postrouting,\"we\"\"ird,name\",2,,out,6,10.0.0.1,10.0.0.2,40000,443,,,54,"
    "54,0,S.,accept",
    "1700000002.999999999,input,lo,1,,,17,2001:db8::1,2001:db8::2,1,2,,,262,64,0,,drop",
    "1700000003.000000000,,eth0,2,,,,,,,,,,42,42,,,",
    "1700000004.000000000,,,,,,1,198.18.0.1,198.18.0.2,,,3,1,70,70,0,,",
    "1700000005.000000000,,,,,,17,198.18.0.1,198.18.0.2,,,,,42,42,1,,",
};

TEST(CsvSink, HeaderRowsAndEmptyFields) {
    TempDir dir;
    const std::string path = dir.file("p.csv");
    auto ps = record_packets();
    auto sink = make_csv_sink({path, 262144});
    for (const auto& p : ps) sink->write(p.ev);
    sink->finish(Ledger{}, 0);
    const auto lines = test::split_lines(test::read_file(path));
    ASSERT_EQ(lines.size(), ps.size() + 1);
    EXPECT_EQ(lines[0] + "\n", csv_header());
    EXPECT_EQ(lines[0],
              "ts,point,ifname,ifindex,netns,dir,proto,src,dst,sport,dport,icmp_type,icmp_code,len,"
              "caplen,"
              "frag,tcp_flags,verdict");
    const size_t nfields = csv_fields(lines[0]).size();
    EXPECT_EQ(nfields, 18u);
    for (size_t i = 1; i < lines.size(); ++i) {
        EXPECT_EQ(csv_fields(lines[i]).size(), nfields) << lines[i];
        EXPECT_EQ(lines[i], kExpectedRows[i - 1]);
    }
    EXPECT_EQ(csv_fields(lines[2])[2], "we\"ird,name");
}

// The csv header comes from the rows' own field walk: its bytes are the documented ones, and
// every row, with and without the label and the drop fields, has as many fields as it names.
TEST(CsvSink, HeaderFromTheFieldWalkHasEveryRowsFieldCount) {
    const std::string base =
        "ts,point,ifname,ifindex,netns,dir,proto,src,dst,sport,dport,icmp_type,icmp_code,len,"
        "caplen,frag,tcp_flags,verdict";
    EXPECT_EQ(csv_header(), base + "\n");
    EXPECT_EQ(csv_header({.drop = true}), base + ",reason,location\n");
    EXPECT_EQ(csv_header({.label = true}), base + ",label\n");
    EXPECT_EQ(csv_header({.label = true, .drop = true}), base + ",label,reason,location\n");
    TempDir dir;
    auto ps = record_packets();
    PacketEvent dropped = ps[0].ev;
    dropped.drop_reason = "NETFILTER_DROP";
    dropped.drop_location = "nf_hook_slow+0x9f";
    PacketEvent labelled = ps[0].ev;
    labelled.label = "we,ird \"label\"";
    for (unsigned i = 0; i < 4; ++i) {
        const RecordFields f{.label = (i & 1) != 0, .drop = (i & 2) != 0};
        SCOPED_TRACE(i);
        SinkOptions o{dir.file("p" + std::to_string(i) + ".csv"), 262144};
        o.fields = f;
        auto sink = make_csv_sink(o);
        for (const auto& p : ps) sink->write(p.ev);
        sink->write(dropped);
        sink->write(labelled);
        sink->finish(Ledger{}, 0);
        const auto lines = test::split_lines(test::read_file(o.path));
        ASSERT_EQ(lines.size(), ps.size() + 3);
        EXPECT_EQ(lines[0] + "\n", csv_header(f));
        const size_t n = csv_fields(lines[0]).size();
        EXPECT_EQ(n, 18u + (f.label ? 1 : 0) + (f.drop ? 2 : 0));
        for (size_t k = 1; k < lines.size(); ++k)
            EXPECT_EQ(csv_fields(lines[k]).size(), n) << lines[k];
        if (f.label) {
            EXPECT_EQ(csv_fields(lines.back())[18], "we,ird \"label\"");
            EXPECT_EQ(csv_fields(lines[1])[18], "");  // none: empty
        }
    }
}

// The label in jsonl: a string where the event has one, null where not.
TEST(JsonlSink, LabelFieldWhenAsked) {
    TempDir dir;
    auto ps = record_packets();
    PacketEvent labelled = ps[0].ev;
    labelled.label = "sent-v4";
    SinkOptions o{dir.file("l.jsonl"), 262144};
    o.fields.label = true;
    auto sink = make_jsonl_sink(o);
    sink->write(ps[0].ev);
    sink->write(labelled);
    sink->finish(Ledger{}, 0);
    const auto lines = test::split_lines(test::read_file(o.path));
    ASSERT_EQ(lines.size(), 2u);
    const JsonRecord none = parse_flat_json(lines[0]), some = parse_flat_json(lines[1]);
    ASSERT_EQ(none.size(), 19u);
    ASSERT_EQ(some.size(), 19u);
    EXPECT_EQ(none.back().first, "label");
    EXPECT_FALSE(none.back().second.has_value());
    EXPECT_EQ(some.back().first, "label");
    EXPECT_EQ(some.back().second, std::optional<std::string>("\"sent-v4"));
}

TEST(JsonlSink, NullForMissingAndTheSameFieldsAsCsv) {
    TempDir dir;
    const std::string path = dir.file("p.jsonl");
    auto ps = record_packets();
    auto sink = make_jsonl_sink({path, 262144});
    for (const auto& p : ps) sink->write(p.ev);
    sink->finish(Ledger{}, 0);
    const auto lines = test::split_lines(test::read_file(path));
    ASSERT_EQ(lines.size(), ps.size());
    const std::string& h = csv_header();
    const auto header = csv_fields(h.substr(0, h.size() - 1));
    for (size_t i = 0; i < lines.size(); ++i) {
        SCOPED_TRACE(lines[i]);
        const JsonRecord rec = parse_flat_json(lines[i]);
        ASSERT_EQ(rec.size(), header.size());
        const auto row = csv_fields(kExpectedRows[i]);
        for (size_t k = 0; k < rec.size(); ++k) {
            EXPECT_EQ(rec[k].first, header[k]);  // same names, same order
            if (row[k].empty()) {
                EXPECT_FALSE(rec[k].second.has_value()) << rec[k].first;  // null, never ""
            } else {
                ASSERT_TRUE(rec[k].second.has_value()) << rec[k].first;
                std::string v = *rec[k].second;
                if (!v.empty() && v[0] == '"') v.erase(0, 1);
                EXPECT_EQ(v, row[k]) << rec[k].first;
            }
        }
    }
    // Numbers are numbers, text is text.
    EXPECT_EQ(lines[0].rfind(
                  R"({"ts":1700000000.123456789,"point":"tap-in","ifname":"eth0","ifindex":2,)", 0),
              0u)
        << lines[0];
    EXPECT_NE(lines[1].find(R"("ifname":"we\"ird,name")"), std::string::npos);
    EXPECT_NE(lines[3].find(R"("proto":null,"src":null,"dst":null,"sport":null)"),
              std::string::npos);
    EXPECT_NE(lines[4].find(R"("icmp_type":3,"icmp_code":1)"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Write errors: one line naming the path and the reason.

using SinkMaker = std::unique_ptr<Sink> (*)(const SinkOptions&);

void expect_disk_full(SinkMaker make, const char* name) {
    SCOPED_TRACE(name);
    auto ps = sample_packets();
    try {
        auto sink = make({"/dev/full", 262144});
        // Enough to overflow any buffer, then the trailer and close.
        for (int i = 0; i < 20000; ++i) sink->write(ps[static_cast<size_t>(i) % 2].ev);
        sink->finish(Ledger{}, 0);
        ADD_FAILURE() << "no error writing to /dev/full";
    } catch (const RuntimeError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("/dev/full"), std::string::npos) << msg;
        EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not a RuntimeError: " << e.what();
    }
}

void expect_disk_full_on_finish(SinkMaker make, const char* name) {
    SCOPED_TRACE(name);
    auto ps = sample_packets();
    auto sink = make({"/dev/full", 262144});
    sink->write(ps[0].ev);  // buffered: the error comes at finish
    try {
        sink->finish(Ledger{}, 1);
        ADD_FAILURE() << "no error writing to /dev/full";
    } catch (const RuntimeError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("/dev/full"), std::string::npos) << msg;
        EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
    }
}

TEST(SinkErrors, DiskFullWhileWriting) {
    expect_disk_full(make_text_sink, "text");
    expect_disk_full(make_csv_sink, "csv");
    expect_disk_full(make_jsonl_sink, "jsonl");
    testing::internal::CaptureStderr();
    expect_disk_full(make_pcap_sink, "pcap");
    testing::internal::GetCapturedStderr();
    expect_disk_full(make_pcapng_sink, "pcapng");
}

TEST(SinkErrors, DiskFullAtFinish) {
    expect_disk_full_on_finish(make_text_sink, "text");
    expect_disk_full_on_finish(make_csv_sink, "csv");
    expect_disk_full_on_finish(make_jsonl_sink, "jsonl");
    expect_disk_full_on_finish(make_pcap_sink, "pcap");
    expect_disk_full_on_finish(make_pcapng_sink, "pcapng");
}

TEST(SinkErrors, CannotCreate) {
    TempDir dir;
    const std::string path = dir.file("no-such-dir/out");
    auto ps = sample_packets();
    for (const auto& f : sink_formats()) {
        SCOPED_TRACE(std::string(f.name));
        try {
            auto sink = f.make({path, 262144});
            sink->write(ps[0].ev);  // pcap opens its file with the first packet's link type
            sink->finish(Ledger{}, 0);
            ADD_FAILURE() << "no error creating " << path;
        } catch (const RuntimeError& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find(path), std::string::npos) << msg;
            EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
        }
    }
}

TEST(SinkRegistry, NamesAndExtensions) {
    EXPECT_EQ(sink_format_by_name("text").name, "text");
    EXPECT_EQ(sink_format_by_name("pcapng").name, "pcapng");
    EXPECT_TRUE(sink_format_by_name("pcap").binary);
    EXPECT_TRUE(sink_format_by_name("pcapng").binary);
    EXPECT_FALSE(sink_format_by_name("csv").binary);
    EXPECT_FALSE(sink_format_by_name("jsonl").binary);
    EXPECT_FALSE(sink_format_by_name("text").binary);
    try {
        sink_format_by_name("xml");
        ADD_FAILURE() << "no error";
    } catch (const UsageError& e) {
        EXPECT_STREQ(e.what(),
                     "unknown output format 'xml' (known: text, csv, jsonl, pcap, pcapng)");
    }
    const std::pair<const char*, const char*> by_path[] = {
        {"a.txt", "text"},     {"a.csv", "csv"},       {"a.jsonl", "jsonl"},
        {"a.ndjson", "jsonl"}, {"a.json", "jsonl"},    {"a.pcap", "pcap"},
        {"dir/a.cap", "pcap"}, {"a.pcapng", "pcapng"}, {"a.ntar", "pcapng"},
    };
    for (const auto& [path, name] : by_path) {
        const SinkFormat* f = sink_format_by_path(path);
        ASSERT_NE(f, nullptr) << path;
        EXPECT_EQ(f->name, name) << path;
    }
    EXPECT_EQ(sink_format_by_path("capture"), nullptr);
    EXPECT_EQ(sink_format_by_path(".pcap"), nullptr);  // a name that is only an extension
    EXPECT_EQ(sink_format_by_path("a.pcap.gz"), nullptr);
}

TEST(TextSink, WritesLinesToFile) {
    TempDir dir;
    const std::string path = dir.file("out.txt");
    auto ps = sample_packets();
    auto sink = make_text_sink({path, 262144});
    for (const auto& p : ps) sink->write(p.ev);
    sink->flush();
    EXPECT_EQ(test::split_lines(test::read_file(path)).size(), ps.size());  // complete after flush
    sink->finish(Ledger{}, 0);
    const auto lines = test::split_lines(test::read_file(path));
    ASSERT_EQ(lines.size(), ps.size());
    EXPECT_NE(lines[0].find(" IP 198.18.0.1.5353 > 198.18.0.2.53: UDP, length 42"),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[3].find(" ARP, length 42"), std::string::npos) << lines[3];
}

// A file that takes `g_budget` bytes, then fails with `g_errno` (a disk that fills up, EIO).
namespace failing {
size_t g_budget = 0;
int g_errno = ENOSPC;
ssize_t write(int fd, const void* p, size_t n) {
    if (g_budget == 0) {
        errno = g_errno;
        return -1;
    }
    const ssize_t w = ::write(fd, p, std::min(n, g_budget));
    if (w > 0) g_budget -= static_cast<size_t>(w);
    return w;
}
int truncate(int fd, off_t length) {
    return ::ftruncate(fd, length);
}
const FileOps kOps = {write, truncate};
}  // namespace failing

// The write that fails cuts the file back to its last whole record: libpcap reads it to its
// end with no error, its records are what output_stats() counts as written, and the error is
// thrown once (finish does not throw it again).
TEST(OutputFile, FailedWriteLeavesWholeRecordsAndCountsThem) {
    const auto ps = sample_packets();
    const PacketEvent& ev = ps[0].ev;
    for (const char* format : {"pcap", "pcapng", "csv", "jsonl", "text"}) {
        for (size_t budget : {size_t{3001}, size_t{70001}, size_t{300001}}) {
            for (int err : {ENOSPC, EIO, EFBIG}) {
                SCOPED_TRACE(std::string(format) + " budget " + std::to_string(budget) + " " +
                             std::strerror(err));
                TempDir dir;
                const std::string path = dir.file(std::string("out.") + format);
                failing::g_budget = budget;
                failing::g_errno = err;
                SinkOptions o;
                o.path = path;
                o.file_ops = &failing::kOps;
                auto sink = sink_format_by_name(format).make(o);
                uint64_t handed = 0;
                std::string error;
                try {
                    for (int i = 0; i < 8000; ++i) {
                        ++handed;
                        sink->write(ev);
                    }
                    sink->flush();
                } catch (const RuntimeError& e) {
                    error = e.what();
                }
                EXPECT_EQ(error, "write " + path + ": " + std::strerror(err));
                EXPECT_NO_THROW(sink->finish(Ledger{}, handed));
                const OutputStats st = sink->output_stats();
                EXPECT_EQ(st.path, path);
                EXPECT_EQ(st.why_not, std::strerror(err));
                EXPECT_LT(st.written, handed);
                EXPECT_GT(st.written, 0u);
                const std::string raw = test::read_file(path);
                EXPECT_LE(raw.size(), budget);
                if (std::string_view(format).starts_with("pcap")) {
                    EXPECT_EQ(read_capture(path).packets.size(), st.written);
                } else {
                    ASSERT_FALSE(raw.empty());
                    EXPECT_EQ(raw.back(), '\n');
                    const auto lines =
                        static_cast<uint64_t>(std::count(raw.begin(), raw.end(), '\n'));
                    EXPECT_EQ(lines, st.written + (std::string_view(format) == "csv" ? 1 : 0));
                }
            }
        }
    }
}

// pcapng's blocks, walked by their lengths (a hole of zeros or a cut block fails): the type and
// the comment (opt_comment) of each.
struct PcapngBlock {
    uint32_t type;
    std::string comment;
};

std::vector<PcapngBlock> pcapng_blocks(const std::string& raw) {
    std::vector<PcapngBlock> out;
    size_t off = 0;
    while (off < raw.size()) {
        uint32_t type = 0, len = 0, trailer = 0;
        if (off + 12 > raw.size()) {
            ADD_FAILURE() << "cut block at " << off;
            break;
        }
        std::memcpy(&type, &raw[off], 4);
        std::memcpy(&len, &raw[off + 4], 4);
        if (len < 12 || len % 4 || off + len > raw.size()) {
            ADD_FAILURE() << "bad block length " << len << " at " << off;
            break;
        }
        std::memcpy(&trailer, &raw[off + len - 4], 4);
        EXPECT_EQ(trailer, len) << "at " << off;
        PcapngBlock b{type, {}};
        if (type == 5) {  // ISB: interface id and timestamp, then options
            for (size_t o = off + 20; o + 4 <= off + len - 4;) {
                uint16_t code, n;
                std::memcpy(&code, &raw[o], 2);
                std::memcpy(&n, &raw[o + 2], 2);
                if (code == 0) break;
                if (code == 1) b.comment.assign(&raw[o + 4], n);
                o += 4 + (n + 3u) / 4 * 4;
            }
        }
        out.push_back(std::move(b));
        off += len;
    }
    return out;
}

// Options for a file that takes `budget` bytes, then fails with ENOSPC.
SinkOptions failing_file(const std::string& path, size_t budget) {
    failing::g_budget = budget;
    failing::g_errno = ENOSPC;
    SinkOptions o;
    o.path = path;
    o.file_ops = &failing::kOps;
    return o;
}

// The pcapng statistics' comment after a failed write.
std::string isb_comment(uint64_t written, uint64_t not_written) {
    return std::to_string(written) + " packets written, " + std::to_string(not_written) +
           " not written (No space left on device)";
}

// After a write fails and the file is cut back, the pcapng statistics written at finish follow
// the last whole block: the cut moved the write offset too (it stayed where the failed write
// ended, and the ISB landed after a hole of zeros that no reader gets past).
TEST(OutputFile, TrailerAfterFailedWriteFollowsTheLastWholeBlock) {
    const auto ps = sample_packets();
    TempDir dir;
    const std::string path = dir.file("out.pcapng");
    const SinkOptions o = failing_file(path, 70001);
    auto sink = make_pcapng_sink(o);
    uint64_t handed = 0;
    EXPECT_THROW(
        for (;;) {
            ++handed;
            sink->write(ps[0].ev);
        },
        RuntimeError);
    failing::g_budget = 100000;  // room again (a file deleted): the statistics fit
    EXPECT_NO_THROW(sink->finish(Ledger{}, handed));
    const uint64_t written = sink->output_stats().written;
    EXPECT_GT(written, 0u);
    EXPECT_EQ(read_capture(path).packets.size(), written);
    const auto blocks = pcapng_blocks(test::read_file(path));
    ASSERT_EQ(blocks.size(), 2 + written + 1);  // SHB, IDB, the packets, ISB
    EXPECT_EQ(blocks.back().type, 5u);
    EXPECT_EQ(blocks.back().comment, isb_comment(written, handed - written));
}

// The ISB's counts are the ledger's: a write that fails in the middle of a batch leaves the
// rest of it unseen by the sink, and those packets are captured and not written in both (the
// ISB counted only what the sink had seen: 537 not written where the ledger said 594).
TEST(Pipeline, StatisticsAfterAFailedWriteSayWhatTheLedgerSays) {
    const auto ps = sample_packets();
    TempDir dir;
    const std::string path = dir.file("out.pcapng");
    const SinkOptions o = failing_file(path, 70001);
    Pipeline pipe;
    pipe.add_sink(make_pcapng_sink(o));
    const std::vector<PacketEvent> batch(20000, ps[0].ev);  // about 2 MB: fails in the middle
    EXPECT_THROW(pipe.on_events(batch), RuntimeError);
    failing::g_budget = 100000;
    EXPECT_NO_THROW(pipe.finish(Ledger{}));
    const auto outputs = pipe.outputs();
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_EQ(outputs[0].handed, 20000u);
    const uint64_t written = outputs[0].stats.written;
    EXPECT_EQ(read_capture(path).packets.size(), written);
    const auto blocks = pcapng_blocks(test::read_file(path));
    ASSERT_FALSE(blocks.empty());
    EXPECT_EQ(blocks.back().comment, isb_comment(written, 20000 - written));
}

// -C rotation onto a disk that fills up (one budget for every file): each file ends whole
// (libpcap reads it to its end; csv ends with a whole line), the files hold exactly what the
// ledger says was written, the failed file is not finished twice; with -W, `written` counts
// the files overwritten since, and the stats say how many files there were.
TEST(RotatingSink, WrittenCountsEveryFileAndAFullDiskLeavesEachWhole) {
    const auto ps = sample_packets();
    for (const char* format : {"pcap", "pcapng", "csv"}) {
        for (size_t budget : {size_t{20001}, size_t{45001}, size_t{100001}}) {
            SCOPED_TRACE(std::string(format) + " budget " + std::to_string(budget));
            TempDir dir;
            const SinkOptions o = failing_file(dir.file(std::string("r.") + format), budget);
            auto sink = make_rotating_sink(sink_format_by_name(format), o, {.bytes = 4000});
            uint64_t handed = 0;
            try {
                for (int i = 0; i < 100000; ++i) {
                    ++handed;
                    sink->write(ps[0].ev);
                }
                ADD_FAILURE() << "no error";
            } catch (const RuntimeError& e) {
                EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos);
            }
            EXPECT_NO_THROW(sink->finish(Ledger{}, handed));
            const OutputStats st = sink->output_stats();
            ASSERT_GE(st.files, 3u);
            EXPECT_EQ(st.overwritten, 0u);
            EXPECT_EQ(st.why_not, "No space left on device");
            EXPECT_EQ(st.path, rotated_name(o.path, 0) + ".." + rotated_name(o.path, st.files - 1));
            uint64_t in_files = 0;
            for (unsigned i = 0; i < st.files; ++i) {
                const std::string f = rotated_name(o.path, i);
                SCOPED_TRACE(f);
                if (std::string_view(format).starts_with("pcap")) {
                    in_files += read_capture(f).packets.size();
                    if (std::string_view(format) == "pcapng") pcapng_blocks(test::read_file(f));
                } else {
                    const std::string raw = test::read_file(f);
                    ASSERT_FALSE(raw.empty());
                    EXPECT_EQ(raw.back(), '\n');
                    in_files += static_cast<uint64_t>(std::count(raw.begin(), raw.end(), '\n')) - 1;
                }
            }
            EXPECT_EQ(in_files, st.written);
            EXPECT_LT(st.written, handed);
        }
    }
    // -W 2: every packet reached a file, most of them files overwritten since.
    TempDir dir;
    const SinkOptions o = failing_file(dir.file("w.pcapng"), SIZE_MAX);
    auto sink =
        make_rotating_sink(sink_format_by_name("pcapng"), o, {.bytes = 4000, .max_files = 2});
    for (int i = 0; i < 1000; ++i) sink->write(ps[0].ev);
    sink->finish(Ledger{}, 1000);
    const OutputStats st = sink->output_stats();
    EXPECT_EQ(st.written, 1000u);
    EXPECT_GT(st.files, 10u);
    EXPECT_EQ(st.overwritten, st.files - 2);
    EXPECT_EQ(st.path, rotated_name(o.path, 0) + ".." + rotated_name(o.path, (st.files - 1) % 2));
    EXPECT_EQ(st.why_not, "");
    const uint64_t kept = read_capture(rotated_name(o.path, 0)).packets.size() +
                          read_capture(rotated_name(o.path, 1)).packets.size();
    EXPECT_GT(kept, 0u);
    EXPECT_LT(kept, 1000u);
}

}  // namespace
}  // namespace hookdump

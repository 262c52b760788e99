// hookdump's pcapng reader (src/capfile/pcapng_reader.h) and `read` of pcapng
// (src/engine/pcapng_engine.h): what hookdump's writer keeps comes back; blocks built by hand
// for what other writers do (the other byte order, timestamp resolutions and offsets, simple
// and obsolete packet blocks, several sections); every malformed block is one error naming
// its offset.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/pcapng_engine.h"
#include "packet/builder.h"
#include "sink/sinks.h"
#include "test_util.h"
#include "util/error.h"

namespace hookdump {
namespace {

using test::TempDir;

// Blocks by hand, in either byte order.
class Ng {
  public:
    explicit Ng(bool big = false) : big_(big) {}
    Ng& shb() {
        block(0x0A0D0D0A, [&] {
            u32(0x1A2B3C4D);
            u16(1), u16(0);
            u32(0xffffffff), u32(0xffffffff);  // section length unknown
        });
        return *this;
    }
    // tsresol: 0xff for none; offset_s: 0 for none.
    Ng& idb(uint16_t linktype, std::string name = "", uint8_t tsresol = 0xff, int64_t off = 0) {
        block(1, [&] {
            u16(linktype), u16(0), u32(0);
            if (!name.empty()) opt(2, name);
            if (tsresol != 0xff) opt(9, std::string(1, static_cast<char>(tsresol)));
            if (off) {
                std::string v(8, '\0');
                uint64_t o = static_cast<uint64_t>(off);
                if (big_) o = __builtin_bswap64(o);
                std::memcpy(v.data(), &o, 8);
                opt(14, v);
            }
            if (!name.empty() || tsresol != 0xff || off) u32(0);  // opt_endofopt
        });
        return *this;
    }
    Ng& epb(uint32_t iface, uint64_t ts, std::string data, uint32_t len = 0, int flags = -1,
            std::string comment = "") {
        block(6, [&] {
            u32(iface), u32(static_cast<uint32_t>(ts >> 32)), u32(static_cast<uint32_t>(ts));
            u32(static_cast<uint32_t>(data.size()));
            u32(len ? len : static_cast<uint32_t>(data.size()));
            raw(data);
            if (flags >= 0) {
                std::string v(4, '\0');
                uint32_t f = static_cast<uint32_t>(flags);
                if (big_) f = __builtin_bswap32(f);
                std::memcpy(v.data(), &f, 4);
                opt(2, v);
            }
            if (!comment.empty()) opt(1, comment);
            if (flags >= 0 || !comment.empty()) u32(0);
        });
        return *this;
    }
    Ng& spb(std::string data, uint32_t len) {
        block(3, [&] { u32(len), raw(data); });
        return *this;
    }
    Ng& obsolete_pb(uint16_t iface, uint64_t ts, std::string data) {
        block(2, [&] {
            u16(iface), u16(0), u32(static_cast<uint32_t>(ts >> 32));
            u32(static_cast<uint32_t>(ts)), u32(static_cast<uint32_t>(data.size()));
            u32(static_cast<uint32_t>(data.size())), raw(data);
        });
        return *this;
    }
    Ng& other(uint32_t type, std::string body) {
        block(type, [&] { raw(body); });
        return *this;
    }
    std::string& bytes() { return out_; }
    void u16(uint16_t v) {
        if (big_) v = __builtin_bswap16(v);
        out_.append(reinterpret_cast<const char*>(&v), 2);
    }
    void u32(uint32_t v) {
        if (big_) v = __builtin_bswap32(v);
        out_.append(reinterpret_cast<const char*>(&v), 4);
    }

  private:
    template <typename F>
    void block(uint32_t type, F body) {
        const size_t start = out_.size();
        u32(type), u32(0);
        body();
        u32(0);
        const auto len = static_cast<uint32_t>(out_.size() - start);
        uint32_t v = big_ ? __builtin_bswap32(len) : len;
        std::memcpy(out_.data() + start + 4, &v, 4);
        std::memcpy(out_.data() + out_.size() - 4, &v, 4);
    }
    void raw(const std::string& d) {
        out_ += d;
        out_.append((4 - d.size() % 4) % 4, '\0');
    }
    void opt(uint16_t code, const std::string& v) {
        u16(code), u16(static_cast<uint16_t>(v.size())), raw(v);
    }
    bool big_;
    std::string out_;
};

std::vector<PcapngPacket> read_all(const std::string& bytes, std::vector<PcapngInterface>* ifs,
                                   std::vector<std::string>* datas = nullptr) {
    TempDir dir;
    const std::string path = dir.file("x.pcapng");
    test::write_file(path, bytes);
    PcapngReader r(Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), "x.pcapng");
    std::vector<PcapngPacket> out;
    PcapngPacket p;
    while (r.next(p)) {
        p.comment = {};  // borrowed: not kept
        if (datas) datas->emplace_back(reinterpret_cast<const char*>(p.data.data()), p.data.size());
        p.data = {};
        out.push_back(p);
        if (ifs) *ifs = r.interfaces();
    }
    return out;
}

TEST(PcapngReader, BothByteOrdersResolutionsOffsetsAndEveryPacketBlock) {
    for (const bool big : {false, true}) {
        Ng ng(big);
        ng.shb()
            .idb(1, "eth0")                // microseconds (the default)
            .idb(101, "", 9)               // nanoseconds
            .idb(1, "x", 0x80 | 10, 1000)  // 2^-10 s, 1000 s later
            .epb(0, 1700000000123456ull, "abcd", 60, 1)
            .other(5, std::string(20, '\0'))  // statistics: skipped
            .epb(1, 1700000000123456789ull, "efgh", 0, 2)
            .epb(2, 1024ull * 5 + 512, "ijk")  // 5.5 s + 1000 s
            .obsolete_pb(0, 7, "lmno")
            .spb("pqrstu", 6);
        std::vector<PcapngInterface> ifs;
        std::vector<std::string> datas;
        const auto ps = read_all(ng.bytes(), &ifs, &datas);
        ASSERT_EQ(ps.size(), 5u) << big;
        EXPECT_EQ(ps[0].ts_ns, 1700000000123456000ull);
        EXPECT_EQ(ps[0].len, 60u);
        EXPECT_TRUE(ps[0].has_flags);
        EXPECT_EQ(ps[0].flags, 1u);
        EXPECT_EQ(ps[1].interface, 1u);
        EXPECT_EQ(ps[1].ts_ns, 1700000000123456789ull);
        EXPECT_EQ(ps[1].flags, 2u);
        EXPECT_EQ(ps[2].ts_ns, 1005500000000ull);
        EXPECT_FALSE(ps[2].has_flags);
        EXPECT_EQ(ps[3].ts_ns, 7000u);
        EXPECT_EQ(ps[4].interface, 0u);
        EXPECT_EQ(ps[4].len, 6u);
        EXPECT_EQ(datas, (std::vector<std::string>{"abcd", "efgh", "ijk", "lmno", "pqrstu"}));
        ASSERT_EQ(ifs.size(), 3u);
        EXPECT_EQ(ifs[0].name, "eth0");
        EXPECT_EQ(ifs[1].linktype, 101);
    }
}

TEST(PcapngReader, ANewSectionHasItsOwnInterfacesAndByteOrder) {
    Ng a, b(true);
    a.shb().idb(1).idb(101).epb(1, 1, "a");
    b.shb().idb(228, "second").epb(0, 2, "b");
    std::vector<PcapngInterface> ifs;
    const auto ps = read_all(a.bytes() + b.bytes(), &ifs);
    ASSERT_EQ(ps.size(), 2u);
    ASSERT_EQ(ifs.size(), 1u);  // after the second section header
    EXPECT_EQ(ifs[0].linktype, 228);
    EXPECT_EQ(ifs[0].name, "second");
    EXPECT_EQ(ps[1].ts_ns, 2000u);
}

// Each malformation: the message names the block's offset and what is wrong.
TEST(PcapngReader, MalformedBlocksAreOneErrorNamingTheOffset) {
    Ng base;
    base.shb().idb(1);
    const size_t at = base.bytes().size();  // the offset of the block that follows
    struct Case {
        const char* name;
        std::string bytes;
        std::string want;
    };
    std::vector<Case> cases;
    auto with = [&](auto&& f) {
        Ng ng;
        ng.shb().idb(1);
        f(ng);
        return ng.bytes();
    };
    {
        std::string s = with([](Ng& n) { n.epb(0, 1, "abcd"); });
        s.resize(s.size() - 6);
        cases.push_back({"cut", s, "truncated"});
    }
    {
        std::string s = with([](Ng& n) { n.epb(0, 1, "abcd"); });
        s[s.size() - 4] ^= 4;  // trailing length
        cases.push_back({"trailer", s, "trailing length"});
    }
    {
        std::string s = with([](Ng& n) { n.epb(0, 1, "abcd"); });
        const uint32_t len = 13;
        std::memcpy(s.data() + at + 4, &len, 4);
        cases.push_back({"length", s, "block length 13"});
    }
    {
        std::string s = with([](Ng& n) { n.epb(0, 1, "abcd"); });
        const uint32_t caplen = 400;
        std::memcpy(s.data() + at + 20, &caplen, 4);
        cases.push_back({"caplen", s, "captured length 400 larger than the block"});
    }
    cases.push_back(
        {"interface", with([](Ng& n) { n.epb(3, 1, "abcd"); }), "packet of interface 3"});
    {
        std::string s = with([](Ng& n) { n.epb(0, 1, "abcd", 0, 1); });
        const uint16_t optlen = 200;  // epb_flags' length past the block
        std::memcpy(s.data() + at + 32 + 2, &optlen, 2);
        cases.push_back({"option", s, "packet option runs past the block"});
    }
    cases.push_back({"huge", with([](Ng& n) {
                         n.u32(6);
                         n.u32(1u << 30);
                     }),
                     "larger than 16 MiB"});
    cases.push_back({"tsresol", with([](Ng& n) { n.idb(1, "", 20); }), "if_tsresol"});
    for (const auto& c : cases) {
        try {
            read_all(c.bytes, nullptr);
            ADD_FAILURE() << c.name << ": no error";
        } catch (const RuntimeError& e) {
            const std::string m = e.what();
            EXPECT_NE(m.find("reading x.pcapng: bad pcapng block at offset " + std::to_string(at)),
                      std::string::npos)
                << c.name << ": " << m;
            EXPECT_NE(m.find(c.want), std::string::npos) << c.name << ": " << m;
        }
    }
    EXPECT_THROW(read_all("not pcapng at all, longer than 28 bytes", nullptr), RuntimeError);
}

TEST(PcapngComment, WhatTheWriterPutsComesBack) {
    PacketEvent ev;
    ASSERT_TRUE(parse_hookdump_comment(
        "hookdump point=nflog verdict=accept prefix=a prefix with spaces reason=X location=f+0x1",
        ev));
    EXPECT_EQ(ev.point, CapturePoint::Nflog);
    EXPECT_EQ(ev.slot, PrioritySlot::None);
    EXPECT_EQ(ev.verdict, Verdict::Accept);
    EXPECT_EQ(ev.label, "a prefix with spaces");
    EXPECT_EQ(ev.drop_reason, "X");
    EXPECT_EQ(ev.drop_location, "f+0x1");
    PacketEvent hook;
    ASSERT_TRUE(parse_hookdump_comment("hookdump point=output:last", hook));
    EXPECT_EQ(hook.point, CapturePoint::LocalOut);
    EXPECT_EQ(hook.slot, PrioritySlot::Last);
    PacketEvent first;
    ASSERT_TRUE(parse_hookdump_comment("hookdump point=input", first));
    EXPECT_EQ(first.slot, PrioritySlot::First);
    EXPECT_EQ(first.verdict, Verdict::Unknown);
    PacketEvent other;
    EXPECT_FALSE(parse_hookdump_comment("a comment by another tool", other));
    EXPECT_EQ(other.point, CapturePoint::Unknown);
}

struct Collect : EventHandler {
    struct Got {
        PacketEvent ev;
        std::vector<uint8_t> bytes;
        std::string label, reason, location;
    };
    std::vector<Got> got;
    bool on_event(const PacketEvent& ev) override {
        Got g{ev,
              {ev.bytes.begin(), ev.bytes.end()},
              std::string(ev.label),
              std::string(ev.drop_reason),
              std::string(ev.drop_location)};
        g.ev.bytes = {};
        g.ev.label = g.ev.drop_reason = g.ev.drop_location = {};
        got.push_back(std::move(g));
        return true;
    }
};

// hookdump's own pcapng, two link types in one section (libpcap refuses that), read back with
// everything the writer kept; a filter runs per link type.
TEST(PcapngEngine, ReadsBackWhatHookdumpWrote) {
    TempDir dir;
    const std::string path = dir.file("own.pcapng");
    const auto eth = PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build();
    const auto tcp =
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").tcp(3, 4, 2).build();
    const auto raw = PacketBuilder().ipv4("198.18.0.2", "198.18.0.1").udp(5, 6).payload(3).build();
    {
        auto sink = make_pcapng_sink({path, 262144});
        PacketEvent a;
        a.ts_ns = 1700000000000000001ull, a.bytes = eth, a.len = 100;
        a.point = CapturePoint::TcIngress, a.dir = Direction::In, a.ifname.assign("vA");
        a.ifindex = 7;
        sink->write(a);
        PacketEvent d;
        d.ts_ns = 1700000000000000002ull, d.bytes = raw, d.len = static_cast<uint32_t>(raw.size());
        d.linktype = 101, d.point = CapturePoint::Drop, d.drop_reason = "NETFILTER_DROP";
        d.drop_location = "nft_do_chain+0x46f";
        sink->write(d);
        PacketEvent n = a;
        n.ts_ns = 1700000000000000003ull, n.bytes = tcp, n.len = static_cast<uint32_t>(tcp.size());
        n.point = CapturePoint::Nflog, n.dir = Direction::Unknown, n.label = "my rule: 1";
        n.verdict = Verdict::Accept;
        sink->write(n);
        sink->finish(Ledger{}, 3);
    }
    Collect c;
    std::atomic<bool> stop{false};
    open_capture_file(path, "")->run(c, stop);
    ASSERT_EQ(c.got.size(), 3u);
    const auto& a = c.got[0];
    EXPECT_EQ(a.ev.ts_ns, 1700000000000000001ull);
    EXPECT_EQ(a.ev.len, 100u);
    EXPECT_EQ(a.bytes, eth);
    EXPECT_EQ(a.ev.linktype, 1);
    EXPECT_EQ(a.ev.point, CapturePoint::TcIngress);
    EXPECT_EQ(a.ev.dir, Direction::In);
    EXPECT_EQ(a.ev.ifname.view(), "vA");
    EXPECT_EQ(a.ev.parsed.sport, 1);
    const auto& d = c.got[1];
    EXPECT_EQ(d.ev.linktype, 101);
    EXPECT_EQ(d.bytes, raw);
    EXPECT_EQ(d.ev.point, CapturePoint::Drop);
    EXPECT_EQ(d.reason, "NETFILTER_DROP");
    EXPECT_EQ(d.location, "nft_do_chain+0x46f");
    EXPECT_EQ(d.ev.parsed.dport, 6);
    const auto& n = c.got[2];
    EXPECT_EQ(n.ev.point, CapturePoint::Nflog);
    EXPECT_EQ(n.ev.verdict, Verdict::Accept);
    EXPECT_EQ(n.label, "my rule: 1");
    EXPECT_EQ(n.ev.dir, Direction::Unknown);
    // "udp": compiled for Ethernet and for raw IP; the TCP packet is not taken.
    Collect u;
    open_capture_file(path, "udp")->run(u, stop);
    ASSERT_EQ(u.got.size(), 2u);
    EXPECT_EQ(u.got[0].ev.linktype, 1);
    EXPECT_EQ(u.got[1].ev.linktype, 101);
    EXPECT_THROW(open_capture_file(path, "udp port"), UsageError);
}

}  // namespace
}  // namespace hookdump

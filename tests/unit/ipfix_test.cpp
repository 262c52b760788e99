// IPFIX export (src/ipfix/): the bytes decoded field by field as a collector would, sequence
// numbers across messages, message sizes against the limit, templates before data on each
// session, template refresh and flushing with an injected clock, what is not sent and why;
// the collector's HOST:PORT; UDP and TCP over loopback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ipfix/ipfix_encoder.h"
#include "ipfix/ipfix_exporter.h"
#include "ipfix/ipfix_transport.h"
#include "util/error.h"
#include "util/fd.h"

namespace hookdump::ipfix {
namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kT0 = 1'700'000'000 * kSec;

// ---------------------------------------------------------------------------------------------
// A collector's decoder, written from RFC 7011 alone (not from the encoder).

uint64_t be(const uint8_t* p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = v << 8 | p[i];
    return v;
}

struct DecodedRecord {
    uint16_t template_id = 0;
    std::map<uint16_t, std::vector<uint8_t>> fields;  // IE id -> its bytes
    uint64_t u(uint16_t ie) const {
        const auto& b = fields.at(ie);
        return be(b.data(), b.size());
    }
    bool has(uint16_t ie) const { return fields.count(ie) != 0; }
};

struct DecodedMessage {
    uint16_t version = 0;
    uint16_t length = 0;
    uint32_t export_time = 0;
    uint32_t sequence = 0;
    uint32_t domain = 0;
    std::vector<uint16_t> templates;  // template ids defined, in order
    std::vector<DecodedRecord> records;
    std::vector<uint16_t> set_ids;  // in order
};

// One transport session's state: templates known. Fails the test on anything a collector
// would refuse: a bad length, a data set whose template it has not seen, padding that could
// hold a record.
class Decoder {
  public:
    DecodedMessage decode(std::span<const uint8_t> m) {
        DecodedMessage d;
        EXPECT_GE(m.size(), 16u);
        if (m.size() < 16) return d;
        d.version = static_cast<uint16_t>(be(&m[0], 2));
        d.length = static_cast<uint16_t>(be(&m[2], 2));
        d.export_time = static_cast<uint32_t>(be(&m[4], 4));
        d.sequence = static_cast<uint32_t>(be(&m[8], 4));
        d.domain = static_cast<uint32_t>(be(&m[12], 4));
        EXPECT_EQ(d.length, m.size());
        size_t off = 16;
        while (off < m.size()) {
            EXPECT_LE(off + 4, m.size());
            if (off + 4 > m.size()) return d;
            const auto set_id = static_cast<uint16_t>(be(&m[off], 2));
            const auto set_len = static_cast<uint16_t>(be(&m[off + 2], 2));
            EXPECT_GE(set_len, 4);
            EXPECT_LE(off + set_len, m.size());
            if (set_len < 4 || off + set_len > m.size()) return d;
            EXPECT_EQ(set_len % 4, 0) << "sets are padded to four bytes";
            d.set_ids.push_back(set_id);
            const uint8_t* p = &m[off + 4];
            size_t left = set_len - 4u;
            if (set_id == kTemplateSetId) {
                while (left >= 4) {
                    const auto id = static_cast<uint16_t>(be(p, 2));
                    const auto n = static_cast<uint16_t>(be(p + 2, 2));
                    EXPECT_GE(id, 256);
                    // Field specifiers: 4 bytes, 8 with an enterprise number (the id's top
                    // bit); an enterprise element is keyed by its id with that bit.
                    size_t at = 4;
                    std::vector<Field> f;
                    for (size_t i = 0; i < n && at + 4 <= left; ++i) {
                        const auto ie = static_cast<uint16_t>(be(p + at, 2));
                        const auto len = static_cast<uint16_t>(be(p + at + 2, 2));
                        uint32_t pen = 0;
                        at += 4;
                        if (ie & 0x8000) {
                            EXPECT_LE(at + 4, left);
                            pen = static_cast<uint32_t>(be(p + at, 4));
                            at += 4;
                        }
                        f.push_back({ie, len, pen});
                    }
                    EXPECT_EQ(f.size(), n);
                    EXPECT_LE(at, left);
                    templates_[id] = f;
                    d.templates.push_back(id);
                    p += at;
                    left -= at;
                }
                EXPECT_EQ(left, 0u);
            } else {
                EXPECT_GE(set_id, 256);
                const auto t = templates_.find(set_id);
                EXPECT_NE(t, templates_.end()) << "data set " << set_id << " before its template";
                if (t == templates_.end()) return d;
                size_t rec_len = 0;
                for (const Field& f : t->second) rec_len += f.len;
                while (left >= rec_len) {
                    DecodedRecord r;
                    r.template_id = set_id;
                    for (const Field& f : t->second) {
                        r.fields[f.id].assign(p, p + f.len);
                        p += f.len;
                    }
                    left -= rec_len;
                    d.records.push_back(std::move(r));
                }
                EXPECT_LT(left, 4u) << "padding shorter than four bytes";
                for (size_t i = 0; i < left; ++i) EXPECT_EQ(p[i], 0) << "padding is zeros";
            }
            off += set_len;
        }
        return d;
    }
    const std::vector<Field>* fields(uint16_t id) const {
        const auto t = templates_.find(id);
        return t == templates_.end() ? nullptr : &t->second;
    }

  private:
    std::map<uint16_t, std::vector<Field>> templates_;
};

std::array<uint8_t, 16> v4(const char* s) {
    std::array<uint8_t, 16> a{};
    inet_pton(AF_INET, s, a.data());
    return a;
}
std::array<uint8_t, 16> v6(const char* s) {
    std::array<uint8_t, 16> a{};
    inet_pton(AF_INET6, s, a.data());
    return a;
}

Record tcp4(uint16_t sport) {
    Record r;
    r.has = Record::kPorts | Record::kTcpFlags;
    r.family = 4;
    r.proto = 6;
    r.src = v4("198.18.0.1");
    r.dst = v4("198.18.0.2");
    r.sport = sport;
    r.dport = 443;
    r.tcp_flags = 0x1b;
    r.octets = 1234;
    r.packets = 7;
    r.start_ms = 1'700'000'000'123;
    r.end_ms = 1'700'000'004'567;
    r.end_reason = EndReason::IdleTimeout;
    return r;
}
Record udp6(uint16_t sport) {
    Record r;
    r.has = Record::kPorts;
    r.family = 6;
    r.proto = 17;
    r.src = v6("2001:db8::1");
    r.dst = v6("2001:db8::2");
    r.sport = sport;
    r.dport = 53;
    r.octets = 5000;
    r.packets = 50;
    r.start_ms = 1'700'000'000'000;
    r.end_ms = 1'700'000'000'999;
    r.end_reason = EndReason::ActiveTimeout;
    return r;
}
Record icmp4() {
    Record r;
    r.has = Record::kIcmp;
    r.family = 4;
    r.proto = 1;
    r.src = v4("198.18.0.1");
    r.dst = v4("198.18.0.3");
    r.icmp_type_code = 8 << 8;
    r.octets = 84;
    r.packets = 1;
    r.start_ms = r.end_ms = 1'700'000'000'500;
    return r;
}
Record icmp6() {
    Record r;
    r.has = Record::kIcmp | Record::kIngress | Record::kDirection | Record::kObservationPoint;
    r.family = 6;
    r.proto = 58;
    r.src = v6("2001:db8::1");
    r.dst = v6("2001:db8::3");
    r.icmp_type_code = 129 << 8;
    r.ingress_if = 3;
    r.direction = 0;
    r.observation_point = 9;
    r.octets = 104;
    r.packets = 1;
    r.start_ms = r.end_ms = 1'700'000'000'600;
    r.end_reason = EndReason::LackOfResources;
    return r;
}

std::vector<uint16_t> ids(const std::vector<Field>& f) {
    std::vector<uint16_t> v;
    for (const Field& x : f) v.push_back(x.id);
    return v;
}

TEST(IpfixEncoder, OneRecordDecodedFieldByField) {
    MessageBuilder b(1472);
    ASSERT_TRUE(b.add(tcp4(40000)));
    const auto bytes = b.finish(1'700'000'010, 42, 7);
    const std::vector<uint8_t> msg(bytes.begin(), bytes.end());
    EXPECT_TRUE(b.empty());

    Decoder c;
    const DecodedMessage d = c.decode(msg);
    EXPECT_EQ(d.version, 10);
    EXPECT_EQ(d.export_time, 1'700'000'010u);
    EXPECT_EQ(d.sequence, 42u);
    EXPECT_EQ(d.domain, 7u);
    EXPECT_EQ(d.set_ids, (std::vector<uint16_t>{2, 256}));
    ASSERT_EQ(d.templates, (std::vector<uint16_t>{256}));
    EXPECT_EQ(ids(*c.fields(256)),
              (std::vector<uint16_t>{8, 12, 7, 11, 4, 6, 60, 1, 2, 152, 153, 136}));
    // header 16 + template set (4 + 4 + 12 * 4) + data set (4 + 48 record + 0 padding)
    const size_t rec = 4 + 4 + 2 + 2 + 1 + 1 + 1 + 8 + 8 + 8 + 8 + 1;
    EXPECT_EQ(rec, 48u);
    EXPECT_EQ(msg.size(), 16u + 56 + 4 + 48);
    ASSERT_EQ(d.records.size(), 1u);
    const DecodedRecord& r = d.records[0];
    EXPECT_EQ(r.fields.at(kSourceIPv4Address), (std::vector<uint8_t>{198, 18, 0, 1}));
    EXPECT_EQ(r.fields.at(kDestinationIPv4Address), (std::vector<uint8_t>{198, 18, 0, 2}));
    EXPECT_EQ(r.u(kSourceTransportPort), 40000u);
    EXPECT_EQ(r.u(kDestinationTransportPort), 443u);
    EXPECT_EQ(r.u(kProtocolIdentifier), 6u);
    EXPECT_EQ(r.u(kTcpControlBits), 0x1bu);
    EXPECT_EQ(r.u(kIpVersion), 4u);
    EXPECT_EQ(r.u(kOctetDeltaCount), 1234u);
    EXPECT_EQ(r.u(kPacketDeltaCount), 7u);
    EXPECT_EQ(r.u(kFlowStartMilliseconds), 1'700'000'000'123u);
    EXPECT_EQ(r.u(kFlowEndMilliseconds), 1'700'000'004'567u);
    EXPECT_EQ(r.u(kFlowEndReason), 1u);
}

TEST(IpfixEncoder, EachFamilyAndTransportItsTemplateUnknownFieldsLeftOut) {
    MessageBuilder b(1472);
    ASSERT_TRUE(b.add(tcp4(1)));
    ASSERT_TRUE(b.add(udp6(2)));
    ASSERT_TRUE(b.add(icmp4()));
    ASSERT_TRUE(b.add(icmp6()));
    ASSERT_TRUE(b.add(tcp4(3)));  // into 256's set again
    const auto bytes = b.finish(0, 0, 0);
    const std::vector<uint8_t> msg(bytes.begin(), bytes.end());
    Decoder c;
    const DecodedMessage d = c.decode(msg);
    ASSERT_EQ(d.templates, (std::vector<uint16_t>{256, 257, 258, 259}));
    EXPECT_EQ(d.set_ids, (std::vector<uint16_t>{2, 256, 257, 258, 259}));
    EXPECT_EQ(ids(*c.fields(257)),
              (std::vector<uint16_t>{27, 28, 7, 11, 4, 60, 1, 2, 152, 153, 136}));
    EXPECT_EQ(ids(*c.fields(258)), (std::vector<uint16_t>{8, 12, 32, 4, 60, 1, 2, 152, 153, 136}));
    EXPECT_EQ(ids(*c.fields(259)),
              (std::vector<uint16_t>{27, 28, 139, 4, 60, 1, 2, 152, 153, 10, 61, 136, 138}));
    ASSERT_EQ(d.records.size(), 5u);
    EXPECT_EQ(d.records[0].u(kSourceTransportPort), 1u);
    EXPECT_EQ(d.records[1].u(kSourceTransportPort), 3u);  // grouped by template
    EXPECT_EQ(d.records[2].template_id, 257);
    const auto a6 = v6("2001:db8::1");
    EXPECT_EQ(d.records[2].fields.at(kSourceIPv6Address),
              std::vector<uint8_t>(a6.begin(), a6.end()));
    EXPECT_EQ(d.records[2].u(kSourceTransportPort), 2u);
    EXPECT_EQ(d.records[2].u(kFlowEndReason), 2u);
    EXPECT_FALSE(d.records[2].has(kTcpControlBits));
    EXPECT_EQ(d.records[3].u(kIcmpTypeCodeIPv4), 0x0800u);
    EXPECT_FALSE(d.records[3].has(kSourceTransportPort));
    EXPECT_FALSE(d.records[3].has(kIngressInterface));
    EXPECT_EQ(d.records[4].u(kIcmpTypeCodeIPv6), 129u << 8);
    EXPECT_EQ(d.records[4].u(kIngressInterface), 3u);
    EXPECT_EQ(d.records[4].u(kFlowDirection), 0u);
    EXPECT_EQ(d.records[4].u(kObservationPointId), 9u);
    EXPECT_EQ(d.records[4].u(kFlowEndReason), 5u);
    EXPECT_FALSE(d.records[4].has(kEgressInterface));
    // The ICMPv4 record is 4+4+2+1+1+8*4+1 = 45 bytes: its set padded with 3 zeros.
    size_t off = 16;
    std::vector<uint16_t> lens;
    while (off < msg.size()) {
        lens.push_back(static_cast<uint16_t>(be(&msg[off + 2], 2)));
        off += lens.back();
    }
    EXPECT_EQ(lens[3], 4 + 48);
}

TEST(IpfixEncoder, AFlowsProcessInItsOwnTemplateAsEnterpriseElements) {
    MessageBuilder b(1472);
    Record p = tcp4(1);
    p.has |= Record::kProcess;
    p.pid = 4242;
    p.uid = 1000;
    p.cgroup_id = 0x0102030405060708;
    std::memcpy(p.comm.data(), "python3", 7);
    ASSERT_TRUE(b.add(tcp4(2)));
    ASSERT_TRUE(b.add(p));
    const auto bytes = b.finish(0, 0, 0);
    const std::vector<uint8_t> msg(bytes.begin(), bytes.end());
    Decoder c;
    const DecodedMessage d = c.decode(msg);
    ASSERT_EQ(d.templates, (std::vector<uint16_t>{256, 257}));
    const std::vector<Field>& f = *c.fields(257);
    ASSERT_EQ(f.size(), 16u);
    EXPECT_EQ(ids(std::vector<Field>(f.begin(), f.begin() + 12)), ids(*c.fields(256)));
    for (size_t i = 12; i < 16; ++i) EXPECT_EQ(f[i].enterprise, 32473u) << i;
    EXPECT_EQ(ids(std::vector<Field>(f.begin() + 12, f.end())),
              (std::vector<uint16_t>{0x8001, 0x8002, 0x8003, 0x8004}));
    // Template set: 4 + (4 + 12 * 4) + (4 + 16 * 4 + 4 * 4); data sets 4 + 48, 4 + 80.
    EXPECT_EQ(msg.size(), 16u + 4 + 52 + 84 + 52 + 84);
    ASSERT_EQ(d.records.size(), 2u);
    EXPECT_FALSE(d.records[0].has(0x8001));
    const DecodedRecord& r = d.records[1];
    EXPECT_EQ(r.u(kSourceTransportPort), 1u);
    EXPECT_EQ(r.u(0x8001), 4242u);
    EXPECT_EQ(r.u(0x8002), 1000u);
    EXPECT_EQ(r.u(0x8003), 0x0102030405060708u);
    const std::vector<uint8_t> comm = {'p', 'y', 't', 'h', 'o', 'n', '3', 0,
                                       0,   0,   0,   0,   0,   0,   0,   0};
    EXPECT_EQ(r.fields.at(0x8004), comm);
}

TEST(IpfixEncoder, TemplatesOnlyOncePerSessionUntilResent) {
    MessageBuilder b(1472);
    Decoder c;
    ASSERT_TRUE(b.add(tcp4(1)));
    auto d = c.decode(b.finish(0, 0, 0));
    EXPECT_EQ(d.templates.size(), 1u);
    ASSERT_TRUE(b.add(tcp4(2)));
    d = c.decode(b.finish(0, 1, 0));
    EXPECT_TRUE(d.templates.empty());
    EXPECT_EQ(d.set_ids, (std::vector<uint16_t>{256}));
    b.resend_templates();
    ASSERT_TRUE(b.add(tcp4(3)));
    Decoder fresh;  // a collector that saw nothing before
    d = fresh.decode(b.finish(0, 2, 0));
    EXPECT_EQ(d.templates, (std::vector<uint16_t>{256}));
    EXPECT_EQ(d.records.size(), 1u);
}

TEST(IpfixEncoder, MessageSizeOutOfRangeRefused) {
    EXPECT_THROW(MessageBuilder(min_message_size() - 1), std::invalid_argument);
    EXPECT_THROW(MessageBuilder(65536), std::invalid_argument);
    MessageBuilder ok(min_message_size());
    Record r = udp6(1);
    r.has = 0xff;
    EXPECT_TRUE(ok.add(r));
    EXPECT_LE(ok.finish(0, 0, 0).size(), min_message_size());
}

// ---------------------------------------------------------------------------------------------
// The exporter over a fake transport and clock.

struct FakeClock {
    uint64_t mono = 0;
    uint64_t real = kT0;
    uint64_t slept = 0;
    size_t sleeps = 0;
    Clock clock() {
        return {[this] { return real; }, [this] { return mono; },
                [this](uint64_t ns) {
                    slept += ns;
                    ++sleeps;
                    advance(ns);
                }};
    }
    void advance(uint64_t ns) {
        mono += ns;
        real += ns;
    }
};

struct FakeTransport final : Transport {
    struct Shared {
        std::vector<std::vector<uint8_t>> sent;
        std::vector<uint64_t> sessions;  // of each message sent
        bool is_ready = true;
        uint64_t session = 1;
        bool datagram = true;
        std::deque<int> errors;  // the next sends' results (0 when empty)
    };
    explicit FakeTransport(Shared& s) : s_(s) {}
    bool ready(uint64_t) override { return s_.is_ready; }
    uint64_t session() const override { return s_.session; }
    int send(std::span<const uint8_t> m) override {
        if (!s_.errors.empty()) {
            const int e = s_.errors.front();
            s_.errors.pop_front();
            if (e) return e;
        }
        s_.sent.emplace_back(m.begin(), m.end());
        s_.sessions.push_back(s_.session);
        return 0;
    }
    bool datagram() const override { return s_.datagram; }
    std::string not_ready_reason() const override { return "not connected: Connection refused"; }
    Shared& s_;
};

struct Rig {
    FakeTransport::Shared net;
    FakeClock clk;
    std::optional<Exporter> ex;
    explicit Rig(ExporterConfig cfg = {}, bool datagram = true) {
        net.datagram = datagram;
        ex.emplace(cfg, std::make_unique<FakeTransport>(net), clk.clock());
    }
};

// A mix of both families, ports and ICMP: record i.
Record mixed(size_t i) {
    switch (i % 4) {
        case 0:
            return tcp4(static_cast<uint16_t>(i));
        case 1:
            return udp6(static_cast<uint16_t>(i));
        case 2:
            return icmp4();
        default:
            return icmp6();
    }
}

TEST(IpfixExporter, SequenceCountsDataRecordsSentBeforeEachMessage) {
    ExporterConfig cfg;
    cfg.observation_domain = 5;
    cfg.max_message = 600;
    Rig rig(cfg);
    for (size_t i = 0; i < 1000; ++i) rig.ex->add(mixed(i));
    rig.ex->finish();
    ASSERT_GT(rig.net.sent.size(), 10u);
    Decoder c;
    uint32_t expect = 0;
    size_t total = 0;
    for (const auto& m : rig.net.sent) {
        const DecodedMessage d = c.decode(m);
        EXPECT_EQ(d.sequence, expect);
        EXPECT_EQ(d.domain, 5u);
        EXPECT_EQ(d.export_time, 1'700'000'000u);
        expect += static_cast<uint32_t>(d.records.size());
        total += d.records.size();
    }
    EXPECT_EQ(total, 1000u);
    EXPECT_EQ(rig.ex->sequence(), 1000u);
    EXPECT_EQ(rig.ex->stats().records_sent, 1000u);
    EXPECT_EQ(rig.ex->stats().messages_sent, rig.net.sent.size());
    EXPECT_EQ(rig.ex->stats().template_sends, 4u);
    EXPECT_EQ(rig.ex->stats().records_not_sent, 0u);
}

TEST(IpfixExporter, MessagesNeverExceedTheLimitAndAreFilled) {
    for (const size_t limit : {min_message_size(), size_t{512}, size_t{1232}, size_t{1452},
                               size_t{1472}, size_t{8952}}) {
        for (const size_t stride : {1, 2, 3, 4}) {
            ExporterConfig cfg;
            cfg.max_message = limit;
            Rig rig(cfg);
            // stride 1: one layout; 4: each record another layout than the last.
            for (size_t i = 0; i < 3000; ++i) rig.ex->add(mixed(i % stride));
            rig.ex->finish();
            Decoder c;
            size_t total = 0;
            for (size_t k = 0; k < rig.net.sent.size(); ++k) {
                const auto& m = rig.net.sent[k];
                EXPECT_LE(m.size(), limit) << "limit " << limit << " stride " << stride;
                // Filled: what is left is less than a new set of the biggest record
                // (85 bytes, set header 4, padding 3) and its template (4 + 4 + 13 * 4).
                if (k + 1 < rig.net.sent.size()) {
                    EXPECT_GT(m.size() + 4 + 88 + 4 + 56, limit)
                        << "limit " << limit << " stride " << stride << " message " << k;
                }
                total += c.decode(m).records.size();
            }
            EXPECT_EQ(total, 3000u);
        }
    }
}

TEST(IpfixExporter, NoDataBeforeItsTemplateOnEverySession) {
    ExporterConfig cfg;
    cfg.max_message = 512;
    Rig rig(cfg, /*datagram=*/false);
    for (size_t i = 0; i < 100; ++i) rig.ex->add(mixed(i));
    rig.ex->finish();
    rig.net.session = 2;  // reconnected
    for (size_t i = 0; i < 100; ++i) rig.ex->add(mixed(i + 1));
    rig.ex->finish();
    // Each session decoded by a collector that saw only that session.
    std::map<uint64_t, Decoder> per_session;
    std::map<uint64_t, size_t> records;
    std::map<uint64_t, size_t> templates;
    for (size_t k = 0; k < rig.net.sent.size(); ++k) {
        const uint64_t s = rig.net.sessions[k];
        const DecodedMessage d = per_session[s].decode(rig.net.sent[k]);
        records[s] += d.records.size();
        templates[s] += d.templates.size();
    }
    EXPECT_EQ(records[1] + records[2], 200u);
    EXPECT_EQ(templates[1], 4u);
    EXPECT_EQ(templates[2], 4u);
    EXPECT_FALSE(HasFailure()) << "a data set came before its template";
}

TEST(IpfixExporter, TemplatesRefreshedOverUdpNotOverTcp) {
    for (const bool datagram : {true, false}) {
        ExporterConfig cfg;
        cfg.template_refresh_ns = 10 * kSec;
        Rig rig(cfg, datagram);
        // One record every 0.5 s for 25 s; each goes on its own at the next record (1 s).
        for (int i = 0; i < 50; ++i) {
            rig.ex->add(tcp4(static_cast<uint16_t>(i)));
            rig.clk.advance(kSec / 2);
            rig.ex->tick();
        }
        rig.ex->finish();
        std::vector<uint64_t> when;  // seconds since start of the messages with templates
        Decoder c;
        for (size_t k = 0; k < rig.net.sent.size(); ++k)
            if (!c.decode(rig.net.sent[k]).templates.empty()) when.push_back(k);
        // Messages go at 1 s, 2 s, ... (the record of t, flushed at t + 1 s): message k holds
        // the records of 0.5 s steps 2k, 2k + 1; templates with the records of 0, 10, 20 s.
        if (datagram)
            EXPECT_EQ(when, (std::vector<uint64_t>{0, 10, 20}));
        else
            EXPECT_EQ(when, (std::vector<uint64_t>{0}));
    }
}

TEST(IpfixExporter, FlushedOnceTheFirstRecordIsASecondOld) {
    Rig rig;
    rig.ex->add(tcp4(1));
    rig.clk.advance(kSec / 2);
    rig.ex->add(tcp4(2));
    rig.clk.advance(kSec / 2 - 1);
    rig.ex->tick();
    EXPECT_EQ(rig.net.sent.size(), 0u);
    rig.clk.advance(1);
    rig.ex->tick();
    ASSERT_EQ(rig.net.sent.size(), 1u);
    Decoder c;
    EXPECT_EQ(c.decode(rig.net.sent[0]).records.size(), 2u);
    rig.ex->tick();
    EXPECT_EQ(rig.net.sent.size(), 1u);  // nothing more to send
}

TEST(IpfixExporter, PacedMessagesWaitTheirInterval) {
    ExporterConfig cfg;
    cfg.max_message = 512;
    cfg.message_interval_ns = kSec / 1000;
    Rig rig(cfg);
    for (size_t i = 0; i < 100; ++i) rig.ex->add(tcp4(static_cast<uint16_t>(i)));
    rig.ex->finish();
    // 48-byte records: 9 in the first 512-byte message (with the template), 10 in each later
    // one: 11 messages, the first at once, each later one a millisecond after the one before.
    ASSERT_EQ(rig.net.sent.size(), 11u);
    EXPECT_EQ(rig.clk.slept, 10 * kSec / 1000);
    EXPECT_EQ(rig.ex->stats().records_sent, 100u);
}

// A burst of messages back to back, then one sleep for the burst's intervals: the same rate,
// a quarter of the wakeups.
TEST(IpfixExporter, PacedInBurstsOneSleepEach) {
    ExporterConfig cfg;
    cfg.max_message = 512;
    cfg.message_interval_ns = kSec / 1000;
    cfg.message_burst = 4;
    Rig rig(cfg);
    std::vector<uint64_t> sent_at;  // the clock when each message went
    for (size_t i = 0; i < 100; ++i) {
        rig.ex->add(tcp4(static_cast<uint16_t>(i)));
        if (sent_at.size() < rig.net.sent.size()) sent_at.push_back(rig.clk.mono);
    }
    rig.ex->finish();
    if (sent_at.size() < rig.net.sent.size()) sent_at.push_back(rig.clk.mono);
    // 11 messages as above: 4 at 0 ms, 4 at 4 ms, 3 at 8 ms.
    ASSERT_EQ(rig.net.sent.size(), 11u);
    const uint64_t ms = kSec / 1000;
    EXPECT_EQ(sent_at, (std::vector<uint64_t>{0, 0, 0, 0, 4 * ms, 4 * ms, 4 * ms, 4 * ms, 8 * ms,
                                              8 * ms, 8 * ms}));
    EXPECT_EQ(rig.clk.sleeps, 2u);
    EXPECT_EQ(rig.ex->stats().records_sent, 100u);
}

// A live capture sends as messages fill; once it stops, pace() makes the final flush wait as a
// file read's does.
TEST(IpfixExporter, PacedFromWhenTheCaptureStops) {
    ExporterConfig cfg;
    cfg.max_message = 512;
    Rig rig(cfg);
    for (size_t i = 0; i < 50; ++i) rig.ex->add(tcp4(static_cast<uint16_t>(i)));
    EXPECT_EQ(rig.clk.slept, 0u);  // 5 messages back to back (9, then 10 each), 9 records held
    const size_t before = rig.net.sent.size();
    rig.ex->pace(kSec / 1000);
    for (size_t i = 50; i < 100; ++i) rig.ex->add(tcp4(static_cast<uint16_t>(i)));
    rig.ex->finish();
    ASSERT_EQ(rig.net.sent.size(), 11u);
    EXPECT_EQ(before, 5u);
    // The first paced message goes at once (the last unpaced one set no interval); the clock
    // does not move by itself, so each of the 5 after it slept a millisecond.
    EXPECT_EQ(rig.clk.slept, 5 * kSec / 1000);
    EXPECT_EQ(rig.ex->stats().records_sent, 100u);
}

TEST(IpfixExporter, FailedSendsCountedWithReasonNotInTheSequenceTemplatesAgain) {
    Rig rig;
    rig.ex->add(tcp4(1));
    rig.clk.advance(kSec);
    rig.ex->tick();  // message 1: sent
    rig.net.errors = {ECONNREFUSED};
    rig.ex->add(tcp4(2));
    rig.ex->add(tcp4(3));
    rig.clk.advance(kSec);
    rig.ex->tick();  // message 2: refused, and so was message 1 (the error a send reports is
                     // an earlier datagram's)
    rig.ex->add(tcp4(4));
    rig.ex->finish();  // message 3: sent, with the template again (the collector may be new)
    ASSERT_EQ(rig.net.sent.size(), 2u);
    Decoder c1;
    EXPECT_EQ(c1.decode(rig.net.sent[0]).sequence, 0u);
    Decoder c2;
    const DecodedMessage d = c2.decode(rig.net.sent[1]);
    EXPECT_EQ(d.sequence, 1u);
    EXPECT_EQ(d.templates, (std::vector<uint16_t>{256}));
    EXPECT_EQ(rig.ex->stats().records_sent, 1u);
    EXPECT_EQ(rig.ex->stats().records_not_sent, 3u);
    EXPECT_EQ(rig.ex->stats().messages_not_sent, 2u);
    EXPECT_EQ(export_summary(rig.ex->stats(), "127.0.0.1:4739"),
              "1 flow records exported to 127.0.0.1:4739, 3 not sent (Connection refused)");
}

TEST(IpfixExporter, RecordsWhileDisconnectedCountedNotSent) {
    Rig rig({}, /*datagram=*/false);
    rig.ex->add(tcp4(1));
    rig.clk.advance(kSec);
    rig.ex->tick();
    rig.net.is_ready = false;
    for (int i = 0; i < 5; ++i) rig.ex->add(tcp4(2));
    rig.net.errors = {EPIPE};
    rig.net.is_ready = true;
    rig.net.session = 2;
    rig.ex->add(tcp4(3));
    rig.clk.advance(kSec);
    rig.ex->tick();  // broken pipe
    rig.ex->add(tcp4(4));
    rig.ex->finish();
    EXPECT_EQ(rig.ex->stats().records_sent, 2u);
    EXPECT_EQ(rig.ex->stats().records_not_sent, 6u);
    EXPECT_EQ(export_summary(rig.ex->stats(), "[::1]:4739"),
              "2 flow records exported to [::1]:4739, 6 not sent (not connected: Connection "
              "refused: 5, Broken pipe: 1)");
    EXPECT_EQ(export_summary(ExportStats{}, "x:1"), "0 flow records exported to x:1");
}

// ---------------------------------------------------------------------------------------------
// HOST:PORT

TEST(IpfixCollector, HostPortForms) {
    struct Case {
        const char* spec;
        const char* host;
        uint16_t port;
        const char* text;
    };
    for (const Case& c : {
             Case{"127.0.0.1:2055", "127.0.0.1", 2055, "127.0.0.1:2055"},
             Case{"127.0.0.1", "127.0.0.1", 4739, "127.0.0.1:4739"},
             Case{"[::1]:9995", "::1", 9995, "[::1]:9995"},
             Case{"[2001:db8::7]", "2001:db8::7", 4739, "[2001:db8::7]:4739"},
             Case{"2001:db8::7", "2001:db8::7", 4739, "[2001:db8::7]:4739"},
             Case{"collector.example:65535", "collector.example", 65535, "collector.example:65535"},
             Case{"localhost", "localhost", 4739, "localhost:4739"},
         }) {
        const Collector got = parse_collector(c.spec);
        EXPECT_EQ(got.host, c.host) << c.spec;
        EXPECT_EQ(got.port, c.port) << c.spec;
        EXPECT_EQ(got.text(), c.text) << c.spec;
    }
}

TEST(IpfixCollector, MalformedSaysWhatItWants) {
    const std::string tail = " (HOST:PORT, [IPv6]:PORT, or HOST for port 4739)";
    for (const auto& [spec, why] : std::vector<std::pair<std::string, std::string>>{
             {"", "is empty"},
             {":4739", "has no host"},
             {"127.0.0.1:", "has no port 1 to 65535"},
             {"127.0.0.1:0", "has no port 1 to 65535"},
             {"127.0.0.1:65536", "has no port 1 to 65535"},
             {"127.0.0.1:47x", "has no port 1 to 65535"},
             {"127.0.0.1:-1", "has no port 1 to 65535"},
             {"[::1", "has no closing ']'"},
             {"[::1]4739", "has something other than :PORT after ']'"},
             {"[nothost]:1", "has no IPv6 address in []"},
             {"::1:4739x", "is not an IPv6 address (with a port: [ADDRESS]:PORT)"},
             {"a b:1", "has no host name or address before the port"},
         }) {
        try {
            parse_collector(spec);
            ADD_FAILURE() << "accepted '" << spec << "'";
        } catch (const UsageError& e) {
            EXPECT_EQ(std::string(e.what()), "--ipfix: '" + spec + "' " + why + tail);
        }
    }
}

TEST(IpfixCollector, ResolvesAddressesAndRefusesUnknownNames) {
    const Address a = resolve_collector(parse_collector("127.0.0.1:2055"));
    ASSERT_EQ(a.family(), AF_INET);
    EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&a.addr)->sin_port), 2055);
    const Address b = resolve_collector(parse_collector("[::1]"));
    ASSERT_EQ(b.family(), AF_INET6);
    EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in6*>(&b.addr)->sin6_port), 4739);
    try {
        resolve_collector(parse_collector("no-such-host.invalid:9"));
        ADD_FAILURE() << "resolved .invalid";
    } catch (const UsageError& e) {
        EXPECT_EQ(
            std::string(e.what()).rfind("--ipfix: cannot resolve 'no-such-host.invalid': ", 0), 0u)
            << e.what();
    }
}

TEST(IpfixCollector, MaxMessageForMtu) {
    EXPECT_EQ(max_message_for_mtu(1500, AF_INET), 1472u);
    EXPECT_EQ(max_message_for_mtu(1500, AF_INET6), 1452u);
    EXPECT_EQ(max_message_for_mtu(20, AF_INET), 0u);
}

// ---------------------------------------------------------------------------------------------
// Real sockets on loopback (no root needed).

Address loopback(uint16_t port) {
    return resolve_collector(parse_collector("127.0.0.1:" + std::to_string(port)));
}

uint16_t port_of(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

Fd bound(int type) {
    Fd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
}

std::vector<uint8_t> recv_datagram(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return {};
    std::vector<uint8_t> b(65536);
    const ssize_t n = ::recv(fd, b.data(), b.size(), 0);
    b.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return b;
}

TEST(IpfixTransport, UdpDeliversAndCountsPortUnreachable) {
    Fd rx = bound(SOCK_DGRAM);
    const uint16_t port = port_of(rx.get());
    FakeClock clk;
    Exporter ex({}, make_transport(TransportKind::Udp, loopback(port)), clk.clock());
    ex.add(tcp4(1));
    ex.add(udp6(2));
    ex.finish();
    Decoder c;
    const DecodedMessage d = c.decode(recv_datagram(rx.get()));
    ASSERT_EQ(d.records.size(), 2u);
    EXPECT_EQ(d.records[1].u(kSourceTransportPort), 2u);

    // Nobody on the port: the kernel's ICMP port unreachable for a datagram that went comes
    // back as ECONNREFUSED (on the socket at the next tick, or on the next send, which then
    // does not go either): every record is counted not sent; never an exception.
    rx.reset();
    for (int i = 0; i < 4; ++i) {
        ex.add(tcp4(static_cast<uint16_t>(10 + i)));
        clk.advance(kSec);
        ex.tick();
    }
    ex.finish();
    EXPECT_EQ(ex.stats().records_sent + ex.stats().records_not_sent, 6u);
    EXPECT_EQ(ex.stats().records_not_sent, 4u);
    EXPECT_EQ(export_summary(ex.stats(), "127.0.0.1:" + std::to_string(port)),
              "2 flow records exported to 127.0.0.1:" + std::to_string(port) +
                  ", 4 not sent (Connection refused)");
}

// Reads whole IPFIX messages off a TCP stream.
std::vector<std::vector<uint8_t>> read_messages(int fd, size_t want) {
    std::vector<std::vector<uint8_t>> out;
    std::vector<uint8_t> buf;
    while (out.size() < want) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) != 1) break;
        uint8_t tmp[65536];
        const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) break;
        buf.insert(buf.end(), tmp, tmp + n);
        while (buf.size() >= 4) {
            const size_t len = be(&buf[2], 2);
            if (len < 16 || buf.size() < len) break;
            out.emplace_back(buf.begin(), buf.begin() + static_cast<long>(len));
            buf.erase(buf.begin(), buf.begin() + static_cast<long>(len));
        }
    }
    return out;
}

TEST(IpfixTransport, TcpReconnectsWithBackoffAndSendsTemplatesAgain) {
    Fd lst = bound(SOCK_STREAM);
    ASSERT_EQ(::listen(lst.get(), 4), 0);
    const uint16_t port = port_of(lst.get());
    FakeClock clk;
    TransportOptions opt;
    opt.backoff_min_ns = 2 * kSec;
    Exporter ex({}, make_transport(TransportKind::Tcp, loopback(port), opt), clk.clock());
    Fd conn(::accept4(lst.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(conn);
    ex.add(tcp4(1));
    clk.advance(kSec);
    ex.tick();
    auto msgs = read_messages(conn.get(), 1);
    ASSERT_EQ(msgs.size(), 1u);
    Decoder first;
    EXPECT_EQ(first.decode(msgs[0]).templates.size(), 1u);

    // The collector goes: its end of the connection is seen before the next message is
    // written into it, the records count as not sent until the connection is made again
    // (no sooner than the backoff).
    conn.reset();
    ::usleep(20'000);
    ex.add(tcp4(2));
    clk.advance(kSec);
    ex.add(tcp4(3));
    EXPECT_EQ(ex.stats().records_not_sent, 2u);
    clk.advance(kSec);  // 2 s since the loss
    ex.add(tcp4(4));
    conn.reset(::accept4(lst.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(conn);
    ex.finish();
    msgs = read_messages(conn.get(), 1);
    ASSERT_EQ(msgs.size(), 1u);
    Decoder second;  // knows nothing of the first connection
    const DecodedMessage d = second.decode(msgs[0]);
    EXPECT_EQ(d.templates.size(), 1u);
    ASSERT_EQ(d.records.size(), 1u);
    EXPECT_EQ(d.records[0].u(kSourceTransportPort), 4u);
    EXPECT_EQ(d.sequence, 1u);
    EXPECT_EQ(ex.stats().records_sent, 2u);
    EXPECT_EQ(ex.stats().records_not_sent, 2u);
    EXPECT_EQ(ex.stats().not_sent_reasons.size(), 1u);
    EXPECT_EQ(ex.stats().not_sent_reasons[0].first, "not connected: Connection reset by peer");
}

}  // namespace
}  // namespace hookdump::ipfix

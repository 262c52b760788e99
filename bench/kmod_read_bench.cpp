// The netlink readers' userspace cost per event, natively and without the module: datagrams
// built as the kernel builds them, handed to the engines' datagram handling, a Pipeline and
// one sink writing to /dev/null (or to a file on tmpfs with --benchmark_filter=.*/shm).
//   BM_KmodRead/<sink>   hookdump.ko's messages (190 HOOKDUMP_A_EVENT a datagram, a UDP
//                        datagram of 46 bytes each: 5-tuple only, or with its bytes for pcap)
//                        through KmodEventReader, as `capture --engine kmod`
//   BM_NflogRead/<sink>  nfnetlink_log's messages for the same packets (32 a datagram, as
//                        nft `log group` sends them) through NflogReader, as `capture --engine
//                        nflog`
//   BM_TcpdumpNflog      what tcpdump -i nflog:N -w does with them in userspace: libpcap's
//                        attribute walk, then pcap_dump (two fwrite into a 4 KiB stdio buffer)
//   BM_AfPacketFill/<sink>  for reference, the AF_PACKET engine's per-frame work (parse the
//                        Ethernet frame, batches of 64 to the pipeline) on the same packets
// "ns_per_event" is the figure to read; the syscall that receives a datagram is not included
// (one a datagram for every reader).
#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <pcap/pcap.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/pipeline.h"
#include "engine/kmod_datagram.h"
#include "engine/kmod_engine.h"
#include "engine/nflog_engine.h"
#include "packet/builder.h"
#include "sink/sinks.h"

using namespace hookdump;

namespace {

constexpr uint16_t kFamily = 0x1d;
constexpr size_t kKmodEvents = 190;  // what a message held in kmod_vm_bench.sh's rounds
constexpr size_t kNflogEvents = 32;

enum SinkKind { kNone, kCsv, kJsonl, kPcap, kCsvShm, kSinkKinds };
const char* const kSinkNames[kSinkKinds] = {"none", "csv", "jsonl", "pcap", "csv_shm"};
constexpr const char* kShmPath = "/dev/shm/hookdump-kmod-read-bench.csv";  // removed at the end

std::vector<uint8_t> udp_packet(uint16_t sport) {
    return PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udp(sport, 9).payload(18).build();
}

std::vector<char> kmod_datagram(bool with_bytes) {
    KmodDatagramBuilder b(kFamily);
    for (size_t i = 0; i < kKmodEvents; ++i) {
        hookdump_event e{};
        e.ts_ns = 1700000000000000000ull + i * 1000;
        e.netns_cookie = 4096;
        e.len = 46;
        e.iif = 1;  // lo: a name to look up
        e.sport = static_cast<uint16_t>(1024 + i);
        e.dport = 9;
        inet_pton(AF_INET, "198.18.0.1", e.src);
        inet_pton(AF_INET, "198.18.0.2", e.dst);
        e.family = AF_INET;
        e.proto = 17;
        e.hook = HOOKDUMP_HOOK_PRE_ROUTING;
        e.flags = HOOKDUMP_EV_PORTS;
        e.thoff = 20;
        const auto bytes = udp_packet(e.sport);
        b.add(e, with_bytes ? std::span<const uint8_t>(bytes) : std::span<const uint8_t>());
    }
    return b.datagram();
}

void put_attr(std::vector<char>& m, uint16_t type, const void* data, size_t len) {
    const size_t at = m.size();
    m.resize(at + NFA_ALIGN(NFA_LENGTH(len)));
    nfattr a{static_cast<uint16_t>(NFA_LENGTH(len)), type};
    std::memcpy(m.data() + at, &a, sizeof a);
    std::memcpy(m.data() + at + sizeof a, data, len);
}

// nfnetlink_log's message for a packet logged at prerouting from a veth (__build_packet_message:
// packet header, prefix, input interface, hardware header, timestamp, payload).
std::vector<char> nflog_datagram() {
    std::vector<char> d;
    for (size_t i = 0; i < kNflogEvents; ++i) {
        std::vector<char> m(NLMSG_HDRLEN + sizeof(nfgenmsg));
        auto* nfg = reinterpret_cast<nfgenmsg*>(m.data() + NLMSG_HDRLEN);
        nfg->nfgen_family = AF_INET;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = htons(5);
        nfulnl_msg_packet_hdr ph{htons(0x0800), 0, {}};
        put_attr(m, NFULA_PACKET_HDR, &ph, sizeof ph);
        put_attr(m, NFULA_PREFIX, "", 1);
        const uint32_t indev = htonl(1);
        put_attr(m, NFULA_IFINDEX_INDEV, &indev, 4);
        const uint16_t hwtype = htons(1), hwlen = htons(14);
        put_attr(m, NFULA_HWTYPE, &hwtype, 2);
        put_attr(m, NFULA_HWLEN, &hwlen, 2);
        const uint8_t hw[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0};
        put_attr(m, NFULA_HWHEADER, hw, sizeof hw);
        nfulnl_msg_packet_timestamp ts{htobe64(1700000000), htobe64(i)};
        put_attr(m, NFULA_TIMESTAMP, &ts, sizeof ts);
        const auto bytes = udp_packet(static_cast<uint16_t>(1024 + i));
        put_attr(m, NFULA_PAYLOAD, bytes.data(), bytes.size());
        auto* nlh = reinterpret_cast<nlmsghdr*>(m.data());
        nlh->nlmsg_len = static_cast<uint32_t>(m.size());
        nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
        d.insert(d.end(), m.begin(), m.end());
    }
    return d;
}

std::unique_ptr<Pipeline> pipeline(int sink) {
    auto p = std::make_unique<Pipeline>();
    SinkOptions o;
    o.path = sink == kCsvShm ? kShmPath : "/dev/null";
    switch (sink) {
        case kCsv:
        case kCsvShm:
            p->add_sink(make_csv_sink(o));
            break;
        case kJsonl:
            p->add_sink(make_jsonl_sink(o));
            break;
        case kPcap:
            p->add_sink(make_pcap_sink(o));
            break;
    }
    return p;
}

void set_counters(benchmark::State& state, size_t per_iteration) {
    const auto events = static_cast<double>(state.iterations() * per_iteration);
    state.SetItemsProcessed(static_cast<int64_t>(events));
    state.counters["ns_per_event"] =
        benchmark::Counter(events, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void finish(Pipeline& p, int sink) {
    p.finish(Ledger{});
    if (sink == kCsvShm) unlink(kShmPath);
}

// Keeps a tmpfs file from growing without bound: truncated every so many datagrams.
void maybe_truncate(int sink, uint64_t& n) {
    if (sink == kCsvShm && ++n % 2048 == 0) {
        if (truncate(kShmPath, 0) != 0) n = 0;
    }
}

void BM_KmodRead(benchmark::State& state) {
    const int sink = static_cast<int>(state.range(0));
    const std::vector<char> d = kmod_datagram(sink == kPcap);
    auto p = pipeline(sink);
    KmodEventReader r(kFamily);
    InterfaceCounters c;
    uint64_t n = 0;
    for (auto _ : state) {
        r.handle_datagram(d.data(), d.size(), *p, c);
        maybe_truncate(sink, n);
    }
    finish(*p, sink);
    if (c.received != state.iterations() * kKmodEvents) state.SkipWithError("events lost");
    set_counters(state, kKmodEvents);
    state.SetLabel(kSinkNames[sink]);
}
BENCHMARK(BM_KmodRead)->DenseRange(0, kSinkKinds - 1)->ArgName("sink");

void BM_NflogRead(benchmark::State& state) {
    const int sink = static_cast<int>(state.range(0));
    const std::vector<char> d = nflog_datagram();
    auto p = pipeline(sink);
    NflogReader r;
    InterfaceCounters c;
    uint64_t n = 0;
    for (auto _ : state) {
        r.handle_datagram(d.data(), d.size(), *p, c);
        maybe_truncate(sink, n);
    }
    finish(*p, sink);
    if (c.received != state.iterations() * kNflogEvents) state.SkipWithError("events lost");
    set_counters(state, kNflogEvents);
    state.SetLabel(kSinkNames[sink]);
}
BENCHMARK(BM_NflogRead)->DenseRange(0, kSinkKinds - 1)->ArgName("sink");

// libpcap's netfilter_read_linux for NFLOG (DLT_NFLOG: the record is the message past the
// netlink header) and tcpdump's dump_packet (pcap_dump), per message.
void BM_TcpdumpNflog(benchmark::State& state) {
    const std::vector<char> d = nflog_datagram();
    pcap_t* dead = pcap_open_dead(DLT_NFLOG, 262144);
    pcap_dumper_t* dumper = pcap_dump_open(dead, "/dev/null");
    uint64_t packets = 0;
    for (auto _ : state) {
        int left = static_cast<int>(d.size());
        for (auto* nlh = reinterpret_cast<const nlmsghdr*>(d.data()); NLMSG_OK(nlh, left);
             nlh = NLMSG_NEXT(nlh, left)) {
            if ((nlh->nlmsg_type & 0xff) != NFULNL_MSG_PACKET) continue;
            const auto* nfg = static_cast<const nfgenmsg*>(NLMSG_DATA(nlh));
            const nfattr* payload = nullptr;
            pcap_pkthdr h{};
            bool have_ts = false;
            auto* a = reinterpret_cast<const nfattr*>(reinterpret_cast<const char*>(nfg) +
                                                      NLMSG_ALIGN(sizeof *nfg));
            int alen = static_cast<int>(nlh->nlmsg_len - NLMSG_ALIGN(NLMSG_LENGTH(sizeof *nfg)));
            for (; NFA_OK(a, alen); a = NFA_NEXT(a, alen)) {
                if (NFA_TYPE(a) == NFULA_PAYLOAD) payload = a;
                if (NFA_TYPE(a) == NFULA_TIMESTAMP) {
                    nfulnl_msg_packet_timestamp t;
                    std::memcpy(&t, NFA_DATA(a), sizeof t);
                    h.ts.tv_sec = static_cast<time_t>(be64toh(t.sec));
                    h.ts.tv_usec = static_cast<suseconds_t>(be64toh(t.usec));
                    have_ts = true;
                }
            }
            if (!payload) continue;
            if (!have_ts) gettimeofday(&h.ts, nullptr);
            h.caplen = h.len = nlh->nlmsg_len - NLMSG_HDRLEN;
            pcap_dump(reinterpret_cast<u_char*>(dumper), &h,
                      static_cast<const u_char*>(NLMSG_DATA(nlh)));
            ++packets;
        }
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
    benchmark::DoNotOptimize(packets);
    set_counters(state, kNflogEvents);
}
BENCHMARK(BM_TcpdumpNflog);

// AfPacketEngine::Ring::fill's work on an Ethernet frame (no ring), batches of 64.
void BM_AfPacketFill(benchmark::State& state) {
    const int sink = static_cast<int>(state.range(0));
    std::vector<std::vector<uint8_t>> frames;
    for (size_t i = 0; i < 64; ++i)
        frames.push_back(PacketBuilder()
                             .ethernet()
                             .ipv4("198.18.0.1", "198.18.0.2")
                             .udp(static_cast<uint16_t>(1024 + i), 9)
                             .payload(18)
                             .build());
    auto p = pipeline(sink);
    const bool parse = p->wants_parsed();
    std::vector<PacketEvent> batch(64);
    IfName lo;
    lo.assign("lo");
    uint64_t n = 0;
    for (auto _ : state) {
        for (size_t i = 0; i < batch.size(); ++i) {
            PacketEvent& ev = batch[i];
            ev.ts_ns = 1700000000000000000ull + i * 1000;
            ev.point = CapturePoint::TapIn;
            ev.dir = Direction::In;
            ev.ifindex = 1;
            ev.ifname = lo;
            ev.netns = 4096;
            ev.len = static_cast<uint32_t>(frames[i].size());
            ev.bytes = frames[i];
            if (parse) ev.parsed = parse_packet(LinkType::Ethernet, ev.bytes);
        }
        p->on_events(batch);
        maybe_truncate(sink, n);
    }
    finish(*p, sink);
    set_counters(state, batch.size());
    state.SetLabel(kSinkNames[sink]);
}
BENCHMARK(BM_AfPacketFill)->DenseRange(0, kSinkKinds - 1)->ArgName("sink");

}  // namespace

BENCHMARK_MAIN();

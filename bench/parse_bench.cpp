// Per-packet costs of the hot paths, on frames from hookdump's own packet builder:
//   BM_Parse/<kind>     parse_packet (Ethernet) for IPv4/TCP, IPv6/UDP, VLAN/IPv4/UDP, QinQ,
//                       IPv6 with extension headers, and a mix of all of them
//   BM_TextLine/<kind>  format_text_line (the text sink's line)
//   BM_CsvRecord, BM_JsonlRecord  one record through the csv / jsonl sink (to /dev/null)
//   BM_FlowTableAdd/<flows>  FlowTable::add over that many distinct flows
// Each reports ns per packet (Time) and packets/s (items_per_second).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "flow/flow_table.h"
#include "packet/builder.h"
#include "packet/event.h"
#include "packet/format.h"
#include "packet/parse.h"
#include "sink/sinks.h"

using namespace hookdump;

namespace {

enum Kind { kIpv4Tcp, kIpv6Udp, kVlanIpv4Udp, kQinQ, kIpv6Ext, kKinds };
const char* const kKindNames[kKinds] = {"ipv4_tcp", "ipv6_udp", "vlan_ipv4_udp", "qinq_ipv4_tcp",
                                        "ipv6_ext_tcp"};

std::vector<uint8_t> frame(int kind) {
    PacketBuilder b;
    b.ethernet();
    switch (kind) {
        case kIpv4Tcp:
            b.ipv4("198.18.0.1", "198.19.10.20").tcp(40000, 443, 0x18).payload(200);
            break;
        case kIpv6Udp:
            b.ipv6("2001:db8::1", "2001:db8:1::2").udp(40000, 53).payload(200);
            break;
        case kVlanIpv4Udp:
            b.vlan(100).ipv4("198.18.0.1", "198.19.10.20").udp(40000, 4789).payload(200);
            break;
        case kQinQ:
            b.vlan(100, 0x88a8)
                .vlan(200)
                .ipv4("198.18.0.1", "198.19.10.20")
                .tcp(40000, 443, 0x10)
                .payload(200);
            break;
        case kIpv6Ext:
            b.ipv6("2001:db8::1", "2001:db8:1::2")
                .ipv6_ext(0)
                .ipv6_ext(43, 24)
                .ipv6_ext(60)
                .tcp(40000, 443, 0x12)
                .payload(200);
            break;
    }
    return b.build();
}

PacketEvent event_of(const std::vector<uint8_t>& f) {
    PacketEvent ev;
    ev.ts_ns = 1700000000123456789ull;
    ev.len = static_cast<uint32_t>(f.size());
    ev.bytes = f;
    ev.parsed = parse_packet(LinkType::Ethernet, ev.bytes);
    return ev;
}

void BM_Parse(benchmark::State& state) {
    const auto f = frame(static_cast<int>(state.range(0)));
    const std::span<const uint8_t> bytes(f);
    for (auto _ : state) {
        benchmark::DoNotOptimize(bytes.data());
        Parsed p = parse_packet(LinkType::Ethernet, bytes);
        benchmark::DoNotOptimize(p);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(kKindNames[state.range(0)]);
}
BENCHMARK(BM_Parse)->DenseRange(0, kKinds - 1)->ArgName("kind");

// Every kind in turn, so the branch predictor cannot learn one path.
void BM_ParseMix(benchmark::State& state) {
    std::vector<std::vector<uint8_t>> frames;
    for (int k = 0; k < kKinds; ++k) frames.push_back(frame(k));
    // A fixed pseudo-random order of 4096 frames.
    std::vector<std::span<const uint8_t>> order;
    uint32_t x = 12345;
    for (int i = 0; i < 4096; ++i) {
        x = x * 1103515245u + 12345u;
        order.emplace_back(frames[(x >> 16) % kKinds]);
    }
    size_t i = 0;
    for (auto _ : state) {
        Parsed p = parse_packet(LinkType::Ethernet, order[i++ & 4095]);
        benchmark::DoNotOptimize(p);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseMix);

void BM_TextLine(benchmark::State& state) {
    const auto f = frame(static_cast<int>(state.range(0)));
    PacketEvent ev = event_of(f);
    LocalClock clock;
    std::string line;
    line.reserve(256);
    for (auto _ : state) {
        line.clear();
        ev.ts_ns += 1000;  // new microseconds, the same second most of the time, as in a capture
        format_text_line(line, clock, ev);
        benchmark::DoNotOptimize(line.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(kKindNames[state.range(0)]);
}
BENCHMARK(BM_TextLine)->Arg(kIpv4Tcp)->Arg(kIpv6Udp)->ArgName("kind");

template <std::unique_ptr<Sink> (*Make)(const SinkOptions&)>
void BM_Record(benchmark::State& state) {
    const auto f = frame(static_cast<int>(state.range(0)));
    PacketEvent ev = event_of(f);
    SinkOptions so;
    so.path = "/dev/null";
    auto sink = Make(so);
    for (auto _ : state) {
        ev.ts_ns += 1000;
        sink->write(ev);  // formats into the sink's buffer; a 1 MiB write to /dev/null now and then
    }
    sink->finish({}, static_cast<uint64_t>(state.iterations()));
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(kKindNames[state.range(0)]);
}
BENCHMARK(BM_Record<make_csv_sink>)
    ->Name("BM_CsvRecord")
    ->Arg(kIpv4Tcp)
    ->Arg(kIpv6Udp)
    ->ArgName("kind");
BENCHMARK(BM_Record<make_jsonl_sink>)
    ->Name("BM_JsonlRecord")
    ->Arg(kIpv4Tcp)
    ->Arg(kIpv6Udp)
    ->ArgName("kind");
BENCHMARK(BM_Record<make_text_sink>)
    ->Name("BM_TextRecord")
    ->Arg(kIpv4Tcp)
    ->Arg(kIpv6Udp)
    ->ArgName("kind");

// FlowTable::add with `flows` distinct IPv4/TCP flows visited round robin (1 us apart, so none
// expires): the hash, the lookup and the LRU move, as on a busy link.
void BM_FlowTableAdd(benchmark::State& state) {
    const auto flows = static_cast<uint32_t>(state.range(0));
    const auto f = frame(kIpv4Tcp);
    const PacketEvent base = event_of(f);
    std::vector<PacketEvent> evs(flows, base);
    for (uint32_t i = 0; i < flows; ++i) {
        evs[i].parsed.src[1] = static_cast<uint8_t>(i >> 16);
        evs[i].parsed.src[2] = static_cast<uint8_t>(i >> 8);
        evs[i].parsed.src[3] = static_cast<uint8_t>(i);
        evs[i].parsed.sport = static_cast<uint16_t>(1024 + i * 7);
    }
    uint64_t exported = 0;
    FlowTable table(FlowConfig{}, [&exported](const FlowRecord&) { ++exported; });
    uint64_t ts = base.ts_ns;
    uint32_t i = 0;
    for (auto _ : state) {
        PacketEvent& ev = evs[i];
        ev.ts_ns = ts += 1000;
        table.add(ev);
        if (++i == flows) i = 0;
    }
    benchmark::DoNotOptimize(exported);
    state.SetItemsProcessed(state.iterations());
    state.counters["flows"] = static_cast<double>(table.size());
}
BENCHMARK(BM_FlowTableAdd)->Arg(16)->Arg(10000)->Arg(100000)->ArgName("flows");

}  // namespace

BENCHMARK_MAIN();

// Flow mode's sweep (src/bpf/flow_drain.cpp) on per-CPU hashes of 65536 entries (the engine's
// default) and 2^20 (what `capture` asks for with its default --max-flows): the process CPU (user +
// system: the map syscalls are most of it) of one FlowDrain::sweep, which swaps the hashes and
// empties the retired one, with 0, 1, 100 or 10000 flows counted since the previous sweep. capture
// --flows sweeps once a second, so the per-sweep cost divided by the packets of a second is what
// the drain adds per packet. Needs root (BPF_PROG_TEST_RUN).
//   BM_FlowSweep/<flows>/<entries>   "cpu" is the process CPU of one sweep (the flows are counted
//   with
//                          the timer paused); "wall" includes the swap's synchronize_rcu
#include <benchmark/benchmark.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cstdint>
#include <vector>

#include "bpf/flow_drain.h"
#include "bpf/pkt_loader.h"
#include "packet/builder.h"

using namespace hookdump;

namespace {

uint64_t process_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

void BM_FlowSweep(benchmark::State& state) {
    bpf::PktConfig cfg;
    cfg.mode = HD_MODE_FLOWS;
    cfg.max_flows = static_cast<uint32_t>(state.range(1));
    bpf::PktObject obj(cfg);
    bpf::FlowDrain drain(obj);
    const int nflows = static_cast<int>(state.range(0));
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < nflows; ++i)
        frames.push_back(PacketBuilder()
                             .ethernet()
                             .ipv4("198.18.0.2", "198.18.0.1")
                             .udp(static_cast<uint16_t>(10000 + i), 5001)
                             .payload(32)
                             .build());
    uint64_t cpu = 0, exported = 0;
    for (auto _ : state) {
        state.PauseTiming();
        for (const auto& f : frames) {
            LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.data(),
                        .data_size_in = static_cast<__u32>(f.size()), .repeat = 1);
            if (bpf_prog_test_run_opts(obj.tc_ingress_fd(), &o) != 0) {
                state.SkipWithError("BPF_PROG_TEST_RUN failed (needs root)");
                return;
            }
        }
        state.ResumeTiming();
        const uint64_t t0 = process_cpu_ns();
        // Idle timeout 0: every flow leaves the table at once, as a sweep of short flows.
        const auto out = drain.sweep(UINT64_MAX / 2, 0, UINT64_MAX / 4, false);
        cpu += process_cpu_ns() - t0;
        exported += out.size();
    }
    if (exported != static_cast<uint64_t>(nflows) * state.iterations())
        state.SkipWithError("a flow was not exported exactly once");
    state.counters["cpu_us_per_sweep"] =
        static_cast<double>(cpu) / 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_FlowSweep)
    ->ArgsProduct({{0, 1, 100, 10000}, {65536, 1 << 20}})
    ->ArgNames({"flows", "entries"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

// The clock reads of every engine and sink: wall-clock time (what events carry) and the offset
// for engines whose kernel side stamps with CLOCK_MONOTONIC (the BPF programs'
// bpf_ktime_get_ns).
#pragma once

#include <time.h>

#include <cstdint>

namespace hookdump {

inline uint64_t clock_ns(clockid_t c) {
    timespec ts{};
    clock_gettime(c, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Wall-clock time, nanoseconds since the epoch (PacketEvent::ts_ns, on_idle, pcapng stamps).
inline uint64_t realtime_ns() {
    return clock_ns(CLOCK_REALTIME);
}

// CLOCK_REALTIME - CLOCK_MONOTONIC. The realtime read sits between two monotonic ones and the
// tightest of a few tries counts: a read preempted between the two clocks (a vCPU descheduled
// under TCG: 4 ms seen) would shift every stamp by as much and, in a trace, put tc before the
// AF_PACKET tap.
inline int64_t mono_to_real_ns() {
    int64_t best = 0;
    uint64_t best_gap = UINT64_MAX;
    for (int i = 0; i < 5 && best_gap > 1000; ++i) {
        const uint64_t m0 = clock_ns(CLOCK_MONOTONIC);
        const uint64_t r = clock_ns(CLOCK_REALTIME);
        const uint64_t m1 = clock_ns(CLOCK_MONOTONIC);
        if (m1 - m0 < best_gap) {
            best_gap = m1 - m0;
            best = static_cast<int64_t>(r) - static_cast<int64_t>(m0 + (m1 - m0) / 2);
        }
    }
    return best;
}

}  // namespace hookdump

// hookdump.ko's event clock (kmod/hookdump_clock.h), the module's own code compiled here: one
// real-time read a batch, local_clock() deltas for its events, a CPU's stamps in order.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

using u64 = uint64_t;
extern "C" {
#include "../../kmod/hookdump_clock.h"
}

namespace {

constexpr u64 kMs = 1'000'000;
constexpr u64 kT0 = 1'700'000'000'000'000'000ull;

TEST(KmodClock, EventsAreTheBatchStartPlusTheLocalClock) {
    hd_clock c{};
    hd_clock_start(&c, kT0, 5 * kMs);
    EXPECT_EQ(hd_clock_stamp(&c, 5 * kMs), kT0);
    EXPECT_EQ(hd_clock_stamp(&c, 5 * kMs + 1234), kT0 + 1234);
    EXPECT_EQ(hd_clock_stamp(&c, 9 * kMs), kT0 + 4 * kMs);
}

// The real-time clock steps back 8 ms (a small chrony step) while a CPU sends steadily: its
// stamps never go back, and the next batch follows the real clock again: the CPU's lead over
// CLOCK_REALTIME does not carry over from batch to batch (it did when a batch's start was
// clamped to the last stamp: every later batch started from the one before it).
TEST(KmodClock, ASmallStepBackKeepsOrderAndIsNotCarriedOver) {
    hd_clock c{};
    u64 local = 0, real = kT0;
    std::vector<u64> stamps;
    // A batch every 10 ms, an event every 1 ms; real time steps back 8 ms after the first.
    for (int batch = 0; batch < 20; ++batch) {
        if (batch == 1) real -= 8 * kMs;
        hd_clock_start(&c, real, local);
        for (int i = 0; i < 10; ++i) {
            stamps.push_back(hd_clock_stamp(&c, local));
            local += kMs;
            real += kMs;
        }
    }
    for (size_t i = 1; i < stamps.size(); ++i) EXPECT_LE(stamps[i - 1], stamps[i]) << i;
    // The second batch's first 8 events keep the first batch's last stamp; by the third
    // batch every stamp is the real time again.
    EXPECT_EQ(stamps[10], stamps[9]);
    for (size_t i = 20; i < stamps.size(); ++i) {
        const u64 real_then = kT0 - 8 * kMs + i * kMs;
        EXPECT_EQ(stamps[i], real_then) << i;
    }
}

// A bigger step (10 ms or more: settimeofday) is followed at once.
TEST(KmodClock, ABigStepBackIsFollowed) {
    hd_clock c{};
    hd_clock_start(&c, kT0, 0);
    EXPECT_EQ(hd_clock_stamp(&c, 0), kT0);
    hd_clock_start(&c, kT0 - 60'000 * kMs, kMs);
    EXPECT_EQ(hd_clock_stamp(&c, kMs), kT0 - 60'000 * kMs);
}

}  // namespace

// hookdump trace --record / -r: the annotations and section comment round trip, the
// correlator's completion order (what makes a replay print the same paths), the cgroup v2
// mount found in mountinfo (the socket point).
#include <gtest/gtest.h>

#include "trace/correlator.h"
#include "trace/trace_record.h"
#include "trace_test_util.h"
#ifdef HOOKDUMP_HAVE_BPF
#include "util/cgroup.h"
#endif

namespace hookdump::trace {
namespace {

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;
constexpr uint64_t kMs = 1'000'000;

Observation udp_obs(uint16_t id, uint64_t ts, CapturePoint pt = CapturePoint::TapIn) {
    return test::observe_ip(test::udp4("198.18.0.2", "198.18.0.1", 40000, 8888, id, 16), pt, ts);
}

TEST(TraceRecord, SectionCommentRoundTrips) {
    const CorrelatorOptions opt{.window_ns = 350 * kMs, .both_slots = true, .tap_egress = false};
    const std::string c = section_comment(opt);
    EXPECT_EQ(c, "hookdump trace window_ms=350 both_slots=1 tap_egress=0");
    const auto back = parse_section_comment(c);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->window_ns, 350 * kMs);
    EXPECT_TRUE(back->both_slots);
    EXPECT_FALSE(back->tap_egress);
    EXPECT_FALSE(parse_section_comment("hookdump 1.0"));
    EXPECT_FALSE(parse_section_comment(""));
}

TEST(TraceRecord, SocketStepRoundTrips) {
    Observation o = udp_obs(7, kT0, CapturePoint::Socket);
    o.ifindex = 5;
    o.sock = SocketStep{.egress = false, .family = 4, .proto = 17, .addr = {}, .port = 8888};
    const std::string a = annotation(o, kT0 - 3);
    EXPECT_EQ(a,
              "hookdump trace slot=none ifindex=5 done=1699999999999999997 "
              "socket=in,4,17,0.0.0.0,8888");
    Observation back = udp_obs(7, kT0, CapturePoint::Socket);
    uint64_t done = 0;
    ASSERT_TRUE(apply_annotation(a, back, done));
    EXPECT_EQ(done, kT0 - 3);
    EXPECT_EQ(back.ifindex, 5);
    ASSERT_TRUE(back.sock);
    EXPECT_EQ(*back.sock, *o.sock);
}

TEST(TraceRecord, SocketStepsProcessRoundTrips) {
    Observation o = udp_obs(7, kT0, CapturePoint::Socket);
    o.sock = SocketStep{.egress = true, .family = 4, .proto = 17, .addr = {}, .port = 8888};
    o.sock->proc = SocketProc{.pid = 4242, .uid = 1000, .comm = "a b,c%", .cgroup = "/x y/z"};
    const std::string a = annotation(o, 0);
    EXPECT_EQ(a,
              "hookdump trace slot=none ifindex=0 socket=out,4,17,0.0.0.0,8888 "
              "proc=4242,1000,a%20b%2Cc%25,/x%20y/z");
    Observation back = udp_obs(7, kT0, CapturePoint::Socket);
    uint64_t done = 0;
    ASSERT_TRUE(apply_annotation(a, back, done));
    ASSERT_TRUE(back.sock);
    EXPECT_EQ(*back.sock, *o.sock);
    // No cgroup path found: an empty one.
    o.sock->proc->cgroup.clear();
    ASSERT_TRUE(apply_annotation(annotation(o, 0), back, done));
    EXPECT_EQ(*back.sock, *o.sock);
    Observation fresh = udp_obs(7, kT0, CapturePoint::Socket);
    EXPECT_FALSE(apply_annotation("hookdump trace proc=1,2,a,/", fresh, done));  // no socket
    EXPECT_FALSE(
        apply_annotation("hookdump trace socket=in,4,17,0.0.0.0,1 proc=1,2,a%2,/", fresh, done));
    EXPECT_FALSE(fresh.sock);
}

TEST(TraceRecord, NftStepRoundTripsWithTheRuleText) {
    Observation o = udp_obs(8, kT0, CapturePoint::LocalIn);
    o.key = o.short_key;
    o.partial = true;
    o.nft = NftStep{.family = "inet",
                    .table = "f",
                    .chain = "in",
                    .hook = "input",
                    .priority = -5,
                    .handle = 3,
                    .rule = "udp dport 7777 counter drop comment \"a=b c\"",
                    .verdict = "drop"};
    const std::string a = annotation(o, 0);
    EXPECT_EQ(a,
              "hookdump trace slot=none ifindex=0 partial=1 nft=inet,f,in,input,-5,3,drop "
              "rule=udp dport 7777 counter drop comment \"a=b c\"");
    Observation back = udp_obs(8, kT0, CapturePoint::LocalIn);
    back.slot = PrioritySlot::First;  // what the point comment's hook gives back
    uint64_t done = 1;
    ASSERT_TRUE(apply_annotation(a, back, done));
    EXPECT_EQ(done, 0u);
    EXPECT_EQ(back.slot, PrioritySlot::None);
    EXPECT_TRUE(back.partial);
    EXPECT_EQ(back.key, o.short_key);
    ASSERT_TRUE(back.nft);
    EXPECT_EQ(*back.nft, *o.nft);
    // A policy's verdict has no rule.
    o.nft->handle = 0;
    o.nft->rule.clear();
    ASSERT_TRUE(apply_annotation(annotation(o, 0), back, done));
    EXPECT_EQ(*back.nft, *o.nft);
}

TEST(TraceRecord, OtherCommentsAreNotApplied) {
    Observation o = udp_obs(9, kT0);
    o.ifindex = 4;
    uint64_t done = 0;
    EXPECT_FALSE(apply_annotation("", o, done));
    EXPECT_FALSE(apply_annotation("hookdump point=input", o, done));
    EXPECT_FALSE(apply_annotation("hookdump trace socket=in,4,17,not-an-address,1", o, done));
    EXPECT_FALSE(apply_annotation("hookdump trace nft=inet,f", o, done));
    EXPECT_EQ(o.ifindex, 4);
    EXPECT_FALSE(o.sock);
    EXPECT_FALSE(o.nft);
}

// A packet that completes while an older one is open waits for it: the paths come out in the
// order packets were first seen whenever take_done is called (before: as they completed).
TEST(TraceRecord, PacketsCompleteInTheOrderFirstSeen) {
    Correlator c({.window_ns = 200 * kMs, .both_slots = false});
    c.add(udp_obs(1, kT0));
    c.add(udp_obs(2, kT0 + 10 * kMs));
    c.add(udp_obs(1, kT0 + 150 * kMs, CapturePoint::TcIngress));  // packet 1 seen again
    // Packet 2 is complete at 211 ms, packet 1 only at 351 ms.
    EXPECT_TRUE(c.take_done(kT0 + 300 * kMs).empty());
    const auto done = c.take_done(kT0 + 400 * kMs);
    ASSERT_EQ(done.size(), 2u);
    EXPECT_EQ(done[0].id, 1u);
    EXPECT_EQ(done[1].id, 2u);
}

#ifdef HOOKDUMP_HAVE_BPF
TEST(TraceRecord, Cgroup2MountFromMountinfo) {
    EXPECT_EQ(
        cgroup2_mount("25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"
                      "33 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"),
        "/sys/fs/cgroup/unified");
    // A bind mount of a subtree is not the root; optional fields before the separator.
    EXPECT_EQ(cgroup2_mount("50 1 0:38 /user.slice /mnt/a rw - cgroup2 cgroup2 rw\n"
                            "51 1 0:38 / /mnt/cg\\040two rw shared:5 master:1 - cgroup2 none rw\n"),
              "/mnt/cg two");
    EXPECT_EQ(cgroup2_mount("25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"), "");
}
#endif

}  // namespace
}  // namespace hookdump::trace

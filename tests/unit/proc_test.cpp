// Process attribution's userspace parts without root (capture --proc): how a packet's process
// prints in text, csv, jsonl and the flow records, the filters, and the shared layout.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <string>

#include "flow/flow_table.h"
#include "packet/builder.h"
#include "packet/format.h"
#include "packet/parse.h"
#include "sink/flow_sink.h"
#include "sink/sinks.h"
#include "test_util.h"

#ifdef HOOKDUMP_HAVE_BPF
#include "bpf/proc_attribution.h"
#include "bpf/proc_programs.h"
#endif

namespace hookdump {
namespace {

struct ProcEvent {
    std::vector<uint8_t> bytes;
    PacketEvent ev;
};

ProcEvent proc_event(bool known) {
    ProcEvent p;
    p.bytes = PacketBuilder()
                  .ethernet()
                  .ipv4("198.18.0.1", "198.18.0.2")
                  .udp(7001, 40000)
                  .payload(32)
                  .build();
    p.ev.ts_ns = 1'700'000'000'000'001'000;
    p.ev.point = CapturePoint::TcEgress;
    p.ev.dir = Direction::Out;
    p.ev.len = static_cast<uint32_t>(p.bytes.size());
    p.ev.bytes = p.bytes;
    p.ev.parsed = parse_packet(LinkType::Ethernet, p.ev.bytes);
    if (known) {
        p.ev.proc.known = true;
        p.ev.proc.pid = 4242;
        p.ev.proc.uid = 1000;
        p.ev.proc.cgroup_id = 77;
        std::memcpy(p.ev.proc.comm, "python3", 7);
        p.ev.proc.cgroup = "/user.slice/a,b";
    }
    return p;
}

TEST(ProcFormat, TextLineEndsWithTheProcess) {
    const ProcEvent p = proc_event(true);
    std::string line;
    LocalClock clock;
    format_text_line(line, clock, p.ev);
    EXPECT_TRUE(line.ends_with(": UDP, length 32, proc python3[4242] uid 1000\n")) << line;
    const ProcEvent none = proc_event(false);
    line.clear();
    format_text_line(line, clock, none.ev);
    EXPECT_TRUE(line.ends_with(": UDP, length 32\n")) << line;
}

TEST(ProcFormat, CsvAndJsonlFieldsOnlyWithProc) {
    test::TempDir dir;
    const ProcEvent p = proc_event(true), none = proc_event(false);
    EXPECT_EQ(csv_header({.proc = true}),
              csv_header().substr(0, csv_header().size() - 1) + ",pid,comm,uid,cgroup\n");
    SinkOptions o{dir.file("p.csv"), 262144};
    o.fields.proc = true;
    auto csv = make_csv_sink(o);
    csv->write(p.ev);
    csv->write(none.ev);
    csv->finish(Ledger{}, 0);
    const auto lines = test::split_lines(test::read_file(o.path));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_TRUE(lines[1].ends_with(",4242,python3,1000,\"/user.slice/a,b\"")) << lines[1];
    EXPECT_TRUE(lines[2].ends_with(",,,,")) << lines[2];
    o.path = dir.file("p.jsonl");
    auto js = make_jsonl_sink(o);
    js->write(p.ev);
    js->write(none.ev);
    js->finish(Ledger{}, 0);
    const auto j = test::split_lines(test::read_file(o.path));
    ASSERT_EQ(j.size(), 2u);
    EXPECT_TRUE(
        j[0].ends_with(R"("pid":4242,"comm":"python3","uid":1000,"cgroup":"/user.slice/a,b"})"))
        << j[0];
    EXPECT_TRUE(j[1].ends_with(R"("pid":null,"comm":null,"uid":null,"cgroup":null})")) << j[1];
    // Without --proc the records are as they were.
    auto plain = make_csv_sink({dir.file("q.csv"), 262144});
    plain->write(p.ev);
    plain->finish(Ledger{}, 0);
    EXPECT_EQ(test::read_file(dir.file("q.csv")).find("python3"), std::string::npos);
}

TEST(ProcFormat, FlowTakesItsFirstKnownProcess) {
    std::vector<FlowRecord> out;
    FlowTable table(FlowConfig{}, [&](const FlowRecord& r) { out.push_back(r); });
    ProcEvent none = proc_event(false), known = proc_event(true);
    known.ev.ts_ns = none.ev.ts_ns + 1000;
    table.add(none.ev);
    table.add(known.ev);
    table.flush_all();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].proc.known);
    EXPECT_EQ(out[0].proc.pid, 4242u);
    EXPECT_EQ(flow_csv_header(true),
              flow_csv_header().substr(0, flow_csv_header().size() - 1) + ",pid,comm,uid,cgroup\n");
}

#ifdef HOOKDUMP_HAVE_BPF
TEST(ProcFilter, AUnknownProcessMatchesNoFilter) {
    ProcInfo p;
    bpf::ProcFilter none;
    EXPECT_TRUE(none.match(p));
    bpf::ProcFilter by_pid;
    by_pid.pid = 4242;
    EXPECT_FALSE(by_pid.match(p));
    p = proc_event(true).ev.proc;
    EXPECT_TRUE(by_pid.match(p));
    bpf::ProcFilter by_comm;
    by_comm.comm = "python";
    EXPECT_FALSE(by_comm.match(p));
    by_comm.comm = "python3";
    EXPECT_TRUE(by_comm.match(p));
    bpf::ProcFilter by_cgroup;
    by_cgroup.cgroup_id = 78;
    EXPECT_FALSE(by_cgroup.match(p));
    by_cgroup.cgroup_id = 77;
    EXPECT_TRUE(by_cgroup.match(p));
}

TEST(ProcCgroups, PathsOfADirectoryTree) {
    test::TempDir dir;
    const std::string root = dir.file("cg");
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root + "/a").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root + "/a/b").c_str(), 0755), 0);
    CgroupPaths cg(root);
    const uint64_t id = cg.id_of("/a/b");
    ASSERT_NE(id, 0u);
    EXPECT_EQ(cg.id_of(root + "/a/b"), id);
    EXPECT_EQ(cg.id_of("/nope"), 0u);
    EXPECT_EQ(cg.path(id, 1), "/a/b");
    EXPECT_EQ(cg.path(cg.id_of("/"), 1), "/");
    EXPECT_EQ(cg.path(123456789, 2), "");
}
#endif

}  // namespace
}  // namespace hookdump

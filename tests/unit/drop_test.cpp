// The drop engine's userspace parts without root: the kallsyms symbolizer, reason names from a
// synthetic BTF, and how drop events print in text, csv and jsonl.
#include <gtest/gtest.h>

#include <string>

#include "packet/builder.h"
#include "packet/format.h"
#include "packet/parse.h"
#include "sink/sinks.h"
#include "test_util.h"
#include "util/kallsyms.h"

#ifdef HOOKDUMP_HAVE_DROP
#include <bpf/btf.h>

#include "bpf/drop_reasons.h"
#endif

namespace hookdump {
namespace {

constexpr std::string_view kFakeKallsyms =
    "ffffffff81f63250 T nft_do_chain\n"
    "ffffffff81000000 T _stext\n"
    "ffffffff82a00000 D some_data\n"  // not text: never a location
    "ffffffff81f28dd0 T nf_hook_slow\n"
    "ffffffff81f28dc0 t __pfx_nf_hook_slow\n"
    "ffffffffc0a01000 t nft_immediate_eval\t[nf_tables]\n"
    "ffffffffc0a00000 t nft_do_chain_mod\t[nf_tables]\n"
    "ffffffff81f29000 W weak_fn\n"
    "garbage line\n"
    "zzzz T not_hex\n";

TEST(Kallsyms, NearestTextSymbolBelow) {
    const Kallsyms k = Kallsyms::parse(kFakeKallsyms);
    EXPECT_EQ(k.size(), 7u);
    EXPECT_EQ(k.symbolize(0xffffffff81f28dd0 + 0x9f), "nf_hook_slow+0x9f");
    EXPECT_EQ(k.symbolize(0xffffffff81f28dd0), "nf_hook_slow+0x0");
    EXPECT_EQ(k.symbolize(0xffffffff81f28dcf), "__pfx_nf_hook_slow+0xf");
    EXPECT_EQ(k.symbolize(0xffffffff81f63250 + 0x3e8), "nft_do_chain+0x3e8");
    EXPECT_EQ(k.symbolize(0xffffffff81f29010), "weak_fn+0x10");
    // Module symbols carry no "[module]" in the name.
    EXPECT_EQ(k.symbolize(0xffffffffc0a01004), "nft_immediate_eval+0x4");
    EXPECT_EQ(k.symbolize(0xffffffffc0a00fff), "nft_do_chain_mod+0xfff");
}

TEST(Kallsyms, UncoveredAddressesPrintBare) {
    const Kallsyms k = Kallsyms::parse(kFakeKallsyms);
    EXPECT_FALSE(k.covers(0xffffffff80000000));
    EXPECT_EQ(k.symbolize(0xffffffff80000000), "0xffffffff80000000");
    // Far past the last module symbol: a module loaded later, not nft_immediate_eval.
    EXPECT_FALSE(k.covers(0xffffffffc0a01000 + Kallsyms::kMaxOffset + 1));
    EXPECT_TRUE(k.covers(0xffffffffc0a01000 + Kallsyms::kMaxOffset));
}

TEST(Kallsyms, HiddenAddressesGiveAnEmptyTable) {
    // kptr_restrict without CAP_SYSLOG: every address reads 0.
    const Kallsyms k =
        Kallsyms::parse("0000000000000000 T _stext\n0000000000000000 T nf_hook_slow\n");
    EXPECT_EQ(k.size(), 0u);
    EXPECT_EQ(k.symbolize(0xffffffff81f28e6f), "0xffffffff81f28e6f");
    EXPECT_EQ(Kallsyms::load("/nonexistent/kallsyms").size(), 0u);
}

#ifdef HOOKDUMP_HAVE_DROP
struct BtfFree {
    void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfFree>;

// enum skb_drop_reason as 6.1 numbers it, and the tracepoint's typedef with `args` arguments.
BtfPtr synthetic_btf(int args, bool with_enum = true) {
    BtfPtr b(btf__new_empty());
    const int u32 = btf__add_int(b.get(), "unsigned int", 4, 0);
    const int ptr = btf__add_ptr(b.get(), 0);
    if (with_enum) {
        const int e = btf__add_enum(b.get(), "skb_drop_reason", 4);
        EXPECT_GT(e, 0);
        btf__add_enum_value(b.get(), "SKB_NOT_DROPPED_YET", 0);
        btf__add_enum_value(b.get(), "SKB_DROP_REASON_NOT_SPECIFIED", 1);
        btf__add_enum_value(b.get(), "SKB_DROP_REASON_NO_SOCKET", 2);
        btf__add_enum_value(b.get(), "SKB_DROP_REASON_NETFILTER_DROP", 7);
        btf__add_enum_value(b.get(), "SKB_DROP_REASON_MAX", 66);
    }
    const int proto = btf__add_func_proto(b.get(), 0);
    for (int i = 0; i < args + 1; ++i) btf__add_func_param(b.get(), "", i == args ? u32 : ptr);
    const int fptr = btf__add_ptr(b.get(), proto);
    btf__add_typedef(b.get(), "btf_trace_kfree_skb", fptr);
    return b;
}

TEST(DropReasons, NamesFromTheKernelsEnum) {
    const BtfPtr b = synthetic_btf(3);
    const DropReasons r(b.get());
    EXPECT_EQ(r.name(7), "NETFILTER_DROP");
    EXPECT_EQ(r.name(2), "NO_SOCKET");
    EXPECT_EQ(r.name(0), "NOT_DROPPED_YET");
    EXPECT_EQ(r.name(0xffffffffu), "unknown");
    EXPECT_EQ(r.name(0x10003), "0x10003");  // a subsystem's reason: not in the enum
    EXPECT_EQ(r.name(0x10003), "0x10003");
    EXPECT_EQ(r.value("NOT_SPECIFIED"), 1u);
    EXPECT_EQ(r.value("NETFILTER_DROP"), 7u);
    EXPECT_FALSE(r.value("SKB_DROP_REASON_NETFILTER_DROP").has_value());
}

TEST(DropReasons, TracepointArguments) {
    EXPECT_EQ(kfree_skb_tracepoint_args(synthetic_btf(2).get()), 2);  // before 5.17
    EXPECT_EQ(kfree_skb_tracepoint_args(synthetic_btf(3).get()), 3);  // 6.1
    EXPECT_EQ(kfree_skb_tracepoint_args(synthetic_btf(4).get()), 4);  // 6.18 (rx_sk)
    const BtfPtr old = synthetic_btf(2, false);
    const DropReasons none(old.get());
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.name(0xffffffffu), "unknown");
    BtfPtr empty(btf__new_empty());
    EXPECT_EQ(kfree_skb_tracepoint_args(empty.get()), 0);
}
#endif

// A drop event as the engine makes it: bytes from the network header, reason and location.
struct DropEvent {
    std::vector<uint8_t> bytes;
    PacketEvent ev;
};

DropEvent drop_event() {
    DropEvent d;
    d.bytes = PacketBuilder().ipv4("198.18.0.2", "198.18.0.1").udp(40000, 5001).payload(20).build();
    d.ev.ts_ns = 1700000000000001000;
    d.ev.point = CapturePoint::Drop;
    d.ev.verdict = Verdict::Drop;
    d.ev.ifindex = 3;
    d.ev.ifname.assign("vA");
    d.ev.netns = 4096;
    d.ev.len = static_cast<uint32_t>(d.bytes.size());
    d.ev.linktype = 101;
    d.ev.bytes = d.bytes;
    d.ev.parsed = parse_ip(d.ev.bytes);
    d.ev.drop_reason = "NETFILTER_DROP";
    d.ev.drop_location = "nf_hook_slow+0x9f";
    return d;
}

TEST(DropFormat, TextLine) {
    const DropEvent d = drop_event();
    std::string line;
    LocalClock clock;
    format_text_line(line, clock, d.ev);
    const size_t at = line.find(" drop ");
    ASSERT_NE(at, std::string::npos) << line;
    EXPECT_EQ(
        line.substr(at),
        " drop vA IP 198.18.0.2.40000 > 198.18.0.1.5001: UDP, length 20, reason NETFILTER_DROP "
        "at nf_hook_slow+0x9f\n");
    EXPECT_EQ(line.substr(0, at).size(), 15u);  // HH:MM:SS.uuuuuu
}

TEST(DropFormat, CsvAndJsonlCarryReasonAndLocation) {
    test::TempDir dir;
    const DropEvent d = drop_event();
    SinkOptions o{dir.file("d.csv"), 262144};
    o.fields.drop = true;
    auto csv = make_csv_sink(o);
    csv->write(d.ev);
    csv->finish(Ledger{}, 0);
    EXPECT_EQ(test::read_file(o.path), csv_header({.drop = true}) +
                                           "1700000000.000001000,drop,vA,3,4096,,17,198.18.0.2,198."
                                           "18.0.1,40000,5001,,,48,48,0,,drop,"
                                           "NETFILTER_DROP,nf_hook_slow+0x9f\n");
    o.path = dir.file("d.jsonl");
    auto js = make_jsonl_sink(o);
    js->write(d.ev);
    PacketEvent other;  // an event of another kind in a drop capture: null fields
    other.ts_ns = 1;
    js->write(other);
    js->finish(Ledger{}, 0);
    const auto lines = test::split_lines(test::read_file(o.path));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find(
                  R"("verdict":"drop","reason":"NETFILTER_DROP","location":"nf_hook_slow+0x9f"})"),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[1].find(R"("reason":null,"location":null})"), std::string::npos) << lines[1];
}

TEST(DropFormat, OtherCapturesKeepTheirFields) {
    test::TempDir dir;
    const DropEvent d = drop_event();
    auto csv = make_csv_sink({dir.file("p.csv"), 262144});
    csv->write(d.ev);
    csv->finish(Ledger{}, 0);
    const auto lines = test::split_lines(test::read_file(dir.file("p.csv")));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0] + "\n", csv_header());
    EXPECT_EQ(lines[1].find("NETFILTER_DROP"), std::string::npos);
}

}  // namespace
}  // namespace hookdump

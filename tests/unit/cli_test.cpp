// The command line, run as a program: exit statuses (0 ok, 1 runtime failure, 2 usage), one
// line of error naming what was wrong, -d/-dd/-ddd against tcpdump, read with -c, filters and
// flows over a file made by 'hookdump generate'.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <pcap/pcap.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command_line.h"
#include "cli/numbers.h"
#include "packet/builder.h"
#include "sink/sinks.h"
#include "test_util.h"

#ifndef HOOKDUMP_BIN
#error "HOOKDUMP_BIN must name the hookdump binary"
#endif

namespace hookdump {
namespace {

using test::RunResult;
using test::split_lines;

const std::string kBin = HOOKDUMP_BIN;

RunResult hookdump(std::vector<std::string> args, const std::string& stdout_path = {}) {
    args.insert(args.begin(), kBin);
    return test::run(args, stdout_path);
}

std::string show(const RunResult& r) {
    return "exit " + std::to_string(r.status) + "\nstdout:\n" + r.out.substr(0, 2000) +
           "\nstderr:\n" + r.err;
}

// libpcap's own message for an expression it cannot compile.
std::string pcap_compile_error(const std::string& expr) {
    pcap_t* p = pcap_open_dead(DLT_EN10MB, 262144);
    bpf_program prog{};
    std::string msg;
    if (pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
        msg = pcap_geterr(p);
    else
        pcap_freecode(&prog);
    pcap_close(p);
    return msg;
}

bool need_tcpdump() {
    if (test::have_program("tcpdump")) return true;
    if (test::in_ci()) ADD_FAILURE() << "tcpdump is not installed (CI=true: required)";
    return false;
}

// One generated capture for the whole suite: 100 packets, 16 flows cycling; flow f % 8 in
// {0,1,2} TCP to 443, {3,4} UDP to 53, 5 VLAN UDP to 4789, 6 IPv6 UDP to 443, 7 ICMP echo.
class Cli : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir;
        pcap_ = dir_->file("gen.pcap");
        const RunResult r = test::run({kBin, "generate", "-n", "100", "-w", pcap_});
        ASSERT_EQ(r.status, 0) << show(r);
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    void SetUp() override {
        setenv("TZ", "UTC", 1);  // inherited by hookdump and tcpdump: the same local time
        tzset();
    }

    // Packets i of 0..99 whose flow (i % 16) passes `pred`.
    template <class Pred>
    static size_t count_packets(Pred pred) {
        size_t n = 0;
        for (int i = 0; i < 100; ++i) n += pred(i % 16) ? 1 : 0;
        return n;
    }

    static test::TempDir* dir_;
    static std::string pcap_;
};

test::TempDir* Cli::dir_ = nullptr;
std::string Cli::pcap_;

// ---------------------------------------------------------------------------------------------
// Exit statuses and messages

TEST_F(Cli, HelpExitsZero) {
    const RunResult r = hookdump({"--help"});
    EXPECT_EQ(r.status, 0) << show(r);
    EXPECT_NE(r.out.find("read"), std::string::npos) << show(r);
    EXPECT_NE(r.out.find("generate"), std::string::npos) << show(r);
    EXPECT_EQ(r.err, "");
}

TEST_F(Cli, VersionExitsZero) {
    const RunResult r = hookdump({"--version"});
    EXPECT_EQ(r.status, 0) << show(r);
    EXPECT_EQ(r.out.rfind("hookdump ", 0), 0u) << show(r);
    EXPECT_NE(r.out.find(pcap_lib_version()), std::string::npos) << show(r);
}

TEST_F(Cli, UnknownOptionIsUsageErrorOnOneLine) {
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"--no-such-option"},
                                               {"read", pcap_, "--no-such-option"},
                                               {"generate", "--no-such-option"}}) {
        const RunResult r = hookdump(args);
        EXPECT_EQ(r.status, 2) << show(r);
        EXPECT_EQ(split_lines(r.err).size(), 1u) << show(r);
        EXPECT_EQ(r.err.rfind("hookdump: ", 0), 0u) << show(r);
        EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << show(r);
        EXPECT_EQ(r.out, "");
    }
}

TEST_F(Cli, BadOptionValueIsUsageError) {
    const RunResult r = hookdump({"read", pcap_, "-c", "zero"});
    EXPECT_EQ(r.status, 2) << show(r);
    EXPECT_EQ(split_lines(r.err).size(), 1u) << show(r);
    const RunResult f = hookdump({"read", pcap_, "-o", "xml"});
    EXPECT_EQ(f.status, 2) << show(f);
    EXPECT_EQ(f.err,
              "hookdump: unknown output format 'xml' (known: text, csv, jsonl, pcap, pcapng)\n");
}

// A numeric option given a word that is not its number: every numeric option of every
// subcommand, found by walking the command line's own definitions (a new one cannot escape),
// answers with one line naming it and what it wants, and exit 2 before anything is opened.
struct NumericCase {
    std::vector<std::string> args;
    std::string err;
};

void numeric_cases(CLI::App* app, const std::vector<std::string>& path,
                   std::vector<NumericCase>& out, std::vector<std::string>& undeclared) {
    for (const CLI::Option* opt : app->get_options()) {
        if (opt->get_type_size_max() == 0) continue;  // a flag
        const NumberSpec* spec = number_spec(opt);
        const std::string type = opt->get_type_name();
        if (!spec) {
            // CLI11's own conversion (UINT, INT, FLOAT) would answer with its message.
            if (type.find("INT") != std::string::npos || type.find("FLOAT") != std::string::npos)
                undeclared.push_back(opt->get_name(false, true) + " " + type);
            continue;
        }
        auto given = [&](const std::string& value) {
            std::vector<std::string> args = path;
            if (!opt->get_lnames().empty())
                args.push_back("--" + opt->get_lnames().front());
            else if (!opt->get_snames().empty())
                args.push_back("-" + opt->get_snames().front());
            else
                args.push_back("--");  // a positional: "--" lets it start with '-'
            args.push_back(value);
            return args;
        };
        const std::string what = spec->whole ? "whole number" : "number";
        const std::string range = range_text(*spec);
        auto bad = [&](const std::string& v) {
            out.push_back(
                {given(v), fmt::format("hookdump: {}: '{}' is not a {}\n", spec->label, v, what)});
        };
        auto outside = [&](const std::string& v) {
            out.push_back({given(v), fmt::format("hookdump: {}: {} is out of range {}\n",
                                                 spec->label, v, range)});
        };
        bad("abc");
        bad("");
        bad(spec->whole ? "1.5" : "1s");
        bad(spec->whole ? "0x10" : "inf");
        outside("-1");
        if (spec->whole && spec->min > 0) outside(std::to_string(spec->min - 1));
        if (!spec->whole) outside(std::to_string(spec->min));  // above min, not at it
        if (spec->max != UINT64_MAX)
            outside(std::to_string(spec->max + 1));
        else if (spec->whole)
            outside("18446744073709551616");  // 2^64
    }
    for (CLI::App* sub : app->get_subcommands({})) {
        std::vector<std::string> p = path;
        p.push_back(sub->get_name());
        numeric_cases(sub, p, out, undeclared);
    }
}

TEST_F(Cli, EveryNumericOptionSaysWhatItWants) {
    CommandLine cli;
    std::vector<NumericCase> cases;
    std::vector<std::string> undeclared;
    numeric_cases(&cli.app(), {}, cases, undeclared);
    EXPECT_EQ(undeclared, std::vector<std::string>{})
        << "numeric options not declared with add_number()";
    // The walk found them all (read, generate, capture, rules add/del, kmod listen, trace).
    EXPECT_GE(cases.size(), 40u * 5);
    for (const auto& c : cases) {
        const RunResult r = hookdump(c.args);
        EXPECT_EQ(r.status, 2) << show(r);
        EXPECT_EQ(r.err, c.err) << show(r);
        EXPECT_EQ(r.out, "");
    }
}

TEST_F(Cli, NumericOptionLines) {
    // The lines as a user reads them (the walk above derives its ranges from the definitions).
    for (const auto& [args, err] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"read", pcap_, "-c", "abc"}, "-c/--count: 'abc' is not a whole number"},
             {{"capture", "-c", "-5"}, "-c/--count: -5 is out of range (at least 1)"},
             {{"capture", "-s", "10"}, "-s/--snapshot-length: 10 is out of range (64 to 262144)"},
             {{"capture", "--snapshot-length=262145"},
              "-s/--snapshot-length: 262145 is out of range (64 to 262144)"},
             {{"capture", "--group", "65536"}, "--group: 65536 is out of range (0 to 65535)"},
             {{"generate", "-n", "1e3"}, "-n/--packets: '1e3' is not a whole number"},
             {{"generate", "--payload", "9001"}, "--payload: 9001 is out of range (0 to 9000)"},
             {{"read", pcap_, "--idle-timeout", "0"},
              "--idle-timeout: 0 is out of range (above 0, at most 1000000000)"},
             {{"read", pcap_, "-G", "soon"}, "-G/--rotate-seconds: 'soon' is not a number"},
             {{"rules", "add", "--snaplen", "4097"}, "--snaplen: 4097 is out of range (0 to 4096)"},
             {{"rules", "del", "7", "x"}, "id: 'x' is not a whole number"},
             {{"trace", "--window", "0"}, "--window: 0 is out of range (1 to 60000)"},
         }) {
        const RunResult r = hookdump(args);
        EXPECT_EQ(r.status, 2) << show(r);
        EXPECT_EQ(r.err, "hookdump: " + err + "\n") << show(r);
    }
    // A value in range still works.
    EXPECT_EQ(split_lines(hookdump({"read", pcap_, "-c", "1"}).out).size(), 1u);
}

TEST_F(Cli, BadExpressionGivesLibpcapsMessage) {
    // The last one compiles to nothing: libpcap refuses it and so do we.
    for (const std::string expr : {"udp port", "tcp port 99999", "no such thing", "tcp and udp"}) {
        const std::string libpcap = pcap_compile_error(expr);
        ASSERT_FALSE(libpcap.empty()) << expr;
        for (const auto& args :
             std::vector<std::vector<std::string>>{{"read", pcap_, expr}, {"-d", expr}}) {
            const RunResult r = hookdump(args);
            EXPECT_EQ(r.status, 2) << show(r);
            EXPECT_EQ(split_lines(r.err).size(), 1u) << show(r);
            EXPECT_NE(r.err.find(libpcap), std::string::npos) << "libpcap says: " << libpcap << "\n"
                                                              << show(r);
            EXPECT_EQ(r.out, "");
        }
    }
}

TEST_F(Cli, UnreadableFileIsUsageError) {
    const std::string missing = dir_->file("no-such-file.pcap");
    RunResult r = hookdump({"read", missing});
    EXPECT_EQ(r.status, 2) << show(r);
    EXPECT_NE(r.err.find(missing), std::string::npos) << show(r);
    EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << show(r);
    EXPECT_EQ(split_lines(r.err).size(), 1u) << show(r);
    r = hookdump({"read", dir_->path()});  // a directory
    EXPECT_EQ(r.status, 2) << show(r);
    EXPECT_NE(r.err.find(dir_->path()), std::string::npos) << show(r);
}

TEST_F(Cli, NonCaptureFileIsUsageError) {
    const std::string text = dir_->file("notes.txt");
    test::write_file(text, "this is not a capture file, just some text\n");
    RunResult r = hookdump({"read", text});
    EXPECT_EQ(r.status, 2) << show(r);
    EXPECT_NE(r.err.find("cannot read " + text), std::string::npos) << show(r);
    EXPECT_EQ(split_lines(r.err).size(), 1u) << show(r);
    const std::string empty = dir_->file("empty.pcap");
    test::write_file(empty, "");
    r = hookdump({"read", empty});
    EXPECT_EQ(r.status, 2) << show(r);
    EXPECT_NE(r.err.find(empty), std::string::npos) << show(r);
    // A truncated capture: the header is fine, the first packet record is cut.
    const std::string cut = dir_->file("cut.pcap");
    test::write_file(cut, test::read_file(pcap_).substr(0, 24 + 8));
    r = hookdump({"read", cut});
    EXPECT_NE(r.status, 0) << show(r);
    EXPECT_NE(r.err.find(cut), std::string::npos) << show(r);
}

TEST_F(Cli, UnwritableOutputIsRuntimeError) {
    const std::string nodir = dir_->file("no-such-dir/out");
    for (const std::string ext : {".pcap", ".pcapng", ".csv", ".jsonl", ".txt"}) {
        const RunResult r = hookdump({"read", pcap_, "-w", nodir + ext});
        EXPECT_EQ(r.status, 1) << show(r);
        EXPECT_NE(r.err.find(nodir + ext), std::string::npos) << show(r);
        EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << show(r);
        EXPECT_EQ(split_lines(r.err).size(), 1u) << show(r);
    }
    // A directory is unwritable even for root.
    const RunResult d = hookdump({"read", pcap_, "-o", "pcapng", "-w", dir_->path()});
    EXPECT_EQ(d.status, 1) << show(d);
    EXPECT_NE(d.err.find("Is a directory"), std::string::npos) << show(d);
    // Flow records too.
    const RunResult f = hookdump({"read", pcap_, "--flows=" + nodir + ".csv"});
    EXPECT_EQ(f.status, 1) << show(f);
    EXPECT_NE(f.err.find(nodir + ".csv"), std::string::npos) << show(f);
}

TEST_F(Cli, DiskFullIsRuntimeError) {
    for (const std::string fmt : {"pcap", "pcapng", "csv", "jsonl", "text"}) {
        const RunResult r = hookdump({"read", pcap_, "-o", fmt, "-w", "/dev/full"});
        EXPECT_EQ(r.status, 1) << fmt << "\n" << show(r);
        EXPECT_NE(r.err.find("/dev/full: No space left on device"), std::string::npos)
            << fmt << "\n"
            << show(r);
        // The error, then what reached the file: nothing.
        const auto lines = split_lines(r.err);
        ASSERT_EQ(lines.size(), 2u) << show(r);
        EXPECT_TRUE(lines[1].starts_with("0 packets written to /dev/full, ")) << show(r);
        EXPECT_TRUE(lines[1].ends_with(" not written (No space left on device)")) << show(r);
    }
    // Standard output on a full disk.
    const RunResult s = hookdump({"read", pcap_}, "/dev/full");
    EXPECT_EQ(s.status, 1) << show(s);
    EXPECT_NE(s.err.find("No space left on device"), std::string::npos) << show(s);
    const RunResult f = hookdump({"read", pcap_, "--flows=/dev/full"});
    EXPECT_EQ(f.status, 1) << show(f);
    EXPECT_NE(f.err.find("No space left on device"), std::string::npos) << show(f);
}

// ---------------------------------------------------------------------------------------------
// -d, -dd, -ddd: the same program text as tcpdump prints

TEST_F(Cli, BpfDumpMatchesTcpdump) {
    if (!need_tcpdump()) GTEST_SKIP() << "tcpdump not installed";
    for (const std::string expr : {"udp port 53", "tcp[tcpflags] & tcp-syn != 0", "ip6 and udp",
                                   "vlan 100 and udp", "host 198.18.0.1 and not icmp"}) {
        for (const std::string level : {"-d", "-dd", "-ddd"}) {
            SCOPED_TRACE(level + " '" + expr + "'");
            // tcpdump takes the link type from a file (an Ethernet capture) instead of an
            // interface.
            const RunResult want = test::run({"tcpdump", "-r", pcap_, level, expr});
            ASSERT_EQ(want.status, 0) << show(want);
            const RunResult got = hookdump({level, expr});
            EXPECT_EQ(got.status, 0) << show(got);
            EXPECT_FALSE(got.out.empty());
            EXPECT_EQ(got.out, want.out);
        }
    }
}

#ifdef HOOKDUMP_HAVE_BPF
// --ebpf tc|xdp: the translation of the classic BPF that -d prints, in the verifier's notation
// (docs/ARCHITECTURE.md, "pcap-filter expressions in eBPF"). Checked against -d: the cBPF
// instruction count in the header; A is w7, so every constant the cBPF compares A with (jeq,
// jgt, jge, jset) is compared with w7, as many times; at XDP every absolute packet load
// (ldb/ldh/ld [k], ldxb 4*([k]&0xf)) reads the same size at the same offset from the packet
// (r9); each RET is a jump to one of two exits, r0 = 1 (accept) and r0 = 0 (reject); every
// line is an instruction of the notation, numbered in turn, every jump lands inside.
TEST_F(Cli, EbpfListingIsTheTranslationOfTheClassicBpf) {
    const std::regex header(
        R"(; (\d+) cBPF instructions -> (\d+) eBPF instructions \((tc|xdp)\); the function replaces the (tc|xdp) )"
        R"(program's filter stub: returns 1 to accept, 0 to reject)");
    const std::regex numbered(R"(\((\d{3,})\) (.+))");
    const std::regex cond(R"(if ([rw]\d+) (==|!=|>|>=|<|<=|&|s<|s>|s<=|s>=) (\S+) goto \+(\d+))");
    const std::regex jump(R"(goto \+(\d+))");
    const std::regex other(
        R"(([rw]\d+) ([-+*/|&^%]|<<|>>|s>>)?= (-?\d+|0x[0-9a-f]+|[rw]\d+|be16 [rw]\d+|be32 [rw]\d+|)"
        R"(\*\(u(8|16|32|64) \*\)\(r\d+ [-+] \d+\))|)"
        R"(\*\(u(8|16|32|64) \*\)\(r\d+ [-+] \d+\) = (-?\d+|[rw]\d+)|call [a-z_0-9]+|exit)");
    const std::regex packet_load(R"(r[78] = \*\(u(8|16|32) \*\)\(r9 \+ (\d+)\))");
    const std::regex cbpf_cond(R"(j(eq|gt|ge|set) +#(0x[0-9a-f]+))");
    const std::regex cbpf_load(R"((ldb|ldh|ld|ldxb) +(4\*\(\[(\d+)\]&0xf\)|\[(\d+)\]))");
    for (const std::string expr :
         {"tcp port 80", "udp and len > 100", "tcp[tcpflags] & tcp-syn != 0"}) {
        const RunResult d = hookdump({"-d", expr});
        ASSERT_EQ(d.status, 0) << show(d);
        const auto cbpf = split_lines(d.out);
        std::multiset<uint64_t> want_consts;
        std::multiset<std::pair<int, uint64_t>> want_loads;
        for (const auto& line : cbpf) {
            std::smatch m;
            if (std::regex_search(line, m, cbpf_cond))
                want_consts.insert(std::stoull(m[2], nullptr, 0));
            if (std::regex_search(line, m, cbpf_load)) {
                const int size = m[1] == "ldh" ? 16 : m[1] == "ld" ? 32 : 8;
                want_loads.insert({size, std::stoull(m[3].matched ? m[3].str() : m[4].str())});
            }
        }
        for (const std::string hook : {"xdp", "tc"}) {
            SCOPED_TRACE("--ebpf " + hook + " '" + expr + "'");
            const RunResult r = hookdump({"--ebpf", hook, expr});
            ASSERT_EQ(r.status, 0) << show(r);
            const auto lines = split_lines(r.out);
            ASSERT_GE(lines.size(), 2u) << r.out;
            std::smatch h;
            ASSERT_TRUE(std::regex_match(lines[0], h, header)) << lines[0];
            EXPECT_EQ(std::stoul(h[1]), cbpf.size());
            EXPECT_EQ(h[3], hook);
            EXPECT_EQ(h[4], hook);
            const size_t n = std::stoul(h[2]);
            ASSERT_EQ(lines.size(), 1 + n) << r.out;
            std::multiset<uint64_t> consts;
            std::multiset<std::pair<int, uint64_t>> loads;
            size_t accept = 0, reject = 0;
            for (size_t pc = 0; pc < n; ++pc) {
                std::smatch m;
                ASSERT_TRUE(std::regex_match(lines[1 + pc], m, numbered)) << lines[1 + pc];
                EXPECT_EQ(std::stoul(m[1]), pc) << lines[1 + pc];
                const std::string insn = m[2];
                std::smatch j;
                if (std::regex_match(insn, j, cond)) {
                    if (j[1] == "w7" &&
                        j[3].str().find_first_not_of("0123456789abcdefx") == std::string::npos)
                        consts.insert(std::stoull(j[3], nullptr, 0));
                    EXPECT_LT(pc + 1 + std::stoul(j[4]), n) << insn;
                } else if (std::regex_match(insn, j, jump)) {
                    EXPECT_LT(pc + 1 + std::stoul(j[1]), n) << insn;
                } else {
                    EXPECT_TRUE(std::regex_match(insn, other)) << "not an instruction: " << insn;
                }
                if (std::regex_match(insn, j, packet_load))
                    loads.insert({std::stoi(j[1]), std::stoull(j[2])});
                if (insn == "exit") {
                    ASSERT_GT(pc, 0u);
                    const std::string prev = lines[pc].substr(lines[pc].find(' ') + 1);
                    accept += prev == "r0 = 1";
                    reject += prev == "r0 = 0";
                }
            }
            EXPECT_EQ(lines.back().substr(lines.back().find(' ') + 1), "exit");
            EXPECT_EQ(consts, want_consts);
            if (hook == "xdp") {
                EXPECT_EQ(loads, want_loads);
            }
            EXPECT_EQ(accept, 1u);
            EXPECT_EQ(reject, 1u);
        }
    }
}
#endif

// ---------------------------------------------------------------------------------------------
// read

TEST_F(Cli, ReadAll) {
    const RunResult r = hookdump({"read", pcap_});
    ASSERT_EQ(r.status, 0) << show(r);
    const auto lines = split_lines(r.out);
    ASSERT_EQ(lines.size(), 100u);
    EXPECT_EQ(lines[0],
              "22:13:20.000000 IP 198.18.0.1.1025 > 198.19.1.1.443: TCP Flags [P.], length 64");
    EXPECT_EQ(lines[5].substr(0, 26), "22:13:20.000005 vlan 105, ");
    EXPECT_EQ(lines[6].substr(0, 20), "22:13:20.000006 IP6 ");
    EXPECT_NE(lines[7].find(": ICMP echo request, length 64"), std::string::npos) << lines[7];
    EXPECT_EQ(r.err, "");
}

TEST_F(Cli, ReadCount) {
    for (const char* n : {"1", "3", "16"}) {
        const RunResult r = hookdump({"read", pcap_, "-c", n});
        ASSERT_EQ(r.status, 0) << show(r);
        EXPECT_EQ(split_lines(r.out).size(), static_cast<size_t>(std::atoi(n))) << show(r);
    }
    const RunResult more = hookdump({"read", pcap_, "-c", "1000"});  // more than there is
    EXPECT_EQ(split_lines(more.out).size(), 100u);
}

TEST_F(Cli, ReadFiltersExactly) {
    struct Case {
        const char* expr;
        size_t count;
    };
    const Case cases[] = {
        {"udp port 53", count_packets([](int f) { return f % 8 == 3 || f % 8 == 4; })},
        {"tcp port 443", count_packets([](int f) { return f % 8 <= 2; })},
        {"icmp", count_packets([](int f) { return f % 8 == 7; })},
        {"ip6", count_packets([](int f) { return f % 8 == 6; })},
        {"vlan and udp port 4789", count_packets([](int f) { return f % 8 == 5; })},
        {"udp", count_packets(
                    [](int f) { return f % 8 == 3 || f % 8 == 4 || f % 8 == 6; })},  // not VLAN's
        {"host 198.18.0.1", count_packets([](int f) { return f == 0; })},
        {"ip and not tcp and not udp", count_packets([](int f) { return f % 8 == 7; })},
    };
    ASSERT_EQ(cases[0].count, 25u);
    ASSERT_EQ(cases[1].count, 39u);
    const bool tcpdump = test::have_program("tcpdump");
    for (const auto& c : cases) {
        SCOPED_TRACE(c.expr);
        const RunResult r = hookdump({"read", pcap_, c.expr});
        ASSERT_EQ(r.status, 0) << show(r);
        const auto lines = split_lines(r.out);
        EXPECT_EQ(lines.size(), c.count);
        if (!tcpdump) continue;
        // The same packets as tcpdump picks (timestamps are 1 µs apart, so they name packets).
        const RunResult t = test::run({"tcpdump", "-n", "-r", pcap_, c.expr});
        ASSERT_EQ(t.status, 0) << show(t);
        std::vector<std::string> ours, theirs;
        for (const auto& l : lines) ours.push_back(l.substr(0, 15));
        for (const auto& l : split_lines(t.out))  // tcpdump may add lines (decoded VXLAN payload)
            if (std::regex_match(l.substr(0, 16), std::regex(R"(\d\d:\d\d:\d\d\.\d{6} )")))
                theirs.push_back(l.substr(0, 15));
        EXPECT_EQ(ours, theirs);
    }
    if (!tcpdump && test::in_ci()) ADD_FAILURE() << "tcpdump is not installed (CI=true: required)";
}

TEST_F(Cli, ReadFilterWordsAreJoined) {
    const RunResult a = hookdump({"read", pcap_, "udp port 53"});
    const RunResult b = hookdump({"read", pcap_, "udp", "port", "53"});
    EXPECT_EQ(a.status, 0);
    EXPECT_EQ(a.out, b.out);
}

TEST_F(Cli, WriteAndReadBack) {
    for (const std::string ext : {".pcap", ".pcapng"}) {
        const std::string out = dir_->file("copy" + ext);
        RunResult r = hookdump({"read", pcap_, "udp port 53", "-w", out});
        ASSERT_EQ(r.status, 0) << show(r);
        EXPECT_EQ(r.out, "");
        const RunResult direct = hookdump({"read", pcap_, "udp port 53"});
        const RunResult copy = hookdump({"read", out});
        ASSERT_EQ(copy.status, 0) << show(copy);
        EXPECT_EQ(copy.out, direct.out) << ext;
    }
    // The generator is deterministic.
    const std::string again = dir_->file("again.pcap");
    ASSERT_EQ(hookdump({"generate", "-n", "100", "-w", again}).status, 0);
    EXPECT_EQ(test::read_file(again), test::read_file(pcap_));
}

TEST_F(Cli, RecordFormatsOnStdout) {
    const RunResult csv = hookdump({"read", pcap_, "-o", "csv", "-c", "5"});
    ASSERT_EQ(csv.status, 0) << show(csv);
    const auto lines = split_lines(csv.out);
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_EQ(lines[0].substr(0, 9), "ts,point,");
    EXPECT_EQ(lines[1].substr(0, 21), "1700000000.000000000,");
    const RunResult jsonl = hookdump({"read", pcap_, "-o", "jsonl", "-c", "5"});
    ASSERT_EQ(jsonl.status, 0) << show(jsonl);
    EXPECT_EQ(split_lines(jsonl.out).size(), 5u);
    EXPECT_EQ(jsonl.out.substr(0, 32), "{\"ts\":1700000000.000000000,\"poin");
}

// A pcapng written by a capture whose packets carry a rule's label (kmod --group, nflog) or a
// drop reason: read -o csv / -o jsonl gives the columns back as the capture wrote them. A
// pcapng written without them (tc, the tap) reads as before, without those columns.
TEST_F(Cli, ReadGivesBackTheLabelsAndDropReasonsOfAPcapng) {
    const auto udp = PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udp(40000, 9).build();
    auto write = [&](const std::string& name, RecordFields fields) {
        const std::string path = dir_->file(name);
        SinkOptions so{path, 262144};
        so.fields = fields;
        auto sink = make_pcapng_sink(so);
        PacketEvent a;
        a.ts_ns = 1700000000000000001ull, a.bytes = udp, a.len = static_cast<uint32_t>(udp.size());
        a.linktype = 101, a.point = CapturePoint::Nflog, a.label = "web in";
        sink->write(a);
        PacketEvent b = a;
        b.ts_ns = 1700000000000000002ull, b.label = {};
        if (fields.drop) {
            b.point = CapturePoint::Drop, b.drop_reason = "NETFILTER_DROP";
            b.drop_location = "nft_do_chain+0x46f";
        }
        sink->write(b);
        sink->finish(Ledger{}, 2);
        return path;
    };
    const std::string labelled = write("labelled.pcapng", {.label = true});
    RunResult csv = hookdump({"read", labelled, "-o", "csv"});
    ASSERT_EQ(csv.status, 0) << show(csv);
    auto lines = split_lines(csv.out);
    ASSERT_EQ(lines.size(), 3u) << csv.out;
    EXPECT_EQ(lines[0] + "\n", csv_header({.label = true}));
    EXPECT_TRUE(lines[0].ends_with(",label")) << lines[0];
    EXPECT_TRUE(lines[1].ends_with(",web in")) << lines[1];
    EXPECT_TRUE(lines[1].find("198.18.0.1,198.18.0.2,") != std::string::npos) << lines[1];
    EXPECT_TRUE(lines[2].ends_with(",")) << lines[2];
    const RunResult jsonl = hookdump({"read", labelled, "-o", "jsonl"});
    ASSERT_EQ(jsonl.status, 0) << show(jsonl);
    lines = split_lines(jsonl.out);
    ASSERT_EQ(lines.size(), 2u) << jsonl.out;
    EXPECT_NE(lines[0].find("\"label\":\"web in\""), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("\"label\":null"), std::string::npos) << lines[1];

    const std::string both = write("drop.pcapng", {.label = true, .drop = true});
    csv = hookdump({"read", both, "-o", "csv"});
    ASSERT_EQ(csv.status, 0) << show(csv);
    lines = split_lines(csv.out);
    ASSERT_EQ(lines.size(), 3u) << csv.out;
    EXPECT_EQ(lines[0] + "\n", csv_header({.label = true, .drop = true}));
    EXPECT_TRUE(lines[2].ends_with(",NETFILTER_DROP,nft_do_chain+0x46f")) << lines[2];

    const std::string plain = write("plain.pcapng", {});
    csv = hookdump({"read", plain, "-o", "csv"});
    ASSERT_EQ(csv.status, 0) << show(csv);
    lines = split_lines(csv.out);
    ASSERT_EQ(lines.size(), 3u) << csv.out;
    EXPECT_EQ(lines[0] + "\n", csv_header({}));
}

// ---------------------------------------------------------------------------------------------
// --flows

TEST_F(Cli, FlowsTable) {
    const RunResult r = hookdump({"read", pcap_, "--flows"});
    ASSERT_EQ(r.status, 0) << show(r);
    const auto lines = split_lines(r.out);
    ASSERT_EQ(lines.size(), 1u + 16 + 1) << show(r);  // header, one line a flow, summary
    EXPECT_EQ(lines[0].substr(0, 12), "proto source");
    EXPECT_EQ(
        lines.back(),
        "16 flows from 100 packets (0 not IP); exported: 0 idle, 0 active, 0 ended by FIN/RST, "
        "0 evicted (table full), 16 at end");
    // Biggest first (bytes, the fifth column): the three TCP flows with 7 packets lead.
    uint64_t prev = UINT64_MAX;
    for (size_t i = 1; i + 1 < lines.size(); ++i) {
        std::istringstream in(lines[i]);
        std::string proto, src, dst;
        uint64_t packets = 0, bytes = 0;
        in >> proto >> src >> dst >> packets >> bytes;
        EXPECT_LE(bytes, prev) << lines[i];
        prev = bytes;
        if (i <= 3) {
            EXPECT_EQ(proto, "6");
            EXPECT_EQ(packets, 7u);
            EXPECT_EQ(bytes, 7u * (14 + 20 + 20 + 64));
        }
    }
    EXPECT_NE(r.out.find("[2001:db8::7]:13703"), std::string::npos) << r.out;
    // The ICMP echo flows: type/code where the destination port would be.
    EXPECT_NE(r.out.find(":8/0 "), std::string::npos) << r.out;
}

TEST_F(Cli, FlowsCsvOneRecordPerFlow) {
    const std::string path = dir_->file("flows.csv");
    const RunResult r = hookdump({"read", pcap_, "--flows=" + path});
    ASSERT_EQ(r.status, 0) << show(r);
    EXPECT_EQ(r.out, "");  // flows only: no packet lines
    const auto lines = split_lines(test::read_file(path));
    ASSERT_EQ(lines.size(), 1u + 16);
    EXPECT_EQ(lines[0],
              "netns,ifindex,point,dir,proto,src,dst,sport,dport,icmp_type,icmp_code,first,last,"
              "packets,bytes,octets,tcp_flags,end");
    size_t packets = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
        const auto f = test::split(lines[i], ',');
        ASSERT_EQ(f.size(), 18u) << lines[i];
        packets += std::stoul(f[13]);
        EXPECT_EQ(f[17], "end");
    }
    EXPECT_EQ(packets, 100u);
    // With a filter, only the matching flows.
    const std::string dns = dir_->file("dns.jsonl");
    ASSERT_EQ(hookdump({"read", pcap_, "udp port 53", "--flows=" + dns}).status, 0);
    EXPECT_EQ(split_lines(test::read_file(dns)).size(), 4u);
}

// The expected records follow from the input: 100 packets over 16 flows in turn (packet i is
// flow i % 16), a table of 4 that evicts the least recently seen flow to make room. A flow comes
// back after 15 others have been added, so it is always gone by then: every packet starts a
// flow of its own, and all but the last 4 are evicted.
TEST_F(Cli, FlowsEvictionReported) {
    constexpr size_t kPackets = 100, kFlows = 16, kMaxFlows = 4;
    static_assert(kFlows - 1 >= kMaxFlows, "a flow must be evicted before it comes back");
    constexpr size_t kEvicted = kPackets - kMaxFlows;
    const std::string path = dir_->file("evict.csv");
    const RunResult r =
        hookdump({"read", pcap_, "--max-flows", std::to_string(kMaxFlows), "--flows=" + path});
    ASSERT_EQ(r.status, 0) << show(r);
    EXPECT_NE(r.err.find(std::to_string(kEvicted) +
                         " flows evicted early because the flow table was full"),
              std::string::npos)
        << show(r);
    const auto lines = split_lines(test::read_file(path));
    ASSERT_EQ(lines.size(), 1 + kPackets);
    for (size_t i = 1; i < lines.size(); ++i) {
        const auto f = test::split(lines[i], ',');
        ASSERT_EQ(f.size(), 18u) << lines[i];
        EXPECT_EQ(f[13], "1") << lines[i];  // one packet a record
        EXPECT_EQ(f[17], i <= kEvicted ? "evicted" : "end") << lines[i];
    }
}

// A bad --ipfix is one line and exit 2, before any output is created.
TEST_F(Cli, IpfixBadCollectorIsOneLine) {
    const std::string out = dir_->file("never.csv");
    const std::pair<const char*, const char*> cases[] = {
        {"198.18.0.1:99999", "hookdump: --ipfix: '198.18.0.1:99999' has no port 1 to 65535"},
        {"[::1", "hookdump: --ipfix: '[::1'"},
        {"", "hookdump: --ipfix: "},
        {"no-such-host.invalid", "hookdump: --ipfix: cannot resolve 'no-such-host.invalid'"},
    };
    for (const auto& [spec, want] : cases) {
        const RunResult r = hookdump({"read", pcap_, "--flows=" + out, "--ipfix", spec});
        EXPECT_EQ(r.status, 2) << spec << show(r);
        const auto lines = split_lines(r.err);
        ASSERT_EQ(lines.size(), 1u) << spec << show(r);
        EXPECT_EQ(lines[0].rfind(want, 0), 0u) << lines[0];
        EXPECT_FALSE(std::filesystem::exists(out)) << spec;
    }
    const RunResult r =
        hookdump({"read", pcap_, "--ipfix", "127.0.0.1", "--ipfix-transport", "sctp"});
    EXPECT_EQ(r.status, 2) << show(r);
}

// --ipfix alone: flows and no packet output; nobody listens on the discard port, which the
// exporter's line says (the ICMP error of its one message waited for at the end), exit 0.
TEST_F(Cli, IpfixAloneWritesNoPackets) {
    const RunResult r = hookdump({"read", pcap_, "--ipfix", "127.0.0.1:9"});
    ASSERT_EQ(r.status, 0) << show(r);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "0 flow records exported to 127.0.0.1:9, 16 not sent (Connection refused)\n");
}

TEST_F(Cli, FlowsAndPacketsTogether) {
    const std::string flows = dir_->file("both.jsonl");
    const RunResult r = hookdump({"read", pcap_, "-c", "10", "-o", "text", "--flows=" + flows});
    ASSERT_EQ(r.status, 0) << show(r);
    EXPECT_EQ(split_lines(r.out).size(), 10u);
    EXPECT_EQ(split_lines(test::read_file(flows)).size(), 10u);
}

}  // namespace
}  // namespace hookdump

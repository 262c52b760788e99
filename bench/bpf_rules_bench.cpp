// The tc program's cost per packet with rules (BPF_PROG_TEST_RUN, repeat): no rule, and 1, 4,
// 16, 64 rules of which only the last matches the packet (the worst case: every rule tried),
// in packets mode with a snaplen of 0 (the record costs little, the rules show); then flows
// mode without rules, one IPv4 and one IPv6 UDP flow (every packet after the first finds its
// flow in the hash). Root. Prints the median of --rounds runs of --repeat packets each, ns per
// packet.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/pkt_loader.h"
#include "packet/builder.h"
#include "rules/bpf_rules.h"
#include "rules/rule.h"

using namespace hookdump;

namespace {

// n rules: "udp dst port 1", ..., the last "src net 198.18.0.0/24 and udp dst port 5001".
std::vector<hd_rule> rules_for(int n) {
    std::string expr;
    for (int i = 1; i < n; ++i) expr += "udp dst port " + std::to_string(i) + " or ";
    if (n) expr += "src net 198.18.0.0/24 and udp dst port 5001";
    return to_bpf_rules(rules_from_expression(expr, Rule{}), HOOKDUMP_MAX_RULES,
                        "the tc/XDP programs");
}

double ns_per_packet(int fd, const std::vector<uint8_t>& frame, int repeat) {
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(),
                .data_size_in = static_cast<__u32>(frame.size()), .repeat = repeat);
    if (bpf_prog_test_run_opts(fd, &o) != 0) {
        std::perror("BPF_PROG_TEST_RUN");
        std::exit(1);
    }
    return o.duration;  // the kernel's average a run, ns
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 15, repeat = 200000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
        if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    }
    const auto frame = PacketBuilder()
                           .ethernet()
                           .ipv4("198.18.0.2", "198.18.1.1")
                           .udp(40000, 5001)
                           .payload(32)
                           .build();
    for (const int n : {0, 1, 4, 16, 64}) {
        bpf::PktConfig cfg;
        cfg.snaplen = 0;
        cfg.rules = rules_for(n);
        bpf::PktObject obj(cfg);
        std::vector<double> v;
        for (int r = 0; r < rounds; ++r)
            v.push_back(ns_per_packet(obj.tc_ingress_fd(), frame, repeat));
        std::sort(v.begin(), v.end());
        std::printf("rules %2d: %5.1f ns a packet (median of %d x %d; min %.1f max %.1f)\n", n,
                    v[v.size() / 2], rounds, repeat, v.front(), v.back());
        const hd_stats s = obj.stats();
        if (s.matched != s.seen) {
            std::fprintf(stderr, "rules %d: %llu of %llu matched\n", n,
                         static_cast<unsigned long long>(s.matched),
                         static_cast<unsigned long long>(s.seen));
            return 1;
        }
    }
    const auto v6 = PacketBuilder()
                        .ethernet()
                        .ipv6("2001:db8::2", "2001:db8::1")
                        .udp(40000, 5001)
                        .payload(32)
                        .build();
    bpf::PktConfig cfg;
    cfg.mode = HD_MODE_FLOWS;
    cfg.tc_egress = cfg.xdp = false;
    bpf::PktObject obj(cfg);
    for (const auto* f : {&frame, &v6}) {
        std::vector<double> v;
        for (int r = 0; r < rounds; ++r)
            v.push_back(ns_per_packet(obj.tc_ingress_fd(), *f, repeat));
        std::sort(v.begin(), v.end());
        std::printf("flows, %s: %5.1f ns a packet (median of %d x %d; min %.1f max %.1f)\n",
                    f == &frame ? "IPv4" : "IPv6", v[v.size() / 2], rounds, repeat, v.front(),
                    v.back());
    }
    const hd_stats s = obj.stats();
    if (s.matched != s.seen || s.flows_new4 != 1 || s.flows_new != 1) {
        std::fprintf(stderr, "flows: %llu of %llu counted\n",
                     static_cast<unsigned long long>(s.matched),
                     static_cast<unsigned long long>(s.seen));
        return 1;
    }
    return 0;
}

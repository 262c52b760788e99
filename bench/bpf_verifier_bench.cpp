// The verifier's cost of the tc/XDP programs (bpf/hookdump_pkt.bpf.c), the most of a tc or XDP
// start: for each configuration and program, the verifier's own statistics (log level 4:
// instructions processed, states, verification time) and the load's wall time. Root. Prints
// one line a program. (The programs' cost a packet: hookdump_bench_bpf_rules.)
#include <bpf/libbpf.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "hookdump_pkt.h"
#include "hookdump_pkt.skel.h"

namespace {

struct Config {
    const char* name;
    uint32_t mode;
    uint32_t snaplen;
    uint32_t nrules;
    uint32_t proc;
};

// The log's statistics lines, joined: "processed N insns ... verification time N usec".
std::string stats_of(const char* log) {
    std::string out;
    for (const char* key : {"verification time", "processed"}) {
        const char* s = std::strstr(log, key);
        if (!s) continue;
        const char* e = std::strchr(s, '\n');
        if (!out.empty()) out += "; ";
        out.append(s, e ? static_cast<size_t>(e - s) : std::strlen(s));
    }
    return out;
}

}  // namespace

int main() {
    const Config configs[] = {
        {"packets", HD_MODE_PACKETS, 262144, 0, 0},
        {"flows+rules", HD_MODE_FLOWS, 262144, 4, 0},
        {"packets+proc", HD_MODE_PACKETS, 262144, 0, 1},
    };
    static char logs[3][1 << 16];
    for (const Config& c : configs) {
        hookdump_pkt* s = hookdump_pkt__open();
        if (!s) {
            std::perror("opening the skeleton");
            return 1;
        }
        s->rodata->cfg_mode = c.mode;
        s->rodata->cfg_snaplen = c.snaplen;
        s->rodata->cfg_nrules = c.nrules;
        s->rodata->cfg_proc = c.proc;
        bpf_map__set_max_entries(s->maps.events, 1 << 20);
        for (bpf_map* m : {s->maps.flows_a, s->maps.flows_b, s->maps.flows4_a, s->maps.flows4_b})
            bpf_map__set_max_entries(m, c.mode == HD_MODE_FLOWS ? 65536 : 1);
        bpf_program* progs[] = {s->progs.hd_tc_ingress, s->progs.hd_tc_egress, s->progs.hd_xdp};
        for (int i = 0; i < 3; ++i) {
            logs[i][0] = 0;
            bpf_program__set_log_buf(progs[i], logs[i], sizeof logs[i]);
            bpf_program__set_log_level(progs[i], 4);
        }
        const auto t0 = std::chrono::steady_clock::now();
        const int err = hookdump_pkt__load(s);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        if (err) {
            std::fprintf(stderr, "%s: load failed (%d)\n", c.name, err);
            return 1;
        }
        for (int i = 0; i < 3; ++i)
            std::printf("%-13s %-13s %s\n", c.name, bpf_program__name(progs[i]),
                        stats_of(logs[i]).c_str());
        std::printf("%-13s load of the 3 programs: %.0f ms\n", c.name, ms);
        hookdump_pkt__destroy(s);
    }
    return 0;
}

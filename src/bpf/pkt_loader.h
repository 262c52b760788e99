// The tc/XDP packet programs (bpf/hookdump_pkt.bpf.c) from userspace: their configuration and
// the loaded skeleton that owns their maps. The links that attach them are in pkt_attach.h.
#pragma once

#include <linux/bpf.h>
#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "hookdump_pkt.h"

struct hookdump_pkt;  // the bpftool skeleton

namespace hookdump::bpf {

struct PktConfig {
    uint32_t mode = HD_MODE_PACKETS;
    uint32_t snaplen = 262144;
    bool l3 = false;                  // the device has no link header (the packet starts with IP)
    std::vector<hd_rule> rules;       // rules/bpf_rules.h's, at most HOOKDUMP_MAX_RULES
    uint32_t ring_bytes = 16u << 20;  // a power of two, at least a page
    // The reader is woken once this much waits in the ring (0: at every record); below it,
    // it drains on its poll timeout (BpfEngine's kDrainMs), as AF_PACKET retires a block.
    uint32_t wakeup_bytes = 0;
    uint32_t max_flows = 65536;
    // A pcap-filter expression's cBPF (compile_pcap_filter), for every program; empty: none.
    // Translated and put in place of the programs' filter stub when they are loaded.
    std::vector<sock_filter> filter;
    // Process attribution (proc_programs.h): its maps' descriptors (-1: off), the namespace
    // the device is in, and the filters (0 / zeros: none).
    int proc_socks_fd = -1;
    int proc_ports_fd = -1;
    uint64_t netns = 0;
    uint32_t filter_pid = 0;
    uint64_t filter_cgroup = 0;
    uint64_t filter_comm[2] = {};
    // The programs to load: the verifier's time is most of a start (about 150 ms a program
    // here, seconds under emulation), so those a run does not attach are left out.
    bool tc_ingress = true;
    bool tc_egress = true;
    bool xdp = true;
};

// Flow mode's IPv4 key and the tuple it stands for (family 4, the first address words).
inline hd_tuple4 to_tuple4(const hd_tuple& t) {
    hd_tuple4 k{};
    k.src = t.src[0];
    k.dst = t.dst[0];
    k.sport = t.sport;
    k.dport = t.dport;
    k.proto = t.proto;
    k.flags = t.flags;
    k.point = t.point;
    return k;
}
inline hd_tuple from_tuple4(const hd_tuple4& k) {
    hd_tuple t{};
    t.src[0] = k.src;
    t.dst[0] = k.dst;
    t.sport = k.sport;
    t.dport = k.dport;
    t.family = 4;
    t.proto = k.proto;
    t.flags = k.flags;
    t.point = k.point;
    return t;
}

// The skeleton, opened, configured (the filter in its place) and loaded.
class PktObject {
  public:
    explicit PktObject(const PktConfig& cfg);
    ~PktObject();
    PktObject(const PktObject&) = delete;
    PktObject& operator=(const PktObject&) = delete;

    int tc_ingress_fd() const;
    int tc_egress_fd() const;
    int xdp_fd() const;
    int events_fd() const;
    // Flow mode: a flow's per-CPU counters (ncpu of them) in the hash the programs count into
    // now; false when it has none. IPv4 flows are kept under the short key (hd_tuple4).
    bool lookup_flow(const hd_tuple& key, hd_flow_value* per_cpu) const;
    // The hashes taken out by swap_flows(): IPv4 flows (hd_tuple4 keys), the others (hd_tuple).
    struct RetiredFlows {
        int v4;
        int other;
    };
    // Puts the other hashes in place and returns the ones taken out, which no program writes
    // to any more when this returns (the kernel waits for running programs).
    RetiredFlows swap_flows();
    // The per-CPU counters, summed.
    hd_stats stats() const;

    hookdump_pkt* skel() const { return skel_; }

  private:
    hookdump_pkt* skel_ = nullptr;
    int flows_active_ = 0;  // 0: flows_a and flows4_a in the slots, 1: the _b ones
};

}  // namespace hookdump::bpf

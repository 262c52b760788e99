// The tc/XDP packet programs' skeleton (bpf/hookdump_pkt.bpf.c): opened, configured through its
// rodata, loaded with the filter spliced in (filter_splice.h), and its maps read for flows and
// counters. Attaching it to an interface is pkt_attach.h's.
#include "bpf/pkt_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include "bpf/filter_splice.h"
#include "bpf/libbpf_log.h"
#include "hookdump_pkt.skel.h"
#include "util/error.h"

namespace hookdump::bpf {

static_assert(sizeof(hd_record) == 96 && offsetof(hd_record, proc) == 64);
static_assert(sizeof(hd_flow_value) == 48);
static_assert(sizeof(hd_tuple4) == 16);
static_assert(sizeof(hd_stats) == 64);
static_assert(sizeof(hd_flow_spill) == 64);

PktObject::PktObject(const PktConfig& cfg) {
    libbpf_log_begin();
    FilterSplice splice(cfg.filter);
    skel_ = hookdump_pkt__open();
    if (!skel_) throw RuntimeError(errno_message("opening the tc/XDP programs", errno));
    skel_->rodata->cfg_snaplen = cfg.snaplen;
    skel_->rodata->cfg_mode = cfg.mode;
    skel_->rodata->cfg_nrules = static_cast<uint32_t>(cfg.rules.size());
    skel_->rodata->cfg_l3 = cfg.l3 ? 1 : 0;
    skel_->rodata->cfg_wakeup_bytes = cfg.wakeup_bytes;
    // The map a mode does not use is made as small as the kernel allows. Flow mode uses the
    // ring too: packets the hash has no room for go through it (struct hd_flow_spill).
    bpf_map__set_max_entries(skel_->maps.events, cfg.ring_bytes);
    for (bpf_map* m :
         {skel_->maps.flows_a, skel_->maps.flows_b, skel_->maps.flows4_a, skel_->maps.flows4_b})
        bpf_map__set_max_entries(m, cfg.mode == HD_MODE_FLOWS ? cfg.max_flows : 1);
    // Process attribution: the cgroup programs' maps, shared (else the smallest there are).
    skel_->rodata->cfg_proc = cfg.proc_socks_fd >= 0 ? 1 : 0;
    skel_->rodata->cfg_netns = cfg.netns;
    skel_->rodata->cfg_filter_pid = cfg.filter_pid;
    skel_->rodata->cfg_filter_cgroup = cfg.filter_cgroup;
    std::memcpy(const_cast<__u64*>(skel_->rodata->cfg_filter_comm), cfg.filter_comm,
                sizeof cfg.filter_comm);
    if (cfg.proc_socks_fd >= 0) {
        if (bpf_map__reuse_fd(skel_->maps.hd_socks, cfg.proc_socks_fd) != 0 ||
            bpf_map__reuse_fd(skel_->maps.hd_ports, cfg.proc_ports_fd) != 0) {
            const int e = errno;
            hookdump_pkt__destroy(skel_);
            skel_ = nullptr;
            throw RuntimeError(errno_message("sharing the process maps with the tc programs", e));
        }
    } else {
        bpf_map__set_max_entries(skel_->maps.hd_socks, 1);
        bpf_map__set_max_entries(skel_->maps.hd_ports, 1);
    }
    bpf_program__set_autoload(skel_->progs.hd_tc_ingress, cfg.tc_ingress);
    bpf_program__set_autoload(skel_->progs.hd_tc_egress, cfg.tc_egress);
    bpf_program__set_autoload(skel_->progs.hd_xdp, cfg.xdp);
    const int err = splice.during([&] { return hookdump_pkt__load(skel_); });
    if (err) {
        hookdump_pkt__destroy(skel_);
        skel_ = nullptr;
        if (!splice.error().empty())
            throw RuntimeError("putting the filter in the tc/XDP programs: " + splice.error());
        if (!libbpf_verifier_verdict().empty())
            throw RuntimeError("the kernel's verifier refused the tc/XDP programs: " +
                               libbpf_verifier_verdict() + " (HOOKDUMP_BPF_DEBUG=1 shows its log)");
        throw RuntimeError(errno_message(
            "loading the tc/XDP programs into the kernel (needs CAP_BPF and CAP_NET_ADMIN)", -err));
    }
    try {
        for (uint32_t i = 0; i < cfg.rules.size(); ++i)
            if (bpf_map_update_elem(bpf_map__fd(skel_->maps.rules), &i, &cfg.rules[i], BPF_ANY) !=
                0)
                throw RuntimeError(errno_message("writing the filter rules", errno));
    } catch (...) {
        hookdump_pkt__destroy(skel_);
        skel_ = nullptr;
        throw;
    }
}

PktObject::~PktObject() {
    if (skel_) hookdump_pkt__destroy(skel_);
}

int PktObject::tc_ingress_fd() const {
    return bpf_program__fd(skel_->progs.hd_tc_ingress);
}
int PktObject::tc_egress_fd() const {
    return bpf_program__fd(skel_->progs.hd_tc_egress);
}
int PktObject::xdp_fd() const {
    return bpf_program__fd(skel_->progs.hd_xdp);
}
int PktObject::events_fd() const {
    return bpf_map__fd(skel_->maps.events);
}
bool PktObject::lookup_flow(const hd_tuple& key, hd_flow_value* per_cpu) const {
    if (key.family == 4) {
        const hd_tuple4 k4 = to_tuple4(key);
        return bpf_map_lookup_elem(
                   bpf_map__fd(flows_active_ ? skel_->maps.flows4_b : skel_->maps.flows4_a), &k4,
                   per_cpu) == 0;
    }
    return bpf_map_lookup_elem(
               bpf_map__fd(flows_active_ ? skel_->maps.flows_b : skel_->maps.flows_a), &key,
               per_cpu) == 0;
}

PktObject::RetiredFlows PktObject::swap_flows() {
    const auto swap = [&](bpf_map* outer, bpf_map* a, bpf_map* b) {
        const uint32_t zero = 0;
        const int next = bpf_map__fd(flows_active_ ? a : b);
        // For a map-in-map the kernel returns only after synchronize_rcu(): every program
        // that could still hold the old map has finished.
        if (bpf_map_update_elem(bpf_map__fd(outer), &zero, &next, BPF_ANY) != 0)
            throw RuntimeError(errno_message("swapping the flow maps", errno));
        return bpf_map__fd(flows_active_ ? b : a);
    };
    const RetiredFlows old{swap(skel_->maps.flows4, skel_->maps.flows4_a, skel_->maps.flows4_b),
                           swap(skel_->maps.flows, skel_->maps.flows_a, skel_->maps.flows_b)};
    flows_active_ ^= 1;
    return old;
}

hd_stats PktObject::stats() const {
    const int ncpu = libbpf_num_possible_cpus();
    std::vector<hd_stats> per(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
    const uint32_t zero = 0;
    hd_stats sum{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &zero, per.data()) != 0) return sum;
    for (const hd_stats& s : per) {
        sum.seen += s.seen;
        sum.matched += s.matched;
        sum.ringbuf_full += s.ringbuf_full;
        sum.flow_full += s.flow_full;
        sum.flows_new4 += s.flows_new4;
        sum.flow_spilled += s.flow_spilled;
        sum.flows_new += s.flows_new;
        sum.proc_known += s.proc_known;
    }
    return sum;
}

}  // namespace hookdump::bpf

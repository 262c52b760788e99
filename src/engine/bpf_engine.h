// Live capture with eBPF programs at tc (tcx or clsact, ingress/egress) or XDP, no module needed:
// packets through a BPF ring buffer, or (flow mode) 5-tuples counted in the kernel's per-CPU
// hash and exported by userspace. Filtering in the kernel: the module's rule model in a map,
// or a pcap-filter expression translated from classic BPF and put in place of the filter stub.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/engine_names.h"
#include "flow/flow_table.h"
#include "rules/rule.h"
#include "util/fd.h"

namespace hookdump {

namespace bpf {
class FlowDrain;
class PktObject;
class RingbufFill;
class TcAttachment;
class XdpLink;
}  // namespace bpf

struct BpfEngineConfig {
    enum class Hook { Tc, Xdp } hook = Hook::Tc;
    std::string interface;  // a name or an index
    bool ingress = true;    // tc: which directions
    bool egress = true;
    std::string xdp_mode = "auto";  // auto (native where the driver can), native, generic
    bool promiscuous = false;       // as AF_PACKET's default: the NIC passes every frame up
    uint32_t snaplen = 262144;
    bool flows = false;            // aggregate in the kernel instead of recording packets
    uint32_t max_flows = 65536;    // the kernel's flow hash
    size_t table_flows = 1 << 20;  // FlowDrain's table (--max-flows): then the oldest evicted
    uint64_t idle_timeout_ns = 60'000'000'000;
    uint64_t active_timeout_ns = 1800'000'000'000;
    uint64_t tcp_end_ns = FlowConfig{}.tcp_end_ns;
    std::vector<Rule> rules;  // empty: every packet
    std::string filter;       // pcap-filter expression for the translated filter
    // Process attribution at tc (src/bpf/proc_programs.h's maps; -1: off) and its filters.
    int proc_socks_fd = -1, proc_ports_fd = -1;
    uint32_t proc_pid = 0;
    uint64_t proc_cgroup = 0;
    std::string proc_comm;
};

class BpfEngine final : public Engine {
  public:
    // Loads and attaches; throws UsageError for a bad interface or expression, RuntimeError
    // when the kernel refuses (already an XDP program there, no privileges).
    explicit BpfEngine(BpfEngineConfig cfg);
    ~BpfEngine() override;

    std::string_view name() const override {
        return cfg_.hook == BpfEngineConfig::Hook::Tc ? engine_name::kTc : engine_name::kXdp;
    }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override;
    // The programs' ring buffer (packets, or flow mode's spilled packets), in bytes.
    std::vector<RingFill> ring_fill() const override;
    uint64_t flows_held() const override;

    int linktype() const { return linktype_; }
    int ifindex() const { return ifindex_; }
    const std::string& ifname() const { return ifname_; }
    // Leftover tc filters of a crashed run removed at start.
    int stale_removed() const { return stale_removed_; }
    bool xdp_native() const;

    // The device's link type for the events (LINKTYPE_ETHERNET, or LINKTYPE_RAW with *l3 for a
    // device without a link header); UsageError for a device the programs cannot frame.
    static int linktype_of(const std::string& ifname, bool* l3);

  private:
    void sweep_flows(EventHandler& handler, bool final_sweep);

    BpfEngineConfig cfg_;
    int ifindex_ = 0;
    std::string ifname_;
    int linktype_ = 1;
    uint64_t netns_ = 0;
    int64_t mono_to_real_ = 0;
    int stale_removed_ = 0;
    uint64_t received_ = 0;
    std::unique_ptr<bpf::PktObject> obj_;
    std::unique_ptr<bpf::FlowDrain> drain_;  // flow mode
    std::unique_ptr<bpf::RingbufFill> ring_;
    std::vector<std::unique_ptr<bpf::TcAttachment>> tc_;
    std::unique_ptr<bpf::XdpLink> xdp_;
    Fd promisc_;  // a packet socket holding the device's promiscuity count
};

}  // namespace hookdump

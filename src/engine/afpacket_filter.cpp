#include "engine/afpacket_filter.h"

#include <linux/filter.h>

#include "engine/afpacket_engine.h"
#include "util/error.h"

namespace hookdump {
namespace {

// For SOCK_DGRAM (cooked) sockets the kernel runs the filter on the packet from its network
// header, while libpcap compiled it for a LINUX_SLL2 header in front: shift packet offsets,
// and turn loads of SLL2 fields into the kernel's ancillary loads. Returns false for a
// program that reads SLL2 fields the kernel cannot supply (libpcap's own fix_program does
// the same, and falls back to filtering in userspace).
bool fix_for_cooked(std::vector<sock_filter>& prog) {
    for (auto& insn : prog) {
        const uint16_t cls = BPF_CLASS(insn.code);
        if (cls != BPF_LD && cls != BPF_LDX) continue;
        const uint16_t mode = BPF_MODE(insn.code);
        if (mode != BPF_ABS && mode != BPF_IND && mode != BPF_MSH) continue;
        if (insn.k >= static_cast<uint32_t>(SKF_AD_OFF)) continue;  // already ancillary
        if (insn.k >= kSll2Len) {
            insn.k -= kSll2Len;
            continue;
        }
        if (mode != BPF_ABS) return false;
        const uint16_t size = BPF_SIZE(insn.code);
        if (insn.k == 0 && size == BPF_H)
            insn.k = static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL);
        else if (insn.k == 4 && size == BPF_W)
            insn.k = static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_IFINDEX);
        else if (insn.k == 8 && size == BPF_H)
            insn.k = static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_HATYPE);
        else if (insn.k == 10 && size == BPF_B)
            insn.k = static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE);
        else
            return false;
    }
    return true;
}

}  // namespace

CompiledFilter compile_filter(const AfPacketConfig& cfg) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_create(cfg.interface.c_str(), errbuf);
    if (!p) throw UsageError("cannot capture on " + cfg.interface + ": " + errbuf);
    struct Closer {
        pcap_t* p;
        ~Closer() { pcap_close(p); }
    } closer{p};
    pcap_set_snaplen(p, static_cast<int>(cfg.snaplen));
    pcap_set_buffer_size(p, 64 << 10);  // this handle only compiles; keep its ring tiny
    pcap_set_immediate_mode(p, 1);
    const int rc = pcap_activate(p);
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE) throw UsageError("no such interface: " + cfg.interface);
    if (rc == PCAP_ERROR_PERM_DENIED)
        throw RuntimeError("capturing on " + cfg.interface +
                           " needs CAP_NET_RAW (run as root or grant the capability)");
    if (rc == PCAP_ERROR_IFACE_NOT_UP) throw UsageError("interface " + cfg.interface + " is down");
    if (rc < 0) throw RuntimeError("cannot capture on " + cfg.interface + ": " + pcap_geterr(p));

    CompiledFilter f;
    f.device = cfg.interface;
    const bool any = cfg.interface == "any";
    if (any && pcap_set_datalink(p, kDltLinuxSll2) != 0)
        throw RuntimeError(std::string("libpcap cannot give LINUX_SLL2 on any: ") + pcap_geterr(p));
    f.dlt = pcap_datalink(p);

    if (pcap_compile(p, &f.user, cfg.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
        throw UsageError(std::string("bad filter expression: ") + pcap_geterr(p));
    f.kernel.resize(f.user.bf_len);
    for (size_t i = 0; i < f.user.bf_len; ++i) {
        const bpf_insn& in = f.user.bf_insns[i];
        f.kernel[i] = sock_filter{in.code, in.jt, in.jf, in.k};
    }
    if (any && !fix_for_cooked(f.kernel)) {
        // Accept everything up to snaplen in the kernel; filter in userspace.
        f.kernel = {sock_filter{BPF_RET | BPF_K, 0, 0, cfg.snaplen + kSll2Len}};
        f.in_userspace = true;
    } else if (any) {
        // The kernel's snap length counts from the network header here.
        for (auto& insn : f.kernel)
            if (insn.code == (BPF_RET | BPF_K) && insn.k > kSll2Len) insn.k -= kSll2Len;
    }
    return f;
}

}  // namespace hookdump

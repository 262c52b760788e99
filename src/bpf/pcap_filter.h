// libpcap's side of the cBPF translation (src/bpf/cbpf_translate.h): compiling an expression
// and libpcap's own verdict. Kept apart because libpcap's struct bpf_insn and the kernel's
// (linux/bpf.h) share a name: no translation unit can include both.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace hookdump::bpf {

// libpcap's compiler: `expression` for `linktype` (a DLT_ value) as cBPF, optimized, netmask
// unknown (as tcpdump without an interface). UsageError with libpcap's message on a bad one.
std::vector<sock_filter> compile_pcap_filter(std::string_view expression, int linktype = 1,
                                             int snaplen = 262144);

// libpcap's own verdict on one packet (pcap_offline_filter with caplen = wire length =
// packet.size()), for comparing with the translated filter.
class PcapFilter {
  public:
    explicit PcapFilter(std::string_view expression, int linktype = 1, int snaplen = 262144);
    ~PcapFilter();
    PcapFilter(const PcapFilter&) = delete;
    PcapFilter& operator=(const PcapFilter&) = delete;

    std::span<const sock_filter> program() const { return insns_; }
    bool matches(std::span<const uint8_t> packet) const;

  private:
    struct Compiled;  // libpcap's bpf_program (its struct bpf_insn clashes with the kernel's)
    std::vector<sock_filter> insns_;
    std::unique_ptr<Compiled> compiled_;
};

}  // namespace hookdump::bpf

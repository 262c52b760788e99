// The AF_PACKET engine's filter: a pcap-filter expression compiled by libpcap on a live handle
// of the interface, made fit for the socket it is attached to (SO_ATTACH_FILTER).
#pragma once

#include <linux/filter.h>
#include <pcap/pcap.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hookdump {

struct AfPacketConfig;

inline constexpr int kDltLinuxSll2 = 276;
inline constexpr uint32_t kSll2Len = 20;

// The filter as libpcap compiles it on a live handle of the same interface (so `vlan` and
// friends use the kernel's ancillary data exactly as tcpdump's filters do).
struct CompiledFilter {
    std::vector<sock_filter> kernel;  // what SO_ATTACH_FILTER gets
    bpf_program user{};               // for userspace filtering when `kernel` could not be made
    bool in_userspace = false;
    int dlt = 1;
    std::string device;  // the name libpcap resolved
};

// Throws UsageError for a bad interface or expression, RuntimeError when libpcap cannot open
// the interface (with the capability needed when that is the reason). The caller frees
// `user` (pcap_freecode).
CompiledFilter compile_filter(const AfPacketConfig& cfg);

}  // namespace hookdump

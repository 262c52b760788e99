// capture --pid, --comm, --cgroup, applied in userspace (src/bpf/proc_attribution.h, the kmod
// engine's reader) to PacketEvent::proc.
#pragma once

#include <cstdint>
#include <string>

#include "packet/event.h"

namespace hookdump {

// 0 / empty: not given. A packet of no known process matches none.
struct ProcFilter {
    uint32_t pid = 0;
    std::string comm;
    uint64_t cgroup_id = 0;
    bool any() const { return pid || !comm.empty() || cgroup_id; }
    bool match(const ProcInfo& p) const;
};

}  // namespace hookdump

// The loss ledger: per interface, what the kernel accepted and dropped and what hookdump read.
// What reached the outputs is the pipeline's (Pipeline::outputs()).
#pragma once

#include <cstdint>
#include <vector>

#include "packet/event.h"

namespace hookdump {

struct InterfaceCounters {
    int32_t ifindex = 0;
    IfName ifname;
    uint64_t filter_accepted = 0;  // accepted by the kernel filter (as the kernel counts them)
    uint64_t received = 0;         // read by hookdump
    uint64_t kernel_drops = 0;     // dropped by the kernel before hookdump could read them
};

struct Ledger {
    std::vector<InterfaceCounters> interfaces;

    InterfaceCounters total() const;
    // The entry for (ifindex, ifname), created when missing.
    InterfaceCounters& at(int32_t ifindex, const IfName& ifname);
    const InterfaceCounters* find(int32_t ifindex, const IfName& ifname) const;
};

}  // namespace hookdump

#include "core/ledger.h"

namespace hookdump {

InterfaceCounters Ledger::total() const {
    InterfaceCounters t;
    for (const auto& i : interfaces) {
        t.filter_accepted += i.filter_accepted;
        t.received += i.received;
        t.kernel_drops += i.kernel_drops;
    }
    return t;
}

const InterfaceCounters* Ledger::find(int32_t ifindex, const IfName& ifname) const {
    for (const auto& i : interfaces)
        if (i.ifindex == ifindex && i.ifname.view() == ifname.view()) return &i;
    return nullptr;
}

InterfaceCounters& Ledger::at(int32_t ifindex, const IfName& ifname) {
    if (auto* p = find(ifindex, ifname)) return const_cast<InterfaceCounters&>(*p);
    auto& i = interfaces.emplace_back();
    i.ifindex = ifindex;
    i.ifname = ifname;
    return i;
}

}  // namespace hookdump

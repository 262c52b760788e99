// Interface names by index, as seen from this network namespace, looked up once each
// (if_indextoname opens a socket and asks the kernel: microseconds). Most events in a row come
// from one interface, so the last answer is kept at hand.
#pragma once

#include <net/if.h>

#include <unordered_map>

#include "packet/event.h"

namespace hookdump {

class IfNameCache {
  public:
    // Empty for 0 (no interface) and for an index without an interface (also cached).
    const IfName& get(int32_t ifindex) {
        if (ifindex == last_index_) return last_name_;
        IfName n;
        if (ifindex > 0) {
            auto it = names_.find(ifindex);
            if (it != names_.end()) {
                n = it->second;
            } else {
                char buf[IF_NAMESIZE] = {};
                if (if_indextoname(static_cast<unsigned>(ifindex), buf)) n.assign(buf);
                names_[ifindex] = n;
            }
        }
        last_index_ = ifindex;
        last_name_ = n;
        return last_name_;
    }

  private:
    std::unordered_map<int32_t, IfName> names_;
    int32_t last_index_ = 0;
    IfName last_name_;
};

}  // namespace hookdump

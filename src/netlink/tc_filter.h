// tc filters over rtnetlink: the clsact qdisc and our cls_bpf filter on it (where the kernel has
// no tcx links, or HOOKDUMP_TC_CLSACT=1 asks for them), and the removal of the filters a killed
// run left, which outlive their creator. The tcx link that comes first is in bpf/pkt_attach.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hookdump {

enum class TcDirection { Ingress, Egress };

// Our cls_bpf filter on a clsact hook, at a priority no other filter uses (never displacing
// one), named "hookdump:<pid>" so that a later run can tell a crashed run's leftover from a
// live run's filter. Removed by the destructor; the clsact qdisc too when we created it (or
// cleaned a leftover from it) and it is empty then.
class TcFilter {
  public:
    TcFilter(int ifindex, TcDirection dir, int prog_fd);
    ~TcFilter();
    TcFilter(const TcFilter&) = delete;
    TcFilter& operator=(const TcFilter&) = delete;

    uint32_t priority() const { return prio_; }

  private:
    int ifindex_;
    TcDirection dir_;
    uint32_t prio_ = 0;
};

// Removes the filters "hookdump:<pid>" on the interface whose process is gone (a run killed
// with SIGKILL leaves them: netlink tc filters outlive their creator), and their clsact qdisc
// when nothing else is left on it. Returns how many filters.
int remove_stale_tc_filters(int ifindex);
// The names of the bpf filters at a hook ("hookdump:123", ...), for tests and messages.
std::vector<std::string> tc_filter_names(int ifindex, TcDirection dir);

}  // namespace hookdump

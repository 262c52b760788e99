// The tc/XDP programs attached to an interface, each attachment an RAII owner that detaches on
// destruction: a tcx link (6.6+) or a clsact filter per tc direction, an XDP link.
#pragma once

#include <memory>
#include <string>

#include "netlink/tc_filter.h"
#include "util/fd.h"

namespace hookdump::bpf {

// Our program on a tc hook: a tcx link where the kernel has them (6.6+), ahead of the hook's
// other programs and of clsact's filters, run without cls_bpf and detached when its fd closes
// (by us, or by the kernel when we die); else (6.1: link_create refuses the attach type) a
// TcFilter. HOOKDUMP_TC_CLSACT=1 in the environment asks for the TcFilter where tcx exists.
class TcAttachment {
  public:
    TcAttachment(int ifindex, TcDirection dir, int prog_fd);
    bool tcx() const { return static_cast<bool>(link_); }

  private:
    Fd link_;
    std::unique_ptr<TcFilter> filter_;
};

enum class XdpMode { Auto, Native, Generic };

// An XDP bpf_link: detaches when its fd closes, by us or by the kernel when we die.
// Refuses (RuntimeError, one line) when an XDP program is already attached.
class XdpLink {
  public:
    XdpLink(int ifindex, const std::string& ifname, int prog_fd, XdpMode mode);
    bool native() const { return native_; }

  private:
    Fd link_;
    bool native_ = false;
};

}  // namespace hookdump::bpf

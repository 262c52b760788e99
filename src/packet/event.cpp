#include "packet/event.h"
#include "packet/proc_filter.h"

#include <array>
#include <cstring>
#include <string>

namespace hookdump {
namespace {
constexpr std::array<std::string_view, kCapturePointCount> kPointNames = {
    "-",           "tap-in", "tap-out",    "prerouting", "input", "forward", "output",
    "postrouting", "xdp",    "tc-ingress", "tc-egress",  "nflog", "drop",    "socket",
};
}  // namespace

std::string_view to_string(CapturePoint p) {
    const auto i = static_cast<size_t>(p);
    return i < kPointNames.size() ? kPointNames[i] : "?";
}

std::string_view point_label(const PacketEvent& ev) {
    static const auto kLabels = [] {
        std::array<std::array<std::string, 4>, kCapturePointCount> t;
        for (size_t i = 0; i < t.size(); ++i) {
            const std::string base(kPointNames[i]);
            t[i] = {base, base, base + ":last", base + ":custom"};
        }
        return t;
    }();
    const auto i = static_cast<size_t>(ev.point);
    const auto slot = static_cast<size_t>(ev.slot);
    if (i >= kLabels.size() || slot >= 4) return "?";
    return kLabels[i][slot];
}

std::optional<CapturePoint> capture_point_from_string(std::string_view s) {
    for (size_t i = 1; i < kPointNames.size(); ++i)
        if (kPointNames[i] == s) return static_cast<CapturePoint>(i);
    return std::nullopt;
}

std::string_view to_string(Direction d) {
    switch (d) {
        case Direction::In:
            return "in";
        case Direction::Out:
            return "out";
        default:
            return "";
    }
}

std::string_view to_string(Verdict v) {
    switch (v) {
        case Verdict::Accept:
            return "accept";
        case Verdict::Drop:
            return "drop";
        default:
            return "";
    }
}

void IfName::assign(std::string_view v) {
    const size_t n = v.size() < sizeof s - 1 ? v.size() : sizeof s - 1;
    std::memset(s, 0, sizeof s);
    std::memcpy(s, v.data(), n);
}

bool ProcFilter::match(const ProcInfo& p) const {
    if (!any()) return true;
    if (!p.known) return false;
    if (pid && p.pid != pid) return false;
    if (cgroup_id && p.cgroup_id != cgroup_id) return false;
    if (!comm.empty() && p.comm_view() != comm) return false;
    return true;
}

}  // namespace hookdump

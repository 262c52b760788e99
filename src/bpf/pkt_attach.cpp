// The tc/XDP programs on an interface: tcx links (or, without them, netlink/tc_filter.h's
// filters) and XDP links. Apart from the skeleton (pkt_loader.cpp): these take any program fd.
#include "bpf/pkt_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "util/error.h"

namespace hookdump::bpf {

// tcx links (6.6+). libbpf 1.1 has no bpf_program__attach_tcx, but its bpf_link_create passes
// an attach type it does not know straight to the kernel, with opts' flags; the 6.1 UAPI
// headers here lack the values.

namespace {

constexpr uint32_t kBpfTcxIngress = 46;    // BPF_TCX_INGRESS
constexpr uint32_t kBpfTcxEgress = 47;     // BPF_TCX_EGRESS
constexpr uint32_t kBpfFBefore = 1U << 3;  // BPF_F_BEFORE: with no relative program, first

bool tcx_wanted() {
    const char* e = getenv("HOOKDUMP_TC_CLSACT");
    return !e || !*e || std::string_view(e) == "0";
}

// How kernels without tcx refuse: 6.1's link_create knows no such attach type (EINVAL); a
// kernel with no BPF_LINK_CREATE or a smaller bpf_attr says EINVAL, E2BIG or ENOSYS; one built
// without tcx support EOPNOTSUPP (or the kernel-internal ENOTSUPP, 524).
bool tcx_unsupported(int err) {
    return err == EINVAL || err == EOPNOTSUPP || err == 524 || err == ENOSYS || err == E2BIG;
}

}  // namespace

TcAttachment::TcAttachment(int ifindex, TcDirection dir, int prog_fd) {
    if (tcx_wanted()) {
        LIBBPF_OPTS(bpf_link_create_opts, o, .flags = kBpfFBefore);
        // (Within the 6.1 enum's range of values, 0..63.)
        const auto type = static_cast<bpf_attach_type>(dir == TcDirection::Ingress ? kBpfTcxIngress
                                                                                   : kBpfTcxEgress);
        const int fd = bpf_link_create(prog_fd, ifindex, type, &o);
        if (fd >= 0) {
            link_.reset(fd);
            return;
        }
        const int err = errno;
        if (!tcx_unsupported(err))
            throw RuntimeError(
                errno_message(fmt::format("attaching the tc {} program (tcx link)",
                                          dir == TcDirection::Ingress ? "ingress" : "egress"),
                              err));
    }
    filter_ = std::make_unique<TcFilter>(ifindex, dir, prog_fd);
}

XdpLink::XdpLink(int ifindex, const std::string& ifname, int prog_fd, XdpMode mode) {
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (bpf_xdp_query(ifindex, 0, &q) == 0 && q.prog_id) {
        std::string what = fmt::format("id {}", q.prog_id);
        if (const int pfd = bpf_prog_get_fd_by_id(q.prog_id); pfd >= 0) {
            bpf_prog_info info{};
            uint32_t len = sizeof info;
            if (bpf_obj_get_info_by_fd(pfd, &info, &len) == 0 && info.name[0])
                what = fmt::format("'{}', id {}", info.name, q.prog_id);
            close(pfd);
        }
        throw RuntimeError(
            fmt::format("an XDP program ({}) is already attached to {}: hookdump does not "
                        "replace it; use --engine tc",
                        what, ifname));
    }
    const auto attach = [&](uint32_t flags) {
        LIBBPF_OPTS(bpf_link_create_opts, o, .flags = flags);
        return bpf_link_create(prog_fd, ifindex, BPF_XDP, &o);
    };
    int fd = -1;
    if (mode != XdpMode::Generic) {
        fd = attach(XDP_FLAGS_DRV_MODE);
        native_ = fd >= 0;
        if (fd < 0 && mode == XdpMode::Native)
            throw RuntimeError(
                errno_message("attaching XDP in native mode to " + ifname +
                                  " (the driver may not support it: try --xdp-mode generic)",
                              errno));
    }
    if (fd < 0) fd = attach(XDP_FLAGS_SKB_MODE);
    if (fd < 0) {
        const int err = errno;
        if (err == EBUSY || err == EEXIST)
            throw RuntimeError("an XDP program is already attached to " + ifname +
                               ": hookdump does not replace it");
        throw RuntimeError(errno_message("attaching XDP to " + ifname, err));
    }
    link_.reset(fd);
}

}  // namespace hookdump::bpf

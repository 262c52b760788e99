// The tc side of tc attachment over rtnetlink: a clsact qdisc, cls_bpf filters named
// "hookdump:<pid>", and the removal of a killed run's leftovers. rtnetlink rather than libbpf's
// bpf_tc_*, which cannot name a filter (and the name is how a leftover is told from a live
// run's filter); in src/netlink/ as it is tc over netlink and nothing of BPF's but a program fd.
#include "netlink/tc_filter.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>

#include "netlink/netlink_socket.h"
#include "util/error.h"

namespace hookdump {

namespace {

constexpr const char* kNamePrefix = "hookdump:";

uint32_t parent_of(TcDirection dir) {
    return TC_H_MAKE(TC_H_CLSACT, dir == TcDirection::Ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

tcmsg* start_tc(NetlinkSocket& nl, uint16_t type, uint16_t flags, nlmsghdr** out) {
    void* extra = nullptr;
    *out = nl.start_raw(type, flags, sizeof(tcmsg), &extra);
    auto* t = static_cast<tcmsg*>(extra);
    t->tcm_family = AF_UNSPEC;
    return t;
}

struct FilterInfo {
    uint32_t prio = 0;
    uint32_t handle = 0;
    uint16_t protocol = 0;
    std::string kind;
    std::string name;
};

std::vector<FilterInfo> dump_filters(NetlinkSocket& nl, int ifindex, TcDirection dir) {
    nlmsghdr* nlh = nullptr;
    tcmsg* t = start_tc(nl, RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, &nlh);
    t->tcm_ifindex = ifindex;
    t->tcm_parent = parent_of(dir);
    std::vector<FilterInfo> out;
    try {
        nl.transact(nlh, "listing tc filters", [&](const nlmsghdr* reply) {
            if (reply->nlmsg_type != RTM_NEWTFILTER) return;
            const auto* tm = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(reply));
            FilterInfo f;
            f.prio = TC_H_MAJ(tm->tcm_info) >> 16;
            f.protocol = static_cast<uint16_t>(TC_H_MIN(tm->tcm_info));
            f.handle = tm->tcm_handle;
            for_each_attr(reply, sizeof(tcmsg), [&](const nlattr* a) {
                if (mnl_attr_get_type(a) == TCA_KIND) f.kind = mnl_attr_get_str(a);
                if (mnl_attr_get_type(a) == TCA_OPTIONS)
                    for_each_nested(a, [&](const nlattr* o) {
                        if (mnl_attr_get_type(o) == TCA_BPF_NAME) f.name = mnl_attr_get_str(o);
                    });
            });
            // The dump lists a chain head (handle 0) per priority besides its filters.
            if (f.handle) out.push_back(f);
        });
    } catch (const NetlinkError& e) {
        if (e.error() == EINVAL || e.error() == ENOENT) return {};  // no clsact qdisc
        throw;
    }
    return out;
}

void delete_filter(NetlinkSocket& nl, int ifindex, TcDirection dir, const FilterInfo& f) {
    nlmsghdr* nlh = nullptr;
    tcmsg* t = start_tc(nl, RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, &nlh);
    t->tcm_ifindex = ifindex;
    t->tcm_parent = parent_of(dir);
    t->tcm_handle = f.handle;
    t->tcm_info = TC_H_MAKE(f.prio << 16, f.protocol);
    mnl_attr_put_strz(nlh, TCA_KIND, "bpf");
    nl.transact(nlh, "removing a tc filter");
}

bool qdisc_clsact(NetlinkSocket& nl, int ifindex, bool create) {
    nlmsghdr* nlh = nullptr;
    tcmsg* t = start_tc(nl, create ? RTM_NEWQDISC : RTM_DELQDISC,
                        NLM_F_REQUEST | NLM_F_ACK | (create ? NLM_F_CREATE | NLM_F_EXCL : 0), &nlh);
    t->tcm_ifindex = ifindex;
    t->tcm_parent = TC_H_CLSACT;
    t->tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
    mnl_attr_put_strz(nlh, TCA_KIND, "clsact");
    try {
        nl.transact(nlh, create ? "adding the clsact qdisc" : "removing the clsact qdisc");
    } catch (const NetlinkError& e) {
        if (create && e.error() == EEXIST) return false;
        if (!create && (e.error() == ENOENT || e.error() == EINVAL)) return false;
        throw;
    }
    return true;
}

bool pid_is_hookdump(long pid) {
    if (pid <= 0) return false;
    if (pid == getpid()) return true;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    return comm && std::getline(comm, name) && name == "hookdump";
}

// Interfaces from which this process removed a crashed run's filters: their clsact is ours
// to remove once empty.
std::set<int>& adopted_qdiscs() {
    static std::set<int> s;
    return s;
}

std::set<int>& created_qdiscs() {
    static std::set<int> s;
    return s;
}

}  // namespace

int remove_stale_tc_filters(int ifindex) {
    NetlinkSocket nl(NETLINK_ROUTE);
    int removed = 0;
    for (TcDirection dir : {TcDirection::Ingress, TcDirection::Egress}) {
        for (const FilterInfo& f : dump_filters(nl, ifindex, dir)) {
            if (f.kind != "bpf" || f.name.rfind(kNamePrefix, 0) != 0) continue;
            const long pid = std::strtol(f.name.c_str() + std::strlen(kNamePrefix), nullptr, 10);
            if (pid_is_hookdump(pid)) continue;  // a live run's
            delete_filter(nl, ifindex, dir, f);
            ++removed;
        }
    }
    if (removed) {
        // Their clsact goes with them unless something else is on it (then with the last of our
        // filters: adopted). A tcx run adds no filter that would remove it later.
        if (dump_filters(nl, ifindex, TcDirection::Ingress).empty() &&
            dump_filters(nl, ifindex, TcDirection::Egress).empty())
            qdisc_clsact(nl, ifindex, false);
        else
            adopted_qdiscs().insert(ifindex);
    }
    return removed;
}

std::vector<std::string> tc_filter_names(int ifindex, TcDirection dir) {
    NetlinkSocket nl(NETLINK_ROUTE);
    std::vector<std::string> names;
    for (const FilterInfo& f : dump_filters(nl, ifindex, dir))
        if (f.kind == "bpf") names.push_back(f.name);
    return names;
}

TcFilter::TcFilter(int ifindex, TcDirection dir, int prog_fd) : ifindex_(ifindex), dir_(dir) {
    NetlinkSocket nl(NETLINK_ROUTE);
    if (qdisc_clsact(nl, ifindex, true)) {
        created_qdiscs().insert(ifindex);
    } else {
        // A clsact that holds only other hookdump runs' filters is one of us made: the last
        // run to leave removes it.
        bool any = false, only_ours = true;
        for (TcDirection d : {TcDirection::Ingress, TcDirection::Egress})
            for (const FilterInfo& f : dump_filters(nl, ifindex, d)) {
                any = true;
                only_ours = only_ours && f.name.rfind(kNamePrefix, 0) == 0;
            }
        if (any && only_ours) adopted_qdiscs().insert(ifindex);
    }
    std::set<uint32_t> used;
    for (const FilterInfo& f : dump_filters(nl, ifindex, dir)) used.insert(f.prio);
    const std::string name = kNamePrefix + std::to_string(getpid());
    // The first free priority: ahead of other filters where possible (they may drop what we
    // want to see), never in place of one. EEXIST: someone took it meanwhile, try the next.
    for (uint32_t prio = 1; prio < 0xffff; ++prio) {
        if (used.count(prio)) continue;
        nlmsghdr* nlh = nullptr;
        tcmsg* t = start_tc(nl, RTM_NEWTFILTER,
                            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &nlh);
        t->tcm_ifindex = ifindex;
        t->tcm_parent = parent_of(dir);
        t->tcm_handle = 1;
        t->tcm_info = TC_H_MAKE(prio << 16, htons(ETH_P_ALL));
        mnl_attr_put_strz(nlh, TCA_KIND, "bpf");
        nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
        mnl_attr_put_u32(nlh, TCA_BPF_FD, static_cast<uint32_t>(prog_fd));
        mnl_attr_put_strz(nlh, TCA_BPF_NAME, name.c_str());
        mnl_attr_put_u32(nlh, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
        mnl_attr_nest_end(nlh, opts);
        try {
            nl.transact(nlh, fmt::format("attaching the tc {} program",
                                         dir == TcDirection::Ingress ? "ingress" : "egress"));
        } catch (const NetlinkError& e) {
            if (e.error() == EEXIST) continue;
            throw;
        }
        prio_ = prio;
        return;
    }
    throw RuntimeError("no free tc priority on the interface");
}

TcFilter::~TcFilter() {
    try {
        NetlinkSocket nl(NETLINK_ROUTE);
        delete_filter(nl, ifindex_, dir_, FilterInfo{prio_, 1, htons(ETH_P_ALL), "bpf", ""});
        if (!created_qdiscs().count(ifindex_) && !adopted_qdiscs().count(ifindex_)) return;
        // Remove the clsact qdisc we made once nobody's filter is left on it.
        if (dump_filters(nl, ifindex_, TcDirection::Ingress).empty() &&
            dump_filters(nl, ifindex_, TcDirection::Egress).empty()) {
            qdisc_clsact(nl, ifindex_, false);
            created_qdiscs().erase(ifindex_);
            adopted_qdiscs().erase(ifindex_);
        }
    } catch (const std::exception&) {
        // The interface may be gone (and its filters with it).
    }
}

}  // namespace hookdump

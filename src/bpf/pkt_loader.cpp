#include "bpf/pkt_loader.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <string_view>

#include "bpf/cbpf_translate.h"
#include "bpf/libbpf_log.h"
#include "hookdump_pkt.skel.h"
#include "netlink/netlink_socket.h"
#include "rules/rule.h"
#include "util/error.h"

namespace hookdump::bpf {

static_assert(sizeof(hd_record) == 64);
static_assert(sizeof(hd_flow_value) == 40);
static_assert(sizeof(hd_tuple4) == 16);
static_assert(sizeof(hd_stats) == 48);

namespace {}  // namespace

namespace {

// The filter in the programs. libbpf calls a section handler's prepare callback with a
// program's final instructions (subprograms appended, in the order of their calls); the filter
// stub, the last of them, gives way to the translated expression there. The program then calls
// the filter as a bpf-to-bpf function: ~90 ns a packet less than the tail calls it replaced
// (entry -> filter program -> record program), and unlike freplace, which does the same in the
// kernel, it needs no tracing programs (refused by some kernels: this host's).
struct Splice {
    std::vector<bpf_insn> tc, xdp;  // empty: keep the stub (accept everything)
    std::string error;
};
thread_local Splice* t_splice = nullptr;  // during PktObject's load only

bool is_magic(const bpf_insn& in) {
    const uint8_t cls = BPF_CLASS(in.code);
    return in.imm == HD_FILTER_STUB_MAGIC &&
           ((cls == BPF_ALU64 || cls == BPF_ALU || cls == BPF_ST) &&
            (cls == BPF_ST || BPF_OP(in.code) == BPF_MOV));
}

std::string splice_filter(bpf_program* prog, bpf_prog_load_opts* opts,
                          const std::vector<bpf_insn>& filter) {
    const bpf_insn* insns = bpf_program__insns(prog);
    const size_t n = bpf_program__insn_cnt(prog);
    // The stub: the function a bpf-to-bpf call enters that holds the magic number.
    size_t start = n;
    for (size_t i = 0; i < n; ++i) {
        if (insns[i].code != (BPF_JMP | BPF_CALL) || insns[i].src_reg != BPF_PSEUDO_CALL) continue;
        const int64_t t = static_cast<int64_t>(i) + insns[i].imm + 1;
        if (t <= 0 || t >= static_cast<int64_t>(n)) continue;
        for (size_t j = static_cast<size_t>(t); j < n && insns[j].code != (BPF_JMP | BPF_EXIT); ++j)
            if (is_magic(insns[j])) start = static_cast<size_t>(t);
    }
    if (start == n) return "the filter stub is not in the program";
    for (size_t j = start; j + 1 < n; ++j)
        if (insns[j].code == (BPF_JMP | BPF_EXIT))
            return "the filter stub is not the program's last function";
    std::vector<bpf_insn> out(insns, insns + start);
    out.insert(out.end(), filter.begin(), filter.end());
    if (const int err = bpf_program__set_insns(prog, out.data(), out.size()); err)
        return errno_message("replacing the filter stub", -err);
    // Line info for the stub's instructions past the translation's end would be refused.
    if (opts->line_info && opts->line_info_rec_size >= sizeof(uint32_t)) {
        const auto* base = static_cast<const uint8_t*>(opts->line_info);
        uint32_t keep = 0;
        for (; keep < opts->line_info_cnt; ++keep) {
            uint32_t off = 0;
            std::memcpy(&off, base + size_t{keep} * opts->line_info_rec_size, sizeof(off));
            if (off >= out.size()) break;
        }
        opts->line_info_cnt = keep;
    }
    return {};
}

int prepare_load(bpf_program* prog, bpf_prog_load_opts* opts, long cookie) {
    if (!t_splice) return 0;  // another object's "tc"/"xdp" program: left as it is
    const std::vector<bpf_insn>& filter = cookie ? t_splice->xdp : t_splice->tc;
    if (filter.empty()) return 0;
    t_splice->error = splice_filter(prog, opts, filter);
    return t_splice->error.empty() ? 0 : -EINVAL;
}

// Once a process: our handlers take SEC("tc") and SEC("xdp") before libbpf's own.
void register_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        LIBBPF_OPTS(libbpf_prog_handler_opts, tc, .cookie = 0,
                    .prog_prepare_load_fn = prepare_load);
        LIBBPF_OPTS(libbpf_prog_handler_opts, xdp, .cookie = 1,
                    .prog_prepare_load_fn = prepare_load);
        if (libbpf_register_prog_handler("tc", BPF_PROG_TYPE_SCHED_CLS, bpf_attach_type{}, &tc) <
                0 ||
            libbpf_register_prog_handler("xdp", BPF_PROG_TYPE_XDP, BPF_XDP, &xdp) < 0)
            throw RuntimeError("registering the tc/XDP section handlers with libbpf failed");
    });
}

}  // namespace

PktObject::PktObject(const PktConfig& cfg) {
    libbpf_log_begin();
    register_handlers();
    Splice splice;
    if (!cfg.filter.empty()) {
        splice.tc = translate_cbpf(cfg.filter, FilterSpec{FilterHook::Tc});
        splice.xdp = translate_cbpf(cfg.filter, FilterSpec{FilterHook::Xdp});
    }
    skel_ = hookdump_pkt__open();
    if (!skel_) throw RuntimeError(errno_message("opening the tc/XDP programs", errno));
    skel_->rodata->cfg_snaplen = cfg.snaplen;
    skel_->rodata->cfg_mode = cfg.mode;
    skel_->rodata->cfg_nrules = static_cast<uint32_t>(cfg.rules.size());
    skel_->rodata->cfg_l3 = cfg.l3 ? 1 : 0;
    skel_->rodata->cfg_wakeup_bytes = cfg.wakeup_bytes;
    const uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    // The map a mode does not use is made as small as the kernel allows.
    bpf_map__set_max_entries(skel_->maps.events,
                             cfg.mode == HD_MODE_PACKETS ? cfg.ring_bytes : page);
    for (bpf_map* m :
         {skel_->maps.flows_a, skel_->maps.flows_b, skel_->maps.flows4_a, skel_->maps.flows4_b})
        bpf_map__set_max_entries(m, cfg.mode == HD_MODE_FLOWS ? cfg.max_flows : 1);
    t_splice = &splice;
    const int err = hookdump_pkt__load(skel_);
    t_splice = nullptr;
    if (err) {
        hookdump_pkt__destroy(skel_);
        skel_ = nullptr;
        if (!splice.error.empty())
            throw RuntimeError("putting the filter in the tc/XDP programs: " + splice.error);
        if (!libbpf_verifier_verdict().empty())
            throw RuntimeError("the kernel's verifier refused the tc/XDP programs: " +
                               libbpf_verifier_verdict() + " (HOOKDUMP_BPF_DEBUG=1 shows its log)");
        throw RuntimeError(errno_message(
            "loading the tc/XDP programs into the kernel (needs CAP_BPF and CAP_NET_ADMIN)", -err));
    }
    try {
        for (uint32_t i = 0; i < cfg.rules.size(); ++i)
            if (bpf_map_update_elem(bpf_map__fd(skel_->maps.rules), &i, &cfg.rules[i], BPF_ANY) !=
                0)
                throw RuntimeError(errno_message("writing the filter rules", errno));
    } catch (...) {
        hookdump_pkt__destroy(skel_);
        skel_ = nullptr;
        throw;
    }
}

PktObject::~PktObject() {
    if (skel_) hookdump_pkt__destroy(skel_);
}

int PktObject::tc_ingress_fd() const {
    return bpf_program__fd(skel_->progs.hd_tc_ingress);
}
int PktObject::tc_egress_fd() const {
    return bpf_program__fd(skel_->progs.hd_tc_egress);
}
int PktObject::xdp_fd() const {
    return bpf_program__fd(skel_->progs.hd_xdp);
}
int PktObject::events_fd() const {
    return bpf_map__fd(skel_->maps.events);
}
bool PktObject::lookup_flow(const hd_tuple& key, hd_flow_value* per_cpu) const {
    if (key.family == 4) {
        const hd_tuple4 k4 = to_tuple4(key);
        return bpf_map_lookup_elem(
                   bpf_map__fd(flows_active_ ? skel_->maps.flows4_b : skel_->maps.flows4_a), &k4,
                   per_cpu) == 0;
    }
    return bpf_map_lookup_elem(
               bpf_map__fd(flows_active_ ? skel_->maps.flows_b : skel_->maps.flows_a), &key,
               per_cpu) == 0;
}

PktObject::RetiredFlows PktObject::swap_flows() {
    const auto swap = [&](bpf_map* outer, bpf_map* a, bpf_map* b) {
        const uint32_t zero = 0;
        const int next = bpf_map__fd(flows_active_ ? a : b);
        // For a map-in-map the kernel returns only after synchronize_rcu(): every program
        // that could still hold the old map has finished.
        if (bpf_map_update_elem(bpf_map__fd(outer), &zero, &next, BPF_ANY) != 0)
            throw RuntimeError(errno_message("swapping the flow maps", errno));
        return bpf_map__fd(flows_active_ ? b : a);
    };
    const RetiredFlows old{swap(skel_->maps.flows4, skel_->maps.flows4_a, skel_->maps.flows4_b),
                           swap(skel_->maps.flows, skel_->maps.flows_a, skel_->maps.flows_b)};
    flows_active_ ^= 1;
    return old;
}

hd_stats PktObject::stats() const {
    const int ncpu = libbpf_num_possible_cpus();
    std::vector<hd_stats> per(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
    const uint32_t zero = 0;
    hd_stats sum{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &zero, per.data()) != 0) return sum;
    for (const hd_stats& s : per) {
        sum.seen += s.seen;
        sum.matched += s.matched;
        sum.ringbuf_full += s.ringbuf_full;
        sum.flow_full += s.flow_full;
        sum.flows_new4 += s.flows_new4;
        sum.flows_new += s.flows_new;
    }
    return sum;
}

// ---------------------------------------------------------------------------------------------
// tc over rtnetlink (libbpf's bpf_tc_* cannot name a filter, which leftover detection needs).

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

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------

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

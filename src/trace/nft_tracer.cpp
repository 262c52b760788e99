#include "trace/nft_tracer.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>

#include <libmnl/libmnl.h>
#include <libnftnl/trace.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <unistd.h>

#include "trace/nft_ruleset.h"
#include "util/clock.h"
#include "util/error.h"

namespace hookdump::trace {
namespace {

std::mutex g_nft_mu;  // libnftables keeps global state (its parser's): one command at a time

std::string first_line(const char* s) {
    std::string out = s ? s : "";
    if (auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);
    return out;
}

// Whether a trace table's owner is gone: no such process, or one that is not hookdump.
bool owner_gone(int pid) {
    std::ifstream comm(fmt::format("/proc/{}/comm", pid));
    std::string name;
    if (!comm || !std::getline(comm, name)) return true;
    return name != "hookdump";
}

}  // namespace

NftContext::NftContext() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    if (!ctx_) throw RuntimeError("nft: cannot create a libnftables context");
    nft_ctx_output_set_flags(
        ctx_, NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_STATELESS | NFT_CTX_OUTPUT_NUMERIC_PRIO);
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
}

NftContext::~NftContext() {
    nft_ctx_free(ctx_);
}

bool NftContext::try_run(const std::string& cmds, std::string* out) {
    std::lock_guard lock(g_nft_mu);
    const int rc = nft_run_cmd_from_buffer(ctx_, cmds.c_str());
    if (out) *out = rc == 0 ? nft_ctx_get_output_buffer(ctx_) : nft_ctx_get_error_buffer(ctx_);
    return rc == 0;
}

std::string NftContext::run(const std::string& cmds) {
    std::string out;
    if (!try_run(cmds, &out)) throw RuntimeError("nft: " + first_line(out.c_str()));
    return out;
}

NftTraceTable::NftTraceTable(NftContext& nft, const std::string& expression) : nft_(nft) {
    const int pid = static_cast<int>(getpid());
    name_ = nft_trace_table_name(pid);
    // Killed runs' tables (kill -9 leaves them): removed when their process is gone.
    const auto rs = NftRuleset::parse(nft_.run("list tables"));
    for (const auto& [family, name, owner] : rs.trace_tables()) {
        if (owner == pid || !owner_gone(owner)) continue;
        if (nft_.try_run(fmt::format("delete table {} {}", family, name)))
            stale_.push_back(fmt::format("{} {}", family, name));
    }
    const std::string cmds = nft_trace_table_commands(pid, expression, note_);
    nft_.try_run(fmt::format("delete table inet {}", name_));  // a reused pid's
    nft_.run(cmds);
}

NftTraceTable::~NftTraceTable() {
    nft_.try_run(fmt::format("delete table inet {}", name_));
}

std::vector<std::string> legacy_tables_with_rules() {
    std::vector<std::string> out;
    for (const auto& [file, tool] : {std::pair{"/proc/net/ip_tables_names", "iptables-legacy"},
                                     {"/proc/net/ip6_tables_names", "ip6tables-legacy"}}) {
        std::ifstream in(file);
        for (std::string t; std::getline(in, t);)
            if (!t.empty()) out.push_back(fmt::format("{} {}", tool, t));
    }
    return out;
}

struct NftTraceDecoder::Impl {
    std::string own_table;
    NftRuleset ruleset;
    Relist relist;
    // Per trace id: the base chain the packet is in, and the headers of its first message.
    struct State {
        std::string family, table, chain, hook;
        int32_t priority = 0;
        uint64_t seen_ns = 0;
        std::vector<uint8_t> headers;
    };
    std::map<uint32_t, State> states;
    pcap_t* dead = nullptr;
    bpf_program filter{};
    bool have_filter = false;

    void refresh() {
        if (relist)
            if (auto rs = relist()) ruleset = std::move(*rs);
    }
    ~Impl() {
        if (have_filter) pcap_freecode(&filter);
        if (dead) pcap_close(dead);
    }
};

NftTraceDecoder::NftTraceDecoder(std::string own_table, const std::string& expression,
                                 NftRuleset ruleset, Relist relist)
    : impl_(std::make_unique<Impl>()) {
    impl_->own_table = std::move(own_table);
    impl_->ruleset = std::move(ruleset);
    impl_->relist = std::move(relist);
    // The expression, applied to the headers a message carries: the table may mark more
    // packets than it selects.
    impl_->dead = pcap_open_dead(DLT_RAW, 65535);
    if (!expression.empty() && impl_->dead) {
        if (pcap_compile(impl_->dead, &impl_->filter, expression.c_str(), 1,
                         PCAP_NETMASK_UNKNOWN) != 0)
            throw UsageError("nft: " + std::string(pcap_geterr(impl_->dead)));
        impl_->have_filter = true;
    }
}

NftTraceDecoder::~NftTraceDecoder() = default;

void NftTraceDecoder::set_ruleset(NftRuleset ruleset) {
    impl_->ruleset = std::move(ruleset);
}

size_t NftTraceDecoder::pending() const {
    return impl_->states.size();
}

void NftTraceDecoder::expire(uint64_t now_ns) {
    auto& states = impl_->states;
    for (auto it = states.begin(); it != states.end();)
        it = now_ns - it->second.seen_ns > 1'000'000'000 ? states.erase(it) : std::next(it);
}

std::optional<Observation> NftTraceDecoder::decode(const nlmsghdr* nlh, uint64_t now_ns) {
    auto& im = *impl_;
    if ((nlh->nlmsg_type & 0xff) != NFT_MSG_TRACE) return std::nullopt;
    nftnl_trace* tr = nftnl_trace_alloc();
    if (!tr) return std::nullopt;
    struct FreeTr {
        nftnl_trace* t;
        ~FreeTr() { nftnl_trace_free(t); }
    } f{tr};
    if (nftnl_trace_nlmsg_parse(nlh, tr) < 0) return std::nullopt;
    if (!nftnl_trace_is_set(tr, NFTNL_TRACE_TABLE)) return std::nullopt;
    const std::string table = nftnl_trace_get_str(tr, NFTNL_TRACE_TABLE);
    if (table == im.own_table) return std::nullopt;  // our own marking chains
    const uint32_t family_num = nftnl_trace_get_u32(tr, NFTNL_TRACE_FAMILY);
    // NFPROTO_* (linux/netfilter.h clashes with netinet/in.h)
    const char* fam = family_num == 1    ? "inet"
                      : family_num == 2  ? "ip"
                      : family_num == 10 ? "ip6"
                      : family_num == 7  ? "bridge"
                      : family_num == 5  ? "netdev"
                      : family_num == 3  ? "arp"
                                         : "?";
    const std::string family = fam;
    const std::string chain =
        nftnl_trace_is_set(tr, NFTNL_TRACE_CHAIN) ? nftnl_trace_get_str(tr, NFTNL_TRACE_CHAIN) : "";
    const uint32_t id = nftnl_trace_get_u32(tr, NFTNL_TRACE_ID);
    const uint32_t type = nftnl_trace_get_u32(tr, NFTNL_TRACE_TYPE);

    const NftChain* c = im.ruleset.chain(family, table, chain);
    if (!c) {
        im.refresh();
        c = im.ruleset.chain(family, table, chain);
    }
    auto& st = im.states[id];
    if (c && !c->hook.empty()) {
        st.family = family;
        st.table = table;
        st.chain = chain;
        st.hook = c->hook;
        st.priority = c->priority;
    }
    st.seen_ns = now_ns;

    // The packet headers, in the first message of each base chain: network header, then up
    // to 20 bytes of the transport header. The latest are the chain's (NAT may have changed
    // them since the last one).
    uint32_t nlen = 0, tlen = 0;
    const void* nh = nftnl_trace_is_set(tr, NFTNL_TRACE_NETWORK_HEADER)
                         ? nftnl_trace_get_data(tr, NFTNL_TRACE_NETWORK_HEADER, &nlen)
                         : nullptr;
    const void* th = nftnl_trace_is_set(tr, NFTNL_TRACE_TRANSPORT_HEADER)
                         ? nftnl_trace_get_data(tr, NFTNL_TRACE_TRANSPORT_HEADER, &tlen)
                         : nullptr;
    if (nh && nlen > 0) {
        st.headers.assign(static_cast<const uint8_t*>(nh), static_cast<const uint8_t*>(nh) + nlen);
        if (th)
            st.headers.insert(st.headers.end(), static_cast<const uint8_t*>(th),
                              static_cast<const uint8_t*>(th) + tlen);
    }

    uint32_t verdict = 0;
    uint64_t rule_handle = 0;
    if (type == NFT_TRACETYPE_POLICY) {
        verdict = nftnl_trace_get_u32(tr, NFTNL_TRACE_POLICY);
    } else if (type == NFT_TRACETYPE_RULE && nftnl_trace_is_set(tr, NFTNL_TRACE_VERDICT)) {
        verdict = nftnl_trace_get_u32(tr, NFTNL_TRACE_VERDICT);
        rule_handle = nftnl_trace_get_u64(tr, NFTNL_TRACE_RULE_HANDLE);
    } else {
        return std::nullopt;  // a return to the calling chain, or the end of the rules
    }
    const std::string vname = nft_verdict_name(verdict);
    if (type == NFT_TRACETYPE_RULE && vname != "accept" && vname != "drop" && vname != "stolen" &&
        vname != "queue")
        return std::nullopt;  // continue, jump, goto, return: the base chain has not decided

    // The chain's verdict: whatever follows for this id is another chain's.
    const Impl::State done = std::move(st);
    im.states.erase(id);
    if (done.headers.empty()) return std::nullopt;
    if (im.have_filter) {
        pcap_pkthdr h{};
        h.caplen = static_cast<bpf_u_int32>(done.headers.size());
        h.len = h.caplen;
        if (pcap_offline_filter(&im.filter, &h, done.headers.data()) == 0) return std::nullopt;
    }
    PacketEvent ev;
    ev.ts_ns = now_ns;
    ev.linktype = 101;  // LINKTYPE_RAW
    ev.bytes = done.headers;
    ev.len = static_cast<uint32_t>(done.headers.size());
    Observation o;
    if (!observe(ev, o)) return std::nullopt;
    o.key = o.short_key;
    o.partial = true;
    NftStep s;
    s.family = done.family.empty() ? family : done.family;
    s.table = table;
    s.chain = chain;
    s.hook = done.hook;
    s.priority = done.priority;
    s.handle = rule_handle;
    s.verdict = vname;
    if (rule_handle) {
        const std::string* text = im.ruleset.rule(family, table, rule_handle);
        if (!text) {
            im.refresh();
            text = im.ruleset.rule(family, table, rule_handle);
        }
        s.rule = text ? *text : fmt::format("(rule handle {} not listed)", rule_handle);
    }
    const std::string point = nft_hook_point(done.hook);
    if (point == "PRE_ROUTING")
        o.point = CapturePoint::PreRouting;
    else if (point == "LOCAL_IN")
        o.point = CapturePoint::LocalIn;
    else if (point == "FORWARD")
        o.point = CapturePoint::Forward;
    else if (point == "LOCAL_OUT")
        o.point = CapturePoint::LocalOut;
    else if (point == "POST_ROUTING")
        o.point = CapturePoint::PostRouting;
    else
        o.point = CapturePoint::Unknown;
    o.ifindex = 0;
    o.ifname.clear();
    o.nft = std::move(s);
    return o;
}

NftTracer::NftTracer(const std::string& expression) {
    nl_ = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl_) throw RuntimeError(errno_message("nft trace: netlink socket", errno));
    try {
        if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0)
            throw RuntimeError(errno_message("nft trace: bind", errno));
        int group = NFNLGRP_NFTRACE;
        if (mnl_socket_setsockopt(nl_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
            throw RuntimeError(errno_message("nft trace: join NFNLGRP_NFTRACE", errno));
        int rcvbuf = 8 << 20;
        setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
        // The decoder first: it checks the expression before the table exists.
        decoder_ = std::make_unique<NftTraceDecoder>(
            nft_trace_table_name(static_cast<int>(getpid())), expression, NftRuleset{},
            [this]() -> std::optional<NftRuleset> {
                // At most every 100 ms: a chain or rule added since the last listing.
                const uint64_t now = clock_ns(CLOCK_MONOTONIC);
                if (now - listed_ns_ < 100'000'000) return std::nullopt;
                listed_ns_ = now;
                std::string out;
                if (!nft_->try_run("list ruleset", &out)) return std::nullopt;
                return NftRuleset::parse(out);
            });
        nft_ = std::make_unique<NftContext>();
        table_ = std::make_unique<NftTraceTable>(*nft_, expression);
        decoder_->set_ruleset(NftRuleset::parse(nft_->run("list ruleset")));
        listed_ns_ = clock_ns(CLOCK_MONOTONIC);
    } catch (...) {
        mnl_socket_close(nl_);
        throw;
    }
}

NftTracer::~NftTracer() {
    decoder_.reset();
    table_.reset();
    if (nl_) mnl_socket_close(nl_);
}

void NftTracer::run(const std::function<void(Observation)>& sink, const std::atomic<bool>& stop) {
    const int fd = mnl_socket_get_fd(nl_);
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
    while (!stop.load()) {
        pollfd p{fd, POLLIN, 0};
        const int r = poll(&p, 1, 50);
        if (r < 0 && errno != EINTR) throw RuntimeError(errno_message("nft trace: poll", errno));
        if (r <= 0) continue;
        const ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ENOBUFS) {
                ++lost_;
                continue;
            }
            if (errno == EAGAIN || errno == EINTR) continue;
            throw RuntimeError(errno_message("nft trace: recv", errno));
        }
        const uint64_t now = realtime_ns();
        int len = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len))
            if (auto o = decoder_->decode(nlh, now)) sink(std::move(*o));
        decoder_->expire(now);
    }
}

}  // namespace hookdump::trace

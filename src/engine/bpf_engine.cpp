#include "engine/bpf_engine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "bpf/cbpf_translate.h"
#include "bpf/flow_drain.h"
#include "bpf/pcap_filter.h"
#include "bpf/pkt_attach.h"
#include "bpf/pkt_loader.h"
#include "bpf/ringbuf_fill.h"
#include "flow/flow_table.h"
#include "rules/bpf_rules.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/netns.h"
#include "util/privilege.h"

namespace hookdump {
namespace {

constexpr int kLinktypeEthernet = 1;
constexpr int kLinktypeRaw = 101;
// How long records below the wakeup threshold may wait in the ring (AF_PACKET's block timeout).
constexpr int kDrainMs = 50;

// Promiscuous mode as libpcap asks for it: a membership on a packet socket, counted by the
// kernel and dropped when the socket closes, even after kill -9. Protocol 0: the socket itself
// receives nothing.
Fd promisc_socket(int ifindex, const std::string& ifname) {
    Fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (!fd)
        throw RuntimeError(
            errno_message("promiscuous mode on " + ifname + " (needs CAP_NET_RAW)", errno));
    packet_mreq mr{};
    mr.mr_ifindex = ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (::setsockopt(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
        throw RuntimeError(errno_message("promiscuous mode on " + ifname, errno));
    return fd;
}

Parsed parsed_from_tuple(const hd_tuple& t, uint8_t tcp_flags) {
    Parsed p;
    if (!(t.flags & HOOKDUMP_EV_IP)) {
        p.issue = ParseIssue::NotIp;
        return p;
    }
    p.has = Parsed::kIp | Parsed::kProto;
    p.family = t.family;
    std::memcpy(p.src.data(), t.src, 16);
    std::memcpy(p.dst.data(), t.dst, 16);
    p.proto = t.proto;
    p.fragment = t.flags & HOOKDUMP_EV_FRAG;
    p.later_fragment = t.flags & HOOKDUMP_EV_LATER_FRAG;
    if (t.flags & HOOKDUMP_EV_PORTS) {
        p.has |= Parsed::kPorts;
        p.sport = t.sport;
        p.dport = t.dport;
    }
    if (t.proto == 6 && (t.flags & HOOKDUMP_EV_PORTS)) {
        p.has |= Parsed::kTcpFlags;
        p.tcp_flags = tcp_flags;
    }
    return p;
}

struct RingCtx {
    BpfEngine* engine;
    EventHandler* handler;
    const BpfEngineConfig* cfg;
    int ifindex;
    IfName ifname;
    int linktype;
    uint64_t netns;
    int64_t offset;
    uint64_t* received;
    bool go_on = true;
};

CapturePoint capture_point(uint8_t hd_point) {
    return hd_point == HD_POINT_TC_INGRESS  ? CapturePoint::TcIngress
           : hd_point == HD_POINT_TC_EGRESS ? CapturePoint::TcEgress
                                            : CapturePoint::Xdp;
}

Direction direction(uint8_t hd_point) {
    return hd_point == HD_POINT_TC_EGRESS ? Direction::Out : Direction::In;
}

int on_record(void* ctx, void* data, size_t size) {
    auto* c = static_cast<RingCtx*>(ctx);
    if (size < sizeof(hd_record)) return 0;
    hd_record r;
    std::memcpy(&r, data, sizeof r);
    const uint32_t caplen = std::min<uint32_t>(r.caplen, static_cast<uint32_t>(size - sizeof r));
    PacketEvent ev;
    ev.ts_ns = r.ts_ns + static_cast<uint64_t>(c->offset);
    ev.point = capture_point(r.point);
    ev.dir = direction(r.point);
    ev.ifindex = static_cast<int32_t>(r.ifindex);
    if (ev.ifindex == c->ifindex) ev.ifname = c->ifname;
    ev.netns = c->netns;
    ev.len = r.len;
    ev.linktype = static_cast<uint16_t>(c->linktype);
    ev.bytes = {static_cast<const uint8_t*>(data) + sizeof r, caplen};
    if (r.proc.tgid) {
        ev.proc.known = true;
        ev.proc.pid = r.proc.tgid;
        ev.proc.uid = r.proc.uid;
        ev.proc.cgroup_id = r.proc.cgroup_id;
        std::memcpy(ev.proc.comm, r.proc.comm, sizeof ev.proc.comm - 1);
    }
    if (c->handler->wants_parsed()) {
        // The bytes when there are enough of them (VLAN, ICMP, the parse issues), the kernel's
        // tuple otherwise (a short snaplen).
        LinkType lt = LinkType::Ethernet;
        link_type_from_dlt(c->linktype, lt);
        ev.parsed = parse_packet(lt, ev.bytes);
        if (!ev.parsed.has_ip() || (!ev.parsed.has_ports() && (r.tuple.flags & HOOKDUMP_EV_PORTS)))
            ev.parsed = parsed_from_tuple(r.tuple, r.tcp_flags);
    }
    ++*c->received;
    if (!c->handler->on_event(ev)) {
        c->go_on = false;
        return -ECANCELED;  // stops libbpf's consume loop
    }
    return 0;
}

}  // namespace

// The device's ARPHRD_ type: Ethernet-framed devices get LINKTYPE_ETHERNET, devices without
// a link header (tun, wireguard, IP tunnels) carry bare IP: LINKTYPE_RAW.
int BpfEngine::linktype_of(const std::string& ifname, bool* l3) {
    std::ifstream f("/sys/class/net/" + ifname + "/type");
    int type = -1;
    if (!(f >> type)) throw RuntimeError("cannot read the link type of " + ifname);
    switch (type) {
        case 1:    // ARPHRD_ETHER
        case 772:  // ARPHRD_LOOPBACK (a zeroed Ethernet header)
            *l3 = false;
            return kLinktypeEthernet;
        case 65534:  // ARPHRD_NONE
        case 768:    // ARPHRD_TUNNEL
        case 769:    // ARPHRD_TUNNEL6
        case 776:    // ARPHRD_SIT
        case 778:    // ARPHRD_IPGRE
        case 823:    // ARPHRD_IP6GRE
            *l3 = true;
            return kLinktypeRaw;
        default:
            throw UsageError(
                fmt::format("{} has link type {} (ARPHRD): the tc/XDP engines handle Ethernet and "
                            "IP-only devices; use --engine afpacket",
                            ifname, type));
    }
}

BpfEngine::BpfEngine(BpfEngineConfig cfg) : cfg_(std::move(cfg)) {
    if (cfg_.interface.empty() || cfg_.interface == "any")
        throw UsageError(fmt::format("--engine {} needs one interface (-i IFACE)", name()));
    ifindex_ = static_cast<int>(if_nametoindex(cfg_.interface.c_str()));
    if (!ifindex_) {
        char* end = nullptr;
        const long v = std::strtol(cfg_.interface.c_str(), &end, 10);
        char buf[IF_NAMESIZE] = {};
        if (*end == 0 && v > 0 && if_indextoname(static_cast<unsigned>(v), buf))
            ifindex_ = static_cast<int>(v);
        if (!ifindex_) throw UsageError("no such interface: " + cfg_.interface);
        ifname_ = buf;
    } else {
        ifname_ = cfg_.interface;
    }
    require_initial_user_namespace(name(), "CAP_BPF and CAP_NET_ADMIN");
    bool l3 = false;
    linktype_ = linktype_of(ifname_, &l3);

    bpf::PktConfig pc;
    pc.mode = cfg_.flows ? HD_MODE_FLOWS : HD_MODE_PACKETS;
    pc.snaplen = cfg_.snaplen;
    pc.l3 = l3;
    pc.rules = to_bpf_rules(cfg_.rules, HOOKDUMP_MAX_RULES, "the tc/XDP programs");
    pc.max_flows = cfg_.max_flows;
    // The expression: libpcap's cBPF for the device's link type, in the programs from their
    // load on (no packet passes unfiltered).
    if (!cfg_.filter.empty()) {
        constexpr int kDltEn10mb = 1, kDltRaw = 12;  // libpcap's DLT_ values on Linux
        pc.filter = bpf::compile_pcap_filter(cfg_.filter, l3 ? kDltRaw : kDltEn10mb,
                                             static_cast<int>(cfg_.snaplen));
    }
    pc.wakeup_bytes = std::min<uint32_t>(pc.ring_bytes / 8, 1u << 20);
    netns_ = own_netns_cookie();
    pc.proc_socks_fd = cfg_.proc_socks_fd;
    pc.proc_ports_fd = cfg_.proc_ports_fd;
    pc.netns = netns_;
    pc.filter_pid = cfg_.proc_pid;
    pc.filter_cgroup = cfg_.proc_cgroup;
    std::memcpy(pc.filter_comm, cfg_.proc_comm.data(),
                std::min(cfg_.proc_comm.size(), sizeof pc.filter_comm - 1));
    const bool tc = cfg_.hook == BpfEngineConfig::Hook::Tc;
    pc.tc_ingress = tc && cfg_.ingress;
    pc.tc_egress = tc && cfg_.egress;
    pc.xdp = !tc;
    obj_ = std::make_unique<bpf::PktObject>(pc);
    if (cfg_.flows) drain_ = std::make_unique<bpf::FlowDrain>(*obj_, cfg_.table_flows);
    ring_ = std::make_unique<bpf::RingbufFill>(obj_->events_fd());

    if (tc) {
        stale_removed_ = remove_stale_tc_filters(ifindex_);
        if (cfg_.ingress)
            tc_.push_back(std::make_unique<bpf::TcAttachment>(ifindex_, TcDirection::Ingress,
                                                              obj_->tc_ingress_fd()));
        if (cfg_.egress)
            tc_.push_back(std::make_unique<bpf::TcAttachment>(ifindex_, TcDirection::Egress,
                                                              obj_->tc_egress_fd()));
    } else {
        bpf::XdpMode m = bpf::XdpMode::Auto;
        if (cfg_.xdp_mode == "native")
            m = bpf::XdpMode::Native;
        else if (cfg_.xdp_mode == "generic" || cfg_.xdp_mode == "skb")
            m = bpf::XdpMode::Generic;
        else if (cfg_.xdp_mode != "auto")
            throw UsageError("--xdp-mode is auto, native or generic");
        xdp_ = std::make_unique<bpf::XdpLink>(ifindex_, ifname_, obj_->xdp_fd(), m);
    }
    // After the attach: a failed attach leaves the device's promiscuity alone.
    if (cfg_.promiscuous && !l3) promisc_ = promisc_socket(ifindex_, ifname_);
    mono_to_real_ = mono_to_real_ns();
}

BpfEngine::~BpfEngine() {
    // Detach before the programs go: tc filters and links hold their own reference to them.
    tc_.clear();
    xdp_.reset();
}

bool BpfEngine::xdp_native() const {
    return xdp_ && xdp_->native();
}

void BpfEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    if (cfg_.flows) {
        // Packets the kernel's hash had no room for come through the ring meanwhile.
        uint64_t next_sweep = 0, next_idle = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            drain_->poll_spills(100);
            const uint64_t now = realtime_ns();
            if (now >= next_sweep) {
                sweep_flows(handler, false);
                next_sweep = now + 1'000'000'000;
            }
            if (now >= next_idle) {
                handler.on_idle(now);
                next_idle = now + 100'000'000;
            }
        }
        sweep_flows(handler, true);
        return;
    }
    RingCtx ctx{this, &handler, &cfg_, ifindex_, {}, linktype_, netns_, mono_to_real_, &received_};
    ctx.ifname.assign(ifname_);
    ring_buffer* rb = ring_buffer__new(obj_->events_fd(), on_record, &ctx, nullptr);
    if (!rb) throw RuntimeError(errno_message("opening the BPF ring buffer", errno));
    std::unique_ptr<ring_buffer, void (*)(ring_buffer*)> guard(rb, ring_buffer__free);
    while (ctx.go_on && !stop.load(std::memory_order_relaxed)) {
        // The programs wake us only once wakeup_bytes wait (one wakeup per record was a
        // context switch a packet): what stays below that is read when the poll times out.
        int n = ring_buffer__poll(rb, kDrainMs);
        if (n == 0) n = ring_buffer__consume(rb);
        if (n < 0 && n != -EINTR && n != -ECANCELED)
            throw RuntimeError(errno_message("reading the BPF ring buffer", -n));
        if (n == 0) handler.on_idle(realtime_ns());
    }
    // What the kernel recorded before the stop is read, so that the ledger adds up.
    if (ctx.go_on) ring_buffer__consume(rb);
}

void BpfEngine::sweep_flows(EventHandler& handler, bool final_sweep) {
    const auto flows = drain_->sweep(clock_ns(CLOCK_MONOTONIC), cfg_.idle_timeout_ns,
                                     cfg_.active_timeout_ns, final_sweep, cfg_.tcp_end_ns);
    for (const bpf::DrainedFlow& f : flows) {
        FlowRecord r;
        r.packets = f.packets;
        r.bytes = f.bytes;
        r.ip_bytes = f.ip_bytes;
        r.tcp_flags = f.tcp_flags;
        r.end = f.end;
        r.first_ns = f.first_ns + static_cast<uint64_t>(mono_to_real_);
        r.last_ns = f.last_ns + static_cast<uint64_t>(mono_to_real_);
        const hd_tuple& k = f.key;
        r.key.netns = netns_;
        r.key.ifindex = ifindex_;
        r.key.point = capture_point(k.point);
        r.dir = direction(k.point);
        r.key.family = k.family;
        std::memcpy(r.key.src.data(), k.src, 16);
        std::memcpy(r.key.dst.data(), k.dst, 16);
        r.key.proto = k.family ? k.proto : 0;
        r.has_ports = k.flags & HOOKDUMP_EV_PORTS;
        if (r.has_ports) {
            r.key.sport = k.sport;
            r.key.dport = k.dport;
        }
        r.has_icmp = k.flags & HOOKDUMP_EV_ICMP;
        if (r.has_icmp) r.key.icmp = k.dport;
        received_ += r.packets;
        handler.on_flow(r);
    }
}

std::vector<RingFill> BpfEngine::ring_fill() const {
    return {ring_->fill()};
}

// The drain's table: every flow the kernel counted up to the last sweep's swap (at most a
// second ago) that has not ended, and those spilled through the ring since, each once however
// many CPUs and hashes counted it. Flows that are new in the live hash since the swap are
// counted at the next sweep: telling them from the table's flows now would take a walk of the
// live hash or a lookup for each flow of the table, a system call apiece, at every snapshot.
uint64_t BpfEngine::flows_held() const {
    return drain_ ? drain_->pending() : 0;
}

Ledger BpfEngine::ledger() const {
    Ledger l;
    IfName n;
    n.assign(ifname_);
    InterfaceCounters& c = l.at(ifindex_, n);
    const hd_stats s = obj_->stats();
    c.filter_accepted = s.matched;
    c.received = received_;
    c.kernel_drops = s.ringbuf_full + s.flow_full;
    return l;
}

}  // namespace hookdump

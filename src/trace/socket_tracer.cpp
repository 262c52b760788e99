#include "trace/socket_tracer.h"

#include <net/if.h>

#include <cstring>

#include "bpf/pcap_filter.h"
#include "bpf/proc_programs.h"
#include "bpf/sock_program.h"
#include "hookdump_sock.h"
#include "util/cgroup.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/netns.h"
#include "util/privilege.h"

namespace hookdump::trace {
namespace {

constexpr uint16_t kLinktypeRaw = 101;
constexpr int kDltRaw = 12;  // DLT_RAW on Linux

}  // namespace

SocketTracer::SocketTracer(const std::string& expression) {
    require_initial_user_namespace("socket", "CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON");
    SockProgramConfig cfg;
    cfg.netns_cookie = own_netns_cookie();
    if (!cfg.netns_cookie)
        throw RuntimeError(
            "cannot read this network namespace's cookie (SO_NETNS_COOKIE, Linux 5.14)");
    if (!expression.empty()) {
        try {
            cfg.rules = rules_from_expression(expression, Rule{});
        } catch (const UsageError& e) {
            note_ = std::string("socket: every socket's packets are read (") + e.what() +
                    "); the expression selects them here";
            filter_ = std::make_unique<bpf::PcapFilter>(expression, kDltRaw);
        }
    }
    // One root for both (under `ip netns exec`: one mount of our own, not one each).
    cgroup2_ = std::make_unique<Cgroup2>();
    // The sockets' processes: the cgroup programs fill the socket map, this program reads it
    // as the packet reaches the socket (the socket may be gone when the record is read).
    try {
        procs_ = std::make_unique<bpf::ProcPrograms>(cfg.netns_cookie, *cgroup2_);
        cfg.proc_socks_fd = procs_->socks_fd();
    } catch (const RuntimeError& e) {
        note_ += std::string(note_.empty() ? "" : "; ") + "socket: no process attribution (" +
                 e.what() + ")";
    }
    realtime_offset_ns_ = mono_to_real_ns();
    prog_ = std::make_unique<SockProgram>(
        cfg, *cgroup2_, [this](const hookdump_sock_event& e) { return deliver(e); });
}

SocketTracer::~SocketTracer() = default;

bool SocketTracer::deliver(const hookdump_sock_event& e) {
    const uint32_t caplen = e.caplen <= HOOKDUMP_SOCK_HDR_MAX ? e.caplen : HOOKDUMP_SOCK_HDR_MAX;
    const std::span<const uint8_t> bytes{e.hdr, caplen};
    if (filter_ && !filter_->matches(bytes)) return true;
    PacketEvent ev;
    ev.ts_ns = e.ts_ns + static_cast<uint64_t>(realtime_offset_ns_);
    ev.point = CapturePoint::Socket;
    ev.dir = e.egress ? Direction::Out : Direction::In;
    ev.ifindex = static_cast<int32_t>(e.ifindex);
    // The program reports this namespace's packets only: the index is one of ours.
    char name[IF_NAMESIZE] = {};
    if (e.ifindex && if_indextoname(e.ifindex, name)) ev.ifname.assign(name);
    ev.len = e.len;
    ev.linktype = kLinktypeRaw;
    ev.bytes = bytes;
    Observation o;
    if (!observe(ev, o)) return true;
    SocketStep s;
    s.egress = e.egress != 0;
    s.family = e.family;
    s.proto = e.protocol;
    std::memcpy(s.addr.data(), e.addr, s.addr.size());
    s.port = e.port;
    if (e.proc.tgid && procs_) {
        SocketProc p;
        p.pid = e.proc.tgid;
        p.uid = e.proc.uid;
        p.comm.assign(e.proc.comm, strnlen(e.proc.comm, sizeof e.proc.comm));
        p.cgroup = std::string(procs_->cgroups().path(e.proc.cgroup_id, ev.ts_ns));
        s.proc = std::move(p);
    }
    o.sock = std::move(s);
    (*sink_)(std::move(o));
    return true;
}

void SocketTracer::run(const std::function<void(Observation)>& sink,
                       const std::atomic<bool>& stop) {
    sink_ = &sink;
    while (!stop.load(std::memory_order_relaxed))
        if (!prog_->poll(50)) return;
    prog_->poll(0);
}

uint64_t SocketTracer::lost() const {
    return prog_->counters().ring_full;
}

}  // namespace hookdump::trace

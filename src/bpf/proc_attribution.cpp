#include "bpf/proc_attribution.h"

#include <bpf/bpf.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>

#include "bpf/proc_programs.h"
#include "util/clock.h"

namespace hookdump::bpf {
namespace {

// An endpoint the map had no entry for is looked up again only for packets this much later
// (a map lookup is a system call; a socket bound meanwhile is missed, never misnamed).
constexpr uint64_t kMissNs = 100'000'000;
constexpr size_t kCacheMax = 65536;
// The namespace's own addresses are read again this often.
constexpr uint64_t kLocalNs = 1'000'000'000;

void fill(ProcInfo& info, const hd_proc& p) {
    info.known = true;
    info.pid = p.tgid;
    info.uid = p.uid;
    info.cgroup_id = p.cgroup_id;
    std::memcpy(info.comm, p.comm, sizeof info.comm);
    info.comm[sizeof info.comm - 1] = 0;
}

}  // namespace

bool ProcFilter::match(const ProcInfo& p) const {
    if (!any()) return true;
    if (!p.known) return false;
    if (pid && p.pid != pid) return false;
    if (cgroup_id && p.cgroup_id != cgroup_id) return false;
    if (!comm.empty() && p.comm_view() != comm) return false;
    return true;
}

size_t ProcAttribution::KeyHash::operator()(const hd_sock_key& k) const noexcept {
    uint64_t w[4];
    std::memcpy(w, &k, sizeof w);
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (uint64_t x : w) h = (h ^ x) * 0xff51afd7ed558ccdull;
    return static_cast<size_t>(h ^ (h >> 29));
}
bool ProcAttribution::KeyEq::operator()(const hd_sock_key& a, const hd_sock_key& b) const noexcept {
    return std::memcmp(&a, &b, sizeof a) == 0;
}

ProcAttribution::ProcAttribution(EventHandler& next, ProcPrograms& programs, uint64_t netns,
                                 bool lookup, ProcFilter filter)
    : next_(next),
      programs_(programs),
      netns_(netns),
      lookup_(lookup),
      filter_(std::move(filter)),
      mono_to_real_(mono_to_real_ns()) {}

bool ProcAttribution::local_address(uint8_t family, const std::array<uint8_t, 16>& a,
                                    uint64_t now_ns) {
    if (!local_read_ns_ || now_ns >= local_read_ns_ + kLocalNs || now_ns < local_read_ns_) {
        local_read_ns_ = now_ns ? now_ns : 1;
        local_.clear();
        ifaddrs* list = nullptr;
        if (getifaddrs(&list) == 0) {
            for (const ifaddrs* i = list; i; i = i->ifa_next) {
                if (!i->ifa_addr) continue;
                std::array<uint8_t, 17> e{};
                if (i->ifa_addr->sa_family == AF_INET) {
                    e[0] = 4;
                    std::memcpy(&e[1], &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr,
                                4);
                } else if (i->ifa_addr->sa_family == AF_INET6) {
                    e[0] = 6;
                    std::memcpy(&e[1],
                                &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
                } else {
                    continue;
                }
                local_.push_back(e);
            }
            freeifaddrs(list);
        }
    }
    std::array<uint8_t, 17> want{};
    want[0] = family;
    std::memcpy(&want[1], a.data(), family == 4 ? 4 : 16);
    for (const auto& e : local_)
        if (e == want) return true;
    return false;
}

void ProcAttribution::read_entries(const hd_sock_key& k, bool wildcard_ok, Cached& c) const {
    c.looked_ns = clock_ns(CLOCK_MONOTONIC);
    c.exact = bpf_map_lookup_elem(programs_.ports_fd(), &k, &c.e) == 0;
    c.wildcard = false;
    if (wildcard_ok) {
        hd_sock_key w = k;
        std::memset(w.addr, 0, sizeof w.addr);
        c.wildcard = bpf_map_lookup_elem(programs_.ports_fd(), &w, &c.w) == 0;
    }
    c.found = c.exact || c.wildcard;
}

// The socket bound to the packet's local end: its source when it went out, its destination
// when it came in; the exact address first, then the wildcard one (only for an address of
// this namespace: a forwarded packet's port may be a local socket's). The entry names the
// packet's process only when the packet's time lies in the socket's life (bound or learned,
// to released): packets are read here after the fact, the socket may be gone or its port
// another socket's by then. An answer is used again for the packets up to when it was read;
// later ones read the map again (about once per ring block and endpoint).
bool ProcAttribution::lookup(const PacketEvent& ev, hd_proc& out) {
    const Parsed& p = ev.parsed;
    if (!p.has_ip() || !p.has_ports() || (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP) ||
        ev.dir == Direction::Unknown)
        return false;
    const bool out_dir = ev.dir == Direction::Out;
    const std::array<uint8_t, 16>& addr = out_dir ? p.src : p.dst;
    hd_sock_key k{};
    k.netns = netns_;
    std::memcpy(k.addr, addr.data(), p.family == 4 ? 4 : 16);
    k.port = out_dir ? p.sport : p.dport;
    k.family = p.family;
    k.proto = p.proto;
    const uint64_t ts = ev.ts_ns - static_cast<uint64_t>(mono_to_real_);
    auto it = cache_.find(k);
    if (it == cache_.end() ||
        (ts > it->second.looked_ns && (it->second.found || ts > it->second.looked_ns + kMissNs))) {
        if (cache_.size() >= kCacheMax) {
            cache_.clear();
            it = cache_.end();
        }
        Cached c{};
        ++looked_up_;
        read_entries(k, local_address(p.family, addr, ev.ts_ns), c);
        it = cache_.insert_or_assign(k, c).first;
    }
    // The exact address's socket when it was there at the packet's time, else the wildcard
    // one's (an accepted connection learns its address at its first packet out: the packets in
    // before that are its listener's).
    const auto covers = [ts](const hd_port_value& v) {
        return ts >= v.since_ns && (!v.released_ns || ts <= v.released_ns);
    };
    const Cached& c = it->second;
    if (c.exact && covers(c.e)) {
        out = c.e.proc;
        return true;
    }
    if (c.wildcard && covers(c.w)) {
        out = c.w.proc;
        return true;
    }
    return false;
}

bool ProcAttribution::attribute(PacketEvent& ev) {
    if (lookup_) {
        hd_proc p{};
        if (lookup(ev, p) && p.tgid) {
            fill(ev.proc, p);
            ++found_;
        }
    }
    if (ev.proc.known) ev.proc.cgroup = programs_.cgroups().path(ev.proc.cgroup_id, ev.ts_ns);
    return !lookup_ || filter_.match(ev.proc);
}

bool ProcAttribution::on_event(const PacketEvent& ev) {
    PacketEvent e = ev;
    if (!attribute(e)) return true;
    return next_.on_event(e);
}

bool ProcAttribution::on_events(std::span<const PacketEvent> evs) {
    batch_.clear();
    for (const PacketEvent& ev : evs) {
        batch_.push_back(ev);
        if (!attribute(batch_.back())) batch_.pop_back();
    }
    return next_.on_events(batch_);
}

}  // namespace hookdump::bpf

#include "bpf/proc_attribution.h"

#include <bpf/bpf.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>

#include "bpf/proc_programs.h"
#include "flow/flow_table.h"
#include "packet/parse.h"
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

Quick quick_endpoint(std::span<const uint8_t> b, bool out, Endpoint& e) {
    constexpr size_t kEth = 14;
    if (b.size() < kEth + 20) return Quick::Parse;
    const unsigned type = unsigned{b[12]} << 8 | b[13];
    size_t l4 = 0;
    size_t datagram_end = 0;  // where the IP header says the datagram ends
    if (type == 0x0800) {
        const uint8_t vihl = b[kEth];
        const size_t ihl = (vihl & 0xfu) * 4;
        if ((vihl >> 4) != 4 || ihl < 20 || b.size() < kEth + ihl) return Quick::Parse;
        // 0 (TSO) or a length inside the header: the parser's cases.
        const size_t tot = unsigned{b[kEth + 2]} << 8 | b[kEth + 3];
        if (tot < ihl) return Quick::Parse;
        if (((b[kEth + 6] & 0x1f) | b[kEth + 7]) != 0) return Quick::None;  // no transport header
        e.family = 4;
        e.proto = b[kEth + 9];
        std::memcpy(e.addr.data(), &b[kEth + (out ? 12 : 16)], 4);
        l4 = kEth + ihl;
        datagram_end = kEth + tot;
    } else if (type == 0x86dd) {
        if (b.size() < kEth + 40 || (b[kEth] >> 4) != 6) return Quick::Parse;
        const size_t plen = unsigned{b[kEth + 4]} << 8 | b[kEth + 5];
        if (plen == 0) return Quick::Parse;  // a jumbogram or GSO packet: the parser's case
        e.family = 6;
        e.proto = b[kEth + 6];
        std::memcpy(e.addr.data(), &b[kEth + (out ? 8 : 24)], 16);
        l4 = kEth + 40;
        datagram_end = l4 + plen;
    } else {
        return Quick::Parse;
    }
    if (e.proto != IPPROTO_TCP && e.proto != IPPROTO_UDP) {
        // IPv6 extension headers: the parser walks them.
        return e.family == 6 ? Quick::Parse : Quick::None;
    }
    // The whole fixed header, captured and inside the datagram, as the parser wants it: a
    // short capture or Ethernet padding past a short datagram has no ports.
    const size_t need = l4 + (e.proto == IPPROTO_TCP ? 20 : 8);
    if (b.size() < need || datagram_end < need) return Quick::Parse;
    const size_t at = l4 + (out ? 0 : 2);
    e.port = static_cast<uint16_t>(unsigned{b[at]} << 8 | b[at + 1]);
    return Quick::Found;
}

bool endpoint_of(const Parsed& p, bool out, Endpoint& e) {
    if (!p.has_ip() || !p.has_ports()) return false;
    e.family = p.family;
    e.proto = p.proto;
    e.addr = out ? p.src : p.dst;
    e.port = out ? p.sport : p.dport;
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

ProcAttribution::ProcAttribution(EventHandler& next, ProcPrograms* programs, CgroupPaths& cgroups,
                                 uint64_t netns, bool lookup, ProcFilter filter)
    : next_(next),
      programs_(programs),
      cgroups_(cgroups),
      netns_(netns),
      lookup_(lookup && programs),
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

void ProcAttribution::take_now() {
    now_ns_ = clock_ns(CLOCK_MONOTONIC);
    gen_ = programs_->ports_gen();
    parsed_ = next_.wants_parsed();
}

void ProcAttribution::read_entries(const hd_sock_key& k, bool wildcard_ok, Cached& c) const {
    c.gen = programs_->ports_gen();
    c.looked_ns = clock_ns(CLOCK_MONOTONIC);
    c.exact = bpf_map_lookup_elem(programs_->ports_fd(), &k, &c.e) == 0;
    c.wildcard = false;
    if (wildcard_ok) {
        hd_sock_key w = k;
        std::memset(w.addr, 0, sizeof w.addr);
        c.wildcard = bpf_map_lookup_elem(programs_->ports_fd(), &w, &c.w) == 0;
    }
    c.found = c.exact || c.wildcard;
}

// The socket bound to the packet's local end: its source when it went out, its destination
// when it came in; the exact address first, then the wildcard one (only for an address of
// this namespace: a forwarded packet's port may be a local socket's). The entry names the
// packet's process only when the packet's time lies in the socket's life (bound or learned,
// to released): packets are read here after the fact, the socket may be gone or its port
// another socket's by then. An answer holds for the packets up to when it was read, and up to
// the batch's start while the programs' change count (hd_ports_gen) has not moved since: the
// map is read again only after a change (of any endpoint), for a miss not before 100 ms.
bool ProcAttribution::lookup(const PacketEvent& ev, hd_proc& out) {
    if (ev.dir == Direction::Unknown) return false;
    const bool out_dir = ev.dir == Direction::Out;
    Endpoint e;
    if (parsed_) {
        if (!endpoint_of(ev.parsed, out_dir, e)) return false;
    } else {
        Quick q = ev.linktype == static_cast<uint16_t>(LinkType::Ethernet)
                      ? quick_endpoint(ev.bytes, out_dir, e)
                      : Quick::Parse;
        if (q == Quick::Parse) {
            LinkType link{};
            q = link_type_from_dlt(ev.linktype, link) &&
                        endpoint_of(parse_packet(link, ev.bytes), out_dir, e)
                    ? Quick::Found
                    : Quick::None;
        }
        if (q != Quick::Found) return false;
    }
    return lookup_endpoint(e.family, e.proto, e.addr, e.port, ev.ts_ns, out);
}

bool ProcAttribution::lookup_endpoint(uint8_t family, uint8_t proto,
                                      const std::array<uint8_t, 16>& addr, uint16_t port,
                                      uint64_t real_ns, hd_proc& out) {
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return false;
    const uint64_t ts = real_ns - static_cast<uint64_t>(mono_to_real_);
    const auto key = [&] {
        hd_sock_key k{};
        k.netns = netns_;
        std::memcpy(k.addr, addr.data(), family == 4 ? 4 : 16);
        k.port = port;
        k.family = family;
        k.proto = proto;
        return k;
    };
    uint64_t a[2];
    std::memcpy(a, addr.data(), sizeof a);
    Cached* c = nullptr;
    if (last_.c && last_.port == port && last_.family == family && last_.proto == proto &&
        last_.addr[0] == a[0] && last_.addr[1] == a[1]) {
        c = last_.c;
    } else {
        const hd_sock_key k = key();
        auto it = cache_.find(k);
        if (it == cache_.end()) {
            if (cache_.size() >= kCacheMax) cache_.clear();
            Cached fresh{};
            ++looked_up_;
            read_entries(k, local_address(family, addr, real_ns), fresh);
            it = cache_.emplace(k, fresh).first;
        }
        c = &it->second;
        last_ = {family, proto, port, {a[0], a[1]}, c};
    }
    if (ts > c->looked_ns) {
        if (c->gen == gen_ && ts <= now_ns_) {
            c->looked_ns = now_ns_;  // nothing changed from the read to the batch's start
        } else if (c->found || ts > c->looked_ns + kMissNs) {
            ++looked_up_;
            read_entries(key(), local_address(family, addr, real_ns), *c);
        }
    }
    // The exact address's socket when it was there at the packet's time, else the wildcard
    // one's (an accepted connection learns its address at its first packet out: the packets in
    // before that are its listener's).
    const auto covers = [ts](const hd_port_value& v) {
        return ts >= v.since_ns && (!v.released_ns || ts <= v.released_ns);
    };
    if (c->exact && covers(c->e)) {
        out = c->e.proc;
        return true;
    }
    if (c->wildcard && covers(c->w)) {
        out = c->w.proc;
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
        } else {
            ev.proc = ProcInfo{};
        }
    }
    if (ev.proc.known) ev.proc.cgroup = cgroups_.path(ev.proc.cgroup_id, ev.ts_ns);
    return !lookup_ || filter_.match(ev.proc);
}

// A flow the engine counted itself (tc/XDP flow mode) has no process: its local endpoint's
// socket, when the socket's life covers the flow's first packet (else its last). The filters
// keep only the flows of a matching process where the kernel did not filter (XDP; tc's
// programs filter the packets before they count them).
void ProcAttribution::on_flow(const FlowRecord& r) {
    FlowRecord f = r;
    if (programs_ && !f.proc.known && f.has_ports && f.dir != Direction::Unknown) {
        take_now();
        const bool out_dir = f.dir == Direction::Out;
        const auto& addr = out_dir ? f.key.src : f.key.dst;
        const uint16_t port = out_dir ? f.key.sport : f.key.dport;
        hd_proc p{};
        if ((lookup_endpoint(f.key.family, f.key.proto, addr, port, f.first_ns, p) ||
             lookup_endpoint(f.key.family, f.key.proto, addr, port, f.last_ns, p)) &&
            p.tgid)
            fill(f.proc, p);
    }
    if (f.proc.known) f.proc.cgroup = cgroups_.path(f.proc.cgroup_id, f.last_ns);
    if (lookup_ && !filter_.match(f.proc)) return;
    next_.on_flow(f);
}

bool ProcAttribution::on_event(const PacketEvent& ev) {
    if (lookup_) take_now();
    PacketEvent e = ev;
    if (!attribute(e)) return true;
    return next_.on_event(e);
}

bool ProcAttribution::on_events(std::span<const PacketEvent> evs) {
    if (lookup_) take_now();
    batch_.clear();
    for (const PacketEvent& ev : evs) {
        batch_.push_back(ev);
        if (!attribute(batch_.back())) batch_.pop_back();
    }
    return next_.on_events(batch_);
}

bool ProcAttribution::on_events_owned(std::span<PacketEvent> evs) {
    if (lookup_) take_now();
    size_t kept = 0;
    for (PacketEvent& ev : evs) {
        if (!attribute(ev)) continue;
        if (&evs[kept] != &ev) evs[kept] = ev;
        ++kept;
    }
    return next_.on_events(evs.first(kept));
}

}  // namespace hookdump::bpf

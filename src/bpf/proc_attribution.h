// Process attribution in userspace, between an engine and the pipeline: events of engines that
// cannot look processes up themselves (AF_PACKET, XDP) are looked up in the cgroup programs'
// endpoint map by their local address and port; every event's cgroup id gets its path (also
// the kmod engine's, which loads no programs); the process filters (--pid, --comm, --cgroup)
// keep what matches where the kernel did not filter.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"
#include "hookdump_proc.h"
#include "packet/parse.h"
#include "packet/proc_filter.h"
#include "util/cgroup.h"

namespace hookdump::bpf {

class ProcPrograms;

// A packet's local endpoint: its source going out, its destination coming in.
struct Endpoint {
    uint8_t family = 0, proto = 0;
    std::array<uint8_t, 16> addr{};
    uint16_t port = 0;
};

enum class Quick { Found, None, Parse };

// The endpoint read at fixed offsets where the frame is the common case: Ethernet with no VLAN
// tag, then IPv4 that is no later fragment or IPv6 whose next header is the transport, its
// fixed header captured and inside the datagram. What parse_packet gives for such frames,
// without the parse nothing else asked for (the parse was most of --proc's cost on AF_PACKET).
// None: IPv4 with no TCP or UDP ports (what the lookup keys on); Parse: any other frame (the
// parser decides).
Quick quick_endpoint(std::span<const uint8_t> b, bool out, Endpoint& e);
// The endpoint of a parsed packet; false when it has no ports.
bool endpoint_of(const Parsed& p, bool out, Endpoint& e);

using hookdump::ProcFilter;

class ProcAttribution final : public EventHandler {
  public:
    // programs: the cgroup programs (their maps); none for an engine that names processes
    // itself (kmod), whose events get their cgroup paths only. lookup (needs programs): the
    // events carry no process yet (look them up here); false for an engine that did (tc, kmod),
    // whose filter the kernel applied too.
    ProcAttribution(EventHandler& next, ProcPrograms* programs, CgroupPaths& cgroups,
                    uint64_t netns, bool lookup, ProcFilter filter);

    bool on_event(const PacketEvent& ev) override;
    bool on_events(std::span<const PacketEvent> evs) override;
    bool on_events_owned(std::span<PacketEvent> evs) override;
    void prefetch(std::span<const PacketEvent> evs) override { next_.prefetch(evs); }
    uint64_t capacity() const override { return next_.capacity(); }
    void on_idle(uint64_t now_ns) override { next_.on_idle(now_ns); }
    // The lookup reads its key from the bytes (quick_endpoint): no parse for it alone.
    bool wants_parsed() const override { return next_.wants_parsed(); }
    void on_flow(const FlowRecord& r) override;

    // Map reads (each one or two lookups, a system call each) and answers found.
    uint64_t looked_up() const { return looked_up_; }
    uint64_t found() const { return found_; }

  private:
    // false: the event is filtered out.
    bool attribute(PacketEvent& ev);
    bool lookup(const PacketEvent& ev, hd_proc& out);
    // The socket of a local endpoint (addresses as Parsed has them) at real_ns (CLOCK_REALTIME).
    bool lookup_endpoint(uint8_t family, uint8_t proto, const std::array<uint8_t, 16>& addr,
                         uint16_t port, uint64_t real_ns, hd_proc& out);
    bool local_address(uint8_t family, const std::array<uint8_t, 16>& a, uint64_t now_ns);

    struct KeyHash {
        size_t operator()(const hd_sock_key& k) const noexcept;
    };
    struct KeyEq {
        bool operator()(const hd_sock_key& a, const hd_sock_key& b) const noexcept;
    };
    // What the map said at looked_ns (CLOCK_MONOTONIC, as the map's times; the answer holds
    // for the packets up to then): the exact address's entry and the wildcard's (for an
    // address of this namespace), and the ports map's change count before the read.
    struct Cached {
        uint64_t looked_ns;
        uint64_t gen;
        bool found;            // either
        bool exact, wildcard;  // which
        hd_port_value e, w;
    };
    void read_entries(const hd_sock_key& k, bool wildcard_ok, Cached& c) const;
    // The clock, then the change count, once a batch: an answer read at change count gen_
    // holds up to now_ns_.
    void take_now();

    EventHandler& next_;
    ProcPrograms* programs_;
    CgroupPaths& cgroups_;
    uint64_t netns_;
    bool lookup_;
    ProcFilter filter_;
    std::unordered_map<hd_sock_key, Cached, KeyHash, KeyEq> cache_;
    std::vector<std::array<uint8_t, 17>> local_;  // family, address
    uint64_t local_read_ns_ = 0;
    int64_t mono_to_real_ = 0;  // the events' CLOCK_REALTIME minus the map's CLOCK_MONOTONIC
    uint64_t now_ns_ = 0, gen_ = 0;
    bool parsed_ = false;  // the events come parsed (the handlers after this one asked)
    // The last endpoint looked up (packets of a flow come in runs): its answer without hashing.
    struct Last {
        uint8_t family = 0, proto = 0;
        uint16_t port = 0;
        uint64_t addr[2] = {};
        Cached* c = nullptr;
    } last_;
    std::vector<PacketEvent> batch_;
    uint64_t looked_up_ = 0, found_ = 0;
};

}  // namespace hookdump::bpf

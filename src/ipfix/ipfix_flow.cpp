#include "ipfix/ipfix_flow.h"

#include <algorithm>
#include <cstring>

namespace hookdump::ipfix {

uint32_t observation_point_id(CapturePoint p) {
    return static_cast<uint32_t>(p);
}

namespace {

EndReason end_reason(FlowEnd e) {
    switch (e) {
        case FlowEnd::Idle:
            return EndReason::IdleTimeout;
        case FlowEnd::Active:
            return EndReason::ActiveTimeout;
        case FlowEnd::Tcp:
            return EndReason::EndOfFlow;
        case FlowEnd::Evicted:
            return EndReason::LackOfResources;
        case FlowEnd::Final:
            break;
    }
    return EndReason::ForcedEnd;
}

}  // namespace

Record to_record(const FlowRecord& f) {
    Record r;
    r.family = f.key.family;
    r.proto = f.key.proto;
    r.src = f.key.src;
    r.dst = f.key.dst;
    if (f.has_ports) {
        r.has |= Record::kPorts;
        r.sport = f.key.sport;
        r.dport = f.key.dport;
    } else if (f.has_icmp) {
        r.has |= Record::kIcmp;
        r.icmp_type_code = f.key.icmp;
    }
    if (f.key.proto == 6) {
        r.has |= Record::kTcpFlags;
        r.tcp_flags = f.tcp_flags;
    }
    // The interface the packets came in by or went out of; both, for neither direction known,
    // would be a guess.
    if (f.key.ifindex > 0 && f.dir == Direction::In) {
        r.has |= Record::kIngress;
        r.ingress_if = static_cast<uint32_t>(f.key.ifindex);
    } else if (f.key.ifindex > 0 && f.dir == Direction::Out) {
        r.has |= Record::kEgress;
        r.egress_if = static_cast<uint32_t>(f.key.ifindex);
    }
    if (f.dir != Direction::Unknown) {
        r.has |= Record::kDirection;
        r.direction = f.dir == Direction::In ? 0 : 1;
    }
    if (const uint32_t op = observation_point_id(f.key.point)) {
        r.has |= Record::kObservationPoint;
        r.observation_point = op;
    }
    if (f.proc.known) {
        r.has |= Record::kProcess;
        r.pid = f.proc.pid;
        r.uid = f.proc.uid;
        r.cgroup_id = f.proc.cgroup_id;
        std::memcpy(r.comm.data(), f.proc.comm, std::min(sizeof f.proc.comm, r.comm.size()));
    }
    r.end_reason = end_reason(f.end);
    r.octets = f.ip_bytes;
    r.packets = f.packets;
    r.start_ms = f.first_ns / 1'000'000;
    r.end_ms = f.last_ns / 1'000'000;
    return r;
}

}  // namespace hookdump::ipfix

// Packets and observations for the trace unit tests (correlator, nft steps, records).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "packet/builder.h"
#include "trace/correlator.h"

namespace hookdump::trace::test {

// An IPv4/UDP packet as the module reports it (bytes from the IP header, LINKTYPE_RAW).
inline std::vector<uint8_t> udp4(std::string_view src, std::string_view dst, uint16_t sport,
                                 uint16_t dport, uint16_t id, size_t payload = 32,
                                 uint8_t fill = 0xab) {
    Ipv4Options o;
    o.id = id;
    return PacketBuilder().ipv4(src, dst, o).udp(sport, dport).payload(payload, fill).build();
}

// What an engine hands the correlator for raw-IP bytes seen at `pt`.
inline Observation observe_ip(const std::vector<uint8_t>& ip, CapturePoint pt, uint64_t ts,
                              PrioritySlot slot = PrioritySlot::None, const char* ifname = "",
                              Verdict v = Verdict::Unknown) {
    PacketEvent ev;
    ev.ts_ns = ts;
    ev.point = pt;
    ev.slot = slot;
    ev.linktype = 101;
    ev.bytes = ip;
    ev.len = static_cast<uint32_t>(ip.size());
    ev.ifname.assign(ifname);
    ev.ifindex = ifname[0] ? 2 : 0;
    ev.verdict = v;
    Observation o;
    EXPECT_TRUE(observe(ev, o));
    return o;
}

}  // namespace hookdump::trace::test

#include "engine/synthetic_engine.h"

#include <string>

#include "packet/builder.h"
#include "packet/parse.h"

namespace hookdump {

SyntheticEngine::SyntheticEngine(SyntheticConfig cfg) : cfg_(cfg) {
    if (cfg_.flows == 0) cfg_.flows = 1;
    for (uint32_t f = 0; f < cfg_.flows; ++f) {
        const uint32_t k = f * 2654435761u + cfg_.seed;  // spread flows over kinds and ports
        const std::string a4 =
            "198.18." + std::to_string(f / 250 % 256) + "." + std::to_string(f % 250 + 1);
        const std::string b4 =
            "198.19." + std::to_string(k % 256) + "." + std::to_string(k / 256 % 250 + 1);
        const auto sport = static_cast<uint16_t>(1024 + k % 60000);
        PacketBuilder b;
        b.ethernet();
        switch (f % 8) {
            case 0:
            case 1:
            case 2:
                b.ipv4(a4, b4).tcp(sport, 443, 0x18).payload(cfg_.payload);
                break;
            case 3:
            case 4:
                b.ipv4(a4, b4).udp(sport, 53).payload(cfg_.payload);
                break;
            case 5:
                b.vlan(static_cast<uint16_t>(100 + f % 10))
                    .ipv4(a4, b4)
                    .udp(sport, 4789)
                    .payload(cfg_.payload);
                break;
            case 6:
                b.ipv6("2001:db8::" + std::to_string(f % 9000 + 1),
                       "2001:db8:1::" + std::to_string(k % 9000 + 1))
                    .udp(sport, 443)
                    .payload(cfg_.payload);
                break;
            default:
                b.ipv4(a4, b4).icmp(8, 0, static_cast<uint16_t>(f), 1).payload(cfg_.payload);
        }
        frames_.push_back(b.build());
    }
    ledger_.interfaces.emplace_back();
}

void SyntheticEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    auto& counters = ledger_.interfaces.front();
    PacketEvent ev;
    ev.linktype = 1;
    for (uint64_t i = 0; i < cfg_.packets && !stop.load(std::memory_order_relaxed); ++i) {
        const auto& frame = frames_[i % frames_.size()];
        ev.ts_ns = cfg_.start_ns + i * cfg_.gap_ns;
        ev.len = static_cast<uint32_t>(frame.size());
        ev.bytes = frame;
        ev.parsed = parse_packet(LinkType::Ethernet, ev.bytes);
        ++counters.received;
        if (!handler.on_event(ev)) break;
    }
}

}  // namespace hookdump

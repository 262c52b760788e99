// Synthetic traffic from the packet builder: a deterministic mix of IPv4/IPv6 TCP, UDP and
// ICMP flows (some VLAN-tagged) on benchmarking addresses. Feeds `hookdump generate`, the
// demo and the benchmarks, so they need no capture file from elsewhere.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/engine.h"

namespace hookdump {

struct SyntheticConfig {
    uint64_t packets = 1000;
    uint32_t flows = 16;
    uint64_t start_ns = 1700000000000000000ull;  // 2023-11-14T22:13:20Z
    uint64_t gap_ns = 1000;                      // between packets
    uint32_t payload = 64;                       // transport payload bytes
    uint32_t seed = 1;
};

class SyntheticEngine final : public Engine {
  public:
    explicit SyntheticEngine(SyntheticConfig cfg);
    std::string_view name() const override { return "synthetic"; }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override { return ledger_; }

  private:
    SyntheticConfig cfg_;
    std::vector<std::vector<uint8_t>> frames_;  // one template per flow
    Ledger ledger_;
};

}  // namespace hookdump

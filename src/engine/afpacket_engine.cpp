#include "engine/afpacket_engine.h"

#include <unistd.h>

#include <algorithm>

#include "engine/afpacket_filter.h"
#include "engine/afpacket_ring.h"
#include "engine/fanout_merger.h"
#include "util/netns.h"

namespace hookdump {
AfPacketEngine::AfPacketEngine(AfPacketConfig cfg) : cfg_(std::move(cfg)) {
    if (cfg_.workers == 0) cfg_.workers = 1;
    CompiledFilter filter = compile_filter(cfg_);
    struct Freer {
        bpf_program* p;
        ~Freer() { pcap_freecode(p); }
    } freer{&filter.user};
    linktype_ = cfg_.interface == "any" ? kDltLinuxSll2 : filter.dlt;
    const uint64_t netns = own_netns_cookie();
    const int group = cfg_.workers > 1 ? static_cast<int>(::getpid() & 0xffff) : -1;
    for (unsigned i = 0; i < cfg_.workers; ++i)
        rings_.push_back(std::make_unique<AfPacketRing>(cfg_, filter, group, netns));
    // Every ring is bound and in the fanout group: now let packets in.
    for (auto& r : rings_) r->start();
}

AfPacketEngine::~AfPacketEngine() = default;

bool AfPacketEngine::userspace_filter() const {
    return !rings_.empty() && rings_.front()->has_user_filter();
}

Ledger AfPacketEngine::ledger() const {
    Ledger l;
    for (const auto& r : rings_) r->add_to(l);
    return l;
}

std::vector<RingFill> AfPacketEngine::ring_fill() const {
    std::vector<RingFill> fill;
    for (const auto& r : rings_)
        fill.push_back({RingFill::Unit::Blocks, r->blocks_in_use(), r->blocks()});
    return fill;
}

void AfPacketEngine::run_worker(unsigned index, EventHandler& handler,
                                const std::atomic<bool>& stop) {
    rings_.at(index)->run(handler, stop);
}

void AfPacketEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    if (rings_.size() == 1) {
        rings_.front()->run(handler, stop);
        return;
    }
    // Fanout: each ring on its own thread; here, merge their events in timestamp order. A
    // block is handed over at most about two block timeouts after its first packet.
    const uint64_t slack_ns =
        std::max<uint64_t>(500'000'000, 2ull * cfg_.block_timeout_ms * 1'000'000 + 200'000'000);
    merge_sources(
        rings_.size(),
        [this](size_t i, EventHandler& h, const std::atomic<bool>& s) { rings_[i]->run(h, s); },
        handler, stop, slack_ns);
}

}  // namespace hookdump

#include "flow/flow_table.h"

#include <cstring>

namespace hookdump {

size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
    // FNV-1a over the fields; cheap and good enough for a table keyed by tuples.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    const size_t alen = k.family == 6 ? 16 : 4;
    mix(k.src.data(), alen);
    mix(k.dst.data(), alen);
    mix(&k.sport, 2);
    mix(&k.dport, 2);
    mix(&k.proto, 1);
    mix(&k.netns, 8);
    return static_cast<size_t>(h);
}

std::string_view to_string(FlowEnd e) {
    switch (e) {
        case FlowEnd::Idle: return "idle";
        case FlowEnd::Active: return "active";
        case FlowEnd::Evicted: return "evicted";
        case FlowEnd::Final: return "end";
    }
    return "?";
}

FlowTable::FlowTable(FlowConfig config, Exporter exporter)
    : config_(config), exporter_(std::move(exporter)) {
    if (config_.max_flows == 0) config_.max_flows = 1;
    index_.reserve(config_.max_flows < 65536 ? config_.max_flows : 65536);
}

void FlowTable::export_and_erase(std::list<FlowRecord>::iterator it, FlowEnd why) {
    it->end = why;
    switch (why) {
        case FlowEnd::Idle: ++stats_.exported_idle; break;
        case FlowEnd::Active: ++stats_.exported_active; break;
        case FlowEnd::Evicted: ++stats_.evicted; break;
        case FlowEnd::Final: ++stats_.exported_final; break;
    }
    exporter_(*it);
    index_.erase(it->key);
    lru_.erase(it);
}

void FlowTable::expire(uint64_t now_ns) {
    while (!lru_.empty() && lru_.back().last_ns + config_.idle_timeout_ns <= now_ns)
        export_and_erase(std::prev(lru_.end()), FlowEnd::Idle);
}

void FlowTable::flush_all() {
    while (!lru_.empty()) export_and_erase(std::prev(lru_.end()), FlowEnd::Final);
}

void FlowTable::add(const PacketEvent& ev) {
    const Parsed& p = ev.parsed;
    if (!p.has_ip()) {
        ++stats_.non_ip_packets;
        return;
    }
    ++stats_.packets;
    expire(ev.ts_ns);

    FlowKey key;
    key.netns = ev.netns;
    key.family = p.family;
    std::memcpy(key.src.data(), p.src.data(), 16);
    std::memcpy(key.dst.data(), p.dst.data(), 16);
    key.proto = p.has_proto() ? p.proto : 0;
    if (p.has_ports()) {
        key.sport = p.sport;
        key.dport = p.dport;
    }

    auto found = index_.find(key);
    if (found != index_.end()) {
        auto it = found->second;
        if (ev.ts_ns >= it->first_ns + config_.active_timeout_ns) {
            // Long-lived flow: export what it has so far and start a new record.
            FlowRecord fresh;
            fresh.key = key;
            fresh.has_ports = it->has_ports;
            export_and_erase(it, FlowEnd::Active);
            lru_.push_front(fresh);
            it = lru_.begin();
            it->first_ns = ev.ts_ns;
            index_.emplace(key, it);
        } else if (it != lru_.begin()) {
            lru_.splice(lru_.begin(), lru_, it);
        }
        it->last_ns = ev.ts_ns > it->last_ns ? ev.ts_ns : it->last_ns;
        ++it->packets;
        it->bytes += ev.len;
        it->tcp_flags |= p.tcp_flags;
        return;
    }

    if (index_.size() >= config_.max_flows) export_and_erase(std::prev(lru_.end()), FlowEnd::Evicted);
    FlowRecord r;
    r.key = key;
    r.has_ports = p.has_ports();
    r.first_ns = r.last_ns = ev.ts_ns;
    r.packets = 1;
    r.bytes = ev.len;
    r.tcp_flags = p.tcp_flags;
    lru_.push_front(r);
    index_.emplace(key, lru_.begin());
    ++stats_.flows_created;
}

}  // namespace hookdump

#include "flow/flow_table.h"

#include <cstring>

namespace hookdump {

namespace {

inline uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

// 64x64 -> 128-bit multiply, folded: the mixing step of wyhash.
inline uint64_t mum(uint64_t a, uint64_t b) {
    const unsigned __int128 m = static_cast<unsigned __int128>(a) * b;
    return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
}

}  // namespace

size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
    // A word at a time over the whole key (an IPv4 address's unused 12 bytes are zero, and the
    // key's == compares them too). The standard unordered_map does not cache hash codes for a
    // noexcept hash and recomputes them while it walks a bucket: this has to be cheap.
    const uint64_t ports = uint64_t{k.sport} | uint64_t{k.dport} << 16 | uint64_t{k.proto} << 32 |
                           uint64_t{k.family} << 40;
    const uint64_t a = mum(load64(k.src.data()) ^ 0xa0761d6478bd642full,
                           load64(k.src.data() + 8) ^ 0xe7037ed1a0b428dbull);
    const uint64_t b = mum(load64(k.dst.data()) ^ 0x8ebc6af09c88c6e3ull,
                           load64(k.dst.data() + 8) ^ 0x589965cc75374cc3ull);
    const uint64_t c = mum(ports ^ 0x1d8e4e27c47d124full, k.netns ^ 0xa0761d6478bd642full);
    return static_cast<size_t>(mum(a ^ b ^ 0xe7037ed1a0b428dbull, c ^ 0x8ebc6af09c88c6e3ull));
}

std::string_view to_string(FlowEnd e) {
    switch (e) {
        case FlowEnd::Idle:
            return "idle";
        case FlowEnd::Active:
            return "active";
        case FlowEnd::Evicted:
            return "evicted";
        case FlowEnd::Final:
            return "end";
    }
    return "?";
}

FlowTable::FlowTable(FlowConfig config, Exporter exporter)
    : config_(config), exporter_(std::move(exporter)) {
    if (config_.max_flows == 0) config_.max_flows = 1;
    slots_.resize(1024);
}

uint32_t FlowTable::find(const FlowKey& key, uint64_t hash) const {
    const size_t mask = slots_.size() - 1;
    const auto tag = static_cast<uint32_t>(hash >> 32);
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const Slot& s = slots_[i];
        if (s.node == kNil) return kNil;
        if (s.tag == tag && nodes_[s.node].rec.key == key) return s.node;
    }
}

void FlowTable::index_insert(uint32_t node) {
    const uint64_t hash = nodes_[node].hash;
    const size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i].node != kNil) i = (i + 1) & mask;
    slots_[i] = {node, static_cast<uint32_t>(hash >> 32)};
}

void FlowTable::index_erase(uint32_t node) {
    const size_t mask = slots_.size() - 1;
    size_t i = nodes_[node].hash & mask;
    while (slots_[i].node != node) i = (i + 1) & mask;
    // Backward-shift deletion: pull later entries of the probe run into the hole, so that no
    // lookup stops early at it (and no tombstones pile up).
    for (size_t j = (i + 1) & mask; slots_[j].node != kNil; j = (j + 1) & mask) {
        const size_t home = nodes_[slots_[j].node].hash & mask;
        // Movable when its home is not cyclically within (i, j].
        const bool in_between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_between) {
            slots_[i] = slots_[j];
            i = j;
        }
    }
    slots_[i] = Slot{};
}

void FlowTable::grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old)
        if (s.node != kNil) index_insert(s.node);
}

void FlowTable::unlink(uint32_t n) {
    Node& x = nodes_[n];
    if (x.prev != kNil)
        nodes_[x.prev].next = x.next;
    else
        head_ = x.next;
    if (x.next != kNil)
        nodes_[x.next].prev = x.prev;
    else
        tail_ = x.prev;
    x.prev = x.next = kNil;
}

void FlowTable::push_front(uint32_t n) {
    Node& x = nodes_[n];
    x.prev = kNil;
    x.next = head_;
    if (head_ != kNil)
        nodes_[head_].prev = n;
    else
        tail_ = n;
    head_ = n;
}

void FlowTable::export_and_erase(uint32_t n, FlowEnd why) {
    FlowRecord& r = nodes_[n].rec;
    r.end = why;
    switch (why) {
        case FlowEnd::Idle:
            ++stats_.exported_idle;
            break;
        case FlowEnd::Active:
            ++stats_.exported_active;
            break;
        case FlowEnd::Evicted:
            ++stats_.evicted;
            break;
        case FlowEnd::Final:
            ++stats_.exported_final;
            break;
    }
    exporter_(r);
    index_erase(n);
    unlink(n);
    free_.push_back(n);
    --count_;
}

void FlowTable::expire(uint64_t now_ns) {
    while (tail_ != kNil && nodes_[tail_].rec.last_ns + config_.idle_timeout_ns <= now_ns)
        export_and_erase(tail_, FlowEnd::Idle);
}

void FlowTable::add_record(const FlowRecord& r) {
    if (!r.key.family) {
        stats_.non_ip_packets += r.packets;
        return;
    }
    stats_.packets += r.packets;
    ++stats_.flows_created;
    switch (r.end) {
        case FlowEnd::Idle:
            ++stats_.exported_idle;
            break;
        case FlowEnd::Active:
            ++stats_.exported_active;
            break;
        case FlowEnd::Evicted:
            ++stats_.evicted;
            break;
        case FlowEnd::Final:
            ++stats_.exported_final;
            break;
    }
    exporter_(r);
}

void FlowTable::flush_all() {
    while (tail_ != kNil) export_and_erase(tail_, FlowEnd::Final);
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
    const uint64_t hash = FlowKeyHash{}(key);

    if (const uint32_t n = find(key, hash); n != kNil) {
        FlowRecord* r = &nodes_[n].rec;
        if (ev.ts_ns >= r->first_ns + config_.active_timeout_ns) {
            // Long-lived flow: export what it has so far and start a new record.
            FlowRecord fresh;
            fresh.key = key;
            fresh.has_ports = r->has_ports;
            export_and_erase(n, FlowEnd::Active);
            const uint32_t m = free_.back();  // n, just freed
            free_.pop_back();
            nodes_[m].rec = fresh;
            nodes_[m].rec.first_ns = ev.ts_ns;
            index_insert(m);
            push_front(m);
            ++count_;
            r = &nodes_[m].rec;
        } else if (n != head_) {
            unlink(n);
            push_front(n);
        }
        r->last_ns = ev.ts_ns > r->last_ns ? ev.ts_ns : r->last_ns;
        ++r->packets;
        r->bytes += ev.len;
        r->tcp_flags |= p.tcp_flags;
        return;
    }

    if (count_ >= config_.max_flows) export_and_erase(tail_, FlowEnd::Evicted);
    if ((count_ + 1) * 2 > slots_.size()) grow();
    uint32_t n;
    if (!free_.empty()) {
        n = free_.back();
        free_.pop_back();
    } else {
        n = static_cast<uint32_t>(nodes_.size());
        nodes_.emplace_back();
    }
    Node& x = nodes_[n];
    x.hash = hash;
    FlowRecord& r = x.rec;
    r = FlowRecord{};
    r.key = key;
    r.has_ports = p.has_ports();
    r.first_ns = r.last_ns = ev.ts_ns;
    r.packets = 1;
    r.bytes = ev.len;
    r.tcp_flags = p.tcp_flags;
    index_insert(n);
    push_front(n);
    ++count_;
    ++stats_.flows_created;
}

}  // namespace hookdump

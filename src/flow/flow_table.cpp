#include "flow/flow_table.h"

#include <algorithm>
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
                           uint64_t{k.family} << 40 | uint64_t{static_cast<uint8_t>(k.point)} << 48;
    const uint64_t where = uint64_t{k.icmp} | uint64_t{static_cast<uint32_t>(k.ifindex)} << 16;
    const uint64_t a = mum(load64(k.src.data()) ^ 0xa0761d6478bd642full,
                           load64(k.src.data() + 8) ^ 0xe7037ed1a0b428dbull);
    const uint64_t b = mum(load64(k.dst.data()) ^ 0x8ebc6af09c88c6e3ull,
                           load64(k.dst.data() + 8) ^ 0x589965cc75374cc3ull);
    const uint64_t c = mum(ports ^ 0x1d8e4e27c47d124full, k.netns ^ 0xa0761d6478bd642full);
    const uint64_t d = mum(where ^ 0x589965cc75374cc3ull, c ^ 0x1d8e4e27c47d124full);
    return static_cast<size_t>(mum(a ^ b ^ 0xe7037ed1a0b428dbull, d ^ 0x8ebc6af09c88c6e3ull));
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
        case FlowEnd::Tcp:
            return "fin";
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

void FlowTable::prefetch(std::span<const PacketEvent> evs) const {
    constexpr size_t kMax = 64;
    std::array<uint64_t, kMax> hashes;
    const size_t n = std::min(evs.size(), kMax);
    const size_t mask = slots_.size() - 1;
    for (size_t i = 0; i < n; ++i) {
        hashes[i] = FlowKeyHash{}(flow_key(evs[i]));
        __builtin_prefetch(&slots_[hashes[i] & mask]);
    }
    for (size_t i = 0; i < n; ++i) {
        if (!evs[i].parsed.has_ip()) continue;
        const auto tag = static_cast<uint32_t>(hashes[i] >> 32);
        // The first few slots of the probe run: the flow is almost always among them.
        for (size_t j = hashes[i] & mask, k = 0; k < 4; j = (j + 1) & mask, ++k) {
            const Slot& s = slots_[j];
            if (s.node == kNil) break;
            if (s.tag != tag) continue;
            const auto* x = reinterpret_cast<const char*>(&nodes_[s.node]);
            for (size_t off = 0; off < sizeof(Node); off += 64) __builtin_prefetch(x + off);
            break;
        }
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

void FlowTable::unlink(List& l, Links Node::*links, uint32_t n) {
    Links& x = nodes_[n].*links;
    if (x.prev != kNil)
        (nodes_[x.prev].*links).next = x.next;
    else
        l.head = x.next;
    if (x.next != kNil)
        (nodes_[x.next].*links).prev = x.prev;
    else
        l.tail = x.prev;
    x.prev = x.next = kNil;
}

void FlowTable::push_front(List& l, Links Node::*links, uint32_t n) {
    Links& x = nodes_[n].*links;
    x.prev = kNil;
    x.next = l.head;
    if (l.head != kNil)
        (nodes_[l.head].*links).prev = n;
    else
        l.tail = n;
    l.head = n;
}

void FlowTable::count_export(FlowEnd why) {
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
        case FlowEnd::Tcp:
            ++stats_.exported_tcp;
            break;
    }
}

void FlowTable::export_and_erase(uint32_t n, FlowEnd why) {
    Node& x = nodes_[n];
    x.rec.end = why;
    count_export(why);
    exporter_(x.rec);
    index_erase(n);
    unlink(lru_, &Node::lru, n);
    if (x.ending) unlink(ending_, &Node::end, n);
    x.ending = false;
    free_.push_back(n);
    --count_;
}

void FlowTable::expire(uint64_t now_ns) {
    while (lru_.tail != kNil && nodes_[lru_.tail].rec.last_ns + config_.idle_timeout_ns <= now_ns)
        export_and_erase(lru_.tail, FlowEnd::Idle);
    const uint64_t quiet = std::min(config_.tcp_end_ns, config_.idle_timeout_ns);
    while (ending_.tail != kNil && nodes_[ending_.tail].rec.last_ns + quiet <= now_ns)
        export_and_erase(ending_.tail, FlowEnd::Tcp);
}

void FlowTable::add_record(const FlowRecord& r) {
    if (!r.key.family) {
        stats_.non_ip_packets += r.packets;
        return;
    }
    stats_.packets += r.packets;
    ++stats_.flows_created;
    count_export(r.end);
    exporter_(r);
}

void FlowTable::flush_all() {
    // As export_and_erase on each, oldest first, with the index emptied at once at the end
    // instead of a flow at a time (each erase reads the nodes it shifts: a miss apiece).
    while (lru_.tail != kNil) {
        const uint32_t n = lru_.tail;
        Node& x = nodes_[n];
        x.rec.end = FlowEnd::Final;
        count_export(FlowEnd::Final);
        exporter_(x.rec);
        unlink(lru_, &Node::lru, n);
        if (x.ending) unlink(ending_, &Node::end, n);
        x.ending = false;
        free_.push_back(n);
        --count_;
    }
    std::fill(slots_.begin(), slots_.end(), Slot{});
}

FlowKey flow_key(const PacketEvent& ev) {
    const Parsed& p = ev.parsed;
    FlowKey key;
    key.netns = ev.netns;
    key.ifindex = ev.ifindex;
    key.point = ev.point;
    key.family = p.family;
    std::memcpy(key.src.data(), p.src.data(), 16);
    std::memcpy(key.dst.data(), p.dst.data(), 16);
    key.proto = p.has_proto() ? p.proto : 0;
    if (p.has_ports()) {
        key.sport = p.sport;
        key.dport = p.dport;
    }
    if (p.has_icmp()) key.icmp = static_cast<uint16_t>(p.icmp_type << 8 | p.icmp_code);
    return key;
}

void FlowTable::add(const PacketEvent& ev) {
    const Parsed& p = ev.parsed;
    if (!p.has_ip()) {
        ++stats_.non_ip_packets;
        return;
    }
    ++stats_.packets;
    expire(ev.ts_ns);

    const FlowKey key = flow_key(ev);
    const uint64_t hash = FlowKeyHash{}(key);
    // A datagram's length from its header; from the wire length when the header says none.
    const uint64_t ip_bytes =
        p.ip_len ? p.ip_len : ev.len - std::min<uint32_t>(ev.len, p.l3_offset);
    const bool tcp_end = key.proto == 6 && (p.tcp_flags & (kTcpFin | kTcpRst));

    uint32_t n = find(key, hash);
    bool continued = false;  // a new record of a flow the active timeout exported
    if (n != kNil && ev.ts_ns >= nodes_[n].rec.first_ns + config_.active_timeout_ns) {
        // Long-lived flow: export what it has so far; the packet starts a new record.
        export_and_erase(n, FlowEnd::Active);
        n = kNil;
        continued = true;
    }
    if (n != kNil) {
        Node& x = nodes_[n];
        FlowRecord& r = x.rec;
        if (n != lru_.head) {
            unlink(lru_, &Node::lru, n);
            push_front(lru_, &Node::lru, n);
        }
        if (x.ending) {
            unlink(ending_, &Node::end, n);
            push_front(ending_, &Node::end, n);
        } else if (tcp_end) {
            x.ending = true;
            push_front(ending_, &Node::end, n);
        }
        r.last_ns = ev.ts_ns > r.last_ns ? ev.ts_ns : r.last_ns;
        ++r.packets;
        r.bytes += ev.len;
        r.ip_bytes += ip_bytes;
        r.tcp_flags |= p.tcp_flags;
        if (!r.proc.known && ev.proc.known) r.proc = ev.proc;
        return;
    }

    if (count_ >= config_.max_flows) export_and_erase(lru_.tail, FlowEnd::Evicted);
    if ((count_ + 1) * 2 > slots_.size()) grow();
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
    r.has_icmp = p.has_icmp();
    r.dir = ev.dir;
    r.first_ns = r.last_ns = ev.ts_ns;
    r.packets = 1;
    r.bytes = ev.len;
    r.ip_bytes = ip_bytes;
    r.tcp_flags = p.tcp_flags;
    r.proc = ev.proc;
    index_insert(n);
    push_front(lru_, &Node::lru, n);
    x.ending = tcp_end;
    if (tcp_end) push_front(ending_, &Node::end, n);
    ++count_;
    if (!continued) ++stats_.flows_created;
}

}  // namespace hookdump

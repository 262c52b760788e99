#include "bpf/flow_drain.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <type_traits>

#include "bpf/pkt_loader.h"
#include "packet/parse.h"
#include "util/error.h"

namespace hookdump::bpf {

// The kernel rounds a per-CPU value up to 8 bytes; values_ assumes no padding.
static_assert(sizeof(hd_flow_value) % 8 == 0);

FlowDrain::FlowDrain(PktObject& obj, size_t max_flows)
    : obj_(obj), max_flows_(max_flows), ncpu_(libbpf_num_possible_cpus()) {
    if (ncpu_ <= 0) throw RuntimeError(errno_message("counting the possible CPUs", -ncpu_));
    per_.resize(static_cast<size_t>(ncpu_));
    keys_.resize(kBatch);
    keys4_.resize(kBatch);
    values_.resize(kBatch * static_cast<size_t>(ncpu_));
    ring_.reset(ring_buffer__new(obj_.events_fd(), on_spill, this, nullptr));
    if (!ring_) throw RuntimeError(errno_message("opening the BPF ring buffer", errno));
}

void FlowDrain::RingFree::operator()(ring_buffer* r) const {
    ring_buffer__free(r);
}

int FlowDrain::on_spill(void* ctx, void* data, size_t size) {
    auto* d = static_cast<FlowDrain*>(ctx);
    if (size < sizeof(hd_flow_spill)) return 0;
    hd_flow_spill r;
    std::memcpy(&r, data, sizeof r);
    DrainedFlow& f = d->table_[r.tuple];
    f.key = r.tuple;
    ++f.packets;
    f.bytes += r.len;
    f.ip_bytes += r.ip_len;
    if (!f.first_ns || r.ts_ns < f.first_ns) f.first_ns = r.ts_ns;
    f.last_ns = std::max<uint64_t>(f.last_ns, r.ts_ns);
    f.tcp_flags |= r.tcp_flags;
    ++d->spilled_;
    return 0;
}

int FlowDrain::poll_spills(int timeout_ms) {
    int n = ring_buffer__poll(ring_.get(), timeout_ms);
    if (n < 0 && n != -EINTR) throw RuntimeError(errno_message("reading the BPF ring buffer", -n));
    // Below the programs' wakeup threshold nothing wakes the poll: read what is there.
    if (n <= 0) n = ring_buffer__consume(ring_.get());
    if (n < 0) throw RuntimeError(errno_message("reading the BPF ring buffer", -n));
    return n;
}

void FlowDrain::consume_spills() {
    const int n = ring_buffer__consume(ring_.get());
    if (n < 0) throw RuntimeError(errno_message("reading the BPF ring buffer", -n));
}

// Adds a retired hash's counters to the table and empties it. No program writes to it, so one
// walk of lookup-and-delete batches sees every flow once. (get_next_key + lookup + delete per
// key cost two scans of all the hash's buckets a sweep even for one flow: get_next_key finds
// the next element by scanning on from its key's bucket.)
template <typename Key>
void FlowDrain::drain(int fd, std::vector<Key>& keys) {
    Key in{}, out{};  // the batch cursor (the hash's bucket index); key-sized to be safe
    bool first = true;
    for (;;) {
        auto count = static_cast<uint32_t>(keys.size());
        const int rc = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &in, &out, keys.data(),
                                                       values_.data(), &count, nullptr);
        const int err = rc ? errno : 0;
        if (rc && err == ENOSPC) {
            // A bucket holds more flows than the batch: the kernel took none; grow, retry.
            keys.resize(keys.size() * 2);
            if (values_.size() < keys.size() * static_cast<size_t>(ncpu_))
                values_.resize(keys.size() * static_cast<size_t>(ncpu_));
            continue;
        }
        if (rc && err != ENOENT)
            throw RuntimeError(errno_message("reading and deleting flows in the kernel", err));
        for (uint32_t i = 0; i < count; ++i) {
            const hd_flow_value* per_cpu = &values_[size_t{i} * static_cast<size_t>(ncpu_)];
            if constexpr (std::is_same_v<Key, hd_tuple4>)
                add(from_tuple4(keys[i]), per_cpu);
            else
                add(keys[i], per_cpu);
        }
        if (rc) return;  // ENOENT: the walk is done, the last batch possibly partial
        in = out;
        first = false;
    }
}

void FlowDrain::add(const hd_tuple& k, const hd_flow_value* per_cpu) {
    DrainedFlow& f = table_[k];
    f.key = k;
    for (int cpu = 0; cpu < ncpu_; ++cpu) {
        const hd_flow_value& v = per_cpu[cpu];
        if (!v.packets) continue;
        f.packets += v.packets;
        f.bytes += v.bytes;
        f.ip_bytes += v.ip_bytes;
        if (!f.first_ns || (v.first_ns && v.first_ns < f.first_ns)) f.first_ns = v.first_ns;
        f.last_ns = std::max<uint64_t>(f.last_ns, v.last_ns);
        f.tcp_flags |= v.tcp_flags;
    }
}

void FlowDrain::evict_oldest(std::vector<DrainedFlow>& out) {
    std::vector<decltype(table_)::iterator> all;
    all.reserve(table_.size());
    for (auto it = table_.begin(); it != table_.end(); ++it) all.push_back(it);
    const size_t n = table_.size() - max_flows_;
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                     [](auto a, auto b) { return a->second.last_ns < b->second.last_ns; });
    for (size_t i = 0; i < n; ++i) {
        DrainedFlow& f = all[i]->second;
        f.end = DrainedFlow::End::Evicted;
        if (f.packets) out.push_back(f);
        table_.erase(all[i]);
    }
}

std::vector<DrainedFlow> FlowDrain::sweep(uint64_t now, uint64_t idle_ns, uint64_t active_ns,
                                          bool final, uint64_t tcp_end_ns) {
    constexpr uint8_t kFinRst = hookdump::kTcpFin | hookdump::kTcpRst;
    const uint64_t tcp_quiet = std::min(idle_ns, tcp_end_ns);
    // A hash the programs added nothing to while it was in place is empty: walking its
    // buckets anyway cost most of a sweep. It was put in place by the previous swap, so what
    // was added to it is counted after the count read before that swap and by the count read
    // after this one (the swap waits for running programs).
    const auto drain_retired = [&] {
        const hd_stats before = obj_.stats();
        const PktObject::RetiredFlows r = obj_.swap_flows();
        const hd_stats after = obj_.stats();
        if (after.flows_new4 != added4_before_) drain(r.v4, keys4_);
        if (after.flows_new != added_before_) drain(r.other, keys_);
        added4_before_ = before.flows_new4;
        added_before_ = before.flows_new;
    };
    // The ring first: a flow's packets spilled before its idle decision count in it.
    consume_spills();
    drain_retired();
    if (final) {
        drain_retired();  // and what came in meanwhile
        consume_spills();
    }
    std::vector<DrainedFlow> out;
    for (auto it = table_.begin(); it != table_.end();) {
        DrainedFlow& f = it->second;
        if (final) {
            f.end = DrainedFlow::End::Final;
        } else if (f.last_ns + idle_ns <= now && !obj_.lookup_flow(f.key, per_.data())) {
            // Idle, and no packet since the swap (a later one starts a new flow).
            f.end = DrainedFlow::End::Idle;
        } else if (f.key.proto == 6 && (f.tcp_flags & kFinRst) && f.last_ns + tcp_quiet <= now &&
                   !obj_.lookup_flow(f.key, per_.data())) {
            f.end = DrainedFlow::End::Tcp;
        } else if (f.last_ns >= f.first_ns + active_ns) {
            // What came since the swap stays in the kernel: the next record's first packets.
            f.end = DrainedFlow::End::Active;
        } else {
            ++it;
            continue;
        }
        if (f.packets) out.push_back(f);
        it = table_.erase(it);
    }
    if (table_.size() > max_flows_) evict_oldest(out);
    // In key order, as the tree handed them out: the hash's order depends on its size.
    std::sort(out.begin(), out.end(), [](const DrainedFlow& a, const DrainedFlow& b) {
        return std::memcmp(&a.key, &b.key, sizeof a.key) < 0;
    });
    return out;
}

}  // namespace hookdump::bpf

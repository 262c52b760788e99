// Flow mode's userspace half: the kernel counts 5-tuples in a per-CPU hash (bpf/
// hookdump_pkt.bpf.c); each sweep swaps in the other hash, reads the retired one (quiescent:
// no program writes to it any more) into a table here and empties it, then hands out the flows
// that ended: idle (and not seen since the swap), past the active timeout, or all at the end.
// Nothing counted is lost, whatever the CPUs do meanwhile. A packet whose flow found the hash
// full came through the ring buffer instead (hd_flow_spill): it is counted in the same table,
// so a flow split between the kernel's hash and the ring is still one record.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "flow/flow_table.h"
#include "hookdump_pkt.h"

struct ring_buffer;  // libbpf
namespace hookdump::bpf {

class PktObject;

struct DrainedFlow {
    using End = FlowEnd;  // the drain ends flows as the flow table does
    hd_tuple key;         // with the point (hd_tuple::point)
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t ip_bytes = 0;
    uint64_t first_ns = 0;  // CLOCK_MONOTONIC
    uint64_t last_ns = 0;
    uint8_t tcp_flags = 0;
    End end = End::Final;
};

class FlowDrain {
  public:
    // Flows a lookup-and-delete batch takes at most (more when a bucket holds more).
    static constexpr size_t kBatch = 1024;

    // The table holds at most max_flows flows between sweeps: past it, a sweep hands out the
    // least recently seen as Evicted (their later packets start new records), as the flow table
    // does when full; the other engines' --max-flows.
    explicit FlowDrain(PktObject& obj, size_t max_flows = SIZE_MAX);

    // `now`: CLOCK_MONOTONIC ns. With `final` every flow is handed out (both hashes emptied).
    // A TCP flow that carried FIN or RST ends after tcp_end_ns without a packet (FlowConfig).
    std::vector<DrainedFlow> sweep(uint64_t now, uint64_t idle_ns, uint64_t active_ns, bool final,
                                   uint64_t tcp_end_ns = FlowConfig{}.tcp_end_ns);
    // Flows read from the kernel and not handed out yet.
    size_t pending() const { return table_.size(); }
    // Waits up to timeout_ms for spilled packets and counts what is there in the table; the
    // number read (sweep reads them too, first).
    int poll_spills(int timeout_ms);
    // Packets read from the ring so far.
    uint64_t spilled() const { return spilled_; }

  private:
    // Hashed, not ordered: a flood of new flows (spilled ones, a packet each) is an insert per
    // packet, which the tree's 20 compares of 40-byte keys made the reader's main cost.
    struct KeyHash {
        size_t operator()(const hd_tuple& k) const noexcept {
            uint64_t w[sizeof k / 8];
            std::memcpy(w, &k, sizeof w);
            uint64_t h = 0x9e3779b97f4a7c15ull;
            for (uint64_t x : w) h = (h ^ x) * 0xff51afd7ed558ccdull;
            return static_cast<size_t>(h ^ (h >> 32));
        }
    };
    struct KeyEq {
        bool operator()(const hd_tuple& a, const hd_tuple& b) const {
            return std::memcmp(&a, &b, sizeof a) == 0;
        }
    };
    template <typename Key>
    void drain(int fd, std::vector<Key>& keys);
    void add(const hd_tuple& k, const hd_flow_value* per_cpu);
    void evict_oldest(std::vector<DrainedFlow>& out);
    static int on_spill(void* ctx, void* data, size_t size);
    void consume_spills();

    PktObject& obj_;
    size_t max_flows_;
    int ncpu_;
    std::vector<hd_flow_value> per_;  // one flow's per-CPU values (the live hash's lookup)
    // A batch's keys and their per-CPU values: the kernel lays them out key by key, each
    // ncpu values of round_up(sizeof(hd_flow_value), 8) bytes (40: no padding).
    std::vector<hd_tuple> keys_;
    std::vector<hd_tuple4> keys4_;  // the IPv4 hash's
    std::vector<hd_flow_value> values_;
    std::unordered_map<hd_tuple, DrainedFlow, KeyHash, KeyEq> table_;
    // Flows added to the hashes (hd_stats) before the last swap: a hash retired by the next
    // swap got entries only if the count after that swap is past this.
    uint64_t added4_before_ = 0, added_before_ = 0;
    struct RingFree {
        void operator()(ring_buffer* r) const;
    };
    std::unique_ptr<ring_buffer, RingFree> ring_;
    uint64_t spilled_ = 0;
};

}  // namespace hookdump::bpf

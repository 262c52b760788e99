#include "bpf/flow_drain.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>

#include "bpf/pkt_loader.h"
#include "util/error.h"

namespace hookdump::bpf {

FlowDrain::FlowDrain(PktObject& obj) : obj_(obj), ncpu_(libbpf_num_possible_cpus()) {
    if (ncpu_ <= 0) throw RuntimeError(errno_message("counting the possible CPUs", -ncpu_));
    per_.resize(static_cast<size_t>(ncpu_));
}

// Adds a retired hash's counters to the table and empties it. No program writes to it.
void FlowDrain::drain(int fd) {
    std::vector<hd_tuple> keys;
    hd_tuple key{}, next{};
    const hd_tuple* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        keys.push_back(next);
        key = next;
        prev = &key;
    }
    for (const hd_tuple& k : keys) {
        if (bpf_map_lookup_elem(fd, &k, per_.data()) != 0)
            throw RuntimeError(errno_message("reading a flow from the kernel", errno));
        if (bpf_map_delete_elem(fd, &k) != 0)
            throw RuntimeError(errno_message("deleting a flow in the kernel", errno));
        DrainedFlow& f = table_[k];
        f.key = k;
        for (const hd_flow_value& v : per_) {
            if (!v.packets) continue;
            f.packets += v.packets;
            f.bytes += v.bytes;
            if (!f.first_ns || (v.first_ns && v.first_ns < f.first_ns)) f.first_ns = v.first_ns;
            f.last_ns = std::max<uint64_t>(f.last_ns, v.last_ns);
            f.tcp_flags |= v.tcp_flags;
        }
    }
}

std::vector<DrainedFlow> FlowDrain::sweep(uint64_t now, uint64_t idle_ns, uint64_t active_ns,
                                          bool final) {
    drain(obj_.swap_flows());
    if (final) drain(obj_.swap_flows());  // and what came in meanwhile
    std::vector<DrainedFlow> out;
    const int live = obj_.flows_fd();
    for (auto it = table_.begin(); it != table_.end();) {
        DrainedFlow& f = it->second;
        if (final) {
            f.end = DrainedFlow::End::Final;
        } else if (f.last_ns + idle_ns <= now &&
                   bpf_map_lookup_elem(live, &f.key, per_.data()) != 0) {
            // Idle, and no packet since the swap (a later one starts a new flow).
            f.end = DrainedFlow::End::Idle;
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
    return out;
}

}  // namespace hookdump::bpf

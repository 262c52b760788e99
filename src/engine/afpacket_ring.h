// One AF_PACKET socket of the engine: a TPACKET_V3 mmap ring, its filter, its place in the
// fanout group, and the reader that turns the ring's frames into events and keeps the ledger
// (accepted by the filter = read + dropped by the kernel).
#pragma once

#include <linux/filter.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "core/ledger.h"
#include "engine/engine.h"
#include "packet/event.h"
#include "util/fd.h"

namespace hookdump {

struct AfPacketConfig;
struct CompiledFilter;

// One socket, one mapped ring, one reader thread at a time.
class AfPacketRing {
  public:
    // Opens the socket with a drop-all filter, maps the ring, binds and joins the fanout group
    // (`fanout_group` < 0: none). Throws RuntimeError when the kernel refuses.
    AfPacketRing(const AfPacketConfig& cfg, const CompiledFilter& filter, int fanout_group,
                 uint64_t netns);
    AfPacketRing(const AfPacketRing&) = delete;
    AfPacketRing& operator=(const AfPacketRing&) = delete;
    ~AfPacketRing();

    // Attaches the real filter: from here on packets reach the ring.
    void start();

    // Until `stop` is set, the handler says stop, or the interface goes away (RuntimeError).
    // On `stop`, what the kernel has already accepted is still read (drain()), so that the
    // ledger adds up: accepted = read + dropped by the kernel.
    void run(EventHandler& handler, const std::atomic<bool>& stop);

    // Reads PACKET_STATISTICS (which resets it in the kernel) into the running totals.
    void poll_stats() const;

    void add_to(Ledger& l) const;

    // Blocks the kernel has handed over (TP_STATUS_USER) and the reader has not given back;
    // any thread may ask (each block's status word is read atomically).
    uint32_t blocks_in_use() const;
    uint32_t blocks() const { return block_count_; }

    bool has_user_filter() const { return has_user_filter_; }

  private:
    struct IfSlot {
        int32_t ifindex = 0;
        IfName name;
        std::atomic<uint64_t> received{0};
    };

    void attach_drop_all();

    tpacket_block_desc* current_block() const {
        return reinterpret_cast<tpacket_block_desc*>(map_ + static_cast<size_t>(next_block_) *
                                                                block_size_);
    }
    bool block_ready() const {
        return __atomic_load_n(&current_block()->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
               TP_STATUS_USER;
    }
    // Delivers the current block and hands it back to the kernel; false when the handler said stop.
    bool consume_block(EventHandler& handler);
    // After a stop: reads what the kernel has accepted (up to two block timeouts for the last,
    // partly filled block to be handed over); false when the handler said stop.
    bool drain(EventHandler& handler);
    // The socket's pending error (SO_ERROR, which clears it).
    int take_error() const;

    void setopt(int level, int name, int value, const char* what);

    IfName slot_name() const;

    IfSlot& slot(int32_t ifindex);

    // Makes the event for one frame; false when the userspace filter refuses it.
    bool fill(tpacket3_hdr* h, PacketEvent& ev);

    Fd fd_;
    bool cooked_;
    int dlt_;
    uint64_t netns_;
    std::string device_;
    std::vector<sock_filter> kernel_prog_;
    uint32_t block_timeout_ms_;
    int32_t ifindex_ = 0;
    uint8_t* map_ = nullptr;
    size_t map_len_ = 0;
    uint32_t block_size_ = 0;
    uint32_t block_count_ = 0;
    uint32_t next_block_ = 0;
    std::vector<bpf_insn> user_insns_;
    bpf_program user_filter_{};
    bool has_user_filter_ = false;

    mutable std::mutex stats_mu_;
    mutable uint64_t filter_accepted_ = 0;
    mutable uint64_t kernel_drops_ = 0;
    mutable uint64_t freeze_q_ = 0;
    uint64_t frames_read_ = 0;                // every frame taken from the ring (reader thread)
    std::atomic<uint64_t> user_rejected_{0};  // of those, refused by the userspace filter

    mutable std::mutex slots_mu_;
    std::deque<IfSlot> slots_;  // deque: slots keep their address as it grows
    IfSlot* last_slot_ = nullptr;
    bool want_parsed_ = true;  // the handler reads PacketEvent::parsed
    std::vector<PacketEvent> batch_ = std::vector<PacketEvent>(64);
};

}  // namespace hookdump

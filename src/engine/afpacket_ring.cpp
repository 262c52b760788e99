#include "engine/afpacket_ring.h"

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/afpacket_engine.h"
#include "engine/afpacket_filter.h"
#include "util/clock.h"
#include "util/error.h"

namespace hookdump {
namespace {

constexpr uint32_t kVlanTagLen = 4;
// Headroom before each packet in the ring, so that a VLAN tag (and on "any" an SLL2 header)
// can be written in front of the data without copying it. No more than that: it is taken from
// every frame's slot (64-byte frames: 160 bytes a slot with 4, 176 with 24).
constexpr uint32_t reserve_for(bool cooked) {
    return cooked ? kSll2Len + kVlanTagLen : kVlanTagLen;
}

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

void put32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

}  // namespace

AfPacketRing::AfPacketRing(const AfPacketConfig& cfg, const CompiledFilter& filter,
                           int fanout_group, uint64_t netns)
    : cooked_(cfg.interface == "any"),
      dlt_(cooked_ ? kDltLinuxSll2 : filter.dlt),
      netns_(netns),
      device_(filter.device),
      kernel_prog_(filter.kernel),
      block_timeout_ms_(cfg.block_timeout_ms ? cfg.block_timeout_ms : 1) {
    if (filter.in_userspace) {
        user_insns_.assign(filter.user.bf_insns, filter.user.bf_insns + filter.user.bf_len);
        user_filter_.bf_len = filter.user.bf_len;
        user_filter_.bf_insns = user_insns_.data();
        has_user_filter_ = true;
    }
    // Protocol 0: nothing is queued until bind(), which comes after the filter is attached.
    fd_.reset(::socket(AF_PACKET, (cooked_ ? SOCK_DGRAM : SOCK_RAW) | SOCK_CLOEXEC, 0));
    if (!fd_) {
        if (errno == EPERM || errno == EACCES)
            throw RuntimeError("capturing needs CAP_NET_RAW (run as root or grant the capability)");
        throw RuntimeError(errno_message("socket(AF_PACKET)", errno));
    }
    setopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3, "PACKET_VERSION");
    setopt(SOL_PACKET, PACKET_RESERVE, static_cast<int>(reserve_for(cooked_)), "PACKET_RESERVE");

    // Accept nothing until start(): with fanout, a ring bound but not yet in the group
    // would get a copy of every packet the group gets (duplicates at startup).
    attach_drop_all();

    uint32_t block = cfg.block_size;
    const uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    const uint32_t need = cfg.snaplen + reserve_for(cooked_) + TPACKET3_HDRLEN + 64;
    if (block < page) block = page;
    while (block < need) block <<= 1;
    block = (block + page - 1) / page * page;
    tpacket_req3 req{};
    req.tp_block_size = block;
    req.tp_block_nr = cfg.block_count ? cfg.block_count : 1;
    req.tp_frame_size = 2048;
    req.tp_frame_nr = block / req.tp_frame_size * req.tp_block_nr;
    req.tp_retire_blk_tov = block_timeout_ms_;
    if (::setsockopt(fd_.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
        throw RuntimeError(errno_message("setting up the ring (PACKET_RX_RING, " +
                                             std::to_string(block * req.tp_block_nr >> 10) +
                                             " KiB)",
                                         errno));
    map_len_ = static_cast<size_t>(block) * req.tp_block_nr;
    void* m = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd_.get(), 0);
    if (m == MAP_FAILED)  // MAP_LOCKED can fail under RLIMIT_MEMLOCK; it is only a hint
        m = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_.get(),
                   0);
    if (m == MAP_FAILED) throw RuntimeError(errno_message("mapping the ring", errno));
    map_ = static_cast<uint8_t*>(m);
    block_size_ = block;
    block_count_ = req.tp_block_nr;

    ifindex_ = 0;
    if (!cooked_) {
        ifindex_ = static_cast<int32_t>(if_nametoindex(filter.device.c_str()));
        if (ifindex_ == 0) throw UsageError("no such interface: " + filter.device);
    }
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex_;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
        throw RuntimeError(errno_message("bind to " + filter.device, errno));
    if (cfg.promiscuous && !cooked_) {
        packet_mreq mr{};
        mr.mr_ifindex = ifindex_;
        mr.mr_type = PACKET_MR_PROMISC;
        if (::setsockopt(fd_.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
            throw RuntimeError(errno_message("promiscuous mode on " + filter.device, errno));
    }
    if (fanout_group >= 0) {
        // No PACKET_FANOUT_FLAG_DEFRAG: it hands the group reassembled datagrams instead of
        // the fragments on the wire (and swallows fragments that never complete). Fragments
        // stay together anyway: the kernel's flow hash leaves the ports out of every
        // fragment, the first one included.
        const int arg = fanout_group | (PACKET_FANOUT_HASH << 16);
        if (::setsockopt(fd_.get(), SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0)
            throw RuntimeError(errno_message("PACKET_FANOUT", errno));
    }
}

AfPacketRing::~AfPacketRing() {
    if (map_) ::munmap(map_, map_len_);
}

void AfPacketRing::start() {
    sock_fprog prog{static_cast<unsigned short>(kernel_prog_.size()), kernel_prog_.data()};
    if (::setsockopt(fd_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
        throw RuntimeError(errno_message("attaching the filter (SO_ATTACH_FILTER)", errno));
}

void AfPacketRing::poll_stats() const {
    std::lock_guard lock(stats_mu_);
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    if (::getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return;
    // The kernel reports tp_packets with the drops included.
    filter_accepted_ += st.tp_packets;
    kernel_drops_ += st.tp_drops;
    freeze_q_ += st.tp_freeze_q_cnt;
}

void AfPacketRing::add_to(Ledger& l) const {
    poll_stats();
    std::lock_guard lock(slots_mu_);
    for (const auto& s : slots_)
        l.at(s.ifindex, s.name).received += s.received.load(std::memory_order_relaxed);
    // The kernel counts per socket: on "any" the drops belong to no single interface.
    IfName any_name;
    any_name.assign(cooked_ ? "any" : "");
    InterfaceCounters& c = cooked_ ? l.at(0, any_name) : l.at(ifindex_, slot_name());
    std::lock_guard slock(stats_mu_);
    // Packets the kernel let through only because the filter runs in userspace were not
    // received by the filter.
    c.filter_accepted += filter_accepted_ - user_rejected_.load(std::memory_order_relaxed);
    c.kernel_drops += kernel_drops_;
}

uint32_t AfPacketRing::blocks_in_use() const {
    uint32_t n = 0;
    for (uint32_t i = 0; i < block_count_; ++i) {
        const auto* b = reinterpret_cast<const tpacket_block_desc*>(map_ + static_cast<size_t>(i) *
                                                                               block_size_);
        if (__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) ++n;
    }
    return n;
}

void AfPacketRing::attach_drop_all() {
    sock_filter drop{BPF_RET | BPF_K, 0, 0, 0};
    sock_fprog prog{1, &drop};
    if (::setsockopt(fd_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
        throw RuntimeError(errno_message("attaching the filter (SO_ATTACH_FILTER)", errno));
}

int AfPacketRing::take_error() const {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

void AfPacketRing::setopt(int level, int name, int value, const char* what) {
    if (::setsockopt(fd_.get(), level, name, &value, sizeof value) != 0)
        throw RuntimeError(errno_message(std::string("setsockopt ") + what, errno));
}

IfName AfPacketRing::slot_name() const {
    IfName n;
    char buf[IF_NAMESIZE] = {};
    if (if_indextoname(static_cast<unsigned>(ifindex_), buf)) n.assign(buf);
    return n;
}

AfPacketRing::IfSlot& AfPacketRing::slot(int32_t ifindex) {
    if (last_slot_ && last_slot_->ifindex == ifindex) return *last_slot_;
    std::lock_guard lock(slots_mu_);
    for (auto& s : slots_)
        if (s.ifindex == ifindex) return *(last_slot_ = &s);
    IfSlot& s = slots_.emplace_back();
    s.ifindex = ifindex;
    char buf[IF_NAMESIZE] = {};
    if (if_indextoname(static_cast<unsigned>(ifindex), buf)) s.name.assign(buf);
    return *(last_slot_ = &s);
}

bool AfPacketRing::fill(tpacket3_hdr* h, PacketEvent& ev) {
    auto* sll = reinterpret_cast<sockaddr_ll*>(reinterpret_cast<uint8_t*>(h) +
                                               TPACKET_ALIGN(sizeof(tpacket3_hdr)));
    uint8_t* data = reinterpret_cast<uint8_t*>(h) + h->tp_mac;
    uint32_t caplen = h->tp_snaplen;
    uint32_t len = h->tp_len;

    // The kernel hands the VLAN tag over as metadata; put it back where it was on the wire.
    const bool vlan = (h->tp_status & TP_STATUS_VLAN_VALID) || h->hv1.tp_vlan_tci != 0;
    const uint16_t tpid =
        (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
    if (cooked_) {
        uint16_t proto = ntohs(sll->sll_protocol);
        if (vlan) {
            data -= kVlanTagLen;
            put16(data, static_cast<uint16_t>(h->hv1.tp_vlan_tci));
            put16(data + 2, proto);
            proto = tpid;
            caplen += kVlanTagLen;
            len += kVlanTagLen;
        }
        data -= kSll2Len;
        put16(data, proto);
        put16(data + 2, 0);
        put32(data + 4, static_cast<uint32_t>(sll->sll_ifindex));
        put16(data + 8, sll->sll_hatype);
        data[10] = sll->sll_pkttype;
        data[11] = sll->sll_halen;
        std::memset(data + 12, 0, 8);
        std::memcpy(data + 12, sll->sll_addr, sll->sll_halen < 8 ? sll->sll_halen : 8);
        caplen += kSll2Len;
        len += kSll2Len;
    } else if (vlan && dlt_ == DLT_EN10MB && caplen >= 2 * ETH_ALEN) {
        std::memmove(data - kVlanTagLen, data, 2 * ETH_ALEN);
        data -= kVlanTagLen;
        put16(data + 2 * ETH_ALEN, tpid);
        put16(data + 2 * ETH_ALEN + 2, static_cast<uint16_t>(h->hv1.tp_vlan_tci));
        caplen += kVlanTagLen;
        len += kVlanTagLen;
    }

    if (has_user_filter_) {
        pcap_pkthdr ph{};
        ph.caplen = caplen;
        ph.len = len;
        if (!pcap_offline_filter(&user_filter_, &ph, data)) {
            user_rejected_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
    }

    IfSlot& s = slot(sll->sll_ifindex);
    s.received.store(s.received.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);  // one writer
    ev.ts_ns = static_cast<uint64_t>(h->tp_sec) * 1000000000u + h->tp_nsec;
    ev.point = sll->sll_pkttype == PACKET_OUTGOING ? CapturePoint::TapOut : CapturePoint::TapIn;
    ev.dir = sll->sll_pkttype == PACKET_OUTGOING ? Direction::Out : Direction::In;
    ev.ifindex = sll->sll_ifindex;
    ev.ifname = s.name;
    ev.netns = netns_;
    ev.len = len;
    ev.linktype = static_cast<uint16_t>(dlt_);
    ev.bytes = {data, caplen};
    ev.proc.known = false;  // a handler may have filled it in (on_events_owned)
    LinkType lt;
    if (!want_parsed_) {
        // ev.parsed stays empty (cleared in run())
    } else if (link_type_from_dlt(dlt_, lt)) {
        ev.parsed = parse_packet(lt, ev.bytes);
    } else {
        ev.parsed = Parsed{};
        ev.parsed.issue = ParseIssue::UnsupportedLink;
    }
    return true;
}

// How far ahead of the frame being handled consume_block() prefetches (~3 small frames).
constexpr size_t kPrefetchAhead = 512;

bool AfPacketRing::consume_block(EventHandler& handler) {
    tpacket_block_desc* bd = current_block();
    const uint32_t n = bd->hdr.bh1.num_pkts;
    bool go_on = true;
    auto* h = reinterpret_cast<tpacket3_hdr*>(reinterpret_cast<uint8_t*>(bd) +
                                              bd->hdr.bh1.offset_to_first_pkt);
    // Events go to the handler a batch at a time; their bytes point into this block, which
    // goes back to the kernel only after the last batch.
    size_t filled = 0;
    // The kernel wrote the block on another CPU: fetch the frames a few hundred bytes ahead of
    // the one being handled (each cache line once, never past the block's end).
    const uint8_t* block_end = reinterpret_cast<uint8_t*>(bd) + block_size_;
    const uint8_t* fetched = reinterpret_cast<uint8_t*>(h);
    for (uint32_t i = 0; i < n && go_on; ++i) {
        const uint8_t* ahead =
            std::min<const uint8_t*>(reinterpret_cast<uint8_t*>(h) + kPrefetchAhead, block_end);
        for (; fetched < ahead; fetched += 64) __builtin_prefetch(fetched);
        auto* next =
            reinterpret_cast<tpacket3_hdr*>(reinterpret_cast<uint8_t*>(h) + h->tp_next_offset);
        if (fill(h, batch_[filled]) && ++filled == batch_.size()) {
            go_on = handler.on_events_owned({batch_.data(), filled});
            filled = 0;
        }
        h = next;
    }
    if (go_on && filled) go_on = handler.on_events_owned({batch_.data(), filled});
    frames_read_ += n;
    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    next_block_ = (next_block_ + 1) % block_count_;
    return go_on;
}

void AfPacketRing::run(EventHandler& handler, const std::atomic<bool>& stop) {
    want_parsed_ = handler.wants_parsed();
    for (PacketEvent& ev : batch_) ev.parsed = Parsed{};
    pollfd pfd{fd_.get(), POLLIN | POLLERR, 0};
    uint64_t last_tick = 0;
    bool went_down = false;
    while (!stop.load(std::memory_order_relaxed)) {
        if (block_ready()) {
            if (!consume_block(handler)) return;
            // Ticks also under load, so that flows expire and the status line moves.
            const uint64_t now = realtime_ns();
            if (now - last_tick >= 100'000'000) {
                handler.on_idle(now);
                last_tick = now;
            }
            continue;
        }
        const int rc = ::poll(&pfd, 1, 100);
        if (rc < 0) {
            if (errno == EINTR) continue;
            throw RuntimeError(errno_message("poll", errno));
        }
        if (rc > 0 && (pfd.revents & (POLLERR | POLLHUP))) {
            // The kernel reports an interface that went down or away as ENETDOWN, once; the
            // socket then receives nothing more (libpcap ends the capture there too).
            const int err = take_error();
            if (err == ENETDOWN) {
                went_down = true;
                break;
            }
            if (err) throw RuntimeError(errno_message("capture on " + device_, err));
            if (pfd.revents & POLLHUP)
                throw RuntimeError("capture on " + device_ + ": the socket hung up");
        }
        if (rc == 0) {
            const uint64_t now = realtime_ns();
            handler.on_idle(now);
            last_tick = now;
        }
    }
    if (!drain(handler)) return;
    if (went_down) throw RuntimeError("interface " + device_ + " went down");
}

bool AfPacketRing::drain(EventHandler& handler) {
    // Nothing new from here on; what the ring holds stays.
    try {
        attach_drop_all();
    } catch (const RuntimeError&) {
        // best effort: then we also read what arrives while draining
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    const uint64_t deadline = realtime_ns() + 2ull * block_timeout_ms_ * 1'000'000 + 250'000'000;
    int quiet_checks = 0;
    while (true) {
        if (block_ready()) {
            if (!consume_block(handler)) return false;
            quiet_checks = 0;
            continue;
        }
        poll_stats();
        uint64_t outstanding;
        {
            std::lock_guard lock(stats_mu_);
            const uint64_t in_ring = filter_accepted_ - kernel_drops_;
            outstanding = in_ring > frames_read_ ? in_ring - frames_read_ : 0;
        }
        // Twice in a row nothing outstanding, a few ms apart: a packet that had passed the old
        // filter on another CPU when the drop-all one was attached has been counted by then.
        if (outstanding == 0 && ++quiet_checks >= 2) break;
        if (outstanding) quiet_checks = 0;
        if (realtime_ns() >= deadline) break;
        ::poll(&pfd, 1, outstanding ? 10 : 2);
    }
    return true;
}

}  // namespace hookdump

#include "engine/drop_engine.h"

#include <bpf/btf.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "bpf/drop_program.h"
#include "bpf/drop_reasons.h"
#include "bpf/ringbuf_fill.h"
#include "hookdump_drop.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/netns.h"
#include "util/privilege.h"

namespace hookdump {
namespace {

constexpr uint16_t kLinktypeRaw = 101;

struct BtfDeleter {
    void operator()(btf* b) const { btf__free(b); }
};

}  // namespace

DropEngine::DropEngine(const DropEngineConfig& cfg) {
    require_initial_user_namespace("drop", "CAP_BPF and CAP_PERFMON");
    std::unique_ptr<btf, BtfDeleter> vmlinux(btf__load_vmlinux_btf());
    if (!vmlinux)
        throw RuntimeError(
            errno_message("the drop engine needs the kernel's BTF (/sys/kernel/btf/vmlinux, "
                          "CONFIG_DEBUG_INFO_BTF)",
                          errno));
    const int args = kfree_skb_tracepoint_args(vmlinux.get());
    if (args < 2) throw RuntimeError("this kernel's BTF has no skb:kfree_skb tracepoint");
    with_reason_ = args >= 3;
    reasons_ = std::make_unique<DropReasons>(vmlinux.get());

    DropProgramConfig pc;
    pc.with_reason = with_reason_;
    if (with_reason_) {
        // NOT_DROPPED_YET and CONSUMED come before NOT_SPECIFIED in every kernel's enum.
        const uint32_t not_specified = reasons_->value("NOT_SPECIFIED").value_or(0);
        pc.min_reason = cfg.all_reasons ? not_specified : not_specified + 1;
    }
    own_netns_ = own_netns_cookie();
    if (!cfg.all_netns && !own_netns_)
        throw RuntimeError(
            "cannot read this network namespace's cookie (SO_NETNS_COOKIE, Linux 5.14); "
            "--all-netns reports drops of every namespace");
    pc.netns_cookie = cfg.all_netns ? 0 : own_netns_;
    pc.rules = cfg.rules;

    kallsyms_ = Kallsyms::load();
    kallsyms_loaded_ns_ = clock_ns(CLOCK_MONOTONIC);
    realtime_offset_ns_ = mono_to_real_ns();
    prog_ = std::make_unique<DropProgram>(
        pc, [this](const hookdump_drop_event& e) { return deliver(e, *handler_); });
    ring_ = std::make_unique<bpf::RingbufFill>(prog_->events_fd());
}

DropEngine::~DropEngine() = default;

std::vector<RingFill> DropEngine::ring_fill() const {
    return {ring_->fill()};
}

std::string_view DropEngine::location(uint64_t addr) {
    if (auto it = locations_.find(addr); it != locations_.end()) return it->second;
    // A module loaded after start (nf_tables on first use): read kallsyms again, at most
    // once a second.
    const uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (!kallsyms_.covers(addr) && now - kallsyms_loaded_ns_ > 1000000000u) {
        kallsyms_ = Kallsyms::load();
        kallsyms_loaded_ns_ = now;
    }
    return locations_.emplace(addr, kallsyms_.symbolize(addr)).first->second;
}

bool DropEngine::deliver(const hookdump_drop_event& e, EventHandler& handler) {
    PacketEvent ev;
    ev.ts_ns = e.ts_ns + static_cast<uint64_t>(realtime_offset_ns_);
    ev.point = CapturePoint::Drop;
    ev.verdict = Verdict::Drop;
    ev.ifindex = static_cast<int32_t>(e.ifindex);
    ev.netns = e.netns_cookie;
    // Interface names are this namespace's: another namespace's index would name the wrong one.
    char name[IF_NAMESIZE] = {};
    if (e.ifindex && e.netns_cookie == own_netns_ && if_indextoname(e.ifindex, name))
        ev.ifname.assign(name);
    ev.len = e.len;
    ev.linktype = kLinktypeRaw;
    const uint32_t caplen = e.caplen <= HOOKDUMP_DROP_HDR_MAX ? e.caplen : HOOKDUMP_DROP_HDR_MAX;
    ev.bytes = {e.hdr, caplen};
    if (caplen && handler.wants_parsed())
        ev.parsed = parse_ip(ev.bytes);
    else
        ev.parsed.ethertype = e.protocol;
    ev.drop_reason = reasons_->name(e.reason);
    ev.drop_location = location(e.location);
    ++received_;
    return handler.on_event(ev);
}

void DropEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    handler_ = &handler;
    while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t before = received_;
        if (!prog_->poll(100)) return;
        if (received_ == before) handler.on_idle(realtime_ns());
    }
    // What was already in the ring when the signal came.
    prog_->poll(0);
}

Ledger DropEngine::ledger() const {
    Ledger l;
    InterfaceCounters& c = l.interfaces.emplace_back();
    const DropCounters k = prog_->counters();
    c.filter_accepted = k.matched;
    c.kernel_drops = k.ring_full;
    c.received = received_;
    return l;
}

}  // namespace hookdump

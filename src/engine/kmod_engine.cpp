#include "engine/kmod_engine.h"

#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "engine/socket_ring.h"
#include "hookdump.h"
#include "util/clock.h"

namespace hookdump {

// The ABI is the header's; these guard the layout the C++ side reads.
static_assert(sizeof(hookdump_event) == 96);
static_assert(offsetof(hookdump_event, ts_ns) == 0);
static_assert(offsetof(hookdump_event, netns_cookie) == 8);
static_assert(offsetof(hookdump_event, len) == 16);
static_assert(offsetof(hookdump_event, iif) == 32);
static_assert(offsetof(hookdump_event, rule_id) == 40);
static_assert(offsetof(hookdump_event, sport) == 44);
static_assert(offsetof(hookdump_event, src) == 48);
static_assert(offsetof(hookdump_event, dst) == 64);
static_assert(offsetof(hookdump_event, family) == 80);
static_assert(offsetof(hookdump_event, caplen) == 88);
static_assert(offsetof(hookdump_event, thoff) == 92);
static_assert(offsetof(hookdump_event, group) == 94);
static_assert(sizeof(hookdump_event_proc) == 24);
static_assert(offsetof(hookdump_event_proc, comm) == 8);
static_assert(sizeof(hookdump_event_proc::comm) == sizeof(ProcInfo::comm));

namespace {

constexpr uint16_t kLinktypeRaw = 101;

CapturePoint point_of(uint8_t hook) {
    switch (hook) {
        case HOOKDUMP_HOOK_PRE_ROUTING:
            return CapturePoint::PreRouting;
        case HOOKDUMP_HOOK_LOCAL_IN:
            return CapturePoint::LocalIn;
        case HOOKDUMP_HOOK_FORWARD:
            return CapturePoint::Forward;
        case HOOKDUMP_HOOK_LOCAL_OUT:
            return CapturePoint::LocalOut;
        case HOOKDUMP_HOOK_POST_ROUTING:
            return CapturePoint::PostRouting;
        default:
            return CapturePoint::Unknown;
    }
}

// Sets every field of `ev` that a kmod event defines (the others keep their defaults: see
// KmodEventReader::batch_). Returns false for a payload too short to be an event.
inline bool fill_event(const void* payload, size_t len, PacketEvent& ev) {
    hookdump_event e;
    if (len < sizeof e) return false;
    std::memcpy(&e, payload, sizeof e);
    if (e.caplen > len - sizeof e) return false;
    ev.ts_ns = e.ts_ns;
    ev.point = point_of(e.hook);
    ev.slot = e.slot == HOOKDUMP_SLOT_LAST     ? PrioritySlot::Last
              : e.slot == HOOKDUMP_SLOT_CUSTOM ? PrioritySlot::Custom
                                               : PrioritySlot::First;
    const bool inbound = e.hook == HOOKDUMP_HOOK_PRE_ROUTING || e.hook == HOOKDUMP_HOOK_LOCAL_IN;
    const bool outbound = e.hook == HOOKDUMP_HOOK_LOCAL_OUT || e.hook == HOOKDUMP_HOOK_POST_ROUTING;
    ev.dir = inbound ? Direction::In : outbound ? Direction::Out : Direction::Unknown;
    ev.ifindex = inbound ? e.iif : outbound ? e.oif : (e.oif ? e.oif : e.iif);
    ev.netns = e.netns_cookie;
    ev.len = e.len;
    ev.linktype = kLinktypeRaw;
    ev.bytes = {static_cast<const uint8_t*>(payload) + sizeof e, e.caplen};

    Parsed& p = ev.parsed;
    p.family = e.family == AF_INET6 ? 6 : 4;  // the module sends AF_INET or AF_INET6
    p.has = Parsed::kIp | Parsed::kProto;
    std::memcpy(p.src.data(), e.src, 16);
    std::memcpy(p.dst.data(), e.dst, 16);
    p.proto = e.proto;
    p.fragment = e.flags & HOOKDUMP_EV_FRAG;
    p.later_fragment = e.flags & HOOKDUMP_EV_LATER_FRAG;
    const bool ports = e.flags & HOOKDUMP_EV_PORTS;
    p.sport = ports ? e.sport : 0;
    p.dport = ports ? e.dport : 0;
    if (ports) p.has |= Parsed::kPorts;
    const bool icmp = e.flags & HOOKDUMP_EV_ICMP;
    p.icmp_type = icmp ? e.icmp_type : 0;
    p.icmp_code = icmp ? e.icmp_code : 0;
    if (icmp) p.has |= Parsed::kIcmp;
    p.issue = e.flags & HOOKDUMP_EV_TRUNCATED ? ParseIssue::TruncatedL4 : ParseIssue::None;
    p.tcp_flags = 0;
    // Transport payload, as the parser computes it from bytes: past the fixed L4 header.
    p.ip_payload = 0;
    p.ip_len = e.len;  // the hooks see the skb from its network header on
    if (e.thoff && e.len >= e.thoff) {
        uint32_t l4 = 0;
        if (!(e.flags & HOOKDUMP_EV_LATER_FRAG)) {
            switch (e.proto) {
                case 6:
                    l4 = 20;
                    break;
                case 17:
                case 136:
                case 1:
                case 58:
                    l4 = 8;
                    break;
                case 132:
                case 33:
                    l4 = 12;
                    break;
            }
        }
        p.ip_payload = e.len - e.thoff > l4 ? e.len - e.thoff - l4 : 0;
    }
    // The module does not parse TCP flags; the bytes have them when a snaplen was asked for.
    if (e.proto == 6 && e.caplen) {
        const Parsed full = parse_ip(ev.bytes);
        if (full.has_tcp_flags()) {
            p.tcp_flags = full.tcp_flags;
            p.has |= Parsed::kTcpFlags;
            p.ip_payload = full.ip_payload;  // honours TCP options
        }
    }
    return true;
}

// The sender of the event at `event` (fill_event checked its length) from its
// HOOKDUMP_A_EVENT_PROC: a process only when the module named the task (HOOKDUMP_EV_PID).
void fill_proc(const void* event, const void* payload, size_t len, ProcInfo& info) {
    hookdump_event e;
    hookdump_event_proc p;
    std::memcpy(&e, event, sizeof e);
    if (len < sizeof p || !(e.flags & HOOKDUMP_EV_PID) || !e.pid) return;
    std::memcpy(&p, payload, sizeof p);
    info.known = true;
    info.pid = e.pid;
    info.uid = e.uid;
    info.cgroup_id = p.cgroup_id;
    std::memcpy(info.comm, p.comm, sizeof info.comm);
    info.comm[sizeof info.comm - 1] = 0;
}

}  // namespace

bool event_from_payload(const void* payload, size_t len, PacketEvent& ev) {
    ev = PacketEvent{};
    return fill_event(payload, len, ev);
}

KmodClient::KmodClient() {
    family_ = sock_.resolve(HOOKDUMP_GENL_NAME);
}

uint32_t kmod_add_rule(NetlinkSocket& sock, uint16_t family, const Rule& r) {
    nlmsghdr* nlh = sock.start(family, HOOKDUMP_CMD_RULE_ADD, HOOKDUMP_GENL_VERSION);
    nlattr* nest = mnl_attr_nest_start(nlh, HOOKDUMP_A_RULE);
    if (r.family) mnl_attr_put_u8(nlh, HOOKDUMP_RULE_A_FAMILY, af_from_family(r.family));
    auto put_prefix = [&](int attr, int plen_attr, const std::optional<Prefix>& p) {
        if (!p) return;
        mnl_attr_put(nlh, attr, p->family == 6 ? 16 : 4, p->addr.data());
        mnl_attr_put_u8(nlh, plen_attr, p->len);
    };
    put_prefix(HOOKDUMP_RULE_A_SRC, HOOKDUMP_RULE_A_SRC_PLEN, r.src);
    put_prefix(HOOKDUMP_RULE_A_DST, HOOKDUMP_RULE_A_DST_PLEN, r.dst);
    if (r.sport_min || r.sport_max != 0xffff) {
        mnl_attr_put_u16(nlh, HOOKDUMP_RULE_A_SPORT_MIN, r.sport_min);
        mnl_attr_put_u16(nlh, HOOKDUMP_RULE_A_SPORT_MAX, r.sport_max);
    }
    if (r.dport_min || r.dport_max != 0xffff) {
        mnl_attr_put_u16(nlh, HOOKDUMP_RULE_A_DPORT_MIN, r.dport_min);
        mnl_attr_put_u16(nlh, HOOKDUMP_RULE_A_DPORT_MAX, r.dport_max);
    }
    if (r.proto) mnl_attr_put_u8(nlh, HOOKDUMP_RULE_A_PROTO, *r.proto);
    if (r.iif) mnl_attr_put_u32(nlh, HOOKDUMP_RULE_A_IIF, r.iif);
    if (r.oif) mnl_attr_put_u32(nlh, HOOKDUMP_RULE_A_OIF, r.oif);
    mnl_attr_put_u32(nlh, HOOKDUMP_RULE_A_HOOKS, r.hooks);
    mnl_attr_put_u32(nlh, HOOKDUMP_RULE_A_SLOTS, r.slots);
    if (r.snaplen) mnl_attr_put_u32(nlh, HOOKDUMP_RULE_A_SNAPLEN, r.snaplen);
    if (r.slots & (1u << HOOKDUMP_SLOT_CUSTOM))
        mnl_attr_put_u32(nlh, HOOKDUMP_RULE_A_PRIORITY, static_cast<uint32_t>(r.priority));
    mnl_attr_nest_end(nlh, nest);
    uint32_t id = 0;
    sock.transact(nlh, "adding a rule", [&](const nlmsghdr* reply) {
        for_each_attr(reply, sizeof(genlmsghdr), [&](const nlattr* a) {
            if (mnl_attr_get_type(a) == HOOKDUMP_A_RULE_ID) id = mnl_attr_get_u32(a);
        });
    });
    return id;
}

void KmodClient::delete_rule(uint32_t id) {
    nlmsghdr* nlh = sock_.start(family_.id, HOOKDUMP_CMD_RULE_DEL, HOOKDUMP_GENL_VERSION);
    mnl_attr_put_u32(nlh, HOOKDUMP_A_RULE_ID, id);
    sock_.transact(nlh, "deleting rule " + std::to_string(id));
}

void KmodClient::flush_rules() {
    sock_.transact(sock_.start(family_.id, HOOKDUMP_CMD_RULE_FLUSH, HOOKDUMP_GENL_VERSION),
                   "flushing the rules");
}

std::vector<Rule> KmodClient::list_rules() {
    std::vector<Rule> out;
    nlmsghdr* nlh = sock_.start(family_.id, HOOKDUMP_CMD_RULE_LIST, HOOKDUMP_GENL_VERSION,
                                NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK);
    sock_.transact(nlh, "listing the rules", [&](const nlmsghdr* reply) {
        for_each_attr(reply, sizeof(genlmsghdr), [&](const nlattr* a) {
            if (mnl_attr_get_type(a) != HOOKDUMP_A_RULE) return;
            Rule r;
            Prefix src, dst;
            bool has_src = false, has_dst = false;
            for_each_nested(a, [&](const nlattr* f) {
                switch (mnl_attr_get_type(f)) {
                    case HOOKDUMP_RULE_A_ID:
                        r.id = mnl_attr_get_u32(f);
                        break;
                    case HOOKDUMP_RULE_A_FAMILY:
                        r.family = family_from_af(mnl_attr_get_u8(f));
                        break;
                    case HOOKDUMP_RULE_A_SRC:
                        has_src = true;
                        src.family = mnl_attr_get_payload_len(f) == 16 ? 6 : 4;
                        std::memcpy(src.addr.data(), mnl_attr_get_payload(f),
                                    src.family == 6 ? 16 : 4);
                        break;
                    case HOOKDUMP_RULE_A_SRC_PLEN:
                        src.len = mnl_attr_get_u8(f);
                        break;
                    case HOOKDUMP_RULE_A_DST:
                        has_dst = true;
                        dst.family = mnl_attr_get_payload_len(f) == 16 ? 6 : 4;
                        std::memcpy(dst.addr.data(), mnl_attr_get_payload(f),
                                    dst.family == 6 ? 16 : 4);
                        break;
                    case HOOKDUMP_RULE_A_DST_PLEN:
                        dst.len = mnl_attr_get_u8(f);
                        break;
                    case HOOKDUMP_RULE_A_SPORT_MIN:
                        r.sport_min = mnl_attr_get_u16(f);
                        break;
                    case HOOKDUMP_RULE_A_SPORT_MAX:
                        r.sport_max = mnl_attr_get_u16(f);
                        break;
                    case HOOKDUMP_RULE_A_DPORT_MIN:
                        r.dport_min = mnl_attr_get_u16(f);
                        break;
                    case HOOKDUMP_RULE_A_DPORT_MAX:
                        r.dport_max = mnl_attr_get_u16(f);
                        break;
                    case HOOKDUMP_RULE_A_PROTO:
                        r.proto = mnl_attr_get_u8(f);
                        break;
                    case HOOKDUMP_RULE_A_IIF:
                        r.iif = mnl_attr_get_u32(f);
                        break;
                    case HOOKDUMP_RULE_A_OIF:
                        r.oif = mnl_attr_get_u32(f);
                        break;
                    case HOOKDUMP_RULE_A_HOOKS:
                        r.hooks = mnl_attr_get_u32(f);
                        break;
                    case HOOKDUMP_RULE_A_SLOTS:
                        r.slots = mnl_attr_get_u32(f);
                        break;
                    case HOOKDUMP_RULE_A_SNAPLEN:
                        r.snaplen = mnl_attr_get_u32(f);
                        break;
                    case HOOKDUMP_RULE_A_HITS:
                        r.hits = mnl_attr_get_u64(f);
                        break;
                    case HOOKDUMP_RULE_A_PRIORITY:
                        r.priority = static_cast<int32_t>(mnl_attr_get_u32(f));
                        break;
                    case HOOKDUMP_RULE_A_OWNER:
                        r.owner = mnl_attr_get_u32(f);
                        break;
                }
            });
            if (has_src) r.src = src;
            if (has_dst) r.dst = dst;
            out.push_back(r);
        });
    });
    return out;
}

KmodStats KmodClient::stats() {
    KmodStats s;
    nlmsghdr* nlh = sock_.start(family_.id, HOOKDUMP_CMD_STATS_GET, HOOKDUMP_GENL_VERSION);
    sock_.transact(nlh, "reading the module's statistics", [&](const nlmsghdr* reply) {
        for_each_attr(reply, sizeof(genlmsghdr), [&](const nlattr* a) {
            if (mnl_attr_get_type(a) != HOOKDUMP_A_STATS) return;
            for_each_nested(a, [&](const nlattr* f) {
                const uint64_t v = mnl_attr_get_u64(f);
                switch (mnl_attr_get_type(f)) {
                    case HOOKDUMP_STATS_A_MATCHED:
                        s.matched = v;
                        break;
                    case HOOKDUMP_STATS_A_QUEUED:
                        s.queued = v;
                        break;
                    case HOOKDUMP_STATS_A_DELIVERED:
                        s.delivered = v;
                        break;
                    case HOOKDUMP_STATS_A_DROP_FULL:
                        s.drop_full = v;
                        break;
                    case HOOKDUMP_STATS_A_DROP_NOBUFS:
                        s.drop_nobufs = v;
                        break;
                    case HOOKDUMP_STATS_A_DROP_NOMEM:
                        s.drop_nomem = v;
                        break;
                    case HOOKDUMP_STATS_A_DROP_NOSESSION:
                        s.drop_nosession = v;
                        break;
                    case HOOKDUMP_STATS_A_BATCHES:
                        s.batches = v;
                        break;
                    case HOOKDUMP_STATS_A_RULES:
                        s.rules = v;
                        break;
                    case HOOKDUMP_STATS_A_HOOKS:
                        s.hooks = v;
                        break;
                }
            });
        });
    });
    return s;
}

KmodEngine::KmodEngine(Mode mode, std::vector<Rule> rules, std::optional<KmodTargets> targets)
    : mode_(mode),
      group_(targets && targets->keep == KmodTargets::Keep::Group),
      reader_(control_.family().id,
              targets.value_or(mode == Mode::Listen ? KmodTargets{}
                                                    : KmodTargets{KmodTargets::Keep::None, 0})) {
    events_ = std::make_unique<NetlinkSocket>();
    events_->set_receive_buffer(8 << 20);
    // nlctrl's notifications tell when the family goes away (rmmod) while we read.
    const GenlFamily ctrl = events_->resolve("nlctrl");
    if (auto it = ctrl.groups.find("notify"); it != ctrl.groups.end())
        events_->join_group(it->second);
    if (mode_ == Mode::Listen) {
        auto it = control_.family().groups.find(HOOKDUMP_MCGRP_EVENTS);
        if (it == control_.family().groups.end())
            throw RuntimeError("the module has no events group");
        events_->join_group(it->second);
    } else {
        // Events of the first rules may come while the later ones are added: kept, not lost.
        events_->keep_unsolicited(true);
        events_->transact(
            events_->start(control_.family().id, HOOKDUMP_CMD_SESSION_START, HOOKDUMP_GENL_VERSION),
            "starting a capture session");
        try {
            for (const auto& r : rules)
                rule_ids_.push_back(kmod_add_rule(*events_, control_.family().id, r));
        } catch (...) {
            cleanup();
            throw;
        }
    }
    start_stats_ = control_.stats();
    ledger_.interfaces.emplace_back();
}

std::vector<RingFill> KmodEngine::ring_fill() const {
    return socket_ring_fill(events_.get());
}

KmodEngine::~KmodEngine() {
    cleanup();
}

void KmodEngine::cleanup() noexcept {
    rule_ids_.clear();
    events_
        .reset();  // closing the socket ends the session and removes its rules (NETLINK_URELEASE)
}

bool KmodEventReader::deliver(size_t n, EventHandler& handler, InterfaceCounters& c) {
    c.received += n;
    return handler.on_events({batch_.data(), n});
}

// Whether the event at `payload` (a struct hookdump_event), converted to `ev`, is one this
// reader keeps.
bool KmodEventReader::wanted(const void* payload, const PacketEvent& ev) const {
    hookdump_event e;
    std::memcpy(&e, payload, sizeof e);  // (fill_event checked the length)
    if (e.slot != HOOKDUMP_SLOT_TARGET) return targets_.keep != KmodTargets::Keep::Group;
    switch (targets_.keep) {
        case KmodTargets::Keep::All:
            return true;
        case KmodTargets::Keep::None:
            return false;
        case KmodTargets::Keep::Group:
            return e.group == targets_.group &&
                   (targets_.rules.empty() ||
                    std::any_of(targets_.rules.begin(), targets_.rules.end(),
                                [&](const Rule& r) { return r.matches(ev.parsed, e.hook); }));
    }
    return false;
}

bool KmodEventReader::handle_datagram(const char* buf, size_t len, EventHandler& handler,
                                      InterfaceCounters& c) {
    bool go_on = true;
    size_t n = 0;  // events in batch_
    // At most what the handler still takes (a count limit): every event counted is written.
    size_t limit = static_cast<size_t>(std::clamp<uint64_t>(handler.capacity(), 1, batch_.size()));
    int left = static_cast<int>(len);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf); go_on && mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_type < NLMSG_MIN_TYPE) continue;
        if (nlh->nlmsg_type == GENL_ID_CTRL) {
            const auto* g = static_cast<const genlmsghdr*>(mnl_nlmsg_get_payload(nlh));
            bool ours = false;
            for_each_attr(nlh, sizeof(genlmsghdr), [&](const nlattr* a) {
                if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
                    mnl_attr_get_u16(a) == family_id_)
                    ours = true;
            });
            if (ours && g->cmd == CTRL_CMD_DELFAMILY) {
                if (n) deliver(n, handler, c);
                throw KmodUnloaded();
            }
            continue;
        }
        // The attribute walk of mnl_attr_ok/next, inline: this loop runs once per event.
        const char* a =
            static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)));
        const char* const end = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
        while (go_on && end - a >= static_cast<ptrdiff_t>(sizeof(nlattr))) {
            nlattr h;
            std::memcpy(&h, a, sizeof h);
            if (h.nla_len < sizeof h || h.nla_len > end - a) break;
            const char* after = a + MNL_ALIGN(h.nla_len);
            if ((h.nla_type & NLA_TYPE_MASK) == HOOKDUMP_A_EVENT &&
                fill_event(a + MNL_ATTR_HDRLEN, h.nla_len - MNL_ATTR_HDRLEN, batch_[n])) {
                PacketEvent& ev = batch_[n];
                ev.label = {};
                ev.proc = {};
                // The attributes after an event, up to the next one, are the event's: a -j
                // HOOKDUMP rule's label, the sender of a locally generated packet.
                while (end - after >= static_cast<ptrdiff_t>(sizeof(nlattr))) {
                    nlattr x;
                    std::memcpy(&x, after, sizeof x);
                    const int type = x.nla_type & NLA_TYPE_MASK;
                    if (type == HOOKDUMP_A_EVENT || x.nla_len < sizeof x || x.nla_len > end - after)
                        break;
                    const char* d = after + MNL_ATTR_HDRLEN;
                    const size_t dlen = x.nla_len - MNL_ATTR_HDRLEN;
                    if (type == HOOKDUMP_A_EVENT_LABEL) ev.label = {d, strnlen(d, dlen)};
                    if (type == HOOKDUMP_A_EVENT_PROC && proc_)
                        fill_proc(a + MNL_ATTR_HDRLEN, d, dlen, ev.proc);
                    after += MNL_ALIGN(x.nla_len);
                }
                if ((!proc_ || proc_->match(ev.proc)) && wanted(a + MNL_ATTR_HDRLEN, ev)) {
                    ev.ifname = ifnames_.get(ev.ifindex);
                    if (++n == limit) {
                        go_on = deliver(n, handler, c);
                        n = 0;
                        limit = static_cast<size_t>(
                            std::clamp<uint64_t>(handler.capacity(), 1, batch_.size()));
                    }
                }
            }
            a = after;
        }
    }
    if (go_on && n) go_on = deliver(n, handler, c);
    return go_on;
}

bool KmodEngine::handle_unsolicited(EventHandler& handler) {
    bool go_on = true;
    for (const auto& d : events_->take_unsolicited())
        if (go_on) go_on = handle_datagram(d.data(), d.size(), handler);
    return go_on;
}

bool KmodEngine::handle_datagram(const char* buf, size_t len, EventHandler& handler) {
    try {
        return reader_.handle_datagram(buf, len, handler, ledger_.interfaces.front());
    } catch (const KmodUnloaded&) {
        rule_ids_.clear();  // gone with the module
        throw;
    }
}

void KmodEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    std::vector<char> buf(1 << 20);
    bool go_on = handle_unsolicited(handler);
    while (go_on && !stop.load(std::memory_order_relaxed)) {
        const ssize_t n = events_->receive(buf, 100);
        if (n == -ENOBUFS) {
            ++overruns_;
            continue;
        }
        if (n == 0) {
            handler.on_idle(realtime_ns());
            continue;
        }
        go_on = handle_datagram(buf.data(), static_cast<size_t>(n), handler);
    }
    // Stop matching, push out what the module still holds, and read it before leaving: the
    // module removes the session's rules, waits for the packets in their hooks and flushes
    // their events to us before it answers.
    if (mode_ == Mode::Session) {
        events_->transact(
            events_->start(control_.family().id, HOOKDUMP_CMD_SESSION_STOP, HOOKDUMP_GENL_VERSION),
            "stopping the capture session");
        rule_ids_.clear();
        if (go_on) go_on = handle_unsolicited(handler);
        const KmodStats end = control_.stats();  // flushes the per-CPU batches
        while (go_on) {
            const ssize_t n = events_->receive(buf, 50);
            if (n <= 0) break;
            go_on = handle_datagram(buf.data(), static_cast<size_t>(n), handler);
        }
        auto& c = ledger_.interfaces.front();
        c.filter_accepted = end.matched - start_stats_.matched;
        c.kernel_drops = (end.drop_full - start_stats_.drop_full) +
                         (end.drop_nobufs - start_stats_.drop_nobufs) +
                         (end.drop_nomem - start_stats_.drop_nomem);
    } else if (group_) {
        // A -j HOOKDUMP group's listener: what the module still holds is pushed out (STATS_GET
        // flushes the batches) and read. The module counts per namespace, not per group: the
        // events kept are what the filter accepted, the namespace's drops are the kernel's.
        const KmodStats end = control_.stats();
        while (go_on) {
            const ssize_t n = events_->receive(buf, 50);
            if (n <= 0) break;
            go_on = handle_datagram(buf.data(), static_cast<size_t>(n), handler);
        }
        auto& c = ledger_.interfaces.front();
        c.filter_accepted = c.received;
        c.kernel_drops = (end.drop_full - start_stats_.drop_full) +
                         (end.drop_nobufs - start_stats_.drop_nobufs) +
                         (end.drop_nomem - start_stats_.drop_nomem);
    }
}

}  // namespace hookdump

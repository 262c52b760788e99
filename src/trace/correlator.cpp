#include "trace/correlator.h"

#include <fmt/format.h>

#include <algorithm>

#include "packet/format.h"

namespace hookdump::trace {
namespace {

// Clocks of different engines (ring timestamps, ktime in the module, BPF) disagree by a few
// microseconds: observations closer than this are ordered by their place in the stack.
constexpr uint64_t kClockSkewNs = 200'000;
// nft trace messages are stamped when hookdump reads them (they carry no time): up to this
// much after the packet passed, they are put in stack order too (the reader polls every 50 ms and
// a busy or emulated CPU delays it further: 31 ms measured in a 6.12 TCG guest).
constexpr uint64_t kNftSkewNs = 200'000'000;

// Which clock stamped an observation: the ring (tap), the module (hooks), BPF, the drop
// tracepoint. Only observations stamped by different clocks are reordered by stack rank.
int clock_of(const Observation& o) {
    if (o.drop) return 4;
    if (o.nft) return 5;
    if (o.sock) return 3;  // BPF, as tc's
    switch (o.point) {
        case CapturePoint::TapIn:
        case CapturePoint::TapOut:
            return 1;
        case CapturePoint::Xdp:
        case CapturePoint::TcIngress:
        case CapturePoint::TcEgress:
            return 3;
        default:
            return 2;
    }
}

// NAT rewrites one side of a tuple at a time (DNAT the destination, SNAT the source): an
// observation belongs to a packet only if it shares a side with one of its observations.
// This keeps apart packets of other flows that happen to carry the same id and payload.
bool nat_compatible(const Tuple& t, const std::vector<Observation>& path) {
    for (const auto& x : path) {
        const Tuple& u = x.tuple;
        if (u.family != t.family || u.proto != t.proto) continue;
        if ((u.src == t.src && u.sport == t.sport) || (u.dst == t.dst && u.dport == t.dport))
            return true;
    }
    return false;
}

bool same_place(const Observation& a, const Observation& b) {
    if (a.nft.has_value() != b.nft.has_value() || a.sock.has_value() != b.sock.has_value())
        return false;
    if (a.nft && (a.nft->family != b.nft->family || a.nft->table != b.nft->table ||
                  a.nft->chain != b.nft->chain))
        return false;
    if (a.sock && a.sock->egress != b.sock->egress) return false;
    return a.point == b.point && a.slot == b.slot && a.ifindex == b.ifindex && a.drop == b.drop;
}

// A netfilter hook seen by the module (nft chains and sockets are steps of their own).
bool hook_obs(const Observation& o) {
    return is_netfilter_hook(o.point) && !o.nft && !o.sock;
}

// Place in the stack, finer than stack_rank: nft chains between a hook's first and last
// priority, sockets after LOCAL_IN (ingress) and after POST_ROUTING (egress: cgroup_skb runs
// in ip_finish_output).
int rank_of(const Observation& o) {
    if (o.drop) return 60;
    if (o.sock) return o.sock->egress ? 32 : 24;
    if (o.nft) {
        switch (o.point) {
            case CapturePoint::PreRouting:
                return 13;
            case CapturePoint::LocalIn:
            case CapturePoint::Forward:
            case CapturePoint::LocalOut:
                return 21;
            case CapturePoint::PostRouting:
                return 29;
            default:
                return 50;
        }
    }
    return 2 * stack_rank(o.point, o.slot);
}

// A step of the path: one point, or a hook seen at its first and/or last priority.
struct Step {
    const Observation* first = nullptr;  // the observation that opened the step
    const Observation* last = nullptr;   // the one that closed it (== first for single points)
    bool entered = false, left = false;  // hooks: first / last priority seen
};

std::vector<Step> steps_of(const TracedPacket& p) {
    std::vector<Step> steps;
    for (const auto& o : p.path) {
        if (o.drop) continue;
        if (!hook_obs(o)) {
            steps.push_back(Step{&o, &o, true, true});
            continue;
        }
        if (!steps.empty() && hook_obs(*steps.back().first) &&
            steps.back().first->point == o.point && !steps.back().left &&
            !(o.slot != PrioritySlot::Last && steps.back().entered)) {
            steps.back().last = &o;
            if (o.slot == PrioritySlot::Last)
                steps.back().left = true;
            else
                steps.back().entered = true;
            continue;
        }
        Step s{&o, &o, o.slot != PrioritySlot::Last,
               o.slot == PrioritySlot::Last || !is_netfilter_hook(o.point)};
        if (is_netfilter_hook(o.point) && o.slot == PrioritySlot::None) s.entered = s.left = true;
        steps.push_back(s);
    }
    return steps;
}

bool hook_step(const Step& s) {
    return hook_obs(*s.first);
}

std::string socket_text(const SocketStep& k) {
    std::string n = fmt::format("socket {}", k.proto == 6    ? "tcp"
                                             : k.proto == 17 ? "udp"
                                                             : fmt::format("proto {}", k.proto));
    n += ' ';
    if (k.family == 6) n += '[';
    append_addr(n, k.family, k.addr);
    if (k.family == 6) n += ']';
    n += fmt::format(":{}", k.port);
    if (k.proc) n += fmt::format(" proc {}[{}] uid {}", k.proc->comm, k.proc->pid, k.proc->uid);
    return n;
}

std::string nft_text(const NftStep& s) {
    return fmt::format("nft {} {} {}", s.family, s.table, s.chain);
}

std::string step_name(const Step& s, bool both_slots, bool with_ifname) {
    if (s.first->nft) return nft_text(*s.first->nft) + ": " + s.first->nft->verdict;
    if (s.first->sock) return socket_text(*s.first->sock);
    std::string n(trace_point_name(s.first->point));
    if (is_netfilter_hook(s.first->point)) {
        if (both_slots && s.entered && !s.left) n += "(first)";
        if (both_slots && !s.entered && s.left) n += "(last)";
    } else if (with_ifname && !s.first->ifname.empty()) {
        n += ' ';
        n += s.first->ifname;
    }
    return n;
}

std::string endpoint(uint8_t family, const std::array<uint8_t, 16>& a, bool ports, uint16_t port) {
    std::string s;
    append_addr(s, family, a);
    if (ports) s += fmt::format(":{}", port);
    return s;
}

// "[dst 198.18.0.2:80 → 198.18.1.2:8080]" for what changed between two tuples.
std::string nat_note(const Tuple& a, const Tuple& b) {
    if (a == b || a.family != b.family) return "";
    std::string out;
    if (a.src != b.src || a.sport != b.sport)
        out += fmt::format("src {} → {}", endpoint(a.family, a.src, a.has_ports, a.sport),
                           endpoint(b.family, b.src, b.has_ports, b.sport));
    if (a.dst != b.dst || a.dport != b.dport) {
        if (!out.empty()) out += ", ";
        out += fmt::format("dst {} → {}", endpoint(a.family, a.dst, a.has_ports, a.dport),
                           endpoint(b.family, b.dst, b.has_ports, b.dport));
    }
    return out.empty() ? "" : " [" + out + "]";
}

void append_tuple_json(std::string& s, const Tuple& t) {
    s += "{\"src\":\"";
    append_addr(s, t.family, t.src);
    s += "\",\"dst\":\"";
    append_addr(s, t.family, t.dst);
    s += "\"";
    if (t.has_ports) s += fmt::format(",\"sport\":{},\"dport\":{}", t.sport, t.dport);
    s += fmt::format(",\"proto\":{}}}", t.proto);
}

void append_nft_json(std::string& s, const NftStep& n, CapturePoint hook) {
    s += ",\"nft\":{\"family\":\"";
    append_json_escaped(s, n.family);
    s += "\",\"table\":\"";
    append_json_escaped(s, n.table);
    s += "\",\"chain\":\"";
    append_json_escaped(s, n.chain);
    s += fmt::format("\",\"hook\":\"{}\",\"priority\":{}", trace_point_name(hook), n.priority);
    if (n.handle) {
        s += fmt::format(",\"handle\":{},\"rule\":\"", n.handle);
        append_json_escaped(s, n.rule);
        s += '"';
    } else {
        s += ",\"policy\":true";
    }
    s += ",\"verdict\":\"";
    append_json_escaped(s, n.verdict);
    s += "\"}";
}

}  // namespace

// "nft inet f in handle 3: udp dport 7777 counter drop", or "nft inet f in policy drop".
std::string nft_rule_text(const NftStep& n) {
    if (!n.handle) return fmt::format("{} policy {}", nft_text(n), n.verdict);
    return fmt::format("{} handle {}: {}", nft_text(n), n.handle, n.rule);
}

std::string_view to_string(Fate f) {
    switch (f) {
        case Fate::Delivered:
            return "delivered";
        case Fate::Forwarded:
            return "forwarded";
        case Fate::Sent:
            return "sent";
        case Fate::Dropped:
            return "dropped";
        default:
            return "unknown";
    }
}

Correlator::Open* Correlator::find_for(const Observation& o, bool& collided) {
    collided = false;
    Open* weak_match = nullptr;
    for (auto& g : open_) {
        if (o.ts_ns > g->last_ns + opt_.window_ns) continue;
        if (o.partial || g->partial) {
            // An nft observation, or a packet seen only by nft so far: the short keys.
            bool same = false;
            for (const auto& x : g->pkt.path)
                if (x.short_key == o.short_key) same = true;
            if (!same || !nat_compatible(o.tuple, g->pkt.path)) continue;
            const bool seen_here =
                std::any_of(g->pkt.path.begin(), g->pkt.path.end(),
                            [&](const Observation& x) { return same_place(x, o); });
            if (!seen_here) return g.get();
            collided = true;
            continue;
        }
        if (o.key.strong && g->key.strong) {
            if (g->key != o.key || !nat_compatible(o.tuple, g->pkt.path)) continue;
            const bool seen_here =
                std::any_of(g->pkt.path.begin(), g->pkt.path.end(),
                            [&](const Observation& x) { return same_place(x, o); });
            if (!seen_here) return g.get();
            collided = true;
            continue;
        }
        // A weak key (no bytes) matches a packet that had the same 5-tuple at some point
        // (a drop report also matches on the tuple alone: the length it sees varies).
        for (const auto& x : g->pkt.path)
            if (x.tuple == o.tuple && (o.drop || x.l3len == o.l3len)) weak_match = g.get();
    }
    return weak_match;
}

void Correlator::add(Observation o) {
    o.seq = next_seq_++;
    bool collided = false;
    Open* g = find_for(o, collided);
    if (!g) {
        auto n = std::make_unique<Open>();
        n->pkt.id = next_id_++;
        n->first_ns = n->last_ns = o.ts_ns;
        n->key = o.key;
        n->partial = o.partial;
        if (collided) {
            n->pkt.ambiguous = true;
            for (auto& other : open_)
                if (other->key == o.key) other->pkt.ambiguous = true;
        }
        g = n.get();
        open_.push_back(std::move(n));
    }
    g->last_ns = std::max(g->last_ns, o.ts_ns);
    if ((!g->key.strong && o.key.strong) || (g->partial && !o.partial)) {
        g->key = o.key;
        g->partial = o.partial;
    }
    g->pkt.path.push_back(std::move(o));
}

std::vector<TracedPacket> Correlator::take_done(uint64_t now_ns, bool flush) {
    std::vector<TracedPacket> done;
    // The oldest packets first, up to the first still open: paths come out in the order
    // packets were first seen, whenever this is called (a replay's calls come at other times).
    while (!open_.empty() && (flush || open_.front()->last_ns + opt_.window_ns < now_ns)) {
        finish(open_.front()->pkt);
        done.push_back(std::move(open_.front()->pkt));
        open_.pop_front();
    }
    return done;
}

void Correlator::finish(TracedPacket& p) const {
    auto& path = p.path;
    std::stable_sort(path.begin(), path.end(), [](const Observation& a, const Observation& b) {
        return a.ts_ns != b.ts_ns ? a.ts_ns < b.ts_ns : a.seq < b.seq;
    });
    // Clock skew between engines: neighbours within a few microseconds go in stack order.
    for (size_t i = 1; i < path.size(); ++i)
        for (size_t j = i; j > 0; --j) {
            const auto& a = path[j - 1];
            const auto& b = path[j];
            const uint64_t skew = (a.nft || b.nft) ? kNftSkewNs : kClockSkewNs;
            if (b.ts_ns - a.ts_ns <= skew && clock_of(a) != clock_of(b) && rank_of(b) < rank_of(a))
                std::swap(path[j - 1], path[j]);
            else
                break;
        }

    const Observation* drop = nullptr;
    for (const auto& o : path)
        if (o.drop && !drop) drop = &o;
    const auto steps = steps_of(p);
    auto seen = [&](CapturePoint pt) {
        return std::any_of(steps.begin(), steps.end(),
                           [&](const Step& s) { return s.first->point == pt; });
    };
    // An nft chain's accept counts as leaving its hook, but for LOCAL_IN: delivery takes a
    // socket (or the module's last priority).
    auto left_hook = [&](CapturePoint pt) {
        return std::any_of(steps.begin(), steps.end(), [&](const Step& s) {
            if (s.first->sock) return false;
            if (s.first->nft)
                return s.first->point == pt && pt != CapturePoint::LocalIn &&
                       s.first->nft->verdict == "accept";
            return s.first->point == pt && (s.left || !opt_.both_slots);
        });
    };
    auto at_socket = [&](bool egress) {
        return std::any_of(steps.begin(), steps.end(), [&](const Step& s) {
            return s.first->sock && s.first->sock->egress == egress;
        });
    };
    // A hook entered and never left (only meaningful when both priorities are watched).
    const Step* stuck = nullptr;
    if (opt_.both_slots && !steps.empty() && hook_step(steps.back()) && !steps.back().left)
        stuck = &steps.back();

    // With every hook watched at both priorities, a packet that left a hook and reached
    // nothing after it died there too: in routing after PRE_ROUTING, FORWARD or LOCAL_OUT,
    // or on the way to the device after POST_ROUTING.
    const Step* vanished = nullptr;
    if (opt_.both_slots && !stuck && !steps.empty() && hook_step(steps.back())) {
        const CapturePoint last = steps.back().first->point;
        if (last == CapturePoint::PreRouting || last == CapturePoint::Forward ||
            last == CapturePoint::LocalOut ||
            (last == CapturePoint::PostRouting && opt_.tap_egress))
            vanished = &steps.back();
    }

    const Observation* nft_drop = nullptr;
    for (const auto& s : steps)
        if (s.first->nft && s.first->nft->verdict == "drop" && !nft_drop) nft_drop = s.first;

    if (drop || stuck || vanished || nft_drop) {
        p.fate = Fate::Dropped;
        if (nft_drop) {
            p.nft_drop = nft_drop->nft;
            p.dropped_at = std::string(trace_point_name(nft_drop->point));
        } else if (stuck) {
            p.dropped_at = std::string(trace_point_name(stuck->first->point));
        } else if (!steps.empty()) {
            p.dropped_at = "after " + step_name(steps.back(), opt_.both_slots, false);
        } else {
            p.dropped_at = "before any observation point";
        }
        if (drop) {
            p.reason = drop->reason;
            p.location = drop->location;
        }
        return;
    }
    const bool egress = seen(CapturePoint::PostRouting) || seen(CapturePoint::TcEgress) ||
                        seen(CapturePoint::TapOut) || at_socket(true);
    if (left_hook(CapturePoint::LocalIn) || at_socket(false))
        p.fate = Fate::Delivered;
    else if (left_hook(CapturePoint::Forward) && egress)
        p.fate = Fate::Forwarded;
    else if (seen(CapturePoint::LocalOut) && egress)
        p.fate = Fate::Sent;
    else if (!steps.empty() && !seen(CapturePoint::PreRouting) && !seen(CapturePoint::TapIn) &&
             !seen(CapturePoint::TcIngress) && !seen(CapturePoint::Xdp) && !at_socket(false) &&
             egress)
        p.fate = Fate::Sent;  // seen only on its way out
    else
        p.fate = Fate::Unknown;
}

std::string format_path(const TracedPacket& p, bool both_slots) {
    const auto steps = steps_of(p);
    std::string out;
    const Tuple* prev = nullptr;
    for (const auto& s : steps) {
        if (!out.empty()) out += " → ";
        out += step_name(s, both_slots, true);
        // NAT inside a hook (between its priorities) or between two steps.
        std::string nat;
        if (prev) nat = nat_note(*prev, s.first->tuple);
        if (s.last != s.first) nat += nat_note(s.first->tuple, s.last->tuple);
        out += nat;
        prev = &s.last->tuple;
    }
    if (p.fate == Fate::Dropped) {
        out += fmt::format("{}✗ dropped ", out.empty() ? "" : " ");
        if (p.nft_drop)
            out += fmt::format("at {} by {}", p.dropped_at, nft_rule_text(*p.nft_drop));
        else if (!p.dropped_at.starts_with("after") && !p.dropped_at.starts_with("before"))
            out += both_slots ? fmt::format("between {0} first and last priority", p.dropped_at)
                              : fmt::format("at {}", p.dropped_at);
        else
            out += p.dropped_at;
        if (!p.reason.empty() || !p.location.empty()) {
            out += " (";
            if (!p.reason.empty()) out += "reason " + p.reason;
            if (!p.location.empty()) out += (p.reason.empty() ? "at " : " at ") + p.location;
            out += ")";
        }
    } else if (p.fate != Fate::Unknown) {
        out += fmt::format(" ✓ {}", to_string(p.fate));
    }
    if (p.ambiguous) out += " (ambiguous: an identical packet was in flight)";
    return out;
}

std::string path_signature(const TracedPacket& p, bool both_slots) {
    std::string out;
    for (const auto& s : steps_of(p)) {
        if (!out.empty()) out += " → ";
        out += step_name(s, both_slots, true);
    }
    if (p.fate == Fate::Dropped) {
        const bool where = p.dropped_at.starts_with("after") || p.dropped_at.starts_with("before");
        out += fmt::format("{}✗ dropped {}{}", out.empty() ? "" : " ", where ? "" : "at ",
                           p.dropped_at);
        if (p.nft_drop) out += " by " + nft_rule_text(*p.nft_drop);
    } else if (p.fate != Fate::Unknown)
        out += fmt::format(" ✓ {}", to_string(p.fate));
    return out;
}

std::string to_json(const TracedPacket& p) {
    std::string s = fmt::format("{{\"id\":{},\"path\":[", p.id);
    bool first = true;
    for (const auto& o : p.path) {
        if (!first) s += ',';
        first = false;
        s += "{\"point\":\"";
        s += o.drop ? "kfree_skb" : o.nft ? "nft" : o.sock ? "socket" : trace_point_name(o.point);
        s += '"';
        if (o.nft) append_nft_json(s, *o.nft, o.point);
        if (o.sock) {
            s += fmt::format(",\"socket\":{{\"direction\":\"{}\",\"proto\":{},\"addr\":\"",
                             o.sock->egress ? "out" : "in", o.sock->proto);
            append_addr(s, o.sock->family, o.sock->addr);
            s += fmt::format("\",\"port\":{}}}", o.sock->port);
            // The process as capture's jsonl has it: null when the socket has none.
            if (const auto& sp = o.sock->proc) {
                s += fmt::format(",\"pid\":{},\"comm\":\"", sp->pid);
                append_json_escaped(s, sp->comm);
                s += fmt::format("\",\"uid\":{},\"cgroup\":", sp->uid);
                if (sp->cgroup.empty()) {
                    s += "null";
                } else {
                    s += '"';
                    append_json_escaped(s, sp->cgroup);
                    s += '"';
                }
            } else {
                s += ",\"pid\":null,\"comm\":null,\"uid\":null,\"cgroup\":null";
            }
        }
        if (o.slot == PrioritySlot::First) s += ",\"slot\":\"first\"";
        if (o.slot == PrioritySlot::Last) s += ",\"slot\":\"last\"";
        if (!o.ifname.empty()) {
            s += ",\"ifname\":\"";
            append_json_escaped(s, o.ifname);
            s += '"';
        }
        s += ",\"ts\":";
        append_epoch_ns(s, o.ts_ns);
        s += ",\"tuple\":";
        append_tuple_json(s, o.tuple);
        if (o.drop) {
            s += ",\"reason\":\"";
            append_json_escaped(s, o.reason);
            s += "\",\"location\":\"";
            append_json_escaped(s, o.location);
            s += '"';
        }
        s += '}';
    }
    s += fmt::format("],\"fate\":\"{}\"", to_string(p.fate));
    if (p.fate == Fate::Dropped) {
        s += ",\"dropped_at\":\"";
        append_json_escaped(s, p.dropped_at);
        s += "\",\"reason\":";
        if (p.reason.empty()) {
            s += "null";
        } else {
            s += '"';
            append_json_escaped(s, p.reason);
            s += '"';
        }
        if (!p.location.empty()) {
            s += ",\"location\":\"";
            append_json_escaped(s, p.location);
            s += '"';
        }
    }
    s += fmt::format(",\"ambiguous\":{}}}", p.ambiguous ? "true" : "false");
    return s;
}

void PathSummary::add(const TracedPacket& p, bool both_slots) {
    ++total_;
    ++paths_[{path_signature(p, both_slots), p.fate}];
    const auto steps = steps_of(p);
    std::string prev;
    for (const auto& s : steps) {
        // The graph's nodes are the hooks: an nft chain is its hook, a socket the fate.
        if (s.first->sock) continue;
        std::string name(trace_point_name(s.first->point));
        if (name == prev) continue;
        if (!prev.empty()) ++edges_[{prev, name}];
        prev = name;
    }
    if (p.fate == Fate::Dropped)
        ++drops_[p.dropped_at];
    else if (!prev.empty())
        ++edges_[{prev, std::string(to_string(p.fate))}];
}

std::vector<PathSummary::Row> PathSummary::rows() const {
    std::vector<Row> r;
    for (const auto& [k, n] : paths_) r.push_back({k.first, k.second, n});
    std::stable_sort(r.begin(), r.end(),
                     [](const Row& a, const Row& b) { return a.packets > b.packets; });
    return r;
}

}  // namespace hookdump::trace

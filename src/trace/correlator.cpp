#include "trace/correlator.h"

#include <fmt/format.h>

#include <algorithm>

#include "packet/format.h"

namespace hookdump::trace {
namespace {

// Clocks of different engines (ring timestamps, ktime in the module, BPF) disagree by a few
// microseconds: observations closer than this are ordered by their place in the stack.
constexpr uint64_t kClockSkewNs = 200'000;

bool is_hook(CapturePoint p) {
    return p == CapturePoint::PreRouting || p == CapturePoint::LocalIn ||
           p == CapturePoint::Forward || p == CapturePoint::LocalOut ||
           p == CapturePoint::PostRouting;
}

// Which clock stamped an observation: the ring (tap), the module (hooks), BPF, the drop
// tracepoint. Only observations stamped by different clocks are reordered by stack rank.
int clock_of(const Observation& o) {
    if (o.drop) return 4;
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
    return a.point == b.point && a.slot == b.slot && a.ifindex == b.ifindex && a.drop == b.drop;
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
        if (is_hook(o.point) && !steps.empty() && steps.back().first->point == o.point &&
            !steps.back().left && !(o.slot != PrioritySlot::Last && steps.back().entered)) {
            steps.back().last = &o;
            if (o.slot == PrioritySlot::Last)
                steps.back().left = true;
            else
                steps.back().entered = true;
            continue;
        }
        Step s{&o, &o, o.slot != PrioritySlot::Last,
               o.slot == PrioritySlot::Last || !is_hook(o.point)};
        if (is_hook(o.point) && o.slot == PrioritySlot::None) s.entered = s.left = true;
        steps.push_back(s);
    }
    return steps;
}

std::string step_name(const Step& s, bool both_slots, bool with_ifname) {
    std::string n(trace_point_name(s.first->point));
    if (is_hook(s.first->point)) {
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

}  // namespace

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
        if (collided) {
            n->pkt.ambiguous = true;
            for (auto& other : open_)
                if (other->key == o.key) other->pkt.ambiguous = true;
        }
        g = n.get();
        open_.push_back(std::move(n));
    }
    g->last_ns = std::max(g->last_ns, o.ts_ns);
    if (!g->key.strong && o.key.strong) g->key = o.key;
    g->pkt.path.push_back(std::move(o));
}

std::vector<TracedPacket> Correlator::take_done(uint64_t now_ns, bool flush) {
    std::vector<TracedPacket> done;
    for (auto it = open_.begin(); it != open_.end();) {
        if (flush || (*it)->last_ns + opt_.window_ns < now_ns) {
            finish((*it)->pkt);
            done.push_back(std::move((*it)->pkt));
            it = open_.erase(it);
        } else {
            ++it;
        }
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
            if (b.ts_ns - a.ts_ns <= kClockSkewNs && clock_of(a) != clock_of(b) &&
                (b.drop ? 30 : stack_rank(b.point, b.slot)) <
                    (a.drop ? 30 : stack_rank(a.point, a.slot)))
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
    auto left_hook = [&](CapturePoint pt) {
        return std::any_of(steps.begin(), steps.end(), [&](const Step& s) {
            return s.first->point == pt && (s.left || !opt_.both_slots);
        });
    };
    // A hook entered and never left (only meaningful when both priorities are watched).
    const Step* stuck = nullptr;
    if (opt_.both_slots && !steps.empty() && is_hook(steps.back().first->point) &&
        !steps.back().left)
        stuck = &steps.back();

    // With every hook watched at both priorities, a packet that left a hook and reached
    // nothing after it died there too: in routing after PRE_ROUTING, FORWARD or LOCAL_OUT,
    // or on the way to the device after POST_ROUTING.
    const Step* vanished = nullptr;
    if (opt_.both_slots && !stuck && !steps.empty() && is_hook(steps.back().first->point)) {
        const CapturePoint last = steps.back().first->point;
        if (last == CapturePoint::PreRouting || last == CapturePoint::Forward ||
            last == CapturePoint::LocalOut ||
            (last == CapturePoint::PostRouting && opt_.tap_egress))
            vanished = &steps.back();
    }

    if (drop || stuck || vanished) {
        p.fate = Fate::Dropped;
        if (stuck) {
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
                        seen(CapturePoint::TapOut);
    if (left_hook(CapturePoint::LocalIn))
        p.fate = Fate::Delivered;
    else if (left_hook(CapturePoint::Forward) && egress)
        p.fate = Fate::Forwarded;
    else if (seen(CapturePoint::LocalOut) && egress)
        p.fate = Fate::Sent;
    else if (!steps.empty() && !seen(CapturePoint::PreRouting) && !seen(CapturePoint::TapIn) &&
             !seen(CapturePoint::TcIngress) && !seen(CapturePoint::Xdp) && egress)
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
        if (!p.dropped_at.starts_with("after") && !p.dropped_at.starts_with("before"))
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
        s += o.drop ? "kfree_skb" : trace_point_name(o.point);
        s += '"';
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
        std::string name(trace_point_name(s.first->point));
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

#include "trace/trace_record.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <vector>

#include "packet/format.h"
#include "sink/output_file.h"
#include "sink/sink.h"

namespace hookdump::trace {
namespace {

constexpr std::string_view kHead = "hookdump trace";

std::string_view slot_name(PrioritySlot s) {
    switch (s) {
        case PrioritySlot::First:
            return "first";
        case PrioritySlot::Last:
            return "last";
        case PrioritySlot::Custom:
            return "custom";
        default:
            return "none";
    }
}

template <typename T>
bool number(std::string_view s, T& v) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    for (size_t start = 0;;) {
        const size_t at = s.find(sep, start);
        out.push_back(s.substr(start, at == std::string_view::npos ? at : at - start));
        if (at == std::string_view::npos) return out;
        start = at + 1;
    }
}

// A command name or cgroup path inside a word: '%', ',', space and the bytes outside printable
// ASCII as %XX.
void append_pct(std::string& out, std::string_view v) {
    for (const char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= ' ' || c >= 0x7f || c == '%' || c == ',')
            out += fmt::format("%{:02X}", c);
        else
            out += ch;
    }
}

bool unpct(std::string_view v, std::string& out) {
    out.clear();
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '%') {
            out += v[i];
            continue;
        }
        unsigned c = 0;
        if (i + 2 >= v.size() || !std::isxdigit(static_cast<unsigned char>(v[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(v[i + 2])))
            return false;
        std::from_chars(v.data() + i + 1, v.data() + i + 3, c, 16);
        out += static_cast<char>(c);
        i += 2;
    }
    return true;
}

// "key=value" words after the head, until `rule=` (the rest of the text).
bool words(std::string_view c, std::vector<std::pair<std::string_view, std::string_view>>& out) {
    if (c.substr(0, kHead.size()) != kHead) return false;
    c.remove_prefix(kHead.size());
    while (!c.empty()) {
        if (c.front() != ' ') return false;
        c.remove_prefix(1);
        const size_t eq = c.find('=');
        if (eq == std::string_view::npos) return false;
        const std::string_view key = c.substr(0, eq);
        c.remove_prefix(eq + 1);
        const size_t end = key == "rule" ? c.size() : std::min(c.find(' '), c.size());
        out.emplace_back(key, c.substr(0, end));
        c.remove_prefix(end);
    }
    return true;
}

}  // namespace

std::string section_comment(const CorrelatorOptions& opt) {
    return fmt::format("{} window_ms={} both_slots={} tap_egress={}", kHead,
                       opt.window_ns / 1'000'000, opt.both_slots ? 1 : 0, opt.tap_egress ? 1 : 0);
}

std::optional<CorrelatorOptions> parse_section_comment(std::string_view c) {
    std::vector<std::pair<std::string_view, std::string_view>> w;
    if (!words(c, w)) return std::nullopt;
    CorrelatorOptions opt;
    for (const auto& [k, v] : w) {
        uint64_t n = 0;
        if (!number(v, n)) return std::nullopt;
        if (k == "window_ms")
            opt.window_ns = n * 1'000'000;
        else if (k == "both_slots")
            opt.both_slots = n != 0;
        else if (k == "tap_egress")
            opt.tap_egress = n != 0;
    }
    return opt;
}

std::string annotation(const Observation& o, uint64_t done_ns) {
    std::string s = fmt::format("{} slot={} ifindex={}", kHead, slot_name(o.slot), o.ifindex);
    if (done_ns) s += fmt::format(" done={}", done_ns);
    if (o.partial) s += " partial=1";
    if (o.sock) {
        s += fmt::format(" socket={},{},{},", o.sock->egress ? "out" : "in", o.sock->family,
                         o.sock->proto);
        append_addr(s, o.sock->family, o.sock->addr);
        s += fmt::format(",{}", o.sock->port);
        if (const auto& p = o.sock->proc) {
            s += fmt::format(" proc={},{},", p->pid, p->uid);
            append_pct(s, p->comm);
            s += ',';
            append_pct(s, p->cgroup);
        }
    }
    if (o.nft) {
        const NftStep& n = *o.nft;
        s += fmt::format(" nft={},{},{},{},{},{},{}", n.family, n.table, n.chain, n.hook,
                         n.priority, n.handle, n.verdict);
        if (n.handle) s += " rule=" + n.rule;
    }
    return s;
}

bool apply_annotation(std::string_view a, Observation& o, uint64_t& done_ns) {
    std::vector<std::pair<std::string_view, std::string_view>> w;
    if (!words(a, w)) return false;
    Observation r = o;
    uint64_t done = 0;
    for (const auto& [k, v] : w) {
        if (k == "slot") {
            r.slot = v == "first"    ? PrioritySlot::First
                     : v == "last"   ? PrioritySlot::Last
                     : v == "custom" ? PrioritySlot::Custom
                                     : PrioritySlot::None;
        } else if (k == "ifindex") {
            if (!number(v, r.ifindex)) return false;
        } else if (k == "done") {
            if (!number(v, done)) return false;
        } else if (k == "partial") {
            r.partial = v == "1";
            if (r.partial) r.key = r.short_key;
        } else if (k == "socket") {
            const auto f = split(v, ',');
            SocketStep s;
            unsigned family = 0, proto = 0;
            if (f.size() != 5 || !number(f[1], family) || !number(f[2], proto) ||
                !number(f[4], s.port) || (family != 4 && family != 6))
                return false;
            s.egress = f[0] == "out";
            s.family = static_cast<uint8_t>(family);
            s.proto = static_cast<uint8_t>(proto);
            const std::string addr(f[3]);
            if (inet_pton(family == 4 ? AF_INET : AF_INET6, addr.c_str(), s.addr.data()) != 1)
                return false;
            r.sock = s;
        } else if (k == "proc") {
            const auto f = split(v, ',');
            SocketProc p;
            if (!r.sock || f.size() != 4 || !number(f[0], p.pid) || !number(f[1], p.uid) ||
                !unpct(f[2], p.comm) || !unpct(f[3], p.cgroup))
                return false;
            r.sock->proc = std::move(p);
        } else if (k == "nft") {
            const auto f = split(v, ',');
            NftStep n;
            if (f.size() != 7 || !number(f[4], n.priority) || !number(f[5], n.handle)) return false;
            n.family = f[0], n.table = f[1], n.chain = f[2], n.hook = f[3], n.verdict = f[6];
            r.nft = std::move(n);
        } else if (k == "rule") {
            if (!r.nft) return false;
            r.nft->rule = std::string(v);
        }
    }
    o = std::move(r);
    done_ns = done;
    return true;
}

TraceRecorder::TraceRecorder(const std::string& path) : path_(path) {
    OutputFile created(path_);  // written again by start(), from its first byte
    created.close();
}

void TraceRecorder::start(const CorrelatorOptions& opt) {
    SinkOptions so;
    so.path = path_;
    so.section_comment = section_comment(opt);
    sink_ = sink_format_by_name("pcapng").make(so);
}

TraceRecorder::~TraceRecorder() = default;

void TraceRecorder::add(const Observation& o) {
    PacketEvent ev;
    ev.ts_ns = o.ts_ns;
    ev.point = o.point;
    ev.slot = o.slot;
    ev.dir = o.dir;
    ev.verdict = o.verdict;
    ev.ifindex = o.ifindex;
    ev.ifname.assign(o.ifname);
    ev.netns = o.netns;
    ev.len = o.wire_len;
    ev.linktype = o.linktype;
    ev.bytes = o.bytes;
    ev.drop_reason = o.reason;
    ev.drop_location = o.location;
    annotation_ = annotation(o, done_ns_);
    ev.annotation = annotation_;
    done_ns_ = 0;
    sink_->write(ev);
    ++recorded_;
}

void TraceRecorder::finish() {
    if (!sink_) return;
    Ledger none;
    sink_->finish(none, recorded_);
}

}  // namespace hookdump::trace

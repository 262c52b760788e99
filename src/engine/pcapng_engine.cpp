#include "engine/pcapng_engine.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "capfile/pcapng_format.h"
#include "engine/file_engine.h"
#include "util/error.h"

namespace hookdump {
namespace {

// LINKTYPE_ values (what pcapng stores) as the DLT_ values pcap_compile takes: the same
// numbers but for raw IP (LINKTYPE_RAW 101 is DLT_RAW, 12 on Linux).
int dlt_of(uint16_t linktype) {
    return linktype == 101 ? 12 : linktype;
}

// The value of `key=` in `s` up to the next space (or the end); empty when absent.
std::string_view word(std::string_view s) {
    const size_t sp = s.find(' ');
    return sp == std::string_view::npos ? s : s.substr(0, sp);
}

// The fields a "hookdump fields=label,drop" section comment names; none without one.
RecordFields parse_fields_comment(const std::vector<std::string>& comments) {
    RecordFields f;
    for (std::string_view c : comments) {
        if (!c.starts_with(pcapng::kFieldsComment)) continue;
        c.remove_prefix(pcapng::kFieldsComment.size());
        while (!c.empty()) {
            const size_t comma = c.find(',');
            const std::string_view name = c.substr(0, comma);
            f.label |= name == "label";
            f.drop |= name == "drop";
            c.remove_prefix(comma == std::string_view::npos ? c.size() : comma + 1);
        }
    }
    return f;
}

}  // namespace

bool parse_hookdump_comment(std::string_view c, PacketEvent& ev) {
    constexpr std::string_view kHead = "hookdump point=";
    if (c.substr(0, kHead.size()) != kHead) return false;
    c.remove_prefix(kHead.size());
    std::string_view label = word(c);
    c.remove_prefix(label.size());
    PrioritySlot slot = PrioritySlot::None;
    if (const size_t colon = label.find(':'); colon != std::string_view::npos) {
        const std::string_view suffix = label.substr(colon + 1);
        slot = suffix == "last" ? PrioritySlot::Last : PrioritySlot::Custom;
        label = label.substr(0, colon);
    }
    const auto point = capture_point_from_string(label);
    ev.point = point.value_or(CapturePoint::Unknown);
    ev.slot =
        slot == PrioritySlot::None && is_netfilter_hook(ev.point) ? PrioritySlot::First : slot;
    // Then " verdict=V", " prefix=P" (which may hold spaces: up to the next key), " reason=R",
    // " location=L", in that order, each optional.
    auto take = [&](std::string_view key, bool to_next_key) -> std::string_view {
        if (c.substr(0, key.size()) != key) return {};
        c.remove_prefix(key.size());
        size_t n = c.size();
        if (!to_next_key) {
            n = word(c).size();
        } else {
            for (std::string_view next : {" reason=", " location="})
                if (const size_t at = c.find(next); at != std::string_view::npos && at < n) n = at;
        }
        const std::string_view v = c.substr(0, n);
        c.remove_prefix(n);
        return v;
    };
    const std::string_view verdict = take(" verdict=", false);
    ev.verdict = verdict == "accept" ? Verdict::Accept
                 : verdict == "drop" ? Verdict::Drop
                                     : Verdict::Unknown;
    ev.label = take(" prefix=", true);
    ev.drop_reason = take(" reason=", false);
    ev.drop_location = take(" location=", false);
    return true;
}

PcapngEngine::PcapngEngine(Fd fd, const std::string& path, const std::string& expression)
    : reader_(std::move(fd), path), path_(path), expression_(expression) {
    // A bad expression is found before anything runs: compiled for Ethernet here, and for
    // each link type the file holds as it comes.
    filter_for(1);
    ledger_.interfaces.emplace_back();
    // A malformed first block is run()'s error, as any later one: a runtime failure, not a
    // usage error.
    try {
        has_first_ = reader_.next(first_);
    } catch (const RuntimeError&) {
        first_error_ = std::current_exception();
    }
    fields_ = parse_fields_comment(reader_.section_comments());
}

PcapngEngine::~PcapngEngine() {
    for (auto& [_, prog] : filters_) pcap_freecode(&prog);
}

const bpf_program* PcapngEngine::filter_for(uint16_t linktype) {
    if (expression_.empty()) return nullptr;
    if (auto it = filters_.find(linktype); it != filters_.end()) return &it->second;
    pcap_t* dead =
        pcap_open_dead_with_tstamp_precision(dlt_of(linktype), 262144, PCAP_TSTAMP_PRECISION_NANO);
    if (!dead) throw RuntimeError("pcap_open_dead failed");
    bpf_program prog{};
    const int rc = pcap_compile(dead, &prog, expression_.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    const std::string err = rc != 0 ? pcap_geterr(dead) : "";
    pcap_close(dead);
    if (rc != 0) {
        if (filters_.empty()) throw UsageError("bad filter expression: " + err);
        throw RuntimeError("reading " + path_ +
                           ": the filter expression cannot apply to link type " +
                           std::to_string(linktype) + ": " + err);
    }
    return &filters_.emplace(linktype, prog).first->second;
}

void PcapngEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    auto& counters = ledger_.interfaces.front();
    PcapngPacket p;
    PacketEvent ev;
    auto next = [&] {
        if (first_error_) std::rethrow_exception(std::exchange(first_error_, nullptr));
        if (has_first_) {
            has_first_ = false;
            p = first_;
            return true;
        }
        return reader_.next(p);
    };
    while (!stop.load(std::memory_order_relaxed) && next()) {
        const PcapngInterface& i = reader_.interfaces()[p.interface];
        if (const bpf_program* f = filter_for(i.linktype)) {
            pcap_pkthdr h{};
            h.caplen = static_cast<uint32_t>(p.data.size());
            h.len = p.len;
            if (!pcap_offline_filter(f, &h, p.data.data())) continue;
        }
        ev = PacketEvent{};
        ev.ts_ns = p.ts_ns;
        ev.len = p.len < p.data.size() ? static_cast<uint32_t>(p.data.size()) : p.len;
        ev.linktype = i.linktype;
        ev.bytes = p.data;
        ev.ifname.assign(i.name);
        if (p.has_flags) {
            const uint32_t dir = p.flags & 3;
            ev.dir = dir == 1 ? Direction::In : dir == 2 ? Direction::Out : Direction::Unknown;
        }
        parse_hookdump_comment(p.comment, ev);
        ev.annotation = p.comment2;
        LinkType link{};
        if (link_type_from_dlt(i.linktype, link)) {
            ev.parsed = parse_packet(link, ev.bytes);
        } else {
            ev.parsed.issue = ParseIssue::UnsupportedLink;
        }
        ++counters.received;
        if (!handler.on_event(ev)) break;
    }
}

std::unique_ptr<Engine> open_capture_file(const std::string& path, const std::string& expression) {
    if (path != "-") {
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        uint32_t magic = 0;
        if (fd && ::pread(fd.get(), &magic, 4, 0) == 4 && magic == PcapngReader::kMagic) {
            try {
                return std::make_unique<PcapngEngine>(std::move(fd), path, expression);
            } catch (const UsageError&) {
                throw;
            } catch (const RuntimeError& e) {
                throw UsageError(e.what());  // names the file and what is wrong
            }
        }
    }
    return std::make_unique<FileEngine>(path, expression);
}

}  // namespace hookdump

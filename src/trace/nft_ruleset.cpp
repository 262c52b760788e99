#include "trace/nft_ruleset.h"

#include <fmt/format.h>

#include <cctype>
#include <sstream>

#include "packet/format.h"
#include "util/error.h"

namespace hookdump::trace {
namespace {

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    return w;
}

std::string prefix_text(const Prefix& p) {
    std::string s;
    append_addr(s, p.family, p.addr);
    const uint8_t full = p.family == 4 ? 32 : 128;
    if (p.len != full) s += fmt::format("/{}", p.len);
    return s;
}

std::string range_text(uint16_t lo, uint16_t hi) {
    return lo == hi ? fmt::format("{}", lo) : fmt::format("{}-{}", lo, hi);
}

}  // namespace

NftRuleset NftRuleset::parse(const std::string& listing) {
    NftRuleset rs;
    std::istringstream in(listing);
    std::string family, table, chain;
    int depth = 0;  // 1 inside a table, 2 inside a chain (or a set, flowtable: skipped)
    bool in_chain = false;
    for (std::string raw; std::getline(in, raw);) {
        std::string line = trim(raw);
        std::string comment;
        if (const auto hash = line.rfind(" # handle "); hash != std::string::npos) {
            comment = line.substr(hash + 10);
            line = trim(line.substr(0, hash));
        }
        if (line.empty()) continue;
        const auto w = words(line);
        if (depth == 0 && w.size() >= 3 && w[0] == "table") {
            family = w[1];
            table = w[2];
            rs.tables_.emplace_back(family, table);
        } else if (depth == 1 && w.size() >= 2 && w[0] == "chain") {
            chain = w[1];
            in_chain = true;
            rs.chains_[{family, table, chain}] = {};
        } else if (depth == 2 && in_chain && w.size() >= 6 && w[0] == "type" && w[2] == "hook") {
            auto& c = rs.chains_[{family, table, chain}];
            c.hook = w[3];
            // "priority -2147483648;" (numeric priorities are asked for)
            for (size_t i = 4; i + 1 < w.size(); ++i)
                if (w[i] == "priority") c.priority = static_cast<int32_t>(std::stol(w[i + 1]));
        } else if (depth == 2 && in_chain && !comment.empty() && line.back() != '{') {
            rs.rules_[{family, table, std::stoull(comment)}] = line;
        }
        for (char ch : line) {
            if (ch == '{') ++depth;
            if (ch == '}') --depth;
        }
        // An inline set ("{ 6, 17 }") opens and closes on its line: only lines that end
        // with '{' open a block.
        if (depth < 2) in_chain = false;
        if (depth < 0) depth = 0;
    }
    return rs;
}

const NftChain* NftRuleset::chain(const std::string& family, const std::string& table,
                                  const std::string& chain) const {
    auto it = chains_.find({family, table, chain});
    return it == chains_.end() ? nullptr : &it->second;
}

const std::string* NftRuleset::rule(const std::string& family, const std::string& table,
                                    uint64_t handle) const {
    auto it = rules_.find({family, table, handle});
    return it == rules_.end() ? nullptr : &it->second;
}

std::vector<std::tuple<std::string, std::string, int>> NftRuleset::trace_tables() const {
    std::vector<std::tuple<std::string, std::string, int>> out;
    const std::string_view prefix = kNftTablePrefix;
    for (const auto& [family, name] : tables_) {
        if (!name.starts_with(prefix) || name.size() == prefix.size()) continue;
        const std::string digits = name.substr(prefix.size());
        if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9)
            continue;
        out.emplace_back(family, name, std::stoi(digits));
    }
    return out;
}

std::string nft_hook_point(const std::string& hook) {
    if (hook == "prerouting") return "PRE_ROUTING";
    if (hook == "input") return "LOCAL_IN";
    if (hook == "forward") return "FORWARD";
    if (hook == "output") return "LOCAL_OUT";
    if (hook == "postrouting") return "POST_ROUTING";
    std::string up;
    for (char c : hook) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return up.empty() ? "?" : up;
}

std::string nft_verdict_name(uint32_t code) {
    switch (static_cast<int32_t>(code)) {
        case -1:
            return "continue";
        case -2:
            return "break";
        case -3:
            return "jump";
        case -4:
            return "goto";
        case -5:
            return "return";
        default:
            break;
    }
    switch (code & 0xffu) {  // NF_ verdicts; the queue number is in the upper bits
        case 0:
            return "drop";
        case 1:
            return "accept";
        case 2:
            return "stolen";
        case 3:
            return "queue";
        case 4:
            return "repeat";
        default:
            return fmt::format("verdict {}", static_cast<int32_t>(code));
    }
}

std::string nft_match(const Rule& r) {
    std::string m;
    auto add = [&](const std::string& s) {
        if (!m.empty()) m += ' ';
        m += s;
    };
    const uint8_t family = r.family ? r.family : r.src ? r.src->family : r.dst ? r.dst->family : 0;
    const char* ip = family == 6 ? "ip6" : "ip";
    if (family && !r.src && !r.dst)
        add(fmt::format("meta nfproto {}", family == 6 ? "ipv6" : "ipv4"));
    if (r.src) add(fmt::format("{} saddr {}", ip, prefix_text(*r.src)));
    if (r.dst) add(fmt::format("{} daddr {}", ip, prefix_text(*r.dst)));
    const bool ports =
        r.sport_min != 0 || r.sport_max != 0xffff || r.dport_min != 0 || r.dport_max != 0xffff;
    if (r.proto)
        add(fmt::format("meta l4proto {}", *r.proto));
    else if (ports)
        add("meta l4proto { 6, 17, 132, 136 }");  // the protocols with ports (tcp, udp, sctp,
                                                  // udplite)
    if (r.sport_min != 0 || r.sport_max != 0xffff)
        add("th sport " + range_text(r.sport_min, r.sport_max));
    if (r.dport_min != 0 || r.dport_max != 0xffff)
        add("th dport " + range_text(r.dport_min, r.dport_max));
    return m;
}

std::string nft_trace_table_name(int pid) {
    return fmt::format("{}{}", kNftTablePrefix, pid);
}

std::string nft_trace_table_commands(int pid, const std::string& expression, std::string& note) {
    note.clear();
    std::vector<std::string> matches;
    if (!expression.empty()) {
        try {
            for (const auto& r : rules_from_expression(expression, Rule{})) {
                if (r.matches_everything()) {
                    matches.clear();
                    break;
                }
                matches.push_back(nft_match(r));
            }
        } catch (const UsageError& e) {
            matches.clear();
            note = fmt::format(
                "nft: every packet is marked for tracing ({}); the expression still selects the "
                "paths",
                e.what());
        }
    }
    if (matches.empty()) matches.emplace_back();
    const std::string table = nft_trace_table_name(pid);
    std::string cmds = fmt::format("add table inet {}\n", table);
    for (const auto& [chain, hook] : {std::pair{"pre", "prerouting"}, {"out", "output"}}) {
        cmds += fmt::format(
            "add chain inet {} {} {{ type filter hook {} priority {}; policy accept; }}\n", table,
            chain, hook, kNftMarkPriority);
        for (const auto& m : matches)
            cmds += fmt::format("add rule inet {} {} {}{}meta nftrace set 1\n", table, chain, m,
                                m.empty() ? "" : " ");
    }
    return cmds;
}

}  // namespace hookdump::trace

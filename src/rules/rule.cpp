#include "rules/rule.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <sstream>
#include <tuple>

#include "packet/format.h"
#include "packet/parse.h"
#include "util/error.h"

namespace hookdump {

Prefix parse_prefix(const std::string& text) {
    Prefix p;
    const size_t slash = text.find('/');
    const std::string addr = text.substr(0, slash);
    if (inet_pton(AF_INET, addr.c_str(), p.addr.data()) == 1) {
        p.family = 4;
        p.len = 32;
    } else if (inet_pton(AF_INET6, addr.c_str(), p.addr.data()) == 1) {
        p.family = 6;
        p.len = 128;
    } else {
        throw UsageError("not an IPv4 or IPv6 address: '" + text + "'");
    }
    if (slash != std::string::npos) {
        const std::string len = text.substr(slash + 1);
        char* end = nullptr;
        const long v = std::strtol(len.c_str(), &end, 10);
        if (len.empty() || *end || v < 0 || v > p.len)
            throw UsageError("bad prefix length in '" + text + "'");
        p.len = static_cast<uint8_t>(v);
    }
    return p;
}

uint8_t family_from_af(unsigned af) {
    return af == AF_INET ? 4 : af == AF_INET6 ? 6 : 0;
}
uint8_t af_from_family(uint8_t family) {
    return family == 4 ? AF_INET : family == 6 ? AF_INET6 : 0;
}

static const char* const kHookNames[] = {"prerouting", "input", "forward", "output", "postrouting"};

bool Rule::matches_everything() const {
    return !family && !src && !dst && !proto && sport_min == 0 && sport_max == 0xffff &&
           dport_min == 0 && dport_max == 0xffff;
}

bool Rule::matches(const Parsed& p, unsigned hook) const {
    if (hook >= 32 || !(hooks & (1u << hook))) return false;
    if (!p.has_ip() || (family && family != p.family)) return false;
    auto in = [&](const std::optional<Prefix>& pfx, const std::array<uint8_t, 16>& a) {
        if (!pfx) return true;
        if (pfx->family != p.family) return false;
        const unsigned bytes = pfx->len / 8u, bits = pfx->len % 8u;
        if (std::memcmp(a.data(), pfx->addr.data(), bytes) != 0) return false;
        return bits == 0 || ((a[bytes] ^ pfx->addr[bytes]) & (0xff << (8 - bits)) & 0xff) == 0;
    };
    if (!in(src, p.src) || !in(dst, p.dst)) return false;
    if (proto && (!p.has_proto() || *proto != p.proto)) return false;
    auto ports = [&](uint16_t lo, uint16_t hi, uint16_t port) {
        return (lo == 0 && hi == 0xffff) || (p.has_ports() && port >= lo && port <= hi);
    };
    return ports(sport_min, sport_max, p.sport) && ports(dport_min, dport_max, p.dport);
}

std::string Rule::describe() const {
    std::ostringstream o;
    o << "id " << id;
    if (family) o << " ip" << (family == 6 ? "6" : "");
    auto pfx = [](const Prefix& p) {
        return addr_to_string(p.family, p.addr) + "/" + std::to_string(p.len);
    };
    if (src) o << " src " << pfx(*src);
    if (dst) o << " dst " << pfx(*dst);
    if (proto) o << " proto " << int(*proto);
    auto range = [&](const char* what, uint16_t lo, uint16_t hi) {
        if (lo == 0 && hi == 0xffff) return;
        o << " " << what << " " << lo;
        if (hi != lo) o << "-" << hi;
    };
    range("sport", sport_min, sport_max);
    range("dport", dport_min, dport_max);
    if (iif) o << " iif " << iif;
    if (oif) o << " oif " << oif;
    o << " hooks ";
    bool first = true;
    for (int h = 0; h < 5; ++h)
        if (hooks & (1u << h)) {
            o << (first ? "" : ",") << kHookNames[h];
            first = false;
        }
    if (slots & 4)
        o << " priority " << priority;
    else
        o << " priority " << (slots == 3 ? "both" : slots == 2 ? "last" : "first");
    if (snaplen) o << " snaplen " << snaplen;
    o << " hits " << hits;
    // Who removes it: its capture session when that ends, or only 'rules del/flush'.
    if (owner)
        o << " owner session " << owner;
    else
        o << " owner none";
    return o.str();
}

uint32_t parse_hooks(const std::string& list) {
    uint32_t mask = 0;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        std::string k;
        for (char c : item)
            if (c != '-' && c != '_')
                k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        if (k == "all")
            mask |= 0x1f;
        else if (k == "prerouting")
            mask |= 1u << 0;
        else if (k == "input" || k == "localin")
            mask |= 1u << 1;
        else if (k == "forward")
            mask |= 1u << 2;
        else if (k == "output" || k == "localout")
            mask |= 1u << 3;
        else if (k == "postrouting")
            mask |= 1u << 4;
        else
            throw UsageError("unknown hook '" + item +
                             "' (prerouting, input, forward, output, postrouting, all)");
    }
    if (!mask) throw UsageError("--hooks needs at least one hook");
    return mask;
}

uint32_t parse_slots(const std::string& which, int32_t* priority) {
    if (which == "first") return 1;
    if (which == "last") return 2;
    if (which == "both") return 3;
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(which.c_str(), &end, 10);
    if (which.empty() || *end || errno || v <= INT32_MIN || v > INT32_MAX)
        throw UsageError("--priority takes first, last, both or a netfilter priority, not '" +
                         which + "'");
    *priority = static_cast<int32_t>(v);
    return 4;
}

bool RuleOptions::has_conditions() const {
    return !src.empty() || !dst.empty() || !sport.empty() || !dport.empty() || !proto.empty();
}

namespace {

std::pair<uint16_t, uint16_t> parse_port_range(const std::string& s, const char* what) {
    auto num = [&](const std::string& t) {
        char* end = nullptr;
        const long v = std::strtol(t.c_str(), &end, 10);
        if (t.empty() || *end || v < 0 || v > 65535)
            throw UsageError(std::string(what) + " takes PORT or LOW-HIGH, not '" + s + "'");
        return static_cast<uint16_t>(v);
    };
    const size_t dash = s.find('-');
    if (dash == std::string::npos) return {num(s), num(s)};
    return {num(s.substr(0, dash)), num(s.substr(dash + 1))};
}

}  // namespace

std::vector<Rule> rules_from_options(const RuleOptions& o, const std::string& expression) {
    Rule base;
    if (!o.src.empty()) {
        base.src = parse_prefix(o.src);
        base.family = base.src->family;
    }
    if (!o.dst.empty()) {
        base.dst = parse_prefix(o.dst);
        if (base.family && base.family != base.dst->family)
            throw UsageError("--src and --dst are of different families");
        base.family = base.dst->family;
    }
    if (!o.sport.empty())
        std::tie(base.sport_min, base.sport_max) = parse_port_range(o.sport, "--sport");
    if (!o.dport.empty())
        std::tie(base.dport_min, base.dport_max) = parse_port_range(o.dport, "--dport");
    if (!o.proto.empty()) {
        static const std::pair<const char*, uint8_t> kNames[] = {
            {"tcp", 6},    {"udp", 17},      {"icmp", 1}, {"icmp6", 58},
            {"sctp", 132}, {"udplite", 136}, {"dccp", 33}};
        bool found = false;
        for (auto [n, v] : kNames)
            if (o.proto == n) {
                base.proto = v;
                found = true;
            }
        if (!found) {
            char* end = nullptr;
            const long v = std::strtol(o.proto.c_str(), &end, 10);
            if (*end || v < 0 || v > 255)
                throw UsageError("--proto takes a name or a number 0-255, not '" + o.proto + "'");
            base.proto = static_cast<uint8_t>(v);
        }
    }
    base.hooks = parse_hooks(o.hooks);
    base.slots = parse_slots(o.priority, &base.priority);
    base.snaplen = o.snaplen;
    return rules_from_expression(expression, base);
}

}  // namespace hookdump

#include "engine/kmod_rules.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstring>
#include <cerrno>
#include <climits>
#include <sstream>

#include "packet/format.h"
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
        if (len.empty() || *end || v < 0 || v > p.len) throw UsageError("bad prefix length in '" + text + "'");
        p.len = static_cast<uint8_t>(v);
    }
    return p;
}

static const char* const kHookNames[] = {"prerouting", "input", "forward", "output", "postrouting"};

std::string KmodRule::describe() const {
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
            if (c != '-' && c != '_') k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        if (k == "all") mask |= 0x1f;
        else if (k == "prerouting") mask |= 1u << 0;
        else if (k == "input" || k == "localin") mask |= 1u << 1;
        else if (k == "forward") mask |= 1u << 2;
        else if (k == "output" || k == "localout") mask |= 1u << 3;
        else if (k == "postrouting") mask |= 1u << 4;
        else throw UsageError("unknown hook '" + item + "' (prerouting, input, forward, output, postrouting, all)");
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
        throw UsageError("--priority takes first, last, both or a netfilter priority, not '" + which + "'");
    *priority = static_cast<int32_t>(v);
    return 4;
}

namespace {

// Recursive descent over the subset, producing alternatives (a disjunction of rules).
class ExprParser {
public:
    ExprParser(const std::string& s, const KmodRule& base) : base_(base) {
        std::string cur;
        for (char c : s) {
            if (std::isspace(static_cast<unsigned char>(c)) || c == '(' || c == ')') {
                if (!cur.empty()) toks_.push_back(cur);
                cur.clear();
                if (c == '(' || c == ')') toks_.push_back(std::string(1, c));
            } else {
                cur.push_back(c);
            }
        }
        if (!cur.empty()) toks_.push_back(cur);
    }

    std::vector<KmodRule> parse() {
        if (toks_.empty()) return {base_};
        auto r = parse_or();
        if (pos_ != toks_.size()) fail("unexpected '" + toks_[pos_] + "'");
        return r;
    }

private:
    using Alts = std::vector<KmodRule>;

    [[noreturn]] void fail(const std::string& why) {
        throw UsageError("cannot turn the expression into module rules: " + why);
    }
    bool peek(const char* a, const char* b = nullptr) const {
        return pos_ < toks_.size() && (toks_[pos_] == a || (b && toks_[pos_] == b));
    }
    std::string next(const char* what) {
        if (pos_ >= toks_.size()) fail(std::string("expected ") + what + " at the end");
        return toks_[pos_++];
    }

    Alts parse_or() {
        Alts a = parse_and();
        while (peek("or", "||")) {
            ++pos_;
            Alts b = parse_and();
            a.insert(a.end(), b.begin(), b.end());
            if (a.size() > 64) fail("more than 64 rules");
        }
        return a;
    }
    Alts parse_and() {
        Alts a = parse_term();
        while (peek("and", "&&") || (pos_ < toks_.size() && !peek("or", "||") && !peek(")"))) {
            if (peek("and", "&&")) ++pos_;
            Alts b = parse_term();
            Alts out;
            for (const auto& x : a)
                for (const auto& y : b)
                    if (auto m = merge(x, y)) out.push_back(*m);
            if (out.size() > 64) fail("more than 64 rules");
            if (out.empty()) fail("the conditions contradict each other");
            a = std::move(out);
        }
        return a;
    }

    // Combines two rules' conditions (and); nullopt when they contradict.
    std::optional<KmodRule> merge(const KmodRule& x, const KmodRule& y) {
        KmodRule r = x;
        if (y.family) {
            if (r.family && r.family != y.family) return std::nullopt;
            r.family = y.family;
        }
        // One prefix per side: both must hold, so keep the narrower when one contains the
        // other; disjoint prefixes contradict.
        auto contains = [](const Prefix& wide, const Prefix& narrow) {
            if (wide.family != narrow.family || wide.len > narrow.len) return false;
            const int bytes = wide.len / 8, bits = wide.len % 8;
            if (std::memcmp(wide.addr.data(), narrow.addr.data(), bytes) != 0) return false;
            const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
            return bits == 0 || ((wide.addr[bytes] ^ narrow.addr[bytes]) & mask) == 0;
        };
        auto take = [&](std::optional<Prefix>& into, const std::optional<Prefix>& from) {
            if (!from) return true;
            if (!into || contains(*into, *from)) {
                into = from;
                return true;
            }
            return contains(*from, *into);
        };
        if (!take(r.src, y.src) || !take(r.dst, y.dst)) return std::nullopt;
        if (y.proto) {
            if (r.proto && *r.proto != *y.proto) return std::nullopt;
            r.proto = y.proto;
        }
        auto range = [&](uint16_t& lo, uint16_t& hi, uint16_t ylo, uint16_t yhi) {
            lo = std::max(lo, ylo);
            hi = std::min(hi, yhi);
            return lo <= hi;
        };
        if (!range(r.sport_min, r.sport_max, y.sport_min, y.sport_max)) return std::nullopt;
        if (!range(r.dport_min, r.dport_max, y.dport_min, y.dport_max)) return std::nullopt;
        return r;
    }

    KmodRule with_family(KmodRule r, const Prefix& p) {
        if (r.family && r.family != p.family) fail("address family conflicts with the rule's");
        r.family = p.family;
        return r;
    }

    std::pair<uint16_t, uint16_t> port_range(const std::string& t, bool range) {
        auto num = [&](const std::string& s) {
            char* end = nullptr;
            const long v = std::strtol(s.c_str(), &end, 10);
            if (s.empty() || *end || v < 0 || v > 65535) fail("bad port '" + s + "' (numbers only)");
            return static_cast<uint16_t>(v);
        };
        if (!range) return {num(t), num(t)};
        const size_t dash = t.find('-');
        if (dash == std::string::npos) fail("portrange needs LOW-HIGH");
        return {num(t.substr(0, dash)), num(t.substr(dash + 1))};
    }

    Alts parse_term() {
        const std::string t = next("a condition");
        if (t == "(") {
            Alts a = parse_or();
            if (next("')'") != ")") fail("missing ')'");
            return a;
        }
        if (t == "not" || t == "!") fail("'not' has no module rule (rules only select)");
        KmodRule r = base_;
        if (t == "ip") { r.family = 4; return {r}; }
        if (t == "ip6") { r.family = 6; return {r}; }
        static const std::pair<const char*, uint8_t> kProtos[] = {
            {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmp6", 58}, {"sctp", 132}};
        for (auto [name, num] : kProtos)
            if (t == name) {
                r.proto = num;
                if (num == 1) r.family = 4;
                if (num == 58) r.family = 6;
                return {r};
            }
        if (t == "proto") {
            const std::string v = next("a protocol number");
            char* end = nullptr;
            const long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || n < 0 || n > 255) fail("proto takes a number, not '" + v + "'");
            r.proto = static_cast<uint8_t>(n);
            return {r};
        }
        std::string dir;
        std::string kind = t;
        if (t == "src" || t == "dst") {
            dir = t;
            kind = peek("host") || peek("net") || peek("port") || peek("portrange") ? next("") : "host";
        }
        if (kind == "host" || kind == "net") {
            const Prefix p = parse_prefix(next("an address"));
            if (kind == "host" && p.len != (p.family == 4 ? 32 : 128)) fail("'host' takes an address, use 'net'");
            KmodRule a = with_family(r, p), b = a;
            a.src = p;
            b.dst = p;
            if (dir == "src") return {a};
            if (dir == "dst") return {b};
            return {a, b};
        }
        if (kind == "port" || kind == "portrange") {
            auto [lo, hi] = port_range(next("a port"), kind == "portrange");
            KmodRule a = r, b = r;
            a.sport_min = lo, a.sport_max = hi;
            b.dport_min = lo, b.dport_max = hi;
            if (dir == "src") return {a};
            if (dir == "dst") return {b};
            return {a, b};
        }
        if (!dir.empty()) fail("'" + dir + " " + kind + "' is not supported");
        fail("'" + t + "' is not in the subset the module understands "
             "(host, net, port, portrange, src/dst, tcp, udp, icmp, icmp6, sctp, proto N, ip, ip6, and, or)");
    }

    KmodRule base_;
    std::vector<std::string> toks_;
    size_t pos_ = 0;
};

}  // namespace

std::vector<KmodRule> rules_from_expression(const std::string& expr, const KmodRule& base) {
    return ExprParser(expr, base).parse();
}

}  // namespace hookdump

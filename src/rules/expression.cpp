// The pcap-filter subset that turns into rules (rule.h).
#include <cctype>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "hookdump.h"
#include "rules/rule.h"
#include "util/error.h"

namespace hookdump {

namespace {

// Recursive descent over the subset, producing alternatives (a disjunction of rules).
class ExprParser {
  public:
    ExprParser(const std::string& s, const Rule& base) : base_(base) {
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

    std::vector<Rule> parse() {
        if (toks_.empty()) return {base_};
        auto r = parse_or();
        if (pos_ != toks_.size()) fail("unexpected '" + toks_[pos_] + "'");
        return r;
    }

  private:
    using Alts = std::vector<Rule>;

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
            if (a.size() > HOOKDUMP_MAX_RULES)
                fail("more than " + std::to_string(HOOKDUMP_MAX_RULES) + " rules");
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
            if (out.size() > HOOKDUMP_MAX_RULES)
                fail("more than " + std::to_string(HOOKDUMP_MAX_RULES) + " rules");
            if (out.empty()) fail("the conditions contradict each other");
            a = std::move(out);
        }
        return a;
    }

    // Combines two rules' conditions (and); nullopt when they contradict.
    std::optional<Rule> merge(const Rule& x, const Rule& y) {
        Rule r = x;
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

    Rule with_family(Rule r, const Prefix& p) {
        if (r.family && r.family != p.family) fail("address family conflicts with the rule's");
        r.family = p.family;
        return r;
    }

    std::pair<uint16_t, uint16_t> port_range(const std::string& t, bool range) {
        auto num = [&](const std::string& s) {
            char* end = nullptr;
            const long v = std::strtol(s.c_str(), &end, 10);
            if (s.empty() || *end || v < 0 || v > 65535)
                fail("bad port '" + s + "' (numbers only)");
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
        Rule r = base_;
        if (t == "ip") {
            r.family = 4;
            return {r};
        }
        if (t == "ip6") {
            r.family = 6;
            return {r};
        }
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
            if (v.empty() || *end || n < 0 || n > 255)
                fail("proto takes a number, not '" + v + "'");
            r.proto = static_cast<uint8_t>(n);
            return {r};
        }
        std::string dir;
        std::string kind = t;
        if (t == "src" || t == "dst") {
            dir = t;
            kind = peek("host") || peek("net") || peek("port") || peek("portrange") ? next("")
                                                                                    : "host";
        }
        if (kind == "host" || kind == "net") {
            const Prefix p = parse_prefix(next("an address"));
            if (kind == "host" && p.len != (p.family == 4 ? 32 : 128))
                fail("'host' takes an address, use 'net'");
            Rule a = with_family(r, p), b = a;
            a.src = p;
            b.dst = p;
            if (dir == "src") return {a};
            if (dir == "dst") return {b};
            return {a, b};
        }
        if (kind == "port" || kind == "portrange") {
            auto [lo, hi] = port_range(next("a port"), kind == "portrange");
            Rule a = r, b = r;
            a.sport_min = lo, a.sport_max = hi;
            b.dport_min = lo, b.dport_max = hi;
            if (dir == "src") return {a};
            if (dir == "dst") return {b};
            return {a, b};
        }
        if (!dir.empty()) fail("'" + dir + " " + kind + "' is not supported");
        fail("'" + t +
             "' is not in the subset the module understands "
             "(host, net, port, portrange, src/dst, tcp, udp, icmp, icmp6, sctp, proto N, ip, ip6, "
             "and, or)");
    }

    Rule base_;
    std::vector<std::string> toks_;
    size_t pos_ = 0;
};

}  // namespace

std::vector<Rule> rules_from_expression(const std::string& expr, const Rule& base) {
    return ExprParser(expr, base).parse();
}

}  // namespace hookdump

#include "rules/bpf_rules.h"

#include <fmt/format.h>

#include <cstring>

#include "util/error.h"

namespace hookdump {
namespace {

// The prefix as address & mask words, network order.
void set_prefix(const Prefix& p, uint32_t (&addr)[4], uint32_t (&mask)[4]) {
    uint8_t a[16] = {}, m[16] = {};
    for (int bit = 0; bit < p.len && bit < 128; ++bit)
        m[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    for (int i = 0; i < 16; ++i) a[i] = p.addr[static_cast<size_t>(i)] & m[i];
    std::memcpy(addr, a, 16);
    std::memcpy(mask, m, 16);
}

hd_rule to_bpf_rule(const Rule& k) {
    hd_rule r{};
    r.family = k.family;
    // A prefix says its family (the model sets both; a rule with --src and --dst of two
    // families would match nothing).
    for (const std::optional<Prefix>* p : {&k.src, &k.dst})
        if (*p) r.family = r.family && r.family != (*p)->family ? 0xff : (*p)->family;
    if (k.src) {
        r.flags |= HD_RULE_SRC;
        set_prefix(*k.src, r.src, r.src_mask);
    }
    if (k.dst) {
        r.flags |= HD_RULE_DST;
        set_prefix(*k.dst, r.dst, r.dst_mask);
    }
    if (k.proto) {
        r.flags |= HD_RULE_PROTO;
        r.proto = *k.proto;
    }
    if (k.sport_min != 0 || k.sport_max != 0xffff) {
        r.flags |= HD_RULE_SPORT;
        r.sport_min = k.sport_min;
        r.sport_max = k.sport_max;
    }
    if (k.dport_min != 0 || k.dport_max != 0xffff) {
        r.flags |= HD_RULE_DPORT;
        r.dport_min = k.dport_min;
        r.dport_max = k.dport_max;
    }
    return r;
}

}  // namespace

std::vector<hd_rule> to_bpf_rules(const std::vector<Rule>& rules, size_t max, const char* program) {
    std::vector<hd_rule> out;
    for (const Rule& k : rules) {
        if (k.matches_everything()) return {};
        out.push_back(to_bpf_rule(k));
    }
    if (out.size() > max)
        throw UsageError(
            fmt::format("the expression and options make {} rules; at most {} fit in {}",
                        out.size(), max, program));
    return out;
}

}  // namespace hookdump

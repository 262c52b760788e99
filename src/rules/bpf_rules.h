// The rule model's rules as the BPF programs hold them (struct hd_rule, bpf/hookdump_rule.h):
// the one converter, for the tc/XDP programs and the drop program alike.
#pragma once

#include <cstddef>
#include <vector>

#include "hookdump_rule.h"
#include "rules/rule.h"

namespace hookdump {

// `rules` for a program that holds at most `max` of them (`program` names it in the error).
// Empty when one of them matches every packet: no rule is needed then. Throws UsageError when
// there are more than `max`.
std::vector<hd_rule> to_bpf_rules(const std::vector<Rule>& rules, size_t max, const char* program);

}  // namespace hookdump

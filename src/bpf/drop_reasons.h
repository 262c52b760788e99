// The running kernel's names for skb drop reasons and what its kfree_skb tracepoint passes,
// read from its BTF (enum skb_drop_reason, btf_trace_kfree_skb): the numbers differ between
// kernels (NETFILTER_DROP is 7 on 6.1, 12 on 6.18), so nothing is compiled in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

struct btf;

namespace hookdump {

class DropReasons {
  public:
    DropReasons() = default;
    // From a BTF (the kernel's, or a synthetic one in tests). A BTF without the enum gives
    // an empty table (a kernel before 5.17).
    explicit DropReasons(const struct btf* btf);

    // "NETFILTER_DROP" (SKB_DROP_REASON_ and SKB_ stripped); "unknown" for
    // HOOKDUMP_DROP_REASON_UNKNOWN; "0x10002" for a value the enum does not name (a
    // subsystem's reason, 6.5+).
    std::string_view name(uint32_t value) const;
    // The value of a name as name() prints it ("NOT_SPECIFIED"), when the kernel has it.
    std::optional<uint32_t> value(std::string_view name) const;
    bool empty() const { return names_.empty(); }

  private:
    std::unordered_map<uint32_t, std::string> names_;
    mutable std::unordered_map<uint32_t, std::string> other_;  // printed values, kept for views
};

// Arguments of the kfree_skb tracepoint in this BTF (the context pointer not counted): 2
// before 5.17 (skb, location), 3 with the reason, 4 with rx_sk (6.11+). 0 when not found.
int kfree_skb_tracepoint_args(const struct btf* btf);

}  // namespace hookdump

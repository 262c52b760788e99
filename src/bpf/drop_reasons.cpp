#include "bpf/drop_reasons.h"

#include <bpf/btf.h>
#include <fmt/format.h>

#include "hookdump_drop.h"

namespace hookdump {
namespace {

std::string short_name(std::string_view n) {
    for (std::string_view prefix : {"SKB_DROP_REASON_", "SKB_"})
        if (n.starts_with(prefix)) return std::string(n.substr(prefix.size()));
    return std::string(n);
}

}  // namespace

DropReasons::DropReasons(const struct btf* b) {
    if (!b) return;
    const __s32 id = btf__find_by_name_kind(b, "skb_drop_reason", BTF_KIND_ENUM);
    if (id > 0) {
        const btf_type* t = btf__type_by_id(b, id);
        const struct btf_enum* e = btf_enum(t);
        for (int i = 0; i < btf_vlen(t); ++i)
            names_.emplace(static_cast<uint32_t>(e[i].val),
                           short_name(btf__name_by_offset(b, e[i].name_off)));
        return;
    }
    const __s32 id64 = btf__find_by_name_kind(b, "skb_drop_reason", BTF_KIND_ENUM64);
    if (id64 > 0) {
        const btf_type* t = btf__type_by_id(b, id64);
        const struct btf_enum64* e = btf_enum64(t);
        for (int i = 0; i < btf_vlen(t); ++i)
            names_.emplace(static_cast<uint32_t>(btf_enum64_value(&e[i])),
                           short_name(btf__name_by_offset(b, e[i].name_off)));
    }
}

std::string_view DropReasons::name(uint32_t value) const {
    if (value == HOOKDUMP_DROP_REASON_UNKNOWN) return "unknown";
    if (auto it = names_.find(value); it != names_.end()) return it->second;
    auto [it, fresh] = other_.try_emplace(value);
    if (fresh) it->second = fmt::format("{:#x}", value);
    return it->second;
}

std::optional<uint32_t> DropReasons::value(std::string_view n) const {
    for (const auto& [v, name] : names_)
        if (name == n) return v;
    return std::nullopt;
}

int kfree_skb_tracepoint_args(const struct btf* b) {
    if (!b) return 0;
    const __s32 id = btf__find_by_name_kind(b, "btf_trace_kfree_skb", BTF_KIND_TYPEDEF);
    if (id <= 0) return 0;
    const btf_type* t = btf__type_by_id(b, btf__type_by_id(b, id)->type);  // pointer
    if (!t || !btf_is_ptr(t)) return 0;
    t = btf__type_by_id(b, t->type);
    if (!t || !btf_is_func_proto(t) || btf_vlen(t) < 1) return 0;
    return btf_vlen(t) - 1;  // the first is the tracepoint's context (void *)
}

}  // namespace hookdump

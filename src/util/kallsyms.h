// Kernel addresses to "function+0xoff", from /proc/kallsyms: text symbols sorted by address,
// binary search for the nearest one below.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hookdump {

class Kallsyms {
  public:
    Kallsyms() = default;
    // The text of /proc/kallsyms ("ffffffff81000000 T _stext", module symbols end in
    // "\t[module]"). Only text symbols (t, T, w, W) are kept.
    static Kallsyms parse(std::string_view text);
    // /proc/kallsyms itself; empty when unreadable. All-zero addresses (kptr_restrict, no
    // CAP_SYSLOG) give an empty table too.
    static Kallsyms load(const std::string& path = "/proc/kallsyms");

    // "nf_hook_slow+0x9f", or "0xffffffffc0123456" when no symbol covers the address (none
    // below it, or further than kMaxOffset past the nearest one).
    std::string symbolize(uint64_t addr) const;
    // False when the address is not covered (symbolize() would print the bare address).
    bool covers(uint64_t addr) const;
    size_t size() const { return syms_.size(); }

    // Beyond this, the nearest symbol is not taken to contain the address (kallsyms has no
    // sizes; the last symbol of a module would otherwise swallow everything after it).
    static constexpr uint64_t kMaxOffset = 1 << 20;

  private:
    struct Sym {
        uint64_t addr;
        std::string name;
    };
    const Sym* find(uint64_t addr) const;
    std::vector<Sym> syms_;
};

}  // namespace hookdump

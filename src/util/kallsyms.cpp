#include "util/kallsyms.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace hookdump {

Kallsyms Kallsyms::parse(std::string_view text) {
    Kallsyms k;
    while (!text.empty()) {
        const size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        // ADDR TYPE NAME[\t[MODULE]]
        const size_t sp1 = line.find(' ');
        if (sp1 == std::string_view::npos || sp1 + 3 > line.size() || line[sp1 + 2] != ' ')
            continue;
        const char type = line[sp1 + 1];
        if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
        uint64_t addr = 0;
        const auto [ptr, ec] = std::from_chars(line.data(), line.data() + sp1, addr, 16);
        if (ec != std::errc{} || ptr != line.data() + sp1 || addr == 0) continue;
        std::string_view name = line.substr(sp1 + 3);
        name = name.substr(0, name.find_first_of("\t "));
        if (name.empty()) continue;
        k.syms_.push_back({addr, std::string(name)});
    }
    std::stable_sort(k.syms_.begin(), k.syms_.end(),
                     [](const Sym& a, const Sym& b) { return a.addr < b.addr; });
    return k;
}

Kallsyms Kallsyms::load(const std::string& path) {
    std::ifstream in(path);
    if (!in) return {};
    std::ostringstream s;
    s << in.rdbuf();
    return parse(s.str());
}

const Kallsyms::Sym* Kallsyms::find(uint64_t addr) const {
    auto it = std::upper_bound(syms_.begin(), syms_.end(), addr,
                               [](uint64_t a, const Sym& s) { return a < s.addr; });
    if (it == syms_.begin()) return nullptr;
    --it;
    if (addr - it->addr > kMaxOffset) return nullptr;
    return &*it;
}

bool Kallsyms::covers(uint64_t addr) const {
    return find(addr) != nullptr;
}

std::string Kallsyms::symbolize(uint64_t addr) const {
    const Sym* s = find(addr);
    if (!s) return fmt::format("{:#x}", addr);
    return fmt::format("{}+{:#x}", s->name, addr - s->addr);
}

}  // namespace hookdump

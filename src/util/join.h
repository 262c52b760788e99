// Words joined by single spaces: an expression given as several command-line words.
#pragma once

#include <string>
#include <vector>

namespace hookdump {

inline std::string join(const std::vector<std::string>& words) {
    std::string s;
    for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
    return s;
}

}  // namespace hookdump

// The live engines' names, in one place: `--engine NAME`, Engine::name(), `--engine auto`'s
// plans and `trace`'s points use these (src/cli/engine_table.cpp has one row for each).
#pragma once

#include <string_view>

namespace hookdump::engine_name {

inline constexpr std::string_view kAfPacket = "afpacket";
inline constexpr std::string_view kKmod = "kmod";
inline constexpr std::string_view kNflog = "nflog";
inline constexpr std::string_view kTc = "tc";
inline constexpr std::string_view kXdp = "xdp";
inline constexpr std::string_view kDrop = "drop";

}  // namespace hookdump::engine_name

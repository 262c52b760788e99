// Shared by the fuzz targets and the seed generator.
#pragma once

#include <cstddef>
#include <cstdint>

#include "packet/parse.h"

namespace hookdump::fuzz {

// fuzz_parse: the input's first byte modulo this table's size picks the link type; the rest
// of the byte (>> 3) varies the event's metadata (capture point, direction, verdict, ifname).
inline constexpr LinkType kLinks[] = {
    LinkType::Null,     LinkType::Ethernet, LinkType::Raw,  LinkType::Loop,
    LinkType::LinuxSll, LinkType::Ipv4,     LinkType::Ipv6, LinkType::LinuxSll2,
};
inline constexpr size_t kLinkCount = sizeof kLinks / sizeof kLinks[0];
static_assert(kLinkCount == 8, "the selector uses the low three bits");

inline uint8_t selector_for(LinkType link, uint8_t meta = 0) {
    for (size_t i = 0; i < kLinkCount; ++i)
        if (kLinks[i] == link) return static_cast<uint8_t>(i | (meta << 3));
    return 0;
}

}  // namespace hookdump::fuzz

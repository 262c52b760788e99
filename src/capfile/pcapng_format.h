// pcapng block types and option codes (draft-ietf-opsawg-pcapng), shared by hookdump's reader
// and writer.
#pragma once

#include <cstdint>
#include <string_view>

namespace hookdump::pcapng {

inline constexpr uint32_t kShb = 0x0A0D0D0A;  // section header
inline constexpr uint32_t kIdb = 0x00000001;  // interface description
inline constexpr uint32_t kObsoletePb = 0x00000002;
inline constexpr uint32_t kSpb = 0x00000003;  // simple packet
inline constexpr uint32_t kIsb = 0x00000005;  // interface statistics
inline constexpr uint32_t kEpb = 0x00000006;  // enhanced packet
inline constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;

inline constexpr uint16_t kOptEnd = 0;
inline constexpr uint16_t kOptComment = 1;
inline constexpr uint16_t kShbUserAppl = 4;
inline constexpr uint16_t kIfName = 2;
inline constexpr uint16_t kIfTsresol = 9;
inline constexpr uint16_t kIfTsoffset = 14;
inline constexpr uint16_t kEpbFlags = 2;  // also the obsolete Packet Block's pack_flags
inline constexpr uint16_t kIsbStartTime = 2;
inline constexpr uint16_t kIsbEndTime = 3;
inline constexpr uint16_t kIsbFilterAccept = 6;
inline constexpr uint16_t kIsbOsDrop = 7;
inline constexpr uint16_t kIsbUsrDeliv = 8;

// hookdump's writer: a section comment naming the csv/jsonl fields its packets' comments carry
// beyond the point ("hookdump fields=label,drop"), so that `read` gives them back as columns.
inline constexpr std::string_view kFieldsComment = "hookdump fields=";

}  // namespace hookdump::pcapng

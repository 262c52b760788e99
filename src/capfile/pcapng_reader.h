// A pcapng reader of hookdump's own (draft-ietf-opsawg-pcapng). libpcap reads pcapng too, but
// it hands out no options (epb_flags, comments: where hookdump keeps a packet's direction,
// capture point and drop reason) and refuses a section whose interfaces have different link
// types (tc's Ethernet frames beside the drop engine's raw IP packets). This one gives every
// Enhanced, Simple and obsolete Packet Block with its interface (link type, name, timestamp
// resolution and offset) and the options hookdump writes; other blocks are skipped. Either byte
// order, several sections. Every length is checked against the block and the block against
// the file: a malformed file is one RuntimeError naming the offset, never a read out of bounds
// (fuzzed: tests/fuzz/fuzz_pcapng.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/fd.h"

namespace hookdump {

struct PcapngInterface {
    uint16_t linktype = 0;
    uint32_t snaplen = 0;  // 0: no limit
    std::string name;      // if_name, empty when absent
    // if_tsresol: units a second are 10^exp10 or 2^exp2 (one of them set); default 10^6.
    uint8_t exp10 = 6, exp2 = 0;
    int64_t offset_s = 0;  // if_tsoffset
};

struct PcapngPacket {
    uint32_t interface = 0;         // index into interfaces()
    uint64_t ts_ns = 0;             // since the epoch (if_tsoffset added)
    uint32_t len = 0;               // original length
    std::span<const uint8_t> data;  // caplen bytes; valid until the next call to next()
    bool has_flags = false;
    uint32_t flags = 0;         // epb_flags (bits 0-1: 01 inbound, 10 outbound)
    std::string_view comment;   // the first opt_comment, empty when none; valid like data
    std::string_view comment2;  // the second (hookdump trace --record's), like comment
};

class PcapngReader {
  public:
    // The first four bytes of a pcapng file (a Section Header Block's type, either order).
    static constexpr uint32_t kMagic = 0x0A0D0D0A;

    // Reads from fd (a file or a pipe), which it owns; `name` is for messages. Throws
    // RuntimeError when the first block is not a valid Section Header Block.
    PcapngReader(Fd fd, std::string name);

    // The next packet; false at the end of the file. Throws RuntimeError for a malformed or
    // truncated block, or a read error.
    bool next(PcapngPacket& p);

    // The interfaces of the current section (a packet's `interface` indexes them).
    const std::vector<PcapngInterface>& interfaces() const { return ifaces_; }
    // The current section header's first opt_comment, empty when none.
    const std::string& section_comment() const { return section_comment_; }
    // All of the current section header's opt_comments, in order.
    const std::vector<std::string>& section_comments() const { return section_comments_; }
    // Blocks read so far, of every type.
    uint64_t blocks_read() const { return blocks_; }

  private:
    // Makes n bytes from pos_ available; false at a clean end (nothing left) when n is the
    // block header's 8 and allow_eof; throws on a short read otherwise.
    bool fill(size_t n, bool allow_eof);
    void section(std::span<const uint8_t> body);
    void interface(std::span<const uint8_t> body);
    bool packet(uint32_t type, std::span<const uint8_t> body, PcapngPacket& p);
    template <typename F>
    bool options(const uint8_t* p, const uint8_t* end, F f) const;
    uint16_t u16(const uint8_t* p) const;
    uint32_t u32(const uint8_t* p) const;
    uint64_t ts_ns(const PcapngInterface& i, uint64_t units) const;
    [[noreturn]] void bad(const std::string& what) const;

    Fd fd_;
    std::string name_;
    std::vector<uint8_t> buf_;
    size_t pos_ = 0, end_ = 0;  // unread bytes: buf_[pos_, end_)
    uint64_t offset_ = 0;       // file offset of buf_[pos_]
    uint64_t block_offset_ = 0;
    bool swapped_ = false;
    std::vector<PcapngInterface> ifaces_;
    std::string section_comment_;
    std::vector<std::string> section_comments_;
    uint64_t blocks_ = 0;
};

}  // namespace hookdump

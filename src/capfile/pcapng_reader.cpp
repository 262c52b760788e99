#include "capfile/pcapng_reader.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "capfile/pcapng_format.h"
#include "util/error.h"

namespace hookdump {
namespace {

using namespace pcapng;  // NOLINT(google-build-using-namespace): the format's names

// A block larger than this is taken for garbage rather than read into memory (libpcap's limit
// is 16 MiB too).
constexpr uint32_t kMaxBlock = 16u << 20;
constexpr size_t kReadSize = 1u << 20;

uint64_t pow10(unsigned e) {
    uint64_t v = 1;
    while (e--) v *= 10;
    return v;
}

}  // namespace

PcapngReader::PcapngReader(Fd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {
    buf_.resize(kReadSize);
    if (!fill(28, false)) bad("empty file");
    uint32_t type;
    std::memcpy(&type, buf_.data() + pos_, 4);
    if (type != kShb) bad("not a pcapng file (no section header block)");
}

uint16_t PcapngReader::u16(const uint8_t* p) const {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return swapped_ ? __builtin_bswap16(v) : v;
}

uint32_t PcapngReader::u32(const uint8_t* p) const {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped_ ? __builtin_bswap32(v) : v;
}

void PcapngReader::bad(const std::string& what) const {
    throw RuntimeError(
        fmt::format("reading {}: bad pcapng block at offset {}: {}", name_, block_offset_, what));
}

bool PcapngReader::fill(size_t n, bool allow_eof) {
    if (end_ - pos_ >= n) return true;
    if (buf_.size() - pos_ < n) {
        // Move what is unread to the front; grow for a block larger than the buffer.
        std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
        end_ -= pos_;
        pos_ = 0;
        if (buf_.size() < n) buf_.resize(n);
    }
    while (end_ - pos_ < n) {
        const ssize_t r = ::read(fd_.get(), buf_.data() + end_, buf_.size() - end_);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw RuntimeError(errno_message("reading " + name_, errno));
        }
        if (r == 0) {
            if (allow_eof && end_ == pos_) return false;
            bad(fmt::format("truncated: {} bytes left in the file, the block needs {}", end_ - pos_,
                            n));
        }
        end_ += static_cast<size_t>(r);
    }
    return true;
}

bool PcapngReader::next(PcapngPacket& p) {
    for (;;) {
        block_offset_ = offset_;
        if (!fill(8, true)) return false;
        const uint8_t* h = buf_.data() + pos_;
        uint32_t type;
        std::memcpy(&type, h, 4);
        if (type == kShb) {
            // The byte order is the new section's: read it before the length.
            if (!fill(12, false)) return false;
            h = buf_.data() + pos_;
            uint32_t magic;
            std::memcpy(&magic, h + 8, 4);
            if (magic == kByteOrderMagic)
                swapped_ = false;
            else if (magic == __builtin_bswap32(kByteOrderMagic))
                swapped_ = true;
            else
                bad("section header with an unknown byte-order magic");
        } else {
            type = u32(h);
        }
        const uint32_t len = u32(h + 4);
        if (len < 12 || len % 4) bad(fmt::format("block length {}", len));
        if (len > kMaxBlock) bad(fmt::format("block length {} larger than 16 MiB", len));
        fill(len, false);
        h = buf_.data() + pos_;
        if (u32(h + len - 4) != len)
            bad(fmt::format("trailing length {} is not the block's {}", u32(h + len - 4), len));
        const std::span<const uint8_t> body(h + 8, len - 12);
        pos_ += len;
        offset_ += len;
        ++blocks_;
        switch (type) {
            case kShb:
                section(body);
                break;
            case kIdb:
                interface(body);
                break;
            case kEpb:
            case kSpb:
            case kObsoletePb:
                if (packet(type, body, p)) return true;
                break;
            default:
                break;  // statistics, name resolution, custom, ...: not needed here
        }
    }
}

void PcapngReader::section(std::span<const uint8_t> body) {
    // byte-order magic, major, minor, section length: 16 bytes, then options.
    if (body.size() < 16) bad("section header too short");
    if (u16(body.data() + 4) != 1) bad(fmt::format("pcapng version {}", u16(body.data() + 4)));
    ifaces_.clear();
    section_comment_.clear();
    section_comments_.clear();
    // A malformed option list is not fatal here: the section's packets do not depend on it.
    static_cast<void>(
        options(body.data() + 16, body.data() + body.size(), [&](uint16_t code, auto v) {
            if (code == kOptComment)
                section_comments_.emplace_back(reinterpret_cast<const char*>(v.data()), v.size());
        }));
    if (!section_comments_.empty()) section_comment_ = section_comments_.front();
}

// Walks options in [p, end): f(code, value) for each until opt_endofopt or the end; false when
// an option runs past the end.
template <typename F>
bool PcapngReader::options(const uint8_t* p, const uint8_t* end, F f) const {
    while (end - p >= 4) {
        const uint16_t code = u16(p);
        const uint16_t n = u16(p + 2);
        p += 4;
        if (code == kOptEnd) return true;
        if (static_cast<size_t>(end - p) < n) return false;
        f(code, std::span<const uint8_t>(p, n));
        // The last option's padding may be missing.
        if (static_cast<size_t>(end - p) < ((n + 3u) & ~3u)) return true;
        p += (n + 3u) & ~3u;
    }
    return true;
}

void PcapngReader::interface(std::span<const uint8_t> body) {
    if (body.size() < 8) bad("interface description too short");
    if (ifaces_.size() >= 65536) bad("more than 65536 interfaces in a section");
    PcapngInterface i;
    i.linktype = u16(body.data());
    i.snaplen = u32(body.data() + 4);
    bool ok = true;
    const bool complete =
        options(body.data() + 8, body.data() + body.size(), [&](uint16_t code, auto v) {
            if (code == kIfName) {
                i.name.assign(reinterpret_cast<const char*>(v.data()), v.size());
                // Some writers count the terminating NUL.
                if (const auto z = i.name.find('\0'); z != std::string::npos) i.name.resize(z);
            } else if (code == kIfTsresol && v.size() >= 1) {
                const uint8_t r = v[0];
                if (r & 0x80) {
                    i.exp2 = r & 0x7f;
                    i.exp10 = 0;
                    ok = i.exp2 <= 63;
                } else {
                    i.exp10 = r;
                    i.exp2 = 0;
                    ok = r <= 19;
                }
            } else if (code == kIfTsoffset && v.size() >= 8) {
                uint64_t o;
                std::memcpy(&o, v.data(), 8);
                if (swapped_) o = __builtin_bswap64(o);
                i.offset_s = static_cast<int64_t>(o);
            }
        });
    if (!complete) bad("interface option runs past the block");
    if (!ok) bad("if_tsresol out of range");
    ifaces_.push_back(std::move(i));
}

uint64_t PcapngReader::ts_ns(const PcapngInterface& i, uint64_t units) const {
    unsigned __int128 ns;
    if (i.exp2)
        ns = (static_cast<unsigned __int128>(units) * 1000000000u) >> i.exp2;
    else if (i.exp10 <= 9)
        ns = static_cast<unsigned __int128>(units) * pow10(9u - i.exp10);
    else
        ns = units / pow10(i.exp10 - 9u);
    ns += static_cast<unsigned __int128>(static_cast<__int128>(i.offset_s) * 1000000000);
    return static_cast<uint64_t>(ns);
}

bool PcapngReader::packet(uint32_t type, std::span<const uint8_t> body, PcapngPacket& p) {
    const uint8_t* b = body.data();
    const uint8_t* end = b + body.size();
    uint32_t caplen;
    const uint8_t* data;
    p.has_flags = false;
    p.flags = 0;
    p.comment = {};
    p.comment2 = {};
    if (type == kSpb) {
        if (body.size() < 4) bad("simple packet block too short");
        if (ifaces_.empty()) bad("packet before any interface description");
        p.interface = 0;
        p.len = u32(b);
        p.ts_ns = 0;  // a simple packet block has no timestamp
        const uint32_t room = static_cast<uint32_t>(body.size() - 4);
        const uint32_t snap = ifaces_[0].snaplen;
        caplen = std::min(p.len, room);
        if (snap) caplen = std::min(caplen, snap);
        p.data = {b + 4, caplen};
        return true;
    }
    if (body.size() < 20) bad("packet block too short");
    uint64_t units;
    if (type == kEpb) {
        p.interface = u32(b);
    } else {
        p.interface = u16(b);  // then a 16-bit drops count
    }
    units = static_cast<uint64_t>(u32(b + 4)) << 32 | u32(b + 8);
    caplen = u32(b + 12);
    p.len = u32(b + 16);
    data = b + 20;
    if (p.interface >= ifaces_.size())
        bad(fmt::format("packet of interface {}, the section has {}", p.interface, ifaces_.size()));
    if (caplen > static_cast<size_t>(end - data))
        bad(fmt::format("captured length {} larger than the block", caplen));
    p.data = {data, caplen};
    p.ts_ns = ts_ns(ifaces_[p.interface], units);
    const uint8_t* opts = data + ((caplen + 3u) & ~3u);
    if (opts > end) opts = end;
    const bool complete = options(opts, end, [&](uint16_t code, auto v) {
        if (code == kEpbFlags && v.size() >= 4) {
            p.has_flags = true;
            p.flags = u32(v.data());
        } else if (code == kOptComment && p.comment.empty()) {
            p.comment = {reinterpret_cast<const char*>(v.data()), v.size()};
        } else if (code == kOptComment && p.comment2.empty()) {
            p.comment2 = {reinterpret_cast<const char*>(v.data()), v.size()};
        }
    });
    if (!complete) bad("packet option runs past the block");
    return true;
}

}  // namespace hookdump

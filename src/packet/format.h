// Text forms shared by every sink: addresses, TCP flags, timestamps.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "packet/parse.h"

namespace hookdump {

// Appends the usual text form of an address (dotted quad, RFC 5952 for IPv6).
void append_addr(std::string& out, uint8_t family, const std::array<uint8_t, 16>& a);
std::string addr_to_string(uint8_t family, const std::array<uint8_t, 16>& a);

// tcpdump's notation: F S R P . U E W in that order ("S." is SYN+ACK); "none" when no bit is set.
void append_tcp_flags(std::string& out, uint8_t flags);

// Appends an unsigned decimal without going through locale-aware formatting.
void append_uint(std::string& out, uint64_t v);

// "1700000000.123456789": seconds since the epoch with nanoseconds.
void append_epoch_ns(std::string& out, uint64_t ts_ns);

// "HH:MM:SS.uuuuuu" in local time, as tcpdump prints; caches the last second's conversion.
class LocalClock {
  public:
    void append(std::string& out, uint64_t ts_ns);

  private:
    int64_t cached_sec_ = INT64_MIN;
    char hms_[9] = {};
};

// JSON string body escaping (without the quotes).
void append_json_escaped(std::string& out, std::string_view s);

// The same forms written at p (the caller makes room: the k*Text sizes, 6 bytes a character for
// put_json_escaped); each returns the end. For writers that format into a buffer of their own.
inline constexpr size_t kMaxUintText = 20;
inline constexpr size_t kMaxAddrText = 48;  // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is 45
inline constexpr size_t kMaxEpochText = 30;
char* put_addr(char* p, uint8_t family, const std::array<uint8_t, 16>& a);
char* put_tcp_flags(char* p, uint8_t flags);  // at most 8
char* put_json_escaped(char* p, std::string_view s);

// The numbers inline: a record has a dozen of them.
// "00" "01" ... "99": two digits per division, half the divisions of one digit at a time.
inline constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// Writes v in decimal so that it ends at `end`; returns where it starts.
template <class U>
inline char* put_uint_backward(char* end, U v) {
    char* p = end;
    while (v >= 100) {
        const auto r = static_cast<unsigned>(v % 100);
        v /= 100;
        p -= 2;
        std::memcpy(p, kDigitPairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        std::memcpy(p, kDigitPairs + 2 * v, 2);
    } else {
        *--p = static_cast<char>('0' + v);
    }
    return p;
}

template <class U>
inline int decimal_digits(U v) {
    int n = 1;
    for (; v >= 10000; v /= 10000) n += 4;
    if (v >= 1000) return n + 3;
    if (v >= 100) return n + 2;
    return v >= 10 ? n + 1 : n;
}

[[gnu::always_inline]] inline char* put_uint(char* p, uint64_t v) {
    if (v < 100) {  // most of a record's numbers (protocol, ports, lengths) are short
        if (v < 10) {
            *p = static_cast<char>('0' + v);
            return p + 1;
        }
        std::memcpy(p, kDigitPairs + 2 * v, 2);
        return p + 2;
    }
    if (v <= UINT32_MAX) {  // 32-bit divisions where they do
        char* const end = p + decimal_digits(static_cast<uint32_t>(v));
        put_uint_backward(end, static_cast<uint32_t>(v));
        return end;
    }
    char* const end = p + decimal_digits(v);
    put_uint_backward(end, v);
    return end;
}

// v (below 10^width) in exactly `width` decimal digits (leading zeros) at p, width at most 20.
inline char* put_padded(char* p, uint64_t v, int width) {
    int i = width;
    while (i >= 2) {
        i -= 2;
        std::memcpy(p + i, kDigitPairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (i) p[0] = static_cast<char>('0' + v % 10);
    return p + width;
}

inline char* put_epoch_ns(char* p, uint64_t ts_ns) {
    p = put_uint(p, ts_ns / 1000000000u);
    *p++ = '.';
    const auto ns = static_cast<uint32_t>(ts_ns % 1000000000u);
    // 9 digits with 32-bit divisions: the first alone, then pairs.
    p[0] = static_cast<char>('0' + ns / 100000000u);
    uint32_t v = ns % 100000000u;
    for (int i = 7; i >= 1; i -= 2) {
        std::memcpy(p + i, kDigitPairs + 2 * (v % 100), 2);
        v /= 100;
    }
    return p + 9;
}

}  // namespace hookdump

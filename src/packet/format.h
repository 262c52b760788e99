// Text forms shared by every sink: addresses, TCP flags, timestamps.
#pragma once

#include <cstdint>
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
char* put_uint(char* p, uint64_t v);
char* put_addr(char* p, uint8_t family, const std::array<uint8_t, 16>& a);
char* put_tcp_flags(char* p, uint8_t flags);  // at most 8
char* put_epoch_ns(char* p, uint64_t ts_ns);
char* put_json_escaped(char* p, std::string_view s);

}  // namespace hookdump

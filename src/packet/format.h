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

}  // namespace hookdump

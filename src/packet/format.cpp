#include "packet/format.h"

#include <cstring>
#include <ctime>

namespace hookdump {

namespace {

// One address byte in decimal at p; returns the end.
inline char* put_u8(char* p, unsigned v) {
    if (v >= 100) {
        *p++ = static_cast<char>('0' + v / 100);
        v %= 100;
        std::memcpy(p, kDigitPairs + 2 * v, 2);
        return p + 2;
    }
    if (v >= 10) {
        std::memcpy(p, kDigitPairs + 2 * v, 2);
        return p + 2;
    }
    *p = static_cast<char>('0' + v);
    return p + 1;
}

inline char* put_ipv4(char* p, const uint8_t* a) {
    p = put_u8(p, a[0]);
    *p++ = '.';
    p = put_u8(p, a[1]);
    *p++ = '.';
    p = put_u8(p, a[2]);
    *p++ = '.';
    return put_u8(p, a[3]);
}

// Lower-case hex without leading zeros.
inline char* put_hex16(char* p, unsigned v) {
    static constexpr char kHex[] = "0123456789abcdef";
    if (v >= 0x1000) *p++ = kHex[v >> 12];
    if (v >= 0x100) *p++ = kHex[(v >> 8) & 15];
    if (v >= 0x10) *p++ = kHex[(v >> 4) & 15];
    *p++ = kHex[v & 15];
    return p;
}

// RFC 5952 text, exactly as glibc's inet_ntop(AF_INET6) writes it (the first longest run of
// two or more zero groups becomes "::"; ::/96 and ::ffff:0:0/96 end in a dotted quad), without
// its sprintf per group.
inline char* put_ipv6(char* p, const uint8_t* a) {
    unsigned w[8];
    for (int i = 0; i < 8; ++i) w[i] = static_cast<unsigned>(a[2 * i] << 8 | a[2 * i + 1]);
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (w[i]) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && !w[j]) ++j;
        if (j - i > best_len) best = i, best_len = j - i;
        i = j;
    }
    if (best_len < 2) best = -1;
    for (int i = 0; i < 8; ++i) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) *p++ = ':';
            continue;
        }
        if (i) *p++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)))
            return put_ipv4(p, a + 12);
        p = put_hex16(p, w[i]);
    }
    if (best >= 0 && best + best_len == 8) *p++ = ':';
    return p;
}

}  // namespace

void append_uint(std::string& out, uint64_t v) {
    char buf[20];
    out.append(buf, static_cast<size_t>(put_uint(buf, v) - buf));
}

char* put_addr(char* p, uint8_t family, const std::array<uint8_t, 16>& a) {
    if (family == 4) return put_ipv4(p, a.data());
    if (family == 6) return put_ipv6(p, a.data());
    return p;
}

void append_addr(std::string& out, uint8_t family, const std::array<uint8_t, 16>& a) {
    char buf[kMaxAddrText];
    out.append(buf, static_cast<size_t>(put_addr(buf, family, a) - buf));
}

std::string addr_to_string(uint8_t family, const std::array<uint8_t, 16>& a) {
    std::string s;
    append_addr(s, family, a);
    return s;
}

char* put_tcp_flags(char* p, uint8_t f) {
    if (!f) {
        std::memcpy(p, "none", 4);
        return p + 4;
    }
    static constexpr struct {
        uint8_t bit;
        char c;
    } kOrder[] = {{kTcpFin, 'F'}, {kTcpSyn, 'S'}, {kTcpRst, 'R'}, {kTcpPsh, 'P'},
                  {kTcpAck, '.'}, {kTcpUrg, 'U'}, {kTcpEce, 'E'}, {kTcpCwr, 'W'}};
    for (const auto& o : kOrder)
        if (f & o.bit) *p++ = o.c;
    return p;
}

void append_tcp_flags(std::string& out, uint8_t f) {
    char buf[8];
    out.append(buf, static_cast<size_t>(put_tcp_flags(buf, f) - buf));
}

static void append_padded(std::string& out, uint64_t v, int width) {
    char buf[20];
    out.append(buf, static_cast<size_t>(put_padded(buf, v, width) - buf));
}

void append_epoch_ns(std::string& out, uint64_t ts_ns) {
    char buf[kMaxEpochText];
    out.append(buf, static_cast<size_t>(put_epoch_ns(buf, ts_ns) - buf));
}

void LocalClock::append(std::string& out, uint64_t ts_ns) {
    const int64_t sec = static_cast<int64_t>(ts_ns / 1000000000u);
    if (sec != cached_sec_) {
        const time_t t = sec;
        struct tm tm;
        localtime_r(&t, &tm);
        hms_[0] = static_cast<char>('0' + tm.tm_hour / 10);
        hms_[1] = static_cast<char>('0' + tm.tm_hour % 10);
        hms_[2] = ':';
        hms_[3] = static_cast<char>('0' + tm.tm_min / 10);
        hms_[4] = static_cast<char>('0' + tm.tm_min % 10);
        hms_[5] = ':';
        hms_[6] = static_cast<char>('0' + tm.tm_sec / 10);
        hms_[7] = static_cast<char>('0' + tm.tm_sec % 10);
        hms_[8] = '.';
        cached_sec_ = sec;
    }
    out.append(hms_, sizeof hms_);
    append_padded(out, (ts_ns % 1000000000u) / 1000u, 6);
}

char* put_json_escaped(char* p, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = c;
        } else if (u < 0x20 || u >= 0x7f) {  // keep output plain ASCII whatever the input
            std::memcpy(p, "\\u00", 4);
            p[4] = kHex[u >> 4];
            p[5] = kHex[u & 15];
            p += 6;
        } else {
            *p++ = c;
        }
    }
    return p;
}

void append_json_escaped(std::string& out, std::string_view s) {
    const size_t at = out.size();
    out.resize(at + 6 * s.size());
    out.resize(static_cast<size_t>(put_json_escaped(out.data() + at, s) - out.data()));
}

}  // namespace hookdump

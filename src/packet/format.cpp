#include "packet/format.h"

#include <arpa/inet.h>

#include <ctime>

namespace hookdump {

void append_uint(std::string& out, uint64_t v) {
    char buf[20];
    char* p = buf + sizeof buf;
    do {
        *--p = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    out.append(p, buf + sizeof buf - p);
}

void append_addr(std::string& out, uint8_t family, const std::array<uint8_t, 16>& a) {
    if (family == 4) {
        for (int i = 0; i < 4; ++i) {
            if (i) out.push_back('.');
            append_uint(out, a[i]);
        }
        return;
    }
    if (family == 6) {
        char buf[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, a.data(), buf, sizeof buf)) out.append(buf);
    }
}

std::string addr_to_string(uint8_t family, const std::array<uint8_t, 16>& a) {
    std::string s;
    append_addr(s, family, a);
    return s;
}

void append_tcp_flags(std::string& out, uint8_t f) {
    if (!f) {
        out.append("none");
        return;
    }
    static constexpr struct {
        uint8_t bit;
        char c;
    } kOrder[] = {{kTcpFin, 'F'}, {kTcpSyn, 'S'}, {kTcpRst, 'R'}, {kTcpPsh, 'P'},
                  {kTcpAck, '.'}, {kTcpUrg, 'U'}, {kTcpEce, 'E'}, {kTcpCwr, 'W'}};
    for (const auto& o : kOrder)
        if (f & o.bit) out.push_back(o.c);
}

static void append_padded(std::string& out, uint64_t v, int width) {
    char buf[20];
    for (int i = width - 1; i >= 0; --i) {
        buf[i] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
    out.append(buf, width);
}

void append_epoch_ns(std::string& out, uint64_t ts_ns) {
    append_uint(out, ts_ns / 1000000000u);
    out.push_back('.');
    append_padded(out, ts_ns % 1000000000u, 9);
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

void append_json_escaped(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u >= 0x7f) {  // keep output plain ASCII whatever the input
            out.append("\\u00");
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 15]);
        } else {
            out.push_back(c);
        }
    }
}

}  // namespace hookdump

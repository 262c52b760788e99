// hookdump-ipfix-send: exports N known flow records through hookdump's IPFIX exporter, for
// the collector tests (tests/netns/test_ipfix.py): what nfcapd and nfacctd decode is compared
// with what this prints.
//
//   hookdump-ipfix-send --to HOST:PORT [--transport udp|tcp] [--flows N] [--mtu BYTES]
//                       [--domain N] [--batch N --pause-ms MS]
//
// Flow i: kind i % 6 (TCP, UDP, ICMP over IPv4, then over IPv6), source 198.18.(i/250).(i%250+1)
// or 2001:db8::i, destination 198.18.200.1 or 2001:db8::2, source port 10000 + i % 50000,
// destination port 443 (TCP) or 53 (UDP), ICMP echo request (type 8 / 128, code i % 4),
// packets 1 + i % 100, octets packets * (40 + i % 1000), start one minute ago plus i ms, end
// 1 + i % 5000 ms later. --batch/--pause-ms: a pause after every N records (a collector's
// socket buffer is small). Prints one JSON line per flow on standard output and the
// exporter's summary line on standard error; exit 0, or 2 on bad arguments.
#include <arpa/inet.h>
#include <getopt.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ipfix/ipfix_exporter.h"
#include "ipfix/ipfix_transport.h"
#include "util/clock.h"
#include "util/error.h"

using namespace hookdump::ipfix;

namespace {

Record flow(uint64_t i, uint64_t base_ms) {
    Record r;
    const unsigned kind = static_cast<unsigned>(i % 6);
    r.family = kind < 3 ? 4 : 6;
    r.proto = kind % 3 == 0 ? 6 : kind % 3 == 1 ? 17 : (r.family == 4 ? 1 : 58);
    if (r.family == 4) {
        const uint8_t s[4] = {198, 18, static_cast<uint8_t>(i / 250 % 200),
                              static_cast<uint8_t>(i % 250 + 1)};
        std::memcpy(r.src.data(), s, 4);
        const uint8_t d[4] = {198, 18, 200, 1};
        std::memcpy(r.dst.data(), d, 4);
    } else {
        inet_pton(AF_INET6, "2001:db8::", r.src.data());
        r.src[13] = static_cast<uint8_t>(i >> 16);
        r.src[14] = static_cast<uint8_t>(i >> 8);
        r.src[15] = static_cast<uint8_t>(i);
        inet_pton(AF_INET6, "2001:db8::2", r.dst.data());
    }
    if (r.proto == 6 || r.proto == 17) {
        r.has = Record::kPorts;
        r.sport = static_cast<uint16_t>(10000 + i % 50000);
        r.dport = r.proto == 6 ? 443 : 53;
        if (r.proto == 6) {
            r.has |= Record::kTcpFlags;
            r.tcp_flags = 0x12;
        }
    } else {
        r.has = Record::kIcmp;
        r.icmp_type_code = static_cast<uint16_t>((r.family == 4 ? 8 : 128) << 8 | i % 4);
    }
    r.packets = 1 + i % 100;
    r.octets = r.packets * (40 + i % 1000);
    r.start_ms = base_ms + i;
    r.end_ms = r.start_ms + 1 + i % 5000;
    r.end_reason = EndReason::IdleTimeout;
    return r;
}

void print(const Record& r) {
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    const int af = r.family == 4 ? AF_INET : AF_INET6;
    inet_ntop(af, r.src.data(), src, sizeof src);
    inet_ntop(af, r.dst.data(), dst, sizeof dst);
    std::printf(
        "{\"family\":%u,\"proto\":%u,\"src\":\"%s\",\"dst\":\"%s\",\"sport\":%u,\"dport\":%u,"
        "\"icmp_type\":%u,\"icmp_code\":%u,\"packets\":%llu,\"octets\":%llu,\"start_ms\":%llu,"
        "\"end_ms\":%llu}\n",
        r.family, r.proto, src, dst, r.sport, r.dport, r.icmp_type_code >> 8,
        r.icmp_type_code & 0xff, static_cast<unsigned long long>(r.packets),
        static_cast<unsigned long long>(r.octets), static_cast<unsigned long long>(r.start_ms),
        static_cast<unsigned long long>(r.end_ms));
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "hookdump-ipfix-send: %s\n", why);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string to, transport = "udp";
    uint64_t flows = 100, batch = 0, pause_ms = 0;
    size_t mtu = 1500;
    uint32_t domain = 1;
    static const option opts[] = {{"to", required_argument, nullptr, 't'},
                                  {"transport", required_argument, nullptr, 'T'},
                                  {"flows", required_argument, nullptr, 'n'},
                                  {"mtu", required_argument, nullptr, 'm'},
                                  {"domain", required_argument, nullptr, 'd'},
                                  {"batch", required_argument, nullptr, 'b'},
                                  {"pause-ms", required_argument, nullptr, 'p'},
                                  {nullptr, 0, nullptr, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
        switch (c) {
            case 't':
                to = optarg;
                break;
            case 'T':
                transport = optarg;
                break;
            case 'n':
                flows = std::strtoull(optarg, nullptr, 10);
                break;
            case 'm':
                mtu = std::strtoull(optarg, nullptr, 10);
                break;
            case 'd':
                domain = static_cast<uint32_t>(std::strtoul(optarg, nullptr, 10));
                break;
            case 'b':
                batch = std::strtoull(optarg, nullptr, 10);
                break;
            case 'p':
                pause_ms = std::strtoull(optarg, nullptr, 10);
                break;
            default:
                usage("bad option");
        }
    }
    if (to.empty()) usage("--to HOST:PORT is required");
    if (transport != "udp" && transport != "tcp") usage("--transport is udp or tcp");
    try {
        const Collector collector = parse_collector(to);
        const Address addr = resolve_collector(collector);
        ExporterConfig cfg;
        cfg.observation_domain = domain;
        cfg.max_message = max_message_for_mtu(mtu, addr.family());
        Exporter ex(
            cfg, make_transport(transport == "tcp" ? TransportKind::Tcp : TransportKind::Udp, addr,
                                {.wait_for_buffer = true}));
        const uint64_t base_ms = hookdump::realtime_ns() / 1'000'000 - 60'000;
        for (uint64_t i = 0; i < flows; ++i) {
            const Record r = flow(i, base_ms);
            ex.add(r);
            print(r);
            if (batch && (i + 1) % batch == 0 && pause_ms) {
                const timespec ts{static_cast<time_t>(pause_ms / 1000),
                                  static_cast<long>(pause_ms % 1000 * 1'000'000)};
                nanosleep(&ts, nullptr);
            }
        }
        ex.finish();
        std::fprintf(stderr, "%s\n", export_summary(ex.stats(), collector.text()).c_str());
        return ex.stats().records_not_sent ? 1 : 0;
    } catch (const hookdump::UsageError& e) {
        std::fprintf(stderr, "hookdump-ipfix-send: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hookdump-ipfix-send: %s\n", e.what());
        return 1;
    }
}

// hookdump-send: sends exactly N frames built by hookdump's own packet builder through an
// AF_PACKET SOCK_RAW socket, for the network-namespace tests and the demo.
//
//   hookdump-send -i IFACE [--kind KIND] [-n COUNT] [--src ADDR] [--dst ADDR]
//                 [--sport N] [--dport N] [--flows N] [--dst-mac MAC] [--src-mac MAC]
//                 [--vlan VID] [--flags FLAGS] [--payload BYTES] [--frags K] [--rate PPS]
//                 [--first-id N] [-v]
//
// KIND: udp, tcp, icmp (echo request), udp6, icmp6 (echo request), frag (an IPv4 UDP datagram
// sent as K fragments: the first carries the UDP header, the later ones carry none), frag6
// (the same over IPv6 with a fragment header).
//
// Packet i (0-based, counting from --first-id) belongs to flow i % FLOWS: its source port is
// SPORT + flow modulo 65536 (ICMP: the echo id), its destination port DPORT + flow / 65536
// (FLOWS up to 2^24: distinct flows). The first 4 bytes of every payload are i
// in network byte order (for fragments: of the datagram's payload), TCP's sequence number is
// i, ICMP's echo sequence is i & 0xffff, so a test can find each packet again in a capture.
//
// Prints one summary line (and one line per frame with -v) on standard output; exits 0 when
// every frame was sent, 1 on any send error, 2 on bad arguments.
#include <arpa/inet.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "packet/builder.h"

using hookdump::MacAddr;
using hookdump::PacketBuilder;

namespace {

struct Args {
    std::string iface;
    std::string kind = "udp";
    uint64_t count = 1;
    uint64_t first_id = 0;
    std::string src, dst;
    uint16_t sport = 40000;
    uint16_t dport = 5001;
    uint32_t flows = 1;
    std::optional<MacAddr> dst_mac, src_mac;
    int vlan = -1;
    std::string flags = "S";
    size_t payload = 32;
    unsigned frags = 2;
    double rate = 0;
    bool verbose = false;
};

[[noreturn]] void usage(const std::string& why) {
    fprintf(stderr, "hookdump-send: %s\n", why.c_str());
    fprintf(
        stderr,
        "usage: hookdump-send -i IFACE [--kind udp|tcp|icmp|udp6|icmp6|frag|frag6] [-n COUNT]\n"
        "         [--src ADDR] [--dst ADDR] [--sport N] [--dport N] [--flows N] [--dst-mac MAC]\n"
        "         [--src-mac MAC] [--vlan VID] [--flags FSRPAUEW] [--payload BYTES] [--frags K]\n"
        "         [--rate PPS] [--first-id N] [-v]\n");
    exit(2);
}

MacAddr parse_mac(const std::string& s) {
    MacAddr m{};
    unsigned v[6];
    char tail;
    if (sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) !=
        6)
        usage("not a MAC address: " + s);
    for (int i = 0; i < 6; ++i) {
        if (v[i] > 0xff) usage("not a MAC address: " + s);
        m[i] = static_cast<uint8_t>(v[i]);
    }
    return m;
}

std::string mac_text(const MacAddr& m) {
    char b[18];
    snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return b;
}

uint64_t parse_uint(const char* s, uint64_t max, const char* what) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = strtoull(s, &end, 0);
    if (errno || !end || *end || end == s || v > max) usage(std::string("bad ") + what + ": " + s);
    return v;
}

// tcpdump's letters: F S R P . (or A) U E W
uint8_t parse_flags(const std::string& s) {
    uint8_t f = 0;
    for (char c : s) {
        switch (c) {
            case 'F':
                f |= 0x01;
                break;
            case 'S':
                f |= 0x02;
                break;
            case 'R':
                f |= 0x04;
                break;
            case 'P':
                f |= 0x08;
                break;
            case '.':
            case 'A':
                f |= 0x10;
                break;
            case 'U':
                f |= 0x20;
                break;
            case 'E':
                f |= 0x40;
                break;
            case 'W':
                f |= 0x80;
                break;
            default:
                usage(std::string("bad TCP flag '") + c + "' (use F S R P . U E W)");
        }
    }
    return f;
}

// The neighbour table's entry for an IPv4 address on the interface (/proc/net/arp).
std::optional<MacAddr> arp_lookup(const std::string& ip, const std::string& iface) {
    std::ifstream in("/proc/net/arp");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string addr, hwtype, flags, mac, mask, dev;
        if (!(ls >> addr >> hwtype >> flags >> mac >> mask >> dev)) continue;
        if (addr == ip && dev == iface && flags != "0x0") return parse_mac(mac);
    }
    return std::nullopt;
}

Args parse_args(int argc, char** argv) {
    Args a;
    enum {
        kKind = 256,
        kSrc,
        kDst,
        kSport,
        kDport,
        kFlows,
        kDstMac,
        kSrcMac,
        kVlan,
        kFlags,
        kPayload,
        kFrags,
        kRate,
        kFirstId
    };
    static const option opts[] = {
        {"interface", required_argument, nullptr, 'i'},
        {"count", required_argument, nullptr, 'n'},
        {"verbose", no_argument, nullptr, 'v'},
        {"help", no_argument, nullptr, 'h'},
        {"kind", required_argument, nullptr, kKind},
        {"src", required_argument, nullptr, kSrc},
        {"dst", required_argument, nullptr, kDst},
        {"sport", required_argument, nullptr, kSport},
        {"dport", required_argument, nullptr, kDport},
        {"flows", required_argument, nullptr, kFlows},
        {"dst-mac", required_argument, nullptr, kDstMac},
        {"src-mac", required_argument, nullptr, kSrcMac},
        {"vlan", required_argument, nullptr, kVlan},
        {"flags", required_argument, nullptr, kFlags},
        {"payload", required_argument, nullptr, kPayload},
        {"frags", required_argument, nullptr, kFrags},
        {"rate", required_argument, nullptr, kRate},
        {"first-id", required_argument, nullptr, kFirstId},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "i:n:vh", opts, nullptr)) != -1) {
        switch (c) {
            case 'i':
                a.iface = optarg;
                break;
            case 'n':
                a.count = parse_uint(optarg, 100'000'000, "count");
                break;
            case 'v':
                a.verbose = true;
                break;
            case 'h':
                usage("help");
            case kKind:
                a.kind = optarg;
                break;
            case kSrc:
                a.src = optarg;
                break;
            case kDst:
                a.dst = optarg;
                break;
            case kSport:
                a.sport = static_cast<uint16_t>(parse_uint(optarg, 65535, "port"));
                break;
            case kDport:
                a.dport = static_cast<uint16_t>(parse_uint(optarg, 65535, "port"));
                break;
            case kFlows:
                a.flows = static_cast<uint32_t>(parse_uint(optarg, 1u << 24, "flows"));
                break;
            case kDstMac:
                a.dst_mac = parse_mac(optarg);
                break;
            case kSrcMac:
                a.src_mac = parse_mac(optarg);
                break;
            case kVlan:
                a.vlan = static_cast<int>(parse_uint(optarg, 4094, "VLAN id"));
                break;
            case kFlags:
                a.flags = optarg;
                break;
            case kPayload:
                a.payload = parse_uint(optarg, 9000, "payload size");
                break;
            case kFrags:
                a.frags = static_cast<unsigned>(parse_uint(optarg, 64, "fragment count"));
                break;
            case kRate:
                a.rate = strtod(optarg, nullptr);
                break;
            case kFirstId:
                a.first_id = parse_uint(optarg, UINT32_MAX, "first id");
                break;
            default:
                usage("unknown option");
        }
    }
    if (optind != argc) usage(std::string("unexpected argument: ") + argv[optind]);
    if (a.iface.empty()) usage("-i IFACE is required");
    if (a.flows == 0) a.flows = 1;
    if (a.payload < 4) usage("--payload must be at least 4 (the packet id)");
    if (a.frags < 2) usage("--frags must be at least 2");
    const bool v6 = a.kind == "udp6" || a.kind == "icmp6" || a.kind == "frag6";
    const bool known =
        v6 || a.kind == "udp" || a.kind == "tcp" || a.kind == "icmp" || a.kind == "frag";
    if (!known) usage("unknown kind: " + a.kind);
    if (a.src.empty()) a.src = v6 ? "2001:db8::2" : "198.18.0.2";
    if (a.dst.empty()) a.dst = v6 ? "2001:db8::1" : "198.18.0.1";
    return a;
}

void put32(std::vector<uint8_t>& p, size_t at, uint32_t v) {
    p[at] = static_cast<uint8_t>(v >> 24);
    p[at + 1] = static_cast<uint8_t>(v >> 16);
    p[at + 2] = static_cast<uint8_t>(v >> 8);
    p[at + 3] = static_cast<uint8_t>(v);
}

std::vector<uint8_t> payload_for(uint64_t id, size_t n) {
    std::vector<uint8_t> p(n, 0xab);
    put32(p, 0, static_cast<uint32_t>(id));
    return p;
}

// The frames of packet `id` (one, or K fragments).
std::vector<std::vector<uint8_t>> frames_for(const Args& a, const MacAddr& src_mac,
                                             const MacAddr& dst_mac, uint64_t id,
                                             std::vector<std::string>& what) {
    const uint32_t flow = static_cast<uint32_t>(id % a.flows);
    const auto sport = static_cast<uint16_t>(a.sport + flow);
    const auto dport = static_cast<uint16_t>(a.dport + (flow >> 16));
    const std::vector<uint8_t> data = payload_for(id, a.payload);
    auto link = [&](PacketBuilder& b) {
        b.ethernet(src_mac, dst_mac);
        if (a.vlan >= 0) b.vlan(static_cast<uint16_t>(a.vlan));
    };
    std::vector<std::vector<uint8_t>> out;
    PacketBuilder b;
    link(b);
    char line[256];
    if (a.kind == "udp" || a.kind == "udp6") {
        if (a.kind == "udp")
            b.ipv4(a.src, a.dst);
        else
            b.ipv6(a.src, a.dst);
        b.udp(sport, dport).payload(data);
        snprintf(line, sizeof line, "%s %s.%u > %s.%u id %llu", a.kind.c_str(), a.src.c_str(),
                 sport, a.dst.c_str(), dport, static_cast<unsigned long long>(id));
        out.push_back(b.build());
    } else if (a.kind == "tcp") {
        b.ipv4(a.src, a.dst)
            .tcp(sport, dport, parse_flags(a.flags), static_cast<uint32_t>(id), 0)
            .payload(data);
        snprintf(line, sizeof line, "tcp %s.%u > %s.%u [%s] seq %llu", a.src.c_str(), sport,
                 a.dst.c_str(), dport, a.flags.c_str(), static_cast<unsigned long long>(id));
        out.push_back(b.build());
    } else if (a.kind == "icmp" || a.kind == "icmp6") {
        if (a.kind == "icmp")
            b.ipv4(a.src, a.dst).icmp(8, 0, sport, static_cast<uint16_t>(id));
        else
            b.ipv6(a.src, a.dst).icmp6(128, 0, sport, static_cast<uint16_t>(id));
        b.payload(data);
        snprintf(line, sizeof line, "%s %s > %s echo request id %u seq %u", a.kind.c_str(),
                 a.src.c_str(), a.dst.c_str(), sport, static_cast<unsigned>(id & 0xffff));
        out.push_back(b.build());
    } else {
        // Build the whole datagram once (so that UDP's length and checksum are those of the
        // reassembled datagram), then cut its IP payload into 8-byte aligned pieces.
        const bool v6 = a.kind == "frag6";
        PacketBuilder whole;
        if (v6)
            whole.ipv6(a.src, a.dst);
        else
            whole.ipv4(a.src, a.dst);
        whole.udp(sport, dport).payload(data);
        const std::vector<uint8_t> dgram = whole.build();
        const size_t ip_hlen = v6 ? 40 : 20;
        const std::vector<uint8_t> body(dgram.begin() + static_cast<long>(ip_hlen), dgram.end());
        size_t piece = (body.size() + a.frags - 1) / a.frags;
        piece = (piece + 7) / 8 * 8;
        if (piece < 8) piece = 8;
        const auto ip_id = static_cast<uint16_t>(0x4000 + (id & 0x3fff));
        size_t off = 0;
        unsigned k = 0;
        while (off < body.size()) {
            const size_t n = std::min(piece, body.size() - off);
            const bool more = off + n < body.size();
            PacketBuilder f;
            link(f);
            if (v6) {
                f.ipv6(a.src, a.dst)
                    .ipv6_fragment(static_cast<uint16_t>(off), more, static_cast<uint32_t>(id + 1));
            } else {
                hookdump::Ipv4Options o;
                o.id = ip_id;
                o.frag_offset = static_cast<uint16_t>(off);
                o.more_fragments = more;
                f.ipv4(a.src, a.dst, o);
            }
            f.protocol(17).payload(std::span<const uint8_t>(body.data() + off, n));
            out.push_back(f.build());
            ++k;
            off += n;
        }
        if (out.size() != a.frags) {
            fprintf(stderr,
                    "hookdump-send: a %zu-byte datagram makes %zu fragments, not %u: use a larger "
                    "--payload\n",
                    body.size(), out.size(), a.frags);
            exit(2);
        }
        snprintf(line, sizeof line, "%s %s.%u > %s.%u id %llu in %u fragments", a.kind.c_str(),
                 a.src.c_str(), sport, a.dst.c_str(), a.dport, static_cast<unsigned long long>(id),
                 k);
    }
    what.emplace_back(line);
    return out;
}

void sleep_until(const timespec& t) {
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, nullptr) == EINTR) {
    }
}

}  // namespace

int main(int argc, char** argv) {
    Args a = parse_args(argc, argv);

    const unsigned ifindex = if_nametoindex(a.iface.c_str());
    if (ifindex == 0) {
        fprintf(stderr, "hookdump-send: no such interface: %s\n", a.iface.c_str());
        return 2;
    }
    const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: send only
    if (fd < 0) {
        fprintf(stderr, "hookdump-send: socket(AF_PACKET): %s\n", strerror(errno));
        return 1;
    }

    MacAddr src_mac{};
    if (a.src_mac) {
        src_mac = *a.src_mac;
    } else {
        ifreq ifr{};
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", a.iface.c_str());
        if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
            fprintf(stderr, "hookdump-send: cannot read the MAC address of %s: %s\n",
                    a.iface.c_str(), strerror(errno));
            return 1;
        }
        memcpy(src_mac.data(), ifr.ifr_hwaddr.sa_data, 6);
    }
    MacAddr dst_mac{};
    if (a.dst_mac) {
        dst_mac = *a.dst_mac;
    } else if (auto m = arp_lookup(a.dst, a.iface)) {
        dst_mac = *m;
    } else {
        fprintf(stderr, "hookdump-send: no neighbour entry for %s on %s: give --dst-mac\n",
                a.dst.c_str(), a.iface.c_str());
        return 2;
    }

    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(ifindex);
    to.sll_halen = 6;
    memcpy(to.sll_addr, dst_mac.data(), 6);

    timespec next{};
    clock_gettime(CLOCK_MONOTONIC, &next);
    const long gap_ns = a.rate > 0 ? static_cast<long>(1e9 / a.rate) : 0;

    uint64_t frames = 0, bytes = 0;
    for (uint64_t i = 0; i < a.count; ++i) {
        const uint64_t id = a.first_id + i;
        std::vector<std::string> what;
        std::vector<std::vector<uint8_t>> fs;
        try {
            fs = frames_for(a, src_mac, dst_mac, id, what);
        } catch (const std::invalid_argument& e) {
            usage(e.what());
        }
        for (const auto& f : fs) {
            if (gap_ns) {
                sleep_until(next);
                next.tv_nsec += gap_ns;
                while (next.tv_nsec >= 1000000000L) {
                    next.tv_nsec -= 1000000000L;
                    ++next.tv_sec;
                }
            }
            const ssize_t n = ::sendto(fd, f.data(), f.size(), 0,
                                       reinterpret_cast<const sockaddr*>(&to), sizeof to);
            if (n != static_cast<ssize_t>(f.size())) {
                fprintf(stderr, "hookdump-send: send on %s failed after %llu frames: %s\n",
                        a.iface.c_str(), static_cast<unsigned long long>(frames),
                        n < 0 ? strerror(errno) : "short write");
                return 1;
            }
            ++frames;
            bytes += f.size();
        }
        if (a.verbose) printf("%s\n", what.front().c_str());
    }
    printf("hookdump-send: sent %llu frames (%llu packets of kind %s%s), %llu bytes, on %s to %s\n",
           static_cast<unsigned long long>(frames), static_cast<unsigned long long>(a.count),
           a.kind.c_str(), a.vlan >= 0 ? (", vlan " + std::to_string(a.vlan)).c_str() : "",
           static_cast<unsigned long long>(bytes), a.iface.c_str(), mac_text(dst_mac).c_str());
    ::close(fd);
    return 0;
}

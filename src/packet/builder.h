// The project's own packet builder: stack layers, then build() fills in the lengths, the
// type/next-header fields and the checksums. Used by the tests, the demo, and the senders.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace hookdump {

using MacAddr = std::array<uint8_t, 6>;

struct Ipv4Options {
    uint8_t ttl = 64;
    uint16_t id = 1;
    uint16_t frag_offset = 0;  // in bytes; must be a multiple of 8
    bool more_fragments = false;
    bool dont_fragment = false;
    std::vector<uint8_t> options;  // raw IP options, padded to 4 bytes by build()
    uint8_t tos = 0;
};

class PacketBuilder {
  public:
    // Link layers.
    PacketBuilder& ethernet(MacAddr src = {0x02, 0, 0, 0, 0, 1},
                            MacAddr dst = {0x02, 0, 0, 0, 0, 2});
    PacketBuilder& vlan(uint16_t vid, uint16_t tpid = 0x8100, uint8_t pcp = 0);
    PacketBuilder& sll(uint16_t pkttype = 0, uint16_t hatype = 1);          // Linux cooked v1
    PacketBuilder& sll2(uint32_t ifindex = 1, uint8_t pkttype = 0);         // Linux cooked v2
    PacketBuilder& null_loopback(uint32_t af, bool network_order = false);  // DLT_NULL / LOOP
    // A non-IP payload type for the preceding link layer (ARP, say).
    PacketBuilder& ethertype(uint16_t type);

    // Network layers. Addresses in text form; throws std::invalid_argument on a bad one.
    PacketBuilder& ipv4(std::string_view src, std::string_view dst, const Ipv4Options& o = {});
    PacketBuilder& ipv6(std::string_view src, std::string_view dst, uint8_t hop_limit = 64,
                        uint32_t flow_label = 0);
    // Hop-by-hop (0), routing (43), destination options (60): `len` bytes, a multiple of 8.
    PacketBuilder& ipv6_ext(uint8_t type, size_t len = 8);
    PacketBuilder& ipv6_fragment(uint16_t offset, bool more, uint32_t id = 1);
    PacketBuilder& ipv6_ah(size_t len = 24);
    // Overrides the protocol number the previous IP layer announces (for GRE, IPIP, ...).
    PacketBuilder& protocol(uint8_t proto);

    // Transport layers.
    PacketBuilder& tcp(uint16_t sport, uint16_t dport, uint8_t flags = 0x02, uint32_t seq = 1,
                       uint32_t ack = 0, size_t options_len = 0);
    PacketBuilder& udp(uint16_t sport, uint16_t dport);
    PacketBuilder& udplite(uint16_t sport, uint16_t dport);
    PacketBuilder& sctp(uint16_t sport, uint16_t dport);
    PacketBuilder& dccp(uint16_t sport, uint16_t dport);
    PacketBuilder& icmp(uint8_t type, uint8_t code = 0, uint16_t id = 1, uint16_t seq = 1);
    PacketBuilder& icmp6(uint8_t type, uint8_t code = 0, uint16_t id = 1, uint16_t seq = 1);

    PacketBuilder& payload(size_t n, uint8_t fill = 0xab);
    PacketBuilder& payload(std::span<const uint8_t> bytes);

    // Finishes every length, type and checksum field and returns the frame.
    std::vector<uint8_t> build() const;

  private:
    enum class Kind : uint8_t {
        Eth,
        Vlan,
        Sll,
        Sll2,
        Null,
        EtherType,
        Ipv4,
        Ipv6,
        V6Ext,
        V6Frag,
        V6Ah,
        Proto,
        Tcp,
        Udp,
        UdpLite,
        Sctp,
        Dccp,
        Icmp,
        Icmp6,
        Payload
    };
    struct Layer {
        Kind kind;
        size_t offset;
        size_t len;
        uint32_t value = 0;  // ethertype or protocol override
    };
    PacketBuilder& push(Kind k, std::span<const uint8_t> bytes, uint32_t value = 0);

    std::vector<uint8_t> bytes_;
    std::vector<Layer> layers_;
};

}  // namespace hookdump

// Where IPFIX messages go: the collector's address (HOST:PORT as --ipfix takes it) and the
// two transports, UDP (a connected socket) and TCP (RFC 7011 section 10.4: one connection,
// made again with backoff when it is lost; every new connection is a new session, so the
// exporter sends its templates again).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ipfix/ipfix_exporter.h"
#include "util/fd.h"

namespace hookdump::ipfix {

struct Collector {
    std::string host;  // without brackets
    uint16_t port = kDefaultPort;
    // HOST:PORT, an IPv6 address in brackets.
    std::string text() const;
};

// "192.0.2.1", "192.0.2.1:4739", "[2001:db8::1]:4739", "[::1]", "::1" (an IPv6 address
// alone), "collector.example", "collector.example:9995". Throws UsageError (one line naming
// --ipfix) on anything else: an empty host, a port that is not 1-65535, a bracket unclosed.
Collector parse_collector(std::string_view spec);

struct Address {
    sockaddr_storage addr{};
    socklen_t len = 0;
    int family() const { return addr.ss_family; }
};

// getaddrinfo, the first answer; UsageError (one line) when the name does not resolve.
Address resolve_collector(const Collector& c);

enum class TransportKind { Udp, Tcp };

struct TransportOptions {
    // UDP: wait for room in the socket's send buffer instead of counting the message as not
    // sent (reading a file, where waiting costs nothing but time).
    bool wait_for_buffer = false;
    uint64_t backoff_min_ns = 1'000'000'000;  // TCP: first retry after a failure
    uint64_t backoff_max_ns = 30'000'000'000;
};

// UsageError/RuntimeError when the socket cannot be made; a collector that is not there is
// not an error here (UDP: ECONNREFUSED later, counted; TCP: connected later).
std::unique_ptr<Transport> make_transport(TransportKind kind, const Address& to,
                                          const TransportOptions& options = {});

// The largest message for a path MTU: less the IP header (20 or 40) and UDP's 8 (TCP's 20
// and more would only split a message over segments, which TCP does anyway).
size_t max_message_for_mtu(size_t mtu, int family);

}  // namespace hookdump::ipfix

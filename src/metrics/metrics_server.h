// --metrics ADDR:PORT: the Prometheus text format on /metrics, served by cpp-httplib on a
// thread of its own from the last snapshot the capture published (publish(), on the
// capture's thread at its idle tick), so that the capture's hot path never waits for a scrape.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "metrics/metrics.h"

namespace hookdump {

struct ListenAddress {
    std::string host;  // an IPv4 or IPv6 address, without brackets
    uint16_t port = 0;
    std::string text() const;  // ADDR:PORT, an IPv6 address in brackets
};

// "127.0.0.1:9751", "0.0.0.0:9751", "[::1]:9751", "[::]:9751". Throws UsageError (one line
// naming --metrics) on anything else: a name, a missing or bad port, a bracket unclosed.
ListenAddress parse_listen_address(std::string_view spec);

class MetricsServer {
  public:
    // Binds and listens now: UsageError (one line) when the address cannot be bound (in use,
    // not this host's). Serves until destroyed.
    explicit MetricsServer(const ListenAddress& at);
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;
    ~MetricsServer();

    // What the next scrapes show (copied under the server's lock).
    void publish(MetricsSnapshot s);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hookdump

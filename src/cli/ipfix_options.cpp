#include "cli/ipfix_options.h"

#include <fmt/format.h>

#include "cli/numbers.h"
#include "ipfix/ipfix_encoder.h"
#include "util/error.h"

namespace hookdump {

namespace {
constexpr uint64_t kMaxRefreshSeconds = 86400;
}  // namespace

void IpfixOptions::add_to(CLI::App& app) {
    app.add_option_function<std::string>(
        "--ipfix",
        [this](const std::string& v) {
            collector = v;
            given = true;
        },
        "Export flow records over IPFIX to HOST[:PORT] (port 4739; [v6addr]:port)");
    app.add_option("--ipfix-transport", transport, "IPFIX over udp or tcp (udp)")
        ->check(CLI::IsMember({"udp", "tcp"}));
    add_number(app, "--observation-domain", observation_domain,
               "IPFIX observation domain id of the records (0)", 0);
    add_decimal(app, "--template-refresh", template_refresh,
                "IPFIX over UDP: send the templates again every SECONDS (10)", 0,
                kMaxRefreshSeconds);
    // The smallest path that still carries one record of the largest layout over IPv6.
    add_number(app, "--ipfix-mtu", mtu, "IPFIX messages fit a path of BYTES (1500)",
               ipfix::min_message_size() + 48, 65535);
}

IpfixOptions::Resolved IpfixOptions::resolve() const {
    Resolved r;
    r.collector = ipfix::parse_collector(collector);
    r.address = ipfix::resolve_collector(r.collector);
    r.transport = transport == "tcp" ? ipfix::TransportKind::Tcp : ipfix::TransportKind::Udp;
    r.config.observation_domain = observation_domain;
    r.config.max_message = ipfix::max_message_for_mtu(mtu, r.address.family());
    r.config.template_refresh_ns = static_cast<uint64_t>(template_refresh * 1e9);
    return r;
}

}  // namespace hookdump

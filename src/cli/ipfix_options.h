// --ipfix and the options that go with it (capture and read): where flow records are exported
// to, over which transport, in which observation domain, with which template refresh and
// message size. Checked before anything is attached: a bad value or a name that does not
// resolve is one line and exit 2.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "sink/ipfix_sink.h"

namespace hookdump {

struct IpfixOptions {
    std::string collector;  // --ipfix HOST:PORT
    bool given = false;     // --ipfix was given (an empty value is an error, not "no export")
    std::string transport = "udp";
    uint32_t observation_domain = 0;
    // UDP: templates again every SECONDS, so that a collector started or restarted after
    // hookdump decodes records within that time (it drops what comes before). A template is
    // under 100 bytes: refreshing four every 10 s costs about 40 bytes a second.
    double template_refresh = 10;
    unsigned mtu = 1500;

    bool enabled() const { return given; }
    void add_to(CLI::App& app);

    // The IPFIX output the options describe, the collector's name looked up; from_file: a
    // file is read (the exporter paces its messages). Throws UsageError.
    IpfixSinkConfig resolve(bool from_file) const;
};

}  // namespace hookdump

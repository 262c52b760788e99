// The IPFIX flow output (--ipfix HOST:PORT): not a file, so not a row of flow_sink_formats();
// OutputOptions adds it beside the file outputs when --ipfix is given.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "ipfix/ipfix_exporter.h"
#include "ipfix/ipfix_transport.h"
#include "sink/flow_sink.h"

namespace hookdump {

struct IpfixSinkConfig {
    std::string where;  // HOST:PORT, for the ledger
    ipfix::Address address;
    ipfix::TransportKind transport = ipfix::TransportKind::Udp;
    ipfix::ExporterConfig exporter;
    // Reading a file: wait for room in the socket buffer, and pace the messages (the
    // collector's receive buffer is what overflows).
    bool from_file = false;
    // Set once the capture is stopping (the signal's flag): from then on (a flow mode's final
    // sweep, the table's flush) messages are paced at drain_interval_ns, as a file read's are,
    // since nothing waits for them; sent back to back, tens of thousands of flows at exit
    // overflowed nfcapd's socket buffer (35-45% lost, bench/README.md).
    const std::atomic<bool>* stopping = nullptr;
    uint64_t drain_interval_ns = 500'000;
};

std::unique_ptr<FlowSink> make_ipfix_sink(const IpfixSinkConfig& c);
// The exporter's counters when `s` is an IPFIX output, else nullptr (--metrics).
const ipfix::ExportStats* ipfix_export_stats(const FlowSink& s);

}  // namespace hookdump
